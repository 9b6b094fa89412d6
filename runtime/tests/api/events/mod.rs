//! Change events: capture through every write path, the `/changes` feed and its stream per
//! port, retention, role rules, GraphQL subscriptions and several runtimes over one database.

mod capture;
mod feed;
mod processes;
mod stream;
mod subscriptions;

use std::time::Duration;

use serde_json::Value;

use crate::helpers::TestApp;

/// Every change `port` shows after `after`, read page by page.
pub async fn all_changes(app: &TestApp, port: &str, after: i64) -> Vec<Value> {
    let mut changes = Vec::new();
    let mut after = after;
    loop {
        let reply = app
            .get(port, &format!("/changes?after={after}&limit=1000"))
            .await;
        let body = reply.assert_ok();
        let page = body["changes"].as_array().expect("changes").clone();
        let last = body["last"].as_i64().expect("last");
        if page.is_empty() {
            return changes;
        }
        changes.extend(page);
        after = last;
    }
}

/// The newest change id a port has shown.
pub async fn last_id(app: &TestApp, port: &str) -> i64 {
    all_changes(app, port, 0)
        .await
        .last()
        .map_or(0, |c| c["id"].as_i64().unwrap())
}

/// `(table, op, key id)` of each change, for comparing sequences.
pub fn summary(changes: &[Value]) -> Vec<(String, String, i64)> {
    changes
        .iter()
        .map(|c| {
            (
                c["table"].as_str().unwrap().to_string(),
                c["op"].as_str().unwrap().to_string(),
                c["key"]["id"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

/// One Server-Sent Event.
#[derive(Debug)]
pub struct Event {
    pub id: i64,
    pub event: String,
    pub data: Value,
}

/// An open `/changes` stream.
pub struct Sse {
    response: reqwest::Response,
    buffer: String,
    pub comments: usize,
}

impl Sse {
    /// Opens the stream of a port, with extra request headers.
    pub async fn open(app: &TestApp, port: &str, path: &str, headers: &[(&str, &str)]) -> Self {
        let mut request = app
            .client
            .get(app.url(port, path))
            .header("accept", "text/event-stream");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("stream");
        assert_eq!(response.status().as_u16(), 200, "{response:?}");
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        let mut sse = Self {
            response,
            buffer: String::new(),
            comments: 0,
        };
        // The first message says how soon to reconnect: the stream is open.
        let first = sse.message().await.expect("the stream's first message");
        assert!(first.starts_with("retry:"), "{first}");
        sse
    }

    /// The next message (the text before a blank line); `None` when the stream ends.
    async fn message(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let message = self.buffer[..end].to_string();
                self.buffer.drain(..end + 2);
                return Some(message);
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.response.chunk())
                .await
                .expect("an event within 20 s")
                .expect("the stream reads")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// The next event, counting comments (heartbeats) on the way.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            let message = self.message().await?;
            if message.starts_with(':') {
                self.comments += 1;
                continue;
            }
            let mut event = Event {
                id: 0,
                event: String::new(),
                data: Value::Null,
            };
            for line in message.lines() {
                let (field, value) = line.split_once(": ").expect("field: value");
                match field {
                    "id" => event.id = value.parse().expect("numeric id"),
                    "event" => event.event = value.to_string(),
                    "data" => event.data = serde_json::from_str(value).expect("JSON data"),
                    other => panic!("unexpected field {other}"),
                }
            }
            return Some(event);
        }
    }

    /// The next `n` events.
    pub async fn take(&mut self, n: usize) -> Vec<Event> {
        let mut events = Vec::new();
        while events.len() < n {
            events.push(self.next().await.expect("the stream went on"));
        }
        events
    }
}

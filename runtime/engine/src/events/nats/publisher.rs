//! One app's publisher. While this process may publish the app and NATS is connected, a
//! session finds the last change in the app's stream ([`stream`]) and publishes every change
//! after it from the log, in id order: up to [`IN_FLIGHT`] sent ahead of their
//! acknowledgements, which are awaited in order. Any failure ends the session, and the next one
//! starts again from the stream's last message (after a backoff, unless only the connection or
//! the lease went): what was sent but not acknowledged goes again, and the stream's duplicate
//! window drops it if it had arrived.

use anyhow::Context as _;
use async_nats::jetstream::context::{PublishAckFuture, PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesOrdered;
use prometheus_client::metrics::counter::Counter;
use serde_json::Value as Json;

use super::connection::Nats;
use super::lease::Lease;
use super::{Source, Target, Trouble, backoff, stream};
use crate::api::ApiContext;
use crate::events::{Change, ChangeHub, View};

/// Messages sent ahead of their acknowledgements.
const IN_FLIGHT: usize = 256;

/// One app's publishing task.
pub struct Publisher {
    app: App,
    lease: Lease,
    /// The connection's state, watched apart from the sessions' use of it.
    link: Nats,
    recovery: Recovery,
}

/// What a session of one app works with.
struct App {
    target: Target,
    context: ApiContext,
    /// What the app's port shows an unrestricted reader.
    view: View,
    hub: ChangeHub,
    nats: Nats,
    published: Counter,
}

/// Failures in a row, and the warnings about them.
#[derive(Debug, Default)]
struct Recovery {
    failures: usize,
    trouble: Trouble,
}

/// Why a session ended.
enum End {
    /// The hub stopped.
    Stopped,
    /// NATS disconnected, or another process may publish now: wait for them, no backoff.
    Paused,
    Failed(anyhow::Error),
}

impl Publisher {
    pub fn new(source: Source, target: Target, hub: ChangeHub, nats: Nats, lease: Lease) -> Self {
        let context = source.context.as_system();
        let view = View::new(&context, None).expect("a view of every table of a port");
        Self {
            app: App {
                target,
                context,
                view,
                hub,
                nats: nats.clone(),
                published: source.published,
            },
            lease,
            link: nats,
            recovery: Recovery::default(),
        }
    }

    /// Publishes until the hub stops.
    pub async fn run(mut self) {
        let hub = self.app.hub.clone();
        tokio::select! {
            () = self.publish() => {}
            () = hub.stopped() => {}
        }
    }

    /// Session after session, each while the lease is held and NATS connected.
    async fn publish(&mut self) {
        loop {
            self.lease.acquired().await;
            self.link.connected().await;
            let end = tokio::select! {
                end = self.app.session(&mut self.recovery) => end,
                () = self.lease.lost() => End::Paused,
                () = self.link.disconnected() => End::Paused,
            };
            match end {
                End::Stopped => return,
                End::Paused => {}
                End::Failed(error) => {
                    self.recovery.failed(&self.app.target, &error);
                    tokio::time::sleep(backoff(self.recovery.failures)).await;
                }
            }
        }
    }
}

impl Recovery {
    /// Counts a failure; warns at once, then at most once a minute while failures go on.
    fn failed(&mut self, target: &Target, error: &anyhow::Error) {
        self.failures += 1;
        if self.trouble.due() {
            tracing::warn!(
                app = %target.app,
                stream = %target.stream,
                error = %format!("{error:#}"),
                "publishing to NATS failed; retrying from the stream's last message (changes wait in the change log)"
            );
        }
    }

    /// A session got a change stored: failures are over.
    fn progressed(&mut self, target: &Target) {
        self.failures = 0;
        if self.trouble.over() {
            tracing::info!(app = %target.app, stream = %target.stream, "publishing to NATS again");
        }
    }
}

impl App {
    /// Publishes from the stream's last message on, until something fails or the hub stops.
    async fn session(&self, recovery: &mut Recovery) -> End {
        let after = match stream::resume_point(&self.nats.jetstream, &self.target).await {
            Ok(after) => after,
            Err(error) => return End::Failed(error),
        };
        stream::check_log(&self.hub, &self.target, after).await;
        tracing::debug!(app = %self.target.app, stream = %self.target.stream, after, "publishing to NATS");
        match self.send_after(after, recovery).await {
            Ok(()) => End::Stopped,
            Err(error) => End::Failed(error),
        }
    }

    /// Publishes every change after `after` as it comes; answers once the hub stops.
    async fn send_after(&self, after: i64, recovery: &mut Recovery) -> anyhow::Result<()> {
        let mut changes = self.hub.subscribe(after);
        let mut acks = FuturesOrdered::new();
        let mut stored_any = false;
        loop {
            let room = acks.len() < IN_FLIGHT;
            tokio::select! {
                Some((id, ack)) = acks.next() => {
                    let ack: Result<PublishAck, PublishError> = ack;
                    let ack = ack.with_context(|| format!("NATS did not store change {id}"))?;
                    if !ack.duplicate {
                        self.published.inc();
                    }
                    if !stored_any {
                        stored_any = true;
                        recovery.progressed(&self.target);
                    }
                }
                change = changes.next(), if room => {
                    let Some(change) = change.context("reading the change log")? else {
                        return Ok(());
                    };
                    if let Some(ack) = self.send(&change).await? {
                        acks.push_back(acknowledgement(change.id, ack));
                    }
                }
            }
        }
    }

    /// Sends one change when it is of the app's tables; answers its acknowledgement to come.
    async fn send(&self, change: &Change) -> anyhow::Result<Option<PublishAckFuture>> {
        let Some(entity) = self.view.admits(change, None).await else {
            return Ok(None);
        };
        let table = &self.context.model().entities[entity].plural;
        let subject = self.target.subject(table, change.op);
        let document = self.view.document(change, entity);
        let sent = match self.publish(&subject, change.id, &document).await {
            Err(error) if error.kind() == PublishErrorKind::MaxPayloadExceeded => {
                tracing::warn!(app = %self.target.app, id = change.id, "change too large for NATS; publishing it without its row images");
                self.publish(&subject, change.id, &without_images(document))
                    .await
            }
            sent => sent,
        };
        let ack = sent.with_context(|| format!("sending change {}", change.id))?;
        Ok(Some(ack))
    }

    /// Sends a document with its change id as `Nats-Msg-Id`.
    async fn publish(
        &self,
        subject: &str,
        id: i64,
        document: &Json,
    ) -> Result<PublishAckFuture, PublishError> {
        let message = PublishMessage::build()
            .payload(document.to_string().into())
            .message_id(id.to_string());
        self.nats
            .jetstream
            .send_publish(subject.to_string(), message)
            .await
    }
}

/// A change's acknowledgement, with its id.
async fn acknowledgement(
    id: i64,
    ack: PublishAckFuture,
) -> (i64, Result<PublishAck, PublishError>) {
    (id, ack.await)
}

/// A change's document without its row images (`row` null, no `before`), marked
/// `"truncated": true`: the whole change is still in the `/changes` feed.
fn without_images(mut document: Json) -> Json {
    if let Json::Object(object) = &mut document {
        object.insert("row".into(), Json::Null);
        object.remove("before");
        object.insert("truncated".into(), Json::Bool(true));
    }
    document
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::without_images;

    #[test]
    fn a_change_too_large_goes_without_its_row_images() {
        let document = json!({
            "id": 7, "table": "emails", "op": "delete", "key": {"id": 1},
            "row": null, "before": {"id": 1, "address": "a@b"}, "at": "2026-01-01T00:00:00Z"
        });
        assert_eq!(
            without_images(document),
            json!({
                "id": 7, "table": "emails", "op": "delete", "key": {"id": 1},
                "row": null, "at": "2026-01-01T00:00:00Z", "truncated": true
            })
        );
    }
}

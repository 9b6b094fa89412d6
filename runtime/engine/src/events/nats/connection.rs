//! The process's one connection to NATS, shared by every app's publisher. The client connects
//! in the background and reconnects by itself (at once, then after 0.5 s, doubling up to 5 s);
//! what happens to it is logged here, an outage once and then at most once a minute, and told
//! to the publishers, which wait while it is down.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::jetstream::{self, context::ContextBuilder};
use async_nats::{ConnectError, ConnectOptions, Event};
use tokio::sync::watch;

use super::{Trouble, backoff};

/// How long a JetStream request or a publish's acknowledgement may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The connection: cheap to clone.
#[derive(Debug, Clone)]
pub struct Nats {
    pub jetstream: jetstream::Context,
    /// Whether the client is connected now.
    connected: watch::Receiver<bool>,
}

impl Nats {
    /// Resolves once the client is connected.
    pub async fn connected(&mut self) {
        // A closed watch means the client is gone: nothing will connect any more.
        if self.connected.wait_for(|up| *up).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Resolves once the client is disconnected.
    pub async fn disconnected(&mut self) {
        let _ = self.connected.wait_for(|up| !*up).await;
    }
}

/// A client for `url` that connects in the background; only a malformed `url` fails.
pub async fn connect(url: &str) -> Result<Nats, ConnectError> {
    let (state, connected) = watch::channel(false);
    let trouble = Arc::new(Mutex::new(Trouble::default()));
    let address = url.to_string();
    let client = ConnectOptions::new()
        .name("runtime")
        .retry_on_initial_connect()
        .reconnect_delay_callback(|attempt| backoff(attempt.saturating_sub(1)))
        .event_callback(move |event| {
            observe(&address, &event, &state, &trouble);
            std::future::ready(())
        })
        .connect(url)
        .await?;
    let jetstream = ContextBuilder::new().timeout(TIMEOUT).build(client);
    Ok(Nats {
        jetstream,
        connected,
    })
}

/// Logs what happened to the connection and tells the publishers.
fn observe(url: &str, event: &Event, state: &watch::Sender<bool>, trouble: &Mutex<Trouble>) {
    let mut trouble = trouble.lock().unwrap_or_else(PoisonError::into_inner);
    match event {
        Event::Connected => {
            state.send_replace(true);
            if trouble.over() {
                tracing::info!(%url, "NATS is back; publishing the changes that waited");
            } else {
                tracing::info!(%url, "connected to NATS");
            }
        }
        Event::Disconnected => {
            state.send_replace(false);
            if trouble.due() {
                tracing::warn!(%url, "lost the connection to NATS; reconnecting (changes wait in the change log)");
            }
        }
        Event::ClientError(error) => {
            if trouble.due() {
                tracing::warn!(%url, %error, "NATS cannot be reached; retrying (changes wait in the change log)");
            }
        }
        Event::ServerError(error) => {
            if trouble.due() {
                tracing::warn!(%url, %error, "NATS reports an error");
            }
        }
        other => tracing::debug!(%url, event = %other, "NATS connection event"),
    }
}

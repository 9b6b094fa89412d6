//! An app's stream: created when missing, and read for where publishing goes on: the change
//! id in its last message's `Nats-Msg-Id`.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::header::NATS_MESSAGE_ID;
use async_nats::jetstream::Context;
use async_nats::jetstream::stream::{Config, LastRawMessageErrorKind, StorageType};

use super::Target;
use crate::events::ChangeHub;

/// How long a stream remembers a message id, to drop a second message with it.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// The id of the last change in the app's stream (created when missing); 0 when it is empty.
pub async fn resume_point(jetstream: &Context, target: &Target) -> anyhow::Result<i64> {
    let config = Config {
        name: target.stream.clone(),
        subjects: vec![target.filter()],
        storage: StorageType::File,
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
    };
    let stream = jetstream
        .get_or_create_stream(config)
        .await
        .with_context(|| format!("finding or creating stream `{}`", target.stream))?;
    let subjects = &stream.cached_info().config.subjects;
    if !subjects.contains(&target.filter()) {
        anyhow::bail!(
            "stream `{}` exists without the subjects `{}` (it has {subjects:?}): add them, or \
             delete the stream and let the runtime create it",
            target.stream,
            target.filter()
        );
    }
    let last = match stream
        .get_last_raw_message_by_subject(&target.filter())
        .await
    {
        Ok(last) => last,
        Err(error) if error.kind() == LastRawMessageErrorKind::NoMessageFound => return Ok(0),
        Err(error) => {
            return Err(error)
                .with_context(|| format!("reading the last message of `{}`", target.stream));
        }
    };
    last.headers
        .get(NATS_MESSAGE_ID)
        .and_then(|id| id.as_str().parse::<i64>().ok())
        .with_context(|| {
            format!(
                "the last message of stream `{}` (sequence {}, `{}`) has no change id in \
                 Nats-Msg-Id: only the runtime may publish on its subjects",
                target.stream, last.sequence, last.subject
            )
        })
}

/// Warns when the stream and the log do not meet: changes after `after` already pruned (they
/// cannot be published any more), or the stream ahead of the log (a new database?).
pub async fn check_log(hub: &ChangeHub, target: &Target, after: i64) {
    let Ok(bounds) = hub.bounds().await else {
        return;
    };
    if bounds.expired(after) {
        let oldest = bounds.oldest.unwrap_or_default();
        tracing::warn!(
            app = %target.app,
            stream = %target.stream,
            "changes {} to {} left the change log (events.retention_secs) before NATS had them; publishing from {oldest}",
            after + 1,
            oldest - 1,
        );
    }
    if bounds.newest.unwrap_or(0) < after {
        tracing::warn!(
            app = %target.app,
            stream = %target.stream,
            "the stream's last change is {after}, past the change log's newest: changes up to {after} will not be published (with a new database, delete the stream)"
        );
    }
}

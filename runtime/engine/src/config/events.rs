//! `[events]`: the change log every served table writes to, and where its changes go.

use serde::{Deserialize, Serialize};

use super::{ConfigError, key_error};

/// `[events]`: capture every committed change of a served table into the change log (triggers
/// the runtime keeps in step with the catalog), serve it as `/changes` and GraphQL
/// subscriptions, and publish it to NATS JetStream when `nats_url` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    pub enabled: bool,
    /// Seconds a change stays in the log; older ones are pruned in the background, and a
    /// reader asking for them gets 410 `CHANGES_EXPIRED`.
    pub retention_secs: u64,
    /// Milliseconds between looks for changes written by other processes (`psql`, another
    /// runtime on SQLite); the runtime's own writes, and other runtimes' on PostgreSQL
    /// (NOTIFY), wake readers at once.
    pub poll_ms: u64,
    /// Seconds between the heartbeat comments of an idle Server-Sent Events stream.
    pub heartbeat_secs: u64,
    /// `nats://host:port` of a NATS server with JetStream: every change is also published,
    /// once per app that serves its table, to `<nats_subject_prefix>.<app>.<table>.<op>`
    /// (the table's API name) with `Nats-Msg-Id` = the change id, in id order.
    pub nats_url: Option<String>,
    /// The first part of the streams' names: each app's changes go to the JetStream stream
    /// `<nats_stream>_<APP>` over `<nats_subject_prefix>.<app>.>`, created when missing.
    pub nats_stream: String,
    /// The first token of every subject.
    pub nats_subject_prefix: String,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            retention_secs: 7 * 24 * 3600,
            poll_ms: 50,
            heartbeat_secs: 15,
            nats_url: None,
            nats_stream: "RUNTIME".into(),
            nats_subject_prefix: "runtime".into(),
        }
    }
}

impl EventsConfig {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.retention_secs == 0 {
            return Err(key_error("events.retention_secs", "must be at least 1"));
        }
        if !(1..=60_000).contains(&self.poll_ms) {
            return Err(key_error(
                "events.poll_ms",
                "must be between 1 and 60000 milliseconds",
            ));
        }
        if !(1..=3600).contains(&self.heartbeat_secs) {
            return Err(key_error(
                "events.heartbeat_secs",
                "must be between 1 and 3600 seconds",
            ));
        }
        if self.nats_url.is_some() && !self.enabled {
            return Err(key_error(
                "events.nats_url",
                "publishes the change log: it needs events.enabled = true",
            ));
        }
        if let Some(url) = &self.nats_url
            && !(url.starts_with("nats://") || url.starts_with("tls://"))
        {
            return Err(key_error(
                "events.nats_url",
                &format!("`{url}` is not a NATS address: nats://host:port"),
            ));
        }
        let token = |value: &str| {
            !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if !token(&self.nats_stream) {
            return Err(key_error(
                "events.nats_stream",
                "must be letters, digits, `_` or `-`",
            ));
        }
        if !token(&self.nats_subject_prefix) {
            return Err(key_error(
                "events.nats_subject_prefix",
                "must be one subject token: letters, digits, `_` or `-`",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::EventsConfig;

    #[test]
    fn publishing_to_nats_needs_the_change_log() {
        let publishing = EventsConfig {
            nats_url: Some("nats://127.0.0.1:4222".into()),
            ..EventsConfig::default()
        };
        assert!(publishing.check().is_ok());
        let without_log = EventsConfig {
            enabled: false,
            ..publishing
        };
        let error = without_log.check().expect_err("refused").to_string();
        assert!(error.contains("events.nats_url"), "{error}");
        assert!(error.contains("events.enabled"), "{error}");
    }
}

//! NATS JetStream: every change in the log is published after commit, in id order, to
//! `<nats_subject_prefix>.<app>.<table>.<op>` for each app this process serves (a table that
//! several apps list goes out once per app), as the JSON the app's `/changes` feed answers to
//! an unrestricted reader, with `Nats-Msg-Id` = the change id. Each app has a stream of its own,
//! `<nats_stream>_<APP>` over `<prefix>.<app>.>`, created when missing: ids are unique in it,
//! so its duplicate window drops whatever is sent twice around a break, and its last message
//! says where to go on after one (a restart, NATS down, a lost connection). NATS being away
//! never stops the runtime: changes wait in the log and go out when it is back, as long as the
//! log still holds them (`events.retention_secs`). On PostgreSQL one runtime process publishes
//! each app, the one holding its lock ([`lease`]).

mod connection;
mod lease;
mod publisher;
mod stream;

use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;

use super::{ChangeHub, ChangeOp};
use crate::api::ApiContext;
use crate::config::EventsConfig;
use crate::db::Database;

/// One app to publish.
#[derive(Debug)]
pub struct Source {
    /// The app's name: the second token of its subjects.
    pub app: String,
    /// The app's API: its tables, named as its port names them.
    pub context: ApiContext,
    /// Counts the changes the app's stream stored (not those it dropped as sent twice).
    pub published: Counter,
}

/// Starts publishing every app of `sources` to NATS at `url`, until the hub stops: one task per
/// app over one NATS connection and, on PostgreSQL, one connection holding their locks.
/// Connecting happens in the background; only a malformed `url` is an error here.
pub async fn start(
    hub: &ChangeHub,
    db: &Database,
    url: &str,
    sources: Vec<Source>,
) -> Result<(), async_nats::ConnectError> {
    let nats = connection::connect(url).await?;
    let targets: Vec<Target> = sources
        .iter()
        .map(|source| Target::new(hub.config(), &source.app))
        .collect();
    let leases = lease::leases(db, &targets, hub);
    for ((source, target), lease) in sources.into_iter().zip(targets).zip(leases) {
        let publisher = publisher::Publisher::new(source, target, hub.clone(), nats.clone(), lease);
        tokio::spawn(publisher.run());
    }
    Ok(())
}

/// Where one app's changes go.
#[derive(Debug, Clone)]
struct Target {
    app: String,
    /// `<nats_stream>_<APP>`.
    stream: String,
    /// `<prefix>.<app>`: the subjects' first two tokens.
    base: String,
}

impl Target {
    fn new(config: &EventsConfig, app: &str) -> Self {
        Self {
            app: app.to_string(),
            stream: format!("{}_{}", config.nats_stream, app.to_uppercase()),
            base: format!("{}.{app}", config.nats_subject_prefix),
        }
    }

    /// The subjects of the app's stream: `<prefix>.<app>.>`.
    fn filter(&self) -> String {
        format!("{}.>", self.base)
    }

    /// The subject of a change of `table` (its API name).
    fn subject(&self, table: &str, op: ChangeOp) -> String {
        format!("{}.{table}.{}", self.base, op.as_str())
    }
}

/// The wait after `failures` failures in a row: none after none, then 0.5 s, doubling up to 5 s.
fn backoff(failures: usize) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let doublings = u32::try_from(failures - 1).unwrap_or(u32::MAX);
    Duration::from_millis(500)
        .saturating_mul(2_u32.saturating_pow(doublings))
        .min(Duration::from_secs(5))
}

/// Warnings about one trouble that lasts: the first at once, then at most one a minute.
#[derive(Debug, Default)]
struct Trouble {
    warned: Option<Instant>,
}

impl Trouble {
    const EVERY: Duration = Duration::from_secs(60);

    /// Notes the trouble; answers whether to warn about it now.
    fn due(&mut self) -> bool {
        let now = Instant::now();
        let due = self.warned.is_none_or(|at| now - at >= Self::EVERY);
        if due {
            self.warned = Some(now);
        }
        due
    }

    /// Ends the trouble; answers whether there was one.
    fn over(&mut self) -> bool {
        self.warned.take().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_half_a_second_up_to_five() {
        let waits: Vec<u128> = (0..=6).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(waits, [0, 500, 1000, 2000, 4000, 5000, 5000]);
        assert_eq!(backoff(usize::MAX), Duration::from_secs(5));
    }

    #[test]
    fn a_trouble_warns_once_until_it_is_over() {
        let mut trouble = Trouble::default();
        assert!(trouble.due());
        assert!(!trouble.due());
        assert!(trouble.over());
        assert!(!trouble.over());
        assert!(trouble.due());
    }

    #[test]
    fn each_app_has_its_stream_and_subjects() {
        let config = EventsConfig {
            nats_stream: "RT".into(),
            nats_subject_prefix: "rt".into(),
            ..EventsConfig::default()
        };
        let target = Target::new(&config, "customers");
        assert_eq!(target.stream, "RT_CUSTOMERS");
        assert_eq!(target.filter(), "rt.customers.>");
        assert_eq!(
            target.subject("lineItems", ChangeOp::Delete),
            "rt.customers.lineItems.delete"
        );
    }
}

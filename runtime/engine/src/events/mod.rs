//! Change events. Triggers the runtime keeps in step with the catalog write every committed
//! change of a served table into a hidden log table, in the writing transaction
//! ([`capture`]); on PostgreSQL the [`sequencer`] numbers them in commit order. Everything
//! downstream reads that log by increasing id through the process's [`ChangeHub`]: the
//! `/changes` feed and its Server-Sent Events stream ([`feed`]), GraphQL subscriptions, and
//! NATS JetStream ([`nats`]). PostgreSQL `NOTIFY` only wakes readers; the log is the truth, so
//! nothing is published that was not committed, and a missed wake-up loses nothing.

mod admit;
pub mod capture;
pub mod feed;
mod hub;
mod log;
pub mod nats;
mod pg;
mod sequencer;
mod view;

pub use hub::{ChangeHub, PG_CONNECTIONS, Subscription};
pub use log::{Bounds, Change, ChangeOp};
pub use view::View;

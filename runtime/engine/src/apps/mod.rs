//! Apps beyond the linked crates, and the commands that manage apps: table-only apps declared
//! in the configuration ([`with_configured`]), the configuration file writer that `app new`,
//! `app remove` and `db introspect --write` share, and the scaffold of a new app crate.
//!
//! A table-only app is an `[apps.<name>]` entry with `tables`; it becomes an [`crate::App`] like
//! a crate's, so every command sees one uniform list.

pub mod commands;
mod config_file;
mod configured;
mod ports;
mod scaffold;
mod table_spec;
mod workspace;

pub use configured::{is_configured, missing_table, with_configured};
pub use table_spec::parse_table_spec;

//! The generic engine of the modular monolith runtime.
//!
//! The pipeline runs one way: [`config`] -> [`catalog`] (introspected once) -> [`model`] (each
//! app's allowlist applied) -> adapters ([`rest`]) -> [`query`] operations -> [`sql`] statements
//! -> [`db`]. The engine knows tables, never a particular app: apps hand it an [`App`].

pub mod api;
pub mod apps;
pub mod auth;
pub mod backup;
pub mod catalog;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod graphql;
pub mod migrate;
pub mod model;
pub mod openapi;
pub mod ops;
pub mod query;
pub mod rest;
pub mod roles;
pub mod server;
pub mod sql;

mod app;

pub use app::{App, CustomRoute, DeclaredRules};
pub mod cli;

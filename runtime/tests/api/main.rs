//! End-to-end tests: the runtime on port 0 over a fresh database, called over HTTP.

mod commands;
mod helpers;
mod seed;

mod allowlist;
mod auth;
mod backup;
mod cli;
mod composed;
mod concurrent_reads;
mod concurrent_writes;
mod connection_ceiling;
mod custom_routes;
mod errors;
mod etag;
mod events;
mod events_nats;
mod fuzz;
mod graphql;
mod graphql_http;
mod graphql_schema;
mod hostile_input;
mod json_bodies;
mod migrate_undo;
mod migrations;
mod openapi;
mod operations;
mod read_cache;
mod rest_crud;
mod rest_query;
mod roles;
mod sqlite_storage;
mod startup;
mod tenancy;
mod wide_tables;

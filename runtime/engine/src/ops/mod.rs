//! Operations: what the people who run the runtime see of it. The admin listener
//! ([`admin`]: liveness, readiness, metrics), the edge of every request ([`request`]: its id,
//! span, log line and metrics) and the metrics themselves ([`metrics`]).

pub mod admin;
pub mod metrics;
pub mod request;

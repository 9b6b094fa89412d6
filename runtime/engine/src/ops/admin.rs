//! The admin listener (`[admin]`), on a port of its own: `GET /live` (the process serves; never
//! touches the database), `GET /ready` (every listener is bound, the database answers within a
//! second, no migration is pending; otherwise 503 naming each failed check) and `GET /metrics`
//! (Prometheus text). Load balancers and Kubernetes probe it; Prometheus scrapes it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::metrics::Metrics;
use crate::db::Database;
use crate::error::no_route;
use crate::migrate;

/// How long `/ready` waits for the database.
const PING: Duration = Duration::from_secs(1);

/// What the admin routes read.
#[derive(Debug, Clone)]
pub struct Admin {
    pub db: Database,
    pub migrations: PathBuf,
    pub metrics: Arc<Metrics>,
}

/// The admin application's routes.
pub fn configure(cfg: &mut web::ServiceConfig, admin: &Admin) {
    cfg.app_data(web::Data::new(admin.clone()))
        .route("/live", web::get().to(live))
        .route("/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics))
        .default_service(web::to(no_route));
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

async fn ready(admin: web::Data<Admin>) -> HttpResponse {
    let mut failed = Vec::new();
    // The admin listener starts with the API listeners, after every one of them was bound.
    let database = admin.db.ping(PING).await;
    if !database {
        failed.push(json!({"check": "database", "message": format!("the database did not answer within {} s", PING.as_secs())}));
    } else {
        match migrate::progress(&admin.db, &admin.migrations).await {
            Ok(progress) => {
                admin.metrics.set_migrations(progress.applied);
                if progress.pending > 0 {
                    failed.push(json!({"check": "migrations", "message": format!("{} migration(s) pending: run `runtime migrate apply`", progress.pending)}));
                }
            }
            Err(error) => {
                failed.push(json!({"check": "migrations", "message": error.to_string()}));
            }
        }
    }
    let checks = json!({
        "listeners": "ok",
        "database": if database { "ok" } else { "failed" },
    });
    if failed.is_empty() {
        HttpResponse::Ok().json(json!({"status": "ready", "checks": checks}))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(json!({"status": "unavailable", "checks": checks, "failed": failed}))
    }
}

async fn metrics(admin: web::Data<Admin>) -> HttpResponse {
    if let Ok(progress) = migrate::progress(&admin.db, &admin.migrations).await {
        admin.metrics.set_migrations(progress.applied);
    }
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(admin.metrics.render())
}

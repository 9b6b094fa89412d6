//! Serving a listener's document: `/documentation/json` and `/documentation/yaml`, and Swagger UI
//! at `/documentation`. The Swagger UI assets are compiled into the binary (utoipa-swagger-ui's
//! `vendored` feature), so the page works with no internet access.

use std::sync::{Arc, OnceLock};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context as _;
use utoipa::openapi::OpenApi;
use utoipa_swagger_ui::Config;

use crate::error::{ApiError, ErrorCode, method_not_allowed};

/// Where the UI lives; the documents are below it.
pub const UI_PATH: &str = "/documentation";
pub const JSON_PATH: &str = "/documentation/json";
pub const YAML_PATH: &str = "/documentation/yaml";

/// Builds a listener's document.
type Build = Box<dyn Fn() -> anyhow::Result<OpenApi> + Send + Sync>;

/// A listener's document, built and rendered on its first request: rendering every listener's
/// document at start took half of the start-up time, and the built documents of every listener
/// held a few MiB that most processes never serve. Only the rendered text is kept.
pub struct Documentation {
    build: Build,
    json: OnceLock<String>,
    yaml: OnceLock<String>,
    ui: Arc<Config<'static>>,
}

impl Documentation {
    pub fn new(build: impl Fn() -> anyhow::Result<OpenApi> + Send + Sync + 'static) -> Self {
        Self {
            build: Box::new(build),
            json: OnceLock::new(),
            yaml: OnceLock::new(),
            ui: Arc::new(Config::new([JSON_PATH])),
        }
    }

    fn json(&self) -> anyhow::Result<&str> {
        rendered(&self.json, || {
            (self.build)()?
                .to_pretty_json()
                .context("rendering the OpenAPI document as JSON")
        })
    }

    fn yaml(&self) -> anyhow::Result<&str> {
        rendered(&self.yaml, || {
            (self.build)()?
                .to_yaml()
                .context("rendering the OpenAPI document as YAML")
        })
    }
}

fn rendered(
    cell: &OnceLock<String>,
    render: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<&str> {
    if let Some(text) = cell.get() {
        return Ok(text);
    }
    let text = render()?;
    Ok(cell.get_or_init(|| text))
}

fn document_response(rendered: anyhow::Result<&str>, content_type: &'static str) -> HttpResponse {
    match rendered {
        Ok(body) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, content_type))
            .body(body.to_owned()),
        Err(error) => actix_web::ResponseError::error_response(&ApiError::internal(error.as_ref())),
    }
}

/// Mounts the documents and Swagger UI, in one scope so that other requests pass it with a
/// prefix check. Other methods on these paths answer 405.
pub fn configure(cfg: &mut web::ServiceConfig, docs: &Arc<Documentation>) {
    let only_get = || web::to(|req: HttpRequest| async move { method_not_allowed(&req, "GET") });
    let document = |path: &'static str,
                    render: fn(&Documentation) -> anyhow::Result<&str>,
                    content_type: &'static str| {
        let docs = docs.clone();
        web::resource(&path[UI_PATH.len()..])
            .route(web::get().to(move || {
                let response = document_response(render(&docs), content_type);
                async move { response }
            }))
            .default_service(only_get())
    };
    let ui = docs.ui.clone();
    cfg.service(
        web::scope(UI_PATH)
            .service(document(JSON_PATH, Documentation::json, "application/json"))
            .service(document(YAML_PATH, Documentation::yaml, "application/yaml"))
            // Swagger UI's page loads its assets relative to itself, so it lives at
            // `/documentation/`.
            .service(
                web::resource("")
                    .route(web::get().to(|| async {
                        HttpResponse::MovedPermanently()
                            .insert_header((header::LOCATION, format!("{UI_PATH}/")))
                            .finish()
                    }))
                    .default_service(only_get()),
            )
            .service(
                web::resource("/{asset:.*}")
                    .route(web::get().to(move |req: HttpRequest| {
                        let ui = ui.clone();
                        async move { asset(&req, ui) }
                    }))
                    .default_service(only_get()),
            ),
    );
}

/// One Swagger UI file; `/documentation/` is its page.
fn asset(req: &HttpRequest, ui: Arc<Config<'static>>) -> HttpResponse {
    let name = req.match_info().get("asset").unwrap_or_default();
    match utoipa_swagger_ui::serve(name, ui) {
        Ok(Some(file)) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, file.content_type))
            .body(file.bytes.into_owned()),
        Ok(None) => actix_web::ResponseError::error_response(&ApiError::new(
            ErrorCode::NotFound,
            format!("no documentation asset {}", req.path()),
        )),
        Err(error) => actix_web::ResponseError::error_response(&ApiError::internal(error.as_ref())),
    }
}

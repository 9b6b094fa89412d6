//! The files of a new app crate, as `app new --crate` writes them into `apps/<name>/`: a
//! manifest like the other apps', `src/lib.rs` with `app()` (the allowlist and one sample
//! route, `GET /<name>/about`) and that route's test, and a `rules.toml`.

use heck::ToUpperCamelCase as _;

use super::workspace::package_name;
use crate::model::{Access, TableGrant};

/// One file of the crate: its path inside `apps/<name>/` and its text.
pub type CrateFile = (&'static str, String);

/// Every file of the crate of app `name`, served on `port`, listing `tables`.
pub fn crate_files(name: &str, port: u16, tables: &[TableGrant]) -> Vec<CrateFile> {
    vec![
        ("Cargo.toml", manifest(name)),
        ("src/lib.rs", library(name, port, tables)),
        ("rules.toml", rules(name, tables)),
    ]
}

fn manifest(name: &str) -> String {
    format!(
        r#"[package]
name = "{package}"
description = "The {name} domain app: its table allowlist and its own routes."
version.workspace = true
edition.workspace = true
rust-version.workspace = true
license.workspace = true
publish.workspace = true

[dependencies]
engine.workspace = true
actix-web.workspace = true
serde_json.workspace = true
utoipa.workspace = true

[lints]
workspace = true
"#,
        package = package_name(name)
    )
}

fn library(name: &str, port: u16, tables: &[TableGrant]) -> String {
    let mut allowlist = String::new();
    for grant in tables {
        let access = match grant.access {
            Access::Read => "Read",
            Access::ReadWrite => "ReadWrite",
        };
        allowlist.push_str(&format!(
            "        .table({:?}, Access::{access})\n",
            grant.table
        ));
    }
    let access_import = if tables.is_empty() {
        ""
    } else {
        "use engine::model::Access;\n"
    };
    let listed: String = tables
        .iter()
        .enumerate()
        .map(|(i, grant)| {
            format!(
                "        assert_eq!(body[\"tables\"][{i}], {:?});\n",
                grant.table
            )
        })
        .collect();
    format!(
        r#"//! The `{name}` app: its table allowlist and its own routes.

use actix_web::HttpResponse;
use actix_web::http::Method;
use engine::App;
{access_import}use engine::openapi::{{Payload, RouteDoc}};
use utoipa::openapi::schema::{{ArrayBuilder, ObjectBuilder, Type}};

/// The app's name: its `[apps.{name}]` entry in runtime.toml, its logs and metrics.
pub const NAME: &str = "{name}";

/// The path of the app's sample route.
const ABOUT: &str = "/{name}/about";

/// The app's manifest: default port, allowlist and own routes.
pub fn app() -> App {{
    App::new(NAME, {port})
        .rules(include_str!("../rules.toml"))
{allowlist}        .route(Method::GET, ABOUT, about_doc(), about)
}}

/// A sample route of the app's own: add handlers like it (they may extract
/// `engine::api::ApiContext` to read and write the app's tables as the caller).
async fn about() -> HttpResponse {{
    let tables: Vec<String> = app().tables.into_iter().map(|grant| grant.table).collect();
    HttpResponse::Ok().json(serde_json::json!({{ "app": NAME, "tables": tables }}))
}}

/// What the API documents say about [`about`].
fn about_doc() -> RouteDoc {{
    let schema = ObjectBuilder::new()
        .property("app", ObjectBuilder::new().schema_type(Type::String))
        .required("app")
        .property(
            "tables",
            ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)),
        )
        .required("tables");
    RouteDoc::new("the app's name and the tables it lists")
        .operation_id("about{camel}")
        .returns(200, "its name and tables", Payload::schema(schema))
}}

#[cfg(test)]
mod tests {{
    use actix_web::{{test, web}};

    use super::*;

    #[actix_web::test]
    async fn about_names_the_app_and_its_tables() {{
        assert!(app().routes.iter().any(|route| route.path == ABOUT));
        let routes = actix_web::App::new().route(ABOUT, web::get().to(about));
        let service = test::init_service(routes).await;
        let request = test::TestRequest::get().uri(ABOUT).to_request();
        let body: serde_json::Value = test::call_and_read_body_json(&service, request).await;
        assert_eq!(body["app"], NAME);
{listed}        assert_eq!(body["tables"].as_array().map(Vec::len), Some({count}));
    }}
}}
"#,
        camel = name.to_upper_camel_case(),
        count = tables.len(),
    )
}

fn rules(name: &str, tables: &[TableGrant]) -> String {
    let mut text = format!(
        "# Role rules of the `{name}` app (see README, \"Authentication and role rules\"). They apply\n\
         # once auth is on; a role or operation not listed here is denied.\n"
    );
    if tables.is_empty() {
        text.push_str("\n# [notes.staff]\n# read = {}\n# insert = {}\n");
    }
    for grant in tables {
        let table = toml_edit::Key::new(grant.table.as_str());
        text.push_str(&format!("\n[{table}.staff]\nread = {{}}\n"));
        if grant.access == Access::ReadWrite {
            text.push_str("insert = {}\nupdate = {}\ndelete = {}\n");
        }
    }
    text
}

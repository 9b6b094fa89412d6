//! The start page at `/` of every port: which app this is, its tables and its routes.

use std::fmt::Write as _;

use actix_web::HttpResponse;
use actix_web::http::header;

use crate::app::App;
use crate::model::{AppModel, RelationKind};

/// Renders the page once at start; it never changes while the process runs. A `secured` API
/// (auth on) says how to call it with a token.
pub fn render(model: &AppModel, apps: &[&App], secured: bool) -> String {
    let mut html = String::new();
    let title = escape(&model.name);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}}\
         td,th{{padding:.2rem .8rem;text-align:left}}code{{background:#f3f3f3;padding:0 .2rem}}</style>\
         </head><body><h1>{title}</h1>\
         <p><a href=\"/graphiql\">GraphiQL</a>: GraphQL at <code>/graphql</code></p>"
    );
    html.push_str(
        "<p>API documentation: <a href=\"/documentation\">Swagger UI</a> · \
         <a href=\"/documentation/json\">OpenAPI JSON</a> · \
         <a href=\"/documentation/yaml\">OpenAPI YAML</a></p>",
    );
    if secured {
        html.push_str(
            "<p>Auth is on: send <code>Authorization: Bearer &lt;token&gt;</code>. For local use, \
             <code>runtime token --role staff</code> (or <code>--role customer --claim \
             customer_id=1</code>) prints a token signed with <code>auth.jwt_secret</code>; \
             Swagger UI takes it under <em>Authorize</em>, GraphiQL under <em>Headers</em> as \
             <code>{\"Authorization\": \"Bearer &lt;token&gt;\"}</code>.</p>",
        );
    }
    html.push_str("<h2>Tables</h2><table><tr><th>path</th><th>table</th><th>access</th><th>relations</th></tr>");
    for entity in &model.entities {
        let relations: Vec<String> = entity
            .relations
            .iter()
            .filter(|r| {
                r.kind == RelationKind::ManyToOne || Some(r.local_field) == entity.primary_key
            })
            .map(|r| {
                format!(
                    "<code>/{}/{{id}}/{}</code>",
                    escape(&entity.plural),
                    escape(&r.name)
                )
            })
            .collect();
        let _ = write!(
            html,
            "<tr><td><a href=\"/{p}\"><code>/{p}</code></a></td><td>{t}</td><td>{a}</td><td>{r}</td></tr>",
            p = escape(&entity.plural),
            t = escape(&entity.table),
            a = entity.access.as_str(),
            r = relations.join(" ")
        );
    }
    html.push_str("</table>");
    let custom: Vec<String> = apps
        .iter()
        .flat_map(|app| {
            app.routes.iter().map(move |route| {
                format!(
                    "<tr><td><code>{} {}</code></td><td>{}</td><td>{}</td></tr>",
                    route.method,
                    escape(&route.path),
                    escape(route.doc.summary()),
                    app.name
                )
            })
        })
        .collect();
    if !custom.is_empty() {
        html.push_str("<h2>App routes</h2><table><tr><th>route</th><th>what</th><th>app</th></tr>");
        html.push_str(&custom.concat());
        html.push_str("</table>");
    }
    html.push_str("</body></html>");
    html
}

pub fn response(page: &str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .body(page.to_string())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

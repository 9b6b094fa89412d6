//! The OpenAPI documents and Swagger UI: what each port's document lists, that read-only tables
//! only have reads, that every reference resolves, that the checked-in documents are current,
//! and that the documents and the UI's assets are served by the runtime itself on every port.

use std::collections::BTreeSet;
use std::path::PathBuf;

use engine::model::Access;
use runtime::linked_apps;
use serde_json::Value;

use crate::helpers::{TestApp, both};

/// The tables an app lists, or every app's tables for the composed port.
fn visible_tables(port: &str) -> BTreeSet<String> {
    linked_apps()
        .iter()
        .filter(|app| port == "runtime" || app.name == port)
        .flat_map(|app| app.tables.iter().map(|grant| grant.table.clone()))
        .collect()
}

fn operations(document: &Value) -> Vec<(String, String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            found.push((method.to_uppercase(), path.clone(), operation));
        }
    }
    found
}

/// Every `$ref` of the document names a component it defines.
fn assert_refs_resolve(document: &Value, node: &Value) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                let pointer = target.strip_prefix('#').expect("local reference");
                assert!(
                    document.pointer(pointer).is_some(),
                    "dangling reference {target}"
                );
            }
            map.values().for_each(|v| assert_refs_resolve(document, v));
        }
        Value::Array(items) => items.iter().for_each(|v| assert_refs_resolve(document, v)),
        _ => {}
    }
}

async fn document(app: &TestApp, port: &str) -> Value {
    let reply = app.get(port, "/documentation/json").await;
    assert_eq!(reply.status.as_u16(), 200, "{port}");
    reply.body
}

both!(each_document_lists_exactly_the_ports_tables, |app| {
    for port in ["shared", "customers", "products", "invoices", "runtime"] {
        let document = document(app, port).await;
        assert_eq!(document["openapi"], "3.1.0", "{port}");
        let tags: Vec<&str> = document["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        let unique: BTreeSet<String> = tags.iter().map(|t| t.to_string()).collect();
        assert_eq!(unique.len(), tags.len(), "{port}: a table listed twice");
        // A tag per table, and one for the port's change feed.
        let mut expected = visible_tables(port);
        expected.insert("changes".into());
        assert_eq!(unique, expected, "{port}");
        for (method, path, operation) in operations(&document) {
            let tag = operation["tags"][0].as_str().unwrap();
            assert!(
                unique.contains(tag),
                "{port}: {method} {path} is tagged {tag}"
            );
            assert!(
                operation["operationId"].is_string(),
                "{port}: {method} {path}"
            );
        }
        assert_refs_resolve(&document, &document);
    }
    // Tables an app does not list appear nowhere in its document.
    let shared = document(app, "shared").await.to_string();
    for hidden in ["/customers", "/invoices", "/products", "Customer"] {
        assert!(
            !shared.contains(hidden),
            "the shared document mentions {hidden}"
        );
    }
});

both!(read_only_tables_only_have_read_operations, |app| {
    let document = document(app, "invoices").await;
    let read_only: Vec<String> = linked_apps()
        .iter()
        .find(|a| a.name == "invoices")
        .unwrap()
        .tables
        .iter()
        .filter(|grant| grant.access == Access::Read)
        .map(|grant| grant.table.clone())
        .collect();
    assert_eq!(read_only, ["customers", "products", "invoice_totals"]);
    let mut seen = BTreeSet::new();
    for (method, path, operation) in operations(&document) {
        let tag = operation["tags"][0].as_str().unwrap().to_string();
        if read_only.contains(&tag) {
            assert_eq!(method, "GET", "{method} {path} on read-only `{tag}`");
            seen.insert(tag);
        }
    }
    assert_eq!(
        seen.len(),
        3,
        "every read-only table has its reads: {seen:?}"
    );
    let schemas = &document["components"]["schemas"];
    assert!(schemas["Customer"].is_object());
    assert!(schemas.get("CustomerInput").is_none());
    assert!(schemas["InvoiceInput"].is_object());
    // A view has no primary key: no item routes.
    assert!(document["paths"]["/invoiceTotals"]["get"].is_object());
    assert!(document["paths"].get("/invoiceTotals/{id}").is_none());
    // The read-write tables of the same document keep their writes.
    let invoices = &document["paths"]["/invoices"];
    assert_eq!(invoices["post"]["operationId"], "createInvoice");
    assert_eq!(
        document["paths"]["/invoices/{id}/finalize"]["post"]["operationId"],
        "finalizeInvoice"
    );
});

both!(operations_follow_the_rest_contract, |app| {
    let document = document(app, "customers").await;
    let paths = &document["paths"];
    let ids: Vec<(&str, &str, &str)> = vec![
        ("/customers", "get", "getCustomers"),
        ("/customers", "post", "createCustomer"),
        ("/customers", "put", "updateCustomers"),
        ("/customers", "delete", "deleteCustomers"),
        ("/customers/{id}", "get", "getCustomerById"),
        ("/customers/{id}", "put", "updateCustomer"),
        ("/customers/{id}", "patch", "patchCustomer"),
        ("/customers/{id}", "delete", "deleteCustomer"),
        ("/customers/{id}/email", "get", "getEmailForCustomer"),
        ("/emails/{id}/customers", "get", "getCustomersForEmail"),
        ("/customers/{id}/contact", "get", "getCustomerContact"),
    ];
    for (path, method, id) in ids {
        assert_eq!(paths[path][method]["operationId"], id, "{method} {path}");
    }
    let list = &paths["/customers"]["get"];
    let names: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "where.name.like",
        "where.emailId.in",
        "where.createdAt.gte",
        "where.or",
        "orderby.createdAt",
        "fields",
        "limit",
        "offset",
        "totalCount",
        "cursor",
        "startAfter",
        "endBefore",
    ] {
        assert!(names.contains(&name), "GET /customers lacks {name}");
    }
    // `like` needs a text field.
    assert!(!names.contains(&"where.emailId.like"));
    let headers = &list["responses"]["200"]["headers"];
    for header in ["X-Total-Count", "X-Start-After", "X-End-Before"] {
        assert!(headers[header].is_object(), "{header}");
    }
    let created = &paths["/customers"]["post"]["responses"]["201"];
    assert!(created["headers"]["Location"].is_object());
    let schemas = &document["components"]["schemas"];
    assert_eq!(
        schemas["CustomerInput"]["required"],
        serde_json::json!(["name", "emailId"])
    );
    assert_eq!(
        schemas["Customer"]["properties"]["phoneId"]["type"],
        serde_json::json!(["integer", "null"])
    );
    assert_eq!(
        schemas["Customer"]["properties"]["createdAt"]["format"],
        "date-time"
    );
    assert_eq!(
        document["components"]["responses"]["MethodNotAllowed"]["headers"]["Allow"]["schema"]["type"],
        "string"
    );
});

both!(documentation_is_served_on_every_port, |app| {
    for port in ["shared", "customers", "products", "invoices", "runtime"] {
        let page = app
            .client
            .get(app.url(port, "/documentation"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 200, "{port}");
        assert!(page.url().path().ends_with("/documentation/"), "{port}");
        assert!(page.text().await.unwrap().contains("swagger-ui"), "{port}");

        let json = app.get(port, "/documentation/json").await;
        assert_eq!(json.header("content-type"), Some("application/json"));
        let yaml = app
            .client
            .get(app.url(port, "/documentation/yaml"))
            .send()
            .await
            .unwrap();
        assert_eq!(yaml.status().as_u16(), 200);
        assert_eq!(
            yaml.headers()["content-type"].to_str().unwrap(),
            "application/yaml"
        );
        assert!(yaml.text().await.unwrap().starts_with("openapi: 3.1.0"));

        // Swagger UI's assets come from the runtime itself, not from a CDN.
        for (asset, needle) in [
            ("/documentation/swagger-ui-bundle.js", "SwaggerUIBundle"),
            ("/documentation/swagger-ui.css", "swagger-ui"),
            (
                "/documentation/swagger-initializer.js",
                "/documentation/json",
            ),
        ] {
            let reply = app.client.get(app.url(port, asset)).send().await.unwrap();
            assert_eq!(reply.status().as_u16(), 200, "{port} {asset}");
            assert!(
                reply.text().await.unwrap().contains(needle),
                "{port} {asset}"
            );
        }
        app.get(port, "/documentation/nothing-here.js")
            .await
            .assert_error(404, "NOT_FOUND", &["nothing-here.js"]);
        let post = app
            .request(reqwest::Method::POST, port, "/documentation/json", None)
            .await;
        post.assert_error(405, "METHOD_NOT_ALLOWED", &[]);
        assert_eq!(post.header("allow"), Some("GET"));

        let start = app.client.get(app.url(port, "/")).send().await.unwrap();
        let start = start.text().await.unwrap();
        assert!(start.contains("href=\"/documentation\""), "{port}");
        assert!(start.contains("href=\"/documentation/json\""), "{port}");
    }
});

/// The checked-in document of an app: `apps/<name>/openapi.json`.
fn checked_in(app: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../apps/{app}/openapi.json"))
}

/// Each app's document, generated over a fresh SQLite database with the repository's
/// migrations, is the one checked into its crate, so API changes show in review.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checked_in_documents_are_current() {
    let app = TestApp::spawn_sqlite().await;
    let update = std::env::var_os("UPDATE_OPENAPI").is_some();
    let mut stale = Vec::new();
    for linked in linked_apps() {
        let served = app
            .client
            .get(app.url(&linked.name, "/documentation/json"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let generated = format!("{served}\n");
        let path = checked_in(&linked.name);
        if update {
            std::fs::write(&path, &generated).unwrap();
            continue;
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != generated {
            stale.push(format!("apps/{}/openapi.json", linked.name));
        }
    }
    app.finish().await;
    assert!(
        stale.is_empty(),
        "the API changed: {} differ from the generated documents. Review the change, then \
         regenerate them with `UPDATE_OPENAPI=1 cargo test --test api checked_in_documents` \
         (or `runtime --database-url sqlite://<new file> openapi --app NAME > \
         apps/NAME/openapi.json` with migrations.apply_on_start on)",
        stale.join(", ")
    );
}

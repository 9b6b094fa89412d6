//! Each app port serves exactly its allowlist: routes, relation routes and access modes.

use serde_json::json;

use crate::helpers::both;

const COLLECTIONS: [&str; 8] = [
    "/addresses",
    "/emails",
    "/phones",
    "/customers",
    "/products",
    "/invoices",
    "/lineItems",
    "/invoiceTotals",
];

both!(each_app_serves_exactly_its_tables, |app| {
    app.seed().await;
    let visible: [(&str, &[&str]); 5] = [
        ("shared", &["/addresses", "/emails", "/phones"]),
        (
            "customers",
            &["/addresses", "/emails", "/phones", "/customers"],
        ),
        ("products", &["/products"]),
        (
            "invoices",
            &[
                "/customers",
                "/products",
                "/invoices",
                "/lineItems",
                "/invoiceTotals",
            ],
        ),
        ("runtime", &COLLECTIONS),
    ];
    for (name, tables) in visible {
        for path in COLLECTIONS {
            let list = app.get(name, path).await;
            let item = app.get(name, &format!("{path}/1")).await;
            if tables.contains(&path) {
                assert_eq!(list.status.as_u16(), 200, "{name} {path}");
                let keyed = path != "/invoiceTotals";
                assert_eq!(
                    item.status.as_u16(),
                    if keyed { 200 } else { 404 },
                    "{name} {path}/1"
                );
            } else {
                list.assert_error(404, "NOT_FOUND", &[path]);
                item.assert_error(404, "NOT_FOUND", &[path]);
            }
        }
    }
    // The migration history is never served.
    for name in ["shared", "customers", "products", "invoices", "runtime"] {
        app.get(name, "/refinerySchemaHistories")
            .await
            .assert_error(404, "NOT_FOUND", &[]);
    }
});

both!(relations_exist_only_between_visible_tables, |app| {
    app.seed().await;
    // customers sees customers and contacts, not invoices.
    assert_eq!(
        app.get("customers", "/customers/1/email").await.body["address"],
        "ada@example.com"
    );
    assert_eq!(
        app.get("customers", "/emails/1/customers")
            .await
            .status
            .as_u16(),
        200
    );
    app.get("customers", "/customers/1/invoices")
        .await
        .assert_error(404, "NOT_FOUND", &[]);
    // invoices sees customers, but not their contact rows: emailId stays a plain field.
    assert_eq!(
        app.get("invoices", "/customers/1/invoices")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
    app.get("invoices", "/customers/1/email")
        .await
        .assert_error(404, "NOT_FOUND", &[]);
    assert_eq!(app.get("invoices", "/customers/1").await.body["emailId"], 1);
    assert_eq!(
        app.get("invoices", "/invoices/1/lineItems")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        app.get("invoices", "/lineItems/1/product").await.body["sku"],
        "A-1"
    );
    // products sees no other table at all.
    app.get("products", "/products/1/lineItems")
        .await
        .assert_error(404, "NOT_FOUND", &[]);
});

both!(read_only_tables_refuse_writes_with_405, |app| {
    app.seed().await;
    let writes = [
        (reqwest::Method::POST, "/customers"),
        (reqwest::Method::PUT, "/customers?where.id.eq=1"),
        (reqwest::Method::DELETE, "/customers?where.id.eq=1"),
        (reqwest::Method::PUT, "/customers/1"),
        (reqwest::Method::PATCH, "/customers/1"),
        (reqwest::Method::DELETE, "/customers/1"),
        (reqwest::Method::POST, "/products"),
        (reqwest::Method::DELETE, "/products/1"),
    ];
    for (method, path) in writes {
        let reply = app
            .request(
                method.clone(),
                "invoices",
                path,
                Some(&json!({"name": "x"})),
            )
            .await;
        reply.assert_error(405, "METHOD_NOT_ALLOWED", &["read-only"]);
        assert_eq!(reply.header("allow"), Some("GET"), "{method} {path}");
    }
    assert_eq!(
        app.get("invoices", "/customers/1").await.body["name"],
        "Ada"
    );
    // The same tables are writable where an app grants read-write.
    assert_eq!(
        app.patch("customers", "/customers/1", json!({"name": "Ada L."}))
            .await
            .status
            .as_u16(),
        200
    );
    assert_eq!(
        app.patch("products", "/products/1", json!({"stock": 9}))
            .await
            .status
            .as_u16(),
        200
    );
});

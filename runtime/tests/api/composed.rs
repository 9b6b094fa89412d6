//! The composed port serves the union of every app, each table once, with the widest access.

use serde_json::json;

use crate::helpers::both;

both!(composed_port_grants_the_widest_access, |app| {
    app.seed().await;
    // `customers` is read-only in the invoices app but read-write in the customers app.
    let renamed = app
        .patch("runtime", "/customers/2", json!({"name": "Robert"}))
        .await;
    assert_eq!(renamed.body["name"], "Robert");
    assert_eq!(
        app.get("invoices", "/customers/2").await.body["name"],
        "Robert"
    );
    // Relations span apps on the composed port: invoice -> customer -> email.
    assert_eq!(
        app.get("runtime", "/customers/1/email").await.body["address"],
        "ada@example.com"
    );
    assert_eq!(
        app.get("runtime", "/emails/2/customers").await.body[0]["name"],
        "Robert"
    );
});

both!(start_pages_list_each_ports_tables, |app| {
    let page = |name: &'static str| async move {
        let response = app.client.get(app.url(name, "/")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        response.text().await.unwrap()
    };
    let products = page("products").await;
    assert!(products.contains("/products") && products.contains("/products/low-stock"));
    assert!(!products.contains("/customers"), "{products}");
    let invoices = page("invoices").await;
    assert!(
        invoices.contains("/invoiceTotals")
            && invoices.contains("read-write")
            && invoices.contains(">read<")
    );
    let composed = page("runtime").await;
    for path in [
        "/addresses",
        "/customers",
        "/lineItems",
        "/invoices/{id}/finalize",
        "/emails/lookup",
    ] {
        assert!(
            composed.contains(path),
            "{path} missing from the composed start page"
        );
    }
});

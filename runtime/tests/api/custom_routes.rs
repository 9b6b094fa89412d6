//! Every app's own routes, on its port and on the composed port.

use actix_web::HttpResponse;
use actix_web::http::Method;
use engine::App;
use engine::model::Access;
use engine::server::{Runtime, Serve};
use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::{TestDb, both, test_config};

both!(
    each_apps_own_route_works_on_its_port_and_the_composed_port,
    |app| {
        app.seed().await;
        for port in ["shared", "runtime"] {
            let email = app
                .get(port, "/emails/lookup?address=bob@example.com")
                .await;
            assert_eq!(
                email.body,
                json!({"id": 2, "address": "bob@example.com"}),
                "{port}"
            );
            app.get(port, "/emails/lookup?address=nobody@example.com")
                .await
                .assert_error(404, "NOT_FOUND", &["nobody"]);
            app.get(port, "/emails/lookup")
                .await
                .assert_error(400, "INVALID_VALUE", &["address"]);
        }
        for port in ["customers", "runtime"] {
            let card = app.get(port, "/customers/1/contact").await;
            assert_eq!(card.body["email"]["address"], "ada@example.com", "{port}");
            assert_eq!(card.body["phone"]["number"], "+31 20 123");
            assert_eq!(card.body["address"]["city"], "Amsterdam");
            assert_eq!(
                app.get(port, "/customers/3/contact").await.body["phone"],
                json!(null)
            );
            app.get(port, "/customers/99/contact")
                .await
                .assert_error(404, "NOT_FOUND", &["99"]);
            app.get(port, "/customers/x/contact")
                .await
                .assert_error(400, "INVALID_VALUE", &[]);
        }
        for port in ["products", "runtime"] {
            let low = app.get(port, "/products/low-stock?below=5").await;
            let skus: Vec<&str> = low
                .body
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["sku"].as_str().unwrap())
                .collect();
            assert_eq!(skus, ["C-3", "A-1"], "{port}");
            app.get(port, "/products/low-stock?below=-1")
                .await
                .assert_error(400, "INVALID_VALUE", &[]);
            app.get(port, "/products/low-stock?above=1")
                .await
                .assert_error(400, "INVALID_VALUE", &["above"]);
            // The custom route wins over the generated item route with the same shape.
            assert_eq!(app.get(port, "/products/2").await.body["sku"], "B-2");
        }
        for port in ["invoices", "runtime"] {
            let summary = app.get(port, "/customers/1/summary").await;
            assert_eq!(
                summary.body,
                json!({"customerId": 1, "invoiceCount": 2, "totalCents": 1800}),
                "{port}"
            );
            app.get(port, "/customers/99/summary")
                .await
                .assert_error(404, "NOT_FOUND", &["99"]);
        }
        // An app's route is not served on another app's port.
        app.get("customers", "/products/low-stock")
            .await
            .assert_error(404, "NOT_FOUND", &[]);
        app.get("products", "/customers/1/summary")
            .await
            .assert_error(404, "NOT_FOUND", &[]);
    }
);

both!(totals_past_64_bits_are_a_client_error, |app| {
    app.seed().await;
    // Each line's product fits in 64 bits, their sum does not (on PostgreSQL, where the columns
    // are 32-bit, the product already overflows): a 400 on both, never a 500 or a wrong total.
    let line = json!({"invoiceId": 1, "productId": 1, "quantity": 2_000_000_000, "unitPriceCents": 2_000_000_000});
    for _ in 0..3 {
        let reply = app.post("runtime", "/lineItems", line.clone()).await;
        assert_eq!(reply.status.as_u16(), 201, "{:?}", reply.body);
    }
    app.get("invoices", "/customers/1/summary")
        .await
        .assert_error(400, "INVALID_VALUE", &["integer"]);
    app.post("invoices", "/invoices/1/finalize", json!({}))
        .await
        .assert_error(400, "INVALID_VALUE", &["integer"]);
    assert_eq!(
        app.get("runtime", "/invoices/1").await.body["status"],
        "draft",
        "nothing was written"
    );
});

both!(finalize_stores_the_total_once, |app| {
    app.seed().await;
    let finalized = app
        .post("invoices", "/invoices/1/finalize", json!({}))
        .await;
    assert_eq!(finalized.status.as_u16(), 200, "{:?}", finalized.body);
    assert_eq!(finalized.body["status"], "issued");
    assert_eq!(finalized.body["totalCents"], 1500);
    let stored = app.get("runtime", "/invoices/1").await;
    assert_eq!(stored.body["totalCents"], 1500);
    app.post("runtime", "/invoices/1/finalize", json!({}))
        .await
        .assert_error(409, "CONFLICT", &["issued"]);
    app.post("invoices", "/invoices/2/finalize", json!({}))
        .await
        .assert_error(409, "CONFLICT", &["paid"]);
    app.post("invoices", "/invoices/99/finalize", json!({}))
        .await
        .assert_error(404, "NOT_FOUND", &["99"]);
    app.get("invoices", "/invoices/1/finalize")
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED", &["POST"]);
    assert_eq!(
        app.get("runtime", "/invoices/2").await.body["totalCents"],
        json!(null)
    );
});

both!(restock_adds_to_the_stock_and_answers_the_product, |app| {
    app.seed().await;
    for (port, quantity, expected) in [("products", 5, 8), ("runtime", 2, 10)] {
        let restocked = app
            .post(port, "/products/1/restock", json!({ "quantity": quantity }))
            .await;
        assert_eq!(restocked.status.as_u16(), 200, "{:?}", restocked.body);
        assert_eq!(restocked.body["sku"], "A-1", "{port}");
        assert_eq!(restocked.body["stock"], expected, "{port}");
    }
    assert_eq!(app.get("runtime", "/products/1").await.body["stock"], 10);
    app.post("products", "/products/99/restock", json!({"quantity": 1}))
        .await
        .assert_error(404, "NOT_FOUND", &["99"]);
    app.post("products", "/products/x/restock", json!({"quantity": 1}))
        .await
        .assert_error(400, "INVALID_VALUE", &[]);
    app.get("products", "/products/1/restock")
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED", &["POST"]);
    assert_eq!(app.get("runtime", "/products/3").await.body["stock"], 0);
});

both!(a_restock_past_the_largest_stock_is_a_client_error, |app| {
    // The largest stock the column takes: 64 bits on SQLite, 32 on PostgreSQL.
    let mut created = app
        .post(
            "runtime",
            "/products",
            json!({"sku": "Z-9", "name": "Zeppelin", "priceCents": 1, "stock": i64::MAX}),
        )
        .await;
    if created.status.as_u16() == 400 {
        created = app
            .post(
                "runtime",
                "/products",
                json!({"sku": "Z-9", "name": "Zeppelin", "priceCents": 1, "stock": i32::MAX}),
            )
            .await;
    }
    assert_eq!(created.status.as_u16(), 201, "{:?}", created.body);
    let path = format!("/products/{}/restock", created.body["id"]);
    app.post("products", &path, json!({"quantity": 1}))
        .await
        .assert_error(400, "INVALID_VALUE", &["stock"]);
    let stored = app
        .get("runtime", &format!("/products/{}", created.body["id"]))
        .await;
    assert_eq!(stored.body["stock"], created.body["stock"]);
});

both!(concurrent_restocks_each_add_their_quantity, |app| {
    app.seed().await;
    let replies = join_all((0..20).map(|i| {
        let port = if i % 2 == 0 { "products" } else { "runtime" };
        app.post(port, "/products/2/restock", json!({"quantity": 1}))
    }))
    .await;
    for reply in &replies {
        assert_eq!(reply.status.as_u16(), 200, "{:?}", reply.body);
    }
    let mut answered: Vec<i64> = replies
        .iter()
        .map(|r| r.body["stock"].as_i64().expect("stock"))
        .collect();
    answered.sort_unstable();
    assert_eq!(
        answered,
        (51..=70).collect::<Vec<_>>(),
        "each saw the one before"
    );
    assert_eq!(app.get("runtime", "/products/2").await.body["stock"], 70);
});

async fn hello() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[tokio::test]
async fn two_apps_claiming_one_route_stop_start_up() {
    let db = TestDb::sqlite();
    let apps = vec![
        App::new("alpha", 0).table("products", Access::Read).route(
            Method::GET,
            "/stats/{id}",
            "a",
            hello,
        ),
        App::new("beta", 0).table("products", Access::Read).route(
            Method::GET,
            "/stats/{key}",
            "b",
            hello,
        ),
    ];
    let linked: Vec<(&str, u16)> = apps
        .iter()
        .map(|a| (a.name.as_str(), a.default_port))
        .collect();
    let config = test_config(&db.url, &apps).check(&linked).unwrap();
    let error = Runtime::build(&config, &apps, Serve::All)
        .await
        .err()
        .expect("conflict")
        .to_string();
    assert!(
        error.contains("alpha") && error.contains("beta") && error.contains("/stats/"),
        "{error}"
    );
    // Each app alone is fine.
    let alone = Runtime::build(&config, &apps, Serve::App("beta".into())).await;
    assert!(alone.is_ok());
}

#[tokio::test]
async fn a_listed_table_missing_from_the_database_stops_start_up() {
    let db = TestDb::sqlite();
    let apps = vec![
        App::new("ghosts", 0)
            .table("products", Access::Read)
            .table("ghosts", Access::ReadWrite),
    ];
    let config = test_config(&db.url, &apps).check(&[("ghosts", 0)]).unwrap();
    let error = Runtime::build(&config, &apps, Serve::All)
        .await
        .err()
        .expect("missing table")
        .to_string();
    assert!(
        error.contains("`ghosts`") && error.contains("table `ghosts`"),
        "{error}"
    );
}

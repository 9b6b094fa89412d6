//! Bad input gets a clear 4xx in the one error format, and nothing is half-written.

use serde_json::json;

use crate::helpers::{both, reply};

both!(body_errors_name_what_was_wrong, |app| {
    app.seed().await;
    let cases = [
        (
            json!({"sku": "N", "name": "n", "priceCents": 1, "stock": 1, "colour": "red"}),
            400,
            "UNKNOWN_FIELD",
            "colour",
        ),
        (
            json!({"sku": "N", "name": "n", "priceCents": "cheap", "stock": 1}),
            400,
            "INVALID_VALUE",
            "priceCents",
        ),
        (
            json!({"sku": "N", "name": "n", "priceCents": 1.5, "stock": 1}),
            400,
            "INVALID_VALUE",
            "priceCents",
        ),
        (
            json!({"sku": 5, "name": "n", "priceCents": 1, "stock": 1}),
            400,
            "INVALID_VALUE",
            "sku",
        ),
        (
            json!({"sku": "N", "name": "n", "price_cents": 1, "priceCents": 1, "stock": 1}),
            400,
            "INVALID_BODY",
            "priceCents",
        ),
        (
            json!({"name": "n", "priceCents": 1}),
            422,
            "NOT_NULL_VIOLATION",
            "sku",
        ),
        (
            json!({"sku": "N", "name": null, "priceCents": 1, "stock": 1}),
            422,
            "NOT_NULL_VIOLATION",
            "name",
        ),
        (json!("a string"), 400, "INVALID_BODY", "object"),
        (json!([]), 400, "INVALID_BODY", "empty"),
        (
            json!([{"sku": "N", "name": "n", "priceCents": 1, "stock": 1}, 7]),
            400,
            "INVALID_BODY",
            "row 1",
        ),
    ];
    for (body, status, code, needle) in cases {
        app.post("runtime", "/products", body.clone())
            .await
            .assert_error(status, code, &[needle]);
    }
    app.patch("runtime", "/products/1", json!({}))
        .await
        .assert_error(400, "INVALID_BODY", &["no field"]);
    // Nothing of a refused array was written.
    assert_eq!(
        app.get("runtime", "/products?totalCount=true")
            .await
            .header("x-total-count"),
        Some("3")
    );
});

both!(constraint_violations_are_409_and_422, |app| {
    app.seed().await;
    app.post(
        "runtime",
        "/products",
        json!({"sku": "A-1", "name": "dup", "priceCents": 1, "stock": 1}),
    )
    .await
    .assert_error(409, "UNIQUE_VIOLATION", &["sku"]);
    app.patch(
        "runtime",
        "/emails/2",
        json!({"address": "ada@example.com"}),
    )
    .await
    .assert_error(409, "UNIQUE_VIOLATION", &["address"]);
    app.post(
        "runtime",
        "/customers",
        json!({"name": "Ghost", "emailId": 999}),
    )
    .await
    .assert_error(422, "FOREIGN_KEY_VIOLATION", &["emailId"]);
    app.delete("runtime", "/customers/1")
        .await
        .assert_error(422, "FOREIGN_KEY_VIOLATION", &[]);
    app.post(
        "runtime",
        "/invoices",
        json!({"customerId": 1, "number": "INV-9", "status": "lost"}),
    )
    .await
    .assert_error(422, "CHECK_VIOLATION", &["invoices_status_check"]);
    // A multi-row insert with one bad row writes nothing.
    let batch = json!([
        {"sku": "OK-1", "name": "fine", "priceCents": 1, "stock": 1},
        {"sku": "A-1", "name": "dup", "priceCents": 1, "stock": 1}
    ]);
    app.post("runtime", "/products", batch)
        .await
        .assert_error(409, "UNIQUE_VIOLATION", &["sku"]);
    let written = app.get("runtime", "/products?where.sku.eq=OK-1").await;
    assert_eq!(written.body, json!([]));
});

both!(transport_errors_use_the_same_format, |app| {
    let url = app.url("runtime", "/emails");
    let malformed = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"address\":")
        .send()
        .await
        .unwrap();
    reply(malformed)
        .await
        .assert_error(400, "MALFORMED_JSON", &["JSON"]);
    let wrong_type = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    reply(wrong_type)
        .await
        .assert_error(415, "UNSUPPORTED_MEDIA_TYPE", &["text/plain"]);
    let empty = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    reply(empty)
        .await
        .assert_error(400, "INVALID_BODY", &["empty"]);
    let huge = format!("{{\"address\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let too_large = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    reply(too_large)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE", &["limit"]);
    app.get("runtime", "/nowhere")
        .await
        .assert_error(404, "NOT_FOUND", &["/nowhere"]);
    let patch_collection = app
        .client
        .patch(&url)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let patch_collection = reply(patch_collection).await;
    patch_collection.assert_error(405, "METHOD_NOT_ALLOWED", &["PATCH"]);
    assert_eq!(
        patch_collection.header("allow"),
        Some("GET, POST, PUT, DELETE")
    );
    assert_eq!(app.get("runtime", "/emails").await.body, json!([]));
});

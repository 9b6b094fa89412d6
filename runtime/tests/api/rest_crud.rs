//! Create, read, update, delete, upsert and bulk routes.

use serde_json::json;

use crate::helpers::both;

both!(create_one_answers_201_with_location, |app| {
    let reply = app
        .post("runtime", "/emails", json!({"address": "new@example.com"}))
        .await;
    assert_eq!(reply.status.as_u16(), 201);
    assert_eq!(reply.body, json!({"id": 1, "address": "new@example.com"}));
    assert_eq!(reply.header("location"), Some("/emails/1"));
    let fetched = app.get("runtime", "/emails/1").await;
    assert_eq!(fetched.body, json!({"id": 1, "address": "new@example.com"}));
});

both!(create_many_inserts_all_rows_in_one_request, |app| {
    app.seed().await;
    let reply = app.get("runtime", "/customers?orderby.id=asc").await;
    let names: Vec<&str> = reply
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Ada", "Bob", "Cy"]);
    let customer = &reply.body[0];
    assert_eq!(customer["emailId"], 1);
    assert!(
        customer["createdAt"]
            .as_str()
            .unwrap()
            .starts_with("2024-01-01")
    );
    // Omitted nullable fields are null; defaults apply per row even when other rows set them.
    let mixed = app
        .post(
            "runtime",
            "/invoices",
            json!([{"customerId": 3, "number": "X-1"}, {"customerId": 3, "number": "X-2", "status": "paid"}]),
        )
        .await;
    assert_eq!(mixed.status.as_u16(), 201, "{:?}", mixed.body);
    assert_eq!(mixed.body[0]["status"], "draft");
    assert_eq!(mixed.body[1]["status"], "paid");
    assert!(mixed.body[0]["issuedAt"].is_string());
    assert_eq!(mixed.body[0]["totalCents"], json!(null));
});

both!(snake_case_input_is_accepted, |app| {
    app.seed().await;
    let reply = app
        .post(
            "runtime",
            "/lineItems",
            json!({"invoice_id": 1, "product_id": 3, "quantity": 1, "unit_price_cents": 75}),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 201, "{:?}", reply.body);
    assert_eq!(reply.body["unitPriceCents"], 75);
});

both!(get_patch_put_delete_by_id, |app| {
    app.seed().await;
    let one = app.get("runtime", "/products/2").await;
    assert_eq!(
        one.body,
        json!({"id": 2, "sku": "B-2", "name": "Gadget", "priceCents": 1000, "stock": 50})
    );
    let fields = app.get("runtime", "/products/2?fields=name,stock").await;
    assert_eq!(fields.body, json!({"name": "Gadget", "stock": 50}));

    let patched = app
        .patch("runtime", "/products/2", json!({"stock": 49}))
        .await;
    assert_eq!(patched.body["stock"], 49);
    assert_eq!(patched.body["name"], "Gadget");

    // PUT updates the named fields of an existing row ...
    let updated = app
        .put(
            "runtime",
            "/products/2",
            json!({"sku": "B-2", "name": "Gadget Pro", "priceCents": 1100, "stock": 10}),
        )
        .await;
    assert_eq!(updated.status.as_u16(), 200, "{:?}", updated.body);
    assert_eq!(updated.body["name"], "Gadget Pro");
    // ... and inserts a row under a new key.
    let inserted = app
        .put(
            "runtime",
            "/products/40",
            json!({"sku": "Z-40", "name": "Forty", "priceCents": 40, "stock": 4}),
        )
        .await;
    assert_eq!(inserted.status.as_u16(), 200, "{:?}", inserted.body);
    assert_eq!(inserted.body["id"], 40);
    assert_eq!(app.get("runtime", "/products/40").await.body["sku"], "Z-40");

    let deleted = app.delete("runtime", "/products/40").await;
    assert_eq!(deleted.body["sku"], "Z-40");
    app.get("runtime", "/products/40")
        .await
        .assert_error(404, "NOT_FOUND", &["40"]);
    app.delete("runtime", "/products/40")
        .await
        .assert_error(404, "NOT_FOUND", &["40"]);
    app.patch("runtime", "/products/40", json!({"stock": 1}))
        .await
        .assert_error(404, "NOT_FOUND", &["40"]);
});

both!(put_refuses_a_key_that_differs_from_the_path, |app| {
    app.seed().await;
    app.put(
        "runtime",
        "/products/2",
        json!({"id": 3, "sku": "B-2", "name": "x", "priceCents": 1, "stock": 1}),
    )
    .await
    .assert_error(400, "INVALID_BODY", &["id"]);
    app.put("runtime", "/products/2", json!({"name": "only a name"}))
        .await
        .assert_error(422, "NOT_NULL_VIOLATION", &["sku", "priceCents", "stock"]);
});

both!(bulk_update_and_delete_need_a_filter, |app| {
    app.seed().await;
    let updated = app
        .put(
            "runtime",
            "/products?where.stock.lt=5",
            json!({"stock": 100}),
        )
        .await;
    assert_eq!(updated.status.as_u16(), 200, "{:?}", updated.body);
    let mut skus: Vec<&str> = updated
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap())
        .collect();
    skus.sort();
    assert_eq!(skus, ["A-1", "C-3"]);
    assert!(
        updated
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["stock"] == 100)
    );

    app.put("runtime", "/products", json!({"stock": 1}))
        .await
        .assert_error(400, "FILTER_REQUIRED", &["where"]);
    app.delete("runtime", "/lineItems")
        .await
        .assert_error(400, "FILTER_REQUIRED", &["where"]);

    let deleted = app
        .delete("runtime", "/lineItems?where.invoiceId.eq=1")
        .await;
    assert_eq!(deleted.body.as_array().unwrap().len(), 2);
    let left = app.get("runtime", "/lineItems").await;
    assert_eq!(left.body.as_array().unwrap().len(), 1);
    let none = app
        .delete("runtime", "/lineItems?where.invoiceId.eq=99")
        .await;
    assert_eq!(none.body, json!([]));
});

both!(relation_routes_in_both_directions, |app| {
    app.seed().await;
    let customer = app.get("runtime", "/invoices/3/customer").await;
    assert_eq!(customer.body["name"], "Bob");
    let invoices = app
        .get("runtime", "/customers/1/invoices?orderby.number=desc")
        .await;
    let numbers: Vec<&str> = invoices
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["INV-2", "INV-1"]);
    let filtered = app
        .get(
            "runtime",
            "/customers/1/invoices?where.status.eq=paid&fields=number",
        )
        .await;
    assert_eq!(filtered.body, json!([{"number": "INV-2"}]));
    let empty = app.get("runtime", "/customers/3/invoices").await;
    assert_eq!(empty.body, json!([]));
    app.get("runtime", "/customers/99/invoices")
        .await
        .assert_error(404, "NOT_FOUND", &["99"]);
    app.get("runtime", "/invoices/99/customer")
        .await
        .assert_error(404, "NOT_FOUND", &["99"]);
    // A null foreign key has no related row.
    app.get("runtime", "/customers/3/phone")
        .await
        .assert_error(404, "NOT_FOUND", &["phone"]);
    let items = app.get("runtime", "/products/1/lineItems").await;
    assert_eq!(items.body.as_array().unwrap().len(), 1);
});

both!(views_are_served_read_only, |app| {
    app.seed().await;
    let totals = app
        .get("runtime", "/invoiceTotals?orderby.invoiceId=asc")
        .await;
    assert_eq!(totals.body[0]["totalCents"], 1500);
    assert_eq!(totals.body[1]["totalCents"], 300);
    assert_eq!(totals.body[2]["totalCents"], 0);
    app.post("runtime", "/invoiceTotals", json!({"invoiceId": 1}))
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED", &["read-only"]);
});

both!(
    integral_json_numbers_are_accepted_for_integer_fields,
    |app| {
        // JSON Schema counts 7.0 as an integer, so clients generated from the document may send it.
        let reply = app
            .post(
                "shared",
                "/emails",
                json!({"id": 7.0, "address": "seven@example.com"}),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 201, "{:?}", reply.body);
        assert_eq!(reply.body, json!({"id": 7, "address": "seven@example.com"}));
        app.post(
            "shared",
            "/emails",
            json!({"id": 7.5, "address": "half@example.com"}),
        )
        .await
        .assert_error(400, "INVALID_VALUE", &["id"]);
    }
);

both!(date_times_are_answered_in_rfc_3339, |app| {
    // The documents call these `date-time` (RFC 3339); SQLite stores `YYYY-MM-DD HH:MM:SS`.
    app.post("shared", "/emails", json!({"address": "ada@example.com"}))
        .await
        .assert_ok();
    let created = app
        .post(
            "customers",
            "/customers",
            json!({"name": "Ada", "emailId": 1, "createdAt": "2024-01-31T12:00:00+02:00"}),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{:?}", created.body);
    let defaulted = app
        .post(
            "customers",
            "/customers",
            json!({"name": "Bob", "emailId": 1}),
        )
        .await;
    for reply in [&created, &defaulted] {
        let value = reply.body["createdAt"].as_str().unwrap();
        let (date, time) = value.split_once('T').expect("a T between date and time");
        assert_eq!(date.len(), 10, "{value}");
        assert!(
            time.ends_with('Z') || time[8..].contains(['+', '-']),
            "{value} names its offset"
        );
    }
    if app.db.url.starts_with("sqlite") {
        assert_eq!(created.body["createdAt"], "2024-01-31T10:00:00Z");
        // Filters and cursors take the answered form back.
        let found = app
            .get(
                "customers",
                "/customers?where.createdAt.eq=2024-01-31T10:00:00Z&fields=name",
            )
            .await;
        assert_eq!(found.body, json!([{"name": "Ada"}]));
    }
});

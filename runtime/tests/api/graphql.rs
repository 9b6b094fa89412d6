//! GraphQL on every app port and the composed port: queries, relations, pages, mutations,
//! errors with codes, limits, and one SQL statement per root field.

use serde_json::{Value, json};

use crate::helpers::{TestApp, both};

/// The error code of the first error of a response.
fn code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {response}"))
}

fn data(response: &Value) -> &Value {
    assert!(response.get("errors").is_none(), "{response}");
    &response["data"]
}

async fn names(app: &TestApp, query: &str) -> Vec<String> {
    let response = app.graphql("runtime", query, json!({})).await;
    let data = data(&response);
    let (_, rows) = data.as_object().unwrap().iter().next().unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

both!(the_benchmark_query_answers_in_one_statement, |app| {
    app.seed().await;
    let query = "query($id: ID!) { getCustomerById(id: $id) { id name email { address } address { city country } invoices { number status issuedAt } } }";
    let before = app.statements();
    let response = app.graphql("runtime", query, json!({"id": 1})).await;
    assert_eq!(app.statements() - before, 1);
    let customer = &data(&response)["getCustomerById"];
    assert_eq!(customer["id"], "1");
    assert_eq!(customer["email"]["address"], "ada@example.com");
    assert_eq!(customer["address"]["city"], "Amsterdam");
    let numbers: Vec<&str> = customer["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["INV-1", "INV-2"]);
    let missing = app.graphql("runtime", query, json!({"id": "99"})).await;
    assert_eq!(data(&missing)["getCustomerById"], Value::Null);
});

both!(statements_do_not_grow_with_rows_or_nesting, |app| {
    app.seed().await;
    let query = "{ customers { name invoices { number lineItems { quantity product { sku } } } } }";
    let before = app.statements();
    let response = app.graphql("invoices", query, json!({})).await;
    assert_eq!(
        app.statements() - before,
        1,
        "a three-level query is one statement"
    );
    let ada = &data(&response)["customers"][0];
    assert_eq!(ada["invoices"][0]["lineItems"][1]["product"]["sku"], "B-2");
    // Twice the rows, still one statement.
    let more: Vec<Value> = (0..20)
        .map(|i| json!({"customerId": 3, "number": format!("M-{i}")}))
        .collect();
    assert_eq!(
        app.post("runtime", "/invoices", json!(more))
            .await
            .status
            .as_u16(),
        201
    );
    let before = app.statements();
    app.graphql("invoices", query, json!({})).await;
    assert_eq!(app.statements() - before, 1);
    let two_roots = "{ a: customers { name } b: products { sku } }";
    let before = app.statements();
    app.graphql("runtime", two_roots, json!({})).await;
    assert_eq!(app.statements() - before, 2, "one statement per root field");
});

both!(list_arguments_filter_order_and_page, |app| {
    app.seed().await;
    let cases: &[(&str, &[&str])] = &[
        (
            r#"{ products(where: {priceCents: {gt: 100}}) { name } }"#,
            &["Widget", "Gadget"],
        ),
        (
            r#"{ products(where: {priceCents: {lte: 250}, stock: {gt: 0}}) { name } }"#,
            &["Widget"],
        ),
        (
            r#"{ products(where: {name: {like: "G%"}}) { name } }"#,
            &["Gadget", "Gizmo"],
        ),
        (
            r#"{ products(where: {name: {ilike: "g%"}}) { name } }"#,
            &["Gadget", "Gizmo"],
        ),
        (
            r#"{ products(where: {sku: {in: ["A-1", "C-3"]}}) { name } }"#,
            &["Widget", "Gizmo"],
        ),
        (
            r#"{ products(where: {sku: {nin: ["A-1", "C-3"]}}) { name } }"#,
            &["Gadget"],
        ),
        (
            r#"{ products(where: {id: {eq: "2"}}) { name } }"#,
            &["Gadget"],
        ),
        (
            r#"{ products(where: {stock: {neq: 3}}) { name } }"#,
            &["Gadget", "Gizmo"],
        ),
        (
            r#"{ products(where: {or: [{sku: {eq: "A-1"}}, {stock: {gte: 50}}]}) { name } }"#,
            &["Widget", "Gadget"],
        ),
        (
            r#"{ products(where: {and: [{stock: {lt: 50}}, {stock: {gte: 3}}]}) { name } }"#,
            &["Widget"],
        ),
        (
            r#"{ products(orderBy: [{field: priceCents, direction: DESC}]) { name } }"#,
            &["Gadget", "Widget", "Gizmo"],
        ),
        (
            r#"{ products(orderBy: [{field: priceCents}], limit: 1, offset: 1) { name } }"#,
            &["Widget"],
        ),
        (
            r#"{ customers(where: {phoneId: {isNull: true}}) { name } }"#,
            &["Bob", "Cy"],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(names(app, query).await, *expected, "{query}");
    }
    let count = app
        .graphql(
            "runtime",
            r#"{ countProducts(where: {stock: {lt: 10}}) { total } all: countProducts { total } }"#,
            json!({}),
        )
        .await;
    assert_eq!(data(&count)["countProducts"]["total"], 2);
    assert_eq!(data(&count)["all"]["total"], 3);
    let nested = app
        .graphql(
            "runtime",
            r#"{ getCustomerById(id: 1) { invoices(where: {status: {eq: "paid"}}) { number } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        data(&nested)["getCustomerById"]["invoices"],
        json!([{"number": "INV-2"}])
    );
});

both!(pages_walk_with_cursors, |app| {
    app.seed().await;
    let query = "query($after: String) { productsPage(limit: 2, orderBy: [{field: name}], startAfter: $after) { items { name } startAfter endBefore } }";
    let first = app.graphql("runtime", query, json!({})).await;
    let page = &data(&first)["productsPage"];
    assert_eq!(
        page["items"],
        json!([{"name": "Gadget"}, {"name": "Gizmo"}])
    );
    let after = page["startAfter"].as_str().unwrap().to_string();
    let second = app.graphql("runtime", query, json!({"after": after})).await;
    assert_eq!(
        data(&second)["productsPage"]["items"],
        json!([{"name": "Widget"}])
    );
    let bad = app
        .graphql("runtime", query, json!({"after": "nonsense"}))
        .await;
    assert_eq!(code(&bad), "INVALID_CURSOR");
});

both!(mutations_write_in_one_transaction_each, |app| {
    app.seed().await;
    let saved = app.graphql("runtime", r#"mutation { saveProduct(input: {sku: "D-4", name: "Doohickey", priceCents: 5, stock: 1}) { id sku } }"#, json!({})).await;
    assert_eq!(data(&saved)["saveProduct"]["sku"], "D-4");
    let id = data(&saved)["saveProduct"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let updated = app
        .graphql(
            "runtime",
            "mutation($id: ID!) { saveProduct(input: {id: $id, stock: 9}) { stock name } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        data(&updated)["saveProduct"],
        json!({"stock": 9, "name": "Doohickey"})
    );
    let inserted = app
        .graphql(
            "runtime",
            r#"mutation { insertInvoices(inputs: [{customerId: 3, number: "N-1"}, {customerId: 3, number: "N-2"}]) { number customer { name } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        data(&inserted)["insertInvoices"][1],
        json!({"number": "N-2", "customer": {"name": "Cy"}})
    );
    let changed = app
        .graphql("runtime", r#"mutation { updateInvoices(where: {customerId: {eq: 3}}, input: {status: "void"}) { status } }"#, json!({}))
        .await;
    assert_eq!(
        data(&changed)["updateInvoices"],
        json!([{"status": "void"}, {"status": "void"}])
    );
    let deleted = app
        .graphql("runtime", r#"mutation { deleteInvoices(where: {customerId: {eq: 3}}) { number customer { name } } }"#, json!({}))
        .await;
    assert_eq!(
        data(&deleted)["deleteInvoices"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        app.get("runtime", "/invoices?where.customerId.eq=3")
            .await
            .body,
        json!([])
    );

    let refused = app
        .graphql(
            "runtime",
            "mutation { deleteInvoices(where: {}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&refused), "FILTER_REQUIRED");
    let duplicate = app.graphql("runtime", r#"mutation { saveProduct(input: {sku: "A-1", name: "x", priceCents: 1, stock: 1}) { id } }"#, json!({})).await;
    assert_eq!(code(&duplicate), "UNIQUE_VIOLATION");
    let dangling = app
        .graphql(
            "runtime",
            r#"mutation { saveCustomer(input: {name: "Ghost", emailId: 99}) { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(code(&dangling), "FOREIGN_KEY_VIOLATION");
    let incomplete = app
        .graphql(
            "runtime",
            r#"mutation { saveProduct(input: {name: "no sku"}) { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(code(&incomplete), "NOT_NULL_VIOLATION");
    let checked = app.graphql("runtime", r#"mutation { saveInvoice(input: {customerId: 1, number: "Z", status: "lost"}) { id } }"#, json!({})).await;
    assert_eq!(code(&checked), "CHECK_VIOLATION");
    // A batch with one bad row writes nothing.
    let batch = app
        .graphql("runtime", r#"mutation { insertProducts(inputs: [{sku: "OK", name: "ok", priceCents: 1, stock: 1}, {sku: "A-1", name: "dup", priceCents: 1, stock: 1}]) { id } }"#, json!({}))
        .await;
    assert_eq!(code(&batch), "UNIQUE_VIOLATION");
    assert_eq!(
        app.get("runtime", "/products?where.sku.eq=OK").await.body,
        json!([])
    );
});

both!(each_schema_holds_only_its_apps_tables, |app| {
    let types = |name: &'static str| async move {
        let response = app
            .graphql(
                name,
                "{ __schema { types { name } mutationType { fields { name } } } }",
                json!({}),
            )
            .await;
        let schema = data(&response)["__schema"].clone();
        let types: Vec<String> = schema["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect();
        let mutations: Vec<String> = schema["mutationType"]["fields"]
            .as_array()
            .map(|f| {
                f.iter()
                    .map(|m| m["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        (types, mutations)
    };
    let (invoice_types, invoice_mutations) = types("invoices").await;
    for visible in ["Invoice", "LineItem", "Customer", "Product", "InvoiceTotal"] {
        assert!(invoice_types.iter().any(|t| t == visible), "{visible}");
    }
    for hidden in ["Email", "Phone", "Address"] {
        assert!(
            !invoice_types.iter().any(|t| t == hidden),
            "{hidden} leaked into invoices"
        );
    }
    assert!(invoice_mutations.contains(&"saveInvoice".to_string()));
    for read_only in [
        "saveCustomer",
        "insertProducts",
        "deleteInvoiceTotals",
        "updateCustomers",
    ] {
        assert!(
            !invoice_mutations.contains(&read_only.to_string()),
            "{read_only}"
        );
    }
    let (product_types, _) = types("products").await;
    assert!(
        !product_types
            .iter()
            .any(|t| t == "Customer" || t == "LineItem")
    );
    // A relation to a hidden table does not exist; its key stays a plain field.
    let hidden = app
        .graphql("invoices", "{ customers { email { address } } }", json!({}))
        .await;
    assert_eq!(code(&hidden), "UNKNOWN_FIELD");
    let read_only = app
        .graphql(
            "invoices",
            r#"mutation { saveCustomer(input: {name: "x"}) { id } }"#,
            json!({}),
        )
        .await;
    assert_eq!(code(&read_only), "UNKNOWN_FIELD");
    let contact = app
        .graphql(
            "customers",
            "{ customers { email { address } } }",
            json!({}),
        )
        .await;
    assert!(contact.get("errors").is_none(), "{contact}");
});

both!(errors_carry_codes_and_limits_hold, |app| {
    let cases = [
        ("{ customers { nope } }", "UNKNOWN_FIELD"),
        ("{ customers(sort: 1) { id } }", "UNKNOWN_PARAMETER"),
        ("{ customers(limit: 1000) { id } }", "LIMIT_TOO_LARGE"),
        (r#"{ getCustomerById(id: "abc") { id } }"#, "INVALID_VALUE"),
        (
            r#"{ customers(where: {createdAt: {gt: "yesterday"}}) { id } }"#,
            "INVALID_VALUE",
        ),
        ("{ customers(limit: \"ten\") { id } }", "INVALID_VALUE"),
        ("{ customers { id ", "INVALID_QUERY"),
        (
            "{ customers { invoices { customer { invoices { customer { invoices { customer { invoices { customer { invoices { number } } } } } } } } } } }",
            "QUERY_TOO_COMPLEX",
        ),
    ];
    for (query, expected) in cases {
        let response = app.graphql("runtime", query, json!({})).await;
        assert_eq!(code(&response), expected, "{query}: {response}");
        assert!(response["errors"][0]["extensions"]["statusCode"].is_number());
    }
    let url = app.url(
        "runtime",
        "/graphql?query=mutation%20%7BdeleteEmails(where%3A%7Bid%3A%7Beq%3A1%7D%7D)%7Bid%7D%7D",
    );
    let over_get = crate::helpers::reply(app.client.get(url).send().await.unwrap()).await;
    over_get.assert_error(405, "METHOD_NOT_ALLOWED", &["POST"]);
    let url = app.url("runtime", "/graphql?query=%7BcountEmails%7Btotal%7D%7D");
    let query_over_get = crate::helpers::reply(app.client.get(url).send().await.unwrap()).await;
    assert_eq!(query_over_get.body["data"]["countEmails"]["total"], 0);
});

both!(graphiql_is_served_with_its_assets, |app| {
    for port in ["customers", "runtime"] {
        let page = app
            .client
            .get(app.url(port, "/graphiql"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 200);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("/graphiql/assets/graphiql.min.js") && !html.contains("https://"),
            "{html}"
        );
        for asset in [
            "graphiql.min.js",
            "graphiql.min.css",
            "react.production.min.js",
            "react-dom.production.min.js",
        ] {
            let response = app
                .client
                .get(app.url(port, &format!("/graphiql/assets/{asset}")))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200, "{asset}");
            assert_eq!(response.headers()["content-encoding"], "gzip");
            assert!(response.bytes().await.unwrap().len() > 1000);
        }
    }
});

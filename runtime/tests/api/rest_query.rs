//! The list query grammar: every operator, `where.or`, order, paging, fields, counts, cursors.

use serde_json::{Value, json};

use crate::helpers::{TestApp, both};

async fn skus(app: &TestApp, query: &str) -> Vec<String> {
    let reply = app.get("runtime", &format!("/products?{query}")).await;
    assert!(reply.status.is_success(), "{query}: {:?}", reply.body);
    reply
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap().to_string())
        .collect()
}

both!(every_operator_filters, |app| {
    app.seed().await;
    let cases: &[(&str, &[&str])] = &[
        ("where.priceCents.eq=250", &["A-1"]),
        ("where.priceCents.neq=250", &["B-2", "C-3"]),
        ("where.priceCents.gt=250", &["B-2"]),
        ("where.priceCents.gte=250", &["A-1", "B-2"]),
        ("where.priceCents.lt=250", &["C-3"]),
        ("where.priceCents.lte=250", &["A-1", "C-3"]),
        ("where.name.like=G%25", &["B-2", "C-3"]),
        ("where.name.like=g%25", &[]),
        ("where.name.ilike=g%25", &["B-2", "C-3"]),
        ("where.sku.in=A-1,C-3", &["A-1", "C-3"]),
        ("where.sku.nin=A-1,C-3", &["B-2"]),
        ("where.id.in=2", &["B-2"]),
        ("where.stock.gt=0&where.priceCents.lt=500", &["A-1"]),
        ("where.price_cents.eq=75", &["C-3"]),
    ];
    for (query, expected) in cases {
        assert_eq!(skus(app, query).await, *expected, "{query}");
    }
    let nulls = app
        .get(
            "runtime",
            "/customers?where.phoneId.isNull=true&fields=name",
        )
        .await;
    assert_eq!(nulls.body, json!([{"name": "Bob"}, {"name": "Cy"}]));
    let not_nulls = app
        .get(
            "runtime",
            "/customers?where.phoneId.isNull=false&fields=name",
        )
        .await;
    assert_eq!(not_nulls.body, json!([{"name": "Ada"}]));
    let dates = app
        .get(
            "runtime",
            "/customers?where.createdAt.gte=2024-02-01T00:00:00Z&fields=name",
        )
        .await;
    assert_eq!(dates.body, json!([{"name": "Bob"}, {"name": "Cy"}]));
});

both!(or_groups_combine_with_and, |app| {
    app.seed().await;
    assert_eq!(
        skus(app, "where.or=(sku.eq=A-1|stock.gte=50)").await,
        ["A-1", "B-2"]
    );
    assert_eq!(
        skus(
            app,
            "where.or=(sku.eq=A-1|stock.gte=50)&where.priceCents.gt=300"
        )
        .await,
        ["B-2"]
    );
    assert_eq!(
        skus(app, "where.or=(sku.in=A-1,C-3|name.eq=Gadget)").await,
        ["A-1", "B-2", "C-3"]
    );
});

both!(order_limit_offset_and_fields, |app| {
    app.seed().await;
    assert_eq!(
        skus(app, "orderby.priceCents=desc").await,
        ["B-2", "A-1", "C-3"]
    );
    assert_eq!(
        skus(app, "orderby.stock=asc&orderby.sku=desc").await,
        ["C-3", "A-1", "B-2"]
    );
    assert_eq!(
        skus(app, "orderby.priceCents=asc&limit=2").await,
        ["C-3", "A-1"]
    );
    assert_eq!(
        skus(app, "orderby.priceCents=asc&limit=2&offset=2").await,
        ["B-2"]
    );
    assert_eq!(skus(app, "limit=0").await, Vec::<String>::new());
    let fields = app
        .get("runtime", "/products?fields=sku,stock&limit=1")
        .await;
    assert_eq!(fields.body, json!([{"sku": "A-1", "stock": 3}]));
});

both!(default_and_maximum_limits, |app| {
    let rows: Vec<Value> = (0..105)
        .map(|i| json!({"number": format!("n{i}")}))
        .collect();
    assert_eq!(
        app.post("runtime", "/phones", json!(rows))
            .await
            .status
            .as_u16(),
        201
    );
    assert_eq!(
        app.get("runtime", "/phones")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        10
    );
    assert_eq!(
        app.get("runtime", "/phones?limit=100")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        100
    );
    app.get("runtime", "/phones?limit=101").await.assert_error(
        400,
        "LIMIT_TOO_LARGE",
        &["101", "100"],
    );
});

both!(total_count_header_counts_the_filter_not_the_page, |app| {
    app.seed().await;
    let reply = app
        .get(
            "runtime",
            "/products?where.stock.lt=10&limit=1&totalCount=true",
        )
        .await;
    assert_eq!(reply.header("x-total-count"), Some("2"));
    assert_eq!(reply.body.as_array().unwrap().len(), 1);
    let without = app.get("runtime", "/products").await;
    assert_eq!(without.header("x-total-count"), None);
});

both!(cursor_pagination_walks_forward_and_back, |app| {
    let rows: Vec<Value> = (0..7).map(|i| json!({"sku": format!("S-{i}"), "name": format!("p{}", i % 3), "priceCents": 10, "stock": i})).collect();
    assert_eq!(
        app.post("runtime", "/products", json!(rows))
            .await
            .status
            .as_u16(),
        201
    );
    let mut seen = Vec::new();
    let mut query = "cursor=true&limit=3&orderby.name=desc".to_string();
    loop {
        let page = app.get("runtime", &format!("/products?{query}")).await;
        let items = page.assert_ok().as_array().unwrap().clone();
        if items.is_empty() {
            break;
        }
        seen.extend(items.iter().map(|p| p["sku"].as_str().unwrap().to_string()));
        let next = page
            .header("x-start-after")
            .expect("cursor header")
            .to_string();
        query = format!("limit=3&orderby.name=desc&startAfter={next}");
    }
    assert_eq!(seen, ["S-2", "S-5", "S-1", "S-4", "S-0", "S-3", "S-6"]);

    let second = app
        .get(
            "runtime",
            "/products?cursor=true&limit=3&orderby.name=desc&startAfter=",
        )
        .await;
    second.assert_error(400, "INVALID_CURSOR", &["cursor"]);
    let first_page = app
        .get("runtime", "/products?cursor=true&limit=3&orderby.name=desc")
        .await;
    let after = first_page.header("x-start-after").unwrap().to_string();
    let page_two = app
        .get(
            "runtime",
            &format!("/products?limit=3&orderby.name=desc&startAfter={after}"),
        )
        .await;
    let before = page_two.header("x-end-before").unwrap().to_string();
    let back = app
        .get(
            "runtime",
            &format!("/products?limit=3&orderby.name=desc&endBefore={before}"),
        )
        .await;
    assert_eq!(back.body, first_page.body);

    app.get(
        "runtime",
        &format!("/products?limit=3&orderby.stock=asc&startAfter={after}"),
    )
    .await
    .assert_error(400, "INVALID_CURSOR", &["cursor"]);
    app.get("runtime", "/products?startAfter=!!!")
        .await
        .assert_error(400, "INVALID_CURSOR", &["base64"]);
    app.get("runtime", &format!("/products?offset=1&startAfter={after}"))
        .await
        .assert_error(400, "INVALID_VALUE", &["offset"]);
    app.get("runtime", "/customers?cursor=true&orderby.phoneId=asc")
        .await
        .assert_error(400, "INVALID_CURSOR", &["phoneId"]);
});

both!(bad_queries_are_400s_naming_the_culprit, |app| {
    app.seed().await;
    let cases: &[(&str, &str, &str)] = &[
        ("/products?where.colour.eq=red", "UNKNOWN_FIELD", "colour"),
        (
            "/products?where.stock.between=1",
            "UNKNOWN_OPERATOR",
            "between",
        ),
        ("/products?where.stock=1", "UNKNOWN_OPERATOR", "where.stock"),
        ("/products?sort=stock", "UNKNOWN_PARAMETER", "sort"),
        ("/products?where.stock.eq=many", "INVALID_VALUE", "stock"),
        ("/products?where.stock.in=1,x", "INVALID_VALUE", "stock"),
        (
            "/products?where.stock.eq=99999999999999999999",
            "INVALID_VALUE",
            "stock",
        ),
        (
            "/products?where.stock.like=1%25",
            "UNKNOWN_OPERATOR",
            "stock",
        ),
        (
            "/products?where.stock.isNull=maybe",
            "INVALID_VALUE",
            "isNull",
        ),
        (
            "/customers?where.createdAt.gt=yesterday",
            "INVALID_VALUE",
            "createdAt",
        ),
        (
            "/products?orderby.stock=up",
            "INVALID_VALUE",
            "orderby.stock",
        ),
        ("/products?orderby.colour=asc", "UNKNOWN_FIELD", "colour"),
        ("/products?fields=sku,colour", "UNKNOWN_FIELD", "colour"),
        ("/products?limit=-1", "INVALID_VALUE", "limit"),
        ("/products?limit=1&limit=2", "INVALID_VALUE", "twice"),
        ("/products?offset=x", "INVALID_VALUE", "offset"),
        ("/products?totalCount=yes", "INVALID_VALUE", "totalCount"),
        ("/products?where.or=sku.eq=A-1", "INVALID_VALUE", "where.or"),
        ("/products?where.or=(sku.zz=1)", "UNKNOWN_OPERATOR", "zz"),
        ("/products/abc", "INVALID_VALUE", "id"),
        ("/products/1?limit=1", "UNKNOWN_PARAMETER", "limit"),
        (
            "/products/1?where.id.eq=1",
            "UNKNOWN_PARAMETER",
            "where.id.eq",
        ),
    ];
    for (path, code, needle) in cases {
        let reply = app.get("runtime", path).await;
        assert_eq!(reply.status.as_u16(), 400, "{path}: {:?}", reply.body);
        reply.assert_error(400, code, &[needle]);
    }
});

both!(multi_byte_text_in_a_date_time_filter_is_a_400, |app| {
    // The tenth byte of this value falls inside a four-byte character.
    for path in [
        "/customers?where.createdAt.in=0%C2%80%C2%80%C2%80%F0%90%80%80",
        "/customers?where.createdAt.eq=0%C2%80%C2%80%C2%80%F0%90%80%80",
    ] {
        app.get("customers", path)
            .await
            .assert_error(400, "INVALID_VALUE", &["createdAt"]);
    }
});

//! Optimistic concurrency on the item routes: `GET` answers a strong `ETag` (and 304 for a
//! matching `If-None-Match`); `PUT`, `PATCH` and `DELETE` with `If-Match` write only the version
//! they name, else 412 with nothing written, and exactly one of concurrent writers of one version
//! wins.

use engine::config::Config;
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::auth::{customer, secured, staff};
use crate::helpers::{Reply, TestApp, both, reply};

/// A request to the composed port with one extra header and an optional body and token.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    header: (&str, &str),
    body: Option<Value>,
) -> Reply {
    send_as(app, None, method, path, header, body).await
}

async fn send_as(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
    (name, value): (&str, &str),
    body: Option<Value>,
) -> Reply {
    let mut request = app
        .client
        .request(method, app.url("runtime", path))
        .header(name, value);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    reply(request.send().await.expect("request")).await
}

/// The reply's `ETag`, checked to be a strong tag of 32 hex digits.
fn etag(reply: &Reply) -> String {
    let tag = reply
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag: {} {:?}", reply.status, reply.body));
    let hex = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{tag} is not a quoted strong tag"));
    assert_eq!(hex.len(), 32, "{tag}");
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{tag}");
    tag.to_string()
}

/// A product no row references, which a delete may remove: its path.
async fn new_product(app: &TestApp) -> String {
    let created = app
        .post(
            "runtime",
            "/products",
            json!({"sku": "D-4", "name": "Doohickey", "priceCents": 5, "stock": 5}),
        )
        .await;
    assert_eq!(created.status.as_u16(), 201, "{:?}", created.body);
    created.header("location").expect("Location").to_string()
}

both!(get_answers_a_stable_etag_that_changes_with_the_row, |app| {
    app.seed().await;
    let first = app.get("runtime", "/products/2").await;
    let tag = etag(&first);
    assert_eq!(etag(&app.get("runtime", "/products/2").await), tag);
    assert_ne!(etag(&app.get("runtime", "/products/1").await), tag);
    // Only the whole row has a tag.
    let some = app.get("runtime", "/products/2?fields=name,stock").await;
    assert_eq!(some.status.as_u16(), 200);
    assert_eq!(some.header("etag"), None);

    let patched = app
        .patch("runtime", "/products/2", json!({"stock": 49}))
        .await;
    let new_tag = etag(&patched);
    assert_ne!(new_tag, tag);
    assert_eq!(etag(&app.get("runtime", "/products/2").await), new_tag);
    // A write that leaves the row as it was leaves its tag too.
    let same = app
        .patch("runtime", "/products/2", json!({"stock": 49}))
        .await;
    assert_eq!(etag(&same), new_tag);
});

both!(a_written_rows_etag_is_the_one_get_answers, |app| {
    app.seed().await;
    // Date-times, nulls, defaults: the write's rendering of the row is the read's.
    let cases = [
        (Method::PATCH, "/customers/2", json!({"name": "Bobby"})),
        (
            Method::PUT,
            "/customers/3",
            json!({"name": "Cy", "emailId": 3, "phoneId": 2, "createdAt": "2024-03-01T11:00:00Z"}),
        ),
        (
            Method::PUT,
            "/customers/9",
            json!({"name": "New", "emailId": 1}),
        ),
        (Method::PATCH, "/invoices/1", json!({"status": "issued"})),
        (
            Method::PUT,
            "/invoices/7",
            json!({"customerId": 2, "number": "INV-7"}),
        ),
        (
            Method::PUT,
            "/addresses/1",
            json!({"street": "Dam 2", "city": "Amsterdam", "postalCode": "1012", "country": "NL"}),
        ),
    ];
    for (method, path, body) in cases {
        let written = app
            .request(method.clone(), "runtime", path, Some(&body))
            .await;
        assert_eq!(
            written.status.as_u16(),
            200,
            "{method} {path}: {:?}",
            written.body
        );
        let read = app.get("runtime", path).await;
        assert_eq!(read.body, written.body, "{path}");
        assert_eq!(etag(&read), etag(&written), "{method} {path}");
    }
});

both!(if_none_match_answers_304_with_the_etag_and_no_body, |app| {
    app.seed().await;
    let tag = etag(&app.get("runtime", "/products/2").await);
    for condition in [
        tag.clone(),
        format!("W/{tag}"),
        format!("\"other\", {tag}"),
        "*".to_string(),
    ] {
        let reply = send(
            app,
            Method::GET,
            "/products/2",
            ("if-none-match", &condition),
            None,
        )
        .await;
        assert_eq!(reply.status.as_u16(), 304, "{condition}");
        assert_eq!(reply.header("etag"), Some(tag.as_str()), "{condition}");
        assert_eq!(reply.body, Value::Null, "{condition}");
    }
    let other = send(
        app,
        Method::GET,
        "/products/2",
        ("if-none-match", "\"other\""),
        None,
    )
    .await;
    assert_eq!(other.status.as_u16(), 200);
    assert_eq!(other.body["name"], "Gadget");
    assert_eq!(etag(&other), tag);
    // `fields` answers no tag, so no tag matches it.
    let some = send(
        app,
        Method::GET,
        "/products/2?fields=name",
        ("if-none-match", &tag),
        None,
    )
    .await;
    assert_eq!(some.status.as_u16(), 200);
    assert_eq!(some.body, json!({"name": "Gadget"}));
    send(
        app,
        Method::GET,
        "/products/40",
        ("if-none-match", "*"),
        None,
    )
    .await
    .assert_error(404, "NOT_FOUND", &["40"]);
    send(
        app,
        Method::GET,
        "/products/2",
        ("if-none-match", "abc"),
        None,
    )
    .await
    .assert_error(400, "INVALID_VALUE", &["If-None-Match"]);
});

both!(
    writes_with_a_matching_if_match_succeed_and_answer_the_new_etag,
    |app| {
        let product = new_product(app).await;
        let tag = etag(&app.get("runtime", &product).await);
        let patched = send(
            app,
            Method::PATCH,
            &product,
            ("if-match", &format!("\"stale\", {tag}")),
            Some(json!({"stock": 7})),
        )
        .await;
        assert_eq!(patched.status.as_u16(), 200, "{:?}", patched.body);
        assert_eq!(patched.body["stock"], 7);
        let tag = etag(&patched);
        assert_eq!(etag(&app.get("runtime", &product).await), tag);

        let put = send(
            app,
            Method::PUT,
            &product,
            ("if-match", &tag),
            Some(json!({"sku": "D-4", "name": "Gadget Pro", "priceCents": 1100, "stock": 7})),
        )
        .await;
        assert_eq!(put.status.as_u16(), 200, "{:?}", put.body);
        assert_eq!(put.body["name"], "Gadget Pro");
        let tag = etag(&put);
        assert_eq!(etag(&app.get("runtime", &product).await), tag);

        let any = send(
            app,
            Method::PATCH,
            &product,
            ("if-match", "*"),
            Some(json!({"stock": 8})),
        )
        .await;
        assert_eq!(any.status.as_u16(), 200, "{:?}", any.body);
        let tag = etag(&any);

        let deleted = send(app, Method::DELETE, &product, ("if-match", &tag), None).await;
        assert_eq!(deleted.status.as_u16(), 200, "{:?}", deleted.body);
        assert_eq!(deleted.body["stock"], 8);
        app.get("runtime", &product)
            .await
            .assert_error(404, "NOT_FOUND", &[]);
    }
);

both!(a_stale_if_match_is_412_and_writes_nothing, |app| {
    app.seed().await;
    let stale = etag(&app.get("runtime", "/products/2").await);
    app.patch("runtime", "/products/2", json!({"stock": 49}))
        .await
        .assert_ok();
    let current = app.get("runtime", "/products/2").await;
    let put_body = json!({"sku": "B-2", "name": "Renamed", "priceCents": 1, "stock": 1});
    for (method, body) in [
        (Method::PATCH, Some(json!({"stock": 1}))),
        (Method::PUT, Some(put_body.clone())),
        (Method::DELETE, None),
    ] {
        let reply = send(
            app,
            method.clone(),
            "/products/2",
            ("if-match", &stale),
            body,
        )
        .await;
        reply.assert_error(
            412,
            "PRECONDITION_FAILED",
            &["product with key 2", "changed since", "fetch it again"],
        );
        let after = app.get("runtime", "/products/2").await;
        assert_eq!(after.body, current.body, "{method} wrote");
    }
    // If-Match compares strongly: a weak tag never matches.
    let weak = format!("W/{}", etag(&current));
    send(
        app,
        Method::PATCH,
        "/products/2",
        ("if-match", &weak),
        Some(json!({"stock": 1})),
    )
    .await
    .assert_error(412, "PRECONDITION_FAILED", &[]);
    assert_eq!(app.get("runtime", "/products/2").await.body, current.body);
});

both!(if_match_on_a_missing_row_is_412, |app| {
    app.seed().await;
    let body = json!({"sku": "Z-40", "name": "Forty", "priceCents": 40, "stock": 4});
    for condition in ["*", "\"00000000000000000000000000000000\""] {
        for (method, body) in [
            (Method::PUT, Some(body.clone())),
            (Method::PATCH, Some(json!({"stock": 1}))),
            (Method::DELETE, None),
        ] {
            let reply = send(
                app,
                method.clone(),
                "/products/40",
                ("if-match", condition),
                body,
            )
            .await;
            reply.assert_error(
                412,
                "PRECONDITION_FAILED",
                &["product with key 40", "does not exist"],
            );
        }
    }
    // The PUT created nothing.
    app.get("runtime", "/products/40")
        .await
        .assert_error(404, "NOT_FOUND", &[]);
});

both!(a_malformed_if_match_is_400, |app| {
    app.seed().await;
    let before = app.get("runtime", "/products/2").await;
    for condition in ["abc", "\"unterminated", "W/abc", "*, \"a\"", ","] {
        for (method, body) in [
            (Method::PATCH, Some(json!({"stock": 1}))),
            (
                Method::PUT,
                Some(json!({"sku": "B-2", "name": "X", "priceCents": 1, "stock": 1})),
            ),
            (Method::DELETE, None),
        ] {
            send(app, method, "/products/2", ("if-match", condition), body)
                .await
                .assert_error(400, "INVALID_VALUE", &["If-Match"]);
        }
    }
    assert_eq!(app.get("runtime", "/products/2").await.body, before.body);
});

both!(
    of_concurrent_writes_naming_one_version_exactly_one_wins,
    |app| {
        let product = new_product(app).await;
        let product = product.as_str();
        for round in 0..5 {
            let tag = etag(&app.get("runtime", product).await);
            let replies = join_all((0..8).map(|i| {
                let tag = tag.clone();
                async move {
                    let stock = 100 * (round + 1) + i;
                    let body = Some(json!({ "stock": stock }));
                    (
                        stock,
                        send(app, Method::PATCH, product, ("if-match", &tag), body).await,
                    )
                }
            }))
            .await;
            let mut winners = Vec::new();
            for (stock, reply) in &replies {
                match reply.status.as_u16() {
                    200 => winners.push((*stock, etag(reply))),
                    412 => reply.assert_error(412, "PRECONDITION_FAILED", &["changed since"]),
                    other => panic!("round {round}: {other} {:?}", reply.body),
                }
            }
            assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
            let (stock, winner_tag) = &winners[0];
            let row = app.get("runtime", product).await;
            assert_eq!(row.body["stock"], *stock, "round {round}");
            assert_eq!(&etag(&row), winner_tag, "round {round}");
        }
        // A delete and updates of one version: one of them, and only one.
        let tag = etag(&app.get("runtime", product).await);
        let delete = send(app, Method::DELETE, product, ("if-match", &tag), None);
        let patches = join_all((0..4).map(|i| {
            let tag = tag.clone();
            async move {
                send(
                    app,
                    Method::PATCH,
                    product,
                    ("if-match", &tag),
                    Some(json!({"stock": 10 + i})),
                )
                .await
            }
        }));
        let (deleted, patched) = futures_util::future::join(delete, patches).await;
        let won = std::iter::once(&deleted)
            .chain(&patched)
            .filter(|r| r.status.as_u16() == 200)
            .count();
        assert_eq!(
            won,
            1,
            "{:?} {:?}",
            deleted.body,
            patched.iter().map(|r| r.status).collect::<Vec<_>>()
        );
    }
);

both!(a_caller_who_may_not_write_is_refused_before_the_precondition, config: secured, |app| {
    app.seed().await;
    // A customer reads its own row but may not write it: 403, stale tag or not.
    let ada = customer(1);
    let own = send_as(app, Some(&ada), Method::GET, "/customers/1", ("if-none-match", "\"x\""), None).await;
    let tag = etag(&own);
    for condition in [tag.as_str(), "\"stale\""] {
        send_as(app, Some(&ada), Method::PATCH, "/customers/1", ("if-match", condition), Some(json!({"name": "Eve"})))
            .await
            .assert_error(403, "FORBIDDEN", &[]);
    }
    // Staff write with the tag the customer read: the same row, the same tag.
    let staff = staff();
    let patched = send_as(app, Some(&staff), Method::PATCH, "/customers/1", ("if-match", &tag), Some(json!({"name": "Ada L."}))).await;
    assert_eq!(patched.status.as_u16(), 200, "{:?}", patched.body);
    assert_eq!(patched.body["name"], "Ada L.");
});

fn cors(config: &mut Config) {
    config.server.cors.allowed_origins = vec!["https://app.example.com".into()];
}

both!(browsers_may_send_the_conditions_and_read_the_etag, config: cors, |app| {
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("runtime", "/products/1"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "PATCH")
        .header("access-control-request-headers", "if-match, if-none-match, content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status().as_u16(), 200);
    let allowed = preflight.headers()["access-control-allow-headers"].to_str().unwrap().to_lowercase();
    assert!(allowed.contains("if-match") && allowed.contains("if-none-match"), "{allowed}");
    let simple = app
        .client
        .get(app.url("runtime", "/products"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    let exposed = simple.headers()["access-control-expose-headers"].to_str().unwrap().to_lowercase();
    assert!(exposed.contains("etag"), "{exposed}");
});

both!(the_documents_describe_the_conditions, |app| {
    let document = app.get("products", "/documentation/json").await.body;
    let item = &document["paths"]["/products/{id}"];
    let header_names = |operation: &Value| -> Vec<String> {
        operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "header")
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    let get = &item["get"];
    assert_eq!(header_names(get), ["If-None-Match"]);
    assert!(get["responses"]["200"]["headers"]["ETag"].is_object());
    assert!(get["responses"]["304"]["headers"]["ETag"].is_object());
    assert!(get["responses"]["304"].get("content").is_none());
    for method in ["put", "patch", "delete"] {
        let operation = &item[method];
        assert_eq!(header_names(operation), ["If-Match"], "{method}");
        assert_eq!(
            operation["responses"]["412"]["$ref"], "#/components/responses/PreconditionFailed",
            "{method}"
        );
        let tagged = operation["responses"]["200"]["headers"]["ETag"].is_object();
        assert_eq!(tagged, method != "delete", "{method}");
    }
    let failed = &document["components"]["responses"]["PreconditionFailed"];
    assert!(
        failed["description"]
            .as_str()
            .unwrap()
            .contains("PRECONDITION_FAILED")
    );
});

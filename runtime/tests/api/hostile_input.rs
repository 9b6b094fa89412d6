//! Requests an attacker (or a careless client) sends: each gets a correct answer or a 4xx naming
//! the limit, never a 500, a hang or an abort, and the server answers normally afterwards.

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, both, reply};

/// The server still answers an ordinary request.
async fn still_serves(app: &TestApp) {
    let emails = app.get("runtime", "/emails?limit=1").await;
    assert_eq!(emails.status.as_u16(), 200, "{:?}", emails.body);
}

async fn get_graphql(app: &TestApp, port: &str, query: &str) -> Reply {
    let url = app.url(port, "/graphql");
    let request = app.client.get(url).query(&[("query", query)]);
    reply(request.send().await.expect("request")).await
}

async fn post_graphql(app: &TestApp, query: &str, variables: Value) -> Reply {
    app.post(
        "runtime",
        "/graphql",
        json!({"query": query, "variables": variables}),
    )
    .await
}

fn graphql_code(reply: &Reply) -> &str {
    reply.body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code: {:?}", reply.body))
}

fn nested_list(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

fn is_postgres(app: &TestApp) -> bool {
    app.db.url.starts_with("postgres")
}

both!(deeply_nested_graphql_is_refused_before_parsing, |app| {
    let query = format!(
        "{{ customers(where: {{id: {{in: {}}}}}) {{ id }} }}",
        nested_list(2000)
    );
    for port in ["customers", "runtime"] {
        let refused = get_graphql(app, port, &query).await;
        assert_eq!(refused.status.as_u16(), 400, "{:?}", refused.body);
        assert_eq!(graphql_code(&refused), "QUERY_TOO_COMPLEX");
        let message = refused.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("limits.max_nesting"), "{message}");
        assert!(refused.body.get("data").is_none(), "{:?}", refused.body);
    }
    let refused = post_graphql(app, &query, json!({})).await;
    assert_eq!(graphql_code(&refused), "QUERY_TOO_COMPLEX");
    let selections = format!("{}{}", "{ customers ".repeat(1000), "}".repeat(1000));
    assert_eq!(
        graphql_code(&post_graphql(app, &selections, json!({})).await),
        "QUERY_TOO_COMPLEX"
    );
    still_serves(app).await;
});

both!(deeply_nested_variables_and_bodies_are_refused, |app| {
    let variables: Value = serde_json::from_str(&format!("{{\"ids\": {}}}", nested_list(100)))
        .expect("serde_json reads 100 levels");
    let deep_body = format!(
        "{{\"query\": \"query($ids: [ID!]) {{ customers(where: {{id: {{in: $ids}}}}) {{ id }} }}\", \"variables\": {{\"ids\": {}}}}}",
        nested_list(5000)
    );
    app.post_raw("runtime", "/graphql", "application/json", deep_body)
        .await
        .assert_error(400, "INVALID_BODY", &["limits.max_nesting"]);
    let over_get = app
        .client
        .get(app.url("runtime", "/graphql"))
        .query(&[
            (
                "query",
                "query($ids: [ID!]) { customers(where: {id: {in: $ids}}) { id } }",
            ),
            ("variables", &variables.to_string()),
        ])
        .send()
        .await
        .unwrap();
    reply(over_get).await.assert_error(
        400,
        "QUERY_TOO_COMPLEX",
        &["`variables`", "limits.max_nesting"],
    );
    let deep = format!("{{\"address\": {}}}", nested_list(100_000));
    app.post_raw("runtime", "/emails", "application/json", deep)
        .await
        .assert_error(400, "INVALID_BODY", &["limits.max_nesting"]);
    still_serves(app).await;
});

both!(too_many_conditions_are_refused_by_name, |app| {
    app.seed().await;
    let anded = |n: usize| {
        let conditions: Vec<String> = (0..n).map(|i| format!("where.id.gt={}", i % 2)).collect();
        format!("/emails?{}", conditions.join("&"))
    };
    let fits = app.get("runtime", &anded(100)).await;
    assert_eq!(fits.assert_ok().as_array().map(Vec::len), Some(2));
    for n in [101, 1000, 2000, 4000] {
        app.get("runtime", &anded(n)).await.assert_error(
            400,
            "TOO_MANY_CONDITIONS",
            &[&n.to_string(), "limits.max_conditions"],
        );
    }
    for n in [999, 1001, 3000] {
        let alternatives: Vec<&str> = (0..n).map(|_| "id.eq=1").collect();
        let path = format!("/emails?where.or=({})", alternatives.join("|"));
        app.get("runtime", &path).await.assert_error(
            400,
            "TOO_MANY_CONDITIONS",
            &["limits.max_conditions"],
        );
    }
    let alternatives = vec!["{id: {eq: 1}}"; 2000].join(", ");
    let query = format!("{{ emails(where: {{or: [{alternatives}]}}) {{ id }} }}");
    let refused = app.graphql("runtime", &query, json!({})).await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"],
        "TOO_MANY_CONDITIONS"
    );
    let in_ninety_nine = vec!["{id: {eq: 1}}"; 99].join(", ");
    let query = format!("{{ emails(where: {{or: [{in_ninety_nine}]}}) {{ id }} }}");
    let answered = app.graphql("runtime", &query, json!({})).await;
    assert_eq!(
        answered["data"]["emails"],
        json!([{"id": "1"}]),
        "{answered}"
    );
    still_serves(app).await;
});

both!(too_many_in_values_are_refused_by_name, |app| {
    app.seed().await;
    let ids: Vec<String> = (1..=100_000).map(|i| i.to_string()).collect();
    let refused = post_graphql(
        app,
        "query($ids: [ID!]) { emails(where: {id: {in: $ids}}) { id } }",
        json!({ "ids": ids }),
    )
    .await;
    assert_eq!(refused.status.as_u16(), 200, "{:?}", refused.body);
    assert_eq!(graphql_code(&refused), "TOO_MANY_VALUES");
    let many = vec!["1"; 5001].join(",");
    app.get("runtime", &format!("/emails?where.id.in={many}"))
        .await
        .assert_error(400, "TOO_MANY_VALUES", &["5001", "limits.max_in_values"]);
    let enough = vec!["2"; 5000].join(",");
    let answered = app
        .get("runtime", &format!("/emails?where.id.in={enough}"))
        .await;
    assert_eq!(answered.assert_ok()[0]["id"], 2);
    still_serves(app).await;
});

both!(fields_name_each_field_once, |app| {
    app.seed().await;
    let fields = vec!["id"; 10_000].join(",");
    for path in [
        format!("/customers?fields={fields}"),
        format!("/customers/1?fields={fields}"),
        format!("/emails/1/customers?fields={fields}"),
    ] {
        app.get("runtime", &path)
            .await
            .assert_error(400, "INVALID_VALUE", &["`id` twice"]);
    }
    let every = "id,name,emailId,phoneId,addressId,createdAt";
    let answered = app
        .get("runtime", &format!("/customers/1?fields={every}"))
        .await;
    assert_eq!(answered.assert_ok()["name"], "Ada");
    still_serves(app).await;
});

both!(bulk_inserts_past_the_row_limit_are_refused, |app| {
    let emails: Vec<Value> = (0..33_000)
        .map(|i| json!({ "address": format!("{i}@x.io") }))
        .collect();
    app.post("runtime", "/emails", Value::Array(emails))
        .await
        .assert_error(400, "TOO_MANY_ROWS", &["33000", "limits.max_bulk_rows"]);
    let count = app.get("runtime", "/emails?limit=1&totalCount=true").await;
    assert_eq!(count.header("x-total-count"), Some("0"));
    let emails: Vec<Value> = (0..7_000)
        .map(|i| json!({ "address": format!("{i}@x.io") }))
        .collect();
    let created = app.post("runtime", "/emails", Value::Array(emails)).await;
    assert_eq!(created.status.as_u16(), 201, "{:?}", created.body);
    let customers: Vec<Value> = (1..=7_000)
        .map(|i| {
            json!({"name": format!("c{i}"), "emailId": i, "phoneId": null, "addressId": null,
                   "createdAt": "2024-01-01 10:00:00"})
        })
        .collect();
    let created = app
        .post("runtime", "/customers", Value::Array(customers))
        .await;
    assert_eq!(created.status.as_u16(), 201, "{:?}", created.body);
    let rows = created.body.as_array().expect("every row answered");
    assert_eq!(rows.len(), 7_000);
    assert_eq!(rows[6_999]["name"], "c7000");
    assert_eq!(rows[6_999]["emailId"], 7_000);
    still_serves(app).await;
});

/// 14,000 addresses of five values each: 70,000 bound values, past SQLite's and PostgreSQL's
/// limits on one statement.
fn addresses(count: usize) -> Vec<Value> {
    (1..=count)
        .map(|i| {
            json!({"id": i, "street": format!("Street {i}"), "city": "Utrecht",
                   "postalCode": "3511", "country": "NL"})
        })
        .collect()
}

both!(large_bulk_inserts_split_and_stay_all_or_nothing, config: |config| {
    config.limits.max_bulk_rows = 20_000;
    config.server.max_body_bytes = 8 * 1024 * 1024;
}, |app| {
    let mut broken = addresses(14_000);
    broken[13_999]["street"] = Value::Null;
    let refused = app.post("runtime", "/addresses", Value::Array(broken)).await;
    refused.assert_error(422, "NOT_NULL_VIOLATION", &["street"]);
    let count = app.get("runtime", "/addresses?limit=1&totalCount=true").await;
    assert_eq!(count.header("x-total-count"), Some("0"), "nothing half-written");
    let created = app
        .post("runtime", "/addresses", Value::Array(addresses(14_000)))
        .await;
    assert_eq!(created.status.as_u16(), 201, "{:?}", created.body);
    let rows = created.body.as_array().expect("rows");
    assert_eq!(rows.len(), 14_000);
    assert_eq!(rows[0]["id"], 1);
    assert_eq!(rows[13_999]["street"], "Street 14000");
    let count = app.get("runtime", "/addresses?limit=1&totalCount=true").await;
    assert_eq!(count.header("x-total-count"), Some("14000"));
});

both!(a_value_too_large_for_an_index_names_the_field, |app| {
    let huge = "x".repeat(900 * 1024);
    let answer = app
        .post("runtime", "/emails", json!({ "address": huge }))
        .await;
    if is_postgres(app) {
        answer.assert_error(422, "VALUE_TOO_LARGE", &["address"]);
    } else {
        // SQLite indexes values of any length.
        assert_eq!(answer.status.as_u16(), 201, "{:?}", answer.body);
    }
    still_serves(app).await;
});

both!(a_request_past_its_time_limit_answers_503_and_lets_go, config: |config| {
    config.limits.request_timeout_secs = 0.3;
    // Two million rows written straight through SQL below: the change log would double them.
    config.events.enabled = false;
}, |app| {
    app.seed().await;
    if is_postgres(app) {
        // A row lock held elsewhere keeps the update waiting.
        let mut holder = <sqlx::PgConnection as sqlx::Connection>::connect(&app.db.url)
            .await
            .unwrap();
        sqlx::raw_sql("BEGIN; SELECT * FROM emails WHERE id = 1 FOR UPDATE")
            .execute(&mut holder)
            .await
            .unwrap();
        app.patch("runtime", "/emails/1", json!({"address": "new@example.com"}))
            .await
            .assert_error(503, "REQUEST_TIMEOUT", &["limits.request_timeout_secs"]);
        let mut waiting = -1i64;
        for _ in 0..40 {
            waiting = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock'",
            )
            .fetch_one(&mut holder)
            .await
            .unwrap();
            if waiting == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(waiting, 0, "the timed-out statement was stopped in the database");
        sqlx::raw_sql("ROLLBACK").execute(&mut holder).await.unwrap();
    } else {
        // A scan of a million rows takes longer than the limit.
        let url = app.db.url.clone();
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::raw_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000000) \
             INSERT INTO phones (number) SELECT 'n' || i FROM n",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        app.get(
            "runtime",
            "/phones?where.number.like=%25zz%25&orderby.number=desc&totalCount=true",
        )
        .await
        .assert_error(503, "REQUEST_TIMEOUT", &["limits.request_timeout_secs"]);
    }
    let patched = app
        .patch("runtime", "/emails/1", json!({"address": "later@example.com"}))
        .await;
    assert_eq!(patched.assert_ok()["address"], "later@example.com");
    still_serves(app).await;
});

both!(a_cursor_turned_off_beside_a_cursor_is_refused, |app| {
    for query in [
        "endBefore=&cursor=false",
        "startAfter=abc&cursor=false",
        "cursor=false&endBefore=abc",
    ] {
        app.get("runtime", &format!("/products?{query}"))
            .await
            .assert_error(400, "INVALID_VALUE", &["cursor=false"]);
    }
    let plain = app.get("runtime", "/products?cursor=false").await;
    assert_eq!(plain.assert_ok(), &json!([]));
});

both!(
    graphql_answers_and_inserts_stay_within_their_row_limits,
    |app| {
        app.seed().await;
        let nested =
            "{ customers(limit: 100) { invoices(limit: 100) { lineItems(limit: 100) { id } } } }";
        let refused = app.graphql("runtime", nested, json!({})).await;
        assert_eq!(
            refused["errors"][0]["extensions"]["code"], "TOO_MANY_ROWS",
            "{refused}"
        );
        let message = refused["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("limits.max_answer_rows"), "{message}");
        let fits = "{ customers(limit: 100) { invoices(limit: 100) { id } } }";
        let answered = app.graphql("runtime", fits, json!({})).await;
        assert_eq!(
            answered["data"]["customers"].as_array().map(Vec::len),
            Some(3)
        );
        let inputs: Vec<Value> = (0..10_001)
            .map(|i| json!({ "address": format!("{i}@x.io") }))
            .collect();
        let refused = app
            .graphql(
                "runtime",
                "mutation($inputs: [EmailInput!]!) { insertEmails(inputs: $inputs) { id } }",
                json!({ "inputs": inputs }),
            )
            .await;
        assert_eq!(
            refused["errors"][0]["extensions"]["code"], "TOO_MANY_ROWS",
            "{refused}"
        );
        let count = app.get("runtime", "/emails?limit=1&totalCount=true").await;
        assert_eq!(count.header("x-total-count"), Some("3"), "nothing written");
        still_serves(app).await;
    }
);

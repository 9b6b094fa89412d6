//! JSON bodies of the apps' own routes answer like the generated routes' bodies: exactly with
//! the engine's `Json` extractor (restock), and with the same codes through actix's `web::Json`,
//! which the app factory configures.

use actix_web::http::Method;
use actix_web::{HttpResponse, test, web};
use engine::App;
use engine::model::Access;
use engine::server::{Serve, ServedApi, application, prepare};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, TestDb, both, reply, test_config};

/// A raw POST of `body` with `content_type`.
async fn post_raw(app: &TestApp, path: &str, content_type: &str, body: String) -> Reply {
    let response = app
        .client
        .post(app.url("products", path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    reply(response).await
}

both!(restock_bodies_are_refused_like_generated_ones, |app| {
    app.seed().await;
    let restock = "/products/1/restock";
    for body in [
        json!({"quantity": 0}),
        json!({"quantity": -1}),
        json!({"quantity": "2"}),
        json!({"quantity": 1.5}),
        json!({}),
    ] {
        app.post("products", restock, body)
            .await
            .assert_error(400, "INVALID_BODY", &["quantity"]);
    }
    app.post("products", restock, json!({"quantity": 1, "note": "x"}))
        .await
        .assert_error(400, "INVALID_BODY", &["note"]);
    let json = "application/json";
    post_raw(app, restock, json, r#"{"quantity": "#.into())
        .await
        .assert_error(400, "MALFORMED_JSON", &["JSON"]);
    post_raw(app, restock, "text/plain", r#"{"quantity": 1}"#.into())
        .await
        .assert_error(415, "UNSUPPORTED_MEDIA_TYPE", &["text/plain"]);
    post_raw(app, restock, json, String::new())
        .await
        .assert_error(400, "INVALID_BODY", &["empty"]);
    let large = format!(r#"{{"quantity": 1, "note": "{}"}}"#, "x".repeat(1_500_000));
    post_raw(app, restock, json, large)
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE", &["1048576"]);
    let deep = format!(
        r#"{{"quantity": 1, "note": {}1{}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    post_raw(app, restock, json, deep).await.assert_error(
        400,
        "INVALID_BODY",
        &["limits.max_nesting"],
    );
    assert_eq!(app.get("products", "/products/1").await.body["stock"], 3);
});

#[derive(Debug, Deserialize)]
struct Count {
    count: u32,
}

async fn count(body: web::Json<Count>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "count": body.count }))
}

/// `web::Json` in an app's own handler, served by the app factory without a socket, on a port
/// whose bodies may have 64 bytes.
async fn web_json_answers(db: TestDb) {
    let apps = vec![
        App::new("counter", 0)
            .table("products", Access::Read)
            .route(
                Method::POST,
                "/count",
                "answers the count it was sent",
                count,
            ),
    ];
    let mut config = test_config(&db.url, &apps);
    config.server.max_body_bytes = 64;
    let config = config.check(&[("counter", 0)]).unwrap();
    let prepared = prepare(&config, &apps, &Serve::App("counter".into()))
        .await
        .unwrap();
    let served = ServedApi::new(prepared.api("counter").unwrap(), &config, None, None).unwrap();
    let service = test::init_service(application(&served)).await;
    let json = Some("application/json");
    let padded = format!(r#"{{"count": 1, "pad": "{}"}}"#, "x".repeat(64));
    let cases = [
        (json, padded.as_str(), 413, "PAYLOAD_TOO_LARGE", "64"),
        (
            Some("text/plain"),
            r#"{"count": 7}"#,
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "text/plain",
        ),
        (
            None,
            r#"{"count": 7}"#,
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "content-type",
        ),
        (json, r#"{"count": "#, 400, "MALFORMED_JSON", "JSON"),
        (
            json,
            r#"{"count": "7"}"#,
            400,
            "INVALID_BODY",
            "wrong shape",
        ),
        (json, r#"{"count": -7}"#, 400, "INVALID_BODY", "wrong shape"),
        (json, "{}", 400, "INVALID_BODY", "`count`"),
        (json, "", 400, "INVALID_BODY", "empty"),
    ];
    for (content_type, body, status, code, needle) in cases {
        let mut request = test::TestRequest::post()
            .uri("/count")
            .set_payload(body.to_string());
        if let Some(content_type) = content_type {
            request = request.insert_header(("content-type", content_type));
        }
        let response = test::call_service(&service, request.to_request()).await;
        let answered = Reply {
            status: StatusCode::from_u16(response.status().as_u16()).unwrap(),
            headers: HeaderMap::new(),
            body: test::read_body_json::<Value, _>(response).await,
        };
        answered.assert_error(status, code, &[needle]);
    }
    let request = test::TestRequest::post()
        .uri("/count")
        .set_json(json!({"count": 7}))
        .to_request();
    let counted: Value = test::call_and_read_body_json(&service, request).await;
    assert_eq!(counted, json!({"count": 7}));
    prepared.db.close().await;
    db.drop_database().await;
}

mod web_json_answers_with_the_generated_routes_codes {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        web_json_answers(TestDb::sqlite()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(db) = TestDb::postgres().await {
            web_json_answers(db).await;
        }
    }
}

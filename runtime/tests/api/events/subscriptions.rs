//! GraphQL subscriptions over WebSocket (`graphql-transport-ws`), through a client of its own.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::auth::{customer, secured};
use crate::helpers::{TestApp, TestDb, both};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A subscription connection, initialised with `payload`.
async fn connect(app: &TestApp, port: &str, payload: Value) -> Socket {
    let url = app.url(port, "/graphql").replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the WebSocket opens");
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": payload}),
    )
    .await;
    socket
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .expect("send");
}

/// The next protocol message (pings answered on the way).
async fn receive(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a message within 20 s")
            .expect("the socket is open")
            .expect("a message");
        match message {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "ping" {
                    send(socket, json!({"type": "pong"})).await;
                    continue;
                }
                return value;
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected message {other:?}"),
        }
    }
}

async fn subscribe(socket: &mut Socket, id: &str, query: &str) {
    send(
        socket,
        json!({"id": id, "type": "subscribe", "payload": {"query": query}}),
    )
    .await;
}

both!(saved_and_deleted_stream_what_the_filter_admits, |app| {
    app.seed().await;
    let mut socket = connect(app, "runtime", json!({})).await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    subscribe(
        &mut socket,
        "saved",
        r#"subscription { customerSaved(where: {name: {like: "Z%"}}) { id name email { address } } }"#,
    )
    .await;
    subscribe(
        &mut socket,
        "deleted",
        "subscription { phoneDeleted { id number } }",
    )
    .await;
    // The subscriptions are open once the server has them; a write through the API after a
    // round trip on the same connection is certainly after them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.post(
        "runtime",
        "/customers",
        json!([{"name": "Ann", "emailId": 1}, {"name": "Zed", "emailId": 2}]),
    )
    .await
    .assert_ok();
    app.delete("runtime", "/phones/2").await.assert_ok();

    let mut got = Vec::new();
    while got.len() < 2 {
        let message = receive(&mut socket).await;
        assert_eq!(message["type"], "next", "{message}");
        got.push(message);
    }
    got.sort_by_key(|m| m["id"].as_str().unwrap().to_string());
    let deleted = &got[0]["payload"];
    assert_eq!(
        deleted["data"]["phoneDeleted"],
        json!({"id": "2", "number": "+33 1 456"})
    );
    let saved = &got[1]["payload"];
    assert_eq!(
        saved["data"]["customerSaved"],
        json!({"id": "5", "name": "Zed", "email": {"address": "bob@example.com"}})
    );
    let change = saved["extensions"]["changeId"]
        .as_str()
        .unwrap()
        .to_string();

    // A client that reconnects with the last id it saw before that one gets it again.
    let previous = change.parse::<i64>().unwrap() - 1;
    let mut again = connect(app, "runtime", json!({})).await;
    assert_eq!(receive(&mut again).await["type"], "connection_ack");
    subscribe(
        &mut again,
        "1",
        &format!(r#"subscription {{ customerSaved(after: "{previous}") {{ name }} }}"#),
    )
    .await;
    let replayed = receive(&mut again).await;
    assert_eq!(
        replayed["payload"]["data"]["customerSaved"]["name"], "Zed",
        "{replayed}"
    );
    assert_eq!(
        replayed["payload"]["extensions"]["changeId"],
        change.as_str()
    );
});

both!(documents_are_checked_as_over_http, |app| {
    let mut socket = connect(app, "runtime", json!({})).await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    // async-graphql answers a refused operation with a `next` carrying only errors.
    for (id, document, code) in [
        (
            "bad",
            "subscription { customerSaved { nope } }".to_string(),
            "UNKNOWN_FIELD",
        ),
        (
            "deep",
            format!("subscription {{ {}", "{".repeat(200)),
            "QUERY_TOO_COMPLEX",
        ),
    ] {
        subscribe(&mut socket, id, &document).await;
        let refused = receive(&mut socket).await;
        assert_eq!(refused["id"], id, "{refused}");
        assert_eq!(refused["payload"]["data"], Value::Null, "{refused}");
        assert_eq!(
            refused["payload"]["errors"][0]["extensions"]["code"], code,
            "{refused}"
        );
        assert_eq!(receive(&mut socket).await["type"], "complete");
    }
});

both!(
    subscriptions_take_the_token_of_connection_init_and_obey_its_rules,
    config: |config| {
        secured(config);
        config.auth.anonymous_role = None;
    },
    |app| {
        app.seed().await;
        // No credentials at all: the connection is refused at init.
        let mut nobody = connect(app, "invoices", json!({})).await;
        let refused = tokio::time::timeout(Duration::from_secs(10), nobody.next())
            .await
            .expect("an answer");
        assert!(
            !matches!(refused, Some(Ok(Message::Text(ref t))) if t.contains("connection_ack")),
            "{refused:?}"
        );

        let bearer = format!("Bearer {}", customer(2));
        let mut bob = connect(app, "invoices", json!({"Authorization": bearer})).await;
        assert_eq!(receive(&mut bob).await["type"], "connection_ack");
        subscribe(&mut bob, "1", "subscription { invoiceSaved { number customerId } }").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        for (customer_id, number) in [(1, "INV-A"), (2, "INV-B")] {
            app.post(
                "runtime",
                "/invoices",
                json!({"customerId": customer_id, "number": number}),
            )
            .await
            .assert_ok();
        }
        let seen = receive(&mut bob).await;
        assert_eq!(
            seen["payload"]["data"]["invoiceSaved"],
            json!({"number": "INV-B", "customerId": "2"}),
            "Bob sees only his own invoice: {seen}"
        );
    }
);

/// A field the caller's rules hide can be neither selected nor filtered by: the subscription
/// is refused as a query of the same selection and filter would be, before anything streams.
async fn hidden_fields_are_refused(db: TestDb) {
    let (app, _migrations) = crate::tenancy::spawn(db).await;
    let bearer = format!("Bearer {}", crate::tenancy::member(1));
    let mut socket = connect(&app, "tenants", json!({"Authorization": bearer})).await;
    assert_eq!(receive(&mut socket).await["type"], "connection_ack");
    for (id, document) in [
        ("select", "subscription { noteSaved { id secret } }"),
        (
            "filter",
            r#"subscription { noteSaved(where: {secret: {eq: "x"}}) { id } }"#,
        ),
    ] {
        subscribe(&mut socket, id, document).await;
        let refused = receive(&mut socket).await;
        assert_eq!(refused["id"], id, "{refused}");
        let error = &refused["payload"]["errors"][0];
        assert_eq!(error["extensions"]["code"], "FIELD_FORBIDDEN", "{refused}");
        assert!(
            error["message"].as_str().unwrap().contains("`secret`"),
            "{refused}"
        );
        assert_eq!(receive(&mut socket).await["type"], "complete");
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_fields_are_refused_on_sqlite() {
    hidden_fields_are_refused(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_fields_are_refused_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        hidden_fields_are_refused(db).await;
    }
}

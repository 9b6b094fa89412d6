//! `GET /changes` as JSON pages: each port shows only its own tables, the parameters are
//! checked, retention answers 410, and role rules decide rows and fields.

use std::time::Duration;

use engine::App;
use engine::model::Access;
use reqwest::Method;
use serde_json::{Value, json};

use super::all_changes;
use crate::auth::{customer, secured, staff};
use crate::helpers::{TestApp, TestDb, both};

fn tables(changes: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = changes
        .iter()
        .map(|c| c["table"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

both!(each_port_shows_only_its_own_tables, |app| {
    app.seed().await;
    let composed = all_changes(app, "runtime", 0).await;
    assert_eq!(
        tables(&composed),
        [
            "addresses",
            "customers",
            "emails",
            "invoices",
            "lineItems",
            "phones",
            "products"
        ]
    );
    assert_eq!(
        tables(&all_changes(app, "shared", 0).await),
        ["addresses", "emails", "phones"]
    );
    assert_eq!(
        tables(&all_changes(app, "invoices", 0).await),
        ["customers", "invoices", "lineItems", "products"]
    );
    let only = app
        .get("invoices", "/changes?tables=lineItems,invoices&limit=1000")
        .await;
    let only = only.assert_ok()["changes"].as_array().unwrap().clone();
    assert_eq!(tables(&only), ["invoices", "lineItems"]);

    let refused = app.get("shared", "/changes?tables=customers").await;
    refused.assert_error(
        400,
        "INVALID_VALUE",
        &["`customers`", "addresses, emails, phones"],
    );
    assert!(
        !refused.body["message"]
            .as_str()
            .unwrap()
            .contains("invoices")
    );
});

both!(pages_follow_last, |app| {
    app.seed().await;
    let everything = all_changes(app, "runtime", 0).await;
    let first = app.get("runtime", "/changes?limit=2").await;
    let first = first.assert_ok();
    assert_eq!(first["changes"].as_array().unwrap().len(), 2);
    assert_eq!(first["changes"][0], everything[0]);
    let last = first["last"].as_i64().unwrap();
    assert_eq!(last, everything[1]["id"].as_i64().unwrap());
    let second = app
        .get("runtime", &format!("/changes?after={last}&limit=2"))
        .await;
    assert_eq!(second.assert_ok()["changes"][0], everything[2]);
    let end = everything.last().unwrap()["id"].as_i64().unwrap();
    let caught_up = app.get("runtime", &format!("/changes?after={end}")).await;
    assert_eq!(caught_up.assert_ok(), &json!({"changes": [], "last": end}));
});

both!(bad_parameters_are_refused_by_name, |app| {
    for (query, status, code, needle) in [
        ("?since=3", 400, "UNKNOWN_PARAMETER", "`since`"),
        ("?after=-1", 400, "INVALID_VALUE", "`after`"),
        ("?after=abc", 400, "INVALID_VALUE", "`abc`"),
        ("?after=1&after=2", 400, "INVALID_VALUE", "twice"),
        ("?limit=0", 400, "INVALID_VALUE", "`limit`"),
        ("?limit=1001", 400, "LIMIT_TOO_LARGE", "1000"),
        ("?tables=nope", 400, "INVALID_VALUE", "`nope`"),
    ] {
        app.get("runtime", &format!("/changes{query}"))
            .await
            .assert_error(status, code, &[needle]);
    }
    let bad_header = app
        .client
        .get(app.url("runtime", "/changes"))
        .header("last-event-id", "x1")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_header.status().as_u16(), 400);
});

both!(
    changes_past_retention_are_pruned_and_answer_410,
    config: |config| config.events.retention_secs = 1,
    |app| {
        for n in 0..3 {
            app.post("runtime", "/emails", json!({"address": format!("{n}@example.com")}))
                .await
                .assert_ok();
        }
        tokio::time::sleep(Duration::from_millis(2_200)).await;
        app.post("runtime", "/emails", json!({"address": "late@example.com"}))
            .await
            .assert_ok();
        let mut kept = Vec::new();
        for _ in 0..50 {
            kept = all_changes(app, "runtime", 0).await;
            if kept.len() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(kept.len(), 1, "older changes were pruned: {kept:?}");
        assert_eq!(kept[0]["row"]["address"], "late@example.com");
        app.get("runtime", "/changes?after=1")
            .await
            .assert_error(410, "CHANGES_EXPIRED", &["after 1", "read the tables again"]);
        // A reader that has everything up to the oldest kept change's predecessor is fine.
        let oldest = kept[0]["id"].as_i64().unwrap();
        app.get("runtime", &format!("/changes?after={}", oldest - 1))
            .await
            .assert_ok();
    }
);

both!(
    role_rules_decide_which_changes_and_fields_a_reader_sees,
    config: secured,
    |app| {
        app.seed().await;
        let ada = customer(1);
        let read = |token: Option<String>, port: &'static str| {
            let app = &app;
            async move {
                let reply = app
                    .request_as(
                        token.as_deref(),
                        Method::GET,
                        port,
                        "/changes?limit=1000",
                        None,
                    )
                    .await;
                reply.assert_ok()["changes"].as_array().unwrap().clone()
            }
        };
        let mine = read(Some(ada.clone()), "invoices").await;
        assert_eq!(tables(&mine), ["customers", "invoices", "lineItems", "products"]);
        for change in &mine {
            match change["table"].as_str().unwrap() {
                "invoices" => assert_eq!(change["row"]["customerId"], 1, "{change}"),
                "customers" => assert_eq!(change["key"]["id"], 1, "{change}"),
                "lineItems" => assert!(
                    [1, 2].contains(&change["row"]["invoiceId"].as_i64().unwrap()),
                    "{change}"
                ),
                _ => {}
            }
        }
        let everything = read(Some(staff()), "invoices").await;
        assert!(everything.len() > mine.len());
        // Anonymous callers read the catalogue only.
        assert_eq!(tables(&read(None, "invoices").await), ["products"]);
    }
);

both!(
    a_reader_without_credentials_gets_401_when_there_is_no_anonymous_role,
    config: |config| {
        secured(config);
        config.auth.anonymous_role = None;
    },
    |app| {
        app.request_as(None, Method::GET, "runtime", "/changes", None)
            .await
            .assert_error(401, "AUTH_REQUIRED", &["bearer token"]);
    }
);

/// An app whose `reader` role sees some columns of some customers.
fn narrow_app() -> App {
    App::new("narrow", 0)
        .rules(
            r#"
            [customers.reader.read]
            filter = { name = { like = "A%" } }
            columns = ["id", "name"]
            "#,
        )
        .table("customers", Access::Read)
        .table("emails", Access::ReadWrite)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn column_rules_narrow_each_change() {
    let mut apps = runtime::linked_apps();
    apps.push(narrow_app());
    let app = TestApp::spawn_configured(TestDb::sqlite(), apps, secured).await;
    app.seed().await;
    let reader = crate::auth::token(json!({"role": "reader"}));
    let reply = app
        .request_as(Some(&reader), Method::GET, "narrow", "/changes", None)
        .await;
    let changes = reply.assert_ok()["changes"].as_array().unwrap().clone();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["row"], json!({"id": 1, "name": "Ada"}));
    app.finish().await;
}

//! Tenancy: two tenants on one shared table set, isolated by a rule filter and a preset on the
//! tenant column taken from a claim. No row crosses over on any route, bulk write or GraphQL
//! relation; checks refuse bad writes whole; hidden columns stay hidden.

use engine::App;
use engine::model::Access;
use reqwest::Method;
use serde_json::{Value, json};

use crate::auth::{get, secured, token};
use crate::helpers::{TestApp, TestDb, copy_of_migrations};

const RULES: &str = r#"
[projects.member]
read = { filter = { tenant_id = { eq = "claim:tenant_id" } } }

[notes.member.read]
filter = { tenant_id = { eq = "claim:tenant_id" } }
columns = ["id", "tenant_id", "project_id", "body", "priority"]

[notes.member.insert]
set = { tenant_id = "claim:tenant_id" }
check = { priority = { lte = 5 }, project = { tenant_id = { eq = "claim:tenant_id" } } }
columns = ["id", "project_id", "body", "priority"]

[notes.member.update]
filter = { tenant_id = { eq = "claim:tenant_id" } }
check = { priority = { lte = 5 }, project = { tenant_id = { eq = "claim:tenant_id" } } }
columns = ["project_id", "body", "priority"]

[notes.member.delete]
filter = { tenant_id = { eq = "claim:tenant_id" } }
"#;

const SQLITE: &str = "CREATE TABLE projects (id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL, name TEXT NOT NULL);
CREATE TABLE notes (id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL, project_id INTEGER NOT NULL REFERENCES projects(id), body TEXT NOT NULL, priority INTEGER NOT NULL DEFAULT 1, secret TEXT);";
const POSTGRES: &str = "CREATE TABLE projects (id SERIAL PRIMARY KEY, tenant_id INTEGER NOT NULL, name TEXT NOT NULL);
CREATE TABLE notes (id SERIAL PRIMARY KEY, tenant_id INTEGER NOT NULL, project_id INTEGER NOT NULL REFERENCES projects(id), body TEXT NOT NULL, priority INTEGER NOT NULL DEFAULT 1, secret TEXT);";

pub(crate) async fn spawn(db: TestDb) -> (TestApp, tempfile::TempDir) {
    let migrations = copy_of_migrations();
    std::fs::write(migrations.path().join("V6__tenancy.sqlite.sql"), SQLITE).unwrap();
    std::fs::write(migrations.path().join("V6__tenancy.postgres.sql"), POSTGRES).unwrap();
    let app = App::new("tenants", 0)
        .table("projects", Access::ReadWrite)
        .table("notes", Access::ReadWrite)
        .rules(RULES);
    let dir = migrations.path().to_path_buf();
    let app = TestApp::spawn_configured(db, vec![app], move |c| {
        secured(c);
        c.migrations.dir = dir;
    })
    .await;
    (app, migrations)
}

pub(crate) fn member(tenant: i64) -> String {
    token(json!({"role": "member", "tenant_id": tenant}))
}

async fn call(
    app: &TestApp,
    who: &str,
    method: Method,
    path: &str,
    body: Value,
) -> crate::helpers::Reply {
    let body = (!body.is_null()).then_some(body);
    app.request_as(Some(who), method, "tenants", path, body.as_ref())
        .await
}

/// Every note as the admin sees it: (id, tenant, body, priority).
async fn all_notes(app: &TestApp) -> Vec<(i64, i64, String, i64)> {
    let reply = app.get("tenants", "/notes?limit=100").await;
    reply
        .assert_ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_i64().unwrap(),
                n["tenantId"].as_i64().unwrap(),
                n["body"].as_str().unwrap().to_string(),
                n["priority"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn tenants_are_isolated(db: TestDb) {
    let (app, _migrations) = spawn(db).await;
    let (a, b) = (member(1), member(2));
    for (tenant, name) in [(1, "A"), (2, "B")] {
        let reply = app
            .post(
                "tenants",
                "/projects",
                json!({"tenantId": tenant, "name": name}),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 201, "{:?}", reply.body);
    }
    // The tenant comes from the token, never from the input.
    let a1 = call(
        &app,
        &a,
        Method::POST,
        "/notes",
        json!({"projectId": 1, "body": "a1"}),
    )
    .await;
    assert_eq!(a1.status.as_u16(), 201, "{:?}", a1.body);
    assert_eq!(a1.body["tenantId"], 1);
    assert!(a1.body.get("secret").is_none(), "{:?}", a1.body);
    let b1 = call(
        &app,
        &b,
        Method::POST,
        "/notes",
        json!({"projectId": 2, "body": "b1"}),
    )
    .await;
    assert_eq!(b1.body["tenantId"], 2);
    let b1 = b1.body["id"].as_i64().unwrap();
    call(
        &app,
        &a,
        Method::POST,
        "/notes",
        json!({"projectId": 1, "body": "x", "tenantId": 2}),
    )
    .await
    .assert_error(403, "FIELD_FORBIDDEN", &["tenantId"]);
    // Checks: a row in another tenant's project, or too high a priority, writes nothing, even
    // beside a good row in one bulk insert.
    call(
        &app,
        &a,
        Method::POST,
        "/notes",
        json!({"projectId": 2, "body": "x"}),
    )
    .await
    .assert_error(403, "FORBIDDEN", &["check"]);
    call(
        &app,
        &a,
        Method::POST,
        "/notes",
        json!([{"projectId": 1, "body": "ok"}, {"projectId": 1, "body": "x", "priority": 9}]),
    )
    .await
    .assert_error(403, "FORBIDDEN", &["1 of 2"]);
    let graphql = json!({"query": "mutation { insertNotes(inputs: [{projectId: 1, body: \"g\", priority: 7}]) { id } }"});
    let reply = call(&app, &a, Method::POST, "/graphql", graphql).await;
    assert_eq!(
        reply.body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{:?}",
        reply.body
    );
    assert_eq!(all_notes(&app).await.len(), 2);

    // Reads: own rows only, on every route.
    let mine = get(&app, Some(&a), "tenants", "/notes?totalCount=true").await;
    assert_eq!(mine.body.as_array().unwrap().len(), 1);
    assert_eq!(mine.header("x-total-count"), Some("1"));
    get(&app, Some(&a), "tenants", &format!("/notes/{b1}"))
        .await
        .assert_error(404, "NOT_FOUND", &[]);
    get(&app, Some(&a), "tenants", "/projects/2/notes")
        .await
        .assert_error(404, "NOT_FOUND", &[]);
    get(&app, Some(&a), "tenants", "/notes?fields=id,secret")
        .await
        .assert_error(403, "FIELD_FORBIDDEN", &["secret"]);
    get(&app, Some(&a), "tenants", "/notes?where.secret.isNull=true")
        .await
        .assert_error(403, "FIELD_FORBIDDEN", &["secret"]);

    // Writes to the other tenant's rows find nothing, and change nothing.
    call(
        &app,
        &a,
        Method::PATCH,
        &format!("/notes/{b1}"),
        json!({"body": "hijacked"}),
    )
    .await
    .assert_error(404, "NOT_FOUND", &[]);
    call(
        &app,
        &a,
        Method::PUT,
        &format!("/notes/{b1}"),
        json!({"projectId": 1, "body": "hijacked"}),
    )
    .await
    .assert_error(404, "NOT_FOUND", &[]);
    call(
        &app,
        &a,
        Method::DELETE,
        &format!("/notes/{b1}"),
        Value::Null,
    )
    .await
    .assert_error(404, "NOT_FOUND", &[]);
    let saved = call(&app, &a, Method::POST, "/graphql", json!({"query": format!("mutation {{ saveNote(input: {{id: {b1}, projectId: 1, body: \"hijacked\"}}) {{ id }} }}")})).await;
    assert_eq!(
        saved.body["data"]["saveNote"],
        Value::Null,
        "{:?}",
        saved.body
    );
    // The update check: too high a priority is refused and the row keeps its value.
    call(&app, &a, Method::PATCH, "/notes/1", json!({"priority": 9}))
        .await
        .assert_error(403, "FORBIDDEN", &["check"]);
    call(&app, &a, Method::PATCH, "/notes/1", json!({"tenantId": 2}))
        .await
        .assert_error(403, "FIELD_FORBIDDEN", &["tenantId"]);
    call(&app, &a, Method::PATCH, "/notes/1", json!({"projectId": 2}))
        .await
        .assert_error(403, "FORBIDDEN", &["check"]);
    // Bulk writes touch exactly the permitted rows and answer them.
    let bulk = call(
        &app,
        &a,
        Method::PUT,
        "/notes?where.id.gt=0",
        json!({"body": "bulk"}),
    )
    .await;
    assert_eq!(bulk.body.as_array().unwrap().len(), 1, "{:?}", bulk.body);
    assert_eq!(bulk.body[0]["tenantId"], 1);
    let notes = all_notes(&app).await;
    assert!(notes.contains(&(b1, 2, "b1".into(), 1)), "{notes:?}");
    assert!(notes.iter().all(|n| n.2 != "hijacked"), "{notes:?}");

    // GraphQL relations both ways see only the tenant's rows.
    let query = json!({"query": "{ projects { id notes { id body } } notes { id project { name } } countNotes { total } }"});
    let answer = call(&app, &b, Method::POST, "/graphql", query).await;
    assert_eq!(
        answer.body["data"],
        json!({"projects": [{"id": "2", "notes": [{"id": b1.to_string(), "body": "b1"}]}], "notes": [{"id": b1.to_string(), "project": {"name": "B"}}], "countNotes": {"total": 1}}),
        "{:?}",
        answer.body
    );
    let deleted = call(
        &app,
        &a,
        Method::DELETE,
        "/notes?where.id.gt=0",
        Value::Null,
    )
    .await;
    assert_eq!(
        deleted.body.as_array().unwrap().len(),
        1,
        "{:?}",
        deleted.body
    );
    assert_eq!(all_notes(&app).await, [(b1, 2, "b1".to_string(), 1)]);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_isolated_on_sqlite() {
    tenants_are_isolated(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_isolated_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        tenants_are_isolated(db).await;
    }
}

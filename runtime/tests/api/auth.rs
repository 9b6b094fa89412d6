//! Authentication and the example apps' role rules, through every port: bad credentials are
//! 401, each role gets exactly what its rules grant on REST, GraphQL and the apps' own routes.

use engine::auth::{Claims, sign_hs256};
use engine::config::{Config, Secret};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, both};

pub const SECRET: &str = "test-secret-of-at-least-thirty-two-bytes";
pub const ADMIN: &str = "admin-secret-for-tests";

/// Auth on: an HMAC secret, an admin secret, and `anonymous` for callers without a token.
pub fn secured(config: &mut Config) {
    config.auth.jwt_secret = Some(Secret::new(SECRET));
    config.auth.admin_secret = Some(Secret::new(ADMIN));
    config.auth.anonymous_role = Some("anonymous".into());
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A token signed with [`SECRET`] carrying these claims, valid for an hour unless they say.
pub fn token(claims: Value) -> String {
    let mut all: Claims = serde_json::from_value(json!({ "exp": now() + 3600 })).unwrap();
    all.extend(serde_json::from_value::<Claims>(claims).unwrap());
    sign_hs256(&Secret::new(SECRET), &all).unwrap()
}

pub fn customer(id: i64) -> String {
    token(json!({"role": "customer", "customer_id": id}))
}

pub fn staff() -> String {
    token(json!({"role": "staff"}))
}

pub async fn get(app: &TestApp, token: Option<&str>, port: &str, path: &str) -> Reply {
    app.request_as(token, Method::GET, port, path, None).await
}

fn ids(reply: &Reply) -> Vec<i64> {
    reply
        .assert_ok()
        .as_array()
        .unwrap_or_else(|| panic!("{:?}", reply.body))
        .iter()
        .map(|row| row["id"].as_i64().unwrap())
        .collect()
}

async fn graphql(app: &TestApp, token: &str, port: &str, query: &str) -> Value {
    let body = json!({ "query": query });
    let reply = app
        .request_as(Some(token), Method::POST, port, "/graphql", Some(&body))
        .await;
    assert_eq!(reply.status.as_u16(), 200, "{:?}", reply.body);
    reply.body
}

both!(bad_credentials_are_401_never_anonymous, config: secured, |app| {
    app.seed().await;
    // No token: the anonymous role reads the catalogue and nothing else.
    assert_eq!(ids(&get(app, None, "products", "/products").await), [1, 2, 3]);
    let reply = app
        .request_as(None, Method::POST, "products", "/products", Some(&json!({"sku": "Z", "name": "Z", "priceCents": 1, "stock": 1})))
        .await;
    reply.assert_error(401, "AUTH_REQUIRED", &["anonymous", "insert into `products`"]);
    let refused = get(app, None, "customers", "/customers").await;
    refused.assert_error(401, "AUTH_REQUIRED", &["anonymous", "customers"]);
    assert_eq!(refused.header("www-authenticate"), Some("Bearer"));

    let expired = token(json!({"role": "staff", "exp": now() - 3600}));
    let wrong_secret = {
        let claims: Claims =
            serde_json::from_value(json!({"role": "staff", "exp": now() + 60})).unwrap();
        sign_hs256(&Secret::new("another-secret-of-at-least-32-bytes!!"), &claims).unwrap()
    };
    let none = {
        let part = |v: Value| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!(
            "{}.{}.",
            part(json!({"alg": "none", "typ": "JWT"})),
            part(json!({"role": "staff", "exp": now() + 60}))
        )
    };
    let tampered = {
        let good = customer(1);
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(json!({"role": "staff", "exp": now() + 60}).to_string())
        };
        parts[1] = &forged;
        parts.join(".")
    };
    let no_role = token(json!({"customer_id": 1}));
    for (what, bad) in [
        ("expired", expired.as_str()),
        ("wrong secret", &wrong_secret),
        ("alg none", &none),
        ("tampered", &tampered),
        ("garbage", "not.a.token"),
        ("no role", &no_role),
    ] {
        for (port, path) in [("products", "/products"), ("runtime", "/customers")] {
            let reply = get(app, Some(bad), port, path).await;
            assert_eq!(reply.status.as_u16(), 401, "{what}: {:?}", reply.body);
            reply.assert_error(401, "INVALID_TOKEN", &[]);
            assert_eq!(
                reply.header("www-authenticate"),
                Some("Bearer error=\"invalid_token\""),
                "{what}"
            );
        }
    }
    let wrong_admin = app
        .client
        .get(app.url("runtime", "/customers"))
        .header("x-admin-secret", "guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_admin.status().as_u16(), 401);
    // GraphQL refuses a bad token at the HTTP level too.
    let reply = app
        .request_as(
            Some(&expired),
            Method::POST,
            "runtime",
            "/graphql",
            Some(&json!({"query": "{ products { id } }"})),
        )
        .await;
    reply.assert_error(401, "INVALID_TOKEN", &["expired"]);
    // The documents stay public, and declare the scheme.
    let document = get(app, None, "products", "/documentation/json").await;
    assert_eq!(
        document.body["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    assert!(document.body["paths"]["/products"]["get"]["responses"]["401"].is_object());
});

both!(a_customer_sees_only_its_own_rows_on_every_route, config: secured, |app| {
    app.seed().await;
    let ada = customer(1);
    let ada = Some(ada.as_str());
    assert_eq!(ids(&get(app, ada, "customers", "/customers").await), [1]);
    get(app, ada, "customers", "/customers/2")
        .await
        .assert_error(404, "NOT_FOUND", &[]);
    assert_eq!(get(app, ada, "customers", "/customers/1").await.body["id"], 1);
    for port in ["invoices", "runtime"] {
        let invoices = get(app, ada, port, "/invoices?totalCount=true").await;
        assert_eq!(ids(&invoices), [1, 2], "{port}");
        assert_eq!(invoices.header("x-total-count"), Some("2"));
        get(app, ada, port, "/invoices/3")
            .await
            .assert_error(404, "NOT_FOUND", &[]);
        // Line items through their invoice's customer.
        assert_eq!(ids(&get(app, ada, port, "/lineItems").await), [1, 2, 3]);
        assert_eq!(ids(&get(app, ada, port, "/invoices/1/lineItems").await), [1, 2]);
        // Another customer's invoices: its parent row is not visible, so 404.
        get(app, ada, port, "/customers/2/invoices")
            .await
            .assert_error(404, "NOT_FOUND", &[]);
        assert_eq!(ids(&get(app, ada, port, "/customers/1/invoices").await), [1, 2]);
        // Filters cannot widen the rule.
        assert_eq!(
            ids(&get(app, ada, port, "/invoices?where.customerId.eq=2").await),
            Vec::<i64>::new()
        );
        let page = get(app, ada, port, "/invoices?cursor=true&limit=1").await;
        assert_eq!(ids(&page), [1]);
        let next = page.header("x-start-after").unwrap().to_string();
        let page = get(app, ada, port, &format!("/invoices?cursor=true&limit=1&startAfter={next}")).await;
        assert_eq!(ids(&page), [2]);
        // The app's own route obeys the rules: another customer's summary is not found.
        get(app, ada, port, "/customers/2/summary")
            .await
            .assert_error(404, "NOT_FOUND", &[]);
        let summary = get(app, ada, port, "/customers/1/summary").await;
        assert_eq!(summary.body["invoiceCount"], 2, "{port}");
        // Writes are refused, and nothing is written.
        let reply = app
            .request_as(ada, Method::POST, port, "/invoices", Some(&json!({"customerId": 1, "number": "X"})))
            .await;
        reply.assert_error(403, "FORBIDDEN", &["customer", "invoices"]);
        let reply = app
            .request_as(ada, Method::POST, port, "/invoices/1/finalize", None)
            .await;
        reply.assert_error(403, "FORBIDDEN", &["customer"]);
        let reply = app
            .request_as(ada, Method::DELETE, port, "/lineItems?where.id.gt=0", None)
            .await;
        reply.assert_error(403, "FORBIDDEN", &["line_items"]);
    }
    // Tables its rules do not name are refused.
    get(app, ada, "customers", "/emails")
        .await
        .assert_error(403, "FORBIDDEN", &["customer", "emails"]);
    // The contact card: the customer's own row, with the contact rows it may not read absent.
    let card = get(app, ada, "customers", "/customers/1/contact").await;
    assert_eq!(card.body["name"], "Ada");
    assert_eq!(card.body["email"], Value::Null);
    get(app, ada, "customers", "/customers/2/contact")
        .await
        .assert_error(404, "NOT_FOUND", &[]);
    // GraphQL: the same rows, nested relations filtered by the caller's rule on each table, and
    // a table it cannot read answers nothing.
    let ada_token = customer(1);
    let answer = graphql(
        app,
        &ada_token,
        "runtime",
        "{ customers { id email { address } invoices { id lineItems { id } } } countInvoices { total } lineItems(limit: 50) { id } }",
    )
    .await;
    assert_eq!(
        answer["data"]["customers"],
        json!([{"id": "1", "email": null, "invoices": [{"id": "1", "lineItems": [{"id": "1"}, {"id": "2"}]}, {"id": "2", "lineItems": [{"id": "3"}]}]}]),
        "{answer}"
    );
    assert_eq!(answer["data"]["countInvoices"]["total"], 2);
    let answer = graphql(app, &ada_token, "runtime", "{ emails { id } }").await;
    assert_eq!(answer["errors"][0]["extensions"]["code"], "FORBIDDEN", "{answer}");
    let answer = graphql(
        app,
        &ada_token,
        "invoices",
        r#"mutation { insertInvoices(inputs: [{customerId: 1, number: "X"}]) { id } }"#,
    )
    .await;
    assert_eq!(answer["errors"][0]["extensions"]["code"], "FORBIDDEN", "{answer}");
    // Nothing was written by any refused request.
    assert_eq!(app.get("runtime", "/invoices").await.body.as_array().unwrap().len(), 3);
    assert_eq!(app.get("runtime", "/lineItems").await.body.as_array().unwrap().len(), 3);
});

both!(staff_may_do_everything_the_apps_grant, config: secured, |app| {
    app.seed().await;
    let token = staff();
    let staff = Some(token.as_str());
    assert_eq!(ids(&get(app, staff, "runtime", "/customers").await), [1, 2, 3]);
    let created = app
        .request_as(staff, Method::POST, "invoices", "/invoices", Some(&json!({"customerId": 2, "number": "INV-9"})))
        .await;
    assert_eq!(created.status.as_u16(), 201, "{:?}", created.body);
    let id = created.body["id"].as_i64().unwrap();
    let patched = app
        .request_as(staff, Method::PATCH, "invoices", &format!("/invoices/{id}"), Some(&json!({"status": "paid"})))
        .await;
    assert_eq!(patched.body["status"], "paid");
    let finalized = app
        .request_as(staff, Method::POST, "invoices", "/invoices/1/finalize", None)
        .await;
    assert_eq!(finalized.body["status"], "issued", "{:?}", finalized.body);
    let deleted = app
        .request_as(staff, Method::DELETE, "invoices", &format!("/invoices/{id}"), None)
        .await;
    assert_eq!(deleted.body["id"], id);
    let answer = graphql(app, &token, "runtime", "{ invoices { id customer { name } } }").await;
    assert_eq!(answer["data"]["invoices"].as_array().unwrap().len(), 3, "{answer}");
    // Read-only tables stay read-only whatever the role.
    let reply = app
        .request_as(staff, Method::POST, "invoices", "/customers", Some(&json!({"name": "X", "emailId": 1})))
        .await;
    assert_eq!(reply.status.as_u16(), 405);
});

both!(roles_come_as_a_string_or_an_array, config: secured, |app| {
    app.seed().await;
    let both_roles = token(json!({"role": ["customer", "staff"], "customer_id": 1}));
    // The grants widen: staff reads every customer.
    assert_eq!(ids(&get(app, Some(&both_roles), "runtime", "/customers").await), [1, 2, 3]);
    let only_customer = token(json!({"role": ["customer"], "customer_id": 2}));
    assert_eq!(ids(&get(app, Some(&only_customer), "runtime", "/invoices").await), [3]);
    // A nested role claim, by path.
    let nested = token(json!({"role": {"name": "x"}}));
    get(app, Some(&nested), "runtime", "/products")
        .await
        .assert_error(401, "INVALID_TOKEN", &["role"]);
    // A customer token without its claim sees no rows rather than every row.
    let no_claim = token(json!({"role": "customer"}));
    assert_eq!(ids(&get(app, Some(&no_claim), "runtime", "/invoices").await), Vec::<i64>::new());
});

both!(a_nested_role_claim_is_found_by_its_path, config: |c: &mut Config| {
    secured(c);
    c.auth.role_claim = "app.roles".into();
}, |app| {
    app.seed().await;
    let nested = token(json!({"app": {"roles": ["customer"]}, "customer_id": 2}));
    assert_eq!(ids(&get(app, Some(&nested), "runtime", "/invoices").await), [3]);
});

both!(tokens_signed_with_keys_of_a_key_set, config: |c: &mut Config| {
    c.auth.jwks_file = Some(fixture("jwks.json").into());
    c.auth.admin_secret = Some(Secret::new(ADMIN));
}, |app| {
    app.seed().await;
    let claims = json!({"role": "customer", "customer_id": 2, "exp": now() + 60});
    let rsa = rs256("rsa-1", &std::fs::read(fixture("rsa-1.pem")).unwrap(), &claims);
    assert_eq!(ids(&get(app, Some(&rsa), "runtime", "/invoices").await), [3]);
    // Unknown key id, and an HS256 token keyed with the RSA public key: refused.
    let unknown = rs256("rsa-2", &std::fs::read(fixture("rsa-2.pem")).unwrap(), &claims);
    get(app, Some(&unknown), "runtime", "/invoices")
        .await
        .assert_error(401, "INVALID_TOKEN", &["rsa-2"]);
    let confused = {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some("rsa-1".into());
        let key = jsonwebtoken::EncodingKey::from_secret(&std::fs::read(fixture("rsa-1.pub.pem")).unwrap()).unwrap();
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    };
    get(app, Some(&confused), "runtime", "/invoices")
        .await
        .assert_error(401, "INVALID_TOKEN", &[]);
    // Without an anonymous role, no token is a 401 on data and GraphQL alike.
    get(app, None, "runtime", "/products")
        .await
        .assert_error(401, "AUTH_REQUIRED", &["bearer token"]);
    let reply = app
        .request_as(None, Method::POST, "runtime", "/graphql", Some(&json!({"query": "{ products { id } }"})))
        .await;
    reply.assert_error(401, "AUTH_REQUIRED", &[]);
});

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/auth/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn rs256(kid: &str, pem: &[u8], claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.into());
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// Start-up with these rules for a products app; the error when it refuses to start.
async fn start_up_error(rules: &'static str) -> String {
    let db = crate::helpers::TestDb::sqlite();
    let app = engine::App::new("products", 0)
        .table("products", engine::model::Access::ReadWrite)
        .rules(rules);
    let mut config = crate::helpers::test_config(&db.url, std::slice::from_ref(&app));
    secured(&mut config);
    let config = config.check(&[("products", 0)]).unwrap();
    let built = engine::server::Runtime::build(&config, &[app], engine::server::Serve::All).await;
    format!("{:#}", built.err().expect("start-up refuses the rules"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_naming_what_the_app_lacks_stop_start_up() {
    let error = start_up_error("[products.clerk.read]\nfilter = { colour = { eq = 1 } }\n").await;
    for needle in ["products", "clerk", "colour"] {
        assert!(error.contains(needle), "{error}");
    }
    let error = start_up_error("[products.clerk.read]\nfilter = { stock = { near = 1 } }\n").await;
    assert!(error.contains("near"), "{error}");
    let error = start_up_error("[products.clerk.reed]\n").await;
    assert!(
        error.contains("reed") && error.contains("products"),
        "{error}"
    );
    let error = start_up_error("[customers.clerk]\nread = {}\n").await;
    assert!(error.contains("customers"), "{error}");
    let error =
        start_up_error("[products.clerk.read]\nfilter = { stock = { eq = \"many\" } }\n").await;
    assert!(error.contains("stock"), "{error}");
}

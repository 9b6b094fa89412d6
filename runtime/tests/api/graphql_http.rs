//! GraphQL over HTTP as GraphQL tools speak it: the standard introspection query, `Accept`
//! negotiation, and the status codes of refused requests.

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, both, reply};

/// graphql-js's `getIntrospectionQuery()` (v16, every option on), as Apollo, graphql-codegen,
/// GraphiQL, Postman and schemathesis send it.
const INTROSPECTION_QUERY: &str = r#"
    query IntrospectionQuery {
      __schema {
        description
        queryType { name kind }
        mutationType { name kind }
        subscriptionType { name kind }
        types { ...FullType }
        directives {
          name
          description
          isRepeatable
          locations
          args(includeDeprecated: true) { ...InputValue }
        }
      }
    }

    fragment FullType on __Type {
      kind
      name
      description
      specifiedByURL
      isOneOf
      fields(includeDeprecated: true) {
        name
        description
        args(includeDeprecated: true) { ...InputValue }
        type { ...TypeRef }
        isDeprecated
        deprecationReason
      }
      inputFields(includeDeprecated: true) { ...InputValue }
      interfaces { ...TypeRef }
      enumValues(includeDeprecated: true) {
        name
        description
        isDeprecated
        deprecationReason
      }
      possibleTypes { ...TypeRef }
    }

    fragment InputValue on __InputValue {
      name
      description
      type { ...TypeRef }
      defaultValue
      isDeprecated
      deprecationReason
    }

    fragment TypeRef on __Type {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
                ofType {
                  kind
                  name
                  ofType {
                    kind
                    name
                    ofType {
                      kind
                      name
                      ofType {
                        kind
                        name
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
"#;

async fn post(app: &TestApp, port: &str, accept: Option<&str>, body: Value) -> Reply {
    let mut request = app.client.post(app.url(port, "/graphql")).json(&body);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    reply(request.send().await.expect("request")).await
}

both!(the_standard_introspection_query_loads_the_schema, |app| {
    for port in ["customers", "invoices", "runtime"] {
        let answer = post(app, port, None, json!({ "query": INTROSPECTION_QUERY })).await;
        assert_eq!(answer.status.as_u16(), 200, "{port}: {:?}", answer.body);
        assert!(
            answer.body.get("errors").is_none(),
            "{port}: {:?}",
            answer.body
        );
        let schema = &answer.body["data"]["__schema"];
        assert_eq!(schema["queryType"]["name"], "Query");
        let types = schema["types"].as_array().expect("types");
        assert!(types.iter().any(|t| t["name"] == "Customer"), "{port}");
    }
});

both!(deep_and_wide_queries_of_data_stay_refused, |app| {
    let deep = format!(
        "{{ {} id {} }}",
        "customers { invoices { customer { ".repeat(333),
        "} } }".repeat(333)
    );
    let wide: Vec<String> = (0..5000)
        .map(|i| format!("a{i}: countEmails {{ total }}"))
        .collect();
    let wide = format!("{{ {} }}", wide.join(" "));
    // Nested past limits.max_nesting: refused before parsing, a 400 under any `Accept`.
    let answer = post(app, "runtime", None, json!({ "query": deep })).await;
    assert_eq!(answer.status.as_u16(), 400, "{:?}", answer.body);
    assert_eq!(
        answer.body["errors"][0]["extensions"]["code"],
        "QUERY_TOO_COMPLEX"
    );
    // Too many fields: refused by validation, so the status follows `Accept`.
    let answer = post(app, "runtime", None, json!({ "query": wide })).await;
    assert_eq!(answer.status.as_u16(), 200, "{:?}", answer.body);
    assert_eq!(
        answer.body["errors"][0]["extensions"]["code"],
        "QUERY_TOO_COMPLEX"
    );
    assert!(answer.body.get("data").is_none(), "{:?}", answer.body);
    let strict = post(
        app,
        "runtime",
        Some("application/graphql-response+json"),
        json!({ "query": wide }),
    )
    .await;
    assert_eq!(strict.status.as_u16(), 400, "{:?}", strict.body);
    assert_eq!(
        strict.body["errors"][0]["extensions"]["code"],
        "QUERY_TOO_COMPLEX"
    );
});

both!(the_response_follows_accept, |app| {
    let query = json!({ "query": "{ countEmails { total } }" });
    for (accept, expected) in [
        (None, "application/json"),
        (Some("*/*"), "application/json"),
        (Some("application/json"), "application/json"),
        (
            Some("application/graphql-response+json"),
            "application/graphql-response+json",
        ),
        (
            Some("application/graphql-response+json, application/json;q=0.9"),
            "application/graphql-response+json",
        ),
        (
            Some("application/json, application/graphql-response+json;q=0.5"),
            "application/json",
        ),
    ] {
        let answer = post(app, "runtime", accept, query.clone()).await;
        assert_eq!(answer.status.as_u16(), 200, "{accept:?}: {:?}", answer.body);
        assert_eq!(answer.header("content-type"), Some(expected), "{accept:?}");
        assert_eq!(answer.body["data"]["countEmails"]["total"], 0);
    }
    post(app, "runtime", Some("text/html"), query.clone())
        .await
        .assert_error(406, "NOT_ACCEPTABLE", &["application/json"]);
    let broken = json!({ "query": "{ countEmails { total " });
    let lenient = post(app, "runtime", Some("application/json"), broken.clone()).await;
    assert_eq!(lenient.status.as_u16(), 200);
    assert_eq!(
        lenient.body["errors"][0]["extensions"]["code"],
        "INVALID_QUERY"
    );
    let strict = post(
        app,
        "runtime",
        Some("application/graphql-response+json"),
        broken,
    )
    .await;
    assert_eq!(strict.status.as_u16(), 400, "{:?}", strict.body);
    assert!(strict.body.get("data").is_none());
    let unknown = json!({ "query": "{ nope }" });
    let strict = post(
        app,
        "runtime",
        Some("application/graphql-response+json"),
        unknown,
    )
    .await;
    assert_eq!(strict.status.as_u16(), 400, "{:?}", strict.body);
    assert_eq!(
        strict.body["errors"][0]["extensions"]["code"],
        "UNKNOWN_FIELD"
    );
});

both!(a_get_without_a_query_is_refused, |app| {
    let bare = reply(
        app.client
            .get(app.url("runtime", "/graphql"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(bare.status.as_u16(), 400, "{:?}", bare.body);
    assert_eq!(
        bare.body["errors"][0]["extensions"]["code"],
        "INVALID_QUERY"
    );
    let unknown = app
        .client
        .get(app.url("runtime", "/graphql"))
        .query(&[("query", "{ countEmails { total } }"), ("debug", "1")])
        .send()
        .await
        .unwrap();
    reply(unknown)
        .await
        .assert_error(400, "UNKNOWN_PARAMETER", &["debug"]);
    let batch = app
        .post(
            "runtime",
            "/graphql",
            json!([{ "query": "{ countEmails { total } }" }]),
        )
        .await;
    batch.assert_error(400, "INVALID_BODY", &["batch"]);
});

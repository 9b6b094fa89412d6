//! Many inserts at once: on PostgreSQL, concurrent inserts of one shape share a statement and a
//! commit; every request still gets its own row or its own error, and a refused member never
//! takes the others down with it nor leaves half of itself behind.

use std::collections::HashSet;

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::both;

both!(each_concurrent_insert_gets_its_own_row_or_error, |app| {
    // 100 distinct addresses, 20 of them sent twice: one of each pair is a 409.
    let replies = join_all((0..120).map(|i| {
        let address = format!("user{}@example.com", i % 100);
        async move {
            let reply = app
                .post("runtime", "/emails", json!({ "address": address }))
                .await;
            (address, reply)
        }
    }))
    .await;
    let mut ids = HashSet::new();
    let mut created = HashSet::new();
    let mut conflicts = 0;
    for (address, reply) in &replies {
        match reply.status.as_u16() {
            201 => {
                assert_eq!(reply.body["address"], json!(address), "{:?}", reply.body);
                assert!(ids.insert(reply.body["id"].clone()), "{:?}", reply.body);
                assert!(created.insert(address.clone()), "{address} created twice");
            }
            409 => conflicts += 1,
            other => panic!("unexpected {other}: {:?}", reply.body),
        }
    }
    assert_eq!((created.len(), conflicts), (100, 20));
    let listed = app.get("runtime", "/emails?limit=1&totalCount=true").await;
    assert_eq!(listed.header("x-total-count"), Some("100"));
});

both!(a_refused_insert_among_concurrent_ones_fails_alone, |app| {
    app.seed().await;
    // Every fifth customer points at an e-mail that does not exist (422); the others leave
    // the optional phone out or set it, so members of one shape bind NULLs and numbers.
    let replies = join_all((0..100).map(|i| async move {
        let email = if i % 5 == 0 { 9_999 } else { 1 };
        let phone = if i % 2 == 0 { json!(null) } else { json!(1) };
        let body = json!({ "name": format!("Load {i}"), "emailId": email, "phoneId": phone });
        (i, app.post("runtime", "/customers", body).await)
    }))
    .await;
    for (i, reply) in &replies {
        if i % 5 == 0 {
            reply.assert_error(422, "FOREIGN_KEY_VIOLATION", &["emailId"]);
        } else {
            assert_eq!(reply.status.as_u16(), 201, "{:?}", reply.body);
            assert_eq!(reply.body["name"], json!(format!("Load {i}")));
            let phone = if i % 2 == 0 { Value::Null } else { json!(1) };
            assert_eq!(reply.body["phoneId"], phone);
        }
    }
    let loaded = app
        .get(
            "runtime",
            "/customers?where.name.like=Load%25&limit=1&totalCount=true",
        )
        .await;
    assert_eq!(loaded.header("x-total-count"), Some("80"));
});

//! Many reads at once: on PostgreSQL, concurrent reads of one shape share a statement; every
//! request still gets its own answer, and a read sent after a write sees that write.

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::both;

/// Customer names by id in the seed data; 99 does not exist.
const CUSTOMERS: [(u32, Option<&str>); 4] = [
    (1, Some("Ada")),
    (2, Some("Bob")),
    (3, Some("Cy")),
    (99, None),
];

both!(each_concurrent_read_gets_its_own_answer, |app| {
    app.seed().await;
    let by_id = (0..160).map(|i| async move {
        let (id, name) = CUSTOMERS[i % CUSTOMERS.len()];
        let reply = app.get("runtime", &format!("/customers/{id}")).await;
        match name {
            Some(name) => {
                assert_eq!(reply.status.as_u16(), 200, "{:?}", reply.body);
                assert_eq!(reply.body["id"], json!(id));
                assert_eq!(reply.body["name"], json!(name));
            }
            None => assert_eq!(reply.status.as_u16(), 404, "{:?}", reply.body),
        }
    });
    let filtered = (0..80).map(|i| async move {
        let (_, name) = CUSTOMERS[i % 3];
        let name = name.unwrap_or_default();
        let reply = app
            .get(
                "runtime",
                &format!("/customers?where.name.eq={name}&totalCount=true"),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 200, "{:?}", reply.body);
        assert_eq!(reply.body, json!([reply.body[0].clone()]));
        assert_eq!(reply.body[0]["name"], json!(name));
        assert_eq!(reply.header("x-total-count"), Some("1"));
    });
    let graphql = (0..80).map(|i| async move {
        let (id, name) = CUSTOMERS[i % CUSTOMERS.len()];
        let answer = app
            .graphql(
                "runtime",
                "query($id: ID!) { getCustomerById(id: $id) { name invoices { number } } }",
                json!({ "id": id }),
            )
            .await;
        let customer = &answer["data"]["getCustomerById"];
        match name {
            Some(name) => assert_eq!(customer["name"], json!(name), "{answer}"),
            None => assert_eq!(customer, &json!(null), "{answer}"),
        }
    });
    join_all(by_id).await;
    join_all(filtered).await;
    join_all(graphql).await;
});

both!(
    a_read_after_a_write_sees_it_while_identical_reads_run,
    |app| {
        app.seed().await;
        let readers = async {
            join_all((0..64).map(|_| async {
                for _ in 0..10 {
                    let reply = app.get("runtime", "/customers/1").await;
                    assert_eq!(reply.status.as_u16(), 200, "{:?}", reply.body);
                }
            }))
            .await;
        };
        let writer = async {
            for round in 0..20 {
                let name = format!("Ada {round}");
                let reply = app
                    .patch("runtime", "/customers/1", json!({ "name": name }))
                    .await;
                assert_eq!(reply.status.as_u16(), 200, "{:?}", reply.body);
                let reply = app.get("runtime", "/customers/1").await;
                assert_eq!(
                    reply.body["name"],
                    json!(name),
                    "a read after the write missed it"
                );
            }
        };
        tokio::join!(readers, writer);
    }
);

//! Start-up against PostgreSQL as a user configures it, and the catalog it reads.

use crate::helpers::both;

both!(timestamps_and_keys_render_as_json_types, |app| {
    app.seed().await;
    let customer = app.get("runtime", "/customers/1").await;
    assert!(customer.body["id"].is_i64());
    assert!(customer.body["emailId"].is_i64());
    let created = customer.body["createdAt"].as_str().unwrap();
    assert!(created.starts_with("2024-01-01"), "{created}");
    let fields: Vec<&String> = customer.body.as_object().unwrap().keys().collect();
    assert_eq!(
        fields,
        ["id", "name", "emailId", "phoneId", "addressId", "createdAt"]
    );
});

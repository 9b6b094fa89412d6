//! A small known data set, written through the composed API.
//!
//! emails 1..=3 (ada@, bob@, cy@), phones 1..=2, addresses 1..=2 (NL, FR);
//! customers 1 Ada (email 1, phone 1, address 1), 2 Bob (email 2, address 2), 3 Cy (email 3);
//! products 1 A-1 Widget 250c stock 3, 2 B-2 Gadget 1000c stock 50, 3 C-3 Gizmo 75c stock 0;
//! invoices 1 INV-1 Ada draft, 2 INV-2 Ada paid, 3 INV-3 Bob void;
//! line items on invoice 1: 2 x Widget at 250, 1 x Gadget at 1000 (total 1500);
//! on invoice 2: 4 x Gizmo at 75 (total 300).

use serde_json::json;

use crate::helpers::TestApp;

pub async fn seed(app: &TestApp) {
    let batches = [
        (
            "/emails",
            json!([{"address": "ada@example.com"}, {"address": "bob@example.com"}, {"address": "cy@example.com"}]),
        ),
        (
            "/phones",
            json!([{"number": "+31 20 123"}, {"number": "+33 1 456"}]),
        ),
        (
            "/addresses",
            json!([
                {"street": "Dam 1", "city": "Amsterdam", "postalCode": "1012", "country": "NL"},
                {"street": "Rue 2", "city": "Paris", "postalCode": "75001", "country": "FR"}
            ]),
        ),
        (
            "/customers",
            json!([
                {"name": "Ada", "emailId": 1, "phoneId": 1, "addressId": 1, "createdAt": "2024-01-01 10:00:00"},
                {"name": "Bob", "emailId": 2, "addressId": 2, "createdAt": "2024-02-01 10:00:00"},
                {"name": "Cy", "emailId": 3, "createdAt": "2024-03-01 10:00:00"}
            ]),
        ),
        (
            "/products",
            json!([
                {"sku": "A-1", "name": "Widget", "priceCents": 250, "stock": 3},
                {"sku": "B-2", "name": "Gadget", "priceCents": 1000, "stock": 50},
                {"sku": "C-3", "name": "Gizmo", "priceCents": 75, "stock": 0}
            ]),
        ),
        (
            "/invoices",
            json!([
                {"customerId": 1, "number": "INV-1", "status": "draft"},
                {"customerId": 1, "number": "INV-2", "status": "paid"},
                {"customerId": 2, "number": "INV-3", "status": "void"}
            ]),
        ),
        (
            "/lineItems",
            json!([
                {"invoiceId": 1, "productId": 1, "quantity": 2, "unitPriceCents": 250},
                {"invoiceId": 1, "productId": 2, "quantity": 1, "unitPriceCents": 1000},
                {"invoiceId": 2, "productId": 3, "quantity": 4, "unitPriceCents": 75}
            ]),
        ),
    ];
    for (path, rows) in batches {
        let reply = app.post("runtime", path, rows).await;
        assert_eq!(
            reply.status.as_u16(),
            201,
            "seeding {path}: {:?}",
            reply.body
        );
    }
}

//! The apps this runtime links: one crate per domain app. The binary serves them and the
//! end-to-end tests start the runtime with them, so the list is written here once.

use engine::App;

/// Every linked app's manifest.
pub fn linked_apps() -> Vec<App> {
    vec![
        app_shared::app(),
        app_customers::app(),
        app_products::app(),
        app_invoices::app(),
    ]
}

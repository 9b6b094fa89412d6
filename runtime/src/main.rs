//! The `runtime` binary: links every domain app and hands them to the engine.

fn main() -> std::process::ExitCode {
    engine::cli::main(vec![
        app_shared::app(),
        app_customers::app(),
        app_products::app(),
        app_invoices::app(),
    ])
}

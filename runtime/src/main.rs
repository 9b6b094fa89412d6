//! The `runtime` binary: hands every linked app to the engine's command line.

fn main() -> std::process::ExitCode {
    engine::cli::main(runtime::linked_apps())
}

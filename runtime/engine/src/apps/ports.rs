//! The port a new app gets when none is given: the next after the highest in use.

use crate::config::CheckedConfig;

/// The port after the highest one the configuration uses (`server.port`, the admin port when
/// the admin listener is on, every app's port), skipping `taken` (ports handed out already).
pub fn next_free_port(config: &CheckedConfig, taken: &[u16]) -> anyhow::Result<u16> {
    let admin = config.raw.admin.enabled.then_some(config.raw.admin.port);
    let highest = std::iter::once(config.server().port)
        .chain(admin)
        .chain(config.apps.iter().map(|app| app.port))
        .chain(taken.iter().copied())
        .max()
        .unwrap_or(0);
    highest.checked_add(1).ok_or_else(|| {
        anyhow::anyhow!("port {highest} is in use and is the highest there is: give --port")
    })
}

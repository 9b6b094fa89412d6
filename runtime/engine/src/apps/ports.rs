//! The port a new app gets when none is given: the next after the highest port an app or the
//! composed API uses, past any port already taken.

use crate::config::CheckedConfig;

/// The port after the highest one of `server.port`, every app's port and `taken` (ports handed
/// out already), moving past the admin listener's port (when it is on) and anything taken. The
/// admin port does not count as the highest: it usually sits apart (9090), and apps stay in
/// their own range (3042, 3043, ...).
pub fn next_free_port(config: &CheckedConfig, taken: &[u16]) -> anyhow::Result<u16> {
    let admin = config.raw.admin.enabled.then_some(config.raw.admin.port);
    let in_use: Vec<u16> = std::iter::once(config.server().port)
        .chain(config.apps.iter().map(|app| app.port))
        .chain(taken.iter().copied())
        .collect();
    let highest = in_use.iter().copied().max().unwrap_or(0);
    (highest..=u16::MAX)
        .skip(1)
        .find(|port| Some(*port) != admin && !in_use.contains(port))
        .ok_or_else(|| {
            anyhow::anyhow!("port {highest} is in use and is the highest there is: give --port")
        })
}

//! The composed API: the union of every served app, each table once with the widest access any
//! app grants. Two apps claiming the same custom route is a start-up error naming both.

use crate::app::App;
use crate::model::TableGrant;

/// Two apps' own routes collide on the composed port.
#[derive(Debug, thiserror::Error)]
#[error(
    "apps `{first}` and `{second}` both claim the route {method} {path} on the composed port; rename one of them"
)]
pub struct RouteConflict {
    pub first: String,
    pub second: String,
    pub method: String,
    pub path: String,
}

/// Every app's grants, merged by [`crate::model::AppModel::build`] into the widest access.
pub fn union_grants(apps: &[&App]) -> Vec<TableGrant> {
    apps.iter()
        .flat_map(|app| app.tables.iter().cloned())
        .collect()
}

/// Refuses two apps whose custom routes have the same method and path shape.
pub fn check_routes(apps: &[&App]) -> Result<(), RouteConflict> {
    let mut claimed: Vec<(&str, String, String)> = Vec::new();
    for app in apps {
        for route in &app.routes {
            let shape = path_shape(&route.path);
            let method = route.method.to_string();
            if let Some((owner, _, _)) = claimed
                .iter()
                .find(|(owner, m, s)| *owner != app.name && *m == method && *s == shape)
            {
                return Err(RouteConflict {
                    first: owner.to_string(),
                    second: app.name.to_string(),
                    method,
                    path: route.path.clone(),
                });
            }
            claimed.push((app.name.as_str(), method, shape));
        }
    }
    Ok(())
}

/// `/a/{id}/b` and `/a/{key}/b` are the same route.
fn path_shape(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

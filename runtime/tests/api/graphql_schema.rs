//! Each app's GraphQL schema is checked into its crate (`apps/<name>/schema.graphql`), so API
//! changes show up in review. Regenerate with `UPDATE_SNAPSHOTS=1 cargo test graphql_schema`
//! (or `runtime graphql-schema --app NAME`, on the embedded SQLite database).

use std::path::PathBuf;

use engine::graphql;
use engine::server::{Serve, prepare};
use runtime::linked_apps;

use crate::helpers::{TestDb, test_config};

#[tokio::test]
async fn every_apps_schema_matches_its_checked_in_sdl() {
    let db = TestDb::sqlite();
    let apps = linked_apps();
    let linked: Vec<(&str, u16)> = apps
        .iter()
        .map(|a| (a.name.as_str(), a.default_port))
        .collect();
    let config = test_config(&db.url, &apps).check(&linked).unwrap();
    let prepared = prepare(&config, &apps, &Serve::All).await.unwrap();
    for app in &apps {
        let api = prepared.api(&app.name).unwrap();
        let sdl = graphql::sdl(&graphql::schema(api.context.clone()).unwrap());
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../apps/{}/schema.graphql", app.name));
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &sdl).unwrap();
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == sdl,
            "the GraphQL schema of `{}` changed; review it and regenerate {} with UPDATE_SNAPSHOTS=1 cargo test graphql_schema",
            app.name,
            path.display()
        );
    }
}

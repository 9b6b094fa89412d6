//! What the database holds now: the database and schema the runtime works in, which of its own
//! tables exist, the sequences behind identity and serial columns, and each role's privileges,
//! read from the ACLs themselves (`pg_class`, `pg_namespace`, `pg_database`), whoever granted
//! them.

use sqlx::PgConnection;

use crate::events::capture::LOG_TABLE;
use crate::migrate::HISTORY_TABLE;

/// The database as it is.
#[derive(Debug)]
pub(super) struct State {
    pub database: String,
    pub schema: String,
    /// The change log exists (the runtime has started with it once).
    pub log: bool,
    /// The migration history exists.
    pub history: bool,
    /// `(table, sequence)`: the sequences that identity and serial columns of the schema's
    /// tables take their values from.
    pub sequences: Vec<(String, String)>,
    pub roles: Vec<RoleState>,
}

/// One role as it is.
#[derive(Debug)]
pub(super) struct RoleState {
    pub role: String,
    pub exists: bool,
    /// `(relation, is a sequence, privilege)` held in the schema.
    pub relations: Vec<(String, bool, String)>,
    /// Privileges held on the schema.
    pub schema: Vec<String>,
    /// Privileges held on the database.
    pub database: Vec<String>,
}

pub(super) async fn read(conn: &mut PgConnection, roles: &[&str]) -> Result<State, sqlx::Error> {
    let (database, schema, log, history): (String, String, bool, bool) = sqlx::query_as(
        "SELECT current_database()::text, current_schema()::text, \
         to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL",
    )
    .bind(LOG_TABLE)
    .bind(HISTORY_TABLE)
    .fetch_one(&mut *conn)
    .await?;
    let sequences = sqlx::query_as(
        "SELECT t.relname::text, s.relname::text \
         FROM pg_depend d \
         JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
         JOIN pg_class t ON t.oid = d.refobjid AND t.relnamespace = s.relnamespace \
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass \
           AND d.deptype IN ('a', 'i') \
           AND t.relnamespace = current_schema()::regnamespace \
         ORDER BY 1, 2",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut states = Vec::with_capacity(roles.len());
    for role in roles {
        states.push(read_role(conn, role).await?);
    }
    Ok(State {
        database,
        schema,
        log,
        history,
        sequences,
        roles: states,
    })
}

async fn read_role(conn: &mut PgConnection, role: &str) -> Result<RoleState, sqlx::Error> {
    let oid: Option<sqlx::postgres::types::Oid> =
        sqlx::query_scalar("SELECT oid FROM pg_roles WHERE rolname = $1")
            .bind(role)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(oid) = oid else {
        return Ok(RoleState {
            role: role.to_string(),
            exists: false,
            relations: Vec::new(),
            schema: Vec::new(),
            database: Vec::new(),
        });
    };
    let relations = sqlx::query_as(
        "SELECT c.relname::text, c.relkind = 'S', a.privilege_type::text \
         FROM pg_class c, aclexplode(c.relacl) a \
         WHERE c.relnamespace = current_schema()::regnamespace AND a.grantee = $1 \
         ORDER BY 1, 3",
    )
    .bind(oid)
    .fetch_all(&mut *conn)
    .await?;
    let schema = sqlx::query_scalar(
        "SELECT a.privilege_type::text FROM pg_namespace n, aclexplode(n.nspacl) a \
         WHERE n.oid = current_schema()::regnamespace AND a.grantee = $1 ORDER BY 1",
    )
    .bind(oid)
    .fetch_all(&mut *conn)
    .await?;
    let database = sqlx::query_scalar(
        "SELECT a.privilege_type::text FROM pg_database d, aclexplode(d.datacl) a \
         WHERE d.datname = current_database() AND a.grantee = $1 ORDER BY 1",
    )
    .bind(oid)
    .fetch_all(&mut *conn)
    .await?;
    Ok(RoleState {
        role: role.to_string(),
        exists: true,
        relations,
        schema,
        database,
    })
}

//! The SQL that brings the roles in line with their apps, written from the wanted roles and the
//! database as it is ([`super::grants`]). Every statement can run again with the same effect:
//! roles are created only when missing, grants repeat harmlessly, and what a role holds beyond
//! its allowlist is revoked by name.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::grants::{RoleState, State};
use super::{AppRole, Intent};
use crate::config::Secret;
use crate::events::capture::LOG_TABLE;
use crate::migrate::HISTORY_TABLE;
use crate::model::Access;
use crate::sql::quote::{ident, literal};

const READ: &[&str] = &["SELECT"];
const READ_WRITE: &[&str] = &["SELECT", "INSERT", "UPDATE", "DELETE"];

/// The statements for a set of roles, in order.
#[derive(Debug)]
pub struct Plan {
    lines: Vec<Line>,
}

#[derive(Debug)]
enum Line {
    Comment(String),
    Sql(String),
    /// `ALTER ROLE ... LOGIN PASSWORD ...`: the one statement that carries a secret.
    Login {
        role: String,
        password: Option<Secret>,
    },
}

impl Plan {
    pub(super) fn new(roles: &[AppRole], state: &State, intent: Intent) -> Self {
        let mut plan = Self { lines: Vec::new() };
        if intent == Intent::Grant && !roles.is_empty() {
            if state.log {
                plan.sql(format!(
                    "ALTER TABLE {} ENABLE ROW LEVEL SECURITY",
                    ident(LOG_TABLE)
                ));
            } else {
                plan.comment(format!(
                    "no change log ({LOG_TABLE}) yet: the roles can read their changes once the \
                     runtime has started as the owner and `runtime db roles --apply` ran again"
                ));
            }
        }
        for (role, held) in roles.iter().zip(&state.roles) {
            match intent {
                Intent::Grant => plan.grant(role, held, state),
                Intent::Revoke => plan.revoke(role, held, state),
            }
        }
        plan
    }

    /// The SQL as text, the password shown as `'***'`: for printing.
    pub fn script(&self) -> String {
        let mut text = String::new();
        for line in &self.lines {
            match line {
                Line::Comment(comment) => {
                    let _ = writeln!(text, "\n-- {comment}");
                }
                Line::Sql(sql) => {
                    let _ = writeln!(text, "{sql};");
                }
                Line::Login { role, password } => {
                    let _ = writeln!(text, "{};", login(role, password.as_ref().map(|_| "***")));
                }
            }
        }
        text.trim_start().to_string()
    }

    /// Every statement, the password in the clear: for running only.
    pub(super) fn statements(&self) -> impl Iterator<Item = String> + '_ {
        self.lines.iter().filter_map(|line| match line {
            Line::Comment(_) => None,
            Line::Sql(sql) => Some(sql.clone()),
            Line::Login { role, password } => {
                Some(login(role, password.as_ref().map(Secret::expose)))
            }
        })
    }

    fn sql(&mut self, sql: String) {
        self.lines.push(Line::Sql(sql));
    }

    fn comment(&mut self, comment: String) {
        self.lines.push(Line::Comment(comment));
    }

    fn grant(&mut self, role: &AppRole, held: &RoleState, state: &State) {
        let name = ident(&role.role);
        self.comment(format!("app `{}`: role {}", role.app, role.role));
        self.sql(format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {}) \
             THEN CREATE ROLE {name} LOGIN; END IF; END $$",
            literal(&role.role)
        ));
        self.lines.push(Line::Login {
            role: role.role.clone(),
            password: role.password.clone(),
        });
        self.sql(format!(
            "GRANT CONNECT ON DATABASE {} TO {name}",
            ident(&state.database)
        ));
        self.sql(format!(
            "GRANT USAGE ON SCHEMA {} TO {name}",
            ident(&state.schema)
        ));
        let wanted = wanted_relations(role, state);
        for (relation, (sequence, privileges)) in &wanted {
            self.sql(format!(
                "GRANT {} ON {} {} TO {name}",
                privileges.join(", "),
                if *sequence { "SEQUENCE" } else { "TABLE" },
                ident(relation)
            ));
        }
        if state.log {
            let tables: Vec<String> = role
                .tables
                .iter()
                .map(|grant| literal(&grant.table).to_string())
                .collect();
            let visible = if tables.is_empty() {
                "false".to_string()
            } else {
                format!("tbl IN ({})", tables.join(", "))
            };
            self.sql(format!(
                "DROP POLICY IF EXISTS {name} ON {}",
                ident(LOG_TABLE)
            ));
            self.sql(format!(
                "CREATE POLICY {name} ON {} FOR SELECT TO {name} USING ({visible})",
                ident(LOG_TABLE)
            ));
        }
        self.revoke_extras(held, &wanted, state);
    }

    /// Revokes what `held` has beyond `wanted`, on the schema's relations, the schema and the
    /// database.
    fn revoke_extras(
        &mut self,
        held: &RoleState,
        wanted: &BTreeMap<String, (bool, Vec<&str>)>,
        state: &State,
    ) {
        let name = ident(&held.role);
        let mut extra: BTreeMap<&str, (bool, Vec<&str>)> = BTreeMap::new();
        for (relation, sequence, privilege) in &held.relations {
            let kept = wanted
                .get(relation)
                .is_some_and(|(_, privileges)| privileges.contains(&privilege.as_str()));
            if !kept {
                let entry = extra
                    .entry(relation.as_str())
                    .or_insert((*sequence, Vec::new()));
                entry.1.push(privilege.as_str());
            }
        }
        for (relation, (sequence, privileges)) in extra {
            self.sql(format!(
                "REVOKE {} ON {} {} FROM {name}",
                privileges.join(", "),
                if sequence { "SEQUENCE" } else { "TABLE" },
                ident(relation)
            ));
        }
        let schema: Vec<&str> = held
            .schema
            .iter()
            .map(String::as_str)
            .filter(|p| *p != "USAGE")
            .collect();
        if !schema.is_empty() {
            self.sql(format!(
                "REVOKE {} ON SCHEMA {} FROM {name}",
                schema.join(", "),
                ident(&state.schema)
            ));
        }
        let database: Vec<&str> = held
            .database
            .iter()
            .map(String::as_str)
            .filter(|p| *p != "CONNECT")
            .collect();
        if !database.is_empty() {
            self.sql(format!(
                "REVOKE {} ON DATABASE {} FROM {name}",
                database.join(", "),
                ident(&state.database)
            ));
        }
    }

    fn revoke(&mut self, role: &AppRole, held: &RoleState, state: &State) {
        if !held.exists {
            self.comment(format!(
                "app `{}`: role {} does not exist; nothing to revoke",
                role.app, role.role
            ));
            return;
        }
        let name = ident(&role.role);
        let schema = ident(&state.schema);
        self.comment(format!("app `{}`: role {}", role.app, role.role));
        if state.log {
            self.sql(format!(
                "DROP POLICY IF EXISTS {name} ON {}",
                ident(LOG_TABLE)
            ));
        }
        self.sql(format!(
            "REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {name}"
        ));
        self.sql(format!(
            "REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {name}"
        ));
        self.sql(format!("REVOKE ALL ON SCHEMA {schema} FROM {name}"));
        self.sql(format!(
            "REVOKE ALL ON DATABASE {} FROM {name}",
            ident(&state.database)
        ));
        self.sql(format!("DROP ROLE IF EXISTS {name}"));
    }
}

/// What a role should hold on the schema's relations: relation -> (is a sequence, privileges).
fn wanted_relations<'a>(
    role: &AppRole,
    state: &'a State,
) -> BTreeMap<String, (bool, Vec<&'a str>)> {
    let mut wanted: BTreeMap<String, (bool, Vec<&str>)> = BTreeMap::new();
    for grant in &role.tables {
        let privileges = match grant.access {
            Access::Read => READ,
            Access::ReadWrite => READ_WRITE,
        };
        let entry = wanted
            .entry(grant.table.clone())
            .or_insert((false, Vec::new()));
        for privilege in privileges {
            if !entry.1.contains(privilege) {
                entry.1.push(*privilege);
            }
        }
        if grant.access == Access::ReadWrite {
            for (_, sequence) in state.sequences.iter().filter(|(t, _)| *t == grant.table) {
                wanted.insert(sequence.clone(), (true, vec!["USAGE"]));
            }
        }
    }
    if state.history {
        wanted.insert(HISTORY_TABLE.to_string(), (false, READ.to_vec()));
    }
    if state.log {
        wanted.insert(LOG_TABLE.to_string(), (false, READ.to_vec()));
    }
    wanted
}

/// `ALTER ROLE` making the role a login with this password, or none.
fn login(role: &str, password: Option<&str>) -> String {
    match password {
        Some(password) => format!(
            "ALTER ROLE {} WITH LOGIN PASSWORD {}",
            ident(role),
            literal(password)
        ),
        None => format!("ALTER ROLE {} WITH LOGIN PASSWORD NULL", ident(role)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::grants::{RoleState, State};
    use super::super::{AppRole, Intent};
    use super::Plan;
    use crate::config::Secret;
    use crate::model::{Access, TableGrant};

    fn products(password: Option<&str>) -> AppRole {
        AppRole {
            app: "products".into(),
            role: "app_products".into(),
            tables: vec![
                TableGrant {
                    table: "products".into(),
                    access: Access::ReadWrite,
                },
                TableGrant {
                    table: "customers".into(),
                    access: Access::Read,
                },
            ],
            password: password.map(Secret::new),
        }
    }

    fn state(role: RoleState) -> State {
        State {
            database: "shop".into(),
            schema: "public".into(),
            log: true,
            history: true,
            sequences: vec![
                ("customers".into(), "customers_id_seq".into()),
                ("products".into(), "products_id_seq".into()),
            ],
            roles: vec![role],
        }
    }

    fn held(exists: bool, relations: &[(&str, bool, &str)], schema: &[&str]) -> RoleState {
        RoleState {
            role: "app_products".into(),
            exists,
            relations: relations
                .iter()
                .map(|(r, s, p)| ((*r).to_string(), *s, (*p).to_string()))
                .collect(),
            schema: schema.iter().map(|p| (*p).to_string()).collect(),
            database: vec!["CONNECT".into(), "TEMPORARY".into()],
        }
    }

    #[test]
    fn grants_the_allowlist_revokes_the_rest_and_prints_no_password() {
        let held = held(
            true,
            &[
                ("customers", false, "INSERT"),
                ("customers", false, "SELECT"),
                ("invoices", false, "SELECT"),
                ("products", false, "SELECT"),
                ("customers_id_seq", true, "USAGE"),
            ],
            &["CREATE", "USAGE"],
        );
        let plan = Plan::new(
            &[products(Some("it's secret"))],
            &state(held),
            Intent::Grant,
        );
        let script = plan.script();
        for line in [
            "ALTER TABLE \"runtime_changes\" ENABLE ROW LEVEL SECURITY;",
            "ALTER ROLE \"app_products\" WITH LOGIN PASSWORD '***';",
            "GRANT CONNECT ON DATABASE \"shop\" TO \"app_products\";",
            "GRANT USAGE ON SCHEMA \"public\" TO \"app_products\";",
            "GRANT SELECT ON TABLE \"customers\" TO \"app_products\";",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE \"products\" TO \"app_products\";",
            "GRANT USAGE ON SEQUENCE \"products_id_seq\" TO \"app_products\";",
            "GRANT SELECT ON TABLE \"refinery_schema_history\" TO \"app_products\";",
            "CREATE POLICY \"app_products\" ON \"runtime_changes\" FOR SELECT TO \"app_products\" \
             USING (tbl IN ('products', 'customers'));",
            "REVOKE INSERT ON TABLE \"customers\" FROM \"app_products\";",
            "REVOKE SELECT ON TABLE \"invoices\" FROM \"app_products\";",
            "REVOKE USAGE ON SEQUENCE \"customers_id_seq\" FROM \"app_products\";",
            "REVOKE CREATE ON SCHEMA \"public\" FROM \"app_products\";",
            "REVOKE TEMPORARY ON DATABASE \"shop\" FROM \"app_products\";",
        ] {
            assert!(script.contains(line), "{line} in:\n{script}");
        }
        assert!(!script.contains("secret"), "{script}");
        assert!(
            plan.statements()
                .any(|s| s.ends_with("WITH LOGIN PASSWORD 'it''s secret'")),
            "the password runs, quoted"
        );
        assert!(!script.contains("GRANT USAGE ON SEQUENCE \"customers_id_seq\""));
    }

    #[test]
    fn a_role_in_line_is_granted_again_and_nothing_revoked() {
        let held = held(
            true,
            &[
                ("customers", false, "SELECT"),
                ("products", false, "DELETE"),
                ("products", false, "INSERT"),
                ("products", false, "SELECT"),
                ("products", false, "UPDATE"),
                ("products_id_seq", true, "USAGE"),
                ("refinery_schema_history", false, "SELECT"),
                ("runtime_changes", false, "SELECT"),
            ],
            &["USAGE"],
        );
        let mut state = state(held);
        state.roles[0].database = vec!["CONNECT".into()];
        let script = Plan::new(&[products(None)], &state, Intent::Grant).script();
        assert!(!script.contains("REVOKE"), "{script}");
        assert!(script.contains("WITH LOGIN PASSWORD NULL;"), "{script}");
    }

    #[test]
    fn without_a_change_log_yet_there_is_no_policy_and_a_note_once() {
        let mut state = state(held(false, &[], &[]));
        state.log = false;
        let script = Plan::new(&[products(None)], &state, Intent::Grant).script();
        assert_eq!(script.matches("no change log").count(), 1, "{script}");
        assert!(!script.contains("POLICY"), "{script}");
        assert!(!script.contains("ON TABLE \"runtime_changes\""), "{script}");
    }

    #[test]
    fn revoking_drops_only_roles_that_exist() {
        let gone = Plan::new(
            &[products(None)],
            &state(held(false, &[], &[])),
            Intent::Revoke,
        )
        .script();
        assert!(gone.contains("does not exist; nothing to revoke"), "{gone}");
        assert_eq!(
            Plan::new(
                &[products(None)],
                &state(held(false, &[], &[])),
                Intent::Revoke
            )
            .statements()
            .count(),
            0
        );
        let plan = Plan::new(
            &[products(None)],
            &state(held(true, &[("products", false, "SELECT")], &["USAGE"])),
            Intent::Revoke,
        );
        let script = plan.script();
        for line in [
            "DROP POLICY IF EXISTS \"app_products\" ON \"runtime_changes\";",
            "REVOKE ALL ON ALL TABLES IN SCHEMA \"public\" FROM \"app_products\";",
            "REVOKE ALL ON ALL SEQUENCES IN SCHEMA \"public\" FROM \"app_products\";",
            "REVOKE ALL ON SCHEMA \"public\" FROM \"app_products\";",
            "REVOKE ALL ON DATABASE \"shop\" FROM \"app_products\";",
            "DROP ROLE IF EXISTS \"app_products\";",
        ] {
            assert!(script.contains(line), "{line} in:\n{script}");
        }
    }
}

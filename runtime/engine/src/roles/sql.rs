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
        if intent == Intent::Grant && state.log && !roles.is_empty() {
            plan.sql(format!(
                "ALTER TABLE {} ENABLE ROW LEVEL SECURITY",
                ident(LOG_TABLE)
            ));
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
        } else {
            self.comment(format!(
                "no change log ({LOG_TABLE}) yet: start the runtime once as the owner, then run \
                 `runtime db roles` again so {} can read its changes",
                role.role
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

//! Concurrent statements of one text as one statement, on PostgreSQL: rendered from their
//! [`Plan`], each member's parameters numbered after the previous member's (member `i` of
//! statements binding `k` parameters each binds `$ik+1..$ik+k`). Reads become one `UNION ALL`,
//! each row tagged with its member's number:
//!
//! ```sql
//! SELECT 0, q.* FROM (<statement, $1..$k>) q UNION ALL SELECT 1, q.* FROM (<statement, $k+1..$2k>) q ...
//! ```
//!
//! Inserts write each member's rows in a CTE of its own, which PostgreSQL starts and answers
//! member by member, all committed together:
//!
//! ```sql
//! WITH w0 AS (INSERT ... $1..$k RETURNING *), w1 AS (INSERT ... $k+1..$2k RETURNING *)
//! SELECT 0, (SELECT <answer> FROM w0 w) UNION ALL SELECT 1, (SELECT <answer> FROM w1 w)
//! ```
//!
//! An insert of one row whose key the database generates becomes one multi-row insert answering
//! each row's key beside its answer. The rows go in in member order (`ORDER BY` below the
//! insert), so the keys rise in member order and a row's rank by key is its member's number:
//! PostgreSQL promises no order for `RETURNING`. It costs PostgreSQL less than the CTEs (see
//! bench/NOTES.md).
//!
//! ```sql
//! INSERT INTO t AS w (a, b) SELECT v.c1, v.c2 FROM (VALUES ($1, $2, 0), ($3, $4, 1)) v(c1, c2, m)
//! ORDER BY v.m RETURNING w.id::int8, '[' || <object>::text || ']'
//! ```

use std::fmt::Write as _;

use super::plan::{Insert, Plan, RowInsert, Shape};
use super::text::{Slot, Span};

/// The statement that runs `members` statements of the text `sql` (planned as `plan`) at once,
/// binding each member's parameters in turn; `None` for a plan that never combines.
pub fn combine(sql: &str, plan: &Plan, members: usize) -> Option<String> {
    let statement = Statement {
        sql,
        slots: &plan.slots,
        params: plan.params(),
    };
    Some(match &plan.shape {
        Shape::Read => statement.reads(members),
        Shape::Insert(Insert { row: Some(row), .. }) => statement.rows(row, members),
        Shape::Insert(insert) => statement.inserts(insert, members),
        Shape::Write => return None,
    })
}

/// A planned statement's text, with its parameters.
struct Statement<'s> {
    sql: &'s str,
    slots: &'s [Slot],
    params: u32,
}

impl Statement<'_> {
    fn whole(&self) -> Span {
        Span {
            start: 0,
            end: u32::try_from(self.sql.len()).unwrap_or(u32::MAX),
        }
    }

    /// Member `member`'s first parameter number.
    fn first(&self, member: usize) -> u32 {
        u32::try_from(member).unwrap_or(u32::MAX) * self.params + 1
    }

    fn reads(&self, members: usize) -> String {
        let mut out = String::with_capacity((self.sql.len() + 32) * members);
        each_member(&mut out, members, " UNION ALL ", |out, member| {
            let _ = write!(out, "SELECT {member}, q.* FROM (");
            self.render(out, self.whole(), self.first(member));
            out.push_str(") q");
        });
        out
    }

    fn inserts(&self, insert: &Insert, members: usize) -> String {
        let mut out = String::with_capacity((self.sql.len() + 64) * members);
        out.push_str("WITH ");
        each_member(&mut out, members, ", ", |out, member| {
            let _ = write!(out, "w{member} AS (");
            self.render(out, insert.write, self.first(member));
            out.push_str(" RETURNING *)");
        });
        out.push(' ');
        each_member(&mut out, members, " UNION ALL ", |out, member| {
            let _ = write!(out, "SELECT {member}, (SELECT ");
            self.render(out, insert.answer, self.first(member));
            let _ = write!(out, " FROM w{member} w)");
        });
        out
    }

    fn rows(&self, row: &RowInsert, members: usize) -> String {
        let mut out = String::with_capacity((self.sql.len() + 32) * members);
        out.push_str("INSERT INTO ");
        self.render(&mut out, row.table, 1);
        out.push_str(" AS w (");
        self.render(&mut out, row.columns, 1);
        out.push_str(") SELECT ");
        for column in 1..=row.column_count {
            if column > 1 {
                out.push_str(", ");
            }
            let _ = write!(out, "v.c{column}");
        }
        out.push_str(" FROM (VALUES ");
        each_member(&mut out, members, ", ", |out, member| {
            out.push('(');
            self.render(out, row.values, self.first(member));
            let _ = write!(out, ", {member})");
        });
        out.push_str(") v(");
        for column in 1..=row.column_count {
            let _ = write!(out, "c{column}, ");
        }
        let _ = write!(
            out,
            "m) ORDER BY v.m RETURNING w.{}::int8, '[' || ",
            row.key
        );
        self.render(&mut out, row.object, 1);
        out.push_str("::text || ']'");
        out
    }

    /// Writes the text of `span` with its parameters numbered from `first` instead of 1.
    fn render(&self, out: &mut String, span: Span, first: u32) {
        let from = self
            .slots
            .partition_point(|slot| slot.digits.start < span.start);
        let mut at = span.start;
        for slot in self.slots[from..]
            .iter()
            .take_while(|slot| slot.digits.end <= span.end)
        {
            out.push_str(self.text(at, slot.digits.start));
            let _ = write!(out, "{}", slot.number - 1 + first);
            at = slot.digits.end;
        }
        out.push_str(self.text(at, span.end));
    }

    fn text(&self, start: u32, end: u32) -> &str {
        let (start, end) = (start as usize, end as usize);
        &self.sql[start..end]
    }
}

/// Writes each member's part, separated.
fn each_member(
    out: &mut String,
    members: usize,
    separator: &str,
    mut part: impl FnMut(&mut String, usize),
) {
    for member in 0..members {
        if member > 0 {
            out.push_str(separator);
        }
        part(out, member);
    }
}

#[cfg(test)]
mod tests {
    use super::combine;
    use crate::catalog::{ColumnKind, Generated};
    use crate::db::{Dialect, Statement};
    use crate::query::{Filter, Op, Operand, Operation, ParentGuard, Select, Value};
    use crate::sql::testing::{self, TestColumn};
    use crate::sql::{Combining, build};

    const COLUMNS: [TestColumn<'static>; 3] = [
        ("id", "integer", ColumnKind::Integer, Generated::Identity),
        ("a", "text", ColumnKind::Text, Generated::No),
        ("b", "date", ColumnKind::Date, Generated::No),
    ];

    fn postgres(operation: &Operation) -> Statement {
        build(
            &testing::model(Dialect::Postgres, "t", &COLUMNS),
            Dialect::Postgres,
            operation,
        )
    }

    fn combined(statement: &Statement, members: usize) -> String {
        combine(&statement.sql, &statement.plan, members).expect("the statement combines")
    }

    fn text(value: &str) -> Value {
        Value::Text(value.into())
    }

    fn condition(field: usize, op: Op, value: Value) -> Filter {
        Filter::Condition(crate::query::Condition {
            field,
            op,
            operand: Operand::One(value),
        })
    }

    #[test]
    fn one_row_inserts_with_generated_keys_combine_into_one_multi_row_insert() {
        let insert = postgres(&Operation::Insert {
            entity: 0,
            rows: vec![vec![(1, text("x")), (2, text("2024-01-31"))]],
            returning: vec![0, 1],
        });
        assert_eq!(
            &*insert.sql,
            r#"WITH w AS (INSERT INTO "t" ("a", "b") VALUES ($1, $2::date) RETURNING *) SELECT coalesce(json_agg(json_build_object('id', w."id", 'a', w."a")), '[]')::text FROM w"#
        );
        assert_eq!(insert.plan.combining(), Some(Combining::Rows));
        assert_eq!(
            combined(&insert, 3),
            r#"INSERT INTO "t" AS w ("a", "b") SELECT v.c1, v.c2 FROM (VALUES ($1, $2::date, 0), ($3, $4::date, 1), ($5, $6::date, 2)) v(c1, c2, m) ORDER BY v.m RETURNING w."id"::int8, '[' || json_build_object('id', w."id", 'a', w."a")::text || ']'"#
        );
    }

    #[test]
    fn other_inserts_combine_as_one_cte_per_member() {
        // The key is given, so the rows cannot be told apart by a generated one.
        let insert = postgres(&Operation::Insert {
            entity: 0,
            rows: vec![vec![(0, Value::Int(7)), (2, Value::Null)]],
            returning: vec![0],
        });
        assert_eq!(insert.plan.combining(), Some(Combining::Inserts));
        let member = |m: usize, first: usize| {
            format!(
                r#"w{m} AS (INSERT INTO "t" ("id", "b") VALUES (${first}, ${}::date) RETURNING *)"#,
                first + 1
            )
        };
        let answer = |m: usize| {
            format!(
                r#"SELECT {m}, (SELECT coalesce(json_agg(json_build_object('id', w."id")), '[]')::text FROM w{m} w)"#
            )
        };
        assert_eq!(
            combined(&insert, 3),
            format!(
                "WITH {}, {}, {} {} UNION ALL {} UNION ALL {}",
                member(0, 1),
                member(1, 3),
                member(2, 5),
                answer(0),
                answer(1),
                answer(2)
            )
        );
    }

    #[test]
    fn an_insert_without_values_combines_as_ctes() {
        let insert = postgres(&Operation::Insert {
            entity: 0,
            rows: vec![Vec::new()],
            returning: vec![0],
        });
        assert_eq!(insert.plan.combining(), Some(Combining::Inserts));
        assert!(
            combined(&insert, 2).starts_with(
                r#"WITH w0 AS (INSERT INTO "t" DEFAULT VALUES RETURNING *), w1 AS (INSERT INTO "t" DEFAULT VALUES RETURNING *) SELECT 0, "#
            ),
            "{}",
            combined(&insert, 2)
        );
    }

    #[test]
    fn reads_combine_as_a_union_with_each_members_parameters_after_the_previous_ones() {
        let read = postgres(&Operation::One {
            select: Select {
                filter: Filter::And(vec![
                    condition(1, Op::Eq, text("it's $1")),
                    condition(2, Op::Gt, text("2024-01-31")),
                ]),
                ..Select::all_fields(0, 1)
            },
        });
        let member = |first: usize| {
            format!(
                r#"SELECT json_build_object('id', t1."id")::text FROM "t" t1 WHERE (t1."a" = ${first} AND t1."b" > ${}::date) LIMIT 1"#,
                first + 1
            )
        };
        assert_eq!(&*read.sql, member(1));
        assert_eq!(read.plan.combining(), Some(Combining::Reads));
        assert_eq!(
            combined(&read, 3),
            format!(
                "SELECT 0, q.* FROM ({}) q UNION ALL SELECT 1, q.* FROM ({}) q UNION ALL SELECT 2, q.* FROM ({}) q",
                member(1),
                member(3),
                member(5)
            )
        );
    }

    #[test]
    fn parameters_written_out_of_order_keep_their_numbers_in_each_member() {
        // A list guarded by its parent's existence binds the parent's key last.
        let read = postgres(&Operation::List {
            select: Select {
                filter: condition(1, Op::Like, text("a%")),
                ..Select::all_fields(0, 1)
            },
            count: false,
            parent: Some(ParentGuard {
                entity: 0,
                key_field: 0,
                key: Value::Int(1),
                filter: Filter::all(),
            }),
        });
        let member = |rows: usize, key: usize| {
            format!(
                r#"SELECT CASE WHEN EXISTS (SELECT 1 FROM "t" WHERE "id" = ${key}) THEN (SELECT coalesce(json_agg(s.j), '[]')::text FROM (SELECT json_build_object('id', t1."id") AS j FROM "t" t1 WHERE t1."a" LIKE ${rows}) s) END"#
            )
        };
        assert_eq!(&*read.sql, member(1, 2));
        assert_eq!(
            combined(&read, 2),
            format!(
                "SELECT 0, q.* FROM ({}) q UNION ALL SELECT 1, q.* FROM ({}) q",
                member(1, 2),
                member(3, 4)
            )
        );
    }

    #[test]
    fn only_parameters_are_renumbered() {
        let columns = [("odd$1", "text", ColumnKind::Text, Generated::No)];
        let model = testing::model(Dialect::Postgres, "t$1", &columns);
        let read = build(
            &model,
            Dialect::Postgres,
            &Operation::One {
                select: Select {
                    filter: condition(0, Op::Eq, text("x")),
                    ..Select::all_fields(0, 0)
                },
            },
        );
        let member = |n: usize| {
            format!(
                r#"SELECT json_build_object()::text FROM "t$1" t1 WHERE t1."odd$1" = ${n} LIMIT 1"#
            )
        };
        assert_eq!(&*read.sql, member(1));
        assert_eq!(
            combined(&read, 2),
            format!(
                "SELECT 0, q.* FROM ({}) q UNION ALL SELECT 1, q.* FROM ({}) q",
                member(1),
                member(2)
            )
        );
    }

    #[test]
    fn statements_without_parameters_combine_unchanged() {
        let read = testing::read(Dialect::Postgres, "SELECT 1", Vec::new());
        assert_eq!(
            combined(&read, 2),
            "SELECT 0, q.* FROM (SELECT 1) q UNION ALL SELECT 1, q.* FROM (SELECT 1) q"
        );
    }

    #[test]
    fn other_writes_never_combine() {
        let update = postgres(&Operation::Update {
            entity: 0,
            filter: Filter::eq(0, Value::Int(1)),
            values: vec![(1, text("y"))],
            returning: vec![0],
        });
        assert_eq!(update.plan.combining(), None);
        assert_eq!(combine(&update.sql, &update.plan, 2), None);
    }
}

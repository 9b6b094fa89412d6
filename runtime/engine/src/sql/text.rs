//! Statement text as the builder writes it, front to back, with where each parameter's number
//! sits in it and where the parts of it that a plan names begin and end. The SQL layer can then
//! render the statement again, or parts of it, with its parameters numbered from any first
//! number ([`super::combine`]) without ever reading SQL text back.

use std::fmt;

use crate::db::Dialect;

/// A part of a statement's text, by byte positions the builder recorded while writing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    pub start: u32,
    pub end: u32,
}

/// Where one parameter's number sits in a statement's text: the digits after its `$`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Slot {
    pub digits: Span,
    /// The parameter it names, from 1.
    pub number: u32,
}

/// Text taken out of a [`Text`] by [`Text::cut`].
#[derive(Debug)]
pub(super) struct Tail {
    sql: String,
    slots: Vec<Slot>,
    at: u32,
}

/// A statement's text being written. On PostgreSQL it records a [`Slot`] for every parameter
/// (in text order); SQLite statements never combine, so nothing is recorded there.
#[derive(Debug)]
pub(crate) struct Text {
    sql: String,
    slots: Vec<Slot>,
    dialect: Dialect,
}

impl Text {
    pub(crate) fn new(dialect: Dialect) -> Self {
        Self {
            sql: String::with_capacity(256),
            slots: Vec::new(),
            dialect,
        }
    }

    pub(crate) fn push_str(&mut self, text: &str) {
        self.sql.push_str(text);
    }

    /// Writes the placeholder of parameter `number` (from 1): `$n` on PostgreSQL, `?n` on
    /// SQLite.
    pub(crate) fn param(&mut self, number: usize) {
        use std::fmt::Write as _;
        match self.dialect {
            Dialect::Sqlite => {
                let _ = write!(self.sql, "?{number}");
            }
            Dialect::Postgres => {
                self.sql.push('$');
                let start = self.position();
                let _ = write!(self.sql, "{number}");
                self.slots.push(Slot {
                    digits: self.span_from(start),
                    number: u32::try_from(number).unwrap_or(u32::MAX),
                });
            }
        }
    }

    /// Where the next byte will be written.
    pub(super) fn position(&self) -> u32 {
        u32::try_from(self.sql.len()).unwrap_or(u32::MAX)
    }

    /// The text written since `start`.
    pub(super) fn span_from(&self, start: u32) -> Span {
        Span {
            start,
            end: self.position(),
        }
    }

    /// Takes the text written from `at` on (and its slots) out, to be put back with
    /// [`Text::rejoin`] after something is written at `at`: a placeholder whose number is known
    /// only once the text after it has bound its own parameters.
    pub(super) fn cut(&mut self, at: u32) -> Tail {
        let later = self.slots.partition_point(|slot| slot.digits.start < at);
        Tail {
            sql: self.sql.split_off(at as usize),
            slots: self.slots.split_off(later),
            at,
        }
    }

    /// Puts back what [`Text::cut`] took out, after what was written since.
    pub(super) fn rejoin(&mut self, tail: Tail) {
        let shift = self.position() - tail.at;
        self.sql.push_str(&tail.sql);
        self.slots.extend(tail.slots.into_iter().map(|slot| Slot {
            digits: Span {
                start: slot.digits.start + shift,
                end: slot.digits.end + shift,
            },
            number: slot.number,
        }));
    }

    /// The text and its parameter slots, in text order.
    pub(super) fn into_parts(self) -> (String, Vec<Slot>) {
        (self.sql, self.slots)
    }
}

impl fmt::Write for Text {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.sql.push_str(text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    #[test]
    fn placeholders_are_recorded_where_they_are_written() {
        let mut text = Text::new(Dialect::Postgres);
        text.push_str("a = ");
        text.param(1);
        let at = text.position();
        let _ = write!(text, " AND b = ");
        text.param(3);
        let tail = text.cut(at);
        text.push_str(" OR c = ");
        text.param(12);
        text.rejoin(tail);
        let (sql, slots) = text.into_parts();
        assert_eq!(sql, "a = $1 OR c = $12 AND b = $3");
        let numbers: Vec<(&str, u32)> = slots
            .iter()
            .map(|slot| {
                let digits = slot.digits.start as usize..slot.digits.end as usize;
                (&sql[digits], slot.number)
            })
            .collect();
        assert_eq!(numbers, [("1", 1), ("12", 12), ("3", 3)]);
    }

    #[test]
    fn sqlite_placeholders_are_numbered_and_not_recorded() {
        let mut text = Text::new(Dialect::Sqlite);
        text.push_str("a = ");
        text.param(2);
        let (sql, slots) = text.into_parts();
        assert_eq!((sql.as_str(), slots.len()), ("a = ?2", 0));
    }
}

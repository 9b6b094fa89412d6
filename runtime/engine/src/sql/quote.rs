//! Quoting: every name and every text literal the builder writes into SQL goes through one of
//! these two types, so no catalog or client text ever reaches a statement unquoted. (Values are
//! bound parameters, never text.)

use std::fmt::{self, Write as _};

/// An identifier, quoted when written (without an allocation of its own: statements are built
/// per request, and their identifiers are most of their text).
pub(crate) fn ident(name: &str) -> Ident<'_> {
    Ident(name)
}

/// A text literal, quoted when written (JSON keys: field names, and relation names that GraphQL
/// clients choose as aliases).
pub(crate) fn literal(text: &str) -> Literal<'_> {
    Literal(text)
}

#[derive(Clone, Copy)]
pub(crate) struct Ident<'a>(&'a str);

#[derive(Clone, Copy)]
pub(crate) struct Literal<'a>(&'a str);

impl fmt::Display for Ident<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        quoted(f, self.0, '"')
    }
}

impl fmt::Display for Literal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        quoted(f, self.0, '\'')
    }
}

/// `text` between `quote`s, each `quote` inside it doubled (the one escape both SQLite and
/// PostgreSQL read the same way, in identifiers and in standard strings alike).
fn quoted(f: &mut fmt::Formatter<'_>, text: &str, quote: char) -> fmt::Result {
    f.write_char(quote)?;
    for (i, part) in text.split(quote).enumerate() {
        if i > 0 {
            f.write_char(quote)?;
            f.write_char(quote)?;
        }
        f.write_str(part)?;
    }
    f.write_char(quote)
}

#[cfg(test)]
mod tests {
    use super::{ident, literal};

    #[test]
    fn identifiers_are_quoted_with_inner_quotes_doubled() {
        assert_eq!(ident("line_items").to_string(), r#""line_items""#);
        assert_eq!(ident(r#"odd"name""#).to_string(), r#""odd""name""""#);
    }

    #[test]
    fn literals_are_quoted_with_inner_quotes_doubled() {
        assert_eq!(literal("createdAt").to_string(), "'createdAt'");
        assert_eq!(
            literal("a', (SELECT 1), 'b").to_string(),
            "'a'', (SELECT 1), ''b'"
        );
        assert_eq!(literal("''").to_string(), "''''''");
        assert_eq!(literal(r#"say "hi""#).to_string(), r#"'say "hi"'"#);
    }
}

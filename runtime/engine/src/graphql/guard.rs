//! The nesting of a GraphQL document's text, measured before it is parsed. The parser recurses
//! once per nested selection set, argument list, list value and object value, so a document of
//! a few thousand brackets would overflow a serving thread's stack: this scan is iterative and
//! refuses such a document first.

/// The depth at which a document's brackets (`{`, `[`, `(`) pass `limit`, if they do. Brackets
/// inside strings, block strings and comments do not count; malformed text is left to the
/// parser.
pub fn nested_past(query: &str, limit: usize) -> Option<usize> {
    let bytes = query.as_bytes();
    let mut depth = 0usize;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'#' => {
                while at < bytes.len() && bytes[at] != b'\n' && bytes[at] != b'\r' {
                    at += 1;
                }
                continue;
            }
            b'"' if bytes[at..].starts_with(b"\"\"\"") => {
                at = block_string_end(bytes, at + 3);
                continue;
            }
            b'"' => {
                at = string_end(bytes, at + 1);
                continue;
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > limit {
                    return Some(depth);
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        at += 1;
    }
    None
}

/// Where a `"..."` string that starts at `at` (after its quote) ends: after its closing quote,
/// or at the end of its line or of the text when it is unterminated.
fn string_end(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return at + 1,
            b'\n' | b'\r' => return at,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// Where a `"""..."""` block string that starts at `at` (after its quotes) ends; `\"""` does
/// not close it.
fn block_string_end(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() {
        if bytes[at..].starts_with(b"\\\"\"\"") {
            at += 4;
        } else if bytes[at..].starts_with(b"\"\"\"") {
            return at + 3;
        } else {
            at += 1;
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_of_every_kind_count() {
        let query = "{ customers(where: {id: {in: [1]}}) { id } }";
        assert_eq!(nested_past(query, 5), None);
        assert_eq!(nested_past(query, 4), Some(5));
        let deep = format!("{{ a(x: {}1{}) }}", "[".repeat(2000), "]".repeat(2000));
        assert_eq!(nested_past(&deep, 64), Some(65));
    }

    #[test]
    fn strings_and_comments_do_not_count() {
        let query = r#"{ a(x: "{{{[[[(((\"", y: """ {{{ \""" [[[ """) # {{{{
        { b } }"#;
        assert_eq!(nested_past(query, 2), None);
        assert_eq!(nested_past(query, 1), Some(2));
    }

    #[test]
    fn unterminated_strings_end_the_scan_quietly() {
        assert_eq!(nested_past(r#"{ a(x: "{{{"#, 2), None);
        assert_eq!(nested_past(r#"{ a(x: """{{{"#, 2), None);
        assert_eq!(nested_past("{ a(x: \"\\", 2), None);
    }
}

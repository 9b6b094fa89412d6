//! Entity tags of single rows (RFC 9110 §8.8.3) and the conditions of `If-Match` and
//! `If-None-Match` (§13.1.1, §13.1.2).
//!
//! A row's tag is strong: the first 128 bits of the SHA-256 of its JSON exactly as
//! `GET /<plural>/{id}` answers it (every field the caller may read), in hex. The database renders
//! that JSON, and a write's `RETURNING` renders it the same way, so the tag a `PUT` or `PATCH`
//! answers is the tag the next `GET` answers for the same row.
//!
//! ```text
//! condition  = "*" / 1#entity-tag      several header lines form one list
//! entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE
//! etagc      = %x21 / %x23-7E / %x80-FF
//! ```

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// A row's strong entity tag, as its header value: `"<32 hex digits>"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ETag(String);

impl ETag {
    /// The tag of a row's JSON, as the item routes answer it.
    pub fn of(json: &str) -> Self {
        let digest = Sha256::digest(json.as_bytes());
        let mut tag = String::with_capacity(34);
        tag.push('"');
        for byte in &digest[..16] {
            let _ = write!(tag, "{byte:02x}");
        }
        tag.push('"');
        Self(tag)
    }

    /// The header value, quotes included.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One entity tag of a condition's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    weak: bool,
    /// The opaque tag, quotes included.
    opaque: Vec<u8>,
}

/// What an `If-Match` or `If-None-Match` header asks for: any current row, or one of the tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Any,
    Tags(Vec<Tag>),
}

/// A header value that is neither `*` nor a list of quoted entity tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl Condition {
    /// The condition of a header's field lines, taken together as one list; `None` without any.
    pub fn parse<'v>(lines: impl IntoIterator<Item = &'v [u8]>) -> Result<Option<Self>, Malformed> {
        let mut found = None;
        for line in lines {
            let line = line.trim_ascii();
            found = Some(match (found, line) {
                (None, b"*") => Self::Any,
                (None, _) => Self::Tags(tags(line, Vec::new())?),
                (Some(Self::Tags(list)), _) if line != b"*" => Self::Tags(tags(line, list)?),
                (Some(_), _) => return Err(Malformed),
            });
        }
        match found {
            Some(Self::Tags(list)) if list.is_empty() => Err(Malformed),
            found => Ok(found),
        }
    }

    /// `If-Match` (strong comparison): a current row whose tag the list names, unless weak.
    pub fn matches_strongly(&self, current: Option<&ETag>) -> bool {
        match (self, current) {
            (_, None) => false,
            (Self::Any, Some(_)) => true,
            (Self::Tags(list), Some(tag)) => list
                .iter()
                .any(|t| !t.weak && t.opaque == tag.as_str().as_bytes()),
        }
    }

    /// `If-None-Match` (weak comparison) on an existing row: `*`, or a list naming its tag, weak
    /// or not. `tag` is `None` for a row answered without one, which only `*` matches.
    pub fn matches_weakly(&self, tag: Option<&ETag>) -> bool {
        match (self, tag) {
            (Self::Any, _) => true,
            (Self::Tags(_), None) => false,
            (Self::Tags(list), Some(tag)) => {
                list.iter().any(|t| t.opaque == tag.as_str().as_bytes())
            }
        }
    }
}

/// The entity tags of one field line, after those of earlier lines; empty elements are skipped.
fn tags(mut rest: &[u8], mut list: Vec<Tag>) -> Result<Vec<Tag>, Malformed> {
    loop {
        rest = rest.trim_ascii_start();
        match rest {
            [] => return Ok(list),
            [b',', after @ ..] => {
                rest = after;
                continue;
            }
            _ => {}
        }
        let (weak, quoted) = match rest.strip_prefix(b"W/") {
            Some(quoted) => (true, quoted),
            None => (false, rest),
        };
        let inner = quoted.strip_prefix(b"\"").ok_or(Malformed)?;
        let end = inner.iter().position(|&b| b == b'"').ok_or(Malformed)?;
        if !inner[..end].iter().all(|&b| etagc(b)) {
            return Err(Malformed);
        }
        list.push(Tag {
            weak,
            opaque: quoted[..end + 2].to_vec(),
        });
        rest = inner[end + 1..].trim_ascii_start();
        match rest {
            [] => return Ok(list),
            [b',', after @ ..] => rest = after,
            _ => return Err(Malformed),
        }
    }
}

/// A byte an opaque tag may hold: visible ASCII but `"`, or obs-text.
fn etagc(byte: u8) -> bool {
    byte == 0x21 || (0x23..=0x7e).contains(&byte) || byte >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lines: &[&str]) -> Result<Option<Condition>, Malformed> {
        Condition::parse(lines.iter().map(|l| l.as_bytes()))
    }

    fn tag(weak: bool, opaque: &str) -> Tag {
        Tag {
            weak,
            opaque: opaque.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_tag_is_the_quoted_hex_of_128_bits_of_sha256() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(
            ETag::of("abc").as_str(),
            "\"ba7816bf8f01cfea414140de5dae2223\""
        );
        assert_ne!(ETag::of(r#"{"id":1}"#), ETag::of(r#"{"id":2}"#));
    }

    #[test]
    fn lists_star_and_several_lines_parse() {
        assert_eq!(parse(&[]), Ok(None));
        assert_eq!(parse(&[" * "]), Ok(Some(Condition::Any)));
        assert_eq!(
            parse(&[r#""a", W/"b""#, r#" , "c",, "#]),
            Ok(Some(Condition::Tags(vec![
                tag(false, "\"a\""),
                tag(true, "\"b\""),
                tag(false, "\"c\""),
            ])))
        );
        assert_eq!(
            parse(&[r#""""#]),
            Ok(Some(Condition::Tags(vec![tag(false, "\"\"")])))
        );
    }

    #[test]
    fn anything_else_is_malformed() {
        for bad in [
            "",
            ",",
            "abc",
            "\"abc",
            "abc\"",
            "\"a\" \"b\"",
            "\"a\";",
            "w/\"a\"",
            "W/ \"a\"",
            "*, \"a\"",
            "\"a\", *",
            "\"a b\"",
            "**",
        ] {
            assert_eq!(parse(&[bad]), Err(Malformed), "{bad:?}");
        }
        assert_eq!(parse(&["*", "\"a\""]), Err(Malformed));
        assert_eq!(parse(&["\"a\"", "*"]), Err(Malformed));
        assert_eq!(parse(&["*", "*"]), Err(Malformed));
    }

    #[test]
    fn if_match_compares_strongly() {
        let current = ETag::of("row");
        let quoted = current.as_str();
        let matching = parse(&[&format!("\"x\", {quoted}")]).unwrap().unwrap();
        assert!(matching.matches_strongly(Some(&current)));
        assert!(!matching.matches_strongly(None));
        let weak = parse(&[&format!("W/{quoted}")]).unwrap().unwrap();
        assert!(!weak.matches_strongly(Some(&current)));
        let other = parse(&["\"x\""]).unwrap().unwrap();
        assert!(!other.matches_strongly(Some(&current)));
        assert!(Condition::Any.matches_strongly(Some(&current)));
        assert!(!Condition::Any.matches_strongly(None));
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let current = ETag::of("row");
        let weak = parse(&[&format!("W/{}", current.as_str())])
            .unwrap()
            .unwrap();
        assert!(weak.matches_weakly(Some(&current)));
        assert!(!weak.matches_weakly(None));
        let other = parse(&["\"x\""]).unwrap().unwrap();
        assert!(!other.matches_weakly(Some(&current)));
        assert!(Condition::Any.matches_weakly(None));
    }
}

//! A database URL whose password never reaches `Debug`, `Display` or the logs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The database connection URL. Printing it shows `***` in place of any password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The real URL, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted(&self) -> String {
        let Some(scheme_end) = self.0.find("://") else {
            return self.0.clone();
        };
        let rest = &self.0[scheme_end + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let Some(at) = rest[..authority_end].rfind('@') else {
            return self.0.clone();
        };
        match rest[..at].find(':') {
            Some(colon) => format!(
                "{}{}:***{}",
                &self.0[..scheme_end + 3],
                &rest[..colon],
                &rest[at..]
            ),
            None => self.0.clone(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::DatabaseUrl;

    #[test]
    fn password_is_redacted_everywhere() {
        let url = DatabaseUrl::new("postgres://app:s3cret@db.example:5432/prod?sslmode=require");
        assert_eq!(
            url.redacted(),
            "postgres://app:***@db.example:5432/prod?sslmode=require"
        );
        assert!(!format!("{url:?}").contains("s3cret"));
        assert!(!url.to_string().contains("s3cret"));
        assert_eq!(
            url.expose(),
            "postgres://app:s3cret@db.example:5432/prod?sslmode=require"
        );
    }

    #[test]
    fn urls_without_password_are_unchanged() {
        for plain in [
            "sqlite://data/runtime.sqlite",
            "postgres://postgres@127.0.0.1/test",
        ] {
            assert_eq!(DatabaseUrl::new(plain).redacted(), plain);
        }
    }
}

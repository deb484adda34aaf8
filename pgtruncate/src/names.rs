//! Table names as operators type them and as SQL needs them.
//!
//! Matching is exact against the catalog (no case folding: `MixedCase` finds the table
//! `"MixedCase"`), the quoted form (`"My Schema"."a""b"`) is accepted too, and SQL always
//! gets schema-qualified, quoted identifiers.

use postgres_protocol::escape::escape_identifier;
use std::fmt;

/// A schema-qualified relation name, exactly as stored in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QualifiedName {
    pub schema: String,
    pub name: String,
}

impl QualifiedName {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        QualifiedName {
            schema: schema.into(),
            name: name.into(),
        }
    }

    /// Parses `table`, `schema.table`, or either part in double quotes (`""` is a quote
    /// inside a quoted part). An unqualified name takes `default_schema`.
    pub fn parse(input: &str, default_schema: &str) -> Result<Self, String> {
        let parts = split_parts(input)?;
        match parts.as_slice() {
            [name] => Ok(QualifiedName::new(default_schema, name.clone())),
            [schema, name] => Ok(QualifiedName::new(schema.clone(), name.clone())),
            _ => Err(format!(
                "table name {input:?} has more than two parts: write schema.table, quoting a part that contains a dot (\"a.b\")"
            )),
        }
    }

    /// The SQL form: `"schema"."table"`, safe for any characters.
    pub fn sql(&self) -> String {
        format!(
            "{}.{}",
            escape_identifier(&self.schema),
            escape_identifier(&self.name)
        )
    }
}

/// The display form: `schema.table`, each part quoted only when it has to be, so that
/// the text can be given back to pgtruncate as an argument and finds the same table.
impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}",
            display_part(&self.schema),
            display_part(&self.name)
        )
    }
}

fn display_part(part: &str) -> String {
    let plain = !part.is_empty()
        && part
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && part
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain {
        part.to_string()
    } else {
        escape_identifier(part)
    }
}

fn split_parts(input: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        part.push('"');
                    } else {
                        closed = true;
                        break;
                    }
                } else {
                    part.push(c);
                }
            }
            if !closed {
                return Err(format!(
                    "table name {input:?} has an unterminated quote: close it, or double a quote inside a name (\"a\"\"b\")"
                ));
            }
            match chars.peek() {
                None | Some('.') => {}
                Some(_) => {
                    return Err(format!(
                        "table name {input:?} has text after a closing quote: write schema.table or \"schema\".\"table\""
                    ))
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                part.push(c);
                chars.next();
            }
        }
        if part.is_empty() {
            return Err(format!(
                "table name {input:?} has an empty part: write table or schema.table"
            ));
        }
        parts.push(part);
        // The loops above stop only at a dot or at the end.
        if chars.next().is_none() {
            return Ok(parts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_qualified() {
        assert_eq!(
            QualifiedName::parse("requests", "public"),
            Ok(QualifiedName::new("public", "requests"))
        );
        assert_eq!(
            QualifiedName::parse("audit.requests", "public"),
            Ok(QualifiedName::new("audit", "requests"))
        );
        // Exact match: no case folding.
        assert_eq!(
            QualifiedName::parse("MixedCase", "public"),
            Ok(QualifiedName::new("public", "MixedCase"))
        );
    }

    #[test]
    fn quoted_parts() {
        assert_eq!(
            QualifiedName::parse(r#""My Schema"."a""b.c""#, "public"),
            Ok(QualifiedName::new("My Schema", r#"a"b.c"#))
        );
        let hostile = r#"a"b; DROP TABLE x; --"#;
        let parsed = QualifiedName::parse(hostile, "public").unwrap();
        assert_eq!(parsed.name, hostile);
        assert_eq!(parsed.sql(), r#""public"."a""b; DROP TABLE x; --""#);
        // The display form reads back to the same name.
        assert_eq!(
            QualifiedName::parse(&parsed.to_string(), "other"),
            Ok(parsed)
        );
    }

    #[test]
    fn display_quotes_only_when_needed() {
        assert_eq!(
            QualifiedName::new("public", "requests").to_string(),
            "public.requests"
        );
        assert_eq!(
            QualifiedName::new("public", "MixedCase").to_string(),
            r#"public."MixedCase""#
        );
    }

    #[test]
    fn bad_names() {
        for bad in ["", ".x", "x.", "a.b.c", r#""open"#, r#""a"b"#] {
            assert!(QualifiedName::parse(bad, "public").is_err(), "{bad:?}");
        }
    }
}

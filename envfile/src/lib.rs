//! An env file as its two readers see it: python-dotenv 1.x (the app's settings loader)
//! and systemd 252's `EnvironmentFile=`. One reader of each in the workspace: envpatch
//! edits with them, pgtruncate reads `DATABASE_URL` with them.
//!
//! - [`text`]: the bytes decoded ([`decode`]), physical lines ([`split_lines`]), byte scanning;
//! - [`dotenv`]: python-dotenv's bindings ([`Entries`], streaming);
//! - [`systemd`]: systemd's assignments ([`SystemdReader`], streaming);
//! - [`values`]: what each reader makes of a few keys.
//!
//! Speed: both readers stream, scan bytes (a character is decoded only where a non-ASCII
//! one can matter, for Python's Unicode whitespace) and borrow keys and values from the
//! text; a value is copied only when the reader changes it (escapes, joined quotes, CRLF
//! inside quotes). The text is valid UTF-8 ([`decode`]), and every byte a reader drops is
//! ASCII, so every slice taken is on a character boundary.

pub mod dotenv;
pub mod systemd;
pub mod text;

pub use dotenv::{py_space, Assignment, Document, Entries, Entry, EntryKind};
pub use systemd::{
    systemd_assignments, systemd_env, systemd_name_is_valid, SystemdAssignment, SystemdReader,
};
pub use text::{decode, line_number_at, split_lines, ContentError, Line};

use std::borrow::Cow;

/// What the two readers make of one key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyReading<'a> {
    /// python-dotenv's value, before `${...}` interpolation: `None` when no binding names
    /// the key, `Some(None)` for a bare `KEY` line. The last binding wins.
    pub dotenv: Option<Option<Cow<'a, str>>>,
    /// The 1-based line where that binding starts.
    pub dotenv_line: Option<usize>,
    /// The value a unit gets from `EnvironmentFile=`: the last assignment of the key
    /// (invalid names are never read).
    pub systemd: Option<Cow<'a, str>>,
    /// The 1-based line of that assignment.
    pub systemd_line: Option<usize>,
}

/// For each key, in the order given: what python-dotenv and systemd read (one pass of
/// each reader; only the keys' values are kept).
pub fn values<'a>(text: &'a str, keys: &[&str]) -> Vec<KeyReading<'a>> {
    let mut out = vec![KeyReading::default(); keys.len()];
    let index = |key: &str| keys.iter().position(|k| *k == key);
    for entry in Entries::new(text) {
        if let EntryKind::Assignment(a) = entry.kind {
            if let Some(i) = index(&a.key) {
                out[i].dotenv = Some(a.value);
                out[i].dotenv_line = Some(entry.first + 1);
            }
        }
    }
    for a in SystemdReader::new(text) {
        if !a.valid {
            continue;
        }
        if let Some(i) = index(a.key) {
            out[i].systemd = Some(a.value);
            out[i].systemd_line = Some(a.line);
        }
    }
    out
}

/// python-dotenv's value of one key, as [`KeyReading::dotenv`], and its line; systemd's
/// reader is not run.
pub fn dotenv_value<'a>(text: &'a str, key: &str) -> Option<(Option<Cow<'a, str>>, usize)> {
    let mut found = None;
    for entry in Entries::new(text) {
        if let EntryKind::Assignment(a) = entry.kind {
            if a.key == key {
                found = Some((a.value, entry.first + 1));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The differences that make the two readers worth keeping apart, as the real
    /// readers resolve them.
    #[test]
    fn the_readers_disagree_on_comments_export_quotes_and_backslashes() {
        let text = "A=foo # note\nexport B=1\nC='it\\'s'\nD=\"C:\\new\"\n# c \\\nE=swallowed\nF=\"a\" # c\n";
        let keys = ["A", "B", "C", "D", "E", "F", "G"];
        let got = values(text, &keys);
        let d = |k: &str| {
            got[keys.iter().position(|x| *x == k).unwrap()]
                .dotenv
                .clone()
        };
        let s = |k: &str| {
            got[keys.iter().position(|x| *x == k).unwrap()]
                .systemd
                .clone()
        };
        assert_eq!(d("A"), Some(Some("foo".into())));
        assert_eq!(s("A").as_deref(), Some("foo # note"));
        assert_eq!(d("B"), Some(Some("1".into())));
        assert_eq!(s("B"), None);
        assert_eq!(d("C"), Some(Some("it's".into())));
        assert_eq!(s("C").as_deref(), Some("it\\s'"));
        assert_eq!(d("D"), Some(Some("C:\new".into())));
        assert_eq!(s("D").as_deref(), Some("C:\\new"));
        assert_eq!(d("E"), Some(Some("swallowed".into())));
        assert_eq!(s("E"), None);
        assert_eq!(d("F"), Some(Some("a".into())));
        assert_eq!(s("F").as_deref(), Some("a# c"));
        assert_eq!((d("G"), s("G")), (None, None));
        assert_eq!(got[0].dotenv_line, Some(1));
        assert_eq!(got[5].systemd_line, Some(7));
    }

    #[test]
    fn dotenv_value_takes_the_last_binding_and_reads_tab_after_export() {
        let text = "DATABASE_URL=first\nexport\tDATABASE_URL='a\\'b'\nDATABASE_URL_RO=x\nBARE\n";
        assert_eq!(
            dotenv_value(text, "DATABASE_URL"),
            Some((Some("a'b".into()), 2))
        );
        assert_eq!(dotenv_value(text, "BARE"), Some((None, 4)));
        assert_eq!(dotenv_value(text, "NONE"), None);
    }
}

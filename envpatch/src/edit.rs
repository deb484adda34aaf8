//! Planning an edit on a parsed file, and proving the result under both readers.
//!
//! Values here are raw: the caller redacts secrets before anything is reported.

use crate::encode;
use crate::parse::{systemd_env, Document, EntryKind, Readings};
use crate::report::{Action, Change, Warning};
use std::collections::{HashMap, HashSet};

/// One requested change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Set { key: String, value: String },
    Unset { key: String },
}

impl Op {
    pub fn key(&self) -> &str {
        match self {
            Op::Set { key, .. } | Op::Unset { key } => key,
        }
    }
}

/// The planned new content and what it changes.
#[derive(Debug, Clone)]
pub struct Edit {
    pub text: String,
    pub changes: Vec<Change>,
}

impl Edit {
    pub fn alters_file(&self) -> bool {
        self.changes.iter().any(|c| c.action.alters_file())
    }
}

/// Builds the new content. Values must have passed [`encode::check`].
pub fn plan(doc: &Document<'_>, ops: &[Op]) -> Edit {
    let sets: HashMap<&str, &str> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Set { key, value } => Some((key.as_str(), value.as_str())),
            Op::Unset { .. } => None,
        })
        .collect();
    let unsets: HashSet<&str> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Unset { key } => Some(key.as_str()),
            Op::Set { .. } => None,
        })
        .collect();
    // A new line gets the ending of the last line that has one (CRLF in a CRLF file).
    let newline = doc
        .lines
        .iter()
        .rev()
        .map(|l| l.ending)
        .find(|e| !e.is_empty())
        .unwrap_or("\n");

    let mut out = String::with_capacity(doc.lines.iter().map(|l| l.text.len() + 2).sum());
    let mut emitted = 0usize;
    let mut lines_of: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut rewritten: HashSet<&str> = HashSet::new();
    let mut present: HashSet<&str> = HashSet::new();

    for entry in &doc.entries {
        let assignment = match &entry.kind {
            EntryKind::Assignment(a) => Some(a),
            _ => None,
        };
        if let Some(a) = assignment {
            if let Some(&key) = unsets.get(a.key.as_str()) {
                present.insert(key);
                lines_of.entry(key).or_default().push(entry.first + 1);
                continue;
            }
            if let Some((&key, &value)) = sets.get_key_value(a.key.as_str()) {
                present.insert(key);
                if !reads_as(doc, entry, key, value) {
                    rewritten.insert(key);
                    let ending = doc.lines[entry.last].ending;
                    if let Some(comment) = &a.comment {
                        // systemd reads an inline comment as part of an unquoted value.
                        out.push_str(doc.indent(entry, a));
                        out.push_str(comment);
                        out.push_str(if ending.is_empty() { newline } else { ending });
                        emitted += 1;
                    }
                    // Checked by the caller; an unencodable value never gets here.
                    let encoded = encode::encode(value).unwrap_or_default();
                    out.push_str(doc.head(entry, a));
                    out.push('=');
                    out.push_str(&encoded);
                    out.push_str(ending);
                    emitted += 1;
                    lines_of.entry(key).or_default().push(emitted);
                    continue;
                }
                lines_of.entry(key).or_default().push(emitted + 1);
            }
        }
        for line in &doc.lines[entry.first..=entry.last] {
            out.push_str(line.text);
            out.push_str(line.ending);
            emitted += 1;
        }
    }

    let mut appended = false;
    for op in ops {
        let Op::Set { key, value } = op else { continue };
        if present.contains(key.as_str()) {
            continue;
        }
        if !appended && !out.is_empty() {
            if !out.ends_with(['\n', '\r']) {
                out.push_str(newline);
            }
            if ends_in_backslash_continuation(&out) {
                // systemd would join the next line onto this one: keep an empty line between.
                out.push_str(newline);
                emitted += 1;
            }
        }
        appended = true;
        out.push_str(key);
        out.push('=');
        out.push_str(&encode::encode(value).unwrap_or_default());
        out.push_str(newline);
        emitted += 1;
        lines_of.entry(key.as_str()).or_default().push(emitted);
    }

    let changes = ops
        .iter()
        .map(|op| {
            let key = op.key();
            let old = doc
                .assignments()
                .rev()
                .find(|(_, a)| a.key == key)
                .and_then(|(_, a)| a.value.clone());
            let lines = lines_of.get(key).cloned().unwrap_or_default();
            let is_present = present.contains(key);
            match op {
                Op::Set { value, .. } => Change {
                    key: key.to_string(),
                    action: if !is_present {
                        Action::Added
                    } else if rewritten.contains(key) {
                        Action::Updated
                    } else {
                        Action::Unchanged
                    },
                    old,
                    new: Some(value.clone()),
                    lines,
                },
                Op::Unset { .. } => Change {
                    key: key.to_string(),
                    action: if is_present {
                        Action::Removed
                    } else {
                        Action::Absent
                    },
                    old,
                    new: None,
                    lines,
                },
            }
        })
        .collect();
    Edit { text: out, changes }
}

/// Whether an existing assignment already reads as `value` under both readers' rules
/// (for systemd: read on its own; a line systemd ignores, such as `export K=`, counts for
/// python-dotenv only).
fn reads_as(doc: &Document<'_>, entry: &crate::parse::Entry, key: &str, value: &str) -> bool {
    let Some(a) = entry.assignment() else {
        return false;
    };
    if a.value.as_deref() != Some(value) {
        return false;
    }
    match systemd_env(&doc.entry_text(entry)).get(key) {
        Some((v, _)) => v == value,
        None => true,
    }
}

/// Whether the last line ends in an odd number of backslashes: systemd then continues
/// it (a comment or an unquoted value) onto the next line.
fn ends_in_backslash_continuation(text: &str) -> bool {
    let body = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix(['\n', '\r']))
        .unwrap_or(text);
    let last = body.rsplit(['\n', '\r']).next().unwrap_or("");
    (last.len() - last.trim_end_matches('\\').len()) % 2 == 1
}

/// Which reader a verification failure is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Systemd,
    Dotenv,
}

impl Reader {
    pub fn name(self) -> &'static str {
        match self {
            Reader::Systemd => "systemd (EnvironmentFile=)",
            Reader::Dotenv => "python-dotenv",
        }
    }
}

/// A key that would not read back as intended after the edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub key: String,
    pub reader: Reader,
    /// What the reader would read instead (`None`: the key would be absent).
    pub got: Option<String>,
    /// What was intended (`None`: absent).
    pub wanted: Option<String>,
    /// Whether the key is one the command named (else an untouched key changed reading).
    pub named: bool,
}

/// Re-reads the new content under both readers: every named key must read as intended
/// and every other key's assignments must read exactly as before, in the same order. A
/// key edited in place on lines systemd does not read (`export`) may stay absent for
/// systemd, with a warning.
pub fn verify(
    old: &Readings<'_>,
    new: &Readings<'_>,
    ops: &[Op],
) -> Result<Vec<Warning>, Mismatch> {
    let mut warnings = Vec::new();
    let named: HashSet<&str> = ops.iter().map(Op::key).collect();

    for op in ops {
        let key = op.key();
        let wanted = match op {
            Op::Set { value, .. } => Some(value.as_str()),
            Op::Unset { .. } => None,
        };
        let dotenv_got = new.dotenv(key);
        let dotenv_ok = match wanted {
            Some(_) => dotenv_got.flatten() == wanted,
            None => dotenv_got.is_none(),
        };
        if !dotenv_ok {
            return Err(Mismatch {
                key: key.to_string(),
                reader: Reader::Dotenv,
                got: dotenv_got.flatten().map(str::to_string),
                wanted: wanted.map(str::to_string),
                named: true,
            });
        }
        let systemd_got = new.systemd(key);
        if systemd_got == wanted {
            continue;
        }
        if systemd_got.is_none() && wanted.is_some() && old.dotenv(key).is_some() {
            warnings.push(hidden_from_systemd(&new.doc, key));
            continue;
        }
        return Err(Mismatch {
            key: key.to_string(),
            reader: Reader::Systemd,
            got: systemd_got.map(str::to_string),
            wanted: wanted.map(str::to_string),
            named: true,
        });
    }

    // Untouched keys: the same assignments in the same order (stricter than the same
    // effective values, and needs no hashing of a 10,000-line file).
    if let Some(key) = first_difference(&dotenv_others(old, &named), &dotenv_others(new, &named)) {
        return Err(Mismatch {
            key,
            reader: Reader::Dotenv,
            got: None,
            wanted: None,
            named: false,
        });
    }
    if let Some(key) = first_difference(&systemd_others(old, &named), &systemd_others(new, &named))
    {
        return Err(Mismatch {
            key,
            reader: Reader::Systemd,
            got: None,
            wanted: None,
            named: false,
        });
    }
    Ok(warnings)
}

type Sequence<'r> = Vec<(&'r str, Option<&'r str>)>;

fn dotenv_others<'r>(r: &'r Readings<'_>, named: &HashSet<&str>) -> Sequence<'r> {
    r.doc
        .assignments()
        .filter(|(_, a)| !named.contains(a.key.as_str()))
        .map(|(_, a)| (a.key.as_str(), a.value.as_deref()))
        .collect()
}

fn systemd_others<'r>(r: &'r Readings<'_>, named: &HashSet<&str>) -> Sequence<'r> {
    r.systemd_valid()
        .filter(|a| !named.contains(a.key.as_str()))
        .map(|a| (a.key.as_str(), Some(a.value.as_str())))
        .collect()
}

/// The key of the first assignment that differs between two sequences.
fn first_difference(old: &[(&str, Option<&str>)], new: &[(&str, Option<&str>)]) -> Option<String> {
    if let Some((a, b)) = old.iter().zip(new).find(|(a, b)| a != b) {
        return Some(if a.0 == b.0 { a.0 } else { b.0 }.to_string());
    }
    match old.len().cmp(&new.len()) {
        std::cmp::Ordering::Less => Some(new[old.len()].0.to_string()),
        std::cmp::Ordering::Greater => Some(old[new.len()].0.to_string()),
        std::cmp::Ordering::Equal => None,
    }
}

/// Why systemd does not see a key that python-dotenv reads.
fn hidden_from_systemd(doc: &Document<'_>, key: &str) -> Warning {
    let last = doc
        .entries
        .iter()
        .rev()
        .find(|e| e.assignment().is_some_and(|a| a.key == key));
    match last {
        Some(e) if e.assignment().is_some_and(|a| a.export) => Warning::at(
            e.first + 1,
            format!(
                "{key} is set only on an `export` line, which systemd's EnvironmentFile= ignores: \
                 the app (python-dotenv) reads the new value, services get no {key} from this file; \
                 remove `export ` from the line if systemd must see it"
            ),
        ),
        Some(e) => Warning::at(
            e.first + 1,
            format!(
                "systemd's EnvironmentFile= does not read {key} from this line (a line above \
                 continues into it: a comment or value ending in a backslash, or an open quote); \
                 the app (python-dotenv) reads the new value"
            ),
        ),
        None => Warning::file(format!(
            "systemd's EnvironmentFile= does not read {key} from this file"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(k: &str, v: &str) -> Op {
        Op::Set {
            key: k.into(),
            value: v.into(),
        }
    }

    fn check(old: &str, new: &str, ops: &[Op]) -> Result<Vec<Warning>, Mismatch> {
        verify(&Readings::of(old), &Readings::of(new), ops)
    }

    fn apply(text: &str, ops: &[Op]) -> Edit {
        let doc = Document::parse(text);
        let edit = plan(&doc, ops);
        check(text, &edit.text, ops).expect("verifies");
        edit
    }

    #[test]
    fn untouched_lines_stay_and_new_keys_append() {
        let text = "# head\r\nA=1\r\n\r\nexport B='x'\r\nLAST=y";
        let edit = apply(text, &[set("A", "2"), set("NEW", "v w")]);
        assert_eq!(
            edit.text,
            "# head\r\nA=2\r\n\r\nexport B='x'\r\nLAST=y\r\nNEW=\"v w\"\r\n"
        );
        assert_eq!(edit.changes[0].action, Action::Updated);
        assert_eq!(edit.changes[0].lines, vec![2]);
        assert_eq!(edit.changes[1].action, Action::Added);
        assert_eq!(edit.changes[1].lines, vec![6]);
    }

    #[test]
    fn inline_comment_moves_above() {
        let edit = apply("  K=false # toggle\nZ=1\n", &[set("K", "true")]);
        assert_eq!(edit.text, "  # toggle\n  K=true\nZ=1\n");
        assert_eq!(edit.changes[0].lines, vec![2]);
    }

    #[test]
    fn duplicates_all_updated_or_removed() {
        let text = "K=1\nA=a\nK=2\n";
        let edit = apply(text, &[set("K", "3")]);
        assert_eq!(edit.text, "K=3\nA=a\nK=3\n");
        assert_eq!(edit.changes[0].lines, vec![1, 3]);
        assert_eq!(edit.changes[0].old.as_deref(), Some("2"));
        let edit = apply(
            text,
            &[Op::Unset { key: "K".into() }, Op::Unset { key: "Q".into() }],
        );
        assert_eq!(edit.text, "A=a\n");
        assert_eq!(edit.changes[0].action, Action::Removed);
        assert_eq!(edit.changes[0].lines, vec![1, 3]);
        assert_eq!(edit.changes[1].action, Action::Absent);
    }

    #[test]
    fn nothing_to_change_is_unchanged() {
        let text = "K=\"true\"\nexport E=1 # c\n";
        let edit = apply(text, &[set("K", "true"), set("E", "1")]);
        assert_eq!(edit.text, text);
        assert!(!edit.alters_file());
        // But an inline comment systemd reads into the value must go.
        let edit = apply("K=true # c\n", &[set("K", "true")]);
        assert_eq!(edit.text, "# c\nK=true\n");
        assert_eq!(edit.changes[0].action, Action::Updated);
    }

    #[test]
    fn export_only_key_is_edited_in_place_with_a_warning() {
        let text = "export K=1\n";
        let doc = Document::parse(text);
        let ops = [set("K", "2")];
        let edit = plan(&doc, &ops);
        assert_eq!(edit.text, "export K=2\n");
        let warnings = check(text, &edit.text, &ops).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].message.contains("export"));
    }

    #[test]
    fn appending_after_a_backslash_keeps_systemd_from_joining() {
        let edit = apply("# note \\", &[set("K", "1")]);
        assert_eq!(edit.text, "# note \\\n\nK=1\n");
        let edit = apply("A=x\\\\\n", &[set("K", "1")]);
        assert_eq!(edit.text, "A=x\\\\\nK=1\n");
    }

    #[test]
    fn verification_catches_what_systemd_would_swallow() {
        // An open quote under systemd swallows everything after it.
        let text = "OPEN=\"abc\n";
        let doc = Document::parse(text);
        let ops = [set("K", "1")];
        let edit = plan(&doc, &ops);
        let err = check(text, &edit.text, &ops).unwrap_err();
        assert_eq!(err.reader, Reader::Systemd);
        assert_eq!(err.key, "K");
    }

    #[test]
    fn verification_catches_an_untouched_key_read_differently() {
        let ops = [set("K", "1")];
        let err = check("A=1\nK=0\n", "A=2\nK=1\n", &ops).unwrap_err();
        assert_eq!((err.key.as_str(), err.named), ("A", false));
        let err = check("A=1\n", "A=1\nB=2\nK=1\n", &ops).unwrap_err();
        assert_eq!(err.key, "B");
    }
}

//! Planning an edit on a parsed file, and proving the result under both readers.
//!
//! Values here are raw: the caller redacts secrets before anything is reported.

use crate::encode;
use crate::parse::{
    keeps, systemd_assignments, Entries, Entry, EntryKind, KeySet, Readings, SystemdAssignment,
    SystemdReader,
};
use crate::report::{Action, Change, Warning};
use std::borrow::Cow;

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

/// What the ops ask of one key: unset wins over set (as it always did), and of several
/// sets the last value counts (the caller never passes either case).
#[derive(Clone, Copy)]
enum Want<'o> {
    Set(&'o str),
    Unset,
}

/// Builds the new content from the old text's readings, which must cover every key of
/// `ops`. Values must have passed [`encode::check`].
///
/// Untouched lines are copied in runs, straight from the old text: only the entries of
/// named keys are looked at.
pub fn plan(old: &Readings<'_>, ops: &[Op]) -> Edit {
    let text = old.text;
    let keys = KeySet::new(ops.iter().map(Op::key));
    let mut want: Vec<Option<Want<'_>>> = vec![None; keys.len()];
    for op in ops {
        let Some(k) = keys.find(op.key()) else {
            continue;
        };
        want[k] = match (op, want[k]) {
            (_, Some(Want::Unset)) | (Op::Unset { .. }, _) => Some(Want::Unset),
            (Op::Set { value, .. }, _) => Some(Want::Set(value)),
        };
    }
    // A new line gets the ending of the last line that has one (CRLF in a CRLF file).
    let newline = old.newline();

    let appended_len: usize = ops
        .iter()
        .map(|op| match op {
            Op::Set { key, value } => key.len() + value.len() * 2 + 8,
            Op::Unset { .. } => 0,
        })
        .sum();
    let mut out = String::with_capacity(text.len() + appended_len + 8);
    // out holds the old text up to `copied` (plus the edits before it); a line of the
    // old text at index i is line i + 1 + shift of the new text.
    let mut copied = 0usize;
    let mut shift: isize = 0;
    let new_line = |old_index: usize, shift: isize| (old_index as isize + shift + 1) as usize;
    let mut lines_of: Vec<Vec<usize>> = vec![Vec::new(); keys.len()];
    let mut rewritten = vec![false; keys.len()];
    let mut present = vec![false; keys.len()];

    for entry in &old.entries {
        let EntryKind::Assignment(a) = &entry.kind else {
            continue;
        };
        let Some(k) = keys.find(&a.key) else {
            continue;
        };
        let Some(want) = want[k] else { continue };
        present[k] = true;
        let span = entry.last - entry.first + 1;
        match want {
            Want::Unset => {
                lines_of[k].push(entry.first + 1);
                out.push_str(&text[copied..entry.start]);
                copied = entry.end;
                shift -= span as isize;
            }
            Want::Set(value) => {
                if reads_as(text, entry, &a.key, value) {
                    lines_of[k].push(new_line(entry.first, shift));
                    continue;
                }
                rewritten[k] = true;
                out.push_str(&text[copied..entry.start]);
                copied = entry.end;
                let ending = line_ending(entry.source(text));
                let mut emitted = 0;
                if let Some(comment) = &a.comment {
                    // systemd reads an inline comment as part of an unquoted value.
                    out.push_str(entry.indent(text));
                    out.push_str(comment);
                    out.push_str(if ending.is_empty() { newline } else { ending });
                    emitted += 1;
                }
                // Checked by the caller; an unencodable value never gets here.
                let encoded = encode::encode(value).unwrap_or_default();
                out.push_str(entry.head(text));
                out.push('=');
                out.push_str(&encoded);
                out.push_str(ending);
                emitted += 1;
                lines_of[k].push(new_line(entry.first, shift) + emitted - 1);
                shift += emitted as isize - span as isize;
            }
        }
    }
    out.push_str(&text[copied..]);
    let mut emitted = (old.lines as isize + shift) as usize;

    let mut appended = false;
    for op in ops {
        let Op::Set { key, value } = op else { continue };
        if keys.find(key).is_some_and(|k| present[k]) {
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
        if let Some(k) = keys.find(key) {
            lines_of[k].push(emitted);
        }
    }

    let changes = ops
        .iter()
        .map(|op| {
            let key = op.key();
            let k = keys.find(key);
            let old = old
                .assignments()
                .rev()
                .find(|(_, a)| a.key == key)
                .and_then(|(_, a)| a.value.as_deref().map(str::to_string));
            let lines = k.map(|k| lines_of[k].clone()).unwrap_or_default();
            let is_present = k.is_some_and(|k| present[k]);
            match op {
                Op::Set { value, .. } => Change {
                    key: key.to_string(),
                    action: if !is_present {
                        Action::Added
                    } else if k.is_some_and(|k| rewritten[k]) {
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

/// The terminator at the end of a run of whole lines (`""` for a last line without one).
fn line_ending(lines: &str) -> &str {
    if lines.ends_with("\r\n") {
        &lines[lines.len() - 2..]
    } else if lines.ends_with(['\n', '\r']) {
        &lines[lines.len() - 1..]
    } else {
        ""
    }
}

/// Whether an existing assignment already reads as `value` under both readers' rules
/// (for systemd: read on its own; a line systemd ignores, such as `export K=`, counts for
/// python-dotenv only).
fn reads_as(text: &str, entry: &Entry<'_>, key: &str, value: &str) -> bool {
    let Some(a) = entry.assignment() else {
        return false;
    };
    if a.value.as_deref() != Some(value) {
        return false;
    }
    // The last valid assignment of the key wins, as in the unit's environment.
    match systemd_assignments(entry.source(text))
        .iter()
        .rev()
        .find(|s| s.valid && s.key == key)
    {
        Some(s) => s.value == value,
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
///
/// The whole new text is read by both readers, in step with the old text (nothing is
/// kept per line); the new text's readings, for the keys `old` was read for, come back
/// with the verdict.
pub fn verify<'n>(
    old: &Readings<'_>,
    new_text: &'n str,
    ops: &[Op],
) -> (Readings<'n>, Result<Vec<Warning>, Mismatch>) {
    let named = KeySet::new(ops.iter().map(Op::key));
    let keys = &old.keys;

    // python-dotenv: the other keys' assignments, old and new in step.
    let mut entries = Vec::new();
    let mut new_stream = Entries::new(new_text);
    let dotenv_difference = {
        let new_others = std::iter::from_fn(|| {
            next_other_binding(&mut new_stream, &named, Some((keys, &mut entries)))
        });
        match &old.sequences {
            // Against the old text's record.
            Some(seq) => first_difference(seq.dotenv_others(old.text, &named), new_others),
            // Reading the old text again alongside.
            None => {
                let mut old_stream = Entries::new(old.text);
                first_difference(
                    std::iter::from_fn(|| next_other_binding(&mut old_stream, &named, None)),
                    new_others,
                )
            }
        }
    };
    // The rest of the new text, for the keys' entries and the unparsable lines.
    for entry in new_stream.by_ref() {
        if keeps(keys, &entry) {
            entries.push(entry);
        }
    }
    let lines = new_stream.lines();

    // systemd: the same, with its valid names.
    let mut systemd = Vec::new();
    let mut new_stream = SystemdReader::new(new_text);
    let systemd_difference = {
        let new_others = std::iter::from_fn(|| {
            next_other_assignment(&mut new_stream, &named, Some((keys, &mut systemd)))
                .map(|(k, v)| (k, Some(v)))
        });
        match &old.sequences {
            Some(seq) => first_difference(
                seq.systemd_others(old.text, &named)
                    .map(|(k, v)| (k, Some(v))),
                new_others,
            ),
            None => {
                let mut old_stream = SystemdReader::new(old.text);
                first_difference(
                    std::iter::from_fn(|| {
                        next_other_assignment(&mut old_stream, &named, None)
                            .map(|(k, v)| (k, Some(v)))
                    }),
                    new_others,
                )
            }
        }
    };
    systemd.extend(new_stream.filter(|a| keys.contains(a.key)));

    let new = Readings {
        text: new_text,
        keys: keys.clone(),
        entries,
        systemd,
        lines,
        sequences: None,
    };
    let verdict = judge(old, &new, ops, dotenv_difference, systemd_difference);
    (new, verdict)
}

/// The checks, in order: the named keys (python-dotenv, then systemd, key by key), then
/// the first other key python-dotenv reads differently, then systemd's.
fn judge(
    old: &Readings<'_>,
    new: &Readings<'_>,
    ops: &[Op],
    dotenv_difference: Option<String>,
    systemd_difference: Option<String>,
) -> Result<Vec<Warning>, Mismatch> {
    let mut warnings = Vec::new();
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
            warnings.push(hidden_from_systemd(new, key));
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
    let untouched = dotenv_difference
        .map(|key| (key, Reader::Dotenv))
        .or_else(|| systemd_difference.map(|key| (key, Reader::Systemd)));
    if let Some((key, reader)) = untouched {
        return Err(Mismatch {
            key,
            reader,
            got: None,
            wanted: None,
            named: false,
        });
    }
    Ok(warnings)
}

/// The key of the first assignment where the old and the new sequence of other keys'
/// assignments differ (or that one of them lacks); `None` when they agree to the end.
fn first_difference<KO, VO, KN, VN>(
    mut old: impl Iterator<Item = (KO, Option<VO>)>,
    mut new: impl Iterator<Item = (KN, Option<VN>)>,
) -> Option<String>
where
    KO: AsRef<str>,
    VO: AsRef<str>,
    KN: AsRef<str>,
    VN: AsRef<str>,
{
    loop {
        match (old.next(), new.next()) {
            (None, None) => return None,
            (Some((ka, va)), Some((kb, vb)))
                if ka.as_ref() == kb.as_ref()
                    && va.as_ref().map(AsRef::as_ref) == vb.as_ref().map(AsRef::as_ref) => {}
            (_, Some((key, _))) => return Some(key.as_ref().to_string()),
            (Some((key, _)), None) => return Some(key.as_ref().to_string()),
        }
    }
}

type Binding<'a> = (Cow<'a, str>, Option<Cow<'a, str>>);

/// The next assignment python-dotenv reads of a key not named, keeping the entries
/// [`Readings`] keeps on the way.
fn next_other_binding<'a>(
    stream: &mut Entries<'a>,
    named: &KeySet,
    mut keep: Option<(&KeySet, &mut Vec<Entry<'a>>)>,
) -> Option<Binding<'a>> {
    for entry in stream.by_ref() {
        let other = matches!(&entry.kind, EntryKind::Assignment(a) if !named.contains(&a.key));
        if let Some((keys, kept)) = keep.as_mut() {
            if keeps(keys, &entry) {
                if !other {
                    kept.push(entry);
                    continue;
                }
                kept.push(entry.clone());
            }
        }
        if let (true, EntryKind::Assignment(a)) = (other, entry.kind) {
            return Some((a.key, a.value));
        }
    }
    None
}

/// The next assignment systemd reads (a valid name) of a key not named, keeping the
/// assignments [`Readings`] keeps on the way.
fn next_other_assignment<'a>(
    stream: &mut SystemdReader<'a>,
    named: &KeySet,
    mut keep: Option<(&KeySet, &mut Vec<SystemdAssignment<'a>>)>,
) -> Option<(&'a str, Cow<'a, str>)> {
    for a in stream.by_ref() {
        let other = a.valid && !named.contains(a.key);
        if let Some((keys, kept)) = keep.as_mut() {
            if keys.contains(a.key) {
                if !other {
                    kept.push(a);
                    continue;
                }
                kept.push(a.clone());
            }
        }
        if other {
            return Some((a.key, a.value));
        }
    }
    None
}

/// Why systemd does not see a key that python-dotenv reads.
fn hidden_from_systemd(new: &Readings<'_>, key: &str) -> Warning {
    let last = new
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

    fn readings<'a>(text: &'a str, ops: &[Op]) -> Readings<'a> {
        Readings::recording(text, ops.iter().map(Op::key))
    }

    fn check(old: &str, new: &str, ops: &[Op]) -> Result<Vec<Warning>, Mismatch> {
        verify(&readings(old, ops), new, ops).1
    }

    fn apply(text: &str, ops: &[Op]) -> Edit {
        let edit = plan(&readings(text, ops), ops);
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
        let ops = [set("K", "2")];
        let edit = plan(&readings(text, &ops), &ops);
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
        let ops = [set("K", "1")];
        let edit = plan(&readings(text, &ops), &ops);
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

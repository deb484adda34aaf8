//! What an edit keeps of one text under both readers (python-dotenv's and systemd's, from
//! the `envfile` crate): the named keys' assignments, the unparsable lines, and (for the
//! old text) a compact record of every assignment that the new text is checked against.

use envfile::{Assignment, Entries, Entry, EntryKind, SystemdAssignment, SystemdReader};

/// The keys a command names, for checking every assignment of a file against: sorted,
/// with a mask of their lengths so that most keys are turned away without comparing
/// bytes, and no hashing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<String>,
    lengths: u64,
}

impl KeySet {
    pub fn new<'k>(keys: impl IntoIterator<Item = &'k str>) -> KeySet {
        let mut keys: Vec<String> = keys.into_iter().map(str::to_string).collect();
        keys.sort_unstable();
        keys.dedup();
        let lengths = keys.iter().fold(0, |m, k| m | KeySet::length_bit(k));
        KeySet { keys, lengths }
    }

    #[inline]
    fn length_bit(key: &str) -> u64 {
        1 << key.len().min(63)
    }

    /// The key's index among the keys (sorted order).
    #[inline]
    pub fn find(&self, key: &str) -> Option<usize> {
        if self.lengths & KeySet::length_bit(key) == 0 {
            return None;
        }
        self.keys.binary_search_by(|k| k.as_str().cmp(key)).ok()
    }

    #[inline]
    pub fn contains(&self, key: &str) -> bool {
        self.find(key).is_some()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(String::as_str)
    }
}

/// What an edit needs from one text, under both readers, for a set of keys: nothing
/// here grows with the file but the assignments of those keys and the lines
/// python-dotenv cannot parse. Queries are for keys of the set only.
#[derive(Debug, Clone)]
pub struct Readings<'a> {
    pub text: &'a str,
    pub keys: KeySet,
    /// python-dotenv's entries for the keys' assignments and the unparsable lines, in
    /// order.
    pub entries: Vec<Entry<'a>>,
    /// systemd's assignments of the keys (valid names or not), in order.
    pub systemd: Vec<SystemdAssignment<'a>>,
    /// The number of physical lines.
    pub lines: usize,
    /// Every assignment each reader reads, when asked for ([`Readings::recording`]).
    pub sequences: Option<Sequences>,
}

/// Every assignment of a text as each reader reads it, in order (systemd's: valid names
/// only), 16 bytes each: spans of the text, or of a side buffer for what a reader
/// rewrote (escapes, CRLF inside quotes). What the new text is checked against, without
/// reading the old one again.
#[derive(Debug, Clone, Default)]
pub struct Sequences {
    owned: String,
    dotenv: Vec<Packed>,
    systemd: Vec<Packed>,
}

/// A key and a value, each `(start, len)`; a start with [`IN_OWNED`] set is in the side
/// buffer, a value of length [`ABSENT`] is python-dotenv's `None` (a bare `KEY`).
#[derive(Debug, Clone, Copy)]
struct Packed {
    key: (u32, u32),
    value: (u32, u32),
}

const IN_OWNED: u32 = 1 << 31;
const ABSENT: u32 = u32::MAX;
/// Texts up to this size are recorded (spans fit in 31 bits, the side buffer too).
const RECORD_LIMIT: usize = 1 << 30;

impl Sequences {
    fn span(&mut self, text: &str, s: &str) -> (u32, u32) {
        let at = (s.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
        if at <= text.len() && s.len() <= text.len() - at {
            (at as u32, s.len() as u32)
        } else {
            let at = self.owned.len();
            self.owned.push_str(s);
            (at as u32 | IN_OWNED, s.len() as u32)
        }
    }

    fn get<'s>(&'s self, text: &'s str, (at, len): (u32, u32)) -> &'s str {
        let (source, at) = if at & IN_OWNED != 0 {
            (self.owned.as_str(), (at & !IN_OWNED) as usize)
        } else {
            (text, at as usize)
        };
        &source[at..at + len as usize]
    }

    fn push_dotenv(&mut self, text: &str, a: &Assignment<'_>) {
        let key = self.span(text, &a.key);
        let value = match &a.value {
            Some(v) => self.span(text, v),
            None => (0, ABSENT),
        };
        self.dotenv.push(Packed { key, value });
    }

    fn push_systemd(&mut self, text: &str, a: &SystemdAssignment<'_>) {
        let key = self.span(text, a.key);
        let value = self.span(text, &a.value);
        self.systemd.push(Packed { key, value });
    }

    /// python-dotenv's assignments of `text` (the text recorded) whose keys are not in
    /// `skip`.
    pub fn dotenv_others<'s>(
        &'s self,
        text: &'s str,
        skip: &'s KeySet,
    ) -> impl Iterator<Item = (&'s str, Option<&'s str>)> + 's {
        self.dotenv.iter().filter_map(move |p| {
            let key = self.get(text, p.key);
            if skip.contains(key) {
                return None;
            }
            let value = (p.value.1 != ABSENT).then(|| self.get(text, p.value));
            Some((key, value))
        })
    }

    /// systemd's assignments (valid names) of `text` whose keys are not in `skip`.
    pub fn systemd_others<'s>(
        &'s self,
        text: &'s str,
        skip: &'s KeySet,
    ) -> impl Iterator<Item = (&'s str, &'s str)> + 's {
        self.systemd.iter().filter_map(move |p| {
            let key = self.get(text, p.key);
            (!skip.contains(key)).then(|| (key, self.get(text, p.value)))
        })
    }
}

impl<'a> Readings<'a> {
    /// Reads the text under both readers (one pass each).
    pub fn of<'k>(text: &'a str, keys: impl IntoIterator<Item = &'k str>) -> Readings<'a> {
        Readings::read(text, KeySet::new(keys), false)
    }

    /// [`Readings::of`], also recording every assignment ([`Sequences`]) for
    /// [`crate::edit::verify`] to check the new text against.
    pub fn recording<'k>(text: &'a str, keys: impl IntoIterator<Item = &'k str>) -> Readings<'a> {
        Readings::read(text, KeySet::new(keys), text.len() < RECORD_LIMIT)
    }

    fn read(text: &'a str, keys: KeySet, record: bool) -> Readings<'a> {
        let mut sequences = record.then(Sequences::default);
        let mut entries = Vec::new();
        let mut stream = Entries::new(text);
        for entry in &mut stream {
            if let (Some(seq), EntryKind::Assignment(a)) = (&mut sequences, &entry.kind) {
                seq.push_dotenv(text, a);
            }
            if keeps(&keys, &entry) {
                entries.push(entry);
            }
        }
        let lines = stream.lines();
        let mut systemd = Vec::new();
        for a in SystemdReader::new(text) {
            if let Some(seq) = &mut sequences {
                if a.valid {
                    seq.push_systemd(text, &a);
                }
            }
            if keys.contains(a.key) {
                systemd.push(a);
            }
        }
        Readings {
            text,
            keys,
            entries,
            systemd,
            lines,
            sequences,
        }
    }

    /// The assignments of the keys python-dotenv reads, in order.
    pub fn assignments(&self) -> impl DoubleEndedIterator<Item = (&Entry<'a>, &Assignment<'a>)> {
        self.entries
            .iter()
            .filter_map(|e| e.assignment().map(|a| (e, a)))
    }

    /// python-dotenv's value of a key: `None` when absent, `Some(None)` for a bare `KEY`
    /// line (the last binding wins).
    pub fn dotenv(&self, key: &str) -> Option<Option<&str>> {
        debug_assert!(self.keys.contains(key), "{key} was not read");
        self.assignments()
            .rev()
            .find(|(_, a)| a.key == key)
            .map(|(_, a)| a.value.as_deref())
    }

    /// The value a unit gets from `EnvironmentFile=` (the last valid assignment wins).
    pub fn systemd(&self, key: &str) -> Option<&str> {
        debug_assert!(self.keys.contains(key), "{key} was not read");
        self.systemd
            .iter()
            .rev()
            .find(|a| a.valid && a.key == key)
            .map(|a| a.value.as_ref())
    }

    /// The ending for a new line: that of the last line that has one (CRLF in a CRLF
    /// file), else LF.
    pub fn newline(&self) -> &'a str {
        let bytes = self.text.as_bytes();
        match bytes.iter().rposition(|&b| b == b'\n' || b == b'\r') {
            Some(i) if bytes[i] == b'\n' && i > 0 && bytes[i - 1] == b'\r' => &self.text[i - 1..=i],
            Some(i) => &self.text[i..=i],
            None => "\n",
        }
    }
}

/// Whether [`Readings`] keeps an entry: an assignment of one of the keys, or a line
/// python-dotenv cannot parse.
#[inline]
pub fn keeps(keys: &KeySet, entry: &Entry<'_>) -> bool {
    match &entry.kind {
        EntryKind::Assignment(a) => keys.contains(&a.key),
        EntryKind::Unparsable => true,
        _ => false,
    }
}

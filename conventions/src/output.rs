//! How a tool talks: one JSON document on stdout (one line off a terminal), or, on a
//! terminal without `--json`, the short view of the report that the tool made (when it
//! made one); human messages on stderr prefixed with the tool's name, the summary line
//! last; `-q` for quiet, colour only on a terminal and never with `NO_COLOR`.

use crate::secrets;
use std::io::{IsTerminal, Write};

/// The layout of the JSON document on stdout (`--json=pretty|short`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JsonStyle {
    /// Indented, for people.
    Pretty,
    /// One line, for scripts and pipes.
    Short,
}

impl JsonStyle {
    /// The style asked for, else pretty on a terminal and short otherwise.
    pub fn resolve(requested: Option<JsonStyle>) -> JsonStyle {
        requested.unwrap_or_else(|| {
            if std::io::stdout().is_terminal() {
                JsonStyle::Pretty
            } else {
                JsonStyle::Short
            }
        })
    }

    pub fn as_flag(self) -> &'static str {
        match self {
            JsonStyle::Pretty => "--json=pretty",
            JsonStyle::Short => "--json=short",
        }
    }
}

/// What stdout gets: JSON in a style, or the short view for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rendering {
    Json(JsonStyle),
    View,
}

impl Rendering {
    /// The view when stdout is a terminal, no `--json` was asked for and the tool made a
    /// view; JSON otherwise (a script that runs under a pseudo-terminal passes `--json`).
    pub fn resolve(requested: Option<JsonStyle>, has_view: bool) -> Rendering {
        if requested.is_none() && has_view && std::io::stdout().is_terminal() {
            Rendering::View
        } else {
            Rendering::Json(JsonStyle::resolve(requested))
        }
    }
}

/// The view as it may reach the terminal: secrets scrubbed, control characters escaped
/// (newlines kept), ending with one newline.
pub fn view_text(view: &str) -> String {
    let mut text = terminal_safe(&secrets::scrub(view), true);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Whether colour may be used on stderr: only on a terminal, never when `NO_COLOR` is set
/// to anything non-empty (no-color.org), never with `TERM=dumb`.
pub fn stderr_colour_allowed() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    !no_color && !dumb && std::io::stderr().is_terminal()
}

/// The stderr side of a tool. Every message is scrubbed of secrets before it is written.
#[derive(Debug, Clone)]
pub struct Output {
    tool: &'static str,
    quiet: bool,
    colour: bool,
}

impl Output {
    pub fn new(tool: &'static str, quiet: bool) -> Self {
        Output {
            tool,
            quiet,
            colour: stderr_colour_allowed(),
        }
    }

    /// An Output that writes nothing but errors and never colours: for tests and libraries.
    pub fn silent(tool: &'static str) -> Self {
        Output {
            tool,
            quiet: true,
            colour: false,
        }
    }

    pub fn tool(&self) -> &'static str {
        self.tool
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Progress: what is happening now. Silenced by `-q`.
    pub fn progress(&self, message: &str) {
        if !self.quiet {
            self.write(None, message);
        }
    }

    /// A warning. Silenced by `-q` (which keeps only errors).
    pub fn warn(&self, message: &str) {
        if !self.quiet {
            self.write(Some(("warning", "33")), message);
        }
    }

    /// The error in words. Never silenced.
    pub fn error(&self, message: &str) {
        self.write(Some(("error", "31")), message);
    }

    /// A line from a child process's stderr, passed on as it is (it carries its own
    /// prefix), scrubbed all the same.
    pub fn pass_through(&self, line: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{}", terminal_safe(&secrets::scrub(line), false));
    }

    fn write(&self, label: Option<(&str, &str)>, message: &str) {
        let message = terminal_safe(&secrets::scrub(message), false);
        let line = match (label, self.colour) {
            (Some((label, code)), true) => {
                format!("{}: \x1b[1;{code}m{label}\x1b[0m: {message}", self.tool)
            }
            (Some((label, _)), false) => format!("{}: {label}: {message}", self.tool),
            (None, _) => format!("{}: {message}", self.tool),
        };
        let mut err = std::io::stderr().lock();
        // A closed stderr is no reason to fail the operation.
        let _ = writeln!(err, "{line}");
    }
}

/// Text as it may reach a terminal: every control character but tab (and newline, when
/// `keep_newlines`) written as an escape (`\u{1b}`), so names, file lines or query text
/// that came from outside cannot move the cursor, retitle the window or fake a line.
pub fn terminal_safe(text: &str, keep_newlines: bool) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => out.push(c),
            '\n' if keep_newlines => out.push(c),
            c if c.is_control() => out.extend(c.escape_debug()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(terminal_safe("plain name", false), "plain name");
        assert_eq!(
            terminal_safe("a\u{1b}]0;owned\u{7}b", false),
            "a\\u{1b}]0;owned\\u{7}b"
        );
        assert_eq!(terminal_safe("x\ry\nz\tw", false), "x\\ry\\nz\tw");
        assert_eq!(terminal_safe("x\ny", true), "x\ny");
        assert_eq!(
            terminal_safe("caf\u{e9} \u{9b}", false),
            "caf\u{e9} \\u{9b}"
        );
    }
}

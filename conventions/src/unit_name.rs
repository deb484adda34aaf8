//! Unit names, checked against systemd's unit-name rules before anything runs.
//!
//! A name must be safe to hand to systemctl as an argument (never an option, never a
//! path, never a glob) and must be a name systemd itself accepts, so that a typo is a
//! usage error here rather than a surprise there.

use std::fmt;

/// systemd's UNIT_NAME_MAX (256) less the terminating NUL.
const UNIT_NAME_MAX: usize = 255;

/// The unit types systemd knows; a name ending in anything else gets `.service` appended,
/// as systemctl's own name mangling does.
const UNIT_TYPES: [&str; 11] = [
    "service",
    "socket",
    "target",
    "device",
    "mount",
    "automount",
    "swap",
    "timer",
    "path",
    "slice",
    "scope",
];

/// A validated, complete unit name such as `cornice.service` or `foo@bar.service`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnitName(String);

impl UnitName {
    /// Validates `input` and completes a bare name to `NAME.service`.
    pub fn parse(input: &str) -> Result<UnitName, String> {
        let shown = input.escape_debug();
        if input.is_empty() {
            return Err("an empty unit name was given: name the unit, e.g. cornice".into());
        }
        if input.starts_with('-') {
            return Err(format!(
                "unit name \"{shown}\" starts with '-': a unit name is never an option"
            ));
        }
        if let Some(bad) = input.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "unit name \"{shown}\" contains whitespace or a control character ({:?})",
                bad
            ));
        }
        if input.contains('/') {
            return Err(format!(
                "unit name \"{shown}\" contains '/': give a unit name, not a path"
            ));
        }
        if let Some(bad) = input.chars().find(|c| matches!(c, '*' | '?' | '[' | ']')) {
            return Err(format!(
                "unit name \"{shown}\" contains the glob character '{bad}': name each unit exactly"
            ));
        }
        let full = match input.rsplit_once('.') {
            Some((_, suffix)) if UNIT_TYPES.contains(&suffix) => input.to_string(),
            _ => format!("{input}.service"),
        };
        if full.len() > UNIT_NAME_MAX {
            return Err(format!(
                "unit name \"{shown}\" is longer than systemd's limit of {UNIT_NAME_MAX} bytes"
            ));
        }
        let (stem, _suffix) = full.rsplit_once('.').unwrap_or((&full, ""));
        let (prefix, instance) = match stem.split_once('@') {
            Some((p, i)) => (p, Some(i)),
            None => (stem, None),
        };
        if prefix.is_empty() {
            return Err(format!(
                "unit name \"{shown}\" has nothing before its suffix"
            ));
        }
        if let Some(bad) = prefix.chars().find(|&c| !valid_char(c)) {
            return Err(format!(
                "unit name \"{shown}\" contains '{bad}', which systemd does not allow in unit names \
                 (letters, digits and : - _ . \\ only)"
            ));
        }
        match instance {
            Some("") => {
                return Err(format!(
                    "unit name \"{shown}\" is a template: name an instance, e.g. {prefix}@NAME.{}",
                    full.rsplit_once('.').map_or("service", |(_, s)| s)
                ))
            }
            Some(instance) => {
                if let Some(bad) = instance.chars().find(|&c| !valid_char(c) && c != '@') {
                    return Err(format!(
                        "unit name \"{shown}\" has '{bad}' in its instance, which systemd does not allow \
                         (letters, digits and : - _ . \\ @ only)"
                    ));
                }
            }
            None => {}
        }
        Ok(UnitName(full))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// systemd's VALID_CHARS for unit names.
fn valid_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '\\')
}

impl fmt::Display for UnitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for UnitName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> String {
        UnitName::parse(input)
            .unwrap_or_else(|e| panic!("{input}: {e}"))
            .to_string()
    }

    #[test]
    fn bare_names_mean_service() {
        assert_eq!(ok("cornice"), "cornice.service");
        assert_eq!(ok("cornice-monitor"), "cornice-monitor.service");
        assert_eq!(ok("foo.bar"), "foo.bar.service");
        assert_eq!(ok("dbus.socket"), "dbus.socket");
        assert_eq!(ok("x.timer"), "x.timer");
        assert_eq!(ok("cornice.service"), "cornice.service");
    }

    #[test]
    fn template_instances_are_names_and_bare_templates_are_not() {
        assert_eq!(ok("foo@bar"), "foo@bar.service");
        assert_eq!(ok("foo@bar.service"), "foo@bar.service");
        assert_eq!(ok("getty@tty1.service"), "getty@tty1.service");
        assert_eq!(ok("foo@a@b"), "foo@a@b.service");
        assert_eq!(ok(r"foo@x\x2dy"), r"foo@x\x2dy.service");
        let err = UnitName::parse("foo@.service").unwrap_err();
        assert!(err.contains("template"), "{err}");
        assert!(UnitName::parse("foo@").is_err());
        assert!(UnitName::parse("@bar.service").is_err());
    }

    #[test]
    fn unsafe_or_invalid_names_are_refused() {
        for bad in [
            "",
            "-x",
            "--now",
            "../etc/passwd",
            "/etc/passwd",
            "a b",
            "a\tb",
            "a\nb",
            "foo;reboot",
            "foo$(x)",
            "foo|x",
            "*",
            "cornice*",
            "corn?ce",
            "[ab].service",
            ".service",
            "caf\u{e9}",
            "foo@bar baz",
            "foo@b;r",
        ] {
            assert!(UnitName::parse(bad).is_err(), "{bad:?} must be refused");
        }
        let long = "a".repeat(250);
        assert!(
            UnitName::parse(&long).is_err(),
            "250 + .service is too long"
        );
        assert!(UnitName::parse(&"a".repeat(240)).is_ok());
    }

    #[test]
    fn messages_name_the_input() {
        let err = UnitName::parse("foo;reboot").unwrap_err();
        assert!(err.contains("foo;reboot") && err.contains(';'), "{err}");
        let err = UnitName::parse("a\nb").unwrap_err();
        assert!(
            err.contains("a\\nb"),
            "control characters are shown escaped: {err}"
        );
    }
}

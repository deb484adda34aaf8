//! The ENVIRONMENT section of each man page: exactly the variables that tool reads.
//!
//! A test reads each tool's sources (and those of the workspace crates it is built from)
//! and fails when one reads a variable its page does not list, or a page lists one that
//! its tool never names.

/// The variables the shared harness (conventions) reads, for every tool.
const COMMON: [(&str, &str); 2] = [
    ("NO_COLOR", "Set and not empty: no colour on stderr."),
    ("TERM", "Set to dumb: no colour on stderr."),
];

/// The variables `tool` reads, each with what it does.
pub fn variables(tool: &str) -> Vec<(&'static str, &'static str)> {
    let own: &[(&str, &str)] = match tool {
        "svcctl" => &[
            (
                "SYSTEMD_OFFLINE",
                "1, yes, true or on: no service manager is reached, as with systemctl; svcctl reports that.",
            ),
            (
                "XDG_RUNTIME_DIR",
                "With --user: the directory where the calling user's service manager listens (systemd/private).",
            ),
        ],
        "pgtruncate" => &[
            (
                "DATABASE_URL",
                "The database when neither --database-url nor --env-file gives one.",
            ),
            ("PGHOST", "The host, where the URL names none (as libpq)."),
            ("PGHOSTADDR", "The host's address, where the URL names none."),
            ("PGPORT", "The port, where the URL names none."),
            ("PGUSER", "The user, where the URL names none; else the OS user."),
            ("PGDATABASE", "The database name, where the URL names none; else the user."),
            ("PGPASSWORD", "The password, where the URL carries none."),
            (
                "PGPASSFILE",
                "The password file, where the URL names none [default: ~/.pgpass].",
            ),
            (
                "PGSSLMODE",
                "disable, allow, prefer, require, verify-ca or verify-full, where the URL names none [default: prefer].",
            ),
            (
                "PGSSLROOTCERT",
                "The CA certificate(s) for verify-ca and verify-full, or system [default: ~/.postgresql/root.crt].",
            ),
            ("PGSSLCERT", "The client certificate, where the URL names none."),
            ("PGSSLKEY", "The client certificate's key, where the URL names none."),
            ("PGCONNECT_TIMEOUT", "Seconds to wait for a connection, where the URL names none."),
            ("PGOPTIONS", "Server options sent at connection, where the URL names none."),
            (
                "HOME",
                "Where ~/.pgpass and ~/.postgresql/root.crt are, when the passwd entry does not say.",
            ),
            ("USER", "The OS user, when the passwd entry does not say."),
            (
                "HOLDKIT_PROFILE_DIR",
                "Where --preset NAME looks for NAME.toml [default: /etc/holdkit/profiles].",
            ),
        ],
        "holdctl" => &[
            (
                "HOLDCTL_DATABASE_URL",
                "The database, as --database-url (which holdctl moves here at once, out of argv).",
            ),
            (
                "PATH",
                "Where envpatch, svcctl and pgtruncate are looked for when they are not beside holdctl.",
            ),
            (
                "SUDO_USER",
                "Who asked for the hold, recorded in the hold record (else the calling user).",
            ),
            (
                "HOLDKIT_PROFILE_DIR",
                "Where --profile NAME looks for NAME.toml, and what holdctl profiles lists [default: /etc/holdkit/profiles]; pgtruncate's --preset gets the same.",
            ),
        ],
        _ => &[],
    };
    COMMON.iter().chain(own).copied().collect()
}

/// A sentence after the list, where one is needed.
pub fn note(tool: &str) -> Option<&'static str> {
    match tool {
        "pgtruncate" => Some(
            "The PG* variables fill in what the URL leaves out. A URL from an --env-file that anyone but root or the caller can write gets none of them, and no password file: only what it carries itself.",
        ),
        "holdctl" => Some(
            "Each step runs envpatch, svcctl or pgtruncate with holdctl's environment (without HOLDCTL_DATABASE_URL), so the variables on their pages apply to those steps.",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::variables;
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    /// The workspace crates `krate` is built from, itself included.
    fn crates_of(krate: &str, seen: &mut BTreeSet<String>) {
        if !seen.insert(krate.to_string()) {
            return;
        }
        let manifest = std::fs::read_to_string(root().join(krate).join("Cargo.toml")).unwrap();
        let deps = manifest
            .split("\n[dependencies]\n")
            .nth(1)
            .unwrap_or("")
            .split("\n[")
            .next()
            .unwrap_or("");
        for line in deps.lines() {
            let name = line.split(['.', ' ', '=']).next().unwrap_or("");
            if let Some(dir) = member_dir(name) {
                crates_of(&dir, seen);
            }
        }
    }

    /// The workspace member directory of the package `name` (a package may be named
    /// otherwise than its directory: holdkit-profile lives in profile/).
    fn member_dir(name: &str) -> Option<String> {
        if name.is_empty() {
            return None;
        }
        let wanted = format!("name = \"{name}\"");
        std::fs::read_dir(root())
            .unwrap()
            .filter_map(|e| e.ok())
            .find(|e| {
                std::fs::read_to_string(e.path().join("Cargo.toml"))
                    .is_ok_and(|m| m.lines().any(|l| l.trim() == wanted))
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs")
                // A crate's unit tests in a file of their own (`#[cfg(test)] mod tests;`).
                && path.file_name().is_some_and(|n| n != "tests.rs")
            {
                out.push(path);
            }
        }
    }

    /// Every all-capitals string literal in `line`.
    fn names_in(line: &str) -> Vec<String> {
        line.split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| {
                s.len() > 1
                    && s.starts_with(|c: char| c.is_ascii_uppercase())
                    && s.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
            .map(str::to_string)
            .collect()
    }

    /// What `tool`'s code reads from the environment, as far as a line shows it: the
    /// names given to a `var`/`var_os` call or to pgtruncate's parameter-or-variable
    /// helpers, and `*_VAR` constants; and every all-capitals literal its code names.
    fn read_and_named(tool: &str) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut crates = BTreeSet::new();
        crates_of(tool, &mut crates);
        let (mut read, mut named) = (BTreeSet::new(), BTreeSet::new());
        for krate in crates {
            let mut files = Vec::new();
            rust_files(&root().join(&krate).join("src"), &mut files);
            for file in files {
                let text = std::fs::read_to_string(&file).unwrap();
                // Unit tests set variables of their own; they sit at the end of a file.
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                for line in code.lines() {
                    let reads = ["var(", "var_os(", "pick(", "client_file(", "_VAR: &str"]
                        .iter()
                        .any(|m| line.contains(m));
                    for name in names_in(line) {
                        if reads {
                            read.insert(name.clone());
                        }
                        named.insert(name);
                    }
                }
            }
        }
        (read, named)
    }

    #[test]
    fn each_page_lists_exactly_the_variables_its_tool_reads() {
        for tool in ["envpatch", "svcctl", "pgtruncate", "holdctl"] {
            let listed: BTreeSet<String> =
                variables(tool).iter().map(|(v, _)| v.to_string()).collect();
            let (read, named) = read_and_named(tool);
            let unlisted: Vec<_> = read.difference(&listed).collect();
            assert!(
                unlisted.is_empty(),
                "{tool} reads {unlisted:?}, which its man page's ENVIRONMENT does not list: add them to docgen/src/environment.rs"
            );
            let stale: Vec<_> = listed.difference(&named).collect();
            assert!(
                stale.is_empty(),
                "{tool}'s man page lists {stale:?}, which its code never names"
            );
        }
    }

    #[test]
    fn the_scan_sees_reads_through_each_helper() {
        let (read, _) = read_and_named("pgtruncate");
        for name in ["NO_COLOR", "DATABASE_URL", "PGHOST", "PGPASSWORD", "HOME"] {
            assert!(read.contains(name), "{name}: {read:?}");
        }
        let (read, _) = read_and_named("holdctl");
        assert!(read.contains("HOLDCTL_DATABASE_URL"), "{read:?}");
        assert!(!read.contains("PGHOST"), "{read:?}");
    }
}

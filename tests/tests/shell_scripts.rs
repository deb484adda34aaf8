//! Every shell script of the repository passes shellcheck with no finding at all (error,
//! warning, info or style). Scripts are found by name (`*.sh`) or by their `#!` line, so
//! a new one cannot be left out.

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{repo_root, require};

/// Whether the file is a shell script: `*.sh`, or a `#!` line naming sh, bash or dash.
fn is_shell_script(path: &Path) -> bool {
    if path.extension().is_some_and(|e| e == "sh") {
        return true;
    }
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let Some(line) = std::str::from_utf8(first)
        .ok()
        .and_then(|l| l.strip_prefix("#!"))
    else {
        return false;
    };
    let mut words = line.split_whitespace();
    let mut program = words.next().unwrap_or("");
    if program.ends_with("/env") {
        program = words.find(|w| !w.starts_with('-')).unwrap_or("");
    }
    let name = program.rsplit('/').next().unwrap_or("");
    matches!(name, "sh" | "bash" | "dash")
}

/// The repository's files, without build output and version control.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            if !matches!(entry.file_name().to_str(), Some("target" | ".git")) {
                files(&path, out);
            }
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

fn shell_scripts() -> Vec<PathBuf> {
    let mut all = Vec::new();
    files(&repo_root(), &mut all);
    let mut scripts: Vec<PathBuf> = all.into_iter().filter(|p| is_shell_script(p)).collect();
    scripts.sort();
    scripts
}

#[test]
fn every_shell_script_passes_shellcheck() {
    let found = Command::new("shellcheck")
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run shellcheck: {e}"));
    let Some(_) = require("shellcheck (apt package shellcheck)", found) else {
        return;
    };
    let scripts = shell_scripts();
    let root = repo_root();
    let names: Vec<String> = scripts
        .iter()
        .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    // The scripts everyone runs are among them: the walk works.
    for expected in [
        "scripts/test.sh",
        "scripts/lib.sh",
        "scripts/sandbox/pg.sh",
        ".ci/run",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
    }
    // -x follows `source`d files (lib.sh), each script's directives say where they are.
    let out = Command::new("shellcheck")
        .arg("-x")
        .args(&names)
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "shellcheck has findings in {names:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn shell_scripts_are_found_by_name_or_by_their_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("a.sh", "echo\n", true),
        ("b", "#!/usr/bin/env bash\necho\n", true),
        ("c", "#!/bin/sh -e\necho\n", true),
        ("d", "#!/usr/bin/env -S bash -e\necho\n", true),
        ("e", "#!/usr/bin/env python3\nprint()\n", false),
        ("f.py", "print()\n", false),
        ("g", "\x7fELF", false),
    ];
    for (name, text, shell) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        assert_eq!(is_shell_script(&path), shell, "{name}");
    }
}

/// The apt packages a function of scripts/lib.sh names (`echo PACKAGE` lines).
fn packages_in(lib: &str, function: &str) -> Vec<String> {
    let body = lib
        .split(&format!("\n{function}() {{\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no {function} in scripts/lib.sh"))
        .split("\n}\n")
        .next()
        .unwrap();
    body.split("echo ")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The `code` spans of the README's bullet that starts with `start`.
fn bullet(readme: &str, start: &str) -> Vec<String> {
    let text = readme
        .split(&format!("\n{start}"))
        .nth(1)
        .unwrap_or_else(|| panic!("README.md has no bullet {start:?}"))
        .split("\n- ")
        .next()
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap();
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn the_readme_says_what_each_command_installs() {
    let lib = std::fs::read_to_string(repo_root().join("scripts/lib.sh")).unwrap();
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let demo = packages_in(&lib, "demo_packages");
    let test = packages_in(&lib, "test_packages");
    assert!(demo.contains(&"postgresql".to_string()), "{demo:?}");
    assert!(test.contains(&"shellcheck".to_string()), "{test:?}");
    let said_for_demo = bullet(&readme, "- `demo.sh`");
    let said_for_test = bullet(&readme, "- `test.sh`");
    for package in &demo {
        assert!(
            said_for_demo.contains(package),
            "README.md does not say demo.sh installs {package}"
        );
    }
    for said in said_for_demo.iter().filter(|s| s.as_str() != "demo.sh") {
        assert!(
            demo.contains(said),
            "README.md says demo.sh installs {said}, which scripts/lib.sh's demo_packages does not"
        );
    }
    // "the demo's packages and ...": a demo package the tests check for again is said.
    for package in test.iter().filter(|p| !demo.contains(p)) {
        assert!(
            said_for_test.contains(package),
            "README.md does not say test.sh installs {package}"
        );
    }
    // The demo installs nothing only the tests need.
    for package in ["openssh-server", "strace", "dbus", "shellcheck"] {
        assert!(!demo.contains(&package.to_string()), "{package}: {demo:?}");
    }
}

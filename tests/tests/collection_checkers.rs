//! The Ansible ecosystem's own checkers on the holdkit.fleet collection, as its maintainers
//! run them (scripts/check-collection.sh): `ansible-test sanity`, every test, on the built
//! and installed collection, and `ansible-lint` with the production profile on its source.
//! The built tarball carries the licence and the changelog.

use std::path::PathBuf;
use std::process::Command;
use support::{repo_root, require};

/// The ansible-core virtualenv with ansible-lint (ensure_ansible in scripts/lib.sh).
fn ansible_bin() -> Result<PathBuf, String> {
    let dir = std::env::var_os("HOLD_ANSIBLE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/ansible-venv/bin"));
    for tool in ["ansible-test", "ansible-lint"] {
        if !dir.join(tool).is_file() {
            return Err(format!(
                "no {tool} in {} (HOLD_ANSIBLE_BIN; scripts/test.sh installs it)",
                dir.display()
            ));
        }
    }
    Ok(dir)
}

#[test]
fn the_collection_passes_ansible_test_sanity_and_ansible_lint() {
    let Some(bin) = require("ansible-test and ansible-lint", ansible_bin()) else {
        return;
    };
    let work = tempfile::Builder::new()
        .prefix("holdkit-collection-check.")
        .tempdir()
        .unwrap();
    let out = Command::new(repo_root().join("scripts/check-collection.sh"))
        .arg(work.path())
        .env("HOLD_ANSIBLE_BIN", &bin)
        .output()
        .unwrap();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the checkers failed:\n{output}");
    // Both really ran, and sanity ran the tests that matter most for a collection.
    for test in [
        "validate-modules",
        "pylint",
        "pep8",
        "ansible-doc",
        "changelog",
    ] {
        assert!(
            output.contains(&format!("Running sanity test \"{test}\"")),
            "sanity test {test} did not run:\n{output}"
        );
    }
    assert!(
        output.contains("Profile 'production' was required, and it passed"),
        "ansible-lint did not pass the production profile:\n{output}"
    );

    let tarball = work.path().join("holdkit-fleet-0.1.0.tar.gz");
    let list = Command::new("tar")
        .arg("-tzf")
        .arg(&tarball)
        .output()
        .unwrap();
    assert!(list.status.success(), "{list:?}");
    let files = String::from_utf8_lossy(&list.stdout);
    for file in [
        "LICENSE",
        "CHANGELOG.rst",
        "changelogs/changelog.yaml",
        "changelogs/config.yaml",
    ] {
        assert!(
            files.lines().any(|l| l.trim_start_matches("./") == file),
            "{file} is not in the tarball:\n{files}"
        );
    }
}

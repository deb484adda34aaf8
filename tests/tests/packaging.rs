//! The Debian package: scripts/package.sh builds it with cargo-deb; it is unpacked into a
//! throwaway root (dpkg -x) and every installed binary, man page and completion is used.

use std::path::Path;
use std::process::Command;
use support::{repo_root, require};

/// The .deb that scripts/test.sh built with `scripts/package.sh --dev` before the tests
/// (cargo holds the build directory while tests run, so a test cannot build it itself).
/// When cargo-deb could not be installed, test.sh says why in HOLD_DEB_SKIP: the issue
/// allows this one skip, loudly, even in CI.
fn built_deb() -> Option<std::path::PathBuf> {
    if let Ok(why) = std::env::var("HOLD_DEB_SKIP") {
        support::announce_skip(&format!("cargo-deb could not be installed: {why}"));
        return None;
    }
    let deb = require(
        "the .deb built by scripts/package.sh (HOLD_DEB)",
        std::env::var("HOLD_DEB")
            .map_err(|_| "HOLD_DEB is not set: run ./scripts/test.sh".to_string()),
    )?;
    Some(repo_root().join(deb))
}

#[test]
fn the_deb_installs_binaries_man_pages_completions_and_the_script() {
    let Some(deb) = built_deb() else { return };
    assert!(
        deb.extension().is_some_and(|e| e == "deb"),
        "{}",
        deb.display()
    );

    let info = Command::new("dpkg-deb")
        .arg("--field")
        .arg(&deb)
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("Package: holdkit"), "{info}");

    let root = tempfile::tempdir().unwrap();
    let status = Command::new("dpkg")
        .arg("-x")
        .arg(&deb)
        .arg(root.path())
        .status()
        .unwrap();
    assert!(status.success());
    let r = root.path();

    for tool in ["envpatch", "svcctl", "pgtruncate", "holdctl"] {
        let binary = r.join("usr/bin").join(tool);
        let v = Command::new(&binary).arg("--version").output().unwrap();
        assert!(v.status.success(), "{tool} --version");
        assert!(String::from_utf8_lossy(&v.stdout).starts_with(tool));

        let page = man_page(r, tool);
        let man = Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        assert!(man.status.success(), "man -l {}", page.display());
        let text = String::from_utf8_lossy(&man.stdout);
        for section in ["EXIT STATUS", "EXAMPLES", "JSON OUTPUT", "OPTIONS"] {
            assert!(text.contains(section), "{tool}.1 lacks {section}:\n{text}");
        }
        assert!(
            text.contains("not_found"),
            "{tool}.1 has the exit-code table"
        );

        // The JSON Schema of the tool's report, exactly as committed.
        let schema = r.join(format!("usr/share/holdkit/schemas/{tool}.schema.json"));
        assert_eq!(
            std::fs::read(&schema).unwrap_or_default(),
            std::fs::read(support::repo_root().join(format!("schemas/{tool}.schema.json")))
                .unwrap(),
            "{}",
            schema.display()
        );

        let bash = r.join("usr/share/bash-completion/completions").join(tool);
        assert!(bash.is_file(), "{}", bash.display());
        let syntax = Command::new("bash").arg("-n").arg(&bash).status().unwrap();
        assert!(syntax.success(), "bash completion parses");
        assert!(r
            .join(format!("usr/share/zsh/vendor-completions/_{tool}"))
            .is_file());
        assert!(r
            .join(format!("usr/share/fish/vendor_completions.d/{tool}.fish"))
            .is_file());
    }
    let script = r.join("usr/share/holdkit/hibernate_server.sh");
    let help = Command::new(&script).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--include-opportunities"));
    assert!(r.join("usr/share/doc/holdkit/README.md").is_file());
}

fn man_page(root: &Path, tool: &str) -> std::path::PathBuf {
    let dir = root.join("usr/share/man/man1");
    for name in [format!("{tool}.1"), format!("{tool}.1.gz")] {
        if dir.join(&name).is_file() {
            return dir.join(name);
        }
    }
    panic!("no man page for {tool} in {}", dir.display());
}

//! Test support: find the holdkit binaries, run them and check the envelope, and reach the
//! real sandboxes (a throwaway PostgreSQL cluster, a throwaway systemd booted as PID 1 of
//! its own namespaces). No mock stands in for either.
//!
//! A test that needs root, PostgreSQL or systemd calls [`require`]: on a developer's
//! laptop it skips itself loudly; when `CI` is set it fails instead, so CI skips nothing.

pub mod pg;
pub mod run;
pub mod systemd;

pub use run::{bin, bin_dir, holdctl_with_wrappers, run_tool, ToolRun};

use std::path::PathBuf;

/// The repository root (the workspace this crate lives in).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Whether we run in CI, where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Checks a precondition of a test. `Err(reason)` skips the test with a loud message (see
/// [`announce_skip`]), or panics in CI. Use as
/// `let Some(x) = require("...", thing) else { return };`.
pub fn require<T>(what: &str, thing: Result<T, String>) -> Option<T> {
    match thing {
        Ok(t) => Some(t),
        Err(reason) if in_ci() => panic!("{what} is required in CI and is not available: {reason}"),
        Err(reason) => {
            announce_skip(&format!(
                "{what} is not available: {reason}. Run ./scripts/test.sh to get it"
            ));
            None
        }
    }
}

/// The variable naming the file that every skip notice is appended to, one line each;
/// scripts/test.sh sets it and counts the lines in its summary.
pub const SKIP_LOG_VAR: &str = "HOLD_SKIP_LOG";

/// Says that the running test skips itself, where libtest does not swallow it: libtest
/// captures what the print macros write for a test that passes (and a skipping test
/// passes), but not writes to the stderr handle itself. The notice also goes, as one line,
/// to the file `HOLD_SKIP_LOG` names, if set.
pub fn announce_skip(why: &str) {
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let line = format!("*** SKIPPED: {test}: {why}. ***");
    // One write each, so notices of tests running in parallel do not interleave. A
    // notice that cannot be written is not worth failing the test over.
    let _ = std::io::stderr().write_all(format!("\n{line}\n\n").as_bytes());
    if let Some(path) = std::env::var_os(SKIP_LOG_VAR) {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path);
        if let Ok(mut file) = file {
            let _ = file.write_all(format!("{line}\n").as_bytes());
        }
    }
}

/// Root, or why not.
pub fn root() -> Result<(), String> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err("this test must run as root".into())
    }
}

/// A process-wide unique suffix for names (databases, units, files).
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A root-owned directory (0755) for one test's files, holding an empty `profiles`
/// directory (for `HOLDKIT_PROFILE_DIR`) so that no /etc/holdkit/profiles of the machine
/// steers a run.
pub struct ProfileScene {
    top: tempfile::TempDir,
}

impl ProfileScene {
    pub fn new(prefix: &str) -> ProfileScene {
        use std::os::unix::fs::PermissionsExt;
        let top = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
        std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(top.path().join("profiles")).unwrap();
        ProfileScene { top }
    }

    /// `name` in the scene directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.top.path().join(name)
    }

    pub fn profile_dir(&self) -> PathBuf {
        self.path("profiles")
    }

    /// Writes `name` in the scene directory, mode `mode`, owned by root.
    pub fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }
}

/// A tool's short view on a terminal: no JSON, at most 40 lines, `last` starting the last
/// line.
#[track_caller]
pub fn assert_short_view(screen: &str, last: &str) {
    let lines: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() <= 40, "{} lines:\n{screen}", lines.len());
    assert!(
        !screen.contains("\"tool\"") && !lines.iter().any(|l| l.starts_with('{')),
        "JSON on the terminal:\n{screen}"
    );
    let end = lines.last().copied().unwrap_or_default();
    assert!(
        end.starts_with(last),
        "last line {end:?}, not {last:?}:\n{screen}"
    );
}

/// The names in `dir`, sorted: where a temp file left behind or a file planted shows.
pub fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The uid and gid of `nobody`, the attacker of the trust tests.
pub const NOBODY: u32 = 65534;

/// Gives `path` to `nobody` (user and group): the attacker's own file or directory.
pub fn give_to_nobody(path: &std::path::Path) {
    let id = Some(nix::unistd::Uid::from_raw(NOBODY));
    nix::unistd::chown(path, id, Some(nix::unistd::Gid::from_raw(NOBODY)))
        .unwrap_or_else(|e| panic!("chown nobody {}: {e}", path.display()));
}

/// A command run as the local user `nobody`, the attacker of the trust tests (setpriv,
/// no supplementary groups).
pub fn as_nobody(program: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
        program,
    ]);
    cmd
}

//! envpatch end to end: the real binary on real files.
//! Every "nothing was touched" is proven on the file's bytes, inode, mtime, mode and owner,
//! and on the directory listing (no temporary file left behind).
//!
//! The proofs against the real readers (python-dotenv, a real systemd) are in
//! envpatch_readers.rs.

use serde_json::{json, Value};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::run::run_command;
use support::{bin, listing, require, run_tool, ToolRun};
use tempfile::TempDir;

fn envpatch<I, S>(args: I) -> ToolRun
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut all: Vec<std::ffi::OsString> = vec!["--json=short".into()];
    all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
    run_tool("envpatch", all, &[], None)
}

fn envpatch_stdin(args: &[&str], stdin: &str) -> ToolRun {
    let mut all = vec!["--json=short"];
    all.extend_from_slice(args);
    run_tool("envpatch", all, &[], Some(stdin))
}

/// A temp dir with one env file in it.
fn env_file(content: &[u8]) -> (TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("envpatch-test.")
        .tempdir()
        .unwrap();
    let path = dir.path().join("cornice.env");
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Everything "untouched" means for a file.
#[derive(Debug, PartialEq)]
struct Snapshot {
    bytes: Vec<u8>,
    inode: u64,
    mtime_ns: i128,
    mode: u32,
    uid: u32,
    gid: u32,
}

fn snapshot(path: &Path) -> Snapshot {
    let meta = std::fs::metadata(path).unwrap();
    Snapshot {
        bytes: std::fs::read(path).unwrap(),
        inode: meta.ino(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        mode: meta.mode(),
        uid: meta.uid(),
        gid: meta.gid(),
    }
}

#[track_caller]
fn assert_untouched(path: &Path, before: &Snapshot, dir_before: &[String]) {
    assert_eq!(&snapshot(path), before, "{} was touched", path.display());
    assert_eq!(
        listing(path.parent().unwrap()),
        dir_before,
        "the directory changed (a temporary file left behind?)"
    );
}

fn read(path: &Path) -> String {
    String::from_utf8(std::fs::read(path).unwrap()).unwrap()
}

fn change<'a>(run: &'a ToolRun, key: &str) -> &'a Value {
    run.json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == key)
        .unwrap_or_else(|| panic!("no change for {key}: {}", run.json))
}

fn warnings(run: &ToolRun) -> Vec<(Value, String)> {
    run.json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["line"].clone(),
                w["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn untouched_lines_survive_byte_for_byte_and_a_new_key_gets_its_own_line() {
    let original = "# Cornice settings\n\n  # indented comment\nexport PATH_PREFIX=/srv\nNAME='single quoted'\nQUOTED=\"double # kept\"\nHIBERNATE_MODE=false\nA=1\n\n\nLAST=no-newline";
    let (_dir, path) = env_file(original.as_bytes());
    let run = envpatch([p(&path), "HIBERNATE_MODE=true", "INGEST_ENABLED=false"]);
    run.expect_code(0);
    assert_eq!(
        read(&path),
        original.replace("HIBERNATE_MODE=false", "HIBERNATE_MODE=true")
            + "\nINGEST_ENABLED=false\n"
    );
    assert_eq!(run.json["changed"], true);
    assert_eq!(
        change(&run, "HIBERNATE_MODE"),
        &json!({"key": "HIBERNATE_MODE", "action": "updated", "old": "false", "new": "true", "lines": [7]})
    );
    assert_eq!(
        change(&run, "INGEST_ENABLED"),
        &json!({"key": "INGEST_ENABLED", "action": "added", "old": null, "new": "false", "lines": [12]})
    );
    assert_eq!(run.json["created"], false);
    assert_eq!(run.json["backup"], Value::Null);
}

#[test]
fn a_crlf_file_keeps_crlf_and_new_lines_get_crlf() {
    let original = "# win\r\nA=1\r\nexport B=2\r\nC=3";
    let (_dir, path) = env_file(original.as_bytes());
    envpatch([p(&path), "A=one two", "NEW=x"]).expect_code(0);
    assert_eq!(
        read(&path),
        "# win\r\nA=\"one two\"\r\nexport B=2\r\nC=3\r\nNEW=x\r\n"
    );
}

#[test]
fn a_duplicated_key_is_updated_everywhere_and_unset_removes_every_assignment() {
    let (_dir, path) = env_file(b"K=1\nOTHER=x\nK=2 # second\nexport K=3\n");
    let run = envpatch([p(&path), "K=9"]);
    run.expect_code(0);
    assert_eq!(read(&path), "K=9\nOTHER=x\n# second\nK=9\nexport K=9\n");
    assert_eq!(
        change(&run, "K"),
        &json!({"key": "K", "action": "updated", "old": "3", "new": "9", "lines": [1, 4, 5]})
    );

    let run = envpatch([p(&path), "--unset", "K", "-u", "GONE"]);
    run.expect_code(0);
    assert_eq!(read(&path), "OTHER=x\n# second\n");
    assert_eq!(
        change(&run, "K"),
        &json!({"key": "K", "action": "removed", "old": "9", "new": null, "lines": [1, 4, 5]})
    );
    assert_eq!(
        change(&run, "GONE"),
        &json!({"key": "GONE", "action": "absent", "old": null, "new": null, "lines": []})
    );
}

#[test]
fn an_inline_comment_on_an_edited_line_moves_above_it() {
    let (_dir, path) = env_file(b"A=1\n  HIBERNATE_MODE=false   # toggle for the hold\nB=2\n");
    let run = envpatch([p(&path), "HIBERNATE_MODE=true"]);
    run.expect_code(0);
    assert_eq!(
        read(&path),
        "A=1\n  # toggle for the hold\n  HIBERNATE_MODE=true\nB=2\n"
    );
    assert_eq!(change(&run, "HIBERNATE_MODE")["lines"], json!([3]));
    // Now both readers agree; a second run has nothing to do.
    let again = envpatch([p(&path), "HIBERNATE_MODE=true"]);
    again.expect_code(0);
    assert_eq!(again.json["changed"], false);
    assert_eq!(change(&again, "HIBERNATE_MODE")["action"], "unchanged");
}

#[test]
fn an_export_only_key_is_edited_in_place_with_a_warning() {
    let (_dir, path) = env_file(b"A=1\nexport INGEST_ENABLED=true\nB=2\n");
    let run = envpatch([p(&path), "INGEST_ENABLED=false"]);
    run.expect_code(0);
    assert_eq!(read(&path), "A=1\nexport INGEST_ENABLED=false\nB=2\n");
    let w = warnings(&run);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].0, json!(2));
    assert!(
        w[0].1.contains("export") && w[0].1.contains("systemd"),
        "{w:?}"
    );
    assert!(run.stderr.contains("warning"), "{}", run.stderr);
}

#[test]
fn unparsable_lines_are_kept_verbatim_and_reported() {
    let original = "A=1\nthis is not an assignment\nB=\"x\" trailing junk\nC=3\n";
    let (_dir, path) = env_file(original.as_bytes());
    let run = envpatch([p(&path), "C=4"]);
    run.expect_code(0);
    assert_eq!(read(&path), original.replace("C=3", "C=4"));
    let lines: Vec<Value> = warnings(&run).into_iter().map(|w| w.0).collect();
    assert_eq!(lines, vec![json!(2), json!(3)]);
}

#[test]
fn nothing_to_change_does_not_rewrite_the_file() {
    let (dir, path) = env_file(b"HIBERNATE_MODE=true\nINGEST_ENABLED=\"false\"\n");
    let before = snapshot(&path);
    let names = listing(dir.path());
    std::thread::sleep(std::time::Duration::from_millis(20));
    let run = envpatch([
        p(&path),
        "HIBERNATE_MODE=true",
        "INGEST_ENABLED=false",
        "--unset",
        "ABSENT",
        "--backup",
    ]);
    run.expect_code(0);
    assert_eq!(run.json["changed"], false);
    assert_eq!(run.json["backup"], Value::Null);
    for key in ["HIBERNATE_MODE", "INGEST_ENABLED"] {
        assert_eq!(change(&run, key)["action"], "unchanged");
    }
    assert_untouched(&path, &before, &names);
}

#[test]
fn a_symlink_is_edited_at_its_target_keeping_mode_owner_and_group() {
    let Some(()) = require("root", support::root()) else {
        return;
    };
    let (dir, target) = env_file(b"A=1\n");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    support::give_to_nobody(&target);
    let links = dir.path().join("links");
    std::fs::create_dir(&links).unwrap();
    let link = links.join("env");
    std::os::unix::fs::symlink("../cornice.env", &link).unwrap();
    let inode_before = snapshot(&target).inode;

    let run = envpatch([p(&link), "A=2"]);
    run.expect_code(0);
    // The target as resolved, one component at a time from descriptors.
    assert_eq!(run.json["target"], p(&target));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(read(&target), "A=2\n");
    let after = snapshot(&target);
    assert_ne!(
        after.inode, inode_before,
        "written as a new file, renamed in"
    );
    assert_eq!(after.mode & 0o7777, 0o640);
    assert_eq!((after.uid, after.gid), (65534, 65534));
    assert_eq!(listing(dir.path()), vec!["cornice.env", "links"]);
}

/// Runs envpatch under strace with a syscall failure injected.
fn envpatch_with_fault(inject: &str, args: &[&str]) -> ToolRun {
    let syscalls = inject.split(':').next().unwrap();
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-o", "/dev/null", "-e"])
        .arg(format!("trace={syscalls}"))
        .arg("-e")
        .arg(format!("inject={inject}"))
        .arg(bin("envpatch"))
        .arg("--json=short")
        .args(args);
    run_command("envpatch", &mut cmd, None)
}

fn strace() -> Result<(), String> {
    let ok = Command::new("strace")
        .args(["-qq", "-o", "/dev/null", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(())
    } else {
        Err("strace is not installed or cannot trace here".into())
    }
}

#[test]
fn a_failed_fsync_or_rename_leaves_the_original_intact_and_no_temp_file() {
    let Some(()) = require("strace", strace()) else {
        return;
    };
    let (dir, path) = env_file(b"# keep\nHIBERNATE_MODE=false\n");
    let before = snapshot(&path);
    let names = listing(dir.path());
    for (inject, what) in [
        ("fsync:error=EIO", "fsync"),
        ("rename,renameat,renameat2:error=EIO", "renaming"),
    ] {
        let run = envpatch_with_fault(inject, &[p(&path), "HIBERNATE_MODE=true", "NEW=1"]);
        run.expect_code(1);
        assert_eq!(run.error_kind(), Some("failed"));
        let message = run.json["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(what) && message.contains("not changed"),
            "{message}"
        );
        assert_eq!(run.json["changed"], false);
        assert_untouched(&path, &before, &names);
    }
    // --backup too: a failure writing the backup stops before the file is touched.
    let run = envpatch_with_fault(
        "fsync:error=EIO",
        &[p(&path), "HIBERNATE_MODE=true", "--backup"],
    );
    run.expect_code(1);
    assert_untouched(&path, &before, &names);
}

#[test]
fn a_failed_directory_fsync_after_the_rename_is_exit_1_and_says_so() {
    let Some(()) = require("strace", strace()) else {
        return;
    };
    let (dir, path) = env_file(b"HIBERNATE_MODE=false\n");
    // The first fsync is the temporary file's, the second the directory's.
    let run = envpatch_with_fault("fsync:error=EIO:when=2", &[p(&path), "HIBERNATE_MODE=true"]);
    run.expect_code(1);
    assert_eq!(
        run.json["changed"], true,
        "the rename happened: {}",
        run.json
    );
    assert!(run.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("directory"));
    assert_eq!(read(&path), "HIBERNATE_MODE=true\n");
    assert_eq!(listing(dir.path()), vec!["cornice.env"]);
}

#[test]
fn two_dozen_concurrent_runs_on_one_file_lose_no_update() {
    let (dir, path) = env_file(b"# shared\nBASE=1\n");
    let children: Vec<_> = (0..24)
        .map(|i| {
            Command::new(bin("envpatch"))
                .args([
                    "--json=short",
                    "-q",
                    p(&path),
                    &format!("KEY_{i}=value {i}"),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let text = read(&path);
    assert!(text.starts_with("# shared\nBASE=1\n"), "{text}");
    for i in 0..24 {
        assert_eq!(
            text.matches(&format!("KEY_{i}=\"value {i}\"\n")).count(),
            1,
            "KEY_{i} lost or doubled:\n{text}"
        );
    }
    assert_eq!(text.lines().count(), 26);
    assert_eq!(listing(dir.path()), vec!["cornice.env"]);
}

#[test]
fn a_held_lock_is_busy_exit_5_and_nothing_is_touched() {
    let (dir, path) = env_file(b"A=1\n");
    let before = snapshot(&path);
    let names = listing(dir.path());
    // Another envpatch run holds the file's lock (a private file beside it, there only
    // while a run holds it).
    let lock_path = dir.path().join(".cornice.env.envpatch-lock");
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .unwrap();
    let held = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive).unwrap();
    let names_held = listing(dir.path());
    let started = std::time::Instant::now();
    let run = envpatch([p(&path), "A=2", "--lock-timeout=300ms"]);
    run.expect_code(5);
    assert_eq!(run.error_kind(), Some("busy"));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // The holder is named from the kernel's lock table: this test process.
    let message = run.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("pid {}", std::process::id())),
        "{message}"
    );
    assert_eq!(run.json["error"]["holder_pid"], std::process::id());
    assert_eq!(snapshot(&path), before);
    assert_eq!(listing(dir.path()), names_held);
    drop(held);
    // The next run takes the lock a crashed holder would have left, and removes it.
    envpatch([p(&path), "A=2"]).expect_code(0);
    assert_eq!(read(&path), "A=2\n");
    assert_eq!(listing(dir.path()), names);
}

#[test]
fn create_makes_a_0600_file_owned_by_the_caller_even_under_a_strict_umask() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.env");
    // umask 0277 would leave 0400 if the mode were not set explicitly.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "umask 0277; exec \"$0\" \"$@\""])
        .arg(bin("envpatch"))
        .args(["--json=short", "--create", p(&path), "HIBERNATE_MODE=true"]);
    let run = run_command("envpatch", &mut cmd, None);
    run.expect_code(0);
    assert_eq!(run.json["created"], true);
    assert_eq!(run.json["changed"], true);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o600);
    assert_eq!(meta.uid(), nix::unistd::geteuid().as_raw());
    assert_eq!(read(&path), "HIBERNATE_MODE=true\n");
    // Once it exists, --create changes nothing more.
    let again = envpatch(["--create", p(&path), "HIBERNATE_MODE=true"]);
    again.expect_code(0);
    assert_eq!(again.json["created"], false);
    assert_eq!(again.json["changed"], false);
}

#[test]
fn a_missing_file_without_create_is_exit_4_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.env");
    for args in [
        vec![p(&path), "A=1"],
        vec![p(&path), "--get", "A"],
        vec![p(&path), "--unset", "A"],
        vec!["--dry-run", p(&path), "A=1"],
    ] {
        let run = envpatch(&args);
        run.expect_code(4);
        assert_eq!(run.error_kind(), Some("not_found"));
        assert!(listing(dir.path()).is_empty(), "{args:?} created something");
    }
    let run = envpatch([p(&path), "A=1"]);
    assert!(run.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--create"));
    // A missing directory is not found too.
    let run = envpatch(["--create", p(&dir.path().join("no/such.env")), "A=1"]);
    run.expect_code(4);
}

#[test]
fn dry_run_writes_nothing_and_reports_what_would_change() {
    let (dir, path) = env_file(b"HIBERNATE_MODE=false # toggle\n");
    let before = snapshot(&path);
    let names = listing(dir.path());
    let run = envpatch([
        "--dry-run",
        "--backup",
        p(&path),
        "HIBERNATE_MODE=true",
        "INGEST_ENABLED=false",
    ]);
    run.expect_code(0);
    assert_eq!(run.json["dry_run"], true);
    assert_eq!(run.json["changed"], true);
    assert_eq!(change(&run, "HIBERNATE_MODE")["action"], "updated");
    assert_eq!(change(&run, "HIBERNATE_MODE")["lines"], json!([2]));
    assert_eq!(change(&run, "INGEST_ENABLED")["action"], "added");
    assert_eq!(run.json["backup"], format!("{}.bak", p(&path)));
    assert_untouched(&path, &before, &names);

    // A dry run of --create on a missing file creates nothing either.
    let missing = dir.path().join("missing.env");
    let run = envpatch(["--dry-run", "--create", p(&missing), "A=1"]);
    run.expect_code(0);
    assert_eq!(run.json["created"], true);
    assert!(!missing.exists());
}

#[test]
fn backup_keeps_the_previous_content_with_the_same_mode() {
    let (dir, path) = env_file(b"A=1\n");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let run = envpatch(["--backup", p(&path), "A=2"]);
    run.expect_code(0);
    let backup = dir.path().join("cornice.env.bak");
    assert_eq!(run.json["backup"], p(&backup));
    assert_eq!(read(&backup), "A=1\n");
    assert_eq!(std::fs::metadata(&backup).unwrap().mode() & 0o7777, 0o640);
    assert_eq!(read(&path), "A=2\n");
    let run = envpatch(["--backup=.orig", p(&path), "A=3"]);
    run.expect_code(0);
    assert_eq!(read(&dir.path().join("cornice.env.orig")), "A=2\n");
    assert_eq!(listing(dir.path()).len(), 3);
    envpatch(["--backup=", p(&path), "A=4"]).expect_code(2);
    envpatch(["--backup=x/y", p(&path), "A=4"]).expect_code(2);
    assert_eq!(read(&path), "A=3\n");
}

#[test]
fn get_reports_the_value_as_both_readers_see_it() {
    let (dir, path) = env_file(
        b"HIBERNATE_MODE=true # on hold\nexport INGEST_ENABLED=false\nPORT=8000\nURL=\"${HOST}/x\"\n",
    );
    let before = snapshot(&path);
    let names = listing(dir.path());
    let run = envpatch([
        p(&path),
        "--get",
        "HIBERNATE_MODE",
        "--get",
        "INGEST_ENABLED",
        "--get",
        "PORT",
        "--get",
        "MISSING",
        "--get",
        "URL",
    ]);
    run.expect_code(0);
    assert_eq!(run.json["changed"], false);
    assert_eq!(
        run.json["values"],
        json!({"HIBERNATE_MODE": "true", "INGEST_ENABLED": "false", "PORT": "8000", "MISSING": null, "URL": "${HOST}/x"})
    );
    assert_eq!(
        run.json["values_by_reader"],
        json!({
            "systemd": {"HIBERNATE_MODE": "true # on hold", "INGEST_ENABLED": null, "PORT": "8000", "MISSING": null, "URL": "${HOST}/x"},
            "dotenv": {"HIBERNATE_MODE": "true", "INGEST_ENABLED": "false", "PORT": "8000", "MISSING": null, "URL": "${HOST}/x"}
        })
    );
    assert_eq!(run.json["changes"], json!([]));
    let w = warnings(&run);
    assert_eq!(w.len(), 3, "{w:?}");
    assert_eq!(w[0].0, json!(1));
    assert!(w[0].1.contains("inline comment"), "{w:?}");
    assert_eq!(w[1].0, json!(2));
    assert!(w[1].1.contains("export"), "{w:?}");
    assert!(w[2].1.contains("expands"), "{w:?}");
    assert_untouched(&path, &before, &names);
}

#[test]
fn from_reads_key_value_lines_and_json_objects_from_a_file_or_stdin() {
    let (dir, path) = env_file(b"A=1\n");
    let lines = dir.path().join("more.txt");
    std::fs::write(&lines, "# comment\n\nB=two words\r\nC=x=y\n").unwrap();
    envpatch([p(&path), "A=0", "--from", p(&lines)]).expect_code(0);
    assert_eq!(read(&path), "A=0\nB=\"two words\"\nC=x=y\n");

    let run = envpatch_stdin(&[p(&path), "--from", "-"], r#"{"D": "it's", "A": "1"}"#);
    run.expect_code(0);
    assert_eq!(read(&path), "A=1\nB=\"two words\"\nC=x=y\nD=\"it's\"\n");

    envpatch_stdin(&[p(&path), "--from", "-"], "E=5\n").expect_code(0);
    assert!(read(&path).ends_with("E=5\n"));

    let before = snapshot(&path);
    let names = listing(dir.path());
    for (input, needle) in [
        (r#"{"A": 1}"#, "not a string"),
        ("{\"A\": ", "JSON object"),
        ("no equals sign\n", "line 1"),
        ("OK=1\nbad-key=2\n", "line 2"),
        ("{\"A\": \"\\u0000\"}", "NUL"),
    ] {
        let run = envpatch_stdin(&[p(&path), "--from", "-"], input);
        run.expect_code(2);
        let message = run.json["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{input:?}: {message}");
        assert_untouched(&path, &before, &names);
    }
    let run = envpatch([p(&path), "--from", p(&dir.path().join("nope"))]);
    run.expect_code(2);
    assert_untouched(&path, &before, &names);
}

#[test]
fn bad_keys_values_nul_bytes_and_invalid_utf8_are_exit_2_naming_the_argument_or_line() {
    let (dir, path) = env_file(b"A=1\n");
    let before = snapshot(&path);
    let names = listing(dir.path());
    let cases: Vec<(Vec<&OsStr>, &str)> = vec![
        (vec![OsStr::new("A=1"), OsStr::new("1BAD=x")], "argument 2"),
        (vec![OsStr::new("MY-KEY=x")], "\"MY-KEY\""),
        (vec![OsStr::new("=x")], "argument 1"),
        (vec![OsStr::new("noequals")], "argument 1"),
        (vec![OsStr::new("--unset"), OsStr::new("a.b")], "--unset"),
        (vec![OsStr::new("--get"), OsStr::new("a b")], "--get"),
        (vec![OsStr::from_bytes(b"K=\xff\xfe")], "argument 1"),
        (vec![OsStr::new("K=multi\nline")], "newline"),
        (vec![OsStr::new("A=1"), OsStr::new("A=2")], "twice"),
        (
            vec![OsStr::new("A=1"), OsStr::new("-u"), OsStr::new("A")],
            "both",
        ),
        (vec![], "nothing to do"),
        (
            vec![OsStr::new("--lock-timeout=soon"), OsStr::new("A=2")],
            "duration",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec![OsStr::new(p(&path))];
        all.extend(args.iter().copied());
        let run = envpatch(&all);
        run.expect_code(2);
        assert_eq!(run.error_kind(), Some("usage"));
        let message = run.json["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{args:?}: {message}");
        assert_untouched(&path, &before, &names);
    }

    for (content, line) in [
        (&b"A=1\nB=x\0y\nC=3\n"[..], 2),
        (&b"A=1\r\nB=2\r\n# caf\xe9\r\n"[..], 3),
    ] {
        let (dir, path) = env_file(content);
        let before = snapshot(&path);
        let names = listing(dir.path());
        for args in [vec!["A=2"], vec!["--get", "A"], vec!["--unset", "A"]] {
            let mut all = vec![p(&path)];
            all.extend(args);
            let run = envpatch(&all);
            run.expect_code(2);
            assert_eq!(run.json["error"]["line"], line, "{}", run.json);
            assert!(run.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("line {line}")));
            assert_untouched(&path, &before, &names);
        }
    }
}

#[test]
fn refused_values_are_exit_2_and_leave_the_file_untouched() {
    let (dir, path) = env_file(b"HIBERNATE_MODE=false\n");
    let before = snapshot(&path);
    let names = listing(dir.path());
    for (value, needle) in [
        ("a\nb", "newline"),
        ("a\rb", "carriage return"),
        ("a\tb", "tab"),
        ("\u{1b}[31m", "U+001B"),
        ("del\u{7f}", "U+007F"),
        ("nel\u{85}", "U+0085"),
        ("${HOME}", "${"),
        ("pre ${X:-d} post", "${"),
        ("ends\\", "backslash"),
    ] {
        let run = envpatch([p(&path), "HIBERNATE_MODE=true", &format!("V={value}")]);
        run.expect_code(2);
        let message = run.json["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(needle) && message.contains("argument 2"),
            "{value:?}: {message}"
        );
        assert_eq!(run.json["error"]["key"], "V");
        assert_untouched(&path, &before, &names);
    }
}

#[test]
fn an_edit_systemd_would_misread_is_refused_with_exit_1() {
    // An open double quote: systemd swallows every line after it into OPEN.
    let (dir, path) = env_file(b"A=1\nOPEN=\"never closed\n");
    let before = snapshot(&path);
    let names = listing(dir.path());
    let run = envpatch([p(&path), "HIBERNATE_MODE=true"]);
    run.expect_code(1);
    let message = run.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("systemd") && message.contains("HIBERNATE_MODE"),
        "{message}"
    );
    assert_untouched(&path, &before, &names);
}

#[test]
fn a_comment_ending_in_a_backslash_does_not_swallow_an_appended_key() {
    let (_dir, path) = env_file(b"A=1\n# path C:\\");
    envpatch([p(&path), "HIBERNATE_MODE=true"]).expect_code(0);
    assert_eq!(read(&path), "A=1\n# path C:\\\n\nHIBERNATE_MODE=true\n");
}

/// Runs envpatch as nobody:nogroup.
fn envpatch_as_nobody(args: &[&str]) -> ToolRun {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin("envpatch"))
        .arg("--json=short")
        .args(args);
    run_command("envpatch", &mut cmd, None)
}

#[test]
fn a_file_the_caller_may_not_write_or_whose_owner_cannot_be_kept_is_exit_6() {
    let Some(()) = require("root", support::root()) else {
        return;
    };
    let (dir, path) = env_file(b"A=1\n");
    // nobody may write the directory (so a rename would succeed) but not the file.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = snapshot(&path);
    let names = listing(dir.path());
    for args in [vec![p(&path), "A=2"], vec!["--dry-run", p(&path), "A=2"]] {
        let run = envpatch_as_nobody(&args);
        run.expect_code(6);
        assert_eq!(run.error_kind(), Some("permission"));
        assert_untouched(&path, &before, &names);
    }
    // Reading needs no write permission.
    envpatch_as_nobody(&[p(&path), "--get", "A"]).expect_code(0);

    // Writable by nobody, owned by root: the new file could not keep its owner.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let before = snapshot(&path);
    let run = envpatch_as_nobody(&[p(&path), "A=2"]);
    run.expect_code(6);
    assert!(run.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("owner"));
    assert_untouched(&path, &before, &names);
}

#[test]
fn secrets_never_appear_in_any_output_including_errors() {
    let secret = "s3cr3t-Planted-Value-42";
    let url_secret = "pg-Pass-Planted-77";
    let content = format!(
        "DB_PASSWORD={secret}\nDATABASE_URL=postgresql://cornice:{url_secret}@db/cornice\nAPI_TOKEN=\"{secret}-tok\" # rotate\nexport JWT_SECRET={secret}\nHIBERNATE_MODE=false\n"
    );
    let (dir, path) = env_file(content.as_bytes());
    let lines_file = dir.path().join("from.txt");
    std::fs::write(&lines_file, format!("FERNET_KEY={secret}-fernet\n")).unwrap();
    let f = p(&path);
    let new_secret = format!("{secret}-new");
    let bad_secret = format!("{secret}\nsecond-line");
    let expansion_secret = format!("{secret}${{X}}");
    let mut runs: Vec<(ToolRun, i32)> = vec![
        (
            envpatch([
                f,
                "--get",
                "DB_PASSWORD",
                "--get",
                "DATABASE_URL",
                "--get",
                "API_TOKEN",
                "--get",
                "JWT_SECRET",
            ]),
            0,
        ),
        (
            envpatch(["--dry-run", f, &format!("DB_PASSWORD={new_secret}")]),
            0,
        ),
        (envpatch([f, "API_TOKEN=rotated-token-value"]), 0),
        (envpatch([f, &format!("DB_PASSWORD={bad_secret}")]), 2),
        (envpatch([f, &format!("DB_PASSWORD={expansion_secret}")]), 2),
        (envpatch([f, "--from", p(&lines_file)]), 0),
        (envpatch([f, "JWT_SECRET=x"]), 0),
        (envpatch([f, "-u", "DATABASE_URL", "-u", "DB_PASSWORD"]), 0),
        (
            envpatch([f, &format!("REDIS_URL=redis://:{url_secret}@cache:6379/0")]),
            0,
        ),
        (
            envpatch([f, "--get", "REDIS_URL", "--get", "FERNET_KEY"]),
            0,
        ),
        (envpatch([f, &format!("1BAD={secret}")]), 2),
        (
            envpatch_stdin(
                &[f, "--from", "-"],
                &format!("{{\"PRIVATE_KEY\": \"{secret}\\u0007\"}}"),
            ),
            2,
        ),
    ];
    // An error after the values were read: an open quote above makes systemd read the
    // secret's line into OPEN, so the edit would change OPEN (exit 1).
    let (_dir2, broken) = env_file(format!("OPEN=\"x\nDB_PASSWORD={secret}\n").as_bytes());
    runs.push((
        envpatch([p(&broken), "DB_PASSWORD=another-secret-value"]),
        1,
    ));
    for (i, (run, code)) in runs.iter().enumerate() {
        run.expect_code(*code);
        let all = run.all_output();
        for planted in [
            secret,
            url_secret,
            "rotated-token-value",
            "another-secret-value",
        ] {
            assert!(!all.contains(planted), "run {i} printed {planted}:\n{all}");
        }
    }
    let get = &runs[0].0;
    for key in ["DB_PASSWORD", "DATABASE_URL", "API_TOKEN", "JWT_SECRET"] {
        assert_eq!(get.json["values"][key], "<redacted>", "{}", get.json);
        assert_eq!(
            get.json["values_by_reader"]["systemd"][key],
            if key == "JWT_SECRET" {
                Value::Null
            } else {
                json!("<redacted>")
            }
        );
        assert_eq!(get.json["values_by_reader"]["dotenv"][key], "<redacted>");
    }
    let dry = &runs[1].0;
    assert_eq!(change(dry, "DB_PASSWORD")["old"], "<redacted>");
    assert_eq!(change(dry, "DB_PASSWORD")["new"], "<redacted>");
    // The secrets really were written where asked.
    let text = read(&path);
    assert!(text.contains("API_TOKEN=rotated-token-value\n"), "{text}");
    assert!(
        text.contains(&format!("FERNET_KEY={secret}-fernet\n")),
        "{text}"
    );
    assert_eq!(runs[9].0.json["values"]["REDIS_URL"], "<redacted>");
}

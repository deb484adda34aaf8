//! Root acts only on files root controls, tried as a hostile local user would: the
//! attacker is the real user `nobody`, owning a directory of its own, and every test
//! proves that the victim file is byte for byte unchanged, that the tool ends with the
//! documented exit code and a clear message, and that it never hangs. The kernel's
//! `fs.protected_*` settings are left as the machine has them: the tools must not
//! depend on them.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::as_nobody;
use support::run::run_command;
use support::{bin, listing, require, run_tool, ToolRun, NOBODY};
use tempfile::TempDir;

/// A scene: a root-only directory holding the victim (a stand-in for /etc/shadow), and
/// a directory owned by `nobody`, as the service user owns its own.
struct Scene {
    _top: TempDir,
    victim: PathBuf,
    victim_bytes: Vec<u8>,
    /// Owned by nobody, mode 0755.
    attacker_dir: PathBuf,
    /// Root-only (0755 root), for files root keeps.
    root_dir: PathBuf,
}

fn scene() -> Option<Scene> {
    require("root", support::root())?;
    let top = tempfile::Builder::new()
        .prefix("holdkit-trust.")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root_dir = top.path().join("etc");
    std::fs::create_dir(&root_dir).unwrap();
    let victim = root_dir.join("shadow");
    let victim_bytes = b"root:$6$planted$hash:19000:0:99999:7:::\nHIBERNATE_MODE=keep\n".to_vec();
    std::fs::write(&victim, &victim_bytes).unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o640)).unwrap();
    let attacker_dir = top.path().join("home-cornice");
    std::fs::create_dir(&attacker_dir).unwrap();
    support::give_to_nobody(&attacker_dir);
    Some(Scene {
        _top: top,
        victim,
        victim_bytes,
        attacker_dir,
        root_dir,
    })
}

impl Scene {
    #[track_caller]
    fn assert_victim_untouched(&self) {
        assert_eq!(
            std::fs::read(&self.victim).unwrap(),
            self.victim_bytes,
            "the victim file was changed"
        );
        let meta = std::fs::metadata(&self.victim).unwrap();
        assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o640));
    }
}

#[track_caller]
fn nobody_runs(program: &str, args: &[&str]) {
    let out = as_nobody(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} as nobody: {out:?}"
    );
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn envpatch(args: &[&str]) -> ToolRun {
    let mut all = vec!["--json=short"];
    all.extend_from_slice(args);
    run_tool("envpatch", all, &[], None)
}

/// Runs a tool with a deadline: a tool that hangs fails the test instead of the suite.
#[track_caller]
fn within(limit: Duration, tool: &str, mut cmd: Command) -> ToolRun {
    let started = Instant::now();
    let mut child: Child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("{tool} hung for more than {limit:?}: {out:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or(-1);
    let json = support::run::parse_one_object(&stdout)
        .unwrap_or_else(|e| panic!("{tool}: {e}\nstdout: {stdout}\nstderr: {stderr}"));
    support::run::check_envelope(tool, &json, code);
    ToolRun {
        code,
        stdout,
        stderr,
        json,
    }
}

fn message(run: &ToolRun) -> &str {
    run.json["error"]["message"].as_str().unwrap_or("")
}

#[test]
fn a_symlink_planted_by_another_user_is_never_followed() {
    let Some(s) = scene() else { return };
    let link = s.attacker_dir.join("cornice.env");
    nobody_runs("ln", &["-s", p(&s.victim), p(&link)]);
    let names = listing(&s.attacker_dir);
    let f = p(&link);
    for args in [
        vec![f, "HIBERNATE_MODE=true"],
        vec!["--unset", "HIBERNATE_MODE", f],
        vec!["--get", "HIBERNATE_MODE", f],
        vec!["--dry-run", f, "HIBERNATE_MODE=true"],
        vec!["--create", f, "HIBERNATE_MODE=true"],
    ] {
        let run = envpatch(&args);
        run.expect_code(3);
        assert_eq!(run.error_kind(), Some("refused"), "{args:?}");
        let m = message(&run);
        assert!(
            m.contains(f) && m.contains("nobody") && m.contains("symlink"),
            "the message names the link and its owner: {m}"
        );
        assert_eq!(run.json["error"]["link_owner"], NOBODY);
        assert!(!run.stdout.contains("planted$hash"), "{}", run.stdout);
        s.assert_victim_untouched();
        assert_eq!(listing(&s.attacker_dir), names);
    }
}

#[test]
fn pgtruncate_never_reads_an_env_file_through_another_users_link() {
    let Some(s) = scene() else { return };
    // A root env file naming a database, and nobody's link to it beside nobody's files.
    let root_env = s.root_dir.join("other-app.env");
    std::fs::write(
        &root_env,
        "DATABASE_URL=postgresql://postgres@127.0.0.1:1/payroll\n",
    )
    .unwrap();
    let link = s.attacker_dir.join("cornice.env");
    nobody_runs("ln", &["-s", p(&root_env), p(&link)]);
    let dry_run = || {
        let mut cmd = Command::new(bin("pgtruncate"));
        cmd.args([
            "--json=short",
            "--env-file",
            p(&link),
            "--dry-run",
            "requests",
        ]);
        within(Duration::from_secs(10), "pgtruncate", cmd)
    };
    let run = dry_run();
    run.expect_code(3);
    assert!(message(&run).contains("nobody"), "{}", message(&run));
    assert!(
        !run.all_output().contains("payroll"),
        "{}",
        run.all_output()
    );
    // A FIFO planted as the env file is refused at once.
    std::fs::remove_file(&link).unwrap();
    nobody_runs("mkfifo", &[p(&link)]);
    let run = dry_run();
    run.expect_code(2);
    assert!(message(&run).contains("FIFO"), "{}", message(&run));
}

#[test]
fn create_never_creates_a_file_through_another_users_dangling_link() {
    let Some(s) = scene() else { return };
    let wanted = s.root_dir.join("sudoers-new");
    let link = s.attacker_dir.join("cornice.env");
    nobody_runs("ln", &["-s", p(&wanted), p(&link)]);
    let run = envpatch(&["--create", p(&link), "ALL=ALL"]);
    run.expect_code(3);
    assert!(
        message(&run).contains("does not exist"),
        "{}",
        message(&run)
    );
    assert!(!wanted.exists(), "a root file was created through the link");
    assert_eq!(listing(&s.root_dir), vec!["shadow"]);
}

#[test]
fn a_directory_symlink_planted_by_another_user_is_never_followed() {
    let Some(s) = scene() else { return };
    let conf = s.attacker_dir.join("conf");
    nobody_runs("ln", &["-s", p(&s.root_dir), p(&conf)]);
    let run = envpatch(&[p(&conf.join("shadow")), "HIBERNATE_MODE=true"]);
    run.expect_code(3);
    assert!(message(&run).contains(p(&conf)), "{}", message(&run));
    s.assert_victim_untouched();
}

#[test]
fn links_that_grant_nothing_new_are_followed() {
    let Some(s) = scene() else { return };
    // nobody's link to nobody's own file: following it gives root nothing nobody lacked.
    let real = s.attacker_dir.join("real.env");
    std::fs::write(&real, "A=1\n").unwrap();
    support::give_to_nobody(&real);
    let link = s.attacker_dir.join("cornice.env");
    nobody_runs("ln", &["-s", "real.env", p(&link)]);
    envpatch(&[p(&link), "A=2"]).expect_code(0);
    assert_eq!(std::fs::read_to_string(&real).unwrap(), "A=2\n");
    assert_eq!(std::fs::metadata(&real).unwrap().uid(), NOBODY);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    // root's own link to root's file keeps working as always.
    let root_link = s.root_dir.join("link.env");
    let root_file = s.root_dir.join("root.env");
    std::fs::write(&root_file, "B=1\n").unwrap();
    std::os::unix::fs::symlink(&root_file, &root_link).unwrap();
    envpatch(&[p(&root_link), "B=2"]).expect_code(0);
    assert_eq!(std::fs::read_to_string(&root_file).unwrap(), "B=2\n");
}

#[test]
fn a_hard_link_to_a_root_file_in_another_users_directory_is_refused() {
    let Some(s) = scene() else { return };
    let planted = s.attacker_dir.join("cornice.env");
    // With fs.protected_hardlinks=0 nobody can make this link; with 1 it cannot, so root
    // makes the same link the attacker could make elsewhere.
    let by_nobody = as_nobody("ln")
        .args([p(&s.victim), p(&planted)])
        .status()
        .unwrap()
        .success();
    if !by_nobody {
        std::fs::hard_link(&s.victim, &planted).unwrap();
    }
    let run = envpatch(&[p(&planted), "HIBERNATE_MODE=true"]);
    run.expect_code(3);
    assert!(message(&run).contains("hard links"), "{}", message(&run));
    s.assert_victim_untouched();
    assert_eq!(listing(&s.attacker_dir), vec!["cornice.env"]);
}

#[test]
fn fifos_and_devices_are_refused_without_hanging_or_being_opened() {
    let Some(s) = scene() else { return };
    let fifo = s.attacker_dir.join("cornice.env");
    nobody_runs("mkfifo", &[p(&fifo)]);
    // Someone holds the FIFO open for writing, as an attacker would to make a reader wait.
    let mut writer = as_nobody("sh")
        .args(["-c", &format!("exec 3>{}; sleep 30", p(&fifo))])
        .spawn()
        .unwrap();
    let limit = Duration::from_secs(10);
    for args in [
        vec![p(&fifo), "HIBERNATE_MODE=true"],
        vec!["--get", "HIBERNATE_MODE", p(&fifo)],
    ] {
        let mut cmd = Command::new(bin("envpatch"));
        cmd.arg("--json=short").args(&args);
        let run = within(limit, "envpatch", cmd);
        run.expect_code(2);
        assert!(message(&run).contains("FIFO"), "{}", message(&run));
    }
    let _ = writer.kill();
    let _ = writer.wait();
    // A root-made link to a device is refused before the device is opened (so no read
    // of /dev/zero can grow without end); the device itself likewise.
    let zero = s.root_dir.join("zero.env");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    for path in [p(&zero), "/dev/zero", "/dev/null"] {
        let mut cmd = Command::new(bin("envpatch"));
        cmd.args(["--json=short", "--get", "A", path]);
        let run = within(limit, "envpatch", cmd);
        run.expect_code(2);
        assert!(
            message(&run).contains("character device"),
            "{}",
            message(&run)
        );
    }
    s.assert_victim_untouched();
}

#[test]
fn a_reader_of_the_directory_or_the_file_cannot_block_an_edit() {
    let Some(s) = scene() else { return };
    let file = s.root_dir.join("cornice.env");
    std::fs::write(&file, "HIBERNATE_MODE=false\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    // nobody can read both, so it can flock both (a flock needs only a read descriptor).
    let mut holders: Vec<Child> = [p(&s.root_dir), p(&file)]
        .iter()
        .map(|target| {
            as_nobody("flock")
                .args(["--shared", target, "sleep", "30"])
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut cmd = Command::new(bin("envpatch"));
    cmd.args([
        "--json=short",
        "--lock-timeout=2s",
        p(&file),
        "HIBERNATE_MODE=true",
    ]);
    let run = within(Duration::from_secs(10), "envpatch", cmd);
    for h in &mut holders {
        let _ = h.kill();
        let _ = h.wait();
    }
    run.expect_code(0);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "HIBERNATE_MODE=true\n"
    );
    assert_eq!(listing(&s.root_dir), vec!["cornice.env", "shadow"]);
}

#[test]
fn a_lock_file_planted_by_another_user_is_refused_or_named() {
    let Some(s) = scene() else { return };
    // A root-owned env file in nobody's directory: nobody plants the lock file and holds it.
    let file = s.attacker_dir.join("cornice.env");
    std::fs::write(&file, "HIBERNATE_MODE=false\n").unwrap();
    let lock = s.attacker_dir.join(".cornice.env.envpatch-lock");
    // Made private (0600), as a lock must be: only its mode is nobody's choice here.
    let mut holder = as_nobody("sh")
        .args([
            "-c",
            &format!("umask 077; exec flock {} sleep 30", p(&lock)),
        ])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !lock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = envpatch(&["--lock-timeout=200ms", p(&file), "HIBERNATE_MODE=true"]);
    run.expect_code(3);
    assert!(message(&run).contains("nobody"), "{}", message(&run));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "HIBERNATE_MODE=false\n"
    );
    // When the env file is nobody's own, nobody may hold its lock (it may write the file
    // anyway): root waits, then says who holds it.
    support::give_to_nobody(&file);
    let run = envpatch(&["--lock-timeout=200ms", p(&file), "HIBERNATE_MODE=true"]);
    run.expect_code(5);
    let holder_pid = run.json["error"]["holder_pid"].as_u64().unwrap();
    assert!(
        message(&run).contains(&format!("pid {holder_pid}")),
        "{}",
        message(&run)
    );
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "HIBERNATE_MODE=false\n"
    );
}

fn getfacl(path: &Path) -> String {
    let out = Command::new("getfacl")
        .args(["--omit-header", "--absolute-names"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "getfacl: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn getfattr(path: &Path, name: &str) -> Option<String> {
    let out = Command::new("getfattr")
        .args(["--only-values", "--absolute-names", "-n", name])
        .arg(path)
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn tools(list: &[&str]) -> Result<(), String> {
    for t in list {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Err(format!(
                "{t} is not installed (scripts/test.sh installs it)"
            ));
        }
    }
    Ok(())
}

#[test]
fn acls_and_extended_attributes_survive_an_edit() {
    let Some(s) = scene() else { return };
    let Some(()) = require(
        "acl and attr tools",
        tools(&["setfacl", "getfacl", "setfattr", "getfattr"]),
    ) else {
        return;
    };
    let file = s.root_dir.join("cornice.env");
    std::fs::write(&file, "HIBERNATE_MODE=false\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let set = |args: &[&str]| {
        let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    // The app's user may read its env file through an ACL entry, and only through it.
    set(&["setfacl", "-m", "u:nobody:r", p(&file)]);
    set(&["setfattr", "-n", "user.holdkit.kept", "-v", "yes", p(&file)]);
    let acl_before = getfacl(&file);
    assert!(acl_before.contains("user:nobody:r--"), "{acl_before}");
    let can_read = || {
        as_nobody("cat")
            .arg(&file)
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(can_read());
    let ino_before = std::fs::metadata(&file).unwrap().ino();

    envpatch(&[p(&file), "HIBERNATE_MODE=true"]).expect_code(0);

    assert_ne!(
        std::fs::metadata(&file).unwrap().ino(),
        ino_before,
        "a new file"
    );
    assert_eq!(getfacl(&file), acl_before);
    assert_eq!(getfattr(&file, "user.holdkit.kept").as_deref(), Some("yes"));
    assert!(can_read(), "the app can still read its env file");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "HIBERNATE_MODE=true\n"
    );
}

#[test]
fn an_attribute_that_cannot_be_copied_fails_the_edit_and_keeps_the_file() {
    let Some(s) = scene() else { return };
    let Some(()) = require("setcap", tools(&["setcap", "getcap"])) else {
        return;
    };
    // nobody edits its own file, which carries a capability only root may set: the copy
    // of that attribute fails, so the edit must fail with the old file in place.
    let file = s.attacker_dir.join("cornice.env");
    std::fs::write(&file, "HIBERNATE_MODE=false\n").unwrap();
    support::give_to_nobody(&file);
    let out = Command::new("setcap")
        .args(["cap_net_raw+ep", p(&file)])
        .output()
        .unwrap();
    assert!(out.status.success(), "setcap: {out:?}");
    let ino_before = std::fs::metadata(&file).unwrap().ino();
    let mut cmd = as_nobody(bin("envpatch").to_str().unwrap());
    cmd.args(["--json=short", p(&file), "HIBERNATE_MODE=true"]);
    let run = run_command("envpatch", &mut cmd, None);
    run.expect_code(1);
    let m = message(&run);
    assert!(
        m.contains("security.capability") && m.contains("not changed"),
        "{m}"
    );
    assert_eq!(std::fs::metadata(&file).unwrap().ino(), ino_before);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "HIBERNATE_MODE=false\n"
    );
    assert_eq!(listing(&s.attacker_dir), vec!["cornice.env"]);
}

/// A tiny deterministic generator, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

#[test]
fn killed_edits_leave_the_old_or_the_new_file_whole_and_the_next_run_cleans_up() {
    let Some(s) = scene() else { return };
    let dir = &s.root_dir;
    let file = dir.join("cornice.env");
    let text_with = |value: &str| {
        let mut t = String::with_capacity(600_000);
        for i in 0..20_000 {
            if i == 10_000 {
                t.push_str(&format!("HIBERNATE_MODE={value}\n"));
            } else {
                t.push_str(&format!("SETTING_{i}=value-{i}\n"));
            }
        }
        t
    };
    std::fs::write(&file, text_with("v0")).unwrap();
    // One undisturbed edit, to know how long an edit takes here.
    let started = Instant::now();
    envpatch(&[p(&file), "HIBERNATE_MODE=v1"]).expect_code(0);
    let edit_time = started.elapsed().max(Duration::from_millis(2));
    let mut current = 1u32;
    let mut rng = Rng(0x5eed_1234);
    let mut kills_mid_edit = 0;
    let mut rounds = 0;
    while kills_mid_edit < 60 && rounds < 400 {
        rounds += 1;
        let next = current + 1;
        let mut child = Command::new(bin("envpatch"))
            .args([
                "--json=short",
                "-q",
                p(&file),
                &format!("HIBERNATE_MODE=v{next}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = edit_time.as_micros() as u64 * 12 / 10;
        std::thread::sleep(Duration::from_micros(rng.below(delay)));
        if child.try_wait().unwrap().is_none() {
            kills_mid_edit += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        let now = std::fs::read_to_string(&file).unwrap();
        if now == text_with(&format!("v{next}")) {
            current = next;
        } else {
            assert!(
                now == text_with(&format!("v{current}")),
                "round {rounds}: the file is neither the old nor the new content"
            );
        }
    }
    assert!(
        kills_mid_edit >= 50,
        "only {kills_mid_edit} kills landed mid-edit"
    );
    // The next run removes what the killed ones left (temp files, a lock file).
    envpatch(&[p(&file), "HIBERNATE_MODE=done"]).expect_code(0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text_with("done"));
    assert_eq!(listing(dir), vec!["cornice.env", "shadow"]);
}

#[test]
fn absurd_durations_are_usage_errors_not_panics() {
    let (_dir, file) = {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.env");
        std::fs::write(&file, "A=1\n").unwrap();
        (dir, file)
    };
    let run = envpatch(&["--lock-timeout", "5124095576030431h", p(&file), "A=2"]);
    run.expect_code(2);
    assert!(message(&run).contains("24 days"), "{}", message(&run));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "A=1\n");
    let run = run_tool(
        "pgtruncate",
        [
            "--json=short",
            "--lock-timeout",
            "18446744073709551615s",
            "public.requests",
        ],
        &[],
        None,
    );
    run.expect_code(2);
    let run = run_tool(
        "svcctl",
        ["--json=short", "--timeout", "99999999999h", "stop", "x"],
        &[],
        None,
    );
    run.expect_code(2);
}

fn holdctl_lock_run(lock: &Path) -> ToolRun {
    let mut cmd = Command::new(bin("holdctl"));
    cmd.args(["--json=short", "--lock", p(lock), "hibernate", "--yes"]);
    within(Duration::from_secs(10), "holdctl", cmd)
}

#[test]
fn holdctls_lock_is_never_planted_followed_or_truncated() {
    let Some(s) = scene() else { return };
    // /run/lock-like: world-writable and sticky. nobody plants a link there to the victim.
    let public = s.attacker_dir.parent().unwrap().join("run-lock");
    std::fs::create_dir(&public).unwrap();
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let planted = public.join("holdctl.lock");
    nobody_runs("ln", &["-s", p(&s.victim), p(&planted)]);
    let run = holdctl_lock_run(&planted);
    run.expect_code(3);
    assert!(
        run.json["steps"].as_array().is_none_or(|a| a.is_empty()),
        "nothing ran: {}",
        run.json
    );
    s.assert_victim_untouched();
    // A lock in a world-writable directory is refused even with nothing planted yet.
    let run = holdctl_lock_run(&public.join("fresh.lock"));
    run.expect_code(3);
    assert!(
        message(&run).contains("can be written by"),
        "{}",
        message(&run)
    );
    assert!(!public.join("fresh.lock").exists());

    // An existing file that is not a lock is never truncated, even in a root-only place.
    let run = holdctl_lock_run(&s.victim);
    run.expect_code(3);
    assert!(
        message(&run).contains("not a holdctl lock"),
        "{}",
        message(&run)
    );
    s.assert_victim_untouched();

    // A FIFO where the lock should be: refused at once, never a hang.
    let fifo = s.root_dir.join("holdctl.lock");
    let out = Command::new("mkfifo").arg(&fifo).output().unwrap();
    assert!(out.status.success());
    let run = holdctl_lock_run(&fifo);
    run.expect_code(3);
    assert!(message(&run).contains("FIFO"), "{}", message(&run));
}

#[test]
fn holdctls_default_lock_directory_must_be_root_only() {
    let Some(()) = require("root", support::root()) else {
        return;
    };
    // Inside a sandbox, /run is the sandbox's own: the host's /run/holdkit is untouched.
    let Some(sb) = require("systemd sandbox", support::systemd::Sandbox::boot(&[])) else {
        return;
    };
    let mkdir = sb
        .command("sh")
        .args([
            "-c",
            "mkdir -m 0777 /run/holdkit && chmod 0777 /run/holdkit",
        ])
        .status()
        .unwrap();
    assert!(mkdir.success());
    let run = sb.run_tool(
        "holdctl",
        &["--json=short", "hibernate", "--yes"],
        &[],
        None,
    );
    run.expect_code(3);
    assert!(message(&run).contains("/run/holdkit"), "{}", message(&run));
    let listing = sb
        .command("ls")
        .args(["-A", "/run/holdkit"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&listing.stdout),
        "",
        "no lock was made"
    );
    // A fresh sandbox: holdctl makes the directory 0700 itself.
    let rm = sb.command("rmdir").arg("/run/holdkit").status().unwrap();
    assert!(rm.success());
    // hibernate takes the lock first (and then stops: this sandbox has no Cornice units).
    let run = sb.run_tool(
        "holdctl",
        &["--json=short", "hibernate", "--yes"],
        &[],
        None,
    );
    assert_ne!(run.code, 3, "{}", run.json);
    let mode = sb
        .command("stat")
        .args(["-c", "%a %u", "/run/holdkit"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&mode.stdout).trim(), "700 0");
}

//! The Ansible controller and scripts/hibernate_server.sh under the house's trust rules, on
//! one sandboxed host: real `ansible-playbook` and `ansible` run as root, the attacker the
//! real user `nobody`. The report document is never written through a link or in a
//! directory another user may write; its lock is the controller's own and waited for a
//! bounded time; no module shows a password inside a URL, -vvv included; the script checks
//! every name before its first change and never claims "nothing touched" after one.

mod fleet_support;

use fleet_support::{AnsibleRun, Fleet, Host};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::as_nobody;
use tempfile::TempDir;

/// Far beyond any refused or bounded run: reaching it means the run hung.
const HANG: Duration = Duration::from_secs(150);

/// A directory of nobody's own (0755), reachable by nobody: where an operator might run
/// ansible-playbook from, say a service user's home.
fn nobodys_dir() -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("holdkit-nobody.")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    support::give_to_nobody(dir.path());
    dir
}

/// A process holding an exclusive flock on PATH (created if missing) until killed; returns
/// once the lock is held.
fn hold_flock(mut cmd: Command, path: &Path) -> Child {
    let mut child = cmd
        .args([
            "-c",
            "import fcntl, os, sys\n\
             fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n\
             fcntl.flock(fd, fcntl.LOCK_EX)\n\
             print('locked', flush=True)\n\
             sys.stdin.read()\n",
        ])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked", "the lock holder did not start");
    child
}

fn release(mut holder: Child) {
    let _ = holder.kill();
    let _ = holder.wait();
}

#[track_caller]
fn assert_refused(run: &AnsibleRun, words: &[&str]) {
    assert_ne!(run.code, 124, "the run hung:\n{}", run.output);
    assert_ne!(run.code, 0, "{}", run.output);
    for word in words {
        assert!(run.output.contains(word), "no {word:?} in:\n{}", run.output);
    }
}

/// A stand-in for /etc/passwd: root's, in a directory only root may enter.
struct StandIn {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl StandIn {
    fn new(fleet: &Fleet) -> StandIn {
        let path = fleet.dir.path().join("passwd");
        let bytes =
            b"root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/:/bin/false\n".to_vec();
        std::fs::write(&path, &bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        StandIn { path, bytes }
    }

    #[track_caller]
    fn assert_untouched(&self) {
        assert_eq!(
            std::fs::read(&self.path).unwrap(),
            self.bytes,
            "the stand-in for /etc/passwd was overwritten"
        );
        let meta = std::fs::symlink_metadata(&self.path).unwrap();
        assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o644));
    }
}

/// High: ansible-playbook run as root from a directory nobody owns, where nobody planted
/// a symlink at the report's path to root's stand-in for /etc/passwd. Refused before any
/// host is touched; the stand-in is byte for byte what it was. The same link in a
/// directory only root writes is refused too: the report is never written through a link.
fn a_planted_report_link_is_refused(fleet: &Fleet, host: &Host) {
    let stand_in = StandIn::new(fleet);
    let before = fleet.state(host);
    let dir = nobodys_dir();
    let link = dir.path().join("holdkit-hibernate.json");
    let out = as_nobody("ln")
        .arg("-s")
        .arg(&stand_in.path)
        .arg(&link)
        .output()
        .unwrap();
    assert!(out.status.success(), "ln as nobody: {out:?}");

    let run = fleet.playbook_in(
        dir.path(),
        &Fleet::playbook_path("hibernate"),
        &["-vvv"],
        HANG,
    );
    assert_refused(
        &run,
        &["can be written by users other than", "nothing was run"],
    );
    stand_in.assert_untouched();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        fleet.state(host),
        before,
        "a refused rollout touched the host"
    );

    let reports = fleet.dir.path().join("reports");
    std::fs::create_dir(&reports).unwrap();
    let link = reports.join("planted.json");
    std::os::unix::fs::symlink(&stand_in.path, &link).unwrap();
    let report = format!("holdkit_report={}", link.display());
    let run = fleet.playbook_in(
        fleet.dir.path(),
        &Fleet::playbook_path("wake"),
        &["-e", &report],
        HANG,
    );
    assert_refused(&run, &["is a symlink", "nothing was run"]);
    stand_in.assert_untouched();
    assert_eq!(fleet.state(host), before);
}

/// Low: the report's lock. nobody holding a flock on `.holdkit-hibernate.json.lock` in a
/// directory of theirs cannot hang the rollout (refused at once); a lock file owned by
/// another user is not used; and a lock held by one of root's own processes is waited for
/// a bounded time (holdkit_report_lock_timeout), then the task fails naming the holder.
fn the_report_lock_cannot_hang_the_rollout(fleet: &Fleet, host: &Host) {
    let before = fleet.state(host);
    let dir = nobodys_dir();
    let holder = hold_flock(
        as_nobody("/usr/bin/python3"),
        &dir.path().join(".holdkit-hibernate.json.lock"),
    );
    let run = fleet.playbook_in(
        dir.path(),
        &Fleet::playbook_path("hibernate"),
        &["--check"],
        HANG,
    );
    release(holder);
    assert_refused(&run, &["can be written by users other than"]);
    assert_eq!(fleet.state(host), before);

    let reports = tempfile::tempdir_in(fleet.dir.path()).unwrap();
    std::fs::set_permissions(reports.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let theirs = reports.path().join(".theirs.json.lock");
    std::fs::write(&theirs, "").unwrap();
    support::give_to_nobody(&theirs);
    let report = format!(
        "holdkit_report={}",
        reports.path().join("theirs.json").display()
    );
    let run = fleet.playbook_in(
        fleet.dir.path(),
        &Fleet::playbook_path("wake"),
        &["--check", "-e", &report],
        HANG,
    );
    assert_refused(&run, &["is a regular file owned by nobody", "remove it"]);
    assert!(!reports.path().join("theirs.json").exists());

    let held = reports.path().join(".held.json.lock");
    let holder = hold_flock(Command::new("/usr/bin/python3"), &held);
    let holder_pid = holder.id();
    let report = format!(
        "holdkit_report={}",
        reports.path().join("held.json").display()
    );
    let run = fleet.playbook_in(
        fleet.dir.path(),
        &Fleet::playbook_path("wake"),
        &[
            "--check",
            "-e",
            &report,
            "-e",
            "holdkit_report_lock_timeout=2",
        ],
        HANG,
    );
    release(holder);
    assert_refused(
        &run,
        &[
            &format!("was held by pid {holder_pid} for more than 2"),
            "holdkit_report_lock_timeout",
        ],
    );
    assert!(!reports.path().join("held.json").exists());
    assert_eq!(fleet.state(host), before);
}

/// Medium: a password inside a URL, under a key whose name does not look secret, never
/// appears in -vvv output nor in invocation.module_args: on success, when the tool fails,
/// when Ansible itself rejects an option, and in another module's option. The failures run
/// from a playbook whose arguments come from variables, as operators write them: a failed
/// ad hoc task is echoed by ansible-core with its command-line arguments, which no module
/// can take back.
fn no_module_shows_a_url_password(fleet: &Fleet, host: &Host) {
    let bin = support::bin_dir().display().to_string();
    let path = host.env_file.display().to_string();
    let password = support::unique("broker-pw");
    let encoded = support::unique("enc-pw");
    let broker = format!("amqp://cornice:{password}@mq.internal:5672/");
    // `%40` is `@`: the password as a tool decodes it, and as written, are both hidden.
    let cache = format!("redis://:{encoded}%40x@cache.internal/0");
    let set = json!({"BROKER": broker, "CACHE": cache, "HIBERNATE_MODE": "true"});
    let before = std::fs::read(&host.env_file).unwrap();

    let (run, check) = fleet.module(
        "cornice1",
        "envpatch",
        &json!({"path": path, "set": set, "bin_dir": bin}),
        &["--check", "--diff"],
    );
    assert_eq!(check["failed"], false, "{check}");
    assert_eq!(check["changed"], true, "{check}");
    assert!(
        check["invocation"]["module_args"]["set"]["BROKER"]
            .as_str()
            .unwrap()
            .starts_with("amqp://cornice:"),
        "the value is masked, not dropped: {check}"
    );
    assert!(run.output.contains("HIBERNATE_MODE=true"), "{}", run.output);

    let unit_pw = support::unique("unit-pw");
    let vars = fleet.dir.path().join("url-password-vars.json");
    let vars_json = json!({"env_path": path, "env_set": set, "bin": bin,
                           "unit": format!("postgres://u:{unit_pw}@h/db")});
    std::fs::write(&vars, vars_json.to_string()).unwrap();
    let playbook = fleet.dir.path().join("url-password.yml");
    std::fs::write(&playbook, URL_PASSWORD_PLAYBOOK).unwrap();
    let vars_arg = format!("@{}", vars.display());
    let run = fleet.playbook_in(
        fleet.dir.path(),
        &playbook,
        &["-vvv", "-e", &vars_arg],
        HANG,
    );
    assert_ne!(run.code, 124, "the run hung:\n{}", run.output);
    for expected in [
        "env file absent failed",
        "option rejected failed",
        "unit name failed",
    ] {
        assert!(run.output.contains(expected), "{expected}:\n{}", run.output);
    }
    assert!(
        run.output.contains("ok=4"),
        "every check ran:\n{}",
        run.output
    );
    assert_eq!(std::fs::read(&host.env_file).unwrap(), before);
    let decoded = format!("{encoded}@x");
    fleet.assert_no_secret_in_outputs(&[&password, &encoded, &decoded, &unit_pw]);
}

/// Each failing task of `no_module_shows_a_url_password`, and a check that it failed.
const URL_PASSWORD_PLAYBOOK: &str = r#"
- name: URL passwords in module options
  hosts: cornice1
  gather_facts: false
  tasks:
    - name: Env file absent
      holdkit.fleet.envpatch:
        path: "{{ env_path }}.absent"
        set: "{{ env_set }}"
        bin_dir: "{{ bin }}"
      register: absent
      ignore_errors: true
    - name: Option rejected
      holdkit.fleet.envpatch:
        path: "{{ env_path }}"
        set: "{{ env_set }}"
        create: not-a-bool
        bin_dir: "{{ bin }}"
      register: rejected
      ignore_errors: true
    - name: Unit name
      holdkit.fleet.svcctl:
        verb: status
        units: ["{{ unit }}"]
        bin_dir: "{{ bin }}"
      register: unit_name
      ignore_errors: true
    - name: Each failed as it should
      ansible.builtin.debug:
        msg: >-
          {{ 'env file absent failed' if absent.error_kind == 'not_found' else 'absent: wrong' }},
          {{ 'option rejected failed' if rejected.failed and rejected.holdkit is not defined else 'rejected: wrong' }},
          {{ 'unit name failed' if unit_name.error_kind == 'usage' else 'unit: wrong' }}
"#;

/// Low: hibernate_server.sh checks every name before its first change. A wrong --monitor
/// and a database that is not there both stop it with the tool's code, the env file's
/// bytes, the units and the rows as they were; a step failing after a change exits 1
/// (failed), never a code that says nothing was touched.
fn hibernate_server_sh_checks_before_it_changes(fleet: &Fleet, host: &Host) {
    let script = support::repo_root().join("scripts/hibernate_server.sh");
    let run = |args: &[&str]| {
        let out = fleet.command_in(host, &script).args(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for secret in fleet.secrets() {
            assert!(!text.contains(&secret), "a secret leaked:\n{text}");
        }
        (out.status.code().unwrap_or(-1), text)
    };
    let before = fleet.state(host);
    let (code, out) = run(&["--monitor", "cornice/monitor"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("nothing was changed"), "{out}");
    assert_eq!(
        fleet.state(host),
        before,
        "a wrong --monitor changed the host"
    );

    // Its own env file, naming a database that does not exist.
    let env_file = fleet.dir.path().join("no-such-db.env");
    let text = before
        .env
        .replace(&format!("/{}\n", host.db), "/no_such_database\n");
    assert_ne!(text, before.env);
    std::fs::write(&env_file, &text).unwrap();
    let env_arg = env_file.display().to_string();
    let (code, out) = run(&["--env-file", &env_arg]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("nothing was changed"), "{out}");
    assert_eq!(std::fs::read_to_string(&env_file).unwrap(), text);
    assert_eq!(
        fleet.state(host),
        before,
        "a missing database changed the host"
    );

    // A session holds a lock on a runtime table: the truncate step (the last) waits its
    // lock timeout and fails, after the flags were set and the units stopped.
    let mut client = fleet.cluster.connect(&host.db);
    client
        .batch_execute("BEGIN; LOCK TABLE requests IN ACCESS SHARE MODE")
        .unwrap();
    let (code, out) = run(&[]);
    client.batch_execute("ROLLBACK").unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("partly hibernated"), "{out}");
    let state = fleet.state(host);
    assert!(
        state.env.contains("\nHIBERNATE_MODE=true\n"),
        "{}",
        state.env
    );
    assert_eq!(state.runtime_rows, before.runtime_rows, "nothing truncated");

    let (code, out) = run(&[]);
    assert_eq!(code, 0, "the rerun finishes the job: {out}");
    assert!(fleet.state(host).runtime_rows.iter().all(|&n| n == 0));
}

#[test]
fn the_controller_and_hibernate_server_sh_follow_the_trust_rules() {
    let Some(fleet) = Fleet::boot(1, 0) else {
        return;
    };
    let host = fleet.host("cornice1").clone();
    a_planted_report_link_is_refused(&fleet, &host);
    the_report_lock_cannot_hang_the_rollout(&fleet, &host);
    no_module_shows_a_url_password(&fleet, &host);
    hibernate_server_sh_checks_before_it_changes(&fleet, &host);
}

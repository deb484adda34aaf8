//! The fleet brings its archives home: the hibernate playbook with `holdkit_archive` fetches
//! each host's archive to the controller, checked against holdctl's SHA-256, and frees the
//! host of it only then; an archive holding the auth group stays on its host unless the
//! operator opts in; the wake playbook with `holdkit_restore` puts each archive back (a
//! corrupt controller copy is refused, nothing restored, nothing started) and the rows
//! come back. Real ansible-playbook against sandboxed hosts, two over ssh; every check
//! reads the hosts, the database and the controller's files themselves.

mod fleet_support;

use fleet_support::{decode_document, sha256sum, ArchiveTask, ControllerArchive, Fleet, HostEntry};
use reports::holdctl::StepName;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

const HOSTS: [&str; 4] = ["cornice1", "cornice2", "cornice3", "cornice4"];
/// The host whose hold empties the auth group too (host_vars), with no fetch_auth opt-in.
const AUTH_HOST: &str = "cornice4";

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

fn entries(fleet: &Fleet, playbook: &str) -> BTreeMap<String, HostEntry> {
    decode_document(&fleet.report(playbook))
}

fn archive_of<'a>(entries: &'a BTreeMap<String, HostEntry>, host: &str) -> &'a ControllerArchive {
    entries[host]
        .archive
        .as_ref()
        .unwrap_or_else(|| panic!("{host}: no controller_archive: {:?}", entries[host]))
}

/// holdctl's own word on the hold's archive: (path on the host, sha256).
fn holdctl_archive(entry: &HostEntry) -> (String, String) {
    let report = entry.holdctl.as_ref().expect("holdctl's report");
    assert!(report.ok, "{report:?}");
    let archive = report
        .report
        .as_ref()
        .and_then(|r| r.hold.as_ref())
        .and_then(|h| h.archive.clone())
        .expect("the hold record names an archive");
    (archive.path, archive.sha256.expect("written"))
}

fn units_of(fleet: &Fleet, name: &str) -> String {
    fleet.unit(fleet.host(name), "cornice.service")
}

fn runtime_rows(fleet: &Fleet, name: &str) -> Vec<i64> {
    fleet.state(fleet.host(name)).runtime_rows
}

#[test]
fn archives_come_home_and_go_back_on_four_hosts_two_over_ssh() {
    let Some(fleet) = Fleet::boot(4, 2) else {
        return;
    };
    fleet.host_vars(AUTH_HOST, "holdkit_include_auth: true\n");
    let before: Vec<_> = fleet.hosts.iter().map(|h| fleet.fingerprint(h)).collect();
    assert!(before[0].iter().all(|(_, rows, _)| *rows > 0), "{before:?}");

    let run = fleet.playbook(
        "hibernate",
        &[
            "-e",
            "holdkit_archive=true",
            "-e",
            "holdkit_archive_keep_remote=false",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.output);
    let hibernated = entries(&fleet, "hibernate");
    let home = fleet.dir.path().join("holdkit-archives");
    assert_eq!(mode(&home), 0o700, "the archives' directory");
    let mut good_copy = None;
    for name in HOSTS {
        let host = fleet.host(name);
        let (remote, sha) = holdctl_archive(&hibernated[name]);
        let archive = archive_of(&hibernated, name);
        assert_eq!(archive.state, ArchiveTask::Fetched, "{name}");
        assert_eq!(archive.sha256, sha, "{name}");
        assert_eq!(archive.remote_path, remote, "{name}");
        assert!(archive.error.is_none(), "{name}: {archive:?}");
        assert!(
            runtime_rows(&fleet, name).iter().all(|&n| n == 0),
            "{name} emptied"
        );
        if name == AUTH_HOST {
            // Holds users and secrets: not fetched, never removed, and said so.
            assert!(archive.holds_auth, "{archive:?}");
            assert!(!archive.fetched && !archive.verified && !archive.remote_removed);
            assert_eq!(archive.path, None);
            assert!(archive.note.as_deref().unwrap().contains("auth group"));
            assert!(!home.join(name).exists(), "the controller has no copy");
            assert_eq!(fleet.count(host, "users"), 0, "the auth group was emptied");
            assert_eq!(
                fleet.stat_in(host, &remote).as_deref(),
                Some("600 root regular file"),
                "{name} keeps its archive"
            );
            let on_host = sha256sum(fleet.command_in(host, "sha256sum").arg(&remote));
            assert_eq!(on_host, sha);
            continue;
        }
        let copy = archive.path.clone().expect("a controller copy");
        assert_eq!(
            copy,
            home.join(name)
                .join(Path::new(&remote).file_name().unwrap()),
            "HOLDKIT_ARCHIVE_DIR/HOST/FILE"
        );
        assert!(archive.fetched && archive.verified && archive.remote_removed);
        assert!(!archive.holds_auth);
        assert_eq!(
            sha256sum(Command::new("sha256sum").arg(&copy)),
            sha,
            "{name}: the copy is holdctl's archive"
        );
        assert_eq!(archive.bytes, Some(std::fs::metadata(&copy).unwrap().len()));
        assert_eq!(mode(&copy), 0o600, "{name}");
        assert_eq!(mode(&home.join(name)), 0o700, "{name}");
        assert_eq!(std::fs::metadata(&copy).unwrap().uid(), 0);
        assert_eq!(
            fleet.stat_in(host, &remote),
            None,
            "{name}: gone from the host"
        );
        if name == "cornice1" {
            good_copy = Some((copy, std::fs::read(archive.path.as_ref().unwrap()).unwrap()));
        }
    }

    // The operator opts in for the auth archive: it comes home and leaves its host too (the
    // hold itself is done: holdctl changes nothing and reports the same archive).
    let opt_in = fleet.playbook(
        "hibernate",
        &[
            "--limit",
            AUTH_HOST,
            "-e",
            "holdkit_archive=true",
            "-e",
            "holdkit_archive_keep_remote=false",
            "-e",
            "holdkit_archive_fetch_auth=true",
        ],
    );
    assert_eq!(opt_in.code, 0, "{}", opt_in.output);
    let auth = entries(&fleet, "hibernate");
    let (auth_remote, auth_sha) = holdctl_archive(&auth[AUTH_HOST]);
    assert_eq!(auth_sha, archive_of(&hibernated, AUTH_HOST).sha256);
    let archive = archive_of(&auth, AUTH_HOST);
    assert!(archive.holds_auth && archive.fetched && archive.verified && archive.remote_removed);
    let auth_copy = archive.path.clone().unwrap();
    assert_eq!(
        sha256sum(Command::new("sha256sum").arg(&auth_copy)),
        auth_sha
    );
    assert_eq!(mode(&auth_copy), 0o600);
    assert_eq!(fleet.stat_in(fleet.host(AUTH_HOST), &auth_remote), None);

    // A corrupt copy on the controller is refused: nothing restored, nothing started, and
    // the rollout stops at that host (the first batch).
    let (copy, good) = good_copy.unwrap();
    let mut bad = good.clone();
    let middle = bad.len() / 2;
    bad[middle] ^= 0xff;
    std::fs::write(&copy, &bad).unwrap();
    let refused = fleet.playbook("wake", &["-e", "holdkit_restore=true"]);
    assert_ne!(refused.code, 0, "{}", refused.output);
    assert!(
        refused
            .output
            .contains("is corrupt or another archive, and is refused; nothing was restored"),
        "{}",
        refused.output
    );
    let woken = entries(&fleet, "wake");
    let cornice1 = &woken["cornice1"];
    assert!(cornice1.holdctl.is_none(), "holdctl wake did not run");
    let why = cornice1.no_report.as_ref().unwrap();
    assert!(!why.ok);
    assert_eq!(why.error_kind, Some(reports::ErrorKind::Refused));
    let archive = archive_of(&woken, "cornice1");
    assert_eq!(archive.state, ArchiveTask::Restored);
    assert!(!archive.put_back && !archive.verified, "{archive:?}");
    assert!(archive.error.as_deref().unwrap().contains("corrupt"));
    assert_eq!(woken.len(), 1, "the rollout stopped: {woken:?}");
    for name in HOSTS {
        assert!(
            runtime_rows(&fleet, name).iter().all(|&n| n == 0),
            "{name}: nothing restored"
        );
        assert_eq!(units_of(&fleet, name), "inactive/disabled", "{name}");
    }
    let (remote1, _) = holdctl_archive(&hibernated["cornice1"]);
    assert_eq!(
        fleet.stat_in(fleet.host("cornice1"), &remote1),
        None,
        "nothing sent to the host"
    );

    // The good copy back: every host's rows come back, before its units start. cornice2
    // lost its whole archive directory meanwhile: it is made again, 0700.
    std::fs::write(&copy, &good).unwrap();
    let (remote2, _) = holdctl_archive(&hibernated["cornice2"]);
    let archive_dir2 = Path::new(&remote2).parent().unwrap().to_str().unwrap();
    fleet.exec("cornice2", &["rm", "-r", archive_dir2]);
    let wake = fleet.playbook("wake", &["-e", "holdkit_restore=true"]);
    assert_eq!(wake.code, 0, "{}", wake.output);
    let woken = entries(&fleet, "wake");
    for (i, name) in HOSTS.iter().enumerate() {
        let host = fleet.host(name);
        let report = woken[*name].holdctl.as_ref().expect("holdctl's report");
        assert!(report.ok, "{name}: {report:?}");
        let steps: Vec<StepName> = report
            .report
            .as_ref()
            .unwrap()
            .steps
            .iter()
            .map(|s| s.name)
            .collect();
        assert!(steps.contains(&StepName::RestoreData), "{name}: {steps:?}");
        let archive = archive_of(&woken, name);
        assert!(archive.put_back && archive.verified, "{name}: {archive:?}");
        assert!(archive.error.is_none(), "{name}");
        assert_eq!(
            fleet.fingerprint(host),
            before[i],
            "{name}: the rows are back"
        );
        assert_eq!(units_of(&fleet, name), "active/enabled", "{name}");
        let (remote, sha) = holdctl_archive(&hibernated[*name]);
        assert_eq!(
            fleet.stat_in(host, &remote).as_deref(),
            Some("600 root regular file"),
            "{name}: put back as pgtruncate --undo accepts it"
        );
        assert_eq!(
            sha256sum(fleet.command_in(host, "sha256sum").arg(&remote)),
            sha
        );
        let dir = Path::new(&remote).parent().unwrap().to_str().unwrap();
        assert_eq!(
            fleet.stat_in(host, dir).as_deref(),
            Some("700 root directory"),
            "{name}"
        );
    }
    fleet.assert_no_secret_in_outputs(&[]);
}

/// Removes a directory outside the fleet's when the test ends, failed or not.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The local attacker (`nobody`) plants a symlink where the operator keeps archives; a link
/// at the archive directory's own name is never followed, even root's. The host keeps its
/// archive (keep_remote false notwithstanding) until a copy is really verified. On the host,
/// a copy is never put back into a directory others may write.
#[test]
fn a_planted_symlink_at_the_archive_directory_is_refused() {
    let Some(fleet) = Fleet::boot(1, 0) else {
        return;
    };
    let host = fleet.host("cornice1").clone();
    // nobody's own directory, and in it a link to a root-only directory.
    let target = fleet.dir.path().join("root-only");
    std::fs::create_dir(&target).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o700)).unwrap();
    let nobody_dir = PathBuf::from(format!("/tmp/{}", support::unique("holdkit-nobody")));
    let _cleanup = RemoveOnDrop(nobody_dir.clone());
    let made = support::as_nobody("mkdir")
        .arg("-m")
        .arg("0755")
        .arg(&nobody_dir)
        .status()
        .unwrap();
    assert!(made.success());
    let planted = nobody_dir.join("archives");
    let linked = support::as_nobody("ln")
        .arg("-s")
        .arg(&target)
        .arg(&planted)
        .status()
        .unwrap();
    assert!(linked.success());

    let args = |dir: &Path| {
        vec![
            "-e".to_string(),
            "holdkit_archive=true".to_string(),
            "-e".to_string(),
            "holdkit_archive_keep_remote=false".to_string(),
            "-e".to_string(),
            format!("holdkit_archive_dir={}", dir.display()),
        ]
    };
    let run_with = |dir: &Path| {
        let args = args(dir);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fleet.playbook("hibernate", &args)
    };

    let run = run_with(&planted);
    assert_ne!(run.code, 0, "{}", run.output);
    assert!(
        run.output
            .contains("can be written by users other than root"),
        "{}",
        run.output
    );
    let document = entries(&fleet, "hibernate");
    let archive = archive_of(&document, "cornice1");
    assert!(!archive.fetched && !archive.remote_removed, "{archive:?}");
    let (remote, sha) = holdctl_archive(&document["cornice1"]);
    assert_eq!(
        std::fs::read_dir(&target).unwrap().count(),
        0,
        "nothing written through the link"
    );
    assert_eq!(
        sha256sum(fleet.command_in(&host, "sha256sum").arg(&remote)),
        sha,
        "the host keeps its archive"
    );

    // Root's own link at the directory's name, in a directory only root can write: still
    // not followed (an archive directory is never reached through a link at its name).
    let rooted = fleet.dir.path().join("archives-link");
    std::os::unix::fs::symlink(&target, &rooted).unwrap();
    let run = run_with(&rooted);
    assert_ne!(run.code, 0, "{}", run.output);
    assert!(
        run.output.contains("is a symlink") || run.output.contains("not a directory"),
        "{}",
        run.output
    );
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
    assert!(fleet.stat_in(&host, &remote).is_some(), "still on the host");

    // A directory of the operator's own: the archive comes home and leaves the host.
    let own = fleet.dir.path().join("archives");
    let run = run_with(&own);
    assert_eq!(run.code, 0, "{}", run.output);
    let document = entries(&fleet, "hibernate");
    let archive = archive_of(&document, "cornice1");
    assert!(archive.verified && archive.remote_removed, "{archive:?}");
    assert_eq!(fleet.stat_in(&host, &remote), None);

    // On the host: an archive directory others may write is refused for the copy put back
    // (anyone could swap it before pgtruncate --undo reads it): nothing restored or started.
    let dir = Path::new(&remote)
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    fleet.exec("cornice1", &["chmod", "0777", &dir]);
    let own_dir = format!("holdkit_archive_dir={}", own.display());
    let wake_args = ["-e", "holdkit_restore=true", "-e", own_dir.as_str()];
    let refused = fleet.playbook("wake", &wake_args);
    assert_ne!(refused.code, 0, "{}", refused.output);
    assert!(
        refused
            .output
            .contains("can be written by users other than root"),
        "{}",
        refused.output
    );
    assert_eq!(fleet.stat_in(&host, &remote), None, "nothing put there");
    assert!(runtime_rows(&fleet, "cornice1").iter().all(|&n| n == 0));
    assert_eq!(units_of(&fleet, "cornice1"), "inactive/disabled");
    fleet.exec("cornice1", &["chmod", "0700", &dir]);
    let wake = fleet.playbook("wake", &wake_args);
    assert_eq!(wake.code, 0, "{}", wake.output);
    assert!(runtime_rows(&fleet, "cornice1").iter().all(|&n| n > 0));
    assert_eq!(units_of(&fleet, "cornice1"), "active/enabled");
}

/// `fleet-demo.sh --archive`, as a person runs it (its own PostgreSQL and fleet), on two
/// hosts over ssh with the debug build: its JSON decoded with the report types.
#[test]
fn fleet_demo_with_archive_brings_the_rows_back() {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct DemoArchive {
        path: PathBuf,
        sha256: String,
        verified: bool,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Demo {
        hosts: serde_json::Value,
        rerun: serde_json::Value,
        connections: BTreeMap<String, String>,
        archives: BTreeMap<String, DemoArchive>,
        restored: serde_json::Value,
    }
    if support::require("root", support::root()).is_none()
        || support::require("ansible-core", fleet_support::ansible_bin()).is_none()
    {
        return;
    }
    let target = support::bin_dir();
    let target_dir = target.parent().unwrap();
    let mut cmd = Command::new(support::repo_root().join("scripts/fleet-demo.sh"));
    cmd.args([
        "--archive",
        "--hosts",
        "2",
        "--profile",
        "debug",
        "--no-build",
    ])
    .env("CARGO_TARGET_DIR", target_dir)
    .env("HOLD_FLEET_ROWS", "100")
    .env(
        "HOLD_ANSIBLE_VENV",
        fleet_support::ansible_bin().unwrap().parent().unwrap(),
    )
    .env("NO_COLOR", "1");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HOLD_PG_") {
            cmd.env_remove(name);
        }
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let demo: Demo = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(demo.connections.len(), 2);
    let hosts = decode_document(&demo.hosts);
    let rerun = decode_document(&demo.rerun);
    let restored = decode_document(&demo.restored);
    for name in ["cornice1", "cornice2"] {
        let archive = &demo.archives[name];
        let hold = hosts[name].holdctl.as_ref().unwrap();
        let recorded = hold.report.as_ref().unwrap().hold.as_ref().unwrap();
        let recorded = recorded.archive.as_ref().unwrap();
        assert!(archive.verified, "{name}");
        assert_eq!(Some(&archive.sha256), recorded.sha256.as_ref(), "{name}");
        assert!(archive.path.ends_with(format!(
            "holdkit-archives/{name}/{}",
            Path::new(&recorded.path)
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
        )));
        assert!(hosts[name].archive.as_ref().unwrap().remote_removed);
        assert!(!rerun[name].holdctl.as_ref().unwrap().changed, "{name}");
        let wake = restored[name].holdctl.as_ref().unwrap();
        assert!(wake.ok, "{name}");
        let restore = wake
            .report
            .as_ref()
            .unwrap()
            .steps
            .iter()
            .find(|s| s.name == StepName::RestoreData)
            .unwrap_or_else(|| panic!("{name}: no restore_data"));
        let undo: reports::Envelope<reports::pgtruncate::Report> =
            serde_json::from_value(restore.report.clone()).unwrap();
        let undo = undo.report.unwrap();
        let back: u64 = undo.restored.iter().map(|t| t.rows).sum();
        let archived: u64 = recorded.tables.iter().map(|t| t.rows).sum();
        assert!(archived > 0, "{name}");
        assert_eq!(back, archived, "{name}: every archived row came back");
        assert!(restored[name].archive.as_ref().unwrap().put_back, "{name}");
    }
}

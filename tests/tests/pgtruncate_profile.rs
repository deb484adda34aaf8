//! `pgtruncate --preset NAME|FILE` with hold profiles, against a real PostgreSQL: the
//! built-in cornice profile and the same text read from a file plan the same run; a
//! second application's profile (its own schema, foreign keys, a group left out by
//! default, a kept table) is planned and truncated; profiles root must not trust (owned
//! by `nobody`, writable by others, reached through `nobody`'s symlink, a hard link in
//! `nobody`'s directory) are refused before a byte of them is read, and broken ones are
//! usage errors naming the line. Every refusal proves the database was not touched.

use reports::envelope::{decode, Envelope, ErrorKind};
use reports::pgtruncate::Report;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support::pg::{empty_home, run_pgtruncate, Cluster, TestDb, LEDGER_SQL};
use support::run::ToolRun;
use support::{require, ProfileScene};

fn cornice_db(prefix: &str) -> Option<TestDb> {
    let cluster = require("PostgreSQL test cluster", Cluster::from_env())?;
    let db = cluster.create_database(prefix);
    db.load_cornice_fixture(50);
    Some(db)
}

const LEDGER_PROFILE: &str = r#"description = "Ledger API and its workers"

[units]
api = "ledger-api"
others = ["ledger-worker"]

[flags]
MAINTENANCE = "1"

[tables]
schema = "ledger"
default = ["runtime"]
keep = ["schema_migrations"]

[tables.groups]
runtime = ["events", "event_payloads", "cache_entries"]
history = ["postings_archive"]

[include]
history = { groups = ["history"] }
everything = { groups = ["history"], unclassified = true }
"#;

fn ledger_db(prefix: &str) -> Option<TestDb> {
    let cluster = require("PostgreSQL test cluster", Cluster::from_env())?;
    let db = cluster.create_database(prefix);
    db.exec(LEDGER_SQL);
    Some(db)
}

/// A directory owned by `nobody` in the scene, as a service user owns its home.
fn attacker_dir(files: &ProfileScene) -> PathBuf {
    let dir = files.path("home-nobody");
    if !dir.exists() {
        std::fs::create_dir(&dir).unwrap();
        support::give_to_nobody(&dir);
    }
    dir
}

#[track_caller]
fn pgt(files: &ProfileScene, args: &[&str]) -> ToolRun {
    let dir = files.profile_dir();
    let env = [("HOLDKIT_PROFILE_DIR", dir.to_str().unwrap())];
    run_pgtruncate(args, &env, &empty_home(env!("CARGO_TARGET_TMPDIR")))
}

fn report(run: &ToolRun) -> Envelope<Report> {
    decode::<Report>(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

fn names(entries: &[reports::pgtruncate::TableEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.table.as_str()).collect()
}

/// What a plan is, without the database's URL, timings, sizes and the profile's source.
fn plan_of(r: &Report) -> String {
    let mut r = r.clone();
    r.database = None;
    r.profile = None;
    r.duration_ms = 0;
    r.bytes_freed = None;
    for e in r
        .truncated
        .iter_mut()
        .chain(&mut r.cascaded)
        .chain(&mut r.kept)
    {
        e.bytes_before = 0;
        e.bytes_after = None;
    }
    serde_json::to_string_pretty(&r).unwrap()
}

#[test]
fn the_built_in_cornice_profile_and_its_text_in_a_file_plan_and_do_the_same() {
    let (Some(a), Some(b)) = (cornice_db("pgp_builtin"), cornice_db("pgp_file")) else {
        return;
    };
    if require("root", support::root()).is_none() {
        return;
    }
    let files = ProfileScene::new("holdkit-profile.");
    let text = std::fs::read_to_string(support::repo_root().join("profile/profiles/cornice.toml"))
        .unwrap();
    // Outside the profile directory, under the same name: the plans must be identical,
    // reasons (which name the profile) included.
    let file = files.write("cornice.toml", &text, 0o644);
    let (url_a, url_b) = (a.url(), b.url());
    for extra in [
        &[][..],
        &["--include-opportunities"][..],
        &["--include", "auth"][..],
    ] {
        let mut built_in = vec!["-d", &url_a, "--preset", "cornice"];
        built_in.extend_from_slice(extra);
        let mut from_file = vec!["-d", &url_b, "--preset", file.to_str().unwrap()];
        from_file.extend_from_slice(extra);
        let x = pgt(&files, &built_in);
        x.expect_code(0);
        let y = pgt(&files, &from_file);
        y.expect_code(0);
        let (rx, ry) = (report(&x).report.unwrap(), report(&y).report.unwrap());
        assert_eq!(plan_of(&rx), plan_of(&ry), "{extra:?}");
        assert_eq!(a.counts(), b.counts(), "{extra:?}");
        let (px, py) = (rx.profile.unwrap(), ry.profile.unwrap());
        assert_eq!(px.source, "built-in");
        assert_eq!(py.source, file.display().to_string());
        assert_eq!(px.sha256, py.sha256, "the same text");
        assert_eq!(rx.preset.as_deref(), Some("cornice"));
        assert_eq!(ry.preset.as_deref(), Some("cornice"));
    }
    // The last run was `--include auth`: everything but the kept migration table.
    assert_eq!(a.count("users"), 0);
    assert_eq!(a.count("alembic_version"), 1);
}

#[test]
fn a_second_applications_profile_is_planned_and_truncated_in_its_own_schema() {
    let Some(db) = ledger_db("pgp_ledger") else {
        return;
    };
    if require("root", support::root()).is_none() {
        return;
    }
    let files = ProfileScene::new("holdkit-profile.");
    std::fs::write(files.profile_dir().join("ledger.toml"), LEDGER_PROFILE).unwrap();
    let before = db.fingerprint();

    let dry = pgt(
        &files,
        &["-d", &db.url(), "--preset", "ledger", "--dry-run"],
    );
    dry.expect_code(0);
    assert_eq!(db.fingerprint(), before, "a dry run touches nothing");
    let r = report(&dry).report.unwrap();
    assert_eq!(r.preset.as_deref(), Some("ledger"));
    assert_eq!(r.groups, ["runtime"]);
    assert_eq!(
        r.profile.as_ref().unwrap().source,
        files
            .profile_dir()
            .join("ledger.toml")
            .display()
            .to_string()
    );
    assert_eq!(
        names(&r.truncated),
        [
            "ledger.cache_entries",
            "ledger.event_payloads",
            "ledger.events"
        ]
    );
    assert!(r.cascaded.is_empty());
    assert_eq!(r.unclassified, ["ledger.accounts"]);
    let kept: BTreeMap<&str, &str> = r
        .kept
        .iter()
        .map(|e| (e.table.as_str(), e.reason.as_deref().unwrap()))
        .collect();
    assert_eq!(
        kept["ledger.postings_archive"],
        "group history not included"
    );
    assert!(
        kept["ledger.schema_migrations"].contains("tables.keep of profile ledger"),
        "{kept:?}"
    );
    assert!(
        kept["ledger.accounts"].starts_with("unclassified"),
        "{kept:?}"
    );

    let run = pgt(&files, &["-d", &db.url(), "--preset", "ledger"]);
    run.expect_code(0);
    for t in [
        "ledger.events",
        "ledger.event_payloads",
        "ledger.cache_entries",
    ] {
        assert_eq!(db.count(t), 0, "{t}");
    }
    let after = db.fingerprint();
    for t in [
        "ledger.accounts",
        "ledger.postings_archive",
        "ledger.schema_migrations",
        "public.events",
    ] {
        assert_eq!(after[t], before[t], "{t} must be intact");
    }
    let r = report(&run).report.unwrap();
    assert!(r
        .sequences_reset
        .contains(&"ledger.events_id_seq".to_string()));

    // The include that adds the unclassified tables still never reaches the kept one.
    let all = pgt(
        &files,
        &[
            "-d",
            &db.url(),
            "--preset",
            "ledger",
            "--include",
            "everything",
        ],
    );
    all.expect_code(0);
    for t in ["ledger.accounts", "ledger.postings_archive"] {
        assert_eq!(db.count(t), 0, "{t}");
    }
    assert_eq!(db.count("ledger.schema_migrations"), 2);
    assert_eq!(db.count("public.events"), 3);
    let r = report(&all).report.unwrap();
    assert_eq!(r.groups, ["runtime", "history"]);
    assert_eq!(names(&r.kept), ["ledger.schema_migrations"]);
}

#[test]
fn includes_a_profile_does_not_define_are_usage_errors_touching_nothing() {
    let Some(db) = ledger_db("pgp_includes") else {
        return;
    };
    if require("root", support::root()).is_none() {
        return;
    }
    let files = ProfileScene::new("holdkit-profile.");
    let file = files.write("ledger.toml", LEDGER_PROFILE, 0o644);
    let before = db.fingerprint();
    for (extra, says) in [
        (
            "--include-auth",
            "--include-auth is the spelling of --include auth",
        ),
        ("--include-opportunities", "which profile ledger"),
        (
            "--include=nope",
            "--include nope: profile ledger has no include or group of that name",
        ),
    ] {
        let run = pgt(
            &files,
            &["-d", &db.url(), "--preset", file.to_str().unwrap(), extra],
        );
        run.expect_code(2);
        let env = report(&run);
        let err = env.error.unwrap();
        assert_eq!(err.kind, ErrorKind::Usage);
        assert!(err.message.contains(says), "{}", err.message);
        assert!(
            err.message.contains("history, everything"),
            "{}",
            err.message
        );
        // The profile's names, not Cornice's.
        assert!(!err.message.contains("catalogs"), "{}", err.message);
        assert_eq!(db.fingerprint(), before);
    }
}

/// A profile that would empty `ledger.accounts` too, were it followed.
fn greedy_profile() -> String {
    LEDGER_PROFILE.replace(
        "default = [\"runtime\"]",
        "default = [\"runtime\", \"history\"]",
    )
}

#[track_caller]
fn expect_refused(files: &ProfileScene, db: &TestDb, preset: &Path, says: &str) {
    let before = db.fingerprint();
    let run = pgt(
        files,
        &["-d", &db.url(), "--preset", preset.to_str().unwrap()],
    );
    run.expect_code(3);
    let env = report(&run);
    let err = env.error.unwrap();
    assert_eq!(err.kind, ErrorKind::Refused);
    assert!(err.message.contains(says), "{}", err.message);
    assert!(env.report.unwrap().database.is_none(), "not even connected");
    assert_eq!(db.fingerprint(), before, "nothing was touched");
}

#[test]
fn profiles_root_must_not_trust_are_refused_before_they_are_read() {
    let Some(db) = ledger_db("pgp_trust") else {
        return;
    };
    if require("root", support::root()).is_none() {
        return;
    }
    let files = ProfileScene::new("holdkit-profile.");
    // Each would parse: a refusal, not a usage error naming a line, shows the trust
    // check came first. And one is not even TOML, to show no byte of it was parsed.
    let owned = files.write("owned.toml", &greedy_profile(), 0o644);
    support::give_to_nobody(&owned);
    expect_refused(&files, &db, &owned, "is owned by nobody");

    let group = files.write("group.toml", &greedy_profile(), 0o664);
    expect_refused(&files, &db, &group, "is writable by its group (mode 0664)");
    let other = files.write("other.toml", "this is [not toml", 0o646);
    expect_refused(&files, &db, &other, "is writable by everyone");

    // nobody's symlink, in nobody's directory, to root's own profile.
    let roots = files.write("roots.toml", &greedy_profile(), 0o644);
    let link = attacker_dir(&files).join("ledger.toml");
    let out = support::as_nobody("ln")
        .arg("-s")
        .arg(&roots)
        .arg(&link)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    expect_refused(&files, &db, &link, "is a symlink made by nobody");

    // By name too: a file in the profile directory that root must not trust is refused,
    // never passed over for the built-in profile of the same name.
    let named = files.profile_dir().join("cornice.toml");
    std::fs::write(&named, greedy_profile()).unwrap();
    support::give_to_nobody(&named);
    let before = db.fingerprint();
    let run = pgt(&files, &["-d", &db.url(), "--preset", "cornice"]);
    run.expect_code(3);
    let err = report(&run).error.unwrap();
    assert!(
        err.message.contains("is owned by nobody"),
        "{}",
        err.message
    );
    assert_eq!(db.fingerprint(), before);

    // A hard link to root's profile in nobody's directory (made here by root: the
    // kernel's protected_hardlinks may or may not stop nobody, the tool must not care).
    let hard = attacker_dir(&files).join("hard.toml");
    std::fs::hard_link(&roots, &hard).unwrap();
    expect_refused(&files, &db, &hard, "has 2 hard links");
}

#[test]
fn broken_profiles_are_usage_errors_naming_the_file_and_line() {
    let Some(db) = ledger_db("pgp_broken") else {
        return;
    };
    if require("root", support::root()).is_none() {
        return;
    }
    let files = ProfileScene::new("holdkit-profile.");
    let before = db.fingerprint();
    let two_groups = LEDGER_PROFILE.replace(
        "history = [\"postings_archive\"]",
        "history = [\"postings_archive\", \"cache_entries\"]",
    );
    let unknown_key = LEDGER_PROFILE.replace("[tables]\n", "[tables]\nkeeep = []\n");
    let malformed = LEDGER_PROFILE.replace("[units]", "[units");
    for (name, text, line, says) in [
        (
            "two.toml",
            two_groups.as_str(),
            17,
            "table cache_entries is in two groups, runtime and history",
        ),
        ("key.toml", unknown_key.as_str(), 11, "keeep"),
        ("bad.toml", malformed.as_str(), 3, ""),
    ] {
        let file = files.write(name, text, 0o644);
        let run = pgt(
            &files,
            &["-d", &db.url(), "--preset", file.to_str().unwrap()],
        );
        run.expect_code(2);
        let err = report(&run).error.unwrap();
        assert_eq!(err.kind, ErrorKind::Usage);
        let at = format!("{} line {line}", file.display());
        assert!(err.message.contains(&at), "{at}: {}", err.message);
        assert!(err.message.contains(says), "{}", err.message);
        assert_eq!(db.fingerprint(), before);
    }
    // A name with no file and no built-in, and a path that is not there.
    let run = pgt(&files, &["-d", &db.url(), "--preset", "ledger"]);
    run.expect_code(2);
    let missing = files.path("missing.toml");
    let run = pgt(
        &files,
        &["-d", &db.url(), "--preset", missing.to_str().unwrap()],
    );
    run.expect_code(4);
    assert_eq!(db.fingerprint(), before);
}

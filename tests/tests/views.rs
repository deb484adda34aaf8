//! envpatch, svcctl and pgtruncate under a real pseudo-terminal (script(1)): without
//! `--json` a person gets a short view of the report (not JSON, a screen at most, the
//! summary line last, no secret); with `--json` the same terminal gets the JSON, which
//! decodes into the tool's report type. Error paths show the error in words.

use reports::envelope::decode;
use std::path::Path;
use std::process::{Command, Stdio};
use support::pg::{Cluster, TestDb, CORNICE_RUNTIME_TABLES as RUNTIME};
use support::systemd::{service_unit, Sandbox};
use support::{assert_short_view, bin, require};

/// `script` runs a command on a pseudo-terminal of its own: stdout is a terminal.
fn have_script() -> bool {
    let found = Command::new("script")
        .arg("--version")
        .output()
        .map_err(|e| format!("script (util-linux): {e}"))
        .and_then(|o| {
            o.status
                .success()
                .then_some(())
                .ok_or_else(|| "script --version failed".to_string())
        });
    require("script (util-linux)", found).is_some()
}

/// Runs `argv` under a pseudo-terminal through `script` (a plain `script` command, or one
/// entering a sandbox); returns the exit code and the screen (stdout and stderr as a
/// person sees them, in order).
fn on_terminal(mut script: Command, argv: &[String]) -> (i32, String) {
    use std::io::Read;
    let cmdline: Vec<String> = argv
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let mut child = script
        .args(["-qec", &format!("exec {}", cmdline.join(" ")), "/dev/null"])
        .env("SHELL", "/bin/sh")
        .env("TERM", "dumb")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start script");
    // Held open until the command is done: an early EOF reaches its terminal.
    let stdin = child.stdin.take();
    let mut screen = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut screen)
        .unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    let text = String::from_utf8_lossy(&screen).replace('\r', "");
    (status.code().unwrap_or(-1), text)
}

fn args(tool: &str, rest: &[&str]) -> Vec<String> {
    std::iter::once(bin(tool).display().to_string())
        .chain(rest.iter().map(|s| s.to_string()))
        .collect()
}

#[track_caller]
fn assert_no_secret(screen: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !screen.contains(secret),
            "{secret} on the terminal:\n{screen}"
        );
    }
}

/// The JSON a terminal got with `--json=short`: one line, the envelope checked against
/// the contract and the schema; the caller decodes it into the tool's report type.
#[track_caller]
fn json_on_terminal<'a>(tool: &str, code: i32, screen: &'a str) -> &'a str {
    let line = screen
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON on the terminal:\n{screen}"));
    let json = support::run::parse_one_object(line).unwrap();
    support::run::check_envelope(tool, &json, code);
    line
}

const ENV_SECRETS: [&str; 4] = [
    "Planted-Env-Secret-5150",
    "Planted-Url-Secret-6160",
    "Planted-Cache-Secret-7170",
    "Planted-New-Secret-8180",
];

/// An env file with planted secrets: by name, in DATABASE_URL, in another URL.
fn env_file(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("cornice.env");
    std::fs::write(
        &file,
        "HIBERNATE_MODE=false\n\
         DB_PASSWORD=Planted-Env-Secret-5150\n\
         DATABASE_URL=postgresql://cornice:Planted-Url-Secret-6160@db:5432/cornice\n\
         CACHE_URL=redis://:Planted-Cache-Secret-7170@cache:6379/0\n",
    )
    .unwrap();
    file
}

/// `envpatch FILE REST...` on a terminal.
fn envpatch_on_terminal(file: &Path, rest: &[&str]) -> (i32, String) {
    let path = file.display().to_string();
    let mut all = vec![path.as_str()];
    all.extend_from_slice(rest);
    on_terminal(Command::new("script"), &args("envpatch", &all))
}

#[test]
fn envpatch_on_a_terminal_shows_each_key_and_never_a_secret() {
    if !have_script() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = env_file(dir.path());
    let path = file.display().to_string();
    let envpatch = |rest: &[&str]| envpatch_on_terminal(&file, rest);

    // A dry run says "would" and leaves the bytes alone.
    let before = std::fs::read(&file).unwrap();
    let (code, screen) = envpatch(&["HIBERNATE_MODE=true", "--dry-run"]);
    assert_eq!(code, 0, "{screen}");
    assert_short_view(&screen, "envpatch: would set HIBERNATE_MODE in");
    assert!(screen.contains("nothing was changed"), "{screen}");
    assert!(
        screen.contains("would set HIBERNATE_MODE=true (was false)"),
        "{screen}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);

    let (code, screen) = envpatch(&[
        "HIBERNATE_MODE=true",
        "DB_PASSWORD=Planted-New-Secret-8180",
        "--backup",
    ]);
    assert_eq!(code, 0, "{screen}");
    assert_short_view(
        &screen,
        &format!("envpatch: set HIBERNATE_MODE and DB_PASSWORD in {path}"),
    );
    assert!(
        screen.contains("set HIBERNATE_MODE=true (was false)"),
        "{screen}"
    );
    assert!(
        screen.contains("set DB_PASSWORD=<redacted> (was <redacted>)"),
        "{screen}"
    );
    assert!(screen.contains(&format!("backup: {path}.bak")), "{screen}");
    assert_no_secret(&screen, &ENV_SECRETS);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("HIBERNATE_MODE=true\n") && text.contains("Planted-New-Secret-8180"));

    // Again: nothing to do, each key said unchanged.
    let (code, screen) = envpatch(&["HIBERNATE_MODE=true"]);
    assert_eq!(code, 0, "{screen}");
    assert_short_view(&screen, &format!("envpatch: {path} already as asked"));
    assert!(screen.contains("unchanged HIBERNATE_MODE=true"), "{screen}");

    // --get: the key=value lines, secrets redacted (by name, and a URL's password).
    let (code, screen) = envpatch(&[
        "--get",
        "HIBERNATE_MODE",
        "--get",
        "DATABASE_URL",
        "--get",
        "CACHE_URL",
        "--get",
        "DB_PASSWORD",
        "--get",
        "NOT_THERE",
    ]);
    assert_eq!(code, 0, "{screen}");
    assert_short_view(&screen, "envpatch: read ");
    for line in [
        "  HIBERNATE_MODE=true",
        "  DATABASE_URL=<redacted>",
        "  CACHE_URL=<redacted>",
        "  DB_PASSWORD=<redacted>",
        "  NOT_THERE is not set",
    ] {
        assert!(screen.contains(line), "{line:?}:\n{screen}");
    }
    assert_no_secret(&screen, &ENV_SECRETS);

    // With --json the same terminal gets the JSON, which decodes into the report.
    let (code, screen) = envpatch(&["--json=short", "--get", "DB_PASSWORD"]);
    assert_eq!(code, 0, "{screen}");
    let run =
        decode::<reports::envpatch::Report>(json_on_terminal("envpatch", code, &screen)).unwrap();
    let report = run.report.unwrap();
    assert_eq!(report.values["DB_PASSWORD"].as_deref(), Some("<redacted>"));
    assert_no_secret(&screen, &ENV_SECRETS);
}

#[test]
fn envpatch_on_a_terminal_cuts_long_lists_escapes_and_says_what_went_wrong() {
    if !have_script() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = env_file(dir.path());
    let envpatch = |rest: &[&str]| envpatch_on_terminal(&file, rest);

    // Many keys: the view stays a screen.
    let from = dir.path().join("many.env");
    let many: String = (0..120).map(|i| format!("FLAG_{i}=on\n")).collect();
    std::fs::write(&from, many).unwrap();
    let (code, screen) = envpatch(&["--from", &from.display().to_string(), "--dry-run"]);
    assert_eq!(code, 0, "{screen}");
    assert_short_view(&screen, "envpatch: would set FLAG_0");
    assert!(screen.contains("... and 96 more"), "{screen}");

    // A value that would drive the terminal reaches it escaped.
    let hostile = dir.path().join("hostile.env");
    std::fs::write(&hostile, "TITLE=a\u{1b}]0;owned\u{7}b\n").unwrap();
    let (code, screen) = on_terminal(
        Command::new("script"),
        &args(
            "envpatch",
            &[&hostile.display().to_string(), "--get", "TITLE"],
        ),
    );
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("  TITLE=a\\u{1b}]0;owned\\u{7}b\n"),
        "{screen}"
    );
    assert!(
        !screen.contains('\u{1b}') && !screen.contains('\u{7}'),
        "{screen:?}"
    );

    // A missing file: the error in words, nothing created.
    let missing = dir.path().join("missing.env").display().to_string();
    let (code, screen) = on_terminal(
        Command::new("script"),
        &args("envpatch", &[&missing, "HIBERNATE_MODE=true"]),
    );
    assert_eq!(code, 4, "{screen}");
    assert_short_view(&screen, "envpatch: error: ");
    assert!(
        screen.contains(&format!(
            "envpatch {missing}: nothing was changed\nerror (not_found, exit 4)"
        )),
        "{screen}"
    );
    assert!(
        screen.contains(&format!(
            "envpatch: error: {missing} does not exist; pass --create"
        )),
        "{screen}"
    );
    assert!(!Path::new(&missing).exists());

    // Bad arguments: clap's words on stderr, no JSON on the terminal either.
    let (code, screen) = envpatch(&["--no-such-flag"]);
    assert_eq!(code, 2, "{screen}");
    assert_short_view(&screen, "error (usage, exit 2): see --help");
    assert!(
        screen.contains("unexpected argument '--no-such-flag'"),
        "{screen}"
    );
}

#[test]
fn svcctl_on_a_terminal_shows_one_line_per_unit() {
    if !have_script() {
        return;
    }
    let unit = service_unit("/bin/sleep infinity", "");
    let Some(sb) = require(
        "systemd sandbox",
        Sandbox::boot(&[
            ("api.service", &unit),
            ("monitor.service", &unit),
            (
                "broken.service",
                &service_unit("/bin/false", "Type=oneshot"),
            ),
        ]),
    ) else {
        return;
    };
    let out = sb.systemctl(&["start", "api.service", "monitor.service"]);
    assert!(out.status.success(), "{out:?}");
    let svcctl = |rest: &[&str]| on_terminal(sb.command("script"), &args("svcctl", rest));

    let (code, screen) = svcctl(&["stop", "api", "monitor", "--dry-run"]);
    assert_eq!(code, 0, "{screen}");
    assert_short_view(
        &screen,
        "svcctl: would stop api.service and monitor.service",
    );
    assert!(
        screen.contains("  api.service      active/disabled  would stop"),
        "{screen}"
    );
    assert_eq!(sb.active_state("api.service"), "active");

    let (code, screen) = svcctl(&["stop", "api", "monitor"]);
    assert_eq!(code, 0, "{screen}");
    assert_short_view(&screen, "svcctl: stopped api.service and monitor.service");
    for name in ["api.service    ", "monitor.service"] {
        assert!(
            screen.contains(&format!(
                "  {name}  active/disabled -> inactive/disabled  stop: job done"
            )),
            "{name}:\n{screen}"
        );
    }
    assert_eq!(sb.active_state("api.service"), "inactive");
    assert_eq!(sb.active_state("monitor.service"), "inactive");

    let (code, screen) = svcctl(&["status", "api"]);
    assert_eq!(code, 0, "{screen}");
    assert_short_view(&screen, "svcctl: api.service inactive/disabled");
    assert!(
        screen.contains("  api.service  inactive (dead)/disabled"),
        "{screen}"
    );

    let (code, screen) = svcctl(&["--json=short", "status", "api", "monitor"]);
    assert_eq!(code, 0, "{screen}");
    let run = decode::<reports::svcctl::Report>(json_on_terminal("svcctl", code, &screen)).unwrap();
    let report = run.report.unwrap();
    let units: Vec<&str> = report.units.iter().map(|u| u.unit.as_str()).collect();
    assert_eq!(units, ["api.service", "monitor.service"]);

    // A unit that does not exist: the error in words, nothing done for the others.
    sb.systemctl(&["start", "api.service"]);
    let (code, screen) = svcctl(&["stop", "api", "ghost"]);
    assert_eq!(code, 4, "{screen}");
    assert_short_view(&screen, "svcctl: error: no such unit: ghost.service");
    assert!(screen.contains("error (not_found, exit 4)"), "{screen}");
    assert!(screen.contains("  ghost.service  not found"), "{screen}");
    assert_eq!(sb.active_state("api.service"), "active");

    // A job that fails: the unit's line says so, the error follows.
    let (code, screen) = svcctl(&["start", "broken"]);
    assert_eq!(code, 1, "{screen}");
    assert_short_view(&screen, "svcctl: error: ");
    assert!(
        screen
            .contains("  broken.service  inactive/disabled -> failed/disabled  start: job failed"),
        "{screen}"
    );
    assert!(screen.contains("error (failed, exit 1)"), "{screen}");
}

/// A wrong password a test plants in a URL: no screen may show it.
const WRONG_SECRET: &str = "Planted-Wrong-Secret-9191";

/// What the pgtruncate terminal tests stand on: `script`, a database of their own with the
/// Cornice fixture, an env file of root's (mode 0600) naming it with the cluster's real
/// password, and a directory for it that is also pgtruncate's HOME.
struct PgScene {
    dir: tempfile::TempDir,
    db: TestDb,
    env_file: String,
}

impl PgScene {
    fn new() -> Option<PgScene> {
        use std::os::unix::fs::PermissionsExt;
        if !have_script() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let cluster = require("PostgreSQL test cluster", Cluster::from_env())?;
        let db = cluster.create_database("views");
        db.load_cornice_fixture(200);
        let env_file = dir.path().join("cornice.env");
        std::fs::write(&env_file, format!("DATABASE_URL={}\n", db.url())).unwrap();
        std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let env_file = env_file.display().to_string();
        Some(PgScene { dir, db, env_file })
    }

    /// pgtruncate on a terminal, with none of the caller's connection settings.
    fn pgtruncate(&self, rest: &[&str]) -> (i32, String) {
        let mut script = Command::new("script");
        support::pg::without_connection_env(&mut script, self.dir.path());
        on_terminal(script, &args("pgtruncate", rest))
    }

    /// What no screen may show.
    fn secrets(&self) -> [&str; 2] {
        [self.db.cluster.password.as_str(), WRONG_SECRET]
    }

    fn runtime_rows(&self) -> Vec<i64> {
        RUNTIME.iter().map(|t| self.db.count(t)).collect()
    }
}

#[test]
fn pgtruncate_on_a_terminal_shows_the_tables_and_the_bytes() {
    let Some(scene) = PgScene::new() else {
        return;
    };
    let (db, env_file) = (&scene.db, scene.env_file.as_str());
    let secrets = scene.secrets();
    let before = db.fingerprint();
    assert!(scene.runtime_rows().iter().all(|&n| n > 0));

    let (code, screen) =
        scene.pgtruncate(&["--env-file", env_file, "--preset", "cornice", "--dry-run"]);
    assert_eq!(code, 0, "{screen}");
    assert_short_view(&screen, "pgtruncate: would empty 13 table(s)");
    assert!(screen.contains("would empty 13 table(s):"), "{screen}");
    for table in RUNTIME {
        assert!(
            screen.contains(&format!("  public.{table} ")),
            "{table}:\n{screen}"
        );
    }
    assert!(screen.contains("kept "), "{screen}");
    assert!(screen.contains("would reset "), "{screen}");
    assert!(screen.contains("total: "), "{screen}");
    assert_no_secret(&screen, &secrets);
    assert_eq!(db.fingerprint(), before);

    let (code, screen) = scene.pgtruncate(&[
        "--json=short",
        "--env-file",
        env_file,
        "--preset",
        "cornice",
        "--dry-run",
    ]);
    assert_eq!(code, 0, "{screen}");
    let run = decode::<reports::pgtruncate::Report>(json_on_terminal("pgtruncate", code, &screen))
        .unwrap();
    assert_eq!(run.report.unwrap().truncated.len(), RUNTIME.len());
    assert_no_secret(&screen, &secrets);

    // The tables a cascade reaches, each with its path, the list cut short.
    let (code, screen) =
        scene.pgtruncate(&["-d", &db.url(), "users", "--allow-cascade", "--dry-run"]);
    assert_eq!(code, 0, "{screen}");
    assert_short_view(&screen, "pgtruncate: would empty 13 table(s)");
    assert!(
        screen.contains("cascade would empty 12 table(s) outside the set (--allow-cascade):"),
        "{screen}"
    );
    assert!(
        screen.contains("  via public.users -> public.arb_monitor_profiles (foreign key"),
        "{screen}"
    );
    assert!(screen.contains("  ... and 8 more"), "{screen}");
    assert_eq!(db.fingerprint(), before);

    let (code, screen) = scene.pgtruncate(&["-d", &db.url(), "--preset", "cornice"]);
    assert_eq!(code, 0, "{screen}");
    assert_short_view(&screen, "pgtruncate: emptied 13 table(s)");
    assert!(screen.contains("emptied 13 table(s):"), "{screen}");
    assert!(screen.contains(" freed in "), "{screen}");
    assert_no_secret(&screen, &secrets);
    assert!(scene.runtime_rows().iter().all(|&n| n == 0));

    // Again: nothing to do, and the view does not claim it emptied anything.
    let (code, screen) = scene.pgtruncate(&["-d", &db.url(), "--preset", "cornice"]);
    assert_eq!(code, 0, "{screen}");
    assert_short_view(&screen, "pgtruncate: 13 table(s) in ");
    assert!(
        screen.contains("nothing to do: the 13 table(s) are already empty"),
        "{screen}"
    );
    assert!(!screen.contains("emptied"), "{screen}");
}

#[test]
fn pgtruncate_on_a_terminal_shows_what_stands_in_the_way() {
    let Some(scene) = PgScene::new() else {
        return;
    };
    let db = &scene.db;
    let secrets = scene.secrets();
    let before = db.fingerprint();

    // A refusal: the cascade paths, one a line, cut short.
    let (code, screen) = scene.pgtruncate(&["-d", &db.url(), "users"]);
    assert_eq!(code, 3, "{screen}");
    assert_short_view(&screen, "pgtruncate: error: TRUNCATE would cascade");
    assert!(
        screen.contains("error (refused, exit 3): nothing was truncated"),
        "{screen}"
    );
    assert!(screen.contains("the cascade would reach:"), "{screen}");
    assert!(
        screen.contains("  public.users -> public.arb_monitor_profiles (not in the chosen set)"),
        "{screen}"
    );
    assert!(screen.contains("... and "), "{screen}");
    assert_no_secret(&screen, &secrets);

    // A lock timeout: each session holding a lock on a line.
    let (mut blocker, blocker_pid) = db.idle_in_transaction();
    let (code, screen) = scene.pgtruncate(&[
        "-d",
        &db.url(),
        "--preset",
        "cornice",
        "--lock-timeout",
        "1s",
    ]);
    assert_eq!(code, 5, "{screen}");
    assert_short_view(
        &screen,
        "pgtruncate: error: table public.requests is locked",
    );
    assert!(
        screen.contains("error (busy, exit 5): nothing was truncated"),
        "{screen}"
    );
    assert!(screen.contains("blocked by:"), "{screen}");
    assert!(
        screen.contains(&format!(
            "  pid {blocker_pid} (cornice, idle in transaction for "
        )),
        "{screen}"
    );
    assert!(
        screen.contains("on public.requests: BEGIN; SELECT count(*) FROM requests"),
        "{screen}"
    );
    assert_no_secret(&screen, &secrets);
    blocker.batch_execute("ROLLBACK").unwrap();
    assert_eq!(db.fingerprint(), before);

    // A wrong password: the error in words, the password nowhere.
    let wrong = db.cluster.url_as(&db.cluster.user, WRONG_SECRET, &db.name);
    let (code, screen) = scene.pgtruncate(&["-d", &wrong, "--preset", "cornice"]);
    assert_ne!(code, 0, "{screen}");
    assert_short_view(&screen, "pgtruncate: error: ");
    assert!(screen.contains("error ("), "{screen}");
    assert_no_secret(&screen, &secrets);
    assert_eq!(db.fingerprint(), before);
}

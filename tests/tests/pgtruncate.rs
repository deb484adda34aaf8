//! pgtruncate against a real PostgreSQL (scripts/sandbox/pg.sh): the Cornice fixture
//! (scripts/sandbox/cornice.sql), the cornice preset, the cascade guard, locks, names,
//! connections and secrets. Every failure test proves nothing was touched by comparing
//! every table's rows and every sequence's position before and after.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::pg::{
    empty_home, Cluster, TestDb, CORNICE_KEPT_TABLES, CORNICE_RUNTIME_TABLES as RUNTIME,
};
use support::require;
use support::run::{check_envelope, parse_one_object, run_command, ToolRun};

/// A database of the test's own holding the Cornice fixture with 200 rows per runtime table.
fn fixture(prefix: &str) -> Option<TestDb> {
    let cluster = require("PostgreSQL test cluster", Cluster::from_env())?;
    let db = cluster.create_database(prefix);
    db.load_cornice_fixture(200);
    Some(db)
}

/// A pgtruncate command that sees none of the caller's connection settings (no
/// DATABASE_URL, no PG* variables, a HOME without ~/.pgpass).
fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    support::pg::pgtruncate_command(args, env, &empty_home(env!("CARGO_TARGET_TMPDIR")))
}

#[track_caller]
fn pgt(args: &[&str], env: &[(&str, &str)]) -> ToolRun {
    run_command("pgtruncate", &mut command(args, env), None)
}

/// `pgtruncate -d DB --preset cornice`, `flags` added: the run most tests here make.
#[track_caller]
fn cornice(db: &TestDb, flags: &[&str]) -> ToolRun {
    let url = db.url();
    let mut args = vec!["-d", url.as_str(), "--preset", "cornice"];
    args.extend(flags);
    pgt(&args, &[])
}

fn names(list: &serde_json::Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|e| e["table"].as_str().unwrap().to_string())
        .collect()
}

fn url_with(db: &TestDb, query: &str) -> String {
    format!("{}?{query}", db.url())
}

#[test]
fn the_default_preset_empties_runtime_tables_keeps_the_rest_and_a_rerun_changes_nothing() {
    let Some(db) = fixture("pgt_default") else {
        return;
    };
    let before = db.fingerprint();
    let run = cornice(&db, &[]);
    run.expect_code(0);
    let j = &run.json;
    assert_eq!(j["changed"], true);
    assert_eq!(j["dry_run"], false);
    assert_eq!(j["groups"], serde_json::json!(["runtime"]));
    for t in RUNTIME {
        assert_eq!(db.count(t), 0, "{t} should be empty");
    }
    let kept_by_default = CORNICE_KEPT_TABLES
        .into_iter()
        .chain(["opportunities", "alembic_version"]);
    let after = db.fingerprint();
    for t in kept_by_default {
        let key = format!("public.{t}");
        assert_eq!(after[&key], before[&key], "{t} must be intact");
    }
    // One entry per named table; the partitioned table sums its three partitions.
    let truncated = names(&j["truncated"]);
    assert_eq!(truncated.len(), RUNTIME.len(), "{truncated:?}");
    let hp = j["truncated"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["table"] == "public.hourly_prices")
        .unwrap();
    assert_eq!(hp["partitions"], 3);
    assert_eq!(hp["rows_estimate"], 200);
    assert!(hp["bytes_before"].as_i64().unwrap() > hp["bytes_after"].as_i64().unwrap());
    assert!(j["bytes_freed"].as_i64().unwrap() > 0);
    assert!(!truncated.iter().any(|t| t.contains("hourly_prices_2026")));
    // Kept tables say why.
    let kept = j["kept"].as_array().unwrap();
    let users = kept.iter().find(|e| e["table"] == "public.users").unwrap();
    assert_eq!(users["reason"], "group auth not included");
    let alembic = kept
        .iter()
        .find(|e| e["table"] == "public.alembic_version")
        .unwrap();
    assert!(alembic["reason"].as_str().unwrap().contains("migration"));
    // The statement names every table, quoted and qualified, and never CASCADE.
    let statement = j["statement"].as_str().unwrap();
    assert!(
        statement.starts_with("TRUNCATE TABLE \"public\"."),
        "{statement}"
    );
    assert!(statement.ends_with("RESTART IDENTITY"), "{statement}");
    assert!(!statement.contains("CASCADE"));
    // Owned sequences restart at 1.
    assert!(j["sequences_reset"]
        .as_array()
        .unwrap()
        .contains(&"public.requests_id_seq".into()));
    assert_eq!(
        db.query_i64("INSERT INTO requests (path, status) VALUES ('/x', 200) RETURNING id"),
        1
    );
    db.exec("TRUNCATE requests RESTART IDENTITY");
    // A rerun: nothing left to do, and it says so.
    let again = cornice(&db, &[]);
    again.expect_code(0);
    assert_eq!(again.json["changed"], false, "{}", again.stdout);
    assert_eq!(again.json["bytes_freed"], 0);
}

#[test]
fn include_opportunities_and_include_auth_widen_the_set_as_the_runbook_says() {
    let Some(db) = fixture("pgt_groups") else {
        return;
    };
    let run = cornice(&db, &["--include-opportunities"]);
    run.expect_code(0);
    assert_eq!(db.count("opportunities"), 0);
    assert_eq!(db.count("users"), 5);
    assert_eq!(db.count("markets"), 12);

    db.exec("CREATE TABLE app_settings (k text PRIMARY KEY, v text); INSERT INTO app_settings VALUES ('a', 'b');");
    let all = cornice(&db, &["--include-opportunities", "--include-auth"]);
    all.expect_code(0);
    for t in [
        "users",
        "user_profiles",
        "user_secrets",
        "markets",
        "global_markets",
        "app_settings",
    ] {
        assert_eq!(db.count(t), 0, "{t}");
    }
    // Migration bookkeeping survives even "fully empty all application tables".
    assert_eq!(db.count("alembic_version"), 1);
    assert_eq!(
        all.json["unclassified"],
        serde_json::json!(["public.app_settings"])
    );
    assert_eq!(names(&all.json["kept"]), vec!["public.alembic_version"]);
}

#[test]
fn a_dry_run_reports_sizes_and_touches_nothing() {
    let Some(db) = fixture("pgt_dry") else {
        return;
    };
    db.exec("CREATE PUBLICATION pub_requests FOR TABLE requests");
    let before = db.fingerprint();
    let run = cornice(&db, &["--dry-run"]);
    run.expect_code(0);
    assert_eq!(db.fingerprint(), before);
    let j = &run.json;
    assert_eq!(j["dry_run"], true);
    assert_eq!(j["changed"], true, "a dry run says what would change");
    for e in j["truncated"].as_array().unwrap() {
        assert!(e["bytes_before"].as_i64().unwrap() > 0, "{e}");
        assert_eq!(e["rows_estimate"], 200, "{e}");
        assert!(e["bytes_after"].is_null());
    }
    assert!(j["statement"]
        .as_str()
        .unwrap()
        .contains("\"public\".\"requests\""));
    let warnings = j["warnings"].to_string();
    assert!(warnings.contains("pub_requests"), "{warnings}");
    assert!(run.stderr.contains("pub_requests"), "{}", run.stderr);
}

#[test]
fn the_cascade_guard_refuses_to_reach_kept_tables_and_reports_every_hop() {
    let Some(db) = fixture("pgt_cascade") else {
        return;
    };
    // A kept (unclassified) table referencing a runtime table through a NOT VALID key,
    // and a second one two hops away.
    db.exec(
        "CREATE TABLE request_audit (id serial PRIMARY KEY, request_id bigint);
         INSERT INTO request_audit (request_id) SELECT g FROM generate_series(1, 3) g;
         ALTER TABLE request_audit ADD CONSTRAINT request_audit_request_id_fkey
           FOREIGN KEY (request_id) REFERENCES requests(id) NOT VALID;
         CREATE TABLE audit_digest (id serial PRIMARY KEY, audit_id int REFERENCES request_audit(id));
         INSERT INTO audit_digest (audit_id) VALUES (1), (2);",
    );
    let before = db.fingerprint();
    let run = cornice(&db, &[]);
    run.expect_code(3);
    assert_eq!(db.fingerprint(), before, "a refusal touches nothing");
    let paths = run.json["error"]["cascade_paths"].as_array().unwrap();
    assert_eq!(paths.len(), 2, "{paths:?}");
    let audit = paths
        .iter()
        .find(|p| p["table"] == "public.request_audit")
        .unwrap();
    assert_eq!(
        audit["path"],
        "public.requests -> public.request_audit (foreign key request_audit_request_id_fkey, NOT VALID)"
    );
    assert!(audit["kept_because"]
        .as_str()
        .unwrap()
        .starts_with("unclassified"));
    let digest = paths
        .iter()
        .find(|p| p["table"] == "public.audit_digest")
        .unwrap();
    let steps = digest["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["table"], "public.request_audit");
    assert_eq!(steps[1]["from"], "public.request_audit");
    assert_eq!(steps[1]["via"], "foreign key audit_digest_audit_id_fkey");
    assert!(run.stderr.contains("--allow-cascade"), "{}", run.stderr);

    // An --except table is never reached, not even with --allow-cascade.
    let protected = cornice(&db, &["--allow-cascade", "--except", "audit_digest"]);
    protected.expect_code(3);
    assert_eq!(db.fingerprint(), before);

    // With --allow-cascade the reached tables are truncated and listed with their path.
    let allowed = cornice(&db, &["--allow-cascade"]);
    allowed.expect_code(0);
    assert_eq!(
        names(&allowed.json["cascaded"]),
        vec!["public.audit_digest", "public.request_audit"]
    );
    assert!(allowed.json["cascaded"][0]["via"]
        .as_str()
        .unwrap()
        .contains("audit_digest_audit_id_fkey"));
    assert_eq!(db.count("request_audit"), 0);
    assert_eq!(db.count("audit_digest"), 0);
    assert_eq!(db.count("users"), 5);
}

#[test]
fn a_partition_can_be_truncated_alone() {
    let Some(db) = fixture("pgt_part") else {
        return;
    };
    // The fixture spreads its rows over all three months.
    let (october, november) = (
        db.count("hourly_prices_2026_10"),
        db.count("hourly_prices_2026_11"),
    );
    assert!(db.count("hourly_prices_2026_09") > 0 && october > 0 && november > 0);
    let run = pgt(&["-d", &db.url(), "hourly_prices_2026_09"], &[]);
    run.expect_code(0);
    assert_eq!(
        names(&run.json["truncated"]),
        vec!["public.hourly_prices_2026_09"]
    );
    assert_eq!(db.count("hourly_prices_2026_09"), 0);
    assert_eq!(db.count("hourly_prices_2026_10"), october);
    assert_eq!(db.count("hourly_prices_2026_11"), november);
    assert_eq!(db.count("hourly_prices"), october + november);
}

#[test]
fn a_lock_held_by_an_idle_transaction_is_exit_5_with_the_blocker_named() {
    let Some(db) = fixture("pgt_lock") else {
        return;
    };
    let (mut blocker, blocker_pid) = db.idle_in_transaction();
    let before = db.fingerprint();
    let started = Instant::now();
    let run = cornice(&db, &["--lock-timeout", "1s"]);
    let took = started.elapsed();
    run.expect_code(5);
    assert!(took < Duration::from_secs(15), "it must not hang: {took:?}");
    assert!(
        took >= Duration::from_secs(1),
        "it waits the lock timeout: {took:?}"
    );
    let blockers = run.json["error"]["blockers"].as_array().unwrap();
    let b = blockers
        .iter()
        .find(|b| b["pid"] == blocker_pid)
        .unwrap_or_else(|| panic!("{blockers:?}"));
    assert_eq!(b["application_name"], "cornice");
    assert_eq!(b["state"], "idle in transaction");
    assert_eq!(b["table"], "public.requests");
    assert!(
        b["query"]
            .as_str()
            .unwrap()
            .contains("SELECT count(*) FROM requests"),
        "{b}"
    );
    let message = run.json["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "table public.requests is locked by pid {blocker_pid} (cornice, idle in transaction for"
        )),
        "{message}"
    );
    assert!(message.contains("--lock-timeout"), "{message}");
    blocker.batch_execute("ROLLBACK").unwrap();
    assert_eq!(db.fingerprint(), before, "a lock timeout touches nothing");
}

#[test]
fn ctrl_c_during_a_lock_wait_cancels_rolls_back_and_exits_promptly() {
    let Some(db) = fixture("pgt_sigint") else {
        return;
    };
    let (mut blocker, _) = db.idle_in_transaction();
    let before = db.fingerprint();
    let mut cmd = command(
        &[
            "-d",
            &db.url(),
            "--preset",
            "cornice",
            "--lock-timeout",
            "5m",
        ],
        &[],
    );
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Wait until it really waits for the lock.
    db.wait_until(
        "SELECT EXISTS (SELECT FROM pg_stat_activity
          WHERE datname = current_database()
            AND application_name = 'pgtruncate' AND wait_event_type = 'Lock')",
        &[],
        Duration::from_secs(20),
        "pgtruncate never waited for the lock",
    );
    let sent = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "Ctrl-C must end the wait promptly: {:?}",
        sent.elapsed()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = parse_one_object(&stdout).unwrap();
    let code = out.status.code().unwrap();
    check_envelope("pgtruncate", &json, code);
    assert_eq!(code, 5, "{stdout}");
    assert_eq!(json["error"]["interrupted"], "SIGINT");
    assert!(json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nothing was truncated"));
    // The waiting session ends (its backend exits a moment after the client) and
    // nothing changed.
    db.wait_until(
        "SELECT NOT EXISTS (SELECT FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'pgtruncate')",
        &[],
        Duration::from_secs(10),
        "pgtruncate's session outlived it",
    );
    blocker.batch_execute("ROLLBACK").unwrap();
    assert_eq!(db.fingerprint(), before);
}

#[test]
fn hostile_and_mixed_case_names_are_matched_exactly_and_quoted() {
    let Some(cluster) = require("PostgreSQL test cluster", Cluster::from_env()) else {
        return;
    };
    let db = cluster.create_database("pgt_names");
    db.exec(
        r#"CREATE TABLE x (id int); INSERT INTO x VALUES (1);
           CREATE TABLE "a""b; DROP TABLE x; --" (id serial PRIMARY KEY);
           INSERT INTO "a""b; DROP TABLE x; --" DEFAULT VALUES; INSERT INTO "a""b; DROP TABLE x; --" DEFAULT VALUES;
           CREATE TABLE "MixedCase" (id bigserial PRIMARY KEY, v text);
           INSERT INTO "MixedCase" (v) VALUES ('a'), ('b');
           CREATE TABLE mixedcase (id int); INSERT INTO mixedcase VALUES (1);
           CREATE TABLE "cascade" (id int); INSERT INTO "cascade" VALUES (1);
           CREATE SEQUENCE shared_seq;
           CREATE TABLE uses_shared (id int DEFAULT nextval('shared_seq'));
           INSERT INTO uses_shared DEFAULT VALUES;"#,
    );
    let run = pgt(
        &[
            "-d",
            &db.url(),
            r#"a"b; DROP TABLE x; --"#,
            "MixedCase",
            "uses_shared",
        ],
        &[],
    );
    run.expect_code(0);
    assert_eq!(db.count(r#""a""b; DROP TABLE x; --""#), 0);
    assert_eq!(db.count(r#""MixedCase""#), 0);
    assert_eq!(db.count("x"), 1, "the hostile name ran no SQL of its own");
    assert_eq!(db.count("mixedcase"), 1, "no case folding");
    assert_eq!(db.count(r#""cascade""#), 1);
    assert_eq!(
        names(&run.json["truncated"]),
        vec![
            r#"public."MixedCase""#,
            r#"public."a""b; DROP TABLE x; --""#,
            "public.uses_shared"
        ]
    );
    // A sequence only used as a default is not reset, and the report says so.
    assert_eq!(
        run.json["sequences_not_reset"],
        serde_json::json!([{"sequence": "public.shared_seq", "table": "public.uses_shared"}])
    );
    assert!(run.json["sequences_reset"]
        .as_array()
        .unwrap()
        .contains(&r#"public."MixedCase_id_seq""#.into()));
    // The quoted form finds the same table; the display form reads back.
    db.exec(r#"INSERT INTO "MixedCase" (v) VALUES ('c')"#);
    let quoted = pgt(&["-d", &db.url(), r#""public"."MixedCase""#], &[]);
    quoted.expect_code(0);
    assert_eq!(db.count(r#""MixedCase""#), 0);
    assert_eq!(
        db.query_i64(r#"INSERT INTO "MixedCase" (v) VALUES ('d') RETURNING id"#),
        1
    );
}

#[test]
fn the_same_table_name_in_two_schemas_is_told_apart() {
    let Some(db) = fixture("pgt_schemas") else {
        return;
    };
    db.exec(
        "CREATE SCHEMA audit; CREATE TABLE audit.requests (id serial PRIMARY KEY, note text);
         INSERT INTO audit.requests (note) VALUES ('a'), ('b'), ('c');",
    );
    let run = pgt(&["-d", &db.url(), "--schema", "audit", "requests"], &[]);
    run.expect_code(0);
    assert_eq!(names(&run.json["truncated"]), vec!["audit.requests"]);
    assert_eq!(db.count("audit.requests"), 0);
    assert_eq!(db.count("public.requests"), 200);
    db.exec("INSERT INTO audit.requests (note) VALUES ('d')");
    let public = pgt(&["-d", &db.url(), "public.requests"], &[]);
    public.expect_code(0);
    assert_eq!(db.count("public.requests"), 0);
    assert_eq!(db.count("audit.requests"), 1);
}

#[test]
fn a_preset_table_missing_from_the_database_is_reported_and_skipped() {
    let Some(db) = fixture("pgt_missing") else {
        return;
    };
    db.exec("DROP TABLE arb_observations");
    let run = cornice(&db, &[]);
    run.expect_code(0);
    assert_eq!(
        run.json["missing"],
        serde_json::json!(["public.arb_observations"])
    );
    assert_eq!(db.count("requests"), 0);
    assert_eq!(names(&run.json["truncated"]).len(), RUNTIME.len() - 1);
}

#[test]
fn an_unknown_table_a_view_or_a_sequence_is_exit_4_and_nothing_is_truncated() {
    let Some(db) = fixture("pgt_unknown") else {
        return;
    };
    let before = db.fingerprint();
    let run = pgt(&["-d", &db.url(), "requests", "no_such_table"], &[]);
    run.expect_code(4);
    assert_eq!(
        run.json["error"]["missing"],
        serde_json::json!(["public.no_such_table"])
    );
    assert!(run.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("table public.no_such_table does not exist"));
    for other in ["recent_requests", "requests_id_seq"] {
        let r = pgt(&["-d", &db.url(), "requests", other], &[]);
        r.expect_code(4);
        assert!(r.json["error"]["not_tables"][0]
            .as_str()
            .unwrap()
            .starts_with(&format!("public.{other} is a")));
    }
    // An --except naming nothing is not a silent no-op either.
    cornice(&db, &["--except", "userz"]).expect_code(4);
    assert_eq!(db.fingerprint(), before);
}

#[test]
fn a_role_without_truncate_privilege_is_exit_6_and_its_password_never_shows() {
    let Some(db) = fixture("pgt_priv") else {
        return;
    };
    let role = format!("weak_{}", std::process::id());
    let password = "planted-weak-pw-7Q2x";
    db.exec(&format!(
        "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD '{password}';
         GRANT USAGE ON SCHEMA public TO {role};
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};
         GRANT TRUNCATE ON simulator_runs, simulator_trades TO {role};"
    ));
    let before = db.fingerprint();
    let url = db.cluster.url_as(&role, password, &db.name);
    let run = pgt(&["-d", &url, "--preset", "cornice"], &[]);
    run.expect_code(6);
    assert!(run.json["error"]["tables"]
        .as_array()
        .unwrap()
        .contains(&"public.requests".into()));
    assert!(!run.all_output().contains(password));
    // TRUNCATE granted, but RESTART IDENTITY needs the sequences' owner.
    let seq = pgt(&["-d", &url, "simulator_runs", "simulator_trades"], &[]);
    seq.expect_code(6);
    assert!(seq.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("RESTART IDENTITY"));
    assert!(!seq.all_output().contains(password));
    assert_eq!(db.fingerprint(), before);
    db.exec(&format!("DROP OWNED BY {role}; DROP ROLE {role};"));
}

#[test]
fn passwords_never_appear_in_any_output_error_paths_included() {
    let Some(db) = fixture("pgt_secret") else {
        return;
    };
    let before = db.fingerprint();
    // A wrong password: exit 6, the planted value nowhere.
    let wrong = "planted-wrong-pw-93kd";
    let url = db.cluster.url_as("postgres", wrong, &db.name);
    let run = pgt(&["-d", &url, "--preset", "cornice"], &[]);
    run.expect_code(6);
    assert!(!run.all_output().contains(wrong), "{}", run.all_output());
    assert!(run.json["database"]
        .as_str()
        .unwrap()
        .starts_with("postgresql://postgres@"));
    // The right one, from an env file in SQLAlchemy form, while DATABASE_URL in the
    // environment points elsewhere: the env file wins, and neither secret shows.
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("cornice.env");
    let real = &db.cluster.password;
    std::fs::write(
        &env_file,
        format!(
            "HIBERNATE_MODE=false\nDATABASE_URL=\"postgresql+asyncpg://postgres:{real}@{}:{}/{}\"\n",
            db.cluster.host, db.cluster.port, db.name
        ),
    )
    .unwrap();
    let decoy = "postgresql://postgres:planted-env-pw-55x@127.0.0.1:1/nowhere";
    let dry = pgt(
        &[
            "--env-file",
            env_file.to_str().unwrap(),
            "--preset",
            "cornice",
            "--dry-run",
        ],
        &[("DATABASE_URL", decoy)],
    );
    dry.expect_code(0);
    for secret in [real.as_str(), "planted-env-pw-55x"] {
        assert!(!dry.all_output().contains(secret));
    }
    // DATABASE_URL alone (how holdctl passes an operator's URL): unreachable port, exit 1.
    let unreachable = pgt(&["--preset", "cornice"], &[("DATABASE_URL", decoy)]);
    unreachable.expect_code(1);
    assert!(!unreachable.all_output().contains("planted-env-pw-55x"));
    assert!(unreachable.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("127.0.0.1:1/nowhere"));
    assert_eq!(db.fingerprint(), before);
}

#[test]
fn pgpass_pg_variables_and_the_unix_socket_fill_in_what_the_url_leaves_out() {
    let Some(db) = fixture("pgt_libpq") else {
        return;
    };
    let c = &db.cluster;
    // TCP with the password from a pgpass file (0600, as libpq insists).
    let dir = tempfile::tempdir().unwrap();
    let pgpass = dir.path().join("pgpass");
    std::fs::write(
        &pgpass,
        format!("{}:{}:*:{}:{}\n", c.host, c.port, c.user, c.password),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let url = format!("postgresql://{}@{}:{}/{}", c.user, c.host, c.port, db.name);
    let run = pgt(
        &["-d", &url, "requests"],
        &[("PGPASSFILE", pgpass.to_str().unwrap())],
    );
    run.expect_code(0);
    assert_eq!(db.count("requests"), 0);
    assert!(!run.all_output().contains(&c.password));
    // No URL at all: PG* variables and the Unix socket.
    let port = c.port.to_string();
    let socket = pgt(
        &["executions"],
        &[
            ("PGHOST", &c.socket),
            ("PGPORT", &port),
            ("PGUSER", &c.user),
            ("PGDATABASE", &db.name),
        ],
    );
    socket.expect_code(0);
    assert_eq!(db.count("executions"), 0);
    assert!(
        socket.json["database"].as_str().unwrap().contains("%2F"),
        "{}",
        socket.stdout
    );
}

#[test]
fn tls_with_sslmode_require_and_certificate_verification() {
    let Some(db) = fixture("pgt_tls") else {
        return;
    };
    let before = db.fingerprint();
    // The sandbox's self-signed server certificate doubles as its own CA.
    let cert =
        PathBuf::from(std::env::var("HOLD_PG_DIR").unwrap_or_default()).join("data/server.crt");
    // verify-full: the certificate is for "localhost", we connect to 127.0.0.1.
    if cert.is_file() {
        let mismatch = pgt(
            &[
                "-d",
                &url_with(
                    &db,
                    &format!("sslmode=verify-full&sslrootcert={}", cert.display()),
                ),
                "requests",
            ],
            &[],
        );
        mismatch.expect_code(1);
        let m = mismatch.json["error"]["message"].as_str().unwrap();
        assert!(m.contains("could not be verified"), "{m}");
        assert!(!mismatch.all_output().contains(&db.cluster.password));
        assert_eq!(db.fingerprint(), before);
        // verify-ca checks the chain only: it connects.
        pgt(
            &[
                "-d",
                &url_with(
                    &db,
                    &format!("sslmode=verify-ca&sslrootcert={}", cert.display()),
                ),
                "--dry-run",
                "requests",
            ],
            &[],
        )
        .expect_code(0);
    }
    // verify-full without a root certificate: says which file is missing.
    let no_root = pgt(
        &["-d", &url_with(&db, "sslmode=verify-full"), "requests"],
        &[],
    );
    no_root.expect_code(4);
    assert!(no_root.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("root.crt"));
    assert_eq!(db.fingerprint(), before);
    // require: encrypted, not verified (the driver fails rather than fall back to
    // plaintext when the server declines TLS, so success means TLS).
    let run = pgt(&["-d", &url_with(&db, "sslmode=require"), "requests"], &[]);
    run.expect_code(0);
    assert!(run.json["database"]
        .as_str()
        .unwrap()
        .ends_with("sslmode=require"));
    assert_eq!(db.count("requests"), 0);
}

#[test]
fn bad_arguments_are_usage_errors_before_any_connection() {
    for args in [
        vec!["--lock-timeout", "0", "requests"],
        vec![],
        vec!["--include-auth", "requests"],
        vec!["--preset", "nope"],
        vec!["a.b.c"],
        vec![r#""unterminated"#],
    ] {
        // An unreachable URL: a usage error must come before any attempt to connect.
        let mut full = vec!["-d", "postgresql://u:planted-usage-pw@127.0.0.1:1/x"];
        full.extend(args.iter().copied());
        let run = pgt(&full, &[]);
        run.expect_code(2);
        assert!(!run.all_output().contains("planted-usage-pw"));
    }
}

/// Whether `role` is a superuser now.
fn is_superuser(db: &TestDb, role: &str) -> bool {
    db.client()
        .query_one("SELECT rolsuper FROM pg_roles WHERE rolname = $1", &[&role])
        .unwrap()
        .get(0)
}

#[test]
fn a_database_owner_cannot_plant_functions_or_operators_that_run_as_the_operator() {
    let Some(db) = fixture("pgt_owner") else {
        return;
    };
    let app = support::unique("app_owner");
    let password = "app-owner-pw-5Tq1";
    db.exec(&format!(
        "CREATE ROLE {app} LOGIN PASSWORD '{password}'; ALTER DATABASE {} OWNER TO {app};",
        db.name
    ));
    let _role = DroppedRole {
        db: &db,
        name: app.clone(),
    };
    // What the database's owner can do on its own: a schema of look-alikes that make it
    // superuser when a superuser's session calls them, put first in the database's
    // search_path.
    let mut owner = postgres::Client::connect(
        &db.cluster.url_as(&app, password, &db.name),
        postgres::NoTls,
    )
    .unwrap();
    owner
        .batch_execute(&format!(
            r#"CREATE SCHEMA evil;
            CREATE FUNCTION evil.pwn() RETURNS void LANGUAGE plpgsql AS $f$
              BEGIN EXECUTE 'ALTER ROLE {app} SUPERUSER';
              EXCEPTION WHEN OTHERS THEN NULL; END $f$;
            CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql AS $f$
              BEGIN PERFORM evil.pwn(); RETURN QUERY SELECT x FROM pg_catalog.unnest($1) x; END $f$;
            CREATE FUNCTION evil.left(text, integer) RETURNS text LANGUAGE plpgsql AS $f$
              BEGIN PERFORM evil.pwn(); RETURN pg_catalog.left($1, $2); END $f$;
            CREATE FUNCTION evil.cardinality(anyarray) RETURNS integer LANGUAGE plpgsql AS $f$
              BEGIN PERFORM evil.pwn(); RETURN pg_catalog.cardinality($1); END $f$;
            CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS $f$
              BEGIN PERFORM evil.pwn(); RETURN pg_catalog.now(); END $f$;
            CREATE FUNCTION evil.oideq(oid, oid) RETURNS boolean LANGUAGE plpgsql AS $f$
              BEGIN PERFORM evil.pwn(); RETURN $1 OPERATOR(pg_catalog.=) $2; END $f$;
            CREATE OPERATOR evil.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = evil.oideq);
            ALTER DATABASE {db} SET search_path TO evil, public, pg_catalog;"#,
            db = db.name
        ))
        .unwrap();
    drop(owner);
    assert!(!is_superuser(&db, &app));
    let before = db.fingerprint();

    // A dry run, a run whose URL also asks for the owner's search_path, and a real run.
    cornice(&db, &["--dry-run"]).expect_code(0);
    assert!(
        !is_superuser(&db, &app),
        "a dry run made the owner superuser"
    );
    assert_eq!(db.fingerprint(), before);
    let with_options = url_with(&db, "options=-c%20search_path%3Devil%2Cpg_catalog");
    pgt(
        &["-d", &with_options, "--preset", "cornice", "--dry-run"],
        &[],
    )
    .expect_code(0);
    assert!(!is_superuser(&db, &app), "the URL's search_path won");
    cornice(&db, &[]).expect_code(0);
    assert!(!is_superuser(&db, &app), "a run made the owner superuser");
    for t in RUNTIME {
        assert_eq!(db.count(t), 0, "{t} should be empty");
    }

    // The trap is live: a superuser session that calls cardinality unqualified springs it.
    let mut naive = db.client();
    naive.batch_execute("SELECT cardinality(ARRAY[1])").unwrap();
    drop(naive);
    assert!(
        is_superuser(&db, &app),
        "the planted function should have fired in a naive session"
    );
}

/// Drops a role of the test's own when the test ends, passing or failing (a role is
/// cluster-wide, and this one may have been made superuser).
struct DroppedRole<'a> {
    db: &'a TestDb,
    name: String,
}

impl Drop for DroppedRole<'_> {
    fn drop(&mut self) {
        let _ = self.db.client().batch_execute(&format!(
            "REASSIGN OWNED BY {role} TO {admin}; DROP OWNED BY {role}; DROP ROLE {role};",
            role = self.name,
            admin = self.db.cluster.user
        ));
    }
}

#[test]
fn a_user_defined_on_truncate_trigger_is_refused_unless_allowed() {
    let Some(db) = fixture("pgt_trigger") else {
        return;
    };
    db.exec(
        "CREATE TABLE truncate_log (tbl text);
         CREATE FUNCTION log_truncate() RETURNS trigger LANGUAGE plpgsql AS $f$
           BEGIN INSERT INTO public.truncate_log VALUES (TG_TABLE_NAME); RETURN NULL; END $f$;
         CREATE TRIGGER requests_truncated AFTER TRUNCATE ON requests
           FOR EACH STATEMENT EXECUTE FUNCTION log_truncate();",
    );
    let before = db.fingerprint();
    let url = db.url();
    for dry in [false, true] {
        let mut args = vec!["-d", url.as_str(), "--preset", "cornice"];
        if dry {
            args.push("--dry-run");
        }
        let run = pgt(&args, &[]);
        run.expect_code(3);
        assert_eq!(
            run.json["error"]["triggers"],
            serde_json::json!([{
                "table": "public.requests",
                "trigger": "requests_truncated",
                "function": "public.log_truncate()"
            }]),
            "{}",
            run.stdout
        );
        let message = run.json["error"]["message"].as_str().unwrap();
        assert!(message.contains("--allow-triggers"), "{message}");
        assert_eq!(db.fingerprint(), before, "a refused run touches nothing");
    }
    // Allowed: the trigger fires once, and the run says it had triggers.
    let run = cornice(&db, &["--allow-triggers"]);
    run.expect_code(0);
    assert!(
        run.json["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("requests_truncated")),
        "{}",
        run.stdout
    );
    assert_eq!(db.count("requests"), 0);
    assert_eq!(db.count("truncate_log"), 1);
}

#[test]
fn an_inheritance_child_is_refused_with_its_path_unless_allow_cascade() {
    let Some(db) = fixture("pgt_inherit") else {
        return;
    };
    db.exec(
        "CREATE TABLE requests_archive () INHERITS (requests);
         INSERT INTO requests_archive SELECT * FROM ONLY requests LIMIT 50;",
    );
    let before = db.fingerprint();
    let run = cornice(&db, &[]);
    run.expect_code(3);
    let paths = run.json["error"]["cascade_paths"].as_array().unwrap();
    let archive = paths
        .iter()
        .find(|p| p["table"] == "public.requests_archive")
        .unwrap_or_else(|| panic!("{paths:?}"));
    assert_eq!(
        archive["path"],
        "public.requests -> public.requests_archive (inheritance child)"
    );
    assert!(archive["kept_because"]
        .as_str()
        .unwrap()
        .starts_with("unclassified"));
    assert_eq!(db.fingerprint(), before, "a refused run touches nothing");
    assert_eq!(db.count("ONLY requests_archive"), 50);

    let run = cornice(&db, &["--allow-cascade"]);
    run.expect_code(0);
    assert!(names(&run.json["cascaded"]).contains(&"public.requests_archive".to_string()));
    assert!(!names(&run.json["kept"]).contains(&"public.requests_archive".to_string()));
    assert_eq!(db.count("ONLY requests_archive"), 0);
    // Partitions of a chosen partitioned table are still part of it, not cascades.
    assert!(names(&run.json["cascaded"])
        .iter()
        .all(|t| !t.starts_with("public.hourly_prices")));
    assert_eq!(db.count("hourly_prices"), 0);
}

#[test]
fn a_preset_never_reaches_a_system_schema_or_an_extensions_table() {
    let Some(db) = fixture("pgt_system") else {
        return;
    };
    let features = db.count("information_schema.sql_features");
    assert!(features > 0);
    for schema in [
        "information_schema",
        "pg_catalog",
        "pg_toast",
        "pg_anything",
    ] {
        let run = cornice(&db, &["--include-auth", "--schema", schema]);
        run.expect_code(3);
        assert!(
            run.json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("system schema"),
            "{}",
            run.stdout
        );
    }
    assert_eq!(db.count("information_schema.sql_features"), features);
    // Any pg_* schema, named tables too.
    pgt(&["-d", &db.url(), "pg_anything.t"], &[]).expect_code(3);

    // A table of an extension (as PostGIS's spatial_ref_sys) is never swept in. No
    // extension of the cluster creates a table, so one is made a member: of contrib's
    // seg when installed, else of plpgsql, which every database has.
    let extension: String = db
        .client()
        .query_one(
            "SELECT coalesce((SELECT name FROM pg_available_extensions WHERE name = 'seg'), 'plpgsql')",
            &[],
        )
        .unwrap()
        .get(0);
    db.exec(&format!(
        "CREATE EXTENSION IF NOT EXISTS {extension};
         CREATE TABLE spatial_ref_sys (srid int PRIMARY KEY, auth_name text);
         INSERT INTO spatial_ref_sys VALUES (4326, 'EPSG'), (3857, 'EPSG');
         ALTER EXTENSION {extension} ADD TABLE spatial_ref_sys;"
    ));
    let run = cornice(&db, &["--include-auth"]);
    run.expect_code(0);
    assert_eq!(db.count("spatial_ref_sys"), 2);
    assert_eq!(db.count("users"), 0, "the run itself went ahead");
    let kept = run.json["kept"].as_array().unwrap();
    let ext = kept
        .iter()
        .find(|k| k["table"] == "public.spatial_ref_sys")
        .unwrap_or_else(|| panic!("{kept:?}"));
    let reason = ext["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("belongs to extension {extension}")),
        "{reason}"
    );
    assert!(!names(&run.json["truncated"]).contains(&"public.spatial_ref_sys".to_string()));
}

#[test]
fn a_blockers_query_text_never_carries_its_string_literals() {
    let Some(db) = fixture("pgt_literals") else {
        return;
    };
    let mut blocker = db.cluster.connect_as_app(&db.name, "cornice");
    // The last query: literals of every kind, the last one cut by the 160-character cut.
    let mut query = String::from(
        "BEGIN; SELECT count(*) FROM requests WHERE 'planted-plain-pw' <> $t$planted-dollar-pw$t$ \
         AND E'planted\\'escape-pw' <> ''",
    );
    while query.chars().count() < 150 {
        query.push(' ');
    }
    query.push_str(" OR 'planted-cut-pw-which-goes-on-past-the-cut' = ''; ");
    blocker.batch_execute(&query).unwrap();
    let before = db.fingerprint();
    let run = cornice(&db, &["--lock-timeout", "1s"]);
    run.expect_code(5);
    let blockers = run.json["error"]["blockers"].as_array().unwrap();
    let text = blockers
        .iter()
        .filter_map(|b| b["query"].as_str())
        .find(|q| q.contains("SELECT count(*) FROM requests"))
        .unwrap_or_else(|| panic!("{blockers:?}"));
    assert!(text.contains("'<redacted>'"), "{text}");
    assert!(
        !run.all_output().contains("planted"),
        "{}",
        run.all_output()
    );
    blocker.batch_execute("ROLLBACK").unwrap();
    assert_eq!(db.fingerprint(), before);
}

/// A TCP server that accepts connections and never says a word, and its port.
fn silent_server() -> (u16, std::sync::mpsc::Receiver<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
            let _ = tx.send(());
        }
    });
    (port, rx)
}

/// Waits for `child` at most `limit`, killing it (and failing) if it is still running.
fn wait_at_most(mut child: std::process::Child, limit: Duration) -> (i32, String, String) {
    use std::io::Read;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pgtruncate still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code().unwrap(), stdout, stderr)
}

#[test]
fn ctrl_c_while_connecting_to_a_server_that_never_answers_ends_at_once() {
    let (port, accepted) = silent_server();
    let password = "blackhole-pw-Zr8e";
    let url =
        format!("postgresql://app:{password}@127.0.0.1:{port}/cornice?connect_timeout=100000");
    let mut cmd = command(&["-d", &url, "--preset", "cornice"], &[]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    accepted
        .recv_timeout(Duration::from_secs(10))
        .expect("pgtruncate never connected");
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let (code, stdout, stderr) = wait_at_most(child, Duration::from_secs(10));
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "Ctrl-C must end the connect promptly: {:?}",
        sent.elapsed()
    );
    let json = parse_one_object(&stdout).unwrap();
    check_envelope("pgtruncate", &json, code);
    assert_eq!(code, 5, "{stdout}");
    assert_eq!(json["error"]["interrupted"], "SIGINT");
    assert!(
        json["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("maximum of 60s")),
        "{stdout}"
    );
    assert!(!stdout.contains(password) && !stderr.contains(password));
}

#[test]
fn a_server_that_never_answers_is_given_up_on_after_connect_timeout() {
    let (port, _accepted) = silent_server();
    let url = format!("postgresql://app@127.0.0.1:{port}/cornice?connect_timeout=2");
    let mut cmd = command(&["-d", &url, "--preset", "cornice"], &[]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let (code, stdout, _) = wait_at_most(cmd.spawn().unwrap(), Duration::from_secs(15));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );
    let json = parse_one_object(&stdout).unwrap();
    check_envelope("pgtruncate", &json, code);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no answer within 2s"),
        "{stdout}"
    );
}

/// `--go-on-stdin`: the run plans and checks, then locks and truncates only on the line
/// `go`; input that ends without it, or says anything else, is exit 3 with every row in
/// place, so a caller that dies or whose earlier steps failed leaves nothing emptied.
#[test]
fn go_on_stdin_truncates_only_when_told_go() {
    let Some(db) = fixture("gate") else { return };
    let before = db.fingerprint();
    let url = db.url();
    let args = ["-d", url.as_str(), "--preset", "cornice", "--go-on-stdin"];
    // Refused before anything is locked, or after `lock` ran the statement and before
    // COMMIT: either way every row and sequence is as it was.
    let refusals = [
        ("", "nothing was locked or truncated"),
        ("no\n", "nothing was locked or truncated"),
        ("gone\n", "nothing was locked or truncated"),
        ("go", "nothing was locked or truncated"),
        ("lock", "nothing was locked or truncated"),
        (
            "lock\n",
            "the statement was rolled back: nothing was truncated",
        ),
        (
            "lock\nlock\n",
            "the statement was rolled back: nothing was truncated",
        ),
        (
            "lock\nno\n",
            "the statement was rolled back: nothing was truncated",
        ),
        (
            "lock\ngo",
            "the statement was rolled back: nothing was truncated",
        ),
    ];
    for (input, says) in refusals {
        let run = run_command("pgtruncate", &mut command(&args, &[]), Some(input));
        run.expect_code(3);
        let message = run.json["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{input:?}: {message}");
        assert_eq!(db.fingerprint(), before, "{input:?}: nothing touched");
    }
    // With a dry run or an undo there is nothing to wait for: a usage error.
    for extra in [&["--dry-run"][..], &["--undo", "/nonexistent.sql.gz"][..]] {
        let mut all: Vec<&str> = vec!["-d", url.as_str(), "--go-on-stdin"];
        all.extend_from_slice(extra);
        pgt(&all, &[]).expect_code(2);
    }
    let run = run_command("pgtruncate", &mut command(&args, &[]), Some("go\n"));
    run.expect_code(0);
    for table in RUNTIME {
        assert_eq!(db.count(table), 0, "{table}");
    }
    // `lock` then `go`: the same result.
    let Some(db) = fixture("gatelock") else {
        return;
    };
    let url = db.url();
    let args = ["-d", url.as_str(), "--preset", "cornice", "--go-on-stdin"];
    let run = run_command("pgtruncate", &mut command(&args, &[]), Some("lock\ngo\n"));
    run.expect_code(0);
    for table in RUNTIME {
        assert_eq!(db.count(table), 0, "{table}");
    }
}

/// pgtruncate on the cornice preset with `--go-on-stdin`, told `lock`, once its session
/// has written (the statement ran: a transaction id is assigned only then) and sits idle
/// in its transaction, waiting for `go`; with its input, still open.
fn locked_and_waiting_for_go(db: &TestDb) -> (std::process::Child, std::process::ChildStdin) {
    let url = db.url();
    let args = ["-d", url.as_str(), "--preset", "cornice", "--go-on-stdin"];
    let mut child = command(&args, &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut input, b"lock\n").unwrap();
    db.wait_until(
        "SELECT EXISTS (SELECT FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'pgtruncate'
            AND state = 'idle in transaction' AND backend_xid IS NOT NULL)",
        &[],
        Duration::from_secs(30),
        "pgtruncate never ran its statement",
    );
    (child, input)
}

#[test]
fn after_lock_the_rows_stay_until_go_and_a_killed_run_empties_nothing() {
    let Some(db) = fixture("gatekill") else {
        return;
    };
    let before = db.fingerprint();
    let (mut child, input) = locked_and_waiting_for_go(&db);
    // The statement ran and holds its locks: another session waits rather than reads.
    let mut other = db.client();
    other.batch_execute("SET lock_timeout = '100ms'").unwrap();
    let read = other.query_one("SELECT count(*) FROM requests", &[]);
    assert_eq!(
        read.unwrap_err().code(),
        Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE)
    );
    // Killed before `go` (its caller never said it): the server rolls it back.
    child.kill().unwrap();
    child.wait().unwrap();
    drop(input);
    assert_eq!(db.fingerprint(), before, "nothing emptied");
}

/// The wait between `lock` and `go` is its caller's (holdctl disables the units
/// meanwhile): a server's idle-in-transaction timeout shorter than that wait must not end
/// the session and so the run.
#[test]
fn a_server_idle_in_transaction_timeout_does_not_end_the_wait_for_go() {
    let Some(db) = fixture("gateidle") else {
        return;
    };
    db.exec(&format!(
        "ALTER DATABASE \"{}\" SET idle_in_transaction_session_timeout = '100ms'",
        db.name
    ));
    let (child, mut input) = locked_and_waiting_for_go(&db);
    // Five times the server's timeout, idle in the transaction.
    std::thread::sleep(Duration::from_millis(500));
    std::io::Write::write_all(&mut input, b"go\n").unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let code = out.status.code().unwrap();
    check_envelope("pgtruncate", &parse_one_object(&stdout).unwrap(), code);
    assert_eq!(code, 0, "{stdout}");
    for table in RUNTIME {
        assert_eq!(db.count(table), 0, "{table}");
    }
}

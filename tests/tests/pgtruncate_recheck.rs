//! pgtruncate against a table owner who changes its tables while pgtruncate waits for
//! its locks. The attacker is the application's role: it owns the database and its
//! tables, not the cluster; pgtruncate runs as the superuser. Each attack is
//! deterministic: the owner holds an ordinary lock in an open transaction, pgtruncate is
//! started, the test waits in SQL until pgtruncate's ACCESS EXCLUSIVE request is queued,
//! then the owner acts in that transaction (a session holding a lock is queued ahead of
//! a waiter for a stronger one) and commits. Every attack must be refused (exit 3) with
//! nothing emptied and the owner still without superuser.

use reports::envelope::{decode, Envelope, ErrorKind};
use reports::pgtruncate::Report;
use std::collections::BTreeMap;
use std::process::Stdio;
use support::pg::{empty_home, Cluster, TestDb};
use support::require;
use support::run::{check_envelope, parse_one_object};

/// The application's schema, created by its owner: `requests` (a foreign key from
/// `request_audit`) and the partitioned `events` are emptied; `ledger`, `archive`
/// (shaped like `requests`, so it could inherit from it) and `precious` (shaped like an
/// `events` partition) are kept. `pwn()` makes the owner a superuser when a superuser
/// runs it.
const SCHEMA: &str = r#"
CREATE TABLE requests (id bigserial PRIMARY KEY, path text NOT NULL);
CREATE TABLE request_audit (id bigserial PRIMARY KEY, request_id bigint REFERENCES requests(id));
CREATE TABLE events (id bigint NOT NULL, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE ledger (id bigserial PRIMARY KEY, note text);
CREATE TABLE archive (id bigint NOT NULL, path text NOT NULL);
CREATE TABLE precious (id bigint NOT NULL, at date NOT NULL);
INSERT INTO requests (path) SELECT '/r/' || g FROM generate_series(1, 20) g;
INSERT INTO request_audit (request_id) SELECT g FROM generate_series(1, 20) g;
INSERT INTO events SELECT g, date '2026-03-01' FROM generate_series(1, 20) g;
INSERT INTO ledger (note) SELECT 'n' || g FROM generate_series(1, 20) g;
INSERT INTO archive SELECT g, '/a/' || g FROM generate_series(1, 20) g;
INSERT INTO precious SELECT g, date '2027-03-01' FROM generate_series(1, 20) g;
"#;

/// The tables pgtruncate is asked to empty.
const TARGETS: [&str; 3] = ["requests", "request_audit", "events"];

/// A database owned by a role of its own (the attacker), holding [`SCHEMA`]. The
/// database is dropped before the roles (field order), so they own nothing by then.
struct Scene {
    db: TestDb,
    roles: Roles,
    attacker: String,
}

/// Cluster-wide roles of one test, dropped after its database (a role is cluster-wide,
/// and the attacker may have been made superuser).
struct Roles {
    cluster: Cluster,
    names: Vec<String>,
}

impl Drop for Roles {
    fn drop(&mut self) {
        let mut admin = self.cluster.connect("postgres");
        for role in &self.names {
            let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS {role}"));
        }
    }
}

impl Scene {
    fn new(prefix: &str) -> Option<Scene> {
        let cluster = require("PostgreSQL test cluster", Cluster::from_env())?;
        let db = cluster.create_database(prefix);
        let attacker = support::unique("attacker");
        let accomplice = support::unique("accomplice");
        let roles = Roles {
            cluster: cluster.clone(),
            names: vec![attacker.clone(), accomplice.clone()],
        };
        db.exec(&format!(
            "CREATE ROLE {attacker} LOGIN; CREATE ROLE {accomplice};
             GRANT {accomplice} TO {attacker};
             ALTER DATABASE {} OWNER TO {attacker};",
            db.name
        ));
        let scene = Scene {
            db,
            roles,
            attacker,
        };
        let mut owner = scene.owner();
        owner.batch_execute(SCHEMA).unwrap();
        owner
            .batch_execute(&format!(
                r#"GRANT CREATE ON SCHEMA public TO {accomplice};
                CREATE FUNCTION pwn() RETURNS trigger LANGUAGE plpgsql AS $f$
                  BEGIN EXECUTE 'ALTER ROLE {attacker} SUPERUSER'; RETURN NULL; END $f$;"#,
                attacker = scene.attacker
            ))
            .unwrap();
        Some(scene)
    }

    /// A session as the owner, over the Unix socket (trusted in the sandbox).
    fn owner(&self) -> postgres::Client {
        let c = &self.db.cluster;
        postgres::Client::connect(
            &format!(
                "host={} port={} user={} dbname={} application_name=app",
                c.socket, c.port, self.attacker, self.db.name
            ),
            postgres::NoTls,
        )
        .unwrap()
    }

    fn is_superuser(&self) -> bool {
        self.db
            .client()
            .query_one(
                "SELECT rolsuper FROM pg_roles WHERE rolname = $1",
                &[&self.attacker],
            )
            .unwrap()
            .get(0)
    }

    /// Rows of every table and the position of every sequence, by OID (an attack may
    /// rename them).
    fn state(&self) -> BTreeMap<String, String> {
        let print = self.db.fingerprint_by_oid();
        assert!(
            print
                .iter()
                .any(|(k, v)| !k.starts_with("seq ") && !v.starts_with("0 ")),
            "the fixture holds rows"
        );
        print
    }

    /// Runs pgtruncate as the superuser on [`TARGETS`] while the owner holds `hold` in
    /// an open transaction; once pgtruncate's ACCESS EXCLUSIVE request waits, the owner
    /// runs `attack` and commits.
    fn attack_while_queued(&self, hold: &str, attack: &str) -> Run {
        let mut owner = self.owner();
        owner.batch_execute(&format!("BEGIN; {hold}")).unwrap();
        let url = self.db.url();
        let mut args = vec!["-d", url.as_str(), "--lock-timeout", "60s"];
        args.extend(TARGETS);
        let mut cmd =
            support::pg::pgtruncate_command(&args, &[], &empty_home(env!("CARGO_TARGET_TMPDIR")));
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = cmd.spawn().unwrap();
        // A session already holding a lock is queued ahead of this waiter.
        self.db
            .wait_for_lock_request("AccessExclusiveLock", None, Some("pgtruncate"));
        owner.batch_execute(attack).unwrap();
        owner.batch_execute("COMMIT").unwrap();
        let out = child.wait_with_output().unwrap();
        Run::new(out)
    }

    /// Checks a refusal of an attack: exit 3 naming `what`, every row and sequence as
    /// `before`, the owner no superuser.
    #[track_caller]
    fn assert_refused(&self, run: &Run, before: &BTreeMap<String, String>, what: &str) {
        assert!(
            !self.is_superuser(),
            "the owner became superuser: {}",
            run.stdout
        );
        assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
        let error = run.envelope.error.as_ref().expect("an error");
        assert_eq!(error.kind, ErrorKind::Refused);
        assert!(error.message.contains(what), "{}", error.message);
        assert!(
            error.message.contains("run pgtruncate again"),
            "{}",
            error.message
        );
        assert!(
            error.message.contains("nothing was truncated"),
            "{}",
            error.message
        );
        assert_eq!(&self.state(), before, "nothing may be emptied or reset");
    }
}

/// A finished run, its report decoded.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    envelope: Envelope<Report>,
}

impl Run {
    fn new(out: std::process::Output) -> Run {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let code = out.status.code().unwrap_or(-1);
        let json = parse_one_object(&stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
        check_envelope("pgtruncate", &json, code);
        let envelope = decode::<Report>(&stdout).unwrap();
        Run {
            code,
            stdout,
            stderr,
            envelope,
        }
    }

    fn report(&self) -> &Report {
        self.envelope.report.as_ref().expect("a report")
    }
}

const HOLD_REQUESTS: &str = "LOCK TABLE requests IN ACCESS SHARE MODE";

#[test]
fn a_truncate_trigger_created_while_queued_is_refused_and_never_runs() {
    let Some(s) = Scene::new("pgt_rc_trigger") else {
        return;
    };
    let before = s.state();
    let run = s.attack_while_queued(
        HOLD_REQUESTS,
        "CREATE TRIGGER pwn BEFORE TRUNCATE ON requests FOR EACH STATEMENT EXECUTE FUNCTION pwn()",
    );
    s.assert_refused(
        &run,
        &before,
        "table public.requests has a new ON TRUNCATE trigger pwn running public.pwn() (enabled)",
    );
}

#[test]
fn a_disabled_truncate_trigger_enabled_while_queued_is_refused() {
    let Some(s) = Scene::new("pgt_rc_enable") else {
        return;
    };
    // Disabled when planned: it would never fire, so the plan rightly ignores it.
    s.owner()
        .batch_execute(
            "CREATE TRIGGER pwn AFTER TRUNCATE ON request_audit
               FOR EACH STATEMENT EXECUTE FUNCTION pwn();
             ALTER TABLE request_audit DISABLE TRIGGER pwn;",
        )
        .unwrap();
    let before = s.state();
    let run = s.attack_while_queued(
        "LOCK TABLE request_audit IN ACCESS SHARE MODE",
        "ALTER TABLE request_audit ENABLE ALWAYS TRIGGER pwn",
    );
    s.assert_refused(
        &run,
        &before,
        "ON TRUNCATE trigger pwn on public.request_audit was disabled and is now enabled always",
    );
}

#[test]
fn a_rename_swap_while_queued_is_refused_and_the_other_table_kept() {
    let Some(s) = Scene::new("pgt_rc_rename") else {
        return;
    };
    let before = s.state();
    let run = s.attack_while_queued(
        HOLD_REQUESTS,
        "ALTER TABLE requests RENAME TO requests_old; ALTER TABLE ledger RENAME TO requests",
    );
    s.assert_refused(
        &run,
        &before,
        "table public.requests was renamed to public.requests_old",
    );
    let message = &run.envelope.error.as_ref().unwrap().message;
    assert!(
        message.contains("LOCK TABLE took tables the plan does not name: public.requests"),
        "{message}"
    );
    assert_eq!(
        s.db.count("requests"),
        20,
        "the former ledger keeps its rows"
    );
}

#[test]
fn a_partition_attached_while_queued_is_refused() {
    let Some(s) = Scene::new("pgt_rc_attach") else {
        return;
    };
    let before = s.state();
    let run = s.attack_while_queued(
        "LOCK TABLE events IN ACCESS SHARE MODE",
        "ALTER TABLE events ATTACH PARTITION precious FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')",
    );
    s.assert_refused(&run, &before, "now also public.precious");
    let error = run.envelope.error.as_ref().unwrap();
    assert_eq!(
        error.details["added"],
        serde_json::json!(["public.precious"])
    );
}

#[test]
fn an_inheritance_child_added_while_queued_is_refused() {
    let Some(s) = Scene::new("pgt_rc_inherit") else {
        return;
    };
    let before = s.state();
    let run = s.attack_while_queued(HOLD_REQUESTS, "ALTER TABLE archive INHERIT requests");
    s.assert_refused(&run, &before, "now also public.archive");
}

#[test]
fn an_owner_change_while_queued_is_refused() {
    let Some(s) = Scene::new("pgt_rc_owner") else {
        return;
    };
    let accomplice = s.roles.names[1].clone();
    let before = s.state();
    let run = s.attack_while_queued(
        HOLD_REQUESTS,
        &format!("ALTER TABLE requests OWNER TO {accomplice}"),
    );
    s.assert_refused(
        &run,
        &before,
        &format!(
            "table public.requests changed owner from {} to {accomplice}",
            s.attacker
        ),
    );
}

#[test]
fn a_default_drawing_on_a_planned_sequence_added_while_queued_is_refused() {
    let Some(s) = Scene::new("pgt_rc_default") else {
        return;
    };
    let before = s.state();
    let run = s.attack_while_queued(
        HOLD_REQUESTS,
        "ALTER TABLE ledger ALTER COLUMN id SET DEFAULT nextval('requests_id_seq')",
    );
    s.assert_refused(
        &run,
        &before,
        "now a column default of public.ledger draws on sequence public.requests_id_seq",
    );
}

#[test]
fn a_sequence_a_kept_table_draws_on_is_not_reset_and_its_ids_are_not_reused() {
    let Some(s) = Scene::new("pgt_rc_shared_seq") else {
        return;
    };
    // `ledger` (kept) draws its ids from `requests`' sequence; a table in another schema
    // from `request_audit`'s.
    s.owner()
        .batch_execute(
            "ALTER TABLE ledger ALTER COLUMN id SET DEFAULT nextval('requests_id_seq');
             INSERT INTO ledger (note) VALUES ('shared');
             CREATE SCHEMA other;
             CREATE TABLE other.notes (id bigint DEFAULT nextval('public.request_audit_id_seq'), n text);
             INSERT INTO other.notes (n) VALUES ('x');
             CREATE TABLE plain (id bigserial, v text);
             INSERT INTO plain (v) VALUES ('a'), ('b');",
        )
        .unwrap();
    let max_ledger = s.db.query_i64("SELECT max(id) FROM ledger");
    let max_notes = s.db.query_i64("SELECT max(id) FROM other.notes");
    let url = s.db.url();
    let mut args = vec!["-d", url.as_str()];
    args.extend(TARGETS);
    args.push("plain");
    let out = support::pg::pgtruncate_command(&args, &[], &empty_home(env!("CARGO_TARGET_TMPDIR")))
        .output()
        .unwrap();
    let run = Run::new(out);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.report();
    let withheld: Vec<(&str, &str, Option<&str>)> = report
        .sequences_not_reset
        .iter()
        .map(|n| (n.sequence.as_str(), n.table.as_str(), n.reason.as_deref()))
        .collect();
    assert_eq!(
        withheld,
        vec![
            (
                "public.request_audit_id_seq",
                "public.request_audit",
                Some("used by kept table other.notes: restarting it would hand out ids that table already holds")
            ),
            (
                "public.requests_id_seq",
                "public.requests",
                Some("used by kept table public.ledger: restarting it would hand out ids that table already holds")
            ),
        ]
    );
    assert_eq!(report.sequences_reset, vec!["public.plain_id_seq"]);
    assert_eq!(
        report.statement.as_deref(),
        Some(
            r#"TRUNCATE TABLE "public"."events", "public"."plain", "public"."request_audit", "public"."requests"; ALTER SEQUENCE "public"."plain_id_seq" RESTART"#
        )
    );
    for t in ["requests", "request_audit", "events", "plain"] {
        assert_eq!(s.db.count(t), 0, "{t} emptied");
    }
    assert_eq!(s.db.count("ledger"), 21);
    // The kept tables go on with fresh ids; the emptied one's own sequence restarted.
    let ledger_id =
        s.db.query_i64("INSERT INTO ledger (note) VALUES ('after') RETURNING id");
    assert!(ledger_id > max_ledger, "{ledger_id} reuses an id of ledger");
    let notes_id =
        s.db.query_i64("INSERT INTO other.notes (n) VALUES ('after') RETURNING id");
    assert!(
        notes_id > max_notes,
        "{notes_id} reuses an id of other.notes"
    );
    assert_eq!(
        s.db.query_i64("INSERT INTO plain (v) VALUES ('c') RETURNING id"),
        1
    );
}

#[test]
fn a_table_added_to_a_publication_while_queued_is_refused() {
    let Some(s) = Scene::new("pgt_rc_pub") else {
        return;
    };
    // TRUNCATE is replicated: added to a publication, it would empty subscribers' copies,
    // which the plan neither warned about nor was asked to do.
    s.owner()
        .batch_execute("CREATE PUBLICATION app_pub")
        .unwrap();
    let before = s.state();
    let run = s.attack_while_queued(
        HOLD_REQUESTS,
        "ALTER PUBLICATION app_pub ADD TABLE requests",
    );
    s.assert_refused(
        &run,
        &before,
        "the publications of public.requests changed (now: app_pub)",
    );
}

#[test]
fn a_planned_table_dropped_while_queued_is_refused() {
    let Some(s) = Scene::new("pgt_rc_drop") else {
        return;
    };
    let before = s.state();
    let run = s.attack_while_queued(
        "LOCK TABLE events IN ACCESS SHARE MODE",
        "DROP TABLE events",
    );
    assert!(!s.is_superuser());
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let message = &run.envelope.error.as_ref().unwrap().message;
    assert!(message.contains("a planned table is gone"), "{message}");
    assert!(message.contains("run pgtruncate again"), "{message}");
    // The owner's own drop is the only change: every other table keeps its rows.
    let mut after = s.state();
    let mut expected = before.clone();
    expected.retain(|k, _| after.contains_key(k));
    after.retain(|k, _| before.contains_key(k));
    assert_eq!(after, expected);
    assert_eq!(
        after.len() + 1,
        before.len(),
        "only the partition events_2026 is gone"
    );
}

#[test]
fn a_foreign_table_partition_is_refused_before_anything_is_locked() {
    let Some(s) = Scene::new("pgt_rc_foreign") else {
        return;
    };
    // A wrapper without handler is enough to attach a foreign table (no contrib needed);
    // postgres_fdw would carry the TRUNCATE to the other server.
    s.db.exec(&format!(
        "CREATE FOREIGN DATA WRAPPER nowhere_fdw;
         CREATE SERVER elsewhere FOREIGN DATA WRAPPER nowhere_fdw;
         GRANT USAGE ON FOREIGN SERVER elsewhere TO {};",
        s.attacker
    ));
    s.owner()
        .batch_execute(
            "CREATE FOREIGN TABLE events_remote PARTITION OF events
               FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')
               SERVER elsewhere",
        )
        .unwrap();
    let before = s.state();
    let url = s.db.url();
    let mut args = vec!["-d", url.as_str()];
    args.extend(TARGETS);
    let run = Run::new(
        support::pg::pgtruncate_command(&args, &[], &empty_home(env!("CARGO_TARGET_TMPDIR")))
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
    let error = run.envelope.error.as_ref().unwrap();
    assert!(
        error
            .message
            .contains("TRUNCATE would reach foreign table(s) public.events_remote"),
        "{}",
        error.message
    );
    assert_eq!(
        error.details["foreign_tables"],
        serde_json::json!(["public.events_remote"])
    );
    assert_eq!(s.state(), before);
}

//! The throwaway PostgreSQL cluster that scripts/test.sh starts (scripts/sandbox/pg.sh)
//! and announces through `HOLD_PG_*`; each test works in a database of its own.

use postgres::types::ToSql;
use postgres::{Client, NoTls};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The second application of the profile tests, with its own schema and keys
/// (`fixtures/ledger.sql`).
pub const LEDGER_SQL: &str = include_str!("fixtures/ledger.sql");

/// The variables libpq (and so pgtruncate) takes connection settings from.
const CONNECTION_VARS: [&str; 11] = [
    "DATABASE_URL",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "PGSSLMODE",
    "PGPASSFILE",
    "PGSSLROOTCERT",
    "PGOPTIONS",
];

/// A pgtruncate command that sees none of the caller's connection settings (no
/// DATABASE_URL, no PG* variables), with `home` as HOME (so any ~/.pgpass is the test's),
/// and `env` added.
pub fn pgtruncate_command(args: &[&str], env: &[(&str, &str)], home: &Path) -> Command {
    let mut cmd = Command::new(crate::bin("pgtruncate"));
    cmd.arg("--json=short").args(args);
    without_connection_env(&mut cmd, home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs [`pgtruncate_command`] and checks the envelope, as [`crate::run::run_command`].
#[track_caller]
pub fn run_pgtruncate(args: &[&str], env: &[(&str, &str)], home: &Path) -> crate::ToolRun {
    crate::run::run_command("pgtruncate", &mut pgtruncate_command(args, env, home), None)
}

/// pgtruncate's report, decoded (the envelope's own fields left out).
#[track_caller]
pub fn pgtruncate_report(run: &crate::ToolRun) -> reports::pgtruncate::Report {
    let mut value = run.json.clone();
    let object = value.as_object_mut().expect("a JSON object");
    for field in reports::ENVELOPE_FIELDS {
        object.remove(field);
    }
    serde_json::from_value(value).unwrap_or_else(|e| panic!("report: {e}\n{}", run.stdout))
}

/// One shared, always-empty HOME (no ~/.pgpass, no ~/.postgresql/root.crt) below `tmp`,
/// the test file's `env!("CARGO_TARGET_TMPDIR")` (cargo sets it for test files only):
/// the build's own directory, not a predictable path in /tmp that anyone could plant.
pub fn empty_home(tmp: &str) -> PathBuf {
    let dir = Path::new(tmp).join("pgtruncate-empty-home");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `cmd` (and what it runs) with none of the caller's connection settings, and `home`
/// as HOME.
pub fn without_connection_env<'a>(cmd: &'a mut Command, home: &Path) -> &'a mut Command {
    for var in CONNECTION_VARS {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home)
}

/// The runtime tables of the Cornice-like fixture (scripts/sandbox/cornice.sql): what a
/// default hibernate empties, listed here by hand so the tests do not take the preset's
/// word for it.
pub const CORNICE_RUNTIME_TABLES: [&str; 13] = [
    "execution_orders",
    "executions",
    "simulator_trades",
    "simulator_runs",
    "agent_findings",
    "agent_runs",
    "opportunity_observations",
    "hourly_prices",
    "market_snapshots",
    "orderbook_snapshots",
    "requests",
    "arb_go_signals",
    "arb_observations",
];

/// The fixture's tables that every hibernate keeps but `--include-auth` (the first
/// three) clears; `opportunities` and `alembic_version` are left to each test.
pub const CORNICE_KEPT_TABLES: [&str; 9] = [
    "users",
    "user_profiles",
    "user_secrets",
    "global_markets",
    "markets",
    "market_links",
    "arb_monitor_profiles",
    "arb_opportunity_instances",
    "arb_opportunity_legs",
];

/// The running cluster, as announced by scripts/sandbox/pg.sh.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub host: String,
    pub port: u16,
    /// Directory of the Unix socket.
    pub socket: String,
    pub user: String,
    pub password: String,
}

impl Cluster {
    /// The cluster from the environment, or why there is none.
    pub fn from_env() -> Result<Cluster, String> {
        let var = |name: &str| {
            std::env::var(name)
                .map_err(|_| format!("{name} is not set (start one with scripts/sandbox/pg.sh)"))
        };
        Ok(Cluster {
            host: var("HOLD_PG_HOST")?,
            port: var("HOLD_PG_PORT")?
                .parse()
                .map_err(|e| format!("HOLD_PG_PORT: {e}"))?,
            socket: var("HOLD_PG_SOCKET")?,
            user: var("HOLD_PG_USER")?,
            password: var("HOLD_PG_PASSWORD")?,
        })
    }

    /// A TCP URL to `db` as the superuser, password included.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://{}:{}@{}:{}/{}",
            self.user, self.password, self.host, self.port, db
        )
    }

    /// A TCP URL to `db` as another role.
    pub fn url_as(&self, user: &str, password: &str, db: &str) -> String {
        format!(
            "postgresql://{user}:{password}@{}:{}/{db}",
            self.host, self.port
        )
    }

    /// A superuser connection to `db` over the Unix socket.
    pub fn connect(&self, db: &str) -> Client {
        self.connect_as_app(db, "holdkit-tests")
    }

    /// [`Self::connect`] with `app` as `application_name`: the application a test's
    /// session stands in for, as pgtruncate names blockers by it.
    pub fn connect_as_app(&self, db: &str, app: &str) -> Client {
        let conninfo = format!(
            "host={} port={} user={} dbname={} application_name={app}",
            self.socket, self.port, self.user, db
        );
        Client::connect(&conninfo, NoTls)
            .unwrap_or_else(|e| panic!("connect to test cluster db {db}: {e}"))
    }

    /// A fresh database, dropped when the returned value is.
    pub fn create_database(&self, prefix: &str) -> TestDb {
        let name = crate::unique(prefix).to_lowercase();
        let mut admin = self.connect("postgres");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        TestDb {
            cluster: self.clone(),
            name,
        }
    }
}

/// What [`TestDb::fingerprint_keyed`] names a table or sequence by.
#[derive(Clone, Copy)]
enum Key {
    Name,
    Oid,
}

/// A database of one test's own.
#[derive(Debug)]
pub struct TestDb {
    pub cluster: Cluster,
    pub name: String,
}

impl TestDb {
    /// Waits until a session of this database whose `application_name` is `app` (any
    /// session with `None`) has a lock request of `mode` (`AccessExclusiveLock`, ...)
    /// queued, on `relation` (any relation with `None`): the deterministic moment for a
    /// test to act while that session waits.
    #[track_caller]
    pub fn wait_for_lock_request(&self, mode: &str, relation: Option<&str>, app: Option<&str>) {
        self.wait_until(
            "SELECT EXISTS (SELECT FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE a.datname = current_database() AND l.mode = $1 AND NOT l.granted
                AND ($2::text IS NULL OR l.relation = $2::text::regclass)
                AND ($3::text IS NULL OR a.application_name = $3))",
            &[&mode, &relation, &app],
            Duration::from_secs(30),
            &format!("no {mode} request queued (relation {relation:?}, application {app:?})"),
        );
    }

    /// Waits until `sql` (one boolean, `params` bound) is true, failing with `what` after
    /// `within`: a test waits for a state of the server (a lock queued, a session gone),
    /// never for a time.
    #[track_caller]
    pub fn wait_until(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        within: Duration,
        what: &str,
    ) {
        let mut watch = self.client();
        let deadline = Instant::now() + within;
        while !watch
            .query_one(sql, params)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get::<_, bool>(0)
        {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A session like a running Cornice that left a transaction open on `requests` (a
    /// lock a truncate waits behind), and its pid.
    pub fn idle_in_transaction(&self) -> (Client, i32) {
        let mut client = self.cluster.connect_as_app(&self.name, "cornice");
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        client
            .batch_execute("BEGIN; SELECT count(*) FROM requests;")
            .unwrap();
        (client, pid)
    }

    /// Loads the Cornice-like fixture with `rows` rows per runtime table.
    #[track_caller]
    pub fn load_cornice_fixture(&self, rows: u32) {
        let script = crate::repo_root().join("scripts/sandbox/cornice.sql");
        let out = Command::new("psql")
            .args(["-q", "-X", "-v", &format!("rows={rows}"), "-f"])
            .arg(&script)
            .arg(self.url())
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "loading the fixture failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// TCP URL with the superuser's password.
    pub fn url(&self) -> String {
        self.cluster.url(&self.name)
    }

    pub fn client(&self) -> Client {
        self.cluster.connect(&self.name)
    }

    /// Runs SQL (several statements allowed).
    #[track_caller]
    pub fn exec(&self, sql: &str) {
        self.client()
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The first column of the first row, as i64 (counts, sums).
    #[track_caller]
    pub fn query_i64(&self, sql: &str) -> i64 {
        let row = self
            .client()
            .query_one(sql, &[])
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        row.get::<_, i64>(0)
    }

    /// Every row (count and md5 of the rows in order) of every table and the position of
    /// every sequence (`last_value`, `is_called`: what the next `nextval` returns), keyed
    /// by qualified name: the state a "nothing was touched" claim is checked against.
    pub fn fingerprint(&self) -> BTreeMap<String, String> {
        self.fingerprint_keyed(Key::Name)
    }

    /// [`Self::fingerprint`] keyed by OID, for tests whose attacker renames tables: a
    /// renamed table is still the same table with the same rows.
    pub fn fingerprint_by_oid(&self) -> BTreeMap<String, String> {
        self.fingerprint_keyed(Key::Oid)
    }

    /// [`Self::fingerprint`] without the md5 of the rows: row counts and sequence
    /// positions, to compare two databases loaded apart (their `now()` defaults differ).
    pub fn counts(&self) -> BTreeMap<String, String> {
        let mut print = self.fingerprint();
        for (key, value) in print.iter_mut() {
            if !key.starts_with("seq ") {
                value.truncate(value.find(' ').unwrap_or(value.len()));
            }
        }
        print
    }

    fn fingerprint_keyed(&self, key: Key) -> BTreeMap<String, String> {
        let mut client = self.client();
        // Only the built-ins: a database owner's look-alike functions and operators, put
        // ahead in the database's search_path, must not run in this superuser session.
        client
            .batch_execute("SET search_path = pg_catalog")
            .unwrap();
        let mut out = BTreeMap::new();
        let relations = client
            .query(
                "SELECT c.oid, c.relkind = 'S', format('%I.%I', n.nspname, c.relname) FROM pg_class c
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind IN ('r', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                    AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 3",
                &[],
            )
            .unwrap();
        for row in relations {
            let (oid, is_sequence, name): (u32, bool, String) =
                (row.get(0), row.get(1), row.get(2));
            let sql = if is_sequence {
                format!("SELECT last_value::text || ' ' || is_called::text FROM {name}")
            } else {
                format!(
                    "SELECT count(*)::text || ' ' || coalesce(md5(string_agg(x::text, E'\\n' ORDER BY x::text)), '') FROM ONLY {name} x"
                )
            };
            let id = match key {
                Key::Name => name,
                Key::Oid => oid.to_string(),
            };
            let id = if is_sequence { format!("seq {id}") } else { id };
            out.insert(id, client.query_one(&sql, &[]).unwrap().get(0));
        }
        out
    }

    /// `gunzip -c FILE | psql -1 -v ON_ERROR_STOP=1 -d DB` (or `psql -f` for a plain file):
    /// PostgreSQL's own tools, nothing of holdkit.
    #[track_caller]
    pub fn psql_restore(&self, file: &Path) {
        let psql = "psql -X -q -1 -v ON_ERROR_STOP=1 -d \"$DB\"";
        let ext = file.extension().and_then(|e| e.to_str());
        let script = if let Some(decompress) = match ext {
            Some("gz") => Some("gunzip -c"),
            Some("zst") => Some("zstd -dc"),
            _ => None,
        } {
            format!("{decompress} \"$FILE\" | {psql} >/dev/null && echo restored")
        } else {
            format!("{psql} -f \"$FILE\" >/dev/null && echo restored")
        };
        let out = Command::new("bash")
            .args(["-c", &format!("set -o pipefail; {script}")])
            .env("DB", self.url())
            .env("FILE", file)
            .output()
            .unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("restored"),
            "psql restore of {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `count(*)` of a table (a quoted or plain name as written in SQL).
    #[track_caller]
    pub fn count(&self, table: &str) -> i64 {
        self.query_i64(&format!("SELECT count(*) FROM {table}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = Client::connect(
            &format!(
                "host={} port={} user={} dbname=postgres",
                self.cluster.socket, self.cluster.port, self.cluster.user
            ),
            NoTls,
        ) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ));
        }
    }
}

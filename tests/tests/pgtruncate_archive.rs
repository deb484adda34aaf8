//! pgtruncate --archive / --undo against a real PostgreSQL (scripts/sandbox/pg.sh): round
//! trips that compare every row and every sequence before the truncate and after the
//! restore, both through --undo and through PostgreSQL's own `psql` alone; a filesystem
//! too small for the archive; SIGKILL at many moments of a large archive; and every
//! refusal of --undo, each proven to have run nothing.

use reports::pgtruncate::{Compression, Report};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use support::pg::{empty_home, pgtruncate_report, Cluster, TestDb};
use support::run::{run_command, ToolRun};
use support::{listing, require};

fn database(prefix: &str) -> Option<TestDb> {
    require("root", support::root())?;
    let cluster = require("PostgreSQL test cluster", Cluster::from_env())?;
    Some(cluster.create_database(prefix))
}

fn command(args: &[&str]) -> Command {
    support::pg::pgtruncate_command(args, &[], &empty_home(env!("CARGO_TARGET_TMPDIR")))
}

#[track_caller]
fn pgt(args: &[&str]) -> ToolRun {
    run_command("pgtruncate", &mut command(args), None)
}

/// A directory of root's own (0700) for archives.
fn archive_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("archive-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
}

fn rows_of(print: &BTreeMap<String, String>) -> i64 {
    print
        .iter()
        .filter(|(k, _)| !k.starts_with("seq "))
        .map(|(_, v)| v.split(' ').next().unwrap().parse::<i64>().unwrap())
        .sum()
}

fn sha256_of(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// Archives, checks the file and its report, and that the tables were emptied.
#[track_caller]
fn archive(db: &TestDb, file: &Path, selection: &[&str]) -> Report {
    let path = file.to_str().unwrap();
    let url = db.url();
    let mut args = vec!["-d", url.as_str(), "--archive", path];
    args.extend_from_slice(selection);
    let run = pgt(&args);
    run.expect_code(0);
    let r = pgtruncate_report(&run);
    let a = r.archive.clone().expect("the report has the archive");
    let bytes = std::fs::read(file).unwrap();
    let meta = std::fs::metadata(file).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600, "an archive is 0600");
    assert_eq!(meta.uid(), 0, "and root's");
    assert_eq!(a.path, path);
    assert_eq!(a.bytes, Some(bytes.len() as u64));
    assert_eq!(a.sha256.as_deref(), Some(sha256_of(&bytes).as_str()));
    let compression = compression_of(file);
    assert_eq!(a.compression, compression);
    match compression {
        Compression::Gzip => assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic"),
        Compression::Zstd => assert_eq!(&bytes[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd magic"),
        Compression::None => assert!(bytes.starts_with(b"--"), "plain SQL text"),
    }
    r
}

/// The compression FILE's name asks for.
fn compression_of(file: &Path) -> Compression {
    match file.extension().and_then(|e| e.to_str()) {
        Some("gz") => Compression::Gzip,
        Some("zst") => Compression::Zstd,
        _ => Compression::None,
    }
}

/// Each compression --archive writes, restored through --undo and through the
/// PostgreSQL tools alone (`psql -f`, `gunzip -c | psql`, `zstd -dc | psql`), on rows
/// many times the compressor's chunk, so the stream crosses many chunks.
#[test]
fn every_compression_round_trips_through_undo_and_through_the_postgresql_tools() {
    let Some(db) = database("pga_compress") else {
        return;
    };
    db.exec(EDGE_SCHEMA);
    load_big(&db, 40_000);
    let before = db.fingerprint();
    let dir = archive_dir();
    let mut tables = EDGE_TABLES.to_vec();
    tables.push("big");
    for ext in ["sql", "sql.gz", "sql.zst"] {
        let file = dir.path().join(format!("undo.{ext}"));
        let a = archive(&db, &file, &tables).archive.unwrap();
        assert_eq!(rows_of(&db.fingerprint()), 0, "{ext}: every table emptied");
        assert_eq!(
            a.tables
                .iter()
                .find(|t| t.table == "public.big")
                .unwrap()
                .rows,
            40_000
        );
        let run = undo(&db, &file, &[]);
        run.expect_code(0);
        assert_eq!(
            pgtruncate_report(&run).archive.unwrap().compression,
            compression_of(&file)
        );
        assert_eq!(db.fingerprint(), before, "{ext}: --undo put every row back");

        let file = dir.path().join(format!("tools.{ext}"));
        round_trip_through_psql(&db, &file, &tables, 0, &before);
    }
}

#[test]
fn cornice_with_auth_round_trips_through_undo_and_through_psql() {
    let Some(db) = database("pga_cornice") else {
        return;
    };
    db.load_cornice_fixture(200);
    let before = db.fingerprint();
    let dir = archive_dir();
    let preset = ["--preset", "cornice", "--include-auth"];

    let first = dir.path().join("cornice.sql.gz");
    let r = archive(&db, &first, &preset);
    let emptied = db.fingerprint();
    assert_eq!(
        emptied["public.alembic_version"],
        before["public.alembic_version"]
    );
    let kept_rows = db.count("alembic_version");
    assert!(kept_rows > 0);
    assert_eq!(
        rows_of(&emptied),
        kept_rows,
        "every table but alembic_version emptied"
    );
    let a = r.archive.unwrap();
    // Partitions are archived on their own, into themselves; row counts are exact.
    let hp: u64 = a
        .tables
        .iter()
        .filter(|t| t.table.starts_with("public.hourly_prices_"))
        .map(|t| t.rows)
        .sum();
    assert_eq!(hp, 200);
    assert!(a.tables.iter().all(|t| t.table != "public.hourly_prices"));
    let users_seq = a
        .sequences
        .iter()
        .find(|s| s.sequence == "public.users_id_seq")
        .expect("users_id_seq in the archive");
    assert!(users_seq.is_called);

    let run = undo(&db, &first, &[]);
    run.expect_code(0);
    assert_eq!(run.json["changed"], true);
    let u = pgtruncate_report(&run);
    assert_eq!(u.restored, a.tables);
    assert_eq!(u.sequences, a.sequences);
    assert_eq!(u.archive.unwrap().sha256, a.sha256);
    assert_eq!(
        db.fingerprint(),
        before,
        "--undo put every row and sequence back"
    );

    // The same, with psql alone.
    let second = dir.path().join("again.sql.gz");
    round_trip_through_psql(&db, &second, &preset, kept_rows, &before);
    assert_eq!(listing(dir.path()), ["again.sql.gz", "cornice.sql.gz"]);
}

const EDGE_SCHEMA: &str = r#"
CREATE SCHEMA edge;
-- Three deep, named so that name order is the wrong restore order.
CREATE TABLE edge.c_root (id int PRIMARY KEY, name text);
CREATE TABLE edge.b_mid (id int PRIMARY KEY, root_id int NOT NULL REFERENCES edge.c_root);
CREATE TABLE edge.a_leaf (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mid_id int NOT NULL REFERENCES edge.b_mid,
    qty int NOT NULL,
    doubled int GENERATED ALWAYS AS (qty * 2) STORED);
-- A partitioned table with a default partition and a key into c_root.
CREATE TABLE edge.measures (at date NOT NULL, v numeric, root_id int REFERENCES edge.c_root)
    PARTITION BY RANGE (at);
CREATE TABLE edge.measures_2025 PARTITION OF edge.measures
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE edge.measures_other PARTITION OF edge.measures DEFAULT;
-- Inheritance: the parent's rows are its own.
CREATE TABLE edge.events (id serial PRIMARY KEY, kind text);
CREATE TABLE edge.events_special (extra text) INHERITS (edge.events);
-- Awkward names and values.
CREATE TABLE edge."Odd ""Name""" (id int, "Weird ""col""" text, payload bytea, tags text[],
    doc jsonb, note text);
-- Empty, its sequence never used.
CREATE TABLE edge.empty (id serial PRIMARY KEY, x text);
-- A cycle of deferrable keys.
CREATE TABLE edge.cyc_a (id int PRIMARY KEY, b_id int);
CREATE TABLE edge.cyc_b (id int PRIMARY KEY, a_id int REFERENCES edge.cyc_a DEFERRABLE);
ALTER TABLE edge.cyc_a ADD FOREIGN KEY (b_id) REFERENCES edge.cyc_b DEFERRABLE;

INSERT INTO edge.c_root SELECT g, 'root ' || g FROM generate_series(1, 50) g;
INSERT INTO edge.b_mid SELECT g, 1 + g % 50 FROM generate_series(1, 100) g;
INSERT INTO edge.a_leaf (mid_id, qty) SELECT 1 + g % 100, g FROM generate_series(1, 300) g;
DELETE FROM edge.a_leaf WHERE id % 7 = 0;
INSERT INTO edge.measures SELECT date '2025-06-01' + g, g * 1.5, 1 + g % 50
    FROM generate_series(0, 400) g;
INSERT INTO edge.events (kind) SELECT 'plain ' || g FROM generate_series(1, 20) g;
INSERT INTO edge.events_special (kind, extra) SELECT 'special', 'x' || g FROM generate_series(1, 10) g;
INSERT INTO edge."Odd ""Name""" VALUES
 (1, E'tab\there', '\x00ff5c0a0d'::bytea, ARRAY['a,b', 'c"d', NULL, E'back\\slash', '{}'],
  '{"k": [1, "two", null], "ü": "€\n"}', E'line1\nline2\r\nend'),
 (2, NULL, NULL, NULL, NULL, NULL),
 (3, E'\\.', ''::bytea, '{}', 'null', 'ünïcødé 日本語 🎉'),
 (4, '\.', '\x5c2e'::bytea, ARRAY[E'\t'], '"\\"', E'\\N'),
 (5, '', '\x'::bytea, ARRAY[''], '[]', E'trailing backslash \\');
INSERT INTO edge.cyc_a VALUES (1, NULL), (2, NULL);
INSERT INTO edge.cyc_b VALUES (1, 1), (2, 2);
UPDATE edge.cyc_a SET b_id = id;
"#;

const EDGE_TABLES: [&str; 10] = [
    "edge.c_root",
    "edge.b_mid",
    "edge.a_leaf",
    "edge.measures",
    "edge.events",
    "edge.events_special",
    "\"edge\".\"Odd \"\"Name\"\"\"",
    "edge.empty",
    "edge.cyc_a",
    "edge.cyc_b",
];

#[test]
fn keys_partitions_inheritance_generated_identity_and_awkward_values_round_trip() {
    let Some(db) = database("pga_edge") else {
        return;
    };
    db.exec(EDGE_SCHEMA);
    let before = db.fingerprint();
    let dir = archive_dir();

    let plain = dir.path().join("edge.sql");
    let r = archive(&db, &plain, &EDGE_TABLES);
    assert_eq!(rows_of(&db.fingerprint()), 0, "every table emptied");
    let a = r.archive.unwrap();
    let order: Vec<&str> = a.tables.iter().map(|t| t.table.as_str()).collect();
    let at = |t: &str| {
        order
            .iter()
            .position(|o| *o == t)
            .unwrap_or_else(|| panic!("{t} in {order:?}"))
    };
    assert!(at("edge.c_root") < at("edge.b_mid") && at("edge.b_mid") < at("edge.a_leaf"));
    assert!(at("edge.c_root") < at("edge.measures_2025"));
    assert!(
        !order.contains(&"edge.measures"),
        "partitions, not the parent"
    );
    let rows = |t: &str| a.tables.iter().find(|x| x.table == t).unwrap().rows;
    assert_eq!(rows("edge.events"), 20, "the parent's own rows");
    assert_eq!(rows("edge.events_special"), 10);
    assert_eq!(
        rows("edge.measures_2025") + rows("edge.measures_other"),
        401
    );
    assert!(
        rows("edge.measures_other") > 0,
        "the default partition holds rows"
    );
    assert_eq!(rows("edge.empty"), 0);
    let text = std::fs::read_to_string(&plain).unwrap();
    assert!(text.contains("COPY \"edge\".\"a_leaf\" (\"id\", \"mid_id\", \"qty\") FROM stdin;"));
    assert!(
        text.contains("\nSET CONSTRAINTS ALL DEFERRED;\n"),
        "the deferrable cycle"
    );
    assert!(text.contains("SELECT pg_catalog.setval('\"edge\".\"empty_id_seq\"', 1, false);"));
    assert!(text.contains("-- database: postgresql://postgres@"));
    assert!(
        !text.contains(&db.cluster.password),
        "no password in the archive"
    );

    let run = undo(&db, &plain, &[]);
    run.expect_code(0);
    assert_eq!(
        db.fingerprint(),
        before,
        "--undo put every row and sequence back"
    );

    let gz = dir.path().join("edge.sql.gz");
    round_trip_through_psql(&db, &gz, &EDGE_TABLES, 0, &before);
    // The next values are the ones before, not a fresh start.
    let next: i64 = db.query_i64("SELECT nextval('edge.events_id_seq')");
    assert_eq!(next, 31);
}

#[test]
fn a_cycle_of_keys_no_order_satisfies_is_refused_before_anything_is_emptied() {
    let Some(db) = database("pga_cycle") else {
        return;
    };
    db.exec(
        "CREATE TABLE x (id int PRIMARY KEY, y_id int);
         CREATE TABLE y (id int PRIMARY KEY, x_id int REFERENCES x);
         ALTER TABLE x ADD CONSTRAINT x_y FOREIGN KEY (y_id) REFERENCES y;
         INSERT INTO x VALUES (1, NULL); INSERT INTO y VALUES (1, 1); UPDATE x SET y_id = 1;",
    );
    let before = db.fingerprint();
    let dir = archive_dir();
    let file = dir.path().join("c.sql.gz");
    let url = db.url();
    for dry in [true, false] {
        let mut args = vec![
            "-d",
            url.as_str(),
            "--archive",
            file.to_str().unwrap(),
            "x",
            "y",
        ];
        if dry {
            args.push("--dry-run");
        }
        let run = pgt(&args);
        run.expect_code(3);
        assert!(run.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("public.x.x_y"));
        assert_eq!(db.fingerprint(), before);
        assert!(listing(dir.path()).is_empty());
    }
}

#[test]
fn dry_run_existing_file_and_an_open_directory() {
    let Some(db) = database("pga_checks") else {
        return;
    };
    db.load_cornice_fixture(50);
    let before = db.fingerprint();
    let dir = archive_dir();
    let file = dir.path().join("d.sql.gz");
    let url = db.url();
    let path = file.to_str().unwrap();
    let archive_cornice = |to: &str, flags: &[&str]| {
        let mut args = vec!["-d", url.as_str(), "--preset", "cornice", "--archive", to];
        args.extend(flags);
        pgt(&args)
    };

    let run = archive_cornice(path, &["--dry-run"]);
    run.expect_code(0);
    let a = pgtruncate_report(&run).archive.unwrap();
    assert_eq!(a.path, path);
    assert!(a.bytes_estimate.unwrap() > 0);
    assert_eq!((a.bytes, a.sha256), (None, None));
    assert!(listing(dir.path()).is_empty());

    std::fs::write(&file, b"keep me").unwrap();
    let run = archive_cornice(path, &[]);
    run.expect_code(2);
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");

    // A link, even one of root's pointing nowhere yet, is never written through.
    let link = dir.path().join("link.sql.gz");
    std::os::unix::fs::symlink(dir.path().join("elsewhere.sql.gz"), &link).unwrap();
    let run = archive_cornice(link.to_str().unwrap(), &[]);
    run.expect_code(2);
    assert!(!dir.path().join("elsewhere.sql.gz").exists());
    std::fs::remove_file(&link).unwrap();

    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let inside = open.join("a.sql.gz");
    let run = archive_cornice(inside.to_str().unwrap(), &[]);
    run.expect_code(3);
    assert!(listing(&open).is_empty());

    let run = archive_cornice(&format!("{path}.zip"), &[]);
    run.expect_code(2);
    assert_eq!(db.fingerprint(), before, "nothing emptied");
}

/// `big`: rows of random hex text, which compresses about twofold.
fn load_big(db: &TestDb, rows: u32) {
    db.exec(&format!(
        "CREATE TABLE big (id bigserial PRIMARY KEY, payload text);
         INSERT INTO big (payload)
              SELECT md5(g::text) || md5(random()::text) || md5(random()::text) || md5(random()::text)
                FROM generate_series(1, {rows}) g;
         ANALYZE big;"
    ));
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = archive_dir().keep();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount a tmpfs on {}", dir.display());
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_filesystem_too_small_for_the_archive_empties_nothing_and_leaves_nothing() {
    let Some(db) = database("pga_small") else {
        return;
    };
    load_big(&db, 50_000);
    let before = db.fingerprint();
    // Clearly too small: refused before anything is locked.
    let tiny = Tmpfs::mount("64k");
    let file = tiny.0.join("big.sql.gz");
    let run = pgt(&["-d", &db.url(), "--archive", file.to_str().unwrap(), "big"]);
    run.expect_code(3);
    assert!(run.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("free"));
    assert!(listing(&tiny.0).is_empty());
    assert_eq!(db.fingerprint(), before);
    // Not clearly too small, and full half-way: ENOSPC, met by the compressor's thread,
    // rolls back.
    let small = Tmpfs::mount("1m");
    for name in ["big.sql.gz", "big.sql.zst"] {
        let file = small.0.join(name);
        let run = pgt(&["-d", &db.url(), "--archive", file.to_str().unwrap(), "big"]);
        run.expect_code(1);
        let message = run.json["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("No space left on device"),
            "{name}: {message}"
        );
        assert!(
            listing(&small.0).is_empty(),
            "{name}: no temp file, no archive"
        );
        assert_eq!(db.fingerprint(), before, "{name}: nothing emptied");
    }
}

#[test]
fn sigkill_at_any_moment_never_leaves_rows_gone_without_a_complete_archive() {
    let Some(db) = database("pga_kill") else {
        return;
    };
    load_big(&db, 20_000);
    let before = db.fingerprint();
    let dir = archive_dir();
    let file = dir.path().join("big.sql.gz");
    let path = file.to_str().unwrap().to_string();
    let url = db.url();
    let args = ["-d", url.as_str(), "--archive", path.as_str(), "big"];

    // One whole run, to know how long one takes; then put the rows back.
    let started = Instant::now();
    pgt(&args).expect_code(0);
    let whole = started.elapsed();
    undo(&db, &file, &[]).expect_code(0);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(db.fingerprint(), before);

    let (mut emptied, mut kept, mut partial_seen) = (0, 0, 0);
    for i in 0..30u32 {
        // Spread over a whole run and a little past it (a kill after the end finds it done).
        let delay = whole * i / 26;
        let mut child = command(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        if listing(dir.path())
            .iter()
            .any(|n| n.ends_with(".pgtruncate-partial"))
        {
            partial_seen += 1;
        }
        // The killed session's transaction ends when the server sees the socket close;
        // count(*) waits for its lock until then.
        let rows = db.count("big");
        if rows == 0 {
            emptied += 1;
            // Rows gone: the archive must be complete, and put them back.
            undo(&db, &file, &[]).expect_code(0);
            std::fs::remove_file(&file).unwrap();
        } else {
            kept += 1;
            if file.exists() {
                // Killed after the rename, before the COMMIT: a complete archive.
                let out = Command::new("sh")
                    .args(["-c", "gunzip -c \"$F\" | tail -n 1"])
                    .env("F", &file)
                    .output()
                    .unwrap();
                assert!(String::from_utf8_lossy(&out.stdout).starts_with("-- sha256: "));
                std::fs::remove_file(&file).unwrap();
            }
        }
        assert_eq!(db.fingerprint(), before, "kill {i} after {delay:?}");
    }
    // The next run removes what killed runs left behind.
    pgt(&args).expect_code(0);
    assert_eq!(listing(dir.path()), ["big.sql.gz"]);
    eprintln!(
        "kills: {kept} left the rows, {emptied} emptied them (archive complete), {partial_seen} left a temp file; a whole run took {whole:?}"
    );
}

#[test]
fn ctrl_c_mid_archive_and_a_lock_timeout_roll_back_and_leave_no_file() {
    let Some(db) = database("pga_sigint") else {
        return;
    };
    load_big(&db, 30_000);
    let before = db.fingerprint();
    let dir = archive_dir();
    let file = dir.path().join("big.sql.gz");
    let url = db.url();
    let args = [
        "-d",
        url.as_str(),
        "--archive",
        file.to_str().unwrap(),
        "big",
    ];

    // SIGINT once the temp file exists: the tables are locked and the COPY runs.
    let child = command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while !listing(dir.path())
        .iter()
        .any(|n| n.ends_with(".pgtruncate-partial"))
    {
        assert!(Instant::now() < deadline, "the archive never started");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(5), "{json}");
    assert_eq!(json["error"]["interrupted"], "SIGINT");
    assert!(listing(dir.path()).is_empty(), "no temp file, no archive");
    assert_eq!(db.fingerprint(), before, "nothing emptied");

    // A lock held by the app: nothing is written at all.
    let mut app = db.client();
    app.batch_execute("BEGIN; LOCK TABLE big IN ACCESS SHARE MODE")
        .unwrap();
    let mut with_timeout = args.to_vec();
    with_timeout.extend(["--lock-timeout", "1s"]);
    pgt(&with_timeout).expect_code(5);
    assert!(listing(dir.path()).is_empty());
    app.batch_execute("ROLLBACK").unwrap();
    assert_eq!(db.fingerprint(), before);
}

/// A database with a small archived set: `parent`, `child` (emptied, in the archive),
/// `victim` and `marks` (kept), and `mark()`, which writes into `marks`.
fn archived(prefix: &str, name: &str) -> Option<(TestDb, tempfile::TempDir, PathBuf)> {
    let db = database(prefix)?;
    db.exec(
        "CREATE TABLE parent (id serial PRIMARY KEY, name text);
         CREATE TABLE child (id serial PRIMARY KEY, parent_id int REFERENCES parent, v text);
         CREATE TABLE victim (id int);
         CREATE TABLE marks (at timestamptz DEFAULT now());
         CREATE FUNCTION mark() RETURNS void LANGUAGE sql AS 'INSERT INTO public.marks DEFAULT VALUES';
         INSERT INTO parent (name) SELECT 'p' || g FROM generate_series(1, 30) g;
         INSERT INTO child (parent_id, v) SELECT 1 + g % 30, E'v\\t' || g FROM generate_series(1, 90) g;
         INSERT INTO victim VALUES (1), (2);",
    );
    let dir = archive_dir();
    let file = dir.path().join(name);
    archive(&db, &file, &["parent", "child"]);
    Some((db, dir, file))
}

/// `pgtruncate -d DB --undo FILE`, `flags` added.
#[track_caller]
fn undo(db: &TestDb, file: &Path, flags: &[&str]) -> ToolRun {
    let url = db.url();
    let mut args = vec!["-d", url.as_str(), "--undo", file.to_str().unwrap()];
    args.extend(flags);
    pgt(&args)
}

/// Archives `selection` to `file` (`kept_rows` rows stay) and restores it with psql
/// alone: every row and sequence must be back as in `before`.
#[track_caller]
fn round_trip_through_psql(
    db: &TestDb,
    file: &Path,
    selection: &[&str],
    kept_rows: i64,
    before: &BTreeMap<String, String>,
) {
    archive(db, file, selection);
    let name = file.display();
    assert_eq!(rows_of(&db.fingerprint()), kept_rows, "{name}: rows left");
    db.psql_restore(file);
    assert_eq!(
        &db.fingerprint(),
        before,
        "{name}: psql put every row and sequence back"
    );
}

#[track_caller]
fn undo_refused(db: &TestDb, file: &Path, code: i32) -> String {
    let before = db.fingerprint();
    let run = undo(db, file, &[]);
    run.expect_code(code);
    assert_eq!(db.fingerprint(), before, "nothing touched");
    run.json["error"]["message"].as_str().unwrap().to_string()
}

#[test]
fn undo_refuses_tables_holding_rows_and_tables_that_are_gone() {
    let Some((db, _dir, file)) = archived("pga_undo_rows", "a.sql.gz") else {
        return;
    };
    db.exec("INSERT INTO parent (name) VALUES ('new')");
    let message = undo_refused(&db, &file, 3);
    assert!(message.contains("public.parent hold rows"), "{message}");
    db.exec("DELETE FROM parent");
    // An ON INSERT trigger would run for every row loaded, with pgtruncate's rights.
    db.exec(
        "CREATE FUNCTION mark_row() RETURNS trigger LANGUAGE plpgsql AS
           'BEGIN INSERT INTO public.marks DEFAULT VALUES; RETURN NEW; END';
         CREATE TRIGGER spy AFTER INSERT ON child FOR EACH ROW EXECUTE FUNCTION mark_row();",
    );
    let message = undo_refused(&db, &file, 3);
    assert!(message.contains("ON INSERT trigger spy"), "{message}");
    assert_eq!(db.count("marks"), 0);
    let run = undo(&db, &file, &["--allow-triggers", "--dry-run"]);
    run.expect_code(0);
    assert!(pgtruncate_report(&run).warnings[0].contains("ON INSERT trigger spy"));
    assert_eq!(
        (db.count("child"), db.count("marks")),
        (0, 0),
        "a dry run loads nothing"
    );
    db.exec("DELETE FROM parent; DROP TABLE child");
    let message = undo_refused(&db, &file, 4);
    assert!(message.contains("public.child does not exist"), "{message}");
}

#[test]
fn undo_proves_the_foreign_keys_of_the_rows_it_loads() {
    let Some(db) = database("pga_undo_keys") else {
        return;
    };
    db.exec(
        "CREATE TABLE kept (a int, b int, PRIMARY KEY (a, b));
         CREATE TABLE loaded (id int, a int, b int,
                              FOREIGN KEY (a, b) REFERENCES kept MATCH FULL);
         INSERT INTO kept SELECT g, g FROM generate_series(1, 50) g;
         INSERT INTO loaded SELECT g, g, g FROM generate_series(1, 50) g;
         INSERT INTO loaded VALUES (51, NULL, NULL);",
    );
    let dir = archive_dir();
    let file = dir.path().join("loaded.sql");
    archive(&db, &file, &["loaded"]);
    // A referenced row deleted since: as a superuser the keys are proven in bulk after
    // the load, otherwise row by row (a trigger of the table forces that path): either
    // way the restore fails and nothing is loaded.
    db.exec("DELETE FROM kept WHERE a = 17");
    let message = undo_refused(&db, &file, 1);
    assert!(
        message.contains("public.loaded.loaded_a_b_fkey"),
        "{message}"
    );
    db.exec(
        "CREATE FUNCTION pass() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
         CREATE TRIGGER pass BEFORE INSERT ON loaded FOR EACH ROW EXECUTE FUNCTION pass();",
    );
    let before = db.fingerprint();
    let run = undo(&db, &file, &["--allow-triggers"]);
    run.expect_code(1);
    assert!(run.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("loaded_a_b_fkey"));
    assert_eq!(db.fingerprint(), before);
    // With the row back, both paths load every row.
    db.exec("INSERT INTO kept VALUES (17, 17)");
    undo(&db, &file, &["--allow-triggers"]).expect_code(0);
    assert_eq!(db.count("loaded"), 51);
    db.exec("TRUNCATE loaded; DROP TRIGGER pass ON loaded");
    undo(&db, &file, &[]).expect_code(0);
    assert_eq!(db.count("loaded"), 51);
}

/// Replaces the archive's body and recomputes its trailer's checksum, as someone who
/// knows the format would.
fn plant(file: &Path, planted: &str) -> PathBuf {
    let text = std::fs::read_to_string(file).unwrap();
    let at = text.find("-- pgtruncate archive trailer\n").unwrap();
    let body = format!("{}{planted}", &text[..at]);
    let trailer = &text[at..];
    let old = trailer.rsplit_once("-- sha256: ").unwrap().0;
    let out = format!("{body}{old}-- sha256: {}\n", sha256_of(body.as_bytes()));
    let planted_file =
        file.with_file_name(format!("planted-{}.sql", sha256_of(planted.as_bytes())));
    std::fs::write(&planted_file, out).unwrap();
    std::fs::set_permissions(&planted_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    planted_file
}

#[test]
fn undo_runs_nothing_from_a_cut_edited_or_planted_archive() {
    let Some((db, dir, file)) = archived("pga_undo_planted", "a.sql") else {
        return;
    };
    let text = std::fs::read(&file).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    // Cut.
    let cut = write("cut.sql", &text[..text.len() * 2 / 3]);
    assert!(undo_refused(&db, &cut, 3).contains("not a valid archive"));
    for (name, cut_name) in [("b.sql.gz", "cut.sql.gz"), ("c.sql.zst", "cut.sql.zst")] {
        let compressed = dir.path().join(name);
        db.exec(
            "INSERT INTO parent (name) VALUES ('x'); INSERT INTO child (parent_id) SELECT id FROM parent",
        );
        archive(&db, &compressed, &["parent", "child"]);
        let bytes = std::fs::read(&compressed).unwrap();
        let cut = write(cut_name, &bytes[..bytes.len() / 2]);
        assert!(
            undo_refused(&db, &cut, 3).contains("not a valid archive"),
            "{cut_name}"
        );
    }
    // Edited: one digit of one row.
    let s = String::from_utf8(text.clone()).unwrap();
    let edited = write("edited.sql", s.replacen("\tp7\n", "\tp8\n", 1).as_bytes());
    assert_ne!(std::fs::read(&edited).unwrap(), text);
    assert!(undo_refused(&db, &edited, 3).contains("checksum"));
    // Planted, with a checksum that matches.
    let marker = dir.path().join("pwned");
    for planted in [
        "DROP TABLE public.victim;\n".to_string(),
        "SELECT public.mark();\n".to_string(),
        "COPY \"public\".\"victim\" (\"id\") FROM stdin;\n3\n\\.\n".to_string(),
        format!("\\! touch {}\n", marker.display()),
        "SELECT pg_catalog.setval('\"public\".\"victim_seq\"', 1, true);\n".to_string(),
    ] {
        let p = plant(&file, &planted);
        let message = undo_refused(&db, &p, 3);
        assert!(message.contains("line "), "{planted:?}: {message}");
        assert_eq!(db.count("victim"), 2);
        assert_eq!(db.count("marks"), 0);
        assert!(!marker.exists());
    }
    // psql would have run them: the trap was live.
    let p = plant(&file, "SELECT public.mark();\n");
    db.psql_restore(&p);
    assert_eq!(db.count("marks"), 1);
}

#[test]
fn undo_refuses_an_archive_another_user_owns_or_links_to() {
    let Some((db, dir, file)) = archived("pga_undo_owner", "a.sql.gz") else {
        return;
    };
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    // A link made by nobody to root's archive.
    let link = dir.path().join("link.sql.gz");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        &link,
        Some(nobody.uid),
        None,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
    let message = undo_refused(&db, &link, 3);
    assert!(message.contains("symlink"), "{message}");
    // The archive itself given to nobody.
    std::os::unix::fs::chown(&file, Some(nobody.uid.as_raw()), None).unwrap();
    let message = undo_refused(&db, &file, 3);
    assert!(message.contains("nobody"), "{message}");
    // Back to root, it loads.
    std::os::unix::fs::chown(&file, Some(0), None).unwrap();
    undo(&db, &file, &[]).expect_code(0);
    assert_eq!(db.count("child"), 90);
}

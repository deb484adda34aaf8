//! The application keeps writing while `pgtruncate --archive` empties its table: its
//! INSERT waits behind pgtruncate's lock, and lands once the TRUNCATE has committed. The
//! row is never lost, and never in the archive (the archive holds exactly the rows the
//! statement emptied). Deterministic: a holder keeps pgtruncate queued until the writer
//! is queued behind it, as the test sees in `pg_locks`.

use std::process::Command;
use support::pg::{empty_home, pgtruncate_report, Cluster, TestDb};
use support::require;
use support::run::run_command;

const OLD_ROWS: u64 = 500;
const WRITTEN: &str = "written while the hold was taken";

fn database(prefix: &str) -> Option<TestDb> {
    require("root", support::root())?;
    let cluster = require("PostgreSQL test cluster", Cluster::from_env())?;
    Some(cluster.create_database(prefix))
}

#[test]
fn a_writer_during_the_archive_waits_and_its_row_is_never_lost() {
    let Some(db) = database("pga_writer") else {
        return;
    };
    db.exec(&format!(
        "CREATE TABLE events (id bigserial PRIMARY KEY, note text NOT NULL);
         INSERT INTO events (note) SELECT 'old ' || g FROM generate_series(1, {OLD_ROWS}) g;"
    ));
    let dir = tempfile::Builder::new()
        .prefix("archive-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let file = dir.path().join("events.sql.gz");

    // The holder keeps pgtruncate waiting for its lock.
    let mut holder = db.client();
    holder
        .batch_execute("BEGIN; LOCK TABLE events IN ACCESS SHARE MODE")
        .unwrap();
    let url = db.url();
    let path = file.to_str().unwrap().to_string();
    let mut cmd = support::pg::pgtruncate_command(
        &[
            "-d",
            &url,
            "--archive",
            &path,
            "--lock-timeout",
            "30s",
            "events",
        ],
        &[],
        &empty_home(env!("CARGO_TARGET_TMPDIR")),
    );
    let truncate = std::thread::spawn(move || run_command("pgtruncate", &mut cmd, None));
    db.wait_for_lock_request(
        "AccessExclusiveLock",
        Some("public.events"),
        Some("pgtruncate"),
    );

    // The application writes: it queues behind pgtruncate's request.
    let mut app = db.client();
    let writer = std::thread::spawn(move || {
        app.execute("INSERT INTO events (note) VALUES ($1)", &[&WRITTEN])
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    db.wait_for_lock_request("RowExclusiveLock", Some("public.events"), None);
    holder.batch_execute("COMMIT").unwrap();

    let run = truncate.join().unwrap();
    run.expect_code(0);
    writer.join().unwrap().expect("the writer's INSERT");

    // The archive holds exactly the rows that were emptied.
    let archive = pgtruncate_report(&run)
        .archive
        .expect("the report names the archive it wrote");
    let archived: Vec<(String, u64)> = archive
        .tables
        .iter()
        .map(|t| (t.table.clone(), t.rows))
        .collect();
    assert_eq!(archived, [("public.events".to_string(), OLD_ROWS)]);
    let text = Command::new("gunzip")
        .arg("-c")
        .arg(&file)
        .output()
        .unwrap();
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    let old = text.lines().filter(|l| l.contains("\told ")).count();
    assert_eq!(old as u64, OLD_ROWS, "the archive's rows");
    assert!(
        !text.contains(WRITTEN),
        "the writer's row is not in the archive"
    );

    // The writer's row is there, after the truncate; nothing else is.
    assert_eq!(db.count("events"), 1);
    let mut client = db.client();
    let note: String = client
        .query_one("SELECT note FROM events", &[])
        .unwrap()
        .get(0);
    assert_eq!(note, WRITTEN);
}

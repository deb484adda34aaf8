//! How pgtruncate finds its target and its credentials, against the real PostgreSQL
//! cluster (scripts/sandbox/pg.sh): `--env-file` read as the app reads it, never a
//! fall-back to another database, root's credentials kept from targets another user
//! names, and the target shown in full but for its password.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::pg::{pgtruncate_command, run_pgtruncate, Cluster, TestDb};
use support::require;
use support::run::{run_command, ToolRun};

/// A database of the test's own with `requests` (50 rows) and `executions` (20 rows).
fn small_db(cluster: &Cluster, prefix: &str) -> TestDb {
    let db = cluster.create_database(prefix);
    db.exec(
        "CREATE TABLE requests (id serial PRIMARY KEY, body text);
         INSERT INTO requests (body) SELECT 'r' || g FROM generate_series(1, 50) g;
         CREATE TABLE executions (id serial PRIMARY KEY);
         INSERT INTO executions SELECT FROM generate_series(1, 20);",
    );
    db
}

fn cluster() -> Option<Cluster> {
    require("PostgreSQL test cluster", Cluster::from_env())
}

/// pgtruncate on `requests` of the database that `file`'s DATABASE_URL names, `flags`
/// added: how most tests here run it.
#[track_caller]
fn run_env_file(file: &Path, flags: &[&str], env: &[(&str, &str)], home: &Path) -> ToolRun {
    let mut args = vec!["--env-file", file.to_str().unwrap()];
    args.extend(flags);
    args.push("requests");
    run_pgtruncate(&args, env, home)
}

fn write_env(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// A HOME of the test's own whose ~/.pgpass (0600) holds `line`.
fn home_with_pgpass(line: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let pgpass = home.path().join(".pgpass");
    std::fs::write(&pgpass, format!("{line}\n")).unwrap();
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    home
}

#[test]
fn a_named_env_file_without_database_url_is_exit_4_and_no_other_database_is_emptied() {
    let Some(c) = cluster() else { return };
    let app = small_db(&c, "pgtc_app");
    let other = small_db(&c, "pgtc_otherdb");
    let (app_before, other_before) = (app.fingerprint(), other.fingerprint());
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let port = c.port.to_string();
    // What an operator's shell may hold: PG* variables and a DATABASE_URL naming another
    // database, each of which the old fall-back used.
    let shell = [
        ("PGHOST", c.socket.as_str()),
        ("PGPORT", port.as_str()),
        ("PGUSER", c.user.as_str()),
        ("PGDATABASE", other.name.as_str()),
    ];
    let other_url = other.url();
    let with_url = [("DATABASE_URL", other_url.as_str())];
    for (name, text) in [
        ("flags.env", "HIBERNATE_MODE=true\nINGEST_ENABLED=false\n"),
        ("empty.env", "DATABASE_URL=\n"),
        ("bare.env", "DATABASE_URL\n"),
        ("commented.env", "# DATABASE_URL=postgresql://x/y\n"),
    ] {
        let file = write_env(dir.path(), name, text);
        let shown = file.to_str().unwrap();
        for env in [&shell[..], &with_url[..]] {
            let run = run_env_file(&file, &[], env, home.path());
            run.expect_code(4);
            let message = run.json["error"]["message"].as_str().unwrap();
            assert!(message.contains(shown), "{message}");
            assert!(message.contains("DATABASE_URL"), "{message}");
            assert!(!run.all_output().contains(&c.password));
        }
    }
    assert_eq!(
        other.fingerprint(),
        other_before,
        "the other database was touched"
    );
    assert_eq!(app.fingerprint(), app_before);
}

#[test]
fn the_env_file_is_read_as_python_dotenv_reads_it() {
    let Some(c) = cluster() else { return };
    // A database whose name holds a quote: `\'` inside single quotes is python-dotenv's
    // escape for it.
    let db = c.create_database("pgtc_it's");
    db.exec("CREATE TABLE requests (id int); INSERT INTO requests SELECT generate_series(1, 5);");
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (name_head, name_tail) = db.name.split_once('\'').unwrap();
    let url_head = format!(
        "postgresql://{}:{}@{}:{}/{name_head}",
        c.user, c.password, c.host, c.port
    );
    for (file, text) in [
        (
            "tab.env",
            format!("HIBERNATE_MODE=false\nexport\tDATABASE_URL={url_head}'{name_tail}\n"),
        ),
        (
            "single.env",
            format!("DATABASE_URL='{url_head}\\'{name_tail}' # the app's\n"),
        ),
        (
            "last.env",
            format!("DATABASE_URL=postgresql://nobody@127.0.0.1:1/wrong\nDATABASE_URL=\"{url_head}'{name_tail}\"\n"),
        ),
    ] {
        let file = write_env(dir.path(), file, &text);
        let run = run_env_file(&file, &["--dry-run"], &[], home.path());
        run.expect_code(0);
        let database = run.json["database"].as_str().unwrap();
        assert!(
            database.ends_with(&format!("/{name_head}%27{name_tail}?sslmode=prefer")),
            "{text:?}: {database}"
        );
        assert!(!run.all_output().contains(&c.password));
    }
    assert_eq!(db.count("requests"), 5);
}

#[test]
fn a_fifo_or_a_directory_as_env_file_is_a_usage_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.env");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let real = write_env(
        dir.path(),
        "real.env",
        "DATABASE_URL=postgresql://u@127.0.0.1:1/x\n",
    );
    let link = dir.path().join("link.env");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    // The caller's own symlink is followed like any path root made (another user's is
    // refused: tests/trust_files.rs): it leads to the real file's URL, port 1, refused.
    run_env_file(&link, &[], &[], home.path()).expect_code(1);
    for path in [&fifo, &dir.path().to_path_buf()] {
        // Under timeout(1): a pgtruncate stuck opening the FIFO is killed and the test
        // fails on its missing report instead of hanging.
        let inner = pgtruncate_command(
            &["--env-file", path.to_str().unwrap(), "requests"],
            &[],
            home.path(),
        );
        let mut cmd = Command::new("timeout");
        cmd.args(["--kill-after=2", "10"])
            .arg(inner.get_program())
            .args(inner.get_args())
            .envs(inner.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
        for (k, v) in inner.get_envs() {
            if v.is_none() {
                cmd.env_remove(k);
            }
        }
        let started = Instant::now();
        let run = run_command("pgtruncate", &mut cmd, None);
        run.expect_code(2);
        assert!(started.elapsed() < Duration::from_secs(10));
        let message = run.json["error"]["message"].as_str().unwrap();
        assert!(message.contains(path.to_str().unwrap()), "{message}");
    }
    let missing = dir.path().join("missing.env");
    run_env_file(&missing, &[], &[], home.path()).expect_code(4);
}

/// What a fake server on 127.0.0.1 received: it declines TLS, takes the startup packet,
/// asks for a cleartext password (`R`, length 8, code 3) and records whatever follows.
struct FakeServer {
    port: u16,
    received: Arc<Mutex<Vec<u8>>>,
    thread: std::thread::JoinHandle<()>,
}

impl FakeServer {
    fn start() -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&received);
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        serve(stream, &record);
                        return;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        FakeServer {
            port,
            received,
            thread,
        }
    }

    /// Everything received, once the client is gone.
    fn finish(self) -> Vec<u8> {
        self.thread.join().unwrap();
        let bytes = self.received.lock().unwrap();
        bytes.clone()
    }
}

fn serve(mut stream: TcpStream, record: &Mutex<Vec<u8>>) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    loop {
        let mut len = [0u8; 4];
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let len = u32::from_be_bytes(len) as usize;
        let mut body = vec![0u8; len.saturating_sub(4)];
        if stream.read_exact(&mut body).is_err() {
            return;
        }
        let code = body
            .get(..4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        // SSLRequest or GSSENCRequest: declined, the client goes on in plaintext.
        if matches!(code, Some(80877103 | 80877104)) {
            stream.write_all(b"N").unwrap();
            continue;
        }
        record.lock().unwrap().extend_from_slice(&body);
        break;
    }
    stream.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]).unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    record
        .lock()
        .unwrap()
        .extend_from_slice(b"\n--after the password request--\n");
    record.lock().unwrap().extend_from_slice(&rest);
}

#[test]
fn roots_credentials_never_reach_a_server_named_by_a_file_another_user_can_write() {
    let Some(()) = require("root", support::root()) else {
        return;
    };
    let Some(c) = cluster() else { return };
    let db = small_db(&c, "pgtc_trust");
    let before = db.fingerprint();
    let pgpass_secret = "pgpass-root-secret-81x";
    let env_secret = "pgpassword-root-secret-27q";
    let home = home_with_pgpass(&format!("*:*:*:postgres:{pgpass_secret}"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap().uid;

    // Owned by nobody, then root-owned but group-writable, then world-writable.
    let cases: [(&str, Option<nix::unistd::Uid>, u32); 3] = [
        ("nobody.env", Some(nobody), 0o600),
        ("group.env", None, 0o620),
        ("world.env", None, 0o606),
    ];
    for (name, owner, mode) in cases {
        let server = FakeServer::start();
        let file = write_env(
            dir.path(),
            name,
            &format!(
                "DATABASE_URL=postgresql://postgres@127.0.0.1:{}/x\n",
                server.port
            ),
        );
        if let Some(uid) = owner {
            nix::unistd::chown(&file, Some(uid), None).unwrap();
        }
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let run = run_env_file(&file, &[], &[("PGPASSWORD", env_secret)], home.path());
        let received = server.finish();
        let text = String::from_utf8_lossy(&received);
        assert!(
            text.contains("user\0postgres\0"),
            "{name}: the fake server got no startup packet: {text:?}\n{}",
            run.all_output()
        );
        for secret in [pgpass_secret, env_secret] {
            assert!(
                !text.contains(secret),
                "{name}: {secret} was sent: {text:?}"
            );
            assert!(!run.all_output().contains(secret));
        }
        let after = text
            .split("--after the password request--\n")
            .nth(1)
            .unwrap_or("");
        assert!(
            !after.starts_with('p'),
            "{name}: a password message was sent: {after:?}"
        );
        run.expect_code(6);
        assert!(
            run.stderr.contains("credentials it carries itself"),
            "{name}: no warning saying why: {}",
            run.stderr
        );
    }

    // The same kind of file, owned by root and writable by no one else, is root's own
    // choice: ~/.pgpass fills in the password and the real cluster accepts it.
    let home = home_with_pgpass(&format!("*:*:*:{}:{}", c.user, c.password));
    let file = write_env(
        dir.path(),
        "root.env",
        &format!(
            "DATABASE_URL=postgresql://{}@{}:{}/{}\n",
            c.user, c.host, c.port, db.name
        ),
    );
    let run = run_env_file(&file, &["--dry-run"], &[], home.path());
    run.expect_code(0);
    assert!(
        !run.stderr.contains("credentials it carries itself"),
        "{}",
        run.stderr
    );
    assert!(!run.all_output().contains(&c.password));
    assert_eq!(db.fingerprint(), before);
}

#[test]
fn the_report_and_errors_show_user_host_port_and_database_but_no_password() {
    let Some(c) = cluster() else { return };
    let db = small_db(&c, "pgtc_shown");
    let before = db.fingerprint();
    let home = home_with_pgpass(&format!("*:*:*:{}:{}", c.user, c.password));
    // No password in the URL (it comes from ~/.pgpass): nothing of it is secret.
    let url = format!("postgresql://{}@{}:{}/{}", c.user, c.host, c.port, db.name);
    let run = run_pgtruncate(&["-d", &url, "--dry-run", "requests"], &[], home.path());
    run.expect_code(0);
    assert_eq!(run.json["database"], format!("{url}?sslmode=prefer"));
    assert!(!run.all_output().contains(&c.password));
    // An unreachable server: the message names it in full.
    let run = run_pgtruncate(
        &[
            "-d",
            "postgresql://cornice@127.0.0.1:1/cornice",
            "--dry-run",
            "requests",
        ],
        &[],
        home.path(),
    );
    run.expect_code(1);
    assert_eq!(
        run.json["database"],
        "postgresql://cornice@127.0.0.1:1/cornice?sslmode=prefer"
    );
    let message = run.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("cornice@127.0.0.1:1/cornice"), "{message}");
    // A bare scheme hides nothing either.
    let run = run_pgtruncate(
        &["-d", "postgresql://", "--dry-run", "requests"],
        &[],
        home.path(),
    );
    assert!(
        !run.all_output().contains("<redacted>"),
        "{}",
        run.all_output()
    );
    assert!(
        run.json["database"]
            .as_str()
            .is_some_and(|d| d.starts_with("postgresql://") && d.contains('@')),
        "{}",
        run.stdout
    );
    assert_eq!(db.fingerprint(), before);
}

#[test]
fn a_password_holding_hash_question_mark_colon_or_at_appears_in_no_output() {
    let Some(c) = cluster() else { return };
    let db = small_db(&c, "pgtc_hash");
    let before = db.fingerprint();
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (password, code) in [
        ("Xk9planted#tail", 6),
        ("Qm7planted?tail", 6),
        ("Zp4planted:ta#il", 6),
        ("Wv2planted%23%40tail", 6),
    ] {
        // A wrong password for the real server: refused, exit 6.
        let url = format!(
            "postgresql://{}:{password}@{}:{}/{}",
            c.user, c.host, c.port, db.name
        );
        let plain = password.replace("%23", "#").replace("%40", "@");
        let head = &password[..10];
        let run = run_pgtruncate(&["-d", &url, "requests"], &[], home.path());
        run.expect_code(code);
        for s in [password, plain.as_str(), head] {
            assert!(!run.all_output().contains(s), "{s}: {}", run.all_output());
        }
        let message = run.json["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("{}@{}:{}/{}", c.user, c.host, c.port, db.name)),
            "{message}"
        );
        // The same from an env file, to an unreachable port: exit 1, nothing shown.
        let file = write_env(
            dir.path(),
            "hash.env",
            &format!("DATABASE_URL=\"postgresql://app:{password}@127.0.0.1:1/db\"\n"),
        );
        let run = run_env_file(&file, &[], &[], home.path());
        run.expect_code(1);
        for s in [password, plain.as_str(), head] {
            assert!(!run.all_output().contains(s), "{s}: {}", run.all_output());
        }
        assert!(run.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("app@127.0.0.1:1/db"));
    }
    assert_eq!(db.fingerprint(), before);
}

#[test]
fn what_libpq_refuses_is_a_usage_error_before_any_connection() {
    let home = tempfile::tempdir().unwrap();
    // Each of these was once accepted and a connection attempted (exit 1). A listener
    // stands where each would connect, to prove no connection is even tried.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    for (url, says) in [
        // libpq's own words (libpq 15), as the differential test holds them.
        (
            "postgres://[::1]z".to_string(),
            "unexpected character \"z\"",
        ),
        (
            format!("postgresql://127.0.0.1:{port}?zzz"),
            "missing key/value separator",
        ),
        (
            format!("postgresql://127.0.0.1:{port}?key=key=value"),
            "extra key/value separator",
        ),
        (
            format!("postgres://127.0.0.1:{port}?dbname=%XXfoo"),
            "invalid percent-encoded token",
        ),
        ("postgresql://a%00b".to_string(), "forbidden value %00"),
        (
            "postgresql://%zz".to_string(),
            "invalid percent-encoded token",
        ),
        (
            "postgres://[]".to_string(),
            "IPv6 host address may not be empty",
        ),
        (
            format!("postgresql://u:Secret%2Bpw@127.0.0.1:{port}/db?nosuch=1"),
            "invalid URI query parameter",
        ),
    ] {
        let run = run_pgtruncate(&["-d", &url, "--dry-run", "requests"], &[], home.path());
        run.expect_code(2);
        let message = run.json["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{url}: {message}");
        assert!(
            !run.all_output().contains("Secret+pw"),
            "{}",
            run.all_output()
        );
        assert!(
            !run.all_output().contains("Secret%2Bpw"),
            "{}",
            run.all_output()
        );
        assert!(
            listener.accept().is_err(),
            "{url}: a connection was attempted"
        );
    }
}

type PgtEnvelope = reports::Envelope<reports::pgtruncate::Report>;

fn decode(run: &ToolRun) -> PgtEnvelope {
    serde_json::from_value(run.json.clone())
        .unwrap_or_else(|e| panic!("not a pgtruncate report: {e}\n{}", run.stdout))
}

/// A directory root owns (mode 0755) for the env files of a trust test.
fn env_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// `DATABASE_URL=url` in an env file (mode 0600) owned by `nobody`: the attacker's file.
fn nobody_env(dir: &Path, name: &str, url: &str) -> PathBuf {
    let file = write_env(dir, name, &format!("DATABASE_URL='{url}'\n"));
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap().uid;
    nix::unistd::chown(&file, Some(nobody), None).unwrap();
    file
}

/// Asserts a refusal of an untrusted env file's URL: exit 3, the keyword in
/// `error.keyword`, and a message naming the file and the way out.
#[track_caller]
fn assert_refused(run: &ToolRun, file: &Path, keyword: &str) {
    let envelope = decode(run);
    let error = envelope
        .error
        .unwrap_or_else(|| panic!("{keyword}: not refused:\n{}", run.all_output()));
    assert_eq!(
        (run.code, error.kind),
        (3, reports::ErrorKind::Refused),
        "{keyword}: {}",
        run.all_output()
    );
    assert_eq!(error.details["keyword"], keyword, "{}", error.message);
    assert_eq!(error.details["file"], file.to_str().unwrap());
    for says in [
        file.to_str().unwrap(),
        "nothing was connected",
        "--database-url",
    ] {
        assert!(error.message.contains(says), "{says}: {}", error.message);
    }
}

/// A link `/tmp/.s.PGSQL.PORT` to the cluster's socket, so that a URL with no host
/// reaches the cluster through libpq's default socket directory; removed on drop.
struct DefaultSocketLink(PathBuf);

impl DefaultSocketLink {
    fn new(c: &Cluster) -> DefaultSocketLink {
        let name = format!(".s.PGSQL.{}", c.port);
        let link = Path::new("/tmp").join(&name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(Path::new(&c.socket).join(&name), &link).unwrap();
        DefaultSocketLink(link)
    }
}

impl Drop for DefaultSocketLink {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_file_nobody_owns_never_reaches_the_server_over_a_unix_socket() {
    let Some(()) = require("root", support::root()) else {
        return;
    };
    let Some(c) = cluster() else { return };
    let db = small_db(&c, "pgtc_socket");
    let before = db.fingerprint();
    let home = tempfile::tempdir().unwrap();
    let dir = env_dir();
    let _default = DefaultSocketLink::new(&c);
    let port = c.port;
    // Over the socket the sandbox trusts the peer, as peer authentication trusts root:
    // any of these, from nobody's file, would be a superuser session of root's.
    let urls = [
        format!(
            "postgresql://postgres@/{}?host={}&port={port}",
            db.name, c.socket
        ),
        format!(
            "host={} port={port} user=postgres dbname={}",
            c.socket, db.name
        ),
        // No host at all: libpq's default socket directory.
        format!("postgresql://postgres@:{port}/{}", db.name),
    ];
    for url in &urls {
        let file = nobody_env(dir.path(), "socket.env", url);
        // A real run, not a dry run: had it connected, the tables would be empty.
        let run = run_env_file(&file, &[], &[], home.path());
        assert_refused(&run, &file, "host");
        let message = decode(&run).error.unwrap().message;
        assert!(message.contains("--allow-socket"), "{message}");
        assert_eq!(db.fingerprint(), before, "{url}: the server was reached");
    }
    for url in &urls {
        // The operator's explicit say-so lets it connect; a root-owned file needs none.
        let file = nobody_env(dir.path(), "socket.env", url);
        let allowed = run_env_file(&file, &["--allow-socket", "--dry-run"], &[], home.path());
        allowed.expect_code(0);
        let report = decode(&allowed).report.unwrap();
        assert_eq!(report.truncated[0].table, "public.requests");
        let root_file = write_env(dir.path(), "root.env", &format!("DATABASE_URL='{url}'\n"));
        let run = run_env_file(&root_file, &["--dry-run"], &[], home.path());
        run.expect_code(0);
        assert!(decode(&run)
            .report
            .unwrap()
            .database
            .unwrap()
            .contains(&format!(":{port}/")));
    }
    assert_eq!(db.fingerprint(), before);
}

#[test]
fn server_options_from_a_file_nobody_owns_never_reach_the_session_even_in_a_dry_run() {
    let Some(()) = require("root", support::root()) else {
        return;
    };
    let Some(c) = cluster() else { return };
    let db = small_db(&c, "pgtc_options");
    let before = db.fingerprint();
    let home = tempfile::tempdir().unwrap();
    let dir = env_dir();
    // A library that is not there: a session that got the option fails loudly (FATAL)
    // instead of loading it.
    let planted = format!("/nonexistent/pgtc-planted-{}", std::process::id());
    let preload = format!("-c%20session_preload_libraries%3D{planted}");
    let socket = format!(
        "postgresql://postgres@/{}?host={}&port={}&options={preload}",
        db.name, c.socket, c.port
    );
    // Over TCP with the password the file carries itself, too.
    let tcp = format!(
        "postgresql://{}:{}@{}:{}/{}?options={preload}",
        c.user, c.password, c.host, c.port, db.name
    );
    for (url, flags) in [
        (&socket, &["--dry-run"][..]),
        (&socket, &["--dry-run", "--allow-socket"][..]),
        (&tcp, &["--dry-run"][..]),
    ] {
        let file = nobody_env(dir.path(), "options.env", url);
        let run = run_env_file(&file, flags, &[], home.path());
        assert_refused(&run, &file, "options");
        assert!(!run.all_output().contains(&c.password));
    }
    // A harmless setting is refused as well, and the real run touches nothing.
    let tcp_name = format!(
        "postgresql://{}:{}@{}:{}/{}?options=-c%20application_name%3Dpwned",
        c.user, c.password, c.host, c.port, db.name
    );
    let file = nobody_env(dir.path(), "options.env", &tcp_name);
    let run = run_env_file(&file, &[], &[], home.path());
    assert_refused(&run, &file, "options");
    assert_eq!(db.fingerprint(), before);
    // The operator's own file keeps today's behaviour: options reach the server.
    let root_file = write_env(dir.path(), "root.env", &format!("DATABASE_URL='{tcp}'\n"));
    let run = run_env_file(&root_file, &["--dry-run"], &[], home.path());
    run.expect_code(1);
    assert!(
        decode(&run).error.unwrap().message.contains(&planted),
        "{}",
        run.all_output()
    );
    assert_eq!(db.fingerprint(), before);
}

/// A directory only root can enter, holding a client certificate and key, a pgpass file
/// with the cluster's password, and the server's own certificate as a CA file.
struct RootFiles {
    _dir: tempfile::TempDir,
    cert: String,
    key: String,
    pgpass: String,
    ca: String,
}

fn root_files(c: &Cluster) -> RootFiles {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (cert, key, pgpass, ca) = (
        path("client.crt"),
        path("client.key"),
        path("pgpass"),
        path("ca.crt"),
    );
    let made = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-x509",
            "-days",
            "1",
            "-nodes",
            "-subj",
            "/CN=postgres",
        ])
        .args(["-keyout", &key, "-out", &cert])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&pgpass, format!("*:*:*:{}:{}\n", c.user, c.password)).unwrap();
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The sandbox's self-signed server certificate (scripts/sandbox/pg.sh).
    std::fs::copy(Path::new(&c.socket).join("data/server.crt"), &ca).unwrap();
    RootFiles {
        _dir: dir,
        cert,
        key,
        pgpass,
        ca,
    }
}

#[test]
fn root_only_files_tickets_and_name_are_refused_to_a_file_nobody_owns() {
    let Some(()) = require("root", support::root()) else {
        return;
    };
    let Some(c) = cluster() else { return };
    let db = small_db(&c, "pgtc_rootfiles");
    let before = db.fingerprint();
    let f = root_files(&c);
    // ~/.postgresql/root.crt is what verify-full reads when no sslrootcert is given.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".postgresql")).unwrap();
    std::fs::copy(&f.ca, home.path().join(".postgresql/root.crt")).unwrap();
    let dir = env_dir();
    let with_pw = format!(
        "postgresql://{}:{}@{}:{}/{}",
        c.user, c.password, c.host, c.port, db.name
    );
    let no_pw = format!("postgresql://{}@{}:{}/{}", c.user, c.host, c.port, db.name);
    // Each works from root's own file (below); from nobody's it is refused.
    let cases = [
        (
            format!(
                "{with_pw}?sslmode=require&sslcert={}&sslkey={}",
                f.cert, f.key
            ),
            "sslcert",
        ),
        (
            format!("{with_pw}?sslmode=require&sslkey={}", f.key),
            "sslkey",
        ),
        (format!("{no_pw}?passfile={}", f.pgpass), "passfile"),
        (
            format!("{with_pw}?sslmode=verify-ca&sslrootcert={}", f.ca),
            "sslrootcert",
        ),
        (format!("{with_pw}?sslmode=verify-ca"), "sslmode"),
    ];
    for (url, keyword) in &cases {
        let file = nobody_env(dir.path(), "files.env", url);
        let run = run_env_file(&file, &[], &[], home.path());
        assert_refused(&run, &file, keyword);
        assert!(!run.all_output().contains(&c.password));
        assert_eq!(
            db.fingerprint(),
            before,
            "{keyword}: the server was reached"
        );
    }
    for (url, keyword) in [
        (format!("{with_pw}?sslcrl={}", f.cert), "sslcrl"),
        (format!("{with_pw}?sslpassword=key-pass"), "sslpassword"),
        (format!("{with_pw}?krbsrvname=postgres"), "krbsrvname"),
        (format!("{with_pw}?gssencmode=require"), "gssencmode"),
        (format!("{with_pw}?requirepeer=postgres"), "requirepeer"),
        // No user: libpq's default would be root's OS user name.
        (
            format!(
                "postgresql://:{}@{}:{}/{}",
                c.password, c.host, c.port, db.name
            ),
            "user",
        ),
    ] {
        let file = nobody_env(dir.path(), "files.env", &url);
        let run = run_env_file(&file, &[], &[], home.path());
        assert_refused(&run, &file, keyword);
        assert!(!run.all_output().contains(&c.password));
        assert!(!run.all_output().contains("key-pass"));
    }
    assert_eq!(db.fingerprint(), before);
    // The same URLs from a file only root can write are root's own choice.
    for (url, keyword) in &cases {
        let file = write_env(dir.path(), "root.env", &format!("DATABASE_URL='{url}'\n"));
        let run = run_env_file(&file, &["--dry-run"], &[], home.path());
        run.expect_code(0);
        assert!(decode(&run).error.is_none(), "{keyword}");
        assert!(!run.all_output().contains(&c.password));
    }
    assert_eq!(db.fingerprint(), before);
}

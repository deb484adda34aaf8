//! The sandboxes themselves: a real systemd runs, starts, stops, enables and disables a
//! unit; a real PostgreSQL answers a query. Every other integration test stands on these.

use support::pg::Cluster;
use support::require;
use support::systemd::{service_unit, Sandbox};

#[test]
fn systemd_sandbox_starts_stops_enables_and_disables_a_unit() {
    let unit = service_unit("/bin/sleep 300", "");
    let Some(sb) = require(
        "systemd sandbox",
        Sandbox::boot(&[("hello.service", &unit)]),
    ) else {
        return;
    };
    // It is a real systemd, PID 1 of its namespace.
    let comm = sb.command("cat").arg("/proc/1/comm").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&comm.stdout).trim(), "systemd");

    assert_eq!(sb.active_state("hello.service"), "inactive");
    assert!(sb.systemctl(&["start", "hello.service"]).status.success());
    assert_eq!(sb.active_state("hello.service"), "active");
    let pid: u32 = sb.show("hello.service", &["MainPID"])["MainPID"]
        .parse()
        .unwrap();
    assert!(pid > 1, "a running unit has a main pid");
    assert!(sb.systemctl(&["stop", "hello.service"]).status.success());
    assert_eq!(sb.active_state("hello.service"), "inactive");

    assert_eq!(sb.unit_file_state("hello.service"), "disabled");
    assert!(sb.systemctl(&["enable", "hello.service"]).status.success());
    assert_eq!(sb.unit_file_state("hello.service"), "enabled");
    // The symlink points at /etc/systemd/system/hello.service, a path that exists only
    // inside the sandbox: look at the link itself.
    assert!(sb
        .unit_dir()
        .join("default.target.wants/hello.service")
        .symlink_metadata()
        .is_ok());
    assert!(sb.systemctl(&["disable", "hello.service"]).status.success());
    assert_eq!(sb.unit_file_state("hello.service"), "disabled");

    // The host's own unit directory never sees the sandbox's symlinks.
    assert!(
        !std::path::Path::new("/etc/systemd/system/default.target.wants/hello.service").exists()
    );
}

#[test]
fn two_systemd_sandboxes_run_side_by_side() {
    let unit = service_unit("/bin/sleep 300", "");
    let Some(a) = require("systemd sandbox", Sandbox::boot(&[("same.service", &unit)])) else {
        return;
    };
    let b = Sandbox::boot(&[("same.service", &unit)]).expect("second sandbox");
    assert!(a.systemctl(&["start", "same.service"]).status.success());
    assert_eq!(a.active_state("same.service"), "active");
    assert_eq!(b.active_state("same.service"), "inactive");
}

#[test]
fn postgres_cluster_answers_a_query() {
    let Some(cluster) = require("PostgreSQL test cluster", Cluster::from_env()) else {
        return;
    };
    let db = cluster.create_database("sandbox");
    db.exec(
        "CREATE TABLE t (id serial primary key, v text); INSERT INTO t (v) VALUES ('a'), ('b');",
    );
    assert_eq!(db.count("t"), 2);
    // The password is real: TCP without it is refused.
    let wrong = postgres::Client::connect(
        &cluster.url_as("postgres", "not-the-password", &db.name),
        postgres::NoTls,
    );
    assert!(wrong.is_err(), "TCP login must need the password");
    let right = postgres::Client::connect(&db.url(), postgres::NoTls);
    assert!(
        right.is_ok(),
        "TCP login with the password: {:?}",
        right.err()
    );
}

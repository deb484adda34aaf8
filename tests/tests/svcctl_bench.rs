//! Speed of svcctl against plain systemctl in the sandbox (issue 4). Ignored by default:
//! run with `cargo test -p holdkit-tests --test svcctl_bench -- --ignored --nocapture`
//! against a release build (HOLD_BIN_DIR=.../release). It asserts nothing about time; it
//! prints the medians and ratios recorded in docs/svcctl.md.

use std::time::{Duration, Instant};
use support::systemd::{service_unit, Sandbox};
use support::{bin, require};

const ROUNDS: usize = 31;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn timed(cmd: &mut std::process::Command) -> Duration {
    let t = Instant::now();
    let out = cmd.output().expect("run");
    let took = t.elapsed();
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    took
}

#[test]
#[ignore]
fn bench_svcctl_stop_against_systemctl_stop() {
    let unit = service_unit("/bin/sleep 300", "");
    let names: Vec<String> = (0..20).map(|i| format!("b{i}.service")).collect();
    let mut units: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), unit.as_str())).collect();
    units.push(("one.service", &unit));
    let Some(sb) = require("systemd sandbox", Sandbox::boot(&units)) else {
        return;
    };
    let start = |u: &[&str]| {
        let mut args = vec!["start"];
        args.extend_from_slice(u);
        assert!(sb.systemctl(&args).status.success());
    };
    let (mut ours, mut theirs) = (vec![], vec![]);
    for _ in 0..ROUNDS {
        start(&["one.service"]);
        ours.push(timed(sb.command(bin("svcctl")).args([
            "--json=short",
            "stop",
            "one",
        ])));
        start(&["one.service"]);
        theirs.push(timed(sb.command("systemctl").args(["stop", "one.service"])));
    }
    let (a, b) = (median(ours), median(theirs));
    println!(
        "one unit: svcctl stop {a:?}, systemctl stop {b:?}, ratio {:.2}",
        a.as_secs_f64() / b.as_secs_f64()
    );

    let all: Vec<&str> = names.iter().map(String::as_str).collect();
    let (mut ours, mut theirs) = (vec![], vec![]);
    for _ in 0..ROUNDS / 3 {
        start(&all);
        ours.push(timed(
            sb.command(bin("svcctl"))
                .args(["--json=short", "stop"])
                .args(&all),
        ));
        start(&all);
        let t = Instant::now();
        for n in &all {
            timed(sb.command("systemctl").args(["stop", n]));
        }
        theirs.push(t.elapsed());
    }
    let (a, b) = (median(ours), median(theirs));
    println!(
        "20 units: one svcctl stop {a:?}, 20 systemctl stop {b:?}, ratio {:.2}",
        a.as_secs_f64() / b.as_secs_f64()
    );
}

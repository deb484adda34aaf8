//! A panic inside a tool still ends with one failure envelope on stdout (exit 1), scrubbed
//! of secrets. The test runs its own binary again as the "tool", so the real harness, the
//! real hook and a real process exit are what is judged.

use std::process::Command;

const CHILD: &str = "CONVENTIONS_PANIC_CHILD";
const SECRET: &str = "hunter2-Panic-Secret-99";

#[derive(clap::Parser)]
struct Args {
    #[command(flatten)]
    common: conventions::CommonArgs,
}

impl conventions::HasCommonArgs for Args {
    fn common_args(&self) -> &conventions::CommonArgs {
        &self.common
    }
}

/// The child: a "tool" whose body remembers a secret and then panics, on another thread
/// when asked (a panic there must end the process just the same).
#[test]
fn child_tool_that_panics() {
    let Some(mode) = std::env::var_os(CHILD) else {
        return;
    };
    let code = conventions::cli::run_from::<Args, _, _, _>(
        conventions::Tool {
            name: "paniky",
            version: "0.0.0",
        },
        ["paniky", "--json=short"],
        |_args: Args, _out| {
            conventions::secrets::remember(SECRET);
            if mode == "thread" {
                let _ = std::thread::spawn(|| panic!("worker lost {SECRET}")).join();
                std::thread::sleep(std::time::Duration::from_secs(5));
            }
            panic!("index out of range while holding {SECRET}");
        },
    );
    // Never reached: the hook exits the process.
    std::process::exit(i32::from(code == std::process::ExitCode::SUCCESS) + 100);
}

fn run_child(mode: &str) -> (i32, String, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_tool_that_panics",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, mode)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_panic_prints_one_scrubbed_failure_envelope_and_exits_1() {
    for mode in ["main", "thread"] {
        let (code, stdout, stderr) = run_child(mode);
        assert_eq!(code, 1, "{mode}: stdout {stdout}\nstderr {stderr}");
        // libtest prints its own lines around the child's (and "test NAME ... " just
        // before it); the envelope is the one JSON object.
        let envelopes: Vec<serde_json::Value> = stdout
            .lines()
            .filter_map(|l| l.find('{').map(|at| &l[at..]))
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.is_object())
            .collect();
        assert_eq!(envelopes.len(), 1, "{mode}: {stdout}");
        let e = &envelopes[0];
        assert_eq!(e["tool"], "paniky");
        assert_eq!(e["ok"], false);
        assert_eq!(e["error"]["kind"], "failed");
        let message = e["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("internal error: "), "{message}");
        assert!(message.contains("this is a bug"), "{message}");
        assert!(
            !stdout.contains(SECRET),
            "{mode}: secret on stdout: {stdout}"
        );
        assert!(
            !stderr.contains(SECRET),
            "{mode}: secret on stderr: {stderr}"
        );
    }
}

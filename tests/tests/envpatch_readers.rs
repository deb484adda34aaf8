//! envpatch against the real readers of an env file: python-dotenv (the app's settings
//! loader, run by the real python3) and systemd 252's `EnvironmentFile=` (a real systemd
//! in the test sandbox starts a unit that dumps the environment it was given).

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::require;
use support::systemd::{service_unit, Sandbox};

fn python_dotenv() -> Result<(), String> {
    let ok = Command::new("python3")
        .args(["-c", "import dotenv"])
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(())
    } else {
        Err("python3 with python-dotenv is not installed (pip install python-dotenv)".into())
    }
}

/// `dotenv_values(path)` for each path, as the app reads them (interpolation on) or
/// literally.
fn dotenv_read(paths: &[PathBuf], interpolate: bool) -> Vec<Map<String, Value>> {
    let script = "import json, sys\nfrom dotenv import dotenv_values\n\
                  interpolate = sys.argv[1] == '1'\n\
                  print(json.dumps([dotenv_values(p, interpolate=interpolate) for p in sys.argv[2:]]))";
    let out = Command::new("python3")
        .args(["-c", script, if interpolate { "1" } else { "0" }])
        .args(paths)
        .output()
        .expect("run python3");
    assert!(out.status.success(), "python-dotenv failed: {out:?}");
    let parsed: Vec<Value> = serde_json::from_slice(&out.stdout).expect("python printed JSON");
    parsed
        .into_iter()
        .map(|v| v.as_object().cloned().expect("an object per file"))
        .collect()
}

/// The environment `env -0` printed.
fn parse_env_dump(bytes: &[u8]) -> HashMap<String, String> {
    bytes
        .split(|&b| b == 0)
        .filter_map(|item| {
            let text = String::from_utf8(item.to_vec()).expect("UTF-8 environment");
            text.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// A oneshot unit reading `env_file` and writing its environment to `dump`.
fn dump_unit(env_file: &str, dump: &str) -> String {
    service_unit(
        "/usr/bin/env -0",
        &format!("Type=oneshot\nEnvironmentFile={env_file}\nStandardOutput=truncate:{dump}"),
    )
}

/// Values no encoding carries in a shell-free way, each written by envpatch and read back.
fn corpus() -> Vec<(String, String)> {
    let values: Vec<String> = [
        "",
        "true",
        "plain_value-1.2:3,4/5@6%7+8=9",
        "two words",
        " leading space",
        "trailing space ",
        "  both  ",
        "a # not a comment",
        "#starts-with-hash",
        "ends-with-hash#",
        "semi;colon",
        ";leading-semicolon",
        "double \"quotes\" inside",
        "\"",
        "'single quotes'",
        "it's",
        "back\\slash",
        "C:\\new\\table",
        "\\\\server\\share\\x",
        "\\\"",
        "\\'",
        "\\n stays a backslash and an n",
        "$HOME",
        "$ alone and $",
        "`backticks`",
        "{braces} and $(command)",
        "\\$not-a-variable",
        "\\`",
        "ünïcødé",
        "emoji 🚀",
        "中文",
        "\u{a0}non-breaking space",
        "\u{2028}line separator",
        "=leading-equals",
        "a=b=c",
        "postgresql://cornice@db.local:5432/cornice?sslmode=require",
        "*glob?[x]",
        "&&|<>!~",
        "%percent%",
        "a\\\\b",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(std::iter::once("x".repeat(4000)))
    .collect();
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| (format!("V{:02}", i + 1), v))
        .collect()
}

#[test]
fn a_corpus_written_by_envpatch_reads_back_exactly_under_both_real_readers() {
    let Some(()) = require("python-dotenv", python_dotenv()) else {
        return;
    };
    let dir = tempfile::Builder::new()
        .prefix("envpatch-readers.")
        .tempdir()
        .unwrap();
    let env_file = dir.path().join("cornice.env");
    let dump = dir.path().join("env.dump");
    // A hostile starting file: an export line, inline comments on keys about to be set,
    // quotes, and a last comment ending in a backslash without a newline.
    std::fs::write(
        &env_file,
        "# Cornice\nexport LEGACY=1\nPORT=8000 # inline\nV05=old # comment\nV06='old value'\n# ends in a backslash \\",
    )
    .unwrap();
    let unit = dump_unit(env_file.to_str().unwrap(), dump.to_str().unwrap());
    let Some(sb) = require(
        "systemd sandbox",
        Sandbox::boot(&[("readback.service", &unit)]),
    ) else {
        return;
    };

    let corpus = corpus();
    assert!(corpus.len() >= 30);
    let mut args = vec![
        "--json=short".to_string(),
        env_file.to_str().unwrap().to_string(),
    ];
    args.extend(corpus.iter().map(|(k, v)| format!("{k}={v}")));
    args.push("PORT=8001".into());
    let run = support::run_tool("envpatch", &args, &[], None);
    run.expect_code(0);
    // Written once, a second identical run finds every value already readable by both.
    let again = support::run_tool("envpatch", &args, &[], None);
    again.expect_code(0);
    assert_eq!(again.json["changed"], false, "{}", again.json);

    let mut intended: HashMap<String, String> = corpus.into_iter().collect();
    intended.insert("PORT".into(), "8001".into());

    let start = sb.systemctl(&["start", "readback.service"]);
    assert!(
        start.status.success(),
        "unit failed: {start:?}\n{}",
        sb.log()
    );
    let systemd = parse_env_dump(&std::fs::read(&dump).unwrap());
    let dotenv = dotenv_read(std::slice::from_ref(&env_file), true).remove(0);
    let text = std::fs::read_to_string(&env_file).unwrap();
    for (key, value) in &intended {
        assert_eq!(
            systemd.get(key),
            Some(value),
            "systemd reads {key} wrong from:\n{text}"
        );
        assert_eq!(
            dotenv.get(key).and_then(Value::as_str),
            Some(value.as_str()),
            "python-dotenv reads {key} wrong from:\n{text}"
        );
    }
    // The untouched export line still reads as before: the app sees it, systemd does not.
    assert_eq!(dotenv["LEGACY"], "1");
    assert!(!systemd.contains_key("LEGACY"));
    assert!(text.starts_with("# Cornice\nexport LEGACY=1\n# inline\nPORT=8001\n# comment\nV05="));
}

/// A temp dir and a sandbox whose `rd@N.service` reads `DIR/N.env` and dumps what it got
/// to `DIR/N.out`; `None` (a loud skip, a failure in CI) without python-dotenv or the
/// sandbox.
fn readers(prefix: &str) -> Option<(tempfile::TempDir, Sandbox)> {
    require("python-dotenv", python_dotenv())?;
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    let base = dir.path().to_str().unwrap();
    let unit = service_unit(
        "/usr/bin/env -0",
        &format!(
            "Type=oneshot\nEnvironmentFile={base}/%i.env\nStandardOutput=truncate:{base}/%i.out"
        ),
    );
    let sb = require("systemd sandbox", Sandbox::boot(&[("rd@.service", &unit)]))?;
    Some((dir, sb))
}

/// `count` files `BASE/N.env` made of the pieces the readers disagree about (quotes,
/// backslashes, comments, `export`, CR, CRLF, `;`, tabs).
fn generated_files(base: &str, rng: &mut Rng, count: usize) -> Vec<PathBuf> {
    let pieces = [
        "A", "B", "C", "A=", "B=", "C=", "=", "\"", "\"", "'", "\\", " ", "#", "export ", "\n",
        "\n", "\n", "\r\n", "\r", "x", "\t", ";", "$", "é", "\u{a0}",
    ];
    (0..count)
        .map(|i| {
            let len = 1 + rng.below(30);
            let text: String = (0..len).map(|_| pieces[rng.below(pieces.len())]).collect();
            let path = Path::new(base).join(format!("{i}.env"));
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

/// The environment a unit got from its `EnvironmentFile=`.
type SystemdReading = HashMap<String, String>;

/// Each file as systemd's `EnvironmentFile=` reads it (one run of `rd@N.service` each) and
/// as python-dotenv reads it literally.
fn read_both(
    sb: &Sandbox,
    base: &str,
    paths: &[PathBuf],
) -> (Vec<SystemdReading>, Vec<Map<String, Value>>) {
    let units: Vec<String> = (0..paths.len())
        .map(|i| format!("rd@{i}.service"))
        .collect();
    let mut args = vec!["start"];
    args.extend(units.iter().map(String::as_str));
    let start = sb.systemctl(&args);
    assert!(start.status.success(), "{start:?}\n{}", sb.log());
    let systemd = (0..paths.len())
        .map(|i| parse_env_dump(&std::fs::read(Path::new(base).join(format!("{i}.out"))).unwrap()))
        .collect();
    (systemd, dotenv_read(paths, false))
}

/// A small deterministic generator (xorshift64*): the same files on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// envpatch's two parsers agree with the real readers on files made of the pieces the
/// readers disagree about (quotes, backslashes, comments, `export`, CR, CRLF, `;`, tabs).
#[test]
fn envpatch_reads_generated_files_exactly_as_the_real_readers_do() {
    let Some((dir, sb)) = readers("envpatch-diff.") else {
        return;
    };
    let base = dir.path().to_str().unwrap();
    let paths = generated_files(base, &mut Rng(0x9E37_79B9_7F4A_7C15), 150);
    let (systemd_values, dotenv) = read_both(&sb, base, &paths);

    for (i, path) in paths.iter().enumerate() {
        let text = std::fs::read_to_string(path).unwrap();
        let systemd = &systemd_values[i];
        let run = support::run_tool(
            "envpatch",
            [
                "--json=short",
                "-q",
                path.to_str().unwrap(),
                "--get",
                "A",
                "--get",
                "B",
                "--get",
                "C",
            ],
            &[],
            None,
        );
        run.expect_code(0);
        for key in ["A", "B", "C"] {
            let want_systemd = systemd
                .get(key)
                .map_or(Value::Null, |v| Value::String(v.clone()));
            let want_dotenv = dotenv[i].get(key).cloned().unwrap_or(Value::Null);
            assert_eq!(
                run.json["values_by_reader"]["systemd"][key], want_systemd,
                "systemd reading of {key} in {text:?}"
            );
            assert_eq!(
                run.json["values_by_reader"]["dotenv"][key], want_dotenv,
                "python-dotenv reading of {key} in {text:?}"
            );
        }
    }
}

/// Edits of generated files, judged by the real readers: a run that succeeds leaves the
/// set key reading as asked and the unset key gone under both readers (or, for systemd,
/// hidden with a warning, as on an `export` line), and the untouched key reading as
/// before; a run that refuses leaves the file byte for byte as it was.
#[test]
fn edits_of_generated_files_read_back_under_both_real_readers() {
    let Some((dir, sb)) = readers("envpatch-edit.") else {
        return;
    };
    let base = dir.path().to_str().unwrap();
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let paths = generated_files(base, &mut rng, 150);
    let (systemd_before, dotenv_before) = read_both(&sb, base, &paths);
    let values = [
        "true",
        "",
        "two words",
        "it's",
        "back\\slash",
        "a # b",
        "é",
        "x=y",
        "\"q\"",
        ";",
    ];
    let mut originals = Vec::new();
    let mut runs = Vec::new();
    for path in &paths {
        originals.push(std::fs::read(path).unwrap());
        let value = values[rng.below(values.len())];
        let run = support::run_tool(
            "envpatch",
            [
                "--json=short",
                "-q",
                path.to_str().unwrap(),
                &format!("A={value}"),
                "--unset",
                "B",
            ],
            &[],
            None,
        );
        runs.push((value, run));
    }
    let (systemd_after, dotenv_after) = read_both(&sb, base, &paths);

    let mut succeeded = 0;
    for (i, (value, run)) in runs.iter().enumerate() {
        let before = String::from_utf8_lossy(&originals[i]);
        let after = std::fs::read(&paths[i]).unwrap();
        if run.code != 0 {
            assert!(
                [1, 2].contains(&run.code) && run.json["error"]["message"].is_string(),
                "unexpected refusal of {before:?}: {}",
                run.json
            );
            assert_eq!(after, originals[i], "a refused edit changed {before:?}");
            continue;
        }
        succeeded += 1;
        let context = format!("{before:?} -> {:?}", String::from_utf8_lossy(&after));
        assert_eq!(
            dotenv_after[i].get("A"),
            Some(&Value::from(*value)),
            "dotenv A: {context}"
        );
        assert_eq!(dotenv_after[i].get("B"), None, "dotenv B: {context}");
        assert_eq!(
            dotenv_after[i].get("C"),
            dotenv_before[i].get("C"),
            "dotenv C: {context}"
        );
        let warned = run.json["warnings"]
            .as_array()
            .is_some_and(|w| !w.is_empty());
        match systemd_after[i].get("A") {
            Some(got) => assert_eq!(got, value, "systemd A: {context}"),
            None => assert!(warned, "systemd lost A without a warning: {context}"),
        }
        assert_eq!(systemd_after[i].get("B"), None, "systemd B: {context}");
        assert_eq!(
            systemd_after[i].get("C"),
            systemd_before[i].get("C"),
            "systemd C: {context}"
        );
    }
    // Most generated files can be edited; a test that only saw refusals would prove little.
    assert!(succeeded >= 100, "only {succeeded} of 150 edits succeeded");
}

/// `count` files `BASE/N.env` whose `DATABASE_URL` lines are built from the forms the
/// readers disagree about: `export ` and `export<TAB>`, no quotes, single or double quotes
/// (the quote escaped or not), `\'`, `\\`, inline comments, CRLF, an earlier assignment,
/// a bare key. The database name carries the pieces, so that any difference in reading
/// shows in the URL.
fn generated_database_url_files(base: &str, rng: &mut Rng, count: usize) -> Vec<PathBuf> {
    let name_pieces = [
        "db", "x", "'", "\"", "\\", "\\'", "\\\"", "\\\\", " ", "#", " #", "$", "é", ";", "=",
        "\t", "%41",
    ];
    let heads = ["", "export ", "export\t", "  ", "export  "];
    let equals = ["=", " = ", "= ", "=\t"];
    let quotes = ["", "'", "\""];
    let tails = ["", " # note", "  ", "# not a comment", "\t# tab comment"];
    let endings = ["\n", "\r\n", ""];
    (0..count)
        .map(|i| {
            let name: String = (0..1 + rng.below(6))
                .map(|_| name_pieces[rng.below(name_pieces.len())])
                .collect();
            let quote = quotes[rng.below(quotes.len())];
            let line = format!(
                "{}DATABASE_URL{}{quote}postgresql://app@127.0.0.1:1/{name}{quote}{}{}",
                heads[rng.below(heads.len())],
                equals[rng.below(equals.len())],
                tails[rng.below(tails.len())],
                endings[rng.below(endings.len())],
            );
            let before = match rng.below(5) {
                0 => "DATABASE_URL=postgresql://wrong@127.0.0.1:1/earlier\n",
                1 => "HIBERNATE_MODE=true\r\n",
                2 => "DATABASE_URL\n",
                _ => "",
            };
            let after = match rng.below(8) {
                0 => "\nDATABASE_URL\n",
                1 => "\nOTHER='unclosed\n",
                _ => "",
            };
            let path = Path::new(base).join(format!("{i}.env"));
            std::fs::write(&path, format!("{before}{line}{after}")).unwrap();
            path
        })
        .collect()
}

/// pgtruncate's `--env-file` takes DATABASE_URL exactly as the app's python-dotenv does
/// (interpolation on, as the app loads it): for each generated file, the target pgtruncate
/// reports is the one it reports for python-dotenv's value given with `--database-url`,
/// and a file where python-dotenv finds no value is exit 4.
#[test]
fn pgtruncate_reads_database_url_from_generated_files_as_python_dotenv_does() {
    let Some(()) = require("python-dotenv", python_dotenv()) else {
        return;
    };
    let dir = tempfile::Builder::new()
        .prefix("pgtruncate-envfile.")
        .tempdir()
        .unwrap();
    let base = dir.path().to_str().unwrap();
    let paths = generated_database_url_files(base, &mut Rng(0x5851_F42D_4C95_7F2D), 150);
    let dotenv = dotenv_read(&paths, true);
    let run = |args: &[String]| {
        let mut cmd = Command::new(support::bin("pgtruncate"));
        cmd.args(["--json=short", "-q", "--dry-run"]).args(args);
        for var in [
            "DATABASE_URL",
            "PGHOST",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGPASSWORD",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", dir.path()).arg("requests");
        support::run::run_command("pgtruncate", &mut cmd, None)
    };
    let mut compared = 0;
    for (i, path) in paths.iter().enumerate() {
        let text = std::fs::read_to_string(path).unwrap();
        let from_file = run(&["--env-file".into(), path.to_str().unwrap().into()]);
        match dotenv[i].get("DATABASE_URL").and_then(Value::as_str) {
            Some(url) if !url.is_empty() => {
                let from_flag = run(&[format!("--database-url={url}")]);
                assert_eq!(
                    (from_file.code, &from_file.json["database"]),
                    (from_flag.code, &from_flag.json["database"]),
                    "python-dotenv reads {url:?} from {text:?}: {}",
                    from_file.stdout
                );
                compared += 1;
            }
            other => {
                assert_eq!(
                    from_file.code, 4,
                    "python-dotenv reads {other:?} from {text:?}: {}",
                    from_file.stdout
                );
            }
        }
    }
    // Most files hold a value; a run that compared only refusals would prove little.
    assert!(compared >= 100, "only {compared} of 150 files had a value");
}

//! The format's rules, without a file system: the trust rules are tested end to end in
//! tests/tests/pgtruncate_profile.rs, as root against a real `nobody`.

use crate::{built_in_text, load_in, parse, Error, Source, Spec};
use std::path::Path;

fn cornice() -> crate::Profile {
    parse(
        built_in_text("cornice").unwrap(),
        "built-in cornice",
        "cornice",
        Source::BuiltIn,
    )
    .unwrap()
}

fn invalid(text: &str) -> Error {
    parse(text, "t.toml", "t", Source::BuiltIn).unwrap_err()
}

const MINIMAL: &str = "[units]\napi = \"ledger-api\"\n";

#[test]
fn the_cornice_profile_is_the_runbook() {
    let p = cornice();
    assert_eq!(p.units.api.to_string(), "cornice.service");
    assert_eq!(p.units.others.len(), 1);
    assert_eq!(p.units.others[0].to_string(), "cornice-monitor.service");
    assert_eq!(
        p.flags.get("HIBERNATE_MODE").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        p.flags.get("INGEST_ENABLED").map(String::as_str),
        Some("false")
    );
    assert_eq!(p.tables.schema, "public");
    assert_eq!(p.tables.keep, vec!["alembic_version"]);
    let groups: Vec<&str> = p.tables.groups.keys().map(String::as_str).collect();
    assert_eq!(groups, ["runtime", "opportunities", "auth", "catalogs"]);
    let sizes: Vec<usize> = p.tables.groups.values().map(Vec::len).collect();
    assert_eq!(sizes, [13, 1, 3, 6]);
    assert_eq!(p.group_of("requests"), Some("runtime"));
    assert_eq!(p.group_of("users"), Some("auth"));
    assert_eq!(p.group_of("alembic_version"), None);
    assert!(p.keeps("alembic_version"));
    assert_eq!(p.sha256.len(), 64);
}

#[test]
fn the_runbook_flags_select_what_they_did() {
    let p = cornice();
    let none: [&str; 0] = [];
    let s = p.select(&none).unwrap();
    assert_eq!(s.groups, ["runtime"]);
    assert!(!s.unclassified);
    let s = p.select(&["opportunities"]).unwrap();
    assert_eq!(s.groups, ["runtime", "opportunities"]);
    let s = p.select(&["auth", "opportunities"]).unwrap();
    assert_eq!(s.groups, ["runtime", "opportunities", "auth", "catalogs"]);
    assert!(s.unclassified);
    // A group's own name adds that group alone, as `--include GROUP` always did.
    let s = p.select(&["catalogs"]).unwrap();
    assert_eq!(s.groups, ["runtime", "catalogs"]);
    assert!(!s.unclassified);
    match p.select(&["catalog"]).unwrap_err() {
        Error::UnknownInclude {
            include,
            known,
            groups,
            ..
        } => {
            assert_eq!(include, "catalog");
            assert_eq!(known, ["opportunities", "auth"]);
            assert_eq!(groups.len(), 4);
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn a_minimal_profile_has_public_and_nothing_to_empty() {
    let p = parse(MINIMAL, "t.toml", "t", Source::BuiltIn).unwrap();
    assert_eq!(p.tables.schema, "public");
    let none: [&str; 0] = [];
    assert!(p.select(&none).unwrap().groups.is_empty());
}

fn line_and_message(e: Error) -> (Option<usize>, String) {
    (e.line(), e.to_string())
}

#[test]
fn a_table_in_two_groups_names_the_second_line() {
    let text = format!(
        "{MINIMAL}[tables.groups]\nruntime = [\"events\"]\nhistory = [\n  \"archive\",\n  \"events\",\n]\n"
    );
    let (line, msg) = line_and_message(invalid(&text));
    assert_eq!(line, Some(7), "{msg}");
    assert!(msg.contains("t.toml line 7"), "{msg}");
    assert!(
        msg.contains("table events is in two groups, runtime and history"),
        "{msg}"
    );
}

#[test]
fn unknown_keys_and_malformed_text_name_their_line() {
    let (line, msg) = line_and_message(invalid(&format!("{MINIMAL}\n[tables]\ndefualt = []\n")));
    assert_eq!(line, Some(5), "{msg}");
    assert!(msg.contains("defualt"), "{msg}");
    let (line, msg) = line_and_message(invalid(&format!("{MINIMAL}colour = \"red\"\n")));
    assert_eq!(line, Some(3), "{msg}");
    assert!(msg.contains("colour"), "{msg}");
    let (line, msg) = line_and_message(invalid(&format!("{MINIMAL}\n[tables\n")));
    assert_eq!(line, Some(4), "{msg}");
    assert!(matches!(
        invalid("[units]\nothers = []\n"),
        Error::Syntax { .. }
    ));
    let msg = invalid("[units]\nothers = []\n").to_string();
    assert!(msg.contains("api"), "{msg}");
}

#[test]
fn groups_named_must_exist() {
    let e = invalid(&format!(
        "{MINIMAL}[tables]\ndefault = [\"runtime\"]\n[tables.groups]\nruntme = [\"a\"]\n"
    ));
    assert_eq!(e.line(), Some(4), "{e}");
    assert!(e.to_string().contains("group \"runtime\""), "{e}");
    let e = invalid(&format!(
        "{MINIMAL}[tables.groups]\nruntime = [\"a\"]\n[include]\nall = {{ groups = [\"runtime\", \"history\"] }}\n"
    ));
    assert_eq!(e.line(), Some(6), "{e}");
    assert!(
        e.to_string()
            .contains("include.all names group \"history\""),
        "{e}"
    );
}

#[test]
fn units_follow_systemds_rule() {
    let e = invalid("[units]\napi = \"-rf\"\n");
    assert_eq!(e.line(), Some(2), "{e}");
    let e = invalid("[units]\napi = \"a\"\nothers = [\"b\", \"x/y\"]\n");
    assert_eq!(e.line(), Some(3), "{e}");
    assert!(e.to_string().contains("'/'"), "{e}");
    let e = invalid("[units]\napi = \"a\"\nothers = [\"a.service\"]\n");
    assert!(e.to_string().contains("listed twice"), "{e}");
}

#[test]
fn a_kept_table_is_in_no_group_and_flags_are_variable_names() {
    let e = invalid(&format!(
        "{MINIMAL}[tables]\nkeep = [\"m\"]\n[tables.groups]\ng = [\"m\"]\n"
    ));
    assert!(e.to_string().contains("in tables.keep"), "{e}");
    let e = invalid(&format!("{MINIMAL}[flags]\n\"A-B\" = \"1\"\n"));
    assert_eq!(e.line(), Some(4), "{e}");
}

#[test]
fn wake_flags_name_only_flags_hibernate_writes() {
    let e = invalid(&format!(
        "{MINIMAL}[flags]\nA = \"1\"\n[wake_flags]\nA = \"0\"\nB = \"0\"\n"
    ));
    assert_eq!(e.line(), Some(7), "{e}");
    assert!(e.to_string().contains("not in [flags]"), "{e}");
    let p = cornice();
    assert_eq!(
        p.wake_flags.get("INGEST_ENABLED").map(String::as_str),
        Some("true")
    );
}

#[test]
fn a_spec_is_a_name_or_a_path_never_a_guess() {
    assert_eq!(Spec::parse("ledger").unwrap(), Spec::Name("ledger".into()));
    assert!(matches!(Spec::parse("./ledger").unwrap(), Spec::File(_)));
    assert!(matches!(Spec::parse("ledger.toml").unwrap(), Spec::File(_)));
    for bad in ["", "Ledger", "led ger", "ledger.yaml"] {
        assert!(
            matches!(Spec::parse(bad), Err(Error::BadSpec { .. })),
            "{bad}"
        );
    }
}

#[test]
fn names_come_from_the_directory_first_then_the_built_ins() {
    let missing = Path::new("/nonexistent/holdkit-profiles");
    let p = load_in(&Spec::Name("cornice".into()), missing).unwrap();
    assert_eq!(p.source, Source::BuiltIn);
    let e = load_in(&Spec::Name("ledger".into()), missing).unwrap_err();
    assert!(matches!(e, Error::UnknownName { .. }), "{e:?}");
    assert_eq!(conventions::ToolError::from(e).exit_code(), 2);
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{MINIMAL}[tables.groups]\nonly = [\"x\"]\n");
    std::fs::write(dir.path().join("cornice.toml"), &text).unwrap();
    let p = load_in(&Spec::Name("cornice".into()), dir.path()).unwrap();
    assert_eq!(p.source, Source::File(dir.path().join("cornice.toml")));
    assert_eq!(p.tables.groups.keys().collect::<Vec<_>>(), ["only"]);
    let e = load_in(&Spec::File(dir.path().join("nope.toml")), missing).unwrap_err();
    assert_eq!(conventions::ToolError::from(e).exit_code(), 4);
}

#[test]
fn the_listing_shows_files_over_built_ins() {
    let missing = Path::new("/nonexistent/holdkit-profiles");
    let only = crate::list_in(missing).unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(
        (only[0].name.as_str(), &only[0].source),
        ("cornice", &Source::BuiltIn)
    );
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "ledger.toml",
        "cornice.toml",
        "Not A Name.toml",
        "notes.txt",
    ] {
        std::fs::write(dir.path().join(f), MINIMAL).unwrap();
    }
    let listed = crate::list_in(dir.path()).unwrap();
    let names: Vec<(&str, bool)> = listed
        .iter()
        .map(|l| (l.name.as_str(), l.source == Source::BuiltIn))
        .collect();
    assert_eq!(names, [("cornice", false), ("ledger", false)]);
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/profile.schema.json");
    let generated = crate::format::schema_text();
    if std::env::var_os("HOLDKIT_WRITE_SCHEMAS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} differs from what profile::format generates: run HOLDKIT_WRITE_SCHEMAS=1 cargo test -p holdkit-profile and commit the result",
        path.display()
    );
}

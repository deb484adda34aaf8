//! What the generated schemas promise beyond field types, checked with a real validator:
//! `ok` is true exactly when `error` is null, in both directions; the published schema
//! accepts a report with fields it does not know (a newer report of the same
//! schema_version), at the top and nested; the strict one, which the test suite validates
//! every report with, rejects them.

use reports::schema::{self, Tool};
use serde_json::{json, Value};

fn envelope(tool: Tool, ok: bool) -> Value {
    let error = if ok {
        Value::Null
    } else {
        json!({"kind": "usage", "message": "bad argument; see --help"})
    };
    json!({
        "tool": tool.name(), "version": "0.1.0", "schema_version": reports::SCHEMA_VERSION,
        "ok": ok, "changed": false, "dry_run": false, "error": error
    })
}

/// (published, strict) verdicts on `report`.
fn verdicts(tool: Tool, report: &Value) -> (bool, bool) {
    let published = jsonschema::validator_for(&schema::for_tool(tool)).unwrap();
    let strict = jsonschema::validator_for(&schema::strict_for_tool(tool)).unwrap();
    (published.is_valid(report), strict.is_valid(report))
}

#[test]
fn both_variants_are_valid_2020_12_schemas() {
    for tool in Tool::ALL {
        for s in [schema::for_tool(tool), schema::strict_for_tool(tool)] {
            assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
            jsonschema::draft202012::meta::validate(&s)
                .unwrap_or_else(|e| panic!("{}: {e}", tool.name()));
        }
    }
}

#[test]
fn ok_is_true_exactly_when_error_is_null() {
    for tool in Tool::ALL {
        for ok in [true, false] {
            assert_eq!(
                verdicts(tool, &envelope(tool, ok)),
                (true, true),
                "{}: a right envelope with ok={ok}",
                tool.name()
            );
        }
        let mut ok_with_error = envelope(tool, false);
        ok_with_error["ok"] = json!(true);
        let mut failed_without_error = envelope(tool, true);
        failed_without_error["ok"] = json!(false);
        for wrong in [ok_with_error, failed_without_error] {
            assert_eq!(
                verdicts(tool, &wrong),
                (false, false),
                "{}: accepted {wrong}",
                tool.name()
            );
        }
    }
}

#[test]
fn an_unknown_field_passes_the_published_schema_and_fails_the_strict_one() {
    for tool in Tool::ALL {
        let mut newer = envelope(tool, true);
        newer["added_in_a_later_release"] = json!({"any": "shape"});
        assert_eq!(verdicts(tool, &newer), (true, false), "{}", tool.name());
    }
    // Nested: inside an object of the tool's own report.
    let mut report = envelope(Tool::Envpatch, true);
    let own = json!({
        "file": "cornice.env", "target": "/etc/cornice/cornice.env", "created": false,
        "backup": null, "changes": [], "values": {},
        "values_by_reader": {"systemd": {}, "dotenv": {}}, "warnings": []
    });
    report
        .as_object_mut()
        .unwrap()
        .extend(own.as_object().unwrap().clone());
    assert_eq!(verdicts(Tool::Envpatch, &report), (true, true), "{report}");
    report["values_by_reader"]["podman"] = json!({});
    assert_eq!(verdicts(Tool::Envpatch, &report), (true, false), "{report}");
    // A wrong type is wrong in both.
    report["created"] = json!("no");
    assert_eq!(
        verdicts(Tool::Envpatch, &report),
        (false, false),
        "{report}"
    );
}

#[test]
fn the_published_schema_closes_nothing() {
    for tool in Tool::ALL {
        let text = schema::text(tool);
        assert!(
            !text.contains("\"additionalProperties\": false"),
            "{}: the published schema must accept fields added later",
            tool.name()
        );
        assert!(
            schema::strict_for_tool(tool)["additionalProperties"] == json!(false),
            "{}: the strict schema's top level is closed",
            tool.name()
        );
    }
}

/// The one-line example of `tool`'s report in docs/contract.md (real output).
fn contract_example(tool: Tool) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/contract.md");
    let contract = std::fs::read_to_string(path).unwrap();
    let start = format!("{{\"tool\":\"{}\"", tool.name());
    let line = contract
        .lines()
        .find(|l| l.starts_with(&start))
        .unwrap_or_else(|| panic!("docs/contract.md shows no one-line {} report", tool.name()));
    serde_json::from_str(line).unwrap()
}

/// A holdctl report with one step whose `report` is `child`.
fn holdctl_with_step_report(child: Value) -> Value {
    let mut report = envelope(Tool::Holdctl, true);
    let own = json!({
        "command": "plan", "env_file": null, "not_run": [],
        "steps": [{"name": "read_flags", "argv": ["envpatch", "--json=short"],
                   "exit_code": 0, "ok": true, "changed": false, "report": child}]
    });
    report
        .as_object_mut()
        .unwrap()
        .extend(own.as_object().unwrap().clone());
    report
}

#[test]
fn a_step_report_is_a_child_report_or_null() {
    let children = [Tool::Envpatch, Tool::Svcctl, Tool::Pgtruncate];
    let mut accepted: Vec<Value> = children.into_iter().map(contract_example).collect();
    accepted.push(Value::Null);
    for child in accepted {
        let report = holdctl_with_step_report(child);
        assert_eq!(verdicts(Tool::Holdctl, &report), (true, true), "{report}");
    }
    let rejected = [
        json!(5),
        json!("x"),
        json!([1]),
        json!({}),
        json!({"tool": "holdctl"}),
    ];
    for child in rejected {
        let report = holdctl_with_step_report(child);
        assert_eq!(verdicts(Tool::Holdctl, &report), (false, false), "{report}");
    }
    // A child's report is held to its own schema: a wrong type inside it is wrong, and
    // the strict variant refuses a field its types do not describe.
    let mut retyped = contract_example(Tool::Envpatch);
    retyped["created"] = json!("no");
    let report = holdctl_with_step_report(retyped);
    assert_eq!(verdicts(Tool::Holdctl, &report), (false, false), "{report}");
    let mut newer = contract_example(Tool::Pgtruncate);
    newer["added_in_a_later_release"] = json!(1);
    let report = holdctl_with_step_report(newer);
    assert_eq!(verdicts(Tool::Holdctl, &report), (true, false), "{report}");
}

#[test]
fn a_schema_file_stands_alone() {
    for tool in Tool::ALL {
        let text = schema::text(tool);
        for line in text.lines().filter(|l| l.contains("\"$ref\"")) {
            assert!(
                line.contains("\"#/$defs/"),
                "{}: a $ref outside the file: {line}",
                tool.name()
            );
        }
    }
}

#[test]
fn a_step_name_the_types_do_not_know_passes_only_the_published_schema() {
    let known = holdctl_with_step_report(Value::Null);
    assert_eq!(verdicts(Tool::Holdctl, &known), (true, true), "{known}");
    let mut later = known.clone();
    later["steps"][0]["name"] = json!("added_in_a_later_release");
    assert_eq!(verdicts(Tool::Holdctl, &later), (true, false), "{later}");
    let mut retyped = known;
    retyped["steps"][0]["name"] = json!(3);
    assert_eq!(
        verdicts(Tool::Holdctl, &retyped),
        (false, false),
        "{retyped}"
    );
}

//! The committed schemas are exactly what the report types generate, and no field of the
//! current schema_version was renamed or retyped: adding a field keeps schema_version,
//! anything else must bump it (and freeze a new baseline).
//!
//! After changing a report type: `HOLDKIT_WRITE_SCHEMAS=1 cargo test -p reports --test
//! schemas` writes schemas/*.schema.json; a rename or retype also needs SCHEMA_VERSION
//! bumped and `schemas/baseline/vN/` written (HOLDKIT_WRITE_BASELINE=1).

use reports::schema::{self, Tool};
use reports::SCHEMA_VERSION;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("schemas")
}

fn write_if(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| v == "1")
}

#[test]
fn committed_schemas_are_the_generated_ones() {
    for tool in Tool::ALL {
        let path = dir().join(tool.file_name());
        let generated = schema::text(tool);
        if write_if("HOLDKIT_WRITE_SCHEMAS") {
            std::fs::create_dir_all(dir()).unwrap();
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} differs from what the report types generate: run HOLDKIT_WRITE_SCHEMAS=1 cargo test -p reports --test schemas and commit the result (and bump SCHEMA_VERSION if a field was renamed or retyped)",
            path.display()
        );
    }
}

#[test]
fn committed_hold_record_schema_is_the_generated_one() {
    let path = dir().join(schema::HOLD_RECORD_FILE);
    let generated = schema::hold_record_text();
    if write_if("HOLDKIT_WRITE_SCHEMAS") {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} differs from what HoldRecord generates: run HOLDKIT_WRITE_SCHEMAS=1 cargo test -p reports --test schemas and commit the result",
        path.display()
    );
}

/// Every field path of a schema, with the shape of its value (types, refs, consts),
/// descriptions left out.
fn fields(schema: &Value) -> BTreeMap<String, String> {
    let defs = schema["$defs"].clone();
    let mut out = BTreeMap::new();
    walk(schema, &defs, "", &mut out, 0);
    out
}

fn resolve<'a>(node: &'a Value, defs: &'a Value) -> &'a Value {
    match node["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/$defs/"))
    {
        Some(name) => &defs[name],
        None => node,
    }
}

fn shape(node: &Value, defs: &Value) -> String {
    let node = resolve(node, defs);
    let mut parts = Vec::new();
    for key in ["type", "const", "enum"] {
        if !node[key].is_null() {
            parts.push(format!("{key}={}", node[key]));
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = node[key].as_array() {
            let mut shapes: Vec<String> = alts.iter().map(|a| shape(a, defs)).collect();
            shapes.sort();
            parts.push(format!("{key}=[{}]", shapes.join("|")));
        }
    }
    parts.join(",")
}

fn walk(node: &Value, defs: &Value, path: &str, out: &mut BTreeMap<String, String>, depth: usize) {
    if depth > 12 {
        return;
    }
    let node = resolve(node, defs);
    if let Some(props) = node["properties"].as_object() {
        for (name, sub) in props {
            let p = format!("{path}.{name}");
            out.insert(p.clone(), shape(sub, defs));
            walk(sub, defs, &p, out, depth + 1);
        }
    }
    if node["items"].is_object() {
        walk(&node["items"], defs, &format!("{path}[]"), out, depth + 1);
    }
    for key in ["anyOf", "oneOf"] {
        for alt in node[key].as_array().into_iter().flatten() {
            walk(alt, defs, path, out, depth + 1);
        }
    }
}

#[test]
fn no_field_of_this_schema_version_was_renamed_or_retyped() {
    let baseline_dir = dir().join("baseline").join(format!("v{SCHEMA_VERSION}"));
    for tool in Tool::ALL {
        let path = baseline_dir.join(tool.file_name());
        if write_if("HOLDKIT_WRITE_BASELINE") {
            std::fs::create_dir_all(&baseline_dir).unwrap();
            std::fs::write(&path, schema::text(tool)).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "no baseline {} for schema_version {SCHEMA_VERSION}: write it with HOLDKIT_WRITE_BASELINE=1",
                path.display()
            )
        });
        let baseline = fields(&serde_json::from_str(&text).unwrap());
        let now = fields(&schema::for_tool(tool));
        for (field, was) in &baseline {
            match now.get(field) {
                None => panic!(
                    "{}: field {field} of schema_version {SCHEMA_VERSION} is gone (renamed?): bump SCHEMA_VERSION",
                    tool.name()
                ),
                Some(is) if is != was => panic!(
                    "{}: field {field} changed type ({was} -> {is}): bump SCHEMA_VERSION",
                    tool.name()
                ),
                Some(_) => {}
            }
        }
    }
}

#[test]
fn the_walk_sees_nested_fields() {
    let f = fields(&schema::for_tool(Tool::Envpatch));
    assert!(f.contains_key(".changes[].action"), "{f:?}");
    assert!(f.contains_key(".error.kind"), "{f:?}");
    assert!(f.contains_key(".values_by_reader.systemd"), "{f:?}");
}

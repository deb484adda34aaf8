//! The committed schemas are exactly what the report types generate, and no field of the
//! current schema_version was renamed or retyped: adding a field keeps schema_version,
//! and so does widening a closed set of string values to any string (every value the
//! baseline allowed keeps its meaning; pgtruncate's profile and group names did this when
//! profiles became data), and so does describing a field that was typed "anything" (`{}`)
//! with the shape it has always had (holdctl's step `report`, the children's reports);
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

/// The JSON types a field's value may take, string constants counted as strings, when the
/// value is a plain scalar (no properties, no items); `None` otherwise.
fn scalar_types(node: &Value, defs: &Value) -> Option<Vec<String>> {
    let node = resolve(node, defs);
    if !node["properties"].is_null() || !node["items"].is_null() {
        return None;
    }
    let mut types = Vec::new();
    match &node["type"] {
        Value::String(t) => types.push(t.clone()),
        Value::Array(ts) => types.extend(ts.iter().filter_map(|t| t.as_str().map(String::from))),
        _ => {}
    }
    if node["const"].is_string() || node["enum"].is_array() {
        types.push("string".into());
    }
    for key in ["anyOf", "oneOf"] {
        for alt in node[key].as_array().into_iter().flatten() {
            types.extend(scalar_types(alt, defs)?);
        }
    }
    types.sort();
    types.dedup();
    (!types.is_empty()).then_some(types)
}

/// Whether `was` -> `is` only widens a closed set of strings to any string.
fn widens_strings(was: &Value, is: &Value, defs_was: &Value, defs_is: &Value) -> bool {
    let closed = |n: &Value, defs: &Value| shape(n, defs).contains("const=");
    match (scalar_types(was, defs_was), scalar_types(is, defs_is)) {
        (Some(a), Some(b)) => a == b && closed(was, defs_was) && !closed(is, defs_is),
        _ => false,
    }
}

/// Whether `was` -> `is` only describes a field that was typed "anything" (`{}`: no
/// type, no shape at all): every value it takes now, it took before, and a consumer could
/// rely on no shape of it. holdctl's step `report` did this when it got its children's
/// schemas.
fn describes_anything(was: &Value, is: &Value, defs_was: &Value, defs_is: &Value) -> bool {
    const SHAPED: [&str; 11] = [
        "type",
        "const",
        "enum",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "properties",
        "items",
        "$ref",
        "if",
    ];
    let was = resolve(was, defs_was);
    let anything = was
        .as_object()
        .is_some_and(|m| SHAPED.iter().all(|k| !m.contains_key(*k)));
    anything && !shape(is, defs_is).is_empty()
}

/// The node of a field path (`.a.b[].c`), as `fields` walks it.
fn node_at<'a>(schema: &'a Value, defs: &'a Value, path: &str) -> Option<&'a Value> {
    let mut node = schema;
    for part in path.split('.').skip(1) {
        let (name, arrays) = match part.find('[') {
            Some(i) => (&part[..i], part[i..].matches("[]").count()),
            None => (part, 0),
        };
        node = find_property(node, defs, name)?;
        for _ in 0..arrays {
            node = &resolve(node, defs)["items"];
        }
    }
    Some(node)
}

fn find_property<'a>(node: &'a Value, defs: &'a Value, name: &str) -> Option<&'a Value> {
    let node = resolve(node, defs);
    if let Some(p) = node["properties"].get(name) {
        return Some(p);
    }
    ["anyOf", "oneOf"]
        .iter()
        .flat_map(|k| node[*k].as_array().into_iter().flatten())
        .find_map(|alt| find_property(alt, defs, name))
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
        let baseline_schema: Value = serde_json::from_str(&text).unwrap();
        let now_schema = schema::for_tool(tool);
        let baseline = fields(&baseline_schema);
        let now = fields(&now_schema);
        let widened = |field: &str| {
            let (dw, di) = (&baseline_schema["$defs"], &now_schema["$defs"]);
            match (
                node_at(&baseline_schema, dw, field),
                node_at(&now_schema, di, field),
            ) {
                (Some(w), Some(i)) => {
                    widens_strings(w, i, dw, di) || describes_anything(w, i, dw, di)
                }
                _ => false,
            }
        };
        for (field, was) in &baseline {
            match now.get(field) {
                None => panic!(
                    "{}: field {field} of schema_version {SCHEMA_VERSION} is gone (renamed?): bump SCHEMA_VERSION",
                    tool.name()
                ),
                Some(is) if is != was && !widened(field) => panic!(
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

#[test]
fn a_closed_set_of_strings_may_widen_to_any_string_and_nothing_else_passes() {
    let defs = serde_json::json!({});
    let was = serde_json::json!({"anyOf": [{"oneOf": [{"type": "string", "const": "a"}]}, {"type": "null"}]});
    let is = serde_json::json!({"type": ["string", "null"]});
    assert!(widens_strings(&was, &is, &defs, &defs));
    // Narrowing, or a string becoming a number, is a retype.
    assert!(!widens_strings(&is, &was, &defs, &defs));
    let number = serde_json::json!({"type": ["integer", "null"]});
    assert!(!widens_strings(&was, &number, &defs, &defs));
    // A plain string that stays a plain string is no widening (and no change).
    let plain = serde_json::json!({"type": "string"});
    assert!(!widens_strings(&plain, &plain, &defs, &defs));
}

#[test]
fn a_field_typed_anything_may_get_a_shape_and_nothing_else_passes() {
    let defs = serde_json::json!({});
    let anything = serde_json::json!({"description": "anything"});
    let described = serde_json::json!({"anyOf": [{"type": "object"}, {"type": "null"}]});
    assert!(describes_anything(&anything, &described, &defs, &defs));
    // The other way widens a described field to anything: a retype.
    assert!(!describes_anything(&described, &anything, &defs, &defs));
    // A typed field getting another shape is a retype, whatever it was.
    let string = serde_json::json!({"type": "string"});
    assert!(!describes_anything(&string, &described, &defs, &defs));
    let object = serde_json::json!({"properties": {"a": {}}});
    assert!(!describes_anything(&object, &described, &defs, &defs));
    // Anything staying anything is no change to allow.
    assert!(!describes_anything(&anything, &anything, &defs, &defs));
}

//! The JSON Schema (draft 2020-12) of each tool's printed report, generated from the
//! types of this crate: the envelope's fields and the tool's own, side by side at the top
//! level. The tool's own fields are absent when a run printed none (most usage errors), so
//! only the envelope's are required; `ok` is true exactly when `error` is null.
//!
//! Two variants come from the same types. The published one ([`for_tool`], what
//! `schemas/` holds and the package installs) allows fields it does not describe, at every
//! level: adding a field keeps `schema_version`, so a consumer validating with the schema
//! of an older release of the same `schema_version` must accept a newer report. The strict
//! one ([`strict_for_tool`]) allows no field the types do not describe, wherever a type
//! refuses unknown fields: the test suite validates every report with it, so a field
//! printed without being in the types (and so in the docs' checks) fails the suite.
//!
//! `schemas/TOOL.schema.json` holds the generated text; a test regenerates it and fails on
//! any difference (`HOLDKIT_WRITE_SCHEMAS=1 cargo test -p reports --test schemas` writes it).

use crate::envelope::{ErrorInfo, ENVELOPE_FIELDS, SCHEMA_VERSION};
use schemars::{generate::SchemaSettings, JsonSchema};
use serde_json::{json, Value};

/// The four tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Envpatch,
    Svcctl,
    Pgtruncate,
    Holdctl,
}

impl Tool {
    pub const ALL: [Tool; 4] = [
        Tool::Envpatch,
        Tool::Svcctl,
        Tool::Pgtruncate,
        Tool::Holdctl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Envpatch => "envpatch",
            Tool::Svcctl => "svcctl",
            Tool::Pgtruncate => "pgtruncate",
            Tool::Holdctl => "holdctl",
        }
    }

    pub fn from_name(name: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The file name under `schemas/`.
    pub fn file_name(self) -> String {
        format!("{}.schema.json", self.name())
    }
}

/// The envelope every report has, for the schema only (printing is done from the tool's
/// own report type and the envelope's state).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Printed<R> {
    /// The tool that printed it.
    tool: String,
    /// The tool's version.
    version: String,
    /// The report's shape: bumped when a field is renamed or changes type.
    schema_version: u32,
    /// True exactly when the exit code is 0.
    ok: bool,
    /// Whether the run changed something on the host (or, with `--dry-run`, would have).
    changed: bool,
    /// Whether this was a dry run (nothing was changed).
    dry_run: bool,
    /// Why the run did not succeed; null when it did.
    error: Option<ErrorInfo>,
    #[serde(flatten)]
    report: R,
}

/// The published schema of `tool`'s printed report: unknown fields allowed everywhere.
pub fn for_tool(tool: Tool) -> Value {
    let mut value = strict_for_tool(tool);
    allow_unknown_fields(&mut value);
    // Steps are added without bumping schema_version: the names stay in the description.
    if let Some(step_name) = value
        .pointer_mut("/$defs/StepName")
        .and_then(Value::as_object_mut)
    {
        step_name.shift_remove("enum");
    }
    if let Some(root) = value.as_object_mut() {
        root.insert(
            "$id".into(),
            json!(format!("{BASE_ID}/{}", tool.file_name())),
        );
    }
    value
}

/// The strict schema of `tool`'s printed report, for the test suite: no field allowed
/// that the report types do not describe (error details excepted, which vary by error).
pub fn strict_for_tool(tool: Tool) -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let schema = match tool {
        Tool::Envpatch => generator.into_root_schema_for::<Printed<crate::envpatch::Report>>(),
        Tool::Svcctl => generator.into_root_schema_for::<Printed<crate::svcctl::Report>>(),
        Tool::Pgtruncate => generator.into_root_schema_for::<Printed<crate::pgtruncate::Report>>(),
        Tool::Holdctl => generator.into_root_schema_for::<Printed<crate::holdctl::Report>>(),
    };
    let mut value = schema.to_value();
    let Some(root) = value.as_object_mut() else {
        return value;
    };
    root.insert(
        "$id".into(),
        json!(format!("{BASE_ID}/strict/{}", tool.file_name())),
    );
    root.insert(
        "title".into(),
        json!(format!(
            "{} report (schema_version {SCHEMA_VERSION})",
            tool.name()
        )),
    );
    root.insert(
        "description".into(),
        json!(format!(
            "The one JSON object `{}` prints on stdout, success or failure. See docs/contract.md.",
            tool.name()
        )),
    );
    root.insert("required".into(), json!(ENVELOPE_FIELDS));
    root.insert("additionalProperties".into(), json!(false));
    let mut error_info = json!({"$ref": "#/$defs/ErrorInfo"});
    if let Some(props) = root.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert(
            "tool".into(),
            json!({"const": tool.name(), "description": "The tool that printed it."}),
        );
        props.insert(
            "schema_version".into(),
            json!({"const": SCHEMA_VERSION, "description": "The report's shape: bumped when a field is renamed or changes type."}),
        );
        // The non-null alternative of `error`, as the generator wrote it.
        if let Some(alt) = props["error"]["anyOf"]
            .as_array()
            .and_then(|alts| alts.iter().find(|a| a["type"] != "null"))
        {
            error_info = alt.clone();
        }
    }
    // `ok` and `error` say the same thing twice; a report where they disagree is wrong.
    root.insert("if".into(), json!({"properties": {"ok": {"const": true}}}));
    root.insert(
        "then".into(),
        json!({"properties": {"error": {"type": "null"}}}),
    );
    root.insert("else".into(), json!({"properties": {"error": error_info}}));
    value
}

const BASE_ID: &str = "https://holdkit.invalid/schemas";

/// The tools whose reports holdctl embeds in its steps.
const CHILDREN: [Tool; 3] = [Tool::Envpatch, Tool::Svcctl, Tool::Pgtruncate];

/// The schema of a holdctl step's `report`: one of the children's printed reports, each
/// its strict schema embedded in the generator's `$defs` (a schema file stands alone), or
/// null. The published schema opens them up like the rest (see [`for_tool`]).
pub(crate) fn child_report(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut alternatives = Vec::new();
    for child in CHILDREN {
        let name = child_def_name(child, "Report");
        if !generator.definitions().contains_key(&name) {
            let embedded = embeddable(child);
            let defs = generator.definitions_mut();
            defs.extend(embedded.defs);
            defs.insert(name.clone(), embedded.root);
        }
        alternatives.push(json!({"$ref": format!("#/$defs/{name}")}));
    }
    alternatives.push(json!({"type": "null"}));
    schemars::json_schema!({
        "anyOf": alternatives,
        "description": "The child's own report, as it printed it (the schema of the tool it ran describes it); null when it printed none."
    })
}

/// The name in holdctl's `$defs` of a child's definition: prefixed with the tool, so it
/// cannot meet holdctl's own (or another child's) definition of the same name.
fn child_def_name(child: Tool, name: &str) -> String {
    format!("{}.{name}", child.name())
}

struct Embeddable {
    root: Value,
    defs: serde_json::Map<String, Value>,
}

/// `child`'s strict schema as a definition: no `$schema` or `$id` (an `$id` would make its
/// `$ref`s resolve against itself), its `$defs` renamed and lifted out.
fn embeddable(child: Tool) -> Embeddable {
    let mut root = strict_for_tool(child);
    rename_refs(&mut root, child);
    let mut defs = serde_json::Map::new();
    if let Some(map) = root.as_object_mut() {
        for key in ["$schema", "$id"] {
            map.shift_remove(key);
        }
        if let Some(Value::Object(own)) = map.shift_remove("$defs") {
            for (name, def) in own {
                defs.insert(child_def_name(child, &name), def);
            }
        }
    }
    Embeddable { root, defs }
}

fn rename_refs(node: &mut Value, child: Tool) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref") {
                if let Some(name) = r.strip_prefix("#/$defs/") {
                    *r = format!("#/$defs/{}", child_def_name(child, name));
                }
            }
            map.values_mut().for_each(|v| rename_refs(v, child));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, child)),
        _ => {}
    }
}

/// Drops every `additionalProperties: false`: what the published schema leaves out.
fn allow_unknown_fields(node: &mut Value) {
    match node {
        Value::Object(map) => {
            if map.get("additionalProperties") == Some(&Value::Bool(false)) {
                map.shift_remove("additionalProperties");
            }
            map.values_mut().for_each(allow_unknown_fields);
        }
        Value::Array(items) => items.iter_mut().for_each(allow_unknown_fields),
        _ => {}
    }
}

/// The schema as committed: pretty, with a final newline.
pub fn text(tool: Tool) -> String {
    let mut text = serde_json::to_string_pretty(&for_tool(tool)).unwrap_or_default();
    text.push('\n');
    text
}

/// The file name under `schemas/` of the hold record's schema.
pub const HOLD_RECORD_FILE: &str = "hold-record.schema.json";

/// The schema of holdctl's hold record, `STATE_DIR/hold.json` (a document, not a report:
/// no envelope).
pub fn hold_record() -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let mut value = generator
        .into_root_schema_for::<crate::holdctl::HoldRecord>()
        .to_value();
    if let Some(root) = value.as_object_mut() {
        root.insert(
            "$id".into(),
            json!(format!(
                "https://holdkit.invalid/schemas/{HOLD_RECORD_FILE}"
            )),
        );
        root.insert("title".into(), json!("holdctl hold record (format 1)"));
        root.insert(
            "description".into(),
            json!("STATE_DIR/hold.json: what hibernate found before its first change, which wake undoes. See docs/contract.md."),
        );
    }
    value
}

/// [`hold_record`] as committed: pretty, with a final newline.
pub fn hold_record_text() -> String {
    let mut text = serde_json::to_string_pretty(&hold_record()).unwrap_or_default();
    text.push('\n');
    text
}

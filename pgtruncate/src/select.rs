//! From names and a preset (a hold profile) to the chosen set and the kept tables, before
//! any closure is computed. Pure logic over catalogue facts, tested without a database.

use crate::catalog::SchemaTable;
use crate::names::QualifiedName;
use crate::plan::{KeptTable, Origin};
use crate::preset::{Profile, Selection};
use std::collections::BTreeMap;

/// The tables to empty and the tables to leave alone.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Choice {
    pub chosen: BTreeMap<u32, Origin>,
    pub kept: Vec<KeptTable>,
}

/// What the preset found missing or could not classify, for the report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PresetListing {
    pub missing: Vec<String>,
    pub unclassified: Vec<String>,
}

/// Adds the profile's selection over `tables` (the schema's tables) to `choice`.
pub fn from_preset(
    choice: &mut Choice,
    profile: &Profile,
    selection: &Selection,
    schema: &str,
    tables: &[SchemaTable],
) -> PresetListing {
    let mut listing = PresetListing::default();
    let present: BTreeMap<&str, &SchemaTable> =
        tables.iter().map(|t| (t.name.as_str(), t)).collect();
    for (group, names) in &profile.tables.groups {
        for name in names {
            match present.get(name.as_str()) {
                None => listing
                    .missing
                    .push(QualifiedName::new(schema, name).to_string()),
                // Extension members are kept below, whatever their name.
                Some(t) if t.extension.is_some() => {}
                Some(t) if selection.groups.contains(group) => {
                    choice
                        .chosen
                        .entry(t.oid)
                        .or_insert_with(|| Origin::Group(group.clone()));
                }
                Some(t) => choice.kept.push(KeptTable {
                    oid: t.oid,
                    reason: format!("group {group} not included"),
                    group: Some(group.clone()),
                    absolute: false,
                }),
            }
        }
    }
    for t in tables {
        if let Some(extension) = &t.extension {
            // The extension's own data (PostGIS's spatial_ref_sys): emptying it breaks
            // the extension, and no cascade may reach it either.
            if !choice.chosen.contains_key(&t.oid) {
                choice.kept.push(KeptTable {
                    oid: t.oid,
                    reason: format!("belongs to extension {extension}: no preset truncates it"),
                    group: profile.group_of(&t.name).map(str::to_string),
                    absolute: true,
                });
            }
        } else if profile.keeps(&t.name) {
            if !choice.chosen.contains_key(&t.oid) {
                choice.kept.push(KeptTable {
                    oid: t.oid,
                    reason: format!(
                        "in tables.keep of profile {}: never emptied through the profile (migration bookkeeping and the like)",
                        profile.name
                    ),
                    group: None,
                    absolute: true,
                });
            }
        } else if profile.group_of(&t.name).is_none() {
            listing
                .unclassified
                .push(QualifiedName::new(schema, &t.name).to_string());
            if selection.unclassified {
                choice.chosen.entry(t.oid).or_insert(Origin::Unclassified);
            } else if !choice.chosen.contains_key(&t.oid) {
                choice.kept.push(KeptTable {
                    oid: t.oid,
                    reason: format!("unclassified: in no group of the {} preset", profile.name),
                    group: None,
                    absolute: false,
                });
            }
        }
    }
    listing
}

/// `--except` wins over everything; then a kept table named on the command line is
/// chosen (explicit wins over a group).
pub fn apply_excepts(
    choice: &mut Choice,
    excepted: &[(u32, QualifiedName)],
    profile: Option<&Profile>,
    schema: &str,
) {
    for (oid, name) in excepted {
        choice.chosen.remove(oid);
        choice.kept.retain(|k| k.oid != *oid);
        choice.kept.push(KeptTable {
            oid: *oid,
            reason: "--except".into(),
            group: profile
                .filter(|_| name.schema == schema)
                .and_then(|p| p.group_of(&name.name))
                .map(str::to_string),
            absolute: true,
        });
    }
    let chosen = &choice.chosen;
    choice.kept.retain(|k| !chosen.contains_key(&k.oid));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small profile of its own: the rules are the code's, the names the profile's.
    fn profile() -> Profile {
        let text = r#"
[units]
api = "app"
[tables]
default = ["runtime"]
keep = ["schema_migrations"]
[tables.groups]
runtime = ["events"]
accounts = ["users"]
[include]
everything = { groups = ["accounts"], unclassified = true }
"#;
        profile::parse(text, "t.toml", "t", profile::Source::BuiltIn).unwrap()
    }

    fn table(oid: u32, name: &str, extension: Option<&str>) -> SchemaTable {
        SchemaTable {
            name: name.into(),
            oid,
            extension: extension.map(str::to_string),
        }
    }

    #[test]
    fn extension_and_kept_tables_are_never_swept_in() {
        let tables = [
            table(1, "events", None),
            table(2, "spatial_ref_sys", Some("postgis")),
            table(3, "notes", None),
            table(4, "schema_migrations", None),
        ];
        let p = profile();
        let everything = p.select(&["everything"]).unwrap();
        let mut choice = Choice::default();
        let listing = from_preset(&mut choice, &p, &everything, "public", &tables);
        assert_eq!(
            choice.chosen.keys().copied().collect::<Vec<_>>(),
            vec![1, 3]
        );
        let ext = choice.kept.iter().find(|k| k.oid == 2).unwrap();
        assert!(ext.absolute);
        assert_eq!(
            ext.reason,
            "belongs to extension postgis: no preset truncates it"
        );
        let kept = choice.kept.iter().find(|k| k.oid == 4).unwrap();
        assert!(kept.absolute);
        assert!(
            kept.reason.starts_with("in tables.keep of profile t"),
            "{}",
            kept.reason
        );
        assert_eq!(listing.unclassified, vec!["public.notes"]);
        assert_eq!(listing.missing, vec!["public.users"]);
    }

    #[test]
    fn an_explicit_name_beats_a_group_and_except_beats_both() {
        let tables = [table(1, "events", None), table(2, "users", None)];
        let p = profile();
        let none: [&str; 0] = [];
        let default = p.select(&none).unwrap();
        let mut choice = Choice::default();
        choice.chosen.insert(2, Origin::Named);
        from_preset(&mut choice, &p, &default, "public", &tables);
        apply_excepts(
            &mut choice,
            &[(1, QualifiedName::new("public", "events"))],
            Some(&p),
            "public",
        );
        assert_eq!(choice.chosen.keys().copied().collect::<Vec<_>>(), vec![2]);
        assert_eq!(choice.kept.len(), 1);
        assert_eq!(choice.kept[0].oid, 1);
        assert_eq!(choice.kept[0].group.as_deref(), Some("runtime"));
        assert!(choice.kept[0].absolute);
    }
}

//! From names and a preset to the chosen set and the kept tables, before any closure is
//! computed. Pure logic over catalogue facts, tested without a database.

use crate::catalog::SchemaTable;
use crate::names::QualifiedName;
use crate::plan::{KeptTable, Origin};
use crate::preset::{Catalogue, Group, Preset, Selection, MIGRATION_TABLES};
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

/// Adds the preset's selection over `tables` (the schema's tables) to `choice`.
pub fn from_preset(
    choice: &mut Choice,
    preset: Preset,
    selection: &Selection,
    schema: &str,
    tables: &[SchemaTable],
) -> PresetListing {
    let mut listing = PresetListing::default();
    let present: BTreeMap<&str, &SchemaTable> =
        tables.iter().map(|t| (t.name.as_str(), t)).collect();
    for group in Group::ALL {
        for &name in preset.tables(group) {
            match present.get(name) {
                None => listing
                    .missing
                    .push(QualifiedName::new(schema, name).to_string()),
                // Extension members are kept below, whatever their name.
                Some(t) if t.extension.is_some() => {}
                Some(t) if selection.groups.contains(&group) => {
                    choice.chosen.entry(t.oid).or_insert(Origin::Group(group));
                }
                Some(t) => choice.kept.push(KeptTable {
                    oid: t.oid,
                    reason: format!("group {} not included", group.as_str()),
                    group: Some(group),
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
                    group: preset.group_of(&t.name),
                    absolute: true,
                });
            }
        } else if MIGRATION_TABLES.contains(&t.name.as_str()) {
            if !choice.chosen.contains_key(&t.oid) {
                choice.kept.push(KeptTable {
                    oid: t.oid,
                    reason: "migration bookkeeping: no preset ever truncates it".into(),
                    group: None,
                    absolute: true,
                });
            }
        } else if preset.group_of(&t.name).is_none() {
            listing
                .unclassified
                .push(QualifiedName::new(schema, &t.name).to_string());
            if selection.everything {
                choice.chosen.entry(t.oid).or_insert(Origin::Unclassified);
            } else if !choice.chosen.contains_key(&t.oid) {
                choice.kept.push(KeptTable {
                    oid: t.oid,
                    reason: format!(
                        "unclassified: in no group of the {} preset",
                        preset.as_str()
                    ),
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
    preset: Option<Preset>,
    schema: &str,
) {
    for (oid, name) in excepted {
        choice.chosen.remove(oid);
        choice.kept.retain(|k| k.oid != *oid);
        choice.kept.push(KeptTable {
            oid: *oid,
            reason: "--except".into(),
            group: preset
                .filter(|_| name.schema == schema)
                .and_then(|p| p.group_of(&name.name)),
            absolute: true,
        });
    }
    let chosen = &choice.chosen;
    choice.kept.retain(|k| !chosen.contains_key(&k.oid));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(oid: u32, name: &str, extension: Option<&str>) -> SchemaTable {
        SchemaTable {
            name: name.into(),
            oid,
            extension: extension.map(str::to_string),
        }
    }

    #[test]
    fn extension_tables_are_never_swept_in() {
        let tables = [
            table(1, "requests", None),
            table(2, "spatial_ref_sys", Some("postgis")),
            table(3, "notes", None),
            table(4, "alembic_version", None),
        ];
        let everything = Selection::new(Preset::Cornice, &[], true, true);
        let mut choice = Choice::default();
        let listing = from_preset(&mut choice, Preset::Cornice, &everything, "public", &tables);
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
        assert_eq!(listing.unclassified, vec!["public.notes"]);
        assert!(listing.missing.contains(&"public.users".to_string()));
    }

    #[test]
    fn an_explicit_name_beats_a_group_and_except_beats_both() {
        let tables = [table(1, "requests", None), table(2, "users", None)];
        let default = Selection::new(Preset::Cornice, &[], false, false);
        let mut choice = Choice::default();
        choice.chosen.insert(2, Origin::Named);
        from_preset(&mut choice, Preset::Cornice, &default, "public", &tables);
        apply_excepts(
            &mut choice,
            &[(1, QualifiedName::new("public", "requests"))],
            Some(Preset::Cornice),
            "public",
        );
        assert_eq!(choice.chosen.keys().copied().collect::<Vec<_>>(), vec![2]);
        assert_eq!(choice.kept.len(), 1);
        assert_eq!(choice.kept[0].oid, 1);
        assert_eq!(choice.kept[0].group, Some(Group::Runtime));
        assert!(choice.kept[0].absolute);
    }
}

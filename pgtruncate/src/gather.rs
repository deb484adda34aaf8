//! What a plan rests on, read from the catalogue: the names resolved, the preset's
//! listing, the closure and the facts about every table involved, and the plan built
//! from them. Read once to plan, and once more under the locks (recheck.rs) to prove
//! that nothing the plan rested on changed.

use crate::catalog::{self, Found, Relation, SequenceUse, TruncateTrigger};
use crate::names::QualifiedName;
use crate::plan::{self, Origin, Plan};
use crate::run::{Args, Db};
use crate::select::{self, Choice, PresetListing};
use conventions::ToolError;
use std::collections::HashMap;

/// The closure and the facts about every table involved: a fixed number of queries.
pub(crate) struct Facts {
    pub closure: catalog::Closure,
    pub relations: HashMap<u32, Relation>,
    pub sequences: Vec<SequenceUse>,
    /// Every user-defined `ON TRUNCATE` trigger of the closure, disabled ones included.
    pub triggers: Vec<TruncateTrigger>,
}

impl Facts {
    fn gather(db: &mut Db<'_>, choice: &Choice) -> Result<Facts, ToolError> {
        let seeds: Vec<u32> = choice.chosen.keys().copied().collect();
        let closure = db.query(|c| catalog::closure(c, &seeds))?;
        let mut wanted: Vec<u32> = closure.members.iter().copied().collect();
        wanted.extend(choice.kept.iter().map(|k| k.oid));
        wanted.sort_unstable();
        wanted.dedup();
        let relations = db.query(|c| catalog::relations(c, &wanted))?;
        let members: Vec<u32> = closure.members.iter().copied().collect();
        let sequences = db.query(|c| catalog::sequences(c, &members))?;
        let triggers = db.query(|c| catalog::truncate_triggers(c, &members))?;
        Ok(Facts {
            closure,
            relations,
            sequences,
            triggers,
        })
    }

    pub fn table_name(&self, oid: u32) -> String {
        self.relations
            .get(&oid)
            .map_or_else(|| format!("oid {oid}"), |r| r.name.to_string())
    }

    /// The triggers TRUNCATE may fire.
    pub fn firing_triggers(&self) -> impl Iterator<Item = &TruncateTrigger> {
        self.triggers.iter().filter(|t| t.fires())
    }
}

/// Everything one reading of the catalogue yields.
pub(crate) struct Gathered {
    /// The named tables, then the `--except` ones.
    pub lookup: Vec<QualifiedName>,
    /// What each of `lookup` resolved to.
    pub found: Vec<Option<Found>>,
    pub listing: PresetListing,
    pub choice: Choice,
    pub facts: Facts,
    pub plan: Plan,
}

impl Gathered {
    /// The names that are not tables (or nothing), as a not-found error.
    pub fn name_problems(&self, db_url: &str) -> Option<ToolError> {
        let mut unknown = Vec::new();
        let mut not_tables = Vec::new();
        for (name, hit) in self.lookup.iter().zip(&self.found) {
            match hit {
                None => unknown.push(name.to_string()),
                Some(f) if !f.kind.is_table() => {
                    not_tables.push(format!("{name} is {}", f.kind.describe()))
                }
                Some(_) => {}
            }
        }
        if unknown.is_empty() && not_tables.is_empty() {
            return None;
        }
        let mut problems: Vec<String> = unknown
            .iter()
            .map(|n| format!("table {n} does not exist"))
            .collect();
        problems.extend(not_tables.iter().cloned());
        Some(
            ToolError::not_found(format!(
                "{} in {db_url}: check the name and schema (names match the catalog exactly, case included); nothing was truncated",
                problems.join("; "),
            ))
            .with("missing", &unknown)
            .with("not_tables", &not_tables),
        )
    }
}

/// Reads what the plan rests on and builds the plan. Names that are not tables are left
/// out of the choice (see [`Gathered::name_problems`]).
pub(crate) fn gather(db: &mut Db<'_>, args: &Args) -> Result<Gathered, ToolError> {
    let lookup: Vec<QualifiedName> = args.named.iter().chain(&args.excepted).cloned().collect();
    let found = db.query(|c| catalog::resolve(c, &lookup))?;
    let mut choice = Choice::default();
    let mut excepted = Vec::new();
    for (i, (name, hit)) in lookup.iter().zip(&found).enumerate() {
        match hit {
            Some(f) if f.kind.is_table() && i < args.named.len() => {
                choice.chosen.insert(f.oid, Origin::Named);
            }
            Some(f) if f.kind.is_table() => excepted.push((f.oid, name.clone())),
            _ => {}
        }
    }
    let mut listing = PresetListing::default();
    if let Some((profile, selection)) = &args.preset {
        let tables = db.query(|c| catalog::schema_tables(c, &args.schema))?;
        listing = select::from_preset(&mut choice, profile, selection, &args.schema, &tables);
    }
    let profile = args.preset.as_ref().map(|(p, _)| p);
    select::apply_excepts(&mut choice, &excepted, profile, &args.schema);

    let facts = Facts::gather(db, &choice)?;
    let plan = plan::build(
        &choice.chosen,
        &choice.kept,
        &facts.closure,
        &facts.relations,
        &facts.sequences,
    );
    Ok(Gathered {
        lookup,
        found,
        listing,
        choice,
        facts,
        plan,
    })
}

//! Lock, then re-check: the plan was made without locks, and while pgtruncate waits for
//! ACCESS EXCLUSIVE a table's owner can still change its tables (a session that already
//! holds a lock on a table is queued ahead of us for a stronger one). So once the locks
//! are held, everything the plan rested on is read again, with the very queries that
//! made the plan, and compared with it; any difference refuses the run (rolled back).

use crate::catalog::{
    self, HeldLocks, Relation, SequenceLink, SequenceUse, SessionInfo, TruncateTrigger,
};
use crate::errors::{act_error, changed_error, interrupted_error};
use crate::gather::{self, Gathered};
use crate::run::{Args, Db};
use crate::truncate::{self, LockRequest};
use conventions::ToolError;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The plan as read again under the locks, equal to the one made before in everything
/// the decision rested on. The transaction is open and the locks are held.
pub(crate) struct Verified {
    pub gathered: Gathered,
}

/// Takes the locks on the planned tables and checks, under them, that nothing the plan
/// rested on changed. On `Ok` the transaction is open (the caller finishes or rolls it
/// back); on any error it has been rolled back and nothing was touched.
pub(crate) fn lock_and_recheck(
    db: &mut Db<'_>,
    args: &Args,
    session: &SessionInfo,
    planned: &Gathered,
    waits_for_caller: bool,
) -> Result<Verified, ToolError> {
    let table_list = planned
        .plan
        .roots
        .iter()
        .filter_map(|o| planned.facts.relations.get(o).map(|r| r.name.sql()))
        .collect::<Vec<_>>()
        .join(", ");
    let request = LockRequest {
        table_list,
        members: &planned.facts.closure.members,
        lock_timeout: args.lock_timeout,
        statement_timeout: args.statement_timeout,
        waits_for_caller,
    };
    truncate::lock(&mut db.conn, session.pid, &request, db.interrupt).map_err(|e| {
        act_error(
            e,
            &planned.facts.relations,
            args.lock_timeout,
            args.statement_timeout,
        )
    })?;
    let verified = recheck(db, args, planned);
    if verified.is_err() {
        if db.interrupt.received().is_some() {
            db.interrupt.disarm();
        }
        truncate::rollback(&mut db.conn);
    }
    verified
}

fn recheck(db: &mut Db<'_>, args: &Args, planned: &Gathered) -> Result<Verified, ToolError> {
    let held = db.query(catalog::held_locks)?;
    let now = gather::gather(db, args)?;
    // The planned tables as they are now, wherever the new plan leaves them.
    let oids: Vec<u32> = planned.facts.relations.keys().copied().collect();
    let again = db.query(|c| catalog::relations(c, &oids))?;
    let changes = differences(planned, &now, &again, &held);
    if !changes.messages.is_empty() {
        return Err(changed_error(
            &changes.messages,
            &changes.added,
            &changes.removed,
        ));
    }
    if let Some(signal) = db.interrupt.received() {
        return Err(interrupted_error(signal, &[], &now.facts.relations));
    }
    Ok(Verified { gathered: now })
}

/// What changed, in words, and the tables that joined or left the closure.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub messages: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Everything the plan rested on, compared: the names given, the preset's choice, the
/// closure and its links, each table's name, kind, owner, privilege and publications,
/// the sequences and who draws on them, the `ON TRUNCATE` triggers with their state, the
/// locks really held, and the plan's own conclusions. `again` holds the planned tables'
/// facts read under the locks.
pub(crate) fn differences(
    planned: &Gathered,
    now: &Gathered,
    again: &HashMap<u32, Relation>,
    held: &HeldLocks,
) -> Changes {
    let names = Names {
        again,
        now: &now.facts.relations,
        planned: &planned.facts.relations,
    };
    let mut c = Changes::default();
    choice_changes(planned, now, &names, &mut c.messages);
    closure_changes(planned, now, &names, &mut c);
    relation_changes(&planned.facts.relations, again, &mut c.messages);
    sequence_changes(
        &planned.facts.sequences,
        &now.facts.sequences,
        &mut c.messages,
    );
    trigger_changes(planned, now, &mut c.messages);
    lock_changes(
        held,
        &planned.facts.closure.members,
        &names,
        &mut c.messages,
    );
    // A safety net over the facts: the conclusions must be the same too.
    let (p, n) = (&planned.plan, &now.plan);
    if c.messages.is_empty()
        && (p.statement != n.statement
            || p.reset_oids != n.reset_oids
            || p.sequences_not_reset != n.sequences_not_reset
            || p.cascade_paths != n.cascade_paths
            || p.no_truncate_privilege != n.no_truncate_privilege
            || p.sequences_not_owned_by_role != n.sequences_not_owned_by_role
            || p.foreign_tables != n.foreign_tables)
    {
        c.messages
            .push("the plan made under the locks differs from the one made before".into());
    }
    c
}

/// A table's name for messages: as it is now, else as it was planned.
struct Names<'a> {
    again: &'a HashMap<u32, Relation>,
    now: &'a HashMap<u32, Relation>,
    planned: &'a HashMap<u32, Relation>,
}

impl Names<'_> {
    fn of(&self, oid: u32) -> String {
        self.again
            .get(&oid)
            .or_else(|| self.now.get(&oid))
            .or_else(|| self.planned.get(&oid))
            .map_or_else(|| format!("oid {oid}"), |r| r.name.to_string())
    }

    fn all<'o>(&self, oids: impl Iterator<Item = &'o u32>) -> Vec<String> {
        oids.map(|o| self.of(*o)).collect()
    }
}

/// The names given on the command line and the preset's choice.
fn choice_changes(planned: &Gathered, now: &Gathered, names: &Names<'_>, out: &mut Vec<String>) {
    for (n, (was, is)) in planned
        .lookup
        .iter()
        .zip(planned.found.iter().zip(&now.found))
    {
        if was.map(|f| f.oid) != is.map(|f| f.oid) {
            out.push(match is {
                Some(f) => format!("{n} now names another relation (oid {})", f.oid),
                None => format!("{n} no longer exists"),
            });
        }
    }
    let chosen = |g: &Gathered| g.choice.chosen.keys().copied().collect::<BTreeSet<u32>>();
    let kept = |g: &Gathered| {
        g.choice
            .kept
            .iter()
            .map(|k| (k.oid, k.reason.clone(), k.absolute))
            .collect::<BTreeSet<_>>()
    };
    let (was, is) = (chosen(planned), chosen(now));
    if was != is {
        out.push(format!(
            "the chosen tables changed (now also: {}; no longer: {})",
            list_or_none(&names.all(is.difference(&was))),
            list_or_none(&names.all(was.difference(&is)))
        ));
    }
    if kept(planned) != kept(now) || planned.listing != now.listing {
        out.push(
            "the preset's listing of the schema changed (tables kept, missing or unclassified)"
                .into(),
        );
    }
}

/// The tables TRUNCATE reaches and the links that bring them in.
fn closure_changes(planned: &Gathered, now: &Gathered, names: &Names<'_>, c: &mut Changes) {
    let (was, is) = (&planned.facts.closure, &now.facts.closure);
    if was.members != is.members {
        c.added = names.all(is.members.difference(&was.members));
        c.removed = names.all(was.members.difference(&is.members));
        c.messages.push(format!(
            "the tables TRUNCATE reaches changed (a foreign key, partition or inheritance child was added or removed: now also {}; no longer {})",
            list_or_none(&c.added),
            list_or_none(&c.removed)
        ));
    } else if was.edges != is.edges {
        c.messages
            .push("the foreign keys or partitions linking the tables changed".into());
    }
}

/// The locks really held: ACCESS EXCLUSIVE on exactly the planned tables.
fn lock_changes(
    held: &HeldLocks,
    members: &BTreeSet<u32>,
    names: &Names<'_>,
    out: &mut Vec<String>,
) {
    let extra = names.all(held.tables.difference(members));
    let missing = names.all(members.difference(&held.tables));
    if !extra.is_empty() {
        out.push(format!(
            "LOCK TABLE took tables the plan does not name: {}",
            extra.join(", ")
        ));
    }
    if !missing.is_empty() {
        out.push(format!(
            "LOCK TABLE did not take planned tables: {}",
            missing.join(", ")
        ));
    }
}

fn list_or_none(list: &[String]) -> String {
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// Per table of the plan (closure and kept): its name, kind, partition status, owner,
/// privilege and publications.
fn relation_changes(
    planned: &HashMap<u32, Relation>,
    again: &HashMap<u32, Relation>,
    out: &mut Vec<String>,
) {
    let mut oids: Vec<&u32> = planned.keys().collect();
    oids.sort_unstable();
    for oid in oids {
        let was = &planned[oid];
        let Some(is) = again.get(oid) else {
            out.push(format!("table {} no longer exists", was.name));
            continue;
        };
        if was.name != is.name {
            out.push(format!("table {} was renamed to {}", was.name, is.name));
        }
        if was.kind != is.kind || was.is_partition != is.is_partition {
            out.push(format!("table {} is now {}", is.name, is.kind.describe()));
        }
        if was.owner != is.owner {
            out.push(format!(
                "table {} changed owner from {} to {}",
                is.name, was.owner, is.owner
            ));
        }
        if was.can_truncate != is.can_truncate {
            out.push(format!("the TRUNCATE privilege on {} changed", is.name));
        }
        if was.publications != is.publications {
            out.push(format!(
                "the publications of {} changed (now: {})",
                is.name,
                list_or_none(&is.publications)
            ));
        }
    }
}

/// The sequences the closure owns or names, and every default drawing on them.
fn sequence_changes(was: &[SequenceUse], is: &[SequenceUse], out: &mut Vec<String>) {
    // `used` is left out: the app may call nextval while we wait, which changes nothing
    // the plan decided.
    type Key = (u32, u32, SequenceLink);
    let by_key = |list: &[SequenceUse]| -> BTreeMap<Key, SequenceUse> {
        list.iter()
            .map(|s| ((s.table, s.sequence, s.link), s.clone()))
            .collect()
    };
    let (was, is) = (by_key(was), by_key(is));
    let describe = |s: &SequenceUse| match s.link {
        SequenceLink::Owned => format!("{} owns sequence {}", s.table_name, s.name),
        SequenceLink::Default => format!(
            "a column default of {} draws on sequence {}",
            s.table_name, s.name
        ),
    };
    for (k, s) in &is {
        match was.get(k) {
            None => out.push(format!("now {}", describe(s))),
            Some(w) if w.name != s.name || w.table_name != s.table_name => {
                out.push(format!("was: {}; now: {}", describe(w), describe(s)))
            }
            Some(w) if w.role_owns != s.role_owns => {
                out.push(format!("the owner of sequence {} changed", s.name))
            }
            Some(_) => {}
        }
    }
    for (k, w) in &was {
        if !is.contains_key(k) {
            out.push(format!("no longer: {}", describe(w)));
        }
    }
}

/// The `ON TRUNCATE` triggers of the closure, each with its state.
fn trigger_changes(planned: &Gathered, now: &Gathered, out: &mut Vec<String>) {
    let key = |t: &TruncateTrigger| (t.table, t.trigger.clone());
    let was: BTreeMap<_, &TruncateTrigger> =
        planned.facts.triggers.iter().map(|t| (key(t), t)).collect();
    for t in &now.facts.triggers {
        let table = now.facts.table_name(t.table);
        match was.get(&key(t)) {
            None => out.push(format!(
                "table {table} has a new ON TRUNCATE trigger {} running {} ({})",
                t.trigger,
                t.function,
                t.state.describe()
            )),
            Some(w) if w.state != t.state => out.push(format!(
                "ON TRUNCATE trigger {} on {table} was {} and is now {}",
                t.trigger,
                w.state.describe(),
                t.state.describe()
            )),
            Some(w) if w.function != t.function => out.push(format!(
                "ON TRUNCATE trigger {} on {table} now runs {}",
                t.trigger, t.function
            )),
            Some(_) => {}
        }
    }
    let is: BTreeSet<_> = now.facts.triggers.iter().map(key).collect();
    for t in &planned.facts.triggers {
        if !is.contains(&key(t)) {
            out.push(format!(
                "ON TRUNCATE trigger {} on {} is gone",
                t.trigger,
                planned.facts.table_name(t.table)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::QualifiedName;

    fn seq_use(table: u32, table_name: &str, link: SequenceLink, used: bool) -> SequenceUse {
        SequenceUse {
            table,
            table_name: QualifiedName::new("public", table_name),
            sequence: 10,
            name: QualifiedName::new("public", "requests_id_seq"),
            link,
            used,
            role_owns: true,
        }
    }

    #[test]
    fn a_new_default_on_a_planned_sequence_is_a_change_and_its_use_is_not() {
        let was = vec![seq_use(1, "requests", SequenceLink::Owned, false)];
        // The app called nextval meanwhile: nothing the plan decided.
        let used = vec![seq_use(1, "requests", SequenceLink::Owned, true)];
        let mut out = Vec::new();
        sequence_changes(&was, &used, &mut out);
        assert!(out.is_empty(), "{out:?}");
        // A kept table's default now draws on it.
        let mut shared = used.clone();
        shared.push(seq_use(2, "ledger", SequenceLink::Default, true));
        sequence_changes(&was, &shared, &mut out);
        assert_eq!(
            out,
            vec!["now a column default of public.ledger draws on sequence public.requests_id_seq"]
        );
    }
}

//! Which sequences the statement resets, and the statement itself. `TRUNCATE ...
//! RESTART IDENTITY` restarts every sequence the emptied tables own, with no exception;
//! when one of them must be left alone the statement says `TRUNCATE` without it and
//! restarts the others one by one.

use crate::catalog::{Closure, SequenceLink, SequenceUse};
use crate::plan::{Plan, SequenceNotReset};
use std::collections::{BTreeMap, BTreeSet};

/// Which sequences the statement resets. A sequence a closure table owns is reset unless
/// a column default of a table outside the closure (any schema) draws from it: the kept
/// table would then be handed ids it already holds. Returns whether a reset sequence was
/// used since its last reset.
pub(crate) fn plan_sequences(
    plan: &mut Plan,
    closure: &Closure,
    sequences: &[SequenceUse],
    name: &dyn Fn(u32) -> String,
) -> bool {
    let inside = |s: &&SequenceUse| closure.members.contains(&s.table);
    let owned: BTreeSet<u32> = sequences
        .iter()
        .filter(inside)
        .filter(|s| s.link == SequenceLink::Owned)
        .map(|s| s.sequence)
        .collect();
    let mut users_outside: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    for s in sequences.iter().filter(|s| {
        s.link == SequenceLink::Default
            && owned.contains(&s.sequence)
            && !closure.members.contains(&s.table)
    }) {
        users_outside
            .entry(s.sequence)
            .or_default()
            .insert(s.table_name.to_string());
    }
    let mut reset = BTreeMap::new();
    let mut not_reset = BTreeMap::new();
    for s in sequences.iter().filter(inside) {
        match s.link {
            SequenceLink::Owned => match users_outside.get(&s.sequence) {
                Some(users) => {
                    let tables: Vec<&str> = users.iter().map(String::as_str).collect();
                    not_reset.insert(
                        (s.name.to_string(), name(s.table)),
                        SequenceNotReset {
                            sequence: s.name.to_string(),
                            table: name(s.table),
                            reason: Some(format!(
                                "used by kept table {}: restarting it would hand out ids that table already holds",
                                tables.join(", ")
                            )),
                        },
                    );
                }
                None => {
                    reset.insert(s.name.to_string(), s);
                }
            },
            SequenceLink::Default if !owned.contains(&s.sequence) => {
                not_reset.insert(
                    (s.name.to_string(), name(s.table)),
                    SequenceNotReset {
                        sequence: s.name.to_string(),
                        table: name(s.table),
                        reason: None,
                    },
                );
            }
            SequenceLink::Default => {}
        }
    }
    plan.sequences_not_owned_by_role = reset
        .values()
        .filter(|s| !s.role_owns)
        .map(|s| s.name.to_string())
        .collect();
    plan.reset_oids = reset.values().map(|s| s.sequence).collect();
    plan.reset_sql = reset.values().map(|s| s.name.sql()).collect();
    let any_used = reset.values().any(|s| s.used);
    plan.sequences_reset = reset.into_keys().collect();
    plan.sequences_not_reset = not_reset.into_values().collect();
    any_used
}

/// The statement, exactly as it is sent: `RESTART IDENTITY` when every owned sequence is
/// to be reset; otherwise a TRUNCATE that resets none and an `ALTER SEQUENCE ... RESTART`
/// for each that is (transactional like the TRUNCATE: a rollback undoes both).
pub(crate) fn statement(tables: &[String], plan: &Plan) -> String {
    let truncate = format!("TRUNCATE TABLE {}", tables.join(", "));
    let withheld = plan.sequences_not_reset.iter().any(|s| s.reason.is_some());
    if !withheld {
        return format!("{truncate} RESTART IDENTITY");
    }
    let mut parts = vec![truncate];
    for seq in &plan.reset_sql {
        parts.push(format!("ALTER SEQUENCE {seq} RESTART"));
    }
    parts.join("; ")
}

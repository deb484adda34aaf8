//! From catalogue facts to a plan: which tables the one TRUNCATE names, which tables the
//! cascade would reach beyond the chosen set (and by which foreign keys), what is kept,
//! which sequences are reset. Pure logic, so it is tested without a database.

use crate::catalog::{Closure, Edge, EdgeKind, Relation, SequenceUse};
use crate::reset;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// Why a table is in the chosen set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Named on the command line.
    Named,
    /// In a selected group of the profile.
    Group(String),
    /// In no group, swept in by `--include-auth`.
    Unclassified,
}

impl Origin {
    fn group(&self) -> Option<String> {
        match self {
            Origin::Group(g) => Some(g.clone()),
            _ => None,
        }
    }
}

/// A table the run must leave alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptTable {
    pub oid: u32,
    pub reason: String,
    pub group: Option<String>,
    /// `--except` and migration bookkeeping: not even `--allow-cascade` may reach it.
    pub absolute: bool,
}

/// One table of the report: a named table, its partitions summed in.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub oid: u32,
    pub table: String,
    pub group: Option<String>,
    pub bytes_before: i64,
    pub rows_estimate: Option<i64>,
    pub partitions: Option<usize>,
    pub via: Option<String>,
    pub reason: Option<String>,
    /// The entry's own relation and its partitions/children, for the sizes after.
    pub relations: Vec<u32>,
}

/// One step of a cascade path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The table reached.
    pub table: String,
    /// From this table...
    pub from: String,
    /// ...by this: `foreign key NAME` (the reached table's constraint referencing
    /// `from`), `partition` or `inheritance child`.
    pub via: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_valid: bool,
}

/// How the cascade would reach a table outside the chosen set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CascadePath {
    pub table: String,
    /// Why that table is not to be truncated.
    pub kept_because: String,
    /// `a -> b (foreign key b_a_fkey) -> c (...)`.
    pub path: String,
    pub steps: Vec<Step>,
}

pub use reports::pgtruncate::SequenceNotReset;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// The tables the TRUNCATE names, in statement order.
    pub roots: Vec<u32>,
    /// Every table the TRUNCATE reaches (roots and their partitions/children).
    pub members: Vec<u32>,
    pub statement: Option<String>,
    pub truncated: Vec<Entry>,
    pub cascaded: Vec<Entry>,
    pub kept: Vec<Entry>,
    pub cascade_paths: Vec<CascadePath>,
    /// The cascade reaches an `--except` or migration table.
    pub reaches_protected: bool,
    pub no_truncate_privilege: Vec<String>,
    pub sequences_not_owned_by_role: Vec<String>,
    pub sequences_reset: Vec<String>,
    /// The sequences the statement resets, by OID.
    pub reset_oids: BTreeSet<u32>,
    /// The same as the statement names them, in `sequences_reset` order.
    pub reset_sql: Vec<String>,
    pub sequences_not_reset: Vec<SequenceNotReset>,
    /// Foreign tables the statement would reach: their TRUNCATE runs on another server.
    pub foreign_tables: Vec<String>,
    pub warnings: Vec<String>,
    /// Some table holds data or some owned sequence was used.
    pub would_change: bool,
}

/// Builds the plan. `relations` must hold every closure member and kept table.
pub fn build(
    chosen: &BTreeMap<u32, Origin>,
    kept: &[KeptTable],
    closure: &Closure,
    relations: &HashMap<u32, Relation>,
    sequences: &[SequenceUse],
) -> Plan {
    let name = |oid: u32| -> String {
        relations
            .get(&oid)
            .map_or_else(|| format!("oid {oid}"), |r| r.name.to_string())
    };
    let by_name = |oids: &mut Vec<u32>| {
        oids.sort_by_cached_key(|o| (relations.get(o).map(|r| r.name.clone()), *o));
        oids.dedup();
    };
    let kept_by_oid: HashMap<u32, &KeptTable> = kept.iter().map(|k| (k.oid, k)).collect();
    // A partition is part of its parent; an inheritance child is a table of its own that
    // `TRUNCATE parent` empties as well, so it must be chosen or reported as a cascade.
    let is_partition = |oid: u32| relations.get(&oid).is_some_and(|r| r.is_partition);
    let partitions: HashMap<u32, Vec<u32>> = closure
        .edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Inherits && is_partition(e.child))
        .fold(HashMap::new(), |mut m, e| {
            m.entry(e.parent).or_default().push(e.child);
            m
        });
    let partition_of_a_member: BTreeSet<u32> = closure
        .edges
        .iter()
        .filter(|e| {
            e.kind == EdgeKind::Inherits
                && is_partition(e.child)
                && closure.members.contains(&e.parent)
        })
        .map(|e| e.child)
        .collect();

    // Covered: chosen tables and their partitions, except protected ones.
    let mut covered: BTreeSet<u32> = chosen.keys().copied().collect();
    let mut queue: VecDeque<u32> = covered.iter().copied().collect();
    while let Some(oid) = queue.pop_front() {
        for &child in partitions.get(&oid).into_iter().flatten() {
            let protected = kept_by_oid.get(&child).is_some_and(|k| k.absolute);
            if !protected && covered.insert(child) {
                queue.push_back(child);
            }
        }
    }
    let outside: BTreeSet<u32> = closure.members.difference(&covered).copied().collect();

    // Breadth-first from the chosen tables: the shortest way to each table.
    let mut seeds: Vec<u32> = chosen.keys().copied().collect();
    by_name(&mut seeds);
    let mut out_edges: HashMap<u32, Vec<&Edge>> = HashMap::new();
    for e in &closure.edges {
        out_edges.entry(e.parent).or_default().push(e);
    }
    let mut pred: HashMap<u32, &Edge> = HashMap::new();
    let mut seen: BTreeSet<u32> = seeds.iter().copied().collect();
    let mut queue: VecDeque<u32> = seeds.iter().copied().collect();
    while let Some(oid) = queue.pop_front() {
        for e in out_edges.get(&oid).into_iter().flatten() {
            if seen.insert(e.child) {
                pred.insert(e.child, e);
                queue.push_back(e.child);
            }
        }
    }
    let path_to = |target: u32| -> Vec<Step> {
        let mut steps = Vec::new();
        let mut at = target;
        while let Some(e) = pred.get(&at) {
            let (via, not_valid) = match &e.kind {
                EdgeKind::ForeignKey {
                    constraint,
                    not_valid,
                } => (format!("foreign key {constraint}"), *not_valid),
                EdgeKind::Inherits => {
                    let partition = relations.get(&e.child).is_some_and(|r| r.is_partition);
                    let via = if partition {
                        "partition"
                    } else {
                        "inheritance child"
                    };
                    (via.to_string(), false)
                }
            };
            steps.push(Step {
                table: name(e.child),
                from: name(e.parent),
                via,
                not_valid,
            });
            at = e.parent;
            if steps.len() > closure.members.len() {
                break; // a cycle cannot happen in a BFS tree; never loop regardless
            }
        }
        steps.reverse();
        steps
    };
    let path_text = |steps: &[Step]| -> String {
        let mut text = steps.first().map(|s| s.from.clone()).unwrap_or_default();
        for s in steps {
            let nv = if s.not_valid { ", NOT VALID" } else { "" };
            text.push_str(&format!(" -> {} ({}{nv})", s.table, s.via));
        }
        text
    };

    let mut plan = Plan::default();
    // One path per outside table, a partition of an outside table counting as part of it.
    let mut path_tops: Vec<u32> = outside
        .iter()
        .copied()
        .filter(|oid| {
            !(is_partition(*oid)
                && closure.edges.iter().any(|e| {
                    e.kind == EdgeKind::Inherits && e.child == *oid && outside.contains(&e.parent)
                }))
        })
        .collect();
    by_name(&mut path_tops);
    let mut via_of: HashMap<u32, String> = HashMap::new();
    for oid in path_tops {
        let steps = path_to(oid);
        let text = path_text(&steps);
        let k = kept_by_oid.get(&oid);
        if k.is_some_and(|k| k.absolute) {
            plan.reaches_protected = true;
        }
        via_of.insert(oid, text.clone());
        plan.cascade_paths.push(CascadePath {
            table: name(oid),
            kept_because: k
                .map_or_else(|| "not in the chosen set".to_string(), |k| k.reason.clone()),
            path: text,
            steps,
        });
    }

    // The statement names every table of the closure but the partitions of its tables.
    let mut roots: Vec<u32> = closure
        .members
        .iter()
        .copied()
        .filter(|o| !partition_of_a_member.contains(o))
        .collect();
    by_name(&mut roots);
    let descendants = |root: u32| -> Vec<u32> {
        let mut out = vec![root];
        let mut i = 0;
        while i < out.len() {
            for &c in partitions.get(&out[i]).into_iter().flatten() {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
            i += 1;
        }
        out
    };
    for &root in &roots {
        let rels = descendants(root);
        let entry = entry_for(root, &rels, relations, &name);
        if covered.contains(&root) {
            plan.truncated.push(Entry {
                group: chosen.get(&root).and_then(|o| o.group()),
                ..entry
            });
        } else {
            plan.cascaded.push(Entry {
                via: via_of.get(&root).cloned(),
                group: kept_by_oid.get(&root).and_then(|k| k.group.clone()),
                reason: kept_by_oid.get(&root).map(|k| k.reason.clone()),
                ..entry
            });
        }
        if relations.get(&root).is_some_and(|r| !r.can_truncate) {
            plan.no_truncate_privilege.push(name(root));
        }
    }
    let mut kept_outside: Vec<&KeptTable> = kept
        .iter()
        .filter(|k| !closure.members.contains(&k.oid))
        .collect();
    kept_outside.sort_by_cached_key(|k| name(k.oid));
    for k in kept_outside {
        plan.kept.push(Entry {
            reason: Some(k.reason.clone()),
            group: k.group.clone(),
            ..entry_for(k.oid, &[k.oid], relations, &name)
        });
    }
    let any_sequence_used = reset::plan_sequences(&mut plan, closure, sequences, &name);
    let mut members: Vec<u32> = closure.members.iter().copied().collect();
    by_name(&mut members);
    for &oid in &members {
        if let Some(r) = relations.get(&oid) {
            if r.kind == crate::catalog::RelKind::ForeignTable {
                plan.foreign_tables.push(r.name.to_string());
            }
            if !r.publications.is_empty() {
                plan.warnings.push(format!(
                    "table {} is in publication {}: TRUNCATE is replicated, so subscribers' copies will be emptied too",
                    r.name,
                    r.publications.join(", ")
                ));
            }
        }
    }
    plan.would_change = any_sequence_used
        || members
            .iter()
            .any(|o| relations.get(o).is_some_and(|r| r.data_bytes > 0));
    if !roots.is_empty() {
        let list: Vec<String> = roots
            .iter()
            .filter_map(|o| relations.get(o).map(|r| r.name.sql()))
            .collect();
        plan.statement = Some(reset::statement(&list, &plan));
    }
    plan.roots = roots;
    plan.members = members;
    plan
}

fn entry_for(
    oid: u32,
    rels: &[u32],
    relations: &HashMap<u32, Relation>,
    name: &dyn Fn(u32) -> String,
) -> Entry {
    let facts: Vec<&Relation> = rels.iter().filter_map(|o| relations.get(o)).collect();
    let bytes_before = facts.iter().map(|r| r.total_bytes).sum();
    // Rows live in leaves: a partitioned parent's own estimate would count them twice.
    let mut rows = Some(0i64);
    for r in facts
        .iter()
        .filter(|r| r.kind != crate::catalog::RelKind::PartitionedTable)
    {
        rows = match rows {
            Some(n) if r.reltuples >= 0.0 => Some(n + r.reltuples.round() as i64),
            // Never analysed: empty when it has no pages, unknown otherwise.
            Some(n) if r.relpages == 0 => Some(n),
            _ => None,
        };
    }
    let partitions = (rels.len() > 1).then(|| rels.len() - 1);
    Entry {
        oid,
        table: name(oid),
        group: None,
        bytes_before,
        rows_estimate: rows,
        partitions,
        via: None,
        reason: None,
        relations: rels.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{RelKind, SequenceLink};
    use crate::names::QualifiedName;

    fn rel(oid: u32, name: &str, kind: RelKind, partition: bool, bytes: i64) -> Relation {
        Relation {
            oid,
            name: QualifiedName::new("public", name),
            kind,
            is_partition: partition,
            total_bytes: bytes,
            data_bytes: bytes,
            reltuples: if kind == RelKind::PartitionedTable {
                -1.0
            } else {
                10.0
            },
            relpages: 1,
            can_truncate: true,
            publications: vec![],
            owner: "app".into(),
        }
    }
    fn fk(parent: u32, child: u32, c: &str) -> Edge {
        Edge {
            parent,
            child,
            kind: EdgeKind::ForeignKey {
                constraint: c.into(),
                not_valid: false,
            },
        }
    }
    fn inh(parent: u32, child: u32) -> Edge {
        Edge {
            parent,
            child,
            kind: EdgeKind::Inherits,
        }
    }
    fn rels(list: Vec<Relation>) -> HashMap<u32, Relation> {
        list.into_iter().map(|r| (r.oid, r)).collect()
    }

    #[test]
    fn partitions_are_summed_into_their_parent() {
        let relations = rels(vec![
            rel(1, "hourly_prices", RelKind::PartitionedTable, false, 0),
            rel(2, "hourly_prices_1", RelKind::Table, true, 100),
            rel(3, "hourly_prices_2", RelKind::Table, true, 50),
        ]);
        let closure = Closure {
            members: [1, 2, 3].into(),
            edges: vec![inh(1, 2), inh(1, 3)],
        };
        let chosen = BTreeMap::from([(1, Origin::Named)]);
        let plan = build(&chosen, &[], &closure, &relations, &[]);
        assert_eq!(plan.roots, vec![1]);
        assert_eq!(plan.truncated.len(), 1);
        assert_eq!(plan.truncated[0].bytes_before, 150);
        assert_eq!(plan.truncated[0].rows_estimate, Some(20));
        assert_eq!(plan.truncated[0].partitions, Some(2));
        assert!(plan.cascade_paths.is_empty());
        assert_eq!(
            plan.statement.as_deref(),
            Some(r#"TRUNCATE TABLE "public"."hourly_prices" RESTART IDENTITY"#)
        );
    }

    #[test]
    fn a_two_hop_cascade_into_kept_tables_is_reported_hop_by_hop() {
        let relations = rels(vec![
            rel(1, "requests", RelKind::Table, false, 10),
            rel(2, "audit", RelKind::Table, false, 10),
            rel(3, "digest", RelKind::Table, false, 10),
        ]);
        let closure = Closure {
            members: [1, 2, 3].into(),
            edges: vec![
                fk(1, 2, "audit_request_fkey"),
                fk(2, 3, "digest_audit_fkey"),
            ],
        };
        let chosen = BTreeMap::from([(1, Origin::Group("runtime".into()))]);
        let kept = vec![KeptTable {
            oid: 3,
            reason: "unclassified".into(),
            group: None,
            absolute: false,
        }];
        let plan = build(&chosen, &kept, &closure, &relations, &[]);
        assert_eq!(plan.cascade_paths.len(), 2);
        let digest = plan
            .cascade_paths
            .iter()
            .find(|p| p.table == "public.digest")
            .unwrap();
        assert_eq!(
            digest.path,
            "public.requests -> public.audit (foreign key audit_request_fkey) -> public.digest (foreign key digest_audit_fkey)"
        );
        assert_eq!(digest.steps.len(), 2);
        assert_eq!(digest.kept_because, "unclassified");
        assert!(!plan.reaches_protected);
        assert_eq!(plan.cascaded.len(), 2);
        assert_eq!(plan.truncated.len(), 1);
        // All three are named: the TRUNCATE never relies on CASCADE.
        assert_eq!(plan.roots.len(), 3);
    }

    #[test]
    fn an_excepted_partition_is_protected() {
        let relations = rels(vec![
            rel(1, "p", RelKind::PartitionedTable, false, 0),
            rel(2, "p_1", RelKind::Table, true, 10),
        ]);
        let closure = Closure {
            members: [1, 2].into(),
            edges: vec![inh(1, 2)],
        };
        let chosen = BTreeMap::from([(1, Origin::Named)]);
        let kept = vec![KeptTable {
            oid: 2,
            reason: "--except".into(),
            group: None,
            absolute: true,
        }];
        let plan = build(&chosen, &kept, &closure, &relations, &[]);
        assert!(plan.reaches_protected);
        assert_eq!(plan.cascade_paths[0].steps[0].via, "partition");
    }

    #[test]
    fn an_inheritance_child_is_a_table_of_its_own_and_a_cascade() {
        let relations = rels(vec![
            rel(1, "requests", RelKind::Table, false, 10),
            rel(2, "requests_archive", RelKind::Table, false, 10),
        ]);
        let closure = Closure {
            members: [1, 2].into(),
            edges: vec![inh(1, 2)],
        };
        let chosen = BTreeMap::from([(1, Origin::Group("runtime".into()))]);
        let kept = vec![KeptTable {
            oid: 2,
            reason: "unclassified".into(),
            group: None,
            absolute: false,
        }];
        let plan = build(&chosen, &kept, &closure, &relations, &[]);
        assert_eq!(plan.cascade_paths.len(), 1);
        assert_eq!(plan.cascade_paths[0].table, "public.requests_archive");
        assert_eq!(
            plan.cascade_paths[0].path,
            "public.requests -> public.requests_archive (inheritance child)"
        );
        assert!(plan.kept.is_empty(), "never kept while emptied");
        assert_eq!(plan.truncated.len(), 1);
        assert_eq!(plan.truncated[0].partitions, None);
        assert_eq!(plan.truncated[0].bytes_before, 10);
        assert_eq!(plan.cascaded.len(), 1);
        assert_eq!(plan.cascaded[0].table, "public.requests_archive");
        assert_eq!(plan.roots, vec![1, 2]);

        // Chosen as well (e.g. swept in by --include-auth): its own truncated entry.
        let both = BTreeMap::from([(1, Origin::Named), (2, Origin::Unclassified)]);
        let plan = build(&both, &[], &closure, &relations, &[]);
        assert!(plan.cascade_paths.is_empty());
        assert_eq!(plan.truncated.len(), 2);
    }

    #[test]
    fn sequences_owned_are_reset_and_defaults_listed() {
        let relations = rels(vec![rel(1, "t", RelKind::Table, false, 0)]);
        let closure = Closure {
            members: [1].into(),
            edges: vec![],
        };
        let seq = |oid, name: &str, link, used| SequenceUse {
            table: 1,
            table_name: QualifiedName::new("public", "t"),
            sequence: oid,
            name: QualifiedName::new("public", name),
            link,
            used,
            role_owns: true,
        };
        let seqs = vec![
            seq(10, "t_id_seq", SequenceLink::Owned, false),
            seq(10, "t_id_seq", SequenceLink::Default, false),
            seq(11, "shared_seq", SequenceLink::Default, true),
        ];
        let chosen = BTreeMap::from([(1, Origin::Named)]);
        let plan = build(&chosen, &[], &closure, &relations, &seqs);
        assert_eq!(plan.sequences_reset, vec!["public.t_id_seq"]);
        assert_eq!(plan.sequences_not_reset.len(), 1);
        assert_eq!(plan.sequences_not_reset[0].sequence, "public.shared_seq");
        // Empty table, unused owned sequence: nothing to change (a used default-only
        // sequence is not reset, so it does not count).
        assert!(!plan.would_change);
    }

    #[test]
    fn an_owned_sequence_a_kept_table_draws_on_is_left_alone_and_the_rest_reset() {
        let relations = rels(vec![
            rel(1, "agent_runs", RelKind::Table, false, 10),
            rel(2, "agent_findings", RelKind::Table, false, 10),
        ]);
        let closure = Closure {
            members: [1, 2].into(),
            edges: vec![fk(1, 2, "agent_findings_run_id_fkey")],
        };
        let use_of = |table: u32, table_name: &str, seq: u32, seq_name: &str, link| SequenceUse {
            table,
            table_name: QualifiedName::new("public", table_name),
            sequence: seq,
            name: QualifiedName::new("public", seq_name),
            link,
            used: true,
            role_owns: true,
        };
        let seqs = vec![
            use_of(
                1,
                "agent_runs",
                10,
                "agent_runs_id_seq",
                SequenceLink::Owned,
            ),
            use_of(
                1,
                "agent_runs",
                10,
                "agent_runs_id_seq",
                SequenceLink::Default,
            ),
            use_of(
                2,
                "agent_findings",
                11,
                "agent_findings_id_seq",
                SequenceLink::Owned,
            ),
            use_of(
                2,
                "agent_findings",
                11,
                "agent_findings_id_seq",
                SequenceLink::Default,
            ),
            // A kept table (outside the closure) draws its ids from agent_runs' sequence.
            use_of(
                9,
                "user_secrets",
                10,
                "agent_runs_id_seq",
                SequenceLink::Default,
            ),
        ];
        let chosen = BTreeMap::from([(1, Origin::Named), (2, Origin::Named)]);
        let plan = build(&chosen, &[], &closure, &relations, &seqs);
        assert_eq!(plan.sequences_reset, vec!["public.agent_findings_id_seq"]);
        assert_eq!(plan.reset_oids, BTreeSet::from([11]));
        assert_eq!(
            plan.sequences_not_reset,
            vec![SequenceNotReset {
                sequence: "public.agent_runs_id_seq".into(),
                table: "public.agent_runs".into(),
                reason: Some(
                    "used by kept table public.user_secrets: restarting it would hand out ids that table already holds"
                        .into()
                ),
            }]
        );
        assert_eq!(
            plan.statement.as_deref(),
            Some(
                r#"TRUNCATE TABLE "public"."agent_findings", "public"."agent_runs"; ALTER SEQUENCE "public"."agent_findings_id_seq" RESTART"#
            )
        );

        // Nobody else draws on them: one TRUNCATE ... RESTART IDENTITY, as before.
        let plan = build(&chosen, &[], &closure, &relations, &seqs[..4]);
        assert_eq!(plan.reset_oids, BTreeSet::from([10, 11]));
        assert!(plan.sequences_not_reset.is_empty());
        assert_eq!(
            plan.statement.as_deref(),
            Some(
                r#"TRUNCATE TABLE "public"."agent_findings", "public"."agent_runs" RESTART IDENTITY"#
            )
        );
    }

    #[test]
    fn a_foreign_table_in_the_closure_is_listed() {
        let relations = rels(vec![
            rel(1, "events", RelKind::PartitionedTable, false, 0),
            rel(2, "events_remote", RelKind::ForeignTable, true, 0),
        ]);
        let closure = Closure {
            members: [1, 2].into(),
            edges: vec![inh(1, 2)],
        };
        let chosen = BTreeMap::from([(1, Origin::Named)]);
        let plan = build(&chosen, &[], &closure, &relations, &[]);
        assert_eq!(plan.foreign_tables, vec!["public.events_remote"]);
    }
}

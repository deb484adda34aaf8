//! The order tables are restored in: every table after the tables its foreign keys
//! reference, so that a load in that order satisfies each key as it goes. Pure logic
//! over the catalogue's facts; unit-tested without a database.

use std::collections::{BTreeMap, BTreeSet};

/// A foreign key between two archived groups (a partitioned table's partitions are one
/// group, loaded together; any other table is its own group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    /// The group holding the foreign key.
    pub referencing: u32,
    /// The group it references.
    pub referenced: u32,
    pub deferrable: bool,
    /// `schema.table.constraint`, for the refusal.
    pub name: String,
}

/// The load order, or the constraints of a cycle no order satisfies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Order {
    /// Groups in load order; `deferred`: a cycle of deferrable keys, checked at commit.
    Ok {
        groups: Vec<u32>,
        deferred: bool,
    },
    Cycle {
        constraints: Vec<String>,
    },
}

/// Orders `groups` (given in a stable order, e.g. by name, which ties keep) so that each
/// comes after the groups it references. A key of a group to itself is checked at the
/// end of its COPY statement and needs no order. When the keys form a cycle, an order
/// that satisfies the keys that cannot be deferred is enough: the deferrable ones are
/// then checked at COMMIT.
pub(crate) fn restore_order(groups: &[u32], keys: &[Key]) -> Order {
    let keys: Vec<&Key> = keys
        .iter()
        .filter(|k| {
            k.referencing != k.referenced
                && groups.contains(&k.referencing)
                && groups.contains(&k.referenced)
        })
        .collect();
    let (order, left) = topological(groups, &keys);
    if left.is_empty() {
        return Order::Ok {
            groups: order,
            deferred: false,
        };
    }
    let immediate: Vec<&Key> = keys.iter().copied().filter(|k| !k.deferrable).collect();
    let (order, left) = topological(groups, &immediate);
    if left.is_empty() {
        return Order::Ok {
            groups: order,
            deferred: true,
        };
    }
    let left = cycles_only(left, &immediate);
    let mut constraints: Vec<String> = immediate
        .iter()
        .filter(|k| left.contains(&k.referencing) && left.contains(&k.referenced))
        .map(|k| k.name.clone())
        .collect();
    constraints.sort();
    constraints.dedup();
    Order::Cycle { constraints }
}

/// Drops from `left` the groups that only depend on a cycle (nobody left references
/// them), so that the refusal names the cycle's keys alone.
fn cycles_only(mut left: BTreeSet<u32>, keys: &[&Key]) -> BTreeSet<u32> {
    loop {
        let referenced: BTreeSet<u32> = keys
            .iter()
            .filter(|k| left.contains(&k.referencing) && left.contains(&k.referenced))
            .map(|k| k.referenced)
            .collect();
        let before = left.len();
        left.retain(|g| referenced.contains(g));
        if left.len() == before {
            return left;
        }
    }
}

/// Kahn's algorithm, ready groups taken by their rank in `groups`: the order, and the
/// groups left over (cycles and what depends on them).
fn topological(groups: &[u32], keys: &[&Key]) -> (Vec<u32>, BTreeSet<u32>) {
    let rank: BTreeMap<u32, usize> = groups.iter().enumerate().map(|(i, g)| (*g, i)).collect();
    // Once per pair: two keys between the same tables are one dependency.
    let mut depends_on: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    let mut needed_by: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    for k in keys {
        depends_on
            .entry(k.referencing)
            .or_default()
            .insert(k.referenced);
        needed_by
            .entry(k.referenced)
            .or_default()
            .insert(k.referencing);
    }
    let mut waiting: BTreeMap<u32, usize> = groups
        .iter()
        .map(|g| (*g, depends_on.get(g).map_or(0, BTreeSet::len)))
        .collect();
    let mut ready: BTreeSet<(usize, u32)> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(g, _)| (rank[g], *g))
        .collect();
    let mut order = Vec::with_capacity(groups.len());
    while let Some((_, g)) = ready.pop_first() {
        waiting.remove(&g);
        order.push(g);
        for dependent in needed_by.get(&g).into_iter().flatten() {
            if let Some(n) = waiting.get_mut(dependent) {
                *n -= 1;
                if *n == 0 {
                    ready.insert((rank[dependent], *dependent));
                }
            }
        }
    }
    (order, waiting.into_keys().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(referencing: u32, referenced: u32, deferrable: bool) -> Key {
        Key {
            referencing,
            referenced,
            deferrable,
            name: format!("fk_{referencing}_{referenced}"),
        }
    }

    #[test]
    fn referenced_tables_come_first_and_ties_keep_the_given_order() {
        // 1 -> 2 -> 3 (1 references 2, which references 3); 4 is free.
        let keys = [key(1, 2, false), key(2, 3, false)];
        assert_eq!(
            restore_order(&[1, 2, 3, 4], &keys),
            Order::Ok {
                groups: vec![3, 2, 1, 4],
                deferred: false
            }
        );
        // No keys: the given order.
        assert_eq!(
            restore_order(&[5, 4, 9], &[]),
            Order::Ok {
                groups: vec![5, 4, 9],
                deferred: false
            }
        );
    }

    #[test]
    fn a_self_reference_and_keys_to_tables_outside_need_no_order() {
        let keys = [key(1, 1, false), key(2, 77, false), key(2, 1, false)];
        assert_eq!(
            restore_order(&[2, 1], &keys),
            Order::Ok {
                groups: vec![1, 2],
                deferred: false
            }
        );
    }

    #[test]
    fn a_cycle_is_refused_unless_every_key_in_it_is_deferrable() {
        let cycle = [
            key(1, 2, false),
            key(2, 3, false),
            key(3, 1, true),
            key(4, 1, false),
        ];
        assert_eq!(
            restore_order(&[1, 2, 3, 4], &cycle),
            Order::Ok {
                groups: vec![3, 2, 1, 4],
                deferred: true
            }
        );
        let immediate = [key(1, 2, false), key(2, 1, false), key(3, 1, false)];
        assert_eq!(
            restore_order(&[1, 2, 3], &immediate),
            Order::Cycle {
                constraints: vec!["fk_1_2".into(), "fk_2_1".into()]
            }
        );
        let deferrable = [
            key(1, 2, true),
            key(2, 1, true),
            key(3, 1, false),
            key(4, 5, false),
        ];
        assert_eq!(
            restore_order(&[1, 2, 3, 4, 5], &deferrable),
            Order::Ok {
                groups: vec![1, 2, 3, 5, 4],
                deferred: true
            }
        );
    }
}

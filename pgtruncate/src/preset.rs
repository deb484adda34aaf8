//! Built-in table catalogues. One for now: `cornice`, the runbook's
//! `clear_runtime_data.py`.

pub use reports::pgtruncate::{Group, Preset};

/// The migration bookkeeping no preset ever truncates.
pub const MIGRATION_TABLES: [&str; 1] = ["alembic_version"];

/// What a preset holds: its groups' tables. (The enums themselves are report types.)
pub trait Catalogue {
    /// The groups a run truncates when none is added.
    fn default_groups(self) -> &'static [Group];
    /// The tables of a group, unqualified (they live in `--schema`).
    fn tables(self, group: Group) -> &'static [&'static str];
    /// The group a table belongs to, if any.
    fn group_of(self, table: &str) -> Option<Group>;
}

impl Catalogue for Preset {
    fn default_groups(self) -> &'static [Group] {
        match self {
            Preset::Cornice => &[Group::Runtime],
        }
    }

    fn tables(self, group: Group) -> &'static [&'static str] {
        match (self, group) {
            (Preset::Cornice, Group::Runtime) => &[
                "execution_orders",
                "executions",
                "simulator_trades",
                "simulator_runs",
                "agent_findings",
                "agent_runs",
                "opportunity_observations",
                "hourly_prices",
                "market_snapshots",
                "orderbook_snapshots",
                "requests",
                "arb_go_signals",
                "arb_observations",
            ],
            (Preset::Cornice, Group::Opportunities) => &["opportunities"],
            (Preset::Cornice, Group::Auth) => &["users", "user_profiles", "user_secrets"],
            (Preset::Cornice, Group::Catalogs) => &[
                "global_markets",
                "markets",
                "market_links",
                "arb_monitor_profiles",
                "arb_opportunity_instances",
                "arb_opportunity_legs",
            ],
        }
    }

    fn group_of(self, table: &str) -> Option<Group> {
        Group::ALL
            .into_iter()
            .find(|g| self.tables(*g).contains(&table))
    }
}

/// What a preset run selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub groups: Vec<Group>,
    /// `--include-auth`: every group and every unclassified table too.
    pub everything: bool,
}

impl Selection {
    pub fn new(preset: Preset, include: &[Group], opportunities: bool, auth: bool) -> Selection {
        let mut groups: Vec<Group> = preset.default_groups().to_vec();
        groups.extend_from_slice(include);
        if opportunities {
            groups.push(Group::Opportunities);
        }
        if auth {
            groups.extend(Group::ALL);
        }
        groups.sort();
        groups.dedup();
        Selection {
            groups,
            everything: auth,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runbook_flags() {
        let p = Preset::Cornice;
        assert_eq!(
            Selection::new(p, &[], false, false).groups,
            vec![Group::Runtime]
        );
        assert_eq!(
            Selection::new(p, &[], true, false).groups,
            vec![Group::Runtime, Group::Opportunities]
        );
        let all = Selection::new(p, &[], true, true);
        assert_eq!(all.groups, Group::ALL.to_vec());
        assert!(all.everything);
        assert_eq!(
            Selection::new(p, &[Group::Catalogs], false, false).groups,
            vec![Group::Runtime, Group::Catalogs]
        );
    }

    #[test]
    fn groups_are_disjoint_and_keep_migrations_out() {
        let p = Preset::Cornice;
        let mut all: Vec<&str> = Group::ALL
            .iter()
            .flat_map(|g| p.tables(*g).to_vec())
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "a table is in two groups");
        assert_eq!(n, 23);
        assert!(!all.contains(&"alembic_version"));
        assert_eq!(p.group_of("requests"), Some(Group::Runtime));
        assert_eq!(p.group_of("users"), Some(Group::Auth));
        assert_eq!(p.group_of("alembic_version"), None);
    }
}

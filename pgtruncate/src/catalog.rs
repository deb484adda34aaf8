//! The catalogue queries. Each takes whole arrays of OIDs, so the number of queries is
//! the same for 3 tables or 3,000.

use crate::names::QualifiedName;
use postgres::types::Type;
use postgres::{Client, Error};
use std::collections::{BTreeSet, HashMap};

/// Facts about the session, read once.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub in_recovery: bool,
    pub user: String,
    pub pid: i32,
}

pub fn session_info(client: &mut Client) -> Result<SessionInfo, Error> {
    let row = client.query_typed_one(
        "SELECT pg_catalog.pg_is_in_recovery(), current_user::pg_catalog.text,
                pg_catalog.pg_backend_pid()",
        &[],
    )?;
    Ok(SessionInfo {
        in_recovery: row.get(0),
        user: row.get(1),
        pid: row.get(2),
    })
}

/// What a name found in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub oid: u32,
    pub kind: RelKind,
}

/// `pg_class.relkind`, as far as pgtruncate cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelKind {
    Table,
    PartitionedTable,
    ForeignTable,
    View,
    MaterializedView,
    Sequence,
    Other,
}

impl RelKind {
    fn from_code(code: &str) -> RelKind {
        match code {
            "r" => RelKind::Table,
            "p" => RelKind::PartitionedTable,
            "f" => RelKind::ForeignTable,
            "v" => RelKind::View,
            "m" => RelKind::MaterializedView,
            "S" => RelKind::Sequence,
            _ => RelKind::Other,
        }
    }

    pub fn is_table(self) -> bool {
        matches!(self, RelKind::Table | RelKind::PartitionedTable)
    }

    pub fn describe(self) -> &'static str {
        match self {
            RelKind::Table => "a table",
            RelKind::PartitionedTable => "a partitioned table",
            RelKind::ForeignTable => "a foreign table",
            RelKind::View => "a view",
            RelKind::MaterializedView => "a materialized view",
            RelKind::Sequence => "a sequence",
            RelKind::Other => "not a table (an index or composite type)",
        }
    }
}

/// Resolves names to OIDs by exact match, in one query; `None` where nothing has the name.
pub fn resolve(client: &mut Client, names: &[QualifiedName]) -> Result<Vec<Option<Found>>, Error> {
    // A preset alone names no table: no round trip.
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let schemas: Vec<&str> = names.iter().map(|n| n.schema.as_str()).collect();
    let rels: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
    let rows = client.query_typed(
        "SELECT r.ord::pg_catalog.int8, c.oid, c.relkind::pg_catalog.text
           FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]),
                          pg_catalog.unnest($2::pg_catalog.text[]))
                WITH ORDINALITY AS r(nsp, rel, ord)
           JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) r.nsp
           JOIN pg_catalog.pg_class c
             ON c.relnamespace OPERATOR(pg_catalog.=) n.oid
            AND c.relname OPERATOR(pg_catalog.=) r.rel",
        &[(&schemas, Type::TEXT_ARRAY), (&rels, Type::TEXT_ARRAY)],
    )?;
    let mut found = vec![None; names.len()];
    for row in rows {
        let ord: i64 = row.get(0);
        let kind: String = row.get(2);
        if let Some(slot) = usize::try_from(ord - 1).ok().and_then(|i| found.get_mut(i)) {
            *slot = Some(Found {
                oid: row.get(1),
                kind: RelKind::from_code(&kind),
            });
        }
    }
    Ok(found)
}

/// A table a preset may classify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaTable {
    pub name: String,
    pub oid: u32,
    /// The extension the table belongs to (`pg_depend` deptype `e`), if any.
    pub extension: Option<String>,
}

/// The schema's tables that a preset may classify: ordinary and partitioned tables that
/// are not themselves partitions, by name.
pub fn schema_tables(client: &mut Client, schema: &str) -> Result<Vec<SchemaTable>, Error> {
    let rows = client.query_typed(
        "SELECT c.relname::pg_catalog.text, c.oid,
                (SELECT x.extname::pg_catalog.text
                   FROM pg_catalog.pg_depend d
                   JOIN pg_catalog.pg_extension x ON x.oid OPERATOR(pg_catalog.=) d.refobjid
                  WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                    AND d.objid OPERATOR(pg_catalog.=) c.oid
                    AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
                    AND d.deptype OPERATOR(pg_catalog.=) 'e'
                  LIMIT 1)
           FROM pg_catalog.pg_class c
           JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
          WHERE n.nspname OPERATOR(pg_catalog.=) $1
            AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}'::pg_catalog.\"char\"[])
            AND NOT c.relispartition
          ORDER BY 1",
        &[(&schema, Type::NAME)],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| SchemaTable {
            name: r.get(0),
            oid: r.get(1),
            extension: r.get(2),
        })
        .collect())
}

/// How a table is reached from the one before it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum EdgeKind {
    /// `child` has a foreign key (this constraint) referencing `parent`.
    ForeignKey { constraint: String, not_valid: bool },
    /// `child` is a partition or an inheritance child of `parent`.
    Inherits,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub parent: u32,
    pub child: u32,
    pub kind: EdgeKind,
}

/// Every table a `TRUNCATE ... CASCADE` of the seeds would reach, with the edges that
/// bring each one in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Closure {
    pub members: BTreeSet<u32>,
    pub edges: Vec<Edge>,
}

/// The closure in one recursive query: foreign keys (NOT VALID ones too: TRUNCATE
/// honours them) from referenced to referencing table, and `pg_inherits` from parent to
/// partition or child. `UNION` keeps each edge once, so cycles end and the work grows
/// with the edges reached, not with the paths through them.
pub const CLOSURE_SQL: &str = r#"
WITH RECURSIVE edges AS (
    SELECT con.confrelid AS parent, con.conrelid AS child,
           con.conname::pg_catalog.text AS via, NOT con.convalidated AS not_valid
      FROM pg_catalog.pg_constraint con
     WHERE con.contype OPERATOR(pg_catalog.=) 'f'
    UNION ALL
    SELECT i.inhparent, i.inhrelid, NULL::pg_catalog.text COLLATE pg_catalog."C", false
      FROM pg_catalog.pg_inherits i
), reach(parent, child, via, not_valid) AS (
    SELECT NULL::pg_catalog.oid, s.oid, NULL::pg_catalog.text COLLATE pg_catalog."C", false
      FROM pg_catalog.unnest($1::pg_catalog.oid[]) AS s(oid)
    UNION
    SELECT e.parent, e.child, e.via, e.not_valid
      FROM reach r
      JOIN edges e ON e.parent OPERATOR(pg_catalog.=) r.child
)
SELECT parent, child, via, not_valid FROM reach"#;

pub fn closure(client: &mut Client, seeds: &[u32]) -> Result<Closure, Error> {
    let rows = client.query_typed(CLOSURE_SQL, &[(&seeds, Type::OID_ARRAY)])?;
    let mut closure = Closure::default();
    for row in rows {
        let parent: Option<u32> = row.get(0);
        let child: u32 = row.get(1);
        closure.members.insert(child);
        if let Some(parent) = parent {
            let via: Option<String> = row.get(2);
            let kind = match via {
                Some(constraint) => EdgeKind::ForeignKey {
                    constraint,
                    not_valid: row.get(3),
                },
                None => EdgeKind::Inherits,
            };
            closure.edges.push(Edge {
                parent,
                child,
                kind,
            });
        }
    }
    closure.edges.sort();
    Ok(closure)
}

/// One relation's facts for the plan and the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    pub oid: u32,
    pub name: QualifiedName,
    pub kind: RelKind,
    pub is_partition: bool,
    /// `pg_total_relation_size`: heap, indexes, TOAST (0 for a partitioned parent).
    pub total_bytes: i64,
    /// The heap's main fork: 0 when there is no row left to truncate (TRUNCATE leaves
    /// it empty; a TOASTed value always has its row in the heap).
    pub data_bytes: i64,
    /// `pg_class.reltuples`: -1 when never vacuumed or analyzed.
    pub reltuples: f64,
    pub relpages: i32,
    pub can_truncate: bool,
    pub publications: Vec<String>,
    /// The owning role's name.
    pub owner: String,
}

pub fn relations(client: &mut Client, oids: &[u32]) -> Result<HashMap<u32, Relation>, Error> {
    let rows = client.query_typed(
        "WITH pubs AS MATERIALIZED (
             SELECT schemaname, tablename, pubname::pg_catalog.text
               FROM pg_catalog.pg_publication_tables)
         SELECT c.oid, n.nspname::pg_catalog.text, c.relname::pg_catalog.text,
                c.relkind::pg_catalog.text, c.relispartition,
                pg_catalog.pg_total_relation_size(c.oid),
                pg_catalog.pg_relation_size(c.oid),
                c.reltuples::pg_catalog.float8, c.relpages::pg_catalog.int4,
                pg_catalog.has_table_privilege(c.oid, 'TRUNCATE'),
                ARRAY(SELECT p.pubname FROM pubs p
                       WHERE p.schemaname OPERATOR(pg_catalog.=) n.nspname
                         AND p.tablename OPERATOR(pg_catalog.=) c.relname
                       ORDER BY 1),
                pg_catalog.pg_get_userbyid(c.relowner)::pg_catalog.text
           FROM pg_catalog.unnest($1::pg_catalog.oid[]) AS o(oid)
           JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) o.oid
           JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace",
        &[(&oids, Type::OID_ARRAY)],
    )?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let kind: String = row.get(3);
            let rel = Relation {
                oid: row.get(0),
                name: QualifiedName::new(row.get::<_, String>(1), row.get::<_, String>(2)),
                kind: RelKind::from_code(&kind),
                is_partition: row.get(4),
                total_bytes: row.get::<_, Option<i64>>(5).unwrap_or(0),
                data_bytes: row.get::<_, Option<i64>>(6).unwrap_or(0),
                reltuples: row.get(7),
                relpages: row.get(8),
                can_truncate: row.get(9),
                publications: row.get(10),
                owner: row.get(11),
            };
            (rel.oid, rel)
        })
        .collect())
}

/// When a trigger fires (`pg_trigger.tgenabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TriggerState {
    /// `O`: in the default `session_replication_role` (origin, local).
    Enabled,
    /// `R`: only when `session_replication_role` is `replica`.
    Replica,
    /// `A`: always.
    Always,
    /// `D`: never.
    Disabled,
}

impl TriggerState {
    fn from_code(code: &str) -> TriggerState {
        match code {
            "D" => TriggerState::Disabled,
            "R" => TriggerState::Replica,
            "A" => TriggerState::Always,
            // `O`, and anything newer: counted as firing.
            _ => TriggerState::Enabled,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            TriggerState::Enabled => "enabled",
            TriggerState::Replica => "enabled for replicas",
            TriggerState::Always => "enabled always",
            TriggerState::Disabled => "disabled",
        }
    }
}

/// A user-defined `ON TRUNCATE` trigger: its function would run with the caller's rights.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TruncateTrigger {
    pub table: u32,
    pub trigger: String,
    /// `schema.name(argument types)`.
    pub function: String,
    pub state: TriggerState,
}

impl TruncateTrigger {
    /// Whether TRUNCATE may fire it: every state but disabled, whatever this session's
    /// `session_replication_role` (which a later session may set otherwise).
    pub fn fires(&self) -> bool {
        self.state != TriggerState::Disabled
    }
}

/// Every user-defined `ON TRUNCATE` trigger of `tables`, disabled ones included (enabling
/// one is a change the re-check under the lock must see).
pub fn truncate_triggers(
    client: &mut Client,
    tables: &[u32],
) -> Result<Vec<TruncateTrigger>, Error> {
    // TRIGGER_TYPE_TRUNCATE is bit 5 of tgtype.
    let rows = client.query_typed(
        "SELECT t.tgrelid, t.tgname::pg_catalog.text,
                pg_catalog.format('%I.%I(%s)', n.nspname, p.proname,
                                  pg_catalog.oidvectortypes(p.proargtypes)),
                t.tgenabled::pg_catalog.text
           FROM pg_catalog.pg_trigger t
           JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) t.tgfoid
           JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
          WHERE t.tgrelid OPERATOR(pg_catalog.=) ANY ($1)
            AND NOT t.tgisinternal
            AND (t.tgtype::pg_catalog.int4 OPERATOR(pg_catalog.&) 32) OPERATOR(pg_catalog.<>) 0
          ORDER BY t.tgrelid, t.tgname",
        &[(&tables, Type::OID_ARRAY)],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| TruncateTrigger {
            table: r.get(0),
            trigger: r.get(1),
            function: r.get(2),
            state: TriggerState::from_code(&r.get::<_, String>(3)),
        })
        .collect())
}

/// How a sequence relates to a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SequenceLink {
    /// Owned by one of the table's columns (serial, identity, OWNED BY): RESTART
    /// IDENTITY resets it.
    Owned,
    /// Named in a column default: PostgreSQL does not reset it for this table.
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceUse {
    pub table: u32,
    /// The table's name: it may be outside the closure (a default using a sequence a
    /// closure table owns), where the relation facts do not reach.
    pub table_name: QualifiedName,
    pub sequence: u32,
    pub name: QualifiedName,
    pub link: SequenceLink,
    /// `nextval` has been called since the last reset.
    pub used: bool,
    /// The role owns it (RESTART IDENTITY requires that).
    pub role_owns: bool,
}

/// The sequences `tables` own or name in a column default, and every column default of
/// any table, in any schema, that names a sequence `tables` own.
pub fn sequences(client: &mut Client, tables: &[u32]) -> Result<Vec<SequenceUse>, Error> {
    let rows = client.query_typed(
        "WITH owned AS MATERIALIZED (
             SELECT d.refobjid AS table_oid, d.objid AS seq_oid
               FROM pg_catalog.pg_depend d
              WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                AND d.deptype OPERATOR(pg_catalog.=) ANY ('{a,i}'::pg_catalog.\"char\"[])
                AND d.refobjid OPERATOR(pg_catalog.=) ANY ($1)
         ), links AS (
             SELECT o.table_oid, o.seq_oid, 'owned'::pg_catalog.text AS link FROM owned o
             UNION
             SELECT ad.adrelid, d.refobjid, 'default'::pg_catalog.text
               FROM pg_catalog.pg_attrdef ad
               JOIN pg_catalog.pg_depend d
                 ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass
                AND d.objid OPERATOR(pg_catalog.=) ad.oid
                AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
              WHERE ad.adrelid OPERATOR(pg_catalog.=) ANY ($1)
                 OR d.refobjid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT o.seq_oid FROM owned o)))
         SELECT l.table_oid, s.oid, n.nspname::pg_catalog.text, s.relname::pg_catalog.text,
                l.link,
                (CASE WHEN pg_catalog.has_sequence_privilege(s.oid, 'SELECT,USAGE')
                      THEN pg_catalog.pg_sequence_last_value(s.oid) END) IS NOT NULL,
                pg_catalog.pg_has_role(s.relowner, 'USAGE'),
                tn.nspname::pg_catalog.text, t.relname::pg_catalog.text
           FROM links l
           JOIN pg_catalog.pg_class s
             ON s.oid OPERATOR(pg_catalog.=) l.seq_oid AND s.relkind OPERATOR(pg_catalog.=) 'S'
           JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) s.relnamespace
           JOIN pg_catalog.pg_class t ON t.oid OPERATOR(pg_catalog.=) l.table_oid
           JOIN pg_catalog.pg_namespace tn ON tn.oid OPERATOR(pg_catalog.=) t.relnamespace
          ORDER BY l.table_oid, s.oid, l.link",
        &[(&tables, Type::OID_ARRAY)],
    )?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let link: String = row.get(4);
            SequenceUse {
                table: row.get(0),
                table_name: QualifiedName::new(row.get::<_, String>(7), row.get::<_, String>(8)),
                sequence: row.get(1),
                name: QualifiedName::new(row.get::<_, String>(2), row.get::<_, String>(3)),
                link: if link == "owned" {
                    SequenceLink::Owned
                } else {
                    SequenceLink::Default
                },
                used: row.get(5),
                role_owns: row.get(6),
            }
        })
        .collect())
}

/// The relations this session holds a lock on that changes them: ACCESS EXCLUSIVE on
/// tables (what LOCK TABLE and TRUNCATE take), and on sequences the modes that ALTER
/// SEQUENCE and TRUNCATE ... RESTART IDENTITY take (not the ROW EXCLUSIVE that reading
/// `pg_sequence_last_value` takes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldLocks {
    pub tables: BTreeSet<u32>,
    pub sequences: BTreeSet<u32>,
}

pub fn held_locks(client: &mut Client) -> Result<HeldLocks, Error> {
    let rows = client.query_typed(
        "SELECT l.relation, c.relkind OPERATOR(pg_catalog.=) 'S'
           FROM pg_catalog.pg_locks l
           JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) l.relation
          WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
            AND l.locktype OPERATOR(pg_catalog.=) 'relation'
            AND l.granted
            AND ((c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,f}'::pg_catalog.\"char\"[])
                  AND l.mode OPERATOR(pg_catalog.=) 'AccessExclusiveLock')
              OR (c.relkind OPERATOR(pg_catalog.=) 'S'
                  AND l.mode OPERATOR(pg_catalog.=) ANY (
                      '{AccessExclusiveLock,ShareRowExclusiveLock}'::pg_catalog.text[])))",
        &[],
    )?;
    let mut held = HeldLocks::default();
    for row in rows {
        let oid: u32 = row.get(0);
        if row.get::<_, bool>(1) {
            held.sequences.insert(oid);
        } else {
            held.tables.insert(oid);
        }
    }
    Ok(held)
}

/// `pg_total_relation_size` of each relation, after the commit.
pub fn sizes(client: &mut Client, oids: &[u32]) -> Result<HashMap<u32, i64>, Error> {
    let rows = client.query_typed(
        "SELECT o.oid, pg_catalog.pg_total_relation_size(o.oid)
           FROM pg_catalog.unnest($1::pg_catalog.oid[]) AS o(oid)",
        &[(&oids, Type::OID_ARRAY)],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| (r.get(0), r.get::<_, Option<i64>>(1).unwrap_or(0)))
        .collect())
}

/// A session that holds or waits for a lock this run needs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Blocker {
    pub pid: i32,
    pub user: Option<String>,
    pub application_name: Option<String>,
    pub state: Option<String>,
    /// Seconds since its transaction began.
    pub transaction_age_s: Option<f64>,
    /// Seconds in its current state (e.g. idle in transaction).
    pub state_age_s: Option<f64>,
    /// Its last query, cut short.
    pub query: Option<String>,
    /// One of our tables it holds a lock on, when known.
    pub table: Option<String>,
    #[serde(skip)]
    pub table_oid: Option<u32>,
}

/// The columns of a blocker row; `{tables}` is the parameter holding our tables' OIDs.
const BLOCKER_COLUMNS: &str = "
    a.pid, a.usename::pg_catalog.text, a.application_name, a.state,
    pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) a.xact_start)::pg_catalog.float8,
    pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) a.state_change)::pg_catalog.float8,
    pg_catalog.left(a.query, 160),
    (SELECT l.relation FROM pg_catalog.pg_locks l
      WHERE l.pid OPERATOR(pg_catalog.=) a.pid AND l.relation OPERATOR(pg_catalog.=) ANY ({tables})
      ORDER BY l.granted DESC, l.relation LIMIT 1)";

/// The sessions `pg_blocking_pids` says block `waiting_pid` now.
pub fn blocking_sessions(
    client: &mut Client,
    waiting_pid: i32,
    tables: &[u32],
) -> Result<Vec<Blocker>, Error> {
    let sql = format!(
        "SELECT {} FROM pg_catalog.pg_stat_activity a
          WHERE a.pid OPERATOR(pg_catalog.=) ANY (pg_catalog.pg_blocking_pids($1))
          ORDER BY a.xact_start NULLS LAST, a.pid",
        BLOCKER_COLUMNS.replace("{tables}", "$2")
    );
    let rows = client.query(&sql, &[&waiting_pid, &tables])?;
    Ok(rows.iter().map(blocker_from_row).collect())
}

/// After the wait is over `pg_blocking_pids` has nothing to say: the sessions that hold
/// or wait for a lock on one of `tables` (every mode conflicts with TRUNCATE's). With no
/// tables: the sessions holding an ACCESS EXCLUSIVE lock on a relation of this database.
pub fn lock_holders(client: &mut Client, tables: &[u32]) -> Result<Vec<Blocker>, Error> {
    let sql = format!(
        "SELECT {} FROM pg_catalog.pg_stat_activity a
          WHERE a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
            AND a.pid OPERATOR(pg_catalog.=) ANY (
                SELECT l.pid FROM pg_catalog.pg_locks l
                 WHERE l.relation OPERATOR(pg_catalog.=) ANY ($1)
                    OR (pg_catalog.cardinality($1) OPERATOR(pg_catalog.=) 0
                        AND l.mode OPERATOR(pg_catalog.=) 'AccessExclusiveLock'
                        AND l.locktype OPERATOR(pg_catalog.=) 'relation'
                        AND l.database OPERATOR(pg_catalog.=) (
                            SELECT d.oid FROM pg_catalog.pg_database d
                             WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())))
          ORDER BY a.xact_start NULLS LAST, a.pid",
        BLOCKER_COLUMNS.replace("{tables}", "$1")
    );
    let rows = client.query(&sql, &[&tables])?;
    Ok(rows.iter().map(blocker_from_row).collect())
}

fn blocker_from_row(row: &postgres::Row) -> Blocker {
    Blocker {
        pid: row.get(0),
        user: row.get(1),
        application_name: row.get(2),
        state: row.get(3),
        transaction_age_s: row.get::<_, Option<f64>>(4).map(round_tenths),
        state_age_s: row.get::<_, Option<f64>>(5).map(round_tenths),
        query: row
            .get::<_, Option<String>>(6)
            .map(|q| crate::redact::redact_literals(&q)),
        table: None,
        table_oid: row.get(7),
    }
}

fn round_tenths(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relkind_helpers() {
        assert!(RelKind::PartitionedTable.is_table());
        assert!(!RelKind::View.is_table());
        assert_eq!(RelKind::View.describe(), "a view");
    }
}

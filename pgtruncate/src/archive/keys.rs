//! `--undo`'s foreign keys in bulk. Checking each loaded row's keys as COPY goes (one
//! index probe per row and key, by trigger) is most of a restore's time; a superuser
//! session can load with `session_replication_role = replica`, which fires no such
//! trigger, and then prove every foreign key of the loaded tables with one anti-join
//! each, all in one statement, before COMMIT. A violation fails the restore, rolled back,
//! as the row-by-row check would have.

use postgres::Client;

/// One foreign key of a loaded table, as SQL pieces (identifiers already quoted).
struct Key {
    /// `schema.table.constraint`, for the message.
    name: String,
    /// `"s"."t"`, the table holding the key.
    child: String,
    /// `ONLY "s"."t"` (or the partitioned table, without ONLY), the referenced table.
    parent: String,
    child_columns: Vec<String>,
    parent_columns: Vec<String>,
    /// `OPERATOR("pg_catalog".=)`, per column: the constraint's own equality operators.
    operators: Vec<String>,
    /// MATCH FULL (else MATCH SIMPLE: a key with a NULL column is not checked).
    full: bool,
}

/// Whether this session may skip the per-row checks: `session_replication_role` is a
/// superuser's setting.
pub(crate) fn can_defer_to_bulk(client: &mut Client) -> Result<bool, postgres::Error> {
    let row = client.query_one(
        "SELECT pg_catalog.current_setting('is_superuser') OPERATOR(pg_catalog.=) 'on'",
        &[],
    )?;
    Ok(row.get(0))
}

/// The foreign keys of `tables` (the referencing side; the constraint cloned onto a
/// partition counts, the clones that point at each partition of a referenced
/// partitioned table do not: the key's own row points at the whole table).
fn keys(client: &mut Client, tables: &[u32]) -> Result<Vec<Key>, postgres::Error> {
    let rows = client.query(
        "SELECT pg_catalog.format('%I.%I.%I', cn.nspname, cc.relname, k.conname),
                pg_catalog.format('%I.%I', cn.nspname, cc.relname),
                pg_catalog.format(CASE WHEN fc.relkind OPERATOR(pg_catalog.=) 'p'
                                       THEN '%I.%I' ELSE 'ONLY %I.%I' END,
                                  fn.nspname, fc.relname),
                ARRAY(SELECT pg_catalog.format('%I', a.attname)
                        FROM pg_catalog.unnest(k.conkey) WITH ORDINALITY AS u(n, i)
                        JOIN pg_catalog.pg_attribute a
                          ON a.attrelid OPERATOR(pg_catalog.=) k.conrelid
                         AND a.attnum OPERATOR(pg_catalog.=) u.n
                       ORDER BY u.i),
                ARRAY(SELECT pg_catalog.format('%I', a.attname)
                        FROM pg_catalog.unnest(k.confkey) WITH ORDINALITY AS u(n, i)
                        JOIN pg_catalog.pg_attribute a
                          ON a.attrelid OPERATOR(pg_catalog.=) k.confrelid
                         AND a.attnum OPERATOR(pg_catalog.=) u.n
                       ORDER BY u.i),
                ARRAY(SELECT pg_catalog.format('OPERATOR(%I.%s)', n.nspname, o.oprname)
                        FROM pg_catalog.unnest(k.conpfeqop) WITH ORDINALITY AS u(op, i)
                        JOIN pg_catalog.pg_operator o ON o.oid OPERATOR(pg_catalog.=) u.op
                        JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) o.oprnamespace
                       ORDER BY u.i),
                k.confmatchtype OPERATOR(pg_catalog.=) 'f'
           FROM pg_catalog.pg_constraint k
           JOIN pg_catalog.pg_class cc ON cc.oid OPERATOR(pg_catalog.=) k.conrelid
           JOIN pg_catalog.pg_namespace cn ON cn.oid OPERATOR(pg_catalog.=) cc.relnamespace
           JOIN pg_catalog.pg_class fc ON fc.oid OPERATOR(pg_catalog.=) k.confrelid
           JOIN pg_catalog.pg_namespace fn ON fn.oid OPERATOR(pg_catalog.=) fc.relnamespace
          WHERE k.contype OPERATOR(pg_catalog.=) 'f'
            AND k.conrelid OPERATOR(pg_catalog.=) ANY ($1)
            AND (k.conparentid OPERATOR(pg_catalog.=) 0 OR NOT fc.relispartition)
          ORDER BY 1",
        &[&tables],
    )?;
    Ok(rows
        .iter()
        .map(|r| Key {
            name: r.get(0),
            child: r.get(1),
            parent: r.get(2),
            child_columns: r.get(3),
            parent_columns: r.get(4),
            operators: r.get(5),
            full: r.get(6),
        })
        .collect())
}

impl Key {
    /// `SELECT i FROM child c WHERE <a row whose key has no referenced row> LIMIT 1`.
    fn violation_query(&self, i: usize) -> String {
        let cols = |f: &dyn Fn(&str) -> String, join: &str| -> String {
            self.child_columns
                .iter()
                .map(|c| f(c))
                .collect::<Vec<_>>()
                .join(join)
        };
        let matches = self
            .parent_columns
            .iter()
            .zip(&self.child_columns)
            .zip(&self.operators)
            .map(|((p, c), op)| format!("p.{p} {op} c.{c}"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let missing = format!("NOT EXISTS (SELECT FROM {} p WHERE {matches})", self.parent);
        let condition = if self.full {
            // MATCH FULL: all NULL is fine; some NULL is a violation; none must match.
            format!(
                "NOT ({}) AND ({} OR {missing})",
                cols(&|c| format!("c.{c} IS NULL"), " AND "),
                cols(&|c| format!("c.{c} IS NULL"), " OR ")
            )
        } else {
            format!(
                "{} AND {missing}",
                cols(&|c| format!("c.{c} IS NOT NULL"), " AND ")
            )
        };
        format!(
            "(SELECT {i}::pg_catalog.int4 FROM ONLY {} c WHERE {condition} LIMIT 1)",
            self.child
        )
    }
}

/// Every foreign key of `tables` proven in one statement; the names of those some row
/// violates.
pub(crate) fn violated(
    client: &mut Client,
    tables: &[u32],
) -> Result<Vec<String>, postgres::Error> {
    let keys = keys(client, tables)?;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let sql = keys
        .iter()
        .enumerate()
        .map(|(i, k)| k.violation_query(i))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let rows = client.query(&sql, &[])?;
    Ok(rows
        .iter()
        .filter_map(|r| usize::try_from(r.get::<_, i32>(0)).ok())
        .filter_map(|i| keys.get(i))
        .map(|k| k.name.clone())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(full: bool) -> Key {
        Key {
            name: "public.c.c_fk".into(),
            child: "\"public\".\"c\"".into(),
            parent: "ONLY \"public\".\"p\"".into(),
            child_columns: vec!["\"a\"".into(), "\"b\"".into()],
            parent_columns: vec!["\"x\"".into(), "\"y\"".into()],
            operators: vec!["OPERATOR(pg_catalog.=)".into(); 2],
            full,
        }
    }

    #[test]
    fn simple_keys_skip_nulls_and_full_keys_refuse_half_nulls() {
        let simple = key(false).violation_query(3);
        assert_eq!(
            simple,
            "(SELECT 3::pg_catalog.int4 FROM ONLY \"public\".\"c\" c WHERE c.\"a\" IS NOT NULL AND c.\"b\" IS NOT NULL AND NOT EXISTS (SELECT FROM ONLY \"public\".\"p\" p WHERE p.\"x\" OPERATOR(pg_catalog.=) c.\"a\" AND p.\"y\" OPERATOR(pg_catalog.=) c.\"b\") LIMIT 1)"
        );
        let full = key(true).violation_query(0);
        assert!(full.contains(
            "WHERE NOT (c.\"a\" IS NULL AND c.\"b\" IS NULL) AND (c.\"a\" IS NULL OR c.\"b\" IS NULL OR NOT EXISTS"
        ));
    }
}

use super::*;

fn q(s: &str, n: &str) -> QualifiedName {
    QualifiedName::new(s, n)
}

/// A small archive as the writer writes one.
fn archive(edit: impl Fn(&mut String)) -> Vec<u8> {
    let t1 = q("public", "users");
    let t2 = q("My \"S\"", "a'b");
    let seq = SeqSet {
        sequence: q("public", "users_id_seq"),
        value: 42,
        is_called: true,
    };
    let header = Header {
        tool: "pgtruncate 0".into(),
        time: "2026-01-01T00:00:00Z".into(),
        database: "postgresql://u@h:5432/db".into(),
        server_version: "15".into(),
        tables: vec![(t1.clone(), 2), (t2.clone(), 0)],
        sequences: vec![seq.sequence.clone()],
    };
    let mut s = header.text(false);
    s.push_str(&copy_start(&t1, &["id".into(), "e\"mail".into()]));
    s.push_str("1\ta\\tb\n2\t\\N\n");
    s.push_str(COPY_END);
    s.push_str(&copy_start(&t2, &[]));
    s.push_str(COPY_END);
    s.push_str(&setvals_text(&[seq]));
    edit(&mut s);
    let sum = hex(&Sha256::digest(s.as_bytes()));
    s.push_str(&trailer(&header.tables, &sum));
    s.into_bytes()
}

fn parsed(bytes: &[u8]) -> Result<Manifest, String> {
    parse(bytes).map_err(|e| match e {
        ParseError::Format(f) => f.to_string(),
        ParseError::Io(e) => e.to_string(),
    })
}

#[test]
fn what_the_writer_writes_the_parser_reads_back() {
    let m = parsed(&archive(|_| {})).unwrap();
    assert_eq!(m.tables.len(), 2);
    assert_eq!(m.tables[0].0, q("public", "users"));
    assert_eq!(m.tables[0].1, vec!["id".to_string(), "e\"mail".to_string()]);
    assert_eq!(m.tables[0].2, 2);
    assert_eq!(m.tables[1].0, q("My \"S\"", "a'b"));
    assert!(m.tables[1].1.is_empty());
    assert_eq!(m.sequences[0].value, 42);
    assert!(m.sequences[0].is_called);
    assert_eq!(m.header.server_version, "15");
    assert!(!m.deferred);
}

#[test]
fn a_planted_statement_is_refused() {
    for planted in [
        "DROP TABLE public.users;\n",
        "SELECT public.evil();\n",
        "\\! touch /tmp/x\n",
        "COPY \"public\".\"other\" (\"id\") FROM stdin;\n\\.\n",
        "SELECT pg_catalog.setval('\"public\".\"other_seq\"', 1, true);\n",
        "SET session_replication_role = replica;\n",
        "COPY \"public\".\"users\" (\"id\") FROM stdin; DROP TABLE x;\n",
    ] {
        let err = parsed(&archive(|s| s.push_str(planted))).unwrap_err();
        assert!(err.starts_with("line "), "{planted:?}: {err}");
    }
}

#[test]
fn an_edited_or_cut_archive_is_refused() {
    let good = archive(|_| {});
    let mut edited = good.clone();
    let at = edited.windows(3).position(|w| w == b"1\ta").unwrap();
    edited[at] = b'7';
    assert!(parsed(&edited).unwrap_err().contains("checksum"));
    for cut in [good.len() - 1, good.len() - 30, good.len() / 2, 10, 0] {
        assert!(parsed(&good[..cut]).is_err(), "cut at {cut}");
    }
    let mut extra = good.clone();
    extra.extend_from_slice(b"DROP TABLE x;\n");
    assert!(parsed(&extra).is_err());
}

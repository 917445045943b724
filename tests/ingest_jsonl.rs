//! `ingest --source jsonl`: good lines sealed and readable through DuckDB;
//! bad lines quarantined with file:line and a reason, the rest ingested;
//! re-ingest adds nothing; `--strict` seals nothing of a bad file.

mod common;

use std::fs;

use common::{Env, duck, fixture, stdout};

#[test]
fn events_are_sealed_and_queryable() {
    let env = Env::new();
    let o = env.ingest(&["--source", "jsonl"], &[&fixture("jsonl/events.jsonl")]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("jsonl: read 50, sealed 50, duplicates 0, quarantined 0,"),
        "{out}"
    );
    let rows = duck(
        &env.store(),
        "SELECT kind, count(*) FROM leaves WHERE kind <> 'coverage' GROUP BY kind ORDER BY kind",
    );
    let got: Vec<String> = rows.iter().map(|r| format!("{}={}", r[0], r[1])).collect();
    assert_eq!(
        got,
        [
            "auth=BigInt(16)",
            "delivery=BigInt(24)",
            "disclosure=BigInt(5)",
            "training=BigInt(5)"
        ]
    );
    // typed values, derived fields and unicode survive
    let r = duck(
        &env.store(),
        "SELECT recipient_domain, encryption, tls_version, CAST(ts AS VARCHAR) FROM leaves WHERE source_event_id = 'msg-1-rcpt-0'",
    );
    assert_eq!(
        r[0],
        [
            "clinic-partner.com",
            "tls",
            "TLSv1.3",
            "2026-03-02 09:07:00+00"
        ]
    );
    let r = duck(
        &env.store(),
        "SELECT accountable FROM leaves WHERE kind = 'disclosure' ORDER BY source_event_id",
    );
    let acc: Vec<&str> = r.iter().map(|x| x[0].as_str()).collect();
    assert_eq!(
        acc,
        [
            "Boolean(true)",
            "Boolean(false)",
            "Boolean(true)",
            "Boolean(false)",
            "Boolean(true)"
        ]
    );
    let r = duck(
        &env.store(),
        "SELECT recipient_name FROM leaves WHERE source_event_id = 'roi-1'",
    );
    assert_eq!(r[0][0], "Dr. Jürgen Müller");
    // idempotent: re-ingest adds nothing
    let o = env.ingest(&["--source", "jsonl"], &[&fixture("jsonl/events.jsonl")]);
    assert!(
        stdout(&o).starts_with("jsonl: read 50, sealed 0, duplicates 50,"),
        "{}",
        stdout(&o)
    );
    assert!(env.verify(&[]).status.success());
}

#[test]
fn bad_lines_are_quarantined_with_position_and_reason() {
    let env = Env::new();
    let dir = env.dir.path();
    let mut bytes = fs::read(fixture("jsonl/bad.jsonl")).unwrap();
    // a 10 MB line, then one more good line
    let prefix =
        b"{\"kind\":\"access\",\"user\":\"u\",\"ts\":\"2026-03-01T10:00:00Z\",\"action\":\"";
    let big_len = prefix.len() + 10 * 1024 * 1024 + 2;
    bytes.extend_from_slice(prefix);
    bytes.extend(std::iter::repeat_n(b'A', 10 * 1024 * 1024));
    bytes.extend_from_slice(b"\"}\n");
    bytes.extend_from_slice(
        b"{\"kind\":\"access\",\"user\":\"u\",\"ts\":\"2026-03-01T11:00:00Z\",\"action\":\"after-big-line\"}\n",
    );
    let input = dir.join("bad.jsonl");
    fs::write(&input, &bytes).unwrap();
    let o = env.ingest(&["--source", "jsonl"], &[&input]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("read 11, sealed 4, duplicates 0, quarantined 7"),
        "{out}"
    );
    let rows = duck(
        &env.store(),
        "SELECT input_ref, reason FROM leaves WHERE kind = 'quarantine' ORDER BY idx",
    );
    let name = input.display().to_string();
    let want: [(u64, &str); 7] = [
        (2, "invalid JSON at column"),
        (3, "field `mfa`: wrong type or value, expected a boolean"),
        (4, "missing required field `kind`"),
        (5, "missing required field `ts`"),
        (6, "field `colour`: unknown field `colour`"),
        (7, "line is not valid UTF-8"),
        (
            10,
            &*format!("line is {big_len} bytes, longer than the 1048576-byte limit"),
        ),
    ];
    assert_eq!(rows.len(), want.len(), "{rows:#?}");
    for (row, (line, reason)) in rows.iter().zip(want) {
        assert_eq!(row[0], format!("{name}:{line}"));
        assert!(
            row[1].starts_with(reason),
            "line {line}: {:?} should start with {reason:?}",
            row[1]
        );
    }
    // reasons never carry values (the temp directory's random name is
    // taken out first: it once held "u2")
    let shown = out.replace(&env.dir.path().display().to_string(), "<tmp>");
    assert!(
        !shown.contains("yes") && !shown.contains("x@y.org") && !shown.contains("u2"),
        "{out}"
    );
    // invalid UTF-8 is kept as base64 inside the leaf
    let r = duck(
        &env.store(),
        "SELECT position('raw_b64' IN decode(leaf)) > 0 FROM leaves WHERE input_ref LIKE '%:7'",
    );
    assert_eq!(r[0][0], "Boolean(true)");
    let r = duck(
        &env.store(),
        "SELECT count(*) FROM leaves WHERE action = 'after-big-line'",
    );
    assert_eq!(r[0][0], "BigInt(1)");
    assert!(env.verify(&[]).status.success());
    // re-sending the same bad file adds nothing
    let o = env.ingest(&["--source", "jsonl"], &[&input]);
    assert!(
        stdout(&o).contains("sealed 0, duplicates 11, quarantined 0"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn strict_seals_nothing_of_a_bad_file() {
    let env = Env::new();
    let o = env.ingest(
        &["--source", "jsonl", "--strict"],
        &[&fixture("jsonl/bad.jsonl")],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = common::stderr(&o);
    assert!(err.contains("bad.jsonl:2: invalid JSON"), "{err}");
    let segments = fs::read_dir(env.store().join("segments")).unwrap().count();
    assert_eq!(segments, 0, "nothing sealed");
}

#[test]
fn a_run_stopped_by_a_bad_file_keeps_the_good_files_before_it() {
    // `sealtrail ingest` makes its records durable at seals, not in the
    // WAL: what it appended before the error must be sealed, not lost
    let env = Env::new();
    let (good, bad) = (fixture("jsonl/events.jsonl"), fixture("jsonl/bad.jsonl"));
    let o = env.ingest(&["--source", "jsonl", "--strict"], &[&good, &bad]);
    assert_eq!(o.status.code(), Some(1));
    let err = common::stderr(&o);
    assert!(err.contains("bad.jsonl:2: invalid JSON"), "{err}");
    assert!(
        err.contains("the 50 records read before this error are sealed"),
        "{err}"
    );
    assert_eq!(common::tree_size(&env.store()), 50);
    assert!(env.verify(&[]).status.success());
    // and the same command, the bad file fixed (left out), adds nothing twice
    let o = env.ingest(&["--source", "jsonl", "--strict"], &[&good]);
    assert!(
        stdout(&o).starts_with("jsonl: read 50, sealed 0, duplicates 50"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn gzip_input_is_read_directly() {
    let env = Env::new();
    let gz = env.dir.path().join("events.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    std::io::Write::write_all(&mut enc, &fs::read(fixture("jsonl/events.jsonl")).unwrap()).unwrap();
    enc.finish().unwrap();
    let o = env.ingest(&[], &[&gz]);
    assert!(o.status.success());
    assert!(common::stderr(&o).contains("recognised as jsonl"));
    assert!(
        stdout(&o).starts_with("jsonl: read 50, sealed 50"),
        "{}",
        stdout(&o)
    );
}

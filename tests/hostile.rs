//! Hostile input and faults: garbage, NUL bytes and invalid UTF-8 to every
//! source, JSON nested 10,000 deep, a 100 MB line, years 9999 and 1969, a
//! leaf with duplicate keys slipped into a segment, a torn WAL tail, a full
//! disk during ingest, a read-only store, and proptest runs showing no
//! parser panics on any bytes.

mod common;

use std::fs;
use std::io::Write;
use std::process::Command;
use std::sync::Arc;

use arrow::array::{BinaryArray, FixedSizeBinaryArray, RecordBatch};
use common::{Env, bin, duck, fixture, leaf_values, read_batch, stdout};
use proptest::prelude::*;
use sealtrail::ingest::{self, Parsed};

use common::SOURCES;

#[test]
fn garbage_to_every_source_is_quarantined_not_fatal() {
    let env = Env::new();
    let junk = env.dir.path().join("junk.bin");
    let mut bytes =
        b"\x00\x00NUL\x00bytes\n\xff\xfe\xfd not utf-8\n{\"unterminated\": [\n".to_vec();
    bytes.extend_from_slice(b"a,b,c\n\"quoted,\"\"broken\n");
    fs::write(&junk, &bytes).unwrap();
    for s in SOURCES {
        let o = env.ingest(&["--source", s], &[&junk]);
        assert!(o.status.success(), "{s}: {}", common::stderr(&o));
        // the junk was read and accounted for: quarantined (or counted as not an
        // event), never silently dropped
        let out = stdout(&o);
        let first = out.lines().next().unwrap_or("");
        assert!(
            first.starts_with(&format!("{s}: read ")) && !first.contains(" read 0,"),
            "{s}: {out}"
        );
        assert!(
            !first.contains("quarantined 0,") || out.contains("not an event"),
            "{s}: {out}"
        );
    }
    assert!(env.verify(&[]).status.success());
}

#[test]
fn deep_json_huge_lines_and_extreme_years() {
    let env = Env::new();
    let f = env.dir.path().join("hostile.jsonl");
    let mut out = fs::File::create(&f).unwrap();
    // 10,000 levels of nesting
    writeln!(out, "{}{}", "[".repeat(10_000), "]".repeat(10_000)).unwrap();
    writeln!(
        out,
        "{{\"kind\":\"access\",\"user\":\"u\",\"ts\":\"2026-01-01T00:00:00Z\",\"action\":\"x\",\"detail\":{}1{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    )
    .unwrap();
    // a 100 MB line
    out.write_all(
        b"{\"kind\":\"access\",\"user\":\"u\",\"ts\":\"2026-01-01T00:00:00Z\",\"action\":\"",
    )
    .unwrap();
    let chunk = vec![b'A'; 1 << 20];
    for _ in 0..100 {
        out.write_all(&chunk).unwrap();
    }
    out.write_all(b"\"}\n").unwrap();
    // the far future and the past
    writeln!(
        out,
        "{{\"kind\":\"access\",\"user\":\"u\",\"ts\":\"9999-12-31T23:59:59Z\",\"action\":\"far-future\"}}"
    )
    .unwrap();
    writeln!(
        out,
        "{{\"kind\":\"access\",\"user\":\"u\",\"ts\":\"1969-07-20T20:17:40Z\",\"action\":\"moon-landing\"}}"
    )
    .unwrap();
    writeln!(
        out,
        "{{\"kind\":\"access\",\"user\":\"u\",\"ts\":\"2026-01-01T00:00:00Z\",\"action\":\"nul\\u0000inside\"}}"
    )
    .unwrap();
    drop(out);
    let o = env.ingest(&["--source", "jsonl"], &[&f]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let s = stdout(&o);
    assert!(
        s.contains("read 6, sealed 1, duplicates 0, quarantined 5"),
        "{s}"
    );
    assert!(
        s.contains("line is 104857668 bytes, longer than the 1048576-byte limit"),
        "{s}"
    );
    // the far future and the past are implausible event times: quarantined
    // with the field named (FORMAT.md §11.3), never sealed as events, so
    // they make no coverage leaves either
    assert!(s.contains("field `ts` is before 2000-01-01"), "{s}");
    assert!(
        s.contains("field `ts` is more than a day after ingestion; a time after the year 3000"),
        "{s}"
    );
    let events = duck(
        &env.store(),
        "SELECT count(*) FROM leaves WHERE kind = 'access'",
    );
    assert_eq!(events[0][0], "BigInt(1)");
    let cov = duck(
        &env.store(),
        "SELECT count(*) FROM leaves WHERE kind = 'coverage'",
    );
    assert_eq!(cov[0][0], "BigInt(1)");
    assert!(env.verify(&[]).status.success());
}

#[test]
fn a_leaf_with_duplicate_keys_is_caught_by_verify_even_with_matching_hashes() {
    let env = Env::new();
    assert!(
        env.ingest(&["--source", "jsonl"], &[&fixture("jsonl/events.jsonl")])
            .status
            .success()
    );
    let seg = fs::read_dir(env.store().join("segments"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let b = read_batch(&seg);
    let mut leaves = leaf_values(&b);
    // leaf 0 now says status twice; recompute its hash and every chain value after it
    let text = String::from_utf8(leaves[0].clone()).unwrap();
    leaves[0] = text
        .replacen("{\"v\":1,", "{\"v\":1,\"kind\":\"admin\",", 1)
        .into_bytes();
    assert_ne!(leaves[0], text.as_bytes());
    let hashes: Vec<[u8; 32]> = leaves
        .iter()
        .map(|l| sealtrail::tlog::merkle::leaf_hash(l))
        .collect();
    let mut chain = [0u8; 32];
    let chains: Vec<[u8; 32]> = hashes
        .iter()
        .map(|h| {
            chain = sealtrail::tlog::merkle::chain_hash(&chain, h);
            chain
        })
        .collect();
    let mut cols = b.columns().to_vec();
    let i = |n: &str| b.schema().index_of(n).unwrap();
    cols[i("leaf")] = Arc::new(BinaryArray::from_iter_values(leaves.iter()));
    cols[i("leaf_hash")] = Arc::new(FixedSizeBinaryArray::try_from_iter(hashes.iter()).unwrap());
    cols[i("chain")] = Arc::new(FixedSizeBinaryArray::try_from_iter(chains.iter()).unwrap());
    let nb = RecordBatch::try_new(b.schema(), cols).unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(fs::File::create(&seg).unwrap(), nb.schema(), None)
            .unwrap();
    w.write(&nb).unwrap();
    w.close().unwrap();
    let o = env.verify(&[]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.lines()
            .any(|l| l.starts_with("modified:") && l.contains("idx 0: leaf is not a valid record")),
        "{out}"
    );
}

#[test]
fn a_torn_wal_tail_is_cut_and_reported() {
    let env = Env::new();
    assert!(
        env.ingest(&["--source", "jsonl"], &[&fixture("jsonl/events.jsonl")])
            .status
            .success()
    );
    // a record half-written when the power went out
    let wal = env.store().join("wal/current.wal");
    let mut f = fs::OpenOptions::new().append(true).open(&wal).unwrap();
    f.write_all(&200u32.to_le_bytes()).unwrap();
    f.write_all(b"{\"v\":1,\"kind\":\"adm").unwrap();
    drop(f);
    let o = Command::new(bin())
        .args([
            "seal",
            "--store",
            env.store().to_str().unwrap(),
            "--key",
            env.key().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(
        common::stderr(&o).contains("22 byte(s) of torn WAL tail cut"),
        "{}",
        common::stderr(&o)
    );
    assert!(env.verify(&[]).status.success());
}

/// Runs a shell script in a private mount namespace (as root here, or as a
/// mapped root in a user namespace), so a tiny tmpfs can be mounted.
fn in_mount_namespace(script: &str) -> std::process::Output {
    Command::new("unshare")
        .args(["-rm", "sh", "-ec", script])
        .output()
        .expect("unshare (util-linux)")
}

#[test]
fn disk_full_during_ingest_then_space_returns() {
    let env = Env::new();
    let big = env.dir.path().join("big.jsonl");
    let mut f = fs::File::create(&big).unwrap();
    for i in 0..40_000 {
        writeln!(f, "{{\"kind\":\"access\",\"user\":\"u\",\"ts\":\"2026-01-01T00:00:00Z\",\"action\":\"fill\",\"source_event_id\":\"f{i}\",\"detail\":\"{}\"}}", "x".repeat(200)).unwrap();
    }
    drop(f);
    let mnt = env.dir.path().join("small");
    fs::create_dir_all(&mnt).unwrap();
    let (b, k, m, bg) = (
        bin().display().to_string(),
        env.key().display().to_string(),
        mnt.display().to_string(),
        big.display().to_string(),
    );
    let script = format!(
        "mount -t tmpfs -o size=3m tmpfs {m}
         if {b} ingest --store {m}/store --key {k} --source jsonl --seal-every 5000 {bg} > {m}/../out1 2> {m}/../err1; then echo INGEST-OK; else echo INGEST-FAILED; fi
         mount -o remount,size=64m {m}
         {b} seal --store {m}/store --key {k} > {m}/../out2 2> {m}/../err2 || echo SEAL-FAILED
         {b} verify --store {m}/store --vkey {k}.vkey.tmp > /dev/null 2>&1 || true
         cp -r {m}/store {m}/../store-copy"
    );
    // the verifier key sits beside the signing key
    let script = script.replace(&format!("{k}.vkey.tmp"), &env.vkey().display().to_string());
    let o = in_mount_namespace(&script);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{out} {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("INGEST-FAILED"),
        "a 3 MB disk cannot hold 40,000 records: {out}"
    );
    let err1 = fs::read_to_string(env.dir.path().join("err1")).unwrap();
    assert!(
        err1.contains("No space left on device"),
        "a clear error: {err1}"
    );
    assert!(
        !out.contains("SEAL-FAILED"),
        "{}",
        fs::read_to_string(env.dir.path().join("err2")).unwrap_or_default()
    );
    // once space returned, the store (copied out of the namespace) verifies
    let copy = env.dir.path().join("store-copy");
    let o = common::run(&[
        "verify",
        "--store",
        copy.to_str().unwrap(),
        "--vkey",
        env.vkey().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stdout(&o));
}

#[test]
fn a_read_only_store_refuses_writes_clearly_and_still_verifies() {
    let env = Env::new();
    assert!(
        env.ingest(&["--source", "jsonl"], &[&fixture("jsonl/events.jsonl")])
            .status
            .success()
    );
    let (b, k, s, v, f) = (
        bin().display().to_string(),
        env.key().display().to_string(),
        env.store().display().to_string(),
        env.vkey().display().to_string(),
        fixture("jsonl/access.jsonl").display().to_string(),
    );
    let script = format!(
        "mount --bind {s} {s} && mount -o remount,ro,bind {s}
         {b} ingest --store {s} --key {k} --source jsonl {f} 2>&1 && echo WROTE || echo REFUSED
         {b} verify --store {s} --vkey {v} | tail -1"
    );
    let o = in_mount_namespace(&script);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("REFUSED") && out.contains("Read-only file system"),
        "{out}"
    );
    assert!(out.lines().last().unwrap_or("").starts_with("OK:"), "{out}");
}

#[test]
fn csv_export_neutralises_formulas_everywhere() {
    use sealtrail::query::Table;
    let t = Table {
        columns: vec!["a".into(), "b".into()],
        rows: vec![
            vec!["=1+1".into(), "@x".into()],
            vec!["-2".into(), "+cmd|' /C calc'!A0".into()],
        ],
        batches: Vec::new(),
    };
    let csv = sealtrail::report::csv::to_csv(&t);
    assert_eq!(csv, "a,b\r\n'=1+1,'@x\r\n-2,'+cmd|' /C calc'!A0\r\n");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any bytes, to any source: parsed into events or bad records, never a panic.
    #[test]
    fn any_bytes_parse_or_quarantine(data in proptest::collection::vec(any::<u8>(), 0..2048), pick in 0usize..11) {
        let name = SOURCES[pick];
        let mut src = ingest::source_by_name(name).unwrap();
        let mut n = 0usize;
        let mut emit = |p: Parsed| {
            if let Parsed::Event(mut r, _) = p {
                r.derive();
                let _ = r.validate();
                let _ = r.to_leaf();
            }
            n += 1;
            Ok(())
        };
        let r = src.parse(&mut &data[..], "prop", &mut emit);
        prop_assert!(r.is_ok());
        let _ = src.finish(&mut emit);
        let _ = ingest::detect(&data);
    }

    /// Leaves, notes, checkpoints and proofs from any text: errors, never panics.
    #[test]
    fn any_text_to_the_format_parsers(s in ".{0,400}") {
        let _ = sealtrail::model::Record::from_leaf(s.as_bytes());
        let _ = sealtrail::tlog::Note::parse(&s);
        let _ = sealtrail::tlog::Checkpoint::parse_body(&s);
        let _ = sealtrail::tlog::proof::parse(&s);
        let _ = sealtrail::store::manifest::Manifest::parse_body(&s);
        let _ = sealtrail::tlog::Verifier::parse(&s);
        let _ = sealtrail::tlog::Signer::parse(&s);
    }
}

#[test]
fn wal_reader_survives_any_tail() {
    // every truncation point of a real WAL recovers the complete prefix
    let env = Env::new();
    let s = env.store();
    let signer = sealtrail::tlog::Signer::parse(&fs::read_to_string(env.key()).unwrap()).unwrap();
    let mut app = sealtrail::store::Appender::open_or_create(&s, signer, None).unwrap();
    for i in 0..20 {
        let mut r = sealtrail::model::Record::new(
            sealtrail::model::Kind::Admin,
            sealtrail::model::Ts(i),
            "t",
        );
        r.action = Some(format!("a{i}"));
        app.append(r).unwrap();
    }
    app.commit().unwrap();
    drop(app);
    let wal = s.join("wal/current.wal");
    let full = fs::read(&wal).unwrap();
    let dir = env.dir.path().join("w");
    fs::create_dir_all(&dir).unwrap();
    for cut in (0..full.len()).step_by(7) {
        let p = dir.join("t.wal");
        fs::write(&p, &full[..cut]).unwrap();
        match sealtrail::store::wal::Wal::recover(&p) {
            Ok((_, rec)) => assert_eq!(
                rec.torn_bytes as usize
                    + 24
                    + rec.records.iter().map(|(l, _)| 36 + l.len()).sum::<usize>(),
                cut
            ),
            Err(e) => assert!(cut < 24, "only a cut header is an error: {e}"),
        }
    }
}

/// Inputs that once crashed a parser (found by cargo-fuzz, kept in
/// fuzz/regressions/: the first byte picks the source as in the fuzz target).
#[test]
fn fuzz_regressions_do_not_panic() {
    let dir = common::repo().join("fuzz/regressions");
    let names = ingest::source_names();
    for f in fs::read_dir(&dir).unwrap() {
        let data = fs::read(f.unwrap().path()).unwrap();
        let (&pick, body) = data.split_first().unwrap();
        let mut src = ingest::source_by_name(names[pick as usize % names.len()]).unwrap();
        let mut emit = |_: Parsed| Ok(());
        src.parse(&mut &body[..], "regression", &mut emit).unwrap();
    }
}

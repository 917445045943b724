//! Builds a real store with the binary, tampers with it in every way
//! `sealtrail verify` must name, and asserts the exact verdict for each.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BinaryArray, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use common::{Env, fixture, leaf_values, ok, read_batch, run, stdout};
use parquet::arrow::ArrowWriter;

/// A store with several segments, built once per test.
fn built() -> Env {
    let env = Env::new();
    let o = env.ingest(
        &["--source", "jsonl", "--seal-every", "20"],
        &[&fixture("jsonl/events.jsonl")],
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    env
}

fn segments(env: &Env) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(env.store().join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn name(p: &Path) -> String {
    format!("segments/{}", p.file_name().unwrap().to_string_lossy())
}

fn write_batch(p: &Path, b: &RecordBatch) {
    let mut w = ArrowWriter::try_new(fs::File::create(p).unwrap(), b.schema(), None).unwrap();
    w.write(b).unwrap();
    w.close().unwrap();
}

fn take_rows(b: &RecordBatch, rows: &[u32]) -> RecordBatch {
    let idx = UInt32Array::from(rows.to_vec());
    arrow::compute::take_record_batch(b, &idx).unwrap()
}

fn replace_column(b: &RecordBatch, name: &str, col: ArrayRef) -> RecordBatch {
    let i = b.schema().index_of(name).unwrap();
    let mut cols = b.columns().to_vec();
    cols[i] = col;
    RecordBatch::try_new(b.schema(), cols).unwrap()
}

/// Runs verify and returns (exit code, problem lines, summary line).
fn verdict(env: &Env, extra: &[&str]) -> (i32, Vec<String>, String) {
    let o = env.verify(extra);
    let out = stdout(&o);
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    let summary = lines.pop().unwrap_or_default();
    lines.retain(|l| !l.starts_with("warning:"));
    (o.status.code().unwrap(), lines, summary)
}

#[track_caller]
fn assert_one(env: &Env, extra: &[&str], want: &str) {
    let (code, lines, summary) = verdict(env, extra);
    assert_eq!(code, 1, "verify must fail; got {lines:?} {summary}");
    assert!(summary.starts_with("FAILED"), "{summary}");
    assert!(
        lines.iter().any(|l| l.starts_with(want)),
        "expected a line starting {want:?}, got {lines:#?}"
    );
}

#[test]
fn clean_store_verifies() {
    let env = built();
    assert!(
        segments(&env).len() >= 3,
        "seal-every 20 makes several segments"
    );
    let (code, lines, summary) = verdict(&env, &[]);
    assert_eq!(code, 0, "{lines:?} {summary}");
    assert!(lines.is_empty());
    assert!(
        summary.starts_with("OK: checkpoint test.example/log size "),
        "{summary}"
    );
}

#[test]
fn modified_leaf_is_named_with_its_index() {
    let env = built();
    let seg = &segments(&env)[1];
    let idx = flip_a_leaf_bit(seg);
    let want = format!(
        "modified: {} idx {idx}: leaf bytes do not match leaf_hash",
        name(seg)
    );
    assert_one(&env, &[], &want);
    // the same verdict whether segments are checked one at a time or at once
    assert_one(&env, &["--threads", "1"], &want);
    assert_one(&env, &["--threads", "3"], &want);
}

#[test]
fn typed_column_edit_is_a_column_mismatch() {
    let env = built();
    let seg = &segments(&env)[0];
    let b = read_batch(seg);
    let enc = common::str_column(&b, "encryption");
    let row = (0..enc.len())
        .find(|&i| enc.is_valid(i) && enc.value(i) == "none")
        .expect("a plaintext delivery");
    let vals: Vec<Option<&str>> = (0..enc.len())
        .map(|i| {
            if i == row {
                Some("tls")
            } else {
                enc.is_valid(i).then(|| enc.value(i))
            }
        })
        .collect();
    write_batch(
        seg,
        &replace_column(&b, "encryption", Arc::new(StringArray::from(vals))),
    );
    assert_one(
        &env,
        &[],
        &format!(
            "column-mismatch: {} idx {row}: column `encryption`",
            name(seg)
        ),
    );
}

/// Every typed column, of every Arrow type, edited in one row while its
/// leaf is untouched: `verify` names that column at that row's idx.
#[test]
fn every_typed_column_edit_is_a_column_mismatch() {
    let env = built();
    // records carrying the fields the shared fixture leaves out
    let extra = env.dir.path().join("extra.jsonl");
    let lines: Vec<String> = (0..4)
        .map(|i| {
            format!(
                concat!(
                    r#"{{"kind": "disclosure", "ts": "2026-02-2{i}T12:00:00Z", "source": "disclosures", "#,
                    r#""source_event_id": "sus-{i}", "patient_id": "P100{i}", "recipient_name": "Dept", "#,
                    r#""purpose": "reporting", "basis": "public_health", "suspended_until": "2027-0{m}-01", "#,
                    r#""direction": "{d}"}}"#
                ),
                i = i,
                m = i + 1,
                d = if i % 2 == 0 { "outbound" } else { "inbound" },
            )
        })
        .collect();
    fs::write(&extra, lines.join("\n") + "\n").unwrap();
    let o = env.ingest(&["--source", "jsonl", "--seal-every", "20"], &[&extra]);
    assert!(o.status.success(), "{}", common::stderr(&o));

    let mut edited: Vec<(&str, DataType)> = Vec::new();
    for column in sealtrail::store::segment::typed_column_names() {
        for seg in segments(&env) {
            let b = read_batch(&seg);
            let Some(values) = b.column_by_name(column) else {
                continue;
            };
            let n = values.len();
            let value = |i: usize| values.slice(i, 1).to_data();
            // a row and another whose value differs (null counts as one)
            let Some((row, other)) = (0..n)
                .flat_map(|a| (0..n).map(move |o| (a, o)))
                .find(|&(a, o)| value(a) != value(o))
            else {
                continue;
            };
            let mut take: Vec<u32> = (0..n as u32).collect();
            take[row] = other as u32;
            let tampered = arrow::compute::take(values, &UInt32Array::from(take), None).unwrap();
            let saved = fs::read(&seg).unwrap();
            write_batch(&seg, &replace_column(&b, column, tampered));
            let idx = common::idx_values(&b)[row];
            assert_one(
                &env,
                &[],
                &format!(
                    "column-mismatch: {} idx {idx}: column `{column}`",
                    name(&seg)
                ),
            );
            fs::write(&seg, saved).unwrap();
            edited.push((column, values.data_type().clone()));
            break;
        }
    }
    let (code, lines, summary) = verdict(&env, &[]);
    assert_eq!(code, 0, "every segment restored: {lines:?} {summary}");
    for want in [
        DataType::Utf8,
        DataType::Boolean,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        DataType::Date32,
        DataType::Float64,
    ] {
        assert!(
            edited.iter().any(|(_, t)| *t == want),
            "no column of type {want} was edited: {edited:?}"
        );
    }
    for want in ["kind", "ts", "direction", "suspended_until", "score"] {
        assert!(edited.iter().any(|(c, _)| *c == want), "{want}: {edited:?}");
    }
}

/// A typed column rewritten with another type under its own name: the
/// file is not a segment any more, whatever its values.
#[test]
fn a_typed_column_of_another_type_is_a_column_mismatch() {
    let env = built();
    let seg = segments(&env)
        .into_iter()
        .find(|s| {
            let b = read_batch(s);
            b.column_by_name("score").unwrap().null_count() < b.num_rows()
        })
        .expect("a segment with a training score");
    let b = read_batch(&seg);
    let scores = arrow::compute::cast(b.column_by_name("score").unwrap(), &DataType::Utf8).unwrap();
    let fields: Vec<Field> = b
        .schema()
        .fields()
        .iter()
        .map(|f| match f.name().as_str() {
            "score" => Field::new("score", DataType::Utf8, true),
            _ => f.as_ref().clone(),
        })
        .collect();
    let i = b.schema().index_of("score").unwrap();
    let mut cols = b.columns().to_vec();
    cols[i] = scores;
    let b = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    write_batch(&seg, &b);
    assert_one(
        &env,
        &[],
        &format!(
            "column-mismatch: {}: the file's columns differ from the segment schema",
            name(&seg)
        ),
    );
}

#[test]
fn deleted_row_is_missing() {
    let env = built();
    let seg = &segments(&env)[1];
    let b = read_batch(seg);
    let first = common::idx_values(&b)[0];
    let rows: Vec<u32> = (0..b.num_rows() as u32).filter(|&r| r != 5).collect();
    write_batch(seg, &take_rows(&b, &rows));
    assert_one(
        &env,
        &[],
        &format!(
            "missing: {} idx {}: 1 leaf row(s) missing",
            name(seg),
            first + 5
        ),
    );
}

#[test]
fn cut_tail_rows_are_truncated() {
    let env = built();
    let seg = &segments(&env)[0];
    let b = read_batch(seg);
    let n = b.num_rows() as u32;
    write_batch(seg, &take_rows(&b, &(0..n - 2).collect::<Vec<_>>()));
    assert_one(
        &env,
        &[],
        &format!("truncated: {} idx {}", name(seg), n - 2),
    );
}

#[test]
fn swapped_rows_are_reordered() {
    let env = built();
    let seg = &segments(&env)[0];
    let b = read_batch(seg);
    let mut rows: Vec<u32> = (0..b.num_rows() as u32).collect();
    rows.swap(2, 3);
    write_batch(seg, &take_rows(&b, &rows));
    assert_one(
        &env,
        &[],
        &format!("reordered: {} idx 2: row 2 holds leaf 3", name(seg)),
    );
}

#[test]
fn cut_file_bytes_are_truncated() {
    let env = built();
    let seg = &segments(&env)[1];
    let bytes = fs::read(seg).unwrap();
    fs::write(seg, &bytes[..bytes.len() / 2]).unwrap();
    assert_one(&env, &[], &format!("truncated: {}", name(seg)));
}

#[test]
fn deleted_file_is_missing() {
    let env = built();
    let seg = &segments(&env)[1];
    fs::remove_file(seg).unwrap();
    assert_one(&env, &[], &format!("missing: {}", name(seg)));
}

#[test]
fn renamed_file_is_moved() {
    let env = built();
    let seg = &segments(&env)[1];
    fs::rename(seg, seg.with_file_name("renamed.parquet")).unwrap();
    let (_, lines, _) = verdict(&env, &[]);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("moved: {}", name(seg)))
                && l.ends_with("now in segments/renamed.parquet")),
        "{lines:#?}"
    );
}

#[test]
fn injected_file_is_extra() {
    let env = built();
    let seg = &segments(&env)[0];
    fs::copy(
        seg,
        seg.with_file_name("00000000000000100000-00000000000000100010.parquet"),
    )
    .unwrap();
    assert_one(
        &env,
        &[],
        "extra: segments/00000000000000100000-00000000000000100010.parquet: a file beyond the signed tree",
    );
}

#[test]
fn rolled_back_checkpoint_is_inconsistent() {
    let env = built();
    let dir = env.store().join("checkpoints");
    let mut kept: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    kept.sort();
    let older = &kept[1];
    fs::copy(older, env.store().join("checkpoint")).unwrap();
    let newest = kept.last().unwrap();
    assert_one(
        &env,
        &[],
        &format!(
            "inconsistent-checkpoint: checkpoints/{}",
            newest.file_name().unwrap().to_string_lossy()
        ),
    );
}

#[test]
fn full_rollback_is_caught_by_a_trusted_checkpoint() {
    // An insider restores a backup of the whole directory taken before
    // later seals: every file in it is genuine.
    let env = built();
    let backup = env.dir.path().join("backup");
    copy_dir(&env.store(), &backup);
    let o = env.ingest(
        &["--source", "postfix"],
        &[&fixture("postfix/maillog-rfc5424.log")],
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    let trusted = env.dir.path().join("trusted.checkpoint");
    fs::copy(env.store().join("checkpoint"), &trusted).unwrap();
    fs::remove_dir_all(env.store()).unwrap();
    copy_dir(&backup, &env.store());
    let (code, _, _) = verdict(&env, &[]);
    assert_eq!(
        code, 0,
        "without outside knowledge a clean rollback looks like an older store"
    );
    let t = trusted.to_str().unwrap();
    assert_one(
        &env,
        &["--trusted-checkpoint", t],
        "inconsistent-checkpoint: trusted checkpoint",
    );
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn only_the_latest_two_manifests_are_kept_and_every_checkpoint_is() {
    // built() sealed every 20 records: many seals
    let env = built();
    let names = |d: &str| -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(env.store().join(d))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    };
    let checkpoints = names("checkpoints");
    assert!(checkpoints.len() > 3, "{checkpoints:?}");
    // the manifests of the last two checkpoints, nothing older
    let last_two: Vec<String> = checkpoints[checkpoints.len() - 2..]
        .iter()
        .map(|c| format!("{c}.note"))
        .collect();
    assert_eq!(names("manifests"), last_two);
    let (code, out, _) = verdict(&env, &[]);
    assert_eq!(code, 0, "{out:?}");
}

#[test]
fn edited_checkpoint_has_a_bad_signature() {
    let env = built();
    let p = env.store().join("checkpoint");
    let text = fs::read_to_string(&p).unwrap();
    let mut lines: Vec<&str> = text.split('\n').collect();
    let bumped = (lines[1].parse::<u64>().unwrap() + 1).to_string();
    lines[1] = &bumped;
    fs::write(&p, lines.join("\n")).unwrap();
    assert_one(&env, &[], "bad-signature: checkpoint");
}

#[test]
fn another_key_is_unknown() {
    let env = built();
    let other = tempfile::tempdir().unwrap();
    ok(&[
        "keygen",
        "--name",
        "test.example/log",
        "--out",
        other.path().to_str().unwrap(),
    ]);
    let vkey = other.path().join("test.example_log.vkey");
    let o = run(&[
        "verify",
        "--store",
        env.store().to_str().unwrap(),
        "--vkey",
        vkey.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o)
            .lines()
            .next()
            .unwrap()
            .starts_with("unknown-key: checkpoint"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn crlf_conversion_is_named() {
    let env = built();
    let p = env.store().join("checkpoint");
    let text = fs::read_to_string(&p).unwrap();
    fs::write(&p, text.replace('\n', "\r\n")).unwrap();
    assert_one(&env, &[], "crlf-damaged: checkpoint");
}

#[test]
fn usage_errors_exit_2() {
    let env = built();
    let o = run(&[
        "verify",
        "--store",
        "/nonexistent/store",
        "--vkey",
        env.vkey().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["verify", "--store"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn proofs_print_and_verify_offline() {
    let env = built();
    let store = env.store();
    let s = store.to_str().unwrap();
    let proof = ok(&["proof", "inclusion", "--store", s, "--idx", "7"]);
    assert!(
        proof.starts_with("c2sp.org/tlog-proof@v1\nindex 7\n"),
        "{proof}"
    );
    let pf = env.dir.path().join("p.tlog-proof");
    fs::write(&pf, &proof).unwrap();
    // the leaf hash of idx 7, read through DuckDB
    let rows = common::duck(&store, "SELECT hex(leaf_hash) FROM leaves WHERE idx = 7");
    let lh = rows[0][0].to_lowercase();
    let vk = env.vkey();
    let v = vk.to_str().unwrap();
    let out = ok(&[
        "verify-proof",
        "--vkey",
        v,
        "--leaf-hash",
        &lh,
        pf.to_str().unwrap(),
    ]);
    assert!(out.starts_with("OK: leaf 7 is included"), "{out}");
    let wrong = rows[0][0]
        .to_lowercase()
        .replace(&lh[..2], if &lh[..2] == "00" { "01" } else { "00" });
    let o = run(&[
        "verify-proof",
        "--vkey",
        v,
        "--leaf-hash",
        &wrong,
        pf.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));

    let kept: Vec<PathBuf> = {
        let mut k: Vec<_> = fs::read_dir(store.join("checkpoints"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        k.sort();
        k
    };
    let old = &kept[1];
    let old_size = old
        .file_name()
        .unwrap()
        .to_string_lossy()
        .parse::<u64>()
        .unwrap()
        .to_string();
    let cproof = ok(&["proof", "consistency", "--store", s, "--from", &old_size]);
    let cf = env.dir.path().join("c.proof");
    fs::write(&cf, &cproof).unwrap();
    let out = ok(&[
        "verify-proof",
        "--vkey",
        v,
        "--old-checkpoint",
        old.to_str().unwrap(),
        cf.to_str().unwrap(),
    ]);
    assert!(out.starts_with("OK: tree size"), "{out}");
}

#[test]
fn key_rotation_is_a_signed_leaf_and_old_checkpoints_stay_verifiable() {
    let env = built();
    let s = env.store();
    let newdir = env.dir.path().join("newkeys");
    ok(&[
        "keygen",
        "--name",
        "test.example/log",
        "--out",
        newdir.to_str().unwrap(),
    ]);
    let new_key = newdir.join("test.example_log.key");
    let out = ok(&[
        "rotate-key",
        "--store",
        s.to_str().unwrap(),
        "--key",
        env.key().to_str().unwrap(),
        "--new-key",
        new_key.to_str().unwrap(),
    ]);
    assert!(out.starts_with("rotated: checkpoint at tree size"), "{out}");
    // the rotation checkpoint is co-signed by both keys
    let cp = fs::read_to_string(s.join("checkpoint")).unwrap();
    assert_eq!(cp.lines().filter(|l| l.starts_with('—')).count(), 2, "{cp}");
    // more events, signed by the new key only; the old key is refused now
    let more = env.dir.path().join("more.jsonl");
    fs::write(
        &more,
        "{\"kind\":\"access\",\"user\":\"u\",\"ts\":\"2026-04-01T00:00:00Z\",\"action\":\"after-rotation\"}\n",
    )
    .unwrap();
    let o = run(&[
        "ingest",
        "--store",
        s.to_str().unwrap(),
        "--key",
        new_key.to_str().unwrap(),
        "--source",
        "jsonl",
        more.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let o = run(&[
        "ingest",
        "--store",
        s.to_str().unwrap(),
        "--key",
        env.key().to_str().unwrap(),
        "--source",
        "jsonl",
        more.to_str().unwrap(),
    ]);
    assert!(!o.status.success(), "the retired key can no longer seal");
    let cp = fs::read_to_string(s.join("checkpoint")).unwrap();
    assert_eq!(cp.lines().filter(|l| l.starts_with('—')).count(), 1);
    // an auditor holding only the original key learns the new one from the log
    let (code, lines, summary) = verdict(&env, &[]);
    assert_eq!(code, 0, "{lines:#?} {summary}");
    let rows = common::duck(
        &s,
        "SELECT count(*) FROM leaves WHERE action = 'key_rotation'",
    );
    assert_eq!(rows[0][0], "BigInt(1)");
}

#[test]
fn proofs_are_the_same_with_the_tree_index_intact_missing_or_tampered() {
    let env = built();
    let store = env.store();
    let s = store.to_str().unwrap();
    let index = store.join("index");
    assert!(
        index.join("tree-01.bin").exists(),
        "the seal writes the tree index"
    );
    let size: u64 = common::tree_size(&store);
    let proofs = || -> Vec<String> {
        [0, 7, size / 2, size - 1]
            .iter()
            .map(|i| ok(&["proof", "inclusion", "--store", s, "--idx", &i.to_string()]))
            .chain([ok(&["proof", "consistency", "--store", s, "--from", "5"])])
            .collect()
    };
    let intact = proofs();
    // a flipped byte in interior levels: the proofs built from them do not
    // verify against the signed root, so the reader rebuilds and answers the same
    for level in ["tree-01.bin", "tree-03.bin"] {
        let p = index.join(level);
        let mut b = fs::read(&p).unwrap();
        // node 1 is on the path of leaf 0 (not on the root's); the last
        // node is on the right edge the root check reads
        b[32] ^= 1;
        fs::write(&p, b).unwrap();
    }
    // (the tampered index alone would give a different path for leaf 0)
    let layout = sealtrail::store::Layout::new(&store);
    let mut nodes = sealtrail::store::tree_index::TreeIndex::open(&layout);
    let from_index = sealtrail::tlog::merkle::inclusion_proof_from(&mut nodes, 0, size).unwrap();
    let b64 = |h: &[u8; 32]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, h);
    assert!(!from_index.iter().all(|h| intact[0].contains(&b64(h))));
    assert_eq!(proofs(), intact);
    for e in fs::read_dir(&index).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("tree-")
        {
            fs::remove_file(p).unwrap();
        }
    }
    assert_eq!(proofs(), intact);
    // the next writer rebuilds the index from the verified leaf hashes
    assert!(
        env.ingest(&[], &[&common::fixture("okta/system-log.json")])
            .status
            .success()
    );
    assert!(index.join("tree-01.bin").exists());
    assert!(env.verify(&[]).status.success());
}

/// Flips one bit of one leaf in `seg` (row 3) and returns that leaf's index.
fn flip_a_leaf_bit(seg: &Path) -> u64 {
    let b = read_batch(seg);
    let mut vals = leaf_values(&b);
    let pos = vals[3].iter().position(|&c| c == b'@').unwrap();
    vals[3][pos - 1] ^= 1;
    let col = Arc::new(BinaryArray::from_iter_values(vals.iter()));
    write_batch(seg, &replace_column(&b, "leaf", col));
    common::idx_values(&b)[3]
}

/// `verify --state`: a second run checks earlier segments by file hash only
/// and resumes the tree; new segments are read row by row; any change to an
/// earlier segment, a forged state or a state kept inside the store makes it
/// fall back to reading everything, so the exact position is still named.
#[test]
fn a_verified_state_skips_unchanged_segments_and_never_hides_a_change() {
    let env = built();
    let state = env.dir.path().join("verified.state");
    let st = Env::s(&state);
    let with_state = ["--state", st.as_str()];
    let n_before = segments(&env).len();

    let (code, _, first) = verdict(&env, &with_state);
    assert_eq!(code, 0, "{first}");
    assert!(!first.contains("earlier"), "{first}");
    let written = fs::read_to_string(&state).unwrap();
    assert!(
        written.starts_with("sealtrail.dev/verified@v1\n"),
        "{written}"
    );

    let (code, _, second) = verdict(&env, &with_state);
    assert_eq!(code, 0, "{second}");
    assert!(
        second.contains(&format!("; {n_before} of the segments (")),
        "{second}"
    );
    // the same leaf and segment totals as the full run
    assert_eq!(
        first.split(" verified").next(),
        second.split(" verified").next()
    );

    // the log grows: only the new segments are read row by row
    let o = env.ingest(
        &["--source", "okta", "--seal-every", "5"],
        &[&fixture("okta/system-log.json")],
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    let n_after = segments(&env).len();
    assert!(n_after > n_before);
    let (code, lines, grown) = verdict(&env, &with_state);
    assert_eq!(code, 0, "{lines:?} {grown}");
    assert!(
        grown.contains(&format!("; {n_before} of the segments (")),
        "{grown}"
    );
    assert!(
        grown.contains(&format!("in {n_after} segments verified")),
        "{grown}"
    );

    // an earlier segment changes: everything is read, the leaf is named
    let kept_state = fs::read_to_string(&state).unwrap();
    let seg = &segments(&env)[1];
    let idx = flip_a_leaf_bit(seg);
    let o = env.verify(&with_state);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "modified: {} idx {idx}: leaf bytes do not match leaf_hash",
            name(seg)
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "not used ({} changed since it was verified)",
            name(seg)
        )),
        "{out}"
    );
    assert!(!out.contains("earlier verification"), "{out}");
    assert_eq!(
        fs::read_to_string(&state).unwrap(),
        kept_state,
        "a failed verification does not rewrite the state"
    );
}

#[test]
fn a_forged_or_misplaced_verified_state_is_not_used() {
    let env = built();
    let state = env.dir.path().join("verified.state");
    let st = Env::s(&state);
    assert_eq!(verdict(&env, &["--state", st.as_str()]).0, 0);
    let good = fs::read_to_string(&state).unwrap();

    // a frontier that does not give the state's root
    let line = good.lines().find(|l| l.starts_with("frontier ")).unwrap();
    let forged_line = format!(
        "{} AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        &line[..line.rfind(' ').unwrap()]
    );
    fs::write(&state, good.replace(line, &forged_line)).unwrap();
    let o = env.verify(&["--state", st.as_str()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("its frontier does not give its root"), "{out}");
    assert!(!out.contains("earlier verification"), "{out}");

    // a frontier and root that agree, but no signed checkpoint carries that
    // root: the state is bound to the store's signatures, not to itself
    let mut forged = sealtrail::verify::VerifiedState::parse(&good).unwrap();
    let mut f = sealtrail::tlog::merkle::Frontier::new();
    for i in 0..forged.size {
        f.push([i as u8; 32]);
    }
    forged.frontier = f.nodes().to_vec();
    forged.root = f.root();
    fs::write(&state, forged.to_text()).unwrap();
    let o = env.verify(&["--state", st.as_str()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("no signed checkpoint of this store has its root"),
        "{out}"
    );
    assert!(!out.contains("earlier verification"), "{out}");

    // kept inside the store: refused whatever it says
    let inside = env.store().join("verified.state");
    fs::write(&inside, &good).unwrap();
    let o = env.verify(&["--state", &Env::s(&inside)]);
    let out = stdout(&o);
    assert!(out.contains("it lies inside the store"), "{out}");
    assert!(!out.contains("earlier verification"), "{out}");
}

#[test]
fn a_write_cut_short_leaves_a_temp_file_that_warns_and_the_next_writer_removes() {
    let env = built();
    let tmp = env
        .store()
        .join("checkpoints")
        .join("00000000000000099999.tmp");
    fs::write(&tmp, "half a checkpo").unwrap();
    let o = env.verify(&[]);
    let out = stdout(&o);
    assert!(o.status.success(), "a temp file is not a failure: {out}");
    assert!(
        out.lines().any(|l| l.starts_with("warning:")
            && l.contains("checkpoints/00000000000000099999.tmp")
            && l.contains("interrupted write")),
        "{out}"
    );
    // any writer's open removes it
    let store = Env::s(&env.store());
    let key = Env::s(&env.key());
    ok(&["seal", "--store", &store, "--key", &key]);
    assert!(!tmp.exists(), "the writer removed the temp file");
    let (code, lines, summary) = verdict(&env, &[]);
    assert_eq!(code, 0, "{lines:?} {summary}");
}

/// A seal killed before its rename leaves `segments/<range>.parquet.tmp`
/// (tests/crash.rs kills one so): a warning, not a tampered store, until
/// the next writer removes it; but a listed segment renamed to such a name
/// is still found by its hash and named moved.
#[test]
fn an_interrupted_seals_temp_segment_warns_and_a_segment_renamed_to_one_is_moved() {
    let env = built();
    let segs = segments(&env);
    let last = segs.last().expect("a segment");
    let first = parse_range(last);
    let tmp = env.store().join("segments").join(format!(
        "{:020}-{:020}.parquet.tmp",
        first.1 + 1,
        first.1 + 20
    ));
    fs::write(&tmp, b"PAR1 cut short").unwrap();
    let o = env.verify(&[]);
    let out = stdout(&o);
    assert!(o.status.success(), "a temp segment is not a failure: {out}");
    assert!(
        out.lines().any(|l| l.starts_with("warning:")
            && l.contains(&format!(
                "segments/{}",
                tmp.file_name().unwrap().to_string_lossy()
            ))
            && l.contains("interrupted write")),
        "{out}"
    );
    fs::remove_file(&tmp).unwrap();
    let hidden = last.with_file_name(format!(
        "{}.tmp",
        last.file_name().unwrap().to_string_lossy()
    ));
    fs::rename(last, &hidden).unwrap();
    assert_one(&env, &[], &format!("moved: {}", name(last)));
}

/// The leaf range a segment's file name gives.
fn parse_range(p: &Path) -> (u64, u64) {
    let n = p.file_name().unwrap().to_string_lossy().to_string();
    let (a, b) = n.trim_end_matches(".parquet").split_once('-').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn a_seal_larger_than_a_row_group_is_written_whole_and_in_order() {
    // One seal of 70,000 records: its rows are built 8,192 at a time on one
    // thread and encoded on another (store::SealWork::run), and the file is
    // cut into row groups of 65,536 rows (FORMAT.md §7).
    let env = Env::new();
    let input = env.dir.path().join("many.jsonl");
    let lines: String = (0..70_000)
        .map(|i| {
            format!(
                "{{\"kind\":\"delivery\",\"ts\":\"2026-03-01T08:00:00Z\",\"source\":\"gateway\",\
                 \"source_event_id\":\"m{i}\",\"recipient\":\"u{i}@example.org\",\
                 \"status\":\"delivered\",\"encryption\":\"tls\",\"tls_version\":\"TLSv1.3\"}}\n"
            )
        })
        .collect();
    fs::write(&input, lines).unwrap();
    let o = env.ingest(&["--source", "jsonl", "--seal-every", "100000"], &[&input]);
    assert!(o.status.success(), "{}", common::stderr(&o));

    // the records, then the run's coverage leaf (FORMAT.md §11.2)
    let n = common::tree_size(&env.store());
    assert_eq!(n, 70_001);
    let files = segments(&env);
    assert_eq!(files.len(), 1, "one seal, one file: {files:?}");
    let meta = parquet::file::reader::FileReader::metadata(
        &parquet::file::reader::SerializedFileReader::new(fs::File::open(&files[0]).unwrap())
            .unwrap(),
    )
    .clone();
    let groups: Vec<i64> = meta.row_groups().iter().map(|g| g.num_rows()).collect();
    assert_eq!(groups, vec![65_536, 4_465]);
    let b = read_batch(&files[0]);
    assert_eq!(common::idx_values(&b), (0..n).collect::<Vec<u64>>());
    // each row's typed columns came from its own record, across batch edges
    let recipients = common::str_column(&b, "recipient");
    let leaves = leaf_values(&b);
    for row in [0usize, 8_191, 8_192, 65_535, 65_536, 69_999] {
        let leaf = String::from_utf8_lossy(&leaves[row]);
        assert!(
            leaf.contains(&format!("\"source_event_id\":\"m{row}\"")),
            "{leaf}"
        );
        assert_eq!(recipients.value(row), format!("u{row}@example.org"));
    }
    let (code, lines, summary) = verdict(&env, &[]);
    assert_eq!(code, 0, "{lines:?} {summary}");
    assert!(summary.contains("size 70001;"), "{summary}");
}

/// `b` written to `p` in row groups of `rows` rows each; how many.
fn write_in_row_groups(p: &Path, b: &RecordBatch, rows: usize) -> usize {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(rows))
        .build();
    let mut w =
        ArrowWriter::try_new(fs::File::create(p).unwrap(), b.schema(), Some(props)).unwrap();
    w.write(b).unwrap();
    w.close().unwrap().num_row_groups()
}

/// A segment of many row groups is checked in parts, a row group each, on
/// several threads at once, and joined again in order: its verdict is that
/// of the same rows written in one row group, read from start to end. A
/// clean file verifies; a swap across a row group's edge (with and without
/// an edit of a swapped leaf, which the reordering names instead), a row
/// deleted from a later row group and a leaf edited in one are each named
/// at their leaf.
#[test]
fn a_segment_of_many_row_groups_is_checked_in_parts_with_the_same_verdicts() {
    let env = built();
    let seg = &segments(&env)[1];
    let clean = read_batch(seg);
    let first = common::idx_values(&clean)[0];
    let n = clean.num_rows() as u32;
    assert!(n >= 12, "a segment of the fixture holds {n} rows");
    let in_parts = |b: &RecordBatch| {
        assert_eq!(write_in_row_groups(seg, b, usize::MAX), 1);
        let whole = verdict(&env, &["--threads", "1"]);
        assert!(write_in_row_groups(seg, b, 3) > 3);
        for threads in ["1", "2", "3"] {
            assert_eq!(
                verdict(&env, &["--threads", threads]),
                whole,
                "row groups of 3 rows, --threads {threads}"
            );
        }
        whole
    };
    let has = |lines: &[String], want: &str| {
        assert!(
            lines.iter().any(|l| l.starts_with(want)),
            "{want} in {lines:#?}"
        );
    };
    let edit_leaf = |b: &RecordBatch, row: usize| {
        let mut leaves = leaf_values(b);
        let at = leaves[row].iter().position(|&c| c == b'@').unwrap();
        leaves[row][at - 1] ^= 1;
        replace_column(
            b,
            "leaf",
            Arc::new(BinaryArray::from_iter_values(leaves.iter())),
        )
    };

    let (code, lines, summary) = in_parts(&clean);
    assert_eq!(code, 0, "{lines:?} {summary}");

    // rows 2 and 3: the last of the first row group and the first of the next
    let mut rows: Vec<u32> = (0..n).collect();
    rows.swap(2, 3);
    let swapped = take_rows(&clean, &rows);
    let reordered = |row: u64, holds: u64| {
        format!(
            "reordered: {} idx {}: row {row} holds leaf {}",
            name(seg),
            first + row,
            first + holds
        )
    };
    let (code, lines, _) = in_parts(&swapped);
    assert_eq!(code, 1);
    has(&lines, &reordered(2, 3));
    has(&lines, &reordered(3, 2));
    let (code, lines, _) = in_parts(&edit_leaf(&swapped, 3));
    assert_eq!(code, 1);
    has(&lines, &reordered(3, 2));

    let rows: Vec<u32> = (0..n).filter(|&r| r != 7).collect();
    let (code, lines, _) = in_parts(&take_rows(&clean, &rows));
    assert_eq!(code, 1);
    has(
        &lines,
        &format!(
            "missing: {} idx {}: 1 leaf row(s) missing",
            name(seg),
            first + 7
        ),
    );

    let (code, lines, _) = in_parts(&edit_leaf(&clean, 10));
    assert_eq!(code, 1);
    has(
        &lines,
        &format!(
            "modified: {} idx {}: leaf bytes do not match leaf_hash",
            name(seg),
            first + 10
        ),
    );
}

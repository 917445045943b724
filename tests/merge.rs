//! Merging small segments (FORMAT.md §8.1): a seal folds the small segments
//! ending the log into its own file. These tests build real stores with the
//! binary and check that a merge keeps every leaf byte for byte, that the
//! store still verifies, that a changed file is never merged, that a
//! verified state survives a merge, and that open query views follow one.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{Env, duck, fixture, idx_values, leaf_values, read_batch, stdout};

fn segments(store: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(store.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Every leaf of the store, in idx order, read from whatever files hold it.
fn leaves(store: &Path) -> Vec<Vec<u8>> {
    let mut all: Vec<(u64, Vec<u8>)> = Vec::new();
    for seg in segments(store) {
        let b = read_batch(&seg);
        all.extend(idx_values(&b).into_iter().zip(leaf_values(&b)));
    }
    all.sort();
    all.into_iter().map(|(_, l)| l).collect()
}

/// The Okta fixture with every event id changed by `tag`, so that it
/// ingests again as new events instead of duplicates.
fn okta_copy(env: &Env, tag: &str) -> PathBuf {
    let text = fs::read_to_string(fixture("okta/system-log.json")).unwrap();
    let changed = text.replace("\"uuid\": \"", &format!("\"uuid\": \"{tag}"));
    assert_ne!(text, changed, "the fixture has uuids to change");
    let p = env.dir.path().join(format!("okta-{tag}.json"));
    fs::write(&p, changed).unwrap();
    p
}

/// A segment file's leaf range, from its name.
fn range(seg: &Path) -> (u64, u64) {
    let name = seg.file_stem().unwrap().to_string_lossy().to_string();
    let (a, b) = name.split_once('-').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

#[track_caller]
fn ingest(env: &Env, args: &[&str], file: &Path) {
    let o = env.ingest(args, &[file]);
    assert!(o.status.success(), "{}", common::stderr(&o));
}

/// A store of the 50 fixture events sealed 5 at a time, never merged: ten
/// small segments.
fn small_unmerged_segments() -> Env {
    let env = Env::new();
    let args = ["--source", "jsonl", "--seal-every", "5", "--merge-at", "0"];
    ingest(&env, &args, &fixture("jsonl/events.jsonl"));
    env
}

#[track_caller]
fn verify_ok(env: &Env, extra: &[&str]) -> String {
    let o = env.verify(extra);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    out.lines().last().unwrap_or_default().to_string()
}

#[test]
fn small_segments_are_merged_leaf_for_leaf_and_the_store_still_verifies() {
    let env = small_unmerged_segments();
    let store = env.store();
    let before = segments(&store);
    assert!(before.len() >= 10, "{before:?}");
    let old_leaves = leaves(&store);

    // the next seals merge once 3 small segments end the log
    let more = okta_copy(&env, "m");
    ingest(&env, &common::small_seals_merged("okta"), &more);
    let after = segments(&store);
    assert!(after.len() <= 3, "{after:?}");
    // the files merged away are gone; the first merged file starts at 0
    assert!(before.iter().all(|p| !p.exists()));
    assert!(
        after[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("00000000000000000000-"),
        "{after:?}"
    );
    // every earlier leaf is still there, byte for byte, at its index
    let new_leaves = leaves(&store);
    assert_eq!(&new_leaves[..old_leaves.len()], &old_leaves[..]);
    // the manifest lists exactly the files on disk, and a glob over them
    // sees each leaf once
    let summary = verify_ok(&env, &[]);
    assert!(
        summary.contains(&format!(
            "{} leaves in {} segments verified",
            new_leaves.len(),
            after.len()
        )),
        "{summary}"
    );
    let counts = duck(
        &store,
        "SELECT count(*)::VARCHAR, count(DISTINCT idx)::VARCHAR FROM leaves",
    );
    let n = new_leaves.len().to_string();
    assert_eq!(counts, vec![vec![n.clone(), n]]);
}

#[test]
fn a_changed_small_segment_is_never_merged_and_verify_names_it() {
    let env = small_unmerged_segments();
    let store = env.store();
    // change one leaf of the last (small) segment, keeping it valid Parquet
    let last = segments(&store).pop().unwrap();
    let b = read_batch(&last);
    let mut vals = leaf_values(&b);
    let pos = vals[1].iter().position(|&c| c == b'"').unwrap();
    vals[1][pos + 1] ^= 1;
    let idx = idx_values(&b)[1];
    let col = std::sync::Arc::new(arrow::array::BinaryArray::from_iter_values(vals.iter()));
    let schema = b.schema();
    let i = schema.index_of("leaf").unwrap();
    let mut cols = b.columns().to_vec();
    cols[i] = col;
    let changed = arrow::array::RecordBatch::try_new(schema.clone(), cols).unwrap();
    let f = fs::File::create(&last).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
    w.write(&changed).unwrap();
    w.close().unwrap();

    // seals that would merge it write their own files instead
    let more = okta_copy(&env, "x");
    ingest(&env, &common::small_seals_merged("okta"), &more);
    assert!(last.exists(), "the changed file stays in place");
    // and no file holds its leaves but itself
    let (a, b) = range(&last);
    for seg in segments(&store) {
        let (f, l) = range(&seg);
        assert!(seg == last || l < a || f > b, "{seg:?} overlaps {last:?}");
    }
    let o = env.verify(&[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let name = format!("segments/{}", last.file_name().unwrap().to_string_lossy());
    assert!(
        out.contains(&format!(
            "{name} idx {idx}: leaf bytes do not match leaf_hash"
        )),
        "the leaf is named: {out}"
    );
}

#[test]
fn a_verified_state_survives_a_merge_of_the_segments_after_it() {
    let env = Env::new();
    let store = env.store();
    let state = env.dir.path().join("verified.state");
    let st = Env::s(&state);
    let with_state = ["--state", st.as_str()];
    // below 60 leaves a segment is small; the Okta fixture sealed whole
    // (events and coverage leaves) is not
    let policy = |seal_every: &'static str| {
        [
            "--source",
            "okta",
            "--seal-every",
            seal_every,
            "--merge-small-below",
            "60",
            "--merge-at",
            "3",
        ]
    };
    ingest(&env, &policy("100"), &fixture("okta/system-log.json"));
    let big = segments(&store);
    assert_eq!(big.len(), 1, "{big:?}");
    let big_rows: u64 = common::tree_size(&store);
    // small seals after it, then a verification that records them
    ingest(&env, &policy("5"), &okta_copy(&env, "a"));
    let small: Vec<PathBuf> = segments(&store).into_iter().skip(1).collect();
    assert!(!small.is_empty());
    verify_ok(&env, &with_state);

    // more small seals merge the state's small segments with new leaves
    ingest(&env, &policy("5"), &okta_copy(&env, "b"));
    assert!(big[0].exists());
    assert!(
        small.iter().all(|p| !p.exists()),
        "the state's small segments were merged"
    );
    let summary = verify_ok(&env, &with_state);
    assert!(
        summary.contains(&format!(
            "; 1 of the segments ({big_rows} leaves) by an earlier verification"
        )),
        "only the unchanged segment is taken from the state: {summary}"
    );
    // and the totals are those of a run without the state
    let full = verify_ok(&env, &[]);
    assert_eq!(
        summary.split(" verified").next(),
        full.split(" verified").next()
    );
}

#[test]
fn open_query_views_follow_a_merge_and_keep_their_pinned_size() {
    use sealtrail::query::Evidence;
    let env = small_unmerged_segments();
    let store = env.store();
    let vkey = fs::read_to_string(env.vkey()).unwrap();
    let keys = vec![sealtrail::tlog::Verifier::parse(vkey.trim()).unwrap()];
    let queries = common::repo().join("queries");
    let ev = Evidence::open(sealtrail::query::EvidenceSource {
        store: &store,
        keys: &keys,
        queries: &queries,
    })
    .unwrap();
    let count = |ev: &Evidence| {
        ev.run("count", "SELECT count(*) AS n, max(idx) AS m FROM leaves")
            .unwrap()
            .rows
    };
    let pinned = count(&ev);

    // a merge removes every file the views read
    let files = segments(&store);
    ingest(
        &env,
        &common::small_seals_merged("okta"),
        &okta_copy(&env, "q"),
    );
    assert!(files.iter().all(|p| !p.exists()));
    // the same leaves, from the files that hold them now
    assert_eq!(count(&ev), pinned);
}

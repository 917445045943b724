//! Criterion micro-benchmarks of the hot paths: leaf hashing, Merkle roots
//! and proofs, parsing per source, and Parquet segment writing. Each group
//! runs a baseline beside ours (plain SHA-256 over the same bytes; writing
//! the same rows without the leaf/hash/chain columns) so ratios can be read
//! from one run:
//!
//!     cargo bench --bench micro
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sealtrail::ingest::{self, Parsed};
use sealtrail::model::{Kind, Record, Ts};
use sealtrail::store::segment;
use sealtrail::tlog::merkle;
use sha2::{Digest, Sha256};

fn sample_leaves(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut r = Record::new(Kind::Delivery, Ts(1_767_225_600_000_000 + i as i64), "postfix");
            r.ingested_at = Some(Ts(1_767_225_600_000_000));
            r.recipient = Some(format!("user{i}@clinic-partner.com"));
            r.status = Some("delivered".into());
            r.encryption = Some("tls".into());
            r.tls_version = Some("TLSv1.3".into());
            r.source_event_id = Some(format!("Q{i}:user{i}@clinic-partner.com:delivered"));
            r.raw = Some(format!("Jan  1 00:00:01 mx postfix/smtp[1]: Q{i}: to=<user{i}@clinic-partner.com>, relay=mx[192.0.2.1]:25, dsn=2.0.0, status=sent (250 ok)"));
            r.derive();
            r.to_leaf()
        })
        .collect()
}

fn hashing(c: &mut Criterion) {
    let leaves = sample_leaves(10_000);
    let bytes: u64 = leaves.iter().map(|l| l.len() as u64).sum();
    let mut g = c.benchmark_group("leaf_hash");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("baseline_sha256", |b| {
        b.iter(|| {
            leaves
                .iter()
                .map(|l| Sha256::digest(black_box(l))[0])
                .fold(0u8, |a, x| a ^ x)
        })
    });
    g.bench_function("leaf_hash_and_chain", |b| {
        b.iter(|| {
            let mut chain = [0u8; 32];
            for l in &leaves {
                chain = merkle::chain_hash(&chain, &merkle::leaf_hash(black_box(l)));
            }
            chain
        })
    });
    g.finish();
    // What bounds ingest and verify on a CPU without SHA-NI: `sha2`
    // (sealtrail's, pure Rust; `leaf_hash/baseline_sha256` over leaves)
    // beside ring's assembly SHA-256 (in the dependency tree through rustls,
    // used here only to measure the gap), over one 4 MiB buffer (a segment
    // file's hash) and over the same leaves.
    let mut g = c.benchmark_group("sha256_implementations");
    let buffer: Vec<u8> = leaves
        .iter()
        .flatten()
        .copied()
        .cycle()
        .take(4 << 20)
        .collect();
    g.throughput(Throughput::Bytes(buffer.len() as u64));
    g.bench_function("sha2_4mib", |b| {
        b.iter(|| Sha256::digest(black_box(&buffer)))
    });
    g.bench_function("ring_4mib", |b| {
        b.iter(|| ring::digest::digest(&ring::digest::SHA256, black_box(&buffer)))
    });
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("ring_leaves", |b| {
        b.iter(|| {
            leaves
                .iter()
                .map(|l| ring::digest::digest(&ring::digest::SHA256, black_box(l)).as_ref()[0])
                .fold(0u8, |a, x| a ^ x)
        })
    });
    g.finish();
    let hashes: Vec<merkle::Hash> = leaves.iter().map(|l| merkle::leaf_hash(l)).collect();
    let mut g = c.benchmark_group("merkle");
    g.throughput(Throughput::Elements(hashes.len() as u64));
    g.bench_function("root_recursive", |b| {
        b.iter(|| merkle::root(black_box(&hashes)))
    });
    g.bench_function("root_frontier", |b| {
        b.iter(|| {
            let mut f = merkle::Frontier::new();
            for h in &hashes {
                f.push(*h);
            }
            f.root()
        })
    });
    g.bench_function("inclusion_proof", |b| {
        b.iter(|| merkle::inclusion_proof(black_box(&hashes), 4321))
    });
    // the same proof from complete nodes kept beforehand (the tree index,
    // FORMAT.md §4.1, holds them on disk): O(log n) instead of O(n)
    let mut levels = merkle::complete_levels(hashes.clone());
    g.bench_function("inclusion_proof_from_complete_nodes", |b| {
        b.iter(|| merkle::inclusion_proof_from(&mut levels, black_box(4321), hashes.len() as u64))
    });
    g.finish();
}

fn parsing(c: &mut Criterion) {
    let root = env!("CARGO_MANIFEST_DIR");
    let cases = [
        (
            "postfix",
            format!("{root}/fixtures/postfix/maillog-20260101"),
        ),
        ("okta", format!("{root}/fixtures/okta/system-log.json")),
        ("m365", format!("{root}/fixtures/m365/message-trace-v2.csv")),
        ("jsonl", format!("{root}/fixtures/jsonl/events.jsonl")),
    ];
    let mut g = c.benchmark_group("parse");
    for (name, path) in cases {
        let data = std::fs::read(&path).unwrap_or_default();
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut src = ingest::source_by_name(name).expect("source");
                let mut n = 0u64;
                let mut emit = |p: Parsed| {
                    if matches!(p, Parsed::Event(..)) {
                        n += 1;
                    }
                    Ok(())
                };
                let _ = src.parse(&mut &data[..], "bench", &mut emit);
                n
            })
        });
    }
    g.finish();
}

fn parquet(c: &mut Criterion) {
    let leaves = sample_leaves(20_000);
    let recs: Vec<Record> = leaves
        .iter()
        .map(|l| Record::from_leaf(l).expect("leaf"))
        .collect();
    let dir = std::env::temp_dir().join(format!("sealtrail-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut g = c.benchmark_group("segment_write");
    g.throughput(Throughput::Elements(recs.len() as u64));
    g.sample_size(10);
    let hashes: Vec<[u8; 32]> = leaves.iter().map(|l| merkle::leaf_hash(l)).collect();
    // runs as a seal takes them from its pending records, leaves read
    // back for their typed values, as a recovered WAL's leaves are
    let sealed = || -> Vec<segment::LeafRun> {
        let mut runs = Vec::new();
        let mut run = segment::LeafRunBuilder::default();
        for (l, h) in leaves.iter().zip(&hashes) {
            if !run.has_room(l.len()) {
                runs.push(std::mem::take(&mut run).finish());
            }
            run.push(l, *h, None);
        }
        runs.push(run.finish());
        runs
    };
    let chains = vec![[0u8; 32]; leaves.len()];
    // baseline: one Arrow batch of every row, encoded, then the file read
    // back and hashed for the manifest (what a seal did until session 7)
    g.bench_function("one_batch_then_encode", |b| {
        b.iter(|| {
            let mut all = segment::LeafRunBuilder::default();
            for (l, h) in leaves.iter().zip(&hashes) {
                all.push(l, *h, None);
            }
            let batch = segment::leaves_to_batch(0, &all.finish(), &chains).expect("batch");
            segment::write(&dir.join("s.parquet"), 0, &batch).expect("write");
            sealtrail::store::sha256_file(&dir.join("s.parquet")).expect("hash")
        })
    });
    // what a seal does: rows built 8,192 at a time, encoded and the bytes
    // hashed as they are written, on three threads
    g.bench_function("sealtrail_segment", |b| {
        b.iter(|| {
            segment::write_leaves(&dir.join("s.parquet"), 0, [], 0, &sealed(), &chains)
                .expect("write")
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, hashing, parsing, parquet);
criterion_main!(benches);

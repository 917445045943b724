//! Helpers shared by the integration tests: run the real binary, make keys,
//! build stores from fixtures.
#![allow(dead_code)]

pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Every source, as `--source` names it.
pub const SOURCES: [&str; 11] = [
    "postfix",
    "m365",
    "gmail",
    "okta",
    "entra",
    "duo",
    "gateway",
    "disclosures",
    "training",
    "ocsf",
    "jsonl",
];

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sealtrail"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    repo().join("fixtures").join(rel)
}

pub fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run sealtrail")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[track_caller]
pub fn ok(args: &[&str]) -> String {
    succeeded(args, &run(args))
}

/// The stdout of a `sealtrail` run that must have succeeded (else the
/// test fails with both of its outputs): shared by every way tests start it.
#[track_caller]
pub fn succeeded(args: &[&str], o: &Output) -> String {
    assert!(
        o.status.success(),
        "sealtrail {args:?} failed: {}\n{}",
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// A store holding every fixture of every source, ingested source by
/// source in file-name order.
pub fn full_store() -> Env {
    let env = Env::new();
    for s in SOURCES {
        let mut files: Vec<PathBuf> = std::fs::read_dir(fixture(s))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
        let o = env.ingest(&["--source", s], &refs);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    env
}

/// A temp directory holding `keys/` (outside the store) and `store/`.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let env = Env {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        ok(&[
            "keygen",
            "--name",
            "test.example/log",
            "--out",
            env.keys().to_str().unwrap(),
        ]);
        env
    }
    pub fn keys(&self) -> PathBuf {
        self.dir.path().join("keys")
    }
    pub fn key(&self) -> PathBuf {
        self.keys().join("test.example_log.key")
    }
    pub fn vkey(&self) -> PathBuf {
        self.keys().join("test.example_log.vkey")
    }
    pub fn pem(&self) -> PathBuf {
        self.keys().join("test.example_log.pub.pem")
    }
    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }
    pub fn s(p: &Path) -> String {
        p.to_str().unwrap().to_string()
    }
    /// `sealtrail ingest` with the given extra args and files.
    pub fn ingest(&self, extra: &[&str], files: &[&Path]) -> Output {
        let store = Env::s(&self.store());
        let key = Env::s(&self.key());
        let mut args: Vec<String> = vec![
            "ingest".into(),
            "--store".into(),
            store,
            "--key".into(),
            key,
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(files.iter().map(|f| Env::s(f)));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&refs)
    }
    pub fn verify(&self, extra: &[&str]) -> Output {
        let store = Env::s(&self.store());
        let vkey = Env::s(&self.vkey());
        let mut args = vec!["verify", "--store", &store, "--vkey", &vkey];
        args.extend_from_slice(extra);
        run(&args)
    }
}

/// Rows of a DuckDB query over the store's segments, as strings.
pub fn duck(store: &Path, sql: &str) -> Vec<Vec<String>> {
    let conn = duckdb::Connection::open_in_memory().expect("duckdb");
    let glob = format!("{}/segments/*.parquet", store.display());
    conn.execute_batch(&format!(
        "CREATE VIEW leaves AS SELECT * FROM read_parquet('{glob}')"
    ))
    .expect("view");
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM ({sql}) t"))
        .expect("prepare");
    let mut rows = stmt.query([]).expect("query");
    let mut out = Vec::new();
    while let Some(row) = rows.next().expect("row") {
        let cols = row.as_ref().column_count();
        let mut v = Vec::new();
        for i in 0..cols {
            let val: duckdb::types::Value = row.get(i).expect("get");
            v.push(match val {
                duckdb::types::Value::Null => "NULL".to_string(),
                duckdb::types::Value::Text(s) => s,
                other => format!("{other:?}"),
            });
        }
        out.push(v);
    }
    out
}

/// All rows of a segment file as one Arrow batch.
pub fn read_batch(p: &Path) -> arrow::array::RecordBatch {
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(p).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let batches: Vec<arrow::array::RecordBatch> = r.map(|b| b.unwrap()).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

/// The `leaf` column of a segment batch, one byte vector per row.
pub fn leaf_values(b: &arrow::array::RecordBatch) -> Vec<Vec<u8>> {
    use arrow::array::{Array, BinaryArray};
    let leaf = b
        .column_by_name("leaf")
        .unwrap()
        .as_any()
        .downcast_ref::<BinaryArray>()
        .unwrap();
    (0..leaf.len()).map(|i| leaf.value(i).to_vec()).collect()
}

/// A string column of a segment batch, by name.
pub fn str_column<'a>(
    b: &'a arrow::array::RecordBatch,
    name: &str,
) -> &'a arrow::array::StringArray {
    b.column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap()
}

/// The `idx` column of a segment batch.
pub fn idx_values(b: &arrow::array::RecordBatch) -> Vec<u64> {
    b.column_by_name("idx")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::UInt64Array>()
        .unwrap()
        .values()
        .to_vec()
}

/// The tree size of the store's latest checkpoint (its second line).
pub fn tree_size(store: &Path) -> u64 {
    std::fs::read_to_string(store.join("checkpoint"))
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

/// `ingest` arguments for `source` sealed 5 records at a time, every
/// segment under 1,000 records small, merged once 3 end the log
/// (FORMAT.md §8.1).
pub fn small_seals_merged(source: &'static str) -> [&'static str; 8] {
    [
        "--source",
        source,
        "--seal-every",
        "5",
        "--merge-small-below",
        "1000",
        "--merge-at",
        "3",
    ]
}

/// The counts of an ingest summary: (read, sealed, duplicates, quarantined,
/// not events), so a test can check that nothing read was lost.
#[allow(dead_code)]
pub fn summary_counts(summary: &str) -> (u64, u64, u64, u64, u64) {
    let first = summary.lines().next().unwrap_or("");
    let num = |label: &str| -> u64 {
        first
            .split(", ")
            .find_map(|p| {
                p.trim()
                    .rsplit_once(' ')
                    .filter(|(l, _)| l.ends_with(label))
            })
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or_else(|| panic!("no `{label}` in {first:?}"))
    };
    let skipped = summary
        .lines()
        .filter_map(|l| l.trim().strip_prefix("not an event "))
        .filter_map(|l| l.split(':').next()?.parse::<u64>().ok())
        .sum();
    (
        num("read"),
        num("sealed"),
        num("duplicates"),
        num("quarantined"),
        skipped,
    )
}

/// Rows of a DuckDB query over `env`'s store, each row's values joined by `|`.
pub fn rows(env: &Env, sql: &str) -> Vec<String> {
    duck(&env.store(), sql)
        .into_iter()
        .map(|r| r.join("|"))
        .collect()
}

/// Asserts an ingest summary begins as `want` does.
#[track_caller]
pub fn starts(summary: &str, want: &str) {
    assert!(
        summary.starts_with(want),
        "summary {summary:?} should start with {want:?}"
    );
}

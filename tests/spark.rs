//! The pack's queries on Apache Spark (PyPI pyspark in local mode, run as
//! `python3 spark/sealtrail_spark.py`, which the binary writes out from its
//! built-in copy) over the same store give exactly the CSVs embedded DuckDB
//! gives, and the pack ships the Spark SQL that produced them.

mod common;

use std::fs;
use std::path::Path;

use common::{Env, ok};

fn pack(env: &Env, out: &Path, extra: &[&str]) {
    let (s, v) = (env.store(), env.vkey());
    let mut args = vec![
        "pack",
        "--store",
        s.to_str().unwrap(),
        "--vkey",
        v.to_str().unwrap(),
        "--from",
        "2025-01-01",
        "--to",
        "2026-12-31",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ok(&args);
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn spark_gives_exactly_the_csvs_duckdb_gives() {
    let env = common::full_store();
    let duck = env.dir.path().join("duck");
    let spark = env.dir.path().join("spark");
    pack(&env, &duck, &[]);
    pack(
        &env,
        &spark,
        &["--engine", "spark", "--spark-submit", "python3"],
    );
    let names = listing(&duck.join("csv"));
    assert!(names.len() >= 20, "{names:?}");
    assert_eq!(names, listing(&spark.join("csv")));
    let mut nonempty = 0;
    for n in &names {
        let a = fs::read_to_string(duck.join("csv").join(n)).unwrap();
        let b = fs::read_to_string(spark.join("csv").join(n)).unwrap();
        assert_eq!(a, b, "csv/{n} differs between DuckDB and Spark");
        nonempty += usize::from(a.lines().count() > 1);
    }
    // the comparison is over real figures, not empty tables
    assert!(nonempty >= 15, "only {nonempty} CSVs hold rows");
    // the same figures give the same PDF
    assert_eq!(
        fs::read(duck.join("evidence-pack.pdf")).unwrap(),
        fs::read(spark.join("evidence-pack.pdf")).unwrap()
    );
    // the Spark pack ships the Spark SQL that produced its numbers, beside
    // the DuckDB texts (one per query); the DuckDB pack has none
    let spark_sql = listing(&spark.join("queries/spark"));
    assert_eq!(
        spark_sql,
        names
            .iter()
            .map(|n| n.replace(".csv", ".sql"))
            .collect::<Vec<_>>()
    );
    let summary = fs::read_to_string(spark.join("queries/spark/transmission_summary.sql")).unwrap();
    assert!(
        summary.contains("outbound_deliveries") && summary.contains("CAST('"),
        "{summary}"
    );
    assert!(!duck.join("queries/spark").exists());
}

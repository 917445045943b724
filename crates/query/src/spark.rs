//! The evidence queries on Apache Spark (docs/SCALING.md).
//!
//! [`run`] writes a job (`sealtrail-spark-job/v1`: the verified manifest's
//! exact segment files, the checkpoint's tree size, the parameters, and the
//! SQL texts of `queries/`) and the runner `spark/sealtrail_spark.py`
//! (built into the binary) to a work directory, runs the runner with the
//! command given (`spark-submit --master …`, or `python3` with PyPI
//! pyspark), and reads back one Parquet result per query. The results are
//! formatted by [`Table::from_batches`], as DuckDB's are, so a pack built
//! from either engine shows the same figures from the same store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::{Engine, Evidence, Param, QueryError, QueryFile, Result, Table};

/// The runner, as shipped in `spark/` of the repository.
pub const RUNNER: &str = include_str!("../../../spark/sealtrail_spark.py");

/// The job format's name.
pub const JOB_FORMAT: &str = "sealtrail-spark-job/v1";

/// How to start the runner: a command and its arguments, to which the
/// runner's path, the job file and the output directory are appended.
#[derive(Clone, Debug)]
pub struct SparkCommand(pub Vec<String>);

impl Default for SparkCommand {
    fn default() -> SparkCommand {
        SparkCommand(vec![
            "spark-submit".into(),
            "--master".into(),
            "local[2]".into(),
        ])
    }
}

/// The results of one Spark job.
pub struct SparkResults {
    dir: PathBuf,
    /// The Spark SQL text each query ran as (the pack ships them).
    pub spark_sql: BTreeMap<String, String>,
}

fn param_json(p: &Param) -> serde_json::Value {
    match p {
        Param::Time(t) => serde_json::json!({"type": "time", "value": t.to_canonical()}),
        Param::Int(i) => serde_json::json!({"type": "int", "value": i}),
        Param::Text(s) => serde_json::json!({"type": "text", "value": s}),
    }
}

/// Runs `queries` on Spark over the files and tree size `ev` is pinned
/// to, with `params` bound, in `work` (created; the caller removes it).
pub fn run(
    ev: &Evidence,
    params: &BTreeMap<String, Param>,
    views: &QueryFile,
    queries: &[QueryFile],
    command: &SparkCommand,
    work: &Path,
) -> Result<SparkResults> {
    let fail = |what: String| QueryError::Spark(what);
    std::fs::create_dir_all(work).map_err(|e| fail(format!("{}: {e}", work.display())))?;
    let files: Vec<String> = ev
        .segment_files()
        .iter()
        .map(|p| {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string()
        })
        .collect();
    if files.is_empty() {
        return Err(fail(
            "the store has no sealed segment for Spark to read".into(),
        ));
    }
    let mut all = params.clone();
    all.insert("tree_size".into(), Param::Int(ev.checkpoint.size as i64));
    let job = serde_json::json!({
        "format": JOB_FORMAT,
        "files": files,
        "tree_size": ev.checkpoint.size,
        "params": all.iter().map(|(k, v)| (k.clone(), param_json(v))).collect::<serde_json::Map<_, _>>(),
        "views": views.text,
        "queries": queries.iter().map(|q| (q.name.clone(), serde_json::Value::from(q.text.clone()))).collect::<serde_json::Map<_, _>>(),
    });
    let job_path = work.join("job.json");
    let runner = work.join("sealtrail_spark.py");
    let out = work.join("results");
    std::fs::write(
        &job_path,
        serde_json::to_vec_pretty(&job).unwrap_or_default(),
    )
    .and_then(|()| std::fs::write(&runner, RUNNER))
    .map_err(|e| fail(format!("{}: {e}", work.display())))?;
    let (program, args) = command
        .0
        .split_first()
        .ok_or_else(|| fail("the Spark command is empty".into()))?;
    let log = work.join("spark.log");
    let log_file =
        std::fs::File::create(&log).map_err(|e| fail(format!("{}: {e}", log.display())))?;
    let status = Command::new(program)
        .args(args)
        .arg(&runner)
        .arg(&job_path)
        .arg(&out)
        .env(
            "PYSPARK_PYTHON",
            std::env::var_os("PYSPARK_PYTHON").unwrap_or_else(|| "python3".into()),
        )
        .stdout(log_file.try_clone().map_err(|e| fail(e.to_string()))?)
        .stderr(log_file)
        .status()
        .map_err(|e| {
            fail(format!(
                "cannot start `{program}` ({e}); install Spark or pass the command that runs it"
            ))
        })?;
    if !status.success() {
        return Err(fail(format!(
            "the Spark job failed ({status}); its log is {}",
            log.display()
        )));
    }
    let mut spark_sql = BTreeMap::new();
    for q in queries {
        let p = out.join(format!("{}.spark.sql", q.name));
        let text = std::fs::read_to_string(&p)
            .map_err(|_| fail(format!("the Spark job left no {}", p.display())))?;
        spark_sql.insert(q.name.clone(), text);
    }
    Ok(SparkResults {
        dir: out,
        spark_sql,
    })
}

impl Engine for SparkResults {
    fn name(&self) -> &'static str {
        "spark"
    }

    fn run_file(&self, q: &QueryFile) -> Result<Table> {
        let path = self.dir.join(format!("{}.parquet", q.name));
        let fail = |e: String| QueryError::Spark(format!("{}: {e}", path.display()));
        let file = std::fs::File::open(&path).map_err(|e| fail(e.to_string()))?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| fail(e.to_string()))?;
        let columns: Vec<String> = builder
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let reader = builder.build().map_err(|e| fail(e.to_string()))?;
        let batches: Vec<RecordBatch> = reader
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| fail(e.to_string()))?;
        Table::from_batches(columns, &batches)
    }
}

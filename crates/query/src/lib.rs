//! The query layer: the sealed store opened read-only in embedded DuckDB,
//! pinned to one verified checkpoint.
//!
//! [`Evidence::open`] verifies the checkpoint and its manifest with the
//! caller's keys, then defines the views of `queries/views.sql` over exactly
//! the segment files the manifest lists, filtered to `idx < size`. The SQL
//! files in `queries/` run unchanged here and in an auditor's DuckDB CLI
//! (FORMAT.md §14): parameters are DuckDB variables (`getvariable('…')`), set
//! by [`Evidence::set`] here and by the pack's `params.sql` there.
//!
//! Never writes to the store; holds no key but verifier keys.
#![deny(missing_docs)]

pub mod assets;
pub mod spark;

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use sha2::{Digest, Sha256};

use sealtrail_format::tlog::{Checkpoint, Verifier};
use sealtrail_store::{Manifest, Reader, StoreError};

/// Errors of the query layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The store could not be opened or verified.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// DuckDB refused a statement.
    #[error("{what}: {source}")]
    Duck {
        /// Which query or step.
        what: String,
        /// The cause.
        source: duckdb::Error,
    },
    /// A query file is missing or unreadable.
    #[error(
        "{0}: cannot read the query file; is --queries pointing at sealtrail's queries/ directory?"
    )]
    Missing(PathBuf),
    /// Arrow failed formatting a result.
    #[error("formatting a result: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The Spark job failed or left no result.
    #[error("{0}")]
    Spark(String),
}

/// The query layer's result.
pub type Result<T> = std::result::Result<T, QueryError>;

/// A query file from `queries/`.
#[derive(Clone, Debug)]
pub struct QueryFile {
    /// File stem, e.g. `transmission_summary`.
    pub name: String,
    /// The SQL text, verbatim.
    pub text: String,
    /// SHA-256 of the file's bytes.
    pub sha256: [u8; 32],
}

impl QueryFile {
    /// Loads `<dir>/<name>.sql`.
    pub fn load(dir: &Path, name: &str) -> Result<QueryFile> {
        let path = dir.join(format!("{name}.sql"));
        let text = assets::read_to_string(&path).map_err(|_| QueryError::Missing(path))?;
        let sha256 = Sha256::digest(text.as_bytes()).into();
        Ok(QueryFile {
            name: name.to_string(),
            text,
            sha256,
        })
    }
}

/// A query result: the engine's Arrow record batches, and every value
/// formatted once as text for the CSV and PDF. Numbers are read from the
/// typed batches ([`Table::value`]), never parsed back from the text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows of formatted values (`""` for NULL).
    pub rows: Vec<Vec<String>>,
    /// The batches the rows were formatted from (empty for a table built
    /// by hand).
    pub batches: Vec<RecordBatch>,
}

impl Table {
    /// The rows of Arrow record batches, every value formatted as text the
    /// one way every engine's results are (NULL as `""`, times in UTC with
    /// their `+00:00` offset), so the same result gives the same table
    /// whichever engine computed it.
    pub fn from_batches(columns: Vec<String>, batches: &[RecordBatch]) -> Result<Table> {
        let mut rows = Vec::new();
        let opts = FormatOptions::default().with_null("");
        for b in batches {
            // Named zones need chrono-tz; every time here is UTC, so format
            // with the equivalent fixed offset.
            let cols: Vec<arrow::array::ArrayRef> = b
                .columns()
                .iter()
                .map(|c| match c.data_type() {
                    DataType::Timestamp(unit, Some(_)) => {
                        arrow::compute::cast(c, &DataType::Timestamp(*unit, Some("+00:00".into())))
                    }
                    _ => Ok(c.clone()),
                })
                .collect::<std::result::Result<_, _>>()?;
            let fmts: Vec<ArrayFormatter<'_>> = cols
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
                .collect::<std::result::Result<_, _>>()?;
            for r in 0..b.num_rows() {
                rows.push(fmts.iter().map(|f| f.value(r).to_string()).collect());
            }
        }
        Ok(Table {
            columns,
            rows,
            batches: batches.to_vec(),
        })
    }

    /// The value of `column` in row `row`.
    pub fn get(&self, row: usize, column: &str) -> Option<&str> {
        let c = self.columns.iter().position(|n| n == column)?;
        self.rows.get(row).map(|r| r[c].as_str())
    }

    /// The number in `column` of row `row`, read from the typed batch
    /// (integers, decimals and floats as `f64`): `None` when the row or
    /// column is absent, the value is NULL, or the column is not numeric.
    /// A table built by hand, without batches, is read from its text.
    pub fn value(&self, row: usize, column: &str) -> Option<f64> {
        use arrow::array::Array as _;
        if self.batches.is_empty() {
            return self.get(row, column).and_then(|v| v.parse().ok());
        }
        let c = self.columns.iter().position(|n| n == column)?;
        let mut first = 0;
        for b in &self.batches {
            if row < first + b.num_rows() {
                let col = b.column(c);
                if !col.data_type().is_numeric() {
                    return None;
                }
                let one =
                    arrow::compute::cast(&col.slice(row - first, 1), &DataType::Float64).ok()?;
                let f = one.as_any().downcast_ref::<arrow::array::Float64Array>()?;
                return (!f.is_null(0)).then(|| f.value(0));
            }
            first += b.num_rows();
        }
        None
    }

    /// [`Table::value`], with 0 for an absent or NULL value: for counts,
    /// where no row means none.
    pub fn num(&self, row: usize, column: &str) -> f64 {
        self.value(row, column).unwrap_or(0.0)
    }
}

/// A parameter value for a query.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    /// A UTC instant, as `TIMESTAMPTZ`.
    Time(sealtrail_format::model::Ts),
    /// A number.
    Int(i64),
    /// A text value.
    Text(String),
}

impl Param {
    /// The DuckDB literal.
    pub fn literal(&self) -> String {
        match self {
            Param::Time(t) => format!("TIMESTAMPTZ '{}'", t.to_canonical()),
            Param::Int(i) => i.to_string(),
            Param::Text(s) => format!("'{}'", s.replace('\'', "''")),
        }
    }
}

/// What [`Evidence::refresh`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// The checkpoint has not moved.
    Same,
    /// The log grew; leaves from `from` on are new, the older ones unchanged.
    Extended {
        /// The tree size the views were pinned to before.
        from: u64,
    },
    /// The store at that path is not an extension of the one seen before
    /// (restored from a backup, replaced): nothing derived from it may be kept.
    Replaced,
}

/// Where evidence is read from: a store, the verifier keys its checkpoint
/// and manifest must be signed with, and the query files (a directory, or
/// the built-in [`assets::QUERIES`]). Every reader of evidence takes one.
#[derive(Clone, Copy, Debug)]
pub struct EvidenceSource<'a> {
    /// Store directory.
    pub store: &'a Path,
    /// The verifier keys.
    pub keys: &'a [Verifier],
    /// The `queries/` directory.
    pub queries: &'a Path,
}

/// The store, as DuckDB views pinned to one checkpoint.
pub struct Evidence {
    conn: duckdb::Connection,
    /// The verified checkpoint the views are pinned to.
    pub checkpoint: Checkpoint,
    /// Its verified manifest.
    pub manifest: Manifest,
    /// The signed checkpoint note, verbatim.
    pub checkpoint_note: String,
    /// Where the views were defined from, to define them again over a
    /// later manifest's files when a merge removed the pinned ones.
    opened: Opened,
    /// The segment files the views read now: the manifest's, or a later
    /// manifest's after a merge (same leaves below the pinned size).
    reading: std::cell::RefCell<Vec<String>>,
}

struct Opened {
    store: PathBuf,
    keys: Vec<Verifier>,
    queries: PathBuf,
}

fn duck(what: &str) -> impl FnOnce(duckdb::Error) -> QueryError + '_ {
    move |source| QueryError::Duck {
        what: what.to_string(),
        source,
    }
}

/// DuckDB type names for the segment schema, for an empty store.
fn duck_type(t: &DataType) -> &'static str {
    match t {
        DataType::UInt64 => "UBIGINT",
        DataType::Utf8 => "VARCHAR",
        DataType::Boolean => "BOOLEAN",
        DataType::Timestamp(_, _) => "TIMESTAMPTZ",
        DataType::Date32 => "DATE",
        DataType::Float64 => "DOUBLE",
        _ => "BLOB",
    }
}

impl Evidence {
    /// Opens `store` pinned to its latest checkpoint, verified with `keys`,
    /// with the views of `<queries>/views.sql`.
    pub fn open(src: EvidenceSource<'_>) -> Result<Evidence> {
        let EvidenceSource {
            store,
            keys,
            queries,
        } = src;
        let reader = Reader::open(store)?;
        let checkpoint_note = reader.checkpoint_note()?;
        let checkpoint = reader.checkpoint(keys)?;
        let manifest = reader.manifest(checkpoint.size, keys)?;
        let conn = duckdb::Connection::open_in_memory().map_err(duck("opening DuckDB"))?;
        // the metadata cache keeps each segment's footer across queries
        // (a sealed file never changes; a merge writes a file of a new
        // name, FORMAT.md §8.1), for connections kept open
        conn.execute_batch("SET threads TO 2; SET TimeZone = 'UTC';")
            .or_else(|_| conn.execute_batch("SET threads TO 2;"))
            .map_err(duck("settings"))?;
        let _ = conn.execute_batch("SET parquet_metadata_cache = true;");
        let ev = Evidence {
            conn,
            checkpoint,
            manifest,
            checkpoint_note,
            opened: Opened {
                store: store.to_path_buf(),
                keys: keys.to_vec(),
                queries: queries.to_path_buf(),
            },
            reading: Default::default(),
        };
        ev.define_views(&reader, &ev.manifest)?;
        Ok(ev)
    }

    /// Re-pins the views to the store's latest checkpoint, verified with
    /// `keys`, in the same DuckDB connection (segment footers stay cached).
    pub fn refresh(&mut self, src: EvidenceSource<'_>) -> Result<Refresh> {
        let EvidenceSource {
            store,
            keys,
            queries,
        } = src;
        let reader = Reader::open(store)?;
        let note = reader.checkpoint_note()?;
        if note == self.checkpoint_note {
            return Ok(Refresh::Same);
        }
        let checkpoint = reader.checkpoint(keys)?;
        let manifest = reader.manifest(checkpoint.size, keys)?;
        let before = (self.checkpoint.size, self.checkpoint.root);
        // Extended only if the new tree provably holds the old one as its
        // first leaves (RFC 9162 consistency): merges rewrite files, never
        // leaves, so file names and hashes cannot decide this.
        let extended = checkpoint.size >= before.0
            && reader
                .proofs(&checkpoint)
                .and_then(|mut p| p.consistency(before.0))
                .ok()
                .flatten()
                .is_some_and(|proof| {
                    sealtrail_format::tlog::merkle::verify_consistency(
                        before.0,
                        checkpoint.size,
                        &before.1,
                        &checkpoint.root,
                        &proof,
                    )
                    .is_ok()
                });
        self.checkpoint = checkpoint;
        self.manifest = manifest;
        self.checkpoint_note = note;
        self.opened = Opened {
            store: store.to_path_buf(),
            keys: keys.to_vec(),
            queries: queries.to_path_buf(),
        };
        self.define_views(&reader, &self.manifest)?;
        Ok(if extended {
            Refresh::Extended { from: before.0 }
        } else {
            Refresh::Replaced
        })
    }

    /// After a query failed: if a merge (FORMAT.md §8.1) removed files the
    /// views read, defines them again over the latest manifest's files,
    /// still pinned to this checkpoint's tree size (a merge moves leaves
    /// between files, never changes them), and says whether it did.
    fn follow_merge(&self) -> Result<bool> {
        let gone = self.reading.borrow().iter().any(|f| !Path::new(f).exists());
        if !gone {
            return Ok(false);
        }
        let o = &self.opened;
        let reader = Reader::open(&o.store)?;
        let latest = reader.checkpoint(&o.keys)?;
        if latest.size < self.checkpoint.size {
            return Ok(false);
        }
        let manifest = reader.manifest(latest.size, &o.keys)?;
        self.define_views(&reader, &manifest)?;
        tracing::debug!(
            from = self.checkpoint.size,
            files_of = latest.size,
            "segment files merged away; views now read the latest manifest's files"
        );
        Ok(true)
    }

    /// (Re)defines the views of `<queries>/views.sql` over exactly the
    /// manifest's segment files, filtered to the checkpoint's tree size.
    fn define_views(&self, reader: &Reader, manifest: &Manifest) -> Result<()> {
        let paths: Vec<String> = manifest
            .segments
            .iter()
            .map(|s| reader.layout().segment(&s.name).display().to_string())
            .collect();
        let files: Vec<String> = paths
            .iter()
            .map(|p| format!("'{}'", p.replace('\'', "''")))
            .collect();
        let source = if files.is_empty() {
            let cols: Vec<String> = sealtrail_store::segment::schema()
                .fields()
                .iter()
                .map(|f| format!("\"{}\" {}", f.name(), duck_type(f.data_type())))
                .collect();
            self.conn
                .execute_batch(&format!(
                    "CREATE OR REPLACE TABLE empty_segments ({});",
                    cols.join(", ")
                ))
                .map_err(duck("empty store"))?;
            "empty_segments".to_string()
        } else {
            format!("read_parquet([{}], union_by_name = true)", files.join(", "))
        };
        self.set("tree_size", &Param::Int(self.checkpoint.size as i64))?;
        let views = QueryFile::load(&self.opened.queries, "views")?;
        let sql = views.text.replace(
            "read_parquet('segments/*.parquet', union_by_name = true)",
            &source,
        );
        self.conn
            .execute_batch(&sql)
            .map_err(duck("queries/views.sql"))?;
        *self.reading.borrow_mut() = paths;
        Ok(())
    }

    /// Sets a DuckDB variable read by the queries with `getvariable(name)`.
    pub fn set(&self, name: &str, value: &Param) -> Result<()> {
        self.conn
            .execute_batch(&format!("SET VARIABLE {name} = {};", value.literal()))
            .map_err(duck("setting a parameter"))
    }

    /// Runs one SQL statement (the last, if several) and returns its rows.
    /// A statement that failed because a merge removed the files it read
    /// runs once more over the files that now hold the same leaves.
    pub fn run(&self, what: &str, sql: &str) -> Result<Table> {
        match self.run_once(what, sql) {
            Err(e @ QueryError::Duck { .. }) => {
                if self.follow_merge()? {
                    self.run_once(what, sql)
                } else {
                    Err(e)
                }
            }
            other => other,
        }
    }

    fn run_once(&self, what: &str, sql: &str) -> Result<Table> {
        let started = std::time::Instant::now();
        let trimmed = sql.trim().trim_end_matches(';');
        let mut stmt = self.conn.prepare(trimmed).map_err(duck(what))?;
        let batches: Vec<RecordBatch> = stmt.query_arrow([]).map_err(duck(what))?.collect();
        let columns: Vec<String> = stmt.column_names();
        let duckdb_ms = started.elapsed().as_millis() as u64;
        let table = Table::from_batches(columns, &batches)?;
        // names and sizes only: a result's values may be PHI
        tracing::debug!(
            query = what,
            rows = table.rows.len(),
            duckdb_ms,
            ms = started.elapsed().as_millis() as u64,
            "query ran"
        );
        Ok(table)
    }

    /// The segment files the views read, in the manifest's order.
    pub fn segment_files(&self) -> Vec<PathBuf> {
        self.reading.borrow().iter().map(PathBuf::from).collect()
    }

    /// Runs a query file.
    pub fn run_file(&self, q: &QueryFile) -> Result<Table> {
        self.run(&format!("queries/{}.sql", q.name), &q.text)
    }

    /// Runs statements that return nothing (e.g. building derived tables in
    /// this connection's memory; the store itself is never written).
    pub fn execute(&self, what: &str, sql: &str) -> Result<()> {
        self.conn.execute_batch(sql).map_err(duck(what))
    }
}

/// What computes the results of query files: embedded DuckDB
/// ([`Evidence`]), or a Spark job's results ([`spark::SparkResults`]).
/// Both are pinned to one verified checkpoint's files and tree size.
pub trait Engine {
    /// The engine's name, as a pack records it.
    fn name(&self) -> &'static str;
    /// The result of one query file.
    fn run_file(&self, q: &QueryFile) -> Result<Table>;
}

impl Engine for Evidence {
    fn name(&self) -> &'static str {
        "duckdb"
    }
    fn run_file(&self, q: &QueryFile) -> Result<Table> {
        Evidence::run_file(self, q)
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;
    use arrow::array::{Decimal128Array, Float64Array, Int64Array, StringArray};
    use std::sync::Arc;

    /// Numbers come from the typed columns, across batches; NULL and text
    /// are no number.
    #[test]
    fn values_are_read_from_the_typed_batches() {
        let batch = |ints: Vec<Option<i64>>, dec: Vec<Option<i128>>, text: Vec<&str>| {
            let n = ints.len();
            RecordBatch::try_from_iter(vec![
                (
                    "n",
                    Arc::new(Int64Array::from(ints)) as arrow::array::ArrayRef,
                ),
                (
                    "share",
                    Arc::new(
                        Decimal128Array::from(dec)
                            .with_precision_and_scale(10, 1)
                            .unwrap(),
                    ),
                ),
                ("f", Arc::new(Float64Array::from(vec![0.5; n]))),
                ("t", Arc::new(StringArray::from(text))),
            ])
            .unwrap()
        };
        let b1 = batch(
            vec![Some(3), None],
            vec![Some(962), Some(1000)],
            vec!["12", "x"],
        );
        let b2 = batch(vec![Some(7)], vec![None], vec!["y"]);
        let cols = ["n", "share", "f", "t"].map(String::from).to_vec();
        let t = Table::from_batches(cols, &[b1, b2]).unwrap();
        assert_eq!(t.rows[0], ["3", "96.2", "0.5", "12"]);
        assert_eq!(t.value(0, "n"), Some(3.0));
        assert_eq!(t.value(0, "share"), Some(96.2));
        assert_eq!(t.value(2, "n"), Some(7.0));
        assert_eq!(t.value(1, "n"), None);
        assert_eq!(t.num(1, "n"), 0.0);
        assert_eq!(t.value(2, "share"), None);
        assert_eq!(
            t.value(0, "t"),
            None,
            "a text column is not read as a number"
        );
        assert_eq!(t.value(3, "n"), None);
        assert_eq!(t.value(0, "missing"), None);
    }
}

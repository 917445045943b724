//! Segment files: the Arrow schema of the canonical event model and the
//! Parquet (zstd) encoding of a contiguous range of leaves (FORMAT.md §7).
//!
//! Every typed column is derived from the record read from the leaf bytes
//! by [`typed_columns`] (which [`leaves_to_batch`] uses to write a
//! segment); the verifier compares the stored columns with the same
//! derivation from the leaves it reads ([`first_differences`]), so a query
//! can never see data the signature does not cover.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, FixedSizeBinaryArray, Float64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use sha2::{Digest, Sha256};

use sealtrail_format::model::Record;
use sealtrail_format::tlog::Hash;

/// Key of the Parquet key-value metadata entry naming the segment format.
pub const FORMAT_KEY: &str = "sealtrail.segment";
/// Its value for this version: v2 adds the `direction` column at the end
/// of the schema (FORMAT.md §7.1); v1 files (without it) are still read.
pub const FORMAT_VALUE: &str = "v2";

type StrCol = fn(&Record) -> Option<&str>;
type BoolCol = fn(&Record) -> Option<bool>;
type TsCol = fn(&Record) -> Option<i64>;

/// String columns after `kind`, in schema order.
const STRING_COLUMNS: &[(&str, StrCol)] = &[
    ("source", |r| r.source.as_deref()),
    ("source_event_id", |r| r.source_event_id.as_deref()),
    ("message_id", |r| r.message_id.as_deref()),
    ("sender", |r| r.sender.as_deref()),
    ("recipient", |r| r.recipient.as_deref()),
    ("recipient_domain", |r| r.recipient_domain.as_deref()),
    ("status", |r| r.status.as_deref()),
    ("encryption", |r| r.encryption.as_deref()),
    ("tls_version", |r| r.tls_version.as_deref()),
    ("tls_cipher", |r| r.tls_cipher.as_deref()),
    ("tls_peer", |r| r.tls_peer.as_deref()),
    ("relay", |r| r.relay.as_deref()),
    ("dsn", |r| r.dsn.as_deref()),
    ("patient_id", |r| r.patient_id.as_deref()),
    ("user", |r| r.user.as_deref()),
    ("outcome", |r| r.outcome.as_deref()),
    ("factor", |r| r.factor.as_deref()),
    ("app", |r| r.app.as_deref()),
    ("ip", |r| r.ip.as_deref()),
    ("action", |r| r.action.as_deref()),
    ("resource", |r| r.resource.as_deref()),
    ("recipient_name", |r| r.recipient_name.as_deref()),
    ("recipient_address", |r| r.recipient_address.as_deref()),
    ("description", |r| r.description.as_deref()),
    ("purpose", |r| r.purpose.as_deref()),
    ("basis", |r| r.basis.as_deref()),
    ("course", |r| r.course.as_deref()),
    ("topic", |r| r.topic.as_deref()),
    ("reason", |r| r.reason.as_deref()),
    ("input_ref", |r| r.input_ref.as_deref()),
    ("detail", |r| r.detail.as_deref()),
];

const BOOL_COLUMNS: &[(&str, BoolCol)] = &[
    ("phi", |r| r.phi),
    ("tls_failed", |r| r.tls_failed),
    ("mfa", |r| r.mfa),
    ("phishing_resistant", |r| r.phishing_resistant),
    ("accountable", |r| r.accountable),
];

const TS_COLUMNS: &[(&str, TsCol)] = &[
    ("completed_at", |r| r.completed_at.map(|t| t.0)),
    ("due_at", |r| r.due_at.map(|t| t.0)),
    ("window_start", |r| r.window_start.map(|t| t.0)),
    ("window_end", |r| r.window_end.map(|t| t.0)),
];

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![
        Field::new("idx", DataType::UInt64, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("ts", ts_type(), false),
        Field::new("ingested_at", ts_type(), false),
    ];
    for (name, _) in STRING_COLUMNS {
        fields.push(Field::new(*name, DataType::Utf8, true));
    }
    for (name, _) in BOOL_COLUMNS {
        fields.push(Field::new(*name, DataType::Boolean, true));
    }
    for (name, _) in TS_COLUMNS {
        fields.push(Field::new(*name, ts_type(), true));
    }
    fields.push(Field::new("suspended_until", DataType::Date32, true));
    fields.push(Field::new("score", DataType::Float64, true));
    fields.push(Field::new("count", DataType::UInt64, true));
    fields.push(Field::new("leaf", DataType::Binary, false));
    fields.push(Field::new(
        "leaf_hash",
        DataType::FixedSizeBinary(32),
        false,
    ));
    fields.push(Field::new("chain", DataType::FixedSizeBinary(32), false));
    // added in v2: typed columns that came later go after `chain`, so a v1
    // file's columns are a prefix of a v2 file's
    for (name, _) in LATER_STRING_COLUMNS {
        fields.push(Field::new(*name, DataType::Utf8, true));
    }
    Arc::new(Schema::new(fields))
});

/// String columns added after v1, at the end of the schema.
const LATER_STRING_COLUMNS: &[(&str, StrCol)] = &[("direction", |r| r.direction.as_deref())];

/// The segment schema (FORMAT.md §7.1).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Whether a file's fields are those of a segment: this version's schema,
/// or v1's (the same without the columns added later).
pub fn is_segment_schema(fields: &arrow::datatypes::Fields) -> bool {
    let all = SCHEMA.fields();
    fields == all
        || (fields.len() + LATER_STRING_COLUMNS.len() == all.len()
            && fields.iter().zip(all.iter()).all(|(a, b)| a == b))
}

/// One leaf ready to be written: its bytes and its hashes. The typed
/// columns are derived from the bytes, read as `verify` reads them
/// ([`Record::from_leaf_without_raw`]), so no parsed record is kept per pending leaf
/// (about 1 KB each, most of a seal's memory before session 11).
pub struct SealedLeaf<'a> {
    /// The exact leaf bytes.
    pub leaf: &'a [u8],
    /// `SHA-256(0x00 ‖ leaf)`.
    pub leaf_hash: Hash,
    /// Chain value at this leaf.
    pub chain: Hash,
}

/// Builds the record batch for leaves `first_idx..first_idx + leaves.len()`.
pub fn leaves_to_batch(
    first_idx: u64,
    leaves: &[SealedLeaf<'_>],
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let recs = leaves
        .iter()
        .enumerate()
        .map(|(k, l)| {
            Record::from_leaf_without_raw(l.leaf).map_err(|e| {
                // leaves this store made itself: never expected, and never
                // written with columns that could differ from the leaf
                arrow::error::ArrowError::InvalidArgumentError(format!(
                    "leaf {}: {e}",
                    first_idx + k as u64
                ))
            })
        })
        .collect::<Result<Vec<Record>, _>>()?;
    let recs: Vec<&Record> = recs.iter().collect();
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema().fields().len());
    cols.push(Arc::new(UInt64Array::from_iter_values(
        (0..leaves.len() as u64).map(|i| first_idx + i),
    )));
    let mut typed = typed_columns(&recs);
    let before_leaf = typed.len() - LATER_STRING_COLUMNS.len();
    cols.extend(typed.drain(..before_leaf));
    let leaf_bytes = leaves.iter().map(|l| l.leaf.len()).sum();
    let mut leaf = arrow::array::BinaryBuilder::with_capacity(leaves.len(), leaf_bytes);
    for l in leaves {
        leaf.append_value(l.leaf);
    }
    cols.push(Arc::new(leaf.finish()));
    cols.push(Arc::new(FixedSizeBinaryArray::try_from_iter(
        leaves.iter().map(|l| l.leaf_hash),
    )?));
    cols.push(Arc::new(FixedSizeBinaryArray::try_from_iter(
        leaves.iter().map(|l| l.chain),
    )?));
    // what is left of the typed columns: those added after v1
    cols.extend(typed);
    RecordBatch::try_new(schema(), cols)
}

/// Names of the columns [`typed_columns`] returns, in its order.
pub fn typed_column_names() -> Vec<&'static str> {
    let mut v = vec!["kind", "ts", "ingested_at"];
    v.extend(STRING_COLUMNS.iter().map(|(n, _)| *n));
    v.extend(BOOL_COLUMNS.iter().map(|(n, _)| *n));
    v.extend(TS_COLUMNS.iter().map(|(n, _)| *n));
    v.extend(["suspended_until", "score", "count"]);
    v.extend(LATER_STRING_COLUMNS.iter().map(|(n, _)| *n));
    v
}

/// The typed columns derived from records, named by
/// [`typed_column_names`]: every column but `idx`, `leaf`, `leaf_hash` and
/// `chain` (what `verify` rebuilds and compares, by name).
pub fn typed_columns(recs: &[&Record]) -> Vec<ArrayRef> {
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            recs.iter().map(|r| r.kind().as_str()),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                recs.iter().map(|r| r.ts.map(|t| t.0).unwrap_or(0)),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                recs.iter().map(|r| r.ingested_at.map(|t| t.0).unwrap_or(0)),
            )
            .with_timezone("UTC"),
        ),
    ];
    for (_, get) in STRING_COLUMNS {
        cols.push(Arc::new(StringArray::from_iter(
            recs.iter().map(|r| get(r)),
        )));
    }
    for (_, get) in BOOL_COLUMNS {
        cols.push(Arc::new(BooleanArray::from_iter(
            recs.iter().map(|r| get(r)),
        )));
    }
    for (_, get) in TS_COLUMNS {
        cols.push(Arc::new(
            TimestampMicrosecondArray::from_iter(recs.iter().map(|r| get(r))).with_timezone("UTC"),
        ));
    }
    cols.push(Arc::new(Date32Array::from_iter(
        recs.iter()
            .map(|r| r.suspended_until.map(|d| d.days_since_epoch())),
    )));
    cols.push(Arc::new(Float64Array::from_iter(
        recs.iter().map(|r| r.score),
    )));
    cols.push(Arc::new(UInt64Array::from_iter(
        recs.iter().map(|r| r.count),
    )));
    for (_, get) in LATER_STRING_COLUMNS {
        cols.push(Arc::new(StringArray::from_iter(
            recs.iter().map(|r| get(r)),
        )));
    }
    cols
}

/// For each typed column of `batch`, the first row whose stored value is
/// not the one [`typed_columns`] derives from that row's record (rows
/// whose record is `None` are skipped). Compared in place, value by value,
/// so `verify` builds no second copy of the columns; a column of the wrong
/// type differs at its first compared row.
pub fn first_differences(
    batch: &RecordBatch,
    records: &[Option<Record>],
) -> Vec<(&'static str, usize)> {
    let mut out = Vec::new();
    let schema = batch.schema();
    let mut check = |name: &'static str, differs: &dyn Fn(&dyn Array) -> Option<usize>| {
        if let Ok(i) = schema.index_of(name)
            && let Some(row) = differs(batch.column(i).as_ref())
        {
            out.push((name, row));
        }
    };
    let first_row = || records.iter().position(Option::is_some);
    check(
        "kind",
        &|c| match c.as_any().downcast_ref::<StringArray>() {
            Some(a) => first_difference(
                records,
                |r| Some(r.kind().as_str()),
                |k| a.is_valid(k).then(|| a.value(k)),
            ),
            None => first_row(),
        },
    );
    let time = |c: &dyn Array, get: &dyn Fn(&Record) -> Option<i64>| match c
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>(
    ) {
        Some(a) => first_difference(records, get, |k| a.is_valid(k).then(|| a.value(k))),
        None => first_row(),
    };
    // as `typed_columns` writes them: never null
    check("ts", &|c| {
        time(c, &|r| Some(r.ts.map(|t| t.0).unwrap_or(0)))
    });
    check("ingested_at", &|c| {
        time(c, &|r| Some(r.ingested_at.map(|t| t.0).unwrap_or(0)))
    });
    for (name, get) in STRING_COLUMNS.iter().chain(LATER_STRING_COLUMNS) {
        check(name, &|c| match c.as_any().downcast_ref::<StringArray>() {
            Some(a) => first_difference(records, get, |k| a.is_valid(k).then(|| a.value(k))),
            None => first_row(),
        });
    }
    for (name, get) in BOOL_COLUMNS {
        check(name, &|c| match c.as_any().downcast_ref::<BooleanArray>() {
            Some(a) => first_difference(records, get, |k| a.is_valid(k).then(|| a.value(k))),
            None => first_row(),
        });
    }
    for (name, get) in TS_COLUMNS {
        check(name, &|c| time(c, get));
    }
    check(
        "suspended_until",
        &|c| match c.as_any().downcast_ref::<Date32Array>() {
            Some(a) => first_difference(
                records,
                |r| r.suspended_until.map(|d| d.days_since_epoch()),
                |k| a.is_valid(k).then(|| a.value(k)),
            ),
            None => first_row(),
        },
    );
    // by bits: -0.0 is not 0.0 in a column the leaf signs
    check(
        "score",
        &|c| match c.as_any().downcast_ref::<Float64Array>() {
            Some(a) => first_difference(
                records,
                |r| r.score.map(f64::to_bits),
                |k| a.is_valid(k).then(|| a.value(k).to_bits()),
            ),
            None => first_row(),
        },
    );
    check(
        "count",
        &|c| match c.as_any().downcast_ref::<UInt64Array>() {
            Some(a) => {
                first_difference(records, |r| r.count, |k| a.is_valid(k).then(|| a.value(k)))
            }
            None => first_row(),
        },
    );
    out
}

fn first_difference<'r, T: PartialEq>(
    records: &'r [Option<Record>],
    derived: impl Fn(&'r Record) -> Option<T>,
    stored: impl Fn(usize) -> Option<T>,
) -> Option<usize> {
    records
        .iter()
        .enumerate()
        .find(|(k, r)| r.as_ref().is_some_and(|r| derived(r) != stored(*k)))
        .map(|(k, _)| k)
}

/// Rows of the Arrow batches a seal builds and hands to the writer at a
/// time (the writer still cuts row groups at [`ROW_GROUP_ROWS`]).
pub const BUILD_ROWS: usize = 8 * 1024;

/// Rows per Parquet row group: small enough that min/max statistics prune
/// well for per-patient and per-period queries.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// zstd level of every column (docs/BENCHMARKS.md, session 4: level 1 was
/// both faster and smaller than 3 on the generated logs).
const ZSTD_LEVEL: i32 = 1;

/// Columns whose values are (nearly) all distinct: a dictionary never pays
/// off and min/max statistics prune nothing (nor does any query filter on
/// them), so the writer is spared both.
const DISTINCT_COLUMNS: &[&str] = &["leaf", "leaf_hash", "chain", "source_event_id"];

fn writer_properties(first_idx: u64) -> WriterProperties {
    let mut b = WriterProperties::builder();
    for name in DISTINCT_COLUMNS {
        let col = parquet::schema::types::ColumnPath::from(*name);
        b = b
            .set_column_dictionary_enabled(col.clone(), false)
            .set_column_statistics_enabled(col, EnabledStatistics::None);
    }
    b.set_compression(Compression::ZSTD(
        ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default(),
    ))
    .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
    .set_statistics_enabled(EnabledStatistics::Chunk)
    .set_created_by(format!("sealtrail {}", env!("CARGO_PKG_VERSION")))
    .set_key_value_metadata(Some(vec![
        parquet::file::metadata::KeyValue::new(FORMAT_KEY.into(), FORMAT_VALUE.to_string()),
        parquet::file::metadata::KeyValue::new("sealtrail.first_idx".into(), first_idx.to_string()),
    ]))
    .build()
}

/// Writes one batch as a Parquet file at `path` (synced; the caller
/// renames it into place and syncs the directory).
pub fn write(
    path: &Path,
    first_idx: u64,
    batch: &RecordBatch,
) -> Result<(), parquet::errors::ParquetError> {
    let file = encode(
        File::create(path)?,
        first_idx,
        std::iter::once(Ok(batch.clone())),
    )?;
    file.sync_all()?;
    Ok(())
}

/// Writes `earlier` rows (a merge's, FORMAT.md §8.1; starting at
/// `file_first`) and then `leaves` (starting at `first_idx`) as one
/// Parquet file at `path` (synced), and returns the SHA-256 of the bytes
/// written, which the manifest signs. Three threads share the work: one
/// builds the leaves' rows [`BUILD_ROWS`] at a time, this one encodes the
/// previous batch, and one hashes the bytes as they are written. So a seal
/// nothing else runs beside (the last of an ingest) uses both cores, the
/// file is never read back to be hashed, and no Arrow copy of a whole seal
/// (hundreds of MB, each page faulted in fresh) is ever made.
pub fn write_leaves(
    path: &Path,
    file_first: u64,
    earlier: impl IntoIterator<Item = Result<RecordBatch, arrow::error::ArrowError>>,
    first_idx: u64,
    leaves: &[SealedLeaf<'_>],
) -> Result<Hash, parquet::errors::ParquetError> {
    std::thread::scope(|s| {
        let (tx, built) = std::sync::mpsc::sync_channel(2);
        s.spawn(move || {
            for (i, rows) in leaves.chunks(BUILD_ROWS).enumerate() {
                let at = first_idx + (i * BUILD_ROWS) as u64;
                // a closed channel means the writer failed; it reports
                if tx.send(leaves_to_batch(at, rows)).is_err() {
                    break;
                }
            }
        });
        let (to_hash, written) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
        let hasher = s.spawn(move || {
            let mut h = Sha256::new();
            for bytes in written {
                h.update(&bytes);
            }
            let digest: Hash = h.finalize().into();
            digest
        });
        let file = HashedFile {
            file: File::create(path)?,
            to_hash,
        };
        let file = encode(file, file_first, earlier.into_iter().chain(built))?;
        file.file.sync_all()?;
        drop(file); // closes the channel: the hasher has every byte
        Ok(hasher
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

/// A file whose bytes are handed, as they are written, to a thread that
/// hashes them. The Parquet writer only appends, so they are the file's
/// bytes in order.
struct HashedFile {
    file: File,
    to_hash: std::sync::mpsc::SyncSender<Vec<u8>>,
}

impl Write for HashedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.to_hash
            .send(buf[..n].to_vec())
            .map_err(|_| std::io::Error::other("the segment hasher stopped"))?;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Encodes `batches` as one Parquet file into `out` and gives it back.
fn encode<W: Write + Send>(
    out: W,
    first_idx: u64,
    batches: impl IntoIterator<Item = Result<RecordBatch, arrow::error::ArrowError>>,
) -> Result<W, parquet::errors::ParquetError> {
    let mut w = ArrowWriter::try_new(out, schema(), Some(writer_properties(first_idx)))?;
    for batch in batches {
        w.write(&batch?)?;
    }
    w.into_inner()
}

/// A segment's rows, batch by batch, read from its bytes in memory.
pub type Batches = parquet::arrow::arrow_reader::ParquetRecordBatchReader;

/// Reads a segment batch by batch from its bytes already in memory (a
/// merge reads exactly the bytes whose SHA-256 it checked).
pub fn read_bytes(bytes: bytes::Bytes) -> Result<Batches, parquet::errors::ParquetError> {
    ParquetRecordBatchReaderBuilder::try_new(bytes)?
        .with_batch_size(8192)
        .build()
}

/// Reads a segment file batch by batch.
pub fn read(
    path: &Path,
) -> Result<
    impl Iterator<Item = Result<RecordBatch, arrow::error::ArrowError>> + use<>,
    parquet::errors::ParquetError,
> {
    let file = File::open(path)?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(8192)
        .build()?;
    Ok(reader)
}

/// Reads selected columns of a segment file.
pub fn read_columns(
    path: &Path,
    columns: &[&str],
) -> Result<
    impl Iterator<Item = Result<RecordBatch, arrow::error::ArrowError>> + use<>,
    parquet::errors::ParquetError,
> {
    let file = File::open(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let parquet_schema = builder.parquet_schema();
    let idx: Vec<usize> = parquet_schema
        .columns()
        .iter()
        .enumerate()
        .filter(|(_, c)| columns.contains(&c.name()))
        .map(|(i, _)| i)
        .collect();
    let mask = parquet::arrow::ProjectionMask::leaves(parquet_schema, idx);
    builder.with_projection(mask).with_batch_size(8192).build()
}

//! Segment files: the Arrow schema of the canonical event model and the
//! Parquet (zstd) encoding of a contiguous range of leaves (FORMAT.md §7).
//!
//! Every typed column is derived from the record read from the leaf bytes
//! by one function per column: [`TypedColumns`] (which [`leaves_to_batch`]
//! uses to write a segment) builds the columns with them, and the verifier
//! compares the stored columns with the same derivation from the leaves it
//! reads ([`ColumnCheck`]), so a query can never see data the signature
//! does not cover.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, Date32Array, Date32Builder,
    FixedSizeBinaryArray, Float64Array, Float64Builder, RecordBatch, StringArray, StringBuilder,
    StringViewArray, TimestampMicrosecondArray, TimestampMicrosecondBuilder, UInt64Array,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use sha2::{Digest, Sha256};

use sealtrail_format::eq::bytes_eq;
use sealtrail_format::model::{FieldSet, Record};
use sealtrail_format::tlog::Hash;

/// Key of the Parquet key-value metadata entry naming the segment format.
pub const FORMAT_KEY: &str = "sealtrail.segment";
/// Its value for this version: v2 adds the `direction` column at the end
/// of the schema (FORMAT.md §7.1); v1 files (without it) are still read.
pub const FORMAT_VALUE: &str = "v2";

/// How a typed column's value is derived from a record: by one function per
/// column, used both to build the column ([`TypedColumns`]) and to check a
/// stored one ([`ColumnCheck`]), so the two cannot disagree.
#[derive(Clone, Copy)]
enum Derive {
    Str(fn(&Record) -> Option<&str>),
    Bool(fn(&Record) -> Option<bool>),
    /// Microseconds since the epoch, UTC.
    Ts(fn(&Record) -> Option<i64>),
    /// Days since the epoch.
    Date(fn(&Record) -> Option<i32>),
    F64(fn(&Record) -> Option<f64>),
    U64(fn(&Record) -> Option<u64>),
}

/// One typed column: its name, whether it may be null, and its derivation.
struct TypedColumn {
    name: &'static str,
    nullable: bool,
    derive: Derive,
}

const fn column(name: &'static str, derive: Derive) -> TypedColumn {
    TypedColumn {
        name,
        nullable: true,
        derive,
    }
}

/// [`TYPED_COLUMNS`]: the three every record has, then string, boolean and
/// timestamp columns named after their record fields, then the rest.
macro_rules! typed_columns {
    (strings: $($s:ident),*; flags: $($b:ident),*; times: $($t:ident),*;) => {
        /// The typed columns of v1, in schema order (between `idx` and `leaf`).
        const TYPED_COLUMNS: &[TypedColumn] = &[
            // never null: every valid record has them (`ingested_at` is 0
            // when a record has none, as since v1)
            TypedColumn {
                name: "kind",
                nullable: false,
                derive: Derive::Str(|r| Some(r.kind().as_str())),
            },
            TypedColumn {
                name: "ts",
                nullable: false,
                derive: Derive::Ts(|r| Some(r.ts.map(|t| t.0).unwrap_or(0))),
            },
            TypedColumn {
                name: "ingested_at",
                nullable: false,
                derive: Derive::Ts(|r| Some(r.ingested_at.map(|t| t.0).unwrap_or(0))),
            },
            $(column(stringify!($s), Derive::Str(|r| r.$s.as_deref())),)*
            $(column(stringify!($b), Derive::Bool(|r| r.$b)),)*
            $(column(stringify!($t), Derive::Ts(|r| r.$t.map(|t| t.0))),)*
            column(
                "suspended_until",
                Derive::Date(|r| r.suspended_until.map(|d| d.days_since_epoch())),
            ),
            column("score", Derive::F64(|r| r.score)),
            column("count", Derive::U64(|r| r.count)),
        ];
    };
}

typed_columns! {
    strings: source, source_event_id, message_id, sender, recipient, recipient_domain, status,
        encryption, tls_version, tls_cipher, tls_peer, relay, dsn, patient_id, user, outcome,
        factor, app, ip, action, resource, recipient_name, recipient_address, description,
        purpose, basis, course, topic, reason, input_ref, detail;
    flags: phi, tls_failed, mfa, phishing_resistant, accountable;
    times: completed_at, due_at, window_start, window_end;
}

/// Typed columns added after v1, at the end of the schema (after `chain`),
/// so a v1 file's columns are a prefix of a v2 file's.
const LATER_COLUMNS: &[TypedColumn] =
    &[column("direction", Derive::Str(|r| r.direction.as_deref()))];

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

impl TypedColumn {
    fn field(&self) -> Field {
        let data_type = match self.derive {
            Derive::Str(_) => DataType::Utf8,
            Derive::Bool(_) => DataType::Boolean,
            Derive::Ts(_) => ts_type(),
            Derive::Date(_) => DataType::Date32,
            Derive::F64(_) => DataType::Float64,
            Derive::U64(_) => DataType::UInt64,
        };
        Field::new(self.name, data_type, self.nullable)
    }
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![Field::new("idx", DataType::UInt64, false)];
    fields.extend(TYPED_COLUMNS.iter().map(TypedColumn::field));
    fields.push(Field::new("leaf", DataType::Binary, false));
    fields.push(Field::new(
        "leaf_hash",
        DataType::FixedSizeBinary(32),
        false,
    ));
    fields.push(Field::new("chain", DataType::FixedSizeBinary(32), false));
    fields.extend(LATER_COLUMNS.iter().map(TypedColumn::field));
    Arc::new(Schema::new(fields))
});

/// The segment schema (FORMAT.md §7.1).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Whether a file's fields are those of a segment: this version's schema,
/// or v1's (the same without the columns added later).
pub fn is_segment_schema(fields: &arrow::datatypes::Fields) -> bool {
    let all = SCHEMA.fields();
    fields == all
        || (fields.len() + LATER_COLUMNS.len() == all.len()
            && fields.iter().zip(all.iter()).all(|(a, b)| a == b))
}

/// Most bytes of leaves in one [`LeafRun`]: its offsets are `i32`, as the
/// leaf column's are.
const RUN_MAX_BYTES: usize = 1 << 30;

/// Leaves appended one at a time into the buffers a [`LeafRun`] is made
/// of: their bytes end to end, where each ends, their hashes, and their
/// typed rows.
#[derive(Default)]
pub struct LeafRunBuilder {
    values: Vec<u8>,
    offsets: Vec<i32>,
    hashes: Vec<Hash>,
    rows: RowBuffers,
}

/// The typed rows of a run's leaves, end to end as they are in a
/// [`TypedRow`]: so a row kept until its seal is bytes among others, not
/// two allocations of its own.
#[derive(Clone, Default)]
struct RowBuffers {
    values: Vec<u8>,
    text: String,
    /// Where each leaf's row ends in `values` and `text`; `None` for a leaf
    /// without one (recovered from the WAL).
    ends: Vec<Option<(usize, usize)>>,
}

impl RowBuffers {
    fn push(&mut self, row: Option<&TypedRow>) {
        let end = row.map(|r| {
            self.values.extend_from_slice(&r.values);
            self.text.push_str(&r.text);
            (self.values.len(), self.text.len())
        });
        self.ends.push(end);
    }

    /// Each leaf's row, in order.
    fn iter(&self) -> impl Iterator<Item = Option<TypedRowRef<'_>>> {
        let mut from = (0, 0);
        self.ends.iter().map(move |end| {
            let (v, t) = (*end)?;
            let (fv, ft) = std::mem::replace(&mut from, (v, t));
            // (never out of range: the ends were taken as the bytes were
            // appended; were one, its leaf would be read for its row)
            Some(TypedRowRef {
                values: self.values.get(fv..v)?,
                text: self.text.get(ft..t)?,
            })
        })
    }
}

impl LeafRunBuilder {
    /// Leaves appended.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether no leaf was appended.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Whether a leaf of `len` bytes may be appended to this run: at most
    /// [`BUILD_ROWS`] leaves, and their bytes within an `i32` offset (a
    /// first leaf always may: no leaf comes near that size).
    pub fn has_room(&self, len: usize) -> bool {
        self.is_empty() || (self.len() < BUILD_ROWS && self.values.len() + len <= RUN_MAX_BYTES)
    }

    /// Appends `leaf` (its bytes copied), its hash and its typed row
    /// (`None`: derived from the bytes when the run is written).
    pub fn push(&mut self, leaf: &[u8], hash: Hash, row: Option<&TypedRow>) {
        if self.offsets.is_empty() {
            // a full run's worth, guessed from its first leaf: room only
            // reserved, so pages never written are never touched, and a
            // run of longer leaves grows as a vector does
            self.values.reserve(
                leaf.len()
                    .max(256)
                    .saturating_mul(BUILD_ROWS)
                    .min(RUN_MAX_BYTES),
            );
            self.offsets.reserve(BUILD_ROWS + 1);
            self.offsets.push(0);
            self.hashes.reserve(BUILD_ROWS);
            self.rows.ends.reserve(BUILD_ROWS);
        }
        self.values.extend_from_slice(leaf);
        // within i32: `has_room` bounds a run's bytes
        self.offsets.push(self.values.len() as i32);
        self.hashes.push(hash);
        self.rows.push(row);
    }

    /// The leaves appended, in order, with their hashes.
    pub fn leaves(&self) -> impl Iterator<Item = (&[u8], &Hash)> {
        self.offsets
            .windows(2)
            .map(|w| &self.values[w[0] as usize..w[1] as usize])
            .zip(&self.hashes)
    }

    /// The run, its bytes handed over without a copy.
    pub fn finish(self) -> LeafRun {
        let LeafRunBuilder {
            values,
            mut offsets,
            hashes,
            rows,
        } = self;
        if offsets.is_empty() {
            offsets.push(0);
        }
        // the offsets start at 0 and rise with every leaf appended, as
        // `OffsetBuffer::new` and the array require
        let leaves = arrow::array::BinaryArray::new(
            arrow::buffer::OffsetBuffer::new(offsets.into()),
            arrow::buffer::Buffer::from_vec(values),
            None,
        );
        LeafRun {
            leaves,
            hashes,
            rows,
        }
    }
}

/// Leaves ready to be written, at most [`BUILD_ROWS`] of them: their bytes
/// already in the form of the segment's `leaf` column, which the batch
/// written takes without copying them ([`leaves_to_batch`]), their hashes,
/// and their typed rows when they were kept from the records the leaves
/// were made of. Made by a [`LeafRunBuilder`]; cloned cheaply but for the
/// rows.
#[derive(Clone)]
pub struct LeafRun {
    leaves: arrow::array::BinaryArray,
    hashes: Vec<Hash>,
    rows: RowBuffers,
}

impl LeafRun {
    /// Leaves in the run.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether the run holds no leaf.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Each leaf's `SHA-256(0x00 ‖ leaf)`, in order.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The leaves, in order, with their hashes.
    pub fn leaves(&self) -> impl Iterator<Item = (&[u8], &Hash)> {
        (0..self.len())
            .map(|i| self.leaves.value(i))
            .zip(&self.hashes)
    }
}

/// Builds the record batch of `run`'s leaves, the first of them at index
/// `first_idx`, each with its chain value in `chains`. Each leaf's typed
/// values are appended row by row: from its [`TypedRow`], or else from the
/// leaf read into one reused record. The leaf column is the run's bytes,
/// not a copy of them.
pub fn leaves_to_batch(
    first_idx: u64,
    run: &LeafRun,
    chains: &[Hash],
) -> Result<RecordBatch, arrow::error::ArrowError> {
    if chains.len() != run.len() {
        return Err(arrow::error::ArrowError::InvalidArgumentError(format!(
            "{} chain values for {} leaves from {first_idx}",
            chains.len(),
            run.len()
        )));
    }
    let mut typed = TypedColumns::with_capacity(run.len());
    let mut rec = Record::default();
    for (k, row) in run.rows.iter().enumerate() {
        // leaves and rows this store made itself: an error is never
        // expected, and nothing is written with columns that could differ
        // from the leaf
        let at = || first_idx + k as u64;
        match row {
            Some(row) => typed.push_row(row).map_err(|e| {
                arrow::error::ArrowError::InvalidArgumentError(format!("leaf {}: {e}", at()))
            })?,
            None => {
                rec.read_leaf_without_raw(run.leaves.value(k))
                    .map_err(|e| {
                        arrow::error::ArrowError::InvalidArgumentError(format!(
                            "leaf {}: {e}",
                            at()
                        ))
                    })?;
                typed.push(&rec);
            }
        }
    }
    let mut typed = typed.finish();
    let later = typed.split_off(TYPED_COLUMNS.len());
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema().fields().len());
    cols.push(Arc::new(UInt64Array::from_iter_values(
        (0..run.len() as u64).map(|i| first_idx + i),
    )));
    cols.extend(typed);
    cols.push(Arc::new(run.leaves.clone()));
    cols.push(Arc::new(FixedSizeBinaryArray::try_from_iter(
        run.hashes.iter(),
    )?));
    cols.push(Arc::new(FixedSizeBinaryArray::try_from_iter(
        chains.iter(),
    )?));
    cols.extend(later);
    RecordBatch::try_new(schema(), cols)
}

/// Names of the typed columns: every column but `idx`, `leaf`,
/// `leaf_hash` and `chain` (what `verify` compares with the leaves).
pub fn typed_column_names() -> Vec<&'static str> {
    TYPED_COLUMNS
        .iter()
        .chain(LATER_COLUMNS)
        .map(|c| c.name)
        .collect()
}

/// A record's typed-column values, kept from when its leaf was made so that
/// a seal need not read the leaf back (that read was 13 % of a Postfix
/// ingest's instructions outside SHA-256, docs/BENCHMARKS.md session 15).
/// In memory only, never stored: for each column in
/// [`typed_column_names`]'s order whose value is not null, its position (one
/// byte) and then the value: a string as its length (u32 LE, the string
/// itself appended to `text`, so it is never checked as UTF-8 again), a
/// flag as one byte, a time as i64 LE microseconds, a date as i32 LE days,
/// a float as its u64 LE bits, a count as u64 LE. The values are
/// the ones [`TypedColumns::push`] would append for the record, by the same
/// derivations; `verify` checks the columns written from them against the
/// leaf, as it does every column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypedRow {
    values: Box<[u8]>,
    text: Box<str>,
}

/// Why a [`TypedRow`] could not be appended (never expected: rows are made
/// by [`TypedRow::of`] in this process).
#[derive(Debug, thiserror::Error)]
#[error("typed row malformed at byte {0}")]
pub struct TypedRowError(usize);

/// A [`TypedRow`]'s bytes where they are kept (in the row itself, or
/// among a run's rows).
#[derive(Clone, Copy)]
pub struct TypedRowRef<'a> {
    values: &'a [u8],
    text: &'a str,
}

impl TypedRow {
    /// Its bytes, for [`TypedColumns::push_row`].
    pub fn as_ref(&self) -> TypedRowRef<'_> {
        TypedRowRef {
            values: &self.values,
            text: &self.text,
        }
    }

    /// The typed values of `r` (derived and validated, as its leaf is).
    pub fn of(r: &Record) -> TypedRow {
        let mut out = Vec::with_capacity(128);
        let mut text = String::with_capacity(256);
        for (at, c) in TYPED_COLUMNS.iter().chain(LATER_COLUMNS).enumerate() {
            // fewer than 256 columns: a test holds the count
            let tag = at as u8;
            match c.derive {
                Derive::Str(get) => {
                    if let Some(v) = get(r) {
                        out.push(tag);
                        // a field longer than 4 GiB cannot be in a leaf
                        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                        text.push_str(v);
                    }
                }
                Derive::Bool(get) => {
                    if let Some(v) = get(r) {
                        out.extend_from_slice(&[tag, u8::from(v)]);
                    }
                }
                Derive::Ts(get) => {
                    if let Some(v) = get(r) {
                        out.push(tag);
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                }
                Derive::Date(get) => {
                    if let Some(v) = get(r) {
                        out.push(tag);
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                }
                Derive::F64(get) => {
                    if let Some(v) = get(r) {
                        out.push(tag);
                        out.extend_from_slice(&v.to_bits().to_le_bytes());
                    }
                }
                Derive::U64(get) => {
                    if let Some(v) = get(r) {
                        out.push(tag);
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
        }
        TypedRow {
            values: out.into_boxed_slice(),
            text: text.into_boxed_str(),
        }
    }
}

/// The typed columns being built, a record at a time.
pub struct TypedColumns {
    /// Each column's derivation and builder, in [`typed_column_names`]'s
    /// order.
    columns: Vec<ColumnBuilder>,
}

enum ColumnBuilder {
    Str(fn(&Record) -> Option<&str>, StringBuilder),
    Bool(fn(&Record) -> Option<bool>, BooleanBuilder),
    Ts(fn(&Record) -> Option<i64>, TimestampMicrosecondBuilder),
    Date(fn(&Record) -> Option<i32>, Date32Builder),
    F64(fn(&Record) -> Option<f64>, Float64Builder),
    U64(fn(&Record) -> Option<u64>, UInt64Builder),
}

impl TypedColumns {
    /// Columns with room for `rows` rows.
    pub fn with_capacity(rows: usize) -> TypedColumns {
        let columns = TYPED_COLUMNS
            .iter()
            .chain(LATER_COLUMNS)
            .map(|c| match c.derive {
                // strings are short: 16 bytes a row before the first growth
                Derive::Str(get) => {
                    ColumnBuilder::Str(get, StringBuilder::with_capacity(rows, 16 * rows))
                }
                Derive::Bool(get) => ColumnBuilder::Bool(get, BooleanBuilder::with_capacity(rows)),
                Derive::Ts(get) => {
                    ColumnBuilder::Ts(get, TimestampMicrosecondBuilder::with_capacity(rows))
                }
                Derive::Date(get) => ColumnBuilder::Date(get, Date32Builder::with_capacity(rows)),
                Derive::F64(get) => ColumnBuilder::F64(get, Float64Builder::with_capacity(rows)),
                Derive::U64(get) => ColumnBuilder::U64(get, UInt64Builder::with_capacity(rows)),
            })
            .collect();
        TypedColumns { columns }
    }

    /// Appends one record's values.
    pub fn push(&mut self, r: &Record) {
        for c in &mut self.columns {
            match c {
                ColumnBuilder::Str(get, b) => b.append_option(get(r)),
                ColumnBuilder::Bool(get, b) => b.append_option(get(r)),
                ColumnBuilder::Ts(get, b) => b.append_option(get(r)),
                ColumnBuilder::Date(get, b) => b.append_option(get(r)),
                ColumnBuilder::F64(get, b) => b.append_option(get(r)),
                ColumnBuilder::U64(get, b) => b.append_option(get(r)),
            }
        }
    }

    /// Appends the values of one [`TypedRow`]: what [`TypedColumns::push`]
    /// appends for the record it was made of.
    pub fn push_row(&mut self, row: TypedRowRef<'_>) -> Result<(), TypedRowError> {
        let b = row.values;
        let mut i = 0usize;
        // where the next string starts in `row.text`
        let mut t = 0usize;
        fn take<const N: usize>(b: &[u8], i: &mut usize) -> Result<[u8; N], TypedRowError> {
            let v = b
                .get(*i..*i + N)
                .and_then(|s| <[u8; N]>::try_from(s).ok())
                .ok_or(TypedRowError(*i))?;
            *i += N;
            Ok(v)
        }
        for (at, c) in self.columns.iter_mut().enumerate() {
            let present = b.get(i).is_some_and(|&t| usize::from(t) == at);
            if !present {
                match c {
                    ColumnBuilder::Str(_, b) => b.append_null(),
                    ColumnBuilder::Bool(_, b) => b.append_null(),
                    ColumnBuilder::Ts(_, b) => b.append_null(),
                    ColumnBuilder::Date(_, b) => b.append_null(),
                    ColumnBuilder::F64(_, b) => b.append_null(),
                    ColumnBuilder::U64(_, b) => b.append_null(),
                }
                continue;
            }
            i += 1;
            match c {
                ColumnBuilder::Str(_, sb) => {
                    let len = u32::from_le_bytes(take::<4>(b, &mut i)?) as usize;
                    // (a slice of a `str`, checked only at its two ends)
                    let v = row.text.get(t..t + len).ok_or(TypedRowError(i))?;
                    sb.append_value(v);
                    t += len;
                }
                ColumnBuilder::Bool(_, bb) => {
                    let [v] = take::<1>(b, &mut i)?;
                    bb.append_value(v != 0);
                }
                ColumnBuilder::Ts(_, tb) => tb.append_value(i64::from_le_bytes(take(b, &mut i)?)),
                ColumnBuilder::Date(_, db) => db.append_value(i32::from_le_bytes(take(b, &mut i)?)),
                ColumnBuilder::F64(_, fb) => {
                    fb.append_value(f64::from_bits(u64::from_le_bytes(take(b, &mut i)?)))
                }
                ColumnBuilder::U64(_, ub) => ub.append_value(u64::from_le_bytes(take(b, &mut i)?)),
            }
        }
        // every value taken, in column order
        if i != b.len() || t != row.text.len() {
            return Err(TypedRowError(i));
        }
        Ok(())
    }

    /// The columns, named by [`typed_column_names`].
    pub fn finish(self) -> Vec<ArrayRef> {
        self.columns
            .into_iter()
            .map(|c| -> ArrayRef {
                match c {
                    ColumnBuilder::Str(_, mut b) => Arc::new(b.finish()),
                    ColumnBuilder::Bool(_, mut b) => Arc::new(b.finish()),
                    ColumnBuilder::Ts(_, mut b) => Arc::new(b.finish().with_timezone("UTC")),
                    ColumnBuilder::Date(_, mut b) => Arc::new(b.finish()),
                    ColumnBuilder::F64(_, mut b) => Arc::new(b.finish()),
                    ColumnBuilder::U64(_, mut b) => Arc::new(b.finish()),
                }
            })
            .collect()
    }
}

/// The stored typed columns of one batch (read plainly or as views),
/// checked a record at a time against the values [`TypedColumns`] derives
/// from it. Compared in place, value by value, so `verify` builds no second
/// copy of the columns.
///
/// A column null in every row of the batch is checked by its field alone:
/// its value is derived from one field and null exactly when that field is
/// absent, so it differs only at a row whose leaf holds the field, which
/// the leaf reader reports ([`Record::read_leaf_fields`]) at no cost. In a
/// segment of one source most columns are such (a delivery leaves the
/// sign-in, disclosure and training fields out), and checking them one by
/// one was most of this check (docs/BENCHMARKS.md, session 15).
pub struct ColumnCheck<'b> {
    columns: Vec<StoredColumn<'b>>,
    /// Columns null in every row, with the fields they come from.
    all_null: Vec<(usize, FieldSet)>,
    /// The union of those fields.
    all_null_fields: FieldSet,
    /// The other columns, checked value by value.
    valued: Vec<usize>,
}

struct StoredColumn<'b> {
    name: &'static str,
    values: Stored<'b>,
    /// The first row found to differ.
    differs_at: Option<usize>,
}

enum Stored<'b> {
    Str(fn(&Record) -> Option<&str>, &'b StringArray),
    StrView(fn(&Record) -> Option<&str>, &'b StringViewArray),
    Bool(fn(&Record) -> Option<bool>, &'b BooleanArray),
    Ts(fn(&Record) -> Option<i64>, &'b TimestampMicrosecondArray),
    Date(fn(&Record) -> Option<i32>, &'b Date32Array),
    F64(fn(&Record) -> Option<f64>, &'b Float64Array),
    U64(fn(&Record) -> Option<u64>, &'b UInt64Array),
    /// A column of the wrong type: it differs at its first checked row.
    WrongType,
}

impl<'b> ColumnCheck<'b> {
    /// The typed columns `batch` has (a v1 file lacks the later ones).
    pub fn new(batch: &'b RecordBatch) -> ColumnCheck<'b> {
        fn stored<'b, A: 'static>(
            column: &'b dyn Array,
            with: impl FnOnce(&'b A) -> Stored<'b>,
        ) -> Stored<'b> {
            column
                .as_any()
                .downcast_ref::<A>()
                .map_or(Stored::WrongType, with)
        }
        let schema = batch.schema();
        let mut all_null = Vec::new();
        let mut valued = Vec::new();
        let columns: Vec<StoredColumn<'b>> = TYPED_COLUMNS
            .iter()
            .chain(LATER_COLUMNS)
            .filter_map(|c| {
                let column = batch.column(schema.index_of(c.name).ok()?).as_ref();

                let values = match c.derive {
                    Derive::Str(get) => match column.as_any().downcast_ref() {
                        Some(a) => Stored::StrView(get, a),
                        None => stored(column, |a| Stored::Str(get, a)),
                    },
                    Derive::Bool(get) => stored(column, |a| Stored::Bool(get, a)),
                    Derive::Ts(get) => stored(column, |a| Stored::Ts(get, a)),
                    Derive::Date(get) => stored(column, |a| Stored::Date(get, a)),
                    Derive::F64(get) => stored(column, |a| Stored::F64(get, a)),
                    Derive::U64(get) => stored(column, |a| Stored::U64(get, a)),
                };
                let at = all_null.len() + valued.len();
                match FieldSet::of(c.name) {
                    Some(field)
                        if c.nullable
                            && !matches!(values, Stored::WrongType)
                            && !column.is_empty()
                            && column.null_count() == column.len() =>
                    {
                        all_null.push((at, field))
                    }
                    _ => valued.push(at),
                }
                Some(StoredColumn {
                    name: c.name,
                    values,
                    differs_at: None,
                })
            })
            .collect();
        let all_null_fields = all_null
            .iter()
            .fold(FieldSet::default(), |all, (_, f)| all.union(*f));
        ColumnCheck {
            columns,
            all_null,
            all_null_fields,
            valued,
        }
    }

    /// Compares `row`'s stored values with those derived from `r`, the
    /// record read from that row's leaf; `fields`: the fields the leaf holds
    /// when known ([`Record::read_leaf_fields`]), else every column is
    /// compared value by value.
    pub fn check(&mut self, row: usize, r: &Record, fields: Option<FieldSet>) {
        fn at<A: arrow::array::ArrayAccessor>(a: A, row: usize) -> Option<A::Item> {
            a.is_valid(row).then(|| a.value(row))
        }
        if let Some(fields) = fields {
            // a column null throughout differs where its field is held
            let held = fields.intersection(self.all_null_fields);
            if !held.is_empty() {
                for &(at, field) in &self.all_null {
                    let c = &mut self.columns[at];
                    if c.differs_at.is_none() && !held.intersection(field).is_empty() {
                        c.differs_at = Some(row);
                    }
                }
            }
        }
        // the other columns, or every one when the leaf's fields are unknown
        let n = if fields.is_some() {
            self.valued.len()
        } else {
            self.columns.len()
        };
        for k in 0..n {
            let i = if fields.is_some() { self.valued[k] } else { k };
            let c = &mut self.columns[i];
            if c.differs_at.is_some() {
                continue;
            }
            let same = match c.values {
                Stored::Str(get, a) => same_text(get(r), at(a, row)),
                Stored::StrView(get, a) => same_text(get(r), at(a, row)),
                Stored::Bool(get, a) => get(r) == at(a, row),
                Stored::Ts(get, a) => get(r) == at(a, row),
                Stored::Date(get, a) => get(r) == at(a, row),
                // by bits: -0.0 is not 0.0 in a column the leaf signs
                Stored::F64(get, a) => get(r).map(f64::to_bits) == at(a, row).map(f64::to_bits),
                Stored::U64(get, a) => get(r) == at(a, row),
                Stored::WrongType => false,
            };
            if !same {
                c.differs_at = Some(row);
            }
        }
    }

    /// Each column found to differ, with the first row it differs at, in
    /// schema order.
    pub fn differences(&self) -> Vec<(&'static str, usize)> {
        self.columns
            .iter()
            .filter_map(|c| Some((c.name, c.differs_at?)))
            .collect()
    }
}

/// Whether a value derived from a leaf and a stored one are the same text
/// (or both null), compared without `memcmp` ([`bytes_eq`]).
fn same_text(derived: Option<&str>, stored: Option<&str>) -> bool {
    match (derived, stored) {
        (Some(d), Some(s)) => bytes_eq(d.as_bytes(), s.as_bytes()),
        (d, s) => d.is_none() && s.is_none(),
    }
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

/// 64-bit integers that rise (nearly) row by row: `idx` by one, the times
/// by seconds. Stored as their differences (DELTA_BINARY_PACKED), a few
/// bits a row, where a dictionary of 65,536 distinct values cost about 7
/// bytes a row and a hash-table insert for every value (docs/BENCHMARKS.md,
/// session 14).
const RISING_COLUMNS: &[&str] = &["idx", "ts", "ingested_at"];

/// SHA-256 values: zstd cannot shrink them, so it is not asked to (nor,
/// when reading, to undo it).
const HASH_COLUMNS: &[&str] = &["leaf_hash", "chain"];

fn writer_properties(first_idx: u64) -> WriterProperties {
    use parquet::schema::types::ColumnPath;
    let mut b = WriterProperties::builder();
    for name in DISTINCT_COLUMNS {
        let col = ColumnPath::from(*name);
        b = b
            .set_column_dictionary_enabled(col.clone(), false)
            .set_column_statistics_enabled(col, EnabledStatistics::None);
    }
    for name in RISING_COLUMNS {
        let col = ColumnPath::from(*name);
        b = b
            .set_column_dictionary_enabled(col.clone(), false)
            .set_column_encoding(col, parquet::basic::Encoding::DELTA_BINARY_PACKED);
    }
    for name in HASH_COLUMNS {
        b = b.set_column_compression(ColumnPath::from(*name), Compression::UNCOMPRESSED);
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
/// `file_first`) and then the leaves of `runs` (starting at `first_idx`,
/// with their chain values in `chains`) as one Parquet file at `path`
/// (synced), and returns the SHA-256 of the bytes written, which the
/// manifest signs. Threads share the work: one builds the rows of one run
/// (up to [`BUILD_ROWS`]) at a time, one per core encodes a row
/// group ([`encode_in_parallel`]), this one appends them in order, and one
/// hashes the bytes as they are written. So a seal nothing else runs beside
/// (the last of an ingest) uses every core, the file is never read back to
/// be hashed, and no Arrow copy of a whole seal (hundreds of MB, each page
/// faulted in fresh) is ever made.
pub fn write_leaves(
    path: &Path,
    file_first: u64,
    earlier: impl IntoIterator<Item = Result<RecordBatch, arrow::error::ArrowError>>,
    first_idx: u64,
    runs: &[LeafRun],
    chains: &[Hash],
) -> Result<Hash, parquet::errors::ParquetError> {
    std::thread::scope(|s| {
        let (tx, built) = std::sync::mpsc::sync_channel(2);
        s.spawn(move || {
            let mut at = 0usize;
            for run in runs {
                // (too few chain values: none, whose count `leaves_to_batch`
                // refuses, naming the run)
                let these = chains.get(at..at + run.len()).unwrap_or(&[]);
                let batch = leaves_to_batch(first_idx + at as u64, run, these);
                at += run.len();
                // a closed channel means the writer failed; it reports
                if tx.send(batch).is_err() {
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
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    encode_in_parallel(out, writer_properties(first_idx), workers, batches)
}

/// Encoded column chunks of one row group, or why it failed.
type EncodedGroup = Result<Vec<ArrowColumnChunk>, ParquetError>;

/// Encodes `batches` as [`ArrowWriter`] with these `props` would, in row
/// groups of their `max_row_group_row_count` rows: byte for byte the same
/// file, as each row group is written to its column writers in the same
/// slices and order; only the thread differs. (Row groups are cut by rows
/// alone: `props` with a byte limit are refused.) `workers` threads each encode a whole row
/// group, and this thread appends them in order. (zstd over the leaf
/// column is most of a seal's time; with `ArrowWriter` it ran on one
/// thread, so the last seal of an ingest, with nothing beside it, used one
/// core: docs/BENCHMARKS.md, session 20.)
fn encode_in_parallel<W: Write + Send>(
    out: W,
    props: WriterProperties,
    workers: usize,
    batches: impl IntoIterator<Item = Result<RecordBatch, arrow::error::ArrowError>>,
) -> Result<W, ParquetError> {
    if props.max_row_group_bytes().is_some() {
        return Err(ParquetError::General(
            "segments cut row groups by rows alone".into(),
        ));
    }
    let group_rows = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
    let schema = schema();
    let (mut file, factory) =
        ArrowWriter::try_new(out, Arc::clone(&schema), Some(props))?.into_serialized_writer()?;
    // one row group waits while each worker encodes one: a seal holds a
    // few row groups at a time, however large its segment
    let (jobs, todo) = std::sync::mpsc::sync_channel::<(usize, Vec<RecordBatch>)>(1);
    // only the workers hold the queue's receiving end: were every one of
    // them to stop (a panic), it would be dropped with them, and a send here
    // would fail instead of waiting for ever
    let todo = Arc::new(std::sync::Mutex::new(todo));
    std::thread::scope(|s| -> Result<(), ParquetError> {
        let (encoded, done) = std::sync::mpsc::channel::<(usize, EncodedGroup)>();
        for _ in 0..workers.max(1) {
            let (todo, encoded, factory, schema) =
                (Arc::clone(&todo), encoded.clone(), &factory, &schema);
            s.spawn(move || {
                // (a poisoned lock means another worker panicked, which the
                // scope passes on)
                while let Some((index, group)) = todo.lock().ok().and_then(|rx| rx.recv().ok()) {
                    let chunks = encode_group(factory, schema, index, &group);
                    if encoded.send((index, chunks)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(todo);
        drop(encoded);
        let mut order = InOrder::default();
        let mut group: Vec<RecordBatch> = Vec::new();
        let mut rows = 0;
        for batch in batches {
            let mut rest = batch?;
            // cut where ArrowWriter cuts: a batch crossing the end of a row
            // group is sliced there
            while rest.num_rows() > 0 {
                let take = (group_rows - rows).min(rest.num_rows());
                group.push(rest.slice(0, take));
                rest = rest.slice(take, rest.num_rows() - take);
                rows += take;
                if rows == group_rows {
                    order.send(&jobs, std::mem::take(&mut group))?;
                    rows = 0;
                    order.waiting.extend(done.try_iter());
                    order.append_ready(&mut file)?;
                }
            }
        }
        if !group.is_empty() {
            order.send(&jobs, group)?;
        }
        drop(jobs);
        while order.appended < order.sent {
            let (index, chunks) = done.recv().map_err(|_| encoders_stopped())?;
            order.waiting.insert(index, chunks);
            order.append_ready(&mut file)?;
        }
        Ok(())
    })?;
    file.into_inner()
}

/// Row groups handed to the encoders, and the finished ones waiting for
/// those before them.
#[derive(Default)]
struct InOrder {
    sent: usize,
    appended: usize,
    waiting: std::collections::BTreeMap<usize, EncodedGroup>,
}

/// What a seal whose encoders all stopped reports.
fn encoders_stopped() -> ParquetError {
    ParquetError::General("a segment encoder stopped".into())
}

/// Row groups queued for the encoders, each with its position.
type Jobs = std::sync::mpsc::SyncSender<(usize, Vec<RecordBatch>)>;

impl InOrder {
    /// Queues the next row group (waiting while every encoder is busy).
    fn send(&mut self, jobs: &Jobs, group: Vec<RecordBatch>) -> Result<(), ParquetError> {
        jobs.send((self.sent, group))
            .map_err(|_| encoders_stopped())?;
        self.sent += 1;
        Ok(())
    }

    /// Appends to `file` every finished row group that is next in order.
    fn append_ready<W: Write + Send>(
        &mut self,
        file: &mut parquet::file::writer::SerializedFileWriter<W>,
    ) -> Result<(), ParquetError> {
        while let Some(chunks) = self.waiting.remove(&self.appended) {
            let mut group = file.next_row_group()?;
            for chunk in chunks? {
                chunk.append_to_row_group(&mut group)?;
            }
            group.close()?;
            self.appended += 1;
        }
        Ok(())
    }
}

/// One row group's batches through its column writers, as
/// `ArrowWriter::write` feeds them.
fn encode_group(
    factory: &ArrowRowGroupWriterFactory,
    schema: &SchemaRef,
    index: usize,
    group: &[RecordBatch],
) -> EncodedGroup {
    let mut writers = factory.create_column_writers(index)?;
    for batch in group {
        let mut next = writers.iter_mut();
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            for leaf in compute_leaves(field, column)? {
                let writer = next.next().ok_or_else(|| {
                    ParquetError::General("the schema has more leaf columns than writers".into())
                })?;
                writer.write(&leaf)?;
            }
        }
    }
    writers.into_iter().map(|w| w.close()).collect()
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

/// A segment file opened to be read with its strings and binaries as views
/// into the decompressed pages (`Utf8View`, `BinaryView`) instead of copied
/// out of them: what `verify`, which reads every value once, reads.
pub struct Viewed {
    /// The file's schema as it is written (with `Utf8` and `Binary`), to be
    /// checked with [`is_segment_schema`].
    pub file_schema: SchemaRef,
    /// Its rows, batch by batch, in the viewed types.
    pub batches: Batches,
}

/// The rows of each of a segment file's row groups, from its footer.
pub fn row_group_rows(path: &Path) -> Result<Vec<usize>, parquet::errors::ParquetError> {
    let file = File::open(path)?;
    let reader = parquet::file::reader::SerializedFileReader::new(file)?;
    use parquet::file::reader::FileReader as _;
    reader
        .metadata()
        .row_groups()
        .iter()
        .map(|g| {
            usize::try_from(g.num_rows()).map_err(|_| {
                parquet::errors::ParquetError::General("a row group's row count is negative".into())
            })
        })
        .collect()
}

/// Opens a segment file to be read as views ([`Viewed`]): the row groups
/// `groups` (by index, in order) or, given `None`, all of them.
pub fn read_viewed(
    path: &Path,
    groups: Option<std::ops::Range<usize>>,
) -> Result<Viewed, parquet::errors::ParquetError> {
    use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
    let file = File::open(path)?;
    let plain = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())?;
    let file_schema = plain.schema().clone();
    let fields: Vec<Field> = file_schema
        .fields()
        .iter()
        .map(|f| {
            let viewed = match f.data_type() {
                DataType::Utf8 => DataType::Utf8View,
                DataType::Binary => DataType::BinaryView,
                other => other.clone(),
            };
            f.as_ref().clone().with_data_type(viewed)
        })
        .collect();
    let viewed = Arc::new(Schema::new_with_metadata(
        fields,
        file_schema.metadata().clone(),
    ));
    let metadata = ArrowReaderMetadata::try_new(
        plain.metadata().clone(),
        ArrowReaderOptions::new().with_schema(viewed),
    )?;
    let mut builder =
        ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata).with_batch_size(8192);
    if let Some(groups) = groups {
        builder = builder.with_row_groups(groups.collect());
    }
    let batches = builder.build()?;
    Ok(Viewed {
        file_schema,
        batches,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use sealtrail_format::model::{Date, Ts};

    use sealtrail_format::examples::record_with_every_field as full;

    /// Records that exercise every column: all set, each typed column left
    /// null in turn, each alone, and values at their edges.
    fn records() -> Vec<Record> {
        let names = typed_column_names();
        let mut out = vec![full()];
        // a typed column's value is null when its field is; the fields the
        // columns come from are cleared through a JSON round trip
        let json = serde_json::to_value(full()).expect("a record serialises");
        let serde_json::Value::Object(all) = json else {
            panic!("a record is an object")
        };
        for name in &names {
            let mut without = all.clone();
            without.remove(*name);
            out.push(serde_json::from_value(without.into()).expect("a record"));
            let mut alone = all.clone();
            alone.retain(|k, _| {
                k == name
                    || ["v", "kind", "ts", "source", "recipient", "status"].contains(&k.as_str())
            });
            out.push(serde_json::from_value(alone.into()).expect("a record"));
        }
        for text in [
            "", "\"", "\\", "\u{1}", "\n", "é", "日本", "💊", "\u{2028}", "a\"b\\c",
        ] {
            let mut r = full();
            r.detail = Some(text.to_string());
            r.user = Some(text.to_string());
            out.push(r);
        }
        for score in [0.0, -0.0, 1e-7, 1e21, f64::MAX, f64::MIN_POSITIVE] {
            let mut r = full();
            r.score = Some(score);
            out.push(r);
        }
        for d in [chrono::NaiveDate::MIN, chrono::NaiveDate::MAX] {
            let mut r = full();
            r.suspended_until = Some(Date(d));
            out.push(r);
        }
        let mut r = full();
        r.count = Some(0);
        r.tls_failed = Some(true);
        r.completed_at = Some(Ts(i64::from(i32::MIN)));
        out.push(r);
        out
    }

    /// Those of [`records`] that are valid once derived.
    fn valid_records() -> Vec<Record> {
        records()
            .into_iter()
            .filter(|r| {
                let mut r = r.clone();
                r.derive();
                r.validate().is_ok()
            })
            .collect()
    }

    /// The stored columns of `records` (each derived first), as a seal
    /// writes them, and their leaves.
    fn batch_of(records: &[Record]) -> (RecordBatch, Vec<Vec<u8>>) {
        let mut leaves = Vec::new();
        let mut rows = Vec::new();
        for r in records {
            let mut r = r.clone();
            r.derive();
            r.validate().expect("a valid record");
            leaves.push(r.to_leaf());
            rows.push(TypedRow::of(&r));
        }
        let batch = batch(0, &leaves, &rows, true);
        (batch, leaves)
    }

    /// `leaves` as one run for [`leaves_to_batch`], with their rows or
    /// without, and a chain value for each.
    fn sealed(leaves: &[Vec<u8>], rows: &[TypedRow], with_rows: bool) -> (LeafRun, Vec<Hash>) {
        let mut run = LeafRunBuilder::default();
        for (l, row) in leaves.iter().zip(rows) {
            run.push(l, [1; 32], with_rows.then_some(row));
        }
        (run.finish(), vec![[2; 32]; leaves.len()])
    }

    /// The batch of `leaves` made as a seal makes it.
    fn batch(
        first_idx: u64,
        leaves: &[Vec<u8>],
        rows: &[TypedRow],
        with_rows: bool,
    ) -> RecordBatch {
        let (run, chains) = sealed(leaves, rows, with_rows);
        leaves_to_batch(first_idx, &run, &chains).expect("a batch")
    }

    #[test]
    fn a_run_holds_its_leaves_in_order_and_is_their_leaf_column() {
        // leaves of valid records (a leaf without its typed row is read
        // back for them), over and over
        let made: Vec<Vec<u8>> = valid_records()
            .into_iter()
            .map(|mut r| {
                r.derive();
                r.to_leaf()
            })
            .collect();
        let leaves: Vec<Vec<u8>> = made.iter().cycle().take(BUILD_ROWS + 3).cloned().collect();
        let mut runs = Vec::new();
        let mut run = LeafRunBuilder::default();
        for (i, l) in leaves.iter().enumerate() {
            if !run.has_room(l.len()) {
                runs.push(std::mem::take(&mut run).finish());
            }
            run.push(l, [(i % 251) as u8; 32], None);
            let (last, hash) = run.leaves().last().expect("a leaf");
            assert_eq!((last, hash[0]), (l.as_slice(), (i % 251) as u8));
        }
        assert_eq!(run.len(), 3, "a run ends at BUILD_ROWS leaves");
        runs.push(run.finish());
        assert_eq!(runs[0].len(), BUILD_ROWS);
        let back: Vec<&[u8]> = runs
            .iter()
            .flat_map(|r| r.leaves().map(|(l, _)| l))
            .collect();
        assert_eq!(back, leaves.iter().map(Vec::as_slice).collect::<Vec<_>>());
        // the batch's leaf column is the run's bytes, each leaf whole
        let chains = vec![[9; 32]; 3];
        let b = leaves_to_batch(BUILD_ROWS as u64, &runs[1], &chains).expect("a batch");
        let col = b
            .column_by_name("leaf")
            .and_then(|c| c.as_any().downcast_ref::<arrow::array::BinaryArray>())
            .expect("a leaf column");
        let col: Vec<&[u8]> = col.iter().map(|v| v.expect("a leaf")).collect();
        assert_eq!(col, back[BUILD_ROWS..]);
        // a chain value missing for a leaf is refused, not written
        assert!(leaves_to_batch(0, &runs[1], &chains[..2]).is_err());
    }

    /// What [`ColumnCheck`] finds comparing `batch`'s columns with `leaves`,
    /// told each leaf's fields (`by_fields`) or not.
    fn differences(
        batch: &RecordBatch,
        leaves: &[Vec<u8>],
        by_fields: bool,
    ) -> Vec<(&'static str, usize)> {
        let mut check = ColumnCheck::new(batch);
        let mut rec = Record::default();
        for (row, leaf) in leaves.iter().enumerate() {
            let fields = rec.read_leaf_fields(leaf).expect("a leaf");
            assert!(fields.is_some(), "read in one pass");
            check.check(row, &rec, fields.filter(|_| by_fields));
        }
        check.differences()
    }

    /// A column null in every row is checked by its field alone: it differs
    /// exactly at the first row whose leaf holds that field, as when every
    /// value is compared; the other columns are compared value by value.
    #[test]
    fn a_column_null_throughout_differs_where_a_leaf_holds_its_field() {
        let mut without: Vec<Record> = (0..5)
            .map(|i| {
                let mut r = full();
                r.detail = None;
                r.topic = None;
                r.user = Some(format!("user {i}"));
                r
            })
            .collect();
        let (batch, leaves) = batch_of(&without);
        let at = |name: &str| batch.schema().index_of(name).expect("a column");
        assert_eq!(
            batch.column(at("detail")).null_count(),
            5,
            "detail null throughout"
        );
        for by_fields in [true, false] {
            assert!(differences(&batch, &leaves, by_fields).is_empty());
        }
        // leaves that hold `detail` from row 2 on, and another user at row 3
        without[2].detail = Some("a detail".into());
        without[4].detail = Some("another".into());
        without[4].topic = Some("a topic".into());
        without[3].user = Some("someone else".into());
        let (_, other_leaves) = batch_of(&without);
        for by_fields in [true, false] {
            assert_eq!(
                differences(&batch, &other_leaves, by_fields),
                vec![("user", 3), ("topic", 4), ("detail", 2)],
                "told the fields: {by_fields}"
            );
        }
    }

    /// A seal writes the columns kept from each record ([`TypedRow`]) or,
    /// for a leaf recovered from the WAL, read from the leaf: the two must
    /// be the same batch, value for value.
    #[test]
    fn a_typed_row_gives_the_columns_its_leaf_gives() {
        assert!(
            typed_column_names().len() < 256,
            "a row's positions are one byte"
        );
        let mut leaves = Vec::new();
        let mut rows = Vec::new();
        for mut r in valid_records() {
            r.derive();
            leaves.push(r.to_leaf());
            rows.push(TypedRow::of(&r));
        }
        assert!(leaves.len() > 100, "records made: {}", leaves.len());
        let from_rows = batch(7, &leaves, &rows, true);
        let from_leaves = batch(7, &leaves, &rows, false);
        for (i, name) in typed_column_names().iter().enumerate() {
            let at = from_rows.schema().index_of(name).expect("a typed column");
            assert_eq!(
                from_rows.column(at).to_data(),
                from_leaves.column(at).to_data(),
                "column {name} (position {i})"
            );
        }
        assert_eq!(from_rows, from_leaves);
        // and a row that was cut short, or has bytes left over, is refused
        let mut typed = TypedColumns::with_capacity(1);
        let row = &rows[0];
        let cut = TypedRow {
            values: row.values[..row.values.len() - 1].into(),
            ..row.clone()
        };
        assert!(typed.push_row(cut.as_ref()).is_err());
        let mut longer = row.values.to_vec();
        longer.push(0);
        let longer = TypedRow {
            values: longer.into(),
            ..row.clone()
        };
        assert!(typed.push_row(longer.as_ref()).is_err());
        let more_text = TypedRow {
            text: format!("{}x", row.text).into(),
            ..row.clone()
        };
        assert!(typed.push_row(more_text.as_ref()).is_err());
    }

    /// Encoding row groups on several threads writes the file `ArrowWriter`
    /// writes, byte for byte: batches of every size against the row group's
    /// end (empty, within one, exactly one, across several), on 1 to 3
    /// workers, and no batch at all.
    #[test]
    fn row_groups_encoded_in_parallel_give_the_bytes_arrow_writer_gives() {
        let (batch, _) = batch_of(&valid_records());
        let n = batch.num_rows();
        assert!(n > 40, "enough rows for several row groups ({n})");
        let group_rows = 4;
        let mut cuts: Vec<Vec<usize>> = vec![vec![], vec![n], vec![0, 1, 3, 4, 0, 9, 2, 4, 8]];
        cuts.push((0..n).map(|_| 1).collect());
        for sizes in &mut cuts {
            let used: usize = sizes.iter().sum();
            if used < n && !sizes.is_empty() {
                sizes.push(n - used);
            }
        }
        for sizes in &cuts {
            let mut at = 0;
            let batches: Vec<RecordBatch> = sizes
                .iter()
                .map(|&k| {
                    let b = batch.slice(at, k);
                    at += k;
                    b
                })
                .collect();
            let props = || {
                WriterProperties::builder()
                    .set_max_row_group_row_count(Some(group_rows))
                    .set_data_page_row_count_limit(3)
                    .set_write_batch_size(2)
                    .build()
            };
            let mut expected =
                ArrowWriter::try_new(Vec::new(), schema(), Some(props())).expect("a writer");
            for b in &batches {
                expected.write(b).expect("written");
            }
            let expected = expected.into_inner().expect("closed");
            for workers in 1..=3 {
                let got = encode_in_parallel(
                    Vec::new(),
                    props(),
                    workers,
                    batches.iter().cloned().map(Ok),
                )
                .expect("encoded");
                assert!(
                    got == expected,
                    "batches of {sizes:?} on {workers} workers: {} bytes, ArrowWriter {}",
                    got.len(),
                    expected.len()
                );
            }
            // a byte limit would cut where rows alone do not: refused
            let by_bytes = WriterProperties::builder()
                .set_max_row_group_bytes(Some(1 << 20))
                .build();
            assert!(
                encode_in_parallel(Vec::new(), by_bytes, 2, batches.iter().cloned().map(Ok))
                    .is_err()
            );
            let groups = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(expected))
                .expect("a file")
                .metadata()
                .num_row_groups();
            assert_eq!(
                groups,
                if sizes.is_empty() {
                    0
                } else {
                    n.div_ceil(group_rows)
                }
            );
        }
    }
}

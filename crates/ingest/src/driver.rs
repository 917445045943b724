//! The ingest driver: feeds a source's output into the store's appender.
//!
//! Owns what every source shares: validation, quarantine leaves (raw bytes,
//! `file:line`, a reason naming fields and never values), deduplication via
//! the appender, coverage leaves, `--strict`, periodic commits and seals, and
//! the end-of-run summary.
//!
//! Work is split so that cores share it: [`prepare`] turns a parsed record
//! into its leaf bytes and hash (or its quarantine leaf) and needs no store;
//! [`apply`] is what only the one writer may do (dedupe, WAL, counts,
//! seals). A file's parser runs on the calling thread, `prepare` on every
//! core ([`ordered_map`]), `apply` on a thread of its own, and each periodic
//! seal on another while appends go on; the server prepares request bodies
//! on its blocking pool ([`parse_all`]).

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Instant;

use base64::Engine;
use sha2::{Digest, Sha256};

use super::{IngestError, MAX_LINE, Parsed, Source, source_by_name};
use crate::parallel::ordered_map;
use sealtrail_format::model::{Kind, Record, Ts};
use sealtrail_store::{Appended, Appender, Prepared, Validated};

/// Options of an ingest run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Stop at the first bad record; seal nothing of that file.
    pub strict: bool,
    /// Seal every this many new records (and at the end).
    pub seal_every: usize,
    /// Append coverage leaves (per source, per hour of event time).
    pub coverage: bool,
    /// The sources a canonical (`jsonl`) record may name: a gateway token's
    /// bound sources over HTTP; `None` for the operator at the command line
    /// (any source but the store's own). FORMAT.md §11.6.
    pub allowed_sources: Option<Vec<String>>,
    /// A file larger than this on disk is read twice by a source whose
    /// records depend on later input ([`Source::prescans`]: Okta), instead
    /// of being held whole ([`Ingest::input_file`]).
    pub read_twice_above: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            strict: false,
            seal_every: 100_000,
            coverage: true,
            allowed_sources: None,
            read_twice_above: READ_TWICE_ABOVE,
        }
    }
}

/// Counts of one ingest run.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Source name.
    pub source: String,
    /// Records and bad records read.
    pub read: u64,
    /// New events appended (excluding quarantine and coverage leaves).
    pub sealed: u64,
    /// Records skipped as already present (same identity and content).
    pub duplicates: u64,
    /// Sealed records whose source event id an earlier, different record
    /// already had: both are kept (counted in `sealed` too).
    pub collisions: u64,
    /// Read and understood but not events, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Quarantined, by reason.
    pub quarantined: BTreeMap<String, u64>,
    /// Quarantined lines with their `file:line` (first 1000), for HTTP answers.
    pub quarantine_refs: Vec<(String, String)>,
    /// Coverage leaves appended.
    pub coverage_leaves: u64,
    /// Wall time.
    pub elapsed: std::time::Duration,
}

impl Summary {
    /// Total quarantined.
    pub fn quarantined_total(&self) -> u64 {
        self.quarantined.values().sum()
    }

    /// The end-of-run lines.
    pub fn render(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut s = format!(
            "{}: read {}, sealed {}, duplicates {}, quarantined {}, coverage leaves {}, {:.2}s, {:.0} events/s\n",
            self.source,
            self.read,
            self.sealed,
            self.duplicates,
            self.quarantined_total(),
            self.coverage_leaves,
            secs,
            self.read as f64 / secs
        );
        if self.collisions > 0 {
            s.push_str(&format!(
                "  kept {} records whose source event id an earlier, different record has (both kept; check the source's ids)\n",
                self.collisions
            ));
        }
        for (reason, n) in &self.skipped {
            s.push_str(&format!("  not an event {n}: {reason}\n"));
        }
        for (reason, n) in &self.quarantined {
            s.push_str(&format!("  quarantined {n}: {reason}\n"));
        }
        s
    }
}

/// A progress callback (called from the thread that appends).
pub type ProgressFn<'a> = Box<dyn FnMut(&Summary) + Send + 'a>;

/// Records handed from one ingest stage to the next at a time.
const BATCH: usize = 1024;

/// One parsed input record made ready for the writer by [`prepare`].
pub struct Step(StepKind);

enum StepKind {
    /// A valid event, with the (source, hour) its coverage counts it under.
    Event(Prepared, String, i64),
    /// The quarantine leaf of a bad record, with its `file:line` and reason.
    Quarantine(Prepared, String, String),
    /// Read and understood, but not an event.
    Skip(String),
}

/// The ingest driver for one source over one or more inputs.
pub struct Ingest<'a> {
    appender: &'a mut Appender,
    source: Box<dyn Source>,
    opts: Options,
    summary: Summary,
    since_seal: usize,
    hours: BTreeMap<(String, i64), u64>,
    started: Instant,
    /// Called with the summary so far after every 10,000 records.
    pub progress: Option<ProgressFn<'a>>,
}

const HOUR: i64 = 3_600_000_000;

impl<'a> Ingest<'a> {
    /// A driver writing into `appender`.
    pub fn new(appender: &'a mut Appender, source: Box<dyn Source>, opts: Options) -> Ingest<'a> {
        let summary = Summary {
            source: source.name().to_string(),
            ..Summary::default()
        };
        Ingest {
            appender,
            source,
            opts,
            summary,
            since_seal: 0,
            hours: BTreeMap::new(),
            started: Instant::now(),
            progress: None,
        }
    }

    /// Ingests one input. `name` is what `input_ref` and errors show.
    /// The calling thread parses; [`prepare`] (leaf serialisation and
    /// hashing, about half of the work per record) runs on every core
    /// ([`ordered_map`]); a thread of its own applies what was prepared, in
    /// input order (dedupe, WAL, seals).
    pub fn input(&mut self, input: &mut dyn BufRead, name: &str) -> Result<(), IngestError> {
        let Ingest {
            appender,
            source,
            opts,
            summary,
            since_seal,
            hours,
            progress,
            ..
        } = self;
        let source_name = summary.source.clone();
        let allowed_owned = opts.allowed_sources.clone();
        let allowed = allowed_owned.as_deref();
        // Room for about one seal's worth of records, so parsing and
        // preparing go on while the appender seals (measured: 1.1-1.4x on 2
        // cores, for ~200 MiB more at the peak; docs/BENCHMARKS.md).
        let in_flight = (opts.seal_every / BATCH).clamp(4, 128);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Step>, IngestError>>(in_flight);
        let spawn_error = |e: std::io::Error| IngestError::Io {
            file: name.to_string(),
            source: e,
        };
        // a closed channel, or an error handed to the writer, means the
        // writer stops on an error, which is returned instead of this one
        let writer_stopped = || IngestError::Io {
            file: name.to_string(),
            source: std::io::Error::other("the writer stopped"),
        };
        std::thread::scope(|sc| {
            let appending = move || -> Result<(), IngestError> {
                for batch in rx {
                    for step in batch? {
                        apply(appender, opts, summary, since_seal, hours, step)?;
                        if summary.read % 10_000 == 0
                            && let Some(cb) = progress.as_mut()
                        {
                            cb(summary);
                        }
                    }
                }
                Ok(())
            };
            let writer = std::thread::Builder::new()
                .name("sealtrail-append".into())
                .spawn_scoped(sc, appending)
                .map_err(spawn_error)?;
            let parsed = ordered_map(
                crate::parallel::workers(),
                &mut |put| {
                    let mut batch = Vec::with_capacity(BATCH);
                    let parsed = source.parse(input, name, &mut |p| {
                        batch.push(p);
                        if batch.len() >= BATCH {
                            put(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))?;
                        }
                        Ok(())
                    });
                    // what was read before an error is appended too
                    if !batch.is_empty() {
                        put(batch)?;
                    }
                    parsed
                },
                &|batch: Vec<Parsed>| {
                    let mut steps = Vec::with_capacity(batch.len());
                    for p in batch {
                        match prepare(p, name, &source_name, allowed) {
                            Ok(step) => steps.push(step),
                            // what was prepared before an error is appended too
                            Err(e) => return (steps, Some(e)),
                        }
                    }
                    (steps, None)
                },
                &mut |(steps, failed)| {
                    tx.send(Ok(steps)).map_err(|_| writer_stopped())?;
                    match failed {
                        Some(e) => {
                            let _ = tx.send(Err(e));
                            Err(writer_stopped())
                        }
                        None => Ok(()),
                    }
                },
            );
            drop(tx);
            match writer.join() {
                Ok(written) => written.and(parsed),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Applies steps prepared beforehand by [`parse_all`] (on another
    /// thread), exactly as [`Ingest::input`] would have.
    pub fn accept_prepared(&mut self, steps: Vec<Step>) -> Result<(), IngestError> {
        for step in steps {
            apply(
                self.appender,
                &self.opts,
                &mut self.summary,
                &mut self.since_seal,
                &mut self.hours,
                step,
            )?;
        }
        Ok(())
    }

    /// Ingests the file at `path` ([`Ingest::input`]), read twice when the
    /// source asks for a first pass ([`Source::prescans`]), so that it
    /// emits each record as it reads instead of holding the file whole.
    pub fn input_file(&mut self, path: &Path, name: &str) -> Result<(), IngestError> {
        let passes = (self.source.prescans(), self.opts.read_twice_above);
        each_pass(path, name, passes, &mut |pass, input| match pass {
            Pass::First => self.source.prescan(input, name),
            Pass::Second => self.input(input, name),
        })
    }

    /// Checks the file at `path` for `--strict`, before it is ingested: the
    /// first bad record is an error and nothing is appended.
    pub fn precheck_file(&mut self, path: &Path, name: &str) -> Result<(), IngestError> {
        let mut first_bad: Option<(u64, String)> = None;
        let mut emit = |p: Parsed| -> Result<(), IngestError> {
            if first_bad.is_some() {
                return Ok(());
            }
            match p {
                Parsed::Bad { line, reason, .. } => first_bad = Some((line, reason)),
                Parsed::Skip { .. } => {}
                Parsed::Event(mut rec, line) => {
                    rec.v = sealtrail_format::model::LEAF_VERSION;
                    rec.derive();
                    if let Err(reason) = trusted(
                        &rec,
                        self.source.name(),
                        self.opts.allowed_sources.as_deref(),
                    )
                    .and_then(|()| check(&rec))
                    {
                        first_bad = Some((line, reason));
                    }
                }
            }
            Ok(())
        };
        let mut fresh = source_by_name(self.source.name())?;
        let passes = (fresh.prescans(), self.opts.read_twice_above);
        each_pass(path, name, passes, &mut |pass, input| match pass {
            Pass::First => fresh.prescan(input, name),
            Pass::Second => fresh.parse(input, name, &mut emit),
        })?;
        fresh.finish(&mut emit)?;
        match first_bad {
            Some((line, reason)) => Err(IngestError::Strict {
                input_ref: format!("{name}:{line}"),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// Flushes the source, appends coverage leaves, commits and seals.
    pub fn finish(mut self) -> Result<Summary, IngestError> {
        self.flush_source()?;
        if self.opts.coverage && self.source.continuous() {
            self.append_coverage()?;
        }
        self.appender.commit()?;
        self.appender.seal()?;
        self.summary.elapsed = self.started.elapsed();
        Ok(self.summary)
    }

    /// Flushes the source without committing or sealing: what the server
    /// does per request before its own commit (fsync), leaving seals and
    /// coverage to its background sealer.
    pub fn append_only(mut self) -> Result<Summary, IngestError> {
        self.flush_source()?;
        self.summary.elapsed = self.started.elapsed();
        Ok(self.summary)
    }

    fn flush_source(&mut self) -> Result<(), IngestError> {
        {
            let Ingest {
                appender,
                source,
                opts,
                summary,
                since_seal,
                hours,
                ..
            } = self;
            let source_name = summary.source.clone();
            let allowed = opts.allowed_sources.clone();
            let mut emit = |p: Parsed| {
                let step = prepare(p, "(end of input)", &source_name, allowed.as_deref())?;
                apply(appender, opts, summary, since_seal, hours, step)
            };
            source.finish(&mut emit)?;
        }
        Ok(())
    }

    fn append_coverage(&mut self) -> Result<(), IngestError> {
        let mut by_source: BTreeMap<String, BTreeMap<i64, u64>> = BTreeMap::new();
        for ((s, h), n) in std::mem::take(&mut self.hours) {
            by_source.entry(s).or_default().insert(h, n);
        }
        for (source, hours) in by_source {
            let (Some(&first), Some(&last)) = (hours.keys().next(), hours.keys().next_back())
            else {
                continue;
            };
            // Zero-count hours make silent gaps visible; beyond 400 days of
            // span (e.g. a bogus year-9999 timestamp) only observed hours.
            let fill = (last - first) / HOUR <= 400 * 24;
            let slots: Vec<i64> = if fill {
                (0..=(last - first) / HOUR)
                    .map(|k| first + k * HOUR)
                    .collect()
            } else {
                hours.keys().copied().collect()
            };
            for h in slots {
                if !Ts(h + HOUR).representable() {
                    continue; // the last hour of year 9999 has no window end
                }
                let n = hours.get(&h).copied().unwrap_or(0);
                let mut r = Record::new(Kind::Coverage, Ts(h), &source);
                r.window_start = Some(Ts(h));
                r.window_end = Some(Ts(h + HOUR));
                r.count = Some(n);
                let digest =
                    Sha256::digest(format!("{source}\n{h}\n{n}\n{}", self.summary.read).as_bytes());
                r.source_event_id = Some(format!("coverage:{h}:{}", hex::encode(&digest[..8])));
                if let Appended::New(_) | Appended::Collision(_) = self.appender.append(r)? {
                    self.summary.coverage_leaves += 1;
                }
            }
        }
        Ok(())
    }
}

/// Which of a file's passes [`each_pass`] hands on.
enum Pass {
    /// [`Source::prescan`]'s.
    First,
    /// The one that emits.
    Second,
}

/// The default of [`Options::read_twice_above`]: a file this large on disk
/// costs at most ~600 MB held whole (Okta: ~2.3 bytes held per byte of
/// input), about what a seal's buffers take, while a second pass costs
/// such a source ~25 % more time (docs/BENCHMARKS.md, session 16).
pub const READ_TWICE_ABOVE: u64 = 256 << 20;

/// Hands the file at `path` to `read` once, or, for a source that
/// `prescans` and a file larger than `above` bytes on disk (a
/// gzip-compressed one counting eight times its size), twice: the second
/// pass reads the same open file again from its start, exactly as many
/// bytes as the first read (a file renamed away meanwhile is still the one
/// read; one still growing is read as it was), and a file that shrank in
/// between is refused.
fn each_pass(
    path: &Path,
    name: &str,
    (prescans, above): (bool, u64),
    read: &mut dyn FnMut(Pass, &mut dyn BufRead) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    let io = |source| IngestError::Io {
        file: name.to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let size = || -> std::io::Result<u64> {
        let mut magic = [0u8; 2];
        let mut f = &file;
        let gz = f.read(&mut magic)? == 2 && magic == [0x1f, 0x8b];
        f.seek(SeekFrom::Start(0))?;
        let len = file.metadata()?.len();
        Ok(if gz { len.saturating_mul(8) } else { len })
    };
    if !prescans || size().map_err(io)? <= above {
        return read(Pass::Second, &mut crate::read::input_of(file, name)?);
    }
    let mut first = Counted::new(crate::read::input_of(file.try_clone().map_err(io)?, name)?);
    read(Pass::First, &mut first)?;
    let length = first.bytes;
    drop(first);
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut second = Counted::new(crate::read::input_of(file, name)?.take(length));
    read(Pass::Second, &mut second)?;
    if second.bytes < length {
        return Err(IngestError::Changed {
            file: name.to_string(),
            first: length,
            second: second.bytes,
        });
    }
    Ok(())
}

/// A reader that counts the bytes read through it.
struct Counted<R> {
    inner: R,
    bytes: u64,
}

impl<R> Counted<R> {
    fn new(inner: R) -> Counted<R> {
        Counted { inner, bytes: 0 }
    }
}

impl<R: BufRead> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.bytes += amt as u64;
        self.inner.consume(amt);
    }
}

/// The name of the store's own source: only the store writes as it.
pub const STORE_SOURCE: &str = "sealtrail";

/// Whether input may say what a record claims to be (FORMAT.md §11.6): the
/// kinds the store writes itself (administration and self-audit, coverage,
/// accounting requests, quarantine, key rotations) are never read from any
/// input; a record's source is its adapter's, and canonical (`jsonl`) input
/// may name only a source its caller is allowed, never the store's own.
fn trusted(rec: &Record, adapter: &str, allowed: Option<&[String]>) -> Result<(), String> {
    // (a record without a kind is refused by validation, naming the field)
    if let Some(
        kind @ (Kind::Admin | Kind::Coverage | Kind::AccountingRequest | Kind::Quarantine),
    ) = rec.kind
    {
        return Err(format!(
            "field `kind`: `{kind}` records are written only by sealtrail itself, never read from input"
        ));
    }
    let claimed = rec.source.as_deref().unwrap_or(adapter);
    if claimed == STORE_SOURCE || claimed.starts_with("sealtrail-") {
        return Err("field `source`: only sealtrail itself writes as source `sealtrail`".into());
    }
    if adapter == "jsonl" {
        if let Some(allowed) = allowed
            && claimed != "jsonl"
            && !allowed.iter().any(|a| a == claimed)
        {
            return Err(
                "field `source`: this token may not write records of that source (a gateway writes only its bound sources)"
                    .into(),
            );
        }
    } else if claimed != adapter {
        return Err("field `source` differs from the source that read it".into());
    }
    Ok(())
}

/// Whether a record read from a source may be sealed as an event: it
/// validates, and its event times are plausible ([`plausible`]).
fn check(rec: &Record) -> Result<(), String> {
    rec.validate().map_err(|e| e.to_string())?;
    plausible(rec)
}

/// Whether a record's event times are plausible (FORMAT.md §11.3: not
/// before 2000, not more than a day after ingestion), so that a unit error
/// (seconds read as milliseconds) is quarantined instead of sealed as 1970.
fn plausible(rec: &Record) -> Result<(), String> {
    let now = rec.ingested_at.unwrap_or_else(Ts::now);
    // a training record not yet completed is dated by its due date, which
    // may lie ahead: only its completion is an observed time
    let observed = match rec.kind() {
        Kind::Training => [("completed_at", rec.completed_at)],
        _ => [("ts", rec.ts)],
    };
    for (field, t) in observed {
        if let Some(t) = t {
            sealtrail_format::model::plausible_time(field, t, now)?;
        }
    }
    Ok(())
}

/// Makes one parsed record ready for the writer, on any thread: a valid
/// event is serialised and hashed; a bad record (or one that fails
/// validation) becomes its quarantine leaf, with `file:line` and a reason
/// that names fields, never values.
pub fn prepare(
    p: Parsed,
    file: &str,
    source: &str,
    allowed_sources: Option<&[String]>,
) -> Result<Step, IngestError> {
    let (line, reason, raw, overlong) = match p {
        Parsed::Event(mut rec, line) => {
            // derived and validated once (`Validated`), then its times checked;
            // a refused record is quarantined as the source made it, versioned
            // and derived
            let refused = match trusted(&rec, source, allowed_sources) {
                Err(reason) => {
                    rec.v = sealtrail_format::model::LEAF_VERSION;
                    rec.derive();
                    (rec, reason)
                }
                Ok(()) => match Validated::new(rec) {
                    Err((r, e)) => (r, e.to_string()),
                    Ok(v) => match plausible(v.record()) {
                        Err(reason) => (v.into_record(), reason),
                        Ok(()) => {
                            let r = v.record();
                            let src = r.source.clone().unwrap_or_else(|| source.to_string());
                            let hour = r.ts.map(|t| t.0).unwrap_or(0).div_euclid(HOUR) * HOUR;
                            return Ok(Step(StepKind::Event(v.prepare(), src, hour)));
                        }
                    },
                },
            };
            let (mut rec, reason) = refused;
            let raw = rec
                .raw
                .take()
                .map(String::into_bytes)
                .unwrap_or_else(|| rec.to_leaf());
            (line, reason, raw, None)
        }
        Parsed::Bad {
            line,
            reason,
            raw,
            overlong,
        } => (line, reason, raw, overlong),
        Parsed::Skip { reason, .. } => return Ok(Step(StepKind::Skip(reason.to_string()))),
    };
    let input_ref = format!("{file}:{line}");
    let mut q = Record::new(Kind::Quarantine, Ts::now(), source);
    q.reason = Some(reason.clone());
    q.input_ref = Some(input_ref.clone());
    let mut id = Sha256::new();
    id.update(line.to_be_bytes());
    id.update(&raw);
    match std::str::from_utf8(&raw) {
        Ok(t) if overlong.is_none() => q.raw = Some(t.to_string()),
        _ => q.raw_b64 = Some(base64::engine::general_purpose::STANDARD.encode(&raw)),
    }
    if let Some((len, sha)) = overlong {
        q.detail = Some(format!(
            "line truncated to {MAX_LINE} bytes; full length {len}, sha256 {}",
            hex::encode(sha)
        ));
        id.update(sha);
    }
    q.source_event_id = Some(format!("quarantine:{}", hex::encode(&id.finalize()[..16])));
    Ok(Step(StepKind::Quarantine(
        Prepared::new(q)?,
        input_ref,
        reason,
    )))
}

/// What only the writer does with a prepared record: dedupe and append it,
/// count it, refuse it under `--strict`, seal every `seal_every` records.
fn apply(
    appender: &mut Appender,
    opts: &Options,
    summary: &mut Summary,
    since_seal: &mut usize,
    hours: &mut BTreeMap<(String, i64), u64>,
    step: Step,
) -> Result<(), IngestError> {
    summary.read += 1;
    match step.0 {
        StepKind::Skip(reason) => {
            *summary.skipped.entry(reason).or_default() += 1;
            return Ok(());
        }
        StepKind::Event(prepared, src, hour) => match appender.append_prepared(prepared)? {
            appended @ (Appended::New(_) | Appended::Collision(_)) => {
                if let Appended::Collision(_) = appended {
                    summary.collisions += 1;
                }
                summary.sealed += 1;
                *hours.entry((src, hour)).or_default() += 1;
                *since_seal += 1;
            }
            Appended::Duplicate => summary.duplicates += 1,
        },
        StepKind::Quarantine(prepared, input_ref, reason) => {
            if opts.strict {
                return Err(IngestError::Strict { input_ref, reason });
            }
            match appender.append_prepared(prepared)? {
                Appended::New(_) | Appended::Collision(_) => {
                    *summary.quarantined.entry(reason.clone()).or_default() += 1;
                    if summary.quarantine_refs.len() < 1000 {
                        summary.quarantine_refs.push((input_ref, reason));
                    }
                    *since_seal += 1;
                }
                Appended::Duplicate => summary.duplicates += 1,
            }
        }
    }
    maybe_seal(appender, opts, since_seal)
}

fn maybe_seal(
    appender: &mut Appender,
    opts: &Options,
    since_seal: &mut usize,
) -> Result<(), IngestError> {
    if *since_seal >= opts.seal_every {
        // Seals run on a thread of their own while appends go on, one at a
        // time: if the last one is still running, wait for it (this bounds
        // the records held in memory when sealing falls behind).
        appender.finish_seal()?;
        appender.seal_in_background()?;
        *since_seal = 0;
    }
    Ok(())
}

/// Like [`parse_all`], but hands the prepared steps on `chunk` at a time,
/// in input order, so that a large input is never held prepared all at
/// once: the server appends each chunk as it comes (FORMAT.md §11.1).
pub fn parse_in_chunks(
    mut source: Box<dyn Source>,
    input: &mut dyn BufRead,
    name: &str,
    allowed_sources: Option<&[String]>,
    chunk: usize,
    f: &mut dyn FnMut(Vec<Step>) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    let source_name = source.name();
    let chunk = chunk.max(1);
    let mut out: Vec<Step> = Vec::with_capacity(chunk.min(1 << 16));
    source.parse(input, name, &mut |p| {
        out.push(prepare(p, name, source_name, allowed_sources)?);
        if out.len() >= chunk {
            f(std::mem::take(&mut out))?;
        }
        Ok(())
    })?;
    source.finish(&mut |p| {
        out.push(prepare(p, "(end of input)", source_name, allowed_sources)?);
        Ok(())
    })?;
    if !out.is_empty() {
        f(out)?;
    }
    Ok(())
}

impl Summary {
    /// Adds the counts of a later part of the same input.
    pub fn add(&mut self, other: Summary) {
        self.read += other.read;
        self.sealed += other.sealed;
        self.duplicates += other.duplicates;
        self.collisions += other.collisions;
        for (k, v) in other.skipped {
            *self.skipped.entry(k).or_default() += v;
        }
        for (k, v) in other.quarantined {
            *self.quarantined.entry(k).or_default() += v;
        }
        let room = 1000usize.saturating_sub(self.quarantine_refs.len());
        self.quarantine_refs
            .extend(other.quarantine_refs.into_iter().take(room));
        self.coverage_leaves += other.coverage_leaves;
        self.elapsed += other.elapsed;
    }
}

/// Parses and [`prepare`]s a whole input with a fresh `source` without
/// touching a store: every record, bad record and skip, in order, under the
/// input name it was read under (records the source holds back to the end,
/// like Postfix deliveries waiting for their TLS line, come under
/// `(end of input)`). [`Ingest::accept_prepared`] then appends them.
pub fn parse_all(
    source: Box<dyn Source>,
    input: &mut dyn BufRead,
    name: &str,
    allowed_sources: Option<&[String]>,
) -> Result<Vec<Step>, IngestError> {
    let mut all: Vec<Step> = Vec::new();
    parse_in_chunks(
        source,
        input,
        name,
        allowed_sources,
        usize::MAX,
        &mut |steps| {
            all.extend(steps);
            Ok(())
        },
    )?;
    Ok(all)
}

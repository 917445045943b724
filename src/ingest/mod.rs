//! Ingest: source adapters behind one [`Source`] trait, and the driver that
//! feeds their records into the store's [`Appender`].
//!
//! A source turns the bytes of one input (a file, an HTTP body) into
//! [`Parsed`] items: canonical records, or bad records with a reason. The
//! driver ([`Ingest`]) owns everything sources share: validation, quarantine
//! leaves for bad input (raw bytes kept, `file:line`, a reason naming fields,
//! never values), deduplication by the source's natural identity, coverage
//! leaves, `--strict`, gzip, commits, periodic seals and the summary.
//!
//! Adding a source touches one file here, its line in [`registry`], a
//! fixture directory and a test. Sources never see the store.

pub mod jsonl;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::Instant;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::model::{Kind, Record, Ts};
use crate::store::{Appended, Appender, StoreError};

/// Longest line kept whole. Longer lines are quarantined with their first
/// `MAX_LINE` bytes, their length and the SHA-256 of the whole line.
pub const MAX_LINE: usize = 1024 * 1024;

/// Errors of ingest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// Reading the input failed.
    #[error("{file}: {source}")]
    Io {
        /// Input name.
        file: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The store refused a write.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `--strict` and the input has a bad record.
    #[error("{input_ref}: {reason} (--strict: nothing of this file was sealed)")]
    Strict {
        /// `file:line`.
        input_ref: String,
        /// Why.
        reason: String,
    },
    /// No source recognised the input.
    #[error("{0}: could not recognise the format; name it with --source (one of: {1})")]
    Unrecognised(String, String),
    /// Unknown source name.
    #[error("unknown source `{0}`; expected one of: {1}")]
    UnknownSource(String, String),
}

/// One physical line of input.
pub struct Line {
    /// 1-based line number.
    pub number: u64,
    /// The bytes, without the line terminator (at most [`MAX_LINE`]).
    pub bytes: Vec<u8>,
    /// Length of the whole line when it was longer than [`MAX_LINE`].
    pub overlong: Option<(u64, [u8; 32])>,
}

impl Line {
    /// The line as UTF-8 text, if it is.
    pub fn text(&self) -> Option<&str> {
        if self.overlong.is_some() {
            return None;
        }
        std::str::from_utf8(&self.bytes).ok()
    }
}

/// What a source makes of its input.
pub enum Parsed {
    /// A record, with the line it came from (its first line, for multi-line
    /// or joined records).
    Event(Box<Record>, u64),
    /// Input that could not be understood.
    Bad {
        /// Line number.
        line: u64,
        /// Why, naming positions and fields, never values.
        reason: String,
        /// The raw bytes.
        raw: Vec<u8>,
        /// Set for overlong lines: full length and SHA-256.
        overlong: Option<(u64, [u8; 32])>,
    },
}

impl Parsed {
    /// A bad line.
    pub fn bad(line: &Line, reason: &str) -> Parsed {
        let reason = match line.overlong {
            Some((len, _)) => format!("line is {len} bytes, longer than the {MAX_LINE}-byte limit"),
            None => reason.to_string(),
        };
        Parsed::Bad {
            line: line.number,
            reason,
            raw: line.bytes.clone(),
            overlong: line.overlong,
        }
    }
}

/// The callback a source hands its output to.
pub type Emit<'a> = dyn FnMut(Parsed) -> Result<(), IngestError> + 'a;

/// A log format sealtrail can read.
pub trait Source {
    /// The name used with `--source` and in the `source` column.
    fn name(&self) -> &'static str;
    /// Whether the first bytes of an input look like this format
    /// (`--source auto`). Must be cheap and must not panic on any bytes.
    fn sniff(&self, head: &[u8]) -> bool;
    /// Parses one input, calling `emit` for every record or bad record in
    /// input order. State may carry over to the next input of the same call
    /// (rotated logs).
    fn parse(
        &mut self,
        input: &mut dyn BufRead,
        file: &str,
        emit: &mut Emit<'_>,
    ) -> Result<(), IngestError>;
    /// Called after the last input: flush what is still held.
    fn finish(&mut self, _emit: &mut Emit<'_>) -> Result<(), IngestError> {
        Ok(())
    }
}

/// Every source, in `--source auto` detection order (most specific first).
pub fn registry() -> Vec<Box<dyn Source>> {
    vec![Box::new(jsonl::Jsonl)]
}

/// Names of all sources.
pub fn source_names() -> Vec<&'static str> {
    registry().iter().map(|s| s.name()).collect()
}

/// The source called `name`.
pub fn source_by_name(name: &str) -> Result<Box<dyn Source>, IngestError> {
    registry()
        .into_iter()
        .find(|s| s.name() == name)
        .ok_or_else(|| IngestError::UnknownSource(name.to_string(), source_names().join(", ")))
}

/// Recognises the source of an input from its first bytes.
pub fn detect(head: &[u8]) -> Option<Box<dyn Source>> {
    registry().into_iter().find(|s| s.sniff(head))
}

/// Reads `input` line by line (LF or CRLF), with bounded memory per line.
pub fn read_lines(
    input: &mut dyn BufRead,
    file: &str,
    f: &mut dyn FnMut(Line) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    let io = |source| IngestError::Io {
        file: file.to_string(),
        source,
    };
    let mut number = 0u64;
    loop {
        let mut bytes = Vec::new();
        let n = (&mut *input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut bytes)
            .map_err(io)?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        let mut overlong = None;
        if bytes.last() != Some(&b'\n') && bytes.len() > MAX_LINE {
            // Too long: hash the rest of the line without keeping it.
            let mut h = Sha256::new();
            h.update(&bytes);
            let mut len = bytes.len() as u64;
            loop {
                let buf = input.fill_buf().map_err(io)?;
                if buf.is_empty() {
                    break;
                }
                match buf.iter().position(|&b| b == b'\n') {
                    Some(p) => {
                        h.update(&buf[..p]);
                        len += p as u64;
                        input.consume(p + 1);
                        break;
                    }
                    None => {
                        let l = buf.len();
                        h.update(buf);
                        len += l as u64;
                        input.consume(l);
                    }
                }
            }
            bytes.truncate(MAX_LINE);
            overlong = Some((len, h.finalize().into()));
        } else {
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
            }
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        f(Line {
            number,
            bytes,
            overlong,
        })?;
    }
}

/// A quarantine reason for a JSON error: the path of the field and the kind
/// of problem, never the offending value.
pub fn json_reason(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let inner = e.inner();
    let path = e.path().to_string();
    let msg = inner.to_string();
    let msg = msg.split(" at line ").next().unwrap_or("").to_string();
    let what = if inner.is_syntax() || inner.is_eof() {
        format!("invalid JSON at column {}", inner.column())
    } else if msg.starts_with("unknown field")
        || msg.starts_with("missing field")
        || msg.starts_with("duplicate field")
    {
        msg.split(", expected").next().unwrap_or("").to_string()
    } else if let Some((_, expected)) = msg.split_once("expected ") {
        format!("wrong type or value, expected {expected}")
    } else if msg.starts_with("unknown variant") {
        "unknown value".to_string()
    } else {
        "invalid value".to_string()
    };
    if inner.is_syntax() || inner.is_eof() || path == "." || path == "?" || path.is_empty() {
        what
    } else {
        format!("field `{path}`: {what}")
    }
}

/// The identity of a record whose format carries none: a content hash of its
/// input bytes, so a re-sent line is recognised (FORMAT.md §11).
pub fn content_id(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(&Sha256::digest(bytes)[..16]))
}

/// Options of an ingest run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Stop at the first bad record; seal nothing of that file.
    pub strict: bool,
    /// Seal every this many new records (and at the end).
    pub seal_every: usize,
    /// Append coverage leaves (per source, per hour of event time).
    pub coverage: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            strict: false,
            seal_every: 100_000,
            coverage: true,
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
    /// Records skipped as already present.
    pub duplicates: u64,
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
        for (reason, n) in &self.quarantined {
            s.push_str(&format!("  quarantined {n}: {reason}\n"));
        }
        s
    }
}

/// Opens a file for ingest, decompressing `.gz` (by name or magic bytes).
pub fn open_input(path: &Path) -> Result<Box<dyn BufRead>, IngestError> {
    let name = path.display().to_string();
    let io = |source| IngestError::Io {
        file: name.clone(),
        source,
    };
    let mut f = BufReader::with_capacity(1 << 20, File::open(path).map_err(io)?);
    let gz = f.fill_buf().map_err(io)?.starts_with(&[0x1f, 0x8b]);
    if gz {
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(f),
        )))
    } else {
        Ok(Box::new(f))
    }
}

/// Reads the first bytes of an input for format detection.
pub fn sniff_head(path: &Path) -> Result<Vec<u8>, IngestError> {
    let mut r = open_input(path)?;
    let mut head = vec![0u8; 64 * 1024];
    let mut n = 0;
    while n < head.len() {
        let k = r.read(&mut head[n..]).map_err(|source| IngestError::Io {
            file: path.display().to_string(),
            source,
        })?;
        if k == 0 {
            break;
        }
        n += k;
    }
    head.truncate(n);
    Ok(head)
}

/// A progress callback.
pub type ProgressFn<'a> = Box<dyn FnMut(&Summary) + 'a>;

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
        let mut emit = |p: Parsed| -> Result<(), IngestError> {
            accept(
                appender,
                opts,
                summary,
                since_seal,
                hours,
                name,
                source_name(summary),
                p,
            )?;
            if summary.read % 10_000 == 0
                && let Some(cb) = progress.as_mut()
            {
                cb(summary);
            }
            Ok(())
        };
        source.parse(input, name, &mut emit)
    }

    /// Checks a file in a first pass for `--strict`: the first bad record
    /// is an error and nothing is appended.
    pub fn precheck(&mut self, input: &mut dyn BufRead, name: &str) -> Result<(), IngestError> {
        let mut first_bad: Option<(u64, String)> = None;
        let mut emit = |p: Parsed| -> Result<(), IngestError> {
            if first_bad.is_some() {
                return Ok(());
            }
            match p {
                Parsed::Bad { line, reason, .. } => first_bad = Some((line, reason)),
                Parsed::Event(mut rec, line) => {
                    rec.v = crate::model::LEAF_VERSION;
                    rec.derive();
                    if let Err(e) = rec.validate() {
                        first_bad = Some((line, e.to_string()));
                    }
                }
            }
            Ok(())
        };
        let mut fresh = source_by_name(self.source.name())?;
        fresh.parse(input, name, &mut emit)?;
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
        {
            let Ingest {
                appender,
                source,
                opts,
                summary,
                since_seal,
                hours,
                ..
            } = &mut self;
            let mut emit = |p: Parsed| {
                accept(
                    appender,
                    opts,
                    summary,
                    since_seal,
                    hours,
                    "(end of input)",
                    source_name(summary),
                    p,
                )
            };
            source.finish(&mut emit)?;
        }
        if self.opts.coverage {
            self.append_coverage()?;
        }
        self.appender.commit()?;
        self.appender.seal()?;
        self.summary.elapsed = self.started.elapsed();
        Ok(self.summary)
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
                let n = hours.get(&h).copied().unwrap_or(0);
                let mut r = Record::new(Kind::Coverage, Ts(h), &source);
                r.window_start = Some(Ts(h));
                r.window_end = Some(Ts(h + HOUR));
                r.count = Some(n);
                let digest =
                    Sha256::digest(format!("{source}\n{h}\n{n}\n{}", self.summary.read).as_bytes());
                r.source_event_id = Some(format!("coverage:{h}:{}", hex::encode(&digest[..8])));
                if let Appended::New(_) = self.appender.append(r)? {
                    self.summary.coverage_leaves += 1;
                }
            }
        }
        Ok(())
    }
}

fn source_name(s: &Summary) -> String {
    s.source.clone()
}

#[allow(clippy::too_many_arguments)]
fn accept(
    appender: &mut Appender,
    opts: &Options,
    summary: &mut Summary,
    since_seal: &mut usize,
    hours: &mut BTreeMap<(String, i64), u64>,
    file: &str,
    source: String,
    p: Parsed,
) -> Result<(), IngestError> {
    summary.read += 1;
    let (rec, line, reason, raw, overlong) = match p {
        Parsed::Event(mut rec, line) => {
            rec.v = crate::model::LEAF_VERSION;
            rec.derive();
            match rec.validate() {
                Ok(()) => {
                    let src = rec.source.clone().unwrap_or_else(|| source.clone());
                    let ts = rec.ts.map(|t| t.0).unwrap_or(0);
                    match appender.append(*rec)? {
                        Appended::New(_) => {
                            summary.sealed += 1;
                            *hours.entry((src, ts.div_euclid(HOUR) * HOUR)).or_default() += 1;
                            *since_seal += 1;
                        }
                        Appended::Duplicate => summary.duplicates += 1,
                    }
                    return maybe_seal(appender, opts, since_seal);
                }
                Err(e) => {
                    let raw = rec
                        .raw
                        .clone()
                        .map(String::into_bytes)
                        .unwrap_or_else(|| rec.to_leaf());
                    (None::<Record>, line, e.to_string(), raw, None)
                }
            }
        }
        Parsed::Bad {
            line,
            reason,
            raw,
            overlong,
        } => (None, line, reason, raw, overlong),
    };
    debug_assert!(rec.is_none());
    if opts.strict {
        return Err(IngestError::Strict {
            input_ref: format!("{file}:{line}"),
            reason,
        });
    }
    let input_ref = format!("{file}:{line}");
    let mut q = Record::new(Kind::Quarantine, Ts::now(), &source);
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
    match appender.append(q)? {
        Appended::New(_) => {
            *summary.quarantined.entry(reason.clone()).or_default() += 1;
            if summary.quarantine_refs.len() < 1000 {
                summary.quarantine_refs.push((input_ref, reason));
            }
            *since_seal += 1;
        }
        Appended::Duplicate => summary.duplicates += 1,
    }
    maybe_seal(appender, opts, since_seal)
}

fn maybe_seal(
    appender: &mut Appender,
    opts: &Options,
    since_seal: &mut usize,
) -> Result<(), IngestError> {
    if *since_seal >= opts.seal_every {
        appender.commit()?;
        appender.seal()?;
        *since_seal = 0;
    }
    Ok(())
}

//! Ingest: source adapters behind one [`Source`] trait, and the driver that
//! feeds their records into the store's [`Appender`](sealtrail_store::Appender).
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
#![deny(missing_docs)]

mod disclosures;
mod driver;
mod duo;
mod entra;
mod gateway;
mod gmail;
pub mod json;
mod jsonl;
mod m365;
pub mod ocsf;
mod okta;
mod parallel;
mod postfix;
pub mod read;
mod training;

pub use driver::{
    Ingest, Options, ProgressFn, READ_TWICE_ABOVE, Step, Summary, parse_all, parse_in_chunks,
    prepare,
};
pub use read::{content_id, json_reason, open_input, read_lines, sniff_head};

use std::io::BufRead;

use sealtrail_format::model::Record;
use sealtrail_store::StoreError;

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
    /// A file read twice ([`Source::prescan`]) was shorter the second time.
    #[error(
        "{file}: changed while it was read (first pass {first} bytes, second {second}); \
         ingest it again once nothing writes to it"
    )]
    Changed {
        /// Input name.
        file: String,
        /// Bytes read by the first pass.
        first: u64,
        /// Bytes read by the second.
        second: u64,
    },
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
    /// Input that was read and understood but is not an event sealtrail
    /// keeps (e.g. a Postfix `connect from` line, an Okta profile update);
    /// counted in the summary by reason.
    Skip {
        /// Line number.
        line: u64,
        /// Why it is not an event.
        reason: &'static str,
    },
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
    /// Whether this is a continuous log whose silence means collection
    /// stopped, so the driver writes hourly coverage leaves (mail and
    /// sign-in logs), or a register of sparse records (disclosures,
    /// training), for which it does not.
    fn continuous(&self) -> bool {
        true
    }
    /// Called after the last input: flush what is still held.
    fn finish(&mut self, _emit: &mut Emit<'_>) -> Result<(), IngestError> {
        Ok(())
    }
    /// Whether a record may depend on what comes after it in the same
    /// input (Okta ties a sign-in to factors verified in its session,
    /// before or after it). Such a source holds an input whole unless a
    /// file lets it read it twice: [`Source::prescan`] first, then
    /// [`Source::parse`] over the same bytes, emitting as it reads.
    fn prescans(&self) -> bool {
        false
    }
    /// The first of two passes over one input: learn what [`Source::parse`]
    /// of the same bytes, called next, needs to emit each record as it is
    /// read. Emits nothing.
    fn prescan(&mut self, _input: &mut dyn BufRead, _file: &str) -> Result<(), IngestError> {
        Ok(())
    }
}

/// Every source, in `--source auto` detection order (most specific first).
pub fn registry() -> Vec<Box<dyn Source>> {
    vec![
        Box::new(postfix::Postfix::default()),
        Box::new(m365::M365),
        Box::new(gmail::Gmail),
        Box::new(okta::Okta::default()),
        Box::new(entra::Entra),
        Box::new(duo::Duo),
        Box::new(gateway::Gateway),
        Box::new(disclosures::Disclosures),
        Box::new(ocsf::Ocsf),
        Box::new(training::Training),
        Box::new(jsonl::Jsonl),
    ]
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

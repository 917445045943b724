//! Reading helpers every source shares: bounded line reading, JSON records
//! (NDJSON, arrays, vendor wrappers) with duplicate keys refused, CSV rows,
//! timestamps in the forms vendors write, gzip and format sniffing.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::json::Json;
use super::{IngestError, Line, MAX_LINE};

/// Reads `input` line by line (LF or CRLF), with bounded memory per line.
pub fn read_lines(
    input: &mut dyn BufRead,
    file: &str,
    f: &mut dyn FnMut(&Line) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    let io = |source| IngestError::Io {
        file: file.to_string(),
        source,
    };
    // every line is read into one buffer and lent to `f`: a source that
    // keeps a line copies it (at its exact size), one that only reads it
    // (Postfix: 1.8M lines for 450k deliveries) allocates nothing for it
    let mut line = Line {
        number: 0,
        bytes: Vec::with_capacity(4096),
        overlong: None,
    };
    loop {
        let buf = &mut line.bytes;
        buf.clear();
        let n = (&mut *input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', buf)
            .map_err(io)?;
        if n == 0 {
            return Ok(());
        }
        line.number += 1;
        line.overlong = None;
        if buf.last() != Some(&b'\n') && buf.len() > MAX_LINE {
            // Too long: hash the rest of the line without keeping it.
            let mut h = Sha256::new();
            h.update(&buf);
            let mut len = buf.len() as u64;
            loop {
                let rest = input.fill_buf().map_err(io)?;
                if rest.is_empty() {
                    break;
                }
                match rest.iter().position(|&b| b == b'\n') {
                    Some(p) => {
                        h.update(&rest[..p]);
                        len += p as u64;
                        input.consume(p + 1);
                        break;
                    }
                    None => {
                        let l = rest.len();
                        h.update(rest);
                        len += l as u64;
                        input.consume(l);
                    }
                }
            }
            line.overlong = Some((len, h.finalize().into()));
            buf.truncate(MAX_LINE);
        } else {
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        f(&line)?;
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

/// Opens a file for ingest, decompressing `.gz` (by name or magic bytes).
pub fn open_input(path: &Path) -> Result<Box<dyn BufRead>, IngestError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|source| IngestError::Io {
        file: name.clone(),
        source,
    })?;
    input_of(file, &name)
}

/// [`open_input`] of a file open already, from its current position.
pub fn input_of(file: File, name: &str) -> Result<Box<dyn BufRead>, IngestError> {
    let io = |source| IngestError::Io {
        file: name.to_string(),
        source,
    };
    let mut f = BufReader::with_capacity(1 << 20, file);
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

/// One JSON record found in the input, with the line it starts on.
pub struct JsonRecord {
    /// 1-based line where the record starts.
    pub line: u64,
    /// The record's bytes (at most [`MAX_LINE`]).
    pub bytes: Vec<u8>,
    /// Set when the record was longer than [`MAX_LINE`]: full length and SHA-256.
    pub overlong: Option<(u64, [u8; 32])>,
}

impl JsonRecord {
    /// As a [`Line`], for quarantine.
    pub fn as_line(&self) -> Line {
        Line {
            number: self.line,
            bytes: self.bytes.clone(),
            overlong: self.overlong,
        }
    }
}

/// Wrapper paths every JSON source accepts: the dotted key path, from the
/// top-level object, of the array that holds the records. Graph and Azure
/// (`value`, `records`), OData verbose (`d.results`), Duo v2 and v1
/// (`response.authlogs`, `response`), and the common paging envelopes.
/// Only the top-level object's own keys are looked at, so a record's nested
/// arrays (an Okta `target`, a Gmail `destination`) are never taken for it.
pub const WRAPPER_PATHS: &[&str] = &[
    "value",
    "records",
    "Records",
    "d.results",
    "d",
    "data.events",
    "response.authlogs",
    "response",
    "authlogs",
    "results",
    "data",
    "items",
    "events",
    "logs",
    "statements",
];

/// Reads JSON records in every shape vendors export (FORMAT.md §11.4):
///
/// - a JSON document: a top-level array of records; an object holding the
///   records in an array at one of the [`WRAPPER_PATHS`] (or `extra_paths`),
///   e.g. `{"value":[...]}`, `{"d":{"results":[...]}}`,
///   `{"stat":"OK","response":{"authlogs":[...]}}`; or one record, compact or
///   pretty-printed; several such documents may follow one another;
/// - NDJSON: one document per line, each of the shapes above (an Event Hub
///   export has a `{"records":[...]}` per line).
///
/// The shape is read from the structure, never from where lines break: a
/// document that puts one record per line is still one document. NDJSON is
/// chosen only when the first non-blank line is a complete JSON value by
/// itself (or, when the first line is broken, the second one is), so that one
/// broken line costs one quarantined record, not the rest of the file.
/// Streams: memory is bounded by [`MAX_LINE`] per record. Every record found
/// is handed to `f`, including ones that are not JSON objects (they are then
/// quarantined by the caller), so nothing read is lost.
pub fn read_json_records(
    input: &mut dyn BufRead,
    file: &str,
    extra_paths: &[&str],
    f: &mut dyn FnMut(JsonRecord) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    let io = |source| IngestError::Io {
        file: file.to_string(),
        source,
    };
    let paths: Vec<&str> = WRAPPER_PATHS.iter().chain(extra_paths).copied().collect();
    // The first two non-blank lines decide between NDJSON and a document.
    let mut head: Vec<Vec<u8>> = Vec::new();
    let mut blank_before = 0u64;
    while head.len() < 2 {
        let mut l = Vec::new();
        let n = (&mut *input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut l)
            .map_err(io)?;
        if n == 0 {
            break;
        }
        if head.is_empty() && l.iter().all(u8::is_ascii_whitespace) {
            blank_before += 1;
            continue;
        }
        head.push(l);
        if n > MAX_LINE {
            break;
        }
    }
    if head.is_empty() {
        return Ok(());
    }
    let complete = |l: &[u8]| {
        l.len() <= MAX_LINE && serde_json::from_slice::<serde::de::IgnoredAny>(l).is_ok()
    };
    let first_ok = complete(&head[0]);
    // `{`, `[`, or a first line that opens the records array of a document
    // written one record per line (`{"stat":"OK","response":{"authlogs":[`)
    let looks_like_document_start = matches!(head[0].trim_ascii().last(), Some(b'{' | b'['));
    let ndjson = first_ok
        || (!looks_like_document_start
            && head.get(1).is_some_and(|l| {
                let t = l.trim_ascii();
                t.first() == Some(&b'{') && complete(l)
            }));
    let replay: Vec<u8> = head.concat();
    let mut chained = std::io::Cursor::new(replay).chain(input);
    if ndjson {
        // the first key of each wrapper path, quoted, searched once per line
        let mut firsts: Vec<&str> = paths
            .iter()
            .map(|p| p.split('.').next().unwrap_or(p))
            .collect();
        firsts.sort_unstable();
        firsts.dedup();
        let needles: Vec<String> = firsts.iter().map(|k| format!("\"{k}\"")).collect();
        let keys: Vec<memchr::memmem::Finder<'_>> = needles
            .iter()
            .map(|n| memchr::memmem::Finder::new(n.as_bytes()))
            .collect();
        return read_lines(&mut chained, file, &mut |line| {
            if line.bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(());
            }
            let number = line.number + blank_before;
            // A line that could be a wrapper (or an array) is scanned for its
            // records; any other line is one record as it stands.
            let t = line.bytes.trim_ascii_start();
            let may_wrap = line.overlong.is_none()
                && (t.first() == Some(&b'[') || keys.iter().any(|k| contains_key(&line.bytes, k)));
            if !may_wrap {
                return f(JsonRecord {
                    line: number,
                    bytes: line.bytes.clone(),
                    overlong: line.overlong,
                });
            }
            let mut s = Scanner::new(&paths, number);
            for &b in &line.bytes {
                s.byte(b, f)?;
            }
            s.finish(f)
        });
    }
    let mut reader = std::io::BufReader::with_capacity(1 << 16, chained);
    let mut s = Scanner::new(&paths, 1 + blank_before);
    loop {
        let buf = reader.fill_buf().map_err(io)?;
        if buf.is_empty() {
            break;
        }
        let len = buf.len();
        for &b in buf {
            s.byte(b, f)?;
        }
        reader.consume(len);
    }
    s.finish(f)
}

/// Whether the quoted key `key` finds, followed by optional whitespace and
/// `:`, occurs in `bytes`.
fn contains_key(bytes: &[u8], key: &memchr::memmem::Finder<'_>) -> bool {
    let n = key.needle().len();
    key.find_iter(bytes)
        .any(|i| bytes[i + n..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b':'))
}

/// A record being collected, capped at [`MAX_LINE`] bytes (the rest hashed).
struct Collect {
    rec: JsonRecord,
    hasher: Option<(Sha256, u64)>,
}

impl Collect {
    fn new(line: u64) -> Collect {
        Collect {
            rec: JsonRecord {
                line,
                bytes: Vec::new(),
                overlong: None,
            },
            hasher: None,
        }
    }
    fn push(&mut self, b: u8) {
        if let Some((h, n)) = self.hasher.as_mut() {
            h.update([b]);
            *n += 1;
        } else if self.rec.bytes.len() < MAX_LINE {
            self.rec.bytes.push(b);
        } else {
            let mut h = Sha256::new();
            h.update(&self.rec.bytes);
            h.update([b]);
            self.hasher = Some((h, self.rec.bytes.len() as u64 + 1));
        }
    }
    fn done(mut self) -> JsonRecord {
        if let Some((h, n)) = self.hasher {
            self.rec.overlong = Some((n, h.finalize().into()));
        }
        let trimmed = self.rec.bytes.trim_ascii();
        if trimmed.len() != self.rec.bytes.len() && self.rec.overlong.is_none() {
            self.rec.bytes = trimmed.to_vec();
        }
        self.rec
    }
}

/// One level of nesting the scanner is inside.
struct Frame {
    object: bool,
    /// The key whose value is being read (objects).
    key: Vec<u8>,
    /// An object waiting for its next key.
    want_key: bool,
    /// An array whose elements are records.
    records: bool,
}

/// A byte-at-a-time structural JSON scanner that finds records: top-level
/// values, or the elements of a wrapper array. It does not validate; each
/// record's bytes are parsed strictly afterwards.
struct Scanner<'p> {
    paths: &'p [&'p str],
    frames: Vec<Frame>,
    in_str: bool,
    esc: bool,
    key: Option<Vec<u8>>,
    line: u64,
    /// The top-level object, a record unless it turns out to be a wrapper.
    top: Option<Collect>,
    /// A record inside a records array, and the depth of that array.
    rec: Option<(Collect, usize)>,
    /// Bytes at top level that are no JSON value, up to the end of the line.
    junk: Option<Collect>,
}

impl<'p> Scanner<'p> {
    fn new(paths: &'p [&'p str], line: u64) -> Scanner<'p> {
        Scanner {
            paths,
            frames: Vec::new(),
            in_str: false,
            esc: false,
            key: None,
            line,
            top: None,
            rec: None,
            junk: None,
        }
    }

    fn path_is_wrapper(&self) -> bool {
        if self.top.is_none() || !self.frames.iter().all(|f| f.object) {
            return false;
        }
        let path: Vec<&[u8]> = self.frames.iter().map(|f| f.key.as_slice()).collect();
        self.paths.iter().any(|p| {
            let parts: Vec<&[u8]> = p.split('.').map(str::as_bytes).collect();
            parts == path
        })
    }

    fn push(&mut self, b: u8) {
        if let Some(t) = self.top.as_mut() {
            t.push(b);
        }
        if let Some((r, _)) = self.rec.as_mut() {
            r.push(b);
        }
    }

    fn byte(
        &mut self,
        b: u8,
        f: &mut dyn FnMut(JsonRecord) -> Result<(), IngestError>,
    ) -> Result<(), IngestError> {
        if let Some(j) = self.junk.as_mut() {
            if b == b'\n' {
                let j = self.junk.take().map(Collect::done);
                self.line += 1;
                if let Some(j) = j {
                    f(j)?;
                }
            } else {
                j.push(b);
            }
            return Ok(());
        }
        if self.in_str {
            self.push(b);
            if b == b'\n' {
                self.line += 1;
            }
            if self.esc {
                self.esc = false;
            } else if b == b'\\' {
                self.esc = true;
            } else if b == b'"' {
                self.in_str = false;
                if let Some(k) = self.key.take()
                    && let Some(fr) = self.frames.last_mut()
                {
                    fr.key = k;
                    fr.want_key = false;
                }
            } else if let Some(k) = self.key.as_mut()
                && k.len() < 256
            {
                k.push(b);
            }
            return Ok(());
        }
        let depth = self.frames.len();
        let in_records = self.frames.last().is_some_and(|fr| fr.records);
        // A scalar element of a records array ends at the next `,` or `]`.
        if let Some((_, d)) = &self.rec
            && *d == depth
            && matches!(b, b',' | b']')
            && let Some((r, _)) = self.rec.take()
        {
            f(r.done())?;
        }
        let starts_value = !b.is_ascii_whitespace() && !matches!(b, b',' | b':' | b'}' | b']');
        if in_records && self.rec.is_none() && starts_value {
            self.rec = Some((Collect::new(self.line), depth));
        }
        if depth == 0 && starts_value && b != b'{' && b != b'[' {
            let mut j = Collect::new(self.line);
            j.push(b);
            self.junk = Some(j);
            return Ok(());
        }
        if depth == 0 && b == b'{' {
            self.top = Some(Collect::new(self.line));
        }
        self.push(b);
        match b {
            b'\n' => self.line += 1,
            b'"' => {
                self.in_str = true;
                if self
                    .frames
                    .last()
                    .is_some_and(|fr| fr.object && fr.want_key)
                {
                    self.key = Some(Vec::new());
                }
            }
            b'{' => self.frames.push(Frame {
                object: true,
                key: Vec::new(),
                want_key: true,
                records: false,
            }),
            b'[' => {
                let records = depth == 0 || self.path_is_wrapper();
                if records && depth > 0 {
                    // the top-level object is a wrapper, not a record
                    self.top = None;
                }
                self.frames.push(Frame {
                    object: false,
                    key: Vec::new(),
                    want_key: false,
                    records,
                });
            }
            b'}' | b']' => {
                self.frames.pop();
                let depth = self.frames.len();
                if let Some((_, d)) = &self.rec
                    && *d == depth
                    && let Some((r, _)) = self.rec.take()
                {
                    f(r.done())?;
                }
                if depth == 0
                    && let Some(t) = self.top.take()
                {
                    f(t.done())?;
                }
            }
            b',' => {
                if let Some(fr) = self.frames.last_mut()
                    && fr.object
                {
                    fr.want_key = true;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// End of input: what is still open is handed on as it is (and will be
    /// quarantined as incomplete JSON).
    fn finish(
        mut self,
        f: &mut dyn FnMut(JsonRecord) -> Result<(), IngestError>,
    ) -> Result<(), IngestError> {
        if let Some(j) = self.junk.take() {
            f(j.done())?;
        }
        if let Some((r, _)) = self.rec.take() {
            f(r.done())?;
        } else if let Some(t) = self.top.take() {
            f(t.done())?;
        }
        Ok(())
    }
}

/// A CSV row, or why it is malformed with its raw bytes.
pub type CsvRow = Result<csv::StringRecord, (String, Vec<u8>)>;

/// Reads CSV with a header row: a UTF-8 BOM and a PowerShell `#TYPE` line
/// are skipped. Calls `f(line, header, row)`; a malformed row is passed as
/// `Err(reason)` with its raw bytes.
pub fn read_csv_rows(
    input: &mut dyn BufRead,
    file: &str,
    f: &mut dyn FnMut(u64, &csv::StringRecord, CsvRow) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    let io = |source| IngestError::Io {
        file: file.to_string(),
        source,
    };
    let mut skipped_lines = 0u64;
    // BOM and "#TYPE System.Management.Automation.PSCustomObject"
    {
        let buf = input.fill_buf().map_err(io)?;
        if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
            input.consume(3);
        }
        let buf = input.fill_buf().map_err(io)?;
        if buf.starts_with(b"#TYPE") {
            let mut junk = Vec::new();
            input.read_until(b'\n', &mut junk).map_err(io)?;
            skipped_lines = 1;
        }
    }
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(input);
    let header = match rdr.headers() {
        Ok(h) => h.clone(),
        Err(_) => {
            // without a header no row can be read: one quarantine record says so
            return f(1 + skipped_lines, &csv::StringRecord::new(), Err(("the CSV header row could not be read (not UTF-8 or malformed); is this the right --source?".into(), Vec::new())));
        }
    };
    let header: csv::StringRecord = header
        .iter()
        .map(|h| h.trim().trim_matches('\u{feff}'))
        .collect();
    let mut raw = csv::ByteRecord::new();
    loop {
        let line = rdr.position().line() + skipped_lines;
        match rdr.read_byte_record(&mut raw) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = raw.position().map(|p| p.line()).unwrap_or(line) + skipped_lines;
                let bytes = raw.iter().collect::<Vec<_>>().join(&b","[..]);
                if raw.len() != header.len() {
                    f(
                        line,
                        &header,
                        Err((
                            format!(
                                "row has {} fields, the header has {}",
                                raw.len(),
                                header.len()
                            ),
                            bytes,
                        )),
                    )?;
                    continue;
                }
                match csv::StringRecord::from_byte_record(raw.clone()) {
                    Ok(r) => f(line, &header, Ok(r))?,
                    Err(_) => f(line, &header, Err(("row is not valid UTF-8".into(), bytes)))?,
                }
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(line) + skipped_lines;
                f(line, &header, Err(("malformed CSV row".into(), Vec::new())))?;
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    return Err(IngestError::Io {
                        file: file.to_string(),
                        source: std::io::Error::other("CSV read failed"),
                    });
                }
            }
        }
    }
}

/// The trimmed, non-empty value of the column named `name` (ASCII
/// case-insensitive) in a CSV row.
pub fn csv_col<'a>(
    header: &csv::StringRecord,
    row: &'a csv::StringRecord,
    name: &str,
) -> Option<&'a str> {
    let i = header.iter().position(|h| h.eq_ignore_ascii_case(name))?;
    row.get(i).map(str::trim).filter(|s| !s.is_empty())
}

/// A CSV row as a JSON object keyed by header, for `raw`; `drop` columns
/// (subjects) are replaced by the SHA-256 of their value.
pub fn csv_raw(header: &csv::StringRecord, row: &csv::StringRecord, hash: &[&str]) -> String {
    let mut m = serde_json::Map::new();
    for (h, v) in header.iter().zip(row.iter()) {
        if hash.iter().any(|d| d.eq_ignore_ascii_case(h)) {
            if !v.is_empty() {
                m.insert(
                    format!("{h}_sha256"),
                    hex::encode(Sha256::digest(v.as_bytes())).into(),
                );
            }
        } else {
            m.insert(h.to_string(), v.into());
        }
    }
    serde_json::Value::Object(m).to_string()
}

/// Parses the timestamp forms vendors write: RFC 3339 with an offset; ISO
/// without an offset (taken as UTC, as Microsoft and Google exports are);
/// `YYYY-MM-DD HH:MM:SS[.f]`; US `M/D/YYYY h:mm:ss AM` (PowerShell
/// `Export-Csv` in en-US). Returns `None` for anything else.
pub fn parse_time(s: &str) -> Option<sealtrail_format::model::Ts> {
    use chrono::{NaiveDate, NaiveDateTime};
    let s = s.trim();
    if let Some(t) = sealtrail_format::model::Ts::parse_rfc3339(s) {
        return Some(t);
    }
    if let Some(t) = sealtrail_format::model::Ts::parse_rfc3339(&s.replacen(' ', "T", 1)) {
        return Some(t);
    }
    // offsets without a colon: journald `short-iso` (`+0000`), .NET
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(dt) = chrono::DateTime::parse_from_str(s, fmt) {
            return Some(sealtrail_format::model::Ts(dt.timestamp_micros()));
        }
    }
    // OData verbose JSON: `/Date(1690000000000)/`, `/Date(1690000000000+0000)/`
    if let Some(ms) = s
        .strip_prefix("/Date(")
        .and_then(|r| r.strip_suffix(")/"))
        .map(|r| r.split(['+', '-']).next().unwrap_or(r))
        .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|r| r.parse::<i64>().ok())
    {
        return ms.checked_mul(1000).map(sealtrail_format::model::Ts);
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%m/%d/%Y %I:%M:%S %p",
        "%m/%d/%Y %H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(sealtrail_format::model::Ts(dt.and_utc().timestamp_micros()));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|dt| sealtrail_format::model::Ts(dt.and_utc().timestamp_micros()));
    }
    None
}

/// A string field of a JSON object by path (`a.b.c`), if present and a string.
pub fn jstr<'v>(v: &'v Json<'_>, path: &str) -> Option<&'v str> {
    jget(v, path)?.as_str().filter(|s| !s.is_empty())
}

/// Any field of a JSON object by path.
pub fn jget<'v, 'a>(v: &'v Json<'a>, path: &str) -> Option<&'v Json<'a>> {
    path.split('.')
        .try_fold(v, |v, k| v.get(k))
        .filter(|v| !v.is_null())
}

/// What a JSON-record source makes of one record.
pub enum Mapped {
    /// Zero or more canonical records (e.g. one per recipient).
    Records(Vec<sealtrail_format::model::Record>),
    /// Understood, but not an event sealtrail keeps.
    Skip(&'static str),
    /// Not understood: quarantined with this reason (fields, never values).
    Bad(String),
}

/// Records handed to a parsing worker at a time.
const JSON_BATCH: usize = 256;

/// Reads records in any shape [`read_json_records`] accepts (in order, on
/// the calling thread), maps each with `map` on every core
/// ([`ordered_map`](crate::parallel::ordered_map)), and hands the results
/// to `out` in input order. What was read before an I/O error is handed on
/// before the error is returned.
pub fn map_json_records<T: Send>(
    input: &mut dyn BufRead,
    file: &str,
    extra_paths: &[&str],
    map: &(dyn Fn(JsonRecord) -> T + Sync),
    out: &mut dyn FnMut(T) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    crate::parallel::ordered_map(
        crate::parallel::workers(),
        &mut |put| {
            let mut batch = Vec::with_capacity(JSON_BATCH);
            let read = read_json_records(input, file, extra_paths, &mut |rec| {
                batch.push(rec);
                if batch.len() >= JSON_BATCH {
                    put(std::mem::replace(
                        &mut batch,
                        Vec::with_capacity(JSON_BATCH),
                    ))?;
                }
                Ok(())
            });
            if !batch.is_empty() {
                put(batch)?;
            }
            read
        },
        &|batch: Vec<JsonRecord>| batch.into_iter().map(map).collect::<Vec<T>>(),
        &mut |results| results.into_iter().try_for_each(&mut *out),
    )
}

/// What one JSON record parses to: a bad record (overlong, not strict JSON,
/// not an object, or what `map` refuses), a skip, or `map`'s records, each
/// given the record's original bytes as `raw` where `map` left none.
pub fn parse_json_record(
    rec: JsonRecord,
    map: &mut dyn FnMut(&Json<'_>) -> Mapped,
) -> Vec<super::Parsed> {
    use super::Parsed;
    if rec.overlong.is_some() {
        return vec![Parsed::bad(&rec.as_line(), "")];
    }
    let mapped = match Json::parse(&rec.bytes) {
        Ok(v) if v.is_object() => map(&v),
        Ok(_) => return vec![Parsed::bad(&rec.as_line(), "record is not a JSON object")],
        Err(reason) => return vec![Parsed::bad(&rec.as_line(), &reason)],
    };
    match mapped {
        Mapped::Records(rs) => {
            // the record's bytes become the `raw` of the last record that
            // needs one, without a copy (strict JSON is UTF-8; checked
            // again here all the same), and a copy of them every other's
            let line = rec.line;
            let last_raw = rs.iter().rposition(|r| r.raw.is_none());
            let mut raw = Some(
                String::from_utf8(rec.bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            );
            rs.into_iter()
                .enumerate()
                .map(|(i, mut r)| {
                    if r.raw.is_none() {
                        r.raw = if Some(i) == last_raw {
                            raw.take()
                        } else {
                            raw.clone()
                        };
                    }
                    Parsed::Event(Box::new(r), line)
                })
                .collect()
        }
        Mapped::Skip(reason) => vec![Parsed::Skip {
            line: rec.line,
            reason,
        }],
        Mapped::Bad(reason) => vec![Parsed::bad(&rec.as_line(), &reason)],
    }
}

/// Drives a JSON-record source: [`parse_json_record`] for every record, on
/// every core ([`map_json_records`]), emitted in input order.
pub fn parse_json_source(
    input: &mut dyn BufRead,
    file: &str,
    extra_paths: &[&str],
    emit: &mut super::Emit<'_>,
    map: &(dyn Fn(&Json<'_>) -> Mapped + Sync),
) -> Result<(), IngestError> {
    map_json_records(
        input,
        file,
        extra_paths,
        &|rec| parse_json_record(rec, &mut |v| map(v)),
        &mut |parsed| parsed.into_iter().try_for_each(&mut *emit),
    )
}

/// Drives a CSV source: malformed rows are quarantined with their reason;
/// every other row is mapped (`map` receives the header, the row and the
/// row's `raw` JSON, with `hash_cols` replaced by their SHA-256). Records the
/// mapper leaves without `raw` get the row's.
pub fn parse_csv_source(
    input: &mut dyn BufRead,
    file: &str,
    hash_cols: &[&str],
    emit: &mut super::Emit<'_>,
    map: &mut dyn FnMut(&csv::StringRecord, &csv::StringRecord, &str) -> Mapped,
) -> Result<(), IngestError> {
    use super::Parsed;
    read_csv_rows(input, file, &mut |line, header, row| {
        let row = match row {
            Ok(r) => r,
            Err((reason, raw)) => {
                return emit(Parsed::Bad {
                    line,
                    reason,
                    raw,
                    overlong: None,
                });
            }
        };
        let raw = csv_raw(header, &row, hash_cols);
        match map(header, &row, &raw) {
            Mapped::Records(rs) => {
                for mut r in rs {
                    if r.raw.is_none() {
                        r.raw = Some(raw.clone());
                    }
                    emit(Parsed::Event(Box::new(r), line))?;
                }
                Ok(())
            }
            Mapped::Skip(reason) => emit(Parsed::Skip { line, reason }),
            Mapped::Bad(reason) => emit(Parsed::Bad {
                line,
                reason,
                raw: raw.into_bytes(),
                overlong: None,
            }),
        }
    })
}

/// The JSON value with the strings at `paths` replaced by their SHA-256
/// (minimum necessary: subjects are never stored, FORMAT.md §2.4).
pub fn redact_json(v: &Json<'_>, paths: &[&str]) -> String {
    let mut v = v.to_value();
    for p in paths {
        let (parent, last) = p.rsplit_once('.').unwrap_or(("", p));
        let pointer = if parent.is_empty() {
            String::new()
        } else {
            format!("/{}", parent.replace('.', "/"))
        };
        if let Some(obj) = v.pointer_mut(&pointer).and_then(|o| o.as_object_mut())
            && let Some(serde_json::Value::String(s)) = obj.remove(last)
        {
            obj.insert(
                format!("{last}_sha256"),
                hex::encode(Sha256::digest(s.as_bytes())).into(),
            );
        }
    }
    v.to_string()
}

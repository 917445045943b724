//! `jsonl`: canonical events, one JSON object per line, with the fields of
//! the event model (FORMAT.md §2) minus the store's own columns.
//!
//! Unknown and duplicate keys are refused (so a line can only mean one
//! thing); `source` defaults to `jsonl`; the line itself is kept as `raw`.

use super::{Emit, IngestError, Line, Parsed, Source, content_id, json_reason, read_lines};
use sealtrail_format::model::Record;

/// The canonical JSON-lines source.
#[derive(Default)]
pub struct Jsonl;

impl Source for Jsonl {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn sniff(&self, head: &[u8]) -> bool {
        let first = head
            .split(|&b| b == b'\n')
            .find(|l| !l.iter().all(u8::is_ascii_whitespace));
        first.is_some_and(|l| {
            let s = String::from_utf8_lossy(l);
            let s = s.trim_start();
            s.starts_with('{') && s.contains("\"kind\"") && s.contains("\"ts\"")
        })
    }

    fn parse(
        &mut self,
        input: &mut dyn std::io::BufRead,
        file: &str,
        emit: &mut Emit<'_>,
    ) -> Result<(), IngestError> {
        read_lines(input, file, &mut |line: &Line| {
            let Some(text) = line.text() else {
                return emit(Parsed::bad(line, "line is not valid UTF-8"));
            };
            if text.trim().is_empty() {
                return Ok(());
            }
            let mut de = serde_json::Deserializer::from_str(text);
            // read plainly; only a line that fails is read again with the
            // failing field's path tracked, for the reason (the tracking is
            // transparent, so both readings agree, but costs every line)
            let mut rec = match <Record as serde::Deserialize>::deserialize(&mut de) {
                Ok(r) => r,
                Err(_) => {
                    de = serde_json::Deserializer::from_str(text);
                    match serde_path_to_error::deserialize::<_, Record>(&mut de) {
                        Ok(r) => r,
                        Err(e) => return emit(Parsed::bad(line, &json_reason(&e))),
                    }
                }
            };
            if let Err(e) = de.end() {
                return emit(Parsed::bad(
                    line,
                    &format!(
                        "invalid JSON at column {}: trailing characters after the object",
                        e.column()
                    ),
                ));
            }
            rec.v = sealtrail_format::model::LEAF_VERSION;
            if rec.source.is_none() {
                rec.source = Some("jsonl".into());
            }
            if rec.source_event_id.is_none() {
                rec.source_event_id = Some(content_id(text.as_bytes()));
            }
            rec.ingested_at = None;
            rec.raw = Some(text.to_string());
            rec.raw_b64 = None;
            emit(Parsed::Event(Box::new(rec), line.number))
        })
    }
}

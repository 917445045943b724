//! `disclosures`: CSV exported from a release-of-information system or EHR,
//! columns `date, patient_id, recipient_name, recipient_address,
//! description, purpose, basis[, message_id][, suspended_until][, disclosure_id]`.
//!
//! `basis` must be one of the 20 values of FORMAT.md §2.3 (an unknown one is
//! quarantined with a reason listing them); `accountable` is derived from
//! it. Identity: `disclosure_id` when the export has one, else a content
//! hash of the row.

use super::read::{csv_col as col, csv_raw, parse_time, read_csv_rows};
use super::{Emit, IngestError, Parsed, Source, content_id};
use crate::model::{Date, Kind, Record};

/// The disclosure-log source.
#[derive(Default)]
pub struct Disclosures;

impl Source for Disclosures {
    fn name(&self) -> &'static str {
        "disclosures"
    }
    fn continuous(&self) -> bool {
        false
    }
    fn sniff(&self, head: &[u8]) -> bool {
        let t = String::from_utf8_lossy(head);
        let first = t.lines().next().unwrap_or("");
        first.contains("patient_id") && first.contains("recipient_name") && first.contains("basis")
    }
    fn parse(
        &mut self,
        input: &mut dyn std::io::BufRead,
        file: &str,
        emit: &mut Emit<'_>,
    ) -> Result<(), IngestError> {
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
            let raw = csv_raw(header, &row, &[]);
            let bad = |reason: &str| Parsed::Bad {
                line,
                reason: reason.to_string(),
                raw: raw.clone().into_bytes(),
                overlong: None,
            };
            let Some(ts) = col(header, &row, "date").and_then(parse_time) else {
                return emit(bad(
                    "missing or unreadable column `date` (expected YYYY-MM-DD or an ISO 8601 time)",
                ));
            };
            let suspended_until = match col(header, &row, "suspended_until") {
                None => None,
                Some(s) => match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                    Ok(d) => Some(Date(d)),
                    Err(_) => {
                        return emit(bad("column `suspended_until` is not a date YYYY-MM-DD"));
                    }
                },
            };
            let mut r = Record::new(Kind::Disclosure, ts, "disclosures");
            r.source_event_id = Some(
                col(header, &row, "disclosure_id")
                    .map(str::to_string)
                    .unwrap_or_else(|| content_id(raw.as_bytes())),
            );
            r.patient_id = col(header, &row, "patient_id").map(str::to_string);
            r.recipient_name = col(header, &row, "recipient_name").map(str::to_string);
            r.recipient_address = col(header, &row, "recipient_address").map(str::to_string);
            r.description = col(header, &row, "description").map(str::to_string);
            r.purpose = col(header, &row, "purpose").map(str::to_string);
            r.basis = col(header, &row, "basis").map(|b| b.to_ascii_lowercase());
            r.message_id = col(header, &row, "message_id").map(str::to_string);
            r.suspended_until = suspended_until;
            r.detail = col(header, &row, "suspension_type").map(|s| format!("suspension:{s}"));
            r.raw = Some(raw.clone());
            emit(Parsed::Event(Box::new(r), line))
        })
    }
}

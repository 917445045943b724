//! `disclosures`: CSV exported from a release-of-information system or EHR,
//! columns `date, patient_id, recipient_name, recipient_address,
//! description, purpose, basis[, message_id][, suspended_until][, disclosure_id]`.
//!
//! `basis` must be one of the 20 values of FORMAT.md §2.3 (an unknown one is
//! quarantined with a reason listing them); `accountable` is derived from
//! it. Identity: `disclosure_id` when the export has one, else a content
//! hash of the row.

use super::read::{Mapped, csv_col as col, parse_csv_source, parse_time};
use super::{Emit, IngestError, Source, content_id};
use sealtrail_format::model::{Date, Kind, Record};

fn map_row(header: &csv::StringRecord, row: &csv::StringRecord, raw: &str) -> Mapped {
    let Some(ts) = col(header, row, "date").and_then(parse_time) else {
        return Mapped::Bad(
            "missing or unreadable column `date` (expected YYYY-MM-DD or an ISO 8601 time)".into(),
        );
    };
    let suspended_until = match col(header, row, "suspended_until") {
        None => None,
        Some(s) => match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) => Some(Date(d)),
            Err(_) => {
                return Mapped::Bad("column `suspended_until` is not a date YYYY-MM-DD".into());
            }
        },
    };
    let text = |name: &str| col(header, row, name).map(str::to_string);
    let mut r = Record::new(Kind::Disclosure, ts, "disclosures");
    r.source_event_id = Some(text("disclosure_id").unwrap_or_else(|| content_id(raw.as_bytes())));
    r.patient_id = text("patient_id");
    r.recipient_name = text("recipient_name");
    r.recipient_address = text("recipient_address");
    r.description = text("description");
    r.purpose = text("purpose");
    r.basis = col(header, row, "basis").map(|b| b.to_ascii_lowercase());
    r.message_id = text("message_id");
    r.suspended_until = suspended_until;
    r.detail = col(header, row, "suspension_type").map(|s| format!("suspension:{s}"));
    Mapped::Records(vec![r])
}

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
        parse_csv_source(input, file, &[], emit, &mut map_row)
    }
}

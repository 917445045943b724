//! `m365`: Exchange Online message trace, in every shape it is exported:
//!
//! - CSV: `Get-MessageTrace` / `Get-MessageTraceV2 | Export-Csv` (columns
//!   `Received`, `SenderAddress`, `RecipientAddress`, `Status`, `MessageId`,
//!   `MessageTraceId`, ...) and the extended/historical report
//!   (`origin_timestamp_utc`, `sender_address`, `recipient_status` =
//!   `addr##events;addr##events`, `message_id`, `network_message_id`,
//!   `directionality`, ...);
//! - JSON: the Reporting Web Service (OData `{"d":{"results":[...]}}` or
//!   `{"value":[...]}`, `/Date(ms)/` times), `ConvertTo-Json` output of the
//!   cmdlets (an array or one object), and Graph's `exchangeMessageTrace`
//!   (`receivedDateTime`, `senderAddress`, `recipientAddress`, `status`).
//!
//! Field names are matched without regard to case. A message trace carries
//! no TLS information, so `encryption = unknown`, never guessed (the pack says
//! so as a finding on log collection). `direction` comes from
//! `directionality` / `Direction` where the export has it, else `unknown`.
//! Status: Delivered → delivered, Failed → bounced, Pending / GettingStatus →
//! deferred, FilteredAsSpam / Quarantined → rejected; Expanded (a
//! distribution list; each member has its own row), Resolved (redirected to
//! another address, which has its own row) and None (no delivery
//! status: rejected or redirected, Microsoft's documentation says) are
//! counted as not events. Identity: `MessageTraceId` (or
//! `network_message_id`, Graph `id`) + recipient. Redaction: subjects are
//! replaced by their SHA-256 in `raw`.

use std::borrow::Cow;
use std::collections::HashMap;

use super::json::Json;
use super::read::{Mapped, parse_csv_source, parse_json_source, parse_time, redact_json};
use super::{Emit, IngestError, Source};
use sealtrail_format::model::{Kind, Record};

/// The Microsoft 365 message-trace source.
#[derive(Default)]
pub struct M365;

/// Subject fields, never stored.
const SUBJECTS: &[&str] = &["Subject", "subject", "message_subject", "MessageSubject"];

enum Status {
    Delivery(&'static str),
    NotEvent(&'static str),
    Unknown,
}

fn status_of(s: &str) -> Status {
    match s.to_ascii_lowercase().as_str() {
        "delivered" => Status::Delivery("delivered"),
        "resolved" => Status::NotEvent(
            "message-trace row with status Resolved (redirected to another address, which has its own row)",
        ),
        "failed" => Status::Delivery("bounced"),
        "pending" | "gettingstatus" | "deferred" => Status::Delivery("deferred"),
        "filteredasspam" | "quarantined" => Status::Delivery("rejected"),
        "expanded" => Status::NotEvent("distribution-list expansion (each member has its own row)"),
        "none" => Status::NotEvent(
            "message-trace row with status None (no delivery status: rejected or redirected)",
        ),
        _ => Status::Unknown,
    }
}

/// The non-empty string (or number) of the first of `names` the record
/// has, keys compared without regard to case.
fn field(v: &Json<'_>, names: &[&str]) -> Option<String> {
    // in key order, as a sorted map holds them: which of two keys that
    // differ only in case is read does not depend on the input's order
    let members = v.members_by_key()?;
    for n in names {
        if let Some((_, x)) = members.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)) {
            match x {
                Json::String(s) if !s.trim().is_empty() => {
                    return Some(s.trim().to_string());
                }
                Json::Number(n) => return Some(n.to_string()),
                _ => {}
            }
        }
    }
    None
}

fn direction_of(d: &str) -> &'static str {
    match d.to_ascii_lowercase().as_str() {
        "1" | "inbound" | "incoming" => "inbound",
        "2" | "outbound" | "originating" | "outgoing" => "outbound",
        "3" | "intraorg" | "intra-org" | "internal" => "internal",
        _ => "unknown",
    }
}

/// One message-trace record (a CSV row made an object, or a JSON record).
fn map_trace(v: &Json<'_>, raw: Option<String>) -> Mapped {
    let extended = field(v, &["recipient_status"]).is_some();
    let (ts, sender, msgid, trace, rcpts): (_, _, _, _, Vec<(String, &str)>) = if extended {
        let Some(ts) = field(v, &["origin_timestamp_utc"])
            .as_deref()
            .and_then(parse_time)
        else {
            return Mapped::Bad("missing or unreadable field `origin_timestamp_utc`".into());
        };
        let Some(rs) = field(v, &["recipient_status"]) else {
            return Mapped::Bad("missing field `recipient_status`".into());
        };
        let mut list = Vec::new();
        for part in rs.split(';').filter(|p| !p.trim().is_empty()) {
            let (addr, events) = part.split_once("##").unwrap_or((part, ""));
            let ev = events.to_ascii_lowercase();
            let st = if ev.contains("fail") {
                "bounced"
            } else if ev.contains("send") || ev.contains("deliver") {
                "delivered"
            } else {
                "deferred"
            };
            list.push((addr.trim().to_string(), st));
        }
        (
            ts,
            field(v, &["sender_address"]),
            field(v, &["message_id"]),
            field(v, &["network_message_id"]),
            list,
        )
    } else {
        let Some(ts) = field(v, &["Received", "receivedDateTime", "Date"])
            .as_deref()
            .and_then(parse_time)
        else {
            return Mapped::Bad("missing or unreadable field `Received`".into());
        };
        let Some(rcpt) = field(v, &["RecipientAddress"]) else {
            return Mapped::Bad("missing field `RecipientAddress`".into());
        };
        let Some(st) = field(v, &["Status", "DeliveryStatus"]) else {
            return Mapped::Bad("missing field `Status`".into());
        };
        let st = match status_of(&st) {
            Status::Delivery(s) => s,
            Status::NotEvent(reason) => return Mapped::Skip(reason),
            Status::Unknown => {
                return Mapped::Bad("field `Status` has an unknown value; expected Delivered, Failed, Pending, GettingStatus, Expanded, FilteredAsSpam, Quarantined or None".into());
            }
        };
        (
            ts,
            field(v, &["SenderAddress"]),
            field(v, &["MessageId", "InternetMessageId"]),
            field(v, &["MessageTraceId", "id"]),
            vec![(rcpt, st)],
        )
    };
    let Some(trace) = trace else {
        return Mapped::Bad("missing field `MessageTraceId` / `network_message_id`".into());
    };
    let direction = field(v, &["directionality", "Direction"])
        .map(|d| direction_of(&d))
        .unwrap_or("unknown");
    let mut out = Vec::new();
    for (rcpt, st) in rcpts {
        let mut r = Record::new(Kind::Delivery, ts, "m365");
        r.source_event_id = Some(format!("{trace}:{rcpt}"));
        r.message_id = msgid.clone();
        r.sender = sender.clone();
        r.recipient = Some(rcpt);
        r.status = Some(st.into());
        r.encryption = Some("unknown".into());
        r.direction = Some(direction.into());
        r.relay = field(v, &["ToIP"]);
        r.raw = raw.clone();
        out.push(r);
    }
    Mapped::Records(out)
}

impl Source for M365 {
    fn name(&self) -> &'static str {
        "m365"
    }
    fn sniff(&self, head: &[u8]) -> bool {
        let t = String::from_utf8_lossy(head);
        let t = t.trim_start_matches('\u{feff}').trim_start();
        if t.starts_with('{') || t.starts_with('[') {
            let l = t.to_ascii_lowercase();
            return l.contains("\"recipientaddress\"")
                && (l.contains("\"messagetraceid\"") || l.contains("\"receiveddatetime\""));
        }
        let first = t.lines().find(|l| !l.starts_with("#TYPE")).unwrap_or("");
        (first.contains("MessageTraceId") && first.contains("RecipientAddress"))
            || (first.contains("recipient_status") && first.contains("origin_timestamp_utc"))
    }
    fn parse(
        &mut self,
        input: &mut dyn std::io::BufRead,
        file: &str,
        emit: &mut Emit<'_>,
    ) -> Result<(), IngestError> {
        // JSON (the API, OData, ConvertTo-Json) or CSV, by the first byte
        let json = {
            let buf = input.fill_buf().map_err(|source| IngestError::Io {
                file: file.to_string(),
                source,
            })?;
            let buf = buf.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(buf);
            matches!(buf.trim_ascii_start().first(), Some(b'{' | b'['))
        };
        if json {
            return parse_json_source(input, file, &[], emit, &|v| {
                map_trace(v, Some(redact_json(v, SUBJECTS)))
            });
        }
        parse_csv_source(input, file, SUBJECTS, emit, &mut |header, row, _raw| {
            // the row as an object keyed by header; a header repeated
            // names its last column, as a map built from the row would
            // (found by a hash map, so a header of many columns stays linear)
            let mut obj: Vec<(Cow<'_, str>, Json<'_>)> = Vec::with_capacity(header.len());
            let mut at: HashMap<&str, usize> = HashMap::with_capacity(header.len());
            for (h, v) in header.iter().zip(row.iter()) {
                let v = Json::String(Cow::Borrowed(v));
                match at.get(h).and_then(|&i| obj.get_mut(i)) {
                    Some(member) => member.1 = v,
                    None => {
                        at.insert(h, obj.len());
                        obj.push((Cow::Borrowed(h), v));
                    }
                }
            }
            map_trace(&Json::Object(obj), None)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Parsed;

    /// The statuses of a CSV trace's records, in order.
    fn statuses(csv: &str) -> Vec<Option<String>> {
        let mut out = Vec::new();
        let mut input = std::io::Cursor::new(csv.as_bytes().to_vec());
        M365.parse(&mut input, "trace.csv", &mut |p| {
            if let Parsed::Event(r, _) = p {
                out.push(r.status.clone());
            }
            Ok(())
        })
        .expect("parses");
        out
    }

    #[test]
    fn a_repeated_header_names_its_last_column_and_a_wide_header_is_read() {
        let head = "Received,SenderAddress,RecipientAddress,Status,MessageTraceId";
        let row = |status: &str| {
            format!(
                "2026-01-20T13:15:00Z,a@hospital.example,b@clinic.example,{status},7b1c0000-0000-4000-8000-000000000000"
            )
        };
        let delivered = statuses(&format!("{head}\n{}\n", row("Delivered")));
        let failed = statuses(&format!("{head}\n{}\n", row("Failed")));
        assert_eq!(delivered.len(), 1);
        assert_ne!(delivered, failed);
        // `Status` twice: the last column is the one read, as a map built
        // from the row (the reading before `json::Json`) read it
        let twice = statuses(&format!("{head},Status\n{},Delivered\n", row("Failed")));
        assert_eq!(twice, delivered);
        // ten thousand more columns, each name four times: still one record
        let extra: String = (0..10_000).map(|i| format!(",x{}", i % 2500)).collect();
        let values: String = (0..10_000).map(|i| format!(",{i}")).collect();
        let wide = statuses(&format!("{head}{extra}\n{}{values}\n", row("Delivered")));
        assert_eq!(wide, delivered);
    }
}

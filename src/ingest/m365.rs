//! `m365`: Exchange Online message trace CSV: `Get-MessageTrace` /
//! `Get-MessageTraceV2 | Export-Csv` (columns `Received`, `SenderAddress`,
//! `RecipientAddress`, `Status`, `MessageId`, `MessageTraceId`, ...) and the
//! extended/historical report (`origin_timestamp_utc`, `sender_address`,
//! `recipient_status` = `addr##events;addr##events`, `message_id`,
//! `network_message_id`, ...).
//!
//! A message trace carries no TLS information, so `encryption = unknown`,
//! never guessed. Identity: `MessageTraceId` (or `network_message_id`) +
//! recipient. Redaction: `Subject` / `message_subject` are replaced by their
//! SHA-256 in `raw`.

use super::read::{Mapped, csv_col as col, parse_csv_source, parse_time};
use super::{Emit, IngestError, Source};
use crate::model::{Kind, Record};

/// The Microsoft 365 message-trace source.
#[derive(Default)]
pub struct M365;

fn status_of(s: &str) -> Option<&'static str> {
    match s.to_ascii_lowercase().as_str() {
        "delivered" | "resolved" => Some("delivered"),
        "failed" => Some("bounced"),
        "pending" | "gettingstatus" | "deferred" => Some("deferred"),
        "filteredasspam" | "quarantined" => Some("rejected"),
        "expanded" => None,
        _ => Some(""),
    }
}

impl Source for M365 {
    fn name(&self) -> &'static str {
        "m365"
    }
    fn sniff(&self, head: &[u8]) -> bool {
        let t = String::from_utf8_lossy(head);
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
        parse_csv_source(
            input,
            file,
            &["Subject", "message_subject"],
            emit,
            &mut |header, row, _raw| {
                let extended = header.iter().any(|h| h == "recipient_status");
                let (ts, sender, msgid, trace, rcpts): (_, _, _, _, Vec<(String, &str)>) =
                    if extended {
                        let Some(ts) =
                            col(header, row, "origin_timestamp_utc").and_then(parse_time)
                        else {
                            return Mapped::Bad(
                                "missing or unreadable column `origin_timestamp_utc`".into(),
                            );
                        };
                        let Some(rs) = col(header, row, "recipient_status") else {
                            return Mapped::Bad("missing column `recipient_status`".into());
                        };
                        let mut v = Vec::new();
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
                            v.push((addr.trim().to_string(), st));
                        }
                        (
                            ts,
                            col(header, row, "sender_address"),
                            col(header, row, "message_id"),
                            col(header, row, "network_message_id"),
                            v,
                        )
                    } else {
                        let Some(ts) = col(header, row, "Received").and_then(parse_time) else {
                            return Mapped::Bad("missing or unreadable column `Received`".into());
                        };
                        let Some(rcpt) = col(header, row, "RecipientAddress") else {
                            return Mapped::Bad("missing column `RecipientAddress`".into());
                        };
                        let Some(st) = col(header, row, "Status").and_then(status_of) else {
                            return Mapped::Skip(
                                "distribution-list expansion (each member has its own row)",
                            );
                        };
                        if st.is_empty() {
                            return Mapped::Bad("column `Status` has an unknown value; expected Delivered, Failed, Pending, Expanded, FilteredAsSpam or Quarantined".into());
                        }
                        (
                            ts,
                            col(header, row, "SenderAddress"),
                            col(header, row, "MessageId"),
                            col(header, row, "MessageTraceId"),
                            vec![(rcpt.to_string(), st)],
                        )
                    };
                let Some(trace) = trace else {
                    return Mapped::Bad(
                        "missing column `MessageTraceId` / `network_message_id`".into(),
                    );
                };
                let mut out = Vec::new();
                for (rcpt, st) in rcpts {
                    let mut r = Record::new(Kind::Delivery, ts, "m365");
                    r.source_event_id = Some(format!("{trace}:{rcpt}"));
                    r.message_id = msgid.map(str::to_string);
                    r.sender = sender.map(str::to_string);
                    r.recipient = Some(rcpt);
                    r.status = Some(st.into());
                    r.encryption = Some("unknown".into());
                    r.relay = col(header, row, "ToIP").map(str::to_string);
                    out.push(r);
                }
                Mapped::Records(out)
            },
        )
    }
}

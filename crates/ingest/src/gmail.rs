//! `gmail`: Google Workspace Gmail logs exported to BigQuery: the legacy
//! daily tables (`event_info`, `message_info` at the top) and the newer
//! activity table (the same under `gmail`, with `time_usec`), as NDJSON,
//! a JSON array or pretty-printed rows. `direction` per destination: from
//! `smtp-inbound` inbound, to `smtp-outbound` outbound, between Gmail's own
//! services internal, else unknown; inbound mail is never outbound evidence.
//!
//! One delivery record per `message_info.destination[]`. TLS comes from
//! `message_info.connection_info`: a non-empty `smtp_tls_version` is `tls`;
//! `tls_required_but_unavailable` is a failed TLS attempt; otherwise the
//! export does not say, so `encryption = unknown` (the meaning of
//! `smtp_tls_state` values is not published, so it is not relied on).
//! Identity: `rfc2822_message_id` + recipient + `event_info.timestamp_usec`.
//! Redaction: `message_info.subject` is replaced by its SHA-256 in `raw`.

use super::json::Json;
use super::read::{Mapped, jget, jstr, parse_json_source, redact_json};
use super::{Emit, IngestError, Source};
use sealtrail_format::model::{Kind, Record, Ts};

/// The Gmail BigQuery-export source.
#[derive(Default)]
pub struct Gmail;

/// Where one destination of a message went: from `smtp-inbound` is
/// inbound; to `smtp-outbound` is outbound; between Gmail's own services
/// (`gmail-ui`, ...) internal; otherwise unknown.
fn direction(mi: &Json<'_>, d: &Json<'_>) -> &'static str {
    let from = jstr(mi, "source.service").unwrap_or("");
    let to = jstr(d, "service").unwrap_or("");
    if from.starts_with("smtp-inbound") || from.starts_with("smtp_inbound") {
        "inbound"
    } else if to.starts_with("smtp-outbound") || to.starts_with("smtp_outbound") {
        "outbound"
    } else if (!from.is_empty() && !to.is_empty())
        || jget(mi, "connection_info.is_internal").and_then(|b| b.as_bool()) == Some(true)
    {
        "internal"
    } else {
        "unknown"
    }
}

fn map(row: &Json<'_>) -> Mapped {
    // the Workspace activity table holds the same fields under `gmail`
    let v = jget(row, "gmail").filter(|g| g.is_object()).unwrap_or(row);
    let Some(ts) = jget(v, "event_info.timestamp_usec")
        .or_else(|| jget(row, "time_usec"))
        .and_then(|t| {
            t.as_i64()
                .or_else(|| t.as_str().and_then(|s| s.parse().ok()))
        })
    else {
        return Mapped::Bad(
            "missing field `event_info.timestamp_usec`; is this a Gmail BigQuery export?".into(),
        );
    };
    let Some(mi) = jget(v, "message_info") else {
        return Mapped::Bad("missing field `message_info`".into());
    };
    let dests = jget(mi, "destination")
        .and_then(|d| d.as_array())
        .unwrap_or(&[]);
    if dests.is_empty() {
        return Mapped::Skip("Gmail event without destinations");
    }
    let msgid = jstr(mi, "rfc2822_message_id").map(str::to_string);
    let sender = jstr(mi, "source.address").map(str::to_string);
    let ci = jget(mi, "connection_info");
    let tls_version = ci
        .and_then(|c| jstr(c, "smtp_tls_version"))
        .map(str::to_string);
    let tls_cipher = ci
        .and_then(|c| jstr(c, "smtp_tls_cipher"))
        .map(str::to_string);
    let tls_failed = ci
        .and_then(|c| c.get("tls_required_but_unavailable"))
        .and_then(|b| b.as_bool())
        .unwrap_or(false);
    let success = jget(v, "event_info.success")
        .and_then(|b| b.as_bool())
        .unwrap_or(true);
    let raw = redact_json(row, &["message_info.subject", "gmail.message_info.subject"]);
    let mut out = Vec::new();
    for d in dests {
        let Some(addr) = jstr(d, "address") else {
            return Mapped::Bad("a `destination` has no `address`".into());
        };
        let resp = jstr(d, "rcpt_response")
            .or_else(|| jstr(d, "smtp_response"))
            .unwrap_or("");
        let status = if resp.starts_with('4') {
            "deferred"
        } else if resp.starts_with('5') || (!success && resp.is_empty()) {
            "bounced"
        } else {
            "delivered"
        };
        let mut r = Record::new(Kind::Delivery, Ts(ts), "gmail");
        r.source_event_id = Some(format!("{}:{addr}:{ts}", msgid.as_deref().unwrap_or("-")));
        r.message_id = msgid.clone();
        r.sender = sender.clone();
        r.recipient = Some(addr.to_string());
        r.status = Some(status.into());
        r.direction = Some(direction(mi, d).into());
        if let Some(vers) = &tls_version {
            r.encryption = Some("tls".into());
            r.tls_version = Some(vers.clone());
            r.tls_cipher = tls_cipher.clone();
        } else if tls_failed {
            r.encryption = Some("none".into());
            r.tls_failed = Some(true);
        } else {
            r.encryption = Some("unknown".into());
        }
        r.relay = ci
            .and_then(|c| jstr(c, "smtp_out_remote_host"))
            .map(str::to_string);
        r.raw = Some(raw.clone());
        out.push(r);
    }
    Mapped::Records(out)
}

impl Source for Gmail {
    fn name(&self) -> &'static str {
        "gmail"
    }
    fn sniff(&self, head: &[u8]) -> bool {
        let t = String::from_utf8_lossy(head);
        t.contains("\"event_info\"") && t.contains("\"message_info\"")
    }
    fn parse(
        &mut self,
        input: &mut dyn std::io::BufRead,
        file: &str,
        emit: &mut Emit<'_>,
    ) -> Result<(), IngestError> {
        parse_json_source(input, file, &[], emit, &map)
    }
}

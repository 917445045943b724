//! `gateway`: sealtrail's native JSON delivery record, for secure-email
//! gateways that choose the protection per recipient (TLS, portal, PGP,
//! S/MIME) and for webhooks. One JSON object per line (or an array):
//!
//! ```json
//! {"gateway_event_id":"gw-1","ts":"2026-03-01T10:00:00Z","message_id":"<m1@h.example>",
//!  "sender":"records@h.example","phi":true,"patient_id":"MRN-1",
//!  "recipients":[{"address":"a@b.example","method":"portal","status":"delivered"},
//!                {"address":"c@d.example","method":"tls","status":"delivered",
//!                 "tls":{"version":"TLSv1.3","cipher":"TLS_AES_128_GCM_SHA256","peer":"verified"}}]}
//! ```
//! Identity: `gateway_event_id` + recipient address. `subject`, if sent, is
//! replaced by its SHA-256 in `raw`.

use super::json::Json;
use super::read::{Mapped, jget, jstr, parse_json_source, parse_time, redact_json};
use super::{Emit, IngestError, Source};
use sealtrail_format::model::{Kind, Record};

/// The native gateway source.
#[derive(Default)]
pub struct Gateway;

fn map(v: &Json<'_>) -> Mapped {
    let Some(id) = jstr(v, "gateway_event_id") else {
        return Mapped::Bad("missing field `gateway_event_id`".into());
    };
    let Some(ts) = jstr(v, "ts").and_then(parse_time) else {
        return Mapped::Bad("missing or unreadable field `ts`".into());
    };
    let Some(rcpts) = jget(v, "recipients").and_then(|r| r.as_array()) else {
        return Mapped::Bad("missing field `recipients` (an array)".into());
    };
    let raw = redact_json(v, &["subject"]);
    let mut out = Vec::new();
    for (i, rc) in rcpts.iter().enumerate() {
        let Some(addr) = jstr(rc, "address") else {
            return Mapped::Bad(format!("field `recipients[{i}].address` is missing"));
        };
        let mut r = Record::new(Kind::Delivery, ts, "gateway");
        r.source_event_id = Some(format!("{id}:{addr}"));
        r.message_id = jstr(v, "message_id").map(str::to_string);
        r.sender = jstr(v, "sender").map(str::to_string);
        r.phi = v.get("phi").and_then(|b| b.as_bool());
        r.patient_id = jstr(v, "patient_id").map(str::to_string);
        r.recipient = Some(addr.to_string());
        r.status = jstr(rc, "status").map(str::to_string);
        r.encryption = jstr(rc, "method").map(str::to_string);
        r.tls_version = jstr(rc, "tls.version").map(str::to_string);
        r.tls_cipher = jstr(rc, "tls.cipher").map(str::to_string);
        r.tls_peer = jstr(rc, "tls.peer").map(str::to_string);
        r.tls_failed = rc.get("tls_failed").and_then(|b| b.as_bool());
        r.relay = jstr(rc, "relay").map(str::to_string);
        // where the gateway says (a secure-email gateway sends outbound mail;
        // it is not assumed): `outbound`, `inbound`, `internal`
        r.direction = jstr(rc, "direction")
            .or_else(|| jstr(v, "direction"))
            .map(str::to_string);
        r.dsn = jstr(rc, "dsn").map(str::to_string);
        r.raw = Some(raw.clone());
        out.push(r);
    }
    Mapped::Records(out)
}

impl Source for Gateway {
    fn name(&self) -> &'static str {
        "gateway"
    }
    fn sniff(&self, head: &[u8]) -> bool {
        String::from_utf8_lossy(head).contains("\"gateway_event_id\"")
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

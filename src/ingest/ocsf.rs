//! `ocsf`: OCSF JSON events, Email Activity (class_uid 4009) and
//! Authentication (class_uid 3002), one per line or an array; and the
//! reverse mapping used by `sealtrail export --format ocsf`.
//!
//! 4009: one delivery per `email.to[]`; `time` (ms); `status_id` 1 success
//! (delivered), 2 failure (bounced); TLS is not an attribute of 4009, so it
//! is read from `unmapped.tls_version` / `unmapped.encryption` when present
//! (as our export writes it) and is otherwise `unknown`. 3002: `user.name`,
//! `status_id`, `is_mfa`, `src_endpoint.ip`, `service.name`,
//! `unmapped.factor`. Identity: `metadata.uid` (+ recipient for 4009).
//! Redaction: `email.subject` is replaced by its SHA-256 in `raw`.

use super::read::{Mapped, jget, jstr, parse_json_source, redact_json};
use super::{Emit, IngestError, Source};
use crate::model::{Kind, Record, Ts};

/// The OCSF source.
#[derive(Default)]
pub struct Ocsf;

fn map(v: &serde_json::Value) -> Mapped {
    let class = jget(v, "class_uid").and_then(|c| c.as_i64()).unwrap_or(0);
    let Some(time) = jget(v, "time").and_then(|t| t.as_i64()) else {
        return Mapped::Bad("missing field `time` (epoch milliseconds)".into());
    };
    let ts = Ts(time.saturating_mul(1000));
    let Some(uid) = jstr(v, "metadata.uid") else {
        return Mapped::Bad("missing field `metadata.uid`".into());
    };
    let status_id = jget(v, "status_id").and_then(|s| s.as_i64()).unwrap_or(0);
    match class {
        4009 => {
            let Some(to) = jget(v, "email.to").and_then(|t| t.as_array()) else {
                return Mapped::Bad("missing field `email.to` (an array)".into());
            };
            let raw = redact_json(v, &["email.subject"]);
            let mut out = Vec::new();
            for addr in to.iter().filter_map(|a| a.as_str()) {
                let mut r = Record::new(Kind::Delivery, ts, "ocsf");
                r.source_event_id = Some(format!("{uid}:{addr}"));
                r.message_id = jstr(v, "email.message_uid").map(str::to_string);
                r.sender = jstr(v, "email.from").map(str::to_string);
                r.recipient = Some(addr.to_string());
                r.status = Some(
                    jstr(v, "unmapped.delivery_status")
                        .map(str::to_string)
                        .unwrap_or_else(|| {
                            if status_id == 2 {
                                "bounced"
                            } else {
                                "delivered"
                            }
                            .into()
                        }),
                );
                r.encryption = Some(
                    jstr(v, "unmapped.encryption")
                        .unwrap_or(if jstr(v, "unmapped.tls_version").is_some() {
                            "tls"
                        } else {
                            "unknown"
                        })
                        .into(),
                );
                r.tls_version = jstr(v, "unmapped.tls_version").map(str::to_string);
                r.tls_cipher = jstr(v, "unmapped.tls_cipher").map(str::to_string);
                r.tls_peer = jstr(v, "unmapped.tls_peer").map(str::to_string);
                r.phi = jget(v, "unmapped.phi").and_then(|b| b.as_bool());
                r.patient_id = jstr(v, "unmapped.patient_id").map(str::to_string);
                r.raw = Some(raw.clone());
                out.push(r);
            }
            Mapped::Records(out)
        }
        3002 => {
            let Some(user) = jstr(v, "user.name").or_else(|| jstr(v, "user.email_addr")) else {
                return Mapped::Bad("missing field `user.name`".into());
            };
            let mut r = Record::new(Kind::Auth, ts, "ocsf");
            r.source_event_id = Some(uid.to_string());
            r.user = Some(user.to_string());
            r.outcome = Some(
                jstr(v, "unmapped.outcome")
                    .map(str::to_string)
                    .unwrap_or_else(|| if status_id == 1 { "success" } else { "failure" }.into()),
            );
            r.mfa = jget(v, "is_mfa").and_then(|b| b.as_bool());
            r.factor = jstr(v, "unmapped.factor").map(str::to_string);
            r.phishing_resistant = jget(v, "unmapped.phishing_resistant").and_then(|b| b.as_bool());
            r.app = jstr(v, "service.name").map(str::to_string);
            r.ip = jstr(v, "src_endpoint.ip").map(str::to_string);
            Mapped::Records(vec![r])
        }
        0 => Mapped::Bad("missing field `class_uid`".into()),
        _ => Mapped::Skip("OCSF class other than Email Activity (4009) or Authentication (3002)"),
    }
}

/// The OCSF event for a sealed delivery or auth record (`None` for other
/// kinds). `idx` becomes `metadata.uid` so a round trip keeps identities.
pub fn to_ocsf(r: &Record, idx: u64) -> Option<serde_json::Value> {
    use serde_json::json;
    let time = r.ts.map(|t| t.0 / 1000).unwrap_or(0);
    let uid = format!(
        "{}:{}",
        r.source.as_deref().unwrap_or("sealtrail"),
        r.source_event_id.clone().unwrap_or_else(|| idx.to_string())
    );
    let product = json!({"name": "sealtrail", "vendor_name": "sealtrail"});
    match r.kind() {
        Kind::Delivery => {
            let ok = r.status.as_deref() == Some("delivered");
            Some(json!({
                "class_uid": 4009, "category_uid": 4, "activity_id": 1, "type_uid": 400901,
                "time": time, "severity_id": 1, "status_id": if ok { 1 } else { 2 },
                "metadata": {"uid": uid, "version": "1.1.0", "product": product},
                "email": {"from": r.sender, "to": [r.recipient], "message_uid": r.message_id},
                "unmapped": {"encryption": r.encryption, "tls_version": r.tls_version, "tls_cipher": r.tls_cipher,
                             "tls_peer": r.tls_peer, "delivery_status": r.status, "phi": r.phi, "patient_id": r.patient_id,
                             "sealtrail_idx": idx}
            }))
        }
        Kind::Auth => {
            let ok = r.outcome.as_deref() == Some("success");
            Some(json!({
                "class_uid": 3002, "category_uid": 3, "activity_id": 1, "type_uid": 300201,
                "time": time, "severity_id": 1, "status_id": if ok { 1 } else { 2 },
                "metadata": {"uid": uid, "version": "1.1.0", "product": product},
                "user": {"name": r.user}, "is_mfa": r.mfa, "src_endpoint": {"ip": r.ip}, "service": {"name": r.app},
                "unmapped": {"outcome": r.outcome, "factor": r.factor, "phishing_resistant": r.phishing_resistant, "sealtrail_idx": idx}
            }))
        }
        _ => None,
    }
}

impl Source for Ocsf {
    fn name(&self) -> &'static str {
        "ocsf"
    }
    fn sniff(&self, head: &[u8]) -> bool {
        String::from_utf8_lossy(head).contains("\"class_uid\"")
    }
    fn parse(
        &mut self,
        input: &mut dyn std::io::BufRead,
        file: &str,
        emit: &mut Emit<'_>,
    ) -> Result<(), IngestError> {
        parse_json_source(input, file, &[], emit, &mut map)
    }
}

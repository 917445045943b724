//! `ocsf`: OCSF JSON events, Email Activity (class_uid 4009) and
//! Authentication (class_uid 3002), one per line or an array; and the
//! reverse mapping used by `sealtrail export --format ocsf`.
//!
//! 4009: one delivery per `email.smtp_to[]` (else `email.to[]`), display
//! names stripped; `direction_id` 1/2/3 → inbound/outbound/internal; `time`
//! (ms; seconds are quarantined as a unit error); `status_id` 1 success
//! (delivered), 2 failure (bounced); TLS is not an attribute of 4009, so it
//! is read from `unmapped.tls_version` / `unmapped.encryption` when present
//! (as our export writes it) and is otherwise `unknown`. 3002: `user`
//! (else `actor.user`) email or name,
//! `status_id`, `is_mfa`, `src_endpoint.ip`, `service.name`,
//! `unmapped.factor`. Identity: `metadata.uid` (+ recipient for 4009).
//! Redaction: `email.subject` is replaced by its SHA-256 in `raw`.

use super::json::Json;
use super::read::{Mapped, jget, jstr, parse_json_source, parse_time, redact_json};
use super::{Emit, IngestError, Source};
use sealtrail_format::model::{Kind, Record, Ts};

/// The OCSF source.
#[derive(Default)]
pub struct Ocsf;

fn map(v: &Json<'_>) -> Mapped {
    let class = jget(v, "class_uid").and_then(|c| c.as_i64()).unwrap_or(0);
    // `time` is epoch milliseconds (OCSF's timestamp_t); a producer that
    // writes seconds gives a time in 1970, which the driver quarantines as
    // a likely unit error rather than sealing it
    let ts = match jget(v, "time") {
        Some(t) => match t.as_i64().or_else(|| t.as_f64().map(|f| f as i64)) {
            Some(ms) => Ts(ms.saturating_mul(1000)),
            // some producers write `time` as RFC 3339 text
            None => match t.as_str().and_then(parse_time) {
                Some(t) => t,
                None => {
                    return Mapped::Bad(
                        "field `time` is neither epoch milliseconds nor an RFC 3339 time".into(),
                    );
                }
            },
        },
        None => match jstr(v, "time_dt").and_then(parse_time) {
            Some(t) => t,
            None => return Mapped::Bad("missing field `time` (epoch milliseconds)".into()),
        },
    };
    let Some(uid) = jstr(v, "metadata.uid") else {
        return Mapped::Bad("missing field `metadata.uid`".into());
    };
    // status_id 1 success, 2 failure; producers without it write `status`
    let status_id = jget(v, "status_id")
        .and_then(|s| s.as_i64())
        .or_else(
            || match jstr(v, "status").map(str::to_ascii_lowercase).as_deref() {
                Some("success") => Some(1),
                Some("failure") => Some(2),
                _ => None,
            },
        )
        .unwrap_or(0);
    match class {
        4009 => {
            // the envelope (`smtp_to`, OCSF 1.1) first, else the header `to`;
            // an array or one string; display names are stripped by derive
            let to: Vec<&str> = ["email.smtp_to", "email.to"]
                .iter()
                .find_map(|p| match jget(v, p) {
                    Some(Json::Array(a)) => {
                        Some(a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>())
                    }
                    Some(Json::String(s)) => Some(vec![s.as_ref()]),
                    _ => None,
                })
                .unwrap_or_default();
            if to.is_empty() {
                return Mapped::Bad("missing field `email.smtp_to` or `email.to`".into());
            }
            let direction = match jget(v, "email.direction_id")
                .or_else(|| jget(v, "direction_id"))
                .and_then(|d| d.as_i64())
            {
                Some(1) => "inbound",
                Some(2) => "outbound",
                Some(3) => "internal",
                _ => "unknown",
            };
            let sender = jstr(v, "email.smtp_from").or_else(|| jstr(v, "email.from"));
            // a message trace mapped to OCSF keeps its status in `status_detail`
            let detail = jstr(v, "status_detail").map(str::to_ascii_lowercase);
            let status = match detail.as_deref() {
                Some("expanded") | Some("resolved") | Some("none") => {
                    return Mapped::Skip(
                        "OCSF email event of a message-trace status that is not a delivery outcome (Expanded, Resolved, None)",
                    );
                }
                Some("quarantined") | Some("filteredasspam") => "rejected",
                Some("pending") | Some("gettingstatus") | Some("deferred") => "deferred",
                Some("failed") => "bounced",
                Some("delivered") => "delivered",
                _ if status_id == 2 => "bounced",
                _ => "delivered",
            };
            let raw = redact_json(v, &["email.subject"]);
            let mut out = Vec::new();
            for addr in to {
                let mut r = Record::new(Kind::Delivery, ts, "ocsf");
                r.source_event_id = Some(format!("{uid}:{addr}"));
                r.message_id = jstr(v, "email.message_uid").map(str::to_string);
                r.sender = sender.map(str::to_string);
                r.recipient = Some(addr.to_string());
                r.direction = Some(direction.into());
                r.status = Some(
                    jstr(v, "unmapped.delivery_status")
                        .unwrap_or(status)
                        .to_string(),
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
            // the user authenticated (`user`), else who acted (`actor.user`)
            let Some(user) = [
                "user.email_addr",
                "user.name",
                "actor.user.email_addr",
                "actor.user.name",
                "user.uid",
                "actor.user.uid",
            ]
            .iter()
            .find_map(|p| jstr(v, p)) else {
                return Mapped::Bad("missing field `user.name` (or `actor.user.name`)".into());
            };
            let mut r = Record::new(Kind::Auth, ts, "ocsf");
            r.source_event_id = Some(uid.to_string());
            r.user = Some(user.to_string());
            r.outcome = Some(
                jstr(v, "unmapped.outcome")
                    .map(str::to_string)
                    .unwrap_or_else(|| if status_id == 1 { "success" } else { "failure" }.into()),
            );
            let success = r.outcome.as_deref() == Some("success");
            r.mfa = if success {
                jget(v, "is_mfa").and_then(|b| b.as_bool())
            } else {
                Some(false)
            };
            r.factor = jstr(v, "unmapped.factor").map(str::to_string);
            r.phishing_resistant = jget(v, "unmapped.phishing_resistant").and_then(|b| b.as_bool());
            r.app = jstr(v, "service.name").map(str::to_string);
            r.ip = jstr(v, "src_endpoint.ip")
                .filter(|ip| *ip != "-")
                .map(str::to_string);
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
                "direction_id": match r.direction.as_deref() {
                    Some("inbound") => 1, Some("outbound") => 2, Some("internal") => 3, _ => 0
                },
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
        parse_json_source(input, file, &[], emit, &map)
    }
}

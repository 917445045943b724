//! `duo`: Duo Admin API authentication logs: v2
//! (`{"stat":"OK","response":{"authlogs":[...]}}`, `{"authlogs":[...]}`,
//! NDJSON, one log per line inside the document) and v1 (`response` an
//! array; `username`, `integration`, `ip`, `timestamp` in seconds, no `txid`).
//!
//! Identity: `txid` (v1: a hash of the record). `result` success/denied/fraud/failure maps directly;
//! `factor` maps to the canonical factor (WebAuthn security keys and
//! platform authenticators are phishing-resistant; bypass codes and
//! remembered devices are `other` and do not count as MFA).

use super::json::Json;
use super::read::{Mapped, jget, jstr, parse_json_source, parse_time};
use super::{Emit, IngestError, Source};
use sealtrail_format::model::{Kind, Record, Ts};

/// The Duo authentication-log source.
#[derive(Default)]
pub struct Duo;

fn map(v: &Json<'_>) -> Mapped {
    // v1 logs have no `txid`: their identity is a hash of the record
    let v1 = jstr(v, "txid").is_none() && jstr(v, "username").is_some();
    let txid = match jstr(v, "txid") {
        Some(t) => t.to_string(),
        None if v1 => super::read::content_id(v.to_value().to_string().as_bytes()),
        None => {
            return Mapped::Bad("missing field `txid`; is this a Duo authentication log?".into());
        }
    };
    let ts = jstr(v, "isotimestamp").and_then(parse_time).or_else(|| {
        jget(v, "timestamp")
            .and_then(|t| t.as_i64())
            .map(|s| Ts(s * 1_000_000))
    });
    let Some(ts) = ts else {
        return Mapped::Bad("missing or unreadable `isotimestamp` and `timestamp`".into());
    };
    if let Some(e) = jstr(v, "event_type").or_else(|| jstr(v, "eventtype"))
        && e.eq_ignore_ascii_case("enrollment")
    {
        return Mapped::Skip("Duo enrollment of a device (not an authentication)");
    }
    let Some(user) = jstr(v, "user.name").or_else(|| jstr(v, "username")) else {
        return Mapped::Bad("missing field `user.name` (v1: `username`)".into());
    };
    let outcome =
        match jstr(v, "result").unwrap_or("") {
            "success" | "SUCCESS" => "success",
            "denied" | "DENIED" => "denied",
            "fraud" | "FRAUD" => "fraud",
            "failure" | "FAILURE" | "error" | "ERROR" => "failure",
            _ => return Mapped::Bad(
                "field `result` has an unknown value; expected success, denied, fraud or failure"
                    .into(),
            ),
        };
    let raw_factor = jstr(v, "factor").unwrap_or("").to_ascii_lowercase();
    let (factor, pr, counts_as_mfa) = match raw_factor.as_str() {
        "duo_push" | "duo push" | "verified_duo_push" => ("push", false, true),
        "phone_call" | "phone call" => ("voice", false, true),
        "sms_passcode" | "sms passcode" | "sms_refresh" => ("sms", false, true),
        "passcode"
        | "duo_mobile_passcode"
        | "hardware_token"
        | "hardware token"
        | "yubikey_code"
        | "duo mobile passcode" => ("totp", false, true),
        f if f.contains("webauthn")
            || f.contains("security key")
            || f.contains("platform")
            || f.contains("touch id")
            || f.contains("u2f") =>
        {
            ("webauthn", true, true)
        }
        _ => ("other", false, false),
    };
    let mut r = Record::new(Kind::Auth, ts, "duo");
    r.source_event_id = Some(txid.to_string());
    r.user = Some(user.to_string());
    r.outcome = Some(outcome.into());
    r.mfa = Some(outcome == "success" && counts_as_mfa);
    r.factor = Some(factor.into());
    r.phishing_resistant = Some(pr);
    r.app = jstr(v, "application.name")
        .or_else(|| jstr(v, "integration"))
        .map(str::to_string);
    r.ip = jstr(v, "access_device.ip")
        .or_else(|| jstr(v, "ip"))
        .map(str::to_string);
    r.action = jstr(v, "event_type")
        .or_else(|| jstr(v, "eventtype"))
        .map(str::to_string);
    Mapped::Records(vec![r])
}

impl Source for Duo {
    fn name(&self) -> &'static str {
        "duo"
    }
    fn sniff(&self, head: &[u8]) -> bool {
        let t = String::from_utf8_lossy(head);
        (t.contains("\"txid\"") || t.contains("\"username\"") && t.contains("\"integration\""))
            && t.contains("\"factor\"")
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

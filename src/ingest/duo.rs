//! `duo`: Duo Admin API v2 authentication logs
//! (`{"response":{"authlogs":[...]}}`, `{"authlogs":[...]}` or NDJSON).
//!
//! Identity: `txid`. `result` success/denied/fraud/failure maps directly;
//! `factor` maps to the canonical factor (WebAuthn security keys and
//! platform authenticators are phishing-resistant; bypass codes and
//! remembered devices are `other` and do not count as MFA).

use super::read::{Mapped, jget, jstr, parse_json_source, parse_time};
use super::{Emit, IngestError, Source};
use crate::model::{Kind, Record, Ts};

/// The Duo authentication-log source.
#[derive(Default)]
pub struct Duo;

fn map(v: &serde_json::Value) -> Mapped {
    let Some(txid) = jstr(v, "txid") else {
        return Mapped::Bad("missing field `txid`; is this a Duo authentication log?".into());
    };
    let ts = jstr(v, "isotimestamp").and_then(parse_time).or_else(|| {
        jget(v, "timestamp")
            .and_then(|t| t.as_i64())
            .map(|s| Ts(s * 1_000_000))
    });
    let Some(ts) = ts else {
        return Mapped::Bad("missing or unreadable `isotimestamp` and `timestamp`".into());
    };
    let Some(user) = jstr(v, "user.name") else {
        return Mapped::Bad("missing field `user.name`".into());
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
        | "yubikey_code"
        | "duo mobile passcode" => ("totp", false, true),
        f if f.contains("webauthn")
            || f.contains("security key")
            || f.contains("platform")
            || f.contains("touch id") =>
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
    r.app = jstr(v, "application.name").map(str::to_string);
    r.ip = jstr(v, "access_device.ip").map(str::to_string);
    r.action = jstr(v, "event_type").map(str::to_string);
    Mapped::Records(vec![r])
}

impl Source for Duo {
    fn name(&self) -> &'static str {
        "duo"
    }
    fn sniff(&self, head: &[u8]) -> bool {
        let t = String::from_utf8_lossy(head);
        t.contains("\"txid\"") && t.contains("\"factor\"")
    }
    fn parse(
        &mut self,
        input: &mut dyn std::io::BufRead,
        file: &str,
        emit: &mut Emit<'_>,
    ) -> Result<(), IngestError> {
        parse_json_source(input, file, &["response", "authlogs"], emit, &mut map)
    }
}

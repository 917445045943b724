//! `okta`: Okta System Log events (`GET /api/v1/logs` JSON array, or NDJSON).
//!
//! Keeps sign-in and MFA events (`user.authentication.*`,
//! `user.session.start`, `user.mfa.*`, push sends); other event types are
//! read and counted as not events. Identity: the event's `uuid`. The factor
//! comes from the authenticator enrollment target (`detailEntry.methodTypeUsed`
//! or its display name); FIDO2/WebAuthn, passkeys, Okta FastPass and smart
//! cards are phishing-resistant. No subjects exist in this format.

use super::read::{Mapped, jget, jstr, parse_json_source, parse_time};
use super::{Emit, IngestError, Source};
use crate::model::{Kind, Record};

/// The Okta System Log source.
#[derive(Default)]
pub struct Okta;

/// Maps a vendor's factor description to `(factor, phishing_resistant)`.
pub fn classify_factor(desc: &str) -> (&'static str, bool) {
    let d = desc.to_ascii_lowercase();
    if [
        "fido",
        "webauthn",
        "passkey",
        "security key",
        "windows hello",
        "fastpass",
        "smart card",
        "certificate",
        "piv",
    ]
    .iter()
    .any(|k| d.contains(k))
    {
        ("webauthn", true)
    } else if d.contains("push") || d.contains("notification") {
        ("push", false)
    } else if d.contains("sms") || d.contains("text message") {
        ("sms", false)
    } else if d.contains("voice") || d.contains("call") {
        ("voice", false)
    } else if [
        "totp",
        "otp",
        "passcode",
        "authenticator",
        "verification code",
        "token",
        "google",
    ]
    .iter()
    .any(|k| d.contains(k))
    {
        ("totp", false)
    } else if d.contains("password") {
        ("password", false)
    } else {
        ("other", false)
    }
}

fn map(v: &serde_json::Value) -> Mapped {
    let Some(uuid) = jstr(v, "uuid") else {
        return Mapped::Bad("missing field `uuid`; is this an Okta System Log export?".into());
    };
    let Some(ts) = jstr(v, "published").and_then(parse_time) else {
        return Mapped::Bad("missing or unreadable field `published`".into());
    };
    let event = jstr(v, "eventType").unwrap_or("");
    let relevant = event.starts_with("user.authentication.")
        || event == "user.session.start"
        || event.starts_with("user.mfa.")
        || event == "system.push.send_factor_verify_push";
    if !relevant {
        return Mapped::Skip("Okta event that is not a sign-in or MFA event");
    }
    let Some(user) = jstr(v, "actor.alternateId") else {
        return Mapped::Bad("missing field `actor.alternateId`".into());
    };
    let result = jstr(v, "outcome.result").unwrap_or("");
    let reason = jstr(v, "outcome.reason").unwrap_or("").to_ascii_lowercase();
    let outcome = if event.contains("deny_push") || result == "DENY" {
        if reason.contains("fraud") || reason.contains("suspicious") {
            "fraud"
        } else {
            "denied"
        }
    } else {
        match result {
            "SUCCESS" | "ALLOW" => "success",
            "FAILURE" | "UNKNOWN" | "SKIPPED" | "CHALLENGE" | "REJECTED" => "failure",
            _ => return Mapped::Bad("field `outcome.result` has an unknown value".into()),
        }
    };
    let targets = jget(v, "target")
        .and_then(|t| t.as_array())
        .cloned()
        .unwrap_or_default();
    let factor_desc = targets
        .iter()
        .find(|t| jstr(t, "type") == Some("AuthenticatorEnrollment"))
        .and_then(|t| jstr(t, "detailEntry.methodTypeUsed").or_else(|| jstr(t, "displayName")))
        .map(str::to_string)
        .or_else(|| jstr(v, "debugContext.debugData.factor").map(str::to_string))
        .or_else(|| {
            (jstr(v, "authenticationContext.credentialProvider")
                == Some("OKTA_CREDENTIAL_PROVIDER"))
            .then(|| "password".into())
        });
    let (factor, pr) = match (&factor_desc, event) {
        (Some(d), _) => classify_factor(d),
        (None, e) if e.contains("push") => ("push", false),
        (None, "user.session.start") => ("password", false),
        (None, _) => ("other", false),
    };
    let mut r = Record::new(Kind::Auth, ts, "okta");
    r.source_event_id = Some(uuid.to_string());
    r.user = Some(user.to_string());
    r.outcome = Some(outcome.into());
    r.mfa = Some(outcome == "success" && factor != "password");
    r.factor = Some(factor.into());
    r.phishing_resistant = Some(pr);
    r.app = targets
        .iter()
        .find(|t| jstr(t, "type") == Some("AppInstance"))
        .and_then(|t| jstr(t, "displayName"))
        .map(str::to_string);
    r.ip = jstr(v, "client.ipAddress").map(str::to_string);
    r.action = Some(event.to_string());
    Mapped::Records(vec![r])
}

impl Source for Okta {
    fn name(&self) -> &'static str {
        "okta"
    }
    fn sniff(&self, head: &[u8]) -> bool {
        let t = String::from_utf8_lossy(head);
        t.contains("\"eventType\"") && t.contains("\"published\"")
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

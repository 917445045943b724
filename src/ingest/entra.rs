//! `entra`: Microsoft Entra ID sign-in logs (Graph `auditLogs/signIns`
//! `{"value":[...]}` pages, or NDJSON).
//!
//! Identity: the sign-in `id`. Success is `status.errorCode = 0`. A second
//! factor was satisfied when `authenticationRequirement` is
//! `multiFactorAuthentication` and the sign-in succeeded, or a non-password
//! step of `authenticationDetails[]` succeeded. The factor is the strongest
//! method used: FIDO2, passkeys, Windows Hello for Business and certificates
//! are phishing-resistant; SMS, voice, push and OTP are not.

use super::okta::classify_factor;
use super::read::{Mapped, jget, jstr, parse_json_source, parse_time};
use super::{Emit, IngestError, Source};
use crate::model::{Kind, Record};

/// The Entra ID sign-in source.
#[derive(Default)]
pub struct Entra;

fn rank(f: &str) -> u8 {
    match f {
        "webauthn" => 6,
        "push" => 5,
        "totp" => 4,
        "sms" => 3,
        "voice" => 2,
        "other" => 1,
        _ => 0,
    }
}

fn map(v: &serde_json::Value) -> Mapped {
    let Some(id) = jstr(v, "id") else {
        return Mapped::Bad("missing field `id`; is this an Entra sign-in log?".into());
    };
    let Some(ts) = jstr(v, "createdDateTime").and_then(parse_time) else {
        return Mapped::Bad("missing or unreadable field `createdDateTime`".into());
    };
    let Some(user) = jstr(v, "userPrincipalName") else {
        return Mapped::Bad("missing field `userPrincipalName`".into());
    };
    let Some(code) = jget(v, "status.errorCode").and_then(|c| c.as_i64()) else {
        return Mapped::Bad("missing field `status.errorCode`".into());
    };
    let success = code == 0;
    let mut best: Option<(&'static str, bool)> = None;
    let mut second_factor_ok = false;
    let steps = jget(v, "authenticationDetails")
        .and_then(|d| d.as_array())
        .cloned()
        .unwrap_or_default();
    for s in &steps {
        let Some(method) = jstr(s, "authenticationMethod") else {
            continue;
        };
        if method.eq_ignore_ascii_case("Previously satisfied") {
            second_factor_ok |= s
                .get("succeeded")
                .and_then(|b| b.as_bool())
                .unwrap_or(false);
            continue;
        }
        let (f, pr) = classify_factor(method);
        let ok = s
            .get("succeeded")
            .and_then(|b| b.as_bool())
            .unwrap_or(false);
        if ok && f != "password" {
            second_factor_ok = true;
        }
        if best.is_none_or(|(b, _)| rank(f) > rank(b)) {
            best = Some((f, pr));
        }
    }
    if let Some(m) = jstr(v, "mfaDetail.authMethod") {
        let (f, pr) = classify_factor(m);
        if best.is_none_or(|(b, _)| rank(f) > rank(b)) {
            best = Some((f, pr));
        }
    }
    let mfa_required = jstr(v, "authenticationRequirement") == Some("multiFactorAuthentication");
    let (factor, pr) = best.unwrap_or(("password", false));
    let mut r = Record::new(Kind::Auth, ts, "entra");
    r.source_event_id = Some(id.to_string());
    r.user = Some(user.to_string());
    r.outcome = Some(if success { "success" } else { "failure" }.into());
    r.mfa = Some(success && (second_factor_ok || (mfa_required && factor != "password")));
    r.factor = Some(factor.into());
    r.phishing_resistant = Some(pr);
    r.app = jstr(v, "appDisplayName").map(str::to_string);
    r.ip = jstr(v, "ipAddress").map(str::to_string);
    r.action = jstr(v, "conditionalAccessStatus").map(|s| format!("conditional_access:{s}"));
    Mapped::Records(vec![r])
}

impl Source for Entra {
    fn name(&self) -> &'static str {
        "entra"
    }
    fn sniff(&self, head: &[u8]) -> bool {
        let t = String::from_utf8_lossy(head);
        t.contains("\"userPrincipalName\"")
            && (t.contains("\"authenticationRequirement\"")
                || t.contains("\"conditionalAccessStatus\""))
    }
    fn parse(
        &mut self,
        input: &mut dyn std::io::BufRead,
        file: &str,
        emit: &mut Emit<'_>,
    ) -> Result<(), IngestError> {
        parse_json_source(input, file, &["value"], emit, &mut map)
    }
}

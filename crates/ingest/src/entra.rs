//! `entra`: Microsoft Entra ID sign-in logs: Graph `auditLogs/signIns`
//! (v1.0 and beta, `{"value":[...]}` pages or NDJSON) and the same sign-ins
//! exported by Azure Monitor diagnostic settings (`time`, `category`
//! `SignInLogs` / `NonInteractiveUserSignInLogs`, the Graph fields under
//! `properties`; one per line, or `{"records":[...]}` blobs). Sign-ins of
//! service principals and managed identities are not a person's and are
//! counted as not events.
//!
//! Identity: the sign-in `id`. Success is `status.errorCode = 0`. A second
//! factor was satisfied when `authenticationRequirement` is
//! `multiFactorAuthentication` and the sign-in succeeded, or a non-password
//! step of `authenticationDetails[]` succeeded. The factor is the strongest
//! method used: FIDO2, passkeys, Windows Hello for Business and certificates
//! are phishing-resistant; SMS, voice, push and OTP are not.

use super::json::Json;
use super::okta::{classify_factor, factor_rank};
use super::read::{Mapped, jget, jstr, parse_json_source, parse_time};
use super::{Emit, IngestError, Source};
use sealtrail_format::model::{Kind, Record};

/// The Entra ID sign-in source.
#[derive(Default)]
pub struct Entra;

/// Azure Monitor diagnostic-settings categories of sign-ins by people.
const USER_CATEGORIES: &[&str] = &["SignInLogs", "NonInteractiveUserSignInLogs"];

fn map(record: &Json<'_>) -> Mapped {
    // Azure Monitor (diagnostic settings to a storage account, Event Hub or
    // Log Analytics) wraps the Graph sign-in in `properties`, beside `time`,
    // `category`, `resultType` and `identity`
    let monitor = jget(record, "properties").filter(|p| p.is_object());
    let v = monitor.unwrap_or(record);
    if let Some(cat) = jstr(record, "category").filter(|_| monitor.is_some())
        && !USER_CATEGORIES.contains(&cat)
    {
        if cat.contains("ServicePrincipal") || cat.contains("ManagedIdentity") {
            return Mapped::Skip(
                "Entra sign-in of a service principal or managed identity (not a person)",
            );
        }
        // the 2018 schema named people's sign-ins `SignIn`
        if !cat.contains("SignIn") {
            return Mapped::Skip("Azure Monitor record that is not a sign-in");
        }
    }
    let Some(id) = jstr(v, "id") else {
        return Mapped::Bad(
            "missing field `id` (or `properties.id`); is this an Entra sign-in log?".into(),
        );
    };
    let Some(ts) = jstr(v, "createdDateTime")
        .or_else(|| jstr(record, "time"))
        .and_then(parse_time)
    else {
        return Mapped::Bad("missing or unreadable field `createdDateTime` (or `time`)".into());
    };
    let Some(user) = jstr(v, "userPrincipalName") else {
        if jstr(v, "servicePrincipalId").is_some() || jstr(v, "servicePrincipalName").is_some() {
            return Mapped::Skip(
                "Entra sign-in of a service principal or managed identity (not a person)",
            );
        }
        return Mapped::Bad("missing field `userPrincipalName`".into());
    };
    let code = jget(v, "status.errorCode")
        .and_then(|c| {
            c.as_i64()
                .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
        })
        .or_else(|| {
            jget(record, "resultType")
                .filter(|_| monitor.is_some())
                .and_then(|c| {
                    c.as_i64()
                        .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
                })
        });
    let Some(code) = code else {
        return Mapped::Bad("missing field `status.errorCode` (or `resultType`)".into());
    };
    let success = code == 0;
    let mut best: Option<(&'static str, bool)> = None;
    let mut second_factor_ok = false;
    let steps = jget(v, "authenticationDetails")
        .and_then(|d| d.as_array())
        .unwrap_or(&[]);
    for s in steps {
        let Some(method) = jstr(s, "authenticationMethod") else {
            continue;
        };
        if method.eq_ignore_ascii_case("Previously satisfied") {
            // a claim in the token satisfied a requirement: MFA only if it
            // says so ("MFA requirement satisfied by claim in the token"),
            // never a first-factor claim
            let names_mfa = jstr(s, "authenticationStepResultDetail")
                .is_some_and(|d| d.to_ascii_lowercase().contains("mfa"))
                || jstr(s, "authenticationStepRequirement")
                    .is_some_and(|d| d.to_ascii_lowercase().contains("multifactor"));
            second_factor_ok |= names_mfa
                && s.get("succeeded")
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
        if best.is_none_or(|(b, _)| factor_rank(f) > factor_rank(b)) {
            best = Some((f, pr));
        }
    }
    // the older beta schema: `mfaDetail` is present when MFA was performed
    if let Some(m) = jstr(v, "mfaDetail.authMethod").or_else(|| jstr(v, "mfaDetail.mfaAuthMethod"))
    {
        let (f, pr) = classify_factor(m);
        if f != "password" {
            second_factor_ok = true;
        }
        if best.is_none_or(|(b, _)| factor_rank(f) > factor_rank(b)) {
            best = Some((f, pr));
        }
    }
    let mfa_required = jstr(v, "authenticationRequirement") == Some("multiFactorAuthentication");
    // no method named: the factor is not known (never guessed as a password)
    let (factor, pr) = match best {
        Some((f, pr)) => (Some(f), pr),
        None => (None, false),
    };
    let mut r = Record::new(Kind::Auth, ts, "entra");
    r.source_event_id = Some(id.to_string());
    r.user = Some(user.to_string());
    r.outcome = Some(if success { "success" } else { "failure" }.into());
    r.mfa = Some(
        success && (second_factor_ok || (mfa_required && factor.is_some_and(|f| f != "password"))),
    );
    r.factor = factor.map(str::to_string);
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
        let monitor = [
            "SignInLogs",
            "NonInteractiveUserSignInLogs",
            "ServicePrincipalSignInLogs",
            "ManagedIdentitySignInLogs",
        ]
        .iter()
        .any(|c| t.contains(&format!("\"{c}\"")))
            && t.contains("\"category\"");
        monitor
            || t.contains("\"userPrincipalName\"")
                && (t.contains("\"authenticationRequirement\"")
                    || t.contains("\"conditionalAccessStatus\"")
                    || t.contains("\"mfaDetail\"")
                    || t.contains("\"createdDateTime\""))
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

//! `okta`: Okta System Log events (`GET /api/v1/logs` JSON array, or NDJSON).
//!
//! A sign-in is a session start (`user.session.start`) or an authentication
//! (`user.authentication.auth_via_*`, `verify`); an app access
//! (`user.authentication.sso`) and a push merely sent
//! (`system.push.send_factor_verify_push`) are not, and are counted as not
//! events. `mfa` is true only where a second factor was verified for that
//! sign-in: factor events are tied to session starts by
//! `authenticationContext.externalSessionId` within one input, and a
//! verification whose session start is there is folded into it. The user is
//! the human principal: the actor, or the target User when Okta itself acted
//! (`auth_via_IDP`). Denied pushes stay records (`denied`/`fraud`) for the
//! MFA-fatigue query. Identity: the event's `uuid`. The factor
//! comes from the authenticator enrollment target (`detailEntry.methodTypeUsed`
//! or its display name); FIDO2/WebAuthn, passkeys, Okta FastPass and smart
//! cards are phishing-resistant. No subjects exist in this format.

use std::collections::{HashMap, HashSet};

use super::json::Json;
use super::read::{
    JsonRecord, Mapped, jget, jstr, map_json_records, parse_json_record, parse_time,
};
use super::{Emit, IngestError, Parsed, Source};
use sealtrail_format::model::{Kind, Record};

/// The Okta System Log source.
#[derive(Default)]
pub struct Okta {
    /// The ties of the input `parse` reads next, if a first pass learnt
    /// them ([`Source::prescan`]).
    ties: Option<Ties>,
}

/// Maps a vendor's factor description to `(factor, phishing_resistant)`.
pub fn classify_factor(desc: &str) -> (&'static str, bool) {
    let d = LowerSearch(desc.as_bytes());
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

/// A description searched for lower-case ASCII words without regard to
/// case, as `to_ascii_lowercase` and then `contains` would, without the
/// copy and without building a searcher per word: the descriptions are a
/// few words long, and [`classify_factor`] looks for fifteen.
struct LowerSearch<'a>(&'a [u8]);

impl LowerSearch<'_> {
    fn contains(&self, word: &str) -> bool {
        let word = word.as_bytes();
        debug_assert!(!word.iter().any(u8::is_ascii_uppercase));
        word.is_empty()
            || self
                .0
                .windows(word.len())
                .any(|w| w.eq_ignore_ascii_case(word))
    }
}

/// How an Okta event type counts (FORMAT.md §11.5).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Role {
    /// A session start: the sign-in itself.
    SessionStart,
    /// An authentication that verified (or failed to verify) a factor,
    /// folded into its session's sign-in when one is in the input.
    Factor,
    /// Any other authentication (IdP, RADIUS, AD agent, ...): a sign-in.
    Authentication,
    /// A push denied or reported by the user.
    PushDenied,
}

/// The role of an event type, or why it is not a sign-in.
fn role(event: &str) -> Result<Role, &'static str> {
    match event {
        SESSION_START => Ok(Role::SessionStart),
        "user.authentication.sso" => {
            Err("Okta app access (user.authentication.sso), not a sign-in")
        }
        "system.push.send_factor_verify_push" => {
            Err("Okta push sent (not yet approved), not a sign-in")
        }
        AUTH_VIA_MFA | VERIFY => Ok(Role::Factor),
        e if e.contains("deny_push") || e == "user.mfa.okta_verify.deny_push" => {
            Ok(Role::PushDenied)
        }
        e if e.starts_with("user.authentication.auth_via_")
            || e == "user.authentication.authenticate" =>
        {
            Ok(Role::Authentication)
        }
        e if e.starts_with("user.mfa.") || e.starts_with("user.authentication.") => {
            Err("Okta factor lifecycle or other event, not a sign-in")
        }
        _ => Err("Okta event that is not a sign-in or MFA event"),
    }
}

/// What [`map`] learnt of one sign-in record beyond the record itself.
struct Meta {
    role: Role,
    session: Option<String>,
    /// A second factor verified in this event: `(factor, phishing-resistant)`.
    verified: Option<(&'static str, bool)>,
}

fn map(v: &Json<'_>, meta: &mut Vec<Meta>) -> Mapped {
    let Some(uuid) = jstr(v, "uuid") else {
        return Mapped::Bad("missing field `uuid`; is this an Okta System Log export?".into());
    };
    let Some(ts) = jstr(v, "published").and_then(parse_time) else {
        return Mapped::Bad("missing or unreadable field `published`".into());
    };
    let event = jstr(v, "eventType").unwrap_or("");
    let role = match role(event) {
        Ok(r) => r,
        Err(reason) => return Mapped::Skip(reason),
    };
    let targets: &[Json<'_>] = jget(v, "target").and_then(|t| t.as_array()).unwrap_or(&[]);
    // the human principal: the actor, unless Okta itself acted for a user
    // (auth_via_IDP, inbound federation: actor `system@okta.com`), in which
    // case the target of type User
    let actor_is_user = jstr(v, "actor.type").is_none_or(|t| t.eq_ignore_ascii_case("User"))
        && jstr(v, "actor.alternateId").is_some_and(|a| a != "system@okta.com" && a != "unknown");
    let user = if actor_is_user {
        jstr(v, "actor.alternateId")
    } else {
        targets
            .iter()
            .find(|t| jstr(t, "type").is_some_and(|t| t.eq_ignore_ascii_case("User")))
            .and_then(|t| jstr(t, "alternateId"))
    };
    let Some(user) = user else {
        return Mapped::Bad(
            "no user: neither `actor.alternateId` (of type User) nor a `target` of type User"
                .into(),
        );
    };
    let result = jstr(v, "outcome.result").unwrap_or("");
    let reason = jstr(v, "outcome.reason").unwrap_or("").to_ascii_lowercase();
    let outcome = if role == Role::PushDenied || result == "DENY" {
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
    let factor_desc = targets
        .iter()
        .find(|t| jstr(t, "type") == Some("AuthenticatorEnrollment"))
        .and_then(|t| jstr(t, "detailEntry.methodTypeUsed").or_else(|| jstr(t, "displayName")))
        .map(str::to_string)
        .or_else(|| jstr(v, "debugContext.debugData.factor").map(str::to_string))
        .or_else(|| jstr(v, "authenticationContext.credentialType").map(str::to_string))
        .or_else(|| {
            (jstr(v, "authenticationContext.credentialProvider")
                == Some("OKTA_CREDENTIAL_PROVIDER"))
            .then(|| "password".into())
        });
    // no credential named: the factor is not known (never guessed)
    let (factor, pr) = match (&factor_desc, role) {
        (Some(d), _) => {
            let (f, pr) = classify_factor(d);
            (Some(f), pr)
        }
        (None, Role::PushDenied) => (Some("push"), false),
        (None, _) => (None, false),
    };
    // a factor verified: an MFA authentication that succeeded with a
    // factor other than a password (a bare `verify` of a password is not)
    let verified = (role == Role::Factor && outcome == "success" && factor != Some("password"))
        .then(|| (factor.unwrap_or("other"), pr));
    let mut r = Record::new(Kind::Auth, ts, "okta");
    r.source_event_id = Some(uuid.to_string());
    r.user = Some(user.to_string());
    r.outcome = Some(outcome.into());
    r.mfa = Some(verified.is_some());
    r.factor = verified.map(|(f, _)| f).or(factor).map(str::to_string);
    // unknown with the factor, never guessed
    r.phishing_resistant = r
        .factor
        .as_ref()
        .map(|_| verified.is_some_and(|(_, pr)| pr));
    r.app = targets
        .iter()
        .find(|t| jstr(t, "type") == Some("AppInstance"))
        .and_then(|t| jstr(t, "displayName"))
        .map(str::to_string);
    r.ip = jstr(v, "client.ipAddress").map(str::to_string);
    r.action = Some(event.to_string());
    meta.push(Meta {
        role,
        session: jstr(v, "authenticationContext.externalSessionId")
            .filter(|s| *s != "unknown")
            .map(str::to_string),
        verified,
    });
    Mapped::Records(vec![r])
}

/// How strong a canonical factor is, to keep the strongest one used.
pub fn factor_rank(f: &str) -> u8 {
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

/// What ties factor verifications to sign-ins by `externalSessionId`
/// within one input: the sessions that start in it, and the strongest
/// factor verified in each session. A session start is MFA only if a factor
/// was verified in its session; a verification whose session start is in
/// the input is folded into it (counted, not a second sign-in); one without
/// stays a sign-in.
#[derive(Default)]
struct Ties {
    starts: HashSet<String>,
    verified: HashMap<String, (&'static str, bool)>,
}

impl Ties {
    /// Learns the part in their sessions of the events among `items`.
    fn learn_all(&mut self, items: &[(Parsed, Option<Meta>)]) {
        for m in items.iter().filter_map(|(_, m)| m.as_ref()) {
            self.learn(m);
        }
    }

    /// Learns one sign-in record's part in its session.
    fn learn(&mut self, m: &Meta) {
        let Some(s) = &m.session else { return };
        if m.role == Role::SessionStart && !self.starts.contains(s) {
            self.starts.insert(s.clone());
        }
        if let Some((f, pr)) = m.verified {
            match self.verified.get_mut(s) {
                Some(e) if factor_rank(f) > factor_rank(e.0) => *e = (f, pr),
                Some(_) => {}
                None => {
                    self.verified.insert(s.clone(), (f, pr));
                }
            }
        }
    }

    /// Emits one parsed item as the ties of its whole input say.
    fn emit(&self, p: Parsed, m: Option<Meta>, emit: &mut Emit<'_>) -> Result<(), IngestError> {
        let (mut r, line, m) = match (p, m) {
            (Parsed::Event(r, line), Some(m)) => (r, line, m),
            (p, _) => return emit(p),
        };
        let session = m.session.as_deref();
        match m.role {
            Role::SessionStart => {
                if let Some((f, pr)) = session.and_then(|s| self.verified.get(s))
                    && r.outcome.as_deref() == Some("success")
                {
                    r.mfa = Some(true);
                    r.factor = Some((*f).into());
                    r.phishing_resistant = Some(*pr);
                }
                emit(Parsed::Event(r, line))
            }
            Role::Factor
                if m.verified.is_some() && session.is_some_and(|s| self.starts.contains(s)) =>
            {
                emit(Parsed::Skip {
                    line,
                    reason: "Okta factor verification, folded into the sign-in of its session (externalSessionId)",
                })
            }
            _ => emit(Parsed::Event(r, line)),
        }
    }
}

const SESSION_START: &str = "user.session.start";
const AUTH_VIA_MFA: &str = "user.authentication.auth_via_mfa";
const VERIFY: &str = "user.authentication.verify";

/// The event types whose records a tie is learnt from: [`role`]'s
/// `SessionStart` and `Factor`.
const TYING_TYPES: [&str; 3] = [SESSION_START, AUTH_VIA_MFA, VERIFY];

/// Whether a record's bytes may be one a tie is learnt from: they hold one
/// of [`TYING_TYPES`], or an escape (an event type may be written escaped
/// and still be one). Any other record is not parsed by a first pass, which
/// spares most of a real org's log (policy evaluations, app access,
/// lifecycle events) a second parse.
fn may_tie(bytes: &[u8]) -> bool {
    static TYPES: std::sync::LazyLock<Vec<memchr::memmem::Finder<'static>>> =
        std::sync::LazyLock::new(|| {
            TYING_TYPES
                .iter()
                .map(|t| memchr::memmem::Finder::new(t.as_bytes()))
                .collect()
        });
    memchr::memchr(b'\\', bytes).is_some() || TYPES.iter().any(|t| t.find(bytes).is_some())
}

/// One JSON record parsed and mapped (on any core): its items in input
/// order, each event with the meta [`map`] found for it.
fn read_record(rec: JsonRecord) -> Vec<(Parsed, Option<Meta>)> {
    let mut found = Vec::new();
    let parsed = parse_json_record(rec, &mut |v| map(v, &mut found));
    let mut metas = found.into_iter();
    parsed
        .into_iter()
        .map(|p| {
            let m = matches!(p, Parsed::Event(..))
                .then(|| metas.next())
                .flatten();
            (p, m)
        })
        .collect()
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
        // a session's factor may come before or after its start, so the
        // ties of the whole input decide each record: learnt by a first pass
        // over a file (`prescan`), or else by holding the input whole.
        // Records are parsed and mapped on every core, in input order.
        if let Some(ties) = self.ties.take() {
            return map_json_records(input, file, &[], &read_record, &mut |items| {
                items
                    .into_iter()
                    .try_for_each(|(p, m)| ties.emit(p, m, &mut *emit))
            });
        }
        let mut items: Vec<(Parsed, Option<Meta>)> = Vec::new();
        map_json_records(input, file, &[], &read_record, &mut |batch| {
            items.extend(batch);
            Ok(())
        })?;
        let mut ties = Ties::default();
        ties.learn_all(&items);
        items
            .into_iter()
            .try_for_each(|(p, m)| ties.emit(p, m, &mut *emit))
    }
    fn prescans(&self) -> bool {
        true
    }
    /// Learns the input's ties from every record's meta, keeping nothing
    /// else (a file of millions of events is then never held whole). Only
    /// records that may be a session start or a factor verification are
    /// parsed ([`may_tie`]).
    fn prescan(&mut self, input: &mut dyn std::io::BufRead, file: &str) -> Result<(), IngestError> {
        let mut ties = Ties::default();
        let read = |rec: JsonRecord| match may_tie(&rec.bytes) {
            true => read_record(rec),
            false => Vec::new(),
        };
        map_json_records(input, file, &[], &read, &mut |items| {
            ties.learn_all(&items);
            Ok(())
        })?;
        self.ties = Some(ties);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `parse` emits for `bytes`, one line per item, after a first
    /// pass over them or holding them whole.
    fn emitted(bytes: &[u8], first_pass: bool) -> Vec<String> {
        let mut okta = Okta::default();
        if first_pass {
            okta.prescan(&mut &bytes[..], "t").expect("prescan");
        }
        let mut out = Vec::new();
        okta.parse(&mut &bytes[..], "t", &mut |p| {
            out.push(match p {
                Parsed::Event(r, line) => {
                    format!("{line} {}", String::from_utf8_lossy(&r.to_leaf()))
                }
                Parsed::Skip { line, reason } => format!("{line} skip {reason}"),
                Parsed::Bad { line, reason, .. } => format!("{line} bad {reason}"),
            });
            Ok(())
        })
        .expect("parse");
        assert!(okta.ties.is_none(), "ties are for one input only");
        out
    }

    fn event(uuid: &str, ty: &str, session: &str, extra: &str) -> String {
        format!(
            r#"{{"uuid":"{uuid}","published":"2026-06-01T10:00:00.000Z","eventType":"{ty}","actor":{{"type":"User","alternateId":"doc@h.example"}},"outcome":{{"result":"SUCCESS"}},"authenticationContext":{{"externalSessionId":"{session}"}}{extra}}}"#
        )
    }

    #[test]
    fn a_first_pass_gives_what_holding_the_input_whole_gives() {
        let push = r#","target":[{"type":"AuthenticatorEnrollment","displayName":"Okta Verify","detailEntry":{"methodTypeUsed":"Push"}}]"#;
        let key =
            r#","target":[{"type":"AuthenticatorEnrollment","displayName":"FIDO2 (WebAuthn)"}]"#;
        // factors before and after their session's start, the stronger one
        // last; a factor without a start; a start without a factor; a bad line
        let crafted = [
            event("u1", "user.authentication.auth_via_mfa", "s1", push),
            event("u2", "user.session.start", "s1", ""),
            event("u3", "user.authentication.auth_via_mfa", "s1", key),
            event("u4", "user.session.start", "s2", ""),
            event("u5", "user.authentication.auth_via_mfa", "s2", push),
            event("u6", "user.authentication.auth_via_mfa", "s3", push),
            event("u7", "user.session.start", "s4", ""),
            "{not json".to_string(),
            // an event type written escaped is still one
            event("u8", "user.session\\u002estart", "s5", ""),
            event("u9", "user.authentication.verify", "s5", push),
        ]
        .join("\n");
        let tied = emitted(crafted.as_bytes(), true);
        assert_eq!(tied, emitted(crafted.as_bytes(), false));
        // the ties were used: folded factors, and the strongest one kept
        assert_eq!(tied.iter().filter(|l| l.contains(" skip ")).count(), 4);
        assert!(
            tied[8].contains(r#""mfa":true,"factor":"push""#),
            "{}",
            tied[8]
        );
        assert!(tied[1].contains(r#""mfa":true,"factor":"webauthn","phishing_resistant":true"#));
        assert!(tied[3].contains(r#""mfa":true,"factor":"push""#));
        assert!(tied[6].contains(r#""mfa":false"#));

        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures");
        for file in [
            "okta/system-log.json",
            "okta/system-log-more.ndjson",
            "real/okta/okta-docs-event-hook-delivery-payload.json",
            "real/okta/okta-docs-example-logevent-object.json",
            "real/okta/okta-docs-system-log-beta-list-events-response.json",
            "real/okta/panther-systemlog-samples-excerpt.ndjson",
        ] {
            let bytes = std::fs::read(format!("{dir}/{file}")).expect(file);
            let held = emitted(&bytes, false);
            assert!(held.iter().any(|l| !l.contains(" skip ")), "{file}");
            assert!(!held.is_empty(), "{file}");
            assert_eq!(emitted(&bytes, true), held, "{file}");
        }
    }

    #[test]
    fn a_first_pass_skips_only_records_no_tie_is_learnt_from() {
        let types = [
            "user.session.start",
            "user.authentication.auth_via_mfa",
            "user.authentication.verify",
            "user.authentication.sso",
            "user.authentication.auth_via_IDP",
            "user.authentication.auth_via_radius",
            "user.authentication.authenticate",
            "user.mfa.okta_verify.deny_push",
            "system.push.send_factor_verify_push",
            "user.mfa.factor.activate",
            "policy.evaluate_sign_on",
            "user.session.end",
        ];
        for t in types {
            let ties = matches!(role(t), Ok(Role::SessionStart | Role::Factor));
            assert_eq!(ties, TYING_TYPES.contains(&t), "{t}");
            let line = event("u", t, "s", "");
            assert_eq!(may_tie(line.as_bytes()), ties, "{t}");
        }
        assert!(may_tie(br#"{"eventType":"user.session\u002estart"}"#));
    }

    #[test]
    fn lower_search_finds_what_lowercasing_then_contains_finds() {
        let descs = [
            "Okta Verify Push",
            "FIDO2 (WebAuthn)",
            "Google Authenticator",
            "SMS Authentication",
            "Voice Call",
            "Text Message Code",
            "PASSWORD",
            "Ökta Pásskey",
            "",
            "x",
            "Security Key (PIV)",
            "certificate-based",
        ];
        let words = [
            "fido",
            "webauthn",
            "passkey",
            "security key",
            "push",
            "sms",
            "text message",
            "voice",
            "call",
            "otp",
            "password",
            "piv",
            "certificate",
            "x",
            "",
        ];
        for d in descs {
            for w in words {
                assert_eq!(
                    LowerSearch(d.as_bytes()).contains(w),
                    d.to_ascii_lowercase().contains(w),
                    "{d:?} / {w:?}"
                );
            }
        }
    }
}

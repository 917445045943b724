//! `sealtrail gen`: deterministic synthetic logs in each source's real
//! format, for benchmarks and ground-truth tests, plus `truth.json` with the
//! figures a pack and some accountings must show for that data.
//!
//! The mix (per event): 45% Postfix deliveries (ISO-timestamped syslog,
//! four lines each, and qmgr's `removed` once a message has left the queue),
//! 30% Okta sign-ins, 5% each Microsoft 365 message-trace
//! rows, Gmail BigQuery rows, Entra sign-ins and Duo authentications, 3%
//! disclosures and 2% training records; 0.1% malformed lines. Mail is mostly
//! TLS 1.3/1.2 to a verified peer, with a few percent plaintext, failed TLS,
//! TLS 1.0 and unverified peers; MFA mostly push/TOTP with some
//! phishing-resistant and some single-factor sign-ins, and an MFA-fatigue
//! burst per 100,000 events. Patients: one per 100 events (at least 100, at
//! most 100,000); workforce: one user per 1,000 events (10 to 5,000).
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{TimeZone, Utc};
use serde::Serialize;

/// A small deterministic generator (SplitMix64): same seed, same logs.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability `p` per mille.
    pub fn permille(&mut self, p: u64) -> bool {
        self.below(1000) < p
    }
}

/// The figures the generated data must produce.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Truth {
    /// Events generated (records, excluding malformed lines).
    pub events: u64,
    /// Malformed lines written (to be quarantined).
    pub malformed: u64,
    /// Postfix deliveries by kind of protection.
    pub postfix: BTreeMap<String, u64>,
    /// Okta sign-ins by outcome and MFA.
    pub okta: BTreeMap<String, u64>,
    /// Denied-push bursts injected (MFA fatigue).
    pub fatigue_bursts: u64,
    /// Records per source.
    pub per_source: BTreeMap<String, u64>,
    /// Accountable disclosures for a few patients: patient id → count.
    pub accountable_by_patient: BTreeMap<String, u64>,
    /// First and last day of the data (UTC).
    pub period: (String, String),
}

const START: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const DOMAINS: [&str; 8] = [
    "clinic-partner.com",
    "labs.example.net",
    "gmail.com",
    "insurer.example",
    "county-health.example.gov",
    "outlook.com",
    "pharmacy.example",
    "specialists.example.org",
];
const BASES: [&str; 12] = [
    "tpo",
    "tpo",
    "tpo",
    "authorization",
    "public_health",
    "judicial",
    "law_enforcement",
    "health_oversight",
    "research",
    "required_by_law",
    "individual",
    "workers_comp",
];

fn iso(secs: i64, micros: u32) -> String {
    Utc.timestamp_opt(secs, micros * 1000)
        .single()
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string())
        .unwrap_or_default()
}

/// Generates `events` events with `seed` into `out/<source>/…` and
/// `out/truth.json`; returns the truth.
pub fn generate(events: u64, seed: u64, out: &Path) -> std::io::Result<Truth> {
    let mut rng = Rng::new(seed);
    let patients = (events / 100).clamp(100, 100_000);
    let users = (events / 1000).clamp(10, 5_000);
    let mk = |rel: &str| -> std::io::Result<BufWriter<std::fs::File>> {
        let p = out.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        Ok(BufWriter::with_capacity(1 << 20, std::fs::File::create(p)?))
    };
    let mut postfix = mk("postfix/maillog")?;
    let mut okta = mk("okta/system-log.ndjson")?;
    let mut m365 = mk("m365/message-trace.csv")?;
    let mut gmail = mk("gmail/gmail.ndjson")?;
    let mut entra = mk("entra/signins.ndjson")?;
    let mut duo = mk("duo/authlogs.ndjson")?;
    let mut disc = mk("disclosures/roi.csv")?;
    let mut train = mk("training/lms.csv")?;
    writeln!(
        m365,
        "\"Received\",\"SenderAddress\",\"RecipientAddress\",\"Subject\",\"Status\",\"ToIP\",\"FromIP\",\"Size\",\"MessageId\",\"MessageTraceId\""
    )?;
    writeln!(
        disc,
        "disclosure_id,date,patient_id,recipient_name,recipient_address,description,purpose,basis,message_id,suspended_until"
    )?;
    writeln!(train, "user,course,topic,status,completed_at,due_at,score")?;
    let mut t = Truth::default();
    // one event every ~2 seconds on average, so 10M events span about 8 months
    let step = 2i64;
    let mut now = START;
    let inc = |m: &mut BTreeMap<String, u64>, k: &str| *m.entry(k.to_string()).or_default() += 1;
    for i in 0..events {
        now += rng.below(step as u64 * 2) as i64;
        let micros = rng.below(1_000_000) as u32;
        let user = format!("user{:05}@hospital.example", rng.below(users));
        let patient = format!("MRN-{:06}", rng.below(patients));
        if rng.permille(1) {
            writeln!(
                postfix,
                "\u{0}\u{1}{} cut by a full disk",
                &iso(now, micros)[..7]
            )?;
            t.malformed += 1;
        }
        let roll = rng.below(100);
        let src = match roll {
            0..=44 => "postfix",
            45..=74 => "okta",
            75..=79 => "m365",
            80..=84 => "gmail",
            85..=89 => "entra",
            90..=94 => "duo",
            95..=97 => "disclosures",
            _ => "training",
        };
        inc(&mut t.per_source, src);
        t.events += 1;
        let ts = iso(now, micros);
        match src {
            "postfix" => {
                let q = format!("{:X}", 0x1000_0000u64 + i);
                let d = DOMAINS[rng.below(DOMAINS.len() as u64) as usize];
                let rcpt = format!("r{}@{d}", rng.below(50_000));
                let pid = 10_000 + rng.below(5000);
                writeln!(
                    postfix,
                    "{ts} mx-out postfix/cleanup[{pid}]: {q}: message-id=<{q}@hospital.example>"
                )?;
                writeln!(
                    postfix,
                    "{ts} mx-out postfix/qmgr[900]: {q}: from=<{user}>, size={}, nrcpt=1 (queue active)",
                    2000 + rng.below(90_000)
                )?;
                let p = rng.below(1000);
                let (kind, tls, status) = match p {
                    0..=29 => ("plaintext", None, "sent (250 OK)"),
                    30..=49 => (
                        "failed_tls",
                        None,
                        "deferred (Cannot start TLS: handshake failure)",
                    ),
                    50..=59 => ("tls_1_0", Some(("Untrusted", "TLSv1")), "sent (250 OK)"),
                    60..=79 => (
                        "unverified_peer",
                        Some(("Untrusted", "TLSv1.2")),
                        "sent (250 OK)",
                    ),
                    80..=299 => ("tls_1_2", Some(("Verified", "TLSv1.2")), "sent (250 OK)"),
                    _ => ("tls_1_3", Some(("Verified", "TLSv1.3")), "sent (250 OK)"),
                };
                inc(&mut t.postfix, kind);
                if let Some((lvl, ver)) = tls {
                    writeln!(
                        postfix,
                        "{ts} mx-out postfix/smtp[{pid}]: {lvl} TLS connection established to mx.{d}[192.0.2.{}]:25: {ver} with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
                        pid % 250
                    )?;
                }
                let dsn = if kind == "failed_tls" {
                    "4.7.5"
                } else {
                    "2.0.0"
                };
                writeln!(
                    postfix,
                    "{ts} mx-out postfix/smtp[{pid}]: {q}: to=<{rcpt}>, relay=mx.{d}[192.0.2.{}]:25, delay=0.4, delays=0.1/0/0.1/0.2, dsn={dsn}, status={status}",
                    pid % 250
                )?;
                // as qmgr logs it once a message has left the queue (a
                // deferred one stays queued): a parser holds a message's
                // sender and message-id only until then, as on real logs
                if kind != "failed_tls" {
                    writeln!(postfix, "{ts} mx-out postfix/qmgr[900]: {q}: removed")?;
                }
            }
            "okta" => {
                let f = rng.below(100);
                let (event, outcome, factor, mfa) = match f {
                    0..=54 => (
                        "user.authentication.auth_via_mfa",
                        "SUCCESS",
                        "Okta Verify Push",
                        true,
                    ),
                    55..=69 => (
                        "user.authentication.auth_via_mfa",
                        "SUCCESS",
                        "Google Authenticator",
                        true,
                    ),
                    70..=79 => (
                        "user.authentication.auth_via_mfa",
                        "SUCCESS",
                        "FIDO2 (WebAuthn)",
                        true,
                    ),
                    80..=89 => ("user.session.start", "SUCCESS", "", false),
                    90..=95 => (
                        "user.authentication.auth_via_mfa",
                        "FAILURE",
                        "Google Authenticator",
                        false,
                    ),
                    _ => ("user.mfa.okta_verify.deny_push", "FAILURE", "", false),
                };
                inc(
                    &mut t.okta,
                    &format!("{outcome}:{}", if mfa { "mfa" } else { "no_mfa" }),
                );
                let target = if factor.is_empty() {
                    "[{\"type\":\"AppInstance\",\"displayName\":\"Epic Hyperspace\"}]".to_string()
                } else {
                    format!(
                        "[{{\"type\":\"AppInstance\",\"displayName\":\"Epic Hyperspace\"}},{{\"type\":\"AuthenticatorEnrollment\",\"displayName\":\"{factor}\",\"detailEntry\":{{\"methodTypeUsed\":\"{factor}\"}}}}]"
                    )
                };
                writeln!(
                    okta,
                    "{{\"uuid\":\"{:016x}-{i:012x}\",\"published\":\"{}\",\"eventType\":\"{event}\",\"actor\":{{\"type\":\"User\",\"alternateId\":\"{user}\"}},\"client\":{{\"ipAddress\":\"198.51.100.{}\"}},\"outcome\":{{\"result\":\"{outcome}\"}},\"target\":{target}}}",
                    seed,
                    ts,
                    rng.below(250)
                )?;
                if i % 100_000 == 99_999 {
                    // an MFA-fatigue burst: six denied pushes in six minutes
                    t.fatigue_bursts += 1;
                    for k in 0..6 {
                        writeln!(
                            okta,
                            "{{\"uuid\":\"fatigue-{seed:x}-{i}-{k}\",\"published\":\"{}\",\"eventType\":\"user.mfa.okta_verify.deny_push\",\"actor\":{{\"type\":\"User\",\"alternateId\":\"fatigued{i}@hospital.example\"}},\"outcome\":{{\"result\":\"FAILURE\"}},\"target\":[]}}",
                            iso(now + k * 60, 0)
                        )?;
                        t.events += 1;
                        inc(&mut t.per_source, "okta");
                        inc(&mut t.okta, "FAILURE:no_mfa");
                    }
                }
            }
            "m365" => {
                let st = if rng.permille(950) {
                    "Delivered"
                } else {
                    "Failed"
                };
                writeln!(
                    m365,
                    "\"{}\",\"{user}\",\"ext{}@{}\",\"Statement\",\"{st}\",\"52.101.0.1\",\"10.0.0.1\",\"{}\",\"<m{i}@hospital.example>\",\"{:08x}-0000-4000-8000-{i:012x}\"",
                    &ts[..26],
                    rng.below(10_000),
                    DOMAINS[rng.below(8) as usize],
                    1000 + rng.below(100_000),
                    seed
                )?;
            }
            "gmail" => {
                let v = if rng.permille(700) {
                    "TLSv1.3"
                } else {
                    "TLSv1.2"
                };
                writeln!(
                    gmail,
                    "{{\"event_info\":{{\"timestamp_usec\":{},\"success\":true,\"mail_event_type\":1}},\"message_info\":{{\"rfc2822_message_id\":\"<g{i}@hospital.example>\",\"source\":{{\"address\":\"{user}\"}},\"destination\":[{{\"address\":\"p{}@{}\",\"rcpt_response\":\"250 OK\"}}],\"connection_info\":{{\"smtp_tls_version\":\"{v}\",\"smtp_tls_cipher\":\"TLS_AES_128_GCM_SHA256\"}}}}}}",
                    now * 1_000_000 + micros as i64,
                    rng.below(10_000),
                    DOMAINS[rng.below(8) as usize]
                )?;
            }
            "entra" => {
                let (m, req) = if rng.permille(800) {
                    ("Mobile app notification", "multiFactorAuthentication")
                } else {
                    ("Password", "singleFactorAuthentication")
                };
                writeln!(
                    entra,
                    "{{\"id\":\"{seed:x}-{i}\",\"createdDateTime\":\"{}\",\"userPrincipalName\":\"{user}\",\"appDisplayName\":\"Office 365\",\"ipAddress\":\"198.51.100.9\",\"status\":{{\"errorCode\":0}},\"authenticationRequirement\":\"{req}\",\"authenticationDetails\":[{{\"authenticationMethod\":\"Password\",\"succeeded\":true}},{{\"authenticationMethod\":\"{m}\",\"succeeded\":true}}]}}",
                    &ts[..19]
                )?;
            }
            "duo" => {
                let (f, r) = if rng.permille(930) {
                    ("duo_push", "success")
                } else {
                    ("duo_push", "denied")
                };
                writeln!(
                    duo,
                    "{{\"txid\":\"{seed:x}-{i}\",\"timestamp\":{now},\"factor\":\"{f}\",\"result\":\"{r}\",\"user\":{{\"name\":\"{user}\"}},\"application\":{{\"name\":\"VPN\"}},\"access_device\":{{\"ip\":\"192.0.2.7\"}}}}"
                )?;
            }
            "disclosures" => {
                let b = BASES[rng.below(BASES.len() as u64) as usize];
                let accountable =
                    sealtrail_format::model::accountable_for_basis(b).unwrap_or(false);
                if accountable && patient.ends_with('7') {
                    *t.accountable_by_patient.entry(patient.clone()).or_default() += 1;
                }
                writeln!(
                    disc,
                    "D{seed:x}-{i},{},{patient},Recipient {},\"1 Main St\",lab results,purpose {},{b},,",
                    &ts[..10],
                    rng.below(40),
                    rng.below(5)
                )?;
            }
            _ => {
                let st = ["completed", "passed", "assigned", "failed"][rng.below(4) as usize];
                let done = if st == "completed" || st == "passed" {
                    &ts[..10]
                } else {
                    ""
                };
                writeln!(
                    train,
                    "{user},HIPAA Security {},security,{st},{done},2026-12-31,{}",
                    i,
                    rng.below(100)
                )?;
            }
        }
    }
    for w in [
        &mut postfix,
        &mut okta,
        &mut m365,
        &mut gmail,
        &mut entra,
        &mut duo,
        &mut disc,
        &mut train,
    ] {
        w.flush()?;
    }
    t.period = (
        iso(START, 0)[..10].to_string(),
        iso(now, 0)[..10].to_string(),
    );
    // keep only a handful of patients in the truth, to bound its size
    let keep: Vec<String> = t.accountable_by_patient.keys().take(20).cloned().collect();
    t.accountable_by_patient.retain(|k, _| keep.contains(k));
    std::fs::write(
        out.join("truth.json"),
        serde_json::to_vec_pretty(&t).unwrap_or_default(),
    )?;
    Ok(t)
}

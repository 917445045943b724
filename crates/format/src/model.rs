//! The canonical event model: one flat, nullable record for every leaf.
//!
//! Every source is normalised into a [`Record`]. Its canonical JSON
//! serialisation ([`Record::to_leaf`]) is the exact byte string that is hashed
//! into the log (FORMAT.md §2), and the typed Parquet columns are derived from
//! it. Field names are a contract with queries, packs and auditors: they may
//! grow, never change.
//!
//! This module owns the field list, the allowed values of every enumerated
//! field, the per-kind required fields and the derivations (`recipient_domain`,
//! `accountable`). It does no I/O.

use std::fmt;

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Version of the leaf JSON layout written in the `v` field (FORMAT.md §2).
pub const LEAF_VERSION: u32 = 1;

/// What a leaf records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One delivery attempt of one message to one recipient.
    Delivery,
    /// A sign-in or MFA event.
    Auth,
    /// A read or change of PHI inside a system.
    Access,
    /// A disclosure of PHI (45 CFR 164.528(b)).
    Disclosure,
    /// A workforce training record.
    Training,
    /// Input that could not be parsed; the raw bytes are kept.
    Quarantine,
    /// One source's event count for one hour of ingestion.
    Coverage,
    /// Store administration and reads of evidence.
    Admin,
    /// A patient's request for an accounting of disclosures.
    AccountingRequest,
}

impl Kind {
    /// The name used in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Delivery => "delivery",
            Kind::Auth => "auth",
            Kind::Access => "access",
            Kind::Disclosure => "disclosure",
            Kind::Training => "training",
            Kind::Quarantine => "quarantine",
            Kind::Coverage => "coverage",
            Kind::Admin => "admin",
            Kind::AccountingRequest => "accounting_request",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A UTC instant with microsecond precision, written as
/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` in leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ts(pub i64);

impl Ts {
    /// The current wall-clock time, truncated to microseconds.
    pub fn now() -> Ts {
        Ts(Utc::now().timestamp_micros())
    }

    /// Converts to chrono; `None` outside chrono's range.
    pub fn to_datetime(self) -> Option<DateTime<Utc>> {
        Utc.timestamp_micros(self.0).single()
    }

    /// Parses RFC 3339 with any offset, normalising to UTC microseconds
    /// (sub-microsecond digits are truncated).
    pub fn parse_rfc3339(s: &str) -> Option<Ts> {
        if let Some(t) = Ts::parse_rfc3339_common(s.as_bytes()) {
            return Some(t);
        }
        Ts::parse_rfc3339_by_chrono(s)
    }

    /// The definition of [`Ts::parse_rfc3339`]: chrono's RFC 3339 parser.
    fn parse_rfc3339_by_chrono(s: &str) -> Option<Ts> {
        let dt = DateTime::parse_from_rfc3339(s).ok()?;
        Some(Ts(dt.with_timezone(&Utc).timestamp_micros()))
    }

    /// The form nearly every log writes, `YYYY-MM-DDTHH:MM:SS[.f]` then `Z`
    /// or `±HH:MM` (years 0001 to 9999, no leap second), read without
    /// chrono: ~600 instructions a line by chrono, the most of a Postfix
    /// header's parse (docs/BENCHMARKS.md, session 14). `None` for any
    /// other text, which chrono then reads; a test holds the two equal.
    fn parse_rfc3339_common(b: &[u8]) -> Option<Ts> {
        let digits = |r: std::ops::Range<usize>| -> Option<i64> {
            b.get(r)?.iter().try_fold(0i64, |n, &c| {
                c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
            })
        };
        for (at, sep) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
            if b.get(at) != Some(&sep) {
                return None;
            }
        }
        let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        let (hh, mm, ss) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
        if y < 1 || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return None;
        }
        if hh > 23 || mm > 59 || ss > 59 {
            return None;
        }
        // a fraction of 1 to 9 digits, truncated to microseconds
        let mut i = 19;
        let mut micros = 0i64;
        if b.get(i) == Some(&b'.') {
            let n = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if !(1..=9).contains(&n) {
                return None;
            }
            let kept = n.min(6);
            micros = digits(i + 1..i + 1 + kept)? * 10i64.pow((6 - kept) as u32);
            i += 1 + n;
        }
        let offset = match b.get(i..)? {
            b"Z" => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let two = |a: u8, b: u8| -> Option<i64> {
                    (a.is_ascii_digit() && b.is_ascii_digit())
                        .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
                };
                let (oh, om) = (two(*h1, *h2)?, two(*m1, *m2)?);
                if oh > 23 || om > 59 {
                    return None;
                }
                let o = oh * 3600 + om * 60;
                if *sign == b'-' { -o } else { o }
            }
            _ => return None,
        };
        let secs = days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss - offset;
        Some(Ts(secs * 1_000_000 + micros))
    }

    /// Whether the instant has a canonical form that reads back to itself
    /// (years 0001 to 9999): leaves may only hold such times.
    pub fn representable(self) -> bool {
        // 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z in µs
        const MIN: i64 = -62_135_596_800_000_000;
        const MAX: i64 = 253_402_300_799_999_999;
        (MIN..=MAX).contains(&self.0)
    }

    /// The canonical text form used in leaves.
    pub fn to_canonical(self) -> String {
        match self.canonical_bytes() {
            // the 27 bytes are ASCII digits and separators
            Some(b) => b.iter().map(|&c| c as char).collect(),
            None => match self.to_datetime() {
                Some(dt) => dt.to_rfc3339_opts(SecondsFormat::Micros, true),
                None => format!("@{}", self.0),
            },
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ` for a representable instant, written
    /// without chrono or an allocation: every leaf holds two or more, and
    /// both ingest (serialising) and verify (comparing) write them. Equal to
    /// chrono's `to_rfc3339_opts(Micros, true)` over the whole range (tested).
    pub fn canonical_bytes(self) -> Option<[u8; 27]> {
        if !self.representable() {
            return None;
        }
        let days = self.0.div_euclid(86_400_000_000);
        let of_day = self.0.rem_euclid(86_400_000_000);
        let (y, m, d) = civil_from_days(days);
        let (secs, micros) = (of_day / 1_000_000, of_day % 1_000_000);
        let mut out = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, width: usize, mut v: i64| {
            for k in (at..at + width).rev() {
                out[k] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, y);
        put(5, 2, m);
        put(8, 2, d);
        put(11, 2, secs / 3600);
        put(14, 2, secs / 60 % 60);
        put(17, 2, secs % 60);
        put(20, 6, micros);
        Some(out)
    }

    /// Reads exactly the canonical form [`Ts::canonical_bytes`] writes;
    /// `None` for any other text (other forms are read by
    /// [`Ts::parse_rfc3339`]).
    pub fn from_canonical(s: &[u8]) -> Option<Ts> {
        if s.len() != 27 {
            return None;
        }
        let num = |from: usize, to: usize| -> Option<i64> {
            s[from..to].iter().try_fold(0i64, |n, &c| {
                c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
            })
        };
        for (at, sep) in [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
            (26, b'Z'),
        ] {
            if s[at] != sep {
                return None;
            }
        }
        let (y, m, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
        let (hh, mm, ss, us) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 26)?);
        if y < 1 || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return None;
        }
        if hh > 23 || mm > 59 || ss > 59 {
            return None;
        }
        let secs = days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss;
        Some(Ts(secs * 1_000_000 + us))
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl fmt::Display for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_canonical())
    }
}

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // (the canonical bytes are ASCII, so the first arm is always taken
        // for a representable instant)
        match self
            .canonical_bytes()
            .as_ref()
            .map(|b| std::str::from_utf8(b))
        {
            Some(Ok(text)) => s.serialize_str(text),
            _ => s.serialize_str(&self.to_canonical()),
        }
    }
}

impl<'de> Deserialize<'de> for Ts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // a visitor, so the text is read where it lies (no String per time)
        struct TsText;
        impl serde::de::Visitor<'_> for TsText {
            type Value = Ts;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Ts, E> {
                Ts::from_canonical(s.as_bytes())
                    .or_else(|| Ts::parse_rfc3339(s))
                    .ok_or_else(|| E::custom("expected an RFC 3339 timestamp"))
            }
        }
        d.deserialize_str(TsText)
    }
}

/// A calendar date, written as `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub NaiveDate);

impl Date {
    /// Days since 1970-01-01 (Arrow `Date32`).
    pub fn days_since_epoch(self) -> i32 {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        (self.0 - epoch).num_days() as i32
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.format("%Y-%m-%d").to_string())
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        NaiveDate::parse_from_str(&s, "%Y-%m-%d")
            .map(Date)
            .map_err(|_| serde::de::Error::custom("expected a date YYYY-MM-DD"))
    }
}

/// One canonical event. Every field but the first five is optional; which
/// ones a kind requires is checked by [`Record::validate`].
///
/// Field order here is the key order of the leaf JSON (FORMAT.md §2).
#[allow(missing_docs)]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    #[serde(default)]
    pub v: u32,
    pub kind: Option<Kind>,
    pub ts: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingested_at: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_event_id: Option<String>,
    // delivery
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cipher: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_peer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_failed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsn: Option<String>,
    /// Whether the mail left the organisation (FORMAT.md §2.2); added to
    /// leaf version 1 as an optional field, so older leaves stay canonical.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phi: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<String>,
    // auth and access
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phishing_resistant: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    // disclosure
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accountable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_until: Option<Date>,
    // training
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    // quarantine
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_ref: Option<String>,
    // coverage
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_end: Option<Ts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    // admin
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    // the original input: UTF-8 text, or base64 where it is not valid UTF-8
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_b64: Option<String>,
}

/// Allowed values of each enumerated field (FORMAT.md §2.2).
pub mod values {
    /// `delivery.status`
    pub const DELIVERY_STATUS: &[&str] = &["delivered", "deferred", "bounced", "rejected"];
    /// `delivery.encryption`
    pub const ENCRYPTION: &[&str] = &["tls", "portal", "pgp", "smime", "none", "unknown"];
    /// `delivery.direction`: outbound left the organisation, inbound came
    /// from outside, internal stayed inside; unknown where the log does not say.
    pub const DIRECTION: &[&str] = &["outbound", "inbound", "internal", "unknown"];
    /// `delivery.tls_peer`
    pub const TLS_PEER: &[&str] = &["verified", "trusted", "untrusted", "anonymous", "none"];
    /// `auth.outcome`
    pub const AUTH_OUTCOME: &[&str] = &["success", "failure", "denied", "fraud"];
    /// `auth.factor`
    pub const FACTOR: &[&str] = &[
        "push", "totp", "sms", "voice", "webauthn", "password", "other",
    ];
    /// `disclosure.basis`
    pub const BASIS: &[&str] = &[
        "tpo",
        "individual",
        "incidental",
        "authorization",
        "directory",
        "national_security",
        "correctional",
        "limited_data_set",
        "required_by_law",
        "public_health",
        "abuse_report",
        "health_oversight",
        "judicial",
        "law_enforcement",
        "decedent",
        "organ_donation",
        "research",
        "serious_threat",
        "workers_comp",
        "other",
    ];
    /// Bases excluded from the accounting by 45 CFR 164.528(a)(1)(i)–(viii).
    pub const NOT_ACCOUNTABLE: &[&str] = &[
        "tpo",
        "individual",
        "incidental",
        "authorization",
        "directory",
        "national_security",
        "correctional",
        "limited_data_set",
    ];
    /// `training.status`
    pub const TRAINING_STATUS: &[&str] = &["assigned", "completed", "passed", "failed", "waived"];
}

/// Whether a disclosure with this basis belongs in an accounting
/// (45 CFR 164.528(a)(1)). `None` for an unknown basis.
pub fn accountable_for_basis(basis: &str) -> Option<bool> {
    if !values::BASIS.contains(&basis) {
        return None;
    }
    Some(!values::NOT_ACCOUNTABLE.contains(&basis))
}

/// The key patient ids are compared by (FORMAT.md §17): every ASCII whitespace
/// character removed and ASCII letters upper-cased, so ` mrn-001 ` and
/// `MRN-001` are the same patient. Comparison is then exact: never a prefix
/// or pattern, so `MRN-0010` is another patient.
pub fn patient_key(id: &str) -> String {
    id.chars()
        .filter(|c| !c.is_ascii_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The bare address of a mailbox as logs write it (FORMAT.md §2.5): a
/// display name and angle brackets are removed (`Dr Who <a@B.example>` →
/// `a@b.example`), surrounding whitespace and quotes trimmed, and the domain
/// lower-cased; the local part is kept as written (it may be case-sensitive)
/// and an internationalised domain is kept in Unicode (its punycode form is
/// `recipient_domain`). Anything without an `@` is returned trimmed.
pub fn bare_address(s: &str) -> String {
    bare_address_of(s).into_owned()
}

/// [`bare_address`], borrowing from `s` when the bare address is a part of
/// it as written (the usual case: no display name, a lower-case domain), so
/// that deriving a record already bare allocates nothing.
fn bare_address_of(s: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    // `<`, `>` and `@` are searched as bytes (in UTF-8 such a byte is only
    // ever that character): the standard library's character searches set
    // up a word-wise scan per call, which cost more than these ~25-byte
    // addresses (`derive`, which reads four per delivery, was 4.6 % of a
    // Postfix ingest's instructions outside SHA-256; docs/BENCHMARKS.md,
    // session 14)
    let last = |a: &str, c: u8| a.bytes().rposition(|b| b == c);
    let mut a = s.trim();
    if let Some(open) = last(a, b'<')
        && let Some(close) = a.bytes().skip(open).position(|b| b == b'>')
    {
        a = &a[open + 1..open + close];
    }
    let a = a
        .trim()
        .trim_matches(|c| c == '"' || c == '\'' || c == '<' || c == '>');
    let a = a.strip_prefix("mailto:").unwrap_or(a).trim();
    match last(a, b'@').map(|at| (&a[..at], &a[at + 1..])) {
        Some((local, domain)) => {
            let d = domain.trim_end_matches('.');
            let lower = if d.is_ascii() {
                !d.bytes().any(|b| b.is_ascii_uppercase())
            } else {
                d.to_lowercase() == d
            };
            if lower && d.len() == domain.len() {
                Cow::Borrowed(a)
            } else {
                Cow::Owned(format!("{local}@{}", d.to_lowercase()))
            }
        }
        None => Cow::Borrowed(a),
    }
}

/// A domain in ASCII (punycode for internationalised names, RFC 5891),
/// lower-cased; as written, lower-cased, if it cannot be converted.
pub fn ascii_domain(d: &str) -> String {
    let d = d.trim().trim_end_matches('.');
    if d.is_ascii() {
        return d.to_ascii_lowercase();
    }
    idna::domain_to_ascii(d).unwrap_or_else(|_| d.to_lowercase())
}

/// Earliest event time accepted from a source (FORMAT.md §11.3).
pub const EARLIEST_EVENT: Ts = Ts(946_684_800_000_000); // 2000-01-01T00:00:00Z
/// How far ahead of ingestion an event time may lie (clock skew).
pub const MAX_AHEAD_MICROS: i64 = 86_400_000_000;

/// Whether an event time read from a source is plausible at ingestion time
/// `now`: `Err` names the field and the likely unit error, never the value.
pub fn plausible_time(field: &'static str, t: Ts, now: Ts) -> Result<(), String> {
    if t < EARLIEST_EVENT {
        let hint = if t.0 >= 0 && t.0 < 366 * 86_400_000_000 {
            "; a time in 1970 usually means a count of seconds was read as milliseconds (or milliseconds as microseconds)"
        } else {
            ""
        };
        return Err(format!(
            "field `{field}` is before 2000-01-01, which no log sealtrail reads can hold{hint}"
        ));
    }
    if t.0 > now.0.saturating_add(MAX_AHEAD_MICROS) {
        let hint = if t.0 > 32_503_680_000_000_000 {
            "; a time after the year 3000 usually means milliseconds were read as seconds"
        } else {
            "; check the source's clock and time zone"
        };
        return Err(format!(
            "field `{field}` is more than a day after ingestion{hint}"
        ));
    }
    Ok(())
}

/// Why a record is not a valid canonical event. Names fields, never values,
/// so it can be shown to clients without leaking PHI.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A field the kind requires is absent.
    #[error("missing required field `{0}`")]
    Missing(&'static str),
    /// An enumerated field holds a value outside its list.
    #[error("field `{field}` has an unknown value; expected one of: {allowed}")]
    BadValue {
        /// The field.
        field: &'static str,
        /// The allowed values, comma-separated.
        allowed: String,
    },
    /// A derived field disagrees with its derivation.
    #[error("field `{0}` disagrees with the value derived from the other fields")]
    Derived(&'static str),
    /// A time outside years 0001–9999.
    #[error("field `{0}` is outside the years 0001 to 9999")]
    TimeRange(&'static str),
    /// Unsupported leaf layout version.
    #[error("unsupported leaf version {0}; this sealtrail reads version {LEAF_VERSION}")]
    Version(u32),
}

fn check_enum(
    field: &'static str,
    value: &Option<String>,
    allowed: &[&str],
) -> Result<(), ModelError> {
    match value {
        Some(v)
            if !allowed
                .iter()
                .any(|a| crate::eq::bytes_eq(a.as_bytes(), v.as_bytes())) =>
        {
            Err(ModelError::BadValue {
                field,
                allowed: allowed.join(", "),
            })
        }
        _ => Ok(()),
    }
}

fn require<T>(field: &'static str, value: &Option<T>) -> Result<(), ModelError> {
    if value.is_none() {
        Err(ModelError::Missing(field))
    } else {
        Ok(())
    }
}

impl Record {
    /// A record of `kind` at `ts` from `source`, every other field empty.
    pub fn new(kind: Kind, ts: Ts, source: &str) -> Record {
        Record {
            v: LEAF_VERSION,
            kind: Some(kind),
            ts: Some(ts),
            source: Some(source.to_string()),
            ..Record::default()
        }
    }

    /// The record's kind (validated records always have one).
    pub fn kind(&self) -> Kind {
        self.kind.unwrap_or(Kind::Quarantine)
    }

    /// Fills derived fields: `recipient_domain` from `recipient`,
    /// `accountable` from `basis`, and `encryption = unknown` for deliveries
    /// that do not say.
    pub fn derive(&mut self) {
        if self.kind == Some(Kind::Delivery) {
            for a in [&mut self.recipient, &mut self.sender] {
                if let Some(written) = a.as_deref()
                    && let bare = bare_address_of(written)
                    && bare != written
                {
                    *a = Some(bare.into_owned());
                }
            }
            if self.direction.is_none() {
                self.direction = Some("unknown".into());
            }
        }
        // RFC 5322 msg-id: the angle brackets are syntax, not part of the id;
        // every enclosing pair goes, so that deriving again changes nothing
        if let Some(m) = &self.message_id {
            let mut id = m.as_str();
            while let Some(inner) = id
                .trim()
                .strip_prefix('<')
                .and_then(|i| i.strip_suffix('>'))
            {
                id = inner;
            }
            if id.len() != m.len() {
                self.message_id = Some(id.to_string());
            }
        }
        if self.recipient_domain.is_none()
            && let Some(r) = &self.recipient
            && let Some((_, d)) = r.rsplit_once('@')
        {
            self.recipient_domain = Some(ascii_domain(d));
        }
        if self.accountable.is_none()
            && let Some(b) = &self.basis
        {
            self.accountable = accountable_for_basis(b);
        }
        if self.kind == Some(Kind::Delivery) && self.encryption.is_none() {
            self.encryption = Some("unknown".into());
        }
    }

    /// Checks the version, the kind's required fields, enumerated values and
    /// derived fields.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.v != LEAF_VERSION {
            return Err(ModelError::Version(self.v));
        }
        require("kind", &self.kind)?;
        require("ts", &self.ts)?;
        require("source", &self.source)?;
        for (field, t) in [
            ("ts", self.ts),
            ("ingested_at", self.ingested_at),
            ("completed_at", self.completed_at),
            ("due_at", self.due_at),
            ("window_start", self.window_start),
            ("window_end", self.window_end),
        ] {
            if t.is_some_and(|t| !t.representable()) {
                return Err(ModelError::TimeRange(field));
            }
        }
        if self.score.is_some_and(|s| !s.is_finite()) {
            return Err(ModelError::Derived("score"));
        }
        match self.kind() {
            Kind::Delivery => {
                require("recipient", &self.recipient)?;
                require("status", &self.status)?;
                check_enum("status", &self.status, values::DELIVERY_STATUS)?;
                check_enum("encryption", &self.encryption, values::ENCRYPTION)?;
                check_enum("tls_peer", &self.tls_peer, values::TLS_PEER)?;
                check_enum("direction", &self.direction, values::DIRECTION)?;
            }
            Kind::Auth => {
                require("user", &self.user)?;
                require("outcome", &self.outcome)?;
                check_enum("outcome", &self.outcome, values::AUTH_OUTCOME)?;
                check_enum("factor", &self.factor, values::FACTOR)?;
            }
            Kind::Access => {
                require("user", &self.user)?;
                require("action", &self.action)?;
            }
            Kind::Disclosure => {
                require("patient_id", &self.patient_id)?;
                require("recipient_name", &self.recipient_name)?;
                require("purpose", &self.purpose)?;
                require("basis", &self.basis)?;
                check_enum("basis", &self.basis, values::BASIS)?;
                let derived = self.basis.as_deref().and_then(accountable_for_basis);
                if self.accountable != derived {
                    return Err(ModelError::Derived("accountable"));
                }
            }
            Kind::Training => {
                require("user", &self.user)?;
                require("course", &self.course)?;
                require("status", &self.status)?;
                check_enum("status", &self.status, values::TRAINING_STATUS)?;
            }
            Kind::Quarantine => {
                require("reason", &self.reason)?;
                require("input_ref", &self.input_ref)?;
            }
            Kind::Coverage => {
                require("window_start", &self.window_start)?;
                require("window_end", &self.window_end)?;
                require("count", &self.count)?;
            }
            Kind::Admin => require("action", &self.action)?,
            Kind::AccountingRequest => require("patient_id", &self.patient_id)?,
        }
        Ok(())
    }

    /// The canonical leaf bytes (FORMAT.md §2): compact JSON, keys in the
    /// order of this struct, absent fields omitted.
    ///
    /// These are the bytes serde_json writes for the record (the
    /// definition, [`Record::serialises_to`]), written by the leaf module's
    /// table of fields, which a test holds to serde's output: serde_json
    /// scanned every string a byte at a time (half of a leaf's writing,
    /// docs/BENCHMARKS.md, session 14).
    pub fn to_leaf(&self) -> Vec<u8> {
        // Written into one buffer per thread and copied out at its exact
        // length: a leaf is kept until its seal, and growing a fresh vector
        // cost three reallocations per leaf.
        thread_local! {
            static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUF.with_borrow_mut(|buf| {
            buf.clear();
            crate::leaf::write(self, buf);
            buf.as_slice().to_vec()
        })
    }

    /// Whether the canonical leaf bytes of this record are exactly `leaf`,
    /// compared while serialising (no copy: verification does this per row).
    pub fn serialises_to(&self, leaf: &[u8]) -> bool {
        struct SameAs<'a> {
            rest: &'a [u8],
            same: bool,
        }
        impl std::io::Write for SameAs<'_> {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                match self.rest.strip_prefix(buf) {
                    Some(rest) if self.same => self.rest = rest,
                    _ => self.same = false,
                }
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut w = SameAs {
            rest: leaf,
            same: true,
        };
        serde_json::to_writer(&mut w, self).is_ok() && w.same && w.rest.is_empty()
    }

    /// Parses leaf bytes strictly: unknown or duplicate keys are errors, the
    /// record must validate, and re-serialising it must give back exactly the
    /// same bytes, so a leaf can only ever mean one thing.
    ///
    /// A canonical leaf is read in one pass (`leaf.rs`); anything else is
    /// decided, with its reason, by the definition itself
    /// ([`Record::from_leaf_by_reserialising`]).
    pub fn from_leaf(leaf: &[u8]) -> Result<Record, LeafError> {
        match crate::leaf::read(leaf) {
            Some(rec) => Ok(rec),
            None => Record::from_leaf_by_reserialising(leaf),
        }
    }

    /// [`Record::from_leaf`] without `raw` and `raw_b64`: the leaf is
    /// checked exactly as [`Record::from_leaf`] checks it (the same leaves
    /// are accepted, with the same errors), but those two fields, the input
    /// as received and read by no typed column, are left `None` instead of
    /// being copied out. What a seal and `verify` derive the typed columns
    /// from.
    pub fn from_leaf_without_raw(leaf: &[u8]) -> Result<Record, LeafError> {
        let mut rec = Record::default();
        rec.read_leaf_without_raw(leaf)?;
        Ok(rec)
    }

    /// [`Record::from_leaf_without_raw`] into this record, reusing its
    /// strings' allocations (a seal and `verify` read every leaf of a
    /// segment into one record). On `Ok` this is exactly the record
    /// [`Record::from_leaf_without_raw`] returns, whatever it held before;
    /// on `Err` it holds no meaningful record.
    pub fn read_leaf_without_raw(&mut self, leaf: &[u8]) -> Result<(), LeafError> {
        self.read_leaf_fields(leaf).map(|_| ())
    }

    /// [`Record::read_leaf_without_raw`], also saying which fields the leaf
    /// holds when the one-pass reader read it (`None` when the defining
    /// parse did, which says nothing of them): a caller comparing columns
    /// with the record may then skip the fields a leaf leaves out.
    pub fn read_leaf_fields(&mut self, leaf: &[u8]) -> Result<Option<FieldSet>, LeafError> {
        if let Some(present) = crate::leaf::read_into(leaf, self, false) {
            return Ok(Some(FieldSet(present)));
        }
        let mut rec = Record::from_leaf_by_reserialising(leaf)?;
        rec.raw = None;
        rec.raw_b64 = None;
        *self = rec;
        Ok(None)
    }

    /// [`Record::from_leaf`] by its definition: serde's strict parse,
    /// validation, and a byte-for-byte comparison with the record
    /// serialised again.
    pub fn from_leaf_by_reserialising(leaf: &[u8]) -> Result<Record, LeafError> {
        let rec: Record = serde_json::from_slice(leaf).map_err(|e| LeafError::Json {
            column: e.column(),
            category: format!("{:?}", e.classify()).to_lowercase(),
        })?;
        rec.validate().map_err(LeafError::Model)?;
        if !rec.serialises_to(leaf) {
            return Err(LeafError::NotCanonical);
        }
        Ok(rec)
    }
}

/// A set of a record's fields (by their leaf keys): those a leaf holds, as
/// [`Record::read_leaf_fields`] reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldSet(u64);

impl FieldSet {
    /// The set holding only the field named `name`, if [`Record`] has one.
    pub fn of(name: &str) -> Option<FieldSet> {
        crate::leaf::field_bit(name).map(FieldSet)
    }

    /// Both sets' fields.
    pub fn union(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 | other.0)
    }

    /// The fields in both sets.
    pub fn intersection(self, other: FieldSet) -> FieldSet {
        FieldSet(self.0 & other.0)
    }

    /// Whether the set holds no field.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Why leaf bytes are not a valid canonical record.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LeafError {
    /// Not JSON of the record's shape (includes duplicate and unknown keys).
    #[error("leaf is not a valid record ({category} error at column {column})")]
    Json {
        /// Byte column of the error.
        column: usize,
        /// serde_json's error category.
        category: String,
    },
    /// Valid JSON that is not a valid record.
    #[error("leaf record is invalid: {0}")]
    Model(ModelError),
    /// Valid record whose bytes are not the canonical serialisation.
    #[error("leaf bytes are not the canonical serialisation of the record")]
    NotCanonical,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_rfc3339_form_reads_as_chrono_reads_it() {
        let mut texts = Vec::new();
        for date in [
            "2026-01-01",
            "1969-12-31",
            "1970-01-01",
            "0001-01-01",
            "9999-12-31",
            "0000-01-01",
            "2024-02-29",
            "2023-02-29",
            "2026-04-31",
            "2026-13-01",
            "2026-00-10",
            "2026-01-00",
            "2026-1-01",
            "20261-01-01",
        ] {
            for time in [
                "00:00:00", "23:59:59", "12:34:56", "24:00:00", "23:60:00", "23:59:60", "1:02:03",
            ] {
                for frac in [
                    "",
                    ".",
                    ".1",
                    ".12",
                    ".123456",
                    ".1234567",
                    ".123456789",
                    ".1234567890",
                    ".x",
                ] {
                    for zone in [
                        "Z", "z", "+00:00", "-00:00", "+05:30", "-23:59", "+23:59", "+24:00",
                        "-05:60", "+0000", "+05", "", " Z", "Z ", "+5:30",
                    ] {
                        for sep in ["T", "t", " "] {
                            texts.push(format!("{date}{sep}{time}{frac}{zone}"));
                        }
                    }
                }
            }
        }
        let mut common = 0;
        for t in &texts {
            let fast = Ts::parse_rfc3339_common(t.as_bytes());
            if fast.is_some() {
                common += 1;
                assert_eq!(fast, Ts::parse_rfc3339_by_chrono(t), "{t}");
            }
            assert_eq!(Ts::parse_rfc3339(t), Ts::parse_rfc3339_by_chrono(t), "{t}");
        }
        // without chrono: exactly the valid dates (6), times (3), fractions
        // (6, none among them), offsets (6) with `T`; the rest by chrono
        assert_eq!(common, 6 * 3 * 6 * 6);
    }

    #[test]
    fn bare_address_gives_the_bare_form_whether_it_borrows_or_not() {
        // each as the form before borrowing wrote it (a new string always)
        for (written, bare) in [
            ("a@b.example", "a@b.example"),
            ("A@B.Example", "A@b.example"),
            ("Dr Who <a@B.example>", "a@b.example"),
            (" a@b.example. ", "a@b.example"),
            ("a@b.example..", "a@b.example"),
            ("\"a@b\"@c.example", "a@b\"@c.example"),
            ("mailto:x@Y.example", "x@y.example"),
            ("<a@b.example>", "a@b.example"),
            ("x@bücher.example", "x@bücher.example"),
            ("x@BÜCHER.example", "x@bücher.example"),
            ("x@İ.example", "x@i\u{307}.example"),
            ("no-at-sign", "no-at-sign"),
            ("", ""),
            ("@", "@"),
            ("a@", "a@"),
            ("a@.", "a@"),
            ("A <a@b.example> <c@D.example>", "c@d.example"),
            ("a<b", "a<b"),
            ("<>", ""),
            ("é <x@Y.example>", "x@y.example"),
        ] {
            assert_eq!(bare_address(written), bare, "{written:?}");
        }
    }

    fn delivery() -> Record {
        let mut r = Record::new(Kind::Delivery, Ts(1_700_000_000_000_000), "postfix");
        r.recipient = Some("a@Example.org".into());
        r.status = Some("delivered".into());
        r.derive();
        r
    }

    #[test]
    fn serialising_to_compares_every_byte_and_the_length() {
        let mut r = delivery();
        r.raw = Some("line with \"quotes\", a tab\t and é".into());
        let leaf = r.to_leaf();
        assert!(r.serialises_to(&leaf));
        assert!(!r.serialises_to(&leaf[..leaf.len() - 1]), "a prefix");
        let mut longer = leaf.clone();
        longer.push(b' ');
        assert!(!r.serialises_to(&longer), "trailing bytes");
        for i in [0, leaf.len() / 2, leaf.len() - 1] {
            let mut changed = leaf.clone();
            changed[i] ^= 1;
            assert!(!r.serialises_to(&changed), "byte {i}");
        }
    }

    #[test]
    fn deriving_twice_changes_nothing() {
        // (ingest derives once since session 16; it derived twice before,
        // which stripped two pairs of brackets: that result is kept)
        for (written, id) in [
            ("<m@x>", "m@x"),
            ("<<m@x>>", "m@x"),
            (" < <m@x> > ", "m@x"),
            ("<<<m@x>>>", "m@x"),
            ("<m@x >", "m@x "),
            ("m@x", "m@x"),
            ("<m@x", "<m@x"),
            ("<>", ""),
        ] {
            let mut r = Record::new(Kind::Delivery, Ts(1_700_000_000_000_000), "gateway");
            r.message_id = Some(written.into());
            r.recipient = Some("Dr Who <Who@Example.ORG>".into());
            r.sender = Some("records@example.org".into());
            r.basis = Some("treatment".into());
            r.derive();
            assert_eq!(r.message_id.as_deref(), Some(id), "{written:?}");
            let once = r.to_leaf();
            r.derive();
            assert_eq!(r.to_leaf(), once, "{written:?}");
        }
        let mut every = crate::examples::record_with_every_field();
        every.derive();
        let once = every.to_leaf();
        every.derive();
        assert_eq!(every.to_leaf(), once);
    }

    #[test]
    fn leaf_round_trips_and_derives_domain() {
        let r = delivery();
        assert_eq!(r.recipient_domain.as_deref(), Some("example.org"));
        assert_eq!(r.encryption.as_deref(), Some("unknown"));
        let leaf = r.to_leaf();
        assert_eq!(Record::from_leaf(&leaf).unwrap(), r);
        assert!(String::from_utf8(leaf).unwrap().starts_with(
            r#"{"v":1,"kind":"delivery","ts":"2023-11-14T22:13:20.000000Z","source":"postfix""#
        ));
    }

    #[test]
    fn duplicate_keys_and_whitespace_are_rejected() {
        let leaf = delivery().to_leaf();
        let text = String::from_utf8(leaf).unwrap();
        let dup = text.replacen("{", r#"{"status":"bounced","#, 1);
        assert!(matches!(
            Record::from_leaf(dup.as_bytes()),
            Err(LeafError::Json { .. })
        ));
        let spaced = text.replacen(",", ", ", 1);
        assert_eq!(
            Record::from_leaf(spaced.as_bytes()),
            Err(LeafError::NotCanonical)
        );
    }

    #[test]
    fn representable_times_are_years_1_to_9999() {
        for (t, ok) in [
            ("0001-01-01T00:00:00Z", true),
            ("9999-12-31T23:59:59.999999Z", true),
            ("1969-07-20T20:17:40Z", true),
        ] {
            let ts = Ts::parse_rfc3339(t).unwrap();
            assert_eq!(ts.representable(), ok, "{t}");
            assert_eq!(Ts::parse_rfc3339(&ts.to_canonical()), Some(ts));
        }
        assert!(
            !Ts(Ts::parse_rfc3339("9999-12-31T23:59:59.999999Z").unwrap().0 + 1).representable()
        );
        assert!(!Ts(Ts::parse_rfc3339("0001-01-01T00:00:00Z").unwrap().0 - 1).representable());
    }

    /// The canonical `score` form is serde_json's float writer, which has
    /// changed between versions (ryu wrote `1e16`, zmij, since 1.0.15x,
    /// writes `1e+16`): pinned here, so an upgrade that changes it fails
    /// this test instead of making stored leaves non-canonical (FORMAT.md §2).
    #[test]
    fn the_score_form_is_pinned() {
        for (score, text) in [
            (87.5, "87.5"),
            (100.0, "100.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (0.00001, "0.00001"),
            (1e-7, "1e-7"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
        ] {
            let mut r = Record::new(Kind::Training, Ts(1_700_000_000_000_000), "lms");
            r.score = Some(score);
            let leaf = String::from_utf8(r.to_leaf()).expect("a leaf is UTF-8");
            assert!(
                leaf.contains(&format!(",\"score\":{text}")),
                "{score}: {leaf}"
            );
            assert_eq!(Record::from_leaf_by_reserialising(leaf.as_bytes()).err(), {
                // a training record without user/course is invalid, not non-canonical
                Some(LeafError::Model(ModelError::Missing("user")))
            });
        }
    }

    #[test]
    fn canonical_times_are_written_and_read_as_chrono_does() {
        const MIN: i64 = -62_135_596_800_000_000;
        const MAX: i64 = 253_402_300_799_999_999;
        // the ends, days around leap years and month ends, and a spread of
        // pseudo-random instants over the whole range
        let mut samples = vec![MIN, MAX, 0, -1, 1, 951_782_400_000_000, 951_868_799_999_999];
        for year_start in [
            -62_135_596_800i64,
            946_684_800,
            4_107_542_400,
            253_370_764_800,
        ] {
            for d in [0, 58, 59, 60, 364, 365] {
                samples.push((year_start + d * 86_400) * 1_000_000 - 1);
                samples.push((year_start + d * 86_400) * 1_000_000);
            }
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push(MIN + (x % (MAX - MIN) as u64) as i64);
        }
        for t in samples {
            let ts = Ts(t);
            let ours = ts
                .canonical_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            if !ts.representable() {
                assert_eq!(ours, None, "{t}");
                continue;
            }
            let chrono = ts
                .to_datetime()
                .map(|dt| dt.to_rfc3339_opts(SecondsFormat::Micros, true));
            assert_eq!(ours, chrono, "{t}");
            assert_eq!(
                Ts::from_canonical(ts.to_canonical().as_bytes()),
                Some(ts),
                "{t}"
            );
        }
        assert_eq!(Ts(MAX + 1).canonical_bytes(), None);
        assert_eq!(Ts(MIN - 1).canonical_bytes(), None);
        // other RFC 3339 forms are not canonical, and impossible dates are refused
        for text in [
            "2026-05-01T00:00:00Z",
            "2026-05-01T00:00:00.000000+00:00",
            "2026-05-01t00:00:00.000000Z",
            "2026-02-29T00:00:00.000000Z",
            "2026-04-31T00:00:00.000000Z",
            "2026-05-01T24:00:00.000000Z",
            "2026-05-01T00:00:60.000000Z",
            "0000-12-31T00:00:00.000000Z",
            "2026-05-01T00:00:00.00000aZ",
            "+026-05-01T00:00:00.000000Z",
        ] {
            assert_eq!(Ts::from_canonical(text.as_bytes()), None, "{text}");
        }
        assert!(Ts::from_canonical(b"2024-02-29T23:59:59.999999Z").is_some());
    }

    #[test]
    fn accountable_follows_basis() {
        assert_eq!(accountable_for_basis("tpo"), Some(false));
        assert_eq!(accountable_for_basis("public_health"), Some(true));
        assert_eq!(accountable_for_basis("bogus"), None);
    }
}

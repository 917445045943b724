//! Records for tests of this crate and of the crates built on it (the
//! `examples` feature): one definition, so every test that needs "a record
//! with every field" means the same one.

use crate::model::{Date, Kind, Record, Ts};

/// A valid delivery with every field of [`Record`] set (a delivery's checks
/// ignore the fields of other kinds), derived.
pub fn record_with_every_field() -> Record {
    let mut r = Record::new(Kind::Delivery, Ts(1_700_000_000_123_456), "postfix");
    let every = |s: &str| Some(s.to_string());
    r.ingested_at = Some(Ts(1_700_000_001_000_000));
    r.source_event_id = every("q1;a@b");
    r.message_id = every("m@x");
    r.sender = every("s@x.org");
    r.recipient = every("a@example.org");
    r.status = every("delivered");
    r.encryption = every("tls");
    r.tls_version = every("TLSv1.3");
    r.tls_cipher = every("TLS_AES_256_GCM_SHA384");
    r.tls_peer = every("verified");
    r.tls_failed = Some(false);
    r.relay = every("mx[1.2.3.4]:25");
    r.dsn = every("2.0.0");
    r.direction = every("outbound");
    r.phi = Some(true);
    r.patient_id = every("MRN-1");
    r.user = every("u");
    r.outcome = every("o");
    r.mfa = Some(true);
    r.factor = every("f");
    r.phishing_resistant = Some(false);
    r.app = every("a");
    r.ip = every("10.0.0.1");
    r.action = every("read");
    r.resource = every("chart");
    r.recipient_name = every("n");
    r.recipient_address = every("addr");
    r.description = every("d");
    r.purpose = every("p");
    r.course = every("c");
    r.topic = every("t");
    r.completed_at = Some(Ts(1));
    r.due_at = Some(Ts(-1));
    r.score = Some(87.5);
    r.suspended_until = Some(Date(
        chrono::NaiveDate::from_ymd_opt(2027, 2, 28).expect("a date"),
    ));
    r.reason = every("why");
    r.input_ref = every("f:1");
    r.window_start = Some(Ts(0));
    r.window_end = Some(Ts(3_600_000_000));
    r.count = Some(u64::MAX);
    r.detail = every("x");
    r.raw = every("line");
    r.raw_b64 = every("bGluZQ==");
    r.derive();
    r
}

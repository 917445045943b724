//! Every source adapter ingests its bundled fixture (written in the
//! vendor's real format by fixtures/generate.py) and the sealed result is
//! read back through DuckDB: exact counts and field values.

mod common;

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use common::{Env, duck, fixture, rows as q, starts, stdout};

fn files(source: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(fixture(source))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Copies a source's fixtures to the test's directory (so mtimes can be set).
fn copies(env: &Env, source: &str) -> Vec<PathBuf> {
    let dir = env.dir.path().join(source);
    fs::create_dir_all(&dir).unwrap();
    files(source)
        .into_iter()
        .map(|f| {
            let to = dir.join(f.file_name().unwrap());
            fs::copy(&f, &to).unwrap();
            to
        })
        .collect()
}

/// Ingests a source's fixtures; returns the summary line.
fn ingest(env: &Env, source: &str, paths: &[PathBuf]) -> String {
    let refs: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
    let o = env.ingest(&["--source", source], &refs);
    assert!(o.status.success(), "{}", common::stderr(&o));
    stdout(&o).lines().next().unwrap().to_string()
}

#[test]
fn postfix_rotated_logs_tls_join_and_year_turn() {
    let env = Env::new();
    let paths = copies(&env, "postfix");
    // the files were last written on 2 January 2026: RFC 3164 lines have no year
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_333_600);
    for p in &paths {
        fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
    let s = ingest(&env, "postfix", &paths);
    starts(
        &s,
        "postfix: read 417, sealed 71, duplicates 0, quarantined 1,",
    );
    assert_eq!(
        q(
            &env,
            "SELECT encryption, coalesce(tls_version,'-'), coalesce(tls_peer,'-'), coalesce(CAST(tls_failed AS VARCHAR),'-'), status, count(*) FROM leaves WHERE kind='delivery' GROUP BY ALL ORDER BY ALL"
        ),
        [
            "none|-|none|-|delivered|BigInt(8)",
            "none|-|none|true|deferred|BigInt(4)",
            "tls|TLSv1|untrusted|-|delivered|BigInt(4)",
            "tls|TLSv1.2|trusted|-|delivered|BigInt(14)",
            "tls|TLSv1.2|verified|-|delivered|BigInt(4)",
            "tls|TLSv1.3|verified|-|bounced|BigInt(1)",
            "tls|TLSv1.3|verified|-|delivered|BigInt(34)",
            "unknown|-|-|-|delivered|BigInt(2)",
        ]
    );
    // December 31 2025 → January 2026 across the two rotated files
    assert_eq!(
        q(
            &env,
            "SELECT CAST(min(ts) AS VARCHAR), CAST(max(ts) AS VARCHAR) FROM leaves WHERE kind='delivery' AND source_event_id NOT LIKE '4C%'"
        ),
        ["2025-12-31 23:12:00+00|2026-01-01 01:14:46+00"]
    );
    // the join: message-id and sender from cleanup/qmgr; deferred-then-sent keeps both attempts
    assert_eq!(
        q(
            &env,
            "SELECT message_id, sender, status, tls_version FROM leaves WHERE recipient = 'patient.liaison8@insurer.example' ORDER BY ts"
        ),
        [
            "msg0008@hospital.example|records@hospital.example|deferred|NULL",
            "msg0008@hospital.example|records@hospital.example|delivered|TLSv1.2"
        ]
    );
    // multi-recipient message on one connection; non-ASCII address; RFC 5424 microseconds
    assert_eq!(
        q(
            &env,
            "SELECT count(*) FROM leaves WHERE message_id = 'msg0100@hospital.example'"
        ),
        ["BigInt(3)"]
    );
    assert_eq!(
        q(
            &env,
            "SELECT recipient_domain FROM leaves WHERE recipient = 'jürgen.müller@labs.example.net'"
        ),
        ["labs.example.net"]
    );
    assert_eq!(
        q(
            &env,
            "SELECT CAST(ts AS VARCHAR) FROM leaves WHERE recipient = 'referrals1@labs.example.net'"
        ),
        ["2026-01-02 09:04:03.012345+00"]
    );
    // the subject of the header_checks warning is stored nowhere
    assert_eq!(
        q(
            &env,
            "SELECT count(*) FROM leaves WHERE decode(leaf) LIKE '%Lab results%'"
        ),
        ["BigInt(0)"]
    );
    assert_eq!(
        q(&env, "SELECT reason FROM leaves WHERE kind='quarantine'"),
        ["not a syslog line (no RFC 3164, RFC 5424 or ISO 8601 header)"]
    );
    assert!(env.verify(&[]).status.success());
}

#[test]
fn postfix_gzip_rotated_log() {
    let env = Env::new();
    let src = files("postfix")
        .into_iter()
        .find(|p| p.ends_with("maillog-rfc5424.log"))
        .unwrap();
    let gz = env.dir.path().join("maillog.1.gz");
    let mut enc = flate2::write::GzEncoder::new(
        fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    std::io::Write::write_all(&mut enc, &fs::read(&src).unwrap()).unwrap();
    enc.finish().unwrap();
    let s = ingest(&env, "postfix", &[gz]);
    starts(
        &s,
        "postfix: read 45, sealed 12, duplicates 0, quarantined 0,",
    );
}

#[test]
fn m365_message_trace_v2_legacy_and_extended() {
    let env = Env::new();
    let s = ingest(&env, "m365", &files("m365"));
    starts(&s, "m365: read 67, sealed 65, duplicates 0, quarantined 1,");
    // no TLS in a message trace: never guessed
    assert_eq!(
        q(
            &env,
            "SELECT encryption, status, count(*) FROM leaves WHERE kind='delivery' GROUP BY ALL ORDER BY ALL"
        ),
        [
            "unknown|bounced|BigInt(6)",
            "unknown|deferred|BigInt(5)",
            "unknown|delivered|BigInt(49)",
            "unknown|rejected|BigInt(5)"
        ]
    );
    // PowerShell 5.1 US dates, a BOM, non-ASCII recipient
    assert_eq!(
        q(
            &env,
            "SELECT CAST(ts AS VARCHAR) FROM leaves WHERE message_id = 'OLD002@hospital.example'"
        ),
        ["2026-01-22 15:15:00+00"]
    );
    assert_eq!(
        q(
            &env,
            "SELECT recipient_domain FROM leaves WHERE recipient = 'zoë.ångström@insurer.example'"
        ),
        ["insurer.example"]
    );
    // extended report: one record per recipient
    assert_eq!(
        q(
            &env,
            "SELECT recipient, status FROM leaves WHERE message_id = 'HIST03@hospital.example' ORDER BY recipient"
        ),
        [
            "late3@insurer.example|bounced",
            "team3.0@insurer.example|delivered",
            "team3.1@county-health.example.gov|delivered"
        ]
    );
    // subjects are never stored, only their hash
    assert_eq!(
        q(
            &env,
            "SELECT count(*) FROM leaves WHERE decode(leaf) LIKE '%Patient statement%' OR decode(leaf) LIKE '%Referral packet%'"
        ),
        ["BigInt(0)"]
    );
    assert_eq!(
        q(
            &env,
            "SELECT count(*) FROM leaves WHERE decode(leaf) LIKE '%Subject_sha256%'"
        ),
        ["BigInt(56)"]
    );
}

#[test]
fn gmail_bigquery_rows() {
    let env = Env::new();
    let s = ingest(&env, "gmail", &files("gmail"));
    starts(
        &s,
        "gmail: read 59, sealed 58, duplicates 0, quarantined 1,",
    );
    assert_eq!(
        q(
            &env,
            "SELECT encryption, coalesce(tls_version,'-'), coalesce(CAST(tls_failed AS VARCHAR),'-'), status, count(*) FROM leaves WHERE kind='delivery' GROUP BY ALL ORDER BY ALL"
        ),
        [
            "none|-|true|deferred|BigInt(5)",
            "tls|TLSv1.2|-|delivered|BigInt(6)",
            "tls|TLSv1.3|-|bounced|BigInt(1)",
            "tls|TLSv1.3|-|delivered|BigInt(40)",
            "unknown|-|-|delivered|BigInt(6)"
        ]
    );
    assert_eq!(
        q(
            &env,
            "SELECT count(*) FROM leaves WHERE message_id = 'g027@hospital.example'"
        ),
        ["BigInt(2)"]
    );
    assert_eq!(
        q(
            &env,
            "SELECT count(*) FROM leaves WHERE decode(leaf) LIKE '%Consult note%'"
        ),
        ["BigInt(0)"]
    );
    assert_eq!(
        q(
            &env,
            "SELECT reason, input_ref LIKE '%gmail-logs.ndjson:53' FROM leaves WHERE kind='quarantine'"
        ),
        ["invalid JSON at column 103|Boolean(true)"]
    );
}

#[test]
fn okta_system_log_array_and_ndjson() {
    let env = Env::new();
    let s = ingest(&env, "okta", &files("okta"));
    starts(&s, "okta: read 65, sealed 49, duplicates 0, quarantined 2,");
    // the 7 SSO app accesses are not sign-ins (they were counted as 7 more
    // successful push sign-ins with MFA)
    assert_eq!(
        q(
            &env,
            "SELECT outcome, mfa, factor, phishing_resistant, count(*) FROM leaves WHERE kind='auth' GROUP BY ALL ORDER BY ALL"
        ),
        [
            "denied|Boolean(false)|push|Boolean(false)|BigInt(13)",
            "failure|Boolean(false)|totp|Boolean(false)|BigInt(7)",
            "success|Boolean(false)|password|Boolean(false)|BigInt(7)",
            "success|Boolean(true)|push|Boolean(false)|BigInt(6)",
            "success|Boolean(true)|sms|Boolean(false)|BigInt(4)",
            "success|Boolean(true)|totp|Boolean(false)|BigInt(4)",
            "success|Boolean(true)|webauthn|Boolean(true)|BigInt(8)"
        ]
    );
    assert_eq!(
        q(
            &env,
            "SELECT count(*) FROM leaves WHERE user = 'night.nurse@hospital.example' AND outcome = 'denied'"
        ),
        ["BigInt(6)"]
    );
    assert_eq!(
        q(
            &env,
            "SELECT reason FROM leaves WHERE kind='quarantine' ORDER BY idx"
        ),
        [
            "duplicate key `uuid`",
            "missing or unreadable field `published`"
        ]
    );
    assert_eq!(
        q(
            &env,
            "SELECT app, ip FROM leaves WHERE source_event_id = '0c6e0001-0003-11ef-9a1b-000000000001'"
        ),
        ["Epic Hyperspace|198.51.100.1"]
    );
}

#[test]
fn entra_graph_page() {
    let env = Env::new();
    let s = ingest(&env, "entra", &files("entra"));
    starts(
        &s,
        "entra: read 53, sealed 52, duplicates 0, quarantined 1,",
    );
    assert_eq!(
        q(
            &env,
            "SELECT factor, phishing_resistant, mfa, outcome, count(*) FROM leaves WHERE kind='auth' GROUP BY ALL ORDER BY ALL"
        ),
        [
            "password|Boolean(false)|Boolean(false)|failure|BigInt(1)",
            "password|Boolean(false)|Boolean(false)|success|BigInt(8)",
            "push|Boolean(false)|Boolean(false)|failure|BigInt(1)",
            "push|Boolean(false)|Boolean(true)|success|BigInt(8)",
            "sms|Boolean(false)|Boolean(false)|failure|BigInt(1)",
            "sms|Boolean(false)|Boolean(true)|success|BigInt(8)",
            "totp|Boolean(false)|Boolean(true)|success|BigInt(8)",
            "webauthn|Boolean(true)|Boolean(false)|failure|BigInt(2)",
            "webauthn|Boolean(true)|Boolean(true)|success|BigInt(15)",
        ]
    );
    assert_eq!(
        q(&env, "SELECT user FROM leaves WHERE user LIKE 'ren%'"),
        ["renée.o'brien@hospital.example"]
    );
    assert_eq!(
        q(&env, "SELECT reason FROM leaves WHERE kind='quarantine'"),
        ["missing field `status.errorCode` (or `resultType`)"]
    );
}

#[test]
fn duo_admin_api_page() {
    let env = Env::new();
    let s = ingest(&env, "duo", &files("duo"));
    starts(&s, "duo: read 55, sealed 54, duplicates 0, quarantined 1,");
    assert_eq!(
        q(
            &env,
            "SELECT outcome, count(*), count(*) FILTER (WHERE mfa), count(*) FILTER (WHERE phishing_resistant) FROM leaves WHERE kind='auth' GROUP BY ALL ORDER BY ALL"
        ),
        [
            "denied|BigInt(6)|BigInt(0)|BigInt(1)",
            "fraud|BigInt(6)|BigInt(0)|BigInt(0)",
            "success|BigInt(42)|BigInt(33)|BigInt(6)"
        ]
    );
    // bypass codes and remembered devices are not a second factor
    assert_eq!(
        q(
            &env,
            "SELECT count(*) FROM leaves WHERE factor = 'other' AND outcome = 'success' AND NOT mfa"
        ),
        ["BigInt(9)"]
    );
    // epoch-seconds and ISO timestamps agree
    assert_eq!(
        q(
            &env,
            "SELECT CAST(ts AS VARCHAR) FROM leaves WHERE source_event_id = 'ce2e7158-0001-4d0c-b3c9-000000000001'"
        ),
        ["2026-03-05 00:30:00+00"]
    );
    assert_eq!(
        q(
            &env,
            "SELECT user, app, ip FROM leaves WHERE user = 'josé.núñez'"
        ),
        ["josé.núñez|VPN|192.0.2.41"]
    );
}

#[test]
fn gateway_native_records() {
    let env = Env::new();
    let s = ingest(&env, "gateway", &files("gateway"));
    starts(
        &s,
        "gateway: read 58, sealed 57, duplicates 0, quarantined 1,",
    );
    assert_eq!(
        q(
            &env,
            "SELECT encryption, count(*) FROM leaves WHERE kind='delivery' GROUP BY ALL ORDER BY ALL"
        ),
        [
            "none|BigInt(6)",
            "pgp|BigInt(6)",
            "portal|BigInt(12)",
            "smime|BigInt(6)",
            "tls|BigInt(27)"
        ]
    );
    assert_eq!(
        q(
            &env,
            "SELECT count(*) FILTER (WHERE phi), count(DISTINCT patient_id) FROM leaves WHERE kind='delivery'"
        ),
        ["BigInt(46)|BigInt(7)"]
    );
    assert_eq!(
        q(&env, "SELECT reason FROM leaves WHERE kind='quarantine'"),
        [
            "field `encryption` has an unknown value; expected one of: tls, portal, pgp, smime, none, unknown"
        ]
    );
    assert_eq!(
        q(
            &env,
            "SELECT count(*) FROM leaves WHERE decode(leaf) LIKE '%Referral for patient%'"
        ),
        ["BigInt(0)"]
    );
}

#[test]
fn disclosures_register() {
    let env = Env::new();
    let s = ingest(&env, "disclosures", &files("disclosures"));
    starts(
        &s,
        "disclosures: read 66, sealed 64, duplicates 0, quarantined 2, coverage leaves 0,",
    );
    assert_eq!(
        q(
            &env,
            "SELECT accountable, count(*) FROM leaves WHERE kind='disclosure' GROUP BY ALL ORDER BY ALL"
        ),
        ["Boolean(false)|BigInt(24)", "Boolean(true)|BigInt(40)"]
    );
    assert_eq!(
        q(
            &env,
            "SELECT basis, CAST(suspended_until AS VARCHAR) FROM leaves WHERE suspended_until IS NOT NULL ORDER BY idx"
        ),
        ["law_enforcement|2026-09-30", "health_oversight|2026-09-30"]
    );
    let reasons = q(
        &env,
        "SELECT reason FROM leaves WHERE kind='quarantine' ORDER BY idx",
    );
    assert!(
        reasons[0]
            .starts_with("field `basis` has an unknown value; expected one of: tpo, individual,"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].starts_with("missing or unreadable column `date`"),
        "{reasons:?}"
    );
    assert_eq!(
        q(
            &env,
            "SELECT recipient_name FROM leaves WHERE source_event_id = 'ROI-00002'"
        ),
        ["Dr. Ana Peña, Oncology Associates"]
    );
}

#[test]
fn training_lms_csv_and_xapi() {
    let env = Env::new();
    let s = ingest(&env, "training", &files("training"));
    starts(
        &s,
        "training: read 55, sealed 51, duplicates 0, quarantined 1,",
    );
    assert_eq!(
        q(
            &env,
            "SELECT status, count(*) FROM leaves WHERE kind='training' GROUP BY ALL ORDER BY ALL"
        ),
        [
            "assigned|BigInt(7)",
            "completed|BigInt(10)",
            "failed|BigInt(10)",
            "passed|BigInt(17)",
            "waived|BigInt(7)"
        ]
    );
    assert_eq!(
        q(
            &env,
            "SELECT course, score FROM leaves WHERE user = 'staff01@hospital.example'"
        ),
        ["HIPAA Privacy Basics|Double(0.63)"]
    );
    assert_eq!(
        q(
            &env,
            "SELECT score FROM leaves WHERE user = 'clinician01@hospital.example'"
        ),
        ["Double(0.71)"]
    );
}

#[test]
fn ocsf_ingest_and_round_trip() {
    let env = Env::new();
    let s = ingest(&env, "ocsf", &files("ocsf"));
    starts(&s, "ocsf: read 57, sealed 55, duplicates 0, quarantined 1,");
    assert_eq!(
        q(
            &env,
            "SELECT kind, count(*) FROM leaves WHERE kind IN ('auth','delivery') GROUP BY ALL ORDER BY ALL"
        ),
        ["auth|BigInt(25)", "delivery|BigInt(30)"]
    );
    // round trip: fixtures of several sources → export OCSF → ingest into a second store
    let src = Env::new();
    for source in ["postfix", "okta", "duo"] {
        ingest(&src, source, &files(source));
    }
    let out = src.dir.path().join("export.ndjson");
    let o = common::run(&[
        "export",
        "--store",
        src.store().to_str().unwrap(),
        "--vkey",
        src.vkey().to_str().unwrap(),
        "--format",
        "ocsf",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let dst = Env::new();
    let s = ingest(&dst, "ocsf", &[out]);
    // OCSF times are milliseconds
    let cols = "kind, date_trunc('millisecond', ts), message_id, sender, recipient, status, encryption, tls_version, tls_cipher, tls_peer, user, outcome, mfa, factor, phishing_resistant, app, ip";
    let a = q(
        &src,
        &format!("SELECT {cols} FROM leaves WHERE kind IN ('delivery','auth') ORDER BY ALL"),
    );
    let b = q(
        &dst,
        &format!("SELECT {cols} FROM leaves WHERE kind IN ('delivery','auth') ORDER BY ALL"),
    );
    starts(
        &s,
        &format!(
            "ocsf: read {n}, sealed {n}, duplicates 0, quarantined 0,",
            n = a.len()
        ),
    );
    let diff: Vec<(&String, &String)> = a.iter().zip(&b).filter(|(x, y)| x != y).take(3).collect();
    assert!(
        diff.is_empty() && a.len() == b.len(),
        "every delivery and sign-in survives the OCSF round trip; first differences: {diff:#?}"
    );
}

#[test]
fn auto_detects_every_fixture() {
    let env = Env::new();
    for source in common::SOURCES {
        for f in files(source) {
            let o = env.ingest(&["--source", "auto"], &[&f]);
            assert!(o.status.success(), "{}", common::stderr(&o));
            let err = common::stderr(&o);
            assert!(
                err.contains(&format!("recognised as {source}")),
                "{}: {err}",
                f.display()
            );
        }
    }
}

#[test]
fn reingest_after_restart_adds_nothing() {
    let env = Env::new();
    let all: Vec<PathBuf> = ["postfix", "m365", "okta", "disclosures", "training"]
        .iter()
        .flat_map(|s| files(s))
        .collect();
    let refs: Vec<&std::path::Path> = all.iter().map(|p| p.as_path()).collect();
    assert!(env.ingest(&[], &refs).status.success());
    let before = q(&env, "SELECT count(*) FROM leaves");
    // a new process (a restart), with the dedupe cache gone
    let _ = fs::remove_file(env.store().join("index/leaf-hashes.bin"));
    let o = env.ingest(&[], &refs);
    assert!(o.status.success());
    for line in stdout(&o)
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with("store"))
    {
        assert!(
            line.contains(" sealed 0, ")
                && line.contains(" quarantined 0, ")
                && line.contains("coverage leaves 0,"),
            "{line}"
        );
    }
    assert_eq!(q(&env, "SELECT count(*) FROM leaves"), before);
    assert!(env.verify(&[]).status.success());
}

#[test]
fn strict_stops_at_the_first_bad_vendor_record() {
    let env = Env::new();
    let o = env.ingest(
        &["--source", "disclosures", "--strict"],
        &[&files("disclosures")[0]],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = common::stderr(&o);
    assert!(
        err.contains("roi-export.csv:66: field `basis` has an unknown value"),
        "{err}"
    );
    assert!(err.contains("nothing of this file was sealed"), "{err}");
    assert_eq!(
        fs::read_dir(env.store().join("segments")).unwrap().count(),
        0
    );
}

#[test]
fn parsing_beforehand_gives_the_same_leaves_as_streaming() {
    // the server parses and prepares off the writer thread (parse_all, then accept_prepared);
    // for every source and fixture that must seal exactly what streaming does
    let keyed = Env::new();
    let key = fs::read_to_string(keyed.key()).unwrap();
    let leaves_of = |dir: &std::path::Path| -> Vec<Vec<String>> {
        duck(
            dir,
            "SELECT source, kind, coalesce(source_event_id, ''), coalesce(reason, ''), coalesce(input_ref, '') FROM leaves ORDER BY idx",
        )
    };
    for source in common::SOURCES {
        for f in fs::read_dir(fixture(source)).unwrap() {
            let path = f.unwrap().path();
            let data = fs::read(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let mut stores = Vec::new();
            for beforehand in [false, true] {
                let dir = keyed
                    .dir
                    .path()
                    .join(format!("{source}-{name}-{beforehand}"));
                let signer = sealtrail::tlog::Signer::parse(&key).unwrap();
                let mut app =
                    sealtrail::store::Appender::open_or_create(&dir, signer, None).unwrap();
                let src = sealtrail::ingest::source_by_name(source).unwrap();
                let opts = sealtrail::ingest::Options {
                    strict: false,
                    seal_every: usize::MAX,
                    coverage: false,
                    allowed_sources: None,
                    ..Default::default()
                };
                let sum = if beforehand {
                    let parsed = sealtrail::ingest::parse_all(
                        sealtrail::ingest::source_by_name(source).unwrap(),
                        &mut &data[..],
                        &name,
                        None,
                    )
                    .unwrap();
                    let mut run = sealtrail::ingest::Ingest::new(&mut app, src, opts);
                    run.accept_prepared(parsed).unwrap();
                    run.append_only().unwrap()
                } else {
                    let mut run = sealtrail::ingest::Ingest::new(&mut app, src, opts);
                    run.input(&mut &data[..], &name).unwrap();
                    run.append_only().unwrap()
                };
                app.commit().unwrap();
                app.seal().unwrap();
                drop(app);
                stores.push((sum.read, sum.sealed, sum.duplicates, leaves_of(&dir)));
            }
            assert!(
                stores[0].1 > 0 || stores[0].0 > 0,
                "{source}/{name}: nothing read"
            );
            assert_eq!(stores[0], stores[1], "{source}/{name}");
        }
    }
}

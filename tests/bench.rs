//! `sealtrail bench` at a small size: its figures measure what they name.
//! (No time is asserted: the bench's figures are read by people, beside
//! their baselines; this holds only that the work measured is the work
//! named.)

mod common;

use common::{duck, ok};

/// The HTTP phase's load is sealed as events: a load the server quarantines
/// would measure the quarantine (as sessions 13 to 17's figures did, with
/// `admin` records that no input may write), so the bench refuses to
/// report a rate for a request not wholly accepted, and the server's store
/// holds only the deliveries it sent.
#[test]
fn the_http_phase_measures_sealed_events() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let out = ok(&[
        "bench",
        "--events",
        "2000",
        "--accountings",
        "2",
        "--http-seconds",
        "2",
        "--http-batch",
        "10",
        "--work",
        work.to_str().unwrap(),
    ]);
    let line = out
        .lines()
        .find(|l| l.starts_with("5. HTTP ingest, 8 clients x 10 events"))
        .unwrap_or_else(|| panic!("no HTTP row in:\n{out}"));
    let rate: f64 = line
        .split(')')
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rate in {line:?}"));
    assert!(rate > 0.0, "{line}");

    let store = work.join("http-store");
    let vkey = work.join("http-keys").join("http.bench_log.vkey");
    let verified = ok(&[
        "verify",
        "--store",
        store.to_str().unwrap(),
        "--vkey",
        vkey.to_str().unwrap(),
    ]);
    assert!(verified.starts_with("OK:"), "{verified}");
    let kinds = duck(
        &store,
        "SELECT kind, count(*)::VARCHAR FROM leaves GROUP BY kind ORDER BY kind",
    );
    assert_eq!(kinds.len(), 1, "only deliveries: {kinds:?}");
    assert_eq!(kinds[0][0], "delivery");
    let sealed: u64 = kinds[0][1].parse().unwrap();
    // 8 clients' whole requests of 10, at least one each
    assert!(sealed >= 80 && sealed.is_multiple_of(10), "{sealed}");
}

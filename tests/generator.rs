//! `sealtrail gen` at small N: deterministic output, real formats that every
//! adapter reads, and `truth.json` figures that the sealed store reproduces.

mod common;

use std::path::PathBuf;

use common::{Env, duck, ok};

fn generate(dir: &std::path::Path, events: &str, seed: &str) -> serde_json::Value {
    ok(&[
        "gen",
        "--events",
        events,
        "--seed",
        seed,
        "--out",
        dir.to_str().unwrap(),
    ]);
    serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap()
}

#[test]
fn generated_logs_reproduce_their_truth() {
    let env = Env::new();
    let logs = env.dir.path().join("logs");
    let truth = generate(&logs, "5000", "42");
    // deterministic: the same seed gives the same bytes
    let again = env.dir.path().join("again");
    generate(&again, "5000", "42");
    for f in [
        "postfix/maillog",
        "okta/system-log.ndjson",
        "disclosures/roi.csv",
        "truth.json",
    ] {
        assert_eq!(
            std::fs::read(logs.join(f)).unwrap(),
            std::fs::read(again.join(f)).unwrap(),
            "{f}"
        );
    }
    let mut files: Vec<PathBuf> = Vec::new();
    for s in [
        "postfix",
        "okta",
        "m365",
        "gmail",
        "entra",
        "duo",
        "disclosures",
        "training",
    ] {
        files.extend(
            std::fs::read_dir(logs.join(s))
                .unwrap()
                .map(|e| e.unwrap().path()),
        );
    }
    let refs: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    let o = env.ingest(&["--source", "auto"], &refs);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let n = |sql: &str| {
        duck(&env.store(), sql)[0][0]
            .trim_start_matches("BigInt(")
            .trim_end_matches(')')
            .parse::<u64>()
            .unwrap()
    };
    let t = |k: &str| truth["postfix"][k].as_u64().unwrap_or(0);
    // every event is sealed; every malformed line quarantined
    assert_eq!(
        n("SELECT count(*) FROM leaves WHERE kind NOT IN ('coverage', 'quarantine')"),
        truth["events"].as_u64().unwrap()
    );
    assert_eq!(
        n("SELECT count(*) FROM leaves WHERE kind = 'quarantine'"),
        truth["malformed"].as_u64().unwrap()
    );
    // transmission figures
    assert_eq!(
        n(
            "SELECT count(*) FROM leaves WHERE source = 'postfix' AND encryption = 'none' AND NOT coalesce(tls_failed, false)"
        ),
        t("plaintext")
    );
    assert_eq!(
        n("SELECT count(*) FROM leaves WHERE source = 'postfix' AND tls_failed"),
        t("failed_tls")
    );
    assert_eq!(
        n("SELECT count(*) FROM leaves WHERE source = 'postfix' AND tls_version = 'TLSv1'"),
        t("tls_1_0")
    );
    assert_eq!(
        n("SELECT count(*) FROM leaves WHERE source = 'postfix' AND tls_version = 'TLSv1.3'"),
        t("tls_1_3")
    );
    // sign-ins
    let o = |k: &str| truth["okta"][k].as_u64().unwrap_or(0);
    assert_eq!(
        n("SELECT count(*) FROM leaves WHERE source = 'okta' AND outcome = 'success' AND mfa"),
        o("SUCCESS:mfa")
    );
    assert_eq!(
        n("SELECT count(*) FROM leaves WHERE source = 'okta' AND outcome = 'success' AND NOT mfa"),
        o("SUCCESS:no_mfa")
    );
    // accountings: the sum of entry counts equals the truth for each sampled patient
    for (patient, want) in truth["accountable_by_patient"]
        .as_object()
        .unwrap()
        .iter()
        .take(5)
    {
        let out = ok(&[
            "accounting",
            "show",
            "--store",
            env.store().to_str().unwrap(),
            "--vkey",
            env.vkey().to_str().unwrap(),
            "--patient",
            patient,
            "--as-of",
            truth["period"][1].as_str().unwrap(),
        ]);
        let acc: serde_json::Value = serde_json::from_str(&out).unwrap();
        let got: u64 = acc["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["count"].as_u64().unwrap())
            .sum();
        assert_eq!(got, want.as_u64().unwrap(), "patient {patient}");
    }
}

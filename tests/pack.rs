//! `sealtrail pack`: a real store from every fixture, a real PDF read back
//! with `pdftotext`, figures checked against SQL the test runs itself on the
//! raw Parquet (not through our views), byte-identical rebuilds, the
//! manifest's signature checked with `openssl`, and an empty period.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{Env, duck, ok, run, stdout};

fn pack(env: &Env, out: &Path, from: &str, to: &str, extra: &[&str]) -> String {
    let (s, v, k, o) = (env.store(), env.vkey(), env.key(), out.to_path_buf());
    let mut args = vec![
        "pack",
        "--store",
        s.to_str().unwrap(),
        "--vkey",
        v.to_str().unwrap(),
        "--key",
        k.to_str().unwrap(),
    ];
    args.extend([
        "--from",
        from,
        "--to",
        to,
        "--org",
        "Springfield General Hospital",
        "--out",
        o.to_str().unwrap(),
    ]);
    args.extend_from_slice(extra);
    ok(&args)
}

fn pdftotext(pdf: &Path) -> String {
    let o = Command::new("pdftotext")
        .arg("-raw")
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils; .ci/run installs it)");
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap()
}

/// An independent count straight from the Parquet, with its own SQL.
fn count(env: &Env, sql: &str) -> String {
    let r = duck(&env.store(), sql);
    r[0][0]
        .trim_start_matches("BigInt(")
        .trim_end_matches(')')
        .to_string()
}

#[test]
fn pack_pdf_text_matches_independent_sql() {
    let env = common::full_store();
    let out = env.dir.path().join("pack");
    let summary = pack(&env, &out, "2025-12-01", "2026-03-31", &[]);
    assert!(summary.contains("store verification passed"), "{summary}");
    let text = pdftotext(&out.join("evidence-pack.pdf"));
    for heading in [
        "HIPAA Security and Privacy Evidence Pack",
        "2. Transmission security",
        "3. Person or entity authentication",
        "4. Audit controls and information system activity review",
        "5. Security awareness and training",
        "6. Accounting of disclosures",
        "7. Integrity attestation",
        "8. Appendix: the SQL of every query",
        "45 CFR 164.312(e)(1) and (e)(2)(ii)",
        "Page 1 of ",
    ] {
        assert!(text.contains(heading), "missing {heading:?}");
    }
    let period =
        "ts >= TIMESTAMPTZ '2025-12-01 00:00:00+00' AND ts < TIMESTAMPTZ '2026-04-01 00:00:00+00'";
    // transmission: plaintext PHI deliveries, computed independently
    let plaintext = count(
        &env,
        &format!(
            "SELECT count(*) FROM leaves WHERE kind='delivery' AND {period} AND coalesce(phi, true) AND encryption='none' AND NOT coalesce(tls_failed, false)"
        ),
    );
    let failed = count(
        &env,
        &format!(
            "SELECT count(*) FROM leaves WHERE kind='delivery' AND {period} AND coalesce(phi, true) AND tls_failed"
        ),
    );
    let deliveries = count(
        &env,
        &format!(
            "SELECT count(*) FROM leaves WHERE kind='delivery' AND {period} AND coalesce(phi, true)"
        ),
    );
    assert!(
        text.contains(&format!("deliveries {deliveries}\n")),
        "deliveries {deliveries} not in the PDF"
    );
    assert!(
        text.contains(&format!("plaintext {plaintext}\n")),
        "plaintext {plaintext} not in the PDF"
    );
    assert!(
        text.contains(&format!("Failed TLS {failed}\n")),
        "failed TLS {failed} not in the PDF"
    );
    // authentication: MFA-fatigue burst and single-factor users
    let single = count(
        &env,
        &format!(
            "SELECT count(DISTINCT \"user\") FROM leaves WHERE kind='auth' AND {period} AND outcome='success' AND NOT coalesce(mfa,false)"
        ),
    );
    assert!(
        text.contains(&format!("Users with single-factor sign-ins {single}\n")),
        "single-factor users {single}"
    );
    assert!(
        text.contains("night.nurse@hospital.example 2026-03-25 02:10:10 2026-03-25 02:15:10 6"),
        "the fatigue burst is listed"
    );
    // audit: the unusual-volume user and after-hours access
    assert!(
        text.contains("temp.kim@hospital.example 45"),
        "unusual volume"
    );
    let after = count(
        &env,
        &format!(
            "SELECT count(*) FROM leaves WHERE kind='access' AND {period} AND \"user\"='clerk.hill@hospital.example' AND (extract(hour FROM ts) >= 19 OR extract(hour FROM ts) < 7 OR isodow(ts) >= 6)"
        ),
    );
    assert!(
        text.contains(&format!("clerk.hill@hospital.example {after} ")),
        "after hours {after}"
    );
    // disclosures by basis
    let ph = count(
        &env,
        &format!(
            "SELECT count(*) FROM leaves WHERE kind='disclosure' AND {period} AND basis='public_health'"
        ),
    );
    assert!(
        text.contains(&format!("public_health true {ph} ")),
        "public_health {ph}"
    );
    // summary lines name met or finding with counts
    let findings = count(
        &env,
        &format!(
            "SELECT count(*) FROM leaves WHERE kind='delivery' AND {period} AND coalesce(phi, true) AND (encryption='none' OR coalesce(tls_failed,false) OR (encryption='tls' AND (tls_version NOT IN ('TLSv1.2','TLSv1.3') OR tls_peer IN ('untrusted','anonymous'))))"
        ),
    );
    assert!(
        text.contains(&format!(
            "Finding: {findings} PHI deliveries not protected in"
        )),
        "transmission findings {findings}"
    );
    assert!(
        text.contains("6. Accounting of disclosures 45 CFR 164.528 Met"),
        "accounting met"
    );
    // every query ships with its hash; the checkpoint is verbatim
    let cp = fs::read_to_string(env.store().join("checkpoint")).unwrap();
    assert!(text.contains(cp.lines().next().unwrap()) && text.contains(cp.lines().nth(2).unwrap()));
    for f in [
        "csv/transmission_findings.csv",
        "queries/transmission_findings.sql",
        "queries/views.sql",
        "params.sql",
        "checkpoint",
        "verifier.vkey",
        "verifier.pub.pem",
        "manifest.json",
        "manifest.sig",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }
    let csv = fs::read_to_string(out.join("csv/transmission_findings.csv")).unwrap();
    assert_eq!(
        csv.lines().count() as u64,
        findings.parse::<u64>().unwrap() + 1,
        "all findings in the CSV"
    );
}

#[test]
fn packs_are_byte_identical_and_the_manifest_signature_verifies_with_openssl() {
    let env = common::full_store();
    let a = env.dir.path().join("a.zip");
    let b = env.dir.path().join("b.zip");
    pack(&env, &a, "2026-01-01", "2026-03-31", &[]);
    pack(&env, &b, "2026-01-01", "2026-03-31", &[]);
    assert_eq!(
        fs::read(&a).unwrap(),
        fs::read(&b).unwrap(),
        "two runs, identical bytes"
    );
    // after `verify --state`, packs that read the state re-read no rows;
    // they say so on the cover, and are identical to each other
    let state = env.dir.path().join("verified.state");
    let o = env.verify(&["--state", state.to_str().unwrap()]);
    assert!(o.status.success(), "{}", common::stdout(&o));
    let (c, d) = (env.dir.path().join("c.zip"), env.dir.path().join("d.zip"));
    let flag = ["--verify-state", state.to_str().unwrap()];
    pack(&env, &c, "2026-01-01", "2026-03-31", &flag);
    pack(&env, &d, "2026-01-01", "2026-03-31", &flag);
    assert_eq!(
        fs::read(&c).unwrap(),
        fs::read(&d).unwrap(),
        "same state, identical bytes"
    );
    let manifest_json = |zip: &Path| -> serde_json::Value {
        let f = fs::File::open(zip).unwrap();
        let mut z = zip::ZipArchive::new(f).unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(
            &mut z.by_name("evidence-pack/manifest.json").unwrap(),
            &mut s,
        )
        .unwrap();
        serde_json::from_str(&s).unwrap()
    };
    let (full, incremental) = (manifest_json(&a), manifest_json(&c));
    assert_eq!(full["verification"]["ok"], true);
    assert_eq!(incremental["verification"]["ok"], true);
    let summary = incremental["verification"]["summary"].as_str().unwrap();
    assert!(summary.contains("by an earlier verification"), "{summary}");
    assert_eq!(
        full["verification"]["summary"]
            .as_str()
            .unwrap()
            .split(" verified")
            .next(),
        summary.split(" verified").next(),
        "the same leaves and segments"
    );
    // unzip, check every hash in manifest.json and the signature with openssl
    let dir = env.dir.path().join("unz");
    let st = Command::new("python3")
        .args([
            "-c",
            "import sys,zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])",
        ])
        .arg(&a)
        .arg(&dir)
        .status()
        .unwrap();
    assert!(st.success());
    let root = dir.join("evidence-pack");
    let manifest = fs::read(root.join("manifest.json")).unwrap();
    let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    for f in m["files"].as_array().unwrap() {
        let bytes = fs::read(root.join(f["name"].as_str().unwrap())).unwrap();
        assert_eq!(
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
            f["sha256"].as_str().unwrap()
        );
    }
    let note = fs::read_to_string(root.join("manifest.sig")).unwrap();
    let (body, sig) = note.split_once("\n\n").unwrap();
    assert_eq!(
        body.lines().nth(1).unwrap(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&manifest))
    );
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(sig.trim().rsplit(' ').next().unwrap())
        .unwrap();
    fs::write(env.dir.path().join("body.txt"), format!("{body}\n")).unwrap();
    fs::write(env.dir.path().join("sig.bin"), &raw[4..]).unwrap();
    let o = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(root.join("verifier.pub.pem"))
        .arg("-rawin")
        .arg("-in")
        .arg(env.dir.path().join("body.txt"))
        .arg("-sigfile")
        .arg(env.dir.path().join("sig.bin"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Signature Verified Successfully"),
        "{o:?}"
    );
    // the PDF's dates are the checkpoint's, not the wall clock
    assert_eq!(
        m["checkpoint"]["size"].as_u64().unwrap().to_string(),
        count(&env, "SELECT count(*) FROM leaves")
    );
}

#[test]
fn empty_period_says_so() {
    let env = common::full_store();
    let out = env.dir.path().join("empty");
    pack(&env, &out, "2019-01-01", "2019-01-31", &[]);
    let text = pdftotext(&out.join("evidence-pack.pdf")).replace('\n', " ");
    assert!(
        text.contains("No deliveries were recorded from 2019-01-01 to 2019-01-31."),
        "{text}"
    );
    assert!(text.contains("Coverage records show log collection was not running in the period."));
    assert!(text.contains("No sign-ins were recorded from 2019-01-01 to 2019-01-31."));
}

#[test]
fn previous_checkpoint_gives_a_consistency_proof_and_csv_formulas_are_neutralised() {
    let env = common::full_store();
    let prev = env.dir.path().join("prev.checkpoint");
    fs::copy(env.store().join("checkpoint"), &prev).unwrap();
    // a hostile recipient address, plaintext, so it lands in the findings CSV
    let evil = env.dir.path().join("evil.jsonl");
    fs::write(&evil, "{\"kind\":\"delivery\",\"ts\":\"2026-03-30T10:00:00Z\",\"recipient\":\"=HYPERLINK(\\\"http://evil.example\\\",\\\"x\\\")@evil.example\",\"status\":\"delivered\",\"encryption\":\"none\"}\n").unwrap();
    assert!(
        env.ingest(&["--source", "jsonl"], &[&evil])
            .status
            .success()
    );
    let out = env.dir.path().join("p2");
    pack(
        &env,
        &out,
        "2026-03-01",
        "2026-03-31",
        &["--previous-checkpoint", prev.to_str().unwrap()],
    );
    let proof = fs::read_to_string(out.join("consistency.tlog-proof")).unwrap();
    assert!(proof.starts_with("sealtrail.dev/consistency-proof@v1\nold-size "));
    let text = pdftotext(&out.join("evidence-pack.pdf")).replace('\n', " ");
    assert!(
        text.contains("consistent: the tree of"),
        "consistency verdict in the PDF"
    );
    let o = run(&[
        "verify-proof",
        "--vkey",
        env.vkey().to_str().unwrap(),
        "--old-checkpoint",
        prev.to_str().unwrap(),
        out.join("consistency.tlog-proof").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stdout(&o));
    let mut rdr = csv::Reader::from_path(out.join("csv/transmission_findings.csv")).unwrap();
    let cells: Vec<String> = rdr
        .records()
        .flat_map(|r| r.unwrap().iter().map(str::to_string).collect::<Vec<_>>())
        .collect();
    assert!(
        cells.iter().any(|c| c.starts_with("'=HYPERLINK(")),
        "formula neutralised"
    );
    assert!(
        !cells
            .iter()
            .any(|c| c.starts_with('=') || c.starts_with('@')),
        "no cell starts a formula"
    );
}

#[test]
fn query_command_runs_shipped_sql_and_ad_hoc_sql() {
    let env = common::full_store();
    let s = env.store();
    let out = ok(&[
        "query",
        "--store",
        s.to_str().unwrap(),
        "--csv",
        "--param",
        "period_start=2025-12-01",
        "--param",
        "period_end=2026-04-01",
        "@auth_mfa_fatigue",
    ]);
    assert_eq!(
        out,
        "user,burst_start,burst_end,denied_pushes\r\nnight.nurse@hospital.example,2026-03-25T02:10:10Z,2026-03-25T02:15:10Z,6\r\n"
    );
    let out = ok(&[
        "query",
        "--store",
        s.to_str().unwrap(),
        "SELECT count(*) AS n FROM disclosures WHERE accountable",
    ]);
    let want = count(
        &env,
        "SELECT count(*) FROM leaves WHERE kind = 'disclosure' AND accountable",
    );
    assert!(out.contains(&format!("\n{want}\n")), "{out}");
    // the views' utc_week() is DuckDB's own week truncation in UTC, on every
    // event and on the edges of the epoch's week
    let out = ok(&[
        "query",
        "--store",
        s.to_str().unwrap(),
        "--csv",
        "SELECT count(*) AS n, count(*) FILTER (WHERE utc_week(ts) <> CAST(date_trunc('week', ts) AS DATE)) AS differ, \
         utc_week(TIMESTAMPTZ '1969-12-31 23:59:59+00') AS before_epoch, utc_week(TIMESTAMPTZ '1970-01-05 00:00:00+00') AS monday \
         FROM leaves",
    ]);
    let row = out.lines().nth(1).unwrap_or_default().to_string();
    let n: u64 = row.split(',').next().unwrap().trim().parse().unwrap();
    assert!(n > 100, "{out}");
    assert!(row.contains(",0,1969-12-29,1970-01-05"), "{out}");
}

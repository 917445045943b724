//! Patient accounting of disclosures (45 CFR 164.528): which bases are
//! listed, the six-year edge, series, suspensions, deadlines, extensions and
//! fees with each refusal, patient isolation under id normalisation, proofs
//! checked by an independent verifier, and the letter's text.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{Env, duck, ok, repo, run, stderr, stdout};

const HEADER: &str = "disclosure_id,date,patient_id,recipient_name,recipient_address,description,purpose,basis,message_id,suspended_until,suspension_type\n";

fn store_with(rows: &[String]) -> Env {
    let env = Env::new();
    let csv = env.dir.path().join("roi.csv");
    fs::write(&csv, format!("{HEADER}{}", rows.join(""))).unwrap();
    let o = env.ingest(&["--source", "disclosures"], &[&csv]);
    assert!(o.status.success(), "{}", stderr(&o));
    env
}

#[allow(clippy::too_many_arguments)]
fn row(
    id: &str,
    date: &str,
    patient: &str,
    recipient: &str,
    purpose: &str,
    basis: &str,
    suspended: &str,
    kind: &str,
) -> String {
    format!(
        "{id},{date},{patient},{recipient},1 Main St,lab results,{purpose},{basis},,{suspended},{kind}\n"
    )
}

fn show(env: &Env, patient: &str, as_of: &str) -> serde_json::Value {
    let s = env.store();
    let out = ok(&[
        "accounting",
        "show",
        "--store",
        s.to_str().unwrap(),
        "--vkey",
        env.vkey().to_str().unwrap(),
        "--patient",
        patient,
        "--as-of",
        as_of,
    ]);
    serde_json::from_str(&out).unwrap()
}

fn ids(acc: &serde_json::Value) -> Vec<String> {
    acc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["recipient_name"].as_str().unwrap().to_string())
        .collect()
}

/// 164.528(a)(1)(i)–(viii) exclusions, written out from the regulation.
const BASES: [(&str, bool); 20] = [
    ("tpo", false),
    ("individual", false),
    ("incidental", false),
    ("authorization", false),
    ("directory", false),
    ("national_security", false),
    ("correctional", false),
    ("limited_data_set", false),
    ("required_by_law", true),
    ("public_health", true),
    ("abuse_report", true),
    ("health_oversight", true),
    ("judicial", true),
    ("law_enforcement", true),
    ("decedent", true),
    ("organ_donation", true),
    ("research", true),
    ("serious_threat", true),
    ("workers_comp", true),
    ("other", true),
];

#[test]
fn every_basis_is_listed_or_excluded_by_the_rule() {
    let rows: Vec<String> = BASES
        .iter()
        .enumerate()
        .map(|(i, (b, _))| {
            row(
                &format!("D{i}"),
                "2026-01-10",
                "MRN-1",
                &format!("Recipient {b}"),
                &format!("purpose {i}"),
                b,
                "",
                "",
            )
        })
        .collect();
    let env = store_with(&rows);
    let acc = show(&env, "MRN-1", "2026-03-31");
    let listed = ids(&acc);
    for (b, accountable) in BASES {
        assert_eq!(
            listed.contains(&format!("Recipient {b}")),
            accountable,
            "basis {b}"
        );
    }
    assert_eq!(acc["withheld_count"], 0);
}

#[test]
fn six_year_edge_and_shorter_period() {
    let env = store_with(&[
        row(
            "A",
            "2020-03-30",
            "MRN-1",
            "One day too old",
            "p1",
            "public_health",
            "",
            "",
        ),
        row(
            "B",
            "2020-03-31",
            "MRN-1",
            "On the boundary",
            "p2",
            "public_health",
            "",
            "",
        ),
        row(
            "C",
            "2025-06-01",
            "MRN-1",
            "Recent",
            "p3",
            "public_health",
            "",
            "",
        ),
    ]);
    let acc = show(&env, "MRN-1", "2026-03-31");
    assert_eq!(ids(&acc), ["On the boundary", "Recent"]);
    assert_eq!(acc["period"]["from"], "2020-03-31");
    let s = env.store();
    let out = ok(&[
        "accounting",
        "show",
        "--store",
        s.to_str().unwrap(),
        "--vkey",
        env.vkey().to_str().unwrap(),
        "--patient",
        "MRN-1",
        "--as-of",
        "2026-03-31",
        "--from",
        "2025-01-01",
    ]);
    let acc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ids(&acc), ["Recent"]);
}

#[test]
fn repeated_disclosures_are_summarised() {
    let env = store_with(&[
        row(
            "S1",
            "2026-01-05",
            "MRN-1",
            "County Health Department",
            "TB surveillance",
            "public_health",
            "",
            "",
        ),
        row(
            "S2",
            "2026-02-05",
            "MRN-1",
            "County Health  department",
            "TB surveillance",
            "public_health",
            "",
            "",
        ),
        row(
            "S3",
            "2026-03-05",
            "MRN-1",
            "County Health Department",
            "TB surveillance",
            "public_health",
            "",
            "",
        ),
        row(
            "S4",
            "2026-02-01",
            "MRN-1",
            "County Health Department",
            "measles report",
            "public_health",
            "",
            "",
        ),
    ]);
    let acc = show(&env, "MRN-1", "2026-03-31");
    let e = acc["entries"].as_array().unwrap();
    assert_eq!(e.len(), 2);
    assert_eq!(
        (
            e[0]["date"].as_str(),
            e[0]["count"].as_u64(),
            e[0]["last_date"].as_str()
        ),
        (Some("2026-01-05"), Some(3), Some("2026-03-05"))
    );
    assert_eq!(
        (e[1]["count"].as_u64(), e[1]["last_date"].is_null()),
        (Some(1), true)
    );
}

#[test]
fn written_and_oral_suspensions() {
    let env = store_with(&[
        row(
            "W",
            "2026-03-01",
            "MRN-1",
            "Written agency",
            "audit",
            "health_oversight",
            "2026-09-30",
            "written",
        ),
        row(
            "O",
            "2026-03-01",
            "MRN-1",
            "Oral agency",
            "investigation",
            "law_enforcement",
            "2026-09-30",
            "oral",
        ),
        row(
            "P",
            "2026-03-02",
            "MRN-1",
            "Public health",
            "report",
            "public_health",
            "2026-09-30",
            "written",
        ),
    ]);
    // ten days after: both withheld; a suspension date on another basis does not withhold
    let acc = show(&env, "MRN-1", "2026-03-11");
    assert_eq!(ids(&acc), ["Public health"]);
    assert_eq!(acc["withheld_count"], 2);
    // forty days after: the oral suspension ended at 30 days, the written one runs on
    let acc = show(&env, "MRN-1", "2026-04-10");
    assert_eq!(ids(&acc), ["Oral agency", "Public health"]);
    assert_eq!(acc["withheld_count"], 1);
    let pdf = env.dir.path().join("letter.pdf");
    let s = env.store();
    ok(&[
        "accounting",
        "show",
        "--store",
        s.to_str().unwrap(),
        "--vkey",
        env.vkey().to_str().unwrap(),
        "--patient",
        "MRN-1",
        "--as-of",
        "2026-04-10",
        "--format",
        "pdf",
        "--out",
        pdf.to_str().unwrap(),
    ]);
    let text = pdftotext(&pdf);
    assert!(
        text.contains("We are not listing 1 disclosure(s) right now."),
        "{text}"
    );
}

fn pdftotext(p: &Path) -> String {
    let o = Command::new("pdftotext").arg(p).arg("-").output().unwrap();
    String::from_utf8(o.stdout).unwrap().replace('\n', " ")
}

#[test]
fn patient_ids_differing_in_case_or_whitespace_are_one_patient_and_nobody_else_leaks() {
    let env = store_with(&[
        row(
            "1",
            "2026-01-01",
            "MRN-00100",
            "Mine exact",
            "p1",
            "public_health",
            "",
            "",
        ),
        row(
            "2",
            "2026-01-02",
            " mrn-00100 ",
            "Mine spaced lower",
            "p2",
            "public_health",
            "",
            "",
        ),
        row(
            "3",
            "2026-01-03",
            "MRN- 00100",
            "Mine inner space",
            "p3",
            "public_health",
            "",
            "",
        ),
        row(
            "4",
            "2026-01-04",
            "MRN-001000",
            "Longer id",
            "p4",
            "public_health",
            "",
            "",
        ),
        row(
            "5",
            "2026-01-05",
            "MRN-0010",
            "Prefix id",
            "p5",
            "public_health",
            "",
            "",
        ),
        row(
            "6",
            "2026-01-06",
            "MRN-00101",
            "Neighbour",
            "p6",
            "public_health",
            "",
            "",
        ),
    ]);
    for asked in ["MRN-00100", "mrn-00100", "  MRN-00100\t"] {
        let acc = show(&env, asked, "2026-03-31");
        assert_eq!(
            ids(&acc),
            ["Mine exact", "Mine spaced lower", "Mine inner space"],
            "asked as {asked:?}"
        );
    }
    assert_eq!(ids(&show(&env, "MRN-0010", "2026-03-31")), ["Prefix id"]);
    assert!(
        ids(&show(&env, "MRN-%", "2026-03-31")).is_empty(),
        "no pattern matching"
    );
    assert!(
        ids(&show(&env, "MRN-00100' OR '1'='1", "2026-03-31")).is_empty(),
        "no injection"
    );
}

#[test]
fn every_entry_proof_verifies_independently() {
    let env = store_with(&[
        row(
            "1",
            "2026-01-01",
            "MRN-1",
            "A",
            "p1",
            "public_health",
            "",
            "",
        ),
        row("2", "2026-01-02", "MRN-1", "B", "p2", "judicial", "", ""),
        row("3", "2026-01-03", "MRN-2", "C", "p3", "judicial", "", ""),
    ]);
    let acc = show(&env, "MRN-1", "2026-03-31");
    let entries = acc["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for e in entries {
        let idx = e["idx"].as_u64().unwrap();
        let proof = env.dir.path().join(format!("p{idx}.tlog-proof"));
        fs::write(&proof, e["proof"].as_str().unwrap()).unwrap();
        // the leaf bytes straight from the Parquet
        let leaf = duck(
            &env.store(),
            &format!("SELECT decode(leaf) FROM leaves WHERE idx = {idx}"),
        );
        let leaf_path = env.dir.path().join(format!("leaf{idx}"));
        fs::write(&leaf_path, leaf[0][0].as_bytes()).unwrap();
        let o = Command::new("python3")
            .arg(repo().join("tests/verify_inclusion.py"))
            .arg(&proof)
            .arg(&leaf_path)
            .arg(env.vkey())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
        // a changed leaf does not verify
        fs::write(&leaf_path, leaf[0][0].replace("MRN-1", "MRN-9")).unwrap();
        let o = Command::new("python3")
            .arg(repo().join("tests/verify_inclusion.py"))
            .arg(&proof)
            .arg(&leaf_path)
            .arg(env.vkey())
            .output()
            .unwrap();
        assert!(!o.status.success());
    }
}

fn req(env: &Env, patient: &str, received: &str) -> String {
    let s = env.store();
    let out = ok(&[
        "accounting",
        "request",
        "--store",
        s.to_str().unwrap(),
        "--key",
        env.key().to_str().unwrap(),
        "--patient",
        patient,
        "--received",
        received,
    ]);
    out.split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_string()
}

fn extend(env: &Env, r: &str, until: &str, on: &str) -> std::process::Output {
    let s = env.store();
    run(&[
        "accounting",
        "extend",
        "--store",
        s.to_str().unwrap(),
        "--key",
        env.key().to_str().unwrap(),
        "--request",
        r,
        "--reason",
        "records in off-site storage",
        "--until",
        until,
        "--on",
        on,
    ])
}

#[test]
fn deadlines_extensions_and_fees_with_each_refusal() {
    let env = store_with(&[row(
        "1",
        "2026-01-01",
        "MRN-1",
        "A",
        "p1",
        "public_health",
        "",
        "",
    )]);
    let s = env.store();
    let k = env.key();
    let out = ok(&[
        "accounting",
        "request",
        "--store",
        s.to_str().unwrap(),
        "--key",
        k.to_str().unwrap(),
        "--patient",
        "MRN-1",
        "--received",
        "2026-02-01",
    ]);
    assert!(
        out.contains("due 2026-04-02") && out.contains("fee: none (first request in 12 months)"),
        "{out}"
    );
    let r1 = out
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    // a second request within 12 months carries the fee, with advance notice
    let out = ok(&[
        "accounting",
        "request",
        "--store",
        s.to_str().unwrap(),
        "--key",
        k.to_str().unwrap(),
        "--patient",
        " mrn-1",
        "--received",
        "2026-06-01",
    ]);
    assert!(
        out.contains("fee: 25.00 USD") && out.contains("tell the individual in advance"),
        "{out}"
    );
    // a year and a day later it is free again
    let out = ok(&[
        "accounting",
        "request",
        "--store",
        s.to_str().unwrap(),
        "--key",
        k.to_str().unwrap(),
        "--patient",
        "MRN-1",
        "--received",
        "2027-06-02",
    ]);
    assert!(out.contains("fee: none"), "{out}");

    // extensions: more than 30 days, after the 60 days, then once only
    let o = extend(&env, &r1, "2026-05-03", "2026-03-01");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o)
            .contains("an extension may add at most 30 days: the latest allowed date for request")
            && stderr(&o).contains("is 2026-05-02"),
        "{}",
        stderr(&o)
    );
    let o = extend(&env, &r1, "2026-05-01", "2026-04-03");
    assert!(
        stderr(&o).contains("the first 60 days for request")
            && stderr(&o).contains("ended on 2026-04-02"),
        "{}",
        stderr(&o)
    );
    let o = extend(&env, &r1, "2026-05-02", "2026-04-02");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = extend(&env, &r1, "2026-05-02", "2026-04-02");
    assert!(
        stderr(&o).contains("was already extended once (to 2026-05-02)"),
        "{}",
        stderr(&o)
    );

    // list shows days left from the extended date
    let out = ok(&[
        "accounting",
        "list",
        "--store",
        s.to_str().unwrap(),
        "--on",
        "2026-04-20",
    ]);
    assert!(
        out.contains(&format!(
            "{r1}  received 2026-02-01  due 2026-05-02 (extended)  12 days left"
        )),
        "{out}"
    );

    // fulfil: letter and JSON written, fulfilment sealed with their hashes; twice is refused
    let dir = env.dir.path().join("sent");
    let out = ok(&[
        "accounting",
        "fulfil",
        "--store",
        s.to_str().unwrap(),
        "--key",
        k.to_str().unwrap(),
        "--request",
        &r1,
        "--out",
        dir.to_str().unwrap(),
        "--on",
        "2026-04-25",
    ]);
    assert!(
        out.contains("fulfilled on 2026-04-25 (1 entries, 0 withheld)"),
        "{out}"
    );
    let json = fs::read(dir.join("accounting.json")).unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&json));
    let detail = duck(
        &s,
        &format!(
            "SELECT detail FROM leaves WHERE kind = 'accounting_request' AND action = 'fulfil' AND resource = '{r1}'"
        ),
    );
    assert!(
        detail[0][0].contains(&format!("accounting.json sha256 {sha}")),
        "{detail:?}"
    );
    let o = run(&[
        "accounting",
        "fulfil",
        "--store",
        s.to_str().unwrap(),
        "--key",
        k.to_str().unwrap(),
        "--request",
        &r1,
        "--out",
        dir.to_str().unwrap(),
        "--on",
        "2026-04-26",
    ]);
    assert!(
        stderr(&o).contains("was already fulfilled on 2026-04-25"),
        "{}",
        stderr(&o)
    );
    let o = extend(&env, &r1, "2026-05-02", "2026-04-02");
    assert!(stderr(&o).contains("already fulfilled"), "{}", stderr(&o));
    let text = pdftotext(&dir.join("accounting-letter.pdf"));
    for want in [
        "Your accounting of disclosures",
        "Patient ID: MRN-1",
        "Time covered: 2020-02-01 to 2026-02-01",
        "You may ask for this list once every 12 months for free",
    ] {
        assert!(text.contains(want), "{want:?} in {text}");
    }
    let late = req(&env, "MRN-2", "2026-01-01");
    let out = ok(&[
        "accounting",
        "fulfil",
        "--store",
        s.to_str().unwrap(),
        "--key",
        k.to_str().unwrap(),
        "--request",
        &late,
        "--out",
        env.dir.path().join("late").to_str().unwrap(),
        "--on",
        "2026-03-15",
    ]);
    assert!(out.contains("LATE: it was due 2026-03-02"), "{out}");
    assert!(
        env.verify(&[]).status.success(),
        "{}",
        stdout(&env.verify(&[]))
    );
}

/// One postfix delivery of `mid` (`tls`: over TLS 1.3, else in plaintext:
/// another connection's TLS line shows TLS logging is on, and this
/// delivery's connection logged none).
fn postfix_delivery(queue: &str, mid: &str, to: &str, tls: bool) -> String {
    let tls_line = if tls {
        "Jan  2 09:00:02 mx-out1 postfix/smtp[4150]: Verified TLS connection established to mx1.partner.example[203.0.113.10]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n"
    } else {
        "Jan  2 08:59:00 mx-out1 postfix/smtp[4100]: Verified TLS connection established to mx.other.example[198.51.100.9]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n"
    };
    format!(
        "Jan  2 09:00:00 mx-out1 postfix/cleanup[4149]: {queue}: message-id=<{mid}>\n\
         Jan  2 09:00:01 mx-out1 postfix/qmgr[1201]: {queue}: from=<roi@hospital.example>, size=2740, nrcpt=1 (queue active)\n\
         {tls_line}\
         Jan  2 09:00:03 mx-out1 postfix/smtp[4150]: {queue}: to=<{to}>, relay=mx1.partner.example[203.0.113.10]:25, delay=0.8, delays=0.1/0/0.3/0.4, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n\
         Jan  2 09:00:04 mx-out1 postfix/qmgr[1201]: {queue}: removed\n"
    )
}

/// The server's kept-open accountant answers exactly what a fresh one-shot
/// accounting answers: on the first call, after the log grows (a new
/// disclosure naming a message delivered earlier, a new delivery of a
/// message an earlier disclosure named), and after the store at that path is
/// replaced by another.
#[test]
fn the_kept_accountant_answers_what_a_fresh_accounting_answers() {
    use sealtrail::accounting::{Accountant, build};
    use sealtrail::tlog::Verifier;

    let env = store_with(&[
        row(
            "D1",
            "2026-01-02",
            "MRN-1",
            "Clinic A",
            "treatment summary",
            "public_health",
            "",
            "",
        ),
        row(
            "D2",
            "2026-01-03",
            "mrn- 2",
            "Clinic B",
            "court order",
            "judicial",
            "",
            "",
        ),
        row(
            "D3",
            "2026-01-04",
            "MRN-3",
            "Clinic C",
            "care",
            "tpo",
            "",
            "",
        ),
    ]);
    let ingest_csv = |name: &str, rows: &[String]| {
        let csv = env.dir.path().join(name);
        fs::write(&csv, format!("{HEADER}{}", rows.join(""))).unwrap();
        let o = env.ingest(&["--source", "disclosures"], &[&csv]);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    let ingest_postfix = |name: &str, text: String| {
        let log = env.dir.path().join(name);
        fs::write(&log, text).unwrap();
        let o = env.ingest(&["--source", "postfix"], &[&log]);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    // a delivery sealed before any disclosure names its message
    ingest_postfix(
        "early.log",
        postfix_delivery("3A3303C", "m1@hospital.example", "a@partner.example", false),
    );

    let store = env.store();
    let queries = repo().join("queries");
    let vkey = Verifier::parse(&fs::read_to_string(env.vkey()).unwrap()).unwrap();
    let keys = [vkey];
    let src = sealtrail::query::EvidenceSource {
        store: &store,
        keys: &keys,
        queries: &queries,
    };
    let kept = Accountant::new(src);
    kept.warm().unwrap();
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let patients = ["MRN-1", "MRN-2", "mrn-3", "MRN-4"];
    let same_as_fresh = |when: &str| -> Vec<sealtrail::accounting::Accounting> {
        patients
            .iter()
            .map(|p| {
                let k = kept.build(p, as_of, None).unwrap();
                let f = build(src, p, as_of, None).unwrap();
                assert_eq!(k, f, "{when}: {p}");
                k
            })
            .collect()
    };
    let first = same_as_fresh("first call");
    assert_eq!(first[0].entries.len(), 1);
    assert_eq!(first[1].entries.len(), 1, "`mrn- 2` is MRN-2");
    assert_eq!(first[0].entries[0].transport, None, "no message named yet");

    // the log grows: MRN-1's next disclosure names m1 (delivered earlier, in
    // plaintext); MRN-4's names m2, delivered later over TLS
    ingest_csv(
        "more.csv",
        &[
            "D4,2026-01-05,MRN-1,Clinic D,1 Main St,lab results,billing audit,public_health,<m1@hospital.example>,,\n".into(),
            "D5,2026-01-06,MRN-4,Clinic E,1 Main St,lab results,research,public_health,<m2@hospital.example>,,\n".into(),
        ],
    );
    let grown = same_as_fresh("after new disclosures");
    assert_eq!(grown[0].entries.len(), 2);
    assert_eq!(
        grown[0].entries[1].transport.as_deref(),
        Some("sent by email without encryption"),
        "a new disclosure is linked to a delivery sealed before it"
    );
    assert_eq!(grown[3].entries[0].transport, None, "m2 not delivered yet");
    ingest_postfix(
        "late.log",
        postfix_delivery("4B4404D", "m2@hospital.example", "e@partner.example", true),
    );
    let later = same_as_fresh("after a new delivery");
    assert_eq!(
        later[3].entries[0].transport.as_deref(),
        Some("sent by email, encrypted with TLS 1.3"),
        "a new delivery is linked to a disclosure sealed before it"
    );
    assert!(later[0].checkpoint.size > first[0].checkpoint.size);

    // another store at the same path (same key): read again from the start
    fs::remove_dir_all(&store).unwrap();
    ingest_csv(
        "replaced.csv",
        &[row(
            "D9",
            "2026-01-09",
            "MRN-4",
            "Clinic Z",
            "x",
            "public_health",
            "",
            "",
        )],
    );
    let replaced = same_as_fresh("after the store was replaced");
    assert!(replaced[0].entries.is_empty());
    assert_eq!(replaced[3].entries.len(), 1);
    assert_eq!(replaced[3].entries[0].recipient_name, "Clinic Z");
}

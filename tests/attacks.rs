//! The attacks of the trust-boundary review (issue 19), each tried over real
//! HTTP on 127.0.0.1 or on real files, asserting that it now fails. Each
//! test names the attack's number in the issue.

mod common;

use std::time::Duration;

use common::server::{Server, client, token};
use common::{Env, duck, ok};
use reqwest::StatusCode;

fn body_of(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn post(
    c: &reqwest::blocking::Client,
    srv: &Server,
    source: &str,
    tok: &str,
    body: String,
) -> serde_json::Value {
    let r = c
        .post(srv.url(&format!("/v1/ingest/{source}")))
        .bearer_auth(tok)
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    r.json().unwrap()
}

fn seal_and_stop(env: &Env, srv: Server) {
    assert!(srv.stop().success());
    let s = env.store();
    let k = env.key();
    ok(&[
        "seal",
        "--store",
        s.to_str().unwrap(),
        "--key",
        k.to_str().unwrap(),
    ]);
}

/// Attacks 1 and 2: a gateway token cannot write the store's own records
/// (a key rotation, coverage, self-audit, an accounting fulfilment) nor
/// records of a source it is not bound to.
#[test]
fn a_gateway_cannot_forge_the_stores_own_records_or_another_source() {
    let env = Env::new();
    let srv = Server::start(&env, &[]);
    let c = client();
    let gw = token(&env, &["--role", "gateway", "--source", "jsonl"]);
    // an attacker's key, offered as a rotation
    let evil = env.dir.path().join("evil");
    ok(&[
        "keygen",
        "--name",
        "test.example/log",
        "--out",
        evil.to_str().unwrap(),
    ]);
    let evil_vkey = std::fs::read_to_string(evil.join("test.example_log.vkey")).unwrap();
    let ts = "2026-06-01T10:00:00Z";
    let lines = vec![
        serde_json::json!({"kind":"admin","ts":ts,"source":"sealtrail","action":"key_rotation","detail":evil_vkey.trim()}).to_string(),
        serde_json::json!({"kind":"delivery","ts":ts,"source":"postfix","recipient":"a@partner.example","status":"delivered","encryption":"tls"}).to_string(),
        serde_json::json!({"kind":"coverage","ts":ts,"source":"okta","window_start":ts,"window_end":"2026-06-01T11:00:00Z","count":999}).to_string(),
        serde_json::json!({"kind":"admin","ts":ts,"source":"sealtrail-server","action":"read:pack","user":"token:00000000"}).to_string(),
        serde_json::json!({"kind":"accounting_request","ts":ts,"source":"sealtrail","patient_id":"MRN-1","action":"fulfil","source_event_id":"AR-0000"}).to_string(),
        serde_json::json!({"kind":"access","ts":ts,"user":"nurse@h.example","action":"view","source":"ehr-but-not-bound"}).to_string(),
        serde_json::json!({"kind":"access","ts":ts,"user":"nurse@h.example","action":"view"}).to_string(),
    ];
    let a = post(&c, &srv, "jsonl", &gw, body_of(&lines));
    assert_eq!(a["read"], 7, "{a}");
    assert_eq!(a["accepted"], 1, "{a}");
    assert_eq!(a["quarantined_count"], 6, "{a}");
    let reasons: Vec<&str> = a["quarantined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons[0].contains("written only by sealtrail itself"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("may not write records of that source"),
        "{reasons:?}"
    );
    seal_and_stop(&env, srv);
    let store = env.store();
    assert_eq!(
        duck(
            &store,
            "SELECT count(*) FROM leaves WHERE action = 'key_rotation' OR (kind = 'coverage' AND \"count\" = 999) OR source = 'postfix' OR kind = 'accounting_request'"
        )[0][0],
        "BigInt(0)"
    );
    // and verify trusts only the key it was given
    let v = env.verify(&[]);
    assert!(v.status.success(), "{}", common::stderr(&v));
}

/// Attack 1, at the root: a key is learnt from a rotation leaf only if the
/// key it replaces signed it; a bare key in a leaf introduces nothing.
#[test]
fn a_rotation_leaf_must_be_signed_by_the_key_it_replaces() {
    use sealtrail::tlog::Signer;
    let old = Signer::from_seed("test.example/log", [1; 32]).unwrap();
    let new = Signer::from_seed("test.example/log", [2; 32]).unwrap();
    let evil = Signer::from_seed("test.example/log", [3; 32]).unwrap();
    let keys = [old.verifier()];
    let vkey = new.verifier().to_vkey_string();
    let body = format!("{}\n{vkey}\n", sealtrail::store::ROTATION_NOTE);
    assert_eq!(
        sealtrail::store::rotated_key(&old.sign_note(&body).unwrap(), &keys),
        Some(new.verifier())
    );
    assert_eq!(
        sealtrail::store::rotated_key(&vkey, &keys),
        None,
        "a bare key"
    );
    assert_eq!(
        sealtrail::store::rotated_key(&evil.sign_note(&body).unwrap(), &keys),
        None,
        "signed by another key"
    );
}

/// Attack 2, last case: a record claimed in advance under another's
/// identity does not make the real one a duplicate: both are kept.
#[test]
fn an_identity_claimed_in_advance_does_not_drop_the_real_record() {
    let env = Env::new();
    let srv = Server::start(&env, &[]);
    let c = client();
    let gw = token(&env, &["--role", "gateway", "--source", "postfix"]);
    let line = |relay: &str| {
        format!(
            "Jun  1 10:00:02 mx postfix/smtp[21]: 1A2B3C4D5E: to=<a@partner.example>, relay={relay}, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n"
        )
    };
    let fake = post(
        &c,
        &srv,
        "postfix",
        &gw,
        line("fake.example[198.51.100.1]:25"),
    );
    assert_eq!(fake["accepted"], 1);
    let real = post(
        &c,
        &srv,
        "postfix",
        &gw,
        line("mx.partner.example[203.0.113.5]:25"),
    );
    assert_eq!(
        (
            real["accepted"].as_u64(),
            real["duplicates"].as_u64(),
            real["collisions"].as_u64()
        ),
        (Some(1), Some(0), Some(1)),
        "{real}"
    );
    seal_and_stop(&env, srv);
    assert_eq!(
        duck(
            &env.store(),
            "SELECT count(*) FROM leaves WHERE kind = 'delivery'"
        )[0][0],
        "BigInt(2)"
    );
}

fn disclosures(env: &Env, rows: &[&str]) {
    let f = env.dir.path().join("roi.csv");
    let mut text = String::from(
        "disclosure_id,date,patient_id,recipient_name,recipient_address,description,purpose,basis,message_id,suspended_until\n",
    );
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(&f, text).unwrap();
    let o = env.ingest(&["--source", "disclosures"], &[f.as_path()]);
    assert!(o.status.success(), "{}", common::stderr(&o));
}

/// Attack 3: a patient cannot lift a law-enforcement suspension
/// (164.528(a)(2)) by asking for a later `as_of`, nor backdate a request.
#[test]
fn a_patient_cannot_move_the_day_to_lift_a_suspension_or_dodge_the_fee() {
    let env = Env::new();
    let until = (chrono::Utc::now().date_naive() + chrono::Days::new(200)).to_string();
    disclosures(
        &env,
        &[&format!(
            "LE-1,2026-01-10,MRN-9,County Sheriff,,records,investigation,law_enforcement,,{until}"
        )],
    );
    let srv = Server::start(&env, &[]);
    let c = client();
    let patient = token(&env, &["--role", "patient", "--patient", "MRN-9"]);
    let officer = token(&env, &["--role", "officer"]);
    let later = (chrono::Utc::now().date_naive() + chrono::Days::new(400)).to_string();
    let get = |tok: &str| -> serde_json::Value {
        c.get(srv.url(&format!("/v1/accounting/MRN-9?as_of={later}")))
            .bearer_auth(tok)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let mine = get(&patient);
    assert_eq!(mine["entries"].as_array().unwrap().len(), 0, "{mine}");
    assert_eq!(mine["withheld_count"], 1, "{mine}");
    // an officer may ask about another day (and sees the suspension end)
    let officers = get(&officer);
    assert_eq!(officers["withheld_count"], 0, "{officers}");
    // the letter is dated today for the patient as well
    let r = c
        .get(srv.url(&format!("/v1/accounting/MRN-9/letter?as_of={later}")))
        .bearer_auth(&patient)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // a patient's request is received today, whatever the body says
    let req: serde_json::Value = c
        .post(srv.url("/v1/accounting/requests"))
        .bearer_auth(&patient)
        .json(&serde_json::json!({"patient_id": "MRN-9", "received": "2020-01-01"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        req["received"],
        chrono::Utc::now().date_naive().to_string(),
        "{req}"
    );
}

/// Attack 4: a symbolic link planted in the store serves nothing, and only
/// segments the signed manifest names are served.
#[test]
fn links_planted_in_the_store_never_serve_the_private_key() {
    let env = Env::new();
    let o = env.ingest(
        &["--source", "postfix"],
        &[common::fixture("postfix/maillog-20260101").as_path()],
    );
    assert!(o.status.success());
    let keys_dir = env.store().join("keys");
    std::os::unix::fs::symlink(env.key(), keys_dir.join("zz.vkey")).unwrap();
    let seg = std::fs::read_dir(env.store().join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    let unlisted = env
        .store()
        .join("segments/00000000000099999990-00000000000099999999.parquet");
    std::os::unix::fs::symlink(env.key(), &unlisted).unwrap();
    let srv = Server::start(&env, &[]);
    let c = client();
    let auditor = token(&env, &["--role", "auditor"]);
    let private = std::fs::read_to_string(env.key()).unwrap();
    // PRIVATE+KEY+<name>+<id>+<base64>: the base64 may hold '+' itself, so
    // the secret is everything after the fourth '+' (its last piece alone
    // can be two letters that any message contains)
    let secret = private.trim().splitn(5, '+').nth(4).unwrap().to_string();
    assert!(secret.len() >= 40, "not a private key file");
    let r = c
        .get(srv.url("/v1/keys"))
        .bearer_auth(&auditor)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let text = r.text().unwrap();
    assert!(!text.contains(&secret), "the private key was served");
    assert!(text.contains("keys/zz.vkey"), "{text}");
    let r = c
        .get(srv.url(&format!(
            "/v1/segments/{}",
            unlisted.file_name().unwrap().to_string_lossy()
        )))
        .bearer_auth(&auditor)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // a listed segment replaced by a link is not followed either
    let name = seg.file_name().unwrap().to_string_lossy().to_string();
    std::fs::rename(&seg, env.dir.path().join("moved.parquet")).unwrap();
    std::os::unix::fs::symlink(env.key(), &seg).unwrap();
    let r = c
        .get(srv.url(&format!("/v1/segments/{name}")))
        .bearer_auth(&auditor)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(!r.text().unwrap().contains(&secret));
}

/// Attacks 8 and 9: patient ids compare the same way in Rust and SQL (no
/// Unicode case folding), and self-audit leaves name who read, not whom.
#[test]
fn patient_ids_compare_one_way_and_self_audit_names_no_patient() {
    let env = Env::new();
    disclosures(
        &env,
        &["D-1,2026-01-10,éve-7,County Health,,lab result,report,public_health,,"],
    );
    let srv = Server::start(&env, &[]);
    let c = client();
    let patient = token(&env, &["--role", "patient", "--patient", "ÉVE-7"]);
    let acc: serde_json::Value = c
        .get(srv.url("/v1/accounting/%C3%89VE-7"))
        .bearer_auth(&patient)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        acc["entries"].as_array().unwrap().len(),
        0,
        "another patient's disclosure: {acc}"
    );
    let owner = token(&env, &["--role", "patient", "--patient", "éve-7"]);
    let acc: serde_json::Value = c
        .get(srv.url("/v1/accounting/%C3%A9ve-7"))
        .bearer_auth(&owner)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(acc["entries"].as_array().unwrap().len(), 1, "{acc}");
    std::thread::sleep(Duration::from_millis(300));
    seal_and_stop(&env, srv);
    let details = duck(
        &env.store(),
        "SELECT detail FROM leaves WHERE kind = 'admin' AND action = 'read:accounting'",
    );
    assert_eq!(details.len(), 2);
    for d in details {
        assert!(
            !d[0].contains("patient") && !d[0].contains("sha256"),
            "{d:?}"
        );
    }
}

/// Attack 7 and the lower items: JSON answers are not cached, HSTS is sent.
#[test]
fn answers_are_never_cached_and_say_strict_transport() {
    let env = Env::new();
    let srv = Server::start(&env, &[]);
    let c = client();
    let auditor = token(&env, &["--role", "auditor"]);
    let r = c
        .get(srv.url("/v1/checkpoint"))
        .bearer_auth(&auditor)
        .send()
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.headers().contains_key("strict-transport-security"));
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
}

/// Attack 10: revocations beside creations are never lost (the token file
/// is edited under a lock).
#[test]
fn revocations_beside_creations_are_never_lost() {
    let env = Env::new();
    let s = env.store();
    // a store to hold the tokens
    let o = env.ingest(
        &["--source", "postfix"],
        &[common::fixture("postfix/maillog-20260101").as_path()],
    );
    assert!(o.status.success());
    let ids: Vec<String> = (0..20)
        .map(|_| {
            let t = token(&env, &["--role", "auditor"]);
            t.split('_').nth(1).unwrap().to_string()
        })
        .collect();
    let store = s.to_str().unwrap().to_string();
    std::thread::scope(|sc| {
        for id in &ids {
            let st = store.clone();
            sc.spawn(move || ok(&["token", "revoke", "--store", &st, "--id", id]));
            let st = store.clone();
            sc.spawn(move || ok(&["token", "create", "--store", &st, "--role", "auditor"]));
        }
    });
    let list = ok(&["token", "list", "--store", s.to_str().unwrap()]);
    for id in &ids {
        let line = list.lines().find(|l| l.starts_with(id.as_str())).unwrap();
        assert!(
            line.contains("REVOKED"),
            "{id} lost its revocation:\n{list}"
        );
    }
    assert_eq!(list.lines().count(), 40, "{list}");
}

/// Attack 5: connections that send nothing are closed, and many of them do
/// not make the server unanswerable.
#[test]
fn silent_connections_are_closed_and_do_not_starve_the_server() {
    use std::io::Read;
    let env = Env::new();
    std::fs::write(
        env.dir.path().join("server.toml"),
        "first_byte_timeout_ms = 300\n",
    )
    .unwrap();
    let srv = Server::start(&env, &[]);
    let addr = srv.base.trim_start_matches("http://").to_string();
    let silent: Vec<std::net::TcpStream> = (0..300)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    let c = client();
    assert_eq!(
        c.get(srv.url("/healthz")).send().unwrap().status(),
        StatusCode::OK
    );
    // each silent socket is closed by the server (EOF or reset), none left open
    for mut s in silent {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = [0u8; 16];
        match s.read(&mut b) {
            Ok(0) => {}
            Ok(n) => panic!("the server sent {n} bytes to a silent socket"),
            Err(e) => assert!(
                e.kind() == std::io::ErrorKind::ConnectionReset,
                "still open after the deadline: {e}"
            ),
        }
    }
}

/// Attack 6: the bodies held at once across requests are bounded.
#[test]
fn bodies_beyond_the_in_flight_budget_are_refused_not_buffered() {
    let env = Env::new();
    std::fs::write(
        env.dir.path().join("server.toml"),
        "max_in_flight_bytes = 4096\n",
    )
    .unwrap();
    let srv = Server::start(&env, &[]);
    let c = client();
    let gw = token(&env, &["--role", "gateway", "--source", "jsonl"]);
    let line =
        serde_json::json!({"kind":"access","ts":"2026-06-01T10:00:00Z","user":"u","action":"view"})
            .to_string();
    let small = format!("{line}\n");
    let big: String = (0..200).map(|_| format!("{line}\n")).collect();
    let r = c
        .post(srv.url("/v1/ingest/jsonl"))
        .bearer_auth(&gw)
        .body(big)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let r = c
        .post(srv.url("/v1/ingest/jsonl"))
        .bearer_auth(&gw)
        .body(small)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

/// Also found in review: `export` reads only what the signed manifest lists,
/// so a file put in the directory is not exported as evidence.
#[test]
fn export_reads_only_what_the_signed_manifest_lists() {
    let env = Env::new();
    let o = env.ingest(
        &["--source", "postfix"],
        &[common::fixture("postfix/maillog-20260101").as_path()],
    );
    assert!(o.status.success());
    let export = |env: &Env| -> usize {
        let out = env.dir.path().join("out.ndjson");
        ok(&[
            "export",
            "--store",
            env.store().to_str().unwrap(),
            "--vkey",
            env.vkey().to_str().unwrap(),
            "--format",
            "ocsf",
            "--out",
            out.to_str().unwrap(),
        ]);
        std::fs::read_to_string(out).unwrap().lines().count()
    };
    let before = export(&env);
    assert!(before > 0);
    let seg = std::fs::read_dir(env.store().join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    std::fs::copy(
        &seg,
        env.store()
            .join("segments/00000000000090000000-00000000000090000099.parquet"),
    )
    .unwrap();
    assert_eq!(export(&env), before, "an injected file was exported");
}

/// Attack 4, first half: tokens live outside the store, so a token written
/// into the store directory by someone who may write the store is refused.
#[test]
fn a_token_planted_in_the_store_does_not_work() {
    let env = Env::new();
    let o = env.ingest(
        &["--source", "postfix"],
        &[common::fixture("postfix/maillog-20260101").as_path()],
    );
    assert!(o.status.success());
    let srv = Server::start(&env, &[]);
    let c = client();
    let real = token(&env, &["--role", "auditor"]);
    assert!(
        !env.store().join("tokens").exists(),
        "tokens were written into the store"
    );
    assert!(env.dir.path().join("store.state/tokens.json").exists());
    // the insider makes a token of their own (another store's state) and
    // plants its file where tokens used to live
    let other = Env::new();
    let o = other.ingest(
        &["--source", "postfix"],
        &[common::fixture("postfix/maillog-20260101").as_path()],
    );
    assert!(o.status.success());
    let planted = token(&other, &["--role", "officer"]);
    std::fs::create_dir_all(env.store().join("tokens")).unwrap();
    std::fs::copy(
        other.dir.path().join("store.state/tokens.json"),
        env.store().join("tokens/tokens.json"),
    )
    .unwrap();
    let get = |t: &str| {
        c.get(srv.url("/v1/keys"))
            .bearer_auth(t)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(get(&planted), StatusCode::UNAUTHORIZED);
    assert_eq!(get(&real), StatusCode::OK);
}

/// Lower items: what sealtrail writes is readable by its account only, and a
/// signing key others can read is refused.
#[test]
fn files_are_private_and_a_readable_key_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let o = env.ingest(
        &["--source", "postfix"],
        &[common::fixture("postfix/maillog-20260101").as_path()],
    );
    assert!(o.status.success());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.store()), 0o700);
    for e in std::fs::read_dir(env.store().join("segments")).unwrap() {
        assert_eq!(mode(&e.unwrap().path()), 0o600);
    }
    assert_eq!(mode(&env.store().join("checkpoint")), 0o600);
    std::fs::set_permissions(env.key(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = env.ingest(
        &["--source", "postfix"],
        &[common::fixture("postfix/maillog-20260101").as_path()],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        common::stderr(&o).contains("chmod 600"),
        "{}",
        common::stderr(&o)
    );
}

/// Lower items: a malformed path or body is answered as JSON that echoes
/// nothing of the input.
#[test]
fn malformed_requests_are_answered_without_echoing_input() {
    let env = Env::new();
    let srv = Server::start(&env, &[]);
    let c = client();
    let auditor = token(&env, &["--role", "auditor"]);
    let officer = token(&env, &["--role", "officer"]);
    let r = c
        .get(srv.url("/v1/manifests/MRN-12345-not-a-size"))
        .bearer_auth(&auditor)
        .send()
        .unwrap();
    assert!(r.status().is_client_error());
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(!r.text().unwrap().contains("MRN-12345"));
    let r = c
        .get(srv.url("/v1/proof/inclusion?idx=MRN-777"))
        .bearer_auth(&auditor)
        .send()
        .unwrap();
    assert!(r.status().is_client_error());
    assert!(!r.text().unwrap().contains("MRN-777"));
    let r = c
        .post(srv.url("/v1/packs"))
        .bearer_auth(&officer)
        .header("content-type", "application/json")
        .body("{\"from\": \"MRN-888\"")
        .send()
        .unwrap();
    assert!(r.status().is_client_error());
    assert!(!r.text().unwrap().contains("MRN-888"));
}

/// Lower items: the service logs one JSON line per request by default,
/// naming the route template, never the concrete path (which may hold a
/// patient id).
#[test]
fn the_service_logs_json_request_lines_by_default() {
    let env = Env::new();
    let log = env.dir.path().join("serve.log");
    let srv = Server::start_logging(&env, &[], Some(&log));
    let patient = token(&env, &["--role", "patient", "--patient", "MRN-4242"]);
    let _ = client()
        .get(srv.url("/v1/accounting/MRN-4242"))
        .bearer_auth(&patient)
        .send()
        .unwrap();
    assert!(srv.stop().success());
    let text = std::fs::read_to_string(&log).unwrap();
    let requests: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "request")
        .collect();
    assert!(
        requests
            .iter()
            .any(|r| r["fields"]["route"] == "/v1/accounting/{patient_id}"),
        "{text}"
    );
    assert!(!text.contains("MRN-4242"), "{text}");
}

/// Attack 7, behind a TLS proxy: the client address is the proxy's
/// `X-Forwarded-For` only when the proxy is a configured trusted one, so one
/// client's failures do not lock out the others, and no client can pick its
/// own address by sending the header itself.
#[test]
fn the_client_address_comes_from_a_trusted_proxy_only() {
    let attempt = |srv: &Server, from: &str| {
        client()
            .get(srv.url("/v1/keys"))
            .bearer_auth("st_00000000_guess")
            .header("x-forwarded-for", from)
            .send()
            .unwrap()
            .status()
    };
    // behind a trusted proxy (this test's loopback connection is the proxy)
    let env = Env::new();
    std::fs::write(
        env.dir.path().join("server.toml"),
        "auth_failures_per_minute = 2\ntrusted_proxies = [\"127.0.0.1\"]\n",
    )
    .unwrap();
    let srv = Server::start(&env, &[]);
    common::server::away_from_a_minute_boundary();
    for _ in 0..2 {
        assert_eq!(attempt(&srv, "198.51.100.1"), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(attempt(&srv, "198.51.100.1"), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        attempt(&srv, "203.0.113.9, 198.51.100.2"),
        StatusCode::UNAUTHORIZED,
        "another client"
    );
    drop(srv);
    // no trusted proxy: the header is the client's own words and is ignored
    let env = Env::new();
    std::fs::write(
        env.dir.path().join("server.toml"),
        "auth_failures_per_minute = 2\n",
    )
    .unwrap();
    let srv = Server::start(&env, &[]);
    common::server::away_from_a_minute_boundary();
    for _ in 0..2 {
        assert_eq!(attempt(&srv, "198.51.100.1"), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(attempt(&srv, "198.51.100.2"), StatusCode::TOO_MANY_REQUESTS);
}

/// Attack 3, last part: a patient token has a daily limit on accountings,
/// letters and requests; officers are not limited by it.
#[test]
fn a_patient_token_has_a_daily_limit() {
    let env = Env::new();
    disclosures(
        &env,
        &["D-1,2026-01-10,MRN-5,County Health,,lab result,report,public_health,,"],
    );
    std::fs::write(
        env.dir.path().join("server.toml"),
        "patient_reads_per_day = 3\n",
    )
    .unwrap();
    let srv = Server::start(&env, &[]);
    let c = client();
    let patient = token(&env, &["--role", "patient", "--patient", "MRN-5"]);
    let officer = token(&env, &["--role", "officer"]);
    let get = |t: &str, p: &str| c.get(srv.url(p)).bearer_auth(t).send().unwrap().status();
    assert_eq!(get(&patient, "/v1/accounting/MRN-5"), StatusCode::OK);
    assert_eq!(get(&patient, "/v1/accounting/MRN-5/letter"), StatusCode::OK);
    assert_eq!(get(&patient, "/v1/accounting/MRN-5"), StatusCode::OK);
    assert_eq!(
        get(&patient, "/v1/accounting/MRN-5"),
        StatusCode::TOO_MANY_REQUESTS
    );
    for _ in 0..5 {
        assert_eq!(get(&officer, "/v1/accounting/MRN-5"), StatusCode::OK);
    }
    let req = |t: &str| {
        c.post(srv.url("/v1/accounting/requests"))
            .bearer_auth(t)
            .json(&serde_json::json!({"patient_id": "MRN-5"}))
            .send()
            .unwrap()
            .status()
    };
    assert!(req(&patient).is_success());
    assert_eq!(req(&patient), StatusCode::TOO_MANY_REQUESTS);
}

/// Attack 5, HTTP/2: a connection that sends the preface and then nothing
/// is closed once idle, not kept open by keep-alive pings.
#[test]
fn an_idle_http2_connection_is_closed() {
    use std::io::{Read, Write};
    let env = Env::new();
    std::fs::write(
        env.dir.path().join("server.toml"),
        "request_timeout_secs = 1\nidle_timeout_ms = 500\n",
    )
    .unwrap();
    let srv = Server::start(&env, &[]);
    let addr = srv.base.trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,    // closed by the server
            Ok(_) => continue, // its SETTINGS, and a GOAWAY before closing
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the idle HTTP/2 connection is still open: {e}"),
        }
    }
}

/// Attack 6, within one body: a body larger than one part is parsed and
/// appended part by part, every record counted, and answered once durable.
#[test]
fn a_large_body_is_appended_in_parts_and_counted_whole() {
    let env = Env::new();
    std::fs::write(
        env.dir.path().join("server.toml"),
        "max_body_bytes = 8000000
seal_every = 5000
seal_interval_ms = 200
",
    )
    .unwrap();
    let srv = Server::start(&env, &[]);
    let c = client();
    let gw = token(&env, &["--role", "gateway", "--source", "jsonl"]);
    let body: String = (0..25_000)
        .map(|i| {
            format!(
                "{}\n",
                serde_json::json!({"kind":"access","ts":"2026-06-01T10:00:00Z","user":"u","action":"view","source_event_id":format!("big-{i}")})
            )
        })
        .collect();
    let a = post(&c, &srv, "jsonl", &gw, body);
    assert_eq!(
        (a["read"].as_u64(), a["accepted"].as_u64()),
        (Some(25_000), Some(25_000)),
        "{a}"
    );
    seal_and_stop(&env, srv);
    assert_eq!(
        duck(
            &env.store(),
            "SELECT count(DISTINCT source_event_id) FROM leaves WHERE kind = 'access'"
        )[0][0],
        "BigInt(25000)"
    );
}

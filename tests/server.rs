//! `sealtrail serve` over real HTTP on 127.0.0.1: every route, every role
//! boundary, a route walk that checks each non-public route refuses a
//! request without a token, ingest → seal → verify while running, a bounded
//! load test with SIGTERM in the middle, one with SIGKILL (and commits
//! shared between requests), and TLS.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::server::{Server, client, token};
use common::{Env, duck, fixture, ok, run};
use reqwest::StatusCode;
use reqwest::blocking::Client;

fn store_with_data() -> Env {
    let env = Env::new();
    for s in ["disclosures", "okta"] {
        let files: Vec<PathBuf> = std::fs::read_dir(fixture(s))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        let refs: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
        assert!(env.ingest(&["--source", s], &refs).status.success());
    }
    env
}

/// The settings `Server::start` uses instead of the tests' default ones.
fn server_config(env: &Env, toml: &str) {
    std::fs::write(env.dir.path().join("server.toml"), toml).unwrap();
}

/// `POST /v1/ingest/jsonl` with a gateway token.
fn ingest_jsonl(
    c: &Client,
    srv: &Server,
    tok: &str,
    body: impl Into<reqwest::blocking::Body>,
) -> reqwest::blocking::Response {
    c.post(srv.url("/v1/ingest/jsonl"))
        .bearer_auth(tok)
        .body(body)
        .send()
        .unwrap()
}

/// How many segment files the store holds.
fn segment_files(env: &Env) -> usize {
    std::fs::read_dir(env.store().join("segments"))
        .unwrap()
        .count()
}

/// Waits until a seal has grown the checkpoint to at least `size`.
fn wait_for_tree(c: &Client, srv: &Server, tok: &str, size: u64, limit: Duration) {
    let t0 = Instant::now();
    while tree_size(c, srv, tok) < size {
        assert!(
            t0.elapsed() < limit,
            "the checkpoint did not reach {size} leaves within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tree_size(c: &Client, srv: &Server, tok: &str) -> u64 {
    let t = c
        .get(srv.url("/v1/checkpoint"))
        .bearer_auth(tok)
        .send()
        .unwrap()
        .text()
        .unwrap();
    t.lines().nth(1).unwrap().parse().unwrap()
}

#[test]
fn every_non_public_route_refuses_a_missing_token() {
    let env = store_with_data();
    let srv = Server::start(&env, &[]);
    let c = client();
    let api: serde_json::Value = c
        .get(srv.url("/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        api["openapi"].as_str().unwrap().starts_with("3.1"),
        "OpenAPI 3.1"
    );
    let mut checked = 0;
    for (path, item) in api["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{source}", "postfix")
                .replace("{name}", "x.parquet")
                .replace("{size}", "1")
                .replace("{id}", "pk-x")
                .replace("{patient_id}", "MRN-1");
            let req = match method.as_str() {
                "get" => c.get(srv.url(&concrete)),
                "post" => c.post(srv.url(&concrete)).body("{}"),
                m => panic!("unexpected method {m}"),
            };
            let status = req.send().unwrap().status();
            if path == "/healthz" {
                assert_eq!(status, StatusCode::OK);
            } else {
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} must refuse a request without a token"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 14, "walked {checked} protected routes");
    // the committed copy of the document is the generated one
    let committed = std::fs::read_to_string(common::repo().join("docs/openapi.json")).unwrap();
    let generated = ok(&["openapi"]);
    assert_eq!(
        committed.trim(),
        generated.trim(),
        "docs/openapi.json is stale: run `sealtrail openapi > docs/openapi.json`"
    );
}

#[test]
fn roles_are_least_privilege() {
    let env = store_with_data();
    let srv = Server::start(&env, &[]);
    let c = client();
    let gw = token(&env, &["--role", "gateway", "--source", "postfix"]);
    let officer = token(&env, &["--role", "officer"]);
    let auditor = token(&env, &["--role", "auditor"]);
    let patient = token(&env, &["--role", "patient", "--patient", "MRN-00101"]);
    let expired = token(&env, &["--role", "auditor", "--expires", "1s"]);
    let revoked = token(&env, &["--role", "auditor"]);
    let id = revoked.split('_').nth(1).unwrap().to_string();
    ok(&[
        "token",
        "revoke",
        "--store",
        env.store().to_str().unwrap(),
        "--id",
        &id,
    ]);
    let get = |p: &str, t: &str| c.get(srv.url(p)).bearer_auth(t).send().unwrap().status();
    // a gateway cannot read, nor push another source
    assert_eq!(get("/v1/segments", &gw), StatusCode::FORBIDDEN);
    assert_eq!(get("/v1/accounting/MRN-00101", &gw), StatusCode::FORBIDDEN);
    assert_eq!(
        c.post(srv.url("/v1/ingest/okta"))
            .bearer_auth(&gw)
            .body("[]")
            .send()
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    // an auditor reads integrity material only
    assert_eq!(get("/v1/segments", &auditor), StatusCode::OK);
    assert_eq!(
        get("/v1/accounting/MRN-00101", &auditor),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        c.post(srv.url("/v1/packs"))
            .bearer_auth(&auditor)
            .json(&serde_json::json!({"from":"2026-01-01","to":"2026-01-31"}))
            .send()
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    // an officer does not download segments
    assert_eq!(get("/v1/segments", &officer), StatusCode::FORBIDDEN);
    // a patient sees its own accounting (any spelling of its id), and 404 for anyone else's
    assert_eq!(
        get("/v1/accounting/MRN-00101?as_of=2026-03-31", &patient),
        StatusCode::OK
    );
    assert_eq!(
        get("/v1/accounting/mrn-00101?as_of=2026-03-31", &patient),
        StatusCode::OK
    );
    assert_eq!(
        get("/v1/accounting/MRN-00102?as_of=2026-03-31", &patient),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get("/v1/accounting/NO-SUCH-PATIENT", &patient),
        StatusCode::NOT_FOUND
    );
    assert_eq!(get("/v1/segments", &patient), StatusCode::FORBIDDEN);
    // revoked and expired tokens are refused; so is a forged secret
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(get("/v1/segments", &expired), StatusCode::UNAUTHORIZED);
    assert_eq!(get("/v1/segments", &revoked), StatusCode::UNAUTHORIZED);
    let forged = format!("{}x", &auditor[..auditor.len() - 1]);
    assert_eq!(get("/v1/segments", &forged), StatusCode::UNAUTHORIZED);
    // errors are JSON {"error": {"code", "message"}}
    let e: serde_json::Value = c
        .get(srv.url("/v1/segments"))
        .bearer_auth(&gw)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(e["error"]["code"], "forbidden");
}

#[test]
fn ingest_seal_verify_and_every_read_route_while_running() {
    let env = store_with_data();
    let srv = Server::start(&env, &[]);
    let c = client();
    let gw = token(
        &env,
        &[
            "--role", "gateway", "--source", "postfix", "--source", "jsonl",
        ],
    );
    let auditor = token(&env, &["--role", "auditor"]);
    let officer = token(&env, &["--role", "officer"]);
    let before = tree_size(&c, &srv, &auditor);

    // a gzipped postfix log with one malformed line
    let log = std::fs::read(fixture("postfix/maillog-rfc5424.log")).unwrap();
    let mut body = log.clone();
    body.extend_from_slice(b"garbage that is not syslog\n");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body).unwrap();
    let r = c
        .post(srv.url("/v1/ingest/postfix"))
        .bearer_auth(&gw)
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let a: serde_json::Value = r.json().unwrap();
    assert_eq!(a["accepted"], 12);
    assert_eq!(a["duplicates"], 0);
    assert_eq!(a["quarantined"][0]["line"], 46);
    // nothing read is lost: every line of the body is accounted for
    let accounted = |a: &serde_json::Value| {
        let not_events: u64 = a["not_events"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        a["accepted"].as_u64().unwrap()
            + a["duplicates"].as_u64().unwrap()
            + a["quarantined_count"].as_u64().unwrap()
            + not_events
    };
    let lines = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64;
    assert_eq!(a["read"].as_u64(), Some(lines), "{a}");
    assert_eq!(accounted(&a), lines, "{a}");
    assert_eq!(a["quarantined_count"], 1);
    assert!(
        a["quarantined"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("not a syslog line")
    );
    // a re-sent batch is not double-counted
    let a: serde_json::Value = c
        .post(srv.url("/v1/ingest/postfix"))
        .bearer_auth(&gw)
        .body(log)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (a["accepted"].as_u64(), a["duplicates"].as_u64()),
        (Some(0), Some(12))
    );
    assert_eq!(accounted(&a), a["read"].as_u64().unwrap(), "{a}");

    // the background sealer grows the checkpoint
    wait_for_tree(&c, &srv, &auditor, before + 13, Duration::from_secs(10));
    let v = env.verify(&[]);
    assert!(
        v.status.success(),
        "verify while the server runs: {}",
        common::stdout(&v)
    );

    // integrity routes
    let size = tree_size(&c, &srv, &auditor);
    let p = c
        .get(srv.url(&format!("/v1/proof/inclusion?idx=3&size={size}")))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(p.starts_with("c2sp.org/tlog-proof@v1\nindex 3\n"));
    let p = c
        .get(srv.url(&format!("/v1/proof/consistency?from={before}")))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(p.starts_with("sealtrail.dev/consistency-proof@v1\n"));
    assert_eq!(
        c.get(srv.url("/v1/proof/inclusion?idx=999999"))
            .bearer_auth(&auditor)
            .send()
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    let segs: Vec<serde_json::Value> = c
        .get(srv.url("/v1/segments"))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let name = segs[0]["name"].as_str().unwrap();
    let bytes = c
        .get(srv.url(&format!("/v1/segments/{name}")))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(&bytes[..4], b"PAR1");
    assert_eq!(
        c.get(srv.url("/v1/segments/..%2F..%2Fsealtrail-store"))
            .bearer_auth(&auditor)
            .send()
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let sizes: Vec<u64> = c
        .get(srv.url("/v1/manifests"))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .json()
        .unwrap();
    // only the latest two manifests are kept (FORMAT.md §8)
    assert!((1..=2).contains(&sizes.len()), "manifests kept: {sizes:?}");
    let m = c
        .get(srv.url(&format!("/v1/manifests/{}", sizes.last().unwrap())))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(m.starts_with("sealtrail.dev/manifest@v1\n"));
    assert!(
        c.get(srv.url("/v1/keys"))
            .bearer_auth(&auditor)
            .send()
            .unwrap()
            .text()
            .unwrap()
            .starts_with("test.example/log+")
    );
    let metrics = metrics_text(&srv, &auditor);
    assert!(
        metrics.contains("sealtrail_events_ingested_total{source=\"postfix\"} 12"),
        "{metrics}"
    );
    assert!(metrics.contains("sealtrail_seal_seconds_count"));

    // packs and accounting
    let created: serde_json::Value = c
        .post(srv.url("/v1/packs"))
        .bearer_auth(&officer)
        .json(&serde_json::json!({"from":"2025-12-01","to":"2026-03-31","org":"Test Hospital"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let zip = c
        .get(srv.url(&format!("/v1/packs/{}", created["id"].as_str().unwrap())))
        .bearer_auth(&officer)
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(&zip[..2], b"PK");
    let r: serde_json::Value = c
        .post(srv.url("/v1/accounting/requests"))
        .bearer_auth(&officer)
        .json(&serde_json::json!({"patient_id":"MRN-00101","received":"2026-04-01"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["due"], "2026-05-31");
    let acc: serde_json::Value = c
        .get(srv.url("/v1/accounting/MRN-00101?as_of=2026-04-01"))
        .bearer_auth(&officer)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(!acc["entries"].as_array().unwrap().is_empty());

    // limits: an oversized body and a gzip bomb are refused with JSON 413s
    let big = vec![b'x'; 2_100_000];
    let r = ingest_jsonl(&c, &srv, &gw, big);
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        r.json::<serde_json::Value>().unwrap()["error"]["code"],
        "body_too_large"
    );
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&vec![b'\n'; 50_000_000]).unwrap();
    let r = c
        .post(srv.url("/v1/ingest/jsonl"))
        .bearer_auth(&gw)
        .body(bomb.finish().unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        r.json::<serde_json::Value>().unwrap()["error"]["code"],
        "decompressed_too_large"
    );

    // SIGTERM: drains, seals, exits 0; every read of evidence was recorded
    assert!(srv.stop().success());
    let reads = duck(
        &env.store(),
        "SELECT action, count(*) FROM leaves WHERE kind = 'admin' AND action LIKE 'read:%' GROUP BY ALL ORDER BY ALL",
    );
    let got: Vec<String> = reads.iter().map(|r| format!("{}={}", r[0], r[1])).collect();
    assert_eq!(
        got,
        [
            "read:accounting=BigInt(1)",
            "read:pack=BigInt(2)",
            "read:proof=BigInt(2)",
            "read:segment=BigInt(1)"
        ]
    );
    let leaked = duck(
        &env.store(),
        "SELECT count(*) FROM leaves WHERE kind = 'admin' AND detail LIKE '%MRN%'",
    );
    assert_eq!(
        leaked[0][0], "BigInt(0)",
        "self-audit leaves carry no patient id"
    );
    assert!(env.verify(&[]).status.success());
}

/// The server's `/metrics` text, read with `token`.
fn metrics_text(srv: &Server, token: &str) -> String {
    client()
        .get(srv.url("/metrics"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .text()
        .unwrap()
}

/// `clients` threads pushing 50-event bodies from now until `deadline`;
/// each returns the ids of the events acknowledged with 202 (a 503 must
/// carry Retry-After; a refused connection means the server is gone).
fn push_load(
    srv: &Server,
    gw: &str,
    clients: usize,
    deadline: Instant,
) -> Vec<std::thread::JoinHandle<Vec<String>>> {
    (0..clients)
        .map(|t| {
            let (gw, base) = (gw.to_string(), srv.base.clone());
            std::thread::spawn(move || {
                let c = client();
                let mut acked: Vec<String> = Vec::new();
                let mut n = 0;
                while Instant::now() < deadline {
                    let ids: Vec<String> = (0..50).map(|k| format!("t{t}-b{n}-{k}")).collect();
                    let body: String = ids.iter().map(|id| format!("{{\"kind\":\"access\",\"user\":\"u\",\"ts\":\"2026-05-01T00:00:00Z\",\"action\":\"load\",\"source_event_id\":\"{id}\"}}\n")).collect();
                    match c.post(format!("{base}/v1/ingest/jsonl")).bearer_auth(&gw).body(body).send() {
                        Ok(r) if r.status() == StatusCode::ACCEPTED => acked.extend(ids),
                        Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
                            assert!(r.headers().get("retry-after").is_some());
                        }
                        Ok(r) => panic!("unexpected {}", r.status()),
                        Err(_) => break, // the server is gone
                    }
                    n += 1;
                }
                acked
            })
        })
        .collect()
}

/// Every acknowledged id is sealed, each event exactly once, and the store
/// verifies.
fn assert_acknowledged_sealed(env: &Env, handles: Vec<std::thread::JoinHandle<Vec<String>>>) {
    let mut acked = BTreeSet::new();
    for h in handles {
        acked.extend(h.join().unwrap());
    }
    assert!(
        acked.len() > 500,
        "the load made progress ({} acknowledged)",
        acked.len()
    );
    let rows = duck(
        &env.store(),
        "SELECT source_event_id FROM leaves WHERE action = 'load'",
    );
    let sealed: Vec<String> = rows.into_iter().map(|r| r[0].clone()).collect();
    let unique: BTreeSet<String> = sealed.iter().cloned().collect();
    assert_eq!(unique.len(), sealed.len(), "each event sealed once");
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !unique.contains(*id))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not sealed: {missing:?}"
    );
    assert!(env.verify(&[]).status.success());
}

#[test]
fn load_then_sigterm_loses_nothing_acknowledged() {
    let env = Env::new();
    let srv = Server::start(&env, &[]);
    let gw = token(&env, &["--role", "gateway", "--source", "jsonl"]);
    let handles = push_load(&srv, &gw, 6, Instant::now() + Duration::from_secs(6));
    // SIGTERM in the middle of the load
    std::thread::sleep(Duration::from_secs(3));
    let status = srv.stop();
    assert!(status.success(), "exit 0 on SIGTERM");
    assert_acknowledged_sealed(&env, handles);
}

/// The commits of requests queued together share one fsync (group commit),
/// and still none is answered before its events are in the WAL: after a
/// SIGKILL in the middle of the load, recovery seals every event a 202
/// acknowledged.
#[test]
fn load_then_sigkill_loses_nothing_acknowledged_and_commits_are_shared() {
    let env = Env::new();
    let srv = Server::start(&env, &[]);
    let gw = token(&env, &["--role", "gateway", "--source", "jsonl"]);
    let auditor = token(&env, &["--role", "auditor"]);
    let handles = push_load(&srv, &gw, 8, Instant::now() + Duration::from_secs(6));
    std::thread::sleep(Duration::from_secs(3));
    let metrics = metrics_text(&srv, &auditor);
    let count = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    let (waited, groups) = (
        count("sealtrail_commits_waited_total"),
        count("sealtrail_commit_groups_total"),
    );
    assert!(waited > 100, "the load made commits ({waited})");
    assert!(
        groups < waited,
        "8 clients' commits never shared an fsync ({groups} for {waited})"
    );
    drop(srv); // SIGKILL
    // recovery on open, then seal what the WAL held
    ok(&[
        "seal",
        "--store",
        env.store().to_str().unwrap(),
        "--key",
        env.key().to_str().unwrap(),
    ]);
    assert_acknowledged_sealed(&env, handles);
}

#[test]
fn plain_http_off_loopback_is_refused_and_tls_works() {
    let env = Env::new();
    let o = run(&[
        "serve",
        "--store",
        env.store().to_str().unwrap(),
        "--key",
        env.key().to_str().unwrap(),
        "--listen",
        "0.0.0.0:0",
    ]);
    assert!(!o.status.success());
    assert!(
        common::stderr(&o).contains("refusing to serve plain HTTP on 0.0.0.0:0"),
        "{}",
        common::stderr(&o)
    );
    // TLS with a self-signed certificate made by openssl
    let dir = env.dir.path();
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let srv = Server::start(
        &env,
        &[
            "--tls-cert",
            dir.join("cert.pem").to_str().unwrap(),
            "--tls-key",
            dir.join("key.pem").to_str().unwrap(),
        ],
    );
    let url = srv.url("/healthz").replace("http://", "https://");
    let o = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(dir.join("cert.pem"))
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("\"status\":\"ok\""),
        "{o:?}"
    );
    let o = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .arg(srv.url("/healthz"))
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("\"status\":\"ok\""),
        "plain HTTP is not answered on the TLS port"
    );
}

#[test]
fn oversized_headers_and_slow_clients_are_cut_off() {
    use std::io::Read;
    use std::net::TcpStream;
    let env = Env::new();
    let srv = Server::start(&env, &[]);
    let addr = srv.base.trim_start_matches("http://").to_string();
    // 100 KB of headers
    let mut s = TcpStream::connect(&addr).unwrap();
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100_000)
    );
    let _ = s.write_all(big.as_bytes());
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(
        !resp.starts_with("HTTP/1.1 200"),
        "an oversized header block is refused: {}",
        &resp[..resp.len().min(80)]
    );
    // a slow-loris client that never finishes its headers is disconnected
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap_or(0);
    let waited = t0.elapsed();
    assert!(
        waited < Duration::from_secs(15),
        "cut off after the 10 s header timeout, not left open ({waited:?})"
    );
    assert!(
        n == 0 || String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
}

#[test]
fn a_segment_deleted_while_running_fails_clearly_and_verify_names_it() {
    let env = store_with_data();
    let srv = Server::start(&env, &[]);
    let c = client();
    let auditor = token(&env, &["--role", "auditor"]);
    let segs: Vec<serde_json::Value> = c
        .get(srv.url("/v1/segments"))
        .bearer_auth(&auditor)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let name = segs[0]["name"].as_str().unwrap().to_string();
    std::fs::remove_file(env.store().join("segments").join(&name)).unwrap();
    let r = c
        .get(srv.url(&format!("/v1/segments/{name}")))
        .bearer_auth(&auditor)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().unwrap().contains("run `sealtrail verify`"));
    let v = env.verify(&[]);
    assert_eq!(v.status.code(), Some(1));
    assert!(
        common::stdout(&v).contains(&format!("missing: segments/{name}")),
        "{}",
        common::stdout(&v)
    );
}

#[test]
fn failed_authentications_are_rate_limited_per_address() {
    let env = Env::new();
    let cfg = env.dir.path().join("server.toml");
    std::fs::write(&cfg, "auth_failures_per_minute = 5\n").unwrap();
    let srv = Server::start(&env, &[]);
    let c = client();
    let good = token(&env, &["--role", "auditor"]);
    common::server::away_from_a_minute_boundary();
    let mut codes = Vec::new();
    for _ in 0..8 {
        codes.push(
            c.get(srv.url("/v1/keys"))
                .bearer_auth("st_00000000_guess")
                .send()
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(&codes[..5], &[401; 5]);
    assert!(codes[5..].iter().all(|&c| c == 429), "{codes:?}");
    // a valid token from the same address is never refused for the
    // guesses (behind a TLS proxy every client has that address), and the
    // scheme name is case-insensitive
    for scheme in ["Bearer", "bearer", "BEARER"] {
        assert_eq!(
            c.get(srv.url("/v1/keys"))
                .header("authorization", format!("{scheme} {good}"))
                .send()
                .unwrap()
                .status(),
            StatusCode::OK,
            "{scheme}"
        );
    }
    // and the guesser stays limited
    assert_eq!(
        c.get(srv.url("/v1/keys"))
            .bearer_auth("st_00000000_guess2")
            .send()
            .unwrap()
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[test]
fn accounting_workflow_letters_and_dashboard_over_the_api() {
    let env = store_with_data();
    // the default seal interval (minutes): each step must find the one
    // before it because the step sealed its own leaf before answering
    server_config(&env, "queue_capacity = 16\nmax_body_bytes = 2000000\n");
    let srv = Server::start(&env, &[]);
    let c = client();
    let officer = token(&env, &["--role", "officer"]);
    let auditor = token(&env, &["--role", "auditor"]);
    let patient = token(&env, &["--role", "patient", "--patient", "MRN-00101"]);
    let get = |p: &str, t: &str| c.get(srv.url(p)).bearer_auth(t).send().unwrap();
    let post = |p: &str, t: &str, body: serde_json::Value| {
        c.post(srv.url(p))
            .bearer_auth(t)
            .json(&body)
            .send()
            .unwrap()
    };
    // the patient asks; only an officer lists, extends and fulfils
    let r = post(
        "/v1/accounting/requests",
        &patient,
        serde_json::json!({"patient_id": "MRN-00101"}),
    );
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<serde_json::Value>().unwrap()["request"]
        .as_str()
        .unwrap()
        .to_string();
    for t in [&auditor, &patient] {
        assert_eq!(
            get("/v1/accounting/requests", t).status(),
            StatusCode::FORBIDDEN
        );
        let p = format!("/v1/accounting/requests/{id}/fulfil");
        assert_eq!(
            post(&p, t, serde_json::json!({})).status(),
            StatusCode::FORBIDDEN
        );
    }
    // the request as the officer's list shows it now
    let mine = || -> serde_json::Value {
        let list: serde_json::Value = get("/v1/accounting/requests", &officer).json().unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .find(|r| r["request"] == id.as_str())
            .unwrap()
            .clone()
    };
    let mine_now = mine();
    assert_eq!(mine_now["days_left"], 60);
    assert_eq!(mine_now["fulfilled"], serde_json::Value::Null);
    let due = chrono::NaiveDate::parse_from_str(mine_now["deadline"].as_str().unwrap(), "%Y-%m-%d")
        .unwrap();
    // an extension adds at most 30 days, once, with a reason
    let ext = format!("/v1/accounting/requests/{id}/extend");
    let too_far = (due + chrono::Days::new(31)).to_string();
    let r = post(
        &ext,
        &officer,
        serde_json::json!({"until": too_far, "reason": "records off site"}),
    );
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().unwrap().contains("at most 30 days"));
    let until = (due + chrono::Days::new(30)).to_string();
    let r = post(
        &ext,
        &officer,
        serde_json::json!({"until": until, "reason": ""}),
    );
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(
        &ext,
        &officer,
        serde_json::json!({"until": until, "reason": "records off site"}),
    );
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<serde_json::Value>().unwrap()["deadline"], until);
    let r = post(
        &ext,
        &officer,
        serde_json::json!({"until": until, "reason": "again"}),
    );
    assert!(r.text().unwrap().contains("only one extension"));
    // fulfilment returns the letter, once; unknown requests are 404
    let f = format!("/v1/accounting/requests/{id}/fulfil");
    let r = post(&f, &officer, serde_json::json!({}));
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let letter = r.bytes().unwrap();
    assert!(letter.starts_with(b"%PDF-"));
    let r = post(&f, &officer, serde_json::json!({}));
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().unwrap().contains("already fulfilled"));
    assert_eq!(
        post(
            "/v1/accounting/requests/AR-000000000000/fulfil",
            &officer,
            serde_json::json!({})
        )
        .status(),
        StatusCode::NOT_FOUND
    );
    // the fulfilment leaf seals the SHA-256 of exactly the letter we were given
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&letter));
    let sealed = duck(
        &env.store(),
        &format!(
            "SELECT detail FROM leaves WHERE kind = 'accounting_request' AND action = 'fulfil' AND resource = '{id}'"
        ),
    );
    assert!(
        sealed[0][0].contains(&format!("accounting-letter.pdf sha256 {sha}")),
        "{sealed:?}"
    );
    let mine_now = mine();
    assert!(mine_now["fulfilled"].is_string());
    assert_eq!(mine_now["days_left"], serde_json::Value::Null);
    assert_eq!(mine_now["extended"], true);
    // a patient's letter: their own only
    let r = get("/v1/accounting/MRN-00101/letter?as_of=2026-03-31", &patient);
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().unwrap().starts_with(b"%PDF-"));
    assert_eq!(
        get("/v1/accounting/MRN-00102/letter", &patient).status(),
        StatusCode::NOT_FOUND
    );
    // the dashboard: officers only; its figures agree with plain SQL over the segments
    assert_eq!(
        get("/v1/dashboard", &auditor).status(),
        StatusCode::FORBIDDEN
    );
    let before = tree_size(&c, &srv, &auditor);
    let d: serde_json::Value = get("/v1/dashboard?from=2025-12-01&to=2026-03-31", &officer)
        .json()
        .unwrap();
    // pinned to the checkpoint it read; its own audit leaf is sealed after it
    let size = d["tree_size"].as_u64().unwrap();
    assert!(before <= size && size <= tree_size(&c, &srv, &auditor));
    let mfa_total: u64 = d["weekly_mfa"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["total"].as_u64().unwrap())
        .sum();
    let sql = duck(
        &env.store(),
        "SELECT CAST(count(*) AS VARCHAR) FROM leaves WHERE kind = 'auth' AND outcome = 'success' AND ts >= TIMESTAMPTZ '2025-12-01 00:00:00+00' AND ts < TIMESTAMPTZ '2026-04-01 00:00:00+00'",
    );
    assert!(mfa_total > 0);
    assert_eq!(mfa_total.to_string(), sql[0][0]);
    let okta_today = d["recent_by_source"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "okta")
        .unwrap()["events"]
        .as_u64()
        .unwrap();
    let sql = duck(
        &env.store(),
        "SELECT CAST(count(*) AS VARCHAR) FROM leaves WHERE source = 'okta' AND kind = 'auth'",
    );
    assert_eq!(okta_today.to_string(), sql[0][0]);
    // the request is no longer open
    assert!(
        d["open_requests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["request"] != id.as_str())
    );
    assert_eq!(
        get("/v1/dashboard?from=2026-03-31&to=2026-01-01", &officer).status(),
        StatusCode::BAD_REQUEST
    );
}

/// A quiet server's seals each write a small segment; once `merge_at` of
/// them end the log, the next seal merges them (FORMAT.md §8.1), so the
/// number of files stays bounded while every leaf stays readable once.
#[test]
fn a_quiet_server_merges_its_small_segments() {
    let env = store_with_data();
    server_config(
        &env,
        "seal_interval_ms = 100\nmerge_at = 3\nmerge_small_below = 100000\n",
    );
    let segments = || segment_files(&env);
    let srv = Server::start(&env, &[]);
    let c = client();
    let gw = token(&env, &["--role", "gateway", "--source", "jsonl"]);
    let auditor = token(&env, &["--role", "auditor"]);
    let size0 = tree_size(&c, &srv, &auditor);
    // one seal per record: eight seals of one leaf each
    for i in 0..8u64 {
        let body = format!(
            "{{\"kind\":\"access\",\"user\":\"u\",\"ts\":\"2026-05-01T00:00:00Z\",\"action\":\"load\",\"source_event_id\":\"merge-{i}\"}}\n"
        );
        assert_eq!(
            ingest_jsonl(&c, &srv, &gw, body).status(),
            StatusCode::ACCEPTED
        );
        wait_for_tree(&c, &srv, &auditor, size0 + i + 1, Duration::from_secs(30));
        // the files a merge replaced are removed just after its commit
        // point (the checkpoint this waited for), so wait for that too
        let t0 = Instant::now();
        while segments() > 3 && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(segments() <= 3, "{} segment files", segments());
    }
    srv.stop();
    let size = common::tree_size(&env.store());
    assert_eq!(size, size0 + 8);
    let counts = common::duck(
        &env.store(),
        "SELECT count(*)::VARCHAR, count(DISTINCT idx)::VARCHAR FROM leaves",
    );
    assert_eq!(counts, vec![vec![size.to_string(), size.to_string()]]);
    let v = env.verify(&[]);
    assert!(v.status.success(), "{}", common::stdout(&v));
}

#[test]
fn a_quiet_server_seals_once_the_oldest_record_has_waited_the_interval() {
    let env = store_with_data();
    server_config(&env, "seal_interval_ms = 1500\nqueue_capacity = 16\n");
    let segments = || segment_files(&env);
    let srv = Server::start(&env, &[]);
    let c = client();
    let gw = token(&env, &["--role", "gateway", "--source", "jsonl"]);
    let auditor = token(&env, &["--role", "auditor"]);
    let (size0, files0) = (tree_size(&c, &srv, &auditor), segments());
    let started = Instant::now();
    // three records, a few hundred milliseconds apart: a trickle
    for i in 0..3 {
        let body = format!(
            "{{\"kind\":\"access\",\"user\":\"u\",\"ts\":\"2026-05-01T00:00:00Z\",\"action\":\"load\",\"source_event_id\":\"quiet-{i}\"}}\n"
        );
        let r = ingest_jsonl(&c, &srv, &gw, body);
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        std::thread::sleep(Duration::from_millis(300));
    }
    // acknowledged (durable in the WAL) but not sealed: the oldest has not
    // waited the interval yet
    if started.elapsed() < Duration::from_millis(1500) {
        assert_eq!(tree_size(&c, &srv, &auditor), size0);
    }
    // then one seal takes all three: one new segment, not one per tick
    wait_for_tree(&c, &srv, &auditor, size0 + 3, Duration::from_secs(30));
    assert_eq!(tree_size(&c, &srv, &auditor), size0 + 3);
    assert_eq!(segments(), files0 + 1);
    srv.stop();
    let v = env.verify(&[]);
    assert!(v.status.success(), "{}", common::stderr(&v));
}

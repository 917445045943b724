//! Witnesses over real HTTP on 127.0.0.1 (C2SP tlog-witness, cosignature/v1):
//! two witnesses cosign a log's checkpoints; one that was down catches up
//! from the size it holds; an insider who holds the signing key and
//! rewrites history is refused by every witness, and `verify
//! --min-witnesses` fails on the rewritten store.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{Env, fixture, ok, run, stdout};

struct WitnessProc {
    child: Child,
    url: String,
}

impl Drop for WitnessProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(key: &Path, state: &Path, log: &str, port: u16) -> WitnessProc {
    let mut child = Command::new(common::bin())
        .args([
            "witness",
            "serve",
            "--key",
            key.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
            "--log",
            log,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on"), "{line:?}");
    WitnessProc {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// `sealtrail ingest` of every fixture file of `source`, with `extra` flags.
fn ingest_with(store: &Path, key: &Path, source: &str, extra: &[&str]) -> std::process::Output {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture(source))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut args = vec![
        "ingest",
        "--store",
        store.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--source",
        source,
    ];
    args.extend_from_slice(extra);
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    run(&args)
}

fn ingest(store: &Path, key: &Path, source: &str) {
    let o = ingest_with(store, key, source, &[]);
    assert!(o.status.success(), "{}", common::stderr(&o));
}

fn push(store: &Path, w: &WitnessProc, vkey: &Path) -> std::process::Output {
    push_to(store, &w.url, vkey)
}

fn push_to(store: &Path, url: &str, vkey: &Path) -> std::process::Output {
    run(&[
        "witness",
        "push",
        "--store",
        store.to_str().unwrap(),
        "--url",
        url,
        "--vkey",
        vkey.to_str().unwrap(),
    ])
}

#[test]
fn witnesses_cosign_catch_up_and_refuse_a_rewritten_history() {
    let env = Env::new();
    let dir = env.dir.path();
    let (store, key, vkey) = (env.store(), env.key(), env.vkey());
    ingest(&store, &key, "okta");
    let mut wkeys = Vec::new();
    for name in ["witness.partner.example/w1", "witness.site-b.example/w2"] {
        ok(&[
            "witness",
            "keygen",
            "--name",
            name,
            "--out",
            dir.join("wkeys").to_str().unwrap(),
        ]);
        let stem = name.replace('/', "_");
        wkeys.push((
            dir.join("wkeys").join(format!("{stem}.witness.key")),
            dir.join("wkeys").join(format!("{stem}.witness.vkey")),
        ));
    }
    let log = format!("test.example/log={}", vkey.display());
    let ports = [free_port(), free_port()];
    let states = [dir.join("w1-state"), dir.join("w2-state")];
    let w1 = start(&wkeys[0].0, &states[0], &log, ports[0]);
    let mut w2 = Some(start(&wkeys[1].0, &states[1], &log, ports[1]));

    // both cosign the checkpoint; the cosignatures join the signed note
    for (w, (_, wv)) in [(&w1, &wkeys[0]), (w2.as_ref().unwrap(), &wkeys[1])] {
        let o = push(&store, w, wv);
        assert!(o.status.success(), "{}{}", stdout(&o), common::stderr(&o));
        assert!(stdout(&o).contains("cosigned tree size"), "{}", stdout(&o));
    }
    let verify_with = |store: &Path, min: &str| {
        run(&[
            "verify",
            "--store",
            store.to_str().unwrap(),
            "--vkey",
            vkey.to_str().unwrap(),
            "--witness",
            wkeys[0].1.to_str().unwrap(),
            "--witness",
            wkeys[1].1.to_str().unwrap(),
            "--min-witnesses",
            min,
        ])
    };
    let o = verify_with(&store, "2");
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("witness witness.partner.example/w1: cosigned this checkpoint"),
        "{}",
        stdout(&o)
    );
    // the log's own key still opens the cosigned checkpoint (unknown lines ignored)
    let cp = std::fs::read_to_string(store.join("checkpoint")).unwrap();
    assert_eq!(cp.matches('\u{2014}').count(), 3, "{cp}");
    // the independent Python checker of docs/VERIFYING.md agrees
    let py = |min: &str| {
        Command::new("python3")
            .arg(common::repo().join("docs/verifiers/check_cosignatures.py"))
            .args([
                store.join("checkpoint").to_str().unwrap(),
                vkey.to_str().unwrap(),
                min,
            ])
            .args([wkeys[0].1.to_str().unwrap(), wkeys[1].1.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let o = py("2");
    assert!(o.status.success(), "{}{}", stdout(&o), common::stderr(&o));
    assert!(
        stdout(&o).contains("2 of 2 witnesses cosigned"),
        "{}",
        stdout(&o)
    );
    ok(&[
        "verify",
        "--store",
        store.to_str().unwrap(),
        "--vkey",
        vkey.to_str().unwrap(),
    ]);

    // Go's sumdb/note (written without sealtrail code) still opens the
    // cosigned checkpoint with the log's key: unknown signature lines are
    // ignored by design
    let gobin = dir.join("verify_checkpoint");
    let built = Command::new("go")
        .args(["build", "-o", gobin.to_str().unwrap()])
        .arg(common::repo().join("docs/verifiers/verify_checkpoint.go"))
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", dir.join("gocache"))
        .output()
        .expect("go (Debian golang-go; .ci/run installs it)");
    assert!(built.status.success(), "{}", common::stderr(&built));
    let o = Command::new(&gobin)
        .arg(std::fs::read_to_string(&vkey).unwrap().trim())
        .arg(store.join("checkpoint"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stdout(&o));
    // a pack ships the witness keys, and its attestation names who cosigned
    let pack = dir.join("pack");
    ok(&[
        "pack",
        "--store",
        store.to_str().unwrap(),
        "--vkey",
        vkey.to_str().unwrap(),
        "--from",
        "2025-01-01",
        "--to",
        "2026-12-31",
        "--out",
        pack.to_str().unwrap(),
        "--witness",
        wkeys[0].1.to_str().unwrap(),
        "--witness",
        wkeys[1].1.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(pack.join("checkpoint")).unwrap(),
        std::fs::read_to_string(store.join("checkpoint")).unwrap()
    );
    let shipped = std::fs::read_to_string(pack.join("witnesses.vkey")).unwrap();
    assert_eq!(shipped.lines().count(), 2, "{shipped}");
    let text = Command::new("pdftotext")
        .args([
            "-layout",
            pack.join("evidence-pack.pdf").to_str().unwrap(),
            "-",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        text.contains("witness.partner.example/w1: cosigned this checkpoint at"),
        "{text}"
    );
    assert!(
        text.contains("witness.site-b.example/w2: cosigned this checkpoint at"),
        "{text}"
    );

    // w2 goes down; the log grows; w1 cosigns, w2 cannot be reached
    drop(w2.take());
    // ingest pushes to both after its seal; the one that is down is a
    // warning, never a failed ingest
    let (wa, wb) = (
        format!("{}={}", w1.url, wkeys[0].1.display()),
        format!("http://127.0.0.1:{}={}", ports[1], wkeys[1].1.display()),
    );
    let o = ingest_with(&store, &key, "duo", &["--witness", &wa, "--witness", &wb]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(
        stdout(&o).contains("witness witness.partner.example/w1: cosigned tree size"),
        "{}",
        stdout(&o)
    );
    assert!(
        common::stderr(&o).contains("warning: http://127.0.0.1:"),
        "{}",
        common::stderr(&o)
    );
    let o = push_to(
        &store,
        &format!("http://127.0.0.1:{}", ports[1]),
        &wkeys[1].1,
    );
    assert!(!o.status.success());
    assert!(
        common::stderr(&o).contains("unreachable"),
        "{}",
        common::stderr(&o)
    );
    let o = verify_with(&store, "2");
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("uncosigned: checkpoint: 1 valid cosignature(s)"),
        "{}",
        stdout(&o)
    );
    // back up with its state: it asks for the proof from the size it holds
    let w2 = start(&wkeys[1].0, &states[1], &log, ports[1]);
    let o = push(&store, &w2, &wkeys[1].1);
    assert!(o.status.success(), "{}{}", stdout(&o), common::stderr(&o));
    assert!(verify_with(&store, "2").status.success());

    // an insider with the signing key writes another history for the same
    // log (an early leaf different), signs it, and pushes it
    let forged = dir.join("forged");
    ingest(&forged, &key, "entra");
    ingest(&forged, &key, "okta");
    ingest(&forged, &key, "duo");
    for (w, (_, wv)) in [(&w1, &wkeys[0]), (&w2, &wkeys[1])] {
        let o = push(&forged, w, wv);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}{}",
            stdout(&o),
            common::stderr(&o)
        );
        assert!(
            stdout(&o).starts_with("inconsistent-checkpoint: witness"),
            "{}",
            stdout(&o)
        );
    }
    let o = verify_with(&forged, "1");
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("uncosigned: checkpoint: 0 valid cosignature(s)"),
        "{}",
        stdout(&o)
    );
    // and where the rewrite kept a cosigned checkpoint of the true history,
    // verify names it inconsistent with the store
    let real_cp = std::fs::read_dir(store.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .matches('\u{2014}')
                .count()
                == 3
        })
        .max()
        .unwrap();
    std::fs::copy(
        &real_cp,
        forged
            .join("checkpoints")
            .join(real_cp.file_name().unwrap()),
    )
    .unwrap();
    let o = verify_with(&forged, "1");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("inconsistent-checkpoint: checkpoints/"),
        "{}",
        stdout(&o)
    );
}

/// A push never races a running writer over `checkpoint`: it takes the
/// store's writer lock first.
#[test]
fn push_refuses_while_a_writer_holds_the_store() {
    let env = Env::new();
    ingest(&env.store(), &env.key(), "okta");
    ok(&[
        "witness",
        "keygen",
        "--name",
        "w.example/w",
        "--out",
        env.dir.path().join("wk").to_str().unwrap(),
    ]);
    let srv = common::server::Server::start(&env, &[]);
    let o = push_to(
        &env.store(),
        "http://127.0.0.1:9",
        &env.dir.path().join("wk/w.example_w.witness.vkey"),
    );
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    assert!(common::stderr(&o).contains("a writer (sealtrail serve or ingest) holds the store"));
    srv.stop();
}

/// A running server sends each new checkpoint to its configured witness
/// and adds the cosignature, without any command from outside.
#[test]
fn the_server_has_its_checkpoints_cosigned() {
    let env = Env::new();
    ingest(&env.store(), &env.key(), "okta");
    let dir = env.dir.path();
    ok(&[
        "witness",
        "keygen",
        "--name",
        "w.example/w",
        "--out",
        dir.join("wk").to_str().unwrap(),
    ]);
    let wvkey = dir.join("wk/w.example_w.witness.vkey");
    let log = format!("test.example/log={}", env.vkey().display());
    let w = start(
        &dir.join("wk/w.example_w.witness.key"),
        &dir.join("w-state"),
        &log,
        free_port(),
    );
    std::fs::write(
        dir.join("server.toml"),
        format!(
            "seal_interval_ms = 200\nwitness_interval_ms = 200\nwitnesses = [{{ url = \"{}\", vkey = \"{}\" }}]\n",
            w.url,
            std::fs::read_to_string(&wvkey).unwrap().trim()
        ),
    )
    .unwrap();
    let srv = common::server::Server::start(&env, &[]);
    let c = common::server::client();
    let gw = common::server::token(&env, &["--role", "gateway", "--source", "jsonl"]);
    let body = std::fs::read(fixture("jsonl").join("events.jsonl")).unwrap();
    let r = c
        .post(srv.url("/v1/ingest/jsonl"))
        .bearer_auth(&gw)
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let before = common::tree_size(&env.store());
    let t0 = std::time::Instant::now();
    loop {
        let cp = std::fs::read_to_string(env.store().join("checkpoint")).unwrap();
        let size: u64 = cp.lines().nth(1).unwrap().parse().unwrap();
        if size > before && cp.contains("\u{2014} w.example/w ") {
            break;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(60),
            "no cosigned checkpoint: {cp}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    srv.stop();
    let o = run(&[
        "verify",
        "--store",
        env.store().to_str().unwrap(),
        "--vkey",
        env.vkey().to_str().unwrap(),
        "--witness",
        wvkey.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stdout(&o));
    let st = ok(&[
        "witness",
        "status",
        "--store",
        env.store().to_str().unwrap(),
        "--witness",
        wvkey.to_str().unwrap(),
    ]);
    assert!(
        st.contains("w.example/w: latest cosigned tree size"),
        "{st}"
    );
}

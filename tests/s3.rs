//! The store on a real S3 API: `moto_server` (PyPI `moto[server]`, which
//! enforces Object Lock and conditional puts) on 127.0.0.1, started and
//! stopped by each test. The bucket is created, inspected and attacked
//! with boto3, a client we did not write; sealtrail runs as the binary.
//!
//! Ingest → seal → verify → pack entirely on S3; packs from the bucket and
//! from the writer's own directory are byte-identical; every object is
//! retained under Object Lock; a locked segment cannot be deleted or
//! replaced; a missing or replaced object is named exactly as on disk; two
//! writers racing one checkpoint: one wins, the other fails clearly and
//! loses nothing; the server publishes what it seals.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Env, fixture, stderr, stdout};

/// A `moto_server` child on a free port (killed when dropped).
struct Moto {
    child: Child,
    endpoint: String,
    cache: tempfile::TempDir,
}

impl Moto {
    fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (PyPI moto[server]; .ci/run installs it)");
        let endpoint = format!("http://127.0.0.1:{port}");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "moto_server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            endpoint,
            cache: tempfile::tempdir().unwrap(),
        }
    }

    /// sealtrail with the AWS settings of this server.
    fn sealtrail(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(common::bin());
        c.args(args)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("SEALTRAIL_CACHE", self.cache.path());
        c
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        common::succeeded(args, &self.sealtrail(args))
    }

    /// Runs a boto3 script with `s3` (a client of this server) and `json`
    /// defined; returns what it prints.
    #[track_caller]
    fn boto(&self, script: &str) -> String {
        let prelude = format!(
            "import boto3, json, datetime, botocore\ns3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='testing', aws_secret_access_key='testing', region_name='us-east-1')\n",
            self.endpoint
        );
        let o = Command::new("python3")
            .args(["-c", &format!("{prelude}{script}")])
            .output()
            .unwrap();
        assert!(o.status.success(), "boto3 script failed: {}", stderr(&o));
        stdout(&o)
    }

    fn bucket(&self, name: &str) {
        self.boto(&format!(
            "s3.create_bucket(Bucket='{name}', ObjectLockEnabledForBucket=True)"
        ));
    }

    fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.boto(&format!(
            "r = s3.list_objects_v2(Bucket='{bucket}', Prefix='{prefix}/')\nprint('\\n'.join(o['Key'] for o in r.get('Contents', [])))"
        ))
        .lines()
        .map(str::to_string)
        .collect()
    }
}

/// A child process killed when dropped (a failed assertion leaves no
/// server running).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn files(source: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixture(source))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// `sealtrail ingest` of every fixture file of `source` into the store at
/// `store`, written through the node directory `work`.
fn ingest_args(store: &str, work: &Path, key: &Path, source: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "ingest",
        "--store",
        store,
        "--work",
        s(work),
        "--key",
        s(key),
    ]
    .into_iter()
    .chain(["--source", source])
    .chain(extra.iter().copied())
    .map(str::to_string)
    .collect();
    args.extend(files(source).iter().map(|p| s(p).to_string()));
    args
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn ingest_verify_and_pack_entirely_on_s3_under_object_lock() {
    let moto = Moto::start();
    moto.bucket("evidence");
    let env = Env::new();
    let work = env.dir.path().join("node-a");
    let url = "s3://evidence/site-a";
    let key = env.key();
    for source in ["postfix", "m365", "okta", "disclosures"] {
        let args = ingest_args(url, &work, &key, source, &[]);
        let out = moto.ok(&strs(&args));
        assert!(out.contains("published: tree size"), "{out}");
    }
    let keys = moto.keys("evidence", "site-a");
    for k in ["site-a/sealtrail-store", "site-a/checkpoint"] {
        assert!(keys.contains(&k.to_string()), "{k} not in {keys:?}");
    }
    let segments: Vec<&String> = keys.iter().filter(|k| k.contains("/segments/")).collect();
    assert_eq!(
        segments.len(),
        4,
        "one segment per run, never merged: {keys:?}"
    );
    // nothing the writer keeps for itself is published
    assert!(
        !keys
            .iter()
            .any(|k| k.contains("/wal/") || k.contains("/index/") || k.ends_with("/lock")),
        "{keys:?}"
    );

    // every object is retained in compliance mode for six years
    let lock = moto.boto(
        "out = []\nfor o in s3.list_objects_v2(Bucket='evidence', Prefix='site-a/')['Contents']:\n    h = s3.head_object(Bucket='evidence', Key=o['Key'])\n    out.append((h.get('ObjectLockMode'), h['ObjectLockRetainUntilDate'].year - datetime.datetime.now().year))\nprint(json.dumps(sorted(set(out))))",
    );
    assert_eq!(lock.trim(), r#"[["COMPLIANCE", 6]]"#);

    // verify reads the bucket and reports the retention
    let v = moto.ok(&["verify", "--store", url, "--vkey", s(&env.vkey())]);
    assert!(v.contains("OK"), "{v}");
    assert!(
        v.contains(&format!(
            "object lock: {} objects; retained: {} COMPLIANCE",
            keys.len(),
            keys.len()
        )),
        "{v}"
    );

    // the pack from the bucket is the pack from the writer's own directory
    let pack = |store: &str, out: &Path| {
        moto.ok(&[
            "pack",
            "--store",
            store,
            "--vkey",
            s(&env.vkey()),
            "--key",
            s(&key),
            "--from",
            "2025-01-01",
            "--to",
            "2026-12-31",
            "--out",
            s(out),
        ])
    };
    let from_s3 = env.dir.path().join("s3.zip");
    let from_dir = env.dir.path().join("dir.zip");
    pack(url, &from_s3);
    pack(s(&work), &from_dir);
    assert_eq!(
        std::fs::read(&from_s3).unwrap(),
        std::fs::read(&from_dir).unwrap(),
        "packs from the bucket and from the directory differ"
    );
    let q = moto.ok(&[
        "query",
        "--store",
        url,
        "--csv",
        "SELECT count(*) AS n FROM deliveries",
    ]);
    let local = moto.ok(&[
        "query",
        "--store",
        s(&work),
        "--csv",
        "SELECT count(*) AS n FROM deliveries",
    ]);
    assert_eq!(q, local);
    assert!(
        q.lines()
            .nth(1)
            .is_some_and(|n| n.parse::<u64>().unwrap() > 0),
        "{q}"
    );

    // a locked segment cannot be deleted or replaced in place
    let seg = segments[0].clone();
    let refused = moto.boto(&format!(
        "v = s3.head_object(Bucket='evidence', Key='{seg}')['VersionId']\n\
         out = []\n\
         try:\n    s3.delete_object(Bucket='evidence', Key='{seg}', VersionId=v); out.append('deleted')\n\
         except botocore.exceptions.ClientError as e: out.append(e.response['Error']['Code'])\n\
         try:\n    s3.put_object(Bucket='evidence', Key='{seg}', Body=b'x', IfNoneMatch='*'); out.append('replaced')\n\
         except botocore.exceptions.ClientError as e: out.append(e.response['Error']['Code'])\n\
         print(' '.join(out))"
    ));
    assert_eq!(refused.trim(), "AccessDenied PreconditionFailed");

    // hiding it (a delete marker) is named as a missing file would be
    let name = seg.rsplit('/').next().unwrap().to_string();
    let marker = moto.boto(&format!(
        "print(s3.delete_object(Bucket='evidence', Key='{seg}')['VersionId'])"
    ));
    let o = moto.sealtrail(&["verify", "--store", url, "--vkey", s(&env.vkey())]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains(&format!("missing: segments/{name}")),
        "{}",
        stdout(&o)
    );
    // ...and it was never gone: removing the marker brings it back
    moto.boto(&format!(
        "s3.delete_object(Bucket='evidence', Key='{seg}', VersionId='{}')",
        marker.trim()
    ));
    moto.ok(&["verify", "--store", url, "--vkey", s(&env.vkey())]);

    // a new version with other bytes is named as a modified file would be
    let seg_bytes = std::fs::read(work.join("segments").join(&name)).unwrap();
    let forged = env.dir.path().join("forged.parquet");
    let mut f = seg_bytes.clone();
    let mid = f.len() / 2;
    f[mid] ^= 1;
    std::fs::write(&forged, &f).unwrap();
    let version = moto.boto(&format!(
        "print(s3.put_object(Bucket='evidence', Key='{seg}', Body=open('{}', 'rb').read())['VersionId'])",
        forged.display()
    ));
    let o = moto.sealtrail(&["verify", "--store", url, "--vkey", s(&env.vkey())]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let text = stdout(&o);
    assert!(
        text.lines().any(|l| l.contains(&format!("segments/{name}"))
            && (l.starts_with("modified:")
                || l.starts_with("truncated:")
                || l.starts_with("column-mismatch:"))),
        "{text}"
    );
    // the forgery carries no retention, so verify flags it too
    assert!(
        text.contains(&format!("unretained: segments/{name}")),
        "{text}"
    );
    // the forger's version is deletable; the retained original is current again
    moto.boto(&format!(
        "s3.delete_object(Bucket='evidence', Key='{seg}', VersionId='{}')",
        version.trim()
    ));
    moto.ok(&["verify", "--store", url, "--vkey", s(&env.vkey())]);

    // legal holds on every object, then lifted
    let held = moto.ok(&["hold", "--store", url, "on"]);
    assert!(
        held.contains(&format!("legal hold placed: {} objects", keys.len())),
        "{held}"
    );
    let status = moto.boto(&format!(
        "print(s3.get_object_legal_hold(Bucket='evidence', Key='{seg}')['LegalHold']['Status'])"
    ));
    assert_eq!(status.trim(), "ON");
    let v = moto.ok(&["verify", "--store", url, "--vkey", s(&env.vkey())]);
    assert!(v.contains(&format!("legal holds: {}", keys.len())), "{v}");
    moto.ok(&["hold", "--store", url, "off"]);
    let status = moto.boto(&format!(
        "print(s3.get_object_legal_hold(Bucket='evidence', Key='{seg}')['LegalHold']['Status'])"
    ));
    assert_eq!(status.trim(), "OFF");
}

#[test]
fn objects_published_without_retention_are_flagged() {
    let moto = Moto::start();
    moto.bucket("open-bucket");
    let env = Env::new();
    let work = env.dir.path().join("w");
    let url = "s3://open-bucket/log";
    let key = env.key();
    let args = ingest_args(url, &work, &key, "okta", &["--lock-mode", "off"]);
    moto.ok(&strs(&args));
    let o = moto.sealtrail(&["verify", "--store", url, "--vkey", s(&env.vkey())]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(
        text.contains("unretained: checkpoint: no Object Lock retention"),
        "{text}"
    );
    assert!(text.contains("retained: none"), "{text}");
}

#[test]
fn two_writers_racing_one_checkpoint_one_wins_and_the_other_loses_nothing() {
    let moto = Moto::start();
    moto.bucket("race-bucket");
    let env = Env::new();
    let url = "s3://race-bucket/log";
    let a = env.dir.path().join("a");
    let b = env.dir.path().join("b");
    let key = env.key();
    moto.ok(&strs(&ingest_args(url, &a, &key, "okta", &[])));
    // a failover gone wrong: node B starts from a copy of node A's directory
    // while A keeps running
    let cp = Command::new("cp")
        .args(["-a", s(&a), s(&b)])
        .status()
        .unwrap();
    assert!(cp.success());

    // both ingest different input and publish at the same time
    let run = |dir: &Path, source: &str| {
        moto.command(&strs(&ingest_args(url, dir, &key, source, &[])))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (ca, cb) = (run(&a, "duo"), run(&b, "entra"));
    let oa = ca.wait_with_output().unwrap();
    let ob = cb.wait_with_output().unwrap();
    // (both have exited: nothing is left running if an assertion fails)
    let wins = [oa.status.success(), ob.status.success()];
    assert_eq!(
        wins.iter().filter(|w| **w).count(),
        1,
        "exactly one writer wins: {wins:?}"
    );
    let (winner, loser, loser_out) = if wins[0] {
        (&a, &b, &ob)
    } else {
        (&b, &a, &oa)
    };
    let err = stderr(loser_out);
    assert!(err.contains("was written by another writer"), "{err}");
    assert!(err.contains("nothing acknowledged is lost"), "{err}");

    // the loser's records are all in its own directory, verified
    let v = common::ok(&["verify", "--store", s(loser), "--vkey", s(&env.vkey())]);
    assert!(v.contains("OK"), "{v}");
    let loser_size = std::fs::read_to_string(loser.join("checkpoint")).unwrap();
    let winner_size = std::fs::read_to_string(winner.join("checkpoint")).unwrap();
    assert_ne!(loser_size, winner_size);

    // the bucket holds the winner's checkpoint exactly
    let remote = moto.boto(
        "print(s3.get_object(Bucket='race-bucket', Key='log/checkpoint')['Body'].read().decode(), end='')",
    );
    assert_eq!(remote, winner_size);
    // the loser's segment objects, if it got that far, belong to no
    // signed checkpoint: verify names each one as an extra file
    let o = moto.sealtrail(&["verify", "--store", url, "--vkey", s(&env.vkey())]);
    for l in stdout(&o).lines().filter(|l| l.contains(": segments/")) {
        assert!(l.starts_with("extra: segments/"), "{l}");
    }
    let checkpoint_line = stdout(&o).lines().any(|l| {
        l.contains(&format!(
            "test.example/log size {}",
            winner_size.lines().nth(1).unwrap()
        ))
    });
    assert!(checkpoint_line, "{}", stdout(&o));
}

#[test]
fn the_server_publishes_what_it_seals() {
    let moto = Moto::start();
    moto.bucket("served");
    let env = Env::new();
    let work = env.dir.path().join("node");
    let url = "s3://served/api";
    let cfg = env.dir.path().join("server.toml");
    std::fs::write(&cfg, "seal_interval_ms = 200\n").unwrap();
    // a store directory for the token command, then the server on it
    let key = env.key();
    let args = ingest_args(url, &work, &key, "okta", &[]);
    moto.ok(&strs(&args));
    let tok = common::ok(&[
        "token",
        "create",
        "--store",
        s(&work),
        "--role",
        "gateway",
        "--source",
        "jsonl",
    ])
    .trim()
    .to_string();
    let mut child = Killed(
        moto.command(&[
            "serve",
            "--store",
            url,
            "--work",
            s(&work),
            "--key",
            s(&env.key()),
            "--listen",
            "127.0.0.1:0",
            "--config",
            s(&cfg),
            "--publish-every",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(env.dir.path().join("serve.log")).unwrap(),
        ))
        .spawn()
        .unwrap(),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.0.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let base = format!(
        "http://{}",
        line.trim().strip_prefix("listening on ").unwrap()
    );
    let body = std::fs::read(fixture("jsonl").join("events.jsonl")).unwrap_or_else(|_| {
        let f = files("jsonl");
        std::fs::read(&f[0]).unwrap()
    });
    let c = common::server::client();
    let r = c
        .post(format!("{base}/v1/ingest/jsonl"))
        .bearer_auth(&tok)
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 202, "{}", r.text().unwrap_or_default());
    let before = moto.boto(
        "print(s3.get_object(Bucket='served', Key='api/checkpoint')['Body'].read().decode().splitlines()[1])",
    );
    // the publisher sends the new checkpoint within a few turns
    let t0 = Instant::now();
    loop {
        let now = moto.boto(
            "print(s3.get_object(Bucket='served', Key='api/checkpoint')['Body'].read().decode().splitlines()[1])",
        );
        if now != before {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the server did not publish its seal"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.0.wait().unwrap();
    let log = std::fs::read_to_string(env.dir.path().join("serve.log")).unwrap();
    assert!(status.success(), "{status}: {log}");
    moto.ok(&["verify", "--store", url, "--vkey", s(&env.vkey())]);
    let remote = moto.boto(
        "print(s3.get_object(Bucket='served', Key='api/checkpoint')['Body'].read().decode(), end='')",
    );
    assert_eq!(
        remote,
        std::fs::read_to_string(work.join("checkpoint")).unwrap()
    );
}

#[test]
fn several_ingest_nodes_share_one_bucket_each_with_its_own_log() {
    let moto = Moto::start();
    moto.bucket("health-system");
    let env = Env::new();
    let keys_b = env.dir.path().join("keys-b");
    common::ok(&[
        "keygen",
        "--name",
        "site-b.example/log",
        "--out",
        s(&keys_b),
    ]);
    let key_b = keys_b.join("site-b.example_log.key");
    let vkey_b = keys_b.join("site-b.example_log.vkey");
    let key_a = env.key();
    let (a, b) = (env.dir.path().join("a"), env.dir.path().join("b"));
    let (url_a, url_b) = ("s3://health-system/site-a", "s3://health-system/site-b");
    for (url, work, key, source) in [(url_a, &a, &key_a, "okta"), (url_b, &b, &key_b, "duo")] {
        let args = ingest_args(url, work, key, source, &[]);
        moto.ok(&strs(&args));
    }
    let out = moto.ok(&[
        "verify",
        "--store",
        url_a,
        "--store",
        url_b,
        "--vkey",
        s(&env.vkey()),
        "--vkey",
        s(&vkey_b),
    ]);
    assert!(out.contains("== s3://health-system/site-a"), "{out}");
    assert!(
        out.contains("OK: checkpoint test.example/log size"),
        "{out}"
    );
    assert!(
        out.contains("OK: checkpoint site-b.example/log size"),
        "{out}"
    );
    assert!(out.contains("2 of 2 logs verified"), "{out}");
    // one pack per log, with each log's checkpoint listed
    let packs = env.dir.path().join("packs");
    let pack_args = |stores: &[&str], vkeys: &[&Path], out: &Path| {
        let mut a: Vec<String> = vec!["pack".into()];
        for st in stores {
            a.extend(["--store".into(), st.to_string()]);
        }
        for v in vkeys {
            a.extend(["--vkey".into(), s(v).to_string()]);
        }
        a.extend(
            [
                "--from",
                "2025-01-01",
                "--to",
                "2026-12-31",
                "--out",
                s(out),
            ]
            .map(String::from),
        );
        a
    };
    let a = pack_args(&[url_a, url_b], &[&env.vkey(), &vkey_b], &packs);
    moto.ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let listing = std::fs::read_to_string(packs.join("logs.txt")).unwrap();
    let lines: Vec<&str> = listing.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), 2, "{listing}");
    for (line, (origin, file)) in lines.iter().zip([
        ("test.example/log", "test.example_log.zip"),
        ("site-b.example/log", "site-b.example_log.zip"),
    ]) {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!((f[0], f[3]), (origin, file), "{line}");
        let zip = std::fs::read(packs.join(file)).unwrap();
        use sha2::Digest as _;
        assert_eq!(f[4], hex::encode(sha2::Sha256::digest(&zip)));
        assert!(
            out.contains(&format!("OK: checkpoint {origin} size {}", f[1])),
            "{out}"
        );
    }
    // each is the pack of that log alone, byte for byte
    let alone = env.dir.path().join("a-alone.zip");
    let a = pack_args(&[url_a], &[&env.vkey()], &alone);
    moto.ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        std::fs::read(&alone).unwrap(),
        std::fs::read(packs.join("test.example_log.zip")).unwrap()
    );
    // one log's key does not verify the other's
    let o = moto.sealtrail(&[
        "verify",
        "--store",
        url_a,
        "--store",
        url_b,
        "--vkey",
        s(&env.vkey()),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("1 of 2 logs verified"),
        "{}",
        stdout(&o)
    );
    // node B cannot publish into node A's prefix: the bucket already holds
    // another log there
    let c = env.dir.path().join("c");
    let args = ingest_args(url_a, &c, &key_b, "entra", &[]);
    let o = moto.sealtrail(&strs(&args));
    assert!(!o.status.success());
    assert!(
        stderr(&o)
            .contains("s3://health-system/site-a/sealtrail-store was written by another writer"),
        "{}",
        stderr(&o)
    );
    moto.ok(&["verify", "--store", url_a, "--vkey", s(&env.vkey())]);
}

#[test]
fn every_store_command_takes_an_s3_store() {
    let moto = Moto::start();
    moto.bucket("every-command");
    let env = Env::new();
    let work = env.dir.path().join("w");
    let url = "s3://every-command/log";
    let (key, vkey) = (env.key(), env.vkey());
    let args = ingest_args(url, &work, &key, "disclosures", &[]);
    moto.ok(&strs(&args));
    let sealed = moto.ok(&["seal", "--store", url, "--work", s(&work), "--key", s(&key)]);
    assert!(
        sealed.contains("nothing pending") && sealed.contains("published: tree size"),
        "{sealed}"
    );
    // a writer needs its own directory; a directory store takes no --work
    let o = moto.sealtrail(&["seal", "--store", url, "--key", s(&key)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("needs --work DIR"), "{}", stderr(&o));
    let o = moto.sealtrail(&[
        "seal",
        "--store",
        s(&work),
        "--work",
        s(&work),
        "--key",
        s(&key),
    ]);
    assert_eq!(o.status.code(), Some(2));

    // an accounting request recorded through the bucket, read back from it
    let r = moto.ok(&[
        "accounting",
        "request",
        "--store",
        url,
        "--work",
        s(&work),
        "--key",
        s(&key),
        "--patient",
        "MRN-00100",
        "--received",
        "2026-06-01",
    ]);
    assert!(
        r.contains("request AR-") && r.contains("published: tree size"),
        "{r}"
    );
    let listed = moto.ok(&[
        "accounting",
        "list",
        "--store",
        url,
        "--vkey",
        s(&vkey),
        "--on",
        "2026-06-02",
    ]);
    assert!(
        listed.contains("MRN-00100") || listed.contains("AR-"),
        "{listed}"
    );
    let shown = moto.ok(&[
        "accounting",
        "show",
        "--store",
        url,
        "--vkey",
        s(&vkey),
        "--patient",
        "MRN-00100",
        "--as-of",
        "2026-06-01",
    ]);
    let local = moto.ok(&[
        "accounting",
        "show",
        "--store",
        s(&work),
        "--vkey",
        s(&vkey),
        "--patient",
        "MRN-00100",
        "--as-of",
        "2026-06-01",
    ]);
    assert_eq!(shown, local);
    assert!(shown.contains("Superior Court Clerk"), "{shown}");

    // proofs and the OCSF export read the bucket as they read a directory
    for cmd in [
        vec![
            "proof",
            "inclusion",
            "--store",
            url,
            "--idx",
            "0",
            "--vkey",
            s(&vkey),
        ],
        vec![
            "export",
            "--store",
            url,
            "--vkey",
            s(&vkey),
            "--format",
            "ocsf",
        ],
    ] {
        let mut local_cmd = cmd.clone();
        local_cmd[if cmd[0] == "proof" { 3 } else { 2 }] = s(&work);
        assert_eq!(moto.ok(&cmd), moto.ok(&local_cmd), "{cmd:?}");
    }
    moto.ok(&["verify", "--store", url, "--vkey", s(&vkey)]);
}

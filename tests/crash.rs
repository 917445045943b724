//! Kill -9 a writer at random moments, 25 times; after each restart every
//! acknowledged event is present exactly once and the store verifies. And
//! seals on their own thread: appends go on beside them, and a seal that
//! fails or is cut short loses nothing. And a file's ingest, whose
//! records are durable at their seals only: killed, it is completed by
//! running it again. And the WAL's own rules: a commit whose fsync another
//! thread makes has written its records first; sealed records stay in the
//! WAL until they fill its rewrite size.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, bin, duck, ok};

#[test]
fn sigkill_loses_nothing_acknowledged() {
    let env = Env::new();
    let store = env.store();
    let (s, k) = (
        store.to_str().unwrap().to_string(),
        env.key().to_str().unwrap().to_string(),
    );
    let mut acked: i64 = -1;
    // deterministic pseudo-random kill delays
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for round in 0..25 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let delay = Duration::from_millis(20 + x % 180);
        let mut child = Command::new(bin())
            .args([
                "stress-append",
                "--store",
                &s,
                "--key",
                &k,
                "--start",
                &(acked + 1).to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<i64>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("acked ") {
                    let _ = tx.send(n.parse().unwrap());
                }
            }
        });
        let t0 = Instant::now();
        while t0.elapsed() < delay {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        reader.join().unwrap();
        let mut round_acked = false;
        for n in rx.try_iter() {
            acked = acked.max(n);
            round_acked = true;
        }
        if !round_acked {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            assert!(
                err.is_empty() || status.code().is_none(),
                "round {round}: child failed: {err}"
            );
        }
        // Restart: recovery happens on open; seal what the WAL held.
        ok(&["seal", "--store", &s, "--key", &k]);
        if acked >= 0 {
            let rows = duck(
                &store,
                &format!(
                    "SELECT count(*) AS n, count(DISTINCT source_event_id) AS d FROM leaves \
                     WHERE source = 'stress' AND CAST(substr(source_event_id, 2) AS BIGINT) <= {acked}"
                ),
            );
            assert_eq!(
                rows[0][0],
                format!("BigInt({})", acked + 1),
                "round {round}: every acknowledged event present"
            );
            assert_eq!(
                rows[0][1],
                format!("BigInt({})", acked + 1),
                "round {round}: each exactly once"
            );
            let dups = duck(
                &store,
                "SELECT count(*) - count(DISTINCT source_event_id) FROM leaves WHERE source = 'stress'",
            );
            assert_eq!(
                dups[0][0], "BigInt(0)",
                "round {round}: no duplicates at all"
            );
        }
        let v = env.verify(&[]);
        assert!(
            v.status.success(),
            "round {round}: verify failed: {}",
            common::stdout(&v)
        );
    }
    assert!(
        acked > 100,
        "the writer made progress across rounds (acked {acked})"
    );
}

/// The signer of the test key, for appenders opened in this process.
fn signer(env: &Env) -> sealtrail::tlog::Signer {
    sealtrail::tlog::Signer::parse(&std::fs::read_to_string(env.key()).unwrap()).unwrap()
}

/// Opens the store again after this process dropped its appender. The
/// lock is an `flock` on the lock file, held by its open file description:
/// a child that another test of this binary is forking at that moment holds
/// a copy of every descriptor until it execs (close-on-exec closes them
/// only then), so the lock can outlive the drop by that long. Another
/// process's lock would hold for good; this waits for the fork's window
/// only (a reopen failed once in CI with `Locked`, the likely cause).
fn reopen(store: &std::path::Path, env: &Env) -> sealtrail::store::Appender {
    let t0 = Instant::now();
    loop {
        match sealtrail::store::Appender::open(store, signer(env)) {
            Err(sealtrail::store::StoreError::Locked(_))
                if t0.elapsed() < Duration::from_secs(10) =>
            {
                std::thread::sleep(Duration::from_millis(10))
            }
            other => return other.unwrap(),
        }
    }
}

/// The store's write-ahead log (FORMAT.md §9).
fn wal_file(store: &std::path::Path) -> std::path::PathBuf {
    store.join("wal/current.wal")
}

fn admin(n: u64) -> sealtrail::model::Record {
    use sealtrail::model::{Kind, Record, Ts};
    let mut r = Record::new(Kind::Admin, Ts::now(), "stress");
    r.action = Some("stress".into());
    r.source_event_id = Some(format!("e{n}"));
    r
}

fn append_range(app: &mut sealtrail::store::Appender, range: std::ops::Range<u64>) {
    for n in range {
        assert_eq!(
            app.append(admin(n)).unwrap(),
            sealtrail::store::Appended::New(n),
            "leaf indexes run on across a seal in flight"
        );
    }
    app.commit().unwrap();
}

#[test]
fn background_seals_let_appends_go_on_and_lose_nothing() {
    use sealtrail::store::Appender;
    let env = Env::new();
    let store = env.store();
    let mut app = Appender::open_or_create(&store, signer(&env), None).unwrap();

    // 1. appends go on while a seal runs; one seal at a time
    append_range(&mut app, 0..1000);
    assert!(app.seal_in_background().unwrap());
    assert!(!app.seal_in_background().unwrap(), "a second seal waits");
    // (more than two runs of a seal's leaves, segment::BUILD_ROWS each)
    append_range(&mut app, 1000..20000);
    assert_eq!(
        app.pending(),
        20000,
        "the seal in flight still counts as pending"
    );
    let done = app.finish_seal().unwrap().expect("a seal was in flight");
    assert_eq!(done.checkpoint.size, 1000);
    assert_eq!(app.size(), 1000);
    assert_eq!(app.pending(), 19000);

    // 2. the WAL kept the 1,000 sealed records (fewer than the 19,000
    // behind them), so reopening must skip exactly those
    drop(app);
    let mut app = reopen(&store, &env);
    assert_eq!(app.recovery.replayed, 19000);
    assert_eq!(app.size(), 1000);

    // 3. a seal that fails puts its records back, ahead of newer ones
    // (themselves more than a run, so full runs and a partial one follow)
    let segments = store.join("segments");
    let aside = env.dir.path().join("segments-aside");
    std::fs::rename(&segments, &aside).unwrap();
    assert!(app.seal_in_background().unwrap());
    append_range(&mut app, 20000..30000);
    assert!(
        app.finish_seal().is_err(),
        "the seal cannot write its segment"
    );
    assert_eq!(app.size(), 1000);
    assert_eq!(app.pending(), 29000, "nothing of the failed seal is lost");
    std::fs::rename(&aside, &segments).unwrap();
    app.seal().unwrap();
    assert_eq!(app.size(), 30000);
    drop(app);

    let rows = duck(
        &store,
        "SELECT count(*), count(DISTINCT source_event_id), \
         bool_and(source_event_id = 'e' || idx::VARCHAR) FROM leaves WHERE source = 'stress'",
    );
    assert_eq!(rows[0], ["BigInt(30000)", "BigInt(30000)", "Boolean(true)"]);
    let v = env.verify(&[]);
    assert!(v.status.success(), "{}", common::stdout(&v));
}

#[test]
fn appends_durable_at_their_seal_never_reach_the_wal() {
    use sealtrail::store::{Appender, Durability};
    let env = Env::new();
    let store = env.store();
    let wal = wal_file(&store);
    let mut app = Appender::open_or_create(&store, signer(&env), None).unwrap();

    // 1. records the WAL holds are sealed before appends stop going to it
    append_range(&mut app, 0..100);
    assert_eq!(app.pending(), 100);
    app.set_durability(Durability::Seal).unwrap();
    assert_eq!(app.size(), 100, "what was committed to the WAL is sealed");

    // 2. appended and never sealed: not in the WAL, gone with the process
    let header_only = std::fs::metadata(&wal).unwrap().len();
    for n in 100..200 {
        app.append(admin(n)).unwrap();
    }
    drop(app);
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), header_only);
    let mut app = reopen(&store, &env);
    assert_eq!(app.recovery.replayed, 0);
    assert_eq!(app.size(), 100);

    // 3. a commit seals: only then may the records be acknowledged
    app.set_durability(Durability::Seal).unwrap();
    append_range(&mut app, 100..200);
    assert_eq!(app.size(), 200);
    assert_eq!(app.pending(), 0);

    // 4. appends go on beside a background seal; back to the WAL, every
    // record still pending is written to it and survives a crash
    for n in 200..300 {
        app.append(admin(n)).unwrap();
    }
    assert!(app.seal_in_background().unwrap());
    for n in 300..400 {
        app.append(admin(n)).unwrap();
    }
    app.set_durability(Durability::Commit).unwrap();
    assert_eq!(app.size(), 300, "the seal in flight finished first");
    drop(app);
    let mut app = reopen(&store, &env);
    assert_eq!(app.recovery.replayed, 100);
    app.seal().unwrap();
    drop(app);

    let rows = duck(
        &store,
        "SELECT count(*), bool_and(source_event_id = 'e' || idx::VARCHAR) \
         FROM leaves WHERE source = 'stress'",
    );
    assert_eq!(rows[0], ["BigInt(400)", "Boolean(true)"]);
    let v = env.verify(&[]);
    assert!(v.status.success(), "{}", common::stdout(&v));
}

/// The server's commit hands its fsync to another thread
/// (`Appender::commit_elsewhere`): by then every record must be in the
/// WAL's file, not in a buffer, or the fsync would make nothing durable and
/// a 202 would promise records a power cut loses.
#[test]
fn a_commit_made_elsewhere_has_written_every_record_before_its_fsync() {
    use sealtrail::store::Appender;
    let env = Env::new();
    let store = env.store();
    let wal = wal_file(&store);
    let mut app = Appender::open_or_create(&store, signer(&env), None).unwrap();
    let empty = std::fs::metadata(&wal).unwrap().len();
    for n in 0..50 {
        app.append(admin(n)).unwrap();
    }
    assert_eq!(
        std::fs::metadata(&wal).unwrap().len(),
        empty,
        "appends are buffered until a commit"
    );
    let sync = app
        .commit_elsewhere()
        .unwrap()
        .expect("a WAL-backed appender hands out its fsync");
    let written = std::fs::metadata(&wal).unwrap().len();
    sync.sync().unwrap();
    // what the file holds now is what a power cut would leave: all 50
    let (_, recovered) = sealtrail::store::wal::Wal::recover(&wal).unwrap();
    assert_eq!(recovered.records.len(), 50);
    assert_eq!(recovered.torn_bytes, 0);
    assert!(written > empty);
    drop(app);
    let app = reopen(&store, &env);
    assert_eq!(app.recovery.replayed, 50);
}

/// A WAL keeps the records sealed at its start until they fill 128 MiB
/// (FORMAT.md §9): replacing it after every seal made a busy server's
/// requests wait once a second. Below that it only grows, records sealed in
/// it are skipped on recovery and the rest replayed; past it, the next seal
/// replaces it with one holding none of them.
#[test]
fn the_wal_keeps_sealed_records_until_they_fill_its_rewrite_size() {
    use sealtrail::store::Appender;
    const HEADER: u64 = 24;
    const REWRITE_AT: u64 = 128 * 1024 * 1024;
    let env = Env::new();
    let store = env.store();
    let wal = wal_file(&store);
    let wal_len = || std::fs::metadata(&wal).unwrap().len();
    let big = |n: u64| {
        let mut r = admin(n);
        r.detail = Some(format!("{n}:{}", "d".repeat(48 * 1024)));
        r
    };
    let mut app = Appender::open_or_create(&store, signer(&env), None).unwrap();
    let mut n = 0u64;
    let mut round = |app: &mut Appender, count: u64| {
        for _ in 0..count {
            assert_eq!(
                app.append(big(n)).unwrap(),
                sealtrail::store::Appended::New(n)
            );
            n += 1;
        }
        app.commit().unwrap();
    };

    // 1. below the size, a seal leaves its records in the WAL
    round(&mut app, 500);
    let one_round = wal_len() - HEADER;
    app.seal().unwrap();
    assert_eq!(wal_len(), HEADER + one_round, "not rewritten yet");
    round(&mut app, 500);
    app.seal().unwrap();
    assert!(
        wal_len() > HEADER + 2 * one_round - 1000,
        "both seals' records stay"
    );

    // 2. a crash with sealed records and pending ones in it: the sealed are
    // skipped, the pending replayed, nothing twice
    round(&mut app, 100);
    drop(app);
    let mut app = reopen(&store, &env);
    assert_eq!(app.recovery.replayed, 100);
    assert_eq!(app.size(), 1000);
    app.seal().unwrap();

    // 3. seals until the sealed records fill the size: the WAL grows to
    // about it, then is replaced by an empty one
    let mut largest = 0;
    let mut rewritten = false;
    for _ in 0..12 {
        round(&mut app, 500);
        largest = largest.max(wal_len());
        app.seal().unwrap();
        if wal_len() == HEADER {
            rewritten = true;
            break;
        }
    }
    assert!(rewritten, "the WAL was never replaced");
    assert!(
        largest >= REWRITE_AT && largest <= REWRITE_AT + one_round + HEADER,
        "replaced at {largest} bytes"
    );
    drop(app);

    let sealed = n;
    let rows = duck(
        &store,
        "SELECT count(*), count(DISTINCT source_event_id), \
         bool_and(source_event_id = 'e' || idx::VARCHAR) FROM leaves WHERE source = 'stress'",
    );
    assert_eq!(
        rows[0],
        [
            format!("BigInt({sealed})"),
            format!("BigInt({sealed})"),
            "Boolean(true)".to_string()
        ]
    );
    let v = env.verify(&[]);
    assert!(v.status.success(), "{}", common::stdout(&v));
}

/// The records of a store apart from its coverage leaves (a re-run counts
/// only the hours' new records), each with how often it is there.
fn events_of(store: &std::path::Path) -> Vec<Vec<String>> {
    duck(
        store,
        "SELECT kind, source_event_id, count(*) FROM leaves WHERE kind <> 'coverage' \
         GROUP BY ALL ORDER BY ALL",
    )
}

#[test]
fn an_ingest_killed_mid_file_is_completed_by_running_it_again() {
    let env = Env::new();
    let logs = env.dir.path().join("logs");
    ok(&["gen", "--events", "150000", "--out", &Env::s(&logs)]);
    let maillog = logs.join("postfix/maillog");
    let store = env.store();
    let args = |store: &std::path::Path| -> Vec<String> {
        [
            "ingest",
            "--store",
            &Env::s(store),
            "--key",
            &Env::s(&env.key()),
            "--source",
            "postfix",
            "--seal-every",
            "5000",
            &Env::s(&maillog),
        ]
        .map(str::to_string)
        .to_vec()
    };

    // killed once its first seals are in the store, long before its end
    let mut child = Command::new(bin())
        .args(args(&store))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !store.join("checkpoint").exists() || common::tree_size(&store) < 10_000 {
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "no seal in 5 minutes"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the ingest ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "killed mid-file, not finished");
    let sealed = common::tree_size(&store);
    let v = env.verify(&[]);
    assert!(v.status.success(), "{}", common::stdout(&v));

    // the same command again completes it
    let rerun: Vec<String> = args(&store);
    let out = ok(&rerun.iter().map(String::as_str).collect::<Vec<_>>());
    let (_, added, duplicates, _, _) = common::summary_counts(&out);
    assert!(duplicates > 0, "the sealed records were recognised: {out}");
    assert!(added > 0, "the rest was added: {out}");
    assert!(common::tree_size(&store) > sealed);
    let v = env.verify(&[]);
    assert!(v.status.success(), "{}", common::stdout(&v));

    // and the store holds what one uninterrupted run seals, each once
    let whole = env.dir.path().join("whole");
    let once: Vec<String> = args(&whole);
    ok(&once.iter().map(String::as_str).collect::<Vec<_>>());
    let (resumed, uninterrupted) = (events_of(&store), events_of(&whole));
    assert!(
        uninterrupted.len() > 20_000,
        "{} events",
        uninterrupted.len()
    );
    assert!(resumed.iter().all(|r| r[2] == "BigInt(1)"), "each once");
    assert_eq!(resumed, uninterrupted);
}

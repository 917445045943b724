//! Kill -9 a writer at random moments, 25 times; after each restart every
//! acknowledged event is present exactly once and the store verifies.

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

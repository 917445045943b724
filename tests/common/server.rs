//! A `sealtrail serve` child process on 127.0.0.1 for tests, and tokens.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;

use super::{Env, bin, ok};

/// A running server (killed when dropped).
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// Starts `sealtrail serve` on a free port of 127.0.0.1 (its log discarded).
    pub fn start(env: &Env, extra: &[&str]) -> Server {
        Server::start_logging(env, extra, None)
    }

    /// Starts the server with its stderr (the service log) written to `log`.
    pub fn start_logging(env: &Env, extra: &[&str], log: Option<&std::path::Path>) -> Server {
        let cfg = env.dir.path().join("server.toml");
        if !cfg.exists() {
            std::fs::write(&cfg, "seal_interval_ms = 200\nqueue_capacity = 16\nmax_body_bytes = 2000000\ncoverage_sources = [\"postfix\"]\n").unwrap();
        }
        let mut child = Command::new(bin())
            .args([
                "serve",
                "--store",
                env.store().to_str().unwrap(),
                "--key",
                env.key().to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--config",
                cfg.to_str().unwrap(),
            ])
            .args(extra)
            .env_remove("SEALTRAIL_LOG")
            .stdout(Stdio::piped())
            .stderr(match log {
                Some(p) => Stdio::from(std::fs::File::create(p).unwrap()),
                None => Stdio::null(),
            })
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("server did not start: {line:?}"))
            .to_string();
        Server {
            child,
            base: format!("http://{addr}"),
        }
    }
    pub fn url(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }
    pub fn stop(mut self) -> std::process::ExitStatus {
        // SIGTERM: a graceful stop, the way a supervisor stops the service
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "server did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn token(env: &Env, args: &[&str]) -> String {
    let s = env.store();
    let mut a = vec!["token", "create", "--store", s.to_str().unwrap()];
    a.extend_from_slice(args);
    ok(&a).trim().to_string()
}

/// A blocking HTTP client with a generous timeout.
pub fn client() -> Client {
    // TLS by rustls with ring, as the server's (reqwest is built without a
    // provider of its own)
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Waits until at least 10 seconds remain of the current UTC minute: the
/// failed-authentication limit counts per calendar minute, so a test of it
/// must not straddle a minute's end.
pub fn away_from_a_minute_boundary() {
    loop {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() % 60)
            .unwrap_or(0);
        if secs < 50 {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

//! The one writer: a dedicated thread owning the store's [`Appender`].
//!
//! Request handlers send it closures over a bounded channel; a full channel
//! is backpressure (the handler answers 503 with Retry-After), so memory
//! never grows without bound. A request is answered only after a commit
//! (fsync) that follows its appends, so a 202 always means durable; the
//! commits waiting in the queue together share one fsync (group commit: one
//! fsync per request would cap the server at one request per fsync's time,
//! milliseconds on many disks; docs/BENCHMARKS.md, session 15). The writer
//! writes the records to the WAL's file and hands the fsync, with the
//! commits waiting for it, to a syncer thread, which answers them once it
//! returns: appends go on while the disk syncs (session 18). A seal
//! starts when `seal_every` records wait or when the oldest waiting record
//! has waited `seal_interval`; a job whose
//! leaves the next request reads back from the sealed log (an accounting
//! request, extension or fulfilment) seals them itself before it answers.
//! Seals run on a thread of their own while appends go on (a request never
//! waits for Parquet encoding); only when a second seal's worth of records
//! piles up behind a running seal does the writer wait for that seal. Each
//! seal writes one segment, so on a quiet store the interval, not the
//! traffic, sets how many files a day adds (docs/SERVER.md). It appends one
//! coverage leaf per configured source per hour of ingestion (count 0
//! included), and seals on shutdown.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use sealtrail_format::model::{Kind, Record, Ts};
use sealtrail_store::{Appender, Layout, MergePolicy, SealReport, WalSync};

use super::metrics::Metrics;

/// Work for the writer.
type Job = Box<dyn FnOnce(&mut Appender, &mut Coverage) + Send>;

enum Msg {
    Run(Job),
    /// Answered once every record appended before it is durable.
    Commit(tokio::sync::oneshot::Sender<Result<(), String>>),
    Shutdown,
}

/// Most messages the writer takes from its queue before it commits for the
/// commits among them, so a stream of appends cannot hold back an answer.
const GROUP_MAX: usize = 256;

/// Counts of ingested records per source and hour, for coverage leaves.
#[derive(Default)]
pub struct Coverage {
    counts: BTreeMap<(String, i64), u64>,
}

const HOUR: i64 = 3_600_000_000;

impl Coverage {
    /// Adds `n` records of `source` ingested now.
    pub fn add(&mut self, source: &str, n: u64) {
        let h = Ts::now().0.div_euclid(HOUR) * HOUR;
        *self.counts.entry((source.to_string(), h)).or_default() += n;
    }
}

/// Sends jobs to the writer.
#[derive(Clone)]
pub struct WriterHandle {
    tx: SyncSender<Msg>,
}

/// The writer's queue is full.
#[derive(Debug)]
pub struct Busy;

/// Whether a job may wait for room in the writer's queue.
#[derive(Clone, Copy, Debug)]
pub enum Admit {
    /// Refused at once when the queue is full (a new request: 503).
    Now,
    /// Waits for room (a later part of a request already admitted); refused
    /// only when the writer has stopped.
    Wait,
}

impl WriterHandle {
    /// Queues `job` for the writer and returns where its answer arrives
    /// (`.await` it, or `blocking_recv` off the async runtime). The answer
    /// is whatever the job returns, its error type included.
    pub fn submit<T: Send + 'static>(
        &self,
        admit: Admit,
        job: impl FnOnce(&mut Appender, &mut Coverage) -> T + Send + 'static,
    ) -> Result<tokio::sync::oneshot::Receiver<T>, Busy> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let msg = Msg::Run(Box::new(move |app, cov| {
            let _ = tx.send(job(app, cov));
        }));
        match admit {
            Admit::Now => self.tx.try_send(msg).map_err(|e| match e {
                TrySendError::Full(_) | TrySendError::Disconnected(_) => Busy,
            })?,
            Admit::Wait => self.tx.send(msg).map_err(|_| Busy)?,
        }
        Ok(rx)
    }

    /// Queues a commit and returns where its answer arrives: `Ok` once
    /// every record appended before this call (by any job) is durable. The
    /// commits the writer finds queued together share one fsync.
    pub fn commit(
        &self,
        admit: Admit,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<(), String>>, Busy> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let msg = Msg::Commit(tx);
        match admit {
            Admit::Now => self.tx.try_send(msg).map_err(|_| Busy)?,
            Admit::Wait => self.tx.send(msg).map_err(|_| Busy)?,
        }
        Ok(rx)
    }

    /// Asks the writer to seal what is pending and stop.
    pub fn shutdown(&self) {
        let _ = self.tx.send(Msg::Shutdown);
    }
}

/// Writer settings.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// Queue capacity (jobs).
    pub capacity: usize,
    /// Seal after this many pending records.
    pub seal_every: usize,
    /// Seal when the oldest record not yet in a seal has waited this long.
    pub seal_interval: Duration,
    /// Sources that get hourly coverage leaves.
    pub coverage_sources: Vec<String>,
    /// When seals merge small segments; applied only in a lull (see
    /// [`MERGE_LULL`]).
    pub merge: MergePolicy,
}

/// A seal may merge (FORMAT.md §8.1) only when the records it takes came
/// in slower than `seal_every` per this long (~1,000 a second at the
/// default seal size). A merge re-encodes up to ~500,000 rows on the
/// sealing thread, and the writer waits for a seal once two seals' worth
/// of records pile up behind it; in a lull none do, while under load the
/// merge waits for the next lull (docs/BENCHMARKS.md, session 6).
pub const MERGE_LULL: Duration = Duration::from_secs(10);

/// Starts the writer thread.
pub fn start(
    mut app: Appender,
    cfg: WriterConfig,
    metrics: Arc<Metrics>,
) -> (WriterHandle, std::thread::JoinHandle<()>) {
    let (tx, rx) = sync_channel::<Msg>(cfg.capacity.max(1));
    let h = std::thread::Builder::new()
        .name("sealtrail-writer".into())
        .spawn(move || run(&mut app, rx, &cfg, &metrics))
        .unwrap_or_else(|e| panic!("cannot start the writer thread: {e}"));
    (WriterHandle { tx }, h)
}

/// Records what a finished seal reports, or logs its failure (its records
/// stay in the WAL and are sealed by the next attempt or on restart).
fn took_seal(
    app: &Appender,
    outcome: sealtrail_store::Result<Option<SealReport>>,
    metrics: &Metrics,
) {
    match outcome {
        Ok(Some(r)) => {
            metrics.observe_seal(r.took);
            metrics.set_tree_size(r.checkpoint.size);
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "seal failed; records stay in the WAL and will be sealed on the next attempt or restart")
        }
    }
    metrics.set_wal_depth(app.pending() as u64);
}

/// What [`start_seal`] did.
enum Start {
    Started,
    /// A seal is running (or nothing waits): try again on the next turn.
    NotYet,
    /// The seal could not start (logged); its records stay in the WAL.
    Failed,
}

/// Starts a seal in the background; if one is still running with another
/// seal's worth of records behind it, waits for it first, so pending
/// records (held in memory) stay bounded when sealing falls behind.
/// `waiting_since` is when the oldest record not yet in a seal came (None
/// at shutdown, which never merges).
fn start_seal(
    app: &mut Appender,
    cfg: &WriterConfig,
    metrics: &Metrics,
    waiting_since: Option<Instant>,
) -> Start {
    if app.sealing() && app.pending() >= 2 * cfg.seal_every.max(1) {
        let outcome = app.finish_seal();
        took_seal(app, outcome, metrics);
    }
    // records per MERGE_LULL below seal_every, compared without dividing
    let lull = waiting_since.is_some_and(|t| {
        app.waiting() as u128 * MERGE_LULL.as_millis()
            < cfg.seal_every as u128 * t.elapsed().as_millis()
    });
    let merge = if lull {
        cfg.merge
    } else {
        MergePolicy { at: 0, ..cfg.merge }
    };
    match app.seal_in_background_with(merge) {
        Ok(true) => Start::Started,
        Ok(false) => Start::NotYet,
        Err(e) => {
            took_seal(app, Err(e), metrics);
            Start::Failed
        }
    }
}

fn emit_coverage(
    app: &mut Appender,
    cov: &mut Coverage,
    cfg: &WriterConfig,
    up_to_hour: i64,
    last_hour: &mut i64,
) {
    // every completed hour since the last one emitted, zero counts included
    while *last_hour + HOUR <= up_to_hour {
        let h = *last_hour;
        for source in &cfg.coverage_sources {
            let n = cov.counts.remove(&(source.clone(), h)).unwrap_or(0);
            let mut r = Record::new(Kind::Coverage, Ts(h), source);
            r.window_start = Some(Ts(h));
            r.window_end = Some(Ts(h + HOUR));
            r.count = Some(n);
            r.source_event_id = Some(format!("coverage:server:{h}"));
            if let Err(e) = app.append(r) {
                tracing::error!(error = %e, "coverage leaf not written");
            }
        }
        cov.counts.retain(|(_, hh), _| *hh > h);
        *last_hour += HOUR;
    }
    let _ = app.commit();
}

/// Where a commit's answer goes.
type CommitAnswer = tokio::sync::oneshot::Sender<Result<(), String>>;

/// Commits waiting for one fsync of the WAL.
type SyncJob = (WalSync, Vec<CommitAnswer>);

fn answer_all(commits: Vec<CommitAnswer>, outcome: &Result<(), String>) {
    for answer in commits {
        // a caller that stopped waiting needs no answer
        let _ = answer.send(outcome.clone());
    }
}

/// Makes everything appended so far durable with one fsync, then answers
/// each commit waiting for it (none is answered before the fsync returns).
/// The records are written to the WAL's file here and the fsync is made by
/// the syncer thread, if there is one, so the writer goes on appending
/// while the disk syncs: with the fsync on the writer, every request
/// waited for it (docs/BENCHMARKS.md, session 18).
fn answer_commits(
    app: &mut Appender,
    commits: Vec<CommitAnswer>,
    metrics: &Metrics,
    syncer: Option<&std::sync::mpsc::Sender<SyncJob>>,
) {
    if commits.is_empty() {
        return;
    }
    metrics.committed(commits.len());
    let sync = match app.commit_elsewhere() {
        Ok(Some(sync)) => sync,
        // durable already
        Ok(None) => return answer_all(commits, &Ok(())),
        Err(e) => return answer_all(commits, &Err(e.to_string())),
    };
    // without a syncer (or once it stopped), the fsync is made here
    let (sync, commits) = match syncer {
        Some(tx) => match tx.send((sync, commits)) {
            Ok(()) => return,
            Err(std::sync::mpsc::SendError(job)) => job,
        },
        None => (sync, commits),
    };
    answer_all(commits, &synced(&sync, &Layout::new(app.dir()).wal()));
}

/// The fsync's outcome as a commit's answer (the error names the WAL).
fn synced(sync: &WalSync, wal: &std::path::Path) -> Result<(), String> {
    sync.sync().map_err(|e| format!("{}: {e}", wal.display()))
}

/// The syncer thread: takes every fsync queued, makes one per WAL file
/// among them, then answers their commits.
fn run_syncer(rx: std::sync::mpsc::Receiver<SyncJob>, wal: std::path::PathBuf) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        jobs.extend(rx.try_iter());
        let mut done: Vec<(WalSync, Result<(), String>)> = Vec::new();
        for (sync, commits) in jobs {
            let outcome = match done.iter().find(|(d, _)| d.same_file(&sync)) {
                Some((_, outcome)) => outcome.clone(),
                None => {
                    let outcome = synced(&sync, &wal);
                    done.push((sync, outcome.clone()));
                    outcome
                }
            };
            answer_all(commits, &outcome);
        }
    }
}

fn run(app: &mut Appender, rx: Receiver<Msg>, cfg: &WriterConfig, metrics: &Metrics) {
    let mut cov = Coverage::default();
    // when the oldest record not yet in a seal was appended (the interval
    // counts from it, so a quiet store does not seal on every tick)
    let mut waiting_since: Option<Instant> = None;
    // a seal a job runs itself (an accounting request's) is on a request's
    // path: it never merges
    app.set_merge_policy(MergePolicy { at: 0, ..cfg.merge });
    let mut last_hour = Ts::now().0.div_euclid(HOUR) * HOUR;
    metrics.set_tree_size(app.size());
    let (sync_tx, sync_rx) = std::sync::mpsc::channel::<SyncJob>();
    let wal = Layout::new(app.dir()).wal();
    let syncer = std::thread::Builder::new()
        .name("sealtrail-sync".into())
        .spawn(move || run_syncer(sync_rx, wal))
        .ok();
    let sync_tx = syncer.as_ref().map(|_| sync_tx);
    loop {
        let mut wait = waiting_since
            .map_or(cfg.seal_interval, |t| {
                cfg.seal_interval.saturating_sub(t.elapsed())
            })
            .max(Duration::from_millis(5));
        if app.sealing() {
            // look for the running seal's outcome at least this often
            wait = wait.min(Duration::from_millis(10));
        }
        match rx.recv_timeout(wait) {
            Ok(first) => {
                // this message and whatever else is queued already, then
                // one commit for the commits among them
                let mut commits = Vec::new();
                let mut stop = false;
                let mut next = Some(first);
                let mut taken = 0;
                while let Some(msg) = next.take() {
                    match msg {
                        Msg::Run(job) => job(app, &mut cov),
                        Msg::Commit(answer) => commits.push(answer),
                        Msg::Shutdown => {
                            stop = true;
                            break;
                        }
                    }
                    taken += 1;
                    if taken < GROUP_MAX {
                        next = rx.try_recv().ok();
                    }
                }
                answer_commits(app, commits, metrics, sync_tx.as_ref());
                metrics.set_wal_depth(app.pending() as u64);
                // (a job may have sealed on its own)
                metrics.set_tree_size(app.size());
                if stop {
                    break;
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now_hour = Ts::now().0.div_euclid(HOUR) * HOUR;
        if now_hour > last_hour {
            emit_coverage(app, &mut cov, cfg, now_hour, &mut last_hour);
        }
        let outcome = app.poll_seal();
        took_seal(app, outcome, metrics);
        if app.waiting() == 0 {
            waiting_since = None;
            continue;
        }
        let since = *waiting_since.get_or_insert_with(Instant::now);
        if app.waiting() >= cfg.seal_every || since.elapsed() >= cfg.seal_interval {
            match start_seal(app, cfg, metrics, Some(since)) {
                Start::Started => waiting_since = None,
                Start::NotYet => {}
                // back off one interval before trying again
                Start::Failed => waiting_since = Some(Instant::now()),
            }
        }
    }
    // drain what is queued, then seal: nothing acknowledged is left unsealed
    let mut commits = Vec::new();
    while let Ok(msg) = rx.try_recv() {
        match msg {
            Msg::Run(job) => job(app, &mut cov),
            Msg::Commit(answer) => commits.push(answer),
            Msg::Shutdown => {}
        }
    }
    answer_commits(app, commits, metrics, None);
    // every commit handed to the syncer is answered before the last seals
    drop(sync_tx);
    if let Some(h) = syncer {
        let _ = h.join();
    }
    let outcome = app.finish_seal();
    took_seal(app, outcome, metrics);
    start_seal(app, cfg, metrics, None);
    let outcome = app.finish_seal();
    took_seal(app, outcome, metrics);
}

//! Offline verification of a store from its files alone.
//!
//! Needs only a [`Reader`](sealtrail_store::Reader)-style view of the directory
//! and the auditor's verifier key: no signing key, no lock, no server. Order
//! of checks (FORMAT.md §10): the checkpoint's signature first, then the
//! manifest, the files against the manifest, every row (leaf hash, chain,
//! typed columns against the leaf), the Merkle root, every kept checkpoint and
//! an optional trusted one for consistency, and coverage leaves for gaps.
//!
//! The result is a list of [`Problem`]s, each naming a file, a leaf index
//! where one applies, and one [`ProblemKind`]; this crate never stops at the
//! first problem.
#![deny(missing_docs)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::array::{Array, BinaryViewArray, FixedSizeBinaryArray, RecordBatch, UInt64Array};

use sealtrail_format::model::Ts;
use sealtrail_format::model::{Kind, Record};
use sealtrail_format::tlog::merkle::{Frontier, Hash, chain_hash, leaf_hash};
use sealtrail_format::tlog::{Checkpoint, Note, NoteError, Verifier};
use sealtrail_store::layout::{Layout, parse_segment_name};
use sealtrail_store::manifest::{Manifest, SegmentEntry};
use sealtrail_store::segment;

mod state;
pub use state::VerifiedState;

/// The kinds of failure verify reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProblemKind {
    /// Bytes differ from what was signed.
    Modified,
    /// A file or leaf that should be there is not.
    Missing,
    /// A file is present under another name than the manifest's.
    Moved,
    /// A file or leaf that no manifest lists.
    Extra,
    /// A file or the log is shorter than what was signed.
    Truncated,
    /// Rows are present but out of order.
    Reordered,
    /// A typed column disagrees with the leaf it is derived from.
    ColumnMismatch,
    /// A signature by a known key does not verify.
    BadSignature,
    /// No signature by a key the verifier trusts.
    UnknownKey,
    /// Two checkpoints describe trees that cannot both be true.
    InconsistentCheckpoint,
    /// A text file had its line endings converted.
    CrlfDamaged,
    /// An object of a store on S3 that Object Lock does not retain (it
    /// could be deleted).
    Unretained,
    /// The checkpoint has fewer valid witness cosignatures than required.
    Uncosigned,
}

impl ProblemKind {
    /// The name printed in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Modified => "modified",
            ProblemKind::Missing => "missing",
            ProblemKind::Moved => "moved",
            ProblemKind::Extra => "extra",
            ProblemKind::Truncated => "truncated",
            ProblemKind::Reordered => "reordered",
            ProblemKind::ColumnMismatch => "column-mismatch",
            ProblemKind::BadSignature => "bad-signature",
            ProblemKind::UnknownKey => "unknown-key",
            ProblemKind::InconsistentCheckpoint => "inconsistent-checkpoint",
            ProblemKind::CrlfDamaged => "crlf-damaged",
            ProblemKind::Unretained => "unretained",
            ProblemKind::Uncosigned => "uncosigned",
        }
    }
}

/// One verification failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// File, relative to the store directory.
    pub file: String,
    /// Leaf index, where the problem is at one row.
    pub idx: Option<u64>,
    /// What was expected and what was found.
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.idx {
            Some(i) => write!(
                f,
                "{}: {} idx {}: {}",
                self.kind.as_str(),
                self.file,
                i,
                self.detail
            ),
            None => write!(f, "{}: {}: {}", self.kind.as_str(), self.file, self.detail),
        }
    }
}

/// The outcome of a verification.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Every failure found.
    pub problems: Vec<Problem>,
    /// Observations that are not integrity failures (coverage gaps).
    pub warnings: Vec<String>,
    /// The latest checkpoint, when it could be parsed.
    pub checkpoint: Option<Checkpoint>,
    /// Rows read from segments.
    pub rows: u64,
    /// Leaf bytes hashed.
    pub leaf_bytes: u64,
    /// Segment files checked.
    pub segments: usize,
    /// Of those, segments whose rows an earlier verification checked (their
    /// files' SHA-256 was checked against the signed manifest instead).
    pub earlier_segments: usize,
    /// Leaves in those segments.
    pub earlier_rows: u64,
}

impl Report {
    fn problem(
        &mut self,
        kind: ProblemKind,
        file: &str,
        idx: Option<u64>,
        detail: impl Into<String>,
    ) {
        self.problems.push(Problem {
            kind,
            file: file.to_string(),
            idx,
            detail: detail.into(),
        });
    }

    /// True when nothing failed.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The one summary line.
    pub fn summary(&self) -> String {
        let cp = self
            .checkpoint
            .as_ref()
            .map(|c| format!("checkpoint {} size {}", c.origin, c.size))
            .unwrap_or_else(|| "no valid checkpoint".into());
        if self.ok() {
            let earlier = if self.earlier_segments > 0 {
                format!(
                    "; {} of the segments ({} leaves) by an earlier verification, their files unchanged since (SHA-256 against the signed manifest)",
                    self.earlier_segments, self.earlier_rows
                )
            } else {
                String::new()
            };
            format!(
                "OK: {cp}; {} leaves in {} segments verified (hashes, chain, columns, Merkle root, {} warnings){earlier}",
                self.rows + self.earlier_rows,
                self.segments,
                self.warnings.len()
            )
        } else {
            let mut by: BTreeMap<&str, usize> = BTreeMap::new();
            for p in &self.problems {
                *by.entry(p.kind.as_str()).or_default() += 1;
            }
            let parts: Vec<String> = by.iter().map(|(k, n)| format!("{n} {k}")).collect();
            format!(
                "FAILED: {cp}; {} problems ({})",
                self.problems.len(),
                parts.join(", ")
            )
        }
    }
}

/// Options of a verification run.
#[derive(Default)]
pub struct Options<'a> {
    /// A checkpoint note trusted from elsewhere (an earlier pack, a witness).
    pub trusted_checkpoint: Option<String>,
    /// Called with the number of rows verified so far.
    pub progress: Option<&'a dyn Fn(u64)>,
    /// A verified-state file (FORMAT.md §10.1), outside the store: when it
    /// still holds, the segments it lists are checked by their files'
    /// SHA-256 only and the tree resumes from its frontier; otherwise
    /// (with a warning saying why) everything is checked row by row.
    pub state: Option<&'a Path>,
    /// Rewrite `state` after a clean verification (the CLI's `verify`; a
    /// pack only reads it, so the same state gives the same pack).
    pub write_state: bool,
    /// Segments checked at once (default: one per core, at most 8).
    pub threads: Option<usize>,
}

struct Ctx<'a> {
    layout: Layout,
    keys: &'a [Verifier],
    report: Report,
}

impl Ctx<'_> {
    fn problem(
        &mut self,
        kind: ProblemKind,
        file: &str,
        idx: Option<u64>,
        detail: impl Into<String>,
    ) {
        self.report.problem(kind, file, idx, detail);
    }

    fn note_problem(&mut self, file: &str, e: NoteError) {
        let kind = match e {
            NoteError::CrlfDamaged => ProblemKind::CrlfDamaged,
            NoteError::UnknownKey(_) => ProblemKind::UnknownKey,
            NoteError::BadSignature(_) => ProblemKind::BadSignature,
            _ => ProblemKind::Modified,
        };
        self.problem(kind, file, None, e.to_string());
    }

    /// Reads and verifies a note file; on failure records a problem and
    /// returns the text when it at least parses (so checks can go on).
    fn open_note(&mut self, rel: &str) -> (Option<String>, bool) {
        let path = self.layout.root().join(rel);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                self.problem(ProblemKind::Missing, rel, None, format!("cannot read: {e}"));
                return (None, false);
            }
        };
        match Note::parse(&text) {
            Ok(n) => match n.verify(self.keys) {
                Ok(_) => (Some(n.text), true),
                Err(e) => {
                    self.note_problem(rel, e);
                    (Some(n.text), false)
                }
            },
            Err(e) => {
                self.note_problem(rel, e);
                let fixed = text.replace("\r\n", "\n");
                (Note::parse(&fixed).ok().map(|n| n.text), false)
            }
        }
    }
}

fn rel(dir: &str, name: &str) -> String {
    format!("{dir}/{name}")
}

/// Verifies the store at `dir` against `keys`.
///
/// A store being written may seal while this runs, and a seal may merge
/// (and so remove) files this run was reading (FORMAT.md §8.1). A run that
/// fails while `checkpoint` changed under it is therefore run again, up to
/// three times in all; the report is always that of one whole run, so a
/// retry can never turn a failure into a pass. A copy of a store never
/// changes, and is verified once.
pub fn verify_store(dir: &Path, keys: &[Verifier], opts: &Options<'_>) -> Report {
    let checkpoint = || fs::read(Layout::new(dir).checkpoint()).ok();
    let mut runs = 0;
    loop {
        let before = checkpoint();
        let report = verify_once(dir, keys, opts);
        runs += 1;
        if report.ok() || runs == 3 || checkpoint() == before {
            return report;
        }
    }
}

fn verify_once(dir: &Path, keys: &[Verifier], opts: &Options<'_>) -> Report {
    let layout = Layout::new(dir);
    let learned = learn_rotated_keys(&layout, keys);
    let mut cx = Ctx {
        layout,
        keys: &learned,
        report: Report::default(),
    };

    // 1. The checkpoint's signature comes first.
    let (cp_text, _) = cx.open_note("checkpoint");
    let Some(cp) = cp_text.and_then(|t| Checkpoint::parse_body(&t).ok()) else {
        if cx.report.problems.is_empty() {
            cx.problem(
                ProblemKind::Modified,
                "checkpoint",
                None,
                "not a checkpoint",
            );
        }
        return cx.report;
    };
    cx.report.checkpoint = Some(cp.clone());

    // 2. The manifest of that checkpoint.
    let m_rel = rel("manifests", &format!("{:020}.note", cp.size));
    let (m_text, _) = cx.open_note(&m_rel);
    let Some(manifest) = m_text.and_then(|t| Manifest::parse_body(&t).ok()) else {
        if !cx.report.problems.iter().any(|p| p.file == m_rel) {
            cx.problem(
                ProblemKind::Modified,
                &m_rel,
                None,
                "not a sealtrail manifest",
            );
        }
        // Without the files' list no row can be checked, but a kept or
        // trusted checkpoint larger than this one still proves a rollback
        // (a seal keeps only the latest two manifests, so an older
        // checkpoint copied over `checkpoint` also lands here).
        TreeCheck::new(&mut cx, &cp, opts.trusted_checkpoint.as_deref());
        return cx.report;
    };
    if manifest.size != cp.size || manifest.root != cp.root || manifest.origin != cp.origin {
        cx.problem(
            ProblemKind::InconsistentCheckpoint,
            &m_rel,
            None,
            format!(
                "manifest describes size {} with another root than the checkpoint",
                manifest.size
            ),
        );
    }

    // 3. Files against the manifest.
    let plan = match_files(&mut cx, &manifest);

    // 4. Rows, chain, columns; leaf hashes feed the tree.
    let mut tree = TreeCheck::new(&mut cx, &cp, opts.trusted_checkpoint.as_deref());
    let mut coverage: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    // 4a. What an earlier verification proved, where it still holds.
    let earlier = opts
        .state
        .and_then(|p| earlier_verification(&mut cx, p, dir, &cp, &plan, &tree));
    let mut prev_chain = [0u8; 32];
    let mut skip = 0;
    // Leaves the earlier verification read whose files a merge has since
    // replaced: read again, and tied to what was read then by the chain.
    let mut reread: Option<Reread> = None;
    if let Some((st, frontier, kept)) = earlier {
        skip = kept;
        prev_chain = if kept > 0 {
            st.segments[kept - 1].chain
        } else {
            [0u8; 32]
        };
        let from = if kept > 0 {
            st.segments[kept - 1].last + 1
        } else {
            0
        };
        if from < st.size {
            reread = Some(Reread {
                next: from,
                until: st.size,
                chain: prev_chain,
                want: st.segments.last().map_or([0u8; 32], |e| e.chain),
            });
        }
        cx.report.earlier_segments = kept;
        cx.report.segments = kept;
        cx.report.earlier_rows = from;
        tree.resume(&st, frontier);
        coverage = st.coverage;
    }
    // Segments are checked in parallel, each from the chain value the
    // manifest signs for the one before it.
    let threads = opts
        .threads
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .clamp(1, 8);
    let mut jobs: Vec<(&SegmentEntry, Option<&String>, Hash)> = Vec::new();
    for (entry, file) in plan.iter().skip(skip) {
        jobs.push((entry, file.as_ref(), prev_chain));
        prev_chain = entry.chain;
    }
    check_rows(
        &mut cx,
        &mut tree,
        &jobs,
        reread.as_mut(),
        &mut coverage,
        threads,
        opts.progress,
    );
    tree.finish(&mut cx, &cp);

    // 5. Coverage gaps (warnings, not integrity failures).
    coverage_gaps(&mut cx.report, &coverage);

    // 6. What this verification proved, for the next one.
    if let (Some(path), true, true) = (opts.state, opts.write_state, cx.report.ok()) {
        let st = VerifiedState {
            origin: cp.origin.clone(),
            size: cp.size,
            root: cp.root,
            verified_at: Ts::now(),
            frontier: tree.frontier.nodes().to_vec(),
            checkpoints: tree.checked.clone(),
            segments: plan.into_iter().map(|(e, _)| e).collect(),
            coverage,
        };
        if let Err(e) = st.save(path) {
            cx.report.warnings.push(format!(
                "verified-state: {}: not written ({e}); the next verification reads everything again",
                path.display()
            ));
        }
    }
    cx.report
}

/// Warns of hours without a coverage leaf between consecutive observed ones,
/// per source (warnings, not integrity failures): O(leaves), not O(span).
fn coverage_gaps(report: &mut Report, coverage: &BTreeMap<String, BTreeSet<i64>>) {
    for (source, hours) in coverage {
        let v: Vec<i64> = hours.iter().copied().collect();
        let gaps: i64 = v
            .windows(2)
            .map(|w| ((w[1] - w[0]) / 3_600_000_000 - 1).max(0))
            .sum();
        if gaps > 0 {
            report.warnings.push(format!(
                "coverage-gap: source {source}: {gaps} hour(s) without a coverage leaf"
            ));
        }
    }
}

/// Checks the segments' rows on `threads` workers and feeds their leaf
/// hashes to the tree in order on this thread, the only sequential step.
///
/// The work is cut into parts of one row group each ([`plan_parts`]), not
/// segments: an ingest's first seal is often most of a store, and a worker
/// left alone with it kept the others idle, and a store of one segment
/// used one core (docs/BENCHMARKS.md, session 19). Workers take the next
/// part as soon as they are free. A worker needs a permit to start a part,
/// and this thread hands one back each time it consumes an outcome, so at
/// most `ahead` parts are started past the tree and few finished outcomes
/// wait. Once a segment's parts are all in, this thread joins them
/// ([`finish_segment`]): the chain runs through the whole segment.
fn check_rows(
    cx: &mut Ctx<'_>,
    tree: &mut TreeCheck,
    jobs: &[(&SegmentEntry, Option<&String>, Hash)],
    mut reread: Option<&mut Reread>,
    coverage: &mut BTreeMap<String, BTreeSet<i64>>,
    threads: usize,
    progress: Option<&dyn Fn(u64)>,
) {
    let (layout, keys) = (cx.layout.clone(), cx.keys);
    let parts = plan_parts(&layout, jobs);
    let ahead = 2 * threads + 4;
    let next_part = AtomicUsize::new(0);
    let (permit_tx, permit_rx) = std::sync::mpsc::channel::<()>();
    for _ in 0..ahead {
        let _ = permit_tx.send(());
    }
    let permits = std::sync::Mutex::new(permit_rx);
    std::thread::scope(|sc| {
        let (tx, rx) = std::sync::mpsc::channel::<(usize, PartOutcome)>();
        for _ in 0..threads.min(parts.len()) {
            let (tx, layout, next_part, permits, parts) =
                (tx.clone(), layout.clone(), &next_part, &permits, &parts);
            sc.spawn(move || {
                loop {
                    // a permit, or the end: this thread dropped the sender
                    let permit = permits.lock().map(|p| p.recv());
                    if !matches!(permit, Ok(Ok(()))) {
                        break;
                    }
                    let k = next_part.fetch_add(1, Ordering::SeqCst);
                    let Some(part) = parts.get(k) else {
                        break;
                    };
                    let (entry, file, _) = jobs[part.job];
                    let outcome = match file {
                        Some(file) => {
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                check_part(layout.clone(), keys, entry, file, part)
                            }))
                            .unwrap_or_else(|_| PartOutcome::missing())
                        }
                        // missing: the tree cannot be rebuilt past here
                        None => PartOutcome::missing(),
                    };
                    if tx.send((k, outcome)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut finished: BTreeMap<usize, PartOutcome> = BTreeMap::new();
        let mut want = 0;
        let mut of_segment: Vec<PartOutcome> = Vec::new();
        for (k, outcome) in rx {
            finished.insert(k, outcome);
            while let Some(o) = finished.remove(&want) {
                let part = &parts[want];
                want += 1;
                let _ = permit_tx.send(());
                of_segment.push(o);
                if of_segment.len() < part.of {
                    continue;
                }
                let (entry, file, start) = jobs[part.job];
                let o = finish_segment(
                    entry,
                    file.map_or("?", |f| f.as_str()),
                    start,
                    std::mem::take(&mut of_segment),
                );
                cx.report.problems.extend(o.report.problems);
                cx.report.rows += o.report.rows;
                cx.report.leaf_bytes += o.report.leaf_bytes;
                tree.broken |= o.broken;
                for h in o.leaves {
                    match reread.as_deref_mut() {
                        Some(r) if r.next < r.until => {
                            if let Some(at) = r.push(&h) {
                                let file = file.map_or("?", |f| f.as_str());
                                cx.problem(
                                    ProblemKind::Modified,
                                    &rel("segments", file),
                                    Some(at),
                                    format!(
                                        "the leaves before idx {} are not those an earlier verification read (chain at idx {at} differs from the verified state's)",
                                        at + 1
                                    ),
                                );
                            }
                        }
                        _ => tree.push(cx, h),
                    }
                }
                for (source, hours) in o.coverage {
                    coverage.entry(source).or_default().extend(hours);
                }
                if file.is_some() {
                    cx.report.segments += 1;
                }
                if let Some(p) = progress {
                    p(cx.report.earlier_rows + cx.report.rows);
                }
            }
        }
        // the workers still waiting for a permit see the end
        drop(permit_tx);
    });
}

/// One part of a segment's row check ([`check_part`]): part `part` of the
/// `of` parts of segment `job`, its row groups `groups` (`None`: the whole
/// file, when it is one part), whose first row is row `pos_base` of the
/// file.
struct Part {
    job: usize,
    part: usize,
    of: usize,
    groups: Option<std::ops::Range<usize>>,
    pos_base: usize,
}

/// The parts of each segment, in order: one per row group, or the whole
/// file as one part when it is missing, has one row group, or its footer
/// cannot be read (the part then reports why).
fn plan_parts(layout: &Layout, jobs: &[(&SegmentEntry, Option<&String>, Hash)]) -> Vec<Part> {
    let mut parts = Vec::new();
    for (job, (_, file, _)) in jobs.iter().enumerate() {
        let groups = file
            .and_then(|f| segment::row_group_rows(&layout.segment(f)).ok())
            .filter(|g| g.len() > 1);
        let Some(groups) = groups else {
            parts.push(Part {
                job,
                part: 0,
                of: 1,
                groups: None,
                pos_base: 0,
            });
            continue;
        };
        let mut pos_base = 0;
        for (part, rows) in groups.iter().enumerate() {
            parts.push(Part {
                job,
                part,
                of: groups.len(),
                groups: Some(part..part + 1),
                pos_base,
            });
            pos_base += rows;
        }
    }
    parts
}

/// The state at `path`, with its frontier, when it still holds for this store: same origin, a
/// frontier reproducing a root signed by one of the store's checkpoints,
/// every checkpoint at or below its size already found consistent, its
/// segments the manifest's first ones, each file present under its name and
/// hashing to the SHA-256 the manifest signs. Otherwise `None`, with a
/// warning saying why (no warning when the file does not exist yet).
fn earlier_verification(
    cx: &mut Ctx<'_>,
    path: &Path,
    store: &Path,
    cp: &Checkpoint,
    plan: &[(SegmentEntry, Option<String>)],
    tree: &TreeCheck,
) -> Option<(VerifiedState, Frontier, usize)> {
    let refuse = |cx: &mut Ctx<'_>, why: String| {
        cx.report.warnings.push(format!(
            "verified-state: {}: not used ({why}); every segment checked row by row",
            path.display()
        ));
    };
    let inside = |p: &Path| {
        let dir = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        match (fs::canonicalize(dir), fs::canonicalize(store)) {
            (Ok(d), Ok(s)) => d.starts_with(s),
            _ => false,
        }
    };
    if inside(path) {
        refuse(cx, "it lies inside the store; keep it elsewhere".into());
        return None;
    }
    let st = match VerifiedState::load(path) {
        // (a state of the empty tree has nothing to spare)
        Ok(Some(st)) if st.size > 0 => st,
        Ok(_) => return None,
        Err(e) => {
            refuse(cx, format!("unreadable: {e}"));
            return None;
        }
    };
    if st.origin != cp.origin || st.size > cp.size {
        refuse(
            cx,
            "it is for another log, or a larger tree than this store signs".into(),
        );
        return None;
    }
    let Some(frontier) = Frontier::from_nodes(st.frontier.clone()) else {
        refuse(cx, "its frontier is malformed".into());
        return None;
    };
    if frontier.size() != st.size || frontier.root() != st.root {
        refuse(cx, "its frontier does not give its root".into());
        return None;
    }
    // the root must be one the store's signed checkpoints carry now
    if !tree
        .wanted
        .get(&st.size)
        .is_some_and(|l| l.iter().all(|(_, r)| *r == st.root))
    {
        refuse(
            cx,
            format!(
                "no signed checkpoint of this store has its root at tree size {}",
                st.size
            ),
        );
        return None;
    }
    for (size, list) in tree.wanted.range(..st.size) {
        if list
            .iter()
            .any(|(_, r)| st.checkpoints.get(size) != Some(r))
        {
            refuse(
                cx,
                format!("the checkpoint at tree size {size} was not checked by it"),
            );
            return None;
        }
    }
    let covers = st.segments.last().map_or(0, |e| e.last + 1);
    // The state's segments still listed, unchanged, first; a merge may have
    // replaced the ones after them with one file that starts where they did.
    let n = plan
        .iter()
        .zip(&st.segments)
        .take_while(|((e, f), s)| e == *s && f.as_deref() == Some(&s.name))
        .count();
    let resumes = n == st.segments.len()
        || plan
            .get(n)
            .is_some_and(|(e, _)| e.first == st.segments[n].first && e.last >= covers - 1);
    if covers != st.size || !resumes {
        refuse(cx, "its segments are not this manifest's first ones".into());
        return None;
    }
    // the files, on every core
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let dir = cx.layout.segments_dir();
    let changed: Vec<String> = std::thread::scope(|sc| {
        let handles: Vec<_> = st.segments[..n]
            .chunks(n.div_ceil(threads).max(1))
            .map(|chunk| {
                let dir = dir.clone();
                sc.spawn(move || {
                    chunk
                        .iter()
                        .filter(|e| {
                            sealtrail_store::sha256_file(&dir.join(&e.name)).ok() != Some(e.sha256)
                        })
                        .map(|e| e.name.clone())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| vec!["?".into()]))
            .collect()
    });
    if let Some(name) = changed.first() {
        refuse(cx, format!("segments/{name} changed since it was verified"));
        return None;
    }
    Some((st, frontier, n))
}

/// Keys introduced by `key_rotation` leaves that lie inside a checkpoint
/// signed by a key already trusted and that carry the new key in a note
/// signed by a key already trusted (the key being replaced), repeated until
/// nothing new is learned.
/// Trust flows only from the auditor's key through signed checkpoints; the
/// leaves read here are verified against those roots by the full check.
fn learn_rotated_keys(layout: &Layout, given: &[Verifier]) -> Vec<Verifier> {
    let mut keys = given.to_vec();
    let mut kept: Vec<String> = fs::read_dir(layout.checkpoints_dir())
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    kept.sort();
    loop {
        let trusted_size = kept
            .iter()
            .filter_map(|p| fs::read_to_string(p).ok())
            .filter_map(|n| Checkpoint::open(&n, &keys).ok())
            .map(|c| c.size)
            .max()
            .unwrap_or(0);
        let mut added = false;
        for (name, first, _) in segment_names(layout) {
            if first >= trusted_size {
                break;
            }
            let Ok(batches) =
                segment::read_columns(&layout.segment(&name), &["idx", "kind", "action", "detail"])
            else {
                continue;
            };
            for b in batches.flatten() {
                let (Some(idx), Some(kind), Some(action), Some(detail)) = (
                    b.column(0).as_any().downcast_ref::<UInt64Array>(),
                    b.column(1)
                        .as_any()
                        .downcast_ref::<arrow::array::StringArray>(),
                    b.column(2)
                        .as_any()
                        .downcast_ref::<arrow::array::StringArray>(),
                    b.column(3)
                        .as_any()
                        .downcast_ref::<arrow::array::StringArray>(),
                ) else {
                    continue;
                };
                for i in 0..b.num_rows() {
                    if idx.value(i) < trusted_size
                        && kind.value(i) == "admin"
                        && action.is_valid(i)
                        && action.value(i) == "key_rotation"
                        && detail.is_valid(i)
                        && let Some(v) = sealtrail_store::rotated_key(detail.value(i), &keys)
                        && !keys.contains(&v)
                    {
                        keys.push(v);
                        added = true;
                    }
                }
            }
        }
        if !added {
            return keys;
        }
    }
}

fn segment_names(layout: &Layout) -> Vec<(String, u64, u64)> {
    let mut v: Vec<(String, u64, u64)> = fs::read_dir(layout.segments_dir())
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().to_string();
                    parse_segment_name(&n).map(|(a, b)| (n, a, b))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort_by_key(|(_, a, _)| *a);
    v
}

/// Pairs every manifest entry with the file that holds it (by name, or by
/// content hash when renamed); reports missing, moved and extra files.
fn match_files(cx: &mut Ctx<'_>, manifest: &Manifest) -> Vec<(SegmentEntry, Option<String>)> {
    let dir = cx.layout.segments_dir();
    let mut on_disk: BTreeMap<String, Option<Hash>> = BTreeMap::new();
    if let Ok(rd) = fs::read_dir(&dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            on_disk.insert(name, None);
        }
    }
    let names: Vec<String> = on_disk.keys().cloned().collect();
    let mut hash_of = |name: &str| -> Option<Hash> {
        let slot = on_disk.get_mut(name)?;
        if slot.is_none() {
            *slot = sealtrail_store::sha256_file(&dir.join(name)).ok();
        }
        *slot
    };
    let mut plan = Vec::new();
    let mut used = BTreeSet::new();
    let listed: BTreeSet<String> = manifest.segments.iter().map(|s| s.name.clone()).collect();
    for e in &manifest.segments {
        let r = rel("segments", &e.name);
        // present under its name: its rows are checked (hashing it here too
        // would read every segment twice)
        if dir.join(&e.name).is_file() {
            used.insert(e.name.clone());
            plan.push((e.clone(), Some(e.name.clone())));
            continue;
        }
        let moved = names
            .iter()
            .find(|n| !listed.contains(*n) && hash_of(n) == Some(e.sha256))
            .cloned();
        match moved {
            Some(n) => {
                cx.problem(
                    ProblemKind::Moved,
                    &r,
                    Some(e.first),
                    format!("leaves {}..={} are now in segments/{n}", e.first, e.last),
                );
                used.insert(n.clone());
                plan.push((e.clone(), Some(n)));
            }
            None => {
                cx.problem(
                    ProblemKind::Missing,
                    &r,
                    Some(e.first),
                    format!("segment with leaves {}..={} is gone", e.first, e.last),
                );
                plan.push((e.clone(), None));
            }
        }
    }
    for n in names {
        if used.contains(&n) {
            continue;
        }
        if n.ends_with(Layout::tmp_suffix()) {
            // an interrupted seal's file, cut short before its rename: never
            // a segment, as in `checkpoints/` (a listed segment renamed to
            // such a name is found above by its hash, and named `moved`)
            cx.report.warnings.push(format!(
                "{}: temp file of an interrupted write, not a segment; ignored (the next writer removes it)",
                rel("segments", &n)
            ));
            continue;
        }
        let what = match parse_segment_name(&n) {
            Some((a, _)) if a >= manifest.size => {
                "a file beyond the signed tree (an unsealed or injected segment)"
            }
            _ => "a file no manifest lists",
        };
        cx.problem(ProblemKind::Extra, &rel("segments", &n), None, what);
    }
    plan
}

/// Leaves of an earlier verification that a merge moved into a new file
/// (FORMAT.md §10.1): their chain, recomputed from the last unchanged
/// segment's value, must reach the chain value the state recorded at its
/// size, which ties every one of them to the leaves read then.
struct Reread {
    next: u64,
    until: u64,
    chain: Hash,
    want: Hash,
}

impl Reread {
    /// Takes the next leaf hash; at the last one, the index where the chain
    /// differs from the state's, if it does.
    fn push(&mut self, h: &Hash) -> Option<u64> {
        self.chain = sealtrail_format::tlog::merkle::chain_hash(&self.chain, h);
        self.next += 1;
        (self.next == self.until && self.chain != self.want).then_some(self.next - 1)
    }
}

/// Rebuilds the tree from recomputed leaf hashes and checks the latest,
/// every kept and the trusted checkpoint against it.
struct TreeCheck {
    frontier: Frontier,
    broken: bool,
    // checkpoints whose root the leaves reproduced, by size
    checked: BTreeMap<u64, Hash>,
    // size -> (file, root) of checkpoints to compare when the tree reaches size
    wanted: BTreeMap<u64, Vec<(String, Hash)>>,
}

impl TreeCheck {
    fn new(cx: &mut Ctx<'_>, latest: &Checkpoint, trusted: Option<&str>) -> TreeCheck {
        let mut wanted: BTreeMap<u64, Vec<(String, Hash)>> = BTreeMap::new();
        let dir = cx.layout.checkpoints_dir();
        let mut kept: Vec<String> = fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        kept.sort();
        for name in kept {
            let r = rel("checkpoints", &name);
            if name.ends_with(Layout::tmp_suffix()) {
                // a write cut short before its rename: never a checkpoint
                cx.report.warnings.push(format!(
                    "{r}: temp file of an interrupted write, not a checkpoint; ignored (the next writer removes it)"
                ));
                continue;
            }
            let (text, _) = cx.open_note(&r);
            let Some(c) = text.and_then(|t| Checkpoint::parse_body(&t).ok()) else {
                continue;
            };
            if c.origin != latest.origin {
                cx.problem(
                    ProblemKind::InconsistentCheckpoint,
                    &r,
                    None,
                    format!("origin {} differs from {}", c.origin, latest.origin),
                );
            } else if c.size > latest.size {
                cx.problem(
                    ProblemKind::InconsistentCheckpoint,
                    &r,
                    None,
                    format!("kept checkpoint has {} leaves but `checkpoint` only {}: the log was rolled back", c.size, latest.size),
                );
            } else {
                wanted.entry(c.size).or_default().push((r, c.root));
            }
        }
        if let Some(t) = trusted {
            let r = "trusted checkpoint".to_string();
            match Checkpoint::open(t, cx.keys) {
                Err(e) => cx.note_problem(&r, e),
                Ok(c) if c.origin != latest.origin => {
                    cx.problem(ProblemKind::InconsistentCheckpoint, &r, None, format!("origin {} differs from {}", c.origin, latest.origin))
                }
                Ok(c) if c.size > latest.size => cx.problem(
                    ProblemKind::InconsistentCheckpoint,
                    &r,
                    None,
                    format!("trusted checkpoint has {} leaves but the store only {}: the log was truncated or rolled back", c.size, latest.size),
                ),
                Ok(c) => wanted.entry(c.size).or_default().push((r, c.root)),
            }
        }
        wanted
            .entry(latest.size)
            .or_default()
            .push(("checkpoint".into(), latest.root));
        let mut t = TreeCheck {
            frontier: Frontier::new(),
            broken: false,
            checked: BTreeMap::new(),
            wanted: BTreeMap::new(),
        };
        // size 0 compares the empty root
        if let Some(zero) = wanted.remove(&0) {
            t.wanted.insert(0, zero);
            t.check_at(cx);
        }
        t.wanted.extend(wanted);
        t
    }

    /// Continues from what an earlier verification proved (checked by
    /// `earlier_verification`): its frontier, and its checkpoints as checked.
    fn resume(&mut self, st: &VerifiedState, frontier: Frontier) {
        self.frontier = frontier;
        self.wanted.retain(|size, _| *size > st.size);
        self.checked = st.checkpoints.clone();
        self.checked.insert(st.size, st.root);
    }

    fn push(&mut self, cx: &mut Ctx<'_>, h: Hash) {
        self.frontier.push(h);
        if self.wanted.contains_key(&self.frontier.size()) {
            self.check_at(cx);
        }
    }

    fn check_at(&mut self, cx: &mut Ctx<'_>) {
        let size = self.frontier.size();
        let Some(list) = self.wanted.remove(&size) else {
            return;
        };
        if self.broken {
            return;
        }
        let root = self.frontier.root();
        if list.iter().all(|(_, want)| *want == root) {
            self.checked.insert(size, root);
        }
        for (file, want) in list {
            if root != want {
                let kind = if file == "checkpoint" {
                    ProblemKind::Modified
                } else {
                    ProblemKind::InconsistentCheckpoint
                };
                cx.problem(
                    kind,
                    &file,
                    None,
                    format!("the leaves do not reproduce the signed root at tree size {size}"),
                );
            }
        }
    }

    fn finish(&mut self, cx: &mut Ctx<'_>, latest: &Checkpoint) {
        if !self.broken && self.frontier.size() < latest.size {
            cx.problem(
                ProblemKind::Truncated,
                "segments",
                Some(self.frontier.size()),
                format!(
                    "the segments hold {} leaves, the checkpoint signs {}",
                    self.frontier.size(),
                    latest.size
                ),
            );
        }
    }
}

/// What checking one segment found: its problems, its recomputed leaf
/// hashes in idx order, and whether the tree can be rebuilt past it.
struct SegmentOutcome {
    report: Report,
    leaves: Vec<Hash>,
    broken: bool,
    coverage: BTreeMap<String, BTreeSet<i64>>,
}

/// What checking one part of a segment found ([`check_part`]): its
/// problems and counts, the rows it read in file order, and whether the
/// segment's check goes on past it.
struct PartOutcome {
    report: Report,
    rows: Vec<RowSeen>,
    broken: bool,
    coverage: BTreeMap<String, BTreeSet<i64>>,
    end: PartEnd,
}

impl PartOutcome {
    fn new() -> PartOutcome {
        PartOutcome {
            report: Report::default(),
            rows: Vec::new(),
            broken: false,
            coverage: BTreeMap::new(),
            end: PartEnd::Go,
        }
    }

    /// A segment file that is missing (or whose check failed): no row of
    /// it is checked, and the tree cannot be rebuilt past it.
    fn missing() -> PartOutcome {
        PartOutcome {
            broken: true,
            end: PartEnd::Abort,
            ..PartOutcome::new()
        }
    }
}

/// One row as a part read it: the leaf its idx names, the leaf's
/// recomputed hash, the row's stored chain value, and whether it replaces
/// an earlier row for the same leaf (a row out of place does not).
struct RowSeen {
    idx: u64,
    leaf_hash: Hash,
    chain: Hash,
    replace: bool,
}

/// Whether a segment's check goes on after a part.
#[derive(PartialEq)]
enum PartEnd {
    /// The next part is taken.
    Go,
    /// A row group could not be read: the rows after it are not checked,
    /// as a reading from start to end stops there; the chain is still
    /// checked through the rows read.
    Stop,
    /// The file cannot be read as a segment: none of its rows is checked.
    Abort,
}

/// Checks one part of a segment file ([`Part`]) against its manifest
/// entry: every part classifies the file's idx column (cheap, and each
/// needs it), the first part alone reports what that finds, and each
/// checks the rows of its own row groups.
fn check_part(
    layout: Layout,
    keys: &[Verifier],
    entry: &SegmentEntry,
    file: &str,
    part: &Part,
) -> PartOutcome {
    let mut cx = Ctx {
        layout,
        keys,
        report: Report::default(),
    };
    let mut out = PartOutcome::new();
    check_part_into(&mut cx, entry, file, part, &mut out);
    out.report = cx.report;
    out
}

fn check_part_into(
    cx: &mut Ctx<'_>,
    entry: &SegmentEntry,
    file: &str,
    part: &Part,
    out: &mut PartOutcome,
) {
    let r = rel("segments", file);
    let path = cx.layout.segment(file);
    let n_expected = entry.last - entry.first + 1;

    // Pass 1: the idx column alone classifies missing, extra and reordered rows.
    let idxs = match read_idx(&path) {
        Ok(v) => v,
        Err(e) => {
            let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let kind = if e.contains("EOF")
                || e.contains("eof")
                || e.contains("footer")
                || e.contains("Invalid Parquet file")
                || size < 8
            {
                ProblemKind::Truncated
            } else {
                ProblemKind::Modified
            };
            cx.problem(
                kind,
                &r,
                Some(entry.first),
                format!("unreadable Parquet ({size} bytes): {e}"),
            );
            out.broken = true;
            out.end = PartEnd::Abort;
            return;
        }
    };
    // which of the segment's leaves some row holds, by idx - first (every
    // part reads the whole column: a bitmap, not a set, keeps that cheap)
    let mut present = vec![false; n_expected as usize];
    for &i in &idxs {
        if let Some(slot) = i
            .checked_sub(entry.first)
            .and_then(|k| present.get_mut(usize::try_from(k).ok()?))
        {
            *slot = true;
        }
    }
    let mut row_trouble: HashMap<usize, ProblemKind> = HashMap::new();
    let missing: Vec<u64> = (entry.first..=entry.last)
        .zip(&present)
        .filter(|(_, held)| !**held)
        .map(|(i, _)| i)
        .collect();
    if !missing.is_empty() {
        let tail = missing
            .iter()
            .rev()
            .zip((entry.first..=entry.last).rev())
            .take_while(|(a, b)| **a == *b)
            .count();
        let kind = if tail == missing.len() {
            ProblemKind::Truncated
        } else {
            ProblemKind::Missing
        };
        cx.problem(
            kind,
            &r,
            Some(missing[0]),
            format!(
                "{} leaf row(s) missing (first idx {})",
                missing.len(),
                missing[0]
            ),
        );
        out.broken = true;
    }
    for (pos, &i) in idxs.iter().enumerate() {
        if i < entry.first || i > entry.last {
            cx.problem(
                ProblemKind::Extra,
                &r,
                Some(i),
                format!("row {pos} holds leaf {i}, outside this segment's range"),
            );
            row_trouble.insert(pos, ProblemKind::Extra);
            out.broken = true;
        }
    }
    if missing.is_empty() && idxs.len() as u64 == n_expected {
        for (pos, &i) in idxs.iter().enumerate() {
            let want = entry.first + pos as u64;
            if i != want {
                cx.problem(
                    ProblemKind::Reordered,
                    &r,
                    Some(want),
                    format!("row {pos} holds leaf {i}, expected leaf {want}"),
                );
                row_trouble.insert(pos, ProblemKind::Reordered);
            }
        }
    } else if idxs.len() as u64 > n_expected && missing.is_empty() {
        cx.problem(
            ProblemKind::Extra,
            &r,
            None,
            format!("{} rows for {} leaves", idxs.len(), n_expected),
        );
        out.broken = true;
    }

    if part.part > 0 {
        // reported by the segment's first part
        cx.report.problems.clear();
    }

    // Pass 2: every row of this part's row groups. Rows are joined in idx
    // order later, so a reordering costs one report per displaced row, not
    // a broken chain for the rest.
    let batches = match segment::read_viewed(&path, part.groups.clone()) {
        Ok(viewed) if !segment::is_segment_schema(viewed.file_schema.fields()) => {
            cx.problem(
                ProblemKind::ColumnMismatch,
                &r,
                None,
                "the file's columns differ from the segment schema (FORMAT.md §7.1)",
            );
            out.broken = true;
            out.end = PartEnd::Abort;
            return;
        }
        Ok(viewed) => viewed.batches,
        Err(e) => {
            cx.problem(
                ProblemKind::Modified,
                &r,
                Some(entry.first),
                format!("unreadable Parquet: {e}"),
            );
            out.broken = true;
            out.end = PartEnd::Abort;
            return;
        }
    };
    let mut pos_base = part.pos_base;
    for b in batches {
        let b = match b {
            Ok(b) => b,
            Err(e) => {
                cx.problem(
                    ProblemKind::Modified,
                    &r,
                    None,
                    format!("unreadable row group: {e}"),
                );
                out.broken = true;
                out.end = PartEnd::Stop;
                break;
            }
        };
        check_batch(
            cx,
            &r,
            &b,
            pos_base,
            &row_trouble,
            &mut out.rows,
            &mut out.coverage,
        );
        pos_base += b.num_rows();
        cx.report.rows += b.num_rows() as u64;
    }
}

/// Joins the parts of one segment, in order, and checks its chain from
/// `start_chain` (the chain value signed for the segment before it)
/// through every leaf, by idx, to the value its manifest entry signs.
fn finish_segment(
    entry: &SegmentEntry,
    file: &str,
    start_chain: Hash,
    parts: Vec<PartOutcome>,
) -> SegmentOutcome {
    let r = rel("segments", file);
    let mut report = Report::default();
    let mut coverage: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    let mut broken = false;
    let mut rows = RowsByIdx {
        first: entry.first,
        by_idx: vec![None; (entry.last - entry.first + 1) as usize],
    };
    for p in parts {
        report.problems.extend(p.report.problems);
        report.rows += p.report.rows;
        report.leaf_bytes += p.report.leaf_bytes;
        broken |= p.broken;
        for (source, hours) in p.coverage {
            coverage.entry(source).or_default().extend(hours);
        }
        for row in p.rows {
            rows.set(row.idx, (row.leaf_hash, row.chain), row.replace);
        }
        match p.end {
            PartEnd::Go => {}
            PartEnd::Stop => break,
            PartEnd::Abort => {
                return SegmentOutcome {
                    report,
                    leaves: Vec::new(),
                    broken: true,
                    coverage,
                };
            }
        }
    }
    let mut leaves = Vec::with_capacity(rows.by_idx.len());
    let mut chain = start_chain;
    for i in entry.first..=entry.last {
        let Some((lh, stored_chain)) = rows.get(i) else {
            continue;
        };
        let want = chain_hash(&chain, lh);
        if want != *stored_chain
            && !report
                .problems
                .iter()
                .any(|p| p.file == r && p.idx == Some(i))
        {
            report.problem(
                ProblemKind::Modified,
                &r,
                Some(i),
                "chain value does not follow from the previous leaf",
            );
        }
        chain = *stored_chain;
        leaves.push(*lh);
    }
    if chain != entry.chain && !report.problems.iter().any(|p| p.file == r) {
        report.problem(
            ProblemKind::Modified,
            &r,
            Some(entry.last),
            "chain at the last row differs from the signed manifest",
        );
    }
    SegmentOutcome {
        report,
        leaves,
        broken,
        coverage,
    }
}

/// Each of a segment's leaves (by idx) to its recomputed leaf hash and its
/// stored chain value; rows outside the segment's range have no place (they
/// are reported `extra` already).
struct RowsByIdx {
    first: u64,
    by_idx: Vec<Option<(Hash, Hash)>>,
}

impl RowsByIdx {
    /// Records leaf `i`'s row; an earlier row for the same leaf is replaced
    /// only if `replace`.
    fn set(&mut self, i: u64, row: (Hash, Hash), replace: bool) {
        if let Some(slot) = i
            .checked_sub(self.first)
            .and_then(|k| self.by_idx.get_mut(usize::try_from(k).ok()?))
            && (replace || slot.is_none())
        {
            *slot = Some(row);
        }
    }

    fn get(&self, i: u64) -> Option<&(Hash, Hash)> {
        let k = usize::try_from(i.checked_sub(self.first)?).ok()?;
        self.by_idx.get(k)?.as_ref()
    }
}

fn read_idx(path: &Path) -> Result<Vec<u64>, String> {
    let batches = segment::read_columns(path, &["idx"]).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for b in batches {
        let b = b.map_err(|e| e.to_string())?;
        let col = b
            .column(0)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or("idx column has the wrong type")?;
        out.extend(col.iter().map(|v| v.unwrap_or(u64::MAX)));
    }
    Ok(out)
}

fn check_batch(
    cx: &mut Ctx<'_>,
    r: &str,
    b: &RecordBatch,
    pos_base: usize,
    row_trouble: &HashMap<usize, ProblemKind>,
    rows: &mut Vec<RowSeen>,
    coverage: &mut BTreeMap<String, BTreeSet<i64>>,
) {
    // read as views (`segment::read_viewed`), the file's schema checked
    let expected_schema = segment::schema();
    let col = |name: &str| b.column(expected_schema.index_of(name).unwrap_or(0));
    let (Some(idx), Some(leaf), Some(lh), Some(ch)) = (
        col("idx").as_any().downcast_ref::<UInt64Array>(),
        col("leaf").as_any().downcast_ref::<BinaryViewArray>(),
        col("leaf_hash")
            .as_any()
            .downcast_ref::<FixedSizeBinaryArray>(),
        col("chain").as_any().downcast_ref::<FixedSizeBinaryArray>(),
    ) else {
        cx.problem(
            ProblemKind::ColumnMismatch,
            r,
            None,
            "core columns have the wrong types",
        );
        return;
    };
    // every leaf is read into one record (its strings reused) and compared
    // with its row's typed columns at once
    let mut columns = segment::ColumnCheck::new(b);
    let mut rec = Record::default();
    for row in 0..b.num_rows() {
        let i = idx.value(row);
        let bytes = leaf.value(row);
        cx.report.leaf_bytes += bytes.len() as u64;
        let computed = leaf_hash(bytes);
        let stored: Hash = lh.value(row).try_into().unwrap_or_default();
        let stored_chain: Hash = ch.value(row).try_into().unwrap_or_default();
        let seen = |replace| RowSeen {
            idx: i,
            leaf_hash: computed,
            chain: stored_chain,
            replace,
        };
        if row_trouble.contains_key(&(pos_base + row)) {
            rows.push(seen(false));
            continue;
        }
        if computed != stored {
            cx.problem(
                ProblemKind::Modified,
                r,
                Some(i),
                "leaf bytes do not match leaf_hash",
            );
        }
        match rec.read_leaf_fields(bytes) {
            Ok(fields) => {
                if rec.kind() == Kind::Coverage
                    && let (Some(s), Some(w)) = (&rec.source, rec.window_start)
                {
                    coverage.entry(s.clone()).or_default().insert(w.0);
                }
                columns.check(row, &rec, fields);
            }
            Err(e) => {
                if computed == stored {
                    cx.problem(ProblemKind::Modified, r, Some(i), e.to_string());
                }
            }
        }
        rows.push(seen(true));
    }
    // the leaf, its hash and the chain are checked row by row already;
    // only the columns derived from the leaf are compared
    for (column, row) in columns.differences() {
        cx.problem(
            ProblemKind::ColumnMismatch,
            r,
            Some(idx.value(row)),
            format!("column `{column}` differs from the value in the leaf"),
        );
    }
}

//! The sealed store: an append-only directory of Parquet segments, a hash
//! chain, an RFC 6962 tree and signed checkpoints and manifests.
//!
//! Two contracts, kept apart on purpose:
//! - [`Appender`] is the one writer. It holds the lock file, appends records
//!   to the write-ahead log ([`Appender::append`], then [`Appender::commit`]
//!   to make them durable, which is when they may be acknowledged) and turns
//!   pending records into a segment, a manifest and a checkpoint
//!   ([`Appender::seal`]). The [`Signer`] is passed in; it never lives in the
//!   store directory.
//! - [`Reader`] needs no secret and takes no lock: checkpoints, manifests,
//!   segment paths, leaf hashes and proofs. `sealtrail-verify`, `sealtrail-query` and the server's
//!   read routes use only this.
//!
//! Only this crate writes Parquet or touches the signing key. Every path is
//! computed in [`layout`]; every byte format is specified in docs/FORMAT.md.
#![deny(missing_docs)]

pub mod layout;
pub mod manifest;
pub mod segment;
pub mod tree_index;
pub mod wal;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arrow::array::Array;
use sha2::{Digest, Sha256};

pub use layout::Layout;
pub use manifest::{Manifest, SegmentEntry};
use sealtrail_format::model::{LEAF_VERSION, ModelError, Record, Ts};
use sealtrail_format::tlog::merkle::{self, Frontier, Hash, chain_hash, leaf_hash};
use sealtrail_format::tlog::{Checkpoint, NoteError, Signer, Verifier};
use wal::Wal;
pub use wal::WalSync;

/// Store format version written in the marker file.
pub const STORE_VERSION: &str = "sealtrail store v1";

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another process holds the writer lock.
    #[error(
        "{0}: another sealtrail process is writing to this store (lock held); stop it or wait for it to finish"
    )]
    Locked(PathBuf),
    /// The directory is not a store.
    #[error("{0}: not a sealtrail store (no sealtrail-store marker file); check the --store path")]
    NotAStore(PathBuf),
    /// The record is not a valid canonical event.
    #[error("invalid record: {0}")]
    Model(#[from] ModelError),
    /// A note, key or checkpoint is invalid.
    #[error("{path}: {source}")]
    Note {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: NoteError,
    },
    /// The signing key does not belong to this store.
    #[error(
        "the signing key is named {key}, but this store's origin is {store}; use the key created for this store"
    )]
    WrongKey {
        /// Key name.
        key: String,
        /// Store origin.
        store: String,
    },
    /// The signing key file lies inside the store directory.
    #[error(
        "{0}: the signing key must not be kept inside the store directory; move it elsewhere (e.g. a secrets directory readable only by the sealer)"
    )]
    KeyInStore(PathBuf),
    /// Parquet encoding or decoding failed.
    #[error("{path}: parquet: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: parquet::errors::ParquetError,
    },
    /// Arrow failed building or reading a batch.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The store's files disagree with each other; run `sealtrail verify`.
    #[error("{path}: {what}; run `sealtrail verify` for a full report")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

/// The store's `Result`.
pub type Result<T> = std::result::Result<T, StoreError>;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// fsyncs a directory so renames inside it are durable.
pub fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory holding `path`: its parent, or `.` for a bare file name
/// (whose parent is the empty path, which names no directory to fsync).
pub fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync the
/// directory.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_file_name(format!(
        "{}{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        Layout::tmp_suffix()
    ));
    let res = (|| -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fsync_dir(dir_of(path))
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.map_err(io_err(path))
}

fn read_string(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(io_err(path))
}

/// SHA-256 of a file's bytes, read in 1 MiB pieces (what a manifest signs
/// for each segment, FORMAT.md §8).
pub fn sha256_file(path: &Path) -> Result<Hash> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// First line of the signed note a key rotation leaf holds in `detail`:
/// `sealtrail key rotation v1`, then the new verifier key, signed by the
/// key being replaced (FORMAT.md §5.4).
pub const ROTATION_NOTE: &str = "sealtrail key rotation v1";

/// The new verifier key a key-rotation `detail` introduces, if it is a
/// note signed by one of `keys`; `None` otherwise (a bare key, a note
/// signed by anyone else).
pub fn rotated_key(detail: &str, keys: &[Verifier]) -> Option<Verifier> {
    let body = sealtrail_format::tlog::note::open_note(detail, keys).ok()?;
    let mut lines = body.lines();
    if lines.next() != Some(ROTATION_NOTE) {
        return None;
    }
    Verifier::parse(lines.next()?).ok()
}

/// The sealed records' bytes at the start of the WAL at which a writer
/// replaces it (once they also outnumber the rest). Each replacement copies
/// the pending records and waits for an fsync while no append can go on, so
/// replacing after every seal stalled a busy server once a second; this
/// bounds the WAL (and what recovery reads) to about this plus the pending
/// records (FORMAT.md §9).
const WAL_REWRITE_AT: u64 = 128 * 1024 * 1024;

/// Drops `value` on a short-lived thread of its own: freeing what a seal
/// held (a second's records, or a closed WAL's cached pages) takes
/// milliseconds the writer's callers need not wait for. Dropped here if no
/// thread can start.
fn free_elsewhere<T: Send + 'static>(value: T) {
    // `spawn` gives the closure, and with it `value`, back to be dropped
    // here when it fails
    let _ = std::thread::Builder::new()
        .name("sealtrail-free".into())
        .spawn(move || drop(value));
}

/// What a record says, apart from when it was ingested: the first 8 bytes
/// of the SHA-256 of its leaf without the `ingested_at` member. Two records
/// with one identity are the same record only if this agrees (FORMAT.md §11).
pub fn content_digest(leaf: &[u8]) -> [u8; 8] {
    // a quarantine leaf's `ts` is when it was quarantined, not input: its
    // content is what its identity already names (line and raw bytes)
    const QUARANTINE: &[u8] = b"{\"v\":1,\"kind\":\"quarantine\",";
    if leaf.starts_with(QUARANTINE) {
        return [0u8; 8];
    }
    const KEY: &[u8] = b",\"ingested_at\":\"";
    // built once: building a searcher per leaf cost more than the search
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(KEY));
    let mut h = Sha256::new();
    // the member follows `ts` and its value holds no quote (FORMAT.md §2)
    match FINDER.find(leaf) {
        Some(p) => match leaf[p + KEY.len()..].iter().position(|&b| b == b'"') {
            Some(q) => {
                h.update(&leaf[..p]);
                h.update(&leaf[p + KEY.len() + q + 1..]);
            }
            None => h.update(leaf),
        },
        None => h.update(leaf),
    }
    let d = h.finalize();
    let mut c = [0u8; 8];
    c.copy_from_slice(&d[..8]);
    c
}

/// The records a store holds by identity: each identity's first content,
/// and the further contents of identities that collided (two different
/// records with one source event id, both kept).
#[derive(Default)]
struct Identities {
    first: HashMap<[u8; 16], [u8; 8]>,
    collided: HashSet<([u8; 16], [u8; 8])>,
}

impl Identities {
    /// Adds a record: `None` if this identity and content are known
    /// already (a duplicate), else whether the identity collided.
    fn insert(&mut self, key: [u8; 16], content: [u8; 8]) -> Option<bool> {
        use std::collections::hash_map::Entry;
        // one hash and one probe for the common case, a new identity
        match self.first.entry(key) {
            Entry::Vacant(v) => {
                v.insert(content);
                Some(false)
            }
            Entry::Occupied(o) if *o.get() == content => None,
            Entry::Occupied(_) => self.collided.insert((key, content)).then_some(true),
        }
    }

    /// Undoes an [`Identities::insert`] that returned `Some`.
    fn remove(&mut self, key: [u8; 16], content: [u8; 8], collided: bool) {
        if collided {
            self.collided.remove(&(key, content));
        } else {
            self.first.remove(&key);
        }
    }
}

/// The identity a record is deduplicated by: SHA-256 of its source and its
/// source's own event id, truncated to 16 bytes. Records without an id are
/// never deduplicated.
pub fn dedupe_key(source: &str, source_event_id: &str) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(source.as_bytes());
    h.update([0]);
    h.update(source_event_id.as_bytes());
    let d = h.finalize();
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

/// The contents of the marker file.
#[derive(Clone, Debug)]
pub struct StoreInfo {
    /// Log origin (the signing key's name).
    pub origin: String,
    /// Verifier key of the store's signing key when it was created.
    pub vkey: String,
}

fn read_marker(layout: &Layout) -> Result<StoreInfo> {
    let path = layout.marker();
    let text = fs::read_to_string(&path)
        .map_err(|_| StoreError::NotAStore(layout.root().to_path_buf()))?;
    let mut lines = text.lines();
    let corrupt = |what: &str| StoreError::Corrupt {
        path: path.clone(),
        what: what.to_string(),
    };
    if lines.next() != Some(STORE_VERSION) {
        return Err(corrupt("unsupported store version in the marker file"));
    }
    let origin = lines
        .next()
        .and_then(|l| l.strip_prefix("origin "))
        .ok_or_else(|| corrupt("no origin line"))?;
    let vkey = lines
        .next()
        .and_then(|l| l.strip_prefix("vkey "))
        .ok_or_else(|| corrupt("no vkey line"))?;
    Ok(StoreInfo {
        origin: origin.to_string(),
        vkey: vkey.to_string(),
    })
}

/// Result of [`Appender::append`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Appended at this leaf index (durable after the next commit).
    New(u64),
    /// Same source, source event id and content as an earlier record: skipped.
    Duplicate,
    /// Appended at this leaf index although an earlier record has the same
    /// source and source event id: the two differ in content, so both are
    /// kept and the collision is reported (FORMAT.md §11).
    Collision(u64),
}

/// What opening the store had to repair.
#[derive(Clone, Debug, Default)]
pub struct Recovery {
    /// WAL records replayed as pending (acknowledged but not yet sealed).
    pub replayed: u64,
    /// Bytes cut from a torn WAL tail (never acknowledged).
    pub torn_bytes: u64,
    /// Segment files of an interrupted seal, and temp files of other
    /// interrupted writes, that were removed.
    pub orphans_removed: Vec<String>,
}

/// Records appended and not yet in a seal, kept as a seal writes them: in
/// runs of up to [`segment::BUILD_ROWS`] leaves whose bytes are one buffer
/// each, so a leaf is one copy among the others (no allocation of its own
/// held until its seal) and the segment's leaf column is that buffer, not
/// another copy of it (docs/BENCHMARKS.md, session 22).
#[derive(Default)]
struct Pending {
    /// Full runs, oldest first.
    runs: Vec<segment::LeafRun>,
    /// The run being filled, after them.
    open: segment::LeafRunBuilder,
    len: usize,
}

impl Pending {
    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a leaf, its hash and its typed values (none for a leaf
    /// recovered from the WAL: the seal reads those from the leaf).
    fn push(&mut self, leaf: &[u8], hash: Hash, row: Option<&segment::TypedRow>) {
        if !self.open.has_room(leaf.len()) {
            let full = std::mem::take(&mut self.open);
            self.runs.push(full.finish());
        }
        self.open.push(leaf, hash, row);
        self.len += 1;
    }

    /// Every record, for a seal.
    fn take(&mut self) -> SealBatch {
        let mut runs = std::mem::take(&mut self.runs);
        if !self.open.is_empty() {
            runs.push(std::mem::take(&mut self.open).finish());
        }
        SealBatch {
            runs,
            len: std::mem::take(&mut self.len),
        }
    }

    /// Puts the records of a seal that failed back, in front.
    fn put_back(&mut self, earlier: SealBatch) {
        let later = std::mem::replace(&mut self.runs, earlier.runs);
        self.runs.extend(later);
        self.len += earlier.len;
    }

    /// Every leaf, in order, with its hash.
    fn leaves(&self) -> impl Iterator<Item = (&[u8], &Hash)> {
        self.runs
            .iter()
            .flat_map(|r| r.leaves())
            .chain(self.open.leaves())
    }
}

/// The records one seal writes, in order.
#[derive(Clone)]
struct SealBatch {
    runs: Vec<segment::LeafRun>,
    len: usize,
}

impl SealBatch {
    fn len(&self) -> usize {
        self.len
    }

    /// Every leaf hash, in order.
    fn hashes(&self) -> impl Iterator<Item = &Hash> {
        self.runs.iter().flat_map(|r| r.hashes())
    }
}

/// A record made ready for [`Appender::append_prepared`]: versioned,
/// stamped with its ingestion time, derived, validated, serialised to its
/// leaf and hashed. Preparing needs no store, so it can run on any thread
/// while the one writer appends what was prepared before.
pub struct Prepared {
    leaf: Vec<u8>,
    hash: Hash,
    key: Option<([u8; 16], [u8; 8])>,
    row: segment::TypedRow,
}

impl Prepared {
    /// Prepares `record`; fails as [`Appender::append`] would.
    pub fn new(record: Record) -> Result<Prepared> {
        match Validated::new(Box::new(record)) {
            Ok(v) => Ok(v.prepare()),
            Err((_, e)) => Err(e.into()),
        }
    }
}

/// A record versioned, derived and validated: the one way to a
/// [`Prepared`], so that a caller with checks of its own to make in
/// between (ingest's plausible times) derives and validates once, not
/// twice.
pub struct Validated(Box<Record>);

impl Validated {
    /// Versions, derives and validates `record`; on failure gives it back
    /// (a quarantine leaf keeps its raw bytes) with the reason.
    pub fn new(
        mut record: Box<Record>,
    ) -> std::result::Result<Validated, (Box<Record>, ModelError)> {
        record.v = LEAF_VERSION;
        record.derive();
        match record.validate() {
            Ok(()) => Ok(Validated(record)),
            Err(e) => Err((record, e)),
        }
    }

    /// The record.
    pub fn record(&self) -> &Record {
        &self.0
    }

    /// The record, given up.
    pub fn into_record(self) -> Box<Record> {
        self.0
    }

    /// Stamps the record with its ingestion time (unless it has one; a
    /// time now is always valid), serialises it to its leaf, hashes it,
    /// keeps its identity and typed values.
    pub fn prepare(self) -> Prepared {
        let mut record = self.0;
        if record.ingested_at.is_none() {
            record.ingested_at = Some(Ts::now());
        }
        let leaf = record.to_leaf();
        let key = match (&record.source, &record.source_event_id) {
            (Some(s), Some(id)) => Some((dedupe_key(s, id), content_digest(&leaf))),
            _ => None,
        };
        let hash = leaf_hash(&leaf);
        let row = segment::TypedRow::of(&record);
        Prepared {
            leaf,
            hash,
            key,
            row,
        }
    }
}

/// The single writer of a store.
pub struct Appender {
    layout: Layout,
    _lock: File,
    signer: Arc<Signer>,
    manifest: Manifest,
    frontier: Frontier,
    chain: Hash,
    wal: Wal,
    /// Records appended since the last seal began, after those in `sealing`.
    pending: Pending,
    /// A seal running on its own thread ([`Appender::seal_in_background`]).
    sealing: Option<InFlight>,
    /// How many records at the start of the WAL are sealed already, and
    /// their bytes there: the WAL is rewritten without them only when they
    /// outnumber the rest and fill [`WAL_REWRITE_AT`], so a seal that
    /// finishes while appends go on costs no rewrite of those.
    wal_sealed: usize,
    wal_sealed_bytes: u64,
    dedupe: Identities,
    merge: MergePolicy,
    durability: Durability,
    /// What was repaired when the store was opened.
    pub recovery: Recovery,
}

/// A seal on its own thread and the records it seals.
struct InFlight {
    batch: Arc<SealBatch>,
    handle: JoinHandle<Result<SealDone>>,
    started: Instant,
}

/// Everything one seal needs, taken from the appender so that it can run on
/// another thread while appends go on.
struct SealWork {
    layout: Layout,
    signer: Arc<Signer>,
    manifest: Manifest,
    frontier: Frontier,
    chain: Hash,
    batch: Arc<SealBatch>,
    merge: MergePolicy,
}

/// What a finished seal hands back to the appender.
struct SealDone {
    manifest: Manifest,
    frontier: Frontier,
    chain: Hash,
    cp: Checkpoint,
}

/// A seal that finished: its checkpoint and how long it took.
#[derive(Clone, Debug)]
pub struct SealReport {
    /// The new checkpoint.
    pub checkpoint: Checkpoint,
    /// Time from the seal's start to its commit point.
    pub took: Duration,
}

/// When a seal folds the small segments at the end of the log into its own
/// file (FORMAT.md §8.1). Each seal writes one segment, so a quiet server
/// sealing every few minutes would otherwise add ~100,000 small files a
/// year for every reader to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergePolicy {
    /// A segment of fewer leaves than this is small.
    pub small_below: u64,
    /// A seal merges once this many small segments end the log (0: never).
    pub at: usize,
}

/// When an appended record becomes durable, and so may be acknowledged
/// (FORMAT.md §9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Every append is written to the WAL, and [`Appender::commit`] fsyncs
    /// it: for callers that acknowledge records one request at a time (the
    /// server, accountings, administration).
    #[default]
    Commit,
    /// Appends stay in memory until a seal writes them, and
    /// [`Appender::commit`] seals: for a batch whose input is kept and is
    /// acknowledged once, at its end (`sealtrail ingest` of files). A crash
    /// loses only records nobody was told of, and running the same ingest
    /// again appends exactly those (the rest are duplicates). Writing every
    /// leaf to the WAL as well doubled the bytes such a batch writes
    /// (docs/BENCHMARKS.md, session 16).
    Seal,
}

impl Default for MergePolicy {
    /// Small below 250,000 leaves (~40 MB), merged 16 or more at a time.
    fn default() -> MergePolicy {
        MergePolicy {
            small_below: 250_000,
            at: 16,
        }
    }
}

impl MergePolicy {
    /// How many of `segments`' last entries a seal merges: the small ones
    /// ending the log, once there are `at` or more of them, taken from the
    /// end while together they hold at most `2 × small_below` leaves, so
    /// one merge re-encodes a bounded number of rows even after a long
    /// burst of small seals (older ones then stay as they are).
    fn tail(&self, segments: &[SegmentEntry]) -> usize {
        let (mut n, mut rows) = (0, 0);
        for s in segments.iter().rev() {
            let len = s.last - s.first + 1;
            if len >= self.small_below || rows + len > 2 * self.small_below {
                break;
            }
            rows += len;
            n += 1;
        }
        if self.at > 0 && n >= self.at { n } else { 0 }
    }
}

impl Appender {
    /// Opens the store at `dir`, creating it when the directory is absent or
    /// empty. `key_path` is where the signer was loaded from, checked to lie
    /// outside the store.
    pub fn open_or_create(dir: &Path, signer: Signer, key_path: Option<&Path>) -> Result<Appender> {
        let layout = Layout::new(dir);
        if let Some(k) = key_path
            && layout.contains(k)
        {
            return Err(StoreError::KeyInStore(k.to_path_buf()));
        }
        if !layout.marker().exists() {
            let empty = match fs::read_dir(dir) {
                Ok(mut it) => it.next().is_none(),
                Err(_) => true,
            };
            if !empty {
                return Err(StoreError::NotAStore(dir.to_path_buf()));
            }
            create(&layout, &signer)?;
        }
        Appender::open(dir, signer)
    }

    /// Opens an existing store for writing, recovering from an interrupted
    /// run: orphan segments of an unfinished seal are removed, the WAL's torn
    /// tail is cut, and acknowledged but unsealed records become pending.
    pub fn open(dir: &Path, signer: Signer) -> Result<Appender> {
        let layout = Layout::new(dir);
        let info = read_marker(&layout)?;
        if signer.name() != info.origin {
            return Err(StoreError::WrongKey {
                key: signer.name().to_string(),
                store: info.origin,
            });
        }
        let lock_path = layout.lock();
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(StoreError::Locked(lock_path)),
            Err(fs::TryLockError::Error(e)) => {
                return Err(StoreError::Io {
                    path: lock_path,
                    source: e,
                });
            }
        }
        let reader = Reader::open(dir)?;
        let verifier = signer.verifier();
        let cp_note = reader.checkpoint_note()?;
        let cp = Checkpoint::open(&cp_note, std::slice::from_ref(&verifier)).map_err(|source| {
            StoreError::Note {
                path: layout.checkpoint(),
                source,
            }
        })?;
        let manifest = reader.manifest(cp.size, &[verifier])?;
        let mut recovery = Recovery::default();

        // A write cut short before its rename leaves a temp file beside its
        // target, in any of these directories.
        for dir in [
            layout.root().to_path_buf(),
            layout.segments_dir(),
            layout.checkpoints_dir(),
            layout.manifests_dir(),
            layout.wal_dir(),
            layout.keys_dir(),
        ] {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if name.ends_with(Layout::tmp_suffix()) {
                    fs::remove_file(entry.path()).map_err(io_err(&entry.path()))?;
                    recovery.orphans_removed.push(name);
                }
            }
        }
        // An interrupted seal leaves a segment file the manifest does not
        // list, holding leaves past the checkpoint (they are in the WAL); an
        // interrupted merge leaves the files it replaced, whose leaves a
        // listed file holds (FORMAT.md §8.1). Any other unlisted file stays
        // for `verify` to report.
        let listed: HashSet<&str> = manifest.segments.iter().map(|s| s.name.as_str()).collect();
        let held = |first: u64, last: u64| {
            manifest
                .segments
                .iter()
                .any(|s| s.first <= first && last <= s.last)
        };
        for entry in fs::read_dir(layout.segments_dir()).map_err(io_err(&layout.segments_dir()))? {
            let entry = entry.map_err(io_err(&layout.segments_dir()))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if layout::parse_segment_name(&name).is_some_and(|(first, last)| {
                !listed.contains(name.as_str()) && (last >= cp.size || held(first, last))
            }) {
                fs::remove_file(entry.path()).map_err(io_err(&entry.path()))?;
                recovery.orphans_removed.push(name);
            }
        }

        let leaves = reader.leaf_hashes_checked(&cp)?;
        // cut the derived indexes back to the checkpoint (a crash may have
        // left hashes of discarded leaves), then complete the tree index
        let lh = layout.leaf_hashes();
        if fs::metadata(&lh).is_ok_and(|m| m.len() > cp.size * 32) {
            OpenOptions::new()
                .write(true)
                .open(&lh)
                .and_then(|f| f.set_len(cp.size * 32))
                .map_err(io_err(&lh))?;
        }
        tree_index::truncate(&layout, cp.size)
            .and_then(|_| tree_index::extend(&layout, cp.size))
            .map_err(io_err(&layout.index_dir()))?;
        let mut nodes = tree_index::TreeIndex::open(&layout);
        if merkle::subtree_root(&mut nodes, 0, cp.size) != Some(cp.root) {
            // built from hashes that were since rebuilt: start it again
            tree_index::truncate(&layout, 0)
                .and_then(|_| tree_index::extend(&layout, cp.size))
                .map_err(io_err(&layout.index_dir()))?;
        }
        let mut frontier = Frontier::new();
        for h in &leaves {
            frontier.push(*h);
        }
        let chain = manifest
            .segments
            .last()
            .map(|s| s.chain)
            .unwrap_or([0u8; 32]);

        let mut dedupe = reader.dedupe_index(&manifest)?;

        // Replay the WAL.
        let wal_path = layout.wal();
        let (wal, rec) = if wal_path.exists() {
            Wal::recover(&wal_path).map_err(io_err(&wal_path))?
        } else {
            (
                Wal::create(&wal_path, cp.size).map_err(io_err(&wal_path))?,
                wal::Recovered {
                    base: cp.size,
                    records: vec![],
                    torn_bytes: 0,
                },
            )
        };
        recovery.torn_bytes = rec.torn_bytes;
        if rec.base > cp.size {
            return Err(StoreError::Corrupt {
                path: wal_path,
                what: format!(
                    "WAL starts at leaf {} but the checkpoint has only {} leaves",
                    rec.base, cp.size
                ),
            });
        }
        let already = (cp.size - rec.base) as usize;
        let mut pending = Pending::default();
        for (i, (leaf, hash)) in rec.records.into_iter().enumerate() {
            if i < already {
                // sealed before the crash; it must be the same leaf
                if leaves.get(rec.base as usize + i) != Some(&hash) {
                    return Err(StoreError::Corrupt {
                        path: wal_path,
                        what: format!(
                            "WAL record {i} differs from sealed leaf {}",
                            rec.base as usize + i
                        ),
                    });
                }
                continue;
            }
            let record = Record::from_leaf(&leaf).map_err(|e| StoreError::Corrupt {
                path: wal_path.clone(),
                what: format!("WAL record {i}: {e}"),
            })?;
            if let (Some(s), Some(id)) = (&record.source, &record.source_event_id) {
                dedupe.insert(dedupe_key(s, id), content_digest(&leaf));
            }
            pending.push(&leaf, hash, None);
        }
        recovery.replayed = pending.len() as u64;
        let mut app = Appender {
            layout,
            _lock: lock,
            signer: Arc::new(signer),
            manifest,
            frontier,
            chain,
            wal,
            pending,
            sealing: None,
            wal_sealed: 0,
            wal_sealed_bytes: 0,
            dedupe,
            merge: MergePolicy::default(),
            durability: Durability::default(),
            recovery,
        };
        if already > 0 {
            // The WAL still holds sealed records: start it afresh from the
            // pending ones so it never grows without bound.
            app.rewrite_wal()?;
        }
        Ok(app)
    }

    /// Starts the WAL afresh at the sealed size with the pending records
    /// (never while a seal is in flight: its records are in the WAL only).
    /// Under [`Durability::Seal`] no pending record is in the WAL, and none
    /// is written to it.
    fn rewrite_wal(&mut self) -> Result<()> {
        debug_assert!(self.sealing.is_none());
        let path = self.layout.wal();
        let records: Vec<(&[u8], &Hash)> = match self.durability {
            Durability::Commit => self.pending.leaves().collect(),
            Durability::Seal => Vec::new(),
        };
        let fresh =
            Wal::create_with(&path, self.frontier.size(), &records).map_err(io_err(&path))?;
        // the replaced file (renamed over, so unlinked) is closed elsewhere:
        // its last close frees its cached pages, milliseconds per seal that
        // every request would wait for (docs/BENCHMARKS.md, session 18)
        free_elsewhere(std::mem::replace(&mut self.wal, fresh));
        self.wal_sealed = 0;
        self.wal_sealed_bytes = 0;
        Ok(())
    }

    /// Validates `record`, skips it if its source event id was seen before,
    /// and appends it to the WAL. Not durable until [`Appender::commit`].
    pub fn append(&mut self, record: Record) -> Result<Appended> {
        self.append_prepared(Prepared::new(record)?)
    }

    /// Appends a record prepared beforehand (possibly on another thread):
    /// skips it if its source event id was seen before, else writes it to
    /// the WAL (under [`Durability::Seal`], only keeps it for the next
    /// seal). Not durable until [`Appender::commit`].
    pub fn append_prepared(&mut self, prepared: Prepared) -> Result<Appended> {
        let Prepared {
            leaf,
            hash,
            key,
            row,
        } = prepared;
        let mut collided = false;
        if let Some((k, c)) = key {
            match self.dedupe.insert(k, c) {
                None => return Ok(Appended::Duplicate),
                Some(x) => collided = x,
            }
        }
        if self.durability == Durability::Commit
            && let Err(e) = self.wal.append(&leaf, &hash)
        {
            if let Some((k, c)) = key {
                self.dedupe.remove(k, c, collided);
            }
            // (the path only when it is needed: building it cost more than
            // the append, docs/BENCHMARKS.md session 15)
            return Err(StoreError::Io {
                path: self.layout.wal(),
                source: e,
            });
        }
        let idx = self.frontier.size() + self.pending() as u64;
        self.pending.push(&leaf, hash, Some(&row));
        Ok(if collided {
            Appended::Collision(idx)
        } else {
            Appended::New(idx)
        })
    }

    /// Makes every appended record durable: an fsync of the WAL, or under
    /// [`Durability::Seal`] a seal of every pending record. Only after this
    /// returns may a record be acknowledged.
    pub fn commit(&mut self) -> Result<()> {
        match self.durability {
            Durability::Commit => self.sync_wal(),
            Durability::Seal => self.seal().map(drop),
        }
    }

    /// [`Appender::commit`] with the fsync made by the caller, elsewhere:
    /// under [`Durability::Commit`], writes the WAL's buffered records to its
    /// file and returns the fsync ([`WalSync::sync`]) after which every
    /// record appended so far is durable. (So a writer thread goes on
    /// appending while the disk syncs.) `None` when they are durable already
    /// (under [`Durability::Seal`], this seals them).
    pub fn commit_elsewhere(&mut self) -> Result<Option<WalSync>> {
        match self.durability {
            Durability::Commit => {
                let path = self.layout.wal();
                self.wal.write_for_sync().map(Some).map_err(io_err(&path))
            }
            Durability::Seal => self.seal().map(|_| None),
        }
    }

    fn sync_wal(&mut self) -> Result<()> {
        let path = self.layout.wal();
        self.wal.sync().map_err(io_err(&path))
    }

    /// Sets when appended records become durable. Every record appended
    /// before is durable when this returns, whichever way it was appended:
    /// to [`Durability::Seal`], they are sealed first (so that the WAL holds
    /// only what was appended under `Commit`); to `Commit`, the WAL is
    /// written afresh with every pending record.
    pub fn set_durability(&mut self, durability: Durability) -> Result<()> {
        if durability == self.durability {
            return Ok(());
        }
        match durability {
            Durability::Seal => {
                self.seal()?;
                self.durability = durability;
            }
            Durability::Commit => {
                self.finish_seal()?;
                self.durability = durability;
                self.rewrite_wal()?;
            }
        }
        Ok(())
    }

    /// Sets when seals merge the small segments ending the log.
    pub fn set_merge_policy(&mut self, merge: MergePolicy) {
        self.merge = merge;
    }

    /// Records appended but not yet sealed (a seal in flight included).
    pub fn pending(&self) -> usize {
        self.sealing.as_ref().map_or(0, |f| f.batch.len()) + self.pending.len()
    }

    /// Appended (durable) records not yet taken by a seal.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// Whether a seal is running on its own thread.
    pub fn sealing(&self) -> bool {
        self.sealing.is_some()
    }

    /// Sealed tree size.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Whether a record with this identity is already in the store.
    pub fn contains(&self, source: &str, source_event_id: &str) -> bool {
        self.dedupe
            .first
            .contains_key(&dedupe_key(source, source_event_id))
    }

    /// Seals every pending record: writes one segment, then the manifest,
    /// the kept checkpoint and finally `checkpoint` (the commit point), each
    /// by temp file, fsync, rename and directory fsync. A seal in flight is
    /// finished first. Returns the new checkpoint, or `None` when nothing was
    /// pending.
    pub fn seal(&mut self) -> Result<Option<Checkpoint>> {
        let earlier = self.finish_seal()?;
        let Some(work) = self.take_work(self.merge)? else {
            return Ok(earlier.map(|r| r.checkpoint));
        };
        let batch = Arc::clone(&work.batch);
        let outcome = work.run();
        self.complete(batch, outcome).map(Some)
    }

    /// Starts sealing every pending record on a thread of its own and
    /// returns at once; appends and commits go on meanwhile. One seal runs
    /// at a time: returns `false` (and starts nothing) while one is in
    /// flight or nothing is pending. [`Appender::poll_seal`] or
    /// [`Appender::finish_seal`] take its outcome.
    pub fn seal_in_background(&mut self) -> Result<bool> {
        self.seal_in_background_with(self.merge)
    }

    /// [`Appender::seal_in_background`] with this seal's own merge policy
    /// (the server merges only in a lull).
    pub fn seal_in_background_with(&mut self, merge: MergePolicy) -> Result<bool> {
        if self.sealing.is_some() {
            return Ok(false);
        }
        let Some(work) = self.take_work(merge)? else {
            return Ok(false);
        };
        let batch = Arc::clone(&work.batch);
        match std::thread::Builder::new()
            .name("sealtrail-seal".into())
            .spawn(move || work.run())
        {
            Ok(handle) => {
                self.sealing = Some(InFlight {
                    batch,
                    handle,
                    started: Instant::now(),
                });
                Ok(true)
            }
            Err(e) => {
                let path = self.layout.segments_dir();
                self.complete(batch, Err(StoreError::Io { path, source: e }))
                    .map(|_| false)
            }
        }
    }

    /// Takes the outcome of the seal in flight if it has finished, without
    /// waiting.
    pub fn poll_seal(&mut self) -> Result<Option<SealReport>> {
        match &self.sealing {
            Some(f) if f.handle.is_finished() => self.finish_seal(),
            _ => Ok(None),
        }
    }

    /// Waits for the seal in flight, if any, and takes its outcome. If it
    /// failed, its records are pending again (ahead of newer ones) and the
    /// error is returned; they are still in the WAL either way.
    pub fn finish_seal(&mut self) -> Result<Option<SealReport>> {
        let Some(f) = self.sealing.take() else {
            return Ok(None);
        };
        let outcome = f.handle.join().unwrap_or_else(|_| {
            Err(StoreError::Corrupt {
                path: self.layout.segments_dir(),
                what: "the sealing thread panicked; the records stay in the WAL".into(),
            })
        });
        let checkpoint = self.complete(f.batch, outcome)?;
        Ok(Some(SealReport {
            checkpoint,
            took: f.started.elapsed(),
        }))
    }

    /// Moves every pending record into the work of one seal (after making
    /// them durable).
    fn take_work(&mut self, merge: MergePolicy) -> Result<Option<SealWork>> {
        debug_assert!(self.sealing.is_none());
        if self.pending.is_empty() {
            return Ok(None);
        }
        self.sync_wal()?;
        Ok(Some(SealWork {
            layout: self.layout.clone(),
            signer: Arc::clone(&self.signer),
            manifest: self.manifest.clone(),
            frontier: self.frontier.clone(),
            chain: self.chain,
            batch: Arc::new(self.pending.take()),
            merge,
        }))
    }

    /// Applies a seal's outcome: the new tree on success (and a WAL rewrite
    /// once its sealed records outnumber the pending ones); the records back
    /// in front of the pending ones on failure.
    fn complete(&mut self, batch: Arc<SealBatch>, outcome: Result<SealDone>) -> Result<Checkpoint> {
        match outcome {
            Ok(done) => {
                self.manifest = done.manifest;
                self.frontier = done.frontier;
                self.chain = done.chain;
                self.wal_sealed += batch.len();
                self.wal_sealed_bytes += batch
                    .runs
                    .iter()
                    .flat_map(|r| r.leaves())
                    .map(|(leaf, _)| wal::record_len(leaf))
                    .sum::<u64>();
                // (under `Seal` the WAL holds none of them: no bytes to wait for)
                if self.wal_sealed >= self.pending.len()
                    && (self.durability == Durability::Seal
                        || self.wal_sealed_bytes >= WAL_REWRITE_AT)
                {
                    self.rewrite_wal()?;
                }
                // a seal's records (every leaf and typed row) are freed
                // elsewhere too, not on the writer's path
                free_elsewhere(batch);
                Ok(done.cp)
            }
            Err(e) => {
                let back = Arc::try_unwrap(batch).unwrap_or_else(|shared| (*shared).clone());
                self.pending.put_back(back);
                Err(e)
            }
        }
    }

    /// Rotates the signing key. The new verifier key is recorded as a signed
    /// `admin` leaf (`action = key_rotation`, `detail` = the new key in
    /// verifier form), sealed under the old key; that checkpoint and its
    /// manifest are then co-signed by both keys, and later ones by the new key
    /// alone. An auditor holding only the old key learns the new one from the
    /// log itself, and checkpoints signed by the old key stay verifiable.
    pub fn rotate_key(&mut self, new: Signer, user: Option<&str>) -> Result<Checkpoint> {
        if new.name() != self.signer.name() {
            return Err(StoreError::WrongKey {
                key: new.name().to_string(),
                store: self.signer.name().to_string(),
            });
        }
        let vkey = new.verifier().to_vkey_string();
        let mut r = Record::new(sealtrail_format::model::Kind::Admin, Ts::now(), "sealtrail");
        r.action = Some("key_rotation".into());
        r.user = user.map(str::to_string);
        // the rotation proves itself: a signed note by the old key over the
        // new one (FORMAT.md §5.4), so no leaf can introduce a key on its own
        r.detail = Some(
            self.signer
                .sign_note(&format!("{ROTATION_NOTE}\n{vkey}\n"))
                .map_err(|source| StoreError::Note {
                    path: self.layout.keys_dir(),
                    source,
                })?,
        );
        r.source_event_id = Some(format!("key_rotation:{vkey}"));
        self.append(r)?;
        self.commit()?;
        self.seal()?;
        let cp = self.checkpoint();
        write_signed_by(
            &self.layout,
            &[self.signer.as_ref(), &new],
            &self.manifest,
            &cp,
        )?;
        let v = new.verifier();
        atomic_write(
            &self
                .layout
                .keys_dir()
                .join(format!("{}.vkey", hex::encode(v.id()))),
            format!("{vkey}\n").as_bytes(),
        )?;
        atomic_write(
            &self.layout.marker(),
            format!("{STORE_VERSION}\norigin {}\nvkey {vkey}\n", new.name()).as_bytes(),
        )?;
        self.signer = Arc::new(new);
        Ok(cp)
    }

    /// The latest signed checkpoint.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            origin: self.signer.name().to_string(),
            size: self.frontier.size(),
            root: self.frontier.root(),
        }
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        self.layout.root()
    }
}

impl Drop for Appender {
    /// A seal in flight is let finish (its records are in the WAL either
    /// way, and the next open recovers from whatever it reached).
    fn drop(&mut self) {
        if let Some(f) = self.sealing.take() {
            let _ = f.handle.join();
        }
    }
}

impl SealWork {
    /// Writes the segment, extends the leaf-hash and tree indexes, and
    /// commits the signed manifest and checkpoint. Touches no state of the
    /// appender, so it may run beside appends.
    fn run(&self) -> Result<SealDone> {
        let batch = &*self.batch;
        let first = self.frontier.size();
        let last = first + batch.len() as u64 - 1;
        let mut chain = self.chain;
        let mut chains = Vec::with_capacity(batch.len());
        for h in batch.hashes() {
            chain = chain_hash(&chain, h);
            chains.push(chain);
        }
        // The small segments ending the log, if it is time to merge them:
        // their rows go first in this seal's file, which replaces them.
        let (merged, earlier) = self.merge_sources();
        let file_first = merged.first().map_or(first, |e| e.first);
        let name = Layout::segment_name(file_first, last);
        let path = self.layout.segment(&name);
        let tmp = self
            .layout
            .segment(&format!("{name}{}", Layout::tmp_suffix()));
        // The Merkle nodes need only the leaf hashes, so they are hashed
        // beside the writing (which builds rows and hashes the file's bytes
        // on threads of its own).
        let ((frontier, closed), sha256) = std::thread::scope(|s| {
            let merkle = s.spawn(|| {
                let mut frontier = self.frontier.clone();
                let mut closed: Vec<Vec<Hash>> = Vec::new();
                for h in batch.hashes() {
                    frontier.push_reporting(*h, |level, node| {
                        let l = level as usize;
                        if closed.len() < l {
                            closed.resize_with(l, Vec::new);
                        }
                        closed[l - 1].push(node);
                    });
                }
                (frontier, closed)
            });
            let written = segment::write_leaves(
                &tmp,
                file_first,
                earlier.into_iter().flatten(),
                first,
                &batch.runs,
                &chains,
            )
            .map_err(|source| StoreError::Parquet {
                path: tmp.clone(),
                source,
            });
            let nodes = merkle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            written.map(|sha256| (nodes, sha256))
        })?;
        drop(chains);
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        fsync_dir(&self.layout.segments_dir()).map_err(io_err(&self.layout.segments_dir()))?;

        // The leaf-hash index is a cache; it is cut back to the checkpoint on
        // open, so appending before the commit point is safe.
        let idx_path = self.layout.leaf_hashes();
        {
            let mut f = OpenOptions::new()
                .append(true)
                .create(true)
                .open(&idx_path)
                .map_err(io_err(&idx_path))?;
            let mut buf = Vec::with_capacity(batch.len() * 32);
            for h in batch.hashes() {
                buf.extend_from_slice(h);
            }
            f.write_all(&buf).map_err(io_err(&idx_path))?;
            f.sync_data().map_err(io_err(&idx_path))?;
        }
        // the interior nodes too, before the checkpoint that readers trust;
        // the frontier that yields the signed root closed them, so each is
        // hashed once, in memory (never read back from the cache files)
        tree_index::append(&self.layout, first, frontier.size(), &closed)
            .map_err(io_err(&self.layout.index_dir()))?;

        let cp = Checkpoint {
            origin: self.signer.name().to_string(),
            size: frontier.size(),
            root: frontier.root(),
        };
        let mut manifest = self.manifest.clone();
        manifest.size = cp.size;
        manifest.root = cp.root;
        manifest.sealed_at = Ts::now();
        manifest
            .segments
            .truncate(self.manifest.segments.len() - merged.len());
        manifest.segments.push(SegmentEntry {
            name,
            first: file_first,
            last,
            sha256,
            chain,
        });
        write_signed_by(&self.layout, &[self.signer.as_ref()], &manifest, &cp)?;
        prune_manifests(&self.layout, self.manifest.size);
        remove_merged(&self.layout, merged);
        Ok(SealDone {
            manifest,
            frontier,
            chain,
            cp,
        })
    }

    /// The segments this seal merges (the policy's tail of the manifest)
    /// and their rows, read from bytes whose SHA-256 matched the signed
    /// manifest: a merge never copies bytes the signature does not cover.
    /// Nothing to merge, or any file that does not match or cannot be
    /// read, gives an ordinary seal (the file stays in place for `verify`
    /// to report).
    fn merge_sources(&self) -> (&[SegmentEntry], Vec<segment::Batches>) {
        let segments = &self.manifest.segments;
        let tail = &segments[segments.len() - self.merge.tail(segments)..];
        let mut rows = Vec::with_capacity(tail.len());
        for e in tail {
            let path = self.layout.segment(&e.name);
            let read = fs::read(&path).map_err(|e| e.to_string()).and_then(|b| {
                if <[u8; 32]>::from(Sha256::digest(&b)) != e.sha256 {
                    return Err("its SHA-256 differs from the signed manifest's".into());
                }
                segment::read_bytes(bytes::Bytes::from(b)).map_err(|e| e.to_string())
            });
            match read {
                Ok(r) => rows.push(r),
                Err(why) => {
                    tracing::error!(file = %path.display(), %why, "segment not merged; this seal writes its own file; run `sealtrail verify`");
                    return (&[], Vec::new());
                }
            }
        }
        (tail, rows)
    }
}

/// Removes the files a merge replaced, once the manifest that lists the
/// merged file is committed. A failure loses nothing: the next open of the
/// store removes unlisted files whose leaves a listed file holds.
fn remove_merged(layout: &Layout, merged: &[SegmentEntry]) {
    if merged.is_empty() {
        return;
    }
    for e in merged {
        let path = layout.segment(&e.name);
        if let Err(err) = fs::remove_file(&path) {
            tracing::warn!(file = %path.display(), error = %err, "a merged segment was not removed; the next open of the store does");
        }
    }
    let _ = fsync_dir(&layout.segments_dir());
}

/// Removes the manifests of checkpoints older than `keep_from` (after a
/// seal: the one before it), so `manifests/` holds the latest two. Each
/// manifest lists every segment, so keeping them all would grow the store
/// by the square of the number of seals (a seal a second for a day: ~750 GB);
/// the previous one stays for a reader that read `checkpoint` just before
/// this seal. Only the latest is evidence of the files (FORMAT.md §8);
/// every checkpoint stays. Runs after the commit point: a failure here
/// loses nothing and the next seal removes what is left.
fn prune_manifests(layout: &Layout, keep_from: u64) {
    let dir = layout.manifests_dir();
    let Ok(entries) = fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let older = name
            .to_str()
            .and_then(|n| n.strip_suffix(".note"))
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|size| size < keep_from);
        if older && let Err(err) = fs::remove_file(e.path()) {
            tracing::warn!(file = %e.path().display(), error = %err, "an old manifest was not removed; the next seal tries again");
        }
    }
}

/// Writes the manifest, the kept checkpoint and `checkpoint`, each a note
/// with one signature line per signer (co-signing, FORMAT.md §5.4).
fn write_signed_by(
    layout: &Layout,
    signers: &[&Signer],
    manifest: &Manifest,
    cp: &Checkpoint,
) -> Result<()> {
    let sign = |text: &str, path: &Path| -> Result<String> {
        let mut note = String::new();
        for (i, s) in signers.iter().enumerate() {
            let one = s.sign_note(text).map_err(|source| StoreError::Note {
                path: path.to_path_buf(),
                source,
            })?;
            if i == 0 {
                note = one;
            } else {
                note.push_str(&s.signature_line(text));
            }
        }
        Ok(note)
    };
    let m_path = layout.manifest(cp.size);
    atomic_write(&m_path, sign(&manifest.body(), &m_path)?.as_bytes())?;
    let note = sign(&cp.body(), &layout.checkpoint())?;
    atomic_write(&layout.checkpoint_at(cp.size), note.as_bytes())?;
    atomic_write(&layout.checkpoint(), note.as_bytes())
}

fn create(layout: &Layout, signer: &Signer) -> Result<()> {
    let root = layout.root();
    for d in [
        root.to_path_buf(),
        layout.segments_dir(),
        layout.manifests_dir(),
        layout.checkpoints_dir(),
        layout.keys_dir(),
        layout.index_dir(),
        layout.wal_dir(),
    ] {
        fs::create_dir_all(&d).map_err(io_err(&d))?;
    }
    let v = signer.verifier();
    let vkey = v.to_vkey_string();
    atomic_write(
        &layout
            .keys_dir()
            .join(format!("{}.vkey", hex::encode(v.id()))),
        format!("{vkey}\n").as_bytes(),
    )?;
    let cp = Checkpoint {
        origin: signer.name().to_string(),
        size: 0,
        root: merkle::empty_root(),
    };
    let manifest = Manifest {
        origin: cp.origin.clone(),
        size: 0,
        root: cp.root,
        sealed_at: Ts::now(),
        segments: vec![],
    };
    let m_note = signer
        .sign_note(&manifest.body())
        .map_err(|source| StoreError::Note {
            path: layout.manifest(0),
            source,
        })?;
    atomic_write(&layout.manifest(0), m_note.as_bytes())?;
    let note = signer
        .sign_note(&cp.body())
        .map_err(|source| StoreError::Note {
            path: layout.checkpoint(),
            source,
        })?;
    atomic_write(&layout.checkpoint_at(0), note.as_bytes())?;
    atomic_write(&layout.checkpoint(), note.as_bytes())?;
    Wal::create(&layout.wal(), 0).map_err(io_err(&layout.wal()))?;
    // The marker goes last: a directory with a marker is a complete store.
    atomic_write(
        &layout.marker(),
        format!("{STORE_VERSION}\norigin {}\nvkey {vkey}\n", signer.name()).as_bytes(),
    )
}

/// Read-only access to a store: no secrets, no lock.
#[derive(Clone, Debug)]
pub struct Reader {
    layout: Layout,
    info: StoreInfo,
}

impl Reader {
    /// Opens the store at `dir` for reading.
    pub fn open(dir: &Path) -> Result<Reader> {
        let layout = Layout::new(dir);
        let info = read_marker(&layout)?;
        Ok(Reader { layout, info })
    }

    /// The paths of this store.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Origin and creation key from the marker file (informative only:
    /// verification uses the key the auditor supplies).
    pub fn info(&self) -> &StoreInfo {
        &self.info
    }

    /// The latest signed checkpoint note, verbatim.
    pub fn checkpoint_note(&self) -> Result<String> {
        read_string(&self.layout.checkpoint())
    }

    /// Verifies and parses the latest checkpoint.
    pub fn checkpoint(&self, keys: &[Verifier]) -> Result<Checkpoint> {
        Checkpoint::open(&self.checkpoint_note()?, keys).map_err(|source| StoreError::Note {
            path: self.layout.checkpoint(),
            source,
        })
    }

    /// Verifies and parses the manifest for tree size `size`.
    pub fn manifest(&self, size: u64, keys: &[Verifier]) -> Result<Manifest> {
        let path = self.layout.manifest(size);
        let note = read_string(&path)?;
        let text = sealtrail_format::tlog::note::open_note(&note, keys).map_err(|source| {
            StoreError::Note {
                path: path.clone(),
                source,
            }
        })?;
        Manifest::parse_body(&text).map_err(|source| StoreError::Note { path, source })
    }

    /// Proofs against the checkpoint `cp` (any kept size up to the latest):
    /// from the on-disk tree index when it reproduces the signed root, in
    /// O(log n) reads each, otherwise from an in-memory tree rebuilt from the
    /// verified leaf hashes (O(n), once).
    pub fn proofs(&self, cp: &Checkpoint) -> Result<Proofs> {
        let mut index = tree_index::TreeIndex::open(&self.layout);
        let source = if merkle::subtree_root(&mut index, 0, cp.size) == Some(cp.root) {
            ProofNodes::Index(index)
        } else {
            self.nodes_in_memory(cp)?
        };
        Ok(Proofs {
            reader: self.clone(),
            cp: cp.clone(),
            source,
        })
    }

    fn nodes_in_memory(&self, cp: &Checkpoint) -> Result<ProofNodes> {
        Ok(ProofNodes::Memory(merkle::complete_levels(
            self.leaf_hashes_checked(cp)?,
        )))
    }

    /// The size on the latest checkpoint's second line, unverified (only
    /// used to decide whether the leaf-hash cache may be rewritten).
    fn checkpoint_unverified_size(&self) -> Option<u64> {
        self.checkpoint_note().ok()?.lines().nth(1)?.parse().ok()
    }

    /// Leaf hashes `[0, cp.size)`, from the index cache when it matches the
    /// checkpoint's root, otherwise rebuilt from the segments (and the cache
    /// rewritten when the directory is writable).
    pub fn leaf_hashes_checked(&self, cp: &Checkpoint) -> Result<Vec<Hash>> {
        let path = self.layout.leaf_hashes();
        let want = cp.size as usize * 32;
        if let Ok(bytes) = fs::read(&path)
            && bytes.len() >= want
        {
            let leaves: Vec<Hash> = bytes[..want]
                .chunks_exact(32)
                .map(|c| c.try_into().unwrap_or_default())
                .collect();
            // (hashes past the checkpoint belong to a seal in progress, or
            // to one a crash interrupted: the writer cuts them on open)
            if merkle::root(&leaves) == cp.root {
                return Ok(leaves);
            }
        }
        let leaves = self.leaf_hashes_from_segments(cp.size)?;
        if merkle::root(&leaves) != cp.root {
            return Err(StoreError::Corrupt {
                path: self.layout.segments_dir(),
                what: format!(
                    "segments do not reproduce the checkpoint root at size {}",
                    cp.size
                ),
            });
        }
        // rewrite the cache only from the latest checkpoint: an older one
        // would cut it short
        if self.checkpoint_unverified_size() <= Some(cp.size) {
            let bytes: Vec<u8> = leaves.iter().flatten().copied().collect();
            let _ = atomic_write(&path, &bytes);
        }
        Ok(leaves)
    }

    /// Reads `leaf_hash` of leaves `[0, size)` from the segment files.
    pub fn leaf_hashes_from_segments(&self, size: u64) -> Result<Vec<Hash>> {
        let mut out: Vec<Hash> = Vec::with_capacity(size as usize);
        for (name, first, _) in self.segment_files()? {
            if first >= size {
                break;
            }
            let path = self.layout.segment(&name);
            let batches = segment::read_columns(&path, &["leaf_hash"]).map_err(|source| {
                StoreError::Parquet {
                    path: path.clone(),
                    source,
                }
            })?;
            for b in batches {
                let b = b?;
                let col = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<arrow::array::FixedSizeBinaryArray>()
                    .ok_or_else(|| StoreError::Corrupt {
                        path: path.clone(),
                        what: "leaf_hash column type".into(),
                    })?;
                for v in col.iter().flatten() {
                    if out.len() as u64 == size {
                        break;
                    }
                    out.push(v.try_into().unwrap_or_default());
                }
            }
        }
        if out.len() as u64 != size {
            return Err(StoreError::Corrupt {
                path: self.layout.segments_dir(),
                what: format!(
                    "segments hold {} leaves, the checkpoint says {size}",
                    out.len()
                ),
            });
        }
        Ok(out)
    }

    /// Segment files on disk, sorted by first index: `(name, first, last)`.
    pub fn segment_files(&self) -> Result<Vec<(String, u64, u64)>> {
        let dir = self.layout.segments_dir();
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let e = e.map_err(io_err(&dir))?;
            let name = e.file_name().to_string_lossy().to_string();
            if let Some((a, b)) = layout::parse_segment_name(&name) {
                out.push((name, a, b));
            }
        }
        out.sort_by_key(|(_, a, b)| (*a, *b));
        Ok(out)
    }

    /// Identities of every sealed record of the manifest's segments.
    fn dedupe_index(&self, manifest: &Manifest) -> Result<Identities> {
        let mut set = Identities::default();
        for seg in &manifest.segments {
            let path = self.layout.segment(&seg.name);
            let batches = segment::read_columns(&path, &["source", "source_event_id", "leaf"])
                .map_err(|source| StoreError::Parquet {
                    path: path.clone(),
                    source,
                })?;
            for b in batches {
                let b = b?;
                let s = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<arrow::array::StringArray>();
                let id = b
                    .column(1)
                    .as_any()
                    .downcast_ref::<arrow::array::StringArray>();
                let leaf = b
                    .column(2)
                    .as_any()
                    .downcast_ref::<arrow::array::BinaryArray>();
                let (Some(s), Some(id), Some(leaf)) = (s, id, leaf) else {
                    return Err(StoreError::Corrupt {
                        path,
                        what: "source columns have the wrong type".into(),
                    });
                };
                for i in 0..b.num_rows() {
                    if s.is_valid(i) && id.is_valid(i) {
                        set.insert(
                            dedupe_key(s.value(i), id.value(i)),
                            content_digest(leaf.value(i)),
                        );
                    }
                }
            }
        }
        Ok(set)
    }

    /// Calls `each` with every leaf the latest signed checkpoint covers
    /// (`idx < size`), segment by segment, reading only the files its signed
    /// manifest lists after checking each one's SHA-256 against it. Returns
    /// the checkpoint's size.
    pub fn for_each_leaf<E: From<StoreError>>(
        &self,
        keys: &[Verifier],
        mut each: impl FnMut(u64, &[u8]) -> std::result::Result<(), E>,
    ) -> std::result::Result<u64, E> {
        let cp = self.checkpoint(keys)?;
        let manifest = self.manifest(cp.size, keys)?;
        for seg in &manifest.segments {
            let path = self.layout.segment(&seg.name);
            if sha256_file(&path)? != seg.sha256 {
                return Err(StoreError::Corrupt {
                    path,
                    what: "the file differs from the signed manifest".into(),
                }
                .into());
            }
            let batches = segment::read_columns(&path, &["idx", "leaf"]).map_err(|source| {
                StoreError::Parquet {
                    path: path.clone(),
                    source,
                }
            })?;
            for batch in batches {
                let batch = batch.map_err(StoreError::from)?;
                let column = |i: usize, name: &str| StoreError::Corrupt {
                    path: path.clone(),
                    what: format!("column {i} is not the `{name}` column"),
                };
                let idx = batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<arrow::array::UInt64Array>()
                    .ok_or_else(|| column(0, "idx"))?;
                let leaf = batch
                    .column(1)
                    .as_any()
                    .downcast_ref::<arrow::array::BinaryArray>()
                    .ok_or_else(|| column(1, "leaf"))?;
                for i in 0..batch.num_rows() {
                    if idx.value(i) < cp.size {
                        each(idx.value(i), leaf.value(i))?;
                    }
                }
            }
        }
        Ok(cp.size)
    }

    /// Inclusion proof of leaf `idx` in the tree of the kept checkpoint at
    /// `size`, as C2SP tlog-proof text.
    pub fn inclusion_proof(&self, idx: u64, size: u64, keys: &[Verifier]) -> Result<String> {
        let (note, cp) = self.kept_checkpoint(size, keys)?;
        let path = self
            .proofs(&cp)?
            .inclusion(idx)?
            .ok_or_else(|| StoreError::Corrupt {
                path: self.layout.checkpoint_at(size),
                what: format!("leaf {idx} is not in a tree of {size} leaves"),
            })?;
        Ok(sealtrail_format::tlog::proof::format_inclusion(
            idx, &path, &note, None,
        ))
    }

    /// Consistency proof from tree size `old` to the kept checkpoint `new`.
    pub fn consistency_proof(&self, old: u64, new: u64, keys: &[Verifier]) -> Result<String> {
        let (note, cp) = self.kept_checkpoint(new, keys)?;
        let path = self
            .proofs(&cp)?
            .consistency(old)?
            .ok_or_else(|| StoreError::Corrupt {
                path: self.layout.checkpoint_at(new),
                what: format!("no consistency proof from size {old} to {new}"),
            })?;
        Ok(sealtrail_format::tlog::proof::format_consistency(
            old, &path, &note,
        ))
    }

    /// The checkpoint kept at `size`, verified: its note and contents.
    fn kept_checkpoint(&self, size: u64, keys: &[Verifier]) -> Result<(String, Checkpoint)> {
        let path = self.layout.checkpoint_at(size);
        let note = read_string(&path).map_err(|_| StoreError::Corrupt {
            path: path.clone(),
            what: format!("no checkpoint was signed at tree size {size}"),
        })?;
        let cp = Checkpoint::open(&note, keys).map_err(|source| StoreError::Note {
            path: path.clone(),
            source,
        })?;
        Ok((note, cp))
    }
}

/// Where [`Proofs`] reads nodes from.
enum ProofNodes {
    Index(tree_index::TreeIndex),
    Memory(Vec<Vec<Hash>>),
}

/// Inclusion and consistency proofs against one checkpoint
/// ([`Reader::proofs`]). Every proof read from the on-disk index is
/// verified against the signed root; one that does not verify switches to
/// an in-memory tree rebuilt from the verified leaf hashes.
pub struct Proofs {
    reader: Reader,
    cp: Checkpoint,
    source: ProofNodes,
}

impl Proofs {
    /// PATH(idx, D\[size\]), or `None` when `idx` is out of range.
    pub fn inclusion(&mut self, idx: u64) -> Result<Option<Vec<Hash>>> {
        let (size, root) = (self.cp.size, self.cp.root);
        if let ProofNodes::Index(t) = &mut self.source {
            let p = merkle::inclusion_proof_from(t, idx, size);
            let leaf = merkle::Nodes::node(t, 0, idx);
            match (p, leaf) {
                (Some(p), Some(leaf))
                    if merkle::verify_inclusion(idx, size, &leaf, &p, &root).is_ok() =>
                {
                    return Ok(Some(p));
                }
                _ if idx >= size => return Ok(None),
                _ => self.source = self.reader.nodes_in_memory(&self.cp)?,
            }
        }
        Ok(match &mut self.source {
            ProofNodes::Memory(m) => merkle::inclusion_proof_from(m, idx, size),
            ProofNodes::Index(_) => None,
        })
    }

    /// PROOF(old, D\[size\]), or `None` unless `0 < old <= size`.
    pub fn consistency(&mut self, old: u64) -> Result<Option<Vec<Hash>>> {
        let (size, root) = (self.cp.size, self.cp.root);
        if old == 0 || old > size {
            return Ok(None);
        }
        if let ProofNodes::Index(t) = &mut self.source {
            let p = merkle::consistency_proof_from(t, old, size);
            let old_root = merkle::subtree_root(t, 0, old);
            match (p, old_root) {
                (Some(p), Some(r))
                    if merkle::verify_consistency(old, size, &r, &root, &p).is_ok() =>
                {
                    return Ok(Some(p));
                }
                _ => self.source = self.reader.nodes_in_memory(&self.cp)?,
            }
        }
        Ok(match &mut self.source {
            ProofNodes::Memory(m) => merkle::consistency_proof_from(m, old, size),
            ProofNodes::Index(_) => None,
        })
    }
}

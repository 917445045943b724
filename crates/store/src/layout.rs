//! Every path inside a store directory, computed in one place (FORMAT.md §1).

use std::path::{Path, PathBuf};

/// Name of the file that marks a directory as a sealtrail store.
pub const MARKER: &str = "sealtrail-store";

/// The paths of one store directory.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Layout rooted at `root`.
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
        }
    }
    /// The store directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `sealtrail-store`: format version, origin and verifier key.
    pub fn marker(&self) -> PathBuf {
        self.root.join(MARKER)
    }
    /// `lock`: held by the one writer.
    pub fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }
    /// `wal/`.
    pub fn wal_dir(&self) -> PathBuf {
        self.root.join("wal")
    }
    /// `wal/current.wal`.
    pub fn wal(&self) -> PathBuf {
        self.wal_dir().join("current.wal")
    }
    /// `segments/`.
    pub fn segments_dir(&self) -> PathBuf {
        self.root.join("segments")
    }
    /// File name of the segment holding leaves `first..=last`.
    pub fn segment_name(first: u64, last: u64) -> String {
        format!("{first:020}-{last:020}.parquet")
    }
    /// `segments/<name>`.
    pub fn segment(&self, name: &str) -> PathBuf {
        self.segments_dir().join(name)
    }
    /// `manifests/`.
    pub fn manifests_dir(&self) -> PathBuf {
        self.root.join("manifests")
    }
    /// `manifests/<size>.note`.
    pub fn manifest(&self, size: u64) -> PathBuf {
        self.manifests_dir().join(format!("{size:020}.note"))
    }
    /// `checkpoint`: the latest signed checkpoint.
    pub fn checkpoint(&self) -> PathBuf {
        self.root.join("checkpoint")
    }
    /// `checkpoints/`.
    pub fn checkpoints_dir(&self) -> PathBuf {
        self.root.join("checkpoints")
    }
    /// `checkpoints/<size>`: every checkpoint ever signed.
    pub fn checkpoint_at(&self, size: u64) -> PathBuf {
        self.checkpoints_dir().join(format!("{size:020}"))
    }
    /// `keys/`: public verifier keys (never private ones).
    pub fn keys_dir(&self) -> PathBuf {
        self.root.join("keys")
    }
    /// `index/`: derived caches, rebuilt from segments when missing.
    pub fn index_dir(&self) -> PathBuf {
        self.root.join("index")
    }
    /// `index/leaf-hashes.bin`: 32 bytes per leaf, in order.
    pub fn leaf_hashes(&self) -> PathBuf {
        self.index_dir().join("leaf-hashes.bin")
    }
    /// The suffix of a file being written (temp file, fsync, rename): a
    /// file with it is an interrupted write, removed by the next writer.
    pub fn tmp_suffix() -> &'static str {
        ".tmp"
    }
    /// Whether `path` lies inside this store directory.
    pub fn contains(&self, path: &Path) -> bool {
        let root = std::fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        let p = path
            .parent()
            .and_then(|p| {
                std::fs::canonicalize(if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                })
                .ok()
            })
            .map(|p| p.join(path.file_name().unwrap_or_default()))
            .unwrap_or_else(|| path.to_path_buf());
        p.starts_with(&root)
    }
}

/// Parses a segment file name back into `(first, last)`.
pub fn parse_segment_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".parquet")?;
    let (a, b) = stem.split_once('-')?;
    if a.len() != 20 || b.len() != 20 {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?))
}

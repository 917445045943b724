//! A bucket prefix, copied exactly into a local store directory for the
//! readers (verify, query, pack, accounting).
//!
//! The copy holds every object the bucket lists under the store's paths
//! (FORMAT.md §1) and nothing else: a file whose object is gone is removed,
//! so `verify` names a missing or replaced object exactly as it names a
//! missing or replaced file. Objects whose entity tag and size are those
//! of the copy already made are not fetched again (`index/mirror.json`);
//! every byte is still verified against the signed manifest by the reader.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use sealtrail_store::layout::{Layout, MARKER};

use crate::s3::{Bucket, Retention};
use crate::{ObjectError, Result};

/// What one mirror run did.
#[derive(Clone, Debug, Default)]
pub struct Mirrored {
    /// The local store directory.
    pub dir: PathBuf,
    /// Objects in the bucket under the store's paths.
    pub objects: usize,
    /// Of those, fetched this run.
    pub fetched: usize,
    /// Bytes fetched.
    pub bytes: u64,
    /// Local files removed because the bucket no longer holds them.
    pub removed: usize,
    /// Keys under the prefix that are not store paths (not copied).
    pub ignored: Vec<String>,
    /// Each object's Object Lock state, when asked for.
    pub retention: Vec<(String, Retention)>,
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Index {
    version: u32,
    url: String,
    /// Store path → (entity tag, size) of the copied object.
    objects: BTreeMap<String, (String, u64)>,
}

/// The top-level directories of a store whose files are objects.
const DIRS: [&str; 4] = ["segments", "manifests", "checkpoints", "keys"];

/// Whether `rel` is a path a store publishes: the marker, `checkpoint`, or
/// one plain file name inside one of [`DIRS`].
fn store_path(rel: &str) -> bool {
    let plain = |n: &str| {
        !n.is_empty()
            && n != "."
            && n != ".."
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b))
    };
    match rel.split_once('/') {
        None => rel == MARKER || rel == "checkpoint",
        Some((dir, name)) => DIRS.contains(&dir) && plain(name) && !name.ends_with(".tmp"),
    }
}

/// Copies the store at `bucket` into `dir`, reading each object's
/// retention too when `with_retention` (one request per object).
pub fn mirror(bucket: &Bucket, dir: &Path, with_retention: bool) -> Result<Mirrored> {
    let layout = Layout::new(dir);
    for d in [
        dir.to_path_buf(),
        layout.segments_dir(),
        layout.manifests_dir(),
        layout.checkpoints_dir(),
        layout.keys_dir(),
        layout.index_dir(),
    ] {
        fs::create_dir_all(&d).map_err(|source| {
            ObjectError::Store(sealtrail_store::StoreError::Io {
                path: d.clone(),
                source,
            })
        })?;
    }
    let index_path = layout.index_dir().join("mirror.json");
    let url = bucket.url().to_string();
    let mut index = fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Index>(&b).ok())
        .filter(|i| i.version == 1 && i.url == url)
        .unwrap_or(Index {
            version: 1,
            url,
            objects: BTreeMap::new(),
        });
    let mut out = Mirrored {
        dir: dir.to_path_buf(),
        ..Mirrored::default()
    };
    let listed = bucket.list()?;
    let mut present = BTreeMap::new();
    for obj in listed {
        if !store_path(&obj.rel) {
            out.ignored.push(obj.rel);
            continue;
        }
        out.objects += 1;
        let e_tag = obj.e_tag.clone().unwrap_or_default();
        let local = dir.join(&obj.rel);
        let fresh = !e_tag.is_empty()
            && index.objects.get(&obj.rel) == Some(&(e_tag.clone(), obj.size))
            && fs::metadata(&local).is_ok_and(|m| m.len() == obj.size);
        if !fresh {
            // gone between the listing and the get: left absent, as listed later
            if let Some((bytes, tag)) = bucket.get(&obj.rel)? {
                sealtrail_store::atomic_write(&local, &bytes)?;
                out.fetched += 1;
                out.bytes += bytes.len() as u64;
                index
                    .objects
                    .insert(obj.rel.clone(), (tag.unwrap_or(e_tag), bytes.len() as u64));
            }
        }
        if with_retention {
            out.retention
                .push((obj.rel.clone(), bucket.retention(&obj.rel)?));
        }
        present.insert(obj.rel, ());
    }
    // what the bucket no longer holds is removed from the copy
    let mut local_files = vec![MARKER.to_string(), "checkpoint".to_string()];
    for d in DIRS {
        if let Ok(rd) = fs::read_dir(dir.join(d)) {
            for e in rd.flatten() {
                if let Some(n) = e.file_name().to_str() {
                    local_files.push(format!("{d}/{n}"));
                }
            }
        }
    }
    for rel in local_files {
        let p = dir.join(&rel);
        if !present.contains_key(&rel) && p.exists() {
            fs::remove_file(&p).map_err(|source| {
                ObjectError::Store(sealtrail_store::StoreError::Io {
                    path: p.clone(),
                    source,
                })
            })?;
            index.objects.remove(&rel);
            out.removed += 1;
        }
    }
    if out.fetched + out.removed > 0 {
        // the derived caches describe the copy as it was: rebuilt from it
        if let Ok(rd) = fs::read_dir(layout.index_dir()) {
            for e in rd.flatten() {
                if e.file_name() != "mirror.json" {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
    }
    let json = serde_json::to_vec_pretty(&index).unwrap_or_default();
    sealtrail_store::atomic_write(&index_path, &json)?;
    Ok(out)
}

/// The default local copy of `bucket`'s store: `$SEALTRAIL_CACHE`, else
/// `$XDG_CACHE_HOME/sealtrail`, else `~/.cache/sealtrail`, then
/// `s3/<bucket>/<prefix>`.
pub fn default_dir(url: &crate::S3Url) -> PathBuf {
    let base = std::env::var_os("SEALTRAIL_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("sealtrail")))
        .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/sealtrail")))
        .unwrap_or_else(|| PathBuf::from(".sealtrail-cache"));
    let mut d = base.join("s3").join(&url.bucket);
    if url.prefix.is_empty() {
        d.push("_");
    } else {
        d.push(&url.prefix);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::store_path;

    #[test]
    fn only_store_paths_are_copied() {
        for ok in [
            "sealtrail-store",
            "checkpoint",
            "segments/00000000000000000000-00000000000000000009.parquet",
            "manifests/00000000000000000010.note",
            "checkpoints/00000000000000000010",
            "keys/ab12.vkey",
        ] {
            assert!(store_path(ok), "{ok}");
        }
        for bad in [
            "wal/current.wal",
            "lock",
            "index/leaf-hashes.bin",
            "segments/../checkpoint",
            "segments/a/b",
            "segments/x.parquet.tmp",
            "keys/",
            "other",
        ] {
            assert!(!store_path(bad), "{bad}");
        }
    }
}

//! A writer's store directory, published to its bucket prefix.
//!
//! After a seal the directory holds new segments, a new manifest and new
//! checkpoints. [`Publisher::publish`] writes what the bucket does not yet
//! hold, in an order that keeps the bucket a valid store at every moment:
//! the marker and keys, the segments the checkpoint covers, its manifest,
//! then `checkpoint` (the commit point), then the kept `checkpoints/<size>`
//! files. A crash anywhere leaves objects that the next publish finds
//! identical and skips; nothing is ever overwritten but `checkpoint`, and
//! that only from the version this writer wrote.
//!
//! The bucket, not a local record, decides what is published: the record
//! in `index/published.json` only saves requests (it is a cache like the
//! rest of `index/`), and a `checkpoint` found in the bucket is this
//! writer's own exactly when its bytes equal this directory's kept
//! checkpoint of the same size.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use sealtrail_store::layout::{Layout, MARKER, parse_segment_name};

use crate::s3::{Bucket, Created, Lock, LockedPuts, Replaced};
use crate::{ObjectError, Result};

/// Version of `index/published.json`.
const STATE_VERSION: u32 = 1;

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct State {
    version: u32,
    url: String,
    /// Entity tag of the `checkpoint` version this writer last wrote.
    checkpoint_etag: Option<String>,
    /// SHA-256 (hex) of that version's bytes.
    checkpoint_sha256: Option<String>,
    /// Store path → SHA-256 (hex) of every object known to be in the bucket
    /// with these bytes.
    objects: BTreeMap<String, String>,
}

/// What one publish did.
#[derive(Clone, Debug, Default)]
pub struct Published {
    /// Tree size of the published checkpoint.
    pub size: u64,
    /// Objects written by this publish (the rest were already there).
    pub written: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// Publishes one store directory to one bucket prefix.
pub struct Publisher {
    bucket: Bucket,
    lock: Lock,
    layout: Layout,
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn note_size(note: &[u8]) -> Option<u64> {
    std::str::from_utf8(note).ok()?.lines().nth(1)?.parse().ok()
}

impl Publisher {
    /// A publisher of the store directory `work` to `bucket`.
    pub fn new(bucket: Bucket, lock: Lock, work: &Path) -> Publisher {
        Publisher {
            bucket,
            lock,
            layout: Layout::new(work),
        }
    }

    /// The bucket published to.
    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    fn state_path(&self) -> PathBuf {
        self.layout.index_dir().join("published.json")
    }

    fn load_state(&self) -> State {
        let url = self.bucket.url().to_string();
        fs::read(self.state_path())
            .ok()
            .and_then(|b| serde_json::from_slice::<State>(&b).ok())
            .filter(|s| s.version == STATE_VERSION && s.url == url)
            .unwrap_or(State {
                version: STATE_VERSION,
                url,
                ..State::default()
            })
    }

    fn read(&self, rel: &str) -> Result<Vec<u8>> {
        let path = self.layout.root().join(rel);
        fs::read(&path)
            .map_err(|source| ObjectError::Store(sealtrail_store::StoreError::Io { path, source }))
    }

    fn conflict(&self, rel: &str, detail: &str, size: u64) -> ObjectError {
        ObjectError::Conflict {
            bucket: self.bucket.url().bucket.clone(),
            key: self.bucket.url().key(rel),
            detail: detail.to_string(),
            size,
            work: self.layout.root().to_path_buf(),
        }
    }

    /// Writes `rel` create-only unless the bucket already holds these bytes.
    fn put_once(
        &self,
        state: &mut State,
        puts: &LockedPuts,
        rel: &str,
        size: u64,
        done: &mut Published,
    ) -> Result<()> {
        let bytes = self.read(rel)?;
        let sha = sha_hex(&bytes);
        if state.objects.get(rel) == Some(&sha) {
            return Ok(());
        }
        let len = bytes.len() as u64;
        match self.bucket.put_create(rel, Bytes::from(bytes), puts)? {
            Created::New(_) => {
                done.written += 1;
                done.bytes += len;
            }
            Created::Exists => {
                let remote = self.bucket.get(rel)?.map(|(b, _)| b);
                let same = match &remote {
                    Some(b) if rel == MARKER => {
                        // a key rotation rewrites the marker's vkey line
                        // (informative only); the origin must be ours
                        let origin = |t: &[u8]| {
                            std::str::from_utf8(t)
                                .ok()
                                .and_then(|t| t.lines().nth(1).map(str::to_string))
                        };
                        origin(b) == origin(&self.read(rel)?)
                    }
                    // a kept checkpoint later cosigned by witnesses (FORMAT.md
                    // §5.5) is the same checkpoint: same body, same first
                    // (the log's) signature line
                    Some(b) if rel.starts_with("checkpoints/") => {
                        let head = |t: &[u8]| {
                            let t = String::from_utf8_lossy(t).to_string();
                            t.split_once("\n\n").map(|(body, sigs)| {
                                (body.to_string(), sigs.lines().next().map(str::to_string))
                            })
                        };
                        head(b).is_some() && head(b) == head(&self.read(rel)?)
                    }
                    Some(b) => sha_hex(b) == sha,
                    None => false,
                };
                if !same {
                    return Err(self.conflict(rel, "its bytes differ from this node's", size));
                }
            }
        }
        state.objects.insert(rel.to_string(), sha);
        Ok(())
    }

    /// Publishes what the directory's latest checkpoint covers.
    pub fn publish(&self) -> Result<Published> {
        let mut state = self.load_state();
        let cp = self.read("checkpoint")?;
        let size = note_size(&cp).ok_or_else(|| {
            ObjectError::Store(sealtrail_store::StoreError::Corrupt {
                path: self.layout.checkpoint(),
                what: "no tree size on its second line".into(),
            })
        })?;
        let mut done = Published {
            size,
            ..Published::default()
        };
        let puts = self.bucket.with_lock(&self.lock, chrono::Utc::now())?;

        // a directory that cannot be listed stops the publish: skipping it
        // would commit a checkpoint whose files the bucket lacks
        let names = |dir: &Path| -> Result<Vec<String>> {
            let rd = fs::read_dir(dir).map_err(|source| {
                ObjectError::Store(sealtrail_store::StoreError::Io {
                    path: dir.to_path_buf(),
                    source,
                })
            })?;
            let mut v: Vec<String> = rd
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| !n.ends_with(Layout::tmp_suffix()))
                .collect();
            v.sort();
            Ok(v)
        };
        let mut before = vec![MARKER.to_string()];
        before.extend(
            names(&self.layout.keys_dir())?
                .into_iter()
                .map(|n| format!("keys/{n}")),
        );
        // segments the checkpoint covers (a seal in flight may have renamed
        // its file into place before committing)
        before.extend(
            names(&self.layout.segments_dir())?
                .into_iter()
                .filter(|n| parse_segment_name(n).is_some_and(|(_, last)| last < size))
                .map(|n| format!("segments/{n}")),
        );
        before.push(format!("manifests/{size:020}.note"));
        for rel in &before {
            self.put_once(&mut state, &puts, rel, size, &mut done)?;
        }

        self.commit(&mut state, &puts, &cp, size, &mut done)?;

        let kept: Vec<String> = names(&self.layout.checkpoints_dir())?
            .into_iter()
            .filter(|n| n.parse::<u64>().is_ok_and(|s| s <= size))
            .map(|n| format!("checkpoints/{n}"))
            .collect();
        for rel in &kept {
            self.put_once(&mut state, &puts, rel, size, &mut done)?;
        }
        self.prune_manifests(&mut state, size);
        let json = serde_json::to_vec_pretty(&state).unwrap_or_default();
        sealtrail_store::atomic_write(&self.state_path(), &json)?;
        Ok(done)
    }

    /// Replaces `checkpoint` if the bucket still holds this writer's last
    /// version (or none).
    fn commit(
        &self,
        state: &mut State,
        puts: &LockedPuts,
        cp: &[u8],
        size: u64,
        done: &mut Published,
    ) -> Result<()> {
        let sha = sha_hex(cp);
        if state.checkpoint_sha256.as_deref() == Some(sha.as_str()) {
            return Ok(());
        }
        let mut expected = state.checkpoint_etag.clone();
        for attempt in 0..2 {
            match self.bucket.put_replace(
                "checkpoint",
                Bytes::copy_from_slice(cp),
                expected.as_deref(),
                puts,
            )? {
                Replaced::New(etag) => {
                    done.written += 1;
                    done.bytes += cp.len() as u64;
                    state.checkpoint_etag = etag;
                    state.checkpoint_sha256 = Some(sha);
                    return Ok(());
                }
                Replaced::Conflict => {
                    let Some((remote, etag)) = self.bucket.get("checkpoint")? else {
                        // deleted since: only an empty bucket may be created
                        return Err(self.conflict(
                            "checkpoint",
                            "it was deleted after this node published it",
                            size,
                        ));
                    };
                    if sha_hex(&remote) == sha {
                        state.checkpoint_etag = etag;
                        state.checkpoint_sha256 = Some(sha);
                        return Ok(());
                    }
                    // ours, published before this node's record was lost?
                    let ours = note_size(&remote)
                        .and_then(|s| fs::read(self.layout.checkpoint_at(s)).ok())
                        .is_some_and(|local| local == remote.as_ref());
                    if ours && attempt == 0 {
                        expected = etag;
                        continue;
                    }
                    let detail = match note_size(&remote) {
                        Some(s) => format!(
                            "it now holds a checkpoint of size {s} that this node did not sign"
                        ),
                        None => "it now holds something that is not a checkpoint".into(),
                    };
                    return Err(self.conflict("checkpoint", &detail, size));
                }
            }
        }
        Err(self.conflict("checkpoint", "it changed while this node published", size))
    }

    /// Manifests older than the previous published one are removed from
    /// the bucket's listing as from the directory (FORMAT.md §8): only the
    /// latest is evidence of the files. On a bucket under Object Lock this
    /// adds a delete marker; the retained version stays until it expires.
    fn prune_manifests(&self, state: &mut State, size: u64) {
        let published: Vec<(String, u64)> = state
            .objects
            .keys()
            .filter_map(|k| {
                let s = k.strip_prefix("manifests/")?.strip_suffix(".note")?;
                Some((k.clone(), s.parse().ok()?))
            })
            .collect();
        let previous = published
            .iter()
            .map(|(_, s)| *s)
            .filter(|s| *s < size)
            .max();
        for (rel, s) in published {
            if previous.is_some_and(|p| s < p) {
                match self.bucket.delete(&rel) {
                    Ok(()) => {
                        state.objects.remove(&rel);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "an old manifest was not removed from the bucket; the next publish tries again")
                    }
                }
            }
        }
    }
}

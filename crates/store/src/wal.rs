//! The write-ahead log: leaves appended and fsynced before they are
//! acknowledged, replayed into a segment at the next seal (FORMAT.md §9).
//!
//! File: a 24-byte header (`SEALTRAIL-WAL-v1` then the base tree size as a
//! little-endian u64), then records `len: u32 LE ‖ leaf ‖ SHA-256(0x00 ‖ leaf)`.
//! A record whose bytes or hash are incomplete is a torn tail: it was never
//! acknowledged, and recovery cuts the file there.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use sealtrail_format::tlog::merkle::{Hash, leaf_hash};

const MAGIC: &[u8; 16] = b"SEALTRAIL-WAL-v1";
const HEADER_LEN: u64 = 24;
/// Largest leaf accepted, a guard against a corrupt length field.
pub const MAX_LEAF: usize = 256 * 1024 * 1024;

/// The bytes `leaf`'s record takes in a WAL: length, leaf, hash.
pub fn record_len(leaf: &[u8]) -> u64 {
    4 + leaf.len() as u64 + 32
}

/// What was found in a WAL file.
pub struct Recovered {
    /// Tree size when the WAL was started.
    pub base: u64,
    /// Complete records: (leaf, leaf hash).
    pub records: Vec<(Vec<u8>, Hash)>,
    /// Bytes cut from a torn tail (0 when the file was clean).
    pub torn_bytes: u64,
}

/// An open WAL, positioned for appending.
pub struct Wal {
    out: BufWriter<File>,
    /// The same open file, for [`Wal::write_for_sync`]'s handles.
    same: Arc<File>,
    bytes: u64,
    /// `bytes` when the last fsync returned: what is durable already.
    synced: u64,
}

/// An fsync of a WAL's file, to be made on another thread: every record
/// written to the file before [`Wal::write_for_sync`] returned it is durable
/// once [`WalSync::sync`] returns.
pub struct WalSync(Arc<File>);

impl WalSync {
    /// fsyncs (the data of) the file.
    pub fn sync(&self) -> std::io::Result<()> {
        self.0.sync_data()
    }

    /// Whether `other` syncs the same file (one fsync serves both).
    pub fn same_file(&self, other: &WalSync) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Wal {
    /// Creates `path` afresh (via a temp file and rename) with `base`.
    pub fn create(path: &Path, base: u64) -> std::io::Result<Wal> {
        Wal::create_with(path, base, &[])
    }

    /// Creates `path` afresh starting at `base` and holding `records`
    /// (leaf, leaf hash). The records are in the temp file, synced, before
    /// it replaces the old WAL: a WAL is never, even for an instant, without
    /// a record that was acknowledged from the one it replaces.
    pub fn create_with(path: &Path, base: u64, records: &[(&[u8], &Hash)]) -> std::io::Result<Wal> {
        let tmp = path.with_extension("wal.tmp");
        {
            let mut f = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
            f.write_all(MAGIC)?;
            f.write_all(&base.to_le_bytes())?;
            for (leaf, hash) in records {
                f.write_all(&(leaf.len() as u32).to_le_bytes())?;
                f.write_all(leaf)?;
                f.write_all(*hash)?;
            }
            f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        super::fsync_dir(super::dir_of(path))?;
        Wal::open_append(path, true)
    }

    /// `synced`: the file is durable as it is (a recovered one may not be:
    /// what a crashed process wrote but never synced is fsynced by the first
    /// [`Wal::sync`]).
    fn open_append(path: &Path, synced: bool) -> std::io::Result<Wal> {
        let mut f = OpenOptions::new().read(true).write(true).open(path)?;
        let bytes = f.seek(SeekFrom::End(0))?;
        let same = Arc::new(f.try_clone()?);
        Ok(Wal {
            out: BufWriter::with_capacity(1 << 20, f),
            same,
            bytes,
            synced: if synced { bytes } else { 0 },
        })
    }

    /// Reads a WAL, cutting a torn tail, and opens it for appending.
    pub fn recover(path: &Path) -> std::io::Result<(Wal, Recovered)> {
        let mut f = File::open(path)?;
        let mut data = Vec::new();
        f.read_to_end(&mut data)?;
        let bad = |m: &str| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {m}", path.display()),
            )
        };
        if data.len() < HEADER_LEN as usize || &data[..16] != MAGIC {
            return Err(bad(
                "not a sealtrail WAL (bad header); move it aside and reopen the store",
            ));
        }
        let base = u64::from_le_bytes(data[16..24].try_into().unwrap_or_default());
        let mut pos = HEADER_LEN as usize;
        let mut records = Vec::new();
        loop {
            if data.len() - pos < 4 {
                break;
            }
            let len =
                u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap_or_default()) as usize;
            if len > MAX_LEAF || data.len() - pos - 4 < len + 32 {
                break;
            }
            let leaf = &data[pos + 4..pos + 4 + len];
            let stored: Hash = data[pos + 4 + len..pos + 4 + len + 32]
                .try_into()
                .unwrap_or_default();
            if leaf_hash(leaf) != stored {
                break;
            }
            records.push((leaf.to_vec(), stored));
            pos += 4 + len + 32;
        }
        let torn_bytes = (data.len() - pos) as u64;
        if torn_bytes > 0 {
            let f = OpenOptions::new().write(true).open(path)?;
            f.set_len(pos as u64)?;
            f.sync_all()?;
        }
        let wal = Wal::open_append(path, false)?;
        Ok((
            wal,
            Recovered {
                base,
                records,
                torn_bytes,
            },
        ))
    }

    /// Buffers one record; durable only after [`Wal::sync`].
    pub fn append(&mut self, leaf: &[u8], hash: &Hash) -> std::io::Result<()> {
        self.out.write_all(&(leaf.len() as u32).to_le_bytes())?;
        self.out.write_all(leaf)?;
        self.out.write_all(hash)?;
        self.bytes += record_len(leaf);
        Ok(())
    }

    /// Flushes and fsyncs: everything appended so far is durable. Nothing
    /// to do when nothing was appended since the last fsync that returned
    /// (several commits queued behind one append share its fsync).
    pub fn sync(&mut self) -> std::io::Result<()> {
        if self.synced == self.bytes {
            return Ok(());
        }
        self.out.flush()?;
        self.out.get_ref().sync_data()?;
        self.synced = self.bytes;
        Ok(())
    }

    /// Writes every buffered record to the file, without an fsync, and
    /// returns the fsync that makes them durable, for another thread: so
    /// appends go on while the disk syncs. (What it syncs is not counted as
    /// synced here: a later [`Wal::sync`] syncs again.)
    pub fn write_for_sync(&mut self) -> std::io::Result<WalSync> {
        self.out.flush()?;
        Ok(WalSync(Arc::clone(&self.same)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewritten_wal_holds_its_records_as_soon_as_it_is_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("current.wal");
        let leaves: Vec<Vec<u8>> = (0..3).map(|i| format!("leaf {i}").into_bytes()).collect();
        let hashes: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l)).collect();
        let records: Vec<(&[u8], &Hash)> = leaves
            .iter()
            .zip(&hashes)
            .map(|(l, h)| (l.as_slice(), h))
            .collect();
        // dropped without a sync or append: the records must be there already
        drop(Wal::create_with(&path, 7, &records).expect("create"));
        let (_, rec) = Wal::recover(&path).expect("recover");
        assert_eq!(rec.base, 7);
        assert_eq!(rec.torn_bytes, 0);
        let got: Vec<Vec<u8>> = rec.records.into_iter().map(|(l, _)| l).collect();
        assert_eq!(got, leaves);
    }
}

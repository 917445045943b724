//! `index/tree-LL.bin`: the Merkle tree's complete interior nodes, kept on
//! disk so inclusion and consistency proofs cost O(log n) reads instead of
//! an O(n) rebuild (FORMAT.md §12).
//!
//! Level `LL` (two decimal digits, 01..63) holds 32 bytes per complete node
//! MTH(D[i·2^LL, (i+1)·2^LL)), in order of `i`; level 0 is
//! `index/leaf-hashes.bin`. A complete node never changes as the log grows,
//! so one set of files serves every tree size. Like the leaf-hash index it
//! is a cache: the writer extends it at every seal (before the checkpoint
//! is published) and cuts it back on open; readers check every proof they
//! build from it against the signed root and rebuild when it disagrees.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::layout::Layout;
use sealtrail_format::tlog::merkle::{Hash, Nodes, node_hash};

/// The file of `level` (0: the leaf hashes).
pub fn level_path(layout: &Layout, level: u32) -> PathBuf {
    if level == 0 {
        layout.leaf_hashes()
    } else {
        layout.index_dir().join(format!("tree-{level:02}.bin"))
    }
}

fn nodes_in(path: &PathBuf) -> u64 {
    fs::metadata(path).map(|m| m.len() / 32).unwrap_or(0)
}

/// Cuts every level above the leaves back to the nodes of a tree of `size`
/// leaves (nodes past it may come from leaves a crash discarded).
pub fn truncate(layout: &Layout, size: u64) -> io::Result<()> {
    for level in 1..64u32 {
        let path = level_path(layout, level);
        let want = size >> level;
        if nodes_in(&path) > want {
            OpenOptions::new()
                .write(true)
                .open(&path)?
                .set_len(want * 32)?;
        }
        if want == 0 && !path.exists() {
            break;
        }
    }
    Ok(())
}

/// Extends every level to the complete nodes of a tree of `size` leaves;
/// the leaf-hash file must already hold them. Work is proportional to the
/// nodes added, read in bounded chunks.
pub fn extend(layout: &Layout, size: u64) -> io::Result<()> {
    const CHUNK: u64 = 1 << 20; // nodes per read of the level below
    fs::create_dir_all(layout.index_dir())?;
    for level in 1..64u32 {
        let want = size >> level;
        if want == 0 {
            break;
        }
        let path = level_path(layout, level);
        let mut have = nodes_in(&path);
        if have > want {
            OpenOptions::new()
                .write(true)
                .open(&path)?
                .set_len(want * 32)?;
            continue;
        }
        if have == want {
            continue;
        }
        let below = File::open(level_path(layout, level - 1))?;
        let mut out = OpenOptions::new().create(true).append(true).open(&path)?;
        if have * 32 != out.metadata()?.len() {
            // a torn write: drop the partial node
            out.set_len(have * 32)?;
        }
        while have < want {
            let n = (want - have).min(CHUNK);
            let mut children = vec![0u8; (2 * n * 32) as usize];
            below.read_exact_at(&mut children, 2 * have * 32)?;
            let mut nodes = Vec::with_capacity((n * 32) as usize);
            for pair in children.chunks_exact(64) {
                let (l, r) = pair.split_at(32);
                let (l, r): (Hash, Hash) = (
                    l.try_into().unwrap_or_default(),
                    r.try_into().unwrap_or_default(),
                );
                nodes.extend_from_slice(&node_hash(&l, &r));
            }
            out.write_all(&nodes)?;
            have += n;
        }
    }
    Ok(())
}

/// Appends the complete nodes a seal closed (`closed[L-1]`: level `L`, in
/// order, as [`sealtrail_format::tlog::merkle::Frontier::push_reporting`] reports them)
/// to a tree index of `old_size` leaves, growing it to `new_size`. If any
/// level does not hold exactly the old tree's nodes (a cache cut short or
/// left behind), it is brought to `new_size` by [`extend`] instead, from the
/// leaf-hash file, which must already hold the new leaves.
pub fn append(
    layout: &Layout,
    old_size: u64,
    new_size: u64,
    closed: &[Vec<Hash>],
) -> io::Result<()> {
    let fits = (1..64u32).all(|level| {
        let added = closed.get(level as usize - 1).map_or(0, |v| v.len() as u64);
        nodes_in(&level_path(layout, level)) == old_size >> level
            && (old_size >> level) + added == new_size >> level
    });
    if !fits {
        return extend(layout, new_size);
    }
    fs::create_dir_all(layout.index_dir())?;
    for (i, nodes) in closed.iter().enumerate() {
        if nodes.is_empty() {
            continue;
        }
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(level_path(layout, i as u32 + 1))?;
        out.write_all(&nodes.concat())?;
    }
    Ok(())
}

/// Reads complete nodes from the index files.
pub struct TreeIndex {
    paths: Vec<PathBuf>,
    files: Vec<Option<File>>,
}

impl TreeIndex {
    /// The index of the store at `layout` (files are opened on first use).
    pub fn open(layout: &Layout) -> TreeIndex {
        TreeIndex {
            paths: (0..64).map(|l| level_path(layout, l)).collect(),
            files: (0..64).map(|_| None).collect(),
        }
    }
}

impl Nodes for TreeIndex {
    fn node(&mut self, level: u32, index: u64) -> Option<Hash> {
        let l = level as usize;
        if self.files.get(l)?.is_none() {
            self.files[l] = File::open(self.paths.get(l)?).ok();
        }
        let f = self.files[l].as_ref()?;
        let mut h = [0u8; 32];
        f.read_exact_at(&mut h, index.checked_mul(32)?).ok()?;
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sealtrail_format::tlog::merkle;

    fn level_files(layout: &Layout) -> Vec<Vec<u8>> {
        (0..12)
            .map(|l| fs::read(level_path(layout, l)).unwrap_or_default())
            .collect()
    }

    #[test]
    fn nodes_closed_by_the_frontier_make_the_same_files_as_extend() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (by_extend, by_append) = (Layout::new(a.path()), Layout::new(b.path()));
        let leaves: Vec<Hash> = (0..700u32)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect();
        let mut frontier = merkle::Frontier::new();
        let mut written = 0;
        for (k, step) in [1usize, 2, 5, 64, 100, 128, 400].into_iter().enumerate() {
            let size = (written + step).min(leaves.len());
            let mut closed: Vec<Vec<Hash>> = Vec::new();
            for h in &leaves[written..size] {
                frontier.push_reporting(*h, |level, node| {
                    let l = level as usize;
                    if closed.len() < l {
                        closed.resize_with(l, Vec::new);
                    }
                    closed[l - 1].push(node);
                });
            }
            for layout in [&by_extend, &by_append] {
                fs::create_dir_all(layout.index_dir()).unwrap();
                let mut f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(layout.leaf_hashes())
                    .unwrap();
                f.write_all(&leaves[written..size].concat()).unwrap();
            }
            if k == 4 {
                // a cache level lost between seals: append falls back to extend
                fs::remove_file(level_path(&by_append, 2)).unwrap();
            }
            extend(&by_extend, size as u64).unwrap();
            append(&by_append, written as u64, size as u64, &closed).unwrap();
            written = size;
            assert_eq!(
                level_files(&by_append),
                level_files(&by_extend),
                "after {size} leaves"
            );
        }
    }

    #[test]
    fn extended_in_steps_it_serves_the_same_proofs_as_the_full_tree() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        fs::create_dir_all(layout.index_dir()).unwrap();
        let leaves: Vec<Hash> = (0..300u32)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect();
        let mut written = 0;
        for step in [1usize, 2, 5, 64, 100, 128] {
            let size = (written + step).min(leaves.len());
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(layout.leaf_hashes())
                .unwrap();
            for h in &leaves[written..size] {
                f.write_all(h).unwrap();
            }
            written = size;
            extend(&layout, size as u64).unwrap();
            let mut idx = TreeIndex::open(&layout);
            let n = size as u64;
            assert_eq!(
                merkle::subtree_root(&mut idx, 0, n),
                Some(merkle::root(&leaves[..size]))
            );
            for i in [0, n / 2, n - 1] {
                assert_eq!(
                    merkle::inclusion_proof_from(&mut idx, i, n),
                    merkle::inclusion_proof(&leaves[..size], i)
                );
            }
            for old in [1, n / 3 + 1, n] {
                assert_eq!(
                    merkle::consistency_proof_from(&mut idx, old, n),
                    merkle::consistency_proof(&leaves[..size], old)
                );
            }
        }
        // cut back (a crash discarded leaves): nodes past the size are gone
        truncate(&layout, 37).unwrap();
        assert_eq!(nodes_in(&level_path(&layout, 1)), 18);
        assert_eq!(nodes_in(&level_path(&layout, 5)), 1);
        assert_eq!(nodes_in(&level_path(&layout, 6)), 0);
    }
}

//! RFC 6962 Merkle tree hashing, proofs and proof verification (SHA-256).
//!
//! Leaf hash `SHA-256(0x00 ‖ data)`, node hash `SHA-256(0x01 ‖ left ‖ right)`,
//! empty tree `SHA-256("")` (RFC 6962 §2.1, FORMAT.md §4). Proof generation
//! works over a slice of leaf hashes; verification follows RFC 9162 §2.1.3.2
//! and §2.1.4.2 and needs nothing but the proof, sizes and roots.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Domain-separation prefix of leaf hashes.
pub const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of interior node hashes.
pub const NODE_PREFIX: u8 = 0x01;

/// `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// `SHA-256(a ‖ b)`: the hash chain step (FORMAT.md §3).
pub fn chain_hash(prev: &Hash, leaf_hash: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(leaf_hash);
    h.finalize().into()
}

/// Root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

fn split(n: u64) -> u64 {
    // largest power of two strictly less than n (n >= 2)
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH(D\[n\]) over leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// PATH(index, D\[n\]): the inclusion proof of leaf `index` in the tree made of
/// `leaves`. Panics are impossible: an out-of-range index yields `None`.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Option<Vec<Hash>> {
    if index >= leaves.len() as u64 {
        return None;
    }
    let mut out = Vec::new();
    path(leaves, index as usize, &mut out);
    Some(out)
}

fn path(leaves: &[Hash], m: usize, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n as u64) as usize;
    if m < k {
        path(&leaves[..k], m, out);
        out.push(root(&leaves[k..]));
    } else {
        path(&leaves[k..], m - k, out);
        out.push(root(&leaves[..k]));
    }
}

/// PROOF(m, D\[n\]): the consistency proof between the first `old_size` leaves
/// and all of `leaves`. `None` unless `0 < old_size <= leaves.len()`.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Option<Vec<Hash>> {
    if old_size == 0 || old_size > leaves.len() as u64 {
        return None;
    }
    let mut out = Vec::new();
    subproof(leaves, old_size as usize, true, &mut out);
    Some(out)
}

fn subproof(leaves: &[Hash], m: usize, complete: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete {
            out.push(root(leaves));
        }
        return;
    }
    let k = split(n as u64) as usize;
    if m <= k {
        subproof(&leaves[..k], m, complete, out);
        out.push(root(&leaves[k..]));
    } else {
        subproof(&leaves[k..], m - k, false, out);
        out.push(root(&leaves[..k]));
    }
}

/// A source of complete-subtree hashes: `node(level, index)` is
/// MTH(D[index·2^level, (index+1)·2^level)), the leaf hash at level 0. Such
/// nodes never change as the log grows, so they can be kept on disk and
/// serve proofs for every tree size in O(log n) reads (see `store::tree_index`).
pub trait Nodes {
    /// The node, or `None` when it is not available.
    fn node(&mut self, level: u32, index: u64) -> Option<Hash>;
}

/// MTH(D[start, end)) from complete nodes: O(log n) lookups and hashes.
pub fn subtree_root(nodes: &mut impl Nodes, start: u64, end: u64) -> Option<Hash> {
    let n = end.checked_sub(start)?;
    if n == 0 {
        return Some(empty_root());
    }
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return nodes.node(n.trailing_zeros(), start >> n.trailing_zeros());
    }
    let k = split(n);
    Some(node_hash(
        &subtree_root(nodes, start, start + k)?,
        &subtree_root(nodes, start + k, end)?,
    ))
}

/// PATH(index, D\[size\]) from complete nodes (same hashes, same order as
/// [`inclusion_proof`]).
pub fn inclusion_proof_from(nodes: &mut impl Nodes, index: u64, size: u64) -> Option<Vec<Hash>> {
    if index >= size {
        return None;
    }
    let mut out = Vec::new();
    path_from(nodes, index, 0, size, &mut out)?;
    Some(out)
}

fn path_from(
    nodes: &mut impl Nodes,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Option<()> {
    let n = end - start;
    if n <= 1 {
        return Some(());
    }
    let k = split(n);
    if m < start + k {
        path_from(nodes, m, start, start + k, out)?;
        out.push(subtree_root(nodes, start + k, end)?);
    } else {
        path_from(nodes, m, start + k, end, out)?;
        out.push(subtree_root(nodes, start, start + k)?);
    }
    Some(())
}

/// PROOF(old_size, D\[size\]) from complete nodes (same as
/// [`consistency_proof`]).
pub fn consistency_proof_from(
    nodes: &mut impl Nodes,
    old_size: u64,
    size: u64,
) -> Option<Vec<Hash>> {
    if old_size == 0 || old_size > size {
        return None;
    }
    let mut out = Vec::new();
    subproof_from(nodes, old_size, 0, size, true, &mut out)?;
    Some(out)
}

fn subproof_from(
    nodes: &mut impl Nodes,
    m: u64,
    start: u64,
    end: u64,
    complete: bool,
    out: &mut Vec<Hash>,
) -> Option<()> {
    let n = end - start;
    if m == n {
        if !complete {
            out.push(subtree_root(nodes, start, end)?);
        }
        return Some(());
    }
    let k = split(n);
    if m <= k {
        subproof_from(nodes, m, start, start + k, complete, out)?;
        out.push(subtree_root(nodes, start + k, end)?);
    } else {
        subproof_from(nodes, m - k, start + k, end, false, out)?;
        out.push(subtree_root(nodes, start, start + k)?);
    }
    Some(())
}

/// Complete nodes held in memory, level by level (level 0: the leaves).
impl Nodes for Vec<Vec<Hash>> {
    fn node(&mut self, level: u32, index: u64) -> Option<Hash> {
        self.get(level as usize)?.get(index as usize).copied()
    }
}

/// Every complete node above `leaves`, level by level (level 0: the leaves).
pub fn complete_levels(leaves: Vec<Hash>) -> Vec<Vec<Hash>> {
    let mut levels = vec![leaves];
    while levels.last().is_some_and(|l| l.len() > 1) {
        let next: Vec<Hash> = levels
            .last()
            .map(|l| l.chunks_exact(2).map(|c| node_hash(&c[0], &c[1])).collect())
            .unwrap_or_default();
        levels.push(next);
    }
    levels
}

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// Index or sizes out of range.
    #[error("proof parameters out of range (index {index}, sizes {size1}..{size2})")]
    Range {
        /// Leaf index or old size.
        index: u64,
        /// Old size (consistency) or tree size.
        size1: u64,
        /// New size.
        size2: u64,
    },
    /// The proof has the wrong number of hashes.
    #[error("proof has {got} hashes, expected {want}")]
    Length {
        /// Hashes given.
        got: usize,
        /// Hashes expected.
        want: usize,
    },
    /// The recomputed root differs.
    #[error("recomputed root does not match the checkpoint's root")]
    RootMismatch,
}

fn inclusion_len(index: u64, size: u64) -> usize {
    // The path has one hash per level below the point where the paths to
    // `index` and to the last leaf diverge ("inner"), plus one per left
    // sibling on the right border above it.
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = (index >> inner).count_ones();
    (inner + border) as usize
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::Range {
            index,
            size1: size,
            size2: size,
        });
    }
    let want = inclusion_len(index, size);
    if proof.len() != want {
        return Err(ProofError::Length {
            got: proof.len(),
            want,
        });
    }
    let mut fn_ = index;
    let mut sn = size - 1;
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::RootMismatch);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 || r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof between trees of `size1` and `size2` leaves
/// (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &Hash,
    root2: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    let range = ProofError::Range {
        index: size1,
        size1,
        size2,
    };
    if size1 > size2 {
        return Err(range);
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::Length {
                got: proof.len(),
                want: 0,
            });
        }
        return if root1 == root2 {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if size1 == 0 {
        // Every tree extends the empty tree; the proof must be empty.
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::Length {
                got: proof.len(),
                want: 0,
            })
        };
    }
    if proof.is_empty() {
        return Err(ProofError::Length { got: 0, want: 1 });
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(*root1);
    }
    path.extend_from_slice(proof);
    let mut fn_ = size1 - 1;
    let mut sn = size2 - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut fr = path[0];
    let mut sr = path[0];
    for c in &path[1..] {
        if sn == 0 {
            return Err(ProofError::RootMismatch);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 || fr != *root1 || sr != *root2 {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The right edge of a growing tree: the roots of its perfect subtrees, so
/// the root can be updated per append in O(log n) memory (FORMAT.md §4).
#[derive(Clone, Debug, Default)]
pub struct Frontier {
    size: u64,
    // (height, hash) of perfect subtrees, largest first
    nodes: Vec<(u32, Hash)>,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Number of leaves appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect subtrees, (height, hash), largest first.
    pub fn nodes(&self) -> &[(u32, Hash)] {
        &self.nodes
    }

    /// A frontier from its perfect subtrees, largest first; `None` unless
    /// the heights strictly decrease (they are the binary digits of the size).
    pub fn from_nodes(nodes: Vec<(u32, Hash)>) -> Option<Frontier> {
        let ok = nodes.windows(2).all(|w| w[0].0 > w[1].0) && nodes.iter().all(|(h, _)| *h < 64);
        if !ok {
            return None;
        }
        let size = nodes.iter().map(|(h, _)| 1u64 << h).sum();
        Some(Frontier { size, nodes })
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.push_reporting(leaf, |_, _| {});
    }

    /// Appends one leaf hash and reports each complete subtree it closes,
    /// as (level, node): the nodes a tree index adds for this leaf, in
    /// their order within each level, hashed once for both.
    pub fn push_reporting(&mut self, leaf: Hash, mut closed: impl FnMut(u32, Hash)) {
        let mut h = 0u32;
        let mut cur = leaf;
        while let Some(&(lh, left)) = self.nodes.last() {
            if lh != h {
                break;
            }
            self.nodes.pop();
            cur = node_hash(&left, &cur);
            h += 1;
            closed(h, cur);
        }
        self.nodes.push((h, cur));
        self.size += 1;
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        let Some(&(_, mut acc)) = it.next() else {
            return empty_root();
        };
        for (_, left) in it {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_from_complete_nodes_match_rfc6962_paths() {
        for n in 1..70u64 {
            let leaves: Vec<Hash> = (0..n as u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            let mut levels = complete_levels(leaves.clone());
            assert_eq!(
                subtree_root(&mut levels, 0, n),
                Some(root(&leaves)),
                "root of {n}"
            );
            for i in 0..n {
                assert_eq!(
                    inclusion_proof_from(&mut levels, i, n),
                    inclusion_proof(&leaves, i),
                    "path {i} of {n}"
                );
                // the same nodes serve every smaller tree
                assert_eq!(
                    inclusion_proof_from(&mut levels, i / 2, i + 1),
                    inclusion_proof(&leaves[..i as usize + 1], i / 2)
                );
            }
            for old in 1..=n {
                assert_eq!(
                    consistency_proof_from(&mut levels, old, n),
                    consistency_proof(&leaves, old),
                    "consistency {old} to {n}"
                );
            }
            assert_eq!(inclusion_proof_from(&mut levels, n, n), None);
            assert_eq!(consistency_proof_from(&mut levels, 0, n), None);
        }
        assert_eq!(
            subtree_root(&mut complete_levels(vec![]), 0, 0),
            Some(empty_root())
        );
    }

    #[test]
    fn frontier_matches_recursive_root() {
        let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut f = Frontier::new();
        assert_eq!(f.root(), empty_root());
        for (i, l) in leaves.iter().enumerate() {
            f.push(*l);
            assert_eq!(f.root(), root(&leaves[..=i]), "size {}", i + 1);
        }
    }
}

//! RFC 6962 hashing and proofs against published test vectors
//! (fixtures/vectors/rfc6962.json), their tampered variants, and proptest
//! round trips.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use proptest::prelude::*;
use sealtrail::tlog::merkle::{self, Hash};

fn h(s: &serde_json::Value) -> Hash {
    B64.decode(s.as_str().unwrap()).unwrap().try_into().unwrap()
}

fn hashes(v: &serde_json::Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(h).collect()
}

fn vectors() -> serde_json::Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/vectors/rfc6962.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn leaves() -> Vec<Hash> {
    vectors()["leaves_hex"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| merkle::leaf_hash(&hex::decode(l.as_str().unwrap()).unwrap()))
        .collect()
}

#[test]
fn roots_match_reference_tree() {
    let v = vectors();
    let leaves = leaves();
    for (size, root) in v["roots"].as_object().unwrap() {
        let n: usize = size.parse().unwrap();
        assert_eq!(merkle::root(&leaves[..n]), h(root), "root of size {n}");
    }
    assert_eq!(
        hex::encode(merkle::empty_root()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

/// The happy path verifies; every single-bit flip, a wrong index, a wrong
/// size, a dropped or an extra hash, and a swapped root fail.
#[test]
fn inclusion_vectors_and_tampered_variants() {
    let leaves = leaves();
    for c in vectors()["inclusion"].as_array().unwrap() {
        let idx = c["leafIdx"].as_u64().unwrap();
        let size = c["treeSize"].as_u64().unwrap();
        let root = h(&c["root"]);
        let leaf = h(&c["leafHash"]);
        let proof = hashes(&c["proof"]);
        merkle::verify_inclusion(idx, size, &leaf, &proof, &root).unwrap();
        assert_eq!(
            merkle::inclusion_proof(&leaves[..size as usize], idx).unwrap(),
            proof,
            "generated proof equals the vector"
        );
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i][0] ^= 0x10;
            assert!(
                merkle::verify_inclusion(idx, size, &leaf, &bad, &root).is_err(),
                "modified proof[{i}]"
            );
        }
        assert!(
            merkle::verify_inclusion(idx + 1, size, &leaf, &proof, &root).is_err(),
            "index + 1"
        );
        assert!(
            merkle::verify_inclusion(idx, size * 2, &leaf, &proof, &root).is_err(),
            "size * 2"
        );
        assert!(
            merkle::verify_inclusion(idx, size, &root, &proof, &root).is_err(),
            "wrong leaf"
        );
        let mut longer = proof.clone();
        longer.push(leaf);
        assert!(
            merkle::verify_inclusion(idx, size, &leaf, &longer, &root).is_err(),
            "trailing garbage"
        );
        assert!(
            merkle::verify_inclusion(idx, size, &leaf, &proof[..proof.len() - 1], &root).is_err(),
            "truncated"
        );
        assert!(
            merkle::verify_inclusion(idx, size, &leaf, &proof, &leaf).is_err(),
            "wrong root"
        );
    }
}

#[test]
fn consistency_vectors_and_tampered_variants() {
    let leaves = leaves();
    for c in vectors()["consistency"].as_array().unwrap() {
        let s1 = c["size1"].as_u64().unwrap();
        let s2 = c["size2"].as_u64().unwrap();
        let (r1, r2) = (h(&c["root1"]), h(&c["root2"]));
        let proof = hashes(&c["proof"]);
        merkle::verify_consistency(s1, s2, &r1, &r2, &proof).unwrap();
        assert_eq!(
            merkle::consistency_proof(&leaves[..s2 as usize], s1).unwrap(),
            proof
        );
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i][0] ^= 0x10;
            assert!(
                merkle::verify_consistency(s1, s2, &r1, &r2, &bad).is_err(),
                "modified proof[{i}]"
            );
        }
        assert!(
            merkle::verify_consistency(s1, s2, &r2, &r1, &proof).is_err(),
            "swapped roots"
        );
        assert!(
            merkle::verify_consistency(s1 + 1, s2, &r1, &r2, &proof).is_err(),
            "size1 + 1"
        );
        assert!(
            merkle::verify_consistency(s1, s2 * 2, &r1, &r2, &proof).is_err(),
            "size2 * 2"
        );
        let mut longer = vec![r1];
        longer.extend(proof.iter().copied());
        assert!(
            merkle::verify_consistency(s1, s2, &r1, &r2, &longer).is_err(),
            "preceding garbage"
        );
    }
}

fn tree(n: usize) -> Vec<Hash> {
    (0..n as u32)
        .map(|i| merkle::leaf_hash(&i.to_le_bytes()))
        .collect()
}

proptest! {
    #[test]
    fn inclusion_round_trip(size in 1usize..300, seed in any::<u64>()) {
        let leaves = tree(size);
        let idx = seed % size as u64;
        let root = merkle::root(&leaves);
        let proof = merkle::inclusion_proof(&leaves, idx).unwrap();
        prop_assert!(merkle::verify_inclusion(idx, size as u64, &leaves[idx as usize], &proof, &root).is_ok());
        let other = (idx + 1) % size as u64;
        if other != idx {
            prop_assert!(merkle::verify_inclusion(other, size as u64, &leaves[idx as usize], &proof, &root).is_err());
        }
    }

    #[test]
    fn consistency_round_trip(size in 1usize..300, seed in any::<u64>()) {
        let leaves = tree(size);
        let old = 1 + seed % size as u64;
        let proof = merkle::consistency_proof(&leaves, old).unwrap();
        let r1 = merkle::root(&leaves[..old as usize]);
        let r2 = merkle::root(&leaves);
        prop_assert!(merkle::verify_consistency(old, size as u64, &r1, &r2, &proof).is_ok());
        if old < size as u64 {
            let wrong = merkle::root(&leaves[..old as usize - 1]);
            prop_assert!(merkle::verify_consistency(old, size as u64, &wrong, &r2, &proof).is_err());
        }
    }
}

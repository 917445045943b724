//! The text formats an auditor or attacker can hand us: leaves, signed
//! notes, checkpoints, tlog-proofs, manifests and keys.
#![no_main]
use libfuzzer_sys::fuzz_target;

thread_local! {
    /// One record every input is read into, as a seal and `verify` read a
    /// segment's leaves: what it held before must never show through.
    static REUSED: std::cell::RefCell<sealtrail::model::Record> = Default::default();
}

fuzz_target!(|data: &[u8]| {
    let fresh = sealtrail::model::Record::from_leaf(data).ok().map(|mut r| {
        r.raw = None;
        r.raw_b64 = None;
        r
    });
    REUSED.with(|r| {
        let mut r = r.borrow_mut();
        let again = r.read_leaf_without_raw(data).ok().map(|()| r.clone());
        assert_eq!(again, fresh, "a leaf read into a used record reads as a fresh one");
    });
    // the leaf writer writes exactly what serde_json writes, for any record
    // serde reads (whatever its strings hold)
    if let Ok(rec) = serde_json::from_slice::<sealtrail::model::Record>(data) {
        if let Ok(by_serde) = serde_json::to_vec(&rec) {
            assert_eq!(rec.to_leaf(), by_serde, "the leaf writer writes serde's bytes");
        }
    }
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(n) = sealtrail::tlog::Note::parse(s) {
        let _ = n.verify(&[]);
    }
    let _ = sealtrail::tlog::Checkpoint::parse_body(s);
    if let Ok(sealtrail::tlog::proof::ProofText::Inclusion { index, hashes, .. }) = sealtrail::tlog::proof::parse(s) {
        let _ = sealtrail::tlog::merkle::verify_inclusion(index, index.saturating_add(1), &[0; 32], &hashes, &[0; 32]);
    }
    let _ = sealtrail::store::manifest::Manifest::parse_body(s);
    let _ = sealtrail::tlog::Verifier::parse(s);
    let _ = sealtrail::tlog::Signer::parse(s);
});

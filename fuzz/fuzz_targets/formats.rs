//! The text formats an auditor or attacker can hand us: leaves, signed
//! notes, checkpoints, tlog-proofs, manifests and keys.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sealtrail::model::Record::from_leaf(data);
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

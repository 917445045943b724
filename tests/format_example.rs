//! The worked example of docs/FORMAT.md §12 is computed here and must appear
//! in the document verbatim, so the spec and the code cannot drift apart.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sealtrail::model::{Kind, Record, Ts};
use sealtrail::tlog::merkle::{self, chain_hash, leaf_hash};
use sealtrail::tlog::{Checkpoint, Signer};

fn example_leaves() -> Vec<Record> {
    let t = |s: &str| Ts::parse_rfc3339(s).unwrap();
    let ing = t("2026-04-01T00:00:00Z");
    let mut d = Record::new(Kind::Delivery, t("2026-03-31T14:05:09.123456Z"), "postfix");
    d.ingested_at = Some(ing);
    d.source_event_id = Some("4F9D12A3B:bob@clinic.example:delivered".into());
    d.message_id = Some("<a1@hospital.example>".into());
    d.sender = Some("records@hospital.example".into());
    d.recipient = Some("bob@clinic.example".into());
    d.status = Some("delivered".into());
    d.encryption = Some("tls".into());
    d.tls_version = Some("TLSv1.3".into());
    d.tls_peer = Some("verified".into());
    let mut a = Record::new(Kind::Auth, t("2026-03-31T14:06:00Z"), "okta");
    a.ingested_at = Some(ing);
    a.source_event_id = Some("okta-uuid-1".into());
    a.user = Some("nurse1@hospital.example".into());
    a.outcome = Some("success".into());
    a.mfa = Some(true);
    a.factor = Some("webauthn".into());
    a.phishing_resistant = Some(true);
    let mut x = Record::new(Kind::Disclosure, t("2026-03-31T15:00:00Z"), "disclosures");
    x.ingested_at = Some(ing);
    x.source_event_id = Some("roi-77".into());
    x.patient_id = Some("MRN-0001".into());
    x.recipient_name = Some("County Health Department".into());
    x.description = Some("lab result".into());
    x.purpose = Some("notifiable disease report".into());
    x.basis = Some("public_health".into());
    let mut out = vec![d, a, x];
    for r in &mut out {
        r.derive();
        r.validate().unwrap();
    }
    out
}

/// Renders the example as it appears in FORMAT.md.
fn render() -> String {
    let signer = Signer::from_seed("example.org/sealtrail", [0x42; 32]).unwrap();
    let mut s = String::new();
    let mut chain = [0u8; 32];
    let mut hashes = Vec::new();
    for (i, r) in example_leaves().iter().enumerate() {
        let leaf = r.to_leaf();
        let lh = leaf_hash(&leaf);
        chain = chain_hash(&chain, &lh);
        hashes.push(lh);
        s.push_str(&format!(
            "leaf {i}:\n{}\nleaf_hash {i}: {}\nchain {i}:     {}\n\n",
            String::from_utf8(leaf).unwrap(),
            hex::encode(lh),
            hex::encode(chain)
        ));
    }
    let n01 = merkle::node_hash(&hashes[0], &hashes[1]);
    let root = merkle::root(&hashes);
    s.push_str(&format!(
        "node(0,1):   {}\nroot:        {} = node(node(0,1), leaf_hash 2)\nroot base64: {}\n\n",
        hex::encode(n01),
        hex::encode(root),
        B64.encode(root)
    ));
    let cp = Checkpoint {
        origin: "example.org/sealtrail".into(),
        size: 3,
        root,
    };
    s.push_str(&format!(
        "verifier key: {}\n\n",
        signer.verifier().to_vkey_string()
    ));
    s.push_str(&signer.sign_note(&cp.body()).unwrap());
    s
}

#[test]
fn format_md_holds_the_computed_example() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md")).unwrap();
    let example = render();
    if std::env::var_os("PRINT_FORMAT_EXAMPLE").is_some() {
        println!("{example}");
    }
    assert!(
        doc.contains(&example),
        "docs/FORMAT.md §12 is out of date; regenerate with PRINT_FORMAT_EXAMPLE=1 cargo test --test format_example -- --nocapture"
    );
}

//! Independence check: the checkpoint's and the manifest's signatures verify
//! with the system `openssl` binary, not only with our code.

mod common;

use std::fs;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Env, fixture};

fn openssl_verifies(env: &Env, note_path: &std::path::Path) -> bool {
    let note = fs::read_to_string(note_path).unwrap();
    let (text, sigs) = note.split_once("\n\n").unwrap();
    let body = format!("{text}\n");
    let b64 = sigs.lines().next().unwrap().rsplit(' ').next().unwrap();
    let raw = B64.decode(b64).unwrap();
    let dir = env.dir.path();
    fs::write(dir.join("body.txt"), body).unwrap();
    fs::write(dir.join("sig.bin"), &raw[4..]).unwrap();
    let o = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(env.pem())
        .args(["-rawin", "-in"])
        .arg(dir.join("body.txt"))
        .arg("-sigfile")
        .arg(dir.join("sig.bin"))
        .output()
        .expect("openssl must be installed (.ci/run installs it)");
    String::from_utf8_lossy(&o.stdout).contains("Signature Verified Successfully")
        && o.status.success()
}

#[test]
fn checkpoint_and_manifest_verify_with_openssl() {
    let env = Env::new();
    assert!(
        env.ingest(&["--source", "jsonl"], &[&fixture("jsonl/events.jsonl")])
            .status
            .success()
    );
    let cp = env.store().join("checkpoint");
    assert!(openssl_verifies(&env, &cp));
    let size = fs::read_to_string(&cp)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert!(openssl_verifies(
        &env,
        &env.store().join(format!("manifests/{size:020}.note"))
    ));
    // and a changed body does not
    let text =
        fs::read_to_string(&cp)
            .unwrap()
            .replacen(&size.to_string(), &(size + 1).to_string(), 1);
    let forged = env.dir.path().join("forged");
    fs::write(&forged, text).unwrap();
    assert!(!openssl_verifies(&env, &forged));
}

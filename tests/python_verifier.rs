//! The independent Python verifier of docs/VERIFYING.md (cryptography +
//! pyarrow, no sealtrail code) accepts a clean store and rejects a tampered
//! one. `.ci/run` installs both Python packages.

mod common;

use std::process::Command;

use common::{Env, fixture, repo};

fn python_verify(env: &Env) -> (bool, String) {
    let o = Command::new("python3")
        .arg(repo().join("docs/verifiers/verify_store.py"))
        .arg(env.store())
        .arg(env.vkey())
        .output()
        .expect("python3");
    let out = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(
        !out.contains("ModuleNotFoundError"),
        "install cryptography and pyarrow (.ci/run does): {out}"
    );
    (o.status.success(), out)
}

#[test]
fn python_verifier_agrees_with_ours() {
    let env = Env::new();
    assert!(
        env.ingest(
            &["--source", "jsonl", "--seal-every", "20"],
            &[&fixture("jsonl/events.jsonl")]
        )
        .status
        .success()
    );
    let (ok, out) = python_verify(&env);
    assert!(ok, "{out}");
    assert!(out.starts_with("OK: test.example/log tree size "), "{out}");
    // flip one byte of the checkpoint's root: the signature no longer verifies
    let cp = env.store().join("checkpoint");
    let text = std::fs::read_to_string(&cp).unwrap();
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    lines[2] = lines[2].replacen(
        &lines[2][..1].to_string(),
        if &lines[2][..1] == "A" { "B" } else { "A" },
        1,
    );
    std::fs::write(&cp, lines.join("\n")).unwrap();
    let (ok, out) = python_verify(&env);
    assert!(!ok, "a forged checkpoint must fail: {out}");
    assert!(out.contains("InvalidSignature"), "{out}");
}

/// A store whose small segments were merged (FORMAT.md §8.1) is just as
/// verifiable with tools we did not write.
#[test]
fn python_verifier_accepts_a_merged_store() {
    let env = Env::new();
    let merging = common::small_seals_merged("jsonl");
    assert!(
        env.ingest(&merging, &[&fixture("jsonl/events.jsonl")])
            .status
            .success()
    );
    let files = std::fs::read_dir(env.store().join("segments"))
        .unwrap()
        .count();
    assert!(files <= 3, "{files} segment files after merging");
    let (ok, out) = python_verify(&env);
    assert!(ok, "{out}");
    assert!(
        out.starts_with(&format!(
            "OK: test.example/log tree size {}",
            common::tree_size(&env.store())
        )),
        "{out}"
    );
}

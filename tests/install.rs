//! The artifact users install (`.ci/dist`) works with the checkout out of
//! reach: its `libduckdb.so` is found beside it, `queries/` and `reports/`
//! are built in, and every `--out` may be a bare file name. Its systemd unit
//! passes `systemd-analyze verify`.
//!
//! The checkout is hidden, not renamed (other tests run from it meanwhile):
//! each command runs in a private mount namespace with an empty tmpfs over
//! the checkout (`unshare --mount --map-root-user`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// Packages the binary the tests built with `.ci/dist --binary` and unpacks
/// the tarball under `root`; returns the installed prefix.
fn install(root: &Path) -> PathBuf {
    let dist = root.join("dist");
    let out = Command::new(Path::new(REPO).join(".ci/dist"))
        .arg("--binary")
        .arg(env!("CARGO_BIN_EXE_sealtrail"))
        .arg("--out")
        .arg(&dist)
        .output()
        .expect("run .ci/dist");
    assert!(
        out.status.success(),
        ".ci/dist failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tarball = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string());
    assert!(tarball.is_file(), "no tarball at {}", tarball.display());
    let opt = root.join("opt");
    std::fs::create_dir_all(&opt).unwrap();
    let st = Command::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&opt)
        .status()
        .unwrap();
    assert!(st.success());
    let name = tarball
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_end_matches(".tar.gz")
        .to_string();
    opt.join(name)
}

/// Runs the installed `sealtrail` with `args` in `cwd`, the checkout hidden
/// under an empty tmpfs.
fn hidden(prefix: &Path, cwd: &Path, args: &[&str]) -> Output {
    let script = r#"repo="$1"; shift; mount -t tmpfs none "$repo" || exit 97
test -e "$repo/Cargo.toml" && exit 98
exec "$@""#;
    let out = Command::new("unshare")
        .args(["--mount", "--map-root-user", "sh", "-c", script, "sh", REPO])
        .arg(prefix.join("bin/sealtrail"))
        .args(args)
        .current_dir(cwd)
        .env_remove("DUCKDB_LIB_DIR")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("run unshare (util-linux)");
    assert_ne!(
        out.status.code(),
        Some(97),
        "could not hide the checkout: this test needs unprivileged mount namespaces"
    );
    assert_ne!(out.status.code(), Some(98), "the checkout is still visible");
    out
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn the_installed_artifact_runs_with_the_checkout_hidden() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = install(tmp.path());
    let work = tmp.path().join("work");
    std::fs::create_dir_all(work.join("in")).unwrap();
    for f in [
        "postfix/maillog-20251231",
        "disclosures/roi-export.csv",
        "okta/system-log.json",
    ] {
        let src = Path::new(REPO).join("fixtures").join(f);
        std::fs::copy(&src, work.join("in").join(src.file_name().unwrap())).unwrap();
    }
    let inputs: Vec<String> = std::fs::read_dir(work.join("in"))
        .unwrap()
        .map(|e| format!("in/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();

    // the library it loads is the one it ships with
    let ldd = Command::new("ldd")
        .arg(prefix.join("bin/sealtrail"))
        .output()
        .unwrap();
    let ldd = String::from_utf8_lossy(&ldd.stdout);
    let want = prefix.join("lib/libduckdb.so");
    let line = ldd
        .lines()
        .find(|l| l.contains("libduckdb.so"))
        .unwrap_or("");
    let found = line.split("=>").nth(1).unwrap_or("").trim();
    let found = found.split(" (").next().unwrap_or("");
    assert_eq!(
        std::fs::canonicalize(found).ok(),
        std::fs::canonicalize(&want).ok(),
        "{line}"
    );

    let run = |args: &[&str]| hidden(&prefix, &work, args);
    ok(
        &run(&["keygen", "--name", "install.example/log", "--out", "keys"]),
        "keygen",
    );
    let mut ingest = vec![
        "ingest",
        "--store",
        "store",
        "--key",
        "keys/install.example_log.key",
    ];
    ingest.extend(inputs.iter().map(String::as_str));
    ok(&run(&ingest), "ingest");
    let v = ok(
        &run(&[
            "verify",
            "--store",
            "store",
            "--vkey",
            "keys/install.example_log.vkey",
        ]),
        "verify",
    );
    assert!(v.contains("OK:"), "{v}");
    // a bare file name for --out, in every command that writes one
    ok(
        &run(&[
            "pack",
            "--store",
            "store",
            "--vkey",
            "keys/install.example_log.vkey",
            "--key",
            "keys/install.example_log.key",
            "--from",
            "2025-01-01",
            "--to",
            "2026-12-31",
            "--out",
            "pack.zip",
        ]),
        "pack",
    );
    assert!(work.join("pack.zip").is_file());
    let req = ok(
        &run(&[
            "accounting",
            "request",
            "--store",
            "store",
            "--key",
            "keys/install.example_log.key",
            "--patient",
            "MRN-00101",
        ]),
        "accounting request",
    );
    let id = req
        .split_whitespace()
        .find(|w| w.starts_with("AR-"))
        .map(|w| w.trim_end_matches(':').to_string())
        .unwrap_or_else(|| panic!("no request id in: {req}"));
    ok(
        &run(&[
            "accounting",
            "fulfil",
            "--store",
            "store",
            "--key",
            "keys/install.example_log.key",
            "--request",
            &id,
            "--out",
            "sent",
        ]),
        "accounting fulfil",
    );
    assert!(work.join("sent/accounting-letter.pdf").is_file());
    ok(
        &run(&[
            "accounting",
            "show",
            "--store",
            "store",
            "--vkey",
            "keys/install.example_log.vkey",
            "--patient",
            "MRN-00101",
            "--as-of",
            "2026-06-30",
            "--format",
            "pdf",
            "--out",
            "letter.pdf",
        ]),
        "accounting show --format pdf --out letter.pdf",
    );
    let pdf = std::fs::read(work.join("letter.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    ok(
        &run(&[
            "export",
            "--store",
            "store",
            "--vkey",
            "keys/install.example_log.vkey",
            "--format",
            "ocsf",
            "--out",
            "events.jsonl",
        ]),
        "export",
    );
    assert!(work.join("events.jsonl").is_file());

    // the pack ships the built-in SQL, byte for byte the checkout's
    let zip = std::fs::File::open(work.join("pack.zip")).unwrap();
    let mut zip = zip::ZipArchive::new(zip).unwrap();
    let mut shipped = 0;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let name = f.name().expect("entry name").to_string();
        if let Some(q) = name.strip_prefix("evidence-pack/queries/") {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut f, &mut text).unwrap();
            let want = std::fs::read_to_string(Path::new(REPO).join("queries").join(q)).unwrap();
            assert_eq!(text, want, "{name}");
            shipped += 1;
        }
    }
    assert!(shipped > 10, "{shipped} query files in the pack");
}

#[test]
fn the_systemd_unit_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = install(tmp.path());
    let unit = prefix.join("share/sealtrail/sealtrail.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains("ExecStart=/opt/sealtrail/bin/sealtrail serve"));
    // the unit as installed under this prefix (verify checks ExecStart exists)
    let here = tmp.path().join("sealtrail.service");
    std::fs::write(
        &here,
        text.replace("/opt/sealtrail", &prefix.to_string_lossy()),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&here)
        .output()
        .expect("systemd-analyze (Debian package systemd; .ci/run installs it)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // unknown or misspelt settings are only warnings: none may appear
    assert!(err.trim().is_empty(), "systemd-analyze warned:\n{err}");
}

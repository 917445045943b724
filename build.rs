//! Fetches, pins and links the official prebuilt DuckDB 1.5.6 library.
//!
//! Compiling DuckDB from source takes about an hour on two cores, so by default
//! sealtrail links the official `libduckdb.so` shipped in the npm package
//! `@duckdb/node-bindings-linux-x64@1.5.6-r.1`. `.cargo/config.toml` points
//! `DUCKDB_LIB_DIR` (read by duckdb-rs) at `.duckdb/1.5.6/`; this script fills
//! that directory on the first build, checks the tarball against a pinned
//! SHA-256, and adds an rpath so the binary, tests and benches find the library
//! at run time without `LD_LIBRARY_PATH`: first `$ORIGIN/../lib` (where an
//! installed artifact from `.ci/dist` keeps it), then the checkout's copy. The `bundled` feature skips all of
//! this and compiles DuckDB from source instead.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARBALL_URL: &str = "https://registry.npmjs.org/@duckdb/node-bindings-linux-x64/-/node-bindings-linux-x64-1.5.6-r.1.tgz";
const TARBALL_SHA256: &str = "1b9f82478539bb9a1d1df44bd103121a12ae52142c07158dc52b97d2ec1d69ff";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if std::env::var_os("CARGO_FEATURE_BUNDLED").is_some() {
        return;
    }
    let Some(dir) = std::env::var_os("DUCKDB_LIB_DIR").map(PathBuf::from) else {
        panic!(
            "DUCKDB_LIB_DIR is not set: build from the repository root (its .cargo/config.toml sets it), \
             set it to a directory holding libduckdb.so 1.5.6, or build with --features bundled"
        );
    };
    let lib = dir.join("libduckdb.so");
    if !lib.exists()
        && let Err(e) = fetch(&dir)
    {
        panic!(
            "could not fetch the prebuilt DuckDB library into {}: {e}\n\
                 Download {TARBALL_URL} by hand, check its SHA-256 is {TARBALL_SHA256}, \
                 extract package/libduckdb.so into that directory, or build with --features bundled",
            dir.display()
        );
    }
    println!("cargo:rerun-if-changed={}", lib.display());
    // An installed binary finds the library it ships with (`.ci/dist`:
    // bin/sealtrail beside lib/libduckdb.so) before the checkout's, so
    // moving or deleting the checkout breaks nothing; a binary run from
    // target/ has neither and uses the checkout's.
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/../lib");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
}

fn fetch(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create directory: {e}"))?;
    // several packages run this script, perhaps at once: each works in its own
    // files and moves the library into place by one rename
    let tgz = dir.join(format!(
        "duckdb-node-bindings.tgz.part.{}",
        std::process::id()
    ));
    run(Command::new("curl")
        .args(["-sSfL", "--retry", "3", "-o"])
        .arg(&tgz)
        .arg(TARBALL_URL))?;
    let out = Command::new("sha256sum")
        .arg(&tgz)
        .output()
        .map_err(|e| format!("run sha256sum: {e}"))?;
    let sum = String::from_utf8_lossy(&out.stdout);
    let sum = sum.split_whitespace().next().unwrap_or("");
    if sum != TARBALL_SHA256 {
        let _ = std::fs::remove_file(&tgz);
        return Err(format!(
            "tarball SHA-256 is {sum}, expected {TARBALL_SHA256}; refusing to link it"
        ));
    }
    let staging = dir.join(format!("staging.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| format!("create staging: {e}"))?;
    run(Command::new("tar")
        .arg("xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(&staging)
        .arg("package/libduckdb.so")
        .arg("package/LICENSE"))?;
    for (from, to) in [
        ("libduckdb.so", "libduckdb.so"),
        ("LICENSE", "LICENSE.duckdb"),
    ] {
        std::fs::rename(staging.join("package").join(from), dir.join(to))
            .map_err(|e| format!("move {from} into place: {e}"))?;
    }
    let _ = std::fs::remove_dir_all(&staging);
    let _ = std::fs::remove_file(&tgz);
    Ok(())
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("run {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{:?} failed with {status}", cmd.get_program()))
    }
}

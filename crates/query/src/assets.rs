//! The `queries/` and `reports/` files built into the binary, so an
//! installed `sealtrail` runs from anywhere; `--queries DIR` and
//! `--reports DIR` (or the server's `queries`/`reports` settings) still
//! replace them with a directory.
//!
//! The built-in directories are named [`QUERIES`] (`builtin:queries`) and
//! [`REPORTS`] (`builtin:reports`); every loader reads through
//! [`read_to_string`], which serves a path under one of them from the table
//! below and any other path from the file system. A test holds the table to
//! the directories' contents, so a file added there and not here fails it.

use std::path::Path;

/// The built-in `queries/` directory.
pub const QUERIES: &str = "builtin:queries";
/// The built-in `reports/` directory.
pub const REPORTS: &str = "builtin:reports";

macro_rules! builtin {
    ($($dir:literal / $file:literal),* $(,)?) => {
        /// Every built-in file: (`builtin:<dir>/<file>`, contents).
        pub const FILES: &[(&str, &str)] = &[
            $((concat!("builtin:", $dir, "/", $file),
               include_str!(concat!("../../../", $dir, "/", $file)))),*
        ];
    };
}

builtin![
    "queries" / "accounting_entries.sql",
    "queries" / "accounting_request_log.sql",
    "queries" / "accounting_requests.sql",
    "queries" / "audit_after_hours.sql",
    "queries" / "audit_coverage.sql",
    "queries" / "audit_evidence_reads.sql",
    "queries" / "audit_quarantine.sql",
    "queries" / "audit_unusual_volume.sql",
    "queries" / "auth_by_factor.sql",
    "queries" / "auth_mfa_fatigue.sql",
    "queries" / "auth_single_factor_users.sql",
    "queries" / "auth_summary.sql",
    "queries" / "auth_weekly.sql",
    "queries" / "console_recent_by_source.sql",
    "queries" / "disclosures_by_basis.sql",
    "queries" / "pack_coverage_running.sql",
    "queries" / "training_overdue.sql",
    "queries" / "training_summary.sql",
    "queries" / "training_untrained_active.sql",
    "queries" / "transmission_by_domain.sql",
    "queries" / "transmission_by_method.sql",
    "queries" / "transmission_evidence_gaps.sql",
    "queries" / "transmission_findings.sql",
    "queries" / "transmission_summary.sql",
    "queries" / "transmission_weekly.sql",
    "queries" / "views.sql",
    "reports" / "accounting.toml",
    "reports" / "pack.toml",
];

/// Whether `dir` names a built-in directory rather than one on disk.
pub fn is_builtin(dir: &Path) -> bool {
    dir.to_str().is_some_and(|d| d.starts_with("builtin:"))
}

/// The text of `path`: from the built-in table when it lies under
/// [`QUERIES`] or [`REPORTS`] (not found: `NotFound`), else from disk.
pub fn read_to_string(path: &Path) -> std::io::Result<String> {
    if !is_builtin(path) {
        return std::fs::read_to_string(path);
    }
    let key = path.to_str();
    FILES
        .iter()
        .find(|(name, _)| Some(*name) == key)
        .map(|(_, text)| text.to_string())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not a built-in file; pass --queries/--reports with a directory holding it",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table is exactly the checkout's `queries/*.sql` and
    /// `reports/*.toml`, byte for byte.
    #[test]
    fn the_builtin_table_is_the_checkouts_directories() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut on_disk = Vec::new();
        for (dir, ext) in [("queries", "sql"), ("reports", "toml")] {
            for e in std::fs::read_dir(root.join(dir)).expect("directory") {
                let p = e.expect("entry").path();
                if p.extension().is_some_and(|x| x == ext) {
                    let name = p.file_name().expect("name").to_string_lossy().to_string();
                    on_disk.push((
                        format!("builtin:{dir}/{name}"),
                        std::fs::read_to_string(&p).expect("read"),
                    ));
                }
            }
        }
        on_disk.sort();
        let mut built: Vec<(String, String)> = FILES
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        built.sort();
        let names = |v: &[(String, String)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&built), names(&on_disk), "add the file to assets.rs");
        assert_eq!(built, on_disk);
        assert!(read_to_string(Path::new("builtin:queries/nope.sql")).is_err());
    }
}

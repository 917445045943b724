//! The verified state (FORMAT.md §10.1): what a clean verification proved,
//! written outside the store so that the next verification re-checks row by
//! row only the segments sealed since.
//!
//! The state is a plain text file, never signed: nothing in it is taken on
//! trust that the store's signatures can check instead. Its Merkle frontier
//! must reproduce a root that a signed checkpoint of the store carries; the
//! segments it lists must be exactly the signed manifest's first entries and
//! their files must still hash to the SHA-256 that manifest signs. What the
//! state alone vouches for is that those bytes, whose signer is proven, were
//! once read row by row (leaf hashes, chain, columns) and found consistent.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use sealtrail_format::model::Ts;
use sealtrail_format::tlog::Hash;
use sealtrail_store::manifest::SegmentEntry;

/// First line of a verified-state file.
pub const HEADER: &str = "sealtrail.dev/verified@v1";

const HOUR_MICROS: i64 = 3_600_000_000;

/// What one clean verification proved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedState {
    /// Log origin.
    pub origin: String,
    /// Tree size verified.
    pub size: u64,
    /// Root at that size (the latest checkpoint's at the time).
    pub root: Hash,
    /// When that verification ran (informational only).
    pub verified_at: Ts,
    /// The RFC 6962 frontier at `size`: (height, hash) of the perfect
    /// subtrees, largest first.
    pub frontier: Vec<(u32, Hash)>,
    /// Every checkpoint (kept, latest or trusted) found consistent, by size.
    pub checkpoints: BTreeMap<u64, Hash>,
    /// The segments read row by row, in leaf order, together `[0, size)`.
    pub segments: Vec<SegmentEntry>,
    /// Coverage windows' starts (microseconds since the epoch), per source;
    /// written as runs one hour apart.
    pub coverage: BTreeMap<String, BTreeSet<i64>>,
}

impl VerifiedState {
    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{HEADER}\norigin {}\nsize {}\nroot {}\nverified-at {}\n",
            self.origin,
            self.size,
            B64.encode(self.root),
            self.verified_at
        );
        for (h, n) in &self.frontier {
            let _ = writeln!(s, "frontier {h} {}", B64.encode(n));
        }
        for (size, root) in &self.checkpoints {
            let _ = writeln!(s, "checkpoint {size} {}", B64.encode(root));
        }
        for e in &self.segments {
            let _ = writeln!(s, "{}", e.line());
        }
        for (source, hours) in &self.coverage {
            // runs of consecutive hours: a few lines per source, not one per hour
            let mut it = hours.iter().copied();
            let Some(mut start) = it.next() else {
                continue;
            };
            let mut end = start;
            for h in it {
                if h == end + HOUR_MICROS {
                    end = h;
                } else {
                    let _ = writeln!(s, "coverage {start} {end} {source}");
                    start = h;
                    end = h;
                }
            }
            let _ = writeln!(s, "coverage {start} {end} {source}");
        }
        s
    }

    /// Parses the file's text; the error names the first line that is wrong.
    pub fn parse(text: &str) -> Result<VerifiedState, String> {
        if text.split_terminator('\n').next() != Some(HEADER) {
            return Err(format!("line 1: not `{HEADER}`"));
        }
        let mut lines = text.split_terminator('\n').enumerate().skip(1);
        let mut next = |key: &str| -> Result<String, String> {
            match lines.next() {
                Some((_, l))
                    if l.starts_with(key) && l.as_bytes().get(key.len()) == Some(&b' ') =>
                {
                    Ok(l[key.len() + 1..].to_string())
                }
                Some((i, _)) => Err(format!("line {}: expected `{key}`", i + 1)),
                None => Err(format!("ends before `{key}`")),
            }
        };
        let hash = |s: &str| -> Option<Hash> { B64.decode(s).ok()?.try_into().ok() };
        let origin = next("origin")?;
        let size = next("size")?.parse().map_err(|_| "the size".to_string())?;
        let root = hash(&next("root")?).ok_or("the root")?;
        let verified_at = Ts::parse_rfc3339(&next("verified-at")?).ok_or("verified-at")?;
        let mut st = VerifiedState {
            origin,
            size,
            root,
            verified_at,
            frontier: Vec::new(),
            checkpoints: BTreeMap::new(),
            segments: Vec::new(),
            coverage: BTreeMap::new(),
        };
        for (i, l) in lines {
            let bad = || format!("line {}", i + 1);
            let p: Vec<&str> = l.splitn(4, ' ').collect();
            match p[..] {
                ["frontier", h, n] => st
                    .frontier
                    .push((h.parse().map_err(|_| bad())?, hash(n).ok_or_else(bad)?)),
                ["checkpoint", size, root] => {
                    st.checkpoints.insert(
                        size.parse().map_err(|_| bad())?,
                        hash(root).ok_or_else(bad)?,
                    );
                }
                ["segment", ..] => st
                    .segments
                    .push(SegmentEntry::parse_line(l).ok_or_else(bad)?),
                ["coverage", start, end, source] => {
                    let (a, b): (i64, i64) = (
                        start.parse().map_err(|_| bad())?,
                        end.parse().map_err(|_| bad())?,
                    );
                    // a run is whole hours apart, and no longer than a century
                    if b < a || (b - a) % HOUR_MICROS != 0 || (b - a) / HOUR_MICROS > 876_600 {
                        return Err(bad());
                    }
                    let set = st.coverage.entry(source.to_string()).or_default();
                    let mut h = a;
                    while h <= b {
                        set.insert(h);
                        h += HOUR_MICROS;
                    }
                }
                _ => return Err(bad()),
            }
        }
        Ok(st)
    }

    /// Reads `path`; `Ok(None)` when it does not exist yet.
    pub fn load(path: &Path) -> Result<Option<VerifiedState>, String> {
        match std::fs::read_to_string(path) {
            Ok(t) => VerifiedState::parse(&t).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Writes `path` atomically (temp file, fsync, rename, fsync the directory).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        sealtrail_store::atomic_write(path, self.to_text().as_bytes()).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_round_trips_and_hours_come_back_from_runs() {
        let mut coverage = BTreeMap::new();
        let hours: BTreeSet<i64> = [0, 1, 2, 5, 9, 10]
            .iter()
            .map(|h| 1_700_000_000_000_000 / HOUR_MICROS * HOUR_MICROS + h * HOUR_MICROS)
            .collect();
        coverage.insert("okta".to_string(), hours);
        let st = VerifiedState {
            origin: "example.org/log".into(),
            size: 7,
            root: [3; 32],
            verified_at: Ts(1_700_000_000_000_000),
            frontier: vec![(2, [1; 32]), (1, [2; 32]), (0, [4; 32])],
            checkpoints: [(3, [5; 32]), (7, [3; 32])].into_iter().collect(),
            segments: vec![SegmentEntry {
                name: "00000000000000000000-00000000000000000006.parquet".into(),
                first: 0,
                last: 6,
                sha256: [6; 32],
                chain: [7; 32],
            }],
            coverage,
        };
        let text = st.to_text();
        assert_eq!(text.matches("\ncoverage ").count(), 3, "{text}");
        assert_eq!(VerifiedState::parse(&text), Ok(st));
        assert!(VerifiedState::parse(&text.replace("size 7", "size x")).is_err());
        assert!(VerifiedState::parse(&text.replace(HEADER, "other")).is_err());
        assert!(VerifiedState::parse(&format!("{text}frontier 1\n")).is_err());
    }
}

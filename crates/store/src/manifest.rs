//! Signed manifests: the list of segment files a checkpoint covers, with the
//! SHA-256 of each file's bytes, its leaf range and its last chain value
//! (FORMAT.md §8). A manifest is a C2SP signed note, like the checkpoint, so
//! one mechanism (and `openssl`) verifies both.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use sealtrail_format::model::Ts;
use sealtrail_format::tlog::{Hash, NoteError};

/// First line of a manifest.
pub const HEADER: &str = "sealtrail.dev/manifest@v1";

/// One segment file as the manifest records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentEntry {
    /// File name under `segments/`.
    pub name: String,
    /// First leaf index.
    pub first: u64,
    /// Last leaf index (inclusive).
    pub last: u64,
    /// SHA-256 of the file's bytes.
    pub sha256: Hash,
    /// Chain value at the last row.
    pub chain: Hash,
}

impl SegmentEntry {
    /// `segment <name> <first> <last> <sha256 hex> <chain hex>` (FORMAT.md §8;
    /// the verified state of §10.1 uses the same line).
    pub fn line(&self) -> String {
        format!(
            "segment {} {} {} {} {}",
            self.name,
            self.first,
            self.last,
            hex::encode(self.sha256),
            hex::encode(self.chain)
        )
    }

    /// Parses [`SegmentEntry::line`]'s form.
    pub fn parse_line(l: &str) -> Option<SegmentEntry> {
        let p: Vec<&str> = l.split(' ').collect();
        let ["segment", name, first, last, sha, chain] = p[..] else {
            return None;
        };
        let h = |s: &str| -> Option<Hash> { hex::decode(s).ok()?.try_into().ok() };
        Some(SegmentEntry {
            name: name.to_string(),
            first: first.parse().ok()?,
            last: last.parse().ok()?,
            sha256: h(sha)?,
            chain: h(chain)?,
        })
    }
}

/// A manifest body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Log origin.
    pub origin: String,
    /// Tree size covered.
    pub size: u64,
    /// Root at that size.
    pub root: Hash,
    /// When the seal happened (wall clock of the sealer).
    pub sealed_at: Ts,
    /// Segments, in leaf order; together exactly `[0, size)`.
    pub segments: Vec<SegmentEntry>,
}

impl Manifest {
    /// The note text.
    pub fn body(&self) -> String {
        let mut s = format!(
            "{HEADER}\norigin {}\nsize {}\nroot {}\nsealed-at {}\n",
            self.origin,
            self.size,
            B64.encode(self.root),
            self.sealed_at
        );
        for e in &self.segments {
            s.push_str(&e.line());
            s.push('\n');
        }
        s
    }

    /// Parses a manifest body.
    pub fn parse_body(text: &str) -> Result<Manifest, NoteError> {
        let bad = NoteError::Malformed;
        let mut lines = text.split_terminator('\n');
        if lines.next() != Some(HEADER) {
            return Err(bad("not a sealtrail manifest (first line)"));
        }
        let mut field = |key: &str| -> Result<String, NoteError> {
            lines
                .next()
                .and_then(|l| l.strip_prefix(key))
                .and_then(|l| l.strip_prefix(' '))
                .map(str::to_string)
                .ok_or(bad("manifest header lines out of order"))
        };
        let origin = field("origin")?;
        let size = field("size")?.parse().map_err(|_| bad("manifest size"))?;
        let root = B64
            .decode(field("root")?)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or(bad("manifest root"))?;
        let sealed_at = Ts::parse_rfc3339(&field("sealed-at")?).ok_or(bad("manifest sealed-at"))?;
        let mut segments = Vec::new();
        for l in lines {
            segments.push(SegmentEntry::parse_line(l).ok_or(bad("manifest segment line"))?);
        }
        Ok(Manifest {
            origin,
            size,
            root,
            sealed_at,
            segments,
        })
    }
}

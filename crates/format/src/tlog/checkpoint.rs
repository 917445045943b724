//! C2SP `tlog-checkpoint` bodies: origin, decimal tree size, base64 root.
//!
//! sealtrail writes no extension lines (FORMAT.md §5.2); when parsing, extra
//! lines are refused so a checkpoint can only mean one thing.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::merkle::Hash;
use super::note::{Note, NoteError, Verifier};

/// A tree head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Log identity, e.g. `example.org/sealtrail`.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 6962 root hash.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: three lines, each ending in `\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parses a checkpoint body.
    pub fn parse_body(text: &str) -> Result<Checkpoint, NoteError> {
        let mut lines = text.split_terminator('\n');
        let (Some(origin), Some(size), Some(root), None) =
            (lines.next(), lines.next(), lines.next(), lines.next())
        else {
            return Err(NoteError::Malformed("a checkpoint has exactly three lines"));
        };
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(NoteError::Malformed(
                "tree size is not a canonical decimal number",
            ));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| NoteError::Malformed("tree size out of range"))?;
        let raw = B64
            .decode(root)
            .map_err(|_| NoteError::Malformed("root is not base64"))?;
        let root: Hash = raw
            .try_into()
            .map_err(|_| NoteError::Malformed("root is not 32 bytes"))?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }

    /// Parses and verifies a signed checkpoint note, checking its origin
    /// matches a key name.
    pub fn open(note: &str, keys: &[Verifier]) -> Result<Checkpoint, NoteError> {
        let note = Note::parse(note)?;
        let signed_by = note.verify(keys)?;
        let cp = Checkpoint::parse_body(&note.text)?;
        if !signed_by.contains(&cp.origin) {
            return Err(NoteError::Malformed(
                "checkpoint origin does not match the signing key's name",
            ));
        }
        Ok(cp)
    }
}

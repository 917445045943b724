//! Proof text: C2SP `tlog-proof` for inclusion, and sealtrail's analogous
//! `sealtrail.dev/consistency-proof@v1` for consistency (FORMAT.md §6).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::merkle::Hash;
use super::note::NoteError;

/// First line of an inclusion proof.
pub const INCLUSION_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// First line of a consistency proof.
pub const CONSISTENCY_HEADER: &str = "sealtrail.dev/consistency-proof@v1";

/// A parsed proof file: the proof and the signed checkpoint note after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProofText {
    /// Leaf `index` is in the checkpointed tree.
    Inclusion {
        /// Optional opaque extra data.
        extra: Option<Vec<u8>>,
        /// Leaf index.
        index: u64,
        /// Audit path.
        hashes: Vec<Hash>,
        /// The signed checkpoint note, verbatim.
        checkpoint: String,
    },
    /// The tree of `old_size` leaves is a prefix of the checkpointed tree.
    Consistency {
        /// Older tree size.
        old_size: u64,
        /// Consistency path.
        hashes: Vec<Hash>,
        /// The signed checkpoint note of the newer tree, verbatim.
        checkpoint: String,
    },
}

/// Formats an inclusion proof as C2SP tlog-proof text.
pub fn format_inclusion(
    index: u64,
    hashes: &[Hash],
    checkpoint_note: &str,
    extra: Option<&[u8]>,
) -> String {
    let mut s = format!("{INCLUSION_HEADER}\n");
    if let Some(e) = extra {
        s.push_str(&format!("extra {}\n", B64.encode(e)));
    }
    s.push_str(&format!("index {index}\n"));
    for h in hashes {
        s.push_str(&B64.encode(h));
        s.push('\n');
    }
    s.push('\n');
    s.push_str(checkpoint_note);
    s
}

/// Formats a consistency proof.
pub fn format_consistency(old_size: u64, hashes: &[Hash], checkpoint_note: &str) -> String {
    let mut s = format!("{CONSISTENCY_HEADER}\nold-size {old_size}\n");
    for h in hashes {
        s.push_str(&B64.encode(h));
        s.push('\n');
    }
    s.push('\n');
    s.push_str(checkpoint_note);
    s
}

fn parse_u64(s: &str) -> Result<u64, NoteError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return Err(NoteError::Malformed("not a canonical decimal number"));
    }
    s.parse()
        .map_err(|_| NoteError::Malformed("number out of range"))
}

/// Parses proof text of either kind.
pub fn parse(text: &str) -> Result<ProofText, NoteError> {
    if text.contains('\r') {
        return Err(NoteError::CrlfDamaged);
    }
    let (head, checkpoint) = text.split_once("\n\n").ok_or(NoteError::Malformed(
        "no blank line between the proof and the checkpoint",
    ))?;
    let mut lines = head.split('\n');
    let header = lines.next().unwrap_or("");
    let mut hashes = Vec::new();
    let mut collect = |lines: std::str::Split<'_, char>| -> Result<(), NoteError> {
        for l in lines {
            let raw = B64
                .decode(l)
                .map_err(|_| NoteError::Malformed("proof hash is not base64"))?;
            hashes.push(
                raw.try_into()
                    .map_err(|_| NoteError::Malformed("proof hash is not 32 bytes"))?,
            );
        }
        Ok(())
    };
    match header {
        INCLUSION_HEADER => {
            let mut next = lines.next().unwrap_or("");
            let mut extra = None;
            if let Some(e) = next.strip_prefix("extra ") {
                extra = Some(
                    B64.decode(e)
                        .map_err(|_| NoteError::Malformed("extra is not base64"))?,
                );
                next = lines.next().unwrap_or("");
            }
            let index = parse_u64(
                next.strip_prefix("index ")
                    .ok_or(NoteError::Malformed("expected an `index N` line"))?,
            )?;
            collect(lines)?;
            Ok(ProofText::Inclusion {
                extra,
                index,
                hashes,
                checkpoint: checkpoint.to_string(),
            })
        }
        CONSISTENCY_HEADER => {
            let next = lines.next().unwrap_or("");
            let old_size = parse_u64(
                next.strip_prefix("old-size ")
                    .ok_or(NoteError::Malformed("expected an `old-size N` line"))?,
            )?;
            collect(lines)?;
            Ok(ProofText::Consistency {
                old_size,
                hashes,
                checkpoint: checkpoint.to_string(),
            })
        }
        _ => Err(NoteError::Malformed("unknown proof header")),
    }
}

//! The log side of the witness protocol: send a store's latest checkpoint
//! to a witness with the consistency proof from the size the witness holds,
//! and add the cosignature it returns to the checkpoint files.
//!
//! [`submit`] only reads the store (a `Reader`: safe beside a running
//! writer); [`add_cosignature`] rewrites `checkpoints/<size>` and, if it is
//! still that checkpoint, `checkpoint`, and must run where nothing else
//! replaces them: the writer thread of a server, or a command holding the
//! store's lock.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use sealtrail_format::tlog::cosignature::CosignerKey;
use sealtrail_format::tlog::{Checkpoint, Hash, Note, Verifier};
use sealtrail_store::Reader;

/// What a witness said about the store's checkpoint.
#[derive(Debug)]
pub enum Outcome {
    /// It cosigned: the checkpoint and the verified cosignature line.
    Cosigned {
        /// The checkpoint cosigned.
        checkpoint: Checkpoint,
        /// Its note, verbatim, as sent.
        note: String,
        /// The cosignature line (ending in `\n`), verified.
        line: String,
    },
    /// It refused: the store's tree is not consistent with the size it
    /// cosigned before (a rewritten history, or a rolled-back store).
    Inconsistent {
        /// The size the witness holds.
        held: u64,
        /// The store's checkpoint size.
        size: u64,
    },
}

/// Why a submission did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] sealtrail_store::StoreError),
    /// The witness could not be reached or answered out of protocol.
    #[error("{url}: {what}")]
    Witness {
        /// The add-checkpoint URL.
        url: String,
        /// What happened.
        what: String,
    },
}

/// Sends the store's latest checkpoint (verified with `keys`) to the
/// witness at `url` (its prefix; `/add-checkpoint` is appended).
pub fn submit(
    store: &Path,
    keys: &[Verifier],
    url: &str,
    witness: &CosignerKey,
) -> Result<Outcome, ClientError> {
    let endpoint = format!("{}/add-checkpoint", url.trim_end_matches('/'));
    let fail = |what: String| ClientError::Witness {
        url: endpoint.clone(),
        what,
    };
    let reader = Reader::open(store)?;
    let note = reader.checkpoint_note()?;
    let cp = reader.checkpoint(keys)?;
    let body = Note::parse(&note)
        .map_err(|e| fail(format!("the store's checkpoint: {e}")))?
        .text;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    // old size 0 first: a witness that holds another size says which (409)
    let mut old = 0u64;
    for _ in 0..3 {
        let proof: Vec<Hash> = if old == 0 || old == cp.size {
            Vec::new()
        } else {
            reader
                .proofs(&cp)?
                .consistency(old)?
                .ok_or_else(|| fail(format!("no consistency proof from size {old}")))?
        };
        let mut req = format!("old {old}\n");
        for h in &proof {
            req.push_str(&B64.encode(h));
            req.push('\n');
        }
        req.push('\n');
        req.push_str(&note);
        let resp = client
            .post(&endpoint)
            .body(req)
            .send()
            .map_err(|e| fail(format!("unreachable ({e}); try again later")))?;
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        match status {
            200 => {
                let line = text
                    .lines()
                    .map(|l| format!("{l}\n"))
                    .find(|l| {
                        Note::parse(&format!("{body}\n{l}"))
                            .ok()
                            .and_then(|n| {
                                n.signatures.first().and_then(|s| witness.verify(s, &body))
                            })
                            .is_some()
                    })
                    .ok_or_else(|| {
                        fail(format!(
                            "the answer holds no valid cosignature by {}",
                            witness.name()
                        ))
                    })?;
                return Ok(Outcome::Cosigned {
                    checkpoint: cp,
                    note,
                    line,
                });
            }
            409 => {
                let held: u64 = text
                    .trim()
                    .parse()
                    .map_err(|_| fail("409 without the size the witness holds".into()))?;
                if held > cp.size || held == old {
                    return Ok(Outcome::Inconsistent {
                        held,
                        size: cp.size,
                    });
                }
                old = held;
            }
            422 => {
                return Ok(Outcome::Inconsistent {
                    held: old,
                    size: cp.size,
                });
            }
            s => return Err(fail(format!("the witness answered {s}: {}", text.trim()))),
        }
    }
    Err(fail("the witness kept changing its size; try again".into()))
}

/// Adds (or replaces) a witness's cosignature `line` on the kept checkpoint
/// of `size`, and on `checkpoint` if it is still `note`.
pub fn add_cosignature(
    store: &Path,
    size: u64,
    note: &str,
    name: &str,
    line: &str,
) -> sealtrail_store::Result<()> {
    let layout = sealtrail_store::layout::Layout::new(store);
    let with_line = |text: &str| {
        let prefix = format!("\u{2014} {name} ");
        let mut out: String = text
            .lines()
            .filter(|l| !l.starts_with(&prefix))
            .map(|l| format!("{l}\n"))
            .collect();
        out.push_str(line);
        out
    };
    let kept = layout.checkpoint_at(size);
    let text =
        std::fs::read_to_string(&kept).map_err(|source| sealtrail_store::StoreError::Io {
            path: kept.clone(),
            source,
        })?;
    sealtrail_store::atomic_write(&kept, with_line(&text).as_bytes())?;
    let latest = layout.checkpoint();
    if std::fs::read_to_string(&latest).is_ok_and(|t| t == note) {
        sealtrail_store::atomic_write(&latest, with_line(note).as_bytes())?;
    }
    Ok(())
}

//! A transparency-log witness (C2SP `tlog-witness`, FORMAT.md §5.5).
//!
//! `POST /add-checkpoint` takes an old size, a consistency proof and a
//! checkpoint signed by a log the witness is configured for. It cosigns
//! (`cosignature/v1`) only a checkpoint consistent with the last one it
//! cosigned for that log, and keeps that one durably (temp file, fsync,
//! rename, fsync the directory) before it answers. The checks and status
//! codes are the spec's, in its order: 400 for a malformed body or an old
//! size above the checkpoint's, 404 for an unknown origin, 403 when no
//! signature by the log's key verifies, 409 (body: the size it holds,
//! `text/x.tlog.size`) when the old size is not the one it last cosigned or
//! a same-size checkpoint has another root, 422 when the proof does not
//! verify, 200 with the cosignature line.
//!
//! An auditor, a partner organisation or a second site runs one; it holds
//! no log key and reads no store.

pub mod client;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

use sealtrail_format::tlog::cosignature::Cosigner;
use sealtrail_format::tlog::{Checkpoint, Hash, Note, Verifier, merkle};

/// The content type of a 409's body.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// The most proof lines a request may carry (the spec's limit).
pub const MAX_PROOF_LINES: usize = 63;

/// A witness: its key, the logs it witnesses, and where it keeps state.
pub struct Witness {
    key: Cosigner,
    logs: BTreeMap<String, Vec<Verifier>>,
    state: PathBuf,
    /// Check-and-persist is one step per witness (the spec's race).
    lock: Mutex<()>,
}

/// An HTTP answer: status, content type and body.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

fn answer(status: u16, body: impl Into<String>) -> Answer {
    Answer {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.into(),
    }
}

/// The parts of an add-checkpoint body.
struct Request {
    old: u64,
    proof: Vec<Hash>,
    note: String,
}

fn parse_request(body: &[u8]) -> Result<Request, &'static str> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8")?;
    let (old_line, rest) = text.split_once('\n').ok_or("no old size line")?;
    let old = old_line
        .strip_prefix("old ")
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .filter(|n| n.len() == 1 || !n.starts_with('0'))
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or("the first line must be `old <size>` in decimal without leading zeroes")?;
    let mut proof = Vec::new();
    let mut rest = rest;
    loop {
        let (line, tail) = rest
            .split_once('\n')
            .ok_or("no empty line before the checkpoint")?;
        rest = tail;
        if line.is_empty() {
            break;
        }
        if proof.len() == MAX_PROOF_LINES {
            return Err("more than 63 consistency proof lines");
        }
        let raw = B64.decode(line).map_err(|_| "a proof line is not base64")?;
        let hash: Hash = raw
            .try_into()
            .map_err(|_| "a proof line is not a 32-byte hash")?;
        proof.push(hash);
    }
    Ok(Request {
        old,
        proof,
        note: rest.to_string(),
    })
}

impl Witness {
    /// A witness cosigning with `key` for `logs` (origin → its verifier
    /// keys), keeping state in `state` (created).
    pub fn new(
        key: Cosigner,
        logs: BTreeMap<String, Vec<Verifier>>,
        state: PathBuf,
    ) -> std::io::Result<Witness> {
        std::fs::create_dir_all(&state)?;
        Ok(Witness {
            key,
            logs,
            state,
            lock: Mutex::new(()),
        })
    }

    fn state_file(&self, origin: &str) -> PathBuf {
        self.state.join(format!(
            "{}.checkpoint",
            hex::encode(Sha256::digest(origin.as_bytes()))
        ))
    }

    /// The last checkpoint this witness cosigned for `origin`.
    pub fn latest(&self, origin: &str) -> Option<Checkpoint> {
        let text = std::fs::read_to_string(self.state_file(origin)).ok()?;
        let note = Note::parse(&text).ok()?;
        Checkpoint::parse_body(&note.text).ok()
    }

    /// Handles one `add-checkpoint` body at time `now` (seconds since the
    /// epoch).
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Answer {
        let req = match parse_request(body) {
            Ok(r) => r,
            Err(why) => return answer(400, format!("{why}\n")),
        };
        let Ok(note) = Note::parse(&req.note) else {
            return answer(400, "the checkpoint is not a signed note\n");
        };
        let Ok(cp) = Checkpoint::parse_body(&note.text) else {
            return answer(400, "the note is not a checkpoint\n");
        };
        let Some(keys) = self.logs.get(&cp.origin) else {
            return answer(404, "unknown log origin\n");
        };
        if note.verify(keys).is_err() {
            return answer(403, "no signature by the log's key verifies\n");
        }
        if req.old > cp.size {
            return answer(400, "the old size is larger than the checkpoint's\n");
        }
        let Ok(_guard) = self.lock.lock() else {
            return answer(500, "the witness's state lock is poisoned\n");
        };
        let held = self.latest(&cp.origin);
        let held_size = held.as_ref().map_or(0, |c| c.size);
        let conflict = || Answer {
            status: 409,
            content_type: SIZE_CONTENT_TYPE,
            body: format!("{held_size}\n"),
        };
        if req.old != held_size {
            return conflict();
        }
        if req.old == cp.size {
            if held.as_ref().is_some_and(|h| h.root != cp.root)
                || (held.is_none() && cp.root != merkle::empty_root())
            {
                return conflict();
            }
        } else if req.old == 0 {
            if !req.proof.is_empty() {
                return answer(422, "a proof from size 0 must be empty\n");
            }
        } else {
            let Some(h) = &held else {
                return conflict();
            };
            if merkle::verify_consistency(req.old, cp.size, &h.root, &cp.root, &req.proof).is_err()
            {
                tracing::warn!(
                    origin = %cp.origin,
                    old = req.old,
                    size = cp.size,
                    "refused: the consistency proof does not verify (a log rewriting its history?)"
                );
                return answer(422, "the consistency proof does not verify\n");
            }
        }
        // durable before the answer
        if let Err(e) =
            sealtrail_store::atomic_write(&self.state_file(&cp.origin), req.note.as_bytes())
        {
            tracing::error!(error = %e, "the witness could not persist its state");
            return answer(500, "the witness could not persist its state\n");
        }
        tracing::info!(origin = %cp.origin, size = cp.size, "cosigned");
        answer(200, self.key.cosign(&note.text, now))
    }

    /// The HTTP routes (`POST /add-checkpoint`).
    pub fn router(self) -> axum::Router {
        use axum::http::{StatusCode, header};
        use axum::response::IntoResponse;
        let w = std::sync::Arc::new(self);
        axum::Router::new().route(
            "/add-checkpoint",
            axum::routing::post(move |body: axum::body::Bytes| {
                let w = std::sync::Arc::clone(&w);
                async move {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    let a = tokio::task::spawn_blocking(move || w.add_checkpoint(&body, now))
                        .await
                        .unwrap_or_else(|_| answer(500, "internal error\n"));
                    (
                        StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                        [(header::CONTENT_TYPE, a.content_type)],
                        a.body,
                    )
                        .into_response()
                }
            }),
        )
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use sealtrail_format::tlog::Signer;

    /// The example request body of C2SP tlog-witness parses as the spec
    /// describes it: the old size, four proof hashes, then the checkpoint
    /// with its two signatures.
    #[test]
    fn the_spec_example_request_parses() {
        let body = "old 20852014\n\
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n\
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\
\n\
example.com/behind-the-sofa\n\
20852163\n\
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
\n\
\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
\u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";
        let r = parse_request(body.as_bytes()).unwrap();
        assert_eq!(r.old, 20_852_014);
        assert_eq!(r.proof.len(), 4);
        let note = Note::parse(&r.note).unwrap();
        assert_eq!(note.signatures.len(), 2);
        let cp = Checkpoint::parse_body(&note.text).unwrap();
        assert_eq!(
            (cp.origin.as_str(), cp.size),
            ("example.com/behind-the-sofa", 20_852_163)
        );
        // leading zeroes, a missing empty line and 64 proof lines are refused
        assert!(parse_request(b"old 01\n\n").is_err());
        assert!(parse_request(b"old 1\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n").is_err());
        let many = format!(
            "old 1\n{}\n",
            "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n".repeat(64)
        );
        assert!(parse_request(many.as_bytes()).is_err());
    }

    /// The spec's answers, in its order, for one log.
    #[test]
    fn statuses_are_the_specs() {
        let dir =
            std::env::temp_dir().join(format!("sealtrail-witness-test-{}", std::process::id()));
        let log = Signer::from_seed("log.example/a", [1; 32]).unwrap();
        let other = Signer::from_seed("log.example/a", [2; 32]).unwrap();
        let mut logs = BTreeMap::new();
        logs.insert("log.example/a".to_string(), vec![log.verifier()]);
        let w = Witness::new(
            Cosigner::from_seed("w.example/w", [3; 32]).unwrap(),
            logs,
            dir.clone(),
        )
        .unwrap();
        let leaves: Vec<Hash> = (0..5u8).map(|i| merkle::leaf_hash(&[i])).collect();
        let cp = |n: usize, by: &Signer| {
            let c = Checkpoint {
                origin: by.name().into(),
                size: n as u64,
                root: merkle::root(&leaves[..n]),
            };
            by.sign_note(&c.body()).unwrap()
        };
        let req = |old: u64, proof: &[Hash], note: &str| {
            let mut s = format!("old {old}\n");
            for h in proof {
                s.push_str(&B64.encode(h));
                s.push('\n');
            }
            format!("{s}\n{note}")
        };
        assert_eq!(w.add_checkpoint(b"nonsense", 1).status, 400);
        let unknown = Signer::from_seed("log.example/b", [1; 32]).unwrap();
        assert_eq!(
            w.add_checkpoint(req(0, &[], &cp(3, &unknown)).as_bytes(), 1)
                .status,
            404
        );
        assert_eq!(
            w.add_checkpoint(req(0, &[], &cp(3, &other)).as_bytes(), 1)
                .status,
            403
        );
        assert_eq!(
            w.add_checkpoint(req(4, &[], &cp(3, &log)).as_bytes(), 1)
                .status,
            400
        );
        let ok = w.add_checkpoint(req(0, &[], &cp(3, &log)).as_bytes(), 7);
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert!(ok.body.starts_with("\u{2014} w.example/w "));
        let stale = w.add_checkpoint(req(0, &[], &cp(5, &log)).as_bytes(), 8);
        assert_eq!(
            (stale.status, stale.content_type, stale.body.as_str()),
            (409, SIZE_CONTENT_TYPE, "3\n")
        );
        assert_eq!(
            w.add_checkpoint(req(3, &[[0; 32]], &cp(5, &log)).as_bytes(), 8)
                .status,
            422
        );
        let proof = merkle::consistency_proof(&leaves, 3).unwrap();
        assert_eq!(
            w.add_checkpoint(req(3, &proof, &cp(5, &log)).as_bytes(), 9)
                .status,
            200
        );
        assert_eq!(w.latest("log.example/a").map(|c| c.size), Some(5));
        let _ = std::fs::remove_dir_all(dir);
    }
}

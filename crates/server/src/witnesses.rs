//! Witnessing from a running server (FORMAT.md §5.5): a thread of its own
//! sends each new checkpoint to the configured witnesses, with the
//! consistency proof from the size each holds, and hands the cosignatures
//! to the writer thread, which adds them to the checkpoint files (only it
//! replaces them). Ingest never waits for a witness; one that is down or
//! answers out of protocol is retried on the next turn, and one that
//! refuses a checkpoint as inconsistent is logged as an error every turn.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use sealtrail_format::tlog::Verifier;
use sealtrail_format::tlog::cosignature::CosignerKey;
use sealtrail_witness::client::{self, Outcome};

use crate::writer::{Admit, WriterHandle};

/// One witness in the settings: `witnesses = [{ url = "…", vkey = "…" }]`.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// The witness's URL prefix (`/add-checkpoint` is under it).
    pub url: String,
    /// Its verifier key (`<name>+<id>+<key>`, type 0x04).
    pub vkey: String,
}

/// The running thread; dropping the sender stops it.
pub struct Witnessing {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Witnessing {
    /// Starts the thread (nothing when no witness is configured).
    pub fn start(
        store: PathBuf,
        keys: Vec<Verifier>,
        witnesses: Vec<(String, CosignerKey)>,
        every: Duration,
        writer: WriterHandle,
    ) -> std::io::Result<Witnessing> {
        if witnesses.is_empty() {
            return Ok(Witnessing {
                stop: None,
                thread: None,
            });
        }
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sealtrail-witness".into())
            .spawn(move || {
                // the checkpoint note each witness last cosigned
                let mut done: HashMap<String, String> = HashMap::new();
                loop {
                    let current = std::fs::read_to_string(store.join("checkpoint")).ok();
                    for (url, key) in &witnesses {
                        let Some(now) = &current else { break };
                        // the note gains cosignature lines: compare the body
                        let body = now.split("\n\n").next().unwrap_or_default();
                        if done.get(url).is_some_and(|b| b == body) {
                            continue;
                        }
                        match client::submit(&store, &keys, url, key) {
                            Ok(Outcome::Cosigned {
                                checkpoint,
                                note,
                                line,
                            }) => {
                                let name = key.name().to_string();
                                let size = checkpoint.size;
                                let job = writer.submit(Admit::Wait, move |app, _| {
                                    client::add_cosignature(app.dir(), size, &note, &name, &line)
                                });
                                match job.map(|rx| rx.blocking_recv()) {
                                    Ok(Ok(Ok(()))) => {
                                        tracing::info!(witness = key.name(), tree_size = size, "cosigned");
                                        let b = checkpoint.body();
                                        done.insert(url.clone(), b.trim_end_matches('\n').to_string());
                                    }
                                    Ok(Ok(Err(e))) => {
                                        tracing::error!(witness = key.name(), error = %e, "a cosignature could not be added to the checkpoint files")
                                    }
                                    _ => return, // the writer has stopped
                                }
                            }
                            Ok(Outcome::Inconsistent { held, size }) => tracing::error!(
                                witness = key.name(),
                                held,
                                tree_size = size,
                                "inconsistent-checkpoint: the witness refuses this store's tree as inconsistent with the one it cosigned; run `sealtrail verify`"
                            ),
                            Err(e) => {
                                tracing::warn!(witness = key.name(), error = %e, "witness not reached; retried on the next turn")
                            }
                        }
                    }
                    match rx.recv_timeout(every) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                }
            })?;
        Ok(Witnessing {
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

//! `sealtrail witness …`: run a C2SP tlog-witness, make its key, and send a
//! store's checkpoint to one (FORMAT.md §5.5, SECURITY.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use sealtrail::store::Reader;
use sealtrail::tlog::Note;
use sealtrail::tlog::cosignature::{Cosigner, CosignerKey};

use super::{Usage, load_verifiers, store_verifiers};

/// The witness subcommands.
#[derive(Subcommand)]
pub enum WitnessCmd {
    /// Create a witness key (cosignature/v1) and its verifier key.
    Keygen {
        /// The witness's name, e.g. `witness.partner.example/w1`.
        #[arg(long)]
        name: String,
        /// Directory for the key files.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run the witness: `POST /add-checkpoint` (C2SP tlog-witness).
    Serve {
        /// The witness's private key file.
        #[arg(long)]
        key: PathBuf,
        /// Directory of the witness's state: the last checkpoint it
        /// cosigned per log.
        #[arg(long)]
        state: PathBuf,
        /// A log to witness: ORIGIN=VKEY_FILE (repeat).
        #[arg(long = "log", value_name = "ORIGIN=VKEY_FILE", required = true)]
        logs: Vec<String>,
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: String,
    },
    /// Each witness's latest cosigned tree size and time in the store, and
    /// whether it cosigned the latest checkpoint.
    Status {
        /// Store directory.
        #[arg(long)]
        store: PathBuf,
        /// A witness's verifier key file (repeat).
        #[arg(long = "witness", required = true)]
        witnesses: Vec<PathBuf>,
    },
    /// Send the store's latest checkpoint to a witness, with the consistency
    /// proof from the size it last cosigned, and add its cosignature to the
    /// checkpoint.
    Push {
        /// Store directory.
        #[arg(long)]
        store: PathBuf,
        /// The witness's URL prefix (its add-checkpoint is under it).
        #[arg(long)]
        url: String,
        /// The witness's verifier key file (type 0x04).
        #[arg(long)]
        vkey: PathBuf,
    },
}

fn load_cosigner_key(path: &Path) -> Result<CosignerKey> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Usage(format!(
            "{}: cannot read the witness key: {e}",
            path.display()
        ))
    })?;
    CosignerKey::parse(&text).map_err(|e| Usage(format!("{}: {e}", path.display())).into())
}

/// Runs one witness subcommand.
pub fn run(cmd: WitnessCmd) -> Result<ExitCode> {
    match cmd {
        WitnessCmd::Keygen { name, out } => {
            let c = Cosigner::generate(&name).map_err(|e| Usage(format!("--name: {e}")))?;
            std::fs::create_dir_all(&out)
                .with_context(|| format!("{}: cannot create directory", out.display()))?;
            let stem = name.replace('/', "_");
            let key = out.join(format!("{stem}.witness.key"));
            let vkey = out.join(format!("{stem}.witness.vkey"));
            sealtrail::store::atomic_write(
                &key,
                format!("{}\n", c.to_private_string()).as_bytes(),
            )?;
            sealtrail::store::atomic_write(
                &vkey,
                format!("{}\n", c.verifier().to_vkey_string()).as_bytes(),
            )?;
            println!("{}", vkey.display());
            Ok(ExitCode::SUCCESS)
        }
        WitnessCmd::Serve {
            key,
            state,
            logs,
            listen,
        } => {
            let text = std::fs::read_to_string(&key)
                .map_err(|e| Usage(format!("{}: {e}", key.display())))?;
            let cosigner =
                Cosigner::parse(&text).map_err(|e| Usage(format!("{}: {e}", key.display())))?;
            let mut map: BTreeMap<String, Vec<sealtrail::tlog::Verifier>> = BTreeMap::new();
            for l in &logs {
                let Some((origin, file)) = l.split_once('=') else {
                    bail!(Usage(format!("--log {l}: expected ORIGIN=VKEY_FILE")));
                };
                let keys = load_verifiers(Path::new(file))?;
                if keys.iter().any(|k| k.name() != origin) {
                    bail!(Usage(format!(
                        "--log {l}: the key's name is not the origin {origin}"
                    )));
                }
                map.entry(origin.to_string()).or_default().extend(keys);
            }
            let witness = sealtrail::witness::Witness::new(cosigner, map, state.clone())
                .with_context(|| {
                    format!("{}: cannot create the state directory", state.display())
                })?;
            let addr: std::net::SocketAddr = listen
                .parse()
                .map_err(|_| Usage(format!("--listen {listen}: expected ADDRESS:PORT")))?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr).await?;
                println!("listening on {}", listener.local_addr()?);
                use std::io::Write;
                let _ = std::io::stdout().flush();
                axum::serve(listener, witness.router())
                    .with_graceful_shutdown(async {
                        let _ = tokio::signal::ctrl_c().await;
                    })
                    .await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        WitnessCmd::Push { store, url, vkey } => push(&store, &url, &vkey),
        WitnessCmd::Status { store, witnesses } => {
            let keys = load_witnesses(&witnesses)?;
            for w in cosignatures(&store, &keys)? {
                println!(
                    "{}: latest cosigned tree size {}; the latest checkpoint: {}",
                    w.name,
                    w.largest.map_or("none".into(), |(s, t)| format!(
                        "{s} at {t} (POSIX seconds)"
                    )),
                    if w.on_latest.is_some() {
                        "cosigned"
                    } else {
                        "not cosigned"
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--witness URL=VKEY_FILE` of `ingest` and `seal`: after the seal, the
/// checkpoint is sent to each; a witness that cannot be reached or refuses
/// is reported and never fails the command (what was sealed is sealed).
pub(crate) fn push_after_seal(store: &Path, witnesses: &[String]) -> Result<()> {
    for w in witnesses {
        let Some((url, vkey)) = w.rsplit_once('=') else {
            bail!(Usage(format!("--witness {w}: expected URL=VKEY_FILE")));
        };
        match push(store, url, Path::new(vkey)) {
            Ok(code) if code == ExitCode::SUCCESS => {}
            Ok(_) => eprintln!("warning: {url} did not cosign (see above); the seal stands"),
            Err(e) => eprintln!(
                "warning: {url}: {}; push again later with `sealtrail witness push`",
                super::error_text(&e)
            ),
        }
    }
    Ok(())
}

pub(crate) fn push(store: &Path, url: &str, vkey: &Path) -> Result<ExitCode> {
    use sealtrail::witness::client::{self, Outcome};
    let wkey = load_cosigner_key(vkey)?;
    let keys = store_verifiers(store)?;
    let reader = Reader::open(store).map_err(|e| Usage(e.to_string()))?;
    // the store's one-writer lock, held until the cosignature is in place:
    // a seal replacing `checkpoint` meanwhile would otherwise be rolled back
    let lock_path = reader.layout().lock();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("{}: cannot open the store's lock", lock_path.display()))?;
    if lock.try_lock().is_err() {
        bail!(Usage(format!(
            "{}: a writer (sealtrail serve or ingest) holds the store; push when it has stopped (serve pushes to its configured witnesses itself)",
            store.display()
        )));
    }
    match client::submit(store, &keys, url, &wkey)? {
        Outcome::Cosigned {
            checkpoint,
            note,
            line,
        } => {
            client::add_cosignature(store, checkpoint.size, &note, wkey.name(), &line)?;
            println!(
                "witness {}: cosigned tree size {}",
                wkey.name(),
                checkpoint.size
            );
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Inconsistent { held, size } => {
            println!(
                "inconsistent-checkpoint: witness {} refused to cosign: this store's tree of size {size} is not consistent with the tree of size {held} it cosigned before",
                wkey.name()
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// What one witness's cosignatures in a store say.
pub(crate) struct Witnessed {
    /// The witness's name.
    pub name: String,
    /// The time of its valid cosignature on the latest checkpoint.
    pub on_latest: Option<u64>,
    /// The largest kept checkpoint it cosigned, and when.
    pub largest: Option<(u64, u64)>,
}

/// For `verify --witness`: each witness's valid cosignature on the store's
/// latest checkpoint, and the largest kept checkpoint it cosigned.
pub(crate) fn cosignatures(store: &Path, witnesses: &[CosignerKey]) -> Result<Vec<Witnessed>> {
    let latest = std::fs::read_to_string(store.join("checkpoint"))?;
    let note = Note::parse(&latest)?;
    let mut kept: Vec<(u64, Note)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir(store.join("checkpoints")) {
        for e in rd.flatten() {
            if let (Some(size), Ok(text)) = (
                e.file_name().to_str().and_then(|n| n.parse::<u64>().ok()),
                std::fs::read_to_string(e.path()),
            ) && let Ok(n) = Note::parse(&text)
            {
                kept.push((size, n));
            }
        }
    }
    Ok(witnesses
        .iter()
        .map(|w| {
            let on_latest = note.signatures.iter().find_map(|s| w.verify(s, &note.text));
            let largest = kept
                .iter()
                .filter_map(|(size, n)| {
                    n.signatures
                        .iter()
                        .find_map(|s| w.verify(s, &n.text))
                        .map(|t| (*size, t))
                })
                .max();
            Witnessed {
                name: w.name().to_string(),
                on_latest,
                largest,
            }
        })
        .collect())
}

/// Loads `--witness` files.
pub(crate) fn load_witnesses(paths: &[PathBuf]) -> Result<Vec<CosignerKey>> {
    paths.iter().map(|p| load_cosigner_key(p)).collect()
}

//! `sealtrail serve` and `sealtrail token …`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;

use sealtrail::objects::StoreLocation;
use sealtrail::server::{self, tokens};

use super::{Usage, load_signer};

/// Token subcommands.
#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create a token; it is printed once, only its hash is kept.
    Create {
        #[arg(long)]
        store: PathBuf,
        /// State directory holding the tokens (default: STORE.state, beside the store).
        #[arg(long)]
        state: Option<PathBuf>,
        /// gateway, officer, auditor or patient.
        #[arg(long)]
        role: String,
        /// For a patient token: the patient id.
        #[arg(long)]
        patient: Option<String>,
        /// For a gateway token: a source it may push (repeat).
        #[arg(long = "source")]
        sources: Vec<String>,
        /// Lifetime, e.g. 90d, 12h.
        #[arg(long)]
        expires: Option<String>,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long)]
        store: PathBuf,
        /// State directory holding the tokens (default: STORE.state).
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// Revoke a token by id.
    Revoke {
        #[arg(long)]
        store: PathBuf,
        /// State directory holding the tokens (default: STORE.state).
        #[arg(long)]
        state: Option<PathBuf>,
        /// The token id (the 8 hex digits after `st_`).
        #[arg(long)]
        id: String,
    },
}

/// Runs a token subcommand.
pub fn token(cmd: TokenCmd) -> Result<ExitCode> {
    match cmd {
        TokenCmd::Create {
            store,
            state,
            role,
            patient,
            sources,
            expires,
        } => {
            if !store.join(sealtrail::store::layout::MARKER).exists() {
                bail!(Usage(format!(
                    "{}: not a sealtrail store; check --store",
                    store.display()
                )));
            }
            let role = tokens::Role::parse(&role).ok_or_else(|| {
                Usage(format!(
                    "--role {role}: expected gateway, officer, auditor or patient"
                ))
            })?;
            let expires = match expires {
                Some(e) => Some(tokens::parse_duration(&e).ok_or_else(|| {
                    Usage(format!(
                        "--expires {e}: expected a number and d, h, m or s, e.g. 90d"
                    ))
                })?),
                None => None,
            };
            let state = tokens::state_dir(&store, state.as_deref());
            tokens::check_not_in_store(&store, &state).map_err(|e| Usage(e.to_string()))?;
            let (tok, rec) = tokens::create(&state, role, patient.as_deref(), &sources, expires)
                .map_err(|e| Usage(e.to_string()))?;
            eprintln!(
                "token {} ({}) created; it is shown only now, keep it secret:",
                rec.id,
                rec.role.as_str()
            );
            println!("{tok}");
            Ok(ExitCode::SUCCESS)
        }
        TokenCmd::List { store, state } => {
            let state = tokens::state_dir(&store, state.as_deref());
            tokens::check_not_in_store(&store, &state).map_err(|e| Usage(e.to_string()))?;
            for t in tokens::load(&state)? {
                let exp = t
                    .expires
                    .map(|e| sealtrail::model::Ts(e).to_canonical())
                    .unwrap_or_else(|| "never".into());
                let scope = match t.role {
                    tokens::Role::Gateway => format!("sources {}", t.sources.join(",")),
                    tokens::Role::Patient => "one patient".to_string(),
                    _ => String::new(),
                };
                println!(
                    "{}  {:<8} expires {exp}{}  {scope}",
                    t.id,
                    t.role.as_str(),
                    if t.revoked { "  REVOKED" } else { "" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenCmd::Revoke { store, state, id } => {
            let state = tokens::state_dir(&store, state.as_deref());
            tokens::check_not_in_store(&store, &state).map_err(|e| Usage(e.to_string()))?;
            tokens::revoke(&state, &id).map_err(|e| Usage(e.to_string()))?;
            println!("token {id} revoked");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The arguments of `sealtrail serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Store directory, or s3://bucket/prefix (with --work).
    #[arg(long, value_parser = super::objects::parse_store)]
    store: StoreLocation,
    #[command(flatten)]
    objects: super::objects::ObjectArgs,
    /// With an s3:// store: seconds between checks for a new checkpoint to
    /// publish (publishing never holds up ingest).
    #[arg(long, default_value_t = 10)]
    publish_every: u64,
    #[arg(long)]
    key: PathBuf,
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// TLS certificate chain (PEM).
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address (behind a TLS proxy).
    #[arg(long)]
    insecure_http: bool,
    /// Settings file (TOML; see docs/SERVER.md).
    #[arg(long)]
    config: Option<PathBuf>,
    /// State directory holding the tokens (default: STORE.state, beside the store).
    #[arg(long)]
    state: Option<PathBuf>,
}

/// `sealtrail serve`.
pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    let ServeArgs {
        store,
        objects,
        publish_every,
        key,
        listen,
        tls_cert,
        tls_key,
        insecure_http,
        config,
        state,
    } = args;
    let signer = load_signer(&key)?;
    let target = objects.writer(&store)?;
    let store = target.dir.clone();
    let state = tokens::state_dir(&store, state.as_deref());
    tokens::check_not_in_store(&store, &state).map_err(|e| Usage(e.to_string()))?;
    if sealtrail::store::Layout::new(&store).contains(&state) {
        bail!(Usage(format!(
            "--state {}: the state directory (tokens) must not be inside the store",
            state.display()
        )));
    }
    if sealtrail::store::Layout::new(&store).contains(&key) {
        bail!(Usage(format!(
            "{}: the signing key must not be kept inside the store directory",
            key.display()
        )));
    }
    let listen = listen.parse().map_err(|_| {
        Usage(format!(
            "--listen {listen}: expected ADDRESS:PORT, e.g. 127.0.0.1:8080"
        ))
    })?;
    let tls = match (tls_cert, tls_key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => bail!(Usage("--tls-cert and --tls-key go together".into())),
    };
    let mut config = match config {
        Some(p) => server::Config::load(&p)?,
        None => server::Config::default(),
    };
    if target.immutable() {
        // a published segment is immutable: nothing replaces it
        config.merge_at = 0;
    }
    let publisher =
        Publishing::start(target, std::time::Duration::from_secs(publish_every.max(1)))?;
    // (logging: JSON request lines from `info`, set up in cli::main)
    server::serve(server::ServeOptions {
        store,
        state,
        signer,
        listen,
        tls,
        insecure_http,
        config,
        on_listen: Some(Box::new(|addr| {
            // the one line a supervisor (or a test) waits for
            println!("listening on {addr}");
            use std::io::Write;
            let _ = std::io::stdout().flush();
        })),
    })?;
    eprintln!("sealtrail: stopped; pending records sealed");
    publisher.stop()?;
    Ok(ExitCode::SUCCESS)
}

/// The publisher thread of a server whose store is on S3: publishes each
/// new checkpoint the directory reaches, retrying on the next turn after a
/// failure; ingest never waits for it.
struct Publishing {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<super::objects::WriterStore>>,
}

impl Publishing {
    fn start(
        target: super::objects::WriterStore,
        every: std::time::Duration,
    ) -> Result<Publishing> {
        if !target.immutable() {
            return Ok(Publishing {
                stop: None,
                thread: None,
            });
        }
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sealtrail-publish".into())
            .spawn(move || {
                let mut last: Option<Vec<u8>> = None;
                loop {
                    let stopping = !matches!(
                        rx.recv_timeout(every),
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                    );
                    if stopping {
                        return target;
                    }
                    let now = std::fs::read(target.dir.join("checkpoint")).ok();
                    if now.is_some() && now != last {
                        match target.publish_quietly() {
                            Ok(done) => {
                                if let Some(d) = done {
                                    tracing::info!(tree_size = d.size, objects_written = d.written, bytes = d.bytes, "published to the bucket");
                                }
                                last = now;
                            }
                            Err(e) => {
                                tracing::error!(error = %format!("{e:#}"), "publishing to the bucket failed; retried on the next turn")
                            }
                        }
                    }
                }
            })?;
        Ok(Publishing {
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// Stops the thread and publishes the checkpoint the shutdown sealed.
    fn stop(mut self) -> Result<()> {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let target = t
                .join()
                .map_err(|_| anyhow::anyhow!("the publisher thread panicked"))?;
            if let Some(d) = target.publish_quietly()? {
                tracing::info!(
                    tree_size = d.size,
                    objects_written = d.written,
                    bytes = d.bytes,
                    "published to the bucket"
                );
            }
        }
        Ok(())
    }
}

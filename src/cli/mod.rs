//! Subcommands of the `sealtrail` binary. Each function here parses nothing
//! (clap did) and decides nothing about formats (the library does): it wires
//! arguments to library calls, prints results and picks the exit code.
//!
//! Exit codes: 0 success; 1 the work ran and found a problem (verify failed,
//! a proof did not verify, `--strict` hit a bad record) or failed; 2 usage
//! errors (clap's own, and unusable arguments such as a missing store).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use sealtrail::ingest;
use sealtrail::objects::StoreLocation;
use sealtrail::store::{Appender, Reader};
use sealtrail::tlog::{Checkpoint, Signer, Verifier, merkle, proof};
use sealtrail::verify;

mod accounting;
mod bench;
mod demo;
mod objects;
mod serve;
mod witness;

#[derive(Parser)]
#[command(
    name = "sealtrail",
    version,
    about = "Tamper-evident HIPAA evidence from email-gateway and identity-provider logs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job on the bundled fixtures: key, store, ingest, seal, verify.
    Demo(DemoArgs),
    /// Create a signing key (kept outside any store) and its verifier keys.
    Keygen(KeygenArgs),
    /// Ingest log files into a store (created if absent), then seal.
    Ingest(IngestArgs),
    /// Recover an interrupted run and seal whatever is pending.
    Seal(SealArgs),
    /// Rotate the store's signing key: the new verifier key is recorded in a
    /// signed leaf, the checkpoint co-signed by both keys.
    RotateKey(RotateKeyArgs),
    /// Verify a store offline from its files and a verifier key.
    Verify(VerifyArgs),
    /// Print a proof as text.
    Proof {
        #[command(subcommand)]
        which: ProofCmd,
    },
    /// Verify a proof file against a verifier key.
    VerifyProof(VerifyProofArgs),
    /// Run SQL against the store's evidence views (deliveries, auth_events,
    /// access_events, disclosures, training, coverage, quarantine,
    /// admin_events, accounting_requests, leaves), pinned to the checkpoint.
    Query(QueryArgs),
    /// Build an OCR-ready evidence pack for a period: PDF, CSV, SQL,
    /// checkpoint, proofs and a signed manifest.
    Pack(PackArgs),
    /// Patient accounting of disclosures (45 CFR 164.528): request, extend,
    /// fulfil, list, show.
    Accounting {
        #[command(subcommand)]
        cmd: accounting::AccountingCmd,
    },
    /// Run the HTTP API (gateways push logs; officers, auditors and patients read).
    Serve(serve::ServeArgs),
    /// Place or lift an S3 Object Lock legal hold on a store's objects.
    Hold(objects::HoldArgs),
    /// Run a witness (C2SP tlog-witness), make its key, or send a store's
    /// checkpoint to one for its cosignature.
    Witness {
        #[command(subcommand)]
        cmd: witness::WitnessCmd,
    },
    /// Create, list and revoke API tokens.
    Token {
        #[command(subcommand)]
        cmd: serve::TokenCmd,
    },
    /// Generate deterministic synthetic logs in each source's real format, with truth.json.
    Gen(GenArgs),
    /// End-to-end benchmark: every figure next to its baseline (docs/BENCHMARKS.md).
    Bench(BenchArgs),
    /// Print the server's OpenAPI document.
    Openapi,
    /// Export sealed events in another schema (OCSF: deliveries as Email
    /// Activity 4009, sign-ins as Authentication 3002), one JSON per line.
    Export(ExportArgs),
    /// Test support: append numbered events in a loop, printing `acked N`
    /// after each durable commit (used by the crash test).
    #[command(hide = true)]
    StressAppend(StressAppendArgs),
}

/// Arguments of `sealtrail demo`.
#[derive(Args)]
struct DemoArgs {
    /// Output directory (replaced if a previous demo made it).
    #[arg(long, default_value = "demo-out")]
    out: PathBuf,
    /// Fixture directory (one sub-directory per source).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"))]
    fixtures: PathBuf,
}

/// Arguments of `sealtrail keygen`.
#[derive(Args)]
struct KeygenArgs {
    /// The log origin, e.g. `example.org/sealtrail`.
    #[arg(long)]
    name: String,
    /// Directory for the key files.
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `sealtrail ingest`.
#[derive(Args)]
struct IngestArgs {
    /// Store directory, or s3://bucket/prefix.
    #[arg(long, value_parser = objects::parse_store)]
    store: StoreLocation,
    #[command(flatten)]
    objects: objects::ObjectArgs,
    /// Signing key file (from `sealtrail keygen`).
    #[arg(long)]
    key: PathBuf,
    /// Source format, or `auto` to recognise it from the content.
    #[arg(long, default_value = "auto")]
    source: String,
    /// Stop at the first bad record and seal nothing of that file.
    #[arg(long)]
    strict: bool,
    /// Seal every N new records (and at the end). A seal is when they
    /// become durable: run an interrupted ingest again to add the rest.
    #[arg(long, default_value_t = 100_000)]
    seal_every: usize,
    /// A seal merges the small segments ending the log into its own
    /// file once there are this many (0: never; FORMAT.md §8.1).
    #[arg(long, default_value_t = sealtrail::store::MergePolicy::default().at)]
    merge_at: usize,
    /// A segment of fewer records than this is small (default: the
    /// `--seal-every` value, so only a run's last, partial seal is).
    #[arg(long)]
    merge_small_below: Option<u64>,
    /// A file larger than this many bytes on disk (compressed: an eighth)
    /// is read twice by a source whose records depend on later records
    /// (Okta's session ties) instead of being held in memory whole.
    #[arg(long, default_value_t = ingest::READ_TWICE_ABOVE)]
    read_twice_above: u64,
    /// Input files (`.gz` is read directly).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// After the seal, send the checkpoint to this witness for its
    /// cosignature: URL=VKEY_FILE (repeat; FORMAT.md §5.5).
    #[arg(long = "witness", value_name = "URL=VKEY_FILE")]
    witnesses: Vec<String>,
}

/// Arguments of `sealtrail seal`.
#[derive(Args)]
struct SealArgs {
    /// Store directory, or s3://bucket/prefix.
    #[arg(long, value_parser = objects::parse_store)]
    store: StoreLocation,
    #[command(flatten)]
    objects: objects::ObjectArgs,
    /// Signing key file.
    #[arg(long)]
    key: PathBuf,
    /// After the seal, send the checkpoint to this witness for its
    /// cosignature: URL=VKEY_FILE (repeat; FORMAT.md §5.5).
    #[arg(long = "witness", value_name = "URL=VKEY_FILE")]
    witnesses: Vec<String>,
}

/// Arguments of `sealtrail rotate-key`.
#[derive(Args)]
struct RotateKeyArgs {
    /// Store directory.
    #[arg(long)]
    store: PathBuf,
    /// Current signing key file.
    #[arg(long)]
    key: PathBuf,
    /// New signing key file (same name, from `sealtrail keygen`).
    #[arg(long)]
    new_key: PathBuf,
}

/// Arguments of `sealtrail verify`.
#[derive(Args)]
struct VerifyArgs {
    /// Store directory, or s3://bucket/prefix; repeat for the logs of
    /// several ingest nodes (each verified and reported on its own).
    #[arg(long = "store", required = true, value_parser = objects::parse_store)]
    stores: Vec<StoreLocation>,
    /// Verifier key file (`<name>+<id>+<key>`): one for every store, or
    /// one per store in the same order.
    #[arg(long = "vkey", required = true)]
    vkeys: Vec<PathBuf>,
    /// A checkpoint trusted from elsewhere (an earlier pack, a witness).
    #[arg(long)]
    trusted_checkpoint: Option<PathBuf>,
    /// Verified-state file, kept outside the store (FORMAT.md §10.1):
    /// segments a previous run verified are then checked by their files'
    /// SHA-256 against the signed manifest only; rewritten when this run
    /// passes. Without it every row is checked.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Segments checked at once (default: one per core, at most 8).
    #[arg(long)]
    threads: Option<usize>,
    /// A witness's verifier key (type 0x04; repeat): its cosignature on
    /// the checkpoint is checked and its latest cosigned size reported.
    #[arg(long = "witness")]
    witnesses: Vec<PathBuf>,
    /// Accept the checkpoint only with this many valid cosignatures from
    /// the `--witness` keys (default: 1 when any is given).
    #[arg(long)]
    min_witnesses: Option<usize>,
}

/// Arguments of `sealtrail verify-proof`.
#[derive(Args)]
struct VerifyProofArgs {
    /// Verifier key file.
    #[arg(long)]
    vkey: PathBuf,
    /// For inclusion proofs: the leaf bytes (e.g. a `leaf` value saved to a file).
    #[arg(long, conflicts_with = "leaf_hash")]
    leaf_file: Option<PathBuf>,
    /// For inclusion proofs: the leaf hash in hex.
    #[arg(long)]
    leaf_hash: Option<String>,
    /// For consistency proofs: the older signed checkpoint.
    #[arg(long)]
    old_checkpoint: Option<PathBuf>,
    /// The proof file.
    proof: PathBuf,
}

/// Arguments of `sealtrail query`.
#[derive(Args)]
struct QueryArgs {
    /// Store directory, or s3://bucket/prefix.
    #[arg(long, value_parser = objects::parse_store)]
    store: StoreLocation,
    /// Verifier key file (default: the store's own key list).
    #[arg(long)]
    vkey: Option<PathBuf>,
    /// Print CSV instead of an aligned table.
    #[arg(long)]
    csv: bool,
    /// Directory of the SQL files.
    #[arg(long, default_value = sealtrail::query::assets::QUERIES)]
    queries: PathBuf,
    /// Directory of pack.toml, whose [params] give default parameters.
    #[arg(long, default_value = sealtrail::query::assets::REPORTS)]
    reports: PathBuf,
    /// The SQL, or `@name` to run queries/<name>.sql.
    sql: String,
    /// Query parameters as NAME=VALUE (dates become TIMESTAMPTZ).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
}

/// Arguments of `sealtrail pack`.
#[derive(Args)]
struct PackArgs {
    /// Store directory, or s3://bucket/prefix; repeat for the logs of
    /// several ingest nodes: `--out` is then a directory holding one pack
    /// per log and `logs.txt`, each log's checkpoint.
    #[arg(long = "store", required = true, value_parser = objects::parse_store)]
    stores: Vec<StoreLocation>,
    /// Verifier key file: one for every store, or one per store in order.
    #[arg(long = "vkey", required = true)]
    vkeys: Vec<PathBuf>,
    /// First day of the period (YYYY-MM-DD, UTC).
    #[arg(long)]
    from: String,
    /// Last day of the period, included (YYYY-MM-DD, UTC).
    #[arg(long)]
    to: String,
    /// Output directory, or a file ending in .zip.
    #[arg(long)]
    out: PathBuf,
    /// Organisation name for the cover.
    #[arg(long, default_value = "Covered entity")]
    org: String,
    /// The checkpoint file of the previous pack, for a consistency proof.
    #[arg(long)]
    previous_checkpoint: Option<PathBuf>,
    /// Signing key, to sign the pack's manifest (recommended; with several
    /// stores, one per store in order).
    #[arg(long = "key")]
    keys: Vec<PathBuf>,
    /// Directory of the SQL files.
    #[arg(long, default_value = sealtrail::query::assets::QUERIES)]
    queries: PathBuf,
    /// Directory of the pack layout (pack.toml).
    #[arg(long, default_value = sealtrail::query::assets::REPORTS)]
    reports: PathBuf,
    /// Verified-state file written by `sealtrail verify --state` (read
    /// only): the pack's verification then re-reads row by row only the
    /// segments sealed since.
    #[arg(long)]
    verify_state: Option<PathBuf>,
    /// Where the queries run: embedded DuckDB, or Apache Spark
    /// (docs/SCALING.md).
    #[arg(long, value_parser = ["duckdb", "spark"], default_value = "duckdb")]
    engine: String,
    /// With --engine spark: the command that runs the job's runner
    /// (its path, the job and the output directory are appended), e.g.
    /// `spark-submit --master yarn` or `python3` with PyPI pyspark.
    #[arg(long, default_value = "spark-submit --master local[2]")]
    spark_submit: String,
    /// A witness's verifier key (repeat): shipped in the pack, and the
    /// attestation says whether it cosigned the checkpoint.
    #[arg(long = "witness")]
    witnesses: Vec<PathBuf>,
}

/// Arguments of `sealtrail gen`.
#[derive(Args)]
struct GenArgs {
    /// Number of events.
    #[arg(long)]
    events: u64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
}

/// Arguments of `sealtrail bench`.
#[derive(Args)]
struct BenchArgs {
    /// Number of events.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Work directory (replaced).
    #[arg(long, default_value = "bench-work")]
    work: PathBuf,
    /// Seconds of HTTP load (0 skips it).
    #[arg(long, default_value_t = 10)]
    http_seconds: u64,
    /// Patient accountings to time.
    #[arg(long, default_value_t = 1000)]
    accountings: usize,
    /// The HTTP phase's server seals every N records (default: the
    /// server's own default), to measure the throughput/latency trade.
    #[arg(long)]
    server_seal_every: Option<usize>,
    /// Events per HTTP request in the HTTP phase (each of the 8 clients
    /// waits for its 202 before sending the next), to measure how the
    /// request size trades throughput against latency; one phase per
    /// size given (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [100, 1000])]
    http_batch: Vec<usize>,
}

/// Arguments of `sealtrail export`.
#[derive(Args)]
struct ExportArgs {
    /// Store directory, or s3://bucket/prefix.
    #[arg(long, value_parser = objects::parse_store)]
    store: StoreLocation,
    /// Verifier key: only what its signed checkpoint and manifest cover
    /// is exported.
    #[arg(long)]
    vkey: PathBuf,
    /// Output schema.
    #[arg(long, value_parser = ["ocsf"])]
    format: String,
    /// Output file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Arguments of `sealtrail stress-append`.
#[derive(Args)]
struct StressAppendArgs {
    /// Store directory.
    #[arg(long)]
    store: PathBuf,
    /// Signing key file.
    #[arg(long)]
    key: PathBuf,
    /// First event number.
    #[arg(long)]
    start: u64,
    /// Events per commit.
    #[arg(long, default_value_t = 7)]
    batch: u64,
    /// Seal every N events.
    #[arg(long, default_value_t = 50)]
    seal_every: u64,
}

#[derive(Subcommand)]
enum ProofCmd {
    /// Inclusion of leaf IDX in the tree of size SIZE (default: latest).
    Inclusion {
        /// Store directory, or s3://bucket/prefix.
        #[arg(long, value_parser = objects::parse_store)]
        store: StoreLocation,
        /// Leaf index.
        #[arg(long)]
        idx: u64,
        /// Tree size of a kept checkpoint.
        #[arg(long)]
        size: Option<u64>,
        /// Verifier key file (default: the store's own key list).
        #[arg(long)]
        vkey: Option<PathBuf>,
    },
    /// Consistency between tree sizes FROM and TO.
    Consistency {
        /// Store directory, or s3://bucket/prefix.
        #[arg(long, value_parser = objects::parse_store)]
        store: StoreLocation,
        /// Older tree size.
        #[arg(long)]
        from: u64,
        /// Newer tree size (default: latest).
        #[arg(long)]
        to: Option<u64>,
        /// Verifier key file (default: the store's own key list).
        #[arg(long)]
        vkey: Option<PathBuf>,
    },
}

/// An error that means the arguments cannot be used (exit 2).
#[derive(Debug)]
pub(crate) struct Usage(pub(crate) String);
impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Usage {}

pub fn main() -> ExitCode {
    // everything sealtrail writes (store, keys, tokens, packs, letters)
    // holds PHI or secrets: readable by the service account only (files
    // 0600, directories 0700), whatever the caller's umask
    // SAFETY: umask only sets the process's file-mode creation mask.
    unsafe {
        libc::umask(0o077);
    }
    let cli = Cli::parse();
    init_tracing(matches!(cli.command, Command::Serve(_)));
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sealtrail: error: {}", error_text(&e));
            if e.downcast_ref::<Usage>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// The error and its causes, outermost first, each said once: many of our
/// errors already name their cause (`{path}: {source}`), which anyhow's
/// `{:#}` would print a second time.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}

/// Logs to stderr, filtered by `SEALTRAIL_LOG`: the service (`serve`)
/// writes JSON lines from `info` (one per request, route templates only);
/// every other command only warnings and errors, as text.
fn init_tracing(service: bool) {
    let default = if service { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SEALTRAIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if service {
        fmt.json().try_init()
    } else {
        fmt.try_init()
    };
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Accounting { cmd } => accounting::run(cmd),
        Command::Serve(args) => serve::serve(args),
        Command::Hold(a) => a.run(),
        Command::Witness { cmd } => witness::run(cmd),
        Command::Token { cmd } => serve::token(cmd),
        Command::Gen(a) => a.run(),
        Command::Bench(a) => a.run(),
        Command::Openapi => {
            println!("{}", sealtrail::server::api::openapi().to_pretty_json()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(a) => a.run(),
        Command::Keygen(a) => a.run(),
        Command::Ingest(a) => a.run(),
        Command::Seal(a) => a.run(),
        Command::RotateKey(a) => a.run(),
        Command::Verify(a) => a.run(),
        Command::Proof { which } => proof_cmd(which),
        Command::VerifyProof(a) => a.run(),
        Command::Export(a) => a.run(),
        Command::Pack(a) => a.run(),
        Command::Query(a) => a.run(),
        Command::StressAppend(a) => a.run(),
    }
}

impl DemoArgs {
    fn run(self) -> Result<ExitCode> {
        let DemoArgs { out, fixtures } = self;
        demo::run(&out, &fixtures)
    }
}

impl KeygenArgs {
    fn run(self) -> Result<ExitCode> {
        let KeygenArgs { name, out } = self;
        keygen(&name, &out)
    }
}

impl IngestArgs {
    fn run(self) -> Result<ExitCode> {
        let IngestArgs {
            store,
            objects,
            key,
            source,
            strict,
            seal_every,
            merge_at,
            merge_small_below,
            read_twice_above,
            files,
            witnesses,
        } = self;
        let target = objects.writer(&store)?;
        let code = ingest_cmd(
            &target.dir,
            &key,
            &source,
            &files,
            sealtrail::store::MergePolicy {
                small_below: merge_small_below.unwrap_or(seal_every as u64),
                // a published segment is immutable: nothing replaces it
                at: if target.immutable() { 0 } else { merge_at },
            },
            ingest::Options {
                strict,
                seal_every: seal_every.max(1),
                coverage: true,
                allowed_sources: None,
                read_twice_above,
            },
        )?;
        witness::push_after_seal(&target.dir, &witnesses)?;
        // what was sealed is published even when some input was bad
        target.publish()?;
        Ok(code)
    }
}

impl SealArgs {
    fn run(self) -> Result<ExitCode> {
        let SealArgs {
            store,
            objects,
            key,
            witnesses,
        } = self;
        let target = objects.writer(&store)?;
        let mut app = open_appender(&target.dir, &key)?;
        report_recovery(&app);
        match app.seal()? {
            Some(cp) => println!("sealed: tree size {}", cp.size),
            None => println!("nothing pending: tree size {}", app.size()),
        }
        drop(app);
        witness::push_after_seal(&target.dir, &witnesses)?;
        target.publish()?;
        Ok(ExitCode::SUCCESS)
    }
}

impl RotateKeyArgs {
    fn run(self) -> Result<ExitCode> {
        let RotateKeyArgs {
            store,
            key,
            new_key,
        } = self;
        let mut app = open_appender(&store, &key)?;
        let new = load_signer(&new_key)?;
        if app.dir().join(sealtrail::store::layout::MARKER).exists()
            && sealtrail::store::Layout::new(&store).contains(&new_key)
        {
            bail!(Usage(format!(
                "{}: the signing key must not be kept inside the store directory",
                new_key.display()
            )));
        }
        let cp = app.rotate_key(new, None)?;
        println!(
            "rotated: checkpoint at tree size {} co-signed by the old and new keys; later checkpoints use the new key",
            cp.size
        );
        Ok(ExitCode::SUCCESS)
    }
}

impl VerifyArgs {
    fn run(self) -> Result<ExitCode> {
        let VerifyArgs {
            stores,
            vkeys,
            trusted_checkpoint,
            state,
            threads,
            witnesses,
            min_witnesses,
        } = self;
        let witnesses = witness::load_witnesses(&witnesses)?;
        let min_witnesses = min_witnesses.unwrap_or(usize::from(!witnesses.is_empty()));
        if min_witnesses > witnesses.len() {
            bail!(Usage(format!(
                "--min-witnesses {min_witnesses}: only {} --witness keys given",
                witnesses.len()
            )));
        }
        if vkeys.len() != 1 && vkeys.len() != stores.len() {
            bail!(Usage(format!(
                "{} stores and {} --vkey files: give one verifier key for all, or one per store in order",
                stores.len(),
                vkeys.len()
            )));
        }
        if stores.len() > 1 && (trusted_checkpoint.is_some() || state.is_some()) {
            bail!(Usage(
                "--trusted-checkpoint and --state belong to one log: verify several stores without them, or one at a time".into()
            ));
        }
        let mut failed = 0;
        for (i, store) in stores.iter().enumerate() {
            if stores.len() > 1 {
                println!("== {store}");
            }
            let (dir, retention) = objects::read_with(store, true)?;
            let code = verify_cmd(
                &dir,
                &retention,
                &vkeys[i.min(vkeys.len() - 1)],
                trusted_checkpoint.as_deref(),
                state.as_deref(),
                threads,
                (&witnesses, min_witnesses),
            )?;
            if code != ExitCode::SUCCESS {
                failed += 1;
            }
        }
        if stores.len() > 1 {
            println!(
                "{} of {} logs verified{}",
                stores.len() - failed,
                stores.len(),
                if failed > 0 {
                    "; see the FAILED lines above"
                } else {
                    ""
                }
            );
        }
        Ok(if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
}

impl VerifyProofArgs {
    fn run(self) -> Result<ExitCode> {
        let VerifyProofArgs {
            vkey,
            leaf_file,
            leaf_hash,
            old_checkpoint,
            proof,
        } = self;
        verify_proof_cmd(
            &vkey,
            leaf_file.as_deref(),
            leaf_hash.as_deref(),
            old_checkpoint.as_deref(),
            &proof,
        )
    }
}

impl QueryArgs {
    fn run(self) -> Result<ExitCode> {
        let QueryArgs {
            store,
            vkey,
            csv,
            queries,
            reports,
            sql,
            params,
        } = self;
        query_cmd(
            &objects::readable(&store)?,
            vkey.as_deref(),
            csv,
            &queries,
            &reports,
            &sql,
            &params,
        )
    }
}

impl PackArgs {
    fn run(self) -> Result<ExitCode> {
        let PackArgs {
            stores,
            vkeys,
            from,
            to,
            out,
            org,
            previous_checkpoint,
            keys,
            queries,
            reports,
            verify_state,
            engine,
            spark_submit,
            witnesses,
        } = self;
        let witnesses = witness::load_witnesses(&witnesses)?;
        let spark = (engine == "spark").then(|| {
            sealtrail::query::spark::SparkCommand(
                spark_submit
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
            )
        });
        let n = stores.len();
        if (vkeys.len() != 1 && vkeys.len() != n) || (!keys.is_empty() && keys.len() != n) {
            bail!(Usage(format!(
                "{n} stores, {} --vkey and {} --key: give one verifier key for all or one per store, and a signing key per store or none",
                vkeys.len(),
                keys.len()
            )));
        }
        let one = |i: usize, store: &StoreLocation, out: &Path| {
            pack_cmd(
                &objects::readable(store)?,
                &vkeys[i.min(vkeys.len() - 1)],
                &from,
                &to,
                out,
                &org,
                previous_checkpoint.as_deref(),
                keys.get(i).map(PathBuf::as_path),
                &queries,
                &reports,
                verify_state.as_deref(),
                spark.clone(),
                &witnesses,
            )
        };
        if n == 1 {
            return one(0, &stores[0], &out).map(|(code, _)| code);
        }
        // one pack per log: each is verifiable on its own with its own key
        if previous_checkpoint.is_some() || verify_state.is_some() {
            bail!(Usage(
                "--previous-checkpoint and --verify-state belong to one log: pack several stores without them".into()
            ));
        }
        if out.extension().is_some_and(|e| e == "zip")
            || (out.exists() && std::fs::read_dir(&out)?.next().is_some())
        {
            bail!(Usage(format!(
                "{}: with several stores --out is a new or empty directory (one pack per log goes in it)",
                out.display()
            )));
        }
        std::fs::create_dir_all(&out)?;
        let mut listing = String::from(
            "# sealtrail packs, one per log: origin, tree size, root, pack file, SHA-256 of the pack\n",
        );
        let mut names = std::collections::BTreeSet::new();
        for (i, store) in stores.iter().enumerate() {
            let dir = objects::readable(store)?;
            let origin = Reader::open(&dir)
                .map_err(|e| Usage(e.to_string()))?
                .info()
                .origin
                .clone();
            let slug: String = origin
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            if !names.insert(slug.clone()) {
                bail!(Usage(format!("{origin}: two stores hold the same log")));
            }
            let file = out.join(format!("{slug}.zip"));
            println!("== {store}");
            // the checkpoint the pack was pinned to, not a later one
            let (code, cp) = one(i, store, &file)?;
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
            let bytes = std::fs::read(&file)?;
            use sha2::Digest as _;
            listing.push_str(&format!(
                "{} {} {} {slug}.zip {}\n",
                cp.origin,
                cp.size,
                {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD.encode(cp.root)
                },
                hex::encode(sha2::Sha256::digest(&bytes))
            ));
        }
        sealtrail::store::atomic_write(&out.join("logs.txt"), listing.as_bytes())?;
        println!("{n} packs and logs.txt in {}", out.display());
        Ok(ExitCode::SUCCESS)
    }
}

impl GenArgs {
    fn run(self) -> Result<ExitCode> {
        let GenArgs { events, seed, out } = self;
        bench::gen_cmd(events, seed, &out)
    }
}

impl BenchArgs {
    fn run(self) -> Result<ExitCode> {
        let BenchArgs {
            events,
            seed,
            work,
            http_seconds,
            accountings,
            server_seal_every,
            http_batch,
        } = self;
        bench::bench_cmd(
            events,
            seed,
            &work,
            accountings,
            bench::HttpLoad {
                seconds: http_seconds,
                seal_every: server_seal_every,
                batches: http_batch,
            },
        )
    }
}

impl ExportArgs {
    fn run(self) -> Result<ExitCode> {
        let ExportArgs {
            store, vkey, out, ..
        } = self;
        export_ocsf(&objects::readable(&store)?, &vkey, out.as_deref())
    }
}

impl StressAppendArgs {
    fn run(self) -> Result<ExitCode> {
        let StressAppendArgs {
            store,
            key,
            start,
            batch,
            seal_every,
        } = self;
        stress_append(&store, &key, start, batch, seal_every)
    }
}

pub(crate) fn load_signer(path: &Path) -> Result<Signer> {
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path)
            && m.permissions().mode() & 0o077 != 0
        {
            bail!(Usage(format!(
                "{}: the signing key is readable by other users (mode {:o}); run chmod 600 on it",
                path.display(),
                m.permissions().mode() & 0o777
            )));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        Usage(format!(
            "{}: cannot read the signing key: {e}",
            path.display()
        ))
    })?;
    Signer::parse(&text).with_context(|| {
        format!(
            "{}: not a sealtrail signing key (PRIVATE+KEY+...)",
            path.display()
        )
    })
}

pub(crate) fn load_verifiers(path: &Path) -> Result<Vec<Verifier>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Usage(format!(
            "{}: cannot read the verifier key: {e}",
            path.display()
        ))
    })?;
    let mut keys = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        keys.push(Verifier::parse(line).with_context(|| {
            format!(
                "{}:{}: not a verifier key (<name>+<id>+<key>)",
                path.display(),
                i + 1
            )
        })?);
    }
    if keys.is_empty() {
        bail!(Usage(format!(
            "{}: no verifier key in the file",
            path.display()
        )));
    }
    Ok(keys)
}

pub(crate) fn store_verifiers(store: &Path) -> Result<Vec<Verifier>> {
    let dir = store.join("keys");
    let mut keys = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(|e| {
        Usage(format!(
            "{}: {e}; is --store a sealtrail store?",
            dir.display()
        ))
    })? {
        let p = e?.path();
        keys.extend(load_verifiers(&p)?);
    }
    Ok(keys)
}

fn open_appender(store: &Path, key: &Path) -> Result<Appender> {
    let signer = load_signer(key)?;
    Ok(Appender::open_or_create(store, signer, Some(key))?)
}

fn report_recovery(app: &Appender) {
    let r = &app.recovery;
    if r.replayed > 0 || r.torn_bytes > 0 || !r.orphans_removed.is_empty() {
        eprintln!(
            "sealtrail: recovered an interrupted run: {} acknowledged record(s) replayed from the WAL, {} byte(s) of torn WAL tail cut, {} orphan segment(s) removed",
            r.replayed,
            r.torn_bytes,
            r.orphans_removed.len()
        );
    }
}

fn keygen(name: &str, out: &Path) -> Result<ExitCode> {
    let signer = Signer::generate(name).map_err(|e| Usage(format!("--name: {e}")))?;
    std::fs::create_dir_all(out)
        .with_context(|| format!("{}: cannot create directory", out.display()))?;
    let abs = std::fs::canonicalize(out)?;
    if abs
        .ancestors()
        .any(|a| a.join(sealtrail::store::layout::MARKER).exists())
    {
        bail!(Usage(format!(
            "{}: is inside a sealtrail store; keep the signing key elsewhere",
            out.display()
        )));
    }
    let file = name.replace(['/', ':'], "_");
    let (key, vkey, pem) = write_key_files(&signer, out, &file)?;
    println!(
        "signing key:  {} (mode 0600; keep it outside every store)",
        key.display()
    );
    println!("verifier key: {}", vkey.display());
    println!("public PEM:   {}", pem.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes `<stem>.key` (0600, refusing to overwrite), `<stem>.vkey` and
/// `<stem>.pub.pem` into `out`.
pub(crate) fn write_key_files(
    signer: &Signer,
    out: &Path,
    stem: &str,
) -> Result<(PathBuf, PathBuf, PathBuf)> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let key = out.join(format!("{stem}.key"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key)
        .with_context(|| format!("{}: cannot create (does it already exist?)", key.display()))?;
    writeln!(f, "{}", signer.to_private_string())?;
    f.sync_all()?;
    let v = signer.verifier();
    let vkey = out.join(format!("{stem}.vkey"));
    std::fs::write(&vkey, format!("{}\n", v.to_vkey_string()))?;
    let pem = out.join(format!("{stem}.pub.pem"));
    std::fs::write(&pem, v.to_pem())?;
    Ok((key, vkey, pem))
}

fn progress_bar(len: Option<u64>, what: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg} {pos} records ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    pb.set_message(what.to_string());
    Some(pb)
}

fn ingest_cmd(
    store: &Path,
    key: &Path,
    source: &str,
    files: &[PathBuf],
    merge: sealtrail::store::MergePolicy,
    opts: ingest::Options,
) -> Result<ExitCode> {
    for f in files {
        if !f.exists() {
            bail!(Usage(format!("{}: no such file", f.display())));
        }
    }
    let mut app = open_appender(store, key)?;
    app.set_merge_policy(merge);
    report_recovery(&app);
    // the files are kept and the run is acknowledged once, at its end: its
    // records are durable when sealed, and are not written to the WAL too
    // (an interrupted run is run again; FORMAT.md §9)
    app.set_durability(sealtrail::store::Durability::Seal)?;
    // Group inputs by source, keeping order, so stateful sources (Postfix)
    // see rotated files in one run.
    let mut groups: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for f in files {
        let name = if source == "auto" {
            let head = ingest::sniff_head(f)?;
            let s = ingest::detect(&head).ok_or_else(|| {
                ingest::IngestError::Unrecognised(
                    f.display().to_string(),
                    ingest::source_names().join(", "),
                )
            })?;
            eprintln!("{}: recognised as {}", f.display(), s.name());
            s.name().to_string()
        } else {
            ingest::source_by_name(source)?.name().to_string()
        };
        match groups.last_mut() {
            Some((n, v)) if *n == name => v.push(f.clone()),
            _ => groups.push((name, vec![f.clone()])),
        }
    }
    let pb = progress_bar(None, "ingesting");
    for (name, paths) in groups {
        let mut run = ingest::Ingest::new(&mut app, ingest::source_by_name(&name)?, opts.clone());
        if let Some(pb) = pb.clone() {
            run.progress = Some(Box::new(move |s: &ingest::Summary| pb.set_position(s.read)));
        }
        let read = paths.iter().try_for_each(|p| {
            let label = p.display().to_string();
            if opts.strict {
                run.precheck_file(p, &label)?;
            }
            run.input_file(p, &label)
        });
        if let Err(e) = read {
            drop(run);
            // what was appended before the error is kept, as the WAL kept
            // it before a file's records became durable at their seals
            let unsealed = app.pending();
            if unsealed == 0 {
                return Err(e.into());
            }
            let note = match app.commit() {
                Ok(()) => format!(
                    "ingest stopped; the {unsealed} records read before this error are sealed, \
                     and running the same command again adds only the rest"
                ),
                Err(_) => format!(
                    "ingest stopped; the {unsealed} records read since the last seal were not \
                     kept, and running the same command again adds them"
                ),
            };
            return Err(anyhow::Error::new(e).context(note));
        }
        let summary = run.finish()?;
        print!("{}", summary.render());
    }
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let cp = app.checkpoint();
    println!("store {}: tree size {}", store.display(), cp.size);
    Ok(ExitCode::SUCCESS)
}

fn verify_cmd(
    store: &Path,
    retention: &[(String, sealtrail::objects::Retention)],
    vkey: &Path,
    trusted: Option<&Path>,
    state: Option<&Path>,
    threads: Option<usize>,
    (witnesses, min_witnesses): (&[sealtrail::tlog::cosignature::CosignerKey], usize),
) -> Result<ExitCode> {
    let keys = load_verifiers(vkey)?;
    if !store.join(sealtrail::store::layout::MARKER).exists() {
        bail!(Usage(format!(
            "{}: not a sealtrail store (no sealtrail-store marker file); check --store",
            store.display()
        )));
    }
    let trusted_checkpoint = match trusted {
        Some(p) => {
            Some(std::fs::read_to_string(p).map_err(|e| Usage(format!("{}: {e}", p.display())))?)
        }
        None => None,
    };
    let total = std::fs::read_to_string(store.join("checkpoint"))
        .ok()
        .and_then(|t| t.lines().nth(1).and_then(|l| l.parse::<u64>().ok()));
    let pb = progress_bar(total, "verifying");
    let tick = |n: u64| {
        if let Some(pb) = &pb {
            pb.set_position(n);
        }
    };
    let report = verify::verify_store(
        store,
        &keys,
        &verify::Options {
            trusted_checkpoint,
            progress: Some(&tick),
            state,
            write_state: true,
            threads,
        },
    );
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }
    let mut report = report;
    let (lock_lines, unretained) = objects::retention_report(retention);
    report.problems.extend(unretained);
    let mut witness_lines = Vec::new();
    if !witnesses.is_empty() {
        let found = witness::cosignatures(store, witnesses)?;
        let mut valid = 0;
        for witness::Witnessed {
            name,
            on_latest,
            largest,
        } in &found
        {
            valid += usize::from(on_latest.is_some());
            witness_lines.push(format!(
                "witness {name}: {}; latest cosigned size {}",
                match on_latest {
                    Some(t) => format!("cosigned this checkpoint at {t} (POSIX seconds)"),
                    None => "no valid cosignature on this checkpoint".into(),
                },
                largest.map_or("none".into(), |(s, t)| format!("{s} at {t}")),
            ));
        }
        if valid < min_witnesses {
            report.problems.push(verify::Problem {
                kind: verify::ProblemKind::Uncosigned,
                file: "checkpoint".into(),
                idx: None,
                detail: format!(
                    "{valid} valid cosignature(s) from the given witnesses, {min_witnesses} required"
                ),
            });
        }
    }
    for p in &report.problems {
        println!("{p}");
    }
    for l in lock_lines.iter().chain(&witness_lines) {
        println!("{l}");
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
    println!("{}", report.summary());
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn proof_cmd(which: ProofCmd) -> Result<ExitCode> {
    let (store, vkey) = match &which {
        ProofCmd::Inclusion { store, vkey, .. } | ProofCmd::Consistency { store, vkey, .. } => {
            (objects::readable(store)?, vkey.clone())
        }
    };
    let keys = match vkey {
        Some(p) => load_verifiers(&p)?,
        None => store_verifiers(&store)?,
    };
    let reader = Reader::open(&store).map_err(|e| Usage(e.to_string()))?;
    let latest = reader.checkpoint(&keys)?.size;
    let text = match which {
        ProofCmd::Inclusion { idx, size, .. } => {
            reader.inclusion_proof(idx, size.unwrap_or(latest), &keys)?
        }
        ProofCmd::Consistency { from, to, .. } => {
            reader.consistency_proof(from, to.unwrap_or(latest), &keys)?
        }
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn verify_proof_cmd(
    vkey: &Path,
    leaf_file: Option<&Path>,
    leaf_hex: Option<&str>,
    old: Option<&Path>,
    proof_path: &Path,
) -> Result<ExitCode> {
    let keys = load_verifiers(vkey)?;
    let text = std::fs::read_to_string(proof_path)
        .map_err(|e| Usage(format!("{}: {e}", proof_path.display())))?;
    let parsed =
        proof::parse(&text).with_context(|| format!("{}: not a proof", proof_path.display()))?;
    match parsed {
        proof::ProofText::Inclusion {
            index,
            hashes,
            checkpoint,
            ..
        } => {
            let cp = Checkpoint::open(&checkpoint, &keys)
                .with_context(|| format!("{}: checkpoint", proof_path.display()))?;
            let leaf: merkle::Hash = match (leaf_file, leaf_hex) {
                (Some(f), _) => merkle::leaf_hash(
                    &std::fs::read(f).with_context(|| format!("{}", f.display()))?,
                ),
                (None, Some(h)) => hex::decode(h)
                    .ok()
                    .and_then(|v| v.try_into().ok())
                    .ok_or_else(|| Usage("--leaf-hash: expected 64 hex digits".into()))?,
                (None, None) => bail!(Usage(
                    "an inclusion proof needs --leaf-file or --leaf-hash".into()
                )),
            };
            match merkle::verify_inclusion(index, cp.size, &leaf, &hashes, &cp.root) {
                Ok(()) => {
                    println!(
                        "OK: leaf {index} is included in {} at tree size {} (signature verified)",
                        cp.origin, cp.size
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("FAILED: inclusion of leaf {index}: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        proof::ProofText::Consistency {
            old_size,
            hashes,
            checkpoint,
        } => {
            let cp = Checkpoint::open(&checkpoint, &keys)
                .with_context(|| format!("{}: checkpoint", proof_path.display()))?;
            let old =
                old.ok_or_else(|| Usage("a consistency proof needs --old-checkpoint".into()))?;
            let old_text = std::fs::read_to_string(old)
                .map_err(|e| Usage(format!("{}: {e}", old.display())))?;
            let old_cp = Checkpoint::open(&old_text, &keys)
                .with_context(|| format!("{}: checkpoint", old.display()))?;
            if old_cp.size != old_size {
                println!(
                    "FAILED: the proof is from size {old_size}, the old checkpoint has size {}",
                    old_cp.size
                );
                return Ok(ExitCode::from(1));
            }
            match merkle::verify_consistency(old_cp.size, cp.size, &old_cp.root, &cp.root, &hashes)
            {
                Ok(()) => {
                    println!(
                        "OK: tree size {} is consistent with tree size {} (signatures verified)",
                        cp.size, old_cp.size
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("FAILED: consistency {} -> {}: {e}", old_cp.size, cp.size);
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

fn stress_append(
    store: &Path,
    key: &Path,
    start: u64,
    batch: u64,
    seal_every: u64,
) -> Result<ExitCode> {
    use sealtrail::model::{Kind, Record, Ts};
    use std::io::Write;
    let mut app = open_appender(store, key)?;
    let mut out = std::io::stdout().lock();
    let mut n = start;
    loop {
        for _ in 0..batch {
            // the same event every time it is re-sent (a restarted writer
            // re-sends from its last acknowledgement): same id, same content
            let mut r = Record::new(Kind::Admin, Ts(1_767_225_600_000_000 + n as i64), "stress");
            r.action = Some("stress".into());
            r.source_event_id = Some(format!("e{n}"));
            app.append(r)?;
            n += 1;
        }
        app.commit()?;
        writeln!(out, "acked {}", n - 1)?;
        out.flush()?;
        // seals run beside the appends, as in the server
        app.poll_seal()?;
        if n % seal_every < batch {
            app.seal_in_background()?;
        }
    }
}

fn export_ocsf(store: &Path, vkey: &Path, out: Option<&Path>) -> Result<ExitCode> {
    use std::io::Write;
    let keys = load_verifiers(vkey)?;
    let reader = Reader::open(store).map_err(|e| Usage(e.to_string()))?;
    let mut w: Box<dyn Write> = match out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("{}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut n = 0u64;
    // the leaves the signed checkpoint covers, from the files its signed
    // manifest lists: never a file that was merely put in the directory
    reader.for_each_leaf(&keys, |idx, leaf| -> anyhow::Result<()> {
        let rec =
            sealtrail::model::Record::from_leaf(leaf).with_context(|| format!("idx {idx}"))?;
        if let Some(v) = sealtrail::ingest::ocsf::to_ocsf(&rec, idx) {
            serde_json::to_writer(&mut w, &v)?;
            w.write_all(b"\n")?;
            n += 1;
        }
        Ok(())
    })?;
    w.flush()?;
    eprintln!("exported {n} OCSF events");
    Ok(ExitCode::SUCCESS)
}

fn query_cmd(
    store: &Path,
    vkey: Option<&Path>,
    csv: bool,
    queries: &Path,
    reports: &Path,
    sql: &str,
    params: &[String],
) -> Result<ExitCode> {
    use sealtrail::query::{Evidence, Param, QueryFile};
    let keys = match vkey {
        Some(p) => load_verifiers(p)?,
        None => store_verifiers(store)?,
    };
    let ev = Evidence::open(sealtrail::query::EvidenceSource {
        store,
        keys: &keys,
        queries,
    })?;
    if let Ok(layout) = sealtrail::report::pack::Layout::load(reports) {
        for (k, v) in &layout.params {
            ev.set(k, &Param::Int(*v))?;
        }
    }
    for p in params {
        let (name, value) = p
            .split_once('=')
            .ok_or_else(|| Usage(format!("--param {p}: expected NAME=VALUE")))?;
        let v = if let Some(t) = sealtrail::ingest::read::parse_time(value) {
            Param::Time(t)
        } else if let Ok(i) = value.parse() {
            Param::Int(i)
        } else {
            Param::Text(value.to_string())
        };
        ev.set(name, &v)?;
    }
    let table = match sql.strip_prefix('@') {
        Some(name) => ev.run_file(&QueryFile::load(queries, name)?)?,
        None => ev.run("query", sql)?,
    };
    if csv {
        print!("{}", sealtrail::report::csv::to_csv(&table));
    } else {
        print!("{}", sealtrail::report::text_table(&table));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn parse_day(flag: &str, s: &str) -> Result<chrono::NaiveDate> {
    Ok(chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| Usage(format!("{flag} {s}: expected a date YYYY-MM-DD")))?)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn pack_cmd(
    store: &Path,
    vkey: &Path,
    from: &str,
    to: &str,
    out: &Path,
    org: &str,
    previous: Option<&Path>,
    key: Option<&Path>,
    queries: &Path,
    reports: &Path,
    verify_state: Option<&Path>,
    spark: Option<sealtrail::query::spark::SparkCommand>,
    witnesses: &[sealtrail::tlog::cosignature::CosignerKey],
) -> Result<(ExitCode, Checkpoint)> {
    use sealtrail::report::pack;
    let keys = load_verifiers(vkey)?;
    let (from, to) = (parse_day("--from", from)?, parse_day("--to", to)?);
    if to < from {
        bail!(Usage(format!("--to {to} is before --from {from}")));
    }
    if !store.join(sealtrail::store::layout::MARKER).exists() {
        bail!(Usage(format!(
            "{}: not a sealtrail store; check --store",
            store.display()
        )));
    }
    let prev = match previous {
        Some(p) => {
            Some(std::fs::read_to_string(p).map_err(|e| Usage(format!("{}: {e}", p.display())))?)
        }
        None => None,
    };
    let signer = match key {
        Some(k) => Some(load_signer(k)?),
        None => None,
    };
    let pb = progress_bar(None, "building the evidence pack");
    let built = pack::build(&pack::PackRequest {
        store,
        keys: &keys,
        from,
        to,
        org,
        previous_checkpoint: prev.as_deref(),
        queries,
        reports,
        signer: signer.as_ref(),
        verify_state,
        spark: spark.as_ref(),
        witnesses,
    })?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    if out.extension().is_some_and(|e| e == "zip") {
        let bytes = pack::to_zip(&built, pack::sealed_at(&built))?;
        sealtrail::store::atomic_write(out, &bytes)?;
    } else {
        if out.exists() && std::fs::read_dir(out)?.next().is_some() {
            bail!(Usage(format!(
                "{}: exists and is not empty; choose a new directory or a .zip file",
                out.display()
            )));
        }
        pack::write_dir(&built, out)?;
    }
    println!(
        "evidence pack: {} ({} files, checkpoint size {}, store verification {})",
        out.display(),
        built.files.len(),
        built.checkpoint.size,
        if built.verified { "passed" } else { "FAILED" }
    );
    for s in &built.sections {
        println!(
            "  {:<48} {}",
            s.title,
            if s.met {
                "met".to_string()
            } else {
                format!("finding ({})", s.findings)
            }
        );
    }
    Ok((ExitCode::SUCCESS, built.checkpoint))
}

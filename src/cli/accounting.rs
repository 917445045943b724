//! `sealtrail accounting …`: requests, extensions, fulfilment, the open list
//! and the accounting itself (JSON or the PDF letter).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::Subcommand;
use sha2::{Digest, Sha256};

use sealtrail::accounting::{self, Settings};
use sealtrail::query::EvidenceSource;
use sealtrail::store::Appender;

use sealtrail::objects::StoreLocation;

use super::{Usage, load_signer, load_verifiers, parse_day};

const QUERIES: &str = sealtrail::query::assets::QUERIES;
const REPORTS: &str = sealtrail::query::assets::REPORTS;

/// The accounting subcommands.
#[derive(Subcommand)]
pub enum AccountingCmd {
    /// Record a patient's request for an accounting (due in 60 days).
    Request {
        #[arg(long, value_parser = super::objects::parse_store)]
        store: StoreLocation,
        #[command(flatten)]
        objects: super::objects::ObjectArgs,
        #[arg(long)]
        key: PathBuf,
        /// Patient id.
        #[arg(long)]
        patient: String,
        /// Day the request was received (default: today, UTC).
        #[arg(long)]
        received: Option<String>,
        /// Start of a shorter period the patient asked for.
        #[arg(long)]
        from: Option<String>,
        #[arg(long, default_value = REPORTS)]
        reports: PathBuf,
        #[arg(long, default_value = QUERIES)]
        queries: PathBuf,
    },
    /// Extend a request's deadline once, by at most 30 days, within the first 60.
    Extend {
        #[arg(long, value_parser = super::objects::parse_store)]
        store: StoreLocation,
        #[command(flatten)]
        objects: super::objects::ObjectArgs,
        #[arg(long)]
        key: PathBuf,
        /// Request id (AR-…).
        #[arg(long)]
        request: String,
        /// The written reason sent to the individual.
        #[arg(long)]
        reason: String,
        /// The new due date.
        #[arg(long)]
        until: String,
        /// Day the extension is decided (default: today, UTC).
        #[arg(long)]
        on: Option<String>,
        #[arg(long, default_value = QUERIES)]
        queries: PathBuf,
    },
    /// Produce the accounting for a request (JSON and PDF letter) and record it.
    Fulfil {
        #[arg(long, value_parser = super::objects::parse_store)]
        store: StoreLocation,
        #[command(flatten)]
        objects: super::objects::ObjectArgs,
        #[arg(long)]
        key: PathBuf,
        /// Request id (AR-…).
        #[arg(long)]
        request: String,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Day it is sent (default: today, UTC).
        #[arg(long)]
        on: Option<String>,
        #[arg(long, default_value = REPORTS)]
        reports: PathBuf,
        #[arg(long, default_value = QUERIES)]
        queries: PathBuf,
    },
    /// List open requests with the days left.
    List {
        #[arg(long, value_parser = super::objects::parse_store)]
        store: StoreLocation,
        /// Verifier key file (default: the store's own key list).
        #[arg(long)]
        vkey: Option<PathBuf>,
        /// Count days left from this day (default: today, UTC).
        #[arg(long)]
        on: Option<String>,
        #[arg(long, default_value = QUERIES)]
        queries: PathBuf,
    },
    /// Show a patient's accounting as of a date.
    Show {
        #[arg(long, value_parser = super::objects::parse_store)]
        store: StoreLocation,
        #[arg(long)]
        vkey: PathBuf,
        /// Patient id.
        #[arg(long)]
        patient: String,
        /// The request date the six years count back from.
        #[arg(long)]
        as_of: String,
        /// Start of a shorter period.
        #[arg(long)]
        from: Option<String>,
        /// Output format.
        #[arg(long, value_parser = ["json", "pdf"], default_value = "json")]
        format: String,
        /// Write to this file (default: standard output for JSON; required for PDF).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value = REPORTS)]
        reports: PathBuf,
        #[arg(long, default_value = QUERIES)]
        queries: PathBuf,
    },
}

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

fn day_or_today(flag: &str, s: Option<&str>) -> Result<NaiveDate> {
    match s {
        Some(s) => parse_day(flag, s),
        None => Ok(today()),
    }
}

fn open(store: &Path, key: &Path) -> Result<Appender> {
    let signer = load_signer(key)?;
    if !store.join(sealtrail::store::layout::MARKER).exists() {
        anyhow::bail!(Usage(format!(
            "{}: not a sealtrail store; check --store",
            store.display()
        )));
    }
    Ok(Appender::open(store, signer)?)
}

/// Runs one accounting subcommand.
pub fn run(cmd: AccountingCmd) -> Result<ExitCode> {
    match cmd {
        AccountingCmd::Request {
            store,
            objects,
            key,
            patient,
            received,
            from,
            reports,
            queries,
        } => {
            let target = objects.writer(&store)?;
            let store = target.dir.clone();
            let settings = Settings::load(&reports)?;
            let received = day_or_today("--received", received.as_deref())?;
            let from = from.map(|f| parse_day("--from", &f)).transpose()?;
            let mut app = open(&store, &key)?;
            let keys = [load_signer(&key)?.verifier()];
            let existing = accounting::requests(EvidenceSource {
                store: &store,
                keys: &keys,
                queries: &queries,
            })?;
            let r = accounting::record_request(
                &mut app, &existing, &settings, &patient, received, from,
            )?;
            println!(
                "request {}: received {}, covers {} to {}, due {}",
                r.id, r.received, r.from, r.to, r.due
            );
            println!("{}", r.detail);
            drop(app);
            target.publish()?;
            Ok(ExitCode::SUCCESS)
        }
        AccountingCmd::Extend {
            store,
            objects,
            key,
            request,
            reason,
            until,
            on,
            queries,
        } => {
            let target = objects.writer(&store)?;
            let store = target.dir.clone();
            let until = parse_day("--until", &until)?;
            let on = day_or_today("--on", on.as_deref())?;
            let mut app = open(&store, &key)?;
            let keys = [load_signer(&key)?.verifier()];
            let req = accounting::request(
                EvidenceSource {
                    store: &store,
                    keys: &keys,
                    queries: &queries,
                },
                &request,
            )?;
            let d = accounting::extend(&mut app, &req, &reason, until, on)?;
            println!(
                "request {}: due date extended to {d}; send the individual the reason and the new date in writing now",
                req.id
            );
            drop(app);
            target.publish()?;
            Ok(ExitCode::SUCCESS)
        }
        AccountingCmd::Fulfil {
            store,
            objects,
            key,
            request,
            out,
            on,
            reports,
            queries,
        } => {
            let target = objects.writer(&store)?;
            let store = target.dir.clone();
            let on = day_or_today("--on", on.as_deref())?;
            let settings = Settings::load(&reports)?;
            let mut app = open(&store, &key)?;
            let keys = [load_signer(&key)?.verifier()];
            let req = accounting::request(
                EvidenceSource {
                    store: &store,
                    keys: &keys,
                    queries: &queries,
                },
                &request,
            )?;
            if let Some(f) = req.fulfilled {
                anyhow::bail!(accounting::AccountingError::Refused(format!(
                    "request {} was already fulfilled on {f}",
                    req.id
                )));
            }
            let acc = accounting::build(
                EvidenceSource {
                    store: &store,
                    keys: &keys,
                    queries: &queries,
                },
                &req.patient_id,
                req.to,
                Some(req.from),
            )?;
            let json = serde_json::to_vec_pretty(&acc)?;
            let pdf = sealtrail::report::letter::render(&acc, &settings, &on.to_string());
            std::fs::create_dir_all(&out).with_context(|| format!("{}", out.display()))?;
            sealtrail::store::atomic_write(&out.join("accounting.json"), &json)?;
            sealtrail::store::atomic_write(&out.join("accounting-letter.pdf"), &pdf)?;
            let sent = vec![
                ("accounting.json".to_string(), Sha256::digest(&json).into()),
                (
                    "accounting-letter.pdf".to_string(),
                    Sha256::digest(&pdf).into(),
                ),
            ];
            accounting::record_fulfilment(&mut app, &req, on, &acc.checkpoint, &sent)?;
            let late = on > req.deadline();
            println!(
                "request {}: fulfilled on {on} ({} entries, {} withheld){}; wrote {}",
                req.id,
                acc.entries.len(),
                acc.withheld_count,
                if late {
                    format!(", LATE: it was due {}", req.deadline())
                } else {
                    String::new()
                },
                out.display()
            );
            drop(app);
            target.publish()?;
            Ok(ExitCode::SUCCESS)
        }
        AccountingCmd::List {
            store,
            vkey,
            on,
            queries,
        } => {
            let store = super::objects::readable(&store)?;
            let on = day_or_today("--on", on.as_deref())?;
            let keys = match vkey {
                Some(p) => load_verifiers(&p)?,
                None => super::store_verifiers(&store)?,
            };
            let reqs = accounting::requests(EvidenceSource {
                store: &store,
                keys: &keys,
                queries: &queries,
            })?;
            let open: Vec<_> = reqs.iter().filter(|r| r.fulfilled.is_none()).collect();
            println!("{} open request(s) of {}", open.len(), reqs.len());
            for r in open {
                let left = (r.deadline() - on).num_days();
                let state = if left >= 0 {
                    format!("{left} days left")
                } else {
                    format!("OVERDUE by {} days", -left)
                };
                println!(
                    "{}  received {}  due {}{}  {state}",
                    r.id,
                    r.received,
                    r.deadline(),
                    if r.extensions > 0 { " (extended)" } else { "" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AccountingCmd::Show {
            store,
            vkey,
            patient,
            as_of,
            from,
            format,
            out,
            reports,
            queries,
        } => {
            let store = super::objects::readable(&store)?;
            let keys = load_verifiers(&vkey)?;
            let as_of = parse_day("--as-of", &as_of)?;
            let from = from.map(|f| parse_day("--from", &f)).transpose()?;
            let acc = accounting::build(
                EvidenceSource {
                    store: &store,
                    keys: &keys,
                    queries: &queries,
                },
                &patient,
                as_of,
                from,
            )?;
            let bytes = if format == "pdf" {
                let settings = Settings::load(&reports)?;
                sealtrail::report::letter::render(&acc, &settings, &as_of.to_string())
            } else {
                let mut v = serde_json::to_vec_pretty(&acc)?;
                v.push(b'\n');
                v
            };
            match out {
                Some(p) => sealtrail::store::atomic_write(&p, &bytes)?,
                None if format == "pdf" => {
                    anyhow::bail!(Usage("--format pdf needs --out FILE".into()))
                }
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&bytes)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

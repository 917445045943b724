//! `--store` as a directory or `s3://bucket/prefix` for every command: a
//! reader gets a verified-readable local copy, a writer gets its working
//! directory and a publisher (crates/objects, docs/SCALING.md).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use sealtrail::objects::{Bucket, Lock, LockMode, StoreLocation, mirror, publish::Publisher};

use super::Usage;

/// Parses `--store` (clap value parser).
pub(crate) fn parse_store(s: &str) -> std::result::Result<StoreLocation, String> {
    s.parse::<StoreLocation>().map_err(|e| e.to_string())
}

/// The store directory a reader works on: the directory itself, or the
/// local copy of the bucket's store, brought up to date.
pub(crate) fn readable(store: &StoreLocation) -> Result<PathBuf> {
    Ok(read_with(store, false)?.0)
}

/// [`readable`], also returning each object's Object Lock retention for an
/// S3 store (empty for a directory).
pub(crate) fn read_with(
    store: &StoreLocation,
    retention: bool,
) -> Result<(PathBuf, Vec<(String, sealtrail::objects::Retention)>)> {
    match store {
        StoreLocation::Dir(d) => Ok((d.clone(), Vec::new())),
        StoreLocation::S3(url) => {
            let bucket = Bucket::connect(url)?;
            let dir = mirror::default_dir(url);
            let m = mirror::mirror(&bucket, &dir, retention)?;
            if m.objects == 0 {
                bail!(Usage(format!(
                    "{url}: no store objects under this prefix; check --store and AWS_ENDPOINT_URL"
                )));
            }
            if m.fetched + m.removed > 0 {
                eprintln!(
                    "{url}: {} objects, {} fetched ({} bytes), {} removed from the local copy {}",
                    m.objects,
                    m.fetched,
                    m.bytes,
                    m.removed,
                    dir.display()
                );
            }
            for k in &m.ignored {
                eprintln!("warning: {url}/{k} is not a store path; not read");
            }
            Ok((m.dir, m.retention))
        }
    }
}

/// Options of a writer whose store is on S3.
#[derive(Args, Clone, Debug)]
pub(crate) struct ObjectArgs {
    /// With an s3:// store: this node's own store directory (WAL, lock,
    /// indexes), published to the bucket after each seal.
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// S3 Object Lock mode of published objects: compliance, governance or off.
    #[arg(long, default_value = "compliance")]
    pub lock_mode: LockMode,
    /// Years each published object is retained under Object Lock.
    #[arg(long, default_value_t = 6)]
    pub retention_years: u32,
}

/// A writer's store: its directory and, for an S3 store, its publisher.
pub(crate) struct WriterStore {
    pub dir: PathBuf,
    pub publisher: Option<Publisher>,
}

impl ObjectArgs {
    /// The directory to write and what publishes it.
    pub(crate) fn writer(&self, store: &StoreLocation) -> Result<WriterStore> {
        match store {
            StoreLocation::Dir(d) => {
                if self.work.is_some() {
                    bail!(Usage(
                        "--work is for an s3:// store; a directory store is its own working directory".into()
                    ));
                }
                Ok(WriterStore {
                    dir: d.clone(),
                    publisher: None,
                })
            }
            StoreLocation::S3(url) => {
                let Some(work) = &self.work else {
                    bail!(Usage(format!(
                        "{url}: a writer to an s3:// store needs --work DIR, its own store directory on local disk"
                    )));
                };
                let bucket = Bucket::connect(url)?;
                let lock = Lock {
                    mode: self.lock_mode,
                    retention_years: self.retention_years,
                };
                Ok(WriterStore {
                    dir: work.clone(),
                    publisher: Some(Publisher::new(bucket, lock, work)),
                })
            }
        }
    }
}

impl WriterStore {
    /// Publishes the directory's latest checkpoint, if the store is on S3,
    /// and says so on standard output.
    pub(crate) fn publish(&self) -> Result<()> {
        if let Some(done) = self.publish_quietly()? {
            println!(
                "published: tree size {} to {} ({} objects written, {} bytes)",
                done.size,
                self.publisher
                    .as_ref()
                    .map_or(String::new(), |p| p.bucket().url().to_string()),
                done.written,
                done.bytes
            );
        }
        Ok(())
    }

    /// [`WriterStore::publish`] without printing (the server logs instead).
    pub(crate) fn publish_quietly(&self) -> Result<Option<sealtrail::objects::publish::Published>> {
        match &self.publisher {
            Some(p) => Ok(Some(p.publish()?)),
            None => Ok(None),
        }
    }

    /// Whether merging must stay off: published segments are immutable,
    /// so a merged file could not replace them in the bucket.
    pub(crate) fn immutable(&self) -> bool {
        self.publisher.is_some()
    }
}

/// Arguments of `sealtrail hold`.
#[derive(Args)]
pub(crate) struct HoldArgs {
    /// The store (s3://bucket/prefix).
    #[arg(long, value_parser = parse_store)]
    store: StoreLocation,
    /// Place the hold (`on`) or lift it (`off`).
    #[arg(value_parser = ["on", "off"])]
    state: String,
    /// Only these store paths (e.g. segments/<name>); default: every object.
    #[arg(long = "object")]
    objects: Vec<String>,
}

impl HoldArgs {
    pub(crate) fn run(self) -> Result<std::process::ExitCode> {
        let StoreLocation::S3(url) = &self.store else {
            bail!(Usage(
                "legal holds are an S3 Object Lock feature: --store must be s3://bucket/prefix"
                    .into()
            ));
        };
        let bucket = Bucket::connect(url)?;
        let targets: Vec<String> = if self.objects.is_empty() {
            bucket.list()?.into_iter().map(|o| o.rel).collect()
        } else {
            self.objects.clone()
        };
        let on = self.state == "on";
        for rel in &targets {
            bucket.set_legal_hold(rel, on)?;
        }
        println!(
            "legal hold {}: {} objects under {url}",
            if on { "placed" } else { "lifted" },
            targets.len()
        );
        Ok(std::process::ExitCode::SUCCESS)
    }
}

/// The Object Lock lines `verify` prints for an S3 store, and the objects
/// that have no retention (each a problem).
pub(crate) fn retention_report(
    retention: &[(String, sealtrail::objects::Retention)],
) -> (Vec<String>, Vec<sealtrail::verify::Problem>) {
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    if retention.is_empty() {
        return (lines, problems);
    }
    let mut earliest: Option<&str> = None;
    let mut modes = std::collections::BTreeMap::<&str, usize>::new();
    let mut holds = 0;
    for (rel, r) in retention {
        match (&r.mode, &r.until) {
            (Some(m), Some(u)) => {
                *modes.entry(m.as_str()).or_default() += 1;
                if earliest.is_none_or(|e| u.as_str() < e) {
                    earliest = Some(u.as_str());
                }
            }
            _ if r.legal_hold => {}
            _ => problems.push(sealtrail::verify::Problem {
                kind: sealtrail::verify::ProblemKind::Unretained,
                file: rel.clone(),
                idx: None,
                detail: "no Object Lock retention or legal hold: it could be deleted".into(),
            }),
        }
        holds += usize::from(r.legal_hold);
    }
    let modes: Vec<String> = modes.iter().map(|(m, n)| format!("{n} {m}")).collect();
    lines.push(format!(
        "object lock: {} objects; retained: {}; earliest retain-until {}; legal holds: {holds}",
        retention.len(),
        if modes.is_empty() {
            "none".into()
        } else {
            modes.join(", ")
        },
        earliest.unwrap_or("-"),
    ));
    (lines, problems)
}

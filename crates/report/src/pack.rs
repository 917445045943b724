//! Evidence packs: for one period and one verified checkpoint, the PDF, one
//! CSV per table, the SQL that produced them, the checkpoint, the verifier
//! keys, a consistency proof to a previous pack's checkpoint, and a manifest
//! with every file's SHA-256, signed as a C2SP note (FORMAT.md §15).
//!
//! The layout (sections, citations, queries, thresholds) is data in
//! `reports/pack.toml`. Everything is derived from the store and the
//! parameters: the same inputs give byte-identical packs (the PDF's and the
//! zip's dates are the checkpoint's seal time, never the wall clock).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::csv::to_csv;
use super::pdf::PdfWriter;
use sealtrail_format::model::Ts;
use sealtrail_format::tlog::{Checkpoint, Signer, Verifier, merkle, proof};
use sealtrail_query::{Engine, Evidence, EvidenceSource, Param, QueryError, QueryFile, Table};
use sealtrail_store::Reader;
use sealtrail_verify as verify;

/// Errors building a pack.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// The query layer failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The layout file is missing or invalid.
    #[error("{path}: {what}")]
    Layout {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The previous checkpoint is unusable.
    #[error("--previous-checkpoint: {0}")]
    Previous(String),
    /// Writing the output failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The PDF could not be built.
    #[error("PDF: {0}")]
    Pdf(String),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] sealtrail_store::StoreError),
}

type Result<T> = std::result::Result<T, PackError>;

/// `reports/pack.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// Pack title.
    pub title: String,
    /// Default query parameters.
    #[serde(default)]
    pub params: BTreeMap<String, i64>,
    /// Human labels for column names in the PDF (CSV headers stay as is).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Sections, in order.
    #[serde(rename = "section")]
    pub sections: Vec<SectionSpec>,
}

/// One section of the layout.
#[allow(missing_docs)]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionSpec {
    pub id: String,
    pub title: String,
    pub citation: String,
    pub requirement: String,
    pub method: String,
    /// Query whose (first) row gives the key figures.
    pub summary: String,
    /// Columns of the summary row to show (all when empty).
    #[serde(default)]
    pub summary_columns: Vec<String>,
    /// Query whose rows are findings.
    pub findings: String,
    /// Further finding queries, counted too.
    #[serde(default)]
    pub extra_findings: Vec<String>,
    /// Only rows whose column of this name is `true` count as findings.
    #[serde(default)]
    pub findings_filter: Option<String>,
    /// Met when findings are at most this many.
    #[serde(default)]
    pub finding_threshold: u64,
    /// What a finding is, for the summary line.
    pub finding_label: String,
    /// Query and column whose sum also counts as findings (coverage gaps).
    #[serde(default)]
    pub gap_query: Option<String>,
    #[serde(default)]
    pub gap_column: Option<String>,
    /// Text for a period with no data (`{from}`, `{to}` substituted).
    pub empty: String,
    #[serde(default)]
    pub tables: Vec<TableSpec>,
    #[serde(default)]
    pub charts: Vec<ChartSpec>,
}

/// A table of a section.
#[allow(missing_docs)]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    pub query: String,
    pub title: String,
    #[serde(default)]
    pub max_rows: Option<usize>,
    #[serde(default)]
    pub columns: Vec<String>,
}

/// A chart of a section.
#[allow(missing_docs)]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartSpec {
    pub query: String,
    pub title: String,
    pub x: String,
    pub y: String,
    pub kind: String,
    #[serde(default)]
    pub max: Option<f64>,
}

impl Layout {
    /// Loads `<dir>/pack.toml`.
    pub fn load(dir: &Path) -> Result<Layout> {
        let path = dir.join("pack.toml");
        let text =
            sealtrail_query::assets::read_to_string(&path).map_err(|e| PackError::Layout {
                path: path.clone(),
                what: e.to_string(),
            })?;
        toml::from_str(&text).map_err(|e| PackError::Layout {
            path,
            what: e.to_string(),
        })
    }
}

/// What to build.
pub struct PackRequest<'a> {
    /// Store directory.
    pub store: &'a Path,
    /// The auditor's verifier keys.
    pub keys: &'a [Verifier],
    /// First day of the period (UTC).
    pub from: NaiveDate,
    /// Last day of the period, inclusive (UTC).
    pub to: NaiveDate,
    /// Organisation name for the cover and header.
    pub org: &'a str,
    /// A checkpoint note from a previous pack, for a consistency proof.
    pub previous_checkpoint: Option<&'a str>,
    /// `queries/` directory.
    pub queries: &'a Path,
    /// `reports/` directory.
    pub reports: &'a Path,
    /// Signs `manifest.sig` when given.
    pub signer: Option<&'a Signer>,
    /// A verified-state file (read only, FORMAT.md §10.1): the pack's
    /// verification re-reads row by row only what was sealed since.
    pub verify_state: Option<&'a Path>,
    /// Run the queries on Apache Spark with this command instead of
    /// embedded DuckDB (docs/SCALING.md); the pack then ships the Spark SQL
    /// that produced its numbers beside the DuckDB texts.
    pub spark: Option<&'a sealtrail_query::spark::SparkCommand>,
    /// Witness keys: the pack ships them, and its attestation says which
    /// of them cosigned the pinned checkpoint (FORMAT.md §5.5).
    pub witnesses: &'a [sealtrail_format::tlog::cosignature::CosignerKey],
}

/// One file of a pack.
#[derive(Clone, Debug)]
pub struct PackFile {
    /// Path inside the pack.
    pub name: String,
    /// Contents.
    pub bytes: Vec<u8>,
}

/// A section's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct SectionResult {
    /// Section id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Citation.
    pub citation: String,
    /// Met (findings within threshold).
    pub met: bool,
    /// Finding count.
    pub findings: u64,
    /// Whether the period held data for this section.
    pub has_data: bool,
}

/// A built pack: its files (in a fixed order) and its section outcomes.
pub struct Pack {
    /// Files, sorted by name.
    pub files: Vec<PackFile>,
    /// Section outcomes, in layout order.
    pub sections: Vec<SectionResult>,
    /// The checkpoint it is pinned to.
    pub checkpoint: Checkpoint,
    /// Whether the store verified.
    pub verified: bool,
}

struct Ran {
    file: QueryFile,
    table: Table,
}

fn count_findings(t: &Table, filter: Option<&str>) -> u64 {
    match filter {
        None => t.rows.len() as u64,
        Some(col) => (0..t.rows.len())
            .filter(|&i| t.get(i, col) == Some("true"))
            .count() as u64,
    }
}

fn fill(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut s = text.to_string();
    for (k, v) in vars {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// The query parameters of a pack for `req`'s period (the layout's
/// thresholds, the period's bounds, the pinned tree size) and the
/// variables its wording is filled with.
fn period_params(
    layout: &Layout,
    req: &PackRequest<'_>,
    cp: &Checkpoint,
) -> (BTreeMap<String, Param>, BTreeMap<String, String>) {
    let start = Ts(req
        .from
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc().timestamp_micros())
        .unwrap_or(0));
    let end_day = req.to.succ_opt().unwrap_or(req.to);
    let end = Ts(end_day
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc().timestamp_micros())
        .unwrap_or(0));
    let mut params: BTreeMap<String, Param> = layout
        .params
        .iter()
        .map(|(k, v)| (k.clone(), Param::Int(*v)))
        .collect();
    params.insert("period_start".into(), Param::Time(start));
    params.insert("period_end".into(), Param::Time(end));
    params.insert("as_of".into(), Param::Time(end));
    params.insert("tree_size".into(), Param::Int(cp.size as i64));
    let mut vars: BTreeMap<String, String> = layout
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect();
    vars.insert("from".into(), req.from.to_string());
    vars.insert("to".into(), req.to.to_string());
    (params, vars)
}

/// Every query the layout names, once each in the order first named, and
/// the coverage query every pack ships (every SQL a pack runs is a file it
/// ships).
fn query_names(layout: &Layout) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut add = |n: &str| {
        if !names.iter().any(|m| m == n) {
            names.push(n.to_string());
        }
    };
    for s in &layout.sections {
        add(&s.summary);
        add(&s.findings);
        for q in &s.extra_findings {
            add(q);
        }
        if let Some(q) = &s.gap_query {
            add(q);
        }
        for t in &s.tables {
            add(&t.query);
        }
        for c in &s.charts {
            add(&c.query);
        }
    }
    add("pack_coverage_running");
    names
}

/// Runs each of `files` on `engine`.
fn run_queries(engine: &dyn Engine, files: Vec<QueryFile>) -> Result<BTreeMap<String, Ran>> {
    let mut ran: BTreeMap<String, Ran> = BTreeMap::new();
    for file in files {
        let table = engine.run_file(&file)?;
        ran.insert(file.name.clone(), Ran { file, table });
    }
    Ok(ran)
}

/// Each section's outcome: its findings against its threshold, and whether
/// the period held data for it.
fn section_results(layout: &Layout, ran: &BTreeMap<String, Ran>) -> Vec<SectionResult> {
    let mut results = Vec::new();
    for s in &layout.sections {
        let summary = &ran[&s.summary].table;
        // a positive number, or any other non-empty value, in the first row
        // (numbers read from the typed batch; a text column as written)
        let has_data = !summary.rows.is_empty()
            && summary.columns.iter().zip(&summary.rows[0]).any(|(c, v)| {
                summary
                    .value(0, c)
                    .or_else(|| v.parse::<f64>().ok())
                    .map_or(!v.is_empty(), |n| n > 0.0)
            });
        let mut findings = count_findings(&ran[&s.findings].table, s.findings_filter.as_deref());
        for q in &s.extra_findings {
            findings += count_findings(&ran[q].table, None);
        }
        if let (Some(q), Some(col)) = (&s.gap_query, &s.gap_column) {
            let t = &ran[q].table;
            findings += (0..t.rows.len()).map(|i| t.num(i, col) as u64).sum::<u64>();
        }
        results.push(SectionResult {
            id: s.id.clone(),
            title: s.title.clone(),
            citation: s.citation.clone(),
            met: findings <= s.finding_threshold,
            findings,
            has_data,
        });
    }
    results
}

/// The consistency proof from a previous pack's checkpoint `prev` to `cp`,
/// and the verdict the pack states: (proof text, verdict).
fn consistency_with(
    store: &Path,
    keys: &[Verifier],
    prev: &str,
    cp: &Checkpoint,
) -> Result<(String, String)> {
    let reader = Reader::open(store)?;
    let old = Checkpoint::open(prev, keys).map_err(|e| PackError::Previous(e.to_string()))?;
    if old.size > cp.size {
        return Err(PackError::Previous(format!(
            "it has {} leaves, more than this store's {}: the store was rolled back",
            old.size, cp.size
        )));
    }
    let text = if old.size == 0 {
        String::new()
    } else {
        reader.consistency_proof(old.size, cp.size, keys)?
    };
    let verdict = match proof::parse(&text) {
        Ok(proof::ProofText::Consistency { hashes, .. }) => {
            merkle::verify_consistency(old.size, cp.size, &old.root, &cp.root, &hashes)
        }
        _ => merkle::verify_consistency(old.size, cp.size, &old.root, &cp.root, &[]),
    };
    let v = match verdict {
        Ok(()) => format!(
            "consistent: the tree of {} leaves in the previous checkpoint is a prefix of this one ({} leaves)",
            old.size, cp.size
        ),
        Err(e) => format!(
            "NOT consistent with the previous checkpoint of {} leaves: {e}",
            old.size
        ),
    };
    Ok((text, v))
}

/// Builds a pack in memory.
pub fn build(req: &PackRequest<'_>) -> Result<Pack> {
    let layout = Layout::load(req.reports)?;
    // The checkpoint the pack shows is pinned first; the store is then
    // verified (its result goes on the cover) on other threads while the
    // queries run, with that checkpoint as a trusted one, so the leaves
    // the pack shows are among those verified even if a seal comes between.
    let ev = Evidence::open(EvidenceSource {
        store: req.store,
        keys: req.keys,
        queries: req.queries,
    })?;
    let verifying = {
        let (store, keys) = (req.store.to_path_buf(), req.keys.to_vec());
        let state = req.verify_state.map(Path::to_path_buf);
        let pinned = ev.checkpoint_note.clone();
        std::thread::spawn(move || {
            verify::verify_store(
                &store,
                &keys,
                &verify::Options {
                    trusted_checkpoint: Some(pinned),
                    state: state.as_deref(),
                    ..Default::default()
                },
            )
        })
    };
    let cp = ev.checkpoint.clone();
    let sealed_at = ev.manifest.sealed_at;

    let (params, vars) = period_params(&layout, req, &cp);
    for (k, v) in &params {
        ev.set(k, v)?;
    }

    let files: Vec<QueryFile> = query_names(&layout)
        .iter()
        .map(|n| QueryFile::load(req.queries, n))
        .collect::<std::result::Result<_, _>>()?;
    let spark = match req.spark {
        Some(command) => {
            let views = QueryFile::load(req.queries, "views")?;
            let work = std::env::temp_dir().join(format!(
                "sealtrail-spark-{}-{}",
                std::process::id(),
                cp.size
            ));
            // (on failure the job and its log stay there for the officer)
            let results =
                sealtrail_query::spark::run(&ev, &params, &views, &files, command, &work)?;
            Some((results, work))
        }
        None => None,
    };
    let engine: &dyn Engine = match &spark {
        Some((s, _)) => s,
        None => &ev,
    };
    let ran = run_queries(engine, files)?;
    let spark = spark.map(|(results, work)| {
        let _ = std::fs::remove_dir_all(&work);
        results
    });
    let coverage_running = ran["pack_coverage_running"]
        .table
        .num(0, "hours_with_events")
        > 0.0;
    let report = verifying
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));

    let results = section_results(&layout, &ran);

    // Consistency with a previous pack's checkpoint.
    let consistency = match req.previous_checkpoint {
        Some(prev) => Some(consistency_with(req.store, req.keys, prev, &cp)?),
        None => None,
    };

    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (name, r) in &ran {
        files.insert(format!("csv/{name}.csv"), to_csv(&r.table).into_bytes());
        files.insert(
            format!("queries/{name}.sql"),
            r.file.text.clone().into_bytes(),
        );
    }
    let views = QueryFile::load(req.queries, "views")?;
    files.insert("queries/views.sql".into(), views.text.clone().into_bytes());
    if let Some(s) = &spark {
        // the texts that produced this pack's numbers
        for (name, text) in &s.spark_sql {
            files.insert(
                format!("queries/spark/{name}.sql"),
                text.clone().into_bytes(),
            );
        }
    }
    let mut params_sql = String::from(
        "-- The parameters this pack was built with. In DuckDB, from a directory holding the store's segments/:\n--   .read params.sql\n--   .read queries/views.sql\n--   .read queries/<name>.sql\nSET TimeZone = 'UTC';\n",
    );
    for (k, v) in &params {
        params_sql.push_str(&format!("SET VARIABLE {k} = {};\n", v.literal()));
    }
    files.insert("params.sql".into(), params_sql.into_bytes());
    files.insert("checkpoint".into(), ev.checkpoint_note.clone().into_bytes());
    if !req.witnesses.is_empty() {
        let w: String = req
            .witnesses
            .iter()
            .map(|k| k.to_vkey_string() + "\n")
            .collect();
        files.insert("witnesses.vkey".into(), w.into_bytes());
    }
    let vkeys: String = req.keys.iter().map(|k| k.to_vkey_string() + "\n").collect();
    files.insert("verifier.vkey".into(), vkeys.into_bytes());
    files.insert(
        "verifier.pub.pem".into(),
        req.keys
            .iter()
            .map(|k| k.to_pem())
            .collect::<String>()
            .into_bytes(),
    );
    if let Some((text, _)) = &consistency
        && !text.is_empty()
    {
        files.insert("consistency.tlog-proof".into(), text.clone().into_bytes());
    }

    let pdf = render_pdf(&PdfInput {
        req,
        layout: &layout,
        results: &results,
        ran: &ran,
        cp: &cp,
        cp_note: &ev.checkpoint_note,
        sealed_at,
        report: &report,
        consistency: consistency.as_ref().map(|c| c.1.as_str()),
        coverage_running,
        vars: &vars,
    })?;
    files.insert("evidence-pack.pdf".into(), pdf);

    // The manifest: every file's hash, the parameters, the checkpoint.
    #[derive(Serialize)]
    struct ManifestFile<'a> {
        name: &'a str,
        sha256: String,
        bytes: usize,
    }
    let manifest = serde_json::json!({
        "format": "sealtrail.dev/pack@v1",
        "organisation": req.org,
        "period": {"from": req.from.to_string(), "to": req.to.to_string()},
        "parameters": params.iter().map(|(k, v)| (k.clone(), v.literal())).collect::<BTreeMap<_, _>>(),
        "checkpoint": {"origin": cp.origin, "size": cp.size, "root": B64.encode(cp.root), "sealed_at": sealed_at.to_canonical()},
        "verification": {"ok": report.ok(), "summary": report.summary(), "problems": report.problems.len()},
        "consistency": consistency.as_ref().map(|c| c.1.clone()),
        "sections": results,
        "files": files.iter().map(|(n, b)| ManifestFile { name: n, sha256: hex::encode(Sha256::digest(b)), bytes: b.len() }).collect::<Vec<_>>(),
    });
    // never a signed empty manifest
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| PackError::Pdf(format!("manifest.json could not be written: {e}")))?;
    if let Some(signer) = req.signer {
        let text = format!(
            "sealtrail.dev/pack-manifest@v1\n{}\n",
            hex::encode(Sha256::digest(&manifest_bytes))
        );
        let note = signer
            .sign_note(&text)
            .map_err(|e| PackError::Pdf(e.to_string()))?;
        files.insert("manifest.sig".into(), note.into_bytes());
    }
    files.insert("manifest.json".into(), manifest_bytes);

    Ok(Pack {
        files: files
            .into_iter()
            .map(|(name, bytes)| PackFile { name, bytes })
            .collect(),
        sections: results,
        checkpoint: cp,
        verified: report.ok(),
    })
}

fn columns_of(t: &Table, wanted: &[String]) -> (Vec<String>, Vec<Vec<String>>) {
    if wanted.is_empty() {
        return (t.columns.clone(), t.rows.clone());
    }
    let idx: Vec<usize> = wanted
        .iter()
        .filter_map(|w| t.columns.iter().position(|c| c == w))
        .collect();
    (
        idx.iter().map(|&i| t.columns[i].clone()).collect(),
        t.rows
            .iter()
            .map(|r| idx.iter().map(|&i| r[i].clone()).collect())
            .collect(),
    )
}

#[allow(clippy::too_many_arguments)]
/// Everything the PDF shows, gathered by [`build`].
struct PdfInput<'a> {
    req: &'a PackRequest<'a>,
    layout: &'a Layout,
    results: &'a [SectionResult],
    ran: &'a BTreeMap<String, Ran>,
    cp: &'a Checkpoint,
    cp_note: &'a str,
    sealed_at: Ts,
    report: &'a verify::Report,
    consistency: Option<&'a str>,
    coverage_running: bool,
    vars: &'a BTreeMap<String, String>,
}

fn render_pdf(input: &PdfInput<'_>) -> Result<Vec<u8>> {
    let PdfInput {
        req,
        layout,
        results,
        ran,
        cp,
        cp_note,
        sealed_at,
        report,
        consistency,
        coverage_running,
        vars,
    } = *input;
    let period = format!("{} to {}", req.from, req.to);
    let label = |c: &str| {
        layout
            .labels
            .get(c)
            .cloned()
            .unwrap_or_else(|| c.replace('_', " "))
    };
    let mut w = PdfWriter::new(&format!("{} · {} · {}", req.org, layout.title, period))
        .map_err(PackError::Pdf)?;
    // 1. Cover and summary
    w.heading(&layout.title, 0);
    w.paragraph(&format!("Organisation: {}", req.org), 11.0);
    w.paragraph(&format!("Period: {period} (UTC, both days included)"), 11.0);
    w.paragraph(
        &format!("Evidence sealed up to: {} (checkpoint time)", sealed_at),
        11.0,
    );
    w.space(6.0);
    w.heading("Checkpoint", 2);
    w.paragraph(&format!("Origin: {}", cp.origin), 9.0);
    w.paragraph(&format!("Tree size: {} leaves", cp.size), 9.0);
    w.paragraph(&format!("Root hash: {}", B64.encode(cp.root)), 9.0);
    let verdict = if report.ok() {
        format!("Verification: passed. {}", report.summary())
    } else {
        format!(
            "Verification: FAILED. {} See the Integrity attestation.",
            report.summary()
        )
    };
    w.paragraph_colored(&verdict, 9.0, super::pdf::status_color(report.ok()));
    w.space(6.0);
    w.heading("Summary", 2);
    let mut rows = Vec::new();
    for (i, r) in results.iter().enumerate() {
        let spec = &layout.sections[i];
        let outcome = if r.met {
            "Met".to_string()
        } else {
            format!("Finding: {} {}", r.findings, spec.finding_label)
        };
        rows.push(vec![
            format!("{}. {}", i + 2, r.title),
            r.citation.clone(),
            outcome,
        ]);
    }
    let met_of = |row: &[String]| -> Option<bool> { Some(row.get(2).is_some_and(|s| s == "Met")) };
    w.table(
        &["Section".into(), "Citation".into(), "Result".into()],
        &rows,
        Some(&met_of),
    );
    w.note("Met means the findings are within the threshold set in reports/pack.toml (0 unless the organisation changed it). Every number in this document comes from a SQL file shipped in this pack, run against the sealed log at the checkpoint above.");

    // 2..6. Sections
    for (i, spec) in layout.sections.iter().enumerate() {
        let r = &results[i];
        w.page_break();
        w.heading(&format!("{}. {}", i + 2, spec.title), 1);
        w.paragraph_colored(&spec.citation, 9.0, super::pdf::status_color(true));
        w.labelled("Requirement", &fill(&spec.requirement, vars), 9.5);
        w.labelled("Method", &fill(&spec.method, vars), 9.5);
        let result = if r.met {
            "Result: met. No findings in the period.".to_string()
        } else {
            format!("Result: finding. {} {}.", r.findings, spec.finding_label)
        };
        w.paragraph_colored(&result, 10.0, super::pdf::status_color(r.met));
        if !r.has_data {
            let running = if coverage_running {
                "Coverage records show log collection was running in the period."
            } else {
                "Coverage records show log collection was not running in the period."
            };
            w.paragraph(&format!("{} {}", fill(&spec.empty, vars), running), 9.5);
        }
        let summary = &ran[&spec.summary].table;
        if !summary.rows.is_empty() && !spec.summary_columns.is_empty() {
            let (cols, rows) = columns_of(summary, &spec.summary_columns);
            let kv: Vec<Vec<String>> = cols
                .iter()
                .enumerate()
                .map(|(k, c)| vec![label(c), rows[0][k].clone()])
                .collect();
            w.heading("Key figures", 2);
            w.table(&["Measure".into(), "Value".into()], &kv, None);
        }
        for t in &spec.tables {
            let table = &ran[&t.query].table;
            let (cols, mut rows) = columns_of(table, &t.columns);
            let cols: Vec<String> = cols.iter().map(|c| label(c)).collect();
            let total = rows.len();
            if let Some(m) = t.max_rows {
                rows.truncate(m);
            }
            w.heading(&t.title, 2);
            if total == 0 {
                w.paragraph("No rows in the period.", 9.0);
            } else {
                w.table(&cols, &rows, None);
                if total > rows.len() {
                    w.note(&format!(
                        "Showing {} of {} rows; all are in csv/{}.csv.",
                        rows.len(),
                        total,
                        t.query
                    ));
                }
            }
        }
        for c in &spec.charts {
            let t = &ran[&c.query].table;
            if t.rows.is_empty() {
                continue;
            }
            let labels: Vec<String> = (0..t.rows.len())
                .map(|k| t.get(k, &c.x).unwrap_or("").to_string())
                .collect();
            let values: Vec<f64> = (0..t.rows.len()).map(|k| t.num(k, &c.y)).collect();
            w.chart(&c.title, &labels, &values, c.kind == "bar", c.max);
        }
        let mut used: Vec<&str> = vec![&spec.summary, &spec.findings];
        used.extend(spec.extra_findings.iter().map(String::as_str));
        used.extend(spec.tables.iter().map(|t| t.query.as_str()));
        used.extend(spec.charts.iter().map(|t| t.query.as_str()));
        used.sort();
        used.dedup();
        w.heading("Queries", 2);
        for q in used {
            w.note(&format!(
                "queries/{q}.sql  sha256 {}",
                hex::encode(ran[q].file.sha256)
            ));
        }
    }

    // 7. Integrity attestation
    let n = layout.sections.len() + 2;
    w.page_break();
    w.heading(&format!("{n}. Integrity attestation"), 1);
    w.paragraph("Every event behind this pack is a leaf of an append-only log: hash-chained, in an RFC 6962 Merkle tree, with the tree head signed as a C2SP checkpoint. The checkpoint below, verbatim, is the one every query was pinned to.", 9.5);
    w.verbatim(cp_note);
    w.labelled(
        "Verifier key",
        &req.keys
            .iter()
            .map(|k| k.to_vkey_string())
            .collect::<Vec<_>>()
            .join("\n"),
        8.5,
    );
    if !req.witnesses.is_empty() {
        let note = sealtrail_format::tlog::Note::parse(cp_note).ok();
        let lines: Vec<String> = req
            .witnesses
            .iter()
            .map(|k| {
                let at = note
                    .as_ref()
                    .and_then(|n| n.signatures.iter().find_map(|s| k.verify(s, &n.text)));
                match at.and_then(|t| chrono::DateTime::from_timestamp(t as i64, 0)) {
                    Some(t) => format!(
                        "{}: cosigned this checkpoint at {} UTC",
                        k.name(),
                        t.format("%Y-%m-%d %H:%M:%S")
                    ),
                    None => format!("{}: no valid cosignature on this checkpoint", k.name()),
                }
            })
            .collect();
        w.labelled(
            "Witnesses",
            &format!(
                "{}\nA witness's cosignature (C2SP tlog-cosignature v1, keys in witnesses.vkey) states that at the time given this was the largest tree the witness had seen for this log, consistent with every earlier tree it cosigned: no one, the holder of the log's key included, can have rewritten the history it covers without the witness refusing to cosign. Check it with docs/verifiers/check_cosignatures.py or sealtrail verify --witness.",
                lines.join("\n")
            ),
            8.5,
        );
    }
    w.labelled("Verification of the store", &report.summary(), 9.0);
    if let Some(c) = consistency {
        w.labelled("Consistency with the previous pack", c, 9.0);
    }
    w.labelled(
        "How to verify offline",
        "1. Check this checkpoint's signature with the verifier key: sealtrail verify --store STORE --vkey verifier.vkey, or with OpenSSL 3: openssl pkeyutl -verify -pubin -inkey verifier.pub.pem -rawin -in body.txt -sigfile sig.bin (docs/VERIFYING.md). 2. Check manifest.sig the same way and that sha256sum of manifest.json matches it, then each file's SHA-256 against manifest.json. 3. Rerun any query: from a copy of the store, duckdb -c \".read params.sql\" -c \".read queries/views.sql\" -c \".read queries/<name>.sql\" gives the numbers in this document. 4. With the previous pack's checkpoint, consistency.tlog-proof shows the log only grew.",
        9.0,
    );

    // 8. Appendix
    w.page_break();
    w.heading(&format!("{}. Appendix: the SQL of every query", n + 1), 1);
    for (name, r) in ran {
        w.heading(&format!("queries/{name}.sql"), 2);
        w.verbatim(&r.file.text);
    }
    Ok(w.finish(
        &format!("{} — {}", layout.title, req.org),
        req.org,
        sealed_at.0.div_euclid(1_000_000),
    ))
}

/// Writes a pack into a directory (created, must be empty or absent).
pub fn write_dir(pack: &Pack, dir: &Path) -> Result<()> {
    for f in &pack.files {
        let path = dir.join(&f.name);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|source| PackError::Io {
                path: p.to_path_buf(),
                source,
            })?;
        }
        sealtrail_store::atomic_write(&path, &f.bytes).map_err(|e| PackError::Io {
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
    }
    Ok(())
}

/// The pack as zip bytes, entries in name order with the checkpoint's time.
pub fn to_zip(pack: &Pack, sealed_at: Ts) -> Result<Vec<u8>> {
    use chrono::{Datelike, Timelike};
    let dt = sealed_at.to_datetime().unwrap_or_default();
    let zdt = zip::DateTime::from_date_and_time(
        dt.year().clamp(1980, 2107) as u16,
        dt.month() as u8,
        dt.day() as u8,
        dt.hour() as u8,
        dt.minute() as u8,
        dt.second() as u8,
    )
    .unwrap_or_default();
    // deflate's fastest level: the pack's CSVs reach tens of MB at 10M
    // events, and zipping them is the serial tail of a pack (level 1 vs the
    // default 6: docs/BENCHMARKS.md, session 4)
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1))
        .last_modified_time(zdt)
        .unix_permissions(0o644);
    let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let io = |e: zip::result::ZipError| PackError::Io {
        path: PathBuf::from("pack.zip"),
        source: std::io::Error::other(e.to_string()),
    };
    for f in &pack.files {
        zw.start_file(format!("evidence-pack/{}", f.name), opts)
            .map_err(io)?;
        zw.write_all(&f.bytes).map_err(|source| PackError::Io {
            path: PathBuf::from(&f.name),
            source,
        })?;
    }
    Ok(zw.finish().map_err(io)?.into_inner())
}

/// The sealed time of a pack's checkpoint, from its manifest.json.
pub fn sealed_at(pack: &Pack) -> Ts {
    pack.files
        .iter()
        .find(|f| f.name == "manifest.json")
        .and_then(|f| serde_json::from_slice::<serde_json::Value>(&f.bytes).ok())
        .and_then(|v| {
            v["checkpoint"]["sealed_at"]
                .as_str()
                .and_then(Ts::parse_rfc3339)
        })
        .unwrap_or(Ts(0))
}

//! `sealtrail demo`: the main job for a newcomer, end to end on the bundled
//! fixtures, with no service to start: a key, a fresh store holding every
//! source's fixtures, a seal and an offline verification.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use sealtrail::ingest;
use sealtrail::store::Appender;
use sealtrail::tlog::Signer;
use sealtrail::verify;

const DEMO_MARKER: &str = ".sealtrail-demo";
/// The patient whose accounting the demo produces (in the disclosures fixture).
const DEMO_PATIENT: &str = "MRN-00101";
/// The demo store's origin.
pub const ORIGIN: &str = "demo.sealtrail.example/log";

/// Fixture files per source: `fixtures/<source>/*`, sources in registry order.
pub fn fixture_inputs(fixtures: &Path) -> Result<Vec<(String, Vec<PathBuf>)>> {
    let mut out = Vec::new();
    for name in ingest::source_names() {
        let dir = fixtures.join(name);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if !files.is_empty() {
            out.push((name.to_string(), files));
        }
    }
    Ok(out)
}

pub fn run(out: &Path, fixtures: &Path) -> Result<ExitCode> {
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        if !out.join(DEMO_MARKER).exists() {
            bail!(super::Usage(format!(
                "{}: exists and was not made by `sealtrail demo`; pick another --out",
                out.display()
            )));
        }
        std::fs::remove_dir_all(out)
            .with_context(|| format!("{}: cannot clear the previous demo", out.display()))?;
    }
    std::fs::create_dir_all(out)?;
    std::fs::write(
        out.join(DEMO_MARKER),
        "made by sealtrail demo; safe to delete\n",
    )?;
    let keys = out.join("keys");
    let store = out.join("store");
    std::fs::create_dir_all(&keys)?;
    let signer = Signer::generate(ORIGIN)?;
    let key_file = keys.join("demo.key");
    super::write_key_files(&signer, &keys, "demo")?;
    let verifier = signer.verifier();
    let verifier_for_pack = signer.verifier();

    println!("== 1. ingest the bundled fixtures of every source");
    let mut app = Appender::open_or_create(&store, signer, Some(&key_file))?;
    // as `sealtrail ingest`: files, durable when sealed
    app.set_durability(sealtrail::store::Durability::Seal)?;
    for (source, files) in fixture_inputs(fixtures)? {
        let mut run = ingest::Ingest::new(
            &mut app,
            ingest::source_by_name(&source)?,
            ingest::Options::default(),
        );
        for f in &files {
            let label = f
                .strip_prefix(fixtures)
                .map(|p| format!("fixtures/{}", p.display()))
                .unwrap_or_else(|_| f.display().to_string());
            run.input_file(f, &label)?;
        }
        print!("{}", run.finish()?.render());
    }
    let cp = app.checkpoint();
    drop(app);
    println!("sealed: tree size {}", cp.size);

    println!("== 2. verify offline, from the files and the verifier key alone");
    let report = verify::verify_store(&store, &[verifier], &Default::default());
    for p in &report.problems {
        println!("{p}");
    }
    println!("{}", report.summary());

    println!("== 3. build the evidence pack for the whole period of the fixtures");
    let queries = fixtures.parent().unwrap_or(fixtures).join("queries");
    let reports = fixtures.parent().unwrap_or(fixtures).join("reports");
    let ev = sealtrail::query::Evidence::open(sealtrail::query::EvidenceSource {
        store: &store,
        keys: std::slice::from_ref(&verifier_for_pack),
        queries: &queries,
    })?;
    let span = ev.run("period", "SELECT strftime(min(ts), '%Y-%m-01'), strftime(max(ts), '%Y-%m-%d') FROM leaves WHERE kind NOT IN ('coverage', 'quarantine', 'admin')")?;
    drop(ev);
    let (from, to) = match span.rows.first() {
        Some(r) if !r[0].is_empty() => (r[0].clone(), r[1].clone()),
        _ => bail!(
            "the demo store holds no events; are the fixtures in {}?",
            fixtures.display()
        ),
    };
    let pack_zip = out.join(format!("evidence-pack-{from}-to-{to}.zip"));
    let pack_dir = out.join("evidence-pack");
    let signer = super::load_signer(&key_file)?;
    let built = sealtrail::report::pack::build(&sealtrail::report::pack::PackRequest {
        store: &store,
        keys: std::slice::from_ref(&verifier_for_pack),
        from: super::parse_day("from", &from)?,
        to: super::parse_day("to", &to)?,
        org: "Springfield General Hospital (demo)",
        previous_checkpoint: None,
        queries: &queries,
        reports: &reports,
        signer: Some(&signer),
        verify_state: None,
        spark: None,
        witnesses: &[],
    })?;
    sealtrail::store::atomic_write(
        &pack_zip,
        &sealtrail::report::pack::to_zip(&built, sealtrail::report::pack::sealed_at(&built))?,
    )?;
    sealtrail::report::pack::write_dir(&built, &pack_dir)?;
    println!("period {from} to {to}: {} files", built.files.len());
    for sec in &built.sections {
        println!(
            "  {:<56} {}",
            sec.title,
            if sec.met {
                "met".to_string()
            } else {
                format!("finding ({})", sec.findings)
            }
        );
    }

    println!("== 4. a patient asks for an accounting of disclosures, and gets it");
    let settings = sealtrail::accounting::Settings::load(&reports)?;
    let to_day = super::parse_day("to", &to)?;
    let keys_v = [signer.verifier()];
    let mut app = Appender::open(&store, signer)?;
    let existing = sealtrail::accounting::requests(sealtrail::query::EvidenceSource {
        store: &store,
        keys: &keys_v,
        queries: &queries,
    })?;
    let req = sealtrail::accounting::record_request(
        &mut app,
        &existing,
        &settings,
        DEMO_PATIENT,
        to_day,
        None,
    )?;
    let acc = sealtrail::accounting::build(
        sealtrail::query::EvidenceSource {
            store: &store,
            keys: &keys_v,
            queries: &queries,
        },
        DEMO_PATIENT,
        req.to,
        Some(req.from),
    )?;
    let acc_dir = out.join("accounting");
    std::fs::create_dir_all(&acc_dir)?;
    let json = serde_json::to_vec_pretty(&acc)?;
    let letter = sealtrail::report::letter::render(&acc, &settings, &to);
    sealtrail::store::atomic_write(&acc_dir.join("accounting.json"), &json)?;
    sealtrail::store::atomic_write(&acc_dir.join("accounting-letter.pdf"), &letter)?;
    use sha2::Digest;
    let sent = vec![
        (
            "accounting.json".to_string(),
            sha2::Sha256::digest(&json).into(),
        ),
        (
            "accounting-letter.pdf".to_string(),
            sha2::Sha256::digest(&letter).into(),
        ),
    ];
    sealtrail::accounting::record_fulfilment(&mut app, &req, to_day, &acc.checkpoint, &sent)?;
    drop(app);
    println!(
        "request {} for patient {DEMO_PATIENT}: {} entries, {} withheld, each with an inclusion proof",
        req.id,
        acc.entries.len(),
        acc.withheld_count
    );

    println!("== where things are");
    println!("store:         {}", store.display());
    println!("signing key:   {} (outside the store)", key_file.display());
    println!("verifier key:  {}", keys.join("demo.vkey").display());
    println!(
        "evidence pack: {} (unpacked: {})",
        pack_zip.display(),
        pack_dir.join("evidence-pack.pdf").display()
    );
    println!(
        "accounting:    {} (and accounting.json beside it)",
        acc_dir.join("accounting-letter.pdf").display()
    );
    println!(
        "an auditor runs: sealtrail verify --store {} --vkey {}",
        store.display(),
        keys.join("demo.vkey").display()
    );
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

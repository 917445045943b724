//! Patient accounting of disclosures (45 CFR 164.528): the rules for
//! requests, deadlines, extensions and fees, and the accounting itself,
//! built from the sealed log with an inclusion proof per entry.
//!
//! Requests, extensions and fulfilments are leaves of kind
//! `accounting_request` (FORMAT.md §17), written through the store's
//! [`Appender`]; everything is read back through the query layer
//! (`queries/accounting_*.sql`). The letter is rendered by
//! `sealtrail-report` (`letter`); this crate decides what it says.
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use sealtrail_format::model::{Kind, Record, Ts, patient_key};
use sealtrail_format::tlog::{Verifier, proof};
use sealtrail_query::{Evidence, EvidenceSource, Param, QueryError, QueryFile, Refresh, Table};
use sealtrail_store::{Appender, Reader, StoreError};

/// Days to answer a request (164.528(c)(1)).
pub const DUE_DAYS: u64 = 60;
/// Longest extension (164.528(c)(2)).
pub const EXTENSION_DAYS: u64 = 30;
/// Longest oral suspension without a written statement (164.528(a)(2)(ii)).
pub const ORAL_SUSPENSION_DAYS: u64 = 30;
/// How far back an accounting reaches (164.528(a)(1)).
pub const LOOKBACK_YEARS: u32 = 6;
/// Disclosures before the Privacy Rule's compliance date are excluded (164.528(a)(1)(ix)).
pub const COMPLIANCE_DATE: &str = "2003-04-14";

/// Errors of the accounting commands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountingError {
    /// The rules forbid what was asked; the message says why and what is allowed.
    #[error("refused: {0}")]
    Refused(String),
    /// No such request.
    #[error("no accounting request {0}; `sealtrail accounting list` shows the open ones")]
    UnknownRequest(String),
    /// The query layer failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The settings file is missing or invalid.
    #[error("{0}")]
    Settings(String),
    /// The store's own evidence is inconsistent (never papered over with a
    /// default: a patient would be given another leaf's proof).
    #[error("the sealed evidence is inconsistent: {0}; run `sealtrail verify`")]
    Evidence(String),
}

type Result<T> = std::result::Result<T, AccountingError>;

/// `reports/accounting.toml`: the letter's wording and the fee.
#[allow(missing_docs)]
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub organisation: String,
    pub contact: String,
    pub officer: String,
    pub fee: String,
    pub currency: String,
    pub title: String,
    pub intro: String,
    pub none: String,
    pub repeated: String,
    pub withheld: String,
    pub not_listed: String,
    pub rights: String,
    pub verify: String,
    pub footer: String,
}

impl Settings {
    /// Loads `<dir>/accounting.toml`.
    pub fn load(dir: &Path) -> Result<Settings> {
        let path = dir.join("accounting.toml");
        let text = sealtrail_query::assets::read_to_string(&path)
            .map_err(|e| AccountingError::Settings(format!("{}: {e}", path.display())))?;
        toml::from_str(&text)
            .map_err(|e| AccountingError::Settings(format!("{}: {e}", path.display())))
    }
}

/// The checkpoint an accounting cites.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CheckpointRef {
    /// Log origin.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash, base64.
    pub root: String,
}

/// The period covered.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Period {
    /// First day (YYYY-MM-DD).
    pub from: String,
    /// Last day, included.
    pub to: String,
}

/// One line of an accounting (JSON contract, FORMAT.md §17).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Entry {
    /// Date of the (first) disclosure.
    pub date: String,
    /// Who received it.
    pub recipient_name: String,
    /// Their address, if known.
    pub recipient_address: Option<String>,
    /// Brief description of the PHI.
    pub description: String,
    /// Purpose.
    pub purpose: String,
    /// Legal basis.
    pub basis: String,
    /// Disclosures summarised in this line (1 for a single one).
    pub count: u64,
    /// Date of the last of a series; null for a single disclosure.
    pub last_date: Option<String>,
    /// How it travelled, when linked to recorded deliveries.
    pub transport: Option<String>,
    /// Leaf index of the (first) disclosure.
    pub idx: u64,
    /// C2SP tlog-proof of that leaf against the cited checkpoint.
    pub proof: String,
}

/// An accounting of disclosures (JSON contract, FORMAT.md §17).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Accounting {
    /// The patient id as asked for.
    pub patient_id: String,
    /// The period covered.
    pub period: Period,
    /// The signed checkpoint every proof is against.
    pub checkpoint: CheckpointRef,
    /// The entries, oldest first.
    pub entries: Vec<Entry>,
    /// Disclosures withheld under a suspension.
    pub withheld_count: u64,
}

fn day_start(d: NaiveDate) -> Ts {
    Ts(d.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_micros())
        .unwrap_or(0))
}

fn parse_day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

/// The period an accounting covers: the six years before `as_of` (the
/// same calendar day six years earlier is included), or from `from` if later;
/// never before the compliance date.
pub fn period_for(as_of: NaiveDate, from: Option<NaiveDate>) -> (NaiveDate, NaiveDate) {
    let six = as_of
        .checked_sub_months(Months::new(12 * LOOKBACK_YEARS))
        .unwrap_or(as_of);
    let floor = NaiveDate::parse_from_str(COMPLIANCE_DATE, "%Y-%m-%d").unwrap_or(six);
    let start = from.map_or(six, |f| f.max(six)).max(floor);
    (start, as_of)
}

fn transport(plaintext: bool, delivered: bool, tls_min: &str, methods: &str) -> Option<String> {
    if !delivered {
        return None;
    }
    if plaintext {
        return Some("sent by email without encryption".into());
    }
    let m: Vec<&str> = methods.split(',').collect();
    Some(if m.contains(&"unknown") {
        "sent by email (whether it was encrypted was not recorded)".into()
    } else if m == ["tls"] {
        format!(
            "sent by email, encrypted with {}",
            tls_min.replace("TLSv", "TLS ")
        )
    } else if m == ["portal"] {
        "made available through a secure portal".into()
    } else if m.iter().all(|x| *x == "pgp" || *x == "smime") {
        "sent by email, encrypted end to end".into()
    } else {
        "sent by email, encrypted".into()
    })
}

/// Builds the accounting for `patient` as of `as_of`, opening the store for
/// this one answer. A process answering many keeps an [`Accountant`].
pub fn build(
    src: EvidenceSource<'_>,
    patient: &str,
    as_of: NaiveDate,
    from: Option<NaiveDate>,
) -> Result<Accounting> {
    let (store, queries) = (src.store, src.queries);
    let ev = Evidence::open(src)?;
    let rows = entry_rows(&ev, queries, patient, as_of, from)?;
    assemble(&ev, store, &rows, patient, as_of, from)
}

/// Answers accountings from one DuckDB connection kept open across calls,
/// re-pinned to the latest checkpoint on each call.
///
/// The connection also holds, in its own memory, the part of the views an
/// accounting can read: every accountable disclosure (schema `acc`, table
/// `disclosures`) and every delivery of a message one of them names
/// (`acc.deliveries`). While `queries/accounting_entries.sql` runs, `acc`
/// comes first on DuckDB's search path, so the same SQL reads those tables
/// instead of every segment. Its own filters are narrower than theirs, so the
/// answer is the one the full views give (tested against [`build`]). When the
/// log grows, only the new leaves are read (the views' `idx` filter lets
/// DuckDB skip older row groups); a store that is not an extension of the
/// one seen before is read again from the start.
pub struct Accountant {
    store: PathBuf,
    keys: Vec<Verifier>,
    queries: PathBuf,
    kept: Mutex<Option<Evidence>>,
}

/// The tables of schema `acc`, built from the pinned views.
const SUBSET_CREATE: &str = "
CREATE SCHEMA acc;
CREATE TABLE acc.disclosures AS SELECT * FROM main.disclosures WHERE accountable;
CREATE TABLE acc.deliveries AS SELECT * FROM main.deliveries
    WHERE message_id IN (SELECT message_id FROM acc.disclosures WHERE message_id IS NOT NULL);";

/// Their extension by the leaves from `{from}` on: new disclosures; new
/// deliveries of any disclosure's message.
const SUBSET_EXTEND: &str = "
INSERT INTO acc.disclosures SELECT * FROM main.disclosures WHERE accountable AND idx >= {from};
INSERT INTO acc.deliveries SELECT * FROM main.deliveries
    WHERE idx >= {from}
      AND message_id IN (SELECT message_id FROM acc.disclosures WHERE message_id IS NOT NULL);";

/// Older deliveries of messages that only the new disclosures name (run only
/// when there are such messages: it reads every older delivery).
const SUBSET_EXTEND_OLDER: &str = "
INSERT INTO acc.deliveries SELECT * FROM main.deliveries
    WHERE idx < {from}
      AND message_id IN (SELECT message_id FROM acc.disclosures
                         WHERE idx >= {from} AND message_id IS NOT NULL)
      AND message_id NOT IN (SELECT message_id FROM acc.disclosures
                             WHERE idx < {from} AND message_id IS NOT NULL);";

impl Accountant {
    fn source(&self) -> EvidenceSource<'_> {
        EvidenceSource {
            store: &self.store,
            keys: &self.keys,
            queries: &self.queries,
        }
    }

    /// An accountant for `src`'s store, trusting checkpoints signed by its
    /// keys. Nothing is read until the first accounting.
    pub fn new(src: EvidenceSource<'_>) -> Accountant {
        Accountant {
            store: src.store.to_path_buf(),
            keys: src.keys.to_vec(),
            queries: src.queries.to_path_buf(),
            kept: Mutex::new(None),
        }
    }

    /// Opens the connection and builds the tables now (the server does it
    /// at start, so the first patient does not wait for a full scan).
    pub fn warm(&self) -> Result<()> {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let current = kept.take();
        *kept = Some(self.current(current)?);
        Ok(())
    }

    /// The accounting for `patient` as of `as_of` (the same as [`build`]),
    /// against the latest checkpoint.
    pub fn build(
        &self,
        patient: &str,
        as_of: NaiveDate,
        from: Option<NaiveDate>,
    ) -> Result<Accounting> {
        // The connection is taken out while in use and put back only after
        // a clean answer, so a failure or panic half-way through leaves
        // nothing behind (the next call starts afresh); hence a poisoned
        // lock is safe to use.
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let attempt = |current: Option<Evidence>| -> Result<(Evidence, Accounting)> {
            let ev = self.current(current)?;
            ev.execute("search path", "SET search_path = 'acc,main';")?;
            let rows = entry_rows(&ev, &self.queries, patient, as_of, from);
            ev.execute("search path", "SET search_path = 'main';")?;
            let answer = assemble(&ev, &self.store, &rows?, patient, as_of, from)?;
            Ok((ev, answer))
        };
        // A DuckDB failure with a kept connection is tried once more from a
        // fresh one: a merge may have removed files while the kept tables
        // were being extended (FORMAT.md §8.1).
        let outcome = match kept.take() {
            Some(ev) => match attempt(Some(ev)) {
                Err(AccountingError::Query(QueryError::Duck { .. })) => attempt(None),
                other => other,
            },
            None => attempt(None),
        };
        outcome.map(|(ev, answer)| {
            *kept = Some(ev);
            answer
        })
    }

    /// The kept connection brought up to the latest checkpoint, or a new one.
    fn current(&self, kept: Option<Evidence>) -> Result<Evidence> {
        if let Some(mut ev) = kept {
            match ev.refresh(self.source())? {
                Refresh::Same => return Ok(ev),
                Refresh::Extended { from } => {
                    let sql = |t: &str| t.replace("{from}", &from.to_string());
                    ev.execute("extending the accounting tables", &sql(SUBSET_EXTEND))?;
                    let named = ev.run(
                        "new disclosures naming a message",
                        &sql("SELECT count(*) AS n FROM acc.disclosures \
                              WHERE idx >= {from} AND message_id IS NOT NULL"),
                    )?;
                    if named.num(0, "n") > 0.0 {
                        ev.execute("extending the accounting tables", &sql(SUBSET_EXTEND_OLDER))?;
                    }
                    return Ok(ev);
                }
                Refresh::Replaced => {}
            }
        }
        let ev = Evidence::open(self.source())?;
        ev.execute("building the accounting tables", SUBSET_CREATE)?;
        Ok(ev)
    }
}

/// The rows of `queries/accounting_entries.sql` for one patient and period.
fn entry_rows(
    ev: &Evidence,
    queries: &Path,
    patient: &str,
    as_of: NaiveDate,
    from: Option<NaiveDate>,
) -> Result<Table> {
    let (start, end) = period_for(as_of, from);
    ev.set("patient_key", &Param::Text(patient_key(patient)))?;
    ev.set("period_start", &Param::Time(day_start(start)))?;
    ev.set(
        "period_end",
        &Param::Time(day_start(end.succ_opt().unwrap_or(end))),
    )?;
    Ok(ev.run_file(&QueryFile::load(queries, "accounting_entries")?)?)
}

/// The accounting from the query's rows: suspensions, series, transport
/// wording and one inclusion proof per entry.
fn assemble(
    ev: &Evidence,
    store: &Path,
    rows: &Table,
    patient: &str,
    as_of: NaiveDate,
    from: Option<NaiveDate>,
) -> Result<Accounting> {
    let (start, end) = period_for(as_of, from);
    let cp = ev.checkpoint.clone();
    let note = ev.checkpoint_note.clone();

    let mut withheld = 0u64;
    // (recipient, purpose) -> entry index, for 164.528(b)(3) series
    let mut series: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut entries: Vec<Entry> = Vec::new();
    for i in 0..rows.rows.len() {
        let get = |c: &str| rows.get(i, c).unwrap_or("").to_string();
        let date = get("date");
        let basis = get("basis");
        if matches!(basis.as_str(), "health_oversight" | "law_enforcement")
            && let Some(until) = parse_day(&get("suspended_until"))
        {
            let end_of_suspension = if get("suspension").eq_ignore_ascii_case("oral") {
                let cap = parse_day(&date)
                    .and_then(|d| d.checked_add_days(Days::new(ORAL_SUSPENSION_DAYS)))
                    .unwrap_or(until);
                until.min(cap)
            } else {
                until
            };
            if as_of < end_of_suspension {
                withheld += 1;
                continue;
            }
        }
        let idx: u64 = get("idx").parse().map_err(|_| {
            AccountingError::Evidence("a disclosure row has no readable leaf index".into())
        })?;
        let key = (
            get("recipient_name")
                .to_lowercase()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            get("purpose").to_lowercase(),
        );
        if let Some(&k) = series.get(&key) {
            let e = &mut entries[k];
            e.count += 1;
            e.last_date = Some(date);
            continue;
        }
        series.insert(key, entries.len());
        entries.push(Entry {
            date,
            recipient_name: get("recipient_name"),
            recipient_address: Some(get("recipient_address")).filter(|a| !a.is_empty()),
            description: get("description"),
            purpose: get("purpose"),
            basis,
            count: 1,
            last_date: None,
            transport: transport(
                get("plaintext") == "true",
                get("delivered") == "true",
                &get("tls_min"),
                &get("methods"),
            ),
            idx,
            proof: String::new(),
        });
    }
    if !entries.is_empty() {
        let reader = Reader::open(store)?;
        // O(log n) reads per entry from the tree index
        let mut proofs = reader.proofs(&cp)?;
        for e in &mut entries {
            let path = proofs.inclusion(e.idx)?.ok_or_else(|| {
                AccountingError::Evidence(format!(
                    "no inclusion proof of leaf {} in the checkpoint's tree",
                    e.idx
                ))
            })?;
            e.proof = proof::format_inclusion(e.idx, &path, &note, None);
        }
    }
    Ok(Accounting {
        patient_id: patient.to_string(),
        period: Period {
            from: start.to_string(),
            to: end.to_string(),
        },
        checkpoint: CheckpointRef {
            origin: cp.origin.clone(),
            size: cp.size,
            root: B64.encode(cp.root),
        },
        entries,
        withheld_count: withheld,
    })
}

/// A request's state, from the sealed log.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestState {
    /// Request id (`AR-…`).
    pub id: String,
    /// Patient id as given.
    pub patient_id: String,
    /// Normalised patient id.
    pub patient_key: String,
    /// Date received.
    pub received: NaiveDate,
    /// Period asked for.
    pub from: NaiveDate,
    /// End of the period asked for.
    pub to: NaiveDate,
    /// Due date (received + 60 days).
    pub due: NaiveDate,
    /// Extensions granted (0 or 1).
    pub extensions: u64,
    /// New due date after an extension.
    pub extended_to: Option<NaiveDate>,
    /// Date fulfilled.
    pub fulfilled: Option<NaiveDate>,
    /// Fee note.
    pub detail: String,
}

impl RequestState {
    /// The date the answer is due, extension included.
    pub fn deadline(&self) -> NaiveDate {
        self.extended_to.unwrap_or(self.due)
    }
}

fn states(t: &Table) -> Vec<RequestState> {
    (0..t.rows.len())
        .filter_map(|i| {
            let g = |c: &str| t.get(i, c).unwrap_or("").to_string();
            Some(RequestState {
                id: g("request"),
                patient_id: g("patient_id"),
                patient_key: g("patient_key"),
                received: parse_day(&g("received"))?,
                from: parse_day(&g("window_start"))?,
                to: parse_day(&g("window_end"))?,
                due: parse_day(&g("due"))?,
                extensions: g("extensions").parse().unwrap_or(0),
                extended_to: parse_day(&g("extended_to")),
                fulfilled: parse_day(&g("fulfilled")),
                detail: g("detail"),
            })
        })
        .collect()
}

/// Every request in the store.
pub fn requests(src: EvidenceSource<'_>) -> Result<Vec<RequestState>> {
    let ev = Evidence::open(src)?;
    Ok(states(&ev.run_file(&QueryFile::load(
        src.queries,
        "accounting_request_log",
    )?)?))
}

/// One request by id.
pub fn request(src: EvidenceSource<'_>, id: &str) -> Result<RequestState> {
    requests(src)?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| AccountingError::UnknownRequest(id.to_string()))
}

/// Records a new request; returns its state. The first request in any 12
/// months is free; a later one carries the configured fee, which the
/// individual must be told of in advance.
pub fn record_request(
    app: &mut Appender,
    existing: &[RequestState],
    settings: &Settings,
    patient: &str,
    received: NaiveDate,
    from: Option<NaiveDate>,
) -> Result<RequestState> {
    if patient_key(patient).is_empty() {
        return Err(AccountingError::Refused("the patient id is empty".into()));
    }
    let key = patient_key(patient);
    let year_before = received
        .checked_sub_months(Months::new(12))
        .unwrap_or(received);
    let earlier = existing
        .iter()
        .filter(|r| r.patient_key == key && r.received > year_before && r.received <= received)
        .count();
    let detail = if earlier == 0 {
        "fee: none (first request in 12 months)".to_string()
    } else {
        format!(
            "fee: {} {} ({} earlier request(s) in the 12 months before); tell the individual in advance, and let them withdraw or change the request",
            settings.fee, settings.currency, earlier
        )
    };
    let (start, end) = period_for(received, from);
    let due = received
        .checked_add_days(Days::new(DUE_DAYS))
        .unwrap_or(received);
    let n = existing.iter().filter(|r| r.patient_key == key).count();
    let id = format!(
        "AR-{}",
        &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            format!("{key}\n{received}\n{n}").as_bytes()
        ))[..12]
    );
    let mut r = Record::new(Kind::AccountingRequest, day_start(received), "sealtrail");
    r.action = Some("request".into());
    r.source_event_id = Some(id.clone());
    r.patient_id = Some(patient.to_string());
    r.window_start = Some(day_start(start));
    r.window_end = Some(day_start(end));
    r.due_at = Some(day_start(due));
    r.detail = Some(detail.clone());
    app.append(r)?;
    app.commit()?;
    app.seal()?;
    Ok(RequestState {
        id,
        patient_id: patient.to_string(),
        patient_key: key,
        received,
        from: start,
        to: end,
        due,
        extensions: 0,
        extended_to: None,
        fulfilled: None,
        detail,
    })
}

/// Extends a request's deadline, once, by at most 30 days, and only while
/// the first 60 days are running (164.528(c)(2)). `on` is the day the
/// extension is decided (and the written notice sent).
pub fn extend(
    app: &mut Appender,
    req: &RequestState,
    reason: &str,
    until: NaiveDate,
    on: NaiveDate,
) -> Result<NaiveDate> {
    let latest = req
        .due
        .checked_add_days(Days::new(EXTENSION_DAYS))
        .unwrap_or(req.due);
    if req.fulfilled.is_some() {
        return Err(AccountingError::Refused(format!(
            "request {} was already fulfilled; there is nothing to extend",
            req.id
        )));
    }
    if req.extensions > 0 {
        return Err(AccountingError::Refused(format!(
            "request {} was already extended once (to {}); 45 CFR 164.528(c)(2) allows only one extension",
            req.id,
            req.deadline()
        )));
    }
    if on > req.due {
        return Err(AccountingError::Refused(format!(
            "the first 60 days for request {} ended on {}; an extension must be decided, and the individual told in writing, within them",
            req.id, req.due
        )));
    }
    if until <= req.due {
        return Err(AccountingError::Refused(format!(
            "--until {until} is not after the current due date {}",
            req.due
        )));
    }
    if until > latest {
        return Err(AccountingError::Refused(format!(
            "an extension may add at most {EXTENSION_DAYS} days: the latest allowed date for request {} is {latest}",
            req.id
        )));
    }
    if reason.trim().is_empty() {
        return Err(AccountingError::Refused(
            "an extension needs a written reason (--reason) to send to the individual".into(),
        ));
    }
    let mut r = Record::new(Kind::AccountingRequest, day_start(on), "sealtrail");
    r.action = Some("extend".into());
    r.source_event_id = Some(format!("extend:{}", req.id));
    r.resource = Some(req.id.clone());
    r.patient_id = Some(req.patient_id.clone());
    r.due_at = Some(day_start(until));
    r.reason = Some(reason.to_string());
    app.append(r)?;
    app.commit()?;
    app.seal()?;
    Ok(until)
}

/// Records that `req` was answered on `on` with an accounting pinned to
/// `checkpoint`, and what was sent (name → SHA-256).
pub fn record_fulfilment(
    app: &mut Appender,
    req: &RequestState,
    on: NaiveDate,
    checkpoint: &CheckpointRef,
    sent: &[(String, [u8; 32])],
) -> Result<()> {
    if let Some(f) = req.fulfilled {
        return Err(AccountingError::Refused(format!(
            "request {} was already fulfilled on {f}",
            req.id
        )));
    }
    let files: Vec<String> = sent
        .iter()
        .map(|(n, h)| format!("{n} sha256 {}", hex::encode(h)))
        .collect();
    let mut r = Record::new(Kind::AccountingRequest, day_start(on), "sealtrail");
    r.action = Some("fulfil".into());
    r.source_event_id = Some(format!("fulfil:{}", req.id));
    r.resource = Some(req.id.clone());
    r.patient_id = Some(req.patient_id.clone());
    r.detail = Some(format!(
        "checkpoint {} {} {}; sent: {}",
        checkpoint.origin,
        checkpoint.size,
        checkpoint.root,
        files.join(", ")
    ));
    app.append(r)?;
    app.commit()?;
    app.seal()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn six_year_edge_and_shorter_period() {
        assert_eq!(
            period_for(d("2026-03-31"), None),
            (d("2020-03-31"), d("2026-03-31"))
        );
        assert_eq!(
            period_for(d("2026-03-31"), Some(d("2025-01-01"))),
            (d("2025-01-01"), d("2026-03-31"))
        );
        // asking for more than six years gets six
        assert_eq!(
            period_for(d("2026-03-31"), Some(d("2010-01-01"))).0,
            d("2020-03-31")
        );
        // never before the compliance date
        assert_eq!(period_for(d("2007-01-01"), None).0, d("2003-04-14"));
    }

    #[test]
    fn transport_wording() {
        assert_eq!(
            transport(false, true, "TLSv1.3", "tls").as_deref(),
            Some("sent by email, encrypted with TLS 1.3")
        );
        assert_eq!(
            transport(true, true, "", "none,tls").as_deref(),
            Some("sent by email without encryption")
        );
        assert_eq!(
            transport(false, true, "", "portal").as_deref(),
            Some("made available through a secure portal")
        );
        assert_eq!(transport(false, false, "", ""), None);
    }
}

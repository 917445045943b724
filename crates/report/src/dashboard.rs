//! The compliance officer's dashboard: a small, fixed set of figures over
//! the evidence views, for the web console and `GET /v1/dashboard`.
//!
//! Runs only query files from `queries/` (the same ones the packs ship, plus
//! `console_recent_by_source.sql`), pinned to the latest verified
//! checkpoint, so every figure on the page can be reproduced by an auditor.

use chrono::NaiveDate;
use serde::Serialize;

use sealtrail_accounting as accounting;
use sealtrail_format::model::Ts;
use sealtrail_query::{Evidence, EvidenceSource, Param, QueryFile, Result, Table};

/// Everything the officer's dashboard shows.
#[derive(Clone, Debug, Serialize)]
pub struct Dashboard {
    /// Log origin of the checkpoint.
    pub origin: String,
    /// Tree size of the latest checkpoint.
    pub tree_size: u64,
    /// When that checkpoint was sealed (RFC 3339, UTC).
    pub sealed_at: String,
    /// First day of the period the charts and tables cover.
    pub from: NaiveDate,
    /// Last day of the period (included).
    pub to: NaiveDate,
    /// Events received in the 24 hours before `as_of`, by source.
    pub recent_by_source: Vec<SourceCount>,
    /// Days in the period with silent or missing hours, by source.
    pub coverage_gaps: Vec<CoverageGap>,
    /// Quarantined input in the period, by source and reason.
    pub quarantine: Vec<QuarantineCount>,
    /// Accounting requests not yet fulfilled, soonest deadline first.
    pub open_requests: Vec<OpenRequest>,
    /// Weekly share of PHI deliveries protected in transit.
    pub weekly_encrypted: Vec<WeeklyShare>,
    /// Weekly share of successful sign-ins with a second factor.
    pub weekly_mfa: Vec<WeeklyShare>,
}

/// Events received from one source.
#[derive(Clone, Debug, Serialize)]
pub struct SourceCount {
    /// Source name.
    pub source: String,
    /// Events received.
    pub events: u64,
    /// Last time one was received (UTC).
    pub last_received: String,
}

/// A day with hours lacking coverage.
#[derive(Clone, Debug, Serialize)]
pub struct CoverageGap {
    /// Source name.
    pub source: String,
    /// Day (UTC).
    pub day: String,
    /// Hours with a coverage leaf counting 0 events.
    pub silent_hours: u64,
    /// Hours with no coverage leaf at all.
    pub missing_hours: u64,
}

/// Quarantined records of one source and reason.
#[derive(Clone, Debug, Serialize)]
pub struct QuarantineCount {
    /// Source name.
    pub source: String,
    /// Reason given by the adapter.
    pub reason: String,
    /// Records.
    pub records: u64,
}

/// An accounting request still to be answered.
#[derive(Clone, Debug, Serialize)]
pub struct OpenRequest {
    /// Request id (`AR-…`).
    pub request: String,
    /// Patient id as given.
    pub patient_id: String,
    /// Day received.
    pub received: NaiveDate,
    /// Deadline, extension included.
    pub deadline: NaiveDate,
    /// Days left until the deadline (negative: late).
    pub days_left: i64,
    /// Whether the one extension was used.
    pub extended: bool,
}

/// One week of a share chart.
#[derive(Clone, Debug, Serialize)]
pub struct WeeklyShare {
    /// Monday of the week (UTC).
    pub week: String,
    /// Events counted.
    pub total: u64,
    /// Events meeting the bar.
    pub meeting: u64,
    /// `meeting / total` in percent, one decimal.
    pub share: f64,
}

fn u(t: &Table, i: usize, c: &str) -> u64 {
    t.num(i, c).max(0.0) as u64
}
fn s(t: &Table, i: usize, c: &str) -> String {
    t.get(i, c).unwrap_or("").to_string()
}

/// Open requests with days left counted from `today`, soonest first.
pub fn open_requests(all: &[accounting::RequestState], today: NaiveDate) -> Vec<OpenRequest> {
    let mut open: Vec<OpenRequest> = all
        .iter()
        .filter(|r| r.fulfilled.is_none())
        .map(|r| OpenRequest {
            request: r.id.clone(),
            patient_id: r.patient_id.clone(),
            received: r.received,
            deadline: r.deadline(),
            days_left: (r.deadline() - today).num_days(),
            extended: r.extensions > 0,
        })
        .collect();
    open.sort_by(|a, b| (a.deadline, &a.request).cmp(&(b.deadline, &b.request)));
    open
}

/// Builds the dashboard for the period `from..=to`, with "now" at `as_of`;
/// `requests` are the store's accounting requests (`accounting::requests`).
pub fn build(
    src: EvidenceSource<'_>,
    requests: &[accounting::RequestState],
    from: NaiveDate,
    to: NaiveDate,
    as_of: Ts,
) -> Result<Dashboard> {
    let queries = src.queries;
    let ev = Evidence::open(src)?;
    let day = |d: NaiveDate| {
        Ts(d.and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
            .timestamp_micros())
    };
    ev.set("period_start", &Param::Time(day(from)))?;
    ev.set("period_end", &Param::Time(day(to.succ_opt().unwrap_or(to))))?;
    ev.set("as_of", &Param::Time(as_of))?;
    let run = |name: &str| -> Result<Table> { ev.run_file(&QueryFile::load(queries, name)?) };

    let t = run("console_recent_by_source")?;
    let recent_by_source = (0..t.rows.len())
        .map(|i| SourceCount {
            source: s(&t, i, "source"),
            events: u(&t, i, "events"),
            last_received: s(&t, i, "last_received"),
        })
        .collect();
    let t = run("audit_coverage")?;
    let coverage_gaps = (0..t.rows.len())
        .filter(|&i| u(&t, i, "silent_hours") + u(&t, i, "missing_hours") > 0)
        .map(|i| CoverageGap {
            source: s(&t, i, "source"),
            day: s(&t, i, "day"),
            silent_hours: u(&t, i, "silent_hours"),
            missing_hours: u(&t, i, "missing_hours"),
        })
        .collect();
    let t = run("audit_quarantine")?;
    let quarantine = (0..t.rows.len())
        .map(|i| QuarantineCount {
            source: s(&t, i, "source"),
            reason: s(&t, i, "reason"),
            records: u(&t, i, "records"),
        })
        .collect();
    let weekly =
        |name: &str, total: &str, meeting: &str, share: &str| -> Result<Vec<WeeklyShare>> {
            let t = run(name)?;
            Ok((0..t.rows.len())
                .map(|i| WeeklyShare {
                    week: s(&t, i, "week"),
                    total: u(&t, i, total),
                    meeting: u(&t, i, meeting),
                    share: t.num(i, share),
                })
                .collect())
        };
    let weekly_encrypted = weekly(
        "transmission_weekly",
        "deliveries",
        "protected",
        "share_protected",
    )?;
    let weekly_mfa = weekly("auth_weekly", "successful", "with_mfa", "share_mfa")?;
    let today = chrono::DateTime::from_timestamp_micros(as_of.0)
        .map(|d| d.date_naive())
        .unwrap_or(to);
    Ok(Dashboard {
        origin: ev.checkpoint.origin.clone(),
        tree_size: ev.checkpoint.size,
        sealed_at: ev.manifest.sealed_at.to_canonical(),
        from,
        to,
        recent_by_source,
        coverage_gaps,
        quarantine,
        open_requests: open_requests(requests, today),
        weekly_encrypted,
        weekly_mfa,
    })
}

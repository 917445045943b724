//! Metrics in the OpenMetrics text format (which Prometheus scrapes), kept
//! by `prometheus-client`: events ingested, quarantined and skipped as
//! duplicates by source, the seal latency histogram, tree size, WAL depth
//! 503 refusals, and how many commits the waiting requests shared. Counts only, never values; the one label, `source`, is
//! a registered source name (a body is admitted only for those).

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Seal latency buckets (seconds).
const BUCKETS: [f64; 8] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// The `source` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BySource {
    source: String,
}

/// Process-wide metrics.
pub struct Metrics {
    registry: Registry,
    ingested: Family<BySource, Counter>,
    quarantined: Family<BySource, Counter>,
    duplicates: Family<BySource, Counter>,
    seal_seconds: Histogram,
    tree_size: Gauge<u64, AtomicU64>,
    wal_depth: Gauge<u64, AtomicU64>,
    rejected_busy: Counter,
    commits_waited: Counter,
    commit_groups: Counter,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let m = Metrics {
            registry: Registry::default(),
            ingested: Family::default(),
            quarantined: Family::default(),
            duplicates: Family::default(),
            seal_seconds: Histogram::new(BUCKETS),
            tree_size: Gauge::default(),
            wal_depth: Gauge::default(),
            rejected_busy: Counter::default(),
            commits_waited: Counter::default(),
            commit_groups: Counter::default(),
        };
        let mut registry = Registry::with_prefix("sealtrail");
        registry.register(
            "events_ingested",
            "Records accepted (durable) by source",
            m.ingested.clone(),
        );
        registry.register(
            "events_quarantined",
            "Records quarantined by source",
            m.quarantined.clone(),
        );
        registry.register(
            "events_duplicate",
            "Records skipped as already present, by source",
            m.duplicates.clone(),
        );
        registry.register(
            "seal_seconds",
            "Time to seal pending records into a segment and checkpoint",
            m.seal_seconds.clone(),
        );
        registry.register(
            "tree_size",
            "Leaves in the latest checkpoint",
            m.tree_size.clone(),
        );
        registry.register(
            "wal_depth",
            "Records durable in the WAL, not yet sealed",
            m.wal_depth.clone(),
        );
        registry.register(
            "rejected_busy",
            "Requests refused with 503 because the writer queue was full",
            m.rejected_busy.clone(),
        );
        registry.register(
            "commits_waited",
            "Commits requests waited for before their answer (one per ingest request)",
            m.commits_waited.clone(),
        );
        registry.register(
            "commit_groups",
            "Commits made for them: at most one fsync each, shared by the requests queued together",
            m.commit_groups.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Adds an ingest result.
    pub fn ingested(&self, source: &str, accepted: u64, quarantined: u64, duplicates: u64) {
        let label = BySource {
            source: source.to_string(),
        };
        self.ingested.get_or_create(&label).inc_by(accepted);
        self.quarantined.get_or_create(&label).inc_by(quarantined);
        self.duplicates.get_or_create(&label).inc_by(duplicates);
    }
    /// Records one seal's duration.
    pub fn observe_seal(&self, d: Duration) {
        self.seal_seconds.observe(d.as_secs_f64());
    }
    /// Sets the sealed tree size.
    pub fn set_tree_size(&self, n: u64) {
        self.tree_size.set(n);
    }
    /// Sets the number of records durable but not yet sealed.
    pub fn set_wal_depth(&self, n: u64) {
        self.wal_depth.set(n);
    }
    /// Counts a request refused with 503.
    pub fn busy(&self) {
        self.rejected_busy.inc();
    }
    /// Counts one commit (one fsync at most) made for `waited` requests.
    pub fn committed(&self, waited: usize) {
        self.commit_groups.inc();
        self.commits_waited.inc_by(waited as u64);
    }
    /// The sealed tree size.
    pub fn tree_size(&self) -> u64 {
        self.tree_size.get()
    }

    /// The OpenMetrics text exposition (served as
    /// [`CONTENT_TYPE`](Metrics::CONTENT_TYPE)).
    pub fn render(&self) -> String {
        let mut s = String::new();
        // writing into a String cannot fail
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }

    /// The exposition's content type.
    pub const CONTENT_TYPE: &'static str =
        "application/openmetrics-text; version=1.0.0; charset=utf-8";
}

//! Prometheus text metrics: events ingested and quarantined by source, seal
//! latency histogram, tree size and WAL depth. Counts only, never values.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const BUCKETS: [f64; 8] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// Process-wide metrics.
#[derive(Default)]
pub struct Metrics {
    by_source: Mutex<BTreeMap<String, (u64, u64, u64)>>, // ingested, quarantined, duplicates
    seal_buckets: Mutex<[u64; 9]>,
    seal_sum_us: AtomicU64,
    seal_count: AtomicU64,
    tree_size: AtomicU64,
    wal_depth: AtomicU64,
    rejected_busy: AtomicU64,
}

impl Metrics {
    /// Adds an ingest result.
    pub fn ingested(&self, source: &str, accepted: u64, quarantined: u64, duplicates: u64) {
        if let Ok(mut m) = self.by_source.lock() {
            let e = m.entry(source.to_string()).or_default();
            e.0 += accepted;
            e.1 += quarantined;
            e.2 += duplicates;
        }
    }
    /// Records one seal's duration.
    pub fn observe_seal(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Ok(mut b) = self.seal_buckets.lock() {
            let i = BUCKETS
                .iter()
                .position(|&le| s <= le)
                .unwrap_or(BUCKETS.len());
            b[i] += 1;
        }
        self.seal_sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        self.seal_count.fetch_add(1, Ordering::Relaxed);
    }
    /// Sets the sealed tree size.
    pub fn set_tree_size(&self, n: u64) {
        self.tree_size.store(n, Ordering::Relaxed);
    }
    /// Sets the number of records durable but not yet sealed.
    pub fn set_wal_depth(&self, n: u64) {
        self.wal_depth.store(n, Ordering::Relaxed);
    }
    /// Counts a request refused with 503.
    pub fn busy(&self) {
        self.rejected_busy.fetch_add(1, Ordering::Relaxed);
    }
    /// The sealed tree size.
    pub fn tree_size(&self) -> u64 {
        self.tree_size.load(Ordering::Relaxed)
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str("# HELP sealtrail_events_ingested_total Records accepted (durable) by source.\n# TYPE sealtrail_events_ingested_total counter\n");
        let by = self.by_source.lock().map(|m| m.clone()).unwrap_or_default();
        for (src, (a, _, _)) in &by {
            s.push_str(&format!(
                "sealtrail_events_ingested_total{{source=\"{src}\"}} {a}\n"
            ));
        }
        s.push_str("# HELP sealtrail_events_quarantined_total Records quarantined by source.\n# TYPE sealtrail_events_quarantined_total counter\n");
        for (src, (_, q, _)) in &by {
            s.push_str(&format!(
                "sealtrail_events_quarantined_total{{source=\"{src}\"}} {q}\n"
            ));
        }
        s.push_str("# HELP sealtrail_events_duplicate_total Records skipped as already present, by source.\n# TYPE sealtrail_events_duplicate_total counter\n");
        for (src, (_, _, d)) in &by {
            s.push_str(&format!(
                "sealtrail_events_duplicate_total{{source=\"{src}\"}} {d}\n"
            ));
        }
        s.push_str("# HELP sealtrail_seal_seconds Time to seal pending records into a segment and checkpoint.\n# TYPE sealtrail_seal_seconds histogram\n");
        let b = self.seal_buckets.lock().map(|b| *b).unwrap_or_default();
        let mut cum = 0;
        for (i, le) in BUCKETS.iter().enumerate() {
            cum += b[i];
            s.push_str(&format!(
                "sealtrail_seal_seconds_bucket{{le=\"{le}\"}} {cum}\n"
            ));
        }
        cum += b[BUCKETS.len()];
        s.push_str(&format!(
            "sealtrail_seal_seconds_bucket{{le=\"+Inf\"}} {cum}\n"
        ));
        s.push_str(&format!(
            "sealtrail_seal_seconds_sum {}\n",
            self.seal_sum_us.load(Ordering::Relaxed) as f64 / 1e6
        ));
        s.push_str(&format!(
            "sealtrail_seal_seconds_count {}\n",
            self.seal_count.load(Ordering::Relaxed)
        ));
        s.push_str(&format!("# HELP sealtrail_tree_size Leaves in the latest checkpoint.\n# TYPE sealtrail_tree_size gauge\nsealtrail_tree_size {}\n", self.tree_size()));
        s.push_str(&format!(
            "# HELP sealtrail_wal_depth Records durable in the WAL, not yet sealed.\n# TYPE sealtrail_wal_depth gauge\nsealtrail_wal_depth {}\n",
            self.wal_depth.load(Ordering::Relaxed)
        ));
        s.push_str(&format!(
            "# HELP sealtrail_rejected_busy_total Requests refused with 503 because the writer queue was full.\n# TYPE sealtrail_rejected_busy_total counter\nsealtrail_rejected_busy_total {}\n",
            self.rejected_busy.load(Ordering::Relaxed)
        ));
        s
    }
}

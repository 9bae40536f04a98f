//! The run report: what loadgen prints at the end and writes with `--json`.
//!
//! Field names are part of loadgen's interface (issue "L2TP LNS", item 6): dashboards
//! and CI compare them across runs, so they only ever gain fields.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Ping traffic through the sessions.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Traffic {
    pub sent: u64,
    pub received: u64,
    pub rtt_ms: Percentiles,
}

/// The whole report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Report {
    pub mode: String,
    pub sessions_requested: u64,
    pub sessions_established: u64,
    pub sessions_failed: u64,
    /// Failure reason -> count.
    pub failures: BTreeMap<String, u64>,
    pub setup_rate_per_s: f64,
    pub setup_latency_ms: Percentiles,
    pub traffic: Traffic,
    pub teardown_clean: bool,
    /// The daemon's resident memory with every session up (when loadgen started it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_bytes: Option<u64>,
    /// (RSS with the sessions up − RSS before the first call) / sessions established.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_per_session_bytes: Option<u64>,
    /// Input loadgen dropped (malformed, unexpected, out of order), by reason, and
    /// other per-client anomalies (`sessions_lost`, `teardown_unclean`). Only the
    /// PPTP mode fills it so far.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dropped: BTreeMap<String, u64>,
}

/// Collects latencies (microsecond resolution, up to an hour) for percentiles.
pub struct Latencies {
    hist: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    pub fn new() -> Latencies {
        Latencies {
            // 3 significant digits from 1 us to 1 h: fixed memory, no resizing.
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
        }
    }

    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, 3_600_000_000);
        // Within the bounds by the clamp.
        let _ = self.hist.record(us);
    }

    pub fn len(&self) -> u64 {
        self.hist.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }

    pub fn percentiles(&self) -> Percentiles {
        if self.hist.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            p50: ms(self.hist.value_at_quantile(0.50)),
            p99: ms(self.hist.value_at_quantile(0.99)),
            max: ms(self.hist.max()),
        }
    }
}

impl Report {
    /// A short human summary, one fact per line.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "mode {}: {} of {} sessions established, {} failed\n",
            self.mode, self.sessions_established, self.sessions_requested, self.sessions_failed
        );
        s += &format!(
            "setup: {:.0} sessions/s, latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n",
            self.setup_rate_per_s,
            self.setup_latency_ms.p50,
            self.setup_latency_ms.p99,
            self.setup_latency_ms.max
        );
        for (reason, n) in &self.failures {
            s += &format!("failed: {reason}: {n}\n");
        }
        for (reason, n) in &self.dropped {
            s += &format!("dropped: {reason}: {n}\n");
        }
        if self.traffic.sent > 0 {
            s += &format!(
                "traffic: {} sent, {} received, rtt p50 {:.2} ms, p99 {:.2} ms\n",
                self.traffic.sent,
                self.traffic.received,
                self.traffic.rtt_ms.p50,
                self.traffic.rtt_ms.p99
            );
        }
        if let (Some(rss), Some(per)) = (self.server_rss_bytes, self.server_rss_per_session_bytes) {
            s += &format!(
                "server memory: {:.1} MiB with the sessions up, {per} bytes per session\n",
                rss as f64 / 1048576.0
            );
        }
        s += &format!(
            "teardown: {}\n",
            if self.teardown_clean {
                "clean"
            } else {
                "NOT clean"
            }
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_from_the_histogram() {
        let mut l = Latencies::new();
        for ms in 1..=100u64 {
            l.record(Duration::from_millis(ms));
        }
        let p = l.percentiles();
        assert!((p.p50 - 50.0).abs() < 0.1, "{p:?}");
        assert!((p.p99 - 99.0).abs() < 0.1, "{p:?}");
        assert!((p.max - 100.0).abs() < 0.1, "{p:?}");
        assert_eq!(Latencies::new().percentiles(), Percentiles::default());
    }

    #[test]
    fn json_has_the_documented_fields() {
        let mut r = Report {
            mode: "l2tp".into(),
            sessions_requested: 10,
            sessions_established: 9,
            sessions_failed: 1,
            ..Report::default()
        };
        r.failures.insert("auth".into(), 1);
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        for key in [
            "mode",
            "sessions_requested",
            "sessions_established",
            "sessions_failed",
            "failures",
            "setup_rate_per_s",
            "setup_latency_ms",
            "traffic",
            "teardown_clean",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(v["failures"]["auth"], 1);
        assert!(v["setup_latency_ms"].get("p99").is_some());
        assert!(v["traffic"]["rtt_ms"].get("p50").is_some());
        assert!(r.summary().contains("9 of 10 sessions established"));
    }
}

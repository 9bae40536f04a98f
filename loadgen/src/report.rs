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
    /// Echo replies received per second of the traffic phase (traffic on only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pps: Option<f64>,
    /// Megabits per second of IP received (echo replies, IP header included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mbps: Option<f64>,
}

/// `--churn`: sessions torn down and set up again during the hold.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Churn {
    /// Requested teardowns (and re-setups) per second.
    pub rate_per_s: f64,
    /// Sessions torn down for churn.
    pub torn_down: u64,
    /// Re-setups that came up (a completed cycle).
    pub cycles: u64,
    /// Re-setups that failed.
    pub failed: u64,
    pub failures: BTreeMap<String, u64>,
    /// From a re-setup's first message to its session up.
    pub resetup_latency_ms: Percentiles,
}

/// `--storm`: every session (but the bystanders) dropped at once, then reconnected.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Storm {
    pub sessions_dropped: u64,
    pub sessions_reestablished: u64,
    pub sessions_failed: u64,
    pub failures: BTreeMap<String, u64>,
    /// First reconnect attempt to last session up.
    pub recovery_s: f64,
    /// The initial setup's duration (first call to last session up or given up).
    pub initial_setup_s: f64,
    /// recovery_s / initial_setup_s.
    pub recovery_ratio: f64,
    /// Per-session reconnect latency (of the attempt that succeeded).
    pub latency_ms: Percentiles,
    /// Reconnect attempts that failed and were retried a second later, as real
    /// clients redial (by reason; not failures unless the time ran out).
    pub retries: u64,
    pub retry_reasons: BTreeMap<String, u64>,
}

/// One kind of bystander keepalive.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct KeepaliveKind {
    pub sent: u64,
    pub answered: u64,
    pub max_rtt_ms: f64,
}

/// The bystanders' keepalives during the storm.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Keepalive {
    /// Sessions kept out of the storm.
    pub bystanders: u64,
    pub sent: u64,
    pub answered: u64,
    pub max_rtt_ms: f64,
    /// Bystanders whose session closed or whose echo went unanswered > 5 s.
    pub bystanders_lost: u64,
    /// `lcp_echo`, `l2tp_hello`, `ike_dpd`.
    pub by_kind: BTreeMap<String, KeepaliveKind>,
    /// Why the lost bystanders were lost (`echo_unanswered`, or how their session
    /// ended).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub lost_by_reason: BTreeMap<String, u64>,
    /// loadgen's own longest storm loop iteration (reconnects started, input read,
    /// timers run): an RTT far above it was the server's, not loadgen's.
    pub loadgen_max_stall_ms: f64,
}

/// `--hold`: sessions kept up for a while.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Hold {
    pub seconds: f64,
    /// Sessions that closed during the hold without loadgen asking.
    pub sessions_lost: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_start_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_end_bytes: Option<u64>,
}

/// The daemon's open file descriptors (when loadgen started it).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ServerFds {
    pub after_setup: Option<u64>,
    /// At the end of the hold (with `--hold`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_hold: Option<u64>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub churn: Option<Churn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storm: Option<Storm>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<Keepalive>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_fds: Option<ServerFds>,
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
        if let (Some(pps), Some(mbps)) = (self.traffic.pps, self.traffic.mbps) {
            s += &format!("throughput: {pps:.0} packets/s received, {mbps:.3} Mbit/s\n");
        }
        if let Some(st) = &self.storm {
            s += &format!(
                "storm: {} of {} sessions re-established, {} failed, recovery {:.1} s \
                 ({:.2}x the initial setup's {:.1} s)\n",
                st.sessions_reestablished,
                st.sessions_dropped,
                st.sessions_failed,
                st.recovery_s,
                st.recovery_ratio,
                st.initial_setup_s
            );
            for (reason, n) in &st.failures {
                s += &format!("storm failed: {reason}: {n}\n");
            }
            for (reason, n) in &st.retry_reasons {
                s += &format!("storm retried: {reason}: {n}\n");
            }
        }
        if let Some(k) = &self.keepalive {
            s += &format!(
                "keepalive: {} bystanders, {} sent, {} answered, max rtt {:.1} ms, {} bystanders lost\n",
                k.bystanders, k.sent, k.answered, k.max_rtt_ms, k.bystanders_lost
            );
            s += &format!(
                "loadgen's longest storm iteration: {:.1} ms\n",
                k.loadgen_max_stall_ms
            );
            for (reason, n) in &k.lost_by_reason {
                s += &format!("bystanders lost: {reason}: {n}\n");
            }
        }
        if let Some(h) = &self.hold {
            s += &format!(
                "hold: {:.0} s, {} sessions lost",
                h.seconds, h.sessions_lost
            );
            if let (Some(a), Some(b)) = (h.server_rss_start_bytes, h.server_rss_end_bytes) {
                s += &format!(
                    ", server memory {:.1} -> {:.1} MiB",
                    a as f64 / 1048576.0,
                    b as f64 / 1048576.0
                );
            }
            s += "\n";
        }
        if let Some(c) = &self.churn {
            s += &format!(
                "churn: {} cycles, {} failed, re-setup p50 {:.1} ms, p99 {:.1} ms\n",
                c.cycles, c.failed, c.resetup_latency_ms.p50, c.resetup_latency_ms.p99
            );
            for (reason, n) in &c.failures {
                s += &format!("churn failed: {reason}: {n}\n");
            }
        }
        if let Some(f) = &self.server_fds {
            s += &format!(
                "server fds: {} after setup, {} after hold\n",
                f.after_setup.map_or("?".into(), |n| n.to_string()),
                f.after_hold.map_or("-".into(), |n| n.to_string())
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

    /// The scale phases' objects appear only when they ran; the old fields stay.
    #[test]
    fn scale_fields_are_added_only_when_present() {
        let plain = serde_json::to_value(Report::default()).unwrap();
        for key in ["storm", "churn", "keepalive", "hold", "server_fds"] {
            assert!(plain.get(key).is_none(), "{key}");
        }
        assert!(plain["traffic"].get("pps").is_none());
        let mut r = Report {
            storm: Some(Storm {
                sessions_dropped: 5,
                sessions_reestablished: 5,
                recovery_s: 2.0,
                initial_setup_s: 1.0,
                recovery_ratio: 2.0,
                ..Storm::default()
            }),
            churn: Some(Churn {
                cycles: 3,
                ..Churn::default()
            }),
            keepalive: Some(Keepalive {
                bystanders: 10,
                sent: 4,
                answered: 4,
                ..Keepalive::default()
            }),
            server_fds: Some(ServerFds {
                after_setup: Some(24),
                after_hold: Some(25),
            }),
            hold: Some(Hold {
                seconds: 1.0,
                ..Hold::default()
            }),
            ..Report::default()
        };
        r.traffic.pps = Some(100.0);
        r.traffic.mbps = Some(0.1);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["storm"]["recovery_ratio"], 2.0);
        assert_eq!(v["churn"]["cycles"], 3);
        assert!(v["churn"]["resetup_latency_ms"].get("p99").is_some());
        assert_eq!(v["keepalive"]["bystanders_lost"], 0);
        assert_eq!(v["server_fds"]["after_hold"], 25);
        assert_eq!(v["traffic"]["pps"], 100.0);
        assert!(v.get("mode").is_some() && v.get("teardown_clean").is_some());
        let text = r.summary();
        assert!(text.contains("storm: 5 of 5"), "{text}");
        assert!(text.contains("churn: 3 cycles"), "{text}");
    }
}

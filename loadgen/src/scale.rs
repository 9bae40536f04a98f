//! What every mode does after setup (issue 8, item 4): `--hold` keeps the sessions
//! up, answering the server's keepalives; `--churn` keeps tearing sessions down and
//! setting them up again during the hold; `--storm` drops every session at once as
//! an outage does and has them all reconnect, while `--bystanders` sessions stay up
//! and prove with their own keepalives that the control plane still serves them.
//!
//! Order of the phases: setup, traffic, storm, hold (with churn), teardown — so the
//! hold also shows that what the storm re-established stays up.
//!
//! Decisions:
//! - Storm reconnects ignore `--rate` (an outage's clients all come back at once) but
//!   keep `--max-outstanding` unless `--storm-outstanding` says otherwise: the same
//!   concurrency as the initial setup, so the recovery/setup ratio compares like
//!   with like. `--storm-outstanding 100000` has every client dial at once.
//! - A storm reconnect that fails (the daemon refused it, it timed out) dials again
//!   after a second, as real clients do, until the storm's time (`--timeout`) is up;
//!   these retries are reported by reason, not as failures.
//! - Bystanders are part of `--sessions`; in `--mode l2tp` they ride on one extra
//!   tunnel of their own (beyond `--tunnels`), as the storm restarts every LAC.

use std::time::Duration;

/// The phases after setup.
#[derive(Debug, Clone, Default)]
pub struct Scale {
    /// Keep every session up this long before tearing down.
    pub hold: Option<Duration>,
    /// During the hold, tear down and re-establish this many sessions per second.
    pub churn: Option<f64>,
    /// After setup (and traffic), drop every session but the bystanders at once and
    /// reconnect them.
    pub storm: bool,
    /// Sessions the storm leaves alone; they send their own keepalives throughout.
    pub bystanders: usize,
    /// At most this many storm reconnects in setup at once (None: the setup's
    /// `max_outstanding`).
    pub storm_outstanding: Option<usize>,
}

impl Scale {
    /// The default number of bystanders with `--storm`: 1 % of the sessions, at
    /// least 10 (never all of them).
    pub fn default_bystanders(sessions: usize) -> usize {
        (sessions / 100).max(10).min(sessions.saturating_sub(1))
    }

    /// Checks the combination against `sessions`.
    pub fn validate(&self, sessions: usize) -> Result<(), String> {
        if self.churn.is_some() && self.hold.is_none() {
            return Err("--churn needs --hold SECONDS (churn runs during the hold)".into());
        }
        if let Some(r) = self.churn
            && !(r > 0.0 && r.is_finite())
        {
            return Err(format!("--churn {r}: must be a positive number per second"));
        }
        if self.bystanders > 0 && !self.storm {
            return Err("--bystanders needs --storm".into());
        }
        if self.storm && self.bystanders >= sessions {
            return Err(format!(
                "--bystanders {} must be fewer than --sessions {sessions}",
                self.bystanders
            ));
        }
        Ok(())
    }
}

/// What loadgen can read of a daemon it started (None otherwise).
pub struct Probe<'a> {
    pub rss: &'a dyn Fn() -> Option<u64>,
    pub fds: &'a dyn Fn() -> Option<u64>,
}

impl Probe<'_> {
    /// Nothing to read: a `--server` run.
    pub fn none() -> Probe<'static> {
        Probe {
            rss: &|| None,
            fds: &|| None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_needs_hold_and_bystanders_need_storm() {
        let mut s = Scale {
            churn: Some(5.0),
            ..Scale::default()
        };
        assert!(s.validate(100).unwrap_err().contains("--hold"));
        s.hold = Some(Duration::from_secs(1));
        assert!(s.validate(100).is_ok());
        s.bystanders = 10;
        assert!(s.validate(100).unwrap_err().contains("--storm"));
        s.storm = true;
        assert!(s.validate(100).is_ok());
        assert!(s.validate(10).is_err());
        assert_eq!(Scale::default_bystanders(10_000), 100);
        assert_eq!(Scale::default_bystanders(200), 10);
        assert_eq!(Scale::default_bystanders(5), 4);
    }
}

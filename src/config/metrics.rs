//! `[metrics]`: the Prometheus endpoint (see `crate::mgmt::metrics` and
//! deploy/METRICS.md for what it serves).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::validate::Validator;

/// Where the daemon serves `/metrics` unless `[metrics] listen` says otherwise:
/// loopback, so nothing is exposed to the network until the operator chooses to.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9477";

/// `[metrics]`: see `config/default.toml` for what each key means.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a table of metrics settings"
)]
pub struct MetricsConfig {
    /// "IP:PORT" for the HTTP endpoint; "" turns it off.
    pub listen: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: DEFAULT_METRICS_LISTEN.to_owned(),
        }
    }
}

impl MetricsConfig {
    /// The endpoint's address, `None` when metrics are off. Call after validation.
    pub fn address(&self) -> Option<SocketAddr> {
        self.listen.parse().ok()
    }

    pub(crate) fn validate(&self, v: &mut Validator<'_>) {
        if self.listen.is_empty() {
            return;
        }
        if self.listen.parse::<SocketAddr>().is_err() {
            v.error(
                "listen",
                format!(
                    "\"{}\" is not an IP:PORT address (e.g. \"{DEFAULT_METRICS_LISTEN}\", \
                     \"[::1]:9477\"; \"\" for no metrics endpoint)",
                    self.listen
                ),
            );
        }
    }
}

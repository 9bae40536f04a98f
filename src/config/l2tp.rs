//! `[l2tp]`: the LNS side of L2TPv2 (RFC 2661): our host name, tunnel authentication,
//! HELLO and retransmission timing, the receive window we advertise, hidden AVPs, and
//! which LACs may open a plain (not IPsec-protected) tunnel.
//!
//! Decisions:
//! - `retransmit_max_ms` is at least 8000: RFC 2661 §5.8 says the cap on the interval
//!   between retransmissions "MUST be no less than 8 seconds".
//! - `hide_avps = true` is refused: the LNS sends no secret in an AVP (kept as a key so
//!   configs that say `false` stay valid).
//! - `lac_addresses` empty means no source may open a plain L2TP tunnel: L2TP from
//!   remote-access clients must come inside IPsec, and an ISP lists its LACs.
//! - The per-tunnel session limit lives in `[limits]` with the other admission limits.

use serde::{Deserialize, Serialize};

use super::net::{IpNetwork, Secret};
use super::validate::{Validator, integer};

/// Bounds on the retransmission timers (milliseconds).
pub const MIN_RETRANSMIT_MS: u32 = 100;
pub const MAX_RETRANSMIT_MS: u32 = 120_000;
/// RFC 2661 §5.8: the retransmission cap "MUST be no less than 8 seconds".
pub const MIN_RETRANSMIT_CAP_MS: u32 = 8000;
/// Upper bound on `retransmit_retries`.
pub const MAX_RETRANSMIT_RETRIES: u32 = 100;
/// Upper bound on `receive_window`: each tunnel may hold this many out-of-order
/// control messages, so it bounds per-tunnel memory.
pub const MAX_RECEIVE_WINDOW: u16 = 1024;
/// Upper bound on `hello_interval` (s).
pub const MAX_HELLO_INTERVAL: u32 = 3600;
/// Longest `hostname` (an AVP value is at most 1017 octets; host names are short).
pub const MAX_HOSTNAME: usize = 255;

/// `[l2tp]`: see `config/default.toml` for what each key means.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of L2TP settings")]
pub struct L2tpConfig {
    /// Accept L2TP tunnels at all.
    pub enabled: bool,
    /// Our Host Name AVP (RFC 2661 §4.4.3).
    pub hostname: String,
    /// Tunnel secret for Challenge / Challenge Response and hidden AVPs; empty = none.
    pub secret: Secret,
    /// Seconds of silence on a tunnel before we send HELLO; 0 = never.
    #[serde(deserialize_with = "integer::<_, u32, 0, {MAX_HELLO_INTERVAL as i64}>")]
    pub hello_interval: u32,
    /// First retransmission timeout (ms), doubled on each retry.
    #[serde(
        deserialize_with = "integer::<_, u32, {MIN_RETRANSMIT_MS as i64}, {MAX_RETRANSMIT_MS as i64}>"
    )]
    pub retransmit_initial_ms: u32,
    /// Cap on the doubling retransmission timeout (ms).
    #[serde(
        deserialize_with = "integer::<_, u32, {MIN_RETRANSMIT_CAP_MS as i64}, {MAX_RETRANSMIT_MS as i64}>"
    )]
    pub retransmit_max_ms: u32,
    /// Retransmissions of one message before the tunnel is torn down.
    #[serde(deserialize_with = "integer::<_, u32, 1, {MAX_RETRANSMIT_RETRIES as i64}>")]
    pub retransmit_retries: u32,
    /// Receive Window Size AVP we advertise (RFC 2661 §4.4.3, §5.8).
    #[serde(deserialize_with = "integer::<_, u16, 1, {MAX_RECEIVE_WINDOW as i64}>")]
    pub receive_window: u16,
    /// Hide the AVPs that may be hidden (RFC 2661 §4.3) in what we send.
    pub hide_avps: bool,
    /// Sources allowed to open a plain L2TP tunnel; empty = none (L2TP is then accepted only inside IPsec).
    pub lac_addresses: Vec<IpNetwork>,
}

impl Default for L2tpConfig {
    fn default() -> Self {
        L2tpConfig {
            enabled: true,
            hostname: "shardvpn".to_owned(),
            secret: Secret::default(),
            hello_interval: 60,
            retransmit_initial_ms: 1000,
            retransmit_max_ms: 8000,
            retransmit_retries: 5,
            receive_window: 16,
            hide_avps: false,
            lac_addresses: Vec::new(),
        }
    }
}

impl L2tpConfig {
    /// Whether `source` may open a plain L2TP tunnel (one of `lac_addresses`).
    pub fn lac_allowed(&self, source: std::net::IpAddr) -> bool {
        self.lac_addresses
            .iter()
            .any(|network| network.contains(source))
    }

    pub(crate) fn validate(&self, v: &mut Validator<'_>) {
        if self.hostname.is_empty() {
            v.error(
                "hostname",
                "must not be empty (RFC 2661 requires a Host Name)",
            );
        } else if self.hostname.len() > MAX_HOSTNAME {
            v.error(
                "hostname",
                format!(
                    "must be at most {MAX_HOSTNAME} bytes, not {}",
                    self.hostname.len()
                ),
            );
        } else if self.hostname.chars().any(char::is_control) {
            v.error("hostname", "must not contain control characters");
        }
        v.in_range("hello_interval", self.hello_interval, 0, MAX_HELLO_INTERVAL);
        let initial_ok =
            (MIN_RETRANSMIT_MS..=MAX_RETRANSMIT_MS).contains(&self.retransmit_initial_ms);
        let max_ok = (MIN_RETRANSMIT_CAP_MS..=MAX_RETRANSMIT_MS).contains(&self.retransmit_max_ms);
        v.in_range(
            "retransmit_initial_ms",
            self.retransmit_initial_ms,
            MIN_RETRANSMIT_MS,
            MAX_RETRANSMIT_MS,
        );
        if !max_ok {
            v.error(
                "retransmit_max_ms",
                format!(
                    "must be between {MIN_RETRANSMIT_CAP_MS} and {MAX_RETRANSMIT_MS} (RFC 2661 \
                     §5.8: the cap must be at least 8 s), not {}",
                    self.retransmit_max_ms
                ),
            );
        }
        if initial_ok && max_ok && self.retransmit_initial_ms > self.retransmit_max_ms {
            v.error(
                "retransmit_initial_ms",
                format!(
                    "must not exceed l2tp.retransmit_max_ms ({}), not {}",
                    self.retransmit_max_ms, self.retransmit_initial_ms
                ),
            );
        }
        v.in_range(
            "retransmit_retries",
            self.retransmit_retries,
            1,
            MAX_RETRANSMIT_RETRIES,
        );
        v.in_range("receive_window", self.receive_window, 1, MAX_RECEIVE_WINDOW);
        if self.hide_avps {
            v.error(
                "hide_avps",
                "is not supported: the LNS sends no secret in an AVP, so there is nothing \
                 to hide (hidden AVPs from LACs are always accepted)",
            );
        }
        for (i, network) in self.lac_addresses.iter().enumerate() {
            if self.lac_addresses[..i].contains(network) {
                v.error_at_index("lac_addresses", i, format!("{network} is listed twice"));
            }
        }
    }
}

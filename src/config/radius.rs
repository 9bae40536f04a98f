//! `[radius]`: the RADIUS servers for authentication (RFC 2865) and accounting
//! (RFC 2866), what the concentrator says about itself (NAS-Identifier,
//! NAS-IP-Address), timeouts, retries and failover, the accounting queue, and the
//! Dynamic Authorization listener with its clients (RFC 5176). Which users go to
//! RADIUS is `aaa.backend` (no per-realm choice yet).
//!
//! Decisions:
//! - Each `[[radius.server]]` serves authentication and accounting on its two ports
//!   (`auth_port`, `acct_port`; 0 = that service is not asked there). Servers are
//!   tried in file order: the first one is used until it fails (`retries` + 1 sends,
//!   `timeout_ms` apart), then the next; a failed server is skipped for `dead_time`
//!   seconds. This is the failover operators know from FreeRADIUS and accel-ppp.
//! - `interim_interval = 0`: no Interim-Update unless the server's Acct-Interim-Interval
//!   asks for one (a server value under 60 s is raised to 60). RFC 2869 §5.16 says the
//!   interval "SHOULD NOT be smaller than 600"; the configured one may go down to 10 s
//!   for labs and tests, below that it is refused.
//! - Accounting records wait in a bounded queue (`accounting_queue`) while every server
//!   is down; they are sent in order when one answers (see the RADIUS engine's docs for
//!   what is dropped first when it is full).
//! - `dae_listen` empty: no CoA/Disconnect listener. Only `[[radius.dae_client]]`
//!   sources are answered, each with its own secret.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::net::Secret;
use super::validate::{Validator, integer};

/// One `[[radius.server]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a table with `address` and `secret`")]
pub struct RadiusServer {
    pub address: IpAddr,
    #[serde(default)]
    pub secret: Secret,
    /// Authentication port (RFC 2865 §3: 1812); 0: not used for authentication.
    #[serde(default = "default_auth_port")]
    pub auth_port: u16,
    /// Accounting port (RFC 2866 §3: 1813); 0: not used for accounting.
    #[serde(default = "default_acct_port")]
    pub acct_port: u16,
}

fn default_auth_port() -> u16 {
    1812
}

fn default_acct_port() -> u16 {
    1813
}

impl RadiusServer {
    pub fn auth_addr(&self) -> Option<SocketAddr> {
        (self.auth_port != 0).then(|| SocketAddr::new(self.address, self.auth_port))
    }

    pub fn acct_addr(&self) -> Option<SocketAddr> {
        (self.acct_port != 0).then(|| SocketAddr::new(self.address, self.acct_port))
    }
}

/// One `[[radius.dae_client]]`: who may send Disconnect-Request / CoA-Request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a table with `address` and `secret`")]
pub struct DaeClient {
    /// The client's address (RFC 5176 requests are matched on the source address).
    pub address: IpAddr,
    #[serde(default)]
    pub secret: Secret,
}

/// `[radius]`: see `config/default.toml` for what each key means.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of RADIUS settings")]
pub struct RadiusConfig {
    /// NAS-Identifier (RFC 2865 §5.32) in every request.
    pub nas_identifier: String,
    /// NAS-IP-Address (RFC 2865 §5.4); empty: not sent (NAS-Identifier identifies us).
    pub nas_ip_address: String,
    /// Milliseconds to wait for an answer before sending again.
    #[serde(deserialize_with = "integer::<_, u32, 100, 60000>")]
    pub timeout_ms: u32,
    /// Retransmissions to one server before the next is tried.
    #[serde(deserialize_with = "integer::<_, u32, 0, 10>")]
    pub retries: u32,
    /// Seconds a server that stopped answering is skipped.
    #[serde(deserialize_with = "integer::<_, u32, 0, 3600>")]
    pub dead_time: u32,
    /// UDP sockets for requests (each carries 256 outstanding Identifiers per server).
    #[serde(deserialize_with = "integer::<_, u32, 1, 64>")]
    pub sockets: u32,
    /// Send accounting (Start, Interim-Update, Stop, Accounting-On/Off).
    pub accounting: bool,
    /// Seconds between Interim-Updates unless RADIUS says otherwise; 0: none.
    #[serde(deserialize_with = "integer::<_, u32, 0, 86400>")]
    pub interim_interval: u32,
    /// Accounting records kept while no server answers.
    #[serde(deserialize_with = "integer::<_, u32, 1, 10000000>")]
    pub accounting_queue: u32,
    /// `ADDRESS:PORT` for Disconnect-Request / CoA-Request (RFC 5176, port 3799);
    /// empty: no listener.
    pub dae_listen: String,
    /// `[[radius.server]]`, in order of preference.
    pub server: Vec<RadiusServer>,
    /// `[[radius.dae_client]]`.
    pub dae_client: Vec<DaeClient>,
}

impl Default for RadiusConfig {
    fn default() -> Self {
        RadiusConfig {
            nas_identifier: "shardvpn".to_owned(),
            nas_ip_address: String::new(),
            timeout_ms: 3000,
            retries: 2,
            dead_time: 30,
            sockets: 4,
            accounting: true,
            interim_interval: 0,
            accounting_queue: 100_000,
            dae_listen: String::new(),
            server: Vec::new(),
            dae_client: Vec::new(),
        }
    }
}

impl RadiusConfig {
    /// The NAS-IP-Address, if set.
    pub fn nas_ip(&self) -> Option<IpAddr> {
        self.nas_ip_address.parse().ok()
    }

    /// The DAE listener's address, if set.
    pub fn dae_addr(&self) -> Option<SocketAddr> {
        self.dae_listen.parse().ok()
    }

    pub(crate) fn validate(&self, v: &mut Validator<'_>, radius_used: bool) {
        if self.nas_identifier.is_empty() && self.nas_ip_address.is_empty() {
            v.error(
                "nas_identifier",
                "set nas_identifier or nas_ip_address: RFC 2865 §4.1 requires one of them",
            );
        }
        if !self.nas_ip_address.is_empty() && self.nas_ip().is_none() {
            v.error(
                "nas_ip_address",
                format!("\"{}\" is not an IP address", self.nas_ip_address),
            );
        }
        if self.interim_interval != 0 && self.interim_interval < 10 {
            v.error(
                "interim_interval",
                "must be 0 (none) or at least 10 seconds (RFC 2869 §5.16 recommends 600)",
            );
        }
        if !self.dae_listen.is_empty() && self.dae_addr().is_none() {
            v.error(
                "dae_listen",
                format!(
                    "\"{}\" is not ADDRESS:PORT (e.g. \"0.0.0.0:3799\")",
                    self.dae_listen
                ),
            );
        }
        if !self.dae_listen.is_empty() && self.dae_client.is_empty() {
            v.error(
                "dae_listen",
                "no [[radius.dae_client]] is listed: nobody could use the listener",
            );
        }
        if radius_used && self.server.iter().all(|s| s.auth_port == 0) {
            v.error(
                "server",
                "aaa.backend uses RADIUS: list a [[radius.server]] with an auth_port",
            );
        }
        for (i, s) in self.server.iter().enumerate() {
            v.section("server", |v| {
                v.element(i, |v| {
                    if s.secret.is_empty() {
                        v.error("secret", "must not be empty");
                    }
                    if s.auth_port == 0 && s.acct_port == 0 {
                        v.error("auth_port", "auth_port and acct_port cannot both be 0");
                    }
                });
            });
        }
        for (i, c) in self.dae_client.iter().enumerate() {
            v.section("dae_client", |v| {
                v.element(i, |v| {
                    if c.secret.is_empty() {
                        v.error("secret", "must not be empty");
                    }
                });
            });
        }
    }
}

//! `[ppp]`: what the concentrator negotiates with every subscriber: authentication
//! methods in order of preference, MRU, the addresses IPCP hands out besides the
//! subscriber's own (DNS and NBNS servers, RFC 1877; our side's address), keepalives,
//! timeouts, IPv6CP, and what to do with an LAC's proxy LCP.
//!
//! Decisions:
//! - `local_address` (our IPCP address) defaults to `10.200.0.1`, the first host of the
//!   default pool's network; any pool containing it never hands it out
//!   (`crate::aaa::pool`). Every session shares it: it is the PPP-side address of the
//!   concentrator, the peer-to-peer "gateway" subscribers ping.
//! - `dns` defaults to two public resolvers run by different operators (Cloudflare
//!   1.1.1.1 and Quad9 9.9.9.9), so that one outage or policy does not take name
//!   resolution down; an ISP sets its own.
//! - `rate_limit` is a string in `crate::aaa::ratelimit`'s configuration grammar
//!   (`"UP[/DOWN] [UP_BURST[/DOWN_BURST]]"`, upload first, bits per second with
//!   k/M/G), checked here with that parser; empty (the default) means no default
//!   limit. A limit from RADIUS (or CoA) replaces it for the session.
//! - `mru` is not tied to `dataplane.tun_mtu`: the kernel accepts a TUN write larger
//!   than the device MTU, and an operator lowering one should not have to lower both.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::dataplane::{MAX_TUN_MTU, MIN_TUN_MTU};
use super::validate::{Validator, integer};

/// A PPP authentication protocol the concentrator may ask for (LCP Auth-Protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// MS-CHAPv2 (RFC 2759): the only one that yields MPPE keys.
    MsChapV2,
    /// CHAP with MD5 (RFC 1994).
    Chap,
    /// PAP (RFC 1334): the password in clear inside the tunnel.
    Pap,
}

/// What to do with the proxy LCP and proxy authentication AVPs an LAC sends in ICCN
/// (RFC 2661 §4.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyLcp {
    /// Take the LAC's LCP negotiation and its authentication as ours.
    #[default]
    Accept,
    /// Ignore them: negotiate LCP and authenticate the subscriber again.
    Renegotiate,
}

/// At most this many DNS or NBNS servers: IPCP has a primary and a secondary option
/// for each (RFC 1877 §1.1–§1.4).
pub const MAX_NAME_SERVERS: usize = 2;

/// Upper bound on `echo_interval` (s).
pub const MAX_ECHO_INTERVAL: u32 = 3600;
/// Upper bound on `echo_failures`.
pub const MAX_ECHO_FAILURES: u32 = 100;

/// `[ppp]`: see `config/default.toml` for what each key means.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of PPP settings")]
pub struct PppConfig {
    /// Authentication methods, most preferred first.
    pub auth: Vec<AuthMethod>,
    /// Our Maximum-Receive-Unit (LCP option 1).
    #[serde(deserialize_with = "integer::<_, u16, {MIN_TUN_MTU as i64}, {MAX_TUN_MTU as i64}>")]
    pub mru: u16,
    /// DNS servers for IPCP (RFC 1877), at most two.
    pub dns: Vec<Ipv4Addr>,
    /// NBNS (WINS) servers for IPCP (RFC 1877), at most two.
    pub nbns: Vec<Ipv4Addr>,
    /// Seconds between LCP Echo-Requests on a quiet session; 0 = no keepalive.
    #[serde(deserialize_with = "integer::<_, u32, 0, {MAX_ECHO_INTERVAL as i64}>")]
    pub echo_interval: u32,
    /// Unanswered Echo-Requests after which the peer is declared dead.
    #[serde(deserialize_with = "integer::<_, u32, 1, {MAX_ECHO_FAILURES as i64}>")]
    pub echo_failures: u32,
    /// Seconds a session may last; 0 = unlimited.
    #[serde(deserialize_with = "integer::<_, u32, 0, {u32::MAX as i64}>")]
    pub session_timeout: u32,
    /// Seconds without traffic after which a session ends; 0 = never.
    #[serde(deserialize_with = "integer::<_, u32, 0, {u32::MAX as i64}>")]
    pub idle_timeout: u32,
    /// Negotiate IPv6CP (interface identifiers, RFC 5072).
    pub ipv6: bool,
    /// Our IPCP address (the concentrator's PPP-side address).
    pub local_address: Ipv4Addr,
    pub proxy_lcp: ProxyLcp,
    /// The default per-session rate limit (`crate::aaa::ratelimit::parse_config`);
    /// empty: none.
    pub rate_limit: String,
}

impl Default for PppConfig {
    fn default() -> Self {
        PppConfig {
            auth: vec![AuthMethod::MsChapV2, AuthMethod::Chap, AuthMethod::Pap],
            mru: 1400,
            dns: vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(9, 9, 9, 9)],
            nbns: Vec::new(),
            echo_interval: 30,
            echo_failures: 3,
            session_timeout: 0,
            idle_timeout: 0,
            ipv6: true,
            local_address: Ipv4Addr::new(10, 200, 0, 1),
            proxy_lcp: ProxyLcp::Accept,
            rate_limit: String::new(),
        }
    }
}

/// Why an address cannot be a unicast host address we hand out or use, if it cannot.
pub(crate) fn not_a_host_address(address: Ipv4Addr) -> Option<&'static str> {
    if address.is_unspecified() || address.octets()[0] == 0 {
        Some("is in 0.0.0.0/8 (\"this network\")")
    } else if address.is_loopback() {
        Some("is a loopback address")
    } else if address.is_multicast() {
        Some("is a multicast address")
    } else if address.is_broadcast() || u32::from(address) >= 0xf000_0000 {
        Some("is in 240.0.0.0/4 (reserved or broadcast)")
    } else {
        None
    }
}

impl PppConfig {
    pub(crate) fn validate(&self, v: &mut Validator<'_>) {
        if self.auth.is_empty() {
            v.error(
                "auth",
                "must name at least one method (\"mschapv2\", \"chap\", \"pap\")",
            );
        }
        for (i, method) in self.auth.iter().enumerate() {
            if self.auth[..i].contains(method) {
                v.error_at_index(
                    "auth",
                    i,
                    format!("{:?} is listed twice", serde_name(method)),
                );
            }
        }
        v.in_range("mru", u32::from(self.mru), MIN_TUN_MTU, MAX_TUN_MTU);
        for (key, servers) in [("dns", &self.dns), ("nbns", &self.nbns)] {
            if servers.len() > MAX_NAME_SERVERS {
                v.error_at_index(
                    key,
                    MAX_NAME_SERVERS,
                    format!(
                        "at most {MAX_NAME_SERVERS} servers (IPCP has a primary and a \
                         secondary, RFC 1877), not {}",
                        servers.len()
                    ),
                );
            }
            for (i, &server) in servers.iter().enumerate() {
                if let Some(why) = not_a_host_address(server) {
                    v.error_at_index(key, i, format!("{server} {why}"));
                }
            }
        }
        v.in_range("echo_interval", self.echo_interval, 0, MAX_ECHO_INTERVAL);
        v.in_range("echo_failures", self.echo_failures, 1, MAX_ECHO_FAILURES);
        if let Some(why) = not_a_host_address(self.local_address) {
            v.error("local_address", format!("{} {why}", self.local_address));
        }
        if let Err(e) = crate::aaa::ratelimit::parse_config(&self.rate_limit) {
            v.error(
                "rate_limit",
                format!(
                    "{e}: expected \"UP[/DOWN] [UP_BURST[/DOWN_BURST]]\", rates in bit/s \
                     with k/M/G (e.g. \"10M/20M\"), or \"\" for none"
                ),
            );
        }
    }

    /// The default rate limit, if one is configured (validated at load).
    pub fn default_rate_limit(&self) -> Option<crate::aaa::ratelimit::RateLimit> {
        crate::aaa::ratelimit::parse_config(&self.rate_limit)
            .ok()
            .flatten()
    }
}

/// The name a method has in the file.
pub(crate) fn serde_name(method: &AuthMethod) -> &'static str {
    match method {
        AuthMethod::MsChapV2 => "mschapv2",
        AuthMethod::Chap => "chap",
        AuthMethod::Pap => "pap",
    }
}

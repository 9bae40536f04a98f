//! The TOML configuration file (design.md "Layout": `src/config.rs`; a folder, one file
//! per section, so the sections to come each get their own).
//!
//! A [`Config`] has one struct per `[section]`: [`DataplaneConfig`] (`[dataplane]`:
//! shards, batching, buffers, per-shard table bounds, queues, TUN), [`ListenConfig`]
//! (`[listen]`: address, UDP ports, raw ESP), [`AaaConfig`] (`[aaa]`: users file,
//! backend, demo user), [`PppConfig`] (`[ppp]`: authentication methods, MRU, DNS/NBNS,
//! keepalives, timeouts, IPv6CP, our address, proxy LCP), [`L2tpConfig`] (`[l2tp]`:
//! host name, tunnel secret, timers, window, hidden AVPs, allowed LACs), [`IkeConfig`]
//! (`[ike]`: pre-shared keys, proposals, PFS, lifetimes, NAT-T, DPD, half-open limits),
//! [`PptpSection`] (`[pptp]`: off by default; MPPE requirement and strength, limits),
//! [`LimitsConfig`] (`[limits]`: admission control), [`MgmtConfig`] (`[mgmt]`: the
//! management socket) and a list of [`PoolConfig`]
//! (`[[pool]]`: named IPv4 address pools). Every key has a default,
//! so an empty file is a valid configuration, and every struct denies unknown keys, so a
//! misspelt key is an error rather than a silently ignored line.
//!
//! The defaults live in two places that a test keeps equal: the `Default` impls, which
//! code uses, and `config/default.toml`, embedded in the binary with `include_str!`
//! ([`DEFAULT_TOML`], [`Config::embedded`], `shardvpn print-default-config`), which
//! documents every key with a comment. Another test checks that file names every key.
//!
//! # Errors
//!
//! Every problem renders as `FILE:LINE: key: message` ([`ConfigError`]), with `key` the
//! dotted path (`dataplane.batch`) and `LINE` 1-based:
//! - syntax errors: the line toml's parser points at (one error: after a syntax error
//!   the rest of the file is guesswork);
//! - unknown keys and wrong types: the line of the key or value, from the span toml's
//!   deserializer attaches; the key path is recovered by finding that span in the
//!   parsed document ([`toml::de::DeTable`] keeps a span on every key and value).
//!   serde stops at the first such error, so there is one. An integer too large for
//!   its field's Rust type fails here too, with the same "must be between" message as
//!   the range check, and a wrong type says "expected an integer from 1 to 1024"
//!   rather than naming a Rust type (`validate::integer`);
//! - semantic errors (out of range, duplicate ports, bad interface name): all of them,
//!   each at the line of the offending value. Sections check themselves against a
//!   `validate::Validator` by key name; the paths become lines afterwards. A rule that
//!   involves a key the file does not set blames a key it does set, or failing that the
//!   section's `[header]`.
//!
//! A file that cannot be read is `FILE: cannot read: <io error>`.
//!
//! # Adding a section
//!
//! Add a `foo.rs` with a `FooConfig` (`#[serde(default, deny_unknown_fields)]`, a
//! `Default`, a `validate(&self, &mut Validator)`), a field in [`Config`], a call in
//! `Config::check`, and the documented keys in `config/default.toml`. Arrays of tables
//! (`[[pool]]`) validate their elements under `Validator::element` and
//! report as `pool[2].range`.

mod aaa;
mod dataplane;
mod error;
mod ike;
mod l2tp;
mod limits;
mod listen;
mod metrics;
mod mgmt;
mod net;
mod pool;
mod ppp;
mod pptp;
mod radius;
mod validate;

use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::de::DeTable;

pub use aaa::{AaaBackend, AaaConfig, DEFAULT_DEMO_CREDENTIALS_FILE, DemoUser};
pub use dataplane::{
    DataplaneConfig, ENCAPSULATION_HEADROOM, MAX_BATCH, MAX_BUFFER_SIZE, MAX_BUFFERS, MAX_CPU,
    MAX_SHARDS, MAX_TABLE, MAX_TUN_MTU, MAX_TUN_NAME, MAX_TUNNELS, MIN_BUFFER_SIZE, MIN_BUFFERS,
    MIN_TUN_MTU, Shards,
};
pub use error::{ConfigError, ConfigErrors};
pub use ike::{IkeConfig, IkePeer, PfsPolicy};
pub use l2tp::{
    L2tpConfig, MAX_HELLO_INTERVAL, MAX_HOSTNAME, MAX_RECEIVE_WINDOW, MAX_RETRANSMIT_MS,
    MAX_RETRANSMIT_RETRIES, MIN_RETRANSMIT_CAP_MS, MIN_RETRANSMIT_MS,
};
pub use limits::{LimitsConfig, MAX_GLOBAL_SESSIONS, MAX_SESSIONS_PER_TUNNEL};
pub use listen::ListenConfig;
pub use metrics::{DEFAULT_METRICS_LISTEN, MetricsConfig};
pub use mgmt::{DEFAULT_MGMT_SOCKET, MAX_SOCKET_PATH, MgmtConfig};
pub use net::{AddressRange, IpNetwork, Secret};
pub use pool::{MAX_POOL_NAME, MAX_POOL_SIZE, PoolConfig};
pub use ppp::{
    AuthMethod, MAX_ECHO_FAILURES, MAX_ECHO_INTERVAL, MAX_NAME_SERVERS, PppConfig, ProxyLcp,
};
pub use pptp::{MppeRequirement, PptpSection};
pub use radius::{DaeClient, RadiusConfig, RadiusServer};

use error::{line_of, path_at, render_path, report_span};
use validate::Validator;

/// The built-in default configuration, every key documented: what
/// `shardvpn print-default-config` prints.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// The name [`Config::embedded`] gives [`DEFAULT_TOML`] in errors.
pub const EMBEDDED_ORIGIN: &str = "<embedded default>";

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of sections")]
pub struct Config {
    pub dataplane: DataplaneConfig,
    pub listen: ListenConfig,
    pub aaa: AaaConfig,
    pub ppp: PppConfig,
    pub l2tp: L2tpConfig,
    pub ike: IkeConfig,
    pub pptp: PptpSection,
    pub radius: RadiusConfig,
    pub limits: LimitsConfig,
    pub mgmt: MgmtConfig,
    pub metrics: MetricsConfig,
    /// `[[pool]]`, in file order. Last, so that serialized TOML writes the plain
    /// tables before the array of tables.
    pub pool: Vec<PoolConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dataplane: DataplaneConfig::default(),
            listen: ListenConfig::default(),
            aaa: AaaConfig::default(),
            ppp: PppConfig::default(),
            l2tp: L2tpConfig::default(),
            ike: IkeConfig::default(),
            pptp: PptpSection::default(),
            radius: RadiusConfig::default(),
            limits: LimitsConfig::default(),
            mgmt: MgmtConfig::default(),
            metrics: MetricsConfig::default(),
            pool: vec![PoolConfig::default_pool()],
        }
    }
}

impl Config {
    /// Parses and validates `text`; `origin` (usually the file name) starts every error.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigErrors> {
        Self::parse_in(text, origin, None)
    }

    /// Like [`Config::parse`], with relative file paths (`aaa.users_file`,
    /// `aaa.demo_credentials_file`) resolved against `base` (the directory of the
    /// config file) before validation; without a base they must be absolute.
    fn parse_in(text: &str, origin: &str, base: Option<&Path>) -> Result<Config, ConfigErrors> {
        let document = match DeTable::parse(text) {
            Ok(document) => document,
            Err(error) => {
                // The partial document of a recovering parse can still name the key
                // the error sits in.
                let (partial, _) = DeTable::parse_recoverable(text);
                let mut message = format!("syntax error: {}", error.message());
                // Quote what the parser points at when it is a short token (the key of
                // "duplicate key"), since the key path cannot always be recovered.
                let token = error
                    .span()
                    .and_then(|span| text.get(span))
                    .filter(|token| !token.is_empty() && token.len() <= 64)
                    .filter(|token| !token.contains(['\n', '\r']));
                if let Some(token) = token {
                    message.push_str(&format!(" (at `{token}`)"));
                }
                return Err(ConfigErrors::new(vec![located(
                    text,
                    partial.get_ref(),
                    origin,
                    error.span(),
                    message,
                )]));
            }
        };
        let mut config: Config = match toml::from_str(text) {
            Ok(config) => config,
            Err(error) => {
                return Err(ConfigErrors::new(vec![located(
                    text,
                    document.get_ref(),
                    origin,
                    error.span(),
                    error.message().to_owned(),
                )]));
            }
        };
        if let Some(base) = base {
            config.aaa.resolve_paths(base);
            config.mgmt.resolve_paths(base);
        }
        let mut validator = Validator::new(Some((document.get_ref(), text)));
        config.check(&mut validator);
        let mut errors: Vec<ConfigError> = validator
            .into_errors()
            .into_iter()
            .map(|(path, message)| ConfigError {
                origin: origin.to_owned(),
                line: report_span(document.get_ref(), &path).map(|span| line_of(text, span.start)),
                key: Some(render_path(&path)),
                message,
            })
            .collect();
        if errors.is_empty() {
            return Ok(config);
        }
        // File order; within a line, the order the sections checked (stable sort).
        errors.sort_by_key(|error| error.line.unwrap_or(usize::MAX));
        Err(ConfigErrors::new(errors))
    }

    /// Reads and parses the file at `path`; errors start with `path` as given.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigErrors> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                // `c.toml`'s parent is "": the current directory.
                let base = path
                    .parent()
                    .map(|dir| {
                        if dir.as_os_str().is_empty() {
                            Path::new(".")
                        } else {
                            dir
                        }
                    })
                    .map(|dir| std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()));
                Config::parse_in(&text, &origin, base.as_deref())
            }
            Err(error) => Err(ConfigErrors::new(vec![ConfigError {
                origin,
                line: None,
                key: None,
                message: format!("cannot read: {error}"),
            }])),
        }
    }

    /// The built-in default configuration, parsed from [`DEFAULT_TOML`].
    pub fn embedded() -> Config {
        match Config::parse(DEFAULT_TOML, EMBEDDED_ORIGIN) {
            Ok(config) => config,
            // A unit test parses the embedded file, so this cannot ship.
            Err(errors) => panic!("the embedded default configuration is invalid:\n{errors}"),
        }
    }

    /// Validates a configuration built in code (tests, loadgen). Errors carry no line
    /// and `<config>` as their origin.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut validator = Validator::new(None);
        self.check(&mut validator);
        let errors: Vec<ConfigError> = validator
            .into_errors()
            .into_iter()
            .map(|(path, message)| ConfigError {
                origin: "<config>".to_owned(),
                line: None,
                key: Some(render_path(&path)),
                message,
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors::new(errors))
        }
    }

    /// Every section's semantic rules.
    fn check(&self, v: &mut Validator<'_>) {
        v.section("dataplane", |v| self.dataplane.validate(v));
        v.section("listen", |v| self.listen.validate(v));
        v.section("aaa", |v| self.aaa.validate(v));
        v.section("ppp", |v| self.ppp.validate(v));
        v.section("l2tp", |v| self.l2tp.validate(v));
        v.section("ike", |v| self.ike.validate(v));
        v.section("pptp", |v| {
            self.pptp.validate(v);
            // GRE (IP protocol 47) is read from a raw IPv4 socket on the listen address.
            if self.pptp.enabled && self.listen.address.is_ipv6() {
                v.error(
                    "enabled",
                    format!(
                        "PPTP's GRE data is IPv4 only: listen.address ({}) must be an IPv4 \
                         address (\"0.0.0.0\" for all) when pptp is enabled",
                        self.listen.address
                    ),
                );
            }
        });
        v.section("radius", |v| {
            self.radius
                .validate(v, self.aaa.backend == AaaBackend::Radius)
        });
        v.section("limits", |v| self.limits.validate(v));
        v.section("mgmt", |v| self.mgmt.validate(v));
        v.section("metrics", |v| self.metrics.validate(v));
        pool::validate_pools(&self.pool, v);
    }

    /// The pool named `name`.
    pub fn pool_named(&self, name: &str) -> Option<&PoolConfig> {
        self.pool.iter().find(|pool| pool.name == name)
    }

    /// The DNS servers IPCP offers a subscriber of `pool`: the pool's own, else
    /// `ppp.dns`.
    pub fn dns_for<'a>(&'a self, pool: Option<&'a PoolConfig>) -> &'a [std::net::Ipv4Addr] {
        match pool {
            Some(pool) if !pool.dns.is_empty() => &pool.dns,
            _ => &self.ppp.dns,
        }
    }
}

/// An error toml reported as a byte span: its line, and the key found at that span.
fn located(
    text: &str,
    document: &DeTable<'_>,
    origin: &str,
    span: Option<std::ops::Range<usize>>,
    message: String,
) -> ConfigError {
    let offset = span.map(|span| span.start);
    ConfigError {
        origin: origin.to_owned(),
        line: offset.map(|offset| line_of(text, offset)),
        key: offset
            .and_then(|offset| path_at(document, offset))
            .map(|path| render_path(&path)),
        message,
    }
}

#[cfg(test)]
mod tests;

//! `[dataplane]`: shard count, batching, buffers, per-shard table bounds, queues, TUN.
//!
//! Field types match what `runtime` consumes (`u16` buffer count, `usize` sizes), so
//! the runtime's spec is filled without conversions that could fail after validation.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::validate::{Validator, integer};

/// Most shards a configuration may ask for. Every shard preallocates its tables and
/// buffers, and steering programs take `id % shards`; beyond a thousand cores this
/// would be a mistake, not a machine.
pub const MAX_SHARDS: u32 = 1024;
/// Bound on `batch`: the io_uring completion queue is sized from it.
pub const MAX_BATCH: usize = 1024;
/// Bounds on `buffers` (a power of two: provided-buffer rings require it).
pub const MIN_BUFFERS: u16 = 64;
pub const MAX_BUFFERS: u16 = 32768;
/// Bounds on `buffer_size`. The lower bound holds a minimum-MTU (576) packet with its
/// encapsulation; the upper is the largest UDP datagram.
pub const MIN_BUFFER_SIZE: usize = 1024;
pub const MAX_BUFFER_SIZE: usize = 65535;
/// Room a receive buffer needs beyond `tun_mtu` for the encapsulation around a
/// full-size subscriber packet: outer IPv4 with options (60), UDP (8), ESP header and
/// IV (8 + 16), L2TP data header with length, sequence numbers and offset (16), PPP
/// (4), ESP padding and trailer (up to 17 for a 16-byte block), ICV (16): 145, rounded
/// up to leave margin for the UDP/1701 header and future transforms.
pub const ENCAPSULATION_HEADROOM: usize = 256;
/// Upper bound on every table and queue size: preallocated at twice the capacity (see
/// `dataplane::tables`), a million entries per shard is already hundreds of MiB.
pub const MAX_TABLE: usize = 1 << 20;
/// L2TP tunnel IDs are 16 bits (RFC 2661 §3.1) and zero is reserved.
pub const MAX_TUNNELS: usize = 65535;
/// Bounds on `tun_mtu`: 576 is the IPv4 minimum every host must accept (RFC 791);
/// 9000 is the usual jumbo frame.
pub const MIN_TUN_MTU: u32 = 576;
pub const MAX_TUN_MTU: u32 = 9000;
/// `IFNAMSIZ - 1`: the kernel keeps interface names in 16 bytes with a trailing NUL.
pub const MAX_TUN_NAME: usize = 15;

/// CPUs an affinity mask can name (glibc's `CPU_SETSIZE`).
pub const MAX_CPU: u32 = 1024;

/// How many shards to run: a fixed count or one per online CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shards {
    /// One per CPU this process may run on (`std::thread::available_parallelism`).
    #[default]
    Auto,
    /// Exactly this many (validated to `1..=MAX_SHARDS`).
    Count(u32),
}

impl Shards {
    /// The concrete number of shards. `Auto` is the number of CPUs available to this
    /// process, at least 1 and at most [`MAX_SHARDS`]. A `Count` is returned as is:
    /// validation has refused 0 and counts above [`MAX_SHARDS`].
    pub fn resolve(self) -> u32 {
        match self {
            Shards::Count(count) => count,
            Shards::Auto => std::thread::available_parallelism()
                .map_or(1, |cpus| u32::try_from(cpus.get()).unwrap_or(MAX_SHARDS))
                .clamp(1, MAX_SHARDS),
        }
    }
}

impl Serialize for Shards {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Shards::Auto => serializer.serialize_str("auto"),
            Shards::Count(count) => serializer.serialize_u32(*count),
        }
    }
}

impl<'de> Deserialize<'de> for Shards {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ShardsVisitor;
        impl Visitor<'_> for ShardsVisitor {
            type Value = Shards;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of shards or \"auto\"")
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Shards, E> {
                match u64::try_from(value) {
                    Ok(value) => self.visit_u64(value),
                    Err(_) => Err(E::custom(format!(
                        "expected a number of shards or \"auto\", found {value}"
                    ))),
                }
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Shards, E> {
                // Beyond u32 is certainly above MAX_SHARDS: saturate and let validation
                // give the range message.
                Ok(Shards::Count(u32::try_from(value).unwrap_or(u32::MAX)))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Shards, E> {
                if value == "auto" {
                    Ok(Shards::Auto)
                } else {
                    Err(E::custom(format!(
                        "expected a number of shards or \"auto\", found {value:?}"
                    )))
                }
            }
        }
        deserializer.deserialize_any(ShardsVisitor)
    }
}

/// `[dataplane]`: see `config/default.toml` for what each key means.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a table of data plane settings"
)]
pub struct DataplaneConfig {
    pub shards: Shards,
    /// Completions handled per batch.
    #[serde(deserialize_with = "integer::<_, usize, 1, {MAX_BATCH as i64}>")]
    pub batch: usize,
    /// Receive buffers per shard (provided-buffer ring entries).
    #[serde(deserialize_with = "integer::<_, u16, {MIN_BUFFERS as i64}, {MAX_BUFFERS as i64}>")]
    pub buffers: u16,
    /// Bytes per receive buffer.
    #[serde(
        deserialize_with = "integer::<_, usize, {MIN_BUFFER_SIZE as i64}, {MAX_BUFFER_SIZE as i64}>"
    )]
    pub buffer_size: usize,
    /// Per-shard table bounds.
    #[serde(deserialize_with = "integer::<_, usize, 1, {MAX_TABLE as i64}>")]
    pub max_sessions: usize,
    #[serde(deserialize_with = "integer::<_, usize, 1, {MAX_TUNNELS as i64}>")]
    pub max_tunnels: usize,
    #[serde(deserialize_with = "integer::<_, usize, 1, {MAX_TABLE as i64}>")]
    pub max_sas: usize,
    #[serde(deserialize_with = "integer::<_, usize, 1, {MAX_TABLE as i64}>")]
    pub max_routes: usize,
    /// Shard -> control punt queue length.
    #[serde(deserialize_with = "integer::<_, usize, 1, {MAX_TABLE as i64}>")]
    pub punt_queue: usize,
    /// Control -> shard command queue length.
    #[serde(deserialize_with = "integer::<_, usize, 1, {MAX_TABLE as i64}>")]
    pub command_queue: usize,
    /// Pin shard `i` to core `i % cores`.
    pub pin_cores: bool,
    /// The CPUs shards are pinned to, in shard order (empty: the CPUs this process
    /// may run on). Lets an operator keep the NIC's interrupt CPUs free of shards.
    pub cpus: Vec<u32>,
    pub tun_name: String,
    #[serde(deserialize_with = "integer::<_, u32, {MIN_TUN_MTU as i64}, {MAX_TUN_MTU as i64}>")]
    pub tun_mtu: u32,
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        DataplaneConfig {
            shards: Shards::Auto,
            cpus: Vec::new(),
            batch: 64,
            buffers: 4096,
            buffer_size: 2048,
            max_sessions: 65536,
            max_tunnels: 16384,
            max_sas: 32768,
            max_routes: 65536,
            punt_queue: 1024,
            command_queue: 4096,
            pin_cores: true,
            tun_name: "shardvpn0".to_owned(),
            tun_mtu: 1400,
        }
    }
}

impl DataplaneConfig {
    /// The concrete number of shards: `shards`, where "auto" is one per listed CPU
    /// (`cpus`) or else [`Shards::resolve`].
    pub fn shard_count(&self) -> u32 {
        match self.shards {
            Shards::Auto if self.pin_cores && !self.cpus.is_empty() => {
                u32::try_from(self.cpus.len()).unwrap_or(MAX_SHARDS)
            }
            s => s.resolve(),
        }
    }

    pub(crate) fn validate(&self, v: &mut Validator<'_>) {
        if let Shards::Count(count) = self.shards {
            v.in_range("shards", count, 1, MAX_SHARDS);
        }
        v.in_range("batch", self.batch, 1, MAX_BATCH);
        if !self.cpus.is_empty() && !self.pin_cores {
            v.error("cpus", "pins shards: it needs pin_cores = true");
        }
        let mut seen = std::collections::HashSet::new();
        for (i, cpu) in self.cpus.iter().enumerate() {
            if *cpu >= MAX_CPU {
                v.error_at_index(
                    "cpus",
                    i,
                    format!("CPU {cpu} is beyond the {MAX_CPU} CPUs Linux's affinity masks name"),
                );
            } else if !seen.insert(*cpu) {
                v.error_at_index("cpus", i, format!("CPU {cpu} is listed twice"));
            }
        }
        if self.cpus.len() > MAX_SHARDS as usize {
            v.error("cpus", format!("lists more than {MAX_SHARDS} CPUs"));
        }
        if !self.buffers.is_power_of_two() {
            v.error(
                "buffers",
                format!("must be a power of two, not {}", self.buffers),
            );
        } else {
            v.in_range("buffers", self.buffers, MIN_BUFFERS, MAX_BUFFERS);
        }
        v.in_range(
            "buffer_size",
            self.buffer_size,
            MIN_BUFFER_SIZE,
            MAX_BUFFER_SIZE,
        );
        let tun_mtu_ok = (MIN_TUN_MTU..=MAX_TUN_MTU).contains(&self.tun_mtu);
        v.in_range("tun_mtu", self.tun_mtu, MIN_TUN_MTU, MAX_TUN_MTU);
        // Only meaningful when both are individually valid; otherwise their own errors
        // say enough. Blamed on buffer_size unless only tun_mtu is written (raising the
        // MTU is then the edit that broke it).
        let needed = self.tun_mtu as usize + ENCAPSULATION_HEADROOM;
        if tun_mtu_ok
            && (MIN_BUFFER_SIZE..=MAX_BUFFER_SIZE).contains(&self.buffer_size)
            && self.buffer_size < needed
        {
            if v.is_set("tun_mtu") && !v.is_set("buffer_size") {
                v.error(
                    "tun_mtu",
                    format!(
                        "needs dataplane.buffer_size of at least tun_mtu + \
                         {ENCAPSULATION_HEADROOM} = {needed} to hold a full-size packet \
                         with its encapsulation, but it is {}",
                        self.buffer_size
                    ),
                );
            } else {
                v.error(
                    "buffer_size",
                    format!(
                        "must be at least tun_mtu + {ENCAPSULATION_HEADROOM} = {needed} to \
                         hold a full-size packet with its encapsulation, not {}",
                        self.buffer_size
                    ),
                );
            }
        }
        v.in_range("max_sessions", self.max_sessions, 1, MAX_TABLE);
        v.in_range("max_tunnels", self.max_tunnels, 1, MAX_TUNNELS);
        v.in_range("max_sas", self.max_sas, 1, MAX_TABLE);
        v.in_range("max_routes", self.max_routes, 1, MAX_TABLE);
        v.in_range("punt_queue", self.punt_queue, 1, MAX_TABLE);
        v.in_range("command_queue", self.command_queue, 1, MAX_TABLE);
        if let Err(message) = check_interface_name(&self.tun_name) {
            v.error("tun_name", message);
        }
    }
}

/// The kernel's rules for an interface name (`dev_valid_name` in net/core/dev.c), plus
/// `%`, which the kernel would treat as a template and replace with a number, so the
/// device would not have the configured name.
fn check_interface_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if name.len() > MAX_TUN_NAME {
        return Err(format!(
            "must be at most {MAX_TUN_NAME} bytes, not {} ({name:?})",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not a valid interface name"));
    }
    if let Some(bad) = name
        .chars()
        .find(|&c| c == '/' || c == ':' || c == '%' || c.is_whitespace())
    {
        return Err(format!("must not contain {bad:?} ({name:?})"));
    }
    Ok(())
}

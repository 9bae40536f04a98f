//! `[[pool]]`: named IPv4 address pools the concentrator hands subscriber addresses
//! out of (`crate::aaa::pool` does the handing out).
//!
//! Rules, each reported at the line of the offending value:
//! - a name is 1 to 32 bytes of `A-Z a-z 0-9 _ . -`, unique among the pools;
//! - a pool has at least one range and at most [`MAX_POOL_SIZE`] usable addresses;
//! - no range covers an address that cannot be a host's (0.0.0.0/8, 127.0.0.0/8,
//!   224.0.0.0/3);
//! - no two ranges overlap, in one pool or across pools: an address belongs to exactly
//!   one pool, so releasing it is unambiguous. The later range (in file order) is
//!   blamed and the message names the earlier one with its line;
//! - `dns`, when set, replaces `ppp.dns` for the pool's subscribers (at most two).
//!
//! A file without `[[pool]]` keeps the embedded default pool; a file with `pool = []`
//! has none (every subscriber then needs a static address).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::error::Segment;
use super::net::AddressRange;
use super::ppp::{MAX_NAME_SERVERS, not_a_host_address};
use super::validate::Validator;

/// Most usable addresses in one pool (a /8): the allocator keeps two bits per address.
pub const MAX_POOL_SIZE: u64 = 1 << 24;
/// Longest pool name.
pub const MAX_POOL_NAME: usize = 32;

/// One `[[pool]]`: see `config/default.toml` for what each key means.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of pool settings")]
pub struct PoolConfig {
    pub name: String,
    /// `"A-B"`, `"NETWORK/LEN"` or single addresses ([`AddressRange`]).
    pub ranges: Vec<AddressRange>,
    /// DNS servers for this pool's subscribers; empty = `ppp.dns`.
    pub dns: Vec<Ipv4Addr>,
}

impl Default for PoolConfig {
    /// An empty pool (a `[[pool]]` with no keys), which validation refuses.
    fn default() -> Self {
        PoolConfig {
            name: String::new(),
            ranges: Vec::new(),
            dns: Vec::new(),
        }
    }
}

impl PoolConfig {
    /// The pool the embedded default configuration has: `default`, 10.200.0.0/16.
    pub fn default_pool() -> PoolConfig {
        PoolConfig {
            name: "default".to_owned(),
            ranges: vec![AddressRange::Cidr {
                network: Ipv4Addr::new(10, 200, 0, 0),
                prefix_len: 16,
            }],
            dns: Vec::new(),
        }
    }

    /// Usable addresses over all ranges (ranges never overlap once validated).
    pub fn usable_len(&self) -> u64 {
        self.ranges.iter().map(AddressRange::usable_len).sum()
    }

    /// Whether one of the pool's usable addresses is `address`.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        let address = u32::from(address);
        self.ranges.iter().any(|range| {
            let (first, last) = range.usable();
            (first..=last).contains(&address)
        })
    }
}

/// Address blocks no pool may touch: `(first, last, why)`.
const FORBIDDEN: [(u32, u32, &str); 3] = [
    (0x0000_0000, 0x00ff_ffff, "0.0.0.0/8 (\"this network\")"),
    (0x7f00_0000, 0x7fff_ffff, "127.0.0.0/8 (loopback)"),
    (
        0xe000_0000,
        0xffff_ffff,
        "224.0.0.0/3 (multicast, reserved, broadcast)",
    ),
];

/// All the `[[pool]]` rules; `v` is at the root, the pools are the array `pool`.
pub(crate) fn validate_pools(pools: &[PoolConfig], v: &mut Validator<'_>) {
    v.section("pool", |v| {
        // (first, last, pool index, range index) of every range, for the overlap check.
        let mut extents: Vec<(u32, u32, usize, usize)> = Vec::new();
        for (i, pool) in pools.iter().enumerate() {
            v.element(i, |v| {
                validate_pool(pool, &pools[..i], v);
            });
            for (j, range) in pool.ranges.iter().enumerate() {
                let (first, last) = range.extent();
                extents.push((first, last, i, j));
            }
        }
        // Sorted by start, a range overlaps an earlier one iff it starts at or before
        // the furthest end seen so far; blame whichever of the two is later in the file.
        extents.sort_unstable();
        let mut furthest: Option<(u32, usize, usize)> = None;
        for &(first, last, i, j) in &extents {
            if let Some((end, oi, oj)) = furthest {
                if first <= end {
                    let ((bi, bj), (ki, kj)) = if (i, j) > (oi, oj) {
                        ((i, j), (oi, oj))
                    } else {
                        ((oi, oj), (i, j))
                    };
                    let line = v
                        .line_of(&[
                            Segment::Key("pool".into()),
                            Segment::Index(ki),
                            Segment::Key("ranges".into()),
                            Segment::Index(kj),
                        ])
                        .map_or(String::new(), |line| format!(", line {line}"));
                    let message = format!(
                        "{} overlaps {} (pool {:?}{line}); an address must belong to one \
                         pool only",
                        pools[bi].ranges[bj], pools[ki].ranges[kj], pools[ki].name
                    );
                    v.element(bi, |v| v.error_at_index("ranges", bj, message));
                }
                if last > end {
                    furthest = Some((last, i, j));
                }
            } else {
                furthest = Some((last, i, j));
            }
        }
    });
}

fn validate_pool(pool: &PoolConfig, earlier: &[PoolConfig], v: &mut Validator<'_>) {
    let name = &pool.name;
    if name.is_empty() {
        v.error("name", "every pool needs a name");
    } else if name.len() > MAX_POOL_NAME {
        v.error(
            "name",
            format!("must be at most {MAX_POOL_NAME} bytes, not {}", name.len()),
        );
    } else if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        v.error(
            "name",
            format!("may contain only A-Z, a-z, 0-9, '_', '.' and '-', not {bad:?}"),
        );
    } else if let Some(index) = earlier.iter().position(|other| other.name == *name) {
        let line = v
            .line_of(&[
                Segment::Key("pool".into()),
                Segment::Index(index),
                Segment::Key("name".into()),
            ])
            .map_or(String::new(), |line| format!(" (line {line})"));
        v.error(
            "name",
            format!("{name:?} is already the name of pool[{index}]{line}"),
        );
    }
    if pool.ranges.is_empty() {
        v.error("ranges", "a pool needs at least one address range");
    }
    for (j, range) in pool.ranges.iter().enumerate() {
        let (first, last) = range.extent();
        if let Some(&(_, _, why)) = FORBIDDEN
            .iter()
            .find(|&&(low, high, _)| first <= high && low <= last)
        {
            v.error_at_index(
                "ranges",
                j,
                format!("{range} includes addresses in {why}, which no subscriber may have"),
            );
        }
    }
    let size = pool.usable_len();
    if size > MAX_POOL_SIZE {
        v.error(
            "ranges",
            format!("a pool may have at most {MAX_POOL_SIZE} addresses (a /8), not {size}"),
        );
    }
    if pool.dns.len() > MAX_NAME_SERVERS {
        v.error_at_index(
            "dns",
            MAX_NAME_SERVERS,
            format!(
                "at most {MAX_NAME_SERVERS} servers (IPCP has a primary and a secondary, \
                 RFC 1877), not {}",
                pool.dns.len()
            ),
        );
    }
    for (i, &server) in pool.dns.iter().enumerate() {
        if let Some(why) = not_a_host_address(server) {
            v.error_at_index("dns", i, format!("{server} {why}"));
        }
    }
}

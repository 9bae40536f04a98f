//! IPv4 address pools: hand out subscriber addresses, never one twice, and take them
//! back.
//!
//! A [`Pool`] numbers its usable addresses 0..size across its ranges (in address
//! order) and keeps three bitmaps over those offsets:
//! - `used`: handed out (dynamically or by [`Pools::allocate_specific`]);
//! - `excluded`: never handed out: the concentrator's own `ppp.local_address`, and the
//!   padding bits past `size` in the last word;
//! - `reserved`: the static addresses of users (from the users file), given only
//!   through [`Pools::allocate_specific`] (to their owner), never by
//!   [`Pools::allocate`].
//!
//! Allocation looks for a word with a free bit starting at a cursor that stays where
//! the last allocation happened, so consecutive allocations are O(1). A summary
//! bitmap (one bit per word: "has a free address") lets the search skip 64 full words
//! per step, so even a nearly full /16 costs at most 16 summary words, and a count of
//! free addresses makes an exhausted pool refuse in O(1). Release and specific
//! allocation are O(1) bit operations after a binary search for the range. Memory is
//! about 3 bits per address (24 KiB for a /16), allocated once when the pools are
//! built.
//!
//! Decisions:
//! - Ranges never overlap (the configuration refuses it), so an address belongs to at
//!   most one pool and [`Pools::release`] needs only the address.
//! - Reservations follow the users file: [`Pools::reserve_static`] replaces them on
//!   every reload. An address that becomes reserved while dynamically in use stays
//!   with its holder until released, and is then kept for its static owner.
//! - A static address outside every pool is legal (a routed address): the pools do not
//!   track it, and the users file guarantees one owner with one session.
#![forbid(unsafe_code)]

use std::net::Ipv4Addr;

use crate::config::{Config, PoolConfig};

/// Index of a pool in [`Pools`] (its position in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolId(pub usize);

/// Why an address could not be allocated or released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum PoolError {
    /// Every address is in use or reserved.
    #[error("address pool exhausted")]
    Exhausted,
    /// No pool is configured.
    #[error("no address pool is configured")]
    NoPools,
    /// No pool has this name / id.
    #[error("no such address pool")]
    UnknownPool,
    /// The address is in no pool.
    #[error("address is in no pool")]
    NotInPool,
    /// The address is already handed out.
    #[error("address already in use")]
    InUse,
    /// The address is never handed out (the concentrator's own).
    #[error("address is excluded from its pool")]
    Excluded,
    /// Release of an address that is not handed out.
    #[error("address is not allocated")]
    NotAllocated,
}

impl PoolError {
    /// Whether trying again later may succeed (addresses come back as sessions end):
    /// CDN result code 4, "lack of appropriate facilities (temporary)", rather than 5
    /// (RFC 2661 §4.4.2).
    pub fn is_temporary(&self) -> bool {
        matches!(self, PoolError::Exhausted | PoolError::InUse)
    }
}

/// A pool's numbers, for the metrics layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PoolCounters {
    /// Usable addresses (ranges without CIDR network/broadcast), excluded ones
    /// included.
    pub size: u32,
    /// Addresses handed out now.
    pub used: u32,
    /// Static addresses of users (handed out or not).
    pub reserved: u32,
    /// Addresses never handed out (`ppp.local_address`).
    pub excluded: u32,
    /// Addresses [`Pools::allocate`] could hand out now.
    pub available: u32,
    /// Allocations refused because the pool was exhausted.
    pub exhausted: u64,
    /// Releases of an address that was not allocated (a bug in the caller).
    pub bad_releases: u64,
}

/// One contiguous run of usable addresses.
#[derive(Debug, Clone, Copy)]
struct Run {
    first: u32,
    last: u32,
    /// Offset of `first` in the pool's numbering.
    offset: u32,
}

/// One named pool.
#[derive(Debug, Clone)]
pub struct Pool {
    name: String,
    dns: Vec<Ipv4Addr>,
    /// Sorted by address.
    runs: Vec<Run>,
    size: u32,
    used: Vec<u64>,
    excluded: Vec<u64>,
    reserved: Vec<u64>,
    /// Bit `w` set iff word `w` has an offset neither used, excluded nor reserved.
    has_free: Vec<u64>,
    /// Offsets neither used, excluded nor reserved.
    available: u32,
    /// Set bits in `used`, in `reserved`, and in `excluded` without the padding.
    used_count: u32,
    reserved_count: u32,
    excluded_count: u32,
    /// Word where the next allocation starts looking.
    cursor: usize,
    exhausted: u64,
    bad_releases: u64,
}

fn bit(bits: &[u64], offset: u32) -> bool {
    let offset = offset as usize;
    bits.get(offset / 64)
        .is_some_and(|word| word & (1 << (offset % 64)) != 0)
}

fn set(bits: &mut [u64], offset: u32, value: bool) {
    let offset = offset as usize;
    if let Some(word) = bits.get_mut(offset / 64) {
        if value {
            *word |= 1 << (offset % 64);
        } else {
            *word &= !(1 << (offset % 64));
        }
    }
}

impl Pool {
    /// A pool from its validated configuration; `excluded` addresses inside it are
    /// never handed out.
    fn new(config: &PoolConfig, excluded: &[Ipv4Addr]) -> Pool {
        let mut spans: Vec<(u32, u32)> = config.ranges.iter().map(|r| r.usable()).collect();
        spans.sort_unstable();
        let mut runs = Vec::with_capacity(spans.len());
        let mut size: u32 = 0;
        for (first, last) in spans {
            runs.push(Run {
                first,
                last,
                offset: size,
            });
            // Validation bounds a pool to 2^24 addresses, so this cannot overflow.
            size = size.saturating_add(last - first + 1);
        }
        let words = (size as usize).div_ceil(64);
        let mut pool = Pool {
            name: config.name.clone(),
            dns: config.dns.clone(),
            runs,
            size,
            used: vec![0; words],
            excluded: vec![0; words],
            reserved: vec![0; words],
            has_free: vec![0; words.div_ceil(64)],
            available: 0,
            used_count: 0,
            reserved_count: 0,
            excluded_count: 0,
            cursor: 0,
            exhausted: 0,
            bad_releases: 0,
        };
        // Padding past `size` is never free.
        for offset in size..(words * 64) as u32 {
            set(&mut pool.excluded, offset, true);
        }
        for &address in excluded {
            if let Some(offset) = pool.offset_of(address)
                && !bit(&pool.excluded, offset)
            {
                set(&mut pool.excluded, offset, true);
                pool.excluded_count += 1;
            }
        }
        pool.recount();
        pool
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pool's own DNS servers (empty: use `ppp.dns`).
    pub fn dns(&self) -> &[Ipv4Addr] {
        &self.dns
    }

    /// Whether `address` is one of the pool's usable addresses.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        self.offset_of(address).is_some()
    }

    pub fn counters(&self) -> PoolCounters {
        PoolCounters {
            size: self.size,
            used: self.used_count,
            reserved: self.reserved_count,
            excluded: self.excluded_count,
            available: self.available,
            exhausted: self.exhausted,
            bad_releases: self.bad_releases,
        }
    }

    fn offset_of(&self, address: Ipv4Addr) -> Option<u32> {
        let address = u32::from(address);
        let index = self.runs.partition_point(|run| run.last < address);
        let run = self.runs.get(index)?;
        (run.first <= address).then(|| run.offset + (address - run.first))
    }

    fn address_of(&self, offset: u32) -> Ipv4Addr {
        let index = self.runs.partition_point(|run| run.offset <= offset);
        // offset < size, so some run starts at or before it: index >= 1.
        let run = self.runs[index.saturating_sub(1)];
        Ipv4Addr::from(run.first + (offset - run.offset))
    }

    /// The free bits of word `w`.
    fn free_bits(&self, w: usize) -> u64 {
        match (self.used.get(w), self.excluded.get(w), self.reserved.get(w)) {
            (Some(u), Some(e), Some(r)) => !(u | e | r),
            _ => 0,
        }
    }

    /// Brings word `w`'s summary bit up to date.
    fn update_summary(&mut self, w: usize) {
        let free = self.free_bits(w) != 0;
        set(&mut self.has_free, w as u32, free);
    }

    /// Recomputes `available`, `reserved_count` and the summary (after the reserved
    /// set changed): one pass over the words.
    fn recount(&mut self) {
        self.available = 0;
        self.reserved_count = 0;
        for w in 0..self.used.len() {
            self.available += self.free_bits(w).count_ones();
            self.reserved_count += self.reserved[w].count_ones();
            self.update_summary(w);
        }
    }

    /// The first word with a free bit at or after the cursor, wrapping around.
    fn find_free_word(&self) -> Option<usize> {
        let summary_len = self.has_free.len();
        let (start, start_bit) = (self.cursor / 64, self.cursor % 64);
        let first = self.has_free.get(start)? & (u64::MAX << start_bit);
        if first != 0 {
            return Some(start * 64 + first.trailing_zeros() as usize);
        }
        for step in 1..=summary_len {
            let s = (start + step) % summary_len;
            let mut word = self.has_free[s];
            if step == summary_len {
                // Back at the start: only the bits before the cursor are left.
                word &= !(u64::MAX << start_bit);
            }
            if word != 0 {
                return Some(s * 64 + word.trailing_zeros() as usize);
            }
        }
        None
    }

    /// Recomputes every count and summary bit from the bitmaps and compares (tests).
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let ones = |bits: &[u64]| bits.iter().map(|w| w.count_ones()).sum::<u32>();
        let padding = (self.used.len() * 64) as u32 - self.size;
        assert_eq!(self.used_count, ones(&self.used), "used");
        assert_eq!(self.reserved_count, ones(&self.reserved), "reserved");
        assert_eq!(
            self.excluded_count,
            ones(&self.excluded) - padding,
            "excluded"
        );
        let mut available = 0;
        for w in 0..self.used.len() {
            available += self.free_bits(w).count_ones();
            assert_eq!(
                bit(&self.has_free, w as u32),
                self.free_bits(w) != 0,
                "summary {w}"
            );
        }
        assert_eq!(self.available, available, "available");
    }

    fn allocate(&mut self) -> Result<Ipv4Addr, PoolError> {
        if self.available == 0 {
            self.exhausted += 1;
            return Err(PoolError::Exhausted);
        }
        // `available` > 0 means some word has a free bit, so this always finds one.
        let Some(w) = self.find_free_word() else {
            self.exhausted += 1;
            return Err(PoolError::Exhausted);
        };
        let offset = (w * 64) as u32 + self.free_bits(w).trailing_zeros();
        set(&mut self.used, offset, true);
        self.update_summary(w);
        self.available -= 1;
        self.used_count += 1;
        self.cursor = w;
        Ok(self.address_of(offset))
    }

    fn allocate_specific(&mut self, offset: u32) -> Result<(), PoolError> {
        if bit(&self.excluded, offset) {
            return Err(PoolError::Excluded);
        }
        if bit(&self.used, offset) {
            return Err(PoolError::InUse);
        }
        set(&mut self.used, offset, true);
        self.used_count += 1;
        if !bit(&self.reserved, offset) {
            self.available -= 1;
            self.update_summary(offset as usize / 64);
        }
        Ok(())
    }

    fn release(&mut self, offset: u32) -> Result<(), PoolError> {
        if !bit(&self.used, offset) {
            self.bad_releases += 1;
            return Err(PoolError::NotAllocated);
        }
        set(&mut self.used, offset, false);
        self.used_count -= 1;
        if !bit(&self.reserved, offset) && !bit(&self.excluded, offset) {
            self.available += 1;
            self.update_summary(offset as usize / 64);
        }
        Ok(())
    }
}

/// Every configured pool.
#[derive(Debug, Clone, Default)]
pub struct Pools {
    pools: Vec<Pool>,
    /// `(first, last, pool)` of every run of every pool, sorted, for release by address.
    index: Vec<(u32, u32, usize)>,
}

impl Pools {
    /// The pools of a validated configuration, with `ppp.local_address` excluded.
    pub fn from_config(config: &Config) -> Pools {
        Pools::new(&config.pool, &[config.ppp.local_address])
    }

    /// Pools from validated `[[pool]]` sections (non-overlapping ranges); `excluded`
    /// addresses are never handed out.
    pub fn new(pools: &[PoolConfig], excluded: &[Ipv4Addr]) -> Pools {
        let pools: Vec<Pool> = pools.iter().map(|p| Pool::new(p, excluded)).collect();
        let mut index: Vec<(u32, u32, usize)> = pools
            .iter()
            .enumerate()
            .flat_map(|(i, pool)| pool.runs.iter().map(move |run| (run.first, run.last, i)))
            .collect();
        index.sort_unstable();
        Pools { pools, index }
    }

    pub fn len(&self) -> usize {
        self.pools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pools.is_empty()
    }

    pub fn get(&self, id: PoolId) -> Option<&Pool> {
        self.pools.get(id.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = (PoolId, &Pool)> {
        self.pools.iter().enumerate().map(|(i, p)| (PoolId(i), p))
    }

    /// The pool named `name`.
    pub fn id_of(&self, name: &str) -> Option<PoolId> {
        self.pools.iter().position(|p| p.name == name).map(PoolId)
    }

    /// The pool `address` belongs to.
    pub fn pool_of(&self, address: Ipv4Addr) -> Option<PoolId> {
        let address = u32::from(address);
        let index = self.index.partition_point(|&(_, last, _)| last < address);
        let &(first, _, pool) = self.index.get(index)?;
        (first <= address).then_some(PoolId(pool))
    }

    /// A free address from `pool`, or with `None` from the first pool (in
    /// configuration order) that has one. A refusal counts as `exhausted` in every
    /// pool tried.
    pub fn allocate(&mut self, pool: Option<PoolId>) -> Result<(PoolId, Ipv4Addr), PoolError> {
        match pool {
            Some(id) => {
                let pool = self.pools.get_mut(id.0).ok_or(PoolError::UnknownPool)?;
                pool.allocate().map(|address| (id, address))
            }
            None => {
                if self.pools.is_empty() {
                    return Err(PoolError::NoPools);
                }
                if let Some(i) = self.pools.iter().position(|p| p.available > 0) {
                    return self.pools[i].allocate().map(|address| (PoolId(i), address));
                }
                for pool in &mut self.pools {
                    pool.exhausted += 1;
                }
                Err(PoolError::Exhausted)
            }
        }
    }

    /// Hands out exactly `address` (a user's static address, or later one RADIUS
    /// chose). `Ok(None)` when the address is in no pool: nothing to track. A
    /// reserved address may be allocated this way (by its owner).
    pub fn allocate_specific(&mut self, address: Ipv4Addr) -> Result<Option<PoolId>, PoolError> {
        let Some(id) = self.pool_of(address) else {
            return Ok(None);
        };
        let pool = &mut self.pools[id.0];
        let offset = pool.offset_of(address).ok_or(PoolError::NotInPool)?;
        pool.allocate_specific(offset)?;
        Ok(Some(id))
    }

    /// Takes `address` back into its pool.
    pub fn release(&mut self, address: Ipv4Addr) -> Result<PoolId, PoolError> {
        let id = self.pool_of(address).ok_or(PoolError::NotInPool)?;
        let pool = &mut self.pools[id.0];
        let offset = pool.offset_of(address).ok_or(PoolError::NotInPool)?;
        pool.release(offset)?;
        Ok(id)
    }

    /// Whether `address` is handed out now.
    pub fn is_allocated(&self, address: Ipv4Addr) -> bool {
        self.pool_of(address).is_some_and(|id| {
            let pool = &self.pools[id.0];
            pool.offset_of(address)
                .is_some_and(|offset| bit(&pool.used, offset))
        })
    }

    /// Makes `addresses` (the users' static addresses) the reserved set, replacing the
    /// previous one. Addresses outside every pool are ignored.
    pub fn reserve_static(&mut self, addresses: impl IntoIterator<Item = Ipv4Addr>) {
        for pool in &mut self.pools {
            pool.reserved.fill(0);
        }
        for address in addresses {
            if let Some(id) = self.pool_of(address) {
                let pool = &mut self.pools[id.0];
                if let Some(offset) = pool.offset_of(address) {
                    set(&mut pool.reserved, offset, true);
                }
            }
        }
        for pool in &mut self.pools {
            pool.recount();
        }
    }

    /// Counters of pool `id`.
    pub fn counters(&self, id: PoolId) -> Option<PoolCounters> {
        self.pools.get(id.0).map(Pool::counters)
    }
}

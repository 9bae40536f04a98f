//! Which shard owns an ID.
//!
//! The concentrator allocates the IDs its peers echo back: inbound SPIs, local L2TP
//! session IDs, PPTP call IDs. It allocates them so that `id % shards` names the owning
//! shard, and the kernel steering programs (reuseport BPF for UDP, classic BPF filters
//! for raw ESP and GRE) compute the same remainder on the same field, so a packet lands
//! on its owner's core without a lookup. This module is the single definition of that
//! function; `runtime` builds its BPF programs from [`ShardMap::shards`] and
//! the same modulo, and the tests check both agree.
#![forbid(unsafe_code)]

/// The number of shards, and the ID -> shard function over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardMap {
    shards: u32,
}

impl ShardMap {
    /// `shards` must be at least 1 (the config layer refuses 0 with a clear error).
    pub const fn new(shards: u32) -> Option<ShardMap> {
        if shards == 0 {
            None
        } else {
            Some(ShardMap { shards })
        }
    }

    pub const fn shards(&self) -> u32 {
        self.shards
    }

    /// The shard that owns `id`.
    pub const fn shard_of(&self, id: u32) -> u32 {
        id % self.shards
    }

    /// The smallest ID at or above `candidate` that `shard` owns (wrapping around the
    /// ID space), for allocators that walk upwards. `None` if `shard` is out of range.
    pub const fn next_owned(&self, candidate: u32, shard: u32) -> Option<u32> {
        if shard >= self.shards {
            return None;
        }
        let offset = (shard + self.shards - candidate % self.shards) % self.shards;
        Some(candidate.wrapping_add(offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_shards_is_refused() {
        assert_eq!(ShardMap::new(0), None);
    }

    #[test]
    fn shard_of_is_the_remainder() {
        let map = ShardMap::new(3).unwrap();
        assert_eq!(map.shard_of(0), 0);
        assert_eq!(map.shard_of(7), 1);
        assert_eq!(map.shard_of(u32::MAX), u32::MAX % 3);
    }

    #[test]
    fn next_owned_lands_on_the_shard() {
        let map = ShardMap::new(4).unwrap();
        for candidate in [0u32, 1, 2, 3, 4, 1000, u32::MAX - 5] {
            for shard in 0..4 {
                let id = map.next_owned(candidate, shard).unwrap();
                assert_eq!(map.shard_of(id), shard, "candidate {candidate}");
                assert!(id.wrapping_sub(candidate) < 4);
            }
        }
        assert_eq!(map.next_owned(5, 4), None);
    }
}

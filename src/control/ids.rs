//! The IDs the concentrator allocates and its peers echo back, chosen so the kernel's
//! steering programs put each subscriber's packets on the shard that owns it
//! (design.md "Steering puts each packet on its owner's core"): the data plane keys
//! L2TP sessions by (local tunnel ID, local session ID) and steers by the session ID,
//! so a session ID only needs to be unique within its tunnel and owned by the chosen
//! shard ([`ShardMap::shard_of`]).
//!
//! - [`TunnelIds`]: local tunnel IDs, 1..=65535, unique on the node (0 is reserved by
//!   RFC 2661 §3.1 for "no tunnel yet").
//! - [`SessionIds`]: local session IDs of one tunnel, 1..=65535, each allocated on a
//!   given shard.
//! - [`ShardLoad`]: which shard gets the next subscriber (the least loaded).
//!
//! IDs are handed out from a moving cursor rather than lowest-first, so a just-freed
//! ID is not reused at once and a late retransmission for a closed session cannot hit
//! its successor.

use std::collections::HashSet;

use crate::dataplane::steering::ShardMap;

/// Local tunnel IDs.
#[derive(Debug)]
pub struct TunnelIds {
    used: HashSet<u16>,
    cursor: u16,
}

impl Default for TunnelIds {
    fn default() -> Self {
        Self::new()
    }
}

impl TunnelIds {
    pub fn new() -> TunnelIds {
        TunnelIds {
            used: HashSet::new(),
            cursor: 1,
        }
    }

    /// A free tunnel ID, or `None` when all 65535 are in use.
    pub fn allocate(&mut self) -> Option<u16> {
        for _ in 0..u16::MAX {
            let id = self.cursor;
            self.cursor = if self.cursor == u16::MAX {
                1
            } else {
                self.cursor + 1
            };
            if self.used.insert(id) {
                return Some(id);
            }
        }
        None
    }

    pub fn release(&mut self, id: u16) {
        self.used.remove(&id);
    }

    pub fn in_use(&self) -> usize {
        self.used.len()
    }
}

/// Local session IDs of one tunnel.
#[derive(Debug)]
pub struct SessionIds {
    used: HashSet<u16>,
    cursor: u32,
}

impl Default for SessionIds {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionIds {
    pub fn new() -> SessionIds {
        SessionIds {
            used: HashSet::new(),
            cursor: 1,
        }
    }

    /// A free session ID that `shard` owns, or `None` when the shard's share of the
    /// ID space is used up.
    pub fn allocate_on(&mut self, map: ShardMap, shard: u32) -> Option<u16> {
        let step = map.shards();
        let mut candidate = map.next_owned(self.cursor, shard)?;
        // At most every ID the shard owns below 65536, once.
        for _ in 0..=(u32::from(u16::MAX) / step) {
            if candidate > u32::from(u16::MAX) || candidate == 0 {
                candidate = map.next_owned(1, shard)?;
            }
            let id = candidate as u16;
            if id != 0 && self.used.insert(id) {
                self.cursor = candidate + 1;
                return Some(id);
            }
            candidate += step;
        }
        None
    }

    pub fn release(&mut self, id: u16) {
        self.used.remove(&id);
    }

    pub fn in_use(&self) -> usize {
        self.used.len()
    }
}

/// Subscribers per shard, to place the next one on the least loaded.
#[derive(Debug, Clone)]
pub struct ShardLoad {
    sessions: Vec<u32>,
}

impl ShardLoad {
    pub fn new(map: ShardMap) -> ShardLoad {
        ShardLoad {
            sessions: vec![0; map.shards() as usize],
        }
    }

    /// The shard with the fewest sessions (the lowest index on a tie).
    pub fn pick(&self) -> u32 {
        let mut best = 0;
        for (i, n) in self.sessions.iter().enumerate() {
            if *n < self.sessions[best] {
                best = i;
            }
        }
        best as u32
    }

    pub fn add(&mut self, shard: u32) {
        if let Some(n) = self.sessions.get_mut(shard as usize) {
            *n += 1;
        }
    }

    pub fn remove(&mut self, shard: u32) {
        if let Some(n) = self.sessions.get_mut(shard as usize) {
            *n = n.saturating_sub(1);
        }
    }

    pub fn of(&self, shard: u32) -> u32 {
        self.sessions.get(shard as usize).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_ids_are_unique_nonzero_and_run_out() {
        let mut ids = TunnelIds::new();
        let mut seen = HashSet::new();
        for _ in 0..u16::MAX {
            let id = ids.allocate().unwrap();
            assert_ne!(id, 0);
            assert!(seen.insert(id));
        }
        assert_eq!(ids.allocate(), None);
        ids.release(77);
        assert_eq!(ids.allocate(), Some(77));
    }

    #[test]
    fn freed_ids_are_not_reused_at_once() {
        let mut ids = TunnelIds::new();
        let a = ids.allocate().unwrap();
        ids.release(a);
        assert_ne!(ids.allocate(), Some(a));
    }

    #[test]
    fn session_ids_land_on_their_shard_until_its_share_is_used() {
        let map = ShardMap::new(3).unwrap();
        let mut ids = SessionIds::new();
        let mut count = [0u32; 3];
        for shard in [0u32, 1, 2] {
            while let Some(id) = ids.allocate_on(map, shard) {
                assert_ne!(id, 0);
                assert_eq!(map.shard_of(u32::from(id)), shard);
                count[shard as usize] += 1;
            }
        }
        // 1..=65535 split by remainder: 21845 each (0 excluded from shard 0's share).
        assert_eq!(count, [21845, 21845, 21845]);
        assert_eq!(ids.in_use(), 65535);
        ids.release(4);
        assert_eq!(ids.allocate_on(map, 1), Some(4));
        assert_eq!(ids.allocate_on(map, 3), None);
    }

    #[test]
    fn least_loaded_shard_is_picked() {
        let map = ShardMap::new(2).unwrap();
        let mut load = ShardLoad::new(map);
        assert_eq!(load.pick(), 0);
        load.add(0);
        assert_eq!(load.pick(), 1);
        load.add(1);
        load.add(1);
        assert_eq!(load.pick(), 0);
        load.remove(1);
        load.remove(1);
        assert_eq!(load.pick(), 1);
        assert_eq!(load.of(0), 1);
    }
}

//! Handing a PPTP call's packets to the shard that owns the call (design.md "Return
//! traffic": "hand the packet over on a bounded single-producer ring").
//!
//! A packet read from a TUN queue lands on whichever shard the kernel's flow hash
//! chose, but a PPTP call's transmit state (MPPE key schedule, GRE sequence numbers,
//! see `dataplane::pptp`) has exactly one owner. The reader copies the IP packet into
//! a [`Slot`] taken from a shared free pool and pushes the slot on the owner's ring;
//! the owner encapsulates in the slot, sends from it, and returns it to the pool when
//! the send completes. The same slots carry what the owner sends that did not come
//! from a receive buffer: PPP control frames from the control thread and GRE
//! acknowledgment-only packets.
//!
//! Decisions:
//! - **Preallocated**: `shards × SLOTS_PER_SHARD` slots of the data plane's buffer size
//!   are made at startup; moving a `Box<Slot>` between queues moves a pointer. An
//!   empty pool or a full ring drops the packet (counted by the caller), never
//!   allocates or blocks.
//! - **Queues**: crossbeam's `ArrayQueue` (bounded, lock-free, multi-producer: every
//!   shard may hand to every other). The owner is woken through its command eventfd,
//!   once per batch that handed it something, not per packet.
//! - The copy costs one `memcpy` of the packet; the alternative, TUN steering by
//!   eBPF (TUNSETSTEERINGEBPF) with a map of subscriber addresses, would need an eBPF
//!   loader in the daemon for one protocol.

use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use super::queues::CommandQueue;

/// Slots each shard contributes to the pool.
pub const SLOTS_PER_SHARD: usize = 512;

/// A buffer in flight between shards, or on its way out of the owner.
pub struct Slot {
    /// The call the packet belongs to.
    pub call_id: u16,
    /// What is in use: `data[start..end]`.
    pub start: usize,
    pub end: usize,
    pub data: Box<[u8]>,
}

/// The shared pool and one ring per shard.
pub struct Handoff {
    pool: ArrayQueue<Box<Slot>>,
    rings: Vec<ArrayQueue<Box<Slot>>>,
    wakes: Vec<Arc<CommandQueue>>,
}

impl Handoff {
    /// `wakes[i]` is shard `i`'s command queue (its eventfd wakes it).
    pub fn new(wakes: Vec<Arc<CommandQueue>>, buffer_size: usize) -> Handoff {
        let shards = wakes.len().max(1);
        let total = shards * SLOTS_PER_SHARD;
        let pool = ArrayQueue::new(total);
        for _ in 0..total {
            let slot = Box::new(Slot {
                call_id: 0,
                start: 0,
                end: 0,
                data: vec![0u8; buffer_size].into_boxed_slice(),
            });
            // Cannot fail: the pool was made for exactly this many.
            let _ = pool.push(slot);
        }
        Handoff {
            pool,
            rings: (0..shards).map(|_| ArrayQueue::new(total)).collect(),
            wakes,
        }
    }

    /// A free slot, if any.
    pub fn take(&self) -> Option<Box<Slot>> {
        self.pool.pop()
    }

    /// Gives a slot back to the pool.
    pub fn give_back(&self, slot: Box<Slot>) {
        // The pool has room for every slot there is.
        let _ = self.pool.push(slot);
    }

    /// Queues `slot` for `shard`; on failure the slot goes back to the pool and false
    /// is returned.
    pub fn push(&self, shard: usize, slot: Box<Slot>) -> bool {
        match self.rings.get(shard) {
            Some(ring) => match ring.push(slot) {
                Ok(()) => true,
                Err(slot) => {
                    self.give_back(slot);
                    false
                }
            },
            None => {
                self.give_back(slot);
                false
            }
        }
    }

    /// The next slot handed to `shard`.
    pub fn pop(&self, shard: usize) -> Option<Box<Slot>> {
        self.rings.get(shard)?.pop()
    }

    /// Wakes `shard` to look at its ring.
    pub fn wake(&self, shard: usize) {
        if let Some(w) = self.wakes.get(shard) {
            w.notify();
        }
    }

    /// Free slots (metrics, tests).
    pub fn free(&self) -> usize {
        self.pool.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_move_and_come_back() {
        let wakes = (0..2)
            .map(|_| Arc::new(CommandQueue::new(4).unwrap()))
            .collect();
        let h = Handoff::new(wakes, 256);
        let total = 2 * SLOTS_PER_SHARD;
        assert_eq!(h.free(), total);
        let mut s = h.take().unwrap();
        s.call_id = 7;
        s.data[0] = 0xab;
        assert!(h.push(1, s));
        assert!(h.pop(0).is_none());
        let s = h.pop(1).unwrap();
        assert_eq!((s.call_id, s.data[0]), (7, 0xab));
        assert_eq!(h.free(), total - 1);
        h.give_back(s);
        // A shard that does not exist: the slot is not lost.
        let s = h.take().unwrap();
        assert!(!h.push(5, s));
        assert_eq!(h.free(), total);
        // The pool runs dry instead of allocating.
        let all: Vec<_> = std::iter::from_fn(|| h.take()).collect();
        assert_eq!(all.len(), total);
        assert!(h.take().is_none());
    }
}

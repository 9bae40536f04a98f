//! Deadlines of many engines in one place: a min-heap of `(when, key)` with lazy
//! deletion. The control thread pushes an engine's `poll_timeout()` whenever it may
//! have changed; when an entry comes due it asks the engine again, so stale entries
//! (the engine re-armed or was destroyed) cost one pop and are otherwise harmless.
//! Keeps the loop O(log n) per timer with tens of thousands of engines, instead of
//! scanning them all for the next deadline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Deadlines keyed by `K`.
#[derive(Debug)]
pub struct Timers<K: Ord> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord + Copy> Default for Timers<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Ord + Copy> Timers<K> {
    pub fn new() -> Timers<K> {
        Timers {
            heap: BinaryHeap::new(),
        }
    }

    /// Remembers that `key` wants attention at `when`.
    pub fn schedule(&mut self, when: Instant, key: K) {
        self.heap.push(Reverse((when, key)));
    }

    /// The earliest deadline, stale or not.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((when, _))| *when)
    }

    /// Removes and returns one key whose deadline is at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        match self.heap.peek() {
            Some(Reverse((when, _))) if *when <= now => self.heap.pop().map(|Reverse((_, k))| k),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn due_keys_come_out_in_deadline_order() {
        let t0 = Instant::now();
        let mut t = Timers::new();
        t.schedule(t0 + Duration::from_secs(3), 3u32);
        t.schedule(t0 + Duration::from_secs(1), 1);
        t.schedule(t0 + Duration::from_secs(2), 2);
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(t.pop_due(t0), None);
        let now = t0 + Duration::from_secs(2);
        assert_eq!(t.pop_due(now), Some(1));
        assert_eq!(t.pop_due(now), Some(2));
        assert_eq!(t.pop_due(now), None);
        assert_eq!(t.len(), 1);
    }
}

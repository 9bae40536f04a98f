//! Deadlines of many engines in one place: a min-heap of `(when, key)` with lazy
//! deletion. The control thread pushes an engine's `poll_timeout()` whenever it may
//! have changed; when an entry comes due it asks the engine again, so stale entries
//! (the engine re-armed or was destroyed) cost one pop and are otherwise harmless.
//! Keeps the loop O(log n) per timer with tens of thousands of engines, instead of
//! scanning them all for the next deadline.
//!
//! Deadlines are kept as nanoseconds since the heap was made (8 octets; an `Instant`
//! is 16): a burst of session setups leaves a dozen stale entries per session in the
//! heap, and its capacity stays (issue 8, daemon memory per session). A deadline
//! before that origin is kept as the origin: already due either way.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Deadlines keyed by `K`.
#[derive(Debug)]
pub struct Timers<K: Ord> {
    /// (nanoseconds since `origin`, key).
    heap: BinaryHeap<Reverse<(u64, K)>>,
    origin: Instant,
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
            origin: Instant::now(),
        }
    }

    /// `at` as nanoseconds since the origin (u64 lasts 584 years).
    fn offset(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Remembers that `key` wants attention at `when`.
    pub fn schedule(&mut self, when: Instant, key: K) {
        let when = self.offset(when);
        self.heap.push(Reverse((when, key)));
    }

    /// The earliest deadline, stale or not.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap
            .peek()
            .map(|Reverse((when, _))| self.origin + Duration::from_nanos(*when))
    }

    /// Removes and returns one key whose deadline is at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        let now = self.offset(now);
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

//! The ESP anti-replay window (RFC 4303 §3.4.3, Appendix A) with extended sequence
//! number inference (RFC 4303 §2.2.1, Appendix A2).
//!
//! Decapsulation is two-phase (boringtun, VPP): [`ReplayWindow::check`] before the
//! decryption, so that replayed and stale packets cost no crypto, and
//! [`ReplayWindow::commit`] only once the ICV has verified, so that a forged packet can
//! never move the window. `commit` checks again: two copies of one packet in the same
//! batch both pass `check`, and only the first may be accepted.
//!
//! The bitmap is a fixed ring of 64-bit words indexed by `seq / 64`, as in the Linux
//! kernel and boringtun: advancing the window clears the words it moves into (at most
//! `WORDS` of them) instead of shifting the whole bitmap. Because the newest word is
//! only partly used, the window guaranteed to be tracked is `(WORDS - 1) * 64`
//! sequence numbers; [`ReplayWindow::SIZE`] is that figure, and a packet older than it is
//! refused even if its bit happens to survive. The default, [`DEFAULT_WORDS`], gives
//! 2048: RFC 4303 asks for at least 32 (64 with ESN); a shard-per-core data plane that
//! fans one SA's packets out over queues reorders more than a single-queue host, and
//! 264 bytes per SA is cheap.
//!
//! Nothing here allocates, locks or reads a clock; the window is plain data owned by
//! the shard that owns the SA.
#![forbid(unsafe_code)]

/// Words of the default window: 33 × 64 bits, of which 2048 sequence numbers are
/// guaranteed to be tracked.
pub const DEFAULT_WORDS: usize = 33;

/// Why a sequence number was refused. Each is a drop reason of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ReplayError {
    /// Sequence number 0 is never sent (RFC 4303 §3.3.3: the first packet is 1).
    #[error("sequence number zero")]
    Zero,
    /// Already received.
    #[error("replayed sequence number")]
    Duplicate,
    /// Left of the window: too old to tell whether it was received.
    #[error("sequence number left of the window")]
    TooOld,
}

impl ReplayError {
    /// Stable lower-case name, used as a drop-counter label.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReplayError::Zero => "replay_zero",
            ReplayError::Duplicate => "replay_duplicate",
            ReplayError::TooOld => "replay_too_old",
        }
    }
}

/// The receive side of one SA's anti-replay state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindow<const WORDS: usize = DEFAULT_WORDS> {
    /// Highest sequence number accepted so far (0: none yet).
    top: u64,
    /// Bit `seq % 64` of word `(seq / 64) % WORDS` is set once `seq` was accepted.
    bitmap: [u64; WORDS],
}

impl<const WORDS: usize> Default for ReplayWindow<WORDS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const WORDS: usize> ReplayWindow<WORDS> {
    /// Sequence numbers tracked behind the highest one received (inclusive of it).
    pub const SIZE: u64 = {
        assert!(WORDS >= 2, "a replay window needs at least two words");
        (WORDS as u64 - 1) * 64
    };

    pub const fn new() -> Self {
        // Evaluating SIZE here makes the WORDS >= 2 assertion a compile-time error.
        let _ = Self::SIZE;
        ReplayWindow {
            top: 0,
            bitmap: [0; WORDS],
        }
    }

    /// The highest sequence number accepted so far (0 before the first).
    pub const fn highest(&self) -> u64 {
        self.top
    }

    fn word_and_bit(seq: u64) -> (usize, u64) {
        (((seq / 64) % WORDS as u64) as usize, 1u64 << (seq % 64))
    }

    /// Phase one: would `seq` be accepted? Does not change the window.
    pub fn check(&self, seq: u64) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::Zero);
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= Self::SIZE {
            return Err(ReplayError::TooOld);
        }
        let (word, bit) = Self::word_and_bit(seq);
        if self.bitmap[word] & bit != 0 {
            Err(ReplayError::Duplicate)
        } else {
            Ok(())
        }
    }

    /// Phase two, after the ICV verified: records `seq`, moving the window right if it
    /// is the newest. Fails (and changes nothing) if `seq` is no longer acceptable.
    pub fn commit(&mut self, seq: u64) -> Result<(), ReplayError> {
        self.check(seq)?;
        if seq > self.top {
            let old_word = self.top / 64;
            let new_word = seq / 64;
            // Clear the words the window moves into; after WORDS of them every word
            // has been cleared, so the loop is bounded by the ring's size.
            let advance = (new_word - old_word).min(WORDS as u64);
            for step in 1..=advance {
                let word = ((old_word + step) % WORDS as u64) as usize;
                self.bitmap[word] = 0;
            }
            self.top = seq;
        }
        let (word, bit) = Self::word_and_bit(seq);
        self.bitmap[word] |= bit;
        Ok(())
    }

    /// The full 64-bit sequence number of a packet carrying `low` on the wire, for an
    /// SA with extended sequence numbers (RFC 4303 Appendix A2.2): the high half is
    /// the window's, or the next one when `low` is below the window, or the previous
    /// one when the window straddles a 2^32 boundary and `low` falls left of it.
    /// `None` when the previous half would be below zero (nothing was ever sent there).
    pub fn infer_esn(&self, low: u32) -> Option<u64> {
        let size = Self::SIZE as u32;
        let top_low = self.top as u32;
        let top_high = (self.top >> 32) as u32;
        let bottom = top_low.wrapping_sub(size).wrapping_add(1);
        let high = if top_low >= size - 1 {
            // Case A: the window lies within one 2^32 subspace.
            if low >= bottom {
                Some(top_high)
            } else {
                top_high.checked_add(1)
            }
        } else if low >= bottom {
            // Case B: the window spans two subspaces and `low` is in the older one.
            top_high.checked_sub(1)
        } else {
            Some(top_high)
        };
        high.map(|h| (u64::from(h) << 32) | u64::from(low))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    type Small = ReplayWindow<3>; // tracks 128

    #[test]
    fn sizes() {
        assert_eq!(ReplayWindow::<DEFAULT_WORDS>::SIZE, 2048);
        assert_eq!(Small::SIZE, 128);
        assert_eq!(core::mem::size_of::<ReplayWindow>(), 8 + 33 * 8);
    }

    #[test]
    fn zero_is_refused() {
        let w = Small::new();
        assert_eq!(w.check(0), Err(ReplayError::Zero));
    }

    #[test]
    fn in_order_then_duplicate() {
        let mut w = Small::new();
        for seq in 1..=1000 {
            assert_eq!(w.check(seq), Ok(()));
            assert_eq!(w.commit(seq), Ok(()));
            assert_eq!(w.check(seq), Err(ReplayError::Duplicate));
        }
        assert_eq!(w.highest(), 1000);
    }

    #[test]
    fn two_phase_duplicate_in_one_batch() {
        let mut w = Small::new();
        // Both copies pass phase one; only the first commit wins.
        assert_eq!(w.check(7), Ok(()));
        assert_eq!(w.check(7), Ok(()));
        assert_eq!(w.commit(7), Ok(()));
        assert_eq!(w.commit(7), Err(ReplayError::Duplicate));
    }

    #[test]
    fn check_does_not_move_the_window() {
        let mut w = Small::new();
        w.commit(10).unwrap();
        // A forged packet far ahead is checked but never committed (ICV failed).
        assert_eq!(w.check(1_000_000), Ok(()));
        assert_eq!(w.highest(), 10);
        assert_eq!(w.check(9), Ok(()));
    }

    #[test]
    fn window_edges() {
        let mut w = Small::new();
        w.commit(1000).unwrap();
        // 1000 - 127 = 873 is the oldest tracked; 872 is out.
        assert_eq!(w.check(873), Ok(()));
        assert_eq!(w.check(872), Err(ReplayError::TooOld));
        w.commit(873).unwrap();
        assert_eq!(w.check(873), Err(ReplayError::Duplicate));
        // A jump beyond the whole ring clears everything.
        w.commit(100_000).unwrap();
        assert_eq!(w.check(99_999), Ok(()));
        assert_eq!(w.check(100_000 - 128), Err(ReplayError::TooOld));
    }

    #[test]
    fn reordering_within_the_window_is_accepted_once() {
        let mut w = ReplayWindow::<DEFAULT_WORDS>::new();
        // Deliver 1..=4096 in blocks of 512 reversed: every packet is within 2048 of
        // the highest seen when it arrives.
        for block in 0..8u64 {
            for i in (1..=512u64).rev() {
                let seq = block * 512 + i;
                assert_eq!(w.commit(seq), Ok(()), "seq {seq}");
            }
        }
        for seq in 4096 - 2047..=4096 {
            assert_eq!(w.check(seq), Err(ReplayError::Duplicate));
        }
    }

    /// Compares the window with a model that remembers every accepted number, over a
    /// pseudo-random stream of new, reordered, duplicated and very old packets.
    #[test]
    fn agrees_with_a_set_model() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            // xorshift64*: deterministic, no dependency.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let mut w = Small::new();
        let mut seen = BTreeSet::new();
        let mut top = 0u64;
        for _ in 0..200_000 {
            let r = next();
            let seq = match r % 8 {
                0..=3 => top + 1 + (r >> 8) % 4,
                4 | 5 => top.saturating_sub((r >> 8) % 140),
                6 => top.saturating_sub((r >> 8) % 2000),
                _ => top + (r >> 8) % 300,
            };
            let expected = if seq == 0 {
                Err(ReplayError::Zero)
            } else if seq > top {
                Ok(())
            } else if top - seq >= Small::SIZE {
                Err(ReplayError::TooOld)
            } else if seen.contains(&seq) {
                Err(ReplayError::Duplicate)
            } else {
                Ok(())
            };
            assert_eq!(w.check(seq), expected, "check {seq} (top {top})");
            // Commit only some of the acceptable packets (the others failed the ICV).
            if expected.is_ok() && r & (1 << 40) != 0 {
                w.commit(seq).unwrap();
                seen.insert(seq);
                top = top.max(seq);
            }
        }
    }

    #[test]
    fn esn_inference_case_a() {
        // RFC 4303 A2.2 case A: the window lies inside one subspace.
        let mut w = Small::new();
        w.commit((5u64 << 32) | 1000).unwrap();
        assert_eq!(w.infer_esn(1000), Some((5 << 32) | 1000));
        assert_eq!(w.infer_esn(873), Some((5 << 32) | 873));
        assert_eq!(w.infer_esn(2000), Some((5 << 32) | 2000));
        // Below the window: the counter has wrapped into the next subspace.
        assert_eq!(w.infer_esn(872), Some((6 << 32) | 872));
        assert_eq!(w.infer_esn(0), Some(6 << 32));
    }

    #[test]
    fn esn_inference_case_b() {
        // Case B: the window straddles the boundary between subspaces 4 and 5.
        let mut w = Small::new();
        w.commit((5u64 << 32) | 10).unwrap();
        assert_eq!(w.infer_esn(10), Some((5 << 32) | 10));
        assert_eq!(w.infer_esn(500), Some((5 << 32) | 500));
        // Left of the window's low end, still in subspace 4.
        assert_eq!(w.infer_esn(u32::MAX), Some((4 << 32) | u64::from(u32::MAX)));
        assert_eq!(
            w.infer_esn(u32::MAX - 116),
            Some((4 << 32) | u64::from(u32::MAX - 116))
        );
        // And the result is then judged by the window as usual.
        let seq = w.infer_esn(u32::MAX).unwrap();
        assert_eq!(w.check(seq), Ok(()));
    }

    #[test]
    fn esn_inference_at_the_start() {
        let w = Small::new();
        // Nothing received: small numbers are in subspace 0; a number "left of the
        // window" would be in subspace -1, which does not exist.
        assert_eq!(w.infer_esn(1), Some(1));
        assert_eq!(w.infer_esn(u32::MAX), None);
    }
}

//! The sequencing state of one PPTP call's enhanced GRE channel (RFC 2637 §4.1-§4.4),
//! for the shard that owns the call: what to put in the Sequence and Acknowledgment
//! Number fields of each packet sent, what to do with each packet received, and when
//! an acknowledgment-only packet is due. Fixed size, no allocation, no clock inside:
//! time is an argument, so the hot path can own one per call.
//!
//! - **Sending** (§4.2): every packet with a payload carries the next sequence number
//!   (the first is 0, and numbers wrap). If something received is not acknowledged
//!   yet, the acknowledgment rides along (piggybacked, §4.3).
//! - **Receiving** (§4.3): a packet whose sequence number is after the highest seen so
//!   far (in 32-bit serial arithmetic, RFC 1982) is delivered and becomes the highest;
//!   a packet at or before it is a duplicate or out of order and is dropped. RFC 2637
//!   lets the receiver discard out-of-order packets; PPP above re-sends nothing, but
//!   MPPE in stateless mode and IP tolerate the loss, and a reorder buffer would need
//!   per-call memory and a timer on the hot path. Acknowledgment numbers from the peer
//!   move our view of what it has received (only forward).
//! - **Acknowledgment-only packets** (§4.3): when something received is unacknowledged
//!   and no data went the other way for [`ACK_DELAY`], one is due
//!   ([`GreSeq::ack_due`]); sending data clears the debt.
//! - **Window** (§4.4): the peer's receive window (from the call's setup) bounds the
//!   packets in flight. The data plane cannot queue without allocating, so a packet
//!   beyond the window is still sent, and counted ([`GreSeq::over_window`]): clients
//!   size their windows for bursts, and dropping would only trade congestion for loss.

use std::time::{Duration, Instant};

/// How long a received packet may stay unacknowledged when nothing else is sent
/// (RFC 2637 §4.3 leaves it to the implementation; Linux pptp uses a short delay).
pub const ACK_DELAY: Duration = Duration::from_millis(100);

/// What to do with a received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxVerdict {
    /// In order (after the highest so far): hand the payload up.
    Deliver,
    /// At or before the highest so far: a duplicate or late packet, dropped.
    Stale,
    /// An acknowledgment-only packet (no payload), nothing to deliver.
    AckOnly,
}

/// One call's GRE sequence state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GreSeq {
    /// The next sequence number we send.
    next_seq: u32,
    /// The highest sequence number the peer acknowledged, if any.
    peer_acked: Option<u32>,
    /// The highest sequence number we received, if any.
    received: Option<u32>,
    /// The highest we acknowledged to the peer, if any.
    acked: Option<u32>,
    /// When the oldest unacknowledged received packet arrived.
    owed_since: Option<Instant>,
    peer_window: u16,
    over_window: u64,
}

/// `a` is after `b` in 32-bit serial arithmetic (RFC 1982 §3.2).
#[inline]
fn after(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

impl GreSeq {
    /// A new call; `peer_window` is the Packet Receive Window Size the peer announced
    /// (0: unknown, no window accounting).
    pub const fn new(peer_window: u16) -> GreSeq {
        GreSeq {
            next_seq: 0,
            peer_acked: None,
            received: None,
            acked: None,
            owed_since: None,
            peer_window,
            over_window: 0,
        }
    }

    /// For a packet with a payload: its sequence number and the acknowledgment to
    /// piggyback, if one is owed.
    #[inline]
    pub fn on_send(&mut self) -> (u32, Option<u32>) {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        if self.peer_window != 0 && self.in_flight() > u32::from(self.peer_window) {
            self.over_window += 1;
        }
        (seq, self.take_ack())
    }

    /// Packets sent that the peer has not acknowledged.
    #[inline]
    pub fn in_flight(&self) -> u32 {
        match self.peer_acked {
            Some(a) => self.next_seq.wrapping_sub(a).wrapping_sub(1),
            None => self.next_seq,
        }
    }

    fn take_ack(&mut self) -> Option<u32> {
        let owed = self.received.filter(|r| self.acked != Some(*r));
        if owed.is_some() {
            self.acked = owed;
            self.owed_since = None;
        }
        owed
    }

    /// A received packet's numbers (`seq` is None for an acknowledgment-only packet).
    #[inline]
    pub fn on_receive(&mut self, now: Instant, seq: Option<u32>, ack: Option<u32>) -> RxVerdict {
        if let Some(a) = ack {
            // Only forward, and never beyond what we sent.
            let sane = after(self.next_seq, a);
            if sane && self.peer_acked.is_none_or(|p| after(a, p)) {
                self.peer_acked = Some(a);
            }
        }
        let Some(seq) = seq else {
            return RxVerdict::AckOnly;
        };
        match self.received {
            Some(r) if !after(seq, r) => RxVerdict::Stale,
            _ => {
                self.received = Some(seq);
                if self.owed_since.is_none() {
                    self.owed_since = Some(now);
                }
                RxVerdict::Deliver
            }
        }
    }

    /// When an acknowledgment-only packet is due (nothing sent since the oldest
    /// unacknowledged packet arrived).
    #[inline]
    pub fn ack_deadline(&self) -> Option<Instant> {
        self.owed_since.map(|t| t + ACK_DELAY)
    }

    /// At or after [`GreSeq::ack_deadline`]: the number to send in an
    /// acknowledgment-only packet, and the debt is paid.
    #[inline]
    pub fn ack_due(&mut self, now: Instant) -> Option<u32> {
        if self.ack_deadline().is_some_and(|d| now >= d) {
            self.take_ack()
        } else {
            None
        }
    }

    /// Packets sent beyond the peer's window.
    pub fn over_window(&self) -> u64 {
        self.over_window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two ends of a call exchanging packets through a lossy, reordering channel:
    /// what each delivers is exactly what arrived in increasing order, acknowledgments
    /// reach the sender, and nothing arrives twice.
    #[test]
    fn loss_reordering_and_duplicates() {
        let t0 = Instant::now();
        let mut a = GreSeq::new(64);
        let mut b = GreSeq::new(64);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // (seq, ack) in flight from a to b.
        let mut wire: Vec<(u32, Option<u32>)> = Vec::new();
        let mut delivered = Vec::new();
        for i in 0..5000u32 {
            let (seq, ack) = a.on_send();
            assert_eq!(seq, i);
            match rnd() % 10 {
                0 => {}                                     // lost
                1 => wire.insert(0, (seq, ack)),            // overtaken: arrives late
                2 => wire.extend([(seq, ack), (seq, ack)]), // duplicated
                _ => wire.push((seq, ack)),
            }
            if rnd() % 3 == 0 {
                for (s, k) in wire.drain(..) {
                    if b.on_receive(t0, Some(s), k) == RxVerdict::Deliver {
                        delivered.push(s);
                    }
                }
                // b answers with data now and then (acks piggyback).
                let (bseq, ack) = b.on_send();
                assert_eq!(a.on_receive(t0, Some(bseq), ack), RxVerdict::Deliver);
            }
        }
        // Strictly increasing: no duplicate, nothing out of order.
        assert!(delivered.windows(2).all(|w| after(w[1], w[0])));
        assert!(delivered.len() > 3500, "{} delivered", delivered.len());
        // a's view of what b received moved, and never past what a sent.
        assert!(a.in_flight() < 5000);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut s = GreSeq::new(0);
        s.next_seq = u32::MAX - 1;
        assert_eq!(s.on_send().0, u32::MAX - 1);
        assert_eq!(s.on_send().0, u32::MAX);
        assert_eq!(s.on_send().0, 0);
        let t0 = Instant::now();
        let mut r = GreSeq::new(0);
        assert_eq!(r.on_receive(t0, Some(u32::MAX), None), RxVerdict::Deliver);
        assert_eq!(r.on_receive(t0, Some(0), None), RxVerdict::Deliver);
        assert_eq!(r.on_receive(t0, Some(u32::MAX), None), RxVerdict::Stale);
        assert_eq!(r.on_receive(t0, Some(1), None), RxVerdict::Deliver);
    }

    #[test]
    fn acknowledgment_only_when_idle_and_piggybacked_otherwise() {
        let t0 = Instant::now();
        let mut s = GreSeq::new(4);
        assert_eq!(s.ack_deadline(), None);
        assert_eq!(s.on_receive(t0, Some(7), None), RxVerdict::Deliver);
        assert_eq!(s.ack_deadline(), Some(t0 + ACK_DELAY));
        assert_eq!(s.ack_due(t0), None);
        // Nothing sent for a while: an ack-only packet for 7, once.
        assert_eq!(s.ack_due(t0 + ACK_DELAY), Some(7));
        assert_eq!(s.ack_due(t0 + ACK_DELAY * 2), None);
        // Data going the other way carries the next ack instead.
        s.on_receive(t0, Some(8), None);
        assert_eq!(s.on_send(), (0, Some(8)));
        assert_eq!(s.on_send(), (1, None));
        assert_eq!(s.ack_deadline(), None);
        // An ack-only packet from the peer delivers nothing and moves its ack.
        assert_eq!(s.on_receive(t0, None, Some(0)), RxVerdict::AckOnly);
        assert_eq!(s.in_flight(), 1);
        // Acks never go backwards or beyond what was sent.
        s.on_receive(t0, None, Some(100));
        assert_eq!(s.in_flight(), 1);
        // Beyond the peer's window of 4: still sent, counted.
        for _ in 0..6 {
            s.on_send();
        }
        assert_eq!(s.in_flight(), 7);
        assert_eq!(s.over_window(), 3);
    }
}

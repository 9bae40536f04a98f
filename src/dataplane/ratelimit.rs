//! Per-subscriber rate limits: token buckets that police (drop) a session's traffic
//! above its rate, one per session and direction.
//!
//! - [`TokenBucket`]: owned by one shard, changed through `&mut`. Upload (subscriber
//!   → network) of an L2TP session is received only on the session's owner shard, and
//!   both directions of a PPTP call run on its owner shard, so their buckets live in
//!   [`Session`](super::tables::Session) and [`PptpCall`](super::pptp::PptpCall).
//! - [`SharedTokenBucket`]: shared by `Arc` among every shard. L2TP download (network
//!   → subscriber) is transmitted by *whichever* shard read the packet from its TUN
//!   queue (routes are replicated, see [`super::tx`]), so one session's download
//!   budget is spent from several cores. The bucket hangs off the replicated route
//!   ([`super::tables::Command::SetRouteLimit`]), as the outbound SA's sequence counter
//!   does ([`super::tables`] "Outbound sequence numbers").
//!
//! # Algorithm
//!
//! Both are the same token bucket written in its "virtual scheduling" form (the
//! Generic Cell Rate Algorithm of ITU-T I.371, here with a per-packet cost): instead
//! of a token count and a last-refill time, the bucket keeps one number, the
//! *theoretical arrival time* `tat`, the instant at which the bucket would be full
//! again. A packet of `n` bytes costs `n × 8 / rate` seconds; it conforms when
//! `max(tat, now) + cost ≤ now + burst × 8 / rate`, and then `tat` becomes
//! `max(tat, now) + cost`. This is exactly a bucket of `burst` bytes refilled at
//! `rate` (tokens at `now` = `burst − (tat − now) × rate / 8`). The one-word state is
//! what makes the shared variant lock-free: one relaxed load, and one
//! `compare_exchange_weak` per *admitted* packet (retried only when another shard
//! admitted a packet of the same session in between); a dropped packet writes
//! nothing but the bucket's drop counters. Relaxed ordering suffices: the word
//! publishes no other memory, and read-modify-writes of one atomic are totally
//! ordered, so the budget is never spent twice.
//!
//! Time is the shard's batch clock, passed in (`now: Instant`; nothing here reads a
//! clock). Each bucket converts it to ticks of 1/16 ns since its own `epoch` (the
//! `now` it was created with): fine enough that the integer cost of a 64-byte packet
//! at 40 Gbit/s (204.8 ticks) rounds by under 0.3 %, and 2^64 ticks last 36 years.
//! The cost per byte is kept in fixed point with 16 fractional bits. Shards' batch
//! clocks differ by microseconds; a shard whose `now` is older than the `tat` another
//! wrote simply sees a slightly emptier bucket (never a fuller one), so skew cannot
//! exceed the rate, only delay a packet's admission by the skew.
//!
//! # Decisions
//!
//! - **Policing, not shaping**: a packet above the rate is dropped and counted
//!   ([`DropReason::RateLimited`](super::counters::DropReason::RateLimited),
//!   [`TxDrop::RateLimited`](super::counters::TxDrop::RateLimited)), never queued: a
//!   queue per session needs memory per packet held, which the data plane (no
//!   allocation per packet, fixed buffer rings) does not have. TCP adapts to the
//!   drops; the burst lets it reach the rate (see the next point).
//! - **Bytes counted** are the subscriber's IP packet (IPv4 Total Length, IPv6 40 +
//!   Payload Length), without PPP, L2TP, UDP, ESP or GRE overhead: the rate the
//!   subscriber bought, as RADIUS accounting counts it.
//! - **Default burst**: [`Rate::new`] with no burst uses the bytes of
//!   [`DEFAULT_BURST_MS`] (100 ms) at the rate, the common default for policers
//!   (Juniper's burst-size default is 100 ms too), so a TCP window of about one
//!   round trip passes. Any burst, given or default, is raised to
//!   [`MIN_BURST_BYTES`] (four 1500-octet packets): a bucket smaller than one packet
//!   would drop every full-size packet however slow the flow; and capped at
//!   [`MAX_BURST_BYTES`].
//! - **Limits of a rate**: [`MIN_RATE_BPS`] (1 kbit/s) to [`MAX_RATE_BPS`]
//!   (10 Tbit/s); [`Rate::new`] clamps into that range. "No limit" is the absence of
//!   a bucket (`None`), which costs one branch per packet.
//! - **Epoch per bucket** (16 octets) rather than one global one: buckets are made by
//!   the control thread with its own `now`, and no shared clock state is needed.
//!
//!
//! # How the control thread applies a limit
//!
//! ```text
//! // rate: from crate::aaa::ratelimit::RateLimit::up()/down() -> (bps, burst)
//! let up = Rate::new(bps_up, burst_up);   let down = Rate::new(bps_down, burst_down);
//! // L2TP session (tunnel, session) owned by shard k, subscriber at ipv4 (and /64):
//! send(k, Command::SetSessionLimit { key, up: Some(Box::new(TokenBucket::new(up, now))) });
//! let bucket = Arc::new(SharedTokenBucket::new(down, now));     // one per session
//! broadcast(|| Command::SetRouteLimit { ipv4, down: Some(Arc::clone(&bucket)) });
//! broadcast(|| Command::SetRoute6Limit { prefix, down: Some(Arc::clone(&bucket)) });
//! // PPTP call on shard k: one command per direction.
//! send(k, Command::SetCallLimit { call_id, direction: Direction::Up, limit: Some(..) });
//! send(k, Command::SetCallLimit { call_id, direction: Direction::Down, limit: Some(..) });
//! // Lift: the same commands with None. A route installed (again) starts unlimited:
//! // send the route limit after InstallRoute / InstallRoute6 (the queue is ordered).
//! ```
//!
//! A change (CoA) installs fresh, full buckets; shards switch at their next batch
//! boundary, so for that moment the download may spend from the old and the new
//! bucket on different shards (a burst at most).
//!
//! # Cost
//!
//! `cargo bench --bench ratelimit` on the 2-core development VM (shared, load ≈ 3.5,
//! so ±30 %): an admitted packet costs 5.5 ns through a [`TokenBucket`], 14.6 ns
//! through a [`SharedTokenBucket`] used by one thread (the `lock cmpxchg`), and
//! 25 ns when a second thread spends from the same bucket without pause. Whole
//! nodes on a 1400-octet packet, plain L2TP: transmit 55 ns unlimited versus 51 ns
//! limited, receive 39 ns versus 54 ns (the difference is within the machine's noise
//! for transmit). An unlimited session pays one branch on `None`.
//!
//! Nothing here allocates, locks or reads a clock.
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The window of the default burst: a bucket holds this many milliseconds of its rate.
pub const DEFAULT_BURST_MS: u64 = 100;
/// The smallest burst, given or default: four 1500-octet packets.
pub const MIN_BURST_BYTES: u64 = 4 * 1500;
/// The largest burst (1 GiB).
pub const MAX_BURST_BYTES: u64 = 1 << 30;
/// The lowest rate a bucket enforces, bits per second.
pub const MIN_RATE_BPS: u64 = 1_000;
/// The highest rate a bucket enforces, bits per second.
pub const MAX_RATE_BPS: u64 = 10_000_000_000_000;

/// Ticks per nanosecond of the buckets' clock (see the module docs).
const TICKS_PER_NS: u64 = 16;
/// Fractional bits of the fixed-point cost per byte.
const FRAC_BITS: u32 = 16;

/// Which way a limit applies, from the subscriber's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Subscriber → network (the receive path, towards TUN).
    Up,
    /// Network → subscriber (the transmit path, from TUN).
    Down,
}

/// One direction's limit: a rate and a burst, both already clamped (see [`Rate::new`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    bits_per_second: u64,
    burst_bytes: u64,
}

impl Rate {
    /// A rate of `bits_per_second` with a bucket of `burst_bytes` (`None`: the
    /// default, [`DEFAULT_BURST_MS`] of the rate). The rate is clamped to
    /// [`MIN_RATE_BPS`]..=[`MAX_RATE_BPS`], the burst to
    /// [`MIN_BURST_BYTES`]..=[`MAX_BURST_BYTES`].
    pub fn new(bits_per_second: u64, burst_bytes: Option<u64>) -> Self {
        let bits_per_second = bits_per_second.clamp(MIN_RATE_BPS, MAX_RATE_BPS);
        let burst = burst_bytes.unwrap_or_else(|| Self::default_burst(bits_per_second));
        Rate {
            bits_per_second,
            burst_bytes: burst.clamp(MIN_BURST_BYTES, MAX_BURST_BYTES),
        }
    }

    /// The default burst of a rate, before clamping: [`DEFAULT_BURST_MS`] of it.
    pub const fn default_burst(bits_per_second: u64) -> u64 {
        bits_per_second / 8 * DEFAULT_BURST_MS / 1000
    }

    pub const fn bits_per_second(self) -> u64 {
        self.bits_per_second
    }

    pub const fn burst_bytes(self) -> u64 {
        self.burst_bytes
    }
}

/// The precomputed form of a [`Rate`]: cost per byte and the burst, in ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Params {
    /// Ticks one byte costs, with [`FRAC_BITS`] fractional bits.
    ticks_per_byte: u64,
    /// How far `tat` may run ahead of `now`: the burst's cost.
    tolerance: u64,
}

impl Params {
    fn new(rate: Rate) -> Self {
        // 8 bits × 1e9 ns × 16 ticks, in fixed point, per bit/s of rate. At the
        // lowest rate this is 2^43, so `cost` of 2^16 bytes stays below 2^64.
        let numerator = (8 * 1_000_000_000 * u128::from(TICKS_PER_NS)) << FRAC_BITS;
        let ticks_per_byte = (numerator / u128::from(rate.bits_per_second)) as u64;
        let mut p = Params {
            ticks_per_byte,
            tolerance: 0,
        };
        p.tolerance = p.cost(rate.burst_bytes);
        p
    }

    #[inline]
    fn cost(self, bytes: u64) -> u64 {
        let c = (u128::from(bytes) * u128::from(self.ticks_per_byte)) >> FRAC_BITS;
        u64::try_from(c).unwrap_or(u64::MAX)
    }

    /// The new `tat` if a packet of `bytes` conforms at `now`; `None` if it must drop.
    #[inline]
    fn admit(self, tat: u64, now: u64, bytes: usize) -> Option<u64> {
        let next = tat.max(now).saturating_add(self.cost(bytes as u64));
        (next - now <= self.tolerance).then_some(next)
    }

    /// Bytes that would conform at `now`.
    fn available(self, tat: u64, now: u64) -> u64 {
        let used = tat.saturating_sub(now);
        let free = self.tolerance - used.min(self.tolerance);
        let bytes = (u128::from(free) << FRAC_BITS) / u128::from(self.ticks_per_byte.max(1));
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }
}

/// Ticks of 1/16 ns from `epoch` to `now` (0 if `now` is earlier).
#[inline]
fn ticks(epoch: Instant, now: Instant) -> u64 {
    let d = now.saturating_duration_since(epoch);
    d.as_secs()
        .saturating_mul(1_000_000_000 * TICKS_PER_NS)
        .saturating_add(u64::from(d.subsec_nanos()) * TICKS_PER_NS)
}

/// A token bucket owned by one shard (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBucket {
    epoch: Instant,
    params: Params,
    rate: Rate,
    /// Theoretical arrival time, in ticks since `epoch`; 0: full.
    tat: u64,
    dropped_packets: u64,
    dropped_bytes: u64,
}

impl TokenBucket {
    /// A full bucket for `rate`; `now` is its epoch (any recent instant of the
    /// caller's clock: the control thread's is fine).
    pub fn new(rate: Rate, now: Instant) -> Self {
        TokenBucket {
            epoch: now,
            params: Params::new(rate),
            rate,
            tat: 0,
            dropped_packets: 0,
            dropped_bytes: 0,
        }
    }

    /// Takes `bytes` from the bucket at `now` if they are there (true: send), or
    /// counts a drop (false).
    #[inline]
    pub fn admit(&mut self, now: Instant, bytes: usize) -> bool {
        match self.params.admit(self.tat, ticks(self.epoch, now), bytes) {
            Some(tat) => {
                self.tat = tat;
                true
            }
            None => {
                self.dropped_packets = self.dropped_packets.wrapping_add(1);
                self.dropped_bytes = self.dropped_bytes.wrapping_add(bytes as u64);
                false
            }
        }
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Bytes a packet could have at `now` and still conform.
    pub fn available(&self, now: Instant) -> u64 {
        self.params.available(self.tat, ticks(self.epoch, now))
    }

    /// Packets and bytes dropped so far.
    pub fn dropped(&self) -> (u64, u64) {
        (self.dropped_packets, self.dropped_bytes)
    }
}

/// A token bucket shared by every shard, lock-free (see the module docs). Aligned to
/// a cache line so that two sessions' buckets never share one.
#[derive(Debug)]
#[repr(align(64))]
pub struct SharedTokenBucket {
    tat: AtomicU64,
    epoch: Instant,
    params: Params,
    rate: Rate,
    dropped_packets: AtomicU64,
    dropped_bytes: AtomicU64,
}

impl SharedTokenBucket {
    /// A full bucket for `rate`; `now` is its epoch, as for [`TokenBucket::new`].
    pub fn new(rate: Rate, now: Instant) -> Self {
        SharedTokenBucket {
            tat: AtomicU64::new(0),
            epoch: now,
            params: Params::new(rate),
            rate,
            dropped_packets: AtomicU64::new(0),
            dropped_bytes: AtomicU64::new(0),
        }
    }

    /// [`TokenBucket::admit`], from any thread.
    #[inline]
    pub fn admit(&self, now: Instant, bytes: usize) -> bool {
        let now = ticks(self.epoch, now);
        // Relaxed throughout: see the module docs.
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let Some(next) = self.params.admit(tat, now, bytes) else {
                self.dropped_packets.fetch_add(1, Ordering::Relaxed);
                self.dropped_bytes
                    .fetch_add(bytes as u64, Ordering::Relaxed);
                return false;
            };
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(current) => tat = current,
            }
        }
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Bytes a packet could have at `now` and still conform.
    pub fn available(&self, now: Instant) -> u64 {
        self.params
            .available(self.tat.load(Ordering::Relaxed), ticks(self.epoch, now))
    }

    /// Packets and bytes dropped so far, by every shard.
    pub fn dropped(&self) -> (u64, u64) {
        (
            self.dropped_packets.load(Ordering::Relaxed),
            self.dropped_bytes.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests;

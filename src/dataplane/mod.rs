//! The data plane's packet logic, as nodes over a batch (design.md "Threads and the
//! path of a packet"): no syscalls here (those live in `runtime`), no lock and no heap
//! allocation per packet.
//!
//! - [`steering`]: the one function that maps an ID we allocate (inbound SPI, L2TP
//!   session ID, PPTP call ID) to the shard that owns it; the allocator and the kernel
//!   steering programs both use it.
//! - [`tables`]: the per-shard SA and session tables, the replicated tunnel and route
//!   tables, the shared outbound SAs, and the control-to-shard [`tables::Command`]s that
//!   change them; NAT peer moves for the control thread.
//! - [`counters`]: per-shard receive and transmit counters, drop reasons, punt kinds
//!   and events.
//! - [`rx`]: the receive nodes: ESP-in-UDP / raw ESP / plain L2TP → L2TP → PPP → IP for
//!   TUN, control traffic punted (RFC 4303 §3.4, RFC 3948, RFC 2661 §3.1, RFC 1661).
//! - [`pptp`]: PPTP data on the call's owner shard: raw GRE → PPP → MPPE → IP for
//!   TUN, and IP → MPPE → PPP → GRE (RFC 2637 §4, RFC 3078).
//! - [`ratelimit`]: per-subscriber policing: token buckets per session and direction,
//!   owned by a shard or shared lock-free by all of them for L2TP download.
//! - [`tx`]: the transmit node: IP from TUN → route → PPP → L2TP → (UDP → ESP) in
//!   place, for UDP/1701, UDP/4500 or raw ESP (RFC 1662, RFC 2661, RFC 4303, RFC 3948).
#![forbid(unsafe_code)]

pub mod counters;
pub mod pptp;
pub mod ratelimit;
pub mod rx;
pub mod steering;
pub mod tables;
pub mod tx;

//! The data plane's packet logic, as nodes over a batch (design.md "Threads and the
//! path of a packet"): no syscalls here (those live in `runtime`), no lock and no heap
//! allocation per packet.
//!
//! - [`steering`]: the one function that maps an ID we allocate (inbound SPI, L2TP
//!   session ID, PPTP call ID) to the shard that owns it; the allocator and the kernel
//!   steering programs both use it.
//! - [`tables`]: the per-shard SA and session tables and the control-to-shard
//!   [`tables::Command`]s that change them.
//! - [`counters`]: per-shard receive counters, drop reasons and punt kinds.
//! - [`rx`]: the receive nodes: ESP-in-UDP / plain L2TP → L2TP → PPP → IP for TUN,
//!   control traffic punted (RFC 4303 §3.4, RFC 3948, RFC 2661 §3.1, RFC 1661).
#![forbid(unsafe_code)]

pub mod counters;
pub mod rx;
pub mod steering;
pub mod tables;

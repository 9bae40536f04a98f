//! The data plane's packet logic, as nodes over a batch (design.md "Threads and the
//! path of a packet"): no syscalls here (those live in `runtime`), no lock and no heap
//! allocation per packet.
//!
//! - [`steering`]: the one function that maps an ID we allocate (inbound SPI, L2TP
//!   session ID, PPTP call ID) to the shard that owns it; the allocator and the kernel
//!   steering programs both use it.
#![forbid(unsafe_code)]

pub mod steering;

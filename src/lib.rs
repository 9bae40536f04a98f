//! shardvpn: an L2TP/IPsec, L2TP LNS and PPTP concentrator.
//!
//! The crate is layered as `../shared/design.md` describes; a layer uses only the
//! layers listed before it:
//!
//! - [`wire`]: zero-copy views and `Repr`s for every wire format we speak;
//! - [`crypto`]: ESP transforms, IKEv1 key derivation and DH, CHAP / MS-CHAPv2 / MPPE,
//!   L2TP and RADIUS hiding schemes, all in place into caller buffers;
//! - [`proto`]: sans-IO protocol engines (time is an argument, no I/O inside);
//! - [`dataplane`]: the hot path's packet logic as nodes over a batch, no syscalls;
//! - [`runtime`]: the only place for syscalls and `unsafe`: threads, io_uring, TUN,
//!   steering programs;
//! - [`control`]: the control thread: drives the engines, ties subscribers together,
//!   programs the shards;
//! - [`config`]: the TOML configuration with its embedded default, errors reported as
//!   `FILE:LINE: key: message`;
//! - [`mgmt`]: the management socket's protocol and client (`shardvpn ctl`);
//! - [`aaa`]: the local users file, PAP / CHAP / MS-CHAPv2 verification, per-user
//!   session limits, IPv4 address pools, and the demo user's generated credentials.

pub mod aaa;
pub mod config;
pub mod control;
pub mod crypto;
pub mod dataplane;
pub mod mgmt;
pub mod proto;
pub mod runtime;
pub mod wire;

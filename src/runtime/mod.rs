//! The only place for syscalls and `unsafe` (design.md "Layout"): pinned shard
//! threads, io_uring, reuseport steering programs, the multi-queue TUN device and the
//! control <-> shard queues. Every `unsafe` block carries a `// Safety:` comment.
//!
//! - [`steering`]: the classic BPF programs that put each datagram on its owning
//!   shard's socket (reuseport groups on UDP/4500 and UDP/1701, raw ESP filters), built
//!   from the one ID-to-shard function, and the safe calls that attach them.
//! - [`tun`]: the multi-queue TUN device, one non-blocking fd per shard.
//! - [`raw`]: raw IPv4 sockets for ESP and GRE.
//! - [`handoff`]: the rings that hand a PPTP call's packets to its owner shard.
//! - [`uring`]: the startup check that io_uring is there with what we need.
//! - [`netns`]: moving a thread into a network namespace (tests, loadgen).
//! - [`rlimit`]: raising the open-file limit (loadgen's one socket per client).
//! - [`ctl_socket`]: the management socket's listener (mode 0600, stale files).

pub mod bufring;
pub mod ctl_socket;
pub mod engine;
pub mod epoll;
pub mod handoff;
pub mod listen;
pub mod mmsg;
pub mod netcfg;
pub mod netns;
pub mod queues;
pub mod raw;
pub mod rlimit;
pub mod shard;
pub mod signals;
pub mod sockbuf;
pub mod steering;
pub mod tun;
pub mod uring;

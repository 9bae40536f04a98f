//! One shard: a thread pinned to a core that owns an io_uring, its sockets, its TUN
//! queue and its tables (design.md "Shards own their state"), and runs the data-plane
//! nodes of [`crate::dataplane`] over batches of completions.
//!
//! # The loop
//! 1. Reap up to `batch` completions.
//! 2. Apply queued control commands (between batches, never mid-batch; after the
//!    reap, so a command queued before a packet was sent is in force when that
//!    packet is processed). Receives are multishot with provided buffers
//!    ([`BufRing`]): one `RecvMsgMulti` per UDP socket (we need the peer address),
//!    one `RecvMulti` per raw ESP or GRE socket (the IP header carries it), one
//!    `ReadMulti` on the TUN queue. A receive that ends (no `MORE` flag: out of buffers, or an
//!    error) is re-armed after the batch.
//! 3. Run the receive nodes (`dataplane::rx`) or the transmit node (`dataplane::tx`)
//!    on each received buffer, in place. What goes on is queued as SQEs that
//!    reference the same buffer (TUN `Write`, `SendMsg`); the buffer returns to its
//!    ring when that SQE completes. Punts are copied to the control thread's queue
//!    and their buffer returns at once.
//! 4. Publish the recycled buffers, forward NAT peer moves, publish counters, then one
//!    `io_uring_enter` submits every SQE of the batch and, if nothing is pending,
//!    sleeps until the next completion (a packet, a finished write, or a command's
//!    eventfd).
//!
//! Two buffer groups: group 0 for socket receives (an ESP packet is decrypted in
//! place and written to TUN from the same buffer), group 1 for TUN reads, with
//! `dataplane::tx::TX_HEADROOM` free bytes in front and `TX_TAILROOM` behind so the
//! L2TP/PPP/ESP headers and the ESP trailer are added in place.
//!
//! Nothing in steady state allocates: batch arrays, send headers (one per TUN buffer)
//! and punt buffers are made at startup.
//!
//! # Baseline mode
//! [`Mode::Baseline`] is the reference the `dataplane` benchmark compares against:
//! the same rings, batching and submission, but a UDP payload is written to TUN as is
//! and a TUN packet is sent as is to one fixed peer (no crypto, no protocol work).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ops::Range;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use io_uring::{IoUring, cqueue, opcode, squeue, types};

use super::bufring::BufRing;
use super::handoff::{Handoff, Slot};
use super::listen::ShardSockets;
use super::queues::{CommandQueue, Outbox, ToControl};
use super::tun::TunQueue;
use crate::dataplane::counters::{Counters, DropReason, PuntKind, RxProto, TxDrop};
use crate::dataplane::pptp;
use crate::dataplane::rx::{self, Rx};
use crate::dataplane::steering::ShardMap;
use crate::dataplane::tables::{Capacities, Command, Tables};
use crate::dataplane::tx::{self, TX_HEADROOM, TX_TAILROOM, Tx, Via};

/// What a shard does with packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The real data plane.
    Full,
    /// The benchmark baseline (module docs): UDP payload → TUN, TUN → UDP to `peer`.
    Baseline { peer: SocketAddr },
}

/// How to build one shard.
#[derive(Debug, Clone)]
pub struct ShardSpec {
    pub index: u32,
    /// Core to pin the thread to (`None`: not pinned).
    pub core: Option<usize>,
    /// Completions handled per batch.
    pub batch: usize,
    /// Buffers per ring (power of two).
    pub buffers: u16,
    /// Size of each buffer, TUN headroom and tailroom included.
    pub buffer_size: usize,
    pub capacities: Capacities,
    pub mode: Mode,
}

/// Counters of the runtime itself (the packet nodes keep theirs in [`Counters`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RuntimeCounters {
    /// Loop iterations that handled at least one completion.
    pub batches: u64,
    /// Batch sizes by power of two: `[1, 2-3, 4-7, 8-15, 16-31, 32-63, 64-127, 128+]`.
    pub batch_sizes: [u64; 8],
    /// Multishot receives the kernel ended because the ring had no free buffer.
    pub no_buffers: u64,
    /// Datagrams larger than a buffer (dropped).
    pub truncated: u64,
    /// Receive errors other than running out of buffers.
    pub recv_errors: u64,
    /// Packets written to TUN and datagrams sent (completed), and their errors.
    pub tun_writes: u64,
    pub sends: u64,
    pub tun_write_errors: u64,
    pub send_errors: u64,
    /// Commands applied, and refused (reported to the control thread).
    pub commands: u64,
    pub command_errors: u64,
    /// Messages to the control thread lost because its queue was full.
    pub outbox_full: u64,
    /// PPTP packets handed to the call's owner shard, and received from others.
    pub handed_off: u64,
    pub handed_in: u64,
    /// PPTP sends dropped because no handoff slot was free.
    pub slots_exhausted: u64,
    /// GRE acknowledgment-only packets sent (RFC 2637 §4.3).
    pub gre_acks: u64,
}

/// What a shard publishes for readers (metrics, tests, benchmarks).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardStats {
    pub packets: Counters,
    pub runtime: RuntimeCounters,
    /// CPU time the shard thread has used, in nanoseconds.
    pub cpu_ns: u64,
    /// The shard thread's kernel thread ID (for `top -H`, `taskset`, `/proc`).
    pub tid: i32,
    pub sa_count: usize,
    pub session_count: usize,
    pub call_count: usize,
}

/// Everything a shard thread needs, handed over at spawn.
pub struct ShardParts {
    pub spec: ShardSpec,
    pub sockets: ShardSockets,
    pub tun: TunQueue,
    pub commands: Arc<CommandQueue>,
    pub outbox: Outbox,
    pub stats: Arc<Mutex<ShardStats>>,
    pub stop: Arc<AtomicBool>,
    /// PPTP: slots and rings shared by every shard (see [`super::handoff`]).
    pub handoff: Arc<Handoff>,
    pub map: ShardMap,
}

// user_data layout: op in the top byte, then a source index, then a buffer ID.
const OP_RECV: u64 = 1 << 56;
const OP_TUN_READ: u64 = 2 << 56;
const OP_TUN_WRITE: u64 = 3 << 56;
const OP_SEND: u64 = 4 << 56;
const OP_WAKE: u64 = 5 << 56;
const OP_CANCEL: u64 = 6 << 56;
/// A send from a handoff [`Slot`] (PPTP), indexed in `Shard::slot_sends`.
const OP_SEND_SLOT: u64 = 7 << 56;
const OP_MASK: u64 = 0xff << 56;

/// Receive sources, as indexed in `user_data` and `Shard::armed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Src {
    Ike = 0,
    NatT = 1,
    L2tp = 2,
    RawEsp = 3,
    Tun = 4,
    RawGre = 5,
}
const SOURCES: [Src; 6] = [
    Src::Ike,
    Src::NatT,
    Src::L2tp,
    Src::RawEsp,
    Src::Tun,
    Src::RawGre,
];

/// `struct io_uring_recvmsg_out` precedes the name in a multishot recvmsg buffer.
const RECVMSG_OUT_LEN: usize = 16;
/// The name field we reserve: a `sockaddr_in6` holds either family.
const NAME_LEN: usize = size_of::<libc::sockaddr_in6>();
/// Where a UDP payload starts in a receive buffer.
const UDP_PAYLOAD_OFFSET: usize = RECVMSG_OUT_LEN + NAME_LEN;
const MSG_TRUNC: u32 = libc::MSG_TRUNC as u32;
/// How often a busy shard copies its counters out.
const PUBLISH_INTERVAL: Duration = Duration::from_millis(1);
/// How often the calls that owe a GRE acknowledgment are looked at (the delay
/// itself is `proto::pptp::gre::ACK_DELAY`).
const ACK_SCAN_INTERVAL: Duration = Duration::from_millis(10);
/// Slot sends a shard may have in flight at once.
const SLOT_SENDS: usize = 1024;
/// Handed-in packets taken per loop iteration (bounded like commands).
const HANDOFF_BATCH: usize = 256;

/// One received buffer waiting for the packet nodes.
#[derive(Clone, Copy)]
struct Received {
    src: Src,
    bid: u16,
    /// Payload start within the buffer's slot and its length.
    offset: usize,
    len: usize,
    from: SocketAddr,
}

/// The header of one `SendMsg`, kept until it completes.
struct SendSlot {
    hdr: libc::msghdr,
    iov: libc::iovec,
    addr: libc::sockaddr_in6,
}

struct Shard {
    // Dropped first: the kernel must let go of the rings' memory before they unmap.
    uring: IoUring,
    rx_ring: BufRing,
    tun_ring: BufRing,
    sockets: ShardSockets,
    tun: TunQueue,
    recv_hdr: Box<libc::msghdr>,
    send_slots: Box<[SendSlot]>,
    wake_buf: Box<u64>,
    commands: Arc<CommandQueue>,
    outbox: Outbox,
    stats: Arc<Mutex<ShardStats>>,
    stop: Arc<AtomicBool>,
    spec: ShardSpec,
    tables: Tables,
    counters: Counters,
    rt: RuntimeCounters,
    cqes: Vec<(u64, i32, u32)>,
    batch: Vec<Received>,
    armed: [bool; 6],
    wake_armed: bool,
    in_flight: usize,
    tid: i32,
    dirty: bool,
    last_publish: Instant,
    handoff: Arc<Handoff>,
    map: ShardMap,
    /// Send headers and the slots they send from, by index; `slot_free` lists the
    /// unused indices.
    slot_sends: Box<[SendSlot]>,
    slots: Vec<Option<Box<Slot>>>,
    slot_free: Vec<u16>,
    /// Shards this batch handed something to (woken once after the batch).
    to_wake: Vec<bool>,
    /// The time of this batch (GRE acknowledgment bookkeeping).
    now: Instant,
    next_ack_scan: Instant,
}

/// Builds the shard on the calling thread (the ring is single-issuer) and runs it
/// until `stop` is set. `ready` gets the startup result before the loop starts.
pub fn run(parts: ShardParts, ready: std::sync::mpsc::Sender<io::Result<()>>) {
    if let Some(core) = parts.spec.core {
        // Not fatal: a container may forbid affinity changes; the shard still works.
        let _ = core_affinity::set_for_current(core_affinity::CoreId { id: core });
    }
    let mut shard = match Shard::new(parts) {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    if let Err(e) = shard.arm_all() {
        let _ = ready.send(Err(e));
        return;
    }
    let _ = ready.send(Ok(()));
    shard.run();
}

fn sockaddr_from_name(name: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes([*name.first()?, *name.get(1)?]);
    let port = u16::from_be_bytes([*name.get(2)?, *name.get(3)?]);
    match libc::c_int::from(family) {
        libc::AF_INET => {
            let ip: [u8; 4] = name.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        libc::AF_INET6 => {
            let ip: [u8; 16] = name.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(name.get(24..28)?.try_into().ok()?);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                0,
                scope,
            )))
        }
        _ => None,
    }
}

/// Fills `out` with `addr` in the form the socket family expects; returns its length.
/// An IPv4 destination on an IPv6 socket is written v4-mapped.
fn write_sockaddr(addr: SocketAddr, v6_socket: bool, out: &mut libc::sockaddr_in6) -> u32 {
    match (addr, v6_socket) {
        (SocketAddr::V4(a), false) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // Safety: sockaddr_in6 is larger than sockaddr_in and suitably aligned.
            unsafe {
                (out as *mut libc::sockaddr_in6)
                    .cast::<libc::sockaddr_in>()
                    .write(sin)
            };
            size_of::<libc::sockaddr_in>() as u32
        }
        (a, _) => {
            let (ip, port, flow, scope) = match a {
                SocketAddr::V4(v4) => (v4.ip().to_ipv6_mapped(), v4.port(), 0, 0),
                SocketAddr::V6(v6) => (*v6.ip(), v6.port(), v6.flowinfo(), v6.scope_id()),
            };
            *out = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: port.to_be(),
                sin6_flowinfo: flow,
                sin6_addr: libc::in6_addr {
                    s6_addr: ip.octets(),
                },
                sin6_scope_id: scope,
            };
            size_of::<libc::sockaddr_in6>() as u32
        }
    }
}

/// Fills a send header for `len` bytes at `ptr` to `to` and returns the SQE (its
/// `user_data` is the caller's). The header must stay untouched until completion.
fn fill_send(
    slot: &mut SendSlot,
    fd: RawFd,
    ptr: *mut u8,
    len: usize,
    to: SocketAddr,
    v6: bool,
) -> squeue::Entry {
    let addr_len = write_sockaddr(to, v6, &mut slot.addr);
    slot.iov = libc::iovec {
        iov_base: ptr.cast(),
        iov_len: len,
    };
    slot.hdr.msg_name = (&raw mut slot.addr).cast();
    slot.hdr.msg_namelen = addr_len;
    slot.hdr.msg_iov = &raw mut slot.iov;
    slot.hdr.msg_iovlen = 1;
    opcode::SendMsg::new(types::Fd(fd), &raw const slot.hdr).build()
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // Safety: writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

impl Shard {
    fn new(parts: ShardParts) -> io::Result<Shard> {
        let ShardParts {
            spec,
            sockets,
            tun,
            commands,
            outbox,
            stats,
            stop,
            handoff,
            map,
        } = parts;
        let batch = spec.batch.max(1);
        let sq = (batch * 2 + 16).next_power_of_two().min(4096) as u32;
        let uring = IoUring::builder()
            .setup_cqsize((u32::from(spec.buffers) * 2 + sq).next_power_of_two())
            .setup_single_issuer()
            .setup_coop_taskrun()
            .build(sq)?;
        let mut rx_ring = BufRing::new(spec.buffers, spec.buffer_size, 0, 0, 0)?;
        let mut tun_ring =
            BufRing::new(spec.buffers, spec.buffer_size, TX_HEADROOM, TX_TAILROOM, 1)?;
        rx_ring.register(&uring)?;
        tun_ring.register(&uring)?;
        // Safety: msghdr is plain data; all-zero is a valid empty header.
        let mut recv_hdr: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        recv_hdr.msg_namelen = NAME_LEN as u32;
        let send_slots = (0..spec.buffers)
            .map(|_| SendSlot {
                // Safety: plain data, all-zero is valid; filled before each use.
                hdr: unsafe { std::mem::zeroed() },
                iov: libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                },
                // Safety: as above.
                addr: unsafe { std::mem::zeroed() },
            })
            .collect();
        let new_slot = || SendSlot {
            // Safety: plain data, all-zero is valid; filled before each use.
            hdr: unsafe { std::mem::zeroed() },
            iov: libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
            // Safety: as above.
            addr: unsafe { std::mem::zeroed() },
        };
        let now = Instant::now();
        Ok(Shard {
            slot_sends: (0..SLOT_SENDS).map(|_| new_slot()).collect(),
            slots: (0..SLOT_SENDS).map(|_| None).collect(),
            slot_free: (0..SLOT_SENDS as u16).rev().collect(),
            to_wake: vec![false; map.shards() as usize],
            handoff,
            map,
            now,
            next_ack_scan: now,
            uring,
            rx_ring,
            tun_ring,
            sockets,
            tun,
            recv_hdr,
            send_slots,
            wake_buf: Box::new(0),
            commands,
            outbox,
            stats,
            stop,
            tables: Tables::new(spec.capacities),
            counters: Counters::new(),
            rt: RuntimeCounters::default(),
            cqes: Vec::with_capacity(batch),
            batch: Vec::with_capacity(batch),
            armed: [false; 6],
            wake_armed: false,
            in_flight: 0,
            // Safety: gettid has no preconditions.
            tid: unsafe { libc::gettid() },
            dirty: true,
            last_publish: Instant::now(),
            spec: ShardSpec { batch, ..spec },
        })
    }

    fn fd(&self, src: Src) -> Option<RawFd> {
        match src {
            Src::Ike => Some(self.sockets.ike.as_raw_fd()),
            Src::NatT => Some(self.sockets.nat_t.as_raw_fd()),
            Src::L2tp => Some(self.sockets.l2tp.as_raw_fd()),
            Src::RawEsp => self.sockets.raw_esp.as_ref().map(|s| s.as_raw_fd()),
            Src::Tun => Some(self.tun.as_raw_fd()),
            Src::RawGre => self.sockets.raw_gre.as_ref().map(|s| s.as_raw_fd()),
        }
    }

    /// Queues an SQE, submitting what is queued when the submission ring is full.
    fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        loop {
            // Safety: every pointer an entry carries (buffers, msghdrs, the wake
            // counter) lives in `self` and stays valid and untouched until the entry's
            // completion is reaped (buffers are not recycled, send slots not reused).
            if unsafe { self.uring.submission().push(&entry) }.is_ok() {
                return Ok(());
            }
            self.uring.submit()?;
        }
    }

    fn arm(&mut self, src: Src) -> io::Result<()> {
        let Some(fd) = self.fd(src) else {
            return Ok(());
        };
        let fd = types::Fd(fd);
        let tag = (src as u64) << 16;
        let entry = match src {
            Src::Ike | Src::NatT | Src::L2tp => {
                opcode::RecvMsgMulti::new(fd, &raw const *self.recv_hdr, self.rx_ring.bgid())
                    .build()
                    .user_data(OP_RECV | tag)
            }
            Src::RawEsp | Src::RawGre => opcode::RecvMulti::new(fd, self.rx_ring.bgid())
                .build()
                .user_data(OP_RECV | tag),
            Src::Tun => opcode::ReadMulti::new(fd, 0, self.tun_ring.bgid())
                .build()
                .user_data(OP_TUN_READ | tag),
        };
        self.push(entry)?;
        self.armed[src as usize] = true;
        Ok(())
    }

    fn arm_wake(&mut self) -> io::Result<()> {
        let entry = opcode::Read::new(
            types::Fd(self.commands.wake_fd().as_raw_fd()),
            (&raw mut *self.wake_buf).cast::<u8>(),
            8,
        )
        .build()
        .user_data(OP_WAKE);
        self.push(entry)?;
        self.wake_armed = true;
        Ok(())
    }

    fn arm_all(&mut self) -> io::Result<()> {
        for src in SOURCES {
            self.arm(src)?;
        }
        self.arm_wake()?;
        self.uring.submit()?;
        Ok(())
    }

    fn run(&mut self) {
        while !self.stop.load(Ordering::Relaxed) {
            self.reap();
            // After reaping, before processing: a command queued before a packet was
            // sent (a session installed before our ICRP went out, then the peer's
            // first LCP frame) is applied before that packet is looked up.
            self.now = Instant::now();
            self.apply_commands();
            self.process_batch();
            self.take_handoffs();
            self.send_due_acks();
            self.wake_owners();
            self.rx_ring.publish();
            self.tun_ring.publish();
            for src in SOURCES {
                if !self.armed[src as usize] && self.arm(src).is_err() {
                    self.rt.recv_errors += 1;
                }
            }
            if !self.wake_armed && self.arm_wake().is_err() {
                self.rt.recv_errors += 1;
            }
            self.forward_peer_moves();
            self.outbox.flush();
            self.publish();
            let r = if !self.uring.completion().is_empty() {
                self.uring.submit()
            } else if self.dirty || self.tables.owed_ack_count() > 0 {
                // Sleep, but wake in time to publish what changed or to acknowledge.
                let wait = if self.dirty {
                    PUBLISH_INTERVAL
                } else {
                    ACK_SCAN_INTERVAL
                };
                let ts = types::Timespec::new().nsec(wait.as_nanos() as u32);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.uring.submitter().submit_with_args(1, &args)
            } else {
                self.uring.submit_and_wait(1)
            };
            if let Err(e) = r
                && e.raw_os_error() != Some(libc::EINTR)
                && e.raw_os_error() != Some(libc::EBUSY)
                && e.raw_os_error() != Some(libc::ETIME)
            {
                self.rt.recv_errors += 1;
            }
        }
        self.shutdown();
    }

    fn apply_commands(&mut self) {
        // Bounded so a flood of commands cannot starve traffic.
        for _ in 0..1024 {
            // A PPP frame to send needs a slot and a send header: when none is free,
            // the rest waits (in order) for sends to complete, rather than being lost.
            if self.slot_free.is_empty() || self.handoff.free() == 0 {
                break;
            }
            let Some(command) = self.commands.pop() else {
                break;
            };
            let what = command.name();
            self.rt.commands += 1;
            self.dirty = true;
            let command = match command {
                Command::SendCallFrame {
                    call_id,
                    protocol,
                    payload,
                } => {
                    self.send_call_frame(call_id, protocol, &payload);
                    continue;
                }
                Command::ReportSession { key, token, remove } => {
                    let sessions = self
                        .tables
                        .take_session_counters(key, remove)
                        .into_iter()
                        .collect();
                    let sent = self.outbox.send(ToControl::Counters {
                        shard: self.spec.index,
                        token,
                        sessions,
                    });
                    if !sent {
                        self.rt.outbox_full += 1;
                    }
                    continue;
                }
                Command::ReportCounters { token } => {
                    let sent = self.outbox.send(ToControl::Counters {
                        shard: self.spec.index,
                        token,
                        sessions: self.tables.session_counters(),
                    });
                    if !sent {
                        self.rt.outbox_full += 1;
                    }
                    continue;
                }
                other => other,
            };
            if let Err(error) = self.tables.apply(command) {
                self.rt.command_errors += 1;
                let sent = self.outbox.send(ToControl::CommandFailed {
                    shard: self.spec.index,
                    what,
                    error,
                });
                if !sent {
                    self.rt.outbox_full += 1;
                }
            }
        }
    }

    /// Takes up to `batch` completions: finished writes and sends give their buffer
    /// back, receives go to `self.batch`.
    fn reap(&mut self) {
        self.cqes.clear();
        let cap = self.spec.batch;
        for cqe in self.uring.completion().take(cap) {
            self.cqes.push((cqe.user_data(), cqe.result(), cqe.flags()));
        }
        self.batch.clear();
        for i in 0..self.cqes.len() {
            let (data, res, flags) = self.cqes[i];
            match data & OP_MASK {
                OP_RECV | OP_TUN_READ => self.received(data, res, flags),
                OP_TUN_WRITE => {
                    self.in_flight -= 1;
                    if res < 0 {
                        self.rt.tun_write_errors += 1;
                    } else {
                        self.rt.tun_writes += 1;
                    }
                    self.rx_ring.recycle(data as u16);
                }
                OP_SEND => {
                    self.in_flight -= 1;
                    if res < 0 {
                        self.rt.send_errors += 1;
                    } else {
                        self.rt.sends += 1;
                    }
                    self.tun_ring.recycle(data as u16);
                }
                OP_SEND_SLOT => {
                    self.in_flight -= 1;
                    if res < 0 {
                        self.rt.send_errors += 1;
                    } else {
                        self.rt.sends += 1;
                    }
                    let index = data as u16;
                    if let Some(slot) = self
                        .slots
                        .get_mut(usize::from(index))
                        .and_then(Option::take)
                    {
                        self.handoff.give_back(slot);
                        self.slot_free.push(index);
                    }
                }
                OP_WAKE => {
                    self.wake_armed = false;
                }
                _ => {}
            }
        }
        if !self.cqes.is_empty() {
            self.rt.batches += 1;
            let slot = (usize::BITS - self.cqes.len().leading_zeros()) as usize - 1;
            self.rt.batch_sizes[slot.min(7)] += 1;
            self.dirty = true;
        }
    }

    fn received(&mut self, data: u64, res: i32, flags: u32) {
        let src = SOURCES[((data >> 16) & 0xff) as usize % SOURCES.len()];
        if !cqueue::more(flags) {
            self.armed[src as usize] = false;
        }
        let bid = cqueue::buffer_select(flags);
        if res < 0 {
            if res == -libc::ENOBUFS {
                self.rt.no_buffers += 1;
            } else if res != -libc::ECANCELED {
                self.rt.recv_errors += 1;
            }
            if let Some(bid) = bid {
                self.recycle(src, bid);
            }
            return;
        }
        let Some(bid) = bid else {
            return;
        };
        let len = res as usize;
        let received = match src {
            Src::Ike | Src::NatT | Src::L2tp => {
                let slot = self.rx_ring.slot_mut(bid);
                let Some(out) = slot.get(..RECVMSG_OUT_LEN) else {
                    self.rx_ring.recycle(bid);
                    return;
                };
                let word =
                    |i: usize| u32::from_ne_bytes([out[i], out[i + 1], out[i + 2], out[i + 3]]);
                let (payload_len, msg_flags) = (word(8) as usize, word(12));
                let from = sockaddr_from_name(&slot[RECVMSG_OUT_LEN..UDP_PAYLOAD_OFFSET]);
                match from {
                    Some(from)
                        if msg_flags & MSG_TRUNC == 0
                            && UDP_PAYLOAD_OFFSET + payload_len <= len =>
                    {
                        Received {
                            src,
                            bid,
                            offset: UDP_PAYLOAD_OFFSET,
                            len: payload_len,
                            from,
                        }
                    }
                    _ => {
                        self.rt.truncated += 1;
                        self.rx_ring.recycle(bid);
                        return;
                    }
                }
            }
            Src::RawEsp | Src::RawGre => Received {
                src,
                bid,
                offset: 0,
                len,
                from: SocketAddr::from(([0, 0, 0, 0], 0)),
            },
            Src::Tun => Received {
                src,
                bid,
                offset: TX_HEADROOM,
                len,
                from: SocketAddr::from(([0, 0, 0, 0], 0)),
            },
        };
        self.batch.push(received);
    }

    fn recycle(&mut self, src: Src, bid: u16) {
        match src {
            Src::Tun => self.tun_ring.recycle(bid),
            _ => self.rx_ring.recycle(bid),
        }
    }

    fn process_batch(&mut self) {
        for i in 0..self.batch.len() {
            let r = self.batch[i];
            let result = match r.src {
                Src::Tun => self.transmit(r),
                _ => self.receive(r),
            };
            if result.is_err() {
                self.rt.send_errors += 1;
            }
        }
    }

    fn receive(&mut self, r: Received) -> io::Result<()> {
        let end = r.offset + r.len;
        let out = match (self.spec.mode, r.src) {
            (Mode::Baseline { .. }, _) => Rx::ToTun {
                range: 0..r.len,
                proto: RxProto::Ipv4,
                session: (0, 0),
            },
            (Mode::Full, src) => {
                let buf = &mut self.rx_ring.slot_mut(r.bid)[r.offset..end];
                match src {
                    Src::NatT => rx::esp_udp_input(
                        &mut self.tables,
                        &mut self.counters,
                        self.now,
                        buf,
                        r.from,
                    ),
                    Src::L2tp => rx::l2tp_udp_input(
                        &mut self.tables,
                        &mut self.counters,
                        self.now,
                        buf,
                        r.from,
                    ),
                    Src::RawEsp => {
                        rx::esp_raw_input(&mut self.tables, &mut self.counters, self.now, buf)
                    }
                    Src::RawGre => {
                        pptp::gre_input(&mut self.tables, &mut self.counters, self.now, buf)
                    }
                    _ => {
                        // UDP/500 on a shard socket: only if the kernel's fallback
                        // hash put IKE here; it still belongs to the control thread.
                        self.counters.rx(RxProto::IkeUdp, r.len);
                        self.counters.punt(PuntKind::Ike);
                        Rx::Punt {
                            kind: PuntKind::Ike,
                            range: 0..r.len,
                            tunnel_id: 0,
                            session_id: 0,
                            spi: None,
                            inner_port: 0,
                        }
                    }
                }
            }
        };
        match out {
            Rx::ToTun { range, .. } => {
                let ptr = self.rx_ring.slot_ptr(r.bid, r.offset + range.start);
                let entry =
                    opcode::Write::new(types::Fd(self.tun.as_raw_fd()), ptr, range.len() as u32)
                        .build()
                        .user_data(OP_TUN_WRITE | u64::from(r.bid));
                self.in_flight += 1;
                self.push(entry)
            }
            Rx::Punt {
                kind,
                range,
                tunnel_id,
                session_id,
                spi,
                inner_port,
            } => {
                let shard = self.spec.index;
                let from = r.from;
                let slot = self.rx_ring.slot_mut(r.bid);
                let bytes = &slot[r.offset + range.start..r.offset + range.end];
                let bulk = super::queues::opens_negotiation(kind, bytes);
                let sent = self.outbox.punt(bytes, bulk, |packet| ToControl::Packet {
                    shard,
                    kind,
                    from,
                    tunnel_id,
                    session_id,
                    spi,
                    inner_port,
                    packet,
                });
                if !sent {
                    self.counters.drop(DropReason::QueueFull);
                }
                self.rx_ring.recycle(r.bid);
                Ok(())
            }
            Rx::Drop(_) | Rx::Consumed => {
                self.rx_ring.recycle(r.bid);
                Ok(())
            }
        }
    }

    fn transmit(&mut self, r: Received) -> io::Result<()> {
        let out = match self.spec.mode {
            Mode::Baseline { peer } => Tx::Send {
                range: r.offset..r.offset + r.len,
                to: peer,
                via: Via::Udp4500,
            },
            Mode::Full => {
                let slot = self.tun_ring.slot_mut(r.bid);
                tx::tun_input(
                    &self.tables,
                    &mut self.counters,
                    self.now,
                    slot,
                    r.offset..r.offset + r.len,
                )
            }
        };
        let (range, to, via) = match out {
            Tx::Send { range, to, via } => (range, to, via),
            Tx::Call { call_id, range } => return self.transmit_call(r.bid, call_id, range),
            Tx::Drop(_) => {
                self.tun_ring.recycle(r.bid);
                return Ok(());
            }
        };
        let (fd, v6) = match via {
            Via::Udp4500 => (Some(self.sockets.nat_t.as_raw_fd()), self.sockets_v6()),
            Via::Udp1701 => (Some(self.sockets.l2tp.as_raw_fd()), self.sockets_v6()),
            Via::RawEsp => (self.sockets.raw_esp.as_ref().map(|s| s.as_raw_fd()), false),
        };
        let Some(fd) = fd else {
            self.tun_ring.recycle(r.bid);
            return Err(io::Error::from(io::ErrorKind::NotConnected));
        };
        let ptr = self.tun_ring.slot_ptr(r.bid, range.start);
        let slot = &mut self.send_slots[usize::from(r.bid)];
        let entry =
            fill_send(slot, fd, ptr, range.len(), to, v6).user_data(OP_SEND | u64::from(r.bid));
        self.in_flight += 1;
        self.push(entry)
    }

    /// A packet for a PPTP call: encapsulated here if we own the call, else copied
    /// into a handoff slot for its owner.
    fn transmit_call(&mut self, bid: u16, call_id: u16, range: Range<usize>) -> io::Result<()> {
        let owner = self.map.shard_of(u32::from(call_id));
        if owner != self.spec.index {
            let slot = self.handoff.take();
            let packet = &self.tun_ring.slot_mut(bid)[range.clone()];
            let handed = match slot {
                Some(mut slot) if TX_HEADROOM + packet.len() <= slot.data.len() => {
                    slot.call_id = call_id;
                    slot.start = TX_HEADROOM;
                    slot.end = TX_HEADROOM + packet.len();
                    slot.data[TX_HEADROOM..slot.end].copy_from_slice(packet);
                    self.handoff.push(owner as usize, slot)
                }
                Some(slot) => {
                    self.handoff.give_back(slot);
                    false
                }
                None => false,
            };
            if handed {
                self.rt.handed_off += 1;
                self.to_wake[owner as usize] = true;
            } else {
                self.counters.tx_drop(TxDrop::Handoff);
            }
            self.tun_ring.recycle(bid);
            return Ok(());
        }
        let Some(call) = self.tables.call_mut(call_id) else {
            self.counters.tx_drop(TxDrop::NoCall);
            self.tun_ring.recycle(bid);
            return Ok(());
        };
        let peer = call.peer;
        let buf = self.tun_ring.slot_mut(bid);
        let Ok(gre) = pptp::encap(call, &mut self.counters, self.now, buf, range) else {
            self.tun_ring.recycle(bid);
            return Ok(());
        };
        let Some(fd) = self.sockets.raw_gre.as_ref().map(|s| s.as_raw_fd()) else {
            self.tun_ring.recycle(bid);
            return Err(io::Error::from(io::ErrorKind::NotConnected));
        };
        let ptr = self.tun_ring.slot_ptr(bid, gre.start);
        let slot = &mut self.send_slots[usize::from(bid)];
        let entry = fill_send(slot, fd, ptr, gre.len(), SocketAddr::from((peer, 0)), false)
            .user_data(OP_SEND | u64::from(bid));
        self.in_flight += 1;
        self.push(entry)
    }

    /// Sends `slot.data[range]` to `peer` on the raw GRE socket; the slot comes back
    /// to the pool when the send completes (or now, if it cannot be sent).
    fn send_slot(&mut self, slot: Box<Slot>, range: Range<usize>, peer: std::net::Ipv4Addr) {
        let fd = self.sockets.raw_gre.as_ref().map(|s| s.as_raw_fd());
        let (Some(fd), Some(index)) = (fd, self.slot_free.pop()) else {
            self.rt.slots_exhausted += 1;
            self.handoff.give_back(slot);
            return;
        };
        let i = usize::from(index);
        let ptr = slot.data[range.start..].as_ptr().cast_mut();
        // The Box's heap memory does not move when the Box does.
        self.slots[i] = Some(slot);
        let entry = fill_send(
            &mut self.slot_sends[i],
            fd,
            ptr,
            range.len(),
            SocketAddr::from((peer, 0)),
            false,
        )
        .user_data(OP_SEND_SLOT | u64::from(index));
        self.in_flight += 1;
        if self.push(entry).is_err() {
            self.rt.send_errors += 1;
        }
    }

    /// Encapsulates and sends the packets other shards handed us.
    fn take_handoffs(&mut self) {
        let me = self.spec.index as usize;
        for _ in 0..HANDOFF_BATCH {
            if self.slot_free.is_empty() {
                break;
            }
            let Some(mut slot) = self.handoff.pop(me) else {
                break;
            };
            self.rt.handed_in += 1;
            self.dirty = true;
            let Some(call) = self.tables.call_mut(slot.call_id) else {
                self.counters.tx_drop(TxDrop::NoCall);
                self.handoff.give_back(slot);
                continue;
            };
            let peer = call.peer;
            let ip = slot.start..slot.end;
            match pptp::encap(call, &mut self.counters, self.now, &mut slot.data, ip) {
                Ok(gre) => self.send_slot(slot, gre, peer),
                Err(_) => self.handoff.give_back(slot),
            }
        }
    }

    /// A PPP control frame from the control thread for one of our calls.
    fn send_call_frame(&mut self, call_id: u16, protocol: u16, payload: &[u8]) {
        let Some(mut slot) = self.handoff.take() else {
            self.rt.slots_exhausted += 1;
            return;
        };
        let Some(call) = self.tables.call_mut(call_id) else {
            self.counters.tx_drop(TxDrop::NoCall);
            self.handoff.give_back(slot);
            return;
        };
        let peer = call.peer;
        match pptp::encap_frame(call, &mut self.counters, &mut slot.data, protocol, payload) {
            Some(gre) => self.send_slot(slot, gre, peer),
            None => {
                self.counters.tx_drop(TxDrop::TooBig);
                self.handoff.give_back(slot);
            }
        }
    }

    /// GRE acknowledgment-only packets for calls that received data and sent none
    /// back for `ACK_DELAY` (RFC 2637 §4.3), looked at every [`ACK_SCAN_INTERVAL`].
    fn send_due_acks(&mut self) {
        if self.tables.owed_ack_count() == 0 || self.now < self.next_ack_scan {
            return;
        }
        self.next_ack_scan = self.now + ACK_SCAN_INTERVAL;
        let now = self.now;
        let mut due: [(u16, std::net::Ipv4Addr, u32); 64] =
            [(0, std::net::Ipv4Addr::UNSPECIFIED, 0); 64];
        let mut n = 0;
        // Collected first (the sends need `self`), at most 64 per scan; the rest stay
        // listed for the next one.
        self.tables.retain_owed_acks(|id, call| {
            if n < due.len()
                && let Some(ack) = call.seq.ack_due(now)
            {
                due[n] = (id, call.peer, ack);
                n += 1;
            }
            call.seq.ack_deadline().is_some()
        });
        for &(call_id, peer, ack) in &due[..n] {
            let Some(mut slot) = self.handoff.take() else {
                self.rt.slots_exhausted += 1;
                break;
            };
            let Some(call) = self.tables.call_mut(call_id) else {
                self.handoff.give_back(slot);
                continue;
            };
            let len = pptp::ack_only(call, &mut self.counters, ack, &mut slot.data);
            self.rt.gre_acks += 1;
            self.send_slot(slot, 0..len, peer);
        }
    }

    /// Wakes the shards this batch handed packets to, once each.
    fn wake_owners(&mut self) {
        for (shard, wake) in self.to_wake.iter_mut().enumerate() {
            if std::mem::take(wake) {
                self.handoff.wake(shard);
            }
        }
    }

    fn sockets_v6(&self) -> bool {
        matches!(self.sockets.nat_t.local_addr(), Ok(SocketAddr::V6(_)))
    }

    fn forward_peer_moves(&mut self) {
        let shard = self.spec.index;
        for m in self.tables.take_peer_moves() {
            let sent = self.outbox.send(ToControl::PeerMoved {
                shard,
                spi: m.spi,
                tunnel_id: m.tunnel_id,
                peer: m.peer,
            });
            if !sent {
                self.rt.outbox_full += 1;
            }
        }
    }

    /// Copies the counters for readers, at most every [`PUBLISH_INTERVAL`] (the copy
    /// and the CPU clock read, a syscall, are per interval, never per packet; an idle
    /// shard with unpublished changes sleeps at most that long).
    fn publish(&mut self) {
        if !self.dirty {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.last_publish) < PUBLISH_INTERVAL {
            return;
        }
        if let Ok(mut s) = self.stats.try_lock() {
            s.packets.clone_from(&self.counters);
            s.runtime.clone_from(&self.rt);
            s.cpu_ns = thread_cpu_ns();
            s.tid = self.tid;
            s.sa_count = self.tables.sa_count();
            s.session_count = self.tables.session_count();
            s.call_count = self.tables.call_count();
            self.dirty = false;
            self.last_publish = now;
        }
    }

    /// Cancels every request and waits (bounded) for the kernel to let go of the
    /// buffers before the rings are unmapped.
    fn shutdown(&mut self) {
        let cancel = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(OP_CANCEL);
        let _ = self.push(cancel);
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            let ts = types::Timespec::new().nsec(10_000_000);
            let args = types::SubmitArgs::new().timespec(&ts);
            let _ = self.uring.submitter().submit_with_args(1, &args);
            self.reap();
            for i in 0..self.batch.len() {
                let r = self.batch[i];
                self.recycle(r.src, r.bid);
            }
            let armed = self.armed.iter().any(|a| *a) || self.wake_armed;
            if self.in_flight == 0 && !armed && self.uring.completion().is_empty() {
                break;
            }
        }
        self.dirty = true;
        let now = Instant::now();
        self.last_publish = now.checked_sub(PUBLISH_INTERVAL).unwrap_or(now);
        self.publish();
    }
}

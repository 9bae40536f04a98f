//! The queues between the control thread and the shards (design.md "Threads and the
//! path of a packet"):
//!
//! - control → shard: [`CommandQueue`], a bounded lock-free queue of
//!   [`Command`]s per shard plus an eventfd the shard's io_uring keeps a read armed on,
//!   so an idle shard wakes for a command without polling;
//! - shard → control: [`ControlInbox`], one bounded queue per shard of [`ToControl`]
//!   messages (punted packets, NAT peer moves, commands the shard refused) and one
//!   eventfd for all shards, which the control thread waits on.
//!
//! Overload never blocks the data plane: a full queue refuses the item and the caller
//! counts it (`DropReason::QueueFull` on the shard side; the command comes back to the
//! control thread as an error).
//!
//! Punted packets are copied into [`PuntBuf`]s from a preallocated pool: a shard takes
//! one, copies the packet, and the control thread's drop of the message returns it to
//! the pool, so punting allocates nothing after startup.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_queue::ArrayQueue;

use crate::dataplane::counters::PuntKind;
use crate::dataplane::tables::{Command, TableError};

/// The largest packet a punt carries (a PPP/L2TP control message or an IKE message
/// larger than this is truncated-and-dropped by the shard, counted).
pub const PUNT_MAX: usize = 4096;

/// An eventfd used as a wake-up signal.
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub fn new() -> io::Result<EventFd> {
        // Safety: plain eventfd(2) call; the result is checked before use.
        let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // Safety: `raw` is a fresh descriptor nothing else owns.
        Ok(EventFd {
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
        })
    }

    /// Adds 1 to the counter, waking whoever waits on it.
    pub fn signal(&self) {
        let one: u64 = 1;
        // Safety: writes 8 bytes from a live u64. EAGAIN (counter saturated) means a
        // wake-up is already pending, which is all a signal is for.
        unsafe {
            libc::write(self.fd.as_raw_fd(), (&raw const one).cast(), 8);
        }
    }

    /// Resets the counter (non-blocking).
    pub fn drain(&self) {
        let mut value: u64 = 0;
        // Safety: reads 8 bytes into a live u64; EAGAIN (nothing pending) is fine.
        unsafe {
            libc::read(self.fd.as_raw_fd(), (&raw mut value).cast(), 8);
        }
    }

    /// Waits until signalled or `timeout` passes; true if signalled.
    pub fn wait(&self, timeout: Duration) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // Safety: one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&raw mut pfd, 1, ms) };
        if rc > 0 {
            self.drain();
            true
        } else {
            false
        }
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The control → shard queue.
pub struct CommandQueue {
    queue: ArrayQueue<Command>,
    wake: EventFd,
}

impl CommandQueue {
    pub fn new(capacity: usize) -> io::Result<CommandQueue> {
        Ok(CommandQueue {
            queue: ArrayQueue::new(capacity.max(1)),
            wake: EventFd::new()?,
        })
    }

    /// Queues `command` without waking the shard (call [`CommandQueue::notify`] after
    /// a burst). A full queue hands the command back.
    pub fn push(&self, command: Command) -> Result<(), Command> {
        self.queue.push(command)
    }

    /// Wakes the shard to apply what was pushed.
    pub fn notify(&self) {
        self.wake.signal();
    }

    pub(crate) fn pop(&self) -> Option<Command> {
        self.queue.pop()
    }

    pub(crate) fn wake_fd(&self) -> &EventFd {
        &self.wake
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

type PuntStore = Box<[u8; PUNT_MAX]>;

/// A punted packet's bytes, on loan from its shard's pool; dropping it gives the
/// storage back.
pub struct PuntBuf {
    data: Option<PuntStore>,
    len: usize,
    pool: Arc<ArrayQueue<PuntStore>>,
}

impl PuntBuf {
    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            Some(d) => &d[..self.len],
            None => &[],
        }
    }
}

impl std::fmt::Debug for PuntBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PuntBuf").field("len", &self.len).finish()
    }
}

impl Drop for PuntBuf {
    fn drop(&mut self) {
        if let Some(d) = self.data.take() {
            // The pool has room for every buffer it ever handed out.
            let _ = self.pool.push(d);
        }
    }
}

/// A message from a shard to the control thread.
#[derive(Debug)]
pub enum ToControl {
    /// A packet for a control engine: IKE, L2TP control, PPP control, or a PPP
    /// protocol to reject. `from` is the outer source (port 0 for raw ESP).
    Packet {
        shard: u32,
        kind: PuntKind,
        from: SocketAddr,
        tunnel_id: u16,
        session_id: u16,
        spi: Option<u32>,
        /// See `dataplane::rx::Rx::Punt`: the client's inner L2TP port under ESP;
        /// the NAT-T port for IKE that came behind the non-ESP marker.
        inner_port: u16,
        packet: PuntBuf,
    },
    /// An authenticated, newest packet of SA `spi` came from a new outer address (NAT
    /// rebinding, RFC 3948 §2.2 / RFC 4303 §3.4.3): the control thread updates its
    /// IKE peer and broadcasts `Command::UpdatePeer`.
    PeerMoved {
        shard: u32,
        spi: u32,
        tunnel_id: u16,
        peer: SocketAddr,
    },
    /// The answer to `Command::ReportCounters { token }`: every session and call on
    /// `shard` with its counters.
    Counters {
        shard: u32,
        token: u64,
        sessions: Vec<crate::dataplane::tables::SessionCounters>,
    },
    /// A command the shard could not apply.
    CommandFailed {
        shard: u32,
        what: &'static str,
        error: TableError,
    },
}

/// Whether a punted packet starts new work rather than serving an established
/// subscriber: an IKE Main Mode or Aggressive Mode message (RFC 2408 §3.1: the
/// exchange type is octet 18 of the ISAKMP header; NAT-T's non-ESP marker is already
/// gone). These are the expensive ones (Diffie-Hellman), and in a reconnect storm
/// there are thousands: they go to a queue of their own that the control thread
/// serves within a time budget, after the keepalives, LCP, L2TP control, DPD and
/// Quick Modes of the subscribers it already has (issue 8: established sessions must
/// not drop during a storm).
pub fn opens_negotiation(kind: PuntKind, bytes: &[u8]) -> bool {
    const MAIN_MODE: u8 = 2;
    const AGGRESSIVE: u8 = 4;
    kind == PuntKind::Ike && matches!(bytes.get(18), Some(&MAIN_MODE) | Some(&AGGRESSIVE))
}

/// One queue of the shard → control path with its punt buffers.
struct Lane {
    queue: Arc<ArrayQueue<ToControl>>,
    pool: Arc<ArrayQueue<PuntStore>>,
}

impl Lane {
    fn new(capacity: usize) -> Lane {
        let queue = Arc::new(ArrayQueue::new(capacity));
        let pool = Arc::new(ArrayQueue::new(capacity));
        for _ in 0..capacity {
            let _ = pool.push(Box::new([0u8; PUNT_MAX]));
        }
        Lane { queue, pool }
    }

    fn share(&self) -> Lane {
        Lane {
            queue: Arc::clone(&self.queue),
            pool: Arc::clone(&self.pool),
        }
    }
}

/// One shard's side of the shard → control path: the lane for established work and
/// the lane for new negotiations ([`opens_negotiation`]).
pub struct Outbox {
    lanes: [Lane; 2],
    wake: Arc<EventFd>,
    pending_wake: bool,
}

impl Outbox {
    /// Copies `bytes` into a pooled buffer and queues it, on the new-negotiation lane
    /// when `bulk` ([`opens_negotiation`]). False (caller counts QueueFull) when the
    /// lane's pool or queue is exhausted, or the packet is too big.
    pub fn punt(
        &mut self,
        bytes: &[u8],
        bulk: bool,
        make: impl FnOnce(PuntBuf) -> ToControl,
    ) -> bool {
        if bytes.len() > PUNT_MAX {
            return false;
        }
        let lane = &self.lanes[usize::from(bulk)];
        let Some(mut store) = lane.pool.pop() else {
            return false;
        };
        store[..bytes.len()].copy_from_slice(bytes);
        let buf = PuntBuf {
            data: Some(store),
            len: bytes.len(),
            pool: Arc::clone(&lane.pool),
        };
        self.push(usize::from(bulk), make(buf))
    }

    /// Queues a message (on the established lane); false when the queue is full (the
    /// message is dropped, and its punt buffer returns to the pool).
    pub fn send(&mut self, message: ToControl) -> bool {
        self.push(0, message)
    }

    fn push(&mut self, lane: usize, message: ToControl) -> bool {
        match self.lanes[lane].queue.push(message) {
            Ok(()) => {
                self.pending_wake = true;
                true
            }
            Err(_) => false,
        }
    }

    /// Wakes the control thread once for everything sent since the last flush.
    pub fn flush(&mut self) {
        if self.pending_wake {
            self.pending_wake = false;
            self.wake.signal();
        }
    }
}

/// The control thread's side of the shard → control path: two lanes per shard
/// (established work, new negotiations).
pub struct ControlInbox {
    queues: Vec<Arc<ArrayQueue<ToControl>>>,
    bulk: Vec<Arc<ArrayQueue<ToControl>>>,
    wake: Arc<EventFd>,
    next: std::cell::Cell<usize>,
    next_bulk: std::cell::Cell<usize>,
}

impl ControlInbox {
    /// The inbox and one [`Outbox`] per shard, each lane with `capacity` queue slots
    /// and as many punt buffers.
    pub fn new(shards: usize, capacity: usize) -> io::Result<(ControlInbox, Vec<Outbox>)> {
        let capacity = capacity.max(1);
        let wake = Arc::new(EventFd::new()?);
        let mut queues = Vec::with_capacity(shards);
        let mut bulk = Vec::with_capacity(shards);
        let mut outboxes = Vec::with_capacity(shards);
        for _ in 0..shards {
            let lanes = [Lane::new(capacity), Lane::new(capacity)];
            queues.push(Arc::clone(&lanes[0].queue));
            bulk.push(Arc::clone(&lanes[1].queue));
            outboxes.push(Outbox {
                lanes: [lanes[0].share(), lanes[1].share()],
                wake: Arc::clone(&wake),
                pending_wake: false,
            });
        }
        Ok((
            ControlInbox {
                queues,
                bulk,
                wake,
                next: std::cell::Cell::new(0),
                next_bulk: std::cell::Cell::new(0),
            },
            outboxes,
        ))
    }

    /// The next message of established work from any shard (round robin, so one busy
    /// shard cannot starve the others).
    pub fn try_recv(&self) -> Option<ToControl> {
        round_robin(&self.queues, &self.next)
    }

    /// The next new negotiation ([`opens_negotiation`]) from any shard, round robin.
    pub fn try_recv_bulk(&self) -> Option<ToControl> {
        round_robin(&self.bulk, &self.next_bulk)
    }

    /// Waits until a shard signals or `timeout` passes.
    pub fn wait(&self, timeout: Duration) -> bool {
        self.wake.wait(timeout)
    }

    /// The eventfd shards signal, for a control loop that polls several sources.
    /// Such a loop must [`ControlInbox::clear_wake`] when it is readable, or it stays
    /// readable and the loop spins.
    pub fn wake_fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    /// Resets the wake-up counter. Call it *before* draining the queues: a message
    /// queued after the reset signals again, so none is left unnoticed.
    pub fn clear_wake(&self) {
        self.wake.drain();
    }

    /// Messages waiting, over all shards and both lanes (a gauge for metrics).
    pub fn depth(&self) -> usize {
        self.queues.iter().chain(&self.bulk).map(|q| q.len()).sum()
    }
}

fn round_robin(
    queues: &[Arc<ArrayQueue<ToControl>>],
    next: &std::cell::Cell<usize>,
) -> Option<ToControl> {
    let n = queues.len();
    for i in 0..n {
        let at = (next.get() + i) % n;
        if let Some(m) = queues[at].pop() {
            next.set((at + 1) % n);
            return Some(m);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punt_buffers_return_to_the_pool() {
        let (inbox, mut out) = ControlInbox::new(1, 2).unwrap();
        let from: SocketAddr = "192.0.2.1:4500".parse().unwrap();
        let make = |packet| ToControl::Packet {
            shard: 0,
            kind: PuntKind::Lcp,
            from,
            tunnel_id: 1,
            session_id: 2,
            spi: None,
            inner_port: 0,
            packet,
        };
        assert!(out[0].punt(b"abc", false, make));
        assert!(out[0].punt(b"defg", false, make));
        // Pool and queue both exhausted.
        assert!(!out[0].punt(b"x", false, make));
        out[0].flush();
        assert!(inbox.wait(Duration::from_millis(100)));
        let Some(ToControl::Packet { packet, .. }) = inbox.try_recv() else {
            panic!("no packet");
        };
        assert_eq!(packet.bytes(), b"abc");
        drop(packet);
        // One buffer back, but the queue still holds the second message: full.
        assert!(inbox.try_recv().is_some());
        assert!(out[0].punt(b"again", false, make));
        assert!(!out[0].punt(&[0; PUNT_MAX + 1], false, make));
    }

    #[test]
    fn inbox_is_round_robin() {
        let (inbox, mut out) = ControlInbox::new(2, 8).unwrap();
        for (shard, o) in out.iter_mut().enumerate() {
            for _ in 0..3 {
                assert!(o.send(ToControl::CommandFailed {
                    shard: shard as u32,
                    what: "test",
                    error: TableError::Full,
                }));
            }
        }
        let order: Vec<u32> = std::iter::from_fn(|| inbox.try_recv())
            .map(|m| match m {
                ToControl::CommandFailed { shard, .. } => shard,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(order, [0, 1, 0, 1, 0, 1]);
        assert_eq!(inbox.depth(), 0);
    }

    /// New negotiations queue on their own lane: a full one does not stop a
    /// keepalive, and the control thread takes them only when it asks for them.
    #[test]
    fn new_negotiations_have_their_own_lane() {
        let mut mm1 = [0u8; 28];
        mm1[18] = 2; // Main Mode
        let mut dpd = mm1;
        dpd[18] = 5; // Informational (R-U-THERE)
        assert!(opens_negotiation(PuntKind::Ike, &mm1));
        assert!(!opens_negotiation(PuntKind::Ike, &dpd));
        assert!(!opens_negotiation(PuntKind::Lcp, &mm1));
        assert!(!opens_negotiation(PuntKind::Ike, &mm1[..18]));

        let (inbox, mut out) = ControlInbox::new(1, 2).unwrap();
        let from: SocketAddr = "192.0.2.1:4500".parse().unwrap();
        let make = |kind| {
            move |packet| ToControl::Packet {
                shard: 0,
                kind,
                from,
                tunnel_id: 0,
                session_id: 0,
                spi: None,
                inner_port: 4500,
                packet,
            }
        };
        assert!(out[0].punt(&mm1, true, make(PuntKind::Ike)));
        assert!(out[0].punt(&mm1, true, make(PuntKind::Ike)));
        assert!(
            !out[0].punt(&mm1, true, make(PuntKind::Ike)),
            "bulk lane full"
        );
        assert!(out[0].punt(&dpd, false, make(PuntKind::Ike)));
        assert!(out[0].punt(b"echo", false, make(PuntKind::Lcp)));
        assert_eq!(inbox.depth(), 4);
        let kinds: Vec<PuntKind> = std::iter::from_fn(|| inbox.try_recv())
            .map(|m| match m {
                ToControl::Packet { kind, .. } => kind,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(kinds, [PuntKind::Ike, PuntKind::Lcp]);
        assert!(inbox.try_recv_bulk().is_some());
        assert!(inbox.try_recv_bulk().is_some());
        assert!(inbox.try_recv_bulk().is_none());
    }
}

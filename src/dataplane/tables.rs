//! Per-shard tables of the data plane and the commands that change them.
//!
//! Owned by one shard (the one [`super::steering`] names for the ID):
//!
//! - inbound ESP SAs by SPI (RFC 4303 §3.4.2): the transform, the anti-replay window
//!   (§3.4.3), the ESN flag, the L2TP tunnel / subscriber the SA protects and the outer
//!   address the SA's packets come from;
//! - L2TP sessions by (local tunnel ID, local session ID) (RFC 2661 §3.1): the
//!   subscriber's assigned addresses (anti-spoofing), the NCP state, whether the
//!   session must arrive under IPsec, and per-session counters.
//!
//! Replicated on every shard (the transmit path: a packet read from a TUN queue is on
//! whichever shard the kernel's flow hash chose, not necessarily the owner's):
//!
//! - tunnels by local tunnel ID ([`TunnelTx`]): where to send, the peer's tunnel ID and
//!   the encapsulation (plain L2TP over UDP, ESP-in-UDP, raw ESP) with the outbound SA;
//! - routes: subscriber IPv4 address, or IPv6 /64 prefix, to ([`Route`]) the tunnel and
//!   the peer's session ID.
//!
//! Rate limits ([`super::ratelimit`]): an L2TP session's upload bucket sits in its
//! [`Session`] on the owner shard ([`Command::SetSessionLimit`]); its download bucket
//! is one [`SharedTokenBucket`] behind an `Arc` in the replicated route entries of the
//! subscriber's IPv4 address and IPv6 prefix ([`Command::SetRouteLimit`],
//! [`Command::SetRoute6Limit`], broadcast with the *same* `Arc` so that both address
//! families spend one budget). The bucket is kept beside [`Route`], not in it, so that
//! `Route` stays a small `Copy` value; an entry costs 8 more octets for the pointer.
//! A route installed anew starts unlimited: the control thread sends the limit after
//! the route (the queue is ordered). A PPTP call keeps both of its buckets in its
//! [`PptpCall`] on the owner shard ([`Command::SetCallLimit`]).
//!
//! Only the shard touches its tables; the control thread sends [`Command`]s on the
//! shard's queue and the shard calls [`Tables::apply`] between batches.
//!
//! # Outbound sequence numbers
//!
//! An [`OutboundSa`] is shared by `Arc` among all shards, and its sequence counter is
//! one `AtomicU64` advanced with a relaxed `fetch_add` per packet. RFC 4303 §3.3.3
//! requires each sequence number to be sent at most once per SA (and AES-GCM's nonce
//! *is* that number, RFC 4106 §3.1), and several shards may transmit for one SA: the TUN
//! queue a packet is read from is chosen by the kernel's flow hash, so the shard that
//! encrypts is not necessarily the SA's owner. The alternatives cost more: handing the
//! packet to the owner's ring is a copy and a cross-core wakeup per packet, and
//! per-shard sequence ranges would make the receiver's window see huge jumps. Relaxed
//! ordering is enough: read-modify-write operations on one atomic are totally ordered
//! whatever the ordering argument, so every caller gets a distinct value, and no other
//! memory is published through the counter. The cost is one contended cache line per
//! SA when shards share it, accepted. Without ESN a value above `u32::MAX` is refused
//! (the SA must be rekeyed; the counter never wraps, §3.3.3).
//!
//! # Peer moves (NAT rebinding)
//!
//! An ESP packet that authenticated (RFC 4303 §3.4.4), passed the anti-replay window
//! and was committed to it (§3.4.3), carries the highest sequence number seen on its SA
//! and comes from another address than [`InboundSa::peer`] moves the peer: the shard
//! records a [`PeerMove`] (drained by [`Tables::take_peer_moves`] and forwarded to the
//! control thread, which broadcasts [`Command::UpdatePeer`] to every shard). Only
//! authenticated, non-replayed traffic may do this. RFC 3947/3948 (IKEv1 NAT-T) say
//! nothing on when to follow a NAT rebinding; RFC 7296 §2.23 does, and we apply it: the
//! host that is not behind the NAT (the concentrator) "SHOULD dynamically update" the
//! SA's address and port from a packet "whose integrity protection validates" (the ICV,
//! RFC 4303 §3.4.4), and a packet the anti-replay check refuses is discarded before it
//! counts as received (§3.4.3), so a captured packet replayed from elsewhere cannot
//! redirect the tunnel. Requiring the highest sequence number as well keeps a reordered
//! older packet still in flight on the old path from moving the peer back. The list of
//! pending moves is preallocated; when it is full the move is not recorded and the SA's
//! `peer` is left unchanged, so the next packet from the new address tries again.
//!
//! # Capacity
//!
//! Each table is bounded by a configured size ([`Capacities`]), and an insert beyond it
//! fails with [`TableError::Full`] (overload is refused, never absorbed by growing).
//! The maps are `std` hash maps preallocated at construction for *twice* the capacity:
//! with at most `capacity` live entries, hashbrown's growth check always finds the
//! table at most half full and rehashes in place (to reclaim tombstones) instead of
//! reallocating, so steady-state inserts, removes and lookups never allocate.
//!
//! # Memory
//!
//! A hash table spreads its entries over all of its buckets, so with a few thousand
//! entries nearly every page of a table sized for tens of thousands is touched: a
//! table's resident cost is its full allocated size, not its entry count. Sessions,
//! tunnels, routes and PPTP calls are therefore kept in a [`SlabMap`]: the hash table
//! holds only a `u32` slot number per bucket, and the values sit in a slab filled from
//! the front (freed slots reused first), which costs pages in proportion to the
//! entries actually present. At 10,000 L2TP sessions on two shards this took the
//! daemon from 8,163 to 5,181 octets per session (issue 8): the session and route
//! tables had cost about 3,900 of them. A lookup reads one more cache line (the
//! slot) than an inline value would; the index it searches is a quarter of the
//! size or less, so it stays in cache better.
#![forbid(unsafe_code)]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::sync::atomic::{AtomicU64, Ordering};
use std::collections::HashMap;
use std::sync::Arc;

use super::pptp::{Mppe, PptpCall};
use super::ratelimit::{Direction, SharedTokenBucket, TokenBucket};
use crate::crypto::esp::{AnyTransform, Esn, Transform};
use crate::proto::esp::ReplayWindow;

/// (local tunnel ID, local session ID): the IDs we allocated and the peer echoes.
pub type SessionKey = (u16, u16);

/// Pending peer moves a shard holds between two [`Tables::take_peer_moves`] calls.
pub const PEER_MOVES_CAPACITY: usize = 256;

/// One inbound ESP SA.
pub struct InboundSa {
    pub transform: AnyTransform,
    pub replay: ReplayWindow,
    pub esn: Esn,
    /// The local L2TP tunnel ID this SA protects: a decrypted L2TP message naming
    /// another tunnel is dropped, so one client's SA cannot inject into another
    /// subscriber's tunnel.
    pub tunnel_id: u16,
    /// Opaque subscriber handle from the control thread.
    pub subscriber: u32,
    /// The outer source (address and UDP port; port 0 for raw ESP) of the SA's
    /// packets, moved by authenticated traffic (see the module docs).
    pub peer: SocketAddr,
    pub rx_packets: u64,
    pub rx_bytes: u64,
}

impl InboundSa {
    pub fn new(transform: AnyTransform, tunnel_id: u16, subscriber: u32, peer: SocketAddr) -> Self {
        let esn = transform.esn();
        InboundSa {
            transform,
            replay: ReplayWindow::new(),
            esn,
            tunnel_id,
            subscriber,
            peer,
            rx_packets: 0,
            rx_bytes: 0,
        }
    }
}

/// One outbound ESP SA, shared by every shard that transmits for it.
pub struct OutboundSa {
    pub spi: u32,
    pub transform: AnyTransform,
    /// The last sequence number handed out (0: none yet). See the module docs.
    pub seq: AtomicU64,
}

impl OutboundSa {
    pub fn new(spi: u32, transform: AnyTransform) -> Self {
        OutboundSa {
            spi,
            transform,
            seq: AtomicU64::new(0),
        }
    }

    /// The next sequence number (the first is 1, RFC 4303 §3.3.3), unique across every
    /// thread that shares this SA. `None` when the space is exhausted: above
    /// `u32::MAX` without ESN (the SA must be rekeyed; the counter is never wrapped),
    /// or after 2^64 - 1 with ESN (centuries at line rate).
    #[inline]
    pub fn next_seq(&self) -> Option<u64> {
        // Relaxed: only the uniqueness of the value matters (see the module docs).
        let seq = self.seq.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        match self.transform.esn() {
            Esn::Disabled if seq > u64::from(u32::MAX) => None,
            _ if seq == 0 => None,
            _ => Some(seq),
        }
    }
}

impl core::fmt::Debug for OutboundSa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The transform's Debug prints the suite only, never key material.
        f.debug_struct("OutboundSa")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("transform", &self.transform)
            .field("seq", &self.seq.load(Ordering::Relaxed))
            .finish()
    }
}

/// How a tunnel's packets are sent.
#[derive(Debug, Clone)]
pub enum Encap {
    /// Plain L2TP over UDP, from our port 1701 to `peer` (the LNS role, RFC 2661 §8.1).
    Plain,
    /// ESP-in-UDP from our port 4500 to `peer` (RFC 3948 §2.1): the NAT-T case.
    EspUdp(EspEncap),
    /// ESP as IP protocol 50 to `peer`'s address (RFC 4303): no NAT on the path.
    EspRaw(EspEncap),
}

/// The transport-mode ESP encapsulation of an L2TP/IPsec tunnel.
#[derive(Debug, Clone)]
pub struct EspEncap {
    pub sa: Arc<OutboundSa>,
    /// Our outer address: the source of the outer IP header, for the inner UDP checksum
    /// over IPv6.
    pub local: IpAddr,
    /// The inner UDP source port: our L2TP port, 1701.
    pub inner_src_port: u16,
    /// The inner UDP destination port: the client's L2TP port (often 1701, any).
    pub inner_dst_port: u16,
}

/// One tunnel's transmit state (replicated on every shard).
#[derive(Debug, Clone)]
pub struct TunnelTx {
    /// Where to send: address and UDP port (port ignored for [`Encap::EspRaw`]).
    pub peer: SocketAddr,
    /// The tunnel ID the peer assigned, written in our L2TP data headers.
    pub peer_tunnel_id: u16,
    pub encap: Encap,
}

/// Where a subscriber's return traffic goes (replicated on every shard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The local tunnel ID (key of the tunnel table).
    pub tunnel: u16,
    /// The session ID the peer assigned, written in our L2TP data headers.
    pub peer_session_id: u16,
    /// Our (tunnel, session) for the subscriber.
    pub session: SessionKey,
}

/// A route and the download limit of the subscriber it leads to (replicated).
#[derive(Debug, Clone)]
pub struct RouteEntry {
    pub route: Route,
    /// The download (network → subscriber) limit, shared by every shard; `None`:
    /// unlimited.
    pub down: Option<Arc<SharedTokenBucket>>,
    /// The subscriber's transmit counters, shared by every shard (L2TP: whichever
    /// shard reads the packet from TUN sends it); `None`: not counted here (PPTP
    /// counts in the call on its owner).
    pub tx: Option<Arc<SessionTx>>,
}

/// What was sent to one L2TP subscriber (IP octets and packets), for accounting and
/// `shardvpn ctl`. Relaxed atomics: every shard that transmits for the subscriber
/// adds to them, nothing is published through them, and readers want totals.
#[derive(Debug, Default)]
pub struct SessionTx {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
}

impl SessionTx {
    #[inline]
    pub fn add(&self, bytes: usize) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// (packets, bytes) so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.packets.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// An authenticated peer move seen by this shard, for the control thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerMove {
    pub spi: u32,
    pub tunnel_id: u16,
    pub peer: SocketAddr,
}

/// Table sizes, fixed at construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacities {
    /// Inbound SAs owned by the shard.
    pub sas: usize,
    /// L2TP sessions owned by the shard; PPTP calls have a table of the same size.
    pub sessions: usize,
    /// Tunnels (all of them: replicated).
    pub tunnels: usize,
    /// Routes, each of IPv4 and IPv6 (all of them: replicated).
    pub routes: usize,
}

/// PPP / session flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionFlags {
    /// The session's tunnel is L2TP/IPsec: plain L2TP for it is refused.
    pub requires_esp: bool,
}

/// One L2TP session's receive state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub subscriber: u32,
    /// The address IPCP assigned (RFC 1332 §3.3); `None` while IPCP is not Opened.
    pub ipv4: Option<Ipv4Addr>,
    /// The /64 prefix the subscriber may source global IPv6 from; `None`: IPv6CP not
    /// Opened. Link-local sources (fe80::/10) are accepted once it is open (RFC 5072
    /// §5: the interface identifier is negotiated for link-local use).
    pub ipv6_prefix: Option<[u8; 8]>,
    pub flags: SessionFlags,
    /// The upload (subscriber → network) limit; `None`: unlimited. Boxed: the
    /// session table is preallocated for twice its capacity, and an inline bucket
    /// would cost every slot, limited or not.
    pub up: Option<Box<TokenBucket>>,
    pub rx_packets: u64,
    pub rx_bytes: u64,
}

impl Session {
    pub fn new(subscriber: u32, ipv4: Option<Ipv4Addr>, flags: SessionFlags) -> Self {
        Session {
            subscriber,
            ipv4,
            ipv6_prefix: None,
            flags,
            up: None,
            rx_packets: 0,
            rx_bytes: 0,
        }
    }

    /// Whether `src` may appear as the source of this subscriber's IPv6 packets.
    pub fn ipv6_source_allowed(&self, src: Ipv6Addr) -> bool {
        let Some(prefix) = self.ipv6_prefix else {
            return false;
        };
        let o = src.octets();
        o[..8] == prefix || (o[0] == 0xfe && o[1] & 0xc0 == 0x80)
    }
}

/// A change to the shard's tables, sent by the control thread.
pub enum Command {
    /// Boxed: an SA (transform key schedules + replay bitmap) is far larger than the
    /// other commands, and queue slots are sized by the largest variant. The box is made
    /// on the control thread, once per SA, never per packet.
    InstallSa {
        spi: u32,
        sa: Box<InboundSa>,
    },
    RemoveSa {
        spi: u32,
    },
    InstallSession {
        key: SessionKey,
        session: Session,
    },
    RemoveSession {
        key: SessionKey,
    },
    /// IPCP reached Opened (or renegotiated) with this address; `None` closes it.
    SetSessionIpv4 {
        key: SessionKey,
        ipv4: Option<Ipv4Addr>,
    },
    /// IPv6CP reached Opened with this prefix; `None` closes it.
    SetSessionIpv6 {
        key: SessionKey,
        prefix: Option<[u8; 8]>,
    },
    /// A tunnel's transmit state (broadcast to every shard).
    InstallTunnel {
        id: u16,
        tunnel: TunnelTx,
    },
    RemoveTunnel {
        id: u16,
    },
    /// The peer moved (NAT rebinding, see the module docs): send to `peer` from now on.
    /// Only the tunnel changes; the owner shard's [`InboundSa::peer`] is kept by the
    /// receive path itself (if the control thread learned of the move first, e.g. from
    /// IKE, the next ESP packet from the new address reports it once more, harmlessly).
    UpdatePeer {
        tunnel: u16,
        peer: SocketAddr,
    },
    /// Rekey: the new outbound SA replaces the old one on an ESP tunnel (the old `Arc`
    /// is dropped here, on the shard, between batches). [`TableError::NotFound`] for a
    /// plain tunnel too.
    SetTunnelSa {
        tunnel: u16,
        sa: Arc<OutboundSa>,
    },
    InstallRoute {
        ipv4: Ipv4Addr,
        route: Route,
    },
    RemoveRoute {
        ipv4: Ipv4Addr,
    },
    /// A route for a subscriber's delegated IPv6 /64 (the first 8 octets).
    InstallRoute6 {
        prefix: [u8; 8],
        route: Route,
    },
    RemoveRoute6 {
        prefix: [u8; 8],
    },
    /// An L2TP session's upload limit (to its owner shard); `None` lifts it. The
    /// bucket is made by the control thread (`TokenBucket::new(rate, now)`).
    SetSessionLimit {
        key: SessionKey,
        up: Option<Box<TokenBucket>>,
    },
    /// The download limit of the subscriber at `ipv4` (broadcast to every shard, the
    /// same `Arc` to all, and to the subscriber's IPv6 route too); `None` lifts it.
    /// The old `Arc` is dropped on the shard, between batches.
    SetRouteLimit {
        ipv4: Ipv4Addr,
        down: Option<Arc<SharedTokenBucket>>,
    },
    /// The transmit counters of the subscriber at `ipv4` (broadcast, the same `Arc`
    /// to every shard, after the route).
    SetRouteCounters {
        ipv4: Ipv4Addr,
        tx: Option<Arc<SessionTx>>,
    },
    /// [`Command::SetRouteLimit`] for the route of an IPv6 /64.
    SetRoute6Limit {
        prefix: [u8; 8],
        down: Option<Arc<SharedTokenBucket>>,
    },
    /// One direction of a PPTP call's limit (to its owner shard: both directions run
    /// there); `None` lifts it. One direction per command keeps the command small
    /// (queue slots are sized by the largest variant).
    SetCallLimit {
        call_id: u16,
        direction: Direction,
        limit: Option<TokenBucket>,
    },
    /// A PPTP call on its owner shard (boxed: MPPE state comes later, the GRE state
    /// now).
    InstallCall {
        call_id: u16,
        call: Box<PptpCall>,
    },
    RemoveCall {
        call_id: u16,
    },
    SetCallIpv4 {
        call_id: u16,
        ipv4: Option<Ipv4Addr>,
    },
    /// CCP Opened with MPPE (the keys, both directions) or left Opened (`None`).
    SetCallMppe {
        call_id: u16,
        mppe: Option<Box<Mppe>>,
    },
    /// The client sent a CCP Reset-Request (RFC 3078 §8).
    ResetCallMppe {
        call_id: u16,
    },
    /// A PPP control frame for the call's client: the owner shard sends it, since
    /// the GRE sequence numbers are its own. Handled by the runtime, which has the
    /// socket; [`Tables::apply`] refuses it.
    SendCallFrame {
        call_id: u16,
        protocol: u16,
        payload: Box<[u8]>,
    },
    /// The management socket asks for every session's and call's counters: the
    /// runtime answers with one `ToControl::Counters` carrying `token` (see
    /// [`Tables::session_counters`]). Control traffic: the reply allocates.
    ReportCounters {
        token: u64,
    },
    /// Accounting asks for one session's (or call's, with tunnel 0) counters, and
    /// with `remove` takes it out of the table in the same step, so the counters of a
    /// Stop record are final. Answered like [`Command::ReportCounters`] (with no entry
    /// if the session is unknown).
    ReportSession {
        key: SessionKey,
        token: u64,
        remove: bool,
    },
}

/// One L2TP session's or PPTP call's traffic counters, as a shard reports them to
/// the management socket. L2TP sessions have no per-session transmit counters (their
/// return traffic is encapsulated by whichever shard's TUN queue it arrives on), so
/// `tx` is `None` for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCounters {
    /// `(tunnel, session)`, or `(PPTP_ROUTE_TUNNEL, call_id)` for a PPTP call.
    pub key: SessionKey,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    /// `(packets, bytes)` sent to the subscriber, where counted.
    pub tx: Option<(u64, u64)>,
}

impl Command {
    /// The command's name, for logs and the control thread's error reports.
    pub const fn name(&self) -> &'static str {
        match self {
            Command::InstallSa { .. } => "InstallSa",
            Command::RemoveSa { .. } => "RemoveSa",
            Command::InstallSession { .. } => "InstallSession",
            Command::RemoveSession { .. } => "RemoveSession",
            Command::SetSessionIpv4 { .. } => "SetSessionIpv4",
            Command::SetSessionIpv6 { .. } => "SetSessionIpv6",
            Command::InstallTunnel { .. } => "InstallTunnel",
            Command::RemoveTunnel { .. } => "RemoveTunnel",
            Command::UpdatePeer { .. } => "UpdatePeer",
            Command::SetTunnelSa { .. } => "SetTunnelSa",
            Command::InstallRoute { .. } => "InstallRoute",
            Command::RemoveRoute { .. } => "RemoveRoute",
            Command::InstallRoute6 { .. } => "InstallRoute6",
            Command::RemoveRoute6 { .. } => "RemoveRoute6",
            Command::SetSessionLimit { .. } => "SetSessionLimit",
            Command::SetRouteLimit { .. } => "SetRouteLimit",
            Command::SetRouteCounters { .. } => "SetRouteCounters",
            Command::SetRoute6Limit { .. } => "SetRoute6Limit",
            Command::SetCallLimit { .. } => "SetCallLimit",
            Command::InstallCall { .. } => "InstallCall",
            Command::RemoveCall { .. } => "RemoveCall",
            Command::SetCallIpv4 { .. } => "SetCallIpv4",
            Command::SetCallMppe { .. } => "SetCallMppe",
            Command::ResetCallMppe { .. } => "ResetCallMppe",
            Command::SendCallFrame { .. } => "SendCallFrame",
            Command::ReportCounters { .. } => "ReportCounters",
            Command::ReportSession { .. } => "ReportSession",
        }
    }
}

/// Why a command could not be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("table full")]
    Full,
    #[error("entry already exists")]
    Exists,
    #[error("no such entry")]
    NotFound,
    #[error("not a table change (the runtime handles it)")]
    NotATableChange,
}

/// One shard's tables.
pub struct Tables {
    /// Boxed (the box comes with the command, made on the control thread): an SA is
    /// over a kilobyte, and inline slots in a table sized for twice the capacity would
    /// touch a fresh page per SA; small slots keep the table dense.
    sas: HashMap<u32, Box<InboundSa>>,
    sessions: SlabMap<SessionKey, Session>,
    tunnels: SlabMap<u16, TunnelTx>,
    routes4: SlabMap<Ipv4Addr, RouteEntry>,
    routes6: SlabMap<[u8; 8], RouteEntry>,
    /// PPTP calls by our Call ID (the MPPE state inside is boxed).
    calls: SlabMap<u16, PptpCall>,
    /// Calls that received data they have not acknowledged yet (RFC 2637 §4.3), each
    /// listed once (`PptpCall::ack_listed`); preallocated for every call.
    owed_acks: Vec<u16>,
    capacities: Capacities,
    /// Preallocated with [`PEER_MOVES_CAPACITY`]; never grows.
    peer_moves: Vec<PeerMove>,
}

/// A bounded map whose values live in a slab, found through a hash index of slot
/// numbers (see "Memory" in the module docs). Everything is preallocated: the index
/// for twice the capacity (see "Capacity"), the slab and its free list for the
/// capacity, so no operation allocates. The slab only grows into its reserved
/// capacity when every slot is taken, so it touches pages in proportion to the
/// highest number of entries ever present.
struct SlabMap<K, V> {
    index: HashMap<K, u32>,
    slots: Vec<Option<V>>,
    /// Vacant slots, the most recently freed last (reused first: its page is warm).
    free: Vec<u32>,
    capacity: usize,
}

impl<K: core::hash::Hash + Eq, V> SlabMap<K, V> {
    fn with_capacity(capacity: usize) -> Self {
        // Slot numbers are u32; configured capacities are far below that.
        let capacity = capacity.min(u32::MAX as usize);
        SlabMap {
            index: HashMap::with_capacity(capacity.saturating_mul(2)),
            slots: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            capacity,
        }
    }

    fn insert(&mut self, key: K, value: V) -> Result<(), TableError> {
        if self.index.contains_key(&key) {
            return Err(TableError::Exists);
        }
        if self.index.len() >= self.capacity {
            return Err(TableError::Full);
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(value);
                slot
            }
            None => {
                // Every slot is taken, so there are fewer than `capacity`: no realloc.
                self.slots.push(Some(value));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(key, slot);
        Ok(())
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        let slot = self.index.remove(key)?;
        self.free.push(slot);
        self.slots[slot as usize].take()
    }

    #[inline]
    fn get(&self, key: &K) -> Option<&V> {
        let slot = *self.index.get(key)?;
        self.slots.get(slot as usize)?.as_ref()
    }

    #[inline]
    fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let slot = *self.index.get(key)?;
        self.slots.get_mut(slot as usize)?.as_mut()
    }

    fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.index
            .iter()
            .filter_map(|(k, &slot)| Some((k, self.slots.get(slot as usize)?.as_ref()?)))
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    /// The allocated capacities of the index, the slab and the free list.
    #[cfg(test)]
    fn allocated(&self) -> [usize; 3] {
        [
            self.index.capacity(),
            self.slots.capacity(),
            self.free.capacity(),
        ]
    }
}

fn insert_bounded<K: core::hash::Hash + Eq, V>(
    map: &mut HashMap<K, V>,
    capacity: usize,
    key: K,
    value: V,
) -> Result<(), TableError> {
    if map.contains_key(&key) {
        return Err(TableError::Exists);
    }
    if map.len() >= capacity {
        return Err(TableError::Full);
    }
    map.insert(key, value);
    Ok(())
}

fn remove<K: core::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, key: &K) -> Result<(), TableError> {
    map.remove(key).map(drop).ok_or(TableError::NotFound)
}

impl Tables {
    /// Preallocates every table (see the module docs for the factor of two).
    pub fn new(capacities: Capacities) -> Self {
        let map = |n: usize| n.saturating_mul(2);
        Tables {
            sas: HashMap::with_capacity(map(capacities.sas)),
            sessions: SlabMap::with_capacity(capacities.sessions),
            tunnels: SlabMap::with_capacity(capacities.tunnels),
            routes4: SlabMap::with_capacity(capacities.routes),
            routes6: SlabMap::with_capacity(capacities.routes),
            calls: SlabMap::with_capacity(capacities.sessions.min(1 << 16)),
            owed_acks: Vec::with_capacity(capacities.sessions.min(1 << 16)),
            capacities,
            peer_moves: Vec::with_capacity(PEER_MOVES_CAPACITY),
        }
    }

    pub fn capacities(&self) -> Capacities {
        self.capacities
    }

    pub fn apply(&mut self, command: Command) -> Result<(), TableError> {
        let cap = self.capacities;
        match command {
            Command::InstallSa { spi, sa } => insert_bounded(&mut self.sas, cap.sas, spi, sa),
            Command::RemoveSa { spi } => remove(&mut self.sas, &spi),
            Command::InstallSession { key, session } => self.sessions.insert(key, session),
            Command::RemoveSession { key } => self
                .sessions
                .remove(&key)
                .map(drop)
                .ok_or(TableError::NotFound),
            Command::SetSessionIpv4 { key, ipv4 } => {
                let s = self.sessions.get_mut(&key).ok_or(TableError::NotFound)?;
                s.ipv4 = ipv4;
                Ok(())
            }
            Command::SetSessionIpv6 { key, prefix } => {
                let s = self.sessions.get_mut(&key).ok_or(TableError::NotFound)?;
                s.ipv6_prefix = prefix;
                Ok(())
            }
            Command::InstallTunnel { id, tunnel } => self.tunnels.insert(id, tunnel),
            Command::RemoveTunnel { id } => self
                .tunnels
                .remove(&id)
                .map(drop)
                .ok_or(TableError::NotFound),
            Command::UpdatePeer { tunnel, peer } => {
                let t = self.tunnels.get_mut(&tunnel).ok_or(TableError::NotFound)?;
                t.peer = peer;
                Ok(())
            }
            Command::SetTunnelSa { tunnel, sa } => {
                let t = self.tunnels.get_mut(&tunnel).ok_or(TableError::NotFound)?;
                match &mut t.encap {
                    Encap::EspUdp(e) | Encap::EspRaw(e) => {
                        e.sa = sa;
                        Ok(())
                    }
                    Encap::Plain => Err(TableError::NotFound),
                }
            }
            Command::InstallRoute { ipv4, route } => {
                let entry = RouteEntry {
                    route,
                    down: None,
                    tx: None,
                };
                self.routes4.insert(ipv4, entry)
            }
            Command::RemoveRoute { ipv4 } => self
                .routes4
                .remove(&ipv4)
                .map(drop)
                .ok_or(TableError::NotFound),
            Command::InstallRoute6 { prefix, route } => {
                let entry = RouteEntry {
                    route,
                    down: None,
                    tx: None,
                };
                self.routes6.insert(prefix, entry)
            }
            Command::RemoveRoute6 { prefix } => self
                .routes6
                .remove(&prefix)
                .map(drop)
                .ok_or(TableError::NotFound),
            Command::SetSessionLimit { key, up } => {
                self.sessions.get_mut(&key).ok_or(TableError::NotFound)?.up = up;
                Ok(())
            }
            Command::SetRouteCounters { ipv4, tx } => {
                self.routes4.get_mut(&ipv4).ok_or(TableError::NotFound)?.tx = tx;
                Ok(())
            }
            Command::SetRouteLimit { ipv4, down } => {
                self.routes4
                    .get_mut(&ipv4)
                    .ok_or(TableError::NotFound)?
                    .down = down;
                Ok(())
            }
            Command::SetRoute6Limit { prefix, down } => {
                self.routes6
                    .get_mut(&prefix)
                    .ok_or(TableError::NotFound)?
                    .down = down;
                Ok(())
            }
            Command::SetCallLimit {
                call_id,
                direction,
                limit,
            } => {
                let call = self.call_mut(call_id).ok_or(TableError::NotFound)?;
                match direction {
                    Direction::Up => call.up = limit,
                    Direction::Down => call.down = limit,
                }
                Ok(())
            }
            Command::InstallCall { call_id, call } => self.calls.insert(call_id, *call),
            // A listed call that goes away is skipped when the list is walked.
            Command::RemoveCall { call_id } => self
                .calls
                .remove(&call_id)
                .map(drop)
                .ok_or(TableError::NotFound),
            Command::SetCallIpv4 { call_id, ipv4 } => {
                self.call_mut(call_id).ok_or(TableError::NotFound)?.ipv4 = ipv4;
                Ok(())
            }
            Command::SetCallMppe { call_id, mppe } => {
                self.call_mut(call_id).ok_or(TableError::NotFound)?.mppe = mppe;
                Ok(())
            }
            Command::ResetCallMppe { call_id } => {
                let call = self.call_mut(call_id).ok_or(TableError::NotFound)?;
                if let Some(m) = call.mppe.as_mut() {
                    m.enc.reset();
                }
                Ok(())
            }
            Command::SendCallFrame { .. }
            | Command::ReportCounters { .. }
            | Command::ReportSession { .. } => Err(TableError::NotATableChange),
        }
    }

    #[inline]
    pub fn sa_mut(&mut self, spi: u32) -> Option<&mut InboundSa> {
        self.sas.get_mut(&spi).map(|sa| &mut **sa)
    }

    pub fn sa(&self, spi: u32) -> Option<&InboundSa> {
        self.sas.get(&spi).map(|sa| &**sa)
    }

    #[inline]
    pub fn session_mut(&mut self, key: SessionKey) -> Option<&mut Session> {
        self.sessions.get_mut(&key)
    }

    /// Every session's and PPTP call's counters (for the management socket; not on
    /// the packet path).
    pub fn session_counters(&self) -> Vec<SessionCounters> {
        let mut out = Vec::with_capacity(self.sessions.len() + self.calls.len());
        out.extend(self.sessions.iter().map(|(key, s)| SessionCounters {
            key: *key,
            rx_packets: s.rx_packets,
            rx_bytes: s.rx_bytes,
            tx: None,
        }));
        out.extend(self.calls.iter().map(|(call_id, c)| SessionCounters {
            key: (crate::dataplane::pptp::PPTP_ROUTE_TUNNEL, *call_id),
            rx_packets: c.rx_packets,
            rx_bytes: c.rx_bytes,
            tx: Some((c.tx_packets, c.tx_bytes)),
        }));
        out
    }

    /// One session's (or, with tunnel 0, one call's) counters; with `remove`, the
    /// entry is removed as well.
    pub fn take_session_counters(
        &mut self,
        key: SessionKey,
        remove: bool,
    ) -> Option<SessionCounters> {
        if key.0 == crate::dataplane::pptp::PPTP_ROUTE_TUNNEL {
            let c = self.calls.get(&key.1)?;
            let out = SessionCounters {
                key,
                rx_packets: c.rx_packets,
                rx_bytes: c.rx_bytes,
                tx: Some((c.tx_packets, c.tx_bytes)),
            };
            if remove {
                self.calls.remove(&key.1);
            }
            return Some(out);
        }
        let s = self.sessions.get(&key)?;
        let out = SessionCounters {
            key,
            rx_packets: s.rx_packets,
            rx_bytes: s.rx_bytes,
            tx: None,
        };
        if remove {
            self.sessions.remove(&key);
        }
        Some(out)
    }

    pub fn session(&self, key: SessionKey) -> Option<&Session> {
        self.sessions.get(&key)
    }

    #[inline]
    pub fn tunnel(&self, id: u16) -> Option<&TunnelTx> {
        self.tunnels.get(&id)
    }

    #[inline]
    pub fn route4(&self, dst: Ipv4Addr) -> Option<&Route> {
        self.route4_entry(dst).map(|e| &e.route)
    }

    /// The route for an IPv6 destination: by its /64.
    #[inline]
    pub fn route6(&self, dst: Ipv6Addr) -> Option<&Route> {
        self.route6_entry(dst).map(|e| &e.route)
    }

    /// The route and download limit for an IPv4 destination.
    #[inline]
    pub fn route4_entry(&self, dst: Ipv4Addr) -> Option<&RouteEntry> {
        self.routes4.get(&dst)
    }

    /// The route and download limit for an IPv6 destination: by its /64.
    #[inline]
    pub fn route6_entry(&self, dst: Ipv6Addr) -> Option<&RouteEntry> {
        let o = dst.octets();
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&o[..8]);
        self.routes6.get(&prefix)
    }

    #[inline]
    pub fn call_mut(&mut self, call_id: u16) -> Option<&mut PptpCall> {
        self.calls.get_mut(&call_id)
    }

    pub fn call(&self, call_id: u16) -> Option<&PptpCall> {
        self.calls.get(&call_id)
    }

    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Lists a call that newly owes an acknowledgment (the receive path, once per
    /// debt). The list has room for every call, so this never allocates.
    pub(crate) fn note_ack_owed(&mut self, call_id: u16) {
        if self.owed_acks.len() < self.owed_acks.capacity() {
            self.owed_acks.push(call_id);
        } else if let Some(c) = self.call_mut(call_id) {
            // Cannot happen with one entry per call; unlisted, it is retried.
            c.ack_listed = false;
        }
    }

    /// Walks the calls that owe an acknowledgment: `f` is given each one still
    /// present and returns whether it still owes (kept in the list) or not.
    pub fn retain_owed_acks(&mut self, mut f: impl FnMut(u16, &mut PptpCall) -> bool) {
        let calls = &mut self.calls;
        self.owed_acks.retain(|id| match calls.get_mut(id) {
            Some(call) => {
                let keep = f(*id, call);
                call.ack_listed = keep;
                keep
            }
            None => false,
        });
    }

    pub fn owed_ack_count(&self) -> usize {
        self.owed_acks.len()
    }

    pub fn sa_count(&self) -> usize {
        self.sas.len()
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub fn tunnel_count(&self) -> usize {
        self.tunnels.len()
    }

    /// IPv4 and IPv6 routes.
    pub fn route_counts(&self) -> (usize, usize) {
        (self.routes4.len(), self.routes6.len())
    }

    /// Records that SA `spi` moved to `peer` and updates [`InboundSa::peer`]. Called by
    /// the receive path only under the conditions of the module docs. Returns false
    /// (and changes nothing) when the SA is gone or the list of pending moves is full.
    pub(crate) fn record_peer_move(&mut self, spi: u32, peer: SocketAddr) -> bool {
        if self.peer_moves.len() >= PEER_MOVES_CAPACITY {
            return false;
        }
        let Some(sa) = self.sas.get_mut(&spi) else {
            return false;
        };
        sa.peer = peer;
        self.peer_moves.push(PeerMove {
            spi,
            tunnel_id: sa.tunnel_id,
            peer,
        });
        true
    }

    /// The allocated capacity of every map (tests check that churn never grows them).
    #[cfg(test)]
    pub(crate) fn allocated(&self) -> [usize; 17] {
        let [s, t, r4, r6, c] = [
            self.sessions.allocated(),
            self.tunnels.allocated(),
            self.routes4.allocated(),
            self.routes6.allocated(),
            self.calls.allocated(),
        ];
        [
            self.sas.capacity(),
            s[0],
            s[1],
            s[2],
            t[0],
            t[1],
            t[2],
            r4[0],
            r4[1],
            r4[2],
            r6[0],
            r6[1],
            r6[2],
            c[0],
            c[1],
            c[2],
            self.owed_acks.capacity(),
        ]
    }

    /// Drains the pending peer moves (oldest first), for the control thread. The
    /// storage is kept for the next ones: no allocation.
    pub fn take_peer_moves(&mut self) -> std::vec::Drain<'_, PeerMove> {
        self.peer_moves.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_capacity_is_enforced() {
        let mut t = Tables::new(Capacities {
            sas: 1,
            sessions: 2,
            tunnels: 1,
            routes: 1,
        });
        let s = || Session::new(1, None, SessionFlags::default());
        for i in 0..2 {
            t.apply(Command::InstallSession {
                key: (1, i),
                session: s(),
            })
            .unwrap();
        }
        assert_eq!(
            t.apply(Command::InstallSession {
                key: (1, 9),
                session: s()
            }),
            Err(TableError::Full)
        );
        assert_eq!(
            t.apply(Command::InstallSession {
                key: (1, 0),
                session: s()
            }),
            Err(TableError::Exists)
        );
        t.apply(Command::RemoveSession { key: (1, 0) }).unwrap();
        assert_eq!(
            t.apply(Command::RemoveSession { key: (1, 0) }),
            Err(TableError::NotFound)
        );
        // Churn within capacity never needs to grow the map.
        let cap = t.sessions.allocated();
        for i in 10..1000 {
            t.apply(Command::InstallSession {
                key: (1, i),
                session: s(),
            })
            .unwrap();
            t.apply(Command::RemoveSession { key: (1, i) }).unwrap();
        }
        assert_eq!(t.sessions.allocated(), cap);
    }

    #[test]
    fn commands_stay_small() {
        // Queue slots are sized by the largest variant.
        assert!(
            core::mem::size_of::<Command>() <= 128,
            "{}",
            core::mem::size_of::<Command>()
        );
    }

    #[test]
    fn ipv6_source_check() {
        let mut s = Session::new(1, None, SessionFlags::default());
        let global: Ipv6Addr = "2001:db8:1:2::5".parse().unwrap();
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        assert!(!s.ipv6_source_allowed(global));
        s.ipv6_prefix = Some([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2]);
        assert!(s.ipv6_source_allowed(global));
        assert!(s.ipv6_source_allowed(ll));
        assert!(!s.ipv6_source_allowed("2001:db8:1:3::5".parse().unwrap()));
    }
}

//! Per-shard counters: receive packets and bytes per protocol ([`RxProto`]), receive
//! drops by [`DropReason`], punts by [`PuntKind`]; transmit packets and bytes per
//! protocol ([`TxProto`]) and transmit drops by [`TxDrop`]; [`Event`]s (peer moves).
//!
//! Plain `u64`s, no atomics: a shard is the only writer of its counters and the
//! runtime publishes snapshots (a copy of this struct) between batches, so the hot
//! path pays one add per event. Every array is indexed by a `const fn index()` of its
//! enum, so counting never branches on a table lookup and never allocates.
#![forbid(unsafe_code)]

use crate::proto::esp::ReplayError;
use crate::wire::Layer;

/// Protocols counted on receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RxProto {
    /// ESP-in-UDP datagrams on 4500 (counted before decryption).
    EspUdp,
    /// Raw ESP (IP protocol 50) packets, IPv4 header included (before decryption).
    EspRaw,
    /// Plain L2TP datagrams on 1701.
    L2tpUdp,
    /// IKE messages seen on 4500 (after the non-ESP marker).
    IkeUdp,
    /// Inner IPv4 packets handed to TUN.
    Ipv4,
    /// Inner IPv6 packets handed to TUN.
    Ipv6,
    /// Raw GRE packets (PPTP data), IPv4 header included.
    Gre,
}

impl RxProto {
    pub const COUNT: usize = 7;
    /// Metric label of each slot (deploy/METRICS.md).
    pub const NAMES: [&'static str; Self::COUNT] = [
        "esp_udp", "esp_raw", "l2tp_udp", "ike_udp", "ipv4", "ipv6", "gre",
    ];
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Why a datagram was dropped. Each reason is a counter of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// A NAT-keepalive (RFC 3948 §2.3): expected traffic, not an error.
    NatKeepalive,
    /// No inbound SA for this SPI on this shard.
    NoSa,
    /// Refused by the anti-replay window (RFC 4303 §3.4.3).
    Replay(ReplayError),
    /// The ICV did not verify (RFC 4303 §3.4.4).
    AuthFailed,
    /// A header failed its structural checks at this layer.
    BadHeader(Layer),
    /// No L2TP session for (tunnel ID, session ID).
    NoSession,
    /// The ESP padding or pad length is invalid (RFC 4303 §2.4-§2.5).
    BadPadding,
    /// The inner source address is not the one assigned to the session.
    Spoofed,
    /// The NCP for this protocol (IPCP / IPv6CP) is not open (RFC 1661 §3.4: packets of
    /// a network-layer protocol whose NCP is not Opened are silently discarded).
    NcpClosed,
    /// ESP payload is not what an L2TP/IPsec transport SA may carry (next header not
    /// UDP, or UDP not to port 1701).
    UnexpectedPayload,
    /// The decrypted L2TP message names a tunnel other than the one the SA belongs to.
    WrongTunnel,
    /// A session that requires IPsec was reached over plain L2TP.
    Unprotected,
    /// The downstream queue (TUN or punt) was full; counted by the runtime.
    QueueFull,
    /// Plain L2TP data from an address other than its tunnel's LAC (spoofed, or a
    /// tunnel not yet set up on this shard).
    WrongPeer,
    /// PPTP: IP without MPPE on a call that requires it, or before its keys exist.
    Unencrypted,
    /// PPTP: MPPE refused the packet (not encrypted, compressed, stale coherency
    /// count, or discarded while waiting for a FLUSHED packet, RFC 3078 §8).
    Mppe,
    /// PPTP: a GRE packet at or before the highest sequence number received
    /// (duplicate or out of order, RFC 2637 §4.3).
    GreStale,
    /// Above the session's upload rate limit: policed (see [`super::ratelimit`]).
    RateLimited,
}

/// Index space of the layers a drop can name; others share the last slot.
const LAYER_SLOTS: usize = 9;

const fn layer_slot(layer: Layer) -> usize {
    match layer {
        Layer::UdpEncap => 0,
        Layer::Esp => 1,
        Layer::Udp => 2,
        Layer::L2tp => 3,
        Layer::Ppp => 4,
        Layer::Ipv4 => 5,
        Layer::Ipv6 => 6,
        Layer::Gre => 7,
        _ => 8,
    }
}

const fn replay_slot(e: ReplayError) -> usize {
    match e {
        ReplayError::Zero => 0,
        ReplayError::Duplicate => 1,
        ReplayError::TooOld => 2,
    }
}

impl DropReason {
    /// Number of distinct counters.
    pub const COUNT: usize = 15 + 3 + LAYER_SLOTS + 1;

    /// Metric label of each slot (deploy/METRICS.md).
    pub const NAMES: [&'static str; Self::COUNT] = [
        "nat_keepalive",
        "no_sa",
        "auth_failed",
        "no_session",
        "bad_padding",
        "spoofed",
        "ncp_closed",
        "unexpected_payload",
        "wrong_tunnel",
        "unprotected",
        "queue_full",
        "wrong_peer",
        "unencrypted",
        "mppe",
        "gre_stale",
        "replay_zero",
        "replay_duplicate",
        "replay_too_old",
        "bad_header_udp_encap",
        "bad_header_esp",
        "bad_header_udp",
        "bad_header_l2tp",
        "bad_header_ppp",
        "bad_header_ipv4",
        "bad_header_ipv6",
        "bad_header_gre",
        "bad_header_other",
        "rate_limited",
    ];

    /// The counter slot of this reason.
    pub const fn index(self) -> usize {
        match self {
            DropReason::NatKeepalive => 0,
            DropReason::NoSa => 1,
            DropReason::AuthFailed => 2,
            DropReason::NoSession => 3,
            DropReason::BadPadding => 4,
            DropReason::Spoofed => 5,
            DropReason::NcpClosed => 6,
            DropReason::UnexpectedPayload => 7,
            DropReason::WrongTunnel => 8,
            DropReason::Unprotected => 9,
            DropReason::QueueFull => 10,
            DropReason::WrongPeer => 11,
            DropReason::Unencrypted => 12,
            DropReason::Mppe => 13,
            DropReason::GreStale => 14,
            DropReason::Replay(e) => 15 + replay_slot(e),
            DropReason::BadHeader(l) => 18 + layer_slot(l),
            DropReason::RateLimited => 18 + LAYER_SLOTS,
        }
    }

    /// False for events that are normal traffic (keepalives).
    pub const fn is_error(self) -> bool {
        !matches!(self, DropReason::NatKeepalive)
    }
}

/// What was punted to the control thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PuntKind {
    /// IKE on 4500 after the non-ESP marker (RFC 3948 §2.2).
    Ike,
    /// An L2TP control message (T bit set, RFC 2661 §3.1).
    L2tpControl,
    /// LCP (RFC 1661 §5).
    Lcp,
    /// PAP or CHAP (RFC 1334, RFC 1994).
    Auth,
    /// IPCP (RFC 1332).
    Ipcp,
    /// IPv6CP (RFC 5072).
    Ipv6cp,
    /// CCP (RFC 1962).
    Ccp,
    /// Any other PPP protocol: the control thread answers with LCP Protocol-Reject
    /// (RFC 1661 §5.7).
    PppOther,
    /// MPPE lost sync (stateful mode): the control thread sends a CCP Reset-Request
    /// (RFC 3078 §8). No bytes.
    MppeReset,
}

impl PuntKind {
    pub const COUNT: usize = 9;
    /// Metric label of each slot (deploy/METRICS.md).
    pub const NAMES: [&'static str; Self::COUNT] = [
        "ike",
        "l2tp_control",
        "lcp",
        "auth",
        "ipcp",
        "ipv6cp",
        "ccp",
        "ppp_other",
        "mppe_reset",
    ];
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Protocols counted on transmit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxProto {
    /// ESP-in-UDP datagrams sent from 4500 (UDP payload bytes).
    EspUdp,
    /// Raw ESP packets (ESP bytes, without the IP header the kernel adds).
    EspRaw,
    /// Plain L2TP datagrams sent from 1701 (UDP payload bytes).
    L2tpUdp,
    /// Inner IPv4 packets read from TUN and sent.
    Ipv4,
    /// Inner IPv6 packets read from TUN and sent.
    Ipv6,
    /// GRE packets sent on the raw protocol-47 socket (GRE bytes).
    Gre,
}

impl TxProto {
    pub const COUNT: usize = 6;
    /// Metric label of each slot (deploy/METRICS.md).
    pub const NAMES: [&'static str; Self::COUNT] =
        ["esp_udp", "esp_raw", "l2tp_udp", "ipv4", "ipv6", "gre"];
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Why a packet read from TUN was not sent. Each reason is a counter of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxDrop {
    /// No route for the destination (IPv4 address or IPv6 /64).
    NoRoute,
    /// The route names a tunnel this shard does not have.
    NoTunnel,
    /// The IP header failed its checks (an unknown version counts as IPv4).
    BadHeader(Layer),
    /// Not enough head- or tailroom around the packet in the buffer.
    NoRoom,
    /// The encapsulated packet would not fit its 16-bit UDP Length.
    TooBig,
    /// The outbound SA's sequence numbers are exhausted: it must be rekeyed
    /// (RFC 4303 §3.3.3).
    SeqExhausted,
    /// The transform refused to seal the packet.
    Crypto,
    /// PPTP: the call requires MPPE and its keys are not installed yet.
    Unencrypted,
    /// PPTP: the call is owned by another shard and its handoff ring was full (or
    /// the packet too large for a ring slot).
    Handoff,
    /// PPTP: no call on the owner shard for the route.
    NoCall,
    /// Above the session's download rate limit: policed (see [`super::ratelimit`]).
    RateLimited,
}

impl TxDrop {
    /// Number of distinct counters.
    pub const COUNT: usize = 9 + LAYER_SLOTS + 1;

    /// Metric label of each slot (deploy/METRICS.md).
    pub const NAMES: [&'static str; Self::COUNT] = [
        "no_route",
        "no_tunnel",
        "no_room",
        "too_big",
        "seq_exhausted",
        "crypto",
        "unencrypted",
        "handoff",
        "no_call",
        "bad_header_udp_encap",
        "bad_header_esp",
        "bad_header_udp",
        "bad_header_l2tp",
        "bad_header_ppp",
        "bad_header_ipv4",
        "bad_header_ipv6",
        "bad_header_gre",
        "bad_header_other",
        "rate_limited",
    ];

    /// The counter slot of this reason.
    pub const fn index(self) -> usize {
        match self {
            TxDrop::NoRoute => 0,
            TxDrop::NoTunnel => 1,
            TxDrop::NoRoom => 2,
            TxDrop::TooBig => 3,
            TxDrop::SeqExhausted => 4,
            TxDrop::Crypto => 5,
            TxDrop::Unencrypted => 6,
            TxDrop::Handoff => 7,
            TxDrop::NoCall => 8,
            TxDrop::BadHeader(l) => 9 + layer_slot(l),
            TxDrop::RateLimited => 9 + LAYER_SLOTS,
        }
    }
}

/// Events that are neither traffic nor drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// An SA's peer moved (recorded for the control thread).
    PeerMove,
    /// A peer move could not be recorded: the pending list was full (retried on the
    /// next packet from the new address).
    PeerMoveOverflow,
}

impl Event {
    pub const COUNT: usize = 2;
    /// Metric label of each slot.
    pub const NAMES: [&'static str; Self::COUNT] = ["peer_move", "peer_move_overflow"];
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// One shard's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub rx_packets: [u64; RxProto::COUNT],
    pub rx_bytes: [u64; RxProto::COUNT],
    pub drops: [u64; DropReason::COUNT],
    pub punts: [u64; PuntKind::COUNT],
    pub tx_packets: [u64; TxProto::COUNT],
    pub tx_bytes: [u64; TxProto::COUNT],
    pub tx_drops: [u64; TxDrop::COUNT],
    pub events: [u64; Event::COUNT],
}

impl Counters {
    pub const fn new() -> Self {
        Counters {
            rx_packets: [0; RxProto::COUNT],
            rx_bytes: [0; RxProto::COUNT],
            drops: [0; DropReason::COUNT],
            punts: [0; PuntKind::COUNT],
            tx_packets: [0; TxProto::COUNT],
            tx_bytes: [0; TxProto::COUNT],
            tx_drops: [0; TxDrop::COUNT],
            events: [0; Event::COUNT],
        }
    }

    #[inline]
    pub fn rx(&mut self, proto: RxProto, bytes: usize) {
        let i = proto.index();
        self.rx_packets[i] = self.rx_packets[i].wrapping_add(1);
        self.rx_bytes[i] = self.rx_bytes[i].wrapping_add(bytes as u64);
    }

    #[inline]
    pub fn drop(&mut self, reason: DropReason) {
        let i = reason.index();
        self.drops[i] = self.drops[i].wrapping_add(1);
    }

    #[inline]
    pub fn punt(&mut self, kind: PuntKind) {
        let i = kind.index();
        self.punts[i] = self.punts[i].wrapping_add(1);
    }

    pub fn drops_for(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()]
    }

    pub fn punts_for(&self, kind: PuntKind) -> u64 {
        self.punts[kind.index()]
    }

    pub fn rx_packets_for(&self, proto: RxProto) -> u64 {
        self.rx_packets[proto.index()]
    }

    #[inline]
    pub fn tx(&mut self, proto: TxProto, bytes: usize) {
        let i = proto.index();
        self.tx_packets[i] = self.tx_packets[i].wrapping_add(1);
        self.tx_bytes[i] = self.tx_bytes[i].wrapping_add(bytes as u64);
    }

    #[inline]
    pub fn tx_drop(&mut self, reason: TxDrop) {
        let i = reason.index();
        self.tx_drops[i] = self.tx_drops[i].wrapping_add(1);
    }

    #[inline]
    pub fn event(&mut self, event: Event) {
        let i = event.index();
        self.events[i] = self.events[i].wrapping_add(1);
    }

    pub fn tx_packets_for(&self, proto: TxProto) -> u64 {
        self.tx_packets[proto.index()]
    }

    pub fn tx_bytes_for(&self, proto: TxProto) -> u64 {
        self.tx_bytes[proto.index()]
    }

    pub fn tx_drops_for(&self, reason: TxDrop) -> u64 {
        self.tx_drops[reason.index()]
    }

    pub fn events_for(&self, event: Event) -> u64 {
        self.events[event.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_match_their_slots() {
        assert_eq!(DropReason::NAMES[DropReason::Spoofed.index()], "spoofed");
        assert_eq!(DropReason::NAMES[DropReason::GreStale.index()], "gre_stale");
        assert_eq!(
            DropReason::NAMES[DropReason::Replay(ReplayError::TooOld).index()],
            "replay_too_old"
        );
        assert_eq!(
            DropReason::NAMES[DropReason::BadHeader(Layer::Esp).index()],
            "bad_header_esp"
        );
        assert_eq!(
            DropReason::NAMES[DropReason::BadHeader(Layer::Radius).index()],
            "bad_header_other"
        );
        assert_eq!(
            DropReason::NAMES[DropReason::RateLimited.index()],
            "rate_limited"
        );
        assert_eq!(TxDrop::NAMES[TxDrop::NoCall.index()], "no_call");
        assert_eq!(
            TxDrop::NAMES[TxDrop::BadHeader(Layer::Gre).index()],
            "bad_header_gre"
        );
        assert_eq!(TxDrop::NAMES[TxDrop::RateLimited.index()], "rate_limited");
        assert_eq!(RxProto::NAMES[RxProto::Gre.index()], "gre");
        assert_eq!(TxProto::NAMES[TxProto::Ipv6.index()], "ipv6");
        assert_eq!(PuntKind::NAMES[PuntKind::MppeReset.index()], "mppe_reset");
        // Names are unique within a family (they become label values).
        for names in [
            &DropReason::NAMES[..],
            &TxDrop::NAMES[..],
            &PuntKind::NAMES[..],
        ] {
            let set: std::collections::HashSet<_> = names.iter().collect();
            assert_eq!(set.len(), names.len());
        }
    }

    #[test]
    fn drop_indices_are_distinct_and_in_range() {
        let mut all = vec![
            DropReason::NatKeepalive,
            DropReason::NoSa,
            DropReason::AuthFailed,
            DropReason::NoSession,
            DropReason::BadPadding,
            DropReason::Spoofed,
            DropReason::NcpClosed,
            DropReason::UnexpectedPayload,
            DropReason::WrongTunnel,
            DropReason::Unprotected,
            DropReason::QueueFull,
            DropReason::WrongPeer,
            DropReason::Unencrypted,
            DropReason::Mppe,
            DropReason::GreStale,
            DropReason::RateLimited,
            DropReason::Replay(ReplayError::Zero),
            DropReason::Replay(ReplayError::Duplicate),
            DropReason::Replay(ReplayError::TooOld),
        ];
        for l in [
            Layer::UdpEncap,
            Layer::Esp,
            Layer::Udp,
            Layer::L2tp,
            Layer::Ppp,
            Layer::Ipv4,
            Layer::Ipv6,
            Layer::Gre,
            Layer::Radius,
        ] {
            all.push(DropReason::BadHeader(l));
        }
        let mut seen = [false; DropReason::COUNT];
        for r in all {
            assert!(!seen[r.index()], "{r:?}");
            seen[r.index()] = true;
        }
        let mut c = Counters::new();
        c.drop(DropReason::Spoofed);
        assert_eq!(c.drops_for(DropReason::Spoofed), 1);
        assert_eq!(c.drops_for(DropReason::NoSa), 0);
    }

    #[test]
    fn tx_drop_indices_are_distinct_and_in_range() {
        let mut all = vec![
            TxDrop::NoRoute,
            TxDrop::NoTunnel,
            TxDrop::NoRoom,
            TxDrop::TooBig,
            TxDrop::SeqExhausted,
            TxDrop::Crypto,
            TxDrop::Unencrypted,
            TxDrop::Handoff,
            TxDrop::NoCall,
            TxDrop::RateLimited,
        ];
        for l in [
            Layer::UdpEncap,
            Layer::Esp,
            Layer::Udp,
            Layer::L2tp,
            Layer::Ppp,
            Layer::Ipv4,
            Layer::Ipv6,
            Layer::Gre,
            Layer::Radius,
        ] {
            all.push(TxDrop::BadHeader(l));
        }
        let mut seen = [false; TxDrop::COUNT];
        for r in all {
            assert!(!seen[r.index()], "{r:?}");
            seen[r.index()] = true;
        }
        assert!(seen.iter().all(|s| *s));
        let mut c = Counters::new();
        c.tx_drop(TxDrop::NoRoute);
        c.tx(TxProto::EspUdp, 100);
        c.event(Event::PeerMove);
        assert_eq!(c.tx_drops_for(TxDrop::NoRoute), 1);
        assert_eq!(c.tx_drops_for(TxDrop::NoTunnel), 0);
        assert_eq!(c.tx_bytes_for(TxProto::EspUdp), 100);
        assert_eq!(c.tx_packets_for(TxProto::EspRaw), 0);
        assert_eq!(c.events_for(Event::PeerMove), 1);
    }
}

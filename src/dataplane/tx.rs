//! The transmit path of one shard: one IP packet read from a TUN queue in, one
//! instruction out.
//!
//! [`tun_input`] takes an IPv4 or IPv6 packet (the version nibble says which), finds
//! the subscriber's [`Route`] by destination (the IPv4 address, or
//! the IPv6 /64) and the route's [`TunnelTx`], and encapsulates the packet *in place*,
//! growing it into the head- and tailroom the runtime leaves around it:
//!
//! ```text
//!  plain L2TP (to peer:port from our 1701):
//!                               | L2TP 6 | PPP 4 | IP packet |
//!  ESP (ESP-in-UDP from our 4500 to peer:port, RFC 3948 §2.1; or raw ESP, IP proto 50):
//!  | SPI | Seq | IV | UDP 8 | L2TP 6 | PPP 4 | IP packet | pad | pl | nh=17 | ICV |
//! ```
//!
//! - **PPP** (RFC 1661 §2, RFC 1662 §3.1): the full header `FF 03` + two-octet protocol
//!   (0x0021 IPv4, 0x0057 IPv6). A receiver must accept the uncompressed form whatever
//!   ACFC/PFC negotiated (RFC 1661 §6.5-§6.6), so the data plane needs no per-session
//!   LCP state, and a fixed 4-octet header keeps the offsets constant.
//! - **L2TP** (RFC 2661 §3.1): the 6-octet data header (version 2; no L, S or O bit:
//!   Length is optional on data messages, and sequencing is not requested) with the
//!   *peer's* tunnel and session IDs.
//! - **Inner UDP** (transport-mode ESP, RFC 4303 §3.1.1): from `inner_src_port` (our
//!   1701) to the client's L2TP port. Over an IPv4 outer header the checksum is 0:
//!   RFC 768 makes it optional over IPv4, and a receiver behind NAT must ignore or
//!   recompute it anyway (RFC 3948 §3.1.2) because the outer addresses change on the
//!   way; the ESP ICV protects every byte. Over IPv6 a zero UDP checksum is not
//!   allowed (RFC 8200 §8.1), so it is computed over the pseudo-header of `local` and
//!   the peer's address (both must be IPv6; a tunnel whose addresses mix families gets
//!   0, which only a misconfiguration can produce).
//! - **ESP** (RFC 4303 §2-§3.3): SPI, the low 32 bits of the sequence number from the
//!   shared [`OutboundSa::next_seq`](super::tables::OutboundSa::next_seq) counter, room
//!   for the IV, the RFC 4303 §2.4 trailer with Next Header 17 (UDP) by
//!   [`Transform::encode_trailer`], then [`Transform::seal`] in place. Everything that
//!   can fail is checked *before* a sequence number is taken, so a drop never burns one.
//!
//! The result is an instruction holding a range of the caller's buffer and where to
//! send it ([`Tx::Send`]); the runtime sends it on the socket [`Via`] names. For raw
//! ESP the range is the ESP packet only: the kernel's raw socket writes the IPv4
//! header. Every drop is counted under its [`TxDrop`] reason, every send under its
//! [`TxProto`] (outer) and the inner IP version.
//!
//! # Decisions
//!
//! - **Room**: [`TX_HEADROOM`] and [`TX_TAILROOM`] are what the worst suite needs
//!   (AES-CBC: 8 + 16 octets of ESP header and IV, 18 of UDP/L2TP/PPP in front; up to
//!   15 octets of padding, 2 of trailer and a 32-octet HMAC-SHA-512-256 ICV behind; a
//!   test checks every suite). A runtime that reserves them never sees
//!   [`TxDrop::NoRoom`]; the check itself is against what this packet's encapsulation
//!   needs.
//! - **Length**: the IP header's own length (IPv4 Total Length, IPv6 40 + Payload
//!   Length) trims the packet; bytes after it are not sent. The IPv4 header checksum
//!   is not verified (the kernel wrote it) and the TTL is not decremented (the kernel
//!   routed the packet to the TUN device, which did that).
//! - **No fragmentation here**: a packet whose encapsulation exceeds the path MTU is
//!   the kernel's to fragment on output (the outer IP header is its own); the TUN MTU
//!   is set so that this is rare. Only a packet that cannot be encoded at all (inner
//!   UDP Length above 65535) is dropped ([`TxDrop::TooBig`]).
//! - **PPTP**: a route with [`super::pptp::PPTP_ROUTE_TUNNEL`] names a PPTP call, whose
//!   transmit state has a single owner ([`Tx::Call`], see [`super::pptp`]).
//! - **Rate limit**: the route entry's download bucket ([`RouteEntry::down`], a
//!   [`super::ratelimit::SharedTokenBucket`] shared lock-free by every shard, since any
//!   shard may transmit for the session) is checked once the route and tunnel are
//!   found and *before* any encapsulation, so a policed packet
//!   ([`TxDrop::RateLimited`]) never takes an ESP sequence number. A PPTP call's
//!   download limit lives in the call on its owner ([`super::pptp::encap`]); a route
//!   limit on a PPTP route, if the control thread sets one, is applied here, before
//!   the handoff to the owner.
//! - **Which shard**: any. Tunnels and routes are replicated on every shard and the
//!   outbound SA's counter is shared (see the [`super::tables`] docs), so the shard
//!   that read the packet from its TUN queue sends it without a hand-over.
//!
//! Nothing here allocates, locks or makes a syscall.
#![forbid(unsafe_code)]

use core::net::{IpAddr, SocketAddr};
use core::ops::Range;
use std::time::Instant;

pub use super::counters::TxDrop;
use super::counters::{Counters, TxProto};
use super::tables::{Encap, EspEncap, OutboundSa, Route, RouteEntry, Tables, TunnelTx};
use crate::crypto::esp::{ESP_HEADER_LEN, Transform};
use crate::wire::ipv4::Protocol as IpProtocol;
use crate::wire::{Layer, ipv4, ipv6, l2tp, ppp, udp};

/// Octets the runtime leaves free in front of each packet read from TUN.
pub const TX_HEADROOM: usize = 64;
/// Octets the runtime leaves free after each packet read from TUN.
pub const TX_TAILROOM: usize = 64;

/// The PPP header we send: Address, Control and a two-octet Protocol (RFC 1662 §3.1).
const PPP_HEADER_LEN: usize = ppp::ADDRESS_CONTROL_LEN + 2;
/// The L2TP data header we send: flags/version, tunnel ID, session ID (RFC 2661 §3.1).
const L2TP_HEADER_LEN: usize = l2tp::MIN_HEADER_LEN;
/// L2TP + PPP in front of the IP packet.
const L2TP_PPP_LEN: usize = L2TP_HEADER_LEN + PPP_HEADER_LEN;

/// What the shard does with a packet read from TUN. The range indexes the caller's
/// buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tx {
    /// Send `buf[range]` to `to` on the socket `via` names.
    Send {
        range: Range<usize>,
        /// For [`Via::RawEsp`] the port is 0.
        to: SocketAddr,
        via: Via,
    },
    /// A PPTP call's packet `buf[range]` (the IP packet): the call's owner shard
    /// encapsulates it ([`super::pptp::encap`]), after a handoff if that is not us.
    Call { call_id: u16, range: Range<usize> },
    /// Dropped (already counted).
    Drop(TxDrop),
}

impl Tx {
    /// The bytes to send, in the buffer the instruction was computed from.
    pub fn slice<'b>(&self, buffer: &'b [u8]) -> Option<&'b [u8]> {
        match self {
            Tx::Send { range, .. } => buffer.get(range.clone()),
            Tx::Call { .. } | Tx::Drop(_) => None,
        }
    }
}

/// The socket a [`Tx::Send`] goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// The shard's UDP socket bound to port 4500: ESP-in-UDP (the range starts at the
    /// SPI; no non-ESP marker is needed, RFC 3948 §2.1).
    Udp4500,
    /// The shard's UDP socket bound to port 1701: plain L2TP.
    Udp1701,
    /// The shard's raw IPv4 protocol-50 socket (the kernel writes the IP header). The
    /// control thread installs [`Encap::EspRaw`] for IPv4 peers only.
    RawEsp,
}

#[inline]
fn dropped(counters: &mut Counters, reason: TxDrop) -> Tx {
    counters.tx_drop(reason);
    Tx::Drop(reason)
}

/// The TUN input node: encapsulates `buf[ip]` in place and says where to send it. See
/// the module docs. `buf` should hold [`TX_HEADROOM`] octets before `ip.start` and
/// [`TX_TAILROOM`] after the packet; what it does not need may be absent. `now` is the
/// shard's batch time, for the rate limit.
pub fn tun_input(
    tables: &Tables,
    counters: &mut Counters,
    now: Instant,
    buf: &mut [u8],
    ip: Range<usize>,
) -> Tx {
    let Some(bytes) = buf.get(ip.clone()) else {
        return dropped(counters, TxDrop::NoRoom);
    };
    let (route, ip_len, inner) = match bytes.first().map(|b| b >> 4) {
        Some(6) => {
            let Ok(packet) = ipv6::Packet::new_checked(bytes) else {
                return dropped(counters, TxDrop::BadHeader(Layer::Ipv6));
            };
            let len = ipv6::HEADER_LEN + usize::from(packet.payload_len());
            (tables.route6_entry(packet.dst_addr()), len, TxProto::Ipv6)
        }
        // Version 4, and anything else (an IPv4 view refuses it) counted as IPv4.
        _ => {
            let Ok(packet) = ipv4::Packet::new_checked(bytes) else {
                return dropped(counters, TxDrop::BadHeader(Layer::Ipv4));
            };
            let len = usize::from(packet.total_len());
            (tables.route4_entry(packet.dst_addr()), len, TxProto::Ipv4)
        }
    };
    let Some(RouteEntry {
        route,
        down,
        tx: session_tx,
    }) = route
    else {
        return dropped(counters, TxDrop::NoRoute);
    };
    let tunnel = match route.tunnel {
        super::pptp::PPTP_ROUTE_TUNNEL => None,
        id => match tables.tunnel(id) {
            Some(t) => Some(t),
            None => return dropped(counters, TxDrop::NoTunnel),
        },
    };
    if let Some(down) = down.as_deref()
        && !down.admit(now, ip_len)
    {
        return dropped(counters, TxDrop::RateLimited);
    }
    let Some(tunnel) = tunnel else {
        // Counted where it is encapsulated.
        return Tx::Call {
            call_id: route.session.1,
            range: ip.start..ip.start + ip_len,
        };
    };
    // new_checked guarantees ip_len <= bytes.len(), so this cannot overflow.
    let ip = ip.start..ip.start + ip_len;
    let protocol = match inner {
        TxProto::Ipv6 => ppp::Protocol::Ipv6,
        _ => ppp::Protocol::Ipv4,
    };
    let tx = match &tunnel.encap {
        Encap::Plain => plain(counters, buf, ip, route, tunnel, protocol),
        Encap::EspUdp(esp) => encap_esp(counters, buf, ip, route, tunnel, esp, protocol, false),
        Encap::EspRaw(esp) => encap_esp(counters, buf, ip, route, tunnel, esp, protocol, true),
    };
    if matches!(tx, Tx::Send { .. }) {
        counters.tx(inner, ip_len);
        if let Some(c) = session_tx.as_deref() {
            c.add(ip_len);
        }
    }
    tx
}

/// Writes the L2TP data header and the PPP header into `front`, which must be exactly
/// [`L2TP_PPP_LEN`] octets.
#[inline]
fn write_l2tp_ppp(
    front: &mut [u8],
    peer_tunnel_id: u16,
    peer_session_id: u16,
    protocol: ppp::Protocol,
) {
    let (l2tp_header, ppp_header) = front.split_at_mut(L2TP_HEADER_LEN);
    l2tp::Repr::data(peer_tunnel_id, peer_session_id, &[])
        .emit_header(&mut l2tp::Packet::new_unchecked(l2tp_header), 0);
    ppp::emit_header(ppp_header, protocol, false, false);
}

/// Plain L2TP over UDP (RFC 2661 §3.1, §8.1).
fn plain(
    counters: &mut Counters,
    buf: &mut [u8],
    ip: Range<usize>,
    route: &Route,
    tunnel: &TunnelTx,
    protocol: ppp::Protocol,
) -> Tx {
    let Some(start) = ip.start.checked_sub(L2TP_PPP_LEN) else {
        return dropped(counters, TxDrop::NoRoom);
    };
    let Some(front) = buf.get_mut(start..ip.start) else {
        return dropped(counters, TxDrop::NoRoom);
    };
    write_l2tp_ppp(
        front,
        tunnel.peer_tunnel_id,
        route.peer_session_id,
        protocol,
    );
    counters.tx(TxProto::L2tpUdp, ip.end - start);
    Tx::Send {
        range: start..ip.end,
        to: tunnel.peer,
        via: Via::Udp1701,
    }
}

/// Transport-mode ESP around UDP/L2TP/PPP (RFC 4303 §3.1.1, §3.3; RFC 3948 §2.1).
#[allow(clippy::too_many_arguments)]
fn encap_esp(
    counters: &mut Counters,
    buf: &mut [u8],
    ip: Range<usize>,
    route: &Route,
    tunnel: &TunnelTx,
    esp: &EspEncap,
    protocol: ppp::Protocol,
    raw: bool,
) -> Tx {
    let sa = &*esp.sa;
    let transform = &sa.transform;
    // The ESP payload: UDP + L2TP + PPP + IP.
    let payload_len = udp::HEADER_LEN + L2TP_PPP_LEN + ip.len();
    let udp_at = transform.payload_offset();
    let front = udp_at + udp::HEADER_LEN + L2TP_PPP_LEN;
    let Some(start) = ip.start.checked_sub(front) else {
        return dropped(counters, TxDrop::NoRoom);
    };
    let end = start + transform.packet_len(payload_len);
    let Some(packet) = buf.get_mut(start..end) else {
        return dropped(counters, TxDrop::NoRoom);
    };
    {
        let l2tp_ppp = &mut packet[udp_at + udp::HEADER_LEN..front];
        write_l2tp_ppp(
            l2tp_ppp,
            tunnel.peer_tunnel_id,
            route.peer_session_id,
            protocol,
        );
    }
    let ports = (esp.inner_src_port, esp.inner_dst_port);
    if let Err(drop) = seal_in_place(sa, esp.local, tunnel.peer.ip(), ports, packet, payload_len) {
        return dropped(counters, drop);
    }
    let (to, via, proto) = if raw {
        (
            SocketAddr::new(tunnel.peer.ip(), 0),
            Via::RawEsp,
            TxProto::EspRaw,
        )
    } else {
        (tunnel.peer, Via::Udp4500, TxProto::EspUdp)
    };
    counters.tx(proto, end - start);
    Tx::Send {
        range: start..end,
        to,
        via,
    }
}

/// Seals `packet` (exactly `packet_len(payload_len)` octets: ESP header, IV room, a
/// UDP header to fill, `payload_len - 8` octets of UDP payload already in place, room
/// for the trailer and ICV) as transport-mode ESP around UDP from `ports.0` to
/// `ports.1`. Everything that can fail is checked before a sequence number is taken.
fn seal_in_place(
    sa: &OutboundSa,
    local: IpAddr,
    peer: IpAddr,
    ports: (u16, u16),
    packet: &mut [u8],
    payload_len: usize,
) -> Result<(), TxDrop> {
    let transform = &sa.transform;
    let Ok(udp_len) = u16::try_from(payload_len) else {
        return Err(TxDrop::TooBig);
    };
    let udp_at = transform.payload_offset();
    if packet.len() != transform.packet_len(payload_len) || payload_len < udp::HEADER_LEN {
        return Err(TxDrop::NoRoom);
    }
    let Some(seq) = sa.next_seq() else {
        return Err(TxDrop::SeqExhausted);
    };
    packet[..4].copy_from_slice(&sa.spi.to_be_bytes());
    // The low 32 bits go on the wire; with ESN the high half is only authenticated.
    packet[4..ESP_HEADER_LEN].copy_from_slice(&(seq as u32).to_be_bytes());
    {
        let mut u = udp::Packet::new_unchecked(&mut packet[udp_at..udp_at + udp::HEADER_LEN]);
        u.set_src_port(ports.0);
        u.set_dst_port(ports.1);
        u.set_len(udp_len);
        u.set_checksum(0);
    }
    if let (IpAddr::V6(local), IpAddr::V6(peer)) = (local, peer) {
        udp::Packet::new_unchecked(&mut packet[udp_at..udp_at + payload_len])
            .fill_checksum(udp::IpPair::V6(local, peer));
    }
    if transform
        .encode_trailer(packet, payload_len, u8::from(IpProtocol::Udp))
        .is_err()
        || transform.seal(seq, packet).is_err()
    {
        return Err(TxDrop::Crypto);
    }
    Ok(())
}

/// For the control thread (allocation allowed): `payload` (an L2TP message) as a
/// transport-mode ESP packet under `sa`, inner UDP from `src_port` to `dst_port`
/// (checksum rules as in the module docs), from the SPI to the ICV: the payload of a
/// UDP/4500 datagram (RFC 3948 §2.1), or what a raw protocol-50 socket sends. The
/// sequence number comes from the SA's shared counter, so it never repeats one a
/// shard used.
pub fn seal_udp_transport(
    sa: &OutboundSa,
    local: IpAddr,
    peer: IpAddr,
    src_port: u16,
    dst_port: u16,
    payload: &[u8],
) -> Result<Vec<u8>, TxDrop> {
    let transform = &sa.transform;
    let payload_len = udp::HEADER_LEN + payload.len();
    let mut packet = vec![0u8; transform.packet_len(payload_len)];
    let at = transform.payload_offset() + udp::HEADER_LEN;
    packet[at..at + payload.len()].copy_from_slice(payload);
    seal_in_place(
        sa,
        local,
        peer,
        (src_port, dst_port),
        &mut packet,
        payload_len,
    )?;
    Ok(packet)
}

#[cfg(test)]
mod tests;

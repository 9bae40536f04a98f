//! The receive path of one shard: one datagram in, one instruction out.
//!
//! Three entry nodes, one per socket kind the runtime owns:
//!
//! - [`esp_udp_input`]: the payload of a UDP/4500 datagram (RFC 3948 §2): a
//!   NAT-keepalive (§2.3, dropped and counted as such, not an error), IKE after the
//!   non-ESP marker (§2.2, punted), or ESP (§2.1). ESP goes: SA by SPI (RFC 4303
//!   §3.4.2) → sequence number and ESN inference + replay `check` (§3.4.3, before any
//!   crypto) → `open` in place (§3.4.4; the ICV is verified before any plaintext is
//!   used) → replay `commit` (only now may the window move: a forged packet never moves
//!   it) → transport-mode payload: Next Header must be UDP, and the UDP datagram must go
//!   to port 1701 → L2TP.
//! - [`esp_raw_input`]: a packet from the raw IPv4 protocol-50 socket (ESP without
//!   NAT-T, RFC 4303 over IP): the IPv4 header is checked and skipped (IHL, Total
//!   Length) and the ESP packet goes through the same ESP node; its source is the IP
//!   source address with port 0.
//! - [`l2tp_udp_input`]: the payload of a UDP/1701 datagram (plain L2TP, the LNS role).
//!
//! After the replay commit, an ESP packet with the SA's highest sequence number from an
//! address other than the SA's peer moves the peer (NAT rebinding): see the
//! [`super::tables`] docs for the rule and the RFC sections, and
//! [`Tables::take_peer_moves`].
//!
//! Both continue in the shared L2TP node (RFC 2661 §3.1): control messages (T bit) are
//! punted; data messages are demultiplexed by (tunnel ID, session ID), the PPP header is
//! decoded with or without ACFC/PFC (RFC 1661 §6.5-§6.6: a receiver accepts both
//! forms whatever was negotiated), and PPP network-layer packets (RFC 1661 §2) are
//! checked and handed to TUN. PPP control protocols (LCP RFC 1661 §5, PAP, CHAP, IPCP,
//! IPv6CP, CCP) and unknown protocols (which need an LCP Protocol-Reject, §5.7) are
//! punted.
//!
//! # Decisions
//!
//! - **Inner UDP checksum**: not verified. In transport mode behind NAT the checksum
//!   was computed over the pre-NAT addresses, which RFC 3948 §3.1.2 lets the receiver
//!   either fix up incrementally (it needs the NAT-OA payloads) or skip; the ESP ICV
//!   already authenticates every byte of the datagram, so the checksum adds nothing.
//!   The UDP Length is checked (at least the header, at most what decrypted) and
//!   trims the L2TP message. The inner source port is not checked (clients behind NAT
//!   may use a port other than 1701); the destination port must be 1701.
//! - **SA binds the tunnel**: a decrypted L2TP *data* message must name the tunnel the
//!   SA was installed for ([`DropReason::WrongTunnel`]); otherwise one IPsec client
//!   could inject into another subscriber's session. Control messages are punted with
//!   the SPI and the control thread checks them (SCCRQ carries tunnel ID 0).
//! - **Plain L2TP** cannot reach a session whose tunnel requires IPsec
//!   ([`DropReason::Unprotected`]), and its data must come from the tunnel's LAC: the
//!   source address and port must be the tunnel's peer ([`DropReason::WrongPeer`]).
//! - **Anti-spoofing**: an IPv4 source must equal the address IPCP assigned; an IPv6
//!   source must be in the session's /64 or link-local. IP while the NCP is closed is
//!   dropped ([`DropReason::NcpClosed`], RFC 1661 §3.4 "silently discarded").
//! - **Inner IP**: the length fields are checked and the output range is trimmed to the
//!   IP total length; the IPv4 header checksum is left to the kernel's TUN input.
//! - **Rate limit**: a session's upload bucket ([`super::ratelimit`]) is the last check
//!   before TUN, after decryption, replay commit and anti-spoofing, so only packets
//!   that would be delivered spend tokens; a packet over the rate is dropped as
//!   [`DropReason::RateLimited`]. `now` is the shard's batch time (nothing here reads
//!   a clock).
//! - L2TP data sequence numbers (S bit) are ignored: RFC 2661 §5.4 makes in-order
//!   delivery optional for the receiver and PPP tolerates reordering.
//! - **Output**: the instruction holds *ranges* into the caller's buffer rather than
//!   `&mut [u8]`: a batch can store them in a plain `out` array while the buffers stay
//!   with the runtime; [`Rx::slice`] turns one back into the bytes.
//! - **Batch**: [`process_batch`] runs the nodes packet by packet. VPP's pass split pays
//!   when a pass can work across packets (multi-buffer AES, prefetching the SA lines of
//!   the next packets); `ring` opens one packet at a time, so the split would only add
//!   intermediate state. The two-phase replay property holds per packet (check before
//!   `open`, commit after), so two copies of one packet in a batch yield one ToTun and
//!   one `Replay(Duplicate)`. The split can be introduced behind the same signature.
//!
//! Nothing here allocates, locks or makes a syscall.
#![forbid(unsafe_code)]

use core::net::{IpAddr, SocketAddr};
use core::ops::Range;
use std::time::Instant;

use super::counters::{Counters, DropReason, Event, PuntKind, RxProto};
use super::tables::{SessionKey, Tables};
use crate::crypto::esp::{CryptoError, Esn, Transform};
use crate::wire::esp::{ISAKMP_HEADER_LEN, NAT_KEEPALIVE, NON_ESP_MARKER};
use crate::wire::ipv4::Protocol as IpProtocol;
use crate::wire::{Layer, ipv4, ipv6, l2tp, ppp, udp};

/// The `inner_port` of an IKE punt that came on the NAT-T port (RFC 3948 §2.2).
pub const NAT_T_PORT: u16 = 4500;

/// What the shard does with a received datagram. Ranges index the caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rx {
    /// Write `range` (an IPv4 or IPv6 packet, decrypted in place) to the TUN queue.
    ToTun {
        range: Range<usize>,
        proto: RxProto,
        session: SessionKey,
    },
    /// Hand `range` to the control thread. For IKE: the ISAKMP message (marker
    /// stripped); for L2TP control: the whole L2TP message; for PPP: the PPP frame,
    /// header included so the control thread sees the protocol. `spi` is the SA it
    /// arrived under (`None`: plain L2TP or IKE). `inner_port`: for L2TP inside ESP,
    /// the inner UDP source port (the client's L2TP port, any behind NAT); for IKE,
    /// the NAT-T port when it came there behind the non-ESP marker; otherwise 0.
    Punt {
        kind: PuntKind,
        range: Range<usize>,
        tunnel_id: u16,
        session_id: u16,
        spi: Option<u32>,
        inner_port: u16,
    },
    /// Dropped (already counted).
    Drop(DropReason),
    /// Used up here, nothing to pass on (a PPTP acknowledgment-only packet).
    Consumed,
}

impl Rx {
    /// The bytes an instruction refers to, in the buffer it was computed from.
    pub fn slice<'b>(&self, buffer: &'b mut [u8]) -> Option<&'b mut [u8]> {
        match self {
            Rx::ToTun { range, .. } | Rx::Punt { range, .. } => buffer.get_mut(range.clone()),
            Rx::Drop(_) | Rx::Consumed => None,
        }
    }
}

/// Which socket a batch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// UDP/4500: ESP-in-UDP, keepalives and IKE.
    EspUdp,
    /// UDP/1701: plain L2TP.
    L2tpUdp,
    /// Raw IPv4 protocol 50: ESP, each packet starting at its IPv4 header.
    EspRaw,
}

/// ESP header: SPI + sequence number (RFC 4303 §2).
const ESP_HEADER_LEN: usize = 8;

#[inline]
fn dropped(counters: &mut Counters, reason: DropReason) -> Rx {
    counters.drop(reason);
    Rx::Drop(reason)
}

fn punt(
    counters: &mut Counters,
    kind: PuntKind,
    range: Range<usize>,
    ids: SessionKey,
    spi: Option<u32>,
    inner_port: u16,
) -> Rx {
    counters.punt(kind);
    Rx::Punt {
        kind,
        range,
        tunnel_id: ids.0,
        session_id: ids.1,
        spi,
        inner_port,
    }
}

fn crypto_drop(e: CryptoError) -> DropReason {
    match e {
        CryptoError::AuthenticationFailed => DropReason::AuthFailed,
        CryptoError::BadPadding => DropReason::BadPadding,
        _ => DropReason::BadHeader(Layer::Esp),
    }
}

/// The UDP/4500 node (RFC 3948 §2, RFC 4303 §3.4). `datagram` is the UDP payload; it
/// is decrypted in place. `from` is the datagram's source address and port.
pub fn esp_udp_input(
    tables: &mut Tables,
    counters: &mut Counters,
    now: Instant,
    datagram: &mut [u8],
    from: SocketAddr,
) -> Rx {
    let len = datagram.len();
    if *datagram == NAT_KEEPALIVE {
        return dropped(counters, DropReason::NatKeepalive);
    }
    let Some(first) = datagram.first_chunk::<4>() else {
        return dropped(counters, DropReason::BadHeader(Layer::UdpEncap));
    };
    if *first == NON_ESP_MARKER {
        if len - NON_ESP_MARKER.len() < ISAKMP_HEADER_LEN {
            return dropped(counters, DropReason::BadHeader(Layer::UdpEncap));
        }
        counters.rx(RxProto::IkeUdp, len);
        return punt(
            counters,
            PuntKind::Ike,
            NON_ESP_MARKER.len()..len,
            (0, 0),
            None,
            NAT_T_PORT,
        );
    }
    counters.rx(RxProto::EspUdp, len);
    esp_node(tables, counters, now, datagram, 0..len, from)
}

/// The raw ESP node: `packet` is what a raw IPv4 socket for protocol 50 reads, from
/// the IPv4 header on. The header is checked (version, IHL, Total Length within the
/// packet; bytes past Total Length are ignored) and the ESP packet behind it is
/// decrypted in place; returned ranges index `packet`.
pub fn esp_raw_input(
    tables: &mut Tables,
    counters: &mut Counters,
    now: Instant,
    packet: &mut [u8],
) -> Rx {
    counters.rx(RxProto::EspRaw, packet.len());
    let (range, src) = match ipv4::Packet::new_checked(&packet[..]) {
        Ok(ip) if ip.next_header() == IpProtocol::Esp => {
            (ip.header_len()..usize::from(ip.total_len()), ip.src_addr())
        }
        Ok(_) => return dropped(counters, DropReason::UnexpectedPayload),
        Err(_) => return dropped(counters, DropReason::BadHeader(Layer::Ipv4)),
    };
    esp_node(
        tables,
        counters,
        now,
        packet,
        range,
        SocketAddr::new(IpAddr::V4(src), 0),
    )
}

/// The ESP node shared by both ESP inputs, over the ESP packet `buf[range]` (SPI to
/// ICV) from `from` (RFC 4303 §3.4; the sequence of steps is in the module docs).
fn esp_node(
    tables: &mut Tables,
    counters: &mut Counters,
    now: Instant,
    buf: &mut [u8],
    range: Range<usize>,
    from: SocketAddr,
) -> Rx {
    let offset = range.start;
    let Some(esp) = buf.get_mut(range) else {
        return dropped(counters, DropReason::BadHeader(Layer::Esp));
    };
    let len = esp.len();
    let Some(header) = esp.first_chunk::<ESP_HEADER_LEN>() else {
        return dropped(counters, DropReason::BadHeader(Layer::Esp));
    };
    let spi = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let seq_low = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);

    let Some(sa) = tables.sa_mut(spi) else {
        return dropped(counters, DropReason::NoSa);
    };
    let seq = match sa.esn {
        Esn::Disabled => u64::from(seq_low),
        Esn::Enabled => match sa.replay.infer_esn(seq_low) {
            Some(seq) => seq,
            // Below sequence-number space zero: nothing was ever sent there.
            None => {
                return dropped(
                    counters,
                    DropReason::Replay(crate::proto::esp::ReplayError::TooOld),
                );
            }
        },
    };
    if let Err(e) = sa.replay.check(seq) {
        return dropped(counters, DropReason::Replay(e));
    }
    let payload = match sa.transform.open(seq, esp) {
        Ok(r) => r,
        Err(e) => return dropped(counters, crypto_drop(e)),
    };
    if let Err(e) = sa.replay.commit(seq) {
        return dropped(counters, DropReason::Replay(e));
    }
    sa.rx_packets = sa.rx_packets.wrapping_add(1);
    sa.rx_bytes = sa.rx_bytes.wrapping_add(len as u64);
    let sa_tunnel = sa.tunnel_id;
    let next_header = sa.transform.next_header(esp);
    // Authenticated, committed, and (highest() == seq after the commit) the newest
    // packet of the SA: it may move the peer (tables module docs).
    if sa.replay.highest() == seq && sa.peer != from {
        if tables.record_peer_move(spi, from) {
            counters.event(Event::PeerMove);
        } else {
            counters.event(Event::PeerMoveOverflow);
        }
    }
    if next_header != Some(u8::from(IpProtocol::Udp)) {
        return dropped(counters, DropReason::UnexpectedPayload);
    }

    // Transport mode: the ESP payload is the client's UDP datagram to 1701.
    let payload = offset + payload.start..offset + payload.end;
    let Some(udp_bytes) = buf.get(payload.clone()) else {
        return dropped(counters, DropReason::BadHeader(Layer::Esp));
    };
    let udp = match udp::Packet::new_checked(udp_bytes) {
        Ok(p) => p,
        Err(_) => return dropped(counters, DropReason::BadHeader(Layer::Udp)),
    };
    if udp.dst_port() != l2tp::UDP_PORT {
        return dropped(counters, DropReason::UnexpectedPayload);
    }
    let l2tp_range = payload.start + udp::HEADER_LEN..payload.start + usize::from(udp.len());
    l2tp_node(
        tables,
        counters,
        now,
        buf,
        l2tp_range,
        Carrier::Esp {
            spi,
            tunnel: sa_tunnel,
            inner_port: udp.src_port(),
        },
    )
}

/// The UDP/1701 node: plain L2TP (RFC 2661 §3.1). `datagram` is the UDP payload.
/// `from` is the datagram's source: data must come from the tunnel's LAC.
pub fn l2tp_udp_input(
    tables: &mut Tables,
    counters: &mut Counters,
    now: Instant,
    datagram: &mut [u8],
    from: SocketAddr,
) -> Rx {
    counters.rx(RxProto::L2tpUdp, datagram.len());
    l2tp_node(
        tables,
        counters,
        now,
        datagram,
        0..datagram.len(),
        Carrier::Plain(from),
    )
}

/// The L2TP → PPP → IP nodes over `buf[range]`. `esp` is (SPI, tunnel the SA protects)
/// when the message was decrypted.
/// How an L2TP message reached us.
#[derive(Clone, Copy)]
enum Carrier {
    /// Decrypted from the SA `spi`, which protects local tunnel `tunnel`; the inner
    /// UDP datagram came from `inner_port`.
    Esp {
        spi: u32,
        tunnel: u16,
        inner_port: u16,
    },
    /// Plain UDP from `from`.
    Plain(SocketAddr),
}

fn l2tp_node(
    tables: &mut Tables,
    counters: &mut Counters,
    now: Instant,
    buf: &[u8],
    range: Range<usize>,
    carrier: Carrier,
) -> Rx {
    let esp = match carrier {
        Carrier::Esp { spi, tunnel, .. } => Some((spi, tunnel)),
        Carrier::Plain(_) => None,
    };
    let Some(bytes) = buf.get(range.clone()) else {
        return dropped(counters, DropReason::BadHeader(Layer::L2tp));
    };
    let msg = match l2tp::Packet::new_checked(bytes) {
        Ok(p) => p,
        Err(_) => return dropped(counters, DropReason::BadHeader(Layer::L2tp)),
    };
    let key = (msg.tunnel_id(), msg.session_id());
    let spi = esp.map(|(spi, _)| spi);
    let inner_port = match carrier {
        Carrier::Esp { inner_port, .. } => inner_port,
        Carrier::Plain(_) => 0,
    };
    if msg.is_control() {
        return punt(counters, PuntKind::L2tpControl, range, key, spi, inner_port);
    }
    match carrier {
        Carrier::Esp { tunnel, .. } if tunnel != key.0 => {
            return dropped(counters, DropReason::WrongTunnel);
        }
        // Plain data must come from the tunnel's LAC (address and port, fixed once
        // the tunnel is up, RFC 2661 §8.1); otherwise anyone who guesses the IDs
        // could inject into a subscriber's session.
        Carrier::Plain(from) if tables.tunnel(key.0).is_none_or(|t| t.peer != from) => {
            return dropped(counters, DropReason::WrongPeer);
        }
        _ => {}
    }
    let Some(session) = tables.session_mut(key) else {
        return dropped(counters, DropReason::NoSession);
    };
    if esp.is_none() && session.flags.requires_esp {
        return dropped(counters, DropReason::Unprotected);
    }
    // check_len guarantees header_len <= message end <= bytes.len().
    let end = msg.length().map_or(bytes.len(), usize::from);
    let ppp_range = range.start + msg.header_len()..range.start + end;
    let Some(ppp_bytes) = buf.get(ppp_range.clone()) else {
        return dropped(counters, DropReason::BadHeader(Layer::L2tp));
    };
    let frame = match ppp::Frame::new_checked(ppp_bytes) {
        Ok(f) => f,
        Err(_) => return dropped(counters, DropReason::BadHeader(Layer::Ppp)),
    };
    let info_start = ppp_range.start + frame.header_len();
    let Some(info) = buf.get(info_start..ppp_range.end) else {
        return dropped(counters, DropReason::BadHeader(Layer::Ppp));
    };
    let kind = match frame.protocol() {
        ppp::Protocol::Ipv4 => {
            let ip = match ipv4::Packet::new_checked(info) {
                Ok(p) => p,
                Err(_) => return dropped(counters, DropReason::BadHeader(Layer::Ipv4)),
            };
            let Some(assigned) = session.ipv4 else {
                return dropped(counters, DropReason::NcpClosed);
            };
            if ip.src_addr() != assigned {
                return dropped(counters, DropReason::Spoofed);
            }
            let len = usize::from(ip.total_len());
            return to_tun(counters, session, now, RxProto::Ipv4, info_start, len, key);
        }
        ppp::Protocol::Ipv6 => {
            let ip = match ipv6::Packet::new_checked(info) {
                Ok(p) => p,
                Err(_) => return dropped(counters, DropReason::BadHeader(Layer::Ipv6)),
            };
            if session.ipv6_prefix.is_none() {
                return dropped(counters, DropReason::NcpClosed);
            }
            if !session.ipv6_source_allowed(ip.src_addr()) {
                return dropped(counters, DropReason::Spoofed);
            }
            let len = ipv6::HEADER_LEN + usize::from(ip.payload_len());
            return to_tun(counters, session, now, RxProto::Ipv6, info_start, len, key);
        }
        ppp::Protocol::Lcp => PuntKind::Lcp,
        ppp::Protocol::Pap | ppp::Protocol::Chap => PuntKind::Auth,
        ppp::Protocol::Ipcp => PuntKind::Ipcp,
        ppp::Protocol::Ipv6cp => PuntKind::Ipv6cp,
        ppp::Protocol::Ccp => PuntKind::Ccp,
        _ => PuntKind::PppOther,
    };
    punt(counters, kind, ppp_range, key, spi, inner_port)
}

/// The last step before TUN: the session's upload limit (after every check, so that
/// only packets that would be delivered spend tokens), then the counters.
fn to_tun(
    counters: &mut Counters,
    session: &mut super::tables::Session,
    now: Instant,
    proto: RxProto,
    start: usize,
    len: usize,
    key: SessionKey,
) -> Rx {
    if let Some(up) = session.up.as_mut()
        && !up.admit(now, len)
    {
        return dropped(counters, DropReason::RateLimited);
    }
    session.rx_packets = session.rx_packets.wrapping_add(1);
    session.rx_bytes = session.rx_bytes.wrapping_add(len as u64);
    counters.rx(proto, len);
    Rx::ToTun {
        range: start..start + len,
        proto,
        session: key,
    }
}

/// Runs the receive nodes over a batch of datagrams from one socket kind, writing one
/// instruction per datagram into `out` (see the module docs for why per packet).
/// `sources[i]` is the source address and port of `packets[i]`; only
/// [`Input::EspUdp`] reads it (raw ESP takes the source from the IP header, plain L2TP
/// does not need it), so the others may pass an empty slice. Processes
/// `min(packets.len(), out.len())` datagrams (and, for `EspUdp`, at most
/// `sources.len()`) and returns that number.
pub fn process_batch(
    tables: &mut Tables,
    counters: &mut Counters,
    now: Instant,
    input: Input,
    packets: &mut [&mut [u8]],
    sources: &[SocketAddr],
    out: &mut [Rx],
) -> usize {
    let mut n = 0;
    for (i, (packet, slot)) in packets.iter_mut().zip(out.iter_mut()).enumerate() {
        *slot = match input {
            Input::EspUdp => match sources.get(i) {
                Some(&from) => esp_udp_input(tables, counters, now, packet, from),
                None => break,
            },
            Input::L2tpUdp => match sources.get(i) {
                Some(&from) => l2tp_udp_input(tables, counters, now, packet, from),
                None => break,
            },
            Input::EspRaw => esp_raw_input(tables, counters, now, packet),
        };
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests;

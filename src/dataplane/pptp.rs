//! PPTP data on the shard that owns the call: enhanced GRE (RFC 2637 §4) carrying PPP,
//! with MPPE (RFC 3078) inside.
//!
//! ```text
//!  | IPv4 (kernel) | GRE 8-16 | FF 03 | 00 FD | MPPE 2 | 00 21 | IP packet |
//!                                              '---- RC4 from here ----'
//! ```
//!
//! - **Receive** ([`gre_input`]): what the shard's raw protocol-47 socket reads (the
//!   classic BPF filter of `runtime::steering` only lets through version-1 PPP GRE
//!   whose Call ID this shard owns). The IPv4 header is checked and skipped, the GRE
//!   header checked (RFC 2637 §4.1) and the call found by Call ID; the source address
//!   must be the call's peer. Sequence and acknowledgment numbers go to the call's
//!   [`GreSeq`] (§4.2-§4.4: stale packets are dropped, ack-only packets consumed).
//!   The PPP frame (with or without Address/Control and with a one- or two-octet
//!   protocol, RFC 1661 §6.5-§6.6) then is: an MPPE packet (protocol 0x00FD),
//!   decrypted in place and, if it holds IPv4 from the assigned address, written to
//!   TUN; plain IPv4, only when the call does not require MPPE; or a PPP control
//!   protocol, punted with tunnel ID 0 and the Call ID as session ID.
//! - **Transmit** ([`encap`]): an IP packet from TUN gets the PPP protocol field,
//!   the MPPE header and RC4 in place, then PPP and GRE headers with the next
//!   sequence number and, when something received is unacknowledged, the
//!   acknowledgment (piggybacked, §4.3). [`encap_frame`] does the same for a PPP
//!   control frame from the control thread (never encrypted: RFC 3078 §1, MPPE
//!   carries network-layer packets), and [`ack_only`] writes an acknowledgment-only
//!   header (§4.3, no S bit, no payload).
//!
//! # Decisions
//!
//! - **One owner**: MPPE's key schedule advances with every packet in stateless mode
//!   (RFC 3078 §7.1) and the GRE sequence numbers must be consecutive, so each call's
//!   transmit state lives on the shard its Call ID steers to. A packet another shard
//!   reads from its TUN queue is handed to the owner (the runtime's handoff rings);
//!   routes name the call with [`PPTP_ROUTE_TUNNEL`] in place of a tunnel ID, which L2TP
//!   never uses (RFC 2661 §3.1 reserves tunnel ID 0).
//! - **Rate limits**: both of a call's buckets ([`PptpCall::up`], [`PptpCall::down`])
//!   are plain [`TokenBucket`]s, since both directions run on the owner shard: no
//!   atomics. Upload is checked last before TUN (after MPPE, so a stateful decryptor
//!   stays in sync with the client's key schedule whatever is dropped); download in
//!   [`encap`] before MPPE and GRE advance. The cost: a packet read on another shard
//!   is handed over before it is policed (a shared route bucket, checked in
//!   [`super::tx::tun_input`] before the handoff, would drop earlier but pay a
//!   contended atomic per packet; the handoff ring bounds the waste either way).
//! - **Required MPPE**: a call installed with `mppe_required` drops IP both ways until
//!   MPPE keys are installed ([`DropReason::Unencrypted`], [`TxDrop::Unencrypted`]): no
//!   subscriber packet ever crosses unencrypted, whatever order IPCP and CCP open in.
//! - **Stateful loss**: the decryptor's first `NeedsReset` after a gap is punted as
//!   [`PuntKind::MppeReset`] so the control thread sends the CCP Reset-Request
//!   (RFC 3078 §8); the packets until the FLUSHED one are dropped.
//! - **Headers we send**: PPP always with Address/Control and a two-octet protocol (a
//!   receiver accepts them whatever ACFC/PFC said, RFC 1661 §6.5-§6.6), so no per-call
//!   LCP state is needed here.
//!
//! Nothing here allocates, locks or makes a syscall.
#![forbid(unsafe_code)]

use core::net::Ipv4Addr;
use core::ops::Range;
use std::time::Instant;

use super::counters::{Counters, DropReason, PuntKind, RxProto, TxDrop, TxProto};
use super::ratelimit::TokenBucket;
use super::rx::Rx;
use super::tables::Tables;
use crate::crypto::ppp::mppe::{MppeDecryptor, MppeEncryptor, MppeError};
use crate::proto::pptp::gre::{GreSeq, RxVerdict};
use crate::wire::ipv4::Protocol as IpProtocol;
use crate::wire::{Layer, gre, ipv4, ppp};

/// The `Route::tunnel` of a PPTP call's route (see the module docs).
pub const PPTP_ROUTE_TUNNEL: u16 = 0;

/// Octets in front of the IP packet on an encrypted transmit: GRE with sequence and
/// acknowledgment numbers, Address/Control, protocol 0x00FD, the MPPE header and the
/// encrypted protocol field.
pub const PPTP_HEADROOM: usize = gre::MAX_HEADER_LEN + 4 + 2 + 2;

/// The MPPE header (RFC 3078 §3).
const MPPE_HEADER_LEN: usize = 2;

/// One PPTP call's data-plane state, on its owner shard.
pub struct PptpCall {
    /// The client's address (GRE has no ports).
    pub peer: Ipv4Addr,
    /// The Call ID the client chose: the key of the GRE packets we send.
    pub peer_call_id: u16,
    /// Opaque subscriber handle from the control thread.
    pub subscriber: u32,
    pub seq: GreSeq,
    /// The address IPCP assigned; `None` while IPCP is not Opened.
    pub ipv4: Option<Ipv4Addr>,
    /// IP is dropped both ways until the MPPE keys are installed.
    pub mppe_required: bool,
    pub mppe: Option<Box<Mppe>>,
    /// Already in the shard's list of calls that owe an acknowledgment.
    pub ack_listed: bool,
    /// The upload (client → network) limit; `None`: unlimited.
    pub up: Option<TokenBucket>,
    /// The download (network → client) limit, checked in [`encap`] on this, the
    /// owner shard (no atomics needed); `None`: unlimited.
    pub down: Option<TokenBucket>,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
}

/// Both directions of a call's MPPE (boxed: two RC4 states).
pub struct Mppe {
    pub enc: MppeEncryptor,
    pub dec: MppeDecryptor,
}

impl PptpCall {
    pub fn new(
        peer: Ipv4Addr,
        peer_call_id: u16,
        peer_window: u16,
        subscriber: u32,
        mppe_required: bool,
    ) -> Self {
        PptpCall {
            peer,
            peer_call_id,
            subscriber,
            seq: GreSeq::new(peer_window),
            ipv4: None,
            mppe_required,
            mppe: None,
            ack_listed: false,
            up: None,
            down: None,
            rx_packets: 0,
            rx_bytes: 0,
            tx_packets: 0,
            tx_bytes: 0,
        }
    }
}

impl core::fmt::Debug for PptpCall {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PptpCall")
            .field("peer", &self.peer)
            .field("peer_call_id", &self.peer_call_id)
            .field("ipv4", &self.ipv4)
            .field("mppe", &self.mppe.is_some())
            .finish_non_exhaustive()
    }
}

#[inline]
fn dropped(counters: &mut Counters, reason: DropReason) -> Rx {
    counters.drop(reason);
    Rx::Drop(reason)
}

fn punt(counters: &mut Counters, kind: PuntKind, range: Range<usize>, call_id: u16) -> Rx {
    counters.punt(kind);
    Rx::Punt {
        kind,
        range,
        tunnel_id: PPTP_ROUTE_TUNNEL,
        session_id: call_id,
        spi: None,
        inner_port: 0,
    }
}

/// The raw GRE node (module docs). `packet` starts at the IPv4 header; it is
/// decrypted in place and returned ranges index it.
pub fn gre_input(
    tables: &mut Tables,
    counters: &mut Counters,
    now: Instant,
    packet: &mut [u8],
) -> Rx {
    counters.rx(RxProto::Gre, packet.len());
    let (gre_range, src) = match ipv4::Packet::new_checked(&packet[..]) {
        Ok(ip) if ip.next_header() == IpProtocol::Gre => {
            (ip.header_len()..usize::from(ip.total_len()), ip.src_addr())
        }
        Ok(_) => return dropped(counters, DropReason::UnexpectedPayload),
        Err(_) => return dropped(counters, DropReason::BadHeader(Layer::Ipv4)),
    };
    let (call_id, seq, ack, ppp_range) = {
        let Some(bytes) = packet.get(gre_range.clone()) else {
            return dropped(counters, DropReason::BadHeader(Layer::Gre));
        };
        let g = match gre::Packet::new_checked(bytes) {
            Ok(g) if g.protocol_type() == gre::Protocol::Ppp => g,
            _ => return dropped(counters, DropReason::BadHeader(Layer::Gre)),
        };
        let start = gre_range.start + g.header_len();
        (
            g.call_id(),
            g.sequence_number(),
            g.acknowledgment_number(),
            start..start + usize::from(g.payload_length()),
        )
    };
    let Some(call) = tables.call_mut(call_id) else {
        return dropped(counters, DropReason::NoSession);
    };
    if call.peer != src {
        return dropped(counters, DropReason::WrongPeer);
    }
    match call.seq.on_receive(now, seq, ack) {
        RxVerdict::AckOnly => return Rx::Consumed,
        RxVerdict::Stale => return dropped(counters, DropReason::GreStale),
        RxVerdict::Deliver => {}
    }
    let first_owed = !call.ack_listed && call.seq.ack_deadline().is_some();
    if first_owed {
        call.ack_listed = true;
    }
    let (protocol, info) = {
        let Some(bytes) = packet.get(ppp_range.clone()) else {
            return dropped(counters, DropReason::BadHeader(Layer::Gre));
        };
        match ppp::Frame::new_checked(bytes) {
            Ok(f) => (
                f.protocol(),
                ppp_range.start + f.header_len()..ppp_range.end,
            ),
            Err(_) => return dropped(counters, DropReason::BadHeader(Layer::Ppp)),
        }
    };
    let result = match protocol {
        ppp::Protocol::CompressedDatagram => decrypt(call, counters, now, packet, info, call_id),
        ppp::Protocol::Ipv4 if call.mppe_required => dropped(counters, DropReason::Unencrypted),
        ppp::Protocol::Ipv4 => ipv4_to_tun(call, counters, now, packet, info, call_id),
        ppp::Protocol::Lcp => punt(counters, PuntKind::Lcp, ppp_range, call_id),
        ppp::Protocol::Pap | ppp::Protocol::Chap => {
            punt(counters, PuntKind::Auth, ppp_range, call_id)
        }
        ppp::Protocol::Ipcp => punt(counters, PuntKind::Ipcp, ppp_range, call_id),
        ppp::Protocol::Ipv6cp => punt(counters, PuntKind::Ipv6cp, ppp_range, call_id),
        ppp::Protocol::Ccp => punt(counters, PuntKind::Ccp, ppp_range, call_id),
        // IPv6 is not offered over PPTP; anything else needs a Protocol-Reject.
        _ => punt(counters, PuntKind::PppOther, ppp_range, call_id),
    };
    if first_owed {
        tables.note_ack_owed(call_id);
    }
    result
}

fn decrypt(
    call: &mut PptpCall,
    counters: &mut Counters,
    now: Instant,
    packet: &mut [u8],
    info: Range<usize>,
    call_id: u16,
) -> Rx {
    let Some(mppe) = call.mppe.as_mut() else {
        return dropped(counters, DropReason::NcpClosed);
    };
    let Some(bytes) = packet.get_mut(info.clone()) else {
        return dropped(counters, DropReason::BadHeader(Layer::Ppp));
    };
    let plain_len = match mppe.dec.decrypt(bytes) {
        Ok(plain) => plain.len(),
        Err(MppeError::NeedsReset { .. }) => {
            return punt(
                counters,
                PuntKind::MppeReset,
                info.start..info.start,
                call_id,
            );
        }
        Err(_) => return dropped(counters, DropReason::Mppe),
    };
    // The plaintext: the PPP protocol field (PFC may shorten it to one octet, RFC
    // 1661 §6.5: a protocol with an odd first octet), then the datagram.
    let start = info.start + MPPE_HEADER_LEN;
    let plain = &packet[start..start + plain_len];
    let (protocol, skip) = match plain {
        [p, ..] if p & 1 == 1 => (u16::from(*p), 1),
        [hi, lo, ..] => (u16::from_be_bytes([*hi, *lo]), 2),
        _ => return dropped(counters, DropReason::BadHeader(Layer::Ppp)),
    };
    if ppp::Protocol::from(protocol) != ppp::Protocol::Ipv4 {
        return dropped(counters, DropReason::UnexpectedPayload);
    }
    ipv4_to_tun(
        call,
        counters,
        now,
        packet,
        start + skip..start + plain_len,
        call_id,
    )
}

fn ipv4_to_tun(
    call: &mut PptpCall,
    counters: &mut Counters,
    now: Instant,
    packet: &[u8],
    range: Range<usize>,
    call_id: u16,
) -> Rx {
    let Some(bytes) = packet.get(range.clone()) else {
        return dropped(counters, DropReason::BadHeader(Layer::Ipv4));
    };
    let ip = match ipv4::Packet::new_checked(bytes) {
        Ok(p) => p,
        Err(_) => return dropped(counters, DropReason::BadHeader(Layer::Ipv4)),
    };
    let Some(assigned) = call.ipv4 else {
        return dropped(counters, DropReason::NcpClosed);
    };
    if ip.src_addr() != assigned {
        return dropped(counters, DropReason::Spoofed);
    }
    let len = usize::from(ip.total_len());
    if let Some(up) = call.up.as_mut()
        && !up.admit(now, len)
    {
        return dropped(counters, DropReason::RateLimited);
    }
    call.rx_packets = call.rx_packets.wrapping_add(1);
    call.rx_bytes = call.rx_bytes.wrapping_add(len as u64);
    counters.rx(RxProto::Ipv4, len);
    Rx::ToTun {
        range: range.start..range.start + len,
        proto: RxProto::Ipv4,
        session: (PPTP_ROUTE_TUNNEL, call_id),
    }
}

/// Writes the GRE header ending at `end` for a payload of `payload_len` octets
/// (`None`: acknowledgment-only); returns where it starts.
fn write_gre(
    call: &mut PptpCall,
    buf: &mut [u8],
    end: usize,
    payload_len: Option<usize>,
    ack_only: Option<u32>,
) -> usize {
    let (seq, ack) = match payload_len {
        Some(_) => {
            let (seq, ack) = call.seq.on_send();
            (Some(seq), ack)
        }
        None => (None, ack_only),
    };
    let len = gre::HEADER_LEN + 4 * usize::from(seq.is_some()) + 4 * usize::from(ack.is_some());
    let start = end - len;
    let mut g = gre::Packet::new_unchecked(&mut buf[start..end]);
    g.set_flags_and_version(seq.is_some(), ack.is_some());
    g.set_protocol_type(gre::Protocol::Ppp);
    g.set_payload_length(payload_len.unwrap_or(0) as u16);
    g.set_call_id(call.peer_call_id);
    if let Some(seq) = seq {
        g.set_sequence_number(seq);
    }
    if let Some(ack) = ack {
        g.set_acknowledgment_number(ack);
    }
    start
}

/// The transmit node for an IP packet `buf[ip]` (IPv4 only: IPv6CP is not run over
/// PPTP) routed to `call`; `buf` holds [`PPTP_HEADROOM`] octets before `ip.start`.
/// Returns the GRE packet's range (the kernel writes the IPv4 header). `now` is the
/// shard's batch time, for the call's download limit, which is checked after every
/// other reason to drop and before MPPE and GRE take their next key and sequence
/// number (a policed packet advances neither).
pub fn encap(
    call: &mut PptpCall,
    counters: &mut Counters,
    now: Instant,
    buf: &mut [u8],
    ip: Range<usize>,
) -> Result<Range<usize>, TxDrop> {
    if ip.start < PPTP_HEADROOM || ip.end > buf.len() {
        counters.tx_drop(TxDrop::NoRoom);
        return Err(TxDrop::NoRoom);
    }
    if ip.len() + 8 > gre::MAX_PAYLOAD_LEN {
        counters.tx_drop(TxDrop::TooBig);
        return Err(TxDrop::TooBig);
    }
    if call.mppe.is_none() && call.mppe_required {
        counters.tx_drop(TxDrop::Unencrypted);
        return Err(TxDrop::Unencrypted);
    }
    let ip_len = ip.len();
    if let Some(down) = call.down.as_mut()
        && !down.admit(now, ip_len)
    {
        counters.tx_drop(TxDrop::RateLimited);
        return Err(TxDrop::RateLimited);
    }
    let ppp_start = match call.mppe.as_mut() {
        Some(mppe) => {
            // Protocol field, then MPPE header + RC4 over protocol and packet.
            buf[ip.start - 2..ip.start].copy_from_slice(&0x0021u16.to_be_bytes());
            let mppe_start = ip.start - 2 - MPPE_HEADER_LEN;
            if mppe.enc.encrypt(&mut buf[mppe_start..ip.end]).is_err() {
                counters.tx_drop(TxDrop::Crypto);
                return Err(TxDrop::Crypto);
            }
            let start = mppe_start - 4;
            ppp::emit_header(
                &mut buf[start..mppe_start],
                ppp::Protocol::CompressedDatagram,
                false,
                false,
            );
            start
        }
        None => {
            let start = ip.start - 4;
            ppp::emit_header(&mut buf[start..ip.start], ppp::Protocol::Ipv4, false, false);
            start
        }
    };
    let start = write_gre(call, buf, ppp_start, Some(ip.end - ppp_start), None);
    call.tx_packets = call.tx_packets.wrapping_add(1);
    call.tx_bytes = call.tx_bytes.wrapping_add(ip_len as u64);
    counters.tx(TxProto::Ipv4, ip_len);
    counters.tx(TxProto::Gre, ip.end - start);
    Ok(start..ip.end)
}

/// A PPP control frame from the control thread (`protocol` and the packet after the
/// protocol field), written into `buf` with its PPP and GRE headers; returns the
/// GRE packet's range. `None` if `buf` is too small.
pub fn encap_frame(
    call: &mut PptpCall,
    counters: &mut Counters,
    buf: &mut [u8],
    protocol: u16,
    payload: &[u8],
) -> Option<Range<usize>> {
    let ppp_start = gre::MAX_HEADER_LEN;
    let end = ppp_start + 4 + payload.len();
    if end > buf.len() || end - ppp_start > gre::MAX_PAYLOAD_LEN {
        return None;
    }
    ppp::emit_header(
        &mut buf[ppp_start..ppp_start + 4],
        ppp::Protocol::from(protocol),
        false,
        false,
    );
    buf[ppp_start + 4..end].copy_from_slice(payload);
    let start = write_gre(call, buf, ppp_start, Some(end - ppp_start), None);
    counters.tx(TxProto::Gre, end - start);
    Some(start..end)
}

/// An acknowledgment-only packet (RFC 2637 §4.3) acknowledging `ack` (from
/// [`GreSeq::ack_due`]), written at the start of `buf` (at least
/// [`gre::MAX_HEADER_LEN`] octets); returns its length.
pub fn ack_only(call: &mut PptpCall, counters: &mut Counters, ack: u32, buf: &mut [u8]) -> usize {
    let len = gre::HEADER_LEN + 4;
    write_gre(call, buf, len, None, Some(ack));
    counters.tx(TxProto::Gre, len);
    len
}

#[cfg(test)]
mod tests;

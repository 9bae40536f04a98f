//! IPv6 fixed header (RFC 8200 §3) and its pseudo-header (§8.1).
//!
//! Subscribers get IPv6 through IPv6CP; the data plane only needs the addresses to route
//! packets from the TUN device to their subscriber. Extension headers are not walked here:
//! [`Packet::next_header`] reports the first one and the payload includes them.
//!
//! Untrusted input goes through [`Packet::new_checked`]; `emit` never panics on a
//! buffer of [`Repr::buffer_len`] bytes.

use core::net::Ipv6Addr;

use super::ipv4::Protocol;
use super::{Error, Layer, Result, checksum};

mod field {
    use crate::wire::Field;
    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// A read/write view of an IPv6 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps untrusted bytes: version 6 and a Payload Length that fits the buffer
    /// (bytes past it are link-layer padding and ignored). Jumbograms (RFC 2675, a zero
    /// Payload Length) are not supported: the payload is then empty.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated(Layer::Ipv6));
        }
        if self.version() != 6 {
            return Err(Error::BadVersion(Layer::Ipv6));
        }
        if HEADER_LEN + usize::from(self.payload_len()) > len {
            return Err(Error::Truncated(Layer::Ipv6));
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn first_word(&self) -> u32 {
        let d = self.buffer.as_ref();
        u32::from_be_bytes([d[0], d[1], d[2], d[3]])
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    pub fn traffic_class(&self) -> u8 {
        (self.first_word() >> 20) as u8
    }

    pub fn flow_label(&self) -> u32 {
        self.first_word() & 0x000f_ffff
    }

    pub fn payload_len(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::LENGTH.start], d[field::LENGTH.start + 1]])
    }

    pub fn next_header(&self) -> Protocol {
        Protocol::from(self.buffer.as_ref()[field::NXT_HDR])
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC_ADDR]);
        Ipv6Addr::from(a)
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST_ADDR]);
        Ipv6Addr::from(a)
    }

    /// The payload (extension headers included), up to Payload Length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 6, the traffic class and the flow label (low 20 bits).
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let w = (6u32 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        self.buffer.as_mut()[field::VER_TC_FLOW].copy_from_slice(&w.to_be_bytes());
    }

    pub fn set_payload_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_next_header(&mut self, v: Protocol) {
        self.buffer.as_mut()[field::NXT_HDR] = v.into();
    }

    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }

    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// A validated IPv6 fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_addr: Ipv6Addr,
    pub dst_addr: Ipv6Addr,
    pub next_header: Protocol,
    pub payload_len: usize,
    pub hop_limit: u8,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
        })
    }

    /// Header length; the payload follows.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_version_tc_flow(0, 0);
        packet.set_payload_len(self.payload_len as u16);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
    }
}

/// The partial checksum of the IPv6 pseudo-header (RFC 8200 §8.1).
pub fn pseudo_header_sum(src: Ipv6Addr, dst: Ipv6Addr, protocol: Protocol, length: u32) -> u32 {
    let mut acc = checksum::accumulate(0, &src.octets());
    acc = checksum::accumulate(acc, &dst.octets());
    acc = checksum::accumulate(acc, &length.to_be_bytes());
    checksum::accumulate(acc, &[0, 0, 0, u8::from(protocol)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::assert_truncations_rejected;

    // ::1 -> fe80::1, UDP, traffic class 0xb8 (EF), flow label 0x12345, hop limit 64,
    // 4 bytes of payload.
    static PACKET_BYTES: [u8; 44] = [
        0x6b, 0x81, 0x23, 0x45, 0x00, 0x04, 0x11, 0x40, //
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, //
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, //
        0xaa, 0xbb, 0xcc, 0xdd,
    ];

    fn repr() -> Repr {
        Repr {
            src_addr: Ipv6Addr::LOCALHOST,
            dst_addr: "fe80::1".parse().unwrap(),
            next_header: Protocol::Udp,
            payload_len: 4,
            hop_limit: 64,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.version(), 6);
        assert_eq!(packet.traffic_class(), 0xb8);
        assert_eq!(packet.flow_label(), 0x12345);
        assert_eq!(packet.payload_len(), 4);
        assert_eq!(packet.next_header(), Protocol::Udp);
        assert_eq!(packet.hop_limit(), 64);
        assert_eq!(packet.src_addr(), Ipv6Addr::LOCALHOST);
        assert_eq!(packet.dst_addr(), "fe80::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(packet.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xa5u8; 44];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_version_tc_flow(0xb8, 0x12345);
        packet.set_payload_len(4);
        packet.set_next_header(Protocol::Udp);
        packet.set_hop_limit(64);
        packet.set_src_addr(Ipv6Addr::LOCALHOST);
        packet.set_dst_addr("fe80::1".parse().unwrap());
        packet
            .payload_mut()
            .copy_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_check_len() {
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..39]),
            Err(Error::Truncated(Layer::Ipv6))
        );
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..43]),
            Err(Error::Truncated(Layer::Ipv6))
        );
        let mut bytes = PACKET_BYTES;
        bytes[0] = 0x4b;
        assert_eq!(
            Packet::new_checked(&bytes[..]),
            Err(Error::BadVersion(Layer::Ipv6))
        );
    }

    #[test]
    fn test_parse() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&packet), Ok(repr()));
    }

    #[test]
    fn test_emit() {
        let mut bytes = [0u8; 44];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        repr().emit(&mut packet);
        packet
            .payload_mut()
            .copy_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
        // The Repr does not carry traffic class and flow label: it emits zeros.
        let mut expected = PACKET_BYTES;
        expected[..4].copy_from_slice(&[0x60, 0, 0, 0]);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn test_buffer_len() {
        assert_eq!(repr().buffer_len(), 40);
    }

    #[test]
    fn test_truncations() {
        assert_truncations_rejected(&PACKET_BYTES, |b| {
            Packet::new_checked(b).and_then(|p| Repr::parse(&p))
        });
    }
}

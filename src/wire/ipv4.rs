//! IPv4 header (RFC 791 §3.1), as much as a concentrator needs.
//!
//! The data plane reads the destination address of packets from the TUN device (to find
//! the subscriber) and the source address of packets a subscriber sends (anti-spoofing);
//! loadgen and the tests build whole packets. Options are carried but not interpreted.
//! Fragments are parsed like any other packet: reassembly, where needed, is a policy of
//! the layer above.
//!
//! Untrusted input goes through [`Packet::new_checked`]; `emit` never panics on a
//! buffer of [`Repr::buffer_len`] bytes.

use core::net::Ipv4Addr;

use super::{Error, Layer, Result, checksum};

mod field {
    use crate::wire::Field;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// IP protocol numbers (IANA "Assigned Internet Protocol Numbers"), shared by IPv6's
/// Next Header and ESP's next-header field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Icmp,
    Tcp,
    Udp,
    Ipv4,
    Ipv6,
    Gre,
    Esp,
    Ah,
    Icmpv6,
    NoNextHeader,
    Unknown(u8),
}

impl From<u8> for Protocol {
    fn from(v: u8) -> Self {
        match v {
            1 => Protocol::Icmp,
            4 => Protocol::Ipv4,
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            41 => Protocol::Ipv6,
            47 => Protocol::Gre,
            50 => Protocol::Esp,
            51 => Protocol::Ah,
            58 => Protocol::Icmpv6,
            59 => Protocol::NoNextHeader,
            other => Protocol::Unknown(other),
        }
    }
}

impl From<Protocol> for u8 {
    fn from(p: Protocol) -> u8 {
        match p {
            Protocol::Icmp => 1,
            Protocol::Ipv4 => 4,
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Ipv6 => 41,
            Protocol::Gre => 47,
            Protocol::Esp => 50,
            Protocol::Ah => 51,
            Protocol::Icmpv6 => 58,
            Protocol::NoNextHeader => 59,
            Protocol::Unknown(v) => v,
        }
    }
}

/// A read/write view of an IPv4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps untrusted bytes: version 4, a header length of at least 20 bytes within the
    /// buffer, and a Total Length that covers the header and fits the buffer. Bytes past
    /// Total Length (link-layer padding) are allowed and ignored by [`Packet::payload`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated(Layer::Ipv4));
        }
        if self.version() != 4 {
            return Err(Error::BadVersion(Layer::Ipv4));
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(Error::BadLength(Layer::Ipv4));
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(Error::BadLength(Layer::Ipv4));
        }
        if len < header_len || len < total_len {
            return Err(Error::Truncated(Layer::Ipv4));
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Internet Header Length in bytes.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    pub fn total_len(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::LENGTH.start], d[field::LENGTH.start + 1]])
    }

    pub fn identification(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::IDENT.start], d[field::IDENT.start + 1]])
    }

    fn flags_offset(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::FLG_OFF.start], d[field::FLG_OFF.start + 1]])
    }

    pub fn dont_frag(&self) -> bool {
        self.flags_offset() & 0x4000 != 0
    }

    pub fn more_frags(&self) -> bool {
        self.flags_offset() & 0x2000 != 0
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (self.flags_offset() & 0x1fff) << 3
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn next_header(&self) -> Protocol {
        Protocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    pub fn checksum(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::CHECKSUM.start], d[field::CHECKSUM.start + 1]])
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        let d = self.buffer.as_ref();
        Ipv4Addr::new(d[12], d[13], d[14], d[15])
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        let d = self.buffer.as_ref();
        Ipv4Addr::new(d[16], d[17], d[18], d[19])
    }

    /// Header options (between the fixed header and the header length).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// True when the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(&self.buffer.as_ref()[..self.header_len()]) == 0
    }

    /// The payload, up to Total Length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 4 and the header length in bytes (a multiple of 4).
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = (dscp << 2) | (ecn & 0x03);
    }

    pub fn set_total_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_identification(&mut self, v: u16) {
        self.buffer.as_mut()[field::IDENT].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the flags and fragment offset (in bytes, a multiple of 8).
    pub fn set_flags_frag_offset(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let v = (u16::from(dont_frag) << 14) | (u16::from(more_frags) << 13) | (offset >> 3);
        self.buffer.as_mut()[field::FLG_OFF].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    pub fn set_next_header(&mut self, v: Protocol) {
        self.buffer.as_mut()[field::PROTOCOL] = v.into();
    }

    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    /// Computes and writes the header checksum.
    pub fn fill_checksum(&mut self) {
        let header_len = self.header_len();
        let d = self.buffer.as_mut();
        d[field::CHECKSUM].fill(0);
        let sum = checksum::data(&d[..header_len]);
        d[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    }

    /// Decrements TTL and patches the checksum incrementally (RFC 1624 eqn. 3), for
    /// forwarding without recomputing over the header.
    pub fn decrement_hop_limit(&mut self) {
        let d = self.buffer.as_mut();
        let old = u16::from_be_bytes([d[field::TTL], d[field::PROTOCOL]]);
        d[field::TTL] = d[field::TTL].wrapping_sub(1);
        let new = u16::from_be_bytes([d[field::TTL], d[field::PROTOCOL]]);
        let hc = u16::from_be_bytes([d[field::CHECKSUM.start], d[field::CHECKSUM.start + 1]]);
        let sum = u32::from(!hc) + u32::from(!old) + u32::from(new);
        let patched = checksum::finish(sum);
        d[field::CHECKSUM].copy_from_slice(&patched.to_be_bytes());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }
}

/// A validated IPv4 header without options (options are rejected by `parse` only in the
/// sense that they are not represented: a Repr re-emits a 20-byte header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub next_header: Protocol,
    pub payload_len: usize,
    pub hop_limit: u8,
}

impl Repr {
    /// Parses a checked packet, verifying the header checksum.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::BadChecksum(Layer::Ipv4));
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.total_len()) - packet.header_len(),
            hop_limit: packet.hop_limit(),
        })
    }

    /// Header length; the payload follows.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header (DF set, identification 0: packets we originate are never
    /// fragmented by us) and its checksum. The payload is the caller's.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_version_and_header_len(HEADER_LEN);
        packet.set_dscp_ecn(0, 0);
        packet.set_total_len((HEADER_LEN + self.payload_len) as u16);
        packet.set_identification(0);
        packet.set_flags_frag_offset(true, false, 0);
        packet.set_hop_limit(self.hop_limit);
        packet.set_next_header(self.next_header);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}

/// The partial checksum of the IPv4 pseudo-header (RFC 768) used by UDP and TCP.
pub fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: Protocol, length: u16) -> u32 {
    let mut acc = checksum::accumulate(0, &src.octets());
    acc = checksum::accumulate(acc, &dst.octets());
    acc = checksum::accumulate(acc, &[0, u8::from(protocol)]);
    checksum::accumulate(acc, &length.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::assert_truncations_rejected;

    // 127.0.0.1 -> 127.0.0.2, UDP, 4 bytes of payload, DF, TTL 64.
    static PACKET_BYTES: [u8; 24] = [
        0x45, 0x00, 0x00, 0x18, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x3c, 0xd2, 0x7f, 0x00, 0x00,
        0x01, 0x7f, 0x00, 0x00, 0x02, 0xaa, 0xbb, 0xcc, 0xdd,
    ];

    fn repr() -> Repr {
        Repr {
            src_addr: Ipv4Addr::new(127, 0, 0, 1),
            dst_addr: Ipv4Addr::new(127, 0, 0, 2),
            next_header: Protocol::Udp,
            payload_len: 4,
            hop_limit: 64,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.total_len(), 24);
        assert!(packet.dont_frag());
        assert!(!packet.more_frags());
        assert_eq!(packet.frag_offset(), 0);
        assert_eq!(packet.hop_limit(), 64);
        assert_eq!(packet.next_header(), Protocol::Udp);
        assert_eq!(packet.checksum(), 0x3cd2);
        assert!(packet.verify_checksum());
        assert_eq!(packet.src_addr(), Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(packet.dst_addr(), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(packet.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xa5u8; 24];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_version_and_header_len(20);
        packet.set_dscp_ecn(0, 0);
        packet.set_total_len(24);
        packet.set_identification(0);
        packet.set_flags_frag_offset(true, false, 0);
        packet.set_hop_limit(64);
        packet.set_next_header(Protocol::Udp);
        packet.set_src_addr(Ipv4Addr::new(127, 0, 0, 1));
        packet.set_dst_addr(Ipv4Addr::new(127, 0, 0, 2));
        packet.fill_checksum();
        packet
            .payload_mut()
            .copy_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_check_len() {
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..19]),
            Err(Error::Truncated(Layer::Ipv4))
        );
        // Total Length larger than the buffer.
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..23]),
            Err(Error::Truncated(Layer::Ipv4))
        );
        let mut bytes = PACKET_BYTES;
        bytes[0] = 0x44; // IHL 16 bytes
        assert_eq!(
            Packet::new_checked(&bytes[..]),
            Err(Error::BadLength(Layer::Ipv4))
        );
        let mut bytes = PACKET_BYTES;
        bytes[0] = 0x65;
        assert_eq!(
            Packet::new_checked(&bytes[..]),
            Err(Error::BadVersion(Layer::Ipv4))
        );
        let mut bytes = PACKET_BYTES;
        bytes[3] = 0x10; // Total Length 16 < header
        assert_eq!(
            Packet::new_checked(&bytes[..]),
            Err(Error::BadLength(Layer::Ipv4))
        );
        // Link-layer padding after Total Length is accepted and not part of the payload.
        let mut padded = [0u8; 30];
        padded[..24].copy_from_slice(&PACKET_BYTES);
        let packet = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(packet.payload().len(), 4);
    }

    #[test]
    fn test_parse() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&packet), Ok(repr()));
        let mut bad = PACKET_BYTES;
        bad[11] ^= 1;
        let packet = Packet::new_checked(&bad[..]).unwrap();
        assert_eq!(Repr::parse(&packet), Err(Error::BadChecksum(Layer::Ipv4)));
    }

    #[test]
    fn test_emit() {
        let mut bytes = [0u8; 24];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        repr().emit(&mut packet);
        packet
            .payload_mut()
            .copy_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_buffer_len() {
        assert_eq!(repr().buffer_len(), 20);
    }

    #[test]
    fn test_truncations() {
        assert_truncations_rejected(&PACKET_BYTES, |b| {
            Packet::new_checked(b).and_then(|p| Repr::parse(&p))
        });
    }

    #[test]
    fn test_decrement_hop_limit_keeps_checksum_valid() {
        let mut bytes = PACKET_BYTES;
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.decrement_hop_limit();
        assert_eq!(packet.hop_limit(), 63);
        assert!(packet.verify_checksum());
    }

    #[test]
    fn test_protocol_open_enum() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(Protocol::from(v)), v);
        }
        assert_eq!(Protocol::from(200), Protocol::Unknown(200));
    }
}

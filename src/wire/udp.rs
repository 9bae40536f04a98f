//! UDP header (RFC 768) with the IPv4 and IPv6 pseudo-header checksums
//! (RFC 768, RFC 8200 §8.1).
//!
//! IKE (500/4500), L2TP (1701) and RADIUS ride on UDP. The data plane receives payloads
//! from UDP sockets and never sees this header; it is used where we build or inspect
//! whole IP packets: loadgen's raw paths, the TUN side, captures and tests.
//!
//! A zero checksum over IPv4 means "not computed" (RFC 768) and is accepted; over IPv6
//! it is invalid (RFC 8200 §8.1) and rejected by [`Repr::parse`] with the IPv6 variant.

use core::net::{Ipv4Addr, Ipv6Addr};

use super::ipv4::{self, Protocol};
use super::{Error, Layer, Result, checksum, ipv6};

mod field {
    use crate::wire::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// The addresses of the IP header that carries a datagram, for its checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpPair {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

impl IpPair {
    fn pseudo_header_sum(&self, length: u16) -> u32 {
        match *self {
            IpPair::V4(src, dst) => ipv4::pseudo_header_sum(src, dst, Protocol::Udp, length),
            IpPair::V6(src, dst) => {
                ipv6::pseudo_header_sum(src, dst, Protocol::Udp, u32::from(length))
            }
        }
    }
}

/// A read/write view of a UDP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps untrusted bytes: a full header and a Length field between 8 and the buffer
    /// length (bytes past Length are ignored).
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated(Layer::Udp));
        }
        let field_len = usize::from(self.len());
        if field_len < HEADER_LEN {
            return Err(Error::BadLength(Layer::Udp));
        }
        if field_len > len {
            return Err(Error::Truncated(Layer::Udp));
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, f: crate::wire::Field) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[f.start], d[f.start + 1]])
    }

    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }

    /// The Length field: header plus payload.
    pub fn len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }

    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    /// True when the checksum verifies, or is zero over IPv4 (not computed).
    pub fn verify_checksum(&self, ips: IpPair) -> bool {
        if self.checksum() == 0 {
            return matches!(ips, IpPair::V4(..));
        }
        let len = self.len();
        let acc = ips.pseudo_header_sum(len);
        let acc = checksum::accumulate(acc, &self.buffer.as_ref()[..usize::from(len)]);
        checksum::finish(acc) == 0
    }

    /// The payload, up to Length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_u16_at(&mut self, f: crate::wire::Field, v: u16) {
        self.buffer.as_mut()[f].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_src_port(&mut self, v: u16) {
        self.set_u16_at(field::SRC_PORT, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        self.set_u16_at(field::DST_PORT, v);
    }

    pub fn set_len(&mut self, v: u16) {
        self.set_u16_at(field::LENGTH, v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16_at(field::CHECKSUM, v);
    }

    /// Computes the checksum over header and payload (up to Length). A result of zero is
    /// sent as 0xffff (RFC 768), since zero means "no checksum".
    pub fn fill_checksum(&mut self, ips: IpPair) {
        self.set_checksum(0);
        let len = self.len();
        let acc = ips.pseudo_header_sum(len);
        let acc = checksum::accumulate(acc, &self.buffer.as_ref()[..usize::from(len)]);
        let sum = match checksum::finish(acc) {
            0 => 0xffff,
            s => s,
        };
        self.set_checksum(sum);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// A validated UDP header; the payload stays in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload_len: usize,
}

impl Repr {
    /// Parses a checked datagram, verifying its checksum against the carrying addresses.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, ips: IpPair) -> Result<Repr> {
        packet.check_len()?;
        if !packet.verify_checksum(ips) {
            return Err(Error::BadChecksum(Layer::Udp));
        }
        Ok(Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: usize::from(packet.len()) - HEADER_LEN,
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header and, once the payload is in place, the checksum: call it after
    /// writing the payload (the data plane encapsulates in place).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>, ips: IpPair) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len((HEADER_LEN + self.payload_len) as u16);
        packet.fill_checksum(ips);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::assert_truncations_rejected;

    const V4: IpPair = IpPair::V4(Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2));

    // 1701 -> 1701, payload c8 02 00 0c (an L2TP control header start). The checksum
    // was computed independently with Python's arithmetic over the pseudo-header.
    static PACKET_BYTES: [u8; 12] = [
        0x06, 0xa5, 0x06, 0xa5, 0x00, 0x0c, 0x2c, 0x7a, 0xc8, 0x02, 0x00, 0x0c,
    ];

    fn repr() -> Repr {
        Repr {
            src_port: 1701,
            dst_port: 1701,
            payload_len: 4,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.src_port(), 1701);
        assert_eq!(packet.dst_port(), 1701);
        assert_eq!(packet.len(), 12);
        assert_eq!(packet.checksum(), 0x2c7a);
        assert!(packet.verify_checksum(V4));
        assert_eq!(packet.payload(), &[0xc8, 0x02, 0x00, 0x0c]);
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0xa5u8; 12];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_src_port(1701);
        packet.set_dst_port(1701);
        packet.set_len(12);
        packet
            .payload_mut()
            .copy_from_slice(&[0xc8, 0x02, 0x00, 0x0c]);
        packet.fill_checksum(V4);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_check_len() {
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..7]),
            Err(Error::Truncated(Layer::Udp))
        );
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..11]),
            Err(Error::Truncated(Layer::Udp))
        );
        let mut bytes = PACKET_BYTES;
        bytes[5] = 7;
        assert_eq!(
            Packet::new_checked(&bytes[..]),
            Err(Error::BadLength(Layer::Udp))
        );
    }

    #[test]
    fn test_parse() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&packet, V4), Ok(repr()));
        let other = IpPair::V4(Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 3));
        assert_eq!(
            Repr::parse(&packet, other),
            Err(Error::BadChecksum(Layer::Udp))
        );
    }

    #[test]
    fn test_emit() {
        let mut bytes = [0u8; 12];
        bytes[8..].copy_from_slice(&[0xc8, 0x02, 0x00, 0x0c]);
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        repr().emit(&mut packet, V4);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_buffer_len() {
        assert_eq!(repr().buffer_len(), 12);
    }

    #[test]
    fn test_truncations() {
        assert_truncations_rejected(&PACKET_BYTES, |b| {
            Packet::new_checked(b).and_then(|p| Repr::parse(&p, V4))
        });
    }

    #[test]
    fn test_zero_checksum() {
        let mut bytes = PACKET_BYTES;
        bytes[6] = 0;
        bytes[7] = 0;
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        // Over IPv4 zero means "not computed"; over IPv6 it is invalid.
        assert!(packet.verify_checksum(V4));
        let v6 = IpPair::V6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST);
        assert_eq!(
            Repr::parse(&packet, v6),
            Err(Error::BadChecksum(Layer::Udp))
        );
    }

    #[test]
    fn test_ipv6_checksum_round_trip() {
        let v6 = IpPair::V6(Ipv6Addr::LOCALHOST, "fe80::1".parse().unwrap());
        let mut bytes = [0u8; 12];
        bytes[8..].copy_from_slice(&[1, 2, 3, 4]);
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        repr().emit(&mut packet, v6);
        assert!(packet.verify_checksum(v6));
        assert!(!packet.verify_checksum(V4));
    }
}

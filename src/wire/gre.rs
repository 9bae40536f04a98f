//! Enhanced GRE (version 1), the PPTP data channel (RFC 2637 §4.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |C|R|K|S|s|Recur|A| Flags | Ver |         Protocol Type         |
//! |    Key (HW) Payload Length    |       Key (LW) Call ID        |
//! |                  Sequence Number (Optional)                   |
//! |               Acknowledgment Number (Optional)                |
//! ```
//!
//! Decisions:
//! - Only version 1 is spoken here: any other version is [`Error::BadVersion`]. Since
//!   the position of every field depends on the flags, the structural rules of
//!   RFC 2637 §4.1 are checked in [`Packet::check_len`] before any getter is trusted:
//!   K must be set and C, R must be clear (there is no checksum or routing field in
//!   enhanced GRE); a payload without S is malformed (S "set if the packet contains
//!   data").
//! - The s, Recur and Flags bits "must be zero"; receivers ignore them (we are liberal
//!   in what we accept), so [`Repr`] does not carry them and `emit` writes zeroes.
//! - The Key's payload length bounds the payload; bytes after it in the buffer (there
//!   should be none inside an IP datagram) are ignored.
//! - An acknowledgment-only packet has no S and a payload length of 0.
//!
//! Contract: untrusted input goes through `new_checked` or `Repr::parse` and comes back
//! as an [`Error`], never a panic; `emit` never panics on a buffer of `buffer_len()`
//! bytes.
#![forbid(unsafe_code)]

use super::{Error, Field, Layer, Result};

mod field {
    use super::Field;

    pub const FLAGS: usize = 0;
    pub const FLAGS_VERSION: usize = 1;
    pub const PROTOCOL_TYPE: Field = 2..4;
    /// Key (HW): the payload length (RFC 2637 §4.1).
    pub const PAYLOAD_LENGTH: Field = 4..6;
    /// Key (LW): the peer's call ID.
    pub const CALL_ID: Field = 6..8;
    /// End of the fixed part; the optional numbers follow.
    pub const OPTIONAL: usize = 8;
}

/// Byte 0 flag bits.
const FLAG_C: u8 = 0x80;
const FLAG_R: u8 = 0x40;
const FLAG_K: u8 = 0x20;
const FLAG_S: u8 = 0x10;
const FLAG_STRICT: u8 = 0x08;
const RECUR_MASK: u8 = 0x07;
/// Byte 1: A, then Flags (4 bits), then Ver (3 bits).
const FLAG_A: u8 = 0x80;
const FLAGS_MASK: u8 = 0x78;
const VERSION_MASK: u8 = 0x07;

/// The GRE version of enhanced GRE (RFC 2637 §4.1).
pub const VERSION: u8 = 1;
/// The fixed part: flags, version, protocol type, key.
pub const HEADER_LEN: usize = field::OPTIONAL;
/// The largest header: fixed part, sequence and acknowledgment numbers.
pub const MAX_HEADER_LEN: usize = HEADER_LEN + 8;
/// The largest payload the 16-bit Payload Length can describe.
pub const MAX_PAYLOAD_LEN: usize = u16::MAX as usize;

/// check_len: K is clear; enhanced GRE always carries the key (RFC 2637 §4.1).
pub const KEY_ABSENT: Error = Error::Malformed(Layer::Gre, "key (K) must be present");
/// check_len: C or R is set; enhanced GRE has neither checksum nor routing.
pub const CHECKSUM_OR_ROUTING: Error =
    Error::Malformed(Layer::Gre, "checksum (C) and routing (R) must be clear");
/// check_len: a payload without a sequence number (S clear, payload length > 0).
pub const PAYLOAD_WITHOUT_SEQUENCE: Error =
    Error::Malformed(Layer::Gre, "payload without sequence number (S)");

/// EtherType of PPP (RFC 2637 §4.1).
pub const PROTOCOL_PPP: u16 = 0x880b;

open_enum! {
    /// The Protocol Type field (an EtherType). PPTP uses PPP, 0x880B.
    pub enum Protocol: u16 {
        Ppp = 0x880b,
    }
}

/// A read/write view of an enhanced GRE packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks; getters may then panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the header is an enhanced GRE v1 header and that the buffer holds
    /// it and the payload its length announces. Version and flags are checked here
    /// because they decide where the fields are.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated(Layer::Gre));
        }
        if self.version() != VERSION {
            return Err(Error::BadVersion(Layer::Gre));
        }
        if self.checksum_present() || self.routing_present() {
            return Err(CHECKSUM_OR_ROUTING);
        }
        if !self.key_present() {
            return Err(KEY_ABSENT);
        }
        if len < self.header_len() {
            return Err(Error::Truncated(Layer::Gre));
        }
        if !self.sequence_number_present() && self.payload_length() != 0 {
            return Err(PAYLOAD_WITHOUT_SEQUENCE);
        }
        if len - self.header_len() < usize::from(self.payload_length()) {
            return Err(Error::Truncated(Layer::Gre));
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn byte(&self, i: usize) -> u8 {
        self.buffer.as_ref()[i]
    }

    fn u16_at(&self, f: Field) -> u16 {
        let b = &self.buffer.as_ref()[f];
        u16::from_be_bytes([b[0], b[1]])
    }

    fn u32_at(&self, at: usize) -> u32 {
        let b = &self.buffer.as_ref()[at..at + 4];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// C: checksum present (must be clear).
    pub fn checksum_present(&self) -> bool {
        self.byte(field::FLAGS) & FLAG_C != 0
    }

    /// R: routing present (must be clear).
    pub fn routing_present(&self) -> bool {
        self.byte(field::FLAGS) & FLAG_R != 0
    }

    /// K: key present (must be set).
    pub fn key_present(&self) -> bool {
        self.byte(field::FLAGS) & FLAG_K != 0
    }

    /// S: sequence number present (set when the packet carries data).
    pub fn sequence_number_present(&self) -> bool {
        self.byte(field::FLAGS) & FLAG_S != 0
    }

    /// s: strict source route (should be zero; ignored).
    pub fn strict_source_route(&self) -> bool {
        self.byte(field::FLAGS) & FLAG_STRICT != 0
    }

    /// Recur: recursion control (should be zero; ignored).
    pub fn recursion_control(&self) -> u8 {
        self.byte(field::FLAGS) & RECUR_MASK
    }

    /// A: acknowledgment number present.
    pub fn acknowledgment_present(&self) -> bool {
        self.byte(field::FLAGS_VERSION) & FLAG_A != 0
    }

    /// The Flags bits 8-12 (should be zero; ignored).
    pub fn flags(&self) -> u8 {
        (self.byte(field::FLAGS_VERSION) & FLAGS_MASK) >> 3
    }

    /// Ver: 1 for enhanced GRE.
    pub fn version(&self) -> u8 {
        self.byte(field::FLAGS_VERSION) & VERSION_MASK
    }

    pub fn protocol_type(&self) -> Protocol {
        Protocol::from(self.u16_at(field::PROTOCOL_TYPE))
    }

    /// Key (HW): the size of the payload, not including the GRE header.
    pub fn payload_length(&self) -> u16 {
        self.u16_at(field::PAYLOAD_LENGTH)
    }

    /// Key (LW): the peer's call ID for the session.
    pub fn call_id(&self) -> u16 {
        self.u16_at(field::CALL_ID)
    }

    /// Fixed part plus the optional numbers the flags announce.
    pub fn header_len(&self) -> usize {
        HEADER_LEN
            + if self.sequence_number_present() { 4 } else { 0 }
            + if self.acknowledgment_present() { 4 } else { 0 }
    }

    /// The Sequence Number, if S is set.
    pub fn sequence_number(&self) -> Option<u32> {
        self.sequence_number_present()
            .then(|| self.u32_at(field::OPTIONAL))
    }

    /// The Acknowledgment Number, if A is set; it follows the sequence number.
    pub fn acknowledgment_number(&self) -> Option<u32> {
        let at = field::OPTIONAL + if self.sequence_number_present() { 4 } else { 0 };
        self.acknowledgment_present().then(|| self.u32_at(at))
    }

    /// The payload (a PPP frame), as long as Payload Length says.
    pub fn payload(&self) -> &[u8] {
        let start = self.header_len();
        &self.buffer.as_ref()[start..start + usize::from(self.payload_length())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes byte 0 and 1: flags for an enhanced GRE header and version 1. The
    /// optional fields' flags decide where they go, so set these first.
    pub fn set_flags_and_version(&mut self, sequence: bool, acknowledgment: bool) {
        let b = self.buffer.as_mut();
        b[field::FLAGS] = FLAG_K | if sequence { FLAG_S } else { 0 };
        b[field::FLAGS_VERSION] = VERSION | if acknowledgment { FLAG_A } else { 0 };
    }

    pub fn set_protocol_type(&mut self, protocol: Protocol) {
        self.buffer.as_mut()[field::PROTOCOL_TYPE]
            .copy_from_slice(&u16::from(protocol).to_be_bytes());
    }

    pub fn set_payload_length(&mut self, len: u16) {
        self.buffer.as_mut()[field::PAYLOAD_LENGTH].copy_from_slice(&len.to_be_bytes());
    }

    pub fn set_call_id(&mut self, call_id: u16) {
        self.buffer.as_mut()[field::CALL_ID].copy_from_slice(&call_id.to_be_bytes());
    }

    /// Writes the sequence number; S must already be set.
    pub fn set_sequence_number(&mut self, seq: u32) {
        self.buffer.as_mut()[field::OPTIONAL..field::OPTIONAL + 4]
            .copy_from_slice(&seq.to_be_bytes());
    }

    /// Writes the acknowledgment number; S and A must already be set as intended.
    pub fn set_acknowledgment_number(&mut self, ack: u32) {
        let at = field::OPTIONAL + if self.sequence_number_present() { 4 } else { 0 };
        self.buffer.as_mut()[at..at + 4].copy_from_slice(&ack.to_be_bytes());
    }

    /// The payload area after the header (to the end of the buffer).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

/// A parsed enhanced GRE packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    pub protocol: Protocol,
    /// The peer's call ID (Key low word).
    pub call_id: u16,
    /// Present on packets that carry data.
    pub sequence_number: Option<u32>,
    /// The highest sequence number received from the peer, if acknowledged here.
    pub acknowledgment_number: Option<u32>,
    /// The PPP frame; empty on an acknowledgment-only packet. At most
    /// [`MAX_PAYLOAD_LEN`] bytes.
    pub payload: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Parses a checked packet.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self> {
        packet.check_len()?;
        let start = packet.header_len();
        Ok(Repr {
            protocol: packet.protocol_type(),
            call_id: packet.call_id(),
            sequence_number: packet.sequence_number(),
            acknowledgment_number: packet.acknowledgment_number(),
            payload: &T::as_ref(packet.buffer)[start..start + usize::from(packet.payload_length())],
        })
    }

    /// `new_checked` + `parse` on raw bytes.
    pub fn parse_bytes(bytes: &'a [u8]) -> Result<Self> {
        Self::parse(&Packet::new_checked(bytes)?)
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
            + if self.sequence_number.is_some() { 4 } else { 0 }
            + if self.acknowledgment_number.is_some() {
                4
            } else {
                0
            }
    }

    pub const fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Writes the packet into a buffer of at least `buffer_len()` bytes. The payload
    /// must fit the 16-bit Payload Length (every parsed `Repr` does); a longer one is
    /// a caller bug, caught in debug builds and truncated in release ones.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        debug_assert!(self.payload.len() <= MAX_PAYLOAD_LEN);
        let payload = &self.payload[..self.payload.len().min(MAX_PAYLOAD_LEN)];
        packet.set_flags_and_version(
            self.sequence_number.is_some(),
            self.acknowledgment_number.is_some(),
        );
        packet.set_protocol_type(self.protocol);
        // The min above makes this lossless.
        packet.set_payload_length(payload.len() as u16);
        packet.set_call_id(self.call_id);
        if let Some(seq) = self.sequence_number {
            packet.set_sequence_number(seq);
        }
        if let Some(ack) = self.acknowledgment_number {
            packet.set_acknowledgment_number(ack);
        }
        packet.payload_mut()[..payload.len()].copy_from_slice(payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::assert_truncations_rejected;

    // S and A set, call ID 0x4001, seq 7, ack 3, carrying a 12-byte PPP LCP
    // Echo-Request (ff 03 c0 21, code 9, id 1, length 8, magic 0x12345678).
    static DATA_BYTES: [u8; 28] = [
        0x30, 0x81, 0x88, 0x0b, 0x00, 0x0c, 0x40, 0x01, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00,
        0x03, 0xff, 0x03, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0x12, 0x34, 0x56, 0x78,
    ];
    // Acknowledgment only: K and A, payload length 0, call ID 0x0102, ack 0x01020304.
    static ACK_BYTES: [u8; 12] = [
        0x20, 0x81, 0x88, 0x0b, 0x00, 0x00, 0x01, 0x02, 0x01, 0x02, 0x03, 0x04,
    ];
    // Sequence only, 2-byte payload (a compressed PPP protocol field and one byte).
    static SEQ_BYTES: [u8; 14] = [
        0x30, 0x01, 0x88, 0x0b, 0x00, 0x02, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0x21, 0x45,
    ];

    fn data_repr() -> Repr<'static> {
        Repr {
            protocol: Protocol::Ppp,
            call_id: 0x4001,
            sequence_number: Some(7),
            acknowledgment_number: Some(3),
            payload: &DATA_BYTES[16..],
        }
    }

    fn ack_repr() -> Repr<'static> {
        Repr {
            protocol: Protocol::Ppp,
            call_id: 0x0102,
            sequence_number: None,
            acknowledgment_number: Some(0x0102_0304),
            payload: &[],
        }
    }

    fn seq_repr() -> Repr<'static> {
        Repr {
            protocol: Protocol::Ppp,
            call_id: 0xbeef,
            sequence_number: Some(0xffff_ffff),
            acknowledgment_number: None,
            payload: &[0x21, 0x45],
        }
    }

    fn cases() -> [(&'static [u8], Repr<'static>); 3] {
        [
            (&DATA_BYTES, data_repr()),
            (&ACK_BYTES, ack_repr()),
            (&SEQ_BYTES, seq_repr()),
        ]
    }

    #[test]
    fn test_deconstruct() {
        let p = Packet::new_checked(&DATA_BYTES[..]).unwrap();
        assert!(!p.checksum_present() && !p.routing_present() && p.key_present());
        assert!(p.sequence_number_present() && p.acknowledgment_present());
        assert!(!p.strict_source_route());
        assert_eq!((p.recursion_control(), p.flags(), p.version()), (0, 0, 1));
        assert_eq!(p.protocol_type(), Protocol::Ppp);
        assert_eq!(p.payload_length(), 12);
        assert_eq!(p.call_id(), 0x4001);
        assert_eq!(p.sequence_number(), Some(7));
        assert_eq!(p.acknowledgment_number(), Some(3));
        assert_eq!(p.header_len(), 16);
        assert_eq!(p.payload(), &DATA_BYTES[16..]);

        let p = Packet::new_checked(&ACK_BYTES[..]).unwrap();
        assert_eq!(p.sequence_number(), None);
        assert_eq!(p.acknowledgment_number(), Some(0x0102_0304));
        assert_eq!(p.payload(), &[] as &[u8]);
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0u8; 28];
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.set_flags_and_version(true, true);
        p.set_protocol_type(Protocol::Ppp);
        p.set_payload_length(12);
        p.set_call_id(0x4001);
        p.set_sequence_number(7);
        p.set_acknowledgment_number(3);
        p.payload_mut().copy_from_slice(&DATA_BYTES[16..]);
        assert_eq!(bytes, DATA_BYTES);
    }

    #[test]
    fn test_check_len() {
        assert_eq!(
            Packet::new_checked(&DATA_BYTES[..7]),
            Err(Error::Truncated(Layer::Gre))
        );
        // Header present, payload cut.
        assert_eq!(
            Packet::new_checked(&DATA_BYTES[..27]),
            Err(Error::Truncated(Layer::Gre))
        );
        // Sequence number cut.
        assert_eq!(
            Packet::new_checked(&SEQ_BYTES[..10]),
            Err(Error::Truncated(Layer::Gre))
        );
        // Trailing bytes after the payload length are ignored.
        let mut long = [0u8; 30];
        long[..28].copy_from_slice(&DATA_BYTES);
        assert_eq!(Repr::parse_bytes(&long), Ok(data_repr()));
    }

    #[test]
    fn test_structural_errors() {
        let mut b = DATA_BYTES;
        b[1] = 0x80; // version 0: plain GRE
        assert_eq!(Repr::parse_bytes(&b), Err(Error::BadVersion(Layer::Gre)));
        let mut b = DATA_BYTES;
        b[0] |= FLAG_C;
        assert_eq!(Repr::parse_bytes(&b), Err(CHECKSUM_OR_ROUTING));
        let mut b = DATA_BYTES;
        b[0] |= FLAG_R;
        assert_eq!(Repr::parse_bytes(&b), Err(CHECKSUM_OR_ROUTING));
        let mut b = DATA_BYTES;
        b[0] &= !FLAG_K;
        assert_eq!(Repr::parse_bytes(&b), Err(KEY_ABSENT));
        // Data without S.
        let mut b = DATA_BYTES;
        b[0] &= !FLAG_S;
        assert_eq!(Repr::parse_bytes(&b), Err(PAYLOAD_WITHOUT_SEQUENCE));
        // Must-be-zero bits are ignored.
        let mut b = DATA_BYTES;
        b[0] |= FLAG_STRICT | 0x05;
        b[1] |= 0x78;
        assert_eq!(Repr::parse_bytes(&b), Ok(data_repr()));
        // Another protocol is carried, not rejected.
        let mut b = ACK_BYTES;
        b[2..4].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(
            Repr::parse_bytes(&b).map(|r| r.protocol),
            Ok(Protocol::Unknown(0x0800))
        );
    }

    #[test]
    fn test_parse() {
        for (bytes, repr) in cases() {
            let p = Packet::new_checked(bytes).unwrap();
            assert_eq!(Repr::parse(&p), Ok(repr));
        }
    }

    #[test]
    fn test_emit() {
        for (bytes, repr) in cases() {
            let mut buf = [0xaau8; 28];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..bytes.len()]));
            assert_eq!(&buf[..bytes.len()], bytes);
        }
    }

    #[test]
    fn test_buffer_len() {
        for (bytes, repr) in cases() {
            assert_eq!(repr.buffer_len(), bytes.len());
        }
        assert_eq!(ack_repr().header_len(), 12);
    }

    #[test]
    fn test_truncations() {
        for (bytes, _) in cases() {
            assert_truncations_rejected(bytes, |b| Repr::parse_bytes(b).map(drop));
        }
    }

    #[test]
    fn test_protocol_codes() {
        assert_eq!(Protocol::from(0x880b), Protocol::Ppp);
        assert_eq!(u16::from(Protocol::Ppp), 0x880b);
        assert_eq!(u16::from(Protocol::from(0x86dd)), 0x86dd);
    }
}

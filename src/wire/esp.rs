//! ESP (RFC 4303 §2) and its UDP encapsulation on port 4500 (RFC 3948 §2).
//!
//! Three structures live here:
//!
//! - [`Packet`] / [`Repr`]: the ESP header, Security Parameters Index and Sequence
//!   Number (RFC 4303 §2.1, §2.2). Everything after them (IV, ciphertext, ICV) is
//!   opaque at this layer: its split depends on the SA's transform, which the crypto
//!   layer knows and the wire layer does not; so does its minimum length (IV + one
//!   block + ICV), which the transform checks before decrypting.
//! - [`Trailer`]: the ESP trailer found at the *end* of the decrypted plaintext
//!   (RFC 4303 §2.4-§2.6): Padding, Pad Length, Next Header. Parsing checks the
//!   default monotonic padding 1, 2, 3, ... (§2.4: receivers SHOULD check it) and
//!   returns the range of the inner payload, so that decapsulation can stay in place.
//!   Emitting computes the pad length for a block alignment and writes the trailer.
//! - [`EncapRepr`]: the classifier for a UDP/4500 datagram payload (RFC 3948 §2):
//!   NAT-keepalive, non-ESP marker + IKE, or ESP.
//!
//! Decisions:
//! - SPI 0 "MUST NOT be sent on the wire" (RFC 4303 §2.1), and on port 4500 four zero
//!   bytes are the non-ESP marker, so [`Repr::parse`] rejects SPI 0 as malformed. The
//!   IANA-reserved SPIs 1..=255 are only reported by [`is_reserved_spi`]: whether to drop
//!   them is policy (a peer never receives them from us, since we allocate SPIs).
//! - A dummy packet (Next Header 59, §2.6) parses like any other: its "payload" is
//!   whatever the sender put there, and the caller discards it.
//! - Extra TFC padding (§2.7) is carried inside the payload by the sender's choice of
//!   a larger pad length; the trailer parser accepts any pad length that fits.
//!
//! Contract (as for every wire file): untrusted input goes through `new_checked` or a
//! `parse`, and comes back as an [`Error`], never a panic; `emit` never panics on a
//! buffer of at least `buffer_len()` bytes.
#![forbid(unsafe_code)]

use core::ops::Range;

use super::{Error, Field, Layer, Rest, Result};

mod field {
    use super::{Field, Rest};

    /// RFC 4303 §2.1.
    pub const SPI: Field = 0..4;
    /// RFC 4303 §2.2.
    pub const SEQUENCE_NUMBER: Field = 4..8;
    /// IV, ciphertext and ICV: opaque here (§2.3, §2.8).
    pub const PAYLOAD: Rest = 8..;
}

/// Length of the ESP header (SPI + Sequence Number).
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// Length of the fixed part of the trailer: Pad Length and Next Header (RFC 4303 §2.4).
pub const TRAILER_LEN: usize = 2;

/// The UDP port of IKE and ESP after NAT detection (RFC 3948 §1).
pub const UDP_ENCAP_PORT: u16 = 4500;

/// The largest SPI that IANA reserves for future use (RFC 4303 §2.1: 1..=255).
pub const MAX_RESERVED_SPI: u32 = 255;

/// Whether `spi` lies in the IANA-reserved range 1..=255 (RFC 4303 §2.1). Exposed for
/// policy; the parser does not reject these.
pub const fn is_reserved_spi(spi: u32) -> bool {
    spi >= 1 && spi <= MAX_RESERVED_SPI
}

/// Repr::parse: SPI 0 is reserved for local use and must not be sent (RFC 4303 §2.1).
pub const ZERO_SPI: Error = Error::Malformed(Layer::Esp, "SPI 0 must not be sent on the wire");
/// Trailer::parse: the padding is not the default 1, 2, 3, ... (RFC 4303 §2.4).
pub const BAD_PADDING: Error = Error::Malformed(Layer::Esp, "padding is not 1, 2, 3, ...");
/// Trailer::parse: the Pad Length points before the start of the plaintext.
pub const PAD_LENGTH_TOO_LONG: Error = Error::BadLength(Layer::Esp);

/// A read/write view of an ESP packet (header + opaque protected payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length; getters may then panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Fails with [`Error::Truncated`] if the buffer is shorter than the ESP header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated(Layer::Esp))
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Security Parameters Index (RFC 4303 §2.1).
    pub fn security_parameters_index(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Sequence Number, the low 32 bits of the (extended) sequence number (§2.2).
    pub fn sequence_number(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::SEQUENCE_NUMBER];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// IV, ciphertext (payload, padding, trailer) and ICV, still protected.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_security_parameters_index(&mut self, spi: u32) {
        self.buffer.as_mut()[field::SPI].copy_from_slice(&spi.to_be_bytes());
    }

    pub fn set_sequence_number(&mut self, seq: u32) {
        self.buffer.as_mut()[field::SEQUENCE_NUMBER].copy_from_slice(&seq.to_be_bytes());
    }

    /// The protected part, for in-place encryption and decryption.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// A parsed ESP header with its still-protected payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    pub spi: u32,
    pub sequence_number: u32,
    /// IV + ciphertext + ICV.
    pub payload: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Parses a checked packet; rejects SPI 0 ([`ZERO_SPI`]).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self> {
        packet.check_len()?;
        let spi = packet.security_parameters_index();
        if spi == 0 {
            return Err(ZERO_SPI);
        }
        Ok(Repr {
            spi,
            sequence_number: packet.sequence_number(),
            payload: &T::as_ref(packet.buffer)[field::PAYLOAD],
        })
    }

    /// Parses a raw buffer (`new_checked` + `parse`).
    pub fn parse_bytes(bytes: &'a [u8]) -> Result<Self> {
        Self::parse(&Packet::new_checked(bytes)?)
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Writes header and payload into a buffer of at least `buffer_len()` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_security_parameters_index(self.spi);
        packet.set_sequence_number(self.sequence_number);
        packet.payload_mut()[..self.payload.len()].copy_from_slice(self.payload);
    }
}

/// The Next Header field: an IP protocol number (RFC 4303 §2.6), the same registry as
/// IPv4's Protocol field. `NoNextHeader` (59) marks a dummy packet, to be discarded.
pub use super::ipv4::Protocol as NextHeader;

/// The block size the ciphertext must be a multiple of (RFC 4303 §2.4). Whatever the
/// cipher, the trailer always ends on a 4-byte boundary, so `Byte` and `Word` pad alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alignment {
    /// Stream and counter-mode ciphers (AES-GCM, NULL): 1.
    Byte,
    /// 4.
    Word,
    /// 64-bit block ciphers (3DES-CBC): 8.
    Block8,
    /// 128-bit block ciphers (AES-CBC): 16.
    Block16,
}

impl Alignment {
    /// The alignment for a cipher block size of 1, 4, 8 or 16 bytes.
    pub const fn from_block_size(block_size: usize) -> Option<Self> {
        match block_size {
            1 => Some(Alignment::Byte),
            4 => Some(Alignment::Word),
            8 => Some(Alignment::Block8),
            16 => Some(Alignment::Block16),
            _ => None,
        }
    }

    /// The effective alignment of payload + padding + trailer: max(4, block size).
    pub const fn bytes(self) -> usize {
        match self {
            Alignment::Byte | Alignment::Word => 4,
            Alignment::Block8 => 8,
            Alignment::Block16 => 16,
        }
    }
}

/// The ESP trailer at the end of the plaintext (RFC 4303 §2.4, §2.5, §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// Bytes of padding before the Pad Length field (0..=255).
    pub pad_length: u8,
    pub next_header: NextHeader,
}

impl Trailer {
    /// The minimal trailer for `payload_len` bytes of payload, so that payload, padding
    /// and the two trailer bytes end on the alignment boundary (RFC 4303 §2.4).
    pub const fn for_payload(
        payload_len: usize,
        next_header: NextHeader,
        align: Alignment,
    ) -> Self {
        let a = align.bytes();
        // (payload_len + 2) mod a, computed without overflow for any payload_len.
        let rem = (payload_len % a + TRAILER_LEN) % a;
        let pad = if rem == 0 { 0 } else { a - rem };
        Trailer {
            // a <= 16, so pad < 16.
            pad_length: pad as u8,
            next_header,
        }
    }

    /// Parses the trailer from the end of a decrypted `plaintext` and verifies the
    /// default padding. Returns the trailer and the range of the inner payload
    /// (`0..n`), so that the caller can keep working in its own buffer.
    pub fn parse(plaintext: &[u8]) -> Result<(Trailer, Range<usize>)> {
        let Some(fixed_start) = plaintext.len().checked_sub(TRAILER_LEN) else {
            return Err(Error::Truncated(Layer::Esp));
        };
        let pad_length = plaintext[fixed_start];
        let next_header = NextHeader::from(plaintext[fixed_start + 1]);
        let Some(payload_end) = fixed_start.checked_sub(usize::from(pad_length)) else {
            return Err(PAD_LENGTH_TOO_LONG);
        };
        // §2.4: the default padding is 1, 2, 3, ...; pad_length <= 255 so no wrap.
        let padding = &plaintext[payload_end..fixed_start];
        if padding
            .iter()
            .zip(1u8..=255)
            .any(|(&byte, expected)| byte != expected)
        {
            return Err(BAD_PADDING);
        }
        Ok((
            Trailer {
                pad_length,
                next_header,
            },
            0..payload_end,
        ))
    }

    /// Padding plus the two fixed trailer bytes.
    pub const fn buffer_len(&self) -> usize {
        self.pad_length as usize + TRAILER_LEN
    }

    /// Writes padding 1, 2, 3, ..., Pad Length and Next Header into the first
    /// `buffer_len()` bytes of `buf` (the bytes right after the payload).
    pub fn emit(&self, buf: &mut [u8]) {
        let pad = usize::from(self.pad_length);
        for (byte, value) in buf[..pad].iter_mut().zip(1u8..=255) {
            *byte = value;
        }
        buf[pad] = self.pad_length;
        buf[pad + 1] = self.next_header.into();
    }
}

/// The single byte of a NAT-keepalive (RFC 3948 §2.3).
pub const NAT_KEEPALIVE: [u8; 1] = [0xff];
/// The non-ESP marker that precedes IKE messages on port 4500 (RFC 3948 §2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// The fixed ISAKMP header (RFC 2408 §3.1): the least an IKE message can be.
pub const ISAKMP_HEADER_LEN: usize = 28;

/// UDP/4500 classifier: fewer than 4 bytes and not a keepalive, or a non-ESP marker
/// followed by less than an ISAKMP header. (A non-zero SPI followed by less than a
/// sequence number is `Error::Truncated(Layer::Esp)`.)
pub const ENCAP_TRUNCATED: Error = Error::Truncated(Layer::UdpEncap);

/// What a UDP datagram on port 4500 carries (RFC 3948 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncapRepr<'a> {
    /// A single 0xFF byte (§2.3); receivers ignore it.
    NatKeepalive,
    /// An IKE message after the non-ESP marker (§2.2); the slice starts at the ISAKMP
    /// header.
    Ike(&'a [u8]),
    /// An ESP packet with a non-zero SPI (§2.1).
    Esp(Repr<'a>),
}

impl<'a> EncapRepr<'a> {
    /// Classifies the payload of a UDP/4500 datagram. Order matters: the keepalive is
    /// recognised by its length, then the first four bytes tell marker (zero) from SPI.
    pub fn parse(payload: &'a [u8]) -> Result<Self> {
        if payload == NAT_KEEPALIVE {
            return Ok(EncapRepr::NatKeepalive);
        }
        let Some(first) = payload.first_chunk::<4>() else {
            return Err(ENCAP_TRUNCATED);
        };
        if *first == NON_ESP_MARKER {
            let ike = &payload[NON_ESP_MARKER.len()..];
            if ike.len() < ISAKMP_HEADER_LEN {
                return Err(ENCAP_TRUNCATED);
            }
            return Ok(EncapRepr::Ike(ike));
        }
        Repr::parse_bytes(payload).map(EncapRepr::Esp)
    }

    pub const fn buffer_len(&self) -> usize {
        match self {
            EncapRepr::NatKeepalive => NAT_KEEPALIVE.len(),
            EncapRepr::Ike(ike) => NON_ESP_MARKER.len() + ike.len(),
            EncapRepr::Esp(esp) => esp.buffer_len(),
        }
    }

    /// Writes the datagram payload into a buffer of at least `buffer_len()` bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        match self {
            EncapRepr::NatKeepalive => emit_nat_keepalive(buf),
            EncapRepr::Ike(ike) => emit_non_esp_marker(buf)[..ike.len()].copy_from_slice(ike),
            EncapRepr::Esp(esp) => esp.emit(&mut Packet::new_unchecked(buf)),
        }
    }
}

/// Writes a NAT-keepalive (one 0xFF byte, RFC 3948 §2.3) into `buf[0]`.
pub fn emit_nat_keepalive(buf: &mut [u8]) {
    buf[..NAT_KEEPALIVE.len()].copy_from_slice(&NAT_KEEPALIVE);
}

/// Writes the non-ESP marker into the first 4 bytes of `buf` and returns the rest,
/// where the caller writes the IKE message (RFC 3948 §2.2).
pub fn emit_non_esp_marker(buf: &mut [u8]) -> &mut [u8] {
    buf[..NON_ESP_MARKER.len()].copy_from_slice(&NON_ESP_MARKER);
    &mut buf[NON_ESP_MARKER.len()..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::{assert_truncations_do_not_panic, assert_truncations_rejected};

    // SPI 0x00001234, sequence 1, then 24 opaque bytes (a 16-byte IV and 8 of ICV, say).
    static PACKET_BYTES: [u8; 32] = [
        0x00, 0x00, 0x12, 0x34, 0x00, 0x00, 0x00, 0x01, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6,
        0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5,
        0xb6, 0xb7,
    ];

    fn packet_repr() -> Repr<'static> {
        Repr {
            spi: 0x1234,
            sequence_number: 1,
            payload: &PACKET_BYTES[8..],
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.security_parameters_index(), 0x1234);
        assert_eq!(packet.sequence_number(), 1);
        assert_eq!(packet.payload().len(), 24);
        assert_eq!(packet.payload()[0], 0xa0);
    }

    #[test]
    fn test_construct() {
        let mut bytes = [0u8; 32];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_security_parameters_index(0x1234);
        packet.set_sequence_number(1);
        packet.payload_mut().copy_from_slice(&PACKET_BYTES[8..]);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_check_len() {
        assert_eq!(
            Packet::new_checked(&PACKET_BYTES[..7]),
            Err(Error::Truncated(Layer::Esp))
        );
        assert!(Packet::new_checked(&PACKET_BYTES[..8]).is_ok());
    }

    #[test]
    fn test_parse() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&packet), Ok(packet_repr()));
        assert_eq!(Repr::parse_bytes(&PACKET_BYTES), Ok(packet_repr()));
    }

    #[test]
    fn test_parse_zero_spi() {
        let mut bytes = PACKET_BYTES;
        bytes[..4].fill(0);
        assert_eq!(Repr::parse_bytes(&bytes), Err(ZERO_SPI));
        // A reserved SPI parses; it is only flagged.
        bytes[3] = 0x07;
        let repr = Repr::parse_bytes(&bytes).unwrap();
        assert!(is_reserved_spi(repr.spi));
        assert!(!is_reserved_spi(0) && !is_reserved_spi(256) && is_reserved_spi(255));
    }

    #[test]
    fn test_emit() {
        let repr = packet_repr();
        let mut bytes = [0u8; 32];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn test_buffer_len() {
        assert_eq!(packet_repr().buffer_len(), 32);
    }

    #[test]
    fn test_truncations() {
        // Below 8 bytes every prefix fails; above, a shorter opaque payload is valid.
        assert_truncations_rejected(&PACKET_BYTES[..HEADER_LEN], |b| {
            Repr::parse_bytes(b).map(drop)
        });
        assert_truncations_do_not_panic(&PACKET_BYTES, |b| Repr::parse_bytes(b).map(drop));
    }

    // Plaintext of an L2TP-over-UDP transport-mode packet: 5 payload bytes, padded
    // for AES-CBC (16): 5 + 9 padding + 2 = 16; Next Header 17 (UDP).
    static PLAINTEXT_CBC: [u8; 16] = [
        0x11, 0x22, 0x33, 0x44, 0x55, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x09,
        0x11,
    ];
    // 6 payload bytes with GCM (alignment 4): 6 + 0 + 2 = 8; Next Header 4 (IPv4).
    static PLAINTEXT_GCM: [u8; 8] = [0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x00, 0x04];
    // 7 payload bytes with 3DES (8): 7 + 7 + 2 = 16; Next Header 59 (dummy).
    static PLAINTEXT_3DES: [u8; 16] = [
        0, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x07, 0x3b,
    ];

    #[test]
    fn test_trailer_deconstruct_parse() {
        let (t, range) = Trailer::parse(&PLAINTEXT_CBC).unwrap();
        assert_eq!(
            t,
            Trailer {
                pad_length: 9,
                next_header: NextHeader::Udp
            }
        );
        assert_eq!(range, 0..5);
        let (t, range) = Trailer::parse(&PLAINTEXT_GCM).unwrap();
        assert_eq!(
            (t.pad_length, t.next_header, range),
            (0, NextHeader::Ipv4, 0..6)
        );
        let (t, range) = Trailer::parse(&PLAINTEXT_3DES).unwrap();
        assert_eq!(
            (t.pad_length, t.next_header, range),
            (7, NextHeader::NoNextHeader, 0..7)
        );
    }

    #[test]
    fn test_trailer_construct_emit() {
        let mut buf = [0u8; 16];
        buf[..5].copy_from_slice(&PLAINTEXT_CBC[..5]);
        let t = Trailer::for_payload(5, NextHeader::Udp, Alignment::Block16);
        t.emit(&mut buf[5..]);
        assert_eq!(buf, PLAINTEXT_CBC);

        let mut buf = [0u8; 8];
        buf[..6].copy_from_slice(&PLAINTEXT_GCM[..6]);
        Trailer::for_payload(6, NextHeader::Ipv4, Alignment::Byte).emit(&mut buf[6..]);
        assert_eq!(buf, PLAINTEXT_GCM);

        let mut buf = [0u8; 16];
        Trailer::for_payload(7, NextHeader::NoNextHeader, Alignment::Block8).emit(&mut buf[7..]);
        assert_eq!(buf, PLAINTEXT_3DES);
    }

    #[test]
    fn test_trailer_buffer_len() {
        // (payload, alignment) -> pad length, by hand from RFC 4303 §2.4.
        let cases = [
            (0, Alignment::Byte, 2),
            (1, Alignment::Byte, 1),
            (2, Alignment::Word, 0),
            (3, Alignment::Byte, 3),
            (14, Alignment::Block16, 0),
            (15, Alignment::Block16, 15),
            (0, Alignment::Block16, 14),
            (6, Alignment::Block8, 0),
            (9, Alignment::Block8, 5),
            (usize::MAX, Alignment::Block16, 15),
        ];
        for (len, align, pad) in cases {
            let t = Trailer::for_payload(len, NextHeader::Udp, align);
            assert_eq!(t.pad_length, pad, "payload {len} align {align:?}");
            assert_eq!(t.buffer_len(), usize::from(pad) + 2);
        }
        assert_eq!(Alignment::from_block_size(16), Some(Alignment::Block16));
        assert_eq!(Alignment::from_block_size(1), Some(Alignment::Byte));
        assert_eq!(Alignment::from_block_size(12), None);
    }

    #[test]
    fn test_trailer_errors() {
        assert_eq!(Trailer::parse(&[]), Err(Error::Truncated(Layer::Esp)));
        assert_eq!(Trailer::parse(&[0x04]), Err(Error::Truncated(Layer::Esp)));
        // Pad length 3 but only 2 bytes before the trailer.
        assert_eq!(Trailer::parse(&[1, 2, 3, 17]), Err(PAD_LENGTH_TOO_LONG));
        let mut bad = PLAINTEXT_CBC;
        bad[9] = 0;
        assert_eq!(Trailer::parse(&bad), Err(BAD_PADDING));
        // Maximal padding (255) is accepted.
        let mut big = [0u8; 258];
        for (i, b) in big[1..256].iter_mut().enumerate() {
            *b = (i + 1) as u8;
        }
        big[256] = 255;
        big[257] = 41;
        let (t, range) = Trailer::parse(&big).unwrap();
        assert_eq!((t.next_header, range), (NextHeader::Ipv6, 0..1));
    }

    #[test]
    fn test_trailer_maximal_padding_round_trip() {
        // 255 bytes of padding (extra TFC padding, RFC 4303 §2.7) after a 1-byte payload.
        let t = Trailer {
            pad_length: 255,
            next_header: NextHeader::Ipv6,
        };
        let mut buf = [0u8; 258];
        buf[0] = 0x60;
        t.emit(&mut buf[1..]);
        assert_eq!(buf[1], 1);
        assert_eq!(buf[255], 255);
        assert_eq!(&buf[256..], &[255, 41]);
        assert_eq!(Trailer::parse(&buf), Ok((t, 0..1)));
    }

    #[test]
    fn test_trailer_truncations() {
        // Cutting the plaintext's end moves the trailer; it must never panic.
        assert_truncations_do_not_panic(&PLAINTEXT_CBC, Trailer::parse);
        assert_truncations_rejected(&PLAINTEXT_CBC[..2], Trailer::parse);
    }

    #[test]
    fn test_next_header_codes() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(NextHeader::from(v)), v);
        }
        assert_eq!(NextHeader::from(59), NextHeader::NoNextHeader);
        assert_eq!(NextHeader::from(50), NextHeader::Esp);
        assert_eq!(NextHeader::from(200), NextHeader::Unknown(200));
    }

    // A UDP/4500 datagram payload holding a non-ESP marker and a 28-byte ISAKMP header
    // (RFC 2408 §3.1: cookies, next payload 0, version 0x10, exchange 2, length 28).
    static ENCAP_IKE: [u8; 32] = [
        0x00, 0x00, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x1c,
    ];

    #[test]
    fn test_encap_parse() {
        assert_eq!(EncapRepr::parse(&[0xff]), Ok(EncapRepr::NatKeepalive));
        assert_eq!(
            EncapRepr::parse(&ENCAP_IKE),
            Ok(EncapRepr::Ike(&ENCAP_IKE[4..]))
        );
        assert_eq!(
            EncapRepr::parse(&PACKET_BYTES),
            Ok(EncapRepr::Esp(packet_repr()))
        );
        // A 0xFF that is not alone is the first byte of an SPI, not a keepalive.
        assert_eq!(
            EncapRepr::parse(&[0xff, 0, 0, 0, 0, 0, 0, 9]),
            Ok(EncapRepr::Esp(Repr {
                spi: 0xff00_0000,
                sequence_number: 9,
                payload: &[]
            }))
        );
    }

    #[test]
    fn test_encap_errors() {
        assert_eq!(EncapRepr::parse(&[]), Err(ENCAP_TRUNCATED));
        assert_eq!(EncapRepr::parse(&[0x00]), Err(ENCAP_TRUNCATED));
        assert_eq!(EncapRepr::parse(&[0xff, 0xff, 0xff]), Err(ENCAP_TRUNCATED));
        assert_eq!(EncapRepr::parse(&ENCAP_IKE[..31]), Err(ENCAP_TRUNCATED));
        assert_eq!(EncapRepr::parse(&[0, 0, 0, 0]), Err(ENCAP_TRUNCATED));
        assert_eq!(
            EncapRepr::parse(&PACKET_BYTES[..7]),
            Err(Error::Truncated(Layer::Esp))
        );
    }

    #[test]
    fn test_encap_emit_buffer_len() {
        let cases: [(EncapRepr<'_>, &[u8]); 3] = [
            (EncapRepr::NatKeepalive, &[0xff]),
            (EncapRepr::Ike(&ENCAP_IKE[4..]), &ENCAP_IKE),
            (EncapRepr::Esp(packet_repr()), &PACKET_BYTES),
        ];
        for (repr, expected) in cases {
            assert_eq!(repr.buffer_len(), expected.len());
            let mut buf = [0x5au8; 32];
            repr.emit(&mut buf[..repr.buffer_len()]);
            assert_eq!(&buf[..expected.len()], expected);
        }
        let mut buf = [0x5au8; 6];
        emit_non_esp_marker(&mut buf).copy_from_slice(&[1, 2]);
        assert_eq!(buf, [0, 0, 0, 0, 1, 2]);
    }

    #[test]
    fn test_encap_truncations() {
        assert_truncations_rejected(&ENCAP_IKE, |b| EncapRepr::parse(b).map(drop));
        assert_truncations_do_not_panic(&PACKET_BYTES, |b| EncapRepr::parse(b).map(drop));
    }
}

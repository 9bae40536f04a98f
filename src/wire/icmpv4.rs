//! ICMPv4 Echo Request / Echo Reply (RFC 792, "Echo or Echo Reply Message").
//!
//! loadgen pings through each emulated subscriber's session to the concentrator's
//! PPP-side address and matches the replies; nothing else in shardvpn speaks ICMP, so
//! other message types parse only as far as type, code and checksum.

use super::{Error, Layer, Result, checksum};

mod field {
    use crate::wire::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const IDENTIFIER: Field = 4..6;
    pub const SEQUENCE: Field = 6..8;
}

/// Length of an Echo header (type, code, checksum, identifier, sequence number).
pub const ECHO_HEADER_LEN: usize = field::SEQUENCE.end;

open_enum! {
    /// ICMP message types used here (RFC 792).
    pub enum MessageType: u8 {
        EchoReply = 0,
        EchoRequest = 8,
    }
}

/// A read/write view of an ICMPv4 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps untrusted bytes: at least the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        if p.buffer.as_ref().len() < ECHO_HEADER_LEN {
            return Err(Error::Truncated(Layer::Icmpv4));
        }
        Ok(p)
    }

    pub fn message_type(&self) -> MessageType {
        MessageType::from(self.buffer.as_ref()[field::TYPE])
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::CHECKSUM];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn identifier(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::IDENTIFIER];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn sequence(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::SEQUENCE];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[ECHO_HEADER_LEN..]
    }

    /// Whether the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0
    }
}

/// An Echo Request or Reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoRepr<'a> {
    pub reply: bool,
    pub identifier: u16,
    pub sequence: u16,
    pub data: &'a [u8],
}

impl<'a> EchoRepr<'a> {
    /// Parses an Echo Request or Reply with a valid checksum.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &'a Packet<&'a T>) -> Result<EchoRepr<'a>> {
        let reply = match packet.message_type() {
            MessageType::EchoReply => true,
            MessageType::EchoRequest => false,
            MessageType::Unknown(_) => {
                return Err(Error::Malformed(Layer::Icmpv4, "not an echo message"));
            }
        };
        if packet.code() != 0 {
            return Err(Error::Malformed(Layer::Icmpv4, "echo code must be 0"));
        }
        if !packet.verify_checksum() {
            return Err(Error::BadChecksum(Layer::Icmpv4));
        }
        Ok(EchoRepr {
            reply,
            identifier: packet.identifier(),
            sequence: packet.sequence(),
            data: &packet.buffer.as_ref()[ECHO_HEADER_LEN..],
        })
    }

    pub const fn buffer_len(&self) -> usize {
        ECHO_HEADER_LEN + self.data.len()
    }

    /// Writes the message and its checksum into `buf` (exactly `buffer_len()` long).
    pub fn emit(&self, buf: &mut [u8]) {
        let ty = if self.reply {
            MessageType::EchoReply
        } else {
            MessageType::EchoRequest
        };
        buf[field::TYPE] = u8::from(ty);
        buf[field::CODE] = 0;
        buf[field::CHECKSUM].copy_from_slice(&[0, 0]);
        buf[field::IDENTIFIER].copy_from_slice(&self.identifier.to_be_bytes());
        buf[field::SEQUENCE].copy_from_slice(&self.sequence.to_be_bytes());
        buf[ECHO_HEADER_LEN..ECHO_HEADER_LEN + self.data.len()].copy_from_slice(self.data);
        let sum = checksum::data(&buf[..self.buffer_len()]);
        buf[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::assert_truncations_rejected;

    // `ping -p 0102` style request: id 0x1234, seq 1, data "abcd". The checksum was
    // computed independently in Python: ~(0x0800 + 0x1234 + 0x0001 + 0x6162 + 0x6364).
    const REQUEST: [u8; 12] = [8, 0, 0x21, 0x04, 0x12, 0x34, 0, 1, b'a', b'b', b'c', b'd'];

    #[test]
    fn parses_and_emits_a_request() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        let repr = EchoRepr::parse(&p).unwrap();
        assert_eq!(
            repr,
            EchoRepr {
                reply: false,
                identifier: 0x1234,
                sequence: 1,
                data: b"abcd"
            }
        );
        let mut buf = [0u8; 12];
        repr.emit(&mut buf);
        assert_eq!(buf, REQUEST);
    }

    #[test]
    fn rejects_bad_input() {
        let mut bad = REQUEST;
        bad[11] ^= 1;
        let p = Packet::new_checked(&bad[..]).unwrap();
        assert_eq!(EchoRepr::parse(&p), Err(Error::BadChecksum(Layer::Icmpv4)));
        let mut other = REQUEST;
        other[0] = 3;
        let p = Packet::new_checked(&other[..]).unwrap();
        assert!(matches!(EchoRepr::parse(&p), Err(Error::Malformed(..))));
        assert_truncations_rejected(&REQUEST[..ECHO_HEADER_LEN], |b| {
            Packet::new_checked(b).map(drop)
        });
    }
}

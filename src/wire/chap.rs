//! CHAP, the Challenge-Handshake Authentication Protocol (RFC 1994 §4), PPP protocol
//! 0xC223, with the MS-CHAPv2 Change-Password code (RFC 2759 §7).
//!
//! Every packet has the RFC 1661 §5 header (Code, Identifier, Length) and then
//!
//! - Challenge (1) / Response (2): Value-Size, Value, Name (the rest, not
//!   NUL-terminated, RFC 1994 §4.1);
//! - Success (3) / Failure (4): Message (the rest, RFC 1994 §4.2). MS-CHAPv2 puts its
//!   "S=..." / "E=..." texts here; [`super::mschapv2`] reads them;
//! - Change-Password (7, MS-CHAPv2 only) and unknown codes: kept as raw data
//!   ([`Repr::Other`]); [`super::mschapv2::ChangePasswordRepr`] reads code 7.
//!
//! Decisions: octets after Length are padding and ignored (RFC 1661 §5 applies to all
//! PPP control protocols). Value-Size 0 is accepted: whether a value of a given size
//! is acceptable (16 for MD5 and MS-CHAPv2 challenges, 49 for MS-CHAPv2 responses)
//! depends on the negotiated algorithm, so it is the engine's check.
#![forbid(unsafe_code)]

use super::{Layer, Reader, Result, Writer};

pub use super::ppp_options::ChapAlgorithm;

pub use super::ppp::field;

/// Octets of Code + Identifier + Length.
pub const HEADER_LEN: usize = super::ppp::CONTROL_HEADER_LEN;

open_enum! {
    /// CHAP codes (RFC 1994 §4, RFC 2759 §7).
    pub enum Code: u8 {
        Challenge = 1,
        Response = 2,
        Success = 3,
        Failure = 4,
        /// MS-CHAPv2 Change-Password (RFC 2759 §7).
        ChangePassword = 7,
    }
}

/// CHAP packets (protocol 0xC223) in the RFC 1661 §5 format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chap;

impl super::ppp::PacketKind for Chap {
    type Code = Code;
    const LAYER: Layer = Layer::Chap;
}

/// A view of a packet: the RFC 1661 §5 header shared with LCP, and the data.
pub type Packet<T> = super::ppp::CodedPacket<T, Chap>;

/// A parsed CHAP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    Challenge {
        identifier: u8,
        value: &'a [u8],
        name: &'a [u8],
    },
    Response {
        identifier: u8,
        value: &'a [u8],
        name: &'a [u8],
    },
    Success {
        identifier: u8,
        message: &'a [u8],
    },
    Failure {
        identifier: u8,
        message: &'a [u8],
    },
    /// Change-Password and codes CHAP does not define, with their raw data.
    Other {
        code: Code,
        identifier: u8,
        data: &'a [u8],
    },
}

impl<'a> Repr<'a> {
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self> {
        packet.check_len()?;
        let identifier = packet.identifier();
        let data = packet.data();
        let value_and_name = || -> Result<(&'a [u8], &'a [u8])> {
            let mut r = Reader::new(data, Layer::Chap);
            let size = usize::from(r.u8()?);
            let value = r.take(size)?;
            Ok((value, r.rest()))
        };
        Ok(match packet.code() {
            Code::Challenge => {
                let (value, name) = value_and_name()?;
                Repr::Challenge {
                    identifier,
                    value,
                    name,
                }
            }
            Code::Response => {
                let (value, name) = value_and_name()?;
                Repr::Response {
                    identifier,
                    value,
                    name,
                }
            }
            Code::Success => Repr::Success {
                identifier,
                message: data,
            },
            Code::Failure => Repr::Failure {
                identifier,
                message: data,
            },
            code @ (Code::ChangePassword | Code::Unknown(_)) => Repr::Other {
                code,
                identifier,
                data,
            },
        })
    }

    pub fn code(&self) -> Code {
        match *self {
            Repr::Challenge { .. } => Code::Challenge,
            Repr::Response { .. } => Code::Response,
            Repr::Success { .. } => Code::Success,
            Repr::Failure { .. } => Code::Failure,
            Repr::Other { code, .. } => code,
        }
    }

    pub fn identifier(&self) -> u8 {
        match *self {
            Repr::Challenge { identifier, .. }
            | Repr::Response { identifier, .. }
            | Repr::Success { identifier, .. }
            | Repr::Failure { identifier, .. }
            | Repr::Other { identifier, .. } => identifier,
        }
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Repr::Challenge { value, name, .. } | Repr::Response { value, name, .. } => {
                    1 + value.len() + name.len()
                }
                Repr::Success { message, .. } | Repr::Failure { message, .. } => message.len(),
                Repr::Other { data, .. } => data.len(),
            }
    }

    /// Writes the packet. A Value longer than 255 octets or a packet longer than
    /// 65535 cannot be encoded and panics (a caller bug).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let length = u16::try_from(self.buffer_len()).expect("CHAP packet too long");
        packet.set_code(self.code());
        packet.set_identifier(self.identifier());
        packet.set_length(length);
        let mut w = Writer::new(packet.data_mut());
        match *self {
            Repr::Challenge { value, name, .. } | Repr::Response { value, name, .. } => {
                w.put_u8(u8::try_from(value.len()).expect("CHAP value longer than 255"));
                w.put_slice(value);
                w.put_slice(name);
            }
            Repr::Success { message, .. } | Repr::Failure { message, .. } => w.put_slice(message),
            Repr::Other { data, .. } => w.put_slice(data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Error;
    use crate::wire::test_util::assert_truncations_rejected;

    // MD5 Challenge, id 1, 16-octet value 00..0f, name "lns".
    static CHALLENGE: [u8; 24] = [
        0x01, 0x01, 0x00, 0x18, 0x10, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
        0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, b'l', b'n', b's',
    ];
    // Response, id 1, 4-octet value, name "bob", one octet of padding.
    static RESPONSE: [u8; 13] = [
        0x02, 0x01, 0x00, 0x0c, 0x04, 0xde, 0xad, 0xbe, 0xef, b'b', b'o', b'b', 0x00,
    ];
    static SUCCESS: [u8; 11] = [
        0x03, 0x01, 0x00, 0x0b, b'W', b'e', b'l', b'c', b'o', b'm', b'e',
    ];
    static FAILURE: [u8; 4] = [0x04, 0x02, 0x00, 0x04];
    static CHANGE_PASSWORD_HEAD: [u8; 6] = [0x07, 0x03, 0x00, 0x06, 0xaa, 0xbb];

    fn parse(bytes: &[u8]) -> Result<Repr<'_>> {
        Repr::parse(&Packet::new_checked(bytes)?)
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&CHALLENGE[..]).unwrap();
        assert_eq!(p.code(), Code::Challenge);
        assert_eq!(p.identifier(), 1);
        assert_eq!(p.length(), 24);
        assert_eq!(p.data()[0], 16);
        let p = Packet::new_checked(&RESPONSE[..]).unwrap();
        assert_eq!(p.data(), &RESPONSE[4..12]);
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 11];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_code(Code::Success);
        p.set_identifier(1);
        p.set_length(11);
        p.data_mut().copy_from_slice(b"Welcome");
        assert_eq!(buf, SUCCESS);
    }

    #[test]
    fn check_len() {
        assert_eq!(
            Packet::new_checked(&[1, 1, 0][..]),
            Err(Error::Truncated(Layer::Chap))
        );
        assert_eq!(
            Packet::new_checked(&[1, 1, 0, 3][..]),
            Err(Error::BadLength(Layer::Chap))
        );
        assert_eq!(
            Packet::new_checked(&CHALLENGE[..23]),
            Err(Error::Truncated(Layer::Chap))
        );
        // Value-Size past Length.
        assert_eq!(
            parse(&[1, 1, 0, 6, 2, 0xaa, 0xbb]),
            Err(Error::Truncated(Layer::Chap))
        );
        // No Value-Size at all.
        assert_eq!(parse(&[2, 1, 0, 4]), Err(Error::Truncated(Layer::Chap)));
    }

    #[test]
    fn parse_packets() {
        let value: Vec<u8> = (0..16).collect();
        assert_eq!(
            parse(&CHALLENGE).unwrap(),
            Repr::Challenge {
                identifier: 1,
                value: &value,
                name: b"lns"
            }
        );
        assert_eq!(
            parse(&RESPONSE).unwrap(),
            Repr::Response {
                identifier: 1,
                value: &[0xde, 0xad, 0xbe, 0xef],
                name: b"bob"
            }
        );
        assert_eq!(
            parse(&SUCCESS).unwrap(),
            Repr::Success {
                identifier: 1,
                message: b"Welcome"
            }
        );
        assert_eq!(
            parse(&FAILURE).unwrap(),
            Repr::Failure {
                identifier: 2,
                message: b""
            }
        );
        assert_eq!(
            parse(&CHANGE_PASSWORD_HEAD).unwrap(),
            Repr::Other {
                code: Code::ChangePassword,
                identifier: 3,
                data: &[0xaa, 0xbb]
            }
        );
    }

    #[test]
    fn emit() {
        for (bytes, len) in [
            (&CHALLENGE[..], 24),
            (&RESPONSE[..], 12),
            (&SUCCESS[..], 11),
            (&FAILURE[..], 4),
            (&CHANGE_PASSWORD_HEAD[..], 6),
        ] {
            let repr = parse(bytes).unwrap();
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            assert_eq!(buf, &bytes[..len]);
        }
    }

    #[test]
    fn buffer_len() {
        assert_eq!(parse(&CHALLENGE).unwrap().buffer_len(), 24);
        assert_eq!(parse(&RESPONSE).unwrap().buffer_len(), 12);
        let repr = Repr::Response {
            identifier: 0,
            value: &[0; 49],
            name: b"User",
        };
        assert_eq!(repr.buffer_len(), 4 + 1 + 49 + 4);
    }

    #[test]
    fn truncations() {
        for bytes in [
            &CHALLENGE[..],
            &RESPONSE[..12],
            &SUCCESS[..],
            &FAILURE[..],
            &CHANGE_PASSWORD_HEAD[..],
        ] {
            assert_truncations_rejected(bytes, |b| parse(b).map(|_| ()));
        }
    }

    #[test]
    fn codes() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(Code::from(v)), v);
        }
        assert_eq!(Code::from(7), Code::ChangePassword);
    }
}

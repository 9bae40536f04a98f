//! PAP, the Password Authentication Protocol (RFC 1334 §2.2), PPP protocol 0xC023.
//!
//! Every packet has the RFC 1661 §5 header (Code, Identifier, Length) and then
//!
//! - Authenticate-Request (1): Peer-ID-Length, Peer-ID, Passwd-Length, Password;
//! - Authenticate-Ack (2) / -Nak (3): Msg-Length, Message.
//!
//! Decisions:
//! - As in LCP, octets after Length are padding and ignored. Octets inside Length
//!   after the last field are ignored too (pppd does the same); they carry nothing.
//! - An Ack/Nak with no data at all (Length 4, no Msg-Length octet) is accepted as
//!   an empty message: some peers send it, and pppd accepts it. We always emit the
//!   Msg-Length octet.
//! - The password is a secret: [`Password`] borrows it from the packet buffer, never
//!   prints it in `Debug`, and compares in constant time. The buffer itself belongs to
//!   the caller, who zeroizes it after use.
#![forbid(unsafe_code)]

use core::fmt;

use subtle::ConstantTimeEq;

use super::{Layer, Reader, Result, Writer};

pub use super::ppp::field;

/// Octets of Code + Identifier + Length.
pub const HEADER_LEN: usize = super::ppp::CONTROL_HEADER_LEN;

open_enum! {
    /// PAP codes (RFC 1334 §2.2).
    pub enum Code: u8 {
        AuthenticateRequest = 1,
        AuthenticateAck = 2,
        AuthenticateNak = 3,
    }
}

/// PAP packets (protocol 0xC023) in the RFC 1661 §5 format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pap;

impl super::ppp::PacketKind for Pap {
    type Code = Code;
    const LAYER: Layer = Layer::Pap;
}

/// A view of a packet: the RFC 1661 §5 header shared with LCP, and the data.
pub type Packet<T> = super::ppp::CodedPacket<T, Pap>;

/// A password borrowed from a packet: redacted in `Debug`, compared in constant
/// time (the length is not secret: it is on the wire).
#[derive(Clone, Copy)]
pub struct Password<'a>(pub &'a [u8]);

impl Password<'_> {
    pub fn expose(&self) -> &[u8] {
        self.0
    }
}

impl fmt::Debug for Password<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password(<{} octets redacted>)", self.0.len())
    }
}

impl PartialEq for Password<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(other.0).into()
    }
}

impl Eq for Password<'_> {}

/// A parsed PAP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    AuthenticateRequest {
        identifier: u8,
        peer_id: &'a [u8],
        password: Password<'a>,
    },
    AuthenticateAck {
        identifier: u8,
        message: &'a [u8],
    },
    AuthenticateNak {
        identifier: u8,
        message: &'a [u8],
    },
    /// A code PAP does not define, with its raw data.
    Unknown {
        code: u8,
        identifier: u8,
        data: &'a [u8],
    },
}

/// A length-prefixed (one octet) string.
fn short_string<'a>(r: &mut Reader<'a>) -> Result<&'a [u8]> {
    let len = usize::from(r.u8()?);
    r.take(len)
}

fn short_len(s: &[u8]) -> u8 {
    u8::try_from(s.len()).expect("PAP string longer than 255 octets")
}

impl<'a> Repr<'a> {
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self> {
        packet.check_len()?;
        let identifier = packet.identifier();
        let data = packet.data();
        let mut r = Reader::new(data, Layer::Pap);
        Ok(match packet.code() {
            Code::AuthenticateRequest => {
                let peer_id = short_string(&mut r)?;
                let password = Password(short_string(&mut r)?);
                Repr::AuthenticateRequest {
                    identifier,
                    peer_id,
                    password,
                }
            }
            code @ (Code::AuthenticateAck | Code::AuthenticateNak) => {
                let message = if r.is_empty() {
                    &[][..]
                } else {
                    short_string(&mut r)?
                };
                if code == Code::AuthenticateAck {
                    Repr::AuthenticateAck {
                        identifier,
                        message,
                    }
                } else {
                    Repr::AuthenticateNak {
                        identifier,
                        message,
                    }
                }
            }
            Code::Unknown(code) => Repr::Unknown {
                code,
                identifier,
                data,
            },
        })
    }

    pub fn code(&self) -> Code {
        match self {
            Repr::AuthenticateRequest { .. } => Code::AuthenticateRequest,
            Repr::AuthenticateAck { .. } => Code::AuthenticateAck,
            Repr::AuthenticateNak { .. } => Code::AuthenticateNak,
            Repr::Unknown { code, .. } => Code::from(*code),
        }
    }

    pub fn identifier(&self) -> u8 {
        match *self {
            Repr::AuthenticateRequest { identifier, .. }
            | Repr::AuthenticateAck { identifier, .. }
            | Repr::AuthenticateNak { identifier, .. }
            | Repr::Unknown { identifier, .. } => identifier,
        }
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Repr::AuthenticateRequest {
                    peer_id, password, ..
                } => 2 + peer_id.len() + password.0.len(),
                Repr::AuthenticateAck { message, .. } | Repr::AuthenticateNak { message, .. } => {
                    1 + message.len()
                }
                Repr::Unknown { data, .. } => data.len(),
            }
    }

    /// Writes the packet. Peer-ID, Password and Message longer than 255 octets cannot
    /// be encoded and panic (a caller bug).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let length = u16::try_from(self.buffer_len()).expect("PAP packet too long");
        packet.set_code(self.code());
        packet.set_identifier(self.identifier());
        packet.set_length(length);
        let mut w = Writer::new(packet.data_mut());
        match *self {
            Repr::AuthenticateRequest {
                peer_id, password, ..
            } => {
                w.put_u8(short_len(peer_id));
                w.put_slice(peer_id);
                w.put_u8(short_len(password.0));
                w.put_slice(password.0);
            }
            Repr::AuthenticateAck { message, .. } | Repr::AuthenticateNak { message, .. } => {
                w.put_u8(short_len(message));
                w.put_slice(message);
            }
            Repr::Unknown { data, .. } => w.put_slice(data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Error;
    use crate::wire::test_util::assert_truncations_rejected;

    // Authenticate-Request, id 1, Peer-ID "alice", Password "s3cret".
    static REQUEST: [u8; 17] = [
        0x01, 0x01, 0x00, 0x11, 0x05, b'a', b'l', b'i', b'c', b'e', 0x06, b's', b'3', b'c', b'r',
        b'e', b't',
    ];
    // Authenticate-Ack, id 1, "OK", followed by one octet of padding.
    static ACK: [u8; 8] = [0x02, 0x01, 0x00, 0x07, 0x02, b'O', b'K', 0x00];
    // Authenticate-Nak, id 2, empty message.
    static NAK: [u8; 5] = [0x03, 0x02, 0x00, 0x05, 0x00];

    fn parse(bytes: &[u8]) -> Result<Repr<'_>> {
        Repr::parse(&Packet::new_checked(bytes)?)
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.code(), Code::AuthenticateRequest);
        assert_eq!(p.identifier(), 1);
        assert_eq!(p.length(), 17);
        assert_eq!(p.data(), &REQUEST[4..]);
        let p = Packet::new_checked(&ACK[..]).unwrap();
        assert_eq!(p.data(), &[0x02, b'O', b'K']);
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 5];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_code(Code::AuthenticateNak);
        p.set_identifier(2);
        p.set_length(5);
        p.data_mut()[0] = 0;
        assert_eq!(buf, NAK);
    }

    #[test]
    fn check_len() {
        assert_eq!(
            Packet::new_checked(&[1, 1, 0][..]),
            Err(Error::Truncated(Layer::Pap))
        );
        assert_eq!(
            Packet::new_checked(&[1, 1, 0, 2][..]),
            Err(Error::BadLength(Layer::Pap))
        );
        assert_eq!(
            Packet::new_checked(&REQUEST[..16]),
            Err(Error::Truncated(Layer::Pap))
        );
        // Peer-ID-Length running past Length.
        assert_eq!(
            parse(&[1, 1, 0, 6, 5, b'a']),
            Err(Error::Truncated(Layer::Pap))
        );
        // Missing Passwd-Length.
        assert_eq!(
            parse(&[1, 1, 0, 6, 1, b'a']),
            Err(Error::Truncated(Layer::Pap))
        );
    }

    #[test]
    fn parse_packets() {
        let repr = parse(&REQUEST).unwrap();
        assert_eq!(
            repr,
            Repr::AuthenticateRequest {
                identifier: 1,
                peer_id: b"alice",
                password: Password(b"s3cret"),
            }
        );
        assert_eq!(
            parse(&ACK).unwrap(),
            Repr::AuthenticateAck {
                identifier: 1,
                message: b"OK"
            }
        );
        assert_eq!(
            parse(&NAK).unwrap(),
            Repr::AuthenticateNak {
                identifier: 2,
                message: b""
            }
        );
        // An Ack without the Msg-Length octet.
        assert_eq!(
            parse(&[2, 9, 0, 4]).unwrap(),
            Repr::AuthenticateAck {
                identifier: 9,
                message: b""
            }
        );
        assert_eq!(
            parse(&[7, 9, 0, 5, 0xaa]).unwrap(),
            Repr::Unknown {
                code: 7,
                identifier: 9,
                data: &[0xaa]
            }
        );
    }

    #[test]
    fn emit() {
        for (bytes, len) in [(&REQUEST[..], 17), (&ACK[..], 7), (&NAK[..], 5)] {
            let repr = parse(bytes).unwrap();
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            assert_eq!(buf, &bytes[..len]);
        }
    }

    #[test]
    fn buffer_len() {
        let repr = Repr::AuthenticateRequest {
            identifier: 0,
            peer_id: b"",
            password: Password(b""),
        };
        assert_eq!(repr.buffer_len(), 6);
        assert_eq!(parse(&REQUEST).unwrap().buffer_len(), 17);
        assert_eq!(parse(&ACK).unwrap().buffer_len(), 7);
    }

    #[test]
    fn truncations() {
        for bytes in [&REQUEST[..], &ACK[..7], &NAK[..]] {
            assert_truncations_rejected(bytes, |b| parse(b).map(|_| ()));
        }
    }

    #[test]
    fn password_is_redacted() {
        let repr = parse(&REQUEST).unwrap();
        let text = format!("{repr:?}");
        assert!(
            !text.contains("s3cret") && !text.contains("115, 51"),
            "{text}"
        );
        assert!(text.contains("alice") || text.contains("97, 108"));
        assert_ne!(Password(b"s3cret"), Password(b"s3creT"));
    }
}

//! The typed payload bodies other than SA (RFC 2408 §3.7-§3.15, RFC 2407 §4.6,
//! RFC 3947 §3.2 and §5.2, RFC 3706 §5, IKE fragmentation) and [`Payload`], the enum
//! that dispatches on the payload type.
//!
//! Every Repr here is the payload *body*: the generic header (RFC 2408 §3.2) is read by
//! [`super::Payloads`] and written by [`Payload::emit`], which knows the next type.
//! Each Repr has `parse(body)`, `buffer_len()` (body length) and `emit(body)`.

use core::net::{Ipv4Addr, Ipv6Addr};

use super::super::{Error, Layer, Reader, Result, Writer};
use super::sa::{Doi, ProtocolId, SaRepr};
use super::{PAYLOAD_HEADER_LEN, PayloadType};

/// Payload bodies that are one opaque field.
macro_rules! opaque_payload {
    ($(#[$meta:meta])* $name:ident, $field:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<'a> {
            pub $field: &'a [u8],
        }

        impl<'a> $name<'a> {
            pub fn parse(body: &'a [u8]) -> Result<Self> {
                Ok($name { $field: body })
            }
            pub fn buffer_len(&self) -> usize {
                self.$field.len()
            }
            pub fn emit(&self, body: &mut [u8]) {
                body[..self.$field.len()].copy_from_slice(self.$field);
            }
        }
    };
}

opaque_payload!(
    /// Key Exchange payload (RFC 2408 §3.7): the Diffie-Hellman public value.
    KeyExchangeRepr,
    key_data
);
opaque_payload!(
    /// Hash payload (RFC 2408 §3.11).
    HashRepr,
    hash
);
opaque_payload!(
    /// Signature payload (RFC 2408 §3.12).
    SignatureRepr,
    signature
);
opaque_payload!(
    /// Nonce payload (RFC 2408 §3.13).
    NonceRepr,
    nonce
);
opaque_payload!(
    /// Vendor ID payload (RFC 2408 §3.16): usually an MD5 hash, see
    /// [`super::vendor_id`].
    VendorIdRepr,
    vendor_id
);
opaque_payload!(
    /// NAT-D payload (RFC 3947 §3.2): HASH(CKY-I | CKY-R | IP | Port).
    NatDRepr,
    hash
);

/// Nonce length bounds (RFC 2409 §5: "between 8 and 256 bytes inclusive").
pub const NONCE_MIN_LEN: usize = 8;
pub const NONCE_MAX_LEN: usize = 256;

impl NonceRepr<'_> {
    /// Whether the length is within RFC 2409 §5's bounds (policy; not checked by
    /// `parse`).
    pub fn len_ok(&self) -> bool {
        (NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&self.nonce.len())
    }
}

impl VendorIdRepr<'_> {
    /// Exact match against a known vendor ID.
    pub fn is(&self, known: &[u8]) -> bool {
        self.vendor_id == known
    }

    /// Prefix match, for vendor IDs followed by version or capability bytes
    /// (FRAGMENTATION, MS NT5 ISAKMPOAKLEY).
    pub fn starts_with(&self, known: &[u8]) -> bool {
        self.vendor_id.starts_with(known)
    }
}

open_enum! {
    /// Identification types of the IPsec DOI (RFC 2407 §4.6.2.1), also used by NAT-OA.
    pub enum IdType: u8 {
        Ipv4Addr = 1,
        Fqdn = 2,
        UserFqdn = 3,
        Ipv4AddrSubnet = 4,
        Ipv6Addr = 5,
        Ipv6AddrSubnet = 6,
        Ipv4AddrRange = 7,
        Ipv6AddrRange = 8,
        DerAsn1Dn = 9,
        DerAsn1Gn = 10,
        KeyId = 11,
    }
}

/// Identification payload body (RFC 2408 §3.8 with the IPsec DOI's split of the
/// DOI-specific field into Protocol ID and Port, RFC 2407 §4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentificationRepr<'a> {
    pub id_type: IdType,
    /// IP protocol number (17 for UDP/500 in phase 1 per RFC 2407 §4.6.2, or 0).
    pub protocol: u8,
    pub port: u16,
    pub data: &'a [u8],
}

impl<'a> IdentificationRepr<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(body, Layer::IsakmpPayload);
        Ok(IdentificationRepr {
            id_type: IdType::from(r.u8()?),
            protocol: r.u8()?,
            port: r.u16()?,
            data: r.rest(),
        })
    }
    pub fn buffer_len(&self) -> usize {
        4 + self.data.len()
    }
    pub fn emit(&self, body: &mut [u8]) {
        let mut w = Writer::new(body);
        w.put_u8(self.id_type.into());
        w.put_u8(self.protocol);
        w.put_u16(self.port);
        w.put_slice(self.data);
    }

    /// The address of an ID_IPV4_ADDR.
    pub fn ipv4_addr(&self) -> Option<Ipv4Addr> {
        match (self.id_type, <[u8; 4]>::try_from(self.data)) {
            (IdType::Ipv4Addr, Ok(a)) => Some(Ipv4Addr::from(a)),
            _ => None,
        }
    }

    /// The address of an ID_IPV6_ADDR.
    pub fn ipv6_addr(&self) -> Option<Ipv6Addr> {
        match (self.id_type, <[u8; 16]>::try_from(self.data)) {
            (IdType::Ipv6Addr, Ok(a)) => Some(Ipv6Addr::from(a)),
            _ => None,
        }
    }
}

open_enum! {
    /// Certificate encodings (RFC 2408 §3.9).
    pub enum CertificateEncoding: u8 {
        Pkcs7 = 1,
        Pgp = 2,
        DnsSignedKey = 3,
        X509Signature = 4,
        X509KeyExchange = 5,
        Kerberos = 6,
        Crl = 7,
        Arl = 8,
        Spki = 9,
        X509Attribute = 10,
    }
}

/// Certificate payload body (RFC 2408 §3.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateRepr<'a> {
    pub encoding: CertificateEncoding,
    pub data: &'a [u8],
}

impl<'a> CertificateRepr<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(body, Layer::IsakmpPayload);
        Ok(CertificateRepr {
            encoding: CertificateEncoding::from(r.u8()?),
            data: r.rest(),
        })
    }
    pub fn buffer_len(&self) -> usize {
        1 + self.data.len()
    }
    pub fn emit(&self, body: &mut [u8]) {
        let mut w = Writer::new(body);
        w.put_u8(self.encoding.into());
        w.put_slice(self.data);
    }
}

/// Certificate Request payload body (RFC 2408 §3.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateRequestRepr<'a> {
    pub certificate_type: CertificateEncoding,
    /// Certificate Authority: for X.509, a DER distinguished name; may be empty.
    pub authority: &'a [u8],
}

impl<'a> CertificateRequestRepr<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(body, Layer::IsakmpPayload);
        Ok(CertificateRequestRepr {
            certificate_type: CertificateEncoding::from(r.u8()?),
            authority: r.rest(),
        })
    }
    pub fn buffer_len(&self) -> usize {
        1 + self.authority.len()
    }
    pub fn emit(&self, body: &mut [u8]) {
        let mut w = Writer::new(body);
        w.put_u8(self.certificate_type.into());
        w.put_slice(self.authority);
    }
}

open_enum! {
    /// Notify message types: errors (RFC 2408 §3.14.1), IPsec DOI status types
    /// (RFC 2407 §4.6.3) and dead peer detection (RFC 3706 §5).
    pub enum NotifyMessageType: u16 {
        InvalidPayloadType = 1,
        DoiNotSupported = 2,
        SituationNotSupported = 3,
        InvalidCookie = 4,
        InvalidMajorVersion = 5,
        InvalidMinorVersion = 6,
        InvalidExchangeType = 7,
        InvalidFlags = 8,
        InvalidMessageId = 9,
        InvalidProtocolId = 10,
        InvalidSpi = 11,
        InvalidTransformId = 12,
        AttributesNotSupported = 13,
        NoProposalChosen = 14,
        BadProposalSyntax = 15,
        PayloadMalformed = 16,
        InvalidKeyInformation = 17,
        InvalidIdInformation = 18,
        InvalidCertEncoding = 19,
        InvalidCertificate = 20,
        CertTypeUnsupported = 21,
        InvalidCertAuthority = 22,
        InvalidHashInformation = 23,
        AuthenticationFailed = 24,
        InvalidSignature = 25,
        AddressNotification = 26,
        NotifySaLifetime = 27,
        CertificateUnavailable = 28,
        UnsupportedExchangeType = 29,
        UnequalPayloadLengths = 30,
        ResponderLifetime = 24576,
        ReplayStatus = 24577,
        InitialContact = 24578,
        RUThere = 36136,
        RUThereAck = 36137,
    }
}

/// Notification payload body (RFC 2408 §3.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationRepr<'a> {
    pub doi: Doi,
    pub protocol: ProtocolId,
    pub message_type: NotifyMessageType,
    /// For PROTO_ISAKMP (INITIAL-CONTACT, R-U-THERE) the cookie pair, 16 bytes
    /// (RFC 2407 §4.6.3.3, RFC 3706 §5.1), or empty.
    pub spi: &'a [u8],
    pub data: &'a [u8],
}

impl<'a> NotificationRepr<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(body, Layer::IsakmpPayload);
        let doi = Doi::from(r.u32()?);
        let protocol = ProtocolId::from(r.u8()?);
        let spi_size = usize::from(r.u8()?);
        let message_type = NotifyMessageType::from(r.u16()?);
        let spi = r.take(spi_size)?;
        Ok(NotificationRepr {
            doi,
            protocol,
            message_type,
            spi,
            data: r.rest(),
        })
    }
    pub fn buffer_len(&self) -> usize {
        8 + self.spi.len() + self.data.len()
    }
    pub fn emit(&self, body: &mut [u8]) {
        let mut w = Writer::new(body);
        w.put_u32(self.doi.into());
        w.put_u8(self.protocol.into());
        w.put_u8(self.spi.len() as u8);
        w.put_u16(self.message_type.into());
        w.put_slice(self.spi);
        w.put_slice(self.data);
    }

    /// The sequence number of an R-U-THERE or R-U-THERE-ACK (RFC 3706 §5.1: the
    /// Notification Data is a 32-bit sequence number).
    pub fn dpd_sequence(&self) -> Option<u32> {
        match self.message_type {
            NotifyMessageType::RUThere | NotifyMessageType::RUThereAck => {
                <[u8; 4]>::try_from(self.data).ok().map(u32::from_be_bytes)
            }
            _ => None,
        }
    }
}

/// Delete payload body (RFC 2408 §3.15). `spis` holds the SPIs back to back, each
/// `spi_size` bytes; an SPI size of 0 with SPIs present is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteRepr<'a> {
    pub doi: Doi,
    pub protocol: ProtocolId,
    pub spi_size: u8,
    pub spis: &'a [u8],
}

impl<'a> DeleteRepr<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(body, Layer::IsakmpPayload);
        let doi = Doi::from(r.u32()?);
        let protocol = ProtocolId::from(r.u8()?);
        let spi_size = r.u8()?;
        let count = usize::from(r.u16()?);
        if spi_size == 0 && count != 0 {
            return Err(Error::Malformed(
                Layer::IsakmpPayload,
                "delete with SPIs of size 0",
            ));
        }
        let spis = r.take(usize::from(spi_size) * count)?;
        r.expect_empty()?;
        Ok(DeleteRepr {
            doi,
            protocol,
            spi_size,
            spis,
        })
    }
    pub fn buffer_len(&self) -> usize {
        8 + self.spis.len()
    }
    pub fn emit(&self, body: &mut [u8]) {
        let mut w = Writer::new(body);
        w.put_u32(self.doi.into());
        w.put_u8(self.protocol.into());
        w.put_u8(self.spi_size);
        w.put_u16(self.spi_count() as u16);
        w.put_slice(self.spis);
    }

    /// Number of SPIs.
    pub fn spi_count(&self) -> usize {
        match self.spi_size {
            0 => 0,
            n => self.spis.len() / usize::from(n),
        }
    }

    /// The SPIs, each `spi_size` bytes.
    pub fn spis(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let size = usize::from(self.spi_size).max(1);
        let spis = if self.spi_size == 0 {
            &[][..]
        } else {
            self.spis
        };
        spis.chunks_exact(size)
    }
}

/// NAT-OA payload body (RFC 3947 §5.2): an ID type (IPv4 or IPv6 address), three
/// reserved bytes and the address. The address length must match an IPv4/IPv6 type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatOaRepr<'a> {
    pub id_type: IdType,
    pub address: &'a [u8],
}

impl<'a> NatOaRepr<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(body, Layer::IsakmpPayload);
        let id_type = IdType::from(r.u8()?);
        let _reserved = r.take(3)?;
        let address = r.rest();
        let want = match id_type {
            IdType::Ipv4Addr => Some(4),
            IdType::Ipv6Addr => Some(16),
            _ => None,
        };
        if want.is_some_and(|n| n != address.len()) {
            return Err(Error::Malformed(
                Layer::IsakmpPayload,
                "NAT-OA address length does not match its type",
            ));
        }
        Ok(NatOaRepr { id_type, address })
    }
    pub fn buffer_len(&self) -> usize {
        4 + self.address.len()
    }
    pub fn emit(&self, body: &mut [u8]) {
        let mut w = Writer::new(body);
        w.put_u8(self.id_type.into());
        w.put_slice(&[0, 0, 0]);
        w.put_slice(self.address);
    }

    pub fn ipv4_addr(&self) -> Option<Ipv4Addr> {
        match (self.id_type, <[u8; 4]>::try_from(self.address)) {
            (IdType::Ipv4Addr, Ok(a)) => Some(Ipv4Addr::from(a)),
            _ => None,
        }
    }

    pub fn ipv6_addr(&self) -> Option<Ipv6Addr> {
        match (self.id_type, <[u8; 16]>::try_from(self.address)) {
            (IdType::Ipv6Addr, Ok(a)) => Some(Ipv6Addr::from(a)),
            _ => None,
        }
    }
}

/// Fragment payload body of the Cisco/Microsoft IKE fragmentation extension (payload
/// type 132): fragment ID (2), fragment number (1, from 1), flags (1), data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentRepr<'a> {
    pub fragment_id: u16,
    pub fragment_number: u8,
    pub flags: u8,
    pub data: &'a [u8],
}

impl<'a> FragmentRepr<'a> {
    /// Flag set on the last fragment of a message.
    pub const LAST_FRAGMENT: u8 = 0x01;

    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(body, Layer::IsakmpPayload);
        Ok(FragmentRepr {
            fragment_id: r.u16()?,
            fragment_number: r.u8()?,
            flags: r.u8()?,
            data: r.rest(),
        })
    }
    pub fn buffer_len(&self) -> usize {
        4 + self.data.len()
    }
    pub fn emit(&self, body: &mut [u8]) {
        let mut w = Writer::new(body);
        w.put_u16(self.fragment_id);
        w.put_u8(self.fragment_number);
        w.put_u8(self.flags);
        w.put_slice(self.data);
    }
    pub fn is_last(&self) -> bool {
        self.flags & Self::LAST_FRAGMENT != 0
    }
}

/// A typed payload. Proposal and Transform only appear inside an SA; at the top level
/// they, like any type without a Repr here, are kept as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    Sa(SaRepr<'a>),
    KeyExchange(KeyExchangeRepr<'a>),
    Identification(IdentificationRepr<'a>),
    Certificate(CertificateRepr<'a>),
    CertificateRequest(CertificateRequestRepr<'a>),
    Hash(HashRepr<'a>),
    Signature(SignatureRepr<'a>),
    Nonce(NonceRepr<'a>),
    Notification(NotificationRepr<'a>),
    Delete(DeleteRepr<'a>),
    VendorId(VendorIdRepr<'a>),
    /// NAT-D with the RFC 3947 number (20).
    NatD(NatDRepr<'a>),
    /// NAT-D with the draft-02/03 number (130).
    NatDDraft(NatDRepr<'a>),
    /// NAT-OA with the RFC 3947 number (21).
    NatOa(NatOaRepr<'a>),
    /// NAT-OA with the draft-02/03 number (131).
    NatOaDraft(NatOaRepr<'a>),
    Fragment(FragmentRepr<'a>),
    /// Any other type, body kept raw. Never `PayloadType::None`.
    Unknown(PayloadType, &'a [u8]),
}

impl<'a> Payload<'a> {
    /// Parses the body of a payload of type `payload_type`.
    pub fn parse(payload_type: PayloadType, body: &'a [u8]) -> Result<Self> {
        Ok(match payload_type {
            PayloadType::SecurityAssociation => Payload::Sa(SaRepr::parse(body)?),
            PayloadType::KeyExchange => Payload::KeyExchange(KeyExchangeRepr::parse(body)?),
            PayloadType::Identification => {
                Payload::Identification(IdentificationRepr::parse(body)?)
            }
            PayloadType::Certificate => Payload::Certificate(CertificateRepr::parse(body)?),
            PayloadType::CertificateRequest => {
                Payload::CertificateRequest(CertificateRequestRepr::parse(body)?)
            }
            PayloadType::Hash => Payload::Hash(HashRepr::parse(body)?),
            PayloadType::Signature => Payload::Signature(SignatureRepr::parse(body)?),
            PayloadType::Nonce => Payload::Nonce(NonceRepr::parse(body)?),
            PayloadType::Notification => Payload::Notification(NotificationRepr::parse(body)?),
            PayloadType::Delete => Payload::Delete(DeleteRepr::parse(body)?),
            PayloadType::VendorId => Payload::VendorId(VendorIdRepr::parse(body)?),
            PayloadType::NatD => Payload::NatD(NatDRepr::parse(body)?),
            PayloadType::NatDDraft => Payload::NatDDraft(NatDRepr::parse(body)?),
            PayloadType::NatOa => Payload::NatOa(NatOaRepr::parse(body)?),
            PayloadType::NatOaDraft => Payload::NatOaDraft(NatOaRepr::parse(body)?),
            PayloadType::Fragment => Payload::Fragment(FragmentRepr::parse(body)?),
            PayloadType::None => {
                return Err(Error::Malformed(
                    Layer::IsakmpPayload,
                    "payload of type NONE",
                ));
            }
            other => Payload::Unknown(other, body),
        })
    }

    /// The type that goes in the previous Next Payload field.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SecurityAssociation,
            Payload::KeyExchange(_) => PayloadType::KeyExchange,
            Payload::Identification(_) => PayloadType::Identification,
            Payload::Certificate(_) => PayloadType::Certificate,
            Payload::CertificateRequest(_) => PayloadType::CertificateRequest,
            Payload::Hash(_) => PayloadType::Hash,
            Payload::Signature(_) => PayloadType::Signature,
            Payload::Nonce(_) => PayloadType::Nonce,
            Payload::Notification(_) => PayloadType::Notification,
            Payload::Delete(_) => PayloadType::Delete,
            Payload::VendorId(_) => PayloadType::VendorId,
            Payload::NatD(_) => PayloadType::NatD,
            Payload::NatDDraft(_) => PayloadType::NatDDraft,
            Payload::NatOa(_) => PayloadType::NatOa,
            Payload::NatOaDraft(_) => PayloadType::NatOaDraft,
            Payload::Fragment(_) => PayloadType::Fragment,
            Payload::Unknown(t, _) => *t,
        }
    }

    /// Length of the body (without the generic header).
    pub fn body_len(&self) -> usize {
        match self {
            Payload::Sa(p) => p.buffer_len(),
            Payload::KeyExchange(p) => p.buffer_len(),
            Payload::Identification(p) => p.buffer_len(),
            Payload::Certificate(p) => p.buffer_len(),
            Payload::CertificateRequest(p) => p.buffer_len(),
            Payload::Hash(p) => p.buffer_len(),
            Payload::Signature(p) => p.buffer_len(),
            Payload::Nonce(p) => p.buffer_len(),
            Payload::Notification(p) => p.buffer_len(),
            Payload::Delete(p) => p.buffer_len(),
            Payload::VendorId(p) => p.buffer_len(),
            Payload::NatD(p) | Payload::NatDDraft(p) => p.buffer_len(),
            Payload::NatOa(p) | Payload::NatOaDraft(p) => p.buffer_len(),
            Payload::Fragment(p) => p.buffer_len(),
            Payload::Unknown(_, b) => b.len(),
        }
    }

    /// Length of the payload, generic header included.
    pub fn buffer_len(&self) -> usize {
        PAYLOAD_HEADER_LEN + self.body_len()
    }

    /// Writes the body into the front of `body` (at least `body_len()` bytes).
    pub fn emit_body(&self, body: &mut [u8]) {
        match self {
            Payload::Sa(p) => p.emit(body),
            Payload::KeyExchange(p) => p.emit(body),
            Payload::Identification(p) => p.emit(body),
            Payload::Certificate(p) => p.emit(body),
            Payload::CertificateRequest(p) => p.emit(body),
            Payload::Hash(p) => p.emit(body),
            Payload::Signature(p) => p.emit(body),
            Payload::Nonce(p) => p.emit(body),
            Payload::Notification(p) => p.emit(body),
            Payload::Delete(p) => p.emit(body),
            Payload::VendorId(p) => p.emit(body),
            Payload::NatD(p) | Payload::NatDDraft(p) => p.emit(body),
            Payload::NatOa(p) | Payload::NatOaDraft(p) => p.emit(body),
            Payload::Fragment(p) => p.emit(body),
            Payload::Unknown(_, b) => body[..b.len()].copy_from_slice(b),
        }
    }

    /// Writes generic header + body into the front of `buf` (at least `buffer_len()`
    /// bytes), with `next` as Next Payload. A body over 65531 bytes cannot be encoded;
    /// its length field is truncated (a caller bug, not reachable from parsed input).
    pub fn emit(&self, next: PayloadType, buf: &mut [u8]) {
        let len = self.buffer_len();
        buf[0] = next.into();
        buf[1] = 0;
        buf[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        self.emit_body(&mut buf[PAYLOAD_HEADER_LEN..len]);
    }
}

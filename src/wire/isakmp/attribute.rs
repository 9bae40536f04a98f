//! ISAKMP Data Attributes (RFC 2408 §3.3) and the attribute classes of IKE phase 1
//! (RFC 2409 Appendix A) and of the IPsec DOI (RFC 2407 §4.5).
//!
//! An attribute is either basic (AF bit set, "TV": a 16-bit value in place of the
//! length) or variable ("TLV": a 16-bit length and that many value bytes). The parser
//! keeps the form it saw, so a TLV that happens to hold a small number round-trips
//! byte for byte; [`DataAttribute::value_u64`] reads either form as a number, for
//! classes such as Life Duration that RFC 2409 Appendix A allows in both forms.

use super::super::{Error, Field, Layer, Reader, Result, Writer};
use super::Item;

/// Byte ranges of a data attribute (RFC 2408 §3.3).
pub mod field {
    use super::Field;
    /// AF bit (top bit) and the 15-bit Attribute Type.
    pub const TYPE: Field = 0..2;
    /// Attribute Length (AF = 0) or Attribute Value (AF = 1).
    pub const LENGTH_OR_VALUE: Field = 2..4;
    /// Start of the variable value (AF = 0).
    pub const VALUE: usize = 4;
}

/// The Attribute Format bit (RFC 2408 §3.3): set for the basic (TV) form.
pub const ATTRIBUTE_FORMAT_BASIC: u16 = 0x8000;
/// The 15 bits of the Attribute Type.
pub const ATTRIBUTE_TYPE_MASK: u16 = 0x7fff;

/// The value of a data attribute, in the form it is (to be) encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeValue<'a> {
    /// AF = 1: the value sits in the length field.
    Basic(u16),
    /// AF = 0: a length-prefixed value.
    Variable(&'a [u8]),
}

/// One data attribute (RFC 2408 §3.3). The type is kept raw (15 bits); its meaning
/// depends on where it appears (phase-1 transform: [`Phase1Class`], IPsec DOI
/// transform: [`IpsecClass`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataAttribute<'a> {
    pub attribute_type: u16,
    pub value: AttributeValue<'a>,
}

impl<'a> DataAttribute<'a> {
    /// A basic (TV) attribute.
    pub fn basic(attribute_type: impl Into<u16>, value: u16) -> Self {
        DataAttribute {
            attribute_type: attribute_type.into() & ATTRIBUTE_TYPE_MASK,
            value: AttributeValue::Basic(value),
        }
    }

    /// A variable (TLV) attribute.
    pub fn variable(attribute_type: impl Into<u16>, value: &'a [u8]) -> Self {
        DataAttribute {
            attribute_type: attribute_type.into() & ATTRIBUTE_TYPE_MASK,
            value: AttributeValue::Variable(value),
        }
    }

    /// Parses exactly one attribute filling `buf`.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(buf, Layer::IsakmpPayload);
        let a = Self::read_one(&mut r)?;
        r.expect_empty()?;
        Ok(a)
    }

    fn read_one(r: &mut Reader<'a>) -> Result<Self> {
        let word = r.u16()?;
        let attribute_type = word & ATTRIBUTE_TYPE_MASK;
        let value = if word & ATTRIBUTE_FORMAT_BASIC != 0 {
            AttributeValue::Basic(r.u16()?)
        } else {
            let len = usize::from(r.u16()?);
            AttributeValue::Variable(r.take(len)?)
        };
        Ok(DataAttribute {
            attribute_type,
            value,
        })
    }

    /// Encoded length: 4 for TV, 4 + value for TLV.
    pub fn buffer_len(&self) -> usize {
        match self.value {
            AttributeValue::Basic(_) => 4,
            AttributeValue::Variable(v) => field::VALUE + v.len(),
        }
    }

    /// Writes the attribute into the front of `buf` (at least `buffer_len()` bytes).
    /// A variable value longer than 65535 bytes cannot be encoded; its length field is
    /// truncated (callers build such values from fixed-size data, so this is a bug).
    pub fn emit(&self, buf: &mut [u8]) {
        self.write_to(&mut Writer::new(buf));
    }

    fn write_to(&self, w: &mut Writer<'_>) {
        let t = self.attribute_type & ATTRIBUTE_TYPE_MASK;
        match self.value {
            AttributeValue::Basic(v) => {
                w.put_u16(t | ATTRIBUTE_FORMAT_BASIC);
                w.put_u16(v);
            }
            AttributeValue::Variable(v) => {
                w.put_u16(t);
                w.put_u16(v.len() as u16);
                w.put_slice(v);
            }
        }
    }

    /// The value as an unsigned number: a TV value, or a TLV value of 1 to 8 bytes read
    /// big-endian (RFC 2409 Appendix A: Life Duration "may be" variable; 4 bytes is
    /// the usual form, but nothing limits it, so anything that fits 64 bits is read).
    pub fn value_u64(&self) -> Result<u64> {
        match self.value {
            AttributeValue::Basic(v) => Ok(u64::from(v)),
            AttributeValue::Variable([]) => Err(Error::Malformed(
                Layer::IsakmpPayload,
                "empty attribute value",
            )),
            AttributeValue::Variable(v) if v.len() > 8 => Err(Error::Malformed(
                Layer::IsakmpPayload,
                "attribute value longer than 64 bits",
            )),
            AttributeValue::Variable(v) => {
                Ok(v.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
            }
        }
    }

    /// The TV value, if this is a basic attribute.
    pub fn basic_value(&self) -> Option<u16> {
        match self.value {
            AttributeValue::Basic(v) => Some(v),
            AttributeValue::Variable(_) => None,
        }
    }

    /// The attribute type read as an IKE phase-1 class (RFC 2409 Appendix A).
    pub fn phase1_class(&self) -> Phase1Class {
        Phase1Class::from(self.attribute_type)
    }

    /// The attribute type read as an IPsec DOI class (RFC 2407 §4.5).
    pub fn ipsec_class(&self) -> IpsecClass {
        IpsecClass::from(self.attribute_type)
    }
}

impl<'a> Item<'a> for DataAttribute<'a> {
    fn read(r: &mut Reader<'a>) -> Result<(Self, Option<bool>)> {
        Ok((Self::read_one(r)?, None))
    }

    fn encoded_len(&self) -> usize {
        self.buffer_len()
    }

    fn write(&self, w: &mut Writer<'_>, _is_last: bool) {
        self.write_to(w)
    }
}

open_enum! {
    /// IKE phase-1 attribute classes (RFC 2409 Appendix A).
    pub enum Phase1Class: u16 {
        EncryptionAlgorithm = 1,
        HashAlgorithm = 2,
        AuthenticationMethod = 3,
        GroupDescription = 4,
        GroupType = 5,
        GroupPrime = 6,
        GroupGeneratorOne = 7,
        GroupGeneratorTwo = 8,
        GroupCurveA = 9,
        GroupCurveB = 10,
        LifeType = 11,
        LifeDuration = 12,
        Prf = 13,
        KeyLength = 14,
        FieldSize = 15,
        GroupOrder = 16,
    }
}

open_enum! {
    /// Phase-1 Encryption Algorithm values (RFC 2409 Appendix A; AES: RFC 3602 §5).
    pub enum EncryptionAlgorithm: u16 {
        DesCbc = 1,
        IdeaCbc = 2,
        BlowfishCbc = 3,
        Rc5R16B64Cbc = 4,
        TripleDesCbc = 5,
        CastCbc = 6,
        AesCbc = 7,
    }
}

open_enum! {
    /// Phase-1 Hash Algorithm values (RFC 2409 Appendix A; SHA-2: RFC 4868 §2.4).
    pub enum HashAlgorithm: u16 {
        Md5 = 1,
        Sha1 = 2,
        Tiger = 3,
        Sha2_256 = 4,
        Sha2_384 = 5,
        Sha2_512 = 6,
    }
}

open_enum! {
    /// Phase-1 Authentication Method values (RFC 2409 Appendix A). The XAUTH
    /// methods (65001..) of draft-ietf-ipsec-isakmp-xauth are left `Unknown`.
    pub enum AuthenticationMethod: u16 {
        PreSharedKey = 1,
        DssSignatures = 2,
        RsaSignatures = 3,
        RsaEncryption = 4,
        RevisedRsaEncryption = 5,
    }
}

open_enum! {
    /// Phase-1 Group Type values (RFC 2409 Appendix A).
    pub enum GroupType: u16 {
        Modp = 1,
        Ecp = 2,
        Ec2n = 3,
    }
}

open_enum! {
    /// Life Type values: phase 1 (RFC 2409 Appendix A) and IPsec DOI SA Life Type
    /// (RFC 2407 §4.5) share them.
    pub enum LifeType: u16 {
        Seconds = 1,
        Kilobytes = 2,
    }
}

open_enum! {
    /// IPsec DOI attribute classes (RFC 2407 §4.5).
    pub enum IpsecClass: u16 {
        SaLifeType = 1,
        SaLifeDuration = 2,
        GroupDescription = 3,
        EncapsulationMode = 4,
        AuthenticationAlgorithm = 5,
        KeyLength = 6,
        KeyRounds = 7,
        CompressDictionarySize = 8,
        CompressPrivateAlgorithm = 9,
    }
}

open_enum! {
    /// Encapsulation Mode values: RFC 2407 §4.5, RFC 3947 §5.2 (UDP-encapsulated),
    /// and the values of draft-ietf-ipsec-nat-t-ike-02/03 §5.2 still sent by clients
    /// that negotiated NAT-T with a draft vendor ID.
    pub enum EncapsulationMode: u16 {
        Tunnel = 1,
        Transport = 2,
        UdpEncapsulatedTunnel = 3,
        UdpEncapsulatedTransport = 4,
        UdpEncapsulatedTunnelDraft = 61443,
        UdpEncapsulatedTransportDraft = 61444,
    }
}

open_enum! {
    /// IPsec DOI Authentication Algorithm values (RFC 2407 §4.5; SHA-2: RFC 4868 §2.4).
    pub enum AuthenticationAlgorithm: u16 {
        HmacMd5 = 1,
        HmacSha1 = 2,
        DesMac = 3,
        Kpdk = 4,
        HmacSha2_256 = 5,
        HmacSha2_384 = 6,
        HmacSha2_512 = 7,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::isakmp::List;
    use crate::wire::test_util::assert_truncations_rejected;

    // Encryption Algorithm = AES-CBC (TV), Key Length = 256 (TV), Life Duration =
    // 28800 as a 4-byte TLV (RFC 2409 Appendix A).
    static ATTRS: [u8; 16] = [
        0x80, 0x01, 0x00, 0x07, // AF|1, AES
        0x80, 0x0e, 0x01, 0x00, // AF|14, 256
        0x00, 0x0c, 0x00, 0x04, 0x00, 0x00, 0x70, 0x80, // 12, len 4, 28800
    ];

    #[test]
    fn deconstruct() {
        let a = DataAttribute::parse(&ATTRS[..4]).unwrap();
        assert_eq!(a.phase1_class(), Phase1Class::EncryptionAlgorithm);
        assert_eq!(
            EncryptionAlgorithm::from(a.basic_value().unwrap()),
            EncryptionAlgorithm::AesCbc
        );
        let d = DataAttribute::parse(&ATTRS[8..]).unwrap();
        assert_eq!(d.phase1_class(), Phase1Class::LifeDuration);
        assert_eq!(d.value, AttributeValue::Variable(&[0, 0, 0x70, 0x80]));
        assert_eq!(d.value_u64(), Ok(28800));
        assert_eq!(d.basic_value(), None);
    }

    #[test]
    fn construct_emit_buffer_len() {
        let attrs = [
            DataAttribute::basic(
                Phase1Class::EncryptionAlgorithm,
                EncryptionAlgorithm::AesCbc.into(),
            ),
            DataAttribute::basic(Phase1Class::KeyLength, 256),
            DataAttribute::variable(Phase1Class::LifeDuration, &[0, 0, 0x70, 0x80]),
        ];
        let list = List::Items(&attrs);
        assert_eq!(list.buffer_len(), ATTRS.len());
        let mut buf = [0xaau8; 16];
        list.emit(&mut buf);
        assert_eq!(buf, ATTRS);
        assert_eq!(attrs[2].buffer_len(), 8);
        let mut one = [0u8; 4];
        attrs[1].emit(&mut one);
        assert_eq!(one, ATTRS[4..8]);
    }

    #[test]
    fn parse_list() {
        let list: List<'_, DataAttribute<'_>> = List::parse(&ATTRS).unwrap();
        let v: Vec<_> = list.iter().map(|a| a.unwrap()).collect();
        assert_eq!(v.len(), 3);
        assert_eq!(v[1].value_u64(), Ok(256));
        // Equality compares the attributes, not the storage form.
        let same = [v[0], v[1], v[2]];
        assert_eq!(list, List::Items(&same));
    }

    #[test]
    fn check_len_and_truncation() {
        assert_truncations_rejected(&ATTRS[8..], |b| DataAttribute::parse(b).map(|_| ()));
        assert_truncations_rejected(&ATTRS[..4], |b| DataAttribute::parse(b).map(|_| ()));
        assert_eq!(
            DataAttribute::parse(&[0x80, 1, 0, 1, 0]),
            Err(Error::TrailingData(Layer::IsakmpPayload))
        );
    }

    #[test]
    fn value_u64_limits() {
        let nine = [1u8; 9];
        assert!(DataAttribute::variable(12u16, &nine).value_u64().is_err());
        assert!(DataAttribute::variable(12u16, &[]).value_u64().is_err());
        let eight = [0xffu8; 8];
        assert_eq!(
            DataAttribute::variable(12u16, &eight).value_u64(),
            Ok(u64::MAX)
        );
        assert_eq!(
            DataAttribute::variable(12u16, &[1, 0, 0, 0, 0]).value_u64(),
            Ok(1 << 32)
        );
    }

    #[test]
    fn ipsec_values() {
        assert_eq!(
            EncapsulationMode::from(61444),
            EncapsulationMode::UdpEncapsulatedTransportDraft
        );
        assert_eq!(u16::from(EncapsulationMode::UdpEncapsulatedTransport), 4);
        assert_eq!(
            AuthenticationAlgorithm::from(5),
            AuthenticationAlgorithm::HmacSha2_256
        );
        assert_eq!(
            AuthenticationMethod::from(65001),
            AuthenticationMethod::Unknown(65001)
        );
        assert_eq!(IpsecClass::from(4), IpsecClass::EncapsulationMode);
    }
}

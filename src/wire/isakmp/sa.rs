//! Security Association, Proposal and Transform payloads (RFC 2408 §3.4-§3.6) with
//! the IPsec DOI's situation, protocol and transform identifiers (RFC 2407 §4.2,
//! §4.4).
//!
//! Proposals are chained inside the SA body with Next Payload 2 (NONE after the last),
//! transforms inside a proposal with Next Payload 3; any other value is malformed
//! (RFC 2408 §3.5, §3.6). A proposal's "# of Transforms" must match the transforms
//! present. The Situation is read as the 4-byte IPsec DOI bitmap (RFC 2407 §4.2) for
//! every DOI (DOI 0 is not used by any IKEv1 peer we serve); the Labeled Domain
//! fields that follow it only with SIT_SECRECY or SIT_INTEGRITY are not supported
//! and make the payload malformed, as no remote-access client sends them.

use super::super::{Error, Layer, Reader, Result, Writer};
use super::attribute::DataAttribute;
use super::{Item, List, PayloadType, read_chained, write_chained};

open_enum! {
    /// Domain of Interpretation (RFC 2408 §3.4, RFC 2407 §4.1).
    pub enum Doi: u32 {
        Isakmp = 0,
        Ipsec = 1,
    }
}

/// IPsec DOI situation bits (RFC 2407 §4.2).
pub mod situation {
    pub const IDENTITY_ONLY: u32 = 0x01;
    pub const SECRECY: u32 = 0x02;
    pub const INTEGRITY: u32 = 0x04;
}

open_enum! {
    /// Protocol identifiers of the IPsec DOI (RFC 2407 §4.4.1).
    pub enum ProtocolId: u8 {
        Isakmp = 1,
        IpsecAh = 2,
        IpsecEsp = 3,
        IpComp = 4,
    }
}

open_enum! {
    /// Transform identifiers for PROTO_ISAKMP (RFC 2407 §4.4.2).
    pub enum IsakmpTransformId: u8 {
        KeyIke = 1,
    }
}

open_enum! {
    /// Transform identifiers for PROTO_IPSEC_AH (RFC 2407 §4.4.3; SHA-2: RFC 4868).
    pub enum AhTransformId: u8 {
        Md5 = 2,
        Sha = 3,
        Des = 4,
        Sha2_256 = 5,
        Sha2_384 = 6,
        Sha2_512 = 7,
    }
}

open_enum! {
    /// Transform identifiers for PROTO_IPSEC_ESP (RFC 2407 §4.4.4; AES-CBC RFC 3602,
    /// AES-CTR RFC 3686, AES-CCM RFC 4309, AES-GCM RFC 4106 §8.1).
    pub enum EspTransformId: u8 {
        DesIv64 = 1,
        Des = 2,
        TripleDes = 3,
        Rc5 = 4,
        Idea = 5,
        Cast = 6,
        Blowfish = 7,
        TripleIdea = 8,
        DesIv32 = 9,
        Rc4 = 10,
        Null = 11,
        Aes = 12,
        AesCtr = 13,
        AesCcm8 = 14,
        AesCcm12 = 15,
        AesCcm16 = 16,
        AesGcm8 = 18,
        AesGcm12 = 19,
        AesGcm16 = 20,
    }
}

open_enum! {
    /// Transform identifiers for IPCOMP (RFC 2407 §4.4.5).
    pub enum IpcompTransformId: u8 {
        Oui = 1,
        Deflate = 2,
        Lzs = 3,
    }
}

/// Length of the fixed part of a proposal, generic header included (RFC 2408 §3.5).
pub const PROPOSAL_HEADER_LEN: usize = 8;
/// Length of the fixed part of a transform, generic header included (RFC 2408 §3.6).
pub const TRANSFORM_HEADER_LEN: usize = 8;
/// Length of the fixed part of an SA body: DOI and situation (RFC 2408 §3.4).
pub const SA_HEADER_LEN: usize = 8;

/// Security Association payload body (RFC 2408 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaRepr<'a> {
    pub doi: Doi,
    pub situation: u32,
    pub proposals: List<'a, ProposalRepr<'a>>,
}

impl<'a> SaRepr<'a> {
    /// Parses an SA payload body, validating every proposal, transform and attribute.
    pub fn parse(body: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(body, Layer::IsakmpPayload);
        let doi = Doi::from(r.u32()?);
        let situation = r.u32()?;
        if situation & (situation::SECRECY | situation::INTEGRITY) != 0 {
            return Err(Error::Malformed(
                Layer::IsakmpPayload,
                "labelled-domain situation not supported",
            ));
        }
        let rest = r.rest();
        // RFC 2408 §3.4: the SA payload is followed by at least one proposal.
        if rest.is_empty() {
            return Err(Error::Malformed(
                Layer::IsakmpPayload,
                "SA without proposals",
            ));
        }
        Ok(SaRepr {
            doi,
            situation,
            proposals: List::parse(rest)?,
        })
    }

    pub fn buffer_len(&self) -> usize {
        SA_HEADER_LEN + self.proposals.buffer_len()
    }

    /// Writes the body into the front of `body` (at least `buffer_len()` bytes).
    pub fn emit(&self, body: &mut [u8]) {
        let mut w = Writer::new(body);
        w.put_u32(self.doi.into());
        w.put_u32(self.situation);
        self.proposals.write(&mut w);
    }
}

/// A Proposal (RFC 2408 §3.5), chained inside an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposalRepr<'a> {
    pub number: u8,
    pub protocol: ProtocolId,
    /// Empty for phase 1 (RFC 2409 §5: the cookies are the SPI); 4 bytes for ESP/AH.
    pub spi: &'a [u8],
    pub transforms: List<'a, TransformRepr<'a>>,
}

impl<'a> ProposalRepr<'a> {
    /// Parses one proposal (generic header included) filling `buf`.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(buf, Layer::IsakmpPayload);
        let (p, _) = Self::read(&mut r)?;
        r.expect_empty()?;
        Ok(p)
    }

    /// Encoded length, generic header included.
    pub fn buffer_len(&self) -> usize {
        PROPOSAL_HEADER_LEN + self.spi.len() + self.transforms.buffer_len()
    }

    /// Writes the proposal (as the last of its chain) into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        self.write(&mut Writer::new(buf), true);
    }
}

impl<'a> Item<'a> for ProposalRepr<'a> {
    fn read(r: &mut Reader<'a>) -> Result<(Self, Option<bool>)> {
        let (more, mut body) = read_chained(
            r,
            PayloadType::Proposal,
            PROPOSAL_HEADER_LEN,
            "proposal's next payload is neither proposal nor none",
        )?;
        let number = body.u8()?;
        let protocol = ProtocolId::from(body.u8()?);
        let spi_size = usize::from(body.u8()?);
        let transform_count = usize::from(body.u8()?);
        let spi = body.take(spi_size)?;
        let transforms: List<'a, TransformRepr<'a>> = List::parse(body.rest())?;
        if transforms.count() != transform_count {
            return Err(Error::Malformed(
                Layer::IsakmpPayload,
                "number of transforms does not match the proposal",
            ));
        }
        let p = ProposalRepr {
            number,
            protocol,
            spi,
            transforms,
        };
        Ok((p, Some(more)))
    }

    fn encoded_len(&self) -> usize {
        self.buffer_len()
    }

    fn write(&self, w: &mut Writer<'_>, is_last: bool) {
        write_chained(w, PayloadType::Proposal, is_last, self.buffer_len());
        w.put_u8(self.number);
        w.put_u8(self.protocol.into());
        w.put_u8(self.spi.len() as u8);
        w.put_u8(self.transforms.count() as u8);
        w.put_slice(self.spi);
        self.transforms.write(w);
    }
}

/// A Transform (RFC 2408 §3.6), chained inside a proposal. The transform ID is kept
/// raw: its meaning depends on the proposal's protocol ([`IsakmpTransformId`],
/// [`EspTransformId`], ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransformRepr<'a> {
    pub number: u8,
    pub transform_id: u8,
    pub attributes: List<'a, DataAttribute<'a>>,
}

impl<'a> TransformRepr<'a> {
    /// Parses one transform (generic header included) filling `buf`.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(buf, Layer::IsakmpPayload);
        let (t, _) = Self::read(&mut r)?;
        r.expect_empty()?;
        Ok(t)
    }

    /// Encoded length, generic header included.
    pub fn buffer_len(&self) -> usize {
        TRANSFORM_HEADER_LEN + self.attributes.buffer_len()
    }

    /// Writes the transform (as the last of its chain) into the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        self.write(&mut Writer::new(buf), true);
    }

    /// The first attribute of `class` (a raw attribute type), if any.
    pub fn attribute(&self, class: impl Into<u16>) -> Option<DataAttribute<'a>> {
        let class = class.into();
        self.attributes
            .iter()
            .filter_map(Result::ok)
            .find(|a| a.attribute_type == class)
    }
}

impl<'a> Item<'a> for TransformRepr<'a> {
    fn read(r: &mut Reader<'a>) -> Result<(Self, Option<bool>)> {
        let (more, mut body) = read_chained(
            r,
            PayloadType::Transform,
            TRANSFORM_HEADER_LEN,
            "transform's next payload is neither transform nor none",
        )?;
        let number = body.u8()?;
        let transform_id = body.u8()?;
        let _reserved2 = body.u16()?;
        let attributes = List::parse(body.rest())?;
        let t = TransformRepr {
            number,
            transform_id,
            attributes,
        };
        Ok((t, Some(more)))
    }

    fn encoded_len(&self) -> usize {
        self.buffer_len()
    }

    fn write(&self, w: &mut Writer<'_>, is_last: bool) {
        write_chained(w, PayloadType::Transform, is_last, self.buffer_len());
        w.put_u8(self.number);
        w.put_u8(self.transform_id);
        w.put_u16(0);
        self.attributes.write(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::isakmp::attribute::{
        AuthenticationMethod, EncryptionAlgorithm, HashAlgorithm, LifeType, Phase1Class,
    };
    use crate::wire::test_util::assert_truncations_rejected;

    /// A phase-1 SA body (RFC 2408 §3.4-§3.6 layouts): DOI IPsec, SIT_IDENTITY_ONLY,
    /// one ISAKMP proposal with two KEY_IKE transforms:
    /// 1: AES-CBC-256 / SHA1 / PSK / MODP1024 / 28800 s (4-byte TLV);
    /// 2: 3DES / MD5 / PSK / MODP1024.
    static SA_BODY: [u8; 88] = [
        0x00, 0x00, 0x00, 0x01, // DOI IPsec
        0x00, 0x00, 0x00, 0x01, // SIT_IDENTITY_ONLY
        // Proposal: next none, len 80, #1, PROTO_ISAKMP, SPI size 0, 2 transforms
        0x00, 0x00, 0x00, 0x50, 0x01, 0x01, 0x00, 0x02,
        // Transform 1: next transform, len 40, #1, KEY_IKE
        0x03, 0x00, 0x00, 0x28, 0x01, 0x01, 0x00, 0x00, 0x80, 0x01, 0x00,
        0x07, // encryption AES-CBC
        0x80, 0x0e, 0x01, 0x00, // key length 256
        0x80, 0x02, 0x00, 0x02, // hash SHA
        0x80, 0x03, 0x00, 0x01, // auth PSK
        0x80, 0x04, 0x00, 0x02, // group 2
        0x80, 0x0b, 0x00, 0x01, // life type seconds
        0x00, 0x0c, 0x00, 0x04, 0x00, 0x00, 0x70, 0x80, // life duration 28800
        // Transform 2: next none, len 32, #2, KEY_IKE
        0x00, 0x00, 0x00, 0x20, 0x02, 0x01, 0x00, 0x00, 0x80, 0x01, 0x00, 0x05, // 3DES
        0x80, 0x02, 0x00, 0x01, // MD5
        0x80, 0x03, 0x00, 0x01, // PSK
        0x80, 0x04, 0x00, 0x02, // group 2
        0x80, 0x0b, 0x00, 0x01, // life type seconds
        0x80, 0x0c, 0x70, 0x80, // life duration 28800 (TV)
    ];

    const LIFE: [u8; 4] = [0, 0, 0x70, 0x80];
    const T1_ATTRS: [DataAttribute<'static>; 7] = [
        DataAttribute {
            attribute_type: 1,
            value: super::super::AttributeValue::Basic(7),
        },
        DataAttribute {
            attribute_type: 14,
            value: super::super::AttributeValue::Basic(256),
        },
        DataAttribute {
            attribute_type: 2,
            value: super::super::AttributeValue::Basic(2),
        },
        DataAttribute {
            attribute_type: 3,
            value: super::super::AttributeValue::Basic(1),
        },
        DataAttribute {
            attribute_type: 4,
            value: super::super::AttributeValue::Basic(2),
        },
        DataAttribute {
            attribute_type: 11,
            value: super::super::AttributeValue::Basic(1),
        },
        DataAttribute {
            attribute_type: 12,
            value: super::super::AttributeValue::Variable(&LIFE),
        },
    ];

    fn t2_attrs() -> [DataAttribute<'static>; 6] {
        [
            DataAttribute::basic(
                Phase1Class::EncryptionAlgorithm,
                EncryptionAlgorithm::TripleDesCbc.into(),
            ),
            DataAttribute::basic(Phase1Class::HashAlgorithm, HashAlgorithm::Md5.into()),
            DataAttribute::basic(
                Phase1Class::AuthenticationMethod,
                AuthenticationMethod::PreSharedKey.into(),
            ),
            DataAttribute::basic(Phase1Class::GroupDescription, 2),
            DataAttribute::basic(Phase1Class::LifeType, LifeType::Seconds.into()),
            DataAttribute::basic(Phase1Class::LifeDuration, 28800),
        ]
    }

    #[test]
    fn deconstruct_and_parse() {
        let sa = SaRepr::parse(&SA_BODY).unwrap();
        assert_eq!(sa.doi, Doi::Ipsec);
        assert_eq!(sa.situation, situation::IDENTITY_ONLY);
        let props: Vec<_> = sa.proposals.iter().map(|p| p.unwrap()).collect();
        assert_eq!(props.len(), 1);
        assert_eq!(props[0].number, 1);
        assert_eq!(props[0].protocol, ProtocolId::Isakmp);
        assert!(props[0].spi.is_empty());
        let ts: Vec<_> = props[0].transforms.iter().map(|t| t.unwrap()).collect();
        assert_eq!(ts.len(), 2);
        assert_eq!(
            IsakmpTransformId::from(ts[0].transform_id),
            IsakmpTransformId::KeyIke
        );
        assert_eq!(
            ts[0].attribute(Phase1Class::KeyLength).unwrap().value_u64(),
            Ok(256)
        );
        assert_eq!(
            ts[0]
                .attribute(Phase1Class::LifeDuration)
                .unwrap()
                .value_u64(),
            Ok(28800)
        );
        assert_eq!(
            ts[1]
                .attribute(Phase1Class::LifeDuration)
                .unwrap()
                .value_u64(),
            Ok(28800)
        );
        assert_eq!(ts[1].attributes.count(), 6);
    }

    #[test]
    fn construct_emit_buffer_len() {
        let t2 = t2_attrs();
        let transforms = [
            TransformRepr {
                number: 1,
                transform_id: 1,
                attributes: List::Items(&T1_ATTRS),
            },
            TransformRepr {
                number: 2,
                transform_id: 1,
                attributes: List::Items(&t2),
            },
        ];
        let proposals = [ProposalRepr {
            number: 1,
            protocol: ProtocolId::Isakmp,
            spi: &[],
            transforms: List::Items(&transforms),
        }];
        let sa = SaRepr {
            doi: Doi::Ipsec,
            situation: situation::IDENTITY_ONLY,
            proposals: List::Items(&proposals),
        };
        assert_eq!(sa.buffer_len(), SA_BODY.len());
        let mut buf = [0x55u8; 88];
        sa.emit(&mut buf);
        assert_eq!(buf, SA_BODY);
        // Built and parsed forms compare equal.
        assert_eq!(SaRepr::parse(&SA_BODY).unwrap(), sa);
    }

    #[test]
    fn quick_mode_esp_proposals() {
        // Two proposals for ESP with a 4-byte SPI each: AES-GCM-16/256 and AES-CBC/SHA1,
        // both UDP-encapsulated transport (RFC 3947).
        #[rustfmt::skip]
        static BODY: [u8; 68] = [
            0, 0, 0, 1, 0, 0, 0, 1,
            0x02, 0x00, 0x00, 0x1c, 0x01, 0x03, 0x04, 0x01, 0xc0, 0xff, 0xee, 0x01,
            0x00, 0x00, 0x00, 0x10, 0x01, 0x14, 0x00, 0x00, 0x80, 0x04, 0x00, 0x04, 0x80, 0x06, 0x01, 0x00,
            0x00, 0x00, 0x00, 0x20, 0x02, 0x03, 0x04, 0x01, 0xc0, 0xff, 0xee, 0x02,
            0x00, 0x00, 0x00, 0x14, 0x01, 0x0c, 0x00, 0x00, 0x80, 0x04, 0x00, 0x04, 0x80, 0x05, 0x00, 0x02,
            0x80, 0x06, 0x00, 0x80,
        ];
        let sa = SaRepr::parse(&BODY).unwrap();
        let props: Vec<_> = sa.proposals.iter().map(|p| p.unwrap()).collect();
        assert_eq!(props.len(), 2);
        assert_eq!(props[1].spi, &[0xc0, 0xff, 0xee, 0x02]);
        let t = props[0].transforms.iter().next().unwrap().unwrap();
        assert_eq!(
            EspTransformId::from(t.transform_id),
            EspTransformId::AesGcm16
        );
        let t = props[1].transforms.iter().next().unwrap().unwrap();
        assert_eq!(EspTransformId::from(t.transform_id), EspTransformId::Aes);
        assert_eq!(t.attribute(5u16).unwrap().basic_value(), Some(2));
        let mut out = vec![0u8; sa.buffer_len()];
        sa.emit(&mut out);
        assert_eq!(out, BODY);
    }

    #[test]
    fn truncations_rejected() {
        assert_truncations_rejected(&SA_BODY, |b| SaRepr::parse(b).map(|_| ()));
        assert_truncations_rejected(&SA_BODY[8..], |b| ProposalRepr::parse(b).map(|_| ()));
        assert_truncations_rejected(&SA_BODY[16..56], |b| TransformRepr::parse(b).map(|_| ()));
    }

    #[test]
    fn structural_errors() {
        // Transform count mismatch.
        let mut b = SA_BODY;
        b[15] = 3;
        assert!(matches!(SaRepr::parse(&b), Err(Error::Malformed(..))));
        // Transform chained with the proposal number.
        let mut b = SA_BODY;
        b[16] = 2;
        assert!(matches!(SaRepr::parse(&b), Err(Error::Malformed(..))));
        // Last transform announces another one.
        let mut b = SA_BODY;
        b[56] = 3;
        assert!(matches!(SaRepr::parse(&b), Err(Error::Malformed(..))));
        // Bytes after a proposal with next payload NONE.
        let mut b = SA_BODY.to_vec();
        b.extend_from_slice(&[0, 0, 0, 8, 2, 1, 0, 0]);
        assert_eq!(
            SaRepr::parse(&b),
            Err(Error::TrailingData(Layer::IsakmpPayload))
        );
        // Proposal length below its fixed part.
        let mut b = SA_BODY;
        b[11] = 7;
        assert_eq!(
            SaRepr::parse(&b),
            Err(Error::BadLength(Layer::IsakmpPayload))
        );
        // Labelled-domain situation.
        let mut b = SA_BODY;
        b[7] = 3;
        assert!(matches!(SaRepr::parse(&b), Err(Error::Malformed(..))));
        // RESERVED bytes are ignored.
        let mut b = SA_BODY;
        b[9] = 0xff;
        b[22] = 0xff;
        assert_eq!(SaRepr::parse(&b).unwrap(), SaRepr::parse(&SA_BODY).unwrap());
    }
}

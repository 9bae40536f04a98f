//! Vendor-Specific attributes (RFC 2865 §5.26): a 4-octet Vendor-Id (high octet zero,
//! then the SMI Private Enterprise Code) and, in the format §5.26 recommends, a chain
//! of vendor sub-attributes (Vendor-Type, Vendor-Length >= 2, Value).
//!
//! [`VendorSpecificRepr`] is the raw value; [`VendorAttributeIter`] walks its
//! sub-attributes; [`VendorSpecificRepr::emit_attribute`] writes a whole attribute 26
//! from a slice of [`VendorAttributeRepr`]s. [`VendorAttribute`] types the ones shardvpn
//! uses: Microsoft (311, RFC 2548) MS-CHAP, MS-CHAPv2, MPPE keys and policy, DNS and
//! NBNS servers; MikroTik (14988) Rate-Limit.
//!
//! Decisions:
//! - A Vendor-Specific value shorter than 5 octets is malformed (§5.26: Length >= 7);
//!   a Vendor-Id whose high octet is not zero is malformed.
//! - The MPPE keys (RFC 2548 §2.4.2, §2.4.3) are Salt (2 octets, high bit set) and the
//!   encrypted String, a non-empty multiple of 16 octets; decrypting them is
//!   `crate::crypto::radius`'s job.
//! - MS-CHAP2-Response (RFC 2548 §2.3.2) has a fixed 50-octet layout; its 8 Reserved
//!   octets are ignored on parse and written as zero. MS-CHAP-Response (§2.1.3) is 50
//!   octets too (Ident, Flags, LM-Response, NT-Response).
//! - MS-CHAP2-Success (§2.3.3) and MS-CHAP-Error (§2.1.5) are Ident and a non-empty
//!   string; the "S=..." / "E=..." grammar is RFC 2759's and is checked by the PPP layer.

use core::net::Ipv4Addr;

use super::attribute::{Head, address, fixed, integer, nonempty};
use super::{
    ATTRIBUTE_HEADER_LEN, AttributeType, Error, Layer, MAX_VALUE_LEN, Reader, Result, emit_tlv,
    read_tlv,
};

/// Vendor-Id of Microsoft (RFC 2548 §2).
pub const VENDOR_MICROSOFT: u32 = 311;
/// Vendor-Id of MikroTik (its RADIUS dictionary).
pub const VENDOR_MIKROTIK: u32 = 14988;
/// Vendor-Id octets.
pub const VENDOR_ID_LEN: usize = 4;
/// Vendor-Type and Vendor-Length octets.
pub const VENDOR_HEADER_LEN: usize = 2;
/// MS-CHAP-Response and MS-CHAP2-Response value size (RFC 2548 §2.1.3, §2.3.2).
pub const MS_CHAP_RESPONSE_LEN: usize = 50;
/// Encrypted-string block of the MPPE keys (RFC 2548 §2.4.2).
pub const MPPE_KEY_BLOCK: usize = 16;
/// MS-MPPE-Encryption-Types bits (RFC 2548 §2.4.5).
pub const MPPE_TYPES_40_BIT: u32 = 0x2;
pub const MPPE_TYPES_128_BIT: u32 = 0x4;

open_enum! {
    /// Microsoft vendor types (RFC 2548 §2).
    pub enum MicrosoftType: u8 {
        ChapResponse = 1,
        ChapError = 2,
        MppeEncryptionPolicy = 7,
        MppeEncryptionTypes = 8,
        ChapChallenge = 11,
        MppeSendKey = 16,
        MppeRecvKey = 17,
        Chap2Response = 25,
        Chap2Success = 26,
        PrimaryDnsServer = 28,
        SecondaryDnsServer = 29,
        PrimaryNbnsServer = 30,
        SecondaryNbnsServer = 31,
    }
}

open_enum! {
    /// MikroTik vendor types (MikroTik RADIUS dictionary).
    pub enum MikrotikType: u8 {
        RateLimit = 8,
    }
}

open_enum! {
    /// MS-MPPE-Encryption-Policy values (RFC 2548 §2.4.4).
    pub enum MppeEncryptionPolicy: u32 {
        EncryptionAllowed = 1,
        EncryptionRequired = 2,
    }
}

/// The raw value of a Vendor-Specific attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VendorSpecificRepr<'a> {
    pub vendor_id: u32,
    /// The vendor's String: usually a sub-attribute chain.
    pub data: &'a [u8],
}

impl<'a> VendorSpecificRepr<'a> {
    /// Splits the value of an attribute 26.
    pub fn parse(value: &'a [u8]) -> Result<VendorSpecificRepr<'a>> {
        let mut reader = Reader::new(value, Layer::RadiusAttribute);
        let vendor_id = reader.u32()?;
        let vsa = VendorSpecificRepr {
            vendor_id,
            data: reader.rest(),
        };
        vsa.validate()?;
        Ok(vsa)
    }

    /// Vendor-Id high octet zero, String non-empty (RFC 2865 §5.26).
    pub fn validate(&self) -> Result<()> {
        validate_vendor_id(self.vendor_id)?;
        nonempty(self.data).map(drop)
    }

    /// The vendor sub-attributes.
    pub fn sub_attributes(&self) -> VendorAttributeIter<'a> {
        VendorAttributeIter::new(self.data)
    }

    /// Size of a whole attribute 26 holding `subs`.
    pub fn attribute_len(subs: &[VendorAttributeRepr<'_>]) -> usize {
        ATTRIBUTE_HEADER_LEN + VENDOR_ID_LEN + subs.iter().map(|s| s.buffer_len()).sum::<usize>()
    }

    /// Writes a whole attribute 26 for `vendor_id` holding `subs`, and returns its
    /// length. Fails if the value would pass 253 octets or does not fit.
    pub fn emit_attribute(
        vendor_id: u32,
        subs: &[VendorAttributeRepr<'_>],
        buffer: &mut [u8],
    ) -> Result<usize> {
        validate_vendor_id(vendor_id)?;
        let len = Self::attribute_len(subs);
        if len - ATTRIBUTE_HEADER_LEN > MAX_VALUE_LEN {
            return Err(Error::Malformed(
                Layer::RadiusAttribute,
                "value longer than 253 octets",
            ));
        }
        if subs.is_empty() {
            return Err(Error::BadLength(Layer::RadiusAttribute));
        }
        let Some(out) = buffer.get_mut(..len) else {
            return Err(Error::Truncated(Layer::RadiusAttribute));
        };
        out[0] = AttributeType::VendorSpecific.into();
        out[1] = len as u8; // at most 255, checked above
        out[2..6].copy_from_slice(&vendor_id.to_be_bytes());
        let mut offset = ATTRIBUTE_HEADER_LEN + VENDOR_ID_LEN;
        for sub in subs {
            sub.emit(&mut out[offset..])?;
            offset += sub.buffer_len();
        }
        Ok(len)
    }
}

fn validate_vendor_id(vendor_id: u32) -> Result<()> {
    if vendor_id >> 24 != 0 {
        Err(Error::Malformed(
            Layer::RadiusAttribute,
            "Vendor-Id high octet not zero",
        ))
    } else {
        Ok(())
    }
}

/// One vendor sub-attribute as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VendorAttributeRepr<'a> {
    pub vendor_type: u8,
    pub value: &'a [u8],
}

impl VendorAttributeRepr<'_> {
    /// Vendor-Type, Vendor-Length and Value octets.
    pub const fn buffer_len(&self) -> usize {
        VENDOR_HEADER_LEN + self.value.len()
    }

    /// Writes the sub-attribute at the start of `buffer`.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        emit_tlv(buffer, self.vendor_type, &[], self.value)
    }
}

/// Iterator over a vendor sub-attribute chain; yields an error once, then stops.
#[derive(Debug, Clone)]
pub struct VendorAttributeIter<'a> {
    reader: Reader<'a>,
    failed: bool,
}

impl<'a> VendorAttributeIter<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        VendorAttributeIter {
            reader: Reader::new(data, Layer::RadiusAttribute),
            failed: false,
        }
    }
}

impl<'a> Iterator for VendorAttributeIter<'a> {
    type Item = Result<VendorAttributeRepr<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.reader.is_empty() {
            return None;
        }
        match read_tlv(&mut self.reader) {
            Ok((vendor_type, value)) => Some(Ok(VendorAttributeRepr { vendor_type, value })),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// MS-CHAP-Response value (RFC 2548 §2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsChapResponse {
    pub ident: u8,
    pub flags: u8,
    pub lm_response: [u8; 24],
    pub nt_response: [u8; 24],
}

/// MS-CHAP2-Response value (RFC 2548 §2.3.2); the Reserved octets are not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsChap2Response {
    pub ident: u8,
    pub flags: u8,
    pub peer_challenge: [u8; 16],
    pub response: [u8; 24],
}

/// MS-MPPE-Send-Key / MS-MPPE-Recv-Key value (RFC 2548 §2.4.2, §2.4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MppeKey<'a> {
    /// High bit set (RFC 2548 §2.4.2).
    pub salt: u16,
    /// The encrypted String, a multiple of 16 octets.
    pub encrypted: &'a [u8],
}

/// A typed vendor sub-attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VendorAttribute<'a> {
    MsChapResponse(MsChapResponse),
    MsChapError {
        ident: u8,
        message: &'a [u8],
    },
    MsMppeEncryptionPolicy(MppeEncryptionPolicy),
    /// A bit set of `MPPE_TYPES_*`.
    MsMppeEncryptionTypes(u32),
    MsChapChallenge(&'a [u8]),
    MsMppeSendKey(MppeKey<'a>),
    MsMppeRecvKey(MppeKey<'a>),
    MsChap2Response(MsChap2Response),
    MsChap2Success {
        ident: u8,
        message: &'a [u8],
    },
    MsPrimaryDnsServer(Ipv4Addr),
    MsSecondaryDnsServer(Ipv4Addr),
    MsPrimaryNbnsServer(Ipv4Addr),
    MsSecondaryNbnsServer(Ipv4Addr),
    MikrotikRateLimit(&'a [u8]),
    /// Any vendor or vendor type not typed above, raw.
    Other {
        vendor_id: u32,
        vendor_type: u8,
        value: &'a [u8],
    },
}

/// Ident, then a non-empty string.
fn ident_and_string(value: &[u8]) -> Result<(u8, &[u8])> {
    match value.split_first() {
        Some((&ident, message)) => Ok((ident, message)),
        None => Err(Error::BadLength(Layer::RadiusAttribute)),
    }
}

fn mppe_key(value: &[u8]) -> Result<MppeKey<'_>> {
    let [a, b, encrypted @ ..] = value else {
        return Err(Error::BadLength(Layer::RadiusAttribute));
    };
    Ok(MppeKey {
        salt: u16::from_be_bytes([*a, *b]),
        encrypted,
    })
}

fn validate_mppe_key(key: &MppeKey<'_>) -> Result<()> {
    if key.salt & 0x8000 == 0 {
        return Err(Error::Malformed(
            Layer::RadiusAttribute,
            "MPPE key salt high bit clear",
        ));
    }
    if key.encrypted.is_empty() || !key.encrypted.len().is_multiple_of(MPPE_KEY_BLOCK) {
        return Err(Error::BadLength(Layer::RadiusAttribute));
    }
    Ok(())
}

impl<'a> VendorAttribute<'a> {
    /// Decodes one sub-attribute of `vendor_id` and checks its size rules.
    pub fn parse(vendor_id: u32, sub: &VendorAttributeRepr<'a>) -> Result<VendorAttribute<'a>> {
        let attr = Self::decode(vendor_id, sub)?;
        attr.validate()?;
        Ok(attr)
    }

    fn decode(vendor_id: u32, sub: &VendorAttributeRepr<'a>) -> Result<VendorAttribute<'a>> {
        let v = sub.value;
        let other = VendorAttribute::Other {
            vendor_id,
            vendor_type: sub.vendor_type,
            value: v,
        };
        Ok(match vendor_id {
            VENDOR_MICROSOFT => {
                use MicrosoftType as M;
                match MicrosoftType::from(sub.vendor_type) {
                    M::ChapResponse => {
                        let b = fixed::<MS_CHAP_RESPONSE_LEN>(v)?;
                        let mut lm_response = [0u8; 24];
                        let mut nt_response = [0u8; 24];
                        lm_response.copy_from_slice(&b[2..26]);
                        nt_response.copy_from_slice(&b[26..50]);
                        VendorAttribute::MsChapResponse(MsChapResponse {
                            ident: b[0],
                            flags: b[1],
                            lm_response,
                            nt_response,
                        })
                    }
                    M::ChapError => {
                        let (ident, message) = ident_and_string(v)?;
                        VendorAttribute::MsChapError { ident, message }
                    }
                    M::MppeEncryptionPolicy => {
                        VendorAttribute::MsMppeEncryptionPolicy(integer(v)?.into())
                    }
                    M::MppeEncryptionTypes => VendorAttribute::MsMppeEncryptionTypes(integer(v)?),
                    M::ChapChallenge => VendorAttribute::MsChapChallenge(v),
                    M::MppeSendKey => VendorAttribute::MsMppeSendKey(mppe_key(v)?),
                    M::MppeRecvKey => VendorAttribute::MsMppeRecvKey(mppe_key(v)?),
                    M::Chap2Response => {
                        let b = fixed::<MS_CHAP_RESPONSE_LEN>(v)?;
                        let mut peer_challenge = [0u8; 16];
                        let mut response = [0u8; 24];
                        peer_challenge.copy_from_slice(&b[2..18]);
                        // b[18..26] is Reserved.
                        response.copy_from_slice(&b[26..50]);
                        VendorAttribute::MsChap2Response(MsChap2Response {
                            ident: b[0],
                            flags: b[1],
                            peer_challenge,
                            response,
                        })
                    }
                    M::Chap2Success => {
                        let (ident, message) = ident_and_string(v)?;
                        VendorAttribute::MsChap2Success { ident, message }
                    }
                    M::PrimaryDnsServer => VendorAttribute::MsPrimaryDnsServer(address(v)?),
                    M::SecondaryDnsServer => VendorAttribute::MsSecondaryDnsServer(address(v)?),
                    M::PrimaryNbnsServer => VendorAttribute::MsPrimaryNbnsServer(address(v)?),
                    M::SecondaryNbnsServer => VendorAttribute::MsSecondaryNbnsServer(address(v)?),
                    M::Unknown(_) => other,
                }
            }
            VENDOR_MIKROTIK => match MikrotikType::from(sub.vendor_type) {
                MikrotikType::RateLimit => VendorAttribute::MikrotikRateLimit(v),
                MikrotikType::Unknown(_) => other,
            },
            _ => other,
        })
    }

    /// The rules checked after `parse` and before `emit`.
    pub fn validate(&self) -> Result<()> {
        match self {
            VendorAttribute::MsChapError { message, .. }
            | VendorAttribute::MsChap2Success { message, .. } => nonempty(message).map(drop),
            VendorAttribute::MsChapChallenge(v) | VendorAttribute::MikrotikRateLimit(v) => {
                nonempty(v).map(drop)
            }
            VendorAttribute::MsMppeSendKey(key) | VendorAttribute::MsMppeRecvKey(key) => {
                validate_mppe_key(key)
            }
            VendorAttribute::Other { vendor_id, .. } => validate_vendor_id(*vendor_id),
            VendorAttribute::MsChapResponse(_)
            | VendorAttribute::MsMppeEncryptionPolicy(_)
            | VendorAttribute::MsMppeEncryptionTypes(_)
            | VendorAttribute::MsChap2Response(_)
            | VendorAttribute::MsPrimaryDnsServer(_)
            | VendorAttribute::MsSecondaryDnsServer(_)
            | VendorAttribute::MsPrimaryNbnsServer(_)
            | VendorAttribute::MsSecondaryNbnsServer(_) => Ok(()),
        }
    }

    pub fn vendor_id(&self) -> u32 {
        match self {
            VendorAttribute::MikrotikRateLimit(_) => VENDOR_MIKROTIK,
            VendorAttribute::Other { vendor_id, .. } => *vendor_id,
            _ => VENDOR_MICROSOFT,
        }
    }

    pub fn vendor_type(&self) -> u8 {
        use MicrosoftType as M;
        let ms = |t: MicrosoftType| u8::from(t);
        match self {
            VendorAttribute::MsChapResponse(_) => ms(M::ChapResponse),
            VendorAttribute::MsChapError { .. } => ms(M::ChapError),
            VendorAttribute::MsMppeEncryptionPolicy(_) => ms(M::MppeEncryptionPolicy),
            VendorAttribute::MsMppeEncryptionTypes(_) => ms(M::MppeEncryptionTypes),
            VendorAttribute::MsChapChallenge(_) => ms(M::ChapChallenge),
            VendorAttribute::MsMppeSendKey(_) => ms(M::MppeSendKey),
            VendorAttribute::MsMppeRecvKey(_) => ms(M::MppeRecvKey),
            VendorAttribute::MsChap2Response(_) => ms(M::Chap2Response),
            VendorAttribute::MsChap2Success { .. } => ms(M::Chap2Success),
            VendorAttribute::MsPrimaryDnsServer(_) => ms(M::PrimaryDnsServer),
            VendorAttribute::MsSecondaryDnsServer(_) => ms(M::SecondaryDnsServer),
            VendorAttribute::MsPrimaryNbnsServer(_) => ms(M::PrimaryNbnsServer),
            VendorAttribute::MsSecondaryNbnsServer(_) => ms(M::SecondaryNbnsServer),
            VendorAttribute::MikrotikRateLimit(_) => MikrotikType::RateLimit.into(),
            VendorAttribute::Other { vendor_type, .. } => *vendor_type,
        }
    }

    /// The sub-attribute value as a computed head and a borrowed tail.
    fn encode_sub(&self) -> (Head, &'a [u8]) {
        let none = Head::new();
        match *self {
            VendorAttribute::MsChapResponse(r) => {
                let mut h = Head::of(&[r.ident, r.flags]);
                h.push(&r.lm_response);
                h.push(&r.nt_response);
                (h, &[])
            }
            VendorAttribute::MsChap2Response(r) => {
                let mut h = Head::of(&[r.ident, r.flags]);
                h.push(&r.peer_challenge);
                h.push(&[0; 8]);
                h.push(&r.response);
                (h, &[])
            }
            VendorAttribute::MsChapError { ident, message }
            | VendorAttribute::MsChap2Success { ident, message } => (Head::of(&[ident]), message),
            VendorAttribute::MsMppeEncryptionPolicy(p) => {
                (Head::of(&u32::from(p).to_be_bytes()), &[])
            }
            VendorAttribute::MsMppeEncryptionTypes(t) => (Head::of(&t.to_be_bytes()), &[]),
            VendorAttribute::MsChapChallenge(v) | VendorAttribute::MikrotikRateLimit(v) => {
                (none, v)
            }
            VendorAttribute::MsMppeSendKey(k) | VendorAttribute::MsMppeRecvKey(k) => {
                (Head::of(&k.salt.to_be_bytes()), k.encrypted)
            }
            VendorAttribute::MsPrimaryDnsServer(a)
            | VendorAttribute::MsSecondaryDnsServer(a)
            | VendorAttribute::MsPrimaryNbnsServer(a)
            | VendorAttribute::MsSecondaryNbnsServer(a) => (Head::of(&a.octets()), &[]),
            VendorAttribute::Other { value, .. } => (none, value),
        }
    }

    /// The whole Vendor-Specific value (Vendor-Id, one sub-attribute) as a computed
    /// head and a borrowed tail.
    pub(crate) fn encode(&self) -> (Head, &'a [u8]) {
        let (sub_head, tail) = self.encode_sub();
        let sub_len = VENDOR_HEADER_LEN + sub_head.as_slice().len() + tail.len();
        let mut head = Head::of(&self.vendor_id().to_be_bytes());
        // An oversize value is refused by the caller's 253-octet check; saturate so
        // that the arithmetic here cannot wrap.
        head.push(&[self.vendor_type(), sub_len.min(255) as u8]);
        head.push(sub_head.as_slice());
        (head, tail)
    }

    /// Writes the sub-attribute (not a whole attribute 26) at the start of `buffer`
    /// and returns its length, for packing several into one Vendor-Specific.
    pub fn emit_sub(&self, buffer: &mut [u8]) -> Result<usize> {
        self.validate()?;
        let (head, tail) = self.encode_sub();
        emit_tlv(buffer, self.vendor_type(), head.as_slice(), tail)?;
        Ok(VENDOR_HEADER_LEN + head.as_slice().len() + tail.len())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::{attr, typed_round_trip};
    use super::super::{Attribute, AttributeIter};
    use super::*;
    use crate::wire::test_util::assert_truncations_rejected;
    use hex_literal::hex;

    const PEER_CHALLENGE: [u8; 16] = hex!("21402324255e262a28295f2b3a337c7e");
    const NT_RESPONSE: [u8; 24] = hex!("82309ecd8d708b5ea08faa3981cd83544233114a3d85d6df");

    /// MS-CHAP2-Response (RFC 2548 §2.3.2): Vendor-Length 52, Ident 0x1d, Flags 0,
    /// Peer-Challenge, 8 Reserved zeros, Response (the RFC 2759 §9.2 values).
    const MS_CHAP2_RESPONSE: [u8; 58] = hex!(
        "1a 3a 00000137 19 34 1d 00"
        "21402324255e262a28295f2b3a337c7e"
        "0000000000000000"
        "82309ecd8d708b5ea08faa3981cd83544233114a3d85d6df"
    );
    /// MS-CHAP2-Success (RFC 2548 §2.3.3): Ident and the RFC 2759 §9.2
    /// authenticator response.
    const MS_CHAP2_SUCCESS: [u8; 51] = hex!(
        "1a 33 00000137 1a 2d 1d"
        "533d 34303741353538393131354644304436"
        "3230394635313046453943303435363639333243444135 36"
    );
    /// MS-MPPE-Send-Key (RFC 2548 §2.4.2): Salt 0x8001, 32 encrypted octets.
    const MS_MPPE_SEND_KEY: [u8; 42] = hex!(
        "1a 2a 00000137 10 24 8001"
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    );
    const MS_PRIMARY_DNS: [u8; 12] = hex!("1a 0c 00000137 1c 06 08080808");
    const MIKROTIK_RATE_LIMIT: [u8; 15] = hex!("1a 0f 00003a8c 08 09 31304d2f31304d");

    fn vendor_table() -> Vec<(VendorAttribute<'static>, Vec<u8>)> {
        vec![
            (
                VendorAttribute::MsChap2Response(MsChap2Response {
                    ident: 0x1d,
                    flags: 0,
                    peer_challenge: PEER_CHALLENGE,
                    response: NT_RESPONSE,
                }),
                MS_CHAP2_RESPONSE.to_vec(),
            ),
            (
                VendorAttribute::MsChap2Success {
                    ident: 0x1d,
                    message: b"S=407A5589115FD0D6209F510FE9C04566932CDA56",
                },
                MS_CHAP2_SUCCESS.to_vec(),
            ),
            (
                VendorAttribute::MsMppeSendKey(MppeKey {
                    salt: 0x8001,
                    encrypted: &hex!(
                        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
                    ),
                }),
                MS_MPPE_SEND_KEY.to_vec(),
            ),
            (
                VendorAttribute::MsMppeRecvKey(MppeKey {
                    salt: 0xffff,
                    encrypted: &[0x55; 16],
                }),
                [&hex!("1a 1a 00000137 11 14 ffff")[..], &[0x55; 16]].concat(),
            ),
            (
                VendorAttribute::MsPrimaryDnsServer(Ipv4Addr::new(8, 8, 8, 8)),
                MS_PRIMARY_DNS.to_vec(),
            ),
            (
                VendorAttribute::MsSecondaryDnsServer(Ipv4Addr::new(1, 1, 1, 1)),
                hex!("1a 0c 00000137 1d 06 01010101").to_vec(),
            ),
            (
                VendorAttribute::MsPrimaryNbnsServer(Ipv4Addr::new(10, 0, 0, 1)),
                hex!("1a 0c 00000137 1e 06 0a000001").to_vec(),
            ),
            (
                VendorAttribute::MsSecondaryNbnsServer(Ipv4Addr::new(10, 0, 0, 2)),
                hex!("1a 0c 00000137 1f 06 0a000002").to_vec(),
            ),
            (
                VendorAttribute::MsMppeEncryptionPolicy(MppeEncryptionPolicy::EncryptionRequired),
                hex!("1a 0c 00000137 07 06 00000002").to_vec(),
            ),
            (
                VendorAttribute::MsMppeEncryptionTypes(MPPE_TYPES_40_BIT | MPPE_TYPES_128_BIT),
                hex!("1a 0c 00000137 08 06 00000006").to_vec(),
            ),
            (
                VendorAttribute::MsChapChallenge(&hex!("5b5d7c7d7b3f2f3e3c2c602132262628")),
                hex!("1a 18 00000137 0b 12 5b5d7c7d7b3f2f3e3c2c602132262628").to_vec(),
            ),
            (
                VendorAttribute::MsChapError {
                    ident: 1,
                    message: b"E=691 R=0",
                },
                hex!("1a 12 00000137 02 0c 01 453d3639312052 3d30").to_vec(),
            ),
            (
                VendorAttribute::MsChapResponse(MsChapResponse {
                    ident: 2,
                    flags: 1,
                    lm_response: [0x11; 24],
                    nt_response: [0x22; 24],
                }),
                [
                    &hex!("1a 3a 00000137 01 34 02 01")[..],
                    &[0x11; 24],
                    &[0x22; 24],
                ]
                .concat(),
            ),
            (
                VendorAttribute::MikrotikRateLimit(b"10M/10M"),
                MIKROTIK_RATE_LIMIT.to_vec(),
            ),
            (
                VendorAttribute::Other {
                    vendor_id: 9,
                    vendor_type: 1,
                    value: b"",
                },
                hex!("1a 08 00000009 01 02").to_vec(),
            ),
            (
                VendorAttribute::Other {
                    vendor_id: VENDOR_MICROSOFT,
                    vendor_type: 99,
                    value: b"z",
                },
                hex!("1a 09 00000137 63 03 7a").to_vec(),
            ),
        ]
    }

    #[test]
    fn emit_and_parse_table() {
        for (vendor_attribute, bytes) in vendor_table() {
            let attribute = Attribute::Vendor(vendor_attribute);
            assert_eq!(attribute.buffer_len(), bytes.len(), "{attribute:?}");
            let mut out = vec![0u8; bytes.len()];
            assert_eq!(attribute.emit(&mut out), Ok(bytes.len()));
            assert_eq!(out, bytes, "{attribute:?}");
            let repr = AttributeIter::new(&bytes).next().unwrap().unwrap();
            assert_eq!(Attribute::parse(&repr), Ok(attribute));
            typed_round_trip(&attribute);
            // The sub-attribute alone.
            let mut sub = vec![0u8; bytes.len() - 6];
            assert_eq!(vendor_attribute.emit_sub(&mut sub), Ok(bytes.len() - 6));
            assert_eq!(sub, bytes[6..]);
        }
    }

    #[test]
    fn deconstruct_vsa() {
        let repr = AttributeIter::new(&MS_CHAP2_RESPONSE)
            .next()
            .unwrap()
            .unwrap();
        let vsa = VendorSpecificRepr::parse(repr.value).unwrap();
        assert_eq!(vsa.vendor_id, VENDOR_MICROSOFT);
        let subs: Vec<_> = vsa.sub_attributes().map(|s| s.unwrap()).collect();
        assert_eq!(subs.len(), 1);
        assert_eq!(subs[0].vendor_type, 25);
        assert_eq!(subs[0].value.len(), MS_CHAP_RESPONSE_LEN);
        assert_eq!(subs[0].value[2..18], PEER_CHALLENGE);
        assert_eq!(subs[0].value[26..], NT_RESPONSE);
    }

    #[test]
    fn several_sub_attributes() {
        // One Vendor-Specific with MS-Primary-DNS-Server and MS-Secondary-DNS-Server.
        let bytes = hex!("1a 12 00000137 1c 06 08080808 1d 06 01010101");
        let subs = [
            VendorAttributeRepr {
                vendor_type: 28,
                value: &[8, 8, 8, 8],
            },
            VendorAttributeRepr {
                vendor_type: 29,
                value: &[1, 1, 1, 1],
            },
        ];
        assert_eq!(VendorSpecificRepr::attribute_len(&subs), bytes.len());
        let mut out = [0u8; 18];
        assert_eq!(
            VendorSpecificRepr::emit_attribute(VENDOR_MICROSOFT, &subs, &mut out),
            Ok(18)
        );
        assert_eq!(out, bytes);
        let repr = AttributeIter::new(&bytes).next().unwrap().unwrap();
        let Ok(Attribute::VendorSpecific(vsa)) = Attribute::parse(&repr) else {
            panic!("expected a raw Vendor-Specific");
        };
        let parsed: Vec<_> = vsa.sub_attributes().map(|s| s.unwrap()).collect();
        assert_eq!(parsed, subs);
        let typed: Vec<_> = parsed
            .iter()
            .map(|s| VendorAttribute::parse(vsa.vendor_id, s).unwrap())
            .collect();
        assert_eq!(
            typed,
            [
                VendorAttribute::MsPrimaryDnsServer(Ipv4Addr::new(8, 8, 8, 8)),
                VendorAttribute::MsSecondaryDnsServer(Ipv4Addr::new(1, 1, 1, 1)),
            ]
        );
        typed_round_trip(&Attribute::VendorSpecific(vsa));
        // An empty list and an oversize list cannot be emitted.
        assert!(VendorSpecificRepr::emit_attribute(VENDOR_MICROSOFT, &[], &mut out).is_err());
        let big = [VendorAttributeRepr {
            vendor_type: 1,
            value: &[0; 248],
        }];
        assert!(
            VendorSpecificRepr::emit_attribute(VENDOR_MICROSOFT, &big, &mut [0u8; 300]).is_err()
        );
        assert!(VendorSpecificRepr::emit_attribute(1 << 24, &subs, &mut [0u8; 30]).is_err());
    }

    #[test]
    fn non_tlv_vendor_data_stays_raw() {
        // A vendor String that is not a sub-attribute chain (Length 1).
        let bytes = hex!("1a 08 00000009 05 01");
        let repr = AttributeIter::new(&bytes).next().unwrap().unwrap();
        let Ok(Attribute::VendorSpecific(vsa)) = Attribute::parse(&repr) else {
            panic!("expected a raw Vendor-Specific");
        };
        assert_eq!(vsa.data, &[5, 1]);
        let mut subs = vsa.sub_attributes();
        assert_eq!(
            subs.next(),
            Some(Err(Error::BadLength(Layer::RadiusAttribute)))
        );
        assert_eq!(subs.next(), None);
    }

    #[test]
    fn size_rules() {
        let parse = |bytes: &[u8]| {
            let repr = AttributeIter::new(bytes).next().unwrap().unwrap();
            Attribute::parse(&repr).map(drop)
        };
        // MS-CHAP2-Response one octet short.
        let mut short = MS_CHAP2_RESPONSE[..57].to_vec();
        short[1] = 57;
        short[7] = 51;
        assert_eq!(parse(&short), Err(Error::BadLength(Layer::RadiusAttribute)));
        // MPPE key: salt high bit clear; encrypted string not a multiple of 16.
        let mut clear = MS_MPPE_SEND_KEY;
        clear[8] = 0x7f;
        assert_eq!(
            parse(&clear),
            Err(Error::Malformed(
                Layer::RadiusAttribute,
                "MPPE key salt high bit clear"
            ))
        );
        let mut odd = MS_MPPE_SEND_KEY[..41].to_vec();
        odd[1] = 41;
        odd[7] = 35;
        assert_eq!(parse(&odd), Err(Error::BadLength(Layer::RadiusAttribute)));
        // MS-CHAP2-Success with only the Ident.
        assert_eq!(
            parse(&hex!("1a 09 00000137 1a 03 01")),
            Err(Error::BadLength(Layer::RadiusAttribute))
        );
        // Empty Mikrotik-Rate-Limit.
        assert_eq!(
            parse(&hex!("1a 08 00003a8c 08 02")),
            Err(Error::BadLength(Layer::RadiusAttribute))
        );
        // Emitting what would not parse fails.
        let key = VendorAttribute::MsMppeRecvKey(MppeKey {
            salt: 1,
            encrypted: &[0; 16],
        });
        assert!(Attribute::Vendor(key).emit(&mut [0u8; 64]).is_err());
        assert!(key.emit_sub(&mut [0u8; 64]).is_err());
    }

    #[test]
    fn truncations() {
        for bytes in [
            &MS_CHAP2_RESPONSE[..],
            &MS_CHAP2_SUCCESS,
            &MS_MPPE_SEND_KEY,
            &MS_PRIMARY_DNS,
            &MIKROTIK_RATE_LIMIT,
        ] {
            // Cut the chain: the attribute Length then overruns.
            assert_truncations_rejected(bytes, |b| {
                AttributeIter::new(b)
                    .next()
                    .unwrap_or(Err(Error::Truncated(Layer::RadiusAttribute)))
                    .map(drop)
            });
            // Shrink every length consistently: the sub-attribute is then too short
            // for its fixed layout, or (for strings) still valid; none may panic.
            for n in 6..bytes.len() {
                let mut cut = bytes[..n].to_vec();
                cut[1] = n as u8;
                let _ = Attribute::parse(&attr(26, &cut[2..]));
            }
        }
        assert_truncations_rejected(&MS_CHAP2_RESPONSE[2..], |b| {
            VendorSpecificRepr::parse(b).and_then(|vsa| {
                let sub = vsa.sub_attributes().next().unwrap()?;
                VendorAttribute::parse(vsa.vendor_id, &sub).map(drop)
            })
        });
    }
}

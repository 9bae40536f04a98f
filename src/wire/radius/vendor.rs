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
    if key.encrypted.is_empty() || key.encrypted.len() % MPPE_KEY_BLOCK != 0 {
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
    use super::*;
}

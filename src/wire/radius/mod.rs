//! RADIUS packets and attribute chains (RFC 2865 §3 and §5, RFC 2866, RFC 2869,
//! RFC 5176), zero-copy.
//!
//! - [`Packet`] is the view of one RADIUS datagram (Code, Identifier, Length,
//!   Authenticator, attributes); [`Repr`] its validated form, whose attributes are either
//!   the borrowed wire chain ([`Attributes::Wire`]) or a caller's slice of
//!   [`AttributeRepr`]s ([`Attributes::List`]).
//! - [`AttributeIter`] walks the Type-Length-Value chain (§5); [`PacketBuilder`] writes a
//!   packet attribute by attribute, from raw [`AttributeRepr`]s or typed
//!   [`Attribute`]s, and records where the Message-Authenticator value sits.
//! - [`attribute`] is the typed layer ([`Attribute`] and the value enums);
//!   [`vendor`] holds Vendor-Specific (§5.26) sub-attributes, with Microsoft (RFC 2548)
//!   and MikroTik ones typed.
//!
//! Decisions:
//! - **Length** (§3): a Length outside 20..=4096 is [`Error::BadLength`]; a buffer
//!   shorter than Length is [`Error::Truncated`] (§3 says such a packet is silently
//!   discarded: the caller drops it); octets past Length are UDP padding and ignored,
//!   so [`Packet::attribute_data`] stops at Length.
//! - **Attribute Length** (§5): the chain parser accepts Length >= 2, i.e. an empty
//!   value, because §5 defines Value as "zero or more octets" and a chain with an empty
//!   attribute is still well-delimited. The typed layer applies the per-type minimums
//!   (text and string "MUST NOT" be empty, §5), so an empty User-Name parses as an
//!   [`AttributeRepr`] but not as an [`Attribute`]. Length 0 or 1 breaks the chain and
//!   is [`Error::BadLength`].
//! - **Emit limits**: a value longer than 253 octets cannot be encoded (§5: Length is one
//!   octet). Emitting one returns `Error::Malformed(RadiusAttribute, ..)` rather than
//!   splitting it: only some attributes (EAP-Message, RFC 3579) may be split, and which
//!   is policy. A packet longer than 4096 octets is likewise an error.
//! - **Message-Authenticator** (RFC 2869 §5.14, RFC 3579 §3.2): the authenticator maths
//!   lives in `crate::crypto::radius`, over raw packet bytes; this module only finds the
//!   16-octet value ([`Packet::message_authenticator_range`],
//!   [`PacketBuilder::message_authenticator_range`]) so the crypto can zero and fill it.
//!   An attribute 80 whose value is not 16 octets is malformed; if several appear the
//!   first is reported (RFC 3579 allows at most one; rejecting is policy).
//!   [`Packet::attribute_value_range`] and [`Packet::vendor_value_range`] do the same
//!   for User-Password and the MS-MPPE keys, which the crypto hides and reveals in
//!   place.
//!
//! Contract: untrusted input goes through [`Packet::new_checked`] (or [`Repr::parse`]);
//! every error is an [`Error`], never a panic. `Repr::emit` never panics on a buffer
//! of at least `buffer_len()` octets.
#![forbid(unsafe_code)]

use core::ops::Range;

use super::{Error, Layer, Reader, Result};

pub mod attribute;
pub mod vendor;

pub use attribute::Attribute;
pub use vendor::{VendorAttribute, VendorAttributeRepr, VendorSpecificRepr};

/// UDP port of RADIUS authentication (RFC 2865 §3).
pub const AUTH_PORT: u16 = 1812;
/// UDP port of RADIUS accounting (RFC 2866 §3).
pub const ACCOUNTING_PORT: u16 = 1813;
/// UDP port of Disconnect and CoA requests (RFC 5176 §3).
pub const DYNAMIC_AUTHORIZATION_PORT: u16 = 3799;

/// Fixed header: Code, Identifier, Length, Authenticator (RFC 2865 §3).
pub const HEADER_LEN: usize = 20;
/// Smallest legal value of the Length field (RFC 2865 §3).
pub const MIN_PACKET_LEN: usize = 20;
/// Largest legal value of the Length field (RFC 2865 §3).
pub const MAX_PACKET_LEN: usize = 4096;
/// Request and Response Authenticator size (RFC 2865 §3).
pub const AUTHENTICATOR_LEN: usize = 16;
/// Attribute Type and Length octets (RFC 2865 §5).
pub const ATTRIBUTE_HEADER_LEN: usize = 2;
/// Longest attribute value: Length is one octet and counts the header (RFC 2865 §5).
pub const MAX_VALUE_LEN: usize = 255 - ATTRIBUTE_HEADER_LEN;
/// Message-Authenticator value size (RFC 2869 §5.14).
pub const MESSAGE_AUTHENTICATOR_LEN: usize = 16;

/// Byte ranges of the fixed header (RFC 2865 §3).
pub mod field {
    use crate::wire::{Field, Rest};

    pub const CODE: usize = 0;
    pub const IDENTIFIER: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const AUTHENTICATOR: Field = 4..20;
    pub const ATTRIBUTES: Rest = 20..;
}

open_enum! {
    /// Packet Code (RFC 2865 §3, §4; RFC 2866 §4; RFC 5176 §2.3).
    pub enum Code: u8 {
        AccessRequest = 1,
        AccessAccept = 2,
        AccessReject = 3,
        AccountingRequest = 4,
        AccountingResponse = 5,
        AccessChallenge = 11,
        StatusServer = 12,
        StatusClient = 13,
        DisconnectRequest = 40,
        DisconnectAck = 41,
        DisconnectNak = 42,
        CoaRequest = 43,
        CoaAck = 44,
        CoaNak = 45,
    }
}

open_enum! {
    /// Attribute Type (RFC 2865 §5, RFC 2866 §5, RFC 2868 §3, RFC 2869 §5, RFC 3162 §2,
    /// RFC 5176 §3.5): the types shardvpn reads or writes.
    pub enum AttributeType: u8 {
        UserName = 1,
        UserPassword = 2,
        ChapPassword = 3,
        NasIpAddress = 4,
        NasPort = 5,
        ServiceType = 6,
        FramedProtocol = 7,
        FramedIpAddress = 8,
        FramedIpNetmask = 9,
        FilterId = 11,
        FramedMtu = 12,
        ReplyMessage = 18,
        State = 24,
        Class = 25,
        VendorSpecific = 26,
        SessionTimeout = 27,
        IdleTimeout = 28,
        TerminationAction = 29,
        CalledStationId = 30,
        CallingStationId = 31,
        NasIdentifier = 32,
        ProxyState = 33,
        AcctStatusType = 40,
        AcctDelayTime = 41,
        AcctInputOctets = 42,
        AcctOutputOctets = 43,
        AcctSessionId = 44,
        AcctAuthentic = 45,
        AcctSessionTime = 46,
        AcctInputPackets = 47,
        AcctOutputPackets = 48,
        AcctTerminateCause = 49,
        AcctMultiSessionId = 50,
        AcctInputGigawords = 52,
        AcctOutputGigawords = 53,
        EventTimestamp = 55,
        ChapChallenge = 60,
        NasPortType = 61,
        PortLimit = 62,
        TunnelType = 64,
        TunnelMediumType = 65,
        TunnelClientEndpoint = 66,
        TunnelServerEndpoint = 67,
        ConnectInfo = 77,
        MessageAuthenticator = 80,
        AcctInterimInterval = 85,
        NasPortId = 87,
        FramedPool = 88,
        NasIpv6Address = 95,
        FramedIpv6Prefix = 97,
        ErrorCause = 101,
    }
}

/// A read-only or read-write view of a RADIUS packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks; getters may panic on a short buffer.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Packet::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the header is present, that Length is within 20..=4096 and that the
    /// buffer holds Length octets (RFC 2865 §3). Octets beyond Length are padding.
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(Error::Truncated(Layer::Radius));
        }
        let length = usize::from(self.length());
        if !(MIN_PACKET_LEN..=MAX_PACKET_LEN).contains(&length) {
            return Err(Error::BadLength(Layer::Radius));
        }
        if data.len() < length {
            return Err(Error::Truncated(Layer::Radius));
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn code(&self) -> Code {
        Code::from(self.buffer.as_ref()[field::CODE])
    }

    pub fn identifier(&self) -> u8 {
        self.buffer.as_ref()[field::IDENTIFIER]
    }

    pub fn length(&self) -> u16 {
        let d = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([d[0], d[1]])
    }

    /// The Request or Response Authenticator (16 octets).
    pub fn authenticator(&self) -> &[u8] {
        &self.buffer.as_ref()[field::AUTHENTICATOR]
    }

    /// The attribute octets: from the header up to Length (padding excluded).
    pub fn attribute_data(&self) -> &[u8] {
        let end = usize::from(self.length());
        &self.buffer.as_ref()[HEADER_LEN..end]
    }

    /// The packet octets up to Length (padding excluded), the input of the
    /// authenticator computations.
    pub fn packet_data(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.length())]
    }

    /// An iterator over the attribute chain.
    pub fn attributes(&self) -> AttributeIter<'_> {
        AttributeIter::new(self.attribute_data())
    }

    /// The byte range, within the packet, of the first Message-Authenticator's
    /// 16-octet value, or `None` if the packet has none (RFC 2869 §5.14). Fails if the
    /// chain is malformed or that attribute's value is not 16 octets.
    pub fn message_authenticator_range(&self) -> Result<Option<Range<usize>>> {
        message_authenticator_in(self.attribute_data(), HEADER_LEN)
    }

    /// The byte range, within the packet, of the value of the first attribute of
    /// `attribute_type` (e.g. User-Password, for hiding or revealing it in place).
    pub fn attribute_value_range(
        &self,
        attribute_type: AttributeType,
    ) -> Result<Option<Range<usize>>> {
        let mut iter = self.attributes();
        loop {
            let start = HEADER_LEN + iter.position() + ATTRIBUTE_HEADER_LEN;
            match iter.next() {
                None => return Ok(None),
                Some(Err(e)) => return Err(e),
                Some(Ok(attr)) if attr.attribute_type == attribute_type => {
                    return Ok(Some(start..start + attr.value.len()));
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The byte range, within the packet, of the value of the first vendor
    /// sub-attribute `vendor_type` of `vendor_id` (e.g. MS-MPPE-Send-Key, whose value
    /// is Salt and the hidden String). Vendor-Specific attributes whose data is not a
    /// sub-attribute chain are skipped.
    pub fn vendor_value_range(
        &self,
        vendor_id: u32,
        vendor_type: u8,
    ) -> Result<Option<Range<usize>>> {
        let mut iter = self.attributes();
        loop {
            let value_start = HEADER_LEN + iter.position() + ATTRIBUTE_HEADER_LEN;
            let attr = match iter.next() {
                None => return Ok(None),
                Some(Err(e)) => return Err(e),
                Some(Ok(attr)) => attr,
            };
            if attr.attribute_type != AttributeType::VendorSpecific {
                continue;
            }
            let Ok(vsa) = VendorSpecificRepr::parse(attr.value) else {
                continue;
            };
            if vsa.vendor_id != vendor_id {
                continue;
            }
            let mut offset = value_start + vendor::VENDOR_ID_LEN;
            for sub in vsa.sub_attributes() {
                let Ok(sub) = sub else { break };
                if sub.vendor_type == vendor_type {
                    let start = offset + vendor::VENDOR_HEADER_LEN;
                    return Ok(Some(start..start + sub.value.len()));
                }
                offset += sub.buffer_len();
            }
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_code(&mut self, value: Code) {
        self.buffer.as_mut()[field::CODE] = value.into();
    }

    pub fn set_identifier(&mut self, value: u8) {
        self.buffer.as_mut()[field::IDENTIFIER] = value;
    }

    pub fn set_length(&mut self, value: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&value.to_be_bytes());
    }

    /// Writes the Request or Response Authenticator.
    pub fn set_authenticator(&mut self, value: &[u8; AUTHENTICATOR_LEN]) {
        self.buffer.as_mut()[field::AUTHENTICATOR].copy_from_slice(value);
    }

    /// The Authenticator field, for computing it in place.
    pub fn authenticator_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::AUTHENTICATOR]
    }

    /// The attribute octets up to Length, mutable.
    pub fn attribute_data_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.length());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// The packet octets up to Length, mutable (for the crypto, which patches the
    /// authenticators and Message-Authenticator in place).
    pub fn packet_data_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.length());
        &mut self.buffer.as_mut()[..end]
    }
}

/// Finds the Message-Authenticator value in a chain that starts at `base` in the packet.
fn message_authenticator_in(chain: &[u8], base: usize) -> Result<Option<Range<usize>>> {
    let mut iter = AttributeIter::new(chain);
    loop {
        let start = iter.position();
        match iter.next() {
            None => return Ok(None),
            Some(Err(e)) => return Err(e),
            Some(Ok(attr)) if attr.attribute_type == AttributeType::MessageAuthenticator => {
                if attr.value.len() != MESSAGE_AUTHENTICATOR_LEN {
                    return Err(Error::BadLength(Layer::RadiusAttribute));
                }
                let value_start = base + start + ATTRIBUTE_HEADER_LEN;
                return Ok(Some(value_start..value_start + MESSAGE_AUTHENTICATOR_LEN));
            }
            Some(Ok(_)) => {}
        }
    }
}

/// One attribute as it sits on the wire: Type and a borrowed Value (RFC 2865 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttributeRepr<'a> {
    pub attribute_type: AttributeType,
    pub value: &'a [u8],
}

impl<'a> AttributeRepr<'a> {
    /// Type, Length and Value octets.
    pub const fn buffer_len(&self) -> usize {
        ATTRIBUTE_HEADER_LEN + self.value.len()
    }

    /// Writes the attribute at the start of `buffer` (at least `buffer_len()` octets).
    /// Fails if the value is longer than 253 octets.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        emit_tlv(buffer, self.attribute_type.into(), &[], self.value)
    }

    /// The value as RFC 2865 §5 "text": non-empty UTF-8.
    pub fn text(&self) -> Result<&'a str> {
        let s = attribute::nonempty(self.value)?;
        core::str::from_utf8(s)
            .map_err(|_| Error::Malformed(Layer::RadiusAttribute, "text is not UTF-8"))
    }

    /// The value as RFC 2865 §5 "string": one or more octets.
    pub fn string(&self) -> Result<&'a [u8]> {
        attribute::nonempty(self.value)
    }

    /// The value as RFC 2865 §5 "address": 4 octets.
    pub fn address(&self) -> Result<core::net::Ipv4Addr> {
        Ok(core::net::Ipv4Addr::from(attribute::fixed::<4>(
            self.value,
        )?))
    }

    /// The value as RFC 2865 §5 "integer": 4 octets, big-endian.
    pub fn integer(&self) -> Result<u32> {
        Ok(u32::from_be_bytes(attribute::fixed::<4>(self.value)?))
    }

    /// The value as RFC 2865 §5 "time": seconds since 1970-01-01 UTC, 4 octets.
    pub fn time(&self) -> Result<u32> {
        self.integer()
    }
}

/// Writes `type`, `length`, `head`, `tail` at the start of `buffer`.
fn emit_tlv(buffer: &mut [u8], raw_type: u8, head: &[u8], tail: &[u8]) -> Result<()> {
    let value_len = head.len() + tail.len();
    if value_len > MAX_VALUE_LEN {
        return Err(Error::Malformed(
            Layer::RadiusAttribute,
            "value longer than 253 octets",
        ));
    }
    let total = ATTRIBUTE_HEADER_LEN + value_len;
    let Some(out) = buffer.get_mut(..total) else {
        return Err(Error::Truncated(Layer::RadiusAttribute));
    };
    out[0] = raw_type;
    out[1] = total as u8; // at most 255, checked above
    out[2..2 + head.len()].copy_from_slice(head);
    out[2 + head.len()..].copy_from_slice(tail);
    Ok(())
}

/// Reads one Type-Length-Value item (RFC 2865 §5; also the vendor sub-attribute layout
/// of §5.26) and returns its type and value.
pub(crate) fn read_tlv<'a>(reader: &mut Reader<'a>) -> Result<(u8, &'a [u8])> {
    let layer = reader.layer();
    let raw_type = reader.u8()?;
    let length = usize::from(reader.u8()?);
    if length < ATTRIBUTE_HEADER_LEN {
        return Err(Error::BadLength(layer));
    }
    let value = reader.take(length - ATTRIBUTE_HEADER_LEN)?;
    Ok((raw_type, value))
}

/// Iterator over an attribute chain; yields an error once, then stops.
#[derive(Debug, Clone)]
pub struct AttributeIter<'a> {
    reader: Reader<'a>,
    failed: bool,
}

impl<'a> AttributeIter<'a> {
    pub fn new(chain: &'a [u8]) -> Self {
        AttributeIter {
            reader: Reader::new(chain, Layer::RadiusAttribute),
            failed: false,
        }
    }

    /// Offset of the next attribute within the chain.
    pub fn position(&self) -> usize {
        self.reader.position()
    }
}

impl<'a> Iterator for AttributeIter<'a> {
    type Item = Result<AttributeRepr<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.reader.is_empty() {
            return None;
        }
        match read_tlv(&mut self.reader) {
            Ok((raw_type, value)) => Some(Ok(AttributeRepr {
                attribute_type: raw_type.into(),
                value,
            })),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// The attributes of a [`Repr`]: a validated wire chain, or a caller's list.
/// Two values are equal when they hold the same attributes in the same order.
#[derive(Debug, Clone, Copy)]
pub enum Attributes<'a> {
    /// A chain as read from the wire (validated by [`Repr::parse`]).
    Wire(&'a [u8]),
    /// Attributes to emit, in order.
    List(&'a [AttributeRepr<'a>]),
}

impl<'a> Attributes<'a> {
    /// The attributes in order; items of a `Wire` chain that was not validated may be
    /// errors.
    pub fn iter(&self) -> AttributesIter<'a> {
        match *self {
            Attributes::Wire(chain) => AttributesIter::Wire(AttributeIter::new(chain)),
            Attributes::List(list) => AttributesIter::List(list.iter()),
        }
    }

    /// Encoded size of the chain.
    pub fn buffer_len(&self) -> usize {
        match *self {
            Attributes::Wire(chain) => chain.len(),
            Attributes::List(list) => list.iter().map(AttributeRepr::buffer_len).sum(),
        }
    }

    /// Writes the chain at the start of `buffer` (at least `buffer_len()` octets).
    fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        match *self {
            Attributes::Wire(chain) => {
                let Some(out) = buffer.get_mut(..chain.len()) else {
                    return Err(Error::Truncated(Layer::Radius));
                };
                out.copy_from_slice(chain);
            }
            Attributes::List(list) => {
                let mut offset = 0;
                for attr in list {
                    let Some(out) = buffer.get_mut(offset..) else {
                        return Err(Error::Truncated(Layer::Radius));
                    };
                    attr.emit(out)?;
                    offset += attr.buffer_len();
                }
            }
        }
        Ok(())
    }
}

impl PartialEq for Attributes<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Attributes<'_> {}

/// Iterator over [`Attributes`].
#[derive(Debug, Clone)]
pub enum AttributesIter<'a> {
    Wire(AttributeIter<'a>),
    List(core::slice::Iter<'a, AttributeRepr<'a>>),
}

impl<'a> Iterator for AttributesIter<'a> {
    type Item = Result<AttributeRepr<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            AttributesIter::Wire(iter) => iter.next(),
            AttributesIter::List(iter) => iter.next().map(|a| Ok(*a)),
        }
    }
}

/// A validated RADIUS packet (RFC 2865 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    pub code: Code,
    pub identifier: u8,
    pub authenticator: [u8; AUTHENTICATOR_LEN],
    pub attributes: Attributes<'a>,
}

impl<'a> Repr<'a> {
    /// Validates the header and the whole attribute chain.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Repr<'a>> {
        packet.check_len()?;
        let data: &'a [u8] = packet.buffer.as_ref();
        let chain = &data[HEADER_LEN..usize::from(packet.length())];
        for attr in AttributeIter::new(chain) {
            attr?;
        }
        let mut authenticator = [0u8; AUTHENTICATOR_LEN];
        authenticator.copy_from_slice(packet.authenticator());
        Ok(Repr {
            code: packet.code(),
            identifier: packet.identifier(),
            authenticator,
            attributes: Attributes::Wire(chain),
        })
    }

    /// Header plus attributes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.attributes.buffer_len()
    }

    /// Writes the packet, Length included. Fails (writing nothing meaningful) if an
    /// attribute value is longer than 253 octets or the packet longer than 4096.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        let len = self.buffer_len();
        if len > MAX_PACKET_LEN {
            return Err(Error::Malformed(
                Layer::Radius,
                "packet longer than 4096 octets",
            ));
        }
        let buffer = packet.buffer.as_mut();
        let Some(out) = buffer.get_mut(..len) else {
            return Err(Error::Truncated(Layer::Radius));
        };
        self.attributes.emit(&mut out[HEADER_LEN..])?;
        packet.set_code(self.code);
        packet.set_identifier(self.identifier);
        packet.set_length(len as u16); // at most 4096, checked above
        packet.set_authenticator(&self.authenticator);
        Ok(())
    }

    /// The Message-Authenticator value's range within the emitted packet.
    pub fn message_authenticator_range(&self) -> Result<Option<Range<usize>>> {
        let mut offset = HEADER_LEN;
        for attr in self.attributes.iter() {
            let attr = attr?;
            if attr.attribute_type == AttributeType::MessageAuthenticator {
                if attr.value.len() != MESSAGE_AUTHENTICATOR_LEN {
                    return Err(Error::BadLength(Layer::RadiusAttribute));
                }
                let start = offset + ATTRIBUTE_HEADER_LEN;
                return Ok(Some(start..start + MESSAGE_AUTHENTICATOR_LEN));
            }
            offset += attr.buffer_len();
        }
        Ok(None)
    }
}

/// Writes a packet attribute by attribute into a caller's buffer, for typed
/// [`Attribute`]s (whose integer values have no borrowed bytes to put in an
/// [`AttributeRepr`]). [`finish`](Self::finish) writes Length.
#[derive(Debug)]
pub struct PacketBuilder<'b> {
    buffer: &'b mut [u8],
    len: usize,
    message_authenticator: Option<Range<usize>>,
}

impl<'b> PacketBuilder<'b> {
    /// Starts a packet; the buffer must hold at least the header.
    pub fn new(
        buffer: &'b mut [u8],
        code: Code,
        identifier: u8,
        authenticator: &[u8; AUTHENTICATOR_LEN],
    ) -> Result<Self> {
        let Some(header) = buffer.get_mut(..HEADER_LEN) else {
            return Err(Error::Truncated(Layer::Radius));
        };
        header[field::CODE] = code.into();
        header[field::IDENTIFIER] = identifier;
        header[field::LENGTH].copy_from_slice(&(HEADER_LEN as u16).to_be_bytes());
        header[field::AUTHENTICATOR].copy_from_slice(authenticator);
        Ok(PacketBuilder {
            buffer,
            len: HEADER_LEN,
            message_authenticator: None,
        })
    }

    /// The room left before the buffer or the 4096-octet limit ends.
    fn room(&mut self) -> &mut [u8] {
        let end = self.buffer.len().min(MAX_PACKET_LEN);
        self.buffer.get_mut(self.len..end).unwrap_or_default()
    }

    /// Appends a typed attribute.
    pub fn push(&mut self, attr: &Attribute<'_>) -> Result<()> {
        let start = self.len;
        let written = attr.emit(self.room())?;
        if let Attribute::MessageAuthenticator(_) = attr {
            self.note_message_authenticator(start);
        }
        self.len += written;
        Ok(())
    }

    /// Appends a raw attribute.
    pub fn push_repr(&mut self, attr: &AttributeRepr<'_>) -> Result<()> {
        let start = self.len;
        attr.emit(self.room())?;
        if attr.attribute_type == AttributeType::MessageAuthenticator
            && attr.value.len() == MESSAGE_AUTHENTICATOR_LEN
        {
            self.note_message_authenticator(start);
        }
        self.len += attr.buffer_len();
        Ok(())
    }

    fn note_message_authenticator(&mut self, start: usize) {
        if self.message_authenticator.is_none() {
            let value = start + ATTRIBUTE_HEADER_LEN;
            self.message_authenticator = Some(value..value + MESSAGE_AUTHENTICATOR_LEN);
        }
    }

    /// The range of the first Message-Authenticator value pushed so far.
    pub fn message_authenticator_range(&self) -> Option<Range<usize>> {
        self.message_authenticator.clone()
    }

    /// Octets written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: the header is always there.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes Length and returns the packet octets.
    pub fn finish(self) -> &'b mut [u8] {
        let len = self.len;
        let buffer = self.buffer;
        // len <= MAX_PACKET_LEN by `room`.
        buffer[field::LENGTH].copy_from_slice(&(len as u16).to_be_bytes());
        &mut buffer[..len]
    }
}

/// Helpers shared by the tests of this module's files.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub(crate) fn attr(t: u8, value: &[u8]) -> AttributeRepr<'_> {
        AttributeRepr {
            attribute_type: t.into(),
            value,
        }
    }

    /// Emits a typed attribute into a packet with the builder, parses the packet and
    /// the attribute back, and checks that nothing changed.
    pub(crate) fn typed_round_trip(attribute: &Attribute<'_>) {
        let mut buf = [0u8; 300];
        let mut b = PacketBuilder::new(&mut buf, Code::AccessAccept, 7, &[0x11; 16]).unwrap();
        b.push(attribute).unwrap();
        let bytes = b.finish();
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        let repr = Repr::parse(&packet).unwrap();
        let mut attrs = repr.attributes.iter();
        let back = Attribute::parse(&attrs.next().unwrap().unwrap()).unwrap();
        assert_eq!(&back, attribute);
        assert!(attrs.next().is_none());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::attribute::{FramedProtocol, ServiceType};
    use super::tests_support::attr;
    use super::*;
    use crate::wire::test_util::assert_truncations_rejected;
    use core::net::Ipv4Addr;
    use hex_literal::hex;

    /// RFC 2865 §7.1: Access-Request from NAS 192.168.1.16 port 3, user "nemo",
    /// password "arctangent" hidden with secret "xyzzy5461".
    pub(crate) static ACCESS_REQUEST_PAP: [u8; 56] = hex!(
        "01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb"
        "98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d"
        "93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8"
        "01 10 05 06 00 00 00 03"
    );
    /// RFC 2865 §7.1: the Access-Accept (Service-Type Login, Login-Service Telnet,
    /// Login-IP-Host 192.168.1.3).
    pub(crate) static ACCESS_ACCEPT_PAP: [u8; 38] = hex!(
        "02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf"
        "9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00"
        "0e 06 c0 a8 01 03"
    );
    /// RFC 2865 §7.2: Access-Request with CHAP, user "flopsy", NAS port 20.
    pub(crate) static ACCESS_REQUEST_CHAP: [u8; 71] = hex!(
        "01 01 00 47 2a ee 86 f0 8d 0d 55 96 9c a5 97 8e"
        "0d 33 67 a2 01 08 66 6c 6f 70 73 79 03 13 16 e9"
        "75 57 c3 16 18 58 95 f2 93 ff 63 44 07 72 75 04"
        "06 c0 a8 01 10 05 06 00 00 00 14 06 06 00 00 00"
        "02 07 06 00 00 00 01"
    );
    /// RFC 2865 §7.2: the Access-Accept (Framed-User, PPP, 255.255.255.254,
    /// Framed-Routing 2, Framed-Compression VJ, Framed-MTU 1500).
    pub(crate) static ACCESS_ACCEPT_CHAP: [u8; 56] = hex!(
        "02 01 00 38 15 ef bc 7d ab 26 cf a3 dc 34 d9 c0"
        "3c 86 01 a4 06 06 00 00 00 02 07 06 00 00 00 01"
        "08 06 ff ff ff fe 0a 06 00 00 00 02 0d 06 00 00"
        "00 01 0c 06 00 00 05 dc"
    );

    const REQUEST_AUTHENTICATOR_PAP: [u8; 16] = hex!("0f403f94739780 57bd83d5cb98f4227a");

    const PAP_PASSWORD: [u8; 16] = hex!("0dbe708d93d413ce3196e43f782a0aee");
    const PAP_ATTRIBUTES: [AttributeRepr<'static>; 4] = [
        AttributeRepr {
            attribute_type: AttributeType::UserName,
            value: b"nemo",
        },
        AttributeRepr {
            attribute_type: AttributeType::UserPassword,
            value: &PAP_PASSWORD,
        },
        AttributeRepr {
            attribute_type: AttributeType::NasIpAddress,
            value: &[192, 168, 1, 16],
        },
        AttributeRepr {
            attribute_type: AttributeType::NasPort,
            value: &[0, 0, 0, 3],
        },
    ];

    fn pap_repr() -> Repr<'static> {
        Repr {
            code: Code::AccessRequest,
            identifier: 0,
            authenticator: REQUEST_AUTHENTICATOR_PAP,
            attributes: Attributes::List(&PAP_ATTRIBUTES),
        }
    }

    fn parse(bytes: &[u8]) -> Result<Repr<'_>> {
        Repr::parse(&Packet::new_checked(bytes)?)
    }

    #[test]
    fn deconstruct() {
        let packet = Packet::new_checked(&ACCESS_REQUEST_PAP[..]).unwrap();
        assert_eq!(packet.code(), Code::AccessRequest);
        assert_eq!(packet.identifier(), 0);
        assert_eq!(packet.length(), 56);
        assert_eq!(packet.authenticator(), &REQUEST_AUTHENTICATOR_PAP);
        assert_eq!(packet.attribute_data(), &ACCESS_REQUEST_PAP[20..]);
        let attrs: Vec<_> = packet.attributes().map(|a| a.unwrap()).collect();
        assert_eq!(attrs, PAP_ATTRIBUTES);
        assert_eq!(attrs[0].text(), Ok("nemo"));
        assert_eq!(attrs[2].address(), Ok(Ipv4Addr::new(192, 168, 1, 16)));
        assert_eq!(attrs[3].integer(), Ok(3));
        assert_eq!(packet.message_authenticator_range(), Ok(None));

        let packet = Packet::new_checked(&ACCESS_ACCEPT_CHAP[..]).unwrap();
        assert_eq!(packet.code(), Code::AccessAccept);
        assert_eq!(packet.identifier(), 1);
        assert_eq!(packet.length(), 56);
        let types: Vec<u8> = packet
            .attributes()
            .map(|a| a.unwrap().attribute_type.into())
            .collect();
        assert_eq!(types, [6, 7, 8, 10, 13, 12]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5u8; 56];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_code(Code::AccessRequest);
        packet.set_identifier(0);
        packet.set_length(56);
        packet.set_authenticator(&REQUEST_AUTHENTICATOR_PAP);
        let mut offset = 0;
        for a in &PAP_ATTRIBUTES {
            a.emit(&mut packet.attribute_data_mut()[offset..]).unwrap();
            offset += a.buffer_len();
        }
        assert_eq!(offset, 36);
        assert_eq!(bytes, ACCESS_REQUEST_PAP);
    }

    #[test]
    fn check_len() {
        // Shorter than the header.
        assert_eq!(
            Packet::new_checked(&ACCESS_REQUEST_PAP[..19]).unwrap_err(),
            Error::Truncated(Layer::Radius)
        );
        // Length below 20 and above 4096.
        let mut b = ACCESS_REQUEST_PAP;
        b[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::BadLength(Layer::Radius)
        );
        let mut big = vec![0u8; 5000];
        big[..56].copy_from_slice(&ACCESS_REQUEST_PAP);
        big[2..4].copy_from_slice(&4097u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&big[..]).unwrap_err(),
            Error::BadLength(Layer::Radius)
        );
        // Length past the buffer: truncated (RFC 2865 §3, silently discarded).
        b[2..4].copy_from_slice(&57u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&b[..]).unwrap_err(),
            Error::Truncated(Layer::Radius)
        );
        // Octets past Length are padding and ignored.
        let mut padded = ACCESS_REQUEST_PAP.to_vec();
        padded.extend_from_slice(&[0xff; 7]);
        let repr = parse(&padded).unwrap();
        assert_eq!(repr, pap_repr());
        assert_eq!(repr.attributes, Attributes::Wire(&ACCESS_REQUEST_PAP[20..]));
        // Exactly 20 octets: no attributes.
        let empty = hex!("05 07 00 14 00000000000000000000000000000000");
        let repr = parse(&empty).unwrap();
        assert_eq!(repr.code, Code::AccountingResponse);
        assert_eq!(repr.attributes.iter().count(), 0);
    }

    #[test]
    fn parse_rfc2865_examples() {
        assert_eq!(parse(&ACCESS_REQUEST_PAP).unwrap(), pap_repr());

        let accept = parse(&ACCESS_ACCEPT_PAP).unwrap();
        assert_eq!(accept.code, Code::AccessAccept);
        assert_eq!(accept.identifier, 0);
        assert_eq!(
            accept.authenticator,
            hex!("86fe220e7624ba2a1005f6bf9b55e0b2")
        );
        let expected = [
            attr(6, &[0, 0, 0, 1]),
            attr(15, &[0, 0, 0, 0]),
            attr(14, &[192, 168, 1, 3]),
        ];
        assert_eq!(accept.attributes, Attributes::List(&expected));

        let chap = parse(&ACCESS_REQUEST_CHAP).unwrap();
        assert_eq!(chap.identifier, 1);
        let chap_password = hex!("16 e975 57c3 1618 5895 f293 ff63 4407 7275");
        let expected = [
            attr(1, b"flopsy"),
            attr(3, &chap_password),
            attr(4, &[192, 168, 1, 16]),
            attr(5, &[0, 0, 0, 20]),
            attr(6, &[0, 0, 0, 2]),
            attr(7, &[0, 0, 0, 1]),
        ];
        assert_eq!(chap.attributes, Attributes::List(&expected));

        let accept = parse(&ACCESS_ACCEPT_CHAP).unwrap();
        let expected = [
            attr(6, &[0, 0, 0, 2]),
            attr(7, &[0, 0, 0, 1]),
            attr(8, &[255, 255, 255, 254]),
            attr(10, &[0, 0, 0, 2]),
            attr(13, &[0, 0, 0, 1]),
            attr(12, &[0, 0, 5, 0xdc]),
        ];
        assert_eq!(accept.attributes, Attributes::List(&expected));
    }

    #[test]
    fn emit() {
        let repr = pap_repr();
        let mut bytes = [0xa5u8; 56];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]))
            .unwrap();
        assert_eq!(bytes, ACCESS_REQUEST_PAP);

        // A parsed (wire) Repr re-emits byte for byte, padding dropped.
        for vector in [
            &ACCESS_REQUEST_PAP[..],
            &ACCESS_ACCEPT_PAP,
            &ACCESS_REQUEST_CHAP,
            &ACCESS_ACCEPT_CHAP,
        ] {
            let repr = parse(vector).unwrap();
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut out[..])).unwrap();
            assert_eq!(out, vector);
        }
    }

    #[test]
    fn buffer_len() {
        assert_eq!(pap_repr().buffer_len(), 56);
        assert_eq!(parse(&ACCESS_REQUEST_CHAP).unwrap().buffer_len(), 71);
        assert_eq!(PAP_ATTRIBUTES[1].buffer_len(), 18);
    }

    #[test]
    fn truncations() {
        for vector in [
            &ACCESS_REQUEST_PAP[..],
            &ACCESS_ACCEPT_PAP,
            &ACCESS_REQUEST_CHAP,
            &ACCESS_ACCEPT_CHAP,
        ] {
            assert_truncations_rejected(vector, |b| parse(b).map(drop));
        }
    }

    #[test]
    fn broken_chains() {
        // Attribute Length 0 and 1 are below the Type/Length header.
        for bad_len in [0u8, 1] {
            let mut b = ACCESS_REQUEST_PAP;
            b[21] = bad_len;
            assert_eq!(
                parse(&b).unwrap_err(),
                Error::BadLength(Layer::RadiusAttribute)
            );
        }
        // An attribute running past Length.
        let mut b = ACCESS_REQUEST_PAP;
        b[51] = 7;
        assert_eq!(
            parse(&b).unwrap_err(),
            Error::Truncated(Layer::RadiusAttribute)
        );
        // A lone Type octet at the end.
        let mut b = ACCESS_REQUEST_PAP.to_vec();
        b.push(1);
        b[3] = 57;
        assert_eq!(
            parse(&b).unwrap_err(),
            Error::Truncated(Layer::RadiusAttribute)
        );
        // An empty value (Length 2) is structurally fine.
        let b = hex!("01 07 00 16 00000000000000000000000000000000 01 02");
        let repr = parse(&b).unwrap();
        assert_eq!(repr.attributes, Attributes::List(&[attr(1, &[])]));
        // The iterator stops after its error.
        let mut iter = AttributeIter::new(&[1, 0, 1, 3, 0]);
        assert!(matches!(iter.next(), Some(Err(_))));
        assert!(iter.next().is_none());
    }

    #[test]
    fn message_authenticator_range() {
        // User-Name "bob", Message-Authenticator (zeroed), NAS-Port 1.
        let bytes = hex!(
            "01 2a 00 31 00112233445566778899aabbccddeeff"
            "01 05 62 6f 62"
            "50 12 00000000000000000000000000000000"
            "05 06 00000001"
        );
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.message_authenticator_range(), Ok(Some(27..43)));
        let repr = parse(&bytes).unwrap();
        assert_eq!(repr.message_authenticator_range(), Ok(Some(27..43)));
        // A Message-Authenticator of the wrong size.
        let bad = hex!("01 2a 00 17 00112233445566778899aabbccddeeff 50 03 00");
        let packet = Packet::new_checked(&bad[..]).unwrap();
        assert_eq!(
            packet.message_authenticator_range(),
            Err(Error::BadLength(Layer::RadiusAttribute))
        );
        // The same through the builder.
        let mut buf = [0u8; 64];
        let mut b = PacketBuilder::new(
            &mut buf,
            Code::AccessRequest,
            0x2a,
            &hex!("00112233445566778899aabbccddeeff"),
        )
        .unwrap();
        b.push(&Attribute::UserName(b"bob")).unwrap();
        b.push(&Attribute::MessageAuthenticator([0; 16])).unwrap();
        b.push(&Attribute::NasPort(1)).unwrap();
        assert_eq!(b.message_authenticator_range(), Some(27..43));
        assert_eq!(b.finish(), &bytes[..]);
    }

    #[test]
    fn value_ranges() {
        let packet = Packet::new_checked(&ACCESS_REQUEST_PAP[..]).unwrap();
        assert_eq!(
            packet.attribute_value_range(AttributeType::UserPassword),
            Ok(Some(28..44))
        );
        assert_eq!(&ACCESS_REQUEST_PAP[28..44], &PAP_PASSWORD);
        assert_eq!(
            packet.attribute_value_range(AttributeType::NasPort),
            Ok(Some(52..56))
        );
        assert_eq!(packet.attribute_value_range(AttributeType::State), Ok(None));
        // Mikrotik, then a Microsoft VSA with DNS then Send-Key (salt 8001, 16 octets).
        let bytes = hex!(
            "02 05 00 48 00000000000000000000000000000000"
            "1a 0c 00003a8c 08 06 31 4d 2f 31"
            "1a 20 00000137 1c 06 08080808 10 14 8001 55555555555555555555555555555555"
            "1a 08 00000137 01 01"
        );
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.vendor_value_range(311, 16), Ok(Some(46..64)));
        assert_eq!(bytes[46..48], [0x80, 0x01]);
        assert_eq!(packet.vendor_value_range(311, 28), Ok(Some(40..44)));
        assert_eq!(packet.vendor_value_range(14988, 8), Ok(Some(28..32)));
        assert_eq!(packet.vendor_value_range(311, 17), Ok(None));
        assert_eq!(packet.vendor_value_range(9, 1), Ok(None));
        // A broken chain is an error, not "absent".
        let mut broken = ACCESS_REQUEST_PAP;
        broken[21] = 1;
        let packet = Packet::new_checked(&broken[..]).unwrap();
        assert!(
            packet
                .attribute_value_range(AttributeType::NasPort)
                .is_err()
        );
        assert!(packet.vendor_value_range(311, 16).is_err());
    }

    #[test]
    fn builder_rfc2865_chap_accept() {
        let mut buf = [0u8; 4096];
        let mut b = PacketBuilder::new(
            &mut buf,
            Code::AccessAccept,
            1,
            &hex!("15efbc7dab26cfa3dc34d9c03c8601a4"),
        )
        .unwrap();
        b.push(&Attribute::ServiceType(ServiceType::Framed))
            .unwrap();
        b.push(&Attribute::FramedProtocol(FramedProtocol::Ppp))
            .unwrap();
        b.push(&Attribute::FramedIpAddress(Ipv4Addr::new(
            255, 255, 255, 254,
        )))
        .unwrap();
        // Framed-Routing and Framed-Compression are not typed.
        b.push_repr(&attr(10, &[0, 0, 0, 2])).unwrap();
        b.push(&Attribute::Other(attr(13, &[0, 0, 0, 1]))).unwrap();
        b.push(&Attribute::FramedMtu(1500)).unwrap();
        assert_eq!(b.len(), 56);
        assert_eq!(b.message_authenticator_range(), None);
        assert_eq!(b.finish(), &ACCESS_ACCEPT_CHAP[..]);
    }

    #[test]
    fn emit_limits() {
        let long = [b'x'; 254];
        // 253 octets is the longest value.
        let ok = attr(18, &long[..253]);
        let mut buf = [0u8; 255];
        ok.emit(&mut buf).unwrap();
        assert_eq!(buf[..2], [18, 255]);
        let too_long = attr(18, &long);
        assert_eq!(
            too_long.emit(&mut [0u8; 300]),
            Err(Error::Malformed(
                Layer::RadiusAttribute,
                "value longer than 253 octets"
            ))
        );
        let list = [too_long];
        let repr = Repr {
            attributes: Attributes::List(&list),
            ..pap_repr()
        };
        let mut out = vec![0u8; repr.buffer_len()];
        assert!(repr.emit(&mut Packet::new_unchecked(&mut out[..])).is_err());
        // 17 attributes of 255 octets make 4355 > 4096.
        let list = [ok; 17];
        let repr = Repr {
            attributes: Attributes::List(&list),
            ..pap_repr()
        };
        let mut out = vec![0u8; repr.buffer_len()];
        assert_eq!(
            repr.emit(&mut Packet::new_unchecked(&mut out[..])),
            Err(Error::Malformed(
                Layer::Radius,
                "packet longer than 4096 octets"
            ))
        );
        // The builder stops at 4096 octets too, and at its buffer's end.
        let mut big = [0u8; 5000];
        let mut b = PacketBuilder::new(&mut big, Code::AccessAccept, 0, &[0; 16]).unwrap();
        for _ in 0..15 {
            b.push_repr(&ok).unwrap();
        }
        assert_eq!(b.len(), 20 + 15 * 255);
        // 4100 octets would pass the limit; a failed push writes no Length change.
        assert!(b.push_repr(&ok).is_err());
        assert_eq!(b.finish().len(), 3845);
        let mut small = [0u8; 24];
        let mut b = PacketBuilder::new(&mut small, Code::AccessAccept, 0, &[0; 16]).unwrap();
        assert!(b.push(&Attribute::NasPort(1)).is_err());
        assert!(PacketBuilder::new(&mut [0u8; 19], Code::AccessAccept, 0, &[0; 16]).is_err());
    }

    #[test]
    fn codes() {
        for (code, value) in [
            (Code::AccessRequest, 1u8),
            (Code::AccessAccept, 2),
            (Code::AccessReject, 3),
            (Code::AccountingRequest, 4),
            (Code::AccountingResponse, 5),
            (Code::AccessChallenge, 11),
            (Code::StatusServer, 12),
            (Code::StatusClient, 13),
            (Code::DisconnectRequest, 40),
            (Code::DisconnectAck, 41),
            (Code::DisconnectNak, 42),
            (Code::CoaRequest, 43),
            (Code::CoaAck, 44),
            (Code::CoaNak, 45),
            (Code::Unknown(99), 99),
        ] {
            assert_eq!(Code::from(value), code);
            assert_eq!(u8::from(code), value);
        }
        assert_eq!(AttributeType::from(101), AttributeType::ErrorCause);
        assert_eq!(u8::from(AttributeType::MessageAuthenticator), 80);
        assert_eq!(AttributeType::from(200), AttributeType::Unknown(200));
    }
}

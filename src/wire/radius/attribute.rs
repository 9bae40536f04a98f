//! Typed RADIUS attributes: [`Attribute`] decodes an [`AttributeRepr`] whose type this
//! module knows (RFC 2865 §5, RFC 2866 §5, RFC 2868 §3, RFC 2869 §5, RFC 3162 §2,
//! RFC 5176 §3.5) and checks its size; `emit` is the mirror image.
//!
//! Decisions:
//! - Text attributes (User-Name, Reply-Message, Calling-Station-Id, ...) hold raw
//!   octets, not `&str`: RFC 2865 text is UTF-8, but NASes in the field send Latin-1
//!   station ids and connect info, and refusing those here would lose them. Use
//!   [`AttributeRepr::text`] where UTF-8 is required.
//! - Text and string values must not be empty (RFC 2865 §5: "Strings of length zero
//!   (0) MUST NOT be sent"); this is checked here, not in the chain parser.
//! - Size rules checked: integers, addresses and times are 4 octets; User-Password
//!   16..=128 octets in multiples of 16 (§5.2); CHAP-Password 17 (§5.3); CHAP-Challenge
//!   at least 5 (§5.40); Message-Authenticator 16 (RFC 2869 §5.14); NAS-IPv6-Address 16;
//!   Framed-IPv6-Prefix 2..=18 with Prefix-Length <= 128 (RFC 3162 §2.3; its Reserved
//!   octet is ignored on parse and written as zero). Value ranges (Framed-MTU 64..=65535)
//!   are policy and not checked.
//! - The same `validate` runs after `parse` and before `emit`, so whatever parses
//!   re-emits, and whatever emits re-parses to the same value.
//! - A Vendor-Specific attribute holding exactly one well-formed sub-attribute parses as
//!   [`Attribute::Vendor`] (typed where [`VendorAttribute`] knows it); any other
//!   Vendor-Specific parses as [`Attribute::VendorSpecific`], whose sub-attributes the
//!   caller can walk. A lone known sub-attribute that breaks its own size rule makes
//!   `parse` fail, like any other typed attribute; the raw [`AttributeRepr`] remains.
//! - Tunnel attributes carry the RFC 2868 Tag: always present (0 = none) before the
//!   3-octet Tunnel-Type / Tunnel-Medium-Type value; present in the endpoints only when
//!   the first octet is 0x00..=0x1F (RFC 2868 §3.3).

use core::net::{Ipv4Addr, Ipv6Addr};

use super::vendor::{VendorAttribute, VendorAttributeIter, VendorSpecificRepr};
use super::{AttributeRepr, AttributeType, Error, Layer, Result, emit_tlv};

open_enum! {
    /// Service-Type values (RFC 2865 §5.6).
    pub enum ServiceType: u32 {
        Login = 1,
        Framed = 2,
        CallbackLogin = 3,
        CallbackFramed = 4,
        Outbound = 5,
        Administrative = 6,
        NasPrompt = 7,
        AuthenticateOnly = 8,
        CallbackNasPrompt = 9,
        CallCheck = 10,
        CallbackAdministrative = 11,
    }
}

open_enum! {
    /// Framed-Protocol values (RFC 2865 §5.7).
    pub enum FramedProtocol: u32 {
        Ppp = 1,
        Slip = 2,
        Arap = 3,
        Gandalf = 4,
        XylogicsIpxSlip = 5,
        X75Synchronous = 6,
    }
}

open_enum! {
    /// Termination-Action values (RFC 2865 §5.29).
    pub enum TerminationAction: u32 {
        Default = 0,
        RadiusRequest = 1,
    }
}

open_enum! {
    /// NAS-Port-Type values (RFC 2865 §5.41).
    pub enum NasPortType: u32 {
        Async = 0,
        Sync = 1,
        IsdnSync = 2,
        IsdnAsyncV120 = 3,
        IsdnAsyncV110 = 4,
        Virtual = 5,
        Piafs = 6,
        HdlcClearChannel = 7,
        X25 = 8,
        X75 = 9,
        G3Fax = 10,
        Sdsl = 11,
        AdslCap = 12,
        AdslDmt = 13,
        Idsl = 14,
        Ethernet = 15,
        Xdsl = 16,
        Cable = 17,
        WirelessOther = 18,
        Wireless80211 = 19,
    }
}

open_enum! {
    /// Acct-Status-Type values (RFC 2866 §5.1).
    pub enum AcctStatusType: u32 {
        Start = 1,
        Stop = 2,
        InterimUpdate = 3,
        AccountingOn = 7,
        AccountingOff = 8,
    }
}

open_enum! {
    /// Acct-Authentic values (RFC 2866 §5.6).
    pub enum AcctAuthentic: u32 {
        Radius = 1,
        Local = 2,
        Remote = 3,
    }
}

open_enum! {
    /// Acct-Terminate-Cause values: 1..=18 from RFC 2866 §5.10, 19..=22 added by
    /// RFC 3580 §3.32 (IEEE 802.1X).
    pub enum AcctTerminateCause: u32 {
        UserRequest = 1,
        LostCarrier = 2,
        LostService = 3,
        IdleTimeout = 4,
        SessionTimeout = 5,
        AdminReset = 6,
        AdminReboot = 7,
        PortError = 8,
        NasError = 9,
        NasRequest = 10,
        NasReboot = 11,
        PortUnneeded = 12,
        PortPreempted = 13,
        PortSuspended = 14,
        ServiceUnavailable = 15,
        Callback = 16,
        UserError = 17,
        HostRequest = 18,
        SupplicantRestart = 19,
        ReauthenticationFailure = 20,
        PortReinitialized = 21,
        PortAdministrativelyDisabled = 22,
    }
}

open_enum! {
    /// Tunnel-Type values (RFC 2868 §3.1), a 3-octet field after the Tag.
    pub enum TunnelType: u32 {
        Pptp = 1,
        L2f = 2,
        L2tp = 3,
        Atmp = 4,
        Vtp = 5,
        Ah = 6,
        IpIp = 7,
        MinIpIp = 8,
        Esp = 9,
        Gre = 10,
        Dvs = 11,
        IpInIp = 12,
    }
}

open_enum! {
    /// Tunnel-Medium-Type values (RFC 2868 §3.2; address families, RFC 1700).
    pub enum TunnelMediumType: u32 {
        Ipv4 = 1,
        Ipv6 = 2,
        Nsap = 3,
        Hdlc = 4,
        Bbn1822 = 5,
        Ieee802 = 6,
        E163 = 7,
        E164 = 8,
        F69 = 9,
        X121 = 10,
        Ipx = 11,
        Appletalk = 12,
        DecnetIv = 13,
        BanyanVines = 14,
        E164Nsap = 15,
    }
}

open_enum! {
    /// Error-Cause values (RFC 5176 §3.5).
    pub enum ErrorCause: u32 {
        ResidualSessionContextRemoved = 201,
        InvalidEapPacket = 202,
        UnsupportedAttribute = 401,
        MissingAttribute = 402,
        NasIdentificationMismatch = 403,
        InvalidRequest = 404,
        UnsupportedService = 405,
        UnsupportedExtension = 406,
        InvalidAttributeValue = 407,
        AdministrativelyProhibited = 501,
        RequestNotRoutable = 502,
        SessionContextNotFound = 503,
        SessionContextNotRemovable = 504,
        OtherProxyProcessingError = 505,
        ResourcesUnavailable = 506,
        RequestInitiated = 507,
        MultipleSessionSelectionUnsupported = 508,
    }
}

/// CHAP-Password value: CHAP Ident and the 16-octet response (RFC 2865 §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChapPassword {
    pub ident: u8,
    pub response: [u8; 16],
}

/// Framed-IPv6-Prefix value (RFC 3162 §2.3): Prefix-Length and up to 16 prefix octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Prefix<'a> {
    pub prefix_length: u8,
    pub prefix: &'a [u8],
}

impl Ipv6Prefix<'_> {
    /// The prefix as an address, zero-filled past the octets present.
    pub fn address(&self) -> Ipv6Addr {
        let mut octets = [0u8; 16];
        let n = self.prefix.len().min(16);
        octets[..n].copy_from_slice(&self.prefix[..n]);
        Ipv6Addr::from(octets)
    }
}

/// Largest Prefix-Length of a Framed-IPv6-Prefix (RFC 3162 §2.3).
pub const MAX_IPV6_PREFIX_LENGTH: u8 = 128;
/// Highest Tag value of the tunnel attributes (RFC 2868 §3).
pub const MAX_TUNNEL_TAG: u8 = 0x1f;
/// User-Password value bounds (RFC 2865 §5.2).
pub const USER_PASSWORD_MIN_LEN: usize = 16;
pub const USER_PASSWORD_MAX_LEN: usize = 128;
pub const USER_PASSWORD_BLOCK: usize = 16;
/// Smallest CHAP-Challenge value (RFC 2865 §5.40: Length >= 7).
pub const CHAP_CHALLENGE_MIN_LEN: usize = 5;

/// A typed attribute. Octet-string variants borrow the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attribute<'a> {
    UserName(&'a [u8]),
    /// The hidden password (RFC 2865 §5.2), as on the wire.
    UserPassword(&'a [u8]),
    ChapPassword(ChapPassword),
    NasIpAddress(Ipv4Addr),
    NasPort(u32),
    ServiceType(ServiceType),
    FramedProtocol(FramedProtocol),
    FramedIpAddress(Ipv4Addr),
    FramedIpNetmask(Ipv4Addr),
    FilterId(&'a [u8]),
    FramedMtu(u32),
    ReplyMessage(&'a [u8]),
    State(&'a [u8]),
    Class(&'a [u8]),
    /// A Vendor-Specific attribute kept raw (several sub-attributes, or a vendor
    /// format that is not Type-Length-Value).
    VendorSpecific(VendorSpecificRepr<'a>),
    /// A Vendor-Specific attribute holding exactly one sub-attribute.
    Vendor(VendorAttribute<'a>),
    SessionTimeout(u32),
    IdleTimeout(u32),
    TerminationAction(TerminationAction),
    CalledStationId(&'a [u8]),
    CallingStationId(&'a [u8]),
    NasIdentifier(&'a [u8]),
    ProxyState(&'a [u8]),
    AcctStatusType(AcctStatusType),
    AcctDelayTime(u32),
    AcctInputOctets(u32),
    AcctOutputOctets(u32),
    AcctSessionId(&'a [u8]),
    AcctAuthentic(AcctAuthentic),
    AcctSessionTime(u32),
    AcctInputPackets(u32),
    AcctOutputPackets(u32),
    AcctTerminateCause(AcctTerminateCause),
    AcctMultiSessionId(&'a [u8]),
    AcctInputGigawords(u32),
    AcctOutputGigawords(u32),
    /// Seconds since 1970-01-01 UTC (RFC 2869 §5.3).
    EventTimestamp(u32),
    ChapChallenge(&'a [u8]),
    NasPortType(NasPortType),
    PortLimit(u32),
    TunnelType {
        tag: u8,
        value: TunnelType,
    },
    TunnelMediumType {
        tag: u8,
        value: TunnelMediumType,
    },
    TunnelClientEndpoint {
        tag: Option<u8>,
        endpoint: &'a [u8],
    },
    TunnelServerEndpoint {
        tag: Option<u8>,
        endpoint: &'a [u8],
    },
    ConnectInfo(&'a [u8]),
    MessageAuthenticator([u8; 16]),
    AcctInterimInterval(u32),
    NasPortId(&'a [u8]),
    FramedPool(&'a [u8]),
    NasIpv6Address(Ipv6Addr),
    FramedIpv6Prefix(Ipv6Prefix<'a>),
    ErrorCause(ErrorCause),
    /// Any attribute type not typed above, raw.
    Other(AttributeRepr<'a>),
}

/// Capacity of the fixed part of an encoded value: a Vendor-Specific header (6) plus
/// the largest fixed sub-attribute value (MS-CHAP2-Response, 50).
const HEAD_CAPACITY: usize = 64;

/// The fixed, computed part of an encoded value; the borrowed rest follows it.
#[derive(Clone, Copy)]
pub(crate) struct Head {
    buf: [u8; HEAD_CAPACITY],
    len: usize,
}

impl Head {
    pub(crate) const fn new() -> Self {
        Head {
            buf: [0; HEAD_CAPACITY],
            len: 0,
        }
    }

    pub(crate) fn of(bytes: &[u8]) -> Self {
        let mut head = Head::new();
        head.push(bytes);
        head
    }

    /// Appends; every caller pushes a bounded, compile-time-sized field.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// A non-empty value (RFC 2865 §5 text and string).
pub(crate) fn nonempty(value: &[u8]) -> Result<&[u8]> {
    if value.is_empty() {
        Err(Error::BadLength(Layer::RadiusAttribute))
    } else {
        Ok(value)
    }
}

/// A value of exactly `N` octets.
pub(crate) fn fixed<const N: usize>(value: &[u8]) -> Result<[u8; N]> {
    <[u8; N]>::try_from(value).map_err(|_| Error::BadLength(Layer::RadiusAttribute))
}

pub(crate) fn integer(value: &[u8]) -> Result<u32> {
    Ok(u32::from_be_bytes(fixed::<4>(value)?))
}

pub(crate) fn address(value: &[u8]) -> Result<Ipv4Addr> {
    Ok(Ipv4Addr::from(fixed::<4>(value)?))
}

/// Tag and 3-octet value of Tunnel-Type / Tunnel-Medium-Type (RFC 2868 §3.1, §3.2).
fn tagged_integer(value: &[u8]) -> Result<(u8, u32)> {
    let [tag, a, b, c] = fixed::<4>(value)?;
    Ok((tag, u32::from_be_bytes([0, a, b, c])))
}

/// Optional tag and string of the tunnel endpoints (RFC 2868 §3.3, §3.4).
fn tagged_string(value: &[u8]) -> (Option<u8>, &[u8]) {
    match value.split_first() {
        Some((&tag, rest)) if tag <= MAX_TUNNEL_TAG => (Some(tag), rest),
        _ => (None, value),
    }
}

fn validate_endpoint(tag: Option<u8>, endpoint: &[u8]) -> Result<()> {
    match (tag, endpoint.first()) {
        (_, None) => Err(Error::BadLength(Layer::RadiusAttribute)),
        (Some(tag), _) if tag > MAX_TUNNEL_TAG => Err(Error::Malformed(
            Layer::RadiusAttribute,
            "tunnel tag above 0x1f",
        )),
        // Untagged, the first octet must not read as a tag.
        (None, Some(&first)) if first <= MAX_TUNNEL_TAG => Err(Error::Malformed(
            Layer::RadiusAttribute,
            "untagged tunnel endpoint starts with a tag octet",
        )),
        _ => Ok(()),
    }
}

impl<'a> Attribute<'a> {
    /// Decodes a raw attribute and checks its size rules.
    pub fn parse(repr: &AttributeRepr<'a>) -> Result<Attribute<'a>> {
        let attr = Self::decode(repr)?;
        attr.validate()?;
        Ok(attr)
    }

    fn decode(repr: &AttributeRepr<'a>) -> Result<Attribute<'a>> {
        use AttributeType as T;
        let v = repr.value;
        Ok(match repr.attribute_type {
            T::UserName => Attribute::UserName(v),
            T::UserPassword => Attribute::UserPassword(v),
            T::ChapPassword => {
                let [ident, response @ ..] = fixed::<17>(v)?;
                Attribute::ChapPassword(ChapPassword { ident, response })
            }
            T::NasIpAddress => Attribute::NasIpAddress(address(v)?),
            T::NasPort => Attribute::NasPort(integer(v)?),
            T::ServiceType => Attribute::ServiceType(integer(v)?.into()),
            T::FramedProtocol => Attribute::FramedProtocol(integer(v)?.into()),
            T::FramedIpAddress => Attribute::FramedIpAddress(address(v)?),
            T::FramedIpNetmask => Attribute::FramedIpNetmask(address(v)?),
            T::FilterId => Attribute::FilterId(v),
            T::FramedMtu => Attribute::FramedMtu(integer(v)?),
            T::ReplyMessage => Attribute::ReplyMessage(v),
            T::State => Attribute::State(v),
            T::Class => Attribute::Class(v),
            T::VendorSpecific => {
                let vsa = VendorSpecificRepr::parse(v)?;
                let mut subs = VendorAttributeIter::new(vsa.data);
                match (subs.next(), subs.next()) {
                    (Some(Ok(sub)), None) => {
                        Attribute::Vendor(VendorAttribute::parse(vsa.vendor_id, &sub)?)
                    }
                    _ => Attribute::VendorSpecific(vsa),
                }
            }
            T::SessionTimeout => Attribute::SessionTimeout(integer(v)?),
            T::IdleTimeout => Attribute::IdleTimeout(integer(v)?),
            T::TerminationAction => Attribute::TerminationAction(integer(v)?.into()),
            T::CalledStationId => Attribute::CalledStationId(v),
            T::CallingStationId => Attribute::CallingStationId(v),
            T::NasIdentifier => Attribute::NasIdentifier(v),
            T::ProxyState => Attribute::ProxyState(v),
            T::AcctStatusType => Attribute::AcctStatusType(integer(v)?.into()),
            T::AcctDelayTime => Attribute::AcctDelayTime(integer(v)?),
            T::AcctInputOctets => Attribute::AcctInputOctets(integer(v)?),
            T::AcctOutputOctets => Attribute::AcctOutputOctets(integer(v)?),
            T::AcctSessionId => Attribute::AcctSessionId(v),
            T::AcctAuthentic => Attribute::AcctAuthentic(integer(v)?.into()),
            T::AcctSessionTime => Attribute::AcctSessionTime(integer(v)?),
            T::AcctInputPackets => Attribute::AcctInputPackets(integer(v)?),
            T::AcctOutputPackets => Attribute::AcctOutputPackets(integer(v)?),
            T::AcctTerminateCause => Attribute::AcctTerminateCause(integer(v)?.into()),
            T::AcctMultiSessionId => Attribute::AcctMultiSessionId(v),
            T::AcctInputGigawords => Attribute::AcctInputGigawords(integer(v)?),
            T::AcctOutputGigawords => Attribute::AcctOutputGigawords(integer(v)?),
            T::EventTimestamp => Attribute::EventTimestamp(integer(v)?),
            T::ChapChallenge => Attribute::ChapChallenge(v),
            T::NasPortType => Attribute::NasPortType(integer(v)?.into()),
            T::PortLimit => Attribute::PortLimit(integer(v)?),
            T::TunnelType => {
                let (tag, value) = tagged_integer(v)?;
                Attribute::TunnelType {
                    tag,
                    value: value.into(),
                }
            }
            T::TunnelMediumType => {
                let (tag, value) = tagged_integer(v)?;
                Attribute::TunnelMediumType {
                    tag,
                    value: value.into(),
                }
            }
            T::TunnelClientEndpoint => {
                let (tag, endpoint) = tagged_string(v);
                Attribute::TunnelClientEndpoint { tag, endpoint }
            }
            T::TunnelServerEndpoint => {
                let (tag, endpoint) = tagged_string(v);
                Attribute::TunnelServerEndpoint { tag, endpoint }
            }
            T::ConnectInfo => Attribute::ConnectInfo(v),
            T::MessageAuthenticator => Attribute::MessageAuthenticator(fixed::<16>(v)?),
            T::AcctInterimInterval => Attribute::AcctInterimInterval(integer(v)?),
            T::NasPortId => Attribute::NasPortId(v),
            T::FramedPool => Attribute::FramedPool(v),
            T::NasIpv6Address => Attribute::NasIpv6Address(Ipv6Addr::from(fixed::<16>(v)?)),
            T::FramedIpv6Prefix => {
                // Reserved (ignored), Prefix-Length, Prefix.
                let [_reserved, prefix_length, prefix @ ..] = v else {
                    return Err(Error::BadLength(Layer::RadiusAttribute));
                };
                Attribute::FramedIpv6Prefix(Ipv6Prefix {
                    prefix_length: *prefix_length,
                    prefix,
                })
            }
            T::ErrorCause => Attribute::ErrorCause(integer(v)?.into()),
            T::Unknown(_) => Attribute::Other(*repr),
        })
    }

    /// The rules on borrowed contents and on encodable ranges, checked after `parse`
    /// and before `emit`.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Attribute::UserName(v)
            | Attribute::FilterId(v)
            | Attribute::ReplyMessage(v)
            | Attribute::State(v)
            | Attribute::Class(v)
            | Attribute::CalledStationId(v)
            | Attribute::CallingStationId(v)
            | Attribute::NasIdentifier(v)
            | Attribute::ProxyState(v)
            | Attribute::AcctSessionId(v)
            | Attribute::AcctMultiSessionId(v)
            | Attribute::ConnectInfo(v)
            | Attribute::NasPortId(v)
            | Attribute::FramedPool(v) => nonempty(v).map(drop),
            Attribute::UserPassword(v) => {
                let ok = (USER_PASSWORD_MIN_LEN..=USER_PASSWORD_MAX_LEN).contains(&v.len())
                    && v.len().is_multiple_of(USER_PASSWORD_BLOCK);
                if ok {
                    Ok(())
                } else {
                    Err(Error::BadLength(Layer::RadiusAttribute))
                }
            }
            Attribute::ChapChallenge(v) => {
                if v.len() < CHAP_CHALLENGE_MIN_LEN {
                    Err(Error::BadLength(Layer::RadiusAttribute))
                } else {
                    Ok(())
                }
            }
            Attribute::VendorSpecific(vsa) => vsa.validate(),
            Attribute::Vendor(v) => v.validate(),
            Attribute::TunnelType { value, .. } => three_octets(value.into()),
            Attribute::TunnelMediumType { value, .. } => three_octets(value.into()),
            Attribute::TunnelClientEndpoint { tag, endpoint }
            | Attribute::TunnelServerEndpoint { tag, endpoint } => validate_endpoint(tag, endpoint),
            Attribute::FramedIpv6Prefix(p) => {
                if p.prefix_length > MAX_IPV6_PREFIX_LENGTH || p.prefix.len() > 16 {
                    Err(Error::Malformed(
                        Layer::RadiusAttribute,
                        "IPv6 prefix too long",
                    ))
                } else {
                    Ok(())
                }
            }
            Attribute::Other(_) => Ok(()),
            Attribute::ChapPassword(_)
            | Attribute::NasIpAddress(_)
            | Attribute::NasPort(_)
            | Attribute::ServiceType(_)
            | Attribute::FramedProtocol(_)
            | Attribute::FramedIpAddress(_)
            | Attribute::FramedIpNetmask(_)
            | Attribute::FramedMtu(_)
            | Attribute::SessionTimeout(_)
            | Attribute::IdleTimeout(_)
            | Attribute::TerminationAction(_)
            | Attribute::AcctStatusType(_)
            | Attribute::AcctDelayTime(_)
            | Attribute::AcctInputOctets(_)
            | Attribute::AcctOutputOctets(_)
            | Attribute::AcctAuthentic(_)
            | Attribute::AcctSessionTime(_)
            | Attribute::AcctInputPackets(_)
            | Attribute::AcctOutputPackets(_)
            | Attribute::AcctTerminateCause(_)
            | Attribute::AcctInputGigawords(_)
            | Attribute::AcctOutputGigawords(_)
            | Attribute::EventTimestamp(_)
            | Attribute::NasPortType(_)
            | Attribute::PortLimit(_)
            | Attribute::MessageAuthenticator(_)
            | Attribute::AcctInterimInterval(_)
            | Attribute::NasIpv6Address(_)
            | Attribute::ErrorCause(_) => Ok(()),
        }
    }

    /// The attribute's Type.
    pub fn attribute_type(&self) -> AttributeType {
        use AttributeType as T;
        match self {
            Attribute::UserName(_) => T::UserName,
            Attribute::UserPassword(_) => T::UserPassword,
            Attribute::ChapPassword(_) => T::ChapPassword,
            Attribute::NasIpAddress(_) => T::NasIpAddress,
            Attribute::NasPort(_) => T::NasPort,
            Attribute::ServiceType(_) => T::ServiceType,
            Attribute::FramedProtocol(_) => T::FramedProtocol,
            Attribute::FramedIpAddress(_) => T::FramedIpAddress,
            Attribute::FramedIpNetmask(_) => T::FramedIpNetmask,
            Attribute::FilterId(_) => T::FilterId,
            Attribute::FramedMtu(_) => T::FramedMtu,
            Attribute::ReplyMessage(_) => T::ReplyMessage,
            Attribute::State(_) => T::State,
            Attribute::Class(_) => T::Class,
            Attribute::VendorSpecific(_) | Attribute::Vendor(_) => T::VendorSpecific,
            Attribute::SessionTimeout(_) => T::SessionTimeout,
            Attribute::IdleTimeout(_) => T::IdleTimeout,
            Attribute::TerminationAction(_) => T::TerminationAction,
            Attribute::CalledStationId(_) => T::CalledStationId,
            Attribute::CallingStationId(_) => T::CallingStationId,
            Attribute::NasIdentifier(_) => T::NasIdentifier,
            Attribute::ProxyState(_) => T::ProxyState,
            Attribute::AcctStatusType(_) => T::AcctStatusType,
            Attribute::AcctDelayTime(_) => T::AcctDelayTime,
            Attribute::AcctInputOctets(_) => T::AcctInputOctets,
            Attribute::AcctOutputOctets(_) => T::AcctOutputOctets,
            Attribute::AcctSessionId(_) => T::AcctSessionId,
            Attribute::AcctAuthentic(_) => T::AcctAuthentic,
            Attribute::AcctSessionTime(_) => T::AcctSessionTime,
            Attribute::AcctInputPackets(_) => T::AcctInputPackets,
            Attribute::AcctOutputPackets(_) => T::AcctOutputPackets,
            Attribute::AcctTerminateCause(_) => T::AcctTerminateCause,
            Attribute::AcctMultiSessionId(_) => T::AcctMultiSessionId,
            Attribute::AcctInputGigawords(_) => T::AcctInputGigawords,
            Attribute::AcctOutputGigawords(_) => T::AcctOutputGigawords,
            Attribute::EventTimestamp(_) => T::EventTimestamp,
            Attribute::ChapChallenge(_) => T::ChapChallenge,
            Attribute::NasPortType(_) => T::NasPortType,
            Attribute::PortLimit(_) => T::PortLimit,
            Attribute::TunnelType { .. } => T::TunnelType,
            Attribute::TunnelMediumType { .. } => T::TunnelMediumType,
            Attribute::TunnelClientEndpoint { .. } => T::TunnelClientEndpoint,
            Attribute::TunnelServerEndpoint { .. } => T::TunnelServerEndpoint,
            Attribute::ConnectInfo(_) => T::ConnectInfo,
            Attribute::MessageAuthenticator(_) => T::MessageAuthenticator,
            Attribute::AcctInterimInterval(_) => T::AcctInterimInterval,
            Attribute::NasPortId(_) => T::NasPortId,
            Attribute::FramedPool(_) => T::FramedPool,
            Attribute::NasIpv6Address(_) => T::NasIpv6Address,
            Attribute::FramedIpv6Prefix(_) => T::FramedIpv6Prefix,
            Attribute::ErrorCause(_) => T::ErrorCause,
            Attribute::Other(repr) => repr.attribute_type,
        }
    }

    /// The encoded value as a computed head and a borrowed tail.
    fn encode(&self) -> (Head, &'a [u8]) {
        let int = |x: u32| Head::of(&x.to_be_bytes());
        let addr = |a: Ipv4Addr| Head::of(&a.octets());
        let tagged = |tag: u8, x: u32| {
            let b = x.to_be_bytes();
            Head::of(&[tag, b[1], b[2], b[3]])
        };
        let endpoint = |tag: Option<u8>| match tag {
            Some(t) => Head::of(&[t]),
            None => Head::new(),
        };
        let none = Head::new();
        match *self {
            Attribute::UserName(v)
            | Attribute::UserPassword(v)
            | Attribute::FilterId(v)
            | Attribute::ReplyMessage(v)
            | Attribute::State(v)
            | Attribute::Class(v)
            | Attribute::CalledStationId(v)
            | Attribute::CallingStationId(v)
            | Attribute::NasIdentifier(v)
            | Attribute::ProxyState(v)
            | Attribute::AcctSessionId(v)
            | Attribute::AcctMultiSessionId(v)
            | Attribute::ChapChallenge(v)
            | Attribute::ConnectInfo(v)
            | Attribute::NasPortId(v)
            | Attribute::FramedPool(v) => (none, v),
            Attribute::ChapPassword(c) => {
                let mut h = Head::of(&[c.ident]);
                h.push(&c.response);
                (h, &[])
            }
            Attribute::NasIpAddress(a)
            | Attribute::FramedIpAddress(a)
            | Attribute::FramedIpNetmask(a) => (addr(a), &[]),
            Attribute::NasPort(x)
            | Attribute::FramedMtu(x)
            | Attribute::SessionTimeout(x)
            | Attribute::IdleTimeout(x)
            | Attribute::AcctDelayTime(x)
            | Attribute::AcctInputOctets(x)
            | Attribute::AcctOutputOctets(x)
            | Attribute::AcctSessionTime(x)
            | Attribute::AcctInputPackets(x)
            | Attribute::AcctOutputPackets(x)
            | Attribute::AcctInputGigawords(x)
            | Attribute::AcctOutputGigawords(x)
            | Attribute::EventTimestamp(x)
            | Attribute::PortLimit(x)
            | Attribute::AcctInterimInterval(x) => (int(x), &[]),
            Attribute::ServiceType(e) => (int(e.into()), &[]),
            Attribute::FramedProtocol(e) => (int(e.into()), &[]),
            Attribute::TerminationAction(e) => (int(e.into()), &[]),
            Attribute::AcctStatusType(e) => (int(e.into()), &[]),
            Attribute::AcctAuthentic(e) => (int(e.into()), &[]),
            Attribute::AcctTerminateCause(e) => (int(e.into()), &[]),
            Attribute::NasPortType(e) => (int(e.into()), &[]),
            Attribute::ErrorCause(e) => (int(e.into()), &[]),
            Attribute::TunnelType { tag, value } => (tagged(tag, value.into()), &[]),
            Attribute::TunnelMediumType { tag, value } => (tagged(tag, value.into()), &[]),
            Attribute::TunnelClientEndpoint { tag, endpoint: e }
            | Attribute::TunnelServerEndpoint { tag, endpoint: e } => (endpoint(tag), e),
            Attribute::MessageAuthenticator(m) => (Head::of(&m), &[]),
            Attribute::NasIpv6Address(a) => (Head::of(&a.octets()), &[]),
            Attribute::FramedIpv6Prefix(p) => (Head::of(&[0, p.prefix_length]), p.prefix),
            Attribute::VendorSpecific(vsa) => (Head::of(&vsa.vendor_id.to_be_bytes()), vsa.data),
            Attribute::Vendor(v) => v.encode(),
            Attribute::Other(repr) => (none, repr.value),
        }
    }

    /// Value octets.
    pub fn value_len(&self) -> usize {
        let (head, tail) = self.encode();
        head.as_slice().len() + tail.len()
    }

    /// Type, Length and Value octets.
    pub fn buffer_len(&self) -> usize {
        super::ATTRIBUTE_HEADER_LEN + self.value_len()
    }

    /// Writes the attribute at the start of `buffer` and returns its length. Fails if
    /// the value breaks a size rule, is longer than 253 octets, or does not fit.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize> {
        self.validate()?;
        let (head, tail) = self.encode();
        emit_tlv(buffer, self.attribute_type().into(), head.as_slice(), tail)?;
        Ok(self.buffer_len())
    }
}

/// Tunnel-Type and Tunnel-Medium-Type values are 3 octets (RFC 2868 §3.1).
fn three_octets(value: u32) -> Result<()> {
    if value > 0x00ff_ffff {
        Err(Error::Malformed(
            Layer::RadiusAttribute,
            "tunnel value above 24 bits",
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::{attr, typed_round_trip};
    use super::*;
    use crate::wire::test_util::{assert_truncations_do_not_panic, assert_truncations_rejected};
    use hex_literal::hex;

    /// Every typed attribute beside its encoding, written out by hand from the RFCs.
    fn table() -> Vec<(Attribute<'static>, Vec<u8>)> {
        let v = |b: &[u8]| b.to_vec();
        vec![
            (Attribute::UserName(b"nemo"), v(&hex!("01 06 6e656d6f"))),
            (
                Attribute::UserPassword(&hex!("0dbe708d93d413ce3196e43f782a0aee")),
                v(&hex!("02 12 0dbe708d93d413ce3196e43f782a0aee")),
            ),
            (
                Attribute::ChapPassword(ChapPassword {
                    ident: 0x16,
                    response: hex!("e97557c316185895f293ff6344077275"),
                }),
                v(&hex!("03 13 16 e97557c316185895f293ff6344077275")),
            ),
            (
                Attribute::NasIpAddress(Ipv4Addr::new(192, 168, 1, 16)),
                v(&hex!("04 06 c0a80110")),
            ),
            (Attribute::NasPort(20), v(&hex!("05 06 00000014"))),
            (
                Attribute::ServiceType(ServiceType::Framed),
                v(&hex!("06 06 00000002")),
            ),
            (
                Attribute::FramedProtocol(FramedProtocol::Ppp),
                v(&hex!("07 06 00000001")),
            ),
            (
                Attribute::FramedIpAddress(Ipv4Addr::new(10, 1, 2, 3)),
                v(&hex!("08 06 0a010203")),
            ),
            (
                Attribute::FramedIpNetmask(Ipv4Addr::new(255, 255, 255, 255)),
                v(&hex!("09 06 ffffffff")),
            ),
            (
                Attribute::FilterId(b"std.ppp"),
                v(&hex!("0b 09 7374642e707070")),
            ),
            (Attribute::FramedMtu(1500), v(&hex!("0c 06 000005dc"))),
            (Attribute::ReplyMessage(b"hi"), v(&hex!("12 04 6869"))),
            (Attribute::State(&[0]), v(&hex!("18 03 00"))),
            (Attribute::Class(b"c1"), v(&hex!("19 04 6331"))),
            (
                Attribute::VendorSpecific(VendorSpecificRepr {
                    vendor_id: 9,
                    data: b"junk",
                }),
                v(&hex!("1a 0a 00000009 6a756e6b")),
            ),
            (Attribute::SessionTimeout(3600), v(&hex!("1b 06 00000e10"))),
            (Attribute::IdleTimeout(600), v(&hex!("1c 06 00000258"))),
            (
                Attribute::TerminationAction(TerminationAction::RadiusRequest),
                v(&hex!("1d 06 00000001")),
            ),
            (Attribute::CalledStationId(b"1"), v(&hex!("1e 03 31"))),
            (
                Attribute::CallingStationId(b"10.0.0.1"),
                v(&hex!("1f 0a 31302e302e302e31")),
            ),
            (Attribute::NasIdentifier(b"lns"), v(&hex!("20 05 6c6e73"))),
            (Attribute::ProxyState(&[1, 2]), v(&hex!("21 04 0102"))),
            (
                Attribute::AcctStatusType(AcctStatusType::InterimUpdate),
                v(&hex!("28 06 00000003")),
            ),
            (Attribute::AcctDelayTime(0), v(&hex!("29 06 00000000"))),
            (
                Attribute::AcctInputOctets(0x01020304),
                v(&hex!("2a 06 01020304")),
            ),
            (Attribute::AcctOutputOctets(7), v(&hex!("2b 06 00000007"))),
            (
                Attribute::AcctSessionId(b"0001"),
                v(&hex!("2c 06 30303031")),
            ),
            (
                Attribute::AcctAuthentic(AcctAuthentic::Radius),
                v(&hex!("2d 06 00000001")),
            ),
            (Attribute::AcctSessionTime(60), v(&hex!("2e 06 0000003c"))),
            (Attribute::AcctInputPackets(1), v(&hex!("2f 06 00000001"))),
            (Attribute::AcctOutputPackets(2), v(&hex!("30 06 00000002"))),
            (
                Attribute::AcctTerminateCause(AcctTerminateCause::PortAdministrativelyDisabled),
                v(&hex!("31 06 00000016")),
            ),
            (Attribute::AcctMultiSessionId(b"m"), v(&hex!("32 03 6d"))),
            (Attribute::AcctInputGigawords(1), v(&hex!("34 06 00000001"))),
            (
                Attribute::AcctOutputGigawords(2),
                v(&hex!("35 06 00000002")),
            ),
            (
                Attribute::EventTimestamp(0x5f5e1000),
                v(&hex!("37 06 5f5e1000")),
            ),
            (
                Attribute::ChapChallenge(b"12345"),
                v(&hex!("3c 07 3132333435")),
            ),
            (
                Attribute::NasPortType(NasPortType::Virtual),
                v(&hex!("3d 06 00000005")),
            ),
            (Attribute::PortLimit(1), v(&hex!("3e 06 00000001"))),
            (
                Attribute::TunnelType {
                    tag: 1,
                    value: TunnelType::L2tp,
                },
                v(&hex!("40 06 01 000003")),
            ),
            (
                Attribute::TunnelMediumType {
                    tag: 0,
                    value: TunnelMediumType::Ipv4,
                },
                v(&hex!("41 06 00 000001")),
            ),
            (
                Attribute::TunnelClientEndpoint {
                    tag: Some(1),
                    endpoint: b"1.2.3.4",
                },
                v(&hex!("42 0a 01 312e322e332e34")),
            ),
            (
                Attribute::TunnelServerEndpoint {
                    tag: None,
                    endpoint: b"5.6.7.8",
                },
                v(&hex!("43 09 352e362e372e38")),
            ),
            (Attribute::ConnectInfo(b"x"), v(&hex!("4d 03 78"))),
            (
                Attribute::MessageAuthenticator([0xab; 16]),
                v(&hex!("50 12 abababababababababababababababab")),
            ),
            (
                Attribute::AcctInterimInterval(300),
                v(&hex!("55 06 0000012c")),
            ),
            (Attribute::NasPortId(b"ppp0"), v(&hex!("57 06 70707030"))),
            (Attribute::FramedPool(b"pool"), v(&hex!("58 06 706f6f6c"))),
            (
                Attribute::NasIpv6Address("2001:db8::1".parse().unwrap()),
                v(&hex!("5f 12 20010db8000000000000000000000001")),
            ),
            (
                Attribute::FramedIpv6Prefix(Ipv6Prefix {
                    prefix_length: 64,
                    prefix: &hex!("20010db800010002"),
                }),
                v(&hex!("61 0c 00 40 20010db800010002")),
            ),
            (
                Attribute::ErrorCause(ErrorCause::SessionContextNotFound),
                v(&hex!("65 06 000001f7")),
            ),
            (Attribute::Other(attr(200, b"?")), v(&hex!("c8 03 3f"))),
        ]
    }

    #[test]
    fn emit_and_parse_table() {
        for (attribute, bytes) in table() {
            assert_eq!(attribute.buffer_len(), bytes.len(), "{attribute:?}");
            let mut out = vec![0u8; bytes.len()];
            assert_eq!(attribute.emit(&mut out), Ok(bytes.len()));
            assert_eq!(out, bytes, "{attribute:?}");
            let repr = super::super::AttributeIter::new(&bytes)
                .next()
                .unwrap()
                .unwrap();
            assert_eq!(Attribute::parse(&repr), Ok(attribute));
            typed_round_trip(&attribute);
        }
    }

    #[test]
    fn fixed_sizes_reject_truncation_and_extension() {
        for (attribute, bytes) in table() {
            let fixed_size = !matches!(
                attribute,
                Attribute::UserName(_)
                    | Attribute::FilterId(_)
                    | Attribute::ReplyMessage(_)
                    | Attribute::State(_)
                    | Attribute::Class(_)
                    | Attribute::VendorSpecific(_)
                    | Attribute::CalledStationId(_)
                    | Attribute::CallingStationId(_)
                    | Attribute::NasIdentifier(_)
                    | Attribute::ProxyState(_)
                    | Attribute::AcctSessionId(_)
                    | Attribute::AcctMultiSessionId(_)
                    | Attribute::ChapChallenge(_)
                    | Attribute::TunnelClientEndpoint { .. }
                    | Attribute::TunnelServerEndpoint { .. }
                    | Attribute::ConnectInfo(_)
                    | Attribute::NasPortId(_)
                    | Attribute::FramedPool(_)
                    | Attribute::FramedIpv6Prefix(_)
                    | Attribute::Other(_)
            );
            let value = &bytes[2..];
            let t = bytes[0];
            if fixed_size {
                assert_truncations_rejected(value, |v| Attribute::parse(&attr(t, v)).map(drop));
            } else {
                // A shorter value of a variable type may be valid; none may panic.
                assert_truncations_do_not_panic(value, |v| Attribute::parse(&attr(t, v)).map(drop));
            }
            if fixed_size && !matches!(attribute, Attribute::UserPassword(_)) {
                let mut longer = value.to_vec();
                longer.push(0);
                assert!(
                    Attribute::parse(&attr(t, &longer)).is_err(),
                    "{attribute:?}"
                );
            }
        }
    }

    #[test]
    fn rfc2865_examples_typed() {
        use super::super::tests::{ACCESS_ACCEPT_CHAP, ACCESS_REQUEST_CHAP, ACCESS_REQUEST_PAP};
        use super::super::{Packet, Repr};
        let typed = |bytes: &'static [u8]| -> Vec<Attribute<'static>> {
            let packet = Packet::new_checked(bytes).unwrap();
            let repr = Repr::parse(&packet).unwrap();
            repr.attributes
                .iter()
                .map(|a| Attribute::parse(&a.unwrap()).unwrap())
                .collect()
        };
        assert_eq!(
            typed(&ACCESS_REQUEST_PAP),
            [
                Attribute::UserName(b"nemo"),
                Attribute::UserPassword(&hex!("0dbe708d93d413ce3196e43f782a0aee")),
                Attribute::NasIpAddress(Ipv4Addr::new(192, 168, 1, 16)),
                Attribute::NasPort(3),
            ]
        );
        assert_eq!(
            typed(&ACCESS_REQUEST_CHAP),
            [
                Attribute::UserName(b"flopsy"),
                Attribute::ChapPassword(ChapPassword {
                    ident: 0x16,
                    response: hex!("e97557c316185895f293ff6344077275"),
                }),
                Attribute::NasIpAddress(Ipv4Addr::new(192, 168, 1, 16)),
                Attribute::NasPort(20),
                Attribute::ServiceType(ServiceType::Framed),
                Attribute::FramedProtocol(FramedProtocol::Ppp),
            ]
        );
        assert_eq!(
            typed(&ACCESS_ACCEPT_CHAP),
            [
                Attribute::ServiceType(ServiceType::Framed),
                Attribute::FramedProtocol(FramedProtocol::Ppp),
                Attribute::FramedIpAddress(Ipv4Addr::new(255, 255, 255, 254)),
                Attribute::Other(attr(10, &[0, 0, 0, 2])),
                Attribute::Other(attr(13, &[0, 0, 0, 1])),
                Attribute::FramedMtu(1500),
            ]
        );
    }

    #[test]
    fn size_rules() {
        let bad_length: Result<Attribute<'_>> = Err(Error::BadLength(Layer::RadiusAttribute));
        // Empty text and string (RFC 2865 §5).
        for t in [1u8, 11, 18, 24, 25, 30, 31, 32, 33, 44, 50, 77, 87, 88] {
            assert_eq!(Attribute::parse(&attr(t, &[])), bad_length, "type {t}");
        }
        assert_eq!(
            Attribute::UserName(b"").emit(&mut [0u8; 8]),
            Err(Error::BadLength(Layer::RadiusAttribute))
        );
        // User-Password: 16..=128 in steps of 16 (RFC 2865 §5.2).
        for n in [0usize, 15, 17, 31, 144] {
            assert_eq!(Attribute::parse(&attr(2, &vec![0; n])), bad_length, "{n}");
        }
        for n in [16usize, 32, 128] {
            assert!(Attribute::parse(&attr(2, &vec![0; n])).is_ok(), "{n}");
        }
        // CHAP-Challenge: at least 5 octets.
        assert_eq!(Attribute::parse(&attr(60, b"1234")), bad_length);
        // Tunnel endpoints: a tag octet needs a string after it.
        assert_eq!(Attribute::parse(&attr(66, &[1])), bad_length);
        assert_eq!(
            Attribute::TunnelClientEndpoint {
                tag: None,
                endpoint: &[5, b'x'],
            }
            .emit(&mut [0u8; 8]),
            Err(Error::Malformed(
                Layer::RadiusAttribute,
                "untagged tunnel endpoint starts with a tag octet"
            ))
        );
        assert!(
            Attribute::TunnelServerEndpoint {
                tag: Some(0x20),
                endpoint: b"x",
            }
            .emit(&mut [0u8; 8])
            .is_err()
        );
        assert!(
            Attribute::TunnelType {
                tag: 0,
                value: TunnelType::Unknown(0x0100_0000),
            }
            .emit(&mut [0u8; 8])
            .is_err()
        );
        // Framed-IPv6-Prefix: Reserved and Prefix-Length at least, length <= 128.
        assert_eq!(Attribute::parse(&attr(97, &[0])), bad_length);
        assert!(Attribute::parse(&attr(97, &[0, 129])).is_err());
        assert!(Attribute::parse(&attr(97, &[0; 19])).is_err());
        assert_eq!(
            Attribute::parse(&attr(97, &[0x55, 0])),
            Ok(Attribute::FramedIpv6Prefix(Ipv6Prefix {
                prefix_length: 0,
                prefix: &[],
            }))
        );
        // Vendor-Specific: Vendor-Id high octet zero, String non-empty.
        assert!(Attribute::parse(&attr(26, &hex!("01000137 01"))).is_err());
        assert_eq!(Attribute::parse(&attr(26, &hex!("00000137"))), bad_length);
        assert_eq!(
            Attribute::parse(&attr(26, &hex!("000001"))),
            Err(Error::Truncated(Layer::RadiusAttribute))
        );
        // Values longer than 253 octets cannot be emitted.
        let long = [b'a'; 254];
        assert_eq!(
            Attribute::ReplyMessage(&long).emit(&mut [0u8; 300]),
            Err(Error::Malformed(
                Layer::RadiusAttribute,
                "value longer than 253 octets"
            ))
        );
        // A buffer too short to hold the attribute.
        assert_eq!(
            Attribute::NasPort(1).emit(&mut [0u8; 5]),
            Err(Error::Truncated(Layer::RadiusAttribute))
        );
    }

    #[test]
    fn value_helpers() {
        let a = attr(31, b"caf\xc3\xa9");
        assert_eq!(a.text(), Ok("café"));
        assert!(attr(31, b"\xff").text().is_err());
        assert!(attr(31, b"").string().is_err());
        assert_eq!(attr(55, &hex!("5f5e1000")).time(), Ok(1_600_000_000));
        assert!(attr(5, &[0, 0, 1]).integer().is_err());
        assert!(attr(4, &[0, 0, 1, 2, 3]).address().is_err());
        let p = Ipv6Prefix {
            prefix_length: 32,
            prefix: &hex!("20010db8"),
        };
        assert_eq!(p.address(), "2001:db8::".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn enums() {
        // RFC 2866 §5.10 and RFC 3580 §3.32: 1..=22 are all named.
        for v in 1..=22u32 {
            let cause = AcctTerminateCause::from(v);
            assert!(!matches!(cause, AcctTerminateCause::Unknown(_)), "{v}");
            assert_eq!(u32::from(cause), v);
        }
        assert_eq!(AcctTerminateCause::from(1), AcctTerminateCause::UserRequest);
        assert_eq!(
            AcctTerminateCause::from(18),
            AcctTerminateCause::HostRequest
        );
        assert_eq!(
            AcctTerminateCause::from(23),
            AcctTerminateCause::Unknown(23)
        );
        for (v, e) in [
            (1u32, AcctStatusType::Start),
            (2, AcctStatusType::Stop),
            (3, AcctStatusType::InterimUpdate),
            (7, AcctStatusType::AccountingOn),
            (8, AcctStatusType::AccountingOff),
        ] {
            assert_eq!(AcctStatusType::from(v), e);
        }
        for v in [201u32, 202, 401, 402, 403, 404, 405, 406, 407] {
            assert!(
                !matches!(ErrorCause::from(v), ErrorCause::Unknown(_)),
                "{v}"
            );
        }
        for v in 501u32..=508 {
            assert!(
                !matches!(ErrorCause::from(v), ErrorCause::Unknown(_)),
                "{v}"
            );
        }
        assert_eq!(ErrorCause::from(404), ErrorCause::InvalidRequest);
        assert_eq!(NasPortType::from(5), NasPortType::Virtual);
        assert_eq!(ServiceType::from(2), ServiceType::Framed);
        assert_eq!(FramedProtocol::from(1), FramedProtocol::Ppp);
        assert_eq!(TunnelType::from(3), TunnelType::L2tp);
    }
}

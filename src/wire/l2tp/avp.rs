//! L2TP Attribute-Value Pairs (RFC 2661 §4.1, §4.3, §4.4).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |M|H| rsvd  |      Length       |           Vendor ID           |
//! |         Attribute Type        |        Attribute Value...
//! ```
//!
//! Three layers, from raw to typed:
//! - [`Packet`] / [`AvpRepr`]: one AVP as it is on the wire (flags, IDs, raw value);
//!   [`AvpIter`] walks the chain of a control message yielding `Result<AvpRepr>`, and
//!   [`emit_chain`] writes one from a slice of `AvpRepr`s.
//! - [`AvpValue`]: the value of an IETF (vendor 0) attribute, sizes checked per §4.4.
//!   Vendor AVPs (vendor ID != 0) and unassigned types are [`AvpValue::Unknown`]: what
//!   to do with an unknown AVP (ignore it, or tear down because M is set) is the
//!   engine's decision (§4.1).
//! - Hidden AVPs (§4.3): the wire layer exposes the H bit and the still-hidden value.
//!   `crate::crypto::l2tp` un-hides in place; [`hidden_subformat_value`] then reads the
//!   Hidden AVP Subformat (Original Length, value, padding) that results, and
//!   [`hidden_subformat_emit`] builds it before hiding.
//!
//! Decisions:
//! - Length is 10 bits and counts the 6-octet AVP header: below 6 is
//!   [`Error::BadLength`], beyond the chain is [`Error::Truncated`]. A malformed AVP
//!   ends iteration, since the next AVP's position is then unknown.
//! - Reserved bits: §4.1 says "An AVP received with a reserved bit set to 1 MUST be
//!   treated as an unrecognized AVP". So they are not a parse error: [`AvpRepr`] keeps
//!   them (`reserved`), and [`AvpRepr::typed`] returns [`AvpValue::Unknown`] for such an
//!   AVP, leaving the M bit to decide its fate.
//! - Random Vector (§4.3): a hidden AVP is un-hidden with the closest preceding Random
//!   Vector AVP in the same message; an engine gets that pairing from
//!   [`AvpIter::with_random_vector`], which yields an error for a hidden AVP that has
//!   none.
//! - Message Type (§4.1, §4.4.1) must be the first AVP of a non-ZLB control message and
//!   must not be hidden; [`message_type`] checks both.
//! - Fields the RFC calls reserved inside values (Proxy Authen ID, Call Errors, ACCM)
//!   are ignored on input and written as 0, so a typed value round-trips to the same
//!   `AvpValue`, not always to the same bytes.
#![forbid(unsafe_code)]

use crate::wire::{Error, Field, Layer, Reader, Result, Writer};

/// The AVP header: flags + Length, Vendor ID, Attribute Type (§4.1).
pub const HEADER_LEN: usize = 6;
/// The largest AVP: Length is 10 bits (§4.1).
pub const MAX_LENGTH: usize = 0x3ff;
/// The largest value that fits an AVP.
pub const MAX_VALUE_LEN: usize = MAX_LENGTH - HEADER_LEN;
/// The IETF vendor ID: attributes defined by RFC 2661 (§4.1).
pub const IETF_VENDOR_ID: u16 = 0;

/// Bits of the first 16-bit word (§4.1).
pub mod flags {
    /// Mandatory.
    pub const M: u16 = 0x8000;
    /// Hidden.
    pub const H: u16 = 0x4000;
    /// The four reserved bits.
    pub const RESERVED: u16 = 0x3c00;
    /// The 10-bit Length.
    pub const LENGTH: u16 = 0x03ff;
}

mod field {
    use crate::wire::{Field, Rest};
    pub const FLAGS_LENGTH: Field = 0..2;
    pub const VENDOR_ID: Field = 2..4;
    pub const ATTRIBUTE_TYPE: Field = 4..6;
    pub const VALUE: Rest = 6..;
}

open_enum! {
    /// Control message types (§3.2, the value of the Message Type AVP).
    pub enum MessageType: u16 {
        /// Start-Control-Connection-Request.
        Sccrq = 1,
        /// Start-Control-Connection-Reply.
        Sccrp = 2,
        /// Start-Control-Connection-Connected.
        Scccn = 3,
        /// Stop-Control-Connection-Notification.
        StopCcn = 4,
        Hello = 6,
        /// Outgoing-Call-Request.
        Ocrq = 7,
        /// Outgoing-Call-Reply.
        Ocrp = 8,
        /// Outgoing-Call-Connected.
        Occn = 9,
        /// Incoming-Call-Request.
        Icrq = 10,
        /// Incoming-Call-Reply.
        Icrp = 11,
        /// Incoming-Call-Connected.
        Iccn = 12,
        /// Call-Disconnect-Notify.
        Cdn = 14,
        /// WAN-Error-Notify.
        Wen = 15,
        /// Set-Link-Info.
        Sli = 16,
    }
}

open_enum! {
    /// IETF attribute types (§4.4; 20 is unassigned).
    pub enum AttributeType: u16 {
        MessageType = 0,
        ResultCode = 1,
        ProtocolVersion = 2,
        FramingCapabilities = 3,
        BearerCapabilities = 4,
        TieBreaker = 5,
        FirmwareRevision = 6,
        HostName = 7,
        VendorName = 8,
        AssignedTunnelId = 9,
        ReceiveWindowSize = 10,
        Challenge = 11,
        Q931CauseCode = 12,
        ChallengeResponse = 13,
        AssignedSessionId = 14,
        CallSerialNumber = 15,
        MinimumBps = 16,
        MaximumBps = 17,
        BearerType = 18,
        FramingType = 19,
        CalledNumber = 21,
        CallingNumber = 22,
        SubAddress = 23,
        TxConnectSpeed = 24,
        PhysicalChannelId = 25,
        InitialReceivedLcpConfreq = 26,
        LastSentLcpConfreq = 27,
        LastReceivedLcpConfreq = 28,
        ProxyAuthenType = 29,
        ProxyAuthenName = 30,
        ProxyAuthenChallenge = 31,
        ProxyAuthenId = 32,
        ProxyAuthenResponse = 33,
        CallErrors = 34,
        Accm = 35,
        RandomVector = 36,
        PrivateGroupId = 37,
        RxConnectSpeed = 38,
        SequencingRequired = 39,
    }
}

open_enum! {
    /// Result codes of a StopCCN (§4.4.2).
    pub enum StopCcnResult: u16 {
        Reserved = 0,
        /// General request to clear control connection.
        GeneralClear = 1,
        /// General error, the Error Code says which.
        GeneralError = 2,
        /// Control channel already exists.
        AlreadyExists = 3,
        /// Requester is not authorized to establish a control channel.
        NotAuthorized = 4,
        /// The protocol version of the requester is not supported.
        UnsupportedVersion = 5,
        /// Requester is being shut down.
        ShuttingDown = 6,
        /// Finite State Machine error.
        FsmError = 7,
    }
}

open_enum! {
    /// Result codes of a CDN (§4.4.2).
    pub enum CdnResult: u16 {
        Reserved = 0,
        /// Call disconnected due to loss of carrier.
        LostCarrier = 1,
        /// Call disconnected for the reason indicated in the Error Code.
        GeneralError = 2,
        /// Call disconnected for administrative reasons.
        Administrative = 3,
        /// No appropriate facilities available (temporary condition).
        TemporaryLackOfFacilities = 4,
        /// No appropriate facilities available (permanent condition).
        PermanentLackOfFacilities = 5,
        InvalidDestination = 6,
        NoCarrier = 7,
        Busy = 8,
        NoDialTone = 9,
        /// Call was not established within time allotted by the LAC.
        Timeout = 10,
        /// Call was connected but no appropriate framing was detected.
        NoFraming = 11,
    }
}

open_enum! {
    /// General error codes (§4.4.2), carried after a result code.
    pub enum ErrorCode: u16 {
        NoError = 0,
        /// No control connection exists yet for this LAC-LNS pair.
        NoControlConnection = 1,
        /// Length is wrong.
        BadLength = 2,
        /// A field value was out of range or a reserved field was non-zero.
        BadValue = 3,
        /// Insufficient resources to handle this operation now.
        InsufficientResources = 4,
        /// The Session ID is invalid in this context.
        InvalidSessionId = 5,
        /// A generic vendor-specific error occurred in the LAC.
        VendorSpecific = 6,
        /// Try another LNS.
        TryAnother = 7,
        /// Shut down because of an unknown AVP with the M bit set.
        UnknownMandatoryAvp = 8,
    }
}

open_enum! {
    /// Proxy Authen Type values (§4.4.5).
    pub enum ProxyAuthenType: u16 {
        Reserved = 0,
        /// Textual username/password exchange.
        Textual = 1,
        Chap = 2,
        Pap = 3,
        NoAuthentication = 4,
        MsChapV1 = 5,
    }
}

/// Framing Capabilities / Framing Type bit mask (§4.4.3, §4.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Framing(pub u32);

impl Framing {
    /// S: synchronous framing.
    pub const SYNC: u32 = 0x1;
    /// A: asynchronous framing.
    pub const ASYNC: u32 = 0x2;

    pub const fn sync(self) -> bool {
        self.0 & Self::SYNC != 0
    }

    pub const fn r#async(self) -> bool {
        self.0 & Self::ASYNC != 0
    }
}

/// Bearer Capabilities / Bearer Type bit mask (§4.4.3, §4.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Bearer(pub u32);

impl Bearer {
    /// D: digital access.
    pub const DIGITAL: u32 = 0x1;
    /// A: analog access.
    pub const ANALOG: u32 = 0x2;

    pub const fn digital(self) -> bool {
        self.0 & Self::DIGITAL != 0
    }

    pub const fn analog(self) -> bool {
        self.0 & Self::ANALOG != 0
    }
}

/// The Result Code AVP value (§4.4.2). The meaning of `result` depends on the message:
/// read it with [`ResultCode::stop_ccn_result`] or [`ResultCode::cdn_result`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultCode<'a> {
    pub result: u16,
    /// Present when the value is at least 4 octets.
    pub error: Option<u16>,
    /// Present (non-empty) after an error code; written after `error`, or after an
    /// error code of 0 if `error` is `None`.
    pub message: Option<&'a [u8]>,
}

impl ResultCode<'_> {
    pub fn stop_ccn_result(&self) -> StopCcnResult {
        self.result.into()
    }

    pub fn cdn_result(&self) -> CdnResult {
        self.result.into()
    }

    pub fn error_code(&self) -> Option<ErrorCode> {
        self.error.map(ErrorCode::from)
    }
}

/// The Q.931 Cause Code AVP value (§4.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Q931Cause<'a> {
    pub cause_code: u16,
    pub cause_msg: u8,
    /// Advisory message, possibly empty.
    pub advisory: &'a [u8],
}

/// The Call Errors AVP value (§4.4.6), after its 2 reserved octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CallErrors {
    pub crc_errors: u32,
    pub framing_errors: u32,
    pub hardware_overruns: u32,
    pub buffer_overruns: u32,
    pub timeout_errors: u32,
    pub alignment_errors: u32,
}

/// The ACCM AVP value (§4.4.6), after its 2 reserved octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Accm {
    pub send_accm: u32,
    pub receive_accm: u32,
}

/// The typed value of an AVP (§4.4). Strings and opaque octets borrow the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvpValue<'a> {
    MessageType(MessageType),
    ResultCode(ResultCode<'a>),
    ProtocolVersion {
        version: u8,
        revision: u8,
    },
    FramingCapabilities(Framing),
    BearerCapabilities(Bearer),
    TieBreaker([u8; 8]),
    FirmwareRevision(u16),
    /// At least one octet.
    HostName(&'a [u8]),
    VendorName(&'a [u8]),
    AssignedTunnelId(u16),
    ReceiveWindowSize(u16),
    /// At least one octet.
    Challenge(&'a [u8]),
    Q931CauseCode(Q931Cause<'a>),
    ChallengeResponse([u8; 16]),
    AssignedSessionId(u16),
    CallSerialNumber(u32),
    MinimumBps(u32),
    MaximumBps(u32),
    BearerType(Bearer),
    FramingType(Framing),
    CalledNumber(&'a [u8]),
    CallingNumber(&'a [u8]),
    SubAddress(&'a [u8]),
    TxConnectSpeed(u32),
    PhysicalChannelId(u32),
    InitialReceivedLcpConfreq(&'a [u8]),
    LastSentLcpConfreq(&'a [u8]),
    LastReceivedLcpConfreq(&'a [u8]),
    ProxyAuthenType(ProxyAuthenType),
    ProxyAuthenName(&'a [u8]),
    /// At least one octet.
    ProxyAuthenChallenge(&'a [u8]),
    /// The ID octet (the octet before it is reserved).
    ProxyAuthenId(u8),
    ProxyAuthenResponse(&'a [u8]),
    CallErrors(CallErrors),
    Accm(Accm),
    /// Any length; §4.4.3 recommends at least 16 octets.
    RandomVector(&'a [u8]),
    PrivateGroupId(&'a [u8]),
    RxConnectSpeed(u32),
    SequencingRequired,
    /// A vendor AVP, an unassigned IETF type, or an AVP with reserved bits set.
    Unknown {
        vendor_id: u16,
        attribute_type: u16,
        value: &'a [u8],
    },
}

fn bad_size(what: &'static str) -> Error {
    Error::Malformed(Layer::L2tpAvp, what)
}

fn exact<const N: usize>(value: &[u8], what: &'static str) -> Result<[u8; N]> {
    value.try_into().map_err(|_| bad_size(what))
}

fn u16_of(value: &[u8], what: &'static str) -> Result<u16> {
    exact::<2>(value, what).map(u16::from_be_bytes)
}

fn u32_of(value: &[u8], what: &'static str) -> Result<u32> {
    exact::<4>(value, what).map(u32::from_be_bytes)
}

fn non_empty<'a>(value: &'a [u8], what: &'static str) -> Result<&'a [u8]> {
    if value.is_empty() {
        Err(bad_size(what))
    } else {
        Ok(value)
    }
}

impl<'a> AvpValue<'a> {
    /// Interprets the (un-hidden) value of an AVP. Sizes are checked per §4.4; a wrong
    /// size is [`Error::Malformed`] naming the attribute.
    pub fn parse(vendor_id: u16, attribute_type: u16, value: &'a [u8]) -> Result<AvpValue<'a>> {
        use AttributeType as T;
        let unknown = AvpValue::Unknown {
            vendor_id,
            attribute_type,
            value,
        };
        if vendor_id != IETF_VENDOR_ID {
            return Ok(unknown);
        }
        Ok(match T::from(attribute_type) {
            T::MessageType => {
                AvpValue::MessageType(u16_of(value, "Message Type: value must be 2 octets")?.into())
            }
            T::ResultCode => {
                let mut r = Reader::new(value, Layer::L2tpAvp);
                let what = "Result Code: value must be 2 or at least 4 octets";
                let result = r.u16().map_err(|_| bad_size(what))?;
                let error = if r.is_empty() {
                    None
                } else {
                    Some(r.u16().map_err(|_| bad_size(what))?)
                };
                let rest = r.rest();
                let message = (!rest.is_empty()).then_some(rest);
                AvpValue::ResultCode(ResultCode {
                    result,
                    error,
                    message,
                })
            }
            T::ProtocolVersion => {
                let [version, revision] = exact(value, "Protocol Version: value must be 2 octets")?;
                AvpValue::ProtocolVersion { version, revision }
            }
            T::FramingCapabilities => AvpValue::FramingCapabilities(Framing(u32_of(
                value,
                "Framing Capabilities: value must be 4 octets",
            )?)),
            T::BearerCapabilities => AvpValue::BearerCapabilities(Bearer(u32_of(
                value,
                "Bearer Capabilities: value must be 4 octets",
            )?)),
            T::TieBreaker => {
                AvpValue::TieBreaker(exact(value, "Tie Breaker: value must be 8 octets")?)
            }
            T::FirmwareRevision => AvpValue::FirmwareRevision(u16_of(
                value,
                "Firmware Revision: value must be 2 octets",
            )?),
            T::HostName => {
                AvpValue::HostName(non_empty(value, "Host Name: value must not be empty")?)
            }
            T::VendorName => AvpValue::VendorName(value),
            T::AssignedTunnelId => AvpValue::AssignedTunnelId(u16_of(
                value,
                "Assigned Tunnel ID: value must be 2 octets",
            )?),
            T::ReceiveWindowSize => AvpValue::ReceiveWindowSize(u16_of(
                value,
                "Receive Window Size: value must be 2 octets",
            )?),
            T::Challenge => {
                AvpValue::Challenge(non_empty(value, "Challenge: value must not be empty")?)
            }
            T::Q931CauseCode => {
                let mut r = Reader::new(value, Layer::L2tpAvp);
                let what = "Q.931 Cause Code: value must be at least 3 octets";
                let cause_code = r.u16().map_err(|_| bad_size(what))?;
                let cause_msg = r.u8().map_err(|_| bad_size(what))?;
                AvpValue::Q931CauseCode(Q931Cause {
                    cause_code,
                    cause_msg,
                    advisory: r.rest(),
                })
            }
            T::ChallengeResponse => AvpValue::ChallengeResponse(exact(
                value,
                "Challenge Response: value must be 16 octets",
            )?),
            T::AssignedSessionId => AvpValue::AssignedSessionId(u16_of(
                value,
                "Assigned Session ID: value must be 2 octets",
            )?),
            T::CallSerialNumber => AvpValue::CallSerialNumber(u32_of(
                value,
                "Call Serial Number: value must be 4 octets",
            )?),
            T::MinimumBps => {
                AvpValue::MinimumBps(u32_of(value, "Minimum BPS: value must be 4 octets")?)
            }
            T::MaximumBps => {
                AvpValue::MaximumBps(u32_of(value, "Maximum BPS: value must be 4 octets")?)
            }
            T::BearerType => AvpValue::BearerType(Bearer(u32_of(
                value,
                "Bearer Type: value must be 4 octets",
            )?)),
            T::FramingType => AvpValue::FramingType(Framing(u32_of(
                value,
                "Framing Type: value must be 4 octets",
            )?)),
            T::CalledNumber => AvpValue::CalledNumber(value),
            T::CallingNumber => AvpValue::CallingNumber(value),
            T::SubAddress => AvpValue::SubAddress(value),
            T::TxConnectSpeed => {
                AvpValue::TxConnectSpeed(u32_of(value, "Tx Connect Speed: value must be 4 octets")?)
            }
            T::PhysicalChannelId => AvpValue::PhysicalChannelId(u32_of(
                value,
                "Physical Channel ID: value must be 4 octets",
            )?),
            T::InitialReceivedLcpConfreq => AvpValue::InitialReceivedLcpConfreq(value),
            T::LastSentLcpConfreq => AvpValue::LastSentLcpConfreq(value),
            T::LastReceivedLcpConfreq => AvpValue::LastReceivedLcpConfreq(value),
            T::ProxyAuthenType => AvpValue::ProxyAuthenType(
                u16_of(value, "Proxy Authen Type: value must be 2 octets")?.into(),
            ),
            T::ProxyAuthenName => AvpValue::ProxyAuthenName(value),
            T::ProxyAuthenChallenge => AvpValue::ProxyAuthenChallenge(non_empty(
                value,
                "Proxy Authen Challenge: value must not be empty",
            )?),
            T::ProxyAuthenId => {
                let [_reserved, id] = exact(value, "Proxy Authen ID: value must be 2 octets")?;
                AvpValue::ProxyAuthenId(id)
            }
            T::ProxyAuthenResponse => AvpValue::ProxyAuthenResponse(value),
            T::CallErrors => {
                let b: [u8; CALL_ERRORS_LEN] =
                    exact(value, "Call Errors: value must be 26 octets")?;
                let at = |i: usize| {
                    let o = 2 + 4 * i;
                    u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
                };
                AvpValue::CallErrors(CallErrors {
                    crc_errors: at(0),
                    framing_errors: at(1),
                    hardware_overruns: at(2),
                    buffer_overruns: at(3),
                    timeout_errors: at(4),
                    alignment_errors: at(5),
                })
            }
            T::Accm => {
                let b: [u8; ACCM_LEN] = exact(value, "ACCM: value must be 10 octets")?;
                AvpValue::Accm(Accm {
                    send_accm: u32::from_be_bytes([b[2], b[3], b[4], b[5]]),
                    receive_accm: u32::from_be_bytes([b[6], b[7], b[8], b[9]]),
                })
            }
            // "arbitrary length" (§4.4.3): even empty is well-formed, if useless.
            T::RandomVector => AvpValue::RandomVector(value),
            T::PrivateGroupId => AvpValue::PrivateGroupId(value),
            T::RxConnectSpeed => {
                AvpValue::RxConnectSpeed(u32_of(value, "Rx Connect Speed: value must be 4 octets")?)
            }
            T::SequencingRequired => {
                if !value.is_empty() {
                    return Err(bad_size("Sequencing Required: value must be empty"));
                }
                AvpValue::SequencingRequired
            }
            T::Unknown(_) => unknown,
        })
    }

    /// The Vendor ID this value is sent under.
    pub fn vendor_id(&self) -> u16 {
        match self {
            AvpValue::Unknown { vendor_id, .. } => *vendor_id,
            _ => IETF_VENDOR_ID,
        }
    }

    /// The Attribute Type this value is sent under.
    pub fn attribute_type(&self) -> u16 {
        use AttributeType as T;
        let t = match self {
            AvpValue::MessageType(_) => T::MessageType,
            AvpValue::ResultCode(_) => T::ResultCode,
            AvpValue::ProtocolVersion { .. } => T::ProtocolVersion,
            AvpValue::FramingCapabilities(_) => T::FramingCapabilities,
            AvpValue::BearerCapabilities(_) => T::BearerCapabilities,
            AvpValue::TieBreaker(_) => T::TieBreaker,
            AvpValue::FirmwareRevision(_) => T::FirmwareRevision,
            AvpValue::HostName(_) => T::HostName,
            AvpValue::VendorName(_) => T::VendorName,
            AvpValue::AssignedTunnelId(_) => T::AssignedTunnelId,
            AvpValue::ReceiveWindowSize(_) => T::ReceiveWindowSize,
            AvpValue::Challenge(_) => T::Challenge,
            AvpValue::Q931CauseCode(_) => T::Q931CauseCode,
            AvpValue::ChallengeResponse(_) => T::ChallengeResponse,
            AvpValue::AssignedSessionId(_) => T::AssignedSessionId,
            AvpValue::CallSerialNumber(_) => T::CallSerialNumber,
            AvpValue::MinimumBps(_) => T::MinimumBps,
            AvpValue::MaximumBps(_) => T::MaximumBps,
            AvpValue::BearerType(_) => T::BearerType,
            AvpValue::FramingType(_) => T::FramingType,
            AvpValue::CalledNumber(_) => T::CalledNumber,
            AvpValue::CallingNumber(_) => T::CallingNumber,
            AvpValue::SubAddress(_) => T::SubAddress,
            AvpValue::TxConnectSpeed(_) => T::TxConnectSpeed,
            AvpValue::PhysicalChannelId(_) => T::PhysicalChannelId,
            AvpValue::InitialReceivedLcpConfreq(_) => T::InitialReceivedLcpConfreq,
            AvpValue::LastSentLcpConfreq(_) => T::LastSentLcpConfreq,
            AvpValue::LastReceivedLcpConfreq(_) => T::LastReceivedLcpConfreq,
            AvpValue::ProxyAuthenType(_) => T::ProxyAuthenType,
            AvpValue::ProxyAuthenName(_) => T::ProxyAuthenName,
            AvpValue::ProxyAuthenChallenge(_) => T::ProxyAuthenChallenge,
            AvpValue::ProxyAuthenId(_) => T::ProxyAuthenId,
            AvpValue::ProxyAuthenResponse(_) => T::ProxyAuthenResponse,
            AvpValue::CallErrors(_) => T::CallErrors,
            AvpValue::Accm(_) => T::Accm,
            AvpValue::RandomVector(_) => T::RandomVector,
            AvpValue::PrivateGroupId(_) => T::PrivateGroupId,
            AvpValue::RxConnectSpeed(_) => T::RxConnectSpeed,
            AvpValue::SequencingRequired => T::SequencingRequired,
            AvpValue::Unknown { attribute_type, .. } => return *attribute_type,
        };
        t.into()
    }

    /// The length of the value (without the AVP header).
    pub fn buffer_len(&self) -> usize {
        match self {
            AvpValue::MessageType(_)
            | AvpValue::ProtocolVersion { .. }
            | AvpValue::FirmwareRevision(_)
            | AvpValue::AssignedTunnelId(_)
            | AvpValue::ReceiveWindowSize(_)
            | AvpValue::AssignedSessionId(_)
            | AvpValue::ProxyAuthenType(_)
            | AvpValue::ProxyAuthenId(_) => 2,
            AvpValue::FramingCapabilities(_)
            | AvpValue::BearerCapabilities(_)
            | AvpValue::CallSerialNumber(_)
            | AvpValue::MinimumBps(_)
            | AvpValue::MaximumBps(_)
            | AvpValue::BearerType(_)
            | AvpValue::FramingType(_)
            | AvpValue::TxConnectSpeed(_)
            | AvpValue::PhysicalChannelId(_)
            | AvpValue::RxConnectSpeed(_) => 4,
            AvpValue::TieBreaker(_) => 8,
            AvpValue::ChallengeResponse(_) => 16,
            AvpValue::CallErrors(_) => CALL_ERRORS_LEN,
            AvpValue::Accm(_) => ACCM_LEN,
            AvpValue::SequencingRequired => 0,
            AvpValue::ResultCode(rc) => match (rc.error, rc.message) {
                (_, Some(m)) if !m.is_empty() => 4 + m.len(),
                (Some(_), _) => 4,
                (None, _) => 2,
            },
            AvpValue::Q931CauseCode(q) => 3 + q.advisory.len(),
            AvpValue::HostName(s)
            | AvpValue::VendorName(s)
            | AvpValue::Challenge(s)
            | AvpValue::CalledNumber(s)
            | AvpValue::CallingNumber(s)
            | AvpValue::SubAddress(s)
            | AvpValue::InitialReceivedLcpConfreq(s)
            | AvpValue::LastSentLcpConfreq(s)
            | AvpValue::LastReceivedLcpConfreq(s)
            | AvpValue::ProxyAuthenName(s)
            | AvpValue::ProxyAuthenChallenge(s)
            | AvpValue::ProxyAuthenResponse(s)
            | AvpValue::RandomVector(s)
            | AvpValue::PrivateGroupId(s)
            | AvpValue::Unknown { value: s, .. } => s.len(),
        }
    }

    /// Writes the value into `out`, which must hold at least `buffer_len()` octets.
    pub fn emit(&self, out: &mut [u8]) {
        let mut w = Writer::new(out);
        match *self {
            AvpValue::MessageType(t) => w.put_u16(t.into()),
            AvpValue::ResultCode(rc) => {
                w.put_u16(rc.result);
                match (rc.error, rc.message) {
                    (error, Some(m)) if !m.is_empty() => {
                        w.put_u16(error.unwrap_or(0));
                        w.put_slice(m);
                    }
                    (Some(error), _) => w.put_u16(error),
                    (None, _) => {}
                }
            }
            AvpValue::ProtocolVersion { version, revision } => {
                w.put_u8(version);
                w.put_u8(revision);
            }
            AvpValue::FramingCapabilities(Framing(v))
            | AvpValue::FramingType(Framing(v))
            | AvpValue::BearerCapabilities(Bearer(v))
            | AvpValue::BearerType(Bearer(v))
            | AvpValue::CallSerialNumber(v)
            | AvpValue::MinimumBps(v)
            | AvpValue::MaximumBps(v)
            | AvpValue::TxConnectSpeed(v)
            | AvpValue::PhysicalChannelId(v)
            | AvpValue::RxConnectSpeed(v) => w.put_u32(v),
            AvpValue::FirmwareRevision(v)
            | AvpValue::AssignedTunnelId(v)
            | AvpValue::ReceiveWindowSize(v)
            | AvpValue::AssignedSessionId(v) => w.put_u16(v),
            AvpValue::ProxyAuthenType(t) => w.put_u16(t.into()),
            AvpValue::ProxyAuthenId(id) => {
                w.put_u8(0);
                w.put_u8(id);
            }
            AvpValue::TieBreaker(b) => w.put_slice(&b),
            AvpValue::ChallengeResponse(b) => w.put_slice(&b),
            AvpValue::Q931CauseCode(q) => {
                w.put_u16(q.cause_code);
                w.put_u8(q.cause_msg);
                w.put_slice(q.advisory);
            }
            AvpValue::CallErrors(e) => {
                w.put_u16(0);
                for v in [
                    e.crc_errors,
                    e.framing_errors,
                    e.hardware_overruns,
                    e.buffer_overruns,
                    e.timeout_errors,
                    e.alignment_errors,
                ] {
                    w.put_u32(v);
                }
            }
            AvpValue::Accm(a) => {
                w.put_u16(0);
                w.put_u32(a.send_accm);
                w.put_u32(a.receive_accm);
            }
            AvpValue::SequencingRequired => {}
            AvpValue::HostName(s)
            | AvpValue::VendorName(s)
            | AvpValue::Challenge(s)
            | AvpValue::CalledNumber(s)
            | AvpValue::CallingNumber(s)
            | AvpValue::SubAddress(s)
            | AvpValue::InitialReceivedLcpConfreq(s)
            | AvpValue::LastSentLcpConfreq(s)
            | AvpValue::LastReceivedLcpConfreq(s)
            | AvpValue::ProxyAuthenName(s)
            | AvpValue::ProxyAuthenChallenge(s)
            | AvpValue::ProxyAuthenResponse(s)
            | AvpValue::RandomVector(s)
            | AvpValue::PrivateGroupId(s)
            | AvpValue::Unknown { value: s, .. } => w.put_slice(s),
        }
    }

    /// The length of a whole (unhidden) AVP carrying this value.
    pub fn avp_len(&self) -> usize {
        HEADER_LEN + self.buffer_len()
    }

    /// Writes a whole unhidden AVP carrying this value into `out` (at least `avp_len()`
    /// octets) and returns its length. Hidden AVPs are built with
    /// [`hidden_subformat_emit`], hidden by `crate::crypto::l2tp`, and wrapped in an
    /// [`AvpRepr`] with `hidden: true`.
    pub fn emit_avp(&self, mandatory: bool, out: &mut [u8]) -> usize {
        let len = self.avp_len();
        let mut packet = Packet::new_unchecked(&mut out[..len]);
        packet.set_header(mandatory, false, 0, len as u16);
        packet.set_vendor_id(self.vendor_id());
        packet.set_attribute_type(self.attribute_type());
        self.emit(packet.value_mut());
        len
    }
}

/// Call Errors value: 2 reserved octets and six 32-bit counters (§4.4.6).
const CALL_ERRORS_LEN: usize = 26;
/// ACCM value: 2 reserved octets, Send ACCM, Receive ACCM (§4.4.6).
const ACCM_LEN: usize = 10;

/// A borrowed view of one AVP at the start of a buffer (which may hold the rest of the
/// chain after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// The header fits, Length is at least the header and at most the buffer.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated(Layer::L2tpAvp));
        }
        let length = usize::from(self.length());
        if length < HEADER_LEN {
            return Err(Error::BadLength(Layer::L2tpAvp));
        }
        if length > len {
            return Err(Error::Truncated(Layer::L2tpAvp));
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn word(&self, f: Field) -> u16 {
        let b = &self.buffer.as_ref()[f];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// M bit.
    pub fn mandatory(&self) -> bool {
        self.word(field::FLAGS_LENGTH) & flags::M != 0
    }

    /// H bit.
    pub fn hidden(&self) -> bool {
        self.word(field::FLAGS_LENGTH) & flags::H != 0
    }

    /// The four reserved bits, right-aligned.
    pub fn reserved(&self) -> u8 {
        ((self.word(field::FLAGS_LENGTH) & flags::RESERVED) >> 10) as u8
    }

    /// Length of the whole AVP, header included.
    pub fn length(&self) -> u16 {
        self.word(field::FLAGS_LENGTH) & flags::LENGTH
    }

    pub fn vendor_id(&self) -> u16 {
        self.word(field::VENDOR_ID)
    }

    pub fn attribute_type(&self) -> u16 {
        self.word(field::ATTRIBUTE_TYPE)
    }

    /// The value (still hidden if the H bit is set).
    pub fn value(&self) -> &[u8] {
        &self.buffer.as_ref()[field::VALUE.start..usize::from(self.length())]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The value with the buffer's lifetime.
    pub fn value_ref(&self) -> &'a [u8] {
        let end = usize::from(self.length());
        &self.buffer.as_ref()[field::VALUE.start..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes the flags and the Length (which must be at most [`MAX_LENGTH`]).
    pub fn set_header(&mut self, mandatory: bool, hidden: bool, reserved: u8, length: u16) {
        let mut word = length & flags::LENGTH;
        word |= (u16::from(reserved) << 10) & flags::RESERVED;
        if mandatory {
            word |= flags::M;
        }
        if hidden {
            word |= flags::H;
        }
        self.buffer.as_mut()[field::FLAGS_LENGTH].copy_from_slice(&word.to_be_bytes());
    }

    pub fn set_vendor_id(&mut self, value: u16) {
        self.buffer.as_mut()[field::VENDOR_ID].copy_from_slice(&value.to_be_bytes());
    }

    pub fn set_attribute_type(&mut self, value: u16) {
        self.buffer.as_mut()[field::ATTRIBUTE_TYPE].copy_from_slice(&value.to_be_bytes());
    }

    /// The value area, up to Length. Un-hiding works in place here.
    pub fn value_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.length());
        &mut self.buffer.as_mut()[field::VALUE.start..end]
    }
}

/// One AVP as it is on the wire; `value` is still hidden when `hidden` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvpRepr<'a> {
    pub mandatory: bool,
    pub hidden: bool,
    /// The four reserved bits; non-zero means "treat as unrecognized" (§4.1).
    pub reserved: u8,
    pub vendor_id: u16,
    pub attribute_type: u16,
    pub value: &'a [u8],
}

impl<'a> AvpRepr<'a> {
    /// An unhidden IETF AVP with a raw value.
    pub const fn ietf(mandatory: bool, attribute_type: AttributeType, value: &'a [u8]) -> Self {
        AvpRepr {
            mandatory,
            hidden: false,
            reserved: 0,
            vendor_id: IETF_VENDOR_ID,
            attribute_type: attribute_type.code(),
            value,
        }
    }

    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<AvpRepr<'a>> {
        packet.check_len()?;
        Ok(AvpRepr {
            mandatory: packet.mandatory(),
            hidden: packet.hidden(),
            reserved: packet.reserved(),
            vendor_id: packet.vendor_id(),
            attribute_type: packet.attribute_type(),
            value: packet.value_ref(),
        })
    }

    /// Header plus value. A value longer than [`MAX_VALUE_LEN`] cannot be emitted.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.value.len()
    }

    /// Writes the AVP into a buffer of at least `buffer_len()` octets. The caller keeps
    /// `value` within [`MAX_VALUE_LEN`]; a longer value would wrap the 10-bit Length.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        debug_assert!(self.value.len() <= MAX_VALUE_LEN);
        let len = self.buffer_len();
        packet.set_header(self.mandatory, self.hidden, self.reserved, len as u16);
        packet.set_vendor_id(self.vendor_id);
        packet.set_attribute_type(self.attribute_type);
        packet.buffer.as_mut()[HEADER_LEN..len].copy_from_slice(self.value);
    }

    /// The typed value. An AVP with reserved bits set is [`AvpValue::Unknown`] (§4.1);
    /// a hidden AVP is an error: un-hide it first and call [`AvpValue::parse`] on
    /// [`hidden_subformat_value`].
    pub fn typed(&self) -> Result<AvpValue<'a>> {
        if self.reserved != 0 {
            return Ok(AvpValue::Unknown {
                vendor_id: self.vendor_id,
                attribute_type: self.attribute_type,
                value: self.value,
            });
        }
        if self.hidden {
            return Err(Error::Malformed(Layer::L2tpAvp, "value is hidden"));
        }
        AvpValue::parse(self.vendor_id, self.attribute_type, self.value)
    }

    /// Whether this is an IETF AVP of the given type.
    pub fn is(&self, attribute_type: AttributeType) -> bool {
        self.vendor_id == IETF_VENDOR_ID && self.attribute_type == u16::from(attribute_type)
    }
}

/// Iterator over an AVP chain, yielding each AVP or the error that ends the chain.
#[derive(Debug, Clone)]
pub struct AvpIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> AvpIter<'a> {
    /// Iterates over `chain` (a control message payload).
    pub const fn new(chain: &'a [u8]) -> Self {
        AvpIter {
            rest: chain,
            failed: false,
        }
    }

    /// Pairs every hidden AVP with the value of the closest preceding Random Vector AVP
    /// in the chain (§4.3), which is what the un-hiding needs. Unhidden AVPs come with
    /// `None`; a hidden AVP with no Random Vector before it yields an error (and
    /// iteration goes on).
    pub fn with_random_vector(self) -> RandomVectorIter<'a> {
        RandomVectorIter {
            inner: self,
            random_vector: None,
        }
    }
}

impl<'a> Iterator for AvpIter<'a> {
    type Item = Result<AvpRepr<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let packet = Packet::new_unchecked(self.rest);
        match AvpRepr::parse(&packet) {
            Ok(repr) => {
                self.rest = &self.rest[repr.buffer_len()..];
                Some(Ok(repr))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// See [`AvpIter::with_random_vector`].
#[derive(Debug, Clone)]
pub struct RandomVectorIter<'a> {
    inner: AvpIter<'a>,
    random_vector: Option<&'a [u8]>,
}

impl<'a> Iterator for RandomVectorIter<'a> {
    type Item = Result<(AvpRepr<'a>, Option<&'a [u8]>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let avp = match self.inner.next()? {
            Ok(avp) => avp,
            Err(e) => return Some(Err(e)),
        };
        if avp.hidden {
            return Some(match self.random_vector {
                Some(rv) => Ok((avp, Some(rv))),
                None => Err(Error::Malformed(
                    Layer::L2tpAvp,
                    "hidden AVP without a preceding Random Vector",
                )),
            });
        }
        if avp.reserved == 0 && avp.is(AttributeType::RandomVector) {
            self.random_vector = Some(avp.value);
        }
        Some(Ok((avp, None)))
    }
}

/// The length of a chain of AVPs.
pub fn chain_len(avps: &[AvpRepr<'_>]) -> usize {
    avps.iter().map(AvpRepr::buffer_len).sum()
}

/// Writes `avps` back to back into `out` (at least [`chain_len`] octets) and returns
/// the length written.
pub fn emit_chain(avps: &[AvpRepr<'_>], out: &mut [u8]) -> usize {
    let mut at = 0;
    for avp in avps {
        let len = avp.buffer_len();
        avp.emit(&mut Packet::new_unchecked(&mut out[at..at + len]));
        at += len;
    }
    at
}

/// The Message Type of a control message payload: `Ok(None)` for an empty one (a ZLB),
/// otherwise the first AVP must be an unhidden IETF Message Type AVP (§4.1, §4.4.1).
/// The M bit of that AVP has a special meaning the engine must apply (§4.4.1): set, an
/// unknown message type tears the tunnel down; clear, the message is ignored.
pub fn message_type(chain: &[u8]) -> Result<Option<MessageType>> {
    let Some(first) = AvpIter::new(chain).next() else {
        return Ok(None);
    };
    let first = first?;
    if !first.is(AttributeType::MessageType) {
        return Err(Error::Malformed(
            Layer::L2tpAvp,
            "first AVP is not Message Type",
        ));
    }
    if first.hidden {
        return Err(Error::Malformed(
            Layer::L2tpAvp,
            "Message Type AVP is hidden",
        ));
    }
    match AvpValue::parse(first.vendor_id, first.attribute_type, first.value)? {
        AvpValue::MessageType(t) => Ok(Some(t)),
        _ => Err(Error::Malformed(
            Layer::L2tpAvp,
            "first AVP is not Message Type",
        )),
    }
}

/// Octets of the Original Length field of the Hidden AVP Subformat (§4.3).
pub const HIDDEN_LENGTH_LEN: usize = 2;

/// Reads the Hidden AVP Subformat of an un-hidden value: Original Length (2 octets),
/// the original value, then padding (§4.3). Returns the original value. An Original
/// Length beyond the buffer is [`Error::BadLength`]: after un-hiding with a wrong secret
/// it is random, and must never be trusted.
pub fn hidden_subformat_value(unhidden: &[u8]) -> Result<&[u8]> {
    let mut r = Reader::new(unhidden, Layer::L2tpAvp);
    let original_len = usize::from(r.u16()?);
    if original_len > r.left() {
        return Err(Error::BadLength(Layer::L2tpAvp));
    }
    r.take(original_len)
}

/// The length of a Hidden AVP Subformat carrying `value_len` octets and `padding_len`
/// octets of padding; the AVP holding it must stay within [`MAX_LENGTH`].
pub const fn hidden_subformat_buffer_len(value_len: usize, padding_len: usize) -> usize {
    HIDDEN_LENGTH_LEN + value_len + padding_len
}

/// Writes the Hidden AVP Subformat of `value` with `padding_len` zero octets of padding
/// into `out` (at least [`hidden_subformat_buffer_len`] octets), returning its length.
/// §4.3 suggests padding to hide the original length; its content is irrelevant once
/// hidden. `value` must be shorter than 64 KiB (an AVP holds at most 1015 anyway).
pub fn hidden_subformat_emit(value: &[u8], padding_len: usize, out: &mut [u8]) -> usize {
    let mut w = Writer::new(out);
    w.put_u16(value.len() as u16);
    w.put_slice(value);
    w.reserve(padding_len);
    w.position()
}

#[cfg(test)]
mod tests;

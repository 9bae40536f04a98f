//! PPTP control messages on TCP port 1723 (RFC 2637 §1.4, §2).
//!
//! Every message starts with the same 12-byte header:
//!
//! ```text
//! |            Length             |      PPTP Message Type        |
//! |                         Magic Cookie                          |
//! |     Control Message Type      |           Reserved0           |
//! ```
//!
//! followed by a fixed-size body per Control Message Type. [`Packet`] is the view of the
//! header; [`Repr`] holds the PPTP Message Type and a [`Message`], one variant per
//! control message of §2.1-§2.15 (each a struct named after the message, with fields
//! named after the RFC's). [`frame_len`] cuts the TCP byte stream into messages.
//!
//! Decisions:
//! - A wrong Magic Cookie is [`BAD_MAGIC`] (`Error::BadChecksum`): the cookie is the
//!   only integrity check PPTP has, and on a stream it means we lost framing.
//! - For the 15 known control messages the Length must equal the RFC's fixed size
//!   ([`ControlMessageType::message_len`]); otherwise [`Error::BadLength`]. Unknown
//!   control message types, and any message whose PPTP Message Type is not 1 (control;
//!   management messages are "currently not defined"), parse as [`Message::Unknown`]
//!   with an opaque body: what to do with them is the engine's choice.
//! - Reserved fields "MUST be 0" on send; receivers ignore them, so they are not in the
//!   `Repr` and `emit` writes zeroes.
//! - The fixed-size strings (host name, vendor, phone numbers, subaddress, call
//!   statistics) are NUL-padded fields: `Repr` borrows the bytes before the first NUL
//!   (or the whole field if there is none) and `emit` pads with NULs. A longer value is
//!   cut at the field size by `emit`, which never panics. The Phone Number Length and
//!   Dialed/Dialing Number Length fields are carried as sent; they are not checked
//!   against the strings (clients disagree on whether the NUL is counted).
//! - Bytes after the Length in a buffer belong to the next message and are ignored.
//!
//! Contract: untrusted input goes through `new_checked` / `Repr::parse` / `frame_len`
//! and comes back as an [`Error`], never a panic; `emit` never panics on a buffer of
//! `buffer_len()` bytes.
#![forbid(unsafe_code)]

use super::{Error, Field, Layer, Reader, Result, Writer};

mod field {
    use super::Field;

    pub const LENGTH: Field = 0..2;
    pub const PPTP_MESSAGE_TYPE: Field = 2..4;
    pub const MAGIC_COOKIE: Field = 4..8;
    pub const CONTROL_MESSAGE_TYPE: Field = 8..10;
    pub const RESERVED0: Field = 10..12;
    pub const BODY: usize = 12;
}

/// The TCP port of the PPTP control connection (RFC 2637 §1.4).
pub const PORT: u16 = 1723;
/// The 12-byte header common to all control messages.
pub const HEADER_LEN: usize = field::BODY;
/// The Magic Cookie, always 0x1A2B3C4D (RFC 2637 §1.4).
pub const MAGIC_COOKIE: u32 = 0x1a2b_3c4d;
/// Protocol Version 1, revision 0 (RFC 2637 §2.1).
pub const PROTOCOL_VERSION: u16 = 0x0100;
/// The largest Length [`frame_len`] accepts. The largest defined message is the
/// Incoming-Call-Request (220 bytes); this leaves room for vendor messages while
/// bounding what a peer can make us buffer.
pub const MAX_MESSAGE_LEN: usize = 512;

/// Framing Capabilities / Framing Type bits (RFC 2637 §2.1, §2.7).
pub const FRAMING_ASYNC: u32 = 1;
pub const FRAMING_SYNC: u32 = 2;
/// Framing Type "any" in an Outgoing-Call-Request (§2.7).
pub const FRAMING_ANY: u32 = 3;
/// Bearer Capabilities / Bearer Type bits (RFC 2637 §2.1, §2.7).
pub const BEARER_ANALOG: u32 = 1;
pub const BEARER_DIGITAL: u32 = 2;
/// Bearer Type "any" in an Outgoing-Call-Request (§2.7).
pub const BEARER_ANY: u32 = 3;

/// Size of the Host Name and Vendor String fields (§2.1).
pub const HOST_NAME_LEN: usize = 64;
/// Size of the Phone Number, Dialed/Dialing Number and Subaddress fields (§2.7, §2.9).
pub const PHONE_NUMBER_LEN: usize = 64;
/// Size of the Call Statistics field (§2.13).
pub const CALL_STATISTICS_LEN: usize = 128;

/// The Magic Cookie is not 0x1A2B3C4D.
pub const BAD_MAGIC: Error = Error::BadChecksum(Layer::Pptp);

open_enum! {
    /// PPTP Message Type (RFC 2637 §1.4).
    pub enum MessageType: u16 {
        Control = 1,
        /// Defined but "currently not defined" in content.
        Management = 2,
    }
}

open_enum! {
    /// Control Message Type (RFC 2637 §1.4).
    pub enum ControlMessageType: u16 {
        StartControlConnectionRequest = 1,
        StartControlConnectionReply = 2,
        StopControlConnectionRequest = 3,
        StopControlConnectionReply = 4,
        EchoRequest = 5,
        EchoReply = 6,
        OutgoingCallRequest = 7,
        OutgoingCallReply = 8,
        IncomingCallRequest = 9,
        IncomingCallReply = 10,
        IncomingCallConnected = 11,
        CallClearRequest = 12,
        CallDisconnectNotify = 13,
        WanErrorNotify = 14,
        SetLinkInfo = 15,
    }
}

impl ControlMessageType {
    /// The fixed total length (header included) the RFC gives this message, or `None`
    /// for an unknown type.
    pub const fn message_len(self) -> Option<usize> {
        use ControlMessageType as T;
        Some(match self {
            T::StartControlConnectionRequest | T::StartControlConnectionReply => 156,
            T::StopControlConnectionRequest | T::StopControlConnectionReply => 16,
            T::EchoRequest => 16,
            T::EchoReply => 20,
            T::OutgoingCallRequest => 168,
            T::OutgoingCallReply => 32,
            T::IncomingCallRequest => 220,
            T::IncomingCallReply => 24,
            T::IncomingCallConnected => 28,
            T::CallClearRequest => 16,
            T::CallDisconnectNotify => 148,
            T::WanErrorNotify => 40,
            T::SetLinkInfo => 24,
            T::Unknown(_) => return None,
        })
    }
}

open_enum! {
    /// The general Error Code carried beside a "General Error" result (RFC 2637 §2.16).
    pub enum ErrorCode: u8 {
        /// No general error.
        None = 0,
        /// No control connection exists yet.
        NotConnected = 1,
        BadFormat = 2,
        BadValue = 3,
        NoResource = 4,
        BadCallId = 5,
        PacError = 6,
    }
}

open_enum! {
    /// Start-Control-Connection-Reply Result Code (RFC 2637 §2.2).
    pub enum StartResult: u8 {
        Success = 1,
        GeneralError = 2,
        CommandChannelExists = 3,
        NotAuthorized = 4,
        VersionNotSupported = 5,
    }
}

open_enum! {
    /// Stop-Control-Connection-Request Reason (RFC 2637 §2.3).
    pub enum StopReason: u8 {
        /// General request to clear the control connection.
        None = 1,
        /// Cannot support the peer's version of the protocol.
        StopProtocol = 2,
        /// Requester is being shut down.
        StopLocalShutdown = 3,
    }
}

open_enum! {
    /// Stop-Control-Connection-Reply Result Code (RFC 2637 §2.4).
    pub enum StopResult: u8 {
        Ok = 1,
        GeneralError = 2,
    }
}

open_enum! {
    /// Echo-Reply Result Code (RFC 2637 §2.6).
    pub enum EchoResult: u8 {
        Ok = 1,
        GeneralError = 2,
    }
}

open_enum! {
    /// Outgoing-Call-Reply Result Code (RFC 2637 §2.8).
    pub enum OutgoingCallResult: u8 {
        Connected = 1,
        GeneralError = 2,
        NoCarrier = 3,
        Busy = 4,
        NoDialTone = 5,
        TimeOut = 6,
        DoNotAccept = 7,
    }
}

open_enum! {
    /// Incoming-Call-Reply Result Code (RFC 2637 §2.10).
    pub enum IncomingCallResult: u8 {
        Connect = 1,
        GeneralError = 2,
        DoNotAccept = 3,
    }
}

open_enum! {
    /// Call-Disconnect-Notify Result Code (RFC 2637 §2.13).
    pub enum DisconnectResult: u8 {
        LostCarrier = 1,
        GeneralError = 2,
        AdminShutdown = 3,
        Request = 4,
    }
}

/// A read/write view of a PPTP control message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checks; getters may then panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// The buffer holds the header, the Length covers at least the header, and the
    /// buffer holds all Length bytes.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated(Layer::Pptp));
        }
        let length = usize::from(self.length());
        if length < HEADER_LEN {
            return Err(Error::BadLength(Layer::Pptp));
        }
        if len < length {
            return Err(Error::Truncated(Layer::Pptp));
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, f: Field) -> u16 {
        let b = &self.buffer.as_ref()[f];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Total length of the message, header included.
    pub fn length(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }

    pub fn pptp_message_type(&self) -> MessageType {
        MessageType::from(self.u16_at(field::PPTP_MESSAGE_TYPE))
    }

    pub fn magic_cookie(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::MAGIC_COOKIE];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    pub fn control_message_type(&self) -> ControlMessageType {
        ControlMessageType::from(self.u16_at(field::CONTROL_MESSAGE_TYPE))
    }

    pub fn reserved0(&self) -> u16 {
        self.u16_at(field::RESERVED0)
    }

    /// The message body: from the end of the header to Length.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[field::BODY..usize::from(self.length())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_length(&mut self, length: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&length.to_be_bytes());
    }

    pub fn set_pptp_message_type(&mut self, t: MessageType) {
        self.buffer.as_mut()[field::PPTP_MESSAGE_TYPE].copy_from_slice(&u16::from(t).to_be_bytes());
    }

    pub fn set_magic_cookie(&mut self, cookie: u32) {
        self.buffer.as_mut()[field::MAGIC_COOKIE].copy_from_slice(&cookie.to_be_bytes());
    }

    pub fn set_control_message_type(&mut self, t: ControlMessageType) {
        self.buffer.as_mut()[field::CONTROL_MESSAGE_TYPE]
            .copy_from_slice(&u16::from(t).to_be_bytes());
    }

    pub fn set_reserved0(&mut self, v: u16) {
        self.buffer.as_mut()[field::RESERVED0].copy_from_slice(&v.to_be_bytes());
    }

    /// The body area after the header, to the end of the buffer.
    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::BODY..]
    }
}

/// Returns the length of the first complete message at the start of `buf`, `None` if
/// more bytes are needed to know or to have it all. Fails on a Length below the header
/// size or above [`MAX_MESSAGE_LEN`], and on a wrong Magic Cookie as soon as its four
/// bytes are there: all three mean the stream has lost framing and must be closed.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>> {
    let Some(length) = buf.first_chunk::<2>() else {
        return Ok(None);
    };
    let length = usize::from(u16::from_be_bytes(*length));
    if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&length) {
        return Err(Error::BadLength(Layer::Pptp));
    }
    if let Some(cookie) = buf.get(field::MAGIC_COOKIE)
        && cookie != MAGIC_COOKIE.to_be_bytes()
    {
        return Err(BAD_MAGIC);
    }
    Ok((buf.len() >= length).then_some(length))
}

/// Reads a NUL-padded string field of `n` bytes: the bytes before the first NUL.
fn read_string<'a>(r: &mut Reader<'a>, n: usize) -> Result<&'a [u8]> {
    let field = r.take(n)?;
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    Ok(&field[..end])
}

/// Writes `s` into an `n`-byte field, NUL-padded; cut at `n` bytes if longer.
fn write_string(w: &mut Writer<'_>, s: &[u8], n: usize) {
    let s = &s[..s.len().min(n)];
    w.put_slice(s);
    w.reserve(n - s.len());
}

/// Start-Control-Connection-Request (RFC 2637 §2.1), 156 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartControlConnectionRequest<'a> {
    pub protocol_version: u16,
    pub framing_capabilities: u32,
    pub bearer_capabilities: u32,
    pub maximum_channels: u16,
    pub firmware_revision: u16,
    pub host_name: &'a [u8],
    pub vendor_string: &'a [u8],
}

impl<'a> StartControlConnectionRequest<'a> {
    fn parse(r: &mut Reader<'a>) -> Result<Self> {
        let protocol_version = r.u16()?;
        r.u16()?; // Reserved1
        Ok(Self {
            protocol_version,
            framing_capabilities: r.u32()?,
            bearer_capabilities: r.u32()?,
            maximum_channels: r.u16()?,
            firmware_revision: r.u16()?,
            host_name: read_string(r, HOST_NAME_LEN)?,
            vendor_string: read_string(r, HOST_NAME_LEN)?,
        })
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.put_u16(self.protocol_version);
        w.put_u16(0);
        w.put_u32(self.framing_capabilities);
        w.put_u32(self.bearer_capabilities);
        w.put_u16(self.maximum_channels);
        w.put_u16(self.firmware_revision);
        write_string(w, self.host_name, HOST_NAME_LEN);
        write_string(w, self.vendor_string, HOST_NAME_LEN);
    }
}

/// Start-Control-Connection-Reply (RFC 2637 §2.2), 156 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartControlConnectionReply<'a> {
    pub protocol_version: u16,
    pub result_code: StartResult,
    pub error_code: ErrorCode,
    pub framing_capabilities: u32,
    pub bearer_capabilities: u32,
    pub maximum_channels: u16,
    pub firmware_revision: u16,
    pub host_name: &'a [u8],
    pub vendor_string: &'a [u8],
}

impl<'a> StartControlConnectionReply<'a> {
    fn parse(r: &mut Reader<'a>) -> Result<Self> {
        Ok(Self {
            protocol_version: r.u16()?,
            result_code: r.u8()?.into(),
            error_code: r.u8()?.into(),
            framing_capabilities: r.u32()?,
            bearer_capabilities: r.u32()?,
            maximum_channels: r.u16()?,
            firmware_revision: r.u16()?,
            host_name: read_string(r, HOST_NAME_LEN)?,
            vendor_string: read_string(r, HOST_NAME_LEN)?,
        })
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.put_u16(self.protocol_version);
        w.put_u8(self.result_code.into());
        w.put_u8(self.error_code.into());
        w.put_u32(self.framing_capabilities);
        w.put_u32(self.bearer_capabilities);
        w.put_u16(self.maximum_channels);
        w.put_u16(self.firmware_revision);
        write_string(w, self.host_name, HOST_NAME_LEN);
        write_string(w, self.vendor_string, HOST_NAME_LEN);
    }
}

/// Stop-Control-Connection-Request (RFC 2637 §2.3), 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopControlConnectionRequest {
    pub reason: StopReason,
}

impl StopControlConnectionRequest {
    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let reason = r.u8()?.into();
        r.take(3)?; // Reserved1, Reserved2
        Ok(Self { reason })
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.put_u8(self.reason.into());
        w.reserve(3);
    }
}

/// Stop-Control-Connection-Reply (RFC 2637 §2.4), 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopControlConnectionReply {
    pub result_code: StopResult,
    pub error_code: ErrorCode,
}

impl StopControlConnectionReply {
    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let result_code = r.u8()?.into();
        let error_code = r.u8()?.into();
        r.u16()?; // Reserved1
        Ok(Self {
            result_code,
            error_code,
        })
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.put_u8(self.result_code.into());
        w.put_u8(self.error_code.into());
        w.put_u16(0);
    }
}

/// Echo-Request (RFC 2637 §2.5), 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoRequest {
    pub identifier: u32,
}

impl EchoRequest {
    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self {
            identifier: r.u32()?,
        })
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.put_u32(self.identifier);
    }
}

/// Echo-Reply (RFC 2637 §2.6), 20 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoReply {
    pub identifier: u32,
    pub result_code: EchoResult,
    pub error_code: ErrorCode,
}

impl EchoReply {
    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let identifier = r.u32()?;
        let result_code = r.u8()?.into();
        let error_code = r.u8()?.into();
        r.u16()?; // Reserved1
        Ok(Self {
            identifier,
            result_code,
            error_code,
        })
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.put_u32(self.identifier);
        w.put_u8(self.result_code.into());
        w.put_u8(self.error_code.into());
        w.put_u16(0);
    }
}

/// Outgoing-Call-Request (RFC 2637 §2.7), 168 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutgoingCallRequest<'a> {
    pub call_id: u16,
    pub call_serial_number: u16,
    pub minimum_bps: u32,
    pub maximum_bps: u32,
    pub bearer_type: u32,
    pub framing_type: u32,
    pub packet_recv_window_size: u16,
    pub packet_processing_delay: u16,
    pub phone_number_length: u16,
    pub phone_number: &'a [u8],
    pub subaddress: &'a [u8],
}

impl<'a> OutgoingCallRequest<'a> {
    fn parse(r: &mut Reader<'a>) -> Result<Self> {
        let call_id = r.u16()?;
        let call_serial_number = r.u16()?;
        let minimum_bps = r.u32()?;
        let maximum_bps = r.u32()?;
        let bearer_type = r.u32()?;
        let framing_type = r.u32()?;
        let packet_recv_window_size = r.u16()?;
        let packet_processing_delay = r.u16()?;
        let phone_number_length = r.u16()?;
        r.u16()?; // Reserved1
        Ok(Self {
            call_id,
            call_serial_number,
            minimum_bps,
            maximum_bps,
            bearer_type,
            framing_type,
            packet_recv_window_size,
            packet_processing_delay,
            phone_number_length,
            phone_number: read_string(r, PHONE_NUMBER_LEN)?,
            subaddress: read_string(r, PHONE_NUMBER_LEN)?,
        })
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.put_u16(self.call_id);
        w.put_u16(self.call_serial_number);
        w.put_u32(self.minimum_bps);
        w.put_u32(self.maximum_bps);
        w.put_u32(self.bearer_type);
        w.put_u32(self.framing_type);
        w.put_u16(self.packet_recv_window_size);
        w.put_u16(self.packet_processing_delay);
        w.put_u16(self.phone_number_length);
        w.put_u16(0);
        write_string(w, self.phone_number, PHONE_NUMBER_LEN);
        write_string(w, self.subaddress, PHONE_NUMBER_LEN);
    }
}

/// Outgoing-Call-Reply (RFC 2637 §2.8), 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutgoingCallReply {
    pub call_id: u16,
    pub peer_call_id: u16,
    pub result_code: OutgoingCallResult,
    pub error_code: ErrorCode,
    pub cause_code: u16,
    pub connect_speed: u32,
    pub packet_recv_window_size: u16,
    pub packet_processing_delay: u16,
    pub physical_channel_id: u32,
}

impl OutgoingCallReply {
    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self {
            call_id: r.u16()?,
            peer_call_id: r.u16()?,
            result_code: r.u8()?.into(),
            error_code: r.u8()?.into(),
            cause_code: r.u16()?,
            connect_speed: r.u32()?,
            packet_recv_window_size: r.u16()?,
            packet_processing_delay: r.u16()?,
            physical_channel_id: r.u32()?,
        })
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.put_u16(self.call_id);
        w.put_u16(self.peer_call_id);
        w.put_u8(self.result_code.into());
        w.put_u8(self.error_code.into());
        w.put_u16(self.cause_code);
        w.put_u32(self.connect_speed);
        w.put_u16(self.packet_recv_window_size);
        w.put_u16(self.packet_processing_delay);
        w.put_u32(self.physical_channel_id);
    }
}

/// Incoming-Call-Request (RFC 2637 §2.9), 220 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncomingCallRequest<'a> {
    pub call_id: u16,
    pub call_serial_number: u16,
    pub call_bearer_type: u32,
    pub physical_channel_id: u32,
    pub dialed_number_length: u16,
    pub dialing_number_length: u16,
    pub dialed_number: &'a [u8],
    pub dialing_number: &'a [u8],
    pub subaddress: &'a [u8],
}

impl<'a> IncomingCallRequest<'a> {
    fn parse(r: &mut Reader<'a>) -> Result<Self> {
        Ok(Self {
            call_id: r.u16()?,
            call_serial_number: r.u16()?,
            call_bearer_type: r.u32()?,
            physical_channel_id: r.u32()?,
            dialed_number_length: r.u16()?,
            dialing_number_length: r.u16()?,
            dialed_number: read_string(r, PHONE_NUMBER_LEN)?,
            dialing_number: read_string(r, PHONE_NUMBER_LEN)?,
            subaddress: read_string(r, PHONE_NUMBER_LEN)?,
        })
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.put_u16(self.call_id);
        w.put_u16(self.call_serial_number);
        w.put_u32(self.call_bearer_type);
        w.put_u32(self.physical_channel_id);
        w.put_u16(self.dialed_number_length);
        w.put_u16(self.dialing_number_length);
        write_string(w, self.dialed_number, PHONE_NUMBER_LEN);
        write_string(w, self.dialing_number, PHONE_NUMBER_LEN);
        write_string(w, self.subaddress, PHONE_NUMBER_LEN);
    }
}

/// Incoming-Call-Reply (RFC 2637 §2.10), 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncomingCallReply {
    pub call_id: u16,
    pub peer_call_id: u16,
    pub result_code: IncomingCallResult,
    pub error_code: ErrorCode,
    pub packet_recv_window_size: u16,
    pub packet_transmit_delay: u16,
}

impl IncomingCallReply {
    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let call_id = r.u16()?;
        let peer_call_id = r.u16()?;
        let result_code = r.u8()?.into();
        let error_code = r.u8()?.into();
        let packet_recv_window_size = r.u16()?;
        let packet_transmit_delay = r.u16()?;
        r.u16()?; // Reserved1
        Ok(Self {
            call_id,
            peer_call_id,
            result_code,
            error_code,
            packet_recv_window_size,
            packet_transmit_delay,
        })
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.put_u16(self.call_id);
        w.put_u16(self.peer_call_id);
        w.put_u8(self.result_code.into());
        w.put_u8(self.error_code.into());
        w.put_u16(self.packet_recv_window_size);
        w.put_u16(self.packet_transmit_delay);
        w.put_u16(0);
    }
}

/// Incoming-Call-Connected (RFC 2637 §2.11), 28 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncomingCallConnected {
    pub peer_call_id: u16,
    pub connect_speed: u32,
    pub packet_recv_window_size: u16,
    pub packet_transmit_delay: u16,
    pub framing_type: u32,
}

impl IncomingCallConnected {
    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let peer_call_id = r.u16()?;
        r.u16()?; // Reserved1
        Ok(Self {
            peer_call_id,
            connect_speed: r.u32()?,
            packet_recv_window_size: r.u16()?,
            packet_transmit_delay: r.u16()?,
            framing_type: r.u32()?,
        })
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.put_u16(self.peer_call_id);
        w.put_u16(0);
        w.put_u32(self.connect_speed);
        w.put_u16(self.packet_recv_window_size);
        w.put_u16(self.packet_transmit_delay);
        w.put_u32(self.framing_type);
    }
}

/// Call-Clear-Request (RFC 2637 §2.12), 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallClearRequest {
    pub call_id: u16,
}

impl CallClearRequest {
    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let call_id = r.u16()?;
        r.u16()?; // Reserved1
        Ok(Self { call_id })
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.put_u16(self.call_id);
        w.put_u16(0);
    }
}

/// Call-Disconnect-Notify (RFC 2637 §2.13), 148 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallDisconnectNotify<'a> {
    pub call_id: u16,
    pub result_code: DisconnectResult,
    pub error_code: ErrorCode,
    pub cause_code: u16,
    /// Vendor-specific ASCII call statistics.
    pub call_statistics: &'a [u8],
}

impl<'a> CallDisconnectNotify<'a> {
    fn parse(r: &mut Reader<'a>) -> Result<Self> {
        let call_id = r.u16()?;
        let result_code = r.u8()?.into();
        let error_code = r.u8()?.into();
        let cause_code = r.u16()?;
        r.u16()?; // Reserved1
        Ok(Self {
            call_id,
            result_code,
            error_code,
            cause_code,
            call_statistics: read_string(r, CALL_STATISTICS_LEN)?,
        })
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.put_u16(self.call_id);
        w.put_u8(self.result_code.into());
        w.put_u8(self.error_code.into());
        w.put_u16(self.cause_code);
        w.put_u16(0);
        write_string(w, self.call_statistics, CALL_STATISTICS_LEN);
    }
}

/// WAN-Error-Notify (RFC 2637 §2.14), 40 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WanErrorNotify {
    pub peer_call_id: u16,
    pub crc_errors: u32,
    pub framing_errors: u32,
    pub hardware_overruns: u32,
    pub buffer_overruns: u32,
    pub time_out_errors: u32,
    pub alignment_errors: u32,
}

impl WanErrorNotify {
    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let peer_call_id = r.u16()?;
        r.u16()?; // Reserved1
        Ok(Self {
            peer_call_id,
            crc_errors: r.u32()?,
            framing_errors: r.u32()?,
            hardware_overruns: r.u32()?,
            buffer_overruns: r.u32()?,
            time_out_errors: r.u32()?,
            alignment_errors: r.u32()?,
        })
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.put_u16(self.peer_call_id);
        w.put_u16(0);
        w.put_u32(self.crc_errors);
        w.put_u32(self.framing_errors);
        w.put_u32(self.hardware_overruns);
        w.put_u32(self.buffer_overruns);
        w.put_u32(self.time_out_errors);
        w.put_u32(self.alignment_errors);
    }
}

/// Set-Link-Info (RFC 2637 §2.15), 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetLinkInfo {
    pub peer_call_id: u16,
    pub send_accm: u32,
    pub receive_accm: u32,
}

impl SetLinkInfo {
    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let peer_call_id = r.u16()?;
        r.u16()?; // Reserved1
        Ok(Self {
            peer_call_id,
            send_accm: r.u32()?,
            receive_accm: r.u32()?,
        })
    }

    fn emit(&self, w: &mut Writer<'_>) {
        w.put_u16(self.peer_call_id);
        w.put_u16(0);
        w.put_u32(self.send_accm);
        w.put_u32(self.receive_accm);
    }
}

/// One control message body, by Control Message Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    StartControlConnectionRequest(StartControlConnectionRequest<'a>),
    StartControlConnectionReply(StartControlConnectionReply<'a>),
    StopControlConnectionRequest(StopControlConnectionRequest),
    StopControlConnectionReply(StopControlConnectionReply),
    EchoRequest(EchoRequest),
    EchoReply(EchoReply),
    OutgoingCallRequest(OutgoingCallRequest<'a>),
    OutgoingCallReply(OutgoingCallReply),
    IncomingCallRequest(IncomingCallRequest<'a>),
    IncomingCallReply(IncomingCallReply),
    IncomingCallConnected(IncomingCallConnected),
    CallClearRequest(CallClearRequest),
    CallDisconnectNotify(CallDisconnectNotify<'a>),
    WanErrorNotify(WanErrorNotify),
    SetLinkInfo(SetLinkInfo),
    /// An unknown control message type, or any message that is not a control message;
    /// `body` is everything after the header, up to Length. At most
    /// `u16::MAX - 12` bytes.
    Unknown {
        control_message_type: u16,
        body: &'a [u8],
    },
}

impl<'a> Message<'a> {
    pub fn control_message_type(&self) -> ControlMessageType {
        use ControlMessageType as T;
        match self {
            Message::StartControlConnectionRequest(_) => T::StartControlConnectionRequest,
            Message::StartControlConnectionReply(_) => T::StartControlConnectionReply,
            Message::StopControlConnectionRequest(_) => T::StopControlConnectionRequest,
            Message::StopControlConnectionReply(_) => T::StopControlConnectionReply,
            Message::EchoRequest(_) => T::EchoRequest,
            Message::EchoReply(_) => T::EchoReply,
            Message::OutgoingCallRequest(_) => T::OutgoingCallRequest,
            Message::OutgoingCallReply(_) => T::OutgoingCallReply,
            Message::IncomingCallRequest(_) => T::IncomingCallRequest,
            Message::IncomingCallReply(_) => T::IncomingCallReply,
            Message::IncomingCallConnected(_) => T::IncomingCallConnected,
            Message::CallClearRequest(_) => T::CallClearRequest,
            Message::CallDisconnectNotify(_) => T::CallDisconnectNotify,
            Message::WanErrorNotify(_) => T::WanErrorNotify,
            Message::SetLinkInfo(_) => T::SetLinkInfo,
            Message::Unknown {
                control_message_type,
                ..
            } => T::from(*control_message_type),
        }
    }

    /// Parses a known control message body; `body` must be exactly the RFC's size.
    fn parse(t: ControlMessageType, body: &'a [u8]) -> Result<Self> {
        use ControlMessageType as T;
        let r = &mut Reader::new(body, Layer::Pptp);
        let message = match t {
            T::StartControlConnectionRequest => {
                Message::StartControlConnectionRequest(StartControlConnectionRequest::parse(r)?)
            }
            T::StartControlConnectionReply => {
                Message::StartControlConnectionReply(StartControlConnectionReply::parse(r)?)
            }
            T::StopControlConnectionRequest => {
                Message::StopControlConnectionRequest(StopControlConnectionRequest::parse(r)?)
            }
            T::StopControlConnectionReply => {
                Message::StopControlConnectionReply(StopControlConnectionReply::parse(r)?)
            }
            T::EchoRequest => Message::EchoRequest(EchoRequest::parse(r)?),
            T::EchoReply => Message::EchoReply(EchoReply::parse(r)?),
            T::OutgoingCallRequest => Message::OutgoingCallRequest(OutgoingCallRequest::parse(r)?),
            T::OutgoingCallReply => Message::OutgoingCallReply(OutgoingCallReply::parse(r)?),
            T::IncomingCallRequest => Message::IncomingCallRequest(IncomingCallRequest::parse(r)?),
            T::IncomingCallReply => Message::IncomingCallReply(IncomingCallReply::parse(r)?),
            T::IncomingCallConnected => {
                Message::IncomingCallConnected(IncomingCallConnected::parse(r)?)
            }
            T::CallClearRequest => Message::CallClearRequest(CallClearRequest::parse(r)?),
            T::CallDisconnectNotify => {
                Message::CallDisconnectNotify(CallDisconnectNotify::parse(r)?)
            }
            T::WanErrorNotify => Message::WanErrorNotify(WanErrorNotify::parse(r)?),
            T::SetLinkInfo => Message::SetLinkInfo(SetLinkInfo::parse(r)?),
            T::Unknown(control_message_type) => Message::Unknown {
                control_message_type,
                body: r.rest(),
            },
        };
        r.expect_empty()?;
        Ok(message)
    }

    /// Total length of the message, header included.
    pub fn buffer_len(&self) -> usize {
        match self {
            Message::Unknown { body, .. } => HEADER_LEN + body.len(),
            known => known
                .control_message_type()
                .message_len()
                .unwrap_or(HEADER_LEN),
        }
    }

    fn emit(&self, w: &mut Writer<'_>) {
        match self {
            Message::StartControlConnectionRequest(m) => m.emit(w),
            Message::StartControlConnectionReply(m) => m.emit(w),
            Message::StopControlConnectionRequest(m) => m.emit(w),
            Message::StopControlConnectionReply(m) => m.emit(w),
            Message::EchoRequest(m) => m.emit(w),
            Message::EchoReply(m) => m.emit(w),
            Message::OutgoingCallRequest(m) => m.emit(w),
            Message::OutgoingCallReply(m) => m.emit(w),
            Message::IncomingCallRequest(m) => m.emit(w),
            Message::IncomingCallReply(m) => m.emit(w),
            Message::IncomingCallConnected(m) => m.emit(w),
            Message::CallClearRequest(m) => m.emit(w),
            Message::CallDisconnectNotify(m) => m.emit(w),
            Message::WanErrorNotify(m) => m.emit(w),
            Message::SetLinkInfo(m) => m.emit(w),
            Message::Unknown { body, .. } => w.put_slice(body),
        }
    }
}

/// A parsed PPTP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// 1 (control) for every message PPTP defines.
    pub message_type: MessageType,
    pub message: Message<'a>,
}

impl<'a> Repr<'a> {
    /// A control message (PPTP Message Type 1).
    pub const fn control(message: Message<'a>) -> Self {
        Repr {
            message_type: MessageType::Control,
            message,
        }
    }

    /// Parses a checked message: verifies the Magic Cookie and, for known control
    /// messages, that Length is the RFC's fixed size.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self> {
        packet.check_len()?;
        if packet.magic_cookie() != MAGIC_COOKIE {
            return Err(BAD_MAGIC);
        }
        let length = usize::from(packet.length());
        let body = &T::as_ref(packet.buffer)[HEADER_LEN..length];
        let message_type = packet.pptp_message_type();
        let control_message_type = packet.control_message_type();
        let message = match (message_type, control_message_type.message_len()) {
            (MessageType::Control, Some(fixed)) => {
                if length != fixed {
                    return Err(Error::BadLength(Layer::Pptp));
                }
                Message::parse(control_message_type, body)?
            }
            _ => Message::Unknown {
                control_message_type: control_message_type.into(),
                body,
            },
        };
        Ok(Repr {
            message_type,
            message,
        })
    }

    /// `new_checked` + `parse` on raw bytes (one framed message).
    pub fn parse_bytes(bytes: &'a [u8]) -> Result<Self> {
        Self::parse(&Packet::new_checked(bytes)?)
    }

    pub fn buffer_len(&self) -> usize {
        self.message.buffer_len()
    }

    /// Writes the message into a buffer of at least `buffer_len()` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let len = self.buffer_len();
        debug_assert!(len <= usize::from(u16::MAX));
        packet.set_length(u16::try_from(len).unwrap_or(u16::MAX));
        packet.set_pptp_message_type(self.message_type);
        packet.set_magic_cookie(MAGIC_COOKIE);
        packet.set_control_message_type(self.message.control_message_type());
        packet.set_reserved0(0);
        let body_len = len - HEADER_LEN;
        let mut w = Writer::new(&mut packet.body_mut()[..body_len]);
        self.message.emit(&mut w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::{assert_truncations_do_not_panic, assert_truncations_rejected};
    use hex_literal::hex;

    /// Test-only: concatenates hand-written parts into the expected wire bytes.
    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// Test-only: a NUL-padded string field of `n` bytes.
    fn nul(s: &[u8], n: usize) -> Vec<u8> {
        let mut v = s.to_vec();
        v.resize(n, 0);
        v
    }

    /// All 15 control messages, each as its expected bytes (header and body written by
    /// hand from the RFC 2637 §2 layouts) and the Repr that must parse from them.
    fn vectors() -> Vec<(Vec<u8>, Repr<'static>)> {
        vec![
            // SCCRQ: version 1.0, async+sync framing, analog+digital bearer, 0 channels,
            // firmware 0x0a28, host "pns", vendor "shardvpn".
            (
                cat(&[
                    &hex!("009c 0001 1a2b3c4d 0001 0000"),
                    &hex!("0100 0000 00000003 00000003 0000 0a28"),
                    &nul(b"pns", 64),
                    &nul(b"shardvpn", 64),
                ]),
                Repr::control(Message::StartControlConnectionRequest(
                    StartControlConnectionRequest {
                        protocol_version: PROTOCOL_VERSION,
                        framing_capabilities: FRAMING_ASYNC | FRAMING_SYNC,
                        bearer_capabilities: BEARER_ANALOG | BEARER_DIGITAL,
                        maximum_channels: 0,
                        firmware_revision: 0x0a28,
                        host_name: b"pns",
                        vendor_string: b"shardvpn",
                    },
                )),
            ),
            // SCCRP: success, 1 channel, host "pac", vendor "Microsoft".
            (
                cat(&[
                    &hex!("009c 0001 1a2b3c4d 0002 0000"),
                    &hex!("0100 01 00 00000001 00000001 0001 0001"),
                    &nul(b"pac", 64),
                    &nul(b"Microsoft", 64),
                ]),
                Repr::control(Message::StartControlConnectionReply(
                    StartControlConnectionReply {
                        protocol_version: PROTOCOL_VERSION,
                        result_code: StartResult::Success,
                        error_code: ErrorCode::None,
                        framing_capabilities: FRAMING_ASYNC,
                        bearer_capabilities: BEARER_ANALOG,
                        maximum_channels: 1,
                        firmware_revision: 1,
                        host_name: b"pac",
                        vendor_string: b"Microsoft",
                    },
                )),
            ),
            // StopCCRQ: Stop-Local-Shutdown.
            (
                hex!("0010 0001 1a2b3c4d 0003 0000 03 00 0000").to_vec(),
                Repr::control(Message::StopControlConnectionRequest(
                    StopControlConnectionRequest {
                        reason: StopReason::StopLocalShutdown,
                    },
                )),
            ),
            // StopCCRP: General error, Bad-Format.
            (
                hex!("0010 0001 1a2b3c4d 0004 0000 02 02 0000").to_vec(),
                Repr::control(Message::StopControlConnectionReply(
                    StopControlConnectionReply {
                        result_code: StopResult::GeneralError,
                        error_code: ErrorCode::BadFormat,
                    },
                )),
            ),
            // Echo-Request 0xdeadbeef.
            (
                hex!("0010 0001 1a2b3c4d 0005 0000 deadbeef").to_vec(),
                Repr::control(Message::EchoRequest(EchoRequest {
                    identifier: 0xdead_beef,
                })),
            ),
            // Echo-Reply 0xdeadbeef, OK.
            (
                hex!("0014 0001 1a2b3c4d 0006 0000 deadbeef 01 00 0000").to_vec(),
                Repr::control(Message::EchoReply(EchoReply {
                    identifier: 0xdead_beef,
                    result_code: EchoResult::Ok,
                    error_code: ErrorCode::None,
                })),
            ),
            // OCRQ: call 0x1234, serial 7, 300..100000000 bps, any bearer, any framing,
            // window 64, delay 0, phone "5551234" (length 7), no subaddress.
            (
                cat(&[
                    &hex!("00a8 0001 1a2b3c4d 0007 0000"),
                    &hex!("1234 0007 0000012c 05f5e100 00000003 00000003 0040 0000 0007 0000"),
                    &nul(b"5551234", 64),
                    &nul(b"", 64),
                ]),
                Repr::control(Message::OutgoingCallRequest(OutgoingCallRequest {
                    call_id: 0x1234,
                    call_serial_number: 7,
                    minimum_bps: 300,
                    maximum_bps: 100_000_000,
                    bearer_type: BEARER_ANY,
                    framing_type: FRAMING_ANY,
                    packet_recv_window_size: 64,
                    packet_processing_delay: 0,
                    phone_number_length: 7,
                    phone_number: b"5551234",
                    subaddress: b"",
                })),
            ),
            // OCRP: call 0x8001 answering 0x1234, Connected, cause 0, 10 Mbit/s,
            // window 16, delay 0, channel 5.
            (
                hex!(
                    "0020 0001 1a2b3c4d 0008 0000 8001 1234 01 00 0000 00989680 0010 0000 00000005"
                )
                .to_vec(),
                Repr::control(Message::OutgoingCallReply(OutgoingCallReply {
                    call_id: 0x8001,
                    peer_call_id: 0x1234,
                    result_code: OutgoingCallResult::Connected,
                    error_code: ErrorCode::None,
                    cause_code: 0,
                    connect_speed: 10_000_000,
                    packet_recv_window_size: 16,
                    packet_processing_delay: 0,
                    physical_channel_id: 5,
                })),
            ),
            // ICRQ: call 0x0042, serial 1, digital bearer, channel 9, dialed "100"
            // (length 3), dialing "200" (length 3), subaddress "x".
            (
                cat(&[
                    &hex!("00dc 0001 1a2b3c4d 0009 0000"),
                    &hex!("0042 0001 00000002 00000009 0003 0003"),
                    &nul(b"100", 64),
                    &nul(b"200", 64),
                    &nul(b"x", 64),
                ]),
                Repr::control(Message::IncomingCallRequest(IncomingCallRequest {
                    call_id: 0x42,
                    call_serial_number: 1,
                    call_bearer_type: BEARER_DIGITAL,
                    physical_channel_id: 9,
                    dialed_number_length: 3,
                    dialing_number_length: 3,
                    dialed_number: b"100",
                    dialing_number: b"200",
                    subaddress: b"x",
                })),
            ),
            // ICRP: call 0x0043 answering 0x0042, Do Not Accept, window 8, delay 1.
            (
                hex!("0018 0001 1a2b3c4d 000a 0000 0043 0042 03 00 0008 0001 0000").to_vec(),
                Repr::control(Message::IncomingCallReply(IncomingCallReply {
                    call_id: 0x43,
                    peer_call_id: 0x42,
                    result_code: IncomingCallResult::DoNotAccept,
                    error_code: ErrorCode::None,
                    packet_recv_window_size: 8,
                    packet_transmit_delay: 1,
                })),
            ),
            // ICCN: peer call 0x0043, 64000 bit/s, window 8, delay 2, sync framing.
            (
                hex!("001c 0001 1a2b3c4d 000b 0000 0043 0000 0000fa00 0008 0002 00000002").to_vec(),
                Repr::control(Message::IncomingCallConnected(IncomingCallConnected {
                    peer_call_id: 0x43,
                    connect_speed: 64_000,
                    packet_recv_window_size: 8,
                    packet_transmit_delay: 2,
                    framing_type: FRAMING_SYNC,
                })),
            ),
            // Call-Clear-Request: call 0x1234.
            (
                hex!("0010 0001 1a2b3c4d 000c 0000 1234 0000").to_vec(),
                Repr::control(Message::CallClearRequest(CallClearRequest {
                    call_id: 0x1234,
                })),
            ),
            // CDN: call 0x8001, Request, cause 0x0010, statistics "rx 1 tx 2".
            (
                cat(&[
                    &hex!("0094 0001 1a2b3c4d 000d 0000 8001 04 00 0010 0000"),
                    &nul(b"rx 1 tx 2", 128),
                ]),
                Repr::control(Message::CallDisconnectNotify(CallDisconnectNotify {
                    call_id: 0x8001,
                    result_code: DisconnectResult::Request,
                    error_code: ErrorCode::None,
                    cause_code: 0x10,
                    call_statistics: b"rx 1 tx 2",
                })),
            ),
            // WAN-Error-Notify: peer call 0x1234, counters 1..6.
            (
                hex!(
                    "0028 0001 1a2b3c4d 000e 0000 1234 0000"
                    "00000001 00000002 00000003 00000004 00000005 00000006"
                )
                .to_vec(),
                Repr::control(Message::WanErrorNotify(WanErrorNotify {
                    peer_call_id: 0x1234,
                    crc_errors: 1,
                    framing_errors: 2,
                    hardware_overruns: 3,
                    buffer_overruns: 4,
                    time_out_errors: 5,
                    alignment_errors: 6,
                })),
            ),
            // Set-Link-Info: peer call 0x8001, send ACCM 0, receive ACCM 0xffffffff.
            (
                hex!("0018 0001 1a2b3c4d 000f 0000 8001 0000 00000000 ffffffff").to_vec(),
                Repr::control(Message::SetLinkInfo(SetLinkInfo {
                    peer_call_id: 0x8001,
                    send_accm: 0,
                    receive_accm: 0xffff_ffff,
                })),
            ),
        ]
    }

    #[test]
    fn test_vectors_cover_every_message() {
        let v = vectors();
        for (i, (bytes, repr)) in v.iter().enumerate() {
            let t = u16::try_from(i + 1).unwrap();
            assert_eq!(
                repr.message.control_message_type(),
                ControlMessageType::from(t)
            );
            assert_eq!(Some(bytes.len()), ControlMessageType::from(t).message_len());
        }
        assert_eq!(v.len(), 15);
    }

    #[test]
    fn test_deconstruct() {
        let v = vectors();
        let p = Packet::new_checked(&v[0].0[..]).unwrap();
        assert_eq!(p.length(), 156);
        assert_eq!(p.pptp_message_type(), MessageType::Control);
        assert_eq!(p.magic_cookie(), MAGIC_COOKIE);
        assert_eq!(
            p.control_message_type(),
            ControlMessageType::StartControlConnectionRequest
        );
        assert_eq!(p.reserved0(), 0);
        assert_eq!(p.body().len(), 144);
        assert_eq!(&p.body()[..4], &[0x01, 0x00, 0x00, 0x00]);
    }

    #[test]
    fn test_construct() {
        let expected = hex!("0010 0001 1a2b3c4d 0005 0000 deadbeef");
        let mut bytes = [0xffu8; 16];
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.set_length(16);
        p.set_pptp_message_type(MessageType::Control);
        p.set_magic_cookie(MAGIC_COOKIE);
        p.set_control_message_type(ControlMessageType::EchoRequest);
        p.set_reserved0(0);
        p.body_mut().copy_from_slice(&0xdead_beef_u32.to_be_bytes());
        assert_eq!(bytes, expected);
    }

    #[test]
    fn test_check_len() {
        let echo = hex!("0010 0001 1a2b3c4d 0005 0000 deadbeef");
        assert_eq!(
            Packet::new_checked(&echo[..11]),
            Err(Error::Truncated(Layer::Pptp))
        );
        assert_eq!(
            Packet::new_checked(&echo[..15]),
            Err(Error::Truncated(Layer::Pptp))
        );
        let mut short = echo;
        short[1] = 11;
        assert_eq!(
            Packet::new_checked(&short[..]),
            Err(Error::BadLength(Layer::Pptp))
        );
        // A buffer longer than Length: the rest is the next message.
        let mut two = [0u8; 20];
        two[..16].copy_from_slice(&echo);
        let p = Packet::new_checked(&two[..]).unwrap();
        assert_eq!(p.body(), &hex!("deadbeef"));
    }

    #[test]
    fn test_parse() {
        for (bytes, repr) in vectors() {
            let p = Packet::new_checked(&bytes[..]).unwrap();
            assert_eq!(
                Repr::parse(&p),
                Ok(repr),
                "{:?}",
                repr.message.control_message_type()
            );
        }
    }

    #[test]
    fn test_emit() {
        for (bytes, repr) in vectors() {
            let mut buf = vec![0xa5u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            assert_eq!(buf, bytes, "{:?}", repr.message.control_message_type());
        }
    }

    #[test]
    fn test_buffer_len() {
        for (bytes, repr) in vectors() {
            assert_eq!(repr.buffer_len(), bytes.len());
        }
        let unknown = Repr {
            message_type: MessageType::Management,
            message: Message::Unknown {
                control_message_type: 1,
                body: &[1, 2, 3],
            },
        };
        assert_eq!(unknown.buffer_len(), 15);
    }

    #[test]
    fn test_truncations() {
        for (bytes, _) in vectors() {
            assert_truncations_rejected(&bytes, |b| Repr::parse_bytes(b).map(drop));
        }
    }

    #[test]
    fn test_errors() {
        let echo = hex!("0010 0001 1a2b3c4d 0005 0000 deadbeef");
        let mut bad = echo;
        bad[7] = 0x4e;
        assert_eq!(Repr::parse_bytes(&bad), Err(BAD_MAGIC));
        // Known type with the wrong fixed length (an Echo-Request of 20 bytes).
        let long = hex!("0014 0001 1a2b3c4d 0005 0000 deadbeef 00000000");
        assert_eq!(Repr::parse_bytes(&long), Err(Error::BadLength(Layer::Pptp)));
    }

    #[test]
    fn test_unknown_messages() {
        // Unknown control message type 16 with a 2-byte body.
        let bytes = hex!("000e 0001 1a2b3c4d 0010 0000 abcd");
        let repr = Repr::parse_bytes(&bytes).unwrap();
        assert_eq!(
            repr,
            Repr::control(Message::Unknown {
                control_message_type: 16,
                body: &hex!("abcd"),
            })
        );
        let mut buf = [0u8; 14];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, bytes);
        // A management message is opaque even if its control type is known.
        let bytes = hex!("0010 0002 1a2b3c4d 0005 0000 deadbeef");
        assert_eq!(
            Repr::parse_bytes(&bytes),
            Ok(Repr {
                message_type: MessageType::Management,
                message: Message::Unknown {
                    control_message_type: 5,
                    body: &hex!("deadbeef"),
                },
            })
        );
        assert_truncations_rejected(&bytes, |b| Repr::parse_bytes(b).map(drop));
    }

    #[test]
    fn test_strings() {
        // A field without any NUL is taken whole; bytes after the first NUL are
        // ignored; emit cuts an over-long value at the field size.
        let (mut bytes, _) = vectors().swap_remove(0);
        bytes[28..92].fill(b'h');
        bytes[92..156].copy_from_slice(&nul(b"v\0junk", 64));
        let repr = Repr::parse_bytes(&bytes).unwrap();
        let Message::StartControlConnectionRequest(m) = repr.message else {
            panic!("wrong message");
        };
        assert_eq!(m.host_name, &[b'h'; 64][..]);
        assert_eq!(m.vendor_string, b"v");
        let long = [b'z'; 70];
        let repr = Repr::control(Message::StartControlConnectionRequest(
            StartControlConnectionRequest {
                host_name: &long,
                ..m
            },
        ));
        let mut buf = [0u8; 156];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[28..92], &[b'z'; 64][..]);
        assert_eq!(&buf[92..94], b"v\0");
    }

    #[test]
    fn test_frame_len() {
        let echo = hex!("0010 0001 1a2b3c4d 0005 0000 deadbeef");
        assert_eq!(frame_len(&[]), Ok(None));
        assert_eq!(frame_len(&echo[..1]), Ok(None));
        assert_eq!(frame_len(&echo[..15]), Ok(None));
        assert_eq!(frame_len(&echo), Ok(Some(16)));
        let mut stream = echo.to_vec();
        stream.extend_from_slice(&echo[..3]);
        assert_eq!(frame_len(&stream), Ok(Some(16)));
        assert_eq!(frame_len(&hex!("000b")), Err(Error::BadLength(Layer::Pptp)));
        assert_eq!(frame_len(&hex!("0201")), Err(Error::BadLength(Layer::Pptp)));
        assert_eq!(frame_len(&hex!("0200")), Ok(None));
        assert_eq!(frame_len(&hex!("0010 0001 1a2b3c4e")), Err(BAD_MAGIC));
        assert_eq!(frame_len(&hex!("0010 0001 1a2b3c")), Ok(None));
        assert_truncations_do_not_panic(&echo, frame_len);
    }

    #[test]
    fn test_code_points() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(ErrorCode::from(v)), v);
            assert_eq!(u8::from(StartResult::from(v)), v);
            assert_eq!(u8::from(StopReason::from(v)), v);
            assert_eq!(u8::from(OutgoingCallResult::from(v)), v);
            assert_eq!(u8::from(IncomingCallResult::from(v)), v);
            assert_eq!(u8::from(DisconnectResult::from(v)), v);
        }
        for v in 0..=20u16 {
            assert_eq!(u16::from(ControlMessageType::from(v)), v);
        }
        assert_eq!(ErrorCode::from(6), ErrorCode::PacError);
        assert_eq!(OutgoingCallResult::from(7), OutgoingCallResult::DoNotAccept);
        assert_eq!(
            ControlMessageType::from(15),
            ControlMessageType::SetLinkInfo
        );
        assert_eq!(
            ControlMessageType::from(16),
            ControlMessageType::Unknown(16)
        );
    }
}

//! PPP framing (RFC 1661 §2, RFC 1662 §3) and the control-packet format shared by
//! LCP, IPCP, IPv6CP and CCP (RFC 1661 §5, RFC 1570, RFC 1962).
//!
//! A PPP frame as it reaches us (inside L2TP or PPTP GRE, so without HDLC flags, FCS
//! or byte stuffing) is
//!
//! ```text
//! [Address 0xFF  Control 0x03]  Protocol (1 or 2 octets)  Information ...
//! ```
//!
//! - **Address and Control** (RFC 1662 §3.1-3.2) are optional: once ACFC is negotiated
//!   (RFC 1661 §6.6) the sender may omit them. Following RFC 1662 §3.2, a receiver
//!   decides by looking at the first two octets: `FF 03` means they are present,
//!   anything else means they were compressed away. That is unambiguous in practice
//!   because the only Protocol field that could start with `FF` is the compressed
//!   form of 0x00FF, which is reserved for exactly this reason.
//! - **Protocol** (RFC 1661 §2): values have an even high octet and an odd low octet.
//!   With PFC (RFC 1661 §6.5) a value below 0x100 may be sent as its single low octet.
//!   A receiver tells the two forms apart by the first octet: odd means a one-octet
//!   field. A two-octet field whose second octet is even is rejected with
//!   [`Error::Malformed`]; that is a framing error, not a policy decision.
//! - **Information** is the rest of the frame. Padding (RFC 1661 §2) cannot be told
//!   apart from data at this layer; the control-packet Length takes care of it.
//!
//! The data plane uses [`Frame`] to read (`new_checked`, `protocol`, `payload`) and
//! [`header_len`] + [`emit_header`] to prepend a header in front of a payload that
//! is already in its buffer, without copying the payload. Whether to compress is the
//! caller's choice: RFC 1661 §6.5/§6.6 say LCP packets are always sent with both
//! fields uncompressed, so control-plane callers pass `acfc = pfc = false` for
//! [`Protocol::Lcp`]; the framer does not second-guess the flags (this keeps `emit`
//! the mirror image of `parse`).
//!
//! [`ControlPacket`] / [`ControlRepr`] are the Code/Identifier/Length/Data packet of
//! RFC 1661 §5. Octets after Length are padding and are ignored, as §5 requires
//! ("Octets outside the range of the Length field are treated as padding and are
//! ignored on reception"). The data of the codes that have a fixed layout is read
//! with [`ProtocolRejectRepr`], [`MagicDataRepr`] (Echo, Discard, Identification),
//! [`TimeRemainingRepr`], [`CodeRejectRepr`] and [`TerminateRepr`]; Configure-* data
//! is an option list (see [`super::ppp_options`]).
#![forbid(unsafe_code)]

use core::marker::PhantomData;

use super::{Error, Layer, Reader, Result, Writer};

/// RFC 1662 §3.1: the All-Stations address, the only one PPP uses.
pub const ADDRESS_ALL_STATIONS: u8 = 0xFF;
/// RFC 1662 §3.1: Unnumbered Information with the P/F bit clear.
pub const CONTROL_UI: u8 = 0x03;
/// Length of the Address and Control fields when present.
pub const ADDRESS_CONTROL_LEN: usize = 2;

open_enum! {
    /// A PPP Protocol field value (RFC 1661 §2; assigned numbers per IANA).
    pub enum Protocol: u16 {
        /// 0x0021, RFC 1332.
        Ipv4 = 0x0021,
        /// 0x0057, RFC 5072.
        Ipv6 = 0x0057,
        /// 0x00FD, a CCP-compressed (for us: MPPE-encrypted, RFC 3078) datagram.
        CompressedDatagram = 0x00FD,
        /// 0xC021, RFC 1661 §5.
        Lcp = 0xC021,
        /// 0xC023, RFC 1334.
        Pap = 0xC023,
        /// 0xC025, Link Quality Report, RFC 1989.
        Lqr = 0xC025,
        /// 0xC223, RFC 1994.
        Chap = 0xC223,
        /// 0x8021, RFC 1332.
        Ipcp = 0x8021,
        /// 0x8057, RFC 5072.
        Ipv6cp = 0x8057,
        /// 0x80FD, RFC 1962.
        Ccp = 0x80FD,
    }
}

impl Protocol {
    /// RFC 1661 §2: the low octet is odd and the high octet even.
    pub fn is_well_formed(self) -> bool {
        let v = u16::from(self);
        v & 0x0001 == 0x0001 && v & 0x0100 == 0
    }

    /// RFC 1661 §6.5: only values below 0x100 can be sent as a one-octet field.
    pub fn is_compressible(self) -> bool {
        u16::from(self) < 0x100
    }
}

/// Length of the PPP header that [`emit_header`] writes for these flags. `acfc` set
/// means Address and Control are omitted; `pfc` set means the Protocol field is sent
/// as one octet when the protocol allows it.
pub fn header_len(protocol: Protocol, acfc: bool, pfc: bool) -> usize {
    let address_control = if acfc { 0 } else { ADDRESS_CONTROL_LEN };
    let protocol_len = if pfc && protocol.is_compressible() {
        1
    } else {
        2
    };
    address_control + protocol_len
}

/// Writes the PPP header for these flags at the start of `buf` and returns its
/// length ([`header_len`]). The data plane calls it on the bytes just in front of a
/// payload already in place. Panics if `buf` is shorter than [`header_len`].
pub fn emit_header(buf: &mut [u8], protocol: Protocol, acfc: bool, pfc: bool) -> usize {
    let mut w = Writer::new(buf);
    if !acfc {
        w.put_u8(ADDRESS_ALL_STATIONS);
        w.put_u8(CONTROL_UI);
    }
    let value = u16::from(protocol);
    if pfc && protocol.is_compressible() {
        w.put_u8(value as u8);
    } else {
        w.put_u16(value);
    }
    w.position()
}

/// A read-only view of a PPP frame (header + information).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Frame { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks that the header is complete and the Protocol field well formed; after
    /// that every getter is panic-free.
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        let start = self.address_control_len();
        match buf.get(start) {
            None => Err(Error::Truncated(Layer::Ppp)),
            Some(first) if first & 1 == 1 => Ok(()),
            Some(_) => match buf.get(start + 1) {
                None => Err(Error::Truncated(Layer::Ppp)),
                Some(second) if second & 1 == 1 => Ok(()),
                Some(_) => Err(Error::Malformed(
                    Layer::Ppp,
                    "protocol field low octet is even (RFC 1661 §2)",
                )),
            },
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// True if the frame starts with `FF 03` (RFC 1662 §3.2 decompression rule).
    pub fn has_address_control(&self) -> bool {
        self.buffer
            .as_ref()
            .starts_with(&[ADDRESS_ALL_STATIONS, CONTROL_UI])
    }

    fn address_control_len(&self) -> usize {
        if self.has_address_control() {
            ADDRESS_CONTROL_LEN
        } else {
            0
        }
    }

    /// True if the Protocol field is one octet (PFC, RFC 1661 §6.5).
    pub fn is_protocol_compressed(&self) -> bool {
        let buf = self.buffer.as_ref();
        buf[self.address_control_len()] & 1 == 1
    }

    /// Length of Address/Control plus Protocol.
    pub fn header_len(&self) -> usize {
        self.address_control_len() + if self.is_protocol_compressed() { 1 } else { 2 }
    }

    /// The Protocol field, decompressed.
    pub fn protocol(&self) -> Protocol {
        let buf = self.buffer.as_ref();
        let start = self.address_control_len();
        if self.is_protocol_compressed() {
            Protocol::from(u16::from(buf[start]))
        } else {
            Protocol::from(u16::from_be_bytes([buf[start], buf[start + 1]]))
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Frame<&'a T> {
    /// The Information field (everything after the header).
    pub fn payload(&self) -> &'a [u8] {
        let start = self.header_len();
        &self.buffer.as_ref()[start..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

/// A parsed PPP frame. `acfc` / `pfc` record whether the received header was
/// compressed, so that `emit` reproduces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRepr<'a> {
    pub protocol: Protocol,
    /// Address and Control omitted.
    pub acfc: bool,
    /// Protocol sent as one octet (only honoured for values below 0x100).
    pub pfc: bool,
    pub payload: &'a [u8],
}

impl<'a> FrameRepr<'a> {
    pub fn parse<T: AsRef<[u8]> + ?Sized>(frame: &Frame<&'a T>) -> Result<Self> {
        frame.check_len()?;
        Ok(FrameRepr {
            protocol: frame.protocol(),
            acfc: !frame.has_address_control(),
            pfc: frame.is_protocol_compressed(),
            payload: frame.payload(),
        })
    }

    pub fn header_len(&self) -> usize {
        header_len(self.protocol, self.acfc, self.pfc)
    }

    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Writes header and payload into the first `buffer_len()` octets of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let n = emit_header(buf, self.protocol, self.acfc, self.pfc);
        buf[n..n + self.payload.len()].copy_from_slice(self.payload);
    }
}

open_enum! {
    /// Code of an LCP/NCP/CCP control packet (RFC 1661 §5, RFC 1570, RFC 1962).
    pub enum Code: u8 {
        ConfigureRequest = 1,
        ConfigureAck = 2,
        ConfigureNak = 3,
        ConfigureReject = 4,
        TerminateRequest = 5,
        TerminateAck = 6,
        CodeReject = 7,
        ProtocolReject = 8,
        EchoRequest = 9,
        EchoReply = 10,
        DiscardRequest = 11,
        /// RFC 1570 §2.1.
        Identification = 12,
        /// RFC 1570 §2.2.
        TimeRemaining = 13,
        /// CCP only, RFC 1962 §1.
        ResetRequest = 14,
        /// CCP only, RFC 1962 §1.
        ResetAck = 15,
    }
}

/// Byte ranges of the RFC 1661 §5 packet header.
pub mod field {
    use crate::wire::{Field, Rest};
    pub const CODE: usize = 0;
    pub const IDENTIFIER: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const DATA: Rest = 4..;
}

/// Octets of Code + Identifier + Length.
pub const CONTROL_HEADER_LEN: usize = 4;

/// What distinguishes the users of the RFC 1661 §5 packet format (LCP and the NCPs,
/// PAP, CHAP): their code enum and the layer their errors are counted under.
pub trait PacketKind {
    type Code: From<u8> + Into<u8>;
    const LAYER: Layer;
}

/// LCP, IPCP, IPv6CP and CCP control packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Control;

impl PacketKind for Control {
    type Code = Code;
    const LAYER: Layer = Layer::Ppp;
}

/// A view of a packet in the RFC 1661 §5 format: Code, Identifier, Length, Data. LCP
/// and the NCPs ([`ControlPacket`]), PAP and CHAP share it; `K` names the code enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodedPacket<T: AsRef<[u8]>, K> {
    buffer: T,
    kind: PhantomData<K>,
}

/// An LCP / NCP / CCP control packet.
pub type ControlPacket<T> = CodedPacket<T, Control>;

impl<T: AsRef<[u8]>, K: PacketKind> CodedPacket<T, K> {
    pub const fn new_unchecked(buffer: T) -> Self {
        CodedPacket {
            buffer,
            kind: PhantomData,
        }
    }

    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the header is present and `4 <= Length <= buffer length`.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < CONTROL_HEADER_LEN {
            return Err(Error::Truncated(K::LAYER));
        }
        let length = usize::from(self.length());
        if length < CONTROL_HEADER_LEN {
            return Err(Error::BadLength(K::LAYER));
        }
        if length > len {
            return Err(Error::Truncated(K::LAYER));
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn code(&self) -> K::Code {
        K::Code::from(self.buffer.as_ref()[field::CODE])
    }

    pub fn identifier(&self) -> u8 {
        self.buffer.as_ref()[field::IDENTIFIER]
    }

    pub fn length(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized, K: PacketKind> CodedPacket<&'a T, K> {
    /// The Data field, bounded by Length (padding after it is excluded).
    pub fn data(&self) -> &'a [u8] {
        let end = usize::from(self.length());
        &self.buffer.as_ref()[CONTROL_HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>, K: PacketKind> CodedPacket<T, K> {
    pub fn set_code(&mut self, code: K::Code) {
        self.buffer.as_mut()[field::CODE] = code.into();
    }

    pub fn set_identifier(&mut self, identifier: u8) {
        self.buffer.as_mut()[field::IDENTIFIER] = identifier;
    }

    pub fn set_length(&mut self, length: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&length.to_be_bytes());
    }

    /// Everything after the header (not bounded by Length, so it can be filled
    /// before Length is set).
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }
}

/// A parsed control packet; `data` is interpreted according to `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlRepr<'a> {
    pub code: Code,
    pub identifier: u8,
    pub data: &'a [u8],
}

/// Largest data that fits the 16-bit Length.
pub const MAX_CONTROL_DATA_LEN: usize = u16::MAX as usize - CONTROL_HEADER_LEN;

impl<'a> ControlRepr<'a> {
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &ControlPacket<&'a T>) -> Result<Self> {
        packet.check_len()?;
        Ok(ControlRepr {
            code: packet.code(),
            identifier: packet.identifier(),
            data: packet.data(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        CONTROL_HEADER_LEN + self.data.len()
    }

    /// Writes the packet. `data` must be at most [`MAX_CONTROL_DATA_LEN`] octets
    /// (a PPP MRU is far smaller; anything longer is a caller bug and panics).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ControlPacket<T>) {
        let length = u16::try_from(self.buffer_len()).expect("control packet too long");
        packet.set_code(self.code);
        packet.set_identifier(self.identifier);
        packet.set_length(length);
        packet.data_mut()[..self.data.len()].copy_from_slice(self.data);
    }
}

/// Data of a Protocol-Reject (RFC 1661 §5.7): the rejected protocol and as much of
/// the rejected packet's information field as fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolRejectRepr<'a> {
    pub rejected_protocol: Protocol,
    pub rejected_information: &'a [u8],
}

impl<'a> ProtocolRejectRepr<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(data, Layer::Ppp);
        let rejected_protocol = Protocol::from(r.u16()?);
        Ok(ProtocolRejectRepr {
            rejected_protocol,
            rejected_information: r.rest(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        2 + self.rejected_information.len()
    }

    pub fn emit(&self, data: &mut [u8]) {
        let mut w = Writer::new(data);
        w.put_u16(self.rejected_protocol.into());
        w.put_slice(self.rejected_information);
    }
}

/// Data of Echo-Request, Echo-Reply, Discard-Request (RFC 1661 §5.8-5.9) and
/// Identification (RFC 1570 §2.1): a Magic-Number followed by opaque data (for
/// Identification, the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MagicDataRepr<'a> {
    pub magic_number: u32,
    pub data: &'a [u8],
}

impl<'a> MagicDataRepr<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(data, Layer::Ppp);
        let magic_number = r.u32()?;
        Ok(MagicDataRepr {
            magic_number,
            data: r.rest(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        4 + self.data.len()
    }

    pub fn emit(&self, data: &mut [u8]) {
        let mut w = Writer::new(data);
        w.put_u32(self.magic_number);
        w.put_slice(self.data);
    }
}

/// Data of Time-Remaining (RFC 1570 §2.2): Magic-Number, Seconds-Remaining, message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRemainingRepr<'a> {
    pub magic_number: u32,
    pub seconds_remaining: u32,
    pub message: &'a [u8],
}

impl<'a> TimeRemainingRepr<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(data, Layer::Ppp);
        let magic_number = r.u32()?;
        let seconds_remaining = r.u32()?;
        Ok(TimeRemainingRepr {
            magic_number,
            seconds_remaining,
            message: r.rest(),
        })
    }

    pub fn buffer_len(&self) -> usize {
        8 + self.message.len()
    }

    pub fn emit(&self, data: &mut [u8]) {
        let mut w = Writer::new(data);
        w.put_u32(self.magic_number);
        w.put_u32(self.seconds_remaining);
        w.put_slice(self.message);
    }
}

/// Data of a Code-Reject (RFC 1661 §5.6): a copy of the rejected packet, truncated
/// to fit the peer's MRU. Because of that truncation its own Length may exceed what
/// is present, so it is kept as bytes; [`CodeRejectRepr::rejected_code`] reads the
/// one field the engine needs (a rejected Configure-* or Terminate-* is fatal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRejectRepr<'a> {
    pub rejected_packet: &'a [u8],
}

impl<'a> CodeRejectRepr<'a> {
    /// The rejected packet must at least hold its Code octet.
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        if data.is_empty() {
            return Err(Error::Truncated(Layer::Ppp));
        }
        Ok(CodeRejectRepr {
            rejected_packet: data,
        })
    }

    pub fn rejected_code(&self) -> Code {
        Code::from(self.rejected_packet[field::CODE])
    }

    /// The rejected packet's Identifier, if it was not cut before it.
    pub fn rejected_identifier(&self) -> Option<u8> {
        self.rejected_packet.get(field::IDENTIFIER).copied()
    }

    pub fn buffer_len(&self) -> usize {
        self.rejected_packet.len()
    }

    pub fn emit(&self, data: &mut [u8]) {
        data[..self.rejected_packet.len()].copy_from_slice(self.rejected_packet);
    }
}

/// Data of Terminate-Request / Terminate-Ack (RFC 1661 §5.4): uninterpreted, often a
/// human-readable reason, possibly empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminateRepr<'a> {
    pub data: &'a [u8],
}

impl<'a> TerminateRepr<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        Ok(TerminateRepr { data })
    }

    pub fn buffer_len(&self) -> usize {
        self.data.len()
    }

    pub fn emit(&self, data: &mut [u8]) {
        data[..self.data.len()].copy_from_slice(self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::{assert_truncations_do_not_panic, assert_truncations_rejected};

    // FF 03, IPCP, then a Configure-Request, identifier 1, length 10, IP-Address 0.0.0.0.
    static FRAME_FULL: [u8; 14] = [
        0xff, 0x03, 0x80, 0x21, 0x01, 0x01, 0x00, 0x0a, 0x03, 0x06, 0x00, 0x00, 0x00, 0x00,
    ];
    // ACFC + PFC: IPv4 in one octet, then a 4-octet payload.
    static FRAME_COMPRESSED: [u8; 5] = [0x21, 0x45, 0x00, 0x00, 0x14];
    // ACFC only, two-octet IPv6.
    static FRAME_ACFC: [u8; 4] = [0x00, 0x57, 0x60, 0x00];

    // LCP Echo-Request, id 7, magic 0x01020304, data "hi", plus 2 octets of padding.
    static ECHO_REQUEST: [u8; 12] = [
        0x09, 0x07, 0x00, 0x0a, 0x01, 0x02, 0x03, 0x04, b'h', b'i', 0xee, 0xee,
    ];
    // LCP Protocol-Reject, id 3, rejected protocol 0x8057 with information 01 02.
    static PROTOCOL_REJECT: [u8; 8] = [0x08, 0x03, 0x00, 0x08, 0x80, 0x57, 0x01, 0x02];
    // Time-Remaining, id 1, magic 0x0a0b0c0d, 3600 s, "x".
    static TIME_REMAINING: [u8; 13] = [
        0x0d, 0x01, 0x00, 0x0d, 0x0a, 0x0b, 0x0c, 0x0d, 0x00, 0x00, 0x0e, 0x10, b'x',
    ];

    #[test]
    fn deconstruct_frame() {
        let f = Frame::new_checked(&FRAME_FULL[..]).unwrap();
        assert!(f.has_address_control());
        assert!(!f.is_protocol_compressed());
        assert_eq!(f.header_len(), 4);
        assert_eq!(f.protocol(), Protocol::Ipcp);
        assert_eq!(f.payload(), &FRAME_FULL[4..]);

        let f = Frame::new_checked(&FRAME_COMPRESSED[..]).unwrap();
        assert!(!f.has_address_control());
        assert!(f.is_protocol_compressed());
        assert_eq!(f.protocol(), Protocol::Ipv4);
        assert_eq!(f.payload(), &[0x45, 0x00, 0x00, 0x14]);

        let f = Frame::new_checked(&FRAME_ACFC[..]).unwrap();
        assert_eq!(f.protocol(), Protocol::Ipv6);
        assert_eq!(f.header_len(), 2);
        assert_eq!(f.payload(), &[0x60, 0x00]);
    }

    #[test]
    fn construct_frame() {
        // Header in front of a payload that is already in place.
        let mut buf = [0u8; 14];
        buf[4..].copy_from_slice(&FRAME_FULL[4..]);
        let h = header_len(Protocol::Ipcp, false, true);
        assert_eq!(h, 4);
        assert_eq!(
            emit_header(&mut buf[4 - h..4], Protocol::Ipcp, false, true),
            4
        );
        assert_eq!(buf, FRAME_FULL);

        let mut buf = [0u8; 5];
        buf[1..].copy_from_slice(&FRAME_COMPRESSED[1..]);
        assert_eq!(header_len(Protocol::Ipv4, true, true), 1);
        emit_header(&mut buf[..1], Protocol::Ipv4, true, true);
        assert_eq!(buf, FRAME_COMPRESSED);

        let mut f = Frame::new_checked(buf).unwrap();
        f.payload_mut()[0] = 0x46;
        assert_eq!(f.into_inner()[1], 0x46);
    }

    #[test]
    fn frame_check_len() {
        assert_eq!(
            Frame::new_checked(&[][..]),
            Err(Error::Truncated(Layer::Ppp))
        );
        assert_eq!(
            Frame::new_checked(&[0xff, 0x03][..]),
            Err(Error::Truncated(Layer::Ppp))
        );
        assert_eq!(
            Frame::new_checked(&[0xff, 0x03, 0xc0][..]),
            Err(Error::Truncated(Layer::Ppp))
        );
        // Even low octet: 0xC020 is not a valid protocol number.
        assert!(matches!(
            Frame::new_checked(&[0xff, 0x03, 0xc0, 0x20][..]),
            Err(Error::Malformed(Layer::Ppp, _))
        ));
        // A header with no information is valid at this layer.
        assert!(Frame::new_checked(&[0xff, 0x03, 0x21][..]).is_ok());
        // FF not followed by 03 is not an Address field: FF is odd, so it is the
        // one-octet (reserved) protocol 0x00FF.
        let f = Frame::new_checked(&[0xff, 0x05][..]).unwrap();
        assert_eq!(f.protocol(), Protocol::Unknown(0x00ff));
    }

    #[test]
    fn parse_frame() {
        let repr = FrameRepr::parse(&Frame::new_unchecked(&FRAME_COMPRESSED[..])).unwrap();
        assert_eq!(
            repr,
            FrameRepr {
                protocol: Protocol::Ipv4,
                acfc: true,
                pfc: true,
                payload: &FRAME_COMPRESSED[1..],
            }
        );
        let repr = FrameRepr::parse(&Frame::new_unchecked(&FRAME_FULL[..])).unwrap();
        assert_eq!(repr.protocol, Protocol::Ipcp);
        assert!(!repr.acfc);
        assert!(!repr.pfc);
    }

    #[test]
    fn emit_frame() {
        for bytes in [&FRAME_FULL[..], &FRAME_COMPRESSED[..], &FRAME_ACFC[..]] {
            let repr = FrameRepr::parse(&Frame::new_unchecked(bytes)).unwrap();
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut buf);
            assert_eq!(buf, bytes);
        }
    }

    #[test]
    fn frame_buffer_len() {
        assert_eq!(header_len(Protocol::Lcp, false, false), 4);
        // LCP cannot be protocol-compressed.
        assert_eq!(header_len(Protocol::Lcp, true, true), 2);
        assert_eq!(header_len(Protocol::Ipv4, true, false), 2);
        let repr = FrameRepr {
            protocol: Protocol::Ipv6,
            acfc: false,
            pfc: true,
            payload: &[1, 2, 3],
        };
        assert_eq!(repr.buffer_len(), 6);
    }

    #[test]
    fn frame_truncations() {
        for bytes in [&FRAME_FULL[..], &FRAME_COMPRESSED[..], &FRAME_ACFC[..]] {
            assert_truncations_do_not_panic(bytes, |b| {
                FrameRepr::parse(&Frame::new_checked(b)?).map(|_| ())
            });
        }
    }

    #[test]
    fn protocol_numbers() {
        for (v, p) in [
            (0x0021, Protocol::Ipv4),
            (0x0057, Protocol::Ipv6),
            (0x00fd, Protocol::CompressedDatagram),
            (0xc021, Protocol::Lcp),
            (0xc023, Protocol::Pap),
            (0xc025, Protocol::Lqr),
            (0xc223, Protocol::Chap),
            (0x8021, Protocol::Ipcp),
            (0x8057, Protocol::Ipv6cp),
            (0x80fd, Protocol::Ccp),
            (0x1234, Protocol::Unknown(0x1234)),
        ] {
            assert_eq!(Protocol::from(v), p);
            assert_eq!(u16::from(p), v);
        }
        assert!(Protocol::Lcp.is_well_formed());
        assert!(!Protocol::Unknown(0x0120).is_well_formed());
        assert!(!Protocol::Unknown(0x0121).is_well_formed());
    }

    #[test]
    fn deconstruct_control() {
        let p = ControlPacket::new_checked(&ECHO_REQUEST[..]).unwrap();
        assert_eq!(p.code(), Code::EchoRequest);
        assert_eq!(p.identifier(), 7);
        assert_eq!(p.length(), 10);
        // Padding after Length is excluded.
        assert_eq!(p.data(), &[1, 2, 3, 4, b'h', b'i']);
        let echo = MagicDataRepr::parse(p.data()).unwrap();
        assert_eq!(echo.magic_number, 0x01020304);
        assert_eq!(echo.data, b"hi");
    }

    #[test]
    fn construct_control() {
        let mut buf = [0xeeu8; 12];
        let mut p = ControlPacket::new_unchecked(&mut buf[..]);
        p.set_code(Code::EchoRequest);
        p.set_identifier(7);
        p.set_length(10);
        p.data_mut()[..6].copy_from_slice(&[1, 2, 3, 4, b'h', b'i']);
        assert_eq!(buf, ECHO_REQUEST);
    }

    #[test]
    fn control_check_len() {
        assert_eq!(
            ControlPacket::new_checked(&[9, 1, 0][..]),
            Err(Error::Truncated(Layer::Ppp))
        );
        assert_eq!(
            ControlPacket::new_checked(&[9, 1, 0, 3][..]),
            Err(Error::BadLength(Layer::Ppp))
        );
        assert_eq!(
            ControlPacket::new_checked(&[9, 1, 0, 5, 0][..]).map(|_| ()),
            Ok(())
        );
        assert_eq!(
            ControlPacket::new_checked(&[9, 1, 0, 6, 0][..]),
            Err(Error::Truncated(Layer::Ppp))
        );
        // Length 4 (no data) is the minimum, valid for Terminate-Ack.
        let p = ControlPacket::new_checked(&[6, 1, 0, 4][..]).unwrap();
        assert_eq!(p.data(), &[] as &[u8]);
    }

    #[test]
    fn parse_control() {
        let repr = ControlRepr::parse(&ControlPacket::new_unchecked(&PROTOCOL_REJECT[..])).unwrap();
        assert_eq!(repr.code, Code::ProtocolReject);
        assert_eq!(repr.identifier, 3);
        let rej = ProtocolRejectRepr::parse(repr.data).unwrap();
        assert_eq!(
            rej,
            ProtocolRejectRepr {
                rejected_protocol: Protocol::Ipv6cp,
                rejected_information: &[1, 2],
            }
        );
        let repr = ControlRepr::parse(&ControlPacket::new_unchecked(&TIME_REMAINING[..])).unwrap();
        assert_eq!(repr.code, Code::TimeRemaining);
        assert_eq!(
            TimeRemainingRepr::parse(repr.data).unwrap(),
            TimeRemainingRepr {
                magic_number: 0x0a0b0c0d,
                seconds_remaining: 3600,
                message: b"x",
            }
        );
        // A Code-Reject of the Protocol-Reject above, cut after 6 octets.
        let rej = CodeRejectRepr::parse(&PROTOCOL_REJECT[..6]).unwrap();
        assert_eq!(rej.rejected_code(), Code::ProtocolReject);
        assert_eq!(rej.rejected_identifier(), Some(3));
        let rej = CodeRejectRepr::parse(&[0x0e]).unwrap();
        assert_eq!(rej.rejected_code(), Code::ResetRequest);
        assert_eq!(rej.rejected_identifier(), None);
        assert_eq!(
            CodeRejectRepr::parse(&[]),
            Err(Error::Truncated(Layer::Ppp))
        );
        assert_eq!(
            TerminateRepr::parse(b"bye"),
            Ok(TerminateRepr { data: b"bye" })
        );
    }

    #[test]
    fn emit_control() {
        let mut data = [0u8; 4];
        let rej = ProtocolRejectRepr {
            rejected_protocol: Protocol::Ipv6cp,
            rejected_information: &[1, 2],
        };
        rej.emit(&mut data);
        let repr = ControlRepr {
            code: Code::ProtocolReject,
            identifier: 3,
            data: &data,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut ControlPacket::new_unchecked(&mut buf[..]));
        assert_eq!(buf, PROTOCOL_REJECT);

        let mut data = [0u8; 9];
        TimeRemainingRepr {
            magic_number: 0x0a0b0c0d,
            seconds_remaining: 3600,
            message: b"x",
        }
        .emit(&mut data);
        assert_eq!(data, TIME_REMAINING[4..]);

        let echo = MagicDataRepr {
            magic_number: 0x01020304,
            data: b"hi",
        };
        let mut data = [0u8; 6];
        echo.emit(&mut data);
        assert_eq!(data, ECHO_REQUEST[4..10]);

        let rej = CodeRejectRepr {
            rejected_packet: &PROTOCOL_REJECT[..6],
        };
        let mut data = [0u8; 6];
        rej.emit(&mut data);
        assert_eq!(data, PROTOCOL_REJECT[..6]);
        assert_eq!(rej.buffer_len(), 6);

        let term = TerminateRepr { data: b"bye" };
        let mut data = [0u8; 3];
        term.emit(&mut data);
        assert_eq!(&data, b"bye");
        assert_eq!(term.buffer_len(), 3);
    }

    #[test]
    fn control_buffer_len() {
        let repr = ControlRepr {
            code: Code::TerminateAck,
            identifier: 0,
            data: &[],
        };
        assert_eq!(repr.buffer_len(), 4);
        let echo = MagicDataRepr {
            magic_number: 0,
            data: b"abc",
        };
        assert_eq!(echo.buffer_len(), 7);
        assert_eq!(
            ProtocolRejectRepr {
                rejected_protocol: Protocol::Ccp,
                rejected_information: &[0; 5]
            }
            .buffer_len(),
            7
        );
        assert_eq!(
            TimeRemainingRepr {
                magic_number: 0,
                seconds_remaining: 0,
                message: b"ab"
            }
            .buffer_len(),
            10
        );
    }

    #[test]
    fn control_truncations() {
        for bytes in [
            &ECHO_REQUEST[..10],
            &PROTOCOL_REJECT[..],
            &TIME_REMAINING[..],
        ] {
            assert_truncations_rejected(bytes, |b| {
                ControlRepr::parse(&ControlPacket::new_checked(b)?).map(|_| ())
            });
        }
        // The data layouts have no length of their own: only their fixed part is
        // required.
        assert_truncations_rejected(&ECHO_REQUEST[4..8], |b| MagicDataRepr::parse(b).map(|_| ()));
        assert_truncations_rejected(&PROTOCOL_REJECT[4..6], |b| {
            ProtocolRejectRepr::parse(b).map(|_| ())
        });
        assert_truncations_rejected(&PROTOCOL_REJECT[..1], |b| {
            CodeRejectRepr::parse(b).map(|_| ())
        });
        assert_truncations_rejected(&TIME_REMAINING[4..12], |b| {
            TimeRemainingRepr::parse(b).map(|_| ())
        });
    }

    #[test]
    fn codes() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(Code::from(v)), v);
        }
        assert_eq!(Code::from(14), Code::ResetRequest);
        assert_eq!(Code::from(16), Code::Unknown(16));
    }
}

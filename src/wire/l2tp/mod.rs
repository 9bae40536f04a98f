//! L2TPv2 message header (RFC 2661 §3.1), shared by control and data messages.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |T|L|x|x|S|x|O|P|x|x|x|x|  Ver  |          Length (opt)         |
//! |           Tunnel ID           |           Session ID          |
//! |             Ns (opt)          |             Nr (opt)          |
//! |      Offset Size (opt)        |    Offset pad... (opt)
//! ```
//!
//! The header is variable: the position of Tunnel ID depends on L, the end of the header
//! on S and O (and on the Offset Size value). [`Packet`] computes every offset from the
//! flags, so the data plane can read `tunnel_id()`, `session_id()` and `payload()` of a
//! checked packet without building a [`Repr`].
//!
//! AVPs (§4) live in [`avp`]; a control message's payload is its AVP chain, read with
//! [`Packet::avps`] and written with [`emit_control`] (or [`avp::emit_chain`] into
//! `payload_mut()` after [`Repr::emit_header`]).
//!
//! Decisions:
//! - `Ver` must be 2 ([`VERSION`]); anything else (1 is L2F, 3 is L2TPv3) is
//!   [`Error::BadVersion`], the RFC's "MUST be discarded".
//! - The structural rules for control messages are checked by `new_checked`: T=1
//!   requires L=1 and S=1 and forbids O (§3.1), because without them the control plane
//!   cannot find the message end or its sequence numbers. The P bit "MUST be 0" on
//!   control messages too, but it changes no layout: it is reported by
//!   [`Packet::priority`] and left to the engine.
//! - The reserved `x` bits are ignored on input and written as 0 (§3.1).
//! - The Length field counts the whole message, header included. A Length larger than
//!   the buffer is [`Error::Truncated`]; a Length smaller than the header (offset pad
//!   included) is [`Error::BadLength`]. Bytes after Length are ignored rather than
//!   rejected: Length is authoritative for the message, `payload()` ends there, and a
//!   datagram padded below L2TP still parses.
//! - [`Repr`] records whether Length is present (`with_length`), not its value, which
//!   `emit` always derives; so a `Repr` cannot hold an inconsistent Length.
//! - The offset pad is undefined on input and written as zeros.
//! - A ZLB (zero-length body, §5.8) is a control message with an empty payload; it has
//!   no Message Type ([`Packet::message_type`] returns `Ok(None)`).
#![forbid(unsafe_code)]

pub mod avp;

use crate::wire::{Error, Layer, Result};

pub use avp::{AttributeType, AvpIter, AvpRepr, AvpValue, MessageType};

/// The only version this module speaks (§3.1).
pub const VERSION: u8 = 2;
/// The version value that marks an L2TPv3 header (RFC 3931 §3.2); rejected like any
/// other unknown version, named for logs.
pub const VERSION_L2TPV3: u8 = 3;
/// The well-known UDP port (§8.1).
pub const UDP_PORT: u16 = 1701;

/// Bits of the first 16-bit word (§3.1).
pub mod flags {
    /// Type: 1 for a control message, 0 for a data message.
    pub const T: u16 = 0x8000;
    /// Length field present.
    pub const L: u16 = 0x4000;
    /// Ns and Nr present.
    pub const S: u16 = 0x0800;
    /// Offset Size present.
    pub const O: u16 = 0x0200;
    /// Priority (data messages only).
    pub const P: u16 = 0x0100;
    /// The version nibble.
    pub const VER: u16 = 0x000f;
}

/// Fixed byte ranges. Only `FLAGS` is at a fixed place; the rest are computed by
/// [`Packet`] from the flags.
mod field {
    use crate::wire::Field;
    pub const FLAGS: Field = 0..2;
}

/// The smallest header: flags, Tunnel ID, Session ID.
pub const MIN_HEADER_LEN: usize = 6;
/// A control message header: flags, Length, IDs, Ns, Nr.
pub const CONTROL_HEADER_LEN: usize = 12;

/// A borrowed view of an L2TP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks; accessors may panic on a short or malformed buffer.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// A view of untrusted bytes: [`Self::check_len`] has passed.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the version, the control-message rules and every length, so that no
    /// accessor panics.
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        if buf.len() < field::FLAGS.end {
            return Err(Error::Truncated(Layer::L2tp));
        }
        if self.version() != VERSION {
            return Err(Error::BadVersion(Layer::L2tp));
        }
        if self.is_control() {
            if !self.has_length() {
                return Err(Error::Malformed(
                    Layer::L2tp,
                    "control message without L bit",
                ));
            }
            if !self.has_sequence() {
                return Err(Error::Malformed(
                    Layer::L2tp,
                    "control message without S bit",
                ));
            }
            if self.has_offset() {
                return Err(Error::Malformed(Layer::L2tp, "control message with O bit"));
            }
        }
        let fixed = self.fixed_header_len();
        if buf.len() < fixed {
            return Err(Error::Truncated(Layer::L2tp));
        }
        let header_len = self.header_len();
        match self.length() {
            Some(length) => {
                let length = usize::from(length);
                if length > buf.len() {
                    return Err(Error::Truncated(Layer::L2tp));
                }
                if length < header_len {
                    return Err(Error::BadLength(Layer::L2tp));
                }
            }
            None => {
                if header_len > buf.len() {
                    return Err(Error::Truncated(Layer::L2tp));
                }
            }
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn word(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    /// The first 16-bit word: flags and version.
    pub fn flags(&self) -> u16 {
        self.word(field::FLAGS.start)
    }

    /// T bit: a control message.
    pub fn is_control(&self) -> bool {
        self.flags() & flags::T != 0
    }

    /// L bit: the Length field is present.
    pub fn has_length(&self) -> bool {
        self.flags() & flags::L != 0
    }

    /// S bit: Ns and Nr are present.
    pub fn has_sequence(&self) -> bool {
        self.flags() & flags::S != 0
    }

    /// O bit: Offset Size is present.
    pub fn has_offset(&self) -> bool {
        self.flags() & flags::O != 0
    }

    /// P bit: preferential treatment of a data message.
    pub fn priority(&self) -> bool {
        self.flags() & flags::P != 0
    }

    /// The Ver nibble.
    pub fn version(&self) -> u8 {
        (self.flags() & flags::VER) as u8
    }

    fn ids_at(&self) -> usize {
        if self.has_length() { 4 } else { 2 }
    }

    fn sequence_at(&self) -> usize {
        self.ids_at() + 4
    }

    fn offset_at(&self) -> usize {
        self.sequence_at() + if self.has_sequence() { 4 } else { 0 }
    }

    /// The header length up to and including Offset Size, without the offset pad.
    fn fixed_header_len(&self) -> usize {
        self.offset_at() + if self.has_offset() { 2 } else { 0 }
    }

    /// The Length field, if present.
    pub fn length(&self) -> Option<u16> {
        self.has_length().then(|| self.word(2))
    }

    pub fn tunnel_id(&self) -> u16 {
        self.word(self.ids_at())
    }

    pub fn session_id(&self) -> u16 {
        self.word(self.ids_at() + 2)
    }

    /// Ns, if the S bit is set.
    pub fn ns(&self) -> Option<u16> {
        self.has_sequence().then(|| self.word(self.sequence_at()))
    }

    /// Nr, if the S bit is set.
    pub fn nr(&self) -> Option<u16> {
        self.has_sequence()
            .then(|| self.word(self.sequence_at() + 2))
    }

    /// Offset Size, if the O bit is set: the pad octets between the header and the
    /// payload.
    pub fn offset_size(&self) -> Option<u16> {
        self.has_offset().then(|| self.word(self.offset_at()))
    }

    /// The whole header, offset pad included.
    pub fn header_len(&self) -> usize {
        self.fixed_header_len() + self.offset_size().map_or(0, usize::from)
    }

    /// The end of the message: Length if present, else the buffer end.
    fn message_end(&self) -> usize {
        self.length()
            .map_or(self.buffer.as_ref().len(), usize::from)
    }

    /// The payload: a PPP frame for data messages, the AVP chain for control messages.
    /// Ends at Length when the L bit is set.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.message_end()]
    }

    /// A ZLB acknowledgement (§5.8): a control message without AVPs.
    pub fn is_zlb(&self) -> bool {
        self.is_control() && self.header_len() == self.message_end()
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload with the buffer's lifetime.
    pub fn payload_ref(&self) -> &'a [u8] {
        let end = self.message_end();
        &self.buffer.as_ref()[self.header_len()..end]
    }

    /// The AVP chain of a control message (empty for a ZLB). Meaningless for data
    /// messages, whose payload is PPP.
    pub fn avps(&self) -> AvpIter<'a> {
        AvpIter::new(self.payload_ref())
    }

    /// The Message Type of a control message: `Ok(None)` for a ZLB, an error if the
    /// first AVP is malformed or is not a Message Type AVP (§4.1, §4.4.1).
    pub fn message_type(&self) -> Result<Option<MessageType>> {
        avp::message_type(self.payload_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_word(&mut self, at: usize, value: u16) {
        self.buffer.as_mut()[at..at + 2].copy_from_slice(&value.to_be_bytes());
    }

    /// Writes the flags word (which fixes the layout of every later field).
    pub fn set_flags(&mut self, value: u16) {
        self.set_word(field::FLAGS.start, value)
    }

    /// Panics if the L bit is clear.
    pub fn set_length(&mut self, value: u16) {
        assert!(self.has_length());
        self.set_word(2, value)
    }

    pub fn set_tunnel_id(&mut self, value: u16) {
        let at = self.ids_at();
        self.set_word(at, value)
    }

    pub fn set_session_id(&mut self, value: u16) {
        let at = self.ids_at() + 2;
        self.set_word(at, value)
    }

    /// Panics if the S bit is clear.
    pub fn set_ns(&mut self, value: u16) {
        assert!(self.has_sequence());
        let at = self.sequence_at();
        self.set_word(at, value)
    }

    /// Panics if the S bit is clear.
    pub fn set_nr(&mut self, value: u16) {
        assert!(self.has_sequence());
        let at = self.sequence_at() + 2;
        self.set_word(at, value)
    }

    /// Writes Offset Size and zeroes the pad. Panics if the O bit is clear.
    pub fn set_offset_size(&mut self, value: u16) {
        assert!(self.has_offset());
        let at = self.offset_at();
        self.set_word(at, value);
        let pad = at + 2;
        self.buffer.as_mut()[pad..pad + usize::from(value)].fill(0);
    }

    /// The payload area: from the header end to Length (or the buffer end).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), self.message_end());
        &mut self.buffer.as_mut()[start..end]
    }
}

/// Ns and Nr (§3.1, §5.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sequence {
    pub ns: u16,
    pub nr: u16,
}

/// A validated L2TP message.
///
/// `with_length` says whether the L bit is set; the Length value itself is always
/// derived (`buffer_len()`), so a `Repr` cannot carry an inconsistent one. Build control
/// messages with [`Repr::control`], which sets the fields §3.1 requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    pub control: bool,
    pub with_length: bool,
    pub tunnel_id: u16,
    pub session_id: u16,
    pub sequence: Option<Sequence>,
    /// Offset Size; the pad is written as zeros.
    pub offset: Option<u16>,
    pub priority: bool,
    /// PPP frame (data) or AVP chain (control).
    pub payload: &'a [u8],
}

impl<'a> Repr<'a> {
    /// A control message (T, L and S set, §3.1). An empty `avps` is a ZLB.
    pub const fn control(
        tunnel_id: u16,
        session_id: u16,
        ns: u16,
        nr: u16,
        avps: &'a [u8],
    ) -> Self {
        Repr {
            control: true,
            with_length: true,
            tunnel_id,
            session_id,
            sequence: Some(Sequence { ns, nr }),
            offset: None,
            priority: false,
            payload: avps,
        }
    }

    /// The shortest data message: no Length, no sequence, no offset.
    pub const fn data(tunnel_id: u16, session_id: u16, ppp: &'a [u8]) -> Self {
        Repr {
            control: false,
            with_length: false,
            tunnel_id,
            session_id,
            sequence: None,
            offset: None,
            priority: false,
            payload: ppp,
        }
    }

    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Repr<'a>> {
        packet.check_len()?;
        let sequence = match (packet.ns(), packet.nr()) {
            (Some(ns), Some(nr)) => Some(Sequence { ns, nr }),
            _ => None,
        };
        Ok(Repr {
            control: packet.is_control(),
            with_length: packet.has_length(),
            tunnel_id: packet.tunnel_id(),
            session_id: packet.session_id(),
            sequence,
            offset: packet.offset_size(),
            priority: packet.priority(),
            payload: packet.payload_ref(),
        })
    }

    /// The flags word this Repr emits.
    pub fn flags(&self) -> u16 {
        let mut f = u16::from(VERSION);
        if self.control {
            f |= flags::T;
        }
        if self.with_length {
            f |= flags::L;
        }
        if self.sequence.is_some() {
            f |= flags::S;
        }
        if self.offset.is_some() {
            f |= flags::O;
        }
        if self.priority {
            f |= flags::P;
        }
        f
    }

    /// Header length, offset pad included.
    pub fn header_len(&self) -> usize {
        MIN_HEADER_LEN
            + if self.with_length { 2 } else { 0 }
            + if self.sequence.is_some() { 4 } else { 0 }
            + self.offset.map_or(0, |o| 2 + usize::from(o))
    }

    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Writes the header for a payload of `payload_len` octets, which the caller then
    /// writes into `packet.payload_mut()` (e.g. with [`avp::emit_chain`]). The packet
    /// buffer must hold at least `header_len() + payload_len` octets, and that sum must
    /// fit the 16-bit Length when `with_length` is set (it is truncated otherwise).
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        payload_len: usize,
    ) {
        packet.set_flags(self.flags());
        if self.with_length {
            packet.set_length((self.header_len() + payload_len) as u16);
        }
        packet.set_tunnel_id(self.tunnel_id);
        packet.set_session_id(self.session_id);
        if let Some(seq) = self.sequence {
            packet.set_ns(seq.ns);
            packet.set_nr(seq.nr);
        }
        if let Some(offset) = self.offset {
            packet.set_offset_size(offset);
        }
    }

    /// Writes header and payload. The buffer must hold `buffer_len()` octets.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        self.emit_header(packet, self.payload.len());
        let start = self.header_len();
        packet.buffer.as_mut()[start..start + self.payload.len()].copy_from_slice(self.payload);
    }

    /// The Message Type of a control message (see [`Packet::message_type`]).
    pub fn message_type(&self) -> Result<Option<MessageType>> {
        avp::message_type(self.payload)
    }

    /// The AVP chain of a control message.
    pub fn avps(&self) -> AvpIter<'a> {
        AvpIter::new(self.payload)
    }
}

/// The length of a control message carrying `avps`.
pub fn control_buffer_len(avps: &[AvpRepr<'_>]) -> usize {
    CONTROL_HEADER_LEN + avp::chain_len(avps)
}

/// Writes a control message carrying `avps` into `buf` (at least
/// [`control_buffer_len`] octets) and returns its length. `avps` may be empty (a ZLB).
pub fn emit_control(
    tunnel_id: u16,
    session_id: u16,
    sequence: Sequence,
    avps: &[AvpRepr<'_>],
    buf: &mut [u8],
) -> usize {
    let repr = Repr::control(tunnel_id, session_id, sequence.ns, sequence.nr, &[]);
    let chain = avp::chain_len(avps);
    let mut packet = Packet::new_unchecked(&mut buf[..CONTROL_HEADER_LEN + chain]);
    repr.emit_header(&mut packet, chain);
    avp::emit_chain(avps, packet.payload_mut());
    CONTROL_HEADER_LEN + chain
}

#[cfg(test)]
mod tests;

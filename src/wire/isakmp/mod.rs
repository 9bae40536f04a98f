//! ISAKMP / IKEv1 messages: the header (RFC 2408 §3.1), the generic payload chain
//! (§3.2) and the typed payloads of IKEv1 (RFC 2408 §3.3-§3.15, RFC 2407 §4, RFC 2409),
//! NAT traversal (RFC 3947 and its drafts) and dead peer detection (RFC 3706).
//!
//! Layout: this file holds the header ([`Packet`], [`HeaderRepr`]), the generic
//! payload header ([`PayloadPacket`]), the chain iterator ([`Payloads`]), the parsed
//! [`Message`] and the [`MessageBuilder`]; `sa` holds SA / Proposal / Transform,
//! `attribute` the data attributes and their classes, `payload` every other payload
//! and the [`Payload`] enum that ties them together.
//!
//! Decisions, where the RFCs leave room:
//! - **Version.** Major version must be 1 ([`Error::BadVersion`]; this is also what
//!   tells IKEv2, major 2, apart on port 500). The minor version is kept, not checked:
//!   RFC 2408 §3.1 asks receivers to refuse minor versions above their own, which is
//!   policy for the engine.
//! - **Length.** The header's Length must be at least 28 and at most the buffer. Bytes
//!   of the datagram after Length are not part of the message (RFC 2408 §3.1 defines
//!   the message by Length) and are ignored rather than failing the datagram; they are
//!   reachable through [`Packet::trailer`] for a policy that wants to count them.
//! - **Encryption.** With the E flag set the body after the header is ciphertext:
//!   [`Message::payloads`] refuses it; the engine decrypts the body and walks the
//!   plaintext with [`Payloads::new`] in [`Trailing::PaddingAllowed`] mode, because
//!   the plaintext is padded to the cipher's block size after the last payload (RFC 2409
//!   Appendix B: zero bytes; §5.3: zeros and a count in the last byte; peers do either,
//!   so the padding's content is not checked here).
//!   A clear message is walked in [`Trailing::Strict`] mode: after the payload whose
//!   Next Payload is NONE nothing may follow.
//! - **RESERVED.** RFC 2408 §3.2 says RESERVED "MUST be set to 0"; we write zeros and
//!   ignore the value on receipt, as IKEv2 later made explicit (RFC 7296 §3.2: "MUST
//!   be ignored on receipt") and Microsoft's MS-AIPS says of the same header ("The
//!   responder MUST ignore this field"): a stray bit is not worth a failed phase 1.
//!   The same holds for the RESERVED fields inside payloads (Transform, NAT-OA).
//! - **Payload numbers.** NAT-D / NAT-OA have RFC 3947 numbers (20, 21) and the
//!   private-range numbers of draft-ietf-ipsec-nat-t-ike-02/03 (130, 131); both are
//!   parsed, and the [`Payload`] variant remembers which was used so that a reply can
//!   mirror the peer's dialect.
//! - **Policy is not parsed.** Nonce length (RFC 2409 §5: 8..256 bytes), DOI values,
//!   which payloads may appear in which exchange: all left to the engine; helpers such
//!   as [`NonceRepr::len_ok`] make the checks one-liners.
//!
//! Shape: the header and the generic payload header have smoltcp `Packet` views; the
//! payload bodies behind them are small and fixed-layout, so they are read and written
//! only through their Reprs (`parse(body)` / `buffer_len()` / `emit(body)`), with the
//! generic header handled once by [`Payloads`] and [`Payload::emit`].
//!
//! Reprs borrow the buffer. Lists inside a payload (proposals, transforms, attributes)
//! are a [`List`]: either the validated wire bytes (after `parse`) or a slice of item
//! Reprs (to build), iterated the same way and compared item by item.
#![forbid(unsafe_code)]

use super::{Error, Field, Layer, Reader, Rest, Result, Writer};

pub mod attribute;
pub mod payload;
pub mod sa;

pub use attribute::{AttributeValue, DataAttribute};
pub use payload::*;
pub use sa::{Doi, ProposalRepr, ProtocolId, SaRepr, TransformRepr};

/// Byte ranges of the ISAKMP header (RFC 2408 §3.1).
pub mod field {
    use super::{Field, Rest};
    pub const INITIATOR_COOKIE: Field = 0..8;
    pub const RESPONDER_COOKIE: Field = 8..16;
    pub const NEXT_PAYLOAD: usize = 16;
    /// Major version in the high nibble, minor in the low one.
    pub const VERSION: usize = 17;
    pub const EXCHANGE_TYPE: usize = 18;
    pub const FLAGS: usize = 19;
    pub const MESSAGE_ID: Field = 20..24;
    pub const LENGTH: Field = 24..28;
    pub const BODY: Rest = 28..;
}

/// Length of the ISAKMP header (RFC 2408 §3.1).
pub const HEADER_LEN: usize = field::BODY.start;
/// The only major version we speak (RFC 2408 §3.1).
pub const MAJOR_VERSION: u8 = 1;
/// The minor version we send (RFC 2408 §3.1: "MUST set the Minor Version to 0").
pub const MINOR_VERSION: u8 = 0;
/// Length of the generic payload header (RFC 2408 §3.2).
pub const PAYLOAD_HEADER_LEN: usize = 4;

open_enum! {
    /// Exchange types (RFC 2408 §3.1 and §4; Quick Mode and New Group: RFC 2409 §5.5,
    /// §6). Main Mode is ISAKMP's Identity Protection exchange.
    pub enum ExchangeType: u8 {
        Base = 1,
        IdentityProtection = 2,
        AuthenticationOnly = 3,
        Aggressive = 4,
        Informational = 5,
        Quick = 32,
        NewGroup = 33,
    }
}

impl ExchangeType {
    /// RFC 2409's name for Identity Protection.
    pub const MAIN: ExchangeType = ExchangeType::IdentityProtection;
}

open_enum! {
    /// Payload types (RFC 2408 §3.1; NAT-D/NAT-OA: RFC 3947 §3.2, §5.2 and the
    /// private numbers of draft-ietf-ipsec-nat-t-ike-02/03; Fragment: the
    /// Cisco/Microsoft IKE fragmentation extension; Attributes: Mode Config,
    /// draft-ietf-ipsec-isakmp-mode-cfg, named only).
    pub enum PayloadType: u8 {
        None = 0,
        SecurityAssociation = 1,
        Proposal = 2,
        Transform = 3,
        KeyExchange = 4,
        Identification = 5,
        Certificate = 6,
        CertificateRequest = 7,
        Hash = 8,
        Signature = 9,
        Nonce = 10,
        Notification = 11,
        Delete = 12,
        VendorId = 13,
        Attributes = 14,
        NatD = 20,
        NatOa = 21,
        NatDDraft = 130,
        NatOaDraft = 131,
        Fragment = 132,
    }
}

/// The header flags (RFC 2408 §3.1). Unknown bits are kept as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    /// E: the payloads after the header are encrypted.
    pub const ENCRYPTION: u8 = 0x01;
    /// C: commit (synchronise key exchange, RFC 2408 §3.1).
    pub const COMMIT: u8 = 0x02;
    /// A: authentication only (RFC 2408 §3.1).
    pub const AUTHENTICATION_ONLY: u8 = 0x04;

    pub const fn encryption(self) -> bool {
        self.0 & Self::ENCRYPTION != 0
    }
    pub const fn commit(self) -> bool {
        self.0 & Self::COMMIT != 0
    }
    pub const fn authentication_only(self) -> bool {
        self.0 & Self::AUTHENTICATION_ONLY != 0
    }
}

/// A read/write view of an ISAKMP message (header + body).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// `new_unchecked` followed by [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The buffer holds the header, Length is at least the header, and the buffer
    /// holds Length bytes. After this every getter is in bounds.
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated(Layer::Isakmp));
        }
        let length = self.length();
        if length < HEADER_LEN as u32 {
            return Err(Error::BadLength(Layer::Isakmp));
        }
        if length as usize > buf.len() {
            return Err(Error::Truncated(Layer::Isakmp));
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn array8(&self, f: Field) -> [u8; 8] {
        let mut out = [0u8; 8];
        out.copy_from_slice(&self.buffer.as_ref()[f]);
        out
    }

    pub fn initiator_cookie(&self) -> [u8; 8] {
        self.array8(field::INITIATOR_COOKIE)
    }
    pub fn responder_cookie(&self) -> [u8; 8] {
        self.array8(field::RESPONDER_COOKIE)
    }
    pub fn next_payload(&self) -> PayloadType {
        PayloadType::from(self.buffer.as_ref()[field::NEXT_PAYLOAD])
    }
    pub fn major_version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION] >> 4
    }
    pub fn minor_version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION] & 0x0f
    }
    pub fn exchange_type(&self) -> ExchangeType {
        ExchangeType::from(self.buffer.as_ref()[field::EXCHANGE_TYPE])
    }
    pub fn flags(&self) -> Flags {
        Flags(self.buffer.as_ref()[field::FLAGS])
    }
    pub fn message_id(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::MESSAGE_ID];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }
    pub fn length(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The bytes after the header up to Length: the payload chain, or ciphertext when
    /// the E flag is set. Requires a checked packet.
    pub fn body(&self) -> &'a [u8] {
        let len = self.length() as usize;
        &self.buffer.as_ref()[HEADER_LEN..len]
    }

    /// Bytes of the buffer after Length (not part of the message).
    pub fn trailer(&self) -> &'a [u8] {
        let len = self.length() as usize;
        &self.buffer.as_ref()[len..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_initiator_cookie(&mut self, v: [u8; 8]) {
        self.buffer.as_mut()[field::INITIATOR_COOKIE].copy_from_slice(&v);
    }
    pub fn set_responder_cookie(&mut self, v: [u8; 8]) {
        self.buffer.as_mut()[field::RESPONDER_COOKIE].copy_from_slice(&v);
    }
    pub fn set_next_payload(&mut self, v: PayloadType) {
        self.buffer.as_mut()[field::NEXT_PAYLOAD] = v.into();
    }
    pub fn set_version(&mut self, major: u8, minor: u8) {
        self.buffer.as_mut()[field::VERSION] = (major << 4) | (minor & 0x0f);
    }
    pub fn set_exchange_type(&mut self, v: ExchangeType) {
        self.buffer.as_mut()[field::EXCHANGE_TYPE] = v.into();
    }
    pub fn set_flags(&mut self, v: Flags) {
        self.buffer.as_mut()[field::FLAGS] = v.0;
    }
    pub fn set_message_id(&mut self, v: u32) {
        self.buffer.as_mut()[field::MESSAGE_ID].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_length(&mut self, v: u32) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }
    /// The bytes after the header, to the end of the buffer.
    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::BODY]
    }
}

/// The ISAKMP header (RFC 2408 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRepr {
    pub initiator_cookie: [u8; 8],
    pub responder_cookie: [u8; 8],
    /// Type of the first payload of the body.
    pub next_payload: PayloadType,
    pub minor_version: u8,
    pub exchange_type: ExchangeType,
    pub flags: Flags,
    pub message_id: u32,
    /// Length of the whole message, header included.
    pub length: u32,
}

impl HeaderRepr {
    /// Parses the header of a checked packet; fails with `BadVersion` unless the major
    /// version is 1.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Self> {
        packet.check_len()?;
        if packet.major_version() != MAJOR_VERSION {
            return Err(Error::BadVersion(Layer::Isakmp));
        }
        Ok(HeaderRepr {
            initiator_cookie: packet.initiator_cookie(),
            responder_cookie: packet.responder_cookie(),
            next_payload: packet.next_payload(),
            minor_version: packet.minor_version(),
            exchange_type: packet.exchange_type(),
            flags: packet.flags(),
            message_id: packet.message_id(),
            length: packet.length(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header (version 1.minor) into the first 28 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_initiator_cookie(self.initiator_cookie);
        packet.set_responder_cookie(self.responder_cookie);
        packet.set_next_payload(self.next_payload);
        packet.set_version(MAJOR_VERSION, self.minor_version);
        packet.set_exchange_type(self.exchange_type);
        packet.set_flags(self.flags);
        packet.set_message_id(self.message_id);
        packet.set_length(self.length);
    }
}

/// Byte ranges of the generic payload header (RFC 2408 §3.2).
pub mod payload_field {
    use super::{Field, Rest};
    pub const NEXT_PAYLOAD: usize = 0;
    pub const RESERVED: usize = 1;
    pub const PAYLOAD_LENGTH: Field = 2..4;
    pub const BODY: Rest = 4..;
}

/// A view of one payload: generic header + body (RFC 2408 §3.2).
#[derive(Debug, Clone)]
pub struct PayloadPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> PayloadPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        PayloadPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The buffer holds the generic header, Payload Length is at least 4 and the
    /// buffer holds Payload Length bytes.
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        if buf.len() < PAYLOAD_HEADER_LEN {
            return Err(Error::Truncated(Layer::IsakmpPayload));
        }
        let len = usize::from(self.payload_length());
        if len < PAYLOAD_HEADER_LEN {
            return Err(Error::BadLength(Layer::IsakmpPayload));
        }
        if len > buf.len() {
            return Err(Error::Truncated(Layer::IsakmpPayload));
        }
        Ok(())
    }

    pub fn next_payload(&self) -> PayloadType {
        PayloadType::from(self.buffer.as_ref()[payload_field::NEXT_PAYLOAD])
    }
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[payload_field::RESERVED]
    }
    pub fn payload_length(&self) -> u16 {
        let b = &self.buffer.as_ref()[payload_field::PAYLOAD_LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> PayloadPacket<&'a T> {
    /// The payload body (after the generic header, up to Payload Length).
    pub fn body(&self) -> &'a [u8] {
        &self.buffer.as_ref()[PAYLOAD_HEADER_LEN..usize::from(self.payload_length())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> PayloadPacket<T> {
    pub fn set_next_payload(&mut self, v: PayloadType) {
        self.buffer.as_mut()[payload_field::NEXT_PAYLOAD] = v.into();
    }
    pub fn set_reserved(&mut self, v: u8) {
        self.buffer.as_mut()[payload_field::RESERVED] = v;
    }
    pub fn set_payload_length(&mut self, v: u16) {
        self.buffer.as_mut()[payload_field::PAYLOAD_LENGTH].copy_from_slice(&v.to_be_bytes());
    }
    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[payload_field::BODY]
    }
}

/// What may follow the last payload of a chain (the one whose Next Payload is NONE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trailing {
    /// Nothing: a clear message, or a payload's inner chain.
    Strict,
    /// Anything: decrypted plaintext, padded to the block size (RFC 2409 Appendix B).
    PaddingAllowed,
}

/// Iterator over a payload chain: yields `(type, body)` for each payload, the type
/// coming from the previous payload's Next Payload (or the header's for the first).
/// After an error it yields nothing more.
#[derive(Debug, Clone)]
pub struct Payloads<'a> {
    next: PayloadType,
    reader: Reader<'a>,
    trailing: Trailing,
    done: bool,
}

impl<'a> Payloads<'a> {
    /// A chain starting with a payload of type `first` at the front of `body`.
    pub fn new(first: PayloadType, body: &'a [u8], trailing: Trailing) -> Self {
        Payloads {
            next: first,
            reader: Reader::new(body, Layer::IsakmpPayload),
            trailing,
            done: false,
        }
    }

    /// Maps each raw payload through [`Payload::parse`].
    pub fn typed(self) -> impl Iterator<Item = Result<Payload<'a>>> + 'a {
        self.map(|r| r.and_then(|(t, body)| Payload::parse(t, body)))
    }

    fn step(&mut self) -> Option<Result<(PayloadType, &'a [u8])>> {
        if self.next == PayloadType::None {
            self.done = true;
            if self.trailing == Trailing::Strict && !self.reader.is_empty() {
                return Some(Err(Error::TrailingData(Layer::IsakmpPayload)));
            }
            return None;
        }
        let r = (|| {
            let next = self.reader.u8()?;
            let _reserved = self.reader.u8()?;
            let len = usize::from(self.reader.u16()?);
            if len < PAYLOAD_HEADER_LEN {
                return Err(Error::BadLength(Layer::IsakmpPayload));
            }
            let body = self.reader.take(len - PAYLOAD_HEADER_LEN)?;
            Ok((PayloadType::from(next), body))
        })();
        match r {
            Ok((next, body)) => {
                let this = self.next;
                self.next = next;
                Some(Ok((this, body)))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<'a> Iterator for Payloads<'a> {
    type Item = Result<(PayloadType, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.step()
    }
}

/// A parsed message: the header and the body it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub header: HeaderRepr,
    /// The payload chain, or ciphertext when `header.flags.encryption()`.
    pub body: &'a [u8],
}

impl<'a> Message<'a> {
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self> {
        let header = HeaderRepr::parse(packet)?;
        Ok(Message {
            header,
            body: packet.body(),
        })
    }

    /// Checks and parses a datagram's bytes.
    pub fn parse_bytes(buf: &'a [u8]) -> Result<Self> {
        Self::parse(&Packet::new_checked(buf)?)
    }

    pub fn is_encrypted(&self) -> bool {
        self.header.flags.encryption()
    }

    /// The payload chain of a clear message (strict: nothing after the last payload).
    /// Fails for an encrypted message: decrypt [`Message::body`] and use
    /// [`Payloads::new`] with [`Trailing::PaddingAllowed`].
    pub fn payloads(&self) -> Result<Payloads<'a>> {
        if self.is_encrypted() {
            return Err(Error::Malformed(Layer::Isakmp, "body is encrypted"));
        }
        Ok(Payloads::new(
            self.header.next_payload,
            self.body,
            Trailing::Strict,
        ))
    }
}

/// Length of a payload chain built from `payloads` (generic headers included).
pub fn chain_len(payloads: &[Payload<'_>]) -> usize {
    payloads.iter().map(Payload::buffer_len).sum()
}

/// Writes `payloads` as a chain into the front of `buf` (at least [`chain_len`]
/// bytes), filling in each Next Payload and Payload Length; returns the length
/// written. This is the plaintext an encrypted message is made of; the type of the
/// first payload goes in the header's Next Payload.
pub fn emit_chain(payloads: &[Payload<'_>], buf: &mut [u8]) -> usize {
    let mut offset = 0;
    for (i, p) in payloads.iter().enumerate() {
        let next = payloads
            .get(i + 1)
            .map_or(PayloadType::None, Payload::payload_type);
        let len = p.buffer_len();
        p.emit(next, &mut buf[offset..offset + len]);
        offset += len;
    }
    offset
}

/// Builds a clear message from header fields and payload Reprs: the header's Next
/// Payload and Length are filled in from the payloads.
#[derive(Debug, Clone, Copy)]
pub struct MessageBuilder<'a> {
    /// `next_payload` and `length` are ignored (computed).
    pub header: HeaderRepr,
    pub payloads: &'a [Payload<'a>],
}

impl MessageBuilder<'_> {
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + chain_len(self.payloads)
    }

    /// Writes the message into the front of `buf` (at least `buffer_len()` bytes).
    pub fn emit(&self, buf: &mut [u8]) {
        let mut header = self.header;
        header.next_payload = self
            .payloads
            .first()
            .map_or(PayloadType::None, Payload::payload_type);
        header.length = u32::try_from(self.buffer_len()).unwrap_or(u32::MAX);
        let mut packet = Packet::new_unchecked(&mut *buf);
        header.emit(&mut packet);
        emit_chain(self.payloads, &mut buf[HEADER_LEN..]);
    }
}

/// A list of items inside a payload (proposals in an SA, transforms in a proposal,
/// attributes in a transform): validated wire bytes or Reprs to emit. Equality
/// compares the items, whatever their storage.
#[derive(Debug, Clone, Copy)]
pub enum List<'a, T> {
    /// Bytes validated by [`List::parse`].
    Wire(&'a [u8]),
    /// Items to emit, in order.
    Items(&'a [T]),
}

/// An element of a [`List`].
pub trait Item<'a>: Copy + Sized {
    /// Reads one item from the front of `r`; for chained items (proposals,
    /// transforms) also whether its Next Payload announces another item.
    fn read(r: &mut Reader<'a>) -> Result<(Self, Option<bool>)>;
    /// Encoded length of the item.
    fn encoded_len(&self) -> usize;
    /// Writes the item; `is_last` selects Next Payload NONE for chained items.
    fn write(&self, w: &mut Writer<'_>, is_last: bool);
}

impl<'a, T: Item<'a>> List<'a, T> {
    /// Validates every item of `bytes` (and the chaining rules) and keeps the bytes.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let list = List::Wire(bytes);
        for item in list.iter() {
            item?;
        }
        Ok(list)
    }

    pub fn iter(&self) -> ListIter<'a, T> {
        match *self {
            List::Wire(b) => ListIter {
                inner: ListIterInner::Wire {
                    reader: Reader::new(b, Layer::IsakmpPayload),
                    more: None,
                    done: false,
                },
            },
            List::Items(items) => ListIter {
                inner: ListIterInner::Items(items.iter()),
            },
        }
    }

    /// Number of items (for a wire list: of the valid items before any error).
    pub fn count(&self) -> usize {
        match *self {
            List::Wire(_) => self.iter().take_while(Result::is_ok).count(),
            List::Items(items) => items.len(),
        }
    }

    pub fn buffer_len(&self) -> usize {
        match *self {
            List::Wire(b) => b.len(),
            List::Items(items) => items.iter().map(Item::encoded_len).sum(),
        }
    }

    /// Writes the list into the front of `buf` (at least `buffer_len()` bytes).
    pub fn emit(&self, buf: &mut [u8]) {
        self.write(&mut Writer::new(buf));
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        match *self {
            List::Wire(b) => w.put_slice(b),
            List::Items(items) => {
                for (i, item) in items.iter().enumerate() {
                    item.write(w, i + 1 == items.len());
                }
            }
        }
    }
}

impl<'a, T: Item<'a> + PartialEq> PartialEq for List<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<'a, T: Item<'a> + Eq> Eq for List<'a, T> {}

/// Iterator over a [`List`].
#[derive(Debug, Clone)]
pub struct ListIter<'a, T> {
    inner: ListIterInner<'a, T>,
}

#[derive(Debug, Clone)]
enum ListIterInner<'a, T> {
    Wire {
        reader: Reader<'a>,
        /// What the previous chained item's Next Payload announced.
        more: Option<bool>,
        done: bool,
    },
    Items(core::slice::Iter<'a, T>),
}

impl<'a, T: Item<'a>> Iterator for ListIter<'a, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        match &mut self.inner {
            ListIterInner::Items(it) => it.next().map(|t| Ok(*t)),
            ListIterInner::Wire { reader, more, done } => {
                if *done {
                    return None;
                }
                let result = if reader.is_empty() {
                    if *more == Some(true) {
                        Err(Error::Malformed(
                            Layer::IsakmpPayload,
                            "next payload announces an item that is missing",
                        ))
                    } else {
                        *done = true;
                        return None;
                    }
                } else if *more == Some(false) {
                    Err(Error::TrailingData(Layer::IsakmpPayload))
                } else {
                    T::read(reader).map(|(item, m)| {
                        *more = m;
                        item
                    })
                };
                if result.is_err() {
                    *done = true;
                }
                Some(result)
            }
        }
    }
}

/// Reads a chained item's generic header (RFC 2408 §3.2) and returns whether it
/// announces another item of type `chain_type`, and a reader over its body.
pub(crate) fn read_chained<'a>(
    r: &mut Reader<'a>,
    chain_type: PayloadType,
    min_len: usize,
    wrong_next: &'static str,
) -> Result<(bool, Reader<'a>)> {
    let next = PayloadType::from(r.u8()?);
    let _reserved = r.u8()?;
    let len = usize::from(r.u16()?);
    if len < min_len {
        return Err(Error::BadLength(Layer::IsakmpPayload));
    }
    let body = r.sub(len - PAYLOAD_HEADER_LEN, Layer::IsakmpPayload)?;
    let more = if next == chain_type {
        true
    } else if next == PayloadType::None {
        false
    } else {
        return Err(Error::Malformed(Layer::IsakmpPayload, wrong_next));
    };
    Ok((more, body))
}

/// Writes a chained item's generic header; `len` includes it.
pub(crate) fn write_chained(
    w: &mut Writer<'_>,
    chain_type: PayloadType,
    is_last: bool,
    len: usize,
) {
    w.put_u8(if is_last { 0 } else { chain_type.into() });
    w.put_u8(0);
    w.put_u16(len as u16);
}

/// Which NAT-traversal numbering a peer speaks, chosen from its vendor IDs: RFC 3947
/// or the drafts 02/03 (which share the private payload numbers and encapsulation
/// modes; strongSwan groups them the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NatTDialect {
    Rfc3947,
    Draft,
}

impl NatTDialect {
    /// The dialect a NAT-T vendor ID announces, if it is one (exact match, as
    /// strongSwan does). A peer that sends several prefers RFC 3947 (RFC 3947 §3.1).
    pub fn from_vendor_id(vid: &[u8]) -> Option<NatTDialect> {
        if vid == vendor_id::NAT_T_RFC3947 {
            Some(NatTDialect::Rfc3947)
        } else if vid == vendor_id::NAT_T_DRAFT_03
            || vid == vendor_id::NAT_T_DRAFT_02
            || vid == vendor_id::NAT_T_DRAFT_02_N
        {
            Some(NatTDialect::Draft)
        } else {
            None
        }
    }

    /// NAT-D payload number: 20 (RFC 3947 §3.2) or 130 (drafts).
    pub fn nat_d(self) -> PayloadType {
        match self {
            NatTDialect::Rfc3947 => PayloadType::NatD,
            NatTDialect::Draft => PayloadType::NatDDraft,
        }
    }

    /// NAT-OA payload number: 21 (RFC 3947 §5.2) or 131 (drafts).
    pub fn nat_oa(self) -> PayloadType {
        match self {
            NatTDialect::Rfc3947 => PayloadType::NatOa,
            NatTDialect::Draft => PayloadType::NatOaDraft,
        }
    }

    /// Encapsulation mode for UDP-encapsulated transport: 4 (RFC 3947 §5.2) or 61444.
    pub fn udp_encapsulated_transport(self) -> attribute::EncapsulationMode {
        match self {
            NatTDialect::Rfc3947 => attribute::EncapsulationMode::UdpEncapsulatedTransport,
            NatTDialect::Draft => attribute::EncapsulationMode::UdpEncapsulatedTransportDraft,
        }
    }

    /// Encapsulation mode for UDP-encapsulated tunnel: 3 (RFC 3947 §5.2) or 61443.
    pub fn udp_encapsulated_tunnel(self) -> attribute::EncapsulationMode {
        match self {
            NatTDialect::Rfc3947 => attribute::EncapsulationMode::UdpEncapsulatedTunnel,
            NatTDialect::Draft => attribute::EncapsulationMode::UdpEncapsulatedTunnelDraft,
        }
    }

    /// A NAT-D payload in this dialect's numbering.
    pub fn nat_d_payload(self, hash: &[u8]) -> Payload<'_> {
        let repr = NatDRepr { hash };
        match self {
            NatTDialect::Rfc3947 => Payload::NatD(repr),
            NatTDialect::Draft => Payload::NatDDraft(repr),
        }
    }
}

/// Known Vendor ID payload contents.
pub mod vendor_id {
    /// RFC 3947 §3.1: MD5("RFC 3947").
    pub const NAT_T_RFC3947: [u8; 16] = hex16(0x4a131c81070358455c5728f20e95452f);
    /// draft-ietf-ipsec-nat-t-ike-02: MD5("draft-ietf-ipsec-nat-t-ike-02").
    pub const NAT_T_DRAFT_02: [u8; 16] = hex16(0xcd60464335df21f87cfdb2fc68b6a448);
    /// draft-ietf-ipsec-nat-t-ike-02 as printed in the draft, with its newline:
    /// MD5("draft-ietf-ipsec-nat-t-ike-02\n") (sent by Windows XP/2003 and others).
    pub const NAT_T_DRAFT_02_N: [u8; 16] = hex16(0x90cb80913ebb696e086381b5ec427b1f);
    /// draft-ietf-ipsec-nat-t-ike-03: MD5("draft-ietf-ipsec-nat-t-ike-03").
    pub const NAT_T_DRAFT_03: [u8; 16] = hex16(0x7d9419a65310ca6f2c179d9215529d56);
    /// RFC 3706 §3.1: Dead Peer Detection, version 1.0 (last two bytes).
    pub const DPD: [u8; 16] = hex16(0xafcad71368a1f1c96b8696fc77570100);
    /// Cisco/Microsoft IKE fragmentation: MD5("FRAGMENTATION"). Windows sends these 16
    /// bytes alone; strongSwan and racoon append a 4-byte capability word
    /// ([`FRAGMENTATION_CAPABILITIES`]).
    pub const FRAGMENTATION: [u8; 16] = hex16(0x4048b7d56ebce88525e7de7f00d6c2d3);
    /// Capability word after [`FRAGMENTATION`]: fragmentation of Main and Aggressive
    /// Mode messages.
    pub const FRAGMENTATION_CAPABILITIES: u32 = 0x8000_0000;
    /// Microsoft "MS NT5 ISAKMPOAKLEY": Windows sends these 16 bytes followed by a
    /// 4-byte version, so match it as a prefix.
    pub const MS_NT5_ISAKMPOAKLEY: [u8; 16] = hex16(0x1e2b516905991c7d7c96fcbfb587e461);

    const fn hex16(v: u128) -> [u8; 16] {
        v.to_be_bytes()
    }
}

#[cfg(test)]
mod tests;

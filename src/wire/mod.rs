//! Wire formats: zero-copy views and validated representations.
//!
//! Every protocol is one file (or one folder) of the same shape, after smoltcp:
//!
//! - `mod field` holds the byte ranges of the fixed header;
//! - `Packet<T: AsRef<[u8]>>` is a borrowed view with `new_unchecked`, `new_checked`
//!   and `check_len`; getters are named after the RFC field, setters exist only where
//!   `T: AsMut<[u8]>`;
//! - `Repr` is the validated, owned-or-borrowed form with `parse(&Packet)`,
//!   `buffer_len()` and `emit(&mut Packet)`, mirror images of each other.
//!
//! The contract: untrusted input goes through `new_checked` (or a `Repr::parse` that
//! calls it) and comes back as a [`Error`], never a panic; `emit` never panics on a
//! buffer of at least `buffer_len()` bytes. Code points are open enums (an `Unknown`
//! variant rather than a parse failure): what to reject is policy, decided by the
//! protocol engines, not by the parser.
//!
//! TLV chains (IKE payloads, L2TP AVPs, PPP options, RADIUS attributes) are read with
//! the [`Reader`] cursor and written with the [`Writer`] cursor defined here.
#![forbid(unsafe_code)]

use core::fmt;

/// Defines an open enum over an integer code point: named variants plus
/// `Unknown(raw)` for values without a name, with `From` both ways and a `const fn
/// code()`. `Unknown` is only produced for values that have no name, so parsed values
/// compare as expected. Unknown code points are data, not parse errors: what to reject
/// is the engines' policy.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident : $ty:ty {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A code point without a name here.
            Unknown($ty),
        }

        impl $name {
            /// The code point (usable in `const` contexts).
            pub const fn code(self) -> $ty {
                match self {
                    $( $name::$variant => $value, )*
                    $name::Unknown(other) => other,
                }
            }
        }

        impl From<$ty> for $name {
            fn from(value: $ty) -> Self {
                match value {
                    $( $value => $name::$variant, )*
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $ty {
            fn from(value: $name) -> Self {
                value.code()
            }
        }
    };
}

pub mod chap;
pub mod esp;
pub mod gre;
pub mod icmpv4;
pub mod ipv4;
pub mod ipv6;
pub mod isakmp;
pub mod l2tp;
pub mod mschapv2;
pub mod pap;
pub mod ppp;
pub mod ppp_options;
pub mod pptp;
pub mod radius;
pub mod udp;

/// The layer a wire error was found in; also the label of its drop counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    Ipv4,
    Ipv6,
    Icmpv4,
    Udp,
    Esp,
    UdpEncap,
    L2tp,
    L2tpAvp,
    Ppp,
    PppOption,
    Pap,
    Chap,
    MsChapV2,
    Gre,
    Pptp,
    Isakmp,
    IsakmpPayload,
    Radius,
    RadiusAttribute,
}

impl Layer {
    /// Stable lower-case name, used as a metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::Icmpv4 => "icmpv4",
            Layer::Udp => "udp",
            Layer::Esp => "esp",
            Layer::UdpEncap => "udp_encap",
            Layer::L2tp => "l2tp",
            Layer::L2tpAvp => "l2tp_avp",
            Layer::Ppp => "ppp",
            Layer::PppOption => "ppp_option",
            Layer::Pap => "pap",
            Layer::Chap => "chap",
            Layer::MsChapV2 => "mschapv2",
            Layer::Gre => "gre",
            Layer::Pptp => "pptp",
            Layer::Isakmp => "isakmp",
            Layer::IsakmpPayload => "isakmp_payload",
            Layer::Radius => "radius",
            Layer::RadiusAttribute => "radius_attribute",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a buffer was rejected. Each variant names the layer that failed, so the caller
/// can count drops per `(layer, kind)` without string formatting on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Error {
    /// The buffer ends before the fixed header, or before what a length field promises.
    #[error("{0}: truncated")]
    Truncated(Layer),
    /// A length field is smaller than its own header or inconsistent with its container.
    #[error("{0}: bad length field")]
    BadLength(Layer),
    /// A version field holds a version we do not speak.
    #[error("{0}: unsupported version")]
    BadVersion(Layer),
    /// A checksum or fixed marker does not verify.
    #[error("{0}: bad checksum")]
    BadChecksum(Layer),
    /// A field combination the RFC forbids; the string names the rule, for logs.
    #[error("{0}: malformed: {1}")]
    Malformed(Layer, &'static str),
    /// Bytes left over after a structure that must fill its container exactly.
    #[error("{0}: trailing data")]
    TrailingData(Layer),
}

impl Error {
    /// The layer the error was found in.
    pub const fn layer(&self) -> Layer {
        match *self {
            Error::Truncated(l)
            | Error::BadLength(l)
            | Error::BadVersion(l)
            | Error::BadChecksum(l)
            | Error::Malformed(l, _)
            | Error::TrailingData(l) => l,
        }
    }

    /// Stable lower-case name of the error kind, used as a metric label.
    pub const fn kind(&self) -> &'static str {
        match self {
            Error::Truncated(_) => "truncated",
            Error::BadLength(_) => "bad_length",
            Error::BadVersion(_) => "bad_version",
            Error::BadChecksum(_) => "bad_checksum",
            Error::Malformed(..) => "malformed",
            Error::TrailingData(_) => "trailing_data",
        }
    }
}

pub type Result<T> = core::result::Result<T, Error>;

/// A byte range within a header.
pub type Field = core::ops::Range<usize>;
/// A byte range from an offset to the end of the buffer.
pub type Rest = core::ops::RangeFrom<usize>;

/// A read cursor over untrusted bytes (rustls style). Every read is bounds-checked
/// and fails with [`Error::Truncated`] for the cursor's layer.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    offset: usize,
    layer: Layer,
}

impl<'a> Reader<'a> {
    pub const fn new(buf: &'a [u8], layer: Layer) -> Self {
        Reader {
            buf,
            offset: 0,
            layer,
        }
    }

    pub const fn layer(&self) -> Layer {
        self.layer
    }

    /// Bytes consumed so far.
    pub const fn position(&self) -> usize {
        self.offset
    }

    /// Bytes not yet consumed.
    pub const fn left(&self) -> usize {
        self.buf.len() - self.offset
    }

    pub const fn is_empty(&self) -> bool {
        self.left() == 0
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.left() {
            return Err(Error::Truncated(self.layer));
        }
        let out = &self.buf[self.offset..self.offset + n];
        self.offset += n;
        Ok(out)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A sub-reader over the next `n` bytes, for a length-prefixed element, tagged
    /// with the element's layer.
    pub fn sub(&mut self, n: usize, layer: Layer) -> Result<Reader<'a>> {
        let s = self.take(n)?;
        Ok(Reader::new(s, layer))
    }

    /// Everything not yet consumed.
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.offset..];
        self.offset = self.buf.len();
        out
    }

    /// Fails with [`Error::TrailingData`] unless every byte was consumed.
    pub fn expect_empty(&self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingData(self.layer))
        }
    }
}

/// A write cursor for `emit`. By the `emit` contract the buffer is at least
/// `buffer_len()` bytes, so running past its end is a bug in a `Repr`, and panics.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    offset: usize,
}

impl<'a> Writer<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, offset: 0 }
    }

    /// Bytes written so far.
    pub const fn position(&self) -> usize {
        self.offset
    }

    pub fn put_slice(&mut self, s: &[u8]) {
        self.buf[self.offset..self.offset + s.len()].copy_from_slice(s);
        self.offset += s.len();
    }

    pub fn put_u8(&mut self, v: u8) {
        self.put_slice(&[v]);
    }

    pub fn put_u16(&mut self, v: u16) {
        self.put_slice(&v.to_be_bytes());
    }

    pub fn put_u32(&mut self, v: u32) {
        self.put_slice(&v.to_be_bytes());
    }

    pub fn put_u64(&mut self, v: u64) {
        self.put_slice(&v.to_be_bytes());
    }

    /// Reserves `n` bytes (zeroed) and returns them, e.g. for a length or checksum that
    /// is filled in once the body is written.
    pub fn reserve(&mut self, n: usize) -> &mut [u8] {
        let start = self.offset;
        self.offset += n;
        let out = &mut self.buf[start..start + n];
        out.fill(0);
        out
    }

    /// The whole underlying buffer, for back-patching at an earlier position.
    pub fn buffer_mut(&mut self) -> &mut [u8] {
        self.buf
    }
}

/// The RFC 1071 Internet checksum, shared by IPv4, UDP and the pseudo-headers.
pub mod checksum {
    /// One's-complement sum of `data` as big-endian 16-bit words, folded to 32 bits
    /// (not yet complemented), continuing from `acc`.
    pub fn accumulate(mut acc: u32, data: &[u8]) -> u32 {
        let mut chunks = data.chunks_exact(2);
        for c in &mut chunks {
            acc = acc.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
            // Fold early so that a long buffer cannot overflow the accumulator.
            if acc & 0x8000_0000 != 0 {
                acc = (acc & 0xffff) + (acc >> 16);
            }
        }
        if let [last] = chunks.remainder() {
            acc = acc.wrapping_add(u32::from(*last) << 8);
        }
        acc
    }

    /// Folds an accumulator to 16 bits and complements it.
    pub fn finish(mut acc: u32) -> u16 {
        while acc >> 16 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        !(acc as u16)
    }

    /// The checksum of one buffer.
    pub fn data(data: &[u8]) -> u16 {
        finish(accumulate(0, data))
    }
}

/// Test helpers shared by the wire files.
#[cfg(test)]
pub(crate) mod test_util {
    /// Feeds every strict prefix of `bytes` to `parse` and asserts that each one is
    /// rejected with an error (and, by running at all, that none panics).
    pub fn assert_truncations_rejected<T, E: core::fmt::Debug>(
        bytes: &[u8],
        parse: impl Fn(&[u8]) -> Result<T, E>,
    ) {
        for len in 0..bytes.len() {
            assert!(
                parse(&bytes[..len]).is_err(),
                "prefix of {len} of {} bytes was accepted",
                bytes.len()
            );
        }
    }

    /// Feeds every prefix of `bytes` to `parse` and only asserts that none panics:
    /// for formats without an inner length (a PPP frame, a raw payload) a shorter
    /// buffer can be a valid, different packet.
    pub fn assert_truncations_do_not_panic<T, E>(
        bytes: &[u8],
        parse: impl Fn(&[u8]) -> Result<T, E>,
    ) {
        for len in 0..=bytes.len() {
            let _ = parse(&bytes[..len]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_bounds() {
        let mut r = Reader::new(&[1, 2, 3, 4, 5], Layer::L2tp);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(0x0203));
        assert_eq!(r.u32(), Err(Error::Truncated(Layer::L2tp)));
        assert_eq!(r.left(), 2);
        let mut s = r.sub(2, Layer::L2tpAvp).unwrap();
        assert_eq!(s.layer(), Layer::L2tpAvp);
        assert_eq!(s.take(3), Err(Error::Truncated(Layer::L2tpAvp)));
        assert_eq!(s.rest(), &[4, 5]);
        assert!(r.expect_empty().is_ok());
    }

    #[test]
    fn reader_trailing() {
        let mut r = Reader::new(&[1, 2], Layer::Radius);
        r.u8().unwrap();
        assert_eq!(r.expect_empty(), Err(Error::TrailingData(Layer::Radius)));
    }

    #[test]
    fn writer_backpatch() {
        let mut buf = [0xffu8; 6];
        let mut w = Writer::new(&mut buf);
        w.put_u8(1);
        w.reserve(2);
        w.put_u16(0x0304);
        let end = w.position();
        w.buffer_mut()[1..3].copy_from_slice(&(end as u16).to_be_bytes());
        assert_eq!(&buf[..5], &[1, 0, 5, 3, 4]);
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (before complement).
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum::data(&bytes), !0xddf2);
        // An odd length pads with a zero byte.
        assert_eq!(checksum::data(&[0x01]), !0x0100);
    }

    #[test]
    fn truncation_helpers() {
        let bytes = [0u8, 1, 2, 3];
        test_util::assert_truncations_rejected(&bytes, |b| Reader::new(b, Layer::Gre).u32());
        test_util::assert_truncations_do_not_panic(&bytes, |b| Reader::new(b, Layer::Ppp).u16());
    }

    #[test]
    fn error_labels() {
        let e = Error::Malformed(Layer::Isakmp, "payload loop");
        assert_eq!(e.layer(), Layer::Isakmp);
        assert_eq!(e.kind(), "malformed");
        assert_eq!(e.to_string(), "isakmp: malformed: payload loop");
    }
}

//! MS-CHAPv2 (RFC 2759 §3-§7): the structures MS-CHAPv2 puts inside CHAP packets
//! ([`super::chap`]).
//!
//! - Challenge (§3): the CHAP Value is the 16-octet Authenticator Challenge
//!   ([`parse_challenge`]).
//! - Response (§4): the CHAP Value is 49 octets, [`ResponseValue`] / [`ResponseRepr`]:
//!   Peer-Challenge (16), Reserved (8), NT-Response (24), Flags (1).
//! - Success (§5): the CHAP Message is `S=<40 hex digits> M=<message>`,
//!   [`SuccessMessage`].
//! - Failure (§6): the CHAP Message is
//!   `E=eeeeeeeeee R=r C=cccccccccccccccccccccccccccccccc V=vvvvvvvvvv M=<msg>`,
//!   [`FailureMessage`], with the error codes of [`ErrorCode`].
//! - Change-Password (§7): CHAP code 7 whose data is Encrypted-Password (516),
//!   Encrypted-Hash (16), Peer-Challenge (16), Reserved (8), NT-Response (24),
//!   Flags (2): [`ChangePassword`] / [`ChangePasswordRepr`].
//!
//! Decisions:
//! - RFC 2759 says Reserved "MUST be zero" and the Response Flags "MUST be zero".
//!   The parser does not reject other values (that is policy, and Postel's rule
//!   applies to a field nobody reads); Reserved is readable on the view and emitted as
//!   zero; Flags are kept.
//! - The Success text is accepted with or without ` M=<message>` (some servers send
//!   only `S=...`), hex digits in either case; we emit upper case as §5 says. Anything
//!   else after the 40 digits is [`Error::Malformed`].
//! - The Failure text is read as space-separated `X=value` fields in any order, until
//!   `M=` which takes the rest of the text. `E=` is required; a missing `R=` reads as
//!   "no retry"; `C=` (32 hex digits) and `V=` are optional because MS-CHAPv1-style
//!   servers omit them. Unknown or repeated fields are [`Error::Malformed`]. Emit
//!   writes the fields in the RFC's order.
//! - Secrets: the Authenticator Response is compared in constant time
//!   ([`SuccessMessage::authenticator_response_matches`]); the Change-Password
//!   encrypted password and hash are redacted from `Debug`.
#![forbid(unsafe_code)]

use core::fmt;

use subtle::ConstantTimeEq;

use super::{Error, Field, Layer, Result, Writer};

/// RFC 2759 §3: the Authenticator Challenge is 16 octets.
pub const CHALLENGE_LEN: usize = 16;
/// RFC 2759 §4: the Response Value is 49 octets.
pub const RESPONSE_VALUE_LEN: usize = 49;
/// RFC 2759 §5: the Authenticator Response is 20 octets (40 hex digits).
pub const AUTHENTICATOR_RESPONSE_LEN: usize = 20;
/// RFC 2759 §7: data of a Change-Password packet (Length 586 minus the header).
pub const CHANGE_PASSWORD_DATA_LEN: usize = 582;

/// Byte ranges of the 49-octet Response Value (RFC 2759 §4).
pub mod field {
    use crate::wire::Field;
    pub const PEER_CHALLENGE: Field = 0..16;
    pub const RESERVED: Field = 16..24;
    pub const NT_RESPONSE: Field = 24..48;
    pub const FLAGS: usize = 48;
}

/// Byte ranges of the Change-Password data, after the CHAP header (RFC 2759 §7).
pub mod change_password_field {
    use crate::wire::Field;
    pub const ENCRYPTED_PASSWORD: Field = 0..516;
    pub const ENCRYPTED_HASH: Field = 516..532;
    pub const PEER_CHALLENGE: Field = 532..548;
    pub const RESERVED: Field = 548..556;
    pub const NT_RESPONSE: Field = 556..580;
    pub const FLAGS: Field = 580..582;
}

fn array<const N: usize>(buf: &[u8], range: Field) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&buf[range]);
    out
}

/// The Authenticator Challenge carried in a CHAP Challenge Value.
pub fn parse_challenge(value: &[u8]) -> Result<&[u8; CHALLENGE_LEN]> {
    <&[u8; CHALLENGE_LEN]>::try_from(value).map_err(|_| Error::BadLength(Layer::MsChapV2))
}

/// A view of the Response Value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseValue<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ResponseValue<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        ResponseValue { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self> {
        let v = Self::new_unchecked(buffer);
        v.check_len()?;
        Ok(v)
    }

    /// The value must be exactly 49 octets (it is a CHAP Value with its own size).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < RESPONSE_VALUE_LEN {
            Err(Error::Truncated(Layer::MsChapV2))
        } else if len > RESPONSE_VALUE_LEN {
            Err(Error::BadLength(Layer::MsChapV2))
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn peer_challenge(&self) -> [u8; 16] {
        array(self.buffer.as_ref(), field::PEER_CHALLENGE)
    }

    /// Should be zero (RFC 2759 §4); not enforced.
    pub fn reserved(&self) -> [u8; 8] {
        array(self.buffer.as_ref(), field::RESERVED)
    }

    pub fn nt_response(&self) -> [u8; 24] {
        array(self.buffer.as_ref(), field::NT_RESPONSE)
    }

    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ResponseValue<T> {
    pub fn set_peer_challenge(&mut self, v: &[u8; 16]) {
        self.buffer.as_mut()[field::PEER_CHALLENGE].copy_from_slice(v);
    }
    pub fn set_reserved(&mut self, v: &[u8; 8]) {
        self.buffer.as_mut()[field::RESERVED].copy_from_slice(v);
    }
    pub fn set_nt_response(&mut self, v: &[u8; 24]) {
        self.buffer.as_mut()[field::NT_RESPONSE].copy_from_slice(v);
    }
    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[field::FLAGS] = v;
    }
}

/// A parsed Response Value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseRepr {
    pub peer_challenge: [u8; 16],
    pub nt_response: [u8; 24],
    pub flags: u8,
}

impl ResponseRepr {
    pub fn parse<T: AsRef<[u8]>>(value: &ResponseValue<T>) -> Result<Self> {
        value.check_len()?;
        Ok(ResponseRepr {
            peer_challenge: value.peer_challenge(),
            nt_response: value.nt_response(),
            flags: value.flags(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        RESPONSE_VALUE_LEN
    }

    /// Writes the value with Reserved zeroed.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, value: &mut ResponseValue<T>) {
        value.set_peer_challenge(&self.peer_challenge);
        value.set_reserved(&[0; 8]);
        value.set_nt_response(&self.nt_response);
        value.set_flags(self.flags);
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Decodes exactly `2 * N` hex digits.
fn hex_decode<const N: usize>(text: &[u8], why: &'static str) -> Result<[u8; N]> {
    if text.len() != 2 * N {
        return Err(Error::Malformed(Layer::MsChapV2, why));
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        match (hex_value(pair[0]), hex_value(pair[1])) {
            (Some(h), Some(l)) => *o = h << 4 | l,
            _ => return Err(Error::Malformed(Layer::MsChapV2, why)),
        }
    }
    Ok(out)
}

fn put_hex(w: &mut Writer<'_>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for b in bytes {
        w.put_u8(DIGITS[usize::from(b >> 4)]);
        w.put_u8(DIGITS[usize::from(b & 0xf)]);
    }
}

fn parse_decimal(text: &[u8], why: &'static str) -> Result<u32> {
    if text.is_empty() {
        return Err(Error::Malformed(Layer::MsChapV2, why));
    }
    text.iter().try_fold(0u32, |acc, &c| {
        if !c.is_ascii_digit() {
            return Err(Error::Malformed(Layer::MsChapV2, why));
        }
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(u32::from(c - b'0')))
            .ok_or(Error::Malformed(Layer::MsChapV2, why))
    })
}

fn decimal_len(mut v: u32) -> usize {
    let mut n = 1;
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

fn put_decimal(w: &mut Writer<'_>, v: u32) {
    let mut digits = [0u8; 10];
    let n = decimal_len(v);
    let mut x = v;
    for d in digits[..n].iter_mut().rev() {
        *d = b'0' + (x % 10) as u8;
        x /= 10;
    }
    w.put_slice(&digits[..n]);
}

/// The Success message (RFC 2759 §5): `S=<auth_string> M=<message>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuccessMessage<'a> {
    pub authenticator_response: [u8; AUTHENTICATOR_RESPONSE_LEN],
    /// The text after ` M=`, if present.
    pub message: Option<&'a [u8]>,
}

const SUCCESS_PREFIX: &[u8] = b"S=";
const MESSAGE_SEPARATOR: &[u8] = b" M=";

impl<'a> SuccessMessage<'a> {
    pub fn parse(text: &'a [u8]) -> Result<Self> {
        let rest = text.strip_prefix(SUCCESS_PREFIX).ok_or(Error::Malformed(
            Layer::MsChapV2,
            "success message does not start with S=",
        ))?;
        let hex_len = 2 * AUTHENTICATOR_RESPONSE_LEN;
        if rest.len() < hex_len {
            return Err(Error::Truncated(Layer::MsChapV2));
        }
        let (hex, tail) = rest.split_at(hex_len);
        let authenticator_response = hex_decode(hex, "authenticator response is not hex")?;
        let message = if tail.is_empty() {
            None
        } else {
            Some(
                tail.strip_prefix(MESSAGE_SEPARATOR)
                    .ok_or(Error::Malformed(
                        Layer::MsChapV2,
                        "unexpected text after the authenticator response",
                    ))?,
            )
        };
        Ok(SuccessMessage {
            authenticator_response,
            message,
        })
    }

    /// Constant-time comparison with the value we computed (RFC 2759 §8.7).
    pub fn authenticator_response_matches(
        &self,
        expected: &[u8; AUTHENTICATOR_RESPONSE_LEN],
    ) -> bool {
        self.authenticator_response.ct_eq(expected).into()
    }

    pub fn buffer_len(&self) -> usize {
        SUCCESS_PREFIX.len()
            + 2 * AUTHENTICATOR_RESPONSE_LEN
            + self
                .message
                .map_or(0, |m| MESSAGE_SEPARATOR.len() + m.len())
    }

    pub fn emit(&self, buf: &mut [u8]) {
        let mut w = Writer::new(buf);
        w.put_slice(SUCCESS_PREFIX);
        put_hex(&mut w, &self.authenticator_response);
        if let Some(m) = self.message {
            w.put_slice(MESSAGE_SEPARATOR);
            w.put_slice(m);
        }
    }
}

open_enum! {
    /// The E= error codes of RFC 2759 §6.
    pub enum ErrorCode: u32 {
        /// 646 ERROR_RESTRICTED_LOGON_HOURS.
        RestrictedLogonHours = 646,
        /// 647 ERROR_ACCT_DISABLED.
        AccountDisabled = 647,
        /// 648 ERROR_PASSWD_EXPIRED.
        PasswordExpired = 648,
        /// 649 ERROR_NO_DIALIN_PERMISSION.
        NoDialinPermission = 649,
        /// 691 ERROR_AUTHENTICATION_FAILURE.
        AuthenticationFailure = 691,
        /// 709 ERROR_CHANGING_PASSWORD.
        ChangingPassword = 709,
    }
}

/// The Failure message (RFC 2759 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureMessage<'a> {
    pub error: ErrorCode,
    /// R=1: the peer may retry with a new Response.
    pub retry: bool,
    /// C=: the Authenticator Challenge for the retry (or the password change).
    pub challenge: Option<[u8; CHALLENGE_LEN]>,
    /// V=: the password-change protocol version (3 for RFC 2759).
    pub version: Option<u32>,
    /// M=: human-readable text, the rest of the message.
    pub message: Option<&'a [u8]>,
}

impl<'a> FailureMessage<'a> {
    pub fn parse(text: &'a [u8]) -> Result<Self> {
        let malformed = |why| Error::Malformed(Layer::MsChapV2, why);
        let mut error = None;
        let mut retry = None;
        let mut challenge = None;
        let mut version = None;
        let mut message = None;
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(m) = rest.strip_prefix(b"M=") {
                message = Some(m);
                break;
            }
            let (token, tail) = match rest.iter().position(|&c| c == b' ') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            rest = tail;
            let (key, value) = match token {
                [key, b'=', value @ ..] => (*key, value),
                _ => return Err(malformed("failure message field is not X=value")),
            };
            match key {
                b'E' if error.is_none() => {
                    error = Some(ErrorCode::from(parse_decimal(value, "E= is not a number")?))
                }
                b'R' if retry.is_none() => {
                    retry = Some(match value {
                        b"0" => false,
                        b"1" => true,
                        _ => return Err(malformed("R= is not 0 or 1")),
                    })
                }
                b'C' if challenge.is_none() => {
                    challenge = Some(hex_decode(value, "C= is not 32 hex digits")?)
                }
                b'V' if version.is_none() => {
                    version = Some(parse_decimal(value, "V= is not a number")?)
                }
                b'E' | b'R' | b'C' | b'V' => {
                    return Err(malformed("repeated field in failure message"));
                }
                _ => return Err(malformed("unknown field in failure message")),
            }
        }
        Ok(FailureMessage {
            error: error.ok_or(malformed("failure message without E="))?,
            retry: retry.unwrap_or(false),
            challenge,
            version,
            message,
        })
    }

    pub fn buffer_len(&self) -> usize {
        // "E=" digits " R=" digit
        2 + decimal_len(self.error.into())
            + 4
            + self.challenge.map_or(0, |_| 3 + 2 * CHALLENGE_LEN)
            + self.version.map_or(0, |v| 3 + decimal_len(v))
            + self
                .message
                .map_or(0, |m| MESSAGE_SEPARATOR.len() + m.len())
    }

    pub fn emit(&self, buf: &mut [u8]) {
        let mut w = Writer::new(buf);
        w.put_slice(b"E=");
        put_decimal(&mut w, self.error.into());
        w.put_slice(if self.retry { b" R=1" } else { b" R=0" });
        if let Some(c) = self.challenge {
            w.put_slice(b" C=");
            put_hex(&mut w, &c);
        }
        if let Some(v) = self.version {
            w.put_slice(b" V=");
            put_decimal(&mut w, v);
        }
        if let Some(m) = self.message {
            w.put_slice(MESSAGE_SEPARATOR);
            w.put_slice(m);
        }
    }
}

/// A view of the data of a Change-Password packet (CHAP code 7, RFC 2759 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangePassword<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ChangePassword<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        ChangePassword { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The data must be exactly 582 octets (Length 586).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < CHANGE_PASSWORD_DATA_LEN {
            Err(Error::Truncated(Layer::MsChapV2))
        } else if len > CHANGE_PASSWORD_DATA_LEN {
            Err(Error::BadLength(Layer::MsChapV2))
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn encrypted_hash(&self) -> [u8; 16] {
        array(self.buffer.as_ref(), change_password_field::ENCRYPTED_HASH)
    }

    pub fn peer_challenge(&self) -> [u8; 16] {
        array(self.buffer.as_ref(), change_password_field::PEER_CHALLENGE)
    }

    /// Should be zero (RFC 2759 §7); not enforced.
    pub fn reserved(&self) -> [u8; 8] {
        array(self.buffer.as_ref(), change_password_field::RESERVED)
    }

    pub fn nt_response(&self) -> [u8; 24] {
        array(self.buffer.as_ref(), change_password_field::NT_RESPONSE)
    }

    pub fn flags(&self) -> u16 {
        u16::from_be_bytes(array(self.buffer.as_ref(), change_password_field::FLAGS))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> ChangePassword<&'a T> {
    pub fn encrypted_password(&self) -> &'a [u8; 516] {
        let s = &self.buffer.as_ref()[change_password_field::ENCRYPTED_PASSWORD];
        s.try_into().expect("range is 516 octets")
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ChangePassword<T> {
    pub fn set_encrypted_password(&mut self, v: &[u8; 516]) {
        self.buffer.as_mut()[change_password_field::ENCRYPTED_PASSWORD].copy_from_slice(v);
    }
    pub fn set_encrypted_hash(&mut self, v: &[u8; 16]) {
        self.buffer.as_mut()[change_password_field::ENCRYPTED_HASH].copy_from_slice(v);
    }
    pub fn set_peer_challenge(&mut self, v: &[u8; 16]) {
        self.buffer.as_mut()[change_password_field::PEER_CHALLENGE].copy_from_slice(v);
    }
    pub fn set_reserved(&mut self, v: &[u8; 8]) {
        self.buffer.as_mut()[change_password_field::RESERVED].copy_from_slice(v);
    }
    pub fn set_nt_response(&mut self, v: &[u8; 24]) {
        self.buffer.as_mut()[change_password_field::NT_RESPONSE].copy_from_slice(v);
    }
    pub fn set_flags(&mut self, v: u16) {
        self.buffer.as_mut()[change_password_field::FLAGS].copy_from_slice(&v.to_be_bytes());
    }
}

/// A parsed Change-Password packet body. The encrypted password and hash are derived
/// from the old and new passwords and are redacted from `Debug`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ChangePasswordRepr<'a> {
    pub encrypted_password: &'a [u8; 516],
    pub encrypted_hash: [u8; 16],
    pub peer_challenge: [u8; 16],
    pub nt_response: [u8; 24],
    pub flags: u16,
}

impl fmt::Debug for ChangePasswordRepr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangePasswordRepr")
            .field("encrypted_password", &"<redacted>")
            .field("encrypted_hash", &"<redacted>")
            .field("peer_challenge", &self.peer_challenge)
            .field("nt_response", &self.nt_response)
            .field("flags", &self.flags)
            .finish()
    }
}

impl<'a> ChangePasswordRepr<'a> {
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &ChangePassword<&'a T>) -> Result<Self> {
        packet.check_len()?;
        Ok(ChangePasswordRepr {
            encrypted_password: packet.encrypted_password(),
            encrypted_hash: packet.encrypted_hash(),
            peer_challenge: packet.peer_challenge(),
            nt_response: packet.nt_response(),
            flags: packet.flags(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        CHANGE_PASSWORD_DATA_LEN
    }

    /// Writes the body with Reserved zeroed.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ChangePassword<T>) {
        packet.set_encrypted_password(self.encrypted_password);
        packet.set_encrypted_hash(&self.encrypted_hash);
        packet.set_peer_challenge(&self.peer_challenge);
        packet.set_reserved(&[0; 8]);
        packet.set_nt_response(&self.nt_response);
        packet.set_flags(self.flags);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::assert_truncations_rejected;
    use hex_literal::hex;

    // RFC 2759 §9.2.
    const PEER_CHALLENGE: [u8; 16] = hex!("21402324255E262A28295F2B3A337C7E");
    const AUTHENTICATOR_CHALLENGE: [u8; 16] = hex!("5B5D7C7D7B3F2F3E3C2C602132262628");
    const NT_RESPONSE: [u8; 24] = hex!("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF");
    const AUTHENTICATOR_RESPONSE: [u8; 20] = hex!("407A5589115FD0D6209F510FE9C04566932CDA56");
    const SUCCESS_TEXT: &[u8] = b"S=407A5589115FD0D6209F510FE9C04566932CDA56 M=Access granted";

    // The Response Value a peer built from the §9.2 inputs.
    const RESPONSE_VALUE: [u8; 49] = hex!(
        "21402324255E262A28295F2B3A337C7E"
        "0000000000000000"
        "82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF"
        "00"
    );

    const FAILURE_TEXT: &[u8] =
        b"E=691 R=1 C=5B5D7C7D7B3F2F3E3C2C602132262628 V=3 M=Authentication failed";

    fn change_password_body() -> Vec<u8> {
        let mut v = Vec::with_capacity(582);
        v.extend((0..516).map(|i| (i % 251) as u8));
        v.extend([0xe0; 16]);
        v.extend(PEER_CHALLENGE);
        v.extend([0; 8]);
        v.extend(NT_RESPONSE);
        v.extend([0x00, 0x00]);
        v
    }

    #[test]
    fn deconstruct() {
        let v = ResponseValue::new_checked(&RESPONSE_VALUE[..]).unwrap();
        assert_eq!(v.peer_challenge(), PEER_CHALLENGE);
        assert_eq!(v.reserved(), [0; 8]);
        assert_eq!(v.nt_response(), NT_RESPONSE);
        assert_eq!(v.flags(), 0);

        let body = change_password_body();
        let p = ChangePassword::new_checked(&body[..]).unwrap();
        assert_eq!(p.encrypted_password()[..4], [0, 1, 2, 3]);
        assert_eq!(p.encrypted_hash(), [0xe0; 16]);
        assert_eq!(p.peer_challenge(), PEER_CHALLENGE);
        assert_eq!(p.reserved(), [0; 8]);
        assert_eq!(p.nt_response(), NT_RESPONSE);
        assert_eq!(p.flags(), 0);

        assert_eq!(
            parse_challenge(&AUTHENTICATOR_CHALLENGE),
            Ok(&AUTHENTICATOR_CHALLENGE)
        );
    }

    #[test]
    fn construct() {
        let mut buf = [0xffu8; 49];
        let mut v = ResponseValue::new_unchecked(&mut buf[..]);
        v.set_peer_challenge(&PEER_CHALLENGE);
        v.set_reserved(&[0; 8]);
        v.set_nt_response(&NT_RESPONSE);
        v.set_flags(0);
        assert_eq!(buf, RESPONSE_VALUE);
    }

    #[test]
    fn check_len() {
        assert_eq!(
            ResponseValue::new_checked(&RESPONSE_VALUE[..48]),
            Err(Error::Truncated(Layer::MsChapV2))
        );
        assert_eq!(
            ResponseValue::new_checked(&[0u8; 50][..]),
            Err(Error::BadLength(Layer::MsChapV2))
        );
        assert_eq!(
            parse_challenge(&[0; 8]),
            Err(Error::BadLength(Layer::MsChapV2))
        );
        let body = change_password_body();
        assert_eq!(
            ChangePassword::new_checked(&body[..581]),
            Err(Error::Truncated(Layer::MsChapV2))
        );
        let mut long = body.clone();
        long.push(0);
        assert_eq!(
            ChangePassword::new_checked(&long[..]),
            Err(Error::BadLength(Layer::MsChapV2))
        );
    }

    #[test]
    fn parse() {
        let r =
            ResponseRepr::parse(&ResponseValue::new_checked(&RESPONSE_VALUE[..]).unwrap()).unwrap();
        assert_eq!(
            r,
            ResponseRepr {
                peer_challenge: PEER_CHALLENGE,
                nt_response: NT_RESPONSE,
                flags: 0
            }
        );

        let s = SuccessMessage::parse(SUCCESS_TEXT).unwrap();
        assert_eq!(s.authenticator_response, AUTHENTICATOR_RESPONSE);
        assert_eq!(s.message, Some(&b"Access granted"[..]));
        assert!(s.authenticator_response_matches(&AUTHENTICATOR_RESPONSE));
        let mut wrong = AUTHENTICATOR_RESPONSE;
        wrong[19] ^= 1;
        assert!(!s.authenticator_response_matches(&wrong));
        // Without the message, and in lower case.
        let s = SuccessMessage::parse(b"S=407a5589115fd0d6209f510fe9c04566932cda56").unwrap();
        assert_eq!(s.authenticator_response, AUTHENTICATOR_RESPONSE);
        assert_eq!(s.message, None);
        // Errors.
        for bad in [
            &b"X=407A5589115FD0D6209F510FE9C04566932CDA56"[..],
            b"S=407A5589115FD0D6209F510FE9C04566932CDA5G",
            b"S=407A5589115FD0D6209F510FE9C04566932CDA56 X=hi",
            b"S=407A5589115FD0D6209F510FE9C04566932CDA56M=hi",
        ] {
            assert!(
                matches!(
                    SuccessMessage::parse(bad),
                    Err(Error::Malformed(Layer::MsChapV2, _))
                ),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }

        let f = FailureMessage::parse(FAILURE_TEXT).unwrap();
        assert_eq!(
            f,
            FailureMessage {
                error: ErrorCode::AuthenticationFailure,
                retry: true,
                challenge: Some(AUTHENTICATOR_CHALLENGE),
                version: Some(3),
                message: Some(b"Authentication failed"),
            }
        );
        // The RFC's ten-digit zero-padded form and a minimal one.
        let f = FailureMessage::parse(b"E=0000000648 R=0 V=0000000003").unwrap();
        assert_eq!(f.error, ErrorCode::PasswordExpired);
        assert!(!f.retry);
        assert_eq!(f.version, Some(3));
        let f = FailureMessage::parse(b"E=709").unwrap();
        assert_eq!(f.error, ErrorCode::ChangingPassword);
        assert_eq!(
            (f.retry, f.challenge, f.version, f.message),
            (false, None, None, None)
        );
        // M= keeps spaces and '=' signs.
        let f = FailureMessage::parse(b"E=646 R=0 M=a b=c").unwrap();
        assert_eq!(f.message, Some(&b"a b=c"[..]));
        for bad in [
            &b""[..],
            b"R=1",
            b"E=",
            b"E=69x",
            b"E=99999999999",
            b"E=691 R=2",
            b"E=691 E=691",
            b"E=691 C=00",
            b"E=691 Q=1",
            b"E=691  R=1",
            b"E691",
        ] {
            assert!(
                matches!(
                    FailureMessage::parse(bad),
                    Err(Error::Malformed(Layer::MsChapV2, _))
                ),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }

        let body = change_password_body();
        let c =
            ChangePasswordRepr::parse(&ChangePassword::new_checked(&body[..]).unwrap()).unwrap();
        assert_eq!(&c.encrypted_password[..], &body[..516]);
        assert_eq!(c.encrypted_hash, [0xe0; 16]);
        assert_eq!(c.peer_challenge, PEER_CHALLENGE);
        assert_eq!(c.nt_response, NT_RESPONSE);
        assert_eq!(c.flags, 0);
        let text = format!("{c:?}");
        assert!(
            text.contains("redacted") && !text.contains("224, 224"),
            "{text}"
        );
    }

    #[test]
    fn emit() {
        let r = ResponseRepr {
            peer_challenge: PEER_CHALLENGE,
            nt_response: NT_RESPONSE,
            flags: 0,
        };
        let mut buf = [0xffu8; 49];
        r.emit(&mut ResponseValue::new_unchecked(&mut buf[..]));
        assert_eq!(buf, RESPONSE_VALUE);

        let s = SuccessMessage {
            authenticator_response: AUTHENTICATOR_RESPONSE,
            message: Some(b"Access granted"),
        };
        let mut buf = vec![0u8; s.buffer_len()];
        s.emit(&mut buf);
        assert_eq!(buf, SUCCESS_TEXT);

        let f = FailureMessage {
            error: ErrorCode::AuthenticationFailure,
            retry: true,
            challenge: Some(AUTHENTICATOR_CHALLENGE),
            version: Some(3),
            message: Some(b"Authentication failed"),
        };
        let mut buf = vec![0u8; f.buffer_len()];
        f.emit(&mut buf);
        assert_eq!(buf, FAILURE_TEXT);
        let f = FailureMessage {
            error: ErrorCode::Unknown(0),
            retry: false,
            challenge: None,
            version: None,
            message: None,
        };
        let mut buf = vec![0u8; f.buffer_len()];
        f.emit(&mut buf);
        assert_eq!(buf, b"E=0 R=0");

        let body = change_password_body();
        let c =
            ChangePasswordRepr::parse(&ChangePassword::new_checked(&body[..]).unwrap()).unwrap();
        let mut buf = vec![0xffu8; c.buffer_len()];
        c.emit(&mut ChangePassword::new_unchecked(&mut buf[..]));
        assert_eq!(buf, body);
    }

    #[test]
    fn buffer_len() {
        let s = SuccessMessage {
            authenticator_response: [0; 20],
            message: None,
        };
        assert_eq!(s.buffer_len(), 42);
        let f = FailureMessage {
            error: ErrorCode::Unknown(u32::MAX),
            retry: false,
            challenge: Some([0; 16]),
            version: Some(3),
            message: Some(b"x"),
        };
        // "E=4294967295 R=0 C=<32> V=3 M=x"
        assert_eq!(f.buffer_len(), 12 + 4 + 35 + 4 + 4);
        let mut buf = vec![0u8; f.buffer_len()];
        f.emit(&mut buf);
        assert_eq!(FailureMessage::parse(&buf), Ok(f));
        assert_eq!(
            ResponseRepr {
                peer_challenge: [0; 16],
                nt_response: [0; 24],
                flags: 0
            }
            .buffer_len(),
            49
        );
    }

    #[test]
    fn truncations() {
        assert_truncations_rejected(&RESPONSE_VALUE, |b| {
            ResponseRepr::parse(&ResponseValue::new_checked(b)?)
        });
        let body = change_password_body();
        assert_truncations_rejected(&body, |b| {
            ChangePasswordRepr::parse(&ChangePassword::new_checked(b)?).map(|_| ())
        });
        // The S= text without M= has a fixed length.
        assert_truncations_rejected(&SUCCESS_TEXT[..42], |b| {
            SuccessMessage::parse(b).map(|_| ())
        });
        // The failure text may be cut after any field; it must never panic, and a
        // cut inside a field is rejected.
        for len in 0..=FAILURE_TEXT.len() {
            let _ = FailureMessage::parse(&FAILURE_TEXT[..len]);
        }
        assert!(FailureMessage::parse(&FAILURE_TEXT[..20]).is_err());
    }

    #[test]
    fn error_codes() {
        for (v, c) in [
            (646, ErrorCode::RestrictedLogonHours),
            (647, ErrorCode::AccountDisabled),
            (648, ErrorCode::PasswordExpired),
            (649, ErrorCode::NoDialinPermission),
            (691, ErrorCode::AuthenticationFailure),
            (709, ErrorCode::ChangingPassword),
            (1, ErrorCode::Unknown(1)),
        ] {
            assert_eq!(ErrorCode::from(v), c);
            assert_eq!(u32::from(c), v);
        }
    }
}

//! RADIUS hiding schemes and authenticators.
//!
//! - User-Password hiding (RFC 2865 §5.2): `b1 = MD5(S | RA)`, `c1 = p1 xor b1`,
//!   `bi = MD5(S | c(i-1))`, the password NUL-padded to a multiple of 16, at most 128;
//! - Response Authenticator (RFC 2865 §3): `MD5(Code | ID | Length | RequestAuth |
//!   Attributes | Secret)`; Request Authenticator of Accounting-Request (RFC 2866 §3),
//!   CoA-Request and Disconnect-Request (RFC 5176 §2.3): the same MD5 with sixteen
//!   zero octets in the authenticator field;
//! - Message-Authenticator (RFC 2869 §5.14, RFC 5176 §3.4): HMAC-MD5 keyed with the
//!   secret over the packet with the attribute's value taken as zero and the
//!   authenticator field taken as [`AuthenticatorBasis`] says;
//! - MS-MPPE-Send-Key / MS-MPPE-Recv-Key (RFC 2548 §2.4.2, §2.4.3): Salt (high bit
//!   set) then String = (Key-Length | Key | padding) hidden with `b1 = MD5(S | R | A)`;
//! - CHAP-Password checking (RFC 2865 §5.3) through [`crate::crypto::ppp::chap`].
//!
//! Functions take whole packets as raw bytes (`&[u8]` / `&mut [u8]`, exactly the
//! Length field's octets) and, for the Message-Authenticator, the byte range of its
//! 16-octet value; the wire layer (src/wire/radius) finds attributes. Nothing is
//! copied to the heap: hashes are fed piecewise, so verification never has to mutate
//! the packet. Comparisons are constant time; intermediate pads are zeroized.
//!
//! Decisions: packets whose Length field disagrees with the slice are refused
//! ([`RadiusCryptoError::BadLength`]) rather than hashed as given, so that a caller
//! that forgot to trim a receive buffer gets an error instead of a silent mismatch.
//! A hidden User-Password is returned without its trailing NUL padding (RFC 2865
//! §5.2: the padding is NULs; a password cannot end in NUL).
#![forbid(unsafe_code)]

use core::ops::Range;

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::crypto::ppp::chap;

/// The fixed header: Code, Identifier, Length, Authenticator (RFC 2865 §3).
pub const HEADER_LEN: usize = 20;
/// Byte range of the Length field.
const LENGTH: Range<usize> = 2..4;
/// Byte range of the Authenticator field.
pub const AUTHENTICATOR: Range<usize> = 4..20;
/// Length of the Request/Response Authenticator and of MD5 blocks.
pub const AUTHENTICATOR_LEN: usize = 16;
/// Length of the Message-Authenticator value (RFC 2869 §5.14).
pub const MESSAGE_AUTHENTICATOR_LEN: usize = 16;
/// Longest User-Password value (RFC 2865 §5.2: "between 16 and 128 octets").
pub const MAX_USER_PASSWORD_LEN: usize = 128;
/// The MS-MPPE key Salt's most significant bit MUST be set (RFC 2548 §2.4.2).
pub const MPPE_KEY_SALT_FLAG: u8 = 0x80;
/// Length of the Salt field of MS-MPPE-Send/Recv-Key (RFC 2548 §2.4.2).
pub const MPPE_KEY_SALT_LEN: usize = 2;
/// Length of a CHAP-Password value: CHAP Ident + 16-octet response (RFC 2865 §5.3).
pub const CHAP_PASSWORD_LEN: usize = 1 + chap::RESPONSE_LEN;

/// Why a RADIUS transform or check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum RadiusCryptoError {
    /// The packet is shorter than its header or its Length field disagrees with the
    /// buffer.
    #[error("radius: packet length does not match its Length field")]
    BadLength,
    /// The attribute range is not a 16-octet value inside the attribute area.
    #[error("radius: bad Message-Authenticator range")]
    BadRange,
    /// A password longer than 128 octets (RFC 2865 §5.2).
    #[error("radius: password longer than 128 octets")]
    PasswordTooLong,
    /// A hidden value whose length is not a non-zero multiple of 16 (or too long).
    #[error("radius: hidden value has a bad length")]
    BadHiddenLength,
    /// The output buffer is too small for the hidden value.
    #[error("radius: output buffer too small")]
    BufferTooSmall,
    /// An MS-MPPE key Salt without its high bit (RFC 2548 §2.4.2).
    #[error("radius: MS-MPPE key salt high bit not set")]
    BadSalt,
    /// An MS-MPPE key whose Key-Length runs past the decrypted String.
    #[error("radius: MS-MPPE key length inconsistent")]
    BadKeyLength,
    /// An authenticator, Message-Authenticator or CHAP-Password does not verify.
    #[error("radius: authenticator does not verify")]
    Mismatch,
}

type HmacMd5 = Hmac<Md5>;

/// Checks the header and the Length field against the buffer.
fn check_packet(packet: &[u8]) -> Result<(), RadiusCryptoError> {
    if packet.len() < HEADER_LEN {
        return Err(RadiusCryptoError::BadLength);
    }
    let length = usize::from(u16::from_be_bytes([
        packet[LENGTH.start],
        packet[LENGTH.start + 1],
    ]));
    if length != packet.len() {
        return Err(RadiusCryptoError::BadLength);
    }
    Ok(())
}

/// The MD5 chain shared by User-Password (RFC 2865 §5.2), MS-MPPE keys (RFC 2548
/// §2.4.2) and Tunnel-Password (RFC 2868 §3.5): `b1 = MD5(S | iv...)`,
/// `bi = MD5(S | c(i-1))`. `buf` is a multiple of 16 octets.
fn md5_chain(secret: &[u8], iv: &[&[u8]], buf: &mut [u8], hide: bool) {
    let mut md5 = Md5::new();
    md5.update(secret);
    for part in iv {
        md5.update(part);
    }
    let mut b: [u8; AUTHENTICATOR_LEN] = md5.finalize().into();
    let mut c = [0u8; AUTHENTICATOR_LEN];
    for block in buf.chunks_exact_mut(AUTHENTICATOR_LEN) {
        if !hide {
            c.copy_from_slice(block);
        }
        for (x, k) in block.iter_mut().zip(&b) {
            *x ^= k;
        }
        if hide {
            c.copy_from_slice(block);
        }
        let mut md5 = Md5::new();
        md5.update(secret);
        md5.update(c);
        b = md5.finalize().into();
    }
    b.zeroize();
}

/// The hidden length of a password: padded to a multiple of 16, at least 16.
pub const fn hidden_password_len(password_len: usize) -> usize {
    if password_len == 0 {
        AUTHENTICATOR_LEN
    } else {
        password_len.div_ceil(AUTHENTICATOR_LEN) * AUTHENTICATOR_LEN
    }
}

/// Hides `password` as a User-Password value into `out` (RFC 2865 §5.2) and returns
/// the written prefix of `out`, [`hidden_password_len`] octets.
pub fn hide_user_password<'a>(
    secret: &[u8],
    request_authenticator: &[u8; AUTHENTICATOR_LEN],
    password: &[u8],
    out: &'a mut [u8],
) -> Result<&'a mut [u8], RadiusCryptoError> {
    if password.len() > MAX_USER_PASSWORD_LEN {
        return Err(RadiusCryptoError::PasswordTooLong);
    }
    let len = hidden_password_len(password.len());
    let out = out
        .get_mut(..len)
        .ok_or(RadiusCryptoError::BufferTooSmall)?;
    out[..password.len()].copy_from_slice(password);
    out[password.len()..].fill(0);
    md5_chain(secret, &[request_authenticator], out, true);
    Ok(out)
}

/// Reveals a User-Password value in place and returns the password without its NUL
/// padding.
pub fn unhide_user_password<'a>(
    secret: &[u8],
    request_authenticator: &[u8; AUTHENTICATOR_LEN],
    value: &'a mut [u8],
) -> Result<&'a [u8], RadiusCryptoError> {
    if value.is_empty()
        || !value.len().is_multiple_of(AUTHENTICATOR_LEN)
        || value.len() > MAX_USER_PASSWORD_LEN
    {
        return Err(RadiusCryptoError::BadHiddenLength);
    }
    md5_chain(secret, &[request_authenticator], value, false);
    let end = value.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    Ok(&value[..end])
}

/// `MD5(Code | ID | Length | authenticator | Attributes | Secret)` over `packet`, with
/// `authenticator` standing in for the packet's own field.
fn packet_md5(packet: &[u8], authenticator: &[u8; AUTHENTICATOR_LEN], secret: &[u8]) -> [u8; 16] {
    let mut md5 = Md5::new();
    md5.update(&packet[..AUTHENTICATOR.start]);
    md5.update(authenticator);
    md5.update(&packet[HEADER_LEN..]);
    md5.update(secret);
    md5.finalize().into()
}

fn ct_check(expected: &mut [u8; 16], received: &[u8]) -> Result<(), RadiusCryptoError> {
    let ok = bool::from(expected.ct_eq(received));
    expected.zeroize();
    if ok {
        Ok(())
    } else {
        Err(RadiusCryptoError::Mismatch)
    }
}

/// The Response Authenticator of a response packet (Access-Accept/Reject/Challenge,
/// Accounting-Response, CoA/Disconnect-ACK/NAK; RFC 2865 §3, RFC 2866 §3, RFC 5176
/// §2.3), given the Request Authenticator of the request it answers.
pub fn response_authenticator(
    packet: &[u8],
    request_authenticator: &[u8; AUTHENTICATOR_LEN],
    secret: &[u8],
) -> Result<[u8; AUTHENTICATOR_LEN], RadiusCryptoError> {
    check_packet(packet)?;
    Ok(packet_md5(packet, request_authenticator, secret))
}

/// Computes and writes the Response Authenticator into the packet. Call after every
/// attribute, including a Message-Authenticator, is final.
pub fn set_response_authenticator(
    packet: &mut [u8],
    request_authenticator: &[u8; AUTHENTICATOR_LEN],
    secret: &[u8],
) -> Result<(), RadiusCryptoError> {
    let auth = response_authenticator(packet, request_authenticator, secret)?;
    packet[AUTHENTICATOR].copy_from_slice(&auth);
    Ok(())
}

/// Checks the Response Authenticator of a received response, in constant time.
pub fn verify_response_authenticator(
    packet: &[u8],
    request_authenticator: &[u8; AUTHENTICATOR_LEN],
    secret: &[u8],
) -> Result<(), RadiusCryptoError> {
    let mut expected = response_authenticator(packet, request_authenticator, secret)?;
    ct_check(&mut expected, &packet[AUTHENTICATOR])
}

/// The Request Authenticator of an Accounting-Request (RFC 2866 §3), CoA-Request or
/// Disconnect-Request (RFC 5176 §2.3): the packet's MD5 with a zero authenticator.
pub fn request_authenticator(
    packet: &[u8],
    secret: &[u8],
) -> Result<[u8; AUTHENTICATOR_LEN], RadiusCryptoError> {
    check_packet(packet)?;
    Ok(packet_md5(packet, &[0; AUTHENTICATOR_LEN], secret))
}

/// Computes and writes the Request Authenticator of an Accounting, CoA or Disconnect
/// request.
pub fn set_request_authenticator(
    packet: &mut [u8],
    secret: &[u8],
) -> Result<(), RadiusCryptoError> {
    let auth = request_authenticator(packet, secret)?;
    packet[AUTHENTICATOR].copy_from_slice(&auth);
    Ok(())
}

/// Checks the Request Authenticator of a received Accounting, CoA or Disconnect
/// request, in constant time.
pub fn verify_request_authenticator(packet: &[u8], secret: &[u8]) -> Result<(), RadiusCryptoError> {
    let mut expected = request_authenticator(packet, secret)?;
    ct_check(&mut expected, &packet[AUTHENTICATOR])
}

/// What stands in the authenticator field while the Message-Authenticator is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticatorBasis<'a> {
    /// The packet's own field: Access-Request, whose Request Authenticator is random
    /// (RFC 2869 §5.14).
    Packet,
    /// Sixteen zero octets: Accounting-Request, CoA-Request, Disconnect-Request, whose
    /// Request Authenticator is computed afterwards (RFC 5176 §3.4).
    Zero,
    /// The Request Authenticator of the request being answered: every response
    /// (RFC 2869 §5.14, RFC 5176 §3.4).
    Request(&'a [u8; AUTHENTICATOR_LEN]),
}

/// HMAC-MD5 over the packet with the value at `range` taken as zero.
fn message_authenticator(
    packet: &[u8],
    range: &Range<usize>,
    basis: AuthenticatorBasis<'_>,
    secret: &[u8],
) -> Result<[u8; MESSAGE_AUTHENTICATOR_LEN], RadiusCryptoError> {
    check_packet(packet)?;
    // The value follows its 2-octet Type/Length in the attribute area.
    if range.len() != MESSAGE_AUTHENTICATOR_LEN
        || range.start < HEADER_LEN + 2
        || range.end > packet.len()
    {
        return Err(RadiusCryptoError::BadRange);
    }
    // HMAC accepts keys of any length.
    let mut mac =
        <HmacMd5 as KeyInit>::new_from_slice(secret).map_err(|_| RadiusCryptoError::BadRange)?;
    mac.update(&packet[..AUTHENTICATOR.start]);
    match basis {
        AuthenticatorBasis::Packet => mac.update(&packet[AUTHENTICATOR]),
        AuthenticatorBasis::Zero => mac.update(&[0; AUTHENTICATOR_LEN]),
        AuthenticatorBasis::Request(ra) => mac.update(ra),
    }
    mac.update(&packet[HEADER_LEN..range.start]);
    mac.update(&[0; MESSAGE_AUTHENTICATOR_LEN]);
    mac.update(&packet[range.end..]);
    Ok(mac.finalize().into_bytes().into())
}

/// Computes the Message-Authenticator and writes it at `range` (the 16-octet value of
/// the attribute, which the wire layer located). Fill it before the Request or
/// Response Authenticator is computed (RFC 2869 §5.14, RFC 5176 §3.4).
pub fn fill_message_authenticator(
    packet: &mut [u8],
    range: Range<usize>,
    basis: AuthenticatorBasis<'_>,
    secret: &[u8],
) -> Result<(), RadiusCryptoError> {
    let value = message_authenticator(packet, &range, basis, secret)?;
    packet[range].copy_from_slice(&value);
    Ok(())
}

/// Checks a received Message-Authenticator at `range`, in constant time.
pub fn verify_message_authenticator(
    packet: &[u8],
    range: Range<usize>,
    basis: AuthenticatorBasis<'_>,
    secret: &[u8],
) -> Result<(), RadiusCryptoError> {
    let mut expected = message_authenticator(packet, &range, basis, secret)?;
    ct_check(&mut expected, &packet[range])
}

/// The length of an MS-MPPE-Send/Recv-Key value (Salt + String) for a key of
/// `key_len` octets: the String is Key-Length + Key padded to a multiple of 16.
pub const fn mppe_key_value_len(key_len: usize) -> usize {
    MPPE_KEY_SALT_LEN + (1 + key_len).div_ceil(AUTHENTICATOR_LEN) * AUTHENTICATOR_LEN
}

/// Builds an MS-MPPE-Send-Key or MS-MPPE-Recv-Key value (the octets after
/// Vendor-Type and Vendor-Length: Salt, then the hidden String) into `out`
/// (RFC 2548 §2.4.2). `salt` must have its high bit set and be unique within the
/// packet. Returns the written prefix of `out`.
pub fn hide_mppe_key<'a>(
    secret: &[u8],
    request_authenticator: &[u8; AUTHENTICATOR_LEN],
    salt: [u8; MPPE_KEY_SALT_LEN],
    key: &[u8],
    out: &'a mut [u8],
) -> Result<&'a mut [u8], RadiusCryptoError> {
    if salt[0] & MPPE_KEY_SALT_FLAG == 0 {
        return Err(RadiusCryptoError::BadSalt);
    }
    let key_len = u8::try_from(key.len()).map_err(|_| RadiusCryptoError::BadKeyLength)?;
    let len = mppe_key_value_len(key.len());
    let out = out
        .get_mut(..len)
        .ok_or(RadiusCryptoError::BufferTooSmall)?;
    let (salt_field, string) = out.split_at_mut(MPPE_KEY_SALT_LEN);
    salt_field.copy_from_slice(&salt);
    string[0] = key_len;
    string[1..=key.len()].copy_from_slice(key);
    string[1 + key.len()..].fill(0);
    md5_chain(secret, &[request_authenticator, &salt], string, true);
    Ok(out)
}

/// Reveals an MS-MPPE-Send-Key or MS-MPPE-Recv-Key value in place and returns the
/// key (RFC 2548 §2.4.2, "On receipt, the process is reversed").
pub fn unhide_mppe_key<'a>(
    secret: &[u8],
    request_authenticator: &[u8; AUTHENTICATOR_LEN],
    value: &'a mut [u8],
) -> Result<&'a [u8], RadiusCryptoError> {
    let (salt, string) = value
        .split_at_mut_checked(MPPE_KEY_SALT_LEN)
        .ok_or(RadiusCryptoError::BadHiddenLength)?;
    if salt[0] & MPPE_KEY_SALT_FLAG == 0 {
        return Err(RadiusCryptoError::BadSalt);
    }
    if string.is_empty() || !string.len().is_multiple_of(AUTHENTICATOR_LEN) {
        return Err(RadiusCryptoError::BadHiddenLength);
    }
    md5_chain(secret, &[request_authenticator, salt], string, false);
    let key_len = usize::from(string[0]);
    let key: &[u8] = string
        .get(1..1 + key_len)
        .ok_or(RadiusCryptoError::BadKeyLength)?;
    Ok(key)
}

/// Checks a CHAP-Password attribute value (CHAP Ident + response, RFC 2865 §5.3)
/// against the user's clear-text `password`, in constant time. `challenge` is the
/// CHAP-Challenge attribute, or the Request Authenticator when there is none.
pub fn verify_chap_password(
    password: &[u8],
    chap_password: &[u8],
    challenge: &[u8],
) -> Result<(), RadiusCryptoError> {
    let (&ident, response) = chap_password
        .split_first()
        .filter(|_| chap_password.len() == CHAP_PASSWORD_LEN)
        .ok_or(RadiusCryptoError::BadHiddenLength)?;
    chap::verify(ident, password, challenge, response).map_err(|_| RadiusCryptoError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    // RFC 2865 §7 uses the shared secret "xyzzy5461".
    const SECRET: &[u8] = b"xyzzy5461";

    // RFC 2865 §7.1, Access-Request (copied from the RFC's hex dump).
    const RFC_ACCESS_REQUEST: [u8; 56] = hex!(
        "01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb
         98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d
         93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8
         01 10 05 06 00 00 00 03"
    );
    const RFC_REQUEST_AUTHENTICATOR: [u8; 16] = hex!("0f403f9473978057bd83d5cb98f4227a");
    // RFC 2865 §7.1, Access-Accept.
    const RFC_ACCESS_ACCEPT: [u8; 38] = hex!(
        "02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf
         9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00
         0e 06 c0 a8 01 03"
    );
    // RFC 2865 §7.2, CHAP Access-Request and its Access-Accept.
    const RFC_CHAP_REQUEST: [u8; 71] = hex!(
        "01 01 00 47 2a ee 86 f0 8d 0d 55 96 9c a5 97 8e
         0d 33 67 a2 01 08 66 6c 6f 70 73 79 03 13 16 e9
         75 57 c3 16 18 58 95 f2 93 ff 63 44 07 72 75 04
         06 c0 a8 01 10 05 06 00 00 00 14 06 06 00 00 00
         02 07 06 00 00 00 01"
    );
    const RFC_CHAP_ACCEPT: [u8; 56] = hex!(
        "02 01 00 38 15 ef bc 7d ab 26 cf a3 dc 34 d9 c0
         3c 86 01 a4 06 06 00 00 00 02 07 06 00 00 00 01
         08 06 ff ff ff fe 0a 06 00 00 00 02 0d 06 00 00
         00 01 0c 06 00 00 05 dc"
    );

    #[test]
    fn rfc2865_user_password() {
        let mut out = [0u8; 32];
        let hidden =
            hide_user_password(SECRET, &RFC_REQUEST_AUTHENTICATOR, b"arctangent", &mut out)
                .unwrap();
        // The User-Password attribute value sits at octets 28..44 of the request.
        assert_eq!(hidden, &RFC_ACCESS_REQUEST[28..44]);
        let mut value = [0u8; 16];
        value.copy_from_slice(&RFC_ACCESS_REQUEST[28..44]);
        assert_eq!(
            unhide_user_password(SECRET, &RFC_REQUEST_AUTHENTICATOR, &mut value).unwrap(),
            b"arctangent"
        );
    }

    #[test]
    fn rfc2865_response_authenticators() {
        assert_eq!(
            verify_response_authenticator(&RFC_ACCESS_ACCEPT, &RFC_REQUEST_AUTHENTICATOR, SECRET),
            Ok(())
        );
        let mut accept = RFC_ACCESS_ACCEPT;
        accept[AUTHENTICATOR].fill(0);
        set_response_authenticator(&mut accept, &RFC_REQUEST_AUTHENTICATOR, SECRET).unwrap();
        assert_eq!(accept, RFC_ACCESS_ACCEPT);

        let chap_ra: [u8; 16] = RFC_CHAP_REQUEST[AUTHENTICATOR].try_into().unwrap();
        assert_eq!(
            verify_response_authenticator(&RFC_CHAP_ACCEPT, &chap_ra, SECRET),
            Ok(())
        );
        assert_eq!(
            verify_response_authenticator(&RFC_CHAP_ACCEPT, &chap_ra, b"xyzzy5462"),
            Err(RadiusCryptoError::Mismatch)
        );
        let mut tampered = RFC_CHAP_ACCEPT;
        tampered[55] ^= 1;
        assert_eq!(
            verify_response_authenticator(&tampered, &chap_ra, SECRET),
            Err(RadiusCryptoError::Mismatch)
        );
    }

    #[test]
    fn length_field_must_match_buffer() {
        assert_eq!(
            response_authenticator(&RFC_ACCESS_ACCEPT[..37], &RFC_REQUEST_AUTHENTICATOR, SECRET),
            Err(RadiusCryptoError::BadLength)
        );
        assert_eq!(
            request_authenticator(&RFC_ACCESS_ACCEPT[..19], SECRET),
            Err(RadiusCryptoError::BadLength)
        );
        let mut longer = [0u8; 39];
        longer[..38].copy_from_slice(&RFC_ACCESS_ACCEPT);
        assert_eq!(
            verify_response_authenticator(&longer, &RFC_REQUEST_AUTHENTICATOR, SECRET),
            Err(RadiusCryptoError::BadLength)
        );
    }

    // The remaining expected values were computed independently with python3's
    // hashlib and hmac; the script is tests/vectors/radius/radius_gen.py.

    #[test]
    fn long_user_password_chains() {
        let password = &b"a much longer password, 38 octets...!!"[..38];
        let expected = hex!(
            "0dec7e8c91d254c7308c835a0a0a7a8f e8544284c3f5699599ab0b0a95d5e2af
             c4098a43d2b8eecf4d7149811900b894"
        );
        let mut out = [0u8; 64];
        let hidden =
            hide_user_password(SECRET, &RFC_REQUEST_AUTHENTICATOR, password, &mut out).unwrap();
        assert_eq!(hidden, &expected);
        let mut value = expected;
        assert_eq!(
            unhide_user_password(SECRET, &RFC_REQUEST_AUTHENTICATOR, &mut value).unwrap(),
            password
        );
    }

    #[test]
    fn user_password_limits() {
        let mut out = [0u8; 256];
        assert_eq!(
            hide_user_password(SECRET, &RFC_REQUEST_AUTHENTICATOR, &[b'x'; 129], &mut out),
            Err(RadiusCryptoError::PasswordTooLong)
        );
        assert_eq!(
            hide_user_password(SECRET, &RFC_REQUEST_AUTHENTICATOR, &[b'x'; 128], &mut out)
                .unwrap()
                .len(),
            128
        );
        assert_eq!(
            hide_user_password(SECRET, &RFC_REQUEST_AUTHENTICATOR, b"", &mut out)
                .unwrap()
                .len(),
            16
        );
        assert_eq!(
            hide_user_password(
                SECRET,
                &RFC_REQUEST_AUTHENTICATOR,
                &[b'x'; 17],
                &mut out[..31]
            ),
            Err(RadiusCryptoError::BufferTooSmall)
        );
        for len in [0usize, 15, 17, 144] {
            let mut v = vec![0u8; len];
            assert_eq!(
                unhide_user_password(SECRET, &RFC_REQUEST_AUTHENTICATOR, &mut v),
                Err(RadiusCryptoError::BadHiddenLength),
                "{len}"
            );
        }
    }

    #[test]
    fn accounting_request_authenticator() {
        // Accounting-Request id 7: Acct-Status-Type = Start, User-Name = "nemo",
        // Acct-Session-Id = "0001".
        let expected = hex!(
            "04070026 1338e8dab8e10ed4ede7976bd4287ae2
             280600000001 01066e656d6f 2c0630303031"
        );
        assert_eq!(verify_request_authenticator(&expected, SECRET), Ok(()));
        let mut packet = expected;
        packet[AUTHENTICATOR].fill(0xee);
        set_request_authenticator(&mut packet, SECRET).unwrap();
        assert_eq!(packet, expected);
        packet[24] ^= 1;
        assert_eq!(
            verify_request_authenticator(&packet, SECRET),
            Err(RadiusCryptoError::Mismatch)
        );
    }

    #[test]
    fn message_authenticator_access_request() {
        // RFC 2865 §7.1's request with a Message-Authenticator appended.
        let expected = hex!(
            "0100004a0f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e4
             3f782a0aee0406c0a80110050600000003 5012 63b78a6b9d2f149989fbf57ea21d194c"
        );
        let range = 58..74;
        assert_eq!(
            verify_message_authenticator(
                &expected,
                range.clone(),
                AuthenticatorBasis::Packet,
                SECRET
            ),
            Ok(())
        );
        let mut packet = expected;
        packet[range.clone()].fill(0x55);
        fill_message_authenticator(
            &mut packet,
            range.clone(),
            AuthenticatorBasis::Packet,
            SECRET,
        )
        .unwrap();
        assert_eq!(packet, expected);
        packet[30] ^= 1;
        assert_eq!(
            verify_message_authenticator(&packet, range, AuthenticatorBasis::Packet, SECRET),
            Err(RadiusCryptoError::Mismatch)
        );
    }

    #[test]
    fn message_authenticator_then_response_authenticator() {
        // RFC 2865 §7.1's Access-Accept with a Message-Authenticator: the MA uses the
        // Request Authenticator, then the Response Authenticator covers the MA.
        let expected = hex!(
            "02000038 f79c0e9ea1d0f6fad6ed99d3f8524f76
             060600000001 0f0600000000 0e06c0a80103 5012 21498eb0fb73825e2183df0ef3878f91"
        );
        let range = 40..56;
        let basis = AuthenticatorBasis::Request(&RFC_REQUEST_AUTHENTICATOR);
        let mut packet = expected;
        packet[AUTHENTICATOR].fill(0);
        packet[range.clone()].fill(0);
        fill_message_authenticator(&mut packet, range.clone(), basis, SECRET).unwrap();
        set_response_authenticator(&mut packet, &RFC_REQUEST_AUTHENTICATOR, SECRET).unwrap();
        assert_eq!(packet, expected);
        assert_eq!(
            verify_message_authenticator(&packet, range.clone(), basis, SECRET),
            Ok(())
        );
        // The MA does not depend on the packet's own authenticator field.
        packet[AUTHENTICATOR].fill(0xaa);
        assert_eq!(
            verify_message_authenticator(&packet, range, basis, SECRET),
            Ok(())
        );
    }

    #[test]
    fn message_authenticator_coa_request() {
        // CoA-Request id 9, User-Name "nemo": MA with a zero authenticator, then the
        // Request Authenticator over the packet with the MA in place.
        let expected = hex!(
            "2b09002c a6b9d101c837b49eaed2e58273dcdd8c
             01066e656d6f 5012 45f1c5ff5aa46a5f17e18a24a07fd3de"
        );
        let range = 28..44;
        let mut packet = expected;
        packet[AUTHENTICATOR].fill(0);
        packet[range.clone()].fill(0);
        fill_message_authenticator(&mut packet, range.clone(), AuthenticatorBasis::Zero, SECRET)
            .unwrap();
        set_request_authenticator(&mut packet, SECRET).unwrap();
        assert_eq!(packet, expected);
        assert_eq!(
            verify_message_authenticator(&packet, range, AuthenticatorBasis::Zero, SECRET),
            Ok(())
        );
        assert_eq!(verify_request_authenticator(&packet, SECRET), Ok(()));
    }

    #[test]
    fn message_authenticator_range_checks() {
        let mut packet = RFC_ACCESS_ACCEPT;
        for range in [0..16, 20..36, 24..40, 22..37] {
            assert_eq!(
                fill_message_authenticator(&mut packet, range, AuthenticatorBasis::Packet, SECRET),
                Err(RadiusCryptoError::BadRange)
            );
        }
    }

    #[test]
    fn mppe_send_key() {
        // MS-MPPE-Send-Key with Salt 0x8001 carrying RFC 3079's SendStartKey128,
        // request authenticator of RFC 2865 §7.1.
        let key = hex!("8B7CDC149B993A1BA118CB153F56DCCB");
        let expected =
            hex!("8001 d7c4aaa4718a06cddca737c2f3bcd1ff ef26b141dc036e4cdb731d79248c658e");
        let mut out = [0u8; 64];
        let value = hide_mppe_key(
            SECRET,
            &RFC_REQUEST_AUTHENTICATOR,
            [0x80, 0x01],
            &key,
            &mut out,
        )
        .unwrap();
        assert_eq!(value, &expected);
        assert_eq!(mppe_key_value_len(16), 34);
        let mut value = expected;
        assert_eq!(
            unhide_mppe_key(SECRET, &RFC_REQUEST_AUTHENTICATOR, &mut value).unwrap(),
            &key
        );
    }

    #[test]
    fn mppe_key_errors() {
        let mut out = [0u8; 64];
        assert_eq!(
            hide_mppe_key(
                SECRET,
                &RFC_REQUEST_AUTHENTICATOR,
                [0x00, 0x01],
                &[1; 16],
                &mut out
            ),
            Err(RadiusCryptoError::BadSalt)
        );
        assert_eq!(
            hide_mppe_key(
                SECRET,
                &RFC_REQUEST_AUTHENTICATOR,
                [0x80, 0x01],
                &[1; 16],
                &mut out[..33]
            ),
            Err(RadiusCryptoError::BufferTooSmall)
        );
        let mut short = [0x80u8];
        assert_eq!(
            unhide_mppe_key(SECRET, &RFC_REQUEST_AUTHENTICATOR, &mut short),
            Err(RadiusCryptoError::BadHiddenLength)
        );
        let mut odd = [0x80u8; 17];
        assert_eq!(
            unhide_mppe_key(SECRET, &RFC_REQUEST_AUTHENTICATOR, &mut odd),
            Err(RadiusCryptoError::BadHiddenLength)
        );
        // A Key-Length octet pointing past the String is refused, not sliced.
        let mut value = [0u8; 18];
        value[0] = 0x80;
        let mut plain = [0u8; 16];
        plain[0] = 200;
        value[2..].copy_from_slice(&plain);
        md5_chain(
            SECRET,
            &[&RFC_REQUEST_AUTHENTICATOR, &[0x80, 0x00]],
            &mut value[2..],
            true,
        );
        assert_eq!(
            unhide_mppe_key(SECRET, &RFC_REQUEST_AUTHENTICATOR, &mut value),
            Err(RadiusCryptoError::BadKeyLength)
        );
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..3000 {
            let len = (next() % 80) as usize;
            let mut buf = [0u8; 80];
            for b in &mut buf[..len] {
                *b = next() as u8;
            }
            // Sometimes make the Length field right, so the checks go deeper.
            if len >= HEADER_LEN && next() % 2 == 0 {
                buf[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            }
            let packet = &buf[..len];
            let start = (next() % 90) as usize;
            let end = start + (next() % 20) as usize;
            let ra = [7u8; 16];
            let _ = response_authenticator(packet, &ra, SECRET);
            let _ = request_authenticator(packet, SECRET);
            let _ =
                verify_message_authenticator(packet, start..end, AuthenticatorBasis::Zero, SECRET);
            let mut copy = buf;
            let _ = unhide_user_password(SECRET, &ra, &mut copy[..len]);
            let mut copy = buf;
            let _ = unhide_mppe_key(SECRET, &ra, &mut copy[..len]);
            let _ = verify_chap_password(SECRET, packet, &ra);
        }
    }

    #[test]
    fn chap_password() {
        // python3: bytes([22]) + hashlib.md5(bytes([22]) + b"flopsy-pw" + challenge)
        let challenge: [u8; 16] = RFC_CHAP_REQUEST[AUTHENTICATOR].try_into().unwrap();
        let mut value = [0u8; 17];
        value[0] = 22;
        value[1..].copy_from_slice(&chap::response(22, b"flopsy-pw", &challenge));
        assert_eq!(value[1..], hex!("6e9e6433a5d21ca02e86856cd6ce224e"));
        assert_eq!(
            verify_chap_password(b"flopsy-pw", &value, &challenge),
            Ok(())
        );
        assert_eq!(
            verify_chap_password(b"flopsy-pX", &value, &challenge),
            Err(RadiusCryptoError::Mismatch)
        );
        assert_eq!(
            verify_chap_password(b"flopsy-pw", &value[..16], &challenge),
            Err(RadiusCryptoError::BadHiddenLength)
        );
    }
}

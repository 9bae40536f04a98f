//! CHAP with MD5 (RFC 1994 §4.1).
//!
//! `Response = MD5(Identifier | secret | Challenge)`. The same construction is used by
//! L2TP tunnel authentication (RFC 2661 §5.1.1, see [`crate::crypto::l2tp`]) and by
//! RADIUS CHAP-Password checking (RFC 2865 §5.3), which call into this module.
#![forbid(unsafe_code)]

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::AuthError;

/// Length of a CHAP-MD5 response value (RFC 1994 §4.1, "MD5 ... 16 octets").
pub const RESPONSE_LEN: usize = 16;

/// Computes the CHAP-MD5 response for `identifier`, `secret` and `challenge`.
pub fn response(identifier: u8, secret: &[u8], challenge: &[u8]) -> [u8; RESPONSE_LEN] {
    let mut md5 = Md5::new();
    md5.update([identifier]);
    md5.update(secret);
    md5.update(challenge);
    md5.finalize().into()
}

/// Checks a received CHAP-MD5 response in constant time.
pub fn verify(
    identifier: u8,
    secret: &[u8],
    challenge: &[u8],
    received: &[u8],
) -> Result<(), AuthError> {
    if received.len() != RESPONSE_LEN {
        return Err(AuthError::BadLength);
    }
    let mut expected = response(identifier, secret, challenge);
    let ok: bool = expected.ct_eq(received).into();
    expected.zeroize();
    if ok { Ok(()) } else { Err(AuthError::Mismatch) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    // RFC 1994 has no test vector. Expected values were produced independently with
    //   python3 -c 'import hashlib; print(hashlib.md5(bytes([ID]) + SECRET + CHALLENGE).hexdigest())'
    // ID = 0x2a, SECRET = b"s3cr3t", CHALLENGE = bytes(range(16)):
    const EXPECTED: [u8; 16] = hex!("c26509fed6bab294085336fe900671f5");

    #[test]
    fn response_matches_python() {
        let challenge: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(response(0x2a, b"s3cr3t", &challenge), EXPECTED);
    }

    #[test]
    fn verify_accepts_and_rejects() {
        let challenge: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(verify(0x2a, b"s3cr3t", &challenge, &EXPECTED), Ok(()));
        let mut bad = EXPECTED;
        bad[15] ^= 1;
        assert_eq!(
            verify(0x2a, b"s3cr3t", &challenge, &bad),
            Err(AuthError::Mismatch)
        );
        assert_eq!(
            verify(0x2b, b"s3cr3t", &challenge, &EXPECTED),
            Err(AuthError::Mismatch)
        );
        assert_eq!(
            verify(0x2a, b"s3cr3t", &challenge, &EXPECTED[..15]),
            Err(AuthError::BadLength)
        );
    }
}

//! L2TP hidden AVPs (RFC 2661 §4.3) and tunnel authentication (RFC 2661 §4.4.3,
//! §5.1.1).
//!
//! Hiding transforms the *Hidden AVP Subformat* (2-octet original length, original
//! value, optional padding), which the wire layer builds and parses; this module only
//! XORs it in place:
//!
//! ```text
//! b1 = MD5(Attribute Type (2 octets) | secret | Random Vector)   c1 = p1 xor b1
//! bi = MD5(secret | c(i-1))                                       ci = pi xor bi
//! ```
//!
//! where the last segment may be shorter than 16 octets ("only the actual octets
//! present in the Subformat are modified"). Note the RFC's prose (above) is normative;
//! its "b1 = MD5(AV + S + RV)" shorthand names the Attribute number "AV".
//!
//! Tunnel authentication is CHAP-MD5 ([`crate::crypto::ppp::chap`]) with the CHAP ID
//! set to the Message Type of the message carrying the Challenge Response: 2 (SCCRP)
//! or 3 (SCCCN) (RFC 2661 §4.4.3, "Challenge Response"). Verification is constant time.
//!
//! Decisions: an empty shared secret is refused for hiding (RFC 2661 §4.3: "The H bit
//! MUST only be set if a shared secret exists"), and so is an empty Random Vector
//! (§4.4.3: the Random Vector AVP carries at least one octet).
#![forbid(unsafe_code)]

use md5::{Digest, Md5};
use zeroize::Zeroize;

use crate::crypto::ppp::chap;

pub use crate::crypto::ppp::AuthError;

/// Length of the MD5 blocks the hiding works in (RFC 2661 §4.3).
const SEGMENT_LEN: usize = 16;
/// CHAP ID for the Challenge Response AVP in an SCCRP: its Message Type, 2
/// (RFC 2661 §4.4.3, §6.2).
pub const CHAP_ID_SCCRP: u8 = 2;
/// CHAP ID for the Challenge Response AVP in an SCCCN: its Message Type, 3
/// (RFC 2661 §4.4.3, §6.3).
pub const CHAP_ID_SCCCN: u8 = 3;
/// Length of the Challenge Response value (RFC 2661 §4.4.3).
pub const CHALLENGE_RESPONSE_LEN: usize = chap::RESPONSE_LEN;

/// Why a value could not be hidden or revealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum HidingError {
    /// No shared secret is configured; hidden AVPs cannot be used.
    #[error("l2tp: hidden AVP without a shared secret")]
    NoSecret,
    /// The message has no (or an empty) Random Vector AVP before the hidden AVP.
    #[error("l2tp: hidden AVP without a random vector")]
    NoRandomVector,
}

/// The direction of the transform: the XOR is the same, the chaining input differs
/// (always the ciphertext).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Hide,
    Unhide,
}

fn transform(
    attribute_type: u16,
    secret: &[u8],
    random_vector: &[u8],
    subformat: &mut [u8],
    direction: Direction,
) -> Result<(), HidingError> {
    if secret.is_empty() {
        return Err(HidingError::NoSecret);
    }
    if random_vector.is_empty() {
        return Err(HidingError::NoRandomVector);
    }
    let mut md5 = Md5::new();
    md5.update(attribute_type.to_be_bytes());
    md5.update(secret);
    md5.update(random_vector);
    let mut b: [u8; SEGMENT_LEN] = md5.finalize().into();
    let mut ciphertext = [0u8; SEGMENT_LEN];
    for segment in subformat.chunks_mut(SEGMENT_LEN) {
        let n = segment.len();
        if direction == Direction::Unhide {
            ciphertext[..n].copy_from_slice(segment);
        }
        for (x, k) in segment.iter_mut().zip(&b) {
            *x ^= k;
        }
        if direction == Direction::Hide {
            ciphertext[..n].copy_from_slice(segment);
        }
        if n == SEGMENT_LEN {
            let mut md5 = Md5::new();
            md5.update(secret);
            md5.update(ciphertext);
            b = md5.finalize().into();
        }
    }
    b.zeroize();
    Ok(())
}

/// Hides a Hidden AVP Subformat in place (RFC 2661 §4.3). `attribute_type` is the
/// AVP's Attribute Type, `random_vector` the value of the Random Vector AVP that
/// precedes it in the message.
pub fn hide(
    attribute_type: u16,
    secret: &[u8],
    random_vector: &[u8],
    subformat: &mut [u8],
) -> Result<(), HidingError> {
    transform(
        attribute_type,
        secret,
        random_vector,
        subformat,
        Direction::Hide,
    )
}

/// Reveals a hidden AVP value in place, giving back the Hidden AVP Subformat
/// (the wire layer then reads the original length and value from it).
pub fn unhide(
    attribute_type: u16,
    secret: &[u8],
    random_vector: &[u8],
    value: &mut [u8],
) -> Result<(), HidingError> {
    transform(
        attribute_type,
        secret,
        random_vector,
        value,
        Direction::Unhide,
    )
}

/// The Challenge Response value: `MD5(chap_id | secret | challenge)` with `chap_id`
/// [`CHAP_ID_SCCRP`] or [`CHAP_ID_SCCCN`] (RFC 2661 §4.4.3, §5.1.1).
pub fn challenge_response(
    chap_id: u8,
    secret: &[u8],
    challenge: &[u8],
) -> [u8; CHALLENGE_RESPONSE_LEN] {
    chap::response(chap_id, secret, challenge)
}

/// Checks a received Challenge Response in constant time.
pub fn verify_challenge_response(
    chap_id: u8,
    secret: &[u8],
    challenge: &[u8],
    received: &[u8],
) -> Result<(), AuthError> {
    chap::verify(chap_id, secret, challenge, received)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    // Expected values computed independently with python3 hashlib, script in
    // tests/vectors/ppp/l2tp_gen.py:
    //   b = md5(attr.to_bytes(2, "big") + secret + rv) for the first segment,
    //   md5(secret + previous ciphertext segment) for the next ones.
    const SECRET: &[u8] = b"tunnel-secret";
    const RANDOM_VECTOR: [u8; 16] = hex!("3e1f2a09c4d5e6f708192a3b4c5d6e7f");
    /// Proxy Authen Name (30): length 21, "subscriber@isp.exampl", 5 octets of padding.
    const SUBFORMAT_30: [u8; 28] =
        hex!("0015 73756273637269626572406973702e6578616d706c aaaaaaaaaa");
    const HIDDEN_30: [u8; 28] = hex!("252d92ab2aeb41085e85ebfdd56712feb0104c5e493b77be18cdd1dd");
    /// A 4-octet value, shorter than one segment.
    const SUBFORMAT_22: [u8; 6] = hex!("0004 0a000001");
    const HIDDEN_22: [u8; 6] = hex!("3945894b312d");
    const CHALLENGE: [u8; 16] = hex!("0123456789abcdeffedcba9876543210");
    const RESPONSE_SCCRP: [u8; 16] = hex!("1aa01fa1586eea1a451257146e1db844");
    const RESPONSE_SCCCN: [u8; 16] = hex!("edb5250a7a8f5a37e8727d62d67ba57c");

    #[test]
    fn hide_two_segments() {
        let mut buf = SUBFORMAT_30;
        hide(30, SECRET, &RANDOM_VECTOR, &mut buf).unwrap();
        assert_eq!(buf, HIDDEN_30);
        unhide(30, SECRET, &RANDOM_VECTOR, &mut buf).unwrap();
        assert_eq!(buf, SUBFORMAT_30);
    }

    #[test]
    fn hide_short_segment() {
        let mut buf = SUBFORMAT_22;
        hide(22, SECRET, &RANDOM_VECTOR, &mut buf).unwrap();
        assert_eq!(buf, HIDDEN_22);
        unhide(22, SECRET, &RANDOM_VECTOR, &mut buf).unwrap();
        assert_eq!(buf, SUBFORMAT_22);
    }

    #[test]
    fn attribute_type_and_secret_matter() {
        let mut buf = HIDDEN_30;
        unhide(31, SECRET, &RANDOM_VECTOR, &mut buf).unwrap();
        assert_ne!(buf, SUBFORMAT_30);
        let mut buf = HIDDEN_30;
        unhide(30, b"other", &RANDOM_VECTOR, &mut buf).unwrap();
        assert_ne!(buf, SUBFORMAT_30);
    }

    #[test]
    fn hiding_needs_secret_and_vector() {
        let mut buf = SUBFORMAT_22;
        assert_eq!(
            hide(22, b"", &RANDOM_VECTOR, &mut buf),
            Err(HidingError::NoSecret)
        );
        assert_eq!(
            hide(22, SECRET, &[], &mut buf),
            Err(HidingError::NoRandomVector)
        );
        assert_eq!(buf, SUBFORMAT_22);
        // An empty value is a no-op, not a panic.
        hide(22, SECRET, &RANDOM_VECTOR, &mut []).unwrap();
    }

    #[test]
    fn tunnel_authentication() {
        assert_eq!(
            challenge_response(CHAP_ID_SCCRP, SECRET, &CHALLENGE),
            RESPONSE_SCCRP
        );
        assert_eq!(
            challenge_response(CHAP_ID_SCCCN, SECRET, &CHALLENGE),
            RESPONSE_SCCCN
        );
        assert_eq!(
            verify_challenge_response(CHAP_ID_SCCRP, SECRET, &CHALLENGE, &RESPONSE_SCCRP),
            Ok(())
        );
        // A response replayed from the other message type does not verify.
        assert_eq!(
            verify_challenge_response(CHAP_ID_SCCCN, SECRET, &CHALLENGE, &RESPONSE_SCCRP),
            Err(AuthError::Mismatch)
        );
        assert_eq!(
            verify_challenge_response(CHAP_ID_SCCRP, SECRET, &CHALLENGE, &RESPONSE_SCCRP[..8]),
            Err(AuthError::BadLength)
        );
    }
}

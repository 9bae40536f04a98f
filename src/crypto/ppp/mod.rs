//! PPP authentication and encryption transforms.
//!
//! - [`chap`]: CHAP with MD5 (RFC 1994 §4.1), also used by L2TP tunnel
//!   authentication and RADIUS CHAP-Password;
//! - [`mschapv2`]: MS-CHAPv2 NT-Response and Authenticator Response (RFC 2759 §8);
//! - [`mppe`]: MPPE key derivation (RFC 3079 §3) and the RC4 data transform with its
//!   key changes and coherency-count synchronization (RFC 3078 §3, §7, §8).
//!
//! Everything here works on raw byte slices, so this module does not depend on the
//! wire formats. Nothing allocates; secrets live in fixed arrays that are zeroized on
//! drop, are never printed by `Debug`, and are compared in constant time.
#![forbid(unsafe_code)]

pub mod chap;
pub mod mppe;
pub mod mschapv2;

/// Why an authentication response was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AuthError {
    /// The response has the wrong length for its algorithm.
    #[error("authentication response has the wrong length")]
    BadLength,
    /// The response does not match the expected value.
    #[error("authentication response does not verify")]
    Mismatch,
    /// MS-CHAPv2 passwords are at most 256 Unicode characters (RFC 2759 §8.1).
    #[error("password longer than 256 characters")]
    PasswordTooLong,
}

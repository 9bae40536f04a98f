//! IKEv1 cryptography: PRF, SKEYID derivation, key expansion, phase-1/2 CBC, DH.
//!
//! What the IKEv1 engines (`proto::ike`) need to turn the values carried in Main Mode
//! and Quick Mode into keys, hashes and ciphertext:
//!
//! - [`prf`]: the negotiated hash and its HMAC, the IKEv1 "prf" (RFC 2409 §5, RFC 2104;
//!   SHA-2 per RFC 4868 §2.1.1: full-length output, no truncation);
//! - [`keys`]: SKEYID and SKEYID_d/_a/_e (RFC 2409 §5), HASH_I/HASH_R (§5), the Quick
//!   Mode HASH(1..3) (§5.5), the Informational HASH (§5.7), KEYMAT (§5.5) and the
//!   phase-1 encryption key expansion (Appendix B);
//! - [`cipher`]: the phase-1/phase-2 CBC ciphers and the IV chain of Appendix B
//!   (RFC 2409; AES-CBC per RFC 3602);
//! - [`dh`]: MODP groups 2, 5 and 14 (RFC 2409 §6.2, RFC 3526 §2-3) and ECP groups 19
//!   and 20 (RFC 5903), with peer public value validation.
//!
//! Every secret (PRF outputs, private keys, shared secrets) is zeroized on drop and
//! never printed by `Debug`. Nothing here allocates: outputs are fixed-size values or
//! caller buffers. No RFC publishes IKEv1 derivation vectors, so the tests compare
//! against values computed independently by `tests/vectors/ike/gen_vectors.py`
//! (Python hashlib/hmac/pow and the `cryptography` package), plus the NIST CAVP
//! SP 800-135 IKEv1 sample and the RFC vectors where they exist (RFC 2202, 4231, 3602,
//! 5903).
#![forbid(unsafe_code)]

pub mod cipher;
pub mod dh;
pub mod keys;
pub mod prf;

pub use cipher::{Cipher, CipherKey, IvChain};
pub use dh::{DhGroup, PrivateKey, PublicValue, SharedSecret};
pub use keys::{KeymatSeed, Phase1Exchange, Phase1Keys};
pub use prf::{Prf, PrfOutput};

/// What went wrong in an IKE crypto operation. Each variant names the culprit: a peer
/// value that failed validation, or a caller buffer of the wrong shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A peer's KE payload has the wrong length for the group (RFC 2409 §5 requires
    /// MODP values zero-padded to the prime's length; RFC 5903 §7 fixes x || y).
    #[error("{group:?}: public value is {actual} bytes, expected {expected}")]
    PublicValueLength {
        group: dh::DhGroup,
        expected: usize,
        actual: usize,
    },
    /// A MODP public value outside 1 < y < p-1 (RFC 2631 §2.1.5-style range check).
    #[error("{0:?}: public value out of range (must be 1 < y < p-1)")]
    PublicValueOutOfRange(dh::DhGroup),
    /// An ECP public value that is not a point on the curve (RFC 5903 §7).
    #[error("{0:?}: public value is not a point on the curve")]
    PointNotOnCurve(dh::DhGroup),
    /// A private key of the wrong length or out of range for the group.
    #[error("{0:?}: invalid private key")]
    InvalidPrivateKey(dh::DhGroup),
    /// A cipher key of the wrong length.
    #[error("{cipher:?}: key is {actual} bytes, expected {expected}")]
    KeyLength {
        cipher: cipher::Cipher,
        expected: usize,
        actual: usize,
    },
    /// An IV whose length is not the cipher's block length.
    #[error("IV is {actual} bytes, the cipher block is {expected}")]
    IvLength { expected: usize, actual: usize },
    /// A CBC buffer that is empty or not a whole number of blocks (RFC 2409 Appendix B:
    /// the sender pads to the block size).
    #[error("buffer of {len} bytes is not a non-empty multiple of the {block}-byte block")]
    NotBlockAligned { len: usize, block: usize },
    /// A nonce longer than RFC 2409 §5 allows (8..=256 bytes) used as a PRF key.
    #[error("nonce of {0} bytes exceeds 256 bytes")]
    NonceTooLong(usize),
}

/// Result of an IKE crypto operation.
pub type Result<T> = core::result::Result<T, Error>;

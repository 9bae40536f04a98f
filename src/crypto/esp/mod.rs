//! ESP transforms: encryption and integrity of one ESP packet, in place in the
//! caller's buffer, with no allocation per packet (RFC 4303 §2-§3).
//!
//! # Suites
//!
//! | [`Suite`] | cipher | integrity | IV | ICV | pad to |
//! |---|---|---|---|---|---|
//! | `AesGcm16 { Aes128 / Aes256 }` | AES-GCM, RFC 4106 | (AEAD) | 8 | 16 | 4 |
//! | `AesCbc { Aes128 / Aes256, i }` | AES-CBC, RFC 3602 | HMAC `i` | 16 | `i` | 16 |
//! | `TripleDesCbc { i }` | 3DES-EDE-CBC, RFC 2451 | HMAC `i` | 8 | `i` | 8 |
//!
//! with `i` one of [`Integrity`]: HMAC-SHA1-96 (RFC 2404), HMAC-SHA-256-128 (RFC 4868),
//! HMAC-SHA-256-96 (old Android), HMAC-SHA-384-192, HMAC-SHA-512-256 (RFC 4868).
//!
//! # The contract of [`Transform`]
//!
//! An ESP packet, from the SPI to the ICV, occupies the whole `packet` slice:
//!
//! ```text
//!  0        4        8            8+iv_len                       len-icv_len   len
//!  | SPI    | Seq32  | IV         | payload | padding | pl | nh  | ICV          |
//!  `- written by the caller -'    `-- written by the caller ---'
//!                     `- seal -'  `------- encrypted by seal ---' `- seal ----'
//! ```
//!
//! - To send: the caller sizes the packet with [`Transform::packet_len`], writes SPI and
//!   the low 32 bits of the sequence number in network order at `0..8`, the payload at
//!   [`Transform::payload_offset`], and the trailer (padding, pad length, next header)
//!   with [`Transform::encode_trailer`] (or itself: RFC 4303 §2.4 padding `1, 2, 3, ...`,
//!   payload + trailer a multiple of [`Transform::block_size`]). `seal(seq, packet)` then
//!   writes the IV, encrypts from the payload to the next header and writes the ICV.
//! - To receive: `open(seq, packet)` checks the ICV (in constant time) before it
//!   releases any plaintext, decrypts in place and returns the payload's range in
//!   `packet` (without padding, pad length and next header); the next header is
//!   [`Transform::next_header`]. On any error the packet's contents are unspecified
//!   (ring may have overwritten them) and must be dropped.
//! - `seq` is the full 64-bit sequence number. The caller's anti-replay logic
//!   (RFC 4303 §3.4.3 and Appendix A) infers its high 32 bits on receipt; its low 32 bits
//!   must equal the header's, or the call fails with [`CryptoError::SequenceMismatch`].
//! - The caller guarantees that a `seq` is sealed at most once per SA (the RFC 4303
//!   §3.3.3 counter). AES-GCM's security depends on it: the IV *is* the sequence number.
//!
//! # Extended sequence numbers
//!
//! ESN is a per-SA flag ([`Esn`]), fixed when the SA is negotiated (RFC 4303 §2.2.1).
//! With ESN the high 32 bits are authenticated but not sent: AES-GCM puts them in the
//! AAD (`SPI || Seq-hi || Seq-lo`, RFC 4106 §5), HMAC suites append them to the MAC
//! input after the ciphertext (RFC 4303 §2.2.1, §3.3.2.1). Without ESN the AAD is
//! `SPI || Seq32` and the high bits of `seq` must be zero when sealing
//! ([`CryptoError::SequenceExhausted`]: the SA must be rekeyed before the counter cycles,
//! RFC 4303 §3.3.3); on receipt they are ignored.
//!
//! # IVs
//!
//! - AES-GCM: IV = the 64-bit sequence number, big endian. RFC 4106 §3.1 requires only
//!   that an IV never repeats under a key and names a counter as the natural choice; the
//!   ESP counter is that counter, costs nothing and needs no state of our own.
//! - CBC suites: RFC 3602 §3 requires an unpredictable IV. Each SA holds a separate
//!   AES-128 "IV key", drawn once from the OS RNG when the SA is built (or given by the
//!   caller, [`AnyTransform::with_iv_key`]), and IV = AES-128(IV key, 0^64 || seq),
//!   truncated to the cipher's block size: NIST SP 800-38A Appendix C's first method
//!   (encrypt a nonce) with a key of its own. It is unpredictable to anyone without the
//!   IV key, never repeats within an SA (a permutation of distinct counters), costs one
//!   AES block (~20 ns with AES-NI) and needs no mutable state, so `seal` takes `&self`
//!   and no syscall is made per packet.
//!
//! # Dispatch
//!
//! [`AnyTransform`] is an enum over the concrete transforms and implements
//! [`Transform`] by `match`: a predictable branch, no virtual call, and for AES-GCM no
//! `Box` and no pointer chase to a second allocation, so it can be stored inline in a
//! per-shard SA slab. The CBC transforms (about 900 to 1,000 octets of AES or 3DES
//! schedules, IV generator and HMAC states) are boxed: inline, every SA paid for the
//! largest of them, and an AES-GCM SA, the common case, is 560 octets (issue 8, daemon
//! memory per session: an L2TP/IPsec client holds two SAs). The price is one more
//! dependent load per CBC packet, next to the microsecond its cipher and HMAC take.
//! The concrete types implement the trait too, for code that knows its suite
//! (benchmarks, tests). The CBC arms are kept out of line (`#[inline(never)]`) so the
//! AES-GCM arm stays small. Measured (benches/crypto.rs, 2-core shared VM, noisy):
//! AES-128-GCM through the enum is within ~3 % of raw `ring` for sealing and for
//! 1400-byte packets; opening 64-byte packets costs ~3-7 ns (5-8 %) more than raw ring,
//! of which ~3 ns is the `match` (the concrete `AesGcm` is within 1-4 %).
//!
//! # Keys
//!
//! The transforms keep only key schedules (ring's AES-GCM key and HMAC states, the
//! RustCrypto AES/3DES schedules), never the raw key bytes. Those types cannot be
//! zeroized from outside without `unsafe`, and the RustCrypto ones zeroize themselves
//! only with their `zeroize` cargo feature (not enabled in Cargo.toml), so each
//! transform's `Drop` overwrites them in place with the schedule of an all-zero key (and
//! `black_box`es the result so the store is not elided): no byte derived from a secret
//! survives the SA. No `Debug` impl prints key material. The caller owns, and zeroizes,
//! the key bytes it passes to the constructors.

use core::fmt;
use core::ops::Range;

mod cbc;
mod gcm;
mod hmac;

pub use cbc::{Aes128CbcHmac, Aes256CbcHmac, CbcHmac, IV_KEY_LEN, TripleDesCbcHmac};
pub use gcm::AesGcm;
pub use hmac::{Hmac, Integrity, Tag};

/// Length of the ESP header: SPI and sequence number (RFC 4303 §2).
pub const ESP_HEADER_LEN: usize = 8;
/// Length of the trailer's fixed part: Pad Length and Next Header (RFC 4303 §2.4-§2.6).
pub const ESP_TRAILER_LEN: usize = 2;
/// The 4-byte alignment RFC 4303 §2.4 requires of payload + trailer for any cipher.
pub const ESP_MIN_ALIGN: usize = 4;
/// Largest Pad Length value (RFC 4303 §2.5).
pub const ESP_MAX_PAD_LEN: usize = 255;

/// Why a transform refused a packet or a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The ICV does not match: forged, corrupted, wrong key or wrong ESN high bits.
    #[error("ESP ICV verification failed")]
    AuthenticationFailed,
    /// The packet is too short, or its ciphertext is not a whole number of cipher blocks.
    #[error("ESP packet length invalid for this transform")]
    BadLength,
    /// The (authenticated) Pad Length points before the payload.
    #[error("ESP pad length exceeds the decrypted payload")]
    BadPadding,
    /// The low 32 bits of `seq` differ from the sequence number in the header.
    #[error("sequence number does not match the ESP header")]
    SequenceMismatch,
    /// Without ESN, a sequence number above 2^32 - 1: the SA must be rekeyed.
    #[error("32-bit sequence number space exhausted")]
    SequenceExhausted,
    /// A key of the wrong length for the suite.
    #[error("key length {got} invalid, expected {expected}")]
    KeyLength { expected: usize, got: usize },
    /// The OS random number generator failed (only when building a CBC SA).
    #[error("random number generator failed")]
    Rng,
}

/// Whether an SA uses 64-bit extended sequence numbers (RFC 4303 §2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Esn {
    /// 32-bit sequence numbers; AAD / MAC input is `SPI || Seq32`.
    Disabled,
    /// 64-bit sequence numbers; the high 32 bits are authenticated, not sent.
    Enabled,
}

/// AES key size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AesKeySize {
    Aes128,
    Aes256,
}

impl AesKeySize {
    /// Key length in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            AesKeySize::Aes128 => 16,
            AesKeySize::Aes256 => 32,
        }
    }
}

/// An ESP cipher suite, as negotiated in IKE phase 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    /// AES-GCM with a 16-byte ICV (RFC 4106). Keying material: key || 4-byte salt.
    AesGcm16 { key: AesKeySize },
    /// AES-CBC (RFC 3602) with an HMAC.
    AesCbc {
        key: AesKeySize,
        integrity: Integrity,
    },
    /// 3DES-EDE-CBC (RFC 2451) with an HMAC, for legacy clients.
    TripleDesCbc { integrity: Integrity },
}

impl Suite {
    /// Length of the encryption keying material (for AES-GCM including the salt,
    /// RFC 4106 §8.1).
    pub const fn encryption_key_len(self) -> usize {
        match self {
            Suite::AesGcm16 { key } => key.key_len() + gcm::SALT_LEN,
            Suite::AesCbc { key, .. } => key.key_len(),
            Suite::TripleDesCbc { .. } => cbc::TRIPLE_DES_KEY_LEN,
        }
    }

    /// Length of the integrity key (zero for AES-GCM).
    pub const fn integrity_key_len(self) -> usize {
        match self {
            Suite::AesGcm16 { .. } => 0,
            Suite::AesCbc { integrity, .. } | Suite::TripleDesCbc { integrity } => {
                integrity.key_len()
            }
        }
    }
}

/// One direction of an ESP SA's cryptography. See the module docs for the contract.
pub trait Transform {
    /// Length of the IV field that follows the ESP header.
    fn iv_len(&self) -> usize;
    /// Length of the ICV at the end of the packet.
    fn icv_len(&self) -> usize;
    /// Payload + padding + pad length + next header must be a multiple of this (the
    /// cipher's block size, at least 4: RFC 4303 §2.4).
    fn block_size(&self) -> usize;
    /// Whether the SA uses extended sequence numbers.
    fn esn(&self) -> Esn;
    /// Writes the IV, encrypts `payload_offset()..len - icv_len()` in place and writes
    /// the ICV. `packet[0..8]` must already hold SPI and the low 32 bits of `seq`.
    fn seal(&self, seq: u64, packet: &mut [u8]) -> Result<(), CryptoError>;
    /// Verifies the ICV (constant time), decrypts in place, and returns the range of
    /// the payload (padding and trailer excluded).
    fn open(&self, seq: u64, packet: &mut [u8]) -> Result<Range<usize>, CryptoError>;

    /// Offset of the payload: after the ESP header and the IV.
    #[inline]
    fn payload_offset(&self) -> usize {
        ESP_HEADER_LEN + self.iv_len()
    }

    /// Padding needed after `payload_len` bytes of payload (RFC 4303 §2.4).
    #[inline]
    fn pad_len(&self, payload_len: usize) -> usize {
        let block = self.block_size();
        let rem = (payload_len + ESP_TRAILER_LEN) % block;
        if rem == 0 { 0 } else { block - rem }
    }

    /// Total packet length (ESP header to ICV) for `payload_len` bytes of payload.
    #[inline]
    fn packet_len(&self, payload_len: usize) -> usize {
        self.payload_offset()
            + payload_len
            + self.pad_len(payload_len)
            + ESP_TRAILER_LEN
            + self.icv_len()
    }

    /// Writes the RFC 4303 §2.4 default padding (`1, 2, 3, ...`), Pad Length and Next
    /// Header after `payload_len` bytes of payload. `packet` must be exactly
    /// `packet_len(payload_len)` long.
    fn encode_trailer(
        &self,
        packet: &mut [u8],
        payload_len: usize,
        next_header: u8,
    ) -> Result<(), CryptoError> {
        if packet.len() != self.packet_len(payload_len) {
            return Err(CryptoError::BadLength);
        }
        let pad_len = self.pad_len(payload_len);
        let start = self.payload_offset() + payload_len;
        let trailer = &mut packet[start..start + pad_len + ESP_TRAILER_LEN];
        for (i, byte) in trailer[..pad_len].iter_mut().enumerate() {
            // pad_len < block_size <= 16, so the cast never truncates.
            *byte = (i + 1) as u8;
        }
        trailer[pad_len] = pad_len as u8;
        trailer[pad_len + 1] = next_header;
        Ok(())
    }

    /// The Next Header field of an opened (decrypted) packet.
    #[inline]
    fn next_header(&self, packet: &[u8]) -> Option<u8> {
        let at = packet.len().checked_sub(self.icv_len() + 1)?;
        packet.get(at).copied()
    }
}

/// Any ESP transform, dispatched by `match` (see the module docs for why an enum,
/// and why the CBC ones are boxed).
// AES-GCM stays inline on purpose: the common suite takes no pointer chase.
#[allow(clippy::large_enum_variant)]
pub enum AnyTransform {
    AesGcm(AesGcm),
    Aes128Cbc(Box<Aes128CbcHmac>),
    Aes256Cbc(Box<Aes256CbcHmac>),
    TripleDesCbc(Box<TripleDesCbcHmac>),
}

impl AnyTransform {
    /// Builds the transform for `suite`. For CBC suites the IV key is drawn from the OS
    /// RNG (once, here).
    pub fn new(
        suite: Suite,
        esn: Esn,
        encryption_key: &[u8],
        integrity_key: &[u8],
    ) -> Result<Self, CryptoError> {
        let iv_key = match suite {
            Suite::AesGcm16 { .. } => [0u8; IV_KEY_LEN],
            _ => cbc::random_iv_key()?,
        };
        let mut iv_key = zeroize::Zeroizing::new(iv_key);
        Self::with_iv_key(suite, esn, encryption_key, integrity_key, &mut iv_key)
    }

    /// Like [`AnyTransform::new`], with the CBC IV key given by the caller (a fresh
    /// random secret per SA; deterministic tests and loadgen). Ignored for AES-GCM.
    /// `iv_key` is zeroized after use.
    pub fn with_iv_key(
        suite: Suite,
        esn: Esn,
        encryption_key: &[u8],
        integrity_key: &[u8],
        iv_key: &mut [u8; IV_KEY_LEN],
    ) -> Result<Self, CryptoError> {
        let transform = match suite {
            Suite::AesGcm16 { key } => {
                check_len(integrity_key, 0)?;
                AnyTransform::AesGcm(AesGcm::new(key, esn, encryption_key)?)
            }
            Suite::AesCbc {
                key: AesKeySize::Aes128,
                integrity,
            } => AnyTransform::Aes128Cbc(Box::new(CbcHmac::new(
                esn,
                encryption_key,
                integrity,
                integrity_key,
                iv_key,
            )?)),
            Suite::AesCbc {
                key: AesKeySize::Aes256,
                integrity,
            } => AnyTransform::Aes256Cbc(Box::new(CbcHmac::new(
                esn,
                encryption_key,
                integrity,
                integrity_key,
                iv_key,
            )?)),
            Suite::TripleDesCbc { integrity } => AnyTransform::TripleDesCbc(Box::new(
                CbcHmac::new(esn, encryption_key, integrity, integrity_key, iv_key)?,
            )),
        };
        zeroize::Zeroize::zeroize(iv_key);
        Ok(transform)
    }
}

macro_rules! dispatch {
    ($self:ident, $t:ident => $e:expr) => {
        match $self {
            AnyTransform::AesGcm($t) => $e,
            AnyTransform::Aes128Cbc($t) => $e,
            AnyTransform::Aes256Cbc($t) => $e,
            AnyTransform::TripleDesCbc($t) => $e,
        }
    };
}

impl Transform for AnyTransform {
    #[inline]
    fn iv_len(&self) -> usize {
        dispatch!(self, t => t.iv_len())
    }
    #[inline]
    fn icv_len(&self) -> usize {
        dispatch!(self, t => t.icv_len())
    }
    #[inline]
    fn block_size(&self) -> usize {
        dispatch!(self, t => t.block_size())
    }
    #[inline]
    fn esn(&self) -> Esn {
        dispatch!(self, t => t.esn())
    }
    #[inline]
    fn seal(&self, seq: u64, packet: &mut [u8]) -> Result<(), CryptoError> {
        dispatch!(self, t => t.seal(seq, packet))
    }
    #[inline]
    fn open(&self, seq: u64, packet: &mut [u8]) -> Result<Range<usize>, CryptoError> {
        dispatch!(self, t => t.open(seq, packet))
    }
}

impl fmt::Debug for AnyTransform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        dispatch!(self, t => fmt::Debug::fmt(t, f))
    }
}

fn check_len(key: &[u8], expected: usize) -> Result<(), CryptoError> {
    if key.len() == expected {
        Ok(())
    } else {
        Err(CryptoError::KeyLength {
            expected,
            got: key.len(),
        })
    }
}

/// Checks the header's sequence number against `seq` (and, without ESN, that `seq` fits
/// 32 bits when sealing).
#[inline]
fn check_seq(packet: &[u8], seq: u64, esn: Esn, sealing: bool) -> Result<(), CryptoError> {
    if sealing && esn == Esn::Disabled && seq > u64::from(u32::MAX) {
        return Err(CryptoError::SequenceExhausted);
    }
    let wire = packet.get(4..8).ok_or(CryptoError::BadLength)?;
    if wire == (seq as u32).to_be_bytes() {
        Ok(())
    } else {
        Err(CryptoError::SequenceMismatch)
    }
}

/// The ESN high bits as authenticated (RFC 4303 §2.2.1), or nothing without ESN.
#[inline]
fn seq_hi(seq: u64, esn: Esn) -> ([u8; 4], usize) {
    match esn {
        Esn::Enabled => (((seq >> 32) as u32).to_be_bytes(), 4),
        Esn::Disabled => ([0; 4], 0),
    }
}

/// Validates the decrypted `body` (payload..next header, starting at `start` in the
/// packet) and returns the payload range.
#[inline]
fn payload_range(start: usize, body: &[u8]) -> Result<Range<usize>, CryptoError> {
    let [.., pad_len, _next_header] = *body else {
        return Err(CryptoError::BadLength);
    };
    let payload_len = body
        .len()
        .checked_sub(ESP_TRAILER_LEN + usize::from(pad_len))
        .ok_or(CryptoError::BadPadding)?;
    Ok(start..start + payload_len)
}

#[cfg(test)]
mod tests;

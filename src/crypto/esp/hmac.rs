//! The ESP integrity layer: HMAC with the output truncated to the ICV length.
//!
//! - HMAC-SHA1-96 (RFC 2404): 20-byte key, 12-byte ICV;
//! - HMAC-SHA-256-128 (RFC 4868 §2.1): 32-byte key, 16-byte ICV;
//! - HMAC-SHA-256-96: the same key, truncated to 12 bytes, as Android 6/7 (racoon) sends
//!   it; a per-peer switch, never negotiated (see `/work/shared/interop.md`);
//! - HMAC-SHA-384-192 and HMAC-SHA-512-256 (RFC 4868 §2.1), because strongSwan and
//!   Windows offer them.
//!
//! HMAC-SHA-2 is `ring::hmac`. HMAC-SHA1 is RustCrypto's `hmac` + `sha1`: ring's SHA-1
//! is portable Rust without SHA-NI, and on the machine we measured (SHA-NI present) it
//! made AES-128-CBC+HMAC-SHA1-96, the suite Windows and Android use most, about three
//! times slower than SHA-256 (benches/crypto.rs). Both backends precompute the keyed
//! inner/outer states once per SA; per packet they only copy them. This layer adds the
//! truncation, the ESN high bits
//! appended to the MAC input (RFC 4303 §2.2.1: "the high-order 32 bits are ... included
//! in the ICV computation" but not sent), and a constant-time comparison (`subtle`).
//! [`Hmac::new`] accepts any key length (the RFC 2202/4231 vectors need that); the ESP
//! key lengths are enforced by the transform constructors.

use core::fmt;

use ::hmac::{KeyInit, Mac};
use ring::hmac;
use subtle::ConstantTimeEq;

/// RustCrypto HMAC-SHA1 (SHA-NI when the CPU has it).
type HmacSha1 = ::hmac::Hmac<sha1::Sha1>;

/// Largest MAC output (SHA-512).
const MAX_TAG_LEN: usize = 64;

/// A full, untruncated MAC value.
#[derive(Clone, Copy)]
pub struct Tag {
    bytes: [u8; MAX_TAG_LEN],
    len: usize,
}

impl AsRef<[u8]> for Tag {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// An ESP integrity algorithm (IKEv1 "Authentication Algorithm", RFC 2407 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integrity {
    /// HMAC-SHA1-96, RFC 2404.
    HmacSha1_96,
    /// HMAC-SHA-256-128, RFC 4868.
    HmacSha256_128,
    /// HMAC-SHA-256 truncated to 96 bits: the pre-RFC 4868 draft length that Android 6
    /// and 7 use. Only for peers known to need it.
    HmacSha256_96,
    /// HMAC-SHA-384-192, RFC 4868.
    HmacSha384_192,
    /// HMAC-SHA-512-256, RFC 4868.
    HmacSha512_256,
}

impl Integrity {
    /// Key length in bytes (RFC 2404 §3: 160 bits; RFC 4868 §2.1.1: the hash output size).
    pub const fn key_len(self) -> usize {
        match self {
            Integrity::HmacSha1_96 => 20,
            Integrity::HmacSha256_128 | Integrity::HmacSha256_96 => 32,
            Integrity::HmacSha384_192 => 48,
            Integrity::HmacSha512_256 => 64,
        }
    }

    /// ICV (truncated MAC) length in bytes.
    pub const fn icv_len(self) -> usize {
        match self {
            Integrity::HmacSha1_96 | Integrity::HmacSha256_96 => 12,
            Integrity::HmacSha256_128 => 16,
            Integrity::HmacSha384_192 => 24,
            Integrity::HmacSha512_256 => 32,
        }
    }

    /// ring's algorithm for the SHA-2 variants (SHA-1 uses RustCrypto, see above).
    fn algorithm(self) -> hmac::Algorithm {
        match self {
            Integrity::HmacSha1_96 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Integrity::HmacSha256_128 | Integrity::HmacSha256_96 => hmac::HMAC_SHA256,
            Integrity::HmacSha384_192 => hmac::HMAC_SHA384,
            Integrity::HmacSha512_256 => hmac::HMAC_SHA512,
        }
    }
}

/// A keyed, truncating HMAC. The key schedule (ring's precomputed inner and outer
/// states) is overwritten on drop.
pub struct Hmac {
    key: Key,
    integrity: Integrity,
}

enum Key {
    Sha1(HmacSha1),
    Sha2(hmac::Key),
}

impl Key {
    fn new(integrity: Integrity, key: &[u8]) -> Self {
        match integrity {
            // HMAC accepts any key length, so this cannot fail; the fallback keeps the
            // function total without an `unwrap`.
            Integrity::HmacSha1_96 => match HmacSha1::new_from_slice(key) {
                Ok(mac) => Key::Sha1(mac),
                Err(_) => Key::Sha2(hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key)),
            },
            _ => Key::Sha2(hmac::Key::new(integrity.algorithm(), key)),
        }
    }
}

impl Hmac {
    /// Keys the MAC. Any key length is accepted (HMAC hashes long keys, RFC 2104 §3).
    pub fn new(integrity: Integrity, key: &[u8]) -> Self {
        Hmac {
            key: Key::new(integrity, key),
            integrity,
        }
    }

    /// The algorithm.
    pub fn integrity(&self) -> Integrity {
        self.integrity
    }

    /// The ICV length: how many bytes [`Hmac::sign`] writes and [`Hmac::verify`] expects.
    #[inline]
    pub fn icv_len(&self) -> usize {
        self.integrity.icv_len()
    }

    /// The full, untruncated HMAC of `data || extra`.
    #[inline]
    pub fn full_tag(&self, data: &[u8], extra: &[u8]) -> Tag {
        let mut tag = Tag {
            bytes: [0; MAX_TAG_LEN],
            len: 0,
        };
        match &self.key {
            Key::Sha1(keyed) => {
                let mut mac = keyed.clone();
                mac.update(data);
                mac.update(extra);
                let out = mac.finalize().into_bytes();
                tag.len = out.len();
                tag.bytes[..out.len()].copy_from_slice(&out);
            }
            Key::Sha2(key) => {
                let mut context = hmac::Context::with_key(key);
                context.update(data);
                if !extra.is_empty() {
                    context.update(extra);
                }
                let out = context.sign();
                tag.len = out.as_ref().len();
                tag.bytes[..tag.len].copy_from_slice(out.as_ref());
            }
        }
        tag
    }

    /// Writes the truncated MAC of `data || extra` to `icv`, which must be
    /// [`Hmac::icv_len`] bytes long (a shorter or longer slice is a caller bug: panics).
    #[inline]
    pub fn sign(&self, data: &[u8], extra: &[u8], icv: &mut [u8]) {
        let tag = self.full_tag(data, extra);
        icv.copy_from_slice(&tag.as_ref()[..self.icv_len()]);
    }

    /// Whether `icv` is the truncated MAC of `data || extra`, compared in constant time.
    /// An `icv` of the wrong length is rejected.
    #[inline]
    pub fn verify(&self, data: &[u8], extra: &[u8], icv: &[u8]) -> bool {
        if icv.len() != self.icv_len() {
            return false;
        }
        let tag = self.full_tag(data, extra);
        bool::from(tag.as_ref()[..icv.len()].ct_eq(icv))
    }
}

impl Drop for Hmac {
    fn drop(&mut self) {
        // Neither ring's `Key` nor (without its `zeroize` feature) RustCrypto's `Hmac`
        // can be zeroized from outside without `unsafe`; overwriting the keyed state
        // with that of an empty key replaces every byte derived from the secret.
        // `black_box` keeps the store from being elided as dead.
        self.key = Key::new(self.integrity, &[]);
        core::hint::black_box(&self.key);
    }
}

impl fmt::Debug for Hmac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hmac")
            .field("integrity", &self.integrity)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    fn full(integrity: Integrity, key: &[u8], data: &[u8]) -> Vec<u8> {
        Hmac::new(integrity, key)
            .full_tag(data, &[])
            .as_ref()
            .to_vec()
    }

    // RFC 2202 §3, HMAC-SHA-1 test cases 1-7.
    #[test]
    fn rfc2202_hmac_sha1() {
        let sha1 = Integrity::HmacSha1_96;
        assert_eq!(
            full(sha1, &[0x0b; 20], b"Hi There"),
            hex!("b617318655057264e28bc0b6fb378c8ef146be00")
        );
        assert_eq!(
            full(sha1, b"Jefe", b"what do ya want for nothing?"),
            hex!("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        );
        assert_eq!(
            full(sha1, &[0xaa; 20], &[0xdd; 50]),
            hex!("125d7342b9ac11cd91a39af48aa17b4f63f175d3")
        );
        let key4: Vec<u8> = (0x01..=0x19).collect();
        assert_eq!(
            full(sha1, &key4, &[0xcd; 50]),
            hex!("4c9007f4026250c6bc8414f9bf50c86c2d7235da")
        );
        assert_eq!(
            full(sha1, &[0x0c; 20], b"Test With Truncation"),
            hex!("4c1a03424b55e07fe7f27be1d58bb9324a9a5a04")
        );
        assert_eq!(
            full(
                sha1,
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            hex!("aa4ae5e15272d00e95705637ce8a3b55ed402112")
        );
        assert_eq!(
            full(
                sha1,
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"
            ),
            hex!("e8e99d0f45237d786d6bbaa7965c7808bbff1a91")
        );
    }

    // RFC 2202 test case 5 lists the 96-bit truncation: that is HMAC-SHA1-96's ICV.
    #[test]
    fn rfc2202_case5_truncated_96() {
        let mac = Hmac::new(Integrity::HmacSha1_96, &[0x0c; 20]);
        let mut icv = [0u8; 12];
        mac.sign(b"Test With Truncation", &[], &mut icv);
        assert_eq!(icv, hex!("4c1a03424b55e07fe7f27be1"));
        assert!(mac.verify(b"Test With Truncation", &[], &icv));
        // The same bytes split between data and extra (how ESN high bits are fed).
        assert!(mac.verify(b"Test With ", b"Truncation", &icv));
    }

    // RFC 4231 §4.2-§4.8, HMAC-SHA-256 test cases 1-7 (case 5 is 128-bit truncated).
    #[test]
    fn rfc4231_hmac_sha256() {
        let sha256 = Integrity::HmacSha256_128;
        assert_eq!(
            full(sha256, &[0x0b; 20], b"Hi There"),
            hex!("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        );
        assert_eq!(
            full(sha256, b"Jefe", b"what do ya want for nothing?"),
            hex!("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        assert_eq!(
            full(sha256, &[0xaa; 20], &[0xdd; 50]),
            hex!("773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe")
        );
        let key4: Vec<u8> = (0x01..=0x19).collect();
        assert_eq!(
            full(sha256, &key4, &[0xcd; 50]),
            hex!("82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b")
        );
        assert_eq!(
            full(
                sha256,
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            hex!("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        );
        assert_eq!(
            full(
                sha256,
                &[0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than \
                  block-size data. The key needs to be hashed before being used by the \
                  HMAC algorithm."
            ),
            hex!("9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2")
        );
    }

    // RFC 4231 §4.6, test case 5: output truncated to 128 bits = HMAC-SHA-256-128's ICV.
    #[test]
    fn rfc4231_case5_truncated_128() {
        let mac = Hmac::new(Integrity::HmacSha256_128, &[0x0c; 20]);
        let mut icv = [0u8; 16];
        mac.sign(b"Test With Truncation", &[], &mut icv);
        assert_eq!(icv, hex!("a3b6167473100ee06e0c796c2955552b"));
        assert!(mac.verify(b"Test With Truncation", &[], &icv));
        // The Android 96-bit variant is the first 12 bytes of the same MAC.
        let android = Hmac::new(Integrity::HmacSha256_96, &[0x0c; 20]);
        let mut icv96 = [0u8; 12];
        android.sign(b"Test With Truncation", &[], &mut icv96);
        assert_eq!(icv96, hex!("a3b6167473100ee06e0c796c"));
    }

    // RFC 4231 §4.3, test case 2 for SHA-384 and SHA-512, and their RFC 4868 truncations.
    #[test]
    fn rfc4231_case2_sha384_sha512() {
        let data = b"what do ya want for nothing?";
        assert_eq!(
            full(Integrity::HmacSha384_192, b"Jefe", data),
            hex!(
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
                "8e2240ca5e69e2c78b3239ecfab21649"
            )
        );
        assert_eq!(
            full(Integrity::HmacSha512_256, b"Jefe", data),
            hex!(
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
                "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
            )
        );
        let mut icv = [0u8; 24];
        Hmac::new(Integrity::HmacSha384_192, b"Jefe").sign(data, &[], &mut icv);
        assert_eq!(
            icv,
            hex!("af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47")
        );
    }

    #[test]
    fn verify_rejects_wrong_icv_and_length() {
        let mac = Hmac::new(Integrity::HmacSha1_96, &[0x0c; 20]);
        let mut icv = hex!("4c1a03424b55e07fe7f27be1");
        assert!(!mac.verify(b"Test With Truncation", &[], &icv[..11]));
        assert!(!mac.verify(
            b"Test With Truncation",
            &[],
            &hex!("4c1a03424b55e07fe7f27be1d5")
        ));
        icv[11] ^= 1;
        assert!(!mac.verify(b"Test With Truncation", &[], &icv));
    }

    #[test]
    fn debug_hides_key() {
        let text = format!("{:?}", Hmac::new(Integrity::HmacSha1_96, &[0x5a; 20]));
        assert!(!text.contains("5a") && !text.contains("90"), "{text}");
    }
}

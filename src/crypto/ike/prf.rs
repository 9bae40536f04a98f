//! The IKEv1 hash and pseudo-random function (RFC 2409 §5, Appendix A).
//!
//! IKEv1 negotiates a hash algorithm (Oakley attribute 2); unless a separate PRF is
//! negotiated, which no deployed client does, the prf is the HMAC (RFC 2104) of that
//! hash. For SHA-2, RFC 4868 §2.1.1 and the IKEv1 implementations use the full hash
//! output (no truncation) as the PRF output. The plain hash is needed for the phase-1
//! and phase-2 IVs (Appendix B).
//!
//! [`Prf::compute`] takes the data as several slices and feeds them to the MAC one by
//! one, because every IKE derivation is a concatenation (`g^xy | CKY-I | CKY-R | 0`)
//! and we never build it in a `Vec`. `ring` does HMAC-SHA1/SHA-2 and SHA; MD5 (which
//! ring lacks) comes from RustCrypto `hmac` + `md-5`.

use core::fmt;

use hmac::{KeyInit, Mac};
use md5::Digest as _;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Largest output of any supported PRF or hash (SHA-512).
pub const MAX_OUTPUT_LEN: usize = 64;

/// The Oakley hash algorithm, and through it the prf (RFC 2409 Appendix A, attribute
/// class 2; SHA-2 values from the IANA "IPSEC Hash Algorithm" registry, RFC 4868).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prf {
    /// MD5 (Oakley hash 1); HMAC-MD5.
    HmacMd5,
    /// SHA-1 (Oakley hash 2); HMAC-SHA1.
    HmacSha1,
    /// SHA2-256 (Oakley hash 4); HMAC-SHA2-256.
    HmacSha256,
    /// SHA2-384 (Oakley hash 5); HMAC-SHA2-384.
    HmacSha384,
    /// SHA2-512 (Oakley hash 6); HMAC-SHA2-512.
    HmacSha512,
}

impl Prf {
    /// The PRF for an Oakley hash algorithm attribute value (RFC 2409 Appendix A);
    /// `None` for values we do not implement (Tiger, unknown).
    pub const fn from_hash_algorithm(value: u16) -> Option<Prf> {
        match value {
            1 => Some(Prf::HmacMd5),
            2 => Some(Prf::HmacSha1),
            4 => Some(Prf::HmacSha256),
            5 => Some(Prf::HmacSha384),
            6 => Some(Prf::HmacSha512),
            _ => None,
        }
    }

    /// The Oakley hash algorithm attribute value of this PRF.
    pub const fn hash_algorithm(self) -> u16 {
        match self {
            Prf::HmacMd5 => 1,
            Prf::HmacSha1 => 2,
            Prf::HmacSha256 => 4,
            Prf::HmacSha384 => 5,
            Prf::HmacSha512 => 6,
        }
    }

    /// Output length in bytes of both the prf and the hash.
    pub const fn output_len(self) -> usize {
        match self {
            Prf::HmacMd5 => 16,
            Prf::HmacSha1 => 20,
            Prf::HmacSha256 => 32,
            Prf::HmacSha384 => 48,
            Prf::HmacSha512 => 64,
        }
    }

    fn ring_hmac(self) -> Option<ring::hmac::Algorithm> {
        match self {
            Prf::HmacMd5 => None,
            Prf::HmacSha1 => Some(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY),
            Prf::HmacSha256 => Some(ring::hmac::HMAC_SHA256),
            Prf::HmacSha384 => Some(ring::hmac::HMAC_SHA384),
            Prf::HmacSha512 => Some(ring::hmac::HMAC_SHA512),
        }
    }

    fn ring_digest(self) -> Option<&'static ring::digest::Algorithm> {
        match self {
            Prf::HmacMd5 => None,
            Prf::HmacSha1 => Some(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY),
            Prf::HmacSha256 => Some(&ring::digest::SHA256),
            Prf::HmacSha384 => Some(&ring::digest::SHA384),
            Prf::HmacSha512 => Some(&ring::digest::SHA512),
        }
    }

    /// `prf(key, parts[0] | parts[1] | ...)`, the parts streamed into the MAC.
    pub fn compute(self, key: &[u8], parts: &[&[u8]]) -> PrfOutput {
        match self.ring_hmac() {
            Some(algorithm) => {
                let key = ring::hmac::Key::new(algorithm, key);
                let mut ctx = ring::hmac::Context::with_key(&key);
                for part in parts {
                    ctx.update(part);
                }
                PrfOutput::from_slice(ctx.sign().as_ref())
            }
            None => {
                // HMAC accepts keys of any length (RFC 2104 §2), so this cannot fail.
                let mut mac = match hmac::Hmac::<md5::Md5>::new_from_slice(key) {
                    Ok(mac) => mac,
                    Err(_) => unreachable!("HMAC takes keys of any length"),
                };
                for part in parts {
                    mac.update(part);
                }
                let mut tag = mac.finalize().into_bytes();
                let out = PrfOutput::from_slice(&tag);
                tag.as_mut_slice().zeroize();
                out
            }
        }
    }

    /// The plain hash of `parts[0] | parts[1] | ...` (used for the IVs, Appendix B).
    pub fn hash(self, parts: &[&[u8]]) -> PrfOutput {
        match self.ring_digest() {
            Some(algorithm) => {
                let mut ctx = ring::digest::Context::new(algorithm);
                for part in parts {
                    ctx.update(part);
                }
                PrfOutput::from_slice(ctx.finish().as_ref())
            }
            None => {
                let mut hasher = md5::Md5::new();
                for part in parts {
                    hasher.update(part);
                }
                PrfOutput::from_slice(&hasher.finalize())
            }
        }
    }
}

/// One PRF or hash output (up to 64 bytes), zeroized on drop.
///
/// `Debug` prints only the length. Compare received hashes with [`PrfOutput::ct_eq`].
#[derive(Clone)]
pub struct PrfOutput {
    bytes: [u8; MAX_OUTPUT_LEN],
    len: usize,
}

impl PrfOutput {
    /// Copies `bytes` (at most [`MAX_OUTPUT_LEN`]; longer input is truncated, which no
    /// supported algorithm produces).
    pub(crate) fn from_slice(bytes: &[u8]) -> PrfOutput {
        let len = bytes.len().min(MAX_OUTPUT_LEN);
        let mut out = PrfOutput {
            bytes: [0; MAX_OUTPUT_LEN],
            len,
        };
        out.bytes[..len].copy_from_slice(&bytes[..len]);
        out
    }

    /// The output bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Output length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false for a computed output; here for API completeness.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Constant-time comparison with a received value (e.g. a peer's HASH_I).
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.as_bytes().ct_eq(other).into()
    }
}

impl AsRef<[u8]> for PrfOutput {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for PrfOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrfOutput({} bytes)", self.len)
    }
}

impl Zeroize for PrfOutput {
    fn zeroize(&mut self) {
        self.bytes.zeroize();
    }
}

impl Drop for PrfOutput {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for PrfOutput {}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    fn check(prf: Prf, key: &[u8], data: &[u8], expected: &[u8]) {
        assert_eq!(prf.compute(key, &[data]).as_bytes(), expected, "{prf:?}");
        // Streaming over several parts gives the same MAC as one slice.
        if data.len() > 3 {
            let (a, rest) = data.split_at(1);
            let (b, c) = rest.split_at(rest.len() / 2);
            assert_eq!(prf.compute(key, &[a, b, &[], c]).as_bytes(), expected);
        }
    }

    // RFC 2202 §2: HMAC-MD5 test cases 1-7.
    #[test]
    fn rfc2202_hmac_md5() {
        let p = Prf::HmacMd5;
        check(
            p,
            &[0x0b; 16],
            b"Hi There",
            &hex!("9294727a3638bb1c13f48ef8158bfc9d"),
        );
        check(
            p,
            b"Jefe",
            b"what do ya want for nothing?",
            &hex!("750c783e6ab0b503eaa86e310a5db738"),
        );
        check(
            p,
            &[0xaa; 16],
            &[0xdd; 50],
            &hex!("56be34521d144c88dbb8c733f0e8b3f6"),
        );
        check(
            p,
            &hex!("0102030405060708090a0b0c0d0e0f10111213141516171819"),
            &[0xcd; 50],
            &hex!("697eaf0aca3a3aea3a75164746ffaa79"),
        );
        check(
            p,
            &[0x0c; 16],
            b"Test With Truncation",
            &hex!("56461ef2342edc00f9bab995690efd4c"),
        );
        check(
            p,
            &[0xaa; 80],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            &hex!("6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"),
        );
        check(
            p,
            &[0xaa; 80],
            b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
            &hex!("6f630fad67cda0ee1fb1f562db3aa53e"),
        );
    }

    // RFC 2202 §3: HMAC-SHA-1 test cases 1-7.
    #[test]
    fn rfc2202_hmac_sha1() {
        let p = Prf::HmacSha1;
        check(
            p,
            &[0x0b; 20],
            b"Hi There",
            &hex!("b617318655057264e28bc0b6fb378c8ef146be00"),
        );
        check(
            p,
            b"Jefe",
            b"what do ya want for nothing?",
            &hex!("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
        );
        check(
            p,
            &[0xaa; 20],
            &[0xdd; 50],
            &hex!("125d7342b9ac11cd91a39af48aa17b4f63f175d3"),
        );
        check(
            p,
            &hex!("0102030405060708090a0b0c0d0e0f10111213141516171819"),
            &[0xcd; 50],
            &hex!("4c9007f4026250c6bc8414f9bf50c86c2d7235da"),
        );
        check(
            p,
            &[0x0c; 20],
            b"Test With Truncation",
            &hex!("4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"),
        );
        check(
            p,
            &[0xaa; 80],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            &hex!("aa4ae5e15272d00e95705637ce8a3b55ed402112"),
        );
        check(
            p,
            &[0xaa; 80],
            b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
            &hex!("e8e99d0f45237d786d6bbaa7965c7808bbff1a91"),
        );
    }

    // RFC 4231 §4.2-4.8 test cases 1-4, 6, 7 (case 5 tests truncated output, which
    // IKEv1 never uses as a prf).
    #[test]
    fn rfc4231_hmac_sha2() {
        struct Case {
            key: &'static [u8],
            data: &'static [u8],
            sha256: [u8; 32],
            sha384: [u8; 48],
            sha512: [u8; 64],
        }
        const KEY3: [u8; 20] = [0xaa; 20];
        const DATA3: [u8; 50] = [0xdd; 50];
        const DATA4: [u8; 50] = [0xcd; 50];
        const KEY6: [u8; 131] = [0xaa; 131];
        let cases = [
            Case {
                key: &[0x0b; 20],
                data: b"Hi There",
                sha256: hex!("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
                sha384: hex!(
                    "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
                    "faea9ea9076ede7f4af152e8b2fa9cb6"
                ),
                sha512: hex!(
                    "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
                    "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"
                ),
            },
            Case {
                key: b"Jefe",
                data: b"what do ya want for nothing?",
                sha256: hex!("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
                sha384: hex!(
                    "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
                    "8e2240ca5e69e2c78b3239ecfab21649"
                ),
                sha512: hex!(
                    "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
                    "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
                ),
            },
            Case {
                key: &KEY3,
                data: &DATA3,
                sha256: hex!("773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
                sha384: hex!(
                    "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b"
                    "2a5ab39dc13814b94e3ab6e101a34f27"
                ),
                sha512: hex!(
                    "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
                    "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb"
                ),
            },
            Case {
                key: &hex!("0102030405060708090a0b0c0d0e0f10111213141516171819"),
                data: &DATA4,
                sha256: hex!("82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
                sha384: hex!(
                    "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e"
                    "6801dd23c4a7d679ccf8a386c674cffb"
                ),
                sha512: hex!(
                    "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
                    "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd"
                ),
            },
            Case {
                key: &KEY6,
                data: b"Test Using Larger Than Block-Size Key - Hash Key First",
                sha256: hex!("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
                sha384: hex!(
                    "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6"
                    "0c2ef6ab4030fe8296248df163f44952"
                ),
                sha512: hex!(
                    "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
                    "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"
                ),
            },
            Case {
                key: &KEY6,
                data: b"This is a test using a larger than block-size key and a larger than \
                        block-size data. The key needs to be hashed before being used by the \
                        HMAC algorithm.",
                sha256: hex!("9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
                sha384: hex!(
                    "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5"
                    "a678cc31e799176d3860e6110c46523e"
                ),
                sha512: hex!(
                    "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944"
                    "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58"
                ),
            },
        ];
        for case in &cases {
            check(Prf::HmacSha256, case.key, case.data, &case.sha256);
            check(Prf::HmacSha384, case.key, case.data, &case.sha384);
            check(Prf::HmacSha512, case.key, case.data, &case.sha512);
        }
    }

    // FIPS 180-2 / RFC 1321 "abc" digests, through the streaming interface.
    #[test]
    fn plain_hashes() {
        let abc: &[&[u8]] = &[b"a", b"", b"bc"];
        assert_eq!(
            Prf::HmacMd5.hash(abc).as_bytes(),
            hex!("900150983cd24fb0d6963f7d28e17f72")
        );
        assert_eq!(
            Prf::HmacSha1.hash(abc).as_bytes(),
            hex!("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert_eq!(
            Prf::HmacSha256.hash(abc).as_bytes(),
            hex!("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            Prf::HmacSha384.hash(abc).as_bytes(),
            hex!(
                "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
                "8086072ba1e7cc2358baeca134c825a7"
            )
        );
        assert_eq!(
            Prf::HmacSha512.hash(abc).as_bytes(),
            hex!(
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
            )
        );
    }

    #[test]
    fn output_len_and_codes() {
        for prf in [
            Prf::HmacMd5,
            Prf::HmacSha1,
            Prf::HmacSha256,
            Prf::HmacSha384,
            Prf::HmacSha512,
        ] {
            assert_eq!(prf.compute(b"k", &[b"d"]).len(), prf.output_len());
            assert_eq!(prf.hash(&[b"d"]).len(), prf.output_len());
            assert_eq!(Prf::from_hash_algorithm(prf.hash_algorithm()), Some(prf));
        }
        assert_eq!(Prf::from_hash_algorithm(3), None); // Tiger
        assert_eq!(Prf::from_hash_algorithm(0), None);
    }

    #[test]
    fn ct_eq_and_debug_hide_secret() {
        let out = Prf::HmacSha1.compute(&[0x0b; 20], &[b"Hi There"]);
        assert!(out.ct_eq(&hex!("b617318655057264e28bc0b6fb378c8ef146be00")));
        assert!(!out.ct_eq(&hex!("b617318655057264e28bc0b6fb378c8ef146be01")));
        assert!(!out.ct_eq(&hex!("b617318655057264e28bc0b6fb378c8ef146be")));
        assert_eq!(format!("{out:?}"), "PrfOutput(20 bytes)");
    }
}

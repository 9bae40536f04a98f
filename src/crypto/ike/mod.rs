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
pub use dh::{DhGroup, PrivateKey, PublicValue, SharedSecret, SystemRng};
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

#[cfg(test)]
mod tests {
    //! A whole Main Mode + Quick Mode key schedule run by both peers through the
    //! public API, as the engines will use it: both sides must agree on every key
    //! and IV, and each must decrypt and authenticate what the other sent.
    use super::keys::{
        KeymatSeed, Phase1Exchange, Phase1Keys, keymat, quick_mode_hash1, skeyid_psk,
    };
    use super::*;
    use core::convert::Infallible;

    struct CountingRng(u8);

    impl rand_core::TryRng for CountingRng {
        type Error = Infallible;
        fn try_next_u32(&mut self) -> core::result::Result<u32, Infallible> {
            Ok(u32::from_le_bytes([
                self.step(),
                self.step(),
                self.step(),
                self.step(),
            ]))
        }
        fn try_next_u64(&mut self) -> core::result::Result<u64, Infallible> {
            Ok(u64::from(self.try_next_u32()?) << 32 | u64::from(self.try_next_u32()?))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> core::result::Result<(), Infallible> {
            dst.iter_mut().for_each(|b| *b = self.step());
            Ok(())
        }
    }

    impl rand_core::TryCryptoRng for CountingRng {}

    impl CountingRng {
        fn step(&mut self) -> u8 {
            self.0 = self.0.wrapping_mul(73).wrapping_add(41);
            self.0
        }
    }

    #[test]
    fn initiator_and_responder_agree() {
        let prf = Prf::HmacSha256;
        let cipher = Cipher::Aes256Cbc;
        let (cky_i, cky_r) = ([1u8; 8], [2u8; 8]);
        let (ni, nr) = ([3u8; 32], [4u8; 32]);
        let psk = b"secret";
        let sai_b = [0u8; 40];
        let id_i = [1, 0, 0, 0, 192, 0, 2, 1];

        for group in [DhGroup::Modp2048, DhGroup::Ecp256] {
            let x_i = PrivateKey::generate(group, &mut CountingRng(1));
            let x_r = PrivateKey::generate(group, &mut CountingRng(2));
            let (g_xi, g_xr) = (x_i.public_value(), x_r.public_value());
            let g_xy_i = x_i.agree(g_xr.as_bytes()).unwrap();
            let g_xy_r = x_r.agree(g_xi.as_bytes()).unwrap();

            let derive = |g_xy: &SharedSecret| {
                let skeyid = skeyid_psk(prf, psk, &ni, &nr);
                Phase1Keys::derive(prf, skeyid, g_xy.as_bytes(), &cky_i, &cky_r)
            };
            let (keys_i, keys_r) = (derive(&g_xy_i), derive(&g_xy_r));
            let exchange = Phase1Exchange {
                g_xi: g_xi.as_bytes(),
                g_xr: g_xr.as_bytes(),
                cky_i: &cky_i,
                cky_r: &cky_r,
                sai_b: &sai_b,
            };

            // Main Mode message 5: initiator encrypts ID + HASH_I, responder checks.
            let hash_i = exchange.hash_i(prf, keys_i.skeyid.as_bytes(), &id_i);
            let mut msg5 = [0u8; 48];
            msg5[..8].copy_from_slice(&id_i);
            msg5[8..40].copy_from_slice(hash_i.as_bytes());
            let mut chain_i = IvChain::phase1(prf, cipher, g_xi.as_bytes(), g_xr.as_bytes());
            let mut chain_r = IvChain::phase1(prf, cipher, g_xi.as_bytes(), g_xr.as_bytes());
            chain_i
                .encrypt(&keys_i.cipher_key(prf, cipher), &mut msg5)
                .unwrap();
            chain_r
                .decrypt(&keys_r.cipher_key(prf, cipher), &mut msg5)
                .unwrap();
            let expected = exchange.hash_i(prf, keys_r.skeyid.as_bytes(), &msg5[..8]);
            assert!(expected.ct_eq(&msg5[8..40]), "{group:?}");
            assert_eq!(chain_i, chain_r);

            // Quick Mode: both phase-2 IVs and HASH(1) and KEYMAT match.
            let m_id = 0x1234_5678;
            let qm_i = IvChain::phase2(prf, cipher, &chain_i, m_id);
            let qm_r = IvChain::phase2(prf, cipher, &chain_r, m_id);
            assert_eq!(qm_i, qm_r);
            let h_i = quick_mode_hash1(prf, keys_i.skeyid_a.as_bytes(), m_id, b"payloads");
            let h_r = quick_mode_hash1(prf, keys_r.skeyid_a.as_bytes(), m_id, b"payloads");
            assert!(h_i.ct_eq(h_r.as_bytes()));
            let seed = KeymatSeed {
                pfs_g_xy: None,
                protocol: 3,
                spi: &[0xc0, 0, 0, 1],
                ni_b: &[5; 16],
                nr_b: &[6; 16],
            };
            let (mut k_i, mut k_r) = ([0u8; 36], [0u8; 36]);
            keymat(prf, keys_i.skeyid_d.as_bytes(), &seed, &mut k_i);
            keymat(prf, keys_r.skeyid_d.as_bytes(), &seed, &mut k_r);
            assert_eq!(k_i, k_r);
        }
    }

    /// Arbitrary peer values of the right length never panic: they either agree or
    /// come back as a typed error.
    #[test]
    fn arbitrary_peer_values_do_not_panic() {
        let mut rng = CountingRng(9);
        for group in [
            DhGroup::Modp1024,
            DhGroup::Modp1536,
            DhGroup::Modp2048,
            DhGroup::Ecp256,
            DhGroup::Ecp384,
        ] {
            let key = PrivateKey::generate(group, &mut rng);
            let mut peer = [0u8; dh::MAX_PUBLIC_VALUE_LEN];
            for _ in 0..16 {
                use rand_core::Rng;
                let peer = &mut peer[..group.public_value_len()];
                rng.fill_bytes(peer);
                match key.agree(peer) {
                    Ok(secret) => assert_eq!(secret.as_bytes().len(), group.shared_secret_len()),
                    Err(Error::PublicValueOutOfRange(g) | Error::PointNotOnCurve(g)) => {
                        assert_eq!(g, group)
                    }
                    Err(other) => panic!("{group:?}: unexpected {other:?}"),
                }
            }
        }
    }
}

//! Diffie-Hellman for IKEv1: MODP groups 2, 5, 14 and ECP groups 19, 20.
//!
//! - MODP (RFC 2409 §6.2 group 2, 1024 bits; RFC 3526 §2 group 5, 1536 bits; RFC 3526
//!   §3 group 14, 2048 bits), generator 2. Arithmetic is crypto-bigint's fixed-size
//!   Montgomery exponentiation, constant time in the exponent. Public values and the
//!   shared secret are big-endian, zero-padded to the prime's length (RFC 2409 §5:
//!   "MUST be the length of the negotiated Diffie-Hellman group"). A peer value must
//!   be exactly that long and satisfy 1 < y < p-1, which excludes the degenerate
//!   values 0, 1 and p-1 (small-subgroup confinement to {1, p-1}).
//! - ECP (RFC 5903): P-256 (group 19) and P-384 (group 20) with the `p256`/`p384`
//!   crates. The KE payload is `x || y` with no SEC1 0x04 prefix (RFC 5903 §7) and the
//!   shared secret is the x coordinate of the product (§7, "g^ir"). A peer value must
//!   decode to a point on the curve other than the identity.
//!
//! Decisions: MODP private exponents are 256 bits. RFC 3526 §8 asks for at least
//! twice the group's strength (group 14: 110-160 bits, so 220-320); 256 bits covers
//! groups 2, 5 and 14 with one fixed-size type and keeps the exponentiation bound
//! public, so `pow_bounded_exp` leaks nothing. Randomness comes from the caller's
//! `rand_core::CryptoRng` so that tests can fix keys; [`PrivateKey::from_bytes`]
//! takes a known key for the RFC 5903 vectors and known-answer tests. Private keys
//! and shared secrets are zeroized on drop (the ECP secret keys by their crate).

use core::fmt;

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Odd, U256, U1024, U1536, U2048, Uint};
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{Error, Result};

/// Largest public value of a supported group (MODP 2048: 256 bytes).
pub const MAX_PUBLIC_VALUE_LEN: usize = 256;

/// Length of a MODP private exponent in bytes (see the module docs).
pub const MODP_EXPONENT_LEN: usize = 32;

/// A Diffie-Hellman group by its IKE group number (RFC 2409 Appendix A attribute 4,
/// IANA "Group Description").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DhGroup {
    /// Group 2: 1024-bit MODP (RFC 2409 §6.2).
    Modp1024,
    /// Group 5: 1536-bit MODP (RFC 3526 §2).
    Modp1536,
    /// Group 14: 2048-bit MODP (RFC 3526 §3).
    Modp2048,
    /// Group 19: 256-bit random ECP, NIST P-256 (RFC 5903).
    Ecp256,
    /// Group 20: 384-bit random ECP, NIST P-384 (RFC 5903).
    Ecp384,
}

impl DhGroup {
    /// The group for an IKE group number; `None` if we do not implement it.
    pub const fn from_id(id: u16) -> Option<DhGroup> {
        match id {
            2 => Some(DhGroup::Modp1024),
            5 => Some(DhGroup::Modp1536),
            14 => Some(DhGroup::Modp2048),
            19 => Some(DhGroup::Ecp256),
            20 => Some(DhGroup::Ecp384),
            _ => None,
        }
    }

    /// The IKE group number.
    pub const fn id(self) -> u16 {
        match self {
            DhGroup::Modp1024 => 2,
            DhGroup::Modp1536 => 5,
            DhGroup::Modp2048 => 14,
            DhGroup::Ecp256 => 19,
            DhGroup::Ecp384 => 20,
        }
    }

    /// Length of a KE payload's public value (MODP: the prime; ECP: `x || y`).
    pub const fn public_value_len(self) -> usize {
        match self {
            DhGroup::Modp1024 => 128,
            DhGroup::Modp1536 => 192,
            DhGroup::Modp2048 => 256,
            DhGroup::Ecp256 => 64,
            DhGroup::Ecp384 => 96,
        }
    }

    /// Length of the shared secret g^xy (MODP: the prime; ECP: the x coordinate).
    pub const fn shared_secret_len(self) -> usize {
        match self {
            DhGroup::Modp1024 => 128,
            DhGroup::Modp1536 => 192,
            DhGroup::Modp2048 => 256,
            DhGroup::Ecp256 => 32,
            DhGroup::Ecp384 => 48,
        }
    }

    /// Length of an encoded private key: the MODP exponent or the ECP scalar.
    pub const fn private_key_len(self) -> usize {
        match self {
            DhGroup::Modp1024 | DhGroup::Modp1536 | DhGroup::Modp2048 => MODP_EXPONENT_LEN,
            DhGroup::Ecp256 => 32,
            DhGroup::Ecp384 => 48,
        }
    }

    fn check_public_len(self, peer: &[u8]) -> Result<()> {
        if peer.len() != self.public_value_len() {
            return Err(Error::PublicValueLength {
                group: self,
                expected: self.public_value_len(),
                actual: peer.len(),
            });
        }
        Ok(())
    }
}

/// The MODP primes, hex copied from the RFC text (checked against the RFCs' formula
/// `2^n - 2^(n-64) - 1 + 2^64 * ([2^(n-130) pi] + k)` by
/// tests/vectors/ike/gen_vectors.py).
mod primes {
    use super::{Odd, U1024, U1536, U2048};

    /// RFC 2409 §6.2 (Oakley group 2).
    pub const MODP_1024: Odd<U1024> = Odd::<U1024>::from_be_hex(concat!(
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
        "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
        "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
    ));

    /// RFC 3526 §2 (group 5).
    pub const MODP_1536: Odd<U1536> = Odd::<U1536>::from_be_hex(concat!(
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
        "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
        "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
        "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
        "9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF",
    ));

    /// RFC 3526 §3 (group 14).
    pub const MODP_2048: Odd<U2048> = Odd::<U2048>::from_be_hex(concat!(
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
        "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
        "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
        "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
        "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
        "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
    ));
}

/// The MODP generator, 2, for all three groups (RFC 2409 §6.2, RFC 3526 §2-3).
const MODP_GENERATOR: u64 = 2;

/// `base^exponent mod p`, constant time in the exponent (256 bits, a public bound).
fn modp_pow<const L: usize>(p: &Odd<Uint<L>>, base: &Uint<L>, exponent: &U256) -> Uint<L> {
    let params = FixedMontyParams::new_vartime(*p);
    let mut base = FixedMontyForm::new(base, &params);
    let mut power = base.pow_bounded_exp(exponent, U256::BITS);
    let result = power.retrieve();
    base.zeroize();
    power.zeroize();
    result
}

/// Writes `base^x mod p` big-endian into `out` (exactly the prime's length).
/// `base` is `None` for the generator, else a peer value already length-checked.
fn modp<const L: usize>(
    group: DhGroup,
    p: &Odd<Uint<L>>,
    base: Option<&[u8]>,
    exponent: &[u8; MODP_EXPONENT_LEN],
    out: &mut [u8],
) -> Result<()> {
    let base = match base {
        None => Uint::<L>::from_u64(MODP_GENERATOR),
        Some(bytes) => {
            // Length checked by the caller: `from_be_slice` would panic otherwise.
            if bytes.len() != Uint::<L>::BYTES {
                return Err(Error::PublicValueLength {
                    group,
                    expected: Uint::<L>::BYTES,
                    actual: bytes.len(),
                });
            }
            let y = Uint::<L>::from_be_slice(bytes);
            let p_minus_1 = p.as_ref().wrapping_sub(&Uint::ONE);
            if y <= Uint::ONE || y >= p_minus_1 {
                return Err(Error::PublicValueOutOfRange(group));
            }
            y
        }
    };
    let mut x = U256::from_be_slice(exponent);
    let mut result = modp_pow(p, &base, &x);
    let mut encoded = result.to_be_bytes();
    out.copy_from_slice(encoded.as_slice());
    encoded.as_mut_slice().zeroize();
    x.zeroize();
    result.zeroize();
    Ok(())
}

/// A public value as carried in a KE payload (RFC 2408 §3.7).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicValue {
    bytes: [u8; MAX_PUBLIC_VALUE_LEN],
    len: usize,
}

impl PublicValue {
    /// The KE payload data.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl AsRef<[u8]> for PublicValue {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for PublicValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicValue({} bytes)", self.len)
    }
}

/// The shared secret g^xy, zeroized on drop; `Debug` prints only its length.
pub struct SharedSecret {
    bytes: [u8; MAX_PUBLIC_VALUE_LEN],
    len: usize,
}

impl SharedSecret {
    fn new(len: usize) -> SharedSecret {
        SharedSecret {
            bytes: [0; MAX_PUBLIC_VALUE_LEN],
            len,
        }
    }

    /// g^xy as RFC 2409 §5 feeds it to the prf.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl AsRef<[u8]> for SharedSecret {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedSecret({} bytes)", self.len)
    }
}

impl Drop for SharedSecret {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl ZeroizeOnDrop for SharedSecret {}

/// The operating system's CSPRNG (via `ring::rand::SystemRandom`) as a
/// `rand_core::CryptoRng`, for [`PrivateKey::generate`] outside tests.
///
/// `CryptoRng` cannot report failure, so a failing OS RNG (the `getrandom` syscall
/// failing on a running Linux system) panics: continuing without entropy would be
/// worse. This is not reachable from peer input.
#[derive(Debug)]
pub struct SystemRng(ring::rand::SystemRandom);

impl Default for SystemRng {
    fn default() -> SystemRng {
        SystemRng::new()
    }
}

impl SystemRng {
    /// A handle to the system RNG.
    pub fn new() -> SystemRng {
        SystemRng(ring::rand::SystemRandom::new())
    }
}

impl rand_core::TryRng for SystemRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> core::result::Result<u32, Self::Error> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> core::result::Result<u64, Self::Error> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> core::result::Result<(), Self::Error> {
        use ring::rand::SecureRandom;
        if self.0.fill(dst).is_err() {
            panic!("the operating system's random number generator failed");
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for SystemRng {}

enum Secret {
    Modp([u8; MODP_EXPONENT_LEN]),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
}

/// Our ephemeral DH private key for one exchange; zeroized on drop.
pub struct PrivateKey {
    group: DhGroup,
    secret: Secret,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({:?})", self.group)
    }
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        if let Secret::Modp(exponent) = &mut self.secret {
            exponent.zeroize();
        }
        // p256/p384 SecretKey zeroize themselves on drop.
    }
}

impl ZeroizeOnDrop for PrivateKey {}

impl PrivateKey {
    /// A fresh private key for `group` from `rng`.
    ///
    /// ECP scalars are drawn by rejection sampling (uniform in [1, n-1]); MODP
    /// exponents are 256 random bits, redrawn in the negligible case of 0 or 1.
    pub fn generate<R: CryptoRng + ?Sized>(group: DhGroup, rng: &mut R) -> PrivateKey {
        let mut bytes = [0u8; 48];
        let len = group.private_key_len();
        loop {
            rng.fill_bytes(&mut bytes[..len]);
            if let Ok(key) = PrivateKey::from_bytes(group, &bytes[..len]) {
                bytes.zeroize();
                return key;
            }
        }
    }

    /// A known private key: a 32-byte big-endian MODP exponent (at least 2), or a
    /// big-endian ECP scalar in [1, n-1] of the curve's length. For tests and
    /// known-answer checks; engines use [`PrivateKey::generate`].
    pub fn from_bytes(group: DhGroup, bytes: &[u8]) -> Result<PrivateKey> {
        let invalid = Error::InvalidPrivateKey(group);
        // Checked here for ECP too: `SecretKey::from_slice` would left-pad a short
        // scalar, and we want the exact encoding.
        if bytes.len() != group.private_key_len() {
            return Err(invalid);
        }
        let secret = match group {
            DhGroup::Modp1024 | DhGroup::Modp1536 | DhGroup::Modp2048 => {
                let exponent: [u8; MODP_EXPONENT_LEN] = bytes.try_into().map_err(|_| invalid)?;
                let mut x = U256::from_be_slice(&exponent);
                let too_small = x <= U256::ONE;
                x.zeroize();
                if too_small {
                    return Err(invalid);
                }
                Secret::Modp(exponent)
            }
            DhGroup::Ecp256 => {
                Secret::P256(p256::SecretKey::from_slice(bytes).map_err(|_| invalid)?)
            }
            DhGroup::Ecp384 => {
                Secret::P384(p384::SecretKey::from_slice(bytes).map_err(|_| invalid)?)
            }
        };
        Ok(PrivateKey { group, secret })
    }

    /// The group of this key.
    pub fn group(&self) -> DhGroup {
        self.group
    }

    /// Our public value, as it goes into the KE payload.
    pub fn public_value(&self) -> PublicValue {
        let mut out = PublicValue {
            bytes: [0; MAX_PUBLIC_VALUE_LEN],
            len: self.group.public_value_len(),
        };
        let dst = &mut out.bytes[..out.len];
        match &self.secret {
            Secret::Modp(x) => {
                // The generator needs no validation, so this cannot fail.
                let _ = self.modp(None, x, dst);
            }
            Secret::P256(key) => {
                use p256::elliptic_curve::sec1::ToSec1Point;
                let point = key.public_key().to_sec1_point(false);
                // SEC1 uncompressed: 0x04 || x || y; the KE payload drops the 0x04.
                dst.copy_from_slice(&point.as_bytes()[1..]);
            }
            Secret::P384(key) => {
                use p384::elliptic_curve::sec1::ToSec1Point;
                let point = key.public_key().to_sec1_point(false);
                dst.copy_from_slice(&point.as_bytes()[1..]);
            }
        }
        out
    }

    fn modp(&self, base: Option<&[u8]>, x: &[u8; MODP_EXPONENT_LEN], out: &mut [u8]) -> Result<()> {
        match self.group {
            DhGroup::Modp1024 => modp(self.group, &primes::MODP_1024, base, x, out),
            DhGroup::Modp1536 => modp(self.group, &primes::MODP_1536, base, x, out),
            DhGroup::Modp2048 => modp(self.group, &primes::MODP_2048, base, x, out),
            DhGroup::Ecp256 | DhGroup::Ecp384 => Err(Error::InvalidPrivateKey(self.group)),
        }
    }

    /// The shared secret with the peer's KE payload data, after validating it.
    pub fn agree(&self, peer: &[u8]) -> Result<SharedSecret> {
        self.group.check_public_len(peer)?;
        let mut out = SharedSecret::new(self.group.shared_secret_len());
        match &self.secret {
            Secret::Modp(x) => self.modp(Some(peer), x, &mut out.bytes[..out.len])?,
            Secret::P256(key) => {
                let mut sec1 = [0u8; 65];
                sec1[0] = 0x04;
                sec1[1..].copy_from_slice(peer);
                let peer = p256::PublicKey::from_sec1_bytes(&sec1)
                    .map_err(|_| Error::PointNotOnCurve(self.group))?;
                let mut scalar = key.to_nonzero_scalar();
                let shared = p256::ecdh::diffie_hellman(&scalar, peer.as_affine());
                scalar.zeroize();
                out.bytes[..out.len].copy_from_slice(shared.raw_secret_bytes());
            }
            Secret::P384(key) => {
                let mut sec1 = [0u8; 97];
                sec1[0] = 0x04;
                sec1[1..].copy_from_slice(peer);
                let peer = p384::PublicKey::from_sec1_bytes(&sec1)
                    .map_err(|_| Error::PointNotOnCurve(self.group))?;
                let mut scalar = key.to_nonzero_scalar();
                let shared = p384::ecdh::diffie_hellman(&scalar, peer.as_affine());
                scalar.zeroize();
                out.bytes[..out.len].copy_from_slice(shared.raw_secret_bytes());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::convert::Infallible;
    use hex_literal::hex;

    /// A deterministic test RNG (SplitMix64); never use outside tests.
    struct TestRng(u64);

    impl rand_core::TryRng for TestRng {
        type Error = Infallible;
        fn try_next_u32(&mut self) -> core::result::Result<u32, Infallible> {
            Ok(self.try_next_u64()? as u32)
        }
        fn try_next_u64(&mut self) -> core::result::Result<u64, Infallible> {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            Ok(z ^ (z >> 31))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> core::result::Result<(), Infallible> {
            for chunk in dst.chunks_mut(8) {
                let word = self.try_next_u64()?.to_le_bytes();
                chunk.copy_from_slice(&word[..chunk.len()]);
            }
            Ok(())
        }
    }

    impl rand_core::TryCryptoRng for TestRng {}

    fn check_vector(group: DhGroup, i: &[u8], g_i: &[u8], r: &[u8], g_r: &[u8], g_ir: &[u8]) {
        let key_i = PrivateKey::from_bytes(group, i).unwrap();
        let key_r = PrivateKey::from_bytes(group, r).unwrap();
        assert_eq!(key_i.public_value().as_bytes(), g_i, "{group:?} g^i");
        assert_eq!(key_r.public_value().as_bytes(), g_r, "{group:?} g^r");
        assert_eq!(
            key_i.agree(g_r).unwrap().as_bytes(),
            g_ir,
            "{group:?} g^ir (i)"
        );
        assert_eq!(
            key_r.agree(g_i).unwrap().as_bytes(),
            g_ir,
            "{group:?} g^ir (r)"
        );
    }

    // RFC 5903 §8.1: 256-bit random ECP group. g^i and g^r are x || y.
    #[test]
    fn rfc5903_ecp256() {
        check_vector(
            DhGroup::Ecp256,
            &hex!("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433"),
            &hex!(
                "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180"
                "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3"
            ),
            &hex!("C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53"),
            &hex!(
                "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63"
                "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB"
            ),
            &hex!("D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE"),
        );
    }

    // RFC 5903 §8.2: 384-bit random ECP group.
    #[test]
    fn rfc5903_ecp384() {
        check_vector(
            DhGroup::Ecp384,
            &hex!(
                "099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655"
                "E35B538041E649EE3FAEF896783AB194"
            ),
            &hex!(
                "667842D7D180AC2CDE6F74F37551F55755C7645C20EF73E31634FE72B4C55EE6"
                "DE3AC808ACB4BDB4C88732AEE95F41AA"
                "9482ED1FC0EEB9CAFC4984625CCFC23F65032149E0E144ADA024181535A0F38E"
                "EB9FCFF3C2C947DAE69B4C634573A81C"
            ),
            &hex!(
                "41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942"
                "E0308312916B8ED2960E4BD55A7448FC"
            ),
            &hex!(
                "E558DBEF53EECDE3D3FCCFC1AEA08A89A987475D12FD950D83CFA41732BC509D"
                "0D1AC43A0336DEF96FDA41D0774A3571"
                "DCFBEC7AACF3196472169E838430367F66EEBE3C6E70C416DD5F0C68759DD1FF"
                "F83FA40142209DFF5EAAD96DB9E6386C"
            ),
            &hex!(
                "11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4"
                "D603135569B9E9D09CF5D4A270F59746"
            ),
        );
    }

    // MODP known answers: private exponents x_i = 01 02 .. 20 and x_r = a0 a1 .. bf
    // (32 bytes each); the expected public values and shared secrets were computed
    // with Python's pow(2, x, p) (p from the RFC text, checked against the RFC's
    // formula) by tests/vectors/ike/gen_vectors.py.
    const X_I: [u8; 32] = hex!("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20");
    const X_R: [u8; 32] = hex!("a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf");

    #[test]
    fn modp_group2_known_answer() {
        check_vector(
            DhGroup::Modp1024,
            &X_I,
            &hex!(
                "457120764f3a1e6fd58103e41a4093a6c8bc1d97cb8759de41c21afdd2d3048a"
                "5ef3d88ce24aa6ba4fe30bcfb0b0f75abf1a8aeaff3723f1bf53740c902005e1"
                "199fabad7c538e94a7034fd585339a02f3634893f748929d2a7257643e398130"
                "541ae64124c17d4507a97f1cbebeb7b933642b8df479eb59e36cfeffbf1671dd"
            ),
            &X_R,
            &hex!(
                "1856d7d75da15c1401b60b018933a8dad2cce6110ac91ead86e91981e823343d"
                "b3b41dbcaaab910cf8c181c3ead43f70fa0b02e04749d3ca202114858c9763e1"
                "2db454cf03ad0b0d57d34b22dab200fea35f920132a4c38d1ead0f6de629c384"
                "25e2487ec1767043bc7991d799cac0fc9787db04bf2cb0043f9e2fe4a803915f"
            ),
            &hex!(
                "252ca98d8340ca9a1c134f65aa8e16e94a0f916a4a585360fc6b7e4d4a175bff"
                "5774a83d3b80566463ff2936be4846dacf0c5a5b6aad730bbc58e13b5185df76"
                "5bb447dd551678af4a24ac506ebffbf968fa2e9f9466366b79e8abfec7d37942"
                "21f362e63d1a94b6193b3e2888c4d8716b886f26d0a03e58b77e61fedd7dd343"
            ),
        );
    }

    #[test]
    fn modp_group5_known_answer() {
        check_vector(
            DhGroup::Modp1536,
            &X_I,
            &hex!(
                "c49abe8aa5377f182061fda2a016cd368801d9c78c05f8ba930f5fbb38251295"
                "ae5e69fc5345907150e8b4ef8f0e91a8ce2cf60fbbd32b7b7e2d687cb31118ff"
                "e58aa3c4ac2902ab42cd23350d46a3fd2a1500d4d4f510494a1df3e3f7b204c4"
                "1de7760549eafef2349638426ce9bf6293e64179212e8785d5e3880e42955c38"
                "b6a349a86a289b06ad626b43fad602c70fd1b1fe235fa29c65634482af893149"
                "9afff50befc3b150223f87be5e466d15139daac903cd81b4b84b1e899415a607"
            ),
            &X_R,
            &hex!(
                "2f6763e63cb9069789ca9ca466ef051cdf0a567c860fd58496c18520602fad0e"
                "02ccf69230f713f0de48e17d90bdacf6936cbbcf6a2595ddc271e67273fdeb62"
                "96676e3c5014ae630c774f4af4e44900585d2ce29aae93663b868cef97705a58"
                "e44b408ca01bee508c0972f1152eaa00ae06c5cef5389e19dce40654adfcba67"
                "f46d8f6e344dbb8f8615a258ad6c17ebcaaf0be86218d78edef676b4a015c63b"
                "61478818a610056aa19f8b58dd8c924cef9080820297f642c30ad72b12cb5741"
            ),
            &hex!(
                "436d4ed017a38d3dce85c259a2063304f5ff5a83b6fc2cca97414fc89cb202ee"
                "4f06d03affdd593736b7c04339112b408a2639eef659e042b4d4cc6680f65223"
                "d0617d7a20b09c79072d8f11650f1657b57cf4c1407db102a1c90710570f96f1"
                "594a8844893df01c357fb6055704f34c70b10bcc906d41fec4dd5a425e88981c"
                "9324faf3bf82e4e3c401f2183635e23eec089a8357384bbf335c0f808dfc2923"
                "0065a13248639dd47e7f1cbf5866bfb2534ad3f04d49f6fcd9721c78b8ad991c"
            ),
        );
    }

    #[test]
    fn modp_group14_known_answer() {
        check_vector(
            DhGroup::Modp2048,
            &X_I,
            &hex!(
                "ce8736a3ad7c8260e0c5e5a457931ad19966d693e5c32414496b73d7f4e8bdaf"
                "51763d49d07a56b0a188048d61d52bd2a06e706a7a46664113e794057474d04c"
                "96b5bb151a50b27818a513cd8d6ecf037fc638b3b2f1084c58d4419735ba12c9"
                "a4391e2b3133bd660785e468569be85c7ad4f904d98a13f5e8695ff8cc5e2283"
                "4228a8ea2c082ff49a07607e8e5c1278ce8091725678fde112491091bf4cf3b1"
                "759ccb32c1de0b90a074b1e3ffe179d71a292ff29ce9580c3a978793598c0e00"
                "8289e7ab7783b2b75caf9152267e8c981dbb28fde07f2e11ffe1e3984097d160"
                "2c61ffd0714d9523455377c177df3be6b3c81e69f762c04be910a225f323882d"
            ),
            &X_R,
            &hex!(
                "f0fee7626bcec4d1c5c1fb11b8058af4061c0e877d02ca7aedf42e33280eb58f"
                "4309a566a74456e01d97fdba45043cd674315204b9b2409f26aeffd643010ec5"
                "e197ee67b24f0f046d1dce630794822cfe9360ed40c6975d5a2bb5892686cea6"
                "469fb9f92a52210564419dd6bfd3e023d33a4468e81b97f309c7df7be746d866"
                "0089738b09885dc100285952096132ca8d3e369525e588df9cfa4ee06280f7a9"
                "acf92bf180187afa6a9927b9d65f26adf2417a2e4cf3974bc5992dbd4997337b"
                "ec667f7b73c5b59fa03d6455070825c9f69c3f048e7051485e2c7edd1ef97221"
                "9ec6c98c973f895982c4ad77784f8807ae75680ceeb8b1aafca61a1517b42ca7"
            ),
            &hex!(
                "423a4c756e577947c782c440d170222bc12f683c5558857e09c882f9286d8967"
                "28718fa3c97b72eacc8b3138e2900ff4baa551bec617d041627547964d9fbe24"
                "4b3942443d7580fc21dfabb9ed00eb9b52d1acdf85044518513a6f5a0f522f58"
                "1afee10d29171a0e0439ebd84f70390cd9560c638a934234430cccf9bd004479"
                "004d4c8dcc16985a6b78f82b62f334b490ba2a3a36c9f1fe75ce9cc210d6c900"
                "322fdcd98487c3f7d48666f348ac6a4dbd9cf55521c2c1d68b1c4e1cc8c2f611"
                "5892d0241792e93295e46bfe22241522264edcd8562f481a1f6ede3f6f01e650"
                "b11d9c9a159da66466777ab95e0081fa91576855cdbac2286d05d90eef8fd436"
            ),
        );
    }

    const ALL: [DhGroup; 5] = [
        DhGroup::Modp1024,
        DhGroup::Modp1536,
        DhGroup::Modp2048,
        DhGroup::Ecp256,
        DhGroup::Ecp384,
    ];

    #[test]
    fn generated_keys_agree() {
        let mut rng = TestRng(0x5eed);
        for group in ALL {
            let a = PrivateKey::generate(group, &mut rng);
            let b = PrivateKey::generate(group, &mut rng);
            let (pa, pb) = (a.public_value(), b.public_value());
            assert_eq!(pa.as_bytes().len(), group.public_value_len());
            assert_ne!(pa, pb);
            let (sa, sb) = (
                a.agree(pb.as_bytes()).unwrap(),
                b.agree(pa.as_bytes()).unwrap(),
            );
            assert_eq!(sa.as_bytes(), sb.as_bytes(), "{group:?}");
            assert_eq!(sa.as_bytes().len(), group.shared_secret_len());
            assert_eq!(DhGroup::from_id(group.id()), Some(group));
            assert_eq!(format!("{a:?}"), format!("PrivateKey({group:?})"));
            assert!(!format!("{sa:?}").contains(&format!("{:02x}", sa.as_bytes()[0])));
        }
        assert_eq!(DhGroup::from_id(1), None);
        assert_eq!(DhGroup::from_id(21), None);
    }

    #[test]
    fn system_rng_generates_distinct_keys() {
        let mut rng = SystemRng::new();
        for group in ALL {
            let a = PrivateKey::generate(group, &mut rng);
            let b = PrivateKey::generate(group, &mut rng);
            assert_ne!(a.public_value(), b.public_value(), "{group:?}");
            let shared = a.agree(b.public_value().as_bytes()).unwrap();
            assert_eq!(
                shared.as_bytes(),
                b.agree(a.public_value().as_bytes()).unwrap().as_bytes()
            );
        }
    }

    #[test]
    fn peer_value_length_is_checked() {
        let mut rng = TestRng(7);
        for group in ALL {
            let key = PrivateKey::generate(group, &mut rng);
            let len = group.public_value_len();
            let buf = [0x11u8; MAX_PUBLIC_VALUE_LEN + 1];
            for bad in [0, 1, len - 1, len + 1] {
                assert_eq!(
                    key.agree(&buf[..bad]).unwrap_err(),
                    Error::PublicValueLength {
                        group,
                        expected: len,
                        actual: bad
                    }
                );
            }
        }
    }

    #[test]
    fn modp_degenerate_peer_values_are_rejected() {
        let key = PrivateKey::from_bytes(DhGroup::Modp1024, &X_I).unwrap();
        let p = primes::MODP_1024.as_ref().to_be_bytes();
        let p = p.as_slice();
        // p ends in 0xff, so p-1 and p-2 only change the last byte.
        let mut p_minus_1 = [0u8; 128];
        p_minus_1.copy_from_slice(p);
        p_minus_1[127] = 0xfe;
        let mut p_minus_2 = p_minus_1;
        p_minus_2[127] = 0xfd;
        let mut one = [0u8; 128];
        one[127] = 1;
        let mut two = [0u8; 128];
        two[127] = 2;
        let mut p_exact = [0u8; 128];
        p_exact.copy_from_slice(p);
        // 0, 1, p-1, p and 2^1024-1 are outside 1 < y < p-1.
        for value in [[0u8; 128], one, p_minus_1, p_exact, [0xff; 128]] {
            assert_eq!(
                key.agree(&value).unwrap_err(),
                Error::PublicValueOutOfRange(DhGroup::Modp1024)
            );
        }
        // 2 and p-2 are the extremes that are accepted.
        assert!(key.agree(&two).is_ok());
        assert!(key.agree(&p_minus_2).is_ok());
    }

    #[test]
    fn ecp_points_off_the_curve_are_rejected() {
        let key = PrivateKey::from_bytes(
            DhGroup::Ecp256,
            &hex!("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433"),
        )
        .unwrap();
        let mut peer = hex!(
            "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63"
            "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB"
        );
        assert!(key.agree(&peer).is_ok());
        peer[63] ^= 1; // y no longer matches x
        assert_eq!(
            key.agree(&peer).unwrap_err(),
            Error::PointNotOnCurve(DhGroup::Ecp256)
        );
        assert_eq!(
            key.agree(&[0; 64]).unwrap_err(),
            Error::PointNotOnCurve(DhGroup::Ecp256)
        );
        let key = PrivateKey::generate(DhGroup::Ecp384, &mut TestRng(3));
        assert_eq!(
            key.agree(&[0xff; 96]).unwrap_err(),
            Error::PointNotOnCurve(DhGroup::Ecp384)
        );
    }

    #[test]
    fn invalid_private_keys_are_rejected() {
        for group in [DhGroup::Modp1024, DhGroup::Modp1536, DhGroup::Modp2048] {
            let err = Error::InvalidPrivateKey(group);
            assert_eq!(PrivateKey::from_bytes(group, &[0; 32]).unwrap_err(), err);
            let mut one = [0u8; 32];
            one[31] = 1;
            assert_eq!(PrivateKey::from_bytes(group, &one).unwrap_err(), err);
            assert_eq!(PrivateKey::from_bytes(group, &[5; 31]).unwrap_err(), err);
        }
        let err = Error::InvalidPrivateKey(DhGroup::Ecp256);
        assert_eq!(
            PrivateKey::from_bytes(DhGroup::Ecp256, &[0; 32]).unwrap_err(),
            err
        );
        // The group order n is not a valid scalar.
        let n = hex!("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
        assert_eq!(
            PrivateKey::from_bytes(DhGroup::Ecp256, &n).unwrap_err(),
            err
        );
        assert_eq!(
            PrivateKey::from_bytes(DhGroup::Ecp256, &[1; 31]).unwrap_err(),
            err
        );
        let err = Error::InvalidPrivateKey(DhGroup::Ecp384);
        assert_eq!(
            PrivateKey::from_bytes(DhGroup::Ecp384, &[1; 32]).unwrap_err(),
            err
        );
    }
}

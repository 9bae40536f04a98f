//! MS-CHAPv2 (RFC 2759 §8): NT-Response and Authenticator Response.
//!
//! The functions mirror RFC 2759 §8.1–§8.8 one for one (`GenerateNTResponse`,
//! `ChallengeHash`, `NtPasswordHash`, `HashNtPasswordHash`, `ChallengeResponse`,
//! `DesEncrypt`, `GenerateAuthenticatorResponse`, `CheckAuthenticatorResponse`), plus
//! [`verify_nt_response`], the authenticator's side of the exchange.
//!
//! Decisions:
//! - Passwords are held as their NT hash ([`PasswordHash`]) so that a user database
//!   may store NT hashes instead of clear-text passwords; [`PasswordHash::from_password`]
//!   hashes the UTF-16LE encoding of a `&str` (RFC 2759 §8.3) without a buffer.
//! - The user name fed to `ChallengeHash` is the name *as sent by the peer with any
//!   domain prefix removed*: RFC 2759 §8.2 says "Only the user name (as presented by
//!   the peer and excluding any prepended domain name) is used". Windows sends
//!   `DOMAIN\user`; pppd (`ChallengeHash` in chap_ms.c) strips through the last `\`,
//!   and FreeRADIUS does the same (rlm_mschap, `with_ntdomain_hack`, default on). So
//!   [`challenge_hash`] takes the raw Name field and strips it itself
//!   ([`user_name_without_domain`]); callers never strip.
//! - Comparisons of NT-Responses and Authenticator Responses are constant time.
//!   [`check_authenticator_response`] accepts lower-case hex from the peer (the RFC
//!   prints upper case; comparing case-insensitively costs nothing and avoids a
//!   spurious failure), still in constant time.
#![forbid(unsafe_code)]

use core::fmt;

use des::Des;
use des::cipher::{BlockCipherEncrypt, KeyInit};
use md4::Md4;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::AuthError;

/// Length of the Authenticator and Peer challenges (RFC 2759 §4, §5).
pub const CHALLENGE_LEN: usize = 16;
/// Length of the `ChallengeHash` output (RFC 2759 §8.2).
pub const CHALLENGE_HASH_LEN: usize = 8;
/// Length of the NT-Response (RFC 2759 §4).
pub const NT_RESPONSE_LEN: usize = 24;
/// Length of an NT password hash and of its hash (RFC 2759 §8.3, §8.4).
pub const PASSWORD_HASH_LEN: usize = 16;
/// Length of the `S=` + 40 hex digits Authenticator Response (RFC 2759 §5, §8.7).
pub const AUTHENTICATOR_RESPONSE_LEN: usize = 42;
/// Maximum password length in Unicode characters (RFC 2759 §8.1).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// "Magic server to client signing constant" (RFC 2759 §8.7, Magic1).
const MAGIC1: &[u8; 39] = b"Magic server to client signing constant";
/// "Pad to make it do more than one iteration" (RFC 2759 §8.7, Magic2).
const MAGIC2: &[u8; 41] = b"Pad to make it do more than one iteration";

/// An NT password hash, `MD4(UTF-16LE(password))` (RFC 2759 §8.3). Zeroized on drop,
/// never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PasswordHash([u8; PASSWORD_HASH_LEN]);

impl PasswordHash {
    /// `NtPasswordHash(Password)`: MD4 over the UTF-16LE encoding of `password`
    /// (RFC 2759 §8.3). Fails if the password exceeds 256 UTF-16 code units.
    pub fn from_password(password: &str) -> Result<Self, AuthError> {
        let mut md4 = Md4::new();
        let mut units = 0usize;
        for unit in password.encode_utf16() {
            units += 1;
            if units > MAX_PASSWORD_CHARS {
                return Err(AuthError::PasswordTooLong);
            }
            md4.update(unit.to_le_bytes());
        }
        Ok(PasswordHash(md4.finalize().into()))
    }

    /// An NT hash taken from storage (a users file or a directory).
    pub const fn from_bytes(hash: [u8; PASSWORD_HASH_LEN]) -> Self {
        PasswordHash(hash)
    }

    /// The raw hash, for handing to MPPE key derivation.
    pub fn as_bytes(&self) -> &[u8; PASSWORD_HASH_LEN] {
        &self.0
    }

    /// `HashNtPasswordHash(PasswordHash)` = MD4(PasswordHash) (RFC 2759 §8.4).
    pub fn hash(&self) -> PasswordHash {
        PasswordHash(Md4::digest(self.0).into())
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// The `S=<40 upper-case hex digits>` Authenticator Response (RFC 2759 §8.7). Not a
/// secret (it travels in the Success packet), so it prints.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AuthenticatorResponse([u8; AUTHENTICATOR_RESPONSE_LEN]);

impl AuthenticatorResponse {
    /// The 42 ASCII bytes, as placed in the Success message.
    pub const fn as_bytes(&self) -> &[u8; AUTHENTICATOR_RESPONSE_LEN] {
        &self.0
    }

    /// The same bytes as text.
    pub fn as_str(&self) -> &str {
        // Built only from "S=" and upper-case hex digits.
        core::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Debug for AuthenticatorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The user name without a `DOMAIN\` prefix: everything after the last backslash
/// (RFC 2759 §8.2; pppd and FreeRADIUS behave the same way).
pub fn user_name_without_domain(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b'\\') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// `ChallengeHash` (RFC 2759 §8.2): the first 8 octets of
/// `SHA1(PeerChallenge | AuthenticatorChallenge | UserName)`, where `user_name` is the
/// Name field as sent; any domain prefix is stripped here.
pub fn challenge_hash(
    peer_challenge: &[u8; CHALLENGE_LEN],
    authenticator_challenge: &[u8; CHALLENGE_LEN],
    user_name: &[u8],
) -> [u8; CHALLENGE_HASH_LEN] {
    let mut sha = Sha1::new();
    sha.update(peer_challenge);
    sha.update(authenticator_challenge);
    sha.update(user_name_without_domain(user_name));
    let digest = sha.finalize();
    let mut out = [0u8; CHALLENGE_HASH_LEN];
    out.copy_from_slice(&digest[..CHALLENGE_HASH_LEN]);
    out
}

/// Expands 7 key octets to an 8-octet DES key, 7 bits per octet, with odd parity in
/// the low bit (the `DesEncrypt` key schedule of RFC 2759 §8.6; the parity bits are
/// ignored by DES but set as other implementations do).
fn des_key_from_7(k: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[0] = k[0];
    out[1] = (k[0] << 7) | (k[1] >> 1);
    out[2] = (k[1] << 6) | (k[2] >> 2);
    out[3] = (k[2] << 5) | (k[3] >> 3);
    out[4] = (k[3] << 4) | (k[4] >> 4);
    out[5] = (k[4] << 3) | (k[5] >> 5);
    out[6] = (k[5] << 2) | (k[6] >> 6);
    out[7] = k[6] << 1;
    for b in &mut out {
        // Odd parity: the low bit makes the count of one bits odd.
        let ones = (*b & 0xfe).count_ones();
        *b = (*b & 0xfe) | u8::from(ones % 2 == 0);
    }
    out
}

/// `DesEncrypt(Clear, Key)` (RFC 2759 §8.6): one DES-ECB block under a 7-octet key.
fn des_encrypt(clear: &[u8; 8], key7: &[u8]) -> [u8; 8] {
    let mut key = des_key_from_7(key7);
    let des = Des::new(&key.into());
    key.zeroize();
    let mut block = (*clear).into();
    des.encrypt_block(&mut block);
    block.into()
}

/// `ChallengeResponse(Challenge, PasswordHash)` (RFC 2759 §8.5): the hash, zero-padded
/// to 21 octets, is three DES keys that each encrypt the 8-octet challenge.
pub fn challenge_response(
    challenge: &[u8; CHALLENGE_HASH_LEN],
    password_hash: &PasswordHash,
) -> [u8; NT_RESPONSE_LEN] {
    let mut z = [0u8; 21];
    z[..PASSWORD_HASH_LEN].copy_from_slice(&password_hash.0);
    let mut out = [0u8; NT_RESPONSE_LEN];
    for (i, chunk) in out.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&des_encrypt(challenge, &z[i * 7..i * 7 + 7]));
    }
    z.zeroize();
    out
}

/// `GenerateNTResponse` (RFC 2759 §8.1), from the password's NT hash.
pub fn generate_nt_response(
    authenticator_challenge: &[u8; CHALLENGE_LEN],
    peer_challenge: &[u8; CHALLENGE_LEN],
    user_name: &[u8],
    password_hash: &PasswordHash,
) -> [u8; NT_RESPONSE_LEN] {
    let challenge = challenge_hash(peer_challenge, authenticator_challenge, user_name);
    challenge_response(&challenge, password_hash)
}

/// `GenerateAuthenticatorResponse` (RFC 2759 §8.7).
pub fn generate_authenticator_response(
    password_hash: &PasswordHash,
    nt_response: &[u8; NT_RESPONSE_LEN],
    peer_challenge: &[u8; CHALLENGE_LEN],
    authenticator_challenge: &[u8; CHALLENGE_LEN],
    user_name: &[u8],
) -> AuthenticatorResponse {
    let password_hash_hash = password_hash.hash();
    let mut sha = Sha1::new();
    sha.update(password_hash_hash.0);
    sha.update(nt_response);
    sha.update(MAGIC1);
    let mut digest: [u8; 20] = sha.finalize().into();

    let challenge = challenge_hash(peer_challenge, authenticator_challenge, user_name);
    let mut sha = Sha1::new();
    sha.update(digest);
    sha.update(challenge);
    sha.update(MAGIC2);
    digest.zeroize();
    let digest: [u8; 20] = sha.finalize().into();

    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = [0u8; AUTHENTICATOR_RESPONSE_LEN];
    out[0] = b'S';
    out[1] = b'=';
    for (i, b) in digest.iter().enumerate() {
        out[2 + 2 * i] = HEX[usize::from(b >> 4)];
        out[3 + 2 * i] = HEX[usize::from(b & 0x0f)];
    }
    AuthenticatorResponse(out)
}

/// `CheckAuthenticatorResponse` (RFC 2759 §8.8), the peer's check of the
/// authenticator's Success message. `received` is the 42-octet `S=...` string.
pub fn check_authenticator_response(
    password_hash: &PasswordHash,
    nt_response: &[u8; NT_RESPONSE_LEN],
    peer_challenge: &[u8; CHALLENGE_LEN],
    authenticator_challenge: &[u8; CHALLENGE_LEN],
    user_name: &[u8],
    received: &[u8],
) -> Result<(), AuthError> {
    if received.len() != AUTHENTICATOR_RESPONSE_LEN {
        return Err(AuthError::BadLength);
    }
    let expected = generate_authenticator_response(
        password_hash,
        nt_response,
        peer_challenge,
        authenticator_challenge,
        user_name,
    );
    let mut normalized = [0u8; AUTHENTICATOR_RESPONSE_LEN];
    for (n, r) in normalized.iter_mut().zip(received) {
        *n = r.to_ascii_uppercase();
    }
    if bool::from(expected.0.ct_eq(&normalized)) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

/// The authenticator's check of a Response packet: recomputes the NT-Response from
/// the stored password hash, compares it in constant time and, on success, returns
/// the Authenticator Response to put in the Success packet (RFC 2759 §5, §6).
pub fn verify_nt_response(
    password_hash: &PasswordHash,
    authenticator_challenge: &[u8; CHALLENGE_LEN],
    peer_challenge: &[u8; CHALLENGE_LEN],
    user_name: &[u8],
    nt_response: &[u8],
) -> Result<AuthenticatorResponse, AuthError> {
    let received: &[u8; NT_RESPONSE_LEN] =
        nt_response.try_into().map_err(|_| AuthError::BadLength)?;
    let mut expected = generate_nt_response(
        authenticator_challenge,
        peer_challenge,
        user_name,
        password_hash,
    );
    let ok = bool::from(expected.ct_eq(received));
    expected.zeroize();
    if !ok {
        return Err(AuthError::Mismatch);
    }
    Ok(generate_authenticator_response(
        password_hash,
        received,
        peer_challenge,
        authenticator_challenge,
        user_name,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    // RFC 2759 §9.2, "Sample MS-CHAPv2 data".
    const USER: &[u8] = b"User";
    const PASSWORD: &str = "clientPass";
    const AUTH_CHALLENGE: [u8; 16] = hex!("5B5D7C7D7B3F2F3E3C2C602132262628");
    const PEER_CHALLENGE: [u8; 16] = hex!("21402324255E262A28295F2B3A337C7E");
    const CHALLENGE: [u8; 8] = hex!("D02E4386BCE91226");
    const PASSWORD_HASH: [u8; 16] = hex!("44EBBA8D5312B8D611474411F56989AE");
    const NT_RESPONSE: [u8; 24] = hex!("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF");
    const PASSWORD_HASH_HASH: [u8; 16] = hex!("41C00C584BD2D91C4017A2A12FA59F3F");
    const AUTH_RESPONSE: &[u8; 42] = b"S=407A5589115FD0D6209F510FE9C04566932CDA56";

    #[test]
    fn rfc2759_challenge_hash() {
        assert_eq!(
            challenge_hash(&PEER_CHALLENGE, &AUTH_CHALLENGE, USER),
            CHALLENGE
        );
    }

    #[test]
    fn rfc2759_password_hashes() {
        let h = PasswordHash::from_password(PASSWORD).unwrap();
        assert_eq!(h.as_bytes(), &PASSWORD_HASH);
        assert_eq!(h.hash().as_bytes(), &PASSWORD_HASH_HASH);
    }

    #[test]
    fn rfc2759_nt_response() {
        let h = PasswordHash::from_password(PASSWORD).unwrap();
        assert_eq!(challenge_response(&CHALLENGE, &h), NT_RESPONSE);
        assert_eq!(
            generate_nt_response(&AUTH_CHALLENGE, &PEER_CHALLENGE, USER, &h),
            NT_RESPONSE
        );
    }

    #[test]
    fn rfc2759_authenticator_response() {
        let h = PasswordHash::from_bytes(PASSWORD_HASH);
        let r = generate_authenticator_response(
            &h,
            &NT_RESPONSE,
            &PEER_CHALLENGE,
            &AUTH_CHALLENGE,
            USER,
        );
        assert_eq!(r.as_bytes(), AUTH_RESPONSE);
        assert_eq!(r.as_str(), "S=407A5589115FD0D6209F510FE9C04566932CDA56");
    }

    #[test]
    fn check_authenticator_response_constant_time_paths() {
        let h = PasswordHash::from_bytes(PASSWORD_HASH);
        let check = |r: &[u8]| {
            check_authenticator_response(
                &h,
                &NT_RESPONSE,
                &PEER_CHALLENGE,
                &AUTH_CHALLENGE,
                USER,
                r,
            )
        };
        assert_eq!(check(AUTH_RESPONSE), Ok(()));
        assert_eq!(check(&AUTH_RESPONSE.to_ascii_lowercase()), Ok(()));
        let mut bad = *AUTH_RESPONSE;
        bad[41] = b'7';
        assert_eq!(check(&bad), Err(AuthError::Mismatch));
        assert_eq!(check(&AUTH_RESPONSE[..41]), Err(AuthError::BadLength));
    }

    #[test]
    fn verify_nt_response_server_side() {
        let h = PasswordHash::from_password(PASSWORD).unwrap();
        let r =
            verify_nt_response(&h, &AUTH_CHALLENGE, &PEER_CHALLENGE, USER, &NT_RESPONSE).unwrap();
        assert_eq!(r.as_bytes(), AUTH_RESPONSE);

        let mut bad = NT_RESPONSE;
        bad[0] ^= 0x80;
        assert_eq!(
            verify_nt_response(&h, &AUTH_CHALLENGE, &PEER_CHALLENGE, USER, &bad),
            Err(AuthError::Mismatch)
        );
        assert_eq!(
            verify_nt_response(
                &h,
                &AUTH_CHALLENGE,
                &PEER_CHALLENGE,
                USER,
                &NT_RESPONSE[..23]
            ),
            Err(AuthError::BadLength)
        );
        let wrong = PasswordHash::from_password("clientPasS").unwrap();
        assert_eq!(
            verify_nt_response(&wrong, &AUTH_CHALLENGE, &PEER_CHALLENGE, USER, &NT_RESPONSE),
            Err(AuthError::Mismatch)
        );
    }

    #[test]
    fn domain_prefix_is_not_hashed() {
        assert_eq!(user_name_without_domain(b"ACME\\User"), b"User");
        assert_eq!(user_name_without_domain(b"A\\B\\User"), b"User");
        assert_eq!(user_name_without_domain(b"User"), b"User");
        assert_eq!(user_name_without_domain(b"ACME\\"), b"");
        assert_eq!(
            challenge_hash(&PEER_CHALLENGE, &AUTH_CHALLENGE, b"ACME\\User"),
            CHALLENGE
        );
        let h = PasswordHash::from_bytes(PASSWORD_HASH);
        assert!(
            verify_nt_response(
                &h,
                &AUTH_CHALLENGE,
                &PEER_CHALLENGE,
                b"ACME\\User",
                &NT_RESPONSE
            )
            .is_ok()
        );
    }

    #[test]
    fn password_length_limit() {
        let max: String = core::iter::repeat_n('x', MAX_PASSWORD_CHARS).collect();
        assert!(PasswordHash::from_password(&max).is_ok());
        let over: String = core::iter::repeat_n('x', MAX_PASSWORD_CHARS + 1).collect();
        assert_eq!(
            PasswordHash::from_password(&over).err(),
            Some(AuthError::PasswordTooLong)
        );
    }

    #[test]
    fn des_key_parity() {
        // Seven one bits are already odd, so the parity bit stays clear.
        let k = des_key_from_7(&[0xff; 7]);
        assert_eq!(k, [0xfe; 8]);
        let k = des_key_from_7(&[0; 7]);
        assert_eq!(k, [0x01; 8]);
    }

    #[test]
    fn debug_hides_secret() {
        let h = PasswordHash::from_bytes(PASSWORD_HASH);
        assert_eq!(format!("{h:?}"), "PasswordHash(..)");
    }
}

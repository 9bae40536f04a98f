//! Local authentication against a [`Users`] table (PAP, CHAP-MD5, MS-CHAPv2) and
//! per-user session limits.
//!
//! Everything here is sans-IO: pure functions over the table, plus
//! [`SessionLimits`], a counter of sessions per user that hands out a
//! [`SessionTicket`] per admitted session and takes it back when the session ends.
//! [`LocalAuthenticator`] bundles the two with counters, which is what the control
//! thread drives.
//!
//! - PAP (RFC 1334 §2.2.1): the received password and the stored secret are both
//!   hashed with SHA-256 and the digests compared in constant time, so neither the
//!   contents nor the length of the secret leak through timing. An unknown user costs
//!   the same hashing.
//! - CHAP-MD5 (RFC 1994 §4.1): `crate::crypto::ppp::chap::verify`. The same call
//!   checks an LAC's proxy authentication (RFC 2661 §4.4.5: Proxy Authen ID,
//!   Challenge and Response); a proxied PAP password goes through [`verify_pap`].
//! - MS-CHAPv2 (RFC 2759 §5, §8): `crate::crypto::ppp::mschapv2::verify_nt_response`;
//!   success yields the Authenticator Response for the Success packet and the MPPE
//!   master key (RFC 3079 §3.4). The user is looked up by the exact name first, then,
//!   if the name has a `DOMAIN\` prefix, by the name after it, since Windows clients
//!   send `DOMAIN\user` and RFC 2759 §8.2 itself drops the domain.
//!
//! Results are typed ([`AuthError`]); their `Display` and [`LogSafeName`] are safe to
//! log: never a secret, never a proof (response, NT-Response), and the peer-supplied
//! name escaped and truncated.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::users::{User, Users};
use crate::config::ConfigErrors;
use crate::crypto::ppp::AuthError as CryptoAuthError;
use crate::crypto::ppp::chap;
use crate::crypto::ppp::mppe::MasterKey;
use crate::crypto::ppp::mschapv2::{
    self, AuthenticatorResponse, CHALLENGE_LEN, NT_RESPONSE_LEN, user_name_without_domain,
};

/// Why a subscriber was not let in. `Display` is log-safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AuthError {
    /// No such user in the table.
    #[error("unknown user")]
    UnknownUser,
    /// The user exists but the password or proof does not verify.
    #[error("wrong secret")]
    BadSecret,
    /// The response has the wrong length for its method (a broken or hostile peer).
    #[error("malformed authentication response")]
    Malformed,
    /// The user already has `limit` sessions.
    #[error("per-user session limit reached ({limit} sessions)")]
    LimitReached { limit: u32 },
}

impl AuthError {
    /// Whether trying again later may succeed (the user is at its session limit), as
    /// opposed to a refusal that will repeat: for choosing between "temporary" and
    /// "permanent" in the CDN result code (RFC 2661 §4.4.2, result codes 4 and 5).
    pub fn is_temporary(&self) -> bool {
        matches!(self, AuthError::LimitReached { .. })
    }
}

impl From<CryptoAuthError> for AuthError {
    fn from(error: CryptoAuthError) -> AuthError {
        match error {
            CryptoAuthError::BadLength => AuthError::Malformed,
            CryptoAuthError::Mismatch | CryptoAuthError::PasswordTooLong => AuthError::BadSecret,
        }
    }
}

/// Who authenticated: what the session needs from the users file. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user's name as written in the users file.
    pub name: String,
    /// The static address, if the user has one.
    pub address: Option<Ipv4Addr>,
    /// The per-user session limit, if any.
    pub max_sessions: Option<u32>,
}

impl Identity {
    fn of(user: &User) -> Identity {
        Identity {
            name: user.name.clone(),
            address: user.address,
            max_sessions: user.max_sessions,
        }
    }
}

/// What a successful MS-CHAPv2 exchange yields besides the identity.
#[derive(Debug, Clone)]
pub struct MsChapV2Keys {
    /// `S=...`, for the Success packet (RFC 2759 §5).
    pub authenticator_response: AuthenticatorResponse,
    /// The MPPE master key (RFC 3079 §3.4), from which
    /// `crate::crypto::ppp::mppe::get_asymmetric_start_key` derives the start keys.
    /// Zeroized on drop, never printed.
    pub master_key: MasterKey,
}

/// A peer-supplied user name for a log line: at most 64 bytes, anything but printable
/// ASCII escaped as `\xNN`, in double quotes.
#[derive(Clone, Copy)]
pub struct LogSafeName<'a>(pub &'a [u8]);

/// Longest part of a name [`LogSafeName`] prints.
const LOG_NAME_MAX: usize = 64;

impl fmt::Display for LogSafeName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for &b in self.0.iter().take(LOG_NAME_MAX) {
            match b {
                b'"' | b'\\' => write!(f, "\\{}", b as char)?,
                0x20..=0x7e => write!(f, "{}", b as char)?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        f.write_str("\"")?;
        if self.0.len() > LOG_NAME_MAX {
            write!(f, "...({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

impl fmt::Debug for LogSafeName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `user "NAME": REASON`, for the log line of a refused call.
pub fn describe_failure(name: &[u8], error: AuthError) -> String {
    format!("user {}: {error}", LogSafeName(name))
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// PAP (RFC 1334 §2.2.1): `name` and `password` as received (Peer-ID, Passwd).
pub fn verify_pap(users: &Users, name: &[u8], password: &[u8]) -> Result<Identity, AuthError> {
    let received = sha256(password);
    let Some(user) = users.get(name) else {
        // Same work as a known user, so timing does not tell which names exist.
        let _ = sha256(b"").ct_eq(&received);
        return Err(AuthError::UnknownUser);
    };
    let expected = sha256(user.secret.expose());
    if bool::from(expected.ct_eq(&received)) {
        Ok(Identity::of(user))
    } else {
        Err(AuthError::BadSecret)
    }
}

/// CHAP with MD5 (RFC 1994 §4.1): the Identifier and Challenge we sent, and the
/// Response Value and Name the peer sent.
pub fn verify_chap_md5(
    users: &Users,
    name: &[u8],
    identifier: u8,
    challenge: &[u8],
    response: &[u8],
) -> Result<Identity, AuthError> {
    let user = users.get(name).ok_or(AuthError::UnknownUser)?;
    chap::verify(identifier, user.secret.expose(), challenge, response)?;
    Ok(Identity::of(user))
}

/// MS-CHAPv2 (RFC 2759 §4–§6): our Authenticator Challenge, and the Peer-Challenge,
/// NT-Response and Name of the peer's Response packet.
pub fn verify_mschapv2(
    users: &Users,
    name: &[u8],
    authenticator_challenge: &[u8; CHALLENGE_LEN],
    peer_challenge: &[u8; CHALLENGE_LEN],
    nt_response: &[u8],
) -> Result<(Identity, MsChapV2Keys), AuthError> {
    let user = users
        .get(name)
        .or_else(|| {
            let bare = user_name_without_domain(name);
            (bare.len() != name.len())
                .then(|| users.get(bare))
                .flatten()
        })
        .ok_or(AuthError::UnknownUser)?;
    let received: &[u8; NT_RESPONSE_LEN] =
        nt_response.try_into().map_err(|_| AuthError::Malformed)?;
    // The challenge hash uses the name as sent (the crypto strips the domain itself).
    let authenticator_response = mschapv2::verify_nt_response(
        user.secret.nt_hash(),
        authenticator_challenge,
        peer_challenge,
        name,
        received,
    )?;
    let master_key = MasterKey::from_password_hash(user.secret.nt_hash(), received);
    Ok((
        Identity::of(user),
        MsChapV2Keys {
            authenticator_response,
            master_key,
        },
    ))
}

/// Proof that one session of a user was admitted; hand it back to
/// [`SessionLimits::end`] when the session ends, on every teardown path. Not `Clone`:
/// one ticket, one release. Dropping it without `end` leaks the slot until the
/// counter is rebuilt, so the session table should own it.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a session ticket must be returned with SessionLimits::end"]
pub struct SessionTicket {
    name: String,
}

impl SessionTicket {
    /// The user this ticket counts against.
    pub fn user(&self) -> &str {
        &self.name
    }
}

/// Sessions per user, enforcing each user's `max-sessions`.
#[derive(Debug, Default)]
pub struct SessionLimits {
    active: HashMap<String, u32>,
    total: u64,
}

impl SessionLimits {
    pub fn new() -> SessionLimits {
        SessionLimits::default()
    }

    /// Admits one more session of `identity` if its limit allows. The limit is the
    /// one in `identity` (so after a reload that lowers it, existing sessions stay
    /// and new ones wait until enough end).
    pub fn try_start(&mut self, identity: &Identity) -> Result<SessionTicket, AuthError> {
        let count = self.active.get(&identity.name).copied().unwrap_or(0);
        if let Some(limit) = identity.max_sessions
            && count >= limit
        {
            return Err(AuthError::LimitReached { limit });
        }
        *self.active.entry(identity.name.clone()).or_insert(0) += 1;
        self.total += 1;
        Ok(SessionTicket {
            name: identity.name.clone(),
        })
    }

    /// Releases the session `ticket` was issued for.
    pub fn end(&mut self, ticket: SessionTicket) {
        if let Some(count) = self.active.get_mut(&ticket.name) {
            *count -= 1;
            if *count == 0 {
                self.active.remove(&ticket.name);
            }
            self.total -= 1;
        }
    }

    /// Sessions `name` has now.
    pub fn active(&self, name: &str) -> u32 {
        self.active.get(name).copied().unwrap_or(0)
    }

    /// Sessions of all users.
    pub fn total(&self) -> u64 {
        self.total
    }
}

/// Counters of a [`LocalAuthenticator`], for the metrics layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthCounters {
    pub accepted: u64,
    pub unknown_user: u64,
    pub bad_secret: u64,
    pub malformed: u64,
    pub limit_reached: u64,
    pub sessions_ended: u64,
    pub reloads: u64,
    pub reload_failures: u64,
}

/// An admitted session: who, and the ticket to return when it ends.
#[derive(Debug)]
pub struct Grant {
    pub identity: Identity,
    pub ticket: SessionTicket,
}

/// The local backend as the control thread uses it: the users table, per-user
/// session limits and counters. Each method verifies, then admits against the
/// user's limit; a failure is counted and returned.
#[derive(Debug, Default)]
pub struct LocalAuthenticator {
    users: Users,
    sessions: SessionLimits,
    counters: AuthCounters,
}

impl LocalAuthenticator {
    pub fn new(users: Users) -> LocalAuthenticator {
        LocalAuthenticator {
            users,
            sessions: SessionLimits::new(),
            counters: AuthCounters::default(),
        }
    }

    pub fn users(&self) -> &Users {
        &self.users
    }

    /// Replaces the table (a reload the caller did itself, e.g. to add the demo user
    /// to a freshly loaded file). Sessions in progress keep their tickets.
    pub fn set_users(&mut self, users: Users) {
        self.users = users;
    }

    /// Re-reads the users file ([`Users::reload`]): on error the old table stays and
    /// the errors are returned for the log.
    pub fn reload(&mut self) -> Result<(), ConfigErrors> {
        self.counters.reloads += 1;
        let result = self.users.reload();
        if result.is_err() {
            self.counters.reload_failures += 1;
        }
        result
    }

    pub fn pap(&mut self, name: &[u8], password: &[u8]) -> Result<Grant, AuthError> {
        let result = verify_pap(&self.users, name, password);
        self.admit(result)
    }

    pub fn chap_md5(
        &mut self,
        name: &[u8],
        identifier: u8,
        challenge: &[u8],
        response: &[u8],
    ) -> Result<Grant, AuthError> {
        let result = verify_chap_md5(&self.users, name, identifier, challenge, response);
        self.admit(result)
    }

    pub fn mschapv2(
        &mut self,
        name: &[u8],
        authenticator_challenge: &[u8; CHALLENGE_LEN],
        peer_challenge: &[u8; CHALLENGE_LEN],
        nt_response: &[u8],
    ) -> Result<(Grant, MsChapV2Keys), AuthError> {
        let (identity, keys) = match verify_mschapv2(
            &self.users,
            name,
            authenticator_challenge,
            peer_challenge,
            nt_response,
        ) {
            Ok(verified) => verified,
            Err(error) => return Err(self.count(error)),
        };
        let grant = self.admit(Ok(identity))?;
        Ok((grant, keys))
    }

    /// Returns a session's ticket when it ends.
    pub fn end_session(&mut self, ticket: SessionTicket) {
        self.counters.sessions_ended += 1;
        self.sessions.end(ticket);
    }

    /// Sessions `name` has now.
    pub fn active_sessions(&self, name: &str) -> u32 {
        self.sessions.active(name)
    }

    /// Sessions admitted and not yet ended.
    pub fn total_sessions(&self) -> u64 {
        self.sessions.total()
    }

    pub fn counters(&self) -> AuthCounters {
        self.counters
    }

    fn admit(&mut self, verified: Result<Identity, AuthError>) -> Result<Grant, AuthError> {
        let identity = verified.map_err(|error| self.count(error))?;
        match self.sessions.try_start(&identity) {
            Ok(ticket) => {
                self.counters.accepted += 1;
                Ok(Grant { identity, ticket })
            }
            Err(error) => Err(self.count(error)),
        }
    }

    fn count(&mut self, error: AuthError) -> AuthError {
        let counter = match error {
            AuthError::UnknownUser => &mut self.counters.unknown_user,
            AuthError::BadSecret => &mut self.counters.bad_secret,
            AuthError::Malformed => &mut self.counters.malformed,
            AuthError::LimitReached { .. } => &mut self.counters.limit_reached,
        };
        *counter += 1;
        error
    }
}

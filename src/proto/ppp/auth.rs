//! The authentication phase (RFC 1661 §3.5): PAP (RFC 1334 §2), CHAP-MD5
//! (RFC 1994) and MS-CHAPv2 (RFC 2759), as authenticator (server) and peer (client).
//!
//! Server: the engine does not know secrets. A received PAP Authenticate-Request or
//! CHAP Response becomes an [`AuthRequest`] that the caller decides on
//! (`Ppp::auth_accept` / `Ppp::auth_reject`). CHAP Challenges carry a random value
//! from the engine's generator and are retransmitted on the Restart timer up to
//! Max-Configure times (RFC 1994 §4.1), always with the same Identifier and value so
//! that a late Response still matches. While the caller decides, duplicates are
//! ignored; once decided, a duplicate of the same Identifier gets the same answer
//! again (RFC 1334 §2.2.1 / RFC 1994 §4.2: the Ack/Success may have been lost). A
//! PAP Authenticate-Request after a success, with the same Peer-ID but another
//! Identifier, gets the Ack again (pppd does the same; it happens when an LCP
//! renegotiation crossed and the peer believes it must authenticate again).
//! MS-CHAPv2 Success carries the caller-supplied Authenticator Response; Failure is
//! `E=691 R=0 C=<our challenge> V=3 M=<message>` (RFC 2759 §6).
//!
//! Client: PAP Authenticate-Requests are retransmitted on the Restart timer up to
//! Max-Configure times; CHAP Challenges are answered with the configured password
//! (src/crypto/ppp), a retransmitted Challenge (same Identifier) with the same
//! Response. The CHAP Response is also retransmitted on the Restart timer until a
//! Success/Failure arrives: RFC 1994 has nobody repeat anything when the Success is
//! lost, and the authenticator answers a repeated Response with its decision again. MS-CHAPv2 Success must carry the Authenticator Response we expect
//! (mutual authentication, RFC 2759 §5): a mismatch is an authentication failure.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::util::{Drbg, Secret};
use super::{AuthMethod, CloseReason};
use crate::crypto::ppp::{chap as chap_md5, mschapv2};
use crate::wire::chap;
use crate::wire::mschapv2 as wire_mschapv2;
use crate::wire::pap;
use crate::wire::ppp::Protocol;

/// The proof a peer presented, for the caller to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthProof {
    /// PAP: the cleartext password (zeroized on drop, redacted in Debug).
    Pap { password: Secret },
    /// CHAP-MD5: verify with `crypto::ppp::chap::verify(identifier, secret,
    /// challenge, response)`.
    ChapMd5 {
        identifier: u8,
        challenge: Vec<u8>,
        response: [u8; 16],
    },
    /// MS-CHAPv2: verify with `crypto::ppp::mschapv2::verify_nt_response(hash,
    /// authenticator_challenge, peer_challenge, username, nt_response)`, which also
    /// yields the Authenticator Response to pass to `Ppp::auth_accept`.
    MsChapV2 {
        /// The Identifier of the CHAP Response (RADIUS echoes it, RFC 2548 §2.3.2).
        identifier: u8,
        authenticator_challenge: [u8; 16],
        peer_challenge: [u8; 16],
        nt_response: [u8; 24],
    },
}

/// An authentication attempt the caller must decide on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    pub method: AuthMethod,
    /// PAP Peer-ID or CHAP Name, as sent (MS-CHAPv2 may carry `DOMAIN\user`).
    pub username: Vec<u8>,
    pub proof: AuthProof,
    /// The request came from an L2TP LAC's proxy authentication AVPs.
    pub proxy: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AuthOutput {
    Send(Protocol, Vec<u8>),
    Request(AuthRequest),
    Succeeded,
    Failed(CloseReason),
}

/// Caller-supplied Success/Failure texts are cut to this length (PAP's Msg-Length
/// is one octet; the others would only waste the peer's MRU).
pub const MAX_MESSAGE_LEN: usize = 200;

fn chap_packet(repr: chap::Repr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut chap::Packet::new_unchecked(&mut buf[..]));
    buf
}

fn pap_packet(repr: pap::Repr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut pap::Packet::new_unchecked(&mut buf[..]));
    buf
}

#[derive(Debug)]
enum ServerState {
    WaitPap,
    ChallengeSent { retransmits_left: u32 },
    Deciding,
    Done { answer: (Protocol, Vec<u8>) },
    Failed,
}

/// The authenticator.
#[derive(Debug)]
pub(crate) struct AuthServer {
    method: AuthMethod,
    name: Vec<u8>,
    restart: Duration,
    state: ServerState,
    identifier: u8,
    challenge: [u8; 16],
    timer: Option<Instant>,
    /// The Peer-ID of the PAP request being or already decided.
    pap_peer_id: Vec<u8>,
}

impl AuthServer {
    pub fn start(
        now: Instant,
        method: AuthMethod,
        name: &[u8],
        restart: Duration,
        max_configure: u32,
        drbg: &mut Drbg,
        out: &mut Vec<AuthOutput>,
    ) -> Self {
        let mut s = AuthServer {
            method,
            name: name.to_vec(),
            restart,
            state: ServerState::WaitPap,
            identifier: drbg.array::<1>()[0],
            challenge: drbg.array(),
            timer: None,
            pap_peer_id: Vec::new(),
        };
        if method != AuthMethod::Pap {
            s.state = ServerState::ChallengeSent {
                retransmits_left: max_configure.saturating_sub(1),
            };
            s.send_challenge(now, out);
        }
        s
    }

    /// Starts in the deciding state for a proxy authentication (the LAC ran the
    /// exchange); the answer is sent with the LAC's Identifier.
    pub fn proxy(method: AuthMethod, identifier: u8, challenge: [u8; 16], name: &[u8]) -> Self {
        AuthServer {
            method,
            name: Vec::new(),
            restart: Duration::ZERO,
            state: ServerState::Deciding,
            identifier,
            challenge,
            timer: None,
            pap_peer_id: name.to_vec(),
        }
    }

    fn send_challenge(&mut self, now: Instant, out: &mut Vec<AuthOutput>) {
        out.push(AuthOutput::Send(
            Protocol::Chap,
            chap_packet(chap::Repr::Challenge {
                identifier: self.identifier,
                value: &self.challenge,
                name: &self.name,
            }),
        ));
        self.timer = Some(now + self.restart);
    }

    pub fn timeout(&self) -> Option<Instant> {
        self.timer
    }

    pub fn is_deciding(&self) -> bool {
        matches!(self.state, ServerState::Deciding)
    }

    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<AuthOutput>) {
        if self.timer.is_none_or(|t| t > now) {
            return;
        }
        self.timer = None;
        if let ServerState::ChallengeSent { retransmits_left } = &mut self.state {
            if *retransmits_left == 0 {
                self.state = ServerState::Failed;
                out.push(AuthOutput::Failed(CloseReason::AuthTimeout));
            } else {
                *retransmits_left -= 1;
                self.send_challenge(now, out);
            }
        }
    }

    /// Returns false if the packet was discarded.
    pub fn handle(
        &mut self,
        protocol: Protocol,
        payload: &[u8],
        out: &mut Vec<AuthOutput>,
    ) -> bool {
        match (protocol, self.method) {
            (Protocol::Pap, AuthMethod::Pap) => {
                let Ok(packet) = pap::Packet::new_checked(payload) else {
                    return false;
                };
                let Ok(pap::Repr::AuthenticateRequest {
                    identifier,
                    peer_id,
                    password,
                }) = pap::Repr::parse(&packet)
                else {
                    return false;
                };
                match &self.state {
                    ServerState::WaitPap => {
                        self.identifier = identifier;
                        self.pap_peer_id = peer_id.to_vec();
                        self.state = ServerState::Deciding;
                        out.push(AuthOutput::Request(AuthRequest {
                            method: AuthMethod::Pap,
                            username: peer_id.to_vec(),
                            proof: AuthProof::Pap {
                                password: Secret::new(password.expose()),
                            },
                            proxy: false,
                        }));
                        true
                    }
                    // Any Identifier, as pppd does: after a crossed LCP
                    // renegotiation the peer may authenticate again with a new
                    // one while we consider the phase done. Same Peer-ID only.
                    ServerState::Done { answer } if peer_id == self.pap_peer_id => {
                        let mut packet = answer.1.clone();
                        packet[1] = identifier;
                        out.push(AuthOutput::Send(answer.0, packet));
                        true
                    }
                    _ => false,
                }
            }
            (Protocol::Chap, AuthMethod::ChapMd5 | AuthMethod::MsChapV2) => {
                let Ok(packet) = chap::Packet::new_checked(payload) else {
                    return false;
                };
                let Ok(chap::Repr::Response {
                    identifier,
                    value,
                    name,
                }) = chap::Repr::parse(&packet)
                else {
                    return false;
                };
                if identifier != self.identifier {
                    return false;
                }
                match &self.state {
                    ServerState::ChallengeSent { .. } => {}
                    ServerState::Done { answer } => {
                        out.push(AuthOutput::Send(answer.0, answer.1.clone()));
                        return true;
                    }
                    _ => return false,
                }
                let proof = if self.method == AuthMethod::ChapMd5 {
                    let Ok(response) = <[u8; 16]>::try_from(value) else {
                        return false;
                    };
                    AuthProof::ChapMd5 {
                        identifier,
                        challenge: self.challenge.to_vec(),
                        response,
                    }
                } else {
                    let Ok(view) = wire_mschapv2::ResponseValue::new_checked(value) else {
                        return false;
                    };
                    let Ok(r) = wire_mschapv2::ResponseRepr::parse(&view) else {
                        return false;
                    };
                    AuthProof::MsChapV2 {
                        identifier,
                        authenticator_challenge: self.challenge,
                        peer_challenge: r.peer_challenge,
                        nt_response: r.nt_response,
                    }
                };
                self.timer = None;
                self.state = ServerState::Deciding;
                out.push(AuthOutput::Request(AuthRequest {
                    method: self.method,
                    username: name.to_vec(),
                    proof,
                    proxy: false,
                }));
                true
            }
            _ => false,
        }
    }

    /// The caller accepted. Returns false if no decision was pending or an
    /// MS-CHAPv2 Authenticator Response is missing.
    pub fn accept(
        &mut self,
        authenticator_response: Option<[u8; 20]>,
        message: &[u8],
        out: &mut Vec<AuthOutput>,
    ) -> bool {
        let message = &message[..message.len().min(MAX_MESSAGE_LEN)];
        if !self.is_deciding() {
            return false;
        }
        let answer = match self.method {
            AuthMethod::Pap => (
                Protocol::Pap,
                pap_packet(pap::Repr::AuthenticateAck {
                    identifier: self.identifier,
                    message,
                }),
            ),
            AuthMethod::ChapMd5 => (
                Protocol::Chap,
                chap_packet(chap::Repr::Success {
                    identifier: self.identifier,
                    message,
                }),
            ),
            AuthMethod::MsChapV2 => {
                let Some(authenticator_response) = authenticator_response else {
                    return false;
                };
                let m = wire_mschapv2::SuccessMessage {
                    authenticator_response,
                    message: Some(message),
                };
                let mut text = vec![0u8; m.buffer_len()];
                m.emit(&mut text);
                (
                    Protocol::Chap,
                    chap_packet(chap::Repr::Success {
                        identifier: self.identifier,
                        message: &text,
                    }),
                )
            }
        };
        out.push(AuthOutput::Send(answer.0, answer.1.clone()));
        self.state = ServerState::Done { answer };
        true
    }

    pub fn reject(&mut self, message: &[u8], out: &mut Vec<AuthOutput>) -> bool {
        let message = &message[..message.len().min(MAX_MESSAGE_LEN)];
        if !self.is_deciding() {
            return false;
        }
        let packet = match self.method {
            AuthMethod::Pap => (
                Protocol::Pap,
                pap_packet(pap::Repr::AuthenticateNak {
                    identifier: self.identifier,
                    message,
                }),
            ),
            AuthMethod::ChapMd5 => (
                Protocol::Chap,
                chap_packet(chap::Repr::Failure {
                    identifier: self.identifier,
                    message,
                }),
            ),
            AuthMethod::MsChapV2 => {
                let m = wire_mschapv2::FailureMessage {
                    error: wire_mschapv2::ErrorCode::AuthenticationFailure,
                    retry: false,
                    challenge: Some(self.challenge),
                    version: Some(3),
                    message: Some(message),
                };
                let mut text = vec![0u8; m.buffer_len()];
                m.emit(&mut text);
                (
                    Protocol::Chap,
                    chap_packet(chap::Repr::Failure {
                        identifier: self.identifier,
                        message: &text,
                    }),
                )
            }
        };
        out.push(AuthOutput::Send(packet.0, packet.1));
        self.state = ServerState::Failed;
        out.push(AuthOutput::Failed(CloseReason::AuthFailed));
        true
    }
}

/// What the client remembers of its MS-CHAPv2 Response to check the Success.
#[derive(Debug)]
struct MsChapSent {
    authenticator_challenge: [u8; 16],
    peer_challenge: [u8; 16],
    nt_response: [u8; 24],
}

/// A packet we may have to send again. Zeroized on drop and redacted in Debug: a
/// PAP request holds the password in clear.
struct SentPacket(Zeroizing<Vec<u8>>);

impl SentPacket {
    fn to_vec(&self) -> Vec<u8> {
        self.0.to_vec()
    }
}

impl core::fmt::Debug for SentPacket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SentPacket(<{} octets>)", self.0.len())
    }
}

#[derive(Debug)]
enum ClientState {
    WaitChallenge,
    Sent {
        identifier: u8,
        packet: SentPacket,
        retransmits_left: u32,
        mschap: Option<MsChapSent>,
    },
    Done,
    Failed,
}

/// The authenticatee.
#[derive(Debug)]
pub(crate) struct AuthClient {
    method: AuthMethod,
    username: Vec<u8>,
    password: Secret,
    restart: Duration,
    max_configure: u32,
    state: ClientState,
    timer: Option<Instant>,
    /// MS-CHAPv2: our NT-Response once the server's Success verified (MPPE keys).
    pub nt_response: Option<[u8; 24]>,
}

impl AuthClient {
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        now: Instant,
        method: AuthMethod,
        username: &[u8],
        password: &Secret,
        restart: Duration,
        max_configure: u32,
        drbg: &mut Drbg,
        out: &mut Vec<AuthOutput>,
    ) -> Self {
        let mut c = AuthClient {
            method,
            username: username.to_vec(),
            password: password.clone(),
            restart,
            max_configure,
            state: ClientState::WaitChallenge,
            timer: None,
            nt_response: None,
        };
        if method == AuthMethod::Pap {
            let identifier = drbg.array::<1>()[0];
            let packet = pap_packet(pap::Repr::AuthenticateRequest {
                identifier,
                peer_id: &c.username[..c.username.len().min(255)],
                password: pap::Password(&c.password.expose()[..c.password.expose().len().min(255)]),
            });
            out.push(AuthOutput::Send(Protocol::Pap, packet.clone()));
            c.state = ClientState::Sent {
                identifier,
                packet: SentPacket(Zeroizing::new(packet)),
                retransmits_left: max_configure.saturating_sub(1),
                mschap: None,
            };
            c.timer = Some(now + restart);
        }
        c
    }

    pub fn timeout(&self) -> Option<Instant> {
        self.timer
    }

    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<AuthOutput>) {
        if self.timer.is_none_or(|t| t > now) {
            return;
        }
        self.timer = None;
        if let ClientState::Sent {
            packet,
            retransmits_left,
            ..
        } = &mut self.state
        {
            if *retransmits_left == 0 {
                self.state = ClientState::Failed;
                out.push(AuthOutput::Failed(CloseReason::AuthTimeout));
            } else {
                *retransmits_left -= 1;
                let protocol = if self.method == AuthMethod::Pap {
                    Protocol::Pap
                } else {
                    Protocol::Chap
                };
                out.push(AuthOutput::Send(protocol, packet.to_vec()));
                self.timer = Some(now + self.restart);
            }
        }
    }

    pub fn handle(
        &mut self,
        now: Instant,
        protocol: Protocol,
        payload: &[u8],
        drbg: &mut Drbg,
        out: &mut Vec<AuthOutput>,
    ) -> bool {
        if matches!(self.state, ClientState::Failed) {
            return false;
        }
        match (protocol, self.method) {
            (Protocol::Pap, AuthMethod::Pap) => {
                let Ok(packet) = pap::Packet::new_checked(payload) else {
                    return false;
                };
                let ClientState::Sent { identifier, .. } = self.state else {
                    return false;
                };
                match pap::Repr::parse(&packet) {
                    Ok(pap::Repr::AuthenticateAck { identifier: id, .. }) if id == identifier => {
                        self.timer = None;
                        self.state = ClientState::Done;
                        out.push(AuthOutput::Succeeded);
                        true
                    }
                    Ok(pap::Repr::AuthenticateNak { identifier: id, .. }) if id == identifier => {
                        self.timer = None;
                        self.state = ClientState::Failed;
                        out.push(AuthOutput::Failed(CloseReason::AuthFailed));
                        true
                    }
                    _ => false,
                }
            }
            (Protocol::Chap, AuthMethod::ChapMd5 | AuthMethod::MsChapV2) => {
                let Ok(packet) = chap::Packet::new_checked(payload) else {
                    return false;
                };
                match chap::Repr::parse(&packet) {
                    Ok(chap::Repr::Challenge {
                        identifier, value, ..
                    }) => self.answer_challenge(now, identifier, value, drbg, out),
                    Ok(chap::Repr::Success {
                        identifier,
                        message,
                    }) => {
                        let ClientState::Sent {
                            identifier: sent,
                            mschap,
                            ..
                        } = &self.state
                        else {
                            return false;
                        };
                        if identifier != *sent {
                            return false;
                        }
                        let verified = match mschap {
                            None => true,
                            Some(m) => self.check_mschap_success(m, message),
                        };
                        self.timer = None;
                        if verified {
                            self.nt_response = mschap.as_ref().map(|m| m.nt_response);
                            self.state = ClientState::Done;
                            out.push(AuthOutput::Succeeded);
                        } else {
                            self.state = ClientState::Failed;
                            out.push(AuthOutput::Failed(CloseReason::AuthFailed));
                        }
                        true
                    }
                    Ok(chap::Repr::Failure { identifier, .. }) => {
                        if !matches!(self.state, ClientState::Sent { identifier: sent, .. } if sent == identifier)
                        {
                            return false;
                        }
                        self.timer = None;
                        self.state = ClientState::Failed;
                        out.push(AuthOutput::Failed(CloseReason::AuthFailed));
                        true
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }

    fn check_mschap_success(&self, m: &MsChapSent, message: &[u8]) -> bool {
        if wire_mschapv2::SuccessMessage::parse(message).is_err() {
            return false;
        }
        let Some(auth_string) = message.get(..mschapv2::AUTHENTICATOR_RESPONSE_LEN) else {
            return false;
        };
        let Ok(password) = core::str::from_utf8(self.password.expose()) else {
            return false;
        };
        let Ok(hash) = mschapv2::PasswordHash::from_password(password) else {
            return false;
        };
        mschapv2::check_authenticator_response(
            &hash,
            &m.nt_response,
            &m.peer_challenge,
            &m.authenticator_challenge,
            &self.username,
            auth_string,
        )
        .is_ok()
    }

    fn answer_challenge(
        &mut self,
        now: Instant,
        identifier: u8,
        value: &[u8],
        drbg: &mut Drbg,
        out: &mut Vec<AuthOutput>,
    ) -> bool {
        // A retransmitted Challenge gets the same Response.
        if let ClientState::Sent {
            identifier: sent,
            packet,
            ..
        } = &self.state
            && *sent == identifier
        {
            out.push(AuthOutput::Send(Protocol::Chap, packet.to_vec()));
            return true;
        }
        let name = &self.username;
        let (packet, mschap) = if self.method == AuthMethod::ChapMd5 {
            let response = chap_md5::response(identifier, self.password.expose(), value);
            let packet = chap_packet(chap::Repr::Response {
                identifier,
                value: &response,
                name,
            });
            (packet, None)
        } else {
            let Ok(authenticator_challenge) = wire_mschapv2::parse_challenge(value) else {
                return false;
            };
            let Ok(password) = core::str::from_utf8(self.password.expose()) else {
                return false;
            };
            let Ok(hash) = mschapv2::PasswordHash::from_password(password) else {
                return false;
            };
            let peer_challenge: [u8; 16] = drbg.array();
            let nt_response = mschapv2::generate_nt_response(
                authenticator_challenge,
                &peer_challenge,
                name,
                &hash,
            );
            let repr = wire_mschapv2::ResponseRepr {
                peer_challenge,
                nt_response,
                flags: 0,
            };
            let mut v = [0u8; wire_mschapv2::RESPONSE_VALUE_LEN];
            repr.emit(&mut wire_mschapv2::ResponseValue::new_unchecked(&mut v[..]));
            let packet = chap_packet(chap::Repr::Response {
                identifier,
                value: &v,
                name,
            });
            (
                packet,
                Some(MsChapSent {
                    authenticator_challenge: *authenticator_challenge,
                    peer_challenge,
                    nt_response,
                }),
            )
        };
        out.push(AuthOutput::Send(Protocol::Chap, packet.clone()));
        if !matches!(self.state, ClientState::Done) {
            self.state = ClientState::Sent {
                identifier,
                packet: SentPacket(Zeroizing::new(packet)),
                retransmits_left: self.max_configure.saturating_sub(1),
                mschap,
            };
            self.timer = Some(now + self.restart);
        }
        true
    }
}

/// Decodes the `S=<40 hex>` text that `crypto::ppp::mschapv2` produces
/// (`AuthenticatorResponse::as_bytes`) into the 20 octets `Ppp::auth_accept` takes.
pub fn authenticator_response_bytes(s_equals_hex: &[u8]) -> Option<[u8; 20]> {
    wire_mschapv2::SuccessMessage::parse(s_equals_hex)
        .ok()
        .map(|m| m.authenticator_response)
}

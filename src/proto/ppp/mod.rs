//! The PPP engine, sans-IO: server role (the concentrator) and client role
//! (loadgen), over one RFC 1661 §4 automaton shared by LCP, IPCP and IPv6CP.
//!
//! Layout:
//! - [`fsm`]: the option-negotiation automaton (RFC 1661 §4) and the
//!   [`fsm::Negotiator`] trait for the protocol-specific part;
//! - [`lcp`]: LCP options (RFC 1661 §6): MRU, Authentication-Protocol, Magic-Number
//!   with loop-back detection, PFC/ACFC, ACCM;
//! - [`auth`]: PAP (RFC 1334), CHAP-MD5 (RFC 1994), MS-CHAPv2 (RFC 2759), both roles;
//! - [`ipcp`]: IPCP (RFC 1332) with DNS/NBNS (RFC 1877);
//! - [`ipv6cp`]: IPv6CP interface identifiers (RFC 5072);
//! - [`ccp`]: CCP (RFC 1962) with MPPE only (RFC 3078 §2), for PPTP; Reset-Request
//!   (RFC 3078 §8) is reported as [`PppEvent::MppeResetRequest`] and sent with
//!   [`Ppp::send_reset_request`]; required MPPE that does not come up ends the
//!   session with [`CloseReason::EncryptionRequired`];
//! - this file: [`Ppp`], which runs the phases of RFC 1661 §3 (Establish,
//!   Authenticate, Network, Terminate), LCP's own codes (Echo, Discard,
//!   Protocol-Reject, Code-Reject), keepalives, session and idle timeouts, and
//!   L2TP proxy LCP / proxy authentication (RFC 2661 §4.4.5).
//!
//! Shape (design.md "Control is sans-IO"): the caller feeds every non-data PPP frame
//! with [`Ppp::handle_frame`] (protocol number and the packet after the Protocol
//! field), drives timers with [`Ppp::poll_timeout`] / [`Ppp::handle_timeout`],
//! sends what [`Ppp::poll_transmit`] returns (LCP with Address/Control and an
//! uncompressed Protocol field, RFC 1661 §6.5-6.6: framing is the caller's) and
//! acts on [`Ppp::poll_event`]. Randomness is drawn once at construction from the
//! caller's filler into a SHA-256 counter-mode generator ([`util::Drbg`]).
//!
//! Decisions:
//! - **Liveness**: every frame handed to `handle_frame` counts as a sign of life and
//!   resets the count of unanswered Echo-Requests; data traffic does not (the data
//!   plane bypasses the engine, and `note_activity` may report traffic in either
//!   direction, which proves nothing about the peer). After `echo_failures`
//!   unanswered requests, sent every `echo_interval`, the session closes with
//!   [`CloseReason::EchoTimeout`].
//! - **Idle** is measured from the last [`Ppp::note_activity`] (or the start of the
//!   network phase); the **session timeout** from the start of the network phase.
//! - Protocol-Reject is sent only while LCP is Opened (RFC 1661 §5.7); before that
//!   unknown protocols are silently discarded. NCP packets that arrive before the
//!   network phase are discarded (RFC 1661 §3.5/§3.6). CCP is Protocol-Rejected when
//!   [`CcpPolicy::Reject`] (L2TP: no MPPE), and so is IPv6CP when disabled. With
//!   [`CcpPolicy::Mppe`] CCP starts with the NCPs at the network phase.
//! - The server asks for an address ([`PppEvent::NeedAddress`]) after
//!   authentication and starts IPCP only once [`Ppp::set_ipv4`] gives it one; a peer
//!   IPCP Configure-Request that arrives meanwhile is kept and replayed then, so the
//!   peer does not wait out its Restart timer.
//! - LCP renegotiation after Opened (the peer sends a new Configure-Request) takes
//!   the NCPs down and runs authentication again (RFC 1661 §3.5); an address already
//!   set is kept.
//! - Reordering: a stale Configure-Request that arrives after a layer is Opened
//!   restarts that layer's negotiation, as RFC 1661 §4.1 (RCR in Opened) says; the
//!   engine then authenticates again. A PAP request after success is answered again
//!   (pppd's behaviour) so that such a crossed renegotiation settles; with CHAP the
//!   peer may wait for a Challenge we do not send and time out. PPP over L2TP rarely
//!   sees reordering; the engine tests run with 5 % reordering besides loss and
//!   duplication.
//! - Exactly one [`PppEvent::Closed`] is emitted, when LCP finishes (or at once if
//!   LCP never started); its reason is the first cause recorded.
//! - Proxy LCP (L2TP LAC): with [`ProxyPolicy::Accept`] the LAC's negotiated options
//!   are taken as LCP Opened without sending anything, and proxy PAP/CHAP
//!   authentication becomes the [`AuthRequest`] (with `proxy: true`); accepting it
//!   sends the Success/Ack with the LAC's Identifier (harmless if the client already
//!   considers itself authenticated, needed if it still waits). Without usable proxy
//!   authentication but with an Authentication-Protocol in the LAC's options, we
//!   run that method ourselves; without either (and authentication required), or if
//!   the proxy values do not parse or are unacceptable, LCP is renegotiated.
//!   [`ProxyPolicy::Renegotiate`] always renegotiates.
#![forbid(unsafe_code)]

pub mod auth;
pub mod ccp;
pub mod fsm;
pub mod ipcp;
pub mod ipv6cp;
pub mod lcp;
pub mod util;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use auth::{AuthClient, AuthOutput, AuthServer};
use ccp::Ccp;
use fsm::{Fsm, FsmConfig, FsmCounters, NegotiationError, Output, State};
use ipcp::Ipcp;
use ipv6cp::Ipv6cp;
use lcp::Lcp;
use util::Drbg;

pub use auth::{AuthProof, AuthRequest, authenticator_response_bytes};
pub use ccp::{MppeOptions, MppePolicy};
pub use ipcp::Ipv4Assignment;
pub use lcp::LinkOptions;
pub use util::Secret;

use crate::wire::ppp::{
    Code, ControlPacket, ControlRepr, MagicDataRepr, Protocol, ProtocolRejectRepr,
};

/// An authentication method (LCP Authentication-Protocol value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// RFC 1334.
    Pap,
    /// RFC 1994, CHAP with MD5.
    ChapMd5,
    /// RFC 2759.
    MsChapV2,
}

/// What to do with CCP (RFC 1962).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CcpPolicy {
    /// Protocol-Reject it (L2TP: IPsec encrypts; no compression is offered).
    #[default]
    Reject,
    /// Negotiate MPPE (RFC 3078, PPTP) as [`ccp`] describes.
    Mppe(MppePolicy),
}

/// What to do with L2TP proxy LCP (RFC 2661 §4.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyPolicy {
    /// Take the LAC's negotiation as ours; use proxy authentication when present.
    #[default]
    Accept,
    /// Ignore it: renegotiate LCP and authenticate again.
    Renegotiate,
}

/// The client's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: Vec<u8>,
    /// Zeroized on drop, redacted in Debug.
    pub password: Secret,
}

/// Configuration shared by the sessions of one role (held in an `Arc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PppConfig {
    /// Server: the methods requested, in this order (a Nak moves to the peer's
    /// suggestion if listed, else the next one). Empty: no authentication.
    /// Client: the methods accepted; a request for another one is Naked to the
    /// first. Default: MS-CHAPv2, CHAP-MD5 (PAP must be enabled explicitly: it
    /// sends the password in clear text).
    pub auth_methods: Vec<AuthMethod>,
    /// Our MRU (default 1500, which is not sent since it is the RFC default).
    pub mru: u16,
    /// Restart timer 3 s, Max-Configure 10, Max-Terminate 2, Max-Failure 5.
    pub fsm: FsmConfig,
    /// LCP Echo-Request interval once LCP is Opened (default 30 s; None: off).
    pub echo_interval: Option<Duration>,
    /// Unanswered Echo-Requests before the peer is declared dead (default 3; 0:
    /// send keepalives but never declare the peer dead).
    pub echo_failures: u32,
    /// Time allowed from LCP Opened to authentication success (default 30 s).
    pub auth_timeout: Duration,
    /// Session lifetime from the network phase (default None).
    pub session_timeout: Option<Duration>,
    /// Close after this long without data activity (default None).
    pub idle_timeout: Option<Duration>,
    /// Run IPv6CP (default true).
    pub ipv6: bool,
    /// CCP handling (default Reject).
    pub ccp: CcpPolicy,
    /// L2TP proxy LCP handling (default Accept).
    pub proxy: ProxyPolicy,
    /// Our name in CHAP Challenges (default "shardvpn").
    pub name: Vec<u8>,
    /// Message in PAP Ack / CHAP Success (default "Access granted").
    pub success_message: Vec<u8>,
    /// Client: ask for DNS servers (RFC 1877) (default true).
    pub request_dns: bool,
    /// Client: who we are. Required for the client role when the server asks to
    /// authenticate.
    pub credentials: Option<Credentials>,
}

impl Default for PppConfig {
    fn default() -> Self {
        PppConfig {
            auth_methods: vec![AuthMethod::MsChapV2, AuthMethod::ChapMd5],
            mru: lcp::DEFAULT_MRU,
            fsm: FsmConfig::default(),
            echo_interval: Some(Duration::from_secs(30)),
            echo_failures: 3,
            auth_timeout: Duration::from_secs(30),
            session_timeout: None,
            idle_timeout: None,
            ipv6: true,
            ccp: CcpPolicy::Reject,
            proxy: ProxyPolicy::Accept,
            name: b"shardvpn".to_vec(),
            success_message: b"Access granted".to_vec(),
            request_dns: true,
            credentials: None,
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The peer sent an LCP Terminate-Request.
    PeerTerminated,
    /// The caller rejected the credentials, or (client) the server did, or the
    /// server's MS-CHAPv2 Authenticator Response did not verify.
    AuthFailed,
    /// Authentication did not complete in time.
    AuthTimeout,
    /// Echo-Requests went unanswered.
    EchoTimeout,
    /// LCP (or every NCP) could not agree, or the peer stopped answering.
    NegotiationFailed,
    /// The link is looped back (RFC 1661 §6.4).
    LoopedBack,
    /// No network protocol is left running.
    NoNetworkProtocols,
    /// No address could be assigned (the caller's decision).
    NoAddress,
    SessionTimeout,
    IdleTimeout,
    /// Closed by the operator or the daemon (shutdown, admin command).
    Admin,
    /// The lower layer (L2TP session, PPTP call) went away.
    LowerLayerDown,
    /// MPPE is required and could not be negotiated (RFC 3078).
    EncryptionRequired,
}

impl CloseReason {
    /// The text sent in our Terminate-Request.
    pub fn text(self) -> &'static str {
        match self {
            CloseReason::PeerTerminated => "peer terminated",
            CloseReason::AuthFailed => "authentication failed",
            CloseReason::AuthTimeout => "authentication timeout",
            CloseReason::EchoTimeout => "echo timeout",
            CloseReason::NegotiationFailed => "negotiation failed",
            CloseReason::LoopedBack => "link looped back",
            CloseReason::NoNetworkProtocols => "no network protocols",
            CloseReason::NoAddress => "no address available",
            CloseReason::SessionTimeout => "session timeout",
            CloseReason::IdleTimeout => "idle timeout",
            CloseReason::Admin => "administratively closed",
            CloseReason::LowerLayerDown => "lower layer down",
            CloseReason::EncryptionRequired => "encryption required",
        }
    }
}

/// What the caller must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PppEvent {
    /// LCP is Opened with these options (peer MRU, header compression).
    LinkUp(LinkOptions),
    /// Server: decide with `auth_accept` / `auth_reject`.
    AuthRequest(AuthRequest),
    /// Authentication succeeded (client: the server accepted us; server: after
    /// `auth_accept`).
    Authenticated,
    /// Server: call `set_ipv4` (or `close(now, CloseReason::NoAddress)`).
    NeedAddress,
    /// IPCP is Opened. `local` is this end's address, `peer` the other end's;
    /// `dns` the servers the client obtained (server role: the ones we gave).
    Ipv4Up {
        local: Ipv4Addr,
        peer: Ipv4Addr,
        dns: [Option<Ipv4Addr>; 2],
    },
    Ipv4Down,
    /// IPv6CP is Opened: link-local `fe80::<id>` on each side.
    Ipv6Up {
        local_id: [u8; 8],
        peer_id: [u8; 8],
    },
    Ipv6Down,
    /// CCP is Opened with MPPE: `tx` is how we encrypt, `rx` how the peer does.
    MppeUp {
        tx: MppeOptions,
        rx: MppeOptions,
    },
    /// CCP left Opened: no more encrypted traffic until it is up again.
    MppeDown,
    /// The peer sent a CCP Reset-Request (RFC 3078 §8): our encryptor must send its
    /// next packet FLUSHED.
    MppeResetRequest,
    /// The session is over; release it. Emitted exactly once.
    Closed {
        reason: CloseReason,
    },
}

/// RFC 1661 §3.2 phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Dead,
    Establish,
    Authenticate,
    Network,
    Terminate,
}

/// A misuse of the answer methods (not a protocol error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PppError {
    #[error("no authentication decision is pending")]
    NoAuthPending,
    #[error("MS-CHAPv2 success needs the Authenticator Response")]
    MissingAuthenticatorResponse,
    #[error("only the server role assigns addresses")]
    NotServer,
    #[error("the session is closed")]
    Closed,
}

/// L2TP proxy LCP (RFC 2661 §4.4.5, AVPs 26, 27, 28). Each field is the AVP value
/// as received: the option list of the Configure-Request ("starting at the first
/// option within the body of the LCP message"), without Code/Identifier/Length.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyLcp {
    /// Initial Received LCP CONFREQ (AVP 26).
    pub initial_received: Vec<u8>,
    /// Last Sent LCP CONFREQ (AVP 27): the LAC's request, acknowledged by the peer.
    pub last_sent: Vec<u8>,
    /// Last Received LCP CONFREQ (AVP 28): the peer's request, acknowledged by the
    /// LAC.
    pub last_received: Vec<u8>,
}

/// Proxy Authen Type (RFC 2661 §4.4.5, AVP 29).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyAuthType {
    /// 1: textual username/password exchange.
    Textual,
    /// 2: PPP CHAP (MD5).
    Chap,
    /// 3: PPP PAP.
    Pap,
    /// 4: no authentication.
    None,
    /// 5: Microsoft CHAP version 1 (not supported: we authenticate again).
    MsChapV1,
    Other(u16),
}

impl ProxyAuthType {
    pub fn from_avp(value: u16) -> Self {
        match value {
            1 => ProxyAuthType::Textual,
            2 => ProxyAuthType::Chap,
            3 => ProxyAuthType::Pap,
            4 => ProxyAuthType::None,
            5 => ProxyAuthType::MsChapV1,
            v => ProxyAuthType::Other(v),
        }
    }
}

/// L2TP proxy authentication (RFC 2661 §4.4.5, AVPs 29-33), raw AVP values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyAuth {
    /// AVP 29.
    pub kind: ProxyAuthType,
    /// Proxy Authen Name (AVP 30).
    pub name: Vec<u8>,
    /// Proxy Authen Challenge (AVP 31), CHAP only.
    pub challenge: Vec<u8>,
    /// Proxy Authen ID (AVP 32): the PPP Identifier of the exchange (the AVP's
    /// value is two octets, the low one carries it).
    pub id: u8,
    /// Proxy Authen Response (AVP 33): the CHAP response or the PAP password.
    pub response: Secret,
}

/// Engine counters (plain numbers for the metrics layer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PppCounters {
    pub frames_received: u64,
    pub frames_sent: u64,
    /// Control packets that do not parse.
    pub malformed: u64,
    /// Frames dropped by policy: wrong phase, stale, unexpected.
    pub discarded: u64,
    /// Data frames handed to the engine (they belong to the data plane).
    pub data_frames_ignored: u64,
    pub protocol_rejects_sent: u64,
    pub protocol_rejects_received: u64,
    pub echo_requests_sent: u64,
    pub echo_replies_received: u64,
    pub echo_requests_received: u64,
    /// Echo-Requests carrying our own Magic-Number (a looped-back link).
    pub looped_echoes: u64,
    pub auth_requests: u64,
    pub auth_failures: u64,
    pub lcp: FsmCounters,
    pub ipcp: FsmCounters,
    pub ipv6cp: FsmCounters,
    pub ccp: FsmCounters,
    pub ccp_reset_requests_sent: u64,
    pub ccp_reset_requests_received: u64,
}

#[derive(Debug)]
enum Auth {
    None,
    Server(AuthServer),
    Client(AuthClient),
}

/// One PPP session. `Debug` shows the phase, states and counters only (queued
/// packets may hold a PAP password).
pub struct Ppp {
    config: Arc<PppConfig>,
    server: bool,
    drbg: Drbg,
    phase: Phase,
    lcp: Fsm<Lcp>,
    ipcp: Fsm<Ipcp>,
    ipv6cp: Fsm<Ipv6cp>,
    /// Present when MPPE is negotiated ([`CcpPolicy::Mppe`]); boxed so that L2TP
    /// sessions, which never have it, stay small.
    ccp: Option<Box<Fsm<Ccp>>>,
    ccp_required: bool,
    auth: Auth,
    transmits: VecDeque<(u16, Vec<u8>)>,
    events: VecDeque<PppEvent>,
    close_reason: Option<CloseReason>,
    closed: bool,
    echo_at: Option<Instant>,
    echo_outstanding: u32,
    auth_deadline: Option<Instant>,
    session_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    session_deadline: Option<Instant>,
    last_activity: Option<Instant>,
    pending_ipcp_request: Option<Vec<u8>>,
    ipcp_finished: bool,
    ipv6cp_finished: bool,
    counters: PppCounters,
    /// Client: kept from a successful MS-CHAPv2 exchange for the MPPE keys.
    nt_response: Option<[u8; 24]>,
}

impl core::fmt::Debug for Ppp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ppp")
            .field("server", &self.server)
            .field("phase", &self.phase)
            .field("lcp", &self.lcp.state())
            .field("ipcp", &self.ipcp.state())
            .field("ipv6cp", &self.ipv6cp.state())
            .field("close_reason", &self.close_reason)
            .field("closed", &self.closed)
            .field("counters", &self.counters())
            .finish_non_exhaustive()
    }
}

impl Ppp {
    /// A server-role (authenticator, address-assigning) session.
    pub fn server(config: Arc<PppConfig>, now: Instant, rng: &mut impl FnMut(&mut [u8])) -> Self {
        Ppp::new(true, config, now, rng)
    }

    /// A client-role session (loadgen).
    pub fn client(config: Arc<PppConfig>, now: Instant, rng: &mut impl FnMut(&mut [u8])) -> Self {
        Ppp::new(false, config, now, rng)
    }

    fn new(
        server: bool,
        config: Arc<PppConfig>,
        _now: Instant,
        rng: &mut impl FnMut(&mut [u8]),
    ) -> Self {
        let mut drbg = Drbg::new(rng);
        let lcp = Lcp::new(server, config.auth_methods.clone(), config.mru, drbg.fork());
        let ipv6cp = Ipv6cp::new(drbg.fork());
        Ppp {
            server,
            drbg,
            phase: Phase::Dead,
            lcp: Fsm::new(Protocol::Lcp, config.fsm, lcp),
            ipcp: Fsm::new(
                Protocol::Ipcp,
                config.fsm,
                Ipcp::new(server, config.request_dns),
            ),
            ipv6cp: Fsm::new(Protocol::Ipv6cp, config.fsm, ipv6cp),
            ccp: match config.ccp {
                CcpPolicy::Reject => None,
                CcpPolicy::Mppe(p) => {
                    Some(Box::new(Fsm::new(Protocol::Ccp, config.fsm, Ccp::new(p))))
                }
            },
            ccp_required: matches!(config.ccp, CcpPolicy::Mppe(p) if p.required),
            auth: Auth::None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            close_reason: None,
            closed: false,
            echo_at: None,
            echo_outstanding: 0,
            auth_deadline: None,
            session_timeout: config.session_timeout,
            idle_timeout: config.idle_timeout,
            session_deadline: None,
            last_activity: None,
            pending_ipcp_request: None,
            ipcp_finished: false,
            ipv6cp_finished: !config.ipv6,
            counters: PppCounters::default(),
            nt_response: None,
            config,
        }
    }

    /// The lower layer is up (L2TP session established): start LCP.
    pub fn open(&mut self, now: Instant) {
        if self.closed || self.phase != Phase::Dead {
            return;
        }
        self.phase = Phase::Establish;
        self.lcp.up(now);
        self.lcp.open(now);
        self.pump(now);
    }

    /// Starts from an L2TP LAC's proxy LCP (and proxy authentication); see the
    /// module docs for what is accepted.
    pub fn start_with_proxy(
        &mut self,
        now: Instant,
        proxy: &ProxyLcp,
        proxy_auth: Option<ProxyAuth>,
    ) {
        if self.closed || self.phase != Phase::Dead || !self.server {
            return;
        }
        if self.config.proxy == ProxyPolicy::Renegotiate {
            return self.open(now);
        }
        let Some(link) = self
            .lcp
            .negotiator
            .adopt_proxy(&proxy.last_sent, &proxy.last_received)
        else {
            return self.open(now);
        };
        let proxy_auth_usable = proxy_auth.as_ref().and_then(|p| match p.kind {
            ProxyAuthType::Pap if self.config.auth_methods.contains(&AuthMethod::Pap) => {
                Some(AuthMethod::Pap)
            }
            ProxyAuthType::Chap
                if self.config.auth_methods.contains(&AuthMethod::ChapMd5)
                    && p.challenge.len() <= 255
                    && p.response.expose().len() == 16 =>
            {
                Some(AuthMethod::ChapMd5)
            }
            _ => None,
        });
        let needs_auth = !self.config.auth_methods.is_empty();
        if needs_auth && proxy_auth_usable.is_none() && link.auth.is_none() {
            return self.open(now);
        }
        // Opened without a word on the wire: the LAC did the talking.
        self.phase = Phase::Establish;
        self.lcp.up(now);
        self.lcp.force_opened();
        self.lcp.set_peer_mru(link.peer_mru);
        self.ipcp.set_peer_mru(link.peer_mru);
        self.ipv6cp.set_peer_mru(link.peer_mru);
        self.start_echo(now);
        self.events.push_back(PppEvent::LinkUp(link));
        // Drain the forced Up ourselves so that it does not start our own auth.
        while self.lcp.poll_output().is_some() {}
        match (proxy_auth_usable, proxy_auth) {
            (Some(method), Some(p)) => {
                self.phase = Phase::Authenticate;
                self.auth_deadline = Some(now + self.config.auth_timeout);
                let mut challenge = [0u8; 16];
                let n = p.challenge.len().min(16);
                challenge[..n].copy_from_slice(&p.challenge[..n]);
                self.auth = Auth::Server(AuthServer::proxy(method, p.id, challenge, &p.name));
                let proof = match method {
                    AuthMethod::Pap => AuthProof::Pap {
                        password: p.response.clone(),
                    },
                    _ => AuthProof::ChapMd5 {
                        identifier: p.id,
                        challenge: p.challenge.clone(),
                        response: p.response.expose().try_into().unwrap_or([0; 16]),
                    },
                };
                self.counters.auth_requests += 1;
                self.events.push_back(PppEvent::AuthRequest(AuthRequest {
                    method,
                    username: p.name.clone(),
                    proof,
                    proxy: true,
                }));
            }
            _ => self.link_up(now, link),
        }
        self.pump(now);
    }

    /// Feeds one received frame: `protocol` is the PPP Protocol field and
    /// `payload` the packet after it. Data protocols are counted and ignored.
    pub fn handle_frame(&mut self, now: Instant, protocol: u16, payload: &[u8]) {
        self.counters.frames_received += 1;
        if self.closed || self.phase == Phase::Dead {
            self.counters.discarded += 1;
            return;
        }
        self.echo_outstanding = 0;
        let protocol = Protocol::from(protocol);
        match protocol {
            Protocol::Lcp => self.handle_lcp(now, payload),
            Protocol::Pap | Protocol::Chap => self.handle_auth(now, protocol, payload),
            Protocol::Ipcp => {
                if self.phase != Phase::Network {
                    self.counters.discarded += 1;
                } else if self.server && self.ipcp.negotiator.assignment.is_none() {
                    // Waiting for set_ipv4: keep the latest request to replay it.
                    if payload.first() == Some(&u8::from(Code::ConfigureRequest)) {
                        self.pending_ipcp_request = Some(payload.to_vec());
                    }
                } else {
                    self.ipcp.handle_packet(now, payload);
                }
            }
            Protocol::Ipv6cp if self.config.ipv6 => {
                if self.phase == Phase::Network {
                    self.ipv6cp.handle_packet(now, payload);
                } else {
                    self.counters.discarded += 1;
                }
            }
            Protocol::Ipv4 | Protocol::Ipv6 | Protocol::CompressedDatagram => {
                self.counters.data_frames_ignored += 1;
            }
            Protocol::Ccp if self.ccp.is_some() => self.handle_ccp(now, payload),
            _ => self.protocol_reject(protocol, payload),
        }
        self.pump(now);
    }

    /// Data activity on the session (resets the idle timer).
    pub fn note_activity(&mut self, now: Instant) {
        if self.last_activity.is_some() {
            self.last_activity = Some(now);
        }
    }

    /// Overrides the configured session timeout (e.g. from AAA), counted from the
    /// start of the network phase (or from now if it has started).
    pub fn set_session_timeout(&mut self, now: Instant, timeout: Option<Duration>) {
        self.session_timeout = timeout;
        if self.phase == Phase::Network {
            self.session_deadline = timeout.map(|t| now + t);
        }
    }

    /// Overrides the configured idle timeout.
    pub fn set_idle_timeout(&mut self, timeout: Option<Duration>) {
        self.idle_timeout = timeout;
    }

    /// Server: accept the pending [`AuthRequest`]. MS-CHAPv2 needs the 20-octet
    /// Authenticator Response (see [`authenticator_response_bytes`]).
    pub fn auth_accept(
        &mut self,
        now: Instant,
        mschap_authenticator_response: Option<[u8; 20]>,
    ) -> Result<(), PppError> {
        if self.closed {
            return Err(PppError::Closed);
        }
        let Auth::Server(server) = &mut self.auth else {
            return Err(PppError::NoAuthPending);
        };
        if !server.is_deciding() {
            return Err(PppError::NoAuthPending);
        }
        let mut out = Vec::new();
        let message = self.config.success_message.clone();
        if !server.accept(mschap_authenticator_response, &message, &mut out) {
            return Err(PppError::MissingAuthenticatorResponse);
        }
        self.apply_auth_outputs(now, out);
        self.events.push_back(PppEvent::Authenticated);
        self.enter_network(now);
        self.pump(now);
        Ok(())
    }

    /// Server: reject the pending [`AuthRequest`]: sends the failure (MS-CHAPv2:
    /// `E=691 R=0 C=... V=3 M=message`) and terminates LCP.
    pub fn auth_reject(&mut self, now: Instant, message: &str) -> Result<(), PppError> {
        if self.closed {
            return Err(PppError::Closed);
        }
        let Auth::Server(server) = &mut self.auth else {
            return Err(PppError::NoAuthPending);
        };
        let mut out = Vec::new();
        if !server.reject(message.as_bytes(), &mut out) {
            return Err(PppError::NoAuthPending);
        }
        self.counters.auth_failures += 1;
        self.apply_auth_outputs(now, out);
        self.pump(now);
        Ok(())
    }

    /// Server: the address assignment; starts IPCP.
    pub fn set_ipv4(&mut self, now: Instant, assignment: Ipv4Assignment) -> Result<(), PppError> {
        if !self.server {
            return Err(PppError::NotServer);
        }
        if self.closed {
            return Err(PppError::Closed);
        }
        let first = self.ipcp.negotiator.assignment.is_none();
        self.ipcp.negotiator.assignment = Some(assignment);
        if first && self.phase == Phase::Network {
            self.start_ipcp(now);
        }
        self.pump(now);
        Ok(())
    }

    /// Closes the session: LCP Terminate-Request, then [`PppEvent::Closed`].
    pub fn close(&mut self, now: Instant, reason: CloseReason) {
        if self.closed {
            return;
        }
        self.set_reason(reason);
        if self.phase != Phase::Dead {
            self.phase = Phase::Terminate;
        }
        self.stop_session_timers();
        self.lcp.set_terminate_data(reason.text().as_bytes());
        self.lcp.close(now);
        self.pump(now);
        if matches!(
            self.lcp.state(),
            State::Initial | State::Closed | State::Stopped
        ) && !self.closed
        {
            self.finish();
        }
    }

    /// The lower layer went away: no more frames can be sent.
    pub fn lower_down(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.set_reason(CloseReason::LowerLayerDown);
        self.lcp.down(now);
        self.pump(now);
        self.finish();
    }

    pub fn poll_transmit(&mut self) -> Option<(u16, Vec<u8>)> {
        util::pop_release(&mut self.transmits)
    }

    pub fn poll_event(&mut self) -> Option<PppEvent> {
        util::pop_release(&mut self.events)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let auth = match &self.auth {
            Auth::Server(s) => s.timeout(),
            Auth::Client(c) => c.timeout(),
            Auth::None => None,
        };
        let idle = match (self.last_activity, self.idle_timeout) {
            (Some(t), Some(d)) if !self.closed => Some(t + d),
            _ => None,
        };
        [
            self.lcp.timeout(),
            self.ipcp.timeout(),
            self.ipv6cp.timeout(),
            self.ccp.as_ref().and_then(|c| c.timeout()),
            auth,
            self.echo_at,
            self.auth_deadline,
            self.session_deadline,
            idle,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.lcp.handle_timeout(now);
        self.ipcp.handle_timeout(now);
        self.ipv6cp.handle_timeout(now);
        if let Some(ccp) = self.ccp.as_mut() {
            ccp.handle_timeout(now);
        }
        let mut out = Vec::new();
        match &mut self.auth {
            Auth::Server(s) => s.handle_timeout(now, &mut out),
            Auth::Client(c) => c.handle_timeout(now, &mut out),
            Auth::None => {}
        }
        self.apply_auth_outputs(now, out);
        if self.echo_at.is_some_and(|t| t <= now) {
            let failures = self.config.echo_failures;
            if failures > 0 && self.echo_outstanding >= failures {
                self.close(now, CloseReason::EchoTimeout);
            } else {
                self.send_echo_request(now);
            }
        }
        if self.auth_deadline.is_some_and(|t| t <= now) {
            self.close(now, CloseReason::AuthTimeout);
        }
        if self.session_deadline.is_some_and(|t| t <= now) {
            self.close(now, CloseReason::SessionTimeout);
        }
        if let (Some(t), Some(d)) = (self.last_activity, self.idle_timeout)
            && t + d <= now
        {
            self.close(now, CloseReason::IdleTimeout);
        }
        self.pump(now);
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn lcp_state(&self) -> State {
        self.lcp.state()
    }

    pub fn ipcp_state(&self) -> State {
        self.ipcp.state()
    }

    pub fn ipv6cp_state(&self) -> State {
        self.ipv6cp.state()
    }

    pub fn link_options(&self) -> LinkOptions {
        self.lcp.negotiator.link_options()
    }

    pub fn counters(&self) -> PppCounters {
        PppCounters {
            lcp: self.lcp.counters,
            ipcp: self.ipcp.counters,
            ipv6cp: self.ipv6cp.counters,
            ccp: self.ccp.as_ref().map(|c| c.counters).unwrap_or_default(),
            ..self.counters
        }
    }

    // ----- internals -----

    fn transmit(&mut self, protocol: Protocol, packet: Vec<u8>) {
        self.counters.frames_sent += 1;
        self.transmits.push_back((protocol.into(), packet));
    }

    fn set_reason(&mut self, reason: CloseReason) {
        if self.close_reason.is_none() {
            self.close_reason = Some(reason);
        }
    }

    fn stop_session_timers(&mut self) {
        self.echo_at = None;
        self.auth_deadline = None;
        self.session_deadline = None;
        self.last_activity = None;
    }

    fn finish(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.phase = Phase::Dead;
        self.stop_session_timers();
        self.auth = Auth::None;
        let reason = self.close_reason.unwrap_or(CloseReason::NegotiationFailed);
        self.events.push_back(PppEvent::Closed { reason });
    }

    fn handle_lcp(&mut self, now: Instant, payload: &[u8]) {
        let Ok(view) = ControlPacket::new_checked(payload) else {
            self.counters.malformed += 1;
            return;
        };
        let Ok(repr) = ControlRepr::parse(&view) else {
            self.counters.malformed += 1;
            return;
        };
        let opened = self.lcp.state() == State::Opened;
        match repr.code {
            Code::EchoRequest => {
                self.counters.echo_requests_received += 1;
                if !opened {
                    self.counters.discarded += 1;
                    return;
                }
                let Ok(echo) = MagicDataRepr::parse(repr.data) else {
                    self.counters.malformed += 1;
                    return;
                };
                let ours = self.lcp.negotiator.magic();
                if ours != 0 && echo.magic_number == ours {
                    self.counters.looped_echoes += 1;
                    return;
                }
                let mut data = Vec::with_capacity(repr.data.len());
                data.extend_from_slice(&ours.to_be_bytes());
                data.extend_from_slice(echo.data);
                let packet = fsm::control_packet(Code::EchoReply, repr.identifier, &data);
                self.transmit(Protocol::Lcp, packet);
            }
            Code::EchoReply => {
                if opened {
                    self.counters.echo_replies_received += 1;
                } else {
                    self.counters.discarded += 1;
                }
            }
            Code::DiscardRequest | Code::Identification | Code::TimeRemaining => {}
            Code::ProtocolReject => {
                self.counters.protocol_rejects_received += 1;
                if !opened {
                    self.counters.discarded += 1;
                    return;
                }
                let Ok(reject) = ProtocolRejectRepr::parse(repr.data) else {
                    self.counters.malformed += 1;
                    return;
                };
                match reject.rejected_protocol {
                    Protocol::Ipcp => self.ipcp.protocol_rejected(now),
                    Protocol::Ipv6cp => self.ipv6cp.protocol_rejected(now),
                    Protocol::Ccp if self.ccp_required => {
                        self.close(now, CloseReason::EncryptionRequired)
                    }
                    Protocol::Ccp => {
                        if let Some(ccp) = self.ccp.as_mut() {
                            ccp.protocol_rejected(now);
                        }
                    }
                    Protocol::Lcp | Protocol::Pap | Protocol::Chap => {
                        self.close(now, CloseReason::NegotiationFailed)
                    }
                    _ => {}
                }
            }
            Code::TerminateRequest => {
                // Only a Terminate-Request in Opened ends the link (Opened -> Stopping);
                // elsewhere it is acknowledged and negotiation goes on.
                if opened {
                    self.set_reason(CloseReason::PeerTerminated);
                    self.phase = Phase::Terminate;
                    self.stop_session_timers();
                }
                self.lcp.handle_packet(now, payload);
            }
            _ => self.lcp.handle_packet(now, payload),
        }
    }

    fn handle_auth(&mut self, now: Instant, protocol: Protocol, payload: &[u8]) {
        if !matches!(self.phase, Phase::Authenticate | Phase::Network) {
            self.counters.discarded += 1;
            return;
        }
        let mut out = Vec::new();
        let handled = match &mut self.auth {
            Auth::Server(s) => s.handle(protocol, payload, &mut out),
            Auth::Client(c) => c.handle(now, protocol, payload, &mut self.drbg, &mut out),
            Auth::None => false,
        };
        if !handled {
            self.counters.discarded += 1;
        }
        self.apply_auth_outputs(now, out);
    }

    fn apply_auth_outputs(&mut self, now: Instant, out: Vec<AuthOutput>) {
        for o in out {
            match o {
                AuthOutput::Send(p, packet) => self.transmit(p, packet),
                AuthOutput::Request(r) => {
                    self.counters.auth_requests += 1;
                    self.events.push_back(PppEvent::AuthRequest(r));
                }
                AuthOutput::Succeeded => {
                    if let Auth::Client(c) = &self.auth {
                        self.nt_response = c.nt_response;
                    }
                    if self.phase == Phase::Authenticate {
                        self.events.push_back(PppEvent::Authenticated);
                        self.enter_network(now);
                    }
                }
                AuthOutput::Failed(reason) => {
                    if reason == CloseReason::AuthFailed && !self.server {
                        self.counters.auth_failures += 1;
                    }
                    self.close(now, reason);
                }
            }
        }
    }

    fn protocol_reject(&mut self, protocol: Protocol, payload: &[u8]) {
        if self.lcp.state() != State::Opened {
            self.counters.discarded += 1;
            return;
        }
        // RFC 1661 §5.7: the rejected information is truncated to fit the peer's
        // MRU (4 octets of LCP header and 2 of rejected protocol).
        let room = usize::from(self.lcp.negotiator.link_options().peer_mru).saturating_sub(6);
        let repr = ProtocolRejectRepr {
            rejected_protocol: protocol,
            rejected_information: &payload[..payload.len().min(room)],
        };
        let mut data = vec![0u8; repr.buffer_len()];
        repr.emit(&mut data);
        let id = self.lcp.take_identifier();
        self.counters.protocol_rejects_sent += 1;
        self.transmit(
            Protocol::Lcp,
            fsm::control_packet(Code::ProtocolReject, id, &data),
        );
    }

    fn start_echo(&mut self, now: Instant) {
        self.echo_outstanding = 0;
        self.echo_at = self.config.echo_interval.map(|i| now + i);
    }

    fn send_echo_request(&mut self, now: Instant) {
        let id = self.lcp.take_identifier();
        let magic = self.lcp.negotiator.magic();
        let packet = fsm::control_packet(Code::EchoRequest, id, &magic.to_be_bytes());
        self.transmit(Protocol::Lcp, packet);
        self.counters.echo_requests_sent += 1;
        self.echo_outstanding += 1;
        self.echo_at = self.config.echo_interval.map(|i| now + i);
    }

    /// LCP reached Opened: start authentication or the network phase.
    fn link_up(&mut self, now: Instant, link: LinkOptions) {
        self.start_echo(now);
        let mut out = Vec::new();
        match link.auth {
            Some(method) if self.server => {
                self.phase = Phase::Authenticate;
                self.auth_deadline = Some(now + self.config.auth_timeout);
                self.auth = Auth::Server(AuthServer::start(
                    now,
                    method,
                    &self.config.name,
                    self.config.fsm.restart_timer,
                    self.config.fsm.max_configure,
                    &mut self.drbg,
                    &mut out,
                ));
            }
            Some(method) => {
                self.phase = Phase::Authenticate;
                self.auth_deadline = Some(now + self.config.auth_timeout);
                let Some(credentials) = self.config.credentials.clone() else {
                    self.close(now, CloseReason::AuthFailed);
                    return;
                };
                self.auth = Auth::Client(AuthClient::start(
                    now,
                    method,
                    &credentials.username,
                    &credentials.password,
                    self.config.fsm.restart_timer,
                    self.config.fsm.max_configure,
                    &mut self.drbg,
                    &mut out,
                ));
            }
            None => self.enter_network(now),
        }
        self.apply_auth_outputs(now, out);
    }

    fn enter_network(&mut self, now: Instant) {
        self.phase = Phase::Network;
        self.auth_deadline = None;
        self.session_deadline = self.session_timeout.map(|t| now + t);
        self.last_activity = Some(now);
        self.ipcp_finished = false;
        self.ipv6cp_finished = !self.config.ipv6;
        if !self.server || self.ipcp.negotiator.assignment.is_some() {
            self.start_ipcp(now);
        } else {
            self.events.push_back(PppEvent::NeedAddress);
        }
        if self.config.ipv6 {
            self.ipv6cp.up(now);
            self.ipv6cp.open(now);
        }
        if let Some(ccp) = self.ccp.as_mut() {
            ccp.up(now);
            ccp.open(now);
        }
    }

    fn start_ipcp(&mut self, now: Instant) {
        self.ipcp.up(now);
        self.ipcp.open(now);
        if let Some(request) = self.pending_ipcp_request.take() {
            self.ipcp.handle_packet(now, &request);
        }
    }

    /// Drains the automata's outputs until none has anything left.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(o) = self.lcp.poll_output() {
                progressed = true;
                self.lcp_output(now, o);
            }
            while let Some(o) = self.ipcp.poll_output() {
                progressed = true;
                match o {
                    Output::Send(p) => self.transmit(Protocol::Ipcp, p),
                    Output::Up => {
                        let (local, peer, dns) = self.ipcp.negotiator.result();
                        self.events.push_back(PppEvent::Ipv4Up { local, peer, dns });
                    }
                    Output::Down => self.events.push_back(PppEvent::Ipv4Down),
                    Output::Finished => {
                        self.ipcp_finished = true;
                        self.check_ncps(now);
                    }
                    Output::Started | Output::Failed(_) => {}
                }
            }
            while let Some(o) = self.ipv6cp.poll_output() {
                progressed = true;
                match o {
                    Output::Send(p) => self.transmit(Protocol::Ipv6cp, p),
                    Output::Up => {
                        let v6 = &self.ipv6cp.negotiator;
                        self.events.push_back(PppEvent::Ipv6Up {
                            local_id: v6.local_id,
                            peer_id: v6.peer_id,
                        });
                    }
                    Output::Down => self.events.push_back(PppEvent::Ipv6Down),
                    Output::Finished => {
                        self.ipv6cp_finished = true;
                        self.check_ncps(now);
                    }
                    Output::Started | Output::Failed(_) => {}
                }
            }
            let mut ccp_outputs = Vec::new();
            if let Some(ccp) = self.ccp.as_mut() {
                while let Some(o) = ccp.poll_output() {
                    ccp_outputs.push(o);
                }
            }
            for o in ccp_outputs {
                progressed = true;
                self.ccp_output(now, o);
            }
            if !progressed {
                break;
            }
        }
    }

    fn ccp_output(&mut self, now: Instant, output: Output) {
        match output {
            Output::Send(p) => self.transmit(Protocol::Ccp, p),
            Output::Up => {
                let (tx, rx) = match self.ccp.as_ref() {
                    Some(c) => (c.negotiator.tx, c.negotiator.rx),
                    None => return,
                };
                match (tx, rx) {
                    (Some(tx), Some(rx)) => self.events.push_back(PppEvent::MppeUp { tx, rx }),
                    // Opened, but one direction without MPPE (the peer's request was
                    // empty): not encryption.
                    _ if self.ccp_required => self.close(now, CloseReason::EncryptionRequired),
                    _ => {}
                }
            }
            Output::Down => self.events.push_back(PppEvent::MppeDown),
            Output::Finished | Output::Failed(_) => {
                if self.ccp_required && self.phase == Phase::Network {
                    self.close(now, CloseReason::EncryptionRequired);
                }
            }
            Output::Started => {}
        }
    }

    fn handle_ccp(&mut self, now: Instant, payload: &[u8]) {
        if self.phase != Phase::Network {
            self.counters.discarded += 1;
            return;
        }
        let Some(ccp) = self.ccp.as_mut() else {
            return;
        };
        match payload.first().map(|c| Code::from(*c)) {
            // RFC 3078 §8: the receiver lost sync; our encryptor re-initialises. MPPE
            // does not use Reset-Ack.
            Some(Code::ResetRequest) => {
                self.counters.ccp_reset_requests_received += 1;
                if ccp.state() == State::Opened {
                    self.events.push_back(PppEvent::MppeResetRequest);
                } else {
                    self.counters.discarded += 1;
                }
            }
            Some(Code::ResetAck) => {}
            _ => ccp.handle_packet(now, payload),
        }
    }

    /// MPPE (stateful) lost packets on receive: send a CCP Reset-Request (RFC 3078
    /// §8). Nothing is sent unless CCP is Opened.
    pub fn send_reset_request(&mut self) {
        let Some(ccp) = self.ccp.as_mut() else {
            return;
        };
        if ccp.state() != State::Opened || self.closed {
            return;
        }
        let id = ccp.take_identifier();
        self.counters.ccp_reset_requests_sent += 1;
        self.transmit(
            Protocol::Ccp,
            fsm::control_packet(Code::ResetRequest, id, &[]),
        );
    }

    /// The MPPE options once CCP is Opened: (how we encrypt, how the peer does).
    pub fn mppe(&self) -> Option<(MppeOptions, MppeOptions)> {
        let ccp = self.ccp.as_ref()?;
        if ccp.state() != State::Opened {
            return None;
        }
        Some((ccp.negotiator.tx?, ccp.negotiator.rx?))
    }

    /// CCP's state (`Initial` when CCP is not negotiated at all).
    pub fn ccp_state(&self) -> State {
        self.ccp.as_ref().map_or(State::Initial, |c| c.state())
    }

    /// Changes the CCP policy before the network phase (e.g. no MPPE when the user
    /// authenticated with something other than MS-CHAPv2, which gives no keys).
    /// Ignored once CCP has started.
    pub fn set_ccp_policy(&mut self, policy: CcpPolicy) {
        if self
            .ccp
            .as_ref()
            .is_some_and(|c| c.state() != State::Initial)
        {
            return;
        }
        self.ccp_required = matches!(policy, CcpPolicy::Mppe(p) if p.required);
        self.ccp = match policy {
            CcpPolicy::Reject => None,
            CcpPolicy::Mppe(p) => Some(Box::new(Fsm::new(
                Protocol::Ccp,
                self.config.fsm,
                Ccp::new(p),
            ))),
        };
    }

    /// Client: the NT-Response of a successful MS-CHAPv2 authentication (with the
    /// password, the MPPE keys come from it, RFC 3079 §3.4).
    pub fn mschapv2_nt_response(&self) -> Option<[u8; 24]> {
        self.nt_response
    }

    fn lcp_output(&mut self, now: Instant, output: Output) {
        match output {
            Output::Send(p) => self.transmit(Protocol::Lcp, p),
            Output::Up => {
                let link = self.lcp.negotiator.link_options();
                self.lcp.set_peer_mru(link.peer_mru);
                self.ipcp.set_peer_mru(link.peer_mru);
                self.ipv6cp.set_peer_mru(link.peer_mru);
                self.events.push_back(PppEvent::LinkUp(link));
                self.link_up(now, link);
            }
            Output::Down => {
                self.echo_at = None;
                self.auth_deadline = None;
                self.auth = Auth::None;
                if !matches!(self.ipcp.state(), State::Initial | State::Starting) {
                    self.ipcp.down(now);
                }
                if !matches!(self.ipv6cp.state(), State::Initial | State::Starting) {
                    self.ipv6cp.down(now);
                }
                if let Some(ccp) = self.ccp.as_mut()
                    && !matches!(ccp.state(), State::Initial | State::Starting)
                {
                    ccp.down(now);
                }
                if self.phase != Phase::Terminate {
                    self.phase = Phase::Establish;
                    self.session_deadline = None;
                    self.last_activity = None;
                }
            }
            Output::Started => {}
            Output::Finished => self.finish(),
            Output::Failed(e) => {
                self.set_reason(match e {
                    NegotiationError::LoopedBack => CloseReason::LoopedBack,
                    _ => CloseReason::NegotiationFailed,
                });
                self.phase = Phase::Terminate;
                self.stop_session_timers();
            }
        }
    }

    fn check_ncps(&mut self, now: Instant) {
        if self.phase == Phase::Network && self.ipcp_finished && self.ipv6cp_finished {
            self.close(now, CloseReason::NoNetworkProtocols);
        }
    }
}

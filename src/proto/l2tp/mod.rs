//! The L2TPv2 control connection (RFC 2661), LNS and LAC roles, sans-IO.
//!
//! - Reliable delivery (§5.8): Ns/Nr per connection, sequence arithmetic modulo
//!   2^16; at most the peer's Receive Window Size (default 4, §4.4.3) messages
//!   unacknowledged, the rest queued; retransmission with exponential backoff capped
//!   at `retransmit_max`, the connection cleared after `retransmit_retries` attempts;
//!   every retransmission carries the current Nr. A message in sequence is delivered
//!   once; a duplicate (Ns below the expected one) is acknowledged again and
//!   dropped; one ahead of the expected Ns but within the window we advertised is
//!   kept and delivered once the gap is filled (§5.8 allows queueing), so one lost
//!   message does not cost the retransmission of the whole window behind it. Acknowledgements piggyback on the next
//!   message; when there is none to send, a ZLB acknowledges at once (the caller
//!   drains `poll_transmit` after each input, so "at once" is after that input).
//! - Tunnel establishment (§5.1, §7.2): SCCRQ → SCCRP → SCCCN, with tunnel
//!   authentication (Challenge / Challenge Response, §4.4.3, `crypto::l2tp`) when a
//!   secret is configured; a bad or missing response, or a challenge we cannot
//!   answer, ends with StopCCN result 4 "not authorized". HELLO (§6.5) after
//!   `hello_interval` without any message from the peer. StopCCN (§6.4) both ways,
//!   with a Result Code.
//! - Incoming calls (§5.2, §7.4): ICRQ → ICRP → ICCN, CDN (§6.12) both ways,
//!   Set-Link-Info (§6.14). The LNS's caller decides each call
//!   ([`Event::IncomingCall`], answered by [`Tunnel::accept_call`] with the local
//!   session ID it allocated, or [`Tunnel::reject_call`]); the LAC places calls with
//!   [`Tunnel::place_call`]. Proxy LCP and proxy authentication AVPs of an ICCN
//!   (§4.4.5) come up raw in [`ProxyInfo`].
//! - Hidden AVPs (§4.3) from the peer are un-hidden with the tunnel secret. The only
//!   secret we send is the LAC role's Proxy Authen Response, hidden when the tunnel
//!   has a secret.
//!
//! Unknown AVPs are ignored whatever their M bit (counted): being lenient with LACs
//! that send vendor AVPs marked mandatory is what lets them connect.
#![forbid(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::crypto::l2tp as l2tp_crypto;
use crate::wire::l2tp::avp::{self, AvpValue, Bearer, Framing, MessageType, ResultCode};
use crate::wire::l2tp::{self as wire, flags};

#[cfg(test)]
mod tests;

/// Tunnel settings shared by the connections of one role.
#[derive(Clone)]
pub struct TunnelConfig {
    /// Host Name AVP (§4.4.3).
    pub hostname: String,
    /// The tunnel secret (§5.1.1); `None`: no tunnel authentication.
    pub secret: Option<Zeroizing<Vec<u8>>>,
    /// HELLO after this long without a message from the peer (§6.5).
    pub hello_interval: Duration,
    pub retransmit_initial: Duration,
    pub retransmit_max: Duration,
    /// Transmissions of one message before the connection is cleared.
    pub retransmit_retries: u32,
    /// Receive Window Size we advertise.
    pub receive_window: u16,
}

impl Default for TunnelConfig {
    fn default() -> Self {
        TunnelConfig {
            hostname: "shardvpn".into(),
            secret: None,
            hello_interval: Duration::from_secs(60),
            retransmit_initial: Duration::from_secs(1),
            retransmit_max: Duration::from_secs(8),
            retransmit_retries: 5,
            receive_window: 16,
        }
    }
}

impl std::fmt::Debug for TunnelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelConfig")
            .field("hostname", &self.hostname)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("hello_interval", &self.hello_interval)
            .field("receive_window", &self.receive_window)
            .finish()
    }
}

/// StopCCN Result Codes (§4.4.2).
pub mod stopccn {
    /// General request to clear control connection.
    pub const CLEAR: u16 = 1;
    /// General error.
    pub const GENERAL_ERROR: u16 = 2;
    /// Requester is not authorized to establish a control channel.
    pub const NOT_AUTHORIZED: u16 = 4;
}

/// CDN Result Codes (§4.4.2).
pub mod cdn {
    /// General error.
    pub const GENERAL_ERROR: u16 = 2;
    /// Call disconnected for administrative reasons.
    pub const ADMIN: u16 = 3;
    /// Lack of appropriate facilities (temporary).
    pub const TEMPORARY: u16 = 4;
}

/// Proxy LCP and authentication AVPs of an ICCN (§4.4.5), raw values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxyInfo {
    pub initial_received: Vec<u8>,
    pub last_sent: Vec<u8>,
    pub last_received: Vec<u8>,
    /// Proxy Authen Type, or None when absent.
    pub authen_type: Option<u16>,
    pub authen_name: Vec<u8>,
    pub authen_challenge: Vec<u8>,
    pub authen_id: u8,
    /// The CHAP response or PAP password: a secret.
    pub authen_response: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ProxyInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyInfo")
            .field("last_sent", &self.last_sent.len())
            .field("last_received", &self.last_received.len())
            .field("authen_type", &self.authen_type)
            .finish()
    }
}

/// What the caller must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The control connection is established.
    TunnelUp,
    /// It is gone: StopCCN either way, or the peer stopped answering.
    TunnelClosed { result: u16, by_peer: bool },
    /// LNS: an ICRQ; answer with `accept_call` or `reject_call`.
    IncomingCall { peer_session_id: u16, serial: u32 },
    /// The call is established (LNS: ICCN received; LAC: ICRP received, ICCN sent).
    SessionUp {
        local_session_id: u16,
        peer_session_id: u16,
        proxy: Option<ProxyInfo>,
    },
    /// The peer sent a CDN.
    SessionClosed { local_session_id: u16, result: u16 },
    /// Set-Link-Info (§6.14).
    LinkInfo {
        local_session_id: u16,
        send_accm: u32,
        receive_accm: u32,
    },
}

/// Why an SCCRQ could not start a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("malformed control message: {0}")]
    Malformed(&'static str),
    #[error("not an SCCRQ")]
    NotSccrq,
}

/// Counters of one control connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub messages_in: u64,
    pub messages_out: u64,
    pub zlb_out: u64,
    pub retransmissions: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub malformed: u64,
    pub unknown_avps: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Lns,
    Lac,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// LAC: SCCRQ sent.
    WaitReply,
    /// LNS: SCCRP sent.
    WaitConnect,
    Established,
    /// We sent StopCCN; waiting for its acknowledgement.
    Stopping,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// LNS: ICRP sent.
    WaitConnect,
    /// LAC: ICRQ sent.
    WaitReply,
    Established,
}

struct Session {
    peer: u16,
    state: Call,
    /// LAC: proxy LCP / authentication to send in the ICCN. Boxed: the LNS never has
    /// it, and a tunnel's session map pays for the largest entry in every slot.
    proxy: Option<Box<ProxyInfo>>,
}

struct Pending {
    ns: u16,
    message: Vec<u8>,
    deadline: Instant,
    interval: Duration,
    sent: u32,
}

/// RFC 2661 §5.8 sequence comparison: `a` before `b` modulo 2^16.
fn seq_before(a: u16, b: u16) -> bool {
    (a.wrapping_sub(b) as i16) < 0
}

/// The AVPs of a received message we act on, owned.
#[derive(Default)]
struct Parsed {
    message_type: Option<MessageType>,
    assigned_tunnel: Option<u16>,
    assigned_session: Option<u16>,
    window: Option<u16>,
    challenge: Option<Vec<u8>>,
    challenge_response: Option<[u8; 16]>,
    serial: u32,
    result: Option<u16>,
    accm: Option<(u32, u32)>,
    proxy: ProxyInfo,
    has_proxy: bool,
}

/// Frees a drained queue's buffer. Queues fill in bursts (setup, teardown) and a
/// tunnel is idle in between, for hours; an L2TP/IPsec client has a tunnel of its
/// own, so idle capacity costs per subscriber (issue 8, daemon memory per session).
fn release_if_empty<T>(queue: &mut VecDeque<T>) {
    if queue.is_empty() {
        queue.shrink_to_fit();
    }
}

/// Maximum Challenge length we send (§4.4.3 allows any; 16 like most LACs).
const CHALLENGE_LEN: usize = 16;
/// Our Firmware Revision AVP.
const FIRMWARE: u16 = 0x0100;
/// TxConnectSpeed we report as a LAC (bits/s; informational).
const TX_SPEED: u32 = 100_000_000;

/// One control connection.
pub struct Tunnel {
    role: Role,
    state: State,
    config: TunnelConfig,
    local_id: u16,
    peer_id: u16,
    ns: u16,
    nr: u16,
    peer_window: u16,
    unacked: VecDeque<Pending>,
    waiting: VecDeque<(u16, Vec<u8>)>,
    out: VecDeque<Vec<u8>>,
    ack_due: bool,
    last_heard: Instant,
    our_challenge: Option<[u8; CHALLENGE_LEN]>,
    peer_challenge: Option<Vec<u8>>,
    sessions: HashMap<u16, Session>,
    serial: u32,
    events: VecDeque<Event>,
    counters: Counters,
    /// Messages received ahead of Nr, by Ns (at most our receive window).
    rx_buffer: HashMap<u16, Vec<u8>>,
    /// Seed and counter of the Random Vectors for hidden AVPs we send.
    rv_seed: Zeroizing<[u8; 32]>,
    rv_counter: u64,
}

impl Tunnel {
    fn new(role: Role, now: Instant, config: &TunnelConfig, local_id: u16) -> Tunnel {
        Tunnel {
            role,
            state: State::Closed,
            config: config.clone(),
            local_id,
            peer_id: 0,
            ns: 0,
            nr: 0,
            peer_window: 4,
            unacked: VecDeque::new(),
            waiting: VecDeque::new(),
            out: VecDeque::new(),
            ack_due: false,
            last_heard: now,
            our_challenge: None,
            peer_challenge: None,
            sessions: HashMap::new(),
            serial: 0,
            events: VecDeque::new(),
            counters: Counters::default(),
            rx_buffer: HashMap::new(),
            rv_seed: Zeroizing::new([0; 32]),
            rv_counter: 0,
        }
    }

    /// LNS: a connection started by `sccrq` (a whole control message with tunnel ID
    /// 0). Queues the SCCRP (or, when the LAC asks for authentication we cannot
    /// give, a StopCCN).
    pub fn lns_accept(
        now: Instant,
        config: &TunnelConfig,
        local_id: u16,
        sccrq: &[u8],
        rng: &mut impl FnMut(&mut [u8]),
    ) -> Result<Tunnel, Error> {
        let mut t = Tunnel::new(Role::Lns, now, config, local_id);
        let packet = wire::Packet::new_checked(sccrq).map_err(|_| Error::Malformed("header"))?;
        let (Some(ns), Some(_)) = (packet.ns(), packet.nr()) else {
            return Err(Error::Malformed("no sequence numbers"));
        };
        let parsed = t.parse(packet.payload()).ok_or(Error::Malformed("AVPs"))?;
        if parsed.message_type != Some(MessageType::Sccrq) {
            return Err(Error::NotSccrq);
        }
        let peer = parsed
            .assigned_tunnel
            .ok_or(Error::Malformed("no Assigned Tunnel ID"))?;
        t.peer_id = peer;
        t.nr = ns.wrapping_add(1);
        t.counters.messages_in += 1;
        t.peer_window = parsed.window.unwrap_or(4).max(1);
        t.last_heard = now;
        if parsed.challenge.is_some() && t.config.secret.is_none() {
            t.stop(now, stopccn::NOT_AUTHORIZED);
            return Ok(t);
        }
        t.peer_challenge = parsed.challenge;
        if t.config.secret.is_some() {
            let mut c = [0u8; CHALLENGE_LEN];
            rng(&mut c);
            t.our_challenge = Some(c);
        }
        t.state = State::WaitConnect;
        let mut avps = t.common_avps(MessageType::Sccrp);
        t.auth_avps(l2tp_crypto::CHAP_ID_SCCRP, &mut avps);
        t.send(now, 0, avps);
        Ok(t)
    }

    /// LAC: a new connection; queues the SCCRQ.
    pub fn lac_connect(
        now: Instant,
        config: &TunnelConfig,
        local_id: u16,
        rng: &mut impl FnMut(&mut [u8]),
    ) -> Tunnel {
        let mut t = Tunnel::new(Role::Lac, now, config, local_id);
        rng(&mut t.rv_seed[..]);
        if t.config.secret.is_some() {
            let mut c = [0u8; CHALLENGE_LEN];
            rng(&mut c);
            t.our_challenge = Some(c);
        }
        t.state = State::WaitReply;
        let mut avps = t.common_avps(MessageType::Sccrq);
        if let Some(c) = t.our_challenge {
            avps.push(avp_bytes(&AvpValue::Challenge(&c), true));
        }
        t.send(now, 0, avps);
        t
    }

    pub fn local_id(&self) -> u16 {
        self.local_id
    }

    /// The peer's tunnel ID (0 until it is known).
    pub fn peer_tunnel_id(&self) -> u16 {
        self.peer_id
    }

    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Control messages sent and not yet acknowledged, plus those waiting for the
    /// peer's receive window (RFC 2661 §5.8).
    pub fn queue_depth(&self) -> usize {
        self.unacked.len() + self.waiting.len()
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    fn common_avps(&self, mt: MessageType) -> Vec<Vec<u8>> {
        let mut avps = vec![
            avp_bytes(&AvpValue::MessageType(mt), true),
            avp_bytes(
                &AvpValue::ProtocolVersion {
                    version: 1,
                    revision: 0,
                },
                true,
            ),
            avp_bytes(
                &AvpValue::FramingCapabilities(Framing(Framing::SYNC | Framing::ASYNC)),
                true,
            ),
            avp_bytes(
                &AvpValue::BearerCapabilities(Bearer(Bearer::DIGITAL | Bearer::ANALOG)),
                false,
            ),
            avp_bytes(&AvpValue::FirmwareRevision(FIRMWARE), false),
            avp_bytes(&AvpValue::HostName(self.config.hostname.as_bytes()), true),
            avp_bytes(&AvpValue::VendorName(b"shardvpn"), false),
            avp_bytes(&AvpValue::AssignedTunnelId(self.local_id), true),
            avp_bytes(
                &AvpValue::ReceiveWindowSize(self.config.receive_window),
                true,
            ),
        ];
        if mt == MessageType::Sccrp
            && let Some(c) = self.our_challenge
        {
            avps.push(avp_bytes(&AvpValue::Challenge(&c), true));
        }
        avps
    }

    /// Adds our Challenge Response when the peer challenged us.
    fn auth_avps(&self, chap_id: u8, avps: &mut Vec<Vec<u8>>) {
        if let (Some(challenge), Some(secret)) = (&self.peer_challenge, &self.config.secret) {
            let r = l2tp_crypto::challenge_response(chap_id, secret, challenge);
            avps.push(avp_bytes(&AvpValue::ChallengeResponse(r), true));
        }
    }

    /// The §4.4.5 proxy AVPs of an ICCN.
    fn proxy_avps(&mut self, p: &ProxyInfo, avps: &mut Vec<Vec<u8>>) {
        for (value, present) in [
            (
                AvpValue::InitialReceivedLcpConfreq(&p.initial_received),
                !p.initial_received.is_empty(),
            ),
            (
                AvpValue::LastSentLcpConfreq(&p.last_sent),
                !p.last_sent.is_empty(),
            ),
            (
                AvpValue::LastReceivedLcpConfreq(&p.last_received),
                !p.last_received.is_empty(),
            ),
        ] {
            if present {
                avps.push(avp_bytes(&value, false));
            }
        }
        let Some(kind) = p.authen_type else {
            return;
        };
        avps.push(avp_bytes(
            &AvpValue::ProxyAuthenType(avp::ProxyAuthenType::from(kind)),
            false,
        ));
        if !p.authen_name.is_empty() {
            avps.push(avp_bytes(&AvpValue::ProxyAuthenName(&p.authen_name), false));
        }
        if !p.authen_challenge.is_empty() {
            avps.push(avp_bytes(
                &AvpValue::ProxyAuthenChallenge(&p.authen_challenge),
                false,
            ));
        }
        avps.push(avp_bytes(&AvpValue::ProxyAuthenId(p.authen_id), false));
        let response_type = u16::from(avp::AttributeType::ProxyAuthenResponse);
        let Some(secret) = self.config.secret.clone() else {
            avps.push(avp_bytes(
                &AvpValue::ProxyAuthenResponse(&p.authen_response),
                false,
            ));
            return;
        };
        // Hidden (§4.3): a Random Vector, then the subformat hidden with it.
        let rv = self.random_vector();
        avps.push(avp_bytes(&AvpValue::RandomVector(&rv), true));
        let mut sub = Zeroizing::new(vec![0u8; 2 + p.authen_response.len()]);
        avp::hidden_subformat_emit(&p.authen_response, 0, &mut sub);
        if l2tp_crypto::hide(response_type, &secret, &rv, &mut sub).is_err() {
            return;
        }
        let repr = avp::AvpRepr {
            mandatory: false,
            hidden: true,
            reserved: 0,
            vendor_id: avp::IETF_VENDOR_ID,
            attribute_type: response_type,
            value: &sub,
        };
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut avp::Packet::new_unchecked(&mut out[..]));
        avps.push(out);
    }

    /// A fresh Random Vector: SHA-256 over the seed drawn at construction and a
    /// counter (the engine takes no randomness after construction).
    fn random_vector(&mut self) -> [u8; 16] {
        self.rv_counter += 1;
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&self.rv_seed[..]);
        ctx.update(&self.rv_counter.to_be_bytes());
        let digest = ctx.finish();
        let mut rv = [0u8; 16];
        rv.copy_from_slice(&digest.as_ref()[..16]);
        rv
    }

    /// Whether the peer's response to our challenge is right (or none was asked).
    fn response_ok(&self, chap_id: u8, response: Option<[u8; 16]>) -> bool {
        match (&self.our_challenge, &self.config.secret) {
            (Some(c), Some(secret)) => response.is_some_and(|r| {
                l2tp_crypto::verify_challenge_response(chap_id, secret, c, &r).is_ok()
            }),
            _ => true,
        }
    }

    /// Queues a reliable message for `session` (the peer's session ID, 0 for the
    /// tunnel) carrying `avps`.
    fn send(&mut self, now: Instant, session: u16, avps: Vec<Vec<u8>>) {
        let body: Vec<u8> = avps.concat();
        let mut message = vec![0u8; wire::CONTROL_HEADER_LEN + body.len()];
        message[wire::CONTROL_HEADER_LEN..].copy_from_slice(&body);
        let len = message.len() as u16;
        let mut p = wire::Packet::new_unchecked(&mut message[..]);
        p.set_flags(flags::T | flags::L | flags::S | u16::from(wire::VERSION));
        p.set_length(len);
        p.set_tunnel_id(self.peer_id);
        p.set_session_id(session);
        self.waiting.push_back((session, message));
        self.pump(now);
    }

    /// Moves queued messages into the window and out.
    fn pump(&mut self, now: Instant) {
        while self.unacked.len() < usize::from(self.peer_window) {
            let Some((_, mut message)) = self.waiting.pop_front() else {
                release_if_empty(&mut self.waiting);
                break;
            };
            let ns = self.ns;
            self.ns = self.ns.wrapping_add(1);
            {
                let mut p = wire::Packet::new_unchecked(&mut message[..]);
                // The peer's tunnel ID may have become known since queueing.
                p.set_tunnel_id(self.peer_id);
                p.set_ns(ns);
                p.set_nr(self.nr);
            }
            self.out.push_back(message.clone());
            self.counters.messages_out += 1;
            self.ack_due = false;
            let interval = self.config.retransmit_initial;
            self.unacked.push_back(Pending {
                ns,
                message,
                deadline: now + interval,
                interval,
                sent: 1,
            });
        }
    }

    fn parse(&mut self, payload: &[u8]) -> Option<Parsed> {
        let mut parsed = Parsed::default();
        for item in avp::AvpIter::new(payload).with_random_vector() {
            let Ok((repr, rv)) = item else {
                self.counters.malformed += 1;
                return None;
            };
            let mut unhidden = Zeroizing::new(Vec::new());
            let value = if repr.hidden {
                let (Some(secret), Some(rv)) = (&self.config.secret, rv) else {
                    self.counters.malformed += 1;
                    return None;
                };
                unhidden.extend_from_slice(repr.value);
                if l2tp_crypto::unhide(repr.attribute_type, secret, rv, &mut unhidden).is_err() {
                    self.counters.malformed += 1;
                    return None;
                }
                match avp::hidden_subformat_value(&unhidden) {
                    Ok(v) => v,
                    Err(_) => {
                        self.counters.malformed += 1;
                        return None;
                    }
                }
            } else {
                repr.value
            };
            let typed = if repr.reserved != 0 {
                Ok(AvpValue::Unknown {
                    vendor_id: repr.vendor_id,
                    attribute_type: repr.attribute_type,
                    value,
                })
            } else {
                AvpValue::parse(repr.vendor_id, repr.attribute_type, value)
            };
            let Ok(typed) = typed else {
                self.counters.malformed += 1;
                return None;
            };
            match typed {
                AvpValue::MessageType(mt) => parsed.message_type = Some(mt),
                AvpValue::AssignedTunnelId(id) => parsed.assigned_tunnel = Some(id),
                AvpValue::AssignedSessionId(id) => parsed.assigned_session = Some(id),
                AvpValue::ReceiveWindowSize(w) => parsed.window = Some(w),
                AvpValue::Challenge(c) => parsed.challenge = Some(c.to_vec()),
                AvpValue::ChallengeResponse(r) => parsed.challenge_response = Some(r),
                AvpValue::CallSerialNumber(s) => parsed.serial = s,
                AvpValue::ResultCode(ResultCode { result, .. }) => parsed.result = Some(result),
                AvpValue::Accm(a) => parsed.accm = Some((a.send_accm, a.receive_accm)),
                AvpValue::InitialReceivedLcpConfreq(v) => {
                    parsed.has_proxy = true;
                    parsed.proxy.initial_received = v.to_vec();
                }
                AvpValue::LastSentLcpConfreq(v) => {
                    parsed.has_proxy = true;
                    parsed.proxy.last_sent = v.to_vec();
                }
                AvpValue::LastReceivedLcpConfreq(v) => {
                    parsed.has_proxy = true;
                    parsed.proxy.last_received = v.to_vec();
                }
                AvpValue::ProxyAuthenType(t) => parsed.proxy.authen_type = Some(u16::from(t)),
                AvpValue::ProxyAuthenName(v) => parsed.proxy.authen_name = v.to_vec(),
                AvpValue::ProxyAuthenChallenge(v) => {
                    parsed.proxy.authen_challenge = v.to_vec();
                }
                AvpValue::ProxyAuthenId(id) => parsed.proxy.authen_id = id,
                AvpValue::ProxyAuthenResponse(v) => {
                    parsed.proxy.authen_response = Zeroizing::new(v.to_vec());
                }
                AvpValue::Unknown { .. } => self.counters.unknown_avps += 1,
                _ => {}
            }
        }
        Some(parsed)
    }

    /// Feeds one control message (header included) from the peer.
    pub fn handle_message(&mut self, now: Instant, bytes: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        let Ok(packet) = wire::Packet::new_checked(bytes) else {
            self.counters.malformed += 1;
            return;
        };
        let (Some(ns), Some(nr)) = (packet.ns(), packet.nr()) else {
            self.counters.malformed += 1;
            return;
        };
        if !packet.is_control() {
            self.counters.malformed += 1;
            return;
        }
        self.last_heard = now;
        self.acknowledge(now, nr);
        if packet.is_zlb() {
            return;
        }
        if ns != self.nr {
            if seq_before(ns, self.nr) {
                // Already delivered: our ack was lost. Acknowledge again.
                self.counters.duplicates += 1;
                self.ack_due = true;
            } else if ns.wrapping_sub(self.nr) < self.config.receive_window.max(1) {
                // Ahead, within the window we advertised: keep it until the gap fills.
                self.counters.out_of_order += 1;
                self.rx_buffer.entry(ns).or_insert_with(|| bytes.to_vec());
                self.ack_due = true;
            } else {
                self.counters.out_of_order += 1;
            }
            return;
        }
        self.deliver(now, packet.session_id(), packet.payload());
        // Messages that arrived early follow in order.
        while let Some(early) = self.rx_buffer.remove(&self.nr) {
            if self.state == State::Closed {
                break;
            }
            if let Ok(p) = wire::Packet::new_checked(&early[..]) {
                self.deliver(now, p.session_id(), p.payload());
            }
        }
        if self.rx_buffer.is_empty() {
            self.rx_buffer.shrink_to_fit();
        }
        self.pump(now);
    }

    /// Processes the message with Ns = Nr.
    fn deliver(&mut self, now: Instant, session: u16, payload: &[u8]) {
        self.nr = self.nr.wrapping_add(1);
        self.ack_due = true;
        self.counters.messages_in += 1;
        let Some(parsed) = self.parse(payload) else {
            return;
        };
        self.dispatch(now, session, parsed);
    }

    /// Drops acknowledged messages (Nr acknowledges everything before it).
    fn acknowledge(&mut self, now: Instant, nr: u16) {
        while let Some(front) = self.unacked.front() {
            if seq_before(front.ns, nr) {
                self.unacked.pop_front();
            } else {
                break;
            }
        }
        release_if_empty(&mut self.unacked);
        if self.state == State::Stopping && self.unacked.is_empty() && self.waiting.is_empty() {
            self.state = State::Closed;
            self.events.push_back(Event::TunnelClosed {
                result: stopccn::CLEAR,
                by_peer: false,
            });
        }
        self.pump(now);
    }

    fn dispatch(&mut self, now: Instant, session: u16, p: Parsed) {
        let Some(mt) = p.message_type else {
            self.counters.malformed += 1;
            return;
        };
        match (self.role, mt) {
            (Role::Lac, MessageType::Sccrp) if self.state == State::WaitReply => {
                let Some(peer) = p.assigned_tunnel else {
                    self.counters.malformed += 1;
                    return;
                };
                self.peer_id = peer;
                self.peer_window = p.window.unwrap_or(4).max(1);
                if !self.response_ok(l2tp_crypto::CHAP_ID_SCCRP, p.challenge_response)
                    || (p.challenge.is_some() && self.config.secret.is_none())
                {
                    self.stop(now, stopccn::NOT_AUTHORIZED);
                    return;
                }
                self.peer_challenge = p.challenge;
                let mut avps = vec![avp_bytes(&AvpValue::MessageType(MessageType::Scccn), true)];
                self.auth_avps(l2tp_crypto::CHAP_ID_SCCCN, &mut avps);
                self.send(now, 0, avps);
                self.state = State::Established;
                self.events.push_back(Event::TunnelUp);
            }
            (Role::Lns, MessageType::Scccn) if self.state == State::WaitConnect => {
                if !self.response_ok(l2tp_crypto::CHAP_ID_SCCCN, p.challenge_response) {
                    self.stop(now, stopccn::NOT_AUTHORIZED);
                    return;
                }
                self.state = State::Established;
                self.events.push_back(Event::TunnelUp);
            }
            (_, MessageType::StopCcn) => {
                self.state = State::Closed;
                self.unacked.clear();
                self.waiting.clear();
                self.sessions.clear();
                self.events.push_back(Event::TunnelClosed {
                    result: p.result.unwrap_or(stopccn::CLEAR),
                    by_peer: true,
                });
            }
            (_, MessageType::Hello) => {}
            (Role::Lns, MessageType::Icrq) if self.state == State::Established => {
                let Some(peer_session) = p.assigned_session else {
                    self.counters.malformed += 1;
                    return;
                };
                self.events.push_back(Event::IncomingCall {
                    peer_session_id: peer_session,
                    serial: p.serial,
                });
            }
            (Role::Lns, MessageType::Iccn) => {
                let Some(s) = self.sessions.get_mut(&session) else {
                    return;
                };
                if s.state != Call::WaitConnect {
                    return;
                }
                s.state = Call::Established;
                let peer = s.peer;
                self.events.push_back(Event::SessionUp {
                    local_session_id: session,
                    peer_session_id: peer,
                    proxy: p.has_proxy.then_some(p.proxy),
                });
            }
            (Role::Lac, MessageType::Icrp) => {
                let Some(peer) = p.assigned_session else {
                    self.counters.malformed += 1;
                    return;
                };
                let Some(s) = self.sessions.get_mut(&session) else {
                    return;
                };
                if s.state != Call::WaitReply {
                    return;
                }
                s.peer = peer;
                s.state = Call::Established;
                let proxy = s.proxy.take();
                let mut avps = vec![
                    avp_bytes(&AvpValue::MessageType(MessageType::Iccn), true),
                    avp_bytes(&AvpValue::TxConnectSpeed(TX_SPEED), true),
                    avp_bytes(&AvpValue::FramingType(Framing(Framing::SYNC)), true),
                ];
                if let Some(p) = &proxy {
                    self.proxy_avps(p, &mut avps);
                }
                self.send(now, peer, avps);
                self.events.push_back(Event::SessionUp {
                    local_session_id: session,
                    peer_session_id: peer,
                    proxy: None,
                });
            }
            (_, MessageType::Cdn) if self.sessions.remove(&session).is_some() => {
                self.events.push_back(Event::SessionClosed {
                    local_session_id: session,
                    result: p.result.unwrap_or(cdn::GENERAL_ERROR),
                });
            }
            (_, MessageType::Sli) => {
                if let Some((send, receive)) = p.accm
                    && self.sessions.contains_key(&session)
                {
                    self.events.push_back(Event::LinkInfo {
                        local_session_id: session,
                        send_accm: send,
                        receive_accm: receive,
                    });
                }
            }
            _ => {}
        }
    }

    /// LNS: accepts an incoming call with the local session ID the caller allocated;
    /// queues the ICRP.
    pub fn accept_call(&mut self, now: Instant, peer_session: u16, local_session: u16) {
        self.sessions.insert(
            local_session,
            Session {
                peer: peer_session,
                state: Call::WaitConnect,
                proxy: None,
            },
        );
        let avps = vec![
            avp_bytes(&AvpValue::MessageType(MessageType::Icrp), true),
            avp_bytes(&AvpValue::AssignedSessionId(local_session), true),
        ];
        self.send(now, peer_session, avps);
    }

    /// LNS: refuses an incoming call with a CDN carrying `result`.
    pub fn reject_call(&mut self, now: Instant, peer_session: u16, result: u16) {
        self.send(now, peer_session, cdn_avps(result, 0));
    }

    /// LAC: places a call with our `local_session` ID; queues the ICRQ.
    pub fn place_call(&mut self, now: Instant, local_session: u16) {
        self.place_call_with_proxy(now, local_session, None);
    }

    /// LAC: places a call whose ICCN carries proxy LCP and authentication AVPs
    /// (§4.4.5), as an ISP's LAC does after negotiating with the subscriber itself.
    /// The Proxy Authen Response is hidden (§4.3) when the tunnel has a secret.
    pub fn place_call_with_proxy(
        &mut self,
        now: Instant,
        local_session: u16,
        proxy: Option<ProxyInfo>,
    ) {
        self.serial = self.serial.wrapping_add(1);
        self.sessions.insert(
            local_session,
            Session {
                peer: 0,
                state: Call::WaitReply,
                proxy: proxy.map(Box::new),
            },
        );
        let avps = vec![
            avp_bytes(&AvpValue::MessageType(MessageType::Icrq), true),
            avp_bytes(&AvpValue::AssignedSessionId(local_session), true),
            avp_bytes(&AvpValue::CallSerialNumber(self.serial), true),
        ];
        self.send(now, 0, avps);
    }

    /// Ends a call from our side with a CDN (no event: the caller knows).
    pub fn close_session(&mut self, now: Instant, local_session: u16, result: u16) {
        if let Some(s) = self.sessions.remove(&local_session)
            && self.state == State::Established
        {
            self.send(now, s.peer, cdn_avps(result, local_session));
        }
    }

    /// Ends the connection with a StopCCN; [`Event::TunnelClosed`] follows when it is
    /// acknowledged (or the peer stops answering).
    pub fn close(&mut self, now: Instant, result: u16) {
        if matches!(self.state, State::Closed | State::Stopping) {
            return;
        }
        self.stop(now, result);
    }

    fn stop(&mut self, now: Instant, result: u16) {
        self.sessions.clear();
        self.waiting.clear();
        let avps = vec![
            avp_bytes(&AvpValue::MessageType(MessageType::StopCcn), true),
            avp_bytes(&AvpValue::AssignedTunnelId(self.local_id), true),
            avp_bytes(
                &AvpValue::ResultCode(ResultCode {
                    result,
                    error: None,
                    message: None,
                }),
                true,
            ),
        ];
        self.state = State::Stopping;
        self.send(now, 0, avps);
    }

    /// The next message to send to the peer.
    pub fn poll_transmit(&mut self, _now: Instant) -> Option<Vec<u8>> {
        if let Some(m) = self.out.pop_front() {
            return Some(m);
        }
        release_if_empty(&mut self.out);
        if self.ack_due {
            self.ack_due = false;
            self.counters.zlb_out += 1;
            let mut zlb = vec![0u8; wire::CONTROL_HEADER_LEN];
            let mut p = wire::Packet::new_unchecked(&mut zlb[..]);
            p.set_flags(flags::T | flags::L | flags::S | u16::from(wire::VERSION));
            p.set_length(wire::CONTROL_HEADER_LEN as u16);
            p.set_tunnel_id(self.peer_id);
            p.set_session_id(0);
            p.set_ns(self.ns);
            p.set_nr(self.nr);
            return Some(zlb);
        }
        None
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        if event.is_none() {
            release_if_empty(&mut self.events);
        }
        event
    }

    /// The next retransmission or HELLO.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let retransmit = self.unacked.front().map(|p| p.deadline);
        let hello = (self.state == State::Established && self.unacked.is_empty())
            .then(|| self.last_heard + self.config.hello_interval);
        match (retransmit, hello) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        let retries = self.config.retransmit_retries.max(1);
        let max = self.config.retransmit_max;
        let nr = self.nr;
        let mut give_up = false;
        for p in self.unacked.iter_mut() {
            if p.deadline > now {
                continue;
            }
            if p.sent >= retries {
                give_up = true;
                break;
            }
            p.sent += 1;
            p.interval = (p.interval * 2).min(max);
            p.deadline = now + p.interval;
            wire::Packet::new_unchecked(&mut p.message[..]).set_nr(nr);
            self.out.push_back(p.message.clone());
            self.counters.retransmissions += 1;
        }
        if give_up {
            self.state = State::Closed;
            self.unacked.clear();
            self.waiting.clear();
            self.sessions.clear();
            self.events.push_back(Event::TunnelClosed {
                result: stopccn::GENERAL_ERROR,
                by_peer: false,
            });
            return;
        }
        if self.state == State::Established
            && self.unacked.is_empty()
            && now >= self.last_heard + self.config.hello_interval
        {
            self.last_heard = now;
            self.send(
                now,
                0,
                vec![avp_bytes(&AvpValue::MessageType(MessageType::Hello), true)],
            );
        }
    }
}

fn cdn_avps(result: u16, local_session: u16) -> Vec<Vec<u8>> {
    vec![
        avp_bytes(&AvpValue::MessageType(MessageType::Cdn), true),
        avp_bytes(
            &AvpValue::ResultCode(ResultCode {
                result,
                error: None,
                message: None,
            }),
            true,
        ),
        avp_bytes(&AvpValue::AssignedSessionId(local_session), true),
    ]
}

/// One unhidden AVP, encoded.
fn avp_bytes(value: &AvpValue<'_>, mandatory: bool) -> Vec<u8> {
    let mut out = vec![0u8; value.avp_len()];
    value.emit_avp(mandatory, &mut out);
    out
}

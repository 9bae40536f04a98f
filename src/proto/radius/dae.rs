//! Dynamic Authorization (RFC 5176 §2.3, §3): Disconnect-Request and CoA-Request from
//! configured clients, verified, parsed and answered, sans-IO. See the module docs of
//! [`super`] for the decisions.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::crypto::radius::{
    AuthenticatorBasis, fill_message_authenticator, set_response_authenticator,
    verify_message_authenticator, verify_request_authenticator,
};
use crate::proto::ppp::util::Secret;
use crate::wire::radius::attribute::ErrorCause;
use crate::wire::radius::vendor::{VENDOR_MIKROTIK, VendorAttribute, VendorSpecificRepr};
use crate::wire::radius::{Attribute, AttributeType, Code, MAX_PACKET_LEN, Packet, PacketBuilder};

/// A Dynamic Authorization Client (RFC 5176 §1.1) allowed to send us requests.
#[derive(Clone, PartialEq, Eq)]
pub struct DaeClient {
    /// Requests are matched on source address only: the source port varies.
    pub addr: IpAddr,
    /// Zeroized on drop, redacted in Debug.
    pub secret: Secret,
}

impl fmt::Debug for DaeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DaeClient")
            .field("addr", &self.addr)
            .field("secret", &self.secret)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaeConfig {
    pub clients: Vec<DaeClient>,
    /// Our NAS-IP-Address: a request naming another is NAKed with 403.
    pub nas_ip_address: Option<Ipv4Addr>,
    /// Our NAS-Identifier: likewise.
    pub nas_identifier: Option<Vec<u8>>,
    /// How long an answer is kept to be resent for a duplicate (RFC 5176 §2.3).
    pub duplicate_window: Duration,
    /// Answers kept at most.
    pub duplicate_cache: usize,
    /// Drop requests without a Message-Authenticator.
    pub require_message_authenticator: bool,
}

impl Default for DaeConfig {
    fn default() -> Self {
        DaeConfig {
            clients: Vec::new(),
            nas_ip_address: None,
            nas_identifier: None,
            duplicate_window: Duration::from_secs(10),
            duplicate_cache: 1024,
            require_message_authenticator: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DaeKind {
    Disconnect,
    Coa,
}

/// Which session(s) the request names (RFC 5176 §3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selectors {
    pub user_name: Option<Vec<u8>>,
    pub acct_session_id: Option<Vec<u8>>,
    pub framed_ip_address: Option<Ipv4Addr>,
}

/// What a CoA-Request changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub session_timeout: Option<u32>,
    /// Mikrotik-Rate-Limit values, raw.
    pub rate_limits: Vec<Vec<u8>>,
    /// Filter-Id values, raw.
    pub filter_ids: Vec<Vec<u8>>,
}

/// A verified request for the daemon to act on; answer it with
/// [`DaeServer::answer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaeRequest {
    pub kind: DaeKind,
    pub selectors: Selectors,
    pub changes: Changes,
    /// What the answer needs (source, Identifier, authenticator, Proxy-State).
    pub reply: ReplyContext,
}

/// Where and how to answer a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyContext {
    pub from: SocketAddr,
    kind: DaeKind,
    identifier: u8,
    authenticator: [u8; 16],
    client: usize,
    proxy_state: Vec<Vec<u8>>,
    message_authenticator: bool,
}

/// What to do with a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaeOutcome {
    /// Nothing to send (the reason is counted).
    Drop,
    /// Send these bytes back to the source (a NAK we decided, or the cached answer
    /// to a duplicate).
    Answer(Vec<u8>),
    /// Act on the request, then call [`DaeServer::answer`].
    Request(DaeRequest),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaeCounters {
    pub requests: u64,
    pub acks: u64,
    pub naks: u64,
    pub unknown_clients: u64,
    pub bad_authenticators: u64,
    pub malformed: u64,
    /// Codes other than Disconnect-Request and CoA-Request.
    pub unknown_codes: u64,
    /// Duplicates answered from the cache.
    pub duplicates_resent: u64,
    /// Duplicates of a request still being handled, dropped.
    pub duplicates_dropped: u64,
}

#[derive(Debug)]
struct CacheEntry {
    from: SocketAddr,
    identifier: u8,
    authenticator: [u8; 16],
    at: Instant,
    /// None while the daemon has not answered yet.
    answer: Option<Vec<u8>>,
}

/// The RFC 5176 server side.
#[derive(Debug)]
pub struct DaeServer {
    config: DaeConfig,
    cache: VecDeque<CacheEntry>,
    counters: DaeCounters,
}

impl DaeServer {
    pub fn new(config: DaeConfig) -> Self {
        DaeServer {
            config,
            cache: VecDeque::new(),
            counters: DaeCounters::default(),
        }
    }

    pub fn counters(&self) -> &DaeCounters {
        &self.counters
    }

    fn expire(&mut self, now: Instant) {
        let window = self.config.duplicate_window;
        while self
            .cache
            .front()
            .is_some_and(|e| now.saturating_duration_since(e.at) > window)
        {
            self.cache.pop_front();
        }
    }

    /// A datagram received on the Dynamic Authorization port from `from`.
    pub fn handle_request(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> DaeOutcome {
        self.expire(now);
        let Some(client) = self.config.clients.iter().position(|c| c.addr == from.ip()) else {
            self.counters.unknown_clients += 1;
            return DaeOutcome::Drop;
        };
        let Ok(packet) = Packet::new_checked(bytes) else {
            self.counters.malformed += 1;
            return DaeOutcome::Drop;
        };
        let kind = match packet.code() {
            Code::DisconnectRequest => DaeKind::Disconnect,
            Code::CoaRequest => DaeKind::Coa,
            _ => {
                self.counters.unknown_codes += 1;
                return DaeOutcome::Drop;
            }
        };
        let data = packet.packet_data();
        let secret = self.config.clients[client].secret.clone();
        // RFC 5176 §3: the Request Authenticator is computed like an
        // Accounting-Request's (RFC 2866 §3).
        if verify_request_authenticator(data, secret.expose()).is_err() {
            self.counters.bad_authenticators += 1;
            return DaeOutcome::Drop;
        }
        let message_authenticator = match packet.message_authenticator_range() {
            Ok(Some(range)) => {
                if verify_message_authenticator(
                    data,
                    range,
                    AuthenticatorBasis::Zero,
                    secret.expose(),
                )
                .is_err()
                {
                    self.counters.bad_authenticators += 1;
                    return DaeOutcome::Drop;
                }
                true
            }
            Ok(None) if self.config.require_message_authenticator => {
                self.counters.bad_authenticators += 1;
                return DaeOutcome::Drop;
            }
            Ok(None) => false,
            Err(_) => {
                self.counters.malformed += 1;
                return DaeOutcome::Drop;
            }
        };
        let mut authenticator = [0u8; 16];
        authenticator.copy_from_slice(packet.authenticator());
        let identifier = packet.identifier();
        // RFC 5176 §2.3: a duplicate (same source, Identifier and authenticator)
        // gets the same answer again.
        if let Some(entry) = self.cache.iter().find(|e| {
            e.from == from && e.identifier == identifier && e.authenticator == authenticator
        }) {
            return match &entry.answer {
                Some(answer) => {
                    self.counters.duplicates_resent += 1;
                    DaeOutcome::Answer(answer.clone())
                }
                None => {
                    self.counters.duplicates_dropped += 1;
                    DaeOutcome::Drop
                }
            };
        }
        self.counters.requests += 1;
        let mut reply = ReplyContext {
            from,
            kind,
            identifier,
            authenticator,
            client,
            proxy_state: Vec::new(),
            message_authenticator,
        };
        let parsed = self.parse(kind, &packet, &mut reply.proxy_state);
        if self.cache.len() >= self.config.duplicate_cache.max(1) {
            self.cache.pop_front();
        }
        self.cache.push_back(CacheEntry {
            from,
            identifier,
            authenticator,
            at: now,
            answer: None,
        });
        match parsed {
            Ok((selectors, changes)) => DaeOutcome::Request(DaeRequest {
                kind,
                selectors,
                changes,
                reply,
            }),
            Err(cause) => match self.answer(&reply, Err(cause)) {
                Some(bytes) => DaeOutcome::Answer(bytes),
                None => DaeOutcome::Drop,
            },
        }
    }

    fn parse(
        &self,
        kind: DaeKind,
        packet: &Packet<&[u8]>,
        proxy_state: &mut Vec<Vec<u8>>,
    ) -> Result<(Selectors, Changes), ErrorCause> {
        let mut selectors = Selectors::default();
        let mut changes = Changes::default();
        let mut unsupported = false;
        let mut nas_mismatch = false;
        for attr in packet.attributes() {
            let attr = attr.map_err(|_| ErrorCause::InvalidRequest)?;
            if attr.attribute_type == AttributeType::VendorSpecific {
                let vsa = VendorSpecificRepr::parse(attr.value)
                    .map_err(|_| ErrorCause::InvalidAttributeValue)?;
                for sub in vsa.sub_attributes() {
                    let sub = sub.map_err(|_| ErrorCause::InvalidAttributeValue)?;
                    match VendorAttribute::parse(vsa.vendor_id, &sub) {
                        Ok(VendorAttribute::MikrotikRateLimit(v)) if kind == DaeKind::Coa => {
                            changes.rate_limits.push(v.to_vec());
                        }
                        Err(_) if vsa.vendor_id == VENDOR_MIKROTIK => {
                            return Err(ErrorCause::InvalidAttributeValue);
                        }
                        _ => unsupported = true,
                    }
                }
                continue;
            }
            let typed = Attribute::parse(&attr).map_err(|_| ErrorCause::InvalidAttributeValue)?;
            match typed {
                Attribute::UserName(v) => selectors.user_name = Some(v.to_vec()),
                Attribute::AcctSessionId(v) => selectors.acct_session_id = Some(v.to_vec()),
                Attribute::FramedIpAddress(a) => selectors.framed_ip_address = Some(a),
                Attribute::NasIpAddress(a) => {
                    if self.config.nas_ip_address.is_some_and(|ours| ours != a) {
                        nas_mismatch = true;
                    }
                }
                Attribute::NasIdentifier(v) => {
                    if self
                        .config
                        .nas_identifier
                        .as_deref()
                        .is_some_and(|ours| ours != v)
                    {
                        nas_mismatch = true;
                    }
                }
                Attribute::ProxyState(v) => proxy_state.push(v.to_vec()),
                // Checked above; replay protection by time is not implemented.
                Attribute::MessageAuthenticator(_) | Attribute::EventTimestamp(_) => {}
                Attribute::SessionTimeout(t) if kind == DaeKind::Coa => {
                    changes.session_timeout = Some(t);
                }
                Attribute::FilterId(v) if kind == DaeKind::Coa => {
                    changes.filter_ids.push(v.to_vec());
                }
                _ => unsupported = true,
            }
        }
        if nas_mismatch {
            return Err(ErrorCause::NasIdentificationMismatch);
        }
        if unsupported {
            return Err(ErrorCause::UnsupportedAttribute);
        }
        if selectors == Selectors::default() {
            return Err(ErrorCause::MissingAttribute);
        }
        Ok((selectors, changes))
    }

    /// Builds the answer: `Ok` is a Disconnect-ACK / CoA-ACK, `Err(cause)` a NAK with
    /// that Error-Cause (RFC 5176 §3.5: e.g. 503 Session-Context-Not-Found). Proxy-State
    /// is echoed, a Message-Authenticator added if the request had one. The answer is
    /// remembered for duplicates. `None` only if the request's client was removed.
    pub fn answer(
        &mut self,
        reply: &ReplyContext,
        result: Result<(), ErrorCause>,
    ) -> Option<Vec<u8>> {
        let secret = self.config.clients.get(reply.client)?.secret.clone();
        let code = match (reply.kind, result.is_ok()) {
            (DaeKind::Disconnect, true) => Code::DisconnectAck,
            (DaeKind::Disconnect, false) => Code::DisconnectNak,
            (DaeKind::Coa, true) => Code::CoaAck,
            (DaeKind::Coa, false) => Code::CoaNak,
        };
        let mut buf = vec![0u8; MAX_PACKET_LEN];
        let mut b = PacketBuilder::new(&mut buf, code, reply.identifier, &[0; 16]).ok()?;
        if reply.message_authenticator {
            b.push(&Attribute::MessageAuthenticator([0; 16])).ok()?;
        }
        if let Err(cause) = result {
            b.push(&Attribute::ErrorCause(cause)).ok()?;
        }
        for state in &reply.proxy_state {
            b.push(&Attribute::ProxyState(state)).ok()?;
        }
        let range = b.message_authenticator_range();
        let packet = b.finish();
        if let Some(range) = range {
            let basis = AuthenticatorBasis::Request(&reply.authenticator);
            fill_message_authenticator(packet, range, basis, secret.expose()).ok()?;
        }
        set_response_authenticator(packet, &reply.authenticator, secret.expose()).ok()?;
        let bytes = packet.to_vec();
        if result.is_ok() {
            self.counters.acks += 1;
        } else {
            self.counters.naks += 1;
        }
        if let Some(entry) = self.cache.iter_mut().find(|e| {
            e.from == reply.from
                && e.identifier == reply.identifier
                && e.authenticator == reply.authenticator
        }) {
            entry.answer = Some(bytes.clone());
        }
        Some(bytes)
    }
}

//! The RADIUS client engine: authentication (RFC 2865) and accounting (RFC 2866),
//! sans-IO. See the module docs of [`super`] for the RFC sections and decisions.
#![forbid(unsafe_code)]

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::crypto::radius::{
    self as rcrypto, AuthenticatorBasis, fill_message_authenticator, hide_user_password,
    set_request_authenticator, unhide_mppe_key, verify_message_authenticator,
    verify_response_authenticator,
};
use crate::proto::ppp::util::{Drbg, Secret};
use crate::wire::radius::attribute::{
    AcctAuthentic, AcctStatusType, AcctTerminateCause, ChapPassword, FramedProtocol, NasPortType,
    ServiceType,
};
use crate::wire::radius::vendor::{MsChap2Response, VendorAttribute, VendorSpecificRepr};
use crate::wire::radius::{
    Attribute, AttributeType, Code, MAX_PACKET_LEN, MAX_VALUE_LEN, Packet, PacketBuilder,
};

/// Identifiers per (socket, server): the field is one octet (RFC 2865 §3).
const IDS_PER_SOCKET: usize = 256;
/// Shortest pause of the accounting queue after a round found no server, so that a
/// zero hold-down cannot make the engine spin.
const MIN_ACCOUNTING_PAUSE: Duration = Duration::from_secs(1);
/// Most servers per list (the tried-set is a bit mask).
pub const MAX_SERVERS: usize = 64;

/// One RADIUS server.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    /// The shared secret (RFC 2865 §3): zeroized on drop, redacted in Debug.
    pub secret: Secret,
    /// Wait for an answer before retransmitting (RFC 2865 §2.4 leaves it to us).
    pub timeout: Duration,
    /// Retransmissions to this server before moving to the next one.
    pub retries: u32,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("addr", &self.addr)
            .field("secret", &self.secret)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

impl ServerConfig {
    /// A server with a 3 s timeout and 2 retransmissions.
    pub fn new(addr: SocketAddr, secret: impl Into<Vec<u8>>) -> Self {
        ServerConfig {
            addr,
            secret: Secret::new(secret),
            timeout: Duration::from_secs(3),
            retries: 2,
        }
    }
}

/// The client's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadiusConfig {
    /// Authentication servers, in order of preference.
    pub auth_servers: Vec<ServerConfig>,
    /// Accounting servers, in order of preference.
    pub acct_servers: Vec<ServerConfig>,
    /// NAS-IP-Address (RFC 2865 §5.4); at least one of it and NAS-Identifier is sent.
    pub nas_ip_address: Option<Ipv4Addr>,
    /// NAS-Identifier (RFC 2865 §5.32).
    pub nas_identifier: Option<Vec<u8>>,
    /// Number of UDP sockets the caller owns (indices `0..sockets`); each adds 256
    /// Identifiers per server.
    pub sockets: usize,
    /// How long a server that timed out is skipped (its hold-down).
    pub dead_time: Duration,
    /// Accounting records held (queued plus in flight).
    pub accounting_queue: usize,
    /// Accounting requests in flight at once.
    pub accounting_in_flight: usize,
    /// Authentication requests waiting for a free Identifier.
    pub auth_queue: usize,
    /// Drop Access-Accept/Reject answers without a Message-Authenticator (the
    /// BlastRADIUS defence, CVE-2024-3596). One present is always verified.
    pub require_message_authenticator: bool,
}

impl Default for RadiusConfig {
    fn default() -> Self {
        RadiusConfig {
            auth_servers: Vec::new(),
            acct_servers: Vec::new(),
            nas_ip_address: None,
            nas_identifier: Some(b"shardvpn".to_vec()),
            sockets: 1,
            dead_time: Duration::from_secs(30),
            accounting_queue: 100_000,
            accounting_in_flight: 64,
            auth_queue: 4096,
            require_message_authenticator: false,
        }
    }
}

/// Why a configuration or a call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RadiusError {
    #[error("radius: no sockets configured")]
    NoSockets,
    #[error("radius: more than 64 servers in a list")]
    TooManyServers,
    #[error("radius: neither NAS-IP-Address nor NAS-Identifier configured")]
    NoNasIdentity,
    /// Authentication and accounting servers share an address, hence Identifiers.
    #[error("radius: an authentication and an accounting server share an address")]
    SharedServerAddress,
    #[error("radius: no server configured for this request")]
    NoServers,
    #[error("radius: password longer than 128 octets")]
    PasswordTooLong,
    #[error("radius: an attribute or the packet is too long")]
    TooLong,
    #[error("radius: CHAP challenge shorter than 5 octets")]
    BadChallenge,
    #[error("radius: authentication queue full")]
    AuthQueueFull,
    /// The accounting queue holds only records that must not be dropped.
    #[error("radius: accounting queue full")]
    AccountingQueueFull,
}

/// Names one authentication request or accounting record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// The proof the peer gave PPP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proof {
    /// PAP: sent as a hidden User-Password (RFC 2865 §5.2).
    Pap { password: Secret },
    /// CHAP-MD5: CHAP-Password and CHAP-Challenge (RFC 2865 §5.3, §5.40).
    ChapMd5 {
        ident: u8,
        challenge: Vec<u8>,
        response: [u8; 16],
    },
    /// MS-CHAPv2: MS-CHAP-Challenge and MS-CHAP2-Response (RFC 2548 §2.3.2).
    MsChapV2 {
        ident: u8,
        authenticator_challenge: [u8; 16],
        peer_challenge: [u8; 16],
        nt_response: [u8; 24],
    },
}

impl Proof {
    /// The RADIUS form of what the PPP engine reports (the CHAP Identifier fills
    /// MS-CHAP2-Response's Ident, RFC 2548 §2.3.2, which servers echo in
    /// MS-CHAP2-Success).
    pub fn from_ppp(proof: &crate::proto::ppp::AuthProof) -> Self {
        use crate::proto::ppp::AuthProof as P;
        match proof {
            P::Pap { password } => Proof::Pap {
                password: password.clone(),
            },
            P::ChapMd5 {
                identifier,
                challenge,
                response,
            } => Proof::ChapMd5 {
                ident: *identifier,
                challenge: challenge.clone(),
                response: *response,
            },
            P::MsChapV2 {
                identifier,
                authenticator_challenge,
                peer_challenge,
                nt_response,
            } => Proof::MsChapV2 {
                ident: *identifier,
                authenticator_challenge: *authenticator_challenge,
                peer_challenge: *peer_challenge,
                nt_response: *nt_response,
            },
        }
    }
}

/// One authentication attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParams {
    pub user_name: Vec<u8>,
    pub proof: Proof,
    /// The peer's address, sent as Calling-Station-Id text (RFC 2865 §5.31).
    pub peer_address: Option<IpAddr>,
    /// Called-Station-Id (RFC 2865 §5.30), e.g. our address.
    pub called_station_id: Option<Vec<u8>>,
    pub nas_port: Option<u32>,
    pub acct_session_id: Option<Vec<u8>>,
}

/// What an Access-Accept grants (RFC 2865 §5, RFC 2869 §5.16, RFC 2548).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AcceptInfo {
    pub framed_ip_address: Option<Ipv4Addr>,
    pub framed_ip_netmask: Option<Ipv4Addr>,
    pub framed_pool: Option<Vec<u8>>,
    pub session_timeout: Option<u32>,
    pub idle_timeout: Option<u32>,
    pub acct_interim_interval: Option<u32>,
    /// Class values, in order: echo them in every Accounting-Request (§5.25).
    pub class: Vec<Vec<u8>>,
    pub primary_dns: Option<Ipv4Addr>,
    pub secondary_dns: Option<Ipv4Addr>,
    /// MS-CHAP2-Success text without its Ident: `S=` and 40 hex digits (RFC 2548
    /// §2.3.3), for the PPP Success packet.
    pub ms_chap2_success: Option<Vec<u8>>,
    /// MS-MPPE-Send-Key / Recv-Key, revealed (RFC 2548 §2.4.2, §2.4.3).
    pub mppe_send_key: Option<Secret>,
    pub mppe_recv_key: Option<Secret>,
    /// Mikrotik-Rate-Limit values, raw.
    pub rate_limits: Vec<Vec<u8>>,
    /// Filter-Id values, raw (§5.11).
    pub filter_ids: Vec<Vec<u8>>,
    /// Reply-Message values joined with newlines (§5.18).
    pub reply_message: Option<Vec<u8>>,
}

/// One accounting record (RFC 2866 §5, RFC 2869 §5.1-5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcctRecord {
    pub status: AcctStatusType,
    /// Acct-Session-Id; empty for Accounting-On/Off (then not sent).
    pub session_id: Vec<u8>,
    pub user_name: Vec<u8>,
    pub framed_ip_address: Option<Ipv4Addr>,
    pub class: Vec<Vec<u8>>,
    pub input_octets: u64,
    pub output_octets: u64,
    pub input_packets: u32,
    pub output_packets: u32,
    /// Acct-Session-Time in seconds.
    pub session_time: u32,
    /// Stop only (RFC 2866 §5.10).
    pub terminate_cause: Option<AcctTerminateCause>,
    pub nas_port: Option<u32>,
    pub peer_address: Option<IpAddr>,
    pub called_station_id: Option<Vec<u8>>,
    pub authentic: Option<AcctAuthentic>,
    /// Event-Timestamp (RFC 2869 §5.3): the caller's wall clock, seconds since 1970.
    pub event_timestamp: Option<u32>,
}

impl AcctRecord {
    /// A record with every counter zero.
    pub fn new(status: AcctStatusType, session_id: &[u8], user_name: &[u8]) -> Self {
        AcctRecord {
            status,
            session_id: session_id.to_vec(),
            user_name: user_name.to_vec(),
            framed_ip_address: None,
            class: Vec::new(),
            input_octets: 0,
            output_octets: 0,
            input_packets: 0,
            output_packets: 0,
            session_time: 0,
            terminate_cause: None,
            nas_port: None,
            peer_address: None,
            called_station_id: None,
            authentic: Some(AcctAuthentic::Radius),
            event_timestamp: None,
        }
    }
}

/// What a datagram to a server carries.
#[derive(Clone, PartialEq, Eq)]
pub struct Transmit {
    pub server: SocketAddr,
    /// Which of the caller's sockets sends it.
    pub socket: usize,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Transmit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transmit")
            .field("server", &self.server)
            .field("socket", &self.socket)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// What happened, for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Accepted {
        id: RequestId,
        info: Box<AcceptInfo>,
    },
    /// Access-Reject (or an Access-Challenge, which we cannot answer).
    Rejected {
        id: RequestId,
        reply_message: Option<Vec<u8>>,
    },
    /// No authentication server answered (every one tried, or all held down).
    TimedOut { id: RequestId },
    /// An Accounting-Response arrived for this record.
    AcctDelivered {
        id: RequestId,
        session_id: Vec<u8>,
        status: AcctStatusType,
    },
    /// A server exhausted its retries and is held down.
    ServerDown { addr: SocketAddr },
    /// A server held down answered again.
    ServerUp { addr: SocketAddr },
}

/// Per-server figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerCounters {
    pub addr: Option<SocketAddr>,
    pub requests: u64,
    pub retransmissions: u64,
    pub timeouts: u64,
    pub responses: u64,
    /// Time from the last transmission to the answer, summed.
    pub latency_sum: Duration,
    pub latency_count: u64,
}

/// Counters for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Requests transmitted for the first time on a server.
    pub requests: u64,
    pub retransmissions: u64,
    /// A server's retries exhausted for a request.
    pub timeouts: u64,
    /// Authentication requests that ended in TimedOut.
    pub auth_timed_out: u64,
    pub accepts: u64,
    pub rejects: u64,
    pub challenges: u64,
    pub acct_delivered: u64,
    /// Answers whose Response Authenticator or Message-Authenticator did not verify,
    /// or that lacked a required Message-Authenticator, or had the wrong Code.
    pub bad_authenticators: u64,
    /// Answers to no outstanding request.
    pub unknown_ids: u64,
    /// Datagrams that do not parse.
    pub malformed: u64,
    /// Attributes in an authentic answer that were ignored because they do not parse.
    pub bad_attributes: u64,
    /// Interim-Update records dropped because the queue was full.
    pub acct_dropped_interim: u64,
    /// Records refused because the queue held only Start/Stop/On/Off.
    pub acct_refused: u64,
    /// Queued Interim-Updates replaced by a newer one of the same session.
    pub acct_superseded: u64,
    pub auth_servers: Vec<ServerCounters>,
    pub acct_servers: Vec<ServerCounters>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum List {
    Auth,
    Acct,
}

#[derive(Debug)]
struct ServerState {
    config: ServerConfig,
    dead_until: Option<Instant>,
    down: bool,
}

impl ServerState {
    fn selectable(&self, now: Instant) -> bool {
        self.dead_until.is_none_or(|t| t <= now)
    }
}

/// The Identifiers in use towards one server from one socket.
#[derive(Debug, Default)]
struct IdSpace {
    used: [u64; 4],
    next: u8,
    in_use: u16,
}

impl IdSpace {
    /// A free Identifier, rotating so that a released one is reused last.
    fn take(&mut self) -> Option<u8> {
        if usize::from(self.in_use) >= IDS_PER_SOCKET {
            return None;
        }
        for step in 0..IDS_PER_SOCKET {
            let id = self.next.wrapping_add(step as u8);
            let (w, b) = (usize::from(id >> 6), id & 63);
            if self.used[w] & (1 << b) == 0 {
                self.used[w] |= 1 << b;
                self.in_use += 1;
                self.next = id.wrapping_add(1);
                return Some(id);
            }
        }
        None
    }

    fn release(&mut self, id: u8) {
        let (w, b) = (usize::from(id >> 6), id & 63);
        if self.used[w] & (1 << b) != 0 {
            self.used[w] &= !(1 << b);
            self.in_use -= 1;
        }
    }
}

/// One transmission of a request: where it went and how to check its answer.
#[derive(Debug, Clone, Copy)]
struct Tx {
    socket: usize,
    server: usize,
    ident: u8,
    authenticator: [u8; 16],
    sent_at: Instant,
}

#[derive(Debug)]
enum Kind {
    Auth(Box<AuthParams>),
    Acct,
}

#[derive(Debug)]
struct Request {
    kind: Kind,
    list: List,
    /// Servers tried in this round (bit per index).
    tried: u64,
    server: usize,
    retries_left: u32,
    current: Option<Tx>,
    /// Earlier transmissions whose Identifiers stay reserved so that a late answer
    /// to them is still accepted: every server an authentication tried (one each),
    /// the last one before `current` for accounting.
    previous: Vec<Tx>,
    /// The bytes of `current`, for a retransmission.
    bytes: Vec<u8>,
    deadline: Option<Instant>,
}

#[derive(Debug)]
struct AcctEntry {
    record: AcctRecord,
    /// When the record was queued: the origin of Acct-Delay-Time.
    created: Instant,
}

#[derive(Debug, Default)]
struct SessionQueue {
    records: VecDeque<u64>,
    in_flight: bool,
}

/// The RADIUS client (one per daemon).
pub struct RadiusClient {
    config: RadiusConfig,
    auth: Vec<ServerState>,
    acct: Vec<ServerState>,
    drbg: Drbg,
    next_key: u64,
    requests: HashMap<u64, Request>,
    /// (socket, list, server index, Identifier) -> request.
    in_flight: HashMap<(usize, List, usize, u8), u64>,
    ids: HashMap<(usize, List, usize), IdSpace>,
    next_socket: usize,
    timers: BTreeSet<(Instant, u64)>,
    auth_waiting: VecDeque<u64>,
    records: HashMap<u64, AcctEntry>,
    sessions: HashMap<Vec<u8>, SessionQueue>,
    /// Sessions whose first record may be sent.
    ready: VecDeque<Vec<u8>>,
    /// Queued, not in flight, Interim-Update records, oldest first.
    queued_interims: BTreeSet<u64>,
    acct_in_flight: usize,
    acct_paused_until: Option<Instant>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    counters: Counters,
    /// Answer latencies not yet taken by [`RadiusClient::take_latencies`], at most
    /// [`MAX_LATENCY_SAMPLES`] (beyond that they are only in the sums).
    latencies: Vec<LatencySample>,
}

/// Latency samples kept between two [`RadiusClient::take_latencies`] calls (the
/// control thread takes them every second; 16,384 covers any realistic answer rate).
pub const MAX_LATENCY_SAMPLES: usize = 16384;

/// One answer's latency: from the request's last transmission to the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencySample {
    /// An accounting server (else an authentication server).
    pub accounting: bool,
    /// The server's index in its list (`Counters::auth_servers` / `acct_servers`).
    pub server: usize,
    pub latency: Duration,
}

impl fmt::Debug for RadiusClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RadiusClient")
            .field("config", &self.config)
            .field("requests", &self.requests.len())
            .field("records", &self.records.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

fn session_key(record: &AcctRecord) -> Vec<u8> {
    record.session_id.clone()
}

fn too_long(_: crate::wire::Error) -> RadiusError {
    RadiusError::TooLong
}

impl RadiusClient {
    /// Checks the configuration; `rng` seeds the Request Authenticators.
    pub fn new(config: RadiusConfig, rng: &mut impl FnMut(&mut [u8])) -> Result<Self, RadiusError> {
        if config.sockets == 0 {
            return Err(RadiusError::NoSockets);
        }
        if config.auth_servers.len() > MAX_SERVERS || config.acct_servers.len() > MAX_SERVERS {
            return Err(RadiusError::TooManyServers);
        }
        if config.nas_ip_address.is_none() && config.nas_identifier.is_none() {
            return Err(RadiusError::NoNasIdentity);
        }
        if config
            .auth_servers
            .iter()
            .any(|a| config.acct_servers.iter().any(|b| a.addr == b.addr))
        {
            return Err(RadiusError::SharedServerAddress);
        }
        let mut config = config;
        // Each accounting record in flight holds at most two Identifiers per socket
        // and server; the cap keeps accounting from ever waiting for one.
        config.accounting_in_flight = config
            .accounting_in_flight
            .clamp(1, config.sockets * (IDS_PER_SOCKET / 2 - 1));
        let state = |s: &ServerConfig| ServerState {
            config: s.clone(),
            dead_until: None,
            down: false,
        };
        let counters = |list: &[ServerConfig]| {
            list.iter()
                .map(|s| ServerCounters {
                    addr: Some(s.addr),
                    ..ServerCounters::default()
                })
                .collect()
        };
        Ok(RadiusClient {
            auth: config.auth_servers.iter().map(state).collect(),
            acct: config.acct_servers.iter().map(state).collect(),
            counters: Counters {
                auth_servers: counters(&config.auth_servers),
                acct_servers: counters(&config.acct_servers),
                ..Counters::default()
            },
            config,
            drbg: Drbg::new(rng),
            next_key: 1,
            requests: HashMap::new(),
            in_flight: HashMap::new(),
            ids: HashMap::new(),
            next_socket: 0,
            timers: BTreeSet::new(),
            auth_waiting: VecDeque::new(),
            records: HashMap::new(),
            sessions: HashMap::new(),
            ready: VecDeque::new(),
            queued_interims: BTreeSet::new(),
            latencies: Vec::new(),
            acct_in_flight: 0,
            acct_paused_until: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The answer latencies recorded since the last call, oldest first (for
    /// histograms; the sums in [`Counters`] count every answer).
    pub fn take_latencies(&mut self, mut f: impl FnMut(LatencySample)) {
        for s in self.latencies.drain(..) {
            f(s);
        }
    }

    /// Whether a server is considered alive: not held down after its retries ran
    /// out (`accounting` picks the list; an index out of range is not alive).
    pub fn server_alive(&self, accounting: bool, server: usize) -> bool {
        let list = if accounting { List::Acct } else { List::Auth };
        self.servers(list).get(server).is_some_and(|s| !s.down)
    }

    /// Authentication requests outstanding (sent or waiting for an Identifier).
    pub fn pending_auth(&self) -> usize {
        self.requests
            .values()
            .filter(|r| matches!(r.kind, Kind::Auth(_)))
            .count()
    }

    /// Accounting records not yet delivered (queued or in flight).
    pub fn pending_accounting(&self) -> usize {
        self.records.len()
    }

    /// Identifiers currently reserved, over every socket and server.
    pub fn identifiers_in_use(&self) -> usize {
        self.ids.values().map(|s| usize::from(s.in_use)).sum()
    }

    /// Test-only consistency check: every reserved Identifier maps to a live
    /// request transmission and back, and the counts agree.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let reserved: usize = self.ids.values().map(|s| usize::from(s.in_use)).sum();
        assert_eq!(reserved, self.in_flight.len());
        for (&(socket, list, server, ident), key) in &self.in_flight {
            let req = &self.requests[key];
            assert_eq!(req.list, list);
            assert!(
                req.current
                    .iter()
                    .chain(&req.previous)
                    .any(|t| t.socket == socket && t.server == server && t.ident == ident)
            );
        }
        for (key, req) in &self.requests {
            for tx in req.current.iter().chain(&req.previous) {
                assert_eq!(
                    self.in_flight
                        .get(&(tx.socket, req.list, tx.server, tx.ident)),
                    Some(key)
                );
            }
        }
        let acct = self
            .requests
            .values()
            .filter(|r| r.list == List::Acct)
            .count();
        assert_eq!(acct, self.acct_in_flight);
    }

    fn servers(&self, list: List) -> &[ServerState] {
        match list {
            List::Auth => &self.auth,
            List::Acct => &self.acct,
        }
    }

    fn servers_mut(&mut self, list: List) -> &mut Vec<ServerState> {
        match list {
            List::Auth => &mut self.auth,
            List::Acct => &mut self.acct,
        }
    }

    fn server_counters(&mut self, list: List, server: usize) -> &mut ServerCounters {
        match list {
            List::Auth => &mut self.counters.auth_servers[server],
            List::Acct => &mut self.counters.acct_servers[server],
        }
    }

    fn new_key(&mut self) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        key
    }

    /// Starts an authentication (RFC 2865 §4.1). The answer comes as an
    /// [`Event::Accepted`], [`Event::Rejected`] or [`Event::TimedOut`] with this id;
    /// if every server is held down, `TimedOut` is queued at once.
    pub fn authenticate(
        &mut self,
        now: Instant,
        params: AuthParams,
    ) -> Result<RequestId, RadiusError> {
        if self.auth.is_empty() {
            return Err(RadiusError::NoServers);
        }
        // Refuse what can never be encoded, before anything is queued.
        match &params.proof {
            Proof::Pap { password } if password.expose().len() > rcrypto::MAX_USER_PASSWORD_LEN => {
                return Err(RadiusError::PasswordTooLong);
            }
            Proof::ChapMd5 { challenge, .. }
                if challenge.len() < crate::wire::radius::attribute::CHAP_CHALLENGE_MIN_LEN =>
            {
                return Err(RadiusError::BadChallenge);
            }
            _ => {}
        }
        build_access_request(&self.config, &params, b"x", 0, &[0; 16]).map_err(too_long)?;
        if self.auth_waiting.len() >= self.config.auth_queue {
            return Err(RadiusError::AuthQueueFull);
        }
        let key = self.new_key();
        self.requests.insert(
            key,
            Request {
                kind: Kind::Auth(Box::new(params)),
                list: List::Auth,
                tried: 0,
                server: 0,
                retries_left: 0,
                current: None,
                previous: Vec::new(),
                bytes: Vec::new(),
                deadline: None,
            },
        );
        self.start_on_next_server(now, key);
        Ok(RequestId(key))
    }

    /// Queues an accounting record (RFC 2866 §4.1). Records of one Acct-Session-Id
    /// are sent one at a time, in order. A full queue drops its oldest queued
    /// Interim-Update (counted); if there is none, the new record is refused with
    /// [`RadiusError::AccountingQueueFull`] (an Interim-Update counted as dropped,
    /// anything else as refused). A queued Interim-Update of the same session is
    /// replaced by a newer one, which keeps its id.
    pub fn account(&mut self, now: Instant, record: AcctRecord) -> Result<RequestId, RadiusError> {
        if self.acct.is_empty() {
            return Err(RadiusError::NoServers);
        }
        build_accounting_request(&self.config, &record, b"x", 0, 0).map_err(too_long)?;
        let session = session_key(&record);
        let interim = record.status == AcctStatusType::InterimUpdate;
        // A newer Interim-Update replaces a queued one of the same session: the
        // counters are totals, so nothing is lost.
        if interim
            && let Some(q) = self.sessions.get(&session)
            && let Some(&last) = q.records.back()
            && self.queued_interims.contains(&last)
            && let Some(entry) = self.records.get_mut(&last)
        {
            entry.record = record;
            entry.created = now;
            self.counters.acct_superseded += 1;
            return Ok(RequestId(last));
        }
        if self.records.len() >= self.config.accounting_queue {
            if let Some(oldest) = self.queued_interims.pop_first() {
                self.drop_queued_record(oldest);
                self.counters.acct_dropped_interim += 1;
            } else if interim {
                self.counters.acct_dropped_interim += 1;
                return Err(RadiusError::AccountingQueueFull);
            } else {
                self.counters.acct_refused += 1;
                return Err(RadiusError::AccountingQueueFull);
            }
        }
        let key = self.new_key();
        self.records.insert(
            key,
            AcctEntry {
                record,
                created: now,
            },
        );
        if interim {
            self.queued_interims.insert(key);
        }
        let q = self.sessions.entry(session.clone()).or_default();
        q.records.push_back(key);
        if !q.in_flight && q.records.len() == 1 {
            self.ready.push_back(session);
        }
        self.pump(now);
        Ok(RequestId(key))
    }

    /// Removes a queued (not in flight) record.
    fn drop_queued_record(&mut self, key: u64) {
        let Some(entry) = self.records.remove(&key) else {
            return;
        };
        let session = session_key(&entry.record);
        if let Some(q) = self.sessions.get_mut(&session) {
            q.records.retain(|&k| k != key);
            if q.records.is_empty() && !q.in_flight {
                self.sessions.remove(&session);
            }
        }
        // A stale `ready` entry is skipped by the dispatcher.
    }

    /// Sends what can be sent: waiting authentications, then accounting records.
    fn pump(&mut self, now: Instant) {
        while let Some(&key) = self.auth_waiting.front() {
            let Some(req) = self.requests.get(&key) else {
                self.auth_waiting.pop_front();
                continue;
            };
            let server = req.server;
            if !self.auth[server].selectable(now) {
                // Held down while the request waited: choose again.
                self.auth_waiting.pop_front();
                self.start_on_next_server(now, key);
                continue;
            }
            if !self.has_free_id(List::Auth, server) {
                break;
            }
            self.auth_waiting.pop_front();
            self.transmit_first(now, key, server);
        }
        self.pump_accounting(now);
    }

    fn pump_accounting(&mut self, now: Instant) {
        if let Some(until) = self.acct_paused_until {
            if until > now {
                return;
            }
            self.acct_paused_until = None;
        }
        while self.acct_in_flight < self.config.accounting_in_flight {
            let Some(session) = self.ready.pop_front() else {
                return;
            };
            let Some(q) = self.sessions.get(&session) else {
                continue;
            };
            if q.in_flight {
                continue;
            }
            let Some(&key) = q.records.front() else {
                continue;
            };
            let Some(server) = self.next_server(now, List::Acct, 0) else {
                self.ready.push_front(session);
                self.pause_accounting(now);
                return;
            };
            if !self.has_free_id(List::Acct, server) {
                self.ready.push_front(session);
                return;
            }
            if let Some(q) = self.sessions.get_mut(&session) {
                q.in_flight = true;
            }
            self.queued_interims.remove(&key);
            self.acct_in_flight += 1;
            self.requests.insert(
                key,
                Request {
                    kind: Kind::Acct,
                    list: List::Acct,
                    tried: 0,
                    server,
                    retries_left: 0,
                    current: None,
                    previous: Vec::new(),
                    bytes: Vec::new(),
                    deadline: None,
                },
            );
            self.transmit_first(now, key, server);
        }
    }

    fn pause_accounting(&mut self, now: Instant) {
        let earliest = self
            .acct
            .iter()
            .filter_map(|s| s.dead_until)
            .filter(|&t| t > now)
            .min()
            .unwrap_or(now + self.config.dead_time);
        self.acct_paused_until = Some(earliest.max(now + MIN_ACCOUNTING_PAUSE));
    }

    /// The first selectable server (list order) not yet tried in this round.
    fn next_server(&self, now: Instant, list: List, tried: u64) -> Option<usize> {
        self.servers(list)
            .iter()
            .enumerate()
            .find(|(i, s)| tried & (1 << i) == 0 && s.selectable(now))
            .map(|(i, _)| i)
    }

    fn has_free_id(&self, list: List, server: usize) -> bool {
        (0..self.config.sockets).any(|s| {
            self.ids
                .get(&(s, list, server))
                .is_none_or(|space| usize::from(space.in_use) < IDS_PER_SOCKET)
        })
    }

    /// Reserves an Identifier towards `server`, trying the sockets in turn.
    fn take_id(&mut self, list: List, server: usize) -> Option<(usize, u8)> {
        let n = self.config.sockets;
        for step in 0..n {
            let socket = (self.next_socket + step) % n;
            let space = self.ids.entry((socket, list, server)).or_default();
            if let Some(id) = space.take() {
                self.next_socket = (socket + 1) % n;
                return Some((socket, id));
            }
        }
        None
    }

    fn release_tx(&mut self, list: List, tx: Tx) {
        self.in_flight
            .remove(&(tx.socket, list, tx.server, tx.ident));
        if let Some(space) = self.ids.get_mut(&(tx.socket, list, tx.server)) {
            space.release(tx.ident);
            if space.in_use == 0 {
                self.ids.remove(&(tx.socket, list, tx.server));
            }
        }
    }

    fn set_deadline(&mut self, key: u64, deadline: Option<Instant>) {
        let Some(req) = self.requests.get_mut(&key) else {
            return;
        };
        if let Some(old) = req.deadline.take() {
            self.timers.remove(&(old, key));
        }
        req.deadline = deadline;
        if let Some(t) = deadline {
            self.timers.insert((t, key));
        }
    }

    /// Moves an authentication request to the next untried, selectable server.
    fn start_on_next_server(&mut self, now: Instant, key: u64) {
        let Some(req) = self.requests.get(&key) else {
            return;
        };
        let (list, tried) = (req.list, req.tried);
        match self.next_server(now, list, tried) {
            Some(server) => {
                if self.has_free_id(list, server) {
                    self.transmit_first(now, key, server);
                } else if list == List::Acct {
                    // Not reached: accounting holds at most two Identifiers per
                    // record in flight and `accounting_in_flight` is capped.
                    self.accounting_round_failed(now, key);
                } else {
                    // Wait for an Identifier (RFC 2865 §3: at most 256 outstanding per
                    // source and server).
                    if let Some(req) = self.requests.get_mut(&key) {
                        req.server = server;
                    }
                    self.set_deadline(key, None);
                    self.auth_waiting.push_back(key);
                }
            }
            None => match list {
                List::Auth => self.finish_auth_timeout(key),
                List::Acct => self.accounting_round_failed(now, key),
            },
        }
    }

    /// First transmission of a request on `server`: a fresh Identifier and packet.
    fn transmit_first(&mut self, now: Instant, key: u64, server: usize) {
        let list = match self.requests.get(&key) {
            Some(r) => r.list,
            None => return,
        };
        let retries = self.servers(list)[server].config.retries;
        if let Some(req) = self.requests.get_mut(&key) {
            req.server = server;
            req.retries_left = retries;
            req.tried |= 1 << server;
        }
        self.counters.requests += 1;
        self.server_counters(list, server).requests += 1;
        self.send_new_transmission(now, key);
    }

    /// Builds and sends the request with a new Identifier and authenticator on its
    /// current server; earlier ones stay reserved in `previous`.
    fn send_new_transmission(&mut self, now: Instant, key: u64) {
        let Some(req) = self.requests.get(&key) else {
            return;
        };
        let (list, server) = (req.list, req.server);
        let Some((socket, ident)) = self.take_id(list, server) else {
            // Cannot happen after `has_free_id`; the round moves on.
            match list {
                List::Auth => self.finish_auth_timeout(key),
                List::Acct => self.accounting_round_failed(now, key),
            }
            return;
        };
        let state = &self.servers(list)[server];
        let secret = state.config.secret.clone();
        let timeout = state.config.timeout;
        let addr = state.config.addr;
        let built = match list {
            List::Auth => {
                let authenticator: [u8; 16] = self.drbg.array();
                let Some(Request {
                    kind: Kind::Auth(params),
                    ..
                }) = self.requests.get(&key)
                else {
                    return;
                };
                build_access_request(&self.config, params, secret.expose(), ident, &authenticator)
                    .map(|bytes| (bytes, authenticator))
            }
            List::Acct => {
                let Some(entry) = self.records.get(&key) else {
                    return;
                };
                let delay = now.saturating_duration_since(entry.created).as_secs();
                let delay = u32::try_from(delay).unwrap_or(u32::MAX);
                build_accounting_request(&self.config, &entry.record, secret.expose(), ident, delay)
            }
        };
        let tx = Tx {
            socket,
            server,
            ident,
            authenticator: [0; 16],
            sent_at: now,
        };
        let Ok((bytes, authenticator)) = built else {
            // Checked when the request was accepted; give up on it rather than loop.
            self.release_tx(list, tx);
            match list {
                List::Auth => self.finish_auth_timeout(key),
                List::Acct => self.finish_accounting(key),
            }
            return;
        };
        let tx = Tx {
            authenticator,
            ..tx
        };
        self.in_flight.insert((socket, list, server, ident), key);
        let Some(req) = self.requests.get_mut(&key) else {
            return;
        };
        if let Some(before) = req.current.replace(tx) {
            req.previous.push(before);
        }
        req.bytes = bytes.clone();
        // Accounting retransmissions take a new Identifier each time (RFC 2866
        // §5.2): only the one before stays reserved, or an outage would use them up.
        if list == List::Acct && req.previous.len() > 1 {
            let older = req.previous.remove(0);
            self.release_tx(list, older);
        }
        self.transmits.push_back(Transmit {
            server: addr,
            socket,
            bytes,
        });
        self.set_deadline(key, Some(now + timeout));
    }

    fn finish_auth_timeout(&mut self, key: u64) {
        self.release_request(key);
        self.counters.auth_timed_out += 1;
        self.events
            .push_back(Event::TimedOut { id: RequestId(key) });
    }

    /// Forgets a request and releases its Identifiers and timer.
    fn release_request(&mut self, key: u64) -> Option<Request> {
        self.set_deadline(key, None);
        let req = self.requests.remove(&key)?;
        for tx in req.current.iter().chain(&req.previous) {
            self.release_tx(req.list, *tx);
        }
        Some(req)
    }

    /// Every accounting server was tried: the record goes back to the head of its
    /// session's queue and accounting pauses until a server's hold-down ends.
    fn accounting_round_failed(&mut self, now: Instant, key: u64) {
        if self.release_request(key).is_none() {
            return;
        }
        self.acct_in_flight -= 1;
        let Some(entry) = self.records.get(&key) else {
            return;
        };
        let session = session_key(&entry.record);
        if let Some(q) = self.sessions.get_mut(&session) {
            q.in_flight = false;
            self.ready.push_front(session);
        }
        self.pause_accounting(now);
    }

    /// An accounting record was answered (or cannot be encoded): forget it.
    fn finish_accounting(&mut self, key: u64) {
        if self.release_request(key).is_some() {
            self.acct_in_flight -= 1;
        }
        let Some(entry) = self.records.remove(&key) else {
            return;
        };
        let session = session_key(&entry.record);
        if let Some(q) = self.sessions.get_mut(&session) {
            q.in_flight = false;
            q.records.retain(|&k| k != key);
            if q.records.is_empty() {
                self.sessions.remove(&session);
            } else {
                self.ready.push_back(session);
            }
        }
    }

    /// Takes the next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.timers.first().map(|&(t, _)| t);
        let pause = self.acct_paused_until.filter(|_| !self.ready.is_empty());
        match (timer, pause) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(t, key)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            if let Some(req) = self.requests.get_mut(&key) {
                req.deadline = None;
            }
            self.expire(now, key);
        }
        self.pump(now);
    }

    /// A transmission went unanswered for its server's timeout.
    fn expire(&mut self, now: Instant, key: u64) {
        let Some(req) = self.requests.get_mut(&key) else {
            return;
        };
        let (list, server) = (req.list, req.server);
        if req.retries_left > 0 {
            req.retries_left -= 1;
            self.counters.retransmissions += 1;
            self.server_counters(list, server).retransmissions += 1;
            match list {
                // RFC 2865 §2.4/§3: a retransmission to the same server keeps the
                // Identifier and Request Authenticator, so the same bytes go again.
                List::Auth => {
                    let Some(req) = self.requests.get_mut(&key) else {
                        return;
                    };
                    let Some(tx) = req.current.as_mut() else {
                        return;
                    };
                    tx.sent_at = now;
                    let transmit = Transmit {
                        server: self.auth[server].config.addr,
                        socket: tx.socket,
                        bytes: req.bytes.clone(),
                    };
                    self.transmits.push_back(transmit);
                    let timeout = self.auth[server].config.timeout;
                    self.set_deadline(key, Some(now + timeout));
                }
                // RFC 2866 §5.2: Acct-Delay-Time changes, so the Identifier and
                // Request Authenticator change too.
                List::Acct => self.send_new_transmission(now, key),
            }
            return;
        }
        // This server's retries are exhausted: hold it down, move on.
        self.counters.timeouts += 1;
        self.server_counters(list, server).timeouts += 1;
        let dead_time = self.config.dead_time;
        let state = &mut self.servers_mut(list)[server];
        state.dead_until = Some(now + dead_time);
        if !state.down {
            state.down = true;
            let addr = state.config.addr;
            self.events.push_back(Event::ServerDown { addr });
        }
        self.start_on_next_server(now, key);
    }

    /// A datagram from `from` on the caller's socket `socket`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, socket: usize, bytes: &[u8]) {
        self.receive(now, from, socket, bytes);
        self.pump(now);
    }

    fn receive(&mut self, now: Instant, from: SocketAddr, socket: usize, bytes: &[u8]) {
        let Ok(packet) = Packet::new_checked(bytes) else {
            self.counters.malformed += 1;
            return;
        };
        let data = packet.packet_data();
        let list = match packet.code() {
            Code::AccessAccept | Code::AccessReject | Code::AccessChallenge => List::Auth,
            Code::AccountingResponse => List::Acct,
            _ => {
                self.counters.malformed += 1;
                return;
            }
        };
        // The answer must come from the server the request went to (RFC 2865 §3
        // matches on source address and Identifier).
        let Some(server) = self
            .servers(list)
            .iter()
            .position(|s| s.config.addr == from)
        else {
            self.counters.unknown_ids += 1;
            return;
        };
        let ident = packet.identifier();
        let Some(&key) = self.in_flight.get(&(socket, list, server, ident)) else {
            self.counters.unknown_ids += 1;
            return;
        };
        let Some(req) = self.requests.get(&key) else {
            self.counters.unknown_ids += 1;
            return;
        };
        let Some(tx) = req
            .current
            .iter()
            .chain(&req.previous)
            .copied()
            .find(|t| t.socket == socket && t.server == server && t.ident == ident)
        else {
            self.counters.unknown_ids += 1;
            return;
        };
        let secret = self.servers(list)[server].config.secret.clone();
        if verify_response_authenticator(data, &tx.authenticator, secret.expose()).is_err() {
            self.counters.bad_authenticators += 1;
            return;
        }
        match packet.message_authenticator_range() {
            Ok(Some(range)) => {
                let basis = AuthenticatorBasis::Request(&tx.authenticator);
                if verify_message_authenticator(data, range, basis, secret.expose()).is_err() {
                    self.counters.bad_authenticators += 1;
                    return;
                }
            }
            Ok(None) if list == List::Auth && self.config.require_message_authenticator => {
                self.counters.bad_authenticators += 1;
                return;
            }
            Ok(None) => {}
            Err(_) => {
                self.counters.malformed += 1;
                return;
            }
        }
        // Authentic: the server is alive.
        let latency = now.saturating_duration_since(tx.sent_at);
        let sc = self.server_counters(list, server);
        sc.responses += 1;
        sc.latency_sum += latency;
        sc.latency_count += 1;
        if self.latencies.len() < MAX_LATENCY_SAMPLES {
            self.latencies.push(LatencySample {
                accounting: list == List::Acct,
                server,
                latency,
            });
        }
        let state = &mut self.servers_mut(list)[server];
        state.dead_until = None;
        if state.down {
            state.down = false;
            self.events.push_back(Event::ServerUp { addr: from });
            if list == List::Acct {
                // Resume the queue now rather than at the end of the pause.
                self.acct_paused_until = None;
            }
        }
        match packet.code() {
            Code::AccountingResponse => {
                let Some(entry) = self.records.get(&key) else {
                    return;
                };
                let event = Event::AcctDelivered {
                    id: RequestId(key),
                    session_id: entry.record.session_id.clone(),
                    status: entry.record.status,
                };
                self.counters.acct_delivered += 1;
                self.finish_accounting(key);
                self.events.push_back(event);
            }
            Code::AccessAccept => {
                let (info, bad) = parse_accept(&packet, &tx.authenticator, secret.expose());
                self.counters.bad_attributes += bad;
                self.counters.accepts += 1;
                self.release_request(key);
                self.events.push_back(Event::Accepted {
                    id: RequestId(key),
                    info: Box::new(info),
                });
            }
            code => {
                if code == Code::AccessChallenge {
                    self.counters.challenges += 1;
                } else {
                    self.counters.rejects += 1;
                }
                let reply_message = reply_message(&packet);
                self.release_request(key);
                self.events.push_back(Event::Rejected {
                    id: RequestId(key),
                    reply_message,
                });
            }
        }
    }
}

/// Reply-Message values joined with newlines.
fn reply_message(packet: &Packet<&[u8]>) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    for attr in packet.attributes().flatten() {
        if attr.attribute_type == AttributeType::ReplyMessage && !attr.value.is_empty() {
            match &mut out {
                Some(v) => {
                    v.push(b'\n');
                    v.extend_from_slice(attr.value);
                }
                None => out = Some(attr.value.to_vec()),
            }
        }
    }
    out
}

/// Collects what an Access-Accept grants; returns the count of ignored attributes.
fn parse_accept(
    packet: &Packet<&[u8]>,
    request_authenticator: &[u8; 16],
    secret: &[u8],
) -> (AcceptInfo, u64) {
    let mut info = AcceptInfo {
        reply_message: reply_message(packet),
        ..AcceptInfo::default()
    };
    let mut bad = 0u64;
    for attr in packet.attributes() {
        let Ok(attr) = attr else {
            bad += 1;
            break;
        };
        if attr.attribute_type == AttributeType::VendorSpecific {
            let Ok(vsa) = VendorSpecificRepr::parse(attr.value) else {
                bad += 1;
                continue;
            };
            for sub in vsa.sub_attributes() {
                let Ok(sub) = sub else {
                    bad += 1;
                    break;
                };
                match VendorAttribute::parse(vsa.vendor_id, &sub) {
                    Ok(v) => {
                        bad += apply_vendor(&mut info, v, sub.value, request_authenticator, secret)
                    }
                    Err(_) => bad += 1,
                }
            }
            continue;
        }
        match Attribute::parse(&attr) {
            Ok(Attribute::FramedIpAddress(a)) => info.framed_ip_address = Some(a),
            Ok(Attribute::FramedIpNetmask(a)) => info.framed_ip_netmask = Some(a),
            Ok(Attribute::FramedPool(p)) => info.framed_pool = Some(p.to_vec()),
            Ok(Attribute::SessionTimeout(t)) => info.session_timeout = Some(t),
            Ok(Attribute::IdleTimeout(t)) => info.idle_timeout = Some(t),
            Ok(Attribute::AcctInterimInterval(t)) => info.acct_interim_interval = Some(t),
            Ok(Attribute::Class(c)) => info.class.push(c.to_vec()),
            Ok(Attribute::FilterId(f)) => info.filter_ids.push(f.to_vec()),
            Ok(_) => {}
            Err(_) => bad += 1,
        }
    }
    (info, bad)
}

fn apply_vendor(
    info: &mut AcceptInfo,
    attr: VendorAttribute<'_>,
    raw: &[u8],
    request_authenticator: &[u8; 16],
    secret: &[u8],
) -> u64 {
    let reveal = |raw: &[u8]| {
        let mut value = Zeroizing::new(raw.to_vec());
        unhide_mppe_key(secret, request_authenticator, &mut value)
            .ok()
            .map(Secret::new)
    };
    match attr {
        VendorAttribute::MsPrimaryDnsServer(a) => info.primary_dns = Some(a),
        VendorAttribute::MsSecondaryDnsServer(a) => info.secondary_dns = Some(a),
        VendorAttribute::MsChap2Success { message, .. } => {
            info.ms_chap2_success = Some(message.to_vec());
        }
        VendorAttribute::MikrotikRateLimit(v) => info.rate_limits.push(v.to_vec()),
        VendorAttribute::MsMppeSendKey(_) => match reveal(raw) {
            Some(k) => info.mppe_send_key = Some(k),
            None => return 1,
        },
        VendorAttribute::MsMppeRecvKey(_) => match reveal(raw) {
            Some(k) => info.mppe_recv_key = Some(k),
            None => return 1,
        },
        _ => {}
    }
    0
}

/// A non-empty optional string (RFC 2865 §5: strings are never empty).
fn nonempty(v: &Option<Vec<u8>>) -> Option<&[u8]> {
    v.as_deref().filter(|v| !v.is_empty())
}

fn push_nas_identity(b: &mut PacketBuilder<'_>, config: &RadiusConfig) -> crate::wire::Result<()> {
    if let Some(a) = config.nas_ip_address {
        b.push(&Attribute::NasIpAddress(a))?;
    }
    if let Some(id) = nonempty(&config.nas_identifier) {
        b.push(&Attribute::NasIdentifier(id))?;
    }
    Ok(())
}

fn ip_text(addr: IpAddr) -> Vec<u8> {
    addr.to_string().into_bytes()
}

/// An Access-Request (RFC 2865 §4.1) with the Message-Authenticator first (RFC 2869
/// §5.14; first, as the BlastRADIUS advisory recommends).
fn build_access_request(
    config: &RadiusConfig,
    params: &AuthParams,
    secret: &[u8],
    ident: u8,
    authenticator: &[u8; 16],
) -> crate::wire::Result<Vec<u8>> {
    // The packet holds the password only hidden; the clear text stays in `hidden`,
    // which is zeroized.
    let mut buf = vec![0u8; MAX_PACKET_LEN];
    let mut b = PacketBuilder::new(&mut buf, Code::AccessRequest, ident, authenticator)?;
    b.push(&Attribute::MessageAuthenticator([0; 16]))?;
    b.push(&Attribute::UserName(&params.user_name))?;
    match &params.proof {
        Proof::Pap { password } => {
            let mut hidden = Zeroizing::new([0u8; rcrypto::MAX_USER_PASSWORD_LEN]);
            let value =
                hide_user_password(secret, authenticator, password.expose(), &mut hidden[..])
                    .map_err(|_| {
                        crate::wire::Error::Malformed(
                            crate::wire::Layer::RadiusAttribute,
                            "password",
                        )
                    })?;
            b.push(&Attribute::UserPassword(value))?;
        }
        Proof::ChapMd5 {
            ident: chap_ident,
            challenge,
            response,
        } => {
            b.push(&Attribute::ChapPassword(ChapPassword {
                ident: *chap_ident,
                response: *response,
            }))?;
            b.push(&Attribute::ChapChallenge(challenge))?;
        }
        Proof::MsChapV2 {
            ident: chap_ident,
            authenticator_challenge,
            peer_challenge,
            nt_response,
        } => {
            b.push(&Attribute::Vendor(VendorAttribute::MsChapChallenge(
                authenticator_challenge,
            )))?;
            b.push(&Attribute::Vendor(VendorAttribute::MsChap2Response(
                MsChap2Response {
                    ident: *chap_ident,
                    flags: 0,
                    peer_challenge: *peer_challenge,
                    response: *nt_response,
                },
            )))?;
        }
    }
    push_nas_identity(&mut b, config)?;
    if let Some(port) = params.nas_port {
        b.push(&Attribute::NasPort(port))?;
    }
    b.push(&Attribute::NasPortType(NasPortType::Virtual))?;
    b.push(&Attribute::ServiceType(ServiceType::Framed))?;
    b.push(&Attribute::FramedProtocol(FramedProtocol::Ppp))?;
    if let Some(peer) = params.peer_address {
        b.push(&Attribute::CallingStationId(&ip_text(peer)))?;
    }
    if let Some(called) = nonempty(&params.called_station_id) {
        b.push(&Attribute::CalledStationId(called))?;
    }
    if let Some(id) = nonempty(&params.acct_session_id) {
        b.push(&Attribute::AcctSessionId(id))?;
    }
    let range = b.message_authenticator_range();
    let packet = b.finish();
    if let Some(range) = range {
        fill_message_authenticator(packet, range, AuthenticatorBasis::Packet, secret)
            .map_err(|_| crate::wire::Error::Truncated(crate::wire::Layer::Radius))?;
    }
    Ok(packet.to_vec())
}

/// Splits a 64-bit counter into the 32-bit attribute and its Gigawords (RFC 2869
/// §5.1, §5.2).
fn split_counter(value: u64) -> (u32, u32) {
    (value as u32, (value >> 32) as u32)
}

/// An Accounting-Request (RFC 2866 §4.1) and its Request Authenticator (§3).
fn build_accounting_request(
    config: &RadiusConfig,
    record: &AcctRecord,
    secret: &[u8],
    ident: u8,
    delay: u32,
) -> crate::wire::Result<(Vec<u8>, [u8; 16])> {
    let mut buf = vec![0u8; MAX_PACKET_LEN];
    let mut b = PacketBuilder::new(&mut buf, Code::AccountingRequest, ident, &[0; 16])?;
    b.push(&Attribute::AcctStatusType(record.status))?;
    if !record.session_id.is_empty() {
        b.push(&Attribute::AcctSessionId(&record.session_id))?;
    }
    if !record.user_name.is_empty() {
        b.push(&Attribute::UserName(&record.user_name))?;
    }
    push_nas_identity(&mut b, config)?;
    let session = !matches!(
        record.status,
        AcctStatusType::AccountingOn | AcctStatusType::AccountingOff
    );
    if session {
        if let Some(port) = record.nas_port {
            b.push(&Attribute::NasPort(port))?;
        }
        b.push(&Attribute::NasPortType(NasPortType::Virtual))?;
        b.push(&Attribute::ServiceType(ServiceType::Framed))?;
        b.push(&Attribute::FramedProtocol(FramedProtocol::Ppp))?;
        if let Some(a) = record.framed_ip_address {
            b.push(&Attribute::FramedIpAddress(a))?;
        }
        if let Some(peer) = record.peer_address {
            b.push(&Attribute::CallingStationId(&ip_text(peer)))?;
        }
        if let Some(called) = nonempty(&record.called_station_id) {
            b.push(&Attribute::CalledStationId(called))?;
        }
        for class in &record.class {
            if !class.is_empty() && class.len() <= MAX_VALUE_LEN {
                b.push(&Attribute::Class(class))?;
            }
        }
        if let Some(a) = record.authentic {
            b.push(&Attribute::AcctAuthentic(a))?;
        }
    }
    // Counters belong in Interim-Update and Stop (RFC 2866 §5.3-5.8, RFC 2869 §5.1).
    if matches!(
        record.status,
        AcctStatusType::InterimUpdate | AcctStatusType::Stop
    ) {
        let (in_low, in_high) = split_counter(record.input_octets);
        let (out_low, out_high) = split_counter(record.output_octets);
        b.push(&Attribute::AcctInputOctets(in_low))?;
        b.push(&Attribute::AcctOutputOctets(out_low))?;
        if in_high > 0 {
            b.push(&Attribute::AcctInputGigawords(in_high))?;
        }
        if out_high > 0 {
            b.push(&Attribute::AcctOutputGigawords(out_high))?;
        }
        b.push(&Attribute::AcctInputPackets(record.input_packets))?;
        b.push(&Attribute::AcctOutputPackets(record.output_packets))?;
        b.push(&Attribute::AcctSessionTime(record.session_time))?;
    }
    if record.status == AcctStatusType::Stop
        && let Some(cause) = record.terminate_cause
    {
        b.push(&Attribute::AcctTerminateCause(cause))?;
    }
    if let Some(t) = record.event_timestamp {
        b.push(&Attribute::EventTimestamp(t))?;
    }
    b.push(&Attribute::AcctDelayTime(delay))?;
    let packet = b.finish();
    set_request_authenticator(packet, secret)
        .map_err(|_| crate::wire::Error::Truncated(crate::wire::Layer::Radius))?;
    let mut authenticator = [0u8; 16];
    authenticator.copy_from_slice(&packet[rcrypto::AUTHENTICATOR]);
    Ok((packet.to_vec(), authenticator))
}

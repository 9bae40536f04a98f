//! RADIUS authentication on the control thread (RFC 2865, RFC 2548 for MS-CHAPv2 and
//! the MPPE keys): the sans-IO [`RadiusClient`] driven over a few UDP sockets, its
//! answers turned into the same [`AuthOutcome`] the users file gives.
//!
//! - `aaa.backend = "radius"`: every PPP authentication request (PAP, CHAP-MD5,
//!   MS-CHAPv2) becomes an Access-Request with the peer's address as
//!   Calling-Station-Id and our session as NAS-Port. Access-Accept applies:
//!   Framed-IP-Address (a fixed address; 255.255.255.254/255 mean "the NAS picks",
//!   RFC 2865 §5.8, so the pool is used), Session-Timeout, Idle-Timeout,
//!   MS-CHAP2-Success (the Authenticator Response PPP sends), and for PPTP the
//!   MS-MPPE-Send/Recv-Key. Access-Reject ends the session with the PPP failure
//!   message (MS-CHAPv2 `E=691`).
//! - **No answer** from any server: with `aaa.fallback_local` the users file decides;
//!   otherwise the attempt fails and is logged. Never after a Reject.
//! - **Stale answers**: an answer is applied only to the session that asked (the
//!   session's acceptance time is part of the key), so an answer that arrives after the
//!   session ended, and its IDs were reused, is dropped.
//!
//! Secrets (shared secrets, passwords, MPPE keys) never reach the logs.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use super::pptp::MppeKeying;
use super::{AuthOutcome, Authorized, Key, Lns, Sub};
use crate::aaa::auth::LogSafeName;
use crate::config::Config;
use crate::dataplane::pptp::PPTP_ROUTE_TUNNEL;
use crate::dataplane::tables::{Command, SessionCounters};
use crate::proto::ppp::CloseReason;
use crate::proto::ppp::{self, AuthRequest};
use crate::proto::radius::client::{
    self as radius, AcctRecord, AuthParams, Event, Proof, RadiusClient, RequestId, ServerConfig,
};
use crate::proto::radius::dae::{self, DaeKind, DaeOutcome, DaeRequest, DaeServer};
use crate::wire::radius::attribute::ErrorCause;
use crate::wire::radius::attribute::{AcctStatusType, AcctTerminateCause};

/// Tokens of the counter requests accounting sends to the shards carry this bit (the
/// management socket's do not).
pub(super) const ACCT_TOKEN: u64 = 1 << 63;

/// The Dynamic Authorization listener (RFC 5176).
struct Dae {
    server: DaeServer,
    socket: UdpSocket,
}

/// A session's accounting (RFC 2866).
pub(super) struct AcctState {
    /// Acct-Session-Id: unique across restarts (the daemon's start time and a random
    /// tag, then a counter).
    session_id: Box<str>,
    class: Vec<Vec<u8>>,
    interim: Option<Duration>,
    nas_port: u32,
    peer: Option<IpAddr>,
    /// When the Start went out (None: not yet, so no Stop either).
    started: Option<Instant>,
    framed_ip: Option<Ipv4Addr>,
}

/// Counter requests sent to the shards (accounting, idle timeouts), by token.
#[derive(Default)]
pub(super) struct CounterWaits {
    waiting: HashMap<u64, AcctWait>,
    next_token: u64,
}

/// What a counters answer from a shard is for.
enum AcctWait {
    Interim {
        tid: u16,
        sid: u16,
        accepted: Instant,
    },
    Stop(Box<AcctRecord>),
    /// Counters for the idle timeout, not for RADIUS.
    Idle {
        tid: u16,
        sid: u16,
        accepted: Instant,
    },
}

/// One authentication waiting for RADIUS.
struct Pending {
    tid: u16,
    sid: u16,
    /// The session's acceptance time: tells a session from a later one with the
    /// same IDs.
    accepted: Instant,
    /// Kept for the local fallback.
    request: AuthRequest,
}

/// RADIUS on the control thread.
pub(super) struct RadiusState {
    pub(super) engine: RadiusClient,
    sockets: Vec<UdpSocket>,
    pending: HashMap<RequestId, Pending>,
    buf: Vec<u8>,
    /// Whether accounting is sent, and the interval when RADIUS gives none.
    accounting: bool,
    interim_default: Option<Duration>,
    /// Acct-Session-Id prefix for this run, and the next session's number.
    acct_prefix: String,
    acct_next: u64,
    /// Counter requests sent to the shards, by token.
    dae: Option<Dae>,
}

/// The engine's configuration from `[radius]`.
fn engine_config(config: &Config) -> radius::RadiusConfig {
    let r = &config.radius;
    let server = |addr: SocketAddr, secret: &str| ServerConfig {
        timeout: Duration::from_millis(u64::from(r.timeout_ms)),
        retries: r.retries,
        ..ServerConfig::new(addr, secret.as_bytes())
    };
    radius::RadiusConfig {
        auth_servers: r
            .server
            .iter()
            .filter_map(|s| Some(server(s.auth_addr()?, s.secret.expose())))
            .collect(),
        acct_servers: if r.accounting {
            r.server
                .iter()
                .filter_map(|s| Some(server(s.acct_addr()?, s.secret.expose())))
                .collect()
        } else {
            Vec::new()
        },
        nas_ip_address: match r.nas_ip() {
            Some(IpAddr::V4(a)) => Some(a),
            _ => None,
        },
        nas_identifier: (!r.nas_identifier.is_empty())
            .then(|| r.nas_identifier.as_bytes().to_vec()),
        sockets: r.sockets as usize,
        dead_time: Duration::from_secs(u64::from(r.dead_time)),
        accounting_queue: r.accounting_queue as usize,
        ..radius::RadiusConfig::default()
    }
}

impl RadiusState {
    /// `None` when nothing in the config uses RADIUS.
    pub(super) fn new(
        config: &Config,
        rng: &mut impl FnMut(&mut [u8]),
    ) -> std::io::Result<Option<RadiusState>> {
        if config.aaa.backend != crate::config::AaaBackend::Radius {
            return Ok(None);
        }
        let engine = RadiusClient::new(engine_config(config), rng)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let mut sockets = Vec::new();
        for _ in 0..config.radius.sockets {
            let v6 = config.radius.server.iter().any(|s| s.address.is_ipv6());
            let bind: SocketAddr = if v6 {
                "[::]:0".parse().expect("literal")
            } else {
                "0.0.0.0:0".parse().expect("literal")
            };
            let s = UdpSocket::bind(bind)?;
            s.set_nonblocking(true)?;
            sockets.push(s);
        }
        // Start time and 16 random bits: unique across restarts, even two in one
        // second.
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut tag = [0u8; 2];
        rng(&mut tag);
        let mut state = RadiusState {
            engine,
            sockets,
            pending: HashMap::new(),
            buf: vec![0u8; 4096],
            accounting: config.radius.accounting
                && config.radius.server.iter().any(|s| s.acct_port != 0),
            interim_default: secs(Some(config.radius.interim_interval)),
            acct_prefix: format!("{since_epoch:08X}{:04X}", u16::from_be_bytes(tag)),
            acct_next: 1,
            dae: match config.radius.dae_addr() {
                Some(addr) => {
                    let socket = UdpSocket::bind(addr).map_err(|e| {
                        std::io::Error::new(
                            e.kind(),
                            format!("cannot listen for RADIUS CoA/Disconnect on {addr}: {e}"),
                        )
                    })?;
                    socket.set_nonblocking(true)?;
                    let server = DaeServer::new(dae::DaeConfig {
                        clients: config
                            .radius
                            .dae_client
                            .iter()
                            .map(|c| dae::DaeClient {
                                addr: c.address,
                                secret: crate::proto::ppp::util::Secret::new(
                                    c.secret.expose().as_bytes().to_vec(),
                                ),
                            })
                            .collect(),
                        nas_ip_address: match config.radius.nas_ip() {
                            Some(IpAddr::V4(a)) => Some(a),
                            _ => None,
                        },
                        nas_identifier: (!config.radius.nas_identifier.is_empty())
                            .then(|| config.radius.nas_identifier.as_bytes().to_vec()),
                        ..dae::DaeConfig::default()
                    });
                    Some(Dae { server, socket })
                }
                None => None,
            },
        };
        if state.accounting {
            // RFC 2866 §5.1: Accounting-On, so the server closes what an earlier run
            // left open.
            let on = AcctRecord::new(AcctStatusType::AccountingOn, b"", b"");
            let _ = state.engine.account(Instant::now(), on);
        }
        Ok(Some(state))
    }

    pub(super) fn fds(&self) -> Vec<RawFd> {
        let mut fds: Vec<RawFd> = self.sockets.iter().map(AsRawFd::as_raw_fd).collect();
        if let Some(d) = &self.dae {
            fds.push(d.socket.as_raw_fd());
        }
        fds
    }
}

/// Framed-IP-Address as a fixed address, or `None` for RFC 2865 §5.8's "the NAS
/// should select" (255.255.255.254) and "the user may select" (255.255.255.255).
fn fixed_address(a: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
    a.filter(|a| !matches!(u32::from(*a), 0xffff_fffe | 0xffff_ffff) && !a.is_unspecified())
}

fn secs(v: Option<u32>) -> Option<Duration> {
    v.filter(|s| *s > 0)
        .map(|s| Duration::from_secs(u64::from(s)))
}

impl Lns {
    /// The RADIUS client's counters, when RADIUS is in use (metrics, tests).
    pub fn radius_counters(&self) -> Option<radius::Counters> {
        self.radius.as_ref().map(|r| r.engine.counters().clone())
    }

    /// Sends an Access-Request for a session's PPP authentication.
    pub(super) fn radius_auth(&mut self, now: Instant, tid: u16, sid: u16, request: AuthRequest) {
        let peer = self.session_peer(tid, sid);
        let accepted = self.sub_mut(tid, sid).map(|s| s.accepted);
        let Some((r, accepted)) = self.radius.as_mut().zip(accepted) else {
            return;
        };
        let params = AuthParams {
            user_name: request.username.clone(),
            proof: Proof::from_ppp(&request.proof),
            peer_address: peer,
            // The address the subscriber dialled, when we bind a specific one.
            called_station_id: (!self.config.listen.address.is_unspecified())
                .then(|| self.config.listen.address.to_string().into_bytes()),
            nas_port: Some(u32::from(tid) << 16 | u32::from(sid)),
            acct_session_id: None,
        };
        match r.engine.authenticate(now, params) {
            Ok(id) => {
                r.pending.insert(
                    id,
                    Pending {
                        tid,
                        sid,
                        accepted,
                        request,
                    },
                );
            }
            Err(e) => {
                self.metrics.auth(
                    super::metrics::Backend::Radius,
                    super::metrics::AuthResult::Timeout,
                );
                let name = request.username.clone();
                let outcome = AuthOutcome::Reject {
                    why: format!("RADIUS request not sent: {e}"),
                };
                self.finish_auth(now, tid, sid, &name, outcome);
            }
        }
        self.radius_service(now);
    }

    /// The subscriber's outer address: its PPTP connection's, its IPsec client's or
    /// its LAC's.
    fn session_peer(&self, tid: u16, sid: u16) -> Option<IpAddr> {
        if tid == PPTP_ROUTE_TUNNEL {
            return self.pptp_call_peer(sid).map(|a| a.ip());
        }
        self.tunnels.get(&tid).map(|t| t.peer.ip())
    }

    /// Answers on the RADIUS sockets.
    pub(super) fn radius_drain(&mut self, now: Instant) {
        let Some(r) = self.radius.as_mut() else {
            return;
        };
        let mut buf = std::mem::take(&mut r.buf);
        for i in 0..r.sockets.len() {
            for _ in 0..256 {
                let Ok((n, from)) = r.sockets[i].recv_from(&mut buf) else {
                    break;
                };
                r.engine.handle_datagram(now, from, i, &buf[..n]);
            }
        }
        r.buf = buf;
        self.radius_service(now);
        self.dae_drain(now);
    }

    /// Disconnect-Request and CoA-Request (RFC 5176).
    fn dae_drain(&mut self, now: Instant) {
        let mut buf = [0u8; 4096];
        for _ in 0..64 {
            let Some(d) = self.radius.as_mut().and_then(|r| r.dae.as_mut()) else {
                return;
            };
            let Ok((n, from)) = d.socket.recv_from(&mut buf) else {
                return;
            };
            match d.server.handle_request(now, from, &buf[..n]) {
                DaeOutcome::Drop => {}
                DaeOutcome::Answer(bytes) => {
                    let _ = d.socket.send_to(&bytes, from);
                }
                DaeOutcome::Request(request) => {
                    let result = self.dae_apply(now, &request);
                    self.metrics.dae(
                        request.kind == crate::proto::radius::dae::DaeKind::Coa,
                        result.is_ok(),
                    );
                    if let Some(d) = self.radius.as_mut().and_then(|r| r.dae.as_mut())
                        && let Some(bytes) = d.server.answer(&request.reply, result)
                    {
                        let _ = d.socket.send_to(&bytes, request.reply.from);
                    }
                }
            }
        }
    }

    /// The sessions a request names: every given selector must match (RFC 5176 §3).
    fn dae_sessions(&self, request: &DaeRequest) -> Vec<(u16, u16)> {
        let sel = &request.selectors;
        let matches = |s: &Sub| {
            sel.user_name
                .as_ref()
                .is_none_or(|u| s.user.as_deref().map(str::as_bytes) == Some(u.as_slice()))
                && sel.acct_session_id.as_ref().is_none_or(|id| {
                    s.acct.as_ref().map(|a| a.session_id.as_bytes()) == Some(id.as_slice())
                })
                && sel.framed_ip_address.is_none_or(|ip| s.address == Some(ip))
        };
        let mut out: Vec<(u16, u16)> = self
            .tunnels
            .iter()
            .flat_map(|(&tid, t)| {
                t.sessions
                    .iter()
                    .filter(|(_, s)| matches(s))
                    .map(move |(&sid, _)| (tid, sid))
            })
            .collect();
        if let Some(p) = &self.pptp {
            out.extend(
                p.calls
                    .iter()
                    .filter(|(_, c)| matches(&c.sub))
                    .map(|(&id, _)| (PPTP_ROUTE_TUNNEL, id)),
            );
        }
        out
    }

    fn dae_apply(&mut self, now: Instant, request: &DaeRequest) -> Result<(), ErrorCause> {
        let sel = &request.selectors;
        if sel.user_name.is_none()
            && sel.acct_session_id.is_none()
            && sel.framed_ip_address.is_none()
        {
            return Err(ErrorCause::MissingAttribute);
        }
        let sessions = self.dae_sessions(request);
        if sessions.is_empty() {
            return Err(ErrorCause::SessionContextNotFound);
        }
        match request.kind {
            DaeKind::Disconnect => {
                for (tid, sid) in sessions {
                    eprintln!(
                        "shardvpn: RADIUS Disconnect-Request ends tunnel {tid} session {sid}"
                    );
                    self.terminate_session(now, tid, sid);
                }
                Ok(())
            }
            DaeKind::Coa => {
                let c = &request.changes;
                let rate = if c.rate_limits.is_empty() && c.filter_ids.is_empty() {
                    None
                } else {
                    match super::ratelimit::from_radius(&c.rate_limits, &c.filter_ids) {
                        Ok(Some(rate)) => Some(rate),
                        // Nothing usable: refuse rather than acknowledge a change that
                        // did not happen.
                        Ok(None) | Err(_) => return Err(ErrorCause::InvalidAttributeValue),
                    }
                };
                if c.session_timeout.is_none() && rate.is_none() {
                    return Err(ErrorCause::MissingAttribute);
                }
                for (tid, sid) in sessions {
                    if let Some(sub) = self.sub_mut(tid, sid) {
                        if let Some(timeout) = c.session_timeout
                            && let Some(ppp) = sub.ppp.as_mut()
                        {
                            ppp.set_session_timeout(now, secs(Some(timeout)));
                        }
                        if rate.is_some() {
                            sub.rate = rate;
                        }
                    }
                    if rate.is_some() {
                        self.apply_rate_limit(now, tid, sid);
                    }
                    self.service_ppp(now, tid, sid);
                }
                Ok(())
            }
        }
    }

    pub(super) fn radius_timer(&mut self, now: Instant) {
        if let Some(r) = self.radius.as_mut()
            && r.engine.poll_timeout().is_some_and(|t| t <= now)
        {
            r.engine.handle_timeout(now);
        }
        self.radius_service(now);
    }

    /// Sends what the engine has to send and acts on its events.
    pub(super) fn radius_service(&mut self, now: Instant) {
        let mut events = Vec::new();
        {
            let Some(r) = self.radius.as_mut() else {
                return;
            };
            while let Some(t) = r.engine.poll_transmit() {
                if let Some(s) = r.sockets.get(t.socket) {
                    // A full socket buffer is a lost datagram: the engine retransmits.
                    let _ = s.send_to(&t.bytes, t.server);
                }
            }
            while let Some(e) = r.engine.poll_event() {
                events.push(e);
            }
            if let Some(when) = r.engine.poll_timeout() {
                self.timers.schedule(when, Key::Radius);
            }
        }
        for e in events {
            self.radius_event(now, e);
        }
    }

    fn radius_event(&mut self, now: Instant, event: Event) {
        let (id, outcome) = match event {
            Event::Accepted { id, info } => {
                let mppe = match (info.mppe_send_key.as_ref(), info.mppe_recv_key.as_ref()) {
                    (Some(send), Some(recv)) => Some(MppeKeying::StartKeys {
                        send: zeroize::Zeroizing::new(send.expose().to_vec()),
                        recv: zeroize::Zeroizing::new(recv.expose().to_vec()),
                    }),
                    _ => None,
                };
                let authenticator_response = info
                    .ms_chap2_success
                    .as_deref()
                    .and_then(ppp::authenticator_response_bytes);
                let outcome = AuthOutcome::Accept(Box::new(Authorized {
                    address: fixed_address(info.framed_ip_address),
                    ticket: None,
                    authenticator_response,
                    mppe,
                    session_timeout: secs(info.session_timeout),
                    idle_timeout: secs(info.idle_timeout),
                    // RFC 2869 §5.16 asks for 600 s at least; a server that asks for
                    // less gets 60 (the floor of `radius.interim_interval`).
                    interim: secs(info.acct_interim_interval)
                        .map(|d| d.max(Duration::from_secs(60))),
                    class: info.class.clone(),
                    ipcp: (info.framed_pool.is_some()
                        || info.primary_dns.is_some()
                        || info.secondary_dns.is_some())
                    .then(|| {
                        Box::new(super::RadiusIpcp {
                            pool: info
                                .framed_pool
                                .as_deref()
                                .map(|p| String::from_utf8_lossy(p).into()),
                            dns: [info.primary_dns, info.secondary_dns],
                        })
                    }),
                    rate: match super::ratelimit::from_radius(&info.rate_limits, &info.filter_ids) {
                        Ok(rate) => rate,
                        Err(e) => {
                            eprintln!("shardvpn: RADIUS rate limit ignored: {e}");
                            None
                        }
                    },
                }));
                (id, Some(outcome))
            }
            Event::Rejected { id, reply_message } => {
                let why = match reply_message {
                    Some(m) => format!("RADIUS Access-Reject ({})", LogSafeName(&m)),
                    None => "RADIUS Access-Reject".to_owned(),
                };
                (id, Some(AuthOutcome::Reject { why }))
            }
            Event::TimedOut { id } => (id, None),
            Event::ServerDown { addr } => {
                eprintln!("shardvpn: RADIUS server {addr} does not answer: trying the next one");
                return;
            }
            Event::ServerUp { addr } => {
                eprintln!("shardvpn: RADIUS server {addr} answers again");
                return;
            }
            Event::AcctDelivered { .. } => return,
        };
        let Some(p) = self.radius.as_mut().and_then(|r| r.pending.remove(&id)) else {
            return;
        };
        self.metrics.auth(
            super::metrics::Backend::Radius,
            match &outcome {
                Some(AuthOutcome::Accept(_)) => super::metrics::AuthResult::Accept,
                Some(AuthOutcome::Reject { .. }) => super::metrics::AuthResult::Reject,
                None => super::metrics::AuthResult::Timeout,
            },
        );
        // The same session, not a later one with the same IDs.
        if self.sub_mut(p.tid, p.sid).map(|s| s.accepted) != Some(p.accepted) {
            return;
        }
        let outcome = match outcome {
            Some(o) => o,
            None if self.config.aaa.fallback_local => self.local_auth(&p.request),
            None => AuthOutcome::Reject {
                why: "no RADIUS server answered".to_owned(),
            },
        };
        self.finish_auth(now, p.tid, p.sid, &p.request.username, outcome);
        // The Success/Failure and what follows go out now, not at PPP's next timer.
        self.service_ppp(now, p.tid, p.sid);
    }
}

/// Acct-Terminate-Cause for how a session ended (RFC 2866 §5.10).
fn terminate_cause(reason: Option<CloseReason>, shutting_down: bool) -> AcctTerminateCause {
    if shutting_down {
        return AcctTerminateCause::NasReboot;
    }
    match reason {
        Some(CloseReason::PeerTerminated) => AcctTerminateCause::UserRequest,
        Some(CloseReason::EchoTimeout) | Some(CloseReason::LowerLayerDown) | None => {
            AcctTerminateCause::LostCarrier
        }
        Some(CloseReason::SessionTimeout) => AcctTerminateCause::SessionTimeout,
        Some(CloseReason::IdleTimeout) => AcctTerminateCause::IdleTimeout,
        Some(CloseReason::Admin) => AcctTerminateCause::AdminReset,
        Some(CloseReason::AuthFailed) | Some(CloseReason::AuthTimeout) => {
            AcctTerminateCause::UserError
        }
        Some(CloseReason::EncryptionRequired) => AcctTerminateCause::ServiceUnavailable,
        Some(_) => AcctTerminateCause::NasError,
    }
}

/// Seconds since `start`, for Acct-Session-Time.
fn session_time(now: Instant, start: Instant) -> u32 {
    u32::try_from(now.saturating_duration_since(start).as_secs()).unwrap_or(u32::MAX)
}

impl Lns {
    /// A session's accounting state at authentication (None without accounting).
    pub(super) fn acct_state(
        &mut self,
        tid: u16,
        sid: u16,
        class: Vec<Vec<u8>>,
        interim: Option<Duration>,
    ) -> Option<Box<AcctState>> {
        let peer = self.session_peer(tid, sid);
        let r = self.radius.as_mut().filter(|r| r.accounting)?;
        let n = r.acct_next;
        r.acct_next += 1;
        Some(Box::new(AcctState {
            session_id: format!("{}{n:08X}", r.acct_prefix).into(),
            class,
            interim: interim.or(r.interim_default),
            nas_port: u32::from(tid) << 16 | u32::from(sid),
            peer,
            started: None,
            framed_ip: None,
        }))
    }

    fn acct_record(sub: &Sub, a: &AcctState, status: AcctStatusType) -> AcctRecord {
        let user = sub.user.as_deref().unwrap_or("").as_bytes();
        let mut r = AcctRecord::new(status, a.session_id.as_bytes(), user);
        r.framed_ip_address = a.framed_ip;
        r.class = a.class.clone();
        r.nas_port = Some(a.nas_port);
        r.peer_address = a.peer;
        r
    }

    fn acct_send(&mut self, now: Instant, record: AcctRecord) {
        let Some(r) = self.radius.as_mut() else {
            return;
        };
        if let Err(e) = r.engine.account(now, record) {
            eprintln!("shardvpn: RADIUS accounting record not queued: {e}");
        }
        self.radius_service(now);
    }

    /// IPCP is up: Accounting-Request Start, and the first Interim-Update timer.
    pub(super) fn acct_start(&mut self, now: Instant, tid: u16, sid: u16, ip: Ipv4Addr) {
        let Some(sub) = self.sub_mut(tid, sid) else {
            return;
        };
        let Some(a) = sub.acct.as_mut() else {
            return;
        };
        if a.started.is_some() {
            return;
        }
        a.started = Some(now);
        a.framed_ip = Some(ip);
        let interim = a.interim;
        let record = {
            let sub = self.sub_mut(tid, sid).expect("just found");
            Self::acct_record(
                sub,
                sub.acct.as_ref().expect("just set"),
                AcctStatusType::Start,
            )
        };
        self.acct_send(now, record);
        if let Some(every) = interim {
            self.timers.schedule(now + every, Key::Interim(tid, sid));
        }
    }

    fn acct_token(&mut self, wait: AcctWait) -> Option<u64> {
        let w = &mut self.counter_waits;
        let token = ACCT_TOKEN | w.next_token;
        w.next_token = (w.next_token + 1) & !ACCT_TOKEN;
        w.waiting.insert(token, wait);
        Some(token)
    }

    /// An Interim-Update is due: ask the owning shard for the counters.
    pub(super) fn acct_interim(&mut self, now: Instant, tid: u16, sid: u16) {
        let Some((shard, accepted, every)) = self
            .sub_mut(tid, sid)
            .and_then(|s| Some((s.shard, s.accepted, s.acct.as_ref()?.interim?)))
        else {
            return;
        };
        let Some(token) = self.acct_token(AcctWait::Interim { tid, sid, accepted }) else {
            return;
        };
        let key = (tid, sid);
        self.prog.send(
            &self.dp,
            shard,
            Command::ReportSession {
                key,
                token,
                remove: false,
            },
        );
        self.timers.schedule(now + every, Key::Interim(tid, sid));
    }

    /// IPCP is up: start sampling the counters if the session has an idle timeout.
    pub(super) fn idle_start(&mut self, now: Instant, tid: u16, sid: u16) {
        if let Some(every) = self.sub_mut(tid, sid).and_then(|s| s.idle_check) {
            self.timers.schedule(now + every, Key::Idle(tid, sid));
        }
    }

    /// Asks the owning shard for the session's counters (the answer notes activity
    /// in PPP, whose idle timer does the rest) and schedules the next look.
    pub(super) fn idle_check(&mut self, now: Instant, tid: u16, sid: u16) {
        let Some((shard, accepted, every)) = self
            .sub_mut(tid, sid)
            .and_then(|s| Some((s.shard, s.accepted, s.idle_check?)))
        else {
            return;
        };
        let Some(token) = self.acct_token(AcctWait::Idle { tid, sid, accepted }) else {
            return;
        };
        self.prog.send(
            &self.dp,
            shard,
            Command::ReportSession {
                key: (tid, sid),
                token,
                remove: false,
            },
        );
        self.timers.schedule(now + every, Key::Idle(tid, sid));
    }

    /// The session ends: its Stop record waits for the shard's final counters, which
    /// the shard reports as it removes the entry (the returned command replaces the
    /// plain removal). Without accounting the removal is returned as it was.
    pub(super) fn acct_stop(&mut self, sub: &Sub, remove: Command) -> Option<Command> {
        let key = match &remove {
            Command::RemoveSession { key } => *key,
            Command::RemoveCall { call_id } => (PPTP_ROUTE_TUNNEL, *call_id),
            _ => return Some(remove),
        };
        let Some(a) = sub.acct.as_ref() else {
            return Some(remove);
        };
        let Some(started) = a.started else {
            return Some(remove);
        };
        let now = Instant::now();
        let mut record = Self::acct_record(sub, a, AcctStatusType::Stop);
        record.session_time = session_time(now, started);
        // L2TP's transmit side is counted beside its routes, not on the shard.
        if let Some((packets, bytes)) = sub.tx.as_ref().map(|t| t.get()) {
            record.output_octets = bytes;
            record.output_packets = u32::try_from(packets).unwrap_or(u32::MAX);
        }
        record.terminate_cause = Some(terminate_cause(sub.close_reason, self.shutting_down));
        let Some(token) = self.acct_token(AcctWait::Stop(Box::new(record))) else {
            return Some(remove);
        };
        Some(Command::ReportSession {
            key,
            token,
            remove: true,
        })
    }

    /// A shard's counters for an accounting request.
    pub(super) fn acct_counters(
        &mut self,
        now: Instant,
        token: u64,
        sessions: Vec<SessionCounters>,
    ) {
        let Some(wait) = self.counter_waits.waiting.remove(&token) else {
            return;
        };
        let c = sessions.first().copied();
        let fill = |r: &mut AcctRecord| {
            if let Some(c) = c {
                r.input_octets = c.rx_bytes;
                r.input_packets = u32::try_from(c.rx_packets).unwrap_or(u32::MAX);
                if let Some((packets, bytes)) = c.tx {
                    r.output_octets = bytes;
                    r.output_packets = u32::try_from(packets).unwrap_or(u32::MAX);
                }
            }
        };
        match wait {
            AcctWait::Idle { tid, sid, accepted } => {
                let shard_tx = c.and_then(|c| c.tx).map_or(0, |t| t.0);
                let Some(sub) = self.sub_mut(tid, sid).filter(|s| s.accepted == accepted) else {
                    return;
                };
                let total = c.map_or(0, |c| c.rx_packets)
                    + shard_tx
                    + sub.tx.as_ref().map_or(0, |t| t.get().0);
                if total != sub.seen_packets {
                    sub.seen_packets = total;
                    if let Some(ppp) = sub.ppp.as_mut() {
                        ppp.note_activity(now);
                    }
                }
            }
            AcctWait::Stop(mut record) => {
                fill(&mut record);
                self.acct_send(now, *record);
            }
            AcctWait::Interim { tid, sid, accepted } => {
                let Some(sub) = self.sub_mut(tid, sid).filter(|s| s.accepted == accepted) else {
                    return;
                };
                let Some(a) = sub.acct.as_ref() else {
                    return;
                };
                let mut record = Self::acct_record(sub, a, AcctStatusType::InterimUpdate);
                record.session_time = a.started.map_or(0, |t| session_time(now, t));
                if let Some((packets, bytes)) = sub.tx.as_ref().map(|t| t.get()) {
                    record.output_octets = bytes;
                    record.output_packets = u32::try_from(packets).unwrap_or(u32::MAX);
                }
                fill(&mut record);
                self.acct_send(now, record);
            }
        }
    }

    /// Shutdown: the Stops (their counters come back from the shards, which still
    /// run) and Accounting-Off, then a bounded wait for the server's answers.
    pub(super) fn acct_shutdown(&mut self) {
        if !self.radius.as_ref().is_some_and(|r| r.accounting) {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut ready = Vec::new();
        let mut off_sent = false;
        loop {
            let now = Instant::now();
            self.dp.clear_inbox_wake();
            self.drain_shards(now);
            let waiting = self
                .counter_waits
                .waiting
                .values()
                .filter(|w| matches!(w, AcctWait::Stop(_)))
                .count();
            if waiting == 0 && !off_sent {
                off_sent = true;
                let off = AcctRecord::new(AcctStatusType::AccountingOff, b"", b"");
                self.acct_send(now, off);
            }
            let queued = self
                .radius
                .as_ref()
                .map_or(0, |r| r.engine.pending_accounting());
            if (off_sent && queued == 0) || now >= deadline {
                break;
            }
            let mut fds = vec![self.dp.inbox_fd()];
            if let Some(r) = &self.radius {
                fds.extend(r.fds());
            }
            let _ = crate::runtime::signals::wait_readable(
                &fds,
                Some(Duration::from_millis(50)),
                &mut ready,
            );
            let now = Instant::now();
            self.radius_drain(now);
            self.radius_timer(now);
            self.prog.flush(&self.dp);
        }
    }
}

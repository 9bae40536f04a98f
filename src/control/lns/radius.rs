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
use super::{AuthOutcome, Authorized, Key, Lns};
use crate::aaa::auth::LogSafeName;
use crate::config::Config;
use crate::dataplane::pptp::PPTP_ROUTE_TUNNEL;
use crate::proto::ppp::{self, AuthProof, AuthRequest};
use crate::proto::radius::client::{
    self as radius, AuthParams, Event, Proof, RadiusClient, RequestId, ServerConfig,
};

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
    engine: RadiusClient,
    sockets: Vec<UdpSocket>,
    pending: HashMap<RequestId, Pending>,
    buf: Vec<u8>,
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
        Ok(Some(RadiusState {
            engine,
            sockets,
            pending: HashMap::new(),
            buf: vec![0u8; 4096],
        }))
    }

    pub(super) fn fds(&self) -> Vec<RawFd> {
        self.sockets.iter().map(AsRawFd::as_raw_fd).collect()
    }
}

/// The PPP proof as RADIUS carries it.
fn proof_of(request: &AuthRequest) -> Proof {
    match &request.proof {
        AuthProof::Pap { password } => Proof::Pap {
            password: password.clone(),
        },
        AuthProof::ChapMd5 {
            identifier,
            challenge,
            response,
        } => Proof::ChapMd5 {
            ident: *identifier,
            challenge: challenge.clone(),
            response: *response,
        },
        AuthProof::MsChapV2 {
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
            proof: proof_of(&request),
            peer_address: peer,
            called_station_id: None,
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

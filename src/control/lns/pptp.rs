//! PPTP on the control thread (issue "PPTP with MPPE"): control connections on TCP
//! 1723 (RFC 2637 §1.3) driven through the sans-IO [`Control`] engine, one PPP server
//! per call, and the call's data-plane state on the shard its Call ID steers to.
//!
//! # A PPTP subscriber's life
//! 1. TCP connect → a [`Control`] (server role) for the connection, registered in an
//!    epoll set so that thousands of idle connections cost nothing per loop
//!    (`pptp.max_connections` caps them; beyond it a connection is closed at once).
//! 2. Outgoing-Call-Request (or Incoming-Call-Request) → admission (`limits` as for
//!    L2TP, `pptp.max_calls_per_connection`) → the least loaded shard, and a Call ID
//!    unique across all connections that steers to it (the shards' raw GRE filters
//!    look at the Call ID only). Refused calls get a reply with a result code. The
//!    call is installed on its shard (IP closed: PPP control frames are punted to
//!    us) and a PPP server starts: MS-CHAPv2 only when MPPE is required, CCP with
//!    MPPE as `[pptp]` says, no IPv6CP (the GRE path carries IPv4 only).
//! 3. Our PPP frames go to the owner shard ([`Command::SendCallFrame`]), which owns the
//!    call's GRE sequence numbers. MS-CHAPv2 success keeps the MPPE master key (RFC
//!    3079 §3.4); CCP Opened → the start keys of both directions, an encryptor and a
//!    decryptor, installed on the shard (`SetCallMppe`); IPCP Opened → the address
//!    on the shard and the route (tunnel ID 0 = PPTP) on every shard. With required
//!    MPPE the data plane passes no IP until the keys are there.
//! 4. CCP Reset-Request from the client → `ResetCallMppe`; a stateful-mode loss seen
//!    by the shard → our Reset-Request.
//! 5. The end (LCP Terminate, auth failure, echo timeout, Call-Clear-Request, the
//!    control connection's Stop, echo timeout or TCP close, shutdown): PPP closed,
//!    Call-Disconnect-Notify, [`Lns::release_session`] for `(0, call ID)`.
//!
//! Decisions:
//! - Calls share the L2TP sessions' bookkeeping (`Sub`, timers, authentication,
//!   addresses) under the key `(0, call ID)`: L2TP never uses tunnel ID 0 (RFC 2661
//!   §3.1), and the data plane punts PPTP frames with the same key.
//! - TCP writes that would block are kept per connection (bounded: a peer that does
//!   not read 256 KiB of control messages is cut off) and flushed when epoll says
//!   the socket is writable.
//! - Logs name the peer address; keys and the master key never appear.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Key, Lns, Sub, fill_random};
use crate::config::{Config, MppeRequirement};
use crate::control::ids::SessionIds;
use crate::crypto::ppp::mppe::{
    MasterKey, MppeDecryptor, MppeEncryptor, Role, StartKey, get_asymmetric_start_key,
};
use crate::dataplane::pptp::{Mppe, PPTP_ROUTE_TUNNEL, PptpCall};
use crate::dataplane::tables::Command;
use crate::proto::ppp::{self, CcpPolicy, CloseReason, MppeOptions, MppePolicy, Ppp, PppConfig};
use crate::proto::pptp::{self, Control, Event, PptpConfig};
use crate::runtime::epoll::{Epoll, Interest, Ready};
use crate::wire::pptp::{DisconnectResult, StopReason};

/// Unsent control bytes a connection may hold before it is cut off.
const MAX_PENDING_WRITE: usize = 256 << 10;
/// The TCP accept queue (see `runtime::sockbuf::set_listen_backlog`).
const LISTEN_BACKLOG: u32 = 4096;
/// Connections accepted per loop iteration (a SYN flood must not starve the rest).
const ACCEPTS_PER_TURN: usize = 256;

/// One control connection.
pub(super) struct PptpConn {
    stream: TcpStream,
    peer: SocketAddr,
    engine: Control,
    /// Bytes the socket did not take yet.
    pending: Vec<u8>,
    /// Our Call IDs on this connection.
    calls: Vec<u16>,
    writable_armed: bool,
}

/// One call: its connection and the peer's Call ID (in `Sub::peer_session`).
pub(super) struct PptpCallState {
    pub conn: u64,
    pub sub: Box<Sub>,
    /// Where the MPPE keys come from, kept from authentication until CCP opens.
    pub mppe_keying: Option<MppeKeying>,
}

/// The source of a call's MPPE keys (RFC 3079 §3).
pub(super) enum MppeKeying {
    /// Local MS-CHAPv2: the master key; both start keys are derived from it.
    Master(MasterKey),
    /// RADIUS: MS-MPPE-Send-Key and MS-MPPE-Recv-Key (RFC 2548 §2.4.2-§2.4.3), our
    /// send and receive start keys as the server sent them (truncated to the
    /// negotiated strength when CCP opens). Zeroized on drop.
    StartKeys {
        send: zeroize::Zeroizing<Vec<u8>>,
        recv: zeroize::Zeroizing<Vec<u8>>,
    },
}

/// Everything PPTP on the control thread.
pub(super) struct PptpState {
    listener: TcpListener,
    epoll: Epoll,
    conns: HashMap<u64, PptpConn>,
    pub calls: HashMap<u16, PptpCallState>,
    call_ids: SessionIds,
    next_token: u64,
    engine_config: Arc<PptpConfig>,
    pub ppp_config: Arc<PppConfig>,
    ready: Vec<Ready>,
    buf: Vec<u8>,
}

/// Counters of PPTP on the control thread.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PptpCounters {
    pub connections_accepted: u64,
    pub connections_refused: u64,
    pub connections_closed: u64,
    pub calls_refused: u64,
    pub calls_established: u64,
    pub write_overflows: u64,
    /// MPPE keys installed (CCP Opened with MPPE).
    pub mppe_up: u64,
}

/// The PPP server configuration for PPTP calls (module docs).
pub(super) fn pptp_ppp_config(config: &Config, base: &PppConfig) -> PppConfig {
    let p = &config.pptp;
    let (allow_40, allow_128) = p.strengths();
    let auth_methods = if p.allow_pap_chap && p.mppe != MppeRequirement::Require {
        base.auth_methods.clone()
    } else {
        vec![ppp::AuthMethod::MsChapV2]
    };
    let ccp = match p.mppe {
        MppeRequirement::None => CcpPolicy::Reject,
        m => CcpPolicy::Mppe(MppePolicy {
            allow_40,
            allow_128,
            prefer_stateless: p.stateless,
            required: m == MppeRequirement::Require,
        }),
    };
    PppConfig {
        auth_methods,
        ccp,
        ipv6: false,
        ..base.clone()
    }
}

impl PptpState {
    /// TCP control connections now.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    pub(super) fn bind(config: &Config, base: &PppConfig) -> io::Result<PptpState> {
        let addr = SocketAddr::new(config.listen.address, config.listen.pptp_port);
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        crate::runtime::sockbuf::set_listen_backlog(&listener, LISTEN_BACKLOG)?;
        let p = &config.pptp;
        let echo = Duration::from_secs(u64::from(p.echo_interval));
        Ok(PptpState {
            listener,
            epoll: Epoll::new(1024)?,
            conns: HashMap::new(),
            calls: HashMap::new(),
            call_ids: SessionIds::new(),
            next_token: 1,
            engine_config: Arc::new(PptpConfig {
                host_name: config.l2tp.hostname.as_bytes().to_vec(),
                echo_interval: echo,
                echo_timeout: echo,
                max_calls: p.max_calls_per_connection as usize,
                ..PptpConfig::default()
            }),
            ppp_config: Arc::new(pptp_ppp_config(config, base)),
            ready: Vec::with_capacity(1024),
            buf: vec![0u8; 16 << 10],
        })
    }

    /// The descriptors the control loop polls: the listener and the epoll set.
    pub(super) fn fds(&self) -> [std::os::fd::RawFd; 2] {
        [self.listener.as_raw_fd(), self.epoll.as_raw_fd()]
    }

    pub(super) fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }
}

impl Lns {
    /// New control connections on TCP 1723.
    pub(super) fn pptp_accept(&mut self, now: Instant) {
        let max = self.config.pptp.max_connections as usize;
        for _ in 0..ACCEPTS_PER_TURN {
            let Some(p) = self.pptp.as_mut() else {
                return;
            };
            let (stream, peer) = match p.listener.accept() {
                Ok(s) => s,
                Err(_) => return,
            };
            if p.conns.len() >= max {
                self.pptp_counters.connections_refused += 1;
                if self.pptp_counters.connections_refused.is_power_of_two() {
                    eprintln!(
                        "shardvpn: PPTP connection from {peer} refused: pptp.max_connections \
                         ({max}) reached; {} refused so far",
                        self.pptp_counters.connections_refused
                    );
                }
                continue;
            }
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let _ = stream.set_nodelay(true);
            let token = p.next_token;
            p.next_token += 1;
            let read = Interest {
                read: true,
                write: false,
            };
            if p.epoll.add(stream.as_raw_fd(), token, read).is_err() {
                continue;
            }
            let engine = Control::server(now, Arc::clone(&p.engine_config));
            p.conns.insert(
                token,
                PptpConn {
                    stream,
                    peer,
                    engine,
                    pending: Vec::new(),
                    calls: Vec::new(),
                    writable_armed: false,
                },
            );
            self.pptp_counters.connections_accepted += 1;
            self.pptp_service(now, token);
        }
    }

    /// Connections epoll reports ready.
    pub(super) fn pptp_ready(&mut self, now: Instant) {
        let mut ready = match self.pptp.as_mut() {
            Some(p) => {
                let mut r = std::mem::take(&mut p.ready);
                if p.epoll.ready(&mut r).is_err() {
                    r.clear();
                }
                r
            }
            None => return,
        };
        for r in &ready {
            if r.write {
                self.pptp_flush(r.token);
            }
            if r.read {
                self.pptp_read(now, r.token);
            }
        }
        ready.clear();
        if let Some(p) = self.pptp.as_mut() {
            p.ready = ready;
        }
    }

    fn pptp_read(&mut self, now: Instant, token: u64) {
        let Some(p) = self.pptp.as_mut() else {
            return;
        };
        let mut buf = std::mem::take(&mut p.buf);
        let mut closed = false;
        // Bounded: one busy connection must not starve the others.
        for _ in 0..16 {
            let Some(c) = p.conns.get_mut(&token) else {
                break;
            };
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => c.engine.handle_bytes(now, &buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        p.buf = buf;
        self.pptp_service(now, token);
        if closed {
            self.pptp_drop_conn(now, token, "closed the TCP connection");
        }
    }

    /// Writes what is pending; true if the connection is still usable.
    fn pptp_flush(&mut self, token: u64) -> bool {
        let Some(p) = self.pptp.as_mut() else {
            return false;
        };
        let Some(c) = p.conns.get_mut(&token) else {
            return false;
        };
        while !c.pending.is_empty() {
            match c.stream.write(&c.pending) {
                Ok(0) => return false,
                Ok(n) => {
                    c.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        let want_write = !c.pending.is_empty();
        if want_write != c.writable_armed {
            c.writable_armed = want_write;
            let interest = Interest {
                read: true,
                write: want_write,
            };
            let _ = p.epoll.modify(c.stream.as_raw_fd(), token, interest);
        }
        true
    }

    /// Sends what the engine has to send and acts on its events.
    pub(super) fn pptp_service(&mut self, now: Instant, token: u64) {
        let mut events = Vec::new();
        let mut overflow = false;
        {
            let Some(p) = self.pptp.as_mut() else {
                return;
            };
            let Some(c) = p.conns.get_mut(&token) else {
                return;
            };
            while let Some(bytes) = c.engine.poll_transmit() {
                if c.pending.len() + bytes.len() > MAX_PENDING_WRITE {
                    overflow = true;
                    break;
                }
                c.pending.extend_from_slice(&bytes);
            }
            while let Some(e) = c.engine.poll_event() {
                events.push(e);
            }
            if let Some(when) = c.engine.poll_timeout() {
                self.timers.schedule(when, Key::Pptp(token));
            }
        }
        if overflow {
            self.pptp_counters.write_overflows += 1;
            self.pptp_drop_conn(now, token, "does not read its control messages");
            return;
        }
        if !self.pptp_flush(token) {
            self.pptp_drop_conn(now, token, "TCP connection failed");
            return;
        }
        let mut again = false;
        for e in events {
            again |= self.pptp_event(now, token, e);
        }
        if again {
            self.pptp_service(now, token);
        }
    }

    /// One engine event; true when the engine may have more to send.
    fn pptp_event(&mut self, now: Instant, token: u64, event: Event) -> bool {
        match event {
            Event::CallRequest {
                peer_call_id,
                peer_window,
                incoming,
                ..
            } => {
                self.pptp_call_request(now, token, peer_call_id, peer_window, incoming);
                true
            }
            // An incoming call (§2.9-§2.11) is up with the Incoming-Call-Connected:
            // PPP starts then (an outgoing call's PPP started with our reply).
            Event::CallUp { local_call_id, .. } => {
                if let Some(ppp) = self
                    .sub_mut(PPTP_ROUTE_TUNNEL, local_call_id)
                    .and_then(|s| s.ppp.as_mut())
                {
                    ppp.open(now);
                }
                self.service_ppp(now, PPTP_ROUTE_TUNNEL, local_call_id);
                false
            }
            Event::CallDown { local_call_id, .. } => {
                // The client cleared the call (Call-Clear-Request, RFC 2637 §2.12).
                if let Some(sub) = self.sub_mut(PPTP_ROUTE_TUNNEL, local_call_id) {
                    if sub.close_reason.is_none() {
                        sub.close_reason = Some(CloseReason::PeerTerminated);
                    }
                    if let Some(ppp) = sub.ppp.as_mut() {
                        ppp.lower_down(now);
                    }
                }
                self.release_session(PPTP_ROUTE_TUNNEL, local_call_id);
                false
            }
            Event::Closed { reason } => {
                let why = match reason {
                    pptp::CloseReason::PeerStopped(_) => "stopped the control connection",
                    pptp::CloseReason::Local => "closed by us",
                    pptp::CloseReason::Framing => "lost the PPTP framing",
                    pptp::CloseReason::SetupTimeout => "never started a control connection",
                    pptp::CloseReason::EchoTimeout => "stopped answering echoes",
                    pptp::CloseReason::Refused(_) => "refused",
                };
                self.pptp_drop_conn(now, token, why);
                false
            }
            Event::Up | Event::LinkInfo { .. } => false,
        }
    }

    /// Admission, shard, Call ID; then the call is installed and PPP starts.
    fn pptp_call_request(
        &mut self,
        now: Instant,
        token: u64,
        peer_call_id: u16,
        peer_window: u16,
        incoming: bool,
    ) {
        let limits = &self.config.limits;
        let refuse = if self.active >= limits.max_sessions as usize {
            Some("max_sessions reached")
        } else if self.starting >= limits.effective_max_starting() as usize {
            Some("max_starting reached")
        } else {
            None
        };
        let map = self.dp.shard_map();
        let shard = self.load.pick();
        let Some(p) = self.pptp.as_mut() else {
            return;
        };
        let Some(c) = p.conns.get_mut(&token) else {
            return;
        };
        let peer_ip = match c.peer.ip() {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(a) => a.to_ipv4_mapped(),
        };
        let local = match (refuse, peer_ip) {
            (None, Some(_)) => p.call_ids.allocate_on(map, shard),
            _ => None,
        };
        let (Some(local), Some(peer_ip)) = (local, peer_ip) else {
            self.pptp_counters.calls_refused += 1;
            let why = match refuse {
                Some("max_starting reached") => super::metrics::Refusal::StartingLimit,
                Some(_) => super::metrics::Refusal::Limit,
                None if peer_ip.is_none() => super::metrics::Refusal::NotAllowed,
                None => super::metrics::Refusal::Limit,
            };
            self.metrics.refused(super::metrics::Proto::Pptp, why);
            eprintln!(
                "shardvpn: PPTP call from {} refused: {}",
                c.peer,
                refuse.unwrap_or(if peer_ip.is_none() {
                    "GRE over IPv6 is not supported"
                } else {
                    "no free Call ID on the chosen shard"
                })
            );
            c.engine.reject_call(peer_call_id);
            return;
        };
        if !c.engine.accept_call(now, peer_call_id, local) {
            p.call_ids.release(local);
            return;
        }
        c.calls.push(local);
        let required = self.config.pptp.mppe == MppeRequirement::Require;
        let call = PptpCall::new(
            peer_ip,
            peer_call_id,
            peer_window,
            u32::from(local),
            required,
        );
        self.prog.send(
            &self.dp,
            shard,
            Command::InstallCall {
                call_id: local,
                call: Box::new(call),
            },
        );
        let mut ppp = {
            let mut fill = fill_random(&self.rng);
            Ppp::server(Arc::clone(&p.ppp_config), now, &mut fill)
        };
        if !incoming {
            ppp.open(now);
        }
        p.calls.insert(
            local,
            PptpCallState {
                conn: token,
                sub: Sub::new(
                    shard,
                    peer_call_id,
                    Some(ppp),
                    now,
                    super::metrics::Proto::Pptp,
                ),
                mppe_keying: None,
            },
        );
        self.load.add(shard);
        self.active += 1;
        self.starting += 1;
        self.metrics.started(super::metrics::Proto::Pptp);
        self.service_ppp(now, PPTP_ROUTE_TUNNEL, local);
    }

    /// PPP frames of a call go out through its owner shard.
    pub(super) fn pptp_send_frame(&mut self, call_id: u16, protocol: u16, packet: &[u8]) {
        let Some(shard) = self
            .pptp
            .as_ref()
            .and_then(|p| p.calls.get(&call_id))
            .map(|c| c.sub.shard)
        else {
            return;
        };
        self.prog.send(
            &self.dp,
            shard,
            Command::SendCallFrame {
                call_id,
                protocol,
                payload: packet.into(),
            },
        );
    }

    /// CCP Opened with MPPE: derive both directions' keys and install them.
    pub(super) fn pptp_mppe_up(
        &mut self,
        now: Instant,
        call_id: u16,
        tx: MppeOptions,
        rx: MppeOptions,
    ) {
        let Some(p) = self.pptp.as_mut() else {
            return;
        };
        let Some(c) = p.calls.get_mut(&call_id) else {
            return;
        };
        let keys = c.mppe_keying.as_ref().and_then(|keying| {
            let (send, recv) = match keying {
                MppeKeying::Master(master) => (
                    get_asymmetric_start_key(master, tx.strength, true, Role::Server),
                    get_asymmetric_start_key(master, rx.strength, false, Role::Server),
                ),
                MppeKeying::StartKeys { send, recv } => (
                    StartKey::from_bytes(send, tx.strength).ok()?,
                    StartKey::from_bytes(recv, rx.strength).ok()?,
                ),
            };
            Some(Mppe {
                enc: MppeEncryptor::new(&send, tx.strength, tx.mode).ok()?,
                dec: MppeDecryptor::new(&recv, rx.strength, rx.mode).ok()?,
            })
        });
        let shard = c.sub.shard;
        match keys {
            Some(mppe) => {
                self.pptp_counters.mppe_up += 1;
                self.prog.send(
                    &self.dp,
                    shard,
                    Command::SetCallMppe {
                        call_id,
                        mppe: Some(Box::new(mppe)),
                    },
                );
            }
            // No MS-CHAPv2 keys (another method was allowed): MPPE cannot be keyed.
            None => {
                if let Some(ppp) = c.sub.ppp.as_mut() {
                    ppp.close(now, CloseReason::EncryptionRequired);
                }
            }
        }
    }

    /// PPP ended the call: Call-Disconnect-Notify, then everything released.
    pub(super) fn pptp_call_closed(&mut self, now: Instant, call_id: u16, reason: CloseReason) {
        let result = match reason {
            CloseReason::Admin => DisconnectResult::AdminShutdown,
            CloseReason::PeerTerminated => DisconnectResult::Request,
            CloseReason::LowerLayerDown => DisconnectResult::LostCarrier,
            _ => DisconnectResult::GeneralError,
        };
        let token = self
            .pptp
            .as_ref()
            .and_then(|p| p.calls.get(&call_id))
            .map(|c| c.conn);
        if let Some(token) = token
            && let Some(c) = self.pptp.as_mut().and_then(|p| p.conns.get_mut(&token))
        {
            c.engine.end_call(call_id, result);
        }
        self.release_session(PPTP_ROUTE_TUNNEL, call_id);
        if let Some(token) = token {
            self.pptp_service(now, token);
        }
    }

    /// Releases one call's resources (from [`Lns::release_session`]).
    pub(super) fn pptp_release_call(&mut self, call_id: u16) {
        let Some(p) = self.pptp.as_mut() else {
            return;
        };
        let Some(call) = p.calls.remove(&call_id) else {
            return;
        };
        p.call_ids.release(call_id);
        if let Some(c) = p.conns.get_mut(&call.conn) {
            c.calls.retain(|id| *id != call_id);
        }
        self.release_sub(call.sub, Some(Command::RemoveCall { call_id }));
    }

    /// The connection is gone: its calls end (PPP cannot send any more) and the socket
    /// closes.
    fn pptp_drop_conn(&mut self, now: Instant, token: u64, why: &str) {
        let Some(p) = self.pptp.as_mut() else {
            return;
        };
        let Some(c) = p.conns.remove(&token) else {
            return;
        };
        let _ = p.epoll.delete(c.stream.as_raw_fd());
        // Best effort: what the engine still had for the peer (a Stop reply).
        let mut stream = c.stream;
        let mut engine = c.engine;
        let mut pending = c.pending;
        while let Some(b) = engine.poll_transmit() {
            pending.extend_from_slice(&b);
        }
        let _ = stream.write(&pending);
        self.pptp_counters.connections_closed += 1;
        if !c.calls.is_empty() {
            eprintln!(
                "shardvpn: PPTP client {} {why}: {} call(s) ended",
                c.peer,
                c.calls.len()
            );
        }
        for call_id in c.calls {
            if let Some(ppp) = self
                .sub_mut(PPTP_ROUTE_TUNNEL, call_id)
                .and_then(|s| s.ppp.as_mut())
            {
                ppp.lower_down(now);
            }
            self.release_session(PPTP_ROUTE_TUNNEL, call_id);
        }
    }

    /// A control connection's timer.
    pub(super) fn pptp_timer(&mut self, now: Instant, token: u64) {
        let due = self
            .pptp
            .as_ref()
            .and_then(|p| p.conns.get(&token))
            .and_then(|c| c.engine.poll_timeout())
            .is_some_and(|w| w <= now);
        if due {
            if let Some(c) = self.pptp.as_mut().and_then(|p| p.conns.get_mut(&token)) {
                c.engine.handle_timeout(now);
            }
            self.pptp_service(now, token);
        }
    }

    /// Shutdown: every call's PPP terminated and disconnected, every connection
    /// stopped (Stop-Control-Connection-Request), writes flushed once.
    pub(super) fn pptp_shutdown(&mut self, now: Instant) {
        let calls: Vec<u16> = match self.pptp.as_ref() {
            Some(p) => p.calls.keys().copied().collect(),
            None => return,
        };
        for call_id in calls {
            if let Some(ppp) = self
                .sub_mut(PPTP_ROUTE_TUNNEL, call_id)
                .and_then(|s| s.ppp.as_mut())
            {
                ppp.close(now, CloseReason::Admin);
            }
            self.service_ppp(now, PPTP_ROUTE_TUNNEL, call_id);
            // PPP's Terminate-Request went to the shard; the call ends without waiting
            // for the Ack.
            self.pptp_call_closed(now, call_id, CloseReason::Admin);
        }
        let tokens: Vec<u64> = self
            .pptp
            .as_ref()
            .map(|p| p.conns.keys().copied().collect())
            .unwrap_or_default();
        for token in tokens {
            if let Some(c) = self.pptp.as_mut().and_then(|p| p.conns.get_mut(&token)) {
                c.engine.close(now, StopReason::StopLocalShutdown);
            }
            self.pptp_service(now, token);
            self.pptp_drop_conn(now, token, "was stopped by the shutdown");
        }
    }

    /// The client address of control connection `token` (for `shardvpn ctl`).
    pub(super) fn pptp_peer(&self, token: u64) -> Option<SocketAddr> {
        self.pptp.as_ref()?.conns.get(&token).map(|c| c.peer)
    }

    /// The client address of a call's control connection.
    pub(super) fn pptp_call_peer(&self, call_id: u16) -> Option<SocketAddr> {
        let conn = self.pptp.as_ref()?.calls.get(&call_id)?.conn;
        self.pptp_peer(conn)
    }

    /// The address PPTP listens on (tests).
    pub fn pptp_addr(&self) -> Option<SocketAddr> {
        self.pptp.as_ref().and_then(PptpState::local_addr)
    }

    /// PPTP calls in any state.
    pub fn pptp_calls(&self) -> usize {
        self.pptp.as_ref().map_or(0, |p| p.calls.len())
    }
}

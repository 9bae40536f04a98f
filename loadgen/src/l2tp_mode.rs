//! `--mode l2tp`: emulated LACs, each with its own UDP socket (one control
//! connection, one 4-tuple) carrying its share of the calls; every call runs a real
//! PPP client (LCP, CHAP / MS-CHAPv2 / PAP, IPCP) on the library's engines, then,
//! with traffic on, pings the concentrator's PPP-side address through its session
//! and measures round trips; at the end everything is torn down with LCP
//! Terminate, CDN and StopCCN.
//!
//! One thread drives everything with the same sans-IO engines the daemon uses
//! (`shardvpn::proto::l2tp` LAC role, `shardvpn::proto::ppp` client role), a
//! deadline heap, and `poll(2)` over the tunnels' sockets.
//!
//! `--mode l2tp-ipsec` (with [`Options::ipsec`]) runs the same L2TP and PPP clients
//! the way the VPN client built into Windows does: each emulated client is one L2TP
//! tunnel with one session, on its own UDP socket (its own source port, like clients
//! behind a NAT), and first runs IKEv1 Main Mode + Quick Mode (`shardvpn::proto::ike`
//! initiator) on that socket; it always negotiates NAT traversal (ESP-in-UDP on the
//! server's 4500: loadgen has no raw ESP). Its L2TP then goes inside the ESP SA pair
//! (`esp_client`). Setup latency runs from the first IKE message to IPCP up. At the
//! end the client's L2TP is torn down inside ESP, then its SAs are deleted.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ring::rand::SystemRandom;
use shardvpn::control::frames;
use shardvpn::control::timers::Timers;
use shardvpn::proto::ike::{
    self, EspProposal, Identity, IkePolicy, IkeSa, InitiatorParams, Phase1Proposal, QuickModeParams,
};
use shardvpn::proto::l2tp;
use shardvpn::proto::ppp::{self, AuthMethod, Credentials, Ppp, PppConfig, PppEvent};
use shardvpn::runtime::signals::wait_readable;
use shardvpn::wire::l2tp as wire_l2tp;

use crate::common::{Progress, echo_request, fill, parse_echo_reply};
use crate::esp_client::EspPair;
use crate::report::{Latencies, Report, Traffic};

/// Receive buffer of each emulated LAC's socket.
const LAC_RECV_BUFFER: usize = 8 << 20;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub server: SocketAddr,
    pub bind: Ipv4Addr,
    pub sessions: usize,
    pub tunnels: usize,
    /// Calls placed per second (None: as fast as the tunnels take them).
    pub rate: Option<f64>,
    /// At most this many calls in setup at once (placed, not yet up or failed), as a
    /// population of real clients would never all dial in the same millisecond.
    pub max_outstanding: usize,
    /// Pings per second over all sessions once established (0: no traffic).
    pub traffic_pps: u64,
    /// How long traffic runs.
    pub duration: Duration,
    pub user: String,
    pub password: String,
    pub auth: Vec<AuthMethod>,
    /// Give up on sessions not established after this long.
    pub setup_timeout: Duration,
    /// L2TP tunnel secret, if the server wants one.
    pub secret: Option<String>,
    /// L2TP/IPsec: IKE first, L2TP inside ESP, one tunnel per client.
    pub ipsec: Option<IpsecOptions>,
    /// L2TP/IPsec: before the traffic starts, this many clients move to a new UDP
    /// source port, as when a NAT rebinds (their pings must still be answered).
    pub nat_rebind: usize,
    /// L2TP/IPsec: at the end this many clients vanish without a word (their socket
    /// is gone), as a client that loses power does: the server's dead peer detection
    /// must clean them up. Not counted in `teardown_clean`.
    pub vanish: usize,
}

/// What an emulated L2TP/IPsec client negotiates.
#[derive(Debug, Clone)]
pub struct IpsecOptions {
    pub psk: String,
    /// Main Mode proposals, in the client's order.
    pub ike: Vec<Phase1Proposal>,
    /// Quick Mode proposals, in the client's order.
    pub esp: Vec<EspProposal>,
    /// The server's NAT-T port (the IKE port is `Options::server`'s).
    pub nat_t_port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Tunnel(usize),
    Session(usize, u16),
    Ike(usize),
}

struct Call {
    placed: Instant,
    ppp: Option<Ppp>,
    peer_session: u16,
    local_addr: Option<Ipv4Addr>,
    server_addr: Option<Ipv4Addr>,
    established: bool,
    failed: bool,
    ping_seq: u16,
}

struct Lac {
    sock: UdpSocket,
    engine: l2tp::Tunnel,
    up: bool,
    closed: bool,
    calls: HashMap<u16, Call>,
    next_session: u16,
    peer_tunnel: u16,
    /// Calls placed on this tunnel (an L2TP/IPsec client places one).
    placed: usize,
    /// Gone without a word (`Options::vanish`): never read or sent again.
    vanished: bool,
    max_calls: usize,
    ipsec: Option<Ipsec>,
}

impl Lac {
    fn new(sock: UdpSocket, engine: l2tp::Tunnel, max_calls: usize, ipsec: Option<Ipsec>) -> Lac {
        Lac {
            sock,
            engine,
            up: false,
            closed: false,
            calls: HashMap::new(),
            next_session: 0,
            peer_tunnel: 0,
            placed: 0,
            vanished: false,
            max_calls,
            ipsec,
        }
    }
}

/// Runs `f` with randomness and loadgen's SPI counter (its clients' inbound SPIs
/// only need to be unique among its own SAs).
fn ike_env<R>(rng: &SystemRandom, next_spi: &mut u32, f: impl FnOnce(&mut ike::Env<'_>) -> R) -> R {
    let mut fill = fill(rng);
    let mut spi = || {
        *next_spi = next_spi.wrapping_add(1).max(256);
        *next_spi
    };
    let mut env = ike::Env {
        rng: &mut fill,
        spi: &mut spi,
    };
    f(&mut env)
}

/// One L2TP/IPsec client's IKE and ESP state.
struct Ipsec {
    ike: IkeSa,
    esp: Option<EspPair>,
    started: Instant,
    /// Counted as failed before its call existed.
    failed: bool,
    /// Its session came up (later IKE ends are teardown, not failures).
    up: bool,
}

struct Run {
    opts: Options,
    lacs: Vec<Lac>,
    timers: Timers<Key>,
    ppp_config: Arc<PppConfig>,
    rng: SystemRandom,
    setup: Latencies,
    rtt: Latencies,
    failures: BTreeMap<String, u64>,
    established: u64,
    failed: u64,
    placed: usize,
    pings_sent: u64,
    pings_received: u64,
    ping_sent_at: HashMap<(usize, u16, u16), Instant>,
    ike_policy: Option<Arc<IkePolicy>>,
    next_spi: u32,
}

/// Sends an L2TP message for tunnel `lac`: plain, or inside its ESP SA to the NAT-T
/// port. False if it could not be sent.
fn send_l2tp(lac: &Lac, msg: &[u8], server: SocketAddr, nat_t: SocketAddr) -> bool {
    match &lac.ipsec {
        None => lac.sock.send_to(msg, server).is_ok(),
        Some(i) => match i.esp.as_ref().and_then(|e| e.seal(msg)) {
            Some(packet) => lac.sock.send_to(&packet, nat_t).is_ok(),
            None => false,
        },
    }
}

impl Run {
    fn tunnel_config(&self) -> l2tp::TunnelConfig {
        l2tp::TunnelConfig {
            hostname: "loadgen".into(),
            secret: self
                .opts
                .secret
                .as_ref()
                .map(|s| zeroize::Zeroizing::new(s.as_bytes().to_vec())),
            ..l2tp::TunnelConfig::default()
        }
    }

    fn service_tunnel(&mut self, now: Instant, t: usize) {
        let mut events = Vec::new();
        let (server, nat_t) = (self.opts.server, self.nat_t());
        {
            let lac = &mut self.lacs[t];
            while let Some(msg) = lac.engine.poll_transmit(now) {
                send_l2tp(lac, &msg, server, nat_t);
            }
            while let Some(e) = lac.engine.poll_event() {
                events.push(e);
            }
            if let Some(when) = lac.engine.poll_timeout() {
                self.timers.schedule(when, Key::Tunnel(t));
            }
        }
        for e in events {
            self.on_tunnel_event(now, t, e);
        }
        let lac = &mut self.lacs[t];
        while let Some(msg) = lac.engine.poll_transmit(now) {
            send_l2tp(lac, &msg, server, nat_t);
        }
    }

    /// The server's NAT-T address.
    fn nat_t(&self) -> SocketAddr {
        let port = self.opts.ipsec.as_ref().map_or(4500, |i| i.nat_t_port);
        SocketAddr::new(self.opts.server.ip(), port)
    }

    /// An L2TP/IPsec client that failed before it had a call.
    fn fail_client(&mut self, t: usize, reason: &str) {
        let has_call = !self.lacs[t].calls.is_empty();
        if has_call {
            let sids: Vec<u16> = self.lacs[t].calls.keys().copied().collect();
            for sid in sids {
                self.fail(t, sid, reason);
            }
            return;
        }
        if let Some(i) = self.lacs[t].ipsec.as_mut()
            && !i.failed
        {
            i.failed = true;
            self.failed += 1;
            *self.failures.entry(reason.to_owned()).or_default() += 1;
        }
    }

    /// Runs `f` on client `t`'s IKE SA with randomness and SPIs.
    fn with_ike(&mut self, t: usize, f: impl FnOnce(&mut IkeSa, &mut ike::Env<'_>)) {
        let Some(i) = self.lacs[t].ipsec.as_mut() else {
            return;
        };
        ike_env(&self.rng, &mut self.next_spi, |env| f(&mut i.ike, env));
    }

    /// Sends what client `t`'s IKE SA has to send and acts on its events.
    fn service_ike(&mut self, now: Instant, t: usize) {
        loop {
            let Some(i) = self.lacs[t].ipsec.as_mut() else {
                return;
            };
            let out: Vec<ike::Transmit> = std::iter::from_fn(|| i.ike.poll_transmit()).collect();
            let sock = &self.lacs[t].sock;
            for tx in out {
                if tx.encap {
                    let mut b = Vec::with_capacity(tx.bytes.len() + 4);
                    b.extend_from_slice(&[0, 0, 0, 0]);
                    b.extend_from_slice(&tx.bytes);
                    let _ = sock.send_to(&b, tx.to);
                } else {
                    let _ = sock.send_to(&tx.bytes, tx.to);
                }
            }
            let Some(i) = self.lacs[t].ipsec.as_mut() else {
                return;
            };
            let Some(event) = i.ike.poll_event() else {
                break;
            };
            self.on_ike_event(now, t, event);
        }
        if let Some(when) = self.lacs[t]
            .ipsec
            .as_ref()
            .and_then(|i| i.ike.poll_timeout())
        {
            self.timers.schedule(when, Key::Ike(t));
        }
    }

    fn on_ike_event(&mut self, now: Instant, t: usize, event: ike::Event) {
        match event {
            ike::Event::Phase1Up { .. } => {
                let Some(ipsec) = self.opts.ipsec.clone() else {
                    return;
                };
                let params = QuickModeParams {
                    local_port: 1701,
                    remote_port: 1701,
                    esp: ipsec.esp,
                };
                let mut refused = false;
                self.with_ike(t, |sa, env| {
                    refused = sa.start_quick_mode(now, params, env).is_err();
                });
                if refused {
                    self.fail_client(t, "ike_quick_mode");
                }
            }
            ike::Event::ChildUp(child) => {
                let local = self.lacs[t]
                    .sock
                    .local_addr()
                    .map_or(IpAddr::V4(self.opts.bind), |a| a.ip());
                let pair = match EspPair::new(&child, local, self.opts.server.ip()) {
                    Ok(p) => p,
                    Err(_) => {
                        self.fail_client(t, "esp_keys");
                        return;
                    }
                };
                let first = self.lacs[t]
                    .ipsec
                    .as_mut()
                    .map(|i| i.esp.replace(pair).is_none())
                    .unwrap_or(false);
                // The first pair starts the client's L2TP tunnel inside it; a rekey
                // just carries on under the new SAs.
                if first {
                    let config = self.tunnel_config();
                    let engine = {
                        let mut rng = fill(&self.rng);
                        l2tp::Tunnel::lac_connect(now, &config, (t + 1) as u16, &mut rng)
                    };
                    self.lacs[t].engine = engine;
                    self.service_tunnel(now, t);
                }
            }
            ike::Event::Closed { reason } => {
                let established = self.lacs[t].ipsec.as_ref().is_some_and(|i| i.up)
                    || self.lacs[t].calls.values().any(|c| c.established);
                if !established {
                    let tag = format!("ike_{reason}")
                        .chars()
                        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                        .collect::<String>();
                    self.fail_client(t, &tag);
                }
            }
            _ => {}
        }
    }

    fn fail(&mut self, t: usize, sid: u16, reason: &str) {
        if let Some(call) = self.lacs[t].calls.get_mut(&sid)
            && !call.established
            && !call.failed
        {
            call.failed = true;
            self.failed += 1;
            *self.failures.entry(reason.to_owned()).or_default() += 1;
        }
    }

    fn on_tunnel_event(&mut self, now: Instant, t: usize, event: l2tp::Event) {
        match event {
            l2tp::Event::TunnelUp => {
                self.lacs[t].up = true;
                self.lacs[t].peer_tunnel = self.lacs[t].engine.peer_tunnel_id();
                // An L2TP/IPsec client dials its one call as soon as its tunnel is up.
                if self.lacs[t].ipsec.is_some() && self.lacs[t].placed == 0 {
                    self.place_call(now, t);
                }
            }
            l2tp::Event::SessionUp {
                local_session_id,
                peer_session_id,
                ..
            } => {
                let mut ppp = {
                    let mut rng = fill(&self.rng);
                    Ppp::client(Arc::clone(&self.ppp_config), now, &mut rng)
                };
                ppp.open(now);
                if let Some(call) = self.lacs[t].calls.get_mut(&local_session_id) {
                    call.ppp = Some(ppp);
                    call.peer_session = peer_session_id;
                }
                self.service_ppp(now, t, local_session_id);
            }
            l2tp::Event::SessionClosed {
                local_session_id, ..
            } => {
                self.fail(t, local_session_id, "l2tp_cdn");
                self.lacs[t].calls.remove(&local_session_id);
            }
            l2tp::Event::TunnelClosed { .. } => {
                let sids: Vec<u16> = self.lacs[t].calls.keys().copied().collect();
                for sid in sids {
                    self.fail(t, sid, "l2tp_tunnel_closed");
                }
                self.lacs[t].calls.clear();
                self.lacs[t].closed = true;
            }
            _ => {}
        }
    }

    fn service_ppp(&mut self, now: Instant, t: usize, sid: u16) {
        let mut events = Vec::new();
        let (server, nat_t) = (self.opts.server, self.nat_t());
        {
            let lac = &mut self.lacs[t];
            let peer_tunnel = lac.peer_tunnel;
            let Some(call) = lac.calls.get_mut(&sid) else {
                return;
            };
            let Some(ppp) = call.ppp.as_mut() else {
                return;
            };
            let mut out = Vec::new();
            while let Some((protocol, packet)) = ppp.poll_transmit() {
                out.push(frames::l2tp_ppp_message(
                    peer_tunnel,
                    call.peer_session,
                    protocol,
                    &packet,
                ));
            }
            for msg in out {
                send_l2tp(lac, &msg, server, nat_t);
            }
            let Some(call) = lac.calls.get_mut(&sid) else {
                return;
            };
            let Some(ppp) = call.ppp.as_mut() else {
                return;
            };
            while let Some(e) = ppp.poll_event() {
                events.push(e);
            }
            if let Some(when) = ppp.poll_timeout() {
                self.timers.schedule(when, Key::Session(t, sid));
            }
        }
        for e in events {
            match e {
                PppEvent::Ipv4Up { local, peer, .. } => {
                    if let Some(call) = self.lacs[t].calls.get_mut(&sid)
                        && !call.established
                    {
                        call.established = true;
                        call.local_addr = Some(local);
                        call.server_addr = Some(peer);
                        self.established += 1;
                        self.setup.record(now - call.placed);
                        if let Some(i) = self.lacs[t].ipsec.as_mut() {
                            i.up = true;
                        }
                    }
                }
                PppEvent::Closed { reason } => {
                    self.fail(t, sid, &format!("ppp_{}", reason.text().replace(' ', "_")));
                }
                _ => {}
            }
        }
    }

    /// A datagram on client `t`'s socket: IKE (on 500, or behind the non-ESP marker
    /// on 4500), a NAT keepalive, or ESP around L2TP.
    fn on_ipsec_datagram(&mut self, now: Instant, t: usize, from: SocketAddr, bytes: &mut [u8]) {
        if from.port() == self.opts.server.port() || bytes.starts_with(&[0, 0, 0, 0]) {
            let encap = from.port() != self.opts.server.port();
            let msg = if encap { &bytes[4..] } else { &bytes[..] };
            let Ok(local) = self.lacs[t].sock.local_addr() else {
                return;
            };
            let local = SocketAddr::new(IpAddr::V4(self.opts.bind), local.port());
            let msg = msg.to_vec();
            self.with_ike(t, |sa, env| {
                sa.handle_message(now, local, from, encap, &msg, env)
            });
            self.service_ike(now, t);
            return;
        }
        if bytes.len() < 8 {
            return;
        }
        let Some(esp) = self.lacs[t].ipsec.as_mut().and_then(|i| i.esp.as_mut()) else {
            return;
        };
        let Ok(range) = esp.open(bytes) else {
            return;
        };
        let l2tp = bytes[range].to_vec();
        self.on_datagram(now, t, &l2tp);
    }

    fn on_datagram(&mut self, now: Instant, t: usize, bytes: &[u8]) {
        let Ok(packet) = wire_l2tp::Packet::new_checked(bytes) else {
            return;
        };
        if packet.is_control() {
            self.lacs[t].engine.handle_message(now, bytes);
            self.service_tunnel(now, t);
            return;
        }
        let sid = packet.session_id();
        let Some((protocol, payload)) = frames::split_ppp_frame(packet.payload()) else {
            return;
        };
        if protocol == 0x0021 {
            self.on_ip(now, t, sid, payload);
            return;
        }
        let Some(ppp) = self.lacs[t]
            .calls
            .get_mut(&sid)
            .and_then(|c| c.ppp.as_mut())
        else {
            return;
        };
        ppp.handle_frame(now, protocol, payload);
        self.service_ppp(now, t, sid);
    }

    fn on_ip(&mut self, now: Instant, t: usize, sid: u16, packet: &[u8]) {
        let Some((_, sequence)) = parse_echo_reply(packet) else {
            return;
        };
        if let Some(sent) = self.ping_sent_at.remove(&(t, sid, sequence)) {
            self.pings_received += 1;
            self.rtt.record(now - sent);
        }
    }

    fn ping(&mut self, now: Instant, t: usize, sid: u16) {
        let (server, nat_t) = (self.opts.server, self.nat_t());
        let lac = &mut self.lacs[t];
        let peer_tunnel = lac.peer_tunnel;
        let Some(call) = lac.calls.get_mut(&sid) else {
            return;
        };
        let (Some(src), Some(dst)) = (call.local_addr, call.server_addr) else {
            return;
        };
        call.ping_seq = call.ping_seq.wrapping_add(1);
        let request = echo_request(src, dst, sid, call.ping_seq);
        let msg = frames::l2tp_ppp_message(peer_tunnel, call.peer_session, 0x0021, &request);
        let seq = call.ping_seq;
        if send_l2tp(lac, &msg, server, nat_t) {
            self.pings_sent += 1;
            self.ping_sent_at.insert((t, sid, seq), now);
        }
    }

    fn run_timers(&mut self, now: Instant) {
        while let Some(key) = self.timers.pop_due(now) {
            match key {
                Key::Tunnel(t) | Key::Session(t, _) if self.lacs[t].vanished => {}
                Key::Tunnel(t) => {
                    if self.lacs[t].engine.poll_timeout().is_some_and(|w| w <= now) {
                        self.lacs[t].engine.handle_timeout(now);
                        self.service_tunnel(now, t);
                    }
                }
                Key::Ike(t) if self.lacs[t].vanished => {}
                Key::Ike(t) => {
                    let due = self.lacs[t]
                        .ipsec
                        .as_ref()
                        .and_then(|i| i.ike.poll_timeout())
                        .is_some_and(|w| w <= now);
                    if due {
                        self.with_ike(t, |sa, env| sa.handle_timeout(now, env));
                        self.service_ike(now, t);
                    }
                }
                Key::Session(t, sid) => {
                    let Some(ppp) = self.lacs[t]
                        .calls
                        .get_mut(&sid)
                        .and_then(|c| c.ppp.as_mut())
                    else {
                        continue;
                    };
                    if ppp.poll_timeout().is_some_and(|w| w <= now) {
                        ppp.handle_timeout(now);
                        self.service_ppp(now, t, sid);
                    }
                }
            }
        }
    }

    /// One round of waiting for sockets or the next timer (at most `cap`).
    fn turn(&mut self, buf: &mut [u8], ready: &mut Vec<bool>, cap: Duration) {
        let now = Instant::now();
        let wait = self
            .timers
            .next_deadline()
            .map_or(cap, |d| d.saturating_duration_since(now).min(cap));
        let fds: Vec<RawFd> = self.lacs.iter().map(|l| l.sock.as_raw_fd()).collect();
        if wait_readable(&fds, Some(wait), ready).is_err() {
            return;
        }
        let now = Instant::now();
        let readable: Vec<usize> = ready
            .iter()
            .enumerate()
            .filter_map(|(t, r)| r.then_some(t))
            .collect();
        for t in readable {
            for _ in 0..256 {
                let Ok((n, from)) = self.lacs[t].sock.recv_from(buf) else {
                    break;
                };
                if self.lacs[t].ipsec.is_some() {
                    let mut bytes = buf[..n].to_vec();
                    self.on_ipsec_datagram(now, t, from, &mut bytes);
                } else {
                    let bytes = buf[..n].to_vec();
                    self.on_datagram(now, t, &bytes);
                }
            }
        }
        self.run_timers(now);
    }

    fn settled(&self) -> bool {
        self.placed >= self.opts.sessions
            && self.established + self.failed >= self.opts.sessions as u64
    }

    fn place_call(&mut self, now: Instant, t: usize) {
        let lac = &mut self.lacs[t];
        lac.next_session = lac.next_session.wrapping_add(1).max(1);
        let sid = lac.next_session;
        lac.engine.place_call(now, sid);
        lac.placed += 1;
        // An L2TP/IPsec client's setup started with its first IKE message.
        let placed = lac.ipsec.as_ref().map_or(now, |i| i.started);
        let ipsec = lac.ipsec.is_some();
        lac.calls.insert(
            sid,
            Call {
                placed,
                ppp: None,
                peer_session: 0,
                local_addr: None,
                server_addr: None,
                established: false,
                failed: false,
                ping_seq: 0,
            },
        );
        // (An L2TP/IPsec client was counted when its IKE started.)
        if !ipsec {
            self.placed += 1;
        }
        self.service_tunnel(now, t);
    }

    /// Starts L2TP/IPsec client number `self.lacs.len()`: its own socket, Main Mode.
    fn start_client(&mut self, now: Instant) -> std::io::Result<()> {
        let (Some(ipsec), Some(policy)) = (self.opts.ipsec.clone(), self.ike_policy.clone()) else {
            return Ok(());
        };
        let t = self.lacs.len();
        let sock = UdpSocket::bind((self.opts.bind, 0))?;
        sock.set_nonblocking(true)?;
        let local = SocketAddr::new(IpAddr::V4(self.opts.bind), sock.local_addr()?.port());
        // Each client has its own private address as its ID, as behind a NAT.
        let id = Ipv4Addr::from(0xc0a8_0000u32 + t as u32 + 1);
        let params = InitiatorParams {
            psk: zeroize::Zeroizing::new(ipsec.psk.as_bytes().to_vec()),
            local_id: Identity::Ipv4(id),
            local,
            remote: self.opts.server,
            nat_t_port: ipsec.nat_t_port,
            force_encap: true,
            initial_contact: true,
        };
        let ike = ike_env(&self.rng, &mut self.next_spi, |env| {
            IkeSa::initiate(now, policy, params, env)
        });
        // The L2TP engine is replaced when the SAs are up (see ChildUp); this one
        // never sends.
        let engine = {
            let mut rng = fill(&self.rng);
            l2tp::Tunnel::lac_connect(now, &self.tunnel_config(), (t + 1) as u16, &mut rng)
        };
        self.lacs.push(Lac::new(
            sock,
            engine,
            1,
            Some(Ipsec {
                ike,
                esp: None,
                started: now,
                failed: false,
                up: false,
            }),
        ));
        self.placed += 1;
        self.service_ike(now, t);
        Ok(())
    }
}

/// Runs the whole scenario and returns the report. `server_rss` reads the daemon's
/// resident memory when loadgen started it (None otherwise); it is sampled before
/// the first call and once every session is set up.
pub fn run(opts: Options, server_rss: &dyn Fn() -> Option<u64>) -> std::io::Result<Report> {
    let rss_idle = server_rss();
    let rng = SystemRandom::new();
    let mut ppp_config = PppConfig {
        auth_methods: opts.auth.clone(),
        credentials: Some(Credentials {
            username: opts.user.as_bytes().to_vec(),
            password: ppp::util::Secret::new(opts.password.as_bytes().to_vec()),
        }),
        ..PppConfig::default()
    };
    ppp_config.ipv6 = false;
    let mut run = Run {
        opts: opts.clone(),
        lacs: Vec::with_capacity(opts.tunnels),
        timers: Timers::new(),
        ppp_config: Arc::new(ppp_config),
        rng,
        setup: Latencies::new(),
        rtt: Latencies::new(),
        failures: BTreeMap::new(),
        established: 0,
        failed: 0,
        placed: 0,
        pings_sent: 0,
        pings_received: 0,
        ping_sent_at: HashMap::new(),
        ike_policy: opts.ipsec.as_ref().map(|i| {
            Arc::new(IkePolicy {
                phase1: i.ike.clone(),
                esp: i.esp.clone(),
                ..IkePolicy::default()
            })
        }),
        next_spi: 0x1000,
    };
    let start = Instant::now();
    let config = run.tunnel_config();
    if opts.ipsec.is_some() {
        // One socket per client, and a few for everything else.
        let want = opts.sessions as u64 + 256;
        let got = shardvpn::runtime::rlimit::raise_nofile(want)?;
        if got < want {
            return Err(std::io::Error::other(format!(
                "{} L2TP/IPsec clients need {want} open files, the limit is {got} \
                 (raise the hard limit: ulimit -Hn)",
                opts.sessions
            )));
        }
    }
    let lac_count = if opts.ipsec.is_some() {
        0
    } else {
        opts.tunnels.max(1)
    };
    for t in 0..lac_count {
        let sock = UdpSocket::bind((opts.bind, 0))?;
        sock.set_nonblocking(true)?;
        // One LAC socket carries every PPP frame of its share of the sessions.
        shardvpn::runtime::sockbuf::set_recv_buffer(&sock, LAC_RECV_BUFFER)?;
        let engine = {
            let mut rng = fill(&run.rng);
            l2tp::Tunnel::lac_connect(start, &config, (t + 1) as u16, &mut rng)
        };
        run.lacs.push(Lac::new(sock, engine, usize::MAX, None));
        run.service_tunnel(start, t);
    }
    let mut buf = vec![0u8; 65536];
    let mut ready = Vec::new();
    let deadline = start + opts.setup_timeout;
    let interval = opts
        .rate
        .map(|r| Duration::from_secs_f64(1.0 / r.max(0.001)));
    let mut next_call = start;
    let mut rr = 0usize;
    let mut progress = Progress::new();
    while !run.settled() && Instant::now() < deadline {
        let now = Instant::now();
        progress.show(now, run.established, run.failed, opts.sessions);
        // Place calls on tunnels that are up, paced by --rate.
        while run.placed < opts.sessions
            && now >= next_call
            && run.placed - ((run.established + run.failed) as usize) < opts.max_outstanding.max(1)
        {
            if opts.ipsec.is_some() {
                run.start_client(now)?;
            } else {
                let n = run.lacs.len();
                let Some(t) = (0..n)
                    .map(|i| (rr + i) % n)
                    .find(|&t| run.lacs[t].up && run.lacs[t].placed < run.lacs[t].max_calls)
                else {
                    break;
                };
                rr = t + 1;
                run.place_call(now, t);
            }
            if let Some(i) = interval {
                next_call += i;
            }
        }
        run.turn(&mut buf, &mut ready, Duration::from_millis(10));
    }
    progress.last = None;
    progress.show(Instant::now(), run.established, run.failed, opts.sessions);
    progress.finish();
    // Calls (and L2TP/IPsec clients without one) still not up count as timed out.
    for t in 0..run.lacs.len() {
        let sids: Vec<u16> = run.lacs[t].calls.keys().copied().collect();
        for sid in sids {
            run.fail(t, sid, "setup_timeout");
        }
        if run.lacs[t].ipsec.is_some() {
            run.fail_client(t, "setup_timeout");
        }
    }
    let unplaced = opts.sessions.saturating_sub(run.placed) as u64;
    if unplaced > 0 {
        run.failed += unplaced;
        *run.failures.entry("not_placed".into()).or_default() += unplaced;
    }
    let setup_elapsed = start.elapsed();
    // Let the last commands settle in the daemon before sampling its memory.
    let rss_up = server_rss();

    // NAT rebinding: some clients carry on from a new source port.
    let mut rebound = 0;
    for t in 0..run.lacs.len() {
        if rebound >= opts.nat_rebind {
            break;
        }
        let up = run.lacs[t].ipsec.as_ref().is_some_and(|i| i.up);
        if !up {
            continue;
        }
        let sock = UdpSocket::bind((opts.bind, 0))?;
        sock.set_nonblocking(true)?;
        run.lacs[t].sock = sock;
        rebound += 1;
    }

    // Traffic: pings round-robin over established sessions.
    if opts.traffic_pps > 0 {
        let established: Vec<(usize, u16)> = run
            .lacs
            .iter()
            .enumerate()
            .flat_map(|(t, l)| {
                l.calls
                    .iter()
                    .filter(|(_, c)| c.established)
                    .map(move |(sid, _)| (t, *sid))
            })
            .collect();
        let gap = Duration::from_secs_f64(1.0 / opts.traffic_pps as f64);
        let end = Instant::now() + opts.duration;
        let mut next = Instant::now();
        let mut i = 0usize;
        while Instant::now() < end && !established.is_empty() {
            let now = Instant::now();
            while now >= next {
                let (t, sid) = established[i % established.len()];
                run.ping(now, t, sid);
                i += 1;
                next += gap;
            }
            run.turn(&mut buf, &mut ready, gap.min(Duration::from_millis(10)));
        }
        // Late replies.
        let grace = Instant::now() + Duration::from_secs(1);
        while Instant::now() < grace && run.pings_received < run.pings_sent {
            run.turn(&mut buf, &mut ready, Duration::from_millis(10));
        }
    }

    // Teardown: LCP Terminate, then CDN, then StopCCN, bounded. Tunnels are closed at
    // most `max_outstanding` at a time, as calls were set up: 10,000 L2TP/IPsec clients
    // hanging up in the same millisecond is a storm, not a teardown.
    let window = opts.max_outstanding.max(1);
    let end =
        Instant::now() + Duration::from_secs(10) + Duration::from_millis(run.lacs.len() as u64);
    // Vanishing clients: their sockets close, nothing more is sent.
    let mut vanished = 0;
    for t in 0..run.lacs.len() {
        if vanished >= opts.vanish {
            break;
        }
        if !run.lacs[t].ipsec.as_ref().is_some_and(|i| i.up) {
            continue;
        }
        // A socket nobody talks to stands in for the closed one.
        run.lacs[t].sock = UdpSocket::bind((opts.bind, 0))?;
        run.lacs[t].vanished = true;
        run.lacs[t].closed = true;
        run.lacs[t].calls.clear();
        vanished += 1;
    }
    let mut next = 0usize;
    loop {
        let now = Instant::now();
        let mut closing = run.lacs[..next]
            .iter()
            .filter(|l| !l.closed && l.up)
            .count();
        while next < run.lacs.len() && closing < window {
            let t = next;
            next += 1;
            if run.lacs[t].vanished {
                continue;
            }
            if run.lacs[t].up && !run.lacs[t].closed {
                closing += 1;
            }
            let sids: Vec<u16> = run.lacs[t].calls.keys().copied().collect();
            for sid in sids {
                if let Some(ppp) = run.lacs[t].calls.get_mut(&sid).and_then(|c| c.ppp.as_mut()) {
                    ppp.close(now, ppp::CloseReason::Admin);
                }
                run.service_ppp(now, t, sid);
                run.lacs[t].engine.close_session(now, sid, 3);
            }
            run.lacs[t].calls.clear();
            run.lacs[t].engine.close(now, 1);
            run.service_tunnel(now, t);
        }
        let done = next >= run.lacs.len() && run.lacs.iter().all(|l| l.closed || !l.up);
        if done || now >= end {
            break;
        }
        run.turn(&mut buf, &mut ready, Duration::from_millis(10));
    }
    let teardown_clean = run.lacs.iter().all(|l| l.closed || !l.up);
    // L2TP/IPsec: then the SAs go, with Delete notifications.
    if opts.ipsec.is_some() {
        let now = Instant::now();
        for t in 0..run.lacs.len() {
            if run.lacs[t].vanished {
                continue;
            }
            run.with_ike(t, |sa, env| sa.close(now, env));
            run.service_ike(now, t);
        }
    }

    Ok(Report {
        mode: if opts.ipsec.is_some() {
            "l2tp-ipsec".into()
        } else {
            "l2tp".into()
        },
        sessions_requested: opts.sessions as u64,
        sessions_established: run.established,
        sessions_failed: run.failed,
        failures: run.failures,
        setup_rate_per_s: run.established as f64 / setup_elapsed.as_secs_f64().max(1e-9),
        setup_latency_ms: run.setup.percentiles(),
        traffic: Traffic {
            sent: run.pings_sent,
            received: run.pings_received,
            rtt_ms: run.rtt.percentiles(),
        },
        teardown_clean,
        server_rss_bytes: rss_up,
        server_rss_per_session_bytes: match (rss_idle, rss_up) {
            (Some(idle), Some(up)) if run.established > 0 => {
                Some(up.saturating_sub(idle) / run.established)
            }
            _ => None,
        },
        dropped: BTreeMap::new(),
    })
}

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
//!
//! After setup and traffic come the phases of `scale` (storm, then hold with churn).
//! A storm restarts every non-bystander LAC in place (same socket, a new tunnel ID,
//! nothing said to the old tunnel; what still arrives for it is dropped) or has every
//! L2TP/IPsec client start a new Main Mode with INITIAL-CONTACT on its own socket
//! (no Delete; deaf until then). A churned LAC session gets LCP Terminate and a CDN
//! and a new call on the same tunnel; a churned L2TP/IPsec client hangs up in full
//! (CDN, StopCCN, Deletes) and dials again from a new source port. Bystanders' own
//! LCP echoes are told from the engine's by a mark in their data; a bystander
//! tunnel's HELLO counts as answered when an Nr acknowledges it, a bystander's
//! R-U-THERE when an authenticated Informational arrives that asks for no answer.

use std::collections::{BTreeMap, HashMap, VecDeque};
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

use crate::common::{
    Echoes, KEEPALIVE_INTERVAL, Keepalives, Origin, PhaseCount, Progress, STORM_REDIAL_DELAY,
    echo_request, fill, lcp_echo_request, parse_echo_reply, parse_lcp_echo_reply,
};
use crate::esp_client::EspPair;
use crate::report::{self, Latencies, Report, Traffic};
use crate::scale::{Probe, Scale};

/// Datagrams read per turn from L2TP/IPsec clients other than bystanders.
const IPSEC_DATAGRAMS_PER_TURN: usize = 256;
/// L2TP/IPsec clients restarted per storm turn (each starts a key exchange).
const STORM_RESTARTS_PER_TURN: usize = 256;

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
    /// Hold, churn, storm and bystanders (see `scale`).
    pub scale: Scale,
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
    origin: Origin,
    /// A bystander's own LCP echoes.
    echoes: Option<Echoes>,
    /// Counted as lost (closed without loadgen asking) already.
    lost: bool,
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
    /// Left alone by the storm; sends its own keepalives.
    bystander: bool,
    /// A bystander tunnel's HELLO awaiting its acknowledgment: (Ns, sent at).
    hello_pending: Option<(u16, Instant)>,
    /// Storm: no call is placed on this tunnel before then (a refused call is
    /// redialled after a pause).
    not_before: Option<Instant>,
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
            bystander: false,
            hello_pending: None,
            not_before: None,
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
    origin: Origin,
    /// A bystander's R-U-THEREs awaiting their acknowledgments: sent at, oldest
    /// first (each is acknowledged on its own).
    dpd_pending: VecDeque<Instant>,
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
    /// The bystanders' policy: R-U-THERE every second.
    bystander_policy: Option<Arc<IkePolicy>>,
    next_spi: u32,
    churn: PhaseCount,
    storm: PhaseCount,
    keepalive: Keepalives,
    /// Established sessions that closed without loadgen asking.
    lost: u64,
    /// The final teardown runs: closes are ours, not losses.
    tearing_down: bool,
    bytes_received: u64,
    /// Local tunnel IDs for the storm's new tunnels.
    next_tunnel_id: u16,
    /// Tunnels (l2tp) or clients (l2tp-ipsec) of the bystanders.
    bystander_lacs: Vec<usize>,
    churn_torn_down: u64,
    /// Storm: L2TP/IPsec clients to reconnect again, and when.
    storm_redials: VecDeque<(Instant, usize)>,
    /// Where the last turn started serving sockets (fairness under a budget).
    turn_offset: usize,
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

/// The Ns of an outgoing HELLO (§6.5); None for any other message.
fn hello_ns(msg: &[u8]) -> Option<u16> {
    let packet = wire_l2tp::Packet::new_checked(msg).ok()?;
    if !packet.is_control() {
        return None;
    }
    match packet.message_type() {
        Ok(Some(wire_l2tp::avp::MessageType::Hello)) => packet.ns(),
        _ => None,
    }
}

impl Run {
    /// The tunnel settings of an emulated LAC; a bystander's sends a HELLO after a
    /// second of silence.
    fn bystander_tunnel_config(&self) -> l2tp::TunnelConfig {
        l2tp::TunnelConfig {
            hello_interval: KEEPALIVE_INTERVAL,
            ..self.tunnel_config()
        }
    }

    /// Sends what tunnel `t`'s engine has queued, noting a bystander's HELLOs.
    fn flush_tunnel(&mut self, now: Instant, t: usize) {
        let (server, nat_t) = (self.opts.server, self.nat_t());
        let watch = self.keepalive.counting() && self.lacs[t].bystander;
        let lac = &mut self.lacs[t];
        while let Some(msg) = lac.engine.poll_transmit(now) {
            if watch
                && let Some(ns) = hello_ns(&msg)
                && lac.hello_pending.is_none_or(|(p, _)| p != ns)
            {
                self.keepalive.hello.sent += 1;
                // The oldest unacknowledged one is the one timed.
                lac.hello_pending.get_or_insert((ns, now));
            }
            send_l2tp(lac, &msg, server, nat_t);
        }
    }

    /// A control message's Nr on a bystander tunnel acknowledges its HELLO.
    fn hello_acked(&mut self, now: Instant, t: usize, nr: u16) {
        let lac = &mut self.lacs[t];
        if let Some((ns, sent)) = lac.hello_pending
            && (1..=0x8000).contains(&nr.wrapping_sub(ns))
        {
            lac.hello_pending = None;
            if self.keepalive.on {
                self.keepalive.hello.answered(now - sent);
            }
        }
    }

    /// Counts a call (or client) of `origin` that came up after `latency`.
    fn count_up(&mut self, origin: Origin, now: Instant, latency: Duration) {
        let phase = match origin {
            Origin::Setup => {
                self.established += 1;
                self.setup.record(latency);
                return;
            }
            Origin::Churn => &mut self.churn,
            Origin::Storm => &mut self.storm,
        };
        phase.established += 1;
        phase.latency.record(latency);
        phase.last_up = Some(now);
    }

    /// Counts a call (or client) of `origin` that failed.
    fn count_fail(&mut self, origin: Origin, reason: &str) {
        let (failed, failures) = match origin {
            Origin::Setup => (&mut self.failed, &mut self.failures),
            Origin::Churn => (&mut self.churn.failed, &mut self.churn.failures),
            Origin::Storm => (&mut self.storm.failed, &mut self.storm.failures),
        };
        *failed += 1;
        *failures.entry(reason.to_owned()).or_default() += 1;
    }

    /// An established call closed without loadgen asking (`why`: how).
    fn lose(&mut self, t: usize, sid: u16, why: &str) {
        if self.tearing_down {
            return;
        }
        let Some(call) = self.lacs[t].calls.get_mut(&sid) else {
            return;
        };
        if !call.established || call.lost {
            return;
        }
        call.lost = true;
        self.lost += 1;
        if let Some(e) = call.echoes.as_mut()
            && !e.lost
        {
            e.lost = true;
            self.keepalive.lose(why);
        }
    }

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
        self.flush_tunnel(now, t);
        {
            let lac = &mut self.lacs[t];
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
        self.flush_tunnel(now, t);
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
            let origin = i.origin;
            if origin == Origin::Storm && self.storm.retrying {
                self.storm_redial(t, reason);
                return;
            }
            i.failed = true;
            self.count_fail(origin, reason);
        }
    }

    /// Runs `f` on client `t`'s IKE SA with randomness and SPIs.
    fn with_ike(&mut self, t: usize, f: impl FnOnce(&mut IkeSa, &mut ike::Env<'_>)) {
        let Some(i) = self.lacs[t].ipsec.as_mut() else {
            return;
        };
        ike_env(&self.rng, &mut self.next_spi, |env| f(&mut i.ike, env));
    }

    /// Sends what client `t`'s IKE SA has to send and acts on its events; returns
    /// how many messages it sent.
    fn service_ike(&mut self, now: Instant, t: usize) -> usize {
        let mut sent = 0;
        loop {
            let Some(i) = self.lacs[t].ipsec.as_mut() else {
                return sent;
            };
            let out: Vec<ike::Transmit> = std::iter::from_fn(|| i.ike.poll_transmit()).collect();
            sent += out.len();
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
                return sent;
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
        sent
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
                let sids: Vec<u16> = self.lacs[t].calls.keys().copied().collect();
                let why = format!("ike_{reason}")
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect::<String>();
                for sid in sids {
                    self.lose(t, sid, &why);
                }
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
            let origin = call.origin;
            if origin == Origin::Storm && self.storm.retrying {
                self.storm_redial(t, reason);
                return;
            }
            self.count_fail(origin, reason);
        }
    }

    /// A storm reconnect failed: like a real client, it dials again after a pause.
    fn storm_redial(&mut self, t: usize, reason: &str) {
        let again = Instant::now() + STORM_REDIAL_DELAY;
        self.storm.retry(reason);
        let lac = &mut self.lacs[t];
        if let Some(i) = lac.ipsec.as_mut() {
            // Deaf until it starts over (see the storm loop).
            i.failed = true;
            lac.vanished = true;
            self.storm_redials.push_back((again, t));
        } else {
            lac.placed = lac.placed.saturating_sub(1);
            lac.not_before = Some(again);
        }
    }

    fn on_tunnel_event(&mut self, now: Instant, t: usize, event: l2tp::Event) {
        match event {
            l2tp::Event::TunnelUp => {
                self.lacs[t].up = true;
                self.lacs[t].peer_tunnel = self.lacs[t].engine.peer_tunnel_id();
                // An L2TP/IPsec client dials its one call as soon as its tunnel is up.
                if self.lacs[t].ipsec.is_some() && self.lacs[t].placed == 0 {
                    self.place_call(now, t, Origin::Setup);
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
                self.lose(t, local_session_id, "l2tp_cdn");
                self.fail(t, local_session_id, "l2tp_cdn");
                self.lacs[t].calls.remove(&local_session_id);
            }
            l2tp::Event::TunnelClosed { .. } => {
                let sids: Vec<u16> = self.lacs[t].calls.keys().copied().collect();
                for sid in sids {
                    self.lose(t, sid, "l2tp_tunnel_closed");
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
                        let (origin, latency) = (call.origin, now - call.placed);
                        self.count_up(origin, now, latency);
                        if let Some(i) = self.lacs[t].ipsec.as_mut() {
                            i.up = true;
                        }
                    }
                }
                PppEvent::Closed { reason } => {
                    let why = format!("ppp_{}", reason.text().replace(' ', "_"));
                    self.lose(t, sid, &why);
                    self.fail(t, sid, &why);
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
            let errors = |i: &Ipsec| {
                let st = i.ike.stats();
                st.malformed + st.bad_hash
            };
            let before = self.lacs[t].ipsec.as_ref().map(errors);
            self.with_ike(t, |sa, env| {
                sa.handle_message(now, local, from, encap, &msg, env)
            });
            let after = self.lacs[t].ipsec.as_ref().map(errors);
            let sent = self.service_ike(now, t);
            // A bystander's R-U-THERE is answered by an authenticated Informational
            // that asks for nothing back (the server's own R-U-THERE would).
            const INFORMATIONAL: u8 = 5;
            if self.keepalive.on
                && self.lacs[t].bystander
                && msg.get(18) == Some(&INFORMATIONAL)
                && before == after
                && sent == 0
                && let Some(sent_at) = self.lacs[t]
                    .ipsec
                    .as_mut()
                    .and_then(|i| i.dpd_pending.pop_front())
            {
                self.keepalive.dpd.answered(now - sent_at);
            }
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
        // After the storm a restarted LAC's old tunnel is gone: what the server
        // still sends to it is not for the new one. (ID 0: a message for a tunnel
        // whose ID the server never learned, the engine's to judge.)
        let id = packet.tunnel_id();
        if id != 0 && id != self.lacs[t].engine.local_id() {
            return;
        }
        if packet.is_control() {
            if self.lacs[t].bystander
                && let Some(nr) = packet.nr()
            {
                self.hello_acked(now, t, nr);
            }
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
        if protocol == 0xc021
            && let Some(seq) = parse_lcp_echo_reply(payload)
        {
            let rtt = self.lacs[t]
                .calls
                .get_mut(&sid)
                .and_then(|c| c.echoes.as_mut())
                .and_then(|e| e.answered(now, seq));
            if let Some(rtt) = rtt
                && self.keepalive.on
            {
                self.keepalive.lcp.answered(rtt);
            }
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
            self.bytes_received += packet.len() as u64;
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
                        let dpd = |r: &Run| {
                            r.lacs[t]
                                .ipsec
                                .as_ref()
                                .map_or(0, |i| i.ike.stats().dpd_sent)
                        };
                        let before = dpd(self);
                        self.with_ike(t, |sa, env| sa.handle_timeout(now, env));
                        if dpd(self) > before && self.keepalive.counting() && self.lacs[t].bystander
                        {
                            self.keepalive.dpd.sent += 1;
                            if let Some(i) = self.lacs[t].ipsec.as_mut() {
                                i.dpd_pending.push_back(now);
                            }
                        }
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
        // Bystanders first, then the rest from a point that moves each turn.
        let n = ready.len().max(1);
        self.turn_offset = (self.turn_offset + 1) % n;
        let mut readable: Vec<usize> = ready
            .iter()
            .enumerate()
            .filter_map(|(t, r)| r.then_some(t))
            .collect();
        let offset = self.turn_offset;
        readable.sort_by_key(|&t| (!self.lacs[t].bystander, (t + n - offset) % n));
        // An L2TP/IPsec client's datagram may cost a key exchange: with thousands of
        // them dialling at once, an unbounded turn would take seconds and leave the
        // bystanders' answers unread. What is left waits in the sockets.
        let mut budget = IPSEC_DATAGRAMS_PER_TURN;
        for t in readable {
            let metered = self.lacs[t].ipsec.is_some() && !self.lacs[t].bystander;
            if metered && budget == 0 {
                continue;
            }
            for _ in 0..256 {
                if metered {
                    if budget == 0 {
                        break;
                    }
                    budget -= 1;
                }
                let Ok((n, from)) = self.lacs[t].sock.recv_from(buf) else {
                    break;
                };
                // A client the storm dropped is deaf until it restarts.
                if self.lacs[t].vanished {
                    continue;
                }
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

    /// Sends the bystanders' LCP echoes that are due; a bystander whose echo is
    /// overdue is lost.
    fn bystander_tick(&mut self, now: Instant) {
        let (server, nat_t) = (self.opts.server, self.nat_t());
        for k in 0..self.bystander_lacs.len() {
            let t = self.bystander_lacs[k];
            let lac = &mut self.lacs[t];
            let peer_tunnel = lac.peer_tunnel;
            let mut out = Vec::new();
            for call in lac.calls.values_mut() {
                let Some(e) = call.echoes.as_mut() else {
                    continue;
                };
                if e.lost || !call.established {
                    continue;
                }
                if e.overdue(now) {
                    e.lost = true;
                    self.keepalive.lose("echo_unanswered");
                    continue;
                }
                let Some(seq) = e.due(now) else {
                    continue;
                };
                let magic = call
                    .ppp
                    .as_ref()
                    .map_or(0, |p| p.link_options().local_magic);
                out.push(frames::l2tp_ppp_message(
                    peer_tunnel,
                    call.peer_session,
                    0xc021,
                    &lcp_echo_request(seq, magic),
                ));
            }
            for msg in out {
                self.keepalive.lcp.sent += 1;
                send_l2tp(lac, &msg, server, nat_t);
            }
        }
    }

    /// Marks bystanders whose echo is overdue as lost, sending nothing.
    fn bystander_tick_overdue_only(&mut self, now: Instant) {
        for k in 0..self.bystander_lacs.len() {
            let t = self.bystander_lacs[k];
            for call in self.lacs[t].calls.values_mut() {
                if let Some(e) = call.echoes.as_mut()
                    && !e.lost
                    && e.overdue(now)
                {
                    e.lost = true;
                    self.keepalive.lose("echo_unanswered");
                }
            }
        }
    }

    /// Bystander keepalives still unanswered.
    fn echoes_pending(&self) -> bool {
        self.bystander_lacs.iter().any(|&t| {
            let lac = &self.lacs[t];
            lac.hello_pending.is_some()
                || lac
                    .ipsec
                    .as_ref()
                    .is_some_and(|i| !i.dpd_pending.is_empty())
                || lac
                    .calls
                    .values()
                    .any(|c| c.echoes.as_ref().is_some_and(|e| !e.lost && e.pending()))
        })
    }

    /// A local tunnel ID no current tunnel has, for a restarted LAC.
    fn alloc_tunnel_id(&mut self) -> u16 {
        loop {
            self.next_tunnel_id = self.next_tunnel_id.wrapping_add(1).max(1);
            let id = self.next_tunnel_id;
            if !self.lacs.iter().any(|l| l.engine.local_id() == id) {
                return id;
            }
        }
    }

    /// The storm's outage: every session but the bystanders' is gone at once. An
    /// emulated LAC restarts (a new tunnel from a new tunnel ID on the same socket,
    /// no StopCCN for the old one); an L2TP/IPsec client goes deaf until it
    /// reconnects (no Delete). Returns the sessions dropped and the L2TP/IPsec
    /// clients to restart.
    fn storm_drop(&mut self, now: Instant) -> (u64, VecDeque<usize>) {
        let mut dropped = 0;
        let mut clients = VecDeque::new();
        let config = self.tunnel_config();
        for t in 0..self.lacs.len() {
            if self.lacs[t].bystander || self.lacs[t].vanished {
                continue;
            }
            let up = self.lacs[t]
                .calls
                .values()
                .filter(|c| c.established && !c.lost)
                .count();
            if up == 0 {
                continue;
            }
            dropped += up as u64;
            if self.lacs[t].ipsec.is_some() {
                self.lacs[t].vanished = true;
                self.lacs[t].calls.clear();
                clients.push_back(t);
                continue;
            }
            let id = self.alloc_tunnel_id();
            let engine = {
                let mut rng = fill(&self.rng);
                l2tp::Tunnel::lac_connect(now, &config, id, &mut rng)
            };
            let lac = &mut self.lacs[t];
            lac.engine = engine;
            lac.calls.clear();
            lac.up = false;
            lac.closed = false;
            lac.placed = 0;
            lac.max_calls = up;
            lac.peer_tunnel = 0;
        }
        // The restarted LACs all send their SCCRQ at once.
        for t in 0..self.lacs.len() {
            if !self.lacs[t].bystander && self.lacs[t].ipsec.is_none() && !self.lacs[t].up {
                self.service_tunnel(now, t);
            }
        }
        (dropped, clients)
    }

    /// Tears session `(t, sid)` down cleanly and sets up its replacement (same user,
    /// a fresh session); returns the replacement's queue entry.
    fn churn_one(&mut self, now: Instant, t: usize, sid: u16) -> std::io::Result<(usize, u16)> {
        self.churn_torn_down += 1;
        if self.lacs[t].ipsec.is_some() {
            // The client hangs up as at the end of a run (L2TP inside ESP, then the
            // Deletes) and dials again from a new source port.
            let sids: Vec<u16> = self.lacs[t].calls.keys().copied().collect();
            for sid in sids {
                if let Some(ppp) = self.lacs[t]
                    .calls
                    .get_mut(&sid)
                    .and_then(|c| c.ppp.as_mut())
                {
                    ppp.close(now, ppp::CloseReason::Admin);
                }
                self.service_ppp(now, t, sid);
                self.lacs[t].engine.close_session(now, sid, 3);
            }
            self.lacs[t].calls.clear();
            self.lacs[t].engine.close(now, 1);
            self.service_tunnel(now, t);
            self.with_ike(t, |sa, env| sa.close(now, env));
            self.service_ike(now, t);
            self.restart_client(now, t, Origin::Churn, true)?;
            return Ok((t, 0));
        }
        if let Some(ppp) = self.lacs[t]
            .calls
            .get_mut(&sid)
            .and_then(|c| c.ppp.as_mut())
        {
            ppp.close(now, ppp::CloseReason::Admin);
        }
        self.service_ppp(now, t, sid);
        self.lacs[t].engine.close_session(now, sid, 3);
        self.lacs[t].calls.remove(&sid);
        self.service_tunnel(now, t);
        let new = self.place_call(now, t, Origin::Churn);
        Ok((t, new))
    }

    /// Whether queue entry `(t, sid)` is a session up now (L2TP/IPsec: `sid` 0, the
    /// client's one session), still setting up, or neither.
    fn churn_candidate(&self, t: usize, sid: u16) -> Option<bool> {
        let lac = &self.lacs[t];
        if lac.bystander || lac.vanished || lac.closed {
            return None;
        }
        let call = if sid == 0 {
            lac.calls.values().next()
        } else {
            lac.calls.get(&sid)
        };
        match call {
            Some(c) if c.established && !c.lost => Some(true),
            Some(c) if !c.failed && !c.established => Some(false),
            None if sid == 0 && lac.ipsec.as_ref().is_some_and(|i| !i.failed) => Some(false),
            _ => None,
        }
    }

    fn settled(&self) -> bool {
        self.placed >= self.opts.sessions
            && self.established + self.failed >= self.opts.sessions as u64
    }

    fn place_call(&mut self, now: Instant, t: usize, origin: Origin) -> u16 {
        let lac = &mut self.lacs[t];
        // Churn goes round the 16-bit space; skip IDs still in use.
        loop {
            lac.next_session = lac.next_session.wrapping_add(1).max(1);
            if !lac.calls.contains_key(&lac.next_session) {
                break;
            }
        }
        let sid = lac.next_session;
        let bystander = lac.bystander;
        lac.engine.place_call(now, sid);
        lac.placed += 1;
        // An L2TP/IPsec client's setup started with its first IKE message.
        let placed = lac.ipsec.as_ref().map_or(now, |i| i.started);
        let ipsec = lac.ipsec.is_some();
        let origin = lac.ipsec.as_ref().map_or(origin, |i| i.origin);
        lac.calls.insert(
            sid,
            Call {
                placed,
                origin,
                echoes: bystander.then(Echoes::default),
                lost: false,
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
            match origin {
                Origin::Setup => self.placed += 1,
                Origin::Churn => self.churn.placed += 1,
                Origin::Storm => self.storm.placed += 1,
            }
        }
        self.service_tunnel(now, t);
        sid
    }

    /// Starts L2TP/IPsec client number `self.lacs.len()`: its own socket, Main Mode.
    fn start_client(&mut self, now: Instant) -> std::io::Result<()> {
        if self.opts.ipsec.is_none() {
            return Ok(());
        }
        let t = self.lacs.len();
        let sock = UdpSocket::bind((self.opts.bind, 0))?;
        sock.set_nonblocking(true)?;
        let bystander = t < self.opts.scale.bystanders;
        let lac = self.new_client(now, t, sock, Origin::Setup, bystander)?;
        self.lacs.push(lac);
        self.placed += 1;
        self.service_ike(now, t);
        Ok(())
    }

    /// L2TP/IPsec client `t` starts over with a new IKE negotiation (INITIAL-CONTACT,
    /// no Delete for what it had): on its own socket after a storm (as a client
    /// behind a NAT whose mapping survived), on a new one after a churn teardown.
    fn restart_client(
        &mut self,
        now: Instant,
        t: usize,
        origin: Origin,
        new_socket: bool,
    ) -> std::io::Result<()> {
        let sock = if new_socket {
            let sock = UdpSocket::bind((self.opts.bind, 0))?;
            sock.set_nonblocking(true)?;
            sock
        } else {
            self.lacs[t].sock.try_clone()?
        };
        let bystander = self.lacs[t].bystander;
        // The old socket closes when the old client is dropped; a clone shares it.
        self.lacs[t] = self.new_client(now, t, sock, origin, bystander)?;
        match origin {
            Origin::Setup => self.placed += 1,
            Origin::Churn => self.churn.placed += 1,
            Origin::Storm => self.storm.placed += 1,
        }
        self.service_ike(now, t);
        Ok(())
    }

    /// A fresh L2TP/IPsec client `t` on `sock`, its Main Mode started.
    fn new_client(
        &mut self,
        now: Instant,
        t: usize,
        sock: UdpSocket,
        origin: Origin,
        bystander: bool,
    ) -> std::io::Result<Lac> {
        let (Some(ipsec), Some(policy)) = (self.opts.ipsec.clone(), self.ike_policy.clone()) else {
            return Err(std::io::Error::other("not an L2TP/IPsec run"));
        };
        let policy = match (&self.bystander_policy, bystander) {
            (Some(p), true) => Arc::clone(p),
            _ => policy,
        };
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
        let mut lac = Lac::new(
            sock,
            engine,
            1,
            Some(Ipsec {
                ike,
                esp: None,
                started: now,
                failed: false,
                up: false,
                origin,
                dpd_pending: VecDeque::new(),
            }),
        );
        lac.bystander = bystander;
        Ok(lac)
    }
}

/// Runs the whole scenario and returns the report. `server_rss` reads the daemon's
/// resident memory when loadgen started it (None otherwise); it is sampled before
/// the first call and once every session is set up.
pub fn run(opts: Options, server_rss: &dyn Fn() -> Option<u64>) -> std::io::Result<Report> {
    run_probed(
        opts,
        &Probe {
            rss: server_rss,
            fds: &|| None,
        },
    )
}

/// [`run`], reading the daemon's memory and open files through `probe`.
pub fn run_probed(opts: Options, probe: &Probe<'_>) -> std::io::Result<Report> {
    opts.scale
        .validate(opts.sessions)
        .map_err(std::io::Error::other)?;
    let server_rss = probe.rss;
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
        // A bystander probes every second of silence and gives up only after the
        // storm could have been survived.
        bystander_policy: opts.ipsec.as_ref().map(|i| {
            Arc::new(IkePolicy {
                phase1: i.ike.clone(),
                esp: i.esp.clone(),
                dpd_interval: KEEPALIVE_INTERVAL,
                dpd_timeout: Duration::from_secs(60),
                ..IkePolicy::default()
            })
        }),
        next_spi: 0x1000,
        churn: PhaseCount::default(),
        storm: PhaseCount::default(),
        keepalive: Keepalives::default(),
        lost: 0,
        tearing_down: false,
        bytes_received: 0,
        next_tunnel_id: 0,
        bystander_lacs: Vec::new(),
        churn_torn_down: 0,
        storm_redials: VecDeque::new(),
        turn_offset: 0,
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
    let bystanders = opts.scale.bystanders;
    let lac_count = if opts.ipsec.is_some() {
        0
    } else {
        // The bystanders' own tunnel comes last.
        opts.tunnels.max(1) + usize::from(bystanders > 0)
    };
    if opts.ipsec.is_some() {
        run.bystander_lacs = (0..bystanders.min(opts.sessions)).collect();
    }
    for t in 0..lac_count {
        let bystander = opts.ipsec.is_none() && bystanders > 0 && t == lac_count - 1;
        let sock = UdpSocket::bind((opts.bind, 0))?;
        sock.set_nonblocking(true)?;
        // One LAC socket carries every PPP frame of its share of the sessions.
        shardvpn::runtime::sockbuf::set_recv_buffer(&sock, LAC_RECV_BUFFER)?;
        let config = if bystander {
            run.bystander_tunnel_config()
        } else {
            config.clone()
        };
        let engine = {
            let mut rng = fill(&run.rng);
            l2tp::Tunnel::lac_connect(start, &config, (t + 1) as u16, &mut rng)
        };
        let max_calls = if bystander { bystanders } else { usize::MAX };
        let mut lac = Lac::new(sock, engine, max_calls, None);
        lac.bystander = bystander;
        if bystander {
            run.bystander_lacs.push(t);
        }
        run.lacs.push(lac);
        run.service_tunnel(start, t);
    }
    run.next_tunnel_id = lac_count as u16;
    let mut buf = vec![0u8; 65536];
    let mut ready = Vec::new();
    let deadline = start + opts.setup_timeout;
    let interval = opts
        .rate
        .map(|r| Duration::from_secs_f64(1.0 / r.max(0.001)));
    let mut next_call = start;
    let mut rr = 0usize;
    let mut progress = Progress::phase("established", opts.sessions);
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
                let open = |l: &Lac| l.up && l.placed < l.max_calls;
                // Bystanders first; the other tunnels leave room for them.
                let by_placed: usize = run.bystander_lacs.iter().map(|&t| run.lacs[t].placed).sum();
                let normal_room = run.placed - by_placed < opts.sessions - bystanders;
                let by = run
                    .bystander_lacs
                    .iter()
                    .copied()
                    .find(|&t| open(&run.lacs[t]));
                let normal = || {
                    (0..n)
                        .map(|i| (rr + i) % n)
                        .find(|&t| !run.lacs[t].bystander && open(&run.lacs[t]))
                };
                let Some(t) = by.or_else(|| normal_room.then(normal).flatten()) else {
                    break;
                };
                if !run.lacs[t].bystander {
                    rr = t + 1;
                }
                run.place_call(now, t, Origin::Setup);
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
    let fds_setup = (probe.fds)();

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
    let traffic_secs = opts.duration.as_secs_f64().max(1e-9);

    let (storm, keepalive) = if opts.scale.storm {
        let (s, k) = storm_phase(&mut run, &mut buf, &mut ready, setup_elapsed)?;
        (Some(s), Some(k))
    } else {
        (None, None)
    };
    let (hold, churn, fds_hold) = match opts.scale.hold {
        Some(hold) => {
            let (h, c) = hold_phase(&mut run, &mut buf, &mut ready, hold, server_rss)?;
            (Some(h), c, (probe.fds)())
        }
        None => (None, None, None),
    };

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
    run.tearing_down = true;
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
            pps: (opts.traffic_pps > 0).then(|| run.pings_received as f64 / traffic_secs),
            mbps: (opts.traffic_pps > 0)
                .then(|| run.bytes_received as f64 * 8.0 / traffic_secs / 1e6),
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
        hold,
        churn,
        storm,
        keepalive,
        server_fds: fds_setup.map(|n| report::ServerFds {
            after_setup: Some(n),
            after_hold: fds_hold,
        }),
    })
}

/// `--storm`: drops every session but the bystanders', reconnects them (at most
/// `max_outstanding` in setup at once) while the bystanders keep their sessions
/// alive, and reports the recovery and the bystanders' keepalives.
fn storm_phase(
    run: &mut Run,
    buf: &mut [u8],
    ready: &mut Vec<bool>,
    setup_elapsed: Duration,
) -> std::io::Result<(report::Storm, report::Keepalive)> {
    let bystanders = run
        .bystander_lacs
        .iter()
        .map(|&t| {
            run.lacs[t]
                .calls
                .values()
                .filter(|c| c.established && !c.lost)
                .count() as u64
        })
        .sum();
    run.keepalive.on = true;
    let start = Instant::now();
    let (dropped, mut clients) = run.storm_drop(start);
    let deadline = start + run.opts.setup_timeout;
    let window = run
        .opts
        .scale
        .storm_outstanding
        .unwrap_or(run.opts.max_outstanding)
        .max(1);
    let mut progress = Progress::phase("storm", dropped as usize);
    let mut rr = 0usize;
    run.storm.retrying = true;
    let mut previous: Option<Instant> = None;
    let mut stall = Duration::ZERO;
    loop {
        let now = Instant::now();
        if let Some(last) = previous.replace(now) {
            stall = stall.max(now - last);
        }
        let st = &run.storm;
        if st.established + st.failed >= dropped || now >= deadline {
            break;
        }
        progress.show(now, st.established, st.failed, dropped as usize);
        let mut restarts = 0;
        while (run.storm.placed as u64) < dropped
            && run.storm.placed - ((run.storm.established + run.storm.failed) as usize) < window
        {
            if run.opts.ipsec.is_some() {
                // The rest next turn: the bystanders' answers are read in between.
                if restarts == STORM_RESTARTS_PER_TURN {
                    break;
                }
                restarts += 1;
                let due = run.storm_redials.front().is_some_and(|&(at, _)| at <= now);
                let t = match clients.pop_front() {
                    Some(t) => t,
                    None if due => match run.storm_redials.pop_front() {
                        Some((_, t)) => t,
                        None => break,
                    },
                    None => break,
                };
                run.restart_client(now, t, Origin::Storm, false)?;
            } else {
                let n = run.lacs.len();
                let Some(t) = (0..n).map(|i| (rr + i) % n).find(|&t| {
                    let l = &run.lacs[t];
                    !l.bystander
                        && l.up
                        && l.placed < l.max_calls
                        && l.not_before.is_none_or(|at| at <= now)
                }) else {
                    break;
                };
                rr = t + 1;
                run.place_call(now, t, Origin::Storm);
            }
        }
        run.bystander_tick(now);
        run.turn(buf, ready, Duration::from_millis(10));
    }
    run.storm.retrying = false;
    progress.last = None;
    progress.show(
        Instant::now(),
        run.storm.established,
        run.storm.failed,
        dropped as usize,
    );
    progress.finish();
    // What did not come back in time.
    for t in 0..run.lacs.len() {
        let sids: Vec<u16> = run.lacs[t].calls.keys().copied().collect();
        for sid in sids {
            if run.lacs[t]
                .calls
                .get(&sid)
                .is_some_and(|c| c.origin == Origin::Storm)
            {
                run.fail(t, sid, "storm_timeout");
            }
        }
        if run.lacs[t]
            .ipsec
            .as_ref()
            .is_some_and(|i| i.origin == Origin::Storm)
        {
            run.fail_client(t, "storm_timeout");
        }
    }
    let missing = dropped.saturating_sub(run.storm.established + run.storm.failed);
    if missing > 0 {
        run.storm.failed += missing;
        *run.storm.failures.entry("not_placed".into()).or_default() += missing;
    }
    // The last keepalives' answers (an echo unanswered for 5 s is a loss anyway).
    run.keepalive.draining = true;
    let grace = Instant::now() + crate::common::BYSTANDER_LOST_AFTER + Duration::from_millis(100);
    while Instant::now() < grace && run.echoes_pending() {
        run.bystander_tick_overdue_only(Instant::now());
        run.turn(buf, ready, Duration::from_millis(10));
    }
    run.bystander_tick_overdue_only(Instant::now());
    run.keepalive.on = false;
    let recovery = run
        .storm
        .last_up
        .map_or(Duration::ZERO, |l| l.saturating_duration_since(start));
    let setup_s = setup_elapsed.as_secs_f64();
    let storm = report::Storm {
        sessions_dropped: dropped,
        sessions_reestablished: run.storm.established,
        sessions_failed: run.storm.failed,
        failures: run.storm.failures.clone(),
        recovery_s: recovery.as_secs_f64(),
        initial_setup_s: setup_s,
        recovery_ratio: recovery.as_secs_f64() / setup_s.max(1e-9),
        latency_ms: run.storm.latency.percentiles(),
        retries: run.storm.retries.values().sum(),
        retry_reasons: run.storm.retries.clone(),
    };
    let mut keepalive = run.keepalive.report(bystanders);
    keepalive.loadgen_max_stall_ms = stall.as_secs_f64() * 1000.0;
    Ok((storm, keepalive))
}

/// `--hold`: every session stays up `hold` (the engines answer the server's HELLOs,
/// LCP echoes and R-U-THEREs); with `--churn R`, R sessions a second are torn down
/// and set up again meanwhile.
fn hold_phase(
    run: &mut Run,
    buf: &mut [u8],
    ready: &mut Vec<bool>,
    hold: Duration,
    server_rss: &dyn Fn() -> Option<u64>,
) -> std::io::Result<(report::Hold, Option<report::Churn>)> {
    let rss_start = server_rss();
    let lost_before = run.lost;
    let start = Instant::now();
    let end = start + hold;
    let mut queue: VecDeque<(usize, u16)> = VecDeque::new();
    for (t, lac) in run.lacs.iter().enumerate() {
        if lac.bystander || lac.vanished {
            continue;
        }
        for (&sid, c) in &lac.calls {
            if c.established && !c.lost {
                queue.push_back((t, if lac.ipsec.is_some() { 0 } else { sid }));
            }
        }
    }
    let interval = run
        .opts
        .scale
        .churn
        .map(|r| Duration::from_secs_f64(1.0 / r));
    let mut next = start;
    let mut progress = Progress::phase("hold (s)", hold.as_secs() as usize);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if let Some(i) = interval {
            while now >= next {
                next += i;
                // The next session up in the queue; ones still setting up go round.
                let mut picked = None;
                for _ in 0..queue.len() {
                    let Some((t, sid)) = queue.pop_front() else {
                        break;
                    };
                    match run.churn_candidate(t, sid) {
                        Some(true) => {
                            picked = Some((t, sid));
                            break;
                        }
                        Some(false) => queue.push_back((t, sid)),
                        None => {}
                    }
                }
                let Some((t, sid)) = picked else {
                    break;
                };
                queue.push_back(run.churn_one(now, t, sid)?);
            }
        }
        progress.note(
            now,
            (now - start).as_secs(),
            &format!(
                "{:.0}/{:.0} s  lost {}  churn cycles {} failed {}",
                (now - start).as_secs_f64(),
                hold.as_secs_f64(),
                run.lost - lost_before,
                run.churn.established,
                run.churn.failed
            ),
        );
        run.turn(buf, ready, Duration::from_millis(10));
    }
    // Re-setups still in flight get a bounded while to finish.
    let settle = Instant::now() + Duration::from_secs(10).min(run.opts.setup_timeout);
    while (run.churn.placed as u64) > run.churn.established + run.churn.failed
        && Instant::now() < settle
    {
        run.turn(buf, ready, Duration::from_millis(10));
    }
    progress.finish();
    let unfinished =
        (run.churn.placed as u64).saturating_sub(run.churn.established + run.churn.failed);
    if unfinished > 0 {
        run.churn.failed += unfinished;
        *run.churn
            .failures
            .entry("unfinished_at_hold_end".into())
            .or_default() += unfinished;
    }
    let hold_report = report::Hold {
        seconds: hold.as_secs_f64(),
        sessions_lost: run.lost - lost_before,
        server_rss_start_bytes: rss_start,
        server_rss_end_bytes: server_rss(),
    };
    let churn = run.opts.scale.churn.map(|rate| report::Churn {
        rate_per_s: rate,
        torn_down: run.churn_torn_down,
        cycles: run.churn.established,
        failed: run.churn.failed,
        failures: run.churn.failures.clone(),
        resetup_latency_ms: run.churn.latency.percentiles(),
    });
    Ok((hold_report, churn))
}

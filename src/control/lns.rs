//! The control thread of the LNS (issue "L2TP LNS with PPP and local AAA"): L2TP
//! control connections from LACs (RFC 2661), one PPP server per call (RFC 1661),
//! local authentication and address pools, and the shard programming that puts
//! each subscriber's traffic on the data plane.
//!
//! # A subscriber's life
//! 1. SCCRQ on UDP/1701 (tunnel ID 0) → a new [`l2tp::Tunnel`] with a fresh local
//!    tunnel ID; it answers SCCRP and expects SCCCN. When up, the tunnel's transmit
//!    state (peer address, the LAC's tunnel ID, plain encapsulation) is broadcast
//!    to every shard.
//! 2. ICRQ → admission (`limits.max_sessions`, `limits.max_starting`,
//!    `limits.max_sessions_per_tunnel`): refused calls get a CDN with a result code,
//!    never silence; a call over `max_starting` alone waits (its ICRQ acknowledged)
//!    until a slot frees or 10 s pass. Accepted: the least loaded shard is chosen and
//!    a local session ID that steers to it is allocated (`ids`); ICRP.
//! 3. ICCN → the session is installed on its shard (IP closed, so PPP control
//!    frames are punted to us) and a PPP server starts (with the LAC's proxy LCP
//!    when it sent one).
//! 4. Authentication → the local authenticator (users file, per-user limit);
//!    success → an address (the user's static one, else the pool) → IPCP; IPCP
//!    Opened → the shard's session gets its address and every shard the route.
//! 5. Any end (LCP Terminate, auth failure, echo timeout, CDN, StopCCN, tunnel
//!    timeout, shutdown) runs [`Lns::release_session`]: route and session removed,
//!    address back to its pool, per-user ticket returned, exactly once.
//!
//! Logs never contain secrets: user names are printed through `LogSafeName`,
//! passwords and proofs never.

mod ipsec;
mod metrics;
mod mgmt;
mod pptp;
mod radius;
mod ratelimit;

pub use ipsec::IkeCounters;
use pptp::MppeKeying;
pub use pptp::PptpCounters;

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};

use super::frames;
use super::ids::{SessionIds, ShardLoad, TunnelIds};
use super::program::Programmer;
use super::timers::Timers;
use crate::aaa::auth::{LocalAuthenticator, LogSafeName, SessionTicket};
use crate::aaa::pool::Pools;
use crate::config::Config;
use crate::dataplane::counters::PuntKind;
use crate::dataplane::pptp::PPTP_ROUTE_TUNNEL;
use crate::dataplane::tables::{Command, Encap, Route, Session, SessionFlags, TunnelTx};
use crate::proto::l2tp;
use crate::proto::ppp::{
    self, AuthProof, AuthRequest, CloseReason, Ppp, PppConfig, PppEvent, ipcp::Ipv4Assignment,
};
use crate::runtime::engine::Dataplane;
use crate::runtime::queues::ToControl;
use crate::runtime::signals::{Signal, Signals, wait_readable};
use crate::wire::l2tp as wire_l2tp;

/// What a timer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Tunnel(u16),
    Session(u16, u16),
    /// An ISAKMP SA, by initiator cookie.
    Ike([u8; 8]),
    /// A PPTP control connection, by token.
    Pptp(u64),
    /// The RADIUS client's retransmissions.
    Radius,
    /// A session's next Interim-Update.
    Interim(u16, u16),
    /// A session's next look at its counters for the idle timeout.
    Idle(u16, u16),
}

/// One call (L2TP session + PPP) on the LNS.
struct Sub {
    shard: u32,
    peer_session: u16,
    ppp: Option<Ppp>,
    /// When we accepted the call (ICRP), for the ICCN timeout.
    accepted: Instant,
    /// PPP frames that arrived between ICRP and ICCN (the client may start LCP as
    /// soon as it has our session ID), replayed when PPP starts.
    early: Vec<(u16, Vec<u8>)>,
    ticket: Option<SessionTicket>,
    /// Address in use (static or from a pool) and whether it came from a pool.
    address: Option<Ipv4Addr>,
    static_address: Option<Ipv4Addr>,
    installed: bool,
    routed: bool,
    /// Counted in `starting` until the network phase or the end.
    starting: bool,
    /// Ended because its ICCN never came (for the metrics' end cause).
    timed_out: bool,
    /// The `protocol` label of its metrics.
    proto: metrics::Proto,
    /// The authenticated user name (for `shardvpn ctl`; boxed: two words).
    user: Option<Box<str>>,
    /// RADIUS accounting state (boxed: only RADIUS sessions have it).
    acct: Option<Box<radius::AcctState>>,
    /// Why PPP ended, for Acct-Terminate-Cause.
    close_reason: Option<CloseReason>,
    /// The session's rate limit (RADIUS, CoA or `[ppp] rate_limit`).
    rate: Option<crate::aaa::ratelimit::RateLimit>,
    /// RADIUS's Framed-Pool and DNS servers, if it gave any (boxed: rare).
    radius_ipcp: Option<Box<RadiusIpcp>>,
    /// L2TP: what the shards sent to the subscriber (PPTP counts in the call).
    tx: Option<Arc<crate::dataplane::tables::SessionTx>>,
    /// Idle timeout: how often the counters are looked at, and the packet total
    /// seen last (traffic bypasses PPP, so activity is read from the counters).
    idle_check: Option<Duration>,
    seen_packets: u64,
}

/// What RADIUS says about a session's addressing (RFC 2869 §5.15, RFC 2548).
#[derive(Debug, Default)]
struct RadiusIpcp {
    pool: Option<Box<str>>,
    dns: [Option<Ipv4Addr>; 2],
}

impl Sub {
    /// A call just accepted (installed on `shard`, counted as starting).
    fn new(
        shard: u32,
        peer_session: u16,
        ppp: Option<Ppp>,
        now: Instant,
        proto: metrics::Proto,
    ) -> Box<Sub> {
        Box::new(Sub {
            timed_out: false,
            proto,
            shard,
            peer_session,
            ppp,
            accepted: now,
            early: Vec::new(),
            ticket: None,
            address: None,
            static_address: None,
            installed: true,
            routed: false,
            starting: true,
            user: None,
            acct: None,
            close_reason: None,
            rate: None,
            radius_ipcp: None,
            tx: None,
            idle_check: None,
            seen_packets: 0,
        })
    }
}

/// The AAA verdict on one authentication, whichever backend gave it.
enum AuthOutcome {
    Accept(Box<Authorized>),
    Reject { why: String },
}

/// What an accepted authentication grants the session.
struct Authorized {
    /// A fixed address for the subscriber (the users file, or Framed-IP-Address).
    address: Option<Ipv4Addr>,
    /// The per-user session slot (local users), given back when the session ends.
    ticket: Option<SessionTicket>,
    /// MS-CHAPv2's Authenticator Response for the Success packet.
    authenticator_response: Option<[u8; 20]>,
    /// How PPTP's MPPE gets its keys.
    mppe: Option<MppeKeying>,
    session_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    /// RADIUS: Class values to echo in accounting, and Acct-Interim-Interval.
    class: Vec<Vec<u8>>,
    interim: Option<Duration>,
    /// RADIUS's rate limit (else `[ppp] rate_limit` applies).
    rate: Option<crate::aaa::ratelimit::RateLimit>,
    /// RADIUS's Framed-Pool and DNS servers.
    ipcp: Option<Box<RadiusIpcp>>,
}

/// One control connection from a LAC.
struct TunnelState {
    engine: l2tp::Tunnel,
    peer: SocketAddr,
    peer_tunnel: u16,
    /// Boxed: an L2TP/IPsec client's tunnel holds one session, and a map's smallest
    /// allocation is several slots; small slots keep that cheap.
    sessions: HashMap<u16, Box<Sub>>,
    ids: SessionIds,
    up: bool,
    /// L2TP/IPsec: the client (`ipsec::Conn`) whose SAs carry the tunnel.
    esp: Option<u32>,
}

/// Counters of the control thread (the metrics issue exports them).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LnsCounters {
    pub tunnels_opened: u64,
    pub tunnels_closed: u64,
    pub calls_refused: u64,
    pub sessions_established: u64,
    pub sessions_ended: u64,
    /// Calls accepted whose ICCN never came.
    pub calls_timed_out: u64,
    pub auth_failures: u64,
    pub pool_exhausted: u64,
    pub malformed: u64,
    /// Control messages for a tunnel from an address other than its LAC's.
    pub wrong_peer: u64,
    /// Plain L2TP tunnels refused because the source is not a listed LAC.
    pub plain_refused: u64,
    pub command_failures: u64,
}

/// The control thread's state.
pub struct Lns {
    config: Arc<Config>,
    dp: Dataplane,
    sock: UdpSocket,
    prog: Programmer,
    /// Boxed for small slots (see `TunnelState::sessions`).
    tunnels: HashMap<u16, Box<TunnelState>>,
    by_peer: HashMap<(SocketAddr, u16), u16>,
    tunnel_ids: TunnelIds,
    load: ShardLoad,
    timers: Timers<Key>,
    auth: LocalAuthenticator,
    pools: Pools,
    ppp_config: Arc<PppConfig>,
    l2tp_config: l2tp::TunnelConfig,
    starting: usize,
    active: usize,
    rng: SystemRandom,
    iccn_timeout: Duration,
    pub counters: LnsCounters,
    ike_policy: Arc<crate::proto::ike::IkePolicy>,
    ike: HashMap<[u8; 8], ipsec::IkeSlot>,
    conns: HashMap<u32, ipsec::Conn>,
    conn_by_spi: HashMap<u32, u32>,
    /// Inbound SPIs in use (allocated, installed or not).
    spis: HashSet<u32>,
    next_conn: u32,
    /// Phase-1 negotiations in progress per source address.
    half_open: HashMap<IpAddr, u32>,
    pub ike_counters: IkeCounters,
    /// PPTP, when `pptp.enabled`.
    pptp: Option<pptp::PptpState>,
    pub pptp_counters: PptpCounters,
    /// RADIUS, when `aaa.backend = "radius"`.
    radius: Option<radius::RadiusState>,
    /// Set by `shutdown`: sessions end with Acct-Terminate-Cause NAS-Reboot.
    shutting_down: bool,
    /// Counter requests to the shards in flight (accounting, idle timeouts).
    counter_waits: radius::CounterWaits,
    /// The management socket (`shardvpn ctl`), see `mgmt`.
    mgmt: mgmt::Mgmt,
    /// Prometheus handles (see `metrics`).
    metrics: metrics::ControlMetrics,
    /// L2TP calls that arrived while `max_starting` sessions were negotiating: held
    /// (the ICRQ acknowledged, no ICRP yet) and admitted in order as slots free, so a
    /// reconnect storm is paced here instead of refused and redialled (tunnel, the
    /// LAC's session ID, arrival).
    waiting_calls: std::collections::VecDeque<(u16, u16, Instant)>,
}

/// The RFC 2661 §4.4.2 CDN result codes we use.
mod cdn {
    /// Call disconnected for administrative reasons.
    pub const ADMIN: u16 = 3;
    /// Call failed due to lack of appropriate facilities being available
    /// (temporary condition).
    pub const TEMPORARY: u16 = 4;
    /// General error (PPP ended the call: auth failure, LCP terminate, timeouts).
    pub const GENERAL: u16 = 2;
}

/// The RFC 2661 §4.4.2 StopCCN result code for a shutdown: "General request to
/// clear control connection".
const STOPCCN_CLEAR: u16 = 1;

/// How long an accepted call may wait for its ICCN, by default.
const ICCN_TIMEOUT: Duration = Duration::from_secs(30);

/// PPP frames kept per call between ICRP and ICCN.
const MAX_EARLY_FRAMES: usize = 8;

/// How long an L2TP call may wait for a `max_starting` slot before it is refused.
const CALL_WAIT: Duration = Duration::from_secs(10);

/// L2TP calls held for a `max_starting` slot at most (16 bytes each); beyond, refused.
const MAX_WAITING_CALLS: usize = 65536;

/// How long one loop iteration spends on new negotiations from each source (the
/// shards' new-negotiation lane, UDP 500, UDP 4500) before it serves established
/// subscribers again.
const BULK_BUDGET: Duration = Duration::from_millis(20);

/// The longest the loop sleeps before checking its stop condition.
const STOP_POLL: Duration = Duration::from_millis(100);

/// How long a graceful shutdown waits for the LACs' acknowledgements.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

fn fill_random(rng: &SystemRandom) -> impl FnMut(&mut [u8]) + '_ {
    move |buf: &mut [u8]| {
        // The OS RNG failing is not recoverable for a VPN server; ring reports it
        // only when getrandom itself is broken.
        rng.fill(buf)
            .expect("the OS random number generator failed");
    }
}

impl Lns {
    /// Builds the control state around a started data plane.
    pub fn new(
        config: Arc<Config>,
        dp: Dataplane,
        auth: LocalAuthenticator,
        pools: Pools,
    ) -> io::Result<Lns> {
        let sock = dp.control_sockets().l2tp.try_clone()?;
        let map = dp.shard_map();
        let ike_policy = Arc::new(config.ike.policy());
        let base_ppp = ppp_config(&config);
        let pptp = if config.pptp.enabled {
            Some(pptp::PptpState::bind(&config, &base_ppp).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot listen for PPTP on TCP {}:{}: {e}",
                        config.listen.address, config.listen.pptp_port
                    ),
                )
            })?)
        } else {
            None
        };
        let radius = {
            let rng = SystemRandom::new();
            let mut fill = fill_random(&rng);
            radius::RadiusState::new(&config, &mut fill)?
        };
        Ok(Lns {
            radius,
            shutting_down: false,
            counter_waits: radius::CounterWaits::default(),
            pptp,
            pptp_counters: PptpCounters::default(),
            ppp_config: Arc::new(base_ppp),
            l2tp_config: l2tp_config(&config),
            mgmt: mgmt::Mgmt::new(&config),
            metrics: metrics::ControlMetrics::new(),
            waiting_calls: std::collections::VecDeque::new(),
            config,
            prog: Programmer::new(map.shards()),
            load: ShardLoad::new(map),
            dp,
            sock,
            tunnels: HashMap::new(),
            by_peer: HashMap::new(),
            tunnel_ids: TunnelIds::new(),
            timers: Timers::new(),
            auth,
            pools,
            starting: 0,
            active: 0,
            rng: SystemRandom::new(),
            iccn_timeout: ICCN_TIMEOUT,
            counters: LnsCounters::default(),
            ike_policy,
            ike: HashMap::new(),
            conns: HashMap::new(),
            conn_by_spi: HashMap::new(),
            spis: HashSet::new(),
            next_conn: 1,
            half_open: HashMap::new(),
            ike_counters: IkeCounters::default(),
        })
    }

    /// How long an accepted call may wait for its ICCN (default 30 s).
    pub fn set_iccn_timeout(&mut self, timeout: Duration) {
        self.iccn_timeout = timeout;
    }

    /// Sessions in any state.
    pub fn sessions(&self) -> usize {
        self.active
    }

    /// Runs until SIGTERM / SIGINT, then shuts down gracefully.
    pub fn run(&mut self, signals: &Signals) -> io::Result<()> {
        self.serve(Some(signals), &|| false)?;
        self.shutdown();
        Ok(())
    }

    /// Serves until a terminating signal (when `signals` is given) or until `stop()`
    /// is true (checked at least every 100 ms). It does not shut down: the caller
    /// looks at the state if it wants, then calls [`Lns::shutdown`]. Tests and
    /// embedders drive it with `stop` instead of signals.
    pub fn serve(&mut self, signals: Option<&Signals>, stop: &dyn Fn() -> bool) -> io::Result<()> {
        let mut ready = Vec::with_capacity(5);
        let mut buf = vec![0u8; 65536];
        let socks = self.dp.control_sockets();
        let mut fds = vec![
            self.sock.as_raw_fd(),
            self.dp_wake_fd(),
            socks.ike.as_raw_fd(),
            socks.nat_t.as_raw_fd(),
        ];
        let signal_index = fds.len();
        if let Some(s) = signals {
            fds.push(s.as_raw_fd());
        }
        let pptp_index = fds.len();
        if let Some(p) = &self.pptp {
            fds.extend(p.fds());
        }
        let radius_index = fds.len();
        if let Some(r) = &self.radius {
            fds.extend(r.fds());
        }
        // The management socket's fds change with its connections: re-listed each time.
        let mgmt_index = fds.len();
        let mut backlog = false;
        // What the RADIUS client queued at startup (Accounting-On) goes out now.
        self.radius_service(Instant::now());
        loop {
            if stop() {
                return Ok(());
            }
            let now = Instant::now();
            let timeout = self.timers.next_deadline().map_or(STOP_POLL, |d| {
                d.saturating_duration_since(now).min(STOP_POLL)
            });
            // Punts left over from a bounded drain: do not sleep on them.
            let timeout = if backlog { Duration::ZERO } else { timeout };
            fds.truncate(mgmt_index);
            self.mgmt_fds(&mut fds);
            wait_readable(&fds, Some(timeout), &mut ready)?;
            let now = Instant::now();
            self.mgmt_service(now, ready.get(mgmt_index..).unwrap_or_default());
            if ready[0] {
                self.drain_socket(now, &mut buf);
            }
            if ready[2] || ready[3] {
                self.drain_ike_sockets(now, &mut buf);
            }
            if ready.get(pptp_index) == Some(&true) {
                self.pptp_accept(now);
            }
            if ready.get(pptp_index + 1) == Some(&true) {
                self.pptp_ready(now);
            }
            if ready.iter().skip(radius_index).any(|r| *r) {
                self.radius_drain(now);
            }
            if ready[1] {
                // Before draining: a punt queued after this signals again.
                self.dp.clear_inbox_wake();
            }
            backlog = self.drain_shards(now);
            if let Some(signals) = signals
                && ready.get(signal_index) == Some(&true)
            {
                while let Some(signal) = signals.read() {
                    match signal {
                        Signal::Terminate => return Ok(()),
                        Signal::Reload => self.reload(),
                    }
                }
            }
            self.run_timers(now);
            if !self.waiting_calls.is_empty() {
                self.admit_waiting_calls(now);
            }
            self.publish_metrics(now);
            self.prog.flush(&self.dp);
        }
    }

    /// Addresses handed out, over all pools.
    pub fn addresses_in_use(&self) -> u64 {
        self.pools
            .iter()
            .map(|(_, p)| u64::from(p.counters().used))
            .sum()
    }

    /// Commands still waiting for room in a shard's queue.
    pub fn commands_pending(&self) -> usize {
        self.prog.pending()
    }

    /// The data plane, for its counters.
    pub fn dataplane(&self) -> &Dataplane {
        &self.dp
    }

    fn dp_wake_fd(&self) -> std::os::fd::RawFd {
        self.dp.inbox_fd()
    }

    fn drain_socket(&mut self, now: Instant, buf: &mut [u8]) {
        // Bounded: a flood on the control port must not starve timers and shards.
        for _ in 0..256 {
            match self.sock.recv_from(buf) {
                Ok((n, from)) => {
                    let msg = buf[..n].to_vec();
                    self.on_control_message(now, from, &msg, None);
                }
                Err(_) => break,
            }
        }
    }

    /// IKE on UDP 500 and, after the non-ESP marker, on 4500 (RFC 3948 §2.2); NAT
    /// keepalives and stray ESP on the control member of the 4500 group are dropped.
    fn drain_ike_sockets(&mut self, now: Instant, buf: &mut [u8]) {
        for encap in [false, true] {
            // Mostly new negotiations (Main Mode from clients on port 500): bounded in
            // time like the shards' new-negotiation lane, so a storm cannot hold the
            // loop away from established subscribers.
            let deadline = Instant::now() + BULK_BUDGET;
            for _ in 0..256 {
                if Instant::now() >= deadline {
                    break;
                }
                let socks = self.dp.control_sockets();
                let sock = if encap { &socks.nat_t } else { &socks.ike };
                let Ok((n, from)) = sock.recv_from(buf) else {
                    break;
                };
                let msg = if encap {
                    match buf[..n].strip_prefix(&[0u8, 0, 0, 0][..]) {
                        Some(m) => m.to_vec(),
                        None => continue,
                    }
                } else {
                    buf[..n].to_vec()
                };
                self.on_ike(now, from, encap, &msg);
            }
        }
    }

    /// Handles what the shards queued: established work first (at most 1024
    /// messages), then new negotiations for at most [`BULK_BUDGET`]; true if some are
    /// left. In a reconnect storm thousands of Main Modes (a Diffie-Hellman each) wait
    /// in their own lane, and the subscribers already up keep being answered.
    fn drain_shards(&mut self, now: Instant) -> bool {
        for _ in 0..1024 {
            let Some(message) = self.dp.try_recv() else {
                break;
            };
            self.on_shard_message(now, message);
        }
        let deadline = Instant::now() + BULK_BUDGET;
        for _ in 0..1024 {
            if Instant::now() >= deadline {
                break;
            }
            let Some(message) = self.dp.try_recv_bulk() else {
                break;
            };
            self.on_shard_message(now, message);
        }
        self.dp.inbox_depth() > 0
    }

    fn on_shard_message(&mut self, now: Instant, message: ToControl) {
        match message {
            ToControl::Packet {
                kind,
                from,
                tunnel_id,
                session_id,
                packet,
                spi,
                inner_port,
                ..
            } => match kind {
                PuntKind::L2tpControl => {
                    let bytes = packet.bytes().to_vec();
                    let via = match spi {
                        Some(spi) => match self.conn_of_spi(spi) {
                            Some(conn) => Some((conn, inner_port)),
                            None => return,
                        },
                        None => None,
                    };
                    self.on_control_message(now, from, &bytes, via);
                }
                PuntKind::Ike => {
                    let bytes = packet.bytes().to_vec();
                    self.on_ike(now, from, inner_port != 0, &bytes);
                }
                PuntKind::MppeReset => {
                    // Stateful MPPE lost packets: ask the client to flush (RFC 3078 §8).
                    if let Some(ppp) = self
                        .sub_mut(tunnel_id, session_id)
                        .and_then(|s| s.ppp.as_mut())
                    {
                        ppp.send_reset_request();
                        self.service_ppp(now, tunnel_id, session_id);
                    }
                }
                _ => self.on_ppp_frame(now, tunnel_id, session_id, packet.bytes()),
            },
            ToControl::PeerMoved { spi, peer, .. } => self.on_esp_peer_moved(spi, peer),
            ToControl::Counters {
                token, sessions, ..
            } if token & radius::ACCT_TOKEN != 0 => self.acct_counters(now, token, sessions),
            ToControl::Counters {
                token, sessions, ..
            } => self.mgmt_counters(token, sessions),
            ToControl::CommandFailed { shard, what, error } => {
                self.counters.command_failures += 1;
                eprintln!("shardvpn: shard {shard} refused {what}: {error}");
            }
        }
    }

    /// An L2TP control message (RFC 2661 §3.1, T bit set) from `from`; `via` names the
    /// L2TP/IPsec client and its inner L2TP port when it arrived inside ESP.
    fn on_control_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        via: Option<(u32, u16)>,
    ) {
        let Ok(packet) = wire_l2tp::Packet::new_checked(bytes) else {
            self.counters.malformed += 1;
            return;
        };
        if !packet.is_control() {
            self.counters.malformed += 1;
            return;
        }
        let tid = packet.tunnel_id();
        if tid != 0 {
            if let Some(t) = self.tunnels.get_mut(&tid) {
                // Only the tunnel's LAC may speak for it (RFC 2661 §8.1: the address
                // and port pair is fixed once the tunnel is set up); an L2TP/IPsec
                // tunnel only through its client's SAs.
                let allowed = match (t.esp, via) {
                    (Some(conn), Some((c, _))) => conn == c,
                    (None, None) => from == t.peer,
                    _ => false,
                };
                if !allowed {
                    self.counters.wrong_peer += 1;
                    return;
                }
                t.engine.handle_message(now, bytes);
                self.service_tunnel(now, tid);
            }
            return;
        }
        // Tunnel ID 0: an SCCRQ (or its retransmission, which goes to the tunnel it
        // already created, found by the LAC's address and Assigned Tunnel ID).
        let Some(peer_tunnel) = assigned_tunnel_id(&packet) else {
            self.counters.malformed += 1;
            return;
        };
        if let Some(&tid) = self.by_peer.get(&(from, peer_tunnel)) {
            if let Some(t) = self.tunnels.get_mut(&tid)
                && t.esp == via.map(|(c, _)| c)
            {
                t.engine.handle_message(now, bytes);
            }
            self.service_tunnel(now, tid);
            return;
        }
        if !self.config.l2tp.enabled {
            return;
        }
        let tid = match via {
            // L2TP/IPsec: the tunnel ID reserved with the client's SAs.
            Some((conn, inner_port)) => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                if self.tunnels.contains_key(&c.tunnel_id) {
                    self.counters.calls_refused += 1;
                    eprintln!(
                        "shardvpn: {from} opened a second L2TP tunnel in one IPsec SA: refused"
                    );
                    return;
                }
                c.l2tp_port = inner_port;
                c.tunnel_id
            }
            // Plain L2TP: only from the LACs the operator listed (`l2tp.lac_addresses`).
            None => {
                if !lac_allowed(&self.config, from) {
                    self.counters.plain_refused += 1;
                    if self.counters.plain_refused.is_power_of_two() {
                        eprintln!(
                            "shardvpn: plain L2TP from {from} refused: not in \
                             l2tp.lac_addresses (L2TP from clients must come inside IPsec); \
                             {} refused so far",
                            self.counters.plain_refused
                        );
                    }
                    return;
                }
                let Some(tid) = self.tunnel_ids.allocate() else {
                    eprintln!(
                        "shardvpn: refusing a tunnel from {from}: all 65535 tunnel IDs in use"
                    );
                    return;
                };
                tid
            }
        };
        let rng = SystemRandom::new();
        let mut fill = fill_random(&rng);
        match l2tp::Tunnel::lns_accept(now, &self.l2tp_config, tid, bytes, &mut fill) {
            Ok(engine) => {
                self.counters.tunnels_opened += 1;
                self.by_peer.insert((from, peer_tunnel), tid);
                self.tunnels.insert(
                    tid,
                    Box::new(TunnelState {
                        engine,
                        peer: from,
                        peer_tunnel,
                        sessions: HashMap::new(),
                        ids: SessionIds::new(),
                        up: false,
                        esp: via.map(|(c, _)| c),
                    }),
                );
                self.service_tunnel(now, tid);
            }
            Err(e) => {
                if via.is_none() {
                    self.tunnel_ids.release(tid);
                }
                self.counters.malformed += 1;
                eprintln!("shardvpn: SCCRQ from {from} refused: {e}");
            }
        }
    }

    /// Sends what the tunnel engine has to send and acts on its events.
    fn service_tunnel(&mut self, now: Instant, tid: u16) {
        let mut events = Vec::new();
        let mut out = Vec::new();
        {
            let Some(t) = self.tunnels.get_mut(&tid) else {
                return;
            };
            while let Some(msg) = t.engine.poll_transmit(now) {
                out.push(msg);
            }
            while let Some(e) = t.engine.poll_event() {
                events.push(e);
            }
            if let Some(when) = t.engine.poll_timeout() {
                self.timers.schedule(when, Key::Tunnel(tid));
            }
        }
        for msg in out.drain(..) {
            self.send_l2tp(tid, &msg);
        }
        for e in events {
            self.on_tunnel_event(now, tid, e);
        }
        // Events may have queued more messages (ICRP, CDN).
        if let Some(t) = self.tunnels.get_mut(&tid) {
            while let Some(msg) = t.engine.poll_transmit(now) {
                out.push(msg);
            }
            if let Some(when) = t.engine.poll_timeout() {
                self.timers.schedule(when, Key::Tunnel(tid));
            }
        }
        for msg in out {
            self.send_l2tp(tid, &msg);
        }
    }

    /// Sends an L2TP message to a tunnel's peer: plain UDP from 1701, or inside the
    /// ESP SA of its L2TP/IPsec client.
    fn send_l2tp(&mut self, tid: u16, msg: &[u8]) {
        let Some(t) = self.tunnels.get(&tid) else {
            return;
        };
        match t.esp {
            Some(conn) => self.send_esp(conn, msg),
            None => {
                let _ = self.sock.send_to(msg, t.peer);
            }
        }
    }

    fn on_tunnel_event(&mut self, now: Instant, tid: u16, event: l2tp::Event) {
        match event {
            l2tp::Event::TunnelUp => {
                let Some(t) = self.tunnels.get_mut(&tid) else {
                    return;
                };
                t.up = true;
                if t.esp.is_some() {
                    self.install_esp_tunnel(tid);
                    return;
                }
                let tunnel = TunnelTx {
                    peer: t.peer,
                    peer_tunnel_id: t.peer_tunnel,
                    encap: Encap::Plain,
                };
                self.prog.broadcast(&self.dp, || Command::InstallTunnel {
                    id: tid,
                    tunnel: tunnel.clone(),
                });
            }
            l2tp::Event::IncomingCall {
                peer_session_id, ..
            } => self.on_incoming_call(now, tid, peer_session_id),
            l2tp::Event::SessionUp {
                local_session_id,
                proxy,
                ..
            } => self.on_session_up(now, tid, local_session_id, proxy),
            l2tp::Event::SessionClosed {
                local_session_id,
                result,
            } => {
                // The LAC cleared the call (CDN): its user hung up, unless the result
                // says the carrier was lost (RFC 2661 §4.4.2, result 1).
                if let Some(sub) = self.sub_mut(tid, local_session_id)
                    && sub.close_reason.is_none()
                {
                    sub.close_reason = Some(if result == 1 {
                        CloseReason::LowerLayerDown
                    } else {
                        CloseReason::PeerTerminated
                    });
                }
                self.release_session(tid, local_session_id)
            }
            l2tp::Event::TunnelClosed { result, by_peer } => {
                // The client or LAC cleared the tunnel (StopCCN): its users hung up.
                if by_peer && let Some(t) = self.tunnels.get_mut(&tid) {
                    for sub in t.sessions.values_mut() {
                        sub.close_reason.get_or_insert(CloseReason::PeerTerminated);
                    }
                }
                if let Some(conn) = self.tunnels.get(&tid).and_then(|t| t.esp) {
                    let why = if by_peer {
                        format!(
                            "its L2TP tunnel was closed by the client (StopCCN result {result})"
                        )
                    } else {
                        format!("its L2TP tunnel failed (result {result}: no answer?)")
                    };
                    // Releases the tunnel too, then the SAs.
                    self.close_conn(now, conn, &why);
                } else {
                    self.release_tunnel(tid);
                }
            }
            _ => {}
        }
    }

    /// ICRQ: admission, shard choice, session ID; ICRP or CDN.
    fn on_incoming_call(&mut self, now: Instant, tid: u16, peer_session: u16) {
        let limits = &self.config.limits;
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        let proto = if t.esp.is_some() {
            metrics::Proto::L2tpIpsec
        } else {
            metrics::Proto::L2tp
        };
        let refuse = if self.active >= limits.max_sessions as usize {
            Some(("max_sessions reached", metrics::Refusal::Limit))
        } else if self.starting >= limits.effective_max_starting() as usize {
            Some(("max_starting reached", metrics::Refusal::StartingLimit))
        } else if t.sessions.len() >= limits.max_sessions_per_tunnel as usize {
            Some((
                "max_sessions_per_tunnel reached",
                metrics::Refusal::TunnelLimit,
            ))
        } else {
            None
        };
        let map = self.dp.shard_map();
        // Under IPsec the session must live where the client's SA decrypts.
        let esp_shard = t.esp.and_then(|c| self.conns.get(&c)).map(|c| c.shard);
        let shard = esp_shard.unwrap_or_else(|| self.load.pick());
        let local = match refuse {
            None => t.ids.allocate_on(map, shard),
            Some(_) => None,
        };
        // Only the negotiating-sessions limit is temporary: hold the call (bounded,
        // for at most CALL_WAIT) until a slot frees. The others are refused now.
        if let Some((_, metrics::Refusal::StartingLimit)) = refuse
            && self.waiting_calls.len() < MAX_WAITING_CALLS
            && !self.shutting_down
        {
            self.waiting_calls.push_back((tid, peer_session, now));
            return;
        }
        let Some(local) = local else {
            self.counters.calls_refused += 1;
            let (why, refusal) = refuse.unwrap_or((
                "no free session ID on the chosen shard",
                metrics::Refusal::Limit,
            ));
            self.metrics.refused(proto, refusal);
            eprintln!(
                "shardvpn: call refused on tunnel {tid} from {}: {why}",
                t.peer
            );
            t.engine.reject_call(now, peer_session, cdn::TEMPORARY);
            return;
        };
        t.engine.accept_call(now, peer_session, local);
        // Installed now, not at ICCN: the client may send LCP right after our ICRP,
        // and the shard must know the session to punt it to us (IP stays closed).
        self.prog.send(
            &self.dp,
            shard,
            Command::InstallSession {
                key: (tid, local),
                session: Session::new(
                    u32::from(tid) << 16 | u32::from(local),
                    None,
                    SessionFlags {
                        requires_esp: esp_shard.is_some(),
                    },
                ),
            },
        );
        t.sessions
            .insert(local, Sub::new(shard, peer_session, None, now, proto));
        self.metrics.started(proto);
        self.load.add(shard);
        self.active += 1;
        self.starting += 1;
        self.timers
            .schedule(now + self.iccn_timeout, Key::Session(tid, local));
    }

    /// Admits held calls while `max_starting` allows, oldest first; refuses those that
    /// waited longer than [`CALL_WAIT`] (CDN, temporary) and forgets those whose
    /// tunnel is gone.
    fn admit_waiting_calls(&mut self, now: Instant) {
        let limit = self.config.limits.effective_max_starting() as usize;
        while let Some(&(tid, peer_session, since)) = self.waiting_calls.front() {
            let expired = now.saturating_duration_since(since) >= CALL_WAIT;
            if !expired && self.starting >= limit {
                break;
            }
            self.waiting_calls.pop_front();
            if !self.tunnels.contains_key(&tid) {
                continue;
            }
            if expired {
                self.counters.calls_refused += 1;
                self.metrics
                    .refused(self.proto_of(tid), metrics::Refusal::StartingLimit);
                if let Some(t) = self.tunnels.get_mut(&tid) {
                    t.engine.reject_call(now, peer_session, cdn::TEMPORARY);
                }
            } else {
                self.on_incoming_call(now, tid, peer_session);
            }
            self.service_tunnel(now, tid);
        }
    }

    /// ICCN: install the session on its shard and start PPP.
    fn on_session_up(
        &mut self,
        now: Instant,
        tid: u16,
        local: u16,
        proxy: Option<l2tp::ProxyInfo>,
    ) {
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        let Some(sub) = t.sessions.get_mut(&local) else {
            return;
        };
        let mut ppp = {
            let mut fill = fill_random(&self.rng);
            Ppp::server(Arc::clone(&self.ppp_config), now, &mut fill)
        };
        match proxy {
            Some(p) => {
                let (lcp, auth) = proxy_to_ppp(p);
                ppp.start_with_proxy(now, &lcp, auth);
            }
            None => ppp.open(now),
        }
        for (protocol, frame) in std::mem::take(&mut sub.early) {
            ppp.handle_frame(now, protocol, &frame);
        }
        sub.ppp = Some(ppp);
        self.service_ppp(now, tid, local);
    }

    /// A PPP frame the shard punted for (tunnel, session).
    fn on_ppp_frame(&mut self, now: Instant, tid: u16, sid: u16, frame: &[u8]) {
        let Some((protocol, payload)) = frames::split_ppp_frame(frame) else {
            self.counters.malformed += 1;
            return;
        };
        let Some(sub) = self.sub_mut(tid, sid) else {
            return;
        };
        let Some(ppp) = sub.ppp.as_mut() else {
            // Before ICCN: keep a few frames for when PPP starts.
            if sub.early.len() < MAX_EARLY_FRAMES {
                sub.early.push((protocol, payload.to_vec()));
            }
            return;
        };
        ppp.handle_frame(now, protocol, payload);
        self.service_ppp(now, tid, sid);
    }

    /// Sends the PPP engine's frames and acts on its events.
    fn service_ppp(&mut self, now: Instant, tid: u16, sid: u16) {
        let mut events = Vec::new();
        if tid == PPTP_ROUTE_TUNNEL {
            let mut out = Vec::new();
            let Some(ppp) = self.sub_mut(tid, sid).and_then(|s| s.ppp.as_mut()) else {
                return;
            };
            while let Some(frame) = ppp.poll_transmit() {
                out.push(frame);
            }
            while let Some(e) = ppp.poll_event() {
                events.push(e);
            }
            for (protocol, packet) in out {
                self.pptp_send_frame(sid, protocol, &packet);
            }
        } else {
            let Some(t) = self.tunnels.get_mut(&tid) else {
                return;
            };
            let peer_tunnel = t.peer_tunnel;
            let Some(sub) = t.sessions.get_mut(&sid) else {
                return;
            };
            let Some(ppp) = sub.ppp.as_mut() else {
                return;
            };
            let mut out = Vec::new();
            while let Some((protocol, packet)) = ppp.poll_transmit() {
                out.push(frames::l2tp_ppp_message(
                    peer_tunnel,
                    sub.peer_session,
                    protocol,
                    &packet,
                ));
            }
            while let Some(e) = ppp.poll_event() {
                events.push(e);
            }
            for msg in out {
                self.send_l2tp(tid, &msg);
            }
        }
        let mut again = false;
        for e in events {
            again |= self.on_ppp_event(now, tid, sid, e);
        }
        if again {
            self.service_ppp(now, tid, sid);
            return;
        }
        if let Some(when) = self
            .sub_mut(tid, sid)
            .and_then(|s| s.ppp.as_ref())
            .and_then(Ppp::poll_timeout)
        {
            self.timers.schedule(when, Key::Session(tid, sid));
        }
    }

    /// Acts on one PPP event; true when the engine may have more to send.
    fn on_ppp_event(&mut self, now: Instant, tid: u16, sid: u16, event: PppEvent) -> bool {
        match event {
            PppEvent::AuthRequest(request) => {
                self.authenticate(now, tid, sid, request);
                true
            }
            PppEvent::NeedAddress => {
                self.assign_address(now, tid, sid);
                true
            }
            PppEvent::Ipv4Up { peer, .. } => {
                let Some(sub) = self.sub_mut(tid, sid) else {
                    return false;
                };
                let (shard, peer_session) = (sub.shard, sub.peer_session);
                sub.routed = true;
                let was_starting = std::mem::replace(&mut sub.starting, false);
                if was_starting {
                    let (proto, accepted) = (sub.proto, sub.accepted);
                    self.starting -= 1;
                    self.counters.sessions_established += 1;
                    let since = self.setup_started(tid, accepted);
                    self.metrics
                        .established(proto, now.saturating_duration_since(since));
                    self.acct_start(now, tid, sid, peer);
                }
                if tid == PPTP_ROUTE_TUNNEL {
                    self.pptp_counters.calls_established += u64::from(was_starting);
                }
                let set = if tid == PPTP_ROUTE_TUNNEL {
                    Command::SetCallIpv4 {
                        call_id: sid,
                        ipv4: Some(peer),
                    }
                } else {
                    Command::SetSessionIpv4 {
                        key: (tid, sid),
                        ipv4: Some(peer),
                    }
                };
                self.prog.send(&self.dp, shard, set);
                let route = Route {
                    tunnel: tid,
                    peer_session_id: peer_session,
                    session: (tid, sid),
                };
                self.prog
                    .broadcast(&self.dp, || Command::InstallRoute { ipv4: peer, route });
                // L2TP's transmit counters live beside the route (any shard sends).
                if tid != PPTP_ROUTE_TUNNEL
                    && let Some(sub) = self.sub_mut(tid, sid)
                {
                    let tx = Arc::clone(sub.tx.get_or_insert_with(Default::default));
                    self.prog.broadcast(&self.dp, || Command::SetRouteCounters {
                        ipv4: peer,
                        tx: Some(Arc::clone(&tx)),
                    });
                }
                // After the route: a route installed anew starts unlimited.
                self.apply_rate_limit(now, tid, sid);
                self.idle_start(now, tid, sid);
                false
            }
            PppEvent::Ipv4Down => {
                let Some(sub) = self.sub_mut(tid, sid) else {
                    return false;
                };
                let shard = sub.shard;
                let addr = sub.address;
                sub.routed = false;
                let set = if tid == PPTP_ROUTE_TUNNEL {
                    Command::SetCallIpv4 {
                        call_id: sid,
                        ipv4: None,
                    }
                } else {
                    Command::SetSessionIpv4 {
                        key: (tid, sid),
                        ipv4: None,
                    }
                };
                self.prog.send(&self.dp, shard, set);
                if let Some(ipv4) = addr {
                    self.prog
                        .broadcast(&self.dp, || Command::RemoveRoute { ipv4 });
                }
                false
            }
            PppEvent::Closed { reason } if tid == PPTP_ROUTE_TUNNEL => {
                if let Some(sub) = self.sub_mut(tid, sid) {
                    sub.close_reason = Some(reason);
                }
                self.pptp_call_closed(now, sid, reason);
                false
            }
            PppEvent::MppeUp { tx, rx } => {
                self.pptp_mppe_up(now, sid, tx, rx);
                true
            }
            PppEvent::MppeDown | PppEvent::MppeResetRequest => {
                let Some(shard) = self.sub_mut(tid, sid).map(|s| s.shard) else {
                    return false;
                };
                let command = if event == PppEvent::MppeDown {
                    Command::SetCallMppe {
                        call_id: sid,
                        mppe: None,
                    }
                } else {
                    Command::ResetCallMppe { call_id: sid }
                };
                self.prog.send(&self.dp, shard, command);
                false
            }
            PppEvent::Closed { reason } => {
                if let Some(sub) = self.sub_mut(tid, sid) {
                    sub.close_reason = Some(reason);
                }
                let result = match reason {
                    CloseReason::Admin => cdn::ADMIN,
                    CloseReason::NoAddress => cdn::TEMPORARY,
                    _ => cdn::GENERAL,
                };
                if let Some(t) = self.tunnels.get_mut(&tid) {
                    t.engine.close_session(now, sid, result);
                }
                self.release_session(tid, sid);
                self.service_tunnel(now, tid);
                false
            }
            _ => false,
        }
    }

    /// The subscriber of an L2TP session, or of a PPTP call when `tid` is
    /// [`PPTP_ROUTE_TUNNEL`] (`sid` is then the Call ID).
    fn sub_mut(&mut self, tid: u16, sid: u16) -> Option<&mut Sub> {
        if tid == PPTP_ROUTE_TUNNEL {
            return self.pptp.as_mut()?.calls.get_mut(&sid).map(|c| &mut *c.sub);
        }
        self.tunnels
            .get_mut(&tid)?
            .sessions
            .get_mut(&sid)
            .map(|s| &mut **s)
    }

    /// An authentication request from PPP: decided by the configured backend, then
    /// applied by [`Lns::finish_auth`].
    fn authenticate(&mut self, now: Instant, tid: u16, sid: u16, request: AuthRequest) {
        if self.radius.is_some() {
            return self.radius_auth(now, tid, sid, request);
        }
        let outcome = self.local_auth(&request);
        self.finish_auth(now, tid, sid, &request.username, outcome);
    }

    /// The users file's verdict.
    fn local_auth(&mut self, request: &AuthRequest) -> AuthOutcome {
        let name = &request.username;
        let result = match &request.proof {
            AuthProof::Pap { password } => self
                .auth
                .pap(name, password.expose())
                .map(|g| (g, None, None)),
            AuthProof::ChapMd5 {
                identifier,
                challenge,
                response,
            } => self
                .auth
                .chap_md5(name, *identifier, challenge, response)
                .map(|g| (g, None, None)),
            AuthProof::MsChapV2 {
                authenticator_challenge,
                peer_challenge,
                nt_response,
                ..
            } => self
                .auth
                .mschapv2(name, authenticator_challenge, peer_challenge, nt_response)
                .map(|(g, keys)| {
                    let response =
                        ppp::authenticator_response_bytes(keys.authenticator_response.as_bytes());
                    (g, response, Some(MppeKeying::Master(keys.master_key)))
                }),
        };
        let verdict = if result.is_ok() {
            metrics::AuthResult::Accept
        } else {
            metrics::AuthResult::Reject
        };
        self.metrics.auth(metrics::Backend::Local, verdict);
        match result {
            Ok((grant, authenticator_response, mppe)) => {
                AuthOutcome::Accept(Box::new(Authorized {
                    address: grant.identity.address,
                    ticket: Some(grant.ticket),
                    authenticator_response,
                    mppe,
                    session_timeout: None,
                    idle_timeout: None,
                    class: Vec::new(),
                    interim: None,
                    rate: None,
                    ipcp: None,
                }))
            }
            Err(error) => AuthOutcome::Reject {
                why: error.to_string(),
            },
        }
    }

    /// Applies an AAA verdict to the session's PPP (and, for PPTP, keeps the MPPE
    /// keying for when CCP opens).
    fn finish_auth(&mut self, now: Instant, tid: u16, sid: u16, name: &[u8], outcome: AuthOutcome) {
        let accepted = match outcome {
            AuthOutcome::Accept(a) => a,
            AuthOutcome::Reject { why } => {
                self.counters.auth_failures += 1;
                eprintln!(
                    "shardvpn: authentication failed on tunnel {tid} session {sid} for {}: {why}",
                    LogSafeName(name)
                );
                if let Some(ppp) = self.sub_mut(tid, sid).and_then(|s| s.ppp.as_mut()) {
                    let _ = ppp.auth_reject(now, "Authentication failed");
                }
                return;
            }
        };
        let Authorized {
            address,
            ticket,
            authenticator_response,
            mppe,
            session_timeout,
            idle_timeout,
            class,
            interim,
            rate,
            ipcp,
        } = *accepted;
        let rate = rate.or_else(|| self.config.ppp.default_rate_limit());
        let acct = self.acct_state(tid, sid, class, interim);
        if tid == PPTP_ROUTE_TUNNEL {
            // The MPPE keys come from MS-CHAPv2; without them (PAP/CHAP allowed, MPPE
            // optional) CCP is refused rather than negotiated without keys.
            let optional = self.config.pptp.mppe == crate::config::MppeRequirement::Optional;
            if let Some(c) = self.pptp.as_mut().and_then(|p| p.calls.get_mut(&sid)) {
                if mppe.is_none()
                    && optional
                    && let Some(ppp) = c.sub.ppp.as_mut()
                {
                    ppp.set_ccp_policy(ppp::CcpPolicy::Reject);
                }
                c.mppe_keying = mppe;
            }
        }
        let config_idle = self.ppp_config.idle_timeout;
        let Some(sub) = self.sub_mut(tid, sid) else {
            if let Some(ticket) = ticket {
                self.auth.end_session(ticket);
            }
            return;
        };
        sub.user = Some(String::from_utf8_lossy(name).into());
        sub.acct = acct;
        sub.rate = rate;
        sub.radius_ipcp = ipcp;
        sub.static_address = address;
        sub.ticket = ticket;
        let Some(ppp) = sub.ppp.as_mut() else {
            return;
        };
        if session_timeout.is_some() {
            ppp.set_session_timeout(now, session_timeout);
        }
        if idle_timeout.is_some() {
            ppp.set_idle_timeout(idle_timeout);
        }
        // The timeout in force (RADIUS's, else `ppp.idle_timeout`) decides how often
        // activity is sampled: four times per timeout, at most every 30 s.
        sub.idle_check = idle_timeout
            .or(config_idle)
            .map(|t| (t / 4).clamp(Duration::from_secs(1), Duration::from_secs(30)));
        if ppp.auth_accept(now, authenticator_response).is_err() {
            ppp.close(now, CloseReason::AuthFailed);
        }
    }

    /// IPCP needs an address: the user's static one, else one from the pools.
    fn assign_address(&mut self, now: Instant, tid: u16, sid: u16) {
        let Some(sub) = self.sub_mut(tid, sid) else {
            return;
        };
        let static_address = sub.static_address;
        let (pool_name, radius_dns) = match sub.radius_ipcp.as_deref() {
            Some(r) => (r.pool.clone(), r.dns),
            None => (None, [None; 2]),
        };
        // Framed-Pool (RFC 2869 §5.15) names the pool; an unknown one is an error
        // of the RADIUS setup, logged, and the session gets no address.
        let pool = match pool_name.as_deref() {
            Some(name) => match self.pools.id_of(name) {
                Some(id) => Some(id),
                None => {
                    eprintln!("shardvpn: RADIUS Framed-Pool {name:?} is not a configured [[pool]]");
                    if let Some(ppp) = self.sub_mut(tid, sid).and_then(|s| s.ppp.as_mut()) {
                        ppp.close(now, CloseReason::NoAddress);
                    }
                    return;
                }
            },
            None => None,
        };
        let allocated = match static_address {
            Some(addr) => self.pools.allocate_specific(addr).map(|id| (id, addr)),
            None => self.pools.allocate(pool).map(|(id, addr)| (Some(id), addr)),
        };
        // DNS: RADIUS's (MS-Primary/Secondary-DNS-Server), else the pool's, else
        // `ppp.dns`.
        let pool_config = allocated
            .as_ref()
            .ok()
            .and_then(|(id, _)| *id)
            .and_then(|id| self.pools.get(id))
            .and_then(|p| self.config.pool_named(p.name()));
        let configured = self.config.dns_for(pool_config);
        let dns = if radius_dns.iter().any(Option::is_some) {
            radius_dns
        } else {
            [configured.first().copied(), configured.get(1).copied()]
        };
        let allocated = allocated.map(|(_, addr)| addr);
        let ppp_cfg = &self.config.ppp;
        let nbns = [ppp_cfg.nbns.first().copied(), ppp_cfg.nbns.get(1).copied()];
        let local = ppp_cfg.local_address;
        if allocated.is_err() {
            self.counters.pool_exhausted += 1;
        }
        let Some(sub) = self.sub_mut(tid, sid) else {
            return;
        };
        let Some(ppp) = sub.ppp.as_mut() else {
            return;
        };
        match allocated {
            Ok(peer) => {
                sub.address = Some(peer);
                let _ = ppp.set_ipv4(
                    now,
                    Ipv4Assignment {
                        peer,
                        local,
                        dns,
                        nbns,
                    },
                );
            }
            Err(error) => {
                eprintln!("shardvpn: no address for tunnel {tid} session {sid}: {error}");
                ppp.close(now, CloseReason::NoAddress);
            }
        }
    }

    /// Removes everything a session holds, exactly once.
    fn release_session(&mut self, tid: u16, sid: u16) {
        if tid == PPTP_ROUTE_TUNNEL {
            self.pptp_release_call(sid);
            return;
        }
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return;
        };
        let Some(sub) = t.sessions.remove(&sid) else {
            return;
        };
        t.ids.release(sid);
        let remove = sub
            .installed
            .then_some(Command::RemoveSession { key: (tid, sid) });
        self.release_sub(sub, remove);
    }

    /// What every ended session gives back: its admission counts, its shard entry
    /// (`remove`), its route and address, its per-user ticket.
    fn release_sub(&mut self, sub: Box<Sub>, remove: Option<Command>) {
        self.active -= 1;
        self.counters.sessions_ended += 1;
        self.metrics.ended(
            sub.proto,
            metrics::Cause::of(sub.close_reason, sub.timed_out, self.shutting_down),
        );
        if sub.starting {
            self.starting -= 1;
        }
        self.load.remove(sub.shard);
        // With accounting, the shard removes the entry and reports its final counters
        // in one step, for the Stop record.
        let remove = match remove {
            Some(command) => self.acct_stop(&sub, command),
            None => None,
        };
        if let Some(command) = remove {
            self.prog.send(&self.dp, sub.shard, command);
        }
        if let Some(ipv4) = sub.address {
            if sub.routed {
                self.prog
                    .broadcast(&self.dp, || Command::RemoveRoute { ipv4 });
            }
            let _ = self.pools.release(ipv4);
        }
        if let Some(ticket) = sub.ticket {
            self.auth.end_session(ticket);
        }
    }

    /// The control connection is gone: every session with it.
    fn release_tunnel(&mut self, tid: u16) {
        let sids: Vec<u16> = match self.tunnels.get(&tid) {
            Some(t) => t.sessions.keys().copied().collect(),
            None => return,
        };
        for sid in sids {
            self.release_session(tid, sid);
        }
        let Some(t) = self.tunnels.remove(&tid) else {
            return;
        };
        self.by_peer.remove(&(t.peer, t.peer_tunnel));
        if t.up {
            self.prog
                .broadcast(&self.dp, || Command::RemoveTunnel { id: tid });
        }
        self.counters.tunnels_closed += 1;
        match t.esp {
            // The client's L2TP is over (or dead): so is its IPsec (the tunnel ID
            // goes back with the client).
            Some(conn) => self.close_conn(Instant::now(), conn, "its L2TP tunnel ended"),
            None => self.tunnel_ids.release(tid),
        }
    }

    fn run_timers(&mut self, now: Instant) {
        while let Some(key) = self.timers.pop_due(now) {
            match key {
                Key::Tunnel(tid) => {
                    let due = self
                        .tunnels
                        .get(&tid)
                        .and_then(|t| t.engine.poll_timeout())
                        .is_some_and(|w| w <= now);
                    if due {
                        if let Some(t) = self.tunnels.get_mut(&tid) {
                            t.engine.handle_timeout(now);
                        }
                        self.service_tunnel(now, tid);
                    }
                }
                Key::Ike(cky) => self.ike_timer(now, cky),
                Key::Pptp(token) => self.pptp_timer(now, token),
                Key::Radius => self.radius_timer(now),
                Key::Interim(tid, sid) => self.acct_interim(now, tid, sid),
                Key::Idle(tid, sid) => self.idle_check(now, tid, sid),
                Key::Session(tid, sid) => {
                    let iccn_timeout = self.iccn_timeout;
                    let Some(sub) = self.sub_mut(tid, sid) else {
                        continue;
                    };
                    let Some(ppp) = sub.ppp.as_mut() else {
                        // Accepted (ICRP sent) but no ICCN in time: a half-open call
                        // must not hold a `max_starting` slot for ever.
                        if now >= sub.accepted + iccn_timeout {
                            sub.timed_out = true;
                            self.counters.calls_timed_out += 1;
                            if let Some(t) = self.tunnels.get_mut(&tid) {
                                t.engine.close_session(now, sid, cdn::GENERAL);
                            }
                            self.release_session(tid, sid);
                            self.service_tunnel(now, tid);
                        }
                        continue;
                    };
                    if ppp.poll_timeout().is_some_and(|w| w <= now) {
                        ppp.handle_timeout(now);
                        self.service_ppp(now, tid, sid);
                    }
                }
            }
        }
    }

    /// SIGTERM: LCP Terminate to every subscriber, CDN for every call, StopCCN for
    /// every tunnel, then a bounded wait for the LACs' acknowledgements.
    pub fn shutdown(&mut self) {
        let now = Instant::now();
        self.shutting_down = true;
        self.pptp_shutdown(now);
        let keys: Vec<(u16, u16)> = self
            .tunnels
            .iter()
            .flat_map(|(tid, t)| t.sessions.keys().map(move |sid| (*tid, *sid)))
            .collect();
        for (tid, sid) in keys {
            if let Some(ppp) = self.sub_mut(tid, sid).and_then(|s| s.ppp.as_mut()) {
                ppp.close(now, CloseReason::Admin);
            }
            self.service_ppp(now, tid, sid);
            if let Some(t) = self.tunnels.get_mut(&tid) {
                t.engine.close_session(now, sid, cdn::ADMIN);
            }
            self.release_session(tid, sid);
        }
        let tids: Vec<u16> = self.tunnels.keys().copied().collect();
        for tid in &tids {
            if let Some(t) = self.tunnels.get_mut(tid) {
                t.engine.close(now, STOPCCN_CLEAR);
            }
            self.service_tunnel(now, *tid);
        }
        let deadline = now + SHUTDOWN_GRACE;
        let mut buf = vec![0u8; 65536];
        let mut ready = Vec::new();
        while !self.tunnels.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let wait = self
                .timers
                .next_deadline()
                .map_or(deadline, |d| d.min(deadline))
                .saturating_duration_since(now);
            let fds = [self.sock.as_raw_fd(), self.dp_wake_fd()];
            if wait_readable(&fds, Some(wait), &mut ready).is_err() {
                break;
            }
            let now = Instant::now();
            if ready.first() == Some(&true) {
                self.drain_socket(now, &mut buf);
            }
            if ready.get(1) == Some(&true) {
                self.dp.clear_inbox_wake();
            }
            // Acknowledgements from L2TP/IPsec clients come decrypted by the shards.
            self.drain_shards(now);
            self.run_timers(now);
            self.prog.flush(&self.dp);
        }
        for tid in self.tunnels.keys().copied().collect::<Vec<_>>() {
            self.release_tunnel(tid);
        }
        self.close_all_ike(Instant::now());
        self.prog.flush(&self.dp);
        self.acct_shutdown();
    }
}

/// The LAC's Assigned Tunnel ID AVP in an SCCRQ (RFC 2661 §4.4.3).
fn assigned_tunnel_id(packet: &wire_l2tp::Packet<&[u8]>) -> Option<u16> {
    packet.avps().find_map(|avp| {
        let avp = avp.ok()?;
        let wanted = u16::from(wire_l2tp::avp::AttributeType::AssignedTunnelId);
        if avp.vendor_id != 0 || avp.hidden || avp.attribute_type != wanted {
            return None;
        }
        let value: [u8; 2] = avp.value.try_into().ok()?;
        Some(u16::from_be_bytes(value))
    })
}

/// Whether `from` may open a plain L2TP tunnel (`l2tp.lac_addresses`; empty: none).
fn lac_allowed(config: &Config, from: SocketAddr) -> bool {
    config.l2tp.lac_allowed(from.ip())
}

/// The PPP server configuration from `[ppp]`.
fn ppp_config(config: &Config) -> PppConfig {
    let p = &config.ppp;
    let secs = |s: u32| (s > 0).then(|| Duration::from_secs(u64::from(s)));
    PppConfig {
        auth_methods: p
            .auth
            .iter()
            .map(|m| match m {
                crate::config::AuthMethod::MsChapV2 => ppp::AuthMethod::MsChapV2,
                crate::config::AuthMethod::Chap => ppp::AuthMethod::ChapMd5,
                crate::config::AuthMethod::Pap => ppp::AuthMethod::Pap,
            })
            .collect(),
        mru: p.mru,
        echo_interval: secs(p.echo_interval),
        echo_failures: p.echo_failures,
        session_timeout: secs(p.session_timeout),
        idle_timeout: secs(p.idle_timeout),
        ipv6: p.ipv6,
        proxy: match p.proxy_lcp {
            crate::config::ProxyLcp::Accept => ppp::ProxyPolicy::Accept,
            crate::config::ProxyLcp::Renegotiate => ppp::ProxyPolicy::Renegotiate,
        },
        ..PppConfig::default()
    }
}

/// The L2TP tunnel configuration from `[l2tp]`.
fn l2tp_config(config: &Config) -> l2tp::TunnelConfig {
    let l = &config.l2tp;
    l2tp::TunnelConfig {
        hostname: l.hostname.clone(),
        secret: (!l.secret.is_empty())
            .then(|| zeroize::Zeroizing::new(l.secret.expose().as_bytes().to_vec())),
        hello_interval: Duration::from_secs(u64::from(l.hello_interval)),
        retransmit_initial: Duration::from_millis(u64::from(l.retransmit_initial_ms)),
        retransmit_max: Duration::from_millis(u64::from(l.retransmit_max_ms)),
        retransmit_retries: l.retransmit_retries,
        receive_window: l.receive_window,
    }
}

/// The LAC's proxy AVPs (RFC 2661 §4.4.5) as the PPP engine takes them.
fn proxy_to_ppp(p: l2tp::ProxyInfo) -> (ppp::ProxyLcp, Option<ppp::ProxyAuth>) {
    let lcp = ppp::ProxyLcp {
        initial_received: p.initial_received,
        last_sent: p.last_sent,
        last_received: p.last_received,
    };
    let auth = p.authen_type.map(|kind| ppp::ProxyAuth {
        kind: ppp::ProxyAuthType::from_avp(kind),
        name: p.authen_name,
        challenge: p.authen_challenge,
        id: p.authen_id,
        response: ppp::util::Secret::new(p.authen_response.to_vec()),
    });
    (lcp, auth)
}

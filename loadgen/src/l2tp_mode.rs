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

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};
use shardvpn::control::frames;
use shardvpn::control::timers::Timers;
use shardvpn::proto::l2tp;
use shardvpn::proto::ppp::{self, AuthMethod, Credentials, Ppp, PppConfig, PppEvent};
use shardvpn::runtime::signals::wait_readable;
use shardvpn::wire::{icmpv4, ipv4, l2tp as wire_l2tp};

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Tunnel(usize),
    Session(usize, u16),
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
}

fn fill(rng: &SystemRandom) -> impl FnMut(&mut [u8]) + '_ {
    move |buf: &mut [u8]| rng.fill(buf).expect("OS random number generator")
}

/// An IPv4 ICMP Echo Request from `src` to `dst`.
fn echo_request(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16) -> Vec<u8> {
    let payload = b"loadgen ping";
    let echo = icmpv4::EchoRepr {
        reply: false,
        identifier: id,
        sequence: seq,
        data: payload,
    };
    let ip = ipv4::Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: ipv4::Protocol::Icmp,
        payload_len: echo.buffer_len(),
        hop_limit: 64,
    };
    let mut buf = vec![0u8; ip.buffer_len() + echo.buffer_len()];
    echo.emit(&mut buf[ip.buffer_len()..]);
    ip.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]));
    buf
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
        {
            let lac = &mut self.lacs[t];
            while let Some(msg) = lac.engine.poll_transmit(now) {
                let _ = lac.sock.send_to(&msg, self.opts.server);
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
            let _ = lac.sock.send_to(&msg, self.opts.server);
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
        {
            let lac = &mut self.lacs[t];
            let peer_tunnel = lac.peer_tunnel;
            let Some(call) = lac.calls.get_mut(&sid) else {
                return;
            };
            let Some(ppp) = call.ppp.as_mut() else {
                return;
            };
            while let Some((protocol, packet)) = ppp.poll_transmit() {
                let msg =
                    frames::l2tp_ppp_message(peer_tunnel, call.peer_session, protocol, &packet);
                let _ = lac.sock.send_to(&msg, self.opts.server);
            }
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
                    }
                }
                PppEvent::Closed { reason } => {
                    self.fail(t, sid, &format!("ppp_{}", reason.text().replace(' ', "_")));
                }
                _ => {}
            }
        }
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
        let Ok(ip) = ipv4::Packet::new_checked(packet) else {
            return;
        };
        if ip.next_header() != ipv4::Protocol::Icmp {
            return;
        }
        let Ok(icmp) = icmpv4::Packet::new_checked(ip.payload()) else {
            return;
        };
        let Ok(echo) = icmpv4::EchoRepr::parse(&icmp) else {
            return;
        };
        if !echo.reply {
            return;
        }
        if let Some(sent) = self.ping_sent_at.remove(&(t, sid, echo.sequence)) {
            self.pings_received += 1;
            self.rtt.record(now - sent);
        }
    }

    fn ping(&mut self, now: Instant, t: usize, sid: u16) {
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
        if lac.sock.send_to(&msg, self.opts.server).is_ok() {
            self.pings_sent += 1;
            self.ping_sent_at.insert((t, sid, call.ping_seq), now);
        }
    }

    fn run_timers(&mut self, now: Instant) {
        while let Some(key) = self.timers.pop_due(now) {
            match key {
                Key::Tunnel(t) => {
                    if self.lacs[t].engine.poll_timeout().is_some_and(|w| w <= now) {
                        self.lacs[t].engine.handle_timeout(now);
                        self.service_tunnel(now, t);
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
                let Ok(n) = self.lacs[t].sock.recv(buf) else {
                    break;
                };
                let bytes = buf[..n].to_vec();
                self.on_datagram(now, t, &bytes);
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
        lac.calls.insert(
            sid,
            Call {
                placed: now,
                ppp: None,
                peer_session: 0,
                local_addr: None,
                server_addr: None,
                established: false,
                failed: false,
                ping_seq: 0,
            },
        );
        self.placed += 1;
        self.service_tunnel(now, t);
    }
}

/// A progress line on stderr, at most once a second: rewritten in place on a
/// terminal, one line each time otherwise (logs, CI).
struct Progress {
    tty: bool,
    last: Option<Instant>,
    start: Instant,
}

impl Progress {
    fn new() -> Progress {
        use std::io::IsTerminal;
        Progress {
            tty: std::io::stderr().is_terminal(),
            last: None,
            start: Instant::now(),
        }
    }

    fn show(&mut self, now: Instant, up: u64, failed: u64, total: usize) {
        if self.last.is_some_and(|l| now < l + Duration::from_secs(1)) {
            return;
        }
        self.last = Some(now);
        let line = format!(
            "loadgen: {:>6.1} s  established {up}/{total}  failed {failed}",
            (now - self.start).as_secs_f64()
        );
        if self.tty {
            eprint!("\r{line}");
        } else {
            eprintln!("{line}");
        }
    }

    fn finish(&self) {
        if self.tty {
            eprintln!();
        }
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
    };
    let start = Instant::now();
    let config = run.tunnel_config();
    for t in 0..opts.tunnels.max(1) {
        let sock = UdpSocket::bind((opts.bind, 0))?;
        sock.set_nonblocking(true)?;
        // One LAC socket carries every PPP frame of its share of the sessions.
        shardvpn::runtime::sockbuf::set_recv_buffer(&sock, LAC_RECV_BUFFER)?;
        let engine = {
            let mut rng = fill(&run.rng);
            l2tp::Tunnel::lac_connect(start, &config, (t + 1) as u16, &mut rng)
        };
        run.lacs.push(Lac {
            sock,
            engine,
            up: false,
            closed: false,
            calls: HashMap::new(),
            next_session: 0,
            peer_tunnel: 0,
        });
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
            let n = run.lacs.len();
            let Some(t) = (0..n).map(|i| (rr + i) % n).find(|&t| run.lacs[t].up) else {
                break;
            };
            rr = t + 1;
            run.place_call(now, t);
            if let Some(i) = interval {
                next_call += i;
            }
        }
        run.turn(&mut buf, &mut ready, Duration::from_millis(10));
    }
    progress.last = None;
    progress.show(Instant::now(), run.established, run.failed, opts.sessions);
    progress.finish();
    // Calls still not up count as timed out.
    for t in 0..run.lacs.len() {
        let sids: Vec<u16> = run.lacs[t].calls.keys().copied().collect();
        for sid in sids {
            run.fail(t, sid, "setup_timeout");
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

    // Teardown: LCP Terminate, then CDN, then StopCCN, bounded.
    let now = Instant::now();
    for t in 0..run.lacs.len() {
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
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end && run.lacs.iter().any(|l| !l.closed) {
        run.turn(&mut buf, &mut ready, Duration::from_millis(10));
    }
    let teardown_clean = run.lacs.iter().all(|l| l.closed);

    Ok(Report {
        mode: "l2tp".into(),
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
    })
}

//! `cargo bench --bench dataplane` (root): the data plane against a baseline, in the
//! same run, on this machine.
//!
//! Two network namespaces joined by a veth pair (`a` = subscribers, `b` = the
//! concentrator, one shard pinned to the last core). A sender pinned to core 0 blasts
//! packets; the shard's own counters say how many it moved and how much CPU time its
//! thread used.
//!
//! - **rx**: the sender in `a` sends ESP-in-UDP (AES-128-GCM) datagrams carrying
//!   L2TP/PPP/IPv4 to UDP/4500; the shard decrypts, demultiplexes and writes the inner
//!   IPv4 packet to TUN. The **baseline** shard receives a UDP datagram carrying the
//!   same inner IPv4 packet and writes it to TUN as is, with the same rings, batching
//!   and submission (no crypto, no protocol work).
//! - **tx**: a sender in `b` sends UDP to the subscriber's address, routed into the
//!   TUN; the shard reads it, encapsulates (PPP, L2TP, UDP), encrypts (AES-128-GCM)
//!   and sends it to the subscriber's NAT-T address in `a`. The baseline sends the TUN
//!   packet as is to the same address.
//!
//! Sizes are the inner IPv4 packet's (what TUN carries): 1400 B and 64 B. The
//! client side of the rx path (ESP sealing) is built with the library's own transmit
//! node, as loadgen does. Inner packets go to 198.18.0.1 (RFC 2544 benchmark space),
//! which `b` routes to a blackhole, so the kernel drops them right after the TUN
//! write, at the same cost for ours and the baseline.
//!
//! A counting global allocator counts heap allocations in the whole process during
//! each measurement window; the steady state must show 0 per packet.
//!
//! Each case runs 3 rounds of 2 s, ours and the baseline alternating, and reports each
//! side's median round. Without `--bench` (as `cargo test --all-targets` runs it) each
//! case runs once for a fraction of a second as a smoke test. `DATAPLANE_SECS` sets the measuring
//! time; `DATAPLANE_CASE=rx/ours/1400` (rx|tx, ours|baseline, size) runs one case
//! alone, for profiling.
//!
//! The last line is machine-readable:
//! `dataplane rx_pps=N rx_ratio=R rx_ns_per_pkt=N tx_pps=N tx_ratio=R tx_ns_per_pkt=N`
//! (1400 B figures; ratio = ours / baseline).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shardvpn::crypto::esp::{AesKeySize, AnyTransform, Esn, Suite};
use shardvpn::dataplane::counters::Counters;
use shardvpn::dataplane::tables::{
    Capacities, Command, Encap, EspEncap, InboundSa, OutboundSa, Route, Session, SessionFlags,
    Tables, TunnelTx,
};
use shardvpn::dataplane::tx::{self, TX_HEADROOM, TX_TAILROOM, Tx};
use shardvpn::runtime::engine::{Dataplane, DataplaneSpec};
use shardvpn::runtime::listen::ListenSpec;
use shardvpn::runtime::mmsg::MmsgSender;
use shardvpn::runtime::netns;
use shardvpn::runtime::shard::{Mode, ShardStats};
use shardvpn::wire::{ipv4, udp};

#[path = "../tests/runtime_netns/mod.rs"]
mod runtime_netns;
use runtime_netns::{PAIR_A, PAIR_B, Pair, ip, is_root};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// Safety: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // Safety: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Safety: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // Safety: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SUBSCRIBER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const SINK: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const KEY: [u8; 20] = [0x42; 20];
const SPI_IN: u32 = 0x1000;
const SPI_OUT: u32 = 0x2000;
const TUNNEL: u16 = 7;
const SESSION: u16 = 9;
const PEER_TUNNEL: u16 = 70;
const PEER_SESSION: u16 = 90;
const BATCH: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Ours,
    Baseline,
}

#[derive(Clone, Copy, Default)]
struct Measurement {
    pps: f64,
    ns_per_pkt: f64,
    allocs_per_pkt: f64,
    packets: u64,
}

fn gcm() -> AnyTransform {
    let suite = Suite::AesGcm16 {
        key: AesKeySize::Aes128,
    };
    AnyTransform::new(suite, Esn::Disabled, &KEY, &[]).expect("AES-GCM transform")
}

fn capacities() -> Capacities {
    Capacities {
        sas: 64,
        sessions: 64,
        tunnels: 64,
        routes: 64,
    }
}

fn spec(mode: Mode, last_core: usize) -> DataplaneSpec {
    DataplaneSpec {
        shards: 1,
        pin_cores: true,
        cpus: vec![last_core],
        batch: BATCH,
        buffers: 4096,
        buffer_size: 2048,
        capacities: capacities(),
        punt_queue: 64,
        command_queue: 64,
        listen: ListenSpec {
            address: PAIR_B.into(),
            ike_port: 500,
            nat_t_port: 4500,
            l2tp_port: 1701,
            raw_esp: false,
            gre: false,
        },
        tun_name: "svbench0".into(),
        tun_mtu: 1400,
        mode,
    }
}

/// An IPv4/UDP packet of `total` bytes from the subscriber to the sink.
fn inner_packet(total: usize) -> Vec<u8> {
    let payload = total - ipv4::HEADER_LEN - udp::HEADER_LEN;
    let mut buf = vec![0u8; total];
    let ip_repr = ipv4::Repr {
        src_addr: SUBSCRIBER,
        dst_addr: SINK,
        next_header: ipv4::Protocol::Udp,
        payload_len: udp::HEADER_LEN + payload,
        hop_limit: 64,
    };
    let mut p = ipv4::Packet::new_unchecked(&mut buf[..]);
    ip_repr.emit(&mut p);
    let u = udp::Repr {
        src_port: 5001,
        dst_port: 9,
        payload_len: payload,
    };
    u.emit(
        &mut udp::Packet::new_unchecked(p.payload_mut()),
        udp::IpPair::V4(SUBSCRIBER, SINK),
    );
    buf
}

/// The subscriber's side as tables: its outbound SA is the concentrator's inbound one.
fn client_tables(server: SocketAddr) -> Tables {
    let mut t = Tables::new(capacities());
    let sa = Arc::new(OutboundSa::new(SPI_IN, gcm()));
    let tunnel = TunnelTx {
        peer: server,
        peer_tunnel_id: TUNNEL,
        encap: Encap::EspUdp(EspEncap {
            sa,
            local: PAIR_A.into(),
            inner_src_port: 1701,
            inner_dst_port: 1701,
        }),
    };
    t.apply(Command::InstallTunnel {
        id: PEER_TUNNEL,
        tunnel,
    })
    .expect("client tunnel");
    t.apply(Command::InstallRoute {
        ipv4: SINK,
        route: Route {
            tunnel: PEER_TUNNEL,
            peer_session_id: SESSION,
            session: (PEER_TUNNEL, PEER_SESSION),
        },
    })
    .expect("client route");
    t
}

/// Installs the subscriber on the concentrator's shard: inbound SA, session, tunnel
/// (to the subscriber's NAT-T address) and route.
fn install(dp: &Dataplane, peer: SocketAddr) {
    let sa = InboundSa::new(gcm(), TUNNEL, 1, peer);
    dp.send(
        0,
        Command::InstallSa {
            spi: SPI_IN,
            sa: Box::new(sa),
        },
    )
    .expect("queue");
    let flags = SessionFlags { requires_esp: true };
    dp.send(
        0,
        Command::InstallSession {
            key: (TUNNEL, SESSION),
            session: Session::new(1, Some(SUBSCRIBER), flags),
        },
    )
    .expect("queue");
    let out = Arc::new(OutboundSa::new(SPI_OUT, gcm()));
    dp.send(
        0,
        Command::InstallTunnel {
            id: TUNNEL,
            tunnel: TunnelTx {
                peer,
                peer_tunnel_id: PEER_TUNNEL,
                encap: Encap::EspUdp(EspEncap {
                    sa: out,
                    local: PAIR_B.into(),
                    inner_src_port: 1701,
                    inner_dst_port: 1701,
                }),
            },
        },
    )
    .expect("queue");
    dp.send(
        0,
        Command::InstallRoute {
            ipv4: SUBSCRIBER,
            route: Route {
                tunnel: TUNNEL,
                peer_session_id: PEER_SESSION,
                session: (TUNNEL, SESSION),
            },
        },
    )
    .expect("queue");
    let deadline = Instant::now() + Duration::from_secs(2);
    while !dp.commands_drained() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
}

fn pin(core: usize) {
    let _ = core_affinity::set_for_current(core_affinity::CoreId { id: core });
}

/// Sends until `stop`: ESP-in-UDP built by the client tables (ours) or the bare inner
/// packet (baseline), `BATCH` per sendmmsg.
fn rx_sender(which: Which, inner: Vec<u8>, ns: String, stop: Arc<AtomicBool>) {
    let server = SocketAddr::from((PAIR_B, 4500));
    netns::enter_path(format!("/var/run/netns/{ns}")).expect("enter ns a");
    pin(0);
    let sock = UdpSocket::bind((PAIR_A, 4500)).expect("bind sender");
    let mut mmsg = MmsgSender::new(BATCH, server);
    let slot = TX_HEADROOM + inner.len() + TX_TAILROOM;
    let mut bufs = vec![vec![0u8; slot]; BATCH];
    let mut ranges = vec![0..0; BATCH];
    let tables = client_tables(server);
    let mut counters = Counters::new();
    while !stop.load(Ordering::Relaxed) {
        // One clock read per batch, as the shard does.
        let now = std::time::Instant::now();
        for (buf, range) in bufs.iter_mut().zip(ranges.iter_mut()) {
            buf[TX_HEADROOM..TX_HEADROOM + inner.len()].copy_from_slice(&inner);
            *range = match which {
                Which::Baseline => TX_HEADROOM..TX_HEADROOM + inner.len(),
                Which::Ours => {
                    let ip = TX_HEADROOM..TX_HEADROOM + inner.len();
                    match tx::tun_input(&tables, &mut counters, now, buf, ip) {
                        Tx::Send { range, .. } => range,
                        other => panic!("client encapsulation failed: {other:?}"),
                    }
                }
            };
        }
        let mut slices: [&[u8]; BATCH] = [&[]; BATCH];
        for (s, (buf, range)) in slices.iter_mut().zip(bufs.iter().zip(ranges.iter())) {
            *s = &buf[range.clone()];
        }
        // Queue overflow (ENOBUFS) under a blast is expected: keep going.
        let _ = mmsg.send(&sock, &slices);
    }
}

/// Sends UDP to the subscriber's address from inside `b`, so the packets leave
/// through the TUN.
fn tx_sender(inner: Vec<u8>, ns: String, stop: Arc<AtomicBool>) {
    netns::enter_path(format!("/var/run/netns/{ns}")).expect("enter ns b");
    pin(0);
    let sock = UdpSocket::bind((Ipv4Addr::new(10, 77, 0, 1), 5001)).expect("bind sender");
    let mut mmsg = MmsgSender::new(BATCH, SocketAddr::from((SUBSCRIBER, 9)));
    let payload = vec![0u8; inner.len() - ipv4::HEADER_LEN - udp::HEADER_LEN];
    let slices: [&[u8]; BATCH] = [&payload[..]; BATCH];
    while !stop.load(Ordering::Relaxed) {
        let _ = mmsg.send(&sock, &slices);
    }
}

fn moved(s: &ShardStats, rx: bool) -> u64 {
    if rx {
        s.runtime.tun_writes
    } else {
        s.runtime.sends
    }
}

fn measure(pair: &Pair, rx: bool, which: Which, inner_len: usize, secs: f64) -> Measurement {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let peer = SocketAddr::from((PAIR_A, 4500));
    let mode = match which {
        Which::Ours => Mode::Full,
        Which::Baseline => Mode::Baseline { peer },
    };
    let spec = spec(mode, cores.saturating_sub(1));
    let b = pair.b.name.clone();
    let dp = pair.b.run(move || {
        let dp = Dataplane::start(&spec).expect("start the data plane");
        ip(&[
            "-n",
            &b,
            "addr",
            "add",
            "10.77.0.1/24",
            "dev",
            dp.tun_name(),
        ]);
        dp
    });
    if which == Which::Ours {
        install(&dp, peer);
    }
    // The subscriber's NAT-T socket for tx; nobody reads it, a small buffer drops the
    // surplus cheaply.
    let sink = if rx {
        None
    } else {
        Some(
            pair.a
                .run(move || UdpSocket::bind(peer).expect("bind the sink")),
        )
    };
    let stop = Arc::new(AtomicBool::new(false));
    let inner = inner_packet(inner_len);
    let sender = {
        let stop = Arc::clone(&stop);
        if rx {
            let ns = pair.a.name.clone();
            std::thread::spawn(move || rx_sender(which, inner, ns, stop))
        } else {
            let ns = pair.b.name.clone();
            std::thread::spawn(move || tx_sender(inner, ns, stop))
        }
    };
    std::thread::sleep(Duration::from_secs_f64((secs / 5.0).max(0.1)));
    let s0 = dp.stats(0).expect("stats");
    let a0 = ALLOCATIONS.load(Ordering::Relaxed);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let a1 = ALLOCATIONS.load(Ordering::Relaxed);
    let s1 = dp.stats(0).expect("stats");
    let dt = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    sender.join().expect("sender");
    let packets = moved(&s1, rx) - moved(&s0, rx);
    let cpu = s1.cpu_ns - s0.cpu_ns;
    let stats = dp.shutdown();
    drop(sink);
    if packets == 0 {
        eprintln!("no packets moved; shard counters: {stats:?}");
    }
    let n = packets.max(1) as f64;
    Measurement {
        pps: packets as f64 / dt,
        ns_per_pkt: cpu as f64 / n,
        allocs_per_pkt: (a1 - a0) as f64 / n,
        packets,
    }
}

/// The run with the median packet rate.
fn median(mut runs: Vec<Measurement>) -> Measurement {
    runs.sort_by(|a, b| a.pps.total_cmp(&b.pps));
    runs[runs.len() / 2]
}

fn report(dir: &str, size: usize, ours: Measurement, base: Measurement) -> f64 {
    let ratio = ours.pps / base.pps.max(1.0);
    let gbps = |m: Measurement| m.pps * size as f64 * 8.0 / 1e9;
    println!(
        "{dir} {size:>4} B  ours {:>9.0} pps {:>6.2} Gbps {:>6.0} ns/pkt {:.3} allocs/pkt | baseline {:>9.0} pps {:>6.2} Gbps {:>6.0} ns/pkt {:.3} allocs/pkt | ratio {ratio:.3}",
        ours.pps,
        gbps(ours),
        ours.ns_per_pkt,
        ours.allocs_per_pkt,
        base.pps,
        gbps(base),
        base.ns_per_pkt,
        base.allocs_per_pkt,
    );
    ratio
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    if !is_root() {
        eprintln!("dataplane bench: needs root (network namespaces, TUN, pinned threads)");
        if full {
            std::process::exit(1);
        }
        return;
    }
    let rounds = if full { 3 } else { 1 };
    let secs = std::env::var("DATAPLANE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 2.0 } else { 0.2 });
    let pair = Pair::create("bench");
    // Inner packets end in a blackhole route: the kernel drops them after one FIB
    // lookup, without the ICMP errors an unroutable destination costs.
    ip(&[
        "-n",
        &pair.b.name,
        "route",
        "add",
        "blackhole",
        "198.18.0.0/15",
    ]);
    // `DATAPLANE_CASE=rx/ours/1400` runs one measurement alone, e.g. under `perf`.
    if let Ok(case) = std::env::var("DATAPLANE_CASE") {
        let parts: Vec<&str> = case.split('/').collect();
        let (rx, which, size) = match parts[..] {
            [d, w, n] => (
                d == "rx",
                if w == "ours" {
                    Which::Ours
                } else {
                    Which::Baseline
                },
                n.parse().expect("size"),
            ),
            _ => panic!("DATAPLANE_CASE is rx|tx/ours|baseline/SIZE"),
        };
        let m = measure(&pair, rx, which, size, secs);
        println!(
            "{case}: {:.0} pps {:.0} ns/pkt {:.3} allocs/pkt",
            m.pps, m.ns_per_pkt, m.allocs_per_pkt
        );
        return;
    }
    let mut last = [(Measurement::default(), 0.0); 2];
    for (d, rx) in [true, false].into_iter().enumerate() {
        let dir = if rx { "rx" } else { "tx" };
        for size in [1400usize, 64] {
            // Alternate ours and the baseline and keep each one's median round, so a
            // burst of other load on the machine skews neither side alone.
            let mut ours_runs = Vec::new();
            let mut base_runs = Vec::new();
            for _ in 0..rounds {
                ours_runs.push(measure(&pair, rx, Which::Ours, size, secs));
                base_runs.push(measure(&pair, rx, Which::Baseline, size, secs));
            }
            let (ours, base) = (median(ours_runs), median(base_runs));
            let ratio = report(dir, size, ours, base);
            if !full {
                assert!(ours.packets > 0, "{dir} {size} B: no packet went through");
            }
            if size == 1400 {
                last[d] = (ours, ratio);
            }
        }
    }
    let [(rx, rx_ratio), (tx, tx_ratio)] = last;
    println!(
        "dataplane rx_pps={:.0} rx_ratio={rx_ratio:.3} rx_ns_per_pkt={:.0} tx_pps={:.0} tx_ratio={tx_ratio:.3} tx_ns_per_pkt={:.0}",
        rx.pps, rx.ns_per_pkt, tx.pps, tx.ns_per_pkt
    );
}

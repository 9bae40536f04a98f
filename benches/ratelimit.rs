//! The per-packet cost of rate limiting (`dataplane::ratelimit`):
//!
//! - `bucket/*`: one admitted packet through a shard-owned `TokenBucket` (upload, and
//!   both PPTP directions), a `SharedTokenBucket` used by one thread (L2TP download,
//!   the common case: one shard transmits for a flow), and the shared bucket while a
//!   second thread spends from it without pause (the worst case: two shards send one
//!   session's download at full speed; the cache line moves between cores).
//! - `tx_plain_l2tp/*` and `rx_plain_l2tp/*`: the whole transmit (`tun_input`) and
//!   receive (`l2tp_udp_input`) node for a 1400-octet IPv4 packet on a plain L2TP
//!   session, unlimited versus limited (a limit high enough that every packet is
//!   admitted, so the difference is the check itself).
//!
//! The clock advances by 1 µs per packet in every variant (the limited buckets
//! refill; the unlimited ones pay the same addition).
//!
//! Run: `cargo bench --bench ratelimit`. Nothing here allocates per packet.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use shardvpn::dataplane::counters::Counters;
use shardvpn::dataplane::ratelimit::{MAX_RATE_BPS, Rate, SharedTokenBucket, TokenBucket};
use shardvpn::dataplane::rx::{Rx, l2tp_udp_input};
use shardvpn::dataplane::tables::{
    Capacities, Command, Encap, Route, Session, SessionFlags, Tables, TunnelTx,
};
use shardvpn::dataplane::tx::{TX_HEADROOM, TX_TAILROOM, Tx, tun_input};
use shardvpn::wire::ipv4;
use shardvpn::wire::ipv4::Protocol as IpProtocol;

const TUNNEL: u16 = 7;
const SESSION: u16 = 42;
const SUB: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const IP_LEN: usize = 1400;
const TICK: Duration = Duration::from_micros(1);

fn lac() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)), 1701)
}

/// A rate every packet of the benchmark conforms to.
fn fast() -> Rate {
    Rate::new(MAX_RATE_BPS, None)
}

fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let payload_len = IP_LEN - ipv4::HEADER_LEN;
    let repr = ipv4::Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len,
        hop_limit: 64,
    };
    let mut buf = vec![0u8; IP_LEN];
    repr.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]));
    buf
}

fn tables(limited: bool, now: Instant) -> Tables {
    let mut t = Tables::new(Capacities {
        sas: 1,
        sessions: 4,
        tunnels: 1,
        routes: 4,
    });
    t.apply(Command::InstallTunnel {
        id: TUNNEL,
        tunnel: TunnelTx {
            peer: lac(),
            peer_tunnel_id: 70,
            encap: Encap::Plain,
        },
    })
    .unwrap();
    t.apply(Command::InstallSession {
        key: (TUNNEL, SESSION),
        session: Session::new(1, Some(SUB), SessionFlags::default()),
    })
    .unwrap();
    t.apply(Command::InstallRoute {
        ipv4: SUB,
        route: Route {
            tunnel: TUNNEL,
            peer_session_id: 420,
            session: (TUNNEL, SESSION),
        },
    })
    .unwrap();
    if limited {
        t.apply(Command::SetSessionLimit {
            key: (TUNNEL, SESSION),
            up: Some(Box::new(TokenBucket::new(fast(), now))),
        })
        .unwrap();
        t.apply(Command::SetRouteLimit {
            ipv4: SUB,
            down: Some(Arc::new(SharedTokenBucket::new(fast(), now))),
        })
        .unwrap();
    }
    t
}

fn buckets(c: &mut Criterion) {
    let mut g = c.benchmark_group("bucket");
    g.throughput(Throughput::Elements(1));
    g.bench_function("local", |b| {
        let mut now = Instant::now();
        let mut bucket = TokenBucket::new(fast(), now);
        b.iter(|| {
            now += TICK;
            assert!(bucket.admit(black_box(now), black_box(IP_LEN)));
        });
    });
    g.bench_function("shared_one_thread", |b| {
        let mut now = Instant::now();
        let bucket = SharedTokenBucket::new(fast(), now);
        b.iter(|| {
            now += TICK;
            assert!(bucket.admit(black_box(now), black_box(IP_LEN)));
        });
    });
    g.bench_function("shared_two_threads", |b| {
        let start = Instant::now();
        let bucket = Arc::new(SharedTokenBucket::new(fast(), start));
        let stop = Arc::new(AtomicBool::new(false));
        let other = {
            let (bucket, stop) = (Arc::clone(&bucket), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut now = start;
                while !stop.load(Ordering::Relaxed) {
                    now += TICK;
                    black_box(bucket.admit(now, IP_LEN));
                }
            })
        };
        let mut now = start;
        b.iter(|| {
            now += TICK;
            black_box(bucket.admit(black_box(now), black_box(IP_LEN)));
        });
        stop.store(true, Ordering::Relaxed);
        other.join().unwrap();
    });
    g.finish();
}

fn nodes(c: &mut Criterion) {
    let mut g = c.benchmark_group("tx_plain_l2tp");
    g.throughput(Throughput::Elements(1));
    for (name, limited) in [("unlimited", false), ("limited", true)] {
        g.bench_function(name, |b| {
            let mut now = Instant::now();
            let t = tables(limited, now);
            let mut counters = Counters::new();
            let ip = ipv4_packet(Ipv4Addr::new(192, 0, 2, 1), SUB);
            let mut buf = vec![0u8; TX_HEADROOM + IP_LEN + TX_TAILROOM];
            buf[TX_HEADROOM..TX_HEADROOM + IP_LEN].copy_from_slice(&ip);
            b.iter(|| {
                now += TICK;
                let range = TX_HEADROOM..TX_HEADROOM + IP_LEN;
                let tx = tun_input(&t, &mut counters, black_box(now), &mut buf, range);
                assert!(matches!(tx, Tx::Send { .. }));
            });
        });
    }
    g.finish();

    let mut g = c.benchmark_group("rx_plain_l2tp");
    g.throughput(Throughput::Elements(1));
    for (name, limited) in [("unlimited", false), ("limited", true)] {
        g.bench_function(name, |b| {
            let mut now = Instant::now();
            let mut t = tables(limited, now);
            let mut counters = Counters::new();
            let mut pkt = vec![0x00, 0x02];
            pkt.extend_from_slice(&TUNNEL.to_be_bytes());
            pkt.extend_from_slice(&SESSION.to_be_bytes());
            pkt.extend_from_slice(&[0xff, 0x03, 0x00, 0x21]);
            pkt.extend_from_slice(&ipv4_packet(SUB, Ipv4Addr::new(192, 0, 2, 1)));
            b.iter(|| {
                now += TICK;
                let rx = l2tp_udp_input(&mut t, &mut counters, black_box(now), &mut pkt, lac());
                assert!(matches!(rx, Rx::ToTun { .. }));
            });
        });
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    buckets(&mut c);
    nodes(&mut c);
    c.final_summary();
}

//! Per-subscriber rate limits on the real data plane (issue 7, "Proof"): two plain
//! L2TP sessions on one shard, one limited to 8 Mbit/s each way, both offered
//! 16 Mbit/s each way for two seconds. The limited session's throughput must be within
//! 10% of its limit (plus its burst), the unlimited one must get what it was offered.
//! Namespaces as in `runtime_dataplane` (`a`: the LAC, 10.98.0.2; `b`: the
//! concentrator with its TUN 10.77.0.1/24); removed by guards. Needs root; without it
//! the test says so and returns.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use shardvpn::dataplane::ratelimit::{Rate, SharedTokenBucket, TokenBucket};
use shardvpn::dataplane::tables::{
    Capacities, Command, Encap, Route, Session, SessionFlags, TunnelTx,
};
use shardvpn::runtime::engine::{Dataplane, DataplaneSpec};
use shardvpn::runtime::listen::ListenSpec;
use shardvpn::runtime::shard::Mode;
use shardvpn::wire::{ipv4, udp};

mod runtime_netns;
use runtime_netns::{PAIR_A, PAIR_B, Pair, ip, is_root};

const TUN_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const LIMITED: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const FREE: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 3);
const TUNNEL: u16 = 7;
const PEER_TUNNEL: u16 = 300;
/// Our session IDs; the LAC's are these + 100.
const LIMITED_SESSION: u16 = 8;
const FREE_SESSION: u16 = 9;
const LIMIT_BPS: u64 = 8_000_000;
const BURST: u64 = 16_000;
/// IP packet size, and packets per millisecond offered per session and direction
/// (2 × 1000 bytes per ms: 16 Mbit/s, twice the limit).
const IP_LEN: usize = 1000;
const PER_MS: usize = 2;
const SECONDS: u64 = 2;

fn spec() -> DataplaneSpec {
    DataplaneSpec {
        shards: 1,
        pin_cores: false,
        cpus: Vec::new(),
        batch: 64,
        buffers: 256,
        buffer_size: 2048,
        capacities: Capacities {
            sas: 16,
            sessions: 16,
            tunnels: 16,
            routes: 16,
        },
        punt_queue: 64,
        command_queue: 256,
        listen: ListenSpec {
            address: PAIR_B.into(),
            ike_port: 500,
            nat_t_port: 4500,
            l2tp_port: 1701,
            raw_esp: false,
            gre: false,
        },
        tun_name: "svtun0".into(),
        tun_mtu: 1400,
        mode: Mode::Full,
    }
}

fn udp_packet(src: Ipv4Addr, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp_repr = udp::Repr {
        src_port: 5555,
        dst_port: dport,
        payload_len: payload.len(),
    };
    let ip_repr = ipv4::Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: ipv4::Protocol::Udp,
        payload_len: udp_repr.buffer_len(),
        hop_limit: 64,
    };
    let mut buf = vec![0u8; ip_repr.buffer_len() + udp_repr.buffer_len()];
    let mut p = ipv4::Packet::new_unchecked(&mut buf[..]);
    ip_repr.emit(&mut p);
    p.payload_mut()[udp::HEADER_LEN..].copy_from_slice(payload);
    let mut d = udp::Packet::new_unchecked(p.payload_mut());
    udp_repr.emit(&mut d, udp::IpPair::V4(src, dst));
    buf
}

/// A plain L2TP data message with a full PPP header around `ip`.
fn l2tp(session: u16, ip: &[u8]) -> Vec<u8> {
    let mut m = vec![0x00, 0x02];
    m.extend_from_slice(&TUNNEL.to_be_bytes());
    m.extend_from_slice(&session.to_be_bytes());
    m.extend_from_slice(&[0xff, 0x03, 0x00, 0x21]);
    m.extend_from_slice(ip);
    m
}

fn settle(dp: &Dataplane) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !dp.commands_drained() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
}

/// Reads `sock` until `stop`, adding each datagram's length (less `overhead`) to the
/// slot `slot_of` names (`None`: not counted).
fn count(
    sock: UdpSocket,
    stop: Arc<AtomicBool>,
    overhead: usize,
    slot_of: impl Fn(&[u8]) -> Option<usize> + Send + 'static,
) -> std::thread::JoinHandle<[u64; 2]> {
    std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut totals = [0u64; 2];
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            if let Ok(n) = sock.recv(&mut buf)
                && let Some(i) = slot_of(&buf[..n])
            {
                totals[i] += (n - overhead) as u64;
            }
        }
        totals
    })
}

/// Sends `PER_MS` packets per millisecond for each of `packets` (two) for
/// `SECONDS`, via `send`; returns the time it took.
fn offer(packets: [&[u8]; 2], mut send: impl FnMut(usize, &[u8])) -> Duration {
    let start = Instant::now();
    for ms in 0..SECONDS * 1000 {
        for _ in 0..PER_MS {
            for (i, p) in packets.iter().enumerate() {
                send(i, p);
            }
        }
        let next = start + Duration::from_millis(ms + 1);
        while Instant::now() < next {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    start.elapsed()
}

fn check(what: &str, totals: [u64; 2], offered: u64, elapsed: Duration) {
    let expected = LIMIT_BPS as f64 / 8.0 * elapsed.as_secs_f64() + BURST as f64;
    let limited = totals[0] as f64;
    println!(
        "{what}: limited {:.2} Mbit/s (expected {:.2}), unlimited {:.2} of {:.2} Mbit/s offered",
        limited * 8.0 / elapsed.as_secs_f64() / 1e6,
        expected * 8.0 / elapsed.as_secs_f64() / 1e6,
        totals[1] as f64 * 8.0 / elapsed.as_secs_f64() / 1e6,
        offered as f64 * 8.0 / elapsed.as_secs_f64() / 1e6,
    );
    assert!(
        (limited - expected).abs() <= expected * 0.10,
        "{what}: limited session moved {limited} bytes, expected {expected} ± 10%"
    );
    assert!(
        totals[1] as f64 >= offered as f64 * 0.97,
        "{what}: unlimited session moved {} of {offered} bytes",
        totals[1]
    );
}

#[test]
fn limited_session_stays_within_ten_percent_and_its_neighbour_is_unaffected() {
    if !is_root() {
        println!("runtime_ratelimit: skipped, needs root");
        return;
    }
    let pair = Pair::create("dprate");
    let ns = pair.b.name.clone();
    let dp = pair.b.run(move || {
        let dp = Dataplane::start(&spec()).expect("start the data plane");
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            "10.77.0.1/24",
            "dev",
            dp.tun_name(),
        ]);
        dp
    });
    let lac = SocketAddr::from((PAIR_A, 1701));
    dp.broadcast(|| Command::InstallTunnel {
        id: TUNNEL,
        tunnel: TunnelTx {
            peer: lac,
            peer_tunnel_id: PEER_TUNNEL,
            encap: Encap::Plain,
        },
    })
    .unwrap();
    let now = Instant::now();
    let rate = Rate::new(LIMIT_BPS, Some(BURST));
    let down = Arc::new(SharedTokenBucket::new(rate, now));
    for (session, addr, limited) in [
        (LIMITED_SESSION, LIMITED, true),
        (FREE_SESSION, FREE, false),
    ] {
        let mut s = Session::new(1, Some(addr), SessionFlags::default());
        if limited {
            s.up = Some(Box::new(TokenBucket::new(rate, now)));
        }
        dp.send(
            0,
            Command::InstallSession {
                key: (TUNNEL, session),
                session: s,
            },
        )
        .unwrap();
        dp.broadcast(|| Command::InstallRoute {
            ipv4: addr,
            route: Route {
                tunnel: TUNNEL,
                peer_session_id: session + 100,
                session: (TUNNEL, session),
            },
        })
        .unwrap();
    }
    dp.broadcast(|| Command::SetRouteLimit {
        ipv4: LIMITED,
        down: Some(Arc::clone(&down)),
    })
    .unwrap();
    settle(&dp);

    let payload = vec![0x42u8; IP_LEN - ipv4::HEADER_LEN - udp::HEADER_LEN];
    let lac_sock = pair.a.run(move || UdpSocket::bind(lac).unwrap());
    let server = SocketAddr::from((PAIR_B, 1701));

    // Upload: the LAC sends both sessions' traffic to TUN_ADDR:7000 / 7001.
    let stop = Arc::new(AtomicBool::new(false));
    let listeners: Vec<_> = [7000u16, 7001]
        .into_iter()
        .enumerate()
        .map(|(i, port)| {
            let sock = pair
                .b
                .run(move || UdpSocket::bind((TUN_ADDR, port)).unwrap());
            count(sock, Arc::clone(&stop), 0, move |b| {
                (b.len() + ipv4::HEADER_LEN + udp::HEADER_LEN == IP_LEN).then_some(i)
            })
        })
        .collect();
    let up = [
        l2tp(
            LIMITED_SESSION,
            &udp_packet(LIMITED, TUN_ADDR, 7000, &payload),
        ),
        l2tp(FREE_SESSION, &udp_packet(FREE, TUN_ADDR, 7001, &payload)),
    ];
    let mut sent = [0u64; 2];
    let elapsed = offer([&up[0], &up[1]], |i, p| {
        lac_sock.send_to(p, server).unwrap();
        sent[i] += IP_LEN as u64;
    });
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let mut totals = [0u64; 2];
    for (i, l) in listeners.into_iter().enumerate() {
        // Each listener counted UDP payload bytes of its session in its own slot.
        let t = l.join().unwrap();
        totals[i] = t[i] / (payload.len() as u64) * IP_LEN as u64;
    }
    check("upload", totals, sent[1], elapsed);

    // Download: from the concentrator's side to both subscribers, counted at the LAC
    // by the peer session ID in each L2TP header.
    let stop = Arc::new(AtomicBool::new(false));
    let lac_rx = lac_sock.try_clone().unwrap();
    let counter = count(lac_rx, Arc::clone(&stop), 10, |b| {
        match b.get(4..6).map(|s| u16::from_be_bytes([s[0], s[1]])) {
            Some(s) if s == LIMITED_SESSION + 100 => Some(0),
            Some(s) if s == FREE_SESSION + 100 => Some(1),
            _ => None,
        }
    });
    let sender = pair.b.run(|| UdpSocket::bind((TUN_ADDR, 0)).unwrap());
    let udp_payload = &payload[..];
    let mut sent = [0u64; 2];
    let targets = [LIMITED, FREE];
    let elapsed = offer([udp_payload, udp_payload], |i, p| {
        sender.send_to(p, (targets[i], 8000)).unwrap();
        sent[i] += IP_LEN as u64;
    });
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let totals = counter.join().unwrap();
    check("download", totals, sent[1], elapsed);
    assert!(down.dropped().0 > 0);
}

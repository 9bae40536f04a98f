//! The data plane running for real: shards with io_uring, reuseport groups, a
//! multi-queue TUN, in two network namespaces joined by a veth pair (`a`: the
//! subscriber's side, 10.98.0.2; `b`: the concentrator, 10.98.0.1, with its TUN
//! 10.77.0.1/24). Namespaces are removed by guards even on failure. Needs root;
//! without it each test says so and returns.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use shardvpn::dataplane::tables::Capacities;
use shardvpn::runtime::engine::{Dataplane, DataplaneSpec};
use shardvpn::runtime::listen::ListenSpec;
use shardvpn::runtime::shard::Mode;
use shardvpn::wire::{ipv4, udp};

mod runtime_netns;
use runtime_netns::{PAIR_A, PAIR_B, Pair, ip, is_root};

const TUN_ADDR: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const SUBSCRIBER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

fn spec(shards: u32, mode: Mode) -> DataplaneSpec {
    DataplaneSpec {
        shards,
        pin_cores: false,
        first_core: 0,
        batch: 64,
        buffers: 256,
        buffer_size: 2048,
        capacities: Capacities {
            sas: 1024,
            sessions: 1024,
            tunnels: 1024,
            routes: 1024,
        },
        punt_queue: 64,
        command_queue: 256,
        listen: ListenSpec {
            address: PAIR_B.into(),
            ike_port: 500,
            nat_t_port: 4500,
            l2tp_port: 1701,
            raw_esp: true,
            gre: true,
        },
        tun_name: "svtun0".into(),
        tun_mtu: 1400,
        mode,
    }
}

/// Starts the data plane in `pair.b` and gives the TUN its address.
fn start(pair: &Pair, spec: DataplaneSpec) -> Dataplane {
    let ns = pair.b.name.clone();
    pair.b.run(move || {
        let dp = Dataplane::start(&spec).expect("start the data plane");
        ip(&["-n", &ns, "addr", "add", "10.77.0.1/24", "dev", dp.tun_name()]);
        dp
    })
}

/// An IPv4/UDP packet from `src:sport` to `dst:dport`.
fn udp_packet(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp_repr = udp::Repr {
        src_port: sport,
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
    // The checksum covers the payload: fill it first.
    p.payload_mut()[udp::HEADER_LEN..].copy_from_slice(payload);
    let mut d = udp::Packet::new_unchecked(p.payload_mut());
    udp_repr.emit(&mut d, udp::IpPair::V4(src, dst));
    buf
}

fn recv_until(sock: &UdpSocket, want: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 2048];
    sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    for _ in 0..1000 {
        if Instant::now() > deadline {
            break;
        }
        if let Ok(n) = sock.recv(&mut buf)
            && want(&buf[..n])
        {
            return buf[..n].to_vec();
        }
    }
    panic!("nothing matching arrived within 5 s");
}

/// The baseline mode moves bytes both ways with the same machinery the real path uses:
/// UDP/4500 payload → TUN, and TUN → UDP to the fixed peer.
#[test]
fn baseline_moves_packets_between_udp_and_tun() {
    if !is_root() {
        println!("runtime_dataplane: skipped, needs root");
        return;
    }
    let pair = Pair::create("dpbase");
    let peer = SocketAddr::from((PAIR_A, 45000));
    let dp = start(&pair, spec(2, Mode::Baseline { peer }));

    // a → b:4500 carrying an IPv4/UDP packet for 10.77.0.1:7000, which a socket in b
    // receives after the shard writes it into the TUN.
    let listener = pair.b.run(|| UdpSocket::bind((TUN_ADDR, 7000)).unwrap());
    let peer_sock = pair.a.run(move || UdpSocket::bind(peer).unwrap());
    let inner = udp_packet(SUBSCRIBER, TUN_ADDR, 5555, 7000, b"up through the tun");
    peer_sock.send_to(&inner, (PAIR_B, 4500)).unwrap();
    let got = recv_until(&listener, |b| b == b"up through the tun");
    assert_eq!(got, b"up through the tun");

    // b → 10.77.0.2 goes out of the TUN; the shard sends it whole to the peer.
    let sender = pair.b.run(|| UdpSocket::bind((TUN_ADDR, 0)).unwrap());
    sender.send_to(b"down to the peer", (SUBSCRIBER, 8000)).unwrap();
    let got = recv_until(&peer_sock, |b| {
        ipv4::Packet::new_checked(b).is_ok_and(|p| p.dst_addr() == SUBSCRIBER)
    });
    let p = ipv4::Packet::new_checked(&got[..]).unwrap();
    let d = udp::Packet::new_checked(p.payload()).unwrap();
    assert_eq!(d.dst_port(), 8000);
    assert_eq!(d.payload(), b"down to the peer");

    let stats = dp.shutdown();
    assert_eq!(stats.len(), 2);
    let batches: u64 = stats.iter().map(|s| s.runtime.batches).sum();
    assert!(batches > 0, "{stats:?}");
}

/// Startup refuses, with an error that names the cause, when a port is taken or the
/// TUN name belongs to another kind of interface; nothing is left running.
#[test]
fn startup_errors_are_clear() {
    if !is_root() {
        println!("runtime_dataplane: skipped, needs root");
        return;
    }
    let pair = Pair::create("dperr");
    let ns = pair.b.name.clone();
    pair.b.run(move || {
        // Another daemon on 4500 (no SO_REUSEPORT, like most IKE daemons).
        let squatter = UdpSocket::bind((PAIR_B, 4500)).unwrap();
        let err = Dataplane::start(&spec(2, Mode::Full)).err().expect("port taken");
        let msg = err.to_string();
        assert!(msg.contains("10.98.0.1:4500") && msg.contains("already in use"), "{msg}");
        drop(squatter);

        // The TUN name is taken by a veth.
        ip(&["-n", &ns, "link", "add", "svtun0", "type", "veth", "peer", "name", "svtun0p"]);
        let err = Dataplane::start(&spec(2, Mode::Full)).err().expect("name taken");
        assert!(err.to_string().contains("svtun0"), "{err}");
        ip(&["-n", &ns, "link", "del", "svtun0"]);

        // A TUN MTU that does not fit the buffers.
        let mut s = spec(1, Mode::Full);
        s.tun_mtu = 4000;
        let err = Dataplane::start(&s).err().expect("mtu too big");
        assert!(err.to_string().contains("tun_mtu"), "{err}");

        // And with the obstacles gone it starts, pinned where it was told.
        let mut s = spec(2, Mode::Full);
        s.pin_cores = true;
        let dp = Dataplane::start(&s).expect("start");
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        for shard in 0..2usize {
            let allowed = thread_cpus(&format!("shard-{shard}")).expect("shard thread");
            assert_eq!(allowed, (shard % cores).to_string(), "shard {shard}");
        }
        drop(dp);
        assert!(thread_cpus("shard-0").is_none(), "shard threads outlive the data plane");
    });
}

/// `Cpus_allowed_list` of this process's thread named `name`.
fn thread_cpus(name: &str) -> Option<String> {
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let status = std::fs::read_to_string(path.join("status")).ok()?;
            return status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| v.trim().to_owned());
        }
    }
    None
}

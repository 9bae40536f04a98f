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
        cpus: Vec::new(),
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
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
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
    sender
        .send_to(b"down to the peer", (SUBSCRIBER, 8000))
        .unwrap();
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
        let err = Dataplane::start(&spec(2, Mode::Full))
            .err()
            .expect("port taken");
        let msg = err.to_string();
        assert!(
            msg.contains("10.98.0.1:4500") && msg.contains("already in use"),
            "{msg}"
        );
        drop(squatter);

        // The TUN name is taken by a veth.
        ip(&[
            "-n", &ns, "link", "add", "svtun0", "type", "veth", "peer", "name", "svtun0p",
        ]);
        let err = Dataplane::start(&spec(2, Mode::Full))
            .err()
            .expect("name taken");
        assert!(err.to_string().contains("svtun0"), "{err}");
        ip(&["-n", &ns, "link", "del", "svtun0"]);

        // A TUN MTU that does not fit the buffers.
        let mut s = spec(1, Mode::Full);
        s.tun_mtu = 4000;
        let err = Dataplane::start(&s).err().expect("mtu too big");
        assert!(err.to_string().contains("tun_mtu"), "{err}");

        // And with the obstacles gone it starts, pinned where it was told.
        // Both shards on the last CPU: `cpus` names where shards go, wrapping.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut s = spec(2, Mode::Full);
        s.pin_cores = true;
        s.cpus = vec![cores - 1];
        let dp = Dataplane::start(&s).expect("start");
        let mut tids = Vec::new();
        for shard in 0..2u32 {
            let deadline = Instant::now() + Duration::from_secs(5);
            let tid = loop {
                let tid = dp.stats(shard).unwrap().tid;
                if tid != 0 || Instant::now() > deadline {
                    break tid;
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            let allowed = thread_cpus(tid).expect("shard thread");
            assert_eq!(allowed, (cores - 1).to_string(), "shard {shard}");
            tids.push(tid);
        }
        drop(dp);
        for tid in tids {
            assert!(
                thread_cpus(tid).is_none(),
                "shard thread {tid} outlives the data plane"
            );
        }
    });
}

/// `Cpus_allowed_list` of this process's thread `tid`, if it exists.
fn thread_cpus(tid: i32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_owned())
}

// ---------------------------------------------------------------------------------
// The real path: ESP-in-UDP, raw ESP and plain L2TP through 2 shards.
// ---------------------------------------------------------------------------------

mod full {
    use super::*;
    use std::sync::Arc;

    use shardvpn::crypto::esp::{AesKeySize, AnyTransform, Esn, Suite};
    use shardvpn::dataplane::counters::{Counters, DropReason, PuntKind, RxProto};
    use shardvpn::dataplane::rx::{self, Rx};
    use shardvpn::dataplane::tables::{
        Command, Encap, EspEncap, InboundSa, OutboundSa, Route, Session, SessionFlags, TableError,
        Tables, TunnelTx,
    };
    use shardvpn::dataplane::tx::{self, TX_HEADROOM, TX_TAILROOM, Tx};
    use shardvpn::proto::esp::ReplayError;
    use shardvpn::runtime::queues::ToControl;
    use shardvpn::runtime::raw::RawIpv4Socket;

    const KEY_IN: [u8; 20] = [0x11; 20];
    const KEY_OUT: [u8; 20] = [0x22; 20];
    /// The client's IDs (what it allocated; we echo them).
    const PEER_TUNNEL: u16 = 300;
    const PEER_SESSION: u16 = 400;

    fn gcm(key: &[u8; 20]) -> AnyTransform {
        let suite = Suite::AesGcm16 {
            key: AesKeySize::Aes128,
        };
        AnyTransform::new(suite, Esn::Disabled, key, &[]).unwrap()
    }

    /// What one subscriber is, seen from both ends.
    struct Sub {
        /// Our IDs: tunnel, session, inbound SPI (session and SPI on the same shard).
        tunnel: u16,
        session: u16,
        spi_in: u32,
        spi_out: u32,
        addr: Ipv4Addr,
        esp: bool,
    }

    fn server() -> SocketAddr {
        SocketAddr::from((PAIR_B, 4500))
    }

    /// Installs `sub` on the data plane: SA and session on the owning shard, tunnel and
    /// route on all shards.
    fn install(dp: &Dataplane, sub: &Sub, peer: SocketAddr) {
        let map = dp.shard_map();
        let owner = map.shard_of(u32::from(sub.session));
        if sub.esp {
            assert_eq!(
                map.shard_of(sub.spi_in),
                owner,
                "SPI and session on one shard"
            );
            let sa = InboundSa::new(gcm(&KEY_IN), sub.tunnel, 1, peer);
            dp.send(
                owner,
                Command::InstallSa {
                    spi: sub.spi_in,
                    sa: Box::new(sa),
                },
            )
            .unwrap();
        }
        let flags = SessionFlags {
            requires_esp: sub.esp,
        };
        dp.send(
            owner,
            Command::InstallSession {
                key: (sub.tunnel, sub.session),
                session: Session::new(1, Some(sub.addr), flags),
            },
        )
        .unwrap();
        let encap = if sub.esp {
            Encap::EspUdp(EspEncap {
                sa: Arc::new(OutboundSa::new(sub.spi_out, gcm(&KEY_OUT))),
                local: PAIR_B.into(),
                inner_src_port: 1701,
                inner_dst_port: 1701,
            })
        } else {
            Encap::Plain
        };
        let tunnel = TunnelTx {
            peer,
            peer_tunnel_id: PEER_TUNNEL,
            encap,
        };
        // Several subscribers may share one tunnel: install it once.
        let _ = dp.broadcast(|| Command::InstallTunnel {
            id: sub.tunnel,
            tunnel: tunnel.clone(),
        });
        dp.broadcast(|| Command::InstallRoute {
            ipv4: sub.addr,
            route: Route {
                tunnel: sub.tunnel,
                peer_session_id: PEER_SESSION,
                session: (sub.tunnel, sub.session),
            },
        })
        .unwrap();
        settle(dp);
    }

    fn settle(dp: &Dataplane) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while !dp.commands_drained() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    /// The client side: encapsulates toward us with the library's transmit node and
    /// decapsulates what we send with the receive node.
    struct Client {
        tables: Tables,
        counters: Counters,
    }

    impl Client {
        fn new(sub: &Sub, raw: bool) -> Client {
            let mut tables = Tables::new(super::spec(1, Mode::Full).capacities);
            let encap = if !sub.esp {
                Encap::Plain
            } else {
                let e = EspEncap {
                    sa: Arc::new(OutboundSa::new(sub.spi_in, gcm(&KEY_IN))),
                    local: PAIR_A.into(),
                    inner_src_port: 1701,
                    inner_dst_port: 1701,
                };
                if raw {
                    Encap::EspRaw(e)
                } else {
                    Encap::EspUdp(e)
                }
            };
            let to = if sub.esp {
                server()
            } else {
                SocketAddr::from((PAIR_B, 1701))
            };
            tables
                .apply(Command::InstallTunnel {
                    id: PEER_TUNNEL,
                    tunnel: TunnelTx {
                        peer: to,
                        peer_tunnel_id: sub.tunnel,
                        encap,
                    },
                })
                .unwrap();
            // Everything the client sends goes to TUN_ADDR on our side.
            tables
                .apply(Command::InstallRoute {
                    ipv4: TUN_ADDR,
                    route: Route {
                        tunnel: PEER_TUNNEL,
                        peer_session_id: sub.session,
                        session: (PEER_TUNNEL, PEER_SESSION),
                    },
                })
                .unwrap();
            // Receiving: our outbound SA is its inbound one; packets come from TUN_ADDR.
            if sub.esp {
                let sa = InboundSa::new(gcm(&KEY_OUT), PEER_TUNNEL, 1, server());
                tables
                    .apply(Command::InstallSa {
                        spi: sub.spi_out,
                        sa: Box::new(sa),
                    })
                    .unwrap();
            }
            tables
                .apply(Command::InstallSession {
                    key: (PEER_TUNNEL, PEER_SESSION),
                    session: Session::new(1, Some(TUN_ADDR), SessionFlags::default()),
                })
                .unwrap();
            Client {
                tables,
                counters: Counters::new(),
            }
        }

        /// The datagram (or raw ESP payload) carrying `inner`.
        fn encapsulate(&mut self, inner: &[u8]) -> Vec<u8> {
            let mut buf = vec![0u8; TX_HEADROOM + inner.len() + TX_TAILROOM];
            buf[TX_HEADROOM..TX_HEADROOM + inner.len()].copy_from_slice(inner);
            let ip = TX_HEADROOM..TX_HEADROOM + inner.len();
            match tx::tun_input(
                &self.tables,
                &mut self.counters,
                std::time::Instant::now(),
                &mut buf,
                ip,
            ) {
                Tx::Send { range, .. } => buf[range].to_vec(),
                other => panic!("client encapsulation: {other:?}"),
            }
        }

        /// The inner IP packet of a datagram we sent.
        fn decapsulate(&mut self, datagram: &[u8], esp: bool) -> Vec<u8> {
            let mut buf = datagram.to_vec();
            let out = if esp {
                rx::esp_udp_input(
                    &mut self.tables,
                    &mut self.counters,
                    std::time::Instant::now(),
                    &mut buf,
                    server(),
                )
            } else {
                rx::l2tp_udp_input(
                    &mut self.tables,
                    &mut self.counters,
                    std::time::Instant::now(),
                    &mut buf,
                    SocketAddr::from((PAIR_B, 1701)),
                )
            };
            match out {
                Rx::ToTun { range, .. } => buf[range].to_vec(),
                other => panic!("client could not decapsulate: {other:?}"),
            }
        }
    }

    /// The next message from the shards, skipping the `Exists` refusals that
    /// re-installing a shared tunnel causes.
    fn next_message(dp: &Dataplane) -> ToControl {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match dp.try_recv() {
                Some(ToControl::CommandFailed {
                    error: TableError::Exists,
                    ..
                }) => continue,
                Some(m) => return m,
                None => {}
            }
            assert!(Instant::now() < deadline, "no message from the shards");
            dp.wait(Duration::from_millis(50));
        }
    }

    fn total(dp: &Dataplane, f: impl Fn(&shardvpn::runtime::shard::ShardStats) -> u64) -> u64 {
        (0..dp.shard_map().shards())
            .map(|i| f(&dp.stats(i).unwrap()))
            .sum()
    }

    /// Waits (bounded) until `f` over all shards reaches `want`.
    fn wait_total(
        dp: &Dataplane,
        want: u64,
        f: impl Fn(&shardvpn::runtime::shard::ShardStats) -> u64,
    ) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let n = total(dp, &f);
            if n >= want || Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// ESP-in-UDP both ways, replay / tamper / unknown SPI / truncation dropped and
    /// counted while traffic keeps flowing, and a NAT rebinding followed by the
    /// control thread's UpdatePeer.
    #[test]
    fn esp_in_udp_both_ways_with_drops_and_nat_rebinding() {
        if !is_root() {
            println!("runtime_dataplane: skipped, needs root");
            return;
        }
        let pair = Pair::create("dpesp");
        let dp = start(&pair, spec(2, Mode::Full));
        // Session 9 and SPI 0x1001 are both odd: shard 1.
        let sub = Sub {
            tunnel: 7,
            session: 9,
            spi_in: 0x1001,
            spi_out: 0x5000,
            addr: SUBSCRIBER,
            esp: true,
        };
        let client_addr = SocketAddr::from((PAIR_A, 4500));
        install(&dp, &sub, client_addr);
        let mut client = Client::new(&sub, false);
        let listener = pair.b.run(|| UdpSocket::bind((TUN_ADDR, 7000)).unwrap());
        let csock = pair.a.run(move || UdpSocket::bind(client_addr).unwrap());

        let inner = udp_packet(SUBSCRIBER, TUN_ADDR, 5555, 7000, b"esp one");
        let first = client.encapsulate(&inner);
        csock.send_to(&first, server()).unwrap();
        assert_eq!(recv_until(&listener, |_| true), b"esp one");

        // Replay, tamper, unknown SPI, truncation.
        csock.send_to(&first, server()).unwrap();
        let mut tampered = client.encapsulate(&udp_packet(SUBSCRIBER, TUN_ADDR, 5555, 7000, b"x"));
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        csock.send_to(&tampered, server()).unwrap();
        let mut unknown = client.encapsulate(&inner);
        unknown[..4].copy_from_slice(&0x0bad_0001u32.to_be_bytes());
        csock.send_to(&unknown, server()).unwrap();
        let short = client.encapsulate(&inner);
        csock.send_to(&short[..12], server()).unwrap();
        // ... and the engine keeps forwarding.
        let next = client.encapsulate(&udp_packet(SUBSCRIBER, TUN_ADDR, 5555, 7000, b"esp two"));
        csock.send_to(&next, server()).unwrap();
        assert_eq!(recv_until(&listener, |b| b == b"esp two"), b"esp two");
        let drops = |r: DropReason| total(&dp, |s| s.packets.drops_for(r));
        wait_total(&dp, 1, |s| {
            s.packets
                .drops_for(DropReason::BadHeader(shardvpn::wire::Layer::Esp))
        });
        assert_eq!(drops(DropReason::Replay(ReplayError::Duplicate)), 1);
        assert_eq!(drops(DropReason::AuthFailed), 1);
        assert_eq!(drops(DropReason::NoSa), 1);
        // Everything for this subscriber went to shard 1 (SPI 0x1001 and 0x0bad0001 odd).
        let s0 = dp.stats(0).unwrap();
        assert_eq!(s0.packets.rx_packets_for(RxProto::EspUdp), 0, "{s0:?}");

        // Toward the subscriber: out of the TUN, encapsulated, encrypted, to its NAT-T
        // address, where its SA opens it.
        let sender = pair.b.run(|| UdpSocket::bind((TUN_ADDR, 0)).unwrap());
        sender.send_to(b"down one", (SUBSCRIBER, 8000)).unwrap();
        csock
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 2048];
        let (n, from) = csock.recv_from(&mut buf).expect("encrypted reply");
        assert_eq!(from, server());
        assert_eq!(
            &buf[..4],
            &sub.spi_out.to_be_bytes(),
            "sent under our outbound SPI"
        );
        let ip_packet = client.decapsulate(&buf[..n], true);
        let p = ipv4::Packet::new_checked(&ip_packet[..]).unwrap();
        assert_eq!(p.dst_addr(), SUBSCRIBER);
        let d = udp::Packet::new_checked(p.payload()).unwrap();
        assert_eq!(d.payload(), b"down one");

        // The NAT rebinds the client to another port: the shard reports it once
        // authenticated traffic arrives from there, and sends there after UpdatePeer.
        let moved_addr = SocketAddr::from((PAIR_A, 40123));
        let moved = pair.a.run(move || UdpSocket::bind(moved_addr).unwrap());
        let third = client.encapsulate(&udp_packet(SUBSCRIBER, TUN_ADDR, 5555, 7000, b"esp three"));
        moved.send_to(&third, server()).unwrap();
        assert_eq!(recv_until(&listener, |b| b == b"esp three"), b"esp three");
        match next_message(&dp) {
            ToControl::PeerMoved {
                spi,
                tunnel_id,
                peer,
                ..
            } => {
                assert_eq!((spi, tunnel_id, peer), (sub.spi_in, sub.tunnel, moved_addr));
            }
            other => panic!("expected PeerMoved, got {other:?}"),
        }
        dp.broadcast(|| Command::UpdatePeer {
            tunnel: sub.tunnel,
            peer: moved_addr,
        })
        .unwrap();
        settle(&dp);
        sender.send_to(b"down two", (SUBSCRIBER, 8000)).unwrap();
        moved
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let n = moved.recv(&mut buf).expect("reply at the new port");
        let ip_packet = client.decapsulate(&buf[..n], true);
        assert!(ip_packet.ends_with(b"down two"));
    }

    /// Raw ESP (IP protocol 50) in, and plain L2TP both ways.
    #[test]
    fn raw_esp_and_plain_l2tp() {
        if !is_root() {
            println!("runtime_dataplane: skipped, needs root");
            return;
        }
        let pair = Pair::create("dpraw");
        let dp = start(&pair, spec(2, Mode::Full));
        let esp_sub = Sub {
            tunnel: 7,
            session: 8,
            spi_in: 0x2000,
            spi_out: 0x6000,
            addr: SUBSCRIBER,
            esp: true,
        };
        install(&dp, &esp_sub, SocketAddr::from((PAIR_A, 0)));
        let listener = pair.b.run(|| UdpSocket::bind((TUN_ADDR, 7000)).unwrap());
        let mut client = Client::new(&esp_sub, true);
        let raw = pair.a.run(|| RawIpv4Socket::open(50).unwrap());
        let esp = client.encapsulate(&udp_packet(SUBSCRIBER, TUN_ADDR, 5555, 7000, b"raw esp"));
        raw.send_to(&esp, PAIR_B).unwrap();
        assert_eq!(recv_until(&listener, |_| true), b"raw esp");
        assert_eq!(total(&dp, |s| s.packets.rx_packets_for(RxProto::EspRaw)), 1);

        // The control thread's send-only raw ESP socket: it queued no copy of the
        // inbound ESP above (its filter accepts nothing), and what it sends, sealed
        // by `seal_udp_transport`, reaches the client as raw ESP that its receive node
        // opens and punts as L2TP control from our inner port.
        let control_raw = dp
            .control_sockets()
            .raw_esp
            .as_ref()
            .expect("raw_esp socket");
        let mut scratch = [0u8; 2048];
        assert_eq!(
            control_raw.recv(&mut scratch).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
        let sccrp = [
            0xc8, 0x02, 0x00, 0x0c, 0x01, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        ];
        let out_sa = OutboundSa::new(esp_sub.spi_out, gcm(&KEY_OUT));
        let sealed =
            tx::seal_udp_transport(&out_sa, PAIR_B.into(), PAIR_A.into(), 1701, 1701, &sccrp)
                .unwrap();
        assert_eq!(control_raw.send_to(&sealed, PAIR_A).unwrap(), sealed.len());
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = loop {
            match raw.recv(&mut scratch) {
                Ok(n) => break scratch[..n].to_vec(),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "no raw ESP from the control socket"
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("raw recv: {e}"),
            }
        };
        let out = rx::esp_raw_input(
            &mut client.tables,
            &mut client.counters,
            std::time::Instant::now(),
            &mut got,
        );
        assert!(
            matches!(
                out,
                Rx::Punt {
                    kind: PuntKind::L2tpControl,
                    tunnel_id: PEER_TUNNEL,
                    inner_port: 1701,
                    ..
                }
            ),
            "{out:?}"
        );
        assert_eq!(out.slice(&mut got).unwrap(), &sccrp);

        let lac = SocketAddr::from((PAIR_A, 1701));
        let plain = Sub {
            tunnel: 20,
            session: 21,
            spi_in: 0,
            spi_out: 0,
            addr: Ipv4Addr::new(10, 77, 0, 3),
            esp: false,
        };
        install(&dp, &plain, lac);
        let mut lac_client = Client::new(&plain, false);
        let lac_sock = pair.a.run(move || UdpSocket::bind(lac).unwrap());
        let msg = lac_client.encapsulate(&udp_packet(plain.addr, TUN_ADDR, 5555, 7000, b"plain"));
        lac_sock.send_to(&msg, (PAIR_B, 1701)).unwrap();
        assert_eq!(recv_until(&listener, |b| b == b"plain"), b"plain");

        let sender = pair.b.run(|| UdpSocket::bind((TUN_ADDR, 0)).unwrap());
        sender.send_to(b"to the lac", (plain.addr, 8000)).unwrap();
        lac_sock
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 2048];
        let (n, from) = lac_sock.recv_from(&mut buf).expect("plain L2TP reply");
        assert_eq!(from, SocketAddr::from((PAIR_B, 1701)));
        let ip_packet = lac_client.decapsulate(&buf[..n], false);
        assert!(ip_packet.ends_with(b"to the lac"));

        // Plain L2TP cannot reach the IPsec subscriber's session: from the LAC's
        // socket it is not even from that tunnel's peer (the rx unit tests cover
        // `Unprotected`, the check behind this one).
        let mut sneaky = Client::new(
            &Sub {
                esp: false,
                ..esp_sub
            },
            false,
        );
        let msg = sneaky.encapsulate(&udp_packet(SUBSCRIBER, TUN_ADDR, 5555, 7000, b"sneak"));
        lac_sock.send_to(&msg, (PAIR_B, 1701)).unwrap();
        assert_eq!(
            wait_total(&dp, 1, |s| s.packets.drops_for(DropReason::WrongPeer)),
            1
        );
    }

    /// One LAC tunnel (one UDP 4-tuple) carrying 40 sessions spread over 2 shards by
    /// session ID: each shard sees only its own; control traffic goes to the control
    /// socket, PPP control to the control thread's queue.
    #[test]
    fn one_tunnel_many_sessions_spread_over_shards() {
        if !is_root() {
            println!("runtime_dataplane: skipped, needs root");
            return;
        }
        let pair = Pair::create("dpspread");
        let dp = start(&pair, spec(2, Mode::Full));
        let lac = SocketAddr::from((PAIR_A, 1701));
        let lac_sock = pair.a.run(move || UdpSocket::bind(lac).unwrap());
        let listener = pair.b.run(|| UdpSocket::bind((TUN_ADDR, 7000)).unwrap());
        let sessions: Vec<Sub> = (0..40u16)
            .map(|i| Sub {
                tunnel: 50,
                session: 100 + i,
                spi_in: 0,
                spi_out: 0,
                addr: Ipv4Addr::new(10, 77, 1, i as u8 + 1),
                esp: false,
            })
            .collect();
        for s in &sessions {
            install(&dp, s, lac);
        }
        for (i, s) in sessions.iter().enumerate() {
            let mut c = Client::new(s, false);
            let body = format!("session {i}");
            let msg = c.encapsulate(&udp_packet(s.addr, TUN_ADDR, 5555, 7000, body.as_bytes()));
            lac_sock.send_to(&msg, (PAIR_B, 1701)).unwrap();
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..40 {
            seen.insert(recv_until(&listener, |_| true));
        }
        assert_eq!(seen.len(), 40);
        // Counters are published within a millisecond of the last batch.
        wait_total(&dp, 40, |s| s.packets.rx_packets_for(RxProto::Ipv4));
        for shard in 0..2u32 {
            let s = dp.stats(shard).unwrap();
            assert_eq!(s.session_count, 20, "shard {shard}");
            assert_eq!(
                s.packets.rx_packets_for(RxProto::Ipv4),
                20,
                "shard {shard}: {s:?}"
            );
        }

        // An L2TP control message (T bit: a ZLB) goes to the control socket, not a shard.
        let zlb = [
            0xc8, 0x02, 0x00, 0x0c, 0x00, 50, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        lac_sock.send_to(&zlb, (PAIR_B, 1701)).unwrap();
        let ctl = &dp.control_sockets().l2tp;
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 64];
        let n = loop {
            if let Ok((n, _)) = ctl.recv_from(&mut buf) {
                break n;
            }
            assert!(
                Instant::now() < deadline,
                "control message never reached the control socket"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(&buf[..n], &zlb);

        // LCP Echo-Request in session 101's data channel is punted with its IDs.
        let lcp = [
            0xff, 0x03, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0x12, 0x34, 0x56, 0x78,
        ];
        let mut l2tp = vec![0x00, 0x02, 0x00, 50, 0x00, 101];
        l2tp.extend_from_slice(&lcp);
        lac_sock.send_to(&l2tp, (PAIR_B, 1701)).unwrap();
        match next_message(&dp) {
            ToControl::Packet {
                shard,
                kind,
                from,
                tunnel_id,
                session_id,
                inner_port,
                packet,
                ..
            } => {
                assert_eq!((shard, kind, from), (1, PuntKind::Lcp, lac));
                // Plain L2TP: no inner port (the peer's port is `from`'s).
                assert_eq!(inner_port, 0);
                assert_eq!((tunnel_id, session_id), (50, 101));
                assert_eq!(packet.bytes(), &lcp);
            }
            other => panic!("expected a punted packet, got {other:?}"),
        }
    }
}

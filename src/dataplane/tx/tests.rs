//! Transmit-path tests. Each output is opened as the client would: with an inbound
//! transform built from the same suite and keys (an ESP SA's cryptography is symmetric
//! given its keys), then taken apart layer by layer with the wire library, or fed to
//! the receive nodes of a mirrored [`Tables`] in the client's role.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::sync::atomic::Ordering;
use std::sync::Arc;

use super::*;
use crate::crypto::esp::{AesKeySize, AnyTransform, Esn, Integrity, Suite};
use crate::dataplane::counters::RxProto;
use crate::dataplane::rx::{self, Rx};
use crate::dataplane::tables::{
    Capacities, Command, InboundSa, OutboundSa, Session, SessionFlags, TableError,
};

const LOCAL_TUNNEL: u16 = 7;
const LOCAL_SESSION: u16 = 42;
const PEER_TUNNEL: u16 = 0x1234;
const PEER_SESSION: u16 = 0x5678;
const SPI: u32 = 0xc000_0101;
const SUBSCRIBER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const PREFIX: [u8; 8] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 9];
const REMOTE4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const LOCAL4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const CLIENT_PORT: u16 = 1701;

/// The batch time the nodes are given; no test here sets a rate limit it would spend.
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

fn subscriber6() -> Ipv6Addr {
    "2001:db8:0:9::2".parse().unwrap()
}

fn remote6() -> Ipv6Addr {
    "2001:db8:ffff::1".parse().unwrap()
}

fn local6() -> Ipv6Addr {
    "2001:db8:100::1".parse().unwrap()
}

fn peer4() -> SocketAddr {
    "198.51.100.7:4500".parse().unwrap()
}

fn peer6() -> SocketAddr {
    "[2001:db8:200::7]:4500".parse().unwrap()
}

const GCM128: Suite = Suite::AesGcm16 {
    key: AesKeySize::Aes128,
};
const GCM256: Suite = Suite::AesGcm16 {
    key: AesKeySize::Aes256,
};
const CBC_SHA1: Suite = Suite::AesCbc {
    key: AesKeySize::Aes128,
    integrity: Integrity::HmacSha1_96,
};
const TDES_SHA1: Suite = Suite::TripleDesCbc {
    integrity: Integrity::HmacSha1_96,
};
const SUITES: [Suite; 4] = [GCM128, GCM256, CBC_SHA1, TDES_SHA1];

/// One direction's transform from fixed keys; `iv_key` differs between the sender and
/// the receiver (it is only used to seal).
fn transform(suite: Suite, esn: Esn, iv_key: u8) -> AnyTransform {
    let enc: Vec<u8> = (0..suite.encryption_key_len() as u8)
        .map(|i| i.wrapping_mul(7) ^ 0x5a)
        .collect();
    let integ = vec![0x44; suite.integrity_key_len()];
    AnyTransform::with_iv_key(suite, esn, &enc, &integ, &mut [iv_key; 16]).unwrap()
}

fn outbound(suite: Suite, esn: Esn, spi: u32) -> Arc<OutboundSa> {
    Arc::new(OutboundSa::new(spi, transform(suite, esn, 0x55)))
}

fn esp_encap(sa: Arc<OutboundSa>, local: IpAddr) -> EspEncap {
    EspEncap {
        sa,
        local,
        inner_src_port: l2tp::UDP_PORT,
        inner_dst_port: CLIENT_PORT,
    }
}

fn caps() -> Capacities {
    Capacities {
        sas: 4,
        sessions: 4,
        tunnels: 4,
        routes: 4,
    }
}

/// The concentrator's tables: one tunnel with `encap` to `peer`, routes for the
/// subscriber's IPv4 address and IPv6 /64.
fn server(encap: Encap, peer: SocketAddr) -> Tables {
    let mut t = Tables::new(caps());
    t.apply(Command::InstallTunnel {
        id: LOCAL_TUNNEL,
        tunnel: TunnelTx {
            peer,
            peer_tunnel_id: PEER_TUNNEL,
            encap,
        },
    })
    .unwrap();
    let route = Route {
        tunnel: LOCAL_TUNNEL,
        peer_session_id: PEER_SESSION,
        session: (LOCAL_TUNNEL, LOCAL_SESSION),
    };
    t.apply(Command::InstallRoute {
        ipv4: SUBSCRIBER,
        route,
    })
    .unwrap();
    t.apply(Command::InstallRoute6 {
        prefix: PREFIX,
        route,
    })
    .unwrap();
    t
}

fn ipv4_packet(dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let repr = ipv4::Repr {
        src_addr: REMOTE4,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: payload.len(),
        hop_limit: 63,
    };
    let mut buf = vec![0; repr.buffer_len() + payload.len()];
    repr.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]));
    buf[ipv4::HEADER_LEN..].copy_from_slice(payload);
    buf
}

fn ipv6_packet(dst: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let repr = ipv6::Repr {
        src_addr: remote6(),
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: payload.len(),
        hop_limit: 63,
    };
    let mut buf = vec![0; repr.buffer_len() + payload.len()];
    repr.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..]));
    buf[ipv6::HEADER_LEN..].copy_from_slice(payload);
    buf
}

/// A TUN read buffer: headroom, the packet, `junk` bytes past its IP length (which
/// must not be sent), tailroom. Returns the buffer and the range given to tun_input.
fn tun_buffer(ip: &[u8], junk: usize) -> (Vec<u8>, Range<usize>) {
    let mut buf = vec![0xa5; TX_HEADROOM + ip.len() + junk + TX_TAILROOM];
    buf[TX_HEADROOM..TX_HEADROOM + ip.len()].copy_from_slice(ip);
    let range = TX_HEADROOM..TX_HEADROOM + ip.len() + junk;
    (buf, range)
}

fn send(tables: &Tables, counters: &mut Counters, ip: &[u8]) -> (Tx, Vec<u8>) {
    let (mut buf, range) = tun_buffer(ip, 3);
    let tx = tun_input(tables, counters, now(), &mut buf, range);
    let bytes = tx.slice(&buf).map(<[u8]>::to_vec).unwrap_or_default();
    (tx, bytes)
}

/// Checks an L2TP data message as the client parses it and returns the IP packet.
fn take_l2tp_ppp(l2tp_bytes: &[u8], ppp_protocol: u16) -> Vec<u8> {
    let msg = l2tp::Packet::new_checked(l2tp_bytes).unwrap();
    assert_eq!(msg.flags(), 0x0002, "ver 2, no T/L/S/O bits");
    assert_eq!(msg.header_len(), 6);
    assert_eq!(msg.tunnel_id(), PEER_TUNNEL);
    assert_eq!(msg.session_id(), PEER_SESSION);
    let ppp_bytes = msg.payload();
    let [0xff, 0x03, hi, lo, ip @ ..] = ppp_bytes else {
        panic!("PPP header {ppp_bytes:02x?}");
    };
    assert_eq!(u16::from_be_bytes([*hi, *lo]), ppp_protocol);
    ip.to_vec()
}

/// Opens an ESP packet as the client would and checks the inner UDP header. Returns
/// the L2TP message and the sequence number.
fn open_as_client(
    suite: Suite,
    esn: Esn,
    mut esp: Vec<u8>,
    spi: u32,
    outer: udp::IpPair,
) -> (Vec<u8>, u64) {
    assert_eq!(esp[..4], spi.to_be_bytes());
    let seq = u64::from(u32::from_be_bytes(esp[4..8].try_into().unwrap()));
    let client = transform(suite, esn, 0x66);
    let payload = client.open(seq, &mut esp).unwrap();
    assert_eq!(client.next_header(&esp), Some(17));
    let datagram = &esp[payload];
    let u = udp::Packet::new_checked(datagram).unwrap();
    assert_eq!(u.src_port(), l2tp::UDP_PORT);
    assert_eq!(u.dst_port(), CLIENT_PORT);
    assert_eq!(usize::from(u.len()), datagram.len());
    match outer {
        udp::IpPair::V4(..) => assert_eq!(u.checksum(), 0),
        udp::IpPair::V6(..) => {
            assert_ne!(u.checksum(), 0);
            assert!(u.verify_checksum(outer));
        }
    }
    (u.payload().to_vec(), seq)
}

#[test]
fn every_suite_and_encap_round_trips_ipv4_and_ipv6() {
    for suite in SUITES {
        for (kind, peer, local) in [
            ("udp4", peer4(), IpAddr::V4(LOCAL4)),
            ("udp6", peer6(), IpAddr::V6(local6())),
            ("raw", "198.51.100.7:0".parse().unwrap(), IpAddr::V4(LOCAL4)),
        ] {
            let esp = esp_encap(outbound(suite, Esn::Disabled, SPI), local);
            let raw = kind == "raw";
            let encap = if raw {
                Encap::EspRaw(esp)
            } else {
                Encap::EspUdp(esp)
            };
            let t = server(encap, peer);
            let mut c = Counters::new();
            let outer = match (local, peer.ip()) {
                (IpAddr::V6(l), IpAddr::V6(p)) => udp::IpPair::V6(l, p),
                _ => udp::IpPair::V4(LOCAL4, Ipv4Addr::UNSPECIFIED),
            };
            let v4 = ipv4_packet(SUBSCRIBER, b"hello over ipv4");
            let v6 = ipv6_packet(subscriber6(), b"hello over ipv6, a bit longer");
            for (n, (ip, proto)) in [(&v4, 0x0021), (&v6, 0x0057)].into_iter().enumerate() {
                let (tx, bytes) = send(&t, &mut c, ip);
                let Tx::Send { to, via, .. } = tx else {
                    panic!("{suite:?} {kind}: {tx:?}");
                };
                if raw {
                    assert_eq!((to, via), (SocketAddr::new(peer.ip(), 0), Via::RawEsp));
                } else {
                    assert_eq!((to, via), (peer, Via::Udp4500));
                }
                let (l2tp_msg, seq) = open_as_client(suite, Esn::Disabled, bytes, SPI, outer);
                assert_eq!(seq, n as u64 + 1, "{suite:?} {kind}");
                assert_eq!(&take_l2tp_ppp(&l2tp_msg, proto), ip, "{suite:?} {kind}");
            }
            let outer_proto = if raw {
                TxProto::EspRaw
            } else {
                TxProto::EspUdp
            };
            assert_eq!(c.tx_packets_for(outer_proto), 2);
            assert_eq!(c.tx_packets_for(TxProto::Ipv4), 1);
            assert_eq!(c.tx_packets_for(TxProto::Ipv6), 1);
            assert_eq!(
                c.tx_bytes_for(TxProto::Ipv4) + c.tx_bytes_for(TxProto::Ipv6),
                (v4.len() + v6.len()) as u64
            );
            assert_eq!(c.tx_drops, [0; TxDrop::COUNT]);
        }
    }
}

#[test]
fn plain_l2tp_round_trips_ipv4_and_ipv6() {
    let peer: SocketAddr = "198.51.100.20:1701".parse().unwrap();
    let t = server(Encap::Plain, peer);
    let mut c = Counters::new();
    for (ip, proto) in [
        (ipv4_packet(SUBSCRIBER, b"plain v4"), 0x0021),
        (ipv6_packet(subscriber6(), b"plain v6"), 0x0057),
    ] {
        let (tx, bytes) = send(&t, &mut c, &ip);
        assert_eq!(
            tx,
            Tx::Send {
                range: TX_HEADROOM - 10..TX_HEADROOM + ip.len(),
                to: peer,
                via: Via::Udp1701
            }
        );
        assert_eq!(take_l2tp_ppp(&bytes, proto), ip);
        assert_eq!(bytes.len(), ip.len() + 10);
    }
    assert_eq!(c.tx_packets_for(TxProto::L2tpUdp), 2);
}

/// The client's side of the tunnel, built from the same IDs and keys: its inbound SA is
/// our outbound one, its "local" IDs are our peer IDs, and the inner source it accepts
/// is the remote host's.
fn client_tables(suite: Suite, from: SocketAddr) -> Tables {
    let mut t = Tables::new(caps());
    t.apply(Command::InstallSa {
        spi: SPI,
        sa: Box::new(InboundSa::new(
            transform(suite, Esn::Disabled, 0x77),
            PEER_TUNNEL,
            1,
            from,
        )),
    })
    .unwrap();
    let mut session = Session::new(1, Some(REMOTE4), SessionFlags::default());
    session.ipv6_prefix = Some(remote6().octets()[..8].try_into().unwrap());
    t.apply(Command::InstallSession {
        key: (PEER_TUNNEL, PEER_SESSION),
        session,
    })
    .unwrap();
    // Plain L2TP data is accepted only from the tunnel's peer: the server.
    t.apply(Command::InstallTunnel {
        id: PEER_TUNNEL,
        tunnel: TunnelTx {
            peer: from,
            peer_tunnel_id: 1,
            encap: Encap::Plain,
        },
    })
    .unwrap();
    t
}

fn raw_ipv4(src: Ipv4Addr, esp: &[u8]) -> Vec<u8> {
    let repr = ipv4::Repr {
        src_addr: src,
        dst_addr: Ipv4Addr::new(198, 51, 100, 7),
        next_header: IpProtocol::Esp,
        payload_len: esp.len(),
        hop_limit: 64,
    };
    let mut buf = vec![0; repr.buffer_len() + esp.len()];
    repr.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]));
    buf[ipv4::HEADER_LEN..].copy_from_slice(esp);
    buf
}

#[test]
fn tx_output_fed_to_a_mirrored_rx_is_the_original_packet() {
    let from = SocketAddr::new(IpAddr::V4(LOCAL4), 4500);
    for suite in SUITES {
        for encap in ["udp", "raw", "plain"] {
            let esp = esp_encap(outbound(suite, Esn::Disabled, SPI), IpAddr::V4(LOCAL4));
            let e = match encap {
                "udp" => Encap::EspUdp(esp),
                "raw" => Encap::EspRaw(esp),
                _ => Encap::Plain,
            };
            let server = server(e, peer4());
            // Raw ESP has no port: the client's SA expects port 0.
            let expected = if encap == "raw" {
                SocketAddr::new(from.ip(), 0)
            } else {
                from
            };
            let mut client = client_tables(suite, expected);
            let (mut sc, mut cc) = (Counters::new(), Counters::new());
            let v4 = ipv4_packet(SUBSCRIBER, b"round trip");
            let v6 = ipv6_packet(subscriber6(), b"round trip six");
            for (ip, proto) in [(&v4, RxProto::Ipv4), (&v6, RxProto::Ipv6)] {
                let (tx, mut bytes) = send(&server, &mut sc, ip);
                assert!(matches!(tx, Tx::Send { .. }), "{tx:?}");
                let rx = match encap {
                    "udp" => rx::esp_udp_input(&mut client, &mut cc, now(), &mut bytes, from),
                    "raw" => {
                        bytes = raw_ipv4(LOCAL4, &bytes);
                        rx::esp_raw_input(&mut client, &mut cc, now(), &mut bytes)
                    }
                    _ => rx::l2tp_udp_input(&mut client, &mut cc, now(), &mut bytes, from),
                };
                assert!(
                    matches!(rx, Rx::ToTun { proto: p, session: (PEER_TUNNEL, PEER_SESSION), .. } if p == proto),
                    "{suite:?} {encap}: {rx:?}"
                );
                assert_eq!(rx.slice(&mut bytes).unwrap(), &ip[..], "{suite:?} {encap}");
            }
            // The client saw no move: the packets came from where it expected.
            assert_eq!(client.take_peer_moves().count(), 0);
        }
    }
}

#[test]
fn shards_sharing_an_sa_never_reuse_a_sequence_number() {
    const PER_THREAD: usize = 2000;
    let sa = outbound(GCM128, Esn::Disabled, SPI);
    let shard = || {
        server(
            Encap::EspUdp(esp_encap(sa.clone(), IpAddr::V4(LOCAL4))),
            peer4(),
        )
    };
    let (a, b) = (shard(), shard());
    let ip = ipv4_packet(SUBSCRIBER, b"seq");
    let run = |t: &Tables| {
        let mut c = Counters::new();
        let mut seqs = Vec::with_capacity(PER_THREAD);
        for _ in 0..PER_THREAD {
            let (tx, bytes) = send(t, &mut c, &ip);
            assert!(matches!(tx, Tx::Send { .. }));
            seqs.push(u32::from_be_bytes(bytes[4..8].try_into().unwrap()));
        }
        seqs
    };
    let (mut all, other) = std::thread::scope(|s| {
        let ha = s.spawn(|| run(&a));
        let hb = s.spawn(|| run(&b));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    all.extend(other);
    all.sort_unstable();
    let expected: Vec<u32> = (1..=2 * PER_THREAD as u32).collect();
    assert_eq!(all, expected);
    assert_eq!(sa.seq.load(Ordering::Relaxed), 2 * PER_THREAD as u64);
}

#[test]
fn sequence_exhaustion_without_esn_is_a_counted_drop() {
    let sa = outbound(GCM128, Esn::Disabled, SPI);
    sa.seq.store(u64::from(u32::MAX) - 1, Ordering::Relaxed);
    let t = server(
        Encap::EspUdp(esp_encap(sa.clone(), IpAddr::V4(LOCAL4))),
        peer4(),
    );
    let mut c = Counters::new();
    let ip = ipv4_packet(SUBSCRIBER, b"last");
    let (tx, bytes) = send(&t, &mut c, &ip);
    assert!(matches!(tx, Tx::Send { .. }), "{tx:?}");
    let (_, seq) = open_as_client(GCM128, Esn::Disabled, bytes, SPI, v4_outer());
    assert_eq!(seq, u64::from(u32::MAX));
    for _ in 0..2 {
        assert_eq!(send(&t, &mut c, &ip).0, Tx::Drop(TxDrop::SeqExhausted));
    }
    assert_eq!(c.tx_drops_for(TxDrop::SeqExhausted), 2);
    assert_eq!(c.tx_packets_for(TxProto::EspUdp), 1);

    // With ESN the counter goes on past 2^32; the wire carries the low half.
    let sa = outbound(GCM128, Esn::Enabled, SPI);
    sa.seq.store(u64::from(u32::MAX), Ordering::Relaxed);
    let t = server(Encap::EspUdp(esp_encap(sa, IpAddr::V4(LOCAL4))), peer4());
    let (_, mut bytes) = send(&t, &mut c, &ip);
    assert_eq!(bytes[4..8], [0, 0, 0, 0]);
    let client = transform(GCM128, Esn::Enabled, 0x66);
    assert!(client.open(1 << 32, &mut bytes.clone()).is_ok());
    assert!(client.open(0, &mut bytes).is_err());
}

fn v4_outer() -> udp::IpPair {
    udp::IpPair::V4(LOCAL4, Ipv4Addr::UNSPECIFIED)
}

#[test]
fn no_route_no_tunnel_and_bad_headers_are_counted_drops() {
    let sa = outbound(GCM128, Esn::Disabled, SPI);
    let mut t = server(
        Encap::EspUdp(esp_encap(sa.clone(), IpAddr::V4(LOCAL4))),
        peer4(),
    );
    let mut c = Counters::new();
    // No route: another IPv4 address, another /64.
    let other4 = ipv4_packet(Ipv4Addr::new(10, 9, 0, 3), b"x");
    assert_eq!(send(&t, &mut c, &other4).0, Tx::Drop(TxDrop::NoRoute));
    let other6 = ipv6_packet("2001:db8:0:8::2".parse().unwrap(), b"x");
    assert_eq!(send(&t, &mut c, &other6).0, Tx::Drop(TxDrop::NoRoute));
    assert_eq!(c.tx_drops_for(TxDrop::NoRoute), 2);

    // Truncated at every length (and an empty read): a header drop, never a send.
    let v4 = ipv4_packet(SUBSCRIBER, b"truncate me");
    for n in 0..v4.len() {
        let (mut buf, _) = tun_buffer(&v4, 0);
        let tx = tun_input(&t, &mut c, now(), &mut buf, TX_HEADROOM..TX_HEADROOM + n);
        assert_eq!(tx, Tx::Drop(TxDrop::BadHeader(Layer::Ipv4)), "len {n}");
    }
    let v6 = ipv6_packet(subscriber6(), b"truncate me");
    for n in 1..v6.len() {
        let (mut buf, _) = tun_buffer(&v6, 0);
        let tx = tun_input(&t, &mut c, now(), &mut buf, TX_HEADROOM..TX_HEADROOM + n);
        assert_eq!(tx, Tx::Drop(TxDrop::BadHeader(Layer::Ipv6)), "len {n}");
    }
    // Garbage: version 5, IHL 4, Total Length below the header.
    for (at, value) in [(0, 0x55), (0, 0x44), (3, 10)] {
        let mut bad = v4.clone();
        bad[at] = value;
        assert_eq!(
            send(&t, &mut c, &bad).0,
            Tx::Drop(TxDrop::BadHeader(Layer::Ipv4))
        );
    }
    // A range outside the buffer.
    let (mut buf, _) = tun_buffer(&v4, 0);
    let len = buf.len();
    assert_eq!(
        tun_input(&t, &mut c, now(), &mut buf, len - 4..len + 4),
        Tx::Drop(TxDrop::NoRoom)
    );
    // None of that took a sequence number.
    assert_eq!(sa.seq.load(Ordering::Relaxed), 0);

    // No tunnel: the route outlived it.
    t.apply(Command::RemoveTunnel { id: LOCAL_TUNNEL }).unwrap();
    assert_eq!(send(&t, &mut c, &v4).0, Tx::Drop(TxDrop::NoTunnel));
    assert_eq!(c.tx_drops_for(TxDrop::NoTunnel), 1);
    assert_eq!(c.tx_packets, [0; TxProto::COUNT]);
}

#[test]
fn missing_head_or_tailroom_is_a_drop() {
    for suite in SUITES {
        let sa = outbound(suite, Esn::Disabled, SPI);
        let esp = esp_encap(sa.clone(), IpAddr::V4(LOCAL4));
        let ip = ipv4_packet(SUBSCRIBER, b"room");
        let front = esp.sa.transform.payload_offset() + 18;
        let total = esp.sa.transform.packet_len(8 + 10 + ip.len());
        let t = server(Encap::EspUdp(esp), peer4());
        let mut c = Counters::new();
        // One octet short in front; one octet short behind.
        let mut buf = vec![0; front - 1 + total];
        buf[front - 1..front - 1 + ip.len()].copy_from_slice(&ip);
        let range = front - 1..front - 1 + ip.len();
        assert_eq!(
            tun_input(&t, &mut c, now(), &mut buf, range),
            Tx::Drop(TxDrop::NoRoom)
        );
        let mut buf = vec![0; total - 1];
        buf[front..front + ip.len()].copy_from_slice(&ip);
        let range = front..front + ip.len();
        assert_eq!(
            tun_input(&t, &mut c, now(), &mut buf, range.clone()),
            Tx::Drop(TxDrop::NoRoom)
        );
        assert_eq!(c.tx_drops_for(TxDrop::NoRoom), 2);
        assert_eq!(
            sa.seq.load(Ordering::Relaxed),
            0,
            "a drop burns no sequence"
        );
        // Exactly enough: sent, filling the buffer.
        let mut buf = vec![0; total];
        buf[front..front + ip.len()].copy_from_slice(&ip);
        let tx = tun_input(&t, &mut c, now(), &mut buf, range);
        assert!(
            matches!(&tx, Tx::Send { range, .. } if *range == (0..total)),
            "{tx:?}"
        );
    }
    // Plain L2TP needs 10 octets in front and nothing behind.
    let t = server(Encap::Plain, peer4());
    let mut c = Counters::new();
    let ip = ipv4_packet(SUBSCRIBER, b"room");
    let mut buf = vec![0; 9 + ip.len()];
    buf[9..].copy_from_slice(&ip);
    let range = 9..buf.len();
    assert_eq!(
        tun_input(&t, &mut c, now(), &mut buf, range),
        Tx::Drop(TxDrop::NoRoom)
    );
    let mut buf = vec![0; 10 + ip.len()];
    buf[10..].copy_from_slice(&ip);
    let range = 10..buf.len();
    assert!(matches!(
        tun_input(&t, &mut c, now(), &mut buf, range),
        Tx::Send { .. }
    ));
}

#[test]
fn jumbo_inner_packet_is_too_big_for_esp() {
    let sa = outbound(GCM128, Esn::Disabled, SPI);
    let t = server(
        Encap::EspUdp(esp_encap(sa.clone(), IpAddr::V4(LOCAL4))),
        peer4(),
    );
    let mut c = Counters::new();
    let ip = ipv4_packet(SUBSCRIBER, &vec![0; 65535 - 20]);
    assert_eq!(send(&t, &mut c, &ip).0, Tx::Drop(TxDrop::TooBig));
    // The largest that fits: UDP Length 65535.
    let ip = ipv4_packet(SUBSCRIBER, &vec![1; 65535 - 18 - 20]);
    let (tx, bytes) = send(&t, &mut c, &ip);
    assert!(matches!(tx, Tx::Send { .. }));
    let (l2tp_msg, _) = open_as_client(GCM128, Esn::Disabled, bytes, SPI, v4_outer());
    assert_eq!(take_l2tp_ppp(&l2tp_msg, 0x21), ip);
}

/// Every suite, ESN or not: the in-front and behind octets fit the constants.
#[test]
fn headroom_and_tailroom_cover_every_suite() {
    let integrities = [
        Integrity::HmacSha1_96,
        Integrity::HmacSha256_128,
        Integrity::HmacSha256_96,
        Integrity::HmacSha384_192,
        Integrity::HmacSha512_256,
    ];
    let mut suites = vec![GCM128, GCM256];
    for integrity in integrities {
        for key in [AesKeySize::Aes128, AesKeySize::Aes256] {
            suites.push(Suite::AesCbc { key, integrity });
        }
        suites.push(Suite::TripleDesCbc { integrity });
    }
    let (mut max_front, mut max_back) = (0, 0);
    for suite in suites {
        for esn in [Esn::Disabled, Esn::Enabled] {
            let t = transform(suite, esn, 1);
            let front = t.payload_offset() + udp::HEADER_LEN + L2TP_PPP_LEN;
            max_front = max_front.max(front);
            for ip_len in 20..60 {
                let payload = udp::HEADER_LEN + L2TP_PPP_LEN + ip_len;
                let back = t.packet_len(payload) - t.payload_offset() - payload;
                max_back = max_back.max(back);
            }
        }
    }
    // AES-CBC: 8 + 16 + 18; 15 padding + 2 + 32 (HMAC-SHA-512-256).
    assert_eq!((max_front, max_back), (42, 49));
    assert!(max_front <= TX_HEADROOM && max_back <= TX_TAILROOM);
}

#[test]
fn tunnel_and_route_capacities_are_enforced() {
    let mut t = Tables::new(Capacities {
        sas: 1,
        sessions: 1,
        tunnels: 2,
        routes: 2,
    });
    let tunnel = |peer| TunnelTx {
        peer,
        peer_tunnel_id: 1,
        encap: Encap::Plain,
    };
    for id in 1..=2 {
        t.apply(Command::InstallTunnel {
            id,
            tunnel: tunnel(peer4()),
        })
        .unwrap();
    }
    assert_eq!(
        t.apply(Command::InstallTunnel {
            id: 3,
            tunnel: tunnel(peer4())
        }),
        Err(TableError::Full)
    );
    assert_eq!(
        t.apply(Command::InstallTunnel {
            id: 1,
            tunnel: tunnel(peer4())
        }),
        Err(TableError::Exists)
    );
    let route = Route {
        tunnel: 1,
        peer_session_id: 1,
        session: (1, 1),
    };
    for i in 1..=2 {
        t.apply(Command::InstallRoute {
            ipv4: Ipv4Addr::new(10, 0, 0, i),
            route,
        })
        .unwrap();
        t.apply(Command::InstallRoute6 {
            prefix: [0x20, 1, 0xd, 0xb8, 0, 0, 0, i],
            route,
        })
        .unwrap();
    }
    assert_eq!(
        t.apply(Command::InstallRoute {
            ipv4: Ipv4Addr::new(10, 0, 0, 3),
            route
        }),
        Err(TableError::Full)
    );
    assert_eq!(
        t.apply(Command::InstallRoute6 {
            prefix: [0; 8],
            route
        }),
        Err(TableError::Full)
    );
    assert_eq!(t.route_counts(), (2, 2));
    assert_eq!(
        t.apply(Command::RemoveRoute6 { prefix: [0; 8] }),
        Err(TableError::NotFound)
    );
    assert_eq!(
        t.apply(Command::UpdatePeer {
            tunnel: 9,
            peer: peer4()
        }),
        Err(TableError::NotFound)
    );
    // A plain tunnel has no SA to replace.
    assert_eq!(
        t.apply(Command::SetTunnelSa {
            tunnel: 1,
            sa: outbound(GCM128, Esn::Disabled, 1)
        }),
        Err(TableError::NotFound)
    );
    // Churn within capacity never grows the maps (see tables' "Capacity").
    t.apply(Command::RemoveRoute {
        ipv4: Ipv4Addr::new(10, 0, 0, 1),
    })
    .unwrap();
    t.apply(Command::RemoveTunnel { id: 2 }).unwrap();
    let before = t.allocated();
    for i in 0..1000u16 {
        let ipv4 = Ipv4Addr::from(0x0a01_0000 | u32::from(i));
        t.apply(Command::InstallRoute { ipv4, route }).unwrap();
        t.apply(Command::RemoveRoute { ipv4 }).unwrap();
        t.apply(Command::InstallTunnel {
            id: 100 + i,
            tunnel: tunnel(peer4()),
        })
        .unwrap();
        t.apply(Command::RemoveTunnel { id: 100 + i }).unwrap();
    }
    assert_eq!(t.allocated(), before);
}

#[test]
fn update_peer_and_rekey_change_the_wire() {
    let old = outbound(GCM128, Esn::Disabled, SPI);
    let mut t = server(
        Encap::EspUdp(esp_encap(old.clone(), IpAddr::V4(LOCAL4))),
        peer4(),
    );
    let mut c = Counters::new();
    let ip = ipv4_packet(SUBSCRIBER, b"moving");
    let (tx, _) = send(&t, &mut c, &ip);
    assert!(matches!(tx, Tx::Send { to, .. } if to == peer4()));

    // NAT rebinding: the control thread broadcasts the new address.
    let moved: SocketAddr = "198.51.100.99:62000".parse().unwrap();
    t.apply(Command::UpdatePeer {
        tunnel: LOCAL_TUNNEL,
        peer: moved,
    })
    .unwrap();
    let (tx, _) = send(&t, &mut c, &ip);
    assert!(matches!(tx, Tx::Send { to, .. } if to == moved), "{tx:?}");

    // Rekey: the new SA (another suite too) replaces the old one; its counter starts
    // at 1.
    const NEW_SPI: u32 = 0xc000_0202;
    let new = outbound(CBC_SHA1, Esn::Disabled, NEW_SPI);
    t.apply(Command::SetTunnelSa {
        tunnel: LOCAL_TUNNEL,
        sa: new.clone(),
    })
    .unwrap();
    assert_eq!(
        Arc::strong_count(&old),
        1,
        "the tables let go of the old SA"
    );
    let (tx, bytes) = send(&t, &mut c, &ip);
    assert!(matches!(tx, Tx::Send { to, .. } if to == moved), "{tx:?}");
    let (l2tp_msg, seq) = open_as_client(CBC_SHA1, Esn::Disabled, bytes, NEW_SPI, v4_outer());
    assert_eq!(seq, 1);
    assert_eq!(take_l2tp_ppp(&l2tp_msg, 0x21), ip);
    assert_eq!(old.seq.load(Ordering::Relaxed), 2);

    // The route goes away: no route.
    t.apply(Command::RemoveRoute { ipv4: SUBSCRIBER }).unwrap();
    assert_eq!(send(&t, &mut c, &ip).0, Tx::Drop(TxDrop::NoRoute));
}

#[test]
fn control_path_seal_is_opened_and_punted_by_the_rx_path() {
    let from = SocketAddr::new(IpAddr::V4(LOCAL4), 4500);
    // An SCCRP-like control message from the LNS (tunnel ID in the header: the peer's).
    let repr = l2tp::Repr::control(PEER_TUNNEL, 0, 0, 1, &[]);
    let mut ctl = vec![0; repr.buffer_len()];
    repr.emit(&mut l2tp::Packet::new_unchecked(&mut ctl[..]));
    for suite in SUITES {
        let sa = outbound(suite, Esn::Disabled, SPI);
        // The shards have already sent 41 packets under this SA.
        sa.seq.store(41, Ordering::Relaxed);
        let mut client = client_tables(suite, from);
        let mut cc = Counters::new();
        for expected_seq in [42u32, 43] {
            let mut esp = seal_udp_transport(
                &sa,
                IpAddr::V4(LOCAL4),
                peer4().ip(),
                l2tp::UDP_PORT,
                CLIENT_PORT,
                &ctl,
            )
            .unwrap();
            assert_eq!(esp[..4], SPI.to_be_bytes());
            assert_eq!(esp[4..8], expected_seq.to_be_bytes(), "{suite:?}");
            let rx = rx::esp_udp_input(&mut client, &mut cc, now(), &mut esp, from);
            assert!(
                matches!(
                    rx,
                    Rx::Punt {
                        kind: crate::dataplane::counters::PuntKind::L2tpControl,
                        tunnel_id: PEER_TUNNEL,
                        spi: Some(SPI),
                        inner_port: l2tp::UDP_PORT,
                        ..
                    }
                ),
                "{suite:?}: {rx:?}"
            );
            assert_eq!(rx.slice(&mut esp).unwrap(), &ctl[..], "{suite:?}");
        }
        assert_eq!(sa.seq.load(Ordering::Relaxed), 43);
    }
    // Over IPv6 the inner UDP checksum is filled in, over the outer addresses.
    let sa = outbound(GCM128, Esn::Disabled, SPI);
    let esp = seal_udp_transport(
        &sa,
        IpAddr::V6(local6()),
        peer6().ip(),
        l2tp::UDP_PORT,
        CLIENT_PORT,
        &ctl,
    )
    .unwrap();
    let IpAddr::V6(peer) = peer6().ip() else {
        unreachable!()
    };
    let (l2tp_bytes, seq) = open_as_client(
        GCM128,
        Esn::Disabled,
        esp,
        SPI,
        udp::IpPair::V6(local6(), peer),
    );
    assert_eq!((l2tp_bytes, seq), (ctl.clone(), 1));
    // An exhausted SA refuses without sealing.
    sa.seq.store(u64::from(u32::MAX), Ordering::Relaxed);
    let r = seal_udp_transport(
        &sa,
        IpAddr::V4(LOCAL4),
        peer4().ip(),
        l2tp::UDP_PORT,
        CLIENT_PORT,
        &ctl,
    );
    assert_eq!(r, Err(TxDrop::SeqExhausted));
    // A payload whose UDP length exceeds 65535 is too big.
    let r = seal_udp_transport(
        &sa,
        IpAddr::V4(LOCAL4),
        peer4().ip(),
        1701,
        1701,
        &vec![0; 65_535],
    );
    assert_eq!(r, Err(TxDrop::TooBig));
}

#[test]
fn download_limit_is_shared_by_v4_and_v6_and_burns_no_sequence_number() {
    use crate::dataplane::ratelimit::{Rate, SharedTokenBucket};
    use std::time::Duration;
    let t0 = std::time::Instant::now();
    let sa = outbound(GCM128, Esn::Disabled, SPI);
    let mut t = server(
        Encap::EspUdp(esp_encap(Arc::clone(&sa), IpAddr::V4(LOCAL4))),
        peer4(),
    );
    // A neighbour on the same tunnel, unlimited.
    let other = Ipv4Addr::new(10, 9, 0, 3);
    t.apply(Command::InstallRoute {
        ipv4: other,
        route: Route {
            tunnel: LOCAL_TUNNEL,
            peer_session_id: PEER_SESSION + 1,
            session: (LOCAL_TUNNEL, LOCAL_SESSION + 1),
        },
    })
    .unwrap();
    // 8 Mbit/s (a byte per microsecond), 6000-byte bucket; one bucket for both
    // address families, as the control thread would broadcast it.
    let down = Arc::new(SharedTokenBucket::new(Rate::new(8_000_000, Some(6000)), t0));
    t.apply(Command::SetRouteLimit {
        ipv4: SUBSCRIBER,
        down: Some(Arc::clone(&down)),
    })
    .unwrap();
    t.apply(Command::SetRoute6Limit {
        prefix: PREFIX,
        down: Some(Arc::clone(&down)),
    })
    .unwrap();
    assert_eq!(
        t.apply(Command::SetRouteLimit {
            ipv4: Ipv4Addr::new(10, 9, 9, 9),
            down: None
        }),
        Err(TableError::NotFound)
    );
    let mut c = Counters::new();
    let v4 = ipv4_packet(SUBSCRIBER, &[1; 980]);
    let v6 = ipv6_packet(subscriber6(), &[1; 960]);
    assert_eq!((v4.len(), v6.len()), (1000, 1000));
    let send_at = |t: &Tables, c: &mut Counters, at, ip: &[u8]| {
        let (mut buf, range) = tun_buffer(ip, 0);
        tun_input(t, c, at, &mut buf, range)
    };
    for ip in [&v4, &v6, &v4, &v6, &v4, &v6] {
        assert!(matches!(send_at(&t, &mut c, t0, ip), Tx::Send { .. }));
    }
    assert_eq!(sa.seq.load(Ordering::Relaxed), 6);
    for ip in [&v4, &v6] {
        assert_eq!(send_at(&t, &mut c, t0, ip), Tx::Drop(TxDrop::RateLimited));
    }
    // The policed packets took no sequence number.
    assert_eq!(sa.seq.load(Ordering::Relaxed), 6);
    assert_eq!(c.tx_drops_for(TxDrop::RateLimited), 2);
    assert_eq!(down.dropped(), (2, 2000));
    // The neighbour is not limited.
    let o = ipv4_packet(other, &[1; 980]);
    for _ in 0..50 {
        assert!(matches!(send_at(&t, &mut c, t0, &o), Tx::Send { .. }));
    }
    // Refilled after 1000 µs.
    let at = t0 + Duration::from_micros(1000);
    assert!(matches!(send_at(&t, &mut c, at, &v4), Tx::Send { .. }));
    assert_eq!(send_at(&t, &mut c, at, &v6), Tx::Drop(TxDrop::RateLimited));
    // Lifted; a route installed anew starts unlimited.
    t.apply(Command::SetRouteLimit {
        ipv4: SUBSCRIBER,
        down: None,
    })
    .unwrap();
    assert!(matches!(send_at(&t, &mut c, at, &v4), Tx::Send { .. }));
    t.apply(Command::RemoveRoute6 { prefix: PREFIX }).unwrap();
    t.apply(Command::InstallRoute6 {
        prefix: PREFIX,
        route: *t.route4(SUBSCRIBER).unwrap(),
    })
    .unwrap();
    assert!(matches!(send_at(&t, &mut c, at, &v6), Tx::Send { .. }));
}

#[test]
fn download_limit_on_a_pptp_route_applies_before_the_handoff() {
    use crate::dataplane::ratelimit::{Rate, SharedTokenBucket};
    let t0 = std::time::Instant::now();
    let mut t = Tables::new(caps());
    t.apply(Command::InstallRoute {
        ipv4: SUBSCRIBER,
        route: Route {
            tunnel: crate::dataplane::pptp::PPTP_ROUTE_TUNNEL,
            peer_session_id: 0,
            session: (crate::dataplane::pptp::PPTP_ROUTE_TUNNEL, 5),
        },
    })
    .unwrap();
    let down = Arc::new(SharedTokenBucket::new(Rate::new(8_000_000, Some(6000)), t0));
    t.apply(Command::SetRouteLimit {
        ipv4: SUBSCRIBER,
        down: Some(down),
    })
    .unwrap();
    let mut c = Counters::new();
    let ip = ipv4_packet(SUBSCRIBER, &[1; 980]);
    let mut results = Vec::new();
    for _ in 0..7 {
        let (mut buf, range) = tun_buffer(&ip, 0);
        results.push(tun_input(&t, &mut c, t0, &mut buf, range));
    }
    assert!(
        results[..6]
            .iter()
            .all(|r| matches!(r, Tx::Call { call_id: 5, .. }))
    );
    assert_eq!(results[6], Tx::Drop(TxDrop::RateLimited));
}

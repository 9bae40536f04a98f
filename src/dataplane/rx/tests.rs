//! Receive-path tests: packets are built with the wire library and sealed with an
//! `AnyTransform` built from the same suite and keys as the shard's inbound SA (an ESP
//! SA's cryptography is symmetric given its keys), then fed to the nodes.

use crate::dataplane::tables::{Encap, TunnelTx};
use core::net::{Ipv4Addr, SocketAddr};

use super::*;
use crate::crypto::esp::{AesKeySize, AnyTransform, Integrity, Suite};
use crate::dataplane::counters::Event;
use crate::dataplane::tables::{
    Capacities, Command, InboundSa, PEER_MOVES_CAPACITY, Session, SessionFlags,
};
use crate::proto::esp::ReplayError;

const SPI: u32 = 0x0100_0001;
const TUNNEL: u16 = 7;
const SESSION: u16 = 42;
const GCM_KEY: [u8; 20] = [
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0xca, 0xfe, 0xba, 0xbe,
];
const GCM: Suite = Suite::AesGcm16 {
    key: AesKeySize::Aes128,
};
const SUBSCRIBER: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
/// The client's outer address and port (behind NAT) the SA was negotiated with.
const PEER: SocketAddr =
    SocketAddr::new(core::net::IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 4500);
/// The LAC of the plain L2TP tunnel.
const LAC: SocketAddr =
    SocketAddr::new(core::net::IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)), 1701);

/// The batch time the nodes are given; no test here sets a rate limit it would spend.
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

fn transform(suite: Suite, esn: Esn) -> AnyTransform {
    match suite {
        Suite::AesGcm16 { .. } => AnyTransform::new(suite, esn, &GCM_KEY, &[]).unwrap(),
        _ => AnyTransform::with_iv_key(suite, esn, &[0x33; 16], &[0x44; 20], &mut [0x55; 16])
            .unwrap(),
    }
}

fn tables_with(suite: Suite, esn: Esn, flags: SessionFlags) -> Tables {
    let mut t = Tables::new(Capacities {
        sas: 4,
        sessions: 64,
        tunnels: 4,
        routes: 4,
    });
    t.apply(Command::InstallSa {
        spi: SPI,
        sa: Box::new(InboundSa::new(transform(suite, esn), TUNNEL, 1, PEER)),
    })
    .unwrap();
    t.apply(Command::InstallSession {
        key: (TUNNEL, SESSION),
        session: Session::new(1, Some(SUBSCRIBER), flags),
    })
    .unwrap();
    t.apply(Command::InstallTunnel {
        id: TUNNEL,
        tunnel: TunnelTx {
            peer: LAC,
            peer_tunnel_id: 77,
            encap: Encap::Plain,
        },
    })
    .unwrap();
    t
}

fn tables() -> Tables {
    tables_with(
        GCM,
        Esn::Disabled,
        SessionFlags {
            requires_esp: false,
        },
    )
}

fn inner_ipv4(src: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let repr = ipv4::Repr {
        src_addr: src,
        dst_addr: Ipv4Addr::new(192, 0, 2, 1),
        next_header: IpProtocol::Udp,
        payload_len: payload.len(),
        hop_limit: 64,
    };
    let mut buf = vec![0; repr.buffer_len() + payload.len()];
    repr.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]));
    buf[ipv4::HEADER_LEN..].copy_from_slice(payload);
    buf
}

fn ppp_frame(protocol: ppp::Protocol, acfc: bool, pfc: bool, info: &[u8]) -> Vec<u8> {
    let mut buf = vec![0; ppp::header_len(protocol, acfc, pfc) + info.len()];
    let h = ppp::emit_header(&mut buf, protocol, acfc, pfc);
    buf[h..].copy_from_slice(info);
    buf
}

fn l2tp_data(tunnel: u16, session: u16, ppp: &[u8]) -> Vec<u8> {
    let repr = l2tp::Repr::data(tunnel, session, ppp);
    let mut buf = vec![0; repr.buffer_len()];
    repr.emit(&mut l2tp::Packet::new_unchecked(&mut buf[..]));
    buf
}

fn l2tp_control(tunnel: u16) -> Vec<u8> {
    let repr = l2tp::Repr::control(tunnel, 0, 0, 0, &[]);
    let mut buf = vec![0; repr.buffer_len()];
    repr.emit(&mut l2tp::Packet::new_unchecked(&mut buf[..]));
    buf
}

/// The client's transport-mode UDP datagram (checksum 0: not verified, see module docs).
fn udp_1701(l2tp: &[u8]) -> Vec<u8> {
    udp_from(1701, l2tp)
}

/// As [`udp_1701`] from inner source port `src` (a client behind NAT may use any).
fn udp_from(src: u16, l2tp: &[u8]) -> Vec<u8> {
    let mut buf = vec![0; udp::HEADER_LEN + l2tp.len()];
    let mut p = udp::Packet::new_unchecked(&mut buf[..]);
    p.set_src_port(src);
    p.set_dst_port(1701);
    p.set_len((udp::HEADER_LEN + l2tp.len()) as u16);
    p.set_checksum(0);
    buf[udp::HEADER_LEN..].copy_from_slice(l2tp);
    buf
}

fn seal(tx: &AnyTransform, spi: u32, seq: u64, payload: &[u8], next_header: u8) -> Vec<u8> {
    let mut buf = vec![0; tx.packet_len(payload.len())];
    buf[0..4].copy_from_slice(&spi.to_be_bytes());
    buf[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
    let at = tx.payload_offset();
    buf[at..at + payload.len()].copy_from_slice(payload);
    tx.encode_trailer(&mut buf, payload.len(), next_header)
        .unwrap();
    tx.seal(seq, &mut buf).unwrap();
    buf
}

fn esp_packet(suite: Suite, seq: u64, l2tp: &[u8]) -> Vec<u8> {
    let tx = transform(suite, Esn::Disabled);
    seal(&tx, SPI, seq, &udp_1701(l2tp), 17)
}

fn data_packet(seq: u64, tunnel: u16, session: u16, inner: &[u8]) -> Vec<u8> {
    let ppp = ppp_frame(ppp::Protocol::Ipv4, false, false, inner);
    esp_packet(GCM, seq, &l2tp_data(tunnel, session, &ppp))
}

fn run(t: &mut Tables, c: &mut Counters, mut pkt: Vec<u8>) -> (Rx, Vec<u8>) {
    let rx = esp_udp_input(t, c, now(), &mut pkt, PEER);
    let bytes = rx.slice(&mut pkt).map(|s| s.to_vec()).unwrap_or_default();
    (rx, bytes)
}

#[test]
fn valid_packet_comes_out_as_the_inner_ipv4() {
    for suite in [
        GCM,
        Suite::AesCbc {
            key: AesKeySize::Aes128,
            integrity: Integrity::HmacSha1_96,
        },
    ] {
        let mut t = tables_with(suite, Esn::Disabled, SessionFlags::default());
        let mut c = Counters::new();
        let inner = inner_ipv4(SUBSCRIBER, b"hello, world");
        let ppp = ppp_frame(ppp::Protocol::Ipv4, false, false, &inner);
        let (rx, bytes) = run(
            &mut t,
            &mut c,
            esp_packet(suite, 1, &l2tp_data(TUNNEL, SESSION, &ppp)),
        );
        assert!(
            matches!(
                rx,
                Rx::ToTun {
                    proto: RxProto::Ipv4,
                    session: (TUNNEL, SESSION),
                    ..
                }
            ),
            "{rx:?}"
        );
        assert_eq!(bytes, inner);
        assert_eq!(c.rx_packets_for(RxProto::Ipv4), 1);
        assert_eq!(t.session((TUNNEL, SESSION)).unwrap().rx_packets, 1);
        assert_eq!(t.sa(SPI).unwrap().replay.highest(), 1);
    }
}

#[test]
fn acfc_and_pfc_frames_are_accepted() {
    let mut t = tables();
    let mut c = Counters::new();
    let inner = inner_ipv4(SUBSCRIBER, b"x");
    for (i, (acfc, pfc)) in [(true, true), (true, false), (false, true)]
        .into_iter()
        .enumerate()
    {
        let ppp = ppp_frame(ppp::Protocol::Ipv4, acfc, pfc, &inner);
        let pkt = esp_packet(GCM, i as u64 + 1, &l2tp_data(TUNNEL, SESSION, &ppp));
        let (rx, bytes) = run(&mut t, &mut c, pkt);
        assert!(matches!(rx, Rx::ToTun { .. }), "{rx:?}");
        assert_eq!(bytes, inner);
    }
}

#[test]
fn replay_is_dropped() {
    let mut t = tables();
    let mut c = Counters::new();
    let pkt = data_packet(5, TUNNEL, SESSION, &inner_ipv4(SUBSCRIBER, b"a"));
    assert!(matches!(
        run(&mut t, &mut c, pkt.clone()).0,
        Rx::ToTun { .. }
    ));
    let dup = DropReason::Replay(ReplayError::Duplicate);
    assert_eq!(run(&mut t, &mut c, pkt).0, Rx::Drop(dup));
    assert_eq!(c.drops_for(dup), 1);
}

#[test]
fn duplicate_within_one_batch_yields_one_packet() {
    let mut t = tables();
    let mut c = Counters::new();
    let pkt = data_packet(9, TUNNEL, SESSION, &inner_ipv4(SUBSCRIBER, b"a"));
    let (mut a, mut b) = (pkt.clone(), pkt);
    let mut packets: [&mut [u8]; 2] = [&mut a, &mut b];
    let mut out = [
        Rx::Drop(DropReason::QueueFull),
        Rx::Drop(DropReason::QueueFull),
    ];
    assert_eq!(
        process_batch(
            &mut t,
            &mut c,
            now(),
            Input::EspUdp,
            &mut packets,
            &[PEER, PEER],
            &mut out
        ),
        2
    );
    assert!(matches!(out[0], Rx::ToTun { .. }));
    assert_eq!(out[1], Rx::Drop(DropReason::Replay(ReplayError::Duplicate)));
}

#[test]
fn tampered_icv_fails_and_does_not_move_the_window() {
    let mut t = tables();
    let mut c = Counters::new();
    let mut pkt = data_packet(100, TUNNEL, SESSION, &inner_ipv4(SUBSCRIBER, b"a"));
    let last = pkt.len() - 1;
    pkt[last] ^= 1;
    assert_eq!(run(&mut t, &mut c, pkt).0, Rx::Drop(DropReason::AuthFailed));
    assert_eq!(t.sa(SPI).unwrap().replay.highest(), 0);
    assert_eq!(c.drops_for(DropReason::AuthFailed), 1);
    // The genuine packet with that sequence number still goes through.
    let pkt = data_packet(100, TUNNEL, SESSION, &inner_ipv4(SUBSCRIBER, b"a"));
    assert!(matches!(run(&mut t, &mut c, pkt).0, Rx::ToTun { .. }));
}

#[test]
fn unknown_spi_is_no_sa() {
    let mut t = tables();
    let mut c = Counters::new();
    let tx = transform(GCM, Esn::Disabled);
    let pkt = seal(&tx, SPI + 1, 1, &udp_1701(&l2tp_control(TUNNEL)), 17);
    assert_eq!(run(&mut t, &mut c, pkt).0, Rx::Drop(DropReason::NoSa));
    assert_eq!(c.drops_for(DropReason::NoSa), 1);
}

#[test]
fn truncation_at_every_length_is_a_drop() {
    let full = data_packet(1, TUNNEL, SESSION, &inner_ipv4(SUBSCRIBER, b"payload"));
    for n in 0..full.len() {
        let mut t = tables();
        let mut c = Counters::new();
        let mut pkt = full[..n].to_vec();
        let rx = esp_udp_input(&mut t, &mut c, now(), &mut pkt, PEER);
        assert!(matches!(rx, Rx::Drop(_)), "len {n}: {rx:?}");
        let mut plain = l2tp_data(
            TUNNEL,
            SESSION,
            &ppp_frame(
                ppp::Protocol::Ipv4,
                false,
                false,
                &inner_ipv4(SUBSCRIBER, b"payload"),
            ),
        );
        let m = n.min(plain.len() - 1);
        let rx = l2tp_udp_input(&mut t, &mut c, now(), &mut plain[..m], LAC);
        assert!(
            matches!(rx, Rx::Drop(_) | Rx::Punt { .. }),
            "plain len {m}: {rx:?}"
        );
    }
}

#[test]
fn inner_layers_truncated_inside_valid_esp_are_dropped() {
    // Every prefix of the L2TP message, sealed validly: the decrypted payload is short.
    let ppp = ppp_frame(
        ppp::Protocol::Ipv4,
        false,
        false,
        &inner_ipv4(SUBSCRIBER, b"abc"),
    );
    let l2tp = l2tp_data(TUNNEL, SESSION, &ppp);
    for n in 0..l2tp.len() {
        let mut t = tables();
        let mut c = Counters::new();
        let rx = run(&mut t, &mut c, esp_packet(GCM, 1, &l2tp[..n])).0;
        // A prefix may be a valid (short) frame of another protocol: `FF` alone reads as
        // a PFC-compressed protocol 0xFF, which is punted for Protocol-Reject.
        assert!(
            matches!(
                rx,
                Rx::Drop(DropReason::BadHeader(_))
                    | Rx::Punt {
                        kind: PuntKind::PppOther,
                        ..
                    }
            ),
            "len {n}: {rx:?}"
        );
    }
}

#[test]
fn esp_carried_control_is_punted_with_its_inner_port() {
    let mut t = tables();
    let mut c = Counters::new();
    // SCCRQ-like: a control message to tunnel 0 from the client's NATed port 40001.
    let ctl = l2tp_control(0);
    let pkt = seal(
        &transform(GCM, Esn::Disabled),
        SPI,
        1,
        &udp_from(40001, &ctl),
        17,
    );
    let (rx, bytes) = run(&mut t, &mut c, pkt);
    assert!(
        matches!(
            rx,
            Rx::Punt {
                kind: PuntKind::L2tpControl,
                spi: Some(SPI),
                inner_port: 40001,
                ..
            }
        ),
        "{rx:?}"
    );
    assert_eq!(bytes, ctl);
    // Plain L2TP: no inner port (the outer source is `from`).
    let mut plain = l2tp_control(0);
    let rx = l2tp_udp_input(&mut t, &mut c, now(), &mut plain, LAC);
    assert!(
        matches!(
            rx,
            Rx::Punt {
                spi: None,
                inner_port: 0,
                ..
            }
        ),
        "{rx:?}"
    );
    // IKE behind the non-ESP marker: says it came on the NAT-T port.
    let mut ike = NON_ESP_MARKER.to_vec();
    ike.extend_from_slice(&[0; ISAKMP_HEADER_LEN]);
    let rx = esp_udp_input(&mut t, &mut c, now(), &mut ike, PEER);
    assert!(
        matches!(
            rx,
            Rx::Punt {
                kind: PuntKind::Ike,
                inner_port: crate::dataplane::rx::NAT_T_PORT,
                ..
            }
        ),
        "{rx:?}"
    );
}

#[test]
fn l2tp_control_and_lcp_are_punted() {
    let mut t = tables();
    let mut c = Counters::new();
    let ctl = l2tp_control(TUNNEL);
    let (rx, bytes) = run(&mut t, &mut c, esp_packet(GCM, 1, &ctl));
    assert!(
        matches!(
            rx,
            Rx::Punt {
                kind: PuntKind::L2tpControl,
                tunnel_id: TUNNEL,
                spi: Some(SPI),
                ..
            }
        ),
        "{rx:?}"
    );
    assert_eq!(bytes, ctl);

    let lcp = ppp_frame(ppp::Protocol::Lcp, false, false, &[1, 1, 0, 4]);
    let (rx, bytes) = run(
        &mut t,
        &mut c,
        esp_packet(GCM, 2, &l2tp_data(TUNNEL, SESSION, &lcp)),
    );
    assert!(
        matches!(
            rx,
            Rx::Punt {
                kind: PuntKind::Lcp,
                session_id: SESSION,
                ..
            }
        ),
        "{rx:?}"
    );
    assert_eq!(bytes, lcp);
    let other = ppp_frame(ppp::Protocol::from(0x002b), false, false, &[0]);
    let (rx, _) = run(
        &mut t,
        &mut c,
        esp_packet(GCM, 3, &l2tp_data(TUNNEL, SESSION, &other)),
    );
    assert!(
        matches!(
            rx,
            Rx::Punt {
                kind: PuntKind::PppOther,
                ..
            }
        ),
        "{rx:?}"
    );
    assert_eq!(c.punts_for(PuntKind::Lcp), 1);
    assert_eq!(c.punts_for(PuntKind::L2tpControl), 1);
}

#[test]
fn unknown_session_wrong_tunnel_and_spoofed() {
    let mut t = tables();
    let mut c = Counters::new();
    let ok = inner_ipv4(SUBSCRIBER, b"a");
    assert_eq!(
        run(&mut t, &mut c, data_packet(1, TUNNEL, SESSION + 1, &ok)).0,
        Rx::Drop(DropReason::NoSession)
    );
    assert_eq!(
        run(&mut t, &mut c, data_packet(2, TUNNEL + 1, SESSION, &ok)).0,
        Rx::Drop(DropReason::WrongTunnel)
    );
    let spoofed = inner_ipv4(Ipv4Addr::new(10, 9, 0, 3), b"a");
    assert_eq!(
        run(&mut t, &mut c, data_packet(3, TUNNEL, SESSION, &spoofed)).0,
        Rx::Drop(DropReason::Spoofed)
    );
    t.apply(Command::SetSessionIpv4 {
        key: (TUNNEL, SESSION),
        ipv4: None,
    })
    .unwrap();
    assert_eq!(
        run(&mut t, &mut c, data_packet(4, TUNNEL, SESSION, &ok)).0,
        Rx::Drop(DropReason::NcpClosed)
    );
    assert_eq!(c.drops_for(DropReason::Spoofed), 1);
}

#[test]
fn non_udp_or_wrong_port_payload_is_refused() {
    let mut t = tables();
    let mut c = Counters::new();
    let tx = transform(GCM, Esn::Disabled);
    let inner = inner_ipv4(SUBSCRIBER, b"a");
    let pkt = seal(&tx, SPI, 1, &inner, 4);
    assert_eq!(
        run(&mut t, &mut c, pkt).0,
        Rx::Drop(DropReason::UnexpectedPayload)
    );
    let mut udp = udp_1701(&l2tp_control(TUNNEL));
    udp[2..4].copy_from_slice(&500u16.to_be_bytes());
    let pkt = seal(&tx, SPI, 2, &udp, 17);
    assert_eq!(
        run(&mut t, &mut c, pkt).0,
        Rx::Drop(DropReason::UnexpectedPayload)
    );
}

#[test]
fn nat_keepalive_and_ike_over_4500() {
    let mut t = tables();
    let mut c = Counters::new();
    assert_eq!(
        run(&mut t, &mut c, vec![0xff]).0,
        Rx::Drop(DropReason::NatKeepalive)
    );
    assert!(!DropReason::NatKeepalive.is_error());
    let mut ike = vec![0u8; 4 + 28];
    ike[4] = 0xaa;
    let (rx, bytes) = run(&mut t, &mut c, ike.clone());
    assert!(
        matches!(
            rx,
            Rx::Punt {
                kind: PuntKind::Ike,
                ..
            }
        ),
        "{rx:?}"
    );
    assert_eq!(bytes, ike[4..]);
    assert_eq!(
        run(&mut t, &mut c, vec![0u8; 4 + 27]).0,
        Rx::Drop(DropReason::BadHeader(Layer::UdpEncap))
    );
    assert_eq!(c.punts_for(PuntKind::Ike), 1);
}

#[test]
fn many_sessions_in_one_tunnel_are_demultiplexed() {
    let mut t = tables();
    let mut c = Counters::new();
    for s in 100..150u16 {
        t.apply(Command::InstallSession {
            key: (TUNNEL, s),
            session: Session::new(
                u32::from(s),
                Some(Ipv4Addr::new(10, 1, 0, s as u8)),
                SessionFlags::default(),
            ),
        })
        .unwrap();
    }
    let mut seq = 1;
    for round in 0..2 {
        for s in (100..150u16).rev() {
            let inner = inner_ipv4(Ipv4Addr::new(10, 1, 0, s as u8), &[round, s as u8]);
            let (rx, bytes) = run(&mut t, &mut c, data_packet(seq, TUNNEL, s, &inner));
            seq += 1;
            assert_eq!(
                rx,
                Rx::ToTun {
                    range: rx_range(&rx),
                    proto: RxProto::Ipv4,
                    session: (TUNNEL, s)
                }
            );
            assert_eq!(bytes, inner);
        }
    }
    for s in 100..150u16 {
        assert_eq!(t.session((TUNNEL, s)).unwrap().rx_packets, 2);
    }
    // Another subscriber's address inside this session is spoofing.
    let inner = inner_ipv4(Ipv4Addr::new(10, 1, 0, 101), b"x");
    assert_eq!(
        run(&mut t, &mut c, data_packet(seq, TUNNEL, 100, &inner)).0,
        Rx::Drop(DropReason::Spoofed)
    );
}

fn rx_range(rx: &Rx) -> Range<usize> {
    match rx {
        Rx::ToTun { range, .. } | Rx::Punt { range, .. } => range.clone(),
        Rx::Drop(_) | Rx::Consumed => 0..0,
    }
}

#[test]
fn plain_l2tp_path() {
    let mut t = tables();
    let mut c = Counters::new();
    let inner = inner_ipv4(SUBSCRIBER, b"plain");
    let mut pkt = l2tp_data(
        TUNNEL,
        SESSION,
        &ppp_frame(ppp::Protocol::Ipv4, true, true, &inner),
    );
    let rx = l2tp_udp_input(&mut t, &mut c, now(), &mut pkt, LAC);
    assert!(matches!(rx, Rx::ToTun { .. }), "{rx:?}");
    assert_eq!(rx.slice(&mut pkt).unwrap(), &inner[..]);
    let mut ctl = l2tp_control(0);
    let rx = l2tp_udp_input(&mut t, &mut c, now(), &mut ctl, LAC);
    assert!(
        matches!(
            rx,
            Rx::Punt {
                kind: PuntKind::L2tpControl,
                spi: None,
                ..
            }
        ),
        "{rx:?}"
    );

    // A session whose tunnel requires IPsec is not reachable in the clear.
    let mut t = tables_with(GCM, Esn::Disabled, SessionFlags { requires_esp: true });
    let rx = l2tp_udp_input(&mut t, &mut c, now(), &mut pkt, LAC);
    assert_eq!(rx, Rx::Drop(DropReason::Unprotected));
    assert_eq!(c.rx_packets_for(RxProto::L2tpUdp), 3);
}

#[test]
fn esn_sa_infers_the_high_bits() {
    let mut t = tables_with(GCM, Esn::Enabled, SessionFlags::default());
    let mut c = Counters::new();
    let tx = transform(GCM, Esn::Enabled);
    let inner = inner_ipv4(SUBSCRIBER, b"esn");
    let payload = udp_1701(&l2tp_data(
        TUNNEL,
        SESSION,
        &ppp_frame(ppp::Protocol::Ipv4, false, false, &inner),
    ));
    let (rx, _) = run(&mut t, &mut c, seal(&tx, SPI, 1, &payload, 17));
    assert!(matches!(rx, Rx::ToTun { .. }), "{rx:?}");
    // Sealed with the wrong high half: the ICV (which covers Seq-hi) fails.
    let (rx, _) = run(&mut t, &mut c, seal(&tx, SPI, (1 << 32) | 2, &payload, 17));
    assert_eq!(rx, Rx::Drop(DropReason::AuthFailed));
}

fn inner_ipv6(src: core::net::Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let repr = ipv6::Repr {
        src_addr: src,
        dst_addr: "2001:db8::1".parse().unwrap(),
        next_header: IpProtocol::Udp,
        payload_len: payload.len(),
        hop_limit: 64,
    };
    let mut buf = vec![0; repr.buffer_len() + payload.len()];
    repr.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..]));
    buf[ipv6::HEADER_LEN..].copy_from_slice(payload);
    buf
}

#[test]
fn ipv6_needs_ipv6cp_and_the_assigned_prefix() {
    let mut t = tables();
    let mut c = Counters::new();
    let ok = inner_ipv6("2001:db8:0:9::2".parse().unwrap(), b"six");
    let bad = inner_ipv6("2001:db8:0:8::2".parse().unwrap(), b"six");
    let pkt = |seq, inner: &[u8]| {
        let ppp = ppp_frame(ppp::Protocol::Ipv6, false, true, inner);
        esp_packet(GCM, seq, &l2tp_data(TUNNEL, SESSION, &ppp))
    };
    assert_eq!(
        run(&mut t, &mut c, pkt(1, &ok)).0,
        Rx::Drop(DropReason::NcpClosed)
    );
    t.apply(Command::SetSessionIpv6 {
        key: (TUNNEL, SESSION),
        prefix: Some([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 9]),
    })
    .unwrap();
    let (rx, bytes) = run(&mut t, &mut c, pkt(2, &ok));
    assert!(
        matches!(
            rx,
            Rx::ToTun {
                proto: RxProto::Ipv6,
                ..
            }
        ),
        "{rx:?}"
    );
    assert_eq!(bytes, ok);
    assert_eq!(
        run(&mut t, &mut c, pkt(3, &bad)).0,
        Rx::Drop(DropReason::Spoofed)
    );
    assert_eq!(c.rx_packets_for(RxProto::Ipv6), 1);
}

/// A raw ESP packet as the protocol-50 socket reads it: an IPv4 header from `src`, then
/// the ESP packet.
fn raw_esp(src: Ipv4Addr, esp: &[u8]) -> Vec<u8> {
    let repr = ipv4::Repr {
        src_addr: src,
        dst_addr: Ipv4Addr::new(203, 0, 113, 1),
        next_header: IpProtocol::Esp,
        payload_len: esp.len(),
        hop_limit: 64,
    };
    let mut buf = vec![0; repr.buffer_len() + esp.len()];
    repr.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]));
    buf[ipv4::HEADER_LEN..].copy_from_slice(esp);
    buf
}

const RAW_PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);

fn raw_tables() -> Tables {
    let mut t = tables();
    t.apply(Command::RemoveSa { spi: SPI }).unwrap();
    let peer = SocketAddr::new(RAW_PEER.into(), 0);
    t.apply(Command::InstallSa {
        spi: SPI,
        sa: Box::new(InboundSa::new(
            transform(GCM, Esn::Disabled),
            TUNNEL,
            1,
            peer,
        )),
    })
    .unwrap();
    t
}

#[test]
fn raw_esp_comes_out_as_the_inner_ipv4() {
    let mut t = raw_tables();
    let mut c = Counters::new();
    let inner = inner_ipv4(SUBSCRIBER, b"raw esp");
    let mut pkt = raw_esp(RAW_PEER, &data_packet(1, TUNNEL, SESSION, &inner));
    let rx = esp_raw_input(&mut t, &mut c, now(), &mut pkt);
    assert!(
        matches!(
            rx,
            Rx::ToTun {
                proto: RxProto::Ipv4,
                session: (TUNNEL, SESSION),
                ..
            }
        ),
        "{rx:?}"
    );
    assert_eq!(rx.slice(&mut pkt).unwrap(), &inner[..]);
    assert_eq!(c.rx_packets_for(RxProto::EspRaw), 1);
    assert_eq!(c.rx_packets_for(RxProto::EspUdp), 0);
    // Same source: no move.
    assert_eq!(t.take_peer_moves().count(), 0);

    // IPv4 options (IHL 6) are skipped by IHL; trailing bytes past Total Length ignored.
    let esp = data_packet(2, TUNNEL, SESSION, &inner);
    let mut opt = raw_esp(RAW_PEER, &esp);
    opt.splice(20..20, [1, 1, 1, 1]); // four NOPs
    opt[0] = 0x46;
    let total = opt.len() as u16;
    opt[2..4].copy_from_slice(&total.to_be_bytes());
    opt.extend_from_slice(&[0xee; 3]);
    let rx = esp_raw_input(&mut t, &mut c, now(), &mut opt);
    assert_eq!(rx.slice(&mut opt).unwrap(), &inner[..]);

    // Through the batch entry point (no sources needed).
    let mut a = raw_esp(RAW_PEER, &data_packet(3, TUNNEL, SESSION, &inner));
    let mut packets: [&mut [u8]; 1] = [&mut a];
    let mut out = [Rx::Drop(DropReason::QueueFull)];
    assert_eq!(
        process_batch(
            &mut t,
            &mut c,
            now(),
            Input::EspRaw,
            &mut packets,
            &[],
            &mut out
        ),
        1
    );
    assert!(matches!(out[0], Rx::ToTun { .. }), "{:?}", out[0]);
}

#[test]
fn raw_esp_bad_ip_headers_are_dropped() {
    let inner = inner_ipv4(SUBSCRIBER, b"x");
    let good = raw_esp(RAW_PEER, &data_packet(1, TUNNEL, SESSION, &inner));
    // Every truncation: the IPv4 header or its Total Length no longer fits.
    for n in 0..good.len() {
        let mut t = raw_tables();
        let mut c = Counters::new();
        let mut pkt = good[..n].to_vec();
        assert_eq!(
            esp_raw_input(&mut t, &mut c, now(), &mut pkt),
            Rx::Drop(DropReason::BadHeader(Layer::Ipv4)),
            "len {n}"
        );
    }
    let mut t = raw_tables();
    let mut c = Counters::new();
    // IHL below 5; version 6; Total Length below the header; IHL (60) beyond Total
    // Length (40).
    let cases: [&[(usize, u8)]; 4] = [
        &[(0, 0x44)],
        &[(0, 0x65)],
        &[(2, 0), (3, 19)],
        &[(0, 0x4f), (2, 0), (3, 40)],
    ];
    for case in cases {
        let mut pkt = good.clone();
        for &(at, value) in case {
            pkt[at] = value;
        }
        assert_eq!(
            esp_raw_input(&mut t, &mut c, now(), &mut pkt),
            Rx::Drop(DropReason::BadHeader(Layer::Ipv4)),
            "{case:?}"
        );
    }
    // Not protocol 50.
    let mut pkt = good.clone();
    pkt[9] = 17;
    assert_eq!(
        esp_raw_input(&mut t, &mut c, now(), &mut pkt),
        Rx::Drop(DropReason::UnexpectedPayload)
    );
    // The original still goes through: nothing above touched the window.
    let mut pkt = good;
    assert!(matches!(
        esp_raw_input(&mut t, &mut c, now(), &mut pkt),
        Rx::ToTun { .. }
    ));
}

fn moved() -> SocketAddr {
    "203.0.113.50:61000".parse().unwrap()
}

#[test]
fn authenticated_newest_packet_moves_the_peer() {
    let mut t = tables();
    let mut c = Counters::new();
    let inner = inner_ipv4(SUBSCRIBER, b"m");
    let mut pkt = data_packet(1, TUNNEL, SESSION, &inner);
    assert!(matches!(
        esp_udp_input(&mut t, &mut c, now(), &mut pkt, PEER),
        Rx::ToTun { .. }
    ));
    assert_eq!(t.take_peer_moves().count(), 0);

    let mut pkt = data_packet(2, TUNNEL, SESSION, &inner);
    assert!(matches!(
        esp_udp_input(&mut t, &mut c, now(), &mut pkt, moved()),
        Rx::ToTun { .. }
    ));
    assert_eq!(t.sa(SPI).unwrap().peer, moved());
    assert_eq!(
        t.take_peer_moves().collect::<Vec<_>>(),
        [crate::dataplane::tables::PeerMove {
            spi: SPI,
            tunnel_id: TUNNEL,
            peer: moved()
        }]
    );
    assert_eq!(c.events_for(Event::PeerMove), 1);
    // Drained: nothing left; more packets from the new address move nothing.
    assert_eq!(t.take_peer_moves().count(), 0);
    let mut pkt = data_packet(3, TUNNEL, SESSION, &inner);
    esp_udp_input(&mut t, &mut c, now(), &mut pkt, moved());
    assert_eq!(t.take_peer_moves().count(), 0);
    // An authenticated packet whose payload is refused still moves it (it is the
    // SA's traffic): back to the old address.
    let tx = transform(GCM, Esn::Disabled);
    let mut pkt = seal(&tx, SPI, 4, &inner, 4);
    assert_eq!(
        esp_udp_input(&mut t, &mut c, now(), &mut pkt, PEER),
        Rx::Drop(DropReason::UnexpectedPayload)
    );
    assert_eq!(t.sa(SPI).unwrap().peer, PEER);
    assert_eq!(t.take_peer_moves().count(), 1);
}

#[test]
fn forged_replayed_or_older_packets_do_not_move_the_peer() {
    let mut t = tables();
    let mut c = Counters::new();
    let inner = inner_ipv4(SUBSCRIBER, b"m");
    let five = data_packet(5, TUNNEL, SESSION, &inner);
    let mut pkt = five.clone();
    assert!(matches!(
        esp_udp_input(&mut t, &mut c, now(), &mut pkt, PEER),
        Rx::ToTun { .. }
    ));

    // Forged: the ICV fails.
    let mut forged = data_packet(6, TUNNEL, SESSION, &inner);
    let last = forged.len() - 1;
    forged[last] ^= 0x80;
    assert_eq!(
        esp_udp_input(&mut t, &mut c, now(), &mut forged, moved()),
        Rx::Drop(DropReason::AuthFailed)
    );
    // Replayed: a genuine packet already received, from a new address.
    let mut replayed = five;
    assert_eq!(
        esp_udp_input(&mut t, &mut c, now(), &mut replayed, moved()),
        Rx::Drop(DropReason::Replay(ReplayError::Duplicate))
    );
    // Unknown SPI.
    let tx = transform(GCM, Esn::Disabled);
    let mut other = seal(&tx, SPI + 1, 7, &udp_1701(&l2tp_control(TUNNEL)), 17);
    assert_eq!(
        esp_udp_input(&mut t, &mut c, now(), &mut other, moved()),
        Rx::Drop(DropReason::NoSa)
    );
    // Genuine, inside the window, but older than the newest: delivered, no move.
    let mut older = data_packet(3, TUNNEL, SESSION, &inner);
    assert!(matches!(
        esp_udp_input(&mut t, &mut c, now(), &mut older, moved()),
        Rx::ToTun { .. }
    ));
    assert_eq!(t.sa(SPI).unwrap().peer, PEER);
    assert_eq!(t.take_peer_moves().count(), 0);
    assert_eq!(c.events_for(Event::PeerMove), 0);
}

#[test]
fn peer_move_list_is_bounded_and_retried() {
    let mut t = tables();
    let mut c = Counters::new();
    let inner = inner_ipv4(SUBSCRIBER, b"m");
    let addr = |i: usize| SocketAddr::new(PEER.ip(), 10_000 + i as u16);
    // The SA flips between addresses: each newest packet from a new one is a move.
    for i in 0..PEER_MOVES_CAPACITY {
        let mut pkt = data_packet(i as u64 + 1, TUNNEL, SESSION, &inner);
        esp_udp_input(&mut t, &mut c, now(), &mut pkt, addr(i));
    }
    assert_eq!(c.events_for(Event::PeerMove), PEER_MOVES_CAPACITY as u64);
    let full_at = PEER_MOVES_CAPACITY as u64 + 1;
    let mut pkt = data_packet(full_at, TUNNEL, SESSION, &inner);
    // Still delivered; the move is counted as lost and the SA keeps its peer.
    assert!(matches!(
        esp_udp_input(&mut t, &mut c, now(), &mut pkt, moved()),
        Rx::ToTun { .. }
    ));
    assert_eq!(c.events_for(Event::PeerMoveOverflow), 1);
    assert_eq!(t.sa(SPI).unwrap().peer, addr(PEER_MOVES_CAPACITY - 1));
    let moves: Vec<_> = t.take_peer_moves().collect();
    assert_eq!(moves.len(), PEER_MOVES_CAPACITY);
    assert_eq!(moves[3].peer, addr(3));
    // After the drain the next packet from the new address records the move.
    let mut pkt = data_packet(full_at + 1, TUNNEL, SESSION, &inner);
    esp_udp_input(&mut t, &mut c, now(), &mut pkt, moved());
    assert_eq!(t.sa(SPI).unwrap().peer, moved());
    assert_eq!(t.take_peer_moves().count(), 1);
}

#[test]
fn plain_l2tp_from_another_address_is_dropped() {
    let mut t = tables();
    let mut c = Counters::new();
    let inner = inner_ipv4(SUBSCRIBER, b"spoofed");
    let frame = ppp_frame(ppp::Protocol::Ipv4, false, false, &inner);
    for from in [
        SocketAddr::new(LAC.ip(), 1702),
        "203.0.113.5:1701".parse().unwrap(),
    ] {
        let mut pkt = l2tp_data(TUNNEL, SESSION, &frame);
        let rx = l2tp_udp_input(&mut t, &mut c, now(), &mut pkt, from);
        assert_eq!(rx, Rx::Drop(DropReason::WrongPeer), "{from}");
    }
    assert_eq!(c.drops_for(DropReason::WrongPeer), 2);
    let mut pkt = l2tp_data(TUNNEL, SESSION, &frame);
    assert!(matches!(
        l2tp_udp_input(&mut t, &mut c, now(), &mut pkt, LAC),
        Rx::ToTun { .. }
    ));
}

#[test]
fn upload_limit_polices_one_session_and_not_its_neighbour() {
    use crate::dataplane::ratelimit::{Rate, TokenBucket};
    use std::time::Duration;
    let t0 = std::time::Instant::now();
    let mut t = tables();
    let mut c = Counters::new();
    // A second, unlimited session in the same tunnel, on the same shard.
    let other_ip = Ipv4Addr::new(10, 9, 0, 3);
    t.apply(Command::InstallSession {
        key: (TUNNEL, SESSION + 1),
        session: Session::new(2, Some(other_ip), SessionFlags::default()),
    })
    .unwrap();
    // 8 Mbit/s: one byte per microsecond; a 6000-byte bucket.
    let rate = Rate::new(8_000_000, Some(6000));
    t.apply(Command::SetSessionLimit {
        key: (TUNNEL, SESSION),
        up: Some(Box::new(TokenBucket::new(rate, t0))),
    })
    .unwrap();
    assert_eq!(
        t.apply(Command::SetSessionLimit {
            key: (TUNNEL, 999),
            up: None
        }),
        Err(crate::dataplane::tables::TableError::NotFound)
    );
    let inner = inner_ipv4(SUBSCRIBER, &[0x5a; 980]);
    assert_eq!(inner.len(), 1000);
    let frame = |session, inner: &[u8]| {
        l2tp_data(
            TUNNEL,
            session,
            &ppp_frame(ppp::Protocol::Ipv4, false, false, inner),
        )
    };
    let send = |t: &mut Tables, c: &mut Counters, at, session, inner: &[u8]| {
        let mut pkt = frame(session, inner);
        l2tp_udp_input(t, c, at, &mut pkt, LAC)
    };
    for _ in 0..6 {
        assert!(matches!(
            send(&mut t, &mut c, t0, SESSION, &inner),
            Rx::ToTun { .. }
        ));
    }
    assert_eq!(
        send(&mut t, &mut c, t0, SESSION, &inner),
        Rx::Drop(DropReason::RateLimited)
    );
    assert_eq!(c.drops_for(DropReason::RateLimited), 1);
    let s = t.session((TUNNEL, SESSION)).unwrap();
    assert_eq!((s.rx_packets, s.rx_bytes), (6, 6000));
    assert_eq!(s.up.as_ref().unwrap().dropped(), (1, 1000));
    // The neighbour is not limited.
    let other = inner_ipv4(other_ip, &[0x5a; 980]);
    for _ in 0..100 {
        assert!(matches!(
            send(&mut t, &mut c, t0, SESSION + 1, &other),
            Rx::ToTun { .. }
        ));
    }
    // 999 µs refill 999 bytes; 1000 µs refill one packet.
    let at = t0 + Duration::from_micros(999);
    assert_eq!(
        send(&mut t, &mut c, at, SESSION, &inner),
        Rx::Drop(DropReason::RateLimited)
    );
    let at = t0 + Duration::from_micros(1000);
    assert!(matches!(
        send(&mut t, &mut c, at, SESSION, &inner),
        Rx::ToTun { .. }
    ));
    // Over ESP the policed packet still authenticated and moved the window.
    let mut pkt = data_packet(1, TUNNEL, SESSION, &inner);
    assert_eq!(
        esp_udp_input(&mut t, &mut c, at, &mut pkt, PEER),
        Rx::Drop(DropReason::RateLimited)
    );
    assert_eq!(t.sa(SPI).unwrap().replay.highest(), 1);
    // Lifted: everything passes.
    t.apply(Command::SetSessionLimit {
        key: (TUNNEL, SESSION),
        up: None,
    })
    .unwrap();
    for _ in 0..20 {
        assert!(matches!(
            send(&mut t, &mut c, at, SESSION, &inner),
            Rx::ToTun { .. }
        ));
    }
    assert_eq!(c.drops_for(DropReason::RateLimited), 3);
}

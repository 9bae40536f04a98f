//! The PPTP data nodes against a client built from the same wire and crypto code: a
//! client-role MPPE pair keyed from one MS-CHAPv2 NT-Response, GRE and PPP framing by
//! hand.

use std::time::{Duration, Instant};

use super::*;
use crate::crypto::ppp::mppe::{KeyStrength, Mode, Role, mschapv2_start_keys};
use crate::crypto::ppp::mschapv2::PasswordHash;
use crate::dataplane::tables::{Capacities, Command};

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const SUBSCRIBER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 5);
const CALL: u16 = 40;
const PEER_CALL: u16 = 7;

fn keys(mode: Mode) -> (Box<Mppe>, MppeEncryptor, MppeDecryptor) {
    let hash = PasswordHash::from_password("pw").unwrap();
    let nt = [0x5au8; 24];
    let s = KeyStrength::Bits128;
    let (ss, sr) = mschapv2_start_keys(&hash, &nt, s, Role::Server);
    let (cs, cr) = mschapv2_start_keys(&hash, &nt, s, Role::Client);
    let server = Box::new(Mppe {
        enc: MppeEncryptor::new(&ss, s, mode).unwrap(),
        dec: MppeDecryptor::new(&sr, s, mode).unwrap(),
    });
    (
        server,
        MppeEncryptor::new(&cs, s, mode).unwrap(),
        MppeDecryptor::new(&cr, s, mode).unwrap(),
    )
}

fn tables(required: bool) -> Tables {
    let mut t = Tables::new(Capacities {
        sas: 4,
        sessions: 4,
        tunnels: 4,
        routes: 4,
    });
    let call = Box::new(PptpCall::new(CLIENT, PEER_CALL, 64, 1, required));
    t.apply(Command::InstallCall {
        call_id: CALL,
        call,
    })
    .unwrap();
    t.apply(Command::SetCallIpv4 {
        call_id: CALL,
        ipv4: Some(SUBSCRIBER),
    })
    .unwrap();
    t
}

fn inner_ipv4(src: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let repr = ipv4::Repr {
        src_addr: src,
        dst_addr: Ipv4Addr::new(10, 77, 0, 1),
        next_header: IpProtocol::Udp,
        payload_len: payload.len(),
        hop_limit: 64,
    };
    let mut b = vec![0u8; ipv4::HEADER_LEN + payload.len()];
    repr.emit(&mut ipv4::Packet::new_unchecked(&mut b[..]));
    b[ipv4::HEADER_LEN..].copy_from_slice(payload);
    b
}

/// What the raw socket reads: IPv4 from `src` to us, GRE with `seq`/`ack`, `ppp`.
fn gre_packet(src: Ipv4Addr, call: u16, seq: Option<u32>, ack: Option<u32>, ppp: &[u8]) -> Vec<u8> {
    let repr = gre::Repr {
        protocol: gre::Protocol::Ppp,
        call_id: call,
        sequence_number: seq,
        acknowledgment_number: ack,
        payload: ppp,
    };
    let mut g = vec![0u8; repr.buffer_len()];
    repr.emit(&mut gre::Packet::new_unchecked(&mut g[..]));
    let ip = ipv4::Repr {
        src_addr: src,
        dst_addr: Ipv4Addr::new(192, 0, 2, 1),
        next_header: IpProtocol::Gre,
        payload_len: g.len(),
        hop_limit: 64,
    };
    let mut b = vec![0u8; ipv4::HEADER_LEN + g.len()];
    ip.emit(&mut ipv4::Packet::new_unchecked(&mut b[..]));
    b[ipv4::HEADER_LEN..].copy_from_slice(&g);
    b
}

/// A client's encrypted PPP frame, with the short headers (ACFC, PFC) Windows may use
/// when `compressed`.
fn mppe_frame(enc: &mut MppeEncryptor, ip: &[u8], compressed: bool) -> Vec<u8> {
    let mut m = vec![0u8; 2];
    if compressed {
        m.push(0x21);
    } else {
        m.extend_from_slice(&[0x00, 0x21]);
    }
    m.extend_from_slice(ip);
    enc.encrypt(&mut m).unwrap();
    let mut f = if compressed {
        vec![0xfd]
    } else {
        vec![0xff, 0x03, 0x00, 0xfd]
    };
    f.extend_from_slice(&m);
    f
}

fn tun_bytes<'a>(rx: &Rx, pkt: &'a mut [u8]) -> &'a [u8] {
    rx.slice(pkt).expect("a range")
}

#[test]
fn encrypted_receive_in_both_header_forms_and_transmit_round_trip() {
    let now = Instant::now();
    let mut t = tables(true);
    let mut c = Counters::new();
    let (server, mut cenc, mut cdec) = keys(Mode::Stateless);
    t.apply(Command::SetCallMppe {
        call_id: CALL,
        mppe: Some(server),
    })
    .unwrap();
    for (seq, compressed) in [(0u32, false), (1, true)] {
        let ip = inner_ipv4(SUBSCRIBER, b"hello through mppe");
        let mut pkt = gre_packet(
            CLIENT,
            CALL,
            Some(seq),
            None,
            &mppe_frame(&mut cenc, &ip, compressed),
        );
        let rx = gre_input(&mut t, &mut c, now, &mut pkt);
        assert!(
            matches!(
                rx,
                Rx::ToTun {
                    session: (0, CALL),
                    ..
                }
            ),
            "{rx:?}"
        );
        assert_eq!(tun_bytes(&rx, &mut pkt), &ip[..]);
    }
    assert_eq!(t.owed_ack_count(), 1, "listed once");

    // Transmit: the reply, encrypted, with the ack piggybacked.
    let reply = inner_ipv4(Ipv4Addr::new(10, 77, 0, 1), b"reply");
    let mut buf = vec![0u8; 64 + reply.len()];
    buf[64..].copy_from_slice(&reply);
    let call = t.call_mut(CALL).unwrap();
    let end = buf.len();
    let range = encap(call, &mut c, now, &mut buf, 64..end).unwrap();
    let g = gre::Repr::parse_bytes(&buf[range]).unwrap();
    assert_eq!(g.call_id, PEER_CALL);
    assert_eq!(g.sequence_number, Some(0));
    assert_eq!(g.acknowledgment_number, Some(1));
    let mut frame = g.payload.to_vec();
    assert_eq!(frame[..4], [0xff, 0x03, 0x00, 0xfd]);
    let plain = cdec.decrypt(&mut frame[4..]).unwrap();
    assert_eq!(plain[..2], [0x00, 0x21]);
    assert_eq!(&plain[2..], &reply[..]);
    // The ack was paid by the data packet: nothing is due later.
    let call = t.call_mut(CALL).unwrap();
    assert_eq!(call.seq.ack_due(now + Duration::from_secs(1)), None);
    assert_eq!(c.rx_packets_for(RxProto::Ipv4), 2);
    assert_eq!(c.tx_packets_for(TxProto::Ipv4), 1);
}

#[test]
fn required_mppe_drops_plain_ip_both_ways_and_optional_passes_it() {
    let now = Instant::now();
    let mut c = Counters::new();
    let ip = inner_ipv4(SUBSCRIBER, b"clear");
    let mut plain = vec![0xff, 0x03, 0x00, 0x21];
    plain.extend_from_slice(&ip);
    let mut t = tables(true);
    let mut pkt = gre_packet(CLIENT, CALL, Some(0), None, &plain);
    assert_eq!(
        gre_input(&mut t, &mut c, now, &mut pkt),
        Rx::Drop(DropReason::Unencrypted)
    );
    // MPPE frames before the keys: dropped too.
    let (_, mut cenc, _) = keys(Mode::Stateless);
    let mut pkt = gre_packet(
        CLIENT,
        CALL,
        Some(1),
        None,
        &mppe_frame(&mut cenc, &ip, false),
    );
    assert_eq!(
        gre_input(&mut t, &mut c, now, &mut pkt),
        Rx::Drop(DropReason::NcpClosed)
    );
    let mut buf = vec![0u8; 64 + ip.len()];
    buf[64..].copy_from_slice(&ip);
    let call = t.call_mut(CALL).unwrap();
    assert_eq!(
        encap(call, &mut c, now, &mut buf, 64..64 + ip.len()),
        Err(TxDrop::Unencrypted)
    );

    let mut t = tables(false);
    let mut pkt = gre_packet(CLIENT, CALL, Some(0), None, &plain);
    let rx = gre_input(&mut t, &mut c, now, &mut pkt);
    assert_eq!(tun_bytes(&rx, &mut pkt), &ip[..]);
    let call = t.call_mut(CALL).unwrap();
    let range = encap(call, &mut c, now, &mut buf, 64..64 + ip.len()).unwrap();
    let g = gre::Repr::parse_bytes(&buf[range]).unwrap();
    assert_eq!(g.payload[..4], [0xff, 0x03, 0x00, 0x21]);
}

#[test]
fn wrong_peer_stale_ack_only_spoofed_unknown_call_and_control_punts() {
    let now = Instant::now();
    let mut t = tables(false);
    let mut c = Counters::new();
    let ip = inner_ipv4(SUBSCRIBER, b"x");
    let mut plain = vec![0xff, 0x03, 0x00, 0x21];
    plain.extend_from_slice(&ip);
    let mut pkt = gre_packet(Ipv4Addr::new(192, 0, 2, 99), CALL, Some(0), None, &plain);
    assert_eq!(
        gre_input(&mut t, &mut c, now, &mut pkt),
        Rx::Drop(DropReason::WrongPeer)
    );
    let mut pkt = gre_packet(CLIENT, CALL + 1, Some(0), None, &plain);
    assert_eq!(
        gre_input(&mut t, &mut c, now, &mut pkt),
        Rx::Drop(DropReason::NoSession)
    );
    let mut pkt = gre_packet(CLIENT, CALL, Some(5), None, &plain);
    assert!(matches!(
        gre_input(&mut t, &mut c, now, &mut pkt),
        Rx::ToTun { .. }
    ));
    // A duplicate and an older one.
    for seq in [5, 3] {
        let mut pkt = gre_packet(CLIENT, CALL, Some(seq), None, &plain);
        assert_eq!(
            gre_input(&mut t, &mut c, now, &mut pkt),
            Rx::Drop(DropReason::GreStale)
        );
    }
    let mut pkt = gre_packet(CLIENT, CALL, None, Some(0), &[]);
    assert_eq!(gre_input(&mut t, &mut c, now, &mut pkt), Rx::Consumed);
    let mut spoofed = vec![0xff, 0x03, 0x00, 0x21];
    spoofed.extend_from_slice(&inner_ipv4(Ipv4Addr::new(10, 77, 0, 6), b"x"));
    let mut pkt = gre_packet(CLIENT, CALL, Some(6), None, &spoofed);
    assert_eq!(
        gre_input(&mut t, &mut c, now, &mut pkt),
        Rx::Drop(DropReason::Spoofed)
    );
    // LCP Echo-Request: punted with the call ID, PPP header included.
    let lcp = [0xff, 0x03, 0xc0, 0x21, 9, 1, 0, 8, 0, 0, 0, 0];
    let mut pkt = gre_packet(CLIENT, CALL, Some(7), None, &lcp);
    let rx = gre_input(&mut t, &mut c, now, &mut pkt);
    assert!(matches!(
        rx,
        Rx::Punt {
            kind: PuntKind::Lcp,
            tunnel_id: PPTP_ROUTE_TUNNEL,
            session_id: CALL,
            ..
        }
    ));
    assert_eq!(tun_bytes(&rx, &mut pkt), &lcp[..]);
    // Truncated and mangled input never panics.
    for cut in 0..pkt.len() {
        let mut p = pkt[..cut].to_vec();
        let _ = gre_input(&mut t, &mut c, now, &mut p);
    }
    // The ack-only packet is due after the delay, then no more.
    let call = t.call_mut(CALL).unwrap();
    let ack = call.seq.ack_due(now + Duration::from_secs(1)).unwrap();
    let mut buf = [0u8; 16];
    let n = ack_only(call, &mut c, ack, &mut buf);
    let g = gre::Repr::parse_bytes(&buf[..n]).unwrap();
    assert_eq!(
        (g.sequence_number, g.acknowledgment_number),
        (None, Some(7))
    );
    assert!(g.payload.is_empty());
}

#[test]
fn stateful_loss_asks_for_a_reset_once_then_resyncs_on_flushed() {
    let now = Instant::now();
    let mut t = tables(true);
    let mut c = Counters::new();
    let (server, mut cenc, _) = keys(Mode::Stateful);
    t.apply(Command::SetCallMppe {
        call_id: CALL,
        mppe: Some(server),
    })
    .unwrap();
    let ip = inner_ipv4(SUBSCRIBER, b"stateful");
    let mut seq = 0;
    let mut send = |t: &mut Tables, c: &mut Counters, frame: Vec<u8>| {
        let mut pkt = gre_packet(CLIENT, CALL, Some(seq), None, &frame);
        seq += 1;
        gre_input(t, c, now, &mut pkt)
    };
    let f = mppe_frame(&mut cenc, &ip, false);
    assert!(matches!(send(&mut t, &mut c, f), Rx::ToTun { .. }));
    let _lost = mppe_frame(&mut cenc, &ip, false);
    let f = mppe_frame(&mut cenc, &ip, false);
    assert!(matches!(
        send(&mut t, &mut c, f),
        Rx::Punt {
            kind: PuntKind::MppeReset,
            ..
        }
    ));
    let f = mppe_frame(&mut cenc, &ip, false);
    assert_eq!(send(&mut t, &mut c, f), Rx::Drop(DropReason::Mppe));
    // The control thread sent the Reset-Request; the client's next packet is FLUSHED.
    cenc.reset();
    let f = mppe_frame(&mut cenc, &ip, false);
    let rx = send(&mut t, &mut c, f);
    assert!(matches!(rx, Rx::ToTun { .. }), "{rx:?}");
}

#[test]
fn call_limits_police_both_ways_and_keep_mppe_and_gre_in_step() {
    use crate::dataplane::ratelimit::{Direction, Rate, TokenBucket};
    let t0 = Instant::now();
    let mut t = tables(true);
    let mut c = Counters::new();
    let (server, mut cenc, mut cdec) = keys(Mode::Stateful);
    t.apply(Command::SetCallMppe {
        call_id: CALL,
        mppe: Some(server),
    })
    .unwrap();
    // 8 Mbit/s (a byte per microsecond), 6000-byte buckets.
    let rate = Rate::new(8_000_000, Some(6000));
    for direction in [Direction::Up, Direction::Down] {
        t.apply(Command::SetCallLimit {
            call_id: CALL,
            direction,
            limit: Some(TokenBucket::new(rate, t0)),
        })
        .unwrap();
    }
    assert_eq!(
        t.apply(Command::SetCallLimit {
            call_id: CALL + 1,
            direction: Direction::Up,
            limit: None
        }),
        Err(crate::dataplane::tables::TableError::NotFound)
    );

    // Upload: six 1000-byte packets fit, the seventh is policed, and after a refill
    // the next one still decrypts (the stateful decryptor saw the policed one).
    let ip = inner_ipv4(SUBSCRIBER, &[7; 980]);
    assert_eq!(ip.len(), 1000);
    let mut up = |t: &mut Tables, c: &mut Counters, seq: u32, at| {
        let mut pkt = gre_packet(
            CLIENT,
            CALL,
            Some(seq),
            None,
            &mppe_frame(&mut cenc, &ip, false),
        );
        gre_input(t, c, at, &mut pkt)
    };
    for seq in 0..6 {
        assert!(matches!(up(&mut t, &mut c, seq, t0), Rx::ToTun { .. }));
    }
    assert_eq!(up(&mut t, &mut c, 6, t0), Rx::Drop(DropReason::RateLimited));
    let later = t0 + Duration::from_millis(1);
    assert!(matches!(up(&mut t, &mut c, 7, later), Rx::ToTun { .. }));
    assert_eq!(c.drops_for(DropReason::RateLimited), 1);

    // Download: the policed packet takes neither a GRE sequence number nor an MPPE
    // coherency count, so the client decrypts the next one in stateful mode.
    let reply = inner_ipv4(Ipv4Addr::new(10, 77, 0, 1), &[9; 980]);
    let down = |t: &mut Tables, c: &mut Counters, at| {
        let mut buf = vec![0u8; 64 + reply.len()];
        buf[64..].copy_from_slice(&reply);
        let call = t.call_mut(CALL).unwrap();
        let end = buf.len();
        encap(call, c, at, &mut buf, 64..end).map(|r| buf[r].to_vec())
    };
    let mut sent = Vec::new();
    for _ in 0..6 {
        sent.push(down(&mut t, &mut c, later).unwrap());
    }
    assert_eq!(down(&mut t, &mut c, later), Err(TxDrop::RateLimited));
    sent.push(down(&mut t, &mut c, later + Duration::from_millis(1)).unwrap());
    for (i, g) in sent.iter().enumerate() {
        let g = gre::Repr::parse_bytes(g).unwrap();
        assert_eq!(g.sequence_number, Some(i as u32));
        let mut frame = g.payload.to_vec();
        let plain = cdec.decrypt(&mut frame[4..]).unwrap();
        assert_eq!(&plain[2..], &reply[..]);
    }
    assert_eq!(c.tx_drops_for(TxDrop::RateLimited), 1);
    let call = t.call(CALL).unwrap();
    assert_eq!(call.down.as_ref().unwrap().dropped(), (1, 1000));
    assert_eq!(call.tx_packets, 7);
}

//! The steering programs in the real kernel: a reuseport group on 127.0.0.1 of
//! [control, shard 0, shard 1, ...] sockets, datagrams with chosen SPIs / L2TP headers,
//! and each must arrive on the socket `ShardMap` names. No root needed; if the kernel
//! refuses a program the test fails with its error.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use shardvpn::dataplane::steering::ShardMap;
use shardvpn::runtime::steering::{
    Program, attach_reuseport_cbpf, control_only_program, esp_in_udp_program, l2tp_program,
    reuseport_udp_socket,
};

const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Binds 1 + shards sockets to one ephemeral port (the first picks it) and attaches
/// `program` to the group.
fn group(shards: u32, program: &Program) -> (Vec<UdpSocket>, SocketAddr) {
    let first = reuseport_udp_socket(SocketAddr::from((LOCALHOST, 0))).expect("bind control");
    let addr = first.local_addr().unwrap();
    attach_reuseport_cbpf(&first, program).expect("SO_ATTACH_REUSEPORT_CBPF refused");
    let mut socks = vec![first];
    for k in 0..shards {
        let s = reuseport_udp_socket(addr).unwrap_or_else(|e| panic!("bind shard {k}: {e}"));
        socks.push(s);
    }
    for s in &socks {
        s.set_nonblocking(true).unwrap();
    }
    (socks, addr)
}

/// Sends each datagram, then collects what every socket received (bounded in time and
/// count) and checks datagram `i` arrived on socket `expected[i]` and nowhere else.
fn check(socks: &[UdpSocket], addr: SocketAddr, cases: &[(Vec<u8>, usize)]) {
    let client = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    // Tag each datagram with its case number in the last 2 bytes, so a datagram is
    // recognised even when several share a header.
    let mut sent = Vec::new();
    for (i, (dgram, _)) in cases.iter().enumerate() {
        let mut d = dgram.clone();
        d.extend_from_slice(&(i as u16).to_be_bytes());
        client.send_to(&d, addr).unwrap();
        sent.push(d);
    }
    let mut arrived: Vec<Option<usize>> = vec![None; cases.len()];
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 2048];
    let mut got = 0;
    while got < cases.len() && Instant::now() < deadline {
        let mut idle = true;
        for (index, s) in socks.iter().enumerate() {
            for _ in 0..64 {
                let Ok(n) = s.recv(&mut buf) else { break };
                idle = false;
                let d = &buf[..n];
                let i = sent
                    .iter()
                    .position(|x| x.as_slice() == d)
                    .unwrap_or_else(|| panic!("socket {index}: unexpected datagram {d:02x?}"));
                assert_eq!(arrived[i], None, "case {i} delivered twice");
                arrived[i] = Some(index);
                got += 1;
            }
        }
        if idle {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    for (i, (dgram, want)) in cases.iter().enumerate() {
        assert_eq!(
            arrived[i],
            Some(*want),
            "case {i} ({:02x?}...) arrived on {:?}, want socket {want}",
            &dgram[..dgram.len().min(8)],
            arrived[i]
        );
    }
}

#[test]
fn esp_in_udp_group_steers_by_spi() {
    for shards in [1u32, 2, 3, 4] {
        let map = ShardMap::new(shards).unwrap();
        let (socks, addr) = group(shards, &esp_in_udp_program(map));
        let mut cases = Vec::new();
        for spi in [
            1u32,
            2,
            3,
            4,
            5,
            0x1000_0001,
            0xc0de_0002,
            u32::MAX,
            77,
            1_000_003,
        ] {
            let mut d = spi.to_be_bytes().to_vec();
            d.extend_from_slice(&[0, 0, 0, 1]); // sequence number
            d.extend_from_slice(&[0xaa; 32]);
            cases.push((d, 1 + map.shard_of(spi) as usize));
        }
        // IKE behind the non-ESP marker; the 1-byte NAT keepalive is checked apart.
        let mut ike = vec![0, 0, 0, 0];
        ike.extend_from_slice(&[0x11; 28]);
        cases.push((ike, 0));
        check(&socks, addr, &cases);
        keepalive_goes_to_control(&socks, addr);
    }
}

/// The 1-byte NAT keepalive cannot carry a tag; send it alone and look for it.
fn keepalive_goes_to_control(socks: &[UdpSocket], addr: SocketAddr) {
    let client = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    client.send_to(&[0xff], addr).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 64];
    while Instant::now() < deadline {
        for (index, s) in socks.iter().enumerate() {
            if let Ok(n) = s.recv(&mut buf) {
                assert_eq!(&buf[..n], &[0xff]);
                assert_eq!(index, 0, "keepalive went to socket {index}");
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("keepalive never arrived");
}

fn l2tp(flags: u8, tunnel: u16, session: u16) -> Vec<u8> {
    let mut d = vec![flags, 0x02];
    if flags & 0x40 != 0 {
        d.extend_from_slice(&[0, 0]); // Length (not checked by the steering)
    }
    d.extend_from_slice(&tunnel.to_be_bytes());
    d.extend_from_slice(&session.to_be_bytes());
    d.extend_from_slice(&[0xff, 0x03, 0x00, 0x21, 0x45, 0, 0, 20]);
    d
}

#[test]
fn l2tp_group_steers_by_session_in_one_tunnel() {
    for shards in [2u32, 3] {
        let map = ShardMap::new(shards).unwrap();
        let (socks, addr) = group(shards, &l2tp_program(map));
        let mut cases = Vec::new();
        // Many sessions inside ONE tunnel from ONE client 4-tuple.
        for session in 1u16..=12 {
            let want = 1 + map.shard_of(u32::from(session)) as usize;
            cases.push((l2tp(0x00, 7, session), want));
            cases.push((l2tp(0x40, 7, session), want));
            cases.push((l2tp(0x02, 7, session), want)); // P bit does not matter
        }
        // Control messages (T, L, S set) and a ZLB go to control, whatever the session.
        cases.push((l2tp(0xc8, 7, 0), 0));
        cases.push((l2tp(0xc8, 7, 5), 0));
        // Version 3 goes to control.
        let mut v3 = l2tp(0x00, 7, 5);
        v3[1] = 0x03;
        cases.push((v3, 0));
        // Too short for a data header (3 bytes with the tag).
        cases.push((vec![0x00], 0));
        check(&socks, addr, &cases);
    }
}

#[test]
fn ike_group_sends_everything_to_control() {
    let (socks, addr) = group(3, &control_only_program());
    let cases: Vec<(Vec<u8>, usize)> = (1u32..=8)
        .map(|spi| (spi.to_be_bytes().repeat(8), 0))
        .collect();
    check(&socks, addr, &cases);
}

#![no_main]
//! Arbitrary bytes as a packet read from TUN, into the transmit node of a shard with one
//! tunnel and IPv4 / IPv6 routes installed. The first byte picks the encapsulation
//! (plain L2TP, ESP-in-UDP over IPv4 or IPv6, raw ESP), the suite, how much head- and
//! tailroom the buffer has, and whether the routed destination is written into the
//! packet (so the fuzzer gets past the route lookup without guessing the address).
//! Property: never panics; a Send range lies inside the buffer, and an ESP packet opens
//! with the peer's transform to UDP/L2TP/PPP around the IP packet's first bytes.
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use shardvpn::crypto::esp::{AesKeySize, AnyTransform, Esn, Integrity, Suite, Transform};
use shardvpn::dataplane::counters::Counters;
use shardvpn::dataplane::tables::{
    Capacities, Command, Encap, EspEncap, OutboundSa, Route, Tables, TunnelTx,
};
use shardvpn::dataplane::tx::{TX_HEADROOM, TX_TAILROOM, Tx, Via, tun_input};

const SPI: u32 = 0xc000_0001;
const SUBSCRIBER: [u8; 4] = [10, 9, 0, 2];
const PREFIX: [u8; 8] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 9];

fn suite(bits: u8) -> Suite {
    match bits % 3 {
        0 => Suite::AesGcm16 {
            key: AesKeySize::Aes128,
        },
        1 => Suite::AesCbc {
            key: AesKeySize::Aes256,
            integrity: Integrity::HmacSha512_256,
        },
        _ => Suite::TripleDesCbc {
            integrity: Integrity::HmacSha1_96,
        },
    }
}

fn transform(suite: Suite) -> AnyTransform {
    let enc = vec![7; suite.encryption_key_len()];
    let integ = vec![9; suite.integrity_key_len()];
    AnyTransform::with_iv_key(suite, Esn::Enabled, &enc, &integ, &mut [3; 16]).unwrap()
}

fn tables(encap_kind: u8, suite: Suite) -> (Tables, SocketAddr) {
    let mut t = Tables::new(Capacities {
        sas: 1,
        sessions: 1,
        tunnels: 1,
        routes: 1,
    });
    let (peer, local): (SocketAddr, IpAddr) = match encap_kind {
        2 => (
            "[2001:db8:200::7]:4500".parse().unwrap(),
            "2001:db8:100::1".parse().unwrap(),
        ),
        _ => (
            "198.51.100.7:4500".parse().unwrap(),
            IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)),
        ),
    };
    let esp = || EspEncap {
        sa: Arc::new(OutboundSa::new(SPI, transform(suite))),
        local,
        inner_src_port: 1701,
        inner_dst_port: 1701,
    };
    let encap = match encap_kind {
        0 => Encap::Plain,
        1 | 2 => Encap::EspUdp(esp()),
        _ => Encap::EspRaw(esp()),
    };
    t.apply(Command::InstallTunnel {
        id: 7,
        tunnel: TunnelTx {
            peer,
            peer_tunnel_id: 0x1234,
            encap,
        },
    })
    .unwrap();
    let route = Route {
        tunnel: 7,
        peer_session_id: 0x5678,
        session: (7, 42),
    };
    t.apply(Command::InstallRoute {
        ipv4: Ipv4Addr::from(SUBSCRIBER),
        route,
    })
    .unwrap();
    t.apply(Command::InstallRoute6 {
        prefix: PREFIX,
        route,
    })
    .unwrap();
    (t, peer)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, packet)) = data.split_first() else {
        return;
    };
    let encap_kind = mode & 3;
    let suite = suite((mode >> 2) & 3);
    let headroom = [TX_HEADROOM, 41][usize::from(mode >> 4 & 1)];
    let tailroom = [TX_TAILROOM, 15][usize::from(mode >> 5 & 1)];
    let route_it = mode & 0x40 != 0;
    let (t, peer) = tables(encap_kind, suite);
    let mut c = Counters::new();

    let mut ip = packet.to_vec();
    if route_it {
        match ip.first().map(|b| b >> 4) {
            Some(6) if ip.len() >= 32 => ip[24..32].copy_from_slice(&PREFIX),
            _ if ip.len() >= 20 => ip[16..20].copy_from_slice(&SUBSCRIBER),
            _ => {}
        }
    }
    let mut buf = vec![0u8; headroom + ip.len() + tailroom];
    buf[headroom..headroom + ip.len()].copy_from_slice(&ip);
    let range = headroom..headroom + ip.len();
    let tx = tun_input(&t, &mut c, std::time::Instant::now(), &mut buf, range);
    let Tx::Send { range, to, via } = tx else {
        return;
    };
    let out = buf
        .get(range.clone())
        .expect("Send range inside the buffer");
    match via {
        Via::Udp1701 => {
            assert_eq!(to, peer);
            assert_eq!(
                out[..10],
                [0, 2, 0x12, 0x34, 0x56, 0x78, 0xff, 3, 0, out[9]]
            );
            assert!(ip.starts_with(&out[10..]));
        }
        Via::Udp4500 | Via::RawEsp => {
            let mut esp = out.to_vec();
            let client = transform(suite);
            let payload = client
                .open(1, &mut esp)
                .expect("opens with the peer's keys");
            let inner = &esp[payload];
            assert_eq!(inner[..4], [0x06, 0xa5, 0x06, 0xa5]);
            assert_eq!(
                usize::from(u16::from_be_bytes([inner[4], inner[5]])),
                inner.len()
            );
            assert_eq!(inner[8..16], [0, 2, 0x12, 0x34, 0x56, 0x78, 0xff, 3]);
            assert!(ip.starts_with(&inner[18..]));
        }
    }
});

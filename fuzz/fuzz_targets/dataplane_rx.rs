#![no_main]
//! Arbitrary bytes into the receive nodes with one installed SA and session. The first
//! byte picks the node (UDP/4500, UDP/1701 or raw ESP) and, for 4500, whether the rest
//! is sealed with the SA's keys first, optionally behind a UDP/1701 header (so the
//! fuzzer reaches L2TP/PPP/IP behind the ICV); bit 7 picks the source address (the SA's
//! peer or another one, which exercises peer moves).
//! Property: never panics; a ToTun/Punt range lies inside the buffer; at most one peer
//! move per packet.
use core::net::{Ipv4Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use shardvpn::crypto::esp::{AesKeySize, AnyTransform, Esn, Suite, Transform};
use shardvpn::dataplane::counters::Counters;
use shardvpn::dataplane::rx::{Rx, esp_raw_input, esp_udp_input, l2tp_udp_input};
use shardvpn::dataplane::tables::{Capacities, Command, InboundSa, Session, SessionFlags, Tables};

const SPI: u32 = 0x0100_0001;
const KEY: [u8; 20] = [7; 20];
const PEER: SocketAddr =
    SocketAddr::new(core::net::IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)), 4500);
const SUITE: Suite = Suite::AesGcm16 {
    key: AesKeySize::Aes128,
};

fn tables() -> Tables {
    let mut t = Tables::new(Capacities {
        sas: 2,
        sessions: 2,
        tunnels: 1,
        routes: 1,
    });
    let tr = AnyTransform::new(SUITE, Esn::Enabled, &KEY, &[]).unwrap();
    t.apply(Command::InstallSa {
        spi: SPI,
        sa: Box::new(InboundSa::new(tr, 7, 1, PEER)),
    })
    .unwrap();
    t.apply(Command::InstallSession {
        key: (7, 42),
        session: Session::new(1, Some(Ipv4Addr::new(10, 0, 0, 2)), SessionFlags::default()),
    })
    .unwrap();
    t
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut t = tables();
    let mut c = Counters::new();
    let from = if mode & 0x80 == 0 {
        PEER
    } else {
        "203.0.113.9:1024".parse().unwrap()
    };
    let mut buf;
    let rx = match mode % 5 {
        0 => {
            buf = rest.to_vec();
            esp_udp_input(&mut t, &mut c, std::time::Instant::now(), &mut buf, from)
        }
        4 => {
            buf = rest.to_vec();
            esp_raw_input(&mut t, &mut c, std::time::Instant::now(), &mut buf)
        }
        1 => {
            buf = rest.to_vec();
            l2tp_udp_input(&mut t, &mut c, std::time::Instant::now(), &mut buf, from)
        }
        m => {
            // Mode 2: the fuzzer picks Next Header and the whole payload. Mode 3: a
            // valid UDP header to 1701 is prepended, so the input starts at L2TP.
            let (nh, payload, udp) = match (m, rest.split_first()) {
                (2, Some((&nh, payload))) => (nh, payload, false),
                (2, None) => return,
                _ => (17, rest, true),
            };
            let mut plain = Vec::with_capacity(8 + payload.len());
            if udp {
                let len = u16::try_from(8 + payload.len()).unwrap_or(u16::MAX);
                plain.extend_from_slice(&1701u16.to_be_bytes());
                plain.extend_from_slice(&1701u16.to_be_bytes());
                plain.extend_from_slice(&len.to_be_bytes());
                plain.extend_from_slice(&[0, 0]);
            }
            plain.extend_from_slice(payload);
            let payload = &plain[..];
            let tx = AnyTransform::new(SUITE, Esn::Enabled, &KEY, &[]).unwrap();
            buf = vec![0; tx.packet_len(payload.len())];
            buf[0..4].copy_from_slice(&SPI.to_be_bytes());
            buf[4..8].copy_from_slice(&1u32.to_be_bytes());
            let at = tx.payload_offset();
            buf[at..at + payload.len()].copy_from_slice(payload);
            tx.encode_trailer(&mut buf, payload.len(), nh).unwrap();
            tx.seal(1, &mut buf).unwrap();
            esp_udp_input(&mut t, &mut c, std::time::Instant::now(), &mut buf, from)
        }
    };
    if !matches!(rx, Rx::Drop(_)) {
        assert!(rx.slice(&mut buf).is_some());
    }
    assert!(t.take_peer_moves().count() <= 1);
});

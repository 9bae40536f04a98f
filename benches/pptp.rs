//! PPTP data path per packet on the owning shard: the transmit node (IP -> MPPE ->
//! PPP -> GRE, in place) and the receive node (IPv4 + GRE -> PPP -> MPPE -> IP), for
//! stateless MPPE (a key change per packet, RFC 3078 §7.1: what Windows negotiates)
//! and stateful MPPE (a key change every 256 packets), 128-bit keys, at 64 and 1400
//! octets of IP.
//!
//! Run: `cargo bench --bench pptp`. Nothing here allocates per packet; the numbers are
//! one core's.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput};
use shardvpn::crypto::ppp::mppe::{
    KeyStrength, Mode, MppeDecryptor, MppeEncryptor, Role, mschapv2_start_keys,
};
use shardvpn::crypto::ppp::mschapv2::PasswordHash;
use shardvpn::dataplane::counters::Counters;
use shardvpn::dataplane::pptp::{Mppe, PptpCall, encap, gre_input};
use shardvpn::dataplane::rx::Rx;
use shardvpn::dataplane::tables::{Capacities, Command, Tables};
use shardvpn::wire::{gre, ipv4};

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const SUB: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 5);
const CALL: u16 = 40;

fn tables(mode: Mode) -> (Tables, MppeEncryptor) {
    let hash = PasswordHash::from_password("bench").unwrap();
    let s = KeyStrength::Bits128;
    let (ss, sr) = mschapv2_start_keys(&hash, &[9; 24], s, Role::Server);
    let (cs, _) = mschapv2_start_keys(&hash, &[9; 24], s, Role::Client);
    let mut t = Tables::new(Capacities {
        sas: 1,
        sessions: 4,
        tunnels: 1,
        routes: 1,
    });
    t.apply(Command::InstallCall {
        call_id: CALL,
        call: Box::new(PptpCall::new(CLIENT, 7, 64, 1, true)),
    })
    .unwrap();
    t.apply(Command::SetCallIpv4 {
        call_id: CALL,
        ipv4: Some(SUB),
    })
    .unwrap();
    t.apply(Command::SetCallMppe {
        call_id: CALL,
        mppe: Some(Box::new(Mppe {
            enc: MppeEncryptor::new(&ss, s, mode).unwrap(),
            dec: MppeDecryptor::new(&sr, s, mode).unwrap(),
        })),
    })
    .unwrap();
    (t, MppeEncryptor::new(&cs, s, mode).unwrap())
}

fn ip_packet(src: Ipv4Addr, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    ipv4::Repr {
        src_addr: src,
        dst_addr: Ipv4Addr::new(10, 77, 0, 1),
        next_header: ipv4::Protocol::Udp,
        payload_len: len - ipv4::HEADER_LEN,
        hop_limit: 64,
    }
    .emit(&mut ipv4::Packet::new_unchecked(&mut b[..]));
    b
}

/// `n` client packets (IPv4 + GRE + encrypted PPP), consecutive sequence numbers.
fn client_packets(enc: &mut MppeEncryptor, len: usize, n: usize) -> Vec<Vec<u8>> {
    let ip = ip_packet(SUB, len);
    (0..n)
        .map(|i| {
            let mut m = vec![0u8, 0, 0x00, 0x21];
            m.extend_from_slice(&ip);
            enc.encrypt(&mut m).unwrap();
            let mut ppp = vec![0xff, 0x03, 0x00, 0xfd];
            ppp.extend_from_slice(&m);
            let g = gre::Repr {
                protocol: gre::Protocol::Ppp,
                call_id: CALL,
                sequence_number: Some(i as u32),
                acknowledgment_number: None,
                payload: &ppp,
            };
            let mut out = vec![0u8; ipv4::HEADER_LEN + g.buffer_len()];
            ipv4::Repr {
                src_addr: CLIENT,
                dst_addr: Ipv4Addr::new(192, 0, 2, 1),
                next_header: ipv4::Protocol::Gre,
                payload_len: g.buffer_len(),
                hop_limit: 64,
            }
            .emit(&mut ipv4::Packet::new_unchecked(&mut out[..]));
            g.emit(&mut gre::Packet::new_unchecked(
                &mut out[ipv4::HEADER_LEN..],
            ));
            out
        })
        .collect()
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    for (name, mode) in [("stateless", Mode::Stateless), ("stateful", Mode::Stateful)] {
        let mut g = c.benchmark_group(format!("pptp_{name}"));
        for len in [64usize, 1400] {
            g.throughput(Throughput::Bytes(len as u64));
            g.bench_with_input(BenchmarkId::new("tx", len), &len, |b, &len| {
                let (mut t, _) = tables(mode);
                let mut counters = Counters::new();
                let ip = ip_packet(Ipv4Addr::new(10, 77, 0, 1), len);
                let mut buf = vec![0u8; 64 + len];
                let now = Instant::now();
                b.iter(|| {
                    buf[64..].copy_from_slice(&ip);
                    let call = t.call_mut(CALL).unwrap();
                    let end = buf.len();
                    black_box(encap(call, &mut counters, now, &mut buf, 64..end).unwrap());
                });
            });
            g.bench_with_input(BenchmarkId::new("rx", len), &len, |b, &len| {
                // Fresh state per batch of 4096 packets: the receiver's key schedule
                // must follow the sender's packet by packet.
                b.iter_custom(|iters| {
                    let mut total = std::time::Duration::ZERO;
                    let mut left = iters as usize;
                    while left > 0 {
                        let n = left.min(4096);
                        let (mut t, mut enc) = tables(mode);
                        let mut packets = client_packets(&mut enc, len, n);
                        let mut counters = Counters::new();
                        let now = Instant::now();
                        let start = Instant::now();
                        for p in &mut packets {
                            let rx = gre_input(&mut t, &mut counters, now, p);
                            assert!(matches!(rx, Rx::ToTun { .. }), "{rx:?}");
                            black_box(rx);
                        }
                        total += start.elapsed();
                        left -= n;
                    }
                    total
                });
            });
        }
        g.finish();
    }
    c.final_summary();
}

//! The raw ESP and GRE socket filters in the real kernel: in a fresh network namespace
//! (lo up), one raw IPv4 socket per shard, each with its shard's filter; packets with
//! chosen SPIs / PPTP call IDs sent to 127.0.0.1 must reach exactly the socket of the
//! shard that `ShardMap` names. Needs root (raw sockets, namespaces); without it the
//! test says so and returns.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use shardvpn::dataplane::steering::ShardMap;
use shardvpn::runtime::raw::RawIpv4Socket;
use shardvpn::runtime::steering::{Program, attach_filter, raw_esp_filter, raw_gre_filter};
use shardvpn::wire::ipv4;

mod runtime_netns;
use runtime_netns::{Namespace, ip, is_root};

const IPPROTO_ESP: u8 = 50;
const IPPROTO_GRE: u8 = 47;

/// For 2 and 3 shards: opens one filtered socket per shard, sends one packet per ID,
/// and checks each shard received exactly the IDs it owns. `packet` builds the
/// protocol header for an ID, `id_of` reads the ID back from a received payload.
fn check_filters(
    protocol: u8,
    filter: fn(ShardMap, u32) -> Option<Program>,
    ids: &[u32],
    packet: fn(u32) -> Vec<u8>,
    id_of: fn(&[u8]) -> u32,
) {
    for shards in [2u32, 3] {
        let map = ShardMap::new(shards).unwrap();
        let socks: Vec<RawIpv4Socket> = (0..shards)
            .map(|k| {
                let s = RawIpv4Socket::open(protocol).expect("raw socket");
                attach_filter(&s, &filter(map, k).unwrap()).expect("SO_ATTACH_FILTER refused");
                s
            })
            .collect();
        let sender = RawIpv4Socket::open(protocol).unwrap();
        for &id in ids {
            sender.send_to(&packet(id), Ipv4Addr::LOCALHOST).unwrap();
        }
        let mut received: Vec<Vec<u32>> = vec![Vec::new(); shards as usize];
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 2048];
        while received.iter().map(Vec::len).sum::<usize>() < ids.len() && Instant::now() < deadline
        {
            let mut idle = true;
            for (k, s) in socks.iter().enumerate() {
                for _ in 0..64 {
                    let Ok(n) = s.recv(&mut buf) else { break };
                    idle = false;
                    let pkt = ipv4::Packet::new_checked(&buf[..n]).expect("IPv4 header");
                    received[k].push(id_of(pkt.payload()));
                }
            }
            if idle {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        for (k, got) in received.iter().enumerate() {
            let mut want: Vec<u32> = ids
                .iter()
                .copied()
                .filter(|&id| map.shard_of(id) == k as u32)
                .collect();
            let mut got = got.clone();
            want.sort_unstable();
            got.sort_unstable();
            assert_eq!(got, want, "protocol {protocol}, {shards} shards, shard {k}");
        }
    }
}

fn esp_packet(spi: u32) -> Vec<u8> {
    let mut esp = spi.to_be_bytes().to_vec();
    esp.extend_from_slice(&1u32.to_be_bytes()); // sequence number
    esp.extend_from_slice(&[0x5a; 24]);
    esp
}

fn esp_spi(payload: &[u8]) -> u32 {
    let spi = payload.get(..4).expect("ESP shorter than an SPI");
    u32::from_be_bytes([spi[0], spi[1], spi[2], spi[3]])
}

fn gre_packet(call_id: u32) -> Vec<u8> {
    // Enhanced GRE (RFC 2637 §4.1): K and S set, version 1, PPP, payload length 4,
    // call ID, sequence number, then a PPP frame.
    let mut gre = vec![0x30, 0x81, 0x88, 0x0b, 0x00, 0x04];
    gre.extend_from_slice(&(call_id as u16).to_be_bytes());
    gre.extend_from_slice(&[0, 0, 0, 1, 0xff, 0x03, 0x00, 0x21]);
    gre
}

fn gre_call_id(payload: &[u8]) -> u32 {
    let id = payload.get(6..8).expect("GRE shorter than its call ID");
    u32::from(u16::from_be_bytes([id[0], id[1]]))
}

#[test]
fn each_shard_raw_socket_sees_only_its_ids() {
    if !is_root() {
        println!("runtime_raw: skipped, needs root (CAP_NET_RAW, CAP_SYS_ADMIN)");
        return;
    }
    let ns = Namespace::create("raw");
    ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
    ns.run(|| {
        let spis = [
            1u32,
            2,
            3,
            4,
            5,
            6,
            0x8000_0001,
            0xdead_beef,
            u32::MAX,
            4096,
        ];
        check_filters(IPPROTO_ESP, raw_esp_filter, &spis, esp_packet, esp_spi);
        let call_ids = [1u32, 2, 3, 4, 5, 6, 7, 100, 65534, 65535];
        check_filters(
            IPPROTO_GRE,
            raw_gre_filter,
            &call_ids,
            gre_packet,
            gre_call_id,
        );
    });
}

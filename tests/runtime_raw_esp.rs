//! The raw ESP socket filter in the real kernel: in a fresh network namespace (lo up),
//! one raw IPv4 ESP socket per shard, each with `raw_esp_filter(map, k)`; ESP packets
//! with chosen SPIs sent to 127.0.0.1 must reach exactly the socket of the shard that
//! `ShardMap` names. Needs root (raw sockets, namespaces); without it the test says so
//! and returns.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use shardvpn::dataplane::steering::ShardMap;
use shardvpn::runtime::raw::RawIpv4Socket;
use shardvpn::runtime::steering::{attach_filter, raw_esp_filter};
use shardvpn::wire::ipv4;

mod runtime_netns;
use runtime_netns::{Namespace, ip, is_root};

const IPPROTO_ESP: u8 = 50;

#[test]
fn each_shard_socket_sees_only_its_spis() {
    if !is_root() {
        println!("runtime_raw_esp: skipped, needs root (CAP_NET_RAW, CAP_SYS_ADMIN)");
        return;
    }
    let ns = Namespace::create("esp");
    ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
    ns.run(|| {
        for shards in [2u32, 3] {
            let map = ShardMap::new(shards).unwrap();
            let socks: Vec<RawIpv4Socket> = (0..shards)
                .map(|k| {
                    let s = RawIpv4Socket::open(IPPROTO_ESP).expect("raw ESP socket");
                    attach_filter(&s, &raw_esp_filter(map, k).unwrap())
                        .expect("SO_ATTACH_FILTER refused");
                    s
                })
                .collect();
            let sender = RawIpv4Socket::open(IPPROTO_ESP).unwrap();
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
            for spi in spis {
                let mut esp = spi.to_be_bytes().to_vec();
                esp.extend_from_slice(&1u32.to_be_bytes());
                esp.extend_from_slice(&[0x5a; 24]);
                sender.send_to(&esp, Ipv4Addr::LOCALHOST).unwrap();
            }
            let mut received: Vec<Vec<u32>> = vec![Vec::new(); shards as usize];
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut buf = [0u8; 2048];
            while received.iter().map(Vec::len).sum::<usize>() < spis.len()
                && Instant::now() < deadline
            {
                let mut idle = true;
                for (k, s) in socks.iter().enumerate() {
                    for _ in 0..64 {
                        let Ok(n) = s.recv(&mut buf) else { break };
                        idle = false;
                        let pkt = ipv4::Packet::new_checked(&buf[..n]).expect("IPv4 header");
                        let payload = pkt.payload();
                        assert!(payload.len() >= 4, "shard {k}: short ESP {payload:02x?}");
                        let spi =
                            u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                        received[k].push(spi);
                    }
                }
                if idle {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            for (k, got) in received.iter().enumerate() {
                let mut want: Vec<u32> = spis
                    .iter()
                    .copied()
                    .filter(|&s| map.shard_of(s) == k as u32)
                    .collect();
                let mut got = got.clone();
                want.sort_unstable();
                got.sort_unstable();
                assert_eq!(got, want, "shards {shards}, shard {k}");
            }
        }
    });
}

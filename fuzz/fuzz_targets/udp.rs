#![no_main]
//! UDP header: checked view, checksum verification over IPv4 and IPv6 pseudo-headers,
//! and a parse/emit round trip.

use core::net::{Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use shardvpn::wire::udp::{IpPair, Packet, Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    let _ = packet.payload();
    let ips = [
        IpPair::V4(Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2)),
        IpPair::V6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST),
    ];
    for ip in ips {
        let Ok(repr) = Repr::parse(&packet, ip) else {
            continue;
        };
        let mut out = vec![0u8; repr.buffer_len()];
        out[8..].copy_from_slice(packet.payload());
        repr.emit(&mut Packet::new_unchecked(&mut out[..]), ip);
        let reparsed = Packet::new_checked(&out[..]).expect("emitted datagram must check");
        assert_eq!(Repr::parse(&reparsed, ip), Ok(repr));
    }
});

#![no_main]
//! IPv4 header: checked view, Repr parse, and a parse/emit round trip.

use libfuzzer_sys::fuzz_target;
use shardvpn::wire::ipv4::{Packet, Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    let _ = (packet.payload(), packet.src_addr(), packet.dst_addr());
    let Ok(repr) = Repr::parse(&packet) else {
        return;
    };
    let mut out = vec![0u8; repr.buffer_len() + repr.payload_len];
    let mut emitted = Packet::new_unchecked(&mut out[..]);
    repr.emit(&mut emitted);
    let reparsed = Packet::new_checked(&out[..]).expect("emitted header must check");
    assert_eq!(Repr::parse(&reparsed), Ok(repr));
});

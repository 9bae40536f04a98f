#![no_main]
//! ICMPv4 Echo: checked view, echo parse with checksum, and an emit round trip.

use libfuzzer_sys::fuzz_target;
use shardvpn::wire::icmpv4::{EchoRepr, Packet};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    let _ = (packet.message_type(), packet.code(), packet.data());
    let Ok(repr) = EchoRepr::parse(&packet) else {
        return;
    };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut out);
    // Not byte for byte: 0x0000 and 0xFFFF are the same one's-complement checksum.
    let reparsed = Packet::new_checked(&out[..]).expect("emitted echo must check");
    assert_eq!(EchoRepr::parse(&reparsed), Ok(repr));
});

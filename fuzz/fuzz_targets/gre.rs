//! Enhanced GRE v1 parser (RFC 2637 §4.1).
#![no_main]
use libfuzzer_sys::fuzz_target;
use shardvpn::wire::gre::{Packet, Repr};

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = Packet::new_checked(data) {
        // Getters are safe on a checked packet.
        let _ = (
            packet.strict_source_route(),
            packet.recursion_control(),
            packet.flags(),
        );
        if let Ok(repr) = Repr::parse(&packet) {
            let mut buf = vec![0; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            let again = Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap();
            assert_eq!(again, repr);
        }
    }
});

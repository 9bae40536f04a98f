//! L2TP header and AVP chain (RFC 2661 §3.1, §4.1): checked view, Repr round trip,
//! and every AVP of a control message through the raw and typed layers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shardvpn::wire::l2tp::{Packet, Repr, avp};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    // The data-plane accessors must not panic on a checked packet.
    let _ = (
        packet.tunnel_id(),
        packet.session_id(),
        packet.payload().len(),
    );
    let repr = Repr::parse(&packet).expect("a checked packet parses");

    let mut buf = vec![0; repr.buffer_len()];
    repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
    let again = Packet::new_checked(&buf[..]).expect("emitted packet is valid");
    assert_eq!(Repr::parse(&again).expect("emitted packet parses"), repr);

    if repr.control {
        let _ = packet.message_type();
        // The Random Vector pairing may reject a hidden AVP; it must not panic.
        for (avp, _random_vector) in packet.avps().with_random_vector().flatten() {
            if avp.hidden {
                let _ = avp::hidden_subformat_value(avp.value);
            }
        }
        let avps: Vec<_> = packet.avps().filter_map(Result::ok).collect();
        for avp in &avps {
            let _ = avp.typed();
        }
        // Re-emit the AVPs that parsed: the chain must read back identically.
        if packet.avps().all(|a| a.is_ok()) {
            let mut chain = vec![0; avp::chain_len(&avps)];
            avp::emit_chain(&avps, &mut chain);
            let back: Vec<_> = avp::AvpIter::new(&chain)
                .collect::<Result<_, _>>()
                .expect("emitted chain parses");
            assert_eq!(back, avps);
            assert_eq!(chain, repr.payload);
        }
    }
});

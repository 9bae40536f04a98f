//! ISAKMP: header, payload chain (strict and padded), every typed payload, and round
//! trips: a parsed payload re-emitted parses to the same Repr, and a clear message
//! whose payloads all parse is rebuilt by `MessageBuilder` into an equal message.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shardvpn::wire::isakmp::{
    DataAttribute, List, Message, MessageBuilder, Packet, Payload, PayloadPacket, PayloadType,
    Payloads, Trailing,
};

fn payload_round_trip(p: Payload<'_>) {
    let mut buf = vec![0u8; p.buffer_len()];
    p.emit(PayloadType::None, &mut buf);
    let packet = PayloadPacket::new_checked(&buf[..]).expect("emitted payload header");
    let q = Payload::parse(p.payload_type(), packet.body()).expect("emitted payload parses");
    assert_eq!(p, q);
}

fuzz_target!(|data: &[u8]| {
    // The message: header view, then both chain modes over the body.
    if let Ok(packet) = Packet::new_checked(data) {
        let _ = packet.trailer();
        if let Ok(m) = Message::parse(&packet) {
            for mode in [Trailing::Strict, Trailing::PaddingAllowed] {
                for p in Payloads::new(m.header.next_payload, m.body, mode)
                    .typed()
                    .flatten()
                {
                    payload_round_trip(p);
                }
            }
            if let Ok(chain) = m.payloads() {
                if let Ok(typed) = chain.typed().collect::<Result<Vec<_>, _>>() {
                    let builder = MessageBuilder {
                        header: m.header,
                        payloads: &typed,
                    };
                    let mut buf = vec![0u8; builder.buffer_len()];
                    builder.emit(&mut buf);
                    let again = Message::parse_bytes(&buf).expect("rebuilt message parses");
                    assert_eq!(again.header, m.header);
                    let typed_again = again
                        .payloads()
                        .expect("clear")
                        .typed()
                        .collect::<Result<Vec<_>, _>>()
                        .expect("rebuilt payloads parse");
                    assert_eq!(typed_again, typed);
                }
            }
        }
    }

    // Each typed payload body on its own: the first byte picks the payload type.
    if let Some((&t, body)) = data.split_first() {
        if let Ok(p) = Payload::parse(PayloadType::from(t), body) {
            payload_round_trip(p);
        }
    }

    // A bare attribute list (a transform's attributes).
    if let Ok(list) = List::<DataAttribute<'_>>::parse(data) {
        let items: Vec<_> = list.iter().map(|a| a.expect("validated")).collect();
        let built = List::Items(&items);
        assert_eq!(built.buffer_len(), data.len());
        let mut buf = vec![0u8; built.buffer_len()];
        built.emit(&mut buf);
        assert_eq!(
            List::<DataAttribute<'_>>::parse(&buf).expect("re-parses"),
            list
        );
        for a in &items {
            let _ = a.value_u64();
        }
    }
});

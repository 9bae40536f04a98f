//! RADIUS: packet header, attribute chain, typed attributes and vendor sub-attributes.
//! Whatever parses must re-emit and re-parse to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shardvpn::wire::radius::{
    Attribute, AttributeType, Packet, PacketBuilder, Repr, VendorAttribute, VendorSpecificRepr,
};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::new_checked(data) else {
        return;
    };
    // Never panic, whatever the chain holds; ranges lie inside the packet.
    let range = packet.message_authenticator_range();
    for found in [
        packet.attribute_value_range(AttributeType::UserPassword),
        packet.vendor_value_range(311, 16),
        packet.vendor_value_range(data.first().map_or(0, |&b| u32::from(b)), 1),
        range.clone(),
    ] {
        if let Ok(Some(r)) = found {
            assert!(r.start >= 22 && r.end <= packet.packet_data().len());
        }
    }
    let Ok(repr) = Repr::parse(&packet) else {
        return;
    };
    assert_eq!(repr.message_authenticator_range(), range);

    // Packet round trip.
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Packet::new_unchecked(&mut out[..]))
        .expect("a parsed packet re-emits");
    assert_eq!(&out[..], packet.packet_data());
    let again = Repr::parse(&Packet::new_checked(&out[..]).expect("re-emitted packet is valid"))
        .expect("re-emitted packet parses");
    assert_eq!(again, repr);

    // Typed attributes: those that parse re-emit through the builder to the same value.
    let mut buf = vec![0u8; 4096];
    let mut builder = PacketBuilder::new(&mut buf, repr.code, repr.identifier, &repr.authenticator)
        .expect("4096 octets hold a header");
    let mut typed = Vec::new();
    for raw in repr.attributes.iter() {
        let raw = raw.expect("validated chain");
        if let Ok(attribute) = Attribute::parse(&raw) {
            assert_eq!(attribute.buffer_len(), raw.buffer_len());
            builder
                .push(&attribute)
                .expect("a parsed attribute re-emits");
            typed.push(attribute);
        }
        // Vendor sub-attributes, typed one by one.
        if let Ok(vsa) = VendorSpecificRepr::parse(raw.value) {
            for sub in vsa.sub_attributes() {
                let Ok(sub) = sub else { break };
                if let Ok(v) = VendorAttribute::parse(vsa.vendor_id, &sub) {
                    let mut sub_out = vec![0u8; 256];
                    let n = v
                        .emit_sub(&mut sub_out)
                        .expect("a parsed sub-attribute re-emits");
                    let mut sub_iter =
                        shardvpn::wire::radius::vendor::VendorAttributeIter::new(&sub_out[..n]);
                    let back = sub_iter.next().expect("one").expect("valid");
                    assert_eq!(VendorAttribute::parse(vsa.vendor_id, &back), Ok(v));
                }
            }
        }
    }
    let range = builder.message_authenticator_range();
    let bytes = builder.finish();
    let rebuilt = Packet::new_checked(&bytes[..]).expect("built packet is valid");
    assert_eq!(rebuilt.message_authenticator_range(), Ok(range));
    let rebuilt = Repr::parse(&rebuilt).expect("built packet parses");
    let back: Vec<_> = rebuilt
        .attributes
        .iter()
        .map(|a| Attribute::parse(&a.expect("valid")).expect("typed"))
        .collect();
    assert_eq!(back, typed);
});

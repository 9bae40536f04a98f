//! Typed L2TP AVP values (RFC 2661 §4.4): the first 4 octets choose vendor and
//! attribute type, the rest is the value; what parses must emit and parse back equal.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shardvpn::wire::l2tp::avp::{self, AvpValue};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let vendor_id = u16::from_be_bytes([data[0], data[1]]) & 1; // mostly IETF
    // Fold the type into 0..=63 so the fuzzer covers every RFC 2661 attribute.
    let attribute_type = u16::from_be_bytes([data[2], data[3]]) % 64;
    let value = &data[4..];
    let Ok(typed) = AvpValue::parse(vendor_id, attribute_type, value) else {
        return;
    };
    assert_eq!(typed.vendor_id(), vendor_id);
    assert_eq!(typed.attribute_type(), attribute_type);

    let mut out = vec![0; typed.buffer_len()];
    typed.emit(&mut out);
    assert_eq!(AvpValue::parse(vendor_id, attribute_type, &out), Ok(typed));

    // The Hidden AVP Subformat around the value reads back the value.
    let mut hidden = vec![0; avp::hidden_subformat_buffer_len(value.len(), 3)];
    avp::hidden_subformat_emit(value, 3, &mut hidden);
    assert_eq!(avp::hidden_subformat_value(&hidden), Ok(value));

    // As a whole AVP, when it fits the 10-bit Length.
    if typed.buffer_len() <= avp::MAX_VALUE_LEN {
        let mut whole = vec![0; typed.avp_len()];
        typed.emit_avp(true, &mut whole);
        let repr = avp::AvpIter::new(&whole).next().unwrap().unwrap();
        assert_eq!(repr.typed(), Ok(typed));
    }
});

//! UDP/4500 datagram classifier (RFC 3948 §2).
#![no_main]
use libfuzzer_sys::fuzz_target;
use shardvpn::wire::esp::EncapRepr;

fuzz_target!(|data: &[u8]| {
    if let Ok(repr) = EncapRepr::parse(data) {
        let mut buf = vec![0; repr.buffer_len()];
        repr.emit(&mut buf);
        assert_eq!(&buf[..], data);
        assert_eq!(EncapRepr::parse(&buf), Ok(repr));
    }
});

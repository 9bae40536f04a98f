//! PPTP control message parser and stream deframer (RFC 2637 §2).
#![no_main]
use libfuzzer_sys::fuzz_target;
use shardvpn::wire::pptp::{MAX_MESSAGE_LEN, Packet, Repr, frame_len};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(len)) = frame_len(data) {
        assert!(len <= data.len());
        assert!(Packet::new_checked(&data[..len]).is_ok());
    }
    if let Ok(packet) = Packet::new_checked(data) {
        let _ = (packet.reserved0(), packet.body());
        if let Ok(repr) = Repr::parse(&packet) {
            let mut buf = vec![0; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            if buf.len() <= MAX_MESSAGE_LEN {
                assert_eq!(frame_len(&buf), Ok(Some(buf.len())));
            }
            let again = Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap();
            assert_eq!(again, repr);
        }
    }
});

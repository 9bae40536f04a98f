#![no_main]
use libfuzzer_sys::fuzz_target;
use shardvpn::wire::ppp::{
    CodeRejectRepr, ControlPacket, ControlRepr, Frame, FrameRepr, MagicDataRepr,
    ProtocolRejectRepr, TerminateRepr, TimeRemainingRepr,
};

fuzz_target!(|data: &[u8]| {
    // The frame header.
    if let Ok(frame) = Frame::new_checked(data) {
        if let Ok(repr) = FrameRepr::parse(&frame) {
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut buf);
            let again = FrameRepr::parse(&Frame::new_checked(&buf[..]).unwrap()).unwrap();
            assert_eq!(repr, again);
        }
    }
    // The RFC 1661 §5 control packet and its fixed data layouts.
    if let Ok(packet) = ControlPacket::new_checked(data) {
        if let Ok(repr) = ControlRepr::parse(&packet) {
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut ControlPacket::new_unchecked(&mut buf[..]));
            let again = ControlRepr::parse(&ControlPacket::new_checked(&buf[..]).unwrap()).unwrap();
            assert_eq!(repr, again);

            if let Ok(r) = ProtocolRejectRepr::parse(repr.data) {
                let mut b = vec![0u8; r.buffer_len()];
                r.emit(&mut b);
                assert_eq!(ProtocolRejectRepr::parse(&b), Ok(r));
            }
            if let Ok(r) = MagicDataRepr::parse(repr.data) {
                let mut b = vec![0u8; r.buffer_len()];
                r.emit(&mut b);
                assert_eq!(MagicDataRepr::parse(&b), Ok(r));
            }
            if let Ok(r) = CodeRejectRepr::parse(repr.data) {
                let _ = (r.rejected_code(), r.rejected_identifier());
                let mut b = vec![0u8; r.buffer_len()];
                r.emit(&mut b);
                assert_eq!(CodeRejectRepr::parse(&b), Ok(r));
            }
            if let Ok(r) = TerminateRepr::parse(repr.data) {
                let mut b = vec![0u8; r.buffer_len()];
                r.emit(&mut b);
                assert_eq!(TerminateRepr::parse(&b), Ok(r));
            }
            if let Ok(r) = TimeRemainingRepr::parse(repr.data) {
                let mut b = vec![0u8; r.buffer_len()];
                r.emit(&mut b);
                assert_eq!(TimeRemainingRepr::parse(&b), Ok(r));
            }
        }
    }
});

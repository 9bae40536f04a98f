#![no_main]
use libfuzzer_sys::fuzz_target;
use shardvpn::wire::mschapv2::{
    ChangePassword, ChangePasswordRepr, FailureMessage, ResponseRepr, ResponseValue,
    SuccessMessage, parse_challenge,
};

fuzz_target!(|data: &[u8]| {
    // The first octet picks the structure, the rest is its input.
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => {
            if let Ok(r) = ResponseValue::new_checked(input).and_then(|v| ResponseRepr::parse(&v)) {
                let mut buf = vec![0u8; r.buffer_len()];
                r.emit(&mut ResponseValue::new_unchecked(&mut buf[..]));
                let again = ResponseRepr::parse(&ResponseValue::new_checked(&buf[..]).unwrap());
                assert_eq!(again, Ok(r));
            }
        }
        1 => {
            if let Ok(s) = SuccessMessage::parse(input) {
                let mut buf = vec![0u8; s.buffer_len()];
                s.emit(&mut buf);
                assert_eq!(SuccessMessage::parse(&buf), Ok(s));
            }
        }
        2 => {
            if let Ok(f) = FailureMessage::parse(input) {
                let mut buf = vec![0u8; f.buffer_len()];
                f.emit(&mut buf);
                assert_eq!(FailureMessage::parse(&buf), Ok(f));
            }
        }
        3 => {
            if let Ok(c) =
                ChangePassword::new_checked(input).and_then(|p| ChangePasswordRepr::parse(&p))
            {
                let mut buf = vec![0u8; c.buffer_len()];
                c.emit(&mut ChangePassword::new_unchecked(&mut buf[..]));
                let again =
                    ChangePasswordRepr::parse(&ChangePassword::new_checked(&buf[..]).unwrap());
                assert_eq!(again, Ok(c));
            }
        }
        _ => {
            let _ = parse_challenge(input);
        }
    }
});

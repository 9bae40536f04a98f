#![no_main]
use libfuzzer_sys::fuzz_target;
use shardvpn::wire::ppp_options::{
    CcpOption, IpcpOption, Ipv6cpOption, LcpOption, OptionRepr, Options, PppOption, emit_options,
    options_len,
};

/// A typed option re-emits exactly the option it was parsed from.
fn check_emit(typed: &impl PppOption, option: &OptionRepr<'_>) {
    let mut buf = vec![0u8; typed.buffer_len()];
    typed.emit(&mut buf);
    assert_eq!(buf[0], option.option_type);
    assert_eq!(usize::from(buf[1]), buf.len());
    assert_eq!(&buf[2..], option.data);
}

fuzz_target!(|data: &[u8]| {
    let mut options = Vec::new();
    for item in Options::new(data) {
        match item {
            Ok(o) => options.push(o),
            Err(_) => return,
        }
    }
    // The raw list round-trips byte for byte.
    let mut buf = vec![0u8; options_len(&options)];
    assert_eq!(emit_options(&options, &mut buf), data.len());
    assert_eq!(buf, data);
    let again: Vec<_> = Options::new(&buf).map(Result::unwrap).collect();
    assert_eq!(again, options);

    for o in &options {
        if let Ok(t) = LcpOption::parse(o) {
            check_emit(&t, o);
        }
        if let Ok(t) = IpcpOption::parse(o) {
            check_emit(&t, o);
        }
        if let Ok(t) = Ipv6cpOption::parse(o) {
            check_emit(&t, o);
        }
        if let Ok(t) = CcpOption::parse(o) {
            check_emit(&t, o);
        }
    }
});

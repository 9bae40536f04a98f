//! ESP header and ESP trailer parsers (RFC 4303 §2).
#![no_main]
use libfuzzer_sys::fuzz_target;
use shardvpn::wire::esp::{Alignment, Packet, Repr, Trailer};

fuzz_target!(|data: &[u8]| {
    // Header: parse, emit, parse again.
    if let Ok(packet) = Packet::new_checked(data)
        && let Ok(repr) = Repr::parse(&packet)
    {
        let mut buf = vec![0; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..], data);
        let again = Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap();
        assert_eq!(again, repr);
    }

    // Trailer on decrypted plaintext: a verified trailer re-emits to the same bytes.
    if let Ok((trailer, range)) = Trailer::parse(data) {
        assert_eq!(range.start, 0);
        let mut buf = data[range.clone()].to_vec();
        buf.resize(range.end + trailer.buffer_len(), 0);
        trailer.emit(&mut buf[range.end..]);
        assert_eq!(&buf[..], data);
    }

    // Pad length computation for any payload length and alignment.
    if let Some((&first, _)) = data.split_first() {
        let align = [
            Alignment::Byte,
            Alignment::Word,
            Alignment::Block8,
            Alignment::Block16,
        ][usize::from(first & 3)];
        let len = data.len() * 37;
        let t = Trailer::for_payload(len, shardvpn::wire::esp::NextHeader::Udp, align);
        assert!(usize::from(t.pad_length) < align.bytes());
        assert_eq!((len + t.buffer_len()) % align.bytes(), 0);
    }
});

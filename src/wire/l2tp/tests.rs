//! Header tests against byte arrays written from the §3.1 layout.

use super::*;
use crate::wire::test_util::{assert_truncations_do_not_panic, assert_truncations_rejected};

/// SCCRQ-shaped control message: T L S, Ver 2, Length 20, tunnel 0, session 0,
/// Ns 0, Nr 0, one AVP: Message Type (M, Length 8, vendor 0, type 0) = SCCRQ (1).
static CONTROL_BYTES: [u8; 20] = [
    0xc8, 0x02, 0x00, 0x14, // T L S, Ver 2, Length 20
    0x00, 0x00, 0x00, 0x00, // Tunnel ID 0, Session ID 0
    0x00, 0x00, 0x00, 0x00, // Ns 0, Nr 0
    0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // Message Type SCCRQ
];

/// ZLB acknowledgement: tunnel 1, Ns 5, Nr 3, no AVPs.
static ZLB_BYTES: [u8; 12] = [
    0xc8, 0x02, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x03,
];

/// PPP LCP Echo-Request, id 1, magic 0 (RFC 1661 §5.8), in address/control form.
static LCP_ECHO: [u8; 12] = [
    0xff, 0x03, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00,
];

/// Data message with every optional field: L S O P, Ver 2, Length 28, tunnel 0x1234,
/// session 0x5678, Ns 5, Nr 7, Offset Size 2 + 2 pad octets, then LCP_ECHO.
static DATA_BYTES: [u8; 28] = [
    0x4b, 0x02, 0x00, 0x1c, // L S O P, Ver 2, Length 28
    0x12, 0x34, 0x56, 0x78, // Tunnel ID, Session ID
    0x00, 0x05, 0x00, 0x07, // Ns, Nr
    0x00, 0x02, 0x00, 0x00, // Offset Size 2, pad
    0xff, 0x03, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00,
];

/// The common data-plane form: no optional field at all.
static MIN_DATA_BYTES: [u8; 18] = [
    0x00, 0x02, 0x12, 0x34, 0x56, 0x78, // Ver 2, tunnel, session
    0xff, 0x03, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00,
];

fn control_repr() -> Repr<'static> {
    Repr::control(0, 0, 0, 0, &CONTROL_BYTES[12..])
}

fn data_repr() -> Repr<'static> {
    Repr {
        control: false,
        with_length: true,
        tunnel_id: 0x1234,
        session_id: 0x5678,
        sequence: Some(Sequence { ns: 5, nr: 7 }),
        offset: Some(2),
        priority: true,
        payload: &LCP_ECHO,
    }
}

#[test]
fn deconstruct() {
    let p = Packet::new_checked(&CONTROL_BYTES[..]).unwrap();
    assert!(p.is_control() && p.has_length() && p.has_sequence());
    assert!(!p.has_offset() && !p.priority());
    assert_eq!(p.version(), 2);
    assert_eq!(p.length(), Some(20));
    assert_eq!((p.tunnel_id(), p.session_id()), (0, 0));
    assert_eq!((p.ns(), p.nr()), (Some(0), Some(0)));
    assert_eq!(p.offset_size(), None);
    assert_eq!(p.header_len(), 12);
    assert_eq!(p.payload(), &CONTROL_BYTES[12..]);
    assert_eq!(p.message_type(), Ok(Some(MessageType::Sccrq)));
    assert!(!p.is_zlb());

    let p = Packet::new_checked(&DATA_BYTES[..]).unwrap();
    assert!(!p.is_control() && p.has_length() && p.has_sequence());
    assert!(p.has_offset() && p.priority());
    assert_eq!(p.length(), Some(28));
    assert_eq!((p.tunnel_id(), p.session_id()), (0x1234, 0x5678));
    assert_eq!((p.ns(), p.nr()), (Some(5), Some(7)));
    assert_eq!(p.offset_size(), Some(2));
    assert_eq!(p.header_len(), 16);
    assert_eq!(p.payload(), &LCP_ECHO);

    let p = Packet::new_checked(&MIN_DATA_BYTES[..]).unwrap();
    assert!(!p.is_control() && !p.has_length() && !p.has_sequence());
    assert_eq!(
        (p.length(), p.ns(), p.nr(), p.offset_size()),
        (None, None, None, None)
    );
    assert_eq!((p.tunnel_id(), p.session_id()), (0x1234, 0x5678));
    assert_eq!(p.payload(), &LCP_ECHO);

    let p = Packet::new_checked(&ZLB_BYTES[..]).unwrap();
    assert!(p.is_zlb());
    assert_eq!((p.tunnel_id(), p.ns(), p.nr()), (1, Some(5), Some(3)));
    assert_eq!(p.message_type(), Ok(None));
    assert_eq!(p.avps().count(), 0);
}

#[test]
fn construct() {
    let mut buf = [0xa5u8; 28];
    let mut p = Packet::new_unchecked(&mut buf[..]);
    p.set_flags(0x4b02);
    p.set_length(28);
    p.set_tunnel_id(0x1234);
    p.set_session_id(0x5678);
    p.set_ns(5);
    p.set_nr(7);
    p.set_offset_size(2);
    p.payload_mut().copy_from_slice(&LCP_ECHO);
    assert_eq!(buf, DATA_BYTES);
}

#[test]
fn check_len() {
    assert_eq!(
        Packet::new_checked(&[][..]),
        Err(Error::Truncated(Layer::L2tp))
    );
    assert_eq!(
        Packet::new_checked(&CONTROL_BYTES[..11]),
        Err(Error::Truncated(Layer::L2tp))
    );
    // Length 20 over a 19-octet buffer.
    assert_eq!(
        Packet::new_checked(&CONTROL_BYTES[..19]),
        Err(Error::Truncated(Layer::L2tp))
    );
    // Length smaller than the header.
    let mut b = CONTROL_BYTES;
    b[3] = 11;
    assert_eq!(
        Packet::new_checked(&b[..]),
        Err(Error::BadLength(Layer::L2tp))
    );
    // Length ending inside the offset pad.
    let mut b = DATA_BYTES;
    b[3] = 15;
    assert_eq!(
        Packet::new_checked(&b[..]),
        Err(Error::BadLength(Layer::L2tp))
    );
    // Offset pad beyond the buffer (no Length field).
    let b = [0x02, 0x02, 0, 1, 0, 2, 0x00, 0x09, 0, 0];
    assert_eq!(
        Packet::new_checked(&b[..]),
        Err(Error::Truncated(Layer::L2tp))
    );
    // Trailing octets after Length are not part of the message.
    let mut long = [0u8; 24];
    long[..20].copy_from_slice(&CONTROL_BYTES);
    long[20..].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    let p = Packet::new_checked(&long[..]).unwrap();
    assert_eq!(p.payload(), &CONTROL_BYTES[12..]);
    assert_eq!(Repr::parse(&p).unwrap(), control_repr());
}

#[test]
fn version_and_control_rules() {
    let with_flags = |flags: u16| {
        let mut b = CONTROL_BYTES;
        b[..2].copy_from_slice(&flags.to_be_bytes());
        Packet::new_checked(&b[..]).map(|_| ())
    };
    // L2F (1), L2TPv3 (3) and anything else are discarded (§3.1).
    for ver in [0u16, 1, 3, 15] {
        assert_eq!(
            with_flags(0xc800 | ver),
            Err(Error::BadVersion(Layer::L2tp))
        );
    }
    assert_eq!(
        with_flags(0x8802),
        Err(Error::Malformed(
            Layer::L2tp,
            "control message without L bit"
        ))
    );
    assert_eq!(
        with_flags(0xc002),
        Err(Error::Malformed(
            Layer::L2tp,
            "control message without S bit"
        ))
    );
    assert_eq!(
        with_flags(0xca02),
        Err(Error::Malformed(Layer::L2tp, "control message with O bit"))
    );
    // Reserved x bits are ignored on input.
    assert_eq!(with_flags(0xc802 | 0x3000 | 0x0400 | 0x00f0), Ok(()));
    // P on a control message has no layout effect; reported, not rejected.
    assert_eq!(with_flags(0xc902), Ok(()));
}

#[test]
fn parse() {
    let p = Packet::new_unchecked(&CONTROL_BYTES[..]);
    assert_eq!(Repr::parse(&p), Ok(control_repr()));
    let p = Packet::new_unchecked(&DATA_BYTES[..]);
    assert_eq!(Repr::parse(&p), Ok(data_repr()));
    let p = Packet::new_unchecked(&MIN_DATA_BYTES[..]);
    assert_eq!(Repr::parse(&p), Ok(Repr::data(0x1234, 0x5678, &LCP_ECHO)));
    let p = Packet::new_unchecked(&ZLB_BYTES[..]);
    assert_eq!(Repr::parse(&p), Ok(Repr::control(1, 0, 5, 3, &[])));
}

#[test]
fn emit() {
    let check = |repr: Repr<'_>, expected: &[u8]| {
        let mut buf = vec![0xa5u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, expected);
    };
    check(control_repr(), &CONTROL_BYTES);
    check(data_repr(), &DATA_BYTES);
    check(Repr::data(0x1234, 0x5678, &LCP_ECHO), &MIN_DATA_BYTES);
    check(Repr::control(1, 0, 5, 3, &[]), &ZLB_BYTES);
}

#[test]
fn emit_control_from_avps() {
    let avps = [AvpRepr::ietf(true, AttributeType::MessageType, &[0, 1])];
    assert_eq!(control_buffer_len(&avps), 20);
    let mut buf = [0xa5u8; 20];
    let n = emit_control(0, 0, Sequence { ns: 0, nr: 0 }, &avps, &mut buf);
    assert_eq!((n, buf), (20, CONTROL_BYTES));
    let mut buf = [0xa5u8; 12];
    let n = emit_control(1, 0, Sequence { ns: 5, nr: 3 }, &[], &mut buf);
    assert_eq!((n, buf), (12, ZLB_BYTES));
}

#[test]
fn buffer_len() {
    assert_eq!(control_repr().buffer_len(), 20);
    assert_eq!(data_repr().header_len(), 16);
    assert_eq!(data_repr().buffer_len(), 28);
    assert_eq!(Repr::data(1, 2, &LCP_ECHO).buffer_len(), 18);
    assert_eq!(Repr::control(1, 0, 5, 3, &[]).buffer_len(), 12);
}

#[test]
fn message_type_rules() {
    // First AVP is Host Name, not Message Type.
    let b = [
        0xc8, 0x02, 0x00, 0x13, 0, 0, 0, 0, 0, 0, 0, 0, //
        0x80, 0x07, 0x00, 0x00, 0x00, 0x07, b'x',
    ];
    let p = Packet::new_checked(&b[..]).unwrap();
    assert_eq!(
        p.message_type(),
        Err(Error::Malformed(
            Layer::L2tpAvp,
            "first AVP is not Message Type"
        ))
    );
    // Hidden Message Type.
    let mut b = CONTROL_BYTES;
    b[12] = 0xc0;
    let p = Packet::new_checked(&b[..]).unwrap();
    assert_eq!(
        p.message_type(),
        Err(Error::Malformed(
            Layer::L2tpAvp,
            "Message Type AVP is hidden"
        ))
    );
    // Truncated first AVP.
    let mut b = CONTROL_BYTES;
    b[13] = 9;
    let p = Packet::new_checked(&b[..]).unwrap();
    assert_eq!(p.message_type(), Err(Error::Truncated(Layer::L2tpAvp)));
}

#[test]
fn truncations() {
    // A Length field makes every strict prefix invalid.
    fn parse(b: &[u8]) -> Result<Repr<'_>> {
        Repr::parse(&Packet::new_checked(b)?)
    }
    // The helpers want an owned result: keep the emitted length.
    let parse_len = |b: &[u8]| parse(b).map(|r| r.buffer_len());
    assert_truncations_rejected(&CONTROL_BYTES, parse_len);
    assert_truncations_rejected(&ZLB_BYTES, parse_len);
    assert_truncations_rejected(&DATA_BYTES, parse_len);
    // Without Length, any prefix past the header is a (shorter) valid data message.
    assert_truncations_do_not_panic(&MIN_DATA_BYTES, parse_len);
    assert!(parse(&MIN_DATA_BYTES[..5]).is_err());
    assert_eq!(parse(&MIN_DATA_BYTES[..6]).map(|r| r.payload.len()), Ok(0));
}

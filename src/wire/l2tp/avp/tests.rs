//! AVP tests against byte arrays written from the §4.1 and §4.4 layouts.

use super::*;
use crate::wire::test_util::{assert_truncations_do_not_panic, assert_truncations_rejected};

/// Message Type = SCCRQ: M, Length 8, vendor 0, type 0, value 1.
static MESSAGE_TYPE_AVP: [u8; 8] = [0x80, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01];
/// Host Name "lac": M, Length 9, type 7.
static HOST_NAME_AVP: [u8; 9] = [0x80, 0x09, 0x00, 0x00, 0x00, 0x07, b'l', b'a', b'c'];
/// A vendor AVP: not mandatory, Length 10, vendor 311, type 1, value deadbeef.
static VENDOR_AVP: [u8; 10] = [0x00, 0x0a, 0x01, 0x37, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef];
/// Random Vector: M, Length 10, type 36, value 01020304.
static RANDOM_VECTOR_AVP: [u8; 10] = [0x80, 0x0a, 0x00, 0x00, 0x00, 0x24, 1, 2, 3, 4];
/// Hidden Assigned Tunnel ID: M H, Length 14, type 9, 8 hidden octets.
static HIDDEN_AVP: [u8; 14] = [
    0xc0, 0x0e, 0x00, 0x00, 0x00, 0x09, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
];

fn chain() -> Vec<u8> {
    [
        &MESSAGE_TYPE_AVP[..],
        &HOST_NAME_AVP,
        &VENDOR_AVP,
        &RANDOM_VECTOR_AVP,
        &HIDDEN_AVP,
    ]
    .concat()
}

fn reprs() -> [AvpRepr<'static>; 5] {
    [
        AvpRepr::ietf(true, AttributeType::MessageType, &MESSAGE_TYPE_AVP[6..]),
        AvpRepr::ietf(true, AttributeType::HostName, b"lac"),
        AvpRepr {
            mandatory: false,
            hidden: false,
            reserved: 0,
            vendor_id: 311,
            attribute_type: 1,
            value: &VENDOR_AVP[6..],
        },
        AvpRepr::ietf(true, AttributeType::RandomVector, &[1, 2, 3, 4]),
        AvpRepr {
            hidden: true,
            ..AvpRepr::ietf(true, AttributeType::AssignedTunnelId, &HIDDEN_AVP[6..])
        },
    ]
}

#[test]
fn deconstruct() {
    let p = Packet::new_checked(&HIDDEN_AVP[..]).unwrap();
    assert!(p.mandatory() && p.hidden());
    assert_eq!(p.reserved(), 0);
    assert_eq!(p.length(), 14);
    assert_eq!(p.vendor_id(), 0);
    assert_eq!(p.attribute_type(), 9);
    assert_eq!(p.value(), &HIDDEN_AVP[6..]);

    let p = Packet::new_checked(&VENDOR_AVP[..]).unwrap();
    assert!(!p.mandatory() && !p.hidden());
    assert_eq!((p.vendor_id(), p.attribute_type()), (311, 1));
    assert_eq!(p.value(), &[0xde, 0xad, 0xbe, 0xef]);
}

#[test]
fn construct() {
    let mut buf = [0xa5u8; 14];
    let mut p = Packet::new_unchecked(&mut buf[..]);
    p.set_header(true, true, 0, 14);
    p.set_vendor_id(0);
    p.set_attribute_type(9);
    p.value_mut().copy_from_slice(&HIDDEN_AVP[6..]);
    assert_eq!(buf, HIDDEN_AVP);
}

#[test]
fn check_len() {
    assert_eq!(
        Packet::new_checked(&HIDDEN_AVP[..5]),
        Err(Error::Truncated(Layer::L2tpAvp))
    );
    assert_eq!(
        Packet::new_checked(&HIDDEN_AVP[..13]),
        Err(Error::Truncated(Layer::L2tpAvp))
    );
    // Length 5 is below the header.
    let b = [0x80, 0x05, 0, 0, 0, 0, 0];
    assert_eq!(
        Packet::new_checked(&b[..]),
        Err(Error::BadLength(Layer::L2tpAvp))
    );
    // Length 6: an empty value is fine at this layer.
    let b = [0x80, 0x06, 0, 0, 0, 39];
    assert_eq!(Packet::new_checked(&b[..]).map(|p| p.value().len()), Ok(0));
}

#[test]
fn parse() {
    for (bytes, repr) in [
        &MESSAGE_TYPE_AVP[..],
        &HOST_NAME_AVP,
        &VENDOR_AVP,
        &RANDOM_VECTOR_AVP,
        &HIDDEN_AVP,
    ]
    .into_iter()
    .zip(reprs())
    {
        assert_eq!(AvpRepr::parse(&Packet::new_unchecked(bytes)), Ok(repr));
    }
}

#[test]
fn emit() {
    for (bytes, repr) in [
        &MESSAGE_TYPE_AVP[..],
        &HOST_NAME_AVP,
        &VENDOR_AVP,
        &RANDOM_VECTOR_AVP,
        &HIDDEN_AVP,
    ]
    .into_iter()
    .zip(reprs())
    {
        let mut buf = vec![0xa5; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, bytes);
    }
    let mut buf = vec![0xa5; chain_len(&reprs())];
    assert_eq!(emit_chain(&reprs(), &mut buf), buf.len());
    assert_eq!(buf, chain());
}

#[test]
fn buffer_len() {
    let lens: Vec<usize> = reprs().iter().map(AvpRepr::buffer_len).collect();
    assert_eq!(lens, [8, 9, 10, 10, 14]);
    assert_eq!(chain_len(&reprs()), 51);
}

#[test]
fn iterate_chain() {
    let bytes = chain();
    let got: Vec<_> = AvpIter::new(&bytes).collect::<Result<_>>().unwrap();
    assert_eq!(got, reprs());
    assert_eq!(message_type(&bytes), Ok(Some(MessageType::Sccrq)));

    // A bad Length ends the chain with one error.
    let mut bad = bytes.clone();
    bad[9] = 0x04; // Host Name Length 4
    let got: Vec<_> = AvpIter::new(&bad).collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1], Err(Error::BadLength(Layer::L2tpAvp)));
}

#[test]
fn random_vector_pairing() {
    let bytes = chain();
    let got: Vec<_> = AvpIter::new(&bytes)
        .with_random_vector()
        .collect::<Result<_>>()
        .unwrap();
    assert_eq!(got[0].1, None);
    assert_eq!(got[4].0.attribute_type, 9);
    assert_eq!(got[4].1, Some(&[1u8, 2, 3, 4][..]));

    // The hidden AVP before any Random Vector.
    let bytes = [&MESSAGE_TYPE_AVP[..], &HIDDEN_AVP, &RANDOM_VECTOR_AVP].concat();
    let got: Vec<_> = AvpIter::new(&bytes).with_random_vector().collect();
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[1],
        Err(Error::Malformed(
            Layer::L2tpAvp,
            "hidden AVP without a preceding Random Vector"
        ))
    );
    assert!(got[2].is_ok());

    // The closest preceding Random Vector wins.
    let rv2 = [0x80, 0x07, 0x00, 0x00, 0x00, 0x24, 9];
    let bytes = [&RANDOM_VECTOR_AVP[..], &rv2, &HIDDEN_AVP].concat();
    let got: Vec<_> = AvpIter::new(&bytes).with_random_vector().collect();
    assert_eq!(got[2].as_ref().unwrap().1, Some(&[9u8][..]));
}

#[test]
fn reserved_bits_make_an_avp_unrecognized() {
    // Message Type with a reserved bit set: parsed, kept, and typed as Unknown (§4.1).
    let b = [0x84, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01];
    let repr = AvpRepr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
    assert_eq!(repr.reserved, 1);
    assert_eq!(
        repr.typed(),
        Ok(AvpValue::Unknown {
            vendor_id: 0,
            attribute_type: 0,
            value: &[0, 1]
        })
    );
    let mut out = [0u8; 8];
    repr.emit(&mut Packet::new_unchecked(&mut out[..]));
    assert_eq!(out, b);
}

#[test]
fn typed_view_of_raw_avps() {
    let [mt, host, vendor, rv, hidden] = reprs();
    assert_eq!(mt.typed(), Ok(AvpValue::MessageType(MessageType::Sccrq)));
    assert_eq!(host.typed(), Ok(AvpValue::HostName(b"lac")));
    assert_eq!(
        vendor.typed(),
        Ok(AvpValue::Unknown {
            vendor_id: 311,
            attribute_type: 1,
            value: &[0xde, 0xad, 0xbe, 0xef]
        })
    );
    assert_eq!(rv.typed(), Ok(AvpValue::RandomVector(&[1, 2, 3, 4])));
    assert_eq!(
        hidden.typed(),
        Err(Error::Malformed(Layer::L2tpAvp, "value is hidden"))
    );
}

/// (attribute type, value octets, typed value) for every RFC 2661 attribute.
fn typed_vectors() -> Vec<(u16, &'static [u8], AvpValue<'static>)> {
    static CALL_ERRORS: [u8; 26] = [
        0, 0, // reserved
        0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6,
    ];
    static LCP_OPTIONS: [u8; 10] = [0x01, 0x04, 0x05, 0xdc, 0x05, 0x06, 0x12, 0x34, 0x56, 0x78];
    use AvpValue as V;
    vec![
        (0, &[0, 1], V::MessageType(MessageType::Sccrq)),
        (0, &[0, 16], V::MessageType(MessageType::Sli)),
        (0, &[0, 5], V::MessageType(MessageType::Unknown(5))),
        (
            1,
            &[0, 2, 0, 6, b'o', b'o', b'p', b's'],
            V::ResultCode(ResultCode {
                result: 2,
                error: Some(6),
                message: Some(b"oops"),
            }),
        ),
        (
            1,
            &[0, 1, 0, 0],
            V::ResultCode(ResultCode {
                result: 1,
                error: Some(0),
                message: None,
            }),
        ),
        (
            1,
            &[0, 3],
            V::ResultCode(ResultCode {
                result: 3,
                error: None,
                message: None,
            }),
        ),
        (
            2,
            &[1, 0],
            V::ProtocolVersion {
                version: 1,
                revision: 0,
            },
        ),
        (3, &[0, 0, 0, 3], V::FramingCapabilities(Framing(3))),
        (4, &[0, 0, 0, 2], V::BearerCapabilities(Bearer(2))),
        (
            5,
            &[1, 2, 3, 4, 5, 6, 7, 8],
            V::TieBreaker([1, 2, 3, 4, 5, 6, 7, 8]),
        ),
        (6, &[0x06, 0x90], V::FirmwareRevision(0x0690)),
        (7, b"lns", V::HostName(b"lns")),
        (8, b"", V::VendorName(b"")),
        (8, b"shardvpn", V::VendorName(b"shardvpn")),
        (9, &[0x12, 0x34], V::AssignedTunnelId(0x1234)),
        (10, &[0, 4], V::ReceiveWindowSize(4)),
        (11, &[9, 8, 7], V::Challenge(&[9, 8, 7])),
        (
            12,
            &[0, 16, 1, b'x'],
            V::Q931CauseCode(Q931Cause {
                cause_code: 16,
                cause_msg: 1,
                advisory: b"x",
            }),
        ),
        (13, &[0x5a; 16], V::ChallengeResponse([0x5a; 16])),
        (14, &[0xab, 0xcd], V::AssignedSessionId(0xabcd)),
        (15, &[0, 0, 0, 42], V::CallSerialNumber(42)),
        (16, &[0, 0, 0x25, 0x80], V::MinimumBps(9600)),
        (17, &[0x05, 0xf5, 0xe1, 0x00], V::MaximumBps(100_000_000)),
        (18, &[0, 0, 0, 1], V::BearerType(Bearer(1))),
        (19, &[0, 0, 0, 1], V::FramingType(Framing(1))),
        (
            20,
            &[1],
            V::Unknown {
                vendor_id: 0,
                attribute_type: 20,
                value: &[1],
            },
        ),
        (21, b"5551234", V::CalledNumber(b"5551234")),
        (22, b"5556789", V::CallingNumber(b"5556789")),
        (23, b"7", V::SubAddress(b"7")),
        (24, &[0, 0, 0x27, 0x10], V::TxConnectSpeed(10_000)),
        (25, &[0, 0, 0, 9], V::PhysicalChannelId(9)),
        (26, &LCP_OPTIONS, V::InitialReceivedLcpConfreq(&LCP_OPTIONS)),
        (27, &LCP_OPTIONS, V::LastSentLcpConfreq(&LCP_OPTIONS)),
        (28, &LCP_OPTIONS, V::LastReceivedLcpConfreq(&LCP_OPTIONS)),
        (29, &[0, 2], V::ProxyAuthenType(ProxyAuthenType::Chap)),
        (30, b"user", V::ProxyAuthenName(b"user")),
        (31, &[0x11; 16], V::ProxyAuthenChallenge(&[0x11; 16])),
        (32, &[0, 7], V::ProxyAuthenId(7)),
        (33, &[0x22; 16], V::ProxyAuthenResponse(&[0x22; 16])),
        (
            34,
            &CALL_ERRORS,
            V::CallErrors(CallErrors {
                crc_errors: 1,
                framing_errors: 2,
                hardware_overruns: 3,
                buffer_overruns: 4,
                timeout_errors: 5,
                alignment_errors: 6,
            }),
        ),
        (
            35,
            &[0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
            V::Accm(Accm {
                send_accm: 0,
                receive_accm: 0xffff_ffff,
            }),
        ),
        (36, &[1, 2, 3, 4], V::RandomVector(&[1, 2, 3, 4])),
        (36, &[], V::RandomVector(&[])),
        (37, b"grp", V::PrivateGroupId(b"grp")),
        (38, &[0, 0, 0x27, 0x10], V::RxConnectSpeed(10_000)),
        (39, &[], V::SequencingRequired),
        (
            40,
            &[1, 2],
            V::Unknown {
                vendor_id: 0,
                attribute_type: 40,
                value: &[1, 2],
            },
        ),
    ]
}

#[test]
fn typed_parse() {
    for (t, bytes, value) in typed_vectors() {
        assert_eq!(AvpValue::parse(0, t, bytes), Ok(value), "type {t}");
    }
    // Any vendor other than 0 passes through, whatever the type.
    assert_eq!(
        AvpValue::parse(9, 0, &[0, 1]),
        Ok(AvpValue::Unknown {
            vendor_id: 9,
            attribute_type: 0,
            value: &[0, 1]
        })
    );
}

#[test]
fn typed_emit() {
    for (t, bytes, value) in typed_vectors() {
        assert_eq!(value.attribute_type(), t);
        assert_eq!(value.vendor_id(), 0);
        assert_eq!(value.buffer_len(), bytes.len(), "type {t}");
        let mut out = vec![0xa5; value.buffer_len()];
        value.emit(&mut out);
        assert_eq!(out, bytes, "type {t}");
    }
    // A whole AVP.
    let v = AvpValue::HostName(b"lac");
    let mut out = [0u8; 9];
    assert_eq!(v.emit_avp(true, &mut out), 9);
    assert_eq!(out, HOST_NAME_AVP);
    // Reserved fields inside values are written as zero.
    let mut out = [0xa5u8; 2];
    AvpValue::ProxyAuthenId(7).emit(&mut out);
    assert_eq!(out, [0, 7]);
}

#[test]
fn typed_sizes_are_checked() {
    // (type, a wrong length) per fixed-size or minimum-size attribute.
    let wrong: &[(u16, usize)] = &[
        (0, 1),
        (0, 3),
        (1, 0),
        (1, 1),
        (1, 3),
        (2, 1),
        (3, 3),
        (4, 5),
        (5, 7),
        (6, 3),
        (7, 0),
        (9, 1),
        (10, 3),
        (11, 0),
        (12, 2),
        (13, 15),
        (13, 17),
        (14, 0),
        (15, 3),
        (16, 5),
        (17, 0),
        (18, 2),
        (19, 8),
        (24, 3),
        (25, 5),
        (29, 1),
        (31, 0),
        (32, 3),
        (34, 25),
        (34, 27),
        (35, 9),
        (38, 2),
        (39, 1),
    ];
    let zeros = [0u8; 32];
    for &(t, len) in wrong {
        let got = AvpValue::parse(0, t, &zeros[..len]);
        assert!(
            matches!(got, Err(Error::Malformed(Layer::L2tpAvp, _))),
            "type {t} length {len}: {got:?}"
        );
    }
}

#[test]
fn result_code_meanings() {
    let rc = ResultCode {
        result: 2,
        error: Some(8),
        message: None,
    };
    assert_eq!(rc.stop_ccn_result(), StopCcnResult::GeneralError);
    assert_eq!(rc.cdn_result(), CdnResult::GeneralError);
    assert_eq!(rc.error_code(), Some(ErrorCode::UnknownMandatoryAvp));
    let rc = ResultCode { result: 4, ..rc };
    assert_eq!(rc.stop_ccn_result(), StopCcnResult::NotAuthorized);
    assert_eq!(rc.cdn_result(), CdnResult::TemporaryLackOfFacilities);
    assert_eq!(u16::from(CdnResult::NoFraming), 11);
    assert_eq!(u16::from(StopCcnResult::FsmError), 7);
}

#[test]
fn code_points_round_trip() {
    for v in 0..=64u16 {
        assert_eq!(u16::from(MessageType::from(v)), v);
        assert_eq!(u16::from(AttributeType::from(v)), v);
        assert_eq!(AttributeType::from(v).code(), v);
        assert_eq!(u16::from(ProxyAuthenType::from(v)), v);
        assert_eq!(u16::from(ErrorCode::from(v)), v);
    }
    assert_eq!(MessageType::from(4), MessageType::StopCcn);
    assert_eq!(MessageType::from(12), MessageType::Iccn);
    assert_eq!(MessageType::from(13), MessageType::Unknown(13));
    assert_eq!(AttributeType::from(20), AttributeType::Unknown(20));
    assert_eq!(AttributeType::from(39), AttributeType::SequencingRequired);
}

/// Hidden AVP Subformat (§4.3): Original Length 3, "lac", 4 octets of padding.
static SUBFORMAT: [u8; 9] = [0x00, 0x03, b'l', b'a', b'c', 0, 0, 0, 0];

#[test]
fn hidden_subformat() {
    assert_eq!(hidden_subformat_value(&SUBFORMAT), Ok(&b"lac"[..]));
    assert_eq!(hidden_subformat_value(&SUBFORMAT[..5]), Ok(&b"lac"[..]));
    assert_eq!(
        hidden_subformat_value(&SUBFORMAT[..4]),
        Err(Error::BadLength(Layer::L2tpAvp))
    );
    assert_eq!(
        hidden_subformat_value(&SUBFORMAT[..1]),
        Err(Error::Truncated(Layer::L2tpAvp))
    );
    // A wrong secret turns Original Length into noise.
    assert_eq!(
        hidden_subformat_value(&[0xff, 0xff, 1, 2]),
        Err(Error::BadLength(Layer::L2tpAvp))
    );
    assert_eq!(hidden_subformat_buffer_len(3, 4), 9);
    let mut out = [0xa5u8; 9];
    assert_eq!(hidden_subformat_emit(b"lac", 4, &mut out), 9);
    assert_eq!(out, SUBFORMAT);
}

#[test]
fn truncations() {
    let parse = |b: &[u8]| AvpRepr::parse(&Packet::new_checked(b)?).map(|r| r.buffer_len());
    for bytes in [
        &MESSAGE_TYPE_AVP[..],
        &HOST_NAME_AVP,
        &VENDOR_AVP,
        &RANDOM_VECTOR_AVP,
        &HIDDEN_AVP,
    ] {
        assert_truncations_rejected(bytes, parse);
    }
    // A truncated chain ends in an error (a prefix on an AVP boundary is a shorter
    // valid chain).
    let bytes = chain();
    let count_or_err = |b: &[u8]| AvpIter::new(b).collect::<Result<Vec<_>>>().map(|v| v.len());
    assert_truncations_do_not_panic(&bytes, count_or_err);
    assert!(count_or_err(&bytes[..bytes.len() - 1]).is_err());
    assert_truncations_rejected(&SUBFORMAT[..5], |b| {
        hidden_subformat_value(b).map(<[u8]>::len)
    });
}

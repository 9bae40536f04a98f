//! Tests for the header, the payload chain, the typed payloads and the message builder,
//! against byte arrays written from the RFC 2408 §3 layouts.

use super::attribute::{EncryptionAlgorithm, HashAlgorithm, Phase1Class};
use super::sa::{EspTransformId, situation};
use super::*;
use crate::wire::test_util::{assert_truncations_do_not_panic, assert_truncations_rejected};
use md5::Digest;

const ICOOKIE: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
const RCOOKIE: [u8; 8] = [0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8];

/// Main Mode message 1: header, SA (one ISAKMP proposal, one KEY_IKE transform:
/// AES-CBC-128, SHA1, PSK, MODP2048, 28800 s as a 4-byte TLV), Vendor IDs RFC 3947,
/// draft-02\n and DPD.
#[rustfmt::skip]
static MM1: [u8; 148] = [
    // header: cookies, next SA, version 1.0, Identity Protection, no flags, id 0, len 148
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x10, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x94,
    // SA: next VID, len 60, DOI 1, SIT_IDENTITY_ONLY
    0x0d, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
    // Proposal: last, len 48, #1, PROTO_ISAKMP, SPI size 0, 1 transform
    0x00, 0x00, 0x00, 0x30, 0x01, 0x01, 0x00, 0x01,
    // Transform: last, len 40, #1, KEY_IKE
    0x00, 0x00, 0x00, 0x28, 0x01, 0x01, 0x00, 0x00,
    0x80, 0x01, 0x00, 0x07, 0x80, 0x0e, 0x00, 0x80, 0x80, 0x02, 0x00, 0x02,
    0x80, 0x03, 0x00, 0x01, 0x80, 0x04, 0x00, 0x0e, 0x80, 0x0b, 0x00, 0x01,
    0x00, 0x0c, 0x00, 0x04, 0x00, 0x00, 0x70, 0x80,
    // VID RFC 3947
    0x0d, 0x00, 0x00, 0x14,
    0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45, 0x5c, 0x57, 0x28, 0xf2, 0x0e, 0x95, 0x45, 0x2f,
    // VID draft-02\n
    0x0d, 0x00, 0x00, 0x14,
    0x90, 0xcb, 0x80, 0x91, 0x3e, 0xbb, 0x69, 0x6e, 0x08, 0x63, 0x81, 0xb5, 0xec, 0x42, 0x7b, 0x1f,
    // VID DPD
    0x00, 0x00, 0x00, 0x14,
    0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00,
];

const LIFE: [u8; 4] = [0, 0, 0x70, 0x80];

fn mm1_attrs() -> [DataAttribute<'static>; 7] {
    [
        DataAttribute::basic(
            Phase1Class::EncryptionAlgorithm,
            EncryptionAlgorithm::AesCbc.into(),
        ),
        DataAttribute::basic(Phase1Class::KeyLength, 128),
        DataAttribute::basic(Phase1Class::HashAlgorithm, HashAlgorithm::Sha1.into()),
        DataAttribute::basic(Phase1Class::AuthenticationMethod, 1),
        DataAttribute::basic(Phase1Class::GroupDescription, 14),
        DataAttribute::basic(Phase1Class::LifeType, 1),
        DataAttribute::variable(Phase1Class::LifeDuration, &LIFE),
    ]
}

fn mm1_header() -> HeaderRepr {
    HeaderRepr {
        initiator_cookie: ICOOKIE,
        responder_cookie: [0; 8],
        next_payload: PayloadType::SecurityAssociation,
        minor_version: 0,
        exchange_type: ExchangeType::MAIN,
        flags: Flags::default(),
        message_id: 0,
        length: 148,
    }
}

#[test]
fn header_deconstruct() {
    let p = Packet::new_checked(&MM1[..]).unwrap();
    assert_eq!(p.initiator_cookie(), ICOOKIE);
    assert_eq!(p.responder_cookie(), [0; 8]);
    assert_eq!(p.next_payload(), PayloadType::SecurityAssociation);
    assert_eq!(p.major_version(), 1);
    assert_eq!(p.minor_version(), 0);
    assert_eq!(p.exchange_type(), ExchangeType::IdentityProtection);
    assert_eq!(p.flags(), Flags(0));
    assert_eq!(p.message_id(), 0);
    assert_eq!(p.length(), 148);
    assert_eq!(p.body(), &MM1[28..]);
    assert!(p.trailer().is_empty());
}

#[test]
fn header_construct() {
    let mut buf = [0xffu8; 28];
    let mut p = Packet::new_unchecked(&mut buf[..]);
    p.set_initiator_cookie(ICOOKIE);
    p.set_responder_cookie([0; 8]);
    p.set_next_payload(PayloadType::SecurityAssociation);
    p.set_version(1, 0);
    p.set_exchange_type(ExchangeType::IdentityProtection);
    p.set_flags(Flags(0));
    p.set_message_id(0);
    p.set_length(148);
    assert_eq!(buf, MM1[..28]);
}

#[test]
fn header_check_len() {
    assert_eq!(
        Packet::new_checked(&MM1[..27]).unwrap_err(),
        Error::Truncated(Layer::Isakmp)
    );
    assert_eq!(
        Packet::new_checked(&MM1[..147]).unwrap_err(),
        Error::Truncated(Layer::Isakmp)
    );
    let mut short = MM1;
    short[27] = 27;
    assert_eq!(
        Packet::new_checked(&short[..]).unwrap_err(),
        Error::BadLength(Layer::Isakmp)
    );
    // Bytes after Length are not part of the message.
    let mut long = MM1.to_vec();
    long.extend_from_slice(&[0xee; 3]);
    let p = Packet::new_checked(&long[..]).unwrap();
    assert_eq!(p.body(), &MM1[28..]);
    assert_eq!(p.trailer(), &[0xee; 3]);
}

#[test]
fn header_parse_emit_buffer_len() {
    let p = Packet::new_checked(&MM1[..]).unwrap();
    let h = HeaderRepr::parse(&p).unwrap();
    assert_eq!(h, mm1_header());
    assert_eq!(h.buffer_len(), 28);
    let mut buf = [0u8; 28];
    h.emit(&mut Packet::new_unchecked(&mut buf[..]));
    assert_eq!(buf, MM1[..28]);
}

#[test]
fn header_version_and_flags() {
    let mut b = MM1;
    b[17] = 0x20; // IKEv2
    let p = Packet::new_checked(&b[..]).unwrap();
    assert_eq!(
        HeaderRepr::parse(&p).unwrap_err(),
        Error::BadVersion(Layer::Isakmp)
    );
    b[17] = 0x11; // minor 1: kept, policy decides
    b[19] = 0x07;
    let h = HeaderRepr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
    assert_eq!(h.minor_version, 1);
    assert!(h.flags.encryption() && h.flags.commit() && h.flags.authentication_only());
    assert_eq!(ExchangeType::from(32), ExchangeType::Quick);
    assert_eq!(ExchangeType::from(99), ExchangeType::Unknown(99));
    assert_eq!(u8::from(PayloadType::NatDDraft), 130);
}

#[test]
fn payload_packet_six() {
    let vid = &MM1[88..108];
    let p = PayloadPacket::new_checked(vid).unwrap();
    assert_eq!(p.next_payload(), PayloadType::VendorId);
    assert_eq!(p.reserved(), 0);
    assert_eq!(p.payload_length(), 20);
    assert_eq!(p.body(), &vendor_id::NAT_T_RFC3947);

    let mut buf = [0xffu8; 20];
    let mut q = PayloadPacket::new_unchecked(&mut buf[..]);
    q.set_next_payload(PayloadType::VendorId);
    q.set_reserved(0);
    q.set_payload_length(20);
    q.body_mut().copy_from_slice(&vendor_id::NAT_T_RFC3947);
    assert_eq!(&buf, vid);

    assert_eq!(
        PayloadPacket::new_checked(&vid[..3]).unwrap_err(),
        Error::Truncated(Layer::IsakmpPayload)
    );
    assert_eq!(
        PayloadPacket::new_checked(&vid[..19]).unwrap_err(),
        Error::Truncated(Layer::IsakmpPayload)
    );
    assert_eq!(
        PayloadPacket::new_checked(&[0u8, 0, 0, 3][..]).unwrap_err(),
        Error::BadLength(Layer::IsakmpPayload)
    );
}

#[test]
fn message_parse() {
    let m = Message::parse_bytes(&MM1).unwrap();
    assert!(!m.is_encrypted());
    let raw: Vec<_> = m.payloads().unwrap().map(|r| r.unwrap()).collect();
    let types: Vec<_> = raw.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        types,
        [
            PayloadType::SecurityAssociation,
            PayloadType::VendorId,
            PayloadType::VendorId,
            PayloadType::VendorId
        ]
    );
    let typed: Vec<_> = m.payloads().unwrap().typed().map(|r| r.unwrap()).collect();
    let Payload::Sa(sa) = typed[0] else {
        panic!("not an SA")
    };
    assert_eq!(sa.doi, Doi::Ipsec);
    assert_eq!(sa.situation, situation::IDENTITY_ONLY);
    let prop = sa.proposals.iter().next().unwrap().unwrap();
    let t = prop.transforms.iter().next().unwrap().unwrap();
    assert_eq!(
        t.attribute(Phase1Class::GroupDescription)
            .unwrap()
            .value_u64(),
        Ok(14)
    );
    assert_eq!(
        t.attribute(Phase1Class::LifeDuration).unwrap().value_u64(),
        Ok(28800)
    );
    let Payload::VendorId(v) = typed[1] else {
        panic!()
    };
    assert!(v.is(&vendor_id::NAT_T_RFC3947));
    let Payload::VendorId(v) = typed[3] else {
        panic!()
    };
    assert!(v.is(&vendor_id::DPD));
}

#[test]
fn message_build() {
    let attrs = mm1_attrs();
    let transforms = [TransformRepr {
        number: 1,
        transform_id: 1,
        attributes: List::Items(&attrs),
    }];
    let proposals = [ProposalRepr {
        number: 1,
        protocol: ProtocolId::Isakmp,
        spi: &[],
        transforms: List::Items(&transforms),
    }];
    let payloads = [
        Payload::Sa(SaRepr {
            doi: Doi::Ipsec,
            situation: situation::IDENTITY_ONLY,
            proposals: List::Items(&proposals),
        }),
        Payload::VendorId(VendorIdRepr {
            vendor_id: &vendor_id::NAT_T_RFC3947,
        }),
        Payload::VendorId(VendorIdRepr {
            vendor_id: &vendor_id::NAT_T_DRAFT_02_N,
        }),
        Payload::VendorId(VendorIdRepr {
            vendor_id: &vendor_id::DPD,
        }),
    ];
    let mut header = mm1_header();
    // Computed by the builder.
    header.next_payload = PayloadType::Hash;
    header.length = 0;
    let b = MessageBuilder {
        header,
        payloads: &payloads,
    };
    assert_eq!(b.buffer_len(), MM1.len());
    let mut buf = vec![0xccu8; b.buffer_len()];
    b.emit(&mut buf);
    assert_eq!(buf, MM1);
    // The parsed payloads equal the built ones.
    let m = Message::parse_bytes(&MM1).unwrap();
    let typed: Vec<_> = m.payloads().unwrap().typed().map(|r| r.unwrap()).collect();
    assert_eq!(typed, payloads);
}

#[test]
fn message_truncations() {
    assert_truncations_rejected(&MM1, |b| Message::parse_bytes(b).map(|_| ()));
    // Cutting the chain (with the header's Length adjusted) must fail in the chain.
    for len in 28..MM1.len() {
        let mut b = MM1[..len].to_vec();
        b[24..28].copy_from_slice(&(len as u32).to_be_bytes());
        let m = Message::parse_bytes(&b).unwrap();
        let ok = m.payloads().unwrap().typed().all(|r| r.is_ok());
        assert!(!ok, "chain cut at {len} accepted");
    }
}

#[test]
fn chain_trailing_modes() {
    // One Hash payload followed by 3 bytes of padding.
    let body = [0u8, 0, 0, 6, 0xaa, 0xbb, 0, 0, 3];
    let strict: Vec<_> = Payloads::new(PayloadType::Hash, &body, Trailing::Strict).collect();
    assert_eq!(strict.len(), 2);
    assert_eq!(strict[0], Ok((PayloadType::Hash, &body[4..6])));
    assert_eq!(strict[1], Err(Error::TrailingData(Layer::IsakmpPayload)));
    let padded: Vec<_> =
        Payloads::new(PayloadType::Hash, &body, Trailing::PaddingAllowed).collect();
    assert_eq!(padded, [Ok((PayloadType::Hash, &body[4..6]))]);
    // An empty chain.
    assert_eq!(
        Payloads::new(PayloadType::None, &[], Trailing::Strict).count(),
        0
    );
    // Next payload promises more but the body ends; the iterator stops after an error.
    let body = [8u8, 0, 0, 4];
    let v: Vec<_> = Payloads::new(PayloadType::Hash, &body, Trailing::PaddingAllowed).collect();
    assert_eq!(
        v,
        [
            Ok((PayloadType::Hash, &[][..])),
            Err(Error::Truncated(Layer::IsakmpPayload))
        ]
    );
    // Payload length below the generic header.
    let body = [0u8, 0, 0, 2];
    let v: Vec<_> = Payloads::new(PayloadType::Hash, &body, Trailing::Strict).collect();
    assert_eq!(v, [Err(Error::BadLength(Layer::IsakmpPayload))]);
    // RESERVED is ignored.
    let body = [0u8, 0xff, 0, 4];
    let v: Vec<_> = Payloads::new(PayloadType::Hash, &body, Trailing::Strict).collect();
    assert_eq!(v, [Ok((PayloadType::Hash, &[][..]))]);
}

#[test]
fn encrypted_message() {
    // Main Mode message 5: E flag, body is ciphertext (here: 32 arbitrary bytes).
    let mut b = MM1[..28].to_vec();
    b[8..16].copy_from_slice(&RCOOKIE);
    b[16] = 5; // first payload ID (inside the ciphertext)
    b[19] = Flags::ENCRYPTION;
    b[27] = 60;
    b.extend_from_slice(&[0x5a; 32]);
    let m = Message::parse_bytes(&b).unwrap();
    assert!(m.is_encrypted());
    assert_eq!(m.body, &[0x5a; 32]);
    assert_eq!(m.header.next_payload, PayloadType::Identification);
    assert!(m.payloads().is_err());
}

#[test]
fn emit_chain_for_encryption() {
    // Plaintext of a Main Mode message 5: ID (IPv4 192.0.2.1, UDP/500) + HASH, then
    // the engine pads it.
    let payloads = [
        Payload::Identification(IdentificationRepr {
            id_type: IdType::Ipv4Addr,
            protocol: 17,
            port: 500,
            data: &[192, 0, 2, 1],
        }),
        Payload::Hash(HashRepr { hash: &[0x11; 20] }),
    ];
    assert_eq!(chain_len(&payloads), 12 + 24);
    let mut buf = [0u8; 40];
    let n = emit_chain(&payloads, &mut buf);
    assert_eq!(n, 36);
    #[rustfmt::skip]
    let expect_head = [
        0x08, 0x00, 0x00, 0x0c, 0x01, 0x11, 0x01, 0xf4, 0xc0, 0x00, 0x02, 0x01,
        0x00, 0x00, 0x00, 0x18,
    ];
    assert_eq!(buf[..16], expect_head);
    assert_eq!(buf[16..36], [0x11; 20]);
    // With 4 bytes of padding after the chain, the padded walk finds both payloads.
    let v: Vec<_> = Payloads::new(PayloadType::Identification, &buf, Trailing::PaddingAllowed)
        .typed()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(v, payloads);
    let Payload::Identification(id) = v[0] else {
        panic!()
    };
    assert_eq!(id.ipv4_addr(), Some(core::net::Ipv4Addr::new(192, 0, 2, 1)));
}

/// Each typed payload body against its RFC layout: parse, fields, buffer_len, emit,
/// truncation.
fn check_body<'a>(t: PayloadType, body: &'a [u8], expect: Payload<'a>) {
    let p = Payload::parse(t, body).unwrap();
    assert_eq!(p, expect);
    assert_eq!(p.payload_type(), t);
    assert_eq!(p.body_len(), body.len());
    let mut out = vec![0xeeu8; body.len()];
    expect.emit_body(&mut out);
    assert_eq!(out, body);
}

#[test]
fn notification_initial_contact() {
    // RFC 2407 §4.6.3.3: DOI 1, PROTO_ISAKMP, SPI size 16, INITIAL-CONTACT, cookies.
    #[rustfmt::skip]
    static BODY: [u8; 24] = [
        0, 0, 0, 1, 1, 16, 0x60, 0x02,
        1, 2, 3, 4, 5, 6, 7, 8, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
    ];
    let spi = [ICOOKIE, RCOOKIE].concat();
    let expect = Payload::Notification(NotificationRepr {
        doi: Doi::Ipsec,
        protocol: ProtocolId::Isakmp,
        message_type: NotifyMessageType::InitialContact,
        spi: &spi,
        data: &[],
    });
    check_body(PayloadType::Notification, &BODY, expect);
    assert_truncations_rejected(&BODY, |b| NotificationRepr::parse(b).map(|_| ()));
}

#[test]
fn notification_r_u_there() {
    // RFC 3706 §5: R-U-THERE (36136), cookies as SPI, 32-bit sequence number.
    #[rustfmt::skip]
    static BODY: [u8; 28] = [
        0, 0, 0, 1, 1, 16, 0x8d, 0x28,
        1, 2, 3, 4, 5, 6, 7, 8, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
        0x00, 0x00, 0x12, 0x34,
    ];
    let n = NotificationRepr::parse(&BODY).unwrap();
    assert_eq!(n.message_type, NotifyMessageType::RUThere);
    assert_eq!(n.dpd_sequence(), Some(0x1234));
    assert_eq!(n.buffer_len(), 28);
    let mut out = [0u8; 28];
    n.emit(&mut out);
    assert_eq!(out, BODY);
    assert_eq!(u16::from(NotifyMessageType::RUThereAck), 36137);
    assert_eq!(
        NotifyMessageType::from(14),
        NotifyMessageType::NoProposalChosen
    );
    // Data is free-form, so only the fixed part and the SPI are truncation-checked.
    assert_truncations_rejected(&BODY[..24], |b| NotificationRepr::parse(b).map(|_| ()));
}

#[test]
fn delete_payload() {
    // RFC 2408 §3.15: DOI 1, ESP, SPI size 4, two SPIs.
    static BODY: [u8; 16] = [
        0, 0, 0, 1, 3, 4, 0, 2, 0xc0, 0xff, 0xee, 1, 0xc0, 0xff, 0xee, 2,
    ];
    let expect = DeleteRepr {
        doi: Doi::Ipsec,
        protocol: ProtocolId::IpsecEsp,
        spi_size: 4,
        spis: &BODY[8..],
    };
    check_body(PayloadType::Delete, &BODY, Payload::Delete(expect));
    let spis: Vec<_> = expect.spis().collect();
    assert_eq!(
        spis,
        [&[0xc0, 0xff, 0xee, 1][..], &[0xc0, 0xff, 0xee, 2][..]]
    );
    assert_eq!(expect.spi_count(), 2);
    assert_truncations_rejected(&BODY, |b| DeleteRepr::parse(b).map(|_| ()));
    let mut extra = BODY.to_vec();
    extra.push(0);
    assert_eq!(
        DeleteRepr::parse(&extra),
        Err(Error::TrailingData(Layer::IsakmpPayload))
    );
    assert!(DeleteRepr::parse(&[0, 0, 0, 1, 3, 0, 0, 1]).is_err());
    let none = DeleteRepr::parse(&[0, 0, 0, 1, 1, 0, 0, 0]).unwrap();
    assert_eq!(none.spis().count(), 0);
}

#[test]
fn identification_payloads() {
    static FQDN: [u8; 15] = *b"\x02\x11\x01\xf4vpn.example";
    check_body(
        PayloadType::Identification,
        &FQDN,
        Payload::Identification(IdentificationRepr {
            id_type: IdType::Fqdn,
            protocol: 17,
            port: 500,
            data: b"vpn.example",
        }),
    );
    assert_truncations_rejected(&FQDN[..4], |b| IdentificationRepr::parse(b).map(|_| ()));
    let id = IdentificationRepr::parse(&FQDN).unwrap();
    assert_eq!(id.ipv4_addr(), None);
}

#[test]
fn nat_payloads() {
    // RFC 3947 §5.2 NAT-OA: IPv4, 3 reserved bytes, address.
    static OA4: [u8; 8] = [1, 0, 0, 0, 192, 168, 1, 2];
    let oa = NatOaRepr {
        id_type: IdType::Ipv4Addr,
        address: &OA4[4..],
    };
    check_body(PayloadType::NatOa, &OA4, Payload::NatOa(oa));
    check_body(PayloadType::NatOaDraft, &OA4, Payload::NatOaDraft(oa));
    assert_eq!(
        oa.ipv4_addr(),
        Some(core::net::Ipv4Addr::new(192, 168, 1, 2))
    );
    assert_truncations_rejected(&OA4, |b| NatOaRepr::parse(b).map(|_| ()));
    let mut oa6 = vec![5u8, 0, 0, 0];
    oa6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    oa6.extend_from_slice(&[0; 11]);
    oa6.push(1);
    let p = NatOaRepr::parse(&oa6).unwrap();
    assert_eq!(p.ipv6_addr(), Some("2001:db8::1".parse().unwrap()));
    assert!(NatOaRepr::parse(&oa6[..19]).is_err());
    // NAT-D: an opaque hash under either number.
    let h = [0x42u8; 20];
    check_body(PayloadType::NatD, &h, Payload::NatD(NatDRepr { hash: &h }));
    check_body(
        PayloadType::NatDDraft,
        &h,
        Payload::NatDDraft(NatDRepr { hash: &h }),
    );
}

#[test]
fn other_payloads() {
    let cert = [4u8, 0x30, 0x82, 0x01];
    check_body(
        PayloadType::Certificate,
        &cert,
        Payload::Certificate(CertificateRepr {
            encoding: CertificateEncoding::X509Signature,
            data: &cert[1..],
        }),
    );
    check_body(
        PayloadType::CertificateRequest,
        &[4],
        Payload::CertificateRequest(CertificateRequestRepr {
            certificate_type: CertificateEncoding::X509Signature,
            authority: &[],
        }),
    );
    assert!(CertificateRepr::parse(&[]).is_err());
    assert!(CertificateRequestRepr::parse(&[]).is_err());
    let frag = [0u8, 7, 2, 1, 0xde, 0xad];
    check_body(
        PayloadType::Fragment,
        &frag,
        Payload::Fragment(FragmentRepr {
            fragment_id: 7,
            fragment_number: 2,
            flags: FragmentRepr::LAST_FRAGMENT,
            data: &frag[4..],
        }),
    );
    assert!(FragmentRepr::parse(&frag).unwrap().is_last());
    assert_truncations_rejected(&frag[..4], |b| FragmentRepr::parse(b).map(|_| ()));
    check_body(
        PayloadType::Signature,
        &[9; 5],
        Payload::Signature(SignatureRepr { signature: &[9; 5] }),
    );
    check_body(
        PayloadType::KeyExchange,
        &[7; 8],
        Payload::KeyExchange(KeyExchangeRepr { key_data: &[7; 8] }),
    );
    check_body(
        PayloadType::Unknown(200),
        &[1, 2],
        Payload::Unknown(PayloadType::Unknown(200), &[1, 2]),
    );
    check_body(
        PayloadType::Proposal,
        &[1, 2],
        Payload::Unknown(PayloadType::Proposal, &[1, 2]),
    );
    assert!(Payload::parse(PayloadType::None, &[]).is_err());
    assert_truncations_do_not_panic(&frag, |b| {
        Payload::parse(PayloadType::Fragment, b).map(|_| ())
    });
}

#[test]
fn nonce_policy_helper() {
    assert!(!NonceRepr { nonce: &[0; 7] }.len_ok());
    assert!(NonceRepr { nonce: &[0; 8] }.len_ok());
    assert!(NonceRepr { nonce: &[0; 256] }.len_ok());
    assert!(!NonceRepr { nonce: &[0; 257] }.len_ok());
}

#[test]
fn vendor_ids_are_the_published_hashes() {
    // The NAT-T and fragmentation IDs are MD5 of marker strings (RFC 3947 §3.1, the
    // drafts, strongSwan's isakmp_vendor.c); check them against an independent MD5.
    let md5 = |s: &[u8]| -> [u8; 16] { md5::Md5::digest(s).into() };
    assert_eq!(vendor_id::NAT_T_RFC3947, md5(b"RFC 3947"));
    assert_eq!(
        vendor_id::NAT_T_DRAFT_02,
        md5(b"draft-ietf-ipsec-nat-t-ike-02")
    );
    assert_eq!(
        vendor_id::NAT_T_DRAFT_02_N,
        md5(b"draft-ietf-ipsec-nat-t-ike-02\n")
    );
    assert_eq!(
        vendor_id::NAT_T_DRAFT_03,
        md5(b"draft-ietf-ipsec-nat-t-ike-03")
    );
    assert_eq!(vendor_id::FRAGMENTATION, md5(b"FRAGMENTATION"));
    assert_eq!(vendor_id::MS_NT5_ISAKMPOAKLEY, md5(b"MS NT5 ISAKMPOAKLEY"));
    // RFC 3706 §3.1 gives the DPD ID literally.
    assert_eq!(
        vendor_id::DPD,
        [
            0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57,
            0x01, 0x00
        ]
    );
    let v = VendorIdRepr {
        vendor_id: &[
            0x40, 0x48, 0xb7, 0xd5, 0x6e, 0xbc, 0xe8, 0x85, 0x25, 0xe7, 0xde, 0x7f, 0x00, 0xd6,
            0xc2, 0xd3, 0x80, 0, 0, 0,
        ],
    };
    assert!(v.starts_with(&vendor_id::FRAGMENTATION));
    assert!(!v.is(&vendor_id::FRAGMENTATION));
}

#[test]
fn quick_mode_esp_builder() {
    // A Quick Mode SA with an ESP AES-GCM-16 proposal, built and re-parsed.
    let attrs = [
        DataAttribute::basic(
            attribute::IpsecClass::EncapsulationMode,
            attribute::EncapsulationMode::UdpEncapsulatedTransport.into(),
        ),
        DataAttribute::basic(attribute::IpsecClass::KeyLength, 256),
        DataAttribute::basic(attribute::IpsecClass::SaLifeType, 1),
        DataAttribute::variable(attribute::IpsecClass::SaLifeDuration, &[0x0e, 0x10]),
    ];
    let transforms = [TransformRepr {
        number: 1,
        transform_id: EspTransformId::AesGcm16.into(),
        attributes: List::Items(&attrs),
    }];
    let proposals = [ProposalRepr {
        number: 1,
        protocol: ProtocolId::IpsecEsp,
        spi: &[0xc0, 0xff, 0xee, 0x01],
        transforms: List::Items(&transforms),
    }];
    let sa = Payload::Sa(SaRepr {
        doi: Doi::Ipsec,
        situation: situation::IDENTITY_ONLY,
        proposals: List::Items(&proposals),
    });
    let mut buf = vec![0u8; sa.buffer_len()];
    sa.emit(PayloadType::Nonce, &mut buf);
    #[rustfmt::skip]
    let expect = [
        0x0a, 0x00, 0x00, 0x32, 0, 0, 0, 1, 0, 0, 0, 1,
        0x00, 0x00, 0x00, 0x26, 0x01, 0x03, 0x04, 0x01, 0xc0, 0xff, 0xee, 0x01,
        0x00, 0x00, 0x00, 0x1a, 0x01, 0x14, 0x00, 0x00,
        0x80, 0x04, 0x00, 0x04, 0x80, 0x06, 0x01, 0x00, 0x80, 0x01, 0x00, 0x01,
        0x00, 0x02, 0x00, 0x02, 0x0e, 0x10,
    ];
    assert_eq!(buf, expect);
    let p = PayloadPacket::new_checked(&buf[..]).unwrap();
    assert_eq!(p.next_payload(), PayloadType::Nonce);
    let parsed = Payload::parse(PayloadType::SecurityAssociation, p.body()).unwrap();
    assert_eq!(parsed, sa);
}

#[test]
fn nat_t_dialects() {
    assert_eq!(
        NatTDialect::from_vendor_id(&vendor_id::NAT_T_RFC3947),
        Some(NatTDialect::Rfc3947)
    );
    for v in [
        vendor_id::NAT_T_DRAFT_02,
        vendor_id::NAT_T_DRAFT_02_N,
        vendor_id::NAT_T_DRAFT_03,
    ] {
        assert_eq!(NatTDialect::from_vendor_id(&v), Some(NatTDialect::Draft));
    }
    assert_eq!(NatTDialect::from_vendor_id(&vendor_id::DPD), None);
    assert_eq!(u8::from(NatTDialect::Rfc3947.nat_d()), 20);
    assert_eq!(u8::from(NatTDialect::Draft.nat_d()), 130);
    assert_eq!(u8::from(NatTDialect::Rfc3947.nat_oa()), 21);
    assert_eq!(u8::from(NatTDialect::Draft.nat_oa()), 131);
    assert_eq!(
        u16::from(NatTDialect::Rfc3947.udp_encapsulated_transport()),
        4
    );
    assert_eq!(
        u16::from(NatTDialect::Draft.udp_encapsulated_transport()),
        61444
    );
    assert_eq!(u16::from(NatTDialect::Rfc3947.udp_encapsulated_tunnel()), 3);
    assert_eq!(
        u16::from(NatTDialect::Draft.udp_encapsulated_tunnel()),
        61443
    );
    let h = [1u8; 20];
    assert_eq!(
        NatTDialect::Draft.nat_d_payload(&h).payload_type(),
        PayloadType::NatDDraft
    );
}

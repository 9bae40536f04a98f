//! ISAKMP / IKEv1 messages built with `wire::isakmp`, dissected by tshark: Main Mode 1-4
//! in clear (proposals, transforms, attributes, vendor IDs, KE, nonce, NAT-D under the
//! RFC 3947 and the draft numbers), Main Mode 5 and Quick Mode encrypted, an
//! Informational with INITIAL-CONTACT and Delete, DPD R-U-THERE / ACK on UDP 500, and
//! messages on UDP 4500 behind the non-ESP marker (RFC 3948 §2.2).

use crate::common::Capture;
use shardvpn::wire::isakmp::attribute::{
    AuthenticationAlgorithm, AuthenticationMethod, EncapsulationMode, EncryptionAlgorithm,
    HashAlgorithm, IpsecClass, LifeType, Phase1Class,
};
use shardvpn::wire::isakmp::sa::{EspTransformId, IsakmpTransformId, situation};
use shardvpn::wire::isakmp::*;

const ICOOKIE: [u8; 8] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08];
const RCOOKIE: [u8; 8] = [0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8];
/// RFC 3948 §2.2: an IKE message on port 4500 starts with four zero bytes.
const NON_ESP_MARKER: [u8; 4] = [0; 4];

fn header(exchange_type: ExchangeType, rcookie: [u8; 8], flags: u8, message_id: u32) -> HeaderRepr {
    HeaderRepr {
        initiator_cookie: ICOOKIE,
        responder_cookie: rcookie,
        next_payload: PayloadType::None,
        minor_version: MINOR_VERSION,
        exchange_type,
        flags: Flags(flags),
        message_id,
        length: 0,
    }
}

fn build(header: HeaderRepr, payloads: &[Payload<'_>]) -> Vec<u8> {
    let b = MessageBuilder { header, payloads };
    let mut buf = vec![0u8; b.buffer_len()];
    b.emit(&mut buf);
    // What we built must parse back to the same payloads.
    let m = Message::parse_bytes(&buf).expect("built message parses");
    let typed: Vec<_> = m
        .payloads()
        .expect("clear")
        .typed()
        .collect::<Result<_, _>>()
        .expect("built payloads parse");
    assert_eq!(typed, payloads);
    buf
}

/// An encrypted message: header with the E flag, `ciphertext` as the body.
fn build_encrypted(mut header: HeaderRepr, first: PayloadType, ciphertext: &[u8]) -> Vec<u8> {
    header.next_payload = first;
    header.flags.0 |= Flags::ENCRYPTION;
    header.length = (HEADER_LEN + ciphertext.len()) as u32;
    let mut buf = vec![0u8; HEADER_LEN + ciphertext.len()];
    header.emit(&mut Packet::new_unchecked(&mut buf[..]));
    buf[HEADER_LEN..].copy_from_slice(ciphertext);
    assert!(Message::parse_bytes(&buf).unwrap().is_encrypted());
    buf
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const LIFE_28800: [u8; 4] = [0x00, 0x00, 0x70, 0x80];
const LIFE_86400: [u8; 4] = [0x00, 0x01, 0x51, 0x80];

fn p1_attrs(
    enc: EncryptionAlgorithm,
    key_len: Option<u16>,
    hash: HashAlgorithm,
    group: u16,
    life: &'static [u8],
) -> Vec<DataAttribute<'static>> {
    let mut v = vec![DataAttribute::basic(
        Phase1Class::EncryptionAlgorithm,
        enc.into(),
    )];
    if let Some(k) = key_len {
        v.push(DataAttribute::basic(Phase1Class::KeyLength, k));
    }
    v.extend([
        DataAttribute::basic(Phase1Class::HashAlgorithm, hash.into()),
        DataAttribute::basic(
            Phase1Class::AuthenticationMethod,
            AuthenticationMethod::PreSharedKey.into(),
        ),
        DataAttribute::basic(Phase1Class::GroupDescription, group),
        DataAttribute::basic(Phase1Class::LifeType, LifeType::Seconds.into()),
        DataAttribute::variable(Phase1Class::LifeDuration, life),
    ]);
    v
}

#[test]
fn main_mode_quick_mode_informational() {
    // --- Main Mode 1: two proposals, four transforms, six vendor IDs.
    let a1 = p1_attrs(
        EncryptionAlgorithm::AesCbc,
        Some(256),
        HashAlgorithm::Sha2_256,
        14,
        &LIFE_28800,
    );
    let a2 = p1_attrs(
        EncryptionAlgorithm::AesCbc,
        Some(128),
        HashAlgorithm::Sha1,
        2,
        &LIFE_28800,
    );
    let a3 = p1_attrs(
        EncryptionAlgorithm::TripleDesCbc,
        None,
        HashAlgorithm::Sha1,
        2,
        &LIFE_86400,
    );
    let a4 = p1_attrs(
        EncryptionAlgorithm::TripleDesCbc,
        None,
        HashAlgorithm::Md5,
        2,
        &LIFE_28800,
    );
    let key_ike = IsakmpTransformId::KeyIke.into();
    let t_p1 = [
        TransformRepr {
            number: 1,
            transform_id: key_ike,
            attributes: List::Items(&a1),
        },
        TransformRepr {
            number: 2,
            transform_id: key_ike,
            attributes: List::Items(&a2),
        },
        TransformRepr {
            number: 3,
            transform_id: key_ike,
            attributes: List::Items(&a3),
        },
    ];
    let t_p2 = [TransformRepr {
        number: 1,
        transform_id: key_ike,
        attributes: List::Items(&a4),
    }];
    let proposals = [
        ProposalRepr {
            number: 1,
            protocol: ProtocolId::Isakmp,
            spi: &[],
            transforms: List::Items(&t_p1),
        },
        ProposalRepr {
            number: 2,
            protocol: ProtocolId::Isakmp,
            spi: &[],
            transforms: List::Items(&t_p2),
        },
    ];
    let sa = |proposals| {
        Payload::Sa(SaRepr {
            doi: Doi::Ipsec,
            situation: situation::IDENTITY_ONLY,
            proposals,
        })
    };
    let vid = |v: &'static [u8]| Payload::VendorId(VendorIdRepr { vendor_id: v });
    let mut frag_vid = vendor_id::FRAGMENTATION.to_vec();
    frag_vid.extend_from_slice(&vendor_id::FRAGMENTATION_CAPABILITIES.to_be_bytes());
    let mm1 = build(
        header(ExchangeType::MAIN, [0; 8], 0, 0),
        &[
            sa(List::Items(&proposals)),
            vid(&vendor_id::NAT_T_RFC3947),
            vid(&vendor_id::NAT_T_DRAFT_02),
            vid(&vendor_id::NAT_T_DRAFT_02_N),
            vid(&vendor_id::NAT_T_DRAFT_03),
            vid(&vendor_id::DPD),
            Payload::VendorId(VendorIdRepr {
                vendor_id: &frag_vid,
            }),
        ],
    );

    // --- Main Mode 2: the chosen transform, RFC 3947 and DPD vendor IDs.
    let chosen = [TransformRepr {
        number: 2,
        transform_id: key_ike,
        attributes: List::Items(&a2),
    }];
    let chosen_prop = [ProposalRepr {
        number: 1,
        protocol: ProtocolId::Isakmp,
        spi: &[],
        transforms: List::Items(&chosen),
    }];
    let mm2 = build(
        header(ExchangeType::MAIN, RCOOKIE, 0, 0),
        &[
            sa(List::Items(&chosen_prop)),
            vid(&vendor_id::NAT_T_RFC3947),
            vid(&vendor_id::DPD),
        ],
    );

    // --- Main Mode 3 / 4: KE, nonce, NAT-D (RFC 3947 numbers, then draft numbers).
    let ke_i = [0x11u8; 128];
    let ke_r = [0x22u8; 128];
    let ni = [0x33u8; 32];
    let nr = [0x44u8; 16];
    let natd = [[0x55u8; 20], [0x66u8; 20]];
    let mm3 = build(
        header(ExchangeType::MAIN, RCOOKIE, 0, 0),
        &[
            Payload::KeyExchange(KeyExchangeRepr { key_data: &ke_i }),
            Payload::Nonce(NonceRepr { nonce: &ni }),
            Payload::NatD(NatDRepr { hash: &natd[0] }),
            Payload::NatD(NatDRepr { hash: &natd[1] }),
        ],
    );
    let mm4 = build(
        header(ExchangeType::MAIN, RCOOKIE, 0, 0),
        &[
            Payload::KeyExchange(KeyExchangeRepr { key_data: &ke_r }),
            Payload::Nonce(NonceRepr { nonce: &nr }),
            Payload::NatDDraft(NatDRepr { hash: &natd[0] }),
            Payload::NatDDraft(NatDRepr { hash: &natd[1] }),
        ],
    );

    // --- Main Mode 5 and Quick Mode 1: encrypted bodies.
    let cipher5: Vec<u8> = (0..48u8).map(|i| i.wrapping_mul(37)).collect();
    let mm5 = build_encrypted(
        header(ExchangeType::MAIN, RCOOKIE, 0, 0),
        PayloadType::Identification,
        &cipher5,
    );
    let cipher_qm: Vec<u8> = (0..96u8).map(|i| i.wrapping_mul(53) ^ 0x5a).collect();
    let qm1 = build_encrypted(
        header(ExchangeType::Quick, RCOOKIE, 0, 0x1122_3344),
        PayloadType::Hash,
        &cipher_qm,
    );

    // --- Informational (clear): INITIAL-CONTACT and a Delete of two ESP SPIs.
    let cookies = [ICOOKIE, RCOOKIE].concat();
    let spis = [0xc0, 0xff, 0xee, 0x01, 0xc0, 0xff, 0xee, 0x02];
    let info = build(
        header(ExchangeType::Informational, RCOOKIE, 0, 0x0bad_cafe),
        &[
            Payload::Notification(NotificationRepr {
                doi: Doi::Ipsec,
                protocol: ProtocolId::Isakmp,
                message_type: NotifyMessageType::InitialContact,
                spi: &cookies,
                data: &[],
            }),
            Payload::Delete(DeleteRepr {
                doi: Doi::Ipsec,
                protocol: ProtocolId::IpsecEsp,
                spi_size: 4,
                spis: &spis,
            }),
        ],
    );

    // --- DPD: R-U-THERE and its ACK (RFC 3706 §5), clear for the dissector's sake.
    let seq = 0x0000_1234u32.to_be_bytes();
    let dpd = |t| {
        [Payload::Notification(NotificationRepr {
            doi: Doi::Ipsec,
            protocol: ProtocolId::Isakmp,
            message_type: t,
            spi: &cookies,
            data: &seq,
        })]
    };
    let rut = build(
        header(ExchangeType::Informational, RCOOKIE, 0, 0x0101_0101),
        &dpd(NotifyMessageType::RUThere),
    );
    let ack = build(
        header(ExchangeType::Informational, RCOOKIE, 0, 0x0202_0202),
        &dpd(NotifyMessageType::RUThereAck),
    );

    let mut cap = Capture::raw_ip();
    cap.udp(500, 500, &mm1)
        .udp_reply(500, 500, &mm2)
        .udp(500, 500, &mm3)
        .udp_reply(500, 500, &mm4)
        .udp(500, 500, &mm5)
        .udp(500, 500, &qm1)
        .udp(500, 500, &info)
        .udp(500, 500, &rut)
        .udp_reply(500, 500, &ack);
    let d = cap.dissect();

    // Header fields, per frame.
    let ispi = hex(&ICOOKIE);
    let rspi = hex(&RCOOKIE);
    let ispis: Vec<_> = d.field("isakmp.ispi").into_iter().flatten().collect();
    assert_eq!(ispis, vec![ispi.clone(); 9]);
    let rspis: Vec<_> = d.field("isakmp.rspi").into_iter().flatten().collect();
    assert_eq!(rspis[0], "0000000000000000");
    assert!(rspis[1..].iter().all(|r| *r == rspi), "{rspis:?}");
    let exch: Vec<_> = d
        .field("isakmp.exchangetype")
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(exch, strs(&["2", "2", "2", "2", "2", "32", "5", "5", "5"]));
    let versions: Vec<_> = d.field("isakmp.version").into_iter().flatten().collect();
    assert_eq!(versions, vec!["0x10".to_string(); 9]);
    let msgid = d.field("isakmp.messageid");
    assert_eq!(msgid[5], ["0x11223344"]);
    assert_eq!(msgid[6], ["0x0badcafe"]);
    // Boolean fields print as 1/0 or True/False depending on the tshark version.
    let enc: Vec<bool> = d
        .field("isakmp.flag_e")
        .iter()
        .map(|e| e.len() == 1 && (e[0] == "1" || e[0].eq_ignore_ascii_case("true")))
        .collect();
    assert_eq!(
        enc,
        [false, false, false, false, true, true, false, false, false]
    );
    let lengths = d.field("isakmp.length");
    for (i, m) in [&mm1, &mm2, &mm3, &mm4, &mm5, &qm1, &info, &rut, &ack]
        .iter()
        .enumerate()
    {
        assert_eq!(lengths[i], [m.len().to_string()], "frame {i}");
    }

    // Payload types and chaining (isakmp.nextpayload: header first, then each payload).
    let types = d.field("isakmp.typepayload");
    assert_eq!(
        types[0],
        strs(&[
            "1", "2", "3", "3", "3", "2", "3", "13", "13", "13", "13", "13", "13"
        ])
    );
    assert_eq!(types[1], strs(&["1", "2", "3", "13", "13"]));
    assert_eq!(types[2], strs(&["4", "10", "20", "20"]));
    assert_eq!(types[3], strs(&["4", "10", "130", "130"]));
    assert_eq!(types[6], strs(&["11", "12"]));
    assert_eq!(types[7], strs(&["11"]));
    let next = d.field("isakmp.nextpayload");
    assert_eq!(next[2], strs(&["4", "10", "20", "20", "0"]));
    assert_eq!(next[4], strs(&["5"]));
    assert_eq!(next[5], strs(&["8"]));

    // Proposals and transforms.
    assert_eq!(d.field("isakmp.prop.number")[0], strs(&["1", "2"]));
    assert_eq!(d.field("isakmp.prop.transforms")[0], strs(&["3", "1"]));
    assert_eq!(
        d.field("isakmp.trans.number")[0],
        strs(&["1", "2", "3", "1"])
    );
    assert_eq!(d.field("isakmp.trans.id")[0], strs(&["1", "1", "1", "1"]));
    assert_eq!(d.field("isakmp.sa.doi")[0], strs(&["1"]));

    // Phase-1 attributes.
    assert_eq!(
        d.field("isakmp.ike.attr.encryption_algorithm")[0],
        strs(&["7", "7", "5", "5"])
    );
    assert_eq!(
        d.field("isakmp.ike.attr.key_length")[0],
        strs(&["256", "128"])
    );
    assert_eq!(
        d.field("isakmp.ike.attr.hash_algorithm")[0],
        strs(&["4", "2", "2", "1"])
    );
    assert_eq!(
        d.field("isakmp.ike.attr.group_description")[0],
        strs(&["14", "2", "2", "2"])
    );
    assert_eq!(
        d.field("isakmp.ike.attr.authentication_method")[1],
        strs(&["1"])
    );
    assert_eq!(
        d.field("isakmp.ike.attr.life_duration")[0],
        strs(&["28800", "28800", "86400", "28800"])
    );
    assert_eq!(
        d.field("isakmp.ike.attr.length")[0],
        strs(&["4", "4", "4", "4"])
    );

    // Vendor IDs.
    let frag_hex = hex(&frag_vid);
    assert_eq!(
        d.field("isakmp.vid_bytes")[0],
        vec![
            hex(&vendor_id::NAT_T_RFC3947),
            hex(&vendor_id::NAT_T_DRAFT_02),
            hex(&vendor_id::NAT_T_DRAFT_02_N),
            hex(&vendor_id::NAT_T_DRAFT_03),
            hex(&vendor_id::DPD),
            frag_hex,
        ]
    );
    let names = d.field("isakmp.vid_string");
    let joined = names[0].join("|");
    for want in [
        "RFC 3947",
        "draft-ietf-ipsec-nat-t-ike-02",
        "draft-ietf-ipsec-nat-t-ike-03",
        "Dead Peer Detection",
        "FRAGMENTATION",
    ] {
        assert!(
            joined
                .to_ascii_lowercase()
                .contains(&want.to_ascii_lowercase()),
            "{want} not in {joined}"
        );
    }

    // KE, nonce, NAT-D.
    assert_eq!(d.field("isakmp.key_exchange.data")[2], [hex(&ke_i)]);
    assert_eq!(d.field("isakmp.nonce")[2], [hex(&ni)]);
    assert_eq!(d.field("isakmp.nonce")[3], [hex(&nr)]);
    let nat_hashes = vec![hex(&natd[0]), hex(&natd[1])];
    assert_eq!(d.field("isakmp.ike.nat_hash")[2], nat_hashes);
    assert_eq!(d.field("isakmp.ike.nat_hash")[3], nat_hashes);

    // Notify, delete, DPD.
    let msgtypes = d.field("isakmp.notify.msgtype");
    assert_eq!(msgtypes[6], strs(&["24578"]));
    assert_eq!(msgtypes[7], strs(&["36136"]));
    assert_eq!(msgtypes[8], strs(&["36137"]));
    assert_eq!(d.field("isakmp.spisize")[6], strs(&["16", "4"]));
    assert_eq!(d.field("isakmp.spinum")[6], strs(&["2"]));
    assert_eq!(
        d.field("isakmp.delete.spi")[6],
        strs(&["c0ffee01", "c0ffee02"])
    );
    assert_eq!(
        d.field("isakmp.notify.data.dpd.are_you_there")[7],
        strs(&["4660"])
    );
    assert_eq!(
        d.field("isakmp.notify.data.dpd.are_you_there_ack")[8],
        strs(&["4660"])
    );
}

#[test]
fn udp_4500_non_esp_marker() {
    // A clear Quick Mode-shaped message on 4500: ESP AES-GCM-16 proposal with
    // UDP-encapsulated transport mode and NAT-OA under both numbers, then an
    // encrypted Quick Mode message.
    let attrs = [
        DataAttribute::basic(IpsecClass::SaLifeType, LifeType::Seconds.into()),
        DataAttribute::variable(IpsecClass::SaLifeDuration, &[0x00, 0x00, 0x0e, 0x10]),
        DataAttribute::basic(
            IpsecClass::EncapsulationMode,
            EncapsulationMode::UdpEncapsulatedTransport.into(),
        ),
        DataAttribute::basic(IpsecClass::KeyLength, 256),
    ];
    let attrs_cbc = [
        DataAttribute::basic(
            IpsecClass::EncapsulationMode,
            EncapsulationMode::UdpEncapsulatedTransportDraft.into(),
        ),
        DataAttribute::basic(
            IpsecClass::AuthenticationAlgorithm,
            AuthenticationAlgorithm::HmacSha1.into(),
        ),
        DataAttribute::basic(IpsecClass::KeyLength, 128),
    ];
    let t1 = [TransformRepr {
        number: 1,
        transform_id: EspTransformId::AesGcm16.into(),
        attributes: List::Items(&attrs),
    }];
    let t2 = [TransformRepr {
        number: 1,
        transform_id: EspTransformId::Aes.into(),
        attributes: List::Items(&attrs_cbc),
    }];
    let proposals = [
        ProposalRepr {
            number: 1,
            protocol: ProtocolId::IpsecEsp,
            spi: &[0xc0, 0xff, 0xee, 0x01],
            transforms: List::Items(&t1),
        },
        ProposalRepr {
            number: 2,
            protocol: ProtocolId::IpsecEsp,
            spi: &[0xc0, 0xff, 0xee, 0x01],
            transforms: List::Items(&t2),
        },
    ];
    let hash = [0x77u8; 20];
    let nonce = [0x88u8; 20];
    let id_addr = [10, 0, 0, 2];
    let oa_i = [192, 168, 1, 10];
    let oa_r = [203, 0, 113, 5];
    let clear = build(
        header(ExchangeType::Quick, RCOOKIE, 0, 0x5555_aaaa),
        &[
            Payload::Hash(HashRepr { hash: &hash }),
            Payload::Sa(SaRepr {
                doi: Doi::Ipsec,
                situation: situation::IDENTITY_ONLY,
                proposals: List::Items(&proposals),
            }),
            Payload::Nonce(NonceRepr { nonce: &nonce }),
            Payload::Identification(IdentificationRepr {
                id_type: IdType::Ipv4Addr,
                protocol: 17,
                port: 1701,
                data: &id_addr,
            }),
            Payload::NatOa(NatOaRepr {
                id_type: IdType::Ipv4Addr,
                address: &oa_i,
            }),
            Payload::NatOaDraft(NatOaRepr {
                id_type: IdType::Ipv4Addr,
                address: &oa_r,
            }),
        ],
    );
    let cipher: Vec<u8> = (0..64u8).map(|i| i ^ 0xa5).collect();
    let enc = build_encrypted(
        header(ExchangeType::Quick, RCOOKIE, 0, 0x5555_aaaa),
        PayloadType::Hash,
        &cipher,
    );

    let mut cap = Capture::raw_ip();
    cap.udp(4500, 4500, &[&NON_ESP_MARKER[..], &clear].concat())
        .udp_reply(4500, 4500, &[&NON_ESP_MARKER[..], &enc].concat());
    let d = cap.dissect();

    assert_eq!(d.field("isakmp.ispi"), vec![vec![hex(&ICOOKIE)]; 2]);
    assert_eq!(d.field("isakmp.exchangetype"), vec![strs(&["32"]); 2]);
    assert_eq!(
        d.field("isakmp.typepayload")[0],
        strs(&["8", "1", "2", "3", "2", "3", "10", "5", "21", "131"])
    );
    assert_eq!(d.field("isakmp.prop.protoid")[0], strs(&["3", "3"]));
    assert_eq!(d.field("isakmp.spi")[0], strs(&["c0ffee01", "c0ffee01"]));
    assert_eq!(d.field("isakmp.trans.id")[0], strs(&["20", "12"]));
    assert_eq!(
        d.field("isakmp.ipsec.attr.encap_mode")[0],
        strs(&["4", "61444"])
    );
    assert_eq!(
        d.field("isakmp.ipsec.attr.key_length")[0],
        strs(&["256", "128"])
    );
    assert_eq!(d.field("isakmp.ipsec.attr.auth_algorithm")[0], strs(&["2"]));
    assert_eq!(
        d.field("isakmp.ipsec.attr.life_duration")[0],
        strs(&["3600"])
    );
    // The ID payload and both NAT-OA payloads carry an ID type (ID_IPV4_ADDR).
    assert_eq!(d.field("isakmp.id.type")[0], strs(&["1", "1", "1"]));
    assert_eq!(d.field("isakmp.id.port")[0], strs(&["1701"]));
    assert_eq!(d.field("isakmp.id.data.ipv4_addr")[0], strs(&["10.0.0.2"]));
    assert_eq!(
        d.field("isakmp.ike.nat_original_address_ipv4")[0],
        strs(&["192.168.1.10", "203.0.113.5"])
    );
    assert_eq!(d.field("isakmp.hash")[0], [hex(&hash)]);
    assert_eq!(d.field("isakmp.nextpayload")[1], strs(&["8"]));
    assert_eq!(d.field("isakmp.length")[1], [enc.len().to_string()]);
}

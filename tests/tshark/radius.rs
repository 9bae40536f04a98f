//! RADIUS (RFC 2865, 2866, 2869, 5176, 2548) built with `wire::radius` and dissected by
//! tshark over UDP 1812 / 1813 / 3799. No shared secret is configured, so tshark does
//! not try to verify authenticators or decrypt User-Password; authenticators here are
//! fixed patterns, not computed.

use std::net::Ipv4Addr;

use shardvpn::wire::radius::attribute::{
    AcctStatusType, AcctTerminateCause, ChapPassword, ErrorCause, NasPortType, ServiceType,
};
use shardvpn::wire::radius::vendor::{MppeKey, MsChap2Response};
use shardvpn::wire::radius::{
    ACCOUNTING_PORT, AUTH_PORT, Attribute, Code, DYNAMIC_AUTHORIZATION_PORT, PacketBuilder,
    VendorAttribute,
};

use crate::common::Capture;

const CLIENT_PORT: u16 = 40000;

fn build(code: Code, identifier: u8, attributes: &[Attribute<'_>]) -> Vec<u8> {
    let mut buf = [0u8; 4096];
    let authenticator = [identifier; 16];
    let mut builder = PacketBuilder::new(&mut buf, code, identifier, &authenticator).unwrap();
    for a in attributes {
        builder.push(a).unwrap();
    }
    builder.finish().to_vec()
}

fn one(d: &crate::common::Dissection, field: &str) -> Vec<String> {
    d.field(field)
        .into_iter()
        .map(|mut v| {
            assert!(v.len() <= 1, "{field}: {v:?}");
            v.pop().unwrap_or_default()
        })
        .collect()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|s| s.to_string()).collect()
}

#[test]
fn access_request_accept_pap_chap_mschapv2() {
    let pap = build(
        Code::AccessRequest,
        1,
        &[
            Attribute::UserName(b"alice"),
            Attribute::UserPassword(&[0x5a; 32]),
            Attribute::NasIpAddress(Ipv4Addr::new(192, 0, 2, 1)),
            Attribute::NasPortType(NasPortType::Virtual),
            Attribute::CallingStationId(b"198.51.100.7"),
            Attribute::MessageAuthenticator([0; 16]),
        ],
    );
    let chap = build(
        Code::AccessRequest,
        2,
        &[
            Attribute::UserName(b"bob"),
            Attribute::ChapPassword(ChapPassword {
                ident: 7,
                response: [0x11; 16],
            }),
            Attribute::ChapChallenge(&[0x22; 16]),
        ],
    );
    let mschapv2 = build(
        Code::AccessRequest,
        3,
        &[
            Attribute::UserName(b"carol"),
            Attribute::Vendor(VendorAttribute::MsChapChallenge(&[0x33; 16])),
            Attribute::Vendor(VendorAttribute::MsChap2Response(MsChap2Response {
                ident: 9,
                flags: 0,
                peer_challenge: [0x44; 16],
                response: [0x55; 24],
            })),
        ],
    );
    let accept = build(
        Code::AccessAccept,
        3,
        &[
            Attribute::ServiceType(ServiceType::Framed),
            Attribute::FramedIpAddress(Ipv4Addr::new(10, 10, 0, 5)),
            Attribute::SessionTimeout(86400),
            Attribute::Class(b"cls"),
            Attribute::Vendor(VendorAttribute::MsChap2Success {
                ident: 9,
                message: b"S=407A5589115FD0D6209F510FE9C04566932CDA56",
            }),
            Attribute::Vendor(VendorAttribute::MsMppeSendKey(MppeKey {
                salt: 0x8001,
                encrypted: &[0x66; 32],
            })),
            Attribute::Vendor(VendorAttribute::MsMppeRecvKey(MppeKey {
                salt: 0x8002,
                encrypted: &[0x77; 32],
            })),
            Attribute::Vendor(VendorAttribute::MsPrimaryDnsServer(Ipv4Addr::new(
                9, 9, 9, 9,
            ))),
            Attribute::Vendor(VendorAttribute::MikrotikRateLimit(b"10M/20M")),
        ],
    );
    let reject = build(Code::AccessReject, 2, &[Attribute::ReplyMessage(b"no")]);

    let mut cap = Capture::raw_ip();
    cap.udp(CLIENT_PORT, AUTH_PORT, &pap);
    cap.udp(CLIENT_PORT, AUTH_PORT, &chap);
    cap.udp(CLIENT_PORT, AUTH_PORT, &mschapv2);
    cap.udp_reply(AUTH_PORT, CLIENT_PORT, &accept);
    cap.udp_reply(AUTH_PORT, CLIENT_PORT, &reject);
    let d = cap.dissect();

    assert_eq!(one(&d, "radius.code"), strings(&["1", "1", "1", "2", "3"]));
    assert_eq!(one(&d, "radius.id"), strings(&["1", "2", "3", "3", "2"]));
    let lengths: Vec<String> = [&pap, &chap, &mschapv2, &accept, &reject]
        .iter()
        .map(|p| p.len().to_string())
        .collect();
    assert_eq!(one(&d, "radius.length"), lengths);

    // PAP request.
    assert_eq!(
        one(&d, "radius.User_Name")[..3],
        strings(&["alice", "bob", "carol"])
    );
    assert_eq!(
        one(&d, "radius.User_Password_encrypted")[0],
        "5a".repeat(32)
    );
    assert_eq!(one(&d, "radius.NAS_IP_Address")[0], "192.0.2.1");
    assert_eq!(one(&d, "radius.NAS_Port_Type")[0], "5");
    assert_eq!(one(&d, "radius.Calling_Station_Id")[0], "198.51.100.7");
    assert_eq!(one(&d, "radius.Message_Authenticator")[0], "00".repeat(16));
    // CHAP request.
    assert_eq!(one(&d, "radius.CHAP_Ident")[1], "0x07");
    assert_eq!(one(&d, "radius.CHAP_String")[1], "11".repeat(16));
    assert_eq!(one(&d, "radius.CHAP_Challenge")[1], "22".repeat(16));
    // MS-CHAPv2 request.
    assert_eq!(d.field("radius.avp.vendor_id")[2], strings(&["311", "311"]));
    assert_eq!(d.field("radius.avp.vendor_type")[2], strings(&["11", "25"]));
    assert_eq!(one(&d, "radius.MS_CHAP_Challenge")[2], "33".repeat(16));
    let response = format!(
        "0900{}{}{}",
        "44".repeat(16),
        "00".repeat(8),
        "55".repeat(24)
    );
    assert_eq!(one(&d, "radius.MS_CHAP2_Response")[2], response);
    // Access-Accept.
    assert_eq!(one(&d, "radius.Service_Type")[3], "2");
    assert_framed_ip_address(&d, "10.10.0.5");
    assert_eq!(one(&d, "radius.Session_Timeout")[3], "86400");
    assert_eq!(one(&d, "radius.Class")[3], "636c73");
    let success = format!("09{}", hex(b"S=407A5589115FD0D6209F510FE9C04566932CDA56"));
    assert_eq!(one(&d, "radius.MS_CHAP2_Success")[3], success);
    assert_eq!(
        one(&d, "radius.MS_MPPE_Send_Key")[3],
        format!("8001{}", "66".repeat(32))
    );
    assert_eq!(
        one(&d, "radius.MS_MPPE_Recv_Key")[3],
        format!("8002{}", "77".repeat(32))
    );
    assert_eq!(one(&d, "radius.MS_Primary_DNS_Server")[3], "9.9.9.9");
    assert_eq!(one(&d, "radius.Mikrotik_Rate_Limit")[3], "10M/20M");
    assert_eq!(
        d.field("radius.avp.vendor_id")[3],
        strings(&["311", "311", "311", "311", "14988"])
    );
    assert_eq!(
        d.field("radius.avp.vendor_type")[3],
        strings(&["26", "16", "17", "28", "8"])
    );
}

/// tshark 4.0 shows Framed-IP-Address in the tree but leaves `-e
/// radius.Framed_IP_Address` empty (its dissector adds the item under another field
/// registration of the same name), so this checks the `-V` text.
fn assert_framed_ip_address(d: &crate::common::Dissection, address: &str) {
    let line = format!("Framed-IP-Address: {address}");
    assert!(d.text().contains(&line), "{line} not in:\n{}", d.text());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn accounting_start_interim_stop() {
    let common = |status: AcctStatusType| {
        [
            Attribute::AcctStatusType(status),
            Attribute::AcctSessionId(b"5f00000a"),
            Attribute::UserName(b"alice"),
            Attribute::NasPortType(NasPortType::Virtual),
            Attribute::FramedIpAddress(Ipv4Addr::new(10, 10, 0, 5)),
            Attribute::EventTimestamp(1_700_000_000),
        ]
    };
    let start = build(Code::AccountingRequest, 10, &common(AcctStatusType::Start));
    let mut interim_attrs = common(AcctStatusType::InterimUpdate).to_vec();
    interim_attrs.extend([
        Attribute::AcctSessionTime(300),
        Attribute::AcctInputOctets(123_456),
        Attribute::AcctOutputOctets(654_321),
        Attribute::AcctInputPackets(100),
        Attribute::AcctOutputPackets(200),
    ]);
    let interim = build(Code::AccountingRequest, 11, &interim_attrs);
    let mut stop_attrs = common(AcctStatusType::Stop).to_vec();
    stop_attrs.extend([
        Attribute::AcctSessionTime(3600),
        Attribute::AcctInputOctets(0x8000_0000),
        Attribute::AcctOutputOctets(42),
        Attribute::AcctInputGigawords(3),
        Attribute::AcctOutputGigawords(1),
        Attribute::AcctTerminateCause(AcctTerminateCause::UserRequest),
    ]);
    let stop = build(Code::AccountingRequest, 12, &stop_attrs);
    let response = build(Code::AccountingResponse, 12, &[]);

    let mut cap = Capture::raw_ip();
    cap.udp(CLIENT_PORT, ACCOUNTING_PORT, &start);
    cap.udp(CLIENT_PORT, ACCOUNTING_PORT, &interim);
    cap.udp(CLIENT_PORT, ACCOUNTING_PORT, &stop);
    cap.udp_reply(ACCOUNTING_PORT, CLIENT_PORT, &response);
    let d = cap.dissect();

    assert_eq!(one(&d, "radius.code"), strings(&["4", "4", "4", "5"]));
    assert_eq!(one(&d, "radius.id"), strings(&["10", "11", "12", "12"]));
    let lengths: Vec<String> = [&start, &interim, &stop, &response]
        .iter()
        .map(|p| p.len().to_string())
        .collect();
    assert_eq!(one(&d, "radius.length"), lengths);
    assert_eq!(
        one(&d, "radius.Acct_Status_Type"),
        strings(&["1", "3", "2", ""])
    );
    assert_eq!(
        one(&d, "radius.Acct_Session_Id")[..3],
        strings(&["5f00000a"; 3])
    );
    assert_eq!(
        one(&d, "radius.Acct_Session_Time"),
        strings(&["", "300", "3600", ""])
    );
    assert_eq!(
        one(&d, "radius.Acct_Input_Octets"),
        strings(&["", "123456", "2147483648", ""])
    );
    assert_eq!(
        one(&d, "radius.Acct_Output_Octets"),
        strings(&["", "654321", "42", ""])
    );
    assert_eq!(one(&d, "radius.Acct_Input_Packets")[1], "100");
    assert_eq!(one(&d, "radius.Acct_Output_Packets")[1], "200");
    assert_eq!(one(&d, "radius.Acct_Input_Gigawords")[2], "3");
    assert_eq!(one(&d, "radius.Acct_Output_Gigawords")[2], "1");
    assert_eq!(one(&d, "radius.Acct_Terminate_Cause")[2], "1");
    assert_framed_ip_address(&d, "10.10.0.5");
    // 1 700 000 000 s after the epoch (RFC 2869 §5.3).
    assert!(
        d.text()
            .contains("Event-Timestamp: Nov 14, 2023 22:13:20.000000000 UTC"),
        "{}",
        d.text()
    );
}

#[test]
fn disconnect_and_coa() {
    let disconnect = build(
        Code::DisconnectRequest,
        20,
        &[
            Attribute::UserName(b"alice"),
            Attribute::AcctSessionId(b"5f00000a"),
            Attribute::NasIpAddress(Ipv4Addr::new(192, 0, 2, 1)),
        ],
    );
    let disconnect_ack = build(Code::DisconnectAck, 20, &[]);
    let disconnect_nak = build(
        Code::DisconnectNak,
        21,
        &[Attribute::ErrorCause(ErrorCause::SessionContextNotFound)],
    );
    let coa = build(
        Code::CoaRequest,
        22,
        &[
            Attribute::AcctSessionId(b"5f00000a"),
            Attribute::SessionTimeout(600),
            Attribute::Vendor(VendorAttribute::MikrotikRateLimit(b"1M/1M")),
        ],
    );
    let coa_ack = build(Code::CoaAck, 22, &[]);
    let coa_nak = build(
        Code::CoaNak,
        23,
        &[Attribute::ErrorCause(ErrorCause::UnsupportedAttribute)],
    );

    let mut cap = Capture::raw_ip();
    // The RADIUS server is the client of the NAS on 3799 (RFC 5176 §3).
    cap.udp(CLIENT_PORT, DYNAMIC_AUTHORIZATION_PORT, &disconnect);
    cap.udp_reply(DYNAMIC_AUTHORIZATION_PORT, CLIENT_PORT, &disconnect_ack);
    cap.udp_reply(DYNAMIC_AUTHORIZATION_PORT, CLIENT_PORT, &disconnect_nak);
    cap.udp(CLIENT_PORT, DYNAMIC_AUTHORIZATION_PORT, &coa);
    cap.udp_reply(DYNAMIC_AUTHORIZATION_PORT, CLIENT_PORT, &coa_ack);
    cap.udp_reply(DYNAMIC_AUTHORIZATION_PORT, CLIENT_PORT, &coa_nak);
    let d = cap.dissect();

    assert_eq!(
        one(&d, "radius.code"),
        strings(&["40", "41", "42", "43", "44", "45"])
    );
    assert_eq!(
        one(&d, "radius.id"),
        strings(&["20", "20", "21", "22", "22", "23"])
    );
    let lengths: Vec<String> = [
        &disconnect,
        &disconnect_ack,
        &disconnect_nak,
        &coa,
        &coa_ack,
        &coa_nak,
    ]
    .iter()
    .map(|p| p.len().to_string())
    .collect();
    assert_eq!(one(&d, "radius.length"), lengths);
    assert_eq!(one(&d, "radius.User_Name")[0], "alice");
    assert_eq!(one(&d, "radius.Acct_Session_Id")[3], "5f00000a");
    assert_eq!(one(&d, "radius.Session_Timeout")[3], "600");
    assert_eq!(one(&d, "radius.Mikrotik_Rate_Limit")[3], "1M/1M");
    assert_eq!(
        one(&d, "radius.Error_Cause"),
        strings(&["", "", "503", "", "", "401"])
    );
}

/// The RFC 2865 §7.1 and §7.2 example packets: our parser and tshark agree on the
/// header and on every attribute's type and length.
#[test]
fn rfc2865_examples_parse_like_tshark() {
    use hex_literal::hex;
    use shardvpn::wire::radius::{Packet, Repr};

    let vectors: [&[u8]; 4] = [
        &hex!(
            "01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb"
            "98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d"
            "93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8"
            "01 10 05 06 00 00 00 03"
        ),
        &hex!(
            "02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf"
            "9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00"
            "0e 06 c0 a8 01 03"
        ),
        &hex!(
            "01 01 00 47 2a ee 86 f0 8d 0d 55 96 9c a5 97 8e"
            "0d 33 67 a2 01 08 66 6c 6f 70 73 79 03 13 16 e9"
            "75 57 c3 16 18 58 95 f2 93 ff 63 44 07 72 75 04"
            "06 c0 a8 01 10 05 06 00 00 00 14 06 06 00 00 00"
            "02 07 06 00 00 00 01"
        ),
        &hex!(
            "02 01 00 38 15 ef bc 7d ab 26 cf a3 dc 34 d9 c0"
            "3c 86 01 a4 06 06 00 00 00 02 07 06 00 00 00 01"
            "08 06 ff ff ff fe 0a 06 00 00 00 02 0d 06 00 00"
            "00 01 0c 06 00 00 05 dc"
        ),
    ];
    let mut cap = Capture::raw_ip();
    cap.udp(CLIENT_PORT, AUTH_PORT, vectors[0]);
    cap.udp_reply(AUTH_PORT, CLIENT_PORT, vectors[1]);
    cap.udp(CLIENT_PORT + 1, AUTH_PORT, vectors[2]);
    cap.udp_reply(AUTH_PORT, CLIENT_PORT + 1, vectors[3]);
    let d = cap.dissect();

    let codes = one(&d, "radius.code");
    let ids = one(&d, "radius.id");
    let lengths = one(&d, "radius.length");
    let types = d.field("radius.avp.type");
    let avp_lengths = d.field("radius.avp.length");
    for (i, bytes) in vectors.iter().enumerate() {
        let packet = Packet::new_checked(*bytes).unwrap();
        let repr = Repr::parse(&packet).unwrap();
        assert_eq!(codes[i], u8::from(repr.code).to_string());
        assert_eq!(ids[i], repr.identifier.to_string());
        assert_eq!(lengths[i], packet.length().to_string());
        let ours: Vec<(String, String)> = repr
            .attributes
            .iter()
            .map(|a| {
                let a = a.unwrap();
                (
                    u8::from(a.attribute_type).to_string(),
                    a.buffer_len().to_string(),
                )
            })
            .collect();
        let theirs: Vec<(String, String)> = types[i]
            .iter()
            .cloned()
            .zip(avp_lengths[i].iter().cloned())
            .collect();
        assert_eq!(ours, theirs, "frame {i}");
    }
    assert_eq!(
        one(&d, "radius.User_Name"),
        strings(&["nemo", "", "flopsy", ""])
    );
    assert_eq!(one(&d, "radius.NAS_Port"), strings(&["3", "", "20", ""]));
    assert_eq!(one(&d, "radius.Framed_MTU")[3], "1500");
}

/// The wire layer and `crypto::radius` together rebuild the RFC 2865 §7.1 exchange
/// byte for byte (hidden password, Response Authenticator), and the value ranges the
/// wire layer reports are the ones the crypto hides, reveals and signs in place.
#[test]
fn rfc2865_exchange_rebuilt_with_crypto() {
    use hex_literal::hex;
    use shardvpn::crypto::radius as crypto;
    use shardvpn::crypto::radius::AuthenticatorBasis;
    use shardvpn::wire::radius::vendor::VENDOR_MICROSOFT;
    use shardvpn::wire::radius::{AttributeRepr, AttributeType, Packet};

    const SECRET: &[u8] = b"xyzzy5461";
    const REQUEST_AUTHENTICATOR: [u8; 16] = hex!("0f403f94739780 57bd83d5cb98f4227a");
    let request_vector = hex!(
        "01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb"
        "98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d"
        "93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8"
        "01 10 05 06 00 00 00 03"
    );
    let accept_vector = hex!(
        "02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf"
        "9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00"
        "0e 06 c0 a8 01 03"
    );

    // Access-Request: hide "arctangent", then build.
    let mut hidden = [0u8; 128];
    let hidden =
        crypto::hide_user_password(SECRET, &REQUEST_AUTHENTICATOR, b"arctangent", &mut hidden)
            .unwrap();
    let mut buf = [0u8; 4096];
    let mut b =
        PacketBuilder::new(&mut buf, Code::AccessRequest, 0, &REQUEST_AUTHENTICATOR).unwrap();
    b.push(&Attribute::UserName(b"nemo")).unwrap();
    b.push(&Attribute::UserPassword(hidden)).unwrap();
    b.push(&Attribute::NasIpAddress(Ipv4Addr::new(192, 168, 1, 16)))
        .unwrap();
    b.push(&Attribute::NasPort(3)).unwrap();
    let request = b.finish().to_vec();
    assert_eq!(request, request_vector);

    // The server reveals it in place, at the range the wire layer reports.
    let mut received = request.clone();
    let range = Packet::new_checked(&received[..])
        .unwrap()
        .attribute_value_range(AttributeType::UserPassword)
        .unwrap()
        .unwrap();
    let password =
        crypto::unhide_user_password(SECRET, &REQUEST_AUTHENTICATOR, &mut received[range]).unwrap();
    assert_eq!(password, b"arctangent");

    // Access-Accept: Service-Type Login, Login-Service Telnet (15), Login-IP-Host (14);
    // then the Response Authenticator.
    let mut buf = [0u8; 4096];
    let mut b = PacketBuilder::new(&mut buf, Code::AccessAccept, 0, &[0; 16]).unwrap();
    b.push(&Attribute::ServiceType(ServiceType::Login)).unwrap();
    b.push_repr(&AttributeRepr {
        attribute_type: 15.into(),
        value: &[0, 0, 0, 0],
    })
    .unwrap();
    b.push_repr(&AttributeRepr {
        attribute_type: 14.into(),
        value: &[192, 168, 1, 3],
    })
    .unwrap();
    let accept = b.finish();
    crypto::set_response_authenticator(accept, &REQUEST_AUTHENTICATOR, SECRET).unwrap();
    assert_eq!(accept, &accept_vector[..]);

    // An Access-Accept for MS-CHAPv2 with a Message-Authenticator and an MPPE key,
    // signed at the ranges the builder and the parser report.
    let send_key = [0x42u8; 16];
    let mut hidden_key = [0u8; 64];
    let hidden_key = crypto::hide_mppe_key(
        SECRET,
        &REQUEST_AUTHENTICATOR,
        [0x80, 0x01],
        &send_key,
        &mut hidden_key,
    )
    .unwrap();
    let (salt, encrypted) = hidden_key.split_at(2);
    let mut buf = [0u8; 4096];
    let mut b = PacketBuilder::new(&mut buf, Code::AccessAccept, 0, &[0; 16]).unwrap();
    b.push(&Attribute::MessageAuthenticator([0; 16])).unwrap();
    b.push(&Attribute::Vendor(VendorAttribute::MsMppeSendKey(
        MppeKey {
            salt: u16::from_be_bytes([salt[0], salt[1]]),
            encrypted,
        },
    )))
    .unwrap();
    let range = b.message_authenticator_range().unwrap();
    let accept = b.finish();
    let basis = AuthenticatorBasis::Request(&REQUEST_AUTHENTICATOR);
    crypto::fill_message_authenticator(accept, range, basis, SECRET).unwrap();
    crypto::set_response_authenticator(accept, &REQUEST_AUTHENTICATOR, SECRET).unwrap();

    let mut received = accept.to_vec();
    let packet = Packet::new_checked(&received[..]).unwrap();
    let ma_range = packet.message_authenticator_range().unwrap().unwrap();
    let key_range = packet
        .vendor_value_range(VENDOR_MICROSOFT, 16)
        .unwrap()
        .unwrap();
    crypto::verify_response_authenticator(&received, &REQUEST_AUTHENTICATOR, SECRET).unwrap();
    crypto::verify_message_authenticator(&received, ma_range.clone(), basis, SECRET).unwrap();
    let key =
        crypto::unhide_mppe_key(SECRET, &REQUEST_AUTHENTICATOR, &mut received[key_range]).unwrap();
    assert_eq!(key, send_key);
    // A flipped octet fails both checks.
    let mut tampered = accept.to_vec();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(
        crypto::verify_response_authenticator(&tampered, &REQUEST_AUTHENTICATOR, SECRET).is_err()
    );
    assert!(crypto::verify_message_authenticator(&tampered, ma_range, basis, SECRET).is_err());

    // tshark reads the signed packets cleanly (no secret configured).
    let mut cap = Capture::raw_ip();
    cap.udp(CLIENT_PORT, AUTH_PORT, &request);
    cap.udp_reply(AUTH_PORT, CLIENT_PORT, accept);
    let d = cap.dissect();
    assert_eq!(one(&d, "radius.code"), strings(&["1", "2"]));
    assert_eq!(
        one(&d, "radius.MS_MPPE_Send_Key")[1],
        hex_string(hidden_key)
    );
}

fn hex_string(bytes: &[u8]) -> String {
    hex(bytes)
}

//! L2TPv2 (RFC 2661) built by `wire::l2tp` and dissected by tshark: a whole tunnel and
//! session setup and teardown, SLI, a ZLB, a data message with every optional header
//! field, and hidden AVPs.

use crate::common::Capture;
use shardvpn::crypto::l2tp as l2tp_crypto;
use shardvpn::wire::l2tp::avp::{
    self, Accm, AvpRepr, AvpValue, Bearer, Framing, MessageType, ProxyAuthenType, ResultCode,
};
use shardvpn::wire::l2tp::{self, Packet, Repr, Sequence};

const PORT: u16 = l2tp::UDP_PORT;
const LAC_TUNNEL: u16 = 0x1111;
const LNS_TUNNEL: u16 = 0x2222;
const LAC_SESSION: u16 = 0x0a0a;
const LNS_SESSION: u16 = 0x0b0b;
/// An enterprise number reserved for documentation (RFC 5612), for a vendor AVP that
/// tshark has no dissector for.
const EXAMPLE_VENDOR: u16 = 32473;

/// LCP options as a LAC would relay them: MRU 1500, Magic-Number 0x12345678.
const LCP_OPTIONS: [u8; 10] = [0x01, 0x04, 0x05, 0xdc, 0x05, 0x06, 0x12, 0x34, 0x56, 0x78];

/// A control message whose AVPs are typed values (all mandatory except where the RFC
/// makes them optional) plus extra raw AVPs at the end.
fn control(
    tunnel_id: u16,
    session_id: u16,
    ns: u16,
    nr: u16,
    values: &[AvpValue<'_>],
    raw: &[AvpRepr<'_>],
) -> Vec<u8> {
    let mut avps = Vec::new();
    for v in values {
        let mut one = vec![0; v.avp_len()];
        v.emit_avp(true, &mut one);
        avps.extend_from_slice(&one);
    }
    let mut tail = vec![0; avp::chain_len(raw)];
    avp::emit_chain(raw, &mut tail);
    avps.extend_from_slice(&tail);
    let repr = Repr::control(tunnel_id, session_id, ns, nr, &avps);
    let mut out = vec![0; repr.buffer_len()];
    repr.emit(&mut Packet::new_unchecked(&mut out[..]));
    // Our own parser agrees before tshark is asked.
    let packet = Packet::new_checked(&out[..]).unwrap();
    assert_eq!(Repr::parse(&packet).unwrap(), repr);
    assert!(packet.avps().all(|a| a.is_ok()));
    out
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn tunnel_and_session_lifecycle() {
    let challenge = [0x42u8; 16];
    // Tunnel authentication (§4.4.3): the SCCRP answers the SCCRQ's Challenge.
    let sccrp_response =
        l2tp_crypto::challenge_response(l2tp_crypto::CHAP_ID_SCCRP, b"tunnel-secret", &challenge);
    let response = [0x5au8; 16];
    let vendor_avp = AvpRepr {
        mandatory: false,
        hidden: false,
        reserved: 0,
        vendor_id: EXAMPLE_VENDOR,
        attribute_type: 7,
        value: &[0xde, 0xad, 0xbe, 0xef],
    };
    let sccrq = control(
        0,
        0,
        0,
        0,
        &[
            AvpValue::MessageType(MessageType::Sccrq),
            AvpValue::ProtocolVersion {
                version: 1,
                revision: 0,
            },
            AvpValue::HostName(b"lac.example"),
            AvpValue::FramingCapabilities(Framing(Framing::SYNC | Framing::ASYNC)),
            AvpValue::BearerCapabilities(Bearer(Bearer::ANALOG)),
            AvpValue::FirmwareRevision(0x0690),
            AvpValue::VendorName(b"shardvpn"),
            AvpValue::ReceiveWindowSize(4),
            AvpValue::AssignedTunnelId(LAC_TUNNEL),
            AvpValue::Challenge(&challenge),
        ],
        &[vendor_avp],
    );
    let sccrp = control(
        LAC_TUNNEL,
        0,
        0,
        1,
        &[
            AvpValue::MessageType(MessageType::Sccrp),
            AvpValue::ProtocolVersion {
                version: 1,
                revision: 0,
            },
            AvpValue::FramingCapabilities(Framing(Framing::SYNC)),
            AvpValue::HostName(b"lns.example"),
            AvpValue::AssignedTunnelId(LNS_TUNNEL),
            AvpValue::ChallengeResponse(sccrp_response),
        ],
        &[],
    );
    let scccn = control(
        LNS_TUNNEL,
        0,
        1,
        1,
        &[
            AvpValue::MessageType(MessageType::Scccn),
            AvpValue::ChallengeResponse(response),
        ],
        &[],
    );
    let zlb = control(LAC_TUNNEL, 0, 1, 2, &[], &[]);
    let hello = control(
        LNS_TUNNEL,
        0,
        2,
        1,
        &[AvpValue::MessageType(MessageType::Hello)],
        &[],
    );
    let icrq = control(
        LNS_TUNNEL,
        0,
        3,
        1,
        &[
            AvpValue::MessageType(MessageType::Icrq),
            AvpValue::AssignedSessionId(LAC_SESSION),
            AvpValue::CallSerialNumber(42),
            AvpValue::BearerType(Bearer(Bearer::DIGITAL)),
            AvpValue::PhysicalChannelId(7),
            AvpValue::CallingNumber(b"5551234"),
            AvpValue::CalledNumber(b"5556789"),
        ],
        &[],
    );
    let icrp = control(
        LAC_TUNNEL,
        LAC_SESSION,
        1,
        4,
        &[
            AvpValue::MessageType(MessageType::Icrp),
            AvpValue::AssignedSessionId(LNS_SESSION),
        ],
        &[],
    );
    let iccn = control(
        LNS_TUNNEL,
        LNS_SESSION,
        4,
        2,
        &[
            AvpValue::MessageType(MessageType::Iccn),
            AvpValue::TxConnectSpeed(10_000_000),
            AvpValue::FramingType(Framing(Framing::SYNC)),
            AvpValue::InitialReceivedLcpConfreq(&LCP_OPTIONS),
            AvpValue::LastSentLcpConfreq(&LCP_OPTIONS),
            AvpValue::LastReceivedLcpConfreq(&LCP_OPTIONS),
            AvpValue::ProxyAuthenType(ProxyAuthenType::Chap),
            AvpValue::ProxyAuthenName(b"alice"),
            AvpValue::ProxyAuthenChallenge(&challenge),
            AvpValue::ProxyAuthenId(9),
            AvpValue::ProxyAuthenResponse(&response),
            AvpValue::RxConnectSpeed(2_000_000),
            AvpValue::SequencingRequired,
        ],
        &[],
    );
    let sli = control(
        LNS_TUNNEL,
        LNS_SESSION,
        5,
        2,
        &[
            AvpValue::MessageType(MessageType::Sli),
            AvpValue::Accm(Accm {
                send_accm: 0,
                receive_accm: 0xffff_ffff,
            }),
        ],
        &[],
    );
    let cdn = control(
        LAC_TUNNEL,
        LAC_SESSION,
        2,
        6,
        &[
            AvpValue::MessageType(MessageType::Cdn),
            AvpValue::ResultCode(ResultCode {
                result: 2,
                error: Some(6),
                message: Some(b"vendor error"),
            }),
            AvpValue::AssignedSessionId(LNS_SESSION),
        ],
        &[],
    );
    let stop = control(
        LAC_TUNNEL,
        0,
        3,
        6,
        &[
            AvpValue::MessageType(MessageType::StopCcn),
            AvpValue::AssignedTunnelId(LNS_TUNNEL),
            AvpValue::ResultCode(ResultCode {
                result: 1,
                error: None,
                message: None,
            }),
        ],
        &[],
    );

    let mut cap = Capture::raw_ip();
    cap.udp(PORT, PORT, &sccrq) // 0
        .udp_reply(PORT, PORT, &sccrp) // 1
        .udp(PORT, PORT, &scccn) // 2
        .udp_reply(PORT, PORT, &zlb) // 3
        .udp(PORT, PORT, &hello) // 4
        .udp(PORT, PORT, &icrq) // 5
        .udp_reply(PORT, PORT, &icrp) // 6
        .udp(PORT, PORT, &iccn) // 7
        .udp(PORT, PORT, &sli) // 8
        .udp_reply(PORT, PORT, &cdn) // 9
        .udp_reply(PORT, PORT, &stop); // 10
    let d = cap.dissect();

    let one = |field: &str| -> Vec<String> {
        d.field(field)
            .into_iter()
            .map(|v| v.first().cloned().unwrap_or_default())
            .collect()
    };
    assert_eq!(
        one("l2tp.tunnel"),
        strings(&[
            "0", "4369", "8738", "4369", "8738", "8738", "4369", "8738", "8738", "4369", "4369"
        ])
    );
    assert_eq!(
        one("l2tp.session"),
        strings(&[
            "0", "0", "0", "0", "0", "0", "2570", "2827", "2827", "2570", "0"
        ])
    );
    assert_eq!(
        one("l2tp.Ns"),
        strings(&["0", "0", "1", "1", "2", "3", "1", "4", "5", "2", "3"])
    );
    assert_eq!(
        one("l2tp.Nr"),
        strings(&["0", "1", "1", "2", "1", "1", "4", "2", "2", "6", "6"])
    );
    assert_eq!(
        one("l2tp.length"),
        [
            &sccrq, &sccrp, &scccn, &zlb, &hello, &icrq, &icrp, &iccn, &sli, &cdn, &stop
        ]
        .iter()
        .map(|m| m.len().to_string())
        .collect::<Vec<_>>()
    );
    assert_eq!(
        one("l2tp.avp.message_type"),
        strings(&["1", "2", "3", "", "6", "10", "11", "12", "16", "14", "4"])
    );
    assert!(d.text().contains("Zero Length Body message"));

    // Every AVP type, in order, per frame.
    let types = d.field("l2tp.avp.type");
    assert_eq!(
        types[0],
        strings(&["0", "2", "7", "3", "4", "6", "8", "10", "9", "11", "7"])
    );
    assert_eq!(types[1], strings(&["0", "2", "3", "7", "9", "13"]));
    assert_eq!(types[3], Vec::<String>::new());
    assert_eq!(
        types[7],
        strings(&[
            "0", "24", "19", "26", "27", "28", "29", "30", "31", "32", "33", "38", "39"
        ])
    );
    let vendors = d.field("l2tp.avp.vendor_id");
    assert_eq!(vendors[0].last().unwrap(), &EXAMPLE_VENDOR.to_string());
    assert_eq!(
        d.field("l2tp.avp.mandatory")[0].last().unwrap(),
        "0",
        "the vendor AVP is optional"
    );

    // SCCRQ values.
    assert_eq!(d.field("l2tp.avp.host_name")[0], strings(&["lac.example"]));
    assert_eq!(d.field("l2tp.avp.vendor_name")[0], strings(&["shardvpn"]));
    assert_eq!(d.field("l2tp.avp.protocol_version")[0], strings(&["1"]));
    assert_eq!(d.field("l2tp.avp.firmware_revision")[0], strings(&["1680"]));
    assert_eq!(d.field("l2tp.avp.receive_window_size")[0], strings(&["4"]));
    assert_eq!(
        d.field("l2tp.avp.async_framing_supported")[0],
        strings(&["1"])
    );
    assert_eq!(
        d.field("l2tp.avp.sync_framing_supported")[0],
        strings(&["1"])
    );
    assert_eq!(
        d.field("l2tp.avp.analog_access_supported")[0],
        strings(&["1"])
    );
    assert_eq!(
        d.field("l2tp.avp.digital_access_supported")[0],
        strings(&["0"])
    );
    assert_eq!(
        d.field("l2tp.avp.chap_challenge")[0],
        strings(&[&"42".repeat(16)])
    );
    let assigned_tunnels = one("l2tp.avp.assigned_tunnel_id");
    assert_eq!(assigned_tunnels[0], "4369");
    assert_eq!(assigned_tunnels[1], "8738");
    assert_eq!(assigned_tunnels[10], "8738");
    // SCCRP / SCCCN challenge responses.
    let responses = one("l2tp.avp.chap_challenge_response");
    let hex: String = sccrp_response.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(responses[1], hex);
    assert_eq!(responses[2], "5a".repeat(16));

    // ICRQ / ICRP / CDN session IDs and call parameters.
    let assigned_sessions = one("l2tp.avp.assigned_session_id");
    assert_eq!(assigned_sessions[5], "2570");
    assert_eq!(assigned_sessions[6], "2827");
    assert_eq!(assigned_sessions[9], "2827");
    assert_eq!(d.field("l2tp.avp.call_serial_number")[5], strings(&["42"]));
    assert_eq!(d.field("l2tp.avp.physical_channel")[5], strings(&["7"]));
    assert_eq!(d.field("l2tp.avp.calling_number")[5], strings(&["5551234"]));
    assert_eq!(d.field("l2tp.avp.called_number")[5], strings(&["5556789"]));
    assert_eq!(d.field("l2tp.avp.digital_bearer_type")[5], strings(&["1"]));

    // ICCN proxy LCP and proxy authentication.
    assert_eq!(d.field("l2tp.avp.connect_speed")[7], strings(&["10000000"]));
    assert_eq!(
        d.field("l2tp.avp.rx_connect_speed")[7],
        strings(&["2000000"])
    );
    assert_eq!(d.field("l2tp.avp.sync_framing_type")[7], strings(&["1"]));
    assert_eq!(d.field("l2tp.avp.proxy_authen_type")[7], strings(&["2"]));
    assert_eq!(
        d.field("l2tp.avp.proxy_authen_name")[7],
        strings(&["alice"])
    );
    assert_eq!(d.field("l2tp.avp.proxy_authen_id")[7], strings(&["9"]));
    assert_eq!(
        d.field("l2tp.avp.proxy_authen_challenge")[7],
        strings(&[&"42".repeat(16)])
    );
    assert_eq!(
        d.field("l2tp.avp.proxy_authen_response")[7],
        strings(&[&"5a".repeat(16)])
    );
    assert_eq!(
        d.field("l2tp.avp.initial_received_lcp_confreq")[7],
        strings(&["010405dc050612345678"])
    );

    // SLI ACCM.
    assert_eq!(d.field("l2tp.avp.send_accm")[8], strings(&["0"]));
    assert_eq!(
        d.field("l2tp.avp.receive_accm")[8],
        strings(&["4294967295"])
    );

    // CDN and StopCCN result codes.
    let results = one("l2tp.result_code");
    assert_eq!(results[9], "2");
    assert_eq!(results[10], "1");
    assert_eq!(d.field("l2tp.avp.error_code")[9], strings(&["6"]));
    assert_eq!(
        d.field("l2tp.avp.error_message")[9],
        strings(&["vendor error"])
    );
    assert_eq!(d.field("l2tp.avp.error_code")[10], Vec::<String>::new());
}

#[test]
fn data_message_with_sequence_and_offset() {
    // PPP LCP Echo-Request (RFC 1661 §5.8), id 7, magic 0x01020304, 2 octets of data.
    let echo = [
        0xff, 0x03, 0xc0, 0x21, 0x09, 0x07, 0x00, 0x0a, 0x01, 0x02, 0x03, 0x04, 0xab, 0xcd,
    ];
    let repr = Repr {
        control: false,
        with_length: true,
        tunnel_id: LNS_TUNNEL,
        session_id: LNS_SESSION,
        sequence: Some(Sequence { ns: 17, nr: 3 }),
        offset: Some(4),
        priority: true,
        payload: &echo,
    };
    let mut data = vec![0; repr.buffer_len()];
    repr.emit(&mut Packet::new_unchecked(&mut data[..]));
    let short = Repr::data(LNS_TUNNEL, LNS_SESSION, &echo);
    let mut plain = vec![0; short.buffer_len()];
    short.emit(&mut Packet::new_unchecked(&mut plain[..]));

    let mut cap = Capture::raw_ip();
    cap.udp(PORT, PORT, &data).udp(PORT, PORT, &plain);
    let d = cap.dissect();
    assert_eq!(d.field("l2tp.type"), vec![strings(&["0"]); 2]);
    assert_eq!(d.field("l2tp.tunnel"), vec![strings(&["8738"]); 2]);
    assert_eq!(d.field("l2tp.session"), vec![strings(&["2827"]); 2]);
    assert_eq!(d.field("l2tp.Ns"), vec![strings(&["17"]), vec![]]);
    assert_eq!(d.field("l2tp.Nr"), vec![strings(&["3"]), vec![]]);
    assert_eq!(d.field("l2tp.offset"), vec![strings(&["4"]), vec![]]);
    assert_eq!(
        d.field("l2tp.priority"),
        vec![strings(&["1"]), strings(&["0"])]
    );
    assert_eq!(d.field("l2tp.length"), vec![strings(&["32"]), vec![]]);
    assert_eq!(
        d.field("lcp.magic_number"),
        vec![strings(&["0x01020304"]); 2]
    );
    assert_eq!(d.field("ppp.direction").len(), 2);
    assert!(d.text().contains("Echo Request"), "{}", d.text());
}

/// RFC 2661 §4.3 hiding, written here from the RFC text with the md-5 crate as an
/// independent check of `crypto::l2tp::hide`:
/// b1 = MD5(type ‖ secret ‖ RV), bi = MD5(secret ‖ c(i-1)), ci = pi ^ bi.
fn hide(attribute_type: u16, secret: &[u8], random_vector: &[u8], data: &mut [u8]) {
    use md5::{Digest, Md5};
    let mut prev: Option<[u8; 16]> = None;
    for chunk in data.chunks_mut(16) {
        let mut h = Md5::new();
        match prev {
            None => {
                h.update(attribute_type.to_be_bytes());
                h.update(secret);
                h.update(random_vector);
            }
            Some(c) => {
                h.update(secret);
                h.update(c);
            }
        }
        let b = h.finalize();
        for (p, k) in chunk.iter_mut().zip(b.iter()) {
            *p ^= k;
        }
        let mut c = [0u8; 16];
        c[..chunk.len()].copy_from_slice(chunk);
        prev = Some(c);
    }
}

#[test]
fn hidden_avps() {
    let secret = b"tunnel-secret";
    let random_vector = [0x13u8; 16];

    // Assigned Session ID 0x0a0a, hidden with 20 octets of padding (two MD5 blocks).
    let session = AvpValue::AssignedSessionId(LAC_SESSION);
    let mut value = [0u8; 2];
    session.emit(&mut value);
    let mut hidden = vec![0; avp::hidden_subformat_buffer_len(2, 20)];
    avp::hidden_subformat_emit(&value, 20, &mut hidden);
    let mut independent = hidden.clone();
    l2tp_crypto::hide(
        session.attribute_type(),
        secret,
        &random_vector,
        &mut hidden,
    )
    .unwrap();
    hide(
        session.attribute_type(),
        secret,
        &random_vector,
        &mut independent,
    );
    assert_eq!(
        hidden, independent,
        "crypto::l2tp::hide agrees with the RFC text"
    );

    let icrq = control(
        LNS_TUNNEL,
        0,
        3,
        1,
        &[AvpValue::MessageType(MessageType::Icrq)],
        &[
            AvpRepr::ietf(true, avp::AttributeType::RandomVector, &random_vector),
            AvpRepr {
                hidden: true,
                ..AvpRepr::ietf(true, avp::AttributeType::AssignedSessionId, &hidden)
            },
            AvpRepr::ietf(true, avp::AttributeType::CallSerialNumber, &[0, 0, 0, 1]),
        ],
    );

    // Our side: the hidden AVP pairs with the Random Vector before it, and un-hiding
    // in place gives back the subformat, whose Original Length frames the value.
    let packet = Packet::new_checked(&icrq[..]).unwrap();
    let (got, rv) = packet.avps().with_random_vector().nth(2).unwrap().unwrap();
    assert!(got.hidden);
    assert_eq!(rv, Some(&random_vector[..]));
    let mut unhidden = got.value.to_vec();
    l2tp_crypto::unhide(got.attribute_type, secret, rv.unwrap(), &mut unhidden).unwrap();
    let original = avp::hidden_subformat_value(&unhidden).unwrap();
    assert_eq!(
        AvpValue::parse(got.vendor_id, got.attribute_type, original),
        Ok(AvpValue::AssignedSessionId(LAC_SESSION))
    );

    let mut cap = Capture::raw_ip();
    cap.udp(PORT, PORT, &icrq);
    // tshark's `l2tp.shared_secret` only verifies L2TPv3 Message Digests; it does not
    // un-hide L2TPv2 AVPs (checked with tshark 4.x), so what it can confirm is the H
    // bit, the AVP length, and that the AVPs around the hidden one still line up.
    let d = cap.dissect_with(&[("l2tp.shared_secret", "tunnel-secret")]);
    assert_eq!(
        d.field("l2tp.avp.hidden"),
        vec![strings(&["0", "0", "1", "0"])]
    );
    assert_eq!(
        d.field("l2tp.avp.random_vector"),
        vec![strings(&[&"13".repeat(16)])]
    );
    assert_eq!(
        d.field("l2tp.avp.call_serial_number"),
        vec![strings(&["1"])]
    );
    assert_eq!(
        d.field("l2tp.avp.length")[0][2],
        (6 + hidden.len()).to_string()
    );
}

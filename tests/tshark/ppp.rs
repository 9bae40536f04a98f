//! PPP, LCP, PAP, CHAP, MS-CHAPv2, IPCP, IPv6CP and CCP packets built by the library
//! and dissected by tshark as LINKTYPE_PPP frames.

use std::net::Ipv4Addr;

use shardvpn::wire::chap;
use shardvpn::wire::ipv4;
use shardvpn::wire::mschapv2::{
    ErrorCode, FailureMessage, ResponseRepr, ResponseValue, SuccessMessage,
};
use shardvpn::wire::pap;
use shardvpn::wire::ppp::{
    Code, ControlPacket, ControlRepr, FrameRepr, MagicDataRepr, Protocol, ProtocolRejectRepr,
    TimeRemainingRepr, emit_header, header_len,
};
use shardvpn::wire::ppp_options::{
    AuthenticationProtocol, CcpOption, ChapAlgorithm, IpcpOption, Ipv6cpOption, LcpOption,
    MppeSupportedBits, OptionRepr, PppOption, emit_options, options_len,
};

use crate::common::Capture;

/// A PPP frame with the FF 03 header and the 2-octet protocol, as LCP requires.
fn frame(protocol: Protocol, payload: &[u8]) -> Vec<u8> {
    let h = header_len(protocol, false, false);
    let mut out = vec![0u8; h + payload.len()];
    out[h..].copy_from_slice(payload);
    emit_header(&mut out[..h], protocol, false, false);
    out
}

fn control(protocol: Protocol, code: Code, identifier: u8, data: &[u8]) -> Vec<u8> {
    let repr = ControlRepr {
        code,
        identifier,
        data,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ControlPacket::new_unchecked(&mut buf[..]));
    frame(protocol, &buf)
}

fn options<O: PppOption>(opts: &[O]) -> Vec<u8> {
    let mut buf = vec![0u8; options_len(opts)];
    emit_options(opts, &mut buf);
    buf
}

fn chap_frame(repr: chap::Repr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut chap::Packet::new_unchecked(&mut buf[..]));
    frame(Protocol::Chap, &buf)
}

fn pap_frame(repr: pap::Repr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut pap::Packet::new_unchecked(&mut buf[..]));
    frame(Protocol::Pap, &buf)
}

fn ipv4_packet() -> Vec<u8> {
    let payload = b"ping";
    let repr = ipv4::Repr {
        src_addr: Ipv4Addr::new(10, 0, 0, 2),
        dst_addr: Ipv4Addr::new(192, 0, 2, 1),
        next_header: ipv4::Protocol::from(253),
        payload_len: payload.len(),
        hop_limit: 64,
    };
    let mut bytes = vec![0u8; repr.buffer_len() + payload.len()];
    let mut packet = ipv4::Packet::new_unchecked(&mut bytes[..]);
    repr.emit(&mut packet);
    packet.payload_mut().copy_from_slice(payload);
    bytes
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

// RFC 2759 §9.2.
const PEER_CHALLENGE: [u8; 16] = [
    0x21, 0x40, 0x23, 0x24, 0x25, 0x5E, 0x26, 0x2A, 0x28, 0x29, 0x5F, 0x2B, 0x3A, 0x33, 0x7C, 0x7E,
];
const AUTHENTICATOR_CHALLENGE: [u8; 16] = [
    0x5B, 0x5D, 0x7C, 0x7D, 0x7B, 0x3F, 0x2F, 0x3E, 0x3C, 0x2C, 0x60, 0x21, 0x32, 0x26, 0x26, 0x28,
];
const NT_RESPONSE: [u8; 24] = [
    0x82, 0x30, 0x9E, 0xCD, 0x8D, 0x70, 0x8B, 0x5E, 0xA0, 0x8F, 0xAA, 0x39, 0x81, 0xCD, 0x83, 0x54,
    0x42, 0x33, 0x11, 0x4A, 0x3D, 0x85, 0xD6, 0xDF,
];
const AUTHENTICATOR_RESPONSE: [u8; 20] = [
    0x40, 0x7A, 0x55, 0x89, 0x11, 0x5F, 0xD0, 0xD6, 0x20, 0x9F, 0x51, 0x0F, 0xE9, 0xC0, 0x45, 0x66,
    0x93, 0x2C, 0xDA, 0x56,
];

#[test]
fn lcp() {
    let request = options(&[
        LcpOption::MaximumReceiveUnit(1400),
        LcpOption::AuthenticationProtocol(AuthenticationProtocol::Chap(ChapAlgorithm::MsChapV2)),
        LcpOption::MagicNumber(0x1234_abcd),
        LcpOption::ProtocolFieldCompression,
        LcpOption::AddressControlFieldCompression,
    ]);
    let nak = options(&[
        LcpOption::MaximumReceiveUnit(1460),
        LcpOption::AuthenticationProtocol(AuthenticationProtocol::Chap(ChapAlgorithm::Md5)),
    ]);
    let reject = options(&[
        LcpOption::AsyncControlCharacterMap(0),
        LcpOption::AuthenticationProtocol(AuthenticationProtocol::Pap),
    ]);
    let mut echo = [0u8; 8];
    MagicDataRepr {
        magic_number: 0x1234_abcd,
        data: b"keep",
    }
    .emit(&mut echo);
    let mut reply = [0u8; 8];
    MagicDataRepr {
        magic_number: 0x5566_7788,
        data: b"keep",
    }
    .emit(&mut reply);
    let mut prot_rej = [0u8; 6];
    ProtocolRejectRepr {
        rejected_protocol: Protocol::Ipv6cp,
        rejected_information: &[0x01, 0x02, 0x00, 0x04],
    }
    .emit(&mut prot_rej);

    let mut cap = Capture::ppp();
    cap.frame(&control(Protocol::Lcp, Code::ConfigureRequest, 1, &request))
        .frame(&control(Protocol::Lcp, Code::ConfigureAck, 1, &request))
        .frame(&control(Protocol::Lcp, Code::ConfigureNak, 2, &nak))
        .frame(&control(Protocol::Lcp, Code::ConfigureReject, 3, &reject))
        .frame(&control(Protocol::Lcp, Code::EchoRequest, 4, &echo))
        .frame(&control(Protocol::Lcp, Code::EchoReply, 4, &reply))
        .frame(&control(Protocol::Lcp, Code::TerminateRequest, 5, b"bye"))
        .frame(&control(Protocol::Lcp, Code::ProtocolReject, 6, &prot_rej));
    let d = cap.dissect();

    assert!(
        d.field("ppp.protocol").iter().all(|f| f == &s(&["0xc021"])),
        "{:?}",
        d.field("ppp.protocol")
    );
    assert_eq!(
        d.field("ppp.code"),
        [
            s(&["1"]),
            s(&["2"]),
            s(&["3"]),
            s(&["4"]),
            s(&["9"]),
            s(&["10"]),
            s(&["5"]),
            // tshark dissects the rejected information as a packet of the rejected
            // protocol (here an IPv6CP Configure-Request), hence the second code.
            s(&["8", "1"])
        ]
    );
    let ids: Vec<_> = d.field("ppp.identifier").into_iter().flatten().collect();
    // The last two are the Protocol-Reject's and the rejected packet's.
    assert_eq!(ids, s(&["1", "1", "2", "3", "4", "4", "5", "6", "2"]));
    let lengths: Vec<_> = d.field("ppp.length").into_iter().flatten().collect();
    let expected_lengths: Vec<String> = [
        4 + request.len(),
        4 + request.len(),
        4 + nak.len(),
        4 + reject.len(),
        12,
        12,
        7,
        10,
        4,
    ]
    .iter()
    .map(|l| l.to_string())
    .collect();
    assert_eq!(lengths, expected_lengths);

    assert_eq!(d.field("lcp.opt.type")[0], s(&["1", "3", "5", "7", "8"]));
    assert_eq!(d.field("lcp.opt.mru")[0], s(&["1400"]));
    assert_eq!(d.field("lcp.opt.mru")[2], s(&["1460"]));
    assert_eq!(d.field("lcp.opt.auth_protocol")[0], s(&["0xc223"]));
    assert_eq!(d.field("lcp.opt.algorithm")[0], s(&["129"]));
    assert_eq!(d.field("lcp.opt.algorithm")[2], s(&["5"]));
    assert_eq!(d.field("lcp.opt.auth_protocol")[3], s(&["0xc023"]));
    assert_eq!(d.field("lcp.opt.asyncmap")[3], s(&["0x00000000"]));
    assert_eq!(d.field("lcp.opt.magic_number")[1], s(&["0x1234abcd"]));
    assert_eq!(d.field("lcp.magic_number")[4], s(&["0x1234abcd"]));
    assert_eq!(d.field("lcp.magic_number")[5], s(&["0x55667788"]));
    assert_eq!(d.field("lcp.rej_proto")[7], s(&["0x8057"]));
}

/// The RFC 1570 codes and Discard-Request, Terminate-Ack, CCP Reset-Request.
#[test]
fn lcp_extensions() {
    let mut ident = [0u8; 12];
    MagicDataRepr {
        magic_number: 0x0102_0304,
        data: b"shardvpn",
    }
    .emit(&mut ident);
    let mut remaining = [0u8; 11];
    TimeRemainingRepr {
        magic_number: 0x0102_0304,
        seconds_remaining: 3600,
        message: b"bye",
    }
    .emit(&mut remaining);
    let mut discard = [0u8; 6];
    MagicDataRepr {
        magic_number: 0x0a0b_0c0d,
        data: b"xx",
    }
    .emit(&mut discard);

    let mut cap = Capture::ppp();
    cap.frame(&control(Protocol::Lcp, Code::Identification, 1, &ident))
        .frame(&control(Protocol::Lcp, Code::TimeRemaining, 2, &remaining))
        .frame(&control(Protocol::Lcp, Code::DiscardRequest, 3, &discard))
        .frame(&control(Protocol::Lcp, Code::TerminateAck, 4, b""))
        .frame(&control(Protocol::Ccp, Code::ResetRequest, 5, b""));
    let d = cap.dissect();
    assert_eq!(
        d.field("ppp.code"),
        [s(&["12"]), s(&["13"]), s(&["11"]), s(&["6"]), s(&["14"])]
    );
    assert_eq!(d.field("lcp.magic_number")[0], s(&["0x01020304"]));
    assert_eq!(d.field("lcp.message")[0], s(&["shardvpn"]));
    assert_eq!(d.field("lcp.secs_remaining")[1], s(&["3600"]));
    assert_eq!(d.field("lcp.message")[1], s(&["bye"]));
    assert_eq!(d.field("lcp.magic_number")[2], s(&["0x0a0b0c0d"]));
    assert_eq!(d.field("ppp.length")[3], s(&["4"]));
    assert_eq!(d.field("ppp.protocol")[4], s(&["0x80fd"]));
}

#[test]
fn pap() {
    let mut cap = Capture::ppp();
    cap.frame(&pap_frame(pap::Repr::AuthenticateRequest {
        identifier: 1,
        peer_id: b"alice",
        password: pap::Password(b"s3cret"),
    }))
    .frame(&pap_frame(pap::Repr::AuthenticateAck {
        identifier: 1,
        message: b"Login OK",
    }))
    .frame(&pap_frame(pap::Repr::AuthenticateNak {
        identifier: 2,
        message: b"Denied",
    }));
    let d = cap.dissect();
    assert_eq!(d.field("ppp.protocol")[0], s(&["0xc023"]));
    assert_eq!(d.field("pap.code"), [s(&["1"]), s(&["2"]), s(&["3"])]);
    assert_eq!(d.field("pap.identifier"), [s(&["1"]), s(&["1"]), s(&["2"])]);
    assert_eq!(d.field("pap.length")[0], s(&["17"]));
    assert_eq!(d.field("pap.peer_id")[0], s(&["alice"]));
    assert_eq!(d.field("pap.password")[0], s(&["s3cret"]));
    assert_eq!(d.field("pap.message")[1], s(&["Login OK"]));
    assert_eq!(d.field("pap.message")[2], s(&["Denied"]));
}

#[test]
fn chap_md5() {
    let challenge: Vec<u8> = (0..16).collect();
    let response = [0xa5u8; 16];
    let mut cap = Capture::ppp();
    cap.frame(&chap_frame(chap::Repr::Challenge {
        identifier: 7,
        value: &challenge,
        name: b"lns",
    }))
    .frame(&chap_frame(chap::Repr::Response {
        identifier: 7,
        value: &response,
        name: b"bob",
    }))
    .frame(&chap_frame(chap::Repr::Success {
        identifier: 7,
        message: b"Welcome",
    }))
    .frame(&chap_frame(chap::Repr::Failure {
        identifier: 8,
        message: b"Go away",
    }));
    let d = cap.dissect();
    assert_eq!(d.field("ppp.protocol")[0], s(&["0xc223"]));
    assert_eq!(
        d.field("chap.code"),
        [s(&["1"]), s(&["2"]), s(&["3"]), s(&["4"])]
    );
    assert_eq!(d.field("chap.identifier")[3], s(&["8"]));
    assert_eq!(d.field("chap.length")[0], s(&["24"]));
    assert_eq!(d.field("chap.value_size")[0], s(&["16"]));
    assert_eq!(
        d.field("chap.value")[0],
        s(&["000102030405060708090a0b0c0d0e0f"])
    );
    assert_eq!(d.field("chap.name")[0], s(&["lns"]));
    assert_eq!(d.field("chap.value")[1], s(&[&"a5".repeat(16)]));
    assert_eq!(d.field("chap.name")[1], s(&["bob"]));
    assert_eq!(d.field("chap.message")[2], s(&["Welcome"]));
    assert_eq!(d.field("chap.message")[3], s(&["Go away"]));
}

#[test]
fn mschapv2() {
    let mut value = [0u8; 49];
    ResponseRepr {
        peer_challenge: PEER_CHALLENGE,
        nt_response: NT_RESPONSE,
        flags: 0,
    }
    .emit(&mut ResponseValue::new_unchecked(&mut value[..]));
    let success = SuccessMessage {
        authenticator_response: AUTHENTICATOR_RESPONSE,
        message: Some(b"Access granted"),
    };
    let mut success_text = vec![0u8; success.buffer_len()];
    success.emit(&mut success_text);
    let failure = FailureMessage {
        error: ErrorCode::AuthenticationFailure,
        retry: true,
        challenge: Some(AUTHENTICATOR_CHALLENGE),
        version: Some(3),
        message: Some(b"Authentication failed"),
    };
    let mut failure_text = vec![0u8; failure.buffer_len()];
    failure.emit(&mut failure_text);

    let mut cap = Capture::ppp();
    cap.frame(&chap_frame(chap::Repr::Challenge {
        identifier: 1,
        value: &AUTHENTICATOR_CHALLENGE,
        name: b"shardvpn",
    }))
    .frame(&chap_frame(chap::Repr::Response {
        identifier: 1,
        value: &value,
        name: b"User",
    }))
    .frame(&chap_frame(chap::Repr::Success {
        identifier: 1,
        message: &success_text,
    }))
    .frame(&chap_frame(chap::Repr::Failure {
        identifier: 2,
        message: &failure_text,
    }));
    let d = cap.dissect();
    assert_eq!(d.field("chap.value_size")[1], s(&["49"]));
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(
        d.field("chap.value")[0],
        s(&[&hex(&AUTHENTICATOR_CHALLENGE)])
    );
    assert_eq!(d.field("chap.value")[1], s(&[&hex(&value)]));
    assert_eq!(d.field("chap.name")[1], s(&["User"]));
    assert_eq!(
        d.field("chap.message")[2],
        s(&["S=407A5589115FD0D6209F510FE9C04566932CDA56 M=Access granted"])
    );
    assert_eq!(
        d.field("chap.message")[3],
        s(&["E=691 R=1 C=5B5D7C7D7B3F2F3E3C2C602132262628 V=3 M=Authentication failed"])
    );
}

#[test]
fn ncps() {
    let ipcp = options(&[
        IpcpOption::IpAddress(Ipv4Addr::new(10, 0, 0, 2)),
        IpcpOption::PrimaryDnsAddress(Ipv4Addr::new(192, 0, 2, 53)),
        IpcpOption::SecondaryDnsAddress(Ipv4Addr::new(192, 0, 2, 54)),
        IpcpOption::PrimaryNbnsAddress(Ipv4Addr::new(192, 0, 2, 137)),
        IpcpOption::SecondaryNbnsAddress(Ipv4Addr::new(192, 0, 2, 138)),
    ]);
    let ipv6cp = options(&[Ipv6cpOption::InterfaceIdentifier([
        0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55,
    ])]);
    let ccp = options(&[CcpOption::Mppe(
        MppeSupportedBits::default()
            .with(MppeSupportedBits::STATELESS)
            .with(MppeSupportedBits::KEY_128),
    )]);
    let ccp_40 = options(&[CcpOption::Mppe(
        MppeSupportedBits::default().with(MppeSupportedBits::KEY_40),
    )]);
    let unknown = options(&[OptionRepr {
        option_type: 0x7f,
        data: &[1, 2],
    }]);

    let mut cap = Capture::ppp();
    cap.frame(&control(Protocol::Ipcp, Code::ConfigureRequest, 1, &ipcp))
        .frame(&control(
            Protocol::Ipv6cp,
            Code::ConfigureRequest,
            2,
            &ipv6cp,
        ))
        .frame(&control(Protocol::Ccp, Code::ConfigureRequest, 3, &ccp))
        .frame(&control(Protocol::Ccp, Code::ConfigureNak, 3, &ccp_40))
        .frame(&control(Protocol::Ipcp, Code::ConfigureReject, 4, &unknown));
    let d = cap.dissect();
    assert_eq!(
        d.field("ppp.protocol"),
        [
            s(&["0x8021"]),
            s(&["0x8057"]),
            s(&["0x80fd"]),
            s(&["0x80fd"]),
            s(&["0x8021"])
        ]
    );
    assert_eq!(
        d.field("ipcp.opt.type")[0],
        s(&["3", "129", "131", "130", "132"])
    );
    assert_eq!(d.field("ipcp.opt.ip_address")[0], s(&["10.0.0.2"]));
    assert_eq!(d.field("ipcp.opt.pri_dns_address")[0], s(&["192.0.2.53"]));
    assert_eq!(d.field("ipcp.opt.sec_dns_address")[0], s(&["192.0.2.54"]));
    assert_eq!(d.field("ipcp.opt.pri_nbns_address")[0], s(&["192.0.2.137"]));
    assert_eq!(d.field("ipcp.opt.sec_nbns_address")[0], s(&["192.0.2.138"]));
    // tshark names no field for an option type it does not know.
    assert!(
        d.text().contains("Unknown (0x7f) (4 bytes)"),
        "{}",
        d.text()
    );
    assert_eq!(
        d.field("ipv6cp.interface_identifier")[1],
        s(&["02:11:22:ff:fe:33:44:55"])
    );
    assert_eq!(d.field("ccp.opt.type")[2], s(&["18"]));
    assert_eq!(d.field("ccp.opt.supported_bits")[2], s(&["0x01000040"]));
    assert_eq!(d.field("ccp.opt.supported_bits.h")[2], s(&["1"]));
    assert_eq!(d.field("ccp.opt.supported_bits.s")[2], s(&["1"]));
    assert_eq!(d.field("ccp.opt.supported_bits.l")[2], s(&["0"]));
    assert_eq!(d.field("ccp.opt.supported_bits")[3], s(&["0x00000020"]));
    assert_eq!(d.field("ccp.opt.supported_bits.l")[3], s(&["1"]));
    assert_eq!(d.field("ccp.opt.supported_bits.h")[3], s(&["0"]));
}

#[test]
fn data_frames() {
    let ip = ipv4_packet();
    let full = frame(Protocol::Ipv4, &ip);
    // ACFC and PFC: the header is the single octet 0x21, prepended in place.
    let compressed = {
        let h = header_len(Protocol::Ipv4, true, true);
        assert_eq!(h, 1);
        let mut buf = vec![0u8; h + ip.len()];
        buf[h..].copy_from_slice(&ip);
        emit_header(&mut buf[..h], Protocol::Ipv4, true, true);
        buf
    };
    // Our parser reads both back.
    for f in [&full, &compressed] {
        let repr =
            FrameRepr::parse(&shardvpn::wire::ppp::Frame::new_checked(&f[..]).unwrap()).unwrap();
        assert_eq!(repr.protocol, Protocol::Ipv4);
        assert_eq!(repr.payload, &ip[..]);
    }
    let mut cap = Capture::ppp();
    cap.frame(&full).frame(&compressed);
    let d = cap.dissect();
    assert_eq!(d.field("ppp.address")[0], s(&["0xff"]));
    assert_eq!(d.field("ppp.control")[0], s(&["0x03"]));
    assert_eq!(d.field("ppp.protocol")[0], s(&["0x0021"]));
    assert_eq!(d.field("ip.src")[0], s(&["10.0.0.2"]));
    assert_eq!(d.field("ip.dst")[0], s(&["192.0.2.1"]));
    // The compressed frame: no address/control, protocol 0x21 in one octet.
    assert_eq!(d.field("ppp.address")[1], Vec::<String>::new());
    assert_eq!(d.field("ppp.protocol")[1], s(&["0x0021"]));
    assert_eq!(d.field("ip.src")[1], s(&["10.0.0.2"]));
}

//! ESP (raw and UDP-encapsulated on 4500), enhanced GRE and every PPTP control
//! message, built with `wire::esp`, `wire::gre` and `wire::pptp` and read back by
//! tshark's `esp`, `udpencap`, `isakmp`, `gre`, `ppp` and `pptp` dissectors.

use shardvpn::wire::esp::{self, Alignment, EncapRepr, NextHeader, Trailer};
use shardvpn::wire::gre::{self, Protocol};
use shardvpn::wire::pptp::{self, *};

use crate::common::Capture;

fn emit_esp(repr: &esp::Repr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut esp::Packet::new_unchecked(&mut buf[..]));
    buf
}

fn emit_encap(repr: &EncapRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut buf);
    buf
}

fn emit_gre(repr: &gre::Repr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut gre::Packet::new_unchecked(&mut buf[..]));
    buf
}

fn emit_pptp(repr: &pptp::Repr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut pptp::Packet::new_unchecked(&mut buf[..]));
    buf
}

/// The values of `field` in each frame, flattened to one string per frame.
fn per_frame(d: &crate::common::Dissection, field: &str) -> Vec<String> {
    d.field(field).into_iter().map(|v| v.join(",")).collect()
}

/// 16-byte IV + 16 bytes of ciphertext + 12-byte ICV: opaque to every dissector.
const OPAQUE: [u8; 44] = [0x5a; 44];

/// A bare ISAKMP header (RFC 2408 §3.1): initiator cookie, zero responder cookie, no
/// next payload, version 1.0, Identity Protection exchange, message ID 0, length 28.
const IKE_HEADER: [u8; 28] = [
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x10, 0x02, 0x00,
    0, 0, 0, 0, 0, 0, 0, 28,
];

#[test]
fn esp_in_udp_keepalive_and_ike_marker() {
    let esp_repr = esp::Repr {
        spi: 0xc001_0203,
        sequence_number: 7,
        payload: &OPAQUE,
    };
    let mut cap = Capture::raw_ip();
    cap.udp(4500, 4500, &emit_encap(&EncapRepr::Esp(esp_repr)));
    cap.udp_reply(4500, 4500, &emit_encap(&EncapRepr::NatKeepalive));
    cap.udp(4500, 4500, &emit_encap(&EncapRepr::Ike(&IKE_HEADER)));
    let d = cap.dissect();

    let protocols = per_frame(&d, "frame.protocols");
    assert!(protocols[0].ends_with("udp:udpencap:esp"), "{protocols:?}");
    assert!(protocols[1].ends_with("udp:udpencap"), "{protocols:?}");
    assert!(
        protocols[2].ends_with("udp:udpencap:isakmp"),
        "{protocols:?}"
    );

    assert_eq!(per_frame(&d, "esp.spi")[0], "0xc0010203");
    assert_eq!(per_frame(&d, "esp.sequence")[0], "7");
    assert_eq!(d.field("udpencap.nat_keepalive")[1].len(), 1);
    assert_eq!(d.field("udpencap.non_esp_marker")[2].len(), 1);
    assert_eq!(per_frame(&d, "isakmp.ispi")[2], "0102030405060708");
    assert_eq!(per_frame(&d, "isakmp.exchangetype")[2], "2");
    assert_eq!(per_frame(&d, "isakmp.length")[2], "28");
}

#[test]
fn raw_esp() {
    let repr = esp::Repr {
        spi: 0x0000_1001,
        sequence_number: 0xffff_fffe,
        payload: &OPAQUE,
    };
    let mut cap = Capture::raw_ip();
    cap.ip(50, &emit_esp(&repr));
    let d = cap.dissect();
    assert_eq!(per_frame(&d, "esp.spi"), ["0x00001001"]);
    assert_eq!(per_frame(&d, "esp.sequence"), ["4294967294"]);
}

/// The ESP trailer cross-check: with NULL encryption (RFC 2410) the plaintext is on
/// the wire, and Wireshark's NULL heuristic (which assumes a 12-byte ICV) reads the
/// padding, Pad Length and Next Header that `Trailer` wrote.
#[test]
fn esp_trailer_with_null_encryption() {
    // Inner UDP datagram 40000 -> 9 (discard), 13 bytes, checksum 0 (not computed).
    let inner: [u8; 13] = [
        0x9c, 0x40, 0x00, 0x09, 0x00, 0x0d, 0x00, 0x00, b'h', b'e', b'l', b'l', b'o',
    ];
    let mut frames = Vec::new();
    for (align, pad) in [
        (Alignment::Byte, 1),
        (Alignment::Block8, 1),
        (Alignment::Block16, 1),
    ] {
        let trailer = Trailer::for_payload(inner.len(), NextHeader::Udp, align);
        assert_eq!(trailer.pad_length, pad);
        let mut plaintext = inner.to_vec();
        plaintext.resize(inner.len() + trailer.buffer_len(), 0);
        trailer.emit(&mut plaintext[inner.len()..]);
        plaintext.extend_from_slice(&[0xee; 12]); // ICV, not checked
        frames.push(plaintext);
    }
    // An empty datagram (8 bytes) for AES-CBC needs 6 bytes of padding.
    let trailer = Trailer::for_payload(8, NextHeader::Udp, Alignment::Block16);
    let mut plaintext = vec![0x9c, 0x41, 0x00, 0x09, 0x00, 0x08, 0x00, 0x00];
    plaintext.resize(8 + trailer.buffer_len(), 0);
    trailer.emit(&mut plaintext[8..]);
    plaintext.extend_from_slice(&[0xee; 12]);
    frames.push(plaintext);

    let mut cap = Capture::raw_ip();
    for (i, payload) in frames.iter().enumerate() {
        let repr = esp::Repr {
            spi: 0x0000_2000,
            sequence_number: u32::try_from(i + 1).unwrap(),
            payload,
        };
        cap.ip(50, &emit_esp(&repr));
    }
    let d = cap.dissect_with(&[("esp.enable_null_encryption_decode_heuristic", "TRUE")]);
    assert_eq!(per_frame(&d, "esp.pad_len"), ["1", "1", "1", "6"]);
    assert_eq!(per_frame(&d, "esp.pad")[3], "010203040506");
    assert_eq!(
        per_frame(&d, "esp.protocol"),
        ["0x11", "0x11", "0x11", "0x11"]
    );
    assert_eq!(per_frame(&d, "udp.dstport"), ["9", "9", "9", "9"]);
    assert_eq!(
        per_frame(&d, "udp.srcport"),
        ["40000", "40000", "40000", "40001"]
    );
}

/// A PPP LCP Echo-Request in HDLC-like framing (FF 03, protocol C021, code 9, id 1,
/// length 8, magic number 0x01020304), as PPTP carries PPP frames in GRE.
const LCP_ECHO: [u8; 12] = [
    0xff, 0x03, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0x01, 0x02, 0x03, 0x04,
];

#[test]
fn gre_data_and_ack_only() {
    let data = gre::Repr {
        protocol: Protocol::Ppp,
        call_id: 0x8001,
        sequence_number: Some(42),
        acknowledgment_number: Some(17),
        payload: &LCP_ECHO,
    };
    let ack = gre::Repr {
        protocol: Protocol::Ppp,
        call_id: 0x1234,
        sequence_number: None,
        acknowledgment_number: Some(42),
        payload: &[],
    };
    let mut cap = Capture::raw_ip();
    cap.ip(47, &emit_gre(&data));
    cap.ip(47, &emit_gre(&ack));
    let d = cap.dissect();

    assert_eq!(per_frame(&d, "gre.flags.version"), ["1", "1"]);
    assert_eq!(per_frame(&d, "gre.proto"), ["0x880b", "0x880b"]);
    assert_eq!(per_frame(&d, "gre.key.call_id"), ["32769", "4660"]);
    assert_eq!(per_frame(&d, "gre.key.payload_length"), ["12", "0"]);
    assert_eq!(per_frame(&d, "gre.sequence_number"), ["42", ""]);
    assert_eq!(per_frame(&d, "gre.ack_number"), ["17", "42"]);
    assert_eq!(per_frame(&d, "gre.flags.sequence_number"), ["1", "0"]);
    assert_eq!(per_frame(&d, "gre.flags.ack"), ["1", "1"]);
    // The payload is handed to PPP and read as an LCP Echo-Request.
    assert_eq!(per_frame(&d, "ppp.code"), ["9", ""]);
    assert_eq!(per_frame(&d, "lcp.magic_number"), ["0x01020304", ""]);
}

#[test]
fn every_pptp_control_message() {
    // (from client?, message) in the order a PNS and PAC would exchange them.
    let messages: [(bool, Message<'_>); 15] = [
        (
            true,
            Message::StartControlConnectionRequest(StartControlConnectionRequest {
                protocol_version: PROTOCOL_VERSION,
                framing_capabilities: FRAMING_ASYNC | FRAMING_SYNC,
                bearer_capabilities: BEARER_ANALOG | BEARER_DIGITAL,
                maximum_channels: 0,
                firmware_revision: 0x0a28,
                host_name: b"client-host",
                vendor_string: b"Microsoft",
            }),
        ),
        (
            false,
            Message::StartControlConnectionReply(StartControlConnectionReply {
                protocol_version: PROTOCOL_VERSION,
                result_code: StartResult::Success,
                error_code: ErrorCode::None,
                framing_capabilities: FRAMING_ASYNC | FRAMING_SYNC,
                bearer_capabilities: BEARER_ANALOG | BEARER_DIGITAL,
                maximum_channels: 1,
                firmware_revision: 1,
                host_name: b"shardvpn",
                vendor_string: b"shardvpn project",
            }),
        ),
        (
            true,
            Message::OutgoingCallRequest(OutgoingCallRequest {
                call_id: 0x1234,
                call_serial_number: 7,
                minimum_bps: 300,
                maximum_bps: 100_000_000,
                bearer_type: BEARER_ANY,
                framing_type: FRAMING_ANY,
                packet_recv_window_size: 64,
                packet_processing_delay: 0,
                phone_number_length: 7,
                phone_number: b"5551234",
                subaddress: b"",
            }),
        ),
        (
            false,
            Message::OutgoingCallReply(OutgoingCallReply {
                call_id: 0x8001,
                peer_call_id: 0x1234,
                result_code: OutgoingCallResult::Connected,
                error_code: ErrorCode::None,
                cause_code: 0,
                connect_speed: 10_000_000,
                packet_recv_window_size: 16,
                packet_processing_delay: 0,
                physical_channel_id: 5,
            }),
        ),
        (
            true,
            Message::SetLinkInfo(SetLinkInfo {
                peer_call_id: 0x8001,
                send_accm: 0xffff_ffff,
                receive_accm: 0,
            }),
        ),
        (
            false,
            Message::IncomingCallRequest(IncomingCallRequest {
                call_id: 0x0042,
                call_serial_number: 1,
                call_bearer_type: BEARER_DIGITAL,
                physical_channel_id: 9,
                dialed_number_length: 3,
                dialing_number_length: 3,
                dialed_number: b"100",
                dialing_number: b"200",
                subaddress: b"x",
            }),
        ),
        (
            true,
            Message::IncomingCallReply(IncomingCallReply {
                call_id: 0x0043,
                peer_call_id: 0x0042,
                result_code: IncomingCallResult::Connect,
                error_code: ErrorCode::None,
                packet_recv_window_size: 8,
                packet_transmit_delay: 1,
            }),
        ),
        (
            false,
            Message::IncomingCallConnected(IncomingCallConnected {
                peer_call_id: 0x0043,
                connect_speed: 64_000,
                packet_recv_window_size: 8,
                packet_transmit_delay: 2,
                framing_type: FRAMING_SYNC,
            }),
        ),
        (
            false,
            Message::WanErrorNotify(WanErrorNotify {
                peer_call_id: 0x1234,
                crc_errors: 1,
                framing_errors: 2,
                hardware_overruns: 3,
                buffer_overruns: 4,
                time_out_errors: 5,
                alignment_errors: 6,
            }),
        ),
        (
            true,
            Message::EchoRequest(EchoRequest {
                identifier: 0xdead_beef,
            }),
        ),
        (
            false,
            Message::EchoReply(EchoReply {
                identifier: 0xdead_beef,
                result_code: EchoResult::Ok,
                error_code: ErrorCode::None,
            }),
        ),
        (
            true,
            Message::CallClearRequest(CallClearRequest { call_id: 0x1234 }),
        ),
        (
            false,
            Message::CallDisconnectNotify(CallDisconnectNotify {
                call_id: 0x8001,
                result_code: DisconnectResult::Request,
                error_code: ErrorCode::None,
                cause_code: 0,
                call_statistics: b"rx 10 tx 20",
            }),
        ),
        (
            true,
            Message::StopControlConnectionRequest(StopControlConnectionRequest {
                reason: StopReason::None,
            }),
        ),
        (
            false,
            Message::StopControlConnectionReply(StopControlConnectionReply {
                result_code: StopResult::GeneralError,
                error_code: ErrorCode::BadFormat,
            }),
        ),
    ];
    let mut cap = Capture::raw_ip();
    for (from_client, message) in &messages {
        let bytes = emit_pptp(&Repr::control(*message));
        // Our own deframer agrees with the length we wrote.
        assert_eq!(frame_len(&bytes), Ok(Some(bytes.len())));
        if *from_client {
            cap.tcp(40000, PORT, &bytes);
        } else {
            cap.tcp_reply(PORT, 40000, &bytes);
        }
    }
    let d = cap.dissect();

    let types: Vec<String> = messages
        .iter()
        .map(|(_, m)| u16::from(m.control_message_type()).to_string())
        .collect();
    assert_eq!(per_frame(&d, "pptp.control_message_type"), types);
    assert!(per_frame(&d, "pptp.type").iter().all(|t| t == "1"));
    assert!(
        per_frame(&d, "pptp.magic_cookie")
            .iter()
            .all(|c| c == "0x1a2b3c4d")
    );
    let lengths: Vec<String> = messages
        .iter()
        .map(|(_, m)| m.buffer_len().to_string())
        .collect();
    assert_eq!(per_frame(&d, "pptp.length"), lengths);

    assert_eq!(per_frame(&d, "pptp.host_name")[0], "client-host");
    assert_eq!(per_frame(&d, "pptp.vendor_name")[0], "Microsoft");
    assert_eq!(per_frame(&d, "pptp.host_name")[1], "shardvpn");
    assert_eq!(per_frame(&d, "pptp.vendor_name")[1], "shardvpn project");
    assert_eq!(per_frame(&d, "pptp.protocol_version")[0], "256");
    assert_eq!(per_frame(&d, "pptp.firmware_revision")[0], "2600");
    assert_eq!(per_frame(&d, "pptp.control_result")[1], "1");

    let call_ids = per_frame(&d, "pptp.call_id");
    let peer_call_ids = per_frame(&d, "pptp.peer_call_id");
    // OCRQ / OCRP.
    assert_eq!(
        (call_ids[2].as_str(), peer_call_ids[2].as_str()),
        ("4660", "")
    );
    assert_eq!(
        (call_ids[3].as_str(), peer_call_ids[3].as_str()),
        ("32769", "4660")
    );
    assert_eq!(per_frame(&d, "pptp.phone_number")[2], "5551234");
    assert_eq!(per_frame(&d, "pptp.phone_number_length")[2], "7");
    assert_eq!(per_frame(&d, "pptp.maximum_bps")[2], "100000000");
    assert_eq!(per_frame(&d, "pptp.out_result")[3], "1");
    assert_eq!(per_frame(&d, "pptp.connect_speed")[3], "10000000");
    assert_eq!(per_frame(&d, "pptp.physical_channel_id")[3], "5");
    // Set-Link-Info.
    assert_eq!(peer_call_ids[4], "32769");
    assert_eq!(per_frame(&d, "pptp.send_accm")[4], "0xffffffff");
    assert_eq!(per_frame(&d, "pptp.receive_accm")[4], "0x00000000");
    // ICRQ / ICRP / ICCN.
    assert_eq!(call_ids[5], "66");
    assert_eq!(per_frame(&d, "pptp.dialed_number")[5], "100");
    assert_eq!(per_frame(&d, "pptp.dialing_number")[5], "200");
    assert_eq!(per_frame(&d, "pptp.subaddress")[5], "x");
    assert_eq!(
        (call_ids[6].as_str(), peer_call_ids[6].as_str()),
        ("67", "66")
    );
    assert_eq!(per_frame(&d, "pptp.in_result")[6], "1");
    assert_eq!(peer_call_ids[7], "67");
    assert_eq!(per_frame(&d, "pptp.connect_speed")[7], "64000");
    // WAN-Error-Notify.
    assert_eq!(peer_call_ids[8], "4660");
    assert_eq!(per_frame(&d, "pptp.crc_errors")[8], "1");
    assert_eq!(per_frame(&d, "pptp.alignment_errors")[8], "6");
    // Echo.
    assert_eq!(per_frame(&d, "pptp.identifier")[9], "3735928559");
    assert_eq!(per_frame(&d, "pptp.identifier")[10], "3735928559");
    assert_eq!(per_frame(&d, "pptp.echo_result")[10], "1");
    // Call-Clear-Request / Call-Disconnect-Notify.
    assert_eq!(call_ids[11], "4660");
    assert_eq!(call_ids[12], "32769");
    assert_eq!(per_frame(&d, "pptp.disc_result")[12], "4");
    assert_eq!(per_frame(&d, "pptp.call_Statistics")[12], "rx 10 tx 20");
    // Stop.
    assert_eq!(per_frame(&d, "pptp.reason")[13], "1");
    assert_eq!(per_frame(&d, "pptp.stop_result")[14], "2");
    assert_eq!(per_frame(&d, "pptp.error")[14], "2");
}

#![no_main]
//! Arbitrary bytes into the PPTP data nodes with one installed call. The first byte
//! picks: bit 0, MPPE stateless or stateful; bit 1, whether the rest is a raw packet
//! (IPv4 header and all) or the PPP payload of a well-formed GRE packet from the
//! call's peer; bit 2, whether that payload is first encrypted with the client's MPPE
//! key (so the fuzzer reaches the IP checks behind RC4); bit 3, whether the call
//! requires MPPE. The same bytes then go through the transmit node as an "IP packet".
//! Property: never panics; a ToTun/Punt range lies inside the buffer.
use core::net::Ipv4Addr;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use shardvpn::crypto::ppp::mppe::{
    KeyStrength, Mode, MppeDecryptor, MppeEncryptor, Role, mschapv2_start_keys,
};
use shardvpn::crypto::ppp::mschapv2::PasswordHash;
use shardvpn::dataplane::counters::Counters;
use shardvpn::dataplane::pptp::{Mppe, PptpCall, encap, gre_input};
use shardvpn::dataplane::rx::Rx;
use shardvpn::dataplane::tables::{Capacities, Command, Tables};
use shardvpn::wire::{gre, ipv4};

const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const CALL: u16 = 9;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mppe_mode = if mode & 1 == 0 {
        Mode::Stateless
    } else {
        Mode::Stateful
    };
    let hash = PasswordHash::from_password("fuzz").unwrap();
    let s = KeyStrength::Bits128;
    let (ss, sr) = mschapv2_start_keys(&hash, &[3; 24], s, Role::Server);
    let (cs, _) = mschapv2_start_keys(&hash, &[3; 24], s, Role::Client);
    let mut t = Tables::new(Capacities {
        sas: 1,
        sessions: 2,
        tunnels: 1,
        routes: 1,
    });
    let call = PptpCall::new(PEER, 1, 64, 1, mode & 8 != 0);
    t.apply(Command::InstallCall {
        call_id: CALL,
        call: Box::new(call),
    })
    .unwrap();
    t.apply(Command::SetCallIpv4 {
        call_id: CALL,
        ipv4: Some(Ipv4Addr::new(10, 0, 0, 2)),
    })
    .unwrap();
    t.apply(Command::SetCallMppe {
        call_id: CALL,
        mppe: Some(Box::new(Mppe {
            enc: MppeEncryptor::new(&ss, s, mppe_mode).unwrap(),
            dec: MppeDecryptor::new(&sr, s, mppe_mode).unwrap(),
        })),
    })
    .unwrap();
    let mut c = Counters::new();
    let mut buf = if mode & 2 == 0 {
        rest.to_vec()
    } else {
        let mut ppp = rest.to_vec();
        if mode & 4 != 0 && ppp.len() >= 6 {
            // FF 03 00 FD, then the MPPE packet.
            let mut enc = MppeEncryptor::new(&cs, s, mppe_mode).unwrap();
            let _ = enc.encrypt(&mut ppp[4..]);
            ppp[..4].copy_from_slice(&[0xff, 0x03, 0x00, 0xfd]);
        }
        let ppp = &ppp[..ppp.len().min(60000)];
        let g = gre::Repr {
            protocol: gre::Protocol::Ppp,
            call_id: CALL,
            sequence_number: Some(u32::from(mode)),
            acknowledgment_number: None,
            payload: ppp,
        };
        let mut out = vec![0u8; ipv4::HEADER_LEN + g.buffer_len()];
        ipv4::Repr {
            src_addr: PEER,
            dst_addr: Ipv4Addr::new(192, 0, 2, 1),
            next_header: ipv4::Protocol::Gre,
            payload_len: g.buffer_len(),
            hop_limit: 64,
        }
        .emit(&mut ipv4::Packet::new_unchecked(&mut out[..]));
        g.emit(&mut gre::Packet::new_unchecked(
            &mut out[ipv4::HEADER_LEN..],
        ));
        out
    };
    let len = buf.len();
    match gre_input(&mut t, &mut c, Instant::now(), &mut buf) {
        Rx::ToTun { range, .. } | Rx::Punt { range, .. } => {
            assert!(range.start <= range.end && range.end <= len)
        }
        Rx::Drop(_) | Rx::Consumed => {}
    }
    // Transmit: the bytes as an IP packet with the headroom the runtime gives.
    let mut out = vec![0u8; 64 + rest.len()];
    out[64..].copy_from_slice(rest);
    let end = out.len();
    if let Some(call) = t.call_mut(CALL)
        && let Ok(r) = encap(call, &mut c, Instant::now(), &mut out, 64..end)
    {
        assert!(r.end <= end && gre::Packet::new_checked(&out[r]).is_ok());
    }
});

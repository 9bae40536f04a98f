//! Our client against our server over an in-memory byte stream cut at every possible
//! boundary, with a fake clock: calls, keepalives, stops, refusals, the incoming-call
//! direction and garbage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::wire::pptp::{IncomingCallConnected, IncomingCallRequest, Packet, Repr};

fn config() -> Arc<PptpConfig> {
    Arc::new(PptpConfig::default())
}

/// Moves everything one side has written to the other in chunks of `chunk` bytes
/// (the last shorter), until both are quiet. Returns the events of both.
fn pump(
    now: Instant,
    client: &mut Control,
    server: &mut Control,
    chunk: usize,
) -> (Vec<Event>, Vec<Event>) {
    let (mut ce, mut se) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        let to_server: Vec<u8> = std::iter::from_fn(|| client.poll_transmit())
            .flatten()
            .collect();
        let to_client: Vec<u8> = std::iter::from_fn(|| server.poll_transmit())
            .flatten()
            .collect();
        if to_server.is_empty() && to_client.is_empty() {
            break;
        }
        for piece in to_server.chunks(chunk.max(1)) {
            server.handle_bytes(now, piece);
        }
        for piece in to_client.chunks(chunk.max(1)) {
            client.handle_bytes(now, piece);
        }
        ce.extend(std::iter::from_fn(|| client.poll_event()));
        se.extend(std::iter::from_fn(|| server.poll_event()));
    }
    ce.extend(std::iter::from_fn(|| client.poll_event()));
    se.extend(std::iter::from_fn(|| server.poll_event()));
    (ce, se)
}

/// The server answers every call request, giving call IDs from 1000.
fn answer_calls(now: Instant, server: &mut Control, events: &[Event], next: &mut u16) {
    for e in events {
        if let Event::CallRequest { peer_call_id, .. } = e {
            assert!(server.accept_call(now, *peer_call_id, *next));
            *next += 1;
        }
    }
}

#[test]
fn calls_over_a_stream_split_at_every_boundary() {
    // Every chunk size from 1 byte to more than a whole exchange.
    for chunk in [
        1usize, 2, 3, 5, 7, 11, 12, 13, 64, 155, 156, 157, 168, 500, 4096,
    ] {
        let now = Instant::now();
        let mut client = Control::client(now, config());
        let mut server = Control::server(now, config());
        let (ce, se) = pump(now, &mut client, &mut server, chunk);
        assert_eq!(ce, [Event::Up], "chunk {chunk}");
        assert_eq!(se, [Event::Up], "chunk {chunk}");
        for i in 0..20u16 {
            assert!(client.place_call(now, 100 + i, i));
        }
        let (_, se) = pump(now, &mut client, &mut server, chunk);
        let requests = se
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::CallRequest {
                        incoming: false,
                        peer_window: 64,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(requests, 20, "chunk {chunk}");
        let mut next = 1000;
        answer_calls(now, &mut server, &se, &mut next);
        let (ce, se) = pump(now, &mut client, &mut server, chunk);
        let ups = se
            .iter()
            .filter(|e| matches!(e, Event::CallUp { .. }))
            .count();
        assert_eq!(ups, 20);
        let mut client_ups: Vec<(u16, u16)> = ce
            .iter()
            .filter_map(|e| match e {
                Event::CallUp {
                    local_call_id,
                    peer_call_id,
                    ..
                } => Some((*local_call_id, *peer_call_id)),
                _ => None,
            })
            .collect();
        client_ups.sort_unstable();
        assert_eq!(client_ups.len(), 20);
        assert!(client_ups.iter().all(|(l, p)| *p == 1000 + (l - 100)));
        assert_eq!((client.calls(), server.calls()), (20, 20));
        // The client clears one call, the server disconnects another.
        client.end_call(100, DisconnectResult::Request);
        server.end_call(1001, DisconnectResult::AdminShutdown);
        let (ce, se) = pump(now, &mut client, &mut server, chunk);
        let downs = |events: &[Event]| {
            let mut d: Vec<(u16, u16)> = events
                .iter()
                .filter_map(|e| match e {
                    Event::CallDown {
                        local_call_id,
                        peer_call_id,
                    } => Some((*local_call_id, *peer_call_id)),
                    _ => None,
                })
                .collect();
            d.sort_unstable();
            d
        };
        assert_eq!(downs(&ce), [(100, 1000), (101, 1001)]);
        assert_eq!(downs(&se), [(1000, 100), (1001, 101)]);
        assert_eq!((client.calls(), server.calls()), (18, 18));
        // Stop: every remaining call goes down, once, on both sides.
        client.close(now, StopReason::None);
        let (ce, se) = pump(now, &mut client, &mut server, chunk);
        assert_eq!(downs(&ce).len(), 18);
        assert_eq!(downs(&se).len(), 18);
        assert_eq!(
            ce.last(),
            Some(&Event::Closed {
                reason: CloseReason::Local
            })
        );
        assert_eq!(
            se.last(),
            Some(&Event::Closed {
                reason: CloseReason::PeerStopped(StopReason::None)
            })
        );
        assert!(client.is_closed() && server.is_closed());
    }
}

#[test]
fn keepalive_and_dead_peer() {
    let t0 = Instant::now();
    let mut client = Control::client(t0, config());
    let mut server = Control::server(t0, config());
    pump(t0, &mut client, &mut server, 4096);
    // Quiet for a minute: the server asks, the client answers, all is well.
    let t1 = t0 + Duration::from_secs(60);
    assert_eq!(server.poll_timeout(), Some(t1));
    server.handle_timeout(t1);
    client.handle_timeout(t1);
    pump(t1, &mut client, &mut server, 4096);
    assert_eq!(server.stats().echo_requests_sent, 1);
    assert!(server.is_established());
    // Then the client vanishes: a request, no answer, dead after the echo timeout.
    let t2 = t1 + Duration::from_secs(60);
    server.handle_timeout(t2);
    assert!(server.poll_transmit().is_some());
    let t3 = t2 + Duration::from_secs(60);
    assert_eq!(server.poll_timeout(), Some(t3));
    server.handle_timeout(t3);
    let events: Vec<Event> = std::iter::from_fn(|| server.poll_event()).collect();
    assert_eq!(
        events,
        [Event::Closed {
            reason: CloseReason::EchoTimeout
        }]
    );
}

#[test]
fn setup_timeouts_and_refusals() {
    let t0 = Instant::now();
    // A connection that never says hello.
    let mut server = Control::server(t0, config());
    server.handle_timeout(t0 + Duration::from_secs(60));
    assert_eq!(
        server.poll_event(),
        Some(Event::Closed {
            reason: CloseReason::SetupTimeout
        })
    );

    // Refused and over-limit calls come back down on the client.
    let small = Arc::new(PptpConfig {
        max_calls: 2,
        ..PptpConfig::default()
    });
    let mut client = Control::client(t0, config());
    let mut server = Control::server(t0, small);
    pump(t0, &mut client, &mut server, 4096);
    for id in 1..=3 {
        client.place_call(t0, id, id);
    }
    let (early, se) = pump(t0, &mut client, &mut server, 4096);
    let asked: Vec<u16> = se
        .iter()
        .filter_map(|e| match e {
            Event::CallRequest { peer_call_id, .. } => Some(*peer_call_id),
            _ => None,
        })
        .collect();
    assert_eq!(asked.len(), 2, "the third is over max_calls: {se:?}");
    server.reject_call(asked[0]);
    assert!(server.accept_call(t0, asked[1], 77));
    let (late, _) = pump(t0, &mut client, &mut server, 4096);
    let ce: Vec<Event> = early.into_iter().chain(late).collect();
    let downs = ce
        .iter()
        .filter(|e| matches!(e, Event::CallDown { .. }))
        .count();
    let ups = ce
        .iter()
        .filter(|e| matches!(e, Event::CallUp { .. }))
        .count();
    assert_eq!((ups, downs), (1, 2));

    // A call request nobody answers times out on the client.
    let mut client = Control::client(t0, config());
    let mut server = Control::server(t0, config());
    pump(t0, &mut client, &mut server, 4096);
    client.place_call(t0, 9, 9);
    pump(t0, &mut client, &mut server, 4096);
    let late = t0 + Duration::from_secs(61);
    client.handle_timeout(late);
    assert!(std::iter::from_fn(|| client.poll_event()).any(|e| matches!(
        e,
        Event::CallDown {
            local_call_id: 9,
            ..
        }
    )));
}

fn encode(message: Message<'_>) -> Vec<u8> {
    let repr = Repr::control(message);
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
    buf
}

#[test]
fn incoming_call_direction() {
    let t0 = Instant::now();
    let mut client = Control::client(t0, config());
    let mut server = Control::server(t0, config());
    pump(t0, &mut client, &mut server, 4096);
    // A peer acting as PAC announces an incoming call.
    let icrq = encode(Message::IncomingCallRequest(IncomingCallRequest {
        call_id: 55,
        call_serial_number: 1,
        call_bearer_type: pptp::BEARER_DIGITAL,
        physical_channel_id: 0,
        dialed_number_length: 0,
        dialing_number_length: 0,
        dialed_number: &[],
        dialing_number: &[],
        subaddress: &[],
    }));
    server.handle_bytes(t0, &icrq);
    assert_eq!(
        server.poll_event(),
        Some(Event::CallRequest {
            peer_call_id: 55,
            serial: 1,
            peer_window: 0,
            incoming: true
        })
    );
    assert!(server.accept_call(t0, 55, 500));
    let icrp = server.poll_transmit().unwrap();
    match Repr::parse_bytes(&icrp).unwrap().message {
        Message::IncomingCallReply(r) => {
            assert_eq!((r.call_id, r.peer_call_id), (500, 55));
            assert_eq!(r.result_code, IncomingCallResult::Connect);
        }
        other => panic!("{other:?}"),
    }
    // Up only on Incoming-Call-Connected, which names our call ID.
    assert_eq!(server.poll_event(), None);
    let iccn = encode(Message::IncomingCallConnected(IncomingCallConnected {
        peer_call_id: 500,
        connect_speed: 64000,
        packet_recv_window_size: 16,
        packet_transmit_delay: 0,
        framing_type: pptp::FRAMING_SYNC,
    }));
    server.handle_bytes(t0, &iccn);
    assert_eq!(
        server.poll_event(),
        Some(Event::CallUp {
            local_call_id: 500,
            peer_call_id: 55,
            peer_window: 16
        })
    );
    // Set-Link-Info for it is reported; for an unknown call it is counted.
    let sli = |id| {
        encode(Message::SetLinkInfo(pptp::SetLinkInfo {
            peer_call_id: id,
            send_accm: 0xffff_ffff,
            receive_accm: 0,
        }))
    };
    server.handle_bytes(t0, &sli(500));
    server.handle_bytes(t0, &sli(501));
    assert_eq!(
        server.poll_event(),
        Some(Event::LinkInfo {
            local_call_id: 500,
            send_accm: 0xffff_ffff,
            receive_accm: 0
        })
    );
    assert_eq!(server.stats().ignored, 1);
}

#[test]
fn framing_loss_and_garbage() {
    let t0 = Instant::now();
    let mut server = Control::server(t0, config());
    let mut client = Control::client(t0, config());
    let mut hello = client.poll_transmit().unwrap();
    hello[5] ^= 0xff; // the Magic Cookie
    server.handle_bytes(t0, &hello);
    assert_eq!(
        server.poll_event(),
        Some(Event::Closed {
            reason: CloseReason::Framing
        })
    );

    // Random bytes, in random pieces, never panic.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..200 {
        let mut server = Control::server(t0, config());
        let len = (next() % 600) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Often a plausible header, so the messages get past framing.
        if next() % 2 == 0 && bytes.len() >= 12 {
            let len = bytes.len().min(156) as u16;
            bytes[0..2].copy_from_slice(&len.to_be_bytes());
            bytes[2..4].copy_from_slice(&1u16.to_be_bytes());
            bytes[4..8].copy_from_slice(&pptp::MAGIC_COOKIE.to_be_bytes());
        }
        for piece in bytes.chunks(1 + (next() % 40) as usize) {
            server.handle_bytes(t0, piece);
        }
        server.handle_timeout(t0 + Duration::from_secs(next() % 200));
        while server.poll_transmit().is_some() {}
        while server.poll_event().is_some() {}
    }
}

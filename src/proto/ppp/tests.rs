//! Engine tests: our client against our server in memory with a fake clock, with
//! loss and duplication; and single-engine scenarios driven with hand-built frames.
//! Frames cross the "wire" as real PPP frames (src/wire/ppp) so that what the engine
//! emits is checked to parse.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::crypto::ppp::{chap as chap_md5, mschapv2};
use crate::wire::chap;
use crate::wire::ppp::{Frame, FrameRepr};
use crate::wire::ppp_options::{
    AuthenticationProtocol, ChapAlgorithm, IpcpOption, LcpOption, Options,
};

const PASSWORD: &str = "s3cret pass";
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);
const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DNS1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
const DNS2: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 54);

fn assignment() -> Ipv4Assignment {
    Ipv4Assignment {
        peer: PEER,
        local: LOCAL,
        dns: [Some(DNS1), Some(DNS2)],
        nbns: [None, None],
    }
}

/// A deterministic filler (xorshift) standing in for the OS generator.
fn filler(seed: u64) -> impl FnMut(&mut [u8]) {
    let mut x = seed | 1;
    move |buf: &mut [u8]| {
        for b in buf {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
}

fn server_config(methods: Vec<AuthMethod>) -> PppConfig {
    PppConfig {
        auth_methods: methods,
        ..PppConfig::default()
    }
}

fn client_config(methods: Vec<AuthMethod>, password: &str) -> PppConfig {
    PppConfig {
        auth_methods: methods,
        credentials: Some(Credentials {
            username: b"alice".to_vec(),
            password: Secret::from(password),
        }),
        ..PppConfig::default()
    }
}

/// Frames a control packet as it would travel (Address/Control, 2-octet
/// Protocol) and parses it back, as the caller of the engine would.
fn over_the_wire(protocol: u16, payload: &[u8]) -> (u16, Vec<u8>) {
    let repr = FrameRepr {
        protocol: Protocol::from(protocol),
        acfc: false,
        pfc: false,
        payload,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut buf);
    let frame = Frame::new_checked(&buf[..]).expect("engine output frames");
    (frame.protocol().into(), frame.payload().to_vec())
}

/// The decisions the "AAA" side of the test makes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Decision {
    Verify,
    RejectAll,
    /// Accept MS-CHAPv2 but hand back a wrong Authenticator Response.
    WrongAuthenticatorResponse,
    /// Never answer (a stuck AAA backend).
    NoAnswer,
}

/// Server-side verification with src/crypto/ppp against the known password.
fn verify(request: &AuthRequest) -> Option<Option<[u8; 20]>> {
    match &request.proof {
        AuthProof::Pap { password } => (password.expose() == PASSWORD.as_bytes()).then_some(None),
        AuthProof::ChapMd5 {
            identifier,
            challenge,
            response,
        } => chap_md5::verify(*identifier, PASSWORD.as_bytes(), challenge, response)
            .ok()
            .map(|()| None),
        AuthProof::MsChapV2 {
            authenticator_challenge,
            peer_challenge,
            nt_response,
            ..
        } => {
            let hash = mschapv2::PasswordHash::from_password(PASSWORD).unwrap();
            let response = mschapv2::verify_nt_response(
                &hash,
                authenticator_challenge,
                peer_challenge,
                &request.username,
                nt_response,
            )
            .ok()?;
            Some(Some(
                authenticator_response_bytes(response.as_bytes()).unwrap(),
            ))
        }
    }
}

struct Pair {
    now: Instant,
    server: Ppp,
    client: Ppp,
    server_events: Vec<PppEvent>,
    client_events: Vec<PppEvent>,
    /// Frames sent by each side, in order (protocol, packet).
    server_sent: Vec<(u16, Vec<u8>)>,
    client_sent: Vec<(u16, Vec<u8>)>,
    decision: Decision,
    loss_percent: u64,
    duplicate_percent: u64,
    reorder_percent: u64,
    held: Vec<(bool, u16, Vec<u8>)>,
    /// xorshift state deciding loss and duplication.
    chaos: u64,
    /// When false, nothing the client sends reaches the server (a dead peer).
    client_to_server: bool,
}

impl Pair {
    fn new(server: PppConfig, client: PppConfig, seed: u64) -> Pair {
        let now = Instant::now();
        Pair {
            now,
            server: Ppp::server(Arc::new(server), now, &mut filler(seed)),
            client: Ppp::client(Arc::new(client), now, &mut filler(seed ^ 0xabcdef)),
            server_events: Vec::new(),
            client_events: Vec::new(),
            server_sent: Vec::new(),
            client_sent: Vec::new(),
            decision: Decision::Verify,
            loss_percent: 0,
            duplicate_percent: 0,
            reorder_percent: 0,
            held: Vec::new(),
            chaos: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
            client_to_server: true,
        }
    }

    fn roll(&mut self) -> u64 {
        self.chaos ^= self.chaos << 13;
        self.chaos ^= self.chaos >> 7;
        self.chaos ^= self.chaos << 17;
        self.chaos % 100
    }

    /// How many copies of a frame the network delivers.
    fn copies(&mut self) -> usize {
        if self.roll() < self.loss_percent {
            0
        } else if self.roll() < self.duplicate_percent {
            2
        } else {
            1
        }
    }

    fn open(&mut self) {
        self.server.open(self.now);
        self.client.open(self.now);
    }

    /// Moves frames and answers events until nothing moves; returns whether
    /// anything happened.
    fn exchange(&mut self) -> bool {
        let mut any = false;
        loop {
            let mut moved = false;
            // Frames held back last round are delivered after this round's.
            let held = std::mem::take(&mut self.held);
            let mut in_flight = Vec::new();
            while let Some((p, packet)) = self.server.poll_transmit() {
                self.server_sent.push((p, packet.clone()));
                let (p, packet) = over_the_wire(p, &packet);
                in_flight.push((false, p, packet));
            }
            while let Some((p, packet)) = self.client.poll_transmit() {
                self.client_sent.push((p, packet.clone()));
                let (p, packet) = over_the_wire(p, &packet);
                if self.client_to_server {
                    in_flight.push((true, p, packet));
                }
            }
            let mut deliver = Vec::new();
            for frame in in_flight {
                moved = true;
                if self.roll() < self.reorder_percent {
                    self.held.push(frame);
                } else {
                    deliver.push(frame);
                }
            }
            moved |= !held.is_empty();
            deliver.extend(held);
            for (to_server, p, packet) in deliver {
                for _ in 0..self.copies() {
                    if to_server {
                        self.server.handle_frame(self.now, p, &packet);
                    } else {
                        self.client.handle_frame(self.now, p, &packet);
                    }
                }
            }
            while let Some(e) = self.server.poll_event() {
                moved = true;
                match &e {
                    PppEvent::AuthRequest(r) => {
                        let verdict = verify(r);
                        match (self.decision, verdict) {
                            (Decision::NoAnswer, _) => {}
                            (Decision::Verify, Some(ar)) => {
                                self.server.auth_accept(self.now, ar).unwrap()
                            }
                            (Decision::WrongAuthenticatorResponse, Some(Some(mut ar))) => {
                                ar[0] ^= 1;
                                self.server.auth_accept(self.now, Some(ar)).unwrap()
                            }
                            _ => self.server.auth_reject(self.now, "bad password").unwrap(),
                        }
                    }
                    PppEvent::NeedAddress => self.server.set_ipv4(self.now, assignment()).unwrap(),
                    _ => {}
                }
                self.server_events.push(e);
            }
            while let Some(e) = self.client.poll_event() {
                moved = true;
                self.client_events.push(e);
            }
            if !moved {
                return any;
            }
            any = true;
        }
    }

    /// Runs until `done` or until `limit` of simulated time passes.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Pair) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            self.exchange();
            if done(self) {
                return true;
            }
            let next = [self.server.poll_timeout(), self.client.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.server.handle_timeout(self.now);
                    self.client.handle_timeout(self.now);
                }
                _ => return done(self),
            }
        }
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(d, |_| false);
        self.now = end;
        self.server.handle_timeout(self.now);
        self.client.handle_timeout(self.now);
        self.exchange();
    }

    fn both_up(&self) -> bool {
        let up = |events: &[PppEvent]| {
            events.iter().any(|e| matches!(e, PppEvent::Ipv4Up { .. }))
                && events.iter().any(|e| matches!(e, PppEvent::Ipv6Up { .. }))
        };
        up(&self.server_events) && up(&self.client_events)
    }
}

fn closed_reason(events: &[PppEvent]) -> Option<CloseReason> {
    let closes: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            PppEvent::Closed { reason } => Some(*reason),
            _ => None,
        })
        .collect();
    assert!(closes.len() <= 1, "Closed emitted twice: {closes:?}");
    closes.first().copied()
}

fn ipv4_up(events: &[PppEvent]) -> Option<(Ipv4Addr, Ipv4Addr, [Option<Ipv4Addr>; 2])> {
    events.iter().find_map(|e| match e {
        PppEvent::Ipv4Up { local, peer, dns } => Some((*local, *peer, *dns)),
        _ => None,
    })
}

fn ipv6_up(events: &[PppEvent]) -> Option<([u8; 8], [u8; 8])> {
    events.iter().find_map(|e| match e {
        PppEvent::Ipv6Up { local_id, peer_id } => Some((*local_id, *peer_id)),
        _ => None,
    })
}

fn auth_method_used(events: &[PppEvent]) -> Option<AuthMethod> {
    events.iter().find_map(|e| match e {
        PppEvent::AuthRequest(r) => Some(r.method),
        _ => None,
    })
}

fn establish(method: AuthMethod, seed: u64) -> Pair {
    let mut pair = Pair::new(
        server_config(vec![method]),
        client_config(vec![method], PASSWORD),
        seed,
    );
    pair.open();
    assert!(pair.run_until(Duration::from_secs(5), Pair::both_up));
    pair
}

fn check_established(pair: &Pair, method: AuthMethod) {
    assert_eq!(auth_method_used(&pair.server_events), Some(method));
    assert!(pair.client_events.contains(&PppEvent::Authenticated));
    assert!(pair.server_events.contains(&PppEvent::Authenticated));
    assert_eq!(
        ipv4_up(&pair.server_events),
        Some((LOCAL, PEER, [Some(DNS1), Some(DNS2)]))
    );
    assert_eq!(
        ipv4_up(&pair.client_events),
        Some((PEER, LOCAL, [Some(DNS1), Some(DNS2)]))
    );
    let (server_local, server_peer) = ipv6_up(&pair.server_events).unwrap();
    let (client_local, client_peer) = ipv6_up(&pair.client_events).unwrap();
    assert_eq!(server_local, client_peer);
    assert_eq!(server_peer, client_local);
    assert_ne!(server_local, client_local);
    assert_ne!(server_local, [0; 8]);
    assert_eq!(pair.server.phase(), Phase::Network);
    assert_eq!(pair.client.phase(), Phase::Network);
    assert_eq!(closed_reason(&pair.server_events), None);
    // LCP is always sent uncompressed and every frame parsed on the way.
    let link = pair.server.link_options();
    assert_eq!(link.auth, Some(method));
    assert_ne!(link.peer_magic, 0);
    assert_eq!(link.peer_magic, pair.client.link_options().local_magic);
}

#[test]
fn pap_chap_mschapv2_establish_without_loss() {
    for method in [AuthMethod::Pap, AuthMethod::ChapMd5, AuthMethod::MsChapV2] {
        let pair = establish(method, 1);
        check_established(&pair, method);
        // No loss: no retransmission was needed, on either side.
        assert_eq!(pair.server.counters().lcp.retransmissions, 0);
        assert_eq!(pair.client.counters().lcp.retransmissions, 0);
    }
}

#[test]
fn establish_with_loss_duplication_and_reordering() {
    for method in [AuthMethod::Pap, AuthMethod::ChapMd5, AuthMethod::MsChapV2] {
        let mut retransmissions = 0;
        for seed in 1..=50u64 {
            let mut pair = Pair::new(
                server_config(vec![method]),
                client_config(vec![method], PASSWORD),
                seed,
            );
            pair.loss_percent = 20;
            pair.duplicate_percent = 20;
            pair.reorder_percent = 5;
            pair.open();
            let up = pair.run_until(Duration::from_secs(120), Pair::both_up);
            assert!(
                up,
                "{method:?} seed {seed}: server {:?} client {:?}",
                pair.server_events, pair.client_events
            );
            check_established(&pair, method);
            retransmissions += pair.server.counters().lcp.retransmissions
                + pair.client.counters().lcp.retransmissions
                + pair.server.counters().ipcp.retransmissions
                + pair.client.counters().ipcp.retransmissions;
        }
        // The loss was real: some requests had to be sent again.
        assert!(retransmissions > 0);
    }
}

#[test]
fn server_moves_to_the_method_the_client_supports() {
    let mut pair = Pair::new(
        server_config(vec![AuthMethod::MsChapV2, AuthMethod::ChapMd5]),
        client_config(vec![AuthMethod::ChapMd5], PASSWORD),
        3,
    );
    pair.open();
    assert!(pair.run_until(Duration::from_secs(5), Pair::both_up));
    check_established(&pair, AuthMethod::ChapMd5);
    // The client Naked the MS-CHAPv2 request, suggesting CHAP-MD5.
    let nak = pair
        .client_sent
        .iter()
        .find(|(p, packet)| *p == 0xc021 && packet[0] == 3)
        .expect("client sent a Configure-Nak");
    assert_eq!(&nak.1[4..], &[3, 5, 0xc2, 0x23, 0x05]);
}

#[test]
fn no_common_method_fails_negotiation() {
    let mut pair = Pair::new(
        server_config(vec![AuthMethod::MsChapV2]),
        client_config(vec![AuthMethod::Pap], PASSWORD),
        4,
    );
    pair.open();
    pair.run_until(Duration::from_secs(60), |p| {
        closed_reason(&p.server_events).is_some()
    });
    assert_eq!(
        closed_reason(&pair.server_events),
        Some(CloseReason::NegotiationFailed)
    );
    assert_eq!(auth_method_used(&pair.server_events), None);
}

#[test]
fn mschapv2_success_carries_the_authenticator_response() {
    let pair = establish(AuthMethod::MsChapV2, 5);
    let (_, success) = pair
        .server_sent
        .iter()
        .find(|(p, packet)| *p == 0xc223 && packet[0] == 3)
        .unwrap();
    let repr = chap::Repr::parse(&chap::Packet::new_checked(&success[..]).unwrap()).unwrap();
    let chap::Repr::Success { message, .. } = repr else {
        panic!("not a Success: {repr:?}");
    };
    assert_eq!(&message[..2], b"S=");
    assert_eq!(&message[42..], b" M=Access granted");
}

#[test]
fn mschapv2_reject_sends_failure_and_terminates() {
    let mut pair = Pair::new(
        server_config(vec![AuthMethod::MsChapV2]),
        client_config(vec![AuthMethod::MsChapV2], "wrong password"),
        6,
    );
    pair.open();
    pair.run_until(Duration::from_secs(30), |p| {
        closed_reason(&p.server_events).is_some() && closed_reason(&p.client_events).is_some()
    });
    // The challenge we sent, to check C= in the Failure.
    let (_, challenge) = pair
        .server_sent
        .iter()
        .find(|(p, packet)| *p == 0xc223 && packet[0] == 1)
        .unwrap();
    let value = &challenge[5..21];
    let hex: String = value.iter().map(|b| format!("{b:02X}")).collect();
    let position = pair
        .server_sent
        .iter()
        .position(|(p, packet)| *p == 0xc223 && packet[0] == 4)
        .expect("CHAP Failure sent");
    let failure = &pair.server_sent[position].1;
    let expected = format!("E=691 R=0 C={hex} V=3 M=bad password");
    assert_eq!(&failure[4..], expected.as_bytes());
    assert_eq!(failure[1], challenge[1], "Failure echoes the Identifier");
    // Then LCP Terminate-Request.
    let (p, terminate) = &pair.server_sent[position + 1];
    assert_eq!(*p, 0xc021);
    assert_eq!(terminate[0], 5);
    assert_eq!(&terminate[4..], b"authentication failed");
    assert_eq!(
        closed_reason(&pair.server_events),
        Some(CloseReason::AuthFailed)
    );
    assert_eq!(
        closed_reason(&pair.client_events),
        Some(CloseReason::AuthFailed)
    );
    assert_eq!(pair.server.counters().auth_failures, 1);
    assert!(ipv4_up(&pair.server_events).is_none());
}

#[test]
fn pap_and_chap_reject_close_both_sides() {
    for method in [AuthMethod::Pap, AuthMethod::ChapMd5] {
        let mut pair = Pair::new(
            server_config(vec![method]),
            client_config(vec![method], PASSWORD),
            7,
        );
        pair.decision = Decision::RejectAll;
        pair.open();
        pair.run_until(Duration::from_secs(30), |p| {
            closed_reason(&p.server_events).is_some() && closed_reason(&p.client_events).is_some()
        });
        assert_eq!(
            closed_reason(&pair.server_events),
            Some(CloseReason::AuthFailed)
        );
        assert_eq!(
            closed_reason(&pair.client_events),
            Some(CloseReason::AuthFailed)
        );
        let (proto, code) = if method == AuthMethod::Pap {
            (0xc023, 3)
        } else {
            (0xc223, 4)
        };
        assert!(
            pair.server_sent
                .iter()
                .any(|(p, packet)| *p == proto && packet[0] == code)
        );
    }
}

#[test]
fn client_detects_a_forged_authenticator_response() {
    let mut pair = Pair::new(
        server_config(vec![AuthMethod::MsChapV2]),
        client_config(vec![AuthMethod::MsChapV2], PASSWORD),
        8,
    );
    pair.decision = Decision::WrongAuthenticatorResponse;
    pair.open();
    pair.run_until(Duration::from_secs(30), |p| {
        closed_reason(&p.client_events).is_some()
    });
    assert_eq!(
        closed_reason(&pair.client_events),
        Some(CloseReason::AuthFailed)
    );
    assert!(ipv4_up(&pair.client_events).is_none());
    // The client terminates the link; the server sees the peer leave.
    pair.run_until(Duration::from_secs(30), |p| {
        closed_reason(&p.server_events).is_some()
    });
    assert_eq!(
        closed_reason(&pair.server_events),
        Some(CloseReason::PeerTerminated)
    );
}

#[test]
fn peer_terminate_and_admin_close() {
    let mut pair = establish(AuthMethod::ChapMd5, 9);
    pair.client.close(pair.now, CloseReason::Admin);
    pair.run_until(Duration::from_secs(30), |p| {
        closed_reason(&p.server_events).is_some() && closed_reason(&p.client_events).is_some()
    });
    assert_eq!(closed_reason(&pair.client_events), Some(CloseReason::Admin));
    assert_eq!(
        closed_reason(&pair.server_events),
        Some(CloseReason::PeerTerminated)
    );
    assert!(pair.server_events.contains(&PppEvent::Ipv4Down));
    assert!(pair.server_events.contains(&PppEvent::Ipv6Down));
    assert!(pair.server.is_closed());
    // A closed engine is inert.
    pair.server
        .handle_frame(pair.now, 0xc021, &[9, 1, 0, 8, 0, 0, 0, 1]);
    assert_eq!(pair.server.poll_transmit(), None);
    assert_eq!(pair.server.poll_timeout(), None);
}

#[test]
fn echo_keepalive_answered_then_dead_peer_times_out() {
    let mut pair = establish(AuthMethod::ChapMd5, 10);
    // Alive: ten minutes of echoes, all answered.
    pair.advance(Duration::from_secs(600));
    assert_eq!(closed_reason(&pair.server_events), None);
    let c = pair.server.counters();
    assert!(c.echo_requests_sent >= 19, "{c:?}");
    assert!(c.echo_replies_received >= 19);
    // The client goes silent.
    pair.client_to_server = false;
    let silent_since = pair.now;
    pair.run_until(Duration::from_secs(600), |p| {
        closed_reason(&p.server_events).is_some()
    });
    assert_eq!(
        closed_reason(&pair.server_events),
        Some(CloseReason::EchoTimeout)
    );
    // Three unanswered requests 30 s apart, then 30 s more, then 2 Terminate-Requests
    // 3 s apart: closed between 90 and 126 s after the silence began.
    let elapsed = pair.now - silent_since;
    assert!(
        elapsed >= Duration::from_secs(90) && elapsed <= Duration::from_secs(126),
        "{elapsed:?}"
    );
}

#[test]
fn session_and_idle_timeouts() {
    // Session timeout.
    let mut pair = Pair::new(
        PppConfig {
            session_timeout: Some(Duration::from_secs(3600)),
            ..server_config(vec![AuthMethod::Pap])
        },
        client_config(vec![AuthMethod::Pap], PASSWORD),
        11,
    );
    pair.open();
    assert!(pair.run_until(Duration::from_secs(5), Pair::both_up));
    let start = pair.now;
    pair.run_until(Duration::from_secs(7200), |p| {
        closed_reason(&p.server_events).is_some()
    });
    let elapsed = pair.now - start;
    pair.run_until(Duration::from_secs(30), |p| {
        closed_reason(&p.client_events).is_some()
    });
    assert_eq!(
        closed_reason(&pair.server_events),
        Some(CloseReason::SessionTimeout)
    );
    assert!(elapsed >= Duration::from_secs(3600) && elapsed < Duration::from_secs(3610));
    assert_eq!(
        closed_reason(&pair.client_events),
        Some(CloseReason::PeerTerminated)
    );

    // Idle timeout, pushed back by activity.
    let mut pair = Pair::new(
        PppConfig {
            idle_timeout: Some(Duration::from_secs(300)),
            ..server_config(vec![AuthMethod::Pap])
        },
        client_config(vec![AuthMethod::Pap], PASSWORD),
        12,
    );
    pair.open();
    assert!(pair.run_until(Duration::from_secs(5), Pair::both_up));
    pair.advance(Duration::from_secs(200));
    pair.server.note_activity(pair.now);
    pair.advance(Duration::from_secs(200));
    assert_eq!(closed_reason(&pair.server_events), None);
    let last = pair.now - Duration::from_secs(200);
    pair.run_until(Duration::from_secs(600), |p| {
        closed_reason(&p.server_events).is_some()
    });
    assert_eq!(
        closed_reason(&pair.server_events),
        Some(CloseReason::IdleTimeout)
    );
    assert!(pair.now - last >= Duration::from_secs(300));
}

/// A server that went through LCP with a client by hand-built frames would take
/// many lines; the pair does it, then we inject frames into the server.
#[test]
fn unknown_protocol_and_ccp_are_protocol_rejected() {
    let mut pair = establish(AuthMethod::ChapMd5, 13);
    let now = pair.now;
    // IPXCP (0x802B) Configure-Request and CCP (0x80FD) Configure-Request.
    let ipxcp = [1, 1, 0, 4];
    let ccp = [1, 7, 0, 10, 18, 6, 0x01, 0x00, 0x00, 0x60];
    for (protocol, packet) in [(0x802bu16, &ipxcp[..]), (0x80fd, &ccp[..])] {
        pair.server.handle_frame(now, protocol, packet);
        let (p, reject) = pair.server.poll_transmit().expect("Protocol-Reject");
        assert_eq!(p, 0xc021);
        assert_eq!(reject[0], 8, "Protocol-Reject code");
        let len = u16::from_be_bytes([reject[2], reject[3]]);
        assert_eq!(usize::from(len), reject.len());
        assert_eq!(reject[4..6], protocol.to_be_bytes());
        assert_eq!(&reject[6..], packet);
    }
    assert_eq!(pair.server.counters().protocol_rejects_sent, 2);
    // The client handles a Protocol-Reject of IPv6CP by closing IPv6CP only.
    let reject = fsm::control_packet(Code::ProtocolReject, 99, &[0x80, 0x57, 1, 1, 0, 4]);
    pair.client.handle_frame(now, 0xc021, &reject);
    pair.exchange();
    assert!(pair.client_events.contains(&PppEvent::Ipv6Down));
    assert_eq!(closed_reason(&pair.client_events), None);
    assert_eq!(pair.client.ipcp_state(), State::Opened);
}

#[test]
fn unknown_protocol_before_lcp_opened_is_discarded() {
    let now = Instant::now();
    let mut server = Ppp::server(
        Arc::new(server_config(vec![AuthMethod::Pap])),
        now,
        &mut filler(14),
    );
    server.open(now);
    let (_, request) = server.poll_transmit().unwrap();
    assert_eq!(request[0], 1);
    server.handle_frame(now, 0x802b, &[1, 1, 0, 4]);
    assert_eq!(server.poll_transmit(), None);
    assert_eq!(server.counters().protocol_rejects_sent, 0);
    assert_eq!(server.counters().discarded, 1);
}

#[test]
fn server_lcp_request_and_code_reject_of_unknown_code() {
    let now = Instant::now();
    let mut server = Ppp::server(
        Arc::new(server_config(vec![AuthMethod::MsChapV2, AuthMethod::Pap])),
        now,
        &mut filler(15),
    );
    server.open(now);
    let (p, request) = server.poll_transmit().unwrap();
    assert_eq!(p, 0xc021);
    let magic = server.link_options().local_magic;
    let mut expected = vec![1, 1, 0, 4 + 5 + 6, 3, 5, 0xc2, 0x23, 0x81, 5, 6];
    expected.extend_from_slice(&magic.to_be_bytes());
    assert_eq!(request, expected);
    // An unknown LCP code is answered with a Code-Reject carrying it.
    server.handle_frame(now, 0xc021, &[0x42, 9, 0, 6, 0xde, 0xad]);
    let (_, cj) = server.poll_transmit().unwrap();
    assert_eq!(cj[0], 7);
    assert_eq!(&cj[4..], &[0x42, 9, 0, 6, 0xde, 0xad]);
    // A malformed LCP packet (Length past the end) is counted, not answered.
    server.handle_frame(now, 0xc021, &[1, 9, 0, 60, 1]);
    assert_eq!(server.poll_transmit(), None);
    assert_eq!(server.counters().malformed, 1);
}

#[test]
fn looped_back_link_is_detected() {
    let now = Instant::now();
    let mut server = Ppp::server(
        Arc::new(server_config(vec![AuthMethod::ChapMd5])),
        now,
        &mut filler(16),
    );
    server.open(now);
    // Everything the server sends comes straight back to it.
    let mut sent = 0;
    while let Some((p, packet)) = server.poll_transmit() {
        sent += 1;
        assert!(sent < 100, "loop not detected");
        server.handle_frame(now, p, &packet);
    }
    let mut events = Vec::new();
    while let Some(e) = server.poll_event() {
        events.push(e);
    }
    // Terminate-Requests still need their timer to expire.
    let mut t = now;
    while let Some(next) = server.poll_timeout() {
        t = next;
        server.handle_timeout(t);
        while server.poll_transmit().is_some() {}
        while let Some(e) = server.poll_event() {
            events.push(e);
        }
    }
    assert_eq!(closed_reason(&events), Some(CloseReason::LoopedBack));
    assert!(t - now <= Duration::from_secs(10));
}

#[test]
fn ipcp_naks_zero_address_and_rejects_vj_then_acks() {
    let mut pair = establish(AuthMethod::Pap, 17);
    // The client's first IPCP request asked for 0.0.0.0 and DNS 0.0.0.0; the server
    // Naked with the assignment.
    let nak = pair
        .server_sent
        .iter()
        .find(|(p, packet)| *p == 0x8021 && packet[0] == 3)
        .expect("IPCP Nak");
    let options: Vec<_> = Options::new(&nak.1[4..])
        .map(|o| IpcpOption::parse(&o.unwrap()).unwrap())
        .collect();
    assert_eq!(
        options,
        vec![
            IpcpOption::IpAddress(PEER),
            IpcpOption::PrimaryDnsAddress(DNS1),
            IpcpOption::SecondaryDnsAddress(DNS2),
        ]
    );
    // A renegotiation request with VJ compression is Rejected (the automaton
    // goes back to negotiating, RFC 1661 RCR- in Opened).
    let mut options = Vec::new();
    util::push_option(&mut options, &IpcpOption::IpAddress(PEER));
    util::push_option(
        &mut options,
        &IpcpOption::IpCompressionProtocol {
            protocol: 0x002d,
            data: &[0x0f, 0x01],
        },
    );
    let request = fsm::control_packet(Code::ConfigureRequest, 200, &options);
    pair.server.handle_frame(pair.now, 0x8021, &request);
    let mut reject = None;
    while let Some((p, packet)) = pair.server.poll_transmit() {
        if p == 0x8021 && packet[0] == 4 {
            reject = Some(packet);
        }
    }
    let reject = reject.expect("IPCP Reject");
    assert_eq!(reject[1], 200);
    assert_eq!(&reject[4..], &[2, 6, 0x00, 0x2d, 0x0f, 0x01]);
}

#[test]
fn ipcp_request_before_address_is_replayed() {
    let now = Instant::now();
    let mut pair = Pair::new(
        server_config(vec![AuthMethod::Pap]),
        client_config(vec![AuthMethod::Pap], PASSWORD),
        18,
    );
    pair.open();
    // Run by hand, holding back the address: the client's IPCP request arrives
    // while the server waits for it.
    let mut need_address = false;
    for _ in 0..20 {
        while let Some((p, packet)) = pair.server.poll_transmit() {
            pair.client.handle_frame(now, p, &packet);
        }
        while let Some((p, packet)) = pair.client.poll_transmit() {
            pair.server.handle_frame(now, p, &packet);
        }
        while let Some(e) = pair.server.poll_event() {
            match e {
                PppEvent::AuthRequest(r) => {
                    pair.server.auth_accept(now, verify(&r).unwrap()).unwrap()
                }
                PppEvent::NeedAddress => need_address = true,
                _ => {}
            }
        }
        while pair.client.poll_event().is_some() {}
    }
    assert!(need_address);
    assert_eq!(pair.server.ipcp_state(), State::Initial);
    pair.server.set_ipv4(now, assignment()).unwrap();
    // The replayed request is answered at once, with the Nak, before any timer.
    let answers: Vec<_> = std::iter::from_fn(|| pair.server.poll_transmit())
        .filter(|(p, _)| *p == 0x8021)
        .map(|(_, packet)| packet[0])
        .collect();
    assert_eq!(answers, vec![1, 3], "our request, then the Nak");
}

#[test]
fn proxy_lcp_and_proxy_chap_are_accepted() {
    let now = Instant::now();
    let mut config = server_config(vec![AuthMethod::ChapMd5]);
    config.ipv6 = false;
    let mut server = Ppp::server(Arc::new(config), now, &mut filler(19));
    let last_sent = lcp::lcp_options(&[
        LcpOption::AuthenticationProtocol(AuthenticationProtocol::Chap(ChapAlgorithm::Md5)),
        LcpOption::MagicNumber(0x1111_2222),
    ]);
    let last_received = lcp::lcp_options(&[
        LcpOption::MaximumReceiveUnit(1400),
        LcpOption::MagicNumber(0x3333_4444),
        LcpOption::ProtocolFieldCompression,
        LcpOption::AddressControlFieldCompression,
    ]);
    let challenge = [7u8; 16];
    let response = chap_md5::response(42, PASSWORD.as_bytes(), &challenge);
    server.start_with_proxy(
        now,
        &ProxyLcp {
            initial_received: last_received.clone(),
            last_sent,
            last_received,
        },
        Some(ProxyAuth {
            kind: ProxyAuthType::from_avp(2),
            name: b"alice".to_vec(),
            challenge: challenge.to_vec(),
            id: 42,
            response: Secret::new(response.to_vec()),
        }),
    );
    // Nothing on the wire: the LAC negotiated.
    assert_eq!(server.poll_transmit(), None);
    let LinkUp(link) = server.poll_event().unwrap() else {
        panic!()
    };
    assert_eq!(
        (
            link.peer_mru,
            link.local_magic,
            link.peer_magic,
            link.pfc,
            link.acfc
        ),
        (1400, 0x1111_2222, 0x3333_4444, true, true)
    );
    let PppEvent::AuthRequest(request) = server.poll_event().unwrap() else {
        panic!()
    };
    assert!(request.proxy);
    assert_eq!(request.username, b"alice");
    assert_eq!(verify(&request), Some(None));
    server.auth_accept(now, None).unwrap();
    let (p, success) = server.poll_transmit().unwrap();
    assert_eq!(p, 0xc223);
    assert_eq!(&success[..2], &[3, 42]);
    assert_eq!(server.poll_event(), Some(PppEvent::Authenticated));
    assert_eq!(server.poll_event(), Some(PppEvent::NeedAddress));
    server.set_ipv4(now, assignment()).unwrap();
    let (p, request) = server.poll_transmit().unwrap();
    assert_eq!((p, request[0]), (0x8021, 1));
    // Echo-Requests carry the LAC's magic, which is ours now.
    server.handle_timeout(now + Duration::from_secs(30));
    let (_, echo) = server.poll_transmit().unwrap();
    assert_eq!(echo[0], 9);
    assert_eq!(&echo[4..8], &0x1111_2222u32.to_be_bytes());

    use PppEvent::LinkUp;
}

#[test]
fn proxy_renegotiates_when_configured_or_unusable() {
    let now = Instant::now();
    let proxy = ProxyLcp {
        initial_received: Vec::new(),
        last_sent: lcp::lcp_options(&[LcpOption::MagicNumber(5)]),
        last_received: lcp::lcp_options(&[LcpOption::MagicNumber(6)]),
    };
    // No authentication in the proxy values but we require it: renegotiate.
    let mut server = Ppp::server(
        Arc::new(server_config(vec![AuthMethod::ChapMd5])),
        now,
        &mut filler(20),
    );
    server.start_with_proxy(now, &proxy, None);
    let (p, request) = server.poll_transmit().unwrap();
    assert_eq!((p, request[0]), (0xc021, 1));
    // Renegotiate policy: the same, even with usable values.
    let mut server = Ppp::server(
        Arc::new(PppConfig {
            proxy: ProxyPolicy::Renegotiate,
            auth_methods: Vec::new(),
            ..PppConfig::default()
        }),
        now,
        &mut filler(21),
    );
    server.start_with_proxy(now, &proxy, None);
    let (p, request) = server.poll_transmit().unwrap();
    assert_eq!((p, request[0]), (0xc021, 1));
    // Accept policy, no authentication configured: straight to the network phase.
    let mut server = Ppp::server(
        Arc::new(PppConfig {
            auth_methods: Vec::new(),
            ..PppConfig::default()
        }),
        now,
        &mut filler(22),
    );
    server.start_with_proxy(now, &proxy, None);
    assert!(matches!(server.poll_event(), Some(PppEvent::LinkUp(_))));
    assert_eq!(server.poll_event(), Some(PppEvent::NeedAddress));
    assert_eq!(server.phase(), Phase::Network);
}

#[test]
fn auth_timeout_when_client_never_answers() {
    let mut pair = Pair::new(
        server_config(vec![AuthMethod::Pap]),
        client_config(vec![AuthMethod::Pap], PASSWORD),
        23,
    );
    pair.decision = Decision::NoAnswer;
    pair.open();
    let start = pair.now;
    pair.run_until(Duration::from_secs(120), |p| {
        closed_reason(&p.server_events).is_some()
    });
    assert_eq!(
        closed_reason(&pair.server_events),
        Some(CloseReason::AuthTimeout)
    );
    let elapsed = pair.now - start;
    assert!(elapsed >= Duration::from_secs(30) && elapsed <= Duration::from_secs(40));
    assert!(auth_method_used(&pair.server_events).is_some());
}

#[test]
fn secrets_are_not_printed() {
    let config = client_config(vec![AuthMethod::Pap], PASSWORD);
    let printed = format!("{config:?}");
    assert!(!printed.contains(PASSWORD), "{printed}");
    let request = AuthRequest {
        method: AuthMethod::Pap,
        username: b"alice".to_vec(),
        proof: AuthProof::Pap {
            password: Secret::from(PASSWORD),
        },
        proxy: false,
    };
    assert!(!format!("{request:?}").contains(PASSWORD));
    // A client that has sent its PAP request (and still holds it for
    // retransmission) prints neither the text nor the octets of the password.
    let octets = format!("{:?}", PASSWORD.as_bytes());
    let octets = octets.trim_matches(|c| c == '[' || c == ']');
    let mut pair = Pair::new(server_config(vec![AuthMethod::Pap]), config, 1);
    pair.decision = Decision::NoAnswer;
    pair.open();
    pair.run_until(Duration::from_secs(1), |p| {
        auth_method_used(&p.server_events).is_some()
    });
    assert_eq!(pair.client.phase(), Phase::Authenticate);
    for printed in [format!("{:?}", pair.client), format!("{:?}", pair.server)] {
        assert!(!printed.contains(PASSWORD), "{printed}");
        assert!(!printed.contains(octets), "{printed}");
    }
}

#[test]
fn ipv6cp_disabled_on_server_is_protocol_rejected() {
    let mut pair = Pair::new(
        PppConfig {
            ipv6: false,
            ..server_config(vec![AuthMethod::Pap])
        },
        client_config(vec![AuthMethod::Pap], PASSWORD),
        24,
    );
    pair.open();
    assert!(pair.run_until(Duration::from_secs(10), |p| {
        ipv4_up(&p.server_events).is_some() && ipv4_up(&p.client_events).is_some()
    }));
    pair.advance(Duration::from_secs(60));
    let reject = pair
        .server_sent
        .iter()
        .find(|(p, packet)| *p == 0xc021 && packet[0] == 8)
        .expect("Protocol-Reject sent");
    assert_eq!(&reject.1[4..6], &[0x80, 0x57]);
    assert_eq!(pair.client.ipv6cp_state(), State::Stopped);
    assert_eq!(ipv6_up(&pair.client_events), None);
    assert_eq!(ipv6_up(&pair.server_events), None);
    assert_eq!(closed_reason(&pair.client_events), None);
    assert_eq!(closed_reason(&pair.server_events), None);
    assert_eq!(pair.client.ipcp_state(), State::Opened);
}

/// Every truncation and many corruptions of every frame of real sessions, fed to
/// established engines of both roles and to engines in the middle of LCP: nothing
/// panics, malformed input is counted, and the engines keep working.
#[test]
fn truncated_and_corrupted_frames_never_panic() {
    for method in [AuthMethod::Pap, AuthMethod::ChapMd5, AuthMethod::MsChapV2] {
        let source = establish(method, 30);
        let mut frames: Vec<(u16, Vec<u8>)> = source.server_sent.clone();
        frames.extend(source.client_sent.iter().cloned());
        let mut malformed = 0;
        for (protocol, frame) in &frames {
            // Fresh engines per frame, so that an early corruption that closes the
            // session does not shield the remaining variants.
            let mut established = establish(method, 31);
            let now = established.now;
            let mut fresh = Pair::new(
                server_config(vec![method]),
                client_config(vec![method], PASSWORD),
                32,
            );
            fresh.open();
            let mut engines = [
                &mut established.server,
                &mut established.client,
                &mut fresh.server,
                &mut fresh.client,
            ];
            let mut variants: Vec<Vec<u8>> =
                (0..frame.len()).map(|n| frame[..n].to_vec()).collect();
            for i in 0..frame.len() {
                for flip in [0x01u8, 0x80, 0xff] {
                    let mut v = frame.clone();
                    v[i] ^= flip;
                    variants.push(v);
                }
            }
            for v in &variants {
                for engine in engines.iter_mut() {
                    engine.handle_frame(now, *protocol, v);
                    while engine.poll_transmit().is_some() {}
                    while let Some(e) = engine.poll_event() {
                        if let PppEvent::NeedAddress = e {
                            let _ = engine.set_ipv4(now, assignment());
                        }
                    }
                }
            }
            for engine in engines.iter_mut() {
                if let Some(t) = engine.poll_timeout() {
                    engine.handle_timeout(t);
                }
                engine.close(now, CloseReason::Admin);
                assert!(engine.is_closed() || engine.poll_timeout().is_some());
            }
            malformed +=
                established.server.counters().malformed + established.client.counters().malformed;
        }
        assert!(malformed > 0);
    }
}

#[test]
fn a_session_is_small() {
    // The daemon keeps one engine per subscriber; its inline size is bounded (heap
    // parts are a few small Vecs).
    let size = core::mem::size_of::<Ppp>();
    eprintln!("size_of::<Ppp>() = {size}");
    assert!(size < 2048, "size_of::<Ppp>() = {size}");
}

#[test]
fn a_peer_that_naks_forever_is_cut_off_by_max_failure() {
    let now = Instant::now();
    let mut server = Ppp::server(
        Arc::new(server_config(vec![AuthMethod::Pap])),
        now,
        &mut filler(40),
    );
    server.open(now);
    let mut requests = 0;
    let mut events = Vec::new();
    for round in 0..50u32 {
        let mut answered = false;
        while let Some((p, packet)) = server.poll_transmit() {
            if p == 0xc021 && packet[0] == 1 {
                requests += 1;
                // Nak the Magic-Number with a new value every time.
                let mut options = Vec::new();
                util::push_option(&mut options, &LcpOption::MagicNumber(0x1000 + round));
                let nak = fsm::control_packet(Code::ConfigureNak, packet[1], &options);
                server.handle_frame(now, 0xc021, &nak);
                answered = true;
            }
        }
        while let Some(e) = server.poll_event() {
            events.push(e);
        }
        if !answered {
            break;
        }
    }
    // The first request plus one per accepted Nak (Max-Failure = 5).
    assert_eq!(requests, 6);
    assert_eq!(server.lcp_state(), State::Closing);
    while let Some(next) = server.poll_timeout() {
        server.handle_timeout(next);
        while server.poll_transmit().is_some() {}
        while let Some(e) = server.poll_event() {
            events.push(e);
        }
    }
    assert_eq!(closed_reason(&events), Some(CloseReason::NegotiationFailed));
}

#[test]
fn lcp_gives_up_after_max_configure_when_peer_is_silent() {
    let now = Instant::now();
    let mut server = Ppp::server(
        Arc::new(server_config(vec![AuthMethod::Pap])),
        now,
        &mut filler(41),
    );
    server.open(now);
    let mut requests = 0;
    let mut t = now;
    let mut events = Vec::new();
    loop {
        while let Some((_, packet)) = server.poll_transmit() {
            assert_eq!(packet[0], 1);
            requests += 1;
        }
        while let Some(e) = server.poll_event() {
            events.push(e);
        }
        let Some(next) = server.poll_timeout() else {
            break;
        };
        t = next;
        server.handle_timeout(t);
    }
    assert_eq!(requests, 10);
    assert_eq!(t - now, Duration::from_secs(30));
    assert_eq!(closed_reason(&events), Some(CloseReason::NegotiationFailed));
}

#[test]
fn lcp_renegotiation_reauthenticates_and_keeps_the_address() {
    let mut pair = establish(AuthMethod::ChapMd5, 42);
    // The server's last LCP Configure-Request, replayed to the client with a new
    // Identifier: to the client, the server renegotiates.
    let (_, request) = pair
        .server_sent
        .iter()
        .rev()
        .find(|(p, packet)| *p == 0xc021 && packet[0] == 1)
        .unwrap()
        .clone();
    let renegotiate = fsm::control_packet(Code::ConfigureRequest, 0x77, &request[4..]);
    let before = (pair.server_events.len(), pair.client_events.len());
    pair.client.handle_frame(pair.now, 0xc021, &renegotiate);
    assert!(pair.run_until(Duration::from_secs(30), |p| {
        let count = |events: &[PppEvent]| {
            events
                .iter()
                .filter(|e| matches!(e, PppEvent::Ipv4Up { .. }))
                .count()
        };
        count(&p.server_events) == 2 && count(&p.client_events) == 2
    }));
    let server_new = &pair.server_events[before.0..];
    let client_new = &pair.client_events[before.1..];
    assert!(server_new.contains(&PppEvent::Ipv4Down));
    assert!(client_new.contains(&PppEvent::Ipv4Down));
    // Authentication ran again; the address was not asked for again.
    assert!(
        server_new
            .iter()
            .any(|e| matches!(e, PppEvent::AuthRequest(_)))
    );
    assert!(!server_new.contains(&PppEvent::NeedAddress));
    assert_eq!(
        ipv4_up(client_new),
        Some((PEER, LOCAL, [Some(DNS1), Some(DNS2)]))
    );
    assert_eq!(closed_reason(&pair.server_events), None);
}

// ----- CCP / MPPE (RFC 1962, RFC 3078) -----

fn mppe_config(mut c: PppConfig, policy: MppePolicy) -> PppConfig {
    c.ccp = CcpPolicy::Mppe(policy);
    c
}

fn mppe_up(events: &[PppEvent]) -> Option<(MppeOptions, MppeOptions)> {
    events.iter().find_map(|e| match e {
        PppEvent::MppeUp { tx, rx } => Some((*tx, *rx)),
        _ => None,
    })
}

#[test]
fn mppe_negotiates_with_loss_and_both_sides_derive_matching_keys() {
    use crate::crypto::ppp::mppe::{self, KeyStrength, Mode, Role};
    for seed in 1..20u64 {
        let policy = MppePolicy::default();
        let mut pair = Pair::new(
            mppe_config(server_config(vec![AuthMethod::MsChapV2]), policy),
            mppe_config(
                client_config(vec![AuthMethod::MsChapV2], PASSWORD),
                MppePolicy {
                    allow_40: true,
                    ..policy
                },
            ),
            seed,
        );
        pair.loss_percent = 10;
        pair.open();
        let done = pair.run_until(Duration::from_secs(60), |p| {
            p.both_up()
                && mppe_up(&p.server_events).is_some()
                && mppe_up(&p.client_events).is_some()
        });
        if !done {
            for (who, sent) in [("S", &pair.server_sent), ("C", &pair.client_sent)] {
                for (p, b) in sent.iter().filter(|(p, _)| *p == 0x80fd || *p == 0xc021) {
                    eprintln!("{who} {p:04x} {b:02x?}");
                }
            }
            eprintln!("client events {:?}", pair.client_events);
        }
        assert!(done, "seed {seed}: {:?}", pair.server);
        let expect = MppeOptions {
            strength: KeyStrength::Bits128,
            mode: Mode::Stateless,
        };
        assert_eq!(mppe_up(&pair.server_events), Some((expect, expect)));
        assert_eq!(mppe_up(&pair.client_events), Some((expect, expect)));
        assert_eq!(pair.server.mppe(), Some((expect, expect)));
        // The client's NT-Response gives it the keys the server gets from its AAA.
        let nt = pair
            .client
            .mschapv2_nt_response()
            .expect("MS-CHAPv2 NT-Response");
        let hash = mschapv2::PasswordHash::from_password(PASSWORD).unwrap();
        let (c_send, c_recv) =
            mppe::mschapv2_start_keys(&hash, &nt, KeyStrength::Bits128, Role::Client);
        let (s_send, s_recv) =
            mppe::mschapv2_start_keys(&hash, &nt, KeyStrength::Bits128, Role::Server);
        assert_eq!(c_send.as_bytes(), s_recv.as_bytes());
        assert_eq!(c_recv.as_bytes(), s_send.as_bytes());
    }
}

#[test]
fn mppe_required_but_refused_ends_the_session() {
    // The client does not do CCP at all: it Protocol-Rejects it.
    let mut pair = Pair::new(
        mppe_config(
            server_config(vec![AuthMethod::MsChapV2]),
            MppePolicy::default(),
        ),
        client_config(vec![AuthMethod::MsChapV2], PASSWORD),
        7,
    );
    pair.open();
    pair.run_until(Duration::from_secs(30), |p| {
        closed_reason(&p.server_events).is_some()
    });
    assert_eq!(
        closed_reason(&pair.server_events),
        Some(CloseReason::EncryptionRequired)
    );
    // Optional MPPE: the same client connects, unencrypted.
    let mut pair = Pair::new(
        mppe_config(
            server_config(vec![AuthMethod::MsChapV2]),
            MppePolicy {
                required: false,
                ..MppePolicy::default()
            },
        ),
        client_config(vec![AuthMethod::MsChapV2], PASSWORD),
        8,
    );
    pair.open();
    assert!(pair.run_until(Duration::from_secs(30), Pair::both_up));
    assert_eq!(closed_reason(&pair.server_events), None);
    assert_eq!(mppe_up(&pair.server_events), None);
}

#[test]
fn mppe_no_common_strength_fails_and_reset_request_is_reported() {
    // Server 128 only, client 40 only: Max-Failure Naks, then the end.
    let mut pair = Pair::new(
        mppe_config(
            server_config(vec![AuthMethod::MsChapV2]),
            MppePolicy::default(),
        ),
        mppe_config(
            client_config(vec![AuthMethod::MsChapV2], PASSWORD),
            MppePolicy {
                allow_40: true,
                allow_128: false,
                ..MppePolicy::default()
            },
        ),
        9,
    );
    pair.open();
    pair.run_until(Duration::from_secs(120), |p| {
        closed_reason(&p.server_events).is_some()
    });
    assert_eq!(
        closed_reason(&pair.server_events),
        Some(CloseReason::EncryptionRequired)
    );

    // Stateful both ways; the client loses sync and asks for a reset.
    let stateful = MppePolicy {
        prefer_stateless: false,
        ..MppePolicy::default()
    };
    let mut pair = Pair::new(
        mppe_config(server_config(vec![AuthMethod::MsChapV2]), stateful),
        mppe_config(
            client_config(vec![AuthMethod::MsChapV2], PASSWORD),
            stateful,
        ),
        10,
    );
    pair.open();
    assert!(pair.run_until(Duration::from_secs(30), |p| {
        mppe_up(&p.server_events).is_some() && mppe_up(&p.client_events).is_some()
    }));
    let (tx, _) = mppe_up(&pair.server_events).unwrap();
    assert_eq!(tx.mode, crate::crypto::ppp::mppe::Mode::Stateful);
    pair.client.send_reset_request();
    pair.exchange();
    assert!(pair.server_events.contains(&PppEvent::MppeResetRequest));
    assert_eq!(pair.client.counters().ccp_reset_requests_sent, 1);
    assert_eq!(pair.server.counters().ccp_reset_requests_received, 1);
    // No Reset-Ack in MPPE (RFC 3078 §8): the server sent no CCP after it.
    assert_ne!(pair.server_sent.last().map(|(p, _)| *p), Some(0x80fd));
}

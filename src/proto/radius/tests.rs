//! Engine tests: the client against an in-memory fake RADIUS server built from the
//! wire and crypto layers, with a fake clock; the DAE handler against requests built
//! the same way.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::client::*;
use super::dae::*;
use crate::crypto::ppp::{chap, mschapv2};
use crate::crypto::radius::{
    AuthenticatorBasis, fill_message_authenticator, hide_mppe_key, set_request_authenticator,
    set_response_authenticator, unhide_user_password, verify_chap_password,
    verify_message_authenticator, verify_request_authenticator, verify_response_authenticator,
};
use crate::proto::ppp::util::Secret;
use crate::wire::radius::attribute::{AcctStatusType, AcctTerminateCause, ErrorCause};
use crate::wire::radius::vendor::{VENDOR_MICROSOFT, VendorAttribute, VendorSpecificRepr};
use crate::wire::radius::{Attribute, AttributeType, Code, Packet, PacketBuilder};

const SECRET: &[u8] = b"testing123";
const PASSWORD: &str = "hunter2pw";
const SEND_KEY: [u8; 16] = [0x11; 16];
const RECV_KEY: [u8; 16] = [0x22; 16];

fn filler(seed: u8) -> impl FnMut(&mut [u8]) {
    let mut n = seed;
    move |b: &mut [u8]| {
        for x in b {
            n = n.wrapping_mul(31).wrapping_add(7);
            *x = n;
        }
    }
}

fn addr(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)), port)
}

fn server_config(last: u8, port: u16) -> ServerConfig {
    ServerConfig {
        addr: addr(last, port),
        secret: Secret::new(SECRET),
        timeout: Duration::from_secs(3),
        retries: 2,
    }
}

fn config(auth: &[u8], acct: &[u8]) -> RadiusConfig {
    RadiusConfig {
        auth_servers: auth.iter().map(|&l| server_config(l, 1812)).collect(),
        acct_servers: acct.iter().map(|&l| server_config(l, 1813)).collect(),
        nas_ip_address: Some(Ipv4Addr::new(10, 0, 0, 1)),
        nas_identifier: Some(b"nas1".to_vec()),
        ..RadiusConfig::default()
    }
}

/// One accounting request as the fake server saw it.
#[derive(Debug, Clone)]
struct SeenAcct {
    status: AcctStatusType,
    session_id: Vec<u8>,
    delay: u32,
    input_octets: u32,
    input_gigawords: Option<u32>,
    output_gigawords: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Answer,
    Silent,
    /// Answers with a Response Authenticator computed with another secret.
    WrongSecret,
    /// Answers with a broken Message-Authenticator (Response Authenticator right).
    BadMessageAuthenticator,
}

struct FakeServer {
    secret: Vec<u8>,
    behaviour: Behaviour,
    /// Skip the optional attributes and the Message-Authenticator (fast path).
    lean: bool,
    accounting: Vec<SeenAcct>,
    access_requests: u64,
    last_request_attrs: Vec<(u8, Vec<u8>)>,
}

impl FakeServer {
    fn new() -> Self {
        FakeServer {
            secret: SECRET.to_vec(),
            behaviour: Behaviour::Answer,
            lean: false,
            accounting: Vec::new(),
            access_requests: 0,
            last_request_attrs: Vec::new(),
        }
    }

    fn handle(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        let packet = Packet::new_checked(bytes).expect("client sent a malformed packet");
        let data = packet.packet_data();
        let mut ra = [0u8; 16];
        ra.copy_from_slice(packet.authenticator());
        let answer = match packet.code() {
            Code::AccessRequest => self.access(&packet, &ra),
            Code::AccountingRequest => {
                verify_request_authenticator(data, &self.secret).expect("acct authenticator");
                self.accounting(&packet)
            }
            c => panic!("unexpected code {c:?}"),
        };
        if self.behaviour == Behaviour::Silent {
            return None;
        }
        let (code, attrs) = answer;
        Some(self.build(code, packet.identifier(), &ra, attrs))
    }

    fn access(&mut self, packet: &Packet<&[u8]>, ra: &[u8; 16]) -> (Code, Vec<Owned>) {
        self.access_requests += 1;
        let data = packet.packet_data();
        let range = packet
            .message_authenticator_range()
            .unwrap()
            .expect("Access-Request without Message-Authenticator");
        // RFC 2869 §5.14 and the BlastRADIUS advice: it comes first.
        assert_eq!(range.start, 22);
        verify_message_authenticator(data, range, AuthenticatorBasis::Packet, &self.secret)
            .expect("Message-Authenticator");
        let mut user = Vec::new();
        let mut pap = None;
        let mut chap_password = None;
        let mut chap_challenge = None;
        let mut ms_challenge = None;
        let mut ms_response = None;
        self.last_request_attrs.clear();
        for attr in packet.attributes() {
            let attr = attr.unwrap();
            self.last_request_attrs
                .push((attr.attribute_type.into(), attr.value.to_vec()));
            match attr.attribute_type {
                AttributeType::UserName => user = attr.value.to_vec(),
                AttributeType::UserPassword => pap = Some(attr.value.to_vec()),
                AttributeType::ChapPassword => chap_password = Some(attr.value.to_vec()),
                AttributeType::ChapChallenge => chap_challenge = Some(attr.value.to_vec()),
                AttributeType::VendorSpecific => {
                    let vsa = VendorSpecificRepr::parse(attr.value).unwrap();
                    for sub in vsa.sub_attributes() {
                        match VendorAttribute::parse(vsa.vendor_id, &sub.unwrap()).unwrap() {
                            VendorAttribute::MsChapChallenge(c) => {
                                ms_challenge = Some(<[u8; 16]>::try_from(c).unwrap());
                            }
                            VendorAttribute::MsChap2Response(r) => ms_response = Some(r),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        let reject = (
            Code::AccessReject,
            vec![Owned::Attr(18, b"bad password".to_vec())],
        );
        if self.lean {
            return (Code::AccessAccept, Vec::new());
        }
        let mut extra = Vec::new();
        if let Some(mut hidden) = pap {
            let pw = unhide_user_password(&self.secret, ra, &mut hidden).unwrap();
            if pw != PASSWORD.as_bytes() {
                return reject;
            }
        } else if let Some(cp) = chap_password {
            let challenge = chap_challenge.unwrap_or(ra.to_vec());
            if verify_chap_password(PASSWORD.as_bytes(), &cp, &challenge).is_err() {
                return reject;
            }
        } else if let (Some(challenge), Some(r)) = (ms_challenge, ms_response) {
            let hash = mschapv2::PasswordHash::from_password(PASSWORD).unwrap();
            let Ok(auth_response) = mschapv2::verify_nt_response(
                &hash,
                &challenge,
                &r.peer_challenge,
                mschapv2::user_name_without_domain(&user),
                &r.response,
            ) else {
                return reject;
            };
            let mut success = vec![r.ident];
            success.extend_from_slice(auth_response.as_bytes());
            extra.push(Owned::Vendor(VENDOR_MICROSOFT, 26, success));
            for (vt, key, salt) in [(16u8, SEND_KEY, [0x80, 0x01]), (17, RECV_KEY, [0x80, 0x02])] {
                let mut out = [0u8; 64];
                let v = hide_mppe_key(&self.secret, ra, salt, &key, &mut out).unwrap();
                extra.push(Owned::Vendor(VENDOR_MICROSOFT, vt, v.to_vec()));
            }
        } else {
            panic!("no proof");
        }
        let mut attrs = vec![
            Owned::Attr(8, vec![100, 64, 0, 7]),
            Owned::Attr(9, vec![255, 255, 255, 255]),
            Owned::Attr(27, 3600u32.to_be_bytes().to_vec()),
            Owned::Attr(28, 600u32.to_be_bytes().to_vec()),
            Owned::Attr(85, 300u32.to_be_bytes().to_vec()),
            Owned::Attr(88, b"pool-a".to_vec()),
            Owned::Attr(25, b"class-1".to_vec()),
            Owned::Attr(25, b"class-2".to_vec()),
            Owned::Attr(11, b"rate=10M".to_vec()),
            Owned::Attr(18, b"welcome".to_vec()),
            Owned::Vendor(VENDOR_MICROSOFT, 28, vec![8, 8, 8, 8]),
            Owned::Vendor(VENDOR_MICROSOFT, 29, vec![8, 8, 4, 4]),
            Owned::Vendor(14988, 8, b"10M/20M".to_vec()),
            // A malformed Framed-MTU: ignored and counted by the client.
            Owned::Attr(12, vec![1, 2]),
        ];
        attrs.extend(extra);
        (Code::AccessAccept, attrs)
    }

    fn accounting(&mut self, packet: &Packet<&[u8]>) -> (Code, Vec<Owned>) {
        let mut seen = SeenAcct {
            status: AcctStatusType::Unknown(0),
            session_id: Vec::new(),
            delay: 0,
            input_octets: 0,
            input_gigawords: None,
            output_gigawords: None,
        };
        for attr in packet.attributes() {
            match Attribute::parse(&attr.unwrap()).unwrap() {
                Attribute::AcctStatusType(s) => seen.status = s,
                Attribute::AcctSessionId(s) => seen.session_id = s.to_vec(),
                Attribute::AcctDelayTime(d) => seen.delay = d,
                Attribute::AcctInputOctets(o) => seen.input_octets = o,
                Attribute::AcctInputGigawords(g) => seen.input_gigawords = Some(g),
                Attribute::AcctOutputGigawords(g) => seen.output_gigawords = Some(g),
                _ => {}
            }
        }
        if self.behaviour != Behaviour::Silent {
            self.accounting.push(seen);
        }
        (Code::AccountingResponse, Vec::new())
    }

    fn build(&self, code: Code, ident: u8, ra: &[u8; 16], attrs: Vec<Owned>) -> Vec<u8> {
        let mut buf = vec![0u8; 4096];
        let mut b = PacketBuilder::new(&mut buf, code, ident, ra).unwrap();
        let with_ma = code != Code::AccountingResponse && !self.lean;
        if with_ma {
            b.push(&Attribute::MessageAuthenticator([0; 16])).unwrap();
        }
        for a in &attrs {
            match a {
                Owned::Attr(t, v) => b
                    .push_repr(&crate::wire::radius::AttributeRepr {
                        attribute_type: (*t).into(),
                        value: v,
                    })
                    .unwrap(),
                Owned::Vendor(vendor, vt, v) => b
                    .push(&Attribute::Vendor(VendorAttribute::Other {
                        vendor_id: *vendor,
                        vendor_type: *vt,
                        value: v,
                    }))
                    .unwrap(),
            }
        }
        let range = b.message_authenticator_range();
        let packet = b.finish();
        let secret: &[u8] = if self.behaviour == Behaviour::WrongSecret {
            b"not-the-secret"
        } else {
            &self.secret
        };
        if let Some(range) = range {
            fill_message_authenticator(
                packet,
                range.clone(),
                AuthenticatorBasis::Request(ra),
                secret,
            )
            .unwrap();
            if self.behaviour == Behaviour::BadMessageAuthenticator {
                packet[range.start] ^= 1;
            }
        }
        set_response_authenticator(packet, ra, secret).unwrap();
        packet.to_vec()
    }
}

enum Owned {
    Attr(u8, Vec<u8>),
    Vendor(u32, u8, Vec<u8>),
}

struct Harness {
    client: RadiusClient,
    servers: HashMap<SocketAddr, FakeServer>,
    now: Instant,
    events: Vec<Event>,
    transmits: u64,
}

impl Harness {
    fn new(config: RadiusConfig) -> Self {
        let mut servers = HashMap::new();
        for s in config.auth_servers.iter().chain(&config.acct_servers) {
            servers.insert(s.addr, FakeServer::new());
        }
        Harness {
            client: RadiusClient::new(config, &mut filler(9)).unwrap(),
            servers,
            now: Instant::now(),
            events: Vec::new(),
            transmits: 0,
        }
    }

    fn server(&mut self, last: u8, port: u16) -> &mut FakeServer {
        self.servers.get_mut(&addr(last, port)).unwrap()
    }

    /// Delivers every datagram and every answer until nothing moves.
    fn run(&mut self) {
        while let Some(t) = self.client.poll_transmit() {
            self.transmits += 1;
            let server = self.servers.get_mut(&t.server).unwrap();
            if let Some(answer) = server.handle(&t.bytes) {
                self.client
                    .handle_datagram(self.now, t.server, t.socket, &answer);
            }
        }
        while let Some(e) = self.client.poll_event() {
            self.events.push(e);
        }
        self.client.check_invariants();
    }

    /// Advances the fake clock by `d`, firing timers on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.run();
            match self.client.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.client.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = end;
        self.client.handle_timeout(self.now);
        self.run();
    }

    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

fn pap(user: &str, password: &str) -> AuthParams {
    AuthParams {
        user_name: user.as_bytes().to_vec(),
        proof: Proof::Pap {
            password: Secret::from(password),
        },
        peer_address: Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9))),
        called_station_id: Some(b"203.0.113.1".to_vec()),
        nas_port: Some(7),
        acct_session_id: Some(b"sess-7".to_vec()),
    }
}

fn accepted(events: &[Event], id: RequestId) -> AcceptInfo {
    for e in events {
        if let Event::Accepted { id: i, info } = e
            && *i == id
        {
            return (**info).clone();
        }
    }
    panic!("no Accepted for {id:?} in {events:?}");
}

#[test]
fn pap_accept_carries_every_attribute() {
    let mut h = Harness::new(config(&[1], &[]));
    let id = h
        .client
        .authenticate(h.now, pap("alice", PASSWORD))
        .unwrap();
    h.run();
    let info = accepted(&h.take_events(), id);
    assert_eq!(info.framed_ip_address, Some(Ipv4Addr::new(100, 64, 0, 7)));
    assert_eq!(info.framed_ip_netmask, Some(Ipv4Addr::BROADCAST));
    assert_eq!(info.framed_pool.as_deref(), Some(&b"pool-a"[..]));
    assert_eq!(info.session_timeout, Some(3600));
    assert_eq!(info.idle_timeout, Some(600));
    assert_eq!(info.acct_interim_interval, Some(300));
    assert_eq!(info.class, vec![b"class-1".to_vec(), b"class-2".to_vec()]);
    assert_eq!(info.filter_ids, vec![b"rate=10M".to_vec()]);
    assert_eq!(info.rate_limits, vec![b"10M/20M".to_vec()]);
    assert_eq!(info.primary_dns, Some(Ipv4Addr::new(8, 8, 8, 8)));
    assert_eq!(info.secondary_dns, Some(Ipv4Addr::new(8, 8, 4, 4)));
    assert_eq!(info.reply_message.as_deref(), Some(&b"welcome"[..]));
    assert_eq!(info.ms_chap2_success, None);
    assert_eq!(h.client.counters().accepts, 1);
    assert_eq!(h.client.counters().bad_attributes, 1);
    assert_eq!(h.client.identifiers_in_use(), 0);
    // The request carried the NAS identity and the session attributes.
    let attrs = &h.server(1, 1812).last_request_attrs;
    let has = |t: u8, v: &[u8]| attrs.iter().any(|(at, av)| *at == t && av == v);
    assert!(has(1, b"alice"));
    assert!(has(4, &[10, 0, 0, 1]));
    assert!(has(32, b"nas1"));
    assert!(has(5, &[0, 0, 0, 7]));
    assert!(has(61, &[0, 0, 0, 5]));
    assert!(has(6, &[0, 0, 0, 2]));
    assert!(has(7, &[0, 0, 0, 1]));
    assert!(has(31, b"198.51.100.9"));
    assert!(has(30, b"203.0.113.1"));
    assert!(has(44, b"sess-7"));
}

#[test]
fn pap_reject() {
    let mut h = Harness::new(config(&[1], &[]));
    let id = h.client.authenticate(h.now, pap("alice", "wrong")).unwrap();
    h.run();
    assert_eq!(
        h.take_events(),
        vec![Event::Rejected {
            id,
            reply_message: Some(b"bad password".to_vec())
        }]
    );
    assert_eq!(h.client.counters().rejects, 1);
}

fn chap_params(password: &str) -> AuthParams {
    let challenge = vec![0x5a; 16];
    AuthParams {
        proof: Proof::ChapMd5 {
            ident: 3,
            response: chap::response(3, password.as_bytes(), &challenge),
            challenge,
        },
        ..pap("bob", "")
    }
}

#[test]
fn proof_from_ppp() {
    use crate::proto::ppp::AuthProof;
    let p = Proof::from_ppp(&AuthProof::ChapMd5 {
        identifier: 4,
        challenge: vec![1; 16],
        response: [2; 16],
    });
    assert_eq!(
        p,
        Proof::ChapMd5 {
            ident: 4,
            challenge: vec![1; 16],
            response: [2; 16]
        }
    );
    let p = Proof::from_ppp(&AuthProof::MsChapV2 {
        identifier: 7,
        authenticator_challenge: [1; 16],
        peer_challenge: [2; 16],
        nt_response: [3; 24],
    });
    assert!(matches!(p, Proof::MsChapV2 { ident: 7, .. }));
}

#[test]
fn chap_accept_and_reject() {
    let mut h = Harness::new(config(&[1], &[]));
    let good = h.client.authenticate(h.now, chap_params(PASSWORD)).unwrap();
    let bad = h.client.authenticate(h.now, chap_params("nope")).unwrap();
    h.run();
    let events = h.take_events();
    accepted(&events, good);
    assert!(events.contains(&Event::Rejected {
        id: bad,
        reply_message: Some(b"bad password".to_vec())
    }));
    // A CHAP challenge shorter than 5 octets cannot be sent (RFC 2865 §5.40).
    let mut short = chap_params(PASSWORD);
    if let Proof::ChapMd5 { challenge, .. } = &mut short.proof {
        challenge.truncate(4);
    }
    assert_eq!(
        h.client.authenticate(h.now, short),
        Err(RadiusError::BadChallenge)
    );
}

fn mschap_params(password: &str) -> (AuthParams, mschapv2::AuthenticatorResponse) {
    let authenticator_challenge = [0x31; 16];
    let peer_challenge = [0x42; 16];
    let hash = mschapv2::PasswordHash::from_password(password).unwrap();
    let nt_response =
        mschapv2::generate_nt_response(&authenticator_challenge, &peer_challenge, b"carol", &hash);
    let expected = mschapv2::generate_authenticator_response(
        &hash,
        &nt_response,
        &peer_challenge,
        &authenticator_challenge,
        b"carol",
    );
    let params = AuthParams {
        proof: Proof::MsChapV2 {
            ident: 9,
            authenticator_challenge,
            peer_challenge,
            nt_response,
        },
        ..pap("carol", "")
    };
    (params, expected)
}

#[test]
fn mschapv2_accept_returns_success_and_mppe_keys() {
    let mut h = Harness::new(config(&[1], &[]));
    let (params, expected) = mschap_params(PASSWORD);
    let id = h.client.authenticate(h.now, params).unwrap();
    h.run();
    let info = accepted(&h.take_events(), id);
    assert_eq!(
        info.ms_chap2_success.as_deref(),
        Some(&expected.as_bytes()[..])
    );
    assert_eq!(info.ms_chap2_success.as_ref().unwrap().len(), 42);
    assert_eq!(info.mppe_send_key.as_ref().unwrap().expose(), &SEND_KEY);
    assert_eq!(info.mppe_recv_key.as_ref().unwrap().expose(), &RECV_KEY);
    // Keys never print.
    let debug = format!("{info:?}");
    assert!(!debug.contains("17, 17, 17"), "{debug}");

    let (params, _) = mschap_params("wrong");
    let id = h.client.authenticate(h.now, params).unwrap();
    h.run();
    assert!(matches!(&h.take_events()[..], [Event::Rejected { id: i, .. }] if *i == id));
}

#[test]
fn bad_authenticators_are_dropped() {
    for behaviour in [Behaviour::WrongSecret, Behaviour::BadMessageAuthenticator] {
        let mut h = Harness::new(config(&[1], &[]));
        h.server(1, 1812).behaviour = behaviour;
        let id = h
            .client
            .authenticate(h.now, pap("alice", PASSWORD))
            .unwrap();
        h.advance(Duration::from_secs(20));
        let events = h.take_events();
        assert!(events.contains(&Event::TimedOut { id }), "{events:?}");
        // One answer per transmission (first + 2 retries), each dropped.
        assert_eq!(h.client.counters().bad_authenticators, 3, "{behaviour:?}");
        assert_eq!(h.client.counters().accepts, 0);
    }
}

#[test]
fn message_authenticator_can_be_required() {
    let mut cfg = config(&[1], &[]);
    cfg.require_message_authenticator = true;
    let mut h = Harness::new(cfg);
    h.server(1, 1812).lean = true;
    let id = h
        .client
        .authenticate(h.now, pap("alice", PASSWORD))
        .unwrap();
    h.advance(Duration::from_secs(20));
    assert!(h.take_events().contains(&Event::TimedOut { id }));
    assert_eq!(h.client.counters().bad_authenticators, 3);
}

#[test]
fn unknown_and_garbage_datagrams_are_counted() {
    let mut h = Harness::new(config(&[1], &[]));
    let id = h
        .client
        .authenticate(h.now, pap("alice", PASSWORD))
        .unwrap();
    let t = h.client.poll_transmit().unwrap();
    let answer = h.server(1, 1812).handle(&t.bytes).unwrap();
    // From another address, on another socket index, with another Identifier.
    h.client.handle_datagram(h.now, addr(9, 1812), 0, &answer);
    h.client.handle_datagram(h.now, t.server, 5, &answer);
    let mut other = answer.clone();
    other[1] ^= 0xff;
    h.client.handle_datagram(h.now, t.server, t.socket, &other);
    assert_eq!(h.client.counters().unknown_ids, 3);
    h.client
        .handle_datagram(h.now, t.server, t.socket, &answer[..19]);
    assert_eq!(h.client.counters().malformed, 1);
    // Every truncation and a flipped byte anywhere: never accepted, never a panic.
    for len in 0..answer.len() {
        h.client
            .handle_datagram(h.now, t.server, t.socket, &answer[..len]);
    }
    for i in 0..answer.len() {
        let mut b = answer.clone();
        b[i] ^= 0x40;
        if i == 1 {
            continue;
        }
        h.client.handle_datagram(h.now, t.server, t.socket, &b);
    }
    assert_eq!(h.client.counters().accepts, 0);
    // The genuine answer still works; a second copy is an unknown id.
    h.client.handle_datagram(h.now, t.server, t.socket, &answer);
    h.client.handle_datagram(h.now, t.server, t.socket, &answer);
    h.run();
    accepted(&h.take_events(), id);
    assert_eq!(h.client.counters().unknown_ids, 4);
}

#[test]
fn failover_to_second_server_and_hold_down() {
    let mut h = Harness::new(config(&[1, 2], &[]));
    h.server(1, 1812).behaviour = Behaviour::Silent;
    let id = h
        .client
        .authenticate(h.now, pap("alice", PASSWORD))
        .unwrap();
    h.run();
    // 3 s timeout, 2 retries: server 2 gets it after 9 s.
    h.advance(Duration::from_millis(8_900));
    assert!(h.take_events().is_empty());
    h.advance(Duration::from_millis(200));
    let events = h.take_events();
    assert_eq!(
        events[0],
        Event::ServerDown {
            addr: addr(1, 1812)
        }
    );
    accepted(&events, id);
    assert_eq!(h.server(1, 1812).access_requests, 3);
    assert_eq!(h.server(2, 1812).access_requests, 1);
    assert_eq!(h.client.counters().retransmissions, 2);
    assert_eq!(h.client.counters().auth_servers[1].latency_count, 1);
    assert!(!h.client.server_alive(false, 0));
    assert!(h.client.server_alive(false, 1));
    assert!(
        !h.client.server_alive(true, 0),
        "no accounting server configured"
    );
    // One answer, from server 2 (index 1): one latency sample, then none.
    let mut samples = Vec::new();
    h.client.take_latencies(|s| samples.push(s));
    assert_eq!(samples.len(), 1);
    assert_eq!((samples[0].accounting, samples[0].server), (false, 1));
    h.client.take_latencies(|_| panic!("taken already"));

    // Held down: the next request goes straight to server 2.
    let id = h
        .client
        .authenticate(h.now, pap("alice", PASSWORD))
        .unwrap();
    h.run();
    accepted(&h.take_events(), id);
    assert_eq!(h.server(1, 1812).access_requests, 3);

    // After the hold-down server 1 is tried again; it answers now.
    h.advance(Duration::from_secs(31));
    h.server(1, 1812).behaviour = Behaviour::Answer;
    let id = h
        .client
        .authenticate(h.now, pap("alice", PASSWORD))
        .unwrap();
    h.run();
    let events = h.take_events();
    assert_eq!(
        events[0],
        Event::ServerUp {
            addr: addr(1, 1812)
        }
    );
    accepted(&events, id);
    assert!(h.client.server_alive(false, 0));
    assert_eq!(h.client.identifiers_in_use(), 0);
}

#[test]
fn late_answer_from_first_server_after_failover_is_accepted() {
    let mut h = Harness::new(config(&[1, 2], &[]));
    h.server(1, 1812).behaviour = Behaviour::Silent;
    h.server(2, 1812).behaviour = Behaviour::Silent;
    let id = h
        .client
        .authenticate(h.now, pap("alice", PASSWORD))
        .unwrap();
    let first = h.client.poll_transmit().unwrap();
    h.advance(Duration::from_secs(10)); // now on server 2
    h.server(1, 1812).behaviour = Behaviour::Answer;
    let answer = h.server(1, 1812).handle(&first.bytes).unwrap();
    h.client
        .handle_datagram(h.now, first.server, first.socket, &answer);
    h.run();
    let events = h.take_events();
    accepted(&events, id);
    assert!(events.contains(&Event::ServerUp {
        addr: addr(1, 1812)
    }));
    assert_eq!(h.client.identifiers_in_use(), 0);
    h.advance(Duration::from_secs(60));
    assert!(h.take_events().is_empty());
}

#[test]
fn all_servers_down_times_out_then_fails_fast() {
    let mut h = Harness::new(config(&[1, 2], &[]));
    h.server(1, 1812).behaviour = Behaviour::Silent;
    h.server(2, 1812).behaviour = Behaviour::Silent;
    let id = h
        .client
        .authenticate(h.now, pap("alice", PASSWORD))
        .unwrap();
    h.advance(Duration::from_secs(18));
    let events = h.take_events();
    assert_eq!(
        events,
        vec![
            Event::ServerDown {
                addr: addr(1, 1812)
            },
            Event::ServerDown {
                addr: addr(2, 1812)
            },
            Event::TimedOut { id }
        ]
    );
    // Both held down: the next request times out at once, nothing sent.
    let sent = h.transmits;
    let id = h
        .client
        .authenticate(h.now, pap("alice", PASSWORD))
        .unwrap();
    h.run();
    assert_eq!(h.take_events(), vec![Event::TimedOut { id }]);
    assert_eq!(h.transmits, sent);
    assert_eq!(h.client.counters().auth_timed_out, 2);
    assert_eq!(h.client.identifiers_in_use(), 0);
}

/// A tiny deterministic generator for the long tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn identifiers_are_reused_and_never_leak() {
    let mut cfg = config(&[1, 2], &[]);
    cfg.sockets = 3;
    cfg.auth_queue = 1_000_000;
    let mut h = Harness::new(cfg);
    for s in h.servers.values_mut() {
        s.lean = true;
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut held: Vec<(Transmit, Instant)> = Vec::new();
    let mut done = 0u64;
    let mut issued = 0u64;
    let mut max_outstanding = 0;
    let mut seen_sockets = [false; 3];
    while issued < 100_000 || h.client.pending_auth() > 0 {
        if issued < 100_000 {
            for _ in 0..500 {
                h.client.authenticate(h.now, pap("u", PASSWORD)).unwrap();
                issued += 1;
            }
        }
        max_outstanding = max_outstanding.max(h.client.pending_auth());
        while let Some(t) = h.client.poll_transmit() {
            seen_sockets[t.socket] = true;
            match rng.next() % 10 {
                // Lost.
                0..=1 => {}
                // Answered later (possibly after a retransmission or a failover).
                2..=3 => held.push((t, h.now)),
                _ => {
                    let answer = h
                        .servers
                        .get_mut(&t.server)
                        .unwrap()
                        .handle(&t.bytes)
                        .unwrap();
                    h.client.handle_datagram(h.now, t.server, t.socket, &answer);
                }
            }
        }
        h.now += Duration::from_millis(1000 + rng.next() % 2000);
        let due: Vec<_> = held
            .iter()
            .filter(|(_, at)| h.now.saturating_duration_since(*at) >= Duration::from_secs(4))
            .cloned()
            .collect();
        held.retain(|(_, at)| h.now.saturating_duration_since(*at) < Duration::from_secs(4));
        for (t, _) in due {
            let answer = h
                .servers
                .get_mut(&t.server)
                .unwrap()
                .handle(&t.bytes)
                .unwrap();
            h.client.handle_datagram(h.now, t.server, t.socket, &answer);
        }
        h.client.handle_timeout(h.now);
        while let Some(e) = h.client.poll_event() {
            if matches!(e, Event::Accepted { .. } | Event::TimedOut { .. }) {
                done += 1;
            }
        }
        h.client.check_invariants();
        assert!(h.client.identifiers_in_use() <= 2 * 3 * 256);
    }
    assert_eq!(done, 100_000);
    assert!(max_outstanding > 256, "{max_outstanding}");
    assert_eq!(seen_sockets, [true; 3]);
    assert_eq!(h.client.identifiers_in_use(), 0);
    assert_eq!(h.client.pending_auth(), 0);
    assert!(h.client.counters().unknown_ids > 0);
}

fn record(status: AcctStatusType, session: &str) -> AcctRecord {
    let mut r = AcctRecord::new(status, session.as_bytes(), b"alice");
    r.framed_ip_address = Some(Ipv4Addr::new(100, 64, 0, 7));
    r.class = vec![b"class-1".to_vec()];
    if status == AcctStatusType::Stop {
        r.terminate_cause = Some(AcctTerminateCause::UserRequest);
    }
    r
}

#[test]
fn accounting_gigawords_and_delivery() {
    let mut h = Harness::new(config(&[], &[1]));
    let mut r = record(AcctStatusType::Stop, "s1");
    r.input_octets = 5 * (1 << 30) + 123;
    r.output_octets = 77;
    let id = h.client.account(h.now, r).unwrap();
    h.run();
    assert_eq!(
        h.take_events(),
        vec![Event::AcctDelivered {
            id,
            session_id: b"s1".to_vec(),
            status: AcctStatusType::Stop
        }]
    );
    let seen = &h.server(1, 1813).accounting[0];
    assert_eq!(seen.input_gigawords, Some(1));
    assert_eq!(seen.input_octets, (1 << 30) + 123);
    assert_eq!(seen.output_gigawords, None);
    assert_eq!(seen.delay, 0);
}

#[test]
fn accounting_retransmission_updates_delay_and_identifier() {
    let mut h = Harness::new(config(&[], &[1]));
    h.server(1, 1813).behaviour = Behaviour::Silent;
    h.client
        .account(h.now, record(AcctStatusType::Start, "s1"))
        .unwrap();
    let first = h.client.poll_transmit().unwrap();
    h.now += Duration::from_secs(3);
    h.client.handle_timeout(h.now);
    let second = h.client.poll_transmit().unwrap();
    assert_ne!(first.bytes[1], second.bytes[1]);
    assert_ne!(first.bytes[4..20], second.bytes[4..20]);
    // A late answer to the first transmission still counts.
    let mut server = FakeServer::new();
    let answer = server.handle(&first.bytes).unwrap();
    assert_eq!(server.accounting[0].delay, 0);
    assert!(server.handle(&second.bytes).is_some());
    assert_eq!(server.accounting[1].delay, 3);
    h.client
        .handle_datagram(h.now, first.server, first.socket, &answer);
    assert!(matches!(
        h.client.poll_event(),
        Some(Event::AcctDelivered { .. })
    ));
    assert_eq!(h.client.identifiers_in_use(), 0);
    assert_eq!(h.client.pending_accounting(), 0);
}

#[test]
fn accounting_survives_an_hour_long_outage_in_order() {
    let mut h = Harness::new(config(&[], &[1, 2]));
    h.server(1, 1813).behaviour = Behaviour::Silent;
    h.server(2, 1813).behaviour = Behaviour::Silent;
    let sessions = 300;
    let mut expected_starts_stops = 0;
    for minute in 0..60u64 {
        for s in 0..sessions {
            let name = format!("sess-{s}");
            let status = match minute {
                0 => AcctStatusType::Start,
                59 => AcctStatusType::Stop,
                _ if s % 10 == 0 => AcctStatusType::InterimUpdate,
                _ => continue,
            };
            if status != AcctStatusType::InterimUpdate {
                expected_starts_stops += 1;
            }
            let mut r = record(status, &name);
            r.input_octets = minute;
            h.client.account(h.now, r).unwrap();
        }
        h.advance(Duration::from_secs(60));
    }
    assert!(
        h.take_events()
            .iter()
            .all(|e| matches!(e, Event::ServerDown { .. }))
    );
    assert_eq!(h.server(1, 1813).accounting.len(), 0);
    // Superseded interims keep the queue at one interim per session at most.
    assert!(h.client.counters().acct_superseded > 0);
    h.server(1, 1813).behaviour = Behaviour::Answer;
    h.server(2, 1813).behaviour = Behaviour::Answer;
    h.advance(Duration::from_secs(600));
    let events = h.take_events();
    assert!(events.iter().any(|e| matches!(e, Event::ServerUp { .. })));
    let delivered: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::AcctDelivered {
                session_id, status, ..
            } => Some((session_id.clone(), *status)),
            _ => None,
        })
        .collect();
    let starts_stops = delivered
        .iter()
        .filter(|(_, s)| *s != AcctStatusType::InterimUpdate)
        .count();
    assert_eq!(starts_stops, expected_starts_stops);
    // Each record once, per session in order Start, Interim..., Stop.
    let mut per_session: HashMap<Vec<u8>, Vec<AcctStatusType>> = HashMap::new();
    for (s, status) in &delivered {
        per_session.entry(s.clone()).or_default().push(*status);
    }
    assert_eq!(per_session.len(), sessions);
    for (s, statuses) in &per_session {
        assert_eq!(statuses.first(), Some(&AcctStatusType::Start), "{s:?}");
        assert_eq!(statuses.last(), Some(&AcctStatusType::Stop), "{s:?}");
        assert!(statuses.len() <= 3, "{s:?} {statuses:?}");
    }
    // The servers saw the same order; the Starts waited over an hour.
    let mut seen: Vec<SeenAcct> = Vec::new();
    for last in [1, 2] {
        seen.extend(h.server(last, 1813).accounting.iter().cloned());
    }
    assert_eq!(seen.len(), delivered.len());
    let start = seen
        .iter()
        .find(|s| s.status == AcctStatusType::Start)
        .unwrap();
    assert!(start.delay >= 3600, "{}", start.delay);
    assert_eq!(h.client.pending_accounting(), 0);
    assert_eq!(h.client.identifiers_in_use(), 0);
}

#[test]
fn accounting_queue_drops_oldest_interim_never_start_stop() {
    let mut cfg = config(&[], &[1]);
    cfg.accounting_queue = 4;
    let mut h = Harness::new(cfg);
    h.server(1, 1813).behaviour = Behaviour::Silent;
    h.client
        .account(h.now, record(AcctStatusType::Start, "a"))
        .unwrap();
    h.client
        .account(h.now, record(AcctStatusType::InterimUpdate, "b"))
        .unwrap();
    h.client
        .account(h.now, record(AcctStatusType::InterimUpdate, "c"))
        .unwrap();
    h.client
        .account(h.now, record(AcctStatusType::Start, "d"))
        .unwrap();
    h.run();
    // "b" and "c" are in flight (not droppable); make room with queued interims.
    let mut cfg2 = config(&[], &[1]);
    cfg2.accounting_queue = 4;
    cfg2.accounting_in_flight = 1;
    let mut h = Harness::new(cfg2);
    h.server(1, 1813).behaviour = Behaviour::Silent;
    let ok = |h: &mut Harness, s: AcctStatusType, n: &str| h.client.account(h.now, record(s, n));
    ok(&mut h, AcctStatusType::Start, "a").unwrap(); // in flight
    ok(&mut h, AcctStatusType::InterimUpdate, "b").unwrap();
    ok(&mut h, AcctStatusType::InterimUpdate, "c").unwrap();
    ok(&mut h, AcctStatusType::Start, "d").unwrap();
    // Full: the oldest queued interim ("b") goes.
    ok(&mut h, AcctStatusType::Stop, "a").unwrap();
    assert_eq!(h.client.counters().acct_dropped_interim, 1);
    ok(&mut h, AcctStatusType::Start, "e").unwrap(); // drops "c"
    assert_eq!(h.client.counters().acct_dropped_interim, 2);
    // Only Start/Stop left: refused, not silently dropped.
    assert_eq!(
        ok(&mut h, AcctStatusType::Start, "f"),
        Err(RadiusError::AccountingQueueFull)
    );
    assert_eq!(
        ok(&mut h, AcctStatusType::InterimUpdate, "g"),
        Err(RadiusError::AccountingQueueFull)
    );
    assert_eq!(h.client.counters().acct_refused, 1);
    assert_eq!(h.client.counters().acct_dropped_interim, 3);
    h.server(1, 1813).behaviour = Behaviour::Answer;
    h.advance(Duration::from_secs(120));
    let delivered: Vec<_> = h
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::AcctDelivered {
                session_id, status, ..
            } => Some((String::from_utf8(session_id).unwrap(), status)),
            _ => None,
        })
        .collect();
    assert_eq!(
        delivered,
        vec![
            ("a".to_string(), AcctStatusType::Start),
            ("d".to_string(), AcctStatusType::Start),
            ("e".to_string(), AcctStatusType::Start),
            ("a".to_string(), AcctStatusType::Stop),
        ]
    );
}

#[test]
fn secrets_do_not_print() {
    let h = Harness::new(config(&[1], &[2]));
    let debug = format!("{:?}", h.client);
    assert!(!debug.contains("testing123"), "{debug}");
    let p = pap("alice", PASSWORD);
    assert!(!format!("{p:?}").contains(PASSWORD));
    let dae = DaeServer::new(dae_config());
    assert!(!format!("{dae:?}").contains("dae-secret"));
}

#[test]
fn config_is_checked() {
    let mut f = filler(1);
    let mut c = config(&[1], &[1]);
    c.sockets = 0;
    assert_eq!(
        RadiusClient::new(c, &mut f).unwrap_err(),
        RadiusError::NoSockets
    );
    let mut c = config(&[1], &[]);
    c.nas_ip_address = None;
    c.nas_identifier = None;
    assert_eq!(
        RadiusClient::new(c, &mut f).unwrap_err(),
        RadiusError::NoNasIdentity
    );
    let mut c = config(&[1], &[]);
    c.acct_servers = c.auth_servers.clone();
    assert_eq!(
        RadiusClient::new(c, &mut f).unwrap_err(),
        RadiusError::SharedServerAddress
    );
    let mut client = RadiusClient::new(config(&[1], &[]), &mut f).unwrap();
    let now = Instant::now();
    assert_eq!(
        client.account(now, record(AcctStatusType::Start, "x")),
        Err(RadiusError::NoServers)
    );
    assert_eq!(
        client.authenticate(now, pap("a", &"x".repeat(129))),
        Err(RadiusError::PasswordTooLong)
    );
    let mut long = pap("a", "b");
    long.user_name = vec![b'u'; 300];
    assert_eq!(client.authenticate(now, long), Err(RadiusError::TooLong));
}

// ---- Dynamic Authorization (RFC 5176) ----

const DAE_SECRET: &[u8] = b"dae-secret";

fn dae_client_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 50)), 40000)
}

fn dae_config() -> DaeConfig {
    DaeConfig {
        clients: vec![DaeClient {
            addr: dae_client_addr().ip(),
            secret: Secret::new(DAE_SECRET),
        }],
        nas_ip_address: Some(Ipv4Addr::new(10, 0, 0, 1)),
        nas_identifier: Some(b"nas1".to_vec()),
        ..DaeConfig::default()
    }
}

/// Builds a signed Disconnect/CoA request, optionally with a Message-Authenticator.
fn dae_request(
    code: Code,
    ident: u8,
    attrs: &[Attribute<'_>],
    with_ma: bool,
    secret: &[u8],
) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut b = PacketBuilder::new(&mut buf, code, ident, &[0; 16]).unwrap();
    if with_ma {
        b.push(&Attribute::MessageAuthenticator([0; 16])).unwrap();
    }
    for a in attrs {
        b.push(a).unwrap();
    }
    let range = b.message_authenticator_range();
    let packet = b.finish();
    if let Some(range) = range {
        fill_message_authenticator(packet, range, AuthenticatorBasis::Zero, secret).unwrap();
    }
    set_request_authenticator(packet, secret).unwrap();
    packet.to_vec()
}

/// Checks an answer's authenticators and returns its code and Error-Cause.
fn check_answer(request: &[u8], answer: &[u8]) -> (Code, Option<ErrorCause>, Vec<Vec<u8>>) {
    let ra: [u8; 16] = request[4..20].try_into().unwrap();
    verify_response_authenticator(answer, &ra, DAE_SECRET).unwrap();
    let packet = Packet::new_checked(answer).unwrap();
    assert_eq!(packet.identifier(), request[1]);
    if let Some(range) = packet.message_authenticator_range().unwrap() {
        verify_message_authenticator(answer, range, AuthenticatorBasis::Request(&ra), DAE_SECRET)
            .unwrap();
    }
    let mut cause = None;
    let mut proxy = Vec::new();
    for a in packet.attributes() {
        match Attribute::parse(&a.unwrap()).unwrap() {
            Attribute::ErrorCause(c) => cause = Some(c),
            Attribute::ProxyState(p) => proxy.push(p.to_vec()),
            _ => {}
        }
    }
    (packet.code(), cause, proxy)
}

#[test]
fn dae_disconnect_ack_and_duplicate() {
    let mut dae = DaeServer::new(dae_config());
    let now = Instant::now();
    let req = dae_request(
        Code::DisconnectRequest,
        17,
        &[
            Attribute::UserName(b"alice"),
            Attribute::AcctSessionId(b"sess-7"),
            Attribute::NasIpAddress(Ipv4Addr::new(10, 0, 0, 1)),
            Attribute::ProxyState(b"ps1"),
        ],
        true,
        DAE_SECRET,
    );
    let DaeOutcome::Request(r) = dae.handle_request(now, dae_client_addr(), &req) else {
        panic!("not a request");
    };
    assert_eq!(r.kind, DaeKind::Disconnect);
    assert_eq!(r.selectors.user_name.as_deref(), Some(&b"alice"[..]));
    assert_eq!(r.selectors.acct_session_id.as_deref(), Some(&b"sess-7"[..]));
    assert_eq!(r.selectors.framed_ip_address, None);
    // A duplicate while the daemon works on it is dropped.
    assert_eq!(
        dae.handle_request(now, dae_client_addr(), &req),
        DaeOutcome::Drop
    );
    let answer = dae.answer(&r.reply, Ok(())).unwrap();
    assert_eq!(
        check_answer(&req, &answer),
        (Code::DisconnectAck, None, vec![b"ps1".to_vec()])
    );
    // A duplicate afterwards gets the same bytes (RFC 5176 §2.3).
    assert_eq!(
        dae.handle_request(now + Duration::from_secs(2), dae_client_addr(), &req),
        DaeOutcome::Answer(answer)
    );
    // After the window it is a new request.
    assert!(matches!(
        dae.handle_request(now + Duration::from_secs(30), dae_client_addr(), &req),
        DaeOutcome::Request(_)
    ));
    let c = dae.counters();
    assert_eq!(
        (
            c.requests,
            c.acks,
            c.duplicates_dropped,
            c.duplicates_resent
        ),
        (2, 1, 1, 1)
    );
}

#[test]
fn dae_coa_changes_and_nak() {
    let mut dae = DaeServer::new(dae_config());
    let now = Instant::now();
    let rate = VendorAttribute::MikrotikRateLimit(b"5M/5M");
    let req = dae_request(
        Code::CoaRequest,
        3,
        &[
            Attribute::FramedIpAddress(Ipv4Addr::new(100, 64, 0, 7)),
            Attribute::SessionTimeout(120),
            Attribute::FilterId(b"gold"),
            Attribute::Vendor(rate),
        ],
        false,
        DAE_SECRET,
    );
    let DaeOutcome::Request(r) = dae.handle_request(now, dae_client_addr(), &req) else {
        panic!("not a request");
    };
    assert_eq!(r.kind, DaeKind::Coa);
    assert_eq!(
        r.selectors.framed_ip_address,
        Some(Ipv4Addr::new(100, 64, 0, 7))
    );
    assert_eq!(
        r.changes,
        Changes {
            session_timeout: Some(120),
            rate_limits: vec![b"5M/5M".to_vec()],
            filter_ids: vec![b"gold".to_vec()],
        }
    );
    // The daemon found no such session.
    let answer = dae
        .answer(&r.reply, Err(ErrorCause::SessionContextNotFound))
        .unwrap();
    assert_eq!(
        check_answer(&req, &answer),
        (
            Code::CoaNak,
            Some(ErrorCause::SessionContextNotFound),
            vec![]
        )
    );
    assert_eq!(dae.counters().naks, 1);
}

#[test]
fn dae_naks_decided_by_the_parser() {
    let mut dae = DaeServer::new(dae_config());
    let now = Instant::now();
    let cases: Vec<(Code, Vec<Attribute<'_>>, Code, ErrorCause)> = vec![
        // Session-Timeout is a change: not allowed in a Disconnect.
        (
            Code::DisconnectRequest,
            vec![Attribute::UserName(b"a"), Attribute::SessionTimeout(5)],
            Code::DisconnectNak,
            ErrorCause::UnsupportedAttribute,
        ),
        (
            Code::CoaRequest,
            vec![Attribute::UserName(b"a"), Attribute::FramedMtu(1400)],
            Code::CoaNak,
            ErrorCause::UnsupportedAttribute,
        ),
        (
            Code::CoaRequest,
            vec![Attribute::SessionTimeout(5)],
            Code::CoaNak,
            ErrorCause::MissingAttribute,
        ),
        (
            Code::DisconnectRequest,
            vec![
                Attribute::UserName(b"a"),
                Attribute::NasIdentifier(b"other-nas"),
            ],
            Code::DisconnectNak,
            ErrorCause::NasIdentificationMismatch,
        ),
        (
            Code::DisconnectRequest,
            vec![
                Attribute::UserName(b"a"),
                Attribute::Other(crate::wire::radius::AttributeRepr {
                    attribute_type: AttributeType::FramedIpAddress,
                    value: &[1, 2, 3],
                }),
            ],
            Code::DisconnectNak,
            ErrorCause::InvalidAttributeValue,
        ),
    ];
    for (i, (code, attrs, answer_code, cause)) in cases.into_iter().enumerate() {
        let req = dae_request(code, i as u8, &attrs, i % 2 == 0, DAE_SECRET);
        let DaeOutcome::Answer(answer) = dae.handle_request(now, dae_client_addr(), &req) else {
            panic!("case {i}: no answer");
        };
        assert_eq!(
            check_answer(&req, &answer),
            (answer_code, Some(cause), vec![]),
            "case {i}"
        );
    }
}

#[test]
fn dae_drops_bad_authenticators_and_unknown_clients() {
    let mut dae = DaeServer::new(dae_config());
    let now = Instant::now();
    let attrs = [Attribute::UserName(b"alice")];
    let wrong = dae_request(Code::DisconnectRequest, 1, &attrs, false, b"wrong");
    assert_eq!(
        dae.handle_request(now, dae_client_addr(), &wrong),
        DaeOutcome::Drop
    );
    // Right Request Authenticator, wrong Message-Authenticator.
    let mut bad_ma = dae_request(Code::DisconnectRequest, 2, &attrs, true, DAE_SECRET);
    bad_ma[22] ^= 1;
    set_request_authenticator(&mut bad_ma, DAE_SECRET).unwrap();
    assert_eq!(
        dae.handle_request(now, dae_client_addr(), &bad_ma),
        DaeOutcome::Drop
    );
    assert_eq!(dae.counters().bad_authenticators, 2);
    let good = dae_request(Code::DisconnectRequest, 3, &attrs, true, DAE_SECRET);
    let stranger = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 99)), 40000);
    assert_eq!(dae.handle_request(now, stranger, &good), DaeOutcome::Drop);
    assert_eq!(dae.counters().unknown_clients, 1);
    // Another code from a known client.
    let other = dae_request(Code::AccessRequest, 4, &attrs, false, DAE_SECRET);
    assert_eq!(
        dae.handle_request(now, dae_client_addr(), &other),
        DaeOutcome::Drop
    );
    assert_eq!(dae.counters().unknown_codes, 1);
    // Truncations and flipped bits: never a panic, never accepted.
    for len in 0..good.len() {
        let _ = dae.handle_request(now, dae_client_addr(), &good[..len]);
    }
    for i in 4..good.len() {
        let mut b = good.clone();
        b[i] ^= 0x10;
        assert_eq!(
            dae.handle_request(now, dae_client_addr(), &b),
            DaeOutcome::Drop,
            "{i}"
        );
    }
    // A source port change is the same client.
    let moved = SocketAddr::new(dae_client_addr().ip(), 1);
    assert!(matches!(
        dae.handle_request(now, moved, &good),
        DaeOutcome::Request(_)
    ));
}

#[test]
fn requests_wait_for_a_free_identifier() {
    let mut cfg = config(&[1], &[]);
    cfg.auth_queue = 50;
    let mut h = Harness::new(cfg);
    h.server(1, 1812).lean = true;
    let ids: Vec<_> = (0..300)
        .map(|_| h.client.authenticate(h.now, pap("u", PASSWORD)).unwrap())
        .collect();
    let first: Vec<_> = std::iter::from_fn(|| h.client.poll_transmit()).collect();
    // One socket: 256 Identifiers towards the server, the rest wait in order.
    assert_eq!(first.len(), 256);
    let mut idents: Vec<u8> = first.iter().map(|t| t.bytes[1]).collect();
    idents.sort_unstable();
    idents.dedup();
    assert_eq!(idents.len(), 256);
    for _ in 0..6 {
        h.client.authenticate(h.now, pap("u", PASSWORD)).unwrap();
    }
    assert_eq!(
        h.client.authenticate(h.now, pap("u", PASSWORD)),
        Err(RadiusError::AuthQueueFull)
    );
    // Answering the first ten lets ten waiting requests go.
    for t in &first[..10] {
        let answer = h.server(1, 1812).handle(&t.bytes).unwrap();
        h.client.handle_datagram(h.now, t.server, t.socket, &answer);
    }
    let second: Vec<_> = std::iter::from_fn(|| h.client.poll_transmit()).collect();
    assert_eq!(second.len(), 10);
    for t in first[10..].iter().chain(&second) {
        let answer = h.server(1, 1812).handle(&t.bytes).unwrap();
        h.client.handle_datagram(h.now, t.server, t.socket, &answer);
    }
    h.run();
    let accepted = h
        .take_events()
        .iter()
        .filter(|e| matches!(e, Event::Accepted { .. }))
        .count();
    assert_eq!(accepted, 306);
    assert!(ids.iter().all(|id| id.0 > 0));
    assert_eq!(h.client.identifiers_in_use(), 0);
    assert_eq!(h.client.pending_auth(), 0);
}

#[test]
fn accounting_on_and_off() {
    let mut h = Harness::new(config(&[], &[1]));
    h.client
        .account(
            h.now,
            AcctRecord::new(AcctStatusType::AccountingOn, b"", b""),
        )
        .unwrap();
    h.client
        .account(h.now, record(AcctStatusType::Start, "s1"))
        .unwrap();
    h.client
        .account(
            h.now,
            AcctRecord::new(AcctStatusType::AccountingOff, b"", b""),
        )
        .unwrap();
    h.run();
    let seen: Vec<_> = h
        .server(1, 1813)
        .accounting
        .iter()
        .map(|s| (s.status, s.session_id.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (AcctStatusType::AccountingOn, vec![]),
            (AcctStatusType::Start, b"s1".to_vec()),
            (AcctStatusType::AccountingOff, vec![]),
        ]
    );
    assert_eq!(h.client.counters().acct_delivered, 3);
}

//! Engine tests: our initiator against our responder in memory with a fake clock,
//! with loss and duplication, rekeys under traffic, DPD, NAT-T and the failure paths.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::policy::{DEFAULT_ESP, DEFAULT_PHASE1, parse_list};
use super::*;
use crate::crypto::esp::{AnyTransform, Transform};

/// Deterministic randomness (xorshift) and SPIs.
struct TestEnv {
    state: u64,
    next_spi: u32,
}

impl TestEnv {
    fn new(seed: u64) -> TestEnv {
        TestEnv {
            state: seed | 1,
            next_spi: 0x1000 + (seed as u32 & 0xff) * 0x10000,
        }
    }
    fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }
    fn with<R>(&mut self, f: impl FnOnce(&mut Env<'_>) -> R) -> R {
        let mut st = self.state;
        let mut spi = self.next_spi;
        let r = {
            let mut rng = |b: &mut [u8]| {
                for x in b.iter_mut() {
                    st ^= st << 13;
                    st ^= st >> 7;
                    st ^= st << 17;
                    *x = st as u8;
                }
            };
            let mut spis = || {
                spi += 1;
                spi
            };
            let mut env = Env {
                rng: &mut rng,
                spi: &mut spis,
            };
            f(&mut env)
        };
        self.state = st;
        self.next_spi = spi;
        r
    }
}

const CLIENT: &str = "192.0.2.10:500";
const SERVER: &str = "198.51.100.1:500";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn psk() -> Zeroizing<Vec<u8>> {
    Zeroizing::new(b"labpsk".to_vec())
}

fn server_policy() -> IkePolicy {
    IkePolicy {
        default_psk: Some(psk()),
        allow_md5: true,
        ..IkePolicy::default()
    }
}

fn client_params(force_encap: bool) -> InitiatorParams {
    InitiatorParams {
        psk: psk(),
        local_id: Identity::Ipv4("192.0.2.10".parse().unwrap()),
        local: addr(CLIENT),
        remote: addr(SERVER),
        nat_t_port: 4500,
        force_encap,
        initial_contact: true,
    }
}

fn qm(esp: &str) -> QuickModeParams {
    QuickModeParams {
        local_port: 1701,
        remote_port: 1701,
        esp: vec![esp.parse().unwrap()],
    }
}

/// Both peers, the wire between them and what they reported.
struct Pair {
    now: Instant,
    i: IkeSa,
    r: Option<IkeSa>,
    ienv: TestEnv,
    renv: TestEnv,
    r_policy: Arc<IkePolicy>,
    i_events: Vec<Event>,
    r_events: Vec<Event>,
    /// Fate of each datagram: 0 deliver, 1 drop, 2 duplicate.
    fate: Box<dyn FnMut() -> u8>,
    /// Stop delivering to and from the initiator (a vanished client).
    i_dead: bool,
    delivered: usize,
}

impl Pair {
    fn new(i_policy: IkePolicy, r_policy: IkePolicy, params: InitiatorParams) -> Pair {
        let now = Instant::now();
        let mut ienv = TestEnv::new(7);
        let i = ienv.with(|e| IkeSa::initiate(now, Arc::new(i_policy), params, e));
        Pair {
            now,
            i,
            r: None,
            ienv,
            renv: TestEnv::new(99),
            r_policy: Arc::new(r_policy),
            i_events: Vec::new(),
            r_events: Vec::new(),
            fate: Box::new(|| 0),
            i_dead: false,
            delivered: 0,
        }
    }

    fn client_addr(&self, encap: bool) -> SocketAddr {
        let mut a = addr(CLIENT);
        if encap {
            a.set_port(4500);
        }
        a
    }

    fn server_addr(encap: bool) -> SocketAddr {
        let mut a = addr(SERVER);
        if encap {
            a.set_port(4500);
        }
        a
    }

    fn deliver_to_responder(&mut self, t: Transmit) {
        if self.i_dead {
            return;
        }
        let from = self.client_addr(t.encap);
        let local = Pair::server_addr(t.encap);
        let now = self.now;
        match &mut self.r {
            Some(r) => self
                .renv
                .with(|e| r.handle_message(now, local, from, t.encap, &t.bytes, e)),
            None => {
                let policy = Arc::clone(&self.r_policy);
                if let Ok(r) = self
                    .renv
                    .with(|e| IkeSa::respond(now, policy, local, from, t.encap, &t.bytes, e))
                {
                    self.r = Some(r);
                }
            }
        }
    }

    fn deliver_to_initiator(&mut self, t: Transmit) {
        if self.i_dead {
            return;
        }
        let from = Pair::server_addr(t.encap);
        let local = self.client_addr(t.encap);
        let now = self.now;
        self.ienv.with(|e| {
            self.i
                .handle_message(now, local, from, t.encap, &t.bytes, e)
        });
    }

    /// Moves datagrams both ways until the wire is quiet; collects events.
    fn pump(&mut self) {
        for _ in 0..100 {
            let mut moved = false;
            while let Some(t) = self.i.poll_transmit() {
                moved = true;
                match (self.fate)() {
                    1 => {}
                    2 => {
                        self.deliver_to_responder(t.clone());
                        self.deliver_to_responder(t);
                    }
                    _ => self.deliver_to_responder(t),
                }
                self.delivered += 1;
            }
            if let Some(r) = &mut self.r {
                let out: Vec<Transmit> = std::iter::from_fn(|| r.poll_transmit()).collect();
                for t in out {
                    moved = true;
                    match (self.fate)() {
                        1 => {}
                        2 => {
                            self.deliver_to_initiator(t.clone());
                            self.deliver_to_initiator(t);
                        }
                        _ => self.deliver_to_initiator(t),
                    }
                }
            }
            while let Some(e) = self.i.poll_event() {
                self.i_events.push(e);
            }
            if let Some(r) = &mut self.r {
                while let Some(e) = r.poll_event() {
                    self.r_events.push(e);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the peers never went quiet");
    }

    /// Advances the clock to the next deadline of either side (at most `max`).
    fn tick(&mut self, max: Duration) {
        let limit = self.now + max;
        let next = [
            self.i.poll_timeout(),
            self.r.as_ref().and_then(IkeSa::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(limit)
        .min(limit);
        self.now = next.max(self.now);
        let now = self.now;
        self.ienv.with(|e| self.i.handle_timeout(now, e));
        if let Some(r) = &mut self.r {
            self.renv.with(|e| r.handle_timeout(now, e));
        }
        self.pump();
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Pair) -> bool) -> bool {
        let end = self.now + limit;
        self.pump();
        while self.now < end {
            if done(self) {
                return true;
            }
            self.tick(Duration::from_millis(500));
        }
        done(self)
    }

    fn phase1_up(&self) -> bool {
        self.i.is_established() && self.r.as_ref().is_some_and(IkeSa::is_established)
    }

    fn start_qm(&mut self, esp: &str) {
        let now = self.now;
        self.ienv
            .with(|e| self.i.start_quick_mode(now, qm(esp), e))
            .unwrap();
        self.pump();
    }

    fn children(events: &[Event]) -> Vec<&ChildSa> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::ChildUp(c) => Some(c),
                _ => None,
            })
            .collect()
    }
}

/// Seals one ESP packet with `out`/`spi` and opens it with `inb`.
fn esp_round_trip(out: &AnyTransform, spi: u32, seq: u64, inb: &AnyTransform) -> bool {
    let payload = b"l2tp inside udp inside esp";
    let len = out.packet_len(payload.len());
    let mut pkt = vec![0u8; len];
    pkt[..4].copy_from_slice(&spi.to_be_bytes());
    pkt[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
    let off = out.payload_offset();
    pkt[off..off + payload.len()].copy_from_slice(payload);
    out.encode_trailer(&mut pkt, payload.len(), 17).unwrap();
    out.seal(seq, &mut pkt).unwrap();
    match inb.open(seq, &mut pkt) {
        Ok(r) => &pkt[r] == payload,
        Err(_) => false,
    }
}

fn establish(pair: &mut Pair, esp: &str) -> bool {
    if !pair.run_until(Duration::from_secs(300), Pair::phase1_up) {
        return false;
    }
    pair.start_qm(esp);
    pair.run_until(Duration::from_secs(300), |p| {
        !Pair::children(&p.i_events).is_empty()
            && p.r_events
                .iter()
                .any(|e| matches!(e, Event::ChildReady { .. }))
    })
}

fn check_children_match(pair: &Pair) {
    let ic = Pair::children(&pair.i_events);
    let rc = Pair::children(&pair.r_events);
    let (i, r) = (ic.last().unwrap(), rc.last().unwrap());
    // The initiator may send at once; the responder installs its inbound SA when it
    // answers and sends only after HASH(3).
    assert!(i.ready && !r.ready);
    assert!(
        pair.r_events.iter().any(
            |e| matches!(e, Event::ChildReady { inbound_spi } if *inbound_spi == r.inbound_spi)
        )
    );
    assert_eq!(i.inbound_spi, r.outbound_spi);
    assert_eq!(i.outbound_spi, r.inbound_spi);
    assert_eq!(i.suite, r.suite);
    assert!(esp_round_trip(
        &i.outbound_transform().unwrap(),
        i.outbound_spi,
        1,
        &r.inbound_transform().unwrap()
    ));
    assert!(esp_round_trip(
        &r.outbound_transform().unwrap(),
        r.outbound_spi,
        1,
        &i.inbound_transform().unwrap()
    ));
}

#[test]
fn every_default_phase1_proposal_establishes() {
    for p1 in DEFAULT_PHASE1 {
        let client = IkePolicy {
            phase1: parse_list(&[p1]).unwrap(),
            ..IkePolicy::default()
        };
        let mut pair = Pair::new(client, server_policy(), client_params(false));
        assert!(establish(&mut pair, "aes128gcm16"), "{p1}");
        check_children_match(&pair);
        let up = pair
            .r_events
            .iter()
            .find_map(|e| match e {
                Event::Phase1Up {
                    proposal, peer_id, ..
                } => Some((*proposal, peer_id.clone())),
                _ => None,
            })
            .unwrap();
        assert_eq!(up.0.to_string(), *p1);
        assert_eq!(up.1, Identity::Ipv4("192.0.2.10".parse().unwrap()));
    }
}

#[test]
fn every_default_esp_proposal_establishes_with_and_without_pfs() {
    for esp in DEFAULT_ESP {
        for pfs in ["", "-ecp256"] {
            let proposal = format!("{esp}{pfs}");
            let client = IkePolicy {
                phase1: parse_list(&["aes128-sha256-ecp256"]).unwrap(),
                ..IkePolicy::default()
            };
            let mut pair = Pair::new(client, server_policy(), client_params(false));
            assert!(establish(&mut pair, &proposal), "{proposal}");
            check_children_match(&pair);
            let i = Pair::children(&pair.i_events)[0];
            assert!(!i.encap, "no NAT: raw ESP");
            assert_eq!(i.remote_port, 1701);
        }
    }
}

#[test]
fn refusals_are_reported() {
    // No common phase-1 proposal.
    let client = IkePolicy {
        phase1: parse_list(&["3des-sha1-modp1024"]).unwrap(),
        ..IkePolicy::default()
    };
    let server = IkePolicy {
        legacy: false,
        ..server_policy()
    };
    let mut pair = Pair::new(client, server, client_params(false));
    pair.run_until(Duration::from_secs(5), |p| p.i.is_closed());
    assert!(matches!(
        pair.r_events.last(),
        Some(Event::Closed {
            reason: CloseReason::NoProposalChosen
        })
    ));
    assert!(matches!(
        pair.i_events.last(),
        Some(Event::Closed {
            reason: CloseReason::PeerRefused(14)
        })
    ));

    // Wrong PSK: the responder finds no key; the initiator gives up by timeout.
    let mut params = client_params(false);
    params.psk = Zeroizing::new(b"wrong".to_vec());
    let mut pair = Pair::new(IkePolicy::default(), server_policy(), params);
    pair.run_until(Duration::from_secs(120), |p| p.i.is_closed());
    assert!(pair.r_events.iter().any(|e| matches!(
        e,
        Event::Closed {
            reason: CloseReason::AuthenticationFailed
        }
    )));
    assert!(matches!(
        pair.i_events.last(),
        Some(Event::Closed {
            reason: CloseReason::Timeout
        })
    ));

    // An ESP proposal the server does not accept: no child, the QM is refused.
    let server = IkePolicy {
        esp: parse_list(&["aes256-sha256"]).unwrap(),
        ..server_policy()
    };
    let mut pair = Pair::new(IkePolicy::default(), server, client_params(false));
    assert!(pair.run_until(Duration::from_secs(10), Pair::phase1_up));
    pair.start_qm("aes128-sha1");
    pair.run_until(Duration::from_secs(5), |_| false);
    assert!(Pair::children(&pair.r_events).is_empty());
    assert_eq!(pair.r.as_ref().unwrap().stats().qm_refused, 1);
}

#[test]
fn psk_chosen_by_peer_id() {
    let server = IkePolicy {
        psks: vec![Psk {
            selector: PskSelector::Id("road.example.net".into()),
            secret: psk(),
        }],
        ..IkePolicy::default()
    };
    let mut params = client_params(false);
    params.local_id = Identity::Fqdn("road.example.net".into());
    let mut pair = Pair::new(IkePolicy::default(), server.clone(), params);
    assert!(pair.run_until(Duration::from_secs(10), Pair::phase1_up));

    let mut params = client_params(false);
    params.local_id = Identity::Fqdn("other.example.net".into());
    let mut pair = Pair::new(IkePolicy::default(), server, params);
    pair.run_until(Duration::from_secs(10), |p| {
        p.r.as_ref().is_some_and(IkeSa::is_closed)
    });
    assert!(!pair.phase1_up());
}

#[test]
fn loss_and_duplication_are_survived() {
    for seed in 1..13u64 {
        let mut rng = TestEnv::new(seed * 7919);
        // Enough retries that 25% loss each way cannot plausibly exhaust them (each
        // try succeeds with p = 0.56): the test is about state, not luck.
        let patient = |p: IkePolicy| IkePolicy {
            retransmit_retries: 10,
            ..p
        };
        let mut pair = Pair::new(
            patient(IkePolicy::default()),
            patient(server_policy()),
            client_params(false),
        );
        // A quarter lost, a quarter duplicated.
        pair.fate = Box::new(move || match rng.next() % 4 {
            0 => 1,
            1 => 2,
            _ => 0,
        });
        assert!(establish(&mut pair, "aes256-sha256"), "seed {seed}");
        check_children_match(&pair);
        assert_eq!(Pair::children(&pair.i_events).len(), 1);
        assert_eq!(Pair::children(&pair.r_events).len(), 1);
    }
}

#[test]
fn nat_traversal_floats_to_4500() {
    let mut pair = Pair::new(IkePolicy::default(), server_policy(), client_params(true));
    assert!(establish(&mut pair, "aes128gcm16"));
    check_children_match(&pair);
    let r = Pair::children(&pair.r_events)[0];
    assert!(r.encap);
    assert_eq!(r.peer.port(), 4500);
    assert!(
        pair.r_events
            .iter()
            .any(|e| matches!(e, Event::PeerMoved { encap: true, .. }))
    );
    assert!(pair.r_events.iter().any(|e| matches!(
        e,
        Event::Phase1Up {
            nat_detected: true,
            initial_contact: true,
            ..
        }
    )));
    assert_eq!(r.peer_original, Some("192.0.2.10".parse().unwrap()));
}

/// Traffic both ways every 100 ms while the children are rekeyed (lifetime 60 s, so
/// several rekeys): every packet opens, from the first to the last.
#[test]
fn rekey_under_traffic_loses_nothing() {
    let short = |p: IkePolicy| IkePolicy {
        phase2_lifetime: Duration::from_secs(60),
        ..p
    };
    let mut pair = Pair::new(
        short(IkePolicy::default()),
        short(server_policy()),
        client_params(true),
    );
    assert!(establish(&mut pair, "aes128-sha1"));

    // Each side as the control thread would keep it: inbound SAs by SPI, and the
    // newest outbound SA with its sequence counter.
    struct Side {
        inbound: HashMap<u32, AnyTransform>,
        outbound: Option<(u32, AnyTransform, u64)>,
        /// Responder pairs waiting for HASH(3): inbound SPI -> outbound.
        pending: HashMap<u32, (u32, AnyTransform)>,
        seen: usize,
    }
    fn apply(side: &mut Side, events: &[Event]) {
        for e in &events[side.seen..] {
            match e {
                Event::ChildUp(c) => {
                    side.inbound
                        .insert(c.inbound_spi, c.inbound_transform().unwrap());
                    let out = (c.outbound_spi, c.outbound_transform().unwrap());
                    if c.ready {
                        side.outbound = Some((out.0, out.1, 0));
                    } else {
                        side.pending.insert(c.inbound_spi, out);
                    }
                }
                Event::ChildReady { inbound_spi } => {
                    let (spi, t) = side.pending.remove(inbound_spi).unwrap();
                    side.outbound = Some((spi, t, 0));
                }
                Event::ChildDown {
                    inbound_spi,
                    outbound_spi,
                } => {
                    side.inbound.remove(inbound_spi);
                    assert_ne!(side.outbound.as_ref().map(|o| o.0), Some(*outbound_spi));
                }
                _ => {}
            }
        }
        side.seen = events.len();
    }
    let mut i = Side {
        inbound: HashMap::new(),
        outbound: None,
        pending: HashMap::new(),
        seen: 0,
    };
    let mut r = Side {
        inbound: HashMap::new(),
        outbound: None,
        pending: HashMap::new(),
        seen: 0,
    };
    let (mut sent, mut lost) = (0, 0);
    let start = pair.now;
    while pair.now < start + Duration::from_secs(200) {
        apply(&mut i, &pair.i_events);
        apply(&mut r, &pair.r_events);
        fn send(a: &mut Side, b: &Side) -> bool {
            let (spi, t, seq) = a.outbound.as_mut().unwrap();
            *seq += 1;
            b.inbound
                .get(spi)
                .is_some_and(|inb| esp_round_trip(t, *spi, *seq, inb))
        }
        for ok in [send(&mut i, &r), send(&mut r, &i)] {
            sent += 1;
            if !ok {
                lost += 1;
            }
        }
        pair.tick(Duration::from_millis(100));
    }
    let rekeys = Pair::children(&pair.i_events).len();
    assert!(rekeys >= 3, "only {rekeys} children in 200 s");
    assert_eq!(
        lost, 0,
        "{lost} of {sent} packets lost across {rekeys} rekeys"
    );
    // Superseded pairs were deleted, not left to pile up.
    assert!(i.inbound.len() <= 2 && r.inbound.len() <= 2);
}

#[test]
fn dead_peer_is_detected_and_everything_goes() {
    let server = IkePolicy {
        dpd_interval: Duration::from_secs(10),
        dpd_timeout: Duration::from_secs(30),
        ..server_policy()
    };
    let mut pair = Pair::new(IkePolicy::default(), server, client_params(false));
    assert!(establish(&mut pair, "aes128gcm16"));
    // Alive: R-U-THERE answered for a while.
    pair.run_until(Duration::from_secs(60), |_| false);
    assert!(pair.r.as_ref().unwrap().stats().dpd_sent >= 3);
    assert!(pair.r.as_ref().unwrap().is_established());
    // Then the client vanishes.
    pair.i_dead = true;
    let t0 = pair.now;
    assert!(pair.run_until(Duration::from_secs(120), |p| {
        p.r.as_ref().is_some_and(IkeSa::is_closed)
    }));
    assert!(pair.now - t0 <= Duration::from_secs(45));
    assert!(
        pair.r_events
            .iter()
            .any(|e| matches!(e, Event::ChildDown { .. }))
    );
    assert!(matches!(
        pair.r_events.last(),
        Some(Event::Closed {
            reason: CloseReason::DeadPeer
        })
    ));
}

#[test]
fn close_deletes_children_and_the_isakmp_sa_at_the_peer() {
    let mut pair = Pair::new(IkePolicy::default(), server_policy(), client_params(true));
    assert!(establish(&mut pair, "aes256gcm16"));
    let now = pair.now;
    pair.ienv.with(|e| pair.i.close(now, e));
    pair.pump();
    let r_down = pair
        .r_events
        .iter()
        .filter(|e| matches!(e, Event::ChildDown { .. }))
        .count();
    assert_eq!(r_down, 1);
    assert!(matches!(
        pair.r_events.last(),
        Some(Event::Closed {
            reason: CloseReason::PeerDeleted
        })
    ));
    assert!(pair.r.as_mut().unwrap().take_children().is_empty());
}

#[test]
fn responder_lifetime_shortens_the_initiators_children() {
    let server = IkePolicy {
        phase2_lifetime: Duration::from_secs(600),
        ..server_policy()
    };
    let mut pair = Pair::new(IkePolicy::default(), server, client_params(false));
    assert!(establish(&mut pair, "aes128-sha256"));
    let i = Pair::children(&pair.i_events)[0];
    let r = Pair::children(&pair.r_events)[0];
    assert_eq!(r.lifetime, Duration::from_secs(600));
    assert_eq!(i.lifetime, Duration::from_secs(600));
}

#[test]
fn garbage_never_panics() {
    let mut pair = Pair::new(IkePolicy::default(), server_policy(), client_params(true));
    assert!(establish(&mut pair, "aes128gcm16"));
    let mut rng = TestEnv::new(5);
    let now = pair.now;
    let r = pair.r.as_mut().unwrap();
    let (cky_i, cky_r) = r.cookies();
    for n in 0..2000 {
        let len = 28 + (rng.next() % 200) as usize;
        let mut msg = vec![0u8; len];
        for b in msg.iter_mut() {
            *b = rng.next() as u8;
        }
        msg[..8].copy_from_slice(&cky_i);
        msg[8..16].copy_from_slice(&cky_r);
        msg[17] = 0x10;
        msg[18] = [2u8, 5, 32][n % 3];
        msg[19] = (n % 2) as u8;
        msg[24..28].copy_from_slice(&(len as u32).to_be_bytes());
        let from = Pair::server_addr(true);
        pair.renv
            .with(|e| r.handle_message(now, from, from, true, &msg, e));
    }
    assert!(r.is_established());
    assert!(r.stats().malformed + r.stats().bad_hash > 1000);
}

/// strongSwan proposes a phase-1 Life Duration of 0: no limit of its own, not "expire
/// now" (found against the real client in the VM lab).
#[test]
fn zero_lifetime_proposal_means_no_limit() {
    let client = IkePolicy {
        phase1_lifetime: Duration::ZERO,
        phase2_lifetime: Duration::ZERO,
        ..IkePolicy::default()
    };
    let mut pair = Pair::new(client, server_policy(), client_params(false));
    assert!(establish(&mut pair, "aes128-sha1"));
    pair.run_until(Duration::from_secs(120), |_| false);
    let r = pair.r.as_ref().unwrap();
    assert!(r.is_established());
    assert_eq!(
        Pair::children(&pair.r_events)[0].lifetime,
        Duration::from_secs(3600)
    );
}

//! Our LAC engine against our LNS engine with a fake clock, through a channel that
//! can lose, duplicate and reorder messages (a seeded xorshift decides).

use super::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn filler(seed: u8) -> impl FnMut(&mut [u8]) {
    let mut x = seed;
    move |buf: &mut [u8]| {
        for b in buf {
            x = x.wrapping_mul(31).wrapping_add(7);
            *b = x;
        }
    }
}

/// A LAC and an LNS joined by a lossy channel, the LNS side created on the first SCCRQ.
struct Link {
    now: Instant,
    lac: Tunnel,
    lns: Option<Tunnel>,
    lns_config: TunnelConfig,
    rng: Rng,
    loss: u64,
    dup: u64,
    reorder: u64,
    lac_events: Vec<Event>,
    lns_events: Vec<Event>,
    /// LNS auto-accepts calls with local ID = 1000 + peer ID.
    accept: bool,
}

impl Link {
    fn new(lac_config: &TunnelConfig, lns_config: &TunnelConfig, seed: u64) -> Link {
        let now = Instant::now();
        Link {
            now,
            lac: Tunnel::lac_connect(now, lac_config, 11, &mut filler(1)),
            lns: None,
            lns_config: lns_config.clone(),
            rng: Rng(seed | 1),
            loss: 0,
            dup: 0,
            reorder: 0,
            lac_events: Vec::new(),
            lns_events: Vec::new(),
            accept: true,
        }
    }

    fn deliver(&mut self, to_lns: bool, mut batch: Vec<Vec<u8>>) {
        if self.reorder > 0 && batch.len() > 1 && self.rng.chance(self.reorder) {
            batch.swap(0, 1);
        }
        for m in batch {
            if self.rng.chance(self.loss) {
                continue;
            }
            let copies = if self.rng.chance(self.dup) { 2 } else { 1 };
            for _ in 0..copies {
                if to_lns {
                    match &mut self.lns {
                        Some(t) => t.handle_message(self.now, &m),
                        None => {
                            let t = Tunnel::lns_accept(
                                self.now,
                                &self.lns_config,
                                22,
                                &m,
                                &mut filler(2),
                            )
                            .expect("SCCRQ");
                            self.lns = Some(t);
                        }
                    }
                } else {
                    self.lac.handle_message(self.now, &m);
                }
            }
        }
    }

    /// One exchange round: everything queued goes across, events are collected,
    /// then time advances to the earliest timer (at most `step`).
    fn round(&mut self, step: Duration) {
        let mut to_lns = Vec::new();
        while let Some(m) = self.lac.poll_transmit(self.now) {
            to_lns.push(m);
        }
        self.deliver(true, to_lns);
        if let Some(lns) = &mut self.lns {
            while let Some(e) = lns.poll_event() {
                if let (
                    true,
                    Event::IncomingCall {
                        peer_session_id, ..
                    },
                ) = (self.accept, &e)
                {
                    lns.accept_call(self.now, *peer_session_id, 1000 + peer_session_id);
                }
                self.lns_events.push(e);
            }
            let mut to_lac = Vec::new();
            while let Some(m) = lns.poll_transmit(self.now) {
                to_lac.push(m);
            }
            self.deliver(false, to_lac);
        }
        while let Some(e) = self.lac.poll_event() {
            self.lac_events.push(e);
        }
        let next = [
            self.lac.poll_timeout(),
            self.lns.as_ref().and_then(Tunnel::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min();
        self.now = match next {
            Some(t) if t <= self.now + step => t.max(self.now),
            _ => self.now + step,
        };
        self.lac.handle_timeout(self.now);
        if let Some(lns) = &mut self.lns {
            lns.handle_timeout(self.now);
        }
    }

    fn run_until(&mut self, rounds: usize, done: impl Fn(&Link) -> bool) -> bool {
        for _ in 0..rounds {
            if done(self) {
                return true;
            }
            self.round(Duration::from_millis(200));
        }
        done(self)
    }
}

fn up(events: &[Event]) -> bool {
    events.contains(&Event::TunnelUp)
}

fn sessions_up(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::SessionUp { .. }))
        .count()
}

fn secret(s: &str) -> Option<Zeroizing<Vec<u8>>> {
    Some(Zeroizing::new(s.as_bytes().to_vec()))
}

#[test]
fn tunnel_and_a_call_come_up_on_a_clean_link() {
    let cfg = TunnelConfig::default();
    let mut link = Link::new(&cfg, &cfg, 1);
    assert!(link.run_until(50, |l| up(&l.lac_events) && l.lns.is_some()));
    assert!(link.run_until(50, |l| up(&l.lns_events)));
    link.lac.place_call(link.now, 5);
    // The ICRQ waits for its acknowledgment (the control queue depth metric).
    assert_eq!(link.lac.queue_depth(), 1);
    assert!(link.run_until(50, |l| sessions_up(&l.lns_events) == 1));
    assert!(link.lns_events.contains(&Event::SessionUp {
        local_session_id: 1005,
        peer_session_id: 5,
        proxy: None,
    }));
    assert!(link.lac_events.contains(&Event::SessionUp {
        local_session_id: 5,
        peer_session_id: 1005,
        proxy: None,
    }));
    assert_eq!(link.lac.peer_tunnel_id(), 22);
    assert_eq!(link.lns.as_ref().unwrap().peer_tunnel_id(), 11);
    // Nothing was retransmitted on a clean link.
    assert_eq!(link.lac.counters().retransmissions, 0);
    assert!(link.run_until(50, |l| l.lac.queue_depth() == 0));
}

#[test]
fn a_thousand_calls_survive_loss_duplication_and_reordering() {
    for seed in [3u64, 17, 99] {
        let cfg = TunnelConfig {
            retransmit_retries: 10,
            ..TunnelConfig::default()
        };
        let mut link = Link::new(&cfg, &cfg, seed);
        link.loss = 10;
        link.dup = 10;
        link.reorder = 20;
        assert!(link.run_until(500, |l| up(&l.lac_events) && up(&l.lns_events)));
        for sid in 1..=1000u16 {
            link.lac.place_call(link.now, sid);
        }
        assert!(
            link.run_until(20_000, |l| sessions_up(&l.lns_events) == 1000
                && sessions_up(&l.lac_events) == 1000),
            "seed {seed}: {} / {} up; lns {:?} lac {:?}",
            sessions_up(&link.lns_events),
            sessions_up(&link.lac_events),
            link.lns.as_ref().map(|t| t.counters().clone()),
            link.lac.counters(),
        );
        // Delivered exactly once despite duplicates.
        let calls = link
            .lns_events
            .iter()
            .filter(|e| matches!(e, Event::IncomingCall { .. }))
            .count();
        assert_eq!(calls, 1000, "seed {seed}");
        let lns = link.lns.as_ref().unwrap();
        assert!(lns.counters().duplicates > 0 || link.lac.counters().duplicates > 0);
        assert!(link.lac.counters().retransmissions > 0);
        // Tear the calls down from the LAC side, then the tunnel.
        for sid in 1..=1000u16 {
            link.lac.close_session(link.now, sid, cdn::ADMIN);
        }
        assert!(link.run_until(20_000, |l| {
            l.lns_events
                .iter()
                .filter(|e| matches!(e, Event::SessionClosed { .. }))
                .count()
                == 1000
        }));
        link.lac.close(link.now, stopccn::CLEAR);
        assert!(link.run_until(2000, |l| l.lac.is_closed()));
        assert!(
            link.lns_events
                .iter()
                .any(|e| matches!(e, Event::TunnelClosed { by_peer: true, .. }))
        );
    }
}

#[test]
fn the_send_window_is_respected() {
    let cfg = TunnelConfig::default();
    let mut link = Link::new(&cfg, &cfg, 5);
    assert!(link.run_until(50, |l| up(&l.lns_events)));
    // The LNS advertised 16; with nobody acknowledging, the LAC sends at most 16.
    for sid in 1..=40u16 {
        link.lac.place_call(link.now, sid);
    }
    let mut sent = 0;
    while link.lac.poll_transmit(link.now).is_some() {
        sent += 1;
    }
    assert_eq!(sent, 16);
}

#[test]
fn silence_means_backoff_then_teardown() {
    let cfg = TunnelConfig::default();
    let t0 = Instant::now();
    let mut lac = Tunnel::lac_connect(t0, &cfg, 1, &mut filler(1));
    assert!(lac.poll_transmit(t0).is_some());
    let mut sends = vec![t0];
    let mut now = t0;
    for _ in 0..20 {
        let Some(next) = lac.poll_timeout() else {
            break;
        };
        now = next;
        lac.handle_timeout(now);
        while lac.poll_transmit(now).is_some() {
            sends.push(now);
        }
    }
    // 5 transmissions at 0, 1, 3, 7, 15 s (1, 2, 4, 8 capped at 8), then the end.
    let offsets: Vec<u64> = sends.iter().map(|t| (*t - t0).as_secs()).collect();
    assert_eq!(offsets, [0, 1, 3, 7, 15]);
    assert_eq!(
        lac.poll_event(),
        Some(Event::TunnelClosed {
            result: stopccn::GENERAL_ERROR,
            by_peer: false
        })
    );
    assert!(lac.is_closed());
    let _ = now;
}

#[test]
fn hello_on_an_idle_tunnel() {
    let cfg = TunnelConfig {
        hello_interval: Duration::from_secs(10),
        ..TunnelConfig::default()
    };
    let mut link = Link::new(&cfg, &cfg, 7);
    assert!(link.run_until(50, |l| up(&l.lns_events)));
    let before = link.lac.counters().messages_out;
    link.run_until(100, |l| l.lac.counters().messages_out > before);
    assert!(
        link.lac.counters().messages_out > before,
        "no HELLO after 10 s idle"
    );
    // The tunnel stays up.
    assert!(link.lac.is_established());
}

#[test]
fn tunnel_authentication() {
    let good = TunnelConfig {
        secret: secret("s3cret"),
        ..TunnelConfig::default()
    };
    let mut link = Link::new(&good, &good, 9);
    assert!(link.run_until(50, |l| up(&l.lns_events) && up(&l.lac_events)));

    // Wrong secret: the LAC finds the SCCRP's response wrong and stops.
    let wrong = TunnelConfig {
        secret: secret("other"),
        ..TunnelConfig::default()
    };
    let mut link = Link::new(&wrong, &good, 9);
    link.run_until(50, |l| l.lac.is_closed());
    assert!(!up(&link.lac_events));
    assert!(!up(&link.lns_events));
    assert!(link.lns_events.iter().any(|e| matches!(
        e,
        Event::TunnelClosed {
            result: stopccn::NOT_AUTHORIZED,
            by_peer: true
        }
    )));

    // The LNS has a secret, the LAC none: the LAC's SCCCN has no response.
    let none = TunnelConfig::default();
    let mut link = Link::new(&none, &good, 9);
    link.run_until(50, |l| l.lns.as_ref().is_some_and(Tunnel::is_closed));
    assert!(!up(&link.lns_events));
}

#[test]
fn cdn_from_the_lns_reaches_the_lac() {
    let cfg = TunnelConfig::default();
    let mut link = Link::new(&cfg, &cfg, 13);
    assert!(link.run_until(50, |l| up(&l.lns_events)));
    link.lac.place_call(link.now, 7);
    assert!(link.run_until(50, |l| sessions_up(&l.lac_events) == 1));
    let now = link.now;
    link.lns
        .as_mut()
        .unwrap()
        .close_session(now, 1007, cdn::ADMIN);
    assert!(
        link.run_until(50, |l| l.lac_events.contains(&Event::SessionClosed {
            local_session_id: 7,
            result: cdn::ADMIN
        }))
    );
    // A refused call gets a CDN too.
    link.accept = false;
    link.lac.place_call(link.now, 8);
    link.round(Duration::from_millis(10));
    let now = link.now;
    link.lns
        .as_mut()
        .unwrap()
        .reject_call(now, 8, cdn::TEMPORARY);
    assert!(
        link.run_until(50, |l| l.lac_events.contains(&Event::SessionClosed {
            local_session_id: 8,
            result: cdn::TEMPORARY
        }))
    );
}

#[test]
fn garbage_never_panics() {
    let cfg = TunnelConfig::default();
    let now = Instant::now();
    let mut t = Tunnel::lac_connect(now, &cfg, 1, &mut filler(1));
    let mut rng = Rng(42);
    for len in 0..200usize {
        let mut m: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if m.len() > 2 {
            m[0] = 0xc8;
            m[1] = 0x02;
        }
        t.handle_message(now, &m);
        let _ = Tunnel::lns_accept(now, &cfg, 2, &m, &mut filler(3));
    }
}

#[test]
fn proxy_avps_reach_the_lns_with_the_response_hidden() {
    let cfg = TunnelConfig {
        secret: secret("proxy-secret"),
        ..TunnelConfig::default()
    };
    let mut link = Link::new(&cfg, &cfg, 21);
    assert!(link.run_until(50, |l| up(&l.lns_events)));
    let proxy = ProxyInfo {
        initial_received: vec![1, 4, 5, 0xdc],
        last_sent: vec![3, 5, 0xc2, 0x23, 0x05, 5, 6, 1, 2, 3, 4],
        last_received: vec![1, 4, 5, 0xdc, 5, 6, 9, 8, 7, 6],
        authen_type: Some(2),
        authen_name: b"subscriber@isp".to_vec(),
        authen_challenge: vec![0x11; 16],
        authen_id: 7,
        authen_response: Zeroizing::new(vec![0x22; 16]),
    };
    link.lac
        .place_call_with_proxy(link.now, 3, Some(proxy.clone()));
    assert!(link.run_until(50, |l| sessions_up(&l.lns_events) == 1));
    let got = link.lns_events.iter().find_map(|e| match e {
        Event::SessionUp { proxy, .. } => proxy.clone(),
        _ => None,
    });
    assert_eq!(got, Some(proxy));
}

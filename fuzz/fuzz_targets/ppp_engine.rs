#![no_main]
//! The PPP engine (both roles) fed arbitrary frames: no panic, whatever the peer
//! sends, including answers to authentication requests and address assignment.

use std::sync::Arc;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use shardvpn::proto::ppp::ipcp::Ipv4Assignment;
use shardvpn::proto::ppp::{AuthMethod, Ppp, PppConfig, PppEvent};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut seed = 0u8;
    let mut rng = |buf: &mut [u8]| {
        for b in buf {
            seed = seed.wrapping_add(1);
            *b = seed;
        }
    };
    let config = Arc::new(PppConfig {
        auth_methods: vec![AuthMethod::MsChapV2, AuthMethod::ChapMd5, AuthMethod::Pap],
        ..PppConfig::default()
    });
    let mut engines = [
        Ppp::server(Arc::clone(&config), now, &mut rng),
        Ppp::client(config, now, &mut rng),
    ];
    for e in &mut engines {
        e.open(now);
    }
    // Each record: protocol (2 bytes), length (1 byte), packet.
    let mut rest = data;
    let mut t = now;
    while let [p0, p1, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (packet, next) = tail.split_at(len);
        rest = next;
        t += Duration::from_millis(100);
        for e in &mut engines {
            e.handle_frame(t, u16::from_be_bytes([*p0, *p1]), packet);
            while e.poll_transmit().is_some() {}
            while let Some(event) = e.poll_event() {
                match event {
                    PppEvent::AuthRequest(_) => {
                        let _ = if len % 2 == 0 {
                            e.auth_accept(t, Some([0; 20]))
                        } else {
                            e.auth_reject(t, "no")
                        };
                    }
                    PppEvent::NeedAddress => {
                        let _ = e.set_ipv4(
                            t,
                            Ipv4Assignment {
                                peer: [10, 0, 0, 2].into(),
                                local: [10, 0, 0, 1].into(),
                                dns: [None, None],
                                nbns: [None, None],
                            },
                        );
                    }
                    _ => {}
                }
            }
            if e.poll_timeout().is_some_and(|w| w <= t) {
                e.handle_timeout(t);
            }
        }
    }
});

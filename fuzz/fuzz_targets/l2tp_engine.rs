#![no_main]
//! The L2TP control engine (both roles) fed arbitrary control messages: no panic.
//! Records are a 2-byte length and the message; the first one also tries to open an
//! LNS connection (as an SCCRQ would).

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use shardvpn::proto::l2tp::{Event, Tunnel, TunnelConfig};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut fill = |b: &mut [u8]| b.fill(7);
    let config = TunnelConfig {
        secret: Some(zeroize::Zeroizing::new(b"fuzz".to_vec())),
        ..TunnelConfig::default()
    };
    let mut lac = Tunnel::lac_connect(now, &config, 1, &mut fill);
    let mut lns: Option<Tunnel> = None;
    let mut rest = data;
    let mut t = now;
    while let [a, b, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*a, *b])).min(tail.len());
        let (msg, next) = tail.split_at(len);
        rest = next;
        t += Duration::from_millis(300);
        match &mut lns {
            Some(l) => l.handle_message(t, msg),
            None => lns = Tunnel::lns_accept(t, &config, 2, msg, &mut fill).ok(),
        }
        lac.handle_message(t, msg);
        for e in [&mut lac].into_iter().chain(lns.as_mut()) {
            while e.poll_transmit(t).is_some() {}
            while let Some(ev) = e.poll_event() {
                if let Event::IncomingCall {
                    peer_session_id, ..
                } = ev
                {
                    e.accept_call(t, peer_session_id, 100);
                }
            }
            if e.poll_timeout().is_some_and(|w| w <= t) {
                e.handle_timeout(t);
            }
        }
    }
});

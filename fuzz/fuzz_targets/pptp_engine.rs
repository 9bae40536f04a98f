#![no_main]
//! The PPTP control engine (both roles) fed an arbitrary byte stream in arbitrary
//! pieces, with time advancing and every call request answered: no panic.
//! Records are [piece length][flags], then the piece.

use std::sync::Arc;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use shardvpn::proto::pptp::{Control, Event, PptpConfig};
use shardvpn::wire::pptp::{DisconnectResult, StopReason};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let config = Arc::new(PptpConfig::default());
    let mut server = Control::server(now, Arc::clone(&config));
    let mut client = Control::client(now, config);
    let mut t = now;
    let mut next_id = 1u16;
    let mut rest = data;
    while let [len, flags, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (piece, next) = tail.split_at(n);
        rest = next;
        t += Duration::from_secs(u64::from(flags >> 3));
        let side = if flags & 1 == 0 {
            &mut server
        } else {
            &mut client
        };
        side.handle_bytes(t, piece);
        match flags & 6 {
            2 => {
                let _ = side.place_call(t, next_id, next_id);
                next_id = next_id.wrapping_add(1);
            }
            4 => side.end_call(next_id.wrapping_sub(1), DisconnectResult::Request),
            6 if flags & 0x80 != 0 => side.close(t, StopReason::None),
            _ => {}
        }
        for s in [&mut server, &mut client] {
            if s.poll_timeout().is_some_and(|w| w <= t) {
                s.handle_timeout(t);
            }
            while s.poll_transmit().is_some() {}
            while let Some(e) = s.poll_event() {
                if let Event::CallRequest { peer_call_id, .. } = e {
                    let _ = s.accept_call(t, peer_call_id, next_id);
                    next_id = next_id.wrapping_add(1);
                }
            }
        }
    }
});

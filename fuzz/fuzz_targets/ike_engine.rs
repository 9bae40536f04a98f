#![no_main]
//! The IKEv1 engine (both roles) fed arbitrary and mutated messages: no panic.
//!
//! A deterministic Main Mode + Quick Mode between our initiator and responder is
//! recorded first; each fuzz record then picks one of the recorded messages (or none),
//! XORs the fuzz bytes over it (so cookies, lengths and ciphertext are all reachable
//! while most of the message stays well formed) and delivers it to either side, with
//! time advancing so retransmissions, DPD, rekeys and expiries run too. Records are
//! [target side/flags][message index][2-byte length][bytes].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use shardvpn::proto::ike::{
    Env, Identity, IkePolicy, IkeSa, InitiatorParams, QuickModeParams, policy,
};
use zeroize::Zeroizing;

fn env_run<R>(seed: &mut u64, spi: &mut u32, f: impl FnOnce(&mut Env<'_>) -> R) -> R {
    let mut rng = |b: &mut [u8]| {
        for x in b.iter_mut() {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *x = *seed as u8;
        }
    };
    let mut spis = || {
        *spi += 1;
        *spi
    };
    let mut env = Env {
        rng: &mut rng,
        spi: &mut spis,
    };
    f(&mut env)
}

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let client: SocketAddr = "192.0.2.10:500".parse().unwrap();
    let server: SocketAddr = "198.51.100.1:500".parse().unwrap();
    let psk = Zeroizing::new(b"fuzz".to_vec());
    let short = |p: IkePolicy| IkePolicy {
        phase1: policy::parse_list(&["aes128-sha1-ecp256"]).unwrap(),
        phase2_lifetime: Duration::from_secs(60),
        dpd_interval: Duration::from_secs(5),
        dpd_timeout: Duration::from_secs(20),
        ..p
    };
    let (mut seed, mut spi) = (0x9e37_79b9_7f4a_7c15u64, 0x1000u32);
    let mut i = env_run(&mut seed, &mut spi, |e| {
        IkeSa::initiate(
            now,
            Arc::new(short(IkePolicy::default())),
            InitiatorParams {
                psk: psk.clone(),
                local_id: Identity::Ipv4("192.0.2.10".parse().unwrap()),
                local: client,
                remote: server,
                nat_t_port: 4500,
                force_encap: data.first().is_some_and(|b| b & 1 == 1),
                initial_contact: true,
            },
            e,
        )
    });
    let rpol = Arc::new(short(IkePolicy {
        default_psk: Some(psk.clone()),
        ..IkePolicy::default()
    }));
    let mut r: Option<IkeSa> = None;
    let mut recorded: Vec<Vec<u8>> = Vec::new();
    // The honest handshake, recorded.
    for round in 0..12 {
        while let Some(t) = i.poll_transmit() {
            recorded.push(t.bytes.clone());
            match &mut r {
                Some(r) => env_run(&mut seed, &mut spi, |e| {
                    r.handle_message(now, server, client, t.encap, &t.bytes, e)
                }),
                None => {
                    r = env_run(&mut seed, &mut spi, |e| {
                        IkeSa::respond(now, Arc::clone(&rpol), server, client, t.encap, &t.bytes, e)
                    })
                    .ok()
                }
            }
        }
        let Some(resp) = r.as_mut() else { return };
        while let Some(t) = resp.poll_transmit() {
            recorded.push(t.bytes.clone());
            env_run(&mut seed, &mut spi, |e| {
                i.handle_message(now, client, server, t.encap, &t.bytes, e)
            });
        }
        while i.poll_event().is_some() {}
        while resp.poll_event().is_some() {}
        if round == 4 && i.is_established() {
            let qm = QuickModeParams {
                local_port: 1701,
                remote_port: 1701,
                esp: policy::parse_list(&["aes128-sha1"]).unwrap(),
            };
            let _ = env_run(&mut seed, &mut spi, |e| i.start_quick_mode(now, qm, e));
        }
    }
    let Some(mut r) = r else { return };
    let mut t = now;
    let mut rest = data.get(1..).unwrap_or(&[]);
    while let [flags, index, a, b, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*a, *b])).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        rest = next;
        let mut msg = match recorded.get(usize::from(*index)) {
            Some(m) => m.clone(),
            None => Vec::new(),
        };
        if msg.len() < bytes.len() {
            msg.resize(bytes.len(), 0);
        }
        for (m, x) in msg.iter_mut().zip(bytes) {
            *m ^= x;
        }
        t += Duration::from_millis(u64::from(*flags >> 2) * 250);
        let encap = flags & 2 != 0;
        let (side, local, from) = if flags & 1 == 0 {
            (&mut r, server, client)
        } else {
            (&mut i, client, server)
        };
        env_run(&mut seed, &mut spi, |e| {
            side.handle_message(t, local, from, encap, &msg, e);
            if side.poll_timeout().is_some_and(|w| w <= t) {
                side.handle_timeout(t, e);
            }
        });
        for s in [&mut i, &mut r] {
            while s.poll_transmit().is_some() {}
            while s.poll_event().is_some() {}
        }
    }
});

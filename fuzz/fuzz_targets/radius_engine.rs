#![no_main]
//! The RADIUS client engine and the RFC 5176 handler fed arbitrary datagrams, with
//! requests issued, time advancing and answers echoed back: no panic.
//! Records are [length][flags], then the datagram.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use shardvpn::proto::radius::{
    AcctRecord, AcctStatusType, AuthParams, DaeClient, DaeConfig, DaeOutcome, DaeServer,
    ErrorCause, Proof, RadiusClient, RadiusConfig, Secret, ServerConfig,
};

fn server(last: u8, port: u16) -> ServerConfig {
    ServerConfig::new(
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)), port),
        &b"secret"[..],
    )
}

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let config = RadiusConfig {
        auth_servers: vec![server(1, 1812), server(2, 1812)],
        acct_servers: vec![server(1, 1813)],
        sockets: 2,
        accounting_queue: 8,
        ..RadiusConfig::default()
    };
    let mut seed = 1u8;
    let Ok(mut client) = RadiusClient::new(config, &mut |b: &mut [u8]| {
        for x in b {
            seed = seed.wrapping_mul(13).wrapping_add(5);
            *x = seed;
        }
    }) else {
        return;
    };
    let dae_from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 50)), 3799);
    let mut dae = DaeServer::new(DaeConfig {
        clients: vec![DaeClient {
            addr: dae_from.ip(),
            secret: Secret::new(&b"secret"[..]),
        }],
        ..DaeConfig::default()
    });
    let mut t = now;
    let mut sent: Vec<(SocketAddr, usize, Vec<u8>)> = Vec::new();
    let mut rest = data;
    let mut n = 0u32;
    while let [len, flags, tail @ ..] = rest {
        let take = usize::from(*len).min(tail.len());
        let (datagram, next) = tail.split_at(take);
        rest = next;
        n += 1;
        t += Duration::from_millis(u64::from(flags >> 4) * 700);
        match flags & 7 {
            0 => {
                let _ = client.authenticate(
                    t,
                    AuthParams {
                        user_name: datagram.to_vec(),
                        proof: Proof::Pap {
                            password: Secret::new(datagram),
                        },
                        peer_address: None,
                        called_station_id: None,
                        nas_port: Some(n),
                        acct_session_id: None,
                    },
                );
            }
            1 => {
                let status = [
                    AcctStatusType::Start,
                    AcctStatusType::InterimUpdate,
                    AcctStatusType::Stop,
                ][usize::from(flags >> 3 & 1) + (n % 2) as usize];
                let session = [b'a' + (flags >> 5)];
                let mut r = AcctRecord::new(status, &session, b"user");
                r.input_octets = u64::from(n) << 30;
                let _ = client.account(t, r);
            }
            2 | 3 => {
                // A datagram from a server: raw, or a previous request with the
                // fuzzer's bytes spliced in (keeps Identifier and shape plausible).
                let (from, socket, bytes) = match sent.last() {
                    Some((from, socket, req)) if flags & 1 == 1 => {
                        let mut b = req.clone();
                        for (i, x) in datagram.iter().enumerate() {
                            if let Some(y) = b.get_mut(i) {
                                *y ^= x;
                            }
                        }
                        (*from, *socket, b)
                    }
                    Some((from, socket, _)) => (*from, *socket, datagram.to_vec()),
                    None => (server(1, 1812).addr, 0, datagram.to_vec()),
                };
                client.handle_datagram(t, from, socket, &bytes);
            }
            4 | 5 => {
                if let DaeOutcome::Request(r) = dae.handle_request(t, dae_from, datagram) {
                    let result = if flags & 1 == 0 {
                        Ok(())
                    } else {
                        Err(ErrorCause::SessionContextNotFound)
                    };
                    let _ = dae.answer(&r.reply, result);
                }
            }
            _ => {
                if client.poll_timeout().is_some_and(|w| w <= t) {
                    client.handle_timeout(t);
                }
            }
        }
        while let Some(tx) = client.poll_transmit() {
            assert!(tx.socket < 2);
            sent.push((tx.server, tx.socket, tx.bytes));
            if sent.len() > 64 {
                sent.remove(0);
            }
        }
        while client.poll_event().is_some() {}
    }
});

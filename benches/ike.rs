//! IKEv1 setup cost: Diffie-Hellman per group (key generation + agreement, what one
//! side pays per Main Mode) and a whole Main Mode + Quick Mode between our initiator
//! and responder in memory (both sides' CPU: what one L2TP/IPsec session costs the
//! concentrator plus what it costs loadgen).
//!
//! Run: `cargo bench --bench ike` (about a minute). The summary at the end prints
//! handshakes per second per core for each group.

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use ring::rand::{SecureRandom, SystemRandom};
use shardvpn::crypto::ike::{DhGroup, PrivateKey, SystemRng};
use shardvpn::proto::ike::{
    Env, Event, Identity, IkePolicy, IkeSa, InitiatorParams, QuickModeParams, policy,
};
use zeroize::Zeroizing;

const GROUPS: [(&str, DhGroup); 3] = [
    ("modp2048", DhGroup::Modp2048),
    ("modp1024", DhGroup::Modp1024),
    ("ecp256", DhGroup::Ecp256),
];

fn dh_once(group: DhGroup, rng: &mut SystemRng, peer: &[u8]) {
    let key = PrivateKey::generate(group, rng);
    black_box(key.public_value());
    black_box(key.agree(peer).ok());
}

/// One Main Mode + Quick Mode, both sides; returns when both have the child.
fn handshake(proposal: &str) {
    let rng = SystemRandom::new();
    let mut spi = 0x1000u32;
    let mut fill = |b: &mut [u8]| rng.fill(b).expect("rng");
    let mut next_spi = || {
        spi += 1;
        spi
    };
    let mut env = Env {
        rng: &mut fill,
        spi: &mut next_spi,
    };
    let now = Instant::now();
    let client: SocketAddr = "192.0.2.10:500".parse().unwrap();
    let server: SocketAddr = "198.51.100.1:500".parse().unwrap();
    let psk = Zeroizing::new(b"benchpsk".to_vec());
    let ipol = Arc::new(IkePolicy {
        phase1: policy::parse_list(&[proposal]).unwrap(),
        ..IkePolicy::default()
    });
    let rpol = Arc::new(IkePolicy {
        default_psk: Some(psk.clone()),
        ..IkePolicy::default()
    });
    let mut i = IkeSa::initiate(
        now,
        ipol,
        InitiatorParams {
            psk,
            local_id: Identity::Ipv4("192.0.2.10".parse().unwrap()),
            local: client,
            remote: server,
            nat_t_port: 4500,
            force_encap: false,
            initial_contact: true,
        },
        &mut env,
    );
    let mut r: Option<IkeSa> = None;
    let mut qm_started = false;
    let (mut i_child, mut r_child) = (false, false);
    for _ in 0..20 {
        while let Some(t) = i.poll_transmit() {
            match &mut r {
                Some(r) => r.handle_message(now, server, client, false, &t.bytes, &mut env),
                None => {
                    r = IkeSa::respond(
                        now,
                        Arc::clone(&rpol),
                        server,
                        client,
                        false,
                        &t.bytes,
                        &mut env,
                    )
                    .ok()
                }
            }
        }
        let Some(resp) = r.as_mut() else { break };
        while let Some(t) = resp.poll_transmit() {
            i.handle_message(now, client, server, false, &t.bytes, &mut env);
        }
        while let Some(e) = i.poll_event() {
            i_child |= matches!(e, Event::ChildUp(_));
        }
        while let Some(e) = resp.poll_event() {
            r_child |= matches!(e, Event::ChildUp(_));
        }
        if i.is_established() && !qm_started {
            qm_started = true;
            let qm = QuickModeParams {
                local_port: 1701,
                remote_port: 1701,
                esp: policy::parse_list(&["aes128gcm16"]).unwrap(),
            };
            i.start_quick_mode(now, qm, &mut env).unwrap();
        }
        if i_child && r_child {
            return;
        }
    }
    panic!("handshake with {proposal} did not complete");
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    let mut rng = SystemRng::new();
    let mut summary = Vec::new();
    {
        let mut g = c.benchmark_group("ike_dh");
        for (name, group) in GROUPS {
            let peer = PrivateKey::generate(group, &mut rng).public_value();
            let peer = peer.as_bytes().to_vec();
            g.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| dh_once(group, &mut rng, &peer))
            });
        }
        g.finish();
    }
    {
        let mut g = c.benchmark_group("ike_handshake");
        for proposal in [
            "aes128-sha1-modp2048",
            "aes128-sha1-modp1024",
            "aes128-sha256-ecp256",
        ] {
            g.bench_function(BenchmarkId::from_parameter(proposal), |b| {
                b.iter(|| handshake(proposal))
            });
            // A direct timing for the summary (criterion keeps its own numbers).
            let n = 30;
            let t0 = Instant::now();
            for _ in 0..n {
                handshake(proposal);
            }
            summary.push((proposal, t0.elapsed() / n));
        }
        g.finish();
    }
    c.final_summary();
    println!("\nIKE handshake (Main Mode + Quick Mode, both sides, one core):");
    for (p, per) in summary {
        println!(
            "  {p:<24} {:>8.2} ms  {:>7.0} handshakes/s",
            per.as_secs_f64() * 1e3,
            1.0 / per.as_secs_f64()
        );
    }
}

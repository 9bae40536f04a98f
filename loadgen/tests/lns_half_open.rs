//! A LAC that never sends the ICCN for an accepted call: the LNS clears the call with
//! a CDN after its ICCN timeout, so half-open calls cannot hold `max_starting` slots
//! for ever. The LAC side is our own engine with its ICCN filtered out. Needs root.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use shardvpn::aaa::auth::LocalAuthenticator;
use shardvpn::aaa::pool::Pools;
use shardvpn::aaa::users::Users;
use shardvpn::config::Config;
use shardvpn::control::lns::Lns;
use shardvpn::proto::l2tp::{Event, Tunnel, TunnelConfig};
use shardvpn::runtime::engine::{Dataplane, DataplaneSpec};
use shardvpn::wire::l2tp::Packet;
use shardvpn::wire::l2tp::avp::{AvpIter, AvpValue, MessageType};

#[path = "../../tests/runtime_netns/mod.rs"]
mod runtime_netns;
use runtime_netns::{PAIR_A, PAIR_B, Pair, is_root};

const CONFIG: &str = "[dataplane]\nshards = 1\npin_cores = false\ntun_name = \"svho0\"\n\
                      buffers = 256\n[listen]\naddress = \"10.98.0.1\"\nraw_esp = false\n\
                      [l2tp]\nlac_addresses = [\"10.98.0.0/24\"]\n\
                      [aaa]\ndemo_user = false\n";

fn is_iccn(message: &[u8]) -> bool {
    let Ok(p) = Packet::new_checked(message) else {
        return false;
    };
    let first = AvpIter::new(p.payload()).next().and_then(Result::ok);
    first.and_then(|a| a.typed().ok()) == Some(AvpValue::MessageType(MessageType::Iccn))
}

#[test]
fn a_call_without_iccn_is_cleared() {
    if !is_root() {
        println!("lns_half_open: skipped, needs root");
        return;
    }
    let pair = Pair::create("halfopen");
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = {
        let stop = Arc::clone(&stop);
        let path = format!("/var/run/netns/{}", pair.b.name);
        std::thread::spawn(move || {
            shardvpn::runtime::netns::enter_path(&path).expect("enter the namespace");
            let config = Config::parse(CONFIG, "test.toml").expect("config");
            let pools = Pools::from_config(&config);
            let dp = Dataplane::start(&DataplaneSpec::from_config(&config)).expect("data plane");
            let auth = LocalAuthenticator::new(Users::new());
            let mut lns = Lns::new(Arc::new(config), dp, auth, pools).expect("lns");
            lns.set_iccn_timeout(Duration::from_secs(1));
            ready_tx.send(()).unwrap();
            lns.serve(None, &|| stop.load(Ordering::Relaxed))
                .expect("serve");
            let state = (lns.sessions(), lns.counters.calls_timed_out);
            lns.shutdown();
            state
        })
    };
    ready_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("server up");
    let cleared = pair.a.run(move || {
        let sock = std::net::UdpSocket::bind((PAIR_A, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let mut fill = |b: &mut [u8]| b.fill(1);
        let mut lac = Tunnel::lac_connect(Instant::now(), &TunnelConfig::default(), 1, &mut fill);
        let mut buf = [0u8; 4096];
        let mut placed = false;
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            let now = Instant::now();
            while let Some(m) = lac.poll_transmit(now) {
                if !is_iccn(&m) {
                    sock.send_to(&m, (PAIR_B, 1701)).unwrap();
                }
            }
            while let Some(e) = lac.poll_event() {
                if e == Event::TunnelUp && !placed {
                    lac.place_call(now, 9);
                    placed = true;
                }
                if let Event::SessionClosed {
                    local_session_id: 9,
                    ..
                } = e
                {
                    return true;
                }
            }
            if let Ok(n) = sock.recv(&mut buf) {
                lac.handle_message(Instant::now(), &buf[..n]);
            }
            if lac.poll_timeout().is_some_and(|w| w <= Instant::now()) {
                lac.handle_timeout(Instant::now());
            }
        }
        false
    });
    stop.store(true, Ordering::Relaxed);
    let (sessions, timed_out) = server.join().expect("server thread");
    assert!(
        cleared,
        "the half-open call got no CDN (server: {sessions} sessions, {timed_out} timed out)"
    );
    assert_eq!(timed_out, 1);
    assert_eq!(sessions, 0);
}

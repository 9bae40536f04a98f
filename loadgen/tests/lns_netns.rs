//! The LNS end to end in the real kernel: the daemon's data plane and control thread
//! in one network namespace, loadgen's emulated LACs in another, joined by a veth
//! pair. 1,000 sessions over 4 tunnels are authenticated (MS-CHAPv2), addressed,
//! pinged through the data plane, and torn down; afterwards the daemon holds no
//! session and every address is back in its pool. Needs root; without it the test
//! says so and returns.

use std::time::Duration;

use loadgen::l2tp_mode::{self, Options};
use shardvpn::proto::ppp::AuthMethod;

mod support;
use support::{PAIR_A, PAIR_B, Pair, Server, is_root};

const CONFIG: &str = r#"
[dataplane]
shards = 2
pin_cores = false
tun_name = "svlns0"
buffers = 1024

[listen]
address = "10.98.0.1"
raw_esp = false

[l2tp]
lac_addresses = ["10.98.0.0/24"]

[aaa]
demo_user = false

[ppp]
local_address = "10.200.0.1"
echo_interval = 0

[[pool]]
name = "test"
ranges = ["10.200.0.0/20"]
"#;

/// `sessions` calls over `tunnels` LACs, `max_outstanding` in setup at once, no
/// traffic.
fn options(sessions: usize, tunnels: usize, max_outstanding: usize) -> Options {
    Options {
        server: (PAIR_B, 1701).into(),
        bind: PAIR_A,
        sessions,
        tunnels,
        rate: None,
        max_outstanding,
        traffic_pps: 0,
        duration: Duration::from_secs(0),
        user: "alice".into(),
        password: "wonderland".into(),
        auth: vec![AuthMethod::MsChapV2],
        setup_timeout: Duration::from_secs(60),
        secret: None,
        ipsec: None,
        nat_rebind: 0,
        vanish: 0,
        scale: Default::default(),
    }
}

#[test]
fn thousand_sessions_over_four_tunnels_up_pinged_and_down() {
    if !is_root() {
        println!("lns_netns: skipped, needs root");
        return;
    }
    let pair = Pair::create("lns");
    let server = Server::start(&pair, CONFIG, 5000);

    let report = pair.a.run(move || {
        l2tp_mode::run(
            Options {
                traffic_pps: 2000,
                duration: Duration::from_secs(2),
                ..options(1000, 4, 500)
            },
            &|| None,
        )
        .expect("loadgen run")
    });
    // Let the last CDNs and StopCCNs reach the server before it is stopped.
    let left = server.stop(Duration::from_millis(500));
    println!("{}", report.summary());
    assert_eq!(report.sessions_established, 1000, "{report:?}");
    assert_eq!(report.sessions_failed, 0, "{report:?}");
    assert!(report.traffic.sent > 0);
    assert!(
        report.traffic.received * 10 >= report.traffic.sent * 9,
        "pings lost: {:?}",
        report.traffic
    );
    assert!(report.teardown_clean, "{report:?}");
    assert_eq!(left.counters.sessions_established, 1000);
    assert_eq!(left.counters.sessions_ended, 1000);
    assert_eq!(left.sessions, 0);
    assert_eq!(left.addresses, 0);
}

/// Calls beyond `[limits] max_starting` wait for a slot (their ICRQ acknowledged, the
/// ICRP sent when one frees) instead of being refused: 400 calls dialled at once
/// against a limit of 20 all come up, none refused, and nothing is left afterwards.
#[test]
fn calls_beyond_max_starting_wait_for_a_slot() {
    if !is_root() {
        println!("lns_netns: skipped, needs root");
        return;
    }
    let pair = Pair::create("lnw");
    // The harness keeps the text for the daemon's lifetime.
    let config: &'static str = Box::leak(
        (CONFIG.replace("svlns0", "svlnw0") + "\n[limits]\nmax_starting = 20\n").into_boxed_str(),
    );
    let server = Server::start(&pair, config, 5000);
    let report = pair
        .a
        .run(move || l2tp_mode::run(options(400, 2, 400), &|| None).expect("loadgen run"));
    let left = server.stop(Duration::from_millis(500));
    println!("{}", report.summary());
    assert_eq!(report.sessions_established, 400, "{report:?}");
    assert_eq!(report.sessions_failed, 0, "{report:?}");
    assert!(report.teardown_clean, "{report:?}");
    assert_eq!(left.counters.calls_refused, 0);
    assert_eq!(left.counters.sessions_established, 400);
    assert_eq!(left.sessions, 0);
    assert_eq!(left.addresses, 0);
}

//! PPTP end to end in the real kernel: the daemon's data plane and control thread in
//! one network namespace with `[pptp] enabled = true`, loadgen's emulated PPTP
//! clients in another, joined by a veth pair. 500 clients each open a TCP control
//! connection to 1723, place one call, authenticate with MS-CHAPv2, negotiate
//! MPPE-128 (stateless) and IPCP, ping the daemon's PPP-side address through the
//! MPPE-encrypted GRE data channel, and hang up (LCP Terminate, Call-Clear-Request,
//! Stop-Control-Connection); afterwards the daemon holds no session and every
//! address is back in its pool. Needs root (network namespaces, raw GRE); without it
//! the test says so and returns.

use std::time::Duration;

use loadgen::pptp_mode::{self, Options};

mod support;
use support::{PAIR_A, PAIR_B, Pair, Server, is_root};

const CONFIG: &str = r#"
[dataplane]
shards = 2
pin_cores = false
tun_name = "svpptp0"
buffers = 1024

[listen]
address = "10.98.0.1"
raw_esp = false

[pptp]
enabled = true
mppe = "require"
mppe_strength = ["128"]
stateless = true

[aaa]
demo_user = false

[ppp]
local_address = "10.200.0.1"
echo_interval = 0

[[pool]]
name = "test"
ranges = ["10.200.0.0/20"]
"#;

const SESSIONS: usize = 500;

fn options(sessions: usize) -> Options {
    Options {
        server: std::net::SocketAddrV4::new(PAIR_B, 1723),
        bind: PAIR_A,
        sessions,
        rate: None,
        max_outstanding: 200,
        traffic_pps: 1000,
        duration: Duration::from_secs(2),
        user: "alice".into(),
        password: "wonderland".into(),
        setup_timeout: Duration::from_secs(60),
        mppe: Options::default_mppe(),
        scale: Default::default(),
    }
}

#[test]
fn five_hundred_pptp_clients_up_pinged_through_mppe_and_down() {
    if !is_root() {
        println!("pptp_netns: skipped, needs root");
        return;
    }
    let pair = Pair::create("pptp");
    let server = Server::start(&pair, CONFIG, 5000);

    let report = pair
        .a
        .run(move || pptp_mode::run(options(SESSIONS), &|| None).expect("loadgen run"));
    // Let the last Stop-Control-Connections reach the server before it is stopped.
    let left = server.stop(Duration::from_millis(500));
    println!("{}", report.summary());
    assert_eq!(report.mode, "pptp");
    assert_eq!(report.sessions_established, SESSIONS as u64, "{report:?}");
    assert_eq!(report.sessions_failed, 0, "{report:?}");
    assert!(report.traffic.sent > 0);
    assert!(
        report.traffic.received * 10 >= report.traffic.sent * 9,
        "pings lost: {:?}",
        report.traffic
    );
    assert!(report.teardown_clean, "{report:?}");
    // Nothing unexpected from the server: no unencrypted IP, no MPPE or GRE errors.
    assert!(
        !report
            .dropped
            .keys()
            .any(|k| k.starts_with("ipv4_unencrypted")
                || k.starts_with("mppe_")
                || k.starts_with("gre_malformed")
                || k == "sessions_lost"),
        "{:?}",
        report.dropped
    );
    assert_eq!(left.counters.sessions_established, SESSIONS as u64);
    assert_eq!(left.counters.sessions_ended, SESSIONS as u64);
    assert_eq!(left.sessions, 0);
    assert_eq!(left.addresses, 0);
}

/// Stateful MPPE (what `--mppe-stateful` asks for) works as well, on a few clients.
#[test]
fn pptp_clients_with_stateful_mppe() {
    if !is_root() {
        println!("pptp_netns: skipped, needs root");
        return;
    }
    let pair = Pair::create("pptpsf");
    let server = Server::start(&pair, CONFIG, 5000);
    let mut opts = options(20);
    opts.mppe.prefer_stateless = false;
    opts.traffic_pps = 200;
    let report = pair
        .a
        .run(move || pptp_mode::run(opts, &|| None).expect("loadgen run"));
    let left = server.stop(Duration::from_millis(500));
    println!("{}", report.summary());
    assert_eq!(report.sessions_established, 20, "{report:?}");
    assert!(
        report.traffic.received * 10 >= report.traffic.sent * 9,
        "pings lost: {:?}",
        report.traffic
    );
    assert!(report.teardown_clean, "{report:?}");
    assert_eq!(left.sessions, 0);
    assert_eq!(left.addresses, 0);
}

//! Storms and churn against the real daemon in network namespaces (issue 8, item
//! 4): every session but the bystanders is dropped at once the way an outage does
//! it and reconnects, while the bystanders keep their sessions alive with their own
//! keepalives (LCP echo, plus HELLO in L2TP and DPD in L2TP/IPsec) and must lose
//! none; and churn runs keep tearing sessions down and setting them up again
//! during a hold. After each the daemon must hold no session, SA or address (the
//! storm's orphans included). Needs root; without it each test says so and
//! returns. The tests take turns (one lock): they measure recovery on a shared
//! 2-core machine.

use std::sync::Mutex;
use std::time::Duration;

use loadgen::l2tp_mode::{self, IpsecOptions};
use loadgen::pptp_mode;
use loadgen::report::Report;
use loadgen::scale::Scale;
use shardvpn::proto::ike::policy;
use shardvpn::proto::ppp::AuthMethod;

mod support;
use support::{Final, PAIR_A, PAIR_B, Pair, Server, is_root};

/// One storm at a time.
static TURN: Mutex<()> = Mutex::new(());

/// Room for the old sessions the storm leaves behind (until the daemon notices them
/// gone) next to their replacements; HELLO every 3 s and two retransmissions, so the
/// daemon finds the restarted LACs' old tunnels dead within a test.
const CONFIG: &str = r#"
[dataplane]
shards = 2
pin_cores = false
tun_name = "svstorm0"
buffers = 1024

[listen]
address = "10.98.0.1"
raw_esp = false

[l2tp]
lac_addresses = ["10.98.0.0/24"]
hello_interval = 3
retransmit_retries = 2

[ike]
psk = "storm-psk"
max_half_open_per_address = 65535

[pptp]
enabled = true
mppe = "require"
mppe_strength = ["128"]
stateless = true

[aaa]
demo_user = false

[limits]
max_sessions = 200000

[[pool]]
name = "test"
ranges = ["10.200.0.0/16", "10.201.0.0/16"]
"#;

fn l2tp_options(sessions: usize, tunnels: usize, scale: Scale) -> l2tp_mode::Options {
    l2tp_mode::Options {
        server: (PAIR_B, 1701).into(),
        bind: PAIR_A,
        sessions,
        tunnels,
        rate: None,
        max_outstanding: 1000,
        traffic_pps: 0,
        duration: Duration::ZERO,
        user: "alice".into(),
        password: "wonderland".into(),
        // CHAP: the storm, not MS-CHAPv2's hashing, is what is measured here.
        auth: vec![AuthMethod::ChapMd5],
        setup_timeout: Duration::from_secs(60),
        secret: None,
        ipsec: None,
        nat_rebind: 0,
        vanish: 0,
        scale,
    }
}

fn storm(bystanders: usize) -> Scale {
    Scale {
        storm: true,
        bystanders,
        ..Scale::default()
    }
}

/// Every dropped session came back, no bystander was lost and every keepalive was
/// answered.
fn assert_recovered(report: &Report, bystanders: u64) {
    println!("{}", report.summary());
    let storm = report.storm.as_ref().expect("a storm report");
    assert!(storm.sessions_dropped > 0, "{storm:?}");
    assert_eq!(
        storm.sessions_reestablished, storm.sessions_dropped,
        "{storm:?}"
    );
    assert_eq!(storm.sessions_failed, 0, "{storm:?}");
    assert!(storm.recovery_s > 0.0, "{storm:?}");
    let k = report.keepalive.as_ref().expect("a keepalive report");
    assert_eq!(k.bystanders, bystanders, "{k:?}");
    assert_eq!(k.bystanders_lost, 0, "{k:?}");
    assert!(k.sent >= bystanders, "{k:?}");
    assert_eq!(k.answered, k.sent, "{k:?}");
    assert!(k.by_kind.contains_key("lcp_echo"), "{k:?}");
}

fn run_l2tp(pair: &Pair, opts: l2tp_mode::Options) -> Report {
    pair.a
        .run(move || l2tp_mode::run(opts, &|| None).expect("loadgen run"))
}

/// Once loadgen has hung up, the daemon holds nothing: the storm's orphans (old
/// tunnels, SAs, calls) were cleaned up too.
fn assert_nothing_left(left: &Final) {
    assert_eq!(left.sessions, 0, "{left:?}");
    assert_eq!(left.addresses, 0, "{left:?}");
    assert_eq!(left.ike_sas, 0, "{left:?}");
}

/// (a) 10,000 L2TP sessions over 20 tunnels: every LAC restarts (new tunnel IDs, no
/// StopCCN) and re-dials its calls; 100 bystanders on their own tunnel keep HELLO
/// and LCP echo going throughout. A 10 s hold after it gives the daemon time to find
/// the old tunnels dead.
#[test]
fn l2tp_storm_of_ten_thousand_sessions_over_twenty_tunnels() {
    if !is_root() {
        println!("storm_netns: skipped, needs root");
        return;
    }
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::create("stl2");
    let server = Server::start(&pair, CONFIG, 100_000);
    let scale = Scale {
        hold: Some(Duration::from_secs(10)),
        ..storm(100)
    };
    let report = run_l2tp(&pair, l2tp_options(10_000, 20, scale));
    let left: Final = server.stop(Duration::from_millis(500));
    assert_eq!(report.sessions_established, 10_000, "{report:?}");
    assert_recovered(&report, 100);
    let k = report.keepalive.as_ref().unwrap();
    let hello = &k.by_kind["l2tp_hello"];
    assert!(hello.sent > 0 && hello.answered == hello.sent, "{k:?}");
    assert_eq!(report.hold.as_ref().unwrap().sessions_lost, 0, "{report:?}");
    assert!(report.teardown_clean, "{report:?}");
    assert_nothing_left(&left);
    // The old sessions ended on the daemon's own (HELLO timeout), the new ones by
    // loadgen's hang-up.
    assert_eq!(
        left.counters.sessions_established,
        10_000 + 9_900,
        "{left:?}"
    );
    assert_eq!(left.counters.sessions_ended, 10_000 + 9_900, "{left:?}");
}

/// (b) 1,000 L2TP/IPsec clients renegotiate from scratch (INITIAL-CONTACT, no
/// Delete); 10 bystanders keep DPD and LCP echo going.
#[test]
fn ipsec_storm_of_a_thousand_clients() {
    if !is_root() {
        println!("storm_netns: skipped, needs root");
        return;
    }
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::create("stip");
    let server = Server::start(&pair, CONFIG, 100_000);
    let mut opts = l2tp_options(1000, 1, storm(10));
    opts.server = (PAIR_B, 500).into();
    opts.max_outstanding = 200;
    opts.ipsec = Some(IpsecOptions {
        psk: "storm-psk".into(),
        ike: policy::parse_list(&["aes128-sha256-ecp256"]).unwrap(),
        esp: policy::parse_list(&["aes128gcm16"]).unwrap(),
        nat_t_port: 4500,
    });
    opts.setup_timeout = Duration::from_secs(90);
    let report = run_l2tp(&pair, opts);
    let left = server.stop(Duration::from_millis(500));
    assert_eq!(report.sessions_established, 1000, "{report:?}");
    assert_recovered(&report, 10);
    assert_nothing_left(&left);
    assert_eq!(left.ipsec_clients, 0, "{left:?}");
    let k = report.keepalive.as_ref().unwrap();
    let dpd = &k.by_kind["ike_dpd"];
    assert!(dpd.sent > 0 && dpd.answered == dpd.sent, "{k:?}");
}

/// (b) 1,000 PPTP clients have their TCP connections reset and reconnect; 10
/// bystanders keep LCP echo going.
#[test]
fn pptp_storm_of_a_thousand_clients() {
    if !is_root() {
        println!("storm_netns: skipped, needs root");
        return;
    }
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::create("stpp");
    let server = Server::start(&pair, CONFIG, 100_000);
    let opts = pptp_mode::Options {
        server: std::net::SocketAddrV4::new(PAIR_B, 1723),
        bind: PAIR_A,
        sessions: 1000,
        rate: None,
        max_outstanding: 300,
        traffic_pps: 0,
        duration: Duration::ZERO,
        user: "alice".into(),
        password: "wonderland".into(),
        setup_timeout: Duration::from_secs(60),
        mppe: pptp_mode::Options::default_mppe(),
        scale: storm(10),
    };
    let report = pair
        .a
        .run(move || pptp_mode::run(opts, &|| None).expect("loadgen run"));
    let left = server.stop(Duration::from_millis(500));
    assert_eq!(report.sessions_established, 1000, "{report:?}");
    assert_recovered(&report, 10);
    assert_nothing_left(&left);
}

/// (c) 200 L2TP sessions, 50 a second torn down and set up again for 5 s: cycles
/// complete, none fails, nothing is lost, and at the end the daemon holds no
/// session and no address.
#[test]
fn l2tp_churn_keeps_the_session_count_and_leaves_nothing_behind() {
    if !is_root() {
        println!("storm_netns: skipped, needs root");
        return;
    }
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::create("stch");
    let server = Server::start(&pair, CONFIG, 100_000);
    let scale = Scale {
        hold: Some(Duration::from_secs(5)),
        churn: Some(50.0),
        ..Scale::default()
    };
    let report = run_l2tp(&pair, l2tp_options(200, 2, scale));
    let left = server.stop(Duration::from_millis(500));
    println!("{}", report.summary());
    assert_eq!(report.sessions_established, 200, "{report:?}");
    let churn = report.churn.as_ref().expect("a churn report");
    assert!(churn.cycles > 0, "{churn:?}");
    assert_eq!(churn.failed, 0, "{churn:?}");
    assert_eq!(churn.cycles, churn.torn_down, "{churn:?}");
    assert!(churn.resetup_latency_ms.p50 > 0.0, "{churn:?}");
    let hold = report.hold.as_ref().expect("a hold report");
    assert_eq!(hold.sessions_lost, 0, "{hold:?}");
    assert!(report.teardown_clean, "{report:?}");
    assert_eq!(left.sessions, 0, "{left:?}");
    assert_eq!(left.addresses, 0, "{left:?}");
    assert_eq!(
        left.counters.sessions_established,
        200 + churn.cycles,
        "{left:?}"
    );
}

/// PPTP churn: 100 clients, 40 a second hang up the Windows way and dial again on a
/// new connection for 3 s; every hang-up is followed by a completed re-setup and the
/// daemon ends with nothing.
#[test]
fn pptp_churn_redials_every_client_it_hangs_up() {
    if !is_root() {
        println!("storm_netns: skipped, needs root");
        return;
    }
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::create("stpc");
    let server = Server::start(&pair, CONFIG, 100_000);
    let opts = pptp_mode::Options {
        server: std::net::SocketAddrV4::new(PAIR_B, 1723),
        bind: PAIR_A,
        sessions: 100,
        rate: None,
        max_outstanding: 100,
        traffic_pps: 0,
        duration: Duration::ZERO,
        user: "alice".into(),
        password: "wonderland".into(),
        setup_timeout: Duration::from_secs(60),
        mppe: pptp_mode::Options::default_mppe(),
        scale: Scale {
            hold: Some(Duration::from_secs(3)),
            churn: Some(40.0),
            ..Scale::default()
        },
    };
    let report = pair
        .a
        .run(move || pptp_mode::run(opts, &|| None).expect("loadgen run"));
    let left = server.stop(Duration::from_millis(500));
    println!("{}", report.summary());
    let churn = report.churn.as_ref().expect("a churn report");
    assert!(churn.cycles > 0, "{churn:?}");
    assert_eq!(churn.failed, 0, "{churn:?}");
    assert_eq!(churn.cycles, churn.torn_down, "{churn:?}");
    assert_eq!(report.hold.as_ref().unwrap().sessions_lost, 0, "{report:?}");
    assert!(report.teardown_clean, "{report:?}");
    assert_eq!(left.sessions, 0, "{left:?}");
    assert_eq!(left.addresses, 0, "{left:?}");
}

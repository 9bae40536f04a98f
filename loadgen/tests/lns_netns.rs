//! The LNS end to end in the real kernel: the daemon's data plane and control thread
//! in one network namespace, loadgen's emulated LACs in another, joined by a veth
//! pair. 1,000 sessions over 4 tunnels are authenticated (MS-CHAPv2), addressed,
//! pinged through the data plane, and torn down; afterwards the daemon holds no
//! session and every address is back in its pool. Needs root; without it the test
//! says so and returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use loadgen::l2tp_mode::{self, Options};
use shardvpn::aaa::auth::LocalAuthenticator;
use shardvpn::aaa::pool::Pools;
use shardvpn::aaa::users::{User, Users};
use shardvpn::config::Config;
use shardvpn::control::lns::Lns;
use shardvpn::proto::ppp::AuthMethod;
use shardvpn::runtime::engine::{Dataplane, DataplaneSpec};
use shardvpn::runtime::netcfg;

#[path = "../../tests/runtime_netns/mod.rs"]
mod runtime_netns;
use runtime_netns::{PAIR_A, PAIR_B, Pair, is_root};

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

#[test]
fn thousand_sessions_over_four_tunnels_up_pinged_and_down() {
    if !is_root() {
        println!("lns_netns: skipped, needs root");
        return;
    }
    let pair = Pair::create("lns");
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = {
        let stop = Arc::clone(&stop);
        let path = format!("/var/run/netns/{}", pair.b.name);
        std::thread::spawn(move || {
            shardvpn::runtime::netns::enter_path(&path).expect("enter the server namespace");
            let config = Config::parse(CONFIG, "test.toml").expect("test config");
            let mut users = Users::new();
            let mut user = User::new("alice", "wonderland").expect("user");
            user.max_sessions = Some(5000);
            users.insert(user).unwrap();
            let pools = Pools::from_config(&config);
            let dp = Dataplane::start(&DataplaneSpec::from_config(&config)).expect("data plane");
            let tun = dp.tun_name().to_owned();
            netcfg::set_ipv4_address(&tun, config.ppp.local_address, 32).unwrap();
            netcfg::add_ipv4_route(&tun, "10.200.0.0".parse().unwrap(), 20).unwrap();
            let mut lns = Lns::new(Arc::new(config), dp, LocalAuthenticator::new(users), pools)
                .expect("control thread");
            ready_tx.send(()).unwrap();
            lns.serve(None, &|| stop.load(Ordering::Relaxed))
                .expect("serve");
            // loadgen has torn everything down: nothing may be left.
            let state = (lns.sessions(), lns.addresses_in_use(), lns.counters.clone());
            lns.shutdown();
            state
        })
    };
    ready_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the server started");

    let report = pair.a.run(move || {
        l2tp_mode::run(
            Options {
                server: (PAIR_B, 1701).into(),
                bind: PAIR_A,
                sessions: 1000,
                tunnels: 4,
                rate: None,
                max_outstanding: 500,
                traffic_pps: 2000,
                duration: Duration::from_secs(2),
                user: "alice".into(),
                password: "wonderland".into(),
                auth: vec![AuthMethod::MsChapV2],
                setup_timeout: Duration::from_secs(60),
                secret: None,
                ipsec: None,
            },
            &|| None,
        )
        .expect("loadgen run")
    });
    // Let the last CDNs and StopCCNs reach the server before it is stopped.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let (sessions, addresses, counters) = server.join().expect("server thread");
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
    assert_eq!(counters.sessions_established, 1000);
    assert_eq!(counters.sessions_ended, 1000);
    assert_eq!(sessions, 0);
    assert_eq!(addresses, 0);
}

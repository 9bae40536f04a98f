//! RADIUS authentication end to end against a real FreeRADIUS (Debian's `freeradius`,
//! started by the test in the daemon's network namespace on its loopback, with a
//! generated configuration): loadgen's L2TP sessions authenticate with PAP, CHAP-MD5
//! and MS-CHAPv2 through the daemon, which asks FreeRADIUS; a wrong password is
//! rejected; a user with a Framed-IP-Address gets it. Needs root and FreeRADIUS;
//! without either the test says so and returns.

use std::time::Duration;

use loadgen::l2tp_mode::{self, Options};
use shardvpn::proto::ppp::AuthMethod;

mod support;
use support::freeradius::{FreeRadius, RadiusClient, attribute};
use support::{PAIR_A, PAIR_B, Pair, Server, is_root};

const CONFIG: &str = r#"
[dataplane]
shards = 2
pin_cores = false
tun_name = "svrad0"
buffers = 1024

[listen]
address = "10.98.0.1"
raw_esp = false

[l2tp]
lac_addresses = ["10.98.0.0/24"]

[aaa]
demo_user = false
backend = "radius"

[radius]
timeout_ms = 1000
retries = 2

[[radius.server]]
address = "127.0.0.1"
secret = "radsecret"

[ppp]
local_address = "10.200.0.1"
echo_interval = 0
auth = ["mschapv2", "chap", "pap"]

[[pool]]
name = "test"
ranges = ["10.200.0.0/20"]
"#;

const USERS: &str = r#"
alice Cleartext-Password := "wonderland"
      Session-Timeout = 3600
fixed Cleartext-Password := "wonderland"
      Framed-IP-Address = 10.200.9.9
pooled Cleartext-Password := "wonderland"
      Framed-Pool = "test", MS-Primary-DNS-Server = 192.0.2.53
nopool Cleartext-Password := "wonderland"
      Framed-Pool = "missing"
busy Cleartext-Password := "wonderland"
      Idle-Timeout = 2
quiet Cleartext-Password := "wonderland"
      Idle-Timeout = 2
"#;

/// FreeRADIUS in the daemon's namespace, with the daemon (127.0.0.1) as its client
/// and [`USERS`].
fn start_radius(pair: &Pair) -> FreeRadius {
    FreeRadius::start(
        &pair.b.name,
        &[RadiusClient {
            name: "shardvpn",
            ipaddr: "127.0.0.1",
            secret: "radsecret",
        }],
        USERS,
    )
}

fn options(sessions: usize, user: &str, password: &str, auth: AuthMethod) -> Options {
    Options {
        server: (PAIR_B, 1701).into(),
        bind: PAIR_A,
        sessions,
        tunnels: 1,
        rate: None,
        max_outstanding: 100,
        traffic_pps: 200,
        duration: Duration::from_secs(1),
        user: user.into(),
        password: password.into(),
        auth: vec![auth],
        setup_timeout: Duration::from_secs(20),
        secret: None,
        ipsec: None,
        nat_rebind: 0,
        vanish: 0,
        scale: Default::default(),
    }
}

#[test]
fn pap_chap_and_mschapv2_through_freeradius() {
    if !is_root() {
        println!("radius_netns: skipped, needs root");
        return;
    }
    if !FreeRadius::available() {
        println!("radius_netns: skipped, FreeRADIUS is not installed (scripts/test installs it)");
        return;
    }
    let pair = Pair::create("rad");
    let radius = start_radius(&pair);
    let server = Server::start(&pair, CONFIG, 5000);
    for auth in [AuthMethod::MsChapV2, AuthMethod::ChapMd5, AuthMethod::Pap] {
        let report = pair.a.run(move || {
            l2tp_mode::run(options(20, "alice", "wonderland", auth), &|| None).expect("loadgen")
        });
        println!("{auth:?}: {}", report.summary());
        assert_eq!(
            report.sessions_established,
            20,
            "{auth:?}: {report:?}\n{}",
            radius.output()
        );
        assert!(report.traffic.received > 0, "{auth:?}: {report:?}");
        assert!(report.teardown_clean, "{auth:?}: {report:?}");
    }
    // A wrong password: RADIUS rejects, PPP fails, nothing is established.
    let report = pair.a.run(move || {
        l2tp_mode::run(options(5, "alice", "wrong", AuthMethod::MsChapV2), &|| None)
            .expect("loadgen")
    });
    assert_eq!(report.sessions_established, 0, "{report:?}");
    assert_eq!(report.sessions_failed, 5, "{report:?}");
    // Framed-IP-Address: the session comes up with it (pinged through from it).
    let report = pair.a.run(move || {
        l2tp_mode::run(
            options(1, "fixed", "wonderland", AuthMethod::MsChapV2),
            &|| None,
        )
        .expect("loadgen")
    });
    assert_eq!(report.sessions_established, 1, "{report:?}");
    assert!(report.traffic.received > 0, "{report:?}");
    // Framed-Pool: a configured pool works, an unknown one leaves the session
    // without an address (it fails; the log names the pool).
    let report = pair.a.run(move || {
        l2tp_mode::run(
            options(1, "pooled", "wonderland", AuthMethod::MsChapV2),
            &|| None,
        )
        .expect("loadgen")
    });
    assert_eq!(report.sessions_established, 1, "{report:?}");
    let report = pair.a.run(move || {
        l2tp_mode::run(
            options(1, "nopool", "wonderland", AuthMethod::MsChapV2),
            &|| None,
        )
        .expect("loadgen")
    });
    assert_eq!(report.sessions_established, 0, "{report:?}");
    let left = server.stop(Duration::from_millis(500));
    assert_eq!(left.counters.auth_failures, 5, "{left:?}");
    assert_eq!(left.counters.sessions_established, 62);
    assert_eq!(left.sessions, 0);
    assert_eq!(left.addresses, 0);
}

const ACCT_CONFIG: &str = r#"
[dataplane]
shards = 2
pin_cores = false
tun_name = "svrad1"
buffers = 1024

[listen]
address = "10.98.0.1"
raw_esp = false

[l2tp]
lac_addresses = ["10.98.0.0/24"]

[aaa]
demo_user = false
backend = "radius"

[radius]
timeout_ms = 1000
retries = 2
interim_interval = 10

[[radius.server]]
address = "127.0.0.1"
secret = "radsecret"

[ppp]
local_address = "10.200.0.1"
echo_interval = 0

[[pool]]
name = "test"
ranges = ["10.200.0.0/20"]
"#;

/// The IPv4 size of one loadgen ping (header, ICMP header, "loadgen ping").
const PING_IP_LEN: u64 = 20 + 8 + 12;

#[test]
fn accounting_start_interim_stop_in_freeradius_detail_file() {
    if !is_root() || !FreeRadius::available() {
        println!("radius_netns: skipped, needs root and FreeRADIUS");
        return;
    }
    let pair = Pair::create("acct");
    let radius = start_radius(&pair);
    let server = Server::start(&pair, ACCT_CONFIG, 5000);
    let report = pair.a.run(move || {
        let mut o = options(5, "alice", "wonderland", AuthMethod::MsChapV2);
        o.traffic_pps = 20;
        // Long enough for one Interim-Update of every session (10 s).
        o.duration = Duration::from_secs(13);
        l2tp_mode::run(o, &|| None).expect("loadgen")
    });
    assert_eq!(report.sessions_established, 5, "{report:?}");
    assert!(report.teardown_clean, "{report:?}");
    let left = server.stop(Duration::from_millis(1500));
    assert_eq!(left.sessions, 0);
    // Give FreeRADIUS a moment to write the last records (Accounting-Off).
    std::thread::sleep(Duration::from_millis(500));
    let records = radius.detail_records();
    let get = |r: &Vec<(String, String)>, key: &str| attribute(r, key);
    let of = |s: &str| {
        records
            .iter()
            .filter(|r| attribute(r, "Acct-Status-Type") == s)
            .collect::<Vec<_>>()
    };
    let (starts, interims, stops) = (of("Start"), of("Interim-Update"), of("Stop"));
    assert_eq!(starts.len(), 5, "{records:#?}");
    assert!(interims.len() >= 5, "{records:#?}");
    assert_eq!(stops.len(), 5, "{records:#?}");
    assert_eq!(of("Accounting-On").len(), 1, "{records:#?}");
    assert_eq!(of("Accounting-Off").len(), 1, "{records:#?}");
    // One Acct-Session-Id per session, each started and stopped once.
    let mut ids: Vec<String> = starts.iter().map(|r| get(r, "Acct-Session-Id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    for stop in &stops {
        assert!(ids.contains(&get(stop, "Acct-Session-Id")));
        assert_eq!(
            get(stop, "Acct-Terminate-Cause"),
            "User-Request",
            "{stop:?}"
        );
        assert_eq!(get(stop, "User-Name"), "alice");
        assert!(get(stop, "Framed-IP-Address").starts_with("10.200."));
    }
    // What the subscribers sent: every ping that reached the daemon, 40 octets each.
    let input: u64 = stops
        .iter()
        .map(|r| get(r, "Acct-Input-Octets").parse::<u64>().unwrap_or(0))
        .sum();
    assert!(
        input >= report.traffic.received * PING_IP_LEN
            && input <= report.traffic.sent * PING_IP_LEN,
        "input octets {input}, pings sent {} received {}",
        report.traffic.sent,
        report.traffic.received
    );
    // What they were sent: the echo replies (as large as the requests).
    let output: u64 = stops
        .iter()
        .map(|r| get(r, "Acct-Output-Octets").parse::<u64>().unwrap_or(0))
        .sum();
    assert!(
        output >= report.traffic.received * PING_IP_LEN
            && output <= report.traffic.sent * PING_IP_LEN,
        "output octets {output}, pings sent {} received {}",
        report.traffic.sent,
        report.traffic.received
    );
}

const DAE_CONFIG: &str = r#"
[dataplane]
shards = 2
pin_cores = false
tun_name = "svrad2"
buffers = 1024

[listen]
address = "10.98.0.1"
raw_esp = false

[l2tp]
lac_addresses = ["10.98.0.0/24"]

[aaa]
demo_user = false
backend = "radius"

[radius]
timeout_ms = 1000
retries = 2
dae_listen = "127.0.0.1:3799"

[[radius.server]]
address = "127.0.0.1"
secret = "radsecret"

[[radius.dae_client]]
address = "127.0.0.1"
secret = "daesecret"

[ppp]
local_address = "10.200.0.1"
echo_interval = 0

[[pool]]
name = "test"
ranges = ["10.200.0.0/20"]
"#;

#[test]
fn coa_and_disconnect_from_radclient() {
    if !is_root() || !FreeRadius::available() {
        println!("radius_netns: skipped, needs root and FreeRADIUS");
        return;
    }
    let pair = Pair::create("dae");
    let radius = start_radius(&pair);
    let server = Server::start(&pair, DAE_CONFIG, 5000);
    // Two subscribers with traffic for 8 s: alice (2 sessions) and fixed (10.200.9.9).
    let runs: Vec<_> = [("alice", 2usize), ("fixed", 1)]
        .into_iter()
        .map(|(user, n)| {
            let ns = pair.a.name.clone();
            std::thread::spawn(move || {
                shardvpn::runtime::netns::enter_path(format!("/var/run/netns/{ns}"))
                    .expect("setns");
                let mut o = options(n, user, "wonderland", AuthMethod::MsChapV2);
                o.traffic_pps = 20;
                o.duration = Duration::from_secs(8);
                l2tp_mode::run(o, &|| None).expect("loadgen")
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    // CoA: alice's sessions may last 2 more seconds.
    let (ok, out) = radius.radclient(
        "127.0.0.1:3799",
        "coa",
        "daesecret",
        "User-Name = \"alice\"\nSession-Timeout = 2\n",
    );
    assert!(ok && out.contains("CoA-ACK"), "{out}");
    // CoA: a rate limit (MikroTik's form, as operators' RADIUS servers send it).
    let (ok, out) = radius.radclient(
        "127.0.0.1:3799",
        "coa",
        "daesecret",
        "User-Name = \"fixed\"\nMikrotik-Rate-Limit = \"1M/2M\"\n",
    );
    assert!(ok && out.contains("CoA-ACK"), "{out}");
    // One that does not parse is refused, not acknowledged.
    let (_, out) = radius.radclient(
        "127.0.0.1:3799",
        "coa",
        "daesecret",
        "User-Name = \"fixed\"\nMikrotik-Rate-Limit = \"fast please\"\n",
    );
    assert!(out.contains("CoA-NAK"), "{out}");
    // Disconnect by address: fixed's session ends now.
    let (ok, out) = radius.radclient(
        "127.0.0.1:3799",
        "disconnect",
        "daesecret",
        "Framed-IP-Address = 10.200.9.9\n",
    );
    assert!(ok && out.contains("Disconnect-ACK"), "{out}");
    // Nobody by that name: NAK with Session-Context-Not-Found.
    let (_, out) = radius.radclient(
        "127.0.0.1:3799",
        "disconnect",
        "daesecret",
        "User-Name = \"nobody\"\n",
    );
    assert!(
        out.contains("Disconnect-NAK") && out.contains("Session-Context-Not-Found"),
        "{out}"
    );
    // A wrong secret is not answered at all.
    let (ok, _) = radius.radclient(
        "127.0.0.1:3799",
        "disconnect",
        "wrong",
        "User-Name = \"alice\"\n",
    );
    assert!(!ok);
    for r in runs {
        let report = r.join().expect("loadgen thread");
        assert!(report.sessions_established >= 1, "{report:?}");
    }
    let left = server.stop(Duration::from_millis(1500));
    assert_eq!(left.sessions, 0);
    std::thread::sleep(Duration::from_millis(300));
    let cause_of = |user: &str| radius.stop_causes(user);
    let stops = radius.records_with_status("Stop");
    assert_eq!(
        cause_of("alice"),
        ["Session-Timeout", "Session-Timeout"],
        "{stops:#?}"
    );
    assert_eq!(cause_of("fixed"), ["Admin-Reset"], "{stops:#?}");
}

/// The issue's target, measured rather than asserted (run it by hand, release build):
/// `cargo test --release -p loadgen --test radius_netns -- --ignored --nocapture`.
/// 10,000 L2TP sessions over 10 tunnels, each authenticated by FreeRADIUS (MS-CHAPv2)
/// on the same machine.
#[test]
#[ignore = "a measurement (10,000 sessions): run by hand with --release"]
fn ten_thousand_sessions_authenticated_by_freeradius() {
    if !is_root() || !FreeRadius::available() {
        println!("radius_netns: skipped, needs root and FreeRADIUS");
        return;
    }
    let pair = Pair::create("rad10k");
    let _radius = start_radius(&pair);
    let config = ACCT_CONFIG
        .replace("10.200.0.0/20", "10.200.0.0/18")
        .replace("interim_interval = 10", "interim_interval = 0");
    let server = Server::start(&pair, Box::leak(config.into_boxed_str()), 20000);
    let report = pair.a.run(move || {
        let mut o = options(10_000, "alice", "wonderland", AuthMethod::MsChapV2);
        o.tunnels = 10;
        o.max_outstanding = 500;
        o.traffic_pps = 0;
        o.setup_timeout = Duration::from_secs(120);
        l2tp_mode::run(o, &|| None).expect("loadgen")
    });
    println!("{}", report.summary());
    let left = server.stop(Duration::from_millis(1500));
    assert_eq!(report.sessions_established, 10_000, "{report:?}");
    assert_eq!(left.sessions, 0);
}

#[test]
fn accounting_survives_a_radius_outage() {
    if !is_root() || !FreeRadius::available() {
        println!("radius_netns: skipped, needs root and FreeRADIUS");
        return;
    }
    let pair = Pair::create("outage");
    let first = start_radius(&pair);
    let config = ACCT_CONFIG
        .replace(
            "interim_interval = 10",
            "interim_interval = 0\ndead_time = 1",
        )
        .replace("svrad1", "svrad3");
    let server = Server::start(&pair, Box::leak(config.into_boxed_str()), 5000);
    let ns = pair.a.name.clone();
    let run = std::thread::spawn(move || {
        shardvpn::runtime::netns::enter_path(format!("/var/run/netns/{ns}")).expect("setns");
        let mut o = options(5, "alice", "wonderland", AuthMethod::MsChapV2);
        o.traffic_pps = 20;
        o.duration = Duration::from_secs(4);
        l2tp_mode::run(o, &|| None).expect("loadgen")
    });
    // Sessions up and started; then the server goes away while they end.
    std::thread::sleep(Duration::from_secs(3));
    let starts = first.records_with_status("Start").len();
    drop(first);
    let report = run.join().expect("loadgen thread");
    assert_eq!(report.sessions_established, 5, "{report:?}");
    assert_eq!(starts, 5);
    // Back after the sessions ended: every Stop arrives, none lost.
    std::thread::sleep(Duration::from_secs(2));
    let second = start_radius(&pair);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let stops = loop {
        let stops = second.records_with_status("Stop").len();
        if stops >= 5 || std::time::Instant::now() > deadline {
            break stops;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(stops, 5, "{}", second.output());
    let left = server.stop(Duration::from_millis(500));
    assert_eq!(left.sessions, 0);
}

#[test]
fn idle_timeout_ends_quiet_sessions_and_spares_busy_ones() {
    if !is_root() || !FreeRadius::available() {
        println!("radius_netns: skipped, needs root and FreeRADIUS");
        return;
    }
    let pair = Pair::create("idle");
    let radius = start_radius(&pair);
    let config = ACCT_CONFIG
        .replace("interim_interval = 10", "interim_interval = 0")
        .replace("svrad1", "svrad4");
    let server = Server::start(&pair, Box::leak(config.into_boxed_str()), 5000);
    // busy: 2 sessions pinged every 100 ms each; quiet: 6 sessions pinged every 6 s
    // each. Both have a RADIUS Idle-Timeout of 2 s.
    let runs: Vec<_> = [("busy", 2usize, 20u64), ("quiet", 6, 1)]
        .into_iter()
        .map(|(user, n, pps)| {
            let ns = pair.a.name.clone();
            std::thread::spawn(move || {
                shardvpn::runtime::netns::enter_path(format!("/var/run/netns/{ns}"))
                    .expect("setns");
                let mut o = options(n, user, "wonderland", AuthMethod::MsChapV2);
                o.traffic_pps = pps;
                o.duration = Duration::from_secs(8);
                l2tp_mode::run(o, &|| None).expect("loadgen")
            })
        })
        .collect();
    let reports: Vec<_> = runs
        .into_iter()
        .map(|r| r.join().expect("loadgen"))
        .collect();
    let busy = &reports[0];
    assert_eq!(busy.sessions_established, 2, "{busy:?}");
    // Kept up to the end (a ping lost under load is not a cut: the Stop causes below
    // say how each session ended).
    assert!(
        busy.traffic.received * 10 >= busy.traffic.sent * 9,
        "{busy:?}"
    );
    assert!(busy.teardown_clean, "{busy:?}");
    let left = server.stop(Duration::from_millis(1500));
    assert_eq!(left.sessions, 0);
    std::thread::sleep(Duration::from_millis(300));
    let causes = |user: &str| radius.stop_causes(user);
    assert_eq!(causes("busy"), ["User-Request", "User-Request"]);
    // The quiet sessions pinged in the last ~2 s before loadgen hangs up are still
    // within their timeout then; the others were ended for idling.
    let quiet = causes("quiet");
    assert_eq!(quiet.len(), 6, "{quiet:?}");
    let idle = quiet.iter().filter(|c| *c == "Idle-Timeout").count();
    assert!(idle >= 4, "{quiet:?}");
    assert!(
        quiet
            .iter()
            .all(|c| c == "Idle-Timeout" || c == "User-Request"),
        "{quiet:?}"
    );
}

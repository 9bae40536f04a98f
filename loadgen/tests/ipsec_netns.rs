//! L2TP/IPsec end to end in the real kernel: the daemon in one network namespace,
//! loadgen's 500 emulated L2TP/IPsec clients in another (each its own UDP port, as
//! behind one NAT), joined by a veth pair. Every client runs IKEv1 Main Mode + Quick
//! Mode, then L2TP + PPP inside ESP-in-UDP, is pinged through the data plane and torn
//! down (L2TP inside ESP, then Delete notifications); before the traffic 50 of them
//! move to a new source port, as when a NAT rebinds, and the server must follow them.
//! At the end 20 clients vanish without a word; the server's dead peer detection
//! tears down their IKE SA, SAs, tunnel, session and address. A capture on the
//! server's veth
//! shows that nothing of it was cleartext L2TP: only IKE and ESP-in-UDP. Afterwards
//! the daemon holds no session, SA or address. Needs root (and tshark's dumpcap for
//! the capture, which `scripts/test` installs); without root it says so and returns.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use loadgen::l2tp_mode::{self, IpsecOptions, Options};
use shardvpn::proto::ike::policy;
use shardvpn::proto::ppp::AuthMethod;

mod support;
use support::{PAIR_A, PAIR_B, Pair, Server, is_root};

const CONFIG: &str = r#"
[dataplane]
shards = 2
pin_cores = false
tun_name = "svips0"
buffers = 1024

[listen]
address = "10.98.0.1"
raw_esp = false

[ike]
psk = "netns-test-psk"
max_half_open_per_address = 1000
# Short, so that the clients that vanish are found dead within the test; not so
# short that a loadgen busy with 500 debug-build key exchanges (on a loaded CI
# machine) misses its answers and live clients are declared dead.
dpd_interval = 2
dpd_timeout = 12

[aaa]
demo_user = false

[ppp]
local_address = "10.200.0.1"
echo_interval = 0

[[pool]]
name = "test"
ranges = ["10.200.0.0/20"]
"#;

/// dumpcap on the server's veth, stopped (by its PID) when dropped.
struct Capture {
    child: Child,
    file: std::path::PathBuf,
}

impl Capture {
    fn start(ns: &str, file: std::path::PathBuf) -> Capture {
        let _ = std::fs::remove_file(&file);
        let child = Command::new("ip")
            .args([
                "netns", "exec", ns, "dumpcap", "-q", "-i", "svb", "-f", "udp", "-w",
            ])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dumpcap (package tshark) must be installed");
        // dumpcap needs a moment before it captures.
        for _ in 0..50 {
            if file.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(300));
        Capture { child, file }
    }

    /// Packets in the capture matching the display filter.
    fn count(&self, filter: &str) -> usize {
        let out = Command::new("tshark")
            .args(["-r"])
            .arg(&self.file)
            .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
            .output()
            .expect("tshark");
        String::from_utf8_lossy(&out.stdout).lines().count()
    }

    fn stop(&mut self) {
        // The `ip netns exec` child execs dumpcap, so this PID is dumpcap's.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.file);
    }
}

#[test]
fn five_hundred_ipsec_clients_up_pinged_encrypted_and_down() {
    if !is_root() {
        println!("ipsec_netns: skipped, needs root");
        return;
    }
    let pair = Pair::create("ips");
    let server = Server::start(&pair, CONFIG, 1000);
    let file = std::env::temp_dir().join(format!("shardvpn-ipsec-{}.pcapng", std::process::id()));
    let mut capture = Capture::start(&pair.b.name, file);

    let report = pair.a.run(move || {
        l2tp_mode::run(
            Options {
                server: (PAIR_B, 500).into(),
                bind: PAIR_A,
                sessions: 500,
                tunnels: 1,
                rate: None,
                max_outstanding: 200,
                traffic_pps: 1000,
                duration: Duration::from_secs(2),
                user: "alice".into(),
                password: "wonderland".into(),
                auth: vec![AuthMethod::MsChapV2],
                setup_timeout: Duration::from_secs(120),
                secret: None,
                ipsec: Some(IpsecOptions {
                    psk: "netns-test-psk".into(),
                    ike: policy::parse_list(policy::WINDOWS_PHASE1).unwrap(),
                    esp: policy::parse_list(policy::WINDOWS_ESP).unwrap(),
                    nat_t_port: 4500,
                }),
                nat_rebind: 50,
                vanish: 20,
                scale: Default::default(),
            },
            &|| None,
        )
        .expect("loadgen run")
    });
    // 20 clients vanished: DPD (2 s probes, dead after 12 s of silence) must find them.
    let left = server.stop(Duration::from_secs(16));
    capture.stop();
    println!("{}", report.summary());
    println!("{left:?}");
    assert_eq!(report.mode, "l2tp-ipsec");
    assert_eq!(report.sessions_established, 500, "{report:?}");
    assert_eq!(report.sessions_failed, 0, "{report:?}");
    assert!(report.traffic.sent > 0);
    assert!(
        report.traffic.received * 10 >= report.traffic.sent * 9,
        "pings lost: {:?}",
        report.traffic
    );
    assert!(report.teardown_clean, "{report:?}");
    // The daemon saw 500 clients and let every one go.
    assert_eq!(left.ike.phase1_up, 500);
    assert!(left.ike.children_up >= 500);
    assert_eq!(left.counters.sessions_established, 500);
    assert_eq!(left.counters.sessions_ended, 500);
    assert_eq!((left.sessions, left.addresses), (0, 0));
    assert_eq!((left.ike_sas, left.ipsec_clients), (0, 0));
    // 50 clients moved to a new port before the traffic; the pings above show the
    // server followed them.
    assert_eq!(left.ike.nat_rebindings, 50);
    // The vanished ones were declared dead, and everything they held went.
    assert_eq!(left.ike.dead_peers, 20);
    // On the wire: IKE and ESP-in-UDP, and not one cleartext L2TP packet.
    let l2tp = capture.count("l2tp || udp.port == 1701");
    let esp = capture.count("udp.port == 4500 && esp");
    let ike = capture.count("isakmp");
    println!("capture: {esp} ESP-in-UDP, {ike} IKE, {l2tp} cleartext L2TP");
    assert_eq!(l2tp, 0, "cleartext L2TP on the wire");
    assert!(esp > 500 * 10, "only {esp} ESP packets");
    assert!(ike >= 500 * 9, "only {ike} IKE packets");
    // And tshark's own dissectors find nothing malformed in what we sent and received.
    assert_eq!(
        capture.count("_ws.malformed"),
        0,
        "malformed packets on the wire"
    );
}

const CONFIG_STRICT: &str = r#"
[dataplane]
shards = 2
pin_cores = false
tun_name = "svipa0"
buffers = 512

[listen]
address = "10.98.0.1"
raw_esp = false

[ike]
psk = "netns-test-psk"
# Few negotiations at once from one address, and no DPD: stale clients can only go
# by INITIAL-CONTACT here.
max_half_open_per_address = 4
dpd_interval = 0

[aaa]
demo_user = false

[ppp]
local_address = "10.200.0.1"
echo_interval = 0

[[pool]]
name = "test"
ranges = ["10.200.0.0/20"]
"#;

fn ipsec_run(sessions: usize, vanish: usize) -> loadgen::report::Report {
    l2tp_mode::run(
        Options {
            server: (PAIR_B, 500).into(),
            bind: PAIR_A,
            sessions,
            tunnels: 1,
            rate: None,
            max_outstanding: sessions,
            traffic_pps: 0,
            duration: Duration::from_secs(0),
            user: "alice".into(),
            password: "wonderland".into(),
            auth: vec![AuthMethod::MsChapV2],
            setup_timeout: Duration::from_secs(120),
            secret: None,
            ipsec: Some(IpsecOptions {
                psk: "netns-test-psk".into(),
                ike: policy::parse_list(&["aes128-sha256-ecp256"]).unwrap(),
                esp: policy::parse_list(&["aes128gcm16"]).unwrap(),
                nat_t_port: 4500,
            }),
            nat_rebind: 0,
            vanish,
            scale: Default::default(),
        },
        &|| None,
    )
    .expect("loadgen run")
}

/// Half-open negotiations beyond the per-address limit are refused and counted (the
/// clients get in on a retransmission); a client that comes back with INITIAL-CONTACT
/// after vanishing replaces its stale SAs, tunnel, session and address.
#[test]
fn half_open_limit_and_initial_contact() {
    if !is_root() {
        println!("ipsec_netns: skipped, needs root");
        return;
    }
    let pair = Pair::create("ipa");
    let server = Server::start(&pair, CONFIG_STRICT, 100);
    // 16 clients at once against a limit of 4 from this address; then they all vanish.
    let first = pair.a.run(|| ipsec_run(16, 16));
    assert_eq!(first.sessions_established, 16, "{first:?}");
    // The same 16 identities come back from the same address, with INITIAL-CONTACT.
    let second = pair.a.run(|| ipsec_run(16, 0));
    assert_eq!(second.sessions_established, 16, "{second:?}");
    assert!(second.teardown_clean);
    let left = server.stop(Duration::from_millis(500));
    println!("{left:?}");
    assert!(left.ike.half_open_refused > 0, "{:?}", left.ike);
    assert_eq!(left.ike.replaced, 16, "{:?}", left.ike);
    assert_eq!(left.ike.dead_peers, 0);
    assert_eq!(left.counters.sessions_established, 32);
    assert_eq!(left.counters.sessions_ended, 32);
    assert_eq!((left.sessions, left.addresses), (0, 0));
    assert_eq!((left.ike_sas, left.ipsec_clients), (0, 0));
}

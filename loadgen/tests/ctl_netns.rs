//! `shardvpn ctl` against the real data plane and control thread: the daemon (with its
//! management socket, a configuration file and a users file on disk) in one network
//! namespace, loadgen's LAC with six pinging L2TP sessions in another. While the pings
//! flow: `show sessions` lists the six with their user, address and counters; one
//! session is terminated by ID and one by address, each ends cleanly (its address
//! back in the pool) while the others keep receiving; `show stats` and `show pools`
//! agree; `reload` applies `[limits]` and `[ppp]` changes, reports `[[pool]]` and
//! `ppp.local_address` changes as needing a restart, and refuses an invalid file with
//! `check-config`'s message; finally `terminate --user` ends the rest. The requests go
//! through the same client and rendering code as the `shardvpn ctl` binary, and through
//! the binary itself when it is built next to this test. Two more tests list and
//! terminate PPTP calls (with their transmit counters; by ID) and L2TP/IPsec clients
//! (by address). Needs root; without it the tests say so and return.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use loadgen::l2tp_mode::{self, Options};
use shardvpn::aaa::auth::LocalAuthenticator;
use shardvpn::aaa::pool::Pools;
use shardvpn::aaa::users::Users;
use shardvpn::config::Config;
use shardvpn::control::lns::Lns;
use shardvpn::mgmt::{self, PoolInfo, Reloaded, Request, Response, SessionInfo, Stats};
use shardvpn::proto::ppp::AuthMethod;
use shardvpn::runtime::engine::{Dataplane, DataplaneSpec};
use shardvpn::runtime::netcfg;

mod support;
use support::{PAIR_A, PAIR_B, Pair, is_root};

const SESSIONS: usize = 6;

fn config_text(socket: &Path, max_sessions: u32, pool: &str) -> String {
    format!(
        r#"
[dataplane]
shards = 2
pin_cores = false
tun_name = "svctl0"
buffers = 1024

[listen]
address = "10.98.0.1"
raw_esp = false

[l2tp]
lac_addresses = ["10.98.0.0/24"]

[aaa]
users_file = "users"
demo_user = false

[ppp]
local_address = "10.200.0.1"
echo_interval = 0

[limits]
max_sessions = {max_sessions}

[mgmt]
socket = "{}"

[[pool]]
name = "test"
ranges = ["{pool}"]
"#,
        socket.display()
    )
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn call(socket: &Path, request: &Request) -> Response {
    mgmt::client::call(socket, request).unwrap_or_else(|e| panic!("{request:?}: {e}"))
}

fn result<T: serde::de::DeserializeOwned>(socket: &Path, request: &Request) -> T {
    let response = call(socket, request);
    // What `shardvpn ctl` prints must render too.
    let text = mgmt::render(request, &response, false)
        .unwrap_or_else(|e| panic!("{request:?} failed: {e}"));
    assert!(!text.is_empty());
    serde_json::from_value(response.result.expect("a result")).expect("result shape")
}

fn sessions(socket: &Path) -> Vec<SessionInfo> {
    result(socket, &Request::ShowSessions)
}

/// Polls `show sessions` until `done` holds (or panics after `limit`).
fn wait_sessions(
    socket: &Path,
    limit: Duration,
    what: &str,
    done: impl Fn(&[SessionInfo]) -> bool,
) -> Vec<SessionInfo> {
    let end = Instant::now() + limit;
    loop {
        let s = sessions(socket);
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < end, "{what}: {s:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The `shardvpn` binary beside this test (`target/<profile>/shardvpn`), if built.
fn ctl_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("shardvpn");
    bin.exists().then_some(bin)
}

#[test]
fn ctl_shows_terminates_and_reloads_while_traffic_flows() {
    if !is_root() {
        println!("ctl_netns: skipped, needs root");
        return;
    }
    let (dir, socket, config_file) =
        files("l2tp", |socket| config_text(socket, 5000, "10.200.0.0/20"));
    let pair = Pair::create("ctl");
    let server = ServerThread::start(&pair, &config_file);

    let client = {
        let path = format!("/var/run/netns/{}", pair.a.name);
        std::thread::spawn(move || {
            shardvpn::runtime::netns::enter_path(&path).expect("enter the client namespace");
            l2tp_mode::run(
                Options {
                    server: (PAIR_B, 1701).into(),
                    bind: PAIR_A,
                    sessions: SESSIONS,
                    tunnels: 1,
                    rate: None,
                    max_outstanding: SESSIONS,
                    traffic_pps: 300,
                    duration: Duration::from_secs(12),
                    user: "alice".into(),
                    password: "wonderland".into(),
                    auth: vec![AuthMethod::MsChapV2],
                    setup_timeout: Duration::from_secs(30),
                    secret: None,
                    ipsec: None,
                    nat_rebind: 0,
                    vanish: 0,
                    scale: Default::default(),
                },
                &|| None,
            )
        })
    };

    // Every session up, pinging.
    let all = wait_sessions(&socket, Duration::from_secs(30), "six sessions up", |s| {
        s.len() == SESSIONS
            && s.iter().all(|s| {
                s.state == "up" && s.rx_packets.unwrap_or(0) > 0 && s.tx_packets.unwrap_or(0) > 0
            })
    });
    for s in &all {
        assert_eq!(s.user.as_deref(), Some("alice"));
        assert_eq!(s.protocol, "l2tp");
        assert!(s.peer.starts_with("10.98.0.2:"), "{s:?}");
        assert!(s.ip.is_some() && s.shard < 2);
        assert!(s.rx_bytes.unwrap() > 0);
        // Transmit counters too (kept beside the replicated routes).
        assert!(s.tx_packets.is_some_and(|p| p > 0), "{s:?}");
    }
    let text = mgmt::format_sessions(&all);
    println!("{text}");
    assert!(text.contains("alice") && text.contains(&format!("{SESSIONS} session(s)")));

    // Terminate one by ID and one by address.
    let by_id = all[0].id;
    let by_ip = all[1].ip.unwrap();
    let t = call(
        &socket,
        &Request::Terminate {
            user: None,
            session: Some(by_id),
            ip: None,
        },
    );
    assert!(t.ok, "{t:?}");
    let t = call(
        &socket,
        &Request::Terminate {
            user: None,
            session: None,
            ip: Some(by_ip),
        },
    );
    assert!(t.ok, "{t:?}");
    let before: Vec<(u32, u64)> = all[2..]
        .iter()
        .map(|s| (s.id, s.rx_packets.unwrap()))
        .collect();
    let rest = wait_sessions(
        &socket,
        Duration::from_secs(15),
        "two sessions ended",
        |s| s.len() == SESSIONS - 2,
    );
    assert!(rest.iter().all(|s| s.id != by_id && s.ip != Some(by_ip)));
    // The others keep going.
    std::thread::sleep(Duration::from_millis(500));
    let later = sessions(&socket);
    for (id, rx) in before {
        let now = later.iter().find(|s| s.id == id).expect("still there");
        assert_eq!(now.state, "up");
        assert!(now.rx_packets.unwrap() > rx, "{now:?} still receiving");
    }
    // Unknown targets are errors.
    let none = call(
        &socket,
        &Request::Terminate {
            user: Some("nobody".into()),
            session: None,
            ip: None,
        },
    );
    assert_eq!(none.error.as_deref(), Some("no session of user nobody"));

    // Stats and pools agree.
    let stats: Stats = result(&socket, &Request::ShowStats);
    assert_eq!(stats.sessions, SESSIONS - 2);
    assert_eq!(stats.tunnels, 1);
    assert_eq!(stats.lns["sessions_ended"], 2);
    assert_eq!(stats.lns["sessions_established"], SESSIONS as u64);
    assert_eq!(stats.shards.len(), 2);
    assert_eq!(
        stats.shards.iter().map(|s| s.sessions).sum::<usize>(),
        SESSIONS - 2
    );
    println!("{}", mgmt::format_stats(&stats));
    let pools: Vec<PoolInfo> = result(&socket, &Request::ShowPools);
    assert_eq!(pools.len(), 1);
    assert_eq!(
        (pools[0].name.as_str(), pools[0].used),
        ("test", SESSIONS as u32 - 2)
    );

    // Reload: a good file (limits apply, the pool and the metrics endpoint need a
    // restart) ...
    std::fs::write(
        &config_file,
        config_text(&socket, 4000, "10.200.0.0/21")
            .replace("echo_interval = 0", "echo_interval = 30")
            .replace(
                "local_address = \"10.200.0.1\"",
                "local_address = \"10.200.0.254\"",
            )
            + "\n[metrics]\nlisten = \"127.0.0.1:9478\"\n",
    )
    .unwrap();
    let r: Reloaded = result(&socket, &Request::Reload);
    assert_eq!(r.applied, ["limits", "ppp"]);
    assert_eq!(r.needs_restart, ["ppp.local_address", "metrics", "pool"]);
    assert_eq!(r.users, "reloaded");
    // ... a bad one is refused with check-config's message, and nothing changes.
    std::fs::write(
        &config_file,
        config_text(&socket, 0, "10.200.0.0/21").replace("[limits]", "[limits]\nmax_sesions = 1"),
    )
    .unwrap();
    let bad = call(&socket, &Request::Reload);
    let expected = Config::load(&config_file).unwrap_err().to_string();
    assert!(!bad.ok);
    assert_eq!(bad.error.as_deref(), Some(expected.as_str()));
    assert!(expected.contains("max_sesions"), "{expected}");
    assert_eq!(
        sessions(&socket).len(),
        SESSIONS - 2,
        "sessions kept running"
    );

    // The binary, when built: the same answers in text and JSON, and clear errors.
    match ctl_binary() {
        Some(bin) => {
            let out = std::process::Command::new(&bin)
                .args(["ctl", "--socket"])
                .arg(&socket)
                .args(["show", "sessions", "--json"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            let listed: Vec<SessionInfo> = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(listed.len(), SESSIONS - 2);
            let out = std::process::Command::new(&bin)
                .args(["ctl", "--socket"])
                .arg(&socket)
                .arg("reload")
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(2), "{out:?}");
            assert_eq!(String::from_utf8_lossy(&out.stderr).trim_end(), expected);
            let out = std::process::Command::new(&bin)
                .args(["ctl", "--socket", "/nonexistent/ctl.sock", "show", "stats"])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1));
            assert_eq!(
                String::from_utf8_lossy(&out.stderr).trim_end(),
                "shardvpn ctl: is shardvpn running? (no socket at /nonexistent/ctl.sock)"
            );
        }
        None => println!("ctl_netns: the shardvpn binary is not built; its checks skipped"),
    }

    // The rest, by user.
    let t = call(
        &socket,
        &Request::Terminate {
            user: Some("alice".into()),
            session: None,
            ip: None,
        },
    );
    assert!(t.ok, "{t:?}");
    wait_sessions(&socket, Duration::from_secs(15), "all ended", |s| {
        s.is_empty()
    });
    let pools: Vec<PoolInfo> = result(&socket, &Request::ShowPools);
    assert_eq!(pools[0].used, 0);

    let report = client.join().expect("loadgen").expect("loadgen run");
    println!("{}", report.summary());
    assert_eq!(report.sessions_established, SESSIONS as u64, "{report:?}");
    assert_eq!(server.stop(), (0, 0));
    // The socket goes with the daemon.
    assert!(!socket.exists());
    drop(dir);
}

/// A directory with the configuration (from `config`, given the socket path) and a
/// users file with `alice`.
fn files(tag: &str, config: impl Fn(&Path) -> String) -> (TempDir, PathBuf, PathBuf) {
    let dir =
        TempDir(std::env::temp_dir().join(format!("shardvpn-ctl-{tag}-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let socket = dir.0.join("ctl.sock");
    let config_file = dir.0.join("shardvpn.toml");
    std::fs::write(&config_file, config(&socket)).unwrap();
    std::fs::write(dir.0.join("users"), "alice wonderland max-sessions=100\n").unwrap();
    (dir, socket, config_file)
}

/// The daemon (data plane, control thread, management socket) in `pair.b`, from a
/// configuration file as `shardvpn run --config` reads it.
struct ServerThread {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<(usize, u64)>>,
}

impl ServerThread {
    fn start(pair: &Pair, config_file: &Path) -> ServerThread {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = {
            let stop = Arc::clone(&stop);
            let path = format!("/var/run/netns/{}", pair.b.name);
            let config_file = config_file.to_path_buf();
            std::thread::spawn(move || {
                shardvpn::runtime::netns::enter_path(&path).expect("enter the server namespace");
                let config = Config::load(&config_file).expect("test config");
                let ctl = shardvpn::runtime::ctl_socket::bind(&config.mgmt.socket).expect("socket");
                let users = Users::load(config.aaa.users_file().unwrap()).expect("users");
                let pools = Pools::from_config(&config);
                let dp =
                    Dataplane::start(&DataplaneSpec::from_config(&config)).expect("data plane");
                let tun = dp.tun_name().to_owned();
                netcfg::set_ipv4_address(&tun, config.ppp.local_address, 32).unwrap();
                netcfg::add_ipv4_route(&tun, "10.200.0.0".parse().unwrap(), 20).unwrap();
                let file_config = config.clone();
                let mut lns = Lns::new(Arc::new(config), dp, LocalAuthenticator::new(users), pools)
                    .expect("control thread");
                lns.set_management(Some(ctl), Some(config_file), file_config);
                ready_tx.send(()).unwrap();
                lns.serve(None, &|| stop.load(Ordering::Relaxed))
                    .expect("serve");
                let left = (lns.sessions(), lns.addresses_in_use());
                lns.shutdown();
                left
            })
        };
        ready_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the server started");
        ServerThread {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops it; the sessions and addresses it still held.
    fn stop(mut self) -> (usize, u64) {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take().expect("running").join() {
            Ok(left) => left,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        // A failed test still stops the thread before the namespaces go.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

const PPTP_CONFIG: &str = r#"
[dataplane]
shards = 2
pin_cores = false
tun_name = "svctlp0"
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
users_file = "users"
demo_user = false

[ppp]
local_address = "10.200.0.1"
echo_interval = 0

[mgmt]
socket = "SOCKET"

[[pool]]
name = "test"
ranges = ["10.200.0.0/20"]
"#;

/// PPTP calls in `show sessions` (with their transmit counters), one terminated by
/// ID while the others keep pinging.
#[test]
fn ctl_lists_and_terminates_pptp_calls() {
    if !is_root() {
        println!("ctl_netns: skipped, needs root");
        return;
    }
    const CALLS: usize = 3;
    let (dir, socket, config_file) = files("pptp", |socket| {
        PPTP_CONFIG.replace("SOCKET", &socket.display().to_string())
    });
    let pair = Pair::create("ctlp");
    let server = ServerThread::start(&pair, &config_file);
    let client = {
        let path = format!("/var/run/netns/{}", pair.a.name);
        std::thread::spawn(move || {
            shardvpn::runtime::netns::enter_path(&path).expect("enter the client namespace");
            loadgen::pptp_mode::run(
                loadgen::pptp_mode::Options {
                    server: std::net::SocketAddrV4::new(PAIR_B, 1723),
                    bind: PAIR_A,
                    sessions: CALLS,
                    rate: None,
                    max_outstanding: CALLS,
                    traffic_pps: 150,
                    duration: Duration::from_secs(8),
                    user: "alice".into(),
                    password: "wonderland".into(),
                    setup_timeout: Duration::from_secs(30),
                    mppe: loadgen::pptp_mode::Options::default_mppe(),
                    scale: Default::default(),
                },
                &|| None,
            )
        })
    };
    let all = wait_sessions(&socket, Duration::from_secs(30), "three calls up", |s| {
        s.len() == CALLS
            && s.iter().all(|s| {
                s.state == "up" && s.rx_packets.unwrap_or(0) > 0 && s.tx_packets.unwrap_or(0) > 0
            })
    });
    for s in &all {
        assert_eq!(s.protocol, "pptp");
        assert_eq!(s.user.as_deref(), Some("alice"));
        assert!(s.peer.starts_with("10.98.0.2:"), "{s:?}");
        assert!(s.id < 65536, "a PPTP session's ID is its Call ID");
    }
    println!("{}", mgmt::format_sessions(&all));
    let gone = all[0].id;
    let t = call(
        &socket,
        &Request::Terminate {
            user: None,
            session: Some(gone),
            ip: None,
        },
    );
    assert!(t.ok, "{t:?}");
    let before: Vec<(u32, u64)> = all[1..]
        .iter()
        .map(|s| (s.id, s.rx_packets.unwrap()))
        .collect();
    wait_sessions(&socket, Duration::from_secs(15), "one call ended", |s| {
        s.len() == CALLS - 1 && s.iter().all(|s| s.id != gone)
    });
    std::thread::sleep(Duration::from_millis(500));
    let later = sessions(&socket);
    for (id, rx) in before {
        let now = later.iter().find(|s| s.id == id).expect("still there");
        assert!(now.rx_packets.unwrap() > rx, "{now:?} still receiving");
    }
    let stats: Stats = result(&socket, &Request::ShowStats);
    assert_eq!(stats.pptp["calls_established"], CALLS as u64);
    let report = client.join().expect("loadgen").expect("loadgen run");
    println!("{}", report.summary());
    assert_eq!(report.sessions_established, CALLS as u64, "{report:?}");
    assert_eq!(server.stop(), (0, 0));
    drop(dir);
}

const IPSEC_CONFIG: &str = r#"
[dataplane]
shards = 2
pin_cores = false
tun_name = "svctli0"
buffers = 1024

[listen]
address = "10.98.0.1"
raw_esp = false

[ike]
psk = "ctl-test-psk"

[aaa]
users_file = "users"
demo_user = false

[ppp]
local_address = "10.200.0.1"
echo_interval = 0

[mgmt]
socket = "SOCKET"

[[pool]]
name = "test"
ranges = ["10.200.0.0/20"]
"#;

/// L2TP/IPsec clients in `show sessions` (protocol `l2tp-ipsec`, the client's outer
/// address as peer), one terminated by address while the other keeps pinging.
#[test]
fn ctl_lists_and_terminates_ipsec_clients() {
    if !is_root() {
        println!("ctl_netns: skipped, needs root");
        return;
    }
    const CLIENTS: usize = 2;
    let (dir, socket, config_file) = files("ipsec", |socket| {
        IPSEC_CONFIG.replace("SOCKET", &socket.display().to_string())
    });
    let pair = Pair::create("ctli");
    let server = ServerThread::start(&pair, &config_file);
    let client = {
        let path = format!("/var/run/netns/{}", pair.a.name);
        std::thread::spawn(move || {
            use shardvpn::proto::ike::policy;
            shardvpn::runtime::netns::enter_path(&path).expect("enter the client namespace");
            l2tp_mode::run(
                Options {
                    server: (PAIR_B, 500).into(),
                    bind: PAIR_A,
                    sessions: CLIENTS,
                    tunnels: 1,
                    rate: None,
                    max_outstanding: CLIENTS,
                    traffic_pps: 100,
                    duration: Duration::from_secs(8),
                    user: "alice".into(),
                    password: "wonderland".into(),
                    auth: vec![AuthMethod::MsChapV2],
                    setup_timeout: Duration::from_secs(30),
                    secret: None,
                    ipsec: Some(l2tp_mode::IpsecOptions {
                        psk: "ctl-test-psk".into(),
                        ike: policy::parse_list(policy::WINDOWS_PHASE1).unwrap(),
                        esp: policy::parse_list(policy::WINDOWS_ESP).unwrap(),
                        nat_t_port: 4500,
                    }),
                    nat_rebind: 0,
                    vanish: 0,
                    scale: Default::default(),
                },
                &|| None,
            )
        })
    };
    let all = wait_sessions(&socket, Duration::from_secs(30), "two clients up", |s| {
        s.len() == CLIENTS
            && s.iter()
                .all(|s| s.state == "up" && s.rx_packets.unwrap_or(0) > 0)
    });
    for s in &all {
        assert_eq!(s.protocol, "l2tp-ipsec");
        assert_eq!(s.user.as_deref(), Some("alice"));
        assert!(s.peer.starts_with("10.98.0.2:"), "{s:?}");
    }
    // Each client has a tunnel of its own.
    assert_ne!(all[0].id >> 16, all[1].id >> 16);
    println!("{}", mgmt::format_sessions(&all));
    let gone = all[0].ip.unwrap();
    let t = call(
        &socket,
        &Request::Terminate {
            user: None,
            session: None,
            ip: Some(gone),
        },
    );
    assert!(t.ok, "{t:?}");
    let rx = all[1].rx_packets.unwrap();
    wait_sessions(&socket, Duration::from_secs(15), "one client ended", |s| {
        s.len() == CLIENTS - 1 && s.iter().all(|s| s.ip != Some(gone))
    });
    std::thread::sleep(Duration::from_millis(500));
    let later = sessions(&socket);
    assert!(
        later[0].rx_packets.unwrap() > rx,
        "{later:?} still receiving"
    );
    let report = client.join().expect("loadgen").expect("loadgen run");
    println!("{}", report.summary());
    assert_eq!(report.sessions_established, CLIENTS as u64, "{report:?}");
    assert_eq!(server.stop(), (0, 0));
    drop(dir);
}

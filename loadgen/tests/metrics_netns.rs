//! The metrics exporter, the Grafana dashboards and the Prometheus rules, proved
//! together against a real Prometheus. The `shardvpn` binary runs in one network
//! namespace with `[metrics] listen` on the namespace's address, RADIUS
//! authentication against a real FreeRADIUS beside it, PPTP on and a pool; loadgen
//! drives L2TP, L2TP/IPsec and PPTP sessions (with traffic; one rejected password,
//! one wrong IPsec key, one Disconnect-Request for nobody) from another namespace and
//! keeps some of each up; a Prometheus (Debian's `prometheus`) in the daemon's
//! namespace scrapes it every second with the repository's rule files loaded. Then:
//!
//! - every metric name in deploy/METRICS.md is in the daemon's `/metrics`, and
//!   `promtool check metrics` finds nothing wrong with that page;
//! - every PromQL expression of every panel of every deploy/grafana/*.json (Grafana's
//!   variables substituted: `$__rate_interval` -> 30s, `$instance` / `$shard` / `$job`
//!   -> `.*`) returns data through Prometheus's query API, and every template
//!   variable's `label_values` has values;
//! - every rule of deploy/prometheus/*.rules.yml is loaded and healthy, every
//!   recording rule's expression and recorded series returns data, and every alert's
//!   expression without its top-level comparison (the figure it watches) returns
//!   data.
//!
//! Failures name the dashboard and panel, or the rule, and the expression. Needs root
//! (network namespaces, raw GRE), FreeRADIUS and Prometheus (scripts/test installs
//! both); without root the test says so and returns. Two tests need neither: the
//! dashboards' structure (data source and template variables as Grafana 10/11 import
//! them) with `promtool check config` / `check rules`, and the splitting of alert
//! expressions at their comparison.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use loadgen::{l2tp_mode, pptp_mode};
use serde_json::Value;
use shardvpn::proto::ike::policy;
use shardvpn::proto::ppp::AuthMethod;

mod support;
use support::freeradius::{FreeRadius, RadiusClient};
use support::prometheus::{self, Prometheus, stop_child};
use support::{PAIR_A, PAIR_B, Pair, is_root};

const METRICS_PORT: u16 = 9477;
const PROMETHEUS_PORT: u16 = 9090;
const PSK: &str = "metrics-test-psk";
/// Sessions per protocol in the first, short runs.
const BURST: usize = 24;
/// Sessions per protocol kept up while the queries run.
const KEEP: usize = 6;
/// How long the kept sessions stay up (the checks must end well before).
const KEEP_FOR: Duration = Duration::from_secs(30);
/// What `$__rate_interval` (and friends) become: 30 scrapes at the test's 1 s.
const RATE_INTERVAL: &str = "30s";

fn config(dir: &Path) -> String {
    format!(
        r#"
[dataplane]
shards = 2
pin_cores = false
tun_name = "svmet0"
buffers = 1024

[listen]
address = "{PAIR_B}"
raw_esp = false

[l2tp]
lac_addresses = ["10.98.0.0/24"]

[ike]
psk = "{PSK}"
max_half_open_per_address = 1000

[pptp]
enabled = true

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

[limits]
max_sessions = 5000

[mgmt]
socket = "{}"

[metrics]
listen = "{PAIR_B}:{METRICS_PORT}"

[[pool]]
name = "test"
ranges = ["10.200.0.0/20"]
"#,
        dir.join("ctl.sock").display()
    )
}

const USERS: &str = r#"
alice Cleartext-Password := "wonderland"
"#;

/// The workspace root (this package's parent).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// The `shardvpn` binary of this build profile, built (or found up to date) by cargo
/// first: `cargo test -p loadgen` alone does not build another package's binary.
fn daemon_binary() -> PathBuf {
    let mut build = Command::new(env!("CARGO"));
    build
        .current_dir(workspace())
        .args(["build", "--quiet", "-p", "shardvpn", "--bin", "shardvpn"]);
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "cargo build -p shardvpn --bin shardvpn");
    // This test is target/<profile>/deps/metrics_netns-*; the binary is beside deps.
    let exe = std::env::current_exe().expect("test executable");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory")
        .join("shardvpn");
    assert!(bin.exists(), "{} was not built", bin.display());
    bin
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("shardvpn-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `shardvpn run` in a namespace, stopped by its PID (SIGTERM: every session ends
/// cleanly) when dropped, also when the test fails.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(netns: &str, bin: &Path, config: &Path, log: PathBuf) -> Daemon {
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", netns])
            .arg(bin)
            .arg("run")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start shardvpn");
        let mut daemon = Daemon { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        for _ in 0..300 {
            if daemon.output().contains("shardvpn: ready") {
                return daemon;
            }
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("shardvpn exited ({status}):\n{}", daemon.output());
            }
            if Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("shardvpn did not get ready:\n{}", daemon.output());
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the daemon (SIGTERM, bounded wait) and returns its output.
    fn stop(mut self) -> String {
        stop_child(&mut self.child, Duration::from_secs(15));
        self.output()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // `ip netns exec` execs the daemon in place: this PID is shardvpn's.
        stop_child(&mut self.child, Duration::from_secs(15));
    }
}

fn l2tp_options(sessions: usize, password: &str) -> l2tp_mode::Options {
    l2tp_mode::Options {
        server: (PAIR_B, 1701).into(),
        bind: PAIR_A,
        sessions,
        tunnels: 1,
        rate: None,
        max_outstanding: 50,
        traffic_pps: 100,
        duration: Duration::from_secs(2),
        user: "alice".into(),
        password: password.into(),
        auth: vec![AuthMethod::MsChapV2],
        setup_timeout: Duration::from_secs(30),
        secret: None,
        ipsec: None,
        nat_rebind: 0,
        vanish: 0,
        scale: Default::default(),
    }
}

fn ipsec_options(sessions: usize) -> l2tp_mode::Options {
    l2tp_mode::Options {
        server: (PAIR_B, 500).into(),
        ipsec: Some(l2tp_mode::IpsecOptions {
            psk: PSK.into(),
            ike: policy::parse_list(policy::WINDOWS_PHASE1).unwrap(),
            esp: policy::parse_list(policy::WINDOWS_ESP).unwrap(),
            nat_t_port: 4500,
        }),
        ..l2tp_options(sessions, "wonderland")
    }
}

fn pptp_options(sessions: usize) -> pptp_mode::Options {
    pptp_mode::Options {
        server: std::net::SocketAddrV4::new(PAIR_B, 1723),
        bind: PAIR_A,
        sessions,
        rate: None,
        max_outstanding: 50,
        traffic_pps: 100,
        duration: Duration::from_secs(2),
        user: "alice".into(),
        password: "wonderland".into(),
        setup_timeout: Duration::from_secs(30),
        mppe: pptp_mode::Options::default_mppe(),
        scale: Default::default(),
    }
}

/// Runs `f` on a thread inside namespace `ns` and returns the thread.
fn spawn_in<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        shardvpn::runtime::netns::enter_path(&path).unwrap_or_else(|e| panic!("setns: {e}"));
        f()
    })
}

/// Grafana's variables as the test substitutes them: every template variable is
/// multi-value with "All" = `.*`, used only with `=~`.
const TEMPLATE_VARIABLES: [&str; 3] = ["instance", "shard", "job"];

fn substitute(expr: &str) -> String {
    let mut e = expr.to_owned();
    for (var, value) in [
        ("__rate_interval", RATE_INTERVAL),
        ("__interval_ms", "15000"),
        ("__interval", "15s"),
        ("__range_s", "300"),
        ("__range_ms", "300000"),
        ("__range", "5m"),
        ("instance", ".*"),
        ("shard", ".*"),
        ("job", ".*"),
    ] {
        e = e.replace(&format!("${{{var}}}"), value);
        e = e.replace(&format!("${var}"), value);
    }
    e
}

/// A PromQL query to check: where it comes from and its text.
struct Query {
    origin: String,
    expr: String,
}

/// Every panel target of a dashboard (rows' nested panels too), and structural
/// problems: a panel or target not on the `${datasource}` variable, a template
/// variable used with an exact matcher.
fn dashboard_queries(
    file: &str,
    dash: &Value,
    queries: &mut Vec<Query>,
    problems: &mut Vec<String>,
) {
    fn walk(file: &str, panels: &[Value], queries: &mut Vec<Query>, problems: &mut Vec<String>) {
        for p in panels {
            let title = p["title"].as_str().unwrap_or("?");
            if let Some(nested) = p["panels"].as_array() {
                walk(file, nested, queries, problems);
            }
            if p["type"] == "row" {
                continue;
            }
            if p["datasource"]["uid"] != "${datasource}" {
                problems.push(format!(
                    "{file}: panel \"{title}\": datasource {} is not ${{datasource}}",
                    p["datasource"]
                ));
            }
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            if targets.is_empty() {
                problems.push(format!("{file}: panel \"{title}\" has no query"));
            }
            for t in targets {
                let Some(expr) = t["expr"].as_str() else {
                    problems.push(format!("{file}: panel \"{title}\": a target without expr"));
                    continue;
                };
                if t["datasource"]["uid"] != "${datasource}" {
                    problems.push(format!(
                        "{file}: panel \"{title}\": target datasource {} is not ${{datasource}}",
                        t["datasource"]
                    ));
                }
                for var in TEMPLATE_VARIABLES {
                    let quoted = format!("\"${var}\"");
                    for (at, _) in expr.match_indices(&quoted) {
                        let before = &expr[..at];
                        if !(before.ends_with("=~") || before.ends_with("!~")) {
                            problems.push(format!(
                                "{file}: panel \"{title}\": ${var} (multi-value) needs =~ in {expr}"
                            ));
                        }
                    }
                }
                queries.push(Query {
                    origin: format!(
                        "{file}: panel \"{title}\" target {}",
                        t["refId"].as_str().unwrap_or("?")
                    ),
                    expr: expr.to_owned(),
                });
            }
        }
    }
    walk(
        file,
        dash["panels"].as_array().map(Vec::as_slice).unwrap_or(&[]),
        queries,
        problems,
    );
}

/// A dashboard variable's `label_values(selector, label)`.
struct Variable {
    origin: String,
    selector: String,
    label: String,
}

/// Everything deploy/grafana/*.json asks of Prometheus, and what is wrong with
/// their structure (for Grafana 10/11: a `${datasource}` variable of type
/// prometheus, `instance` (and `shard` on the data-plane dashboard) variables from
/// `label_values`, every panel on `${datasource}`).
struct Dashboards {
    files: Vec<PathBuf>,
    queries: Vec<Query>,
    variables: Vec<Variable>,
    problems: Vec<String>,
}

fn load_dashboards() -> Dashboards {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace().join("deploy/grafana"))
        .expect("deploy/grafana")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no deploy/grafana/*.json");
    let (mut queries, mut variables, mut problems) = (Vec::new(), Vec::new(), Vec::new());
    for path in &files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let dash: Value = match serde_json::from_str(&std::fs::read_to_string(path).unwrap()) {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("{file}: not JSON: {e}"));
                continue;
            }
        };
        for key in ["uid", "title", "schemaVersion"] {
            if dash[key].is_null() {
                problems.push(format!("{file}: no {key}"));
            }
        }
        dashboard_queries(&file, &dash, &mut queries, &mut problems);
        let vars = dash["templating"]["list"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let var = |name: &str| vars.iter().find(|v| v["name"] == name).cloned();
        match var("datasource") {
            Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {}
            other => problems.push(format!(
                "{file}: no datasource variable of type prometheus: {other:?}"
            )),
        }
        let mut wanted = vec!["instance"];
        if file == "dataplane.json" {
            wanted.push("shard");
        }
        for name in wanted {
            match var(name) {
                Some(v) if v["type"] == "query" && v["multi"] == true && v["allValue"] == ".*" => {}
                other => problems.push(format!(
                    "{file}: no multi-value query variable {name} with All = .*: {other:?}"
                )),
            }
        }
        for v in vars.iter().filter(|v| v["type"] == "query") {
            let name = v["name"].as_str().unwrap_or("?");
            let origin = format!("{file}: variable {name}");
            if v["datasource"]["uid"] != "${datasource}" {
                problems.push(format!("{origin}: not on ${{datasource}}"));
            }
            let def = v["definition"].as_str().unwrap_or("");
            if v["query"].as_str() != Some(def) {
                problems.push(format!("{origin}: query and definition differ"));
            }
            let inner = def
                .strip_prefix("label_values(")
                .and_then(|s| s.strip_suffix(')'))
                .and_then(|s| s.rsplit_once(','));
            match inner {
                Some((selector, label)) => variables.push(Variable {
                    origin: format!("{origin} = {def}"),
                    selector: selector.trim().to_owned(),
                    label: label.trim().to_owned(),
                }),
                None => problems.push(format!("{origin}: not label_values(...): {def}")),
            }
        }
    }
    Dashboards {
        files,
        queries,
        variables,
        problems,
    }
}

/// Splits an alert expression at its one top-level comparison against a number:
/// `(figure, "op threshold")`. None when there is no such comparison, or more than
/// one.
fn split_comparison(expr: &str) -> Option<(String, String)> {
    let b = expr.as_bytes();
    let (mut depth, mut quote, mut found) = (0i32, None::<u8>, Vec::new());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
        } else {
            match c {
                b'"' | b'\'' | b'`' => quote = Some(c),
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth -= 1,
                b'=' | b'!' | b'>' | b'<' if depth == 0 => {
                    let two = b.get(i + 1) == Some(&b'=');
                    let op_len = if two { 2 } else { 1 };
                    // `=` and `!` alone are not comparisons (`!~`, `=~` live in braces).
                    if two || c == b'>' || c == b'<' {
                        found.push((i, op_len));
                        i += op_len;
                        continue;
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    let [(at, len)] = found[..] else {
        return None;
    };
    let rhs = expr[at + len..].trim();
    let number = rhs.strip_prefix("bool").unwrap_or(rhs).trim();
    number.parse::<f64>().ok()?;
    Some((expr[..at].trim().to_owned(), expr[at..].trim().to_owned()))
}

/// The metric names of deploy/METRICS.md's tables (first column, in backticks).
fn documented_metrics() -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join("deploy/METRICS.md")).expect("METRICS.md");
    let mut names = Vec::new();
    for line in text.lines() {
        let Some(cell) = line.strip_prefix('|').and_then(|l| l.split('|').next()) else {
            continue;
        };
        for (i, part) in cell.split('`').enumerate() {
            let name = part.trim();
            if i % 2 == 1
                && (name.starts_with("shardvpn_") || name.starts_with("process_"))
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                names.push(name.to_owned());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Whether the exposition `page` has `name` (as a TYPE line or as a series; a
/// histogram's as its `_bucket`, `_sum`, `_count`).
fn exposes(page: &str, name: &str) -> bool {
    page.lines().any(|l| {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            return rest.split_whitespace().next() == Some(name);
        }
        let series = l.split(['{', ' ']).next().unwrap_or("");
        series == name
            || ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| series.strip_suffix(s) == Some(name))
    })
}

#[test]
fn every_dashboard_query_and_rule_returns_data_from_a_real_prometheus() {
    if !is_root() {
        println!("metrics_netns: skipped, needs root");
        return;
    }
    assert!(
        FreeRadius::available(),
        "FreeRADIUS is not installed (scripts/test installs it: apt-get install freeradius freeradius-utils)"
    );
    assert!(
        prometheus::available(),
        "Prometheus is not installed (scripts/test installs it: apt-get install prometheus)"
    );
    let started = Instant::now();
    let bin = daemon_binary();
    let dir = TempDir::new("metrics");
    let config_file = dir.0.join("shardvpn.toml");
    std::fs::write(&config_file, config(&dir.0)).unwrap();

    let pair = Pair::create("met");
    let ns_b = pair.b.name.clone();
    let ns_a = pair.a.name.clone();
    let radius = FreeRadius::start(
        &ns_b,
        &[RadiusClient {
            name: "shardvpn",
            ipaddr: "127.0.0.1",
            secret: "radsecret",
        }],
        USERS,
    );
    let daemon = Daemon::start(&ns_b, &bin, &config_file, dir.0.join("shardvpn.out"));
    let metrics_addr: SocketAddr = (PAIR_B, METRICS_PORT).into();

    // Prometheus from the start, so that the rates cover every run below.
    let rules_dir = workspace().join("deploy/prometheus");
    let mut rule_files: Vec<PathBuf> = std::fs::read_dir(&rules_dir)
        .expect("deploy/prometheus")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".rules.yml"))
        .collect();
    rule_files.sort();
    assert!(!rule_files.is_empty(), "no deploy/prometheus/*.rules.yml");
    let prom_config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n{}\
         scrape_configs:\n  - job_name: shardvpn\n    static_configs:\n      - targets: [\"{metrics_addr}\"]\n",
        rule_files
            .iter()
            .map(|p| format!("  - \"{}\"\n", p.display()))
            .collect::<String>()
    );
    let prom = Prometheus::start(&ns_b, (PAIR_B, PROMETHEUS_PORT).into(), &prom_config);

    // Short runs of every protocol, one after the other (loadgen's PPTP clients
    // share one raw GRE socket per namespace), and one wrong password.
    let l2tp = pair
        .a
        .run(|| l2tp_mode::run(l2tp_options(BURST, "wonderland"), &|| None).expect("loadgen l2tp"));
    println!("l2tp: {}", l2tp.summary());
    assert_eq!(
        l2tp.sessions_established,
        BURST as u64,
        "{l2tp:?}\n{}",
        radius.output()
    );
    let ipsec = pair
        .a
        .run(|| l2tp_mode::run(ipsec_options(BURST), &|| None).expect("loadgen l2tp-ipsec"));
    println!("l2tp-ipsec: {}", ipsec.summary());
    assert_eq!(ipsec.sessions_established, BURST as u64, "{ipsec:?}");
    let pptp = pair
        .a
        .run(|| pptp_mode::run(pptp_options(BURST), &|| None).expect("loadgen pptp"));
    println!("pptp: {}", pptp.summary());
    assert_eq!(
        pptp.sessions_established,
        BURST as u64,
        "{pptp:?}\n{}",
        radius.output()
    );
    let rejected = pair.a.run(|| {
        let mut o = l2tp_options(1, "wrong");
        o.traffic_pps = 0;
        o.setup_timeout = Duration::from_secs(10);
        l2tp_mode::run(o, &|| None).expect("loadgen rejected")
    });
    assert_eq!(rejected.sessions_established, 0, "{rejected:?}");
    assert_eq!(rejected.sessions_failed, 1, "{rejected:?}");
    // An L2TP/IPsec client with the wrong pre-shared key (an IKE failure).
    let wrong_key = pair.a.run(|| {
        let mut o = ipsec_options(1);
        if let Some(ipsec) = o.ipsec.as_mut() {
            ipsec.psk = "not-the-key".into();
        }
        o.traffic_pps = 0;
        o.setup_timeout = Duration::from_secs(5);
        l2tp_mode::run(o, &|| None).expect("loadgen wrong key")
    });
    assert_eq!(wrong_key.sessions_established, 0, "{wrong_key:?}");
    // A Disconnect-Request for nobody (Dynamic Authorization, answered with a NAK).
    let (_, out) = radius.radclient(
        "127.0.0.1:3799",
        "disconnect",
        "daesecret",
        "User-Name = \"nobody\"\n",
    );
    assert!(out.contains("Disconnect-NAK"), "{out}");

    // Then some of each kept up (with traffic) while everything is checked.
    let kept = vec![
        spawn_in(&ns_a, || {
            let mut o = l2tp_options(KEEP, "wonderland");
            (o.traffic_pps, o.duration) = (20, KEEP_FOR);
            l2tp_mode::run(o, &|| None).expect("kept l2tp")
        }),
        spawn_in(&ns_a, || {
            let mut o = ipsec_options(KEEP);
            (o.traffic_pps, o.duration) = (20, KEEP_FOR);
            l2tp_mode::run(o, &|| None).expect("kept l2tp-ipsec")
        }),
        spawn_in(&ns_a, || {
            let mut o = pptp_options(KEEP);
            (o.traffic_pps, o.duration) = (20, KEEP_FOR);
            pptp_mode::run(o, &|| None).expect("kept pptp")
        }),
    ];
    // Prometheus sees them all up, and has scraped and evaluated a few times since.
    let up_query =
        format!("count(sum by (protocol) (shardvpn_sessions{{state=\"active\"}}) >= {KEEP})");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = None;
    for _ in 0..240 {
        let up = prom.query(&up_query).unwrap_or_default();
        if up.first().is_some_and(|s| s.value == "3") {
            seen = Some(Instant::now());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never saw {KEEP} active sessions of each protocol ({up:?})\n{}\n{}",
            daemon.output(),
            prom.output()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        seen.is_some(),
        "the wait for active sessions ran out of rounds"
    );
    std::thread::sleep(Duration::from_secs(3));
    let scrapes = prom
        .query("count_over_time(up{job=\"shardvpn\"}[5m])")
        .expect("scrape count");
    println!("scrapes so far: {scrapes:?}");
    assert!(
        scrapes
            .first()
            .and_then(|s| s.value.parse::<f64>().ok())
            .unwrap_or(0.0)
            >= 5.0,
        "{scrapes:?}"
    );
    let checks_started = Instant::now();

    let mut failures: Vec<String> = Vec::new();
    let mut nan: Vec<String> = Vec::new();

    // The exporter's page: every documented name, and clean by promtool's lint.
    let (status, page) =
        prometheus::http_get(&ns_b, metrics_addr, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200, "{page}");
    for name in documented_metrics() {
        if !exposes(&page, &name) {
            failures.push(format!(
                "deploy/METRICS.md: {name} is not in the daemon's /metrics"
            ));
        }
    }
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    {
        use std::io::Write;
        promtool
            .stdin
            .take()
            .unwrap()
            .write_all(page.as_bytes())
            .unwrap();
    }
    let lint = promtool.wait_with_output().expect("promtool output");
    let lint_text = format!(
        "{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    println!(
        "promtool check metrics: exit {}, output: {lint_text:?}",
        lint.status
    );
    if !lint.status.success() || !lint_text.trim().is_empty() {
        failures.push(format!("promtool check metrics on /metrics: {lint_text}"));
    }

    // Every dashboard: its structure, its variables' lists, then every panel query.
    let Dashboards {
        files: dashboards,
        queries,
        variables,
        problems,
    } = load_dashboards();
    failures.extend(problems);
    for v in &variables {
        match prom.label_values(&v.label, &substitute(&v.selector)) {
            Ok(values) if !values.is_empty() => println!("{}: {values:?}", v.origin),
            Ok(_) => failures.push(format!("{}: no values", v.origin)),
            Err(e) => failures.push(format!("{}: {e}", v.origin)),
        }
    }
    for q in &queries {
        let expr = substitute(&q.expr);
        if expr.contains('$') {
            failures.push(format!(
                "{}: a variable the test does not know in {}",
                q.origin, q.expr
            ));
            continue;
        }
        match prom.query(&expr) {
            Ok(samples) if samples.is_empty() => {
                failures.push(format!("{}: no data from {expr}", q.origin));
            }
            Ok(samples) => {
                if samples.iter().all(|s| s.value == "NaN") {
                    nan.push(format!("{}: {expr}", q.origin));
                }
            }
            Err(e) => failures.push(format!("{}: {e}: {expr}", q.origin)),
        }
    }
    println!(
        "{} panel queries in {} dashboards",
        queries.len(),
        dashboards.len()
    );

    // Every rule: loaded from each file, healthy, and with data.
    let rules = prom.rules().expect("rules");
    for file in &rule_files {
        let text = std::fs::read_to_string(file).unwrap();
        let written = text
            .lines()
            .filter(|l| {
                let t = l.trim_start();
                t.starts_with("- record:") || t.starts_with("- alert:")
            })
            .count();
        let loaded = rules
            .iter()
            .filter(|r| r["file"].as_str() == Some(&file.to_string_lossy()))
            .count();
        if loaded != written {
            failures.push(format!(
                "{}: {written} rules written, {loaded} loaded",
                file.display()
            ));
        }
    }
    for r in &rules {
        let file = Path::new(r["file"].as_str().unwrap_or("?"))
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = r["name"].as_str().unwrap_or("?");
        let kind = r["type"].as_str().unwrap_or("?");
        let query = r["query"].as_str().unwrap_or("");
        let origin = format!("{file}: {kind} rule {name}");
        if r["health"] != "ok" {
            failures.push(format!(
                "{origin}: health {} ({}): {query}",
                r["health"], r["lastError"]
            ));
        }
        let expr = if kind == "alerting" {
            match split_comparison(query) {
                Some((figure, _)) => figure,
                None => {
                    failures.push(format!(
                        "{origin}: not one top-level comparison with a number: {query}"
                    ));
                    continue;
                }
            }
        } else {
            query.to_owned()
        };
        let mut check = |expr: &str| match prom.query(expr) {
            Ok(s) if s.is_empty() => failures.push(format!("{origin}: no data from {expr}")),
            Ok(s) => {
                if s.iter().all(|s| s.value == "NaN") {
                    nan.push(format!("{origin}: {expr}"));
                }
            }
            Err(e) => failures.push(format!("{origin}: {e}: {expr}")),
        };
        check(&expr);
        if kind == "recording" {
            // And what it recorded.
            check(name);
        }
    }
    println!("{} rules", rules.len());
    println!("checks took {:?}", checks_started.elapsed());

    // The kept sessions were up throughout (they end on their own).
    let still_up = prom.query(&up_query).unwrap_or_default();
    for k in kept {
        let report = k.join().expect("kept sessions");
        println!("kept {}: {}", report.mode, report.summary());
        assert_eq!(report.sessions_established, KEEP as u64, "{report:?}");
        assert!(report.traffic.received > 0, "{report:?}");
    }
    assert!(
        still_up.first().is_some_and(|s| s.value == "3"),
        "the kept sessions went down before the checks ended: {still_up:?}"
    );
    let out = daemon.stop();
    drop(prom);
    drop(radius);
    for n in &nan {
        println!("NaN (no events in the window, data present): {n}");
    }
    println!("metrics_netns took {:?}", started.elapsed());
    let tail: Vec<&str> = out.lines().rev().take(40).collect();
    assert!(
        failures.is_empty(),
        "{} problems:\n{}\n--- the end of shardvpn's output:\n{}",
        failures.len(),
        failures.join("\n"),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn alert_expressions_split_at_their_comparison() {
    assert_eq!(
        split_comparison("up{job=\"shardvpn\"} == 0"),
        Some(("up{job=\"shardvpn\"}".into(), "== 0".into()))
    );
    assert_eq!(
        split_comparison("a{x=~\"a|b\", y!=\"c\"} / clamp_min(b > 1, 2) > 0.9"),
        Some((
            "a{x=~\"a|b\", y!=\"c\"} / clamp_min(b > 1, 2)".into(),
            "> 0.9".into()
        ))
    );
    assert_eq!(
        split_comparison("x > bool 1").map(|s| s.0),
        Some("x".into())
    );
    assert_eq!(split_comparison("x > 1 and y < 2"), None);
    assert_eq!(split_comparison("x > y"), None);
    assert_eq!(split_comparison("sum(rate(x[5m]))"), None);
}

/// Without root: the dashboards' structure, and promtool's checks of the Prometheus
/// configuration and rules (skipped, with a message, where promtool is missing).
#[test]
fn dashboards_are_well_formed_and_promtool_accepts_the_rules() {
    let d = load_dashboards();
    assert!(d.problems.is_empty(), "{}", d.problems.join("\n"));
    assert!(d.queries.len() > 40, "{} queries", d.queries.len());
    for q in &d.queries {
        assert!(
            !substitute(&q.expr).contains('$'),
            "{}: {}",
            q.origin,
            q.expr
        );
    }
    if !prometheus::available() {
        println!("metrics_netns: promtool checks skipped, Prometheus is not installed");
        return;
    }
    let dir = workspace().join("deploy/prometheus");
    let mut rules: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".rules.yml"))
        .collect();
    rules.sort();
    for args in [
        vec![
            "check".into(),
            "config".into(),
            dir.join("prometheus.yml").display().to_string(),
        ],
        ["check", "rules"]
            .iter()
            .map(|s| s.to_string())
            .chain(rules.iter().map(|p| p.display().to_string()))
            .collect(),
    ] {
        let out = Command::new("promtool")
            .args(&args)
            .output()
            .expect("promtool");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!("promtool {}:\n{text}", args.join(" "));
        assert!(out.status.success(), "promtool {}: {text}", args.join(" "));
        assert!(
            !text.contains("WARNING"),
            "promtool {}: {text}",
            args.join(" ")
        );
    }
}

//! `loadgen`: emulates thousands of L2TP, L2TP/IPsec and PPTP subscribers against a
//! concentrator, on the same `shardvpn::wire` and `shardvpn::proto` code the daemon
//! uses.
//!
//! With `--server ADDR` it drives that concentrator; without, it starts `shardvpn
//! run` itself in a fresh pair of network namespaces (root), drives it and removes it
//! afterwards, so `loadgen --sessions 10000` alone is a complete benchmark.
//!
//! `--hold`, `--churn`, `--storm` and `--bystanders` add phases after setup (see
//! `scale.rs`).
//!
//! Prints a progress line while it works, a human summary at the end, and with
//! `--json FILE` the report (see `report.rs` for its fields). Exit status 0 when every
//! requested session was established (and, with traffic, some replies came back;
//! with a storm, every session came back and no bystander was lost; with churn, no
//! re-setup failed).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use shardvpn::proto::ike::policy;
use shardvpn::proto::ppp::AuthMethod;

use loadgen::report::Report;
use loadgen::scale::{Probe, Scale};
use loadgen::{l2tp_mode, local, pptp_mode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// L2TP/IPsec clients like the one built into Windows: IKEv1 Main + Quick Mode
    /// (NAT-T, each client its own source port), then L2TP + PPP inside ESP.
    L2tpIpsec,
    /// Plain L2TPv2 from emulated LACs (the LNS case).
    L2tp,
    /// PPTP clients like the one built into Windows: one TCP control connection and
    /// one call each, PPP over GRE with MS-CHAPv2 and MPPE (needs root for raw GRE).
    Pptp,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Auth {
    Mschapv2,
    Chap,
    Pap,
}

/// Load generator for shardvpn and other concentrators.
#[derive(Parser, Debug)]
#[command(name = "loadgen", version, about)]
struct Cli {
    /// The concentrator (IP or IP:PORT; the port defaults to 500 for l2tp-ipsec,
    /// 1701 for l2tp and 1723 for pptp). Without it, loadgen starts shardvpn itself in network
    /// namespaces (needs root).
    #[arg(long)]
    server: Option<String>,
    #[arg(long, value_enum, default_value = "l2tp-ipsec")]
    mode: Mode,
    /// l2tp-ipsec: the pre-shared key.
    #[arg(long, default_value = "loadgen-psk")]
    psk: String,
    /// l2tp-ipsec: Main Mode proposals, comma-separated, in order (strongSwan syntax,
    /// e.g. aes256-sha256-modp2048). Default: what Windows 10/11 offers.
    #[arg(long, value_delimiter = ',')]
    ike_proposal: Vec<String>,
    /// l2tp-ipsec: Quick Mode proposals, comma-separated, in order (e.g. aes128gcm16,
    /// aes256-sha1; a -GROUP suffix adds PFS). Default: what Windows 10/11 offers.
    #[arg(long, value_delimiter = ',')]
    esp_proposal: Vec<String>,
    /// l2tp-ipsec: the server's NAT-T port.
    #[arg(long, default_value_t = 4500)]
    nat_t_port: u16,
    /// l2tp-ipsec: before the traffic, this many clients switch to a new source port
    /// (a NAT rebinding); the server must follow them.
    #[arg(long, default_value_t = 0)]
    nat_rebind: usize,
    /// l2tp-ipsec: at the end, this many clients vanish without tearing down (as if
    /// powered off); the server's DPD must clean them up.
    #[arg(long, default_value_t = 0)]
    vanish: usize,
    /// Sessions to establish.
    #[arg(long, default_value_t = 100)]
    sessions: usize,
    /// L2TP tunnels (emulated LACs) to spread them over.
    #[arg(long, default_value_t = 1)]
    tunnels: usize,
    /// Calls placed per second (default: as fast as they go).
    #[arg(long)]
    rate: Option<f64>,
    /// At most this many calls in setup at once.
    #[arg(long, default_value_t = 500)]
    max_outstanding: usize,
    /// Pings per second over all sessions once they are up (0: none).
    #[arg(long, default_value_t = 0)]
    traffic_pps: u64,
    /// Seconds of traffic.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    #[arg(long, default_value = "loadgen")]
    user: String,
    #[arg(long, default_value = "loadgen-password")]
    password: String,
    #[arg(long, value_enum, default_value = "mschapv2")]
    auth: Auth,
    /// Seconds allowed for all sessions to come up.
    #[arg(long, alias = "setup-timeout", default_value_t = 120)]
    timeout: u64,
    /// pptp: ask for stateful MPPE (a key change every 256 packets) instead of
    /// stateless.
    #[arg(long)]
    mppe_stateful: bool,
    /// pptp: offer 40-bit MPPE keys as well as 128-bit ones.
    #[arg(long)]
    mppe_40: bool,
    /// After setup (and traffic), keep every session up this many seconds before
    /// tearing down, answering the server's keepalives.
    #[arg(long, value_name = "SECONDS")]
    hold: Option<u64>,
    /// During --hold, tear down this many sessions per second and set them up again
    /// (same user, fresh session).
    #[arg(long, value_name = "PER_SECOND")]
    churn: Option<f64>,
    /// After setup, drop every session at once as an outage does (l2tp: every LAC
    /// restarts; l2tp-ipsec: every client renegotiates with INITIAL-CONTACT; pptp:
    /// every TCP connection reset) and reconnect them all.
    #[arg(long)]
    storm: bool,
    /// With --storm: this many sessions are left alone and keep sending their own
    /// keepalives, checking the answers (default: 1 % of --sessions, at least 10).
    #[arg(long)]
    bystanders: Option<usize>,
    /// With --storm: at most this many reconnects in setup at once (default: as
    /// --max-outstanding).
    #[arg(long)]
    storm_outstanding: Option<usize>,
    /// Write the JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The daemon configuration loadgen uses when it starts shardvpn itself (`{psk}` is
/// replaced by `--psk`).
const LOCAL_CONFIG: &str = r#"
[ike]
psk = "{psk}"
# Every emulated client comes from loadgen's one address, like clients behind one
# big NAT: the per-address half-open limit must not throttle them.
max_half_open_per_address = 65535

[listen]
address = "10.97.0.1"
raw_esp = false

[l2tp]
# loadgen's emulated LACs (plain L2TP is only accepted from listed LACs).
lac_addresses = ["10.97.0.0/24"]

[aaa]
users_file = "{users_file}"

[mgmt]
# In the run's own directory: runs side by side must not share the default socket.
socket = "{run_dir}/ctl.sock"
{pptp}
[limits]
max_sessions = 200000

[[pool]]
name = "loadgen"
ranges = ["10.200.0.0/16", "10.201.0.0/16"]
"#;

/// [`LOCAL_CONFIG`] with the PSK filled in and, for `--mode pptp`, PPTP enabled.
fn local_config(psk: &str, pptp: bool) -> String {
    let pptp = if pptp {
        "\n[pptp]\nenabled = true\n"
    } else {
        ""
    };
    LOCAL_CONFIG
        .replace("{psk}", &psk.replace('"', "\\\""))
        .replace("{pptp}", pptp)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let scale = Scale {
        hold: cli.hold.map(Duration::from_secs),
        churn: cli.churn,
        storm: cli.storm,
        bystanders: match (cli.storm, cli.bystanders) {
            (_, Some(n)) => n,
            (true, None) => Scale::default_bystanders(cli.sessions),
            (false, None) => 0,
        },
        storm_outstanding: cli.storm_outstanding,
    };
    if let Err(e) = scale.validate(cli.sessions) {
        eprintln!("loadgen: {e}");
        return ExitCode::from(2);
    }
    let auth = match cli.auth {
        Auth::Mschapv2 => AuthMethod::MsChapV2,
        Auth::Chap => AuthMethod::ChapMd5,
        Auth::Pap => AuthMethod::Pap,
    };
    let default_port = match cli.mode {
        Mode::L2tpIpsec => 500,
        Mode::L2tp => 1701,
        Mode::Pptp => 1723,
    };
    let ipsec = match cli.mode {
        Mode::L2tp | Mode::Pptp => None,
        Mode::L2tpIpsec => {
            let ike: Result<Vec<_>, _> = if cli.ike_proposal.is_empty() {
                policy::parse_list(policy::WINDOWS_PHASE1)
            } else {
                cli.ike_proposal.iter().map(|p| p.parse()).collect()
            };
            let esp: Result<Vec<_>, _> = if cli.esp_proposal.is_empty() {
                policy::parse_list(policy::WINDOWS_ESP)
            } else {
                cli.esp_proposal.iter().map(|p| p.parse()).collect()
            };
            match (ike, esp) {
                (Ok(ike), Ok(esp)) => Some(l2tp_mode::IpsecOptions {
                    psk: cli.psk.clone(),
                    ike,
                    esp,
                    nat_t_port: cli.nat_t_port,
                }),
                (Err(e), _) => {
                    eprintln!("loadgen: --ike-proposal: {e}");
                    return ExitCode::from(2);
                }
                (_, Err(e)) => {
                    eprintln!("loadgen: --esp-proposal: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    let mut local_server = None;
    let (server, bind) = match &cli.server {
        Some(s) => {
            let addr = s.parse::<SocketAddr>().or_else(|_| {
                s.parse::<IpAddr>()
                    .map(|ip| SocketAddr::new(ip, default_port))
            });
            match addr {
                Ok(a) => (a, Ipv4Addr::UNSPECIFIED),
                Err(_) => {
                    eprintln!("loadgen: --server {s}: not an IP address or IP:PORT");
                    return ExitCode::from(2);
                }
            }
        }
        None => {
            let users = format!("{} \"{}\"\n", cli.user, cli.password.replace('"', "\\\""));
            let started = local::daemon_binary().and_then(|bin| {
                let config = local_config(&cli.psk, cli.mode == Mode::Pptp);
                local::LocalServer::start(&bin, &config, &users, Duration::from_secs(20))
            });
            let server = match started {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("loadgen: cannot start shardvpn: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if let Err(e) = server.enter_client_namespace() {
                eprintln!("loadgen: cannot enter the client namespace: {e}");
                return ExitCode::FAILURE;
            }
            local_server = Some(server);
            (
                SocketAddr::from((local::SERVER_ADDR, default_port)),
                local::CLIENT_ADDR,
            )
        }
    };
    let rss = || {
        local_server
            .as_ref()
            .and_then(local::LocalServer::rss_bytes)
    };
    let fds = || local_server.as_ref().and_then(local::LocalServer::fd_count);
    let probe = Probe {
        rss: &rss,
        fds: &fds,
    };
    let result: std::io::Result<Report> = if cli.mode == Mode::Pptp {
        let server = match server {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => {
                eprintln!("loadgen: --mode pptp: the server must be an IPv4 address");
                return ExitCode::from(2);
            }
        };
        let opts = pptp_mode::Options {
            server: SocketAddrV4::new(*server.ip(), server.port()),
            bind,
            sessions: cli.sessions,
            rate: cli.rate,
            max_outstanding: cli.max_outstanding,
            traffic_pps: cli.traffic_pps,
            duration: Duration::from_secs(cli.duration),
            user: cli.user.clone(),
            password: cli.password.clone(),
            setup_timeout: Duration::from_secs(cli.timeout),
            mppe: shardvpn::proto::ppp::MppePolicy {
                allow_40: cli.mppe_40,
                prefer_stateless: !cli.mppe_stateful,
                ..pptp_mode::Options::default_mppe()
            },
            scale: scale.clone(),
        };
        pptp_mode::run_probed(opts, &probe)
    } else {
        let opts = l2tp_mode::Options {
            server,
            bind,
            sessions: cli.sessions,
            tunnels: cli.tunnels.max(1),
            rate: cli.rate,
            max_outstanding: cli.max_outstanding,
            traffic_pps: cli.traffic_pps,
            duration: Duration::from_secs(cli.duration),
            user: cli.user.clone(),
            password: cli.password.clone(),
            auth: vec![auth],
            setup_timeout: Duration::from_secs(cli.timeout),
            secret: None,
            ipsec,
            nat_rebind: cli.nat_rebind,
            vanish: cli.vanish,
            scale: scale.clone(),
        };
        l2tp_mode::run_probed(opts, &probe)
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    drop(local_server);
    print!("{}", report.summary());
    if let Some(path) = &cli.json {
        let text = serde_json::to_string_pretty(&report).expect("report serializes");
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("loadgen: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    let storm_ok = report.storm.as_ref().is_none_or(|s| {
        s.sessions_reestablished == s.sessions_dropped
            && report
                .keepalive
                .as_ref()
                .is_none_or(|k| k.bystanders_lost == 0)
    });
    let churn_ok = report.churn.as_ref().is_none_or(|c| c.failed == 0);
    let ok = report.sessions_established == report.sessions_requested
        && (cli.traffic_pps == 0 || report.traffic.received > 0)
        && storm_ok
        && churn_ok;
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration loadgen hands the daemon it starts parses, in every mode.
    #[test]
    fn local_config_parses_with_and_without_pptp() {
        for pptp in [false, true] {
            let text = local_config("a \"quoted\" psk", pptp)
                .replace("{users_file}", "/nonexistent/users")
                .replace("{run_dir}", "/nonexistent");
            let config = shardvpn::config::Config::parse(&text, "loadgen.toml")
                .unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(config.pptp.enabled, pptp);
        }
    }
}

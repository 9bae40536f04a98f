//! `shardvpn run`: everything between a parsed config and a serving LNS, and back.
//!
//! Order matters: signals are blocked before any thread starts (the shards inherit
//! the mask, so SIGTERM reaches only the control thread's signalfd); AAA and pools
//! are ready before the first packet; the TUN gets the PPP-side address and a route
//! per pool so return traffic enters the data plane; then the ready line, which
//! loadgen and service managers wait for. The management socket is bound before
//! everything else, so that a second daemon stops before it disturbs the first.

use std::path::PathBuf;
use std::sync::Arc;

use crate::aaa::auth::LocalAuthenticator;
use crate::aaa::demo::generate_demo_credentials;
use crate::aaa::pool::Pools;
use crate::aaa::users::Users;
use crate::config::{AddressRange, Config};
use crate::control::lns::Lns;
use crate::runtime::engine::{Dataplane, DataplaneSpec};
use crate::runtime::{netcfg, signals::Signals};

/// The line printed on stdout once the daemon serves.
pub const READY_LINE: &str = "shardvpn: ready";

/// Why `run` stopped with an error (each one printed as is, then exit 1).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot block signals: {0}")]
    Signals(std::io::Error),
    #[error("{0}")]
    Users(String),
    #[error("cannot write the demo credentials: {0}")]
    Demo(std::io::Error),
    #[error(transparent)]
    Startup(#[from] crate::runtime::listen::StartupError),
    #[error(transparent)]
    Netcfg(#[from] netcfg::NetcfgError),
    #[error(transparent)]
    Mgmt(#[from] crate::runtime::ctl_socket::CtlSocketError),
    #[error(
        "cannot serve metrics on {addr}: {source} (set [metrics] listen to a free \
         address, or \"\" for no metrics endpoint)"
    )]
    Metrics {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("control thread: {0}")]
    Control(std::io::Error),
}

/// Runs the daemon until SIGTERM / SIGINT. `config_path` is the file `config` came
/// from (`None`: the embedded default), re-read by `shardvpn ctl reload` and SIGHUP.
pub fn run(mut config: Config, config_path: Option<PathBuf>) -> Result<(), RunError> {
    let signals = Signals::block().map_err(RunError::Signals)?;
    // First: a second daemon is refused before it touches ports, TUN or routes.
    let ctl = if config.mgmt.enabled {
        Some(crate::runtime::ctl_socket::bind(&config.mgmt.socket)?)
    } else {
        None
    };
    // Also before anything visible: a busy metrics port is a configuration error.
    let metrics_listener = match config.metrics.address() {
        Some(addr) => Some(
            crate::mgmt::metrics::bind(addr)
                .map_err(|source| RunError::Metrics { addr, source })?,
        ),
        None => None,
    };
    let file_config = config.clone();
    // No IPsec key configured: the demo credentials bring one (see aaa::demo).
    let demo_psk = config.aaa.demo_user_enabled()
        && config.ike.enabled
        && config.ike.psk.is_empty()
        && config.ike.peer.is_empty();
    let demo = if config.aaa.demo_user_enabled() {
        let path = &config.aaa.demo_credentials_file;
        let demo = generate_demo_credentials(path, demo_psk).map_err(RunError::Demo)?;
        if let Some(psk) = &demo.psk {
            config.ike.psk = crate::config::Secret::new(psk.as_str());
        }
        Some(demo)
    } else {
        None
    };
    let config = Arc::new(config);
    let mut users = match config.aaa.users_file() {
        Some(path) => Users::load(path).map_err(|errors| {
            RunError::Users(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        })?,
        None => Users::new(),
    };
    if let Err(errors) = users.check_against(&config) {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Err(RunError::Users(text.join("\n")));
    }
    if let Some(demo) = &demo {
        users.insert(demo.user()).map_err(RunError::Users)?;
        // Printed once; the file (mode 0600) keeps it for later.
        println!(
            "{}",
            demo.announcement(&config.aaa.demo_credentials_file)
                .as_str()
        );
    }
    let mut pools = Pools::from_config(&config);
    pools.reserve_static(users.static_addresses());
    let auth = LocalAuthenticator::new(users);

    let spec = DataplaneSpec::from_config(&config);
    let dp = Dataplane::start(&spec)?;
    let tun = dp.tun_name().to_owned();
    netcfg::set_ipv4_address(&tun, config.ppp.local_address, 32)?;
    for pool in &config.pool {
        for range in &pool.ranges {
            for (net, prefix) in range_routes(range) {
                netcfg::add_ipv4_route(&tun, net, prefix)?;
            }
        }
    }
    let shards = spec.shards;
    // Started once the data plane's tables exist, so its memory baseline (RSS before
    // any session) includes them.
    let _metrics = match metrics_listener {
        Some(listener) => {
            let addr = listener.local_addr().ok();
            let sources = crate::mgmt::metrics::Sources::new(dp.stats_handles());
            let server = crate::mgmt::metrics::MetricsServer::start(listener, sources)
                .map_err(RunError::Control)?;
            if let Some(a) = addr {
                eprintln!("shardvpn: metrics on http://{a}/metrics");
            }
            Some(server)
        }
        None => None,
    };
    let mut lns = Lns::new(Arc::clone(&config), dp, auth, pools).map_err(RunError::Control)?;
    lns.set_management(ctl, config_path, file_config);
    let pptp = match lns.pptp_addr() {
        Some(a) => format!(", PPTP on TCP {a}"),
        None => String::new(),
    };
    println!(
        "{READY_LINE}: L2TP on {addr}:{}, IKE on {addr}:{}/{}{}{pptp}, {shards} shard(s), TUN {tun}",
        config.listen.l2tp_port,
        config.listen.ike_port,
        config.listen.nat_t_port,
        if config.ike.enabled {
            ""
        } else {
            " (disabled)"
        },
        addr = config.listen.address,
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    lns.run(&signals).map_err(RunError::Control)?;
    eprintln!("shardvpn: stopped");
    Ok(())
}

/// The routes that cover `range`: its CIDR, or the smallest aligned blocks that tile
/// a first-last span.
fn range_routes(range: &AddressRange) -> Vec<(std::net::Ipv4Addr, u8)> {
    let (first, last) = range.extent();
    let (mut lo, hi) = (u64::from(first), u64::from(last));
    let mut out = Vec::new();
    while lo <= hi {
        // The largest block aligned at `lo` that does not pass `hi`.
        let mut size = if lo == 0 {
            1u64 << 32
        } else {
            1u64 << lo.trailing_zeros()
        };
        while lo + size - 1 > hi {
            size /= 2;
        }
        let prefix = 32 - size.trailing_zeros() as u8;
        out.push((std::net::Ipv4Addr::from(lo as u32), prefix));
        lo += size;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_tiled_by_aligned_blocks() {
        let r: AddressRange = "10.0.0.0/16".parse().unwrap();
        assert_eq!(range_routes(&r), [("10.0.0.0".parse().unwrap(), 16)]);
        let r: AddressRange = "10.0.0.10-10.0.0.17".parse().unwrap();
        let got: Vec<String> = range_routes(&r)
            .iter()
            .map(|(a, p)| format!("{a}/{p}"))
            .collect();
        assert_eq!(got, ["10.0.0.10/31", "10.0.0.12/30", "10.0.0.16/31"]);
    }
}

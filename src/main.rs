//! The `shardvpn` command line.
//!
//! The concentrator's subcommands (`run`, `check-config`, `ctl`) arrive with the
//! control plane; today the binary reports its version and what it is built from.

use clap::Parser;

/// L2TP/IPsec, L2TP LNS and PPTP concentrator with a shard-per-core data plane.
#[derive(Parser, Debug)]
#[command(name = "shardvpn", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    println!(
        "shardvpn {}: protocol library only; `shardvpn run` is not available yet",
        env!("CARGO_PKG_VERSION")
    );
}

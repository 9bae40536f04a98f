//! `loadgen`: emulates thousands of L2TP, L2TP/IPsec and PPTP subscribers against a
//! concentrator, on the same `shardvpn::wire` and `shardvpn::proto` code the daemon
//! uses. The modes arrive with the engines they drive (see the issues "L2TP LNS" and
//! "L2TP/IPsec"); today the binary only reports its version.

use clap::Parser;

mod local;
mod report;

/// Load generator for shardvpn and other concentrators.
#[derive(Parser, Debug)]
#[command(name = "loadgen", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    println!(
        "loadgen {}: no emulation mode is available yet",
        env!("CARGO_PKG_VERSION")
    );
}

//! The `shardvpn` command line.
//!
//! - `shardvpn check-config FILE`: parse and validate a configuration file; prints
//!   `FILE: ok` (exit 0) or every problem as `FILE:LINE: key: message` on stderr
//!   (exit 2, clap's exit code for usage errors, so scripts can tell a bad config from
//!   a crash).
//! - `shardvpn print-default-config`: the embedded default configuration, every key
//!   documented; a starting point for `/etc/shardvpn/shardvpn.toml`.
//! - `shardvpn run [--config FILE]`: the daemon.
//! - `shardvpn ctl [--socket PATH | --config FILE] COMMAND`: talks to a running daemon
//!   over its management socket (`[mgmt] socket`, or the one FILE names; protocol in
//!   `shardvpn::mgmt`):
//!   `show sessions|stats|pools [--json]`, `terminate --user NAME | --session ID |
//!   --ip ADDR`, `reload`. Exit 0 on success, 1 when the daemon cannot be reached or
//!   refuses, 2 when `reload` is refused for an invalid configuration or users file
//!   (the messages are `check-config`'s).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Parser, Subcommand};
use shardvpn::config::{Config, DEFAULT_MGMT_SOCKET, DEFAULT_TOML};
use shardvpn::mgmt::{self, Request};

/// L2TP/IPsec, L2TP LNS and PPTP concentrator with a shard-per-core data plane.
#[derive(Parser, Debug)]
#[command(name = "shardvpn", version, about, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the concentrator (needs root). Without --config, the embedded default:
    /// every address, UDP 500/4500/1701, the pool 10.200.0.0/16, and a demo user
    /// whose generated password is printed once and kept in a root-only file.
    Run {
        /// The TOML configuration file (see `print-default-config`).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Check a configuration file: print `FILE: ok`, or every error with its line.
    CheckConfig {
        /// The TOML configuration file.
        file: PathBuf,
    },
    /// Print the built-in default configuration, with every key documented.
    PrintDefaultConfig,
    /// Talk to the running daemon: show sessions, stats and pools, terminate sessions,
    /// reload the configuration and users file.
    Ctl {
        /// The daemon's management socket [default: /run/shardvpn/ctl.sock].
        #[arg(long, conflicts_with = "config")]
        socket: Option<PathBuf>,
        /// Take the socket's path from this configuration file's `[mgmt] socket`.
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: CtlCommand,
    },
}

#[derive(Subcommand, Debug)]
enum CtlCommand {
    /// Show sessions, counters or pools.
    Show {
        #[command(subcommand)]
        what: ShowWhat,
    },
    /// End sessions cleanly (PPP Terminate, then CDN / Call-Disconnect-Notify).
    #[command(group(ArgGroup::new("target").required(true).args(["user", "session", "ip"])))]
    Terminate {
        /// Every session of this user.
        #[arg(long)]
        user: Option<String>,
        /// The session with this ID (the ID column of `show sessions`).
        #[arg(long)]
        session: Option<u32>,
        /// The session with this assigned address.
        #[arg(long)]
        ip: Option<Ipv4Addr>,
    },
    /// Re-read the configuration file and the users file; sessions keep running.
    Reload,
}

#[derive(Subcommand, Debug)]
enum ShowWhat {
    /// Every session: user, protocol, peer, address, shard, uptime, counters.
    Sessions {
        #[arg(long)]
        json: bool,
    },
    /// The control thread's and every shard's counters.
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// The address pools and their use.
    Pools {
        #[arg(long)]
        json: bool,
    },
}

/// `shardvpn ctl`: one request, its response printed.
fn ctl(socket: &std::path::Path, command: CtlCommand) -> ExitCode {
    let (request, json) = match command {
        CtlCommand::Show { what } => match what {
            ShowWhat::Sessions { json } => (Request::ShowSessions, json),
            ShowWhat::Stats { json } => (Request::ShowStats, json),
            ShowWhat::Pools { json } => (Request::ShowPools, json),
        },
        CtlCommand::Terminate { user, session, ip } => {
            (Request::Terminate { user, session, ip }, false)
        }
        CtlCommand::Reload => (Request::Reload, false),
    };
    let response = match mgmt::client::call(socket, &request) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("shardvpn ctl: {e}");
            return ExitCode::FAILURE;
        }
    };
    match mgmt::render(&request, &response, json) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            if request == Request::Reload {
                ExitCode::from(EXIT_INVALID)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Exit code for an invalid configuration (also clap's for a bad command line).
const EXIT_INVALID: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(_) => {
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(errors) => {
                for error in &errors {
                    eprintln!("{error}");
                }
                ExitCode::from(EXIT_INVALID)
            }
        },
        Command::Ctl {
            socket,
            config,
            command,
        } => {
            let socket = match (socket, config) {
                (Some(socket), _) => socket,
                (None, Some(file)) => match Config::load(&file) {
                    Ok(c) => c.mgmt.socket,
                    Err(errors) => {
                        for error in &errors {
                            eprintln!("{error}");
                        }
                        return ExitCode::from(EXIT_INVALID);
                    }
                },
                (None, None) => PathBuf::from(DEFAULT_MGMT_SOCKET),
            };
            ctl(&socket, command)
        }
        Command::Run { config: path } => {
            let config = match &path {
                Some(file) => match Config::load(file) {
                    Ok(c) => c,
                    Err(errors) => {
                        for error in &errors {
                            eprintln!("{error}");
                        }
                        return ExitCode::from(EXIT_INVALID);
                    }
                },
                None => Config::embedded(),
            };
            match shardvpn::control::daemon::run(config, path) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("shardvpn: {e}");
                    let mut source = std::error::Error::source(&e);
                    while let Some(s) = source {
                        eprintln!("  caused by: {s}");
                        source = s.source();
                    }
                    ExitCode::FAILURE
                }
            }
        }
        Command::PrintDefaultConfig => {
            print!("{DEFAULT_TOML}");
            ExitCode::SUCCESS
        }
    }
}

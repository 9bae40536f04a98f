//! The `shardvpn` command line.
//!
//! - `shardvpn check-config FILE`: parse and validate a configuration file; prints
//!   `FILE: ok` (exit 0) or every problem as `FILE:LINE: key: message` on stderr
//!   (exit 2, clap's exit code for usage errors, so scripts can tell a bad config from
//!   a crash).
//! - `shardvpn print-default-config`: the embedded default configuration, every key
//!   documented; a starting point for `/etc/shardvpn/shardvpn.toml`.
//! - `shardvpn run` (the daemon) and `shardvpn ctl ...` arrive with the runtime and the
//!   management socket; see the placeholder in [`Command`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shardvpn::config::{Config, DEFAULT_TOML};

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
        Command::Run { config } => {
            let config = match config {
                Some(file) => match Config::load(&file) {
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
            match shardvpn::control::daemon::run(config) {
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

//! Authentication, authorization and address assignment, local flavour (design.md
//! "AAA": the users file and IP pools; RADIUS comes later beside them).
//!
//! - [`users`]: the users file (name, secret, optional static address, optional
//!   per-user session limit), its format, and reload that keeps the old table on
//!   error;
//! - [`auth`]: PAP, CHAP-MD5 and MS-CHAPv2 verification against the table (RFC 1334,
//!   RFC 1994, RFC 2759), per-user session limits, and [`LocalAuthenticator`] which
//!   bundles them with counters;
//! - [`pool`]: IPv4 address pools from `[[pool]]` that never hand out an address
//!   twice, with static addresses reserved for their owners;
//! - [`ratelimit`]: per-subscriber rate limits as operators write them
//!   (`Mikrotik-Rate-Limit`, accel-ppp's `Filter-Id`, a `Cisco-AVPair` rate-limit,
//!   `[ppp] rate_limit`), parsed into one [`ratelimit::RateLimit`];
//! - [`demo`]: the demo user of the out-of-the-box configuration, whose password is
//!   generated at start and written to a root-only file.
//!
//! All of it is sans-IO except the two file operations the daemon asks for
//! explicitly ([`Users::load`] / reload, [`generate_demo_credentials`]); nothing here
//! holds a socket, a thread or a clock.
//!
//! How the control thread puts it together:
//!
//! ```text
//! let mut users = match config.aaa.users_file() { Some(p) => Users::load(p)?, None => Users::new() };
//! users.check_against(&config)?;
//! if config.aaa.demo_user_enabled() {
//!     let demo = generate_demo_credentials(&config.aaa.demo_credentials_file)?;
//!     users.insert(demo.user())?;            // print the password once
//! }
//! let mut pools = Pools::from_config(&config);
//! pools.reserve_static(users.static_addresses());
//! let mut aaa = LocalAuthenticator::new(users);
//! // per call: aaa.chap_md5(..) -> Grant { identity, ticket }; address =
//! //   identity.address -> pools.allocate_specific(a), else pools.allocate(None);
//! // teardown: pools.release(address); aaa.end_session(ticket).
//! // SIGHUP: aaa.reload() (re-reads the file, keeps the demo user); on Ok call
//! //   pools.reserve_static(aaa.users().static_addresses()) (and check_against);
//! //   on Err log every error: the old table stays in force.
//! ```
#![forbid(unsafe_code)]

pub mod auth;
pub mod demo;
pub mod pool;
pub mod ratelimit;
pub mod users;

pub use auth::{
    AuthCounters, AuthError, Grant, Identity, LocalAuthenticator, LogSafeName, MsChapV2Keys,
    SessionLimits, SessionTicket, describe_failure, verify_chap_md5, verify_mschapv2, verify_pap,
};
pub use demo::{
    DEMO_USER, DemoCredentials, generate_demo_credentials, generate_password,
    write_demo_credentials,
};
pub use pool::{Pool, PoolCounters, PoolError, PoolId, Pools};
pub use users::{User, UserSecret, Users};

#[cfg(test)]
mod tests;

//! The daemon side of the loadgen integration tests: the real data plane and control
//! thread (`Lns`) running in the server namespace of a [`Pair`], on a thread that
//! serves until the test says stop, then reports what it still holds and shuts down.
#![allow(dead_code)] // each test crate uses a subset

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use shardvpn::aaa::auth::LocalAuthenticator;
use shardvpn::aaa::pool::Pools;
use shardvpn::aaa::users::{User, Users};
use shardvpn::config::Config;
use shardvpn::control::lns::{IkeCounters, Lns, LnsCounters};
use shardvpn::runtime::engine::{Dataplane, DataplaneSpec};
use shardvpn::runtime::netcfg;

pub mod freeradius;
pub mod prometheus;

#[path = "../../../tests/runtime_netns/mod.rs"]
pub mod runtime_netns;
pub use runtime_netns::{PAIR_A, PAIR_B, Pair, is_root};

/// What the server held when it was stopped, before its shutdown.
#[derive(Debug)]
pub struct Final {
    pub sessions: usize,
    pub addresses: u64,
    pub ike_sas: usize,
    pub ipsec_clients: usize,
    pub counters: LnsCounters,
    pub ike: IkeCounters,
}

pub struct Server {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Final>>,
}

impl Server {
    /// Starts the daemon in `pair.b` with `config`, one user `alice` / `wonderland`
    /// (up to `max_sessions`), a route for 10.200.0.0/20 into the TUN.
    pub fn start(pair: &Pair, config: &'static str, max_sessions: u32) -> Server {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = {
            let stop = Arc::clone(&stop);
            let path = format!("/var/run/netns/{}", pair.b.name);
            std::thread::spawn(move || {
                shardvpn::runtime::netns::enter_path(&path).expect("enter the server namespace");
                let config = Config::parse(config, "test.toml").expect("test config");
                let mut users = Users::new();
                let mut user = User::new("alice", "wonderland").expect("user");
                user.max_sessions = Some(max_sessions);
                users.insert(user).unwrap();
                let pools = Pools::from_config(&config);
                let dp =
                    Dataplane::start(&DataplaneSpec::from_config(&config)).expect("data plane");
                let tun = dp.tun_name().to_owned();
                netcfg::set_ipv4_address(&tun, config.ppp.local_address, 32).unwrap();
                netcfg::add_ipv4_route(&tun, "10.200.0.0".parse().unwrap(), 20).unwrap();
                let mut lns = Lns::new(Arc::new(config), dp, LocalAuthenticator::new(users), pools)
                    .expect("control thread");
                ready_tx.send(()).unwrap();
                lns.serve(None, &|| stop.load(Ordering::Relaxed))
                    .expect("serve");
                let state = Final {
                    sessions: lns.sessions(),
                    addresses: lns.addresses_in_use(),
                    ike_sas: lns.ike_sas(),
                    ipsec_clients: lns.ipsec_clients(),
                    counters: lns.counters.clone(),
                    ike: lns.ike_counters.clone(),
                };
                lns.shutdown();
                state
            })
        };
        ready_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the server started");
        Server {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops serving (after `settle`, for the last messages to arrive) and returns
    /// what was left.
    pub fn stop(mut self, settle: Duration) -> Final {
        std::thread::sleep(settle);
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take().expect("not stopped yet").join() {
            Ok(f) => f,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failed test still stops the thread before the namespaces go.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

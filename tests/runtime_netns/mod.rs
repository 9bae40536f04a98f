//! Helpers shared by the runtime integration tests that need root: a network namespace
//! created with `ip netns add` and deleted by a guard (even on panic), and a thread
//! that runs code inside it.
#![allow(dead_code)] // each test crate uses a subset

use std::process::Command;

use shardvpn::runtime::netns;

/// Whether the effective UID is 0 (read from /proc: no unsafe in tests).
pub fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        == Some("0")
}

/// Runs `ip` with `args` and panics with its stderr on failure.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace that is deleted when the guard drops, even on panic.
pub struct Namespace {
    pub name: String,
}

impl Namespace {
    pub fn create(tag: &str) -> Namespace {
        let name = format!("shardvpn-test-{}-{tag}", std::process::id());
        ip(&["netns", "add", &name]);
        Namespace { name }
    }

    /// Runs `f` on a thread that has entered this namespace and propagates its panic
    /// after the thread ends, so the guard still deletes the namespace.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        let handle = std::thread::spawn(move || {
            netns::enter_path(&path).unwrap_or_else(|e| panic!("setns {path}: {e}"));
            f()
        });
        match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Two namespaces joined by a veth pair: `a` has 10.98.0.2/24 on its end, `b` (the
/// concentrator's side) has 10.98.0.1/24. Both ends and `lo` are up.
pub struct Pair {
    pub a: Namespace,
    pub b: Namespace,
}

pub const PAIR_A: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 98, 0, 2);
pub const PAIR_B: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 98, 0, 1);

impl Pair {
    pub fn create(tag: &str) -> Pair {
        let a = Namespace::create(&format!("{tag}-a"));
        let b = Namespace::create(&format!("{tag}-b"));
        // Interface names are per namespace, so fixed names cannot collide.
        ip(&[
            "link", "add", "sva", "netns", &a.name, "type", "veth", "peer", "name", "svb", "netns",
            &b.name,
        ]);
        for (ns, dev, addr) in [(&a, "sva", "10.98.0.2/24"), (&b, "svb", "10.98.0.1/24")] {
            ip(&["-n", &ns.name, "addr", "add", addr, "dev", dev]);
            ip(&["-n", &ns.name, "link", "set", dev, "up"]);
            ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        }
        Pair { a, b }
    }
}

//! `loadgen` without `--server`: start the concentrator itself, isolated.
//!
//! Two network namespaces joined by a veth pair (`lg<pid>s`: the server,
//! 10.97.0.1/24; `lg<pid>c`: loadgen's emulated subscribers, 10.97.0.2/24), the
//! daemon started in the server namespace with `ip netns exec ... shardvpn run
//! --config FILE` (a config and users file written for the run), and loadgen's own
//! threads moved into the client namespace. Everything is undone on drop, even on a
//! panic: the daemon gets SIGTERM (by PID), then SIGKILL after a grace period, and
//! both namespaces are deleted. Needs root.

use std::io::{self, BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The server's address on the veth.
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 1);
/// Loadgen's address on the veth.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 2);

/// What the daemon prints on stdout once it serves.
pub const READY_LINE: &str = "shardvpn: ready";

/// A daemon started for this run.
pub struct LocalServer {
    server_ns: String,
    client_ns: String,
    child: Option<Child>,
    dir: PathBuf,
}

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The `shardvpn` binary: `$SHARDVPN_BIN`, else next to this executable.
pub fn daemon_binary() -> io::Result<PathBuf> {
    if let Some(path) = std::env::var_os("SHARDVPN_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| io::Error::other("loadgen has no parent directory"))?;
    // Test binaries live in target/*/deps; the daemon one level up.
    for candidate in [dir.join("shardvpn"), dir.join("../shardvpn")] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(io::Error::other(
        "cannot find the shardvpn binary next to loadgen; set SHARDVPN_BIN",
    ))
}

impl LocalServer {
    /// Creates the namespaces, writes `config` (TOML; `{users_file}` in it is replaced
    /// by the path of the users file written from `users`, `{run_dir}` by the run's
    /// temporary directory) and starts `binary` with
    /// it, waiting (at most `ready_timeout`) for its ready line.
    pub fn start(
        binary: &Path,
        config: &str,
        users: &str,
        ready_timeout: Duration,
    ) -> io::Result<LocalServer> {
        let tag = std::process::id();
        let dir = std::env::temp_dir().join(format!("loadgen-{tag}"));
        std::fs::create_dir_all(&dir)?;
        let mut server = LocalServer {
            server_ns: format!("lg{tag}s"),
            client_ns: format!("lg{tag}c"),
            child: None,
            dir,
        };
        ip(&["netns", "add", &server.server_ns])?;
        ip(&["netns", "add", &server.client_ns])?;
        ip(&[
            "link",
            "add",
            "lgs",
            "netns",
            &server.server_ns,
            "type",
            "veth",
            "peer",
            "name",
            "lgc",
            "netns",
            &server.client_ns,
        ])?;
        for (ns, dev, addr) in [
            (&server.server_ns, "lgs", format!("{SERVER_ADDR}/24")),
            (&server.client_ns, "lgc", format!("{CLIENT_ADDR}/24")),
        ] {
            ip(&["-n", ns, "addr", "add", &addr, "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        let users_path = server.dir.join("users");
        std::fs::write(&users_path, users)?;
        let config_path = server.dir.join("shardvpn.toml");
        let users_str = users_path.display().to_string();
        let run_dir = server.dir.display().to_string();
        let config = config
            .replace("{users_file}", &users_str)
            .replace("{run_dir}", &run_dir);
        std::fs::write(&config_path, config)?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &server.server_ns])
            .arg(binary)
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take();
        server.child = Some(child);
        let (tx, rx) = mpsc::channel();
        if let Some(stdout) = stdout {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if line.starts_with(READY_LINE) {
                        let _ = tx.send(());
                    }
                }
            });
        }
        match rx.recv_timeout(ready_timeout) {
            Ok(()) => Ok(server),
            Err(_) => Err(io::Error::other(format!(
                "shardvpn did not report ready within {ready_timeout:?}"
            ))),
        }
    }

    /// Moves the calling thread (and the threads it starts afterwards) into the
    /// client namespace.
    pub fn enter_client_namespace(&self) -> io::Result<()> {
        shardvpn::runtime::netns::enter_path(format!("/var/run/netns/{}", self.client_ns))
    }

    /// The daemon's process ID (the `ip netns exec` child execs it, so it is the
    /// same process).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The daemon's resident memory, from /proc.
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kb * 1024)
    }

    /// The daemon's open file descriptors, from /proc (to see fd leaks under churn).
    pub fn fd_count(&self) -> Option<u64> {
        let dir = std::fs::read_dir(format!("/proc/{}/fd", self.pid()?)).ok()?;
        Some(dir.count() as u64)
    }

    /// SIGTERM, then waits up to `grace` for a clean exit; true if it exited by itself.
    pub fn stop(&mut self, grace: Duration) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let pid = child.id();
        // Signal only the process we started, by its PID.
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
        let _ = ip(&["netns", "del", &self.server_ns]);
        let _ = ip(&["netns", "del", &self.client_ns]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

//! A real FreeRADIUS server (Debian package `freeradius`, installed by scripts/test)
//! for the RADIUS integration tests: the packaged configuration copied into a fresh
//! directory, with our clients, users and log directory, run in the foreground inside
//! a test's network namespace on its loopback. Stopped by PID (and its directory
//! removed) when dropped, also when the test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The packaged configuration we start from.
const PACKAGED: &str = "/etc/freeradius/3.0";

pub struct FreeRadius {
    child: Child,
    dir: PathBuf,
    netns: String,
}

/// One client of the server (a NAS or a DAE peer): address or CIDR, shared secret.
pub struct RadiusClient<'a> {
    pub name: &'a str,
    pub ipaddr: &'a str,
    pub secret: &'a str,
}

impl FreeRadius {
    /// Whether FreeRADIUS is installed here.
    pub fn available() -> bool {
        Path::new(PACKAGED).join("radiusd.conf").exists()
            && Command::new("freeradius")
                .arg("-v")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    }

    /// Starts FreeRADIUS in `netns` (listening on every address of the namespace,
    /// ports 1812/1813) with `clients` and `authorize` (the users file, in
    /// `mods-config/files/authorize` syntax). Waits (bounded) until it is ready.
    pub fn start(netns: &str, clients: &[RadiusClient<'_>], authorize: &str) -> FreeRadius {
        let dir = std::env::temp_dir().join(format!(
            "shardvpn-freeradius-{}-{netns}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let status = Command::new("cp")
            .arg("-a")
            .arg(PACKAGED)
            .arg(&dir)
            .status()
            .expect("cp");
        assert!(status.success(), "copying {PACKAGED}");
        std::fs::create_dir_all(dir.join("log")).unwrap();
        std::fs::create_dir_all(dir.join("run")).unwrap();
        let conf = dir.join("radiusd.conf");
        let text = std::fs::read_to_string(&conf).unwrap();
        let text: String = text
            .lines()
            .map(|line| {
                let t = line.trim_start();
                if t.starts_with("logdir = ") {
                    format!("logdir = {}", dir.join("log").display())
                } else if t.starts_with("run_dir = ") {
                    format!("run_dir = {}", dir.join("run").display())
                } else if t.starts_with("user = freerad") || t.starts_with("group = freerad") {
                    // Run as root: the copied files are root's.
                    format!("#{t}")
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&conf, text).unwrap();
        let mut clients_conf = String::new();
        for c in clients {
            clients_conf.push_str(&format!(
                "client {} {{\n  ipaddr = {}\n  secret = {}\n}}\n",
                c.name, c.ipaddr, c.secret
            ));
        }
        std::fs::write(dir.join("clients.conf"), clients_conf).unwrap();
        std::fs::write(dir.join("mods-config/files/authorize"), authorize).unwrap();
        let log = std::fs::File::create(dir.join("radiusd.out")).unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                netns,
                "freeradius",
                "-f",
                "-l",
                "stdout",
                "-d",
            ])
            .arg(&dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start freeradius");
        let server = FreeRadius {
            child,
            dir,
            netns: netns.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = std::fs::read_to_string(server.dir.join("radiusd.out")).unwrap_or_default();
            if out.contains("Ready to process requests") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "FreeRADIUS did not start:\n{out}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// FreeRADIUS's output so far (for failure messages).
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join("radiusd.out")).unwrap_or_default()
    }

    /// Every accounting record the `detail` module wrote, as attribute maps, in order.
    pub fn detail_records(&self) -> Vec<Vec<(String, String)>> {
        let mut files = Vec::new();
        collect_files(&self.dir.join("log/radacct"), &mut files);
        files.sort();
        let mut records = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            // Records are separated by blank lines; the first line of each is a date.
            for block in text.split("\n\n") {
                let attrs: Vec<(String, String)> = block
                    .lines()
                    .skip(1)
                    .filter_map(|l| {
                        let (k, v) = l.trim().split_once(" = ")?;
                        Some((k.to_owned(), v.trim_matches('"').to_owned()))
                    })
                    .collect();
                if !attrs.is_empty() {
                    records.push(attrs);
                }
            }
        }
        records
    }

    /// The detail records whose Acct-Status-Type is `status` (Start, Stop, ...).
    pub fn records_with_status(&self, status: &str) -> Vec<Vec<(String, String)>> {
        self.detail_records()
            .into_iter()
            .filter(|r| attribute(r, "Acct-Status-Type") == status)
            .collect()
    }

    /// The Acct-Terminate-Cause of every Stop record of `user`, in order.
    pub fn stop_causes(&self, user: &str) -> Vec<String> {
        self.records_with_status("Stop")
            .iter()
            .filter(|r| attribute(r, "User-Name") == user)
            .map(|r| attribute(r, "Acct-Terminate-Cause"))
            .collect()
    }

    /// Sends one request with `radclient` from inside the namespace: `kind` is `coa`,
    /// `disconnect`, `auth` or `acct`; `attributes` one per line. Returns radclient's
    /// output and whether it got an ACK.
    pub fn radclient(
        &self,
        target: &str,
        kind: &str,
        secret: &str,
        attributes: &str,
    ) -> (bool, String) {
        use std::io::Write;
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.netns,
                "radclient",
                "-x",
                "-r",
                "2",
                "-t",
                "2",
                target,
                kind,
                secret,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("radclient");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(attributes.as_bytes())
            .unwrap();
        let out = child.wait_with_output().expect("radclient output");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

/// One attribute of a detail record (empty if absent).
pub fn attribute(record: &[(String, String)], key: &str) -> String {
    record
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

impl Drop for FreeRadius {
    fn drop(&mut self) {
        // `ip netns exec` execs FreeRADIUS in place, so this PID is the server's.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

//! A real Prometheus server (Debian package `prometheus`, installed by scripts/test)
//! for the metrics integration test: started in the foreground inside a test's
//! network namespace with a generated configuration and a fresh TSDB directory, and
//! queried over its HTTP API from a thread that enters the same namespace. Stopped by
//! PID (and its directory removed) when dropped, also when the test fails.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Prometheus {
    child: Child,
    dir: PathBuf,
    netns: String,
    addr: SocketAddr,
}

/// Whether `prometheus` and `promtool` are installed here.
pub fn available() -> bool {
    ["prometheus", "promtool"].iter().all(|tool| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// One HTTP/1.0 GET of `path` from `addr`, made from inside `netns` (a thread enters
/// it for the request). Returns the status code and the body (read up to its
/// Content-Length, or until the server closes). Bounded by timeouts.
pub fn http_get(netns: &str, addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let ns = format!("/var/run/netns/{netns}");
    let path = path.to_owned();
    std::thread::spawn(move || -> Result<(u16, String), String> {
        shardvpn::runtime::netns::enter_path(&ns).map_err(|e| format!("setns {ns}: {e}"))?;
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("connect {addr}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        write!(
            s,
            "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| format!("send to {addr}: {e}"))?;
        // Read until the body is complete (Content-Length) or the server closes.
        let mut raw = Vec::new();
        let mut buf = [0u8; 65536];
        for _ in 0..100_000 {
            let n = s
                .read(&mut buf)
                .map_err(|e| format!("read from {addr}{path}: {e}"))?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                let length = head.lines().find_map(|l| {
                    l.strip_prefix("content-length:")
                        .and_then(|v| v.trim().parse::<usize>().ok())
                });
                if length.is_some_and(|len| raw.len() >= end + 4 + len) {
                    break;
                }
            }
        }
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("{addr}{path}: no HTTP header in {text:?}"))?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("{addr}{path}: bad status line in {head:?}"))?;
        Ok((status, body.to_owned()))
    })
    .join()
    .unwrap_or_else(|_| Err("the HTTP thread panicked".into()))
}

/// Percent-encodes `s` for a URL query component (everything but RFC 3986's
/// unreserved characters).
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One sample of an instant query: its labels (as `{a="b", ...}`) and value.
#[derive(Debug, Clone)]
pub struct Sample {
    pub labels: String,
    pub value: String,
}

impl Prometheus {
    /// Starts Prometheus in `netns`, listening on `addr` (an address of that
    /// namespace), with `config` (prometheus.yml text). Waits (bounded) until
    /// `/-/ready` answers 200.
    pub fn start(netns: &str, addr: SocketAddr, config: &str) -> Prometheus {
        let dir = std::env::temp_dir().join(format!(
            "shardvpn-prometheus-{}-{netns}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("prometheus.out")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", netns, "prometheus"])
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let mut server = Prometheus {
            child,
            dir,
            netns: netns.to_owned(),
            addr,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        for _ in 0..300 {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("Prometheus exited ({status}):\n{}", server.output());
            }
            if matches!(server.get("/-/ready"), Ok((200, _))) {
                return server;
            }
            if Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("Prometheus did not become ready:\n{}", server.output());
    }

    /// Prometheus's log so far (for failure messages).
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.out")).unwrap_or_default()
    }

    pub fn get(&self, path: &str) -> Result<(u16, String), String> {
        http_get(&self.netns, self.addr, path)
    }

    /// GETs an API path and returns its `data`, or why not.
    pub fn api(&self, path: &str) -> Result<Value, String> {
        let (status, body) = self.get(path)?;
        let v: Value = serde_json::from_str(&body)
            .map_err(|e| format!("HTTP {status}, not JSON ({e}): {body}"))?;
        if v["status"] != "success" {
            return Err(format!(
                "HTTP {status}: {} {}",
                v["errorType"].as_str().unwrap_or(""),
                v["error"].as_str().unwrap_or(&body)
            ));
        }
        Ok(v["data"].clone())
    }

    /// An instant query at the current time: the samples of a vector result (a
    /// scalar counts as one unlabelled sample).
    pub fn query(&self, expr: &str) -> Result<Vec<Sample>, String> {
        let data = self.api(&format!("/api/v1/query?query={}", urlencode(expr)))?;
        match data["resultType"].as_str() {
            Some("vector") => Ok(data["result"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| Sample {
                            labels: s["metric"].to_string(),
                            value: s["value"][1].as_str().unwrap_or("").to_owned(),
                        })
                        .collect()
                })
                .unwrap_or_default()),
            Some("scalar") | Some("string") => Ok(vec![Sample {
                labels: String::new(),
                value: data["result"][1].as_str().unwrap_or("").to_owned(),
            }]),
            other => Err(format!("unexpected result type {other:?}: {data}")),
        }
    }

    /// The values of `label` over the series `selector` matches (Grafana's
    /// `label_values(selector, label)`).
    pub fn label_values(&self, label: &str, selector: &str) -> Result<Vec<String>, String> {
        let data = self.api(&format!(
            "/api/v1/label/{}/values?match[]={}",
            urlencode(label),
            urlencode(selector)
        ))?;
        Ok(data
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Every loaded rule, as `/api/v1/rules` reports it (with `file` added from its
    /// group).
    pub fn rules(&self) -> Result<Vec<Value>, String> {
        let data = self.api("/api/v1/rules")?;
        let mut out = Vec::new();
        for group in data["groups"].as_array().cloned().unwrap_or_default() {
            for mut rule in group["rules"].as_array().cloned().unwrap_or_default() {
                rule["file"] = group["file"].clone();
                rule["group"] = group["name"].clone();
                out.push(rule);
            }
        }
        Ok(out)
    }

    /// The directory holding the configuration, data and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // `ip netns exec` execs Prometheus in place, so this PID is the server's:
        // SIGTERM for a clean TSDB close, SIGKILL if it has not gone after 10 s.
        stop_child(&mut self.child, Duration::from_secs(10));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Stops `child` by its PID: SIGTERM, a bounded wait, then SIGKILL.
pub fn stop_child(child: &mut Child, grace: Duration) {
    if child.try_wait().ok().flatten().is_some() {
        return;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + grace;
    for _ in 0..(grace.as_millis() / 50 + 1) {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

//! The management socket's protocol (`shardvpn ctl` ⇄ the daemon's control thread).
//!
//! # Protocol
//!
//! A Unix stream socket (`[mgmt] socket`, default `/run/shardvpn/ctl.sock`, mode 0600,
//! owned by the daemon's user: only root talks to it). **One request per connection**:
//! the client writes one JSON object on one line (`\n`-terminated), the daemon answers
//! with one JSON object on one line and closes the connection.
//!
//! Requests ([`Request`]), tagged by `"command"`:
//! ```text
//! {"command":"show-sessions"}
//! {"command":"show-stats"}
//! {"command":"show-pools"}
//! {"command":"terminate","user":"alice"}        exactly one of user / session / ip
//! {"command":"terminate","session":65538}
//! {"command":"terminate","ip":"10.200.0.7"}
//! {"command":"reload"}
//! ```
//! Responses ([`Response`]): `{"ok":true,"result":…}` with the command's result
//! ([`SessionInfo`] list, [`Stats`], [`PoolInfo`] list, [`Terminated`], [`Reloaded`]),
//! or `{"ok":false,"error":"…"}` (an invalid configuration on `reload` gives exactly the
//! lines `shardvpn check-config` prints, joined by `\n`).
//!
//! Requests larger than [`MAX_REQUEST`] are refused. Unknown fields in `terminate` are
//! errors (so a typo cannot terminate the wrong sessions); the other commands have no
//! fields and ignore any.
//!
//! # Session IDs
//!
//! A session's ID is `tunnel_id << 16 | session_id` for L2TP (tunnel IDs are never 0)
//! and the PPTP Call ID for PPTP (its tunnel is `PPTP_ROUTE_TUNNEL` = 0): unique while
//! the session lives, the same number the data plane uses as the subscriber index.
//!
//! This module is sans-IO (types and text formatting); [`client`] does the client's
//! I/O and `control::lns::mgmt` the daemon's.
#![forbid(unsafe_code)]

pub mod client;
pub mod metrics;

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// The longest request line the daemon reads.
pub const MAX_REQUEST: usize = 4096;

/// One request (see the module docs for the wire form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    ShowSessions,
    ShowStats,
    ShowPools,
    Terminate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ip: Option<Ipv4Addr>,
    },
    Reload,
}

/// Which sessions a `terminate` ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every session of this user.
    User(String),
    Session(u32),
    Ip(Ipv4Addr),
}

impl Request {
    /// Parses one request line.
    pub fn parse(line: &[u8]) -> Result<Request, String> {
        serde_json::from_slice(line).map_err(|e| format!("bad request: {e}"))
    }

    /// The request as one line, `\n` included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("requests always serialize");
        line.push('\n');
        line
    }

    /// A `terminate` request's target: exactly one selector.
    pub fn target(
        user: Option<String>,
        session: Option<u32>,
        ip: Option<Ipv4Addr>,
    ) -> Result<Target, String> {
        match (user, session, ip) {
            (Some(u), None, None) => Ok(Target::User(u)),
            (None, Some(s), None) => Ok(Target::Session(s)),
            (None, None, Some(a)) => Ok(Target::Ip(a)),
            _ => Err("terminate needs exactly one of user, session or ip".to_owned()),
        }
    }
}

/// One response line: `{"ok":true,"result":…}` or `{"ok":false,"error":"…"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    pub fn success(result: impl Serialize) -> Response {
        match serde_json::to_value(result) {
            Ok(value) => Response {
                ok: true,
                result: Some(value),
                error: None,
            },
            Err(e) => Response::failure(format!("cannot encode the result: {e}")),
        }
    }

    pub fn failure(error: impl Into<String>) -> Response {
        Response {
            ok: false,
            result: None,
            error: Some(error.into()),
        }
    }

    /// The response as one line, `\n` included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("responses always serialize");
        line.push('\n');
        line
    }

    pub fn parse(line: &[u8]) -> Result<Response, String> {
        serde_json::from_slice(line).map_err(|e| format!("bad response from the daemon: {e}"))
    }
}

/// One session in `show sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// See "Session IDs" in the module docs.
    pub id: u32,
    /// The authenticated user name; `None` before authentication.
    pub user: Option<String>,
    /// `l2tp`, `l2tp-ipsec` or `pptp`.
    pub protocol: String,
    /// The peer's outer address (the LAC, the IPsec client, the PPTP client).
    pub peer: String,
    pub ip: Option<Ipv4Addr>,
    pub shard: u32,
    /// `starting` (LCP, authentication, IPCP) or `up` (IPCP Opened).
    pub state: String,
    /// Seconds since the call was accepted.
    pub uptime_secs: u64,
    /// Counters from the owning shard; `None` when the shard did not answer in time.
    pub rx_packets: Option<u64>,
    pub rx_bytes: Option<u64>,
    /// Only PPTP calls count what they send; L2TP return traffic is encapsulated on
    /// any shard and not counted per session (yet).
    pub tx_packets: Option<u64>,
    pub tx_bytes: Option<u64>,
    /// The session's rate limit (issue 7 item 4; `None` until rate limits exist).
    pub rate_limit: Option<String>,
}

/// One pool in `show pools`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolInfo {
    pub name: String,
    pub size: u32,
    pub used: u32,
    pub available: u32,
    pub reserved: u32,
    pub excluded: u32,
    pub exhausted: u64,
}

/// One shard in `show stats`: totals, then the runtime's own counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub shard: u32,
    pub thread_id: i32,
    pub cpu_ms: u64,
    pub sessions: usize,
    pub calls: usize,
    pub sas: usize,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub drops: u64,
    pub tx_drops: u64,
    pub punts: u64,
    /// `dataplane::counters::Counters` and `runtime::shard::RuntimeCounters` in full.
    pub detail: serde_json::Value,
}

/// `show stats`: the control thread's counters and every shard's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub uptime_secs: u64,
    pub sessions: usize,
    pub tunnels: usize,
    /// `LnsCounters`, `IkeCounters`, `PptpCounters` as objects of named counters.
    pub lns: serde_json::Value,
    pub ike: serde_json::Value,
    pub pptp: serde_json::Value,
    pub shards: Vec<ShardInfo>,
}

/// `terminate`: the sessions whose teardown started (they end once PPP's
/// Terminate-Request is answered or times out, and disappear from `show sessions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terminated {
    pub sessions: Vec<u32>,
}

/// `reload`: what was re-read and applied, and what needs a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reloaded {
    /// The configuration file re-read, or `None` (embedded default: nothing to read).
    pub config_file: Option<String>,
    /// Sections whose changes took effect (for new sessions and tunnels).
    pub applied: Vec<String>,
    /// Sections that changed but keep their running values until a restart.
    pub needs_restart: Vec<String>,
    /// "reloaded", "no users file", or the users file's errors (old users kept).
    pub users: String,
}

// --- human-readable output -------------------------------------------------------------

/// What `shardvpn ctl` prints for `response` to `request`: `--json` prints the result
/// as pretty JSON, else the human-readable text. `Err`: the daemon's error message.
pub fn render(request: &Request, response: &Response, json: bool) -> Result<String, String> {
    if !response.ok {
        return Err(response
            .error
            .clone()
            .unwrap_or_else(|| "the daemon reported an error without a message".to_owned()));
    }
    let result = response.result.clone().unwrap_or_default();
    if json {
        let mut text = serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?;
        text.push('\n');
        return Ok(text);
    }
    let bad = |e: serde_json::Error| format!("unexpected result from the daemon: {e}");
    Ok(match request {
        Request::ShowSessions => {
            format_sessions(&serde_json::from_value::<Vec<SessionInfo>>(result).map_err(bad)?)
        }
        Request::ShowStats => format_stats(&serde_json::from_value(result).map_err(bad)?),
        Request::ShowPools => {
            format_pools(&serde_json::from_value::<Vec<PoolInfo>>(result).map_err(bad)?)
        }
        Request::Terminate { .. } => {
            let t: Terminated = serde_json::from_value(result).map_err(bad)?;
            let ids: Vec<String> = t.sessions.iter().map(ToString::to_string).collect();
            format!(
                "terminating {} session(s): {}\n",
                t.sessions.len(),
                ids.join(" ")
            )
        }
        Request::Reload => format_reloaded(&serde_json::from_value(result).map_err(bad)?),
    })
}

/// A column-aligned table: a header and rows of cells.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let _ = write!(text, "{cell:<w$}", w = widths[i]);
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// `3d04h`, `2h05m`, `4m07s`, `12s`.
pub fn format_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// The `show sessions` table.
pub fn format_sessions(sessions: &[SessionInfo]) -> String {
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                s.user.clone().unwrap_or_else(|| "-".to_owned()),
                s.protocol.clone(),
                s.peer.clone(),
                opt(s.ip),
                s.shard.to_string(),
                s.state.clone(),
                format_duration(s.uptime_secs),
                opt(s.rx_packets),
                opt(s.rx_bytes),
                opt(s.tx_packets),
                opt(s.tx_bytes),
                s.rate_limit.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "ID", "USER", "PROTO", "PEER", "IP", "SHARD", "STATE", "UPTIME", "RX-PKTS", "RX-BYTES",
            "TX-PKTS", "TX-BYTES", "RATE",
        ],
        &rows,
    );
    let _ = writeln!(out, "{} session(s)", sessions.len());
    out
}

/// The `show pools` table.
pub fn format_pools(pools: &[PoolInfo]) -> String {
    let rows: Vec<Vec<String>> = pools
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.size.to_string(),
                p.used.to_string(),
                p.available.to_string(),
                p.reserved.to_string(),
                p.excluded.to_string(),
                p.exhausted.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "POOL",
            "SIZE",
            "USED",
            "AVAILABLE",
            "RESERVED",
            "EXCLUDED",
            "EXHAUSTED",
        ],
        &rows,
    )
}

/// The named counters of a JSON object as `name value` lines, indented.
fn counter_lines(out: &mut String, title: &str, object: &serde_json::Value) {
    let _ = writeln!(out, "{title}:");
    if let Some(map) = object.as_object() {
        let width = map.keys().map(String::len).max().unwrap_or(0);
        for (name, value) in map {
            let _ = writeln!(out, "  {name:<width$}  {value}");
        }
    }
}

/// The `show stats` text.
pub fn format_stats(stats: &Stats) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "uptime {}, {} session(s), {} L2TP tunnel(s)",
        format_duration(stats.uptime_secs),
        stats.sessions,
        stats.tunnels
    );
    counter_lines(&mut out, "l2tp", &stats.lns);
    counter_lines(&mut out, "ike", &stats.ike);
    counter_lines(&mut out, "pptp", &stats.pptp);
    let rows: Vec<Vec<String>> = stats
        .shards
        .iter()
        .map(|s| {
            vec![
                s.shard.to_string(),
                s.thread_id.to_string(),
                s.cpu_ms.to_string(),
                s.sessions.to_string(),
                s.calls.to_string(),
                s.sas.to_string(),
                s.rx_packets.to_string(),
                s.rx_bytes.to_string(),
                s.tx_packets.to_string(),
                s.tx_bytes.to_string(),
                s.drops.to_string(),
                s.tx_drops.to_string(),
                s.punts.to_string(),
            ]
        })
        .collect();
    out.push_str("shards:\n");
    out.push_str(&table(
        &[
            "SHARD", "TID", "CPU-MS", "SESSIONS", "CALLS", "SAS", "RX-PKTS", "RX-BYTES", "TX-PKTS",
            "TX-BYTES", "DROPS", "TX-DROPS", "PUNTS",
        ],
        &rows,
    ));
    out
}

/// The `reload` text.
pub fn format_reloaded(r: &Reloaded) -> String {
    let mut out = String::new();
    match &r.config_file {
        Some(file) => {
            let _ = writeln!(out, "configuration {file} re-read");
        }
        None => out.push_str("no configuration file (embedded default): nothing re-read\n"),
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };
    let _ = writeln!(out, "applied: {}", list(&r.applied));
    let _ = writeln!(out, "changed, needs a restart: {}", list(&r.needs_restart));
    let _ = writeln!(out, "users: {}", r.users);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let all = [
            Request::ShowSessions,
            Request::ShowStats,
            Request::ShowPools,
            Request::Reload,
            Request::Terminate {
                user: Some("alice".into()),
                session: None,
                ip: None,
            },
            Request::Terminate {
                user: None,
                session: Some(65538),
                ip: None,
            },
            Request::Terminate {
                user: None,
                session: None,
                ip: Some(Ipv4Addr::new(10, 200, 0, 7)),
            },
        ];
        for request in all {
            let line = request.to_line();
            assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
            assert_eq!(Request::parse(line.as_bytes()), Ok(request));
        }
    }

    #[test]
    fn request_wire_form_is_documented_form() {
        assert_eq!(
            Request::parse(br#"{"command":"show-sessions"}"#),
            Ok(Request::ShowSessions)
        );
        assert_eq!(
            Request::parse(br#"{"command":"terminate","ip":"10.200.0.7"}"#),
            Ok(Request::Terminate {
                user: None,
                session: None,
                ip: Some(Ipv4Addr::new(10, 200, 0, 7))
            })
        );
        assert_eq!(
            Request::ShowPools.to_line(),
            "{\"command\":\"show-pools\"}\n"
        );
    }

    #[test]
    fn bad_requests_are_errors() {
        for bad in [
            &b""[..],
            b"{",
            b"{}",
            br#"{"command":"halt"}"#,
            br#"{"command":"terminate","usr":"x"}"#,
            br#"{"command":"terminate","ip":"10.1"}"#,
        ] {
            assert!(
                Request::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn terminate_needs_exactly_one_target() {
        assert_eq!(
            Request::target(Some("a".into()), None, None),
            Ok(Target::User("a".into()))
        );
        assert_eq!(Request::target(None, Some(7), None), Ok(Target::Session(7)));
        assert!(Request::target(None, None, None).is_err());
        assert!(Request::target(Some("a".into()), Some(7), None).is_err());
    }

    #[test]
    fn responses_round_trip() {
        let ok = Response::success(Terminated {
            sessions: vec![1, 2],
        });
        let line = ok.to_line();
        assert_eq!(line, "{\"ok\":true,\"result\":{\"sessions\":[1,2]}}\n");
        assert_eq!(Response::parse(line.as_bytes()), Ok(ok));
        let err =
            Response::failure("t.toml:3: limits.max_sessions: must be between 1 and 16000000");
        assert_eq!(Response::parse(err.to_line().as_bytes()), Ok(err));
        assert!(Response::parse(b"garbage").is_err());
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(59), "59s");
        assert_eq!(format_duration(61), "1m01s");
        assert_eq!(format_duration(3600 + 300), "1h05m");
        assert_eq!(format_duration(3 * 86400 + 4 * 3600), "3d04h");
    }

    #[test]
    fn sessions_table_aligns_columns() {
        let s = SessionInfo {
            id: 65538,
            user: Some("alice".into()),
            protocol: "l2tp".into(),
            peer: "192.0.2.1:1701".into(),
            ip: Some(Ipv4Addr::new(10, 200, 0, 2)),
            shard: 1,
            state: "up".into(),
            uptime_secs: 65,
            rx_packets: Some(10),
            rx_bytes: Some(840),
            tx_packets: None,
            tx_bytes: None,
            rate_limit: None,
        };
        let text = format_sessions(&[s]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("ID     USER   PROTO  PEER"));
        assert!(lines[1].starts_with("65538  alice  l2tp   192.0.2.1:1701  10.200.0.2  1"));
        assert!(lines[1].contains("1m05s"));
        assert_eq!(lines[2], "1 session(s)");
    }
}

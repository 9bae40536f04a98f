//! The management socket on the control thread (`shardvpn ctl`; the protocol is in
//! [`crate::mgmt`]).
//!
//! The listener and its connections are non-blocking and polled from the serve loop
//! with every other fd ([`Lns::mgmt_fds`], [`Lns::mgmt_service`]). One request per
//! connection; the answer is written with a short blocking timeout (the client is a
//! local root process that reads at once), then the connection is closed.
//!
//! - `show sessions` needs the shards' counters: a `Command::ReportCounters` goes to
//!   every shard, each answers with one `ToControl::Counters`, and the response is
//!   written when all have answered or after [`COUNTERS_TIMEOUT`] (then the sessions
//!   of silent shards show no counters). The session list itself is read when the
//!   response is written, so it is current.
//! - `terminate` closes PPP with `CloseReason::Admin` (LCP Terminate-Request); the
//!   session then ends by the path every ending takes (`PppEvent::Closed` → CDN or
//!   Call-Disconnect-Notify → `release_session`), once the client acknowledges or the
//!   Terminate-Request times out. A call without PPP yet (ICRP sent, no ICCN) is
//!   closed at once with a CDN (result 3, administrative).
//! - `reload` re-reads the configuration file and the users file, all or nothing:
//!   an invalid configuration is refused with the `check-config` lines, an invalid
//!   users file with its errors, and nothing changes. What applies live: `[limits]` (admission of new calls), `[ppp]` (new sessions'
//!   PPP), `[l2tp]` (new tunnels; `enabled` and `lac_addresses` at once), and the
//!   users (new authentications; static addresses reserved in the pools), except
//!   `ppp.local_address` (on the TUN device since startup). Everything else (`[dataplane]`, `[listen]`, `[aaa]`, `[ike]`, `[pptp]`, `[mgmt]`,
//!   `[[pool]]`: sockets, threads, the TUN routes and the pools' allocations) is
//!   reported as needing a restart and keeps its running value. Existing sessions
//!   keep running either way. SIGHUP does the same reload and logs the outcome.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Lns, Sub, cdn, l2tp_config, ppp_config};
use crate::config::Config;
use crate::dataplane::pptp::PPTP_ROUTE_TUNNEL;
use crate::dataplane::tables::{Command, SessionCounters, SessionKey};
use crate::mgmt::{
    MAX_REQUEST, PoolInfo, Reloaded, Request, Response, SessionInfo, ShardInfo, Stats, Target,
    Terminated,
};
use crate::proto::ppp::CloseReason;
use crate::runtime::ctl_socket::CtlListener;

/// How long `show sessions` waits for the shards' counters.
pub const COUNTERS_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long writing a response may block the control thread.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections open at once; more are closed at once.
const MAX_CONNECTIONS: usize = 32;

/// The management socket's state on the control thread.
pub(super) struct Mgmt {
    listener: Option<CtlListener>,
    conns: Vec<MgmtConn>,
    next_token: u64,
    /// The file `reload` re-reads; `None`: the embedded default.
    config_path: Option<PathBuf>,
    /// What the file said for the running configuration (before the demo key is
    /// added), so `reload` compares file with file.
    file_config: Config,
    started: Instant,
}

impl Mgmt {
    pub(super) fn new(config: &Config) -> Mgmt {
        Mgmt {
            listener: None,
            conns: Vec::new(),
            next_token: 1,
            config_path: None,
            file_config: config.clone(),
            started: Instant::now(),
        }
    }
}

struct MgmtConn {
    stream: UnixStream,
    input: Vec<u8>,
    opened: Instant,
    /// A `show sessions` waiting for the shards' counters.
    waiting: Option<Waiting>,
    done: bool,
}

struct Waiting {
    token: u64,
    shards_left: u32,
    deadline: Instant,
    counters: HashMap<SessionKey, SessionCounters>,
}

/// A session's ID as `ctl` shows it (see `crate::mgmt`, "Session IDs").
fn session_id(tid: u16, sid: u16) -> u32 {
    u32::from(tid) << 16 | u32::from(sid)
}

fn session_key(id: u32) -> SessionKey {
    ((id >> 16) as u16, id as u16)
}

/// The session's rate limit, for `show sessions`.
fn session_rate_limit(sub: &Sub) -> Option<String> {
    super::ratelimit::session_rate(sub)
}

impl Lns {
    /// Serves `shardvpn ctl` on `listener` (from `runtime::ctl_socket::bind`, made
    /// before the data plane starts so that a second daemon is refused early).
    /// `config_path` is what `reload` re-reads, `file_config` what it said at start.
    pub fn set_management(
        &mut self,
        listener: Option<CtlListener>,
        config_path: Option<PathBuf>,
        file_config: Config,
    ) {
        self.mgmt.listener = listener;
        self.mgmt.config_path = config_path;
        self.mgmt.file_config = file_config;
    }

    /// The fds to poll for the management socket, in the order
    /// [`Lns::mgmt_service`] reads their readiness.
    pub(super) fn mgmt_fds(&self, fds: &mut Vec<RawFd>) {
        if let Some(l) = &self.mgmt.listener {
            fds.push(l.listener.as_raw_fd());
            fds.extend(self.mgmt.conns.iter().map(|c| c.stream.as_raw_fd()));
        }
    }

    /// Accepts, reads requests, answers, expires; `ready` as [`Lns::mgmt_fds`] listed.
    /// Called on every loop iteration (also for the deadlines).
    pub(super) fn mgmt_service(&mut self, now: Instant, ready: &[bool]) {
        if self.mgmt.listener.is_none() {
            return;
        }
        let mut conns = std::mem::take(&mut self.mgmt.conns);
        for (i, conn) in conns.iter_mut().enumerate() {
            if ready.get(i + 1) == Some(&true) && conn.waiting.is_none() {
                self.mgmt_read(now, conn);
            }
            let expired = conn.waiting.as_ref().is_some_and(|w| now >= w.deadline);
            if expired {
                self.mgmt_answer_sessions(now, conn);
            }
            if !conn.done && conn.waiting.is_none() && now >= conn.opened + REQUEST_TIMEOUT {
                respond(conn, &Response::failure("no request in time"));
            }
        }
        if ready.first() == Some(&true)
            && let Some(listener) = &self.mgmt.listener
        {
            for _ in 0..MAX_CONNECTIONS {
                match listener.listener.accept() {
                    Ok((stream, _)) => {
                        if conns.len() >= MAX_CONNECTIONS || stream.set_nonblocking(true).is_err() {
                            continue;
                        }
                        conns.push(MgmtConn {
                            stream,
                            input: Vec::new(),
                            opened: now,
                            waiting: None,
                            done: false,
                        });
                    }
                    Err(_) => break,
                }
            }
        }
        conns.retain(|c| !c.done);
        self.mgmt.conns = conns;
    }

    /// A shard's answer to `Command::ReportCounters`.
    pub(super) fn mgmt_counters(&mut self, token: u64, sessions: Vec<SessionCounters>) {
        let mut conns = std::mem::take(&mut self.mgmt.conns);
        if let Some(conn) = conns
            .iter_mut()
            .find(|c| c.waiting.as_ref().is_some_and(|w| w.token == token))
        {
            let w = conn.waiting.as_mut().expect("found by its waiting token");
            w.counters.extend(sessions.into_iter().map(|c| (c.key, c)));
            w.shards_left = w.shards_left.saturating_sub(1);
            if w.shards_left == 0 {
                self.mgmt_answer_sessions(Instant::now(), conn);
            }
        }
        conns.retain(|c| !c.done);
        self.mgmt.conns = conns;
    }

    fn mgmt_read(&mut self, now: Instant, conn: &mut MgmtConn) {
        let mut buf = [0u8; 1024];
        let eof = loop {
            match conn.stream.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => {
                    conn.input.extend_from_slice(&buf[..n]);
                    if conn.input.len() > MAX_REQUEST {
                        respond(conn, &Response::failure("request too long"));
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break false,
            }
        };
        let line = match conn.input.iter().position(|&b| b == b'\n') {
            Some(end) => conn.input[..end].to_vec(),
            None if eof && !conn.input.is_empty() => std::mem::take(&mut conn.input),
            None if eof => {
                conn.done = true;
                return;
            }
            None => return,
        };
        let request = match Request::parse(&line) {
            Ok(r) => r,
            Err(e) => {
                respond(conn, &Response::failure(e));
                return;
            }
        };
        let response = match request {
            Request::ShowSessions => {
                let token = self.mgmt.next_token;
                self.mgmt.next_token += 1;
                self.prog
                    .broadcast(&self.dp, || Command::ReportCounters { token });
                conn.waiting = Some(Waiting {
                    token,
                    shards_left: self.dp.shard_map().shards(),
                    deadline: now + COUNTERS_TIMEOUT,
                    counters: HashMap::new(),
                });
                return;
            }
            Request::ShowStats => Response::success(self.mgmt_stats(now)),
            Request::ShowPools => Response::success(self.mgmt_pools()),
            Request::Terminate { user, session, ip } => match Request::target(user, session, ip) {
                Ok(target) => self.mgmt_terminate(now, &target),
                Err(e) => Response::failure(e),
            },
            Request::Reload => match self.reload_configuration() {
                Ok(r) => Response::success(r),
                Err(e) => Response::failure(e),
            },
        };
        respond(conn, &response);
    }

    fn mgmt_answer_sessions(&mut self, now: Instant, conn: &mut MgmtConn) {
        let Some(w) = conn.waiting.take() else {
            return;
        };
        let sessions = self.session_infos(now, &w.counters);
        respond(conn, &Response::success(sessions));
    }

    /// Every session (L2TP, L2TP/IPsec, PPTP), ordered by ID.
    fn session_infos(
        &self,
        now: Instant,
        counters: &HashMap<SessionKey, SessionCounters>,
    ) -> Vec<SessionInfo> {
        let mut out = Vec::with_capacity(self.active);
        let info = |tid: u16, sid: u16, sub: &Sub, protocol: &str, peer: String| {
            let c = counters.get(&(tid, sid));
            SessionInfo {
                id: session_id(tid, sid),
                user: sub.user.as_deref().map(str::to_owned),
                protocol: protocol.to_owned(),
                peer,
                ip: sub.address,
                shard: sub.shard,
                state: if sub.starting {
                    "starting"
                } else if sub.routed {
                    "up"
                } else {
                    "closing"
                }
                .to_owned(),
                uptime_secs: now.saturating_duration_since(sub.accepted).as_secs(),
                rx_packets: c.map(|c| c.rx_packets),
                rx_bytes: c.map(|c| c.rx_bytes),
                tx_packets: c
                    .and_then(|c| c.tx.map(|t| t.0))
                    .or_else(|| sub.tx.as_ref().map(|t| t.get().0)),
                tx_bytes: c
                    .and_then(|c| c.tx.map(|t| t.1))
                    .or_else(|| sub.tx.as_ref().map(|t| t.get().1)),
                rate_limit: session_rate_limit(sub),
            }
        };
        for (&tid, t) in &self.tunnels {
            let (protocol, peer) = match t.esp.and_then(|c| self.conns.get(&c)) {
                Some(conn) => ("l2tp-ipsec", conn.peer),
                None => ("l2tp", t.peer),
            };
            for (&sid, sub) in &t.sessions {
                out.push(info(tid, sid, sub, protocol, peer.to_string()));
            }
        }
        if let Some(p) = &self.pptp {
            for (&call_id, call) in &p.calls {
                let peer = self
                    .pptp_peer(call.conn)
                    .map_or_else(|| "-".to_owned(), |a: SocketAddr| a.to_string());
                out.push(info(PPTP_ROUTE_TUNNEL, call_id, &call.sub, "pptp", peer));
            }
        }
        out.sort_by_key(|s| s.id);
        out
    }

    fn mgmt_stats(&self, now: Instant) -> Stats {
        let value = |v: serde_json::Result<serde_json::Value>| v.unwrap_or_default();
        let shards = (0..self.dp.shard_map().shards())
            .filter_map(|i| {
                let s = self.dp.stats(i)?;
                let p = &s.packets;
                let sum = |a: &[u64]| a.iter().fold(0u64, |x, y| x.wrapping_add(*y));
                Some(ShardInfo {
                    shard: i,
                    thread_id: s.tid,
                    cpu_ms: s.cpu_ns / 1_000_000,
                    sessions: s.session_count,
                    calls: s.call_count,
                    sas: s.sa_count,
                    rx_packets: sum(&p.rx_packets),
                    rx_bytes: sum(&p.rx_bytes),
                    tx_packets: sum(&p.tx_packets),
                    tx_bytes: sum(&p.tx_bytes),
                    drops: sum(&p.drops),
                    tx_drops: sum(&p.tx_drops),
                    punts: sum(&p.punts),
                    detail: serde_json::json!({
                        // Indexed by the enums of `dataplane::counters`.
                        "rx_packets": p.rx_packets.to_vec(),
                        "rx_bytes": p.rx_bytes.to_vec(),
                        "drops": p.drops.to_vec(),
                        "punts": p.punts.to_vec(),
                        "tx_packets": p.tx_packets.to_vec(),
                        "tx_bytes": p.tx_bytes.to_vec(),
                        "tx_drops": p.tx_drops.to_vec(),
                        "events": p.events.to_vec(),
                        "runtime": value(serde_json::to_value(&s.runtime)),
                    }),
                })
            })
            .collect();
        Stats {
            uptime_secs: now.saturating_duration_since(self.mgmt.started).as_secs(),
            sessions: self.active,
            tunnels: self.tunnels.len(),
            lns: value(serde_json::to_value(&self.counters)),
            ike: value(serde_json::to_value(&self.ike_counters)),
            pptp: value(serde_json::to_value(&self.pptp_counters)),
            shards,
        }
    }

    fn mgmt_pools(&self) -> Vec<PoolInfo> {
        self.pools
            .iter()
            .map(|(_, p)| {
                let c = p.counters();
                PoolInfo {
                    name: p.name().to_owned(),
                    size: c.size,
                    used: c.used,
                    available: c.available,
                    reserved: c.reserved,
                    excluded: c.excluded,
                    exhausted: c.exhausted,
                }
            })
            .collect()
    }

    /// Every session's key with its user and address.
    fn session_keys(&self) -> Vec<(SessionKey, Option<&str>, Option<Ipv4Addr>)> {
        let mut out: Vec<_> = self
            .tunnels
            .iter()
            .flat_map(|(&tid, t)| {
                t.sessions
                    .iter()
                    .map(move |(&sid, s)| ((tid, sid), s.user.as_deref(), s.address))
            })
            .collect();
        if let Some(p) = &self.pptp {
            out.extend(p.calls.iter().map(|(&id, c)| {
                (
                    (PPTP_ROUTE_TUNNEL, id),
                    c.sub.user.as_deref(),
                    c.sub.address,
                )
            }));
        }
        out
    }

    fn mgmt_terminate(&mut self, now: Instant, target: &Target) -> Response {
        let keys: Vec<SessionKey> = self
            .session_keys()
            .into_iter()
            .filter(|(key, user, ip)| match target {
                Target::User(name) => *user == Some(name.as_str()),
                Target::Session(id) => *key == session_key(*id),
                Target::Ip(addr) => *ip == Some(*addr),
            })
            .map(|(key, _, _)| key)
            .collect();
        if keys.is_empty() {
            return Response::failure(match target {
                Target::User(name) => format!("no session of user {name}"),
                Target::Session(id) => format!("no session {id}"),
                Target::Ip(addr) => format!("no session with address {addr}"),
            });
        }
        for &(tid, sid) in &keys {
            eprintln!(
                "shardvpn: session {} terminated by the administrator",
                session_id(tid, sid)
            );
            self.terminate_session(now, tid, sid);
        }
        Response::success(Terminated {
            sessions: keys.iter().map(|&(t, s)| session_id(t, s)).collect(),
        })
    }

    /// Ends one session for the administrator (see the module docs).
    ///
    /// Accounting hook (issue 7 item 2, the RADIUS engine): the Stop record is sent
    /// from `release_session` like every other ending; its Acct-Terminate-Cause is
    /// Admin-Reset (RFC 2866 §5.10, value 6) for `CloseReason::Admin`.
    pub(super) fn terminate_session(&mut self, now: Instant, tid: u16, sid: u16) {
        if let Some(ppp) = self.sub_mut(tid, sid).and_then(|s| s.ppp.as_mut()) {
            ppp.close(now, CloseReason::Admin);
            self.service_ppp(now, tid, sid);
            return;
        }
        // No PPP yet: nothing to terminate but the call itself.
        if tid == PPTP_ROUTE_TUNNEL {
            self.pptp_call_closed(now, sid, CloseReason::Admin);
        } else {
            if let Some(t) = self.tunnels.get_mut(&tid) {
                t.engine.close_session(now, sid, cdn::ADMIN);
            }
            self.release_session(tid, sid);
            self.service_tunnel(now, tid);
        }
    }

    /// SIGHUP: the same as `shardvpn ctl reload`, the outcome in the log.
    pub(super) fn reload(&mut self) {
        match self.reload_configuration() {
            Ok(r) => {
                for line in crate::mgmt::format_reloaded(&r).lines() {
                    eprintln!("shardvpn: reload: {line}");
                }
            }
            Err(e) => {
                for line in e.lines() {
                    eprintln!("shardvpn: reload refused: {line}");
                }
            }
        }
    }

    /// Re-reads the configuration and users files and applies what can change live
    /// (see the module docs); all or nothing.
    pub fn reload_configuration(&mut self) -> Result<Reloaded, String> {
        let new = match &self.mgmt.config_path {
            Some(path) => Some(Config::load(path).map_err(|errors| errors.to_string())?),
            None => None,
        };
        let had_users = self.config.aaa.users_file().is_some();
        self.auth.reload().map_err(|errors| {
            format!("users file not reloaded (old users and configuration kept):\n{errors}")
        })?;
        self.pools
            .reserve_static(self.auth.users().static_addresses());
        let users = if had_users {
            "reloaded"
        } else {
            "no users file"
        };
        let mut applied = Vec::new();
        let mut needs_restart = Vec::new();
        if let Some(new) = &new {
            let file = &mut self.mgmt.file_config;
            let mut running = (*self.config).clone();
            if new.limits != file.limits {
                running.limits = new.limits.clone();
                file.limits = new.limits.clone();
                applied.push("limits".to_owned());
            }
            // Our PPP-side address is on the TUN device since startup.
            let mut ppp = new.ppp.clone();
            if ppp.local_address != file.ppp.local_address {
                ppp.local_address = file.ppp.local_address;
                needs_restart.push("ppp.local_address".to_owned());
            }
            if ppp != file.ppp {
                running.ppp = ppp.clone();
                file.ppp = ppp;
                applied.push("ppp".to_owned());
            }
            if new.l2tp != file.l2tp {
                running.l2tp = new.l2tp.clone();
                file.l2tp = new.l2tp.clone();
                applied.push("l2tp".to_owned());
            }
            let restart = [
                ("dataplane", new.dataplane != file.dataplane),
                ("listen", new.listen != file.listen),
                ("aaa", new.aaa != file.aaa),
                ("ike", new.ike != file.ike),
                ("pptp", new.pptp != file.pptp),
                ("radius", new.radius != file.radius),
                ("mgmt", new.mgmt != file.mgmt),
                ("metrics", new.metrics != file.metrics),
                ("pool", new.pool != file.pool),
            ];
            needs_restart.extend(
                restart
                    .iter()
                    .filter(|(_, changed)| *changed)
                    .map(|(name, _)| (*name).to_owned()),
            );
            if !applied.is_empty() {
                self.config = Arc::new(running);
                self.ppp_config = Arc::new(ppp_config(&self.config));
                self.l2tp_config = l2tp_config(&self.config);
                let pptp_ppp = super::pptp::pptp_ppp_config(&self.config, &self.ppp_config);
                if let Some(p) = self.pptp.as_mut() {
                    p.ppp_config = Arc::new(pptp_ppp);
                }
            }
        }
        Ok(Reloaded {
            config_file: self
                .mgmt
                .config_path
                .as_ref()
                .map(|p| p.display().to_string()),
            applied,
            needs_restart,
            users: users.to_owned(),
        })
    }
}

/// Writes `response` (blocking, bounded by [`WRITE_TIMEOUT`]) and ends the connection.
fn respond(conn: &mut MgmtConn, response: &Response) {
    conn.done = true;
    let _ = conn.stream.set_nonblocking(false);
    let _ = conn.stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let _ = conn.stream.write_all(response.to_line().as_bytes());
    let _ = conn.stream.shutdown(std::net::Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_round_trip() {
        assert_eq!(session_id(1, 2), 65538);
        assert_eq!(session_key(65538), (1, 2));
        // PPTP: the Call ID itself.
        assert_eq!(session_id(PPTP_ROUTE_TUNNEL, 7), 7);
        assert_eq!(session_key(7), (PPTP_ROUTE_TUNNEL, 7));
    }
}

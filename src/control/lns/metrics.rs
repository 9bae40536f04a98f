//! The control thread's metrics (deploy/METRICS.md): events counted as they happen
//! (sessions started, established, ended by cause, refused; setup latency;
//! authentications; RADIUS latencies and DAE answers), and gauges plus the existing
//! counter structs (`LnsCounters`, `IkeCounters`, `PptpCounters`, the RADIUS and L2TP
//! engines' counters) published at most once per [`PUBLISH_INTERVAL`].
//!
//! Handles are registered once and kept, so an event costs an atomic add, not a
//! registry lookup. Without a recorder (tests, embedders) every handle is a no-op.

use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram};

use super::Lns;
use crate::proto::ppp::CloseReason;

/// How often gauges and absolute counters are refreshed (scrapes are usually
/// 15 s apart; a second is fresh enough and costs one walk over the sessions).
const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// The `protocol` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Proto {
    L2tp = 0,
    L2tpIpsec = 1,
    Pptp = 2,
}

const PROTOS: [&str; 3] = ["l2tp", "l2tp_ipsec", "pptp"];

/// The `cause` label of `shardvpn_sessions_ended_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cause {
    Close(CloseReason),
    SetupTimeout,
    Shutdown,
}

const CAUSES: [&str; 16] = [
    "peer_terminated",
    "auth_failed",
    "auth_timeout",
    "echo_timeout",
    "negotiation_failed",
    "looped_back",
    "no_network_protocols",
    "no_address",
    "session_timeout",
    "idle_timeout",
    "admin",
    "lower_layer_down",
    "encryption_required",
    "setup_timeout",
    "shutdown",
    "unknown",
];

impl Cause {
    /// How a session ended: a shutdown wins, then what PPP said, else its lower
    /// layer went away (CDN, StopCCN, Call-Clear, the IPsec client gone).
    pub(super) fn of(reason: Option<CloseReason>, timed_out: bool, shutting_down: bool) -> Cause {
        if shutting_down {
            Cause::Shutdown
        } else if timed_out {
            Cause::SetupTimeout
        } else {
            Cause::Close(reason.unwrap_or(CloseReason::LowerLayerDown))
        }
    }

    fn index(self) -> usize {
        match self {
            Cause::Close(r) => match r {
                CloseReason::PeerTerminated => 0,
                CloseReason::AuthFailed => 1,
                CloseReason::AuthTimeout => 2,
                CloseReason::EchoTimeout => 3,
                CloseReason::NegotiationFailed => 4,
                CloseReason::LoopedBack => 5,
                CloseReason::NoNetworkProtocols => 6,
                CloseReason::NoAddress => 7,
                CloseReason::SessionTimeout => 8,
                CloseReason::IdleTimeout => 9,
                CloseReason::Admin => 10,
                CloseReason::LowerLayerDown => 11,
                CloseReason::EncryptionRequired => 12,
                #[allow(unreachable_patterns)]
                _ => 15,
            },
            Cause::SetupTimeout => 13,
            Cause::Shutdown => 14,
        }
    }
}

/// The `reason` label of `shardvpn_sessions_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    Limit = 0,
    StartingLimit = 1,
    TunnelLimit = 2,
    /// PPTP over IPv6 (GRE is read from a raw IPv4 socket).
    NotAllowed = 3,
}

const REFUSALS: [&str; 4] = ["limit", "starting_limit", "tunnel_limit", "not_allowed"];

/// The `backend` label of `shardvpn_auth_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Backend {
    Local = 0,
    Radius = 1,
}

/// The `result` label of `shardvpn_auth_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AuthResult {
    Accept = 0,
    Reject = 1,
    Timeout = 2,
}

fn per<const N: usize, T>(f: impl Fn(usize) -> T) -> [T; N] {
    std::array::from_fn(f)
}

/// A RADIUS server's handles (its `server` label is `address:port`).
struct RadiusServer {
    requests: Counter,
    retransmissions: Counter,
    timeouts: Counter,
    responses: Counter,
    latency: Histogram,
    up: Gauge,
}

impl RadiusServer {
    fn new(label: String) -> RadiusServer {
        RadiusServer {
            requests: metrics::counter!("shardvpn_radius_requests_total", "server" => label.clone()),
            retransmissions: metrics::counter!(
                "shardvpn_radius_retransmissions_total", "server" => label.clone()
            ),
            timeouts: metrics::counter!("shardvpn_radius_timeouts_total", "server" => label.clone()),
            responses: metrics::counter!(
                "shardvpn_radius_responses_total", "server" => label.clone()
            ),
            latency: metrics::histogram!(
                "shardvpn_radius_response_seconds", "server" => label.clone()
            ),
            up: metrics::gauge!("shardvpn_radius_server_up", "server" => label),
        }
    }
}

/// Every handle the control thread records into.
pub(super) struct ControlMetrics {
    sessions: [[Gauge; 2]; 3],
    started: [Counter; 3],
    established: [Counter; 3],
    ended: [[Counter; CAUSES.len()]; 3],
    refused: [[Counter; REFUSALS.len()]; 3],
    setup: [Histogram; 3],
    auth: [[Counter; 3]; 2],
    l2tp_tunnels: [Gauge; 2],
    l2tp_opened: Counter,
    l2tp_closed: Counter,
    l2tp_retransmissions: Counter,
    l2tp_queue: Gauge,
    l2tp_errors: [Counter; 3],
    ike_exchanges: [Counter; 2],
    ike_failures: [Counter; 6],
    ike_sas: [Gauge; 2],
    ike_events: [Counter; 3],
    pptp_connections: Gauge,
    pptp_connections_total: [Counter; 2],
    pptp_mppe_up: Counter,
    /// Auth servers, then accounting servers (built at the first publish).
    radius: Vec<RadiusServer>,
    radius_queue: Gauge,
    radius_errors: [Counter; 4],
    dae: [[Counter; 2]; 2],
    pools: Vec<(Gauge, Gauge)>,
    /// Shard → control messages waiting, and control → shard commands not yet
    /// queued (both grow when the control thread falls behind, as in a storm).
    control_queues: [Gauge; 2],
    next_publish: Option<Instant>,
    /// Retransmissions of tunnels already gone (their engines' counters went with
    /// them; the exported counter must never go down).
    pub(super) l2tp_retransmissions_closed: u64,
}

impl ControlMetrics {
    pub(super) fn new() -> ControlMetrics {
        let proto_counter =
            |name: &'static str| per(|p| metrics::counter!(name, "protocol" => PROTOS[p]));
        ControlMetrics {
            sessions: per(|p| {
                per(|s| {
                    metrics::gauge!(
                        "shardvpn_sessions",
                        "protocol" => PROTOS[p],
                        "state" => ["starting", "active"][s]
                    )
                })
            }),
            started: proto_counter("shardvpn_sessions_started_total"),
            established: proto_counter("shardvpn_sessions_established_total"),
            ended: per(|p| {
                per(|c| {
                    metrics::counter!(
                        "shardvpn_sessions_ended_total",
                        "protocol" => PROTOS[p],
                        "cause" => CAUSES[c]
                    )
                })
            }),
            refused: per(|p| {
                per(|r| {
                    metrics::counter!(
                        "shardvpn_sessions_refused_total",
                        "protocol" => PROTOS[p],
                        "reason" => REFUSALS[r]
                    )
                })
            }),
            setup: per(
                |p| metrics::histogram!("shardvpn_session_setup_seconds", "protocol" => PROTOS[p]),
            ),
            auth: per(|b| {
                per(|r| {
                    metrics::counter!(
                        "shardvpn_auth_total",
                        "backend" => ["local", "radius"][b],
                        "result" => ["accept", "reject", "timeout"][r]
                    )
                })
            }),
            l2tp_tunnels: per(
                |s| metrics::gauge!("shardvpn_l2tp_tunnels", "state" => ["starting", "established"][s]),
            ),
            l2tp_opened: metrics::counter!("shardvpn_l2tp_tunnels_opened_total"),
            l2tp_closed: metrics::counter!("shardvpn_l2tp_tunnels_closed_total"),
            l2tp_retransmissions: metrics::counter!("shardvpn_l2tp_retransmissions_total"),
            l2tp_queue: metrics::gauge!("shardvpn_l2tp_control_queue_depth"),
            l2tp_errors: per(|r| {
                metrics::counter!(
                    "shardvpn_l2tp_errors_total",
                    "reason" => ["malformed", "wrong_peer", "not_allowed"][r]
                )
            }),
            ike_exchanges: per(|e| {
                metrics::counter!(
                    "shardvpn_ike_exchanges_total",
                    "exchange" => ["main_mode", "quick_mode"][e]
                )
            }),
            ike_failures: per(|r| {
                metrics::counter!(
                    "shardvpn_ike_failures_total",
                    "reason" => [
                        "negotiation", "auth", "half_open_limit", "malformed", "unknown_sa",
                        "dead_peer",
                    ][r]
                )
            }),
            ike_sas: per(|k| metrics::gauge!("shardvpn_ike_sas", "kind" => ["isakmp", "ipsec"][k])),
            ike_events: per(|e| {
                metrics::counter!(
                    "shardvpn_ike_events_total",
                    "event" => ["child_down", "replaced", "nat_rebinding"][e]
                )
            }),
            pptp_connections: metrics::gauge!("shardvpn_pptp_connections"),
            pptp_connections_total: per(|r| {
                metrics::counter!(
                    "shardvpn_pptp_connections_total",
                    "result" => ["accepted", "refused"][r]
                )
            }),
            pptp_mppe_up: metrics::counter!("shardvpn_pptp_mppe_up_total"),
            radius: Vec::new(),
            radius_queue: metrics::gauge!("shardvpn_radius_accounting_queue"),
            radius_errors: per(|r| {
                metrics::counter!(
                    "shardvpn_radius_errors_total",
                    "reason" => ["bad_authenticator", "unknown_id", "malformed", "acct_dropped"][r]
                )
            }),
            dae: per(|k| {
                per(|r| {
                    metrics::counter!(
                        "shardvpn_radius_dae_total",
                        "kind" => ["disconnect", "coa"][k],
                        "result" => ["ack", "nak"][r]
                    )
                })
            }),
            pools: Vec::new(),
            control_queues: per(|q| {
                metrics::gauge!(
                    "shardvpn_control_queue_depth",
                    "queue" => ["inbox", "commands"][q]
                )
            }),
            next_publish: None,
            l2tp_retransmissions_closed: 0,
        }
    }

    pub(super) fn started(&self, proto: Proto) {
        self.started[proto as usize].increment(1);
    }

    /// A session reached IPCP Opened, `setup` after its first message.
    pub(super) fn established(&self, proto: Proto, setup: Duration) {
        self.established[proto as usize].increment(1);
        self.setup[proto as usize].record(setup.as_secs_f64());
    }

    pub(super) fn ended(&self, proto: Proto, cause: Cause) {
        self.ended[proto as usize][cause.index()].increment(1);
    }

    pub(super) fn refused(&self, proto: Proto, why: Refusal) {
        self.refused[proto as usize][why as usize].increment(1);
    }

    pub(super) fn auth(&self, backend: Backend, result: AuthResult) {
        self.auth[backend as usize][result as usize].increment(1);
    }

    /// A Dynamic Authorization request answered (`coa`: else Disconnect).
    pub(super) fn dae(&self, coa: bool, ack: bool) {
        self.dae[usize::from(coa)][usize::from(!ack)].increment(1);
    }
}

impl Lns {
    /// The protocol of L2TP tunnel `tid` (PPTP calls live under tunnel 0).
    pub(super) fn proto_of(&self, tid: u16) -> Proto {
        if tid == crate::dataplane::pptp::PPTP_ROUTE_TUNNEL {
            Proto::Pptp
        } else if self.tunnels.get(&tid).is_some_and(|t| t.esp.is_some()) {
            Proto::L2tpIpsec
        } else {
            Proto::L2tp
        }
    }

    /// Where a session's setup time starts: the IPsec client's first Main Mode for
    /// L2TP/IPsec, else the call's acceptance (`accepted`).
    pub(super) fn setup_started(&self, tid: u16, accepted: Instant) -> Instant {
        self.tunnels
            .get(&tid)
            .and_then(|t| t.esp)
            .and_then(|c| self.conns.get(&c))
            .map_or(accepted, |c| c.started.min(accepted))
    }

    /// Refreshes gauges and absolute counters when [`PUBLISH_INTERVAL`] has passed.
    pub(super) fn publish_metrics(&mut self, now: Instant) {
        if self.metrics.next_publish.is_some_and(|t| now < t) {
            return;
        }
        self.metrics.next_publish = Some(now + PUBLISH_INTERVAL);
        let m = &mut self.metrics;

        let mut sessions = [[0u64; 2]; 3];
        let mut tunnels = [0u64; 2];
        let (mut queue, mut retransmissions) = (0usize, m.l2tp_retransmissions_closed);
        for t in self.tunnels.values() {
            let proto = if t.esp.is_some() {
                Proto::L2tpIpsec
            } else {
                Proto::L2tp
            };
            for sub in t.sessions.values() {
                sessions[proto as usize][usize::from(!sub.starting)] += 1;
            }
            tunnels[usize::from(t.up)] += 1;
            queue += t.engine.queue_depth();
            retransmissions += t.engine.counters().retransmissions;
        }
        if let Some(p) = &self.pptp {
            for call in p.calls.values() {
                sessions[Proto::Pptp as usize][usize::from(!call.sub.starting)] += 1;
            }
            m.pptp_connections.set(p.connection_count() as f64);
        }
        for (gauges, counts) in m.sessions.iter().zip(sessions) {
            for (g, n) in gauges.iter().zip(counts) {
                g.set(n as f64);
            }
        }
        for (g, n) in m.l2tp_tunnels.iter().zip(tunnels) {
            g.set(n as f64);
        }
        m.l2tp_queue.set(queue as f64);
        m.control_queues[0].set(self.dp.inbox_depth() as f64);
        m.control_queues[1].set(self.prog.pending() as f64);
        m.l2tp_retransmissions.absolute(retransmissions);

        let c = &self.counters;
        m.l2tp_opened.absolute(c.tunnels_opened);
        m.l2tp_closed.absolute(c.tunnels_closed);
        for (h, v) in m
            .l2tp_errors
            .iter()
            .zip([c.malformed, c.wrong_peer, c.plain_refused])
        {
            h.absolute(v);
        }

        let ike = &self.ike_counters;
        m.ike_exchanges[0].absolute(ike.phase1_up);
        m.ike_exchanges[1].absolute(ike.children_up);
        for (h, v) in m.ike_failures.iter().zip([
            ike.phase1_failed.saturating_sub(ike.auth_failures),
            ike.auth_failures,
            ike.half_open_refused,
            ike.malformed,
            ike.unknown_sa,
            ike.dead_peers,
        ]) {
            h.absolute(v);
        }
        m.ike_sas[0].set(self.ike.len() as f64);
        let pairs: usize = self.conns.values().map(|c| c.children.len()).sum();
        m.ike_sas[1].set(pairs as f64);
        for (h, v) in m
            .ike_events
            .iter()
            .zip([ike.children_down, ike.replaced, ike.nat_rebindings])
        {
            h.absolute(v);
        }

        let pc = &self.pptp_counters;
        m.pptp_connections_total[0].absolute(pc.connections_accepted);
        m.pptp_connections_total[1].absolute(pc.connections_refused);
        m.pptp_mppe_up.absolute(pc.mppe_up);

        if m.pools.len() != self.pools.len() {
            m.pools = self
                .pools
                .iter()
                .map(|(_, pool)| {
                    let name = pool.name().to_owned();
                    (
                        metrics::gauge!("shardvpn_pool_addresses", "pool" => name.clone()),
                        metrics::gauge!("shardvpn_pool_addresses_used", "pool" => name),
                    )
                })
                .collect();
        }
        for ((size, used), (_, pool)) in m.pools.iter().zip(self.pools.iter()) {
            let c = pool.counters();
            // What can ever be handed out: the local address is not.
            size.set(f64::from(c.size.saturating_sub(c.excluded)));
            used.set(f64::from(c.used));
        }

        if let Some(r) = self.radius.as_mut() {
            let rc = r.engine.counters();
            if m.radius.is_empty() {
                let label = |s: &crate::proto::radius::client::ServerCounters| {
                    s.addr
                        .map_or_else(|| "unknown".to_owned(), |a| a.to_string())
                };
                m.radius = rc
                    .auth_servers
                    .iter()
                    .chain(&rc.acct_servers)
                    .map(|s| RadiusServer::new(label(s)))
                    .collect();
            }
            let n_auth = rc.auth_servers.len();
            for (i, s) in rc.auth_servers.iter().chain(&rc.acct_servers).enumerate() {
                let Some(h) = m.radius.get(i) else { break };
                h.requests.absolute(s.requests);
                h.retransmissions.absolute(s.retransmissions);
                h.timeouts.absolute(s.timeouts);
                h.responses.absolute(s.responses);
                let (acct, index) = if i < n_auth {
                    (false, i)
                } else {
                    (true, i - n_auth)
                };
                h.up.set(if r.engine.server_alive(acct, index) {
                    1.0
                } else {
                    0.0
                });
            }
            for (h, v) in m.radius_errors.iter().zip([
                rc.bad_authenticators,
                rc.unknown_ids,
                rc.malformed,
                rc.acct_dropped_interim + rc.acct_refused,
            ]) {
                h.absolute(v);
            }
            m.radius_queue.set(r.engine.pending_accounting() as f64);
            let radius = &m.radius;
            r.engine.take_latencies(|s| {
                let i = if s.accounting {
                    n_auth + s.server
                } else {
                    s.server
                };
                if let Some(h) = radius.get(i) {
                    h.latency.record(s.latency.as_secs_f64());
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_have_distinct_labels() {
        let all = [
            CloseReason::PeerTerminated,
            CloseReason::AuthFailed,
            CloseReason::AuthTimeout,
            CloseReason::EchoTimeout,
            CloseReason::NegotiationFailed,
            CloseReason::LoopedBack,
            CloseReason::NoNetworkProtocols,
            CloseReason::NoAddress,
            CloseReason::SessionTimeout,
            CloseReason::IdleTimeout,
            CloseReason::Admin,
            CloseReason::LowerLayerDown,
            CloseReason::EncryptionRequired,
        ];
        let mut seen = std::collections::HashSet::new();
        for r in all {
            assert!(seen.insert(Cause::Close(r).index()), "{r:?}");
        }
        assert!(seen.insert(Cause::SetupTimeout.index()));
        assert!(seen.insert(Cause::Shutdown.index()));
        assert_eq!(CAUSES[Cause::Close(CloseReason::Admin).index()], "admin");
        assert_eq!(
            CAUSES[Cause::of(None, false, false).index()],
            "lower_layer_down"
        );
        assert_eq!(
            CAUSES[Cause::of(Some(CloseReason::Admin), false, true).index()],
            "shutdown"
        );
        assert_eq!(
            CAUSES[Cause::of(None, true, false).index()],
            "setup_timeout"
        );
    }
}

//! L2TP/IPsec on the control thread: IKEv1 (`proto::ike`) on UDP 500/4500, the ESP SAs
//! it negotiates installed on the data plane, and the L2TP tunnel that runs inside them.
//!
//! # A remote-access client's life
//! 1. Main Mode on 500 (4500 after the NAT-T float) → an [`IkeSa`] responder, keyed by
//!    the initiator cookie. Half-open negotiations are limited per source address and
//!    globally (`ike.max_half_open_per_address`, `ike.max_half_open`); refusals are
//!    counted and logged once per address and burst.
//! 2. Phase 1 up → a [`Conn`]: the client, by its outer address and port (several
//!    clients behind one NAT differ by port, and each gets its own Conn, SAs and
//!    tunnel). The Conn picks the least loaded shard and reserves the local L2TP
//!    tunnel ID its tunnel will have, so the inbound SA can be bound to that tunnel
//!    from the start (the data plane refuses data for another tunnel under it).
//!    INITIAL-CONTACT closes older Conns of the same identity from the same address.
//! 3. Quick Mode → the inbound SA, with an SPI that steers to the Conn's shard, is
//!    installed there; the outbound SA becomes the Conn's current one (and the
//!    tunnel's, on a rekey: `SetTunnelSa`, before the old inbound SA goes, so nothing
//!    is lost).
//! 4. L2TP inside ESP: control messages are punted with their SPI, which names the
//!    Conn; the SCCRQ gets the reserved tunnel ID; everything the LNS sends to the
//!    tunnel (L2TP control, PPP control) is sealed with the Conn's outbound SA and sent
//!    as ESP-in-UDP from 4500 or as raw ESP. Sessions of the tunnel live on the Conn's
//!    shard and require ESP.
//! 5. The end, whichever comes first: the client deletes its SAs or its ISAKMP SA
//!    (without a newer ISAKMP SA to take the children over), DPD declares it dead,
//!    or its L2TP tunnel ends (StopCCN, HELLO timeout: the only liveness check for
//!    clients without DPD, such as Windows). Each tears down everything: PPP, L2TP,
//!    SAs, the ISAKMP SAs (with Delete notifications while they can still be sent),
//!    the address.
//!
//! Logs name peers by address and phase-1 ID; the PSK and keys never appear.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use super::{Key, Lns};
use crate::dataplane::tables::{Command, EspEncap, InboundSa, OutboundSa};
use crate::proto::ike::{self, CloseReason, Env, Event, Identity, IkeSa, Transmit};
use crate::wire::isakmp;

/// One ISAKMP SA and the client it belongs to (once phase 1 is up).
pub(super) struct IkeSlot {
    /// Boxed: the table holds tens of thousands and grows by doubling, so its slots
    /// should be small.
    pub sa: Box<IkeSa>,
    pub conn: Option<u32>,
    /// Counted in the half-open limits until phase 1 is up or the SA ends.
    pub half_open: bool,
    /// When its Main Mode began (a subscriber's setup time starts here).
    pub started: Instant,
    /// Inbound SPIs handed to the engine and not installed (yet): given back when
    /// the SA ends, so failed Quick Modes do not leak them.
    pub allocated: Vec<u32>,
}

/// One remote-access client: its SAs and its L2TP tunnel.
pub(super) struct Conn {
    pub peer: SocketAddr,
    pub encap: bool,
    pub shard: u32,
    /// The local tunnel ID reserved for the client's L2TP tunnel.
    pub tunnel_id: u16,
    pub peer_id: Identity,
    /// Initiator cookies of the ISAKMP SAs of this client (the newest last).
    pub ike: Vec<[u8; 8]>,
    /// (inbound SPI, outbound SA, confirmed) of each live pair, the newest last.
    pub children: Vec<(u32, Arc<OutboundSa>, bool)>,
    /// The client's L2TP port inside ESP (from its SCCRQ; 1701 until then).
    pub l2tp_port: u16,
    /// When its first Main Mode began.
    pub started: Instant,
}

impl Conn {
    /// The SA to send under: the newest confirmed pair's.
    pub fn out(&self) -> Option<&Arc<OutboundSa>> {
        self.children
            .iter()
            .rev()
            .find(|(_, _, ready)| *ready)
            .map(|(_, o, _)| o)
    }
}

/// Counters of the IKE side (the metrics issue exports them).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IkeCounters {
    pub phase1_up: u64,
    pub phase1_failed: u64,
    pub auth_failures: u64,
    pub children_up: u64,
    pub children_down: u64,
    pub half_open_refused: u64,
    pub malformed: u64,
    pub dead_peers: u64,
    pub legacy_proposals: u64,
    /// IKE messages for an ISAKMP SA we do not have.
    pub unknown_sa: u64,
    /// Clients torn down (for any reason).
    pub clients_gone: u64,
    /// Clients replaced by a new negotiation with INITIAL-CONTACT.
    pub replaced: u64,
    /// Clients whose NAT mapping moved (seen by the data plane).
    pub nat_rebindings: u64,
    /// L2TP arriving inside an SA the control thread does not know (raced a teardown).
    pub unknown_spi: u64,
    pub seal_failures: u64,
}

/// A fresh SPI owned by `shard` (RFC 4303 §2.1: 1..=255 are reserved).
fn allocate_spi(
    rng: &ring::rand::SystemRandom,
    map: crate::dataplane::steering::ShardMap,
    shard: u32,
    in_use: &std::collections::HashSet<u32>,
) -> u32 {
    use ring::rand::SecureRandom;
    loop {
        let mut b = [0u8; 4];
        rng.fill(&mut b)
            .expect("the OS random number generator failed");
        let candidate = u32::from_be_bytes(b);
        if let Some(spi) = map.next_owned(candidate, shard)
            && spi >= 256
            && !in_use.contains(&spi)
        {
            return spi;
        }
    }
}

impl Lns {
    /// Our address as IKE peers see it: the configured listen address (the
    /// unspecified address makes every peer look NATed, which only costs the UDP
    /// encapsulation of ESP; see the README).
    fn ike_local(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.config.listen.address, port)
    }

    /// Runs `f` with an [`Env`] whose SPIs steer to `shard`; the SPIs it hands out
    /// are remembered by the ISAKMP SA `cky` until installed or the SA ends.
    fn with_env<R>(
        &mut self,
        shard: u32,
        cky: Option<[u8; 8]>,
        f: impl FnOnce(&mut Self, &mut Env<'_>) -> R,
    ) -> R {
        let rng = ring::rand::SystemRandom::new();
        let map = self.dp.shard_map();
        let mut spis = std::mem::take(&mut self.spis);
        let mut handed = Vec::new();
        let r = {
            let mut fill = super::fill_random(&rng);
            let mut spi = || {
                let s = allocate_spi(&rng, map, shard, &spis);
                spis.insert(s);
                handed.push(s);
                s
            };
            let mut env = Env {
                rng: &mut fill,
                spi: &mut spi,
            };
            f(self, &mut env)
        };
        self.spis.extend(spis);
        match cky.and_then(|c| self.ike.get_mut(&c)) {
            Some(slot) => slot.allocated.extend(handed),
            None => {
                for s in handed {
                    self.spis.remove(&s);
                }
            }
        }
        r
    }

    /// One IKE datagram (`encap`: it came on the NAT-T port, marker stripped).
    pub(super) fn on_ike(&mut self, now: Instant, from: SocketAddr, encap: bool, bytes: &[u8]) {
        if bytes.len() < isakmp::HEADER_LEN {
            self.ike_counters.malformed += 1;
            return;
        }
        let mut cky_i = [0u8; 8];
        cky_i.copy_from_slice(&bytes[..8]);
        let local = self.ike_local(if encap {
            self.config.listen.nat_t_port
        } else {
            self.config.listen.ike_port
        });
        if let Some(slot) = self.ike.get(&cky_i) {
            let shard = slot
                .conn
                .and_then(|c| self.conns.get(&c))
                .map_or(0, |c| c.shard);
            self.with_env(shard, Some(cky_i), |lns, env| {
                if let Some(slot) = lns.ike.get_mut(&cky_i) {
                    slot.sa.handle_message(now, local, from, encap, bytes, env);
                }
            });
            self.service_ike(now, cky_i);
            return;
        }
        if bytes[8..16] != [0; 8] {
            // For an ISAKMP SA we no longer have (a late Delete, a retransmission after
            // a teardown) or never had.
            self.ike_counters.unknown_sa += 1;
            return;
        }
        if !self.config.ike.enabled {
            return;
        }
        // A new negotiation: admission first.
        let per_addr = self.half_open.get(&from.ip()).copied().unwrap_or(0);
        let total: u32 = self.half_open.values().sum();
        if per_addr >= self.config.ike.max_half_open_per_address
            || total >= self.config.ike.max_half_open
        {
            self.ike_counters.half_open_refused += 1;
            if self.ike_counters.half_open_refused.is_power_of_two() {
                eprintln!(
                    "shardvpn: IKE from {from} refused: too many negotiations in progress \
                     ({per_addr} from this address, {total} in all; {} refused so far)",
                    self.ike_counters.half_open_refused
                );
            }
            return;
        }
        let policy = Arc::clone(&self.ike_policy);
        let made = self.with_env(0, None, |_, env| {
            IkeSa::respond(now, policy, local, from, encap, bytes, env)
        });
        match made {
            Ok(sa) => {
                *self.half_open.entry(from.ip()).or_insert(0) += 1;
                self.ike.insert(
                    cky_i,
                    IkeSlot {
                        sa: Box::new(sa),
                        conn: None,
                        half_open: true,
                        started: now,
                        allocated: Vec::new(),
                    },
                );
                self.service_ike(now, cky_i);
            }
            Err(_) => self.ike_counters.malformed += 1,
        }
    }

    fn send_ike(&self, t: &Transmit) {
        let socks = self.dp.control_sockets();
        if t.encap {
            let mut b = Vec::with_capacity(t.bytes.len() + 4);
            b.extend_from_slice(&[0, 0, 0, 0]);
            b.extend_from_slice(&t.bytes);
            let _ = socks.nat_t.send_to(&b, t.to);
        } else {
            let _ = socks.ike.send_to(&t.bytes, t.to);
        }
    }

    fn half_open_done(&mut self, cky: [u8; 8]) {
        let Some(slot) = self.ike.get_mut(&cky) else {
            return;
        };
        if !std::mem::replace(&mut slot.half_open, false) {
            return;
        }
        let ip = slot.sa.peer().ip();
        if let Some(n) = self.half_open.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.half_open.remove(&ip);
            }
        }
    }

    /// Sends what an ISAKMP SA has to send and acts on its events.
    pub(super) fn service_ike(&mut self, now: Instant, cky: [u8; 8]) {
        loop {
            let Some(slot) = self.ike.get_mut(&cky) else {
                return;
            };
            let mut out = Vec::new();
            while let Some(t) = slot.sa.poll_transmit() {
                out.push(t);
            }
            let event = slot.sa.poll_event();
            for t in &out {
                self.send_ike(t);
            }
            match event {
                Some(e) => self.on_ike_event(now, cky, e),
                None => break,
            }
        }
        let Some(slot) = self.ike.get(&cky) else {
            return;
        };
        if slot.sa.is_closed() {
            self.half_open_done(cky);
            if let Some(slot) = self.ike.remove(&cky) {
                for spi in slot.allocated {
                    self.spis.remove(&spi);
                }
            }
            return;
        }
        if let Some(when) = slot.sa.poll_timeout() {
            self.timers.schedule(when, Key::Ike(cky));
        }
    }

    pub(super) fn ike_timer(&mut self, now: Instant, cky: [u8; 8]) {
        let Some(slot) = self.ike.get(&cky) else {
            return;
        };
        if slot.sa.poll_timeout().is_none_or(|w| w > now) {
            return;
        }
        let shard = slot
            .conn
            .and_then(|c| self.conns.get(&c))
            .map_or(0, |c| c.shard);
        self.with_env(shard, Some(cky), |lns, env| {
            if let Some(slot) = lns.ike.get_mut(&cky) {
                slot.sa.handle_timeout(now, env);
            }
        });
        self.service_ike(now, cky);
    }

    fn on_ike_event(&mut self, now: Instant, cky: [u8; 8], event: Event) {
        match event {
            Event::Phase1Up {
                peer_id,
                initial_contact,
                nat_detected,
                proposal,
            } => self.on_phase1_up(now, cky, peer_id, initial_contact, nat_detected, proposal),
            Event::ChildUp(child) => self.on_child_up(now, cky, child),
            Event::ChildReady { inbound_spi } => self.on_child_ready(inbound_spi),
            Event::ChildDown {
                inbound_spi,
                outbound_spi,
            } => self.on_child_down(now, inbound_spi, outbound_spi),
            Event::PeerMoved { peer, encap } => self.on_peer_moved(cky, peer, encap),
            Event::Closed { reason } => self.on_ike_closed(now, cky, reason),
        }
    }

    fn on_phase1_up(
        &mut self,
        now: Instant,
        cky: [u8; 8],
        peer_id: Identity,
        initial_contact: bool,
        nat_detected: bool,
        proposal: ike::Phase1Proposal,
    ) {
        self.half_open_done(cky);
        self.ike_counters.phase1_up += 1;
        let Some(peer) = self.ike.get(&cky).map(|s| s.sa.peer()) else {
            return;
        };
        let legacy = proposal.is_legacy();
        if legacy {
            self.ike_counters.legacy_proposals += 1;
        }
        eprintln!(
            "shardvpn: IKE SA up with {peer} (ID {peer_id}): {proposal}{}{}",
            if nat_detected { ", behind NAT" } else { "" },
            if legacy {
                " — a legacy proposal (ike.legacy)"
            } else {
                ""
            }
        );
        if initial_contact {
            // RFC 2407 §4.6.3.3: the peer has no other SAs with us; older ones of the
            // same identity from the same address are stale (a rebooted client).
            let stale: Vec<u32> = self
                .conns
                .iter()
                .filter(|(_, c)| c.peer_id == peer_id && c.peer.ip() == peer.ip())
                .map(|(id, _)| *id)
                .collect();
            for id in stale {
                self.ike_counters.replaced += 1;
                self.close_conn(now, id, "replaced (INITIAL-CONTACT from a new negotiation)");
            }
        }
        // A phase-1 rekey from the same address and port joins the existing client.
        let existing = self
            .conns
            .iter()
            .find(|(_, c)| c.peer == peer && c.peer_id == peer_id)
            .map(|(id, _)| *id);
        let conn_id = match existing {
            Some(id) => id,
            None => {
                let Some(tunnel_id) = self.tunnel_ids.allocate() else {
                    eprintln!("shardvpn: refusing {peer}: all 65535 tunnel IDs in use");
                    self.close_ike(now, cky);
                    return;
                };
                let id = self.next_conn;
                self.next_conn = self.next_conn.wrapping_add(1);
                let shard = self.load.pick();
                let encap = self.ike.get(&cky).is_some_and(|s| s.sa.encap());
                let started = self.ike.get(&cky).map_or(now, |s| s.started);
                self.conns.insert(
                    id,
                    Conn {
                        peer,
                        encap,
                        shard,
                        tunnel_id,
                        peer_id,
                        ike: Vec::new(),
                        children: Vec::new(),
                        l2tp_port: 1701,
                        started,
                    },
                );
                id
            }
        };
        if let Some(c) = self.conns.get_mut(&conn_id) {
            c.ike.push(cky);
        }
        if let Some(slot) = self.ike.get_mut(&cky) {
            slot.conn = Some(conn_id);
        }
    }

    fn on_child_up(&mut self, now: Instant, cky: [u8; 8], child: ike::ChildSa) {
        let Some(conn_id) = self.ike.get(&cky).and_then(|s| s.conn) else {
            return;
        };
        let Some(c) = self.conns.get_mut(&conn_id) else {
            return;
        };
        let (inbound, outbound) = match (child.inbound_transform(), child.outbound_transform()) {
            (Ok(i), Ok(o)) => (i, o),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("shardvpn: ESP SA for {} not installed: {e}", c.peer);
                return;
            }
        };
        self.ike_counters.children_up += 1;
        if let Some(slot) = self.ike.get_mut(&cky) {
            slot.allocated.retain(|s| *s != child.inbound_spi);
        }
        let Some(c) = self.conns.get_mut(&conn_id) else {
            return;
        };
        c.peer = child.peer;
        c.encap = child.encap;
        let shard = c.shard;
        let tunnel_id = c.tunnel_id;
        let out = Arc::new(OutboundSa::new(child.outbound_spi, outbound));
        c.children
            .push((child.inbound_spi, Arc::clone(&out), child.ready));
        let sa = Box::new(InboundSa::new(inbound, tunnel_id, conn_id, child.peer));
        self.prog.send(
            &self.dp,
            shard,
            Command::InstallSa {
                spi: child.inbound_spi,
                sa,
            },
        );
        self.conn_by_spi.insert(child.inbound_spi, conn_id);
        // A rekey of a running tunnel: send under the new SA from now on (the
        // responder's pair once it is confirmed, `on_child_ready`).
        if child.ready && self.tunnels.get(&tunnel_id).is_some_and(|t| t.up) {
            self.prog.broadcast(&self.dp, || Command::SetTunnelSa {
                tunnel: tunnel_id,
                sa: Arc::clone(&out),
            });
        }
        let _ = now;
    }

    fn on_child_ready(&mut self, inbound_spi: u32) {
        let Some(conn_id) = self.conn_by_spi.get(&inbound_spi).copied() else {
            return;
        };
        let Some(c) = self.conns.get_mut(&conn_id) else {
            return;
        };
        let Some(entry) = c.children.iter_mut().find(|(i, _, _)| *i == inbound_spi) else {
            return;
        };
        entry.2 = true;
        let tunnel_id = c.tunnel_id;
        if let Some(out) = c.out().cloned()
            && self.tunnels.get(&tunnel_id).is_some_and(|t| t.up)
        {
            self.prog.broadcast(&self.dp, || Command::SetTunnelSa {
                tunnel: tunnel_id,
                sa: Arc::clone(&out),
            });
        }
    }

    fn on_child_down(&mut self, now: Instant, inbound_spi: u32, outbound_spi: u32) {
        self.spis.remove(&inbound_spi);
        let Some(conn_id) = self.conn_by_spi.remove(&inbound_spi) else {
            return;
        };
        self.ike_counters.children_down += 1;
        let Some(c) = self.conns.get_mut(&conn_id) else {
            return;
        };
        let was_current = c.out().is_some_and(|o| o.spi == outbound_spi);
        c.children.retain(|(i, _, _)| *i != inbound_spi);
        let (shard, tunnel_id) = (c.shard, c.tunnel_id);
        let next = c.out().cloned();
        let any_left = !c.children.is_empty();
        self.prog
            .send(&self.dp, shard, Command::RemoveSa { spi: inbound_spi });
        match next {
            _ if !any_left => self.close_conn(now, conn_id, "its ESP SAs were deleted"),
            Some(out) if was_current && self.tunnels.get(&tunnel_id).is_some_and(|t| t.up) => {
                self.prog.broadcast(&self.dp, || Command::SetTunnelSa {
                    tunnel: tunnel_id,
                    sa: Arc::clone(&out),
                });
            }
            // A pending pair left, or nothing changed for sending.
            _ => {}
        }
    }

    fn on_peer_moved(&mut self, cky: [u8; 8], peer: SocketAddr, encap: bool) {
        let Some(conn_id) = self.ike.get(&cky).and_then(|s| s.conn) else {
            return;
        };
        let Some(c) = self.conns.get_mut(&conn_id) else {
            return;
        };
        if c.peer == peer && c.encap == encap {
            return;
        }
        c.peer = peer;
        c.encap = encap;
        let tid = c.tunnel_id;
        self.move_tunnel_peer(tid, peer);
        self.install_esp_tunnel(tid);
    }

    /// A shard saw the newest authenticated ESP of SA `spi` from `peer` (NAT
    /// rebinding): every shard sends there from now on, and IKE follows.
    pub(super) fn on_esp_peer_moved(&mut self, spi: u32, peer: SocketAddr) {
        let Some(conn_id) = self.conn_by_spi.get(&spi).copied() else {
            return;
        };
        let Some(c) = self.conns.get_mut(&conn_id) else {
            return;
        };
        if !c.encap || c.peer == peer {
            return;
        }
        self.ike_counters.nat_rebindings += 1;
        eprintln!(
            "shardvpn: L2TP/IPsec client {} (ID {}) moved to {peer} (NAT rebinding)",
            c.peer, c.peer_id
        );
        c.peer = peer;
        let tid = c.tunnel_id;
        for cky in c.ike.clone() {
            if let Some(slot) = self.ike.get_mut(&cky) {
                slot.sa.peer_moved(peer);
            }
        }
        if self.move_tunnel_peer(tid, peer) {
            self.prog
                .broadcast(&self.dp, || Command::UpdatePeer { tunnel: tid, peer });
        }
    }

    /// Moves a tunnel's peer (and its SCCRQ-retransmission key); true if it is up.
    fn move_tunnel_peer(&mut self, tid: u16, peer: SocketAddr) -> bool {
        let Some(t) = self.tunnels.get_mut(&tid) else {
            return false;
        };
        if self.by_peer.remove(&(t.peer, t.peer_tunnel)).is_some() {
            self.by_peer.insert((peer, t.peer_tunnel), tid);
        }
        t.peer = peer;
        t.up
    }

    fn on_ike_closed(&mut self, now: Instant, cky: [u8; 8], reason: CloseReason) {
        let Some(slot) = self.ike.get_mut(&cky) else {
            return;
        };
        let peer = slot.sa.peer();
        let conn = slot.conn;
        let children = slot.sa.take_children();
        match reason {
            CloseReason::AuthenticationFailed => {
                self.ike_counters.auth_failures += 1;
                self.ike_counters.phase1_failed += 1;
                eprintln!(
                    "shardvpn: IKE from {peer}: authentication failed (wrong pre-shared key, \
                     or no [[ike.peer]] for this client and no default ike.psk)"
                );
            }
            CloseReason::NoProposalChosen | CloseReason::Timeout | CloseReason::PeerRefused(_)
                if conn.is_none() =>
            {
                self.ike_counters.phase1_failed += 1;
                eprintln!("shardvpn: IKE from {peer}: {reason}");
            }
            CloseReason::DeadPeer => {
                self.ike_counters.dead_peers += 1;
                eprintln!("shardvpn: IKE peer {peer} is dead (DPD): tearing its session down");
            }
            CloseReason::Local => {}
            _ => eprintln!("shardvpn: IKE SA with {peer} ended: {reason}"),
        }
        let Some(conn_id) = conn else {
            return;
        };
        let Some(c) = self.conns.get_mut(&conn_id) else {
            return;
        };
        c.ike.retain(|k| *k != cky);
        // A newer ISAKMP SA of the same client takes the children over (phase-1 rekey).
        let successor = c
            .ike
            .iter()
            .rev()
            .find(|k| self.ike.get(*k).is_some_and(|s| s.sa.is_established()))
            .copied();
        match successor {
            Some(newer) if reason != CloseReason::DeadPeer => {
                if let Some(s) = self.ike.get_mut(&newer) {
                    s.sa.adopt(children);
                }
            }
            _ => {
                if reason != CloseReason::Local {
                    self.close_conn(now, conn_id, &format!("ISAKMP SA {reason}"));
                }
            }
        }
    }

    /// Closes one ISAKMP SA (Delete notifications while it can still send them).
    fn close_ike(&mut self, now: Instant, cky: [u8; 8]) {
        if !self.ike.contains_key(&cky) {
            return;
        }
        self.with_env(0, Some(cky), |lns, env| {
            if let Some(slot) = lns.ike.get_mut(&cky) {
                slot.sa.close(now, env);
            }
        });
        self.service_ike(now, cky);
    }

    /// Tears a client down: its L2TP tunnel (and sessions), SAs and ISAKMP SAs.
    /// `why` ends the log line.
    pub(super) fn close_conn(&mut self, now: Instant, conn_id: u32, why: &str) {
        let Some(c) = self.conns.remove(&conn_id) else {
            return;
        };
        self.ike_counters.clients_gone += 1;
        eprintln!(
            "shardvpn: L2TP/IPsec client {} (ID {}) gone: {why}",
            c.peer, c.peer_id
        );
        if self.tunnels.contains_key(&c.tunnel_id) {
            self.release_tunnel(c.tunnel_id);
        }
        self.tunnel_ids.release(c.tunnel_id);
        for (spi, _, _) in &c.children {
            self.conn_by_spi.remove(spi);
            self.spis.remove(spi);
            self.prog
                .send(&self.dp, c.shard, Command::RemoveSa { spi: *spi });
        }
        for cky in c.ike {
            if let Some(slot) = self.ike.get_mut(&cky) {
                slot.conn = None;
            }
            self.close_ike(now, cky);
        }
    }

    /// (Re)installs the transmit state of a Conn's tunnel on every shard.
    pub(super) fn install_esp_tunnel(&mut self, tid: u16) {
        let Some(t) = self.tunnels.get(&tid) else {
            return;
        };
        if !t.up {
            return;
        }
        let Some(c) = t.esp.and_then(|id| self.conns.get(&id)) else {
            return;
        };
        let Some(sa) = c.out().cloned() else {
            return;
        };
        let esp = EspEncap {
            sa,
            local: self.config.listen.address,
            inner_src_port: crate::wire::l2tp::UDP_PORT,
            inner_dst_port: c.l2tp_port,
        };
        let (encap, peer) = if c.encap {
            (crate::dataplane::tables::Encap::EspUdp(esp), c.peer)
        } else {
            (
                crate::dataplane::tables::Encap::EspRaw(esp),
                SocketAddr::new(c.peer.ip(), 0),
            )
        };
        let tunnel = crate::dataplane::tables::TunnelTx {
            peer,
            peer_tunnel_id: t.peer_tunnel,
            encap,
        };
        self.prog.broadcast(&self.dp, || Command::InstallTunnel {
            id: tid,
            tunnel: tunnel.clone(),
        });
    }

    /// Sends an L2TP message to a tunnel inside its Conn's current outbound SA.
    pub(super) fn send_esp(&mut self, conn_id: u32, msg: &[u8]) {
        let Some(c) = self.conns.get(&conn_id) else {
            return;
        };
        let Some(out) = c.out() else {
            return;
        };
        let sealed = crate::dataplane::tx::seal_udp_transport(
            out,
            self.config.listen.address,
            c.peer.ip(),
            crate::wire::l2tp::UDP_PORT,
            c.l2tp_port,
            msg,
        );
        let Ok(packet) = sealed else {
            self.ike_counters.seal_failures += 1;
            return;
        };
        let socks = self.dp.control_sockets();
        if c.encap {
            let _ = socks.nat_t.send_to(&packet, c.peer);
        } else if let (Some(raw), IpAddr::V4(ip)) = (&socks.raw_esp, c.peer.ip()) {
            let _ = raw.send_to(&packet, ip);
        }
    }

    /// The Conn an ESP-carried L2TP message belongs to, by its SA.
    pub(super) fn conn_of_spi(&mut self, spi: u32) -> Option<u32> {
        let c = self.conn_by_spi.get(&spi).copied();
        if c.is_none() {
            self.ike_counters.unknown_spi += 1;
        }
        c
    }

    /// Shutdown: every ISAKMP SA is deleted (after the L2TP teardown).
    pub(super) fn close_all_ike(&mut self, now: Instant) {
        let conns: Vec<u32> = self.conns.keys().copied().collect();
        for id in conns {
            self.close_conn(now, id, "shutdown");
        }
        let all: Vec<[u8; 8]> = self.ike.keys().copied().collect();
        for cky in all {
            self.close_ike(now, cky);
        }
    }

    /// ISAKMP SAs and clients, for tests and `show`.
    pub fn ike_sas(&self) -> usize {
        self.ike.len()
    }

    pub fn ipsec_clients(&self) -> usize {
        self.conns.len()
    }
}

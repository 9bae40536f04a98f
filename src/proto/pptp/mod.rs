//! The PPTP control connection (RFC 2637 §1.3, §2, §3) as a sans-IO engine over a byte
//! stream: one [`Control`] per TCP connection on port 1723, in either role.
//!
//! - **Server** (the concentrator, the PAC of RFC 2637 §1.2 in the remote-access
//!   case: VPN clients act as the PNS and ask it to place a call): waits for a
//!   Start-Control-Connection-Request, answers it, then takes calls. An
//!   Outgoing-Call-Request (§2.7) is answered with an Outgoing-Call-Reply; an
//!   Incoming-Call-Request (§2.9, from a peer acting as PAC) with an
//!   Incoming-Call-Reply, and the call is up on Incoming-Call-Connected (§2.11).
//! - **Client** (loadgen and the tests): opens the connection and places calls with
//!   Outgoing-Call-Requests.
//!
//! The data channel's per-call sequence state (enhanced GRE, §4) is in [`gre`].
//!
//! Both roles: Echo-Request/Reply keepalives (§2.5-§2.6, §3.1.4), Set-Link-Info
//! (§2.15), Call-Clear-Request (§2.12, from the call's originator) and
//! Call-Disconnect-Notify (§2.13), Stop-Control-Connection-Request/Reply (§2.3-§2.4),
//! WAN-Error-Notify (§2.14, counted). Many calls per connection.
//!
//! The caller feeds the bytes read from the socket to [`Control::handle_bytes`] (any
//! split: partial and coalesced messages are reassembled, [`crate::wire::pptp::frame_len`]),
//! writes what [`Control::poll_transmit`] returns, acts on [`Control::poll_event`] and
//! calls [`Control::handle_timeout`] at [`Control::poll_timeout`]. Local call IDs are
//! the caller's: the concentrator chooses them so the GRE packets of the call steer
//! to its shard.
//!
//! Decisions:
//! - **Framing loss** (a bad Magic Cookie, a Length out of bounds) ends the connection:
//!   on a stream nothing after it can be trusted (§1.4: the cookie is how framing is
//!   checked). The engine reports [`CloseReason::Framing`] and the caller closes TCP.
//! - **Before the control connection is up** the server answers nothing but the
//!   Start-Control-Connection-Request; other messages are counted and dropped (§3.1.1:
//!   the connection must be established first).
//! - **Keepalive**: after `echo_interval` without receiving anything we send an
//!   Echo-Request; if nothing at all arrives within `echo_timeout` after it, the peer is
//!   dead (§3.1.4 suggests 60 s for both).
//! - **Stop**: after sending a Stop-Control-Connection-Request we wait `stop_timeout`
//!   for the reply, then report the connection closed anyway; calls are reported down
//!   first, each once.
//! - **Unknown call IDs** in Call-Clear-Request / Set-Link-Info / WAN-Error-Notify are
//!   counted and ignored; a Call-Clear-Request for a known call is answered with a
//!   Call-Disconnect-Notify (§2.12).
#![forbid(unsafe_code)]

pub mod gre;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::wire::pptp::{
    self, CallClearRequest, CallDisconnectNotify, DisconnectResult, EchoReply, EchoRequest,
    EchoResult, ErrorCode, IncomingCallReply, IncomingCallResult, Message, OutgoingCallReply,
    OutgoingCallRequest, OutgoingCallResult, Packet, Repr, StartControlConnectionReply,
    StartControlConnectionRequest, StartResult, StopControlConnectionReply,
    StopControlConnectionRequest, StopReason, StopResult,
};

/// Settings of one role (shared by its connections).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PptpConfig {
    /// Host Name in Start-Control-Connection messages (§2.1).
    pub host_name: Vec<u8>,
    /// Vendor String (§2.1).
    pub vendor: Vec<u8>,
    /// Silence before we send an Echo-Request (§3.1.4: 60 s).
    pub echo_interval: Duration,
    /// Silence after an Echo-Request before the peer is dead (§3.1.4: 60 s).
    pub echo_timeout: Duration,
    /// How long a server waits for the Start-Control-Connection-Request and a client
    /// for its reply, and a call for its reply or Incoming-Call-Connected.
    pub setup_timeout: Duration,
    /// How long we wait for a Stop-Control-Connection-Reply.
    pub stop_timeout: Duration,
    /// Calls one connection may carry.
    pub max_calls: usize,
    /// Packet Receive Window Size we advertise for each call (§2.8).
    pub receive_window: u16,
    /// Maximum Channels we announce (§2.2).
    pub maximum_channels: u16,
}

impl Default for PptpConfig {
    fn default() -> Self {
        PptpConfig {
            host_name: b"shardvpn".to_vec(),
            vendor: b"shardvpn".to_vec(),
            echo_interval: Duration::from_secs(60),
            echo_timeout: Duration::from_secs(60),
            setup_timeout: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(5),
            max_calls: 256,
            receive_window: 64,
            maximum_channels: 65535,
        }
    }
}

/// Why a control connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer sent a Stop-Control-Connection-Request (its Reason).
    PeerStopped(StopReason),
    /// We stopped it ([`Control::close`]) and the peer replied or the wait ran out.
    Local,
    /// The framing was lost (bad Magic Cookie or Length).
    Framing,
    /// No Start-Control-Connection in time.
    SetupTimeout,
    /// Nothing from the peer within the echo timeout.
    EchoTimeout,
    /// The peer refused our Start-Control-Connection-Request (its result code).
    Refused(StartResult),
}

/// What happened, for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The control connection is established.
    Up,
    /// Server: the peer asks for a call (an Outgoing-Call-Request, or an
    /// Incoming-Call-Request when `incoming`); answer with [`Control::accept_call`] or
    /// [`Control::reject_call`].
    CallRequest {
        peer_call_id: u16,
        serial: u16,
        /// The peer's Packet Receive Window Size (§2.7): how many GRE packets it takes
        /// unacknowledged.
        peer_window: u16,
        incoming: bool,
    },
    /// A call is up (server: OCRP sent or ICCN received; client: OCRP received).
    CallUp {
        local_call_id: u16,
        peer_call_id: u16,
        peer_window: u16,
    },
    /// A call is gone (Call-Clear, Call-Disconnect-Notify, refusal, timeout, stop).
    CallDown {
        local_call_id: u16,
        peer_call_id: u16,
    },
    /// Set-Link-Info for a call (§2.15): the ACCMs to use (PPTP runs sync PPP, so
    /// they only matter to an async bearer).
    LinkInfo {
        local_call_id: u16,
        send_accm: u32,
        receive_accm: u32,
    },
    /// The control connection is over; close the TCP connection.
    Closed { reason: CloseReason },
}

/// Counters of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PptpStats {
    pub messages_in: u64,
    pub messages_out: u64,
    /// Messages not valid where they came (wrong state, unknown call, unknown type).
    pub ignored: u64,
    pub wan_errors: u64,
    pub echo_requests_sent: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Server: waiting for the Start-Control-Connection-Request.
    WaitStart,
    /// Client: SCCRQ sent.
    WaitStartReply,
    Established,
    /// Stop-Control-Connection-Request sent.
    Stopping,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// Server: asked the caller (CallRequest event), no answer yet.
    Asked {
        incoming: bool,
    },
    /// Server: ICRP sent, waiting for ICCN. Client: OCRQ sent.
    WaitPeer,
    Up,
}

#[derive(Debug, Clone)]
struct Call {
    peer_call_id: u16,
    peer_window: u16,
    state: CallState,
    since: Instant,
    /// Server calls from an Outgoing-Call-Request are the peer's: it clears them.
    local: u16,
}

/// One PPTP control connection. See the module docs.
pub struct Control {
    config: std::sync::Arc<PptpConfig>,
    server: bool,
    state: State,
    inbuf: Vec<u8>,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    /// Calls by local call ID (0 while the server has not answered yet, so requests
    /// in that state are kept by peer call ID in `asked`).
    calls: HashMap<u16, Call>,
    asked: HashMap<u16, Call>,
    started: Instant,
    last_rx: Instant,
    echo_sent: Option<(u32, Instant)>,
    next_echo_id: u32,
    stop_sent: Option<Instant>,
    stats: PptpStats,
}

impl core::fmt::Debug for Control {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Control")
            .field("server", &self.server)
            .field("state", &self.state)
            .field("calls", &self.calls.len())
            .finish_non_exhaustive()
    }
}

impl Control {
    fn new(now: Instant, config: std::sync::Arc<PptpConfig>, server: bool) -> Control {
        Control {
            config,
            server,
            state: if server {
                State::WaitStart
            } else {
                State::WaitStartReply
            },
            inbuf: Vec::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            calls: HashMap::new(),
            asked: HashMap::new(),
            started: now,
            last_rx: now,
            echo_sent: None,
            next_echo_id: 1,
            stop_sent: None,
            stats: PptpStats::default(),
        }
    }

    /// The server side of an accepted TCP connection.
    pub fn server(now: Instant, config: std::sync::Arc<PptpConfig>) -> Control {
        Control::new(now, config, true)
    }

    /// The client side: queues the Start-Control-Connection-Request.
    pub fn client(now: Instant, config: std::sync::Arc<PptpConfig>) -> Control {
        let mut c = Control::new(now, config, false);
        let (host, vendor) = (c.config.host_name.clone(), c.config.vendor.clone());
        c.send(Message::StartControlConnectionRequest(
            StartControlConnectionRequest {
                protocol_version: pptp::PROTOCOL_VERSION,
                framing_capabilities: pptp::FRAMING_SYNC,
                bearer_capabilities: pptp::BEARER_DIGITAL,
                maximum_channels: 0,
                firmware_revision: 1,
                host_name: &host,
                vendor_string: &vendor,
            },
        ));
        c
    }

    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    pub fn stats(&self) -> PptpStats {
        self.stats
    }

    /// Calls up or being set up.
    pub fn calls(&self) -> usize {
        self.calls.len() + self.asked.len()
    }

    /// Bytes to write to the TCP stream, in order.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        let out = self.out.pop_front();
        if out.is_none() {
            release_idle(&mut self.out);
        }
        out
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        if event.is_none() {
            release_idle(&mut self.events);
        }
        event
    }

    fn send(&mut self, message: Message<'_>) {
        let repr = Repr::control(message);
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        self.stats.messages_out += 1;
        self.out.push_back(buf);
    }

    fn close_with(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        let mut calls: Vec<(u16, u16)> = self
            .calls
            .iter()
            .map(|(l, c)| (*l, c.peer_call_id))
            .collect();
        calls.sort_unstable();
        for (local_call_id, peer_call_id) in calls {
            self.events.push_back(Event::CallDown {
                local_call_id,
                peer_call_id,
            });
        }
        self.calls.clear();
        self.asked.clear();
        self.inbuf = Vec::new();
        self.state = State::Closed;
        self.events.push_back(Event::Closed { reason });
    }

    /// Bytes read from the TCP stream (any amount; they are reassembled).
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        self.inbuf.extend_from_slice(bytes);
        let mut consumed = 0;
        loop {
            let rest = &self.inbuf[consumed..];
            let len = match pptp::frame_len(rest) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(_) => {
                    self.close_with(CloseReason::Framing);
                    return;
                }
            };
            let message = rest[..len].to_vec();
            consumed += len;
            self.handle_message(now, &message);
            if self.state == State::Closed {
                return;
            }
        }
        self.inbuf.drain(..consumed);
        if self.inbuf.is_empty() {
            self.inbuf = Vec::new();
        }
        if self.asked.is_empty() {
            self.asked.shrink_to_fit();
        }
    }

    fn handle_message(&mut self, now: Instant, bytes: &[u8]) {
        let repr = match Repr::parse_bytes(bytes) {
            Ok(r) => r,
            Err(e) if e == pptp::BAD_MAGIC => {
                self.close_with(CloseReason::Framing);
                return;
            }
            Err(_) => {
                // A known message of the wrong size: framing holds (the Length was
                // consistent), so drop just this one.
                self.stats.ignored += 1;
                return;
            }
        };
        self.stats.messages_in += 1;
        self.last_rx = now;
        self.echo_sent = None;
        match (self.state, repr.message) {
            (State::WaitStart, Message::StartControlConnectionRequest(rq)) => {
                let version_ok = rq.protocol_version == pptp::PROTOCOL_VERSION;
                let (host, vendor) = (self.config.host_name.clone(), self.config.vendor.clone());
                self.send(Message::StartControlConnectionReply(
                    StartControlConnectionReply {
                        protocol_version: pptp::PROTOCOL_VERSION,
                        result_code: if version_ok {
                            StartResult::Success
                        } else {
                            StartResult::VersionNotSupported
                        },
                        error_code: ErrorCode::None,
                        framing_capabilities: pptp::FRAMING_ASYNC | pptp::FRAMING_SYNC,
                        bearer_capabilities: pptp::BEARER_ANALOG | pptp::BEARER_DIGITAL,
                        maximum_channels: self.config.maximum_channels,
                        firmware_revision: 1,
                        host_name: &host,
                        vendor_string: &vendor,
                    },
                ));
                if version_ok {
                    self.state = State::Established;
                    self.events.push_back(Event::Up);
                } else {
                    self.close_with(CloseReason::Refused(StartResult::VersionNotSupported));
                }
            }
            (State::WaitStartReply, Message::StartControlConnectionReply(rp)) => {
                if rp.result_code == StartResult::Success {
                    self.state = State::Established;
                    self.events.push_back(Event::Up);
                } else {
                    self.close_with(CloseReason::Refused(rp.result_code));
                }
            }
            (_, Message::StopControlConnectionRequest(rq)) => {
                self.send(Message::StopControlConnectionReply(
                    StopControlConnectionReply {
                        result_code: StopResult::Ok,
                        error_code: ErrorCode::None,
                    },
                ));
                self.close_with(CloseReason::PeerStopped(rq.reason));
            }
            (State::Stopping, Message::StopControlConnectionReply(_)) => {
                self.close_with(CloseReason::Local)
            }
            (State::Established | State::Stopping, Message::EchoRequest(rq)) => {
                self.send(Message::EchoReply(EchoReply {
                    identifier: rq.identifier,
                    result_code: EchoResult::Ok,
                    error_code: ErrorCode::None,
                }));
            }
            (State::Established, Message::EchoReply(_)) => {}
            (State::Established, m) => self.on_call_message(now, m),
            _ => self.stats.ignored += 1,
        }
    }

    fn on_call_message(&mut self, now: Instant, m: Message<'_>) {
        match m {
            Message::OutgoingCallRequest(rq) if self.server => self.call_request(
                now,
                rq.call_id,
                rq.call_serial_number,
                rq.packet_recv_window_size,
                false,
            ),
            Message::IncomingCallRequest(rq) if self.server => {
                // The peer's window comes with its Incoming-Call-Connected.
                self.call_request(now, rq.call_id, rq.call_serial_number, 0, true)
            }
            Message::IncomingCallConnected(cn) if self.server => {
                // ICCN names *our* call ID as its Peer's Call ID (§2.11).
                let local = cn.peer_call_id;
                match self.calls.get_mut(&local) {
                    Some(c) if c.state == CallState::WaitPeer => {
                        c.state = CallState::Up;
                        c.peer_window = cn.packet_recv_window_size;
                        let (peer_call_id, peer_window) = (c.peer_call_id, c.peer_window);
                        self.events.push_back(Event::CallUp {
                            local_call_id: local,
                            peer_call_id,
                            peer_window,
                        });
                    }
                    _ => self.stats.ignored += 1,
                }
            }
            Message::OutgoingCallReply(rp) if !self.server => {
                let local = rp.peer_call_id;
                match self.calls.get(&local) {
                    Some(c) if c.state == CallState::WaitPeer => {
                        if rp.result_code == OutgoingCallResult::Connected {
                            let c = self.calls.get_mut(&local).expect("checked above");
                            c.state = CallState::Up;
                            c.peer_call_id = rp.call_id;
                            c.peer_window = rp.packet_recv_window_size;
                            self.events.push_back(Event::CallUp {
                                local_call_id: local,
                                peer_call_id: rp.call_id,
                                peer_window: rp.packet_recv_window_size,
                            });
                        } else {
                            self.calls.remove(&local);
                            self.events.push_back(Event::CallDown {
                                local_call_id: local,
                                peer_call_id: rp.call_id,
                            });
                        }
                    }
                    _ => self.stats.ignored += 1,
                }
            }
            Message::CallClearRequest(rq) => {
                // Sent by the call's originator with *its* Call ID (§2.12).
                let found = self
                    .calls
                    .iter()
                    .find(|(_, c)| c.peer_call_id == rq.call_id)
                    .map(|(l, _)| *l);
                match found {
                    Some(local) => self.disconnect(local, DisconnectResult::Request),
                    None => {
                        if self.asked.remove(&rq.call_id).is_none() {
                            self.stats.ignored += 1;
                        }
                    }
                }
            }
            Message::CallDisconnectNotify(n) => {
                // Carries the sender's Call ID, i.e. our peer call ID (§2.13).
                let found = self
                    .calls
                    .iter()
                    .find(|(_, c)| c.peer_call_id == n.call_id)
                    .map(|(l, _)| *l);
                match found {
                    Some(local) => {
                        self.calls.remove(&local);
                        self.events.push_back(Event::CallDown {
                            local_call_id: local,
                            peer_call_id: n.call_id,
                        });
                    }
                    None => self.stats.ignored += 1,
                }
            }
            Message::SetLinkInfo(info) => {
                let local = info.peer_call_id;
                if self.calls.contains_key(&local) {
                    self.events.push_back(Event::LinkInfo {
                        local_call_id: local,
                        send_accm: info.send_accm,
                        receive_accm: info.receive_accm,
                    });
                } else {
                    self.stats.ignored += 1;
                }
            }
            Message::WanErrorNotify(_) => self.stats.wan_errors += 1,
            _ => self.stats.ignored += 1,
        }
    }

    fn call_request(
        &mut self,
        now: Instant,
        peer_call_id: u16,
        serial: u16,
        window: u16,
        incoming: bool,
    ) {
        let duplicate = self.asked.contains_key(&peer_call_id)
            || self.calls.values().any(|c| c.peer_call_id == peer_call_id);
        if duplicate {
            self.stats.ignored += 1;
            return;
        }
        if self.calls() >= self.config.max_calls {
            self.refuse(peer_call_id, incoming, ErrorCode::NoResource);
            return;
        }
        self.asked.insert(
            peer_call_id,
            Call {
                peer_call_id,
                peer_window: window,
                state: CallState::Asked { incoming },
                since: now,
                local: 0,
            },
        );
        self.events.push_back(Event::CallRequest {
            peer_call_id,
            serial,
            peer_window: window,
            incoming,
        });
    }

    fn refuse(&mut self, peer_call_id: u16, incoming: bool, error: ErrorCode) {
        if incoming {
            self.send(Message::IncomingCallReply(IncomingCallReply {
                call_id: 0,
                peer_call_id,
                result_code: IncomingCallResult::DoNotAccept,
                error_code: error,
                packet_recv_window_size: 0,
                packet_transmit_delay: 0,
            }));
        } else {
            self.send(Message::OutgoingCallReply(OutgoingCallReply {
                call_id: 0,
                peer_call_id,
                result_code: if error == ErrorCode::None {
                    OutgoingCallResult::DoNotAccept
                } else {
                    OutgoingCallResult::GeneralError
                },
                error_code: error,
                cause_code: 0,
                connect_speed: 0,
                packet_recv_window_size: 0,
                packet_processing_delay: 0,
                physical_channel_id: 0,
            }));
        }
    }

    /// Server: accepts the call the peer asked for, with our call ID `local_call_id`.
    /// False if there is no such request or the ID is in use.
    pub fn accept_call(&mut self, now: Instant, peer_call_id: u16, local_call_id: u16) -> bool {
        if self.calls.contains_key(&local_call_id) {
            return false;
        }
        let Some(mut call) = self.asked.remove(&peer_call_id) else {
            return false;
        };
        let CallState::Asked { incoming } = call.state else {
            return false;
        };
        call.local = local_call_id;
        call.since = now;
        let window = self.config.receive_window;
        if incoming {
            self.send(Message::IncomingCallReply(IncomingCallReply {
                call_id: local_call_id,
                peer_call_id,
                result_code: IncomingCallResult::Connect,
                error_code: ErrorCode::None,
                packet_recv_window_size: window,
                packet_transmit_delay: 0,
            }));
            call.state = CallState::WaitPeer;
            self.calls.insert(local_call_id, call);
        } else {
            self.send(Message::OutgoingCallReply(OutgoingCallReply {
                call_id: local_call_id,
                peer_call_id,
                result_code: OutgoingCallResult::Connected,
                error_code: ErrorCode::None,
                cause_code: 0,
                connect_speed: 100_000_000,
                packet_recv_window_size: window,
                packet_processing_delay: 0,
                physical_channel_id: 0,
            }));
            call.state = CallState::Up;
            let peer_window = call.peer_window;
            self.calls.insert(local_call_id, call);
            self.events.push_back(Event::CallUp {
                local_call_id,
                peer_call_id,
                peer_window,
            });
        }
        true
    }

    /// Server: refuses the call the peer asked for (e.g. an admission limit).
    pub fn reject_call(&mut self, peer_call_id: u16) {
        if let Some(call) = self.asked.remove(&peer_call_id) {
            let incoming = matches!(call.state, CallState::Asked { incoming: true });
            self.refuse(peer_call_id, incoming, ErrorCode::None);
        }
    }

    /// Client: asks for a call with our call ID `local_call_id`.
    pub fn place_call(&mut self, now: Instant, local_call_id: u16, serial: u16) -> bool {
        if self.server
            || self.state != State::Established
            || self.calls.contains_key(&local_call_id)
        {
            return false;
        }
        let window = self.config.receive_window;
        self.send(Message::OutgoingCallRequest(OutgoingCallRequest {
            call_id: local_call_id,
            call_serial_number: serial,
            minimum_bps: 300,
            maximum_bps: 100_000_000,
            bearer_type: pptp::BEARER_ANY,
            framing_type: pptp::FRAMING_ANY,
            packet_recv_window_size: window,
            packet_processing_delay: 0,
            phone_number_length: 0,
            phone_number: &[],
            subaddress: &[],
        }));
        self.calls.insert(
            local_call_id,
            Call {
                peer_call_id: 0,
                peer_window: 0,
                state: CallState::WaitPeer,
                since: now,
                local: local_call_id,
            },
        );
        true
    }

    /// Ends a call from our side: the client (originator) sends Call-Clear-Request and
    /// waits for the Call-Disconnect-Notify; the server sends Call-Disconnect-Notify
    /// (§2.12-§2.13). `CallDown` follows when the call is gone.
    pub fn end_call(&mut self, local_call_id: u16, result: DisconnectResult) {
        if !self.calls.contains_key(&local_call_id) {
            return;
        }
        if self.server {
            self.disconnect(local_call_id, result);
        } else {
            self.send(Message::CallClearRequest(CallClearRequest {
                call_id: local_call_id,
            }));
        }
    }

    fn disconnect(&mut self, local: u16, result: DisconnectResult) {
        let Some(call) = self.calls.remove(&local) else {
            return;
        };
        self.send(Message::CallDisconnectNotify(CallDisconnectNotify {
            call_id: local,
            result_code: result,
            error_code: ErrorCode::None,
            cause_code: 0,
            call_statistics: &[],
        }));
        self.events.push_back(Event::CallDown {
            local_call_id: local,
            peer_call_id: call.peer_call_id,
        });
    }

    /// Ends the control connection (Stop-Control-Connection-Request); `Closed`
    /// follows on the reply or after `stop_timeout`.
    pub fn close(&mut self, now: Instant, reason: StopReason) {
        match self.state {
            State::Closed | State::Stopping => {}
            State::WaitStart => self.close_with(CloseReason::Local),
            _ => {
                let locals: Vec<u16> = self.calls.keys().copied().collect();
                for local in locals {
                    if self.server {
                        self.disconnect(local, DisconnectResult::AdminShutdown);
                    }
                }
                self.send(Message::StopControlConnectionRequest(
                    StopControlConnectionRequest { reason },
                ));
                self.state = State::Stopping;
                self.stop_sent = Some(now);
            }
        }
    }

    /// When [`Control::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let setup = self.config.setup_timeout;
        match self.state {
            State::Closed => None,
            State::WaitStart | State::WaitStartReply => Some(self.started + setup),
            State::Stopping => self.stop_sent.map(|s| s + self.config.stop_timeout),
            State::Established => {
                let keepalive = match self.echo_sent {
                    Some((_, at)) => at + self.config.echo_timeout,
                    None => self.last_rx + self.config.echo_interval,
                };
                let pending = self
                    .calls
                    .values()
                    .chain(self.asked.values())
                    .filter(|c| c.state != CallState::Up)
                    .map(|c| c.since + setup)
                    .min();
                Some(pending.map_or(keepalive, |p| p.min(keepalive)))
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let setup = self.config.setup_timeout;
        match self.state {
            State::Closed => {}
            State::WaitStart | State::WaitStartReply => {
                if now >= self.started + setup {
                    self.close_with(CloseReason::SetupTimeout);
                }
            }
            State::Stopping => {
                if self
                    .stop_sent
                    .is_some_and(|s| now >= s + self.config.stop_timeout)
                {
                    self.close_with(CloseReason::Local);
                }
            }
            State::Established => {
                // Calls that never came up.
                let stale: Vec<u16> = self
                    .calls
                    .iter()
                    .filter(|(_, c)| c.state != CallState::Up && now >= c.since + setup)
                    .map(|(l, _)| *l)
                    .collect();
                for local in stale {
                    if let Some(c) = self.calls.remove(&local) {
                        self.events.push_back(Event::CallDown {
                            local_call_id: local,
                            peer_call_id: c.peer_call_id,
                        });
                    }
                }
                self.asked.retain(|_, c| now < c.since + setup);
                match self.echo_sent {
                    Some((_, at)) if now >= at + self.config.echo_timeout => {
                        self.close_with(CloseReason::EchoTimeout);
                    }
                    None if now >= self.last_rx + self.config.echo_interval => {
                        let id = self.next_echo_id;
                        self.next_echo_id = self.next_echo_id.wrapping_add(1);
                        self.send(Message::EchoRequest(EchoRequest { identifier: id }));
                        self.stats.echo_requests_sent += 1;
                        self.echo_sent = Some((id, now));
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Frees a drained queue's buffer. A control connection carries one call for hours
/// after its burst of setup messages, and there is one per PPTP subscriber (issue 8,
/// daemon memory per session).
fn release_idle<T>(queue: &mut VecDeque<T>) {
    if queue.is_empty() && queue.capacity() > 0 {
        *queue = VecDeque::new();
    }
}

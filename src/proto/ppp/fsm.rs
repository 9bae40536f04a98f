//! The RFC 1661 §4 option-negotiation automaton, written once and shared by LCP,
//! IPCP and IPv6CP.
//!
//! - [`transition`] is the state transition table of RFC 1661 §4.1 as a pure function
//!   `(State, Event) -> (actions, next State)`; the unit tests check it cell by cell
//!   against a transcription of the RFC table.
//! - [`Fsm`] runs that table: it owns the state, the Restart timer and counter
//!   (§4.6), the Identifier of our last Configure-Request, and the Max-Failure count
//!   (§4.6), and turns received packets into the events RCR+/RCR-/RCA/RCN/RTR/RTA/
//!   RUC/RXJ±. The protocol-specific part (which options we request, how we judge the
//!   peer's) is a [`Negotiator`].
//! - Actions that leave the automaton (packets to send, This-Layer-Up/Down/Started/
//!   Finished) are queued as [`Output`] and drained by the engine ([`super::Ppp`]).
//!
//! Decisions:
//! - The Identifier changes on every Configure-Request sent, retransmissions included
//!   (as pppd does): a late Ack of an older request is then silently discarded
//!   instead of opening the link on options we no longer request.
//! - An Ack is accepted only if its Identifier is our last request's and its options
//!   are byte for byte those we sent (RFC 1661 §5.2); a Nak/Reject only if the
//!   Identifier matches. Only the first answer to a request counts (pppd's
//!   `seen_ack`): a duplicated Ack arriving in Opened would otherwise restart the
//!   negotiation (RCA in Opened is tld,scr). Anything else is silently discarded and
//!   counted.
//! - In Opened, an exact duplicate (same Identifier and options) of the request we
//!   acknowledged is acknowledged again without renegotiating; a request that
//!   differs in anything follows the table (tld,scr,sca/scn).
//! - Max-Failure (§4.6) bounds both directions: after `max_failure` Configure-Naks
//!   sent without an Ack sent in between, Naks become Rejects (the RFC's rule); and
//!   after `max_failure` Configure-Nak/-Reject received in a row without reaching
//!   Opened, negotiation is declared not converging and the layer is closed
//!   ([`Output::Failed`]). The receive-side bound is ours: the RFC leaves it open,
//!   and without it a peer can keep us renegotiating forever.
//! - The optional "restart" (r), "passive" (p) and "crossed connection" (x)
//!   behaviours of the table are not used: the engine opens each layer once.
//! - Options are reset to their defaults when a Configure-Request is sent from a
//!   state that is not negotiating (pppd's rule), so a renegotiation starts afresh.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::wire::ppp::{Code, CodeRejectRepr, ControlPacket, ControlRepr, Protocol};

/// RFC 1661 §4.2 states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Initial,
    Starting,
    Closed,
    Stopped,
    Closing,
    Stopping,
    ReqSent,
    AckRcvd,
    AckSent,
    Opened,
}

/// RFC 1661 §4.3 events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    Up,
    Down,
    Open,
    Close,
    /// Timeout with counter > 0.
    TimeoutPlus,
    /// Timeout with counter expired.
    TimeoutMinus,
    /// Receive-Configure-Request, good.
    RcrPlus,
    /// Receive-Configure-Request, bad.
    RcrMinus,
    /// Receive-Configure-Ack.
    Rca,
    /// Receive-Configure-Nak/Rej.
    Rcn,
    /// Receive-Terminate-Request.
    Rtr,
    /// Receive-Terminate-Ack.
    Rta,
    /// Receive-Unknown-Code.
    Ruc,
    /// Receive-Code-Reject / Protocol-Reject, permitted.
    RxjPlus,
    /// Receive-Code-Reject / Protocol-Reject, catastrophic.
    RxjMinus,
    /// Receive-Echo-Request / Echo-Reply / Discard-Request.
    Rxr,
}

/// RFC 1661 §4.4 actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// This-Layer-Up.
    Tlu,
    /// This-Layer-Down.
    Tld,
    /// This-Layer-Started.
    Tls,
    /// This-Layer-Finished.
    Tlf,
    /// Initialize-Restart-Count.
    Irc,
    /// Zero-Restart-Count.
    Zrc,
    /// Send-Configure-Request.
    Scr,
    /// Send-Configure-Ack.
    Sca,
    /// Send-Configure-Nak/Rej.
    Scn,
    /// Send-Terminate-Request.
    Str,
    /// Send-Terminate-Ack.
    Sta,
    /// Send-Code-Reject.
    Scj,
    /// Send-Echo-Reply.
    Ser,
}

use Action::*;
use State::*;

/// The RFC 1661 §4.1 state transition table. `None` is a "-" cell: the event cannot
/// happen in that state and is ignored (and counted by the caller).
pub fn transition(state: State, event: Event) -> Option<(&'static [Action], State)> {
    use Event::*;
    let cell: (&'static [Action], State) = match (event, state) {
        (Up, Initial) => (&[], Closed),
        (Up, Starting) => (&[Irc, Scr], ReqSent),
        (Up, _) => return None,

        (Down, Closed) => (&[], Initial),
        (Down, Stopped) => (&[Tls], Starting),
        (Down, Closing) => (&[], Initial),
        (Down, Stopping | ReqSent | AckRcvd | AckSent) => (&[], Starting),
        (Down, Opened) => (&[Tld], Starting),
        (Down, Initial | Starting) => return None,

        (Open, Initial) => (&[Tls], Starting),
        (Open, Starting) => (&[], Starting),
        (Open, Closed) => (&[Irc, Scr], ReqSent),
        (Open, Stopped) => (&[], Stopped),
        (Open, Closing | Stopping) => (&[], Stopping),
        (Open, s @ (ReqSent | AckRcvd | AckSent | Opened)) => (&[], s),

        (Close, Initial) => (&[], Initial),
        (Close, Starting) => (&[Tlf], Initial),
        (Close, Closed | Stopped) => (&[], Closed),
        (Close, Closing | Stopping) => (&[], Closing),
        (Close, ReqSent | AckRcvd | AckSent) => (&[Irc, Str], Closing),
        (Close, Opened) => (&[Tld, Irc, Str], Closing),

        (TimeoutPlus, Closing) => (&[Str], Closing),
        (TimeoutPlus, Stopping) => (&[Str], Stopping),
        (TimeoutPlus, ReqSent | AckRcvd) => (&[Scr], ReqSent),
        (TimeoutPlus, AckSent) => (&[Scr], AckSent),
        (TimeoutPlus, _) => return None,

        (TimeoutMinus, Closing) => (&[Tlf], Closed),
        (TimeoutMinus, Stopping | ReqSent | AckRcvd | AckSent) => (&[Tlf], Stopped),
        (TimeoutMinus, _) => return None,

        (RcrPlus, Closed) => (&[Sta], Closed),
        (RcrPlus, Stopped) => (&[Irc, Scr, Sca], AckSent),
        (RcrPlus, s @ (Closing | Stopping)) => (&[], s),
        (RcrPlus, ReqSent | AckSent) => (&[Sca], AckSent),
        (RcrPlus, AckRcvd) => (&[Sca, Tlu], Opened),
        (RcrPlus, Opened) => (&[Tld, Scr, Sca], AckSent),
        (RcrPlus, Initial | Starting) => return None,

        (RcrMinus, Closed) => (&[Sta], Closed),
        (RcrMinus, Stopped) => (&[Irc, Scr, Scn], ReqSent),
        (RcrMinus, s @ (Closing | Stopping)) => (&[], s),
        (RcrMinus, ReqSent | AckSent) => (&[Scn], ReqSent),
        (RcrMinus, AckRcvd) => (&[Scn], AckRcvd),
        (RcrMinus, Opened) => (&[Tld, Scr, Scn], ReqSent),
        (RcrMinus, Initial | Starting) => return None,

        (Rca, s @ (Closed | Stopped)) => (&[Sta], s),
        (Rca, s @ (Closing | Stopping)) => (&[], s),
        (Rca, ReqSent) => (&[Irc], AckRcvd),
        (Rca, AckRcvd) => (&[Scr], ReqSent),
        (Rca, AckSent) => (&[Irc, Tlu], Opened),
        (Rca, Opened) => (&[Tld, Scr], ReqSent),
        (Rca, Initial | Starting) => return None,

        (Rcn, s @ (Closed | Stopped)) => (&[Sta], s),
        (Rcn, s @ (Closing | Stopping)) => (&[], s),
        (Rcn, ReqSent) => (&[Irc, Scr], ReqSent),
        (Rcn, AckRcvd) => (&[Scr], ReqSent),
        (Rcn, AckSent) => (&[Irc, Scr], AckSent),
        (Rcn, Opened) => (&[Tld, Scr], ReqSent),
        (Rcn, Initial | Starting) => return None,

        (Rtr, s @ (Closed | Stopped | Closing | Stopping)) => (&[Sta], s),
        (Rtr, ReqSent | AckRcvd | AckSent) => (&[Sta], ReqSent),
        (Rtr, Opened) => (&[Tld, Zrc, Sta], Stopping),
        (Rtr, Initial | Starting) => return None,

        (Rta, s @ (Closed | Stopped)) => (&[], s),
        (Rta, Closing) => (&[Tlf], Closed),
        (Rta, Stopping) => (&[Tlf], Stopped),
        (Rta, ReqSent | AckRcvd) => (&[], ReqSent),
        (Rta, AckSent) => (&[], AckSent),
        (Rta, Opened) => (&[Tld, Scr], ReqSent),
        (Rta, Initial | Starting) => return None,

        (Ruc, Initial | Starting) => return None,
        (Ruc, s) => (&[Scj], s),

        (RxjPlus, Initial | Starting) => return None,
        (RxjPlus, AckRcvd) => (&[], ReqSent),
        (RxjPlus, s) => (&[], s),

        (RxjMinus, Closed | Closing) => (&[Tlf], Closed),
        (RxjMinus, Stopped | Stopping | ReqSent | AckRcvd | AckSent) => (&[Tlf], Stopped),
        (RxjMinus, Opened) => (&[Tld, Irc, Str], Stopping),
        (RxjMinus, Initial | Starting) => return None,

        (Rxr, Opened) => (&[Ser], Opened),
        (Rxr, Initial | Starting) => return None,
        (Rxr, s) => (&[], s),
    };
    Some(cell)
}

/// RFC 1661 §4.6 counters and timer, with the RFC's suggested defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsmConfig {
    /// Restart timer (default 3 s).
    pub restart_timer: Duration,
    /// Max-Configure (default 10).
    pub max_configure: u32,
    /// Max-Terminate (default 2).
    pub max_terminate: u32,
    /// Max-Failure (default 5).
    pub max_failure: u32,
}

impl Default for FsmConfig {
    fn default() -> Self {
        FsmConfig {
            restart_timer: Duration::from_secs(3),
            max_configure: 10,
            max_terminate: 2,
            max_failure: 5,
        }
    }
}

/// How the negotiator judged a peer's Configure-Request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every option acceptable: send a Configure-Ack echoing the request.
    Ack,
    /// Send a Configure-Nak with the options written to the output buffer.
    Nak,
    /// Send a Configure-Reject with the options written to the output buffer.
    Reject,
    /// The option list does not parse: silently discard (RFC 1661 §5.2 "invalid
    /// packets are silently discarded").
    Malformed,
}

/// Why a Configure-Nak/-Reject we received ends the negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegotiationError {
    /// The peer rejected or refused an option we cannot do without (e.g. the
    /// server's Authentication-Protocol).
    Required,
    /// The packet does not parse.
    Malformed,
    /// The peer's answer proves a looped-back link (RFC 1661 §6.4).
    LoopedBack,
}

/// The protocol-specific part of a control protocol (LCP, IPCP, IPv6CP).
pub trait Negotiator {
    /// Resets the options we request to their configured starting values.
    fn reset(&mut self);
    /// Appends the options of our Configure-Request to `out`.
    fn request_options(&mut self, out: &mut Vec<u8>);
    /// Judges a peer's Configure-Request. For Nak and Reject, writes the options of
    /// the answer into `out`; for Ack, records the peer's values. `nak_allowed` is
    /// false once Max-Failure Naks were sent: what would be Naked is then Rejected.
    fn judge_request(&mut self, options: &[u8], nak_allowed: bool, out: &mut Vec<u8>) -> Verdict;
    /// Our request was acknowledged (options are the ones we sent).
    fn acked(&mut self, options: &[u8]);
    /// The peer Naked some of our options: adjust what we request.
    fn naked(&mut self, options: &[u8]) -> Result<(), NegotiationError>;
    /// The peer Rejected some of our options: stop requesting them.
    fn rejected(&mut self, options: &[u8]) -> Result<(), NegotiationError>;
}

/// What the automaton asks its owner to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A control packet (Code, Identifier, Length, Data) to send on this protocol.
    Send(Vec<u8>),
    /// This-Layer-Up.
    Up,
    /// This-Layer-Down.
    Down,
    /// This-Layer-Started.
    Started,
    /// This-Layer-Finished.
    Finished,
    /// Negotiation does not converge or cannot succeed; the automaton has been
    /// sent the Close event.
    Failed(NegotiationError),
}

/// Per-automaton counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FsmCounters {
    pub configure_requests_sent: u64,
    pub retransmissions: u64,
    pub naks_sent: u64,
    pub rejects_sent: u64,
    /// Exact duplicates of the acknowledged request received in Opened.
    pub duplicates: u64,
    /// Packets silently discarded: stale or mismatched Ack/Nak/Reject, malformed
    /// options, events the table forbids in the current state.
    pub discarded: u64,
}

/// One running automaton: the table, its timer and counters, and a negotiator.
#[derive(Debug)]
pub struct Fsm<N> {
    pub negotiator: N,
    protocol: Protocol,
    config: FsmConfig,
    state: State,
    restart_count: u32,
    timer: Option<Instant>,
    /// Identifier of the next packet we originate.
    next_id: u8,
    /// Identifier and options of our last Configure-Request.
    last_request: Option<(u8, Vec<u8>)>,
    /// An Ack/Nak/Reject for `last_request` was processed: later ones are
    /// duplicates (pppd's `seen_ack`).
    request_answered: bool,
    /// The last Configure-Ack we sent (Identifier and options), to answer an exact
    /// duplicate of the request in Opened without renegotiating.
    last_ack_sent: Option<(u8, Vec<u8>)>,
    /// Naks sent since the last Ack sent.
    naks_sent_in_a_row: u32,
    /// Nak/Rejects received since the last time we reached Opened.
    naks_received_in_a_row: u32,
    /// The answer prepared for the Configure-Request being processed (sca/scn).
    pending_answer: Option<Vec<u8>>,
    /// The packet being processed, for a Code-Reject (scj) or Echo-Reply (ser).
    pending_received: Option<Vec<u8>>,
    /// Identifier of the Terminate-Request being answered (sta).
    pending_terminate_id: u8,
    terminate_data: Vec<u8>,
    /// The peer's MRU: Code-Rejects are cut to fit (RFC 1661 §5.6).
    peer_mru: usize,
    pub counters: FsmCounters,
    outputs: VecDeque<Output>,
}

impl<N: Negotiator> Fsm<N> {
    pub fn new(protocol: Protocol, config: FsmConfig, negotiator: N) -> Self {
        Fsm {
            negotiator,
            protocol,
            config,
            state: State::Initial,
            restart_count: 0,
            timer: None,
            next_id: 1,
            last_request: None,
            request_answered: false,
            last_ack_sent: None,
            naks_sent_in_a_row: 0,
            naks_received_in_a_row: 0,
            pending_answer: None,
            pending_received: None,
            pending_terminate_id: 0,
            terminate_data: Vec::new(),
            peer_mru: 1500,
            counters: FsmCounters::default(),
            outputs: VecDeque::new(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// When the Restart timer fires, if it runs.
    pub fn timeout(&self) -> Option<Instant> {
        self.timer
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        super::util::pop_release(&mut self.outputs)
    }

    /// A fresh Identifier for a packet we originate (also used by LCP for Echo).
    pub fn take_identifier(&mut self) -> u8 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    /// Sets the peer's MRU (from LCP), which bounds the Code-Rejects we send.
    pub fn set_peer_mru(&mut self, mru: u16) {
        self.peer_mru = usize::from(mru);
    }

    /// Sets the Data of the Terminate-Requests sent from now on (a reason text).
    pub fn set_terminate_data(&mut self, data: &[u8]) {
        self.terminate_data = data.to_vec();
    }

    pub fn up(&mut self, now: Instant) {
        self.event(now, Event::Up);
    }

    pub fn down(&mut self, now: Instant) {
        self.event(now, Event::Down);
    }

    pub fn open(&mut self, now: Instant) {
        self.event(now, Event::Open);
    }

    pub fn close(&mut self, now: Instant) {
        self.event(now, Event::Close);
    }

    /// Forces the Opened state without a negotiation (L2TP proxy LCP, RFC 2661
    /// §18: the LAC negotiated for us). Emits This-Layer-Up.
    pub fn force_opened(&mut self) {
        self.state = State::Opened;
        self.timer = None;
        self.outputs.push_back(Output::Up);
    }

    /// Runs the Restart timer if it is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.timer {
            Some(t) if t <= now => {}
            _ => return,
        }
        self.timer = None;
        let event = if self.restart_count > 0 {
            if matches!(self.state, ReqSent | AckRcvd | AckSent) {
                self.counters.retransmissions += 1;
            }
            Event::TimeoutPlus
        } else {
            Event::TimeoutMinus
        };
        self.event(now, event);
    }

    /// The peer rejected this protocol (LCP Protocol-Reject): RXJ-, RFC 1661 §5.7.
    pub fn protocol_rejected(&mut self, now: Instant) {
        self.event(now, Event::RxjMinus);
    }

    /// Feeds one received control packet (Code, Identifier, Length, Data). Codes the
    /// generic automaton does not know (Echo, Discard and the like for LCP) must be
    /// handled by the owner before calling this; here they are RUC.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        let Ok(view) = ControlPacket::new_checked(packet) else {
            self.counters.discarded += 1;
            return;
        };
        let Ok(repr) = ControlRepr::parse(&view) else {
            self.counters.discarded += 1;
            return;
        };
        match repr.code {
            Code::ConfigureRequest => self.receive_configure_request(now, &repr),
            Code::ConfigureAck => {
                let matches = !self.request_answered
                    && self
                        .last_request
                        .as_ref()
                        .is_some_and(|(id, opts)| *id == repr.identifier && opts[..] == *repr.data);
                self.request_answered |= matches;
                // In Closed/Stopped any Ack is answered with a Terminate-Ack; in the
                // negotiating states only the answer to our last request counts.
                if !matches && !matches!(self.state, Closed | Stopped) {
                    self.counters.discarded += 1;
                    return;
                }
                if matches && matches!(self.state, ReqSent | AckSent) {
                    self.negotiator.acked(repr.data);
                }
                self.pending_terminate_id = repr.identifier;
                self.event(now, Event::Rca);
            }
            Code::ConfigureNak | Code::ConfigureReject => {
                let matches = !self.request_answered
                    && self
                        .last_request
                        .as_ref()
                        .is_some_and(|(id, _)| *id == repr.identifier);
                self.request_answered |= matches;
                if !matches && !matches!(self.state, Closed | Stopped) {
                    self.counters.discarded += 1;
                    return;
                }
                if matches && matches!(self.state, ReqSent | AckRcvd | AckSent | Opened) {
                    self.naks_received_in_a_row += 1;
                    let result = if repr.code == Code::ConfigureNak {
                        self.negotiator.naked(repr.data)
                    } else {
                        self.negotiator.rejected(repr.data)
                    }
                    .and(
                        if self.naks_received_in_a_row > self.config.max_failure {
                            Err(NegotiationError::Required)
                        } else {
                            Ok(())
                        },
                    );
                    if let Err(e) = result {
                        if e == NegotiationError::Malformed {
                            self.counters.discarded += 1;
                            return;
                        }
                        self.outputs.push_back(Output::Failed(e));
                        self.event(now, Event::Close);
                        return;
                    }
                }
                self.pending_terminate_id = repr.identifier;
                self.event(now, Event::Rcn);
            }
            Code::TerminateRequest => {
                self.pending_terminate_id = repr.identifier;
                self.event(now, Event::Rtr);
            }
            Code::TerminateAck => self.event(now, Event::Rta),
            Code::CodeReject => {
                let Ok(rejected) = CodeRejectRepr::parse(repr.data) else {
                    self.counters.discarded += 1;
                    return;
                };
                // RFC 1661 §5.6: a rejected Configure-* or Terminate-* code means we
                // cannot talk to this peer at all.
                let catastrophic = matches!(
                    rejected.rejected_code(),
                    Code::ConfigureRequest
                        | Code::ConfigureAck
                        | Code::ConfigureNak
                        | Code::ConfigureReject
                        | Code::TerminateRequest
                        | Code::TerminateAck
                );
                self.event(
                    now,
                    if catastrophic {
                        Event::RxjMinus
                    } else {
                        Event::RxjPlus
                    },
                );
            }
            _ => {
                self.pending_received =
                    Some(packet[..repr.buffer_len().min(packet.len())].to_vec());
                self.event(now, Event::Ruc);
            }
        }
    }

    fn receive_configure_request(&mut self, now: Instant, repr: &ControlRepr<'_>) {
        if matches!(self.state, Initial | Starting) {
            self.counters.discarded += 1;
            return;
        }
        // Closed: answered with Terminate-Ack whatever the options (sta/2);
        // Closing/Stopping: ignored. Judging would only change negotiator state.
        if matches!(self.state, Closed | Closing | Stopping) {
            self.pending_terminate_id = repr.identifier;
            self.event(now, Event::RcrPlus);
            return;
        }
        // An exact duplicate (same Identifier, same options) of the request we
        // acknowledged to reach Opened is answered again instead of restarting the
        // negotiation: the network duplicated it, or the peer lost our Ack and
        // retransmitted without changing the Identifier. A real renegotiation
        // changes the Identifier (RFC 1661 §5.1 requires it when options change).
        if self.state == Opened
            && self
                .last_ack_sent
                .as_ref()
                .is_some_and(|(id, opts)| *id == repr.identifier && opts[..] == *repr.data)
        {
            self.counters.duplicates += 1;
            self.outputs.push_back(Output::Send(control_packet(
                Code::ConfigureAck,
                repr.identifier,
                repr.data,
            )));
            return;
        }
        // A request from a non-negotiating state starts a fresh negotiation: reset
        // before judging, as the table's scr will follow.
        if matches!(self.state, Stopped | Opened) {
            self.negotiator.reset();
            self.naks_sent_in_a_row = 0;
        }
        let nak_allowed = self.naks_sent_in_a_row < self.config.max_failure;
        let mut out = Vec::new();
        let verdict = self
            .negotiator
            .judge_request(repr.data, nak_allowed, &mut out);
        let (event, answer) = match verdict {
            Verdict::Malformed => {
                self.counters.discarded += 1;
                return;
            }
            Verdict::Ack => {
                self.last_ack_sent = Some((repr.identifier, repr.data.to_vec()));
                (
                    Event::RcrPlus,
                    control_packet(Code::ConfigureAck, repr.identifier, repr.data),
                )
            }
            Verdict::Nak => (
                Event::RcrMinus,
                control_packet(Code::ConfigureNak, repr.identifier, &out),
            ),
            Verdict::Reject => (
                Event::RcrMinus,
                control_packet(Code::ConfigureReject, repr.identifier, &out),
            ),
        };
        self.pending_answer = Some(answer);
        self.event(now, event);
        self.pending_answer = None;
    }

    /// Applies one event through the table.
    pub fn event(&mut self, now: Instant, event: Event) {
        let Some((actions, next)) = transition(self.state, event) else {
            self.counters.discarded += 1;
            return;
        };
        let was_negotiating = matches!(self.state, ReqSent | AckRcvd | AckSent);
        for &action in actions {
            match action {
                Tlu => {
                    self.naks_received_in_a_row = 0;
                    self.outputs.push_back(Output::Up);
                }
                Tld => self.outputs.push_back(Output::Down),
                Tls => self.outputs.push_back(Output::Started),
                Tlf => self.outputs.push_back(Output::Finished),
                Irc => {
                    self.restart_count = if actions.contains(&Str) {
                        self.config.max_terminate
                    } else {
                        self.config.max_configure
                    }
                }
                Zrc => {
                    self.restart_count = 0;
                    self.timer = Some(now + self.config.restart_timer);
                }
                Scr => {
                    if !was_negotiating {
                        self.negotiator.reset();
                        self.naks_sent_in_a_row = 0;
                        self.naks_received_in_a_row = 0;
                    }
                    let mut options = Vec::new();
                    self.negotiator.request_options(&mut options);
                    let id = self.take_identifier();
                    self.outputs.push_back(Output::Send(control_packet(
                        Code::ConfigureRequest,
                        id,
                        &options,
                    )));
                    self.last_request = Some((id, options));
                    self.request_answered = false;
                    self.counters.configure_requests_sent += 1;
                    self.restart_count = self.restart_count.saturating_sub(1);
                    self.timer = Some(now + self.config.restart_timer);
                }
                Sca => {
                    if let Some(answer) = self.pending_answer.take() {
                        self.naks_sent_in_a_row = 0;
                        self.outputs.push_back(Output::Send(answer));
                    }
                }
                Scn => {
                    if let Some(answer) = self.pending_answer.take() {
                        if answer.first() == Some(&u8::from(Code::ConfigureNak)) {
                            self.naks_sent_in_a_row += 1;
                            self.counters.naks_sent += 1;
                        } else {
                            self.counters.rejects_sent += 1;
                        }
                        self.outputs.push_back(Output::Send(answer));
                    }
                }
                Str => {
                    let id = self.take_identifier();
                    let data = self.terminate_data.clone();
                    self.outputs.push_back(Output::Send(control_packet(
                        Code::TerminateRequest,
                        id,
                        &data,
                    )));
                    self.restart_count = self.restart_count.saturating_sub(1);
                    self.timer = Some(now + self.config.restart_timer);
                }
                Sta => self.outputs.push_back(Output::Send(control_packet(
                    Code::TerminateAck,
                    self.pending_terminate_id,
                    &[],
                ))),
                Scj => {
                    if let Some(mut rejected) = self.pending_received.take() {
                        rejected.truncate(self.peer_mru.saturating_sub(4));
                        let id = self.take_identifier();
                        self.outputs.push_back(Output::Send(control_packet(
                            Code::CodeReject,
                            id,
                            &rejected,
                        )));
                    }
                }
                // Echo is LCP's; the engine answers it before the automaton sees it.
                Ser => {}
            }
        }
        self.state = next;
        if !matches!(next, Closing | Stopping | ReqSent | AckRcvd | AckSent) {
            self.timer = None;
        }
    }
}

/// Builds a control packet (RFC 1661 §5). `data` longer than the Length field can
/// express is cut (our own packets never are; Code-Reject copies are bounded by
/// the received packet, itself bounded by its Length).
pub fn control_packet(code: Code, identifier: u8, data: &[u8]) -> Vec<u8> {
    let data = &data[..data.len().min(crate::wire::ppp::MAX_CONTROL_DATA_LEN)];
    let repr = ControlRepr {
        code,
        identifier,
        data,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ControlPacket::new_unchecked(&mut buf[..]));
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ppp_options::{OptionRepr, Options, emit_options};

    /// RFC 1661 §4.1, transcribed column by column ("-" = None). Each row is an
    /// event; the cells are for states 0..9 in RFC order.
    type Cell = Option<(Vec<Action>, State)>;

    fn rfc_table() -> Vec<(Event, [Cell; 10])> {
        use Event::*;
        fn c(actions: &[Action], s: State) -> Cell {
            Some((actions.to_vec(), s))
        }
        let n = None;
        vec![
            (
                Up,
                [
                    c(&[], Closed),
                    c(&[Irc, Scr], ReqSent),
                    n.clone(),
                    n.clone(),
                    n.clone(),
                    n.clone(),
                    n.clone(),
                    n.clone(),
                    n.clone(),
                    n.clone(),
                ],
            ),
            (
                Down,
                [
                    n.clone(),
                    n.clone(),
                    c(&[], Initial),
                    c(&[Tls], Starting),
                    c(&[], Initial),
                    c(&[], Starting),
                    c(&[], Starting),
                    c(&[], Starting),
                    c(&[], Starting),
                    c(&[Tld], Starting),
                ],
            ),
            (
                Open,
                [
                    c(&[Tls], Starting),
                    c(&[], Starting),
                    c(&[Irc, Scr], ReqSent),
                    c(&[], Stopped),
                    c(&[], Stopping),
                    c(&[], Stopping),
                    c(&[], ReqSent),
                    c(&[], AckRcvd),
                    c(&[], AckSent),
                    c(&[], Opened),
                ],
            ),
            (
                Close,
                [
                    c(&[], Initial),
                    c(&[Tlf], Initial),
                    c(&[], Closed),
                    c(&[], Closed),
                    c(&[], Closing),
                    c(&[], Closing),
                    c(&[Irc, Str], Closing),
                    c(&[Irc, Str], Closing),
                    c(&[Irc, Str], Closing),
                    c(&[Tld, Irc, Str], Closing),
                ],
            ),
            (
                TimeoutPlus,
                [
                    n.clone(),
                    n.clone(),
                    n.clone(),
                    n.clone(),
                    c(&[Str], Closing),
                    c(&[Str], Stopping),
                    c(&[Scr], ReqSent),
                    c(&[Scr], ReqSent),
                    c(&[Scr], AckSent),
                    n.clone(),
                ],
            ),
            (
                TimeoutMinus,
                [
                    n.clone(),
                    n.clone(),
                    n.clone(),
                    n.clone(),
                    c(&[Tlf], Closed),
                    c(&[Tlf], Stopped),
                    c(&[Tlf], Stopped),
                    c(&[Tlf], Stopped),
                    c(&[Tlf], Stopped),
                    n.clone(),
                ],
            ),
            (
                RcrPlus,
                [
                    n.clone(),
                    n.clone(),
                    c(&[Sta], Closed),
                    c(&[Irc, Scr, Sca], AckSent),
                    c(&[], Closing),
                    c(&[], Stopping),
                    c(&[Sca], AckSent),
                    c(&[Sca, Tlu], Opened),
                    c(&[Sca], AckSent),
                    c(&[Tld, Scr, Sca], AckSent),
                ],
            ),
            (
                RcrMinus,
                [
                    n.clone(),
                    n.clone(),
                    c(&[Sta], Closed),
                    c(&[Irc, Scr, Scn], ReqSent),
                    c(&[], Closing),
                    c(&[], Stopping),
                    c(&[Scn], ReqSent),
                    c(&[Scn], AckRcvd),
                    c(&[Scn], ReqSent),
                    c(&[Tld, Scr, Scn], ReqSent),
                ],
            ),
            (
                Rca,
                [
                    n.clone(),
                    n.clone(),
                    c(&[Sta], Closed),
                    c(&[Sta], Stopped),
                    c(&[], Closing),
                    c(&[], Stopping),
                    c(&[Irc], AckRcvd),
                    c(&[Scr], ReqSent),
                    c(&[Irc, Tlu], Opened),
                    c(&[Tld, Scr], ReqSent),
                ],
            ),
            (
                Rcn,
                [
                    n.clone(),
                    n.clone(),
                    c(&[Sta], Closed),
                    c(&[Sta], Stopped),
                    c(&[], Closing),
                    c(&[], Stopping),
                    c(&[Irc, Scr], ReqSent),
                    c(&[Scr], ReqSent),
                    c(&[Irc, Scr], AckSent),
                    c(&[Tld, Scr], ReqSent),
                ],
            ),
            (
                Rtr,
                [
                    n.clone(),
                    n.clone(),
                    c(&[Sta], Closed),
                    c(&[Sta], Stopped),
                    c(&[Sta], Closing),
                    c(&[Sta], Stopping),
                    c(&[Sta], ReqSent),
                    c(&[Sta], ReqSent),
                    c(&[Sta], ReqSent),
                    c(&[Tld, Zrc, Sta], Stopping),
                ],
            ),
            (
                Rta,
                [
                    n.clone(),
                    n.clone(),
                    c(&[], Closed),
                    c(&[], Stopped),
                    c(&[Tlf], Closed),
                    c(&[Tlf], Stopped),
                    c(&[], ReqSent),
                    c(&[], ReqSent),
                    c(&[], AckSent),
                    c(&[Tld, Scr], ReqSent),
                ],
            ),
            (
                Ruc,
                [
                    n.clone(),
                    n.clone(),
                    c(&[Scj], Closed),
                    c(&[Scj], Stopped),
                    c(&[Scj], Closing),
                    c(&[Scj], Stopping),
                    c(&[Scj], ReqSent),
                    c(&[Scj], AckRcvd),
                    c(&[Scj], AckSent),
                    c(&[Scj], Opened),
                ],
            ),
            (
                RxjPlus,
                [
                    n.clone(),
                    n.clone(),
                    c(&[], Closed),
                    c(&[], Stopped),
                    c(&[], Closing),
                    c(&[], Stopping),
                    c(&[], ReqSent),
                    c(&[], ReqSent),
                    c(&[], AckSent),
                    c(&[], Opened),
                ],
            ),
            (
                RxjMinus,
                [
                    n.clone(),
                    n.clone(),
                    c(&[Tlf], Closed),
                    c(&[Tlf], Stopped),
                    c(&[Tlf], Closed),
                    c(&[Tlf], Stopped),
                    c(&[Tlf], Stopped),
                    c(&[Tlf], Stopped),
                    c(&[Tlf], Stopped),
                    c(&[Tld, Irc, Str], Stopping),
                ],
            ),
            (
                Rxr,
                [
                    n.clone(),
                    n.clone(),
                    c(&[], Closed),
                    c(&[], Stopped),
                    c(&[], Closing),
                    c(&[], Stopping),
                    c(&[], ReqSent),
                    c(&[], AckRcvd),
                    c(&[], AckSent),
                    c(&[Ser], Opened),
                ],
            ),
        ]
    }

    const STATES: [State; 10] = [
        Initial, Starting, Closed, Stopped, Closing, Stopping, ReqSent, AckRcvd, AckSent, Opened,
    ];

    #[test]
    fn transition_table_matches_rfc_1661_4_1() {
        let table = rfc_table();
        assert_eq!(table.len(), 16);
        let mut checked = 0;
        for (event, row) in &table {
            for (state, expected) in STATES.iter().zip(row) {
                let got = transition(*state, *event).map(|(a, s)| (a.to_vec(), s));
                assert_eq!(&got, expected, "{state:?} x {event:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, 160);
    }

    /// A negotiator with one option (type 1, one octet) whose acceptable value is
    /// fixed; the peer's value is Naked to it. Our own request carries `ours`.
    #[derive(Debug)]
    struct OneOption {
        ours: u8,
        start: u8,
        accept: u8,
        acked: Option<u8>,
    }

    impl Negotiator for OneOption {
        fn reset(&mut self) {
            self.ours = self.start;
        }
        fn request_options(&mut self, out: &mut Vec<u8>) {
            out.extend_from_slice(&[1, 3, self.ours]);
        }
        fn judge_request(
            &mut self,
            options: &[u8],
            nak_allowed: bool,
            out: &mut Vec<u8>,
        ) -> Verdict {
            let mut verdict = Verdict::Ack;
            for o in Options::new(options) {
                let Ok(o) = o else { return Verdict::Malformed };
                if o.data != [self.accept] {
                    let fix = [self.accept];
                    let nak = OptionRepr {
                        option_type: 1,
                        data: &fix,
                    };
                    let mut b = [0u8; 3];
                    if nak_allowed {
                        emit_options(&[nak], &mut b);
                        verdict = Verdict::Nak;
                    } else {
                        emit_options(&[o], &mut b);
                        verdict = Verdict::Reject;
                    }
                    out.extend_from_slice(&b);
                }
            }
            verdict
        }
        fn acked(&mut self, options: &[u8]) {
            self.acked = options.get(2).copied();
        }
        fn naked(&mut self, options: &[u8]) -> Result<(), NegotiationError> {
            self.ours = *options.get(2).ok_or(NegotiationError::Malformed)?;
            Ok(())
        }
        fn rejected(&mut self, _: &[u8]) -> Result<(), NegotiationError> {
            Err(NegotiationError::Required)
        }
    }

    fn fsm(ours: u8, accept: u8) -> Fsm<OneOption> {
        Fsm::new(
            Protocol::Ipcp,
            FsmConfig::default(),
            OneOption {
                ours,
                start: ours,
                accept,
                acked: None,
            },
        )
    }

    fn sent(f: &mut Fsm<OneOption>) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        while let Some(o) = f.poll_output() {
            if let Output::Send(p) = o {
                v.push(p);
            }
        }
        v
    }

    #[test]
    fn two_automata_converge_through_a_nak() {
        let now = Instant::now();
        // a requests 7 but b only accepts 9; b requests 9 which a accepts.
        let mut a = fsm(7, 9);
        let mut b = fsm(9, 9);
        for f in [&mut a, &mut b] {
            f.up(now);
            f.open(now);
        }
        for _ in 0..10 {
            let from_a = sent(&mut a);
            let from_b = sent(&mut b);
            if from_a.is_empty() && from_b.is_empty() {
                break;
            }
            for p in from_a {
                b.handle_packet(now, &p);
            }
            for p in from_b {
                a.handle_packet(now, &p);
            }
        }
        assert_eq!(a.state(), Opened);
        assert_eq!(b.state(), Opened);
        assert_eq!(a.negotiator.acked, Some(9));
        assert_eq!(b.counters.naks_sent, 1);
        assert_eq!(a.timeout(), None);
    }

    #[test]
    fn request_is_retransmitted_then_gives_up_after_max_configure() {
        let t0 = Instant::now();
        let mut a = fsm(7, 9);
        a.up(t0);
        a.open(t0);
        let first = sent(&mut a);
        assert_eq!(first.len(), 1);
        assert_eq!(&first[0][..4], &[1, 1, 0, 7]);
        let mut now = t0;
        let mut requests = 1;
        while let Some(t) = a.timeout() {
            assert_eq!(t, now + Duration::from_secs(3));
            now = t;
            a.handle_timeout(now);
            requests += sent(&mut a).len();
        }
        assert_eq!(requests, 10);
        assert_eq!(a.state(), Stopped);
        let outputs: Vec<_> = std::iter::from_fn(|| a.poll_output()).collect();
        assert!(outputs.is_empty());
    }

    #[test]
    fn peer_naks_forever_is_bounded_by_max_failure() {
        let now = Instant::now();
        let mut a = fsm(7, 9);
        a.up(now);
        a.open(now);
        let mut failed = None;
        for _ in 0..20 {
            let mut reqs = Vec::new();
            while let Some(o) = a.poll_output() {
                match o {
                    Output::Send(p) if p[0] == 1 => reqs.push(p),
                    Output::Failed(e) => failed = Some(e),
                    _ => {}
                }
            }
            let Some(req) = reqs.pop() else { break };
            // The peer Naks to a value that differs from ours every time.
            let nak = control_packet(Code::ConfigureNak, req[1], &[1, 3, req[6].wrapping_add(1)]);
            a.handle_packet(now, &nak);
        }
        assert_eq!(failed, Some(NegotiationError::Required));
        assert_eq!(a.state(), Closing);
        assert_eq!(a.counters.configure_requests_sent, 6);
    }

    #[test]
    fn naks_become_rejects_after_max_failure() {
        let now = Instant::now();
        let mut a = fsm(7, 9);
        a.up(now);
        a.open(now);
        sent(&mut a);
        let mut codes = Vec::new();
        for id in 0..7u8 {
            a.handle_packet(now, &control_packet(Code::ConfigureRequest, id, &[1, 3, 5]));
            for p in sent(&mut a) {
                if p[0] != 1 {
                    codes.push(p[0]);
                }
            }
        }
        assert_eq!(codes, vec![3, 3, 3, 3, 3, 4, 4]);
    }

    #[test]
    fn stale_ack_and_wrong_options_are_discarded() {
        let now = Instant::now();
        let mut a = fsm(9, 9);
        a.up(now);
        a.open(now);
        let req = sent(&mut a).remove(0);
        a.handle_packet(
            now,
            &control_packet(Code::ConfigureAck, req[1].wrapping_add(1), &req[4..]),
        );
        a.handle_packet(now, &control_packet(Code::ConfigureAck, req[1], &[1, 3, 8]));
        assert_eq!(a.state(), ReqSent);
        assert_eq!(a.counters.discarded, 2);
        a.handle_packet(now, &control_packet(Code::ConfigureAck, req[1], &req[4..]));
        assert_eq!(a.state(), AckRcvd);
    }

    #[test]
    fn terminate_from_opened_and_code_reject() {
        let now = Instant::now();
        let mut a = fsm(9, 9);
        a.up(now);
        a.open(now);
        let req = sent(&mut a).remove(0);
        a.handle_packet(now, &control_packet(Code::ConfigureAck, req[1], &req[4..]));
        a.handle_packet(now, &control_packet(Code::ConfigureRequest, 42, &[1, 3, 9]));
        assert_eq!(a.state(), Opened);
        assert_eq!(sent(&mut a), vec![vec![2, 42, 0, 7, 1, 3, 9]]);
        // Unknown code 0x20 -> Code-Reject carrying the packet.
        a.handle_packet(now, &[0x20, 5, 0, 5, 0xaa]);
        let cj = sent(&mut a);
        assert_eq!(cj.len(), 1);
        assert_eq!(cj[0][0], 7);
        assert_eq!(&cj[0][4..], &[0x20, 5, 0, 5, 0xaa]);
        // Terminate-Request -> Terminate-Ack with its id, Stopping, then Stopped.
        a.handle_packet(now, &control_packet(Code::TerminateRequest, 77, b"bye"));
        assert_eq!(a.state(), Stopping);
        let outs: Vec<_> = std::iter::from_fn(|| a.poll_output()).collect();
        assert_eq!(outs, vec![Output::Down, Output::Send(vec![6, 77, 0, 4])]);
        let t = a.timeout().unwrap();
        a.handle_timeout(t);
        assert_eq!(a.state(), Stopped);
        assert_eq!(a.poll_output(), Some(Output::Finished));
    }

    #[test]
    fn close_sends_max_terminate_requests() {
        let t0 = Instant::now();
        let mut a = fsm(9, 9);
        a.up(t0);
        a.open(t0);
        sent(&mut a);
        a.set_terminate_data(b"admin");
        a.close(t0);
        let mut trs = sent(&mut a);
        while let Some(t) = a.timeout() {
            a.handle_timeout(t);
            trs.extend(sent(&mut a));
        }
        assert_eq!(trs.len(), 2);
        assert!(trs.iter().all(|p| p[0] == 5 && &p[4..] == b"admin"));
        assert_eq!(a.state(), Closed);
    }
}

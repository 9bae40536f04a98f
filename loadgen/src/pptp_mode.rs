//! `--mode pptp`: emulated PPTP clients like the one built into Windows. Each client
//! opens its own TCP control connection to port 1723 (its own source port, as
//! clients behind a NAT have), runs Start-Control-Connection and one
//! Outgoing-Call-Request on the library's client engine (`shardvpn::proto::pptp`),
//! then a real PPP client (LCP, MS-CHAPv2, CCP with MPPE, IPCP) over enhanced GRE
//! (RFC 2637 §4). With traffic on it pings the concentrator's PPP-side address
//! through its call, MPPE-encrypted, and measures round trips; at the end it hangs
//! up the way Windows does: LCP Terminate, Call-Clear-Request, then
//! Stop-Control-Connection, then the TCP connection is closed.
//!
//! Decisions:
//! - **One thread, epoll.** 10,000 clients are 10,000 TCP connections plus one raw GRE
//!   socket; a `poll(2)` over all of them per wake-up would make every turn
//!   O(clients), so readiness comes from epoll (`sys`) and each turn costs O(ready).
//!   Connects do not block either: a full accept queue on the server delays one
//!   client, not all of them. Timers are the shared deadline heap; an entry is only
//!   added when it is earlier than the one pending for that client and purpose
//!   (control, PPP, GRE acknowledgment), so the heap stays O(clients) however long
//!   the run.
//! - **One raw GRE socket for all calls** (IPPROTO_GRE, needs CAP_NET_RAW). The kernel
//!   hands it every GRE packet with the IPv4 header in front (skipped by its IHL); the
//!   Key's Call ID is the ID *we* chose in the Outgoing-Call-Request (the receiver's
//!   call ID, §4.1); loadgen gives client `i` call ID `i + 1` at setup (a client that
//!   starts over a free one) and demultiplexes through a 64 Ki-entry table. We send with the server's call ID from the Outgoing-Call-Reply; the
//!   kernel adds the IPv4 header.
//! - **GRE before the Outgoing-Call-Reply**: a server may send its first LCP
//!   Configure-Request the moment it has sent the reply, and the GRE socket may be
//!   read before the TCP one; up to 8 such packets are kept and handed to the call
//!   once the reply is processed (dropping them cost a 3 s LCP restart).
//! - **Framing** (RFC 2637 §4, RFC 1662): we send Address/Control `FF 03` and a 2-octet
//!   protocol field; we accept both with and without ACFC/PFC.
//! - **Encryption**: control protocols (LCP, CHAP, CCP, IPCP) go in clear; IPv4 only
//!   ever goes MPPE-encrypted (protocol 0x00FD, RFC 3078 §3): a ping before CCP is up
//!   is not sent, and unencrypted IPv4 from the server is dropped and counted. The
//!   keys come from the MS-CHAPv2 NT-Response (RFC 3079 §3) in the client role. A
//!   stateful decryptor that loses sync sends a CCP Reset-Request; a Reset-Request
//!   from the server resets our encryptor.
//! - **Sequencing**: [`GreSeq`] numbers every data packet and piggybacks
//!   acknowledgments; when one is owed and nothing goes the other way, an
//!   acknowledgment-only packet follows after `ACK_DELAY`. Out-of-order packets are
//!   dropped, as the daemon does.
//! - **Setup latency** runs from the TCP connect to IPCP *and* MPPE up: a session
//!   that cannot carry encrypted traffic is not established.
//! - **Clean teardown** for a client means: its PPP closed, its call was cleared
//!   (Call-Disconnect-Notify received, whether in answer to our Call-Clear-Request or
//!   sent by the server on LCP Terminate) and the server answered the
//!   Stop-Control-Connection-Request. The engine reports a Stop that timed out the
//!   same way as one that was answered ([`CloseReason::Local`]), so an answer is
//!   recognised by a message having arrived after the request. A server that sends
//!   its own Stop-Control-Connection-Request during our hang-up also ends it in
//!   order: clean, and counted as `teardown_stopped_by_server`. A Call-Clear-Request
//!   unanswered for 5 s is followed by the Stop anyway, and that client's teardown
//!   is not clean (`call_clear_unanswered`).
//! - **Malformed input** is never fatal: every packet dropped is counted under its
//!   reason in the report's `dropped`.
//! - **Storm and churn** (`scale`): a storm resets every non-bystander's TCP
//!   connection (SO_LINGER 0: a RST) and reconnects it; churn hangs a client up the
//!   Windows way and dials again. A client that starts over gets a new call ID (a
//!   table maps call IDs to clients), so GRE still arriving for its old call is not
//!   taken for the new one.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ring::rand::SystemRandom;
use shardvpn::control::frames::split_ppp_frame;
use shardvpn::control::timers::Timers;
use shardvpn::crypto::ppp::mppe::{
    MppeDecryptor, MppeEncryptor, MppeError, Role, mschapv2_start_keys,
};
use shardvpn::crypto::ppp::mschapv2::PasswordHash;
use shardvpn::proto::ppp::{
    self, AuthMethod, CcpPolicy, Credentials, MppePolicy, Ppp, PppConfig, PppEvent,
};
use shardvpn::proto::pptp::gre::{GreSeq, RxVerdict};
use shardvpn::proto::pptp::{CloseReason, Control, Event, PptpConfig};
use shardvpn::runtime::raw::RawIpv4Socket;
use shardvpn::wire::gre;
use shardvpn::wire::pptp::{DisconnectResult, StopReason};

use crate::common::{
    Echoes, Keepalives, Origin, PhaseCount, Progress, STORM_REDIAL_DELAY, echo_request, fill,
    lcp_echo_request, parse_echo_reply, parse_lcp_echo_reply,
};
use crate::report::{self, Latencies, Report, Traffic};
use crate::scale::{Probe, Scale};
use crate::sys::{Epoll, Ready, connect_nonblocking, set_linger_zero};

/// IP protocol number of GRE.
const IPPROTO_GRE: u8 = 47;
/// PPP protocol numbers used here (RFC 1661, RFC 1332, RFC 3078).
const PROTOCOL_IPV4: u16 = 0x0021;
const PROTOCOL_MPPE: u16 = 0x00fd;
const PROTOCOL_LCP: u16 = 0xc021;
/// Receive buffer of the shared GRE socket: every call's packets arrive on it.
const GRE_RECV_BUFFER: usize = 8 << 20;
/// Packets read from the GRE socket per wake-up, so TCP clients are not starved.
const GRE_BATCH: usize = 4096;
/// Reads per TCP connection per wake-up.
const TCP_READS: usize = 8;
/// The epoll token of the GRE socket; client `i` is `i + 1`.
const GRE_TOKEN: u64 = 0;
/// How long a Call-Clear-Request waits for its Call-Disconnect-Notify before the
/// connection is stopped anyway (the engine itself does not time it out).
const CALL_CLEAR_TIMEOUT: Duration = Duration::from_secs(5);
/// GRE packets kept per call while its Outgoing-Call-Reply is awaited.
const EARLY_GRE_PACKETS: usize = 8;
/// Data packets in flight we allow the server (Packet Receive Window Size, §2.7).
const RECEIVE_WINDOW: u16 = 64;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The concentrator's PPTP control address (TCP, usually port 1723); GRE goes to
    /// the same IP.
    pub server: SocketAddrV4,
    /// Source address of the TCP connections (unspecified: the kernel's choice).
    pub bind: Ipv4Addr,
    /// Clients (one control connection and one call each); at most 65,535.
    pub sessions: usize,
    /// Clients started per second (None: as fast as `max_outstanding` allows).
    pub rate: Option<f64>,
    /// At most this many clients in setup at once.
    pub max_outstanding: usize,
    /// Pings per second over all sessions once established (0: no traffic).
    pub traffic_pps: u64,
    pub duration: Duration,
    pub user: String,
    pub password: String,
    /// Give up on clients not established after this long.
    pub setup_timeout: Duration,
    /// The MPPE the clients ask for (key lengths offered, stateless or stateful).
    pub mppe: MppePolicy,
    /// Hold, churn, storm and bystanders (see `scale`).
    pub scale: Scale,
}

impl Options {
    /// MPPE-128 required, stateless preferred: what Windows asks for.
    pub fn default_mppe() -> MppePolicy {
        MppePolicy {
            allow_40: false,
            allow_128: true,
            prefer_stateless: true,
            required: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Control(usize),
    Ppp(usize),
    Ack(usize),
    /// The Call-Clear-Request's wait for its Call-Disconnect-Notify is over.
    CallClear(usize),
}

/// Where a client is in its hang-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    /// LCP Terminate-Request sent, waiting for PPP to close.
    Lcp,
    /// Call-Clear-Request sent, waiting for Call-Disconnect-Notify.
    CallClear,
    /// Stop-Control-Connection-Request sent, waiting for the reply.
    Stop,
    /// Control connection over.
    Done,
}

struct Client {
    stream: Option<TcpStream>,
    /// The TCP handshake is in progress.
    connecting: bool,
    /// Registered with epoll for writability too.
    watching_write: bool,
    /// Control bytes not yet written.
    out: Vec<u8>,
    control: Control,
    /// Our call ID (the Key of the GRE packets the server sends us).
    call_id: u16,
    /// The server's call ID (the Key of the packets we send).
    peer_call_id: u16,
    call_up: bool,
    gre: GreSeq,
    ppp: Option<Ppp>,
    tx: Option<MppeEncryptor>,
    rx: Option<MppeDecryptor>,
    started: Instant,
    /// (our address, the server's PPP-side address) once IPCP is up.
    addrs: Option<(Ipv4Addr, Ipv4Addr)>,
    established: bool,
    failed: bool,
    closing: Option<Closing>,
    /// Messages received before our Stop-Control-Connection-Request.
    messages_at_stop: u64,
    /// Our Call-Clear-Request went unanswered (the teardown is then not clean).
    clear_unanswered: bool,
    clean: bool,
    ping_seq: u16,
    control_timer: Option<Instant>,
    ppp_timer: Option<Instant>,
    ack_timer: Option<Instant>,
    /// GRE packets that arrived before the Outgoing-Call-Reply was processed.
    early: Vec<Vec<u8>>,
    origin: Origin,
    /// When its Call-Clear-Request counts as unanswered.
    call_clear_deadline: Option<Instant>,
    /// Left alone by the storm; sends its own LCP echoes.
    bystander: bool,
    echoes: Option<Echoes>,
}

impl Client {
    fn in_teardown(&self) -> bool {
        matches!(
            self.closing,
            Some(Closing::Lcp | Closing::CallClear | Closing::Stop)
        )
    }
}

/// Schedules `key` at `when` unless an entry at or before it is already pending.
fn arm(timers: &mut Timers<Key>, slot: &mut Option<Instant>, when: Option<Instant>, key: Key) {
    if let Some(w) = when
        && slot.is_none_or(|s| w < s)
    {
        *slot = Some(w);
        timers.schedule(w, key);
    }
}

/// A PPP frame as sent in GRE: Address/Control, 2-octet protocol, packet.
pub fn ppp_frame(protocol: u16, packet: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(4 + packet.len());
    frame.extend_from_slice(&[0xff, 0x03]);
    frame.extend_from_slice(&protocol.to_be_bytes());
    frame.extend_from_slice(packet);
    frame
}

/// An IPv4 packet as an MPPE-encrypted PPP frame (RFC 3078 §3): `FF 03 00 FD`, the
/// MPPE header, then the encrypted protocol field (0x0021) and packet.
pub fn encrypted_ipv4_frame(tx: &mut MppeEncryptor, ip: &[u8]) -> Result<Vec<u8>, MppeError> {
    let mut frame = Vec::with_capacity(8 + ip.len());
    frame.extend_from_slice(&[0xff, 0x03, 0x00, 0xfd, 0, 0]);
    frame.extend_from_slice(&PROTOCOL_IPV4.to_be_bytes());
    frame.extend_from_slice(ip);
    tx.encrypt(&mut frame[4..])?;
    Ok(frame)
}

/// Why a received MPPE packet gave no IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    Mppe(MppeError),
    /// The plaintext has no valid protocol field.
    Malformed,
    /// Decrypted fine, but carries another protocol.
    NotIpv4(u16),
}

/// The IPv4 packet inside an MPPE packet (the payload of a protocol-0x00FD frame:
/// header and ciphertext); the plaintext's protocol field may be compressed (PFC).
pub fn open_ipv4(rx: &mut MppeDecryptor, mppe_packet: &[u8]) -> Result<Vec<u8>, OpenError> {
    let mut buf = mppe_packet.to_vec();
    let plain = rx.decrypt(&mut buf).map_err(OpenError::Mppe)?;
    let (protocol, ip) = split_ppp_frame(plain).ok_or(OpenError::Malformed)?;
    if protocol != PROTOCOL_IPV4 {
        return Err(OpenError::NotIpv4(protocol));
    }
    Ok(ip.to_vec())
}

/// An enhanced GRE packet (RFC 2637 §4.1) for the peer's `call_id`.
pub fn gre_packet(call_id: u16, seq: Option<u32>, ack: Option<u32>, payload: &[u8]) -> Vec<u8> {
    let repr = gre::Repr {
        protocol: gre::Protocol::Ppp,
        call_id,
        sequence_number: seq,
        acknowledgment_number: ack,
        payload,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut gre::Packet::new_unchecked(&mut buf[..]));
    buf
}

/// The GRE part of a packet read from a raw IPv4 socket (the IPv4 header skipped by
/// its IHL) and its source, or why it is not one for us.
pub fn strip_ipv4(packet: &[u8]) -> Result<(Ipv4Addr, &[u8]), &'static str> {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return Err("ipv4_malformed");
    }
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    if ihl < 20 || packet.len() < ihl {
        return Err("ipv4_malformed");
    }
    if packet[9] != IPPROTO_GRE {
        return Err("ipv4_not_gre");
    }
    let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    Ok((src, &packet[ihl..]))
}

/// A report name for a control connection that ended.
fn close_tag(reason: CloseReason) -> &'static str {
    match reason {
        CloseReason::PeerStopped(_) => "pptp_peer_stopped",
        CloseReason::Local => "pptp_closed",
        CloseReason::Framing => "pptp_framing",
        CloseReason::SetupTimeout => "pptp_setup_timeout",
        CloseReason::EchoTimeout => "pptp_echo_timeout",
        CloseReason::Refused(_) => "pptp_refused",
    }
}

fn mppe_tag(e: MppeError) -> &'static str {
    match e {
        MppeError::Truncated => "mppe_truncated",
        MppeError::NotEncrypted => "mppe_not_encrypted",
        MppeError::Compressed => "mppe_compressed",
        MppeError::NotFlushed => "mppe_not_flushed",
        MppeError::Stale { .. } => "mppe_stale",
        MppeError::NeedsReset { .. } => "mppe_needs_reset",
        MppeError::Discarding => "mppe_discarding",
        MppeError::KeyTooShort => "mppe_key_too_short",
    }
}

struct Run {
    opts: Options,
    clients: Vec<Client>,
    timers: Timers<Key>,
    epoll: Epoll,
    ready: Vec<Ready>,
    gre: RawIpv4Socket,
    ppp_config: Arc<PppConfig>,
    pptp_config: Arc<PptpConfig>,
    password_hash: PasswordHash,
    rng: SystemRandom,
    setup: Latencies,
    rtt: Latencies,
    failures: BTreeMap<String, u64>,
    dropped: BTreeMap<String, u64>,
    established: u64,
    failed: u64,
    pings_sent: u64,
    pings_received: u64,
    ping_sent_at: HashMap<(usize, u16), Instant>,
    buf: Vec<u8>,
    /// Call ID -> client index (`NO_CLIENT`: none): a restarted client gets a new
    /// call ID, so what the server still sends on the old call is not taken for it.
    call_index: Vec<u32>,
    next_call_id: u16,
    churn: PhaseCount,
    storm: PhaseCount,
    churn_torn_down: u64,
    keepalive: Keepalives,
    bytes_received: u64,
    /// Storm: clients to reconnect again, and when.
    storm_redials: VecDeque<(Instant, usize)>,
}

const NO_CLIENT: u32 = u32::MAX;

impl Run {
    fn drop_count(&mut self, reason: &str) {
        *self.dropped.entry(reason.to_owned()).or_default() += 1;
    }

    fn fail(&mut self, i: usize, reason: &str) {
        let c = &mut self.clients[i];
        if c.established || c.failed {
            return;
        }
        c.failed = true;
        match c.origin {
            Origin::Setup => {
                self.failed += 1;
                *self.failures.entry(reason.to_owned()).or_default() += 1;
            }
            Origin::Churn => self.churn.fail(reason),
            // Like a real client, a failed reconnect dials again after a pause.
            Origin::Storm if self.storm.retrying => {
                self.storm.retry(reason);
                self.storm_redials
                    .push_back((Instant::now() + STORM_REDIAL_DELAY, i));
            }
            Origin::Storm => self.storm.fail(reason),
        }
    }

    fn settled(&self) -> bool {
        self.clients.len() >= self.opts.sessions
            && self.established + self.failed >= self.opts.sessions as u64
    }

    fn outstanding(&self) -> usize {
        self.clients.len() - (self.established + self.failed) as usize
    }

    /// Starts client number `self.clients.len()`: TCP connect, SCCRQ queued.
    fn start_client(&mut self, now: Instant) {
        let i = self.clients.len();
        let call_id = (i + 1) as u16;
        let bystander = i < self.opts.scale.bystanders;
        let client = self.fresh_client(now, call_id, Origin::Setup, bystander);
        self.clients.push(client);
        self.call_index[usize::from(call_id)] = i as u32;
        self.connect(i);
    }

    /// Client `i` starts over: a new TCP connection and a new call ID.
    fn restart_client(&mut self, now: Instant, i: usize, origin: Origin) {
        self.close_stream(i);
        self.forget_call(i);
        let call_id = loop {
            self.next_call_id = self.next_call_id.wrapping_add(1).max(1);
            if self.call_index[usize::from(self.next_call_id)] == NO_CLIENT {
                break self.next_call_id;
            }
        };
        let bystander = self.clients[i].bystander;
        self.clients[i] = self.fresh_client(now, call_id, origin, bystander);
        self.call_index[usize::from(call_id)] = i as u32;
        match origin {
            Origin::Setup => {}
            Origin::Churn => self.churn.placed += 1,
            Origin::Storm => self.storm.placed += 1,
        }
        self.connect(i);
    }

    /// Client `i`'s call ID no longer names it.
    fn forget_call(&mut self, i: usize) {
        let id = usize::from(self.clients[i].call_id);
        if self.call_index[id] == i as u32 {
            self.call_index[id] = NO_CLIENT;
        }
    }

    fn fresh_client(&self, now: Instant, call_id: u16, origin: Origin, bystander: bool) -> Client {
        let control = Control::client(now, Arc::clone(&self.pptp_config));
        Client {
            stream: None,
            connecting: true,
            watching_write: true,
            out: Vec::new(),
            control,
            call_id,
            peer_call_id: 0,
            call_up: false,
            gre: GreSeq::new(0),
            ppp: None,
            tx: None,
            rx: None,
            started: now,
            addrs: None,
            established: false,
            failed: false,
            closing: None,
            messages_at_stop: 0,
            clear_unanswered: false,
            clean: false,
            ping_seq: 0,
            control_timer: None,
            ppp_timer: None,
            ack_timer: None,
            early: Vec::new(),
            origin,
            call_clear_deadline: None,
            bystander,
            echoes: bystander.then(Echoes::default),
        }
    }

    /// Opens client `i`'s TCP connection (its SCCRQ goes when it is up).
    fn connect(&mut self, i: usize) {
        let stream = match connect_nonblocking(self.opts.bind, self.opts.server) {
            Ok(s) => s,
            Err(_) => {
                self.fail(i, "tcp_connect");
                self.clients[i].closing = Some(Closing::Done);
                return;
            }
        };
        if self
            .epoll
            .add(stream.as_raw_fd(), i as u64 + 1, true)
            .is_err()
        {
            self.fail(i, "epoll");
            self.clients[i].closing = Some(Closing::Done);
            return;
        }
        self.clients[i].stream = Some(stream);
        let c = &mut self.clients[i];
        arm(
            &mut self.timers,
            &mut c.control_timer,
            c.control.poll_timeout(),
            Key::Control(i),
        );
    }

    /// Stops watching and closes client `i`'s TCP connection.
    fn close_stream(&mut self, i: usize) {
        if let Some(s) = self.clients[i].stream.take() {
            let _ = self.epoll.delete(s.as_raw_fd());
        }
        self.clients[i].connecting = false;
    }

    /// The TCP connection failed or the server closed it.
    fn tcp_lost(&mut self, now: Instant, i: usize, reason: &str) {
        self.close_stream(i);
        self.fail(i, reason);
        let c = &mut self.clients[i];
        if c.established && !c.in_teardown() {
            *self.dropped.entry("sessions_lost".into()).or_default() += 1;
        }
        c.closing = Some(Closing::Done);
        c.call_up = false;
        if let Some(ppp) = c.ppp.as_mut() {
            ppp.lower_down(now);
        }
        self.service_ppp(now, i);
    }

    /// Writes what is queued for client `i` and watches for writability while some
    /// of it is left.
    fn flush(&mut self, now: Instant, i: usize) {
        let c = &mut self.clients[i];
        if c.connecting {
            return;
        }
        let Some(stream) = c.stream.as_mut() else {
            c.out.clear();
            return;
        };
        let mut written = 0;
        let mut lost = false;
        while written < c.out.len() {
            match stream.write(&c.out[written..]) {
                Ok(0) => {
                    lost = true;
                    break;
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    lost = true;
                    break;
                }
            }
        }
        c.out.drain(..written);
        if lost {
            self.tcp_lost(now, i, "tcp_write");
            return;
        }
        let want = !c.out.is_empty();
        if want != c.watching_write {
            c.watching_write = want;
            let fd = stream.as_raw_fd();
            let _ = self.epoll.modify(fd, i as u64 + 1, want);
        }
    }

    /// Sends what client `i`'s control engine has queued and acts on its events.
    fn service_control(&mut self, now: Instant, i: usize) {
        loop {
            let c = &mut self.clients[i];
            while let Some(bytes) = c.control.poll_transmit() {
                c.out.extend_from_slice(&bytes);
            }
            self.flush(now, i);
            let Some(event) = self.clients[i].control.poll_event() else {
                break;
            };
            self.on_control_event(now, i, event);
        }
        let c = &mut self.clients[i];
        arm(
            &mut self.timers,
            &mut c.control_timer,
            c.control.poll_timeout(),
            Key::Control(i),
        );
    }

    fn on_control_event(&mut self, now: Instant, i: usize, event: Event) {
        match event {
            Event::Up => {
                let c = &mut self.clients[i];
                let id = c.call_id;
                if !c.control.place_call(now, id, id) {
                    self.fail(i, "pptp_place_call");
                    self.stop_control(now, i);
                }
            }
            Event::CallUp {
                local_call_id,
                peer_call_id,
                peer_window,
            } => {
                let c = &mut self.clients[i];
                if local_call_id != c.call_id || c.call_up {
                    return;
                }
                c.peer_call_id = peer_call_id;
                c.gre = GreSeq::new(peer_window);
                c.call_up = true;
                let mut ppp = {
                    let mut rng = fill(&self.rng);
                    Ppp::client(Arc::clone(&self.ppp_config), now, &mut rng)
                };
                ppp.open(now);
                self.clients[i].ppp = Some(ppp);
                self.service_ppp(now, i);
                for bytes in std::mem::take(&mut self.clients[i].early) {
                    self.on_gre(now, &bytes);
                }
            }
            Event::CallDown { .. } => {
                let c = &mut self.clients[i];
                c.call_up = false;
                if let Some(ppp) = c.ppp.as_mut() {
                    ppp.lower_down(now);
                }
                match c.closing {
                    Some(Closing::Stop | Closing::Done) => {}
                    Some(Closing::CallClear) => self.stop_control(now, i),
                    Some(Closing::Lcp) | None => {
                        // The server cleared the call: one call per client, so the
                        // connection goes too.
                        if c.established && c.closing.is_none() {
                            *self.dropped.entry("sessions_lost".into()).or_default() += 1;
                        }
                        self.fail(i, "pptp_call_down");
                        self.stop_control(now, i);
                    }
                }
                self.service_ppp(now, i);
            }
            Event::Closed { reason } => {
                let c = &mut self.clients[i];
                c.call_up = false;
                if c.closing == Some(Closing::Stop)
                    && !c.clear_unanswered
                    && reason == CloseReason::Local
                    && c.control.stats().messages_in > c.messages_at_stop
                {
                    c.clean = true;
                } else if c.in_teardown()
                    && !c.clear_unanswered
                    && matches!(reason, CloseReason::PeerStopped(_))
                {
                    // The server ended the connection itself in answer to our
                    // hang-up: orderly, if not what Windows' peers do; counted.
                    c.clean = true;
                    *self
                        .dropped
                        .entry("teardown_stopped_by_server".into())
                        .or_default() += 1;
                } else if c.established && !c.in_teardown() {
                    *self.dropped.entry("sessions_lost".into()).or_default() += 1;
                }
                c.closing = Some(Closing::Done);
                if let Some(ppp) = c.ppp.as_mut() {
                    ppp.lower_down(now);
                }
                self.fail(i, close_tag(reason));
                self.close_stream(i);
                self.service_ppp(now, i);
            }
            Event::CallRequest { .. } | Event::LinkInfo { .. } => {}
        }
    }

    /// Stop-Control-Connection-Request (the call is gone or never came).
    fn stop_control(&mut self, now: Instant, i: usize) {
        let c = &mut self.clients[i];
        if matches!(c.closing, Some(Closing::Stop | Closing::Done)) {
            return;
        }
        c.messages_at_stop = c.control.stats().messages_in;
        c.closing = Some(Closing::Stop);
        c.control.close(now, StopReason::None);
        self.service_control(now, i);
    }

    /// Call-Clear-Request (PPP is down), or the Stop if there is no call.
    fn clear_call(&mut self, now: Instant, i: usize) {
        let c = &mut self.clients[i];
        if c.call_up {
            c.closing = Some(Closing::CallClear);
            let id = c.call_id;
            c.control.end_call(id, DisconnectResult::Request);
            c.call_clear_deadline = Some(now + CALL_CLEAR_TIMEOUT);
            self.timers
                .schedule(now + CALL_CLEAR_TIMEOUT, Key::CallClear(i));
            self.service_control(now, i);
        } else {
            self.stop_control(now, i);
        }
    }

    /// Starts client `i`'s hang-up: LCP Terminate first if PPP runs.
    fn begin_teardown(&mut self, now: Instant, i: usize) {
        let c = &mut self.clients[i];
        if c.closing.is_some() || c.stream.is_none() {
            c.closing = Some(c.closing.unwrap_or(Closing::Done));
            return;
        }
        if c.connecting || !c.control.is_established() {
            c.closing = Some(Closing::Done);
            self.close_stream(i);
            return;
        }
        match c.ppp.as_mut() {
            Some(ppp) if !ppp.is_closed() && c.call_up => {
                c.closing = Some(Closing::Lcp);
                ppp.close(now, ppp::CloseReason::Admin);
                self.service_ppp(now, i);
            }
            _ => self.clear_call(now, i),
        }
    }

    /// Sends a PPP frame on client `i`'s call. False if there is no call or the send
    /// failed.
    fn send_frame(&mut self, i: usize, frame: &[u8]) -> bool {
        let c = &mut self.clients[i];
        if !c.call_up {
            return false;
        }
        let (seq, ack) = c.gre.on_send();
        let packet = gre_packet(c.peer_call_id, Some(seq), ack, frame);
        if self.gre.send_to(&packet, *self.opts.server.ip()).is_err() {
            self.drop_count("gre_send_error");
            return false;
        }
        true
    }

    fn send_ack(&mut self, i: usize, ack: u32) {
        let c = &self.clients[i];
        if !c.call_up {
            return;
        }
        let packet = gre_packet(c.peer_call_id, None, Some(ack), &[]);
        if self.gre.send_to(&packet, *self.opts.server.ip()).is_err() {
            self.drop_count("gre_send_error");
        }
    }

    /// Sends what client `i`'s PPP has to send and acts on its events.
    fn service_ppp(&mut self, now: Instant, i: usize) {
        let mut out = Vec::new();
        let mut events = Vec::new();
        {
            let c = &mut self.clients[i];
            let Some(ppp) = c.ppp.as_mut() else {
                return;
            };
            while let Some((protocol, packet)) = ppp.poll_transmit() {
                out.push(ppp_frame(protocol, &packet));
            }
            while let Some(e) = ppp.poll_event() {
                events.push(e);
            }
            let when = ppp.poll_timeout();
            arm(&mut self.timers, &mut c.ppp_timer, when, Key::Ppp(i));
        }
        for frame in out {
            self.send_frame(i, &frame);
        }
        for e in events {
            self.on_ppp_event(now, i, e);
        }
        let c = &mut self.clients[i];
        if !c.established && !c.failed && c.addrs.is_some() && c.tx.is_some() && c.rx.is_some() {
            c.established = true;
            let latency = now - c.started;
            match c.origin {
                Origin::Setup => {
                    self.established += 1;
                    self.setup.record(latency);
                }
                Origin::Churn => self.churn.up(now, latency),
                Origin::Storm => self.storm.up(now, latency),
            }
        }
    }

    fn on_ppp_event(&mut self, now: Instant, i: usize, event: PppEvent) {
        match event {
            PppEvent::Ipv4Up { local, peer, .. } => {
                self.clients[i].addrs = Some((local, peer));
            }
            PppEvent::Ipv4Down => self.clients[i].addrs = None,
            PppEvent::MppeUp { tx, rx } => {
                let c = &mut self.clients[i];
                let Some(nt) = c.ppp.as_ref().and_then(Ppp::mschapv2_nt_response) else {
                    self.fail(i, "mppe_without_mschapv2");
                    self.begin_teardown_after_failure(now, i);
                    return;
                };
                let (send, _) =
                    mschapv2_start_keys(&self.password_hash, &nt, tx.strength, Role::Client);
                let (_, recv) =
                    mschapv2_start_keys(&self.password_hash, &nt, rx.strength, Role::Client);
                match (
                    MppeEncryptor::new(&send, tx.strength, tx.mode),
                    MppeDecryptor::new(&recv, rx.strength, rx.mode),
                ) {
                    (Ok(e), Ok(d)) => {
                        c.tx = Some(e);
                        c.rx = Some(d);
                    }
                    _ => {
                        self.fail(i, "mppe_keys");
                        self.begin_teardown_after_failure(now, i);
                    }
                }
            }
            PppEvent::MppeDown => {
                let c = &mut self.clients[i];
                c.tx = None;
                c.rx = None;
            }
            PppEvent::MppeResetRequest => {
                if let Some(tx) = self.clients[i].tx.as_mut() {
                    tx.reset();
                }
            }
            PppEvent::Closed { reason } => {
                let c = &mut self.clients[i];
                c.tx = None;
                c.rx = None;
                c.addrs = None;
                match c.closing {
                    Some(Closing::Lcp) => self.clear_call(now, i),
                    Some(_) => {}
                    None => {
                        if c.established {
                            *self.dropped.entry("sessions_lost".into()).or_default() += 1;
                        }
                        self.fail(i, &format!("ppp_{}", reason.text().replace(' ', "_")));
                        self.clear_call(now, i);
                    }
                }
            }
            _ => {}
        }
    }

    /// A client that cannot go on: its PPP is closed, then the rest of the hang-up.
    fn begin_teardown_after_failure(&mut self, now: Instant, i: usize) {
        if self.clients[i].closing.is_none() {
            self.begin_teardown(now, i);
        }
    }

    /// Reads what the GRE socket has, at most [`GRE_BATCH`] packets.
    fn drain_gre(&mut self, now: Instant) {
        let mut buf = std::mem::take(&mut self.buf);
        for _ in 0..GRE_BATCH {
            let n = match self.gre.recv(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            self.on_gre_packet(now, &buf[..n]);
        }
        self.buf = buf;
    }

    fn on_gre_packet(&mut self, now: Instant, packet: &[u8]) {
        let (src, bytes) = match strip_ipv4(packet) {
            Ok(x) => x,
            Err(reason) => return self.drop_count(reason),
        };
        if src != *self.opts.server.ip() {
            return self.drop_count("gre_foreign_source");
        }
        self.on_gre(now, bytes);
    }

    /// A GRE packet from the server (IPv4 header removed).
    fn on_gre(&mut self, now: Instant, bytes: &[u8]) {
        let repr = match gre::Repr::parse_bytes(bytes) {
            Ok(r) => r,
            Err(_) => return self.drop_count("gre_malformed"),
        };
        if repr.protocol != gre::Protocol::Ppp {
            return self.drop_count("gre_not_ppp");
        }
        let i = self.call_index[usize::from(repr.call_id)] as usize;
        let Some(c) = self.clients.get_mut(i) else {
            return self.drop_count("gre_unknown_call");
        };
        if !c.call_up {
            // The server may send its first LCP Configure-Request the moment it has
            // sent the Outgoing-Call-Reply, and the GRE socket can be read before
            // the TCP one: keep a few packets until the reply is processed, or PPP
            // waits a restart interval for the retransmission.
            if c.closing.is_none() && c.early.len() < EARLY_GRE_PACKETS {
                c.early.push(bytes.to_vec());
                return;
            }
            let reason = if c.closing.is_some() {
                "gre_after_call"
            } else {
                "gre_before_call"
            };
            return self.drop_count(reason);
        }
        let verdict = c
            .gre
            .on_receive(now, repr.sequence_number, repr.acknowledgment_number);
        let deadline = c.gre.ack_deadline();
        arm(&mut self.timers, &mut c.ack_timer, deadline, Key::Ack(i));
        match verdict {
            RxVerdict::AckOnly => {}
            RxVerdict::Stale => self.drop_count("gre_out_of_order"),
            RxVerdict::Deliver => {
                let frame = repr.payload.to_vec();
                self.on_ppp_frame(now, i, &frame);
            }
        }
    }

    fn on_ppp_frame(&mut self, now: Instant, i: usize, frame: &[u8]) {
        let Some((protocol, payload)) = split_ppp_frame(frame) else {
            return self.drop_count("ppp_malformed");
        };
        match protocol {
            PROTOCOL_MPPE => {
                let Some(rx) = self.clients[i].rx.as_mut() else {
                    return self.drop_count("mppe_before_ccp");
                };
                match open_ipv4(rx, payload) {
                    Ok(ip) => self.on_ip(now, i, &ip),
                    Err(OpenError::Mppe(e @ MppeError::NeedsReset { .. })) => {
                        self.drop_count(mppe_tag(e));
                        if let Some(ppp) = self.clients[i].ppp.as_mut() {
                            ppp.send_reset_request();
                        }
                        self.service_ppp(now, i);
                    }
                    Err(OpenError::Mppe(e)) => self.drop_count(mppe_tag(e)),
                    Err(OpenError::Malformed) => self.drop_count("mppe_plaintext_malformed"),
                    Err(OpenError::NotIpv4(_)) => self.drop_count("mppe_not_ipv4"),
                }
            }
            PROTOCOL_IPV4 => self.drop_count("ipv4_unencrypted"),
            PROTOCOL_LCP if parse_lcp_echo_reply(payload).is_some() => {
                let seq = parse_lcp_echo_reply(payload).unwrap_or_default();
                let rtt = self.clients[i]
                    .echoes
                    .as_mut()
                    .and_then(|e| e.answered(now, seq));
                if let Some(rtt) = rtt
                    && self.keepalive.on
                {
                    self.keepalive.lcp.answered(rtt);
                }
            }
            _ => {
                let Some(ppp) = self.clients[i].ppp.as_mut() else {
                    return self.drop_count("ppp_before_call");
                };
                ppp.handle_frame(now, protocol, payload);
                self.service_ppp(now, i);
            }
        }
    }

    fn on_ip(&mut self, now: Instant, i: usize, packet: &[u8]) {
        let Some((_, sequence)) = parse_echo_reply(packet) else {
            return self.drop_count("ipv4_not_echo_reply");
        };
        if let Some(sent) = self.ping_sent_at.remove(&(i, sequence)) {
            self.pings_received += 1;
            self.bytes_received += packet.len() as u64;
            self.rtt.record(now - sent);
        }
    }

    fn ping(&mut self, now: Instant, i: usize) {
        let c = &mut self.clients[i];
        let (Some((src, dst)), Some(tx)) = (c.addrs, c.tx.as_mut()) else {
            return;
        };
        if !c.call_up || c.closing.is_some() {
            return;
        }
        c.ping_seq = c.ping_seq.wrapping_add(1);
        let seq = c.ping_seq;
        let request = echo_request(src, dst, c.call_id, seq);
        let Ok(frame) = encrypted_ipv4_frame(tx, &request) else {
            return self.drop_count("mppe_encrypt");
        };
        if self.send_frame(i, &frame) {
            self.pings_sent += 1;
            self.ping_sent_at.insert((i, seq), now);
        }
    }

    /// Sends the bystanders' LCP echoes that are due; a bystander whose echo is
    /// overdue, or whose call went, is lost.
    fn bystander_tick(&mut self, now: Instant, send: bool) {
        for i in 0..self.opts.scale.bystanders.min(self.clients.len()) {
            let c = &mut self.clients[i];
            let Some(e) = c.echoes.as_mut() else {
                continue;
            };
            if e.lost || (!c.established && c.closing.is_none()) {
                continue;
            }
            if e.overdue(now) || c.closing.is_some() || !c.call_up {
                e.lost = true;
                let why = if e.overdue(now) {
                    "echo_unanswered"
                } else {
                    "call_closed"
                };
                self.keepalive.lose(why);
                continue;
            }
            if !send {
                continue;
            }
            let Some(seq) = e.due(now) else {
                continue;
            };
            let magic = c.ppp.as_ref().map_or(0, |p| p.link_options().local_magic);
            let frame = ppp_frame(PROTOCOL_LCP, &lcp_echo_request(seq, magic));
            self.keepalive.lcp.sent += 1;
            self.send_frame(i, &frame);
        }
    }

    fn echoes_pending(&self) -> bool {
        self.clients
            .iter()
            .take(self.opts.scale.bystanders)
            .any(|c| c.echoes.as_ref().is_some_and(|e| !e.lost && e.pending()))
    }

    /// The storm's outage: every established client but the bystanders loses its
    /// TCP connection at once (a RST, as after a crash or a NAT reboot) and its call
    /// with it. Returns the clients to reconnect.
    fn storm_drop(&mut self) -> VecDeque<usize> {
        let mut dropped = VecDeque::new();
        for i in 0..self.clients.len() {
            let c = &mut self.clients[i];
            if c.bystander || !c.established || c.closing.is_some() {
                continue;
            }
            if let Some(stream) = c.stream.as_ref() {
                let _ = set_linger_zero(stream);
            }
            c.closing = Some(Closing::Done);
            c.call_up = false;
            c.ppp = None;
            self.close_stream(i);
            self.forget_call(i);
            dropped.push_back(i);
        }
        dropped
    }

    /// Client `i`'s TCP connection is readable or writable.
    fn on_client_ready(&mut self, now: Instant, i: usize, r: Ready) {
        if self.clients[i].stream.is_none() {
            return;
        }
        if self.clients[i].connecting {
            if !(r.writable || r.readable) {
                return;
            }
            let result = self.clients[i].stream.as_ref().map(TcpStream::take_error);
            match result {
                Some(Ok(None)) => {
                    self.clients[i].connecting = false;
                    self.service_control(now, i);
                }
                _ => {
                    self.fail(i, "tcp_connect");
                    self.close_stream(i);
                    self.clients[i].closing = Some(Closing::Done);
                    return;
                }
            }
        }
        if r.writable {
            self.flush(now, i);
        }
        if r.readable {
            let mut buf = std::mem::take(&mut self.buf);
            for _ in 0..TCP_READS {
                let Some(stream) = self.clients[i].stream.as_mut() else {
                    break;
                };
                match stream.read(&mut buf) {
                    Ok(0) => {
                        self.tcp_lost(now, i, "tcp_closed_by_server");
                        break;
                    }
                    Ok(n) => {
                        self.clients[i].control.handle_bytes(now, &buf[..n]);
                        self.service_control(now, i);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        self.tcp_lost(now, i, "tcp_error");
                        break;
                    }
                }
            }
            self.buf = buf;
        }
    }

    fn run_timers(&mut self, now: Instant) {
        while let Some(key) = self.timers.pop_due(now) {
            match key {
                Key::Control(i) => {
                    let c = &mut self.clients[i];
                    c.control_timer = None;
                    if c.control.poll_timeout().is_some_and(|w| w <= now) {
                        c.control.handle_timeout(now);
                    }
                    self.service_control(now, i);
                }
                Key::Ppp(i) => {
                    let c = &mut self.clients[i];
                    c.ppp_timer = None;
                    if let Some(ppp) = c.ppp.as_mut()
                        && ppp.poll_timeout().is_some_and(|w| w <= now)
                    {
                        ppp.handle_timeout(now);
                    }
                    self.service_ppp(now, i);
                }
                Key::CallClear(i) => {
                    // (A timer of the client this one replaced does not count.)
                    let c = &self.clients[i];
                    if c.closing == Some(Closing::CallClear)
                        && c.call_clear_deadline.is_some_and(|d| d <= now)
                    {
                        self.clients[i].clear_unanswered = true;
                        self.drop_count("call_clear_unanswered");
                        self.stop_control(now, i);
                    }
                }
                Key::Ack(i) => {
                    let c = &mut self.clients[i];
                    c.ack_timer = None;
                    if let Some(ack) = c.gre.ack_due(now) {
                        self.send_ack(i, ack);
                    }
                    let c = &mut self.clients[i];
                    let deadline = c.gre.ack_deadline();
                    arm(&mut self.timers, &mut c.ack_timer, deadline, Key::Ack(i));
                }
            }
        }
    }

    /// One round of waiting for sockets or the next timer (at most `cap`).
    fn turn(&mut self, cap: Duration) -> std::io::Result<()> {
        let now = Instant::now();
        let wait = self
            .timers
            .next_deadline()
            .map_or(cap, |d| d.saturating_duration_since(now).min(cap));
        let mut ready = std::mem::take(&mut self.ready);
        let result = self.epoll.wait(wait, &mut ready);
        let now = Instant::now();
        if result.is_ok() {
            for r in &ready {
                if r.token == GRE_TOKEN {
                    self.drain_gre(now);
                } else {
                    let i = (r.token - 1) as usize;
                    if i < self.clients.len() {
                        self.on_client_ready(now, i, *r);
                    }
                }
            }
        }
        self.ready = ready;
        self.run_timers(now);
        result
    }
}

/// Runs the whole scenario and returns the report. `server_rss` reads the daemon's
/// resident memory when loadgen started it (None otherwise).
pub fn run(opts: Options, server_rss: &dyn Fn() -> Option<u64>) -> std::io::Result<Report> {
    run_probed(
        opts,
        &Probe {
            rss: server_rss,
            fds: &|| None,
        },
    )
}

/// [`run`], reading the daemon's memory and open files through `probe`.
pub fn run_probed(opts: Options, probe: &Probe<'_>) -> std::io::Result<Report> {
    opts.scale
        .validate(opts.sessions)
        .map_err(std::io::Error::other)?;
    let server_rss = probe.rss;
    if opts.sessions > usize::from(u16::MAX) {
        return Err(std::io::Error::other(format!(
            "{} PPTP clients: call IDs are 16 bits, at most 65535",
            opts.sessions
        )));
    }
    let rss_idle = server_rss();
    // A churned client's new connection may open before the old one is gone.
    let churn_extra = opts.scale.churn.map_or(0, |r| (r * 10.0) as u64);
    let want = opts.sessions as u64 + 256 + churn_extra;
    let got = shardvpn::runtime::rlimit::raise_nofile(want)?;
    if got < want {
        return Err(std::io::Error::other(format!(
            "{} PPTP clients need {want} open files, the limit is {got} \
             (raise the hard limit: ulimit -Hn)",
            opts.sessions
        )));
    }
    let gre = RawIpv4Socket::open(IPPROTO_GRE).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("raw GRE socket (needs root or CAP_NET_RAW): {e}"),
        )
    })?;
    shardvpn::runtime::sockbuf::set_recv_buffer(&gre, GRE_RECV_BUFFER)?;
    let epoll = Epoll::new()?;
    epoll.add(gre.as_raw_fd(), GRE_TOKEN, false)?;
    let password_hash = PasswordHash::from_password(&opts.password)
        .map_err(|e| std::io::Error::other(format!("--password: {e}")))?;
    let ppp_config = PppConfig {
        auth_methods: vec![AuthMethod::MsChapV2],
        credentials: Some(Credentials {
            username: opts.user.as_bytes().to_vec(),
            password: ppp::util::Secret::new(opts.password.as_bytes().to_vec()),
        }),
        ccp: CcpPolicy::Mppe(opts.mppe),
        ipv6: false,
        ..PppConfig::default()
    };
    let pptp_config = PptpConfig {
        host_name: b"loadgen".to_vec(),
        vendor: b"loadgen".to_vec(),
        setup_timeout: opts.setup_timeout,
        receive_window: RECEIVE_WINDOW,
        ..PptpConfig::default()
    };
    let mut run = Run {
        opts: opts.clone(),
        clients: Vec::with_capacity(opts.sessions),
        timers: Timers::new(),
        epoll,
        ready: Vec::new(),
        gre,
        ppp_config: Arc::new(ppp_config),
        pptp_config: Arc::new(pptp_config),
        password_hash,
        rng: SystemRandom::new(),
        setup: Latencies::new(),
        rtt: Latencies::new(),
        failures: BTreeMap::new(),
        dropped: BTreeMap::new(),
        established: 0,
        failed: 0,
        pings_sent: 0,
        pings_received: 0,
        ping_sent_at: HashMap::new(),
        buf: vec![0u8; 65536],
        call_index: vec![NO_CLIENT; 1 << 16],
        next_call_id: opts.sessions as u16,
        churn: PhaseCount::default(),
        storm: PhaseCount::default(),
        churn_torn_down: 0,
        keepalive: Keepalives::default(),
        bytes_received: 0,
        storm_redials: VecDeque::new(),
    };

    // Setup: clients started paced by --rate and --max-outstanding.
    let start = Instant::now();
    let deadline = start + opts.setup_timeout;
    let interval = opts
        .rate
        .map(|r| Duration::from_secs_f64(1.0 / r.max(0.001)));
    let mut next_client = start;
    let mut progress = Progress::phase("established", opts.sessions);
    while !run.settled() && Instant::now() < deadline {
        let now = Instant::now();
        progress.show(now, run.established, run.failed, opts.sessions);
        while run.clients.len() < opts.sessions
            && now >= next_client
            && run.outstanding() < opts.max_outstanding.max(1)
        {
            run.start_client(now);
            if let Some(i) = interval {
                next_client += i;
            }
        }
        run.turn(Duration::from_millis(10))?;
    }
    progress.last = None;
    progress.show(Instant::now(), run.established, run.failed, opts.sessions);
    progress.finish();
    for i in 0..run.clients.len() {
        run.fail(i, "setup_timeout");
    }
    let unplaced = opts.sessions.saturating_sub(run.clients.len()) as u64;
    if unplaced > 0 {
        run.failed += unplaced;
        *run.failures.entry("not_placed".into()).or_default() += unplaced;
    }
    let setup_elapsed = start.elapsed();
    let rss_up = server_rss();
    let fds_setup = (probe.fds)();

    // Traffic: pings round-robin over the established sessions.
    if opts.traffic_pps > 0 {
        let established: Vec<usize> = (0..run.clients.len())
            .filter(|&i| run.clients[i].established && run.clients[i].closing.is_none())
            .collect();
        let gap = Duration::from_secs_f64(1.0 / opts.traffic_pps as f64);
        let end = Instant::now() + opts.duration;
        let mut next = Instant::now();
        let mut k = 0usize;
        while Instant::now() < end && !established.is_empty() {
            let now = Instant::now();
            while now >= next {
                run.ping(now, established[k % established.len()]);
                k += 1;
                next += gap;
            }
            run.turn(gap.min(Duration::from_millis(10)))?;
        }
        // Late replies.
        let grace = Instant::now() + Duration::from_secs(1);
        while Instant::now() < grace && run.pings_received < run.pings_sent {
            run.turn(Duration::from_millis(10))?;
        }
    }
    let traffic_secs = opts.duration.as_secs_f64().max(1e-9);

    let (storm, keepalive) = if opts.scale.storm {
        let (s, k) = storm_phase(&mut run, setup_elapsed)?;
        (Some(s), Some(k))
    } else {
        (None, None)
    };
    let (hold, churn, fds_hold) = match opts.scale.hold {
        Some(hold) => {
            let (h, c) = hold_phase(&mut run, hold, server_rss)?;
            (Some(h), c, (probe.fds)())
        }
        None => (None, None, None),
    };

    // Teardown, at most `max_outstanding` clients hanging up at once (10,000 clients
    // hanging up in the same millisecond is a storm, not a teardown), bounded in time.
    let window = opts.max_outstanding.max(1);
    let end =
        Instant::now() + Duration::from_secs(20) + Duration::from_millis(run.clients.len() as u64);
    let mut next = 0usize;
    loop {
        let now = Instant::now();
        let mut closing = run.clients[..next]
            .iter()
            .filter(|c| c.in_teardown())
            .count();
        while next < run.clients.len() && closing < window {
            run.begin_teardown(now, next);
            if run.clients[next].in_teardown() {
                closing += 1;
            }
            next += 1;
        }
        let done = next >= run.clients.len() && run.clients.iter().all(|c| !c.in_teardown());
        if done || now >= end {
            break;
        }
        run.turn(Duration::from_millis(10))?;
    }
    let unclean = run
        .clients
        .iter()
        .filter(|c| c.established && !c.clean)
        .count() as u64;
    if unclean > 0 {
        *run.dropped.entry("teardown_unclean".into()).or_default() += unclean;
    }
    for i in 0..run.clients.len() {
        run.close_stream(i);
    }

    Ok(Report {
        mode: "pptp".into(),
        sessions_requested: opts.sessions as u64,
        sessions_established: run.established,
        sessions_failed: run.failed,
        failures: run.failures,
        setup_rate_per_s: run.established as f64 / setup_elapsed.as_secs_f64().max(1e-9),
        setup_latency_ms: run.setup.percentiles(),
        traffic: Traffic {
            sent: run.pings_sent,
            received: run.pings_received,
            rtt_ms: run.rtt.percentiles(),
            pps: (opts.traffic_pps > 0).then(|| run.pings_received as f64 / traffic_secs),
            mbps: (opts.traffic_pps > 0)
                .then(|| run.bytes_received as f64 * 8.0 / traffic_secs / 1e6),
        },
        teardown_clean: unclean == 0,
        server_rss_bytes: rss_up,
        server_rss_per_session_bytes: match (rss_idle, rss_up) {
            (Some(idle), Some(up)) if run.established > 0 => {
                Some(up.saturating_sub(idle) / run.established)
            }
            _ => None,
        },
        dropped: run.dropped,
        hold,
        churn,
        storm,
        keepalive,
        server_fds: fds_setup.map(|n| report::ServerFds {
            after_setup: Some(n),
            after_hold: fds_hold,
        }),
    })
}

/// `--storm`: every established client but the bystanders has its connection reset
/// and reconnects (at most `max_outstanding` in setup at once) while the bystanders
/// keep echoing; reports the recovery and the bystanders' keepalives.
fn storm_phase(
    run: &mut Run,
    setup_elapsed: Duration,
) -> std::io::Result<(report::Storm, report::Keepalive)> {
    let bystanders = run
        .clients
        .iter()
        .take(run.opts.scale.bystanders)
        .filter(|c| c.established && c.closing.is_none())
        .count() as u64;
    run.keepalive.on = true;
    let start = Instant::now();
    let mut queue = run.storm_drop();
    let dropped = queue.len() as u64;
    let deadline = start + run.opts.setup_timeout;
    let window = run
        .opts
        .scale
        .storm_outstanding
        .unwrap_or(run.opts.max_outstanding)
        .max(1);
    let mut progress = Progress::phase("storm", dropped as usize);
    run.storm.retrying = true;
    let mut previous: Option<Instant> = None;
    let mut stall = Duration::ZERO;
    loop {
        let now = Instant::now();
        if let Some(last) = previous.replace(now) {
            stall = stall.max(now - last);
        }
        if run.storm.established + run.storm.failed >= dropped || now >= deadline {
            break;
        }
        progress.show(
            now,
            run.storm.established,
            run.storm.failed,
            dropped as usize,
        );
        while run.storm.outstanding() < window {
            let due = run.storm_redials.front().is_some_and(|&(at, _)| at <= now);
            let i = match queue.pop_front() {
                Some(i) => i,
                None if due => match run.storm_redials.pop_front() {
                    Some((_, i)) => i,
                    None => break,
                },
                None => break,
            };
            run.restart_client(now, i, Origin::Storm);
        }
        run.bystander_tick(now, true);
        run.turn(Duration::from_millis(10))?;
    }
    run.storm.retrying = false;
    progress.last = None;
    progress.show(
        Instant::now(),
        run.storm.established,
        run.storm.failed,
        dropped as usize,
    );
    progress.finish();
    for i in 0..run.clients.len() {
        if run.clients[i].origin == Origin::Storm {
            run.fail(i, "storm_timeout");
        }
    }
    let missing = dropped.saturating_sub(run.storm.established + run.storm.failed);
    if missing > 0 {
        run.storm.failed += missing;
        *run.storm.failures.entry("not_placed".into()).or_default() += missing;
    }
    let grace = Instant::now() + crate::common::BYSTANDER_LOST_AFTER + Duration::from_millis(100);
    while Instant::now() < grace && run.echoes_pending() {
        run.bystander_tick(Instant::now(), false);
        run.turn(Duration::from_millis(10))?;
    }
    run.bystander_tick(Instant::now(), false);
    run.keepalive.on = false;
    let recovery = run
        .storm
        .last_up
        .map_or(Duration::ZERO, |l| l.saturating_duration_since(start));
    let setup_s = setup_elapsed.as_secs_f64();
    let storm = report::Storm {
        sessions_dropped: dropped,
        sessions_reestablished: run.storm.established,
        sessions_failed: run.storm.failed,
        failures: run.storm.failures.clone(),
        recovery_s: recovery.as_secs_f64(),
        initial_setup_s: setup_s,
        recovery_ratio: recovery.as_secs_f64() / setup_s.max(1e-9),
        latency_ms: run.storm.latency.percentiles(),
        retries: run.storm.retries.values().sum(),
        retry_reasons: run.storm.retries.clone(),
    };
    let mut keepalive = run.keepalive.report(bystanders);
    keepalive.loadgen_max_stall_ms = stall.as_secs_f64() * 1000.0;
    Ok((storm, keepalive))
}

/// Churned clients whose hang-up is over dial again (same user, a fresh connection
/// and call).
fn redial(
    run: &mut Run,
    now: Instant,
    hanging_up: &mut VecDeque<usize>,
    queue: &mut VecDeque<usize>,
) {
    for _ in 0..hanging_up.len() {
        let Some(i) = hanging_up.pop_front() else {
            break;
        };
        if run.clients[i].in_teardown() {
            hanging_up.push_back(i);
            continue;
        }
        run.restart_client(now, i, Origin::Churn);
        queue.push_back(i);
    }
}

/// `--hold`: every client stays up `hold` (the engines answer the server's echoes);
/// with `--churn R`, R clients a second hang up cleanly and dial again.
fn hold_phase(
    run: &mut Run,
    hold: Duration,
    server_rss: &dyn Fn() -> Option<u64>,
) -> std::io::Result<(report::Hold, Option<report::Churn>)> {
    let rss_start = server_rss();
    let lost = |r: &Run| r.dropped.get("sessions_lost").copied().unwrap_or(0);
    let lost_before = lost(run);
    let start = Instant::now();
    let end = start + hold;
    let mut queue: VecDeque<usize> = (0..run.clients.len())
        .filter(|&i| {
            let c = &run.clients[i];
            !c.bystander && c.established && c.closing.is_none()
        })
        .collect();
    // Clients hanging up for churn, to dial again once their hang-up is over.
    let mut hanging_up: VecDeque<usize> = VecDeque::new();
    let interval = run
        .opts
        .scale
        .churn
        .map(|r| Duration::from_secs_f64(1.0 / r));
    let mut next = start;
    let mut progress = Progress::phase("hold (s)", hold.as_secs() as usize);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if let Some(gap) = interval {
            while now >= next {
                next += gap;
                let mut picked = None;
                for _ in 0..queue.len() {
                    let Some(i) = queue.pop_front() else {
                        break;
                    };
                    let c = &run.clients[i];
                    if c.established && c.closing.is_none() {
                        picked = Some(i);
                        break;
                    }
                    if !c.established && !c.failed {
                        queue.push_back(i);
                    }
                }
                let Some(i) = picked else {
                    break;
                };
                run.churn_torn_down += 1;
                run.begin_teardown(now, i);
                hanging_up.push_back(i);
            }
            redial(run, now, &mut hanging_up, &mut queue);
        }
        progress.note(
            now,
            (now - start).as_secs(),
            &format!(
                "{:.0}/{:.0} s  lost {}  churn cycles {} failed {}",
                (now - start).as_secs_f64(),
                hold.as_secs_f64(),
                lost(run) - lost_before,
                run.churn.established,
                run.churn.failed
            ),
        );
        run.turn(Duration::from_millis(10))?;
    }
    // Hang-ups and re-setups still in flight get a bounded while to finish.
    let settle = Instant::now() + Duration::from_secs(10).min(run.opts.setup_timeout);
    while (run.churn.outstanding() > 0 || !hanging_up.is_empty()) && Instant::now() < settle {
        redial(run, Instant::now(), &mut hanging_up, &mut queue);
        run.turn(Duration::from_millis(10))?;
    }
    let stuck = hanging_up.len() as u64;
    if stuck > 0 {
        run.churn.failed += stuck;
        *run.churn
            .failures
            .entry("hang_up_unfinished".into())
            .or_default() += stuck;
    }
    progress.finish();
    let unfinished = run.churn.outstanding() as u64;
    if unfinished > 0 {
        run.churn.failed += unfinished;
        *run.churn
            .failures
            .entry("unfinished_at_hold_end".into())
            .or_default() += unfinished;
    }
    let hold_report = report::Hold {
        seconds: hold.as_secs_f64(),
        sessions_lost: lost(run) - lost_before,
        server_rss_start_bytes: rss_start,
        server_rss_end_bytes: server_rss(),
    };
    let churn = run.opts.scale.churn.map(|rate| report::Churn {
        rate_per_s: rate,
        torn_down: run.churn_torn_down,
        cycles: run.churn.established,
        failed: run.churn.failed,
        failures: run.churn.failures.clone(),
        resetup_latency_ms: run.churn.latency.percentiles(),
    });
    Ok((hold_report, churn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardvpn::crypto::ppp::mppe::{KeyStrength, Mode};

    const NT_RESPONSE: [u8; 24] = [
        0x82, 0x30, 0x9e, 0xcd, 0x8d, 0x70, 0x8b, 0x5e, 0xa0, 0x8f, 0xaa, 0x39, 0x81, 0xcd, 0x83,
        0x54, 0x42, 0x33, 0x11, 0x4a, 0x3d, 0x85, 0xd6, 0xdf,
    ];

    fn pair(
        strength: KeyStrength,
        mode: Mode,
    ) -> (MppeEncryptor, MppeDecryptor, MppeEncryptor, MppeDecryptor) {
        let hash = PasswordHash::from_password("clientPass").unwrap();
        let (c_send, c_recv) = mschapv2_start_keys(&hash, &NT_RESPONSE, strength, Role::Client);
        let (s_send, s_recv) = mschapv2_start_keys(&hash, &NT_RESPONSE, strength, Role::Server);
        (
            MppeEncryptor::new(&c_send, strength, mode).unwrap(),
            MppeDecryptor::new(&s_recv, strength, mode).unwrap(),
            MppeEncryptor::new(&s_send, strength, mode).unwrap(),
            MppeDecryptor::new(&c_recv, strength, mode).unwrap(),
        )
    }

    /// As the server would put it on the wire to us: an IPv4 header (with options,
    /// IHL 6) in front of the GRE packet.
    fn in_ipv4(src: Ipv4Addr, gre: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 24];
        p[0] = 0x46;
        p[9] = IPPROTO_GRE;
        p[12..16].copy_from_slice(&src.octets());
        p.extend_from_slice(gre);
        p
    }

    /// A ping in both directions through the framing helpers: client-role encryption
    /// decrypted with the server-role keys of the same NT-Response and back, through
    /// GRE and an IPv4 header, with and without ACFC/PFC on the server's frames.
    #[test]
    fn mppe_frames_round_trip_between_client_and_server_keys() {
        for mode in [Mode::Stateless, Mode::Stateful] {
            for strength in [KeyStrength::Bits128, KeyStrength::Bits40] {
                let (mut c_tx, mut s_rx, mut s_tx, mut c_rx) = pair(strength, mode);
                let (us, server) = (Ipv4Addr::new(10, 200, 0, 2), Ipv4Addr::new(10, 200, 0, 1));
                for seq in 0..300u16 {
                    // Client -> server.
                    let ping = echo_request(us, server, 1, seq);
                    let frame = encrypted_ipv4_frame(&mut c_tx, &ping).unwrap();
                    let gre_bytes = gre_packet(0x4001, Some(u32::from(seq)), None, &frame);
                    let repr = gre::Repr::parse_bytes(&gre_bytes).unwrap();
                    assert_eq!(repr.call_id, 0x4001);
                    let (protocol, payload) = split_ppp_frame(repr.payload).unwrap();
                    assert_eq!(protocol, PROTOCOL_MPPE);
                    assert_ne!(&payload[4..], &ping[..], "encrypted");
                    assert_eq!(open_ipv4(&mut s_rx, payload).unwrap(), ping);

                    // Server -> client, its plaintext protocol field compressed (PFC)
                    // and, on odd packets, no Address/Control (ACFC).
                    let reply = echo_request(server, us, 1, seq);
                    let mut mppe_packet = vec![0, 0, 0x21];
                    mppe_packet.extend_from_slice(&reply);
                    s_tx.encrypt(&mut mppe_packet).unwrap();
                    let mut frame = if seq % 2 == 0 {
                        vec![0xff, 0x03, 0x00, 0xfd]
                    } else {
                        vec![0xfd]
                    };
                    frame.extend_from_slice(&mppe_packet);
                    let wire = in_ipv4(
                        server,
                        &gre_packet(7, Some(u32::from(seq)), Some(3), &frame),
                    );
                    let (src, gre_bytes) = strip_ipv4(&wire).unwrap();
                    assert_eq!(src, server);
                    let repr = gre::Repr::parse_bytes(gre_bytes).unwrap();
                    assert_eq!((repr.call_id, repr.acknowledgment_number), (7, Some(3)));
                    let (protocol, payload) = split_ppp_frame(repr.payload).unwrap();
                    assert_eq!(protocol, PROTOCOL_MPPE);
                    assert_eq!(open_ipv4(&mut c_rx, payload).unwrap(), reply);
                }
            }
        }
    }

    #[test]
    fn malformed_input_is_refused_not_fatal() {
        let (_, mut s_rx, _, _) = pair(KeyStrength::Bits128, Mode::Stateless);
        assert_eq!(
            open_ipv4(&mut s_rx, &[0x90]),
            Err(OpenError::Mppe(MppeError::Truncated))
        );
        assert_eq!(
            open_ipv4(&mut s_rx, &[0x00, 0x01, 0x00, 0x21]),
            Err(OpenError::Mppe(MppeError::NotEncrypted))
        );
        assert_eq!(strip_ipv4(&[0x45; 10]), Err("ipv4_malformed"));
        assert_eq!(strip_ipv4(&[0x4f; 20]), Err("ipv4_malformed"));
        let mut udp = in_ipv4(Ipv4Addr::LOCALHOST, &[]);
        udp[9] = 17;
        assert_eq!(strip_ipv4(&udp), Err("ipv4_not_gre"));
        // A truncated GRE packet after a valid IPv4 header.
        let gre_bytes = gre_packet(1, Some(0), None, &ppp_frame(0xc021, &[9, 1, 0, 4]));
        for n in 0..gre_bytes.len() {
            let wire = in_ipv4(Ipv4Addr::LOCALHOST, &gre_bytes[..n]);
            let (_, g) = strip_ipv4(&wire).unwrap();
            assert!(gre::Repr::parse_bytes(g).is_err(), "{n} bytes");
        }
    }

    #[test]
    fn control_frames_are_plain_ppp_in_hdlc_form() {
        let f = ppp_frame(0xc021, &[1, 2, 3]);
        assert_eq!(f, [0xff, 0x03, 0xc0, 0x21, 1, 2, 3]);
        assert_eq!(split_ppp_frame(&f), Some((0xc021, &[1u8, 2, 3][..])));
    }
}

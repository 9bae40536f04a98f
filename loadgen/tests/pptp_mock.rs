//! loadgen's PPTP mode against a small PPTP server built from the library's
//! server-role engines (`proto::pptp::Control::server`, `proto::ppp::Ppp::server`,
//! MPPE with the server's keys), not the daemon: it checks loadgen's side on its own
//! (TCP control, GRE demultiplexing and sequencing, MS-CHAPv2 + MPPE keys, pings,
//! the Windows-like hang-up) in two network namespaces joined by a veth pair. The
//! server answers pings to its PPP-side address itself. Needs root; without it the
//! test says so and returns.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use loadgen::pptp_mode::{self, Options};
use loadgen::report::Report;
use shardvpn::control::frames::split_ppp_frame;
use shardvpn::crypto::ppp::mppe::{Mode, MppeDecryptor, MppeEncryptor, Role, mschapv2_start_keys};
use shardvpn::crypto::ppp::mschapv2::{self, PasswordHash};
use shardvpn::proto::ppp::{
    AuthMethod, AuthProof, CcpPolicy, Ipv4Assignment, MppePolicy, Ppp, PppConfig, PppEvent,
    authenticator_response_bytes,
};
use shardvpn::proto::pptp::gre::{GreSeq, RxVerdict};
use shardvpn::proto::pptp::{CloseReason, Control, Event, PptpConfig};
use shardvpn::runtime::raw::RawIpv4Socket;
use shardvpn::wire::pptp::StopReason;
use shardvpn::wire::{gre, icmpv4, ipv4};

mod support;
use support::{PAIR_A, PAIR_B, Pair, is_root};

const PASSWORD: &str = "wonderland";
const SERVER_PPP: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);

/// Ways the mock departs from a well-behaved server, to check loadgen copes and
/// counts.
#[derive(Debug, Clone, Copy, Default)]
struct Quirks {
    /// On the client's LCP Terminate-Request, end the whole control connection
    /// ourselves (Call-Disconnect-Notify, Stop-Control-Connection-Request) instead of
    /// waiting for its Call-Clear-Request.
    stop_on_lcp_terminate: bool,
    /// With every echo reply, also send an unencrypted copy, a malformed GRE packet
    /// and a GRE packet for a call nobody has.
    junk: bool,
}

struct Conn {
    stream: TcpStream,
    control: Control,
    open: bool,
}

struct Call {
    conn: usize,
    peer_call_id: u16,
    gre: GreSeq,
    ppp: Ppp,
    tx: Option<MppeEncryptor>,
    rx: Option<MppeDecryptor>,
    nt_response: Option<[u8; 24]>,
}

#[derive(Debug, Default)]
struct Stats {
    calls: u64,
    auth_ok: u64,
    mppe_up: u64,
    /// Calls where the server encrypts statefully (the client asked for it).
    stateful_tx: u64,
    echo_replies: u64,
    clear_requests_answered: u64,
    stopped_by_peer: u64,
    unencrypted_ip: u64,
    decrypt_errors: u64,
}

fn echo_reply(request: &[u8]) -> Option<Vec<u8>> {
    let ip = ipv4::Packet::new_checked(request).ok()?;
    let repr = ipv4::Repr::parse(&ip).ok()?;
    let icmp = icmpv4::Packet::new_checked(ip.payload()).ok()?;
    let echo = icmpv4::EchoRepr::parse(&icmp).ok()?;
    if echo.reply {
        return None;
    }
    let reply = icmpv4::EchoRepr {
        reply: true,
        ..echo
    };
    let out_ip = ipv4::Repr {
        src_addr: repr.dst_addr,
        dst_addr: repr.src_addr,
        next_header: ipv4::Protocol::Icmp,
        payload_len: reply.buffer_len(),
        hop_limit: 64,
    };
    let mut buf = vec![0u8; out_ip.buffer_len() + reply.buffer_len()];
    reply.emit(&mut buf[out_ip.buffer_len()..]);
    out_ip.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]));
    Some(buf)
}

fn write_all(stream: &mut TcpStream, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return,
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(_) => return,
        }
    }
}

/// The mock server's loop, until `stop`.
fn serve(stop: &AtomicBool, quirks: Quirks) -> Stats {
    let listener = TcpListener::bind((PAIR_B, 1723)).expect("listen 1723");
    listener.set_nonblocking(true).unwrap();
    // std listens with a backlog of 128; thousands of clients connecting at once
    // need more, as the daemon has. listen(2) again just changes it.
    // Safety: plain listen(2) on a descriptor the listener owns and keeps open.
    let rc = unsafe { libc::listen(std::os::fd::AsRawFd::as_raw_fd(&listener), 4096) };
    assert_eq!(rc, 0);
    let gre_sock = RawIpv4Socket::open(47).expect("raw GRE");
    shardvpn::runtime::sockbuf::set_recv_buffer(&gre_sock, 8 << 20).unwrap();
    let pptp_config = Arc::new(PptpConfig::default());
    let ppp_config = Arc::new(PppConfig {
        auth_methods: vec![AuthMethod::MsChapV2],
        ccp: CcpPolicy::Mppe(MppePolicy::default()),
        ipv6: false,
        echo_interval: None,
        ..PppConfig::default()
    });
    let hash = PasswordHash::from_password(PASSWORD).unwrap();
    let mut conns: Vec<Conn> = Vec::new();
    let mut calls: HashMap<u16, Call> = HashMap::new();
    let mut next_call: u16 = 0x4000;
    let mut stats = Stats::default();
    let mut buf = vec![0u8; 65536];
    let mut rng = |b: &mut [u8]| {
        for (i, x) in b.iter_mut().enumerate() {
            *x = (i as u8).wrapping_mul(37) ^ 0x5a;
        }
    };
    let send_gre = |call: &mut Call, frame: &[u8]| {
        let (seq, ack) = call.gre.on_send();
        let packet = pptp_mode::gre_packet(call.peer_call_id, Some(seq), ack, frame);
        let _ = gre_sock.send_to(&packet, PAIR_A);
    };
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let mut idle = true;
        while let Ok((stream, _)) = listener.accept() {
            stream.set_nonblocking(true).unwrap();
            conns.push(Conn {
                stream,
                control: Control::server(now, Arc::clone(&pptp_config)),
                open: true,
            });
            idle = false;
        }
        // Control connections.
        for (ci, conn) in conns.iter_mut().enumerate() {
            if !conn.open {
                continue;
            }
            loop {
                match conn.stream.read(&mut buf) {
                    Ok(0) => {
                        conn.open = false;
                        break;
                    }
                    Ok(n) => {
                        idle = false;
                        conn.control.handle_bytes(now, &buf[..n]);
                    }
                    Err(_) => break,
                }
            }
            if conn.control.poll_timeout().is_some_and(|w| w <= now) {
                conn.control.handle_timeout(now);
            }
            while let Some(e) = conn.control.poll_event() {
                match e {
                    Event::CallRequest {
                        peer_call_id,
                        peer_window,
                        ..
                    } => {
                        next_call = next_call.wrapping_add(1);
                        let local = next_call;
                        assert!(conn.control.accept_call(now, peer_call_id, local));
                        let mut ppp = Ppp::server(Arc::clone(&ppp_config), now, &mut rng);
                        ppp.open(now);
                        calls.insert(
                            local,
                            Call {
                                conn: ci,
                                peer_call_id,
                                gre: GreSeq::new(peer_window),
                                ppp,
                                tx: None,
                                rx: None,
                                nt_response: None,
                            },
                        );
                        stats.calls += 1;
                    }
                    Event::CallDown { local_call_id, .. } => {
                        if let Some(mut c) = calls.remove(&local_call_id) {
                            c.ppp.lower_down(now);
                            stats.clear_requests_answered += 1;
                        }
                    }
                    Event::Closed { reason } => {
                        if matches!(reason, CloseReason::PeerStopped(_)) {
                            stats.stopped_by_peer += 1;
                        }
                        conn.open = false;
                    }
                    _ => {}
                }
            }
            while let Some(bytes) = conn.control.poll_transmit() {
                write_all(&mut conn.stream, &bytes);
            }
            if !conn.open {
                let _ = conn.stream.shutdown(std::net::Shutdown::Both);
            }
        }
        // GRE.
        for _ in 0..4096 {
            let Ok(n) = gre_sock.recv(&mut buf) else {
                break;
            };
            idle = false;
            let Ok((_, bytes)) = pptp_mode::strip_ipv4(&buf[..n]) else {
                continue;
            };
            let Ok(repr) = gre::Repr::parse_bytes(bytes) else {
                continue;
            };
            let Some(call) = calls.get_mut(&repr.call_id) else {
                continue;
            };
            if call
                .gre
                .on_receive(now, repr.sequence_number, repr.acknowledgment_number)
                != RxVerdict::Deliver
            {
                continue;
            }
            let Some((protocol, payload)) = split_ppp_frame(repr.payload) else {
                continue;
            };
            match protocol {
                0x00fd => {
                    let Some(rx) = call.rx.as_mut() else {
                        stats.decrypt_errors += 1;
                        continue;
                    };
                    match pptp_mode::open_ipv4(rx, payload) {
                        Ok(ip) => {
                            if let (Some(reply), Some(tx)) = (echo_reply(&ip), call.tx.as_mut()) {
                                let frame = pptp_mode::encrypted_ipv4_frame(tx, &reply).unwrap();
                                send_gre(call, &frame);
                                stats.echo_replies += 1;
                                if quirks.junk {
                                    send_gre(call, &pptp_mode::ppp_frame(0x0021, &reply));
                                    let _ = gre_sock.send_to(&[0x30, 0x81, 0x88], PAIR_A);
                                    let stray = pptp_mode::gre_packet(60000, Some(0), None, &frame);
                                    let _ = gre_sock.send_to(&stray, PAIR_A);
                                }
                            }
                        }
                        Err(_) => stats.decrypt_errors += 1,
                    }
                }
                0x0021 => stats.unencrypted_ip += 1,
                _ => {
                    // LCP code 5: Terminate-Request.
                    if quirks.stop_on_lcp_terminate
                        && protocol == 0xc021
                        && payload.first() == Some(&5)
                        && let Some(conn) = conns.get_mut(call.conn)
                    {
                        conn.control.close(now, StopReason::None);
                    }
                    call.ppp.handle_frame(now, protocol, payload)
                }
            }
        }
        // PPP of every call.
        let locals: Vec<u16> = calls.keys().copied().collect();
        for local in locals {
            let Some(call) = calls.get_mut(&local) else {
                continue;
            };
            if call.ppp.poll_timeout().is_some_and(|w| w <= now) {
                call.ppp.handle_timeout(now);
            }
            while let Some((protocol, packet)) = call.ppp.poll_transmit() {
                let frame = pptp_mode::ppp_frame(protocol, &packet);
                send_gre(call, &frame);
            }
            while let Some(e) = call.ppp.poll_event() {
                match e {
                    PppEvent::AuthRequest(r) => {
                        let AuthProof::MsChapV2 {
                            authenticator_challenge,
                            peer_challenge,
                            nt_response,
                        } = r.proof
                        else {
                            call.ppp.auth_reject(now, "MS-CHAPv2 only").unwrap();
                            continue;
                        };
                        match mschapv2::verify_nt_response(
                            &hash,
                            &authenticator_challenge,
                            &peer_challenge,
                            &r.username,
                            &nt_response,
                        ) {
                            Ok(ar) => {
                                let ar = authenticator_response_bytes(ar.as_bytes());
                                call.ppp.auth_accept(now, ar).unwrap();
                                call.nt_response = Some(nt_response);
                                stats.auth_ok += 1;
                            }
                            Err(_) => call.ppp.auth_reject(now, "bad password").unwrap(),
                        }
                    }
                    PppEvent::NeedAddress => {
                        let peer = Ipv4Addr::from(u32::from(SERVER_PPP) + u32::from(local));
                        call.ppp
                            .set_ipv4(
                                now,
                                Ipv4Assignment {
                                    peer,
                                    local: SERVER_PPP,
                                    dns: [None, None],
                                    nbns: [None, None],
                                },
                            )
                            .unwrap();
                    }
                    PppEvent::MppeUp { tx, rx } => {
                        let nt = call.nt_response.expect("MS-CHAPv2 first");
                        let (send, _) = mschapv2_start_keys(&hash, &nt, tx.strength, Role::Server);
                        let (_, recv) = mschapv2_start_keys(&hash, &nt, rx.strength, Role::Server);
                        call.tx = Some(MppeEncryptor::new(&send, tx.strength, tx.mode).unwrap());
                        call.rx = Some(MppeDecryptor::new(&recv, rx.strength, rx.mode).unwrap());
                        stats.mppe_up += 1;
                        if tx.mode == Mode::Stateful {
                            stats.stateful_tx += 1;
                        }
                    }
                    PppEvent::MppeResetRequest => {
                        if let Some(tx) = call.tx.as_mut() {
                            tx.reset();
                        }
                    }
                    _ => {}
                }
            }
            while let Some((protocol, packet)) = call.ppp.poll_transmit() {
                let frame = pptp_mode::ppp_frame(protocol, &packet);
                send_gre(call, &frame);
            }
            if let Some(ack) = call.gre.ack_due(now) {
                let packet = pptp_mode::gre_packet(call.peer_call_id, None, Some(ack), &[]);
                let _ = gre_sock.send_to(&packet, PAIR_A);
            }
        }
        if idle {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    stats
}

/// Runs `sessions` loadgen PPTP clients with `mppe` against the mock server.
fn run_against_mock(
    tag: &str,
    sessions: usize,
    rate: Option<f64>,
    mppe: MppePolicy,
    quirks: Quirks,
) -> (Report, Stats) {
    // Both ends live in this process: a descriptor per client on each side.
    let want = 2 * sessions as u64 + 512;
    let got = shardvpn::runtime::rlimit::raise_nofile(want).expect("RLIMIT_NOFILE");
    assert!(
        got >= want,
        "{sessions} clients need {want} open files here, the limit is {got}"
    );
    let pair = Pair::create(tag);
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = Arc::clone(&stop);
        let path = format!("/var/run/netns/{}", pair.b.name);
        std::thread::spawn(move || {
            shardvpn::runtime::netns::enter_path(&path).expect("enter the server namespace");
            serve(&stop, quirks)
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let report = pair.a.run(move || {
        pptp_mode::run(
            Options {
                server: SocketAddrV4::new(PAIR_B, 1723),
                bind: PAIR_A,
                sessions,
                rate,
                max_outstanding: 500,
                traffic_pps: 1000,
                duration: Duration::from_secs(2),
                user: "alice".into(),
                password: PASSWORD.into(),
                setup_timeout: Duration::from_secs(60),
                mppe,
            },
            &|| None,
        )
        .expect("loadgen run")
    });
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let stats = server.join().expect("mock server");
    println!("{}", report.summary());
    println!("{stats:?}");
    (report, stats)
}

/// Everything came up, was pinged through MPPE, and went down cleanly.
fn assert_all_good(sessions: usize, mppe: MppePolicy, report: &Report, stats: &Stats) {
    assert_eq!(report.sessions_established, sessions as u64, "{report:?}");
    assert_eq!(report.sessions_failed, 0, "{report:?}");
    assert!(report.traffic.sent > 0);
    assert!(
        report.traffic.received * 10 >= report.traffic.sent * 9,
        "pings lost: {:?}",
        report.traffic
    );
    assert!(report.teardown_clean, "{report:?}");
    assert!(report.dropped.is_empty(), "{:?}", report.dropped);
    assert_eq!(stats.unencrypted_ip, 0);
    assert_eq!(stats.decrypt_errors, 0);
    assert_eq!(stats.mppe_up, sessions as u64);
    assert_eq!(stats.clear_requests_answered, sessions as u64);
    assert_eq!(stats.stopped_by_peer, sessions as u64);
    let stateful = if mppe.prefer_stateless { 0 } else { sessions };
    assert_eq!(stats.stateful_tx, stateful as u64);
}

#[test]
fn loadgen_pptp_against_the_library_server_engines() {
    if !is_root() {
        println!("pptp_mock: skipped, needs root");
        return;
    }
    // LOADGEN_PPTP_MOCK_SESSIONS=9000 LOADGEN_PPTP_MOCK_RATE=1000 (with --release) is the
    // scale check (the mock, in this process, needs a descriptor per client too).
    let sessions = std::env::var("LOADGEN_PPTP_MOCK_SESSIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let rate = std::env::var("LOADGEN_PPTP_MOCK_RATE")
        .ok()
        .and_then(|s| s.parse().ok());
    let mppe = Options::default_mppe();
    let (report, stats) = run_against_mock("pptpmock", sessions, rate, mppe, Quirks::default());
    assert_all_good(sessions, mppe, &report, &stats);
}

/// What `--mppe-stateful --mppe-40` asks for: stateful MPPE from the server to us
/// (the mock prefers stateless for its own direction), 40-bit offered as well.
#[test]
fn loadgen_pptp_stateful_mppe_against_the_library_server_engines() {
    if !is_root() {
        println!("pptp_mock: skipped, needs root");
        return;
    }
    let mppe = MppePolicy {
        allow_40: true,
        prefer_stateless: false,
        ..Options::default_mppe()
    };
    let (report, stats) = run_against_mock("pptpmocksf", 50, None, mppe, Quirks::default());
    assert_all_good(50, mppe, &report, &stats);
}

/// A server that sends junk beside every echo reply (an unencrypted copy, a
/// malformed GRE packet, a packet for a call nobody has) and ends each control
/// connection itself once PPP is down: loadgen counts the junk by reason without
/// taking any of it for a reply, and still calls the hang-up orderly.
#[test]
fn loadgen_pptp_counts_junk_and_a_server_that_stops_first() {
    if !is_root() {
        println!("pptp_mock: skipped, needs root");
        return;
    }
    let sessions = 50;
    let quirks = Quirks {
        stop_on_lcp_terminate: true,
        junk: true,
    };
    let mppe = Options::default_mppe();
    let (report, stats) = run_against_mock("pptpmockq", sessions, None, mppe, quirks);
    assert_eq!(report.sessions_established, sessions as u64, "{report:?}");
    assert!(report.traffic.sent > 0);
    // Each reply counted once: the unencrypted copies are not replies.
    assert_eq!(report.traffic.received, stats.echo_replies, "{report:?}");
    let dropped = |k: &str| report.dropped.get(k).copied().unwrap_or(0);
    assert_eq!(dropped("ipv4_unencrypted"), stats.echo_replies);
    assert_eq!(dropped("gre_malformed"), stats.echo_replies);
    assert_eq!(dropped("gre_unknown_call"), stats.echo_replies);
    assert!(report.teardown_clean, "{report:?}");
    assert_eq!(dropped("teardown_stopped_by_server"), sessions as u64);
    assert_eq!(stats.stopped_by_peer, 0);
}

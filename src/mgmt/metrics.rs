//! Prometheus metrics: the recorder, the help text of every family (the reference is
//! deploy/METRICS.md), the figures read at scrape time (the shards' published
//! counters, `/proc/self`), and the HTTP endpoint on `[metrics] listen`.
//!
//! The control thread records its events and gauges through the `metrics` macros
//! into one global `metrics-exporter-prometheus` recorder ([`install`]). The data
//! plane never touches the recorder: a shard counts into plain integers and copies
//! them out every millisecond at most (`runtime::shard`), and a scrape turns those
//! copies into absolute counter values. So Prometheus costs the hot path nothing.
//!
//! The endpoint is a small thread of our own (the exporter's HTTP listener would
//! bring an async runtime and a TLS stack for one GET): one connection at a time,
//! bounded reads and writes, `GET /metrics` only. It also runs the recorder's upkeep
//! every few seconds, which bounds the memory histograms hold between scrapes.
//!
//! CPU time is exported as float seconds (`process_cpu_seconds_total`,
//! `shardvpn_shard_cpu_seconds_total`, the names dashboards expect); the recorder's
//! counters are integers, so these two families are written after its output.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use metrics::{Counter, Gauge, Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::dataplane::counters::{DropReason, Event, PuntKind, RxProto, TxDrop, TxProto};
use crate::runtime::shard::ShardStats;

/// Buckets of `shardvpn_session_setup_seconds`: a LAN client is up in tens of
/// milliseconds, a storm or a slow RADIUS stretches it to seconds.
const SETUP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Buckets of `shardvpn_radius_response_seconds`: up to the default 3 s timeout.
const RADIUS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// How long a scrape may take to send its request, and to take our answer.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request head we read (a scraper sends a few hundred bytes).
const MAX_REQUEST: usize = 8192;
/// How often histograms are drained into their buckets without a scrape.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder (installed on first call). Every later call returns the
/// same handle: the `metrics` facade has one global recorder per process.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("shardvpn_session_setup_seconds".into()),
                SETUP_BUCKETS,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("shardvpn_radius_response_seconds".into()),
                    RADIUS_BUCKETS,
                )
            })
            // Non-empty constant bucket lists: the builder cannot refuse them.
            .expect("valid histogram buckets");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            // An embedder installed its own: our events go there, /metrics shows
            // only what is read at scrape time.
            eprintln!("shardvpn: a metrics recorder is already installed; using it");
        }
        describe();
        handle
    })
}

/// HELP text for every family the recorder holds (promtool wants one for each).
fn describe() {
    describe_gauge!(
        "shardvpn_sessions",
        "Sessions now, by protocol and state (starting: before IPCP is up)."
    );
    describe_counter!("shardvpn_sessions_started_total", "Calls accepted.");
    describe_counter!(
        "shardvpn_sessions_established_total",
        "Sessions that reached IPCP Opened."
    );
    describe_counter!("shardvpn_sessions_ended_total", "Sessions ended, by cause.");
    describe_counter!(
        "shardvpn_sessions_refused_total",
        "Calls refused at admission, by reason."
    );
    describe_histogram!(
        "shardvpn_session_setup_seconds",
        Unit::Seconds,
        "From the subscriber's first message to IPCP Opened."
    );
    describe_counter!(
        "shardvpn_auth_total",
        "Authentications, by backend and result."
    );
    describe_gauge!("shardvpn_l2tp_tunnels", "L2TP control connections now.");
    describe_counter!(
        "shardvpn_l2tp_tunnels_opened_total",
        "L2TP tunnels that were established."
    );
    describe_counter!("shardvpn_l2tp_tunnels_closed_total", "L2TP tunnels ended.");
    describe_counter!(
        "shardvpn_l2tp_retransmissions_total",
        "L2TP control messages retransmitted."
    );
    describe_gauge!(
        "shardvpn_l2tp_control_queue_depth",
        "L2TP control messages sent or queued and not yet acknowledged."
    );
    describe_counter!(
        "shardvpn_l2tp_errors_total",
        "L2TP control messages dropped, by reason."
    );
    describe_counter!("shardvpn_ike_exchanges_total", "IKE exchanges completed.");
    describe_counter!(
        "shardvpn_ike_failures_total",
        "IKE exchanges failed or refused, by reason."
    );
    describe_gauge!("shardvpn_ike_sas", "IKE SAs now (ipsec: SA pairs).");
    describe_counter!("shardvpn_ike_events_total", "Other IKE events.");
    describe_gauge!("shardvpn_pptp_connections", "PPTP control connections now.");
    describe_counter!(
        "shardvpn_pptp_connections_total",
        "PPTP control connections."
    );
    describe_counter!(
        "shardvpn_pptp_mppe_up_total",
        "PPTP calls whose MPPE keys were installed."
    );
    describe_counter!(
        "shardvpn_radius_requests_total",
        "RADIUS requests sent for the first time, per server."
    );
    describe_counter!(
        "shardvpn_radius_retransmissions_total",
        "RADIUS retransmissions, per server."
    );
    describe_counter!(
        "shardvpn_radius_timeouts_total",
        "RADIUS requests whose retries a server exhausted."
    );
    describe_counter!(
        "shardvpn_radius_responses_total",
        "Authentic RADIUS answers, per server."
    );
    describe_histogram!(
        "shardvpn_radius_response_seconds",
        Unit::Seconds,
        "From a RADIUS request's last transmission to its answer."
    );
    describe_gauge!(
        "shardvpn_radius_server_up",
        "1 while the RADIUS server is considered alive, 0 while held down as dead."
    );
    describe_gauge!(
        "shardvpn_radius_accounting_queue",
        "RADIUS accounting records not yet delivered."
    );
    describe_counter!(
        "shardvpn_radius_errors_total",
        "RADIUS answers or records dropped."
    );
    describe_counter!(
        "shardvpn_radius_dae_total",
        "RADIUS Dynamic Authorization requests answered."
    );
    describe_gauge!(
        "shardvpn_control_queue_depth",
        "Messages waiting between the shards and the control thread (inbox: punts and \
         reports for the control thread; commands: shard commands not yet queued)."
    );
    describe_gauge!("shardvpn_pool_addresses", "Addresses in the pool.");
    describe_gauge!(
        "shardvpn_pool_addresses_used",
        "Pool addresses handed out now."
    );
    describe_counter!(
        "shardvpn_rx_packets_total",
        "Packets received by the data plane."
    );
    describe_counter!(
        "shardvpn_rx_bytes_total",
        Unit::Bytes,
        "Bytes received by the data plane."
    );
    describe_counter!(
        "shardvpn_tx_packets_total",
        "Packets sent by the data plane."
    );
    describe_counter!(
        "shardvpn_tx_bytes_total",
        Unit::Bytes,
        "Bytes sent by the data plane."
    );
    describe_counter!("shardvpn_rx_drops_total", "Receive drops, by reason.");
    describe_counter!("shardvpn_tx_drops_total", "Transmit drops, by reason.");
    describe_counter!(
        "shardvpn_punts_total",
        "Packets handed to the control thread."
    );
    describe_counter!(
        "shardvpn_batches_total",
        "Shard loop iterations, by completions handled."
    );
    describe_counter!("shardvpn_shard_events_total", "Shard runtime events.");
    describe_gauge!(
        "shardvpn_shard_sessions",
        "Sessions installed on the shard."
    );
    describe_gauge!(
        "shardvpn_shard_sas",
        "Inbound ESP SAs installed on the shard."
    );
    describe_gauge!("shardvpn_shards", "Data-plane shards.");
    describe_gauge!(
        "process_resident_memory_bytes",
        Unit::Bytes,
        "Resident memory."
    );
    describe_gauge!(
        "process_virtual_memory_bytes",
        Unit::Bytes,
        "Virtual memory."
    );
    describe_gauge!("process_open_fds", "Open file descriptors.");
    describe_gauge!("process_max_fds", "The file descriptor limit.");
    describe_gauge!("process_threads", "Threads of the process.");
    describe_gauge!(
        "process_start_time_seconds",
        Unit::Seconds,
        "Start time of the process, seconds since the Unix epoch."
    );
    describe_gauge!(
        "shardvpn_memory_baseline_bytes",
        Unit::Bytes,
        "Resident memory once the data plane was set up, before any session."
    );
    describe_gauge!(
        "shardvpn_uptime_seconds",
        Unit::Seconds,
        "Seconds since start."
    );
    describe_gauge!("shardvpn_build_info", "What is running (always 1).");
}

/// Batch-size label of each `RuntimeCounters::batch_sizes` slot.
const BATCH_SIZES: [&str; 8] = [
    "1", "2-3", "4-7", "8-15", "16-31", "32-63", "64-127", "128+",
];

/// One shard's counter handles, registered once.
struct ShardHandles {
    rx_packets: Vec<Counter>,
    rx_bytes: Vec<Counter>,
    tx_packets: Vec<Counter>,
    tx_bytes: Vec<Counter>,
    drops: Vec<Counter>,
    tx_drops: Vec<Counter>,
    punts: Vec<Counter>,
    batches: Vec<Counter>,
    events: Vec<(&'static str, Counter)>,
    sessions: Gauge,
    sas: Gauge,
}

/// Runtime event label → its value in a snapshot.
type EventField = fn(&ShardStats) -> u64;
const RUNTIME_EVENTS: [(&str, EventField); 11] = [
    ("no_buffers", |s| s.runtime.no_buffers),
    ("truncated", |s| s.runtime.truncated),
    ("recv_errors", |s| s.runtime.recv_errors),
    ("send_errors", |s| s.runtime.send_errors),
    ("tun_write_errors", |s| s.runtime.tun_write_errors),
    ("command_errors", |s| s.runtime.command_errors),
    ("outbox_full", |s| s.runtime.outbox_full),
    ("handed_off", |s| s.runtime.handed_off),
    ("handed_in", |s| s.runtime.handed_in),
    ("slots_exhausted", |s| s.runtime.slots_exhausted),
    ("gre_acks", |s| s.runtime.gre_acks),
];

impl ShardHandles {
    fn new(shard: usize) -> ShardHandles {
        let s = shard.to_string();
        let per = |name: &'static str, label: &'static str, values: &[&'static str]| {
            values
                .iter()
                .map(|v| metrics::counter!(name, "shard" => s.clone(), label => *v))
                .collect::<Vec<_>>()
        };
        let mut events: Vec<(&'static str, Counter)> = RUNTIME_EVENTS
            .iter()
            .map(|(name, _)| {
                let c = metrics::counter!(
                    "shardvpn_shard_events_total", "shard" => s.clone(), "event" => *name
                );
                (*name, c)
            })
            .collect();
        for name in Event::NAMES {
            events.push((
                name,
                metrics::counter!(
                    "shardvpn_shard_events_total", "shard" => s.clone(), "event" => name
                ),
            ));
        }
        ShardHandles {
            rx_packets: per("shardvpn_rx_packets_total", "proto", &RxProto::NAMES),
            rx_bytes: per("shardvpn_rx_bytes_total", "proto", &RxProto::NAMES),
            tx_packets: per("shardvpn_tx_packets_total", "proto", &TxProto::NAMES),
            tx_bytes: per("shardvpn_tx_bytes_total", "proto", &TxProto::NAMES),
            drops: per("shardvpn_rx_drops_total", "reason", &DropReason::NAMES),
            tx_drops: per("shardvpn_tx_drops_total", "reason", &TxDrop::NAMES),
            punts: per("shardvpn_punts_total", "kind", &PuntKind::NAMES),
            batches: per("shardvpn_batches_total", "size", &BATCH_SIZES),
            events,
            sessions: metrics::gauge!("shardvpn_shard_sessions", "shard" => s.clone()),
            sas: metrics::gauge!("shardvpn_shard_sas", "shard" => s),
        }
    }

    fn set(&self, st: &ShardStats) {
        let abs = |handles: &[Counter], values: &[u64]| {
            for (h, v) in handles.iter().zip(values) {
                h.absolute(*v);
            }
        };
        let p = &st.packets;
        abs(&self.rx_packets, &p.rx_packets);
        abs(&self.rx_bytes, &p.rx_bytes);
        abs(&self.tx_packets, &p.tx_packets);
        abs(&self.tx_bytes, &p.tx_bytes);
        abs(&self.drops, &p.drops);
        abs(&self.tx_drops, &p.tx_drops);
        abs(&self.punts, &p.punts);
        abs(&self.batches, &st.runtime.batch_sizes);
        for (i, (_, c)) in self.events.iter().enumerate() {
            match RUNTIME_EVENTS.get(i) {
                Some((_, field)) => c.absolute(field(st)),
                None => c.absolute(p.events[i - RUNTIME_EVENTS.len()]),
            }
        }
        self.sessions.set((st.session_count + st.call_count) as f64);
        self.sas.set(st.sa_count as f64);
    }
}

/// What a scrape reads besides the recorder.
pub struct Sources {
    shards: Vec<Arc<Mutex<ShardStats>>>,
    handles: Vec<ShardHandles>,
    started: Instant,
    process: ProcessHandles,
}

struct ProcessHandles {
    rss: Gauge,
    vsize: Gauge,
    fds: Gauge,
    max_fds: Gauge,
    threads: Gauge,
    uptime: Gauge,
}

impl Sources {
    /// Registers the per-shard families for `shards` and the process figures, and
    /// sets the constant gauges (build info, start time, shard count, the memory
    /// baseline read now).
    pub fn new(shards: Vec<Arc<Mutex<ShardStats>>>) -> Sources {
        install();
        let handles = (0..shards.len()).map(ShardHandles::new).collect();
        metrics::gauge!("shardvpn_shards").set(shards.len() as f64);
        metrics::gauge!(
            "shardvpn_build_info",
            "version" => env!("CARGO_PKG_VERSION"),
            "profile" => if cfg!(debug_assertions) { "debug" } else { "release" }
        )
        .set(1.0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        metrics::gauge!("process_start_time_seconds").set(now);
        if let Some(stat) = ProcStat::read() {
            metrics::gauge!("shardvpn_memory_baseline_bytes").set(stat.rss_bytes as f64);
        }
        Sources {
            shards,
            handles,
            started: Instant::now(),
            process: ProcessHandles {
                rss: metrics::gauge!("process_resident_memory_bytes"),
                vsize: metrics::gauge!("process_virtual_memory_bytes"),
                fds: metrics::gauge!("process_open_fds"),
                max_fds: metrics::gauge!("process_max_fds"),
                threads: metrics::gauge!("process_threads"),
                uptime: metrics::gauge!("shardvpn_uptime_seconds"),
            },
        }
    }

    /// Reads the shards' snapshots and `/proc/self` into the recorder, and returns
    /// the float CPU families (see the module docs) as exposition text.
    fn collect(&self) -> String {
        let mut extra = String::new();
        let mut cpu = Vec::with_capacity(self.shards.len());
        for (stats, handles) in self.shards.iter().zip(&self.handles) {
            // A copy under the lock, the recorder updated outside it: the shard only
            // ever try_locks, so it skips a publish rather than wait for us.
            let snap = stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
            handles.set(&snap);
            cpu.push(snap.cpu_ns);
        }
        let p = &self.process;
        p.uptime.set(self.started.elapsed().as_secs_f64());
        if let Some(stat) = ProcStat::read() {
            p.rss.set(stat.rss_bytes as f64);
            p.vsize.set(stat.vsize_bytes as f64);
            p.threads.set(stat.threads as f64);
            let _ = writeln!(
                extra,
                "# HELP process_cpu_seconds_total User and system CPU time of the process.\n\
                 # TYPE process_cpu_seconds_total counter\n\
                 process_cpu_seconds_total {}",
                stat.cpu_seconds
            );
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            // The directory handle itself is one of the entries.
            p.fds.set(dir.count().saturating_sub(1) as f64);
        }
        if let Some(max) = crate::runtime::rlimit::nofile_limit() {
            p.max_fds.set(max as f64);
        }
        let _ = writeln!(
            extra,
            "# HELP shardvpn_shard_cpu_seconds_total CPU time of the shard thread.\n\
             # TYPE shardvpn_shard_cpu_seconds_total counter"
        );
        for (i, ns) in cpu.iter().enumerate() {
            let _ = writeln!(
                extra,
                "shardvpn_shard_cpu_seconds_total{{shard=\"{i}\"}} {}",
                *ns as f64 / 1e9
            );
        }
        extra
    }

    /// The whole exposition: the recorder's families, then the CPU families.
    pub fn render(&self) -> String {
        let extra = self.collect();
        let mut text = install().render();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&extra);
        text
    }
}

/// The figures of `/proc/self/stat` we export.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ProcStat {
    cpu_seconds: f64,
    threads: u64,
    vsize_bytes: u64,
    rss_bytes: u64,
}

impl ProcStat {
    fn read() -> Option<ProcStat> {
        let text = std::fs::read_to_string("/proc/self/stat").ok()?;
        let (tick, page) = crate::runtime::rlimit::clock_ticks_and_page_size();
        parse_stat(&text, tick, page)
    }
}

/// Parses proc(5) `stat`: fields after the parenthesised command name (which may
/// hold spaces and parentheses itself, hence the last ')').
fn parse_stat(text: &str, ticks_per_second: u64, page_size: u64) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    // rest starts at field 3 (state): field N is index N - 3.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |n: usize| f.get(n - 3)?.parse::<u64>().ok();
    let utime = num(14)?;
    let stime = num(15)?;
    Some(ProcStat {
        cpu_seconds: (utime + stime) as f64 / ticks_per_second as f64,
        threads: num(20)?,
        vsize_bytes: num(23)?,
        rss_bytes: num(24)?.saturating_mul(page_size),
    })
}

/// The running endpoint; dropping it stops the thread.
pub struct MetricsServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

/// Binds the endpoint's socket (early, so a busy port stops the daemon before it
/// touches anything else).
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
}

impl MetricsServer {
    /// Serves `listener` on a thread of its own until dropped.
    pub fn start(listener: TcpListener, sources: Sources) -> io::Result<MetricsServer> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || serve(&listener, &sources, &flag))?;
        Ok(MetricsServer {
            stop,
            thread: Some(thread),
            addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: &TcpListener, sources: &Sources, stop: &AtomicBool) {
    let fds = [listener.as_raw_fd()];
    let mut ready = Vec::with_capacity(1);
    let mut last_upkeep = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if last_upkeep.elapsed() >= UPKEEP_INTERVAL {
            install().run_upkeep();
            last_upkeep = Instant::now();
        }
        let polled = crate::runtime::signals::wait_readable(
            &fds,
            Some(Duration::from_millis(200)),
            &mut ready,
        );
        if polled.is_err() || !ready.first().copied().unwrap_or(false) {
            continue;
        }
        // Bounded: a burst of connections is served one by one, then we look at
        // `stop` again.
        for _ in 0..64 {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = answer(stream, sources);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics { head_only: bool },
    Index,
    NotFound,
    BadMethod,
    BadRequest,
}

/// Parses the request line of an HTTP/1.x request head.
fn route(head: &[u8]) -> Route {
    let Some(line) = head.split(|b| *b == b'\n').next() else {
        return Route::BadRequest;
    };
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Route::BadRequest;
    };
    if !version.starts_with("HTTP/1.") {
        return Route::BadRequest;
    }
    let path = target.split('?').next().unwrap_or("");
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Route::BadMethod,
    };
    match path {
        "/metrics" => Route::Metrics { head_only },
        "/" => Route::Index,
        _ => Route::NotFound,
    }
}

fn answer(mut stream: TcpStream, sources: &Sources) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + READ_TIMEOUT;
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        if head.len() >= MAX_REQUEST || Instant::now() >= deadline {
            break;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let (status, content_type, body, head_only) = match route(&head) {
        Route::Metrics { head_only } => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            sources.render(),
            head_only,
        ),
        Route::Index => (
            "200 OK",
            "text/plain; charset=utf-8",
            "shardvpn: metrics are at /metrics\n".to_owned(),
            false,
        ),
        Route::NotFound => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: metrics are at /metrics\n".to_owned(),
            false,
        ),
        Route::BadMethod => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET and HEAD\n".to_owned(),
            false,
        ),
        Route::BadRequest => (
            "400 Bad Request",
            "text/plain; charset=utf-8",
            "bad request\n".to_owned(),
            false,
        ),
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(header.as_bytes())?;
    if !head_only {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_the_command_name() {
        // A command name with spaces and a ')' of its own.
        let text = "4242 (shard vpn) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 50 0 0 20 0 7 0 12345 104857600 2048 18446744073709551615";
        let s = parse_stat(text, 100, 4096).unwrap();
        assert_eq!(s.cpu_seconds, 3.0);
        assert_eq!(s.threads, 7);
        assert_eq!(s.vsize_bytes, 104_857_600);
        assert_eq!(s.rss_bytes, 2048 * 4096);
        assert_eq!(parse_stat("12 (x) S 1 2", 100, 4096), None);
        assert_eq!(parse_stat("no parenthesis", 100, 4096), None);
        assert!(ProcStat::read().unwrap().rss_bytes > 0);
    }

    #[test]
    fn requests_are_routed() {
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Route::Metrics { head_only: false }
        );
        assert_eq!(
            route(b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Route::Metrics { head_only: true }
        );
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Route::Index);
        assert_eq!(route(b"GET /other HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"POST /metrics HTTP/1.1\r\n\r\n"), Route::BadMethod);
        assert_eq!(route(b"GET /metrics\r\n\r\n"), Route::BadRequest);
        assert_eq!(route(b""), Route::BadRequest);
        assert_eq!(route(b"\xff\xfe garbage"), Route::BadRequest);
    }

    /// The endpoint answers a scrape over TCP with the shards' counters and the
    /// process figures, and promtool-style structure (HELP and TYPE lines).
    #[test]
    fn a_scrape_returns_the_shard_counters() {
        let stats = Arc::new(Mutex::new(ShardStats::default()));
        {
            let mut s = stats.lock().unwrap();
            s.packets.rx_packets[RxProto::L2tpUdp.index()] = 1234;
            s.packets.drops[DropReason::Spoofed.index()] = 7;
            s.runtime.batch_sizes[3] = 5;
            s.cpu_ns = 1_500_000_000;
            s.session_count = 3;
        }
        let sources = Sources::new(vec![stats]);
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let server = MetricsServer::start(listener, sources).unwrap();
        let mut c = TcpStream::connect(server.local_addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        c.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        for needle in [
            "shardvpn_rx_packets_total{shard=\"0\",proto=\"l2tp_udp\"} 1234",
            "shardvpn_rx_drops_total{shard=\"0\",reason=\"spoofed\"} 7",
            "shardvpn_batches_total{shard=\"0\",size=\"8-15\"} 5",
            "shardvpn_shard_cpu_seconds_total{shard=\"0\"} 1.5",
            "shardvpn_shard_sessions{shard=\"0\"} 3",
            "# TYPE process_cpu_seconds_total counter",
            "# HELP shardvpn_rx_packets_total ",
            "shardvpn_build_info{",
            "process_resident_memory_bytes ",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        let mut c = TcpStream::connect(server.local_addr()).unwrap();
        c.write_all(b"GET /nope HTTP/1.1\r\n\r\n").unwrap();
        let mut text = String::new();
        c.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 404"), "{text}");
    }
}

//! Pieces every emulation mode uses: randomness for the engines, the ICMP Echo
//! Request a session pings with and the reply it matches, the progress line, and the
//! bystanders' keepalive bookkeeping.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};
use shardvpn::wire::{icmpv4, ipv4};

/// The engines' `rng` argument, backed by the OS generator.
pub(crate) fn fill(rng: &SystemRandom) -> impl FnMut(&mut [u8]) + '_ {
    move |buf: &mut [u8]| rng.fill(buf).expect("OS random number generator")
}

/// An IPv4 ICMP Echo Request from `src` to `dst`.
pub(crate) fn echo_request(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16) -> Vec<u8> {
    let payload = b"loadgen ping";
    let echo = icmpv4::EchoRepr {
        reply: false,
        identifier: id,
        sequence: seq,
        data: payload,
    };
    let ip = ipv4::Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: ipv4::Protocol::Icmp,
        payload_len: echo.buffer_len(),
        hop_limit: 64,
    };
    let mut buf = vec![0u8; ip.buffer_len() + echo.buffer_len()];
    echo.emit(&mut buf[ip.buffer_len()..]);
    ip.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]));
    buf
}

/// The (identifier, sequence) of an IPv4 ICMP Echo Reply; None for anything else
/// (malformed input included).
pub(crate) fn parse_echo_reply(packet: &[u8]) -> Option<(u16, u16)> {
    let ip = ipv4::Packet::new_checked(packet).ok()?;
    if ip.next_header() != ipv4::Protocol::Icmp {
        return None;
    }
    let icmp = icmpv4::Packet::new_checked(ip.payload()).ok()?;
    let echo = icmpv4::EchoRepr::parse(&icmp).ok()?;
    echo.reply.then_some((echo.identifier, echo.sequence))
}

/// Progress on stderr: an indicatif bar on a terminal; otherwise (logs, CI) a plain
/// line at most once a second.
pub(crate) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    label: &'static str,
    pub(crate) last: Option<Instant>,
    start: Instant,
}

impl Progress {
    /// Progress of one phase (`label`: setup's "established", "storm", ...) towards
    /// `total` sessions.
    pub(crate) fn phase(label: &'static str, total: usize) -> Progress {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            let style = indicatif::ProgressStyle::with_template(
                "loadgen: {elapsed_precise} {prefix} [{bar:40}] {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            bar.set_prefix(label);
            bar
        });
        Progress {
            bar,
            label,
            last: None,
            start: Instant::now(),
        }
    }

    pub(crate) fn show(&mut self, now: Instant, up: u64, failed: u64, total: usize) {
        if let Some(bar) = &self.bar {
            // indicatif rate-limits its own drawing.
            bar.set_length(total as u64);
            bar.set_position(up);
            bar.set_message(format!("failed {failed}"));
            return;
        }
        if self.last.is_some_and(|l| now < l + Duration::from_secs(1)) {
            return;
        }
        self.last = Some(now);
        eprintln!(
            "loadgen: {:>6.1} s  {} {up}/{total}  failed {failed}",
            (now - self.start).as_secs_f64(),
            self.label
        );
    }

    /// A free-form status line (hold, churn) at `position` of the bar, at most once
    /// a second.
    pub(crate) fn note(&mut self, now: Instant, position: u64, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_position(position);
            bar.set_message(text.to_owned());
            return;
        }
        if self.last.is_some_and(|l| now < l + Duration::from_secs(1)) {
            return;
        }
        self.last = Some(now);
        eprintln!(
            "loadgen: {:>6.1} s  {} {text}",
            (now - self.start).as_secs_f64(),
            self.label
        );
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

/// Which phase a call (or L2TP/IPsec client) was set up for: its outcome is counted
/// there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Setup,
    Churn,
    Storm,
}

impl PhaseCount {
    /// Placed and neither up nor failed yet.
    pub(crate) fn outstanding(&self) -> usize {
        self.placed
            .saturating_sub((self.established + self.failed) as usize)
    }

    pub(crate) fn up(&mut self, now: Instant, latency: Duration) {
        self.established += 1;
        self.latency.record(latency);
        self.last_up = Some(now);
    }

    /// A failed attempt that will be retried: no longer placed, counted as a retry.
    pub(crate) fn retry(&mut self, reason: &str) {
        self.placed = self.placed.saturating_sub(1);
        *self.retries.entry(reason.to_owned()).or_default() += 1;
    }

    pub(crate) fn fail(&mut self, reason: &str) {
        self.failed += 1;
        *self.failures.entry(reason.to_owned()).or_default() += 1;
    }
}

/// Placed / established / failed calls of the churn or the storm.
#[derive(Default)]
pub(crate) struct PhaseCount {
    pub(crate) placed: usize,
    pub(crate) established: u64,
    pub(crate) failed: u64,
    pub(crate) failures: std::collections::BTreeMap<String, u64>,
    pub(crate) latency: crate::report::Latencies,
    pub(crate) last_up: Option<Instant>,
    /// Storm: failed reconnects are retried (as real clients redial) while this is
    /// on; each retry is counted here by reason instead of as a failure.
    pub(crate) retrying: bool,
    pub(crate) retries: std::collections::BTreeMap<String, u64>,
}

/// LCP codes of the bystanders' own keepalives (RFC 1661 §5.8).
const LCP_ECHO_REQUEST: u8 = 9;
const LCP_ECHO_REPLY: u8 = 10;
/// Marks the Echo-Requests loadgen's bystanders send themselves, so their replies
/// are told apart from those of the PPP engine's own echoes.
const KEEPALIVE_MARK: &[u8; 4] = b"lgka";

/// A bystander's LCP Echo-Request (`magic`: our negotiated Magic-Number), its
/// sequence number in the data.
pub(crate) fn lcp_echo_request(seq: u16, magic: u32) -> Vec<u8> {
    let mut p = vec![LCP_ECHO_REQUEST, seq as u8, 0, 14];
    p.extend_from_slice(&magic.to_be_bytes());
    p.extend_from_slice(KEEPALIVE_MARK);
    p.extend_from_slice(&seq.to_be_bytes());
    p
}

/// The sequence number of an Echo-Reply to [`lcp_echo_request`] (an LCP packet,
/// protocol 0xC021); None for anything else.
pub(crate) fn parse_lcp_echo_reply(lcp: &[u8]) -> Option<u16> {
    if lcp.len() < 14 || lcp[0] != LCP_ECHO_REPLY || &lcp[8..12] != KEEPALIVE_MARK {
        return None;
    }
    Some(u16::from_be_bytes([lcp[12], lcp[13]]))
}

/// How long a storm client whose reconnect failed waits before it redials.
pub(crate) const STORM_REDIAL_DELAY: Duration = Duration::from_secs(1);

/// How long a bystander's keepalive may go unanswered before it counts as lost.
pub(crate) const BYSTANDER_LOST_AFTER: Duration = Duration::from_secs(5);
/// How often a bystander sends each of its keepalives.
pub(crate) const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);

/// Sent / answered / worst round trip of one kind of keepalive.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct KindStats {
    pub(crate) sent: u64,
    pub(crate) answered: u64,
    pub(crate) max_rtt: Duration,
}

impl KindStats {
    pub(crate) fn answered(&mut self, rtt: Duration) {
        self.answered += 1;
        self.max_rtt = self.max_rtt.max(rtt);
    }
}

/// The bystanders' keepalives over all sessions (counted only while `on`).
#[derive(Debug, Default)]
pub(crate) struct Keepalives {
    pub(crate) on: bool,
    /// The storm is over: answers still count, new keepalives no longer do.
    pub(crate) draining: bool,
    pub(crate) lcp: KindStats,
    pub(crate) hello: KindStats,
    pub(crate) dpd: KindStats,
    pub(crate) lost: u64,
    pub(crate) lost_by_reason: std::collections::BTreeMap<String, u64>,
}

impl Keepalives {
    /// A bystander is lost, for `reason`.
    pub(crate) fn lose(&mut self, reason: &str) {
        self.lost += 1;
        *self.lost_by_reason.entry(reason.to_owned()).or_default() += 1;
    }

    /// Whether a keepalive sent now is counted.
    pub(crate) fn counting(&self) -> bool {
        self.on && !self.draining
    }

    pub(crate) fn report(&self, bystanders: u64) -> crate::report::Keepalive {
        let kinds = [
            ("lcp_echo", self.lcp),
            ("l2tp_hello", self.hello),
            ("ike_dpd", self.dpd),
        ];
        let mut k = crate::report::Keepalive {
            bystanders,
            bystanders_lost: self.lost,
            lost_by_reason: self.lost_by_reason.clone(),
            ..Default::default()
        };
        for (name, s) in kinds {
            if s.sent == 0 && s.answered == 0 {
                continue;
            }
            k.sent += s.sent;
            k.answered += s.answered;
            let ms = s.max_rtt.as_secs_f64() * 1000.0;
            k.max_rtt_ms = k.max_rtt_ms.max(ms);
            k.by_kind.insert(
                name.into(),
                crate::report::KeepaliveKind {
                    sent: s.sent,
                    answered: s.answered,
                    max_rtt_ms: ms,
                },
            );
        }
        k
    }
}

/// One bystander session's own LCP echoes.
#[derive(Debug, Default)]
pub(crate) struct Echoes {
    next: Option<Instant>,
    seq: u16,
    /// (sequence, sent at), oldest first.
    outstanding: std::collections::VecDeque<(u16, Instant)>,
    pub(crate) lost: bool,
}

impl Echoes {
    /// The sequence number of the Echo-Request due now, if one is.
    pub(crate) fn due(&mut self, now: Instant) -> Option<u16> {
        if self.lost || self.next.is_some_and(|n| now < n) {
            return None;
        }
        self.next = Some(now + KEEPALIVE_INTERVAL);
        self.seq = self.seq.wrapping_add(1);
        self.outstanding.push_back((self.seq, now));
        Some(self.seq)
    }

    /// A reply: its round trip, if it answers one of ours.
    pub(crate) fn answered(&mut self, now: Instant, seq: u16) -> Option<Duration> {
        let pos = self.outstanding.iter().position(|&(s, _)| s == seq)?;
        let (_, sent) = self.outstanding.remove(pos)?;
        Some(now - sent)
    }

    /// True once the oldest unanswered echo is older than [`BYSTANDER_LOST_AFTER`].
    pub(crate) fn overdue(&self, now: Instant) -> bool {
        self.outstanding
            .front()
            .is_some_and(|&(_, sent)| now.saturating_duration_since(sent) > BYSTANDER_LOST_AFTER)
    }

    pub(crate) fn pending(&self) -> bool {
        !self.outstanding.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_is_not_a_reply_and_a_turned_around_one_is() {
        let src = Ipv4Addr::new(10, 200, 0, 2);
        let dst = Ipv4Addr::new(10, 200, 0, 1);
        let mut packet = echo_request(src, dst, 7, 9);
        assert_eq!(parse_echo_reply(&packet), None);
        // Type 8 -> 0; the checksum moves by the same amount (RFC 1624).
        let ihl = usize::from(packet[0] & 0x0f) * 4;
        packet[ihl] = 0;
        let sum = u16::from_be_bytes([packet[ihl + 2], packet[ihl + 3]]);
        let (sum, carry) = sum.overflowing_add(0x0800);
        let sum = sum + u16::from(carry);
        packet[ihl + 2..ihl + 4].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(parse_echo_reply(&packet), Some((7, 9)));
        assert_eq!(parse_echo_reply(&packet[..10]), None);
    }

    /// A bystander's Echo-Request, turned around the way RFC 1661 §5.8 says (code
    /// 10, the replier's magic, the data kept), is recognised; others are not.
    #[test]
    fn lcp_echo_reply_is_matched_by_its_mark_and_sequence() {
        let request = lcp_echo_request(0x1234, 0xdead_beef);
        assert_eq!(
            u16::from_be_bytes([request[2], request[3]]) as usize,
            request.len()
        );
        assert_eq!(parse_lcp_echo_reply(&request), None);
        let mut reply = request.clone();
        reply[0] = 10;
        reply[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
        assert_eq!(parse_lcp_echo_reply(&reply), Some(0x1234));
        // The PPP engine's own echoes carry no mark.
        let mut other = reply.clone();
        other[8] = b'x';
        assert_eq!(parse_lcp_echo_reply(&other), None);
        assert_eq!(parse_lcp_echo_reply(&reply[..10]), None);
    }

    #[test]
    fn an_echo_unanswered_for_five_seconds_is_overdue() {
        let t0 = Instant::now();
        let mut e = Echoes::default();
        let first = e.due(t0).unwrap();
        assert_eq!(e.due(t0 + Duration::from_millis(500)), None);
        let second = e.due(t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(
            e.answered(t0 + Duration::from_millis(1200), second),
            Some(Duration::from_millis(200))
        );
        assert!(!e.overdue(t0 + Duration::from_secs(5)));
        assert!(e.overdue(t0 + Duration::from_millis(5001)));
        assert!(e.answered(t0 + Duration::from_secs(6), first).is_some());
        assert!(!e.pending());
    }
}

//! Pieces every emulation mode uses: randomness for the engines, the ICMP Echo
//! Request a session pings with and the reply it matches, and the progress line.

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

/// A progress line on stderr, at most once a second: rewritten in place on a
/// terminal, one line each time otherwise (logs, CI).
pub(crate) struct Progress {
    tty: bool,
    pub(crate) last: Option<Instant>,
    start: Instant,
}

impl Progress {
    pub(crate) fn new() -> Progress {
        use std::io::IsTerminal;
        Progress {
            tty: std::io::stderr().is_terminal(),
            last: None,
            start: Instant::now(),
        }
    }

    pub(crate) fn show(&mut self, now: Instant, up: u64, failed: u64, total: usize) {
        if self.last.is_some_and(|l| now < l + Duration::from_secs(1)) {
            return;
        }
        self.last = Some(now);
        let line = format!(
            "loadgen: {:>6.1} s  established {up}/{total}  failed {failed}",
            (now - self.start).as_secs_f64()
        );
        if self.tty {
            eprint!("\r{line}");
        } else {
            eprintln!("{line}");
        }
    }

    pub(crate) fn finish(&self) {
        if self.tty {
            eprintln!();
        }
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
}

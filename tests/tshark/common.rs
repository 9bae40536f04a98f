//! Capture builder and tshark runner for the cross-check tests.
//!
//! Frames are wrapped in IPv4 (and UDP or TCP) headers built with the library's own
//! `wire::ipv4` / `wire::udp`, written to a classic pcap file, and dissected by
//! `tshark`. Addresses are loopback only: nothing here is ever sent anywhere.

// Each test file uses a different subset of the helpers.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use shardvpn::wire::checksum;
use shardvpn::wire::ipv4::{self, Protocol};
use shardvpn::wire::udp::{self, IpPair};

const CLIENT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// pcap link types (https://www.tcpdump.org/linktypes.html).
const LINKTYPE_RAW: u32 = 101;
const LINKTYPE_PPP: u32 = 9;

/// Expert-info severities and markers that mean tshark did not like a packet.
const COMPLAINTS: &[&str] = &[
    "[Malformed Packet",
    "Expert Info (Error",
    "[Packet size limited",
];

static NEXT_FILE: AtomicUsize = AtomicUsize::new(0);

/// A capture under construction.
pub struct Capture {
    linktype: u32,
    frames: Vec<Vec<u8>>,
    tcp_seq: [u32; 2],
}

impl Capture {
    /// Frames are IPv4 packets.
    pub fn raw_ip() -> Capture {
        Capture {
            linktype: LINKTYPE_RAW,
            frames: Vec::new(),
            tcp_seq: [1000, 5000],
        }
    }

    /// Frames are PPP frames (with or without the FF 03 address and control bytes).
    pub fn ppp() -> Capture {
        Capture {
            linktype: LINKTYPE_PPP,
            ..Capture::raw_ip()
        }
    }

    /// Adds a frame exactly as given.
    pub fn frame(&mut self, bytes: &[u8]) -> &mut Self {
        self.frames.push(bytes.to_vec());
        self
    }

    fn ip_packet(src: Ipv4Addr, dst: Ipv4Addr, protocol: Protocol, payload: &[u8]) -> Vec<u8> {
        let repr = ipv4::Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: protocol,
            payload_len: payload.len(),
            hop_limit: 64,
        };
        let mut bytes = vec![0u8; repr.buffer_len() + payload.len()];
        let mut packet = ipv4::Packet::new_unchecked(&mut bytes[..]);
        repr.emit(&mut packet);
        packet.payload_mut().copy_from_slice(payload);
        bytes
    }

    /// An IPv4 packet from client to server with the given protocol (GRE 47, ESP 50).
    pub fn ip(&mut self, protocol: u8, payload: &[u8]) -> &mut Self {
        assert_eq!(self.linktype, LINKTYPE_RAW, "ip() needs Capture::raw_ip()");
        let packet = Self::ip_packet(CLIENT, SERVER, Protocol::from(protocol), payload);
        self.frames.push(packet);
        self
    }

    fn udp_between(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        sport: u16,
        dport: u16,
        payload: &[u8],
    ) {
        assert_eq!(self.linktype, LINKTYPE_RAW, "udp() needs Capture::raw_ip()");
        let repr = udp::Repr {
            src_port: sport,
            dst_port: dport,
            payload_len: payload.len(),
        };
        let mut datagram = vec![0u8; repr.buffer_len()];
        datagram[udp::HEADER_LEN..].copy_from_slice(payload);
        repr.emit(
            &mut udp::Packet::new_unchecked(&mut datagram[..]),
            IpPair::V4(src, dst),
        );
        self.frames
            .push(Self::ip_packet(src, dst, Protocol::Udp, &datagram));
    }

    /// A UDP datagram from client (127.0.0.1) to server (127.0.0.2).
    pub fn udp(&mut self, src_port: u16, dst_port: u16, payload: &[u8]) -> &mut Self {
        self.udp_between(CLIENT, SERVER, src_port, dst_port, payload);
        self
    }

    /// A UDP datagram from server to client.
    pub fn udp_reply(&mut self, src_port: u16, dst_port: u16, payload: &[u8]) -> &mut Self {
        self.udp_between(SERVER, CLIENT, src_port, dst_port, payload);
        self
    }

    fn tcp_between(&mut self, from_client: bool, sport: u16, dport: u16, payload: &[u8]) {
        assert_eq!(self.linktype, LINKTYPE_RAW, "tcp() needs Capture::raw_ip()");
        let (src, dst, me, peer) = if from_client {
            (CLIENT, SERVER, 0, 1)
        } else {
            (SERVER, CLIENT, 1, 0)
        };
        let seq = self.tcp_seq[me];
        let ack = self.tcp_seq[peer];
        self.tcp_seq[me] = seq.wrapping_add(payload.len() as u32);
        let mut segment = Vec::with_capacity(20 + payload.len());
        segment.extend_from_slice(&sport.to_be_bytes());
        segment.extend_from_slice(&dport.to_be_bytes());
        segment.extend_from_slice(&seq.to_be_bytes());
        segment.extend_from_slice(&ack.to_be_bytes());
        segment.push(5 << 4); // data offset: 5 words, no options
        segment.push(0x18); // PSH | ACK
        segment.extend_from_slice(&65535u16.to_be_bytes()); // window
        segment.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
        segment.extend_from_slice(payload);
        let acc = ipv4::pseudo_header_sum(src, dst, Protocol::Tcp, segment.len() as u16);
        let sum = checksum::finish(checksum::accumulate(acc, &segment));
        segment[16..18].copy_from_slice(&sum.to_be_bytes());
        self.frames
            .push(Self::ip_packet(src, dst, Protocol::Tcp, &segment));
    }

    /// One TCP PSH/ACK segment from client to server; sequence numbers advance per
    /// direction so consecutive calls form one stream.
    pub fn tcp(&mut self, src_port: u16, dst_port: u16, payload: &[u8]) -> &mut Self {
        self.tcp_between(true, src_port, dst_port, payload);
        self
    }

    /// One TCP segment from server to client.
    pub fn tcp_reply(&mut self, src_port: u16, dst_port: u16, payload: &[u8]) -> &mut Self {
        self.tcp_between(false, src_port, dst_port, payload);
        self
    }

    fn pcap_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        out.extend_from_slice(&65535u32.to_le_bytes()); // snaplen
        out.extend_from_slice(&self.linktype.to_le_bytes());
        for (i, frame) in self.frames.iter().enumerate() {
            out.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(frame);
        }
        out
    }

    /// Writes the capture and dissects it with `tshark -V`; panics with the dissection
    /// if tshark reports a malformed packet or an error-level expert item.
    pub fn dissect(&self) -> Dissection {
        self.dissect_with(&[])
    }

    /// As [`Capture::dissect`], with tshark preferences (`-o name:value`).
    pub fn dissect_with(&self, prefs: &[(&str, &str)]) -> Dissection {
        assert!(!self.frames.is_empty(), "empty capture");
        let n = NEXT_FILE.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("shardvpn-tshark-{}-{}.pcap", std::process::id(), n));
        std::fs::write(&path, self.pcap_bytes()).expect("write pcap");
        let options: Vec<String> = prefs
            .iter()
            .flat_map(|(k, v)| ["-o".to_string(), format!("{k}:{v}")])
            .collect();
        let mut dissection = Dissection {
            path,
            options,
            frames: self.frames.len(),
            text: String::new(),
        };
        dissection.text = dissection.run(&["-V"]);
        if let Some(bad) = COMPLAINTS.iter().find(|c| dissection.text.contains(*c)) {
            panic!("tshark reports {bad:?}:\n{}", dissection.text);
        }
        dissection
    }
}

/// The result of a dissection; removes its pcap when dropped.
pub struct Dissection {
    path: PathBuf,
    options: Vec<String>,
    frames: usize,
    text: String,
}

/// The aggregator between several occurrences of a field in `-T fields` output; a
/// control character so that commas and spaces in values stay intact.
const AGGREGATOR: &str = "\u{1f}";

impl Dissection {
    fn run(&self, args: &[&str]) -> String {
        let output = Command::new("tshark")
            .arg("-n") // no name resolution
            .arg("-r")
            .arg(&self.path)
            .args(&self.options)
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run tshark ({e}): install it with `apt-get install tshark` or run `bash .ci/run`")
            });
        assert!(
            output.status.success(),
            "tshark failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The full `tshark -V` text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every occurrence of `field` in each frame, in frame order.
    pub fn field(&self, field: &str) -> Vec<Vec<String>> {
        let out = self.run(&[
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            &format!("aggregator={AGGREGATOR}"),
            "-e",
            field,
        ]);
        let rows: Vec<Vec<String>> = out
            .lines()
            .map(|line| {
                if line.is_empty() {
                    Vec::new()
                } else {
                    line.split(AGGREGATOR).map(str::to_owned).collect()
                }
            })
            .collect();
        assert_eq!(rows.len(), self.frames, "tshark -T fields output:\n{out}");
        rows
    }
}

impl Drop for Dissection {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Self-test of the capture plumbing with the library's own IPv4/UDP headers.
#[test]
fn udp_and_tcp_wrapping_is_clean() {
    let mut cap = Capture::raw_ip();
    cap.udp(40000, 7, b"hello");
    cap.tcp(40001, 9, b"abc");
    cap.tcp_reply(9, 40001, b"de");
    let d = cap.dissect_with(&[
        ("tcp.check_checksum", "TRUE"),
        ("udp.check_checksum", "TRUE"),
        ("ip.check_checksum", "TRUE"),
    ]);
    assert_eq!(d.field("udp.srcport"), vec![vec!["40000"], vec![], vec![]]);
    assert_eq!(d.field("ip.dst")[0], vec!["127.0.0.2"]);
    assert_eq!(d.field("tcp.seq_raw")[2], vec!["5000"]);
    assert_eq!(d.field("tcp.ack_raw")[2], vec!["1003"]);
    for status in [
        "udp.checksum.status",
        "tcp.checksum.status",
        "ip.checksum.status",
    ] {
        let good: Vec<String> = d.field(status).into_iter().flatten().collect();
        assert!(
            !good.is_empty() && good.iter().all(|s| s == "1"),
            "{status}: {good:?}"
        );
    }
}

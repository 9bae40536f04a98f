//! The data plane's sockets: one reuseport group per UDP port (IKE 500, NAT-T 4500,
//! L2TP 1701), each `1 + shards` sockets in the order the steering programs index
//! (control first, then shard 0, 1, ...), and one raw ESP socket per shard with its
//! SPI filter (and, for PPTP, one raw GRE socket per shard with its Call ID filter) (see [`super::steering`] for the programs and what the kernel
//! guarantees).
//!
//! Binding happens once at startup; any failure names the port and the likely cause
//! (another IKE or L2TP daemon holding the port, missing privileges) rather than
//! surfacing as a shard dying later.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};

use super::raw::RawIpv4Socket;
use super::steering::{self, Program, attach_filter, attach_reuseport_cbpf, reuseport_udp_socket};
use super::tun::TunError;
use super::uring::UringError;
use crate::dataplane::steering::ShardMap;

/// Where the data plane listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    pub address: IpAddr,
    pub ike_port: u16,
    pub nat_t_port: u16,
    pub l2tp_port: u16,
    /// Also receive ESP as IP protocol 50 (clients not behind NAT). Needs CAP_NET_RAW.
    pub raw_esp: bool,
    /// Open the per-shard raw GRE sockets for PPTP data (RFC 2637 §4). Needs
    /// CAP_NET_RAW.
    pub gre: bool,
}

impl Default for ListenSpec {
    fn default() -> Self {
        ListenSpec {
            address: IpAddr::from([0, 0, 0, 0]),
            ike_port: 500,
            nat_t_port: 4500,
            l2tp_port: 1701,
            raw_esp: true,
            gre: false,
        }
    }
}

/// Why the data plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(
        "UDP {addr} ({what}) is already in use: is another IKE or L2TP daemon (strongSwan, libreswan, xl2tpd, accel-ppp) running?"
    )]
    PortInUse {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot bind UDP {addr} ({what}){hint}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        hint: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "cannot open the raw ESP socket (needs CAP_NET_RAW; set listen.raw_esp = false to run without)"
    )]
    RawEsp(#[source] io::Error),
    #[error("cannot open the raw GRE socket for PPTP (needs CAP_NET_RAW)")]
    RawGre(#[source] io::Error),
    #[error("cannot attach the steering program to UDP port {port}")]
    Steering {
        port: u16,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Tun(#[from] TunError),
    #[error(transparent)]
    Uring(#[from] UringError),
    #[error("shard {shard}: {what}")]
    Shard {
        shard: u32,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{what}")]
    Io {
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

/// The control thread's member of each group.
#[derive(Debug)]
pub struct ControlSockets {
    pub ike: UdpSocket,
    pub nat_t: UdpSocket,
    pub l2tp: UdpSocket,
    /// Raw ESP for sending only (its filter accepts nothing): the control thread's
    /// L2TP/PPP control messages to clients without NAT. `None` without `raw_esp`.
    pub raw_esp: Option<RawIpv4Socket>,
}

/// One shard's sockets.
#[derive(Debug)]
pub struct ShardSockets {
    pub ike: UdpSocket,
    pub nat_t: UdpSocket,
    pub l2tp: UdpSocket,
    pub raw_esp: Option<RawIpv4Socket>,
    pub raw_gre: Option<RawIpv4Socket>,
}

fn bind_one(what: &'static str, addr: SocketAddr) -> Result<UdpSocket, StartupError> {
    reuseport_udp_socket(addr).map_err(|source| match source.raw_os_error() {
        Some(libc::EADDRINUSE) => StartupError::PortInUse { what, addr, source },
        Some(libc::EACCES) | Some(libc::EPERM) => StartupError::Bind {
            what,
            addr,
            hint: ": ports below 1024 need root or CAP_NET_BIND_SERVICE",
            source,
        },
        Some(libc::EADDRNOTAVAIL) => StartupError::Bind {
            what,
            addr,
            hint: ": the address is not configured on this host",
            source,
        },
        _ => StartupError::Bind {
            what,
            addr,
            hint: "",
            source,
        },
    })
}

/// Binds one group: the control socket, then one per shard, all on the same port (the
/// port the first bind got, when `port` is 0), and attaches `program`.
fn group(
    what: &'static str,
    ip: IpAddr,
    port: u16,
    shards: u32,
    program: &Program,
) -> Result<(UdpSocket, Vec<UdpSocket>), StartupError> {
    let control = bind_one(what, SocketAddr::new(ip, port))?;
    let addr = control.local_addr().map_err(|source| StartupError::Io {
        what: "getsockname",
        source,
    })?;
    let mut members = Vec::with_capacity(shards as usize);
    for _ in 0..shards {
        members.push(bind_one(what, addr)?);
    }
    attach_reuseport_cbpf(&control, program).map_err(|source| StartupError::Steering {
        port: addr.port(),
        source,
    })?;
    for s in std::iter::once(&control).chain(&members) {
        s.set_nonblocking(true).map_err(|source| StartupError::Io {
            what: "set O_NONBLOCK",
            source,
        })?;
        super::sockbuf::set_recv_buffer(s, super::sockbuf::DATAPLANE_RECV_BUFFER).map_err(
            |source| StartupError::Io {
                what: "set the socket receive buffer",
                source,
            },
        )?;
    }
    Ok((control, members))
}

/// Binds every group and the raw ESP sockets for `map.shards()` shards.
pub fn bind(
    spec: &ListenSpec,
    map: ShardMap,
) -> Result<(ControlSockets, Vec<ShardSockets>), StartupError> {
    let n = map.shards();
    let (ike, ikes) = group(
        "IKE",
        spec.address,
        spec.ike_port,
        n,
        &steering::control_only_program(),
    )?;
    let (nat_t, nat_ts) = group(
        "IKE NAT-T / ESP-in-UDP",
        spec.address,
        spec.nat_t_port,
        n,
        &steering::esp_in_udp_program(map),
    )?;
    let (l2tp, l2tps) = group(
        "L2TP",
        spec.address,
        spec.l2tp_port,
        n,
        &steering::l2tp_program(map),
    )?;
    let mut shards = Vec::with_capacity(n as usize);
    for (i, ((ike, nat_t), l2tp)) in ikes.into_iter().zip(nat_ts).zip(l2tps).enumerate() {
        let raw_esp = if spec.raw_esp && spec.address.is_ipv4() {
            let sock = RawIpv4Socket::open(50).map_err(StartupError::RawEsp)?;
            // `i < n`, so the filter exists.
            if let Some(filter) = steering::raw_esp_filter(map, i as u32) {
                attach_filter(&sock, &filter).map_err(StartupError::RawEsp)?;
            }
            super::sockbuf::set_recv_buffer(&sock, super::sockbuf::DATAPLANE_RECV_BUFFER)
                .map_err(StartupError::RawEsp)?;
            Some(sock)
        } else {
            None
        };
        let raw_gre = if spec.gre && spec.address.is_ipv4() {
            let sock = RawIpv4Socket::open(47).map_err(StartupError::RawGre)?;
            if let Some(filter) = steering::raw_gre_filter(map, i as u32) {
                attach_filter(&sock, &filter).map_err(StartupError::RawGre)?;
            }
            // As for the UDP sockets: a burst of call setups (each an LCP, CHAP, CCP
            // and IPCP exchange) must not overflow the default buffer.
            super::sockbuf::set_recv_buffer(&sock, super::sockbuf::DATAPLANE_RECV_BUFFER)
                .map_err(StartupError::RawGre)?;
            Some(sock)
        } else {
            None
        };
        shards.push(ShardSockets {
            ike,
            nat_t,
            l2tp,
            raw_esp,
            raw_gre,
        });
    }
    let raw_esp = if spec.raw_esp && spec.address.is_ipv4() {
        let sock = RawIpv4Socket::open(50).map_err(StartupError::RawEsp)?;
        attach_filter(&sock, &steering::reject_all_filter()).map_err(StartupError::RawEsp)?;
        Some(sock)
    } else {
        None
    };
    Ok((
        ControlSockets {
            ike,
            nat_t,
            l2tp,
            raw_esp,
        },
        shards,
    ))
}

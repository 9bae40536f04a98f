//! Raw IPv4 sockets for one IP protocol (ESP 50, GRE 47): what the data plane uses for
//! non-UDP-encapsulated traffic.
//!
//! A raw IPv4 socket receives a copy of every packet of its protocol addressed to the
//! host, from the IP header on; several sockets for the same protocol each get a copy,
//! so every shard's socket carries a filter ([`super::steering::raw_esp_filter`]) that
//! keeps only its own IDs. On send the kernel builds the IP header (no `IP_HDRINCL`).

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// A non-blocking raw IPv4 socket for one protocol. Needs CAP_NET_RAW.
#[derive(Debug)]
pub struct RawIpv4Socket {
    fd: OwnedFd,
}

fn cvt(rc: isize) -> io::Result<usize> {
    usize::try_from(rc).map_err(|_| io::Error::last_os_error())
}

impl RawIpv4Socket {
    pub fn open(protocol: u8) -> io::Result<RawIpv4Socket> {
        let ty = libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        // Safety: plain socket(2) call; the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_INET, ty, libc::c_int::from(protocol)) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // Safety: `raw` is a freshly created descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(RawIpv4Socket { fd })
    }

    /// Reads one packet, IP header included; `WouldBlock` when none is queued.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // Safety: `buf` is valid for writes of `buf.len()` bytes for the call.
        cvt(unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) })
    }

    /// Sends `payload` (the protocol's header and data) to `dst`; the kernel adds the
    /// IPv4 header.
    pub fn send_to(&self, payload: &[u8], dst: Ipv4Addr) -> io::Result<usize> {
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(dst).to_be(),
            },
            sin_zero: [0; 8],
        };
        // Safety: `payload` is valid for reads of its length and `sin` is a complete
        // sockaddr_in; both outlive the call.
        cvt(unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                payload.as_ptr().cast(),
                payload.len(),
                0,
                (&raw const sin).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        })
    }
}

impl AsFd for RawIpv4Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for RawIpv4Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

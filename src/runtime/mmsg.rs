//! Batched UDP sends with `sendmmsg(2)`: one syscall for many datagrams to one
//! destination. For traffic generators (loadgen, the `dataplane` benchmark's sender),
//! not the shards, which batch through io_uring.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

/// Reusable `mmsghdr`/`iovec` arrays for up to `capacity` datagrams per call, so a
/// sending loop allocates nothing after construction.
pub struct MmsgSender {
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    addr: libc::sockaddr_storage,
    addr_len: libc::socklen_t,
}

// Safety: the raw pointers inside the headers only ever point into this value's own
// vectors and are rewritten before each call; moving the value between threads is
// sound.
unsafe impl Send for MmsgSender {}

impl MmsgSender {
    pub fn new(capacity: usize, dst: SocketAddr) -> MmsgSender {
        let (addr, addr_len) = super::steering::sockaddr_of(dst);
        MmsgSender {
            // Safety: plain data; every field used is set in `send`.
            hdrs: (0..capacity)
                .map(|_| unsafe { std::mem::zeroed() })
                .collect(),
            iovs: (0..capacity)
                .map(|_| libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                })
                .collect(),
            addr,
            addr_len,
        }
    }

    /// Sends `datagrams` (at most `capacity`; the rest are ignored) in one call and
    /// returns how many the kernel took.
    pub fn send(&mut self, sock: &UdpSocket, datagrams: &[&[u8]]) -> io::Result<usize> {
        let n = datagrams.len().min(self.hdrs.len());
        for (i, d) in datagrams.iter().take(n).enumerate() {
            self.iovs[i] = libc::iovec {
                iov_base: d.as_ptr().cast_mut().cast(),
                iov_len: d.len(),
            };
        }
        let iovs = self.iovs.as_mut_ptr();
        let addr = (&raw mut self.addr).cast::<libc::c_void>();
        for (i, h) in self.hdrs.iter_mut().take(n).enumerate() {
            h.msg_hdr.msg_name = addr;
            h.msg_hdr.msg_namelen = self.addr_len;
            // Safety: `i < n <= iovs.len()`.
            h.msg_hdr.msg_iov = unsafe { iovs.add(i) };
            h.msg_hdr.msg_iovlen = 1;
            h.msg_len = 0;
        }
        // Safety: the first `n` headers point at live iovecs, which point into
        // `datagrams` (borrowed for the call) and at `self.addr`.
        let rc = unsafe {
            libc::sendmmsg(
                sock.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                n as libc::c_uint,
                0,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(rc as usize)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_a_batch_on_loopback() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut sender = MmsgSender::new(4, rx.local_addr().unwrap());
        let sent = sender.send(&tx, &[b"one", b"two", b"three"]).unwrap();
        assert_eq!(sent, 3);
        let mut buf = [0u8; 16];
        for want in [&b"one"[..], b"two", b"three"] {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], want);
        }
    }
}

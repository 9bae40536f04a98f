//! Socket buffer sizes. The kernel's default receive buffer (about 200 KiB, some 300
//! small datagrams) overflows when thousands of subscribers negotiate at once: a burst
//! of LCP frames is dropped in the socket and each loss costs the subscriber a 3 s PPP
//! restart timer. The data plane's sockets and loadgen's emulated LACs ask for more.

use std::io;
use std::os::fd::AsFd;
use std::os::fd::AsRawFd;

/// The receive buffer the data plane asks for on each of its sockets.
pub const DATAPLANE_RECV_BUFFER: usize = 4 << 20;

fn set(fd: impl AsFd, name: libc::c_int, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // Safety: passes a valid pointer to a c_int and its size; the fd is open.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            (&raw const value).cast::<libc::c_void>(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Sets the receive buffer to `bytes`: `SO_RCVBUFFORCE` (beyond `net.core.rmem_max`,
/// needs CAP_NET_ADMIN), else `SO_RCVBUF` (which the kernel caps at `rmem_max`).
pub fn set_recv_buffer(fd: impl AsFd, bytes: usize) -> io::Result<()> {
    let fd = fd.as_fd();
    set(fd, libc::SO_RCVBUFFORCE, bytes).or_else(|_| set(fd, libc::SO_RCVBUF, bytes))
}

/// The receive buffer the kernel granted (it reports twice the requested size, the
/// bookkeeping overhead included).
pub fn recv_buffer(fd: impl AsFd) -> io::Result<usize> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // Safety: valid pointers to a c_int and its length for the call.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw mut value).cast::<libc::c_void>(),
            &raw mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(value).unwrap_or(0))
}

/// The accept queue of a listening TCP socket: `std` listens with 128, which a burst of
/// a thousand PPTP clients a second overflows (each lost SYN costs a client a 1 s
/// retransmission). `listen(2)` on a listening socket only changes the backlog; the
/// kernel caps it at `net.core.somaxconn`.
pub fn set_listen_backlog(fd: impl AsFd, backlog: u32) -> io::Result<()> {
    let backlog = libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX);
    // Safety: no pointers; the fd is an open socket.
    let rc = unsafe { libc::listen(fd.as_fd().as_raw_fd(), backlog) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_grows() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = recv_buffer(&sock).unwrap();
        set_recv_buffer(&sock, 1 << 20).unwrap();
        let after = recv_buffer(&sock).unwrap();
        // As root the force variant applies; otherwise rmem_max caps it, which may be
        // the default: never smaller than before.
        assert!(after >= before, "{before} -> {after}");
    }
}

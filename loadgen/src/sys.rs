//! The system calls `--mode pptp` needs that std does not offer: a TCP connect
//! that does not block (10,000 control connections are opened from one thread, and a
//! blocking `connect` stalls every other client for a SYN retransmission whenever
//! the server's accept queue is full) and epoll (one `poll(2)` over 10,000
//! descriptors per wake-up would make each turn O(clients); epoll makes it
//! O(ready)), and SO_LINGER for the storm's connection resets.
//!
//! The daemon keeps its `unsafe` in `shardvpn::runtime`; loadgen is a separate crate
//! that may not add to it, so these few calls live here, each with its `// Safety:`.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

fn sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// Starts a TCP connection from `bind` (port chosen by the kernel; unspecified: any
/// address) to `to` without waiting for it: the stream is non-blocking and becomes
/// writable when the handshake is over; then `take_error()` says how it went.
pub fn connect_nonblocking(bind: Ipv4Addr, to: SocketAddrV4) -> io::Result<TcpStream> {
    let ty = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // Safety: plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_INET, ty, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // Safety: `raw` is a fresh descriptor nothing else owns; the OwnedFd closes it on
    // every error path below.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    if !bind.is_unspecified() {
        let local = sockaddr(SocketAddrV4::new(bind, 0));
        // Safety: `local` is a complete sockaddr_in that outlives the call.
        let rc = unsafe { libc::bind(fd.as_raw_fd(), (&raw const local).cast(), len) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let remote = sockaddr(to);
    // Safety: `remote` is a complete sockaddr_in that outlives the call.
    let rc = unsafe { libc::connect(fd.as_raw_fd(), (&raw const remote).cast(), len) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    let stream = TcpStream::from(fd);
    // Control messages are small and each one is a step of a handshake.
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Makes closing `stream` send a RST instead of a FIN (SO_LINGER with a zero
/// timeout), as a connection lost to a crash or a NAT reboot looks to the server.
pub fn set_linger_zero(stream: &TcpStream) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // Safety: `linger` is a complete struct linger that outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Readiness: readable (or hung up / in error) and writable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    pub token: u64,
    pub readable: bool,
    pub writable: bool,
}

/// A level-triggered epoll instance; each descriptor is registered with a token.
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

fn interest(writable: bool) -> u32 {
    let mut events = libc::EPOLLIN | libc::EPOLLRDHUP;
    if writable {
        events |= libc::EPOLLOUT;
    }
    events as u32
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // Safety: plain epoll_create1(2) call; the result is checked before use.
        let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // Safety: `raw` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Epoll {
            fd,
            events: Vec::with_capacity(1024),
        })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64, writable: bool) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: interest(writable),
            u64: token,
        };
        // Safety: `event` is a valid epoll_event for the call (ignored by DEL).
        let rc = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut event) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Watches `fd` for reading, and for writing if `writable`.
    pub fn add(&self, fd: RawFd, token: u64, writable: bool) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, writable)
    }

    /// Changes whether `fd` is watched for writing.
    pub fn modify(&self, fd: RawFd, token: u64, writable: bool) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, writable)
    }

    /// Stops watching `fd` (before it is closed).
    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, false)
    }

    /// Waits up to `timeout` and appends what is ready to `out` (cleared first). An
    /// interrupted wait returns nothing.
    pub fn wait(&mut self, timeout: Duration, out: &mut Vec<Ready>) -> io::Result<()> {
        out.clear();
        // Round up so a timer due in 0.3 ms does not spin.
        let ms =
            libc::c_int::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX);
        let cap = self.events.capacity();
        // Safety: the kernel writes at most `cap` events into the vector's spare
        // capacity; `set_len` below only covers the `n` it reports written.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                self.events.as_mut_ptr(),
                cap as libc::c_int,
                ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                return Ok(());
            }
            return Err(e);
        }
        // Safety: epoll_wait initialised the first `n` (<= cap) entries.
        unsafe { self.events.set_len(n as usize) };
        let readable = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        let writable = (libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP) as u32;
        out.extend(self.events.iter().map(|e| Ready {
            token: e.u64,
            readable: e.events & readable != 0,
            writable: e.events & writable != 0,
        }));
        self.events.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn nonblocking_connect_and_epoll_on_loopback() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let to = match listener.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        let mut epoll = Epoll::new().unwrap();
        let mut stream = connect_nonblocking(Ipv4Addr::LOCALHOST, to).unwrap();
        epoll.add(stream.as_raw_fd(), 7, true).unwrap();
        let mut ready = Vec::new();
        epoll.wait(Duration::from_secs(5), &mut ready).unwrap();
        assert!(ready.iter().any(|r| r.token == 7 && r.writable));
        assert!(stream.take_error().unwrap().is_none());
        let (mut server, _) = listener.accept().unwrap();
        epoll.modify(stream.as_raw_fd(), 7, false).unwrap();
        server.write_all(b"hello").unwrap();
        epoll.wait(Duration::from_secs(5), &mut ready).unwrap();
        assert_eq!(
            ready,
            vec![Ready {
                token: 7,
                readable: true,
                writable: false
            }]
        );
        let mut buf = [0u8; 16];
        assert_eq!(stream.read(&mut buf).unwrap(), 5);
        epoll.delete(stream.as_raw_fd()).unwrap();
    }
}

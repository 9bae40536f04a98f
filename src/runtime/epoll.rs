//! A minimal epoll set for the control thread's TCP connections (PPTP control,
//! RFC 2637 §1.3): thousands of connections, of which a few are ready at a time, so
//! the readiness check must cost O(ready), not O(connections) as `poll(2)` would.
//! The epoll descriptor itself goes into the control loop's `poll(2)` set beside the
//! UDP sockets: it is readable when any member is ready.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// What a member is watched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interest {
    pub read: bool,
    pub write: bool,
}

/// One ready member: its token and what it is ready for (errors and hang-ups count
/// as readable, so the reader sees them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    pub token: u64,
    pub read: bool,
    pub write: bool,
}

pub struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

fn mask(interest: Interest) -> u32 {
    let mut m = 0;
    if interest.read {
        m |= libc::EPOLLIN as u32 | libc::EPOLLRDHUP as u32;
    }
    if interest.write {
        m |= libc::EPOLLOUT as u32;
    }
    m
}

impl Epoll {
    /// `batch`: the most events one [`Epoll::wait`] returns.
    pub fn new(batch: usize) -> io::Result<Epoll> {
        // Safety: no pointers; the result is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll {
            // Safety: a new descriptor we own.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            events: vec![libc::epoll_event { events: 0, u64: 0 }; batch.max(1)],
        })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: mask(interest),
            u64: token,
        };
        // Safety: `ev` is valid for the call; the kernel copies it.
        let rc = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &raw mut ev) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn add(&self, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, interest)
    }

    pub fn modify(&self, fd: RawFd, token: u64, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, token, interest)
    }

    /// Removes `fd` (closing it removes it as well).
    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(
            libc::EPOLL_CTL_DEL,
            fd,
            0,
            Interest {
                read: false,
                write: false,
            },
        )
    }

    /// The members ready now (does not block), at most `batch` of them.
    pub fn ready(&mut self, out: &mut Vec<Ready>) -> io::Result<()> {
        out.clear();
        // Safety: `events` has room for `len` entries for the kernel to write.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                0,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.raw_os_error() == Some(libc::EINTR) {
                Ok(())
            } else {
                Err(e)
            };
        }
        let hangup = (libc::EPOLLERR | libc::EPOLLHUP | libc::EPOLLRDHUP) as u32;
        for ev in &self.events[..n as usize] {
            let bits = ev.events;
            out.push(Ready {
                token: ev.u64,
                read: bits & (libc::EPOLLIN as u32 | hangup) != 0,
                write: bits & libc::EPOLLOUT as u32 != 0,
            });
        }
        Ok(())
    }
}

impl AsRawFd for Epoll {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    #[test]
    fn reports_ready_members_by_token() {
        let mut ep = Epoll::new(8).unwrap();
        let (a, mut b) = UnixStream::pair().unwrap();
        let read = Interest {
            read: true,
            write: false,
        };
        ep.add(a.as_raw_fd(), 42, read).unwrap();
        let mut out = Vec::new();
        ep.ready(&mut out).unwrap();
        assert!(out.is_empty());
        b.write_all(b"x").unwrap();
        ep.ready(&mut out).unwrap();
        assert_eq!(
            out,
            [Ready {
                token: 42,
                read: true,
                write: false
            }]
        );
        ep.modify(
            a.as_raw_fd(),
            43,
            Interest {
                read: false,
                write: true,
            },
        )
        .unwrap();
        ep.ready(&mut out).unwrap();
        assert_eq!(out[0].token, 43);
        assert!(out[0].write);
        ep.delete(a.as_raw_fd()).unwrap();
        ep.ready(&mut out).unwrap();
        assert!(out.is_empty());
        // A hang-up reads as readable.
        ep.add(a.as_raw_fd(), 7, read).unwrap();
        drop(b);
        ep.ready(&mut out).unwrap();
        assert!(out[0].read);
    }
}

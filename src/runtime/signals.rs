//! SIGTERM, SIGINT and SIGHUP as readable events for the control thread (signalfd):
//! the daemon shuts down gracefully on the first two and re-reads its users file on
//! SIGHUP, all from its event loop rather than from an async signal handler.
//!
//! [`Signals::block`] must run on the main thread before any other thread starts (the
//! shards inherit the blocked mask), so no thread is interrupted by these signals and
//! the kernel queues them for the signalfd instead.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A signal the daemon acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: shut down gracefully.
    Terminate,
    /// SIGHUP: reload what can be reloaded.
    Reload,
}

/// The signalfd and the mask it was made for.
#[derive(Debug)]
pub struct Signals {
    fd: OwnedFd,
}

impl Signals {
    /// Blocks SIGTERM, SIGINT and SIGHUP for this thread (and the threads it starts)
    /// and opens a non-blocking signalfd for them.
    pub fn block() -> io::Result<Signals> {
        // Safety: sigset_t is plain data; sigemptyset/sigaddset initialise it.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // Safety: `set` is a valid sigset_t for every call below.
        unsafe {
            libc::sigemptyset(&raw mut set);
            for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
                libc::sigaddset(&raw mut set, sig);
            }
        }
        // Safety: `set` is initialised; the old mask is not needed.
        let rc =
            unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        // Safety: `set` is initialised; the result is checked.
        let raw =
            unsafe { libc::signalfd(-1, &raw const set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // Safety: `raw` is a fresh descriptor nothing else owns.
        Ok(Signals {
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
        })
    }

    /// The next pending signal, if any.
    pub fn read(&self) -> Option<Signal> {
        loop {
            // Safety: signalfd_siginfo is plain data.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = size_of::<libc::signalfd_siginfo>();
            // Safety: reads at most `size` bytes into `info`.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), (&raw mut info).cast(), size) };
            if n != size as isize {
                return None;
            }
            match info.ssi_signo as libc::c_int {
                libc::SIGTERM | libc::SIGINT => return Some(Signal::Terminate),
                libc::SIGHUP => return Some(Signal::Reload),
                _ => continue,
            }
        }
    }
}

impl AsRawFd for Signals {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Waits until one of `fds` is readable or `timeout` passes (`None`: no limit), and
/// returns which are readable in `ready` (same order). EINTR counts as a timeout.
pub fn wait_readable(
    fds: &[RawFd],
    timeout: Option<std::time::Duration>,
    ready: &mut Vec<bool>,
) -> io::Result<()> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = match timeout {
        None => -1,
        // Round up so a timer due in 0.3 ms does not spin.
        Some(d) => libc::c_int::try_from(d.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX),
    };
    // Safety: `pfds` is a valid array of `pfds.len()` pollfds for the call.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    ready.clear();
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            ready.resize(fds.len(), false);
            return Ok(());
        }
        return Err(e);
    }
    ready.extend(
        pfds.iter()
            .map(|p| p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sighup_is_read_from_the_signalfd() {
        // Runs on its own thread: the blocked mask stays with that thread, and the
        // signal is sent to it alone (tgkill), so other tests are not disturbed.
        std::thread::spawn(|| {
            let signals = Signals::block().unwrap();
            assert_eq!(signals.read(), None);
            // Safety: sends SIGHUP to this very thread, which has it blocked.
            unsafe {
                libc::syscall(
                    libc::SYS_tgkill,
                    libc::getpid(),
                    libc::gettid(),
                    libc::SIGHUP,
                );
            }
            let mut ready = Vec::new();
            wait_readable(
                &[signals.as_raw_fd()],
                Some(Duration::from_secs(5)),
                &mut ready,
            )
            .unwrap();
            assert_eq!(ready, [true]);
            assert_eq!(signals.read(), Some(Signal::Reload));
            assert_eq!(signals.read(), None);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn wait_times_out() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut ready = Vec::new();
        wait_readable(
            &[a.as_raw_fd()],
            Some(Duration::from_millis(10)),
            &mut ready,
        )
        .unwrap();
        assert_eq!(ready, [false]);
    }
}

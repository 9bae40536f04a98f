//! Network namespaces: moving the calling thread into one.
//!
//! `setns(2)` with `CLONE_NEWNET` changes the namespace of the calling *thread* only;
//! sockets and TUN devices it creates afterwards belong to that namespace, and keep
//! belonging to it when used from other threads. Integration tests and loadgen run a
//! dedicated thread per namespace rather than switching back and forth.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Moves the calling thread into the network namespace `ns` refers to (a file such as
/// `/var/run/netns/<name>` or `/proc/<pid>/ns/net`). Needs CAP_SYS_ADMIN.
pub fn enter(ns: &File) -> io::Result<()> {
    // Safety: setns takes a borrowed, open fd and a namespace type; no memory is shared.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Opens `path` and enters it, as [`enter`].
pub fn enter_path(path: impl AsRef<Path>) -> io::Result<()> {
    enter(&File::open(path)?)
}

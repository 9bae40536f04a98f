//! The multi-queue TUN device: one non-blocking fd per shard, all on one interface.
//!
//! [`MultiQueueTun::open`] opens `/dev/net/tun` once per queue and attaches each fd to
//! the same interface with `TUNSETIFF` and `IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE`:
//! - `IFF_TUN`: layer 3; each read or write is exactly one IPv4 or IPv6 packet;
//! - `IFF_NO_PI`: no 4-byte packet-information prefix; the IP version nibble says
//!   what the packet is;
//! - `IFF_MULTI_QUEUE`: each fd is its own queue. The kernel picks the queue a packet
//!   leaving the interface is read from (by flow hash, or by a TUNSETSTEERINGEBPF
//!   program), so one flow keeps to one queue; a write on any queue enters the stack.
//!
//! The interface lives as long as one of its fds is open and is not persistent: when
//! the last [`TunQueue`] is dropped it disappears, with its addresses and routes.
//! An empty name lets the kernel choose (`tun0`, `tun1`, ...); [`MultiQueueTun::name`]
//! says which.
//!
//! [`set_link`] sets the MTU and brings the link up; addresses and routes are the
//! control plane's business. While the link is down a queue reads nothing and its
//! writes fail.
//!
//! Errors say which step failed and the likely cause ([`TunError`]): no `/dev/net/tun`
//! (module not loaded, or a container without the device node), permission denied
//! (CAP_NET_ADMIN is needed), the name taken by another kind of interface or one
//! created without `IFF_MULTI_QUEUE`, too many queues (the kernel allows 256).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

/// The clone device every TUN fd is opened from.
pub const CLONE_DEVICE: &str = "/dev/net/tun";

/// `IFNAMSIZ` includes the terminating NUL.
const MAX_NAME_LEN: usize = libc::IFNAMSIZ - 1;

/// Why a TUN device could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum TunError {
    #[error("invalid TUN interface name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("a TUN device needs at least one queue")]
    NoQueues,
    #[error(
        "{CLONE_DEVICE} is missing (is the tun module loaded? does the container have the device node?)"
    )]
    NoCloneDevice(#[source] io::Error),
    #[error("permission denied opening TUN {name:?}: needs CAP_NET_ADMIN")]
    PermissionDenied {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "interface name {name:?} is taken: it exists and is not a multi-queue TUN, or not ours"
    )]
    NameTaken {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("TUN {name:?}: too many queues ({requested}; the kernel allows 256)")]
    TooManyQueues {
        name: String,
        requested: usize,
        #[source]
        source: io::Error,
    },
    #[error("TUN {name:?}: {op} failed")]
    Io {
        name: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
}

/// One queue of a multi-queue TUN: a non-blocking fd that reads and writes whole IP
/// packets.
#[derive(Debug)]
pub struct TunQueue {
    file: File,
}

impl TunQueue {
    /// Reads one packet; `WouldBlock` when the queue is empty. A packet longer than
    /// `buf` is truncated, so size `buf` for the interface MTU.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).read(buf)
    }

    /// Writes one IPv4 or IPv6 packet into the kernel's stack.
    pub fn send(&self, packet: &[u8]) -> io::Result<usize> {
        (&self.file).write(packet)
    }
}

impl AsFd for TunQueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for TunQueue {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// A multi-queue TUN interface and its queues, one per shard.
#[derive(Debug)]
pub struct MultiQueueTun {
    name: String,
    queues: Vec<TunQueue>,
}

/// `struct ifreq` as TUNSETIFF reads and writes it: the name, then a union of which
/// only the flags (a short) are used. 40 bytes on 64-bit Linux.
#[repr(C)]
struct IfReqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

const _: () = assert!(size_of::<IfReqFlags>() >= 40);

fn validate_name(name: &str) -> Result<(), TunError> {
    let invalid = |reason| {
        Err(TunError::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.len() > MAX_NAME_LEN {
        return invalid("longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return invalid("reserved");
    }
    if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
    {
        return invalid("contains '/', ':', NUL or whitespace");
    }
    Ok(())
}

impl MultiQueueTun {
    /// Creates (or attaches to) the TUN interface `name` with `queues` queues, each
    /// non-blocking and close-on-exec. An empty `name` lets the kernel choose one.
    pub fn open(name: &str, queues: usize) -> Result<MultiQueueTun, TunError> {
        validate_name(name)?;
        if queues == 0 {
            return Err(TunError::NoQueues);
        }
        let mut name = name.to_owned();
        let mut opened = Vec::with_capacity(queues);
        for _ in 0..queues {
            let (queue, actual) = open_queue(&name, queues)?;
            // The first queue may have had its name chosen by the kernel; the others
            // attach to that one.
            name = actual;
            opened.push(queue);
        }
        Ok(MultiQueueTun {
            name,
            queues: opened,
        })
    }

    /// The interface name (as the kernel chose it, for an empty requested name).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn queues(&self) -> &[TunQueue] {
        &self.queues
    }

    /// The queues, to hand one to each shard; the interface lives until all are dropped.
    pub fn into_queues(self) -> Vec<TunQueue> {
        self.queues
    }
}

fn open_queue(name: &str, requested: usize) -> Result<(TunQueue, String), TunError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(CLONE_DEVICE)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => TunError::NoCloneDevice(e),
            _ if e.raw_os_error() == Some(libc::ENODEV)
                || e.raw_os_error() == Some(libc::ENXIO) =>
            {
                TunError::NoCloneDevice(e)
            }
            io::ErrorKind::PermissionDenied => TunError::PermissionDenied {
                name: name.to_owned(),
                source: e,
            },
            _ => TunError::Io {
                name: name.to_owned(),
                op: "open /dev/net/tun",
                source: e,
            },
        })?;
    let mut req = IfReqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: (libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_MULTI_QUEUE) as libc::c_short,
        _pad: [0; 22],
    };
    // validate_name bounded the length to IFNAMSIZ - 1, leaving the NUL in place.
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    // Safety: `req` is a properly sized and aligned `struct ifreq` that lives across
    // the call; the kernel reads the name and flags and writes back the name.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &raw mut req) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        let name = name.to_owned();
        return Err(match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => {
                TunError::PermissionDenied { name, source: e }
            }
            Some(libc::EINVAL) | Some(libc::EBUSY) => TunError::NameTaken { name, source: e },
            Some(libc::E2BIG) => TunError::TooManyQueues {
                name,
                requested,
                source: e,
            },
            _ => TunError::Io {
                name,
                op: "TUNSETIFF",
                source: e,
            },
        });
    }
    let len = req
        .name
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(req.name.len());
    let actual = String::from_utf8_lossy(&req.name[..len]).into_owned();
    Ok((TunQueue { file }, actual))
}

/// `struct ifreq` with the union read as an int (`ifr_mtu`).
#[repr(C)]
struct IfReqInt {
    name: [u8; libc::IFNAMSIZ],
    value: libc::c_int,
    _pad: [u8; 20],
}

const _: () = assert!(size_of::<IfReqInt>() >= 40);

/// Sets the MTU of interface `name` and brings it up (or down): what `ip link set
/// NAME mtu M up` does, through the SIOCSIFMTU / SIOCSIFFLAGS ioctls.
pub fn set_link(name: &str, mtu: u32, up: bool) -> Result<(), TunError> {
    validate_name(name)?;
    let io_err = |op, source| TunError::Io {
        name: name.to_owned(),
        op,
        source,
    };
    // Safety: plain socket(2) call; checked before use and closed by OwnedFd.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io_err("socket", io::Error::last_os_error()));
    }
    // Safety: `raw` is a fresh descriptor nothing else owns.
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    let mut name_bytes = [0u8; libc::IFNAMSIZ];
    name_bytes[..name.len()].copy_from_slice(name.as_bytes());
    let mut req = IfReqInt {
        name: name_bytes,
        value: libc::c_int::try_from(mtu).unwrap_or(libc::c_int::MAX),
        _pad: [0; 20],
    };
    // Safety: `req` is a complete ifreq that lives across the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFMTU, &raw mut req) } < 0 {
        return Err(io_err("SIOCSIFMTU", io::Error::last_os_error()));
    }
    let mut flags = IfReqFlags {
        name: name_bytes,
        flags: 0,
        _pad: [0; 22],
    };
    // Safety: as above; the kernel writes the current flags into `flags.flags`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &raw mut flags) } < 0 {
        return Err(io_err("SIOCGIFFLAGS", io::Error::last_os_error()));
    }
    let up_flag = libc::IFF_UP as libc::c_short;
    flags.flags = if up {
        flags.flags | up_flag
    } else {
        flags.flags & !up_flag
    };
    // Safety: as above.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &raw mut flags) } < 0 {
        return Err(io_err("SIOCSIFFLAGS", io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_any_syscall() {
        for bad in ["a/b", "eth:0", "with space", ".", "..", "sixteen-chars-xx"] {
            assert!(
                matches!(
                    MultiQueueTun::open(bad, 1),
                    Err(TunError::InvalidName { .. })
                ),
                "{bad}"
            );
        }
        assert!(validate_name("fifteen-chars-x").is_ok());
        assert!(validate_name("").is_ok());
        assert!(matches!(
            MultiQueueTun::open("svtun0", 0),
            Err(TunError::NoQueues)
        ));
    }

    #[test]
    fn errors_say_what_failed() {
        let e = TunError::PermissionDenied {
            name: "tun0".into(),
            source: io::Error::from_raw_os_error(libc::EPERM),
        };
        assert!(e.to_string().contains("CAP_NET_ADMIN"));
        let e = TunError::NoCloneDevice(io::Error::from_raw_os_error(libc::ENOENT));
        assert!(e.to_string().contains("/dev/net/tun"));
    }
}

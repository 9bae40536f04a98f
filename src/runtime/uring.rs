//! io_uring availability, checked once at startup so that a kernel or container that
//! lacks it fails with a clear error instead of a shard dying later (issue 3: "startup
//! fails with a clear error ... when io_uring is unavailable").
//!
//! [`probe`] creates a small ring and asks the kernel (IORING_REGISTER_PROBE) whether
//! it supports the operations the data plane submits: multishot receive (`RecvMulti`,
//! `RecvMsgMulti`, Linux 6.0), multishot read from TUN (`ReadMulti`, Linux 6.7),
//! `SendMsg` and `Write`. Provided-buffer ring registration
//! (Linux 5.19) is not an opcode and is checked when a shard registers its ring.

use std::io;

use io_uring::{IoUring, Probe, opcode};

/// Why io_uring cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UringError {
    #[error("io_uring is not available: {hint}")]
    Unavailable {
        hint: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "io_uring lacks the {opcode} operation (the data plane needs Linux 6.7 or later for multishot reads from TUN)"
    )]
    Unsupported { opcode: &'static str },
}

/// The operations the data plane needs, by name for the error message.
const NEEDED: [(u8, &str); 5] = [
    (opcode::RecvMulti::CODE, "RecvMulti"),
    (opcode::RecvMsgMulti::CODE, "RecvMsgMulti"),
    (opcode::SendMsg::CODE, "SendMsg"),
    (opcode::Write::CODE, "Write"),
    (opcode::ReadMulti::CODE, "ReadMulti"),
];

fn hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENOSYS) => "the kernel has no io_uring (Linux 5.1+ built with CONFIG_IO_URING)",
        Some(libc::EPERM) | Some(libc::EACCES) => {
            "io_uring is disabled (sysctl kernel.io_uring_disabled, or a seccomp profile in the container)"
        }
        Some(libc::ENOMEM) => "not enough locked memory for the ring (raise RLIMIT_MEMLOCK)",
        _ => "creating a ring failed",
    }
}

/// Checks that io_uring exists and supports every operation the data plane submits.
pub fn probe() -> Result<(), UringError> {
    let unavailable = |source: io::Error| UringError::Unavailable {
        hint: hint(&source),
        source,
    };
    let ring = IoUring::new(8).map_err(unavailable)?;
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(unavailable)?;
    for (code, name) in NEEDED {
        if !probe.is_supported(code) {
            return Err(UringError::Unsupported { opcode: name });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails (with the reason) where io_uring is missing: the data plane cannot run
    /// there, and CI should say so rather than skip.
    #[test]
    fn io_uring_is_available_with_the_needed_operations() {
        if let Err(e) = probe() {
            panic!("{e}: {:?}", std::error::Error::source(&e));
        }
    }

    #[test]
    fn errors_name_the_cause() {
        let e = io::Error::from_raw_os_error(libc::EPERM);
        assert!(hint(&e).contains("io_uring_disabled"));
        let e = io::Error::from_raw_os_error(libc::ENOSYS);
        assert!(hint(&e).contains("5.1"));
    }
}

//! The open-file limit: loadgen gives every emulated L2TP/IPsec client its own UDP
//! socket (clients behind NAT each have their own port), so 10,000 clients need more
//! descriptors than the usual soft limit of 1024.

use std::io;

/// Raises the soft `RLIMIT_NOFILE` to at least `want` (never above the hard limit) and
/// returns the soft limit now in force.
pub fn raise_nofile(want: u64) -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // Safety: getrlimit writes one rlimit through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur >= want {
        return Ok(lim.rlim_cur);
    }
    lim.rlim_cur = want.min(lim.rlim_max);
    // Safety: setrlimit reads one rlimit through a valid pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(lim.rlim_cur)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_limit_only_goes_up() {
        let now = super::raise_nofile(0).unwrap();
        assert!(now > 0);
        assert_eq!(super::raise_nofile(now).unwrap(), now);
    }
}

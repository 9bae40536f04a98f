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

/// The soft `RLIMIT_NOFILE` now in force.
pub fn nofile_limit() -> Option<u64> {
    raise_nofile(0).ok()
}

/// Clock ticks per second and the page size (for `/proc` figures), from sysconf.
pub fn clock_ticks_and_page_size() -> (u64, u64) {
    // Safety: sysconf has no preconditions.
    let (tick, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    (tick.max(1) as u64, page.max(1) as u64)
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

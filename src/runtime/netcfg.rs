//! IPv4 addresses and routes on the TUN device, through the classic `SIOCSIFADDR` /
//! `SIOCSIFNETMASK` / `SIOCADDRT` ioctls (what `ifconfig` and `route` use): enough for
//! the concentrator's PPP-side address and the routes that send the address pools'
//! return traffic into the TUN, without a netlink library. Each call names the
//! interface and what failed.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Why an address or route could not be set.
#[derive(Debug, thiserror::Error)]
#[error("{op} on {name} ({what}) failed")]
pub struct NetcfgError {
    pub op: &'static str,
    pub name: String,
    pub what: String,
    #[source]
    pub source: io::Error,
}

/// `struct ifreq` with the union read as a `sockaddr_in`.
#[repr(C)]
struct IfReqAddr {
    name: [u8; libc::IFNAMSIZ],
    addr: libc::sockaddr_in,
    _pad: [u8; 8],
}

const _: () = assert!(size_of::<IfReqAddr>() >= 40);

fn sockaddr(ip: Ipv4Addr) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    }
}

fn control_socket() -> io::Result<OwnedFd> {
    // Safety: plain socket(2) call; checked before use.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // Safety: `raw` is a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn name_bytes(name: &str) -> Option<[u8; libc::IFNAMSIZ]> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return None;
    }
    let mut out = [0u8; libc::IFNAMSIZ];
    out[..name.len()].copy_from_slice(name.as_bytes());
    Some(out)
}

fn mask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - u32::from(prefix.min(32)))
            .unwrap_or(0),
    )
}

/// Sets `addr/prefix` as the IPv4 address of interface `name` (replacing its primary
/// IPv4 address, as `ifconfig` does).
pub fn set_ipv4_address(name: &str, addr: Ipv4Addr, prefix: u8) -> Result<(), NetcfgError> {
    let err = |op, source| NetcfgError {
        op,
        name: name.to_owned(),
        what: format!("{addr}/{prefix}"),
        source,
    };
    let bytes = name_bytes(name)
        .ok_or_else(|| err("check name", io::Error::from(io::ErrorKind::InvalidInput)))?;
    let sock = control_socket().map_err(|e| err("socket", e))?;
    for (op, request, value) in [
        ("SIOCSIFADDR", libc::SIOCSIFADDR, addr),
        ("SIOCSIFNETMASK", libc::SIOCSIFNETMASK, mask(prefix)),
    ] {
        let mut req = IfReqAddr {
            name: bytes,
            addr: sockaddr(value),
            _pad: [0; 8],
        };
        // Safety: `req` is a complete ifreq that lives across the call.
        if unsafe { libc::ioctl(sock.as_raw_fd(), request, &raw mut req) } < 0 {
            return Err(err(op, io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// Adds a route to `net/prefix` through interface `name` (no gateway: the TUN is
/// point-to-point). A route that already exists is not an error.
pub fn add_ipv4_route(name: &str, net: Ipv4Addr, prefix: u8) -> Result<(), NetcfgError> {
    let err = |op, source| NetcfgError {
        op,
        name: name.to_owned(),
        what: format!("route {net}/{prefix}"),
        source,
    };
    let bytes = name_bytes(name)
        .ok_or_else(|| err("check name", io::Error::from(io::ErrorKind::InvalidInput)))?;
    let sock = control_socket().map_err(|e| err("socket", e))?;
    // Safety: plain data for which all-zero is valid; the fields used are set below.
    let mut rt: libc::rtentry = unsafe { std::mem::zeroed() };
    let net = Ipv4Addr::from(u32::from(net) & u32::from(mask(prefix)));
    let to_sockaddr = |ip| {
        // Safety: sockaddr is 16 bytes like sockaddr_in; the value is copied.
        unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sockaddr(ip)) }
    };
    rt.rt_dst = to_sockaddr(net);
    rt.rt_genmask = to_sockaddr(mask(prefix));
    rt.rt_flags = libc::RTF_UP;
    if prefix == 32 {
        rt.rt_flags |= libc::RTF_HOST;
    }
    let mut dev = bytes;
    rt.rt_dev = dev.as_mut_ptr().cast();
    // Safety: `rt` and the device name it points to live across the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCADDRT, &raw mut rt) } < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(err("SIOCADDRT", e));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask(32), Ipv4Addr::new(255, 255, 255, 255));
        assert_eq!(mask(16), Ipv4Addr::new(255, 255, 0, 0));
        assert_eq!(mask(0), Ipv4Addr::new(0, 0, 0, 0));
        assert_eq!(mask(40), Ipv4Addr::new(255, 255, 255, 255));
    }

    #[test]
    fn bad_names_fail_before_any_syscall() {
        let long = "x".repeat(16);
        for name in ["", long.as_str()] {
            let e = set_ipv4_address(name, Ipv4Addr::LOCALHOST, 8).unwrap_err();
            assert_eq!(e.op, "check name");
            let e = add_ipv4_route(name, Ipv4Addr::LOCALHOST, 8).unwrap_err();
            assert_eq!(e.op, "check name");
        }
    }
}

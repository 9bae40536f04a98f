//! Kernel steering programs: classic BPF that puts each datagram on the socket of the
//! shard that owns it (design.md "Steering puts each packet on its owner's core").
//!
//! The programs are built from a [`ShardMap`], and compute exactly
//! [`ShardMap::shard_of`] (`id % shards`) on the ID field the peer echoes back to us, so
//! the allocator and the kernel agree by construction; the unit tests run every program
//! in a small cBPF interpreter and compare with `shard_of` for many IDs and shard counts.
//!
//! # Reuseport groups (UDP/4500, UDP/1701)
//! A port group is `1 + shards` UDP sockets bound with `SO_REUSEPORT` to the same
//! address, in this order: the control thread's socket, then shard 0, shard 1, ...
//! A program attached with `SO_ATTACH_REUSEPORT_CBPF` (to any socket of the group; it
//! applies to the whole group) returns an index into the group:
//! - [`esp_in_udp_program`] (4500): a datagram shorter than 4 bytes (the 1-byte NAT
//!   keepalive 0xFF, RFC 3948 §2.3) or whose first word is zero (the non-ESP marker in
//!   front of IKE, RFC 3948 §2.2) goes to index 0, the control socket; anything else is
//!   ESP and its first word is the SPI (RFC 3948 §2.1): index `1 + SPI % shards`.
//! - [`control_only_program`] (500): every datagram is IKE, index 0.
//! - [`l2tp_program`] (1701): control messages (T bit, RFC 2661 §3.1), versions other
//!   than 2 and headers too short to hold a session ID go to index 0; a data message goes
//!   to `1 + session_id % shards`, the session ID being at byte 4, or at byte 6 when the
//!   L bit says a Length field is present.
//!
//! What the kernel guarantees (net/core/sock_reuseport.c, `run_bpf_filter`, and
//! tools/testing/selftests/net/reuseport_bpf.c):
//! - for UDP the program sees the datagram from the UDP payload on: the kernel pulls the
//!   8-byte UDP header before running it, so absolute offset 0 is the payload's byte 0;
//! - the returned value indexes the group's socket array, which is in the order the
//!   sockets joined the group, i.e. bind order for UDP. When a socket leaves the group
//!   the last one is moved into its slot, so a group is built once at startup and
//!   never shrunk while running;
//! - an index at or beyond the group's size (a shard's socket missing) is not an error:
//!   the kernel falls back to its ordinary hash selection. A load beyond the datagram's
//!   end ends a classic program with 0, i.e. the control socket; the programs check the
//!   length first anyway, so that behaviour is explicit;
//! - the program only chooses among unconnected sockets: the group's sockets must not
//!   be `connect()`ed, and all must be bound by the same effective user.
//!
//! # Raw ESP sockets
//! Every raw IPv4 socket for protocol 50 receives a copy of every ESP packet, starting
//! at the IP header. Each shard's raw socket gets [`raw_esp_filter`] with
//! `SO_ATTACH_FILTER`: it skips the IP header by its IHL (`ldx 4*([0]&0xf)`), reads the
//! SPI and accepts the packet only if `SPI % shards` is that shard. A packet too short to
//! hold an SPI is dropped by every shard.
//!
//! # Raw GRE sockets (PPTP)
//! The same for protocol 47 with [`raw_gre_filter`]: enhanced GRE (RFC 2637 §4.1:
//! version 1, protocol 0x880B, Key present) is accepted by the shard owning its Call ID;
//! any other GRE is dropped by every shard, as nothing in shardvpn handles it.
//!
//! Programs are built once at setup (a `Vec` per program is fine there); nothing here
//! runs per packet in user space.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use crate::dataplane::steering::ShardMap;

// Classic BPF opcodes (include/uapi/linux/filter.h, bpf_common.h). Only those we emit.
const BPF_LD: u16 = 0x00;
const BPF_LDX: u16 = 0x01;
const BPF_ALU: u16 = 0x04;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_W: u16 = 0x00;
const BPF_H: u16 = 0x08;
const BPF_B: u16 = 0x10;
const BPF_ABS: u16 = 0x20;
const BPF_IND: u16 = 0x40;
const BPF_LEN: u16 = 0x80;
const BPF_MSH: u16 = 0xa0;
const BPF_ADD: u16 = 0x00;
const BPF_AND: u16 = 0x50;
const BPF_MOD: u16 = 0x90;
const BPF_JA: u16 = 0x00;
const BPF_JEQ: u16 = 0x10;
const BPF_JGE: u16 = 0x30;
const BPF_JSET: u16 = 0x40;
const BPF_K: u16 = 0x00;
const BPF_A: u16 = 0x10;

/// The index of the control thread's socket in a reuseport group.
pub const CONTROL_INDEX: u32 = 0;

/// What a socket filter returns to accept a packet whole (the number of bytes to keep).
const ACCEPT: u32 = u32::MAX;

/// RFC 2661 §3.1: T bit (control message), L bit (Length field present), version 2.
const L2TP_T_BIT: u32 = 0x80;
const L2TP_L_BIT: u32 = 0x40;
const L2TP_VERSION_MASK: u32 = 0x0f;
const L2TP_VERSION_2: u32 = 2;

/// One classic BPF instruction; the same layout as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// Conditional jump; `jt`/`jf` count instructions skipped after this one.
const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code, jt, jf, k }
}

/// A classic BPF program, ready to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    insns: Vec<Insn>,
}

impl Program {
    pub fn instructions(&self) -> &[Insn] {
        &self.insns
    }

    fn fprog(&self) -> io::Result<libc::sock_fprog> {
        let len = u16::try_from(self.insns.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "BPF program too long"))?;
        Ok(libc::sock_fprog {
            len,
            // The kernel only reads through this pointer (copy_from_user).
            filter: self.insns.as_ptr() as *mut libc::sock_filter,
        })
    }
}

/// UDP/4500: IKE (non-ESP marker) and NAT keepalives to the control socket, ESP to
/// `1 + SPI % shards`.
pub fn esp_in_udp_program(map: ShardMap) -> Program {
    let insns = vec![
        /* 0 */ stmt(BPF_LD | BPF_W | BPF_LEN, 0),
        /* 1 */ jump(BPF_JMP | BPF_JGE | BPF_K, 4, 0, 5), // < 4 bytes: keepalive -> 7
        /* 2 */ stmt(BPF_LD | BPF_W | BPF_ABS, 0), // A = SPI or non-ESP marker
        /* 3 */ jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 3, 0), // zero marker: IKE -> 7
        /* 4 */ stmt(BPF_ALU | BPF_MOD | BPF_K, map.shards()),
        /* 5 */ stmt(BPF_ALU | BPF_ADD | BPF_K, 1),
        /* 6 */ stmt(BPF_RET | BPF_A, 0),
        /* 7 */ stmt(BPF_RET | BPF_K, CONTROL_INDEX),
    ];
    Program { insns }
}

/// UDP/500: everything is IKE and goes to the control socket. A group on 500 still
/// has per-shard sockets (for sending), so it needs a program to keep the kernel's hash
/// from spreading IKE over them.
pub fn control_only_program() -> Program {
    Program {
        insns: vec![stmt(BPF_RET | BPF_K, CONTROL_INDEX)],
    }
}

/// UDP/1701: L2TP control messages (and anything that is not a well-formed L2TPv2 data
/// header) to the control socket, data to `1 + session_id % shards`.
pub fn l2tp_program(map: ShardMap) -> Program {
    let insns = vec![
        /* 0 */ stmt(BPF_LD | BPF_W | BPF_LEN, 0),
        /* 1 */ jump(BPF_JMP | BPF_JGE | BPF_K, 6, 0, 15), // shortest data header -> 17
        /* 2 */ stmt(BPF_LD | BPF_B | BPF_ABS, 0),
        /* 3 */ jump(BPF_JMP | BPF_JSET | BPF_K, L2TP_T_BIT, 13, 0), // control -> 17
        /* 4 */ stmt(BPF_LD | BPF_B | BPF_ABS, 1),
        /* 5 */ stmt(BPF_ALU | BPF_AND | BPF_K, L2TP_VERSION_MASK),
        /* 6 */ jump(BPF_JMP | BPF_JEQ | BPF_K, L2TP_VERSION_2, 0, 10), // not v2 -> 17
        /* 7 */ stmt(BPF_LD | BPF_B | BPF_ABS, 0),
        /* 8 */
        jump(BPF_JMP | BPF_JSET | BPF_K, L2TP_L_BIT, 2, 0), // Length present -> 11
        /* 9 */ stmt(BPF_LD | BPF_H | BPF_ABS, 4), // flags, tunnel, session
        /* 10 */ stmt(BPF_JMP | BPF_JA, 3), // -> 14
        /* 11 */ stmt(BPF_LD | BPF_W | BPF_LEN, 0),
        /* 12 */ jump(BPF_JMP | BPF_JGE | BPF_K, 8, 0, 4), // too short -> 17
        /* 13 */ stmt(BPF_LD | BPF_H | BPF_ABS, 6), // flags, length, tunnel, session
        /* 14 */ stmt(BPF_ALU | BPF_MOD | BPF_K, map.shards()),
        /* 15 */ stmt(BPF_ALU | BPF_ADD | BPF_K, 1),
        /* 16 */ stmt(BPF_RET | BPF_A, 0),
        /* 17 */ stmt(BPF_RET | BPF_K, CONTROL_INDEX),
    ];
    Program { insns }
}

/// Socket filter for `shard`'s raw IPv4 ESP socket: accept only ESP whose SPI the shard
/// owns. `None` if `shard` is not below `map.shards()`.
/// A filter that accepts nothing: for a raw socket used only to send (the control
/// thread's raw ESP socket), so it never queues copies of inbound packets.
pub fn reject_all_filter() -> Program {
    Program {
        insns: vec![stmt(BPF_RET | BPF_K, 0)],
    }
}

pub fn raw_esp_filter(map: ShardMap, shard: u32) -> Option<Program> {
    if shard >= map.shards() {
        return None;
    }
    let insns = vec![
        /* 0 */ stmt(BPF_LDX | BPF_B | BPF_MSH, 0), // X = IP header length
        /* 1 */ stmt(BPF_LD | BPF_W | BPF_IND, 0), // A = SPI (beyond the end: drop)
        /* 2 */ stmt(BPF_ALU | BPF_MOD | BPF_K, map.shards()),
        /* 3 */ jump(BPF_JMP | BPF_JEQ | BPF_K, shard, 0, 1),
        /* 4 */ stmt(BPF_RET | BPF_K, ACCEPT),
        /* 5 */ stmt(BPF_RET | BPF_K, 0),
    ];
    Some(Program { insns })
}

/// RFC 2637 §4.1: enhanced GRE carries PPP (protocol type 0x880B) with version 1 and
/// the Key bit set; the key's low half is the Call ID the packet is for.
const GRE_PPP_PROTOCOL: u32 = 0x880b;
const GRE_KEY_BIT: u32 = 0x20;
const GRE_VERSION_MASK: u32 = 0x07;
const GRE_ENHANCED_VERSION: u32 = 1;

/// Socket filter for `shard`'s raw IPv4 GRE socket (PPTP data): accept only enhanced
/// GRE (version 1, PPP, Key present) whose Call ID (byte 6 of the GRE header, RFC 2637
/// §4.1) the shard owns. Any other GRE, or a truncated header, is dropped by every
/// shard. `None` if `shard` is not below `map.shards()`.
pub fn raw_gre_filter(map: ShardMap, shard: u32) -> Option<Program> {
    if shard >= map.shards() {
        return None;
    }
    let insns = vec![
        /* 0 */ stmt(BPF_LDX | BPF_B | BPF_MSH, 0), // X = IP header length
        /* 1 */ stmt(BPF_LD | BPF_H | BPF_IND, 2), // protocol type
        /* 2 */ jump(BPF_JMP | BPF_JEQ | BPF_K, GRE_PPP_PROTOCOL, 0, 9), // -> 12
        /* 3 */ stmt(BPF_LD | BPF_B | BPF_IND, 0),
        /* 4 */ jump(BPF_JMP | BPF_JSET | BPF_K, GRE_KEY_BIT, 0, 7), // no key -> 12
        /* 5 */ stmt(BPF_LD | BPF_B | BPF_IND, 1),
        /* 6 */ stmt(BPF_ALU | BPF_AND | BPF_K, GRE_VERSION_MASK),
        /* 7 */ jump(BPF_JMP | BPF_JEQ | BPF_K, GRE_ENHANCED_VERSION, 0, 4), // -> 12
        /* 8 */ stmt(BPF_LD | BPF_H | BPF_IND, 6), // Call ID
        /* 9 */ stmt(BPF_ALU | BPF_MOD | BPF_K, map.shards()),
        /* 10 */ jump(BPF_JMP | BPF_JEQ | BPF_K, shard, 0, 1),
        /* 11 */ stmt(BPF_RET | BPF_K, ACCEPT),
        /* 12 */ stmt(BPF_RET | BPF_K, 0),
    ];
    Some(Program { insns })
}

fn setsockopt_prog(fd: impl AsFd, option: libc::c_int, program: &Program) -> io::Result<()> {
    let fprog = program.fprog()?;
    // Safety: `fprog` points at `program.insns`, which outlives the call; `Insn` is
    // `repr(C)` with the same fields as `struct sock_filter`; the kernel copies the
    // program during the call and keeps no pointer to our memory. The fd is borrowed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&raw const fprog).cast::<libc::c_void>(),
            size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Attach a reuseport selection program to the group `socket` belongs to (or will
/// join). Replaces any program the group had.
pub fn attach_reuseport_cbpf(socket: impl AsFd, program: &Program) -> io::Result<()> {
    setsockopt_prog(socket, libc::SO_ATTACH_REUSEPORT_CBPF, program)
}

/// Attach a socket filter (`SO_ATTACH_FILTER`) to `socket`.
pub fn attach_filter(socket: impl AsFd, program: &Program) -> io::Result<()> {
    setsockopt_prog(socket, libc::SO_ATTACH_FILTER, program)
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn set_int_option(fd: &OwnedFd, level: libc::c_int, name: libc::c_int) -> io::Result<()> {
    let one: libc::c_int = 1;
    // Safety: passes a valid pointer to a c_int and its size; the fd is owned and open.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const one).cast::<libc::c_void>(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// A UDP socket with `SO_REUSEPORT` set, bound to `addr`: one member of a port group.
/// Sockets join the group in the order they are bound, which is the index the steering
/// programs return. Blocking; call `set_nonblocking` as needed.
pub fn reuseport_udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // Safety: plain socket(2) call; the result is checked before use.
    let raw = cvt(unsafe { libc::socket(domain, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // Safety: `raw` is a freshly created descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    set_int_option(&fd, libc::SOL_SOCKET, libc::SO_REUSEPORT)?;
    let (storage, len) = sockaddr_of(addr);
    // Safety: `storage` holds a valid sockaddr of `len` bytes for `domain`.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), (&raw const storage).cast(), len) })?;
    Ok(UdpSocket::from(fd))
}

/// `addr` as a `sockaddr_storage` and its length, for bind / sendmsg.
pub(crate) fn sockaddr_of(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // Safety: sockaddr_storage is plain data for which all-zero bytes are valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // Safety: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { (&raw mut storage).cast::<libc::sockaddr_in>().write(sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // Safety: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { (&raw mut storage).cast::<libc::sockaddr_in6>().write(sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classic BPF interpreter for the opcodes above, with the kernel's semantics:
    /// a load beyond the packet ends the program with 0; unknown opcodes fail the test.
    fn run(program: &Program, packet: &[u8]) -> u32 {
        let insns = program.instructions();
        let (mut a, mut x) = (0u32, 0u32);
        let mut pc = 0usize;
        let load = |off: u32, size: usize| -> Option<u32> {
            let start = usize::try_from(off).ok()?;
            let bytes = packet.get(start..start.checked_add(size)?)?;
            Some(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
        };
        for _ in 0..=insns.len() {
            let i = insns[pc];
            pc += 1;
            let op = i.code;
            match op {
                _ if op == BPF_LD | BPF_W | BPF_LEN => a = packet.len() as u32,
                _ if op == BPF_LD | BPF_W | BPF_ABS => match load(i.k, 4) {
                    Some(v) => a = v,
                    None => return 0,
                },
                _ if op == BPF_LD | BPF_H | BPF_ABS => match load(i.k, 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                _ if op == BPF_LD | BPF_B | BPF_ABS => match load(i.k, 1) {
                    Some(v) => a = v,
                    None => return 0,
                },
                _ if op == BPF_LD | BPF_W | BPF_IND => match load(x.wrapping_add(i.k), 4) {
                    Some(v) => a = v,
                    None => return 0,
                },
                _ if op == BPF_LD | BPF_H | BPF_IND => match load(x.wrapping_add(i.k), 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                _ if op == BPF_LD | BPF_B | BPF_IND => match load(x.wrapping_add(i.k), 1) {
                    Some(v) => a = v,
                    None => return 0,
                },
                _ if op == BPF_LDX | BPF_B | BPF_MSH => match load(i.k, 1) {
                    Some(v) => x = 4 * (v & 0xf),
                    None => return 0,
                },
                _ if op == BPF_ALU | BPF_MOD | BPF_K => a %= i.k,
                _ if op == BPF_ALU | BPF_ADD | BPF_K => a = a.wrapping_add(i.k),
                _ if op == BPF_ALU | BPF_AND | BPF_K => a &= i.k,
                _ if op == BPF_JMP | BPF_JA => pc += i.k as usize,
                _ if op & 0x07 == BPF_JMP => {
                    let taken = match op & 0xf0 {
                        BPF_JEQ => a == i.k,
                        BPF_JGE => a >= i.k,
                        BPF_JSET => a & i.k != 0,
                        _ => panic!("unsupported jump {op:#x}"),
                    };
                    assert_eq!(op & 0x08, BPF_K, "only K jumps");
                    pc += usize::from(if taken { i.jt } else { i.jf });
                }
                _ if op == BPF_RET | BPF_K => return i.k,
                _ if op == BPF_RET | BPF_A => return a,
                _ => panic!("unsupported opcode {op:#x}"),
            }
            assert!(pc < insns.len(), "ran off the end");
        }
        panic!("no backward jumps exist, so the program must have returned");
    }

    /// Deterministic spread of IDs: edges and a multiplicative walk over the space.
    fn ids() -> impl Iterator<Item = u32> {
        let edges = [1u32, 2, 3, 255, 256, 65535, 65536, u32::MAX - 1, u32::MAX];
        let walk = (0..2000u32).map(|i| i.wrapping_mul(2_654_435_761).wrapping_add(1));
        edges.into_iter().chain(walk)
    }

    fn maps() -> impl Iterator<Item = ShardMap> {
        [1u32, 2, 3, 4, 5, 7, 8, 16, 31, 64, 255]
            .into_iter()
            .map(|n| ShardMap::new(n).unwrap())
    }

    #[test]
    fn esp_in_udp_matches_shard_of() {
        for map in maps() {
            let prog = esp_in_udp_program(map);
            for spi in ids().filter(|&s| s != 0) {
                let mut dgram = [0u8; 40];
                dgram[..4].copy_from_slice(&spi.to_be_bytes());
                for len in [4, 8, 40] {
                    assert_eq!(
                        run(&prog, &dgram[..len]),
                        1 + map.shard_of(spi),
                        "spi {spi}"
                    );
                }
            }
        }
    }

    #[test]
    fn esp_in_udp_control_cases() {
        let prog = esp_in_udp_program(ShardMap::new(4).unwrap());
        assert_eq!(run(&prog, &[0xff]), CONTROL_INDEX, "NAT keepalive");
        assert_eq!(run(&prog, &[]), CONTROL_INDEX);
        assert_eq!(run(&prog, &[1, 2, 3]), CONTROL_INDEX, "short");
        let mut ike = [0u8; 36];
        ike[4] = 0x11; // initiator cookie after the non-ESP marker
        assert_eq!(run(&prog, &ike), CONTROL_INDEX, "non-ESP marker");
        assert_eq!(run(&prog, &[0, 0, 0, 0]), CONTROL_INDEX);
    }

    #[test]
    fn control_only_is_control() {
        let prog = control_only_program();
        for pkt in [&[][..], &[0xff], &[1, 2, 3, 4, 5, 6, 7, 8]] {
            assert_eq!(run(&prog, pkt), CONTROL_INDEX);
        }
    }

    fn l2tp_data(length_bit: bool, tunnel: u16, session: u16) -> Vec<u8> {
        let mut h = vec![if length_bit { 0x40 } else { 0x00 }, 0x02];
        if length_bit {
            h.extend_from_slice(&[0x00, 0x10]);
        }
        h.extend_from_slice(&tunnel.to_be_bytes());
        h.extend_from_slice(&session.to_be_bytes());
        h.extend_from_slice(&[0xff, 0x03, 0x00, 0x21]); // PPP
        h
    }

    #[test]
    fn l2tp_data_matches_shard_of() {
        for map in maps() {
            let prog = l2tp_program(map);
            for id in ids() {
                let session = id as u16;
                let want = 1 + map.shard_of(u32::from(session));
                for l in [false, true] {
                    let pkt = l2tp_data(l, 0xbeef, session);
                    assert_eq!(run(&prog, &pkt), want, "session {session} L={l}");
                    // The header alone, without payload, is enough.
                    let header = if l { 8 } else { 6 };
                    assert_eq!(run(&prog, &pkt[..header]), want);
                }
                // S and O bits do not move the session ID.
                let mut pkt = l2tp_data(false, 1, session);
                pkt[0] |= 0x0a;
                assert_eq!(run(&prog, &pkt), want);
            }
        }
    }

    #[test]
    fn l2tp_control_cases() {
        let prog = l2tp_program(ShardMap::new(3).unwrap());
        // SCCRQ header: T, L, S set, version 2.
        let sccrq = [0xc8, 0x02, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(run(&prog, &sccrq), CONTROL_INDEX);
        // ZLB: control, 12 bytes, session 5.
        assert_eq!(run(&prog, &[0xc8, 0x02, 0, 12, 0, 1, 0, 5, 0, 1, 0, 1]), 0);
        // Version 3 and version 1 (L2F) go to control.
        let mut v3 = l2tp_data(false, 1, 5);
        v3[1] = 0x03;
        assert_eq!(run(&prog, &v3), CONTROL_INDEX);
        // Truncated: every prefix shorter than the header.
        let pkt = l2tp_data(true, 1, 5);
        for len in 0..8 {
            assert_eq!(run(&prog, &pkt[..len]), CONTROL_INDEX, "len {len}");
        }
        let pkt = l2tp_data(false, 1, 5);
        for len in 0..6 {
            assert_eq!(run(&prog, &pkt[..len]), CONTROL_INDEX, "len {len}");
        }
    }

    fn ipv4_esp(ihl_words: u8, spi: u32) -> Vec<u8> {
        let hlen = usize::from(ihl_words) * 4;
        let mut p = vec![0u8; hlen + 8 + 16];
        p[0] = 0x40 | ihl_words;
        p[9] = 50;
        p[hlen..hlen + 4].copy_from_slice(&spi.to_be_bytes());
        p[hlen + 4..hlen + 8].copy_from_slice(&7u32.to_be_bytes());
        p
    }

    #[test]
    fn raw_esp_filter_accepts_exactly_owned_spis() {
        for map in maps() {
            let filters: Vec<_> = (0..map.shards())
                .map(|k| raw_esp_filter(map, k).unwrap())
                .collect();
            for spi in ids() {
                for ihl in [5u8, 6, 15] {
                    let pkt = ipv4_esp(ihl, spi);
                    for (k, f) in filters.iter().enumerate() {
                        let accepted = run(f, &pkt) != 0;
                        assert_eq!(accepted, map.shard_of(spi) == k as u32, "spi {spi} k {k}");
                    }
                }
            }
        }
        assert_eq!(raw_esp_filter(ShardMap::new(2).unwrap(), 2), None);
    }

    #[test]
    fn raw_esp_filter_drops_truncated() {
        let map = ShardMap::new(1).unwrap();
        let f = raw_esp_filter(map, 0).unwrap();
        let pkt = ipv4_esp(6, 9);
        for len in 0..28 {
            assert_eq!(run(&f, &pkt[..len]), 0, "len {len}");
        }
        assert_ne!(run(&f, &pkt[..28]), 0);
    }

    fn ipv4_gre(ihl_words: u8, call_id: u16) -> Vec<u8> {
        let hlen = usize::from(ihl_words) * 4;
        let mut p = vec![0u8; hlen];
        p[0] = 0x40 | ihl_words;
        p[9] = 47;
        // Flags: K and S set, version 1; PPP; payload length 4; call ID; sequence.
        p.extend_from_slice(&[0x30, 0x81, 0x88, 0x0b, 0x00, 0x04]);
        p.extend_from_slice(&call_id.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 1, 0xff, 0x03, 0x00, 0x21]);
        p
    }

    #[test]
    fn raw_gre_filter_accepts_exactly_owned_call_ids() {
        for map in maps() {
            let filters: Vec<_> = (0..map.shards())
                .map(|k| raw_gre_filter(map, k).unwrap())
                .collect();
            for id in ids() {
                let call_id = id as u16;
                for ihl in [5u8, 7, 15] {
                    let pkt = ipv4_gre(ihl, call_id);
                    let owners: Vec<u32> = (0..map.shards())
                        .filter(|&k| run(&filters[k as usize], &pkt) != 0)
                        .collect();
                    assert_eq!(owners, [map.shard_of(u32::from(call_id))], "call {call_id}");
                }
            }
        }
        assert_eq!(raw_gre_filter(ShardMap::new(2).unwrap(), 2), None);
    }

    #[test]
    fn raw_gre_filter_drops_other_gre_and_truncated() {
        let map = ShardMap::new(1).unwrap();
        let f = raw_gre_filter(map, 0).unwrap();
        let good = ipv4_gre(5, 9);
        assert_ne!(run(&f, &good), 0);
        for len in 0..28 {
            assert_eq!(run(&f, &good[..len]), 0, "len {len}");
        }
        let mut no_key = good.clone();
        no_key[20] &= !0x20;
        assert_eq!(run(&f, &no_key), 0);
        let mut version0 = good.clone();
        version0[21] = 0x00;
        assert_eq!(run(&f, &version0), 0);
        let mut ipv4_in_gre = good.clone();
        ipv4_in_gre[22..24].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(run(&f, &ipv4_in_gre), 0);
    }
}

//! The multi-queue TUN in the real kernel, inside a network namespace the test creates
//! (`ip netns add shardvpn-test-<pid>`, removed by a guard even on failure): a TUN with
//! 2 queues gets 10.0.0.1/24; a UDP datagram sent from that namespace to 10.0.0.2 is
//! routed out of the TUN and must be read, unchanged, from one of its queues. Needs
//! root; without it the test says so and returns.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use shardvpn::runtime::tun::{MultiQueueTun, TunError};
use shardvpn::wire::{ipv4, udp};

mod runtime_netns;
use runtime_netns::{Namespace, ip, is_root};

const PAYLOAD: &[u8] = b"shardvpn tun queue test";
const PORT: u16 = 9999;

#[test]
fn datagram_routed_out_of_the_tun_is_read_from_a_queue() {
    if !is_root() {
        println!("runtime_tun: skipped, needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)");
        return;
    }
    let ns = Namespace::create("mq");
    let ns_name = ns.name.clone();
    ns.run(move || {
        let tun = MultiQueueTun::open("svtun0", 2).expect("open multi-queue TUN");
        assert_eq!(tun.name(), "svtun0");
        assert_eq!(tun.queues().len(), 2);
        ip(&[
            "-n",
            &ns_name,
            "addr",
            "add",
            "10.0.0.1/24",
            "dev",
            "svtun0",
        ]);
        ip(&["-n", &ns_name, "link", "set", "svtun0", "up"]);

        let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        let src_port = sock.local_addr().unwrap().port();
        sock.send_to(PAYLOAD, (Ipv4Addr::new(10, 0, 0, 2), PORT))
            .expect("send via the TUN route");

        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 2048];
        let mut seen = 0;
        while Instant::now() < deadline && seen < 1000 {
            let mut idle = true;
            for (q, queue) in tun.queues().iter().enumerate() {
                let Ok(n) = queue.recv(&mut buf) else {
                    continue;
                };
                idle = false;
                seen += 1;
                // Other packets (IPv6 router solicitations, MLD) may come first.
                let Ok(ip) = ipv4::Packet::new_checked(&buf[..n]) else {
                    continue;
                };
                if ip.version() != 4 || ip.dst_addr() != Ipv4Addr::new(10, 0, 0, 2) {
                    continue;
                }
                assert_eq!(ip.src_addr(), Ipv4Addr::new(10, 0, 0, 1));
                let Ok(dgram) = udp::Packet::new_checked(ip.payload()) else {
                    panic!("queue {q}: not UDP: {:02x?}", &buf[..n]);
                };
                assert_eq!(dgram.src_port(), src_port);
                assert_eq!(dgram.dst_port(), PORT);
                assert_eq!(dgram.payload(), PAYLOAD);
                return;
            }
            if idle {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        panic!("the datagram never came out of the TUN ({seen} other packets read)");
    });
}

#[test]
fn name_of_a_non_tun_interface_is_taken() {
    if !is_root() {
        println!("runtime_tun: skipped, needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)");
        return;
    }
    let ns = Namespace::create("taken");
    ns.run(|| {
        // Every namespace has "lo", and it is not a TUN.
        match MultiQueueTun::open("lo", 1) {
            Err(TunError::NameTaken { .. }) => {}
            other => panic!("expected NameTaken, got {other:?}"),
        }
        // The kernel chooses a name when none is given; all queues share it.
        let tun = MultiQueueTun::open("", 3).expect("open TUN with a kernel-chosen name");
        assert!(tun.name().starts_with("tun"), "{}", tun.name());
        assert_eq!(tun.into_queues().len(), 3);
    });
}

/// The TUN gets its address and a pool route through the ioctls, as `run` sets them.
#[test]
fn address_and_route_are_set_on_the_tun() {
    if !is_root() {
        println!("runtime_tun: skipped, needs root");
        return;
    }
    let ns = Namespace::create("netcfg");
    let ns_name = ns.name.clone();
    ns.run(move || {
        let tun = MultiQueueTun::open("svcfg0", 1).expect("open TUN");
        shardvpn::runtime::tun::set_link(tun.name(), 1400, true).expect("link up");
        shardvpn::runtime::netcfg::set_ipv4_address("svcfg0", Ipv4Addr::new(10, 66, 0, 1), 32)
            .expect("address");
        shardvpn::runtime::netcfg::add_ipv4_route("svcfg0", Ipv4Addr::new(10, 66, 0, 0), 16)
            .expect("route");
        // Adding it again is not an error.
        shardvpn::runtime::netcfg::add_ipv4_route("svcfg0", Ipv4Addr::new(10, 66, 0, 0), 16)
            .expect("route again");
        let out = std::process::Command::new("ip")
            .args(["-n", &ns_name, "-4", "addr", "show", "svcfg0"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("10.66.0.1/32"), "{text}");
        let out = std::process::Command::new("ip")
            .args(["-n", &ns_name, "route", "show", "dev", "svcfg0"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("10.66.0.0/16"), "{text}");
        let err = shardvpn::runtime::netcfg::set_ipv4_address("nosuch0", Ipv4Addr::LOCALHOST, 8)
            .unwrap_err();
        assert!(err.to_string().contains("nosuch0"), "{err}");
    });
}

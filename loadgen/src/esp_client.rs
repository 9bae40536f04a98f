//! The client side of an L2TP/IPsec data path: the pair of transport-mode ESP SAs one
//! emulated client negotiated, wrapping its L2TP datagrams (inner UDP 1701 → 1701) as
//! ESP-in-UDP (RFC 3948 §2.1) and unwrapping what the concentrator sends back.
//!
//! Sealing reuses the daemon's own control-path function
//! (`shardvpn::dataplane::tx::seal_udp_transport`), so both sides build packets the
//! same way; opening follows RFC 4303 §3.4: SPI, sequence number checked against the
//! anti-replay window before the ICV, the window moved only after it verified, then
//! Next Header UDP and the inner UDP datagram.

use std::net::IpAddr;

use shardvpn::crypto::esp::{AnyTransform, Transform};
use shardvpn::dataplane::tables::OutboundSa;
use shardvpn::proto::esp::ReplayWindow;
use shardvpn::proto::ike::ChildSa;
use shardvpn::wire::udp;

/// One client's SA pair.
pub struct EspPair {
    out: OutboundSa,
    inbound_spi: u32,
    inbound: AnyTransform,
    replay: ReplayWindow,
    local: IpAddr,
    server: IpAddr,
    /// The client's L2TP port (inner UDP source) and the server's (destination).
    ports: (u16, u16),
}

/// Why an inbound datagram was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Too short, or not our SPI.
    NotOurs,
    Replay,
    Crypto,
    /// Opened, but not UDP to our L2TP port.
    NotL2tp,
}

impl EspPair {
    pub fn new(child: &ChildSa, local: IpAddr, server: IpAddr) -> Result<EspPair, String> {
        let out = child.outbound_transform().map_err(|e| e.to_string())?;
        let inbound = child.inbound_transform().map_err(|e| e.to_string())?;
        Ok(EspPair {
            out: OutboundSa::new(child.outbound_spi, out),
            inbound_spi: child.inbound_spi,
            inbound,
            replay: ReplayWindow::new(),
            local,
            server,
            ports: (1701, 1701),
        })
    }

    /// `l2tp` as the payload of a UDP/4500 datagram to the server.
    pub fn seal(&self, l2tp: &[u8]) -> Option<Vec<u8>> {
        shardvpn::dataplane::tx::seal_udp_transport(
            &self.out,
            self.local,
            self.server,
            self.ports.0,
            self.ports.1,
            l2tp,
        )
        .ok()
    }

    /// Opens an ESP packet (the UDP/4500 payload, SPI first) in place and returns the
    /// range of the L2TP message inside it.
    pub fn open(&mut self, esp: &mut [u8]) -> Result<std::ops::Range<usize>, OpenError> {
        let Some(header) = esp.first_chunk::<8>() else {
            return Err(OpenError::NotOurs);
        };
        let spi = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        if spi != self.inbound_spi {
            return Err(OpenError::NotOurs);
        }
        let seq = u64::from(u32::from_be_bytes([
            header[4], header[5], header[6], header[7],
        ]));
        self.replay.check(seq).map_err(|_| OpenError::Replay)?;
        let payload = self.inbound.open(seq, esp).map_err(|_| OpenError::Crypto)?;
        self.replay.commit(seq).map_err(|_| OpenError::Replay)?;
        if self.inbound.next_header(esp) != Some(17) {
            return Err(OpenError::NotL2tp);
        }
        let bytes = esp.get(payload.clone()).ok_or(OpenError::NotL2tp)?;
        let datagram = udp::Packet::new_checked(bytes).map_err(|_| OpenError::NotL2tp)?;
        if datagram.dst_port() != self.ports.0 {
            return Err(OpenError::NotL2tp);
        }
        let len = usize::from(datagram.len());
        Ok(payload.start + udp::HEADER_LEN..payload.start + len)
    }
}

/// The client's ESP against the daemon's own code, byte for byte: the SA pair comes
/// from a real in-memory IKEv1 exchange (our initiator against our responder, NAT-T
/// forced as loadgen always does), the server side is the shard's receive path
/// (`esp_udp_input` on a `Tables` holding the mirrored inbound SA) and the daemon's
/// sealing function for what it sends back.
#[cfg(test)]
mod tests {
    use std::net::{IpAddr, SocketAddr};
    use std::sync::Arc;
    use std::time::Instant;

    use shardvpn::dataplane::counters::{Counters, PuntKind};
    use shardvpn::dataplane::rx::{Rx, esp_udp_input};
    use shardvpn::dataplane::tables::{Capacities, Command, InboundSa, OutboundSa, Tables};
    use shardvpn::proto::ike::{
        ChildSa, Env, Event, IkePolicy, IkeSa, InitiatorParams, QuickModeParams,
    };
    use shardvpn::proto::ike::{Identity, Transmit};
    use zeroize::Zeroizing;

    use super::{EspPair, OpenError};

    const CLIENT: &str = "192.0.2.10:40001";
    const CLIENT_NATT: &str = "192.0.2.10:40001";
    const SERVER: &str = "198.51.100.1:500";
    const SERVER_NATT: &str = "198.51.100.1:4500";
    const TUNNEL: u16 = 7;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Deterministic randomness (xorshift) and SPIs for one side.
    struct Rand {
        state: u64,
        spi: u32,
    }

    impl Rand {
        fn with<R>(&mut self, f: impl FnOnce(&mut Env<'_>) -> R) -> R {
            let mut st = self.state;
            let mut spi = self.spi;
            let r = {
                let mut rng = |b: &mut [u8]| {
                    for x in b.iter_mut() {
                        st ^= st << 13;
                        st ^= st >> 7;
                        st ^= st << 17;
                        *x = st as u8;
                    }
                };
                let mut spis = || {
                    spi += 1;
                    spi
                };
                f(&mut Env {
                    rng: &mut rng,
                    spi: &mut spis,
                })
            };
            self.state = st;
            self.spi = spi;
            r
        }
    }

    /// Main Mode and Quick Mode for `esp` over an in-memory wire; returns the client's
    /// and the server's `ChildSa`.
    fn negotiate(esp: &str) -> (ChildSa, ChildSa) {
        let psk = || Zeroizing::new(b"loadgen-psk".to_vec());
        let server_policy = Arc::new(IkePolicy {
            default_psk: Some(psk()),
            ..IkePolicy::default()
        });
        let now = Instant::now();
        let (mut ie, mut re) = (
            Rand {
                state: 7,
                spi: 0x1000,
            },
            Rand {
                state: 99,
                spi: 0x9000,
            },
        );
        let params = InitiatorParams {
            psk: psk(),
            local_id: Identity::Ipv4("192.168.0.2".parse().unwrap()),
            local: addr(CLIENT),
            remote: addr(SERVER),
            nat_t_port: 4500,
            force_encap: true,
            initial_contact: true,
        };
        let mut client =
            ie.with(|e| IkeSa::initiate(now, Arc::new(IkePolicy::default()), params, e));
        let mut server: Option<IkeSa> = None;
        let (mut client_child, mut server_child) = (None, None);
        let mut qm_started = false;
        for _ in 0..50 {
            let out: Vec<Transmit> = std::iter::from_fn(|| client.poll_transmit()).collect();
            for t in out {
                let (local, from) = if t.encap {
                    (addr(SERVER_NATT), addr(CLIENT_NATT))
                } else {
                    (addr(SERVER), addr(CLIENT))
                };
                match &mut server {
                    Some(s) => {
                        re.with(|e| s.handle_message(now, local, from, t.encap, &t.bytes, e))
                    }
                    None => {
                        let policy = Arc::clone(&server_policy);
                        server = re
                            .with(|e| {
                                IkeSa::respond(now, policy, local, from, t.encap, &t.bytes, e)
                            })
                            .ok();
                    }
                }
            }
            if let Some(s) = &mut server {
                let out: Vec<Transmit> = std::iter::from_fn(|| s.poll_transmit()).collect();
                for t in out {
                    let from = if t.encap {
                        addr(SERVER_NATT)
                    } else {
                        addr(SERVER)
                    };
                    ie.with(|e| {
                        client.handle_message(now, addr(CLIENT), from, t.encap, &t.bytes, e)
                    });
                }
                while let Some(ev) = s.poll_event() {
                    if let Event::ChildUp(c) = ev {
                        server_child = Some(c);
                    }
                }
            }
            while let Some(ev) = client.poll_event() {
                if let Event::ChildUp(c) = ev {
                    client_child = Some(c);
                }
            }
            if client.is_established() && !qm_started {
                qm_started = true;
                let qm = QuickModeParams {
                    local_port: 1701,
                    remote_port: 1701,
                    esp: vec![esp.parse().unwrap()],
                };
                ie.with(|e| client.start_quick_mode(now, qm, e)).unwrap();
            }
            if client_child.is_some() && server_child.is_some() {
                break;
            }
        }
        let (c, s) = (client_child.unwrap(), server_child.unwrap());
        assert!(c.encap && s.encap, "NAT-T was forced");
        assert_eq!(
            (c.inbound_spi, c.outbound_spi),
            (s.outbound_spi, s.inbound_spi)
        );
        (c, s)
    }

    /// An L2TP control message (SCCRQ-shaped header: T, L, S, version 2) of `len` bytes.
    fn l2tp_control(len: usize, ns: u8) -> Vec<u8> {
        let mut m = vec![0u8; len];
        m[0] = 0xc8;
        m[1] = 0x02;
        m[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        m[9] = ns;
        for (i, b) in m.iter_mut().enumerate().skip(12) {
            *b = i as u8;
        }
        m
    }

    fn ip(s: &str) -> IpAddr {
        addr(s).ip()
    }

    fn server_tables(server: &ChildSa) -> Tables {
        let mut tables = Tables::new(Capacities {
            sas: 4,
            sessions: 4,
            tunnels: 4,
            routes: 4,
        });
        let sa = InboundSa::new(
            server.inbound_transform().unwrap(),
            TUNNEL,
            1,
            addr(CLIENT_NATT),
        );
        tables
            .apply(Command::InstallSa {
                spi: server.inbound_spi,
                sa: Box::new(sa),
            })
            .unwrap();
        tables
    }

    #[test]
    fn what_the_client_seals_the_shard_opens() {
        for esp in ["aes128gcm16", "aes256-sha1", "aes128-sha256", "3des-sha1"] {
            let (client, server) = negotiate(esp);
            let pair = EspPair::new(&client, ip(CLIENT), ip(SERVER)).unwrap();
            let mut tables = server_tables(&server);
            let mut counters = Counters::new();
            let mut sent = Vec::new();
            for (n, len) in [12usize, 60, 255, 1200].into_iter().enumerate() {
                let msg = l2tp_control(len, n as u8);
                let mut pkt = pair.seal(&msg).unwrap();
                assert_eq!(&pkt[..4], &client.outbound_spi.to_be_bytes(), "{esp}");
                assert_eq!(
                    u32::from_be_bytes(pkt[4..8].try_into().unwrap()),
                    n as u32 + 1,
                    "{esp}: one sequence counter per SA, from 1"
                );
                sent.push(pkt.clone());
                let rx = esp_udp_input(
                    &mut tables,
                    &mut counters,
                    std::time::Instant::now(),
                    &mut pkt,
                    addr(CLIENT_NATT),
                );
                match rx {
                    Rx::Punt {
                        kind: PuntKind::L2tpControl,
                        ref range,
                        spi,
                        inner_port,
                        ..
                    } => {
                        assert_eq!(spi, Some(server.inbound_spi), "{esp}");
                        assert_eq!(inner_port, 1701, "{esp}");
                        assert_eq!(&pkt[range.clone()], &msg[..], "{esp}");
                    }
                    other => panic!("{esp}: {other:?}"),
                }
            }
            // A replayed packet is the shard's to refuse.
            let mut again = sent[1].clone();
            assert!(matches!(
                esp_udp_input(
                    &mut tables,
                    &mut counters,
                    std::time::Instant::now(),
                    &mut again,
                    addr(CLIENT_NATT)
                ),
                Rx::Drop(_)
            ));
        }
    }

    #[test]
    fn what_the_daemon_seals_the_client_opens() {
        for esp in ["aes128gcm16", "aes256-sha1", "3des-sha1"] {
            let (client, server) = negotiate(esp);
            let mut pair = EspPair::new(&client, ip(CLIENT), ip(SERVER)).unwrap();
            let out = OutboundSa::new(server.outbound_spi, server.outbound_transform().unwrap());
            let seal = |msg: &[u8], dst_port: u16| {
                shardvpn::dataplane::tx::seal_udp_transport(
                    &out,
                    ip(SERVER),
                    ip(CLIENT),
                    1701,
                    dst_port,
                    msg,
                )
                .unwrap()
            };
            let mut sent = Vec::new();
            for (n, len) in [12usize, 100, 1300].into_iter().enumerate() {
                let msg = l2tp_control(len, n as u8);
                let mut pkt = seal(&msg, 1701);
                sent.push(pkt.clone());
                let range = pair.open(&mut pkt).unwrap();
                assert_eq!(&pkt[range], &msg[..], "{esp}");
            }

            // Replay, tampering, another SPI, a keepalive, an inner port not ours.
            let mut replay = sent[0].clone();
            assert_eq!(pair.open(&mut replay), Err(OpenError::Replay), "{esp}");
            let mut tampered = seal(&l2tp_control(40, 9), 1701);
            let last = tampered.len() - 1;
            tampered[last] ^= 1;
            assert_eq!(pair.open(&mut tampered), Err(OpenError::Crypto), "{esp}");
            let mut other = seal(&l2tp_control(40, 10), 1701);
            other[3] ^= 0x40;
            assert_eq!(pair.open(&mut other), Err(OpenError::NotOurs), "{esp}");
            assert_eq!(pair.open(&mut [0xff]), Err(OpenError::NotOurs), "{esp}");
            let mut wrong_port = seal(&l2tp_control(40, 11), 1702);
            assert_eq!(pair.open(&mut wrong_port), Err(OpenError::NotL2tp), "{esp}");
            // A tampered packet does not move the window: the next one still opens.
            let msg = l2tp_control(20, 12);
            let mut next = seal(&msg, 1701);
            let range = pair.open(&mut next).unwrap();
            assert_eq!(&next[range], &msg[..], "{esp}");
        }
    }
}

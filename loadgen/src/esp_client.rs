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

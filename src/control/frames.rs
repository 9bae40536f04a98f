//! PPP control frames between the control thread and a subscriber over L2TP: the
//! control thread sends LCP, authentication and NCP packets as L2TP *data* messages
//! (RFC 2661 §3.1, T bit clear) on the tunnel's UDP 4-tuple, and receives the
//! subscriber's from the shards as punted PPP frames.

use crate::wire::l2tp::{self, flags};
use crate::wire::ppp;

/// Length of the L2TP data header we send: flags/version, tunnel ID, session ID (no
/// Length, Ns/Nr or Offset fields: RFC 2661 §3.1 makes them optional on data).
const DATA_HEADER_LEN: usize = l2tp::MIN_HEADER_LEN;

/// An L2TP data message carrying one PPP frame: `FF 03` (RFC 1662 §3.2, always
/// accepted whatever ACFC says), the protocol, then `packet`.
pub fn l2tp_ppp_message(
    peer_tunnel: u16,
    peer_session: u16,
    protocol: u16,
    packet: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(DATA_HEADER_LEN + 4 + packet.len());
    out.extend_from_slice(&u16::from(l2tp::VERSION).to_be_bytes());
    out.extend_from_slice(&peer_tunnel.to_be_bytes());
    out.extend_from_slice(&peer_session.to_be_bytes());
    out.extend_from_slice(&[ppp::ADDRESS_ALL_STATIONS, ppp::CONTROL_UI]);
    out.extend_from_slice(&protocol.to_be_bytes());
    out.extend_from_slice(packet);
    debug_assert_eq!(u16::from_be_bytes([out[0], out[1]]) & flags::T, 0);
    out
}

/// The protocol and the packet of a punted PPP frame (the shard punts the frame from
/// its address/control or protocol field on, in either compressed form).
pub fn split_ppp_frame(frame: &[u8]) -> Option<(u16, &[u8])> {
    let f = ppp::Frame::new_checked(frame).ok()?;
    Some((u16::from(f.protocol()), f.payload()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_round_trips_through_the_parsers() {
        let lcp = [0x09, 0x01, 0x00, 0x08, 1, 2, 3, 4];
        let msg = l2tp_ppp_message(7, 9, 0xc021, &lcp);
        let p = l2tp::Packet::new_checked(&msg[..]).unwrap();
        assert!(!p.is_control());
        assert_eq!((p.tunnel_id(), p.session_id()), (7, 9));
        let (protocol, packet) = split_ppp_frame(p.payload()).unwrap();
        assert_eq!(protocol, 0xc021);
        assert_eq!(packet, &lcp);
        // Compressed forms parse too.
        assert_eq!(split_ppp_frame(&[0x21, 0x45]).map(|(p, _)| p), Some(0x0021));
        assert_eq!(split_ppp_frame(&[]), None);
    }
}

//! IKEv1 (RFC 2407, 2408, 2409) as a sans-IO engine: Main Mode with pre-shared keys,
//! Quick Mode for transport-mode ESP, NAT traversal (RFC 3947 and the drafts 02/03 that
//! older clients announce), dead peer detection (RFC 3706), delete notifications and
//! INITIAL-CONTACT (RFC 2407 §4.6.3.3). Both roles: the concentrator is the phase-1
//! responder (and initiates Quick Mode only to rekey), loadgen is the initiator.
//!
//! One [`IkeSa`] is one ISAKMP SA with the Quick Mode and Informational exchanges that
//! run under it and the ESP SA pairs ("children") it negotiated. It takes datagrams and
//! time and gives back datagrams ([`Transmit`]), [`Event`]s and its next deadline; the
//! caller supplies randomness and inbound SPIs through [`Env`], so the control thread
//! can allocate SPIs that steer to the subscriber's shard.
//!
//! The RFC sections, by file:
//! - `sa.rs`: Main Mode (RFC 2409 §5, §5.4 pre-shared keys), Quick Mode (§5.5, with
//!   PFS), Informational exchanges (§5.7; RFC 2408 §4.8: Notify and Delete), the phase-1
//!   and phase-2 IVs (Appendix B), NAT-D and the float to port 4500 (RFC 3947 §3-§4),
//!   UDP-encapsulated transport mode and NAT-OA (RFC 3947 §5), R-U-THERE (RFC 3706 §5),
//!   RESPONDER-LIFETIME (RFC 2407 §4.6.3.1).
//! - `policy.rs`: proposals, keys and timers ([`IkePolicy`]).
//!
//! Decisions are in the module docs of `sa.rs`.
#![forbid(unsafe_code)]

pub mod policy;
mod sa;

#[cfg(test)]
mod tests;

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::crypto::esp::{AnyTransform, CryptoError, Esn, Suite};
use crate::wire::isakmp::{IdType, IdentificationRepr};

pub use policy::{EspProposal, IkePolicy, Pfs, Phase1Proposal, Psk, PskSelector};
pub use sa::IkeSa;

/// Randomness and SPI allocation, supplied by the caller (sans-IO).
pub struct Env<'a> {
    /// Fills the buffer with cryptographically secure random bytes.
    pub rng: &'a mut dyn FnMut(&mut [u8]),
    /// A fresh inbound ESP SPI (at least 256, RFC 4303 §2.1; unique among live SAs).
    pub spi: &'a mut dyn FnMut() -> u32,
}

/// A phase-1 identity (RFC 2407 §4.6.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    Fqdn(String),
    UserFqdn(String),
    /// Any other type, kept as bytes (KEY_ID, DNs, subnets).
    Other(u8, Vec<u8>),
}

impl Identity {
    pub(crate) fn from_repr(id: &IdentificationRepr<'_>) -> Identity {
        if let Some(a) = id.ipv4_addr() {
            return Identity::Ipv4(a);
        }
        if let Some(a) = id.ipv6_addr() {
            return Identity::Ipv6(a);
        }
        let text = || String::from_utf8_lossy(id.data).into_owned();
        match id.id_type {
            IdType::Fqdn => Identity::Fqdn(text()),
            IdType::UserFqdn => Identity::UserFqdn(text()),
            other => Identity::Other(other.into(), id.data.to_vec()),
        }
    }

    /// The ID payload's type and data.
    pub(crate) fn encode(&self) -> (IdType, Vec<u8>) {
        match self {
            Identity::Ipv4(a) => (IdType::Ipv4Addr, a.octets().to_vec()),
            Identity::Ipv6(a) => (IdType::Ipv6Addr, a.octets().to_vec()),
            Identity::Fqdn(s) => (IdType::Fqdn, s.as_bytes().to_vec()),
            Identity::UserFqdn(s) => (IdType::UserFqdn, s.as_bytes().to_vec()),
            Identity::Other(t, d) => (IdType::from(*t), d.clone()),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Ipv4(a) => write!(f, "{a}"),
            Identity::Ipv6(a) => write!(f, "{a}"),
            // Peer-controlled text: printed escaped, never raw.
            Identity::Fqdn(s) | Identity::UserFqdn(s) => write!(f, "{}", s.escape_debug()),
            Identity::Other(t, d) => write!(f, "id-type-{t}:{} bytes", d.len()),
        }
    }
}

/// Initiator settings (loadgen).
#[derive(Clone)]
pub struct InitiatorParams {
    pub psk: Zeroizing<Vec<u8>>,
    pub local_id: Identity,
    /// Our socket's address (the real one: it goes into NAT-D).
    pub local: SocketAddr,
    /// The responder's IKE address (port 500).
    pub remote: SocketAddr,
    /// The responder's NAT-T port, floated to when a NAT is seen (RFC 3947 §4).
    pub nat_t_port: u16,
    /// Behave as if behind a NAT (strongSwan's `forceencaps`): our NAT-D hash is of a
    /// random address, so both sides choose UDP encapsulation.
    pub force_encap: bool,
    /// Send INITIAL-CONTACT in Main Mode message 5.
    pub initial_contact: bool,
}

impl fmt::Debug for InitiatorParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitiatorParams")
            .field("local_id", &self.local_id)
            .field("local", &self.local)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

/// A Quick Mode to start as its initiator.
#[derive(Debug, Clone)]
pub struct QuickModeParams {
    /// Our L2TP port in the client ID (1701).
    pub local_port: u16,
    /// The peer's L2TP port in the responder ID (1701, or 0 for any).
    pub remote_port: u16,
    /// In preference order; the first proposal's PFS group, if any, adds a KE payload.
    pub esp: Vec<EspProposal>,
}

/// A datagram to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Transmit {
    pub to: SocketAddr,
    /// Send from the NAT-T socket with the 4-byte non-ESP marker in front (RFC 3948
    /// §2.2); otherwise as is from the IKE socket.
    pub encap: bool,
    /// The ISAKMP message.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Transmit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transmit")
            .field("to", &self.to)
            .field("encap", &self.encap)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// Why an ISAKMP SA ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// No proposal in the initiator's SA is acceptable.
    NoProposalChosen,
    /// No pre-shared key produced the peer's HASH (wrong PSK or unknown peer).
    AuthenticationFailed,
    /// The peer refused us (a Notify such as NO-PROPOSAL-CHOSEN, AUTHENTICATION-FAILED).
    PeerRefused(u16),
    /// Phase 1 did not complete in time, or a message was retransmitted in vain.
    Timeout,
    /// The peer deleted the ISAKMP SA.
    PeerDeleted,
    /// The phase-1 lifetime ran out.
    Expired,
    /// No message from the peer for the DPD timeout (RFC 3706).
    DeadPeer,
    /// [`IkeSa::close`].
    Local,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::NoProposalChosen => write!(f, "no acceptable proposal"),
            CloseReason::AuthenticationFailed => {
                write!(f, "authentication failed (pre-shared key mismatch?)")
            }
            CloseReason::PeerRefused(n) => write!(f, "refused by the peer (notify {n})"),
            CloseReason::Timeout => write!(f, "negotiation timed out"),
            CloseReason::PeerDeleted => write!(f, "deleted by the peer"),
            CloseReason::Expired => write!(f, "lifetime expired"),
            CloseReason::DeadPeer => write!(f, "dead peer (DPD)"),
            CloseReason::Local => write!(f, "closed locally"),
        }
    }
}

/// What happened, for the caller.
#[derive(Debug)]
pub enum Event {
    /// Main Mode finished (both roles).
    Phase1Up {
        peer_id: Identity,
        initial_contact: bool,
        nat_detected: bool,
        proposal: Phase1Proposal,
    },
    /// A pair of ESP SAs to install (rekeys too). The initiator gets it when Quick Mode
    /// is done; the responder as soon as it has answered (the initiator may send
    /// under the new SA right after its HASH(3)), with `ready` false: install the
    /// inbound SA now, send under the outbound one after [`Event::ChildReady`].
    ChildUp(ChildSa),
    /// The responder's pair of an earlier `ChildUp` is confirmed (HASH(3)): send
    /// under it from now on.
    ChildReady { inbound_spi: u32 },
    /// A pair of ESP SAs is gone (peer's Delete, our expiry, close): remove it.
    ChildDown { inbound_spi: u32, outbound_spi: u32 },
    /// The peer's outer address or port changed (the float to 4500, NAT rebinding).
    PeerMoved { peer: SocketAddr, encap: bool },
    /// The ISAKMP SA is gone. Its children are not: see [`IkeSa::take_children`].
    Closed { reason: CloseReason },
}

/// A negotiated pair of transport-mode ESP SAs.
pub struct ChildSa {
    /// The SPI the peer puts on packets to us.
    pub inbound_spi: u32,
    /// The SPI we put on packets to the peer.
    pub outbound_spi: u32,
    pub suite: Suite,
    /// ESP-in-UDP (RFC 3948) between the NAT-T ports; otherwise raw ESP.
    pub encap: bool,
    /// The peer's outer address (and its NAT-T port when `encap`).
    pub peer: SocketAddr,
    /// Our L2TP port from the IDs.
    pub local_port: u16,
    /// The peer's L2TP port from the IDs (0: any).
    pub remote_port: u16,
    pub lifetime: Duration,
    /// Kilobytes the SA may carry (0: no limit negotiated).
    pub lifetime_kb: u64,
    /// A rekey: the inbound SPI of the older pair this one supersedes.
    pub replaces: Option<u32>,
    /// The peer's original address (NAT-OA), when it sent one.
    pub peer_original: Option<core::net::IpAddr>,
    /// The outbound SA may be used now (see [`Event::ChildUp`]).
    pub ready: bool,
    inbound_key: Zeroizing<Vec<u8>>,
    outbound_key: Zeroizing<Vec<u8>>,
}

impl ChildSa {
    fn transform(&self, key: &[u8]) -> Result<AnyTransform, CryptoError> {
        let enc = self.suite.encryption_key_len();
        let (e, i) = key.split_at(enc.min(key.len()));
        AnyTransform::new(self.suite, Esn::Disabled, e, i)
    }

    /// The transform that opens what the peer sends (SPI [`ChildSa::inbound_spi`]).
    pub fn inbound_transform(&self) -> Result<AnyTransform, CryptoError> {
        self.transform(&self.inbound_key)
    }

    /// The transform that seals what we send (SPI [`ChildSa::outbound_spi`]).
    pub fn outbound_transform(&self) -> Result<AnyTransform, CryptoError> {
        self.transform(&self.outbound_key)
    }
}

impl fmt::Debug for ChildSa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSa")
            .field("inbound_spi", &format_args!("{:#010x}", self.inbound_spi))
            .field("outbound_spi", &format_args!("{:#010x}", self.outbound_spi))
            .field("suite", &self.suite)
            .field("encap", &self.encap)
            .field("peer", &self.peer)
            .field("remote_port", &self.remote_port)
            .field("lifetime", &self.lifetime)
            .field("replaces", &self.replaces)
            .finish_non_exhaustive()
    }
}

/// Why [`IkeSa::respond`] or [`IkeSa::start_quick_mode`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IkeError {
    #[error("malformed ISAKMP message: {0}")]
    Malformed(crate::wire::Error),
    #[error("not a Main Mode opening (exchange {0}, or a non-zero responder cookie)")]
    NotMainModeStart(u8),
    #[error("phase 1 is not established")]
    NotEstablished,
    #[error("no ESP proposal given")]
    NoProposals,
}

/// Counters of one engine (summed by the control thread).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IkeStats {
    /// Messages that did not parse or broke the exchange's rules.
    pub malformed: u64,
    /// Encrypted messages whose HASH did not verify (wrong key or forged).
    pub bad_hash: u64,
    /// Retransmitted requests answered with our stored reply.
    pub duplicates: u64,
    /// Our retransmissions.
    pub retransmits: u64,
    /// Quick Modes refused (no proposal, bad IDs, PFS policy).
    pub qm_refused: u64,
    /// R-U-THERE we sent.
    pub dpd_sent: u64,
    /// A negotiated proposal needed the legacy switch.
    pub legacy_used: u64,
}

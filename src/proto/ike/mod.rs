//! IKEv1 (RFC 2407, 2408, 2409) as a sans-IO engine: Main Mode with pre-shared keys,
//! Quick Mode for transport-mode ESP, NAT traversal (RFC 3947, drafts 02/03), dead
//! peer detection (RFC 3706), delete and INITIAL-CONTACT notifications. Both roles:
//! the concentrator is the phase-1 responder, loadgen the initiator.
#![forbid(unsafe_code)]

pub mod policy;

pub use policy::{EspProposal, IkePolicy, Pfs, Phase1Proposal, Psk, PskSelector};

//! RADIUS, sans-IO: the client engine for authentication and accounting
//! ([`client::RadiusClient`]) and the Dynamic Authorization server side
//! ([`dae::DaeServer`], RFC 5176). Packets are built and parsed with
//! `crate::wire::radius`; authenticators, hiding and MPPE keys are
//! `crate::crypto::radius`.
#![forbid(unsafe_code)]

pub mod client;
pub mod dae;
#[cfg(test)]
mod tests;

pub use crate::proto::ppp::util::Secret;
pub use crate::wire::radius::attribute::ErrorCause;
pub use crate::wire::radius::attribute::{AcctAuthentic, AcctStatusType, AcctTerminateCause};
pub use client::{
    AcceptInfo, AcctRecord, AuthParams, Counters, Event, Proof, RadiusClient, RadiusConfig,
    RadiusError, RequestId, ServerConfig, ServerCounters, Transmit,
};
pub use dae::{
    Changes, DaeClient, DaeConfig, DaeCounters, DaeKind, DaeOutcome, DaeRequest, DaeServer,
    ReplyContext, Selectors,
};

//! ESP SA state that the data plane keeps per SA (RFC 4303 §3.4).
//!
//! - [`replay`]: the anti-replay window with two-phase check/commit and ESN inference
//!   (§3.4.3, Appendix A).
#![forbid(unsafe_code)]

pub mod replay;

pub use replay::{ReplayError, ReplayWindow};

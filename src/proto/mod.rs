//! Sans-IO protocol engines: IKEv1, ESP SA state, L2TP, PPP, PPTP and RADIUS.
//!
//! Each engine takes `(now, input)` and returns what to send, timers to arm and
//! events; no sockets, threads or clocks live here (see `../shared/design.md`,
//! "Control is sans-IO"). The engines arrive with the control-plane issues.
//!
//! - [`esp`]: per-SA receive state for the data plane: the anti-replay window.
//! - [`ppp`]: the PPP engine (LCP, PAP/CHAP/MS-CHAPv2, IPCP, IPv6CP), server and
//!   client roles, on the RFC 1661 automaton.
#![forbid(unsafe_code)]

pub mod esp;
pub mod ike;
pub mod l2tp;
pub mod ppp;

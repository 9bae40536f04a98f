//! Sans-IO protocol engines: IKEv1, ESP SA state, L2TP, PPP, PPTP and RADIUS.
//!
//! Each engine takes `(now, input)` and returns what to send, timers to arm and
//! events; no sockets, threads or clocks live here (see `../shared/design.md`,
//! "Control is sans-IO"). The engines arrive with the control-plane issues.
//!
//! - [`esp`]: per-SA receive state for the data plane: the anti-replay window.
//! - [`ike`]: IKEv1 (Main Mode PSK, Quick Mode, NAT-T, DPD), responder and initiator.
//! - [`l2tp`]: the L2TPv2 control connection (RFC 2661), LNS and LAC roles.
//! - [`pptp`]: the PPTP control connection over TCP 1723 (RFC 2637), both roles.
//! - [`ppp`]: the PPP engine (LCP, PAP/CHAP/MS-CHAPv2, IPCP, IPv6CP), server and
//!   client roles, on the RFC 1661 automaton.
//! - [`radius`]: the RADIUS client (RFC 2865 authentication, RFC 2866 accounting,
//!   failover) and the RFC 5176 Disconnect/CoA request handler.
#![forbid(unsafe_code)]

pub mod esp;
pub mod ike;
pub mod l2tp;
pub mod ppp;
pub mod pptp;
pub mod radius;

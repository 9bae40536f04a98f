//! Sans-IO protocol engines: IKEv1, ESP SA state, L2TP, PPP, PPTP and RADIUS.
//!
//! Each engine takes `(now, input)` and returns what to send, timers to arm and
//! events; no sockets, threads or clocks live here (see `../shared/design.md`,
//! "Control is sans-IO"). The engines arrive with the control-plane issues.
//!
//! - [`esp`]: per-SA receive state for the data plane: the anti-replay window.
#![forbid(unsafe_code)]

pub mod esp;

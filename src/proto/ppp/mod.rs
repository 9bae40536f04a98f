//! PPP engine (work in progress).
#![forbid(unsafe_code)]

pub mod fsm;

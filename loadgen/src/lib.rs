//! loadgen as a library: the emulation modes, the local-server orchestration and the
//! report, shared by the `loadgen` binary and the integration tests that run a
//! daemon and loadgen in network namespaces.

mod common;
pub mod esp_client;
pub mod l2tp_mode;
pub mod local;
pub mod pptp_mode;
pub mod report;
pub mod scale;
mod sys;

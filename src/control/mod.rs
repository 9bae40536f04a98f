//! The control plane: the control thread that drives the sans-IO protocol engines
//! (`crate::proto`), ties each subscriber's pieces together (L2TP tunnel and session
//! <-> PPP <-> address), chooses its shard and programs the shard's tables through
//! the data plane's command queues (design.md "Layout").
//!
//! - [`ids`]: the IDs we allocate so that steering lands on the owning shard.
//! - [`timers`]: the deadlines of every engine in one min-heap.
//! - [`frames`]: PPP control frames in L2TP data messages.
//! - [`program`]: the shards' command queues with per-shard backlogs.

pub mod daemon;
pub mod frames;
pub mod ids;
pub mod lns;
pub mod program;
pub mod timers;

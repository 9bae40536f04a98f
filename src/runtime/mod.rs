//! The only place for syscalls and `unsafe` (design.md "Layout"): pinned shard
//! threads, io_uring, reuseport steering programs, the multi-queue TUN device and the
//! control <-> shard queues. Every `unsafe` block carries a `// Safety:` comment.

//! Programming the shards: the control thread's side of the command queues.
//!
//! Every change goes through [`Programmer`], which keeps per shard the commands the
//! shard's bounded queue had no room for and sends them, in order, on the next
//! [`Programmer::flush`]: a burst of 10,000 new subscribers never blocks the control
//! thread and never reorders one subscriber's install / update / remove.

use std::collections::VecDeque;

use crate::dataplane::tables::Command;
use crate::runtime::engine::{Dataplane, QueueFull};

/// Per-shard backlogs of commands waiting for queue room.
pub struct Programmer {
    backlog: Vec<VecDeque<Command>>,
    /// Commands sent, and those that had to wait at least once.
    pub sent: u64,
    pub deferred: u64,
}

impl Programmer {
    pub fn new(shards: u32) -> Programmer {
        Programmer {
            backlog: (0..shards).map(|_| VecDeque::new()).collect(),
            sent: 0,
            deferred: 0,
        }
    }

    /// Sends `command` to `shard`, or queues it behind what is already waiting.
    pub fn send(&mut self, dp: &Dataplane, shard: u32, command: Command) {
        let Some(backlog) = self.backlog.get_mut(shard as usize) else {
            return;
        };
        if backlog.is_empty() {
            match dp.send(shard, command) {
                Ok(()) => {
                    self.sent += 1;
                    return;
                }
                Err(QueueFull(command)) => {
                    self.deferred += 1;
                    backlog.push_back(command);
                    return;
                }
            }
        }
        self.deferred += 1;
        backlog.push_back(command);
    }

    /// Sends `make()` to every shard (replicated tables: tunnels, routes, peers).
    pub fn broadcast(&mut self, dp: &Dataplane, make: impl Fn() -> Command) {
        for shard in 0..self.backlog.len() as u32 {
            self.send(dp, shard, make());
        }
    }

    /// Retries the backlogs, in order per shard.
    pub fn flush(&mut self, dp: &Dataplane) {
        for (shard, backlog) in self.backlog.iter_mut().enumerate() {
            while let Some(command) = backlog.pop_front() {
                match dp.send(shard as u32, command) {
                    Ok(()) => self.sent += 1,
                    Err(QueueFull(command)) => {
                        backlog.push_front(command);
                        break;
                    }
                }
            }
        }
    }

    /// Commands still waiting for room.
    pub fn pending(&self) -> usize {
        self.backlog.iter().map(VecDeque::len).sum()
    }
}

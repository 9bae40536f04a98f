//! Starting and stopping the data plane: the TUN device, the sockets, one pinned shard
//! thread per core, and the handle the control thread drives it with
//! ([`Dataplane`]): commands to one shard or to all, messages back from the shards,
//! counters per shard.
//!
//! Startup either brings up every shard or fails as a whole with a
//! [`StartupError`] that says what was missing (io_uring, TUN, a port in use, a
//! privilege), never a panic or a half-started data plane.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::handoff::Handoff;
use super::listen::{self, ControlSockets, ListenSpec, StartupError};
use super::queues::{CommandQueue, ControlInbox, ToControl};
use super::shard::{self, Mode, ShardParts, ShardSpec, ShardStats};
use super::tun::{self, MultiQueueTun};
use super::uring;
use crate::config::Config;
use crate::dataplane::steering::ShardMap;
use crate::dataplane::tables::{Capacities, Command};

/// Everything the data plane needs to start.
#[derive(Debug, Clone)]
pub struct DataplaneSpec {
    pub shards: u32,
    /// Pin shard `i` to `cpus[i % cpus.len()]` (empty: the CPUs this process may
    /// run on, see [`allowed_cpus`]).
    pub pin_cores: bool,
    pub cpus: Vec<usize>,
    pub batch: usize,
    pub buffers: u16,
    pub buffer_size: usize,
    pub capacities: Capacities,
    pub punt_queue: usize,
    pub command_queue: usize,
    pub listen: ListenSpec,
    pub tun_name: String,
    pub tun_mtu: u32,
    pub mode: Mode,
}

impl DataplaneSpec {
    /// The data plane `config` describes (shard count resolved, "auto" = online CPUs).
    pub fn from_config(config: &Config) -> DataplaneSpec {
        let d = &config.dataplane;
        let l = &config.listen;
        DataplaneSpec {
            shards: d.shard_count(),
            pin_cores: d.pin_cores,
            cpus: d.cpus.iter().map(|c| *c as usize).collect(),
            batch: d.batch,
            buffers: d.buffers,
            buffer_size: d.buffer_size,
            capacities: Capacities {
                sas: d.max_sas,
                sessions: d.max_sessions,
                tunnels: d.max_tunnels,
                routes: d.max_routes,
            },
            punt_queue: d.punt_queue,
            command_queue: d.command_queue,
            listen: ListenSpec {
                address: l.address,
                ike_port: l.ike_port,
                nat_t_port: l.nat_t_port,
                l2tp_port: l.l2tp_port,
                raw_esp: l.raw_esp,
                gre: config.pptp.enabled,
            },
            tun_name: d.tun_name.clone(),
            tun_mtu: d.tun_mtu,
            mode: Mode::Full,
        }
    }
}

/// A shard as the control thread sees it.
struct ShardHandle {
    commands: Arc<CommandQueue>,
    stats: Arc<Mutex<ShardStats>>,
    thread: Option<JoinHandle<()>>,
}

/// The running data plane.
pub struct Dataplane {
    map: ShardMap,
    shards: Vec<ShardHandle>,
    inbox: ControlInbox,
    control: ControlSockets,
    tun_name: String,
    stop: Arc<AtomicBool>,
}

/// A command the shard's queue had no room for; the control thread retries or gives
/// up on what it was doing.
pub struct QueueFull(pub Command);

impl std::fmt::Debug for QueueFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QueueFull({})", self.0.name())
    }
}

impl Dataplane {
    /// Starts the data plane. Needs root (or CAP_NET_ADMIN, CAP_NET_BIND_SERVICE and
    /// CAP_NET_RAW for raw ESP).
    pub fn start(spec: &DataplaneSpec) -> Result<Dataplane, StartupError> {
        let map = ShardMap::new(spec.shards).ok_or(StartupError::Io {
            what: "the data plane needs at least one shard",
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        })?;
        uring::probe()?;
        let room = spec
            .buffer_size
            .saturating_sub(crate::dataplane::tx::TX_HEADROOM + crate::dataplane::tx::TX_TAILROOM);
        if (spec.tun_mtu as usize) > room {
            return Err(StartupError::Io {
                what: "tun_mtu does not fit a buffer: raise buffer_size or lower tun_mtu",
                source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
            });
        }
        let tun = MultiQueueTun::open(&spec.tun_name, spec.shards as usize)?;
        tun::set_link(tun.name(), spec.tun_mtu, true)?;
        let tun_name = tun.name().to_owned();
        let (control, sockets) = listen::bind(&spec.listen, map)?;
        let (inbox, outboxes) =
            ControlInbox::new(spec.shards as usize, spec.punt_queue).map_err(|source| {
                StartupError::Io {
                    what: "eventfd",
                    source,
                }
            })?;
        let cpus = if spec.cpus.is_empty() {
            allowed_cpus()
        } else {
            spec.cpus.clone()
        };
        let stop = Arc::new(AtomicBool::new(false));
        let mut shards = Vec::with_capacity(spec.shards as usize);
        let mut dataplane = Dataplane {
            map,
            shards: Vec::new(),
            inbox,
            control,
            tun_name,
            stop: Arc::clone(&stop),
        };
        // Every queue first: a shard hands PPTP packets to the others from the start.
        let mut queues = Vec::with_capacity(spec.shards as usize);
        for index in 0..spec.shards {
            queues.push(Arc::new(CommandQueue::new(spec.command_queue).map_err(
                |source| StartupError::Shard {
                    shard: index,
                    what: "eventfd",
                    source,
                },
            )?));
        }
        let handoff = Arc::new(Handoff::new(queues.clone(), spec.buffer_size));
        let parts = sockets.into_iter().zip(tun.into_queues()).zip(outboxes);
        for (index, ((sockets, queue), outbox)) in parts.enumerate() {
            let commands = Arc::clone(&queues[index]);
            let index = index as u32;
            let stats = Arc::new(Mutex::new(ShardStats::default()));
            let part = ShardParts {
                spec: ShardSpec {
                    index,
                    core: if spec.pin_cores && !cpus.is_empty() {
                        Some(cpus[index as usize % cpus.len()])
                    } else {
                        None
                    },
                    batch: spec.batch,
                    buffers: spec.buffers,
                    buffer_size: spec.buffer_size,
                    capacities: spec.capacities,
                    mode: spec.mode,
                },
                sockets,
                tun: queue,
                commands: Arc::clone(&commands),
                outbox,
                stats: Arc::clone(&stats),
                stop: Arc::clone(&stop),
                handoff: Arc::clone(&handoff),
                map,
            };
            let (ready_tx, ready_rx) = mpsc::channel();
            let thread = std::thread::Builder::new()
                .name(format!("shard-{index}"))
                .spawn(move || shard::run(part, ready_tx))
                .map_err(|source| StartupError::Shard {
                    shard: index,
                    what: "spawning the thread",
                    source,
                })?;
            shards.push(ShardHandle {
                commands,
                stats,
                thread: Some(thread),
            });
            let ready = ready_rx.recv().unwrap_or_else(|_| {
                Err(std::io::Error::other("the shard thread ended during setup"))
            });
            if let Err(source) = ready {
                dataplane.shards = shards;
                // Drop stops the shards already running.
                return Err(StartupError::Shard {
                    shard: index,
                    what: "setting up io_uring and its buffer rings",
                    source,
                });
            }
        }
        dataplane.shards = shards;
        Ok(dataplane)
    }

    pub fn shard_map(&self) -> ShardMap {
        self.map
    }

    pub fn tun_name(&self) -> &str {
        &self.tun_name
    }

    /// The control thread's sockets (index 0 of each reuseport group).
    pub fn control_sockets(&self) -> &ControlSockets {
        &self.control
    }

    /// The local address of the NAT-T (4500) group.
    pub fn nat_t_addr(&self) -> Option<SocketAddr> {
        self.control.nat_t.local_addr().ok()
    }

    /// The local address of the L2TP (1701) group.
    pub fn l2tp_addr(&self) -> Option<SocketAddr> {
        self.control.l2tp.local_addr().ok()
    }

    /// Queues `command` for `shard` and wakes it.
    pub fn send(&self, shard: u32, command: Command) -> Result<(), QueueFull> {
        let Some(handle) = self.shards.get(shard as usize) else {
            return Err(QueueFull(command));
        };
        handle.commands.push(command).map_err(QueueFull)?;
        handle.commands.notify();
        Ok(())
    }

    /// Queues `make()` on every shard (commands for replicated tables: tunnels,
    /// routes, peer updates). Stops at the first full queue.
    pub fn broadcast(&self, mut make: impl FnMut() -> Command) -> Result<(), QueueFull> {
        for shard in 0..self.map.shards() {
            self.send(shard, make())?;
        }
        Ok(())
    }

    /// The next message from any shard, if one is waiting.
    pub fn try_recv(&self) -> Option<ToControl> {
        self.inbox.try_recv()
    }

    /// The next new negotiation a shard queued (see `queues::opens_negotiation`).
    pub fn try_recv_bulk(&self) -> Option<ToControl> {
        self.inbox.try_recv_bulk()
    }

    /// Waits until a shard has sent something or `timeout` passes.
    pub fn wait(&self, timeout: Duration) -> bool {
        self.inbox.wait(timeout)
    }

    /// The eventfd the shards signal when they queue a message, for the control
    /// thread's poll.
    pub fn inbox_fd(&self) -> std::os::fd::RawFd {
        self.inbox.wake_fd()
    }

    /// Resets [`Dataplane::inbox_fd`] once it polled readable, before the queues are
    /// drained with [`Dataplane::try_recv`].
    pub fn clear_inbox_wake(&self) {
        self.inbox.clear_wake();
    }

    /// Messages waiting for the control thread.
    pub fn inbox_depth(&self) -> usize {
        self.inbox.depth()
    }

    /// The last counters `shard` published.
    pub fn stats(&self, shard: u32) -> Option<ShardStats> {
        let handle = self.shards.get(shard as usize)?;
        let s = handle.stats.lock().unwrap_or_else(|e| e.into_inner());
        Some(s.clone())
    }

    /// Every shard's published counters, for readers on other threads (the metrics
    /// endpoint reads them at scrape time).
    pub fn stats_handles(&self) -> Vec<Arc<Mutex<ShardStats>>> {
        self.shards.iter().map(|s| Arc::clone(&s.stats)).collect()
    }

    /// Whether every command sent so far has been applied (the queues are empty).
    pub fn commands_drained(&self) -> bool {
        self.shards.iter().all(|s| s.commands.is_empty())
    }

    /// Stops every shard and returns their final counters.
    pub fn shutdown(mut self) -> Vec<ShardStats> {
        self.stop_all();
        (0..self.map.shards())
            .filter_map(|i| self.stats(i))
            .collect()
    }

    fn stop_all(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for s in &self.shards {
            s.commands.notify();
        }
        for s in &mut self.shards {
            if let Some(t) = s.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// The CPUs this process may run on, in ascending order (its affinity mask, which
/// systemd's `CPUAffinity=` or `taskset` narrow); every online CPU if it cannot be
/// read.
pub fn allowed_cpus() -> Vec<usize> {
    // Safety: a zeroed cpu_set_t is a valid empty set; sched_getaffinity writes at
    // most size_of::<cpu_set_t>() bytes into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) } == 0;
    if ok {
        // Safety: CPU_ISSET reads the set within CPU_SETSIZE.
        let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            .filter(|c| unsafe { libc::CPU_ISSET(*c, &set) })
            .collect();
        if !cpus.is_empty() {
            return cpus;
        }
    }
    (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
}

#[cfg(test)]
mod tests {
    /// The mask is read from the calling thread, which is what shards inherit and what
    /// `taskset` / systemd's `CPUAffinity=` set.
    #[test]
    fn allowed_cpus_follow_the_affinity_mask() {
        let all = super::allowed_cpus();
        assert!(!all.is_empty());
        let last = *all.last().unwrap();
        let narrowed = std::thread::spawn(move || {
            assert!(core_affinity::set_for_current(core_affinity::CoreId {
                id: last
            }));
            super::allowed_cpus()
        })
        .join()
        .unwrap();
        assert_eq!(narrowed, [last]);
    }

    use super::*;

    #[test]
    fn the_embedded_config_maps_onto_the_spec() {
        let config = Config::embedded();
        let spec = DataplaneSpec::from_config(&config);
        assert!(spec.shards >= 1);
        assert_eq!(spec.shards, config.dataplane.shard_count());
        assert_eq!(spec.batch, 64);
        assert_eq!(spec.capacities.sessions, config.dataplane.max_sessions);
        assert_eq!(spec.listen.nat_t_port, 4500);
        assert_eq!(spec.tun_name, "shardvpn0");
        assert_eq!(spec.mode, Mode::Full);
        // What the config accepts, start() accepts: the MTU fits a buffer with room.
        let room = spec.buffer_size
            - crate::dataplane::tx::TX_HEADROOM
            - crate::dataplane::tx::TX_TAILROOM;
        assert!(spec.tun_mtu as usize <= room);
    }
}

//! Per-shard tables of the receive path and the commands that change them.
//!
//! - inbound ESP SAs by SPI (RFC 4303 §3.4.2): the transform, the anti-replay window
//!   (§3.4.3), the ESN flag and the L2TP tunnel / subscriber the SA protects;
//! - L2TP sessions by (local tunnel ID, local session ID) (RFC 2661 §3.1): the
//!   subscriber's assigned addresses (anti-spoofing), the NCP state, whether the
//!   session must arrive under IPsec, and per-session counters.
//!
//! Only the shard touches its tables; the control thread sends [`Command`]s on the
//! shard's queue and the shard calls [`Tables::apply`] between batches.
//!
//! Capacity: each table is bounded by a configured size, and an insert beyond it fails
//! with [`TableError::Full`] (overload is refused, never absorbed by growing). The maps
//! are `std` hash maps preallocated at construction for *twice* the capacity: with at
//! most `capacity` live entries, hashbrown's growth check always finds the table at
//! most half full and rehashes in place (to reclaim tombstones) instead of
//! reallocating, so steady-state inserts, removes and lookups never allocate.
#![forbid(unsafe_code)]

use core::net::{Ipv4Addr, Ipv6Addr};
use std::collections::HashMap;

use crate::crypto::esp::{AnyTransform, Esn, Transform};
use crate::proto::esp::ReplayWindow;

/// (local tunnel ID, local session ID): the IDs we allocated and the peer echoes.
pub type SessionKey = (u16, u16);

/// One inbound ESP SA.
pub struct InboundSa {
    pub transform: AnyTransform,
    pub replay: ReplayWindow,
    pub esn: Esn,
    /// The local L2TP tunnel ID this SA protects: a decrypted L2TP message naming
    /// another tunnel is dropped, so one client's SA cannot inject into another
    /// subscriber's tunnel.
    pub tunnel_id: u16,
    /// Opaque subscriber handle from the control thread.
    pub subscriber: u32,
    pub rx_packets: u64,
    pub rx_bytes: u64,
}

impl InboundSa {
    pub fn new(transform: AnyTransform, tunnel_id: u16, subscriber: u32) -> Self {
        let esn = transform.esn();
        InboundSa {
            transform,
            replay: ReplayWindow::new(),
            esn,
            tunnel_id,
            subscriber,
            rx_packets: 0,
            rx_bytes: 0,
        }
    }
}

/// PPP / session flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionFlags {
    /// The session's tunnel is L2TP/IPsec: plain L2TP for it is refused.
    pub requires_esp: bool,
}

/// One L2TP session's receive state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub subscriber: u32,
    /// The address IPCP assigned (RFC 1332 §3.3); `None` while IPCP is not Opened.
    pub ipv4: Option<Ipv4Addr>,
    /// The /64 prefix the subscriber may source global IPv6 from; `None`: IPv6CP not
    /// Opened. Link-local sources (fe80::/10) are accepted once it is open (RFC 5072
    /// §5: the interface identifier is negotiated for link-local use).
    pub ipv6_prefix: Option<[u8; 8]>,
    pub flags: SessionFlags,
    pub rx_packets: u64,
    pub rx_bytes: u64,
}

impl Session {
    pub fn new(subscriber: u32, ipv4: Option<Ipv4Addr>, flags: SessionFlags) -> Self {
        Session {
            subscriber,
            ipv4,
            ipv6_prefix: None,
            flags,
            rx_packets: 0,
            rx_bytes: 0,
        }
    }

    /// Whether `src` may appear as the source of this subscriber's IPv6 packets.
    pub fn ipv6_source_allowed(&self, src: Ipv6Addr) -> bool {
        let Some(prefix) = self.ipv6_prefix else {
            return false;
        };
        let o = src.octets();
        o[..8] == prefix || (o[0] == 0xfe && o[1] & 0xc0 == 0x80)
    }
}

/// A change to the shard's tables, sent by the control thread.
pub enum Command {
    /// Boxed: an SA (transform key schedules + replay bitmap) is far larger than the
    /// other commands, and queue slots are sized by the largest variant. The box is made
    /// on the control thread, once per SA, never per packet.
    InstallSa {
        spi: u32,
        sa: Box<InboundSa>,
    },
    RemoveSa {
        spi: u32,
    },
    InstallSession {
        key: SessionKey,
        session: Session,
    },
    RemoveSession {
        key: SessionKey,
    },
    /// IPCP reached Opened (or renegotiated) with this address; `None` closes it.
    SetSessionIpv4 {
        key: SessionKey,
        ipv4: Option<Ipv4Addr>,
    },
    /// IPv6CP reached Opened with this prefix; `None` closes it.
    SetSessionIpv6 {
        key: SessionKey,
        prefix: Option<[u8; 8]>,
    },
}

/// Why a command could not be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("table full")]
    Full,
    #[error("entry already exists")]
    Exists,
    #[error("no such entry")]
    NotFound,
}

/// One shard's receive tables.
pub struct Tables {
    sas: HashMap<u32, InboundSa>,
    sessions: HashMap<SessionKey, Session>,
    sa_capacity: usize,
    session_capacity: usize,
}

impl Tables {
    /// Preallocates both tables (see the module docs for the factor of two).
    pub fn new(sa_capacity: usize, session_capacity: usize) -> Self {
        Tables {
            sas: HashMap::with_capacity(sa_capacity.saturating_mul(2)),
            sessions: HashMap::with_capacity(session_capacity.saturating_mul(2)),
            sa_capacity,
            session_capacity,
        }
    }

    pub fn apply(&mut self, command: Command) -> Result<(), TableError> {
        match command {
            Command::InstallSa { spi, sa } => {
                if self.sas.contains_key(&spi) {
                    return Err(TableError::Exists);
                }
                if self.sas.len() >= self.sa_capacity {
                    return Err(TableError::Full);
                }
                self.sas.insert(spi, *sa);
                Ok(())
            }
            Command::RemoveSa { spi } => {
                self.sas.remove(&spi).map(drop).ok_or(TableError::NotFound)
            }
            Command::InstallSession { key, session } => {
                if self.sessions.contains_key(&key) {
                    return Err(TableError::Exists);
                }
                if self.sessions.len() >= self.session_capacity {
                    return Err(TableError::Full);
                }
                self.sessions.insert(key, session);
                Ok(())
            }
            Command::RemoveSession { key } => self
                .sessions
                .remove(&key)
                .map(drop)
                .ok_or(TableError::NotFound),
            Command::SetSessionIpv4 { key, ipv4 } => {
                let s = self.sessions.get_mut(&key).ok_or(TableError::NotFound)?;
                s.ipv4 = ipv4;
                Ok(())
            }
            Command::SetSessionIpv6 { key, prefix } => {
                let s = self.sessions.get_mut(&key).ok_or(TableError::NotFound)?;
                s.ipv6_prefix = prefix;
                Ok(())
            }
        }
    }

    #[inline]
    pub fn sa_mut(&mut self, spi: u32) -> Option<&mut InboundSa> {
        self.sas.get_mut(&spi)
    }

    pub fn sa(&self, spi: u32) -> Option<&InboundSa> {
        self.sas.get(&spi)
    }

    #[inline]
    pub fn session_mut(&mut self, key: SessionKey) -> Option<&mut Session> {
        self.sessions.get_mut(&key)
    }

    pub fn session(&self, key: SessionKey) -> Option<&Session> {
        self.sessions.get(&key)
    }

    pub fn sa_count(&self) -> usize {
        self.sas.len()
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_capacity_is_enforced() {
        let mut t = Tables::new(1, 2);
        let s = || Session::new(1, None, SessionFlags::default());
        for i in 0..2 {
            t.apply(Command::InstallSession {
                key: (1, i),
                session: s(),
            })
            .unwrap();
        }
        assert_eq!(
            t.apply(Command::InstallSession {
                key: (1, 9),
                session: s()
            }),
            Err(TableError::Full)
        );
        assert_eq!(
            t.apply(Command::InstallSession {
                key: (1, 0),
                session: s()
            }),
            Err(TableError::Exists)
        );
        t.apply(Command::RemoveSession { key: (1, 0) }).unwrap();
        assert_eq!(
            t.apply(Command::RemoveSession { key: (1, 0) }),
            Err(TableError::NotFound)
        );
        // Churn within capacity never needs to grow the map.
        let cap = t.sessions.capacity();
        for i in 10..1000 {
            t.apply(Command::InstallSession {
                key: (1, i),
                session: s(),
            })
            .unwrap();
            t.apply(Command::RemoveSession { key: (1, i) }).unwrap();
        }
        assert_eq!(t.sessions.capacity(), cap);
    }

    #[test]
    fn ipv6_source_check() {
        let mut s = Session::new(1, None, SessionFlags::default());
        let global: Ipv6Addr = "2001:db8:1:2::5".parse().unwrap();
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        assert!(!s.ipv6_source_allowed(global));
        s.ipv6_prefix = Some([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2]);
        assert!(s.ipv6_source_allowed(global));
        assert!(s.ipv6_source_allowed(ll));
        assert!(!s.ipv6_source_allowed("2001:db8:1:3::5".parse().unwrap()));
    }
}

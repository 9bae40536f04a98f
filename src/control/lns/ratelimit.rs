//! Per-subscriber rate limits on the control thread: which limit a session gets and
//! how it reaches the data plane (`dataplane::ratelimit`).
//!
//! - **Which**: RADIUS's, when the Access-Accept (or a CoA-Request, RFC 5176) carries
//!   one: `Mikrotik-Rate-Limit` first, then a `Filter-Id` in accel-ppp's convention
//!   (`aaa::ratelimit` documents both); otherwise `[ppp] rate_limit`; otherwise none.
//!   A value that does not parse is logged and ignored (the session keeps what it
//!   had): refusing a subscriber over a typo in one attribute would surprise more.
//! - **When**: once IPCP is up (no IP flows before), and again whenever a CoA changes
//!   it, live.
//! - **Where**: L2TP upload on the session's owner shard, L2TP download as one shared
//!   bucket on every shard's route to the subscriber; PPTP both ways on the call's
//!   owner shard.

use std::sync::Arc;
use std::time::Instant;

use super::{Lns, Sub};
use crate::aaa::ratelimit::{self, RateLimit};
use crate::dataplane::pptp::PPTP_ROUTE_TUNNEL;
use crate::dataplane::ratelimit::{Direction, Rate, SharedTokenBucket, TokenBucket};
use crate::dataplane::tables::Command;

/// A limit from RADIUS attributes: the first `Mikrotik-Rate-Limit` that parses, else
/// the first `Filter-Id` that does. `Err` names what did not parse.
pub(super) fn from_radius(
    mikrotik: &[Vec<u8>],
    filter_ids: &[Vec<u8>],
) -> Result<Option<RateLimit>, String> {
    let mut error = None;
    for m in mikrotik {
        let text = String::from_utf8_lossy(m);
        match ratelimit::parse_mikrotik(&text) {
            Ok(l) => return Ok(Some(l)),
            Err(e) => error = Some(format!("Mikrotik-Rate-Limit {text:?}: {e}")),
        }
    }
    for f in filter_ids {
        let text = String::from_utf8_lossy(f);
        if let Ok(l) = ratelimit::parse_filter_id(&text) {
            return Ok(Some(l));
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(None),
    }
}

/// `UP/DOWN` in bits per second for `show sessions` (`-` for no limit that way).
pub(super) fn describe(limit: &RateLimit) -> String {
    let one = |bps: u64| {
        if bps == 0 {
            "-".to_owned()
        } else if bps.is_multiple_of(1_000_000) {
            format!("{}M", bps / 1_000_000)
        } else if bps.is_multiple_of(1_000) {
            format!("{}k", bps / 1_000)
        } else {
            bps.to_string()
        }
    };
    format!("{}/{}", one(limit.up_bps), one(limit.down_bps))
}

/// The session's limit as `show sessions` prints it.
pub(super) fn session_rate(sub: &Sub) -> Option<String> {
    sub.rate.as_ref().map(describe)
}

impl Lns {
    /// Sends the session's current limit (or its absence) to the data plane.
    pub(super) fn apply_rate_limit(&mut self, now: Instant, tid: u16, sid: u16) {
        let Some(sub) = self.sub_mut(tid, sid) else {
            return;
        };
        let limit = sub.rate.unwrap_or_default();
        let (shard, address, routed) = (sub.shard, sub.address, sub.routed);
        let bucket = |l: Option<(u64, Option<u64>)>| {
            l.map(|(bps, burst)| TokenBucket::new(Rate::new(bps, burst), now))
        };
        if tid == PPTP_ROUTE_TUNNEL {
            for (direction, l) in [(Direction::Up, limit.up()), (Direction::Down, limit.down())] {
                self.prog.send(
                    &self.dp,
                    shard,
                    Command::SetCallLimit {
                        call_id: sid,
                        direction,
                        limit: bucket(l),
                    },
                );
            }
            return;
        }
        self.prog.send(
            &self.dp,
            shard,
            Command::SetSessionLimit {
                key: (tid, sid),
                up: bucket(limit.up()).map(Box::new),
            },
        );
        if let (Some(ipv4), true) = (address, routed) {
            let down = limit
                .down()
                .map(|(bps, burst)| Arc::new(SharedTokenBucket::new(Rate::new(bps, burst), now)));
            self.prog.broadcast(&self.dp, || Command::SetRouteLimit {
                ipv4,
                down: down.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radius_attributes_in_order_of_preference() {
        let m = vec![b"2M/8M".to_vec()];
        let f = vec![b"4096/1024".to_vec()];
        let l = from_radius(&m, &f).unwrap().unwrap();
        assert_eq!((l.up_bps, l.down_bps), (2_000_000, 8_000_000));
        assert_eq!(describe(&l), "2M/8M");
        // No MikroTik value: the Filter-Id (accel-ppp: download first, kbit/s).
        let l = from_radius(&[], &f).unwrap().unwrap();
        assert_eq!((l.up_bps, l.down_bps), (1_024_000, 4_096_000));
        assert_eq!(from_radius(&[], &[b"some-acl".to_vec()]), Ok(None));
        assert!(from_radius(&[b"fast please".to_vec()], &[]).is_err());
    }
}

#![no_main]
//! Rate-limit strings as RADIUS and the configuration deliver them: every parser must
//! refuse with a typed error or return a limit, never panic; what parses is then
//! turned into the data plane's buckets (clamped, never overflowing) and spent.
use libfuzzer_sys::fuzz_target;
use shardvpn::aaa::ratelimit::{parse_cisco_avpair, parse_config, parse_filter_id, parse_mikrotik};
use shardvpn::dataplane::ratelimit::{Rate, SharedTokenBucket, TokenBucket};
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let limits: [Option<shardvpn::aaa::ratelimit::RateLimit>; 4] = [
        parse_mikrotik(&text).ok(),
        parse_filter_id(&text).ok(),
        parse_config(&text).ok().flatten(),
        parse_cisco_avpair(&text).ok(),
    ];
    let now = Instant::now();
    for limit in limits.into_iter().flatten() {
        for (bps, burst) in [limit.up(), limit.down()].into_iter().flatten() {
            let rate = Rate::new(bps, burst);
            let mut local = TokenBucket::new(rate, now);
            let shared = SharedTokenBucket::new(rate, now);
            for (i, size) in [1usize, 64, 1500, 65535].into_iter().enumerate() {
                let at = now + Duration::from_millis(i as u64 * 7);
                assert_eq!(local.admit(at, size), shared.admit(at, size));
            }
        }
    }
});

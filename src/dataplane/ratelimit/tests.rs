use super::*;
use std::sync::Arc;
use std::time::Duration;

/// Offers `size`-byte packets every `interval` for `seconds` of simulated time;
/// returns the bytes admitted.
fn offer(
    bucket: &mut TokenBucket,
    epoch: Instant,
    size: usize,
    interval: Duration,
    seconds: u64,
) -> u64 {
    let mut admitted = 0u64;
    let mut t = Duration::ZERO;
    while t < Duration::from_secs(seconds) {
        if bucket.admit(epoch + t, size) {
            admitted += size as u64;
        }
        t += interval;
    }
    admitted
}

/// The interval that offers `size`-byte packets at `factor` × `bps`.
fn interval_for(bps: u64, size: usize, factor: u64) -> Duration {
    Duration::from_nanos((size as u64 * 8 * 1_000_000_000 / bps / factor).max(1))
}

fn assert_within(actual: u64, expected: u64, tolerance: f64, what: &str) {
    let err = (actual as f64 - expected as f64).abs() / expected as f64;
    assert!(
        err <= tolerance,
        "{what}: {actual} vs {expected} ({:.3}%)",
        err * 100.0
    );
}

#[test]
fn rate_is_within_one_percent_over_simulated_seconds() {
    let epoch = Instant::now();
    for (bps, size) in [
        (64_000, 1500),
        (1_000_000, 576),
        (10_000_000, 1500),
        (100_000_000, 64),
        (1_000_000_000, 1500),
        (10_000_000_000, 1500),
    ] {
        let rate = Rate::new(bps, None);
        let mut b = TokenBucket::new(rate, epoch);
        let seconds = 10;
        let admitted = offer(&mut b, epoch, size, interval_for(bps, size, 3), seconds);
        // A full bucket at the start, then the rate.
        let expected = bps / 8 * seconds + rate.burst_bytes();
        assert_within(admitted, expected, 0.01, &format!("{bps} bit/s, {size} B"));
        assert!(b.dropped().0 > 0);
    }
}

#[test]
fn under_the_rate_nothing_drops() {
    let epoch = Instant::now();
    let mut b = TokenBucket::new(Rate::new(10_000_000, None), epoch);
    // 95 % of the rate, evenly paced.
    let interval = Duration::from_nanos(1500 * 8 * 1_000_000_000 / 9_500_000);
    let admitted = offer(&mut b, epoch, 1500, interval, 5);
    assert_eq!(b.dropped(), (0, 0));
    assert!(admitted > 0);
}

#[test]
fn a_full_bucket_admits_its_burst_then_refills_at_the_rate() {
    let epoch = Instant::now();
    // 8 Mbit/s = 1 byte per microsecond; burst 10 000 bytes.
    let mut b = TokenBucket::new(Rate::new(8_000_000, Some(10_000)), epoch);
    assert_eq!(b.available(epoch), 10_000);
    for _ in 0..10 {
        assert!(b.admit(epoch, 1000));
    }
    assert!(!b.admit(epoch, 1000));
    assert!(!b.admit(epoch, 1));
    assert_eq!(b.dropped(), (2, 1001));
    // 999 µs refill 999 bytes: not enough for 1000.
    assert!(!b.admit(epoch + Duration::from_micros(999), 1000));
    assert!(b.admit(epoch + Duration::from_micros(1000), 1000));
    // Idle for a long time: full again, never more than the burst.
    let later = epoch + Duration::from_secs(3600);
    assert_eq!(b.available(later), 10_000);
    for _ in 0..10 {
        assert!(b.admit(later, 1000));
    }
    assert!(!b.admit(later, 1000));
}

#[test]
fn default_and_clamped_bursts() {
    // 100 ms of the rate.
    assert_eq!(Rate::new(80_000_000, None).burst_bytes(), 1_000_000);
    // Floor: a slow rate still passes full-size packets.
    assert_eq!(Rate::new(64_000, None).burst_bytes(), MIN_BURST_BYTES);
    assert_eq!(Rate::new(64_000, Some(100)).burst_bytes(), MIN_BURST_BYTES);
    assert_eq!(
        Rate::new(64_000, Some(u64::MAX)).burst_bytes(),
        MAX_BURST_BYTES
    );
    assert_eq!(Rate::new(0, None).bits_per_second(), MIN_RATE_BPS);
    assert_eq!(Rate::new(u64::MAX, None).bits_per_second(), MAX_RATE_BPS);
    // Extremes compute without overflow.
    let epoch = Instant::now();
    for rate in [
        Rate::new(0, Some(u64::MAX)),
        Rate::new(u64::MAX, Some(u64::MAX)),
        Rate::new(u64::MAX, Some(0)),
    ] {
        let mut b = TokenBucket::new(rate, epoch);
        assert!(b.admit(epoch, 1500));
        let _ = b.admit(epoch, usize::MAX);
        let _ = b.admit(epoch + Duration::from_secs(1 << 40), usize::MAX);
    }
}

#[test]
fn a_clock_before_the_epoch_counts_as_the_epoch() {
    let epoch = Instant::now() + Duration::from_secs(1);
    let mut b = TokenBucket::new(Rate::new(8_000_000, Some(6000)), epoch);
    assert!(b.admit(epoch - Duration::from_millis(500), 6000));
    assert!(!b.admit(epoch - Duration::from_millis(500), 1));
}

#[test]
fn shared_bucket_matches_the_local_one() {
    let epoch = Instant::now();
    let rate = Rate::new(5_000_000, Some(20_000));
    let mut local = TokenBucket::new(rate, epoch);
    let shared = SharedTokenBucket::new(rate, epoch);
    let mut t = Duration::ZERO;
    for i in 0..100_000u64 {
        let size = 64 + (i * 37 % 1437) as usize;
        assert_eq!(
            local.admit(epoch + t, size),
            shared.admit(epoch + t, size),
            "{i}"
        );
        t += Duration::from_micros(300);
    }
    assert_eq!(local.dropped(), shared.dropped());
    assert_eq!(local.available(epoch + t), shared.available(epoch + t));
}

#[test]
fn shared_bucket_from_two_threads_stays_within_its_limit() {
    let epoch = Instant::now();
    let bps = 100_000_000;
    let rate = Rate::new(bps, None);
    let bucket = Arc::new(SharedTokenBucket::new(rate, epoch));
    let seconds = 4;
    // Each thread alone offers twice the rate on its own simulated clock.
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let bucket = Arc::clone(&bucket);
            std::thread::spawn(move || {
                let interval = interval_for(bps, 1500, 2);
                let mut admitted = 0u64;
                let mut t = Duration::ZERO;
                while t < Duration::from_secs(seconds) {
                    if bucket.admit(epoch + t, 1500) {
                        admitted += 1500;
                    }
                    t += interval;
                }
                admitted
            })
        })
        .collect();
    let admitted: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let limit = bps / 8 * seconds + rate.burst_bytes();
    // Never above the limit (one packet of rounding), and the clocks' skew between
    // the threads may only cost, never add.
    assert!(admitted <= limit + 1500, "{admitted} > {limit}");
    assert!(
        admitted as f64 >= limit as f64 * 0.9,
        "{admitted} << {limit}"
    );
}

#[test]
fn sizes_stay_small() {
    // Memory per session (issue 8): the local bucket rides in Session/PptpCall, the
    // shared one is one cache line behind an Arc.
    assert!(core::mem::size_of::<TokenBucket>() <= 80);
    assert_eq!(
        core::mem::size_of::<Option<TokenBucket>>(),
        core::mem::size_of::<TokenBucket>()
    );
    assert!(core::mem::size_of::<SharedTokenBucket>() <= 128);
}

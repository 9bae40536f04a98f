use super::*;

fn limit(up_bps: u64, down_bps: u64, up_burst: Option<u64>, down_burst: Option<u64>) -> RateLimit {
    RateLimit {
        up_bps,
        down_bps,
        up_burst,
        down_burst,
    }
}

#[test]
fn mikrotik_rates_rx_is_upload_tx_is_download() {
    for (text, up, down) in [
        ("128k", 128_000, 128_000),
        ("64k/128M", 64_000, 128_000_000),
        ("2M/10M", 2_000_000, 10_000_000),
        ("1G/1G", 1_000_000_000, 1_000_000_000),
        ("512000/1024000", 512_000, 1_024_000),
        ("1.5M/2.25M", 1_500_000, 2_250_000),
        ("10m/20K", 10_000_000, 20_000),
        ("0/10M", 0, 10_000_000),
        ("  5M/6M  ", 5_000_000, 6_000_000),
        ("0", 0, 0),
    ] {
        assert_eq!(
            parse_mikrotik(text),
            Ok(limit(up, down, None, None)),
            "{text:?}"
        );
    }
    assert!(parse_mikrotik("0").unwrap().is_unlimited());
    assert_eq!(parse_mikrotik("0/10M").unwrap().up(), None);
    assert_eq!(
        parse_mikrotik("0/10M").unwrap().down(),
        Some((10_000_000, None))
    );
}

#[test]
fn mikrotik_bursts_become_bytes_above_the_rate() {
    // 64k 256k: burst to 256k, threshold = rate (64k), time 1 s:
    // (256k - 64k) × 1 × 64k / 256k / 8 = 6000 bytes.
    assert_eq!(
        parse_mikrotik("64k 256k"),
        Ok(limit(64_000, 64_000, Some(6000), Some(6000)))
    );
    // The documented full form: rx/tx rate, burst rate, threshold, time, priority,
    // min rate. Up: (4M-1M) × 10 s × 2M / 4M / 8 = 1_875_000 bytes; down:
    // (8M-2M) × 10 × 4M / 8M / 8 = 3_750_000.
    assert_eq!(
        parse_mikrotik("1M/2M 4M/8M 2M/4M 10/10 8 512k/1M"),
        Ok(limit(
            1_000_000,
            2_000_000,
            Some(1_875_000),
            Some(3_750_000)
        ))
    );
    // Times with units, tx repeating rx.
    assert_eq!(
        parse_mikrotik("1M 2M 1M 1m"),
        Ok(limit(
            1_000_000,
            1_000_000,
            Some(3_750_000),
            Some(3_750_000)
        ))
    );
    // A burst rate not above the rate is no burst.
    assert_eq!(
        parse_mikrotik("2M/2M 1M/2M"),
        Ok(limit(2_000_000, 2_000_000, None, None))
    );
    assert_eq!(
        parse_mikrotik("2M/2M 0/0 0/0 0/0 1"),
        Ok(limit(2_000_000, 2_000_000, None, None))
    );
}

#[test]
fn mikrotik_errors_are_typed() {
    use RateLimitError::*;
    for (text, error) in [
        ("", Empty),
        ("   ", Empty),
        ("fast", BadNumber(Field::Rate)),
        ("10x", BadSuffix(Field::Rate)),
        ("10MB", BadNumber(Field::Rate)),
        ("1/2/3", TooManyValues(Field::Rate)),
        ("/5M", BadNumber(Field::Rate)),
        ("5M/", BadNumber(Field::Rate)),
        (".5M", BadNumber(Field::Rate)),
        ("5.M", BadNumber(Field::Rate)),
        ("-5M", BadNumber(Field::Rate)),
        ("99999999999999999999", Overflow(Field::Rate)),
        ("18446744073709552G", Overflow(Field::Rate)),
        ("1M 2Q", BadSuffix(Field::BurstRate)),
        ("1M 2M x", BadNumber(Field::BurstThreshold)),
        ("1M 2M 1M 10d", BadNumber(Field::BurstTime)),
        ("1M 2M 1M 99999999999999999999h", Overflow(Field::BurstTime)),
        ("1M 2M 1M 10 0", BadPriority),
        ("1M 2M 1M 10 9", BadPriority),
        ("1M 2M 1M 10 1k", BadPriority),
        ("1M 2M 1M 10 8 2M", MinAboveRate),
        ("1M 2M 1M 10 8 1M 1", TooManyFields),
        ("1M\u{e9}", BadNumber(Field::Rate)),
    ] {
        assert_eq!(parse_mikrotik(text), Err(error), "{text:?}");
    }
}

#[test]
fn filter_id_is_accel_ppp_down_first_in_kbit() {
    for (text, up, down) in [
        ("1000", 1_000_000, 1_000_000),
        ("2000/3000", 3_000_000, 2_000_000),
        ("2000\\3000", 3_000_000, 2_000_000),
        ("2000:3000", 3_000_000, 2_000_000),
        (" 512 ", 512_000, 512_000),
        // With a suffix: bits per second, still down/up.
        ("20M/10M", 10_000_000, 20_000_000),
        ("20M/512", 512_000, 20_000_000),
    ] {
        assert_eq!(
            parse_filter_id(text),
            Ok(limit(up, down, None, None)),
            "{text:?}"
        );
    }
    use RateLimitError::*;
    for (text, error) in [
        ("", Empty),
        ("1,2000", TimeRange),
        ("web-only", BadNumber(Field::Rate)),
        ("1/2/3", TooManyValues(Field::Rate)),
        ("1000kbit", BadNumber(Field::Rate)),
        ("99999999999999999", Overflow(Field::Rate)),
    ] {
        assert_eq!(parse_filter_id(text), Err(error), "{text:?}");
    }
}

#[test]
fn config_form_is_upload_first_with_optional_bursts() {
    assert_eq!(parse_config(""), Ok(None));
    assert_eq!(parse_config("  "), Ok(None));
    assert_eq!(
        parse_config("10M/20M"),
        Ok(Some(limit(10_000_000, 20_000_000, None, None)))
    );
    assert_eq!(
        parse_config("10M"),
        Ok(Some(limit(10_000_000, 10_000_000, None, None)))
    );
    assert_eq!(
        parse_config("10M/20M 125k/250k"),
        Ok(Some(limit(
            10_000_000,
            20_000_000,
            Some(125_000),
            Some(250_000)
        )))
    );
    assert_eq!(
        parse_config("10M/20M 64000"),
        Ok(Some(limit(
            10_000_000,
            20_000_000,
            Some(64_000),
            Some(64_000)
        )))
    );
    use RateLimitError::*;
    assert_eq!(parse_config("10M/20M 1k 1"), Err(TooManyFields));
    assert_eq!(parse_config("10M/20M x"), Err(BadNumber(Field::Burst)));
    assert_eq!(parse_config("ten"), Err(BadNumber(Field::Rate)));
}

#[test]
fn truncations_of_a_full_value_never_panic() {
    let full = "1M/2M 4M/8M 2M/4M 10s/10s 8 512k/1M";
    for end in 0..=full.len() {
        let _ = parse_mikrotik(&full[..end]);
        let _ = parse_filter_id(&full[..end]);
        let _ = parse_config(&full[..end]);
    }
    let cisco = "lcp:interface-config#1=rate-limit input 2000000 8000 8000 conform-action";
    for end in 0..=cisco.len() {
        let _ = parse_cisco_avpair(&cisco[..end]);
    }
    // A long run of letters is refused without recursion or panic.
    let long = format!("1{}", "a".repeat(100_000));
    assert_eq!(
        parse_mikrotik(&long),
        Err(RateLimitError::BadNumber(Field::Rate))
    );
}

#[test]
fn cisco_avpair_rate_limit_names_one_direction() {
    let input = parse_cisco_avpair(
        "lcp:interface-config#1=rate-limit input 2000000 8000 8000 conform-action transmit \
         exceed-action drop",
    )
    .unwrap();
    assert_eq!(input, limit(2_000_000, 0, Some(8000), None));
    let output =
        parse_cisco_avpair("lcp:interface-config=rate-limit output 10000000 1250000 2500000")
            .unwrap();
    assert_eq!(output, limit(0, 10_000_000, None, Some(1_250_000)));
    assert_eq!(
        input.or(output),
        limit(2_000_000, 10_000_000, Some(8000), Some(1_250_000))
    );
    assert_eq!(input.or(output), output.or(input));
    // Without the attribute prefix too.
    assert_eq!(
        parse_cisco_avpair("rate-limit input 64000 6000 6000"),
        Ok(limit(64_000, 0, Some(6000), None))
    );
    use RateLimitError::*;
    for (text, error) in [
        ("", NotRateLimit),
        ("ip:addr-pool=main", NotRateLimit),
        ("lcp:interface-config=ip unnumbered lo0", NotRateLimit),
        (
            "lcp:interface-config=rate-limit sideways 1 2 3",
            NotRateLimit,
        ),
        (
            "lcp:interface-config=rate-limit input 2000000 8000",
            NotRateLimit,
        ),
        (
            "lcp:interface-config=rate-limit input access-group 1 2000000 8000 8000",
            AccessGroup,
        ),
        (
            "lcp:interface-config=rate-limit input fast 8000 8000",
            BadNumber(Field::Rate),
        ),
        (
            "lcp:interface-config=rate-limit input 2000000 8000 x",
            BadNumber(Field::Burst),
        ),
    ] {
        assert_eq!(parse_cisco_avpair(text), Err(error), "{text:?}");
    }
}

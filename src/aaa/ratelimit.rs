//! Per-subscriber rate limits as operators write them, parsed into one
//! [`RateLimit`]: what the control thread turns into the data plane's token buckets
//! (`crate::dataplane::ratelimit`). Pure parsing: no data plane, no I/O, no panics;
//! every refusal is a typed [`RateLimitError`].
//!
//! Three sources, three grammars:
//!
//! - **`Mikrotik-Rate-Limit`** (vendor 14988, attribute 8), [`parse_mikrotik`]:
//!   `rx-rate[/tx-rate] [rx-burst-rate[/tx-burst-rate] [rx-burst-threshold[/tx-burst-threshold]
//!   [rx-burst-time[/tx-burst-time] [priority] [rx-rate-min[/tx-rate-min]]]]]`. MikroTik
//!   names directions from the *router's* point of view: **rx is the client's upload,
//!   tx its download**, so `2M/10M` is 2 Mbit/s up and 10 Mbit/s down. A missing tx
//!   value repeats the rx one. Rates are bits per second with an optional `k`
//!   (×1 000), `M` (×1 000 000) or `G` (×10^9) suffix (either case; a decimal
//!   fraction such as `1.5M` is accepted); `0` means no limit for that direction.
//!   Burst times are seconds (an optional `s`, or `m`/`h`).
//!
//!   MikroTik's burst is not a bucket size: the client may go at `burst-rate` while
//!   its average over `burst-time` stays below `burst-threshold` (default: the rate;
//!   time default 1 s). We police with a token bucket, so the burst becomes the bytes
//!   such a burst sends *above* the rate: starting idle, the average reaches the
//!   threshold after `burst-time × threshold / burst-rate` seconds at `burst-rate`, so
//!   `burst bytes = (burst-rate − rate) × burst-time × threshold / burst-rate / 8`.
//!   No burst (or a burst rate not above the rate) leaves the burst to the data
//!   plane's default. `priority` (1..=8) and the minimum rates (at most the rate) are
//!   checked and otherwise ignored: a policer has no queues to prioritise.
//! - **`Filter-Id`** (RFC 2865 §5.11), [`parse_filter_id`]: accel-ppp's convention,
//!   which ISPs migrating from it already provision: `N` is N kbit/s both ways, and
//!   `DOWN/UP` is **download first**, in kbit/s (`2000/3000`: 2 Mbit/s down, 3 Mbit/s
//!   up); `\` and `:` also separate. As an extension a value with a suffix (`20M/10M`)
//!   is in bits per second like the other grammars; the order stays down/up.
//!   accel-ppp's time-range form (`1,2000`) is refused
//!   ([`RateLimitError::TimeRange`]); a Filter-Id that is not a rate at all (an ACL
//!   name) is [`RateLimitError::BadNumber`], which the caller may simply ignore.
//! - **`Cisco-AVPair`** (vendor 9, attribute 1), [`parse_cisco_avpair`]: the
//!   interface-config form accel-ppp also reads, `lcp:interface-config#1=rate-limit
//!   input 2000000 8000 8000 conform-action transmit exceed-action drop`: `input` is
//!   the subscriber's upload (into our interface), `output` its download; bits per
//!   second, then the normal burst in bytes (used as the bucket), then the maximum
//!   burst (checked, ignored). One pair names one direction; the caller combines the
//!   pairs of a reply with [`RateLimit::or`]. `access-group` (a per-ACL limit) is
//!   refused ([`RateLimitError::AccessGroup`]): we limit the whole session only.
//! - **Configuration** (`[ppp] rate_limit`, the default for every session),
//!   [`parse_config`]: `UP[/DOWN] [UP_BURST[/DOWN_BURST]]`, upload first as in
//!   MikroTik, rates in bits per second with the same suffixes, bursts in bytes with
//!   `k`/`M`/`G` meaning ×1 000 / ×10^6 / ×10^9 bytes. Empty: no default limit.
#![forbid(unsafe_code)]

/// A subscriber's limits: rates in bits per second (0: no limit that way) and bursts
/// in bytes (`None`: the data plane's default for the rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RateLimit {
    /// Subscriber → network.
    pub up_bps: u64,
    /// Network → subscriber.
    pub down_bps: u64,
    pub up_burst: Option<u64>,
    pub down_burst: Option<u64>,
}

impl RateLimit {
    /// Both directions unlimited.
    pub fn is_unlimited(&self) -> bool {
        self.up_bps == 0 && self.down_bps == 0
    }

    /// The upload rate and burst, if limited.
    pub fn up(&self) -> Option<(u64, Option<u64>)> {
        (self.up_bps != 0).then_some((self.up_bps, self.up_burst))
    }

    /// The download rate and burst, if limited.
    pub fn down(&self) -> Option<(u64, Option<u64>)> {
        (self.down_bps != 0).then_some((self.down_bps, self.down_burst))
    }

    /// Each direction from `self` if limited there, else from `other` (to combine
    /// the two one-direction `Cisco-AVPair`s of a reply).
    pub fn or(self, other: RateLimit) -> RateLimit {
        let (up_bps, up_burst) = self.up().unwrap_or((other.up_bps, other.up_burst));
        let (down_bps, down_burst) = self.down().unwrap_or((other.down_bps, other.down_burst));
        RateLimit {
            up_bps,
            down_bps,
            up_burst,
            down_burst,
        }
    }
}

/// The part of a rate-limit string an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Rate,
    BurstRate,
    BurstThreshold,
    BurstTime,
    Priority,
    MinRate,
    Burst,
}

impl core::fmt::Display for Field {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Field::Rate => "rate",
            Field::BurstRate => "burst rate",
            Field::BurstThreshold => "burst threshold",
            Field::BurstTime => "burst time",
            Field::Priority => "priority",
            Field::MinRate => "minimum rate",
            Field::Burst => "burst",
        })
    }
}

/// Why a rate-limit string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    #[error("empty rate limit")]
    Empty,
    #[error("{0}: not a number")]
    BadNumber(Field),
    #[error("{0}: unknown unit suffix")]
    BadSuffix(Field),
    #[error("{0}: too large")]
    Overflow(Field),
    #[error("{0}: more than two values (one per direction)")]
    TooManyValues(Field),
    #[error("more fields than the format has")]
    TooManyFields,
    #[error("priority must be 1..=8")]
    BadPriority,
    #[error("minimum rate above the rate")]
    MinAboveRate,
    #[error("time-range rate limits (accel-ppp `id,rate`) are not supported")]
    TimeRange,
    #[error("not a `rate-limit input|output BPS NORMAL MAX ...` interface command")]
    NotRateLimit,
    #[error("rate-limit access-group (per-ACL limits) is not supported")]
    AccessGroup,
}

type Result<T> = core::result::Result<T, RateLimitError>;

/// Splits `a[/b]` (or another of `separators`) into its one or two parts.
fn pair<'a>(
    text: &'a str,
    separators: &[char],
    field: Field,
) -> Result<(&'a str, Option<&'a str>)> {
    let mut parts = text.split(separators);
    let first = parts.next().unwrap_or("");
    let second = parts.next();
    if parts.next().is_some() {
        return Err(RateLimitError::TooManyValues(field));
    }
    Ok((first, second))
}

/// A decimal number with an optional fraction and an optional `k`/`M`/`G` suffix
/// (either case), times `unit` when it has no suffix. Returns the value and whether a
/// suffix was given.
fn number(text: &str, unit: u64, field: Field) -> Result<(u64, bool)> {
    let (digits, multiplier, suffixed) = match text.as_bytes().last() {
        Some(b'k' | b'K') => (&text[..text.len() - 1], 1_000u64, true),
        Some(b'm' | b'M') => (&text[..text.len() - 1], 1_000_000, true),
        Some(b'g' | b'G') => (&text[..text.len() - 1], 1_000_000_000, true),
        _ => (text, unit, false),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let is_number = |s: &str| match s.split_once('.') {
        Some((whole, fraction)) => all_digits(whole) && all_digits(fraction),
        None => all_digits(s),
    };
    if !is_number(digits) {
        // "10x": a number with a unit we do not know; anything else is no number.
        let unknown_unit = text
            .char_indices()
            .last()
            .is_some_and(|(i, c)| c.is_ascii_alphabetic() && is_number(&text[..i]));
        return Err(if !suffixed && unknown_unit {
            RateLimitError::BadSuffix(field)
        } else {
            RateLimitError::BadNumber(field)
        });
    }
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let overflow = RateLimitError::Overflow(field);
    let mut value: u64 = 0;
    for b in whole.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(overflow)?;
    }
    let mut value = value.checked_mul(multiplier).ok_or(overflow)?;
    // The fraction, digit by digit, as far as the multiplier has precision.
    let mut scale = multiplier;
    for b in fraction.bytes() {
        scale /= 10;
        value = value
            .checked_add(u64::from(b - b'0') * scale)
            .ok_or(overflow)?;
    }
    Ok((value, suffixed))
}

/// `a[/b]` of rates: (rx/up or first, second defaulting to the first).
fn rate_pair(text: &str, field: Field) -> Result<(u64, u64)> {
    let (a, b) = pair(text, &['/'], field)?;
    let a = number(a, 1, field)?.0;
    let b = match b {
        Some(b) => number(b, 1, field)?.0,
        None => a,
    };
    Ok((a, b))
}

/// Seconds with an optional `s`, `m` or `h` unit.
fn seconds(text: &str) -> Result<u64> {
    let field = Field::BurstTime;
    let (digits, unit) = match text.as_bytes().last() {
        Some(b's') => (&text[..text.len() - 1], 1),
        Some(b'm') => (&text[..text.len() - 1], 60),
        Some(b'h') => (&text[..text.len() - 1], 3600),
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RateLimitError::BadNumber(field));
    }
    let value: u64 = digits
        .parse()
        .map_err(|_| RateLimitError::Overflow(field))?;
    value
        .checked_mul(unit)
        .ok_or(RateLimitError::Overflow(field))
}

/// The bytes a MikroTik burst sends above `rate` (module docs); `None`: no burst.
fn mikrotik_burst(rate: u64, burst_rate: u64, threshold: u64, time: u64) -> Option<u64> {
    if rate == 0 || burst_rate <= rate {
        return None;
    }
    let bits = u128::from(burst_rate - rate) * u128::from(time) * u128::from(threshold)
        / u128::from(burst_rate);
    Some(u64::try_from(bits / 8).unwrap_or(u64::MAX))
}

/// A `Mikrotik-Rate-Limit` value (module docs: rx = upload, tx = download).
pub fn parse_mikrotik(text: &str) -> Result<RateLimit> {
    let mut fields = text.split_ascii_whitespace();
    let (up, down) = rate_pair(fields.next().ok_or(RateLimitError::Empty)?, Field::Rate)?;
    let burst_rates = fields
        .next()
        .map(|f| rate_pair(f, Field::BurstRate))
        .transpose()?;
    let thresholds = fields
        .next()
        .map(|f| rate_pair(f, Field::BurstThreshold))
        .transpose()?;
    let times = match fields.next() {
        Some(f) => {
            let (a, b) = pair(f, &['/'], Field::BurstTime)?;
            let a = seconds(a)?;
            Some((a, b.map(seconds).transpose()?.unwrap_or(a)))
        }
        None => None,
    };
    if let Some(p) = fields.next() {
        match number(p, 1, Field::Priority) {
            Ok((1..=8, false)) => {}
            _ => return Err(RateLimitError::BadPriority),
        }
    }
    if let Some(m) = fields.next() {
        let (min_up, min_down) = rate_pair(m, Field::MinRate)?;
        if (up != 0 && min_up > up) || (down != 0 && min_down > down) {
            return Err(RateLimitError::MinAboveRate);
        }
    }
    if fields.next().is_some() {
        return Err(RateLimitError::TooManyFields);
    }
    let (up_burst, down_burst) = match burst_rates {
        Some((burst_up, burst_down)) => {
            let (threshold_up, threshold_down) = thresholds.unwrap_or((up, down));
            let (time_up, time_down) = times.unwrap_or((1, 1));
            (
                mikrotik_burst(up, burst_up, threshold_up, time_up),
                mikrotik_burst(down, burst_down, threshold_down, time_down),
            )
        }
        None => (None, None),
    };
    Ok(RateLimit {
        up_bps: up,
        down_bps: down,
        up_burst,
        down_burst,
    })
}

/// A `Filter-Id` value in accel-ppp's convention (module docs: download first, kbit/s
/// without a suffix).
pub fn parse_filter_id(text: &str) -> Result<RateLimit> {
    let text = text.trim();
    if text.is_empty() {
        return Err(RateLimitError::Empty);
    }
    if text.contains(',') {
        return Err(RateLimitError::TimeRange);
    }
    let (down, up) = pair(text, &['/', '\\', ':'], Field::Rate)?;
    let down = number(down, 1_000, Field::Rate)?.0;
    let up = match up {
        Some(up) => number(up, 1_000, Field::Rate)?.0,
        None => down,
    };
    Ok(RateLimit {
        up_bps: up,
        down_bps: down,
        up_burst: None,
        down_burst: None,
    })
}

/// A `Cisco-AVPair` value carrying a `rate-limit` interface command (module docs);
/// the result limits one direction.
pub fn parse_cisco_avpair(text: &str) -> Result<RateLimit> {
    // "lcp:interface-config#1=rate-limit ...": the command follows the first '='.
    let command = text.split_once('=').map_or(text, |(_, c)| c);
    let mut words = command.split_ascii_whitespace();
    if words.next() != Some("rate-limit") {
        return Err(RateLimitError::NotRateLimit);
    }
    let upload = match words.next() {
        Some("input") => true,
        Some("output") => false,
        _ => return Err(RateLimitError::NotRateLimit),
    };
    let mut bps = words.next().ok_or(RateLimitError::NotRateLimit)?;
    if bps == "access-group" {
        return Err(RateLimitError::AccessGroup);
    }
    let rate = number(bps, 1, Field::Rate)?.0;
    bps = words.next().ok_or(RateLimitError::NotRateLimit)?;
    let burst = number(bps, 1, Field::Burst)?.0;
    let max = words.next().ok_or(RateLimitError::NotRateLimit)?;
    number(max, 1, Field::Burst)?;
    // The actions (conform-action transmit exceed-action drop) are what we do anyway.
    let (up_bps, down_bps) = if upload { (rate, 0) } else { (0, rate) };
    let burst = (rate != 0).then_some(burst);
    Ok(RateLimit {
        up_bps,
        down_bps,
        up_burst: if upload { burst } else { None },
        down_burst: if upload { None } else { burst },
    })
}

/// The `[ppp] rate_limit` string (module docs: upload first); `Ok(None)` when empty.
pub fn parse_config(text: &str) -> Result<Option<RateLimit>> {
    let mut fields = text.split_ascii_whitespace();
    let Some(rates) = fields.next() else {
        return Ok(None);
    };
    let (up_bps, down_bps) = rate_pair(rates, Field::Rate)?;
    let (up_burst, down_burst) = match fields.next() {
        Some(b) => {
            let (a, b) = pair(b, &['/'], Field::Burst)?;
            let a = number(a, 1, Field::Burst)?.0;
            let b = b.map(|b| number(b, 1, Field::Burst)).transpose()?;
            (Some(a), Some(b.map_or(a, |b| b.0)))
        }
        None => (None, None),
    };
    if fields.next().is_some() {
        return Err(RateLimitError::TooManyFields);
    }
    Ok(Some(RateLimit {
        up_bps,
        down_bps,
        up_burst,
        down_burst,
    }))
}

#[cfg(test)]
mod tests;

//! `[limits]`: admission control. A call refused by a limit gets a CDN with a result
//! code, never silence (issue 4).

use serde::{Deserialize, Serialize};

use super::validate::{Validator, integer};

/// Upper bound on `max_sessions` and `max_starting`.
pub const MAX_GLOBAL_SESSIONS: u32 = 16_000_000;
/// L2TP session IDs are 16 bits and zero is reserved (RFC 2661 §3.1).
pub const MAX_SESSIONS_PER_TUNNEL: u32 = 65535;

/// `[limits]`: see `config/default.toml` for what each key means.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of limits")]
pub struct LimitsConfig {
    /// Sessions in any state, concentrator-wide.
    #[serde(deserialize_with = "integer::<_, u32, 1, {MAX_GLOBAL_SESSIONS as i64}>")]
    pub max_sessions: u32,
    /// Sessions still negotiating (LCP, authentication, IPCP) at once.
    #[serde(deserialize_with = "integer::<_, u32, 1, {MAX_GLOBAL_SESSIONS as i64}>")]
    pub max_starting: u32,
    /// Sessions in one L2TP tunnel.
    #[serde(deserialize_with = "integer::<_, u32, 1, {MAX_SESSIONS_PER_TUNNEL as i64}>")]
    pub max_sessions_per_tunnel: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_sessions: 100_000,
            max_starting: 1000,
            max_sessions_per_tunnel: MAX_SESSIONS_PER_TUNNEL,
        }
    }
}

impl LimitsConfig {
    /// `max_starting`, clamped to `max_sessions`: a small `max_sessions` alone must not
    /// force an operator to lower `max_starting` too, so a larger value is not an error.
    pub fn effective_max_starting(&self) -> u32 {
        self.max_starting.min(self.max_sessions)
    }

    pub(crate) fn validate(&self, v: &mut Validator<'_>) {
        v.in_range("max_sessions", self.max_sessions, 1, MAX_GLOBAL_SESSIONS);
        v.in_range("max_starting", self.max_starting, 1, MAX_GLOBAL_SESSIONS);
        v.in_range(
            "max_sessions_per_tunnel",
            self.max_sessions_per_tunnel,
            1,
            MAX_SESSIONS_PER_TUNNEL,
        );
    }
}

//! `[pptp]`: PPTP (RFC 2637) with MPPE (RFC 3078/3079): whether it is offered at all,
//! the encryption it insists on, and the control connection's timers and limits.
//!
//! Decisions:
//! - **Off by default.** PPTP's security rests on MS-CHAPv2, whose handshake can be
//!   brute-forced to the NT hash offline in a day with a captured exchange, and MPPE
//!   (RC4) has no integrity protection. An operator turns it on for the subscribers
//!   and routers that can do nothing else (older Windows builds, Yamaha RTX, MikroTik
//!   and many CPE), preferably only for them, with L2TP/IPsec offered beside it.
//! - `mppe = "require"` (default) refuses a call that does not negotiate MPPE; with
//!   it, MS-CHAPv2 is the only authentication (MPPE keys come from it).
//!   `mppe = "none"` is refused unless `allow_unencrypted` says so, for the same
//!   reason; PAP and CHAP over PPTP need `allow_pap_chap` as well.
//! - `mppe_strength = ["128"]` (default): 40-bit keys only if listed. `stateless`
//!   (default true) is what Windows prefers: a new key per packet, no
//!   resynchronisation after loss.

use serde::{Deserialize, Serialize};

use super::validate::{Validator, integer};

/// `mppe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MppeRequirement {
    /// Calls without MPPE are refused.
    Require,
    /// Offered; a client that refuses it still connects (needs `allow_unencrypted`).
    Optional,
    /// Never negotiated (needs `allow_unencrypted`).
    None,
}

/// `[pptp]`: see `config/default.toml` for what each key means.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of PPTP settings")]
pub struct PptpSection {
    pub enabled: bool,
    pub mppe: MppeRequirement,
    /// Key lengths accepted: "128" and/or "40".
    pub mppe_strength: Vec<String>,
    /// Prefer stateless MPPE (a new key for every packet).
    pub stateless: bool,
    /// Allow calls without encryption (`mppe` other than "require").
    pub allow_unencrypted: bool,
    /// Allow PAP and CHAP-MD5 over PPTP (only meaningful without required MPPE).
    pub allow_pap_chap: bool,
    /// Seconds of silence on a control connection before an Echo-Request (RFC 2637
    /// §3.1.4: 60), and again before the peer is declared dead.
    #[serde(deserialize_with = "integer::<_, u32, 5, 3600>")]
    pub echo_interval: u32,
    /// Calls one control connection may carry.
    #[serde(deserialize_with = "integer::<_, u32, 1, 65535>")]
    pub max_calls_per_connection: u32,
    /// Control connections at once.
    #[serde(deserialize_with = "integer::<_, u32, 1, 1000000>")]
    pub max_connections: u32,
}

impl Default for PptpSection {
    fn default() -> Self {
        PptpSection {
            enabled: false,
            mppe: MppeRequirement::Require,
            mppe_strength: vec!["128".to_owned()],
            stateless: true,
            allow_unencrypted: false,
            allow_pap_chap: false,
            echo_interval: 60,
            max_calls_per_connection: 16,
            max_connections: 100_000,
        }
    }
}

impl PptpSection {
    /// Whether 40-bit / 128-bit MPPE keys are accepted.
    pub fn strengths(&self) -> (bool, bool) {
        let has = |s: &str| self.mppe_strength.iter().any(|m| m == s);
        (has("40"), has("128"))
    }

    pub(crate) fn validate(&self, v: &mut Validator<'_>) {
        for (i, s) in self.mppe_strength.iter().enumerate() {
            if s != "40" && s != "128" {
                v.error_at_index(
                    "mppe_strength",
                    i,
                    format!("\"{s}\" is not an MPPE key length (\"40\" or \"128\")"),
                );
            } else if self.mppe_strength[..i].contains(s) {
                v.error_at_index("mppe_strength", i, format!("\"{s}\" is listed twice"));
            }
        }
        if self.mppe != MppeRequirement::None && self.mppe_strength.is_empty() {
            v.error(
                "mppe_strength",
                "must list a key length (\"128\", \"40\") unless pptp.mppe = \"none\"",
            );
        }
        if self.mppe != MppeRequirement::Require && !self.allow_unencrypted {
            v.error(
                "mppe",
                "calls without encryption need pptp.allow_unencrypted = true (PPTP without \
                 MPPE sends everything in clear text)",
            );
        }
        if self.allow_pap_chap && self.mppe == MppeRequirement::Require {
            v.error(
                "allow_pap_chap",
                "MPPE keys come from MS-CHAPv2: with pptp.mppe = \"require\" PAP and CHAP \
                 cannot be allowed",
            );
        }
        v.in_range("echo_interval", self.echo_interval, 5, 3600);
        v.in_range(
            "max_calls_per_connection",
            self.max_calls_per_connection,
            1,
            65535,
        );
        v.in_range("max_connections", self.max_connections, 1, 1_000_000);
    }
}

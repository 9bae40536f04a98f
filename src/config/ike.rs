//! `[ike]`: IKEv1 for L2TP/IPsec (RFC 2409): pre-shared keys (a default and
//! `[[ike.peer]]` by address or ID), the proposals accepted in Main Mode and Quick
//! Mode, the legacy switch, PFS, lifetimes, NAT-T, DPD, retransmission and the
//! half-open admission limits. [`IkeConfig::policy`] turns it into the engine's
//! [`IkePolicy`].
//!
//! Decisions:
//! - `psk` empty and no `[[ike.peer]]`: IKE is answered but every client fails
//!   authentication (logged) — the daemon never ships a known key. The embedded
//!   default runs this way; an operator sets a key.
//! - Proposals use strongSwan's syntax (`aes256-sha256-modp2048`, `aes128gcm16`), so
//!   operators can copy them from client configs. A PFS suffix on an ESP proposal is
//!   refused here: which PFS groups the responder accepts is `pfs_groups`.
//! - `legacy = true` by default: Windows, older macOS and Android still offer 3DES and
//!   MODP-1024; each use is logged. MD5 has its own switch, off.

use serde::{Deserialize, Serialize};

use super::net::{IpNetwork, Secret};
use super::validate::{Validator, integer};
use crate::crypto::ike::DhGroup;
use crate::proto::ike::policy::{
    self, EspProposal, IkePolicy, Pfs, Phase1Proposal, Psk, PskSelector,
};

/// Bounds (seconds, counts).
pub const MIN_PHASE1_LIFETIME: u32 = 60;
pub const MAX_PHASE1_LIFETIME: u32 = 7 * 86400;
pub const MIN_PHASE2_LIFETIME: u32 = 60;
pub const MAX_PHASE2_LIFETIME: u32 = 86400;
pub const MAX_DPD_INTERVAL: u32 = 3600;
pub const MAX_DPD_TIMEOUT: u32 = 86400;
pub const MAX_IKE_RETRIES: u32 = 20;
pub const MAX_HALF_OPEN: u32 = 1_000_000;

/// `pfs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PfsPolicy {
    Optional,
    Required,
    Refused,
}

/// One `[[ike.peer]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table with `address` or `id`, and `psk`"
)]
pub struct IkePeer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpNetwork>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub psk: Secret,
}

/// `[ike]`: see `config/default.toml` for what each key means.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of IKE settings")]
pub struct IkeConfig {
    pub enabled: bool,
    /// The pre-shared key for clients no `[[ike.peer]]` names; empty: none.
    pub psk: Secret,
    pub proposals: Vec<String>,
    pub esp_proposals: Vec<String>,
    pub legacy: bool,
    pub allow_md5: bool,
    pub pfs: PfsPolicy,
    pub pfs_groups: Vec<String>,
    #[serde(
        deserialize_with = "integer::<_, u32, {MIN_PHASE1_LIFETIME as i64}, {MAX_PHASE1_LIFETIME as i64}>"
    )]
    pub phase1_lifetime: u32,
    #[serde(
        deserialize_with = "integer::<_, u32, {MIN_PHASE2_LIFETIME as i64}, {MAX_PHASE2_LIFETIME as i64}>"
    )]
    pub phase2_lifetime: u32,
    pub phase2_lifetime_kb: u64,
    pub nat_t: bool,
    #[serde(deserialize_with = "integer::<_, u32, 0, {MAX_DPD_INTERVAL as i64}>")]
    pub dpd_interval: u32,
    #[serde(deserialize_with = "integer::<_, u32, 1, {MAX_DPD_TIMEOUT as i64}>")]
    pub dpd_timeout: u32,
    #[serde(deserialize_with = "integer::<_, u32, 100, 60000>")]
    pub retransmit_initial_ms: u32,
    #[serde(deserialize_with = "integer::<_, u32, 1, {MAX_IKE_RETRIES as i64}>")]
    pub retransmit_retries: u32,
    #[serde(deserialize_with = "integer::<_, u32, 1, {MAX_HALF_OPEN as i64}>")]
    pub max_half_open: u32,
    #[serde(deserialize_with = "integer::<_, u32, 1, 65535>")]
    pub max_half_open_per_address: u32,
    /// `[[ike.peer]]`; last so that TOML serialization writes it after the keys.
    pub peer: Vec<IkePeer>,
}

fn group_of(name: &str) -> Option<DhGroup> {
    policy::group_of(name).ok()
}

impl Default for IkeConfig {
    fn default() -> Self {
        let d = IkePolicy::default();
        IkeConfig {
            enabled: true,
            psk: Secret::default(),
            proposals: policy::DEFAULT_PHASE1
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            esp_proposals: policy::DEFAULT_ESP
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            legacy: d.legacy,
            allow_md5: d.allow_md5,
            pfs: PfsPolicy::Optional,
            pfs_groups: d
                .pfs_groups
                .iter()
                .map(|g| policy::group_name(*g).to_owned())
                .collect(),
            phase1_lifetime: d.phase1_lifetime.as_secs() as u32,
            phase2_lifetime: d.phase2_lifetime.as_secs() as u32,
            phase2_lifetime_kb: d.phase2_lifetime_kb,
            nat_t: d.nat_t,
            dpd_interval: d.dpd_interval.as_secs() as u32,
            dpd_timeout: d.dpd_timeout.as_secs() as u32,
            retransmit_initial_ms: d.retransmit_initial.as_millis() as u32,
            retransmit_retries: d.retransmit_retries,
            max_half_open: 5000,
            max_half_open_per_address: 64,
            peer: Vec::new(),
        }
    }
}

impl IkeConfig {
    /// The engine's policy. Call on a validated config: entries that do not parse
    /// (refused by validation) are skipped.
    pub fn policy(&self) -> IkePolicy {
        let secs = |s: u32| std::time::Duration::from_secs(u64::from(s));
        let key = |s: &Secret| zeroize::Zeroizing::new(s.expose().as_bytes().to_vec());
        IkePolicy {
            phase1: self
                .proposals
                .iter()
                .filter_map(|p| p.parse().ok())
                .collect(),
            esp: self
                .esp_proposals
                .iter()
                .filter_map(|p| p.parse().ok())
                .collect(),
            legacy: self.legacy,
            allow_md5: self.allow_md5,
            psks: self
                .peer
                .iter()
                .filter_map(|p| {
                    let selector = match (&p.address, &p.id) {
                        (Some(net), None) => PskSelector::Network {
                            addr: net.address,
                            prefix: net.prefix_len,
                        },
                        (None, Some(id)) => PskSelector::Id(id.clone()),
                        _ => return None,
                    };
                    Some(Psk {
                        selector,
                        secret: key(&p.psk),
                    })
                })
                .collect(),
            default_psk: (!self.psk.is_empty()).then(|| key(&self.psk)),
            pfs: match self.pfs {
                PfsPolicy::Optional => Pfs::Optional,
                PfsPolicy::Required => Pfs::Required,
                PfsPolicy::Refused => Pfs::Refused,
            },
            pfs_groups: self.pfs_groups.iter().filter_map(|g| group_of(g)).collect(),
            phase1_lifetime: secs(self.phase1_lifetime),
            phase2_lifetime: secs(self.phase2_lifetime),
            phase2_lifetime_kb: self.phase2_lifetime_kb,
            nat_t: self.nat_t,
            dpd_interval: secs(self.dpd_interval),
            dpd_timeout: secs(self.dpd_timeout),
            retransmit_initial: std::time::Duration::from_millis(u64::from(
                self.retransmit_initial_ms,
            )),
            retransmit_retries: self.retransmit_retries,
        }
    }

    pub(crate) fn validate(&self, v: &mut Validator<'_>) {
        let mut usable = 0;
        for (i, p) in self.proposals.iter().enumerate() {
            match p.parse::<Phase1Proposal>() {
                Err(e) => v.error_at_index("proposals", i, e.to_string()),
                Ok(p) if (self.legacy || !p.is_legacy()) && (self.allow_md5 || !p.uses_md5()) => {
                    usable += 1
                }
                Ok(_) => {}
            }
        }
        if self.proposals.is_empty() {
            v.error("proposals", "must list at least one proposal");
        } else if usable == 0
            && v_ok(
                self.proposals
                    .iter()
                    .map(|p| p.parse::<Phase1Proposal>().is_ok()),
            )
        {
            v.error(
                "proposals",
                "no proposal is usable: every one needs ike.legacy or ike.allow_md5",
            );
        }
        let mut usable = 0;
        for (i, p) in self.esp_proposals.iter().enumerate() {
            match p.parse::<EspProposal>() {
                Err(e) => v.error_at_index("esp_proposals", i, e.to_string()),
                Ok(e) if e.pfs.is_some() => v.error_at_index(
                    "esp_proposals",
                    i,
                    format!(
                        "\"{p}\": a PFS group does not belong here (the groups accepted are \
                         ike.pfs_groups)"
                    ),
                ),
                Ok(e) if self.legacy || !e.is_legacy() => usable += 1,
                Ok(_) => {}
            }
        }
        if self.esp_proposals.is_empty() {
            v.error("esp_proposals", "must list at least one proposal");
        } else if usable == 0
            && v_ok(
                self.esp_proposals
                    .iter()
                    .map(|p| p.parse::<EspProposal>().is_ok_and(|e| e.pfs.is_none())),
            )
        {
            v.error(
                "esp_proposals",
                "no proposal is usable: every one needs ike.legacy",
            );
        }
        for (i, g) in self.pfs_groups.iter().enumerate() {
            if group_of(g).is_none() {
                v.error_at_index(
                    "pfs_groups",
                    i,
                    format!("unknown group \"{g}\" (modp1024, modp1536, modp2048, ecp256, ecp384)"),
                );
            }
        }
        if self.pfs == PfsPolicy::Required && self.pfs_groups.is_empty() {
            v.error(
                "pfs_groups",
                "must not be empty when ike.pfs = \"required\"",
            );
        }
        v.in_range(
            "phase1_lifetime",
            self.phase1_lifetime,
            MIN_PHASE1_LIFETIME,
            MAX_PHASE1_LIFETIME,
        );
        v.in_range(
            "phase2_lifetime",
            self.phase2_lifetime,
            MIN_PHASE2_LIFETIME,
            MAX_PHASE2_LIFETIME,
        );
        v.in_range("dpd_interval", self.dpd_interval, 0, MAX_DPD_INTERVAL);
        if self.dpd_interval != 0 && self.dpd_timeout <= self.dpd_interval {
            v.error(
                "dpd_timeout",
                format!(
                    "must be longer than ike.dpd_interval ({} s), not {}",
                    self.dpd_interval, self.dpd_timeout
                ),
            );
        }
        v.in_range(
            "retransmit_initial_ms",
            self.retransmit_initial_ms,
            100,
            60000,
        );
        v.in_range(
            "retransmit_retries",
            self.retransmit_retries,
            1,
            MAX_IKE_RETRIES,
        );
        v.in_range("max_half_open", self.max_half_open, 1, MAX_HALF_OPEN);
        v.in_range(
            "max_half_open_per_address",
            self.max_half_open_per_address,
            1,
            65535,
        );
        for (i, p) in self.peer.iter().enumerate() {
            v.section("peer", |v| {
                v.element(i, |v| {
                    match (&p.address, &p.id) {
                        (Some(_), Some(_)) => v.error("id", "give either address or id, not both"),
                        (None, None) => v.error("psk", "needs an address or an id"),
                        (None, Some(id)) if id.is_empty() => v.error("id", "must not be empty"),
                        _ => {}
                    }
                    if p.psk.is_empty() {
                        v.error("psk", "must not be empty");
                    }
                });
            });
        }
    }
}

/// Whether every item is true (so that "nothing usable" is only reported when
/// each entry parsed: a typo already has its own error).
fn v_ok(mut items: impl Iterator<Item = bool>) -> bool {
    items.all(|ok| ok)
}

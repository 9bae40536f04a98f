//! What an IKEv1 peer may negotiate: phase-1 proposals (RFC 2409 Appendix A), ESP
//! proposals (RFC 2407 §4.5), pre-shared keys and timers. Shared by the responder
//! (from `[ike]` in the config), the initiator (loadgen's `--ike-proposal` /
//! `--esp-proposal`) and the tests.
//!
//! Proposals are written the way strongSwan's `ike=` / `esp=` keywords write them,
//! because that is what operators already know:
//! - phase 1: `ENC-HASH-GROUP`, e.g. `aes256-sha256-modp2048`, `3des-sha1-modp1024`,
//!   `aes128-sha1-ecp256`; ENC is `aes128`/`aes192`/`aes256`/`3des`, HASH is
//!   `md5`/`sha1`/`sha256`/`sha384`/`sha512`, GROUP is `modp1024`/`modp1536`/
//!   `modp2048`/`ecp256`/`ecp384`;
//! - ESP: `aes128gcm16` / `aes256gcm16` (RFC 4106, no separate integrity), or
//!   `ENC-INTEG` with ENC `aes128`/`aes256`/`3des` and INTEG `sha1` (HMAC-SHA1-96),
//!   `sha256` (HMAC-SHA-256-128, RFC 4868), `sha384`, `sha512`, or `sha256_96`
//!   (the truncated draft length some Android versions use); an optional `-PFSGROUP`
//!   suffix is accepted by the parser for loadgen and ignored by the responder, which
//!   takes the initiator's PFS group from `pfs_groups`.
//!
//! Decisions:
//! - **Legacy**: 3DES (phase 1 and ESP), MODP-1024 and MODP-1536 are weak but still
//!   what older Windows, macOS and Android builds offer; they sit in the default list
//!   and are usable while [`IkePolicy::legacy`] is on (the default, for remote-access
//!   compatibility); each use is reported by the engine so the control thread can log
//!   it. MD5 needs its own switch ([`IkePolicy::allow_md5`], off).
//! - **Order**: the responder takes the *initiator's* first proposal that our list
//!   contains (RFC 2409 §5: the initiator orders by preference), so the configured
//!   list is a set; the initiator offers its list in order.

use core::fmt;
use core::net::IpAddr;
use core::str::FromStr;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::crypto::esp::{AesKeySize, Integrity, Suite};
use crate::crypto::ike::{Cipher, DhGroup, Prf};

/// A phase-1 (ISAKMP SA) proposal with pre-shared-key authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Phase1Proposal {
    pub cipher: Cipher,
    pub prf: Prf,
    pub group: DhGroup,
}

impl Phase1Proposal {
    /// Whether the proposal needs [`IkePolicy::legacy`].
    pub fn is_legacy(&self) -> bool {
        matches!(self.cipher, Cipher::TripleDesCbc | Cipher::DesCbc)
            || matches!(self.group, DhGroup::Modp1024 | DhGroup::Modp1536)
    }

    /// Whether the proposal needs [`IkePolicy::allow_md5`].
    pub fn uses_md5(&self) -> bool {
        self.prf == Prf::HmacMd5
    }
}

/// An ESP proposal: the suite, and for the initiator an optional PFS group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EspProposal {
    pub suite: Suite,
    pub pfs: Option<DhGroup>,
}

impl EspProposal {
    /// Whether the proposal needs [`IkePolicy::legacy`].
    pub fn is_legacy(&self) -> bool {
        matches!(self.suite, Suite::TripleDesCbc { .. })
    }
}

/// Why a proposal string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    #[error("unknown encryption algorithm `{0}`")]
    Cipher(String),
    #[error("unknown hash / integrity algorithm `{0}`")]
    Hash(String),
    #[error("unknown Diffie-Hellman group `{0}`")]
    Group(String),
    #[error("`{0}` has the wrong shape: expected {1}")]
    Shape(String, &'static str),
}

/// A Diffie-Hellman group by its name here (`modp2048`, `ecp256`, ...).
pub fn group_of(s: &str) -> Result<DhGroup, ProposalError> {
    Ok(match s {
        "modp1024" => DhGroup::Modp1024,
        "modp1536" => DhGroup::Modp1536,
        "modp2048" => DhGroup::Modp2048,
        "ecp256" => DhGroup::Ecp256,
        "ecp384" => DhGroup::Ecp384,
        _ => return Err(ProposalError::Group(s.to_owned())),
    })
}

/// The name of a Diffie-Hellman group, as [`group_of`] reads it.
pub fn group_name(g: DhGroup) -> &'static str {
    match g {
        DhGroup::Modp1024 => "modp1024",
        DhGroup::Modp1536 => "modp1536",
        DhGroup::Modp2048 => "modp2048",
        DhGroup::Ecp256 => "ecp256",
        DhGroup::Ecp384 => "ecp384",
    }
}

impl FromStr for Phase1Proposal {
    type Err = ProposalError;

    fn from_str(s: &str) -> Result<Self, ProposalError> {
        let parts: Vec<&str> = s.split('-').collect();
        let [enc, hash, group] = parts[..] else {
            return Err(ProposalError::Shape(
                s.to_owned(),
                "ENCRYPTION-HASH-GROUP, e.g. aes256-sha256-modp2048",
            ));
        };
        let cipher = match enc {
            "aes128" => Cipher::Aes128Cbc,
            "aes192" => Cipher::Aes192Cbc,
            "aes256" => Cipher::Aes256Cbc,
            "3des" => Cipher::TripleDesCbc,
            _ => return Err(ProposalError::Cipher(enc.to_owned())),
        };
        let prf = match hash {
            "md5" => Prf::HmacMd5,
            "sha1" => Prf::HmacSha1,
            "sha256" => Prf::HmacSha256,
            "sha384" => Prf::HmacSha384,
            "sha512" => Prf::HmacSha512,
            _ => return Err(ProposalError::Hash(hash.to_owned())),
        };
        Ok(Phase1Proposal {
            cipher,
            prf,
            group: group_of(group)?,
        })
    }
}

impl fmt::Display for Phase1Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let enc = match self.cipher {
            Cipher::DesCbc => "des",
            Cipher::TripleDesCbc => "3des",
            Cipher::Aes128Cbc => "aes128",
            Cipher::Aes192Cbc => "aes192",
            Cipher::Aes256Cbc => "aes256",
        };
        let hash = match self.prf {
            Prf::HmacMd5 => "md5",
            Prf::HmacSha1 => "sha1",
            Prf::HmacSha256 => "sha256",
            Prf::HmacSha384 => "sha384",
            Prf::HmacSha512 => "sha512",
        };
        write!(f, "{enc}-{hash}-{}", group_name(self.group))
    }
}

impl FromStr for EspProposal {
    type Err = ProposalError;

    fn from_str(s: &str) -> Result<Self, ProposalError> {
        let shape = || {
            ProposalError::Shape(
                s.to_owned(),
                "aes128gcm16, aes256gcm16 or ENCRYPTION-INTEGRITY[-GROUP], e.g. aes128-sha1",
            )
        };
        let mut parts = s.split('-');
        let enc = parts.next().ok_or_else(shape)?;
        let gcm = match enc {
            "aes128gcm16" => Some(AesKeySize::Aes128),
            "aes256gcm16" => Some(AesKeySize::Aes256),
            _ => None,
        };
        let suite = if let Some(key) = gcm {
            Suite::AesGcm16 { key }
        } else {
            let integ = parts.next().ok_or_else(shape)?;
            let integrity = match integ {
                "sha1" => Integrity::HmacSha1_96,
                "sha256" => Integrity::HmacSha256_128,
                "sha256_96" => Integrity::HmacSha256_96,
                "sha384" => Integrity::HmacSha384_192,
                "sha512" => Integrity::HmacSha512_256,
                _ => return Err(ProposalError::Hash(integ.to_owned())),
            };
            match enc {
                "aes128" => Suite::AesCbc {
                    key: AesKeySize::Aes128,
                    integrity,
                },
                "aes256" => Suite::AesCbc {
                    key: AesKeySize::Aes256,
                    integrity,
                },
                "3des" => Suite::TripleDesCbc { integrity },
                _ => return Err(ProposalError::Cipher(enc.to_owned())),
            }
        };
        let pfs = parts.next().map(group_of).transpose()?;
        if parts.next().is_some() {
            return Err(shape());
        }
        Ok(EspProposal { suite, pfs })
    }
}

impl fmt::Display for EspProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let integ = |i: Integrity| match i {
            Integrity::HmacSha1_96 => "sha1",
            Integrity::HmacSha256_128 => "sha256",
            Integrity::HmacSha256_96 => "sha256_96",
            Integrity::HmacSha384_192 => "sha384",
            Integrity::HmacSha512_256 => "sha512",
        };
        match self.suite {
            Suite::AesGcm16 {
                key: AesKeySize::Aes128,
            } => write!(f, "aes128gcm16")?,
            Suite::AesGcm16 {
                key: AesKeySize::Aes256,
            } => write!(f, "aes256gcm16")?,
            Suite::AesCbc {
                key: AesKeySize::Aes128,
                integrity,
            } => write!(f, "aes128-{}", integ(integrity))?,
            Suite::AesCbc {
                key: AesKeySize::Aes256,
                integrity,
            } => write!(f, "aes256-{}", integ(integrity))?,
            Suite::TripleDesCbc { integrity } => write!(f, "3des-{}", integ(integrity))?,
        }
        if let Some(g) = self.pfs {
            write!(f, "-{}", group_name(g))?;
        }
        Ok(())
    }
}

/// The phase-1 proposals a responder accepts by default: what the clients built into
/// Windows, macOS, iOS and Android offer (see `../shared/interop.md`), strongest first.
pub const DEFAULT_PHASE1: &[&str] = &[
    "aes256-sha256-modp2048",
    "aes128-sha256-modp2048",
    "aes256-sha1-modp2048",
    "aes128-sha1-modp2048",
    "aes256-sha384-ecp384",
    "aes256-sha1-ecp384",
    "aes128-sha256-ecp256",
    "aes128-sha1-ecp256",
    "aes256-sha256-modp1536",
    "aes256-sha1-modp1536",
    "aes128-sha1-modp1536",
    "aes256-sha1-modp1024",
    "aes128-sha1-modp1024",
    "3des-sha1-modp2048",
    "3des-sha1-modp1024",
    "aes256-sha384-modp2048",
    "aes256-sha512-modp2048",
    "aes192-sha1-modp2048",
    "aes256-md5-modp1024",
    "aes128-md5-modp1024",
    "3des-md5-modp1024",
];

/// The ESP proposals a responder accepts by default.
pub const DEFAULT_ESP: &[&str] = &[
    "aes128gcm16",
    "aes256gcm16",
    "aes256-sha256",
    "aes128-sha256",
    "aes256-sha1",
    "aes128-sha1",
    "aes256-sha384",
    "aes256-sha512",
    "3des-sha1",
];

/// What a Windows 10/11 client offers in Main Mode, in its order (loadgen's default).
pub const WINDOWS_PHASE1: &[&str] = &[
    "aes256-sha1-ecp384",
    "aes128-sha1-ecp256",
    "aes256-sha1-modp2048",
    "aes128-sha1-modp2048",
    "3des-sha1-modp2048",
    "3des-sha1-modp1024",
];

/// What a Windows 10/11 client offers in Quick Mode, in its order.
pub const WINDOWS_ESP: &[&str] = &["aes128gcm16", "aes256-sha1", "aes128-sha1", "3des-sha1"];

/// Parses a list of proposal strings (the defaults above cannot fail; a test says so).
pub fn parse_list<T: FromStr<Err = ProposalError>>(
    items: &[&str],
) -> Result<Vec<T>, ProposalError> {
    items.iter().map(|s| s.parse()).collect()
}

/// Which peers a pre-shared key is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PskSelector {
    /// Peers whose outer source address is in this network.
    Network { addr: IpAddr, prefix: u8 },
    /// Peers that identify themselves with this ID (phase-1 ID payload: an address
    /// in text form, an FQDN or a user@FQDN, compared as text).
    Id(String),
}

impl PskSelector {
    /// Whether `peer` is in the selector's network (never true for an ID selector).
    pub fn matches_address(&self, peer: IpAddr) -> bool {
        let PskSelector::Network { addr, prefix } = self else {
            return false;
        };
        match (addr, peer) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let bits = u32::from(*prefix).min(32);
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                u32::from(*net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let bits = u32::from(*prefix).min(128);
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                u128::from(*net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// One pre-shared key. `Debug` never prints the secret.
#[derive(Clone)]
pub struct Psk {
    pub selector: PskSelector,
    pub secret: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Psk")
            .field("selector", &self.selector)
            .finish_non_exhaustive()
    }
}

/// Whether the responder accepts, requires or refuses PFS in Quick Mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pfs {
    /// With or without a KE payload, as the initiator proposes (the default: Windows
    /// proposes none, strongSwan clients often do).
    Optional,
    /// A Quick Mode without KE is refused.
    Required,
    /// A Quick Mode with KE is refused.
    Refused,
}

/// Everything an IKEv1 engine negotiates with. Built from `[ike]` by the config, or
/// by loadgen for its initiators.
#[derive(Debug, Clone)]
pub struct IkePolicy {
    pub phase1: Vec<Phase1Proposal>,
    pub esp: Vec<EspProposal>,
    /// Allow the weak proposals ([`Phase1Proposal::is_legacy`], 3DES ESP).
    pub legacy: bool,
    /// Allow HMAC-MD5 as the phase-1 hash.
    pub allow_md5: bool,
    /// Pre-shared keys, tried in order: address matches first, then ID matches.
    pub psks: Vec<Psk>,
    /// The key for peers no selector matches; `None`: such peers are refused.
    pub default_psk: Option<Zeroizing<Vec<u8>>>,
    pub pfs: Pfs,
    /// PFS groups accepted in Quick Mode.
    pub pfs_groups: Vec<DhGroup>,
    /// Longest phase-1 lifetime we accept (a longer proposal is cut to this).
    pub phase1_lifetime: Duration,
    /// Longest phase-2 lifetime (seconds) we accept; a longer proposal gets a
    /// RESPONDER-LIFETIME notify (RFC 2407 §4.6.3.1).
    pub phase2_lifetime: Duration,
    /// Longest phase-2 lifetime in kilobytes; 0: no volume limit of our own.
    pub phase2_lifetime_kb: u64,
    /// NAT traversal (RFC 3947 and drafts) offered / accepted.
    pub nat_t: bool,
    /// Dead peer detection (RFC 3706): idle time before an R-U-THERE; zero disables
    /// our probes (we always answer the peer's).
    pub dpd_interval: Duration,
    /// Without any valid message from the peer for this long, it is dead.
    pub dpd_timeout: Duration,
    /// First retransmission timeout; doubled on each retry.
    pub retransmit_initial: Duration,
    /// Retransmissions of one message before the exchange fails.
    pub retransmit_retries: u32,
}

impl Default for IkePolicy {
    fn default() -> Self {
        IkePolicy {
            // The default lists parse (tested), so the fallback is unreachable.
            phase1: parse_list(DEFAULT_PHASE1).unwrap_or_default(),
            esp: parse_list(DEFAULT_ESP).unwrap_or_default(),
            legacy: true,
            allow_md5: false,
            psks: Vec::new(),
            default_psk: None,
            pfs: Pfs::Optional,
            pfs_groups: vec![
                DhGroup::Modp2048,
                DhGroup::Ecp256,
                DhGroup::Ecp384,
                DhGroup::Modp1536,
                DhGroup::Modp1024,
            ],
            phase1_lifetime: Duration::from_secs(8 * 3600),
            phase2_lifetime: Duration::from_secs(3600),
            phase2_lifetime_kb: 0,
            nat_t: true,
            dpd_interval: Duration::from_secs(30),
            dpd_timeout: Duration::from_secs(150),
            retransmit_initial: Duration::from_secs(2),
            retransmit_retries: 5,
        }
    }
}

impl IkePolicy {
    /// Whether we accept `p` as a responder.
    pub fn accepts_phase1(&self, p: &Phase1Proposal) -> bool {
        self.phase1.contains(p)
            && (self.legacy || !p.is_legacy())
            && (self.allow_md5 || !p.uses_md5())
    }

    /// Whether we accept the ESP suite `suite` as a responder.
    pub fn accepts_esp(&self, suite: Suite) -> bool {
        self.esp.iter().any(|e| e.suite == suite)
            && (self.legacy || !matches!(suite, Suite::TripleDesCbc { .. }))
    }

    /// The candidate keys for a peer at `addr`, in the order to try them: address
    /// matches, then every ID key (checked against the ID the peer sends), then the
    /// default. Main Mode with PSK needs the key before the peer's ID is readable
    /// (RFC 2409 §5.4), so ID-selected keys are found by trial decryption.
    pub fn psk_candidates(&self, addr: IpAddr) -> Vec<(Option<&str>, &[u8])> {
        let mut out: Vec<(Option<&str>, &[u8])> = Vec::new();
        for p in &self.psks {
            if p.selector.matches_address(addr) {
                out.push((None, &p.secret));
            }
        }
        for p in &self.psks {
            if let PskSelector::Id(id) = &p.selector {
                out.push((Some(id.as_str()), &p.secret));
            }
        }
        if let Some(d) = &self.default_psk {
            out.push((None, d));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_lists_parse_and_round_trip() {
        for s in DEFAULT_PHASE1.iter().chain(WINDOWS_PHASE1) {
            let p: Phase1Proposal = s.parse().unwrap();
            assert_eq!(p.to_string(), *s);
        }
        for s in DEFAULT_ESP.iter().chain(WINDOWS_ESP) {
            let p: EspProposal = s.parse().unwrap();
            assert_eq!(p.to_string(), *s);
        }
        let d = IkePolicy::default();
        assert_eq!(d.phase1.len(), DEFAULT_PHASE1.len());
        assert_eq!(d.esp.len(), DEFAULT_ESP.len());
        let p: EspProposal = "aes128-sha256-modp2048".parse().unwrap();
        assert_eq!(p.pfs, Some(DhGroup::Modp2048));
    }

    #[test]
    fn bad_strings_are_named() {
        assert_eq!(
            "aes-sha1-modp2048".parse::<Phase1Proposal>(),
            Err(ProposalError::Cipher("aes".into()))
        );
        assert_eq!(
            "aes128-sha3-modp2048".parse::<Phase1Proposal>(),
            Err(ProposalError::Hash("sha3".into()))
        );
        assert_eq!(
            "aes128-sha1-modp768".parse::<Phase1Proposal>(),
            Err(ProposalError::Group("modp768".into()))
        );
        assert!(matches!(
            "aes128".parse::<Phase1Proposal>(),
            Err(ProposalError::Shape(..))
        ));
        assert!(matches!(
            "aes128".parse::<EspProposal>(),
            Err(ProposalError::Shape(..))
        ));
        assert_eq!(
            "blowfish-sha1".parse::<EspProposal>(),
            Err(ProposalError::Cipher("blowfish".into()))
        );
    }

    #[test]
    fn legacy_and_md5_switches() {
        let mut p = IkePolicy::default();
        let weak: Phase1Proposal = "3des-sha1-modp1024".parse().unwrap();
        let md5: Phase1Proposal = "aes128-md5-modp1024".parse().unwrap();
        let strong: Phase1Proposal = "aes256-sha256-modp2048".parse().unwrap();
        assert!(p.accepts_phase1(&weak) && p.accepts_phase1(&strong));
        assert!(!p.accepts_phase1(&md5));
        p.allow_md5 = true;
        assert!(p.accepts_phase1(&md5));
        p.legacy = false;
        assert!(!p.accepts_phase1(&weak) && p.accepts_phase1(&strong));
        let des: EspProposal = "3des-sha1".parse().unwrap();
        assert!(!p.accepts_esp(des.suite));
    }

    #[test]
    fn psk_candidates_order_and_networks() {
        let key = |s: &str| Zeroizing::new(s.as_bytes().to_vec());
        let p = IkePolicy {
            psks: vec![
                Psk {
                    selector: PskSelector::Id("alice@example.net".into()),
                    secret: key("s3cr3t-id"),
                },
                Psk {
                    selector: PskSelector::Network {
                        addr: "192.0.2.0".parse().unwrap(),
                        prefix: 24,
                    },
                    secret: key("net"),
                },
            ],
            default_psk: Some(key("default")),
            ..IkePolicy::default()
        };
        let c = p.psk_candidates("192.0.2.77".parse().unwrap());
        let secrets: Vec<&[u8]> = c.iter().map(|(_, s)| *s).collect();
        assert_eq!(secrets, [&b"net"[..], b"s3cr3t-id", b"default"]);
        assert_eq!(c[1].0, Some("alice@example.net"));
        let c = p.psk_candidates("198.51.100.1".parse().unwrap());
        assert_eq!(c.len(), 2);
        let v6 = PskSelector::Network {
            addr: "2001:db8::".parse().unwrap(),
            prefix: 32,
        };
        assert!(v6.matches_address("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.matches_address("2001:db9::5".parse().unwrap()));
        assert!(!v6.matches_address("192.0.2.1".parse().unwrap()));
        assert!(!format!("{:?}", p.psks[0]).contains("s3cr3t"));
    }
}

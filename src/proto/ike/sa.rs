//! One ISAKMP SA: Main Mode (RFC 2409 §5, PSK §5.4), Quick Mode (§5.5), Informational
//! (§5.7), NAT-T (RFC 3947), DPD (RFC 3706).
//!
//! # Main Mode, responder
//! ```text
//!  HDR, SA, VID*                 -->
//!                                <--  HDR, SA (chosen), VID*         RAwaitKe
//!  HDR, KE, Ni, NAT-D, NAT-D     -->
//!                                <--  HDR, KE, Nr, NAT-D, NAT-D      RAwaitAuth
//!  HDR*, IDii, HASH_I [, N(IC)]  -->  (on 4500 when a NAT was seen)
//!                                <--  HDR*, IDir, HASH_R             Established
//! ```
//! The initiator's side mirrors it (IAwaitSa, IAwaitKe, IAwaitAuth).
//!
//! # Decisions
//! - **Proposal choice**: the initiator's first transform that the policy accepts
//!   (RFC 2409 §5: the initiator lists in preference order); the chosen transform is
//!   echoed with its attributes as received. Lifetimes: the smaller of the proposal's
//!   and ours (a lifetime of 0, which strongSwan sends, is no limit of the peer's).
//!   A phase-1 transform with an attribute we do not understand is skipped.
//! - **Which PSK**: with PSK authentication SKEYID needs the key before the peer's ID
//!   can be decrypted (RFC 2409 §5.4), so message 5 is tried against each candidate of
//!   [`IkePolicy::psk_candidates`] (address matches, ID keys, the default); an ID key is
//!   only accepted if the decrypted ID is that ID. Every candidate costs a few PRF
//!   calls; a wrong key never reaches the caller.
//! - **Duplicates**: a datagram identical to the last request of an exchange is
//!   answered with our stored reply (RFC 2408 §5: the responder retransmits only on a
//!   retransmitted request), and never decrypted twice, so the IV chains stay right.
//!   Our own requests (initiator, Quick Mode rekeys, QM2 waiting for QM3) are
//!   retransmitted with exponential backoff, `retransmit_retries` times.
//! - **NAT-T**: the dialect is the one the peer's vendor IDs announce (RFC 3947
//!   preferred); NAT-D payloads hash CKY-I | CKY-R | IP | port with the negotiated hash
//!   (RFC 3947 §3.2). The responder follows the peer to whatever address and port an
//!   authenticated message comes from (the float to 4500 and later NAT rebinding,
//!   RFC 3947 §4), never on an unauthenticated one. UDP-encapsulated transport mode is
//!   required when a NAT was detected and refused otherwise.
//! - **Quick Mode IDs**: transport mode for L2TP: the responder ID must be UDP (or any
//!   protocol) on port 1701 (or any); the client's port may be anything (clients
//!   behind NAT use other ports); the IDs are echoed as received (IKEv1 has no
//!   narrowing). Tunnel mode is refused.
//! - **Lifetimes of children**: the smaller of the proposal and our policy; when ours
//!   is smaller, RESPONDER-LIFETIME says so (RFC 2407 §4.6.3.1). A child is rekeyed at
//!   90% of its lifetime by whichever side gets there first (so both sides can rekey);
//!   the superseded pair is deleted 10 seconds after the new one is up (in-flight
//!   packets still open), or when the peer deletes it.
//! - **ISAKMP SA end**: the peer's Delete, our lifetime, or DPD. Children outlive a
//!   deleted or expired ISAKMP SA in IKEv1 (phase-1 rekeys do that); the caller moves
//!   them to the peer's newer ISAKMP SA ([`IkeSa::take_children`] / [`IkeSa::adopt`])
//!   or tears them down. A dead peer takes everything with it.
//! - **DPD**: R-U-THERE only to peers that announced the DPD vendor ID, after
//!   `dpd_interval` without hearing from them, repeated each interval; after
//!   `dpd_timeout` of silence the SA is closed with [`CloseReason::DeadPeer`]. Any
//!   authenticated message counts as a sign of life. The peer's R-U-THERE is always
//!   answered.
//! - **Negotiation timeout**: a Main Mode or Quick Mode is abandoned once its whole
//!   retransmission schedule has run out (about a minute by default).
//! - **Padding**: encrypted bodies are padded with zeros to the block size (RFC 2409
//!   Appendix B); received padding is not checked.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::policy::{EspProposal, IkePolicy, Pfs, Phase1Proposal};
use super::{
    ChildSa, CloseReason, Env, Event, Identity, IkeError, IkeStats, InitiatorParams,
    QuickModeParams, Transmit,
};
use crate::crypto::esp::{AesKeySize, Integrity, Suite};
use crate::crypto::ike::dh::SharedSecret;
use crate::crypto::ike::keys::{
    KeymatSeed, Phase1Exchange, Phase1Keys, informational_hash, keymat, quick_mode_hash1,
    quick_mode_hash2, quick_mode_hash3, skeyid_psk,
};
use crate::crypto::ike::{Cipher, CipherKey, DhGroup, IvChain, Prf, PrfOutput, PrivateKey};
use crate::wire::isakmp::attribute::{
    AuthenticationAlgorithm, AuthenticationMethod, EncapsulationMode, IpsecClass, LifeType,
    Phase1Class,
};
use crate::wire::isakmp::sa::{EspTransformId, situation};
use crate::wire::isakmp::{
    DataAttribute, DeleteRepr, Doi, ExchangeType, Flags, HEADER_LEN, HashRepr, HeaderRepr, IdType,
    IdentificationRepr, KeyExchangeRepr, List, Message, MessageBuilder, NatOaRepr, NatTDialect,
    NonceRepr, NotificationRepr, NotifyMessageType, Payload, PayloadType, Payloads, ProposalRepr,
    ProtocolId, SaRepr, Trailing, TransformRepr, VendorIdRepr, emit_chain, vendor_id,
};

/// Cap on the doubling retransmission interval.
const RETRANSMIT_CAP: Duration = Duration::from_secs(16);

/// How long a Main Mode or a Quick Mode may take: the whole retransmission schedule
/// of the policy (2 + 4 + 8 + 16 + 16 s by default) and one more interval for the
/// last answer, at least 30 s.
fn exchange_timeout(policy: &IkePolicy) -> Duration {
    let mut total = Duration::ZERO;
    let mut interval = policy.retransmit_initial;
    for _ in 0..=policy.retransmit_retries {
        total += interval;
        interval = (interval * 2).min(RETRANSMIT_CAP);
    }
    (total + interval).max(Duration::from_secs(30))
}
/// How long a superseded child lives after its replacement is up.
const REKEY_OVERLAP: Duration = Duration::from_secs(10);
/// Nonce length we send (RFC 2409 §5: 8..256).
const NONCE_LEN: usize = 32;
/// The L2TP port (RFC 2661 §8.1).
const L2TP_PORT: u16 = 1701;
/// Bound on Quick Modes in progress on one ISAKMP SA.
const MAX_EXCHANGES: usize = 8;
/// Bound on children of one ISAKMP SA (rekeys overlap briefly).
const MAX_CHILDREN: usize = 8;
/// Message IDs remembered to drop replays of finished exchanges.
const SEEN_IDS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    RAwaitKe,
    RAwaitAuth,
    IAwaitSa,
    IAwaitKe,
    IAwaitAuth,
    Established,
    Closed,
}

/// Phase-1 negotiation values, dropped once established.
#[derive(Default)]
struct Negotiation {
    /// The initiator's SA payload body (HASH_I/HASH_R input).
    sai_b: Vec<u8>,
    proposal: Option<Phase1Proposal>,
    life: Option<Duration>,
    dh: Option<PrivateKey>,
    g_xi: Vec<u8>,
    g_xr: Vec<u8>,
    ni: Vec<u8>,
    nr: Vec<u8>,
    g_xy: Option<SharedSecret>,
    /// Initiator: our key and ID.
    psk: Option<Zeroizing<Vec<u8>>>,
    local_id: Option<Identity>,
    initial_contact: bool,
    /// Initiator: phase-1 keys between messages 4 and 6.
    keys: Option<Keys>,
    started: Option<Instant>,
}

/// The [`Negotiation`] of an ISAKMP SA, boxed only while phase 1 runs: an
/// established SA lives for hours without it, and inline it was half of the SA
/// (issue 8, daemon memory per session). Reading an empty slot sees
/// [`NO_NEGOTIATION`]; writing one boxes a fresh negotiation.
#[derive(Default)]
struct NegotiationSlot(Option<Box<Negotiation>>);

/// What an empty [`NegotiationSlot`] reads as (the same as `Negotiation::default()`).
static NO_NEGOTIATION: Negotiation = Negotiation {
    sai_b: Vec::new(),
    proposal: None,
    life: None,
    dh: None,
    g_xi: Vec::new(),
    g_xr: Vec::new(),
    ni: Vec::new(),
    nr: Vec::new(),
    g_xy: None,
    psk: None,
    local_id: None,
    initial_contact: false,
    keys: None,
    started: None,
};

impl core::ops::Deref for NegotiationSlot {
    type Target = Negotiation;

    fn deref(&self) -> &Negotiation {
        self.0.as_deref().unwrap_or(&NO_NEGOTIATION)
    }
}

impl core::ops::DerefMut for NegotiationSlot {
    fn deref_mut(&mut self) -> &mut Negotiation {
        self.0.get_or_insert_with(Box::default)
    }
}

/// Phase-1 results the later exchanges need.
struct Keys {
    prf: Prf,
    cipher: Cipher,
    skeyid: PrfOutput,
    skeyid_d: PrfOutput,
    skeyid_a: PrfOutput,
    key: CipherKey,
    /// Phase 1: the running chain; once established, the last phase-1 CBC block, the
    /// base of every phase-2 IV (RFC 2409 Appendix B).
    iv: IvChain,
}

/// A message we may have to send again.
struct Outstanding {
    msg: Transmit,
    at: Instant,
    interval: Duration,
    left: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QmState {
    /// Responder: QM2 sent, waiting for HASH(3).
    RAwaitHash3,
    /// Initiator: QM1 sent, waiting for QM2.
    IAwaitReply,
}

/// A Quick Mode in progress.
struct QuickMode {
    msg_id: u32,
    state: QmState,
    iv: IvChain,
    ni: Vec<u8>,
    nr: Vec<u8>,
    dh: Option<PrivateKey>,
    g_xy: Option<SharedSecret>,
    suite: Option<Suite>,
    encap: bool,
    my_spi: u32,
    peer_spi: u32,
    local_port: u16,
    remote_port: u16,
    lifetime: Duration,
    lifetime_kb: u64,
    proposals: Vec<EspProposal>,
    replaces: Option<u32>,
    peer_original: Option<IpAddr>,
    /// We initiated this Quick Mode.
    initiated: bool,
    /// Digest of the last request we answered (duplicate detection) and our answer.
    last_in: Option<PrfOutput>,
    out: Option<Outstanding>,
    started: Instant,
}

/// A live pair of ESP SAs.
#[derive(Debug, Clone)]
pub(crate) struct Child {
    inbound_spi: u32,
    outbound_spi: u32,
    suite: Suite,
    pfs: Option<DhGroup>,
    local_port: u16,
    remote_port: u16,
    /// When to rekey (None once a rekey started or finished).
    soft: Option<Instant>,
    hard: Instant,
}

/// Children of an ISAKMP SA, handed to a newer one (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Children(Vec<Child>);

impl Children {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// (inbound SPI, outbound SPI) of each.
    pub fn spis(&self) -> Vec<(u32, u32)> {
        self.0
            .iter()
            .map(|c| (c.inbound_spi, c.outbound_spi))
            .collect()
    }
}

/// The payloads of a message, as far as the engine looks at them.
#[derive(Default)]
struct Parsed<'a> {
    sa: Option<(SaRepr<'a>, &'a [u8])>,
    ke: Option<&'a [u8]>,
    nonce: Option<&'a [u8]>,
    ids: Vec<(IdentificationRepr<'a>, &'a [u8])>,
    hash: Option<&'a [u8]>,
    nat_d: Vec<&'a [u8]>,
    nat_oa: Vec<NatOaRepr<'a>>,
    vids: Vec<&'a [u8]>,
    notifies: Vec<NotificationRepr<'a>>,
    deletes: Vec<DeleteRepr<'a>>,
    /// The chain after a leading HASH payload, headers included (HASH(1..2) input).
    after_hash: &'a [u8],
}

fn parse_chain(first: PayloadType, body: &[u8], trailing: Trailing) -> Option<Parsed<'_>> {
    let mut p = Parsed::default();
    let mut offset = 0usize;
    let mut hash_end = None;
    for (i, item) in Payloads::new(first, body, trailing).enumerate() {
        let (t, b) = item.ok()?;
        offset += b.len() + 4;
        let payload = Payload::parse(t, b).ok()?;
        match payload {
            Payload::Sa(sa) => p.sa = Some((sa, b)),
            Payload::KeyExchange(k) => p.ke = Some(k.key_data),
            Payload::Nonce(n) => {
                if !n.len_ok() {
                    return None;
                }
                p.nonce = Some(n.nonce)
            }
            Payload::Identification(id) => p.ids.push((id, b)),
            Payload::Hash(h) => {
                if i == 0 {
                    hash_end = Some(offset);
                }
                p.hash = Some(h.hash)
            }
            Payload::NatD(d) | Payload::NatDDraft(d) => p.nat_d.push(d.hash),
            Payload::NatOa(o) | Payload::NatOaDraft(o) => p.nat_oa.push(o),
            Payload::VendorId(v) => p.vids.push(v.vendor_id),
            Payload::Notification(n) => p.notifies.push(n),
            Payload::Delete(d) => p.deletes.push(d),
            _ => {}
        }
    }
    if let Some(start) = hash_end {
        p.after_hash = body.get(start..offset)?;
    }
    Some(p)
}

fn digest(bytes: &[u8]) -> PrfOutput {
    Prf::HmacSha256.hash(&[bytes])
}

fn random_vec(env: &mut Env<'_>, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    (env.rng)(&mut v);
    v
}

fn random_u32(env: &mut Env<'_>) -> u32 {
    let mut b = [0u8; 4];
    (env.rng)(&mut b);
    u32::from_be_bytes(b)
}

fn new_private_key(group: DhGroup, env: &mut Env<'_>) -> PrivateKey {
    let mut bytes = Zeroizing::new([0u8; 48]);
    let len = group.private_key_len();
    loop {
        (env.rng)(&mut bytes[..len]);
        if let Ok(k) = PrivateKey::from_bytes(group, &bytes[..len]) {
            return k;
        }
    }
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// NAT-D hash (RFC 3947 §3.2).
fn nat_d(prf: Prf, cky_i: &[u8; 8], cky_r: &[u8; 8], addr: SocketAddr) -> PrfOutput {
    prf.hash(&[
        cky_i,
        cky_r,
        &ip_bytes(addr.ip()),
        &addr.port().to_be_bytes(),
    ])
}

/// The phase-1 proposal a transform describes, with its lifetime, if it is PSK and
/// every attribute is understood.
fn phase1_of(t: &TransformRepr<'_>) -> Option<(Phase1Proposal, Option<Duration>)> {
    let mut enc = None;
    let mut key_len = None;
    let mut hash = None;
    let mut group = None;
    let mut auth = None;
    let mut life_type = None;
    let mut life = None;
    for a in t.attributes.iter() {
        let a = a.ok()?;
        match Phase1Class::from(a.attribute_type) {
            Phase1Class::EncryptionAlgorithm => enc = a.basic_value(),
            Phase1Class::KeyLength => key_len = a.basic_value(),
            Phase1Class::HashAlgorithm => hash = a.basic_value(),
            Phase1Class::GroupDescription => group = a.basic_value(),
            Phase1Class::AuthenticationMethod => auth = a.basic_value(),
            Phase1Class::LifeType => life_type = a.basic_value(),
            Phase1Class::LifeDuration => {
                let v = a.value_u64().ok()?;
                // 0 (strongSwan sends it) sets no limit of the initiator's own.
                if life_type == Some(u16::from(LifeType::Seconds)) && v > 0 {
                    life = Some(Duration::from_secs(v));
                }
            }
            _ => return None,
        }
    }
    if auth? != u16::from(AuthenticationMethod::PreSharedKey) {
        return None;
    }
    let proposal = Phase1Proposal {
        cipher: Cipher::from_oakley(enc?, key_len)?,
        prf: Prf::from_hash_algorithm(hash?)?,
        group: DhGroup::from_id(group?)?,
    };
    Some((proposal, life))
}

/// Attribute values of one ESP transform.
struct EspChoice {
    suite: Suite,
    encap: EncapsulationMode,
    group: Option<DhGroup>,
    life_secs: Option<u64>,
    life_kb: Option<u64>,
}

fn esp_of(t: &TransformRepr<'_>) -> Option<EspChoice> {
    let mut key_len = None;
    let mut auth = None;
    let mut encap = None;
    let mut group = None;
    let mut life_type = None;
    let (mut life_secs, mut life_kb) = (None, None);
    for a in t.attributes.iter() {
        let a = a.ok()?;
        match IpsecClass::from(a.attribute_type) {
            IpsecClass::KeyLength => key_len = a.basic_value(),
            IpsecClass::AuthenticationAlgorithm => {
                auth = Some(AuthenticationAlgorithm::from(a.basic_value()?))
            }
            IpsecClass::EncapsulationMode => {
                encap = Some(EncapsulationMode::from(a.basic_value()?))
            }
            IpsecClass::GroupDescription => group = Some(DhGroup::from_id(a.basic_value()?)?),
            IpsecClass::SaLifeType => life_type = Some(LifeType::from(a.basic_value()?)),
            IpsecClass::SaLifeDuration => {
                // 0 sets no limit of the initiator's own.
                let v = Some(a.value_u64().ok()?).filter(|v| *v > 0);
                match life_type? {
                    LifeType::Seconds => life_secs = v,
                    LifeType::Kilobytes => life_kb = v,
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
    let aes_key = |bits: Option<u16>| match bits {
        Some(128) => Some(AesKeySize::Aes128),
        Some(256) => Some(AesKeySize::Aes256),
        _ => None,
    };
    let integrity = |a: Option<AuthenticationAlgorithm>| match a? {
        AuthenticationAlgorithm::HmacSha1 => Some(Integrity::HmacSha1_96),
        AuthenticationAlgorithm::HmacSha2_256 => Some(Integrity::HmacSha256_128),
        AuthenticationAlgorithm::HmacSha2_384 => Some(Integrity::HmacSha384_192),
        AuthenticationAlgorithm::HmacSha2_512 => Some(Integrity::HmacSha512_256),
        _ => None,
    };
    let suite = match EspTransformId::from(t.transform_id) {
        EspTransformId::AesGcm16 if auth.is_none() => Suite::AesGcm16 {
            key: aes_key(key_len)?,
        },
        EspTransformId::Aes => Suite::AesCbc {
            key: aes_key(key_len)?,
            integrity: integrity(auth)?,
        },
        EspTransformId::TripleDes if key_len.is_none_or(|k| k == 192) => Suite::TripleDesCbc {
            integrity: integrity(auth)?,
        },
        _ => return None,
    };
    Some(EspChoice {
        suite,
        encap: encap?,
        group,
        life_secs,
        life_kb,
    })
}

/// The transform ID and attributes that describe `suite` in Quick Mode.
fn esp_transform_attrs(
    suite: Suite,
) -> (EspTransformId, Option<u16>, Option<AuthenticationAlgorithm>) {
    let bits = |k: AesKeySize| match k {
        AesKeySize::Aes128 => 128,
        AesKeySize::Aes256 => 256,
    };
    let auth = |i: Integrity| match i {
        Integrity::HmacSha1_96 => AuthenticationAlgorithm::HmacSha1,
        Integrity::HmacSha256_128 | Integrity::HmacSha256_96 => {
            AuthenticationAlgorithm::HmacSha2_256
        }
        Integrity::HmacSha384_192 => AuthenticationAlgorithm::HmacSha2_384,
        Integrity::HmacSha512_256 => AuthenticationAlgorithm::HmacSha2_512,
    };
    match suite {
        Suite::AesGcm16 { key } => (EspTransformId::AesGcm16, Some(bits(key)), None),
        Suite::AesCbc { key, integrity } => {
            (EspTransformId::Aes, Some(bits(key)), Some(auth(integrity)))
        }
        Suite::TripleDesCbc { integrity } => {
            (EspTransformId::TripleDes, None, Some(auth(integrity)))
        }
    }
}

fn life_attr_bytes(v: u64) -> [u8; 4] {
    u32::try_from(v).unwrap_or(u32::MAX).to_be_bytes()
}

/// One ISAKMP SA. See the module docs.
pub struct IkeSa {
    policy: Arc<IkePolicy>,
    initiator: bool,
    state: State,
    cky_i: [u8; 8],
    cky_r: [u8; 8],
    local: SocketAddr,
    remote: SocketAddr,
    encap: bool,
    nat_t_port: u16,
    force_encap: bool,
    dialect: Option<NatTDialect>,
    nat_detected: bool,
    dpd_peer: bool,
    neg: NegotiationSlot,
    keys: Option<Keys>,
    peer_id: Option<Identity>,
    exchanges: Vec<QuickMode>,
    children: Vec<Child>,
    seen_ids: VecDeque<u32>,
    /// Quick Modes we initiated and finished: (message ID, digest of the QM2 we
    /// answered, our QM3), to answer a retransmitted QM2 whose QM3 was lost.
    finished: VecDeque<(u32, PrfOutput, Transmit)>,
    /// Phase 1: digest of the last request and our reply to it.
    p1_last_in: Option<PrfOutput>,
    p1_reply: Option<Transmit>,
    p1_out: Option<Outstanding>,
    expires: Option<Instant>,
    last_heard: Instant,
    dpd_seq: u32,
    dpd_next: Option<Instant>,
    tx: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: IkeStats,
}

impl core::fmt::Debug for IkeSa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IkeSa")
            .field("initiator", &self.initiator)
            .field("state", &self.state)
            .field("remote", &self.remote)
            .field("children", &self.children.len())
            .finish_non_exhaustive()
    }
}

impl IkeSa {
    fn blank(
        now: Instant,
        policy: Arc<IkePolicy>,
        initiator: bool,
        local: SocketAddr,
        remote: SocketAddr,
        encap: bool,
    ) -> IkeSa {
        IkeSa {
            policy,
            initiator,
            state: State::Closed,
            cky_i: [0; 8],
            cky_r: [0; 8],
            local,
            remote,
            encap,
            nat_t_port: 4500,
            force_encap: false,
            dialect: None,
            nat_detected: false,
            dpd_peer: false,
            neg: NegotiationSlot(Some(Box::new(Negotiation {
                started: Some(now),
                ..Negotiation::default()
            }))),
            keys: None,
            peer_id: None,
            exchanges: Vec::new(),
            children: Vec::new(),
            seen_ids: VecDeque::new(),
            finished: VecDeque::new(),
            p1_last_in: None,
            p1_reply: None,
            p1_out: None,
            expires: None,
            last_heard: now,
            dpd_seq: 0,
            dpd_next: None,
            tx: VecDeque::new(),
            events: VecDeque::new(),
            stats: IkeStats::default(),
        }
    }

    /// Phase-1 responder from the first Main Mode message.
    pub fn respond(
        now: Instant,
        policy: Arc<IkePolicy>,
        local: SocketAddr,
        from: SocketAddr,
        encap: bool,
        msg: &[u8],
        env: &mut Env<'_>,
    ) -> Result<IkeSa, IkeError> {
        let m = Message::parse_bytes(msg).map_err(IkeError::Malformed)?;
        let h = m.header;
        if h.exchange_type != ExchangeType::MAIN || h.responder_cookie != [0; 8] || m.is_encrypted()
        {
            return Err(IkeError::NotMainModeStart(h.exchange_type.into()));
        }
        let mut sa = IkeSa::blank(now, policy, false, local, from, encap);
        sa.cky_i = h.initiator_cookie;
        let mut cky_r = [0u8; 8];
        while cky_r == [0; 8] {
            (env.rng)(&mut cky_r);
        }
        sa.cky_r = cky_r;
        sa.state = State::RAwaitKe;
        sa.responder_msg1(now, msg, env);
        Ok(sa)
    }

    /// Phase-1 initiator: queues Main Mode message 1.
    pub fn initiate(
        now: Instant,
        policy: Arc<IkePolicy>,
        params: InitiatorParams,
        env: &mut Env<'_>,
    ) -> IkeSa {
        let mut sa = IkeSa::blank(now, policy, true, params.local, params.remote, false);
        let mut cky_i = [0u8; 8];
        while cky_i == [0; 8] {
            (env.rng)(&mut cky_i);
        }
        sa.cky_i = cky_i;
        sa.nat_t_port = params.nat_t_port;
        sa.force_encap = params.force_encap;
        sa.neg.psk = Some(params.psk);
        sa.neg.local_id = Some(params.local_id);
        sa.neg.initial_contact = params.initial_contact;
        sa.state = State::IAwaitSa;

        let policy = Arc::clone(&sa.policy);
        let attrs: Vec<Vec<DataAttribute<'_>>> = policy
            .phase1
            .iter()
            .map(|p| phase1_attrs(p, policy.phase1_lifetime))
            .collect();
        let transforms: Vec<TransformRepr<'_>> = attrs
            .iter()
            .enumerate()
            .map(|(i, a)| TransformRepr {
                number: (i + 1) as u8,
                transform_id: 1,
                attributes: List::Items(a),
            })
            .collect();
        let proposals = [ProposalRepr {
            number: 1,
            protocol: ProtocolId::Isakmp,
            spi: &[],
            transforms: List::Items(&transforms),
        }];
        let sa_repr = SaRepr {
            doi: Doi::Ipsec,
            situation: situation::IDENTITY_ONLY,
            proposals: List::Items(&proposals),
        };
        let mut sai_b = vec![0u8; sa_repr.buffer_len()];
        sa_repr.emit(&mut sai_b);
        let mut payloads = vec![Payload::Sa(sa_repr)];
        if sa.policy.nat_t {
            for v in [
                &vendor_id::NAT_T_RFC3947[..],
                &vendor_id::NAT_T_DRAFT_02_N[..],
            ] {
                payloads.push(Payload::VendorId(VendorIdRepr { vendor_id: v }));
            }
        }
        payloads.push(Payload::VendorId(VendorIdRepr {
            vendor_id: &vendor_id::DPD,
        }));
        let bytes = sa.clear_message(ExchangeType::MAIN, 0, &payloads);
        sa.neg.sai_b = sai_b;
        sa.send_request(now, bytes);
        sa
    }

    pub fn cookies(&self) -> ([u8; 8], [u8; 8]) {
        (self.cky_i, self.cky_r)
    }

    /// The cookie pair as the ISAKMP SA's SPI (RFC 2408 §3.15, RFC 3706 §5.1).
    fn isakmp_spi(&self) -> [u8; 16] {
        let mut spi = [0u8; 16];
        spi[..8].copy_from_slice(&self.cky_i);
        spi[8..].copy_from_slice(&self.cky_r);
        spi
    }

    /// The Main Mode values HASH_I and HASH_R cover (RFC 2409 §5).
    fn exchange(&self) -> Phase1Exchange<'_> {
        Phase1Exchange {
            g_xi: &self.neg.g_xi,
            g_xr: &self.neg.g_xr,
            cky_i: &self.cky_i,
            cky_r: &self.cky_r,
            sai_b: &self.neg.sai_b,
        }
    }

    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    pub fn peer(&self) -> SocketAddr {
        self.remote
    }

    pub fn peer_id(&self) -> Option<&Identity> {
        self.peer_id.as_ref()
    }

    pub fn stats(&self) -> IkeStats {
        self.stats
    }

    /// Whether the peer is reached through NAT-T encapsulation.
    pub fn encap(&self) -> bool {
        self.encap
    }

    /// The data plane saw authenticated ESP-in-UDP of this peer's SAs arrive from a
    /// new address (NAT rebinding, RFC 3948 §2.2): IKE (DPD, deletes, rekeys) follows,
    /// since IKE and ESP share the NAT-T port mapping. Ignored for raw ESP.
    pub fn peer_moved(&mut self, peer: SocketAddr) {
        if self.encap && self.state == State::Established {
            self.remote = peer;
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.tx.pop_front();
        if t.is_none() {
            release_idle(&mut self.tx);
        }
        t
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        let e = self.events.pop_front();
        if e.is_none() {
            release_idle(&mut self.events);
            if self.exchanges.is_empty() {
                self.exchanges = Vec::new();
            }
        }
        e
    }

    /// The next instant [`IkeSa::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let mut t: Option<Instant> = None;
        let mut at = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        at(self.p1_out.as_ref().map(|o| o.at));
        at(self.neg.started.map(|s| s + exchange_timeout(&self.policy)));
        at(self.expires);
        at(self.dpd_next);
        for q in &self.exchanges {
            at(q.out.as_ref().map(|o| o.at));
            at(Some(q.started + exchange_timeout(&self.policy)));
        }
        for c in &self.children {
            at(c.soft);
            at(Some(c.hard));
        }
        t
    }

    /// Hands the children over (the ISAKMP SA is closing; see the module docs).
    pub fn take_children(&mut self) -> Children {
        Children(std::mem::take(&mut self.children))
    }

    /// Takes over the children of an older ISAKMP SA of the same peer.
    pub fn adopt(&mut self, children: Children) {
        self.children.extend(children.0);
    }

    // ---------------------------------------------------------------- sending

    fn header(&self, exchange: ExchangeType, msg_id: u32, encrypted: bool) -> HeaderRepr {
        HeaderRepr {
            initiator_cookie: self.cky_i,
            responder_cookie: self.cky_r,
            next_payload: PayloadType::None,
            minor_version: 0,
            exchange_type: exchange,
            flags: Flags(if encrypted { Flags::ENCRYPTION } else { 0 }),
            message_id: msg_id,
            length: 0,
        }
    }

    fn clear_message(
        &self,
        exchange: ExchangeType,
        msg_id: u32,
        payloads: &[Payload<'_>],
    ) -> Vec<u8> {
        let b = MessageBuilder {
            header: self.header(exchange, msg_id, false),
            payloads,
        };
        let mut out = vec![0u8; b.buffer_len()];
        b.emit(&mut out);
        out
    }

    /// An encrypted message: the chain padded with zeros to the block size and
    /// encrypted with `chain` (which advances).
    fn encrypted_message(
        &self,
        exchange: ExchangeType,
        msg_id: u32,
        payloads: &[Payload<'_>],
        key: &CipherKey,
        cipher: Cipher,
        chain: &mut IvChain,
    ) -> Vec<u8> {
        let plain_len = crate::wire::isakmp::chain_len(payloads);
        let block = cipher.block_len();
        let padded = plain_len.div_ceil(block).max(1) * block;
        let mut out = vec![0u8; HEADER_LEN + padded];
        emit_chain(payloads, &mut out[HEADER_LEN..]);
        let mut header = self.header(exchange, msg_id, true);
        header.next_payload = payloads
            .first()
            .map_or(PayloadType::None, Payload::payload_type);
        header.length = out.len() as u32;
        header.emit(&mut crate::wire::isakmp::Packet::new_unchecked(
            &mut out[..],
        ));
        // The buffer is a whole number of blocks, so encryption cannot fail.
        let _ = chain.encrypt(key, &mut out[HEADER_LEN..]);
        out
    }

    fn transmit(&self, bytes: Vec<u8>) -> Transmit {
        Transmit {
            to: self.remote,
            encap: self.encap,
            bytes,
        }
    }

    /// A phase-1 request (initiator): sent now and retransmitted until answered.
    fn send_request(&mut self, now: Instant, bytes: Vec<u8>) {
        let t = self.transmit(bytes);
        self.tx.push_back(t.clone());
        self.p1_out = Some(Outstanding {
            msg: t,
            at: now + self.policy.retransmit_initial,
            interval: self.policy.retransmit_initial,
            left: self.policy.retransmit_retries,
        });
    }

    /// A phase-1 reply (responder), kept for retransmitted requests.
    fn send_reply(&mut self, request: &[u8], bytes: Vec<u8>) {
        let t = self.transmit(bytes);
        self.tx.push_back(t.clone());
        self.p1_last_in = Some(digest(request));
        self.p1_reply = Some(t);
    }

    fn close_with(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.neg = NegotiationSlot::default();
        self.p1_out = None;
        self.exchanges.clear();
        self.dpd_next = None;
        self.events.push_back(Event::Closed { reason });
    }

    /// An unencrypted Notify (phase 1 failures, before keys exist).
    fn notify_clear(&mut self, kind: NotifyMessageType) {
        let n = Payload::Notification(NotificationRepr {
            doi: Doi::Ipsec,
            protocol: ProtocolId::Isakmp,
            message_type: kind,
            spi: &[],
            data: &[],
        });
        let bytes = self.clear_message(ExchangeType::Informational, 0, &[n]);
        let t = self.transmit(bytes);
        self.tx.push_back(t);
    }

    /// An Informational exchange (RFC 2409 §5.7): HASH(1) then `payloads`.
    fn send_informational(&mut self, payloads: &[Payload<'_>], env: &mut Env<'_>) {
        let Some(k) = &self.keys else { return };
        let msg_id = loop {
            let id = random_u32(env);
            if id != 0 {
                break id;
            }
        };
        let mut rest = vec![0u8; crate::wire::isakmp::chain_len(payloads)];
        emit_chain(payloads, &mut rest);
        let hash = informational_hash(k.prf, k.skeyid_a.as_bytes(), msg_id, &rest);
        let mut all = vec![Payload::Hash(HashRepr {
            hash: hash.as_bytes(),
        })];
        all.extend_from_slice(payloads);
        let mut chain = IvChain::phase2(k.prf, k.cipher, &k.iv, msg_id);
        let bytes = self.encrypted_message(
            ExchangeType::Informational,
            msg_id,
            &all,
            &k.key,
            k.cipher,
            &mut chain,
        );
        let t = self.transmit(bytes);
        self.tx.push_back(t);
    }

    fn send_delete_esp(&mut self, inbound_spis: &[u32], env: &mut Env<'_>) {
        if inbound_spis.is_empty() || self.keys.is_none() {
            return;
        }
        let spis: Vec<u8> = inbound_spis.iter().flat_map(|s| s.to_be_bytes()).collect();
        let d = Payload::Delete(DeleteRepr {
            doi: Doi::Ipsec,
            protocol: ProtocolId::IpsecEsp,
            spi_size: 4,
            spis: &spis,
        });
        self.send_informational(&[d], env);
    }

    fn send_delete_isakmp(&mut self, env: &mut Env<'_>) {
        let spi = self.isakmp_spi();
        let d = Payload::Delete(DeleteRepr {
            doi: Doi::Ipsec,
            protocol: ProtocolId::Isakmp,
            spi_size: 16,
            spis: &spi,
        });
        self.send_informational(&[d], env);
    }

    /// Sends Delete for every child and the ISAKMP SA; ChildDown for each, then Closed.
    pub fn close(&mut self, _now: Instant, env: &mut Env<'_>) {
        if self.state == State::Closed {
            return;
        }
        if self.state == State::Established {
            let spis: Vec<u32> = self.children.iter().map(|c| c.inbound_spi).collect();
            self.send_delete_esp(&spis, env);
            self.send_delete_isakmp(env);
        }
        for c in std::mem::take(&mut self.children) {
            self.events.push_back(Event::ChildDown {
                inbound_spi: c.inbound_spi,
                outbound_spi: c.outbound_spi,
            });
        }
        for q in std::mem::take(&mut self.exchanges) {
            if q.state == QmState::RAwaitHash3 {
                self.events.push_back(Event::ChildDown {
                    inbound_spi: q.my_spi,
                    outbound_spi: q.peer_spi,
                });
            }
        }
        self.close_with(CloseReason::Local);
    }

    // ---------------------------------------------------------------- receiving

    /// A datagram for this SA (`encap`: it came on the NAT-T port, marker stripped).
    pub fn handle_message(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        encap: bool,
        msg: &[u8],
        env: &mut Env<'_>,
    ) {
        if self.state == State::Closed {
            return;
        }
        let Ok(m) = Message::parse_bytes(msg) else {
            self.stats.malformed += 1;
            return;
        };
        // A retransmitted request we already answered: answer again. (Checked first:
        // a retransmitted message 1 still has a zero responder cookie.)
        if !self.initiator
            && m.header.exchange_type == ExchangeType::MAIN
            && self
                .p1_last_in
                .as_ref()
                .is_some_and(|d| d.ct_eq(digest(msg).as_bytes()))
        {
            if let Some(r) = self.p1_reply.clone() {
                self.stats.duplicates += 1;
                self.tx.push_back(r);
            }
            return;
        }
        if m.header.initiator_cookie != self.cky_i
            || (self.state != State::IAwaitSa && m.header.responder_cookie != self.cky_r)
        {
            self.stats.malformed += 1;
            return;
        }
        let h = m.header;
        match h.exchange_type {
            ExchangeType::IdentityProtection => {
                match self.state {
                    State::RAwaitKe => self.responder_msg3(now, local, from, msg, &m, env),
                    State::RAwaitAuth => self.responder_msg5(now, from, encap, msg, &m),
                    State::IAwaitSa => self.initiator_msg2(now, &m, env),
                    State::IAwaitKe => self.initiator_msg4(now, &m, env),
                    State::IAwaitAuth => self.initiator_msg6(now, from, encap, &m),
                    // Main Mode after establishment: a retransmitted message 5 whose
                    // reply was lost is caught above; anything else is ignored.
                    _ => self.stats.malformed += 1,
                }
            }
            ExchangeType::Quick if self.state == State::Established => {
                self.on_quick(now, from, encap, msg, &m, env)
            }
            ExchangeType::Informational => self.on_informational(now, from, encap, &m, env),
            _ => self.stats.malformed += 1,
        }
    }

    /// The message authenticated: remember the peer is alive and follow it if it moved.
    fn heard(&mut self, now: Instant, from: SocketAddr, encap: bool) {
        self.last_heard = now;
        if self.state == State::Established && self.dpd_peer && !self.policy.dpd_interval.is_zero()
        {
            self.dpd_next = Some(now + self.policy.dpd_interval);
        }
        if from != self.remote || encap != self.encap {
            self.remote = from;
            self.encap = encap;
            self.events
                .push_back(Event::PeerMoved { peer: from, encap });
        }
    }

    fn responder_msg1(&mut self, now: Instant, msg: &[u8], env: &mut Env<'_>) {
        let _ = now;
        let Ok(m) = Message::parse_bytes(msg) else {
            return;
        };
        let Some(p) = parse_chain(c_first(&m), m.body, Trailing::Strict) else {
            self.stats.malformed += 1;
            self.close_with(CloseReason::NoProposalChosen);
            return;
        };
        for v in &p.vids {
            if let Some(d) = NatTDialect::from_vendor_id(v) {
                // RFC 3947 wins over the drafts (RFC 3947 §3.1).
                if self.dialect != Some(NatTDialect::Rfc3947) {
                    self.dialect = Some(d);
                }
            }
            if *v == vendor_id::DPD {
                self.dpd_peer = true;
            }
        }
        if !self.policy.nat_t {
            self.dialect = None;
        }
        let Some((sa, sa_body)) = p.sa else {
            self.stats.malformed += 1;
            self.close_with(CloseReason::NoProposalChosen);
            return;
        };
        // The first acceptable transform of the first ISAKMP proposal.
        let mut chosen = None;
        'outer: for prop in sa.proposals.iter().flatten() {
            if prop.protocol != ProtocolId::Isakmp {
                continue;
            }
            for t in prop.transforms.iter().flatten() {
                if let Some((proposal, life)) = phase1_of(&t)
                    && self.policy.accepts_phase1(&proposal)
                {
                    chosen = Some((prop, t, proposal, life));
                    break 'outer;
                }
            }
        }
        let Some((prop, t, proposal, life)) = chosen else {
            self.notify_clear(NotifyMessageType::NoProposalChosen);
            self.close_with(CloseReason::NoProposalChosen);
            return;
        };
        if proposal.is_legacy() {
            self.stats.legacy_used += 1;
        }
        self.neg.sai_b = sa_body.to_vec();
        self.neg.proposal = Some(proposal);
        let ours = self.policy.phase1_lifetime;
        self.neg.life = Some(life.map_or(ours, |l| l.min(ours)));
        let transforms = [t];
        let proposals = [ProposalRepr {
            number: prop.number,
            protocol: ProtocolId::Isakmp,
            spi: &[],
            transforms: List::Items(&transforms),
        }];
        let reply_sa = SaRepr {
            doi: Doi::Ipsec,
            situation: situation::IDENTITY_ONLY,
            proposals: List::Items(&proposals),
        };
        let mut payloads = vec![Payload::Sa(reply_sa)];
        match self.dialect {
            Some(NatTDialect::Rfc3947) => payloads.push(Payload::VendorId(VendorIdRepr {
                vendor_id: &vendor_id::NAT_T_RFC3947,
            })),
            Some(NatTDialect::Draft) => payloads.push(Payload::VendorId(VendorIdRepr {
                vendor_id: &vendor_id::NAT_T_DRAFT_02_N,
            })),
            None => {}
        }
        payloads.push(Payload::VendorId(VendorIdRepr {
            vendor_id: &vendor_id::DPD,
        }));
        let bytes = self.clear_message(ExchangeType::MAIN, 0, &payloads);
        let _ = env;
        self.send_reply(msg, bytes);
    }

    fn nat_payloads_ok(&mut self, p: &Parsed<'_>, prf: Prf, local: SocketAddr) {
        // First NAT-D: the peer's view of us; the others: the peer's own addresses.
        if self.dialect.is_none() || p.nat_d.is_empty() {
            return;
        }
        let me = nat_d(prf, &self.cky_i, &self.cky_r, local);
        let them = nat_d(prf, &self.cky_i, &self.cky_r, self.remote);
        let we_behind = !me.ct_eq(p.nat_d[0]);
        let they_behind = !p.nat_d[1..].iter().any(|h| them.ct_eq(h));
        self.nat_detected = we_behind || they_behind;
    }

    fn responder_msg3(
        &mut self,
        now: Instant,
        local: SocketAddr,
        from: SocketAddr,
        msg: &[u8],
        m: &Message<'_>,
        env: &mut Env<'_>,
    ) {
        let _ = now;
        if from != self.remote || m.is_encrypted() {
            self.stats.malformed += 1;
            return;
        }
        let Some(p) = parse_chain(c_first(m), m.body, Trailing::Strict) else {
            self.stats.malformed += 1;
            return;
        };
        let (Some(ke), Some(ni), Some(proposal)) = (p.ke, p.nonce, self.neg.proposal) else {
            self.stats.malformed += 1;
            return;
        };
        let group = proposal.group;
        let dh = new_private_key(group, env);
        let Ok(g_xy) = dh.agree(ke) else {
            self.stats.malformed += 1;
            return;
        };
        self.local = local;
        self.nat_payloads_ok(&p, proposal.prf, local);
        let g_xr = dh.public_value().as_bytes().to_vec();
        let nr = random_vec(env, NONCE_LEN);
        let mut payloads = vec![
            Payload::KeyExchange(KeyExchangeRepr { key_data: &g_xr }),
            Payload::Nonce(NonceRepr { nonce: &nr }),
        ];
        let (h_them, h_me);
        if let Some(d) = self.dialect
            && !p.nat_d.is_empty()
        {
            h_them = nat_d(proposal.prf, &self.cky_i, &self.cky_r, self.remote);
            h_me = nat_d(proposal.prf, &self.cky_i, &self.cky_r, local);
            payloads.push(d.nat_d_payload(h_them.as_bytes()));
            payloads.push(d.nat_d_payload(h_me.as_bytes()));
        }
        let bytes = self.clear_message(ExchangeType::MAIN, 0, &payloads);
        self.neg.g_xi = ke.to_vec();
        self.neg.ni = ni.to_vec();
        self.neg.g_xr = g_xr;
        self.neg.nr = nr;
        self.neg.g_xy = Some(g_xy);
        self.neg.dh = None;
        self.state = State::RAwaitAuth;
        self.send_reply(msg, bytes);
    }

    fn responder_msg5(
        &mut self,
        now: Instant,
        from: SocketAddr,
        encap: bool,
        msg: &[u8],
        m: &Message<'_>,
    ) {
        if !m.is_encrypted() || from.ip() != self.remote.ip() {
            self.stats.malformed += 1;
            return;
        }
        let Some(proposal) = self.neg.proposal else {
            return;
        };
        let Some(g_xy) = self.neg.g_xy.as_ref() else {
            return;
        };
        let (prf, cipher) = (proposal.prf, proposal.cipher);
        let policy = Arc::clone(&self.policy);
        let candidates = policy.psk_candidates(self.remote.ip());
        let mut found = None;
        for (want_id, psk) in candidates {
            let skeyid = skeyid_psk(prf, psk, &self.neg.ni, &self.neg.nr);
            let k = Phase1Keys::derive(prf, skeyid, g_xy.as_bytes(), &self.cky_i, &self.cky_r);
            let key = k.cipher_key(prf, cipher);
            let chain = IvChain::phase1(prf, cipher, &self.neg.g_xi, &self.neg.g_xr);
            let mut plain = m.body.to_vec();
            let Ok(next) = chain.decrypt_pending(&key, &mut plain) else {
                continue;
            };
            let Some(p) = parse_chain(c_first(m), &plain, Trailing::PaddingAllowed) else {
                continue;
            };
            let (Some((id, id_b)), Some(hash)) = (p.ids.first(), p.hash) else {
                continue;
            };
            let identity = Identity::from_repr(id);
            if let Some(want) = want_id
                && identity.to_string() != want
            {
                continue;
            }
            let ex = self.exchange();
            if !ex.hash_i(prf, k.skeyid.as_bytes(), id_b).ct_eq(hash) {
                continue;
            }
            let ic = p
                .notifies
                .iter()
                .any(|n| n.message_type == NotifyMessageType::InitialContact);
            found = Some((k, key, next, identity, ic));
            break;
        }
        let Some((k, key, mut chain, identity, initial_contact)) = found else {
            self.stats.bad_hash += 1;
            self.close_with(CloseReason::AuthenticationFailed);
            return;
        };
        // Message 6: IDir, HASH_R.
        let (id_type, id_data) = Identity::from_socket(self.local).encode();
        let id = IdentificationRepr {
            id_type,
            protocol: 17,
            port: 500,
            data: &id_data,
        };
        let mut id_b = vec![0u8; id.buffer_len()];
        id.emit(&mut id_b);
        let ex = self.exchange();
        let hash_r = ex.hash_r(prf, k.skeyid.as_bytes(), &id_b);
        let payloads = [
            Payload::Identification(id),
            Payload::Hash(HashRepr {
                hash: hash_r.as_bytes(),
            }),
        ];
        let bytes =
            self.encrypted_message(ExchangeType::MAIN, 0, &payloads, &key, cipher, &mut chain);
        self.keys = Some(Keys {
            prf,
            cipher,
            skeyid: k.skeyid.clone(),
            skeyid_d: k.skeyid_d.clone(),
            skeyid_a: k.skeyid_a.clone(),
            key,
            iv: chain,
        });
        self.heard(now, from, encap);
        self.send_reply(msg, bytes);
        self.established(now, identity, initial_contact, proposal);
    }

    fn established(
        &mut self,
        now: Instant,
        peer_id: Identity,
        initial_contact: bool,
        proposal: Phase1Proposal,
    ) {
        let life = nonzero_or_default(self.neg.life.unwrap_or(self.policy.phase1_lifetime));
        self.state = State::Established;
        self.expires = Some(now + life);
        self.neg = NegotiationSlot::default();
        self.p1_out = None;
        self.peer_id = Some(peer_id.clone());
        if self.dpd_peer && !self.policy.dpd_interval.is_zero() {
            self.dpd_next = Some(now + self.policy.dpd_interval);
        }
        self.events.push_back(Event::Phase1Up {
            peer_id,
            initial_contact,
            nat_detected: self.nat_detected,
            proposal,
        });
    }

    fn initiator_msg2(&mut self, now: Instant, m: &Message<'_>, env: &mut Env<'_>) {
        let Some(p) = (!m.is_encrypted())
            .then(|| parse_chain(c_first(m), m.body, Trailing::Strict))
            .flatten()
        else {
            self.stats.malformed += 1;
            return;
        };
        if let Some(n) = p.notifies.first() {
            self.close_with(CloseReason::PeerRefused(n.message_type.into()));
            return;
        }
        let Some(proposal) =
            p.sa.and_then(|(sa, _)| sa.proposals.iter().flatten().next())
                .and_then(|prop| prop.transforms.iter().flatten().next())
                .and_then(|t| phase1_of(&t))
        else {
            self.stats.malformed += 1;
            return;
        };
        if !self.policy.phase1.contains(&proposal.0) {
            self.stats.malformed += 1;
            return;
        }
        self.cky_r = m.header.responder_cookie;
        for v in &p.vids {
            if let Some(d) = NatTDialect::from_vendor_id(v)
                && self.policy.nat_t
                && self.dialect != Some(NatTDialect::Rfc3947)
            {
                self.dialect = Some(d);
            }
            if *v == vendor_id::DPD {
                self.dpd_peer = true;
            }
        }
        let (proposal, life) = proposal;
        self.neg.proposal = Some(proposal);
        self.neg.life = Some(life.unwrap_or(self.policy.phase1_lifetime));
        let dh = new_private_key(proposal.group, env);
        let g_xi = dh.public_value().as_bytes().to_vec();
        let ni = random_vec(env, NONCE_LEN);
        let mut payloads = vec![
            Payload::KeyExchange(KeyExchangeRepr { key_data: &g_xi }),
            Payload::Nonce(NonceRepr { nonce: &ni }),
        ];
        let (h_them, h_me);
        if let Some(d) = self.dialect {
            h_them = nat_d(proposal.prf, &self.cky_i, &self.cky_r, self.remote);
            let me = if self.force_encap {
                // A random "address": the responder cannot match it, so it sees a NAT.
                let r = random_vec(env, 6);
                SocketAddr::new(
                    IpAddr::from([r[0], r[1], r[2], r[3]]),
                    u16::from_be_bytes([r[4], r[5]]),
                )
            } else {
                self.local
            };
            h_me = nat_d(proposal.prf, &self.cky_i, &self.cky_r, me);
            payloads.push(d.nat_d_payload(h_them.as_bytes()));
            payloads.push(d.nat_d_payload(h_me.as_bytes()));
        }
        let bytes = self.clear_message(ExchangeType::MAIN, 0, &payloads);
        self.neg.dh = Some(dh);
        self.neg.g_xi = g_xi;
        self.neg.ni = ni;
        self.state = State::IAwaitKe;
        self.send_request(now, bytes);
    }

    fn initiator_msg4(&mut self, now: Instant, m: &Message<'_>, env: &mut Env<'_>) {
        let Some(p) = (!m.is_encrypted())
            .then(|| parse_chain(c_first(m), m.body, Trailing::Strict))
            .flatten()
        else {
            self.stats.malformed += 1;
            return;
        };
        let (Some(ke), Some(nr), Some(proposal), Some(dh)) =
            (p.ke, p.nonce, self.neg.proposal, self.neg.dh.as_ref())
        else {
            self.stats.malformed += 1;
            return;
        };
        let Ok(g_xy) = dh.agree(ke) else {
            self.stats.malformed += 1;
            return;
        };
        let (prf, cipher) = (proposal.prf, proposal.cipher);
        self.neg.g_xr = ke.to_vec();
        self.neg.nr = nr.to_vec();
        if self.dialect.is_some() && p.nat_d.len() >= 2 {
            let me = nat_d(prf, &self.cky_i, &self.cky_r, self.local);
            let them = nat_d(prf, &self.cky_i, &self.cky_r, self.remote);
            let we_behind = self.force_encap || !me.ct_eq(p.nat_d[0]);
            let they_behind = !p.nat_d[1..].iter().any(|h| them.ct_eq(h));
            self.nat_detected = we_behind || they_behind;
        }
        // RFC 3947 §4: with a NAT on the path, continue on the NAT-T port.
        if self.nat_detected {
            self.remote = SocketAddr::new(self.remote.ip(), self.nat_t_port);
            self.encap = true;
        }
        let Some(psk) = self.neg.psk.as_ref() else {
            return;
        };
        let skeyid = skeyid_psk(prf, psk, &self.neg.ni, &self.neg.nr);
        let k = Phase1Keys::derive(prf, skeyid, g_xy.as_bytes(), &self.cky_i, &self.cky_r);
        let key = k.cipher_key(prf, cipher);
        let mut chain = IvChain::phase1(prf, cipher, &self.neg.g_xi, &self.neg.g_xr);
        let local_id = self
            .neg
            .local_id
            .clone()
            .unwrap_or_else(|| Identity::from_socket(self.local));
        let (id_type, id_data) = local_id.encode();
        let id = IdentificationRepr {
            id_type,
            protocol: 17,
            port: 500,
            data: &id_data,
        };
        let mut id_b = vec![0u8; id.buffer_len()];
        id.emit(&mut id_b);
        let ex = self.exchange();
        let hash_i = ex.hash_i(prf, k.skeyid.as_bytes(), &id_b);
        let spi = self.isakmp_spi();
        let mut payloads = vec![
            Payload::Identification(id),
            Payload::Hash(HashRepr {
                hash: hash_i.as_bytes(),
            }),
        ];
        if self.neg.initial_contact {
            payloads.push(Payload::Notification(NotificationRepr {
                doi: Doi::Ipsec,
                protocol: ProtocolId::Isakmp,
                message_type: NotifyMessageType::InitialContact,
                spi: &spi,
                data: &[],
            }));
        }
        let bytes =
            self.encrypted_message(ExchangeType::MAIN, 0, &payloads, &key, cipher, &mut chain);
        self.neg.keys = Some(Keys {
            prf,
            cipher,
            skeyid: k.skeyid.clone(),
            skeyid_d: k.skeyid_d.clone(),
            skeyid_a: k.skeyid_a.clone(),
            key,
            iv: chain,
        });
        self.neg.g_xy = Some(g_xy);
        self.state = State::IAwaitAuth;
        let _ = env;
        self.send_request(now, bytes);
    }

    fn initiator_msg6(&mut self, now: Instant, from: SocketAddr, encap: bool, m: &Message<'_>) {
        let Some(k) = self.neg.keys.as_ref() else {
            return;
        };
        if !m.is_encrypted() {
            // A clear Notify instead of message 6: refused.
            if let Some(p) = parse_chain(c_first(m), m.body, Trailing::Strict)
                && let Some(n) = p.notifies.first()
            {
                self.close_with(CloseReason::PeerRefused(n.message_type.into()));
            }
            return;
        }
        let mut plain = m.body.to_vec();
        let Ok(next) = k.iv.decrypt_pending(&k.key, &mut plain) else {
            self.stats.malformed += 1;
            return;
        };
        let Some(p) = parse_chain(c_first(m), &plain, Trailing::PaddingAllowed) else {
            self.stats.bad_hash += 1;
            return;
        };
        let (Some((id, id_b)), Some(hash)) = (p.ids.first(), p.hash) else {
            self.stats.bad_hash += 1;
            return;
        };
        let ex = self.exchange();
        if !ex.hash_r(k.prf, k.skeyid.as_bytes(), id_b).ct_eq(hash) {
            self.stats.bad_hash += 1;
            return;
        }
        let identity = Identity::from_repr(id);
        let Some(mut keys) = self.neg.keys.take() else {
            return;
        };
        keys.iv = next;
        self.keys = Some(keys);
        let Some(proposal) = self.neg.proposal else {
            return;
        };
        self.heard(now, from, encap);
        self.established(now, identity, false, proposal);
    }

    // ---------------------------------------------------------------- phase 2

    /// Decrypts an encrypted phase-2 message with `chain`, returning the plaintext and
    /// the chain after it.
    fn decrypt_phase2(&self, m: &Message<'_>, chain: &IvChain) -> Option<(Vec<u8>, IvChain)> {
        let k = self.keys.as_ref()?;
        if !m.is_encrypted() {
            return None;
        }
        let mut plain = m.body.to_vec();
        let next = chain.decrypt_pending(&k.key, &mut plain).ok()?;
        Some((plain, next))
    }

    fn on_informational(
        &mut self,
        now: Instant,
        from: SocketAddr,
        encap: bool,
        m: &Message<'_>,
        env: &mut Env<'_>,
    ) {
        let Some(k) = self.keys.as_ref() else {
            // Before keys: a clear Notify refusing us.
            if self.initiator
                && !m.is_encrypted()
                && let Some(p) = parse_chain(c_first(m), m.body, Trailing::Strict)
                && let Some(n) = p.notifies.first()
            {
                self.close_with(CloseReason::PeerRefused(n.message_type.into()));
            } else {
                self.stats.malformed += 1;
            }
            return;
        };
        let msg_id = m.header.message_id;
        let chain = IvChain::phase2(k.prf, k.cipher, &k.iv, msg_id);
        let (prf, skeyid_a) = (k.prf, k.skeyid_a.clone());
        let Some((plain, _)) = self.decrypt_phase2(m, &chain) else {
            self.stats.malformed += 1;
            return;
        };
        let Some(p) = parse_chain(c_first(m), &plain, Trailing::PaddingAllowed) else {
            self.stats.bad_hash += 1;
            return;
        };
        let Some(hash) = p.hash else {
            self.stats.bad_hash += 1;
            return;
        };
        if !informational_hash(prf, skeyid_a.as_bytes(), msg_id, p.after_hash).ct_eq(hash) {
            self.stats.bad_hash += 1;
            return;
        }
        self.heard(now, from, encap);
        for n in &p.notifies {
            match n.message_type {
                NotifyMessageType::RUThere => {
                    let spi = n.spi.to_vec();
                    let data = n.data.to_vec();
                    let ack = Payload::Notification(NotificationRepr {
                        doi: Doi::Ipsec,
                        protocol: ProtocolId::Isakmp,
                        message_type: NotifyMessageType::RUThereAck,
                        spi: &spi,
                        data: &data,
                    });
                    self.send_informational(&[ack], env);
                }
                NotifyMessageType::RUThereAck => {}
                _ => {}
            }
        }
        let mut closed = false;
        for d in &p.deletes {
            match d.protocol {
                ProtocolId::IpsecEsp => {
                    for spi in d.spis() {
                        let Ok(b) = <[u8; 4]>::try_from(spi) else {
                            continue;
                        };
                        let out = u32::from_be_bytes(b);
                        if let Some(i) = self.children.iter().position(|c| c.outbound_spi == out) {
                            let c = self.children.remove(i);
                            self.events.push_back(Event::ChildDown {
                                inbound_spi: c.inbound_spi,
                                outbound_spi: c.outbound_spi,
                            });
                        }
                    }
                }
                ProtocolId::Isakmp => {
                    let mine = self.isakmp_spi();
                    if d.spis().any(|s| s == mine.as_slice()) {
                        closed = true;
                    }
                }
                _ => {}
            }
        }
        if closed {
            self.close_with(CloseReason::PeerDeleted);
        }
    }

    fn remember_id(&mut self, id: u32) {
        if self.seen_ids.len() == SEEN_IDS {
            self.seen_ids.pop_front();
        }
        self.seen_ids.push_back(id);
    }

    fn on_quick(
        &mut self,
        now: Instant,
        from: SocketAddr,
        encap: bool,
        msg: &[u8],
        m: &Message<'_>,
        env: &mut Env<'_>,
    ) {
        let msg_id = m.header.message_id;
        if msg_id == 0 {
            return;
        }
        if self.seen_ids.contains(&msg_id) {
            let d = digest(msg);
            if let Some((_, _, t)) = self
                .finished
                .iter()
                .find(|(id, seen, _)| *id == msg_id && seen.ct_eq(d.as_bytes()))
            {
                self.stats.duplicates += 1;
                let t = t.clone();
                self.tx.push_back(t);
            }
            return;
        }
        if let Some(i) = self.exchanges.iter().position(|q| q.msg_id == msg_id) {
            let dup = self.exchanges[i]
                .last_in
                .as_ref()
                .is_some_and(|d| d.ct_eq(digest(msg).as_bytes()));
            if dup {
                if let Some(o) = &self.exchanges[i].out {
                    self.stats.duplicates += 1;
                    let t = o.msg.clone();
                    self.tx.push_back(t);
                }
                return;
            }
            match self.exchanges[i].state {
                QmState::RAwaitHash3 => self.responder_qm3(now, from, encap, i, m),
                QmState::IAwaitReply => self.initiator_qm2(now, from, encap, i, msg, m),
            }
            return;
        }
        if self.exchanges.len() >= MAX_EXCHANGES {
            self.stats.qm_refused += 1;
            return;
        }
        self.responder_qm1(now, from, encap, msg, m, env);
    }

    fn responder_qm1(
        &mut self,
        now: Instant,
        from: SocketAddr,
        encap: bool,
        msg: &[u8],
        m: &Message<'_>,
        env: &mut Env<'_>,
    ) {
        let Some(k) = self.keys.as_ref() else { return };
        let (prf, cipher) = (k.prf, k.cipher);
        let skeyid_a = k.skeyid_a.clone();
        let msg_id = m.header.message_id;
        let chain = IvChain::phase2(prf, cipher, &k.iv, msg_id);
        let Some((plain, mut chain)) = self.decrypt_phase2(m, &chain) else {
            self.stats.malformed += 1;
            return;
        };
        let Some(p) = parse_chain(c_first(m), &plain, Trailing::PaddingAllowed) else {
            self.stats.bad_hash += 1;
            return;
        };
        let Some(hash) = p.hash else {
            self.stats.bad_hash += 1;
            return;
        };
        if !quick_mode_hash1(prf, skeyid_a.as_bytes(), msg_id, p.after_hash).ct_eq(hash) {
            self.stats.bad_hash += 1;
            return;
        }
        self.heard(now, from, encap);
        let (Some((sa, _)), Some(ni)) = (p.sa, p.nonce) else {
            self.stats.qm_refused += 1;
            return;
        };
        // IDs: transport mode for L2TP (see the module docs).
        let (mut local_port, mut remote_port) = (L2TP_PORT, 0);
        if p.ids.len() == 2 {
            let (ci, cr) = (&p.ids[0].0, &p.ids[1].0);
            let proto_ok = |pr: u8| pr == 0 || pr == 17;
            if !proto_ok(ci.protocol)
                || !proto_ok(cr.protocol)
                || !(cr.port == 0 || cr.port == L2TP_PORT)
            {
                self.refuse_qm(msg_id, NotifyMessageType::InvalidIdInformation, env);
                return;
            }
            remote_port = ci.port;
            local_port = if cr.port == 0 { L2TP_PORT } else { cr.port };
        } else if !p.ids.is_empty() {
            self.refuse_qm(msg_id, NotifyMessageType::InvalidIdInformation, env);
            return;
        }
        let want_encap = self.nat_detected;
        let mut chosen = None;
        'outer: for prop in sa.proposals.iter().flatten() {
            if prop.protocol != ProtocolId::IpsecEsp || prop.spi.len() != 4 {
                continue;
            }
            for t in prop.transforms.iter().flatten() {
                let Some(c) = esp_of(&t) else { continue };
                let mode_ok = match c.encap {
                    EncapsulationMode::Transport => !want_encap,
                    EncapsulationMode::UdpEncapsulatedTransport
                    | EncapsulationMode::UdpEncapsulatedTransportDraft => {
                        want_encap && self.dialect.is_some()
                    }
                    _ => false,
                };
                let pfs_ok = match (c.group, p.ke, self.policy.pfs) {
                    (None, None, Pfs::Required) => false,
                    (Some(_), _, Pfs::Refused) => false,
                    (Some(g), Some(ke), _) => {
                        self.policy.pfs_groups.contains(&g) && ke.len() == g.public_value_len()
                    }
                    (None, None, _) => true,
                    _ => false,
                };
                if mode_ok && pfs_ok && self.policy.accepts_esp(c.suite) {
                    chosen = Some((prop, t, c));
                    break 'outer;
                }
            }
        }
        let Some((prop, t, c)) = chosen else {
            self.refuse_qm(msg_id, NotifyMessageType::NoProposalChosen, env);
            return;
        };
        if matches!(c.suite, Suite::TripleDesCbc { .. }) {
            self.stats.legacy_used += 1;
        }
        let peer_spi = u32::from_be_bytes([prop.spi[0], prop.spi[1], prop.spi[2], prop.spi[3]]);
        let my_spi = (env.spi)();
        let ours = self.policy.phase2_lifetime.as_secs();
        let secs = c.life_secs.unwrap_or(28800).min(ours).max(1);
        let our_kb = self.policy.phase2_lifetime_kb;
        let kb = match (c.life_kb, our_kb) {
            (Some(t), 0) => t,
            (Some(t), o) => t.min(o),
            (None, o) => o,
        };
        let shorten_secs = c.life_secs.is_some_and(|t| t > secs);
        let shorten_kb = our_kb != 0 && c.life_kb.is_none_or(|t| t > our_kb);
        let nr = random_vec(env, NONCE_LEN);
        let (dh, g_xr, g_xy) = match (c.group, p.ke) {
            (Some(g), Some(ke)) => {
                let dh = new_private_key(g, env);
                let Ok(s) = dh.agree(ke) else {
                    self.refuse_qm(msg_id, NotifyMessageType::InvalidKeyInformation, env);
                    return;
                };
                let pubv = dh.public_value().as_bytes().to_vec();
                (Some(dh), Some(pubv), Some(s))
            }
            _ => (None, None, None),
        };
        let my_spi_b = my_spi.to_be_bytes();
        let transforms = [t];
        let proposals = [ProposalRepr {
            number: prop.number,
            protocol: ProtocolId::IpsecEsp,
            spi: &my_spi_b,
            transforms: List::Items(&transforms),
        }];
        let sa_reply = SaRepr {
            doi: Doi::Ipsec,
            situation: situation::IDENTITY_ONLY,
            proposals: List::Items(&proposals),
        };
        let mut rest: Vec<Payload<'_>> = vec![
            Payload::Sa(sa_reply),
            Payload::Nonce(NonceRepr { nonce: &nr }),
        ];
        if let Some(g) = &g_xr {
            rest.push(Payload::KeyExchange(KeyExchangeRepr { key_data: g }));
        }
        for (id, _) in &p.ids {
            rest.push(Payload::Identification(*id));
        }
        // NAT-OA (RFC 3947 §5.2): the peer's address as we see it and ours.
        let (oa_i, oa_r);
        if let Some(d) = self.dialect
            && !p.nat_oa.is_empty()
        {
            oa_i = ip_bytes(self.remote.ip());
            oa_r = ip_bytes(self.local.ip());
            let ty = |b: &[u8]| {
                if b.len() == 4 {
                    IdType::Ipv4Addr
                } else {
                    IdType::Ipv6Addr
                }
            };
            for a in [&oa_i, &oa_r] {
                let repr = NatOaRepr {
                    id_type: ty(a),
                    address: a,
                };
                rest.push(match d {
                    NatTDialect::Rfc3947 => Payload::NatOa(repr),
                    NatTDialect::Draft => Payload::NatOaDraft(repr),
                });
            }
        }
        let (secs_b, kb_b) = (life_attr_bytes(secs), life_attr_bytes(kb));
        let mut life_attrs = Vec::new();
        if shorten_secs {
            life_attrs.push(DataAttribute::basic(
                IpsecClass::SaLifeType,
                LifeType::Seconds.into(),
            ));
            life_attrs.push(DataAttribute::variable(IpsecClass::SaLifeDuration, &secs_b));
        }
        if shorten_kb {
            life_attrs.push(DataAttribute::basic(
                IpsecClass::SaLifeType,
                LifeType::Kilobytes.into(),
            ));
            life_attrs.push(DataAttribute::variable(IpsecClass::SaLifeDuration, &kb_b));
        }
        let mut life_data = Vec::new();
        for a in &life_attrs {
            let mut b = vec![0u8; a.buffer_len()];
            a.emit(&mut b);
            life_data.extend_from_slice(&b);
        }
        if !life_attrs.is_empty() {
            // RFC 2407 §4.6.3.1: the SPI of the SA, the attributes as data.
            rest.push(Payload::Notification(NotificationRepr {
                doi: Doi::Ipsec,
                protocol: ProtocolId::IpsecEsp,
                message_type: NotifyMessageType::ResponderLifetime,
                spi: &prop.spi[..4],
                data: &life_data,
            }));
        }
        let mut rest_b = vec![0u8; crate::wire::isakmp::chain_len(&rest)];
        emit_chain(&rest, &mut rest_b);
        let hash2 = quick_mode_hash2(prf, skeyid_a.as_bytes(), msg_id, ni, &rest_b);
        let mut all = vec![Payload::Hash(HashRepr {
            hash: hash2.as_bytes(),
        })];
        all.extend_from_slice(&rest);
        let Some(k) = self.keys.as_ref() else { return };
        let bytes = self.encrypted_message(
            ExchangeType::Quick,
            msg_id,
            &all,
            &k.key,
            cipher,
            &mut chain,
        );
        let t = self.transmit(bytes);
        self.tx.push_back(t.clone());
        let replaces = self
            .children
            .iter()
            .rev()
            .find(|ch| ch.remote_port == remote_port && ch.local_port == local_port)
            .map(|ch| ch.inbound_spi);
        self.exchanges.push(QuickMode {
            msg_id,
            state: QmState::RAwaitHash3,
            iv: chain,
            ni: ni.to_vec(),
            nr,
            dh,
            g_xy,
            suite: Some(c.suite),
            encap: want_encap,
            my_spi,
            peer_spi,
            local_port,
            remote_port,
            lifetime: Duration::from_secs(secs),
            lifetime_kb: kb,
            proposals: vec![EspProposal {
                suite: c.suite,
                pfs: c.group,
            }],
            initiated: false,
            replaces,
            peer_original: p.nat_oa.first().and_then(|o| {
                o.ipv4_addr()
                    .map(IpAddr::V4)
                    .or(o.ipv6_addr().map(IpAddr::V6))
            }),
            last_in: Some(digest(msg)),
            out: Some(Outstanding {
                msg: t,
                at: now + self.policy.retransmit_initial,
                interval: self.policy.retransmit_initial,
                left: self.policy.retransmit_retries,
            }),
            started: now,
        });
        // The initiator may send under the new SA as soon as it has sent HASH(3), so
        // the inbound SA is installed now; we send under it once HASH(3) is here.
        if let Some(child) = self.exchanges.last().and_then(|q| self.child_sa(q, false)) {
            self.events.push_back(Event::ChildUp(child));
        }
    }

    fn refuse_qm(&mut self, msg_id: u32, kind: NotifyMessageType, env: &mut Env<'_>) {
        self.stats.qm_refused += 1;
        self.remember_id(msg_id);
        let n = Payload::Notification(NotificationRepr {
            doi: Doi::Ipsec,
            protocol: ProtocolId::IpsecEsp,
            message_type: kind,
            spi: &[],
            data: &[],
        });
        self.send_informational(&[n], env);
    }

    fn responder_qm3(
        &mut self,
        now: Instant,
        from: SocketAddr,
        encap: bool,
        i: usize,
        m: &Message<'_>,
    ) {
        let Some(k) = self.keys.as_ref() else { return };
        let (prf, skeyid_a) = (k.prf, k.skeyid_a.clone());
        let q = &self.exchanges[i];
        let Some((plain, _)) = self.decrypt_phase2(m, &q.iv) else {
            self.stats.malformed += 1;
            return;
        };
        let Some(p) = parse_chain(c_first(m), &plain, Trailing::PaddingAllowed) else {
            self.stats.bad_hash += 1;
            return;
        };
        let Some(hash) = p.hash else {
            self.stats.bad_hash += 1;
            return;
        };
        if !quick_mode_hash3(prf, skeyid_a.as_bytes(), q.msg_id, &q.ni, &q.nr).ct_eq(hash) {
            self.stats.bad_hash += 1;
            return;
        }
        self.heard(now, from, encap);
        let q = self.exchanges.remove(i);
        self.remember_id(q.msg_id);
        self.child_commit(now, &q);
        self.events.push_back(Event::ChildReady {
            inbound_spi: q.my_spi,
        });
    }

    /// KEYMAT for both directions (RFC 2409 §5.5) and the ChildUp event.
    /// The negotiated pair with its KEYMAT for both directions (RFC 2409 §5.5).
    fn child_sa(&self, q: &QuickMode, ready: bool) -> Option<ChildSa> {
        let k = self.keys.as_ref()?;
        let suite = q.suite?;
        let len = suite.encryption_key_len() + suite.integrity_key_len();
        let (ni, nr) = (q.ni.as_slice(), q.nr.as_slice());
        let derive = |spi: u32| {
            let spi_b = spi.to_be_bytes();
            let seed = KeymatSeed {
                pfs_g_xy: q.g_xy.as_ref().map(|s| s.as_bytes()),
                protocol: ProtocolId::IpsecEsp.into(),
                spi: &spi_b,
                ni_b: ni,
                nr_b: nr,
            };
            let mut out = Zeroizing::new(vec![0u8; len]);
            keymat(k.prf, k.skeyid_d.as_bytes(), &seed, &mut out);
            out
        };
        Some(ChildSa {
            inbound_spi: q.my_spi,
            outbound_spi: q.peer_spi,
            suite,
            encap: q.encap,
            peer: self.remote,
            local_port: q.local_port,
            remote_port: q.remote_port,
            lifetime: q.lifetime,
            lifetime_kb: q.lifetime_kb,
            replaces: q.replaces,
            peer_original: q.peer_original,
            ready,
            inbound_key: derive(q.my_spi),
            outbound_key: derive(q.peer_spi),
        })
    }

    /// The pair is live on both sides: it joins the children (lifetimes, rekeys) and
    /// the pair it replaces is scheduled to go.
    fn child_commit(&mut self, now: Instant, q: &QuickMode) {
        let Some(suite) = q.suite else { return };
        let hard = now + q.lifetime;
        // The side that negotiated the pair rekeys it first; the other side only if
        // that did not happen (both rekeying at once would make two new pairs).
        let soft = now + q.lifetime.mul_f32(if q.initiated { 0.9 } else { 0.95 });
        // The pair this one replaces: rekey it no more, delete it shortly.
        if let Some(old) = q.replaces
            && let Some(c) = self.children.iter_mut().find(|c| c.inbound_spi == old)
        {
            c.soft = None;
            c.hard = c.hard.min(now + REKEY_OVERLAP);
        }
        if self.children.len() >= MAX_CHILDREN {
            // Drop the oldest: a peer that rekeys in a loop cannot grow us.
            let c = self.children.remove(0);
            self.events.push_back(Event::ChildDown {
                inbound_spi: c.inbound_spi,
                outbound_spi: c.outbound_spi,
            });
        }
        self.children.push(Child {
            inbound_spi: q.my_spi,
            outbound_spi: q.peer_spi,
            suite,
            pfs: q.proposals.first().and_then(|p| p.pfs),
            local_port: q.local_port,
            remote_port: q.remote_port,
            soft: Some(soft),
            hard,
        });
    }

    /// Starts a Quick Mode as its initiator (loadgen; our rekeys).
    pub fn start_quick_mode(
        &mut self,
        now: Instant,
        params: QuickModeParams,
        env: &mut Env<'_>,
    ) -> Result<(), IkeError> {
        self.start_qm(now, params, None, env)
    }

    fn start_qm(
        &mut self,
        now: Instant,
        params: QuickModeParams,
        replaces: Option<u32>,
        env: &mut Env<'_>,
    ) -> Result<(), IkeError> {
        if self.state != State::Established {
            return Err(IkeError::NotEstablished);
        }
        let Some(first) = params.esp.first() else {
            return Err(IkeError::NoProposals);
        };
        let Some(k) = self.keys.as_ref() else {
            return Err(IkeError::NotEstablished);
        };
        let (prf, cipher, skeyid_a) = (k.prf, k.cipher, k.skeyid_a.clone());
        let msg_id = loop {
            let id = random_u32(env);
            if id != 0 && !self.exchanges.iter().any(|q| q.msg_id == id) {
                break id;
            }
        };
        let my_spi = (env.spi)();
        let my_spi_b = my_spi.to_be_bytes();
        let group = first.pfs;
        let encap_mode = match (self.encap, self.dialect) {
            (true, Some(d)) => d.udp_encapsulated_transport(),
            _ => EncapsulationMode::Transport,
        };
        let secs_b = life_attr_bytes(self.policy.phase2_lifetime.as_secs());
        let attrs: Vec<Vec<DataAttribute<'_>>> = params
            .esp
            .iter()
            .map(|e| {
                let (_, bits, auth) = esp_transform_attrs(e.suite);
                let mut a = vec![
                    DataAttribute::basic(IpsecClass::SaLifeType, LifeType::Seconds.into()),
                    DataAttribute::variable(IpsecClass::SaLifeDuration, &secs_b),
                    DataAttribute::basic(IpsecClass::EncapsulationMode, encap_mode.into()),
                ];
                if let Some(g) = group {
                    a.push(DataAttribute::basic(IpsecClass::GroupDescription, g.id()));
                }
                if let Some(auth) = auth {
                    a.push(DataAttribute::basic(
                        IpsecClass::AuthenticationAlgorithm,
                        auth.into(),
                    ));
                }
                if let Some(bits) = bits {
                    a.push(DataAttribute::basic(IpsecClass::KeyLength, bits));
                }
                a
            })
            .collect();
        let transforms: Vec<TransformRepr<'_>> = params
            .esp
            .iter()
            .zip(&attrs)
            .enumerate()
            .map(|(i, (e, a))| TransformRepr {
                number: (i + 1) as u8,
                transform_id: esp_transform_attrs(e.suite).0.into(),
                attributes: List::Items(a),
            })
            .collect();
        let proposals = [ProposalRepr {
            number: 1,
            protocol: ProtocolId::IpsecEsp,
            spi: &my_spi_b,
            transforms: List::Items(&transforms),
        }];
        let sa = SaRepr {
            doi: Doi::Ipsec,
            situation: situation::IDENTITY_ONLY,
            proposals: List::Items(&proposals),
        };
        let ni = random_vec(env, NONCE_LEN);
        let dh = group.map(|g| new_private_key(g, env));
        let g_xi = dh.as_ref().map(|d| d.public_value().as_bytes().to_vec());
        let local_ip = ip_bytes(self.local.ip());
        let remote_ip = ip_bytes(self.remote.ip());
        let ty = |b: &[u8]| {
            if b.len() == 4 {
                IdType::Ipv4Addr
            } else {
                IdType::Ipv6Addr
            }
        };
        let idci = IdentificationRepr {
            id_type: ty(&local_ip),
            protocol: 17,
            port: params.local_port,
            data: &local_ip,
        };
        let idcr = IdentificationRepr {
            id_type: ty(&remote_ip),
            protocol: 17,
            port: params.remote_port,
            data: &remote_ip,
        };
        let mut rest = vec![Payload::Sa(sa), Payload::Nonce(NonceRepr { nonce: &ni })];
        if let Some(g) = &g_xi {
            rest.push(Payload::KeyExchange(KeyExchangeRepr { key_data: g }));
        }
        rest.push(Payload::Identification(idci));
        rest.push(Payload::Identification(idcr));
        if self.encap
            && let Some(d) = self.dialect
        {
            for a in [&local_ip, &remote_ip] {
                let repr = NatOaRepr {
                    id_type: ty(a),
                    address: a,
                };
                rest.push(match d {
                    NatTDialect::Rfc3947 => Payload::NatOa(repr),
                    NatTDialect::Draft => Payload::NatOaDraft(repr),
                });
            }
        }
        let mut rest_b = vec![0u8; crate::wire::isakmp::chain_len(&rest)];
        emit_chain(&rest, &mut rest_b);
        let hash1 = quick_mode_hash1(prf, skeyid_a.as_bytes(), msg_id, &rest_b);
        let mut all = vec![Payload::Hash(HashRepr {
            hash: hash1.as_bytes(),
        })];
        all.extend_from_slice(&rest);
        let Some(k) = self.keys.as_ref() else {
            return Err(IkeError::NotEstablished);
        };
        let mut chain = IvChain::phase2(prf, cipher, &k.iv, msg_id);
        let bytes = self.encrypted_message(
            ExchangeType::Quick,
            msg_id,
            &all,
            &k.key,
            cipher,
            &mut chain,
        );
        let t = self.transmit(bytes);
        self.tx.push_back(t.clone());
        self.exchanges.push(QuickMode {
            msg_id,
            state: QmState::IAwaitReply,
            iv: chain,
            ni,
            nr: Vec::new(),
            dh,
            g_xy: None,
            suite: None,
            encap: self.encap,
            my_spi,
            peer_spi: 0,
            local_port: params.local_port,
            remote_port: params.remote_port,
            lifetime: nonzero_or_default(self.policy.phase2_lifetime),
            lifetime_kb: 0,
            proposals: params.esp,
            initiated: true,
            replaces,
            peer_original: None,
            last_in: None,
            out: Some(Outstanding {
                msg: t,
                at: now + self.policy.retransmit_initial,
                interval: self.policy.retransmit_initial,
                left: self.policy.retransmit_retries,
            }),
            started: now,
        });
        Ok(())
    }

    fn initiator_qm2(
        &mut self,
        now: Instant,
        from: SocketAddr,
        encap: bool,
        i: usize,
        msg: &[u8],
        m: &Message<'_>,
    ) {
        let Some(k) = self.keys.as_ref() else { return };
        let (prf, cipher, skeyid_a) = (k.prf, k.cipher, k.skeyid_a.clone());
        let q = &self.exchanges[i];
        let Some((plain, mut chain)) = self.decrypt_phase2(m, &q.iv) else {
            self.stats.malformed += 1;
            return;
        };
        let Some(p) = parse_chain(c_first(m), &plain, Trailing::PaddingAllowed) else {
            self.stats.bad_hash += 1;
            return;
        };
        let Some(hash) = p.hash else {
            self.stats.bad_hash += 1;
            return;
        };
        if !quick_mode_hash2(prf, skeyid_a.as_bytes(), q.msg_id, &q.ni, p.after_hash).ct_eq(hash) {
            self.stats.bad_hash += 1;
            return;
        }
        self.heard(now, from, encap);
        let chosen = p.sa.and_then(|(sa, _)| {
            let prop = sa.proposals.iter().flatten().next()?;
            let t = prop.transforms.iter().flatten().next()?;
            let c = esp_of(&t)?;
            let spi = <[u8; 4]>::try_from(prop.spi).ok()?;
            Some((u32::from_be_bytes(spi), c))
        });
        let Some(nr) = p.nonce else {
            self.stats.malformed += 1;
            return;
        };
        let Some((peer_spi, c)) = chosen.filter(|(_, c)| {
            self.exchanges[i]
                .proposals
                .iter()
                .any(|e| e.suite == c.suite)
        }) else {
            self.stats.qm_refused += 1;
            let q = self.exchanges.remove(i);
            self.remember_id(q.msg_id);
            return;
        };
        let g_xy = match (&self.exchanges[i].dh, p.ke) {
            (Some(dh), Some(ke)) => match dh.agree(ke) {
                Ok(s) => Some(s),
                Err(_) => {
                    self.stats.malformed += 1;
                    return;
                }
            },
            (None, None) => None,
            _ => {
                self.stats.malformed += 1;
                return;
            }
        };
        // RESPONDER-LIFETIME: the responder's shorter lifetime wins.
        let mut lifetime = self.exchanges[i].lifetime;
        for n in &p.notifies {
            if n.message_type == NotifyMessageType::ResponderLifetime {
                let mut life_type = None;
                if let Ok(attrs) = List::<DataAttribute<'_>>::parse(n.data) {
                    for a in attrs.iter().flatten() {
                        match IpsecClass::from(a.attribute_type) {
                            IpsecClass::SaLifeType => life_type = a.basic_value(),
                            IpsecClass::SaLifeDuration
                                if life_type == Some(LifeType::Seconds.into()) =>
                            {
                                if let Ok(v) = a.value_u64() {
                                    lifetime = lifetime.min(Duration::from_secs(v.max(1)));
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        let q = &mut self.exchanges[i];
        q.nr = nr.to_vec();
        q.peer_spi = peer_spi;
        q.suite = Some(c.suite);
        q.g_xy = g_xy;
        q.lifetime = lifetime;
        q.lifetime_kb = c.life_kb.unwrap_or(0);
        let hash3 = quick_mode_hash3(prf, skeyid_a.as_bytes(), q.msg_id, &q.ni, &q.nr);
        let msg_id = q.msg_id;
        let payloads = [Payload::Hash(HashRepr {
            hash: hash3.as_bytes(),
        })];
        let Some(k) = self.keys.as_ref() else { return };
        let bytes = self.encrypted_message(
            ExchangeType::Quick,
            msg_id,
            &payloads,
            &k.key,
            cipher,
            &mut chain,
        );
        let t = self.transmit(bytes);
        self.tx.push_back(t.clone());
        if self.finished.len() == SEEN_IDS {
            self.finished.pop_front();
        }
        self.finished.push_back((msg_id, digest(msg), t));
        let q = self.exchanges.remove(i);
        self.remember_id(q.msg_id);
        if let Some(child) = self.child_sa(&q, true) {
            self.events.push_back(Event::ChildUp(child));
        }
        self.child_commit(now, &q);
    }

    // ---------------------------------------------------------------- timers

    pub fn handle_timeout(&mut self, now: Instant, env: &mut Env<'_>) {
        if self.state == State::Closed {
            return;
        }
        if self.state != State::Established
            && self
                .neg
                .started
                .is_some_and(|s| now >= s + exchange_timeout(&self.policy))
        {
            self.close_with(CloseReason::Timeout);
            return;
        }
        if let Some(o) = self.p1_out.as_mut()
            && now >= o.at
        {
            if o.left == 0 {
                self.close_with(CloseReason::Timeout);
                return;
            }
            o.left -= 1;
            o.interval = (o.interval * 2).min(RETRANSMIT_CAP);
            o.at = now + o.interval;
            let t = o.msg.clone();
            self.stats.retransmits += 1;
            self.tx.push_back(t);
        }
        // Quick Modes: retransmit, give up.
        let give_up = exchange_timeout(&self.policy);
        let mut i = 0;
        while i < self.exchanges.len() {
            let q = &mut self.exchanges[i];
            let expired = now >= q.started + give_up;
            if let Some(o) = q.out.as_mut()
                && now >= o.at
                && !expired
            {
                if o.left == 0 {
                    q.out = None;
                } else {
                    o.left -= 1;
                    o.interval = (o.interval * 2).min(RETRANSMIT_CAP);
                    o.at = now + o.interval;
                    let t = o.msg.clone();
                    self.stats.retransmits += 1;
                    self.tx.push_back(t);
                }
            }
            if expired {
                let q = self.exchanges.remove(i);
                self.remember_id(q.msg_id);
                // A responder's pair whose HASH(3) never came: its inbound SA goes.
                if q.state == QmState::RAwaitHash3 {
                    self.events.push_back(Event::ChildDown {
                        inbound_spi: q.my_spi,
                        outbound_spi: q.peer_spi,
                    });
                }
                // A rekey that failed: let the old pair be rekeyed again.
                if let Some(old) = q.replaces
                    && let Some(c) = self.children.iter_mut().find(|c| c.inbound_spi == old)
                    && c.hard > now
                {
                    c.soft = Some(now + (c.hard - now) / 2);
                }
            } else {
                i += 1;
            }
        }
        if self.state != State::Established {
            return;
        }
        // Children: hard expiry deletes, soft expiry rekeys.
        let mut gone = Vec::new();
        let mut rekey = Vec::new();
        self.children.retain_mut(|c| {
            if now >= c.hard {
                gone.push((c.inbound_spi, c.outbound_spi));
                return false;
            }
            if c.soft.is_some_and(|s| now >= s) {
                c.soft = None;
                rekey.push(c.clone());
            }
            true
        });
        if !gone.is_empty() {
            let spis: Vec<u32> = gone.iter().map(|(i, _)| *i).collect();
            self.send_delete_esp(&spis, env);
            for (inbound_spi, outbound_spi) in gone {
                self.events.push_back(Event::ChildDown {
                    inbound_spi,
                    outbound_spi,
                });
            }
        }
        for c in rekey {
            let params = QuickModeParams {
                local_port: c.local_port,
                remote_port: c.remote_port,
                esp: vec![EspProposal {
                    suite: c.suite,
                    pfs: c.pfs,
                }],
            };
            let _ = self.start_qm(now, params, Some(c.inbound_spi), env);
        }
        if self.expires.is_some_and(|e| now >= e) {
            self.send_delete_isakmp(env);
            self.close_with(CloseReason::Expired);
            return;
        }
        if let Some(next) = self.dpd_next
            && now >= next
        {
            if now.saturating_duration_since(self.last_heard) >= self.policy.dpd_timeout {
                for c in std::mem::take(&mut self.children) {
                    self.events.push_back(Event::ChildDown {
                        inbound_spi: c.inbound_spi,
                        outbound_spi: c.outbound_spi,
                    });
                }
                self.close_with(CloseReason::DeadPeer);
                return;
            }
            self.dpd_seq = self.dpd_seq.wrapping_add(1).max(1);
            let spi = self.isakmp_spi();
            let seq = self.dpd_seq.to_be_bytes();
            let n = Payload::Notification(NotificationRepr {
                doi: Doi::Ipsec,
                protocol: ProtocolId::Isakmp,
                message_type: NotifyMessageType::RUThere,
                spi: &spi,
                data: &seq,
            });
            self.send_informational(&[n], env);
            self.stats.dpd_sent += 1;
            let wait = self
                .policy
                .dpd_interval
                .min(self.policy.dpd_timeout / 5)
                .max(Duration::from_secs(1));
            self.dpd_next = Some(now + wait);
        }
    }
}

/// Gives an empty queue's storage back: an established SA is idle almost always, and
/// tens of thousands of them should not each keep the buffers of their busiest
/// moment.
fn release_idle<T>(q: &mut VecDeque<T>) {
    if q.is_empty() && q.capacity() > 0 {
        *q = VecDeque::new();
    }
}

/// A lifetime of zero (unspecified) is the IPsec DOI default, 28800 s (RFC 2407
/// §4.5).
fn nonzero_or_default(life: Duration) -> Duration {
    if life.is_zero() {
        Duration::from_secs(28800)
    } else {
        life
    }
}

/// The type of the first payload of a message.
fn c_first(m: &Message<'_>) -> PayloadType {
    m.header.next_payload
}

fn phase1_attrs(p: &Phase1Proposal, life: Duration) -> Vec<DataAttribute<'static>> {
    let mut a = vec![DataAttribute::basic(
        Phase1Class::EncryptionAlgorithm,
        p.cipher.oakley_algorithm(),
    )];
    match p.cipher {
        Cipher::Aes128Cbc => a.push(DataAttribute::basic(Phase1Class::KeyLength, 128)),
        Cipher::Aes192Cbc => a.push(DataAttribute::basic(Phase1Class::KeyLength, 192)),
        Cipher::Aes256Cbc => a.push(DataAttribute::basic(Phase1Class::KeyLength, 256)),
        _ => {}
    }
    a.push(DataAttribute::basic(
        Phase1Class::HashAlgorithm,
        p.prf.hash_algorithm(),
    ));
    a.push(DataAttribute::basic(
        Phase1Class::GroupDescription,
        p.group.id(),
    ));
    a.push(DataAttribute::basic(
        Phase1Class::AuthenticationMethod,
        AuthenticationMethod::PreSharedKey.into(),
    ));
    a.push(DataAttribute::basic(
        Phase1Class::LifeType,
        LifeType::Seconds.into(),
    ));
    a.push(DataAttribute::basic(
        Phase1Class::LifeDuration,
        u16::try_from(life.as_secs()).unwrap_or(u16::MAX),
    ));
    a
}

impl Identity {
    /// ID_IPV4_ADDR / ID_IPV6_ADDR of a socket's address.
    pub(crate) fn from_socket(addr: SocketAddr) -> Identity {
        match addr.ip() {
            IpAddr::V4(a) => Identity::Ipv4(a),
            IpAddr::V6(a) => Identity::Ipv6(a),
        }
    }
}

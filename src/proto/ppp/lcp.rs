//! LCP option negotiation (RFC 1661 §6): the [`Negotiator`] for LCP.
//!
//! What we request: MRU (only when configured below 1500, as pppd does), the
//! Authentication-Protocol (server role: the configured methods in order; a Nak
//! naming another acceptable method switches to it, otherwise the next untried
//! one; a Reject or running out of methods fails the negotiation) and a random
//! Magic-Number.
//!
//! How we judge the peer's request: MRU below 128 is Naked to 128; ACCM, PFC and
//! ACFC are accepted (the data plane decodes compressed headers anyway); a
//! Magic-Number of zero is Naked; the Authentication-Protocol is rejected by the
//! server (we do not authenticate ourselves) and, by the client, accepted when it
//! is one of the configured methods and otherwise Naked to the first of them;
//! every other option, and any option whose size is wrong, is Rejected.
//!
//! Loop-back detection (RFC 1661 §6.4): a Configure-Request carrying our own
//! Magic-Number is Naked with a different value; a Configure-Nak suggesting the
//! very value we suggested in our last Nak raises the suspicion and makes us pick a
//! new Magic-Number. After [`MAX_LOOPBACK`] such proofs in a row the link is
//! declared looped back and the negotiation fails with
//! [`NegotiationError::LoopedBack`].
#![forbid(unsafe_code)]

use super::AuthMethod;
use super::fsm::{NegotiationError, Negotiator, Verdict};
use super::util::{Drbg, Judgement, push_option};
use crate::wire::ppp_options::{AuthenticationProtocol, ChapAlgorithm, LcpOption, Options};

/// RFC 1661 §6.1 default MRU.
pub const DEFAULT_MRU: u16 = 1500;
/// The smallest MRU we let the peer declare (pppd's MINMRU).
pub const MIN_MRU: u16 = 128;
/// Consecutive loop-back proofs before the link is declared looped back.
pub const MAX_LOOPBACK: u32 = 3;

impl AuthMethod {
    pub(crate) fn option(self) -> AuthenticationProtocol<'static> {
        match self {
            AuthMethod::Pap => AuthenticationProtocol::Pap,
            AuthMethod::ChapMd5 => AuthenticationProtocol::Chap(ChapAlgorithm::Md5),
            AuthMethod::MsChapV2 => AuthenticationProtocol::Chap(ChapAlgorithm::MsChapV2),
        }
    }

    pub(crate) fn from_option(a: &AuthenticationProtocol<'_>) -> Option<AuthMethod> {
        match a {
            AuthenticationProtocol::Pap => Some(AuthMethod::Pap),
            AuthenticationProtocol::Chap(ChapAlgorithm::Md5) => Some(AuthMethod::ChapMd5),
            AuthenticationProtocol::Chap(ChapAlgorithm::MsChapV2) => Some(AuthMethod::MsChapV2),
            _ => None,
        }
    }
}

/// The options in force once LCP is Opened. We never request PFC or ACFC, so the
/// frames we send are always uncompressed; `pfc`/`acfc` say what the peer may send
/// us (the data plane accepts both forms anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkOptions {
    /// The MRU the peer declared: the largest frame we may send it.
    pub peer_mru: u16,
    /// The MRU we declared (and the peer acknowledged).
    pub local_mru: u16,
    /// The peer may send us compressed Protocol fields.
    pub pfc: bool,
    /// The peer may send us frames without Address and Control.
    pub acfc: bool,
    pub local_magic: u32,
    pub peer_magic: u32,
    /// The method the peer must authenticate with (server) or we must use (client).
    pub auth: Option<AuthMethod>,
}

#[derive(Debug)]
pub struct Lcp {
    server: bool,
    methods: Vec<AuthMethod>,
    configured_mru: u16,
    drbg: Drbg,
    // What we request now.
    want_mru: Option<u16>,
    want_auth: Option<usize>,
    tried_auth: u32,
    want_magic: bool,
    magic: u32,
    last_nak_magic: Option<u32>,
    loopback_proofs: u32,
    // The peer's acknowledged request.
    peer_mru: u16,
    peer_magic: u32,
    pfc: bool,
    acfc: bool,
    peer_auth: Option<AuthMethod>,
    // Our acknowledged request.
    local_mru: u16,
    local_auth: Option<AuthMethod>,
}

impl Lcp {
    pub fn new(server: bool, methods: Vec<AuthMethod>, mru: u16, mut drbg: Drbg) -> Self {
        let magic = drbg.nonzero_u32();
        let mut lcp = Lcp {
            server,
            methods,
            configured_mru: mru,
            drbg,
            want_mru: None,
            want_auth: None,
            tried_auth: 0,
            want_magic: true,
            magic,
            last_nak_magic: None,
            loopback_proofs: 0,
            peer_mru: DEFAULT_MRU,
            peer_magic: 0,
            pfc: false,
            acfc: false,
            peer_auth: None,
            local_mru: DEFAULT_MRU,
            local_auth: None,
        };
        lcp.reset();
        lcp
    }

    pub fn magic(&self) -> u32 {
        if self.want_magic { self.magic } else { 0 }
    }

    pub fn link_options(&self) -> LinkOptions {
        LinkOptions {
            peer_mru: self.peer_mru,
            local_mru: self.local_mru,
            pfc: self.pfc,
            acfc: self.acfc,
            local_magic: self.magic(),
            peer_magic: self.peer_magic,
            auth: if self.server {
                self.local_auth
            } else {
                self.peer_auth
            },
        }
    }

    /// Adopts the options a LAC negotiated for us (RFC 2661 proxy LCP): `last_sent`
    /// is the option list of the LAC's last Configure-Request (ours, as the peer
    /// saw it) and `last_received` the peer's last one. `None` if either does not
    /// parse or asks for something we would not have agreed to.
    pub fn adopt_proxy(&mut self, last_sent: &[u8], last_received: &[u8]) -> Option<LinkOptions> {
        self.want_magic = false;
        self.local_mru = DEFAULT_MRU;
        self.local_auth = None;
        for o in Options::new(last_sent) {
            match LcpOption::parse(&o.ok()?).ok()? {
                LcpOption::MaximumReceiveUnit(m) => self.local_mru = m,
                LcpOption::MagicNumber(m) => {
                    self.magic = m;
                    self.want_magic = m != 0;
                }
                LcpOption::AuthenticationProtocol(a) => {
                    let method = AuthMethod::from_option(&a)?;
                    if !self.methods.contains(&method) {
                        return None;
                    }
                    self.local_auth = Some(method);
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        let saved = (self.want_mru, self.want_auth);
        if self.judge_request(last_received, false, &mut out) != Verdict::Ack {
            return None;
        }
        (self.want_mru, self.want_auth) = saved;
        Some(self.link_options())
    }

    fn next_auth(&mut self, suggestion: Option<AuthMethod>) -> Result<(), NegotiationError> {
        let untried = |i: usize, tried: u32| tried & (1 << i) == 0;
        let pick = suggestion
            .and_then(|s| self.methods.iter().position(|&m| m == s))
            .filter(|&i| untried(i, self.tried_auth))
            .or_else(|| (0..self.methods.len()).find(|&i| untried(i, self.tried_auth)));
        match pick {
            Some(i) => {
                self.tried_auth |= 1 << i;
                self.want_auth = Some(i);
                Ok(())
            }
            None => Err(NegotiationError::Required),
        }
    }
}

impl Negotiator for Lcp {
    fn reset(&mut self) {
        self.want_mru = (self.configured_mru < DEFAULT_MRU).then_some(self.configured_mru);
        self.want_magic = true;
        self.loopback_proofs = 0;
        self.last_nak_magic = None;
        self.tried_auth = 0;
        self.want_auth = None;
        if self.server && !self.methods.is_empty() {
            self.tried_auth = 1;
            self.want_auth = Some(0);
        }
    }

    fn request_options(&mut self, out: &mut Vec<u8>) {
        if let Some(mru) = self.want_mru {
            push_option(out, &LcpOption::MaximumReceiveUnit(mru));
        }
        if let Some(method) = self.want_auth.and_then(|i| self.methods.get(i)) {
            push_option(out, &LcpOption::AuthenticationProtocol(method.option()));
        }
        if self.want_magic {
            push_option(out, &LcpOption::MagicNumber(self.magic));
        }
    }

    fn judge_request(&mut self, options: &[u8], nak_allowed: bool, out: &mut Vec<u8>) -> Verdict {
        let mut j = Judgement::new();
        let mut peer_mru = DEFAULT_MRU;
        let mut peer_magic = 0;
        let (mut pfc, mut acfc) = (false, false);
        let mut peer_auth = None;
        for o in Options::new(options) {
            let Ok(raw) = o else {
                return Verdict::Malformed;
            };
            let Ok(option) = LcpOption::parse(&raw) else {
                j.reject(&raw);
                continue;
            };
            match option {
                LcpOption::MaximumReceiveUnit(m) if m < MIN_MRU => {
                    j.nak(&raw, &LcpOption::MaximumReceiveUnit(MIN_MRU))
                }
                LcpOption::MaximumReceiveUnit(m) => peer_mru = m,
                LcpOption::AsyncControlCharacterMap(_) => {}
                LcpOption::ProtocolFieldCompression => pfc = true,
                LcpOption::AddressControlFieldCompression => acfc = true,
                LcpOption::MagicNumber(0) => {
                    let fresh = self.drbg.nonzero_u32();
                    j.nak(&raw, &LcpOption::MagicNumber(fresh));
                }
                LcpOption::MagicNumber(m) if self.want_magic && m == self.magic => {
                    // Perhaps our own request looped back (RFC 1661 §6.4). Only the
                    // Magic-Number is Naked: if this is our own request, rejecting
                    // our other options would end the negotiation before the loop
                    // is proven; if it is not, the peer's next request (with a new
                    // number) gets the full answer.
                    let mut fresh = self.drbg.nonzero_u32();
                    if fresh == self.magic {
                        fresh ^= 1;
                    }
                    self.last_nak_magic = Some(fresh);
                    let mut only = Judgement::new();
                    only.nak(&raw, &LcpOption::MagicNumber(fresh));
                    return only.finish(true, out);
                }
                LcpOption::MagicNumber(m) => peer_magic = m,
                LcpOption::AuthenticationProtocol(a) if !self.server => {
                    match AuthMethod::from_option(&a).filter(|m| self.methods.contains(m)) {
                        Some(m) => peer_auth = Some(m),
                        None => match self.methods.first() {
                            Some(m) => j.nak(&raw, &LcpOption::AuthenticationProtocol(m.option())),
                            None => j.reject(&raw),
                        },
                    }
                }
                _ => j.reject(&raw),
            }
        }
        let verdict = j.finish(nak_allowed, out);
        if verdict == Verdict::Ack {
            self.peer_mru = peer_mru;
            self.peer_magic = peer_magic;
            self.pfc = pfc;
            self.acfc = acfc;
            self.peer_auth = peer_auth;
        }
        verdict
    }

    fn acked(&mut self, options: &[u8]) {
        self.local_mru = DEFAULT_MRU;
        self.local_auth = None;
        for o in Options::new(options).flatten() {
            match LcpOption::parse(&o) {
                Ok(LcpOption::MaximumReceiveUnit(m)) => self.local_mru = m,
                Ok(LcpOption::AuthenticationProtocol(a)) => {
                    self.local_auth = AuthMethod::from_option(&a)
                }
                _ => {}
            }
        }
        self.loopback_proofs = 0;
    }

    fn naked(&mut self, options: &[u8]) -> Result<(), NegotiationError> {
        for o in Options::new(options) {
            let raw = o.map_err(|_| NegotiationError::Malformed)?;
            let Ok(option) = LcpOption::parse(&raw) else {
                continue;
            };
            match option {
                LcpOption::MaximumReceiveUnit(m) if self.want_mru.is_some() => {
                    self.want_mru = Some(m.clamp(MIN_MRU, self.configured_mru.max(MIN_MRU)));
                }
                LcpOption::AuthenticationProtocol(a) if self.want_auth.is_some() => {
                    self.next_auth(AuthMethod::from_option(&a))?;
                }
                LcpOption::MagicNumber(m) if self.want_magic => {
                    if Some(m) == self.last_nak_magic {
                        self.loopback_proofs += 1;
                        if self.loopback_proofs >= MAX_LOOPBACK {
                            return Err(NegotiationError::LoopedBack);
                        }
                        self.magic = self.drbg.nonzero_u32();
                    } else {
                        self.loopback_proofs = 0;
                        self.magic = if m == 0 { self.drbg.nonzero_u32() } else { m };
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn rejected(&mut self, options: &[u8]) -> Result<(), NegotiationError> {
        for o in Options::new(options) {
            let raw = o.map_err(|_| NegotiationError::Malformed)?;
            match LcpOption::parse(&raw) {
                Ok(LcpOption::MaximumReceiveUnit(_)) => self.want_mru = None,
                Ok(LcpOption::MagicNumber(_)) => self.want_magic = false,
                // The server cannot go on without authenticating the peer.
                Ok(LcpOption::AuthenticationProtocol(_)) if self.want_auth.is_some() => {
                    return Err(NegotiationError::Required);
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The option list of a Configure-Request carrying `options` (for tests and for
/// callers building proxy-LCP values).
pub fn lcp_options(options: &[LcpOption<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for o in options {
        push_option(&mut out, o);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drbg(seed: u8) -> Drbg {
        Drbg::new(&mut |b: &mut [u8]| b.fill(seed))
    }

    #[test]
    fn server_requests_first_method_and_magic() {
        let mut lcp = Lcp::new(
            true,
            vec![AuthMethod::MsChapV2, AuthMethod::ChapMd5],
            1500,
            drbg(1),
        );
        let mut out = Vec::new();
        lcp.request_options(&mut out);
        let magic = lcp.magic();
        let expected = lcp_options(&[
            LcpOption::AuthenticationProtocol(AuthenticationProtocol::Chap(
                ChapAlgorithm::MsChapV2,
            )),
            LcpOption::MagicNumber(magic),
        ]);
        assert_eq!(out, expected);
        assert_eq!(&out[..5], &[3, 5, 0xc2, 0x23, 0x81]);
    }

    #[test]
    fn auth_nak_moves_to_suggested_or_next_method() {
        let methods = vec![AuthMethod::MsChapV2, AuthMethod::ChapMd5, AuthMethod::Pap];
        let mut lcp = Lcp::new(true, methods, 1500, drbg(1));
        // The client suggests PAP: acceptable and untried, so PAP.
        let nak = lcp_options(&[LcpOption::AuthenticationProtocol(
            AuthenticationProtocol::Pap,
        )]);
        lcp.naked(&nak).unwrap();
        let mut out = Vec::new();
        lcp.request_options(&mut out);
        assert_eq!(&out[..4], &[3, 4, 0xc0, 0x23]);
        // Suggesting PAP again (tried): next untried is CHAP-MD5.
        lcp.naked(&nak).unwrap();
        out.clear();
        lcp.request_options(&mut out);
        assert_eq!(&out[..5], &[3, 5, 0xc2, 0x23, 0x05]);
        // Nothing left.
        assert_eq!(lcp.naked(&nak), Err(NegotiationError::Required));
    }

    #[test]
    fn judge_rejects_unknown_and_auth_from_client_naks_zero_magic() {
        let mut lcp = Lcp::new(true, vec![AuthMethod::Pap], 1500, drbg(2));
        let req = lcp_options(&[
            LcpOption::MaximumReceiveUnit(1400),
            LcpOption::AuthenticationProtocol(AuthenticationProtocol::Pap),
            LcpOption::MagicNumber(0x01020304),
            LcpOption::Callback {
                operation: 6,
                message: &[],
            },
            LcpOption::ProtocolFieldCompression,
        ]);
        let mut out = Vec::new();
        assert_eq!(lcp.judge_request(&req, true, &mut out), Verdict::Reject);
        assert_eq!(
            out,
            lcp_options(&[
                LcpOption::AuthenticationProtocol(AuthenticationProtocol::Pap),
                LcpOption::Callback {
                    operation: 6,
                    message: &[]
                },
            ])
        );
        let req = lcp_options(&[
            LcpOption::MagicNumber(0),
            LcpOption::MaximumReceiveUnit(1400),
        ]);
        out.clear();
        assert_eq!(lcp.judge_request(&req, true, &mut out), Verdict::Nak);
        assert_eq!(out.len(), 6);
        assert_eq!(&out[..2], &[5, 6]);
        let req = lcp_options(&[
            LcpOption::MaximumReceiveUnit(1400),
            LcpOption::MagicNumber(7),
            LcpOption::AddressControlFieldCompression,
        ]);
        out.clear();
        assert_eq!(lcp.judge_request(&req, true, &mut out), Verdict::Ack);
        let l = lcp.link_options();
        assert_eq!(
            (l.peer_mru, l.peer_magic, l.acfc, l.pfc),
            (1400, 7, true, false)
        );
    }

    #[test]
    fn client_accepts_configured_method_and_naks_others() {
        let mut lcp = Lcp::new(false, vec![AuthMethod::ChapMd5], 1500, drbg(3));
        let mut out = Vec::new();
        let req = lcp_options(&[LcpOption::AuthenticationProtocol(
            AuthenticationProtocol::Pap,
        )]);
        assert_eq!(lcp.judge_request(&req, true, &mut out), Verdict::Nak);
        assert_eq!(
            out,
            lcp_options(&[LcpOption::AuthenticationProtocol(
                AuthenticationProtocol::Chap(ChapAlgorithm::Md5)
            )])
        );
        out.clear();
        let req = lcp_options(&[LcpOption::AuthenticationProtocol(
            AuthenticationProtocol::Chap(ChapAlgorithm::Md5),
        )]);
        assert_eq!(lcp.judge_request(&req, true, &mut out), Verdict::Ack);
        assert_eq!(lcp.link_options().auth, Some(AuthMethod::ChapMd5));
    }
}

//! CCP (RFC 1962) carrying only MPPE (RFC 3078 §2, option 18): the [`Negotiator`].
//!
//! MPPE is one option whose Supported Bits name the key length (L 40-bit, M 56-bit,
//! S 128-bit), stateless mode (H) and MPPC compression (C). Both roles use the same
//! rules:
//!
//! - **Our request** carries exactly one key length, the strongest the policy allows,
//!   and H when the policy prefers stateless mode (RFC 3078 §2: a Configure-Request
//!   with several key bits would leave the choice ambiguous). A Nak from the peer is
//!   adopted when its single key length is allowed (its H bit too: both modes are
//!   implemented); a Nak we cannot accept, or a Reject of MPPE, fails the
//!   negotiation.
//! - **The peer's request** is Acked when it names exactly one allowed key length
//!   and no MPPC; otherwise it is Naked with our choice among the bits it offered
//!   (strongest allowed key, its H bit kept, C and unknown bits cleared) — the way
//!   Windows and pppd offer every bit they support and expect the answer to pick.
//!   With no common key length the Nak carries our own preference (the peer's
//!   Max-Failure then ends it). Every other CCP option (Deflate, BSD, MPPC alone,
//!   ...) is Rejected: MPPC is refused, compression is not offered.
//! - **Directions**: RFC 1962 §1: a Configure-Request lists what its sender is
//!   willing to *receive*, so our acknowledged request sets how we decrypt and the
//!   peer's acknowledged request how we encrypt. Peers converge on the same bits in
//!   both directions in practice; the engine does not insist on it.
//!
//! 56-bit keys are not offered: no policy asks for them, and RFC 3079 §3.2 keys
//! them like 40-bit with another salt; a peer that names only M is Naked.
#![forbid(unsafe_code)]

use super::fsm::{NegotiationError, Negotiator, Verdict};
use super::util::{Judgement, push_option};
use crate::crypto::ppp::mppe::{KeyStrength, Mode};
use crate::wire::ppp_options::{CcpOption, MppeSupportedBits, Options};

/// What MPPE a session may negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MppePolicy {
    pub allow_40: bool,
    pub allow_128: bool,
    /// Ask for stateless mode (a key change per packet; what Windows prefers).
    /// Either mode is accepted from the peer.
    pub prefer_stateless: bool,
    /// Without MPPE the session ends ([`super::CloseReason::EncryptionRequired`]).
    pub required: bool,
}

impl Default for MppePolicy {
    fn default() -> Self {
        MppePolicy {
            allow_40: false,
            allow_128: true,
            prefer_stateless: true,
            required: true,
        }
    }
}

/// The MPPE options of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MppeOptions {
    pub strength: KeyStrength,
    pub mode: Mode,
}

impl MppeOptions {
    fn from_bits(bits: MppeSupportedBits) -> Option<MppeOptions> {
        let keys = [bits.key_40(), bits.key_56(), bits.key_128()];
        if bits.mppc() || keys.iter().filter(|k| **k).count() != 1 {
            return None;
        }
        let strength = if bits.key_128() {
            KeyStrength::Bits128
        } else if bits.key_40() {
            KeyStrength::Bits40
        } else {
            KeyStrength::Bits56
        };
        let mode = if bits.stateless() {
            Mode::Stateless
        } else {
            Mode::Stateful
        };
        Some(MppeOptions { strength, mode })
    }

    pub fn bits(self) -> MppeSupportedBits {
        let key = match self.strength {
            KeyStrength::Bits40 => MppeSupportedBits::KEY_40,
            KeyStrength::Bits56 => MppeSupportedBits::KEY_56,
            KeyStrength::Bits128 => MppeSupportedBits::KEY_128,
        };
        let h = match self.mode {
            Mode::Stateless => MppeSupportedBits::STATELESS,
            Mode::Stateful => 0,
        };
        MppeSupportedBits(key | h)
    }
}

#[derive(Debug)]
pub struct Ccp {
    policy: MppePolicy,
    /// What we request.
    want: Option<MppeOptions>,
    /// Our request, acknowledged: how the peer encrypts to us.
    pub rx: Option<MppeOptions>,
    /// The peer's request, acknowledged: how we encrypt to it.
    pub tx: Option<MppeOptions>,
}

impl Ccp {
    pub fn new(policy: MppePolicy) -> Self {
        let mut ccp = Ccp {
            policy,
            want: None,
            rx: None,
            tx: None,
        };
        ccp.reset();
        ccp
    }

    fn allowed(&self, strength: KeyStrength) -> bool {
        match strength {
            KeyStrength::Bits40 => self.policy.allow_40,
            KeyStrength::Bits128 => self.policy.allow_128,
            KeyStrength::Bits56 => false,
        }
    }

    /// Our preference: the strongest allowed key, the preferred mode.
    fn preferred(&self) -> Option<MppeOptions> {
        let strength = if self.policy.allow_128 {
            KeyStrength::Bits128
        } else if self.policy.allow_40 {
            KeyStrength::Bits40
        } else {
            return None;
        };
        let mode = if self.policy.prefer_stateless {
            Mode::Stateless
        } else {
            Mode::Stateful
        };
        Some(MppeOptions { strength, mode })
    }

    /// Our pick among the bits the peer offered.
    fn choose(&self, offered: MppeSupportedBits) -> Option<MppeOptions> {
        let strength = if self.policy.allow_128 && offered.key_128() {
            KeyStrength::Bits128
        } else if self.policy.allow_40 && offered.key_40() {
            KeyStrength::Bits40
        } else {
            return None;
        };
        let mode = if offered.stateless() {
            Mode::Stateless
        } else {
            Mode::Stateful
        };
        Some(MppeOptions { strength, mode })
    }
}

impl Negotiator for Ccp {
    fn reset(&mut self) {
        // Only what we ask for: the automaton resets before any Configure-Request it
        // sends (a retransmission too), when the other direction may already be
        // acknowledged. `rx`/`tx` are overwritten by the next Ack either way.
        self.want = self.preferred();
    }

    fn request_options(&mut self, out: &mut Vec<u8>) {
        if let Some(w) = self.want {
            push_option(out, &CcpOption::Mppe(w.bits()));
        }
    }

    fn judge_request(&mut self, options: &[u8], nak_allowed: bool, out: &mut Vec<u8>) -> Verdict {
        let mut j = Judgement::new();
        let mut acceptable = None;
        let mut seen_mppe = false;
        for o in Options::new(options) {
            let Ok(raw) = o else {
                return Verdict::Malformed;
            };
            match CcpOption::parse(&raw) {
                Ok(CcpOption::Mppe(bits)) if !seen_mppe => {
                    seen_mppe = true;
                    match MppeOptions::from_bits(bits) {
                        Some(opts) if self.allowed(opts.strength) && bits == opts.bits() => {
                            acceptable = Some(opts);
                        }
                        _ => {
                            let pick = self.choose(bits).or_else(|| self.preferred());
                            match pick {
                                Some(p) => j.nak(&raw, &CcpOption::Mppe(p.bits())),
                                None => j.reject(&raw),
                            }
                        }
                    }
                }
                _ => j.reject(&raw),
            }
        }
        let verdict = j.finish(nak_allowed, out);
        if verdict == Verdict::Ack {
            // An empty request (no compression from the peer's side) leaves tx off.
            self.tx = acceptable;
        }
        verdict
    }

    fn acked(&mut self, options: &[u8]) {
        for o in Options::new(options).flatten() {
            if let Ok(CcpOption::Mppe(bits)) = CcpOption::parse(&o) {
                self.rx = MppeOptions::from_bits(bits);
            }
        }
    }

    fn naked(&mut self, options: &[u8]) -> Result<(), NegotiationError> {
        for o in Options::new(options) {
            let raw = o.map_err(|_| NegotiationError::Malformed)?;
            if let Ok(CcpOption::Mppe(bits)) = CcpOption::parse(&raw) {
                // The peer may name several bits; take our pick among them.
                let pick = match MppeOptions::from_bits(bits) {
                    Some(opts) if self.allowed(opts.strength) => Some(opts),
                    _ => self.choose(bits),
                };
                match pick {
                    Some(p) => self.want = Some(p),
                    None => return Err(NegotiationError::Required),
                }
            }
        }
        Ok(())
    }

    fn rejected(&mut self, options: &[u8]) -> Result<(), NegotiationError> {
        for o in Options::new(options) {
            let raw = o.map_err(|_| NegotiationError::Malformed)?;
            if let Ok(CcpOption::Mppe(_)) = CcpOption::parse(&raw) {
                return Err(NegotiationError::Required);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mppe(bits: u32) -> Vec<u8> {
        let mut out = Vec::new();
        push_option(&mut out, &CcpOption::Mppe(MppeSupportedBits(bits)));
        out
    }

    const H: u32 = MppeSupportedBits::STATELESS;
    const S: u32 = MppeSupportedBits::KEY_128;
    const L: u32 = MppeSupportedBits::KEY_40;
    const C: u32 = MppeSupportedBits::MPPC;

    #[test]
    fn default_requests_stateless_128() {
        let mut c = Ccp::new(MppePolicy::default());
        let mut out = Vec::new();
        c.request_options(&mut out);
        assert_eq!(out, mppe(H | S));
    }

    #[test]
    fn windows_offer_is_naked_to_one_key_then_acked() {
        let mut c = Ccp::new(MppePolicy::default());
        let mut out = Vec::new();
        // Windows offers everything it can: H, S, M, L.
        let offer = H | S | L | MppeSupportedBits::KEY_56;
        assert_eq!(c.judge_request(&mppe(offer), true, &mut out), Verdict::Nak);
        assert_eq!(out, mppe(H | S));
        out.clear();
        assert_eq!(c.judge_request(&mppe(H | S), true, &mut out), Verdict::Ack);
        assert_eq!(
            c.tx,
            Some(MppeOptions {
                strength: KeyStrength::Bits128,
                mode: Mode::Stateless
            })
        );
    }

    #[test]
    fn mppc_and_other_compressors_are_refused() {
        let mut c = Ccp::new(MppePolicy::default());
        let mut out = Vec::new();
        assert_eq!(
            c.judge_request(&mppe(H | S | C), true, &mut out),
            Verdict::Nak
        );
        assert_eq!(out, mppe(H | S));
        // Deflate (26) is rejected outright.
        let mut req = mppe(H | S);
        req.extend_from_slice(&[26, 4, 0x78, 0x00]);
        out.clear();
        assert_eq!(c.judge_request(&req, true, &mut out), Verdict::Reject);
        assert_eq!(out, [26, 4, 0x78, 0x00]);
    }

    #[test]
    fn forty_bit_only_when_allowed() {
        let mut c = Ccp::new(MppePolicy::default());
        let mut out = Vec::new();
        // 40-bit only: Naked to our 128 (the peer's Max-Failure ends it).
        assert_eq!(c.judge_request(&mppe(H | L), true, &mut out), Verdict::Nak);
        assert_eq!(out, mppe(H | S));
        let mut c = Ccp::new(MppePolicy {
            allow_40: true,
            ..MppePolicy::default()
        });
        out.clear();
        assert_eq!(c.judge_request(&mppe(H | L), true, &mut out), Verdict::Ack);
        // Our Nak'ed request adopts 40 when allowed; a Nak to 56 fails.
        assert!(c.naked(&mppe(L)).is_ok());
        out.clear();
        c.request_options(&mut out);
        assert_eq!(out, mppe(L));
        assert_eq!(
            c.naked(&mppe(MppeSupportedBits::KEY_56)),
            Err(NegotiationError::Required)
        );
    }

    #[test]
    fn stateful_peer_is_accepted_and_reject_fails() {
        let mut c = Ccp::new(MppePolicy::default());
        let mut out = Vec::new();
        assert_eq!(c.judge_request(&mppe(S), true, &mut out), Verdict::Ack);
        assert_eq!(c.tx.unwrap().mode, Mode::Stateful);
        c.acked(&mppe(H | S));
        assert_eq!(c.rx.unwrap().mode, Mode::Stateless);
        assert_eq!(c.rejected(&mppe(H | S)), Err(NegotiationError::Required));
        assert_eq!(
            c.judge_request(&[18, 9, 0], true, &mut out),
            Verdict::Malformed
        );
    }
}

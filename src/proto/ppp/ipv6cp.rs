//! IPv6CP (RFC 5072): the [`Negotiator`] for interface identifiers.
//!
//! Both roles request a random nonzero Interface-Identifier (RFC 5072 §4.1). The
//! peer's identifier is Naked with a fresh random one when it is zero or equal to
//! ours (a collision); otherwise Acked. A Nak of ours is adopted when the
//! suggestion is usable (nonzero, not the peer's), else we draw a new one; a
//! Reject stops us from sending it. IPv6-Compression-Protocol and unknown options
//! are Rejected.
#![forbid(unsafe_code)]

use super::fsm::{NegotiationError, Negotiator, Verdict};
use super::util::{Drbg, Judgement, push_option};
use crate::wire::ppp_options::{Ipv6cpOption, Options};

#[derive(Debug)]
pub struct Ipv6cp {
    drbg: Drbg,
    want: bool,
    pub local_id: [u8; 8],
    pub peer_id: [u8; 8],
}

impl Ipv6cp {
    pub fn new(mut drbg: Drbg) -> Self {
        let local_id = fresh(&mut drbg, [0; 8]);
        Ipv6cp {
            drbg,
            want: true,
            local_id,
            peer_id: [0; 8],
        }
    }
}

/// A random nonzero identifier different from `avoid`.
fn fresh(drbg: &mut Drbg, avoid: [u8; 8]) -> [u8; 8] {
    loop {
        let id: [u8; 8] = drbg.array();
        if id != [0; 8] && id != avoid {
            return id;
        }
    }
}

impl Negotiator for Ipv6cp {
    fn reset(&mut self) {
        self.want = true;
    }

    fn request_options(&mut self, out: &mut Vec<u8>) {
        if self.want {
            push_option(out, &Ipv6cpOption::InterfaceIdentifier(self.local_id));
        }
    }

    fn judge_request(&mut self, options: &[u8], nak_allowed: bool, out: &mut Vec<u8>) -> Verdict {
        let mut j = Judgement::new();
        let mut peer_id = None;
        for o in Options::new(options) {
            let Ok(raw) = o else {
                return Verdict::Malformed;
            };
            match Ipv6cpOption::parse(&raw) {
                Ok(Ipv6cpOption::InterfaceIdentifier(id))
                    if id == [0; 8] || id == self.local_id =>
                {
                    let suggestion = fresh(&mut self.drbg, self.local_id);
                    j.nak(&raw, &Ipv6cpOption::InterfaceIdentifier(suggestion));
                }
                Ok(Ipv6cpOption::InterfaceIdentifier(id)) => peer_id = Some(id),
                _ => j.reject(&raw),
            }
        }
        let verdict = j.finish(nak_allowed, out);
        if verdict == Verdict::Ack {
            self.peer_id = peer_id.unwrap_or([0; 8]);
        }
        verdict
    }

    fn acked(&mut self, _: &[u8]) {}

    fn naked(&mut self, options: &[u8]) -> Result<(), NegotiationError> {
        for o in Options::new(options) {
            let raw = o.map_err(|_| NegotiationError::Malformed)?;
            if let Ok(Ipv6cpOption::InterfaceIdentifier(id)) = Ipv6cpOption::parse(&raw) {
                self.local_id = if id != [0; 8] && id != self.peer_id {
                    id
                } else {
                    fresh(&mut self.drbg, self.peer_id)
                };
            }
        }
        Ok(())
    }

    fn rejected(&mut self, options: &[u8]) -> Result<(), NegotiationError> {
        for o in Options::new(options) {
            let raw = o.map_err(|_| NegotiationError::Malformed)?;
            if let Ok(Ipv6cpOption::InterfaceIdentifier(_)) = Ipv6cpOption::parse(&raw) {
                self.want = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collision_and_zero_are_naked() {
        let mut v6 = Ipv6cp::new(Drbg::new(&mut |b: &mut [u8]| b.fill(4)));
        let ours = v6.local_id;
        assert_ne!(ours, [0; 8]);
        let mut req = Vec::new();
        push_option(&mut req, &Ipv6cpOption::InterfaceIdentifier(ours));
        let mut out = Vec::new();
        assert_eq!(v6.judge_request(&req, true, &mut out), Verdict::Nak);
        assert_eq!(&out[..2], &[1, 10]);
        assert_ne!(&out[2..], &ours);
        assert_ne!(&out[2..], &[0; 8]);
        req.clear();
        push_option(&mut req, &Ipv6cpOption::InterfaceIdentifier([0; 8]));
        out.clear();
        assert_eq!(v6.judge_request(&req, true, &mut out), Verdict::Nak);
        req.clear();
        push_option(
            &mut req,
            &Ipv6cpOption::InterfaceIdentifier([1, 2, 3, 4, 5, 6, 7, 8]),
        );
        out.clear();
        assert_eq!(v6.judge_request(&req, true, &mut out), Verdict::Ack);
        assert_eq!(v6.peer_id, [1, 2, 3, 4, 5, 6, 7, 8]);
    }
}

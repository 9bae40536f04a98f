//! Small pieces shared by the PPP engine: the seeded random generator, the secret
//! byte string, and option-list helpers.
#![forbid(unsafe_code)]

use core::fmt;

use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::wire::ppp_options::PppOption;

/// A hash-based deterministic random bit generator seeded once from the caller's
/// randomness: block `i` is `SHA-256(seed | i)`. The engine needs random values
/// long after construction (CHAP challenges on retry, a fresh Magic-Number on a
/// loop-back suspicion, IPv6 interface identifiers), so instead of keeping a
/// borrowed filler it keeps 32 octets drawn from it. Tests pass a fixed filler
/// and are deterministic; in production the filler is the OS generator, and
/// SHA-256 in counter mode keeps the outputs unpredictable without the seed.
#[derive(Clone)]
pub struct Drbg {
    seed: [u8; 32],
    counter: u64,
}

impl Drbg {
    pub fn new(rng: &mut impl FnMut(&mut [u8])) -> Self {
        let mut seed = [0u8; 32];
        rng(&mut seed);
        Drbg { seed, counter: 0 }
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(32) {
            let mut h = Sha256::new();
            h.update(self.seed);
            h.update(self.counter.to_be_bytes());
            self.counter = self.counter.wrapping_add(1);
            let block: [u8; 32] = h.finalize().into();
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }

    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        self.fill(&mut a);
        a
    }

    /// A nonzero u32 (Magic-Numbers must not be zero, RFC 1661 §6.4).
    pub fn nonzero_u32(&mut self) -> u32 {
        loop {
            let v = u32::from_be_bytes(self.array());
            if v != 0 {
                return v;
            }
        }
    }

    /// An independent generator for a sub-component.
    pub fn fork(&mut self) -> Drbg {
        Drbg {
            seed: self.array(),
            counter: 0,
        }
    }
}

impl Drop for Drbg {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}

impl fmt::Debug for Drbg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Drbg(..)")
    }
}

/// A secret byte string (a password): zeroized on drop, redacted in `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Secret(Zeroizing::new(bytes.into()))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret::new(s.as_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Takes the front of a queue, freeing the queue's buffer once it is drained. PPP
/// queues fill in bursts (negotiation, teardown) and a session then runs for hours
/// with them empty; each engine holds several, for every subscriber (issue 8, daemon
/// memory per session).
pub(crate) fn pop_release<T>(queue: &mut std::collections::VecDeque<T>) -> Option<T> {
    let front = queue.pop_front();
    if front.is_none() {
        queue.shrink_to_fit();
    }
    front
}

/// Appends one option to an option list.
pub fn push_option(out: &mut Vec<u8>, option: &impl PppOption) {
    let start = out.len();
    out.resize(start + option.buffer_len(), 0);
    option.emit(&mut out[start..]);
}

/// Builds the answer to a Configure-Request from the options sorted into the
/// reject and nak lists (RFC 1661 §5.3-5.4: Reject wins over Nak; Naks become
/// Rejects of the original options once Max-Failure is reached).
pub struct Judgement {
    pub rejects: Vec<u8>,
    pub naks: Vec<u8>,
    /// The original bytes of the options that were Naked.
    pub naked_originals: Vec<u8>,
}

impl Judgement {
    pub fn new() -> Self {
        Judgement {
            rejects: Vec::new(),
            naks: Vec::new(),
            naked_originals: Vec::new(),
        }
    }

    pub fn reject(&mut self, original: &impl PppOption) {
        push_option(&mut self.rejects, original);
    }

    pub fn nak(&mut self, original: &impl PppOption, suggestion: &impl PppOption) {
        push_option(&mut self.naks, suggestion);
        push_option(&mut self.naked_originals, original);
    }

    /// Suggests an option the peer did not include (RFC 1661 §5.3 allows a Nak to
    /// carry options "not included in the Configure-Request").
    pub fn nak_missing(&mut self, suggestion: &impl PppOption) {
        push_option(&mut self.naks, suggestion);
    }

    pub fn finish(self, nak_allowed: bool, out: &mut Vec<u8>) -> super::fsm::Verdict {
        use super::fsm::Verdict;
        if !self.rejects.is_empty() {
            out.extend_from_slice(&self.rejects);
            Verdict::Reject
        } else if !self.naks.is_empty() {
            if nak_allowed {
                out.extend_from_slice(&self.naks);
                Verdict::Nak
            } else if self.naked_originals.is_empty() {
                Verdict::Ack
            } else {
                out.extend_from_slice(&self.naked_originals);
                Verdict::Reject
            }
        } else {
            Verdict::Ack
        }
    }
}

impl Default for Judgement {
    fn default() -> Self {
        Judgement::new()
    }
}

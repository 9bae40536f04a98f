//! IPCP (RFC 1332) with the DNS/NBNS options of RFC 1877: the [`Negotiator`].
//!
//! Server role: we request our own (PPP-side) address. The peer's IP-Address is
//! Acked when it is the assigned address and otherwise Naked to it (0.0.0.0
//! included); a request without IP-Address gets one suggested in a Nak (pppd does
//! the same). DNS/NBNS requests are Naked to the configured servers, Acked when they
//! already match, and Rejected when no server of that kind is configured.
//! IP-Compression-Protocol (Van Jacobson), the deprecated IP-Addresses and unknown
//! options are Rejected. A Nak of our own address is ignored: the address is ours
//! to choose; the peer's Max-Failure turns its Naks into a Reject, after which we
//! stop sending it.
//!
//! Client role: we request 0.0.0.0 and, when configured, DNS 0.0.0.0 (primary and
//! secondary), and adopt what the server Naks; a Reject of DNS stops asking for
//! it, a Reject of IP-Address fails the negotiation (no address, no link). The
//! server's IP-Address is Acked unless it is 0.0.0.0; everything else is Rejected.
#![forbid(unsafe_code)]

use std::net::Ipv4Addr;

use super::fsm::{NegotiationError, Negotiator, Verdict};
use super::util::{Judgement, push_option};
use crate::wire::ppp_options::{IpcpOption, Options};

/// What the server assigns (set by the caller with `Ppp::set_ipv4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Assignment {
    /// The subscriber's address.
    pub peer: Ipv4Addr,
    /// Our PPP-side address.
    pub local: Ipv4Addr,
    pub dns: [Option<Ipv4Addr>; 2],
    pub nbns: [Option<Ipv4Addr>; 2],
}

#[derive(Debug)]
pub struct Ipcp {
    server: bool,
    request_dns: bool,
    pub assignment: Option<Ipv4Assignment>,
    // What we request.
    want_address: Option<Ipv4Addr>,
    want_dns: [Option<Ipv4Addr>; 2],
    // Results.
    acked_address: Option<Ipv4Addr>,
    peer_address: Option<Ipv4Addr>,
}

const UNSPECIFIED: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

impl Ipcp {
    pub fn new(server: bool, request_dns: bool) -> Self {
        let mut ipcp = Ipcp {
            server,
            request_dns,
            assignment: None,
            want_address: None,
            want_dns: [None; 2],
            acked_address: None,
            peer_address: None,
        };
        ipcp.reset();
        ipcp
    }

    /// (local, peer, dns) once Opened.
    pub fn result(&self) -> (Ipv4Addr, Ipv4Addr, [Option<Ipv4Addr>; 2]) {
        if self.server {
            let a = self.assignment;
            (
                a.map_or(UNSPECIFIED, |a| a.local),
                a.map_or(UNSPECIFIED, |a| a.peer),
                a.map_or([None; 2], |a| a.dns),
            )
        } else {
            (
                self.acked_address.unwrap_or(UNSPECIFIED),
                self.peer_address.unwrap_or(UNSPECIFIED),
                self.want_dns,
            )
        }
    }
}

fn dns_option(i: usize, a: Ipv4Addr) -> IpcpOption<'static> {
    if i == 0 {
        IpcpOption::PrimaryDnsAddress(a)
    } else {
        IpcpOption::SecondaryDnsAddress(a)
    }
}

impl Negotiator for Ipcp {
    fn reset(&mut self) {
        if self.server {
            self.want_address = self.assignment.map(|a| a.local);
            self.want_dns = [None; 2];
        } else {
            self.want_address = Some(UNSPECIFIED);
            self.want_dns = if self.request_dns {
                [Some(UNSPECIFIED); 2]
            } else {
                [None; 2]
            };
        }
    }

    fn request_options(&mut self, out: &mut Vec<u8>) {
        if let Some(a) = self.want_address {
            push_option(out, &IpcpOption::IpAddress(a));
        }
        for (i, d) in self.want_dns.iter().enumerate() {
            if let Some(d) = *d {
                push_option(out, &dns_option(i, d));
            }
        }
    }

    fn judge_request(&mut self, options: &[u8], nak_allowed: bool, out: &mut Vec<u8>) -> Verdict {
        let mut j = Judgement::new();
        let mut peer_address = None;
        for o in Options::new(options) {
            let Ok(raw) = o else {
                return Verdict::Malformed;
            };
            let Ok(option) = IpcpOption::parse(&raw) else {
                j.reject(&raw);
                continue;
            };
            let assignment = self.assignment.filter(|_| self.server);
            // (configured value, suggestion) for the server-assigned options.
            let assigned = |kind: &IpcpOption<'_>| -> Option<(Ipv4Addr, IpcpOption<'static>)> {
                let a = assignment?;
                match kind {
                    IpcpOption::IpAddress(_) => Some((a.peer, IpcpOption::IpAddress(a.peer))),
                    IpcpOption::PrimaryDnsAddress(_) => {
                        a.dns[0].map(|v| (v, IpcpOption::PrimaryDnsAddress(v)))
                    }
                    IpcpOption::SecondaryDnsAddress(_) => {
                        a.dns[1].map(|v| (v, IpcpOption::SecondaryDnsAddress(v)))
                    }
                    IpcpOption::PrimaryNbnsAddress(_) => {
                        a.nbns[0].map(|v| (v, IpcpOption::PrimaryNbnsAddress(v)))
                    }
                    IpcpOption::SecondaryNbnsAddress(_) => {
                        a.nbns[1].map(|v| (v, IpcpOption::SecondaryNbnsAddress(v)))
                    }
                    _ => None,
                }
            };
            match option {
                IpcpOption::IpAddress(a) if !self.server => {
                    if a == UNSPECIFIED {
                        j.reject(&raw);
                    } else {
                        peer_address = Some(a);
                    }
                }
                IpcpOption::IpAddress(a)
                | IpcpOption::PrimaryDnsAddress(a)
                | IpcpOption::SecondaryDnsAddress(a)
                | IpcpOption::PrimaryNbnsAddress(a)
                | IpcpOption::SecondaryNbnsAddress(a)
                    if self.server =>
                {
                    match assigned(&option) {
                        Some((value, _)) if value == a => {
                            if matches!(option, IpcpOption::IpAddress(_)) {
                                peer_address = Some(a);
                            }
                        }
                        Some((_, suggestion)) => j.nak(&raw, &suggestion),
                        None => j.reject(&raw),
                    }
                }
                _ => j.reject(&raw),
            }
        }
        if self.server
            && peer_address.is_none()
            && j.rejects.is_empty()
            && let Some(a) = self.assignment
        {
            let already_naked = Options::new(&j.naks)
                .flatten()
                .any(|o| matches!(IpcpOption::parse(&o), Ok(IpcpOption::IpAddress(_))));
            if !already_naked {
                j.nak_missing(&IpcpOption::IpAddress(a.peer));
            }
        }
        let verdict = j.finish(nak_allowed, out);
        if verdict == Verdict::Ack {
            self.peer_address = peer_address;
        }
        verdict
    }

    fn acked(&mut self, options: &[u8]) {
        for o in Options::new(options).flatten() {
            if let Ok(IpcpOption::IpAddress(a)) = IpcpOption::parse(&o) {
                self.acked_address = Some(a);
            }
        }
    }

    fn naked(&mut self, options: &[u8]) -> Result<(), NegotiationError> {
        for o in Options::new(options) {
            let raw = o.map_err(|_| NegotiationError::Malformed)?;
            let Ok(option) = IpcpOption::parse(&raw) else {
                continue;
            };
            if self.server {
                continue;
            }
            match option {
                IpcpOption::IpAddress(a) => self.want_address = Some(a),
                IpcpOption::PrimaryDnsAddress(a) if self.want_dns[0].is_some() => {
                    self.want_dns[0] = Some(a)
                }
                IpcpOption::SecondaryDnsAddress(a) if self.want_dns[1].is_some() => {
                    self.want_dns[1] = Some(a)
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn rejected(&mut self, options: &[u8]) -> Result<(), NegotiationError> {
        for o in Options::new(options) {
            let raw = o.map_err(|_| NegotiationError::Malformed)?;
            match IpcpOption::parse(&raw) {
                Ok(IpcpOption::IpAddress(_)) if !self.server => {
                    return Err(NegotiationError::Required);
                }
                Ok(IpcpOption::IpAddress(_)) => self.want_address = None,
                Ok(IpcpOption::PrimaryDnsAddress(_)) => self.want_dns[0] = None,
                Ok(IpcpOption::SecondaryDnsAddress(_)) => self.want_dns[1] = None,
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(options: &[IpcpOption<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        for o in options {
            push_option(&mut out, o);
        }
        out
    }

    fn server() -> Ipcp {
        let mut s = Ipcp::new(true, false);
        s.assignment = Some(Ipv4Assignment {
            peer: Ipv4Addr::new(10, 0, 0, 5),
            local: Ipv4Addr::new(10, 0, 0, 1),
            dns: [Some(Ipv4Addr::new(9, 9, 9, 9)), None],
            nbns: [Some(Ipv4Addr::new(9, 9, 9, 10)), None],
        });
        s.reset();
        s
    }

    #[test]
    fn server_naks_zero_address_and_dns_rejects_vj_and_unset_dns() {
        let mut s = server();
        let mut out = Vec::new();
        s.request_options(&mut out);
        assert_eq!(out, [3, 6, 10, 0, 0, 1]);
        let req = list(&[
            IpcpOption::IpAddress(UNSPECIFIED),
            IpcpOption::PrimaryDnsAddress(UNSPECIFIED),
        ]);
        out.clear();
        assert_eq!(s.judge_request(&req, true, &mut out), Verdict::Nak);
        assert_eq!(
            out,
            list(&[
                IpcpOption::IpAddress(Ipv4Addr::new(10, 0, 0, 5)),
                IpcpOption::PrimaryDnsAddress(Ipv4Addr::new(9, 9, 9, 9)),
            ])
        );
        let vj = [0x00, 0x2d, 0x0f, 0x01];
        let req = list(&[
            IpcpOption::IpAddress(UNSPECIFIED),
            IpcpOption::IpCompressionProtocol {
                protocol: 0x002d,
                data: &vj[2..],
            },
            IpcpOption::SecondaryDnsAddress(UNSPECIFIED),
        ]);
        out.clear();
        assert_eq!(s.judge_request(&req, true, &mut out), Verdict::Reject);
        assert_eq!(
            out,
            list(&[
                IpcpOption::IpCompressionProtocol {
                    protocol: 0x002d,
                    data: &vj[2..]
                },
                IpcpOption::SecondaryDnsAddress(UNSPECIFIED),
            ])
        );
        let req = list(&[
            IpcpOption::IpAddress(Ipv4Addr::new(10, 0, 0, 5)),
            IpcpOption::PrimaryDnsAddress(Ipv4Addr::new(9, 9, 9, 9)),
        ]);
        out.clear();
        assert_eq!(s.judge_request(&req, true, &mut out), Verdict::Ack);
        // RFC 1877 NBNS: the configured primary is Naked to, the missing secondary
        // rejected.
        let req = list(&[
            IpcpOption::IpAddress(Ipv4Addr::new(10, 0, 0, 5)),
            IpcpOption::PrimaryNbnsAddress(UNSPECIFIED),
        ]);
        out.clear();
        assert_eq!(s.judge_request(&req, true, &mut out), Verdict::Nak);
        assert_eq!(
            out,
            list(&[IpcpOption::PrimaryNbnsAddress(Ipv4Addr::new(9, 9, 9, 10))])
        );
        let req = list(&[IpcpOption::SecondaryNbnsAddress(UNSPECIFIED)]);
        out.clear();
        assert_eq!(s.judge_request(&req, true, &mut out), Verdict::Reject);
        assert_eq!(out, req);
        // No IP-Address at all: one is suggested.
        out.clear();
        assert_eq!(s.judge_request(&[], true, &mut out), Verdict::Nak);
        assert_eq!(out, [3, 6, 10, 0, 0, 5]);
    }

    #[test]
    fn client_adopts_naked_values() {
        let mut c = Ipcp::new(false, true);
        let mut out = Vec::new();
        c.request_options(&mut out);
        assert_eq!(
            out,
            list(&[
                IpcpOption::IpAddress(UNSPECIFIED),
                IpcpOption::PrimaryDnsAddress(UNSPECIFIED),
                IpcpOption::SecondaryDnsAddress(UNSPECIFIED),
            ])
        );
        c.naked(&list(&[IpcpOption::IpAddress(Ipv4Addr::new(10, 0, 0, 5))]))
            .unwrap();
        c.rejected(&list(&[IpcpOption::SecondaryDnsAddress(UNSPECIFIED)]))
            .unwrap();
        out.clear();
        c.request_options(&mut out);
        assert_eq!(
            out,
            list(&[
                IpcpOption::IpAddress(Ipv4Addr::new(10, 0, 0, 5)),
                IpcpOption::PrimaryDnsAddress(UNSPECIFIED),
            ])
        );
        assert_eq!(
            c.rejected(&list(&[IpcpOption::IpAddress(UNSPECIFIED)])),
            Err(NegotiationError::Required)
        );
    }
}

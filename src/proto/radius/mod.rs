//! RADIUS, sans-IO: the client engine for authentication and accounting
//! ([`RadiusClient`]) and the server side of Dynamic Authorization ([`DaeServer`],
//! RFC 5176). Packets are built and parsed with `crate::wire::radius`; the
//! authenticators, User-Password hiding and MPPE keys are `crate::crypto::radius`.
//! No sockets or clocks: the control thread owns `sockets` UDP sockets, passes `now`,
//! sends what [`RadiusClient::poll_transmit`] returns from the socket it names, feeds
//! answers to [`RadiusClient::handle_datagram`], calls
//! [`RadiusClient::handle_timeout`] at [`RadiusClient::poll_timeout`] and acts on
//! [`RadiusClient::poll_event`]. Randomness (Request Authenticators) comes from the
//! caller's filler, through the same SHA-256 DRBG as the PPP engine.
//!
//! Implemented:
//! - **RFC 2865** §3 (packet, Identifier, Request/Response Authenticator), §4.1-§4.4
//!   (Access-Request/Accept/Reject/Challenge), §5.1-§5.8, §5.11, §5.18, §5.25,
//!   §5.27-§5.28, §5.30-§5.32, §5.40-§5.41 (the attributes sent and applied);
//!   §5.2 User-Password hiding, §5.3 CHAP-Password with §5.40 CHAP-Challenge.
//! - **RFC 2869** §5.14 Message-Authenticator on every Access-Request, verified on
//!   every answer that has one; §5.1-§5.2 Acct-Input/Output-Gigawords; §5.3
//!   Event-Timestamp; §5.16 Acct-Interim-Interval.
//! - **RFC 2548** §2.3.2 MS-CHAP2-Response with MS-CHAP-Challenge, §2.3.3
//!   MS-CHAP2-Success, §2.4.2-§2.4.3 MS-MPPE-Send/Recv-Key (revealed with the Request
//!   Authenticator), MS-Primary/Secondary-DNS-Server (vendor types 28, 29).
//! - **RFC 2866** §3-§4 Accounting-Request/Response with its Request Authenticator,
//!   §5.1-§5.10 (Status-Type Start/Stop/Interim-Update/Accounting-On/Off, Delay-Time,
//!   octets, Session-Id, Authentic, Session-Time, packets, Terminate-Cause).
//! - **RFC 5176** §2.3 (codes, duplicate detection), §3 (Request Authenticator as in
//!   RFC 2866), §3.3 (Proxy-State echoed), §3.4 (Message-Authenticator), §3.5
//!   (Error-Cause). Mikrotik-Rate-Limit (vendor 14988, type 8) and Filter-Id are passed
//!   on raw: parsing rate limits is the data plane's business.
//!
//! Decisions, client:
//! - **Identifiers** are per (socket, server) (RFC 2865 §3: the Identifier with the
//!   source address and port names a request), so `sockets` sockets give 256 ×
//!   `sockets` outstanding requests per server. Free ones are taken round-robin over
//!   the sockets and rotate within a socket, so a released Identifier is the last to
//!   come back. An authentication request keeps every Identifier it used (one per
//!   server tried) until it ends (answer, reject, or giving up), so a late answer
//!   from a server it failed over from is still accepted and no Identifier is reused
//!   while such an answer may come. An accounting record keeps its current and its
//!   previous transmission's Identifiers (a late answer to the one before still
//!   counts); older ones are released, since each retransmission needs a new one
//!   (below) and an outage would otherwise use them all up: a stale answer to a
//!   reused Identifier fails the new request's authenticator check. An
//!   authentication request that finds no free Identifier waits in a bounded FIFO
//!   (`auth_queue`; full: [`RadiusError::AuthQueueFull`]).
//! - **Retransmission**: an Access-Request is resent byte for byte (same Identifier
//!   and Request Authenticator, RFC 2865 §2.4, §3). An Accounting-Request carries an
//!   Acct-Delay-Time that grows, and RFC 2866 §5.2 says a changed Delay-Time means a
//!   new Identifier; so each accounting retransmission is rebuilt with a new
//!   Identifier, the current Delay-Time (seconds since [`RadiusClient::account`]) and
//!   a new Request Authenticator.
//! - **Failover**: each server has its own timeout and retries. When a request has
//!   used a server's retries, that server is held down for `dead_time`
//!   ([`Event::ServerDown`], once per outage) and the request moves to the next
//!   untried, not-held-down server in list order. Held-down servers are skipped until
//!   their hold-down ends, then probed by the next request. An authentic answer from a
//!   held-down server brings it back ([`Event::ServerUp`]). With every authentication
//!   server held down, [`RadiusClient::authenticate`] queues [`Event::TimedOut`] at
//!   once: the fallback (local users) is the daemon's choice.
//! - **Answers are trusted only after verification**: the source must be the server
//!   the request went to, on the socket it left from, with an outstanding Identifier
//!   (else `unknown_ids`); the Response Authenticator and any Message-Authenticator
//!   must verify (else `bad_authenticators`, dropped, the request keeps waiting).
//!   `require_message_authenticator` also drops Access answers without one
//!   (BlastRADIUS, CVE-2024-3596); it is off by default for older servers. Our
//!   Message-Authenticator is the first attribute, as the BlastRADIUS advisory asks.
//!   An attribute of an authentic Access-Accept that does not parse is ignored and
//!   counted (`bad_attributes`); an Access-Challenge is treated as a reject (no EAP).
//! - **Accounting queue**: records are held until an Accounting-Response arrives,
//!   however long the outage. Records of one Acct-Session-Id go one at a time, in
//!   order (Start before Interim before Stop); up to `accounting_in_flight` sessions
//!   are in flight at once (capped so accounting never runs out of Identifiers).
//!   Accounting-On/Off have no session id and are ordered among themselves. When a
//!   record has tried every server, it returns to the head of its session and the
//!   queue pauses until the first hold-down ends (at least 1 s): then the servers are
//!   probed again. Bounded at `accounting_queue` records: a newer Interim-Update
//!   replaces a queued one of the same session (it carries totals); when full, the
//!   oldest queued Interim-Update is dropped (`acct_dropped_interim`); if there is
//!   none, the new record is refused with [`RadiusError::AccountingQueueFull`] and
//!   counted, so a Start or Stop is never dropped silently.
//! - **Gigawords**: 64-bit octet counters are split into Acct-*-Octets (low 32 bits)
//!   and Acct-*-Gigawords (high 32 bits, sent when non-zero), in Interim-Update and
//!   Stop only.
//! - **Secrets** (shared secrets, PAP passwords, MPPE keys) are [`Secret`]s: zeroized
//!   on drop and redacted in Debug; [`Transmit`]'s Debug omits the bytes.
//! - Authentication and accounting servers must have distinct addresses (their
//!   Identifier spaces are separate); at most 64 servers per list.
//!
//! Decisions, Dynamic Authorization ([`dae`]):
//! - Clients are matched by source IP address only (the port varies); a request from
//!   another address is dropped and counted, as is one whose Request Authenticator
//!   or Message-Authenticator does not verify (RFC 5176 §3: silently discarded).
//! - Selectors: User-Name, Acct-Session-Id, Framed-IP-Address (at least one, else
//!   NAK 402 Missing-Attribute). NAS-IP-Address / NAS-Identifier are checked against
//!   ours when configured (mismatch: NAK 403). A CoA may change Session-Timeout,
//!   Filter-Id and Mikrotik-Rate-Limit; any other attribute (or a change in a
//!   Disconnect-Request) is NAK 401 Unsupported-Attribute; a value that does not
//!   parse is NAK 407 Invalid-Attribute-Value; a broken chain is dropped as
//!   malformed (the Message-Authenticator cannot be located in it). Proxy-State
//!   is echoed; Event-Timestamp is accepted but not used for replay protection.
//! - The daemon acts and answers with [`DaeServer::answer`] (ACK, or NAK with e.g.
//!   503 Session-Context-Not-Found). Answers carry a Message-Authenticator when the
//!   request had one. A duplicate (same source address and port, Identifier and
//!   Request Authenticator) within `duplicate_window` gets the same answer again, or
//!   is dropped while the first copy is still being handled (RFC 5176 §2.3).
#![forbid(unsafe_code)]

pub mod client;
pub mod dae;
#[cfg(test)]
mod tests;

pub use crate::proto::ppp::util::Secret;
pub use crate::wire::radius::attribute::ErrorCause;
pub use crate::wire::radius::attribute::{AcctAuthentic, AcctStatusType, AcctTerminateCause};
pub use client::{
    AcceptInfo, AcctRecord, AuthParams, Counters, Event, Proof, RadiusClient, RadiusConfig,
    RadiusError, RequestId, ServerConfig, ServerCounters, Transmit,
};
pub use dae::{
    Changes, DaeClient, DaeConfig, DaeCounters, DaeKind, DaeOutcome, DaeRequest, DaeServer,
    ReplyContext, Selectors,
};

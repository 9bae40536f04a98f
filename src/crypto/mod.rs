//! Cryptographic transforms, in place into caller buffers, no allocation per packet.
//!
//! - [`esp`]: ESP transforms behind one trait (RFC 4303, RFC 4106, RFC 2404, RFC 4868);
//! - [`ike`]: IKEv1 PRF, SKEYID derivation, key expansion, phase-1 CBC and DH (RFC 2409);
//! - [`ppp`]: CHAP-MD5 (RFC 1994), MS-CHAPv2 (RFC 2759), MPPE keys and RC4 (RFC 3078/3079);
//! - [`l2tp`]: hidden AVPs and tunnel authentication (RFC 2661 §4.3, §5.1.1);
//! - [`radius`]: User-Password hiding, authenticators, Message-Authenticator, MS-MPPE keys
//!   (RFC 2865, 2866, 2869, 5176, 2548).
//!
//! `ring` does AES-GCM, HMAC-SHA1/SHA2 and SHA; RustCrypto crates do what ring lacks
//! (AES-CBC, 3DES, DES, MD4, MD5, RC4, MODP arithmetic). Secrets are zeroized on drop
//! and compared in constant time.
#![forbid(unsafe_code)]

pub mod esp;
pub mod ike;
pub mod l2tp;
pub mod ppp;
pub mod radius;

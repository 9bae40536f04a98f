//! Independent cross-check (design.md "Testing layers" 5): packets built by the
//! library are written to a pcap and dissected by `tshark -V`; the test fails on any
//! malformed-packet or error-level expert report, and checks that the field values we
//! set are the ones Wireshark reads back.

mod common;

mod esp_gre_pptp;
mod isakmp;
mod l2tp;
mod ppp;
mod radius;

//! `[listen]`: the address and UDP ports the concentrator binds, and raw ESP.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use super::validate::{Validator, integer};

/// `[listen]`: see `config/default.toml` for what each key means.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, expecting = "a table of listen settings")]
pub struct ListenConfig {
    /// Local address every socket binds.
    pub address: IpAddr,
    /// IKE (UDP 500, RFC 2409).
    #[serde(deserialize_with = "integer::<_, u16, 1, 65535>")]
    pub ike_port: u16,
    /// IKE and UDP-encapsulated ESP behind NAT (UDP 4500, RFC 3947 / RFC 3948).
    #[serde(deserialize_with = "integer::<_, u16, 1, 65535>")]
    pub nat_t_port: u16,
    /// L2TP (UDP 1701, RFC 2661 §8.1).
    #[serde(deserialize_with = "integer::<_, u16, 1, 65535>")]
    pub l2tp_port: u16,
    /// Also receive ESP as IP protocol 50 (clients not behind NAT); needs CAP_NET_RAW.
    pub raw_esp: bool,
    /// PPTP control connections (TCP 1723, RFC 2637 §1.3), when `pptp.enabled`.
    #[serde(deserialize_with = "integer::<_, u16, 1, 65535>")]
    pub pptp_port: u16,
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ike_port: 500,
            nat_t_port: 4500,
            l2tp_port: 1701,
            raw_esp: true,
            pptp_port: 1723,
        }
    }
}

impl ListenConfig {
    pub(crate) fn validate(&self, v: &mut Validator<'_>) {
        let ports = [
            ("ike_port", self.ike_port),
            ("nat_t_port", self.nat_t_port),
            ("l2tp_port", self.l2tp_port),
        ];
        // TCP: its own port space, so not compared with the UDP ports.
        if self.pptp_port == 0 {
            v.error(
                "pptp_port",
                "must not be 0 (the kernel would pick a random port)",
            );
        }
        for (key, port) in ports {
            if port == 0 {
                v.error(key, "must not be 0 (the kernel would pick a random port)");
            }
        }
        // Each colliding pair once, blamed on a key the file writes; if it writes both,
        // on the one further down (usually the one just added).
        for (i, &(first, port)) in ports.iter().enumerate() {
            for &(second, other) in &ports[i + 1..] {
                if port != 0 && port == other {
                    let blame_first = match (v.written_at(first), v.written_at(second)) {
                        (Some(at_first), Some(at_second)) => at_first > at_second,
                        (Some(_), None) => true,
                        (None, _) => false,
                    };
                    let (blamed, kept) = if blame_first {
                        (first, second)
                    } else {
                        (second, first)
                    };
                    v.error(
                        blamed,
                        format!("port {port} is also listen.{kept}; the ports must differ"),
                    );
                }
            }
        }
    }
}

//! Address values written as strings in the configuration: pool ranges
//! ([`AddressRange`]), source networks ([`IpNetwork`]), and secrets ([`Secret`]).
//!
//! Each parses from and prints back to the form an operator writes, so a configuration
//! serialized with `toml` reads back equal. Parse errors are plain messages; serde puts
//! them at the line of the string.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use zeroize::Zeroize;

/// A range of IPv4 addresses in a `[[pool]]`: `"10.0.0.10-10.0.0.99"` (both ends
/// included), `"10.0.0.0/24"` (a CIDR block: its network and broadcast addresses are
/// not handed out, except in a /31 or /32, RFC 3021) or `"10.0.0.7"` (one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressRange {
    /// `network/prefix_len`, with no host bits set in `network`.
    Cidr { network: Ipv4Addr, prefix_len: u8 },
    /// `first-last`, `first <= last`; a single address has `first == last`.
    Span { first: Ipv4Addr, last: Ipv4Addr },
}

impl AddressRange {
    /// First and last address the range covers, network and broadcast included (for
    /// overlap checks: two pools must not even share a CIDR's network address).
    pub fn extent(&self) -> (u32, u32) {
        match *self {
            AddressRange::Cidr {
                network,
                prefix_len,
            } => {
                let first = u32::from(network);
                (first, first | host_mask(prefix_len))
            }
            AddressRange::Span { first, last } => (u32::from(first), u32::from(last)),
        }
    }

    /// First and last address a pool may hand out: the extent without a CIDR's network
    /// and broadcast addresses when the prefix is /30 or shorter.
    pub fn usable(&self) -> (u32, u32) {
        let (first, last) = self.extent();
        match *self {
            AddressRange::Cidr { prefix_len, .. } if prefix_len <= 30 => (first + 1, last - 1),
            _ => (first, last),
        }
    }

    /// How many addresses [`AddressRange::usable`] covers (at least 1).
    pub fn usable_len(&self) -> u64 {
        let (first, last) = self.usable();
        u64::from(last - first) + 1
    }
}

/// The low `32 - prefix_len` bits set.
fn host_mask(prefix_len: u8) -> u32 {
    if prefix_len >= 32 {
        0
    } else {
        u32::MAX >> prefix_len
    }
}

fn parse_ipv4(text: &str) -> Result<Ipv4Addr, String> {
    Ipv4Addr::from_str(text.trim()).map_err(|_| format!("{:?} is not an IPv4 address", text.trim()))
}

fn parse_prefix_len(text: &str, max: u8) -> Result<u8, String> {
    match text.trim().parse::<u8>() {
        Ok(len) if len <= max => Ok(len),
        _ => Err(format!(
            "prefix length must be from 0 to {max}, not {:?}",
            text.trim()
        )),
    }
}

impl FromStr for AddressRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Some((address, len)) = text.split_once('/') {
            let network = parse_ipv4(address)?;
            let prefix_len = parse_prefix_len(len, 32)?;
            let bits = u32::from(network);
            if bits & host_mask(prefix_len) != 0 {
                let masked = Ipv4Addr::from(bits & !host_mask(prefix_len));
                return Err(format!(
                    "{text:?} has host bits set; did you mean \"{masked}/{prefix_len}\"?"
                ));
            }
            return Ok(AddressRange::Cidr {
                network,
                prefix_len,
            });
        }
        if let Some((first, last)) = text.split_once('-') {
            let first = parse_ipv4(first)?;
            let last = parse_ipv4(last)?;
            if first > last {
                return Err(format!(
                    "{text:?} is backwards: the first address must not be above the last"
                ));
            }
            return Ok(AddressRange::Span { first, last });
        }
        let address = parse_ipv4(text).map_err(|_| {
            format!("{text:?} is not an address range (\"A-B\", \"NETWORK/LEN\" or one address)")
        })?;
        Ok(AddressRange::Span {
            first: address,
            last: address,
        })
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressRange::Cidr {
                network,
                prefix_len,
            } => write!(f, "{network}/{prefix_len}"),
            AddressRange::Span { first, last } if first == last => write!(f, "{first}"),
            AddressRange::Span { first, last } => write!(f, "{first}-{last}"),
        }
    }
}

/// An IPv4 or IPv6 network: `"192.0.2.0/24"`, `"2001:db8::/32"`, or one address
/// (`"192.0.2.7"`, a /32 or /128). Host bits must be zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    pub address: IpAddr,
    pub prefix_len: u8,
}

impl IpNetwork {
    /// Whether `address` is inside this network. An IPv4-mapped IPv6 address
    /// (`::ffff:a.b.c.d`, what a dual-stack socket reports) matches an IPv4 network.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        match (self.address, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = !host_mask(self.prefix_len);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = if self.prefix_len == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix_len))
                };
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }

    fn max_prefix_len(address: IpAddr) -> u8 {
        if address.is_ipv4() { 32 } else { 128 }
    }
}

impl FromStr for IpNetwork {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (address, len) = match text.split_once('/') {
            Some((address, len)) => (address, Some(len)),
            None => (text, None),
        };
        let address = IpAddr::from_str(address.trim())
            .map_err(|_| format!("{:?} is not an IP address", address.trim()))?;
        let max = IpNetwork::max_prefix_len(address);
        let prefix_len = match len {
            Some(len) => parse_prefix_len(len, max)?,
            None => max,
        };
        let network = IpNetwork {
            address,
            prefix_len,
        };
        let masked = network.masked();
        if masked != address {
            return Err(format!(
                "{text:?} has host bits set; did you mean \"{masked}/{prefix_len}\"?"
            ));
        }
        Ok(network)
    }
}

impl IpNetwork {
    fn masked(&self) -> IpAddr {
        match self.address {
            IpAddr::V4(v4) => {
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & !host_mask(self.prefix_len)))
            }
            IpAddr::V6(v6) => {
                let mask = if self.prefix_len == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix_len))
                };
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        }
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix_len == IpNetwork::max_prefix_len(self.address) {
            write!(f, "{}", self.address)
        } else {
            write!(f, "{}/{}", self.address, self.prefix_len)
        }
    }
}

/// Serialize / deserialize a `FromStr<Err = String>` + `Display` type as a string.
macro_rules! string_serde {
    ($type:ty, $expecting:literal) => {
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct StringVisitor;
                impl Visitor<'_> for StringVisitor {
                    type Value = $type;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, value: &str) -> Result<$type, E> {
                        value.parse().map_err(E::custom)
                    }
                }
                deserializer.deserialize_str(StringVisitor)
            }
        }
    };
}

string_serde!(
    AddressRange,
    "an IPv4 range as a string: \"A-B\", \"NETWORK/LEN\" or one address"
);
string_serde!(
    IpNetwork,
    "an IP address or network as a string (\"192.0.2.0/24\")"
);

/// A secret from the configuration (the L2TP tunnel secret): zeroized on drop, never
/// shown by `Debug`. Empty means "not set". Serializes as the plain string (so
/// `print-default-config` round-trips); only write it to places as private as the file
/// it came from.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself, for the code that uses it (never for logs).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("Secret(unset)")
        } else {
            f.write_str("Secret(..)")
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

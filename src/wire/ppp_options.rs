//! Configuration options of LCP, IPCP, IPv6CP and CCP: one Type-Length-Data codec
//! (RFC 1661 §6) shared by all four, plus a typed view per protocol.
//!
//! The Data of a Configure-Request/-Ack/-Nak/-Reject is a list of options
//!
//! ```text
//! Type (1)  Length (1, counts Type and Length, so >= 2)  Data (Length - 2)
//! ```
//!
//! - [`Options`] iterates over such a list without allocating and yields
//!   `Result<OptionRepr>`. A Length below 2 is [`Error::BadLength`]; a Length past
//!   the end of the list is [`Error::Truncated`]. After the first error the iterator
//!   stops, because the position of the next option is unknown.
//! - [`emit_options`] writes a list from a slice of anything implementing
//!   [`PppOption`]: raw [`OptionRepr`]s (what a Configure-Ack/-Reject echoes back) or
//!   the typed enums below, so an engine can build a Configure-Request from typed
//!   values and reject unknown ones byte for byte.
//! - Typed options: [`LcpOption`] (RFC 1661 §6, RFC 1570, RFC 1990, RFC 1994 §3),
//!   [`IpcpOption`] (RFC 1332 §3, RFC 1877 §1), [`Ipv6cpOption`] (RFC 5072 §4) and
//!   [`CcpOption`] (RFC 1962, RFC 3078 §2). Each parses from an [`OptionRepr`] and
//!   checks the option's size; an option of a type we do not model becomes
//!   `Unknown(OptionRepr)` and emits back unchanged. A known type with the wrong
//!   size is [`Error::Malformed`] (the engine then treats it as unrecognisable,
//!   which is a Configure-Reject: that decision is policy and not made here).
//! - The Authentication-Protocol option is typed as PAP (no data), CHAP with its
//!   one-octet algorithm, or anything else with its raw data, so an unusual
//!   encoding (a PAP option with data) stays representable and round-trips.
#![forbid(unsafe_code)]

use core::net::Ipv4Addr;

use super::ppp::Protocol;
use super::{Error, Layer, Reader, Result, Writer};

/// Byte offsets of one option.
pub mod field {
    use crate::wire::Rest;
    pub const TYPE: usize = 0;
    pub const LENGTH: usize = 1;
    pub const DATA: Rest = 2..;
}

/// Octets of Type + Length.
pub const OPTION_HEADER_LEN: usize = 2;
/// The one-octet Length limits Data to 253 octets.
pub const MAX_OPTION_DATA_LEN: usize = u8::MAX as usize - OPTION_HEADER_LEN;

/// One option, undecoded: its Type and its Data (without the two header octets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OptionRepr<'a> {
    pub option_type: u8,
    pub data: &'a [u8],
}

/// Iterator over the options of a Configure-* packet's Data.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    reader: Reader<'a>,
    failed: bool,
}

impl<'a> Options<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Options {
            reader: Reader::new(data, Layer::PppOption),
            failed: false,
        }
    }

    /// Validates the whole list without decoding any option.
    pub fn check(data: &'a [u8]) -> Result<()> {
        Options::new(data).try_for_each(|o| o.map(|_| ()))
    }

    fn read_one(&mut self) -> Result<OptionRepr<'a>> {
        let option_type = self.reader.u8()?;
        let length = usize::from(self.reader.u8()?);
        if length < OPTION_HEADER_LEN {
            return Err(Error::BadLength(Layer::PppOption));
        }
        let data = self.reader.take(length - OPTION_HEADER_LEN)?;
        Ok(OptionRepr { option_type, data })
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<OptionRepr<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.reader.is_empty() {
            return None;
        }
        let item = self.read_one();
        self.failed = item.is_err();
        Some(item)
    }
}

impl core::iter::FusedIterator for Options<'_> {}

/// Anything that can be written as one option: the raw [`OptionRepr`] and the typed
/// enums. `emit` writes exactly `buffer_len()` octets; a Data longer than
/// [`MAX_OPTION_DATA_LEN`] cannot be encoded and is a caller bug (it panics).
pub trait PppOption {
    fn option_type(&self) -> u8;
    /// Length of Data (without Type and Length).
    fn data_len(&self) -> usize;
    /// Writes Data into `data` (exactly `data_len()` octets).
    fn emit_data(&self, data: &mut [u8]);

    fn buffer_len(&self) -> usize {
        OPTION_HEADER_LEN + self.data_len()
    }

    fn emit(&self, buf: &mut [u8]) {
        let len = self.buffer_len();
        let length = u8::try_from(len).expect("PPP option data longer than 253 octets");
        buf[field::TYPE] = self.option_type();
        buf[field::LENGTH] = length;
        self.emit_data(&mut buf[OPTION_HEADER_LEN..len]);
    }
}

impl PppOption for OptionRepr<'_> {
    fn option_type(&self) -> u8 {
        self.option_type
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
    fn emit_data(&self, data: &mut [u8]) {
        data.copy_from_slice(self.data);
    }
}

/// Total length of a list of options.
pub fn options_len<O: PppOption>(options: &[O]) -> usize {
    options.iter().map(PppOption::buffer_len).sum()
}

/// Writes a list of options at the start of `buf`; returns the octets written.
pub fn emit_options<O: PppOption>(options: &[O], buf: &mut [u8]) -> usize {
    let mut offset = 0;
    for o in options {
        let len = o.buffer_len();
        o.emit(&mut buf[offset..offset + len]);
        offset += len;
    }
    offset
}

fn fixed<const N: usize>(data: &[u8], why: &'static str) -> Result<[u8; N]> {
    <[u8; N]>::try_from(data).map_err(|_| Error::Malformed(Layer::PppOption, why))
}

fn at_least(data: &[u8], n: usize, why: &'static str) -> Result<()> {
    if data.len() < n {
        Err(Error::Malformed(Layer::PppOption, why))
    } else {
        Ok(())
    }
}

/// Splits a "16-bit protocol + data" option body.
fn protocol_and_data<'a>(data: &'a [u8], why: &'static str) -> Result<(u16, &'a [u8])> {
    at_least(data, 2, why)?;
    let mut r = Reader::new(data, Layer::PppOption);
    let protocol = r.u16()?;
    Ok((protocol, r.rest()))
}

open_enum! {
    /// LCP option types (RFC 1661 §6, RFC 1570, RFC 1990 §5.1).
    pub enum LcpOptionType: u8 {
        MaximumReceiveUnit = 1,
        AsyncControlCharacterMap = 2,
        AuthenticationProtocol = 3,
        QualityProtocol = 4,
        MagicNumber = 5,
        ProtocolFieldCompression = 7,
        AddressControlFieldCompression = 8,
        /// RFC 1570 §2.3.
        Callback = 13,
        /// RFC 1990 §5.1.1.
        MaximumReceivedReconstructedUnit = 17,
        /// RFC 1990 §5.1.3.
        EndpointDiscriminator = 19,
    }
}

open_enum! {
    /// The CHAP algorithm octet of the Authentication-Protocol option (RFC 1994 §3,
    /// RFC 2433 §2, RFC 2759 §2).
    pub enum ChapAlgorithm: u8 {
        Md5 = 5,
        MsChap = 0x80,
        MsChapV2 = 0x81,
    }
}

/// The value of LCP's Authentication-Protocol option (RFC 1661 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticationProtocol<'a> {
    /// 0xC023 with no data (RFC 1334 §2.1).
    Pap,
    /// 0xC223 with its one-octet algorithm (RFC 1994 §3).
    Chap(ChapAlgorithm),
    /// Any other protocol, or PAP/CHAP with unusual data.
    Other { protocol: Protocol, data: &'a [u8] },
}

impl AuthenticationProtocol<'_> {
    pub fn protocol(&self) -> Protocol {
        match *self {
            AuthenticationProtocol::Pap => Protocol::Pap,
            AuthenticationProtocol::Chap(_) => Protocol::Chap,
            AuthenticationProtocol::Other { protocol, .. } => protocol,
        }
    }
}

/// An LCP option, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LcpOption<'a> {
    MaximumReceiveUnit(u16),
    AsyncControlCharacterMap(u32),
    AuthenticationProtocol(AuthenticationProtocol<'a>),
    QualityProtocol {
        protocol: Protocol,
        data: &'a [u8],
    },
    MagicNumber(u32),
    ProtocolFieldCompression,
    AddressControlFieldCompression,
    /// RFC 1570 §2.3: Operation and Message.
    Callback {
        operation: u8,
        message: &'a [u8],
    },
    MaximumReceivedReconstructedUnit(u16),
    /// RFC 1990 §5.1.3: Class and Address (length depends on the class).
    EndpointDiscriminator {
        class: u8,
        address: &'a [u8],
    },
    Unknown(OptionRepr<'a>),
}

impl<'a> LcpOption<'a> {
    pub fn parse(option: &OptionRepr<'a>) -> Result<Self> {
        let d = option.data;
        Ok(match LcpOptionType::from(option.option_type) {
            LcpOptionType::MaximumReceiveUnit => LcpOption::MaximumReceiveUnit(u16::from_be_bytes(
                fixed(d, "MRU option length is not 4")?,
            )),
            LcpOptionType::AsyncControlCharacterMap => LcpOption::AsyncControlCharacterMap(
                u32::from_be_bytes(fixed(d, "ACCM option length is not 6")?),
            ),
            LcpOptionType::AuthenticationProtocol => {
                let (protocol, data) =
                    protocol_and_data(d, "Authentication-Protocol option shorter than 4")?;
                let protocol = Protocol::from(protocol);
                LcpOption::AuthenticationProtocol(match (protocol, data) {
                    (Protocol::Pap, []) => AuthenticationProtocol::Pap,
                    (Protocol::Chap, &[algorithm]) => {
                        AuthenticationProtocol::Chap(ChapAlgorithm::from(algorithm))
                    }
                    _ => AuthenticationProtocol::Other { protocol, data },
                })
            }
            LcpOptionType::QualityProtocol => {
                let (protocol, data) =
                    protocol_and_data(d, "Quality-Protocol option shorter than 4")?;
                LcpOption::QualityProtocol {
                    protocol: Protocol::from(protocol),
                    data,
                }
            }
            LcpOptionType::MagicNumber => LcpOption::MagicNumber(u32::from_be_bytes(fixed(
                d,
                "Magic-Number option length is not 6",
            )?)),
            LcpOptionType::ProtocolFieldCompression => {
                fixed::<0>(d, "PFC option length is not 2")?;
                LcpOption::ProtocolFieldCompression
            }
            LcpOptionType::AddressControlFieldCompression => {
                fixed::<0>(d, "ACFC option length is not 2")?;
                LcpOption::AddressControlFieldCompression
            }
            LcpOptionType::Callback => match d.split_first() {
                Some((&operation, message)) => LcpOption::Callback { operation, message },
                None => {
                    return Err(Error::Malformed(
                        Layer::PppOption,
                        "Callback option shorter than 3",
                    ));
                }
            },
            LcpOptionType::MaximumReceivedReconstructedUnit => {
                LcpOption::MaximumReceivedReconstructedUnit(u16::from_be_bytes(fixed(
                    d,
                    "MRRU option length is not 4",
                )?))
            }
            LcpOptionType::EndpointDiscriminator => match d.split_first() {
                Some((&class, address)) => LcpOption::EndpointDiscriminator { class, address },
                None => {
                    return Err(Error::Malformed(
                        Layer::PppOption,
                        "Endpoint-Discriminator option shorter than 3",
                    ));
                }
            },
            LcpOptionType::Unknown(_) => LcpOption::Unknown(*option),
        })
    }
}

impl PppOption for LcpOption<'_> {
    fn option_type(&self) -> u8 {
        match self {
            LcpOption::MaximumReceiveUnit(_) => LcpOptionType::MaximumReceiveUnit,
            LcpOption::AsyncControlCharacterMap(_) => LcpOptionType::AsyncControlCharacterMap,
            LcpOption::AuthenticationProtocol(_) => LcpOptionType::AuthenticationProtocol,
            LcpOption::QualityProtocol { .. } => LcpOptionType::QualityProtocol,
            LcpOption::MagicNumber(_) => LcpOptionType::MagicNumber,
            LcpOption::ProtocolFieldCompression => LcpOptionType::ProtocolFieldCompression,
            LcpOption::AddressControlFieldCompression => {
                LcpOptionType::AddressControlFieldCompression
            }
            LcpOption::Callback { .. } => LcpOptionType::Callback,
            LcpOption::MaximumReceivedReconstructedUnit(_) => {
                LcpOptionType::MaximumReceivedReconstructedUnit
            }
            LcpOption::EndpointDiscriminator { .. } => LcpOptionType::EndpointDiscriminator,
            LcpOption::Unknown(o) => return o.option_type,
        }
        .into()
    }

    fn data_len(&self) -> usize {
        match self {
            LcpOption::MaximumReceiveUnit(_) | LcpOption::MaximumReceivedReconstructedUnit(_) => 2,
            LcpOption::AsyncControlCharacterMap(_) | LcpOption::MagicNumber(_) => 4,
            LcpOption::AuthenticationProtocol(a) => match a {
                AuthenticationProtocol::Pap => 2,
                AuthenticationProtocol::Chap(_) => 3,
                AuthenticationProtocol::Other { data, .. } => 2 + data.len(),
            },
            LcpOption::QualityProtocol { data, .. } => 2 + data.len(),
            LcpOption::ProtocolFieldCompression | LcpOption::AddressControlFieldCompression => 0,
            LcpOption::Callback { message, .. } => 1 + message.len(),
            LcpOption::EndpointDiscriminator { address, .. } => 1 + address.len(),
            LcpOption::Unknown(o) => o.data.len(),
        }
    }

    fn emit_data(&self, data: &mut [u8]) {
        let mut w = Writer::new(data);
        match *self {
            LcpOption::MaximumReceiveUnit(v) | LcpOption::MaximumReceivedReconstructedUnit(v) => {
                w.put_u16(v)
            }
            LcpOption::AsyncControlCharacterMap(v) | LcpOption::MagicNumber(v) => w.put_u32(v),
            LcpOption::AuthenticationProtocol(a) => {
                w.put_u16(a.protocol().into());
                match a {
                    AuthenticationProtocol::Pap => {}
                    AuthenticationProtocol::Chap(algorithm) => w.put_u8(algorithm.into()),
                    AuthenticationProtocol::Other { data, .. } => w.put_slice(data),
                }
            }
            LcpOption::QualityProtocol { protocol, data } => {
                w.put_u16(protocol.into());
                w.put_slice(data);
            }
            LcpOption::ProtocolFieldCompression | LcpOption::AddressControlFieldCompression => {}
            LcpOption::Callback { operation, message } => {
                w.put_u8(operation);
                w.put_slice(message);
            }
            LcpOption::EndpointDiscriminator { class, address } => {
                w.put_u8(class);
                w.put_slice(address);
            }
            LcpOption::Unknown(o) => w.put_slice(o.data),
        }
    }
}

open_enum! {
    /// IPCP option types (RFC 1332 §3, RFC 1877 §1).
    pub enum IpcpOptionType: u8 {
        /// Deprecated (RFC 1332 appendix), still sent by very old peers.
        IpAddresses = 1,
        IpCompressionProtocol = 2,
        IpAddress = 3,
        PrimaryDnsAddress = 129,
        PrimaryNbnsAddress = 130,
        SecondaryDnsAddress = 131,
        SecondaryNbnsAddress = 132,
    }
}

/// An IPCP option, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpcpOption<'a> {
    IpAddresses {
        source: Ipv4Addr,
        destination: Ipv4Addr,
    },
    /// RFC 1332 §3.2: the compression protocol (0x002D Van Jacobson) and its data.
    IpCompressionProtocol {
        protocol: u16,
        data: &'a [u8],
    },
    IpAddress(Ipv4Addr),
    PrimaryDnsAddress(Ipv4Addr),
    PrimaryNbnsAddress(Ipv4Addr),
    SecondaryDnsAddress(Ipv4Addr),
    SecondaryNbnsAddress(Ipv4Addr),
    Unknown(OptionRepr<'a>),
}

impl<'a> IpcpOption<'a> {
    pub fn parse(option: &OptionRepr<'a>) -> Result<Self> {
        let d = option.data;
        let addr = |why| fixed::<4>(d, why).map(Ipv4Addr::from);
        Ok(match IpcpOptionType::from(option.option_type) {
            IpcpOptionType::IpAddresses => {
                let b: [u8; 8] = fixed(d, "IP-Addresses option length is not 10")?;
                IpcpOption::IpAddresses {
                    source: Ipv4Addr::new(b[0], b[1], b[2], b[3]),
                    destination: Ipv4Addr::new(b[4], b[5], b[6], b[7]),
                }
            }
            IpcpOptionType::IpCompressionProtocol => {
                let (protocol, data) =
                    protocol_and_data(d, "IP-Compression-Protocol option shorter than 4")?;
                IpcpOption::IpCompressionProtocol { protocol, data }
            }
            IpcpOptionType::IpAddress => {
                IpcpOption::IpAddress(addr("IP-Address option length is not 6")?)
            }
            IpcpOptionType::PrimaryDnsAddress => {
                IpcpOption::PrimaryDnsAddress(addr("Primary-DNS option length is not 6")?)
            }
            IpcpOptionType::PrimaryNbnsAddress => {
                IpcpOption::PrimaryNbnsAddress(addr("Primary-NBNS option length is not 6")?)
            }
            IpcpOptionType::SecondaryDnsAddress => {
                IpcpOption::SecondaryDnsAddress(addr("Secondary-DNS option length is not 6")?)
            }
            IpcpOptionType::SecondaryNbnsAddress => {
                IpcpOption::SecondaryNbnsAddress(addr("Secondary-NBNS option length is not 6")?)
            }
            IpcpOptionType::Unknown(_) => IpcpOption::Unknown(*option),
        })
    }
}

impl PppOption for IpcpOption<'_> {
    fn option_type(&self) -> u8 {
        match self {
            IpcpOption::IpAddresses { .. } => IpcpOptionType::IpAddresses,
            IpcpOption::IpCompressionProtocol { .. } => IpcpOptionType::IpCompressionProtocol,
            IpcpOption::IpAddress(_) => IpcpOptionType::IpAddress,
            IpcpOption::PrimaryDnsAddress(_) => IpcpOptionType::PrimaryDnsAddress,
            IpcpOption::PrimaryNbnsAddress(_) => IpcpOptionType::PrimaryNbnsAddress,
            IpcpOption::SecondaryDnsAddress(_) => IpcpOptionType::SecondaryDnsAddress,
            IpcpOption::SecondaryNbnsAddress(_) => IpcpOptionType::SecondaryNbnsAddress,
            IpcpOption::Unknown(o) => return o.option_type,
        }
        .into()
    }

    fn data_len(&self) -> usize {
        match self {
            IpcpOption::IpAddresses { .. } => 8,
            IpcpOption::IpCompressionProtocol { data, .. } => 2 + data.len(),
            IpcpOption::IpAddress(_)
            | IpcpOption::PrimaryDnsAddress(_)
            | IpcpOption::PrimaryNbnsAddress(_)
            | IpcpOption::SecondaryDnsAddress(_)
            | IpcpOption::SecondaryNbnsAddress(_) => 4,
            IpcpOption::Unknown(o) => o.data.len(),
        }
    }

    fn emit_data(&self, data: &mut [u8]) {
        let mut w = Writer::new(data);
        match *self {
            IpcpOption::IpAddresses {
                source,
                destination,
            } => {
                w.put_slice(&source.octets());
                w.put_slice(&destination.octets());
            }
            IpcpOption::IpCompressionProtocol { protocol, data } => {
                w.put_u16(protocol);
                w.put_slice(data);
            }
            IpcpOption::IpAddress(a)
            | IpcpOption::PrimaryDnsAddress(a)
            | IpcpOption::PrimaryNbnsAddress(a)
            | IpcpOption::SecondaryDnsAddress(a)
            | IpcpOption::SecondaryNbnsAddress(a) => w.put_slice(&a.octets()),
            IpcpOption::Unknown(o) => w.put_slice(o.data),
        }
    }
}

open_enum! {
    /// IPv6CP option types (RFC 5072 §4).
    pub enum Ipv6cpOptionType: u8 {
        InterfaceIdentifier = 1,
        Ipv6CompressionProtocol = 2,
    }
}

/// An IPv6CP option, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6cpOption<'a> {
    /// RFC 5072 §4.1: the 64-bit interface identifier.
    InterfaceIdentifier([u8; 8]),
    /// RFC 5072 §4.2.
    Ipv6CompressionProtocol {
        protocol: u16,
        data: &'a [u8],
    },
    Unknown(OptionRepr<'a>),
}

impl<'a> Ipv6cpOption<'a> {
    pub fn parse(option: &OptionRepr<'a>) -> Result<Self> {
        let d = option.data;
        Ok(match Ipv6cpOptionType::from(option.option_type) {
            Ipv6cpOptionType::InterfaceIdentifier => Ipv6cpOption::InterfaceIdentifier(fixed(
                d,
                "Interface-Identifier option length is not 10",
            )?),
            Ipv6cpOptionType::Ipv6CompressionProtocol => {
                let (protocol, data) =
                    protocol_and_data(d, "IPv6-Compression-Protocol option shorter than 4")?;
                Ipv6cpOption::Ipv6CompressionProtocol { protocol, data }
            }
            Ipv6cpOptionType::Unknown(_) => Ipv6cpOption::Unknown(*option),
        })
    }
}

impl PppOption for Ipv6cpOption<'_> {
    fn option_type(&self) -> u8 {
        match self {
            Ipv6cpOption::InterfaceIdentifier(_) => Ipv6cpOptionType::InterfaceIdentifier,
            Ipv6cpOption::Ipv6CompressionProtocol { .. } => {
                Ipv6cpOptionType::Ipv6CompressionProtocol
            }
            Ipv6cpOption::Unknown(o) => return o.option_type,
        }
        .into()
    }

    fn data_len(&self) -> usize {
        match self {
            Ipv6cpOption::InterfaceIdentifier(_) => 8,
            Ipv6cpOption::Ipv6CompressionProtocol { data, .. } => 2 + data.len(),
            Ipv6cpOption::Unknown(o) => o.data.len(),
        }
    }

    fn emit_data(&self, data: &mut [u8]) {
        let mut w = Writer::new(data);
        match *self {
            Ipv6cpOption::InterfaceIdentifier(id) => w.put_slice(&id),
            Ipv6cpOption::Ipv6CompressionProtocol { protocol, data } => {
                w.put_u16(protocol);
                w.put_slice(data);
            }
            Ipv6cpOption::Unknown(o) => w.put_slice(o.data),
        }
    }
}

open_enum! {
    /// CCP option types: compression algorithms (RFC 1962 §4, IANA "PPP Compression
    /// Control Protocol Option Types").
    pub enum CcpOptionType: u8 {
        Oui = 0,
        Predictor1 = 1,
        Predictor2 = 2,
        Puddle = 3,
        HewlettPackardPpc = 16,
        StacLzs = 17,
        /// RFC 3078 §2: Microsoft Point-to-Point Compression / Encryption.
        MicrosoftPpc = 18,
        Gandalf = 19,
        V42bis = 20,
        BsdCompress = 21,
        LzsDcp = 23,
        Magnalink = 24,
        Deflate = 26,
    }
}

/// The 32-bit Supported Bits of the MPPE/MPPC option (RFC 3078 §2), most significant
/// octet first on the wire. Unknown bits are kept so that a Nak or Reject can echo
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MppeSupportedBits(pub u32);

impl MppeSupportedBits {
    /// C: MPPC compression (RFC 2118).
    pub const MPPC: u32 = 0x0000_0001;
    /// D: obsolete, meaning unknown (RFC 3078 §2); never set it.
    pub const OBSOLETE_D: u32 = 0x0000_0010;
    /// L: 40-bit keys.
    pub const KEY_40: u32 = 0x0000_0020;
    /// S: 128-bit keys.
    pub const KEY_128: u32 = 0x0000_0040;
    /// M: 56-bit keys (RFC 3079 §3.4).
    pub const KEY_56: u32 = 0x0000_0080;
    /// H: stateless mode (key change on every packet, RFC 3078 §3.1).
    pub const STATELESS: u32 = 0x0100_0000;

    pub const fn contains(self, bits: u32) -> bool {
        self.0 & bits == bits
    }
    pub const fn with(self, bits: u32) -> Self {
        MppeSupportedBits(self.0 | bits)
    }
    pub const fn without(self, bits: u32) -> Self {
        MppeSupportedBits(self.0 & !bits)
    }
    pub const fn stateless(self) -> bool {
        self.contains(Self::STATELESS)
    }
    pub const fn key_40(self) -> bool {
        self.contains(Self::KEY_40)
    }
    pub const fn key_56(self) -> bool {
        self.contains(Self::KEY_56)
    }
    pub const fn key_128(self) -> bool {
        self.contains(Self::KEY_128)
    }
    pub const fn mppc(self) -> bool {
        self.contains(Self::MPPC)
    }
}

/// A CCP option, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CcpOption<'a> {
    /// Type 18, length 6 (RFC 3078 §2).
    Mppe(MppeSupportedBits),
    /// Any other compression type, with its raw data.
    Unknown(OptionRepr<'a>),
}

impl<'a> CcpOption<'a> {
    pub fn parse(option: &OptionRepr<'a>) -> Result<Self> {
        Ok(match CcpOptionType::from(option.option_type) {
            CcpOptionType::MicrosoftPpc => CcpOption::Mppe(MppeSupportedBits(u32::from_be_bytes(
                fixed(option.data, "MPPE option length is not 6")?,
            ))),
            _ => CcpOption::Unknown(*option),
        })
    }
}

impl PppOption for CcpOption<'_> {
    fn option_type(&self) -> u8 {
        match self {
            CcpOption::Mppe(_) => CcpOptionType::MicrosoftPpc.into(),
            CcpOption::Unknown(o) => o.option_type,
        }
    }

    fn data_len(&self) -> usize {
        match self {
            CcpOption::Mppe(_) => 4,
            CcpOption::Unknown(o) => o.data.len(),
        }
    }

    fn emit_data(&self, data: &mut [u8]) {
        match self {
            CcpOption::Mppe(bits) => data.copy_from_slice(&bits.0.to_be_bytes()),
            CcpOption::Unknown(o) => data.copy_from_slice(o.data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_util::{assert_truncations_do_not_panic, assert_truncations_rejected};

    // Data of an LCP Configure-Request as Windows sends it to an LNS that asks for
    // MS-CHAPv2: MRU 1400, Auth CHAP/0x81, Magic 0x1234abcd, PFC, ACFC.
    static LCP_REQUEST: [u8; 23] = [
        0x01, 0x04, 0x05, 0x78, // MRU 1400
        0x03, 0x05, 0xc2, 0x23, 0x81, // CHAP, MS-CHAPv2
        0x05, 0x06, 0x12, 0x34, 0xab, 0xcd, // Magic-Number
        0x07, 0x02, // PFC
        0x08, 0x02, // ACFC
        0x11, 0x04, 0x05, 0xd4, // MRRU 1492
    ];
    static LCP_MISC: [u8; 24] = [
        0x02, 0x06, 0x00, 0x0a, 0x00, 0x00, // ACCM 0x000a0000
        0x03, 0x04, 0xc0, 0x23, // PAP
        0x04, 0x08, 0xc0, 0x25, 0x00, 0x00, 0x00, 0x0a, // LQR, period 10
        0x0d, 0x03, 0x06, // Callback, operation 6
        0x63, 0x03, 0x99, // unknown type 99
    ];
    static LCP_ENDPOINT: [u8; 9] = [0x13, 0x09, 0x03, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
    // IPCP Configure-Request: IP-Address 0.0.0.0, Primary DNS 0.0.0.0, Secondary DNS
    // 10.0.0.2, VJ compression (max slot 15, comp slot 1), NBNS 10.0.0.3/4.
    static IPCP_REQUEST: [u8; 36] = [
        0x03, 0x06, 0x00, 0x00, 0x00, 0x00, //
        0x81, 0x06, 0x00, 0x00, 0x00, 0x00, //
        0x83, 0x06, 0x0a, 0x00, 0x00, 0x02, //
        0x02, 0x06, 0x00, 0x2d, 0x0f, 0x01, //
        0x82, 0x06, 0x0a, 0x00, 0x00, 0x03, //
        0x84, 0x06, 0x0a, 0x00, 0x00, 0x04, //
    ];
    static IPCP_ADDRESSES: [u8; 10] = [0x01, 0x0a, 192, 0, 2, 1, 192, 0, 2, 2];
    static IPV6CP_REQUEST: [u8; 10] = [0x01, 0x0a, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55];
    // CCP: MPPE 128-bit stateless, then Deflate (window 15, method 8, check 0).
    static CCP_REQUEST: [u8; 10] = [0x12, 0x06, 0x01, 0x00, 0x00, 0x40, 0x1a, 0x04, 0x78, 0x00];

    fn raw(bytes: &[u8]) -> Vec<OptionRepr<'_>> {
        Options::new(bytes).collect::<Result<Vec<_>>>().unwrap()
    }

    #[test]
    fn deconstruct() {
        let opts = raw(&LCP_REQUEST);
        assert_eq!(opts.len(), 6);
        assert_eq!(
            opts[0],
            OptionRepr {
                option_type: 1,
                data: &[0x05, 0x78]
            }
        );
        assert_eq!(opts[1].option_type, 3);
        assert_eq!(opts[1].data, &[0xc2, 0x23, 0x81]);
        assert_eq!(opts[3].data, &[] as &[u8]);
        assert_eq!(opts[5].option_type, 17);
        assert!(Options::new(&[]).next().is_none());
    }

    #[test]
    fn construct() {
        let opts = raw(&CCP_REQUEST);
        let mut buf = vec![0u8; options_len(&opts)];
        assert_eq!(emit_options(&opts, &mut buf), CCP_REQUEST.len());
        assert_eq!(buf, CCP_REQUEST);
    }

    #[test]
    fn check_len() {
        // Length 1 and 0 are below the header.
        let mut it = Options::new(&[0x07, 0x01, 0x08, 0x02]);
        assert_eq!(it.next(), Some(Err(Error::BadLength(Layer::PppOption))));
        assert_eq!(it.next(), None);
        assert_eq!(
            Options::check(&[0x07, 0x00]),
            Err(Error::BadLength(Layer::PppOption))
        );
        // Length past the end of the list.
        assert_eq!(
            Options::check(&[0x07, 0x02, 0x01, 0x04, 0x05]),
            Err(Error::Truncated(Layer::PppOption))
        );
        // A lone type octet.
        assert_eq!(
            Options::check(&[0x07]),
            Err(Error::Truncated(Layer::PppOption))
        );
        assert_eq!(Options::check(&LCP_REQUEST), Ok(()));
        // Known types with the wrong size.
        for (t, data) in [
            (1u8, &[0x05][..]),
            (2, &[0, 0, 0]),
            (3, &[0xc0]),
            (4, &[]),
            (5, &[1, 2, 3, 4, 5]),
            (7, &[0]),
            (8, &[0]),
            (13, &[]),
            (17, &[1, 2, 3]),
            (19, &[]),
        ] {
            let o = OptionRepr {
                option_type: t,
                data,
            };
            assert!(
                matches!(
                    LcpOption::parse(&o),
                    Err(Error::Malformed(Layer::PppOption, _))
                ),
                "LCP type {t}"
            );
        }
        for t in [1u8, 2, 3, 129, 130, 131, 132] {
            let o = OptionRepr {
                option_type: t,
                data: &[0],
            };
            assert!(IpcpOption::parse(&o).is_err(), "IPCP type {t}");
        }
        let o = OptionRepr {
            option_type: 1,
            data: &[0; 7],
        };
        assert!(Ipv6cpOption::parse(&o).is_err());
        let o = OptionRepr {
            option_type: 18,
            data: &[0; 5],
        };
        assert!(CcpOption::parse(&o).is_err());
    }

    #[test]
    fn parse() {
        let lcp: Vec<_> = raw(&LCP_REQUEST)
            .iter()
            .map(|o| LcpOption::parse(o).unwrap())
            .collect();
        assert_eq!(
            lcp,
            [
                LcpOption::MaximumReceiveUnit(1400),
                LcpOption::AuthenticationProtocol(AuthenticationProtocol::Chap(
                    ChapAlgorithm::MsChapV2
                )),
                LcpOption::MagicNumber(0x1234abcd),
                LcpOption::ProtocolFieldCompression,
                LcpOption::AddressControlFieldCompression,
                LcpOption::MaximumReceivedReconstructedUnit(1492),
            ]
        );
        let lcp: Vec<_> = raw(&LCP_MISC)
            .iter()
            .map(|o| LcpOption::parse(o).unwrap())
            .collect();
        assert_eq!(
            lcp,
            [
                LcpOption::AsyncControlCharacterMap(0x000a0000),
                LcpOption::AuthenticationProtocol(AuthenticationProtocol::Pap),
                LcpOption::QualityProtocol {
                    protocol: Protocol::Lqr,
                    data: &[0, 0, 0, 0x0a]
                },
                LcpOption::Callback {
                    operation: 6,
                    message: &[]
                },
                LcpOption::Unknown(OptionRepr {
                    option_type: 0x63,
                    data: &[0x99]
                }),
            ]
        );
        assert_eq!(
            LcpOption::parse(&raw(&LCP_ENDPOINT)[0]).unwrap(),
            LcpOption::EndpointDiscriminator {
                class: 3,
                address: &[0x00, 0x11, 0x22, 0x33, 0x44, 0x55]
            }
        );
        // PAP with data and CHAP without an algorithm stay representable.
        let o = OptionRepr {
            option_type: 3,
            data: &[0xc0, 0x23, 0x01],
        };
        assert_eq!(
            LcpOption::parse(&o).unwrap(),
            LcpOption::AuthenticationProtocol(AuthenticationProtocol::Other {
                protocol: Protocol::Pap,
                data: &[0x01]
            })
        );

        let ipcp: Vec<_> = raw(&IPCP_REQUEST)
            .iter()
            .map(|o| IpcpOption::parse(o).unwrap())
            .collect();
        assert_eq!(
            ipcp,
            [
                IpcpOption::IpAddress(Ipv4Addr::UNSPECIFIED),
                IpcpOption::PrimaryDnsAddress(Ipv4Addr::UNSPECIFIED),
                IpcpOption::SecondaryDnsAddress(Ipv4Addr::new(10, 0, 0, 2)),
                IpcpOption::IpCompressionProtocol {
                    protocol: 0x002d,
                    data: &[0x0f, 0x01]
                },
                IpcpOption::PrimaryNbnsAddress(Ipv4Addr::new(10, 0, 0, 3)),
                IpcpOption::SecondaryNbnsAddress(Ipv4Addr::new(10, 0, 0, 4)),
            ]
        );
        assert_eq!(
            IpcpOption::parse(&raw(&IPCP_ADDRESSES)[0]).unwrap(),
            IpcpOption::IpAddresses {
                source: Ipv4Addr::new(192, 0, 2, 1),
                destination: Ipv4Addr::new(192, 0, 2, 2)
            }
        );

        assert_eq!(
            Ipv6cpOption::parse(&raw(&IPV6CP_REQUEST)[0]).unwrap(),
            Ipv6cpOption::InterfaceIdentifier([0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55])
        );

        let ccp: Vec<_> = raw(&CCP_REQUEST)
            .iter()
            .map(|o| CcpOption::parse(o).unwrap())
            .collect();
        let CcpOption::Mppe(bits) = ccp[0] else {
            panic!("not MPPE: {:?}", ccp[0])
        };
        assert!(bits.stateless() && bits.key_128());
        assert!(!bits.key_40() && !bits.key_56() && !bits.mppc());
        assert!(!bits.contains(MppeSupportedBits::OBSOLETE_D));
        assert_eq!(
            ccp[1],
            CcpOption::Unknown(OptionRepr {
                option_type: 26,
                data: &[0x78, 0x00]
            })
        );
    }

    #[test]
    fn emit() {
        fn check<O: PppOption>(opts: &[O], expected: &[u8]) {
            let mut buf = vec![0u8; options_len(opts)];
            assert_eq!(emit_options(opts, &mut buf), expected.len());
            assert_eq!(buf, expected);
        }
        check(
            &[
                LcpOption::MaximumReceiveUnit(1400),
                LcpOption::AuthenticationProtocol(AuthenticationProtocol::Chap(
                    ChapAlgorithm::MsChapV2,
                )),
                LcpOption::MagicNumber(0x1234abcd),
                LcpOption::ProtocolFieldCompression,
                LcpOption::AddressControlFieldCompression,
                LcpOption::MaximumReceivedReconstructedUnit(1492),
            ],
            &LCP_REQUEST,
        );
        check(
            &[
                LcpOption::AsyncControlCharacterMap(0x000a0000),
                LcpOption::AuthenticationProtocol(AuthenticationProtocol::Pap),
                LcpOption::QualityProtocol {
                    protocol: Protocol::Lqr,
                    data: &[0, 0, 0, 0x0a],
                },
                LcpOption::Callback {
                    operation: 6,
                    message: &[],
                },
                LcpOption::Unknown(OptionRepr {
                    option_type: 0x63,
                    data: &[0x99],
                }),
            ],
            &LCP_MISC,
        );
        check(
            &[LcpOption::EndpointDiscriminator {
                class: 3,
                address: &[0x00, 0x11, 0x22, 0x33, 0x44, 0x55],
            }],
            &LCP_ENDPOINT,
        );
        check(
            &[
                IpcpOption::IpAddress(Ipv4Addr::UNSPECIFIED),
                IpcpOption::PrimaryDnsAddress(Ipv4Addr::UNSPECIFIED),
                IpcpOption::SecondaryDnsAddress(Ipv4Addr::new(10, 0, 0, 2)),
                IpcpOption::IpCompressionProtocol {
                    protocol: 0x002d,
                    data: &[0x0f, 0x01],
                },
                IpcpOption::PrimaryNbnsAddress(Ipv4Addr::new(10, 0, 0, 3)),
                IpcpOption::SecondaryNbnsAddress(Ipv4Addr::new(10, 0, 0, 4)),
            ],
            &IPCP_REQUEST,
        );
        check(
            &[IpcpOption::IpAddresses {
                source: Ipv4Addr::new(192, 0, 2, 1),
                destination: Ipv4Addr::new(192, 0, 2, 2),
            }],
            &IPCP_ADDRESSES,
        );
        check(
            &[Ipv6cpOption::InterfaceIdentifier([
                0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55,
            ])],
            &IPV6CP_REQUEST,
        );
        check(
            &[
                CcpOption::Mppe(
                    MppeSupportedBits::default()
                        .with(MppeSupportedBits::STATELESS)
                        .with(MppeSupportedBits::KEY_128),
                ),
                CcpOption::Unknown(OptionRepr {
                    option_type: 26,
                    data: &[0x78, 0x00],
                }),
            ],
            &CCP_REQUEST,
        );
    }

    #[test]
    fn buffer_len() {
        assert_eq!(LcpOption::ProtocolFieldCompression.buffer_len(), 2);
        assert_eq!(LcpOption::MaximumReceiveUnit(0).buffer_len(), 4);
        assert_eq!(
            LcpOption::AuthenticationProtocol(AuthenticationProtocol::Chap(ChapAlgorithm::Md5))
                .buffer_len(),
            5
        );
        assert_eq!(IpcpOption::IpAddress(Ipv4Addr::LOCALHOST).buffer_len(), 6);
        assert_eq!(Ipv6cpOption::InterfaceIdentifier([0; 8]).buffer_len(), 10);
        assert_eq!(CcpOption::Mppe(MppeSupportedBits(0)).buffer_len(), 6);
        let opts = raw(&IPCP_REQUEST);
        assert_eq!(options_len(&opts), IPCP_REQUEST.len());
    }

    #[test]
    fn truncations() {
        for list in [
            &LCP_REQUEST[..],
            &LCP_MISC,
            &IPCP_REQUEST,
            &IPV6CP_REQUEST,
            &CCP_REQUEST,
        ] {
            // A list cut at an option boundary is a valid shorter list.
            assert_truncations_do_not_panic(list, |b| Options::check(b));
            // Every single option, cut anywhere, is rejected.
            for o in raw(list) {
                let mut buf = vec![0u8; o.buffer_len()];
                o.emit(&mut buf);
                assert_truncations_rejected(&buf, |b| {
                    Options::new(b)
                        .next()
                        .unwrap_or(Err(Error::Truncated(Layer::PppOption)))
                        .map(|_| ())
                });
            }
        }
    }

    #[test]
    fn option_types() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(LcpOptionType::from(v)), v);
            assert_eq!(u8::from(IpcpOptionType::from(v)), v);
            assert_eq!(u8::from(Ipv6cpOptionType::from(v)), v);
            assert_eq!(u8::from(CcpOptionType::from(v)), v);
            assert_eq!(u8::from(ChapAlgorithm::from(v)), v);
        }
        assert_eq!(ChapAlgorithm::from(0x81), ChapAlgorithm::MsChapV2);
        assert_eq!(CcpOptionType::from(18), CcpOptionType::MicrosoftPpc);
    }
}

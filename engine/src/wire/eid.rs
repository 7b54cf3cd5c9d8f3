//! Endpoint IDs (RFC 9171 §4.2.5.1): the `dtn` and `ipn` URI schemes, as text and as CBOR.
//!
//! Text forms: `dtn:none` (the null endpoint), `dtn://node/demux`, `ipn:NODE.SERVICE` and the
//! RFC 9758 form with an allocator identifier, `ipn:ALLOCATOR.NODE.SERVICE`.
//! CBOR forms: `[1, 0]` for `dtn:none`, `[1, "//node/demux"]`, `[2, [node, service]]` and
//! `[2, [allocator, node, service]]` (RFC 9758 §6).
//!
//! Following RFC 9758 §3.4.1, `ipn:0.0` is the null endpoint too: it decodes and parses to
//! [`Eid::Null`]; other `ipn:0.N` stay `ipn` EIDs (the node layer treats them as null where it
//! matters, for the report-to EID).
//!
//! The three-element form names its allocator; allocator 0 is the default allocator, and such
//! an EID is the same endpoint as the two-element form, so it decodes (and `ipn:0.N.S` parses)
//! to [`Eid::Ipn`]. A non-zero allocator gives [`Eid::IpnAlloc`]. RFC 9758 gives allocator
//! identifiers and node numbers 32 bits (the two-element form packs both into its first
//! number, the fully qualified node number); three-element forms with a larger allocator or
//! node number are refused. Two-element forms keep the 64-bit node number of RFC 9171
//! §4.2.5.1.2 as they are; [`Eid::ipn_parts`] gives the RFC 9758 reading of either form.
//!
//! No I/O, never panics.

use std::fmt;
use std::str::FromStr;

use super::cbor::{self, Reader};

/// URI scheme code of `dtn` (RFC 9171 §9.7).
pub const SCHEME_DTN: u64 = 1;
/// URI scheme code of `ipn` (RFC 9171 §9.7).
pub const SCHEME_IPN: u64 = 2;

/// Largest allocator identifier and node number of the three-element `ipn` form: RFC 9758
/// gives both 32 bits, so that the two-element form can pack them into one 64-bit number.
pub const IPN_COMPONENT_MAX: u64 = u32::MAX as u64;

/// A bundle endpoint ID.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Eid {
    /// The null endpoint `dtn:none`, which has no members (also written `ipn:0.0`).
    Null,
    /// An `ipn` EID in the two-element form (RFC 9171 §4.2.5.1.2; RFC 9758 allocator 0):
    /// node number and service number. `Eid::ipn(0, 0)` is written as given but reads back
    /// (from text or CBOR) as [`Eid::Null`].
    Ipn {
        /// Node number.
        node: u64,
        /// Service number; 0 names the node's administrative endpoint.
        service: u64,
    },
    /// An `ipn` EID with a non-zero allocator identifier, in the three-element form of
    /// RFC 9758 §6 (`ipn:A.N.S`, CBOR `[2, [A, N, S]]`). Decoding and [`Eid::ipn3`] never
    /// give allocator 0 here (that is [`Eid::Ipn`]); one built by hand with allocator 0 is
    /// written as given and reads back as [`Eid::Ipn`].
    IpnAlloc {
        /// Allocator identifier (RFC 9758 §3.2), at most [`IPN_COMPONENT_MAX`] on the wire.
        allocator: u64,
        /// Node number within the allocator's space, at most [`IPN_COMPONENT_MAX`].
        node: u64,
        /// Service number.
        service: u64,
    },
    /// A `dtn` EID other than `dtn:none`: the scheme-specific part without `dtn:`, for
    /// example `//node/svc`.
    Dtn(String),
}

impl Eid {
    /// The `ipn:node.service` EID.
    pub const fn ipn(node: u64, service: u64) -> Eid {
        Eid::Ipn { node, service }
    }

    /// The `ipn` EID with allocator identifier `allocator` (RFC 9758): [`Eid::IpnAlloc`] for a
    /// non-zero allocator; for allocator 0 the same value decoding gives, [`Eid::Ipn`] (or
    /// [`Eid::Null`] for `ipn:0.0.0`).
    pub const fn ipn3(allocator: u64, node: u64, service: u64) -> Eid {
        match (allocator, node, service) {
            (0, 0, 0) => Eid::Null,
            (0, node, service) => Eid::Ipn { node, service },
            (allocator, node, service) => Eid::IpnAlloc {
                allocator,
                node,
                service,
            },
        }
    }

    /// The RFC 9758 reading of an `ipn` EID: (allocator, node, service). The two-element form's
    /// first number is the fully qualified node number, the allocator in its upper 32 bits
    /// (RFC 9758 §3.3.1), so `ipn:4294967297.5` and `ipn:1.1.5` give the same parts. `None`
    /// for the null endpoint and `dtn` EIDs.
    pub const fn ipn_parts(&self) -> Option<(u64, u64, u64)> {
        match *self {
            Eid::Ipn { node, service } => Some((node >> 32, node & IPN_COMPONENT_MAX, service)),
            Eid::IpnAlloc {
                allocator,
                node,
                service,
            } => Some((allocator, node, service)),
            Eid::Null | Eid::Dtn(_) => None,
        }
    }

    /// Whether this is the null endpoint.
    pub fn is_null(&self) -> bool {
        matches!(self, Eid::Null)
    }

    /// Appends the CBOR encoding (RFC 9171 §4.2.5.1).
    pub fn write_cbor(&self, out: &mut Vec<u8>) {
        cbor::write_array(out, 2);
        match self {
            Eid::Null => {
                cbor::write_uint(out, SCHEME_DTN);
                cbor::write_uint(out, 0);
            }
            Eid::Ipn { node, service } => {
                cbor::write_uint(out, SCHEME_IPN);
                cbor::write_array(out, 2);
                cbor::write_uint(out, *node);
                cbor::write_uint(out, *service);
            }
            Eid::IpnAlloc {
                allocator,
                node,
                service,
            } => {
                cbor::write_uint(out, SCHEME_IPN);
                cbor::write_array(out, 3);
                cbor::write_uint(out, *allocator);
                cbor::write_uint(out, *node);
                cbor::write_uint(out, *service);
            }
            Eid::Dtn(ssp) => {
                cbor::write_uint(out, SCHEME_DTN);
                cbor::write_text(out, ssp);
            }
        }
    }

    /// Length of the CBOR encoding that [`Eid::write_cbor`] appends.
    pub fn cbor_len(&self) -> usize {
        1 + match self {
            Eid::Null => 2,
            Eid::Ipn { node, service } => 2 + cbor::uint_len(*node) + cbor::uint_len(*service),
            Eid::IpnAlloc {
                allocator,
                node,
                service,
            } => 2 + cbor::uint_len(*allocator) + cbor::uint_len(*node) + cbor::uint_len(*service),
            Eid::Dtn(ssp) => 1 + cbor::string_len(ssp.len()),
        }
    }

    /// Reads one EID from `r`. Definite and indefinite-length arrays are both accepted, as
    /// RFC 9171 §4.1 allows.
    ///
    /// # Errors
    /// A [`DecodeError`] naming what is wrong; [`DecodeError::Cbor`] for malformed CBOR.
    pub fn read_cbor(r: &mut Reader<'_>) -> Result<Eid, DecodeError> {
        let mut items = r.array()?;
        if !items.next(r)? {
            return Err(DecodeError::Arity);
        }
        let scheme = r.uint()?;
        if !items.next(r)? {
            return Err(DecodeError::Arity);
        }
        let eid = match scheme {
            SCHEME_DTN => match r.peek().map(|b| b >> 5) {
                Some(cbor::MAJOR_UNSIGNED) => match r.uint()? {
                    0 => Eid::Null,
                    v => return Err(DecodeError::DtnInteger(v)),
                },
                _ => {
                    let ssp = r.text()?;
                    check_dtn_ssp(ssp).map_err(DecodeError::Dtn)?;
                    Eid::Dtn(ssp.to_owned())
                }
            },
            SCHEME_IPN => {
                let mut parts = r.array()?;
                let mut nums = [0u64; 3];
                let mut count = 0usize;
                while parts.next(r)? {
                    let v = r.uint()?;
                    *nums.get_mut(count).ok_or(DecodeError::IpnArity)? = v;
                    count += 1;
                }
                match (count, nums) {
                    (2, [0, 0, _]) => Eid::Null,
                    (2, [node, service, _]) => Eid::Ipn { node, service },
                    (3, [allocator, node, service]) => {
                        if allocator > IPN_COMPONENT_MAX || node > IPN_COMPONENT_MAX {
                            return Err(DecodeError::IpnComponentRange);
                        }
                        Eid::ipn3(allocator, node, service)
                    }
                    _ => return Err(DecodeError::IpnArity),
                }
            }
            other => {
                // Skipping first tells a malformed SSP from a well-formed unsupported one.
                r.skip_item()?;
                return Err(DecodeError::UnknownScheme(other));
            }
        };
        if items.next(r)? {
            return Err(DecodeError::Arity);
        }
        Ok(eid)
    }
}

impl fmt::Display for Eid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Eid::Null => f.write_str("dtn:none"),
            Eid::Ipn { node, service } => write!(f, "ipn:{node}.{service}"),
            Eid::IpnAlloc {
                allocator,
                node,
                service,
            } => write!(f, "ipn:{allocator}.{node}.{service}"),
            Eid::Dtn(ssp) => write!(f, "dtn:{ssp}"),
        }
    }
}

/// Checks a `dtn` scheme-specific part against RFC 9171 §4.2.5.1.1:
/// `"//" node-name "/" demux`, a non-empty node name, and only visible US-ASCII characters.
fn check_dtn_ssp(ssp: &str) -> Result<(), &'static str> {
    let rest = ssp
        .strip_prefix("//")
        .ok_or("scheme-specific part must start with \"//\"")?;
    let (node, _demux) = rest
        .split_once('/')
        .ok_or("missing \"/\" after the node name")?;
    if node.is_empty() {
        return Err("empty node name");
    }
    if !ssp.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("characters other than visible US-ASCII");
    }
    Ok(())
}

/// Why an EID's CBOR encoding was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Malformed CBOR, or an item of the wrong type.
    Cbor(cbor::Error),
    /// The EID array does not have exactly two items (RFC 9171 §4.2.5.1).
    Arity,
    /// A scheme code other than 1 (`dtn`) and 2 (`ipn`).
    UnknownScheme(u64),
    /// A `dtn` SSP encoded as an integer other than 0 (RFC 9171 §4.2.5.1.1).
    DtnInteger(u64),
    /// A `dtn` SSP that breaks the scheme syntax.
    Dtn(&'static str),
    /// A three-element `ipn` SSP whose allocator identifier or node number does not fit
    /// 32 bits (RFC 9758 §3.2, §3.3).
    IpnComponentRange,
    /// An `ipn` SSP array with other than two or three items (RFC 9171 §4.2.5.1.2,
    /// RFC 9758 §6).
    IpnArity,
}

impl From<cbor::Error> for DecodeError {
    fn from(e: cbor::Error) -> Self {
        DecodeError::Cbor(e)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Cbor(e) => write!(f, "{e}"),
            DecodeError::Arity => {
                f.write_str("EID is not an array of two items (RFC 9171 §4.2.5.1)")
            }
            DecodeError::UnknownScheme(s) => write!(
                f,
                "unsupported EID URI scheme code {s}, only dtn (1) and ipn (2) (RFC 9171 §4.2.5.1)"
            ),
            DecodeError::DtnInteger(v) => write!(
                f,
                "dtn SSP integer {v}, only 0 (dtn:none) is defined (RFC 9171 §4.2.5.1.1)"
            ),
            DecodeError::Dtn(why) => write!(f, "invalid dtn EID: {why} (RFC 9171 §4.2.5.1.1)"),
            DecodeError::IpnComponentRange => f.write_str(
                "three-element ipn EID with an allocator identifier or node number above 2^32 - 1 (RFC 9758 §3.2, §3.3)",
            ),
            DecodeError::IpnArity => f.write_str(
                "ipn SSP is not an array of two or three integers (RFC 9171 §4.2.5.1.2, RFC 9758 §6)",
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why an EID string was refused by [`Eid::from_str`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// No `dtn:` or `ipn:` prefix.
    UnknownScheme,
    /// An `ipn` EID that is not `ipn:NODE.SERVICE` or `ipn:ALLOCATOR.NODE.SERVICE` with
    /// decimal numbers that fit 64 bits.
    InvalidIpn,
    /// An `ipn:ALLOCATOR.NODE.SERVICE` EID whose allocator identifier or node number does
    /// not fit 32 bits (RFC 9758 §3.2, §3.3).
    IpnComponentRange,
    /// A `dtn` EID that breaks the scheme syntax; the text says which rule.
    InvalidDtn(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnknownScheme => {
                f.write_str("EID must start with \"dtn:\" or \"ipn:\" (RFC 9171 §4.2.5.1)")
            }
            ParseError::InvalidIpn => f.write_str(
                "ipn EID must be ipn:NODE.SERVICE or ipn:ALLOCATOR.NODE.SERVICE with 64-bit decimal numbers (RFC 9171 §4.2.5.1.2, RFC 9758 §4)",
            ),
            ParseError::IpnComponentRange => f.write_str(
                "ipn:ALLOCATOR.NODE.SERVICE with an allocator identifier or node number above 2^32 - 1 (RFC 9758 §3.2, §3.3)",
            ),
            ParseError::InvalidDtn(why) => {
                write!(f, "invalid dtn EID: {why} (RFC 9171 §4.2.5.1.1)")
            }
        }
    }
}

impl std::error::Error for ParseError {}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl FromStr for Eid {
    type Err = ParseError;

    /// Parses `dtn:none`, `dtn://node/demux`, `ipn:NODE.SERVICE` and
    /// `ipn:ALLOCATOR.NODE.SERVICE`; `ipn:0.0` and `ipn:0.0.0` give [`Eid::Null`], and
    /// `ipn:0.N.S` gives `ipn:N.S`.
    fn from_str(s: &str) -> Result<Eid, ParseError> {
        if let Some(ssp) = s.strip_prefix("ipn:") {
            let mut parts = ssp.split('.');
            let nums: Vec<Option<u64>> = parts.by_ref().take(4).map(parse_decimal).collect();
            return match nums.as_slice() {
                [Some(0), Some(0)] => Ok(Eid::Null),
                [Some(node), Some(service)] => Ok(Eid::ipn(*node, *service)),
                [Some(a), Some(n), Some(_)] if *a > IPN_COMPONENT_MAX || *n > IPN_COMPONENT_MAX => {
                    Err(ParseError::IpnComponentRange)
                }
                [Some(a), Some(n), Some(s)] => Ok(Eid::ipn3(*a, *n, *s)),
                _ => Err(ParseError::InvalidIpn),
            };
        }
        if let Some(ssp) = s.strip_prefix("dtn:") {
            if ssp == "none" {
                return Ok(Eid::Null);
            }
            check_dtn_ssp(ssp).map_err(ParseError::InvalidDtn)?;
            return Ok(Eid::Dtn(ssp.to_owned()));
        }
        Err(ParseError::UnknownScheme)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Result<Eid, DecodeError> {
        let mut r = Reader::new(bytes);
        let eid = Eid::read_cbor(&mut r)?;
        assert_eq!(r.remaining(), 0, "decoder left bytes");
        Ok(eid)
    }

    fn round_trip(eid: &Eid) {
        let mut out = Vec::new();
        eid.write_cbor(&mut out);
        assert_eq!(out.len(), eid.cbor_len(), "{eid}");
        assert_eq!(decode(&out).as_ref(), Ok(eid));
        assert_eq!(eid.to_string().parse::<Eid>().as_ref(), Ok(eid));
    }

    #[test]
    fn cbor_forms() {
        let mut out = Vec::new();
        Eid::Null.write_cbor(&mut out);
        assert_eq!(out, [0x82, 0x01, 0x00]);
        out.clear();
        Eid::ipn(1, 2).write_cbor(&mut out);
        assert_eq!(out, [0x82, 0x02, 0x82, 0x01, 0x02]);
        out.clear();
        Eid::Dtn("//a/b".into()).write_cbor(&mut out);
        assert_eq!(out, b"\x82\x01\x65//a/b");
    }

    #[test]
    fn round_trips() {
        for eid in [
            Eid::Null,
            Eid::ipn(1, 0),
            Eid::ipn(0, 7),
            Eid::ipn(u64::MAX, u64::MAX),
            Eid::ipn(23, 24),
            Eid::ipn(65_536, 4_294_967_296),
            Eid::ipn3(1, 2, 3),
            Eid::ipn3(977_000, 100, 1),
            Eid::ipn3(IPN_COMPONENT_MAX, IPN_COMPONENT_MAX, u64::MAX),
            Eid::ipn3(7, 0, 0),
            Eid::Dtn("//node/".into()),
            Eid::Dtn("//node/svc/sub~x".into()),
            Eid::Dtn("//n/~group".into()),
            Eid::Dtn(format!("//{}/", "x".repeat(300))),
        ] {
            round_trip(&eid);
        }
    }

    #[test]
    fn text_forms() {
        assert_eq!(Eid::Null.to_string(), "dtn:none");
        assert_eq!(Eid::ipn(3, 4).to_string(), "ipn:3.4");
        assert_eq!(Eid::Dtn("//n/s".into()).to_string(), "dtn://n/s");
        assert_eq!("ipn:0.0".parse(), Ok(Eid::Null));
        assert_eq!("dtn:none".parse(), Ok(Eid::Null));
        assert_eq!("ipn:0.5".parse(), Ok(Eid::ipn(0, 5)));
        assert_eq!(
            "ipn:18446744073709551615.1".parse(),
            Ok(Eid::ipn(u64::MAX, 1))
        );
        assert!(Eid::Null.is_null() && !Eid::ipn(0, 1).is_null());
    }

    #[test]
    fn three_element_ipn_forms() {
        // RFC 9758: a non-zero allocator is its own variant, in text and in CBOR.
        let e = Eid::ipn3(977_000, 100, 1);
        assert_eq!(
            e,
            Eid::IpnAlloc {
                allocator: 977_000,
                node: 100,
                service: 1
            }
        );
        assert_eq!(e.to_string(), "ipn:977000.100.1");
        assert_eq!("ipn:977000.100.1".parse(), Ok(e.clone()));
        let mut out = Vec::new();
        e.write_cbor(&mut out);
        assert_eq!(
            out,
            [
                0x82, 0x02, 0x83, 0x1a, 0x00, 0x0e, 0xe8, 0x68, 0x18, 0x64, 0x01
            ]
        );
        assert_eq!(decode(&out), Ok(e.clone()));
        // Allocator 0 is the default allocator: the same EID as the two-element form.
        assert_eq!(Eid::ipn3(0, 5, 6), Eid::ipn(5, 6));
        assert_eq!(Eid::ipn3(0, 0, 0), Eid::Null);
        assert_eq!(Eid::ipn3(0, 0, 6), Eid::ipn(0, 6));
        assert_eq!("ipn:0.5.6".parse(), Ok(Eid::ipn(5, 6)));
        assert_eq!("ipn:0.0.0".parse(), Ok(Eid::Null));
        assert_eq!("ipn:0.0.6".parse(), Ok(Eid::ipn(0, 6)));
        assert_eq!(
            decode(&[0x82, 0x02, 0x83, 0x00, 0x05, 0x06]),
            Ok(Eid::ipn(5, 6))
        );
        assert_eq!(decode(&[0x82, 0x02, 0x83, 0x00, 0x00, 0x00]), Ok(Eid::Null));
        assert_eq!(
            decode(&[0x82, 0x02, 0x83, 0x00, 0x00, 0x06]),
            Ok(Eid::ipn(0, 6))
        );
        assert_eq!(
            decode(&[0x82, 0x02, 0x9f, 0x01, 0x02, 0x03, 0xff]),
            Ok(Eid::ipn3(1, 2, 3))
        );
        // One built by hand with allocator 0 is written as given and reads back two-element.
        let hand = Eid::IpnAlloc {
            allocator: 0,
            node: 5,
            service: 6,
        };
        out.clear();
        hand.write_cbor(&mut out);
        assert_eq!(out.len(), hand.cbor_len());
        assert_eq!(decode(&out), Ok(Eid::ipn(5, 6)));
        // The RFC 9758 reading: the two-element form's node number is the fully qualified
        // node number, allocator in its upper 32 bits.
        assert_eq!(
            Eid::ipn(0x0000_0001_0000_0001, 5).ipn_parts(),
            Some((1, 1, 5))
        );
        assert_eq!(Eid::ipn3(1, 1, 5).ipn_parts(), Some((1, 1, 5)));
        assert_eq!(Eid::ipn(7, 8).ipn_parts(), Some((0, 7, 8)));
        assert_eq!(Eid::Null.ipn_parts(), None);
        assert_eq!(Eid::Dtn("//a/".into()).ipn_parts(), None);
        assert!(!Eid::ipn3(1, 0, 0).is_null());
    }

    #[test]
    fn text_rejections() {
        for (s, e) in [
            ("", ParseError::UnknownScheme),
            ("http://x", ParseError::UnknownScheme),
            ("ipn:1", ParseError::InvalidIpn),
            ("ipn:1.", ParseError::InvalidIpn),
            ("ipn:.1", ParseError::InvalidIpn),
            ("ipn:-1.2", ParseError::InvalidIpn),
            ("ipn:+1.2", ParseError::InvalidIpn),
            ("ipn:1.2.3.4", ParseError::InvalidIpn),
            ("ipn:18446744073709551616.1", ParseError::InvalidIpn),
            ("ipn:1.2.", ParseError::InvalidIpn),
            ("ipn:1..3", ParseError::InvalidIpn),
            ("ipn:4294967296.1.1", ParseError::IpnComponentRange),
            ("ipn:1.4294967296.1", ParseError::IpnComponentRange),
            ("ipn:0.4294967296.1", ParseError::IpnComponentRange),
            ("ipn:1.2.18446744073709551616", ParseError::InvalidIpn),
            (
                "dtn:",
                ParseError::InvalidDtn("scheme-specific part must start with \"//\""),
            ),
            (
                "dtn:node/svc",
                ParseError::InvalidDtn("scheme-specific part must start with \"//\""),
            ),
            (
                "dtn://node",
                ParseError::InvalidDtn("missing \"/\" after the node name"),
            ),
            ("dtn:///svc", ParseError::InvalidDtn("empty node name")),
            (
                "dtn://n/a b",
                ParseError::InvalidDtn("characters other than visible US-ASCII"),
            ),
            (
                "dtn://n/é",
                ParseError::InvalidDtn("characters other than visible US-ASCII"),
            ),
        ] {
            assert_eq!(s.parse::<Eid>(), Err(e.clone()), "{s:?}");
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn decoding_accepts_ipn_zero_and_indefinite_arrays() {
        assert_eq!(decode(&[0x82, 0x02, 0x82, 0x00, 0x00]), Ok(Eid::Null));
        assert_eq!(decode(&[0x82, 0x02, 0x82, 0x00, 0x01]), Ok(Eid::ipn(0, 1)));
        assert_eq!(
            decode(&[0x9f, 0x02, 0x9f, 0x05, 0x06, 0xff, 0xff]),
            Ok(Eid::ipn(5, 6))
        );
        // Non-shortest integers are still the same EID.
        assert_eq!(
            decode(&[0x82, 0x02, 0x82, 0x18, 0x05, 0x06]),
            Ok(Eid::ipn(5, 6))
        );
    }

    #[test]
    fn decoding_rejections() {
        use DecodeError as D;
        let cases: [(&[u8], DecodeError); 15] = [
            (&[0x82, 0x01, 0x01], D::DtnInteger(1)),
            (
                &[
                    0x82, 0x02, 0x83, 0x1a, 0x00, 0x01, 0x00, 0x00, 0x1b, 0, 0, 0, 1, 0, 0, 0, 0,
                    0x03,
                ],
                D::IpnComponentRange,
            ),
            (&[0x82, 0x02, 0x81, 0x01], D::IpnArity),
            (&[0x82, 0x02, 0x84, 0x01, 0x02, 0x03, 0x04], D::IpnArity),
            (
                &[0x82, 0x02, 0x9f, 0x01, 0x02, 0x03, 0x04, 0xff],
                D::IpnArity,
            ),
            (
                &[0x82, 0x02, 0x83, 0x01, 0x1b, 0, 0, 0, 1, 0, 0, 0, 0, 0x03],
                D::IpnComponentRange,
            ),
            (&[0x82, 0x03, 0x80], D::UnknownScheme(3)),
            (&[0x81, 0x01], D::Arity),
            (&[0x80], D::Arity),
            (&[0x83, 0x01, 0x00, 0x00], D::Arity),
            (
                b"\x82\x01\x64none",
                D::Dtn("scheme-specific part must start with \"//\""),
            ),
            (
                &[0x82, 0x01, 0x40],
                D::Cbor(cbor::Error::UnexpectedType {
                    expected: "text string",
                    found: 2,
                }),
            ),
            (
                &[0x82, 0x02, 0x82, 0x20, 0x01],
                D::Cbor(cbor::Error::UnexpectedType {
                    expected: "unsigned integer",
                    found: 1,
                }),
            ),
            (&[0x82, 0x02, 0x82, 0x01], D::Cbor(cbor::Error::Truncated)),
            (
                &[0x82, 0x01, 0x7a, 0xff, 0xff, 0xff, 0xff],
                D::Cbor(cbor::Error::LengthBeyondInput {
                    claimed: 0xffff_ffff,
                    available: 0,
                }),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(decode(bytes), Err(want), "{bytes:02x?}");
            assert!(!want.to_string().is_empty());
        }
    }

    #[test]
    fn unknown_scheme_with_deep_ssp_hits_the_depth_limit() {
        let mut bytes = vec![0x82, 0x09];
        bytes.extend(std::iter::repeat_n(0x81, cbor::MAX_DEPTH + 2));
        bytes.push(0x00);
        assert_eq!(
            decode(&bytes),
            Err(DecodeError::Cbor(cbor::Error::DepthLimit))
        );
    }

    #[test]
    fn decoding_never_panics_on_prefixes() {
        let mut out = Vec::new();
        Eid::Dtn("//some.node/svc".into()).write_cbor(&mut out);
        Eid::ipn(u64::MAX, 1).write_cbor(&mut out);
        for end in 0..out.len() {
            let mut r = Reader::new(&out[..end]);
            let _ = Eid::read_cbor(&mut r);
        }
    }
}

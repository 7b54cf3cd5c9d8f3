//! TCPCLv3 wire codec (RFC 7242): SDNVs (RFC 6256), the contact header (§4.1) and the six
//! messages (§5.2–§5.6, §6.1).
//!
//! Plain functions over byte slices: no I/O, no clock, no allocation while decoding, and no
//! panic on any input.
//!
//! - Every message starts with one octet: the type in the high four bits, flags (or, for
//!   REFUSE_BUNDLE, the reason code) in the low four. Lengths, acknowledged lengths and the
//!   reconnection delay are SDNVs; the keepalive interval is a big-endian u16.
//! - [`decode_head`] reads a message up to, not including, the data of a DATA_SEGMENT, so a
//!   session can move segment data straight into the bundle it belongs to (TCPCLv3 peers such
//!   as pyd3tn and µD3TN send each bundle as one segment: buffering the whole segment before
//!   looking at it would hold a bundle twice). [`decode`] reads whole messages, data included,
//!   and refuses a segment over its limit as soon as the length is readable.
//! - Both return `Ok(None)` while the buffer holds only a prefix of a valid message.
//! - Reason codes keep unassigned values ([`ShutdownReason::Unassigned`],
//!   [`RefuseReason::Unassigned`]), so every received code round-trips.

use std::fmt;

/// The contact header magic, "dtn!" in US-ASCII (RFC 7242 §4.1).
pub const MAGIC: [u8; 4] = *b"dtn!";
/// The TCPCL version this codec speaks (RFC 7242 §4.1).
pub const VERSION: u8 = 3;
/// Length of the fixed part of the contact header: magic, version, flags, keepalive.
pub const CONTACT_FIXED_LEN: usize = 8;
/// Longest SDNV accepted: 10 octets carry 70 bits, enough for any u64.
pub const MAX_SDNV_LEN: usize = 10;
/// Longest message head: a SHUTDOWN with reason code and reconnection delay.
pub const MAX_HEAD_LEN: usize = 2 + MAX_SDNV_LEN;

/// Contact header flags (RFC 7242 §4.1).
pub mod contact_flags {
    /// Request acknowledgement of bundle segments (ACK_SEGMENT).
    pub const REQUEST_ACK: u8 = 0x01;
    /// Request reactive fragmentation. bpshim never sets it and ignores it.
    pub const REACTIVE_FRAGMENTATION: u8 = 0x02;
    /// Support bundle refusal (REFUSE_BUNDLE); only valid together with [`REQUEST_ACK`].
    pub const REFUSAL: u8 = 0x04;
    /// Request LENGTH messages before each bundle.
    pub const REQUEST_LENGTH: u8 = 0x08;
}

/// DATA_SEGMENT flags (RFC 7242 §5.2).
pub mod segment_flags {
    /// Last segment of the bundle ("E").
    pub const END: u8 = 0x01;
    /// First segment of the bundle ("S").
    pub const START: u8 = 0x02;
}

/// SHUTDOWN flags (RFC 7242 §6.1).
pub mod shutdown_flags {
    /// A reconnection delay (SDNV, seconds) is present ("D").
    pub const DELAY: u8 = 0x01;
    /// A reason code (one octet) is present ("R").
    pub const REASON: u8 = 0x02;
}

/// Why a buffer cannot be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// A contact header octet differs from "dtn!".
    BadMagic,
    /// The contact header has another version than 3. The rest of the header is not read:
    /// its layout depends on the version (TCPCLv4's is six octets long).
    UnsupportedVersion(u8),
    /// An SDNV longer than [`MAX_SDNV_LEN`] octets or over `u64::MAX`.
    SdnvOverflow,
    /// The peer's EID in the contact header is longer than the limit.
    EidTooLong {
        /// Announced length.
        len: u64,
        /// Largest accepted.
        max: u64,
    },
    /// A message type RFC 7242 does not define (0x0, 0x7–0xf); the value is the type.
    UnknownMessageType(u8),
    /// DATA_SEGMENT data longer than the limit given to [`decode`].
    TooLong {
        /// Announced length.
        len: u64,
        /// Largest accepted.
        max: u64,
    },
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::BadMagic => f.write_str("contact header does not start with \"dtn!\""),
            CodecError::UnsupportedVersion(v) => {
                write!(f, "TCPCL version {v} is not 3 (RFC 7242 §4.1)")
            }
            CodecError::SdnvOverflow => f.write_str("SDNV longer than 10 octets or over 2^64-1"),
            CodecError::EidTooLong { len, max } => {
                write!(
                    f,
                    "contact header EID of {len} octets is over the {max}-octet limit"
                )
            }
            CodecError::UnknownMessageType(t) => {
                write!(f, "unknown TCPCLv3 message type {t:#x} (RFC 7242 §5.1)")
            }
            CodecError::TooLong { len, max } => {
                write!(f, "segment of {len} octets is over the {max}-octet limit")
            }
        }
    }
}

impl std::error::Error for CodecError {}

// ----- SDNV (RFC 6256) -----

/// Appends the SDNV encoding of `value` (most significant group first, minimal length).
pub fn encode_sdnv(value: u64, out: &mut Vec<u8>) {
    let mut groups = [0u8; MAX_SDNV_LEN];
    let mut n = 0;
    let mut v = value;
    for g in groups.iter_mut() {
        *g = (v & 0x7f) as u8;
        n += 1;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    // `groups[..n]` holds the groups least significant first.
    for (i, g) in groups.iter().take(n).enumerate().rev() {
        out.push(if i == 0 { *g } else { *g | 0x80 });
    }
}

/// Length of the SDNV encoding of `value`.
pub fn sdnv_len(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Reads an SDNV from the front of `buf`: `Ok(None)` while incomplete, else the value and its
/// length. Leading zero groups are accepted up to the length limit.
///
/// # Errors
/// [`CodecError::SdnvOverflow`] once [`MAX_SDNV_LEN`] octets have been seen without an end,
/// or when the value exceeds `u64::MAX`.
pub fn decode_sdnv(buf: &[u8]) -> Result<Option<(u64, usize)>, CodecError> {
    let mut value: u64 = 0;
    for (i, &b) in buf.iter().enumerate() {
        if value > u64::MAX >> 7 {
            return Err(CodecError::SdnvOverflow);
        }
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
        if i + 1 >= MAX_SDNV_LEN {
            return Err(CodecError::SdnvOverflow);
        }
    }
    Ok(None)
}

// ----- contact header -----

/// The contact header (RFC 7242 §4.1), sent by both sides as soon as the TCP connection is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContactHeader<'a> {
    /// [`contact_flags`]; unassigned bits are kept as received.
    pub flags: u8,
    /// Keepalive interval in seconds; 0 disables keepalives.
    pub keepalive_s: u16,
    /// The sender's EID, e.g. "ipn:20.0" (RFC 7242 does not require any encoding).
    pub eid: &'a [u8],
}

impl<'a> ContactHeader<'a> {
    /// Reads a contact header from the front of `buf`: `Ok(None)` while `buf` is a prefix of
    /// a version-3 header, else the header and its length. An EID over `max_eid_len` octets is
    /// refused as soon as its length is readable.
    ///
    /// # Errors
    /// [`CodecError::BadMagic`] as soon as a received octet differs from "dtn!",
    /// [`CodecError::UnsupportedVersion`] as soon as the version octet is not 3,
    /// [`CodecError::SdnvOverflow`], [`CodecError::EidTooLong`].
    pub fn decode(
        buf: &'a [u8],
        max_eid_len: u64,
    ) -> Result<Option<(ContactHeader<'a>, usize)>, CodecError> {
        let seen = buf.len().min(MAGIC.len());
        if buf.get(..seen) != MAGIC.get(..seen) {
            return Err(CodecError::BadMagic);
        }
        match buf.get(4) {
            None => return Ok(None),
            Some(&v) if v != VERSION => return Err(CodecError::UnsupportedVersion(v)),
            Some(_) => {}
        }
        let (Some(&flags), Some(&k0), Some(&k1)) = (buf.get(5), buf.get(6), buf.get(7)) else {
            return Ok(None);
        };
        let rest = buf.get(CONTACT_FIXED_LEN..).unwrap_or_default();
        let Some((eid_len, sdnv)) = decode_sdnv(rest)? else {
            return Ok(None);
        };
        if eid_len > max_eid_len {
            return Err(CodecError::EidTooLong {
                len: eid_len,
                max: max_eid_len,
            });
        }
        // `eid_len <= max_eid_len`, which the caller chose from memory it can address.
        let Ok(eid_len) = usize::try_from(eid_len) else {
            return Err(CodecError::EidTooLong {
                len: eid_len,
                max: max_eid_len,
            });
        };
        let start = CONTACT_FIXED_LEN + sdnv;
        let Some(eid) = buf.get(start..start.saturating_add(eid_len)) else {
            return Ok(None);
        };
        Ok(Some((
            ContactHeader {
                flags,
                keepalive_s: u16::from_be_bytes([k0, k1]),
                eid,
            },
            start + eid_len,
        )))
    }

    /// Appends the encoded header to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(self.flags);
        out.extend_from_slice(&self.keepalive_s.to_be_bytes());
        encode_sdnv(self.eid.len() as u64, out);
        out.extend_from_slice(self.eid);
    }

    /// Whether the sender requests ACK_SEGMENTs.
    pub fn requests_acks(&self) -> bool {
        self.flags & contact_flags::REQUEST_ACK != 0
    }

    /// Whether the sender supports bundle refusal (meaningful only with acks).
    pub fn supports_refusal(&self) -> bool {
        self.flags & contact_flags::REFUSAL != 0
    }

    /// Whether the sender asks for LENGTH messages.
    pub fn requests_length(&self) -> bool {
        self.flags & contact_flags::REQUEST_LENGTH != 0
    }
}

// ----- messages -----

/// Message types (RFC 7242 §5.1, Table 2): the high four bits of the first octet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MsgType {
    /// 0x1, a segment of bundle data (§5.2).
    DataSegment,
    /// 0x2, acknowledgement of received bundle data (§5.3).
    AckSegment,
    /// 0x3, refusal of the current bundle (§5.4).
    RefuseBundle,
    /// 0x4, connection upkeep (§5.6).
    Keepalive,
    /// 0x5, connection termination (§6.1).
    Shutdown,
    /// 0x6, length of the next bundle (§5.5).
    Length,
}

impl MsgType {
    /// The type for a four-bit code; `None` for codes RFC 7242 does not define.
    pub fn from_code(code: u8) -> Option<MsgType> {
        Some(match code {
            0x1 => MsgType::DataSegment,
            0x2 => MsgType::AckSegment,
            0x3 => MsgType::RefuseBundle,
            0x4 => MsgType::Keepalive,
            0x5 => MsgType::Shutdown,
            0x6 => MsgType::Length,
            _ => return None,
        })
    }

    /// The four-bit code.
    pub fn code(self) -> u8 {
        match self {
            MsgType::DataSegment => 0x1,
            MsgType::AckSegment => 0x2,
            MsgType::RefuseBundle => 0x3,
            MsgType::Keepalive => 0x4,
            MsgType::Shutdown => 0x5,
            MsgType::Length => 0x6,
        }
    }

    /// The RFC's name, e.g. "DATA_SEGMENT".
    pub fn name(self) -> &'static str {
        match self {
            MsgType::DataSegment => "DATA_SEGMENT",
            MsgType::AckSegment => "ACK_SEGMENT",
            MsgType::RefuseBundle => "REFUSE_BUNDLE",
            MsgType::Keepalive => "KEEPALIVE",
            MsgType::Shutdown => "SHUTDOWN",
            MsgType::Length => "LENGTH",
        }
    }
}

impl fmt::Display for MsgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// SHUTDOWN reason codes (RFC 7242 §6.1, Table 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShutdownReason {
    /// 0x00, no message for twice the keepalive interval.
    IdleTimeout,
    /// 0x01, the node cannot speak the peer's TCPCL version.
    VersionMismatch,
    /// 0x02, the node is too busy to handle the connection.
    Busy,
    /// Any other code, kept so that it round-trips.
    Unassigned(u8),
}

impl From<u8> for ShutdownReason {
    fn from(code: u8) -> ShutdownReason {
        match code {
            0x00 => ShutdownReason::IdleTimeout,
            0x01 => ShutdownReason::VersionMismatch,
            0x02 => ShutdownReason::Busy,
            other => ShutdownReason::Unassigned(other),
        }
    }
}

impl From<ShutdownReason> for u8 {
    fn from(r: ShutdownReason) -> u8 {
        match r {
            ShutdownReason::IdleTimeout => 0x00,
            ShutdownReason::VersionMismatch => 0x01,
            ShutdownReason::Busy => 0x02,
            ShutdownReason::Unassigned(code) => code,
        }
    }
}

impl fmt::Display for ShutdownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShutdownReason::IdleTimeout => f.write_str("idle timeout"),
            ShutdownReason::VersionMismatch => f.write_str("version mismatch"),
            ShutdownReason::Busy => f.write_str("busy"),
            ShutdownReason::Unassigned(c) => write!(f, "unassigned reason {c:#04x}"),
        }
    }
}

/// REFUSE_BUNDLE reason codes (RFC 7242 §5.4, Table 3): four bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefuseReason {
    /// 0x0, reason unknown or not given.
    Unknown,
    /// 0x1, the receiver already has the complete bundle; the sender may consider it sent.
    Completed,
    /// 0x2, the receiver's resources are exhausted; the sender should use another route.
    NoResources,
    /// 0x3, the receiver had a problem; the sender should retransmit the bundle.
    Retransmit,
    /// Any other four-bit code, kept so that it round-trips.
    Unassigned(u8),
}

impl From<u8> for RefuseReason {
    /// Takes the low four bits.
    fn from(code: u8) -> RefuseReason {
        match code & 0x0f {
            0x0 => RefuseReason::Unknown,
            0x1 => RefuseReason::Completed,
            0x2 => RefuseReason::NoResources,
            0x3 => RefuseReason::Retransmit,
            other => RefuseReason::Unassigned(other),
        }
    }
}

impl From<RefuseReason> for u8 {
    /// The four-bit code (an unassigned value is masked to four bits).
    fn from(r: RefuseReason) -> u8 {
        match r {
            RefuseReason::Unknown => 0x0,
            RefuseReason::Completed => 0x1,
            RefuseReason::NoResources => 0x2,
            RefuseReason::Retransmit => 0x3,
            RefuseReason::Unassigned(code) => code & 0x0f,
        }
    }
}

impl fmt::Display for RefuseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefuseReason::Unknown => f.write_str("reason unknown"),
            RefuseReason::Completed => f.write_str("receiver has the complete bundle"),
            RefuseReason::NoResources => f.write_str("receiver's resources exhausted"),
            RefuseReason::Retransmit => f.write_str("receiver problem, please retransmit"),
            RefuseReason::Unassigned(c) => write!(f, "unassigned reason {c:#x}"),
        }
    }
}

/// One TCPCLv3 message. Reserved flag bits of received messages are dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg<'a> {
    /// DATA_SEGMENT (§5.2): [`segment_flags`] and a piece of the bundle.
    DataSegment {
        /// START and END bits.
        flags: u8,
        /// The segment data.
        data: &'a [u8],
    },
    /// ACK_SEGMENT (§5.3): the octets of the current bundle received so far.
    AckSegment {
        /// Acknowledged length, cumulative from the start of the bundle.
        length: u64,
    },
    /// REFUSE_BUNDLE (§5.4): stop sending the current bundle.
    RefuseBundle {
        /// Why.
        reason: RefuseReason,
    },
    /// KEEPALIVE (§5.6).
    Keepalive,
    /// SHUTDOWN (§6.1).
    Shutdown {
        /// The reason code, if any.
        reason: Option<ShutdownReason>,
        /// Requested reconnection delay in seconds, if any; 0 means "never reconnect".
        delay_s: Option<u64>,
    },
    /// LENGTH (§5.5): the total length of the next bundle.
    Length {
        /// Bundle length in octets.
        length: u64,
    },
}

impl Msg<'_> {
    /// The message type.
    pub fn msg_type(&self) -> MsgType {
        match self {
            Msg::DataSegment { .. } => MsgType::DataSegment,
            Msg::AckSegment { .. } => MsgType::AckSegment,
            Msg::RefuseBundle { .. } => MsgType::RefuseBundle,
            Msg::Keepalive => MsgType::Keepalive,
            Msg::Shutdown { .. } => MsgType::Shutdown,
            Msg::Length { .. } => MsgType::Length,
        }
    }
}

/// A message read up to its data, from [`decode_head`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Head {
    /// A DATA_SEGMENT head: `len` data octets follow.
    Segment {
        /// START and END bits.
        flags: u8,
        /// Length of the data that follows.
        len: u64,
    },
    /// Any other message, complete.
    Control(Msg<'static>),
}

/// Reads one message head from the front of `buf`: `Ok(None)` while incomplete, else the head
/// and its length. For a DATA_SEGMENT the data is not read (its length may be anything).
///
/// # Errors
/// [`CodecError::UnknownMessageType`], [`CodecError::SdnvOverflow`].
pub fn decode_head(buf: &[u8]) -> Result<Option<(Head, usize)>, CodecError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let flags = first & 0x0f;
    let Some(kind) = MsgType::from_code(first >> 4) else {
        return Err(CodecError::UnknownMessageType(first >> 4));
    };
    let rest = buf.get(1..).unwrap_or_default();
    Ok(match kind {
        MsgType::DataSegment => decode_sdnv(rest)?.map(|(len, n)| {
            let flags = flags & (segment_flags::START | segment_flags::END);
            (Head::Segment { flags, len }, 1 + n)
        }),
        MsgType::AckSegment => {
            decode_sdnv(rest)?.map(|(length, n)| (Head::Control(Msg::AckSegment { length }), 1 + n))
        }
        MsgType::Length => {
            decode_sdnv(rest)?.map(|(length, n)| (Head::Control(Msg::Length { length }), 1 + n))
        }
        MsgType::RefuseBundle => Some((
            Head::Control(Msg::RefuseBundle {
                reason: RefuseReason::from(flags),
            }),
            1,
        )),
        MsgType::Keepalive => Some((Head::Control(Msg::Keepalive), 1)),
        MsgType::Shutdown => {
            let mut used = 1;
            let mut reason = None;
            if flags & shutdown_flags::REASON != 0 {
                let Some(&code) = rest.first() else {
                    return Ok(None);
                };
                reason = Some(ShutdownReason::from(code));
                used += 1;
            }
            let mut delay_s = None;
            if flags & shutdown_flags::DELAY != 0 {
                let Some((delay, n)) = decode_sdnv(buf.get(used..).unwrap_or_default())? else {
                    return Ok(None);
                };
                delay_s = Some(delay);
                used += n;
            }
            Some((Head::Control(Msg::Shutdown { reason, delay_s }), used))
        }
    })
}

/// Reads one whole message from the front of `buf`: `Ok(None)` while incomplete, else the
/// message (segment data borrowed from `buf`) and its length. A DATA_SEGMENT announcing more
/// than `max_segment_len` octets is refused as soon as its length is readable.
///
/// # Errors
/// As [`decode_head`], and [`CodecError::TooLong`].
pub fn decode(buf: &[u8], max_segment_len: u64) -> Result<Option<(Msg<'_>, usize)>, CodecError> {
    let Some((head, used)) = decode_head(buf)? else {
        return Ok(None);
    };
    match head {
        Head::Control(msg) => Ok(Some((msg, used))),
        Head::Segment { flags, len } => {
            if len > max_segment_len {
                return Err(CodecError::TooLong {
                    len,
                    max: max_segment_len,
                });
            }
            let Ok(n) = usize::try_from(len) else {
                return Err(CodecError::TooLong {
                    len,
                    max: max_segment_len,
                });
            };
            match buf.get(used..used.saturating_add(n)) {
                Some(data) => Ok(Some((Msg::DataSegment { flags, data }, used + n))),
                None => Ok(None),
            }
        }
    }
}

/// Appends the head of a DATA_SEGMENT carrying `len` octets (the data follows it).
pub fn encode_segment_head(flags: u8, len: u64, out: &mut Vec<u8>) {
    out.push((MsgType::DataSegment.code() << 4) | (flags & 0x03));
    encode_sdnv(len, out);
}

/// Appends the encoding of `msg` to `out`. Segment data is copied once.
pub fn encode(msg: &Msg<'_>, out: &mut Vec<u8>) {
    let code = msg.msg_type().code() << 4;
    match *msg {
        Msg::DataSegment { flags, data } => {
            encode_segment_head(flags, data.len() as u64, out);
            out.extend_from_slice(data);
        }
        Msg::AckSegment { length } | Msg::Length { length } => {
            out.push(code);
            encode_sdnv(length, out);
        }
        Msg::RefuseBundle { reason } => out.push(code | u8::from(reason)),
        Msg::Keepalive => out.push(code),
        Msg::Shutdown { reason, delay_s } => {
            let mut flags = 0;
            if reason.is_some() {
                flags |= shutdown_flags::REASON;
            }
            if delay_s.is_some() {
                flags |= shutdown_flags::DELAY;
            }
            out.push(code | flags);
            if let Some(r) = reason {
                out.push(u8::from(r));
            }
            if let Some(d) = delay_s {
                encode_sdnv(d, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdnv_vectors() {
        // RFC 6256 §2.1 examples and pyd3tn's test vectors.
        for (v, bytes) in [
            (0u64, &[0x00][..]),
            (0x7f, &[0x7f]),
            (0x80, &[0x81, 0x00]),
            (0xabc, &[0x95, 0x3c]),
            (0x1234, &[0xa4, 0x34]),
            (0x4234, &[0x81, 0x84, 0x34]),
        ] {
            let mut out = Vec::new();
            encode_sdnv(v, &mut out);
            assert_eq!(out, bytes, "{v:#x}");
            assert_eq!(sdnv_len(v), bytes.len());
            assert_eq!(decode_sdnv(bytes), Ok(Some((v, bytes.len()))));
        }
        let mut max = Vec::new();
        encode_sdnv(u64::MAX, &mut max);
        assert_eq!(max.len(), MAX_SDNV_LEN);
        assert_eq!(max[0], 0x81);
        assert_eq!(decode_sdnv(&max), Ok(Some((u64::MAX, 10))));
        // 2^64 does not fit.
        let mut over = max.clone();
        over[0] = 0x82;
        assert_eq!(decode_sdnv(&over), Err(CodecError::SdnvOverflow));
        assert_eq!(decode_sdnv(&[0x80; 10]), Err(CodecError::SdnvOverflow));
        assert_eq!(decode_sdnv(&[0x80; 9]), Ok(None));
    }

    #[test]
    fn contact_header_layout() {
        let h = ContactHeader {
            flags: 0x05,
            keepalive_s: 30,
            eid: b"ipn:1.0",
        };
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out, b"dtn!\x03\x05\x00\x1e\x07ipn:1.0");
        assert_eq!(ContactHeader::decode(&out, 100), Ok(Some((h, out.len()))));
        for n in 0..out.len() {
            assert_eq!(
                ContactHeader::decode(&out[..n], 100),
                Ok(None),
                "prefix {n}"
            );
        }
        assert_eq!(
            ContactHeader::decode(b"dtn!\x04\x00", 100),
            Err(CodecError::UnsupportedVersion(4))
        );
        assert_eq!(
            ContactHeader::decode(&out, 6),
            Err(CodecError::EidTooLong { len: 7, max: 6 })
        );
    }
}

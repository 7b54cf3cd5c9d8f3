//! TCPCLv4 wire codec (RFC 9174): the contact header (§4.2) and the seven messages (§4.5,
//! §4.6, §5.1.1, §5.1.2, §5.2.2–§5.2.4, §6.1), plus the extension item container shared by
//! SESS_INIT and XFER_SEGMENT (§4.8, §5.2.5).
//!
//! Plain functions over byte slices: no I/O, no clock, no allocation while decoding, and no
//! panic on any input. All integers are big-endian (§2.1).
//!
//! - [`decode`] / [`decode_with`] read one message from the front of a buffer and return
//!   `Ok(None)` while the buffer holds only a prefix of a valid message. A declared length over
//!   the [`Limits`] is refused as soon as the length field itself is readable, so a reader that
//!   buffers until `decode` succeeds never holds more than one limit-sized message.
//! - Decoded messages borrow from the input: the node ID, the extension item lists and the
//!   segment data are slices of it. [`encode`] copies segment data straight from a borrowed
//!   slice into the output, so a bundle is copied once on its way to the socket.
//! - Extension item lists stay raw in [`Msg`]; [`extension_items`] walks them. That lets the
//!   session answer a bad item list in a segment with XFER_REFUSE (§5.2.5) instead of losing
//!   the whole message.
//! - Reason codes keep unassigned values ([`SessTermReason::Unassigned`] …), so every received
//!   code round-trips.

use std::fmt;

/// The contact header magic, "dtn!" in US-ASCII (RFC 9174 §4.2).
pub const MAGIC: [u8; 4] = *b"dtn!";
/// The TCPCL version this codec speaks (RFC 9174 §4.2).
pub const VERSION: u8 = 4;
/// Length of the contact header: magic, version, flags.
pub const CONTACT_HEADER_LEN: usize = 6;

/// Contact header flags (RFC 9174 §4.2, Table 1).
pub mod contact_flags {
    /// The sender has enabled TLS. bpshim never sets it.
    pub const CAN_TLS: u8 = 0x01;
}

/// XFER_SEGMENT and XFER_ACK flags (RFC 9174 §5.2.2, Table 5).
pub mod segment_flags {
    /// Last segment of the transfer.
    pub const END: u8 = 0x01;
    /// First segment of the transfer; the segment carries the transfer extension items.
    pub const START: u8 = 0x02;
}

/// SESS_TERM flags (RFC 9174 §6.1, Table 8).
pub mod term_flags {
    /// The message acknowledges an earlier SESS_TERM.
    pub const REPLY: u8 = 0x01;
}

/// Session and transfer extension item flags (RFC 9174 §4.8 Table 3, §5.2.5 Table 7).
pub mod item_flags {
    /// The receiver must understand the item.
    pub const CRITICAL: u8 = 0x01;
}

/// Transfer extension type of the Transfer Length extension (RFC 9174 §5.2.5.1).
pub const TRANSFER_LENGTH_EXTENSION: u16 = 0x0001;

/// Length of a SESS_TERM message.
pub const SESS_TERM_LEN: usize = 3;
/// Length of an XFER_ACK message.
pub const XFER_ACK_LEN: usize = 18;
/// Length of an XFER_REFUSE message.
pub const XFER_REFUSE_LEN: usize = 10;
/// Length of a MSG_REJECT message.
pub const MSG_REJECT_LEN: usize = 3;

/// The contact header (RFC 9174 §4.2), exchanged once before any message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContactHeader {
    /// Protocol version; 4 for RFC 9174.
    pub version: u8,
    /// [`contact_flags`]; reserved bits are kept as received.
    pub flags: u8,
}

impl ContactHeader {
    /// The header bpshim sends: version 4, no flags (no TLS).
    pub const V4: ContactHeader = ContactHeader {
        version: VERSION,
        flags: 0,
    };

    /// Whether the sender offers TLS (RFC 9174 §4.3, "Enable TLS").
    pub fn can_tls(&self) -> bool {
        self.flags & contact_flags::CAN_TLS != 0
    }

    /// Reads a contact header from the front of `buf`.
    ///
    /// Returns `Ok(None)` while `buf` is a prefix of a header with the right magic, and the
    /// header with its length (always [`CONTACT_HEADER_LEN`]) once complete. Any version is
    /// returned: choosing what to do about it is the session's business (§4.3).
    ///
    /// # Errors
    /// [`CodecError::BadMagic`] as soon as a received byte differs from "dtn!".
    pub fn decode(buf: &[u8]) -> Result<Option<(ContactHeader, usize)>, CodecError> {
        let seen = buf.len().min(MAGIC.len());
        if buf.get(..seen) != MAGIC.get(..seen) {
            return Err(CodecError::BadMagic);
        }
        match (buf.get(4), buf.get(5)) {
            (Some(&version), Some(&flags)) => {
                Ok(Some((ContactHeader { version, flags }, CONTACT_HEADER_LEN)))
            }
            _ => Ok(None),
        }
    }

    /// Appends the encoded header to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.push(self.version);
        out.push(self.flags);
    }
}

/// Message type codes (RFC 9174 §4.5 Table 2, §9.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MsgType {
    /// 0x01, a segment of bundle data (§5.2.2).
    XferSegment,
    /// 0x02, acknowledgement of received segment data (§5.2.3).
    XferAck,
    /// 0x03, refusal of a transfer (§5.2.4).
    XferRefuse,
    /// 0x04, session upkeep (§5.1.1).
    Keepalive,
    /// 0x05, session termination (§6.1).
    SessTerm,
    /// 0x06, rejection of a received message (§5.1.2).
    MsgReject,
    /// 0x07, session parameters (§4.6).
    SessInit,
}

impl MsgType {
    /// The type for a message header octet; `None` for codes RFC 9174 does not define.
    pub fn from_code(code: u8) -> Option<MsgType> {
        Some(match code {
            0x01 => MsgType::XferSegment,
            0x02 => MsgType::XferAck,
            0x03 => MsgType::XferRefuse,
            0x04 => MsgType::Keepalive,
            0x05 => MsgType::SessTerm,
            0x06 => MsgType::MsgReject,
            0x07 => MsgType::SessInit,
            _ => return None,
        })
    }

    /// The message header octet.
    pub fn code(self) -> u8 {
        match self {
            MsgType::XferSegment => 0x01,
            MsgType::XferAck => 0x02,
            MsgType::XferRefuse => 0x03,
            MsgType::Keepalive => 0x04,
            MsgType::SessTerm => 0x05,
            MsgType::MsgReject => 0x06,
            MsgType::SessInit => 0x07,
        }
    }

    /// The RFC's name of the message, e.g. "XFER_SEGMENT".
    pub fn name(self) -> &'static str {
        match self {
            MsgType::XferSegment => "XFER_SEGMENT",
            MsgType::XferAck => "XFER_ACK",
            MsgType::XferRefuse => "XFER_REFUSE",
            MsgType::Keepalive => "KEEPALIVE",
            MsgType::SessTerm => "SESS_TERM",
            MsgType::MsgReject => "MSG_REJECT",
            MsgType::SessInit => "SESS_INIT",
        }
    }
}

impl fmt::Display for MsgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Declares a one-octet reason code enum that keeps unassigned values.
macro_rules! reason_code {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal, $text:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A code RFC 9174 does not assign, kept so that it round-trips. The RFC asks
            /// receivers to treat it like "Unknown".
            Unassigned(u8),
        }

        impl From<u8> for $name {
            fn from(code: u8) -> Self {
                match code {
                    $( $code => $name::$variant, )*
                    other => $name::Unassigned(other),
                }
            }
        }

        impl From<$name> for u8 {
            fn from(reason: $name) -> u8 {
                match reason {
                    $( $name::$variant => $code, )*
                    $name::Unassigned(code) => code,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $( $name::$variant => f.write_str($text), )*
                    $name::Unassigned(code) => write!(f, "unassigned code {code:#04x}"),
                }
            }
        }
    };
}

reason_code! {
    /// SESS_TERM reason codes (RFC 9174 §6.1 Table 9).
    SessTermReason {
        /// 0x00, no reason available.
        Unknown = 0x00, "unknown";
        /// 0x01, the session was idle (§5.1.1, §6.2).
        IdleTimeout = 0x01, "idle timeout";
        /// 0x02, the entity cannot use the offered TCPCL version (§4.3).
        VersionMismatch = 0x02, "version mismatch";
        /// 0x03, the entity is too busy for this session.
        Busy = 0x03, "busy";
        /// 0x04, a contact header or SESS_INIT option could not be interpreted or negotiated.
        ContactFailure = 0x04, "contact failure";
        /// 0x05, a resource limit was reached.
        ResourceExhaustion = 0x05, "resource exhaustion";
    }
}

reason_code! {
    /// XFER_REFUSE reason codes (RFC 9174 §5.2.4 Table 6).
    XferRefuseReason {
        /// 0x00, no reason given.
        Unknown = 0x00, "unknown";
        /// 0x01, the receiver already has the whole bundle.
        Completed = 0x01, "completed";
        /// 0x02, the receiver's resources are exhausted.
        NoResources = 0x02, "no resources";
        /// 0x03, the bundle must be sent again in full.
        Retransmit = 0x03, "retransmit";
        /// 0x04, the bundle data or transfer extensions are unacceptable.
        NotAcceptable = 0x04, "not acceptable";
        /// 0x05, the transfer extension items could not be processed.
        ExtensionFailure = 0x05, "extension failure";
        /// 0x06, the receiver is ending the session.
        SessionTerminating = 0x06, "session terminating";
    }
}

reason_code! {
    /// MSG_REJECT reason codes (RFC 9174 §5.1.2 Table 4).
    MsgRejectReason {
        /// 0x01, the message type code is unknown.
        TypeUnknown = 0x01, "message type unknown";
        /// 0x02, the message cannot be complied with.
        Unsupported = 0x02, "message unsupported";
        /// 0x03, the message is not expected in the session's state.
        Unexpected = 0x03, "message unexpected";
    }
}

/// A SESS_INIT message (RFC 9174 §4.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessInit<'a> {
    /// Keepalive interval offered, in seconds; 0 disables keepalives (§5.1.1).
    pub keepalive_s: u16,
    /// Largest segment data the sender accepts.
    pub segment_mru: u64,
    /// Largest transfer (whole bundle) the sender accepts.
    pub transfer_mru: u64,
    /// The sender's node ID, UTF-8; empty means "not disclosed".
    pub node_id: &'a str,
    /// Encoded session extension items (§4.8); walk them with [`extension_items`].
    pub extensions: &'a [u8],
}

/// An XFER_SEGMENT message (RFC 9174 §5.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XferSegment<'a> {
    /// [`segment_flags`]; reserved bits are kept as received.
    pub flags: u8,
    /// Transfer the segment belongs to.
    pub transfer_id: u64,
    /// Encoded transfer extension items (§5.2.5). The field exists on the wire only when
    /// START is set: decoding gives an empty slice otherwise and encoding ignores it.
    pub extensions: &'a [u8],
    /// Segment data.
    pub data: &'a [u8],
}

impl XferSegment<'_> {
    /// Whether START is set.
    pub fn is_start(&self) -> bool {
        self.flags & segment_flags::START != 0
    }

    /// Whether END is set.
    pub fn is_end(&self) -> bool {
        self.flags & segment_flags::END != 0
    }
}

/// One TCPCLv4 message, borrowing its variable-length fields from the buffer it was read
/// from or will be written from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg<'a> {
    /// Session parameters (§4.6).
    SessInit(SessInit<'a>),
    /// Session termination (§6.1).
    SessTerm {
        /// [`term_flags`].
        flags: u8,
        /// Why the session ends.
        reason: SessTermReason,
    },
    /// Bundle data (§5.2.2).
    XferSegment(XferSegment<'a>),
    /// Acknowledgement (§5.2.3).
    XferAck {
        /// The flags of the acknowledged segment (RFC 9174; dtn7-rs sends 0).
        flags: u8,
        /// Transfer acknowledged.
        transfer_id: u64,
        /// Total octets of the transfer received so far.
        length: u64,
    },
    /// Transfer refusal (§5.2.4).
    XferRefuse {
        /// Why the transfer is refused.
        reason: XferRefuseReason,
        /// Transfer refused.
        transfer_id: u64,
    },
    /// Session upkeep (§5.1.1).
    Keepalive,
    /// Message rejection (§5.1.2).
    MsgReject {
        /// Why the message is rejected.
        reason: MsgRejectReason,
        /// The message header octet of the rejected message.
        rejected_header: u8,
    },
}

impl Msg<'_> {
    /// The message's type.
    pub fn msg_type(&self) -> MsgType {
        match self {
            Msg::SessInit(_) => MsgType::SessInit,
            Msg::SessTerm { .. } => MsgType::SessTerm,
            Msg::XferSegment(_) => MsgType::XferSegment,
            Msg::XferAck { .. } => MsgType::XferAck,
            Msg::XferRefuse { .. } => MsgType::XferRefuse,
            Msg::Keepalive => MsgType::Keepalive,
            Msg::MsgReject { .. } => MsgType::MsgReject,
        }
    }
}

/// Upper bounds on declared lengths that [`decode_with`] accepts. They bound what a reader has
/// to buffer before a message is complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest XFER_SEGMENT data length; a session uses its own Segment MRU.
    pub max_segment_len: u64,
    /// Largest session or transfer extension item list, in octets.
    pub max_extensions_len: u32,
}

impl Limits {
    /// The limits of [`decode`]: 1 MiB of segment data, 64 KiB of extension items.
    pub const DEFAULT: Limits = Limits {
        max_segment_len: 1 << 20,
        max_extensions_len: 0xffff,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// The variable-length field an over-long length belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// SESS_INIT Node ID (at most 65535 octets on the wire).
    NodeId,
    /// SESS_INIT session extension items.
    SessionExtensions,
    /// XFER_SEGMENT transfer extension items.
    TransferExtensions,
    /// XFER_SEGMENT data.
    SegmentData,
    /// The value of one extension item (at most 65535 octets on the wire).
    ExtensionValue,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::NodeId => "SESS_INIT node ID (RFC 9174 §4.6)",
            Field::SessionExtensions => "SESS_INIT session extension items (RFC 9174 §4.6)",
            Field::TransferExtensions => "XFER_SEGMENT transfer extension items (RFC 9174 §5.2.2)",
            Field::SegmentData => "XFER_SEGMENT data (RFC 9174 §5.2.2)",
            Field::ExtensionValue => "extension item value (RFC 9174 §4.8, §5.2.5)",
        })
    }
}

/// Why bytes could not be decoded or a message could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// The stream does not start with "dtn!" (RFC 9174 §4.3).
    BadMagic,
    /// A message header octet RFC 9174 does not define (§5.1.2). The rest of the stream cannot
    /// be framed.
    UnknownMessageType(u8),
    /// A declared length exceeds the limit for its field (decoding: the [`Limits`]; encoding:
    /// the width of the length field).
    TooLong {
        /// The field.
        field: Field,
        /// The length declared or given.
        len: u64,
        /// The largest length allowed.
        limit: u64,
    },
    /// The SESS_INIT node ID is not UTF-8 (RFC 9174 §4.6).
    NodeIdNotUtf8,
    /// An extension item runs past the end of its item list (RFC 9174 §4.6, §5.2.2).
    ExtensionItemOverrun {
        /// Offset of the item within the list.
        offset: usize,
    },
}

impl CodecError {
    /// A short stable token naming the error, usable as a counter name.
    pub fn reason(&self) -> &'static str {
        match self {
            CodecError::BadMagic => "bad_magic",
            CodecError::UnknownMessageType(_) => "unknown_message_type",
            CodecError::TooLong { .. } => "too_long",
            CodecError::NodeIdNotUtf8 => "node_id_not_utf8",
            CodecError::ExtensionItemOverrun { .. } => "extension_item_overrun",
        }
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::BadMagic => {
                f.write_str("contact header does not start with \"dtn!\" (RFC 9174 §4.3)")
            }
            CodecError::UnknownMessageType(code) => {
                write!(f, "unknown message type {code:#04x} (RFC 9174 §5.1.2)")
            }
            CodecError::TooLong { field, len, limit } => {
                write!(f, "{field}: length {len} exceeds the limit {limit}")
            }
            CodecError::NodeIdNotUtf8 => {
                f.write_str("SESS_INIT node ID is not UTF-8 (RFC 9174 §4.6)")
            }
            CodecError::ExtensionItemOverrun { offset } => write!(
                f,
                "extension item at offset {offset} runs past its item list (RFC 9174 §4.8, §5.2.5)"
            ),
        }
    }
}

impl std::error::Error for CodecError {}

/// A big-endian reader whose every read returns `None` when the input ends early.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        Some(u8::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.array()?))
    }
}

/// Checks a declared length against its limit and converts it for slicing.
fn bounded(field: Field, len: u64, limit: u64) -> Result<usize, CodecError> {
    let too_long = CodecError::TooLong { field, len, limit };
    if len > limit {
        return Err(too_long);
    }
    usize::try_from(len).map_err(|_| too_long)
}

/// Reads one message from the front of `buf` with [`Limits::DEFAULT`]. See [`decode_with`].
///
/// # Errors
/// As [`decode_with`].
pub fn decode(buf: &[u8]) -> Result<Option<(Msg<'_>, usize)>, CodecError> {
    decode_with(buf, &Limits::DEFAULT)
}

/// Reads one message from the front of `buf`.
///
/// Returns `Ok(None)` while `buf` is a prefix of a valid message (including the empty
/// buffer), and the message with the number of octets it took once complete. Reserved flag
/// bits and unassigned reason codes are kept.
///
/// # Errors
/// - [`CodecError::UnknownMessageType`] for an undefined message header octet;
/// - [`CodecError::TooLong`] when a declared length exceeds `limits`, as soon as the length
///   field is complete (before the data arrives);
/// - [`CodecError::NodeIdNotUtf8`] for a SESS_INIT whose node ID is not UTF-8.
pub fn decode_with<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Option<(Msg<'a>, usize)>, CodecError> {
    let mut c = Cursor { buf, pos: 0 };
    // Every read below returns from the function with `Ok(None)` when the buffer ends.
    macro_rules! need {
        ($read:expr) => {
            match $read {
                Some(value) => value,
                None => return Ok(None),
            }
        };
    }
    let code = need!(c.u8());
    let msg_type = MsgType::from_code(code).ok_or(CodecError::UnknownMessageType(code))?;
    let msg = match msg_type {
        MsgType::SessInit => {
            let keepalive_s = need!(c.u16());
            let segment_mru = need!(c.u64());
            let transfer_mru = need!(c.u64());
            let node_len = need!(c.u16());
            let node = need!(c.take(usize::from(node_len)));
            let node_id = std::str::from_utf8(node).map_err(|_| CodecError::NodeIdNotUtf8)?;
            let ext_len = need!(c.u32());
            let ext_len = bounded(
                Field::SessionExtensions,
                u64::from(ext_len),
                u64::from(limits.max_extensions_len),
            )?;
            let extensions = need!(c.take(ext_len));
            Msg::SessInit(SessInit {
                keepalive_s,
                segment_mru,
                transfer_mru,
                node_id,
                extensions,
            })
        }
        MsgType::SessTerm => {
            let flags = need!(c.u8());
            let reason = SessTermReason::from(need!(c.u8()));
            Msg::SessTerm { flags, reason }
        }
        MsgType::XferSegment => {
            let flags = need!(c.u8());
            let transfer_id = need!(c.u64());
            let extensions = if flags & segment_flags::START != 0 {
                let ext_len = need!(c.u32());
                let ext_len = bounded(
                    Field::TransferExtensions,
                    u64::from(ext_len),
                    u64::from(limits.max_extensions_len),
                )?;
                need!(c.take(ext_len))
            } else {
                &[]
            };
            let data_len = need!(c.u64());
            let data_len = bounded(Field::SegmentData, data_len, limits.max_segment_len)?;
            let data = need!(c.take(data_len));
            Msg::XferSegment(XferSegment {
                flags,
                transfer_id,
                extensions,
                data,
            })
        }
        MsgType::XferAck => {
            let flags = need!(c.u8());
            let transfer_id = need!(c.u64());
            let length = need!(c.u64());
            Msg::XferAck {
                flags,
                transfer_id,
                length,
            }
        }
        MsgType::XferRefuse => {
            let reason = XferRefuseReason::from(need!(c.u8()));
            let transfer_id = need!(c.u64());
            Msg::XferRefuse {
                reason,
                transfer_id,
            }
        }
        MsgType::Keepalive => Msg::Keepalive,
        MsgType::MsgReject => {
            let reason = MsgRejectReason::from(need!(c.u8()));
            let rejected_header = need!(c.u8());
            Msg::MsgReject {
                reason,
                rejected_header,
            }
        }
    };
    Ok(Some((msg, c.pos)))
}

/// Converts a length to the width of its length field.
fn field_len<T: TryFrom<usize>>(field: Field, len: usize, limit: u64) -> Result<T, CodecError> {
    T::try_from(len).map_err(|_| CodecError::TooLong {
        field,
        len: u64::try_from(len).unwrap_or(u64::MAX),
        limit,
    })
}

/// Appends the encoding of `msg` to `out`.
///
/// Segment data is copied from `msg` into `out` once. For an XFER_SEGMENT without START the
/// `extensions` field is not written (it does not exist on the wire).
///
/// # Errors
/// [`CodecError::TooLong`] when a node ID is over 65535 octets or an extension item list over
/// 2^32 − 1; `out` is then left unchanged.
pub fn encode(msg: &Msg<'_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
    // Length fields are checked before anything is written, so a failure leaves `out` as it was.
    match msg {
        Msg::SessInit(s) => {
            let node_len: u16 = field_len(Field::NodeId, s.node_id.len(), u16::MAX.into())?;
            let ext_len: u32 = field_len(
                Field::SessionExtensions,
                s.extensions.len(),
                u32::MAX.into(),
            )?;
            out.push(MsgType::SessInit.code());
            out.extend_from_slice(&s.keepalive_s.to_be_bytes());
            out.extend_from_slice(&s.segment_mru.to_be_bytes());
            out.extend_from_slice(&s.transfer_mru.to_be_bytes());
            out.extend_from_slice(&node_len.to_be_bytes());
            out.extend_from_slice(s.node_id.as_bytes());
            out.extend_from_slice(&ext_len.to_be_bytes());
            out.extend_from_slice(s.extensions);
        }
        Msg::SessTerm { flags, reason } => {
            out.extend_from_slice(&[MsgType::SessTerm.code(), *flags, u8::from(*reason)]);
        }
        Msg::XferSegment(s) => {
            let ext_len: Option<u32> = if s.is_start() {
                Some(field_len(
                    Field::TransferExtensions,
                    s.extensions.len(),
                    u32::MAX.into(),
                )?)
            } else {
                None
            };
            out.push(MsgType::XferSegment.code());
            out.push(s.flags);
            out.extend_from_slice(&s.transfer_id.to_be_bytes());
            if let Some(ext_len) = ext_len {
                out.extend_from_slice(&ext_len.to_be_bytes());
                out.extend_from_slice(s.extensions);
            }
            let data_len = u64::try_from(s.data.len()).unwrap_or(u64::MAX);
            out.extend_from_slice(&data_len.to_be_bytes());
            out.extend_from_slice(s.data);
        }
        Msg::XferAck {
            flags,
            transfer_id,
            length,
        } => {
            out.push(MsgType::XferAck.code());
            out.push(*flags);
            out.extend_from_slice(&transfer_id.to_be_bytes());
            out.extend_from_slice(&length.to_be_bytes());
        }
        Msg::XferRefuse {
            reason,
            transfer_id,
        } => {
            out.push(MsgType::XferRefuse.code());
            out.push(u8::from(*reason));
            out.extend_from_slice(&transfer_id.to_be_bytes());
        }
        Msg::Keepalive => out.push(MsgType::Keepalive.code()),
        Msg::MsgReject {
            reason,
            rejected_header,
        } => {
            out.extend_from_slice(&[
                MsgType::MsgReject.code(),
                u8::from(*reason),
                *rejected_header,
            ]);
        }
    }
    Ok(())
}

/// One session or transfer extension item (RFC 9174 §4.8, §5.2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtensionItem<'a> {
    /// [`item_flags`]; reserved bits are kept as received.
    pub flags: u8,
    /// Item type (IANA registries of §9.3, §9.4).
    pub item_type: u16,
    /// Item value.
    pub value: &'a [u8],
}

impl ExtensionItem<'_> {
    /// Whether the receiver must understand the item.
    pub fn is_critical(&self) -> bool {
        self.flags & item_flags::CRITICAL != 0
    }

    /// Appends the encoded item to `out`, for building an item list.
    ///
    /// # Errors
    /// [`CodecError::TooLong`] when the value is over 65535 octets; `out` is then unchanged.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let len: u16 = field_len(Field::ExtensionValue, self.value.len(), u16::MAX.into())?;
        out.push(self.flags);
        out.extend_from_slice(&self.item_type.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(self.value);
        Ok(())
    }
}

/// Iterator over an encoded extension item list; see [`extension_items`].
#[derive(Clone, Debug)]
pub struct ExtensionItems<'a> {
    raw: &'a [u8],
    pos: usize,
    failed: bool,
}

/// Walks the extension items of a SESS_INIT or XFER_SEGMENT item list.
///
/// Yields each item, or one [`CodecError::ExtensionItemOverrun`] and then nothing when an item
/// does not fit in the list: RFC 9174 then treats the whole message as failed (§4.6, §5.2.2).
pub fn extension_items(raw: &[u8]) -> ExtensionItems<'_> {
    ExtensionItems {
        raw,
        pos: 0,
        failed: false,
    }
}

impl<'a> Iterator for ExtensionItems<'a> {
    type Item = Result<ExtensionItem<'a>, CodecError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.raw.len() {
            return None;
        }
        let offset = self.pos;
        let mut c = Cursor {
            buf: self.raw,
            pos: offset,
        };
        let item = (|| {
            let flags = c.u8()?;
            let item_type = c.u16()?;
            let len = c.u16()?;
            let value = c.take(usize::from(len))?;
            Some(ExtensionItem {
                flags,
                item_type,
                value,
            })
        })();
        match item {
            Some(item) => {
                self.pos = c.pos;
                Some(Ok(item))
            }
            None => {
                self.failed = true;
                Some(Err(CodecError::ExtensionItemOverrun { offset }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_header_bytes() {
        let mut out = Vec::new();
        ContactHeader::V4.encode(&mut out);
        assert_eq!(out, [0x64, 0x74, 0x6e, 0x21, 0x04, 0x00]);
        assert_eq!(
            ContactHeader::decode(&out),
            Ok(Some((ContactHeader::V4, CONTACT_HEADER_LEN)))
        );
        assert_eq!(ContactHeader::decode(b"dtn"), Ok(None));
        assert_eq!(ContactHeader::decode(b"dtx"), Err(CodecError::BadMagic));
    }

    #[test]
    fn reason_codes_round_trip() {
        for code in 0..=u8::MAX {
            assert_eq!(u8::from(SessTermReason::from(code)), code);
            assert_eq!(u8::from(XferRefuseReason::from(code)), code);
            assert_eq!(u8::from(MsgRejectReason::from(code)), code);
        }
        assert_eq!(SessTermReason::from(1), SessTermReason::IdleTimeout);
        assert_eq!(
            XferRefuseReason::from(6),
            XferRefuseReason::SessionTerminating
        );
        assert_eq!(MsgRejectReason::from(0), MsgRejectReason::Unassigned(0));
    }

    #[test]
    fn over_limit_refused_before_data() {
        // START segment header declaring 2 MiB of data, no data present.
        let mut buf = vec![0x01, 0x03];
        buf.extend_from_slice(&1u64.to_be_bytes());
        buf.extend_from_slice(&0u32.to_be_bytes());
        buf.extend_from_slice(&(2u64 << 20).to_be_bytes());
        assert_eq!(
            decode(&buf),
            Err(CodecError::TooLong {
                field: Field::SegmentData,
                len: 2 << 20,
                limit: 1 << 20
            })
        );
    }
}

//! One TCPCLv4 session (RFC 9174) as a sans-IO state machine: bytes and time in, bytes,
//! events and a deadline out.
//!
//! # Method classes and poll order
//! - Getters: [`Session::role`], [`Session::is_established`], [`Session::is_closed`],
//!   [`Session::peer`], [`Session::keepalive_s`].
//! - Inputs: [`Session::handle_bytes`] (any split of the received stream),
//!   [`Session::handle_eof`] (the peer closed the stream or the socket failed),
//!   [`Session::handle_timeout`] (the deadline of [`Session::poll_timeout`] passed; an early
//!   or repeated call is a harmless no-op).
//! - Commands: [`Session::send_bundle`], [`Session::accept_transfer`],
//!   [`Session::refuse_transfer`], [`Session::close`].
//! - Outputs, to poll after every input or command, in this order:
//!   1. [`Session::poll_transmit`] while the socket takes data. Each call appends the pending
//!      control messages and at most one XFER_SEGMENT, so a driver that stops calling it when
//!      the socket would block never buffers more than one segment beyond the socket.
//!   2. [`Session::poll_event`] until `None`.
//!   3. [`Session::poll_timeout`], to re-arm the driver's timer.
//!
//!   After [`Event::Closed`], drain `poll_transmit` (it may still hold a final SESS_TERM or
//!   MSG_REJECT), write it, then close the socket (TCP FIN, RFC 9174 §4.1).
//!
//! Time is a millisecond count passed to every input and command; any monotonic origin works.
//! A transmission is stamped with the time of the latest input, which is what the keepalive
//! timer (§5.1.1) measures from.
//!
//! # Protocol
//! - Establishment (§4.1–§4.7): the active entity sends its contact header at once; the
//!   passive one answers a valid header with its own. The active entity then sends SESS_INIT;
//!   the passive one answers the active's SESS_INIT with its own. bpshim never sets CAN_TLS
//!   and sends no session extension items. Negotiated: keepalive = min of both offers; our
//!   segments are at most min([`SessionConfig::max_segment_len`], the peer's Segment MRU); a
//!   bundle over the peer's Transfer MRU is refused locally ([`SendError::TooLarge`],
//!   [`Event::BundleTooLarge`]) so that the caller can fragment it.
//! - Transfers (§5.2): our transfer IDs start at 1 and increase (dtn7-rs does the same; RFC
//!   9174 §5.2.1 suggests 0); the peer's may start anywhere. START segments carry an empty
//!   transfer extension list. Received segments are acknowledged one by one with the
//!   segment's flags (§5.2.3); the final acknowledgement waits for the caller's
//!   [`Session::accept_transfer`] (sent only once the bundle is stored) or is replaced by
//!   XFER_REFUSE ([`Session::refuse_transfer`]). Replies to the peer's transfers leave in the
//!   order of those transfers. A transfer counts as sent when an XFER_ACK covers its whole
//!   length; the ack's flags are not required (dtn7-rs sends 0).
//! - Upkeep (§5.1.1): a KEEPALIVE when nothing was sent for the negotiated interval; without
//!   any received byte for twice that interval the session sends SESS_TERM "idle timeout" and
//!   closes. Any received byte counts, so a long segment arriving slowly is not idle.
//! - Termination (§6.1): [`Session::close`] or a received SESS_TERM puts the session in
//!   Ending. Queued bundles fail at once ([`Event::BundleFailed`]). Our SESS_TERM (or reply)
//!   waits until the transfer being segmented is finished and every received bundle is
//!   answered, since a peer may stop reading at it; new incoming transfers are refused with
//!   "session terminating". The session closes when both SESS_TERMs are through and no
//!   transfer is open in either direction, or when [`SessionConfig::ending_timeout_ms`]
//!   passes (a SESS_TERM still held back is written then).
//!
//! # Peer errors
//! A failed session stays closed; [`CloseReason::PeerError`] names the error.
//!
//! | Received | Response |
//! |---|---|
//! | contact header without "dtn!" | close, no SESS_TERM (§4.3, §6.1) |
//! | version ≠ 4, we are passive | our contact header, SESS_TERM "version mismatch", close (§4.3) |
//! | version ≠ 4, we are active | close (§4.3) |
//! | unknown message type | MSG_REJECT "message type unknown", close (§5.1.2) |
//! | XFER_*, KEEPALIVE before SESS_INIT | MSG_REJECT "message unexpected", SESS_TERM "contact failure", close |
//! | SESS_INIT with a critical session extension (none is known), a malformed item list, a non-UTF-8 node ID, an item list over 64 KiB, or Segment MRU 0 | SESS_TERM "contact failure", close (§4.6–§4.8) |
//! | SESS_INIT once established; XFER_ACK of a transfer not awaiting acks; XFER_REFUSE of a transfer we never started | MSG_REJECT "message unexpected", continue (§5.1.2) |
//! | XFER_SEGMENT without START for a transfer not in progress | MSG_REJECT "message unexpected", SESS_TERM "unknown", close |
//! | START while the peer's previous transfer is unfinished | SESS_TERM "unknown", close (§5.2.2) |
//! | XFER_ACK beyond the octets sent | SESS_TERM "unknown", close |
//! | segment data over our Segment MRU, transfer item list over 64 KiB | SESS_TERM "resource exhaustion", close |
//! | transfer over our Transfer MRU, or different from its Transfer Length extension | XFER_REFUSE "not acceptable", continue (§5.2.4, §5.2.5.1) |
//! | malformed transfer item list, critical unknown transfer extension | XFER_REFUSE "extension failure", continue (§5.2.5) |
//! | new transfer while Ending | XFER_REFUSE "session terminating", continue (§6.1) |
//!
//! After a peer error the session closes at once, without waiting for a SESS_TERM reply (the
//! unclean termination of §6.1). Unacknowledged outgoing bundles are reported as
//! [`Event::BundleFailed`] before [`Event::Closed`].
//!
//! # Panics
//! None: no input, split, or call order panics.

use std::collections::VecDeque;
use std::fmt;

use super::codec::{
    self, CodecError, ContactHeader, Field, Limits, Msg, MsgRejectReason, MsgType, SessInit,
    SessTermReason, TRANSFER_LENGTH_EXTENSION, XferRefuseReason, XferSegment, segment_flags,
    term_flags,
};

/// Keepalive interval offered by default, in seconds. dtn7-rs ends a session whose negotiated
/// keepalive is 0, so offer a non-zero value to it.
pub const DEFAULT_KEEPALIVE_S: u16 = 30;
/// Segment MRU offered by default (largest segment we accept).
pub const DEFAULT_SEGMENT_MRU: u64 = 1 << 20;
/// Transfer MRU offered by default (largest bundle we accept).
pub const DEFAULT_TRANSFER_MRU: u64 = 64 << 20;
/// Default cap on the data of the segments we send (dtn7-rs advertises 64000).
pub const DEFAULT_MAX_SEGMENT_LEN: u64 = 64_000;
/// Default limit on contact header plus SESS_INIT exchange; RFC 9174 §4.1 asks for at most
/// one minute for the contact header.
pub const DEFAULT_NEGOTIATION_TIMEOUT_MS: u64 = 60_000;
/// Default limit on the Ending state.
pub const DEFAULT_ENDING_TIMEOUT_MS: u64 = 30_000;
/// Largest session or transfer extension item list accepted from the peer. bpshim knows no
/// extension, so a list only has to be skipped; 64 KiB is generous.
pub const MAX_EXTENSIONS_LEN: u32 = 0xffff;
/// The first transfer ID we use.
pub const FIRST_TRANSFER_ID: u64 = 1;

/// Which end opened the TCP connection (RFC 9174 §2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We connected: we send the contact header and SESS_INIT first.
    Active,
    /// We accepted: we answer the peer's contact header and SESS_INIT.
    Passive,
}

/// Settings of one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our node ID sent in SESS_INIT, e.g. "ipn:10.0" (at most 65535 octets).
    pub node_id: String,
    /// Keepalive interval offered, in seconds; 0 disables keepalives (§5.1.1) and makes
    /// dtn7-rs end the session.
    pub keepalive_s: u16,
    /// Largest segment data we accept (our Segment MRU); also bounds the receive buffer.
    pub segment_mru: u64,
    /// Largest bundle we accept (our Transfer MRU).
    pub transfer_mru: u64,
    /// Cap on the data of the segments we send; the peer's Segment MRU lowers it further.
    pub max_segment_len: u64,
    /// Time allowed for the contact header and SESS_INIT exchange.
    pub negotiation_timeout_ms: u64,
    /// Time allowed in the Ending state before the session closes regardless.
    pub ending_timeout_ms: u64,
}

impl SessionConfig {
    /// The defaults (the `DEFAULT_*` constants) with the given node ID.
    pub fn new(node_id: impl Into<String>) -> SessionConfig {
        SessionConfig {
            node_id: node_id.into(),
            keepalive_s: DEFAULT_KEEPALIVE_S,
            segment_mru: DEFAULT_SEGMENT_MRU,
            transfer_mru: DEFAULT_TRANSFER_MRU,
            max_segment_len: DEFAULT_MAX_SEGMENT_LEN,
            negotiation_timeout_ms: DEFAULT_NEGOTIATION_TIMEOUT_MS,
            ending_timeout_ms: DEFAULT_ENDING_TIMEOUT_MS,
        }
    }
}

/// A [`SessionConfig`] that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The node ID is over 65535 octets (RFC 9174 §4.6).
    NodeIdTooLong(usize),
    /// `segment_mru` is 0: the peer could send nothing, and terminates (§4.7).
    ZeroSegmentMru,
    /// `max_segment_len` is 0: no bundle could be sent.
    ZeroMaxSegmentLen,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NodeIdTooLong(len) => write!(
                f,
                "node ID of {len} octets exceeds the 65535 of SESS_INIT (RFC 9174 §4.6)"
            ),
            ConfigError::ZeroSegmentMru => f.write_str("segment MRU must not be 0 (RFC 9174 §4.7)"),
            ConfigError::ZeroMaxSegmentLen => f.write_str("maximum segment length must not be 0"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why [`Session::send_bundle`] did not queue a bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The session is closed.
    Closed,
    /// The session is ending: no new transfer may start (RFC 9174 §6.1).
    Ending,
    /// The bundle exceeds the peer's Transfer MRU (RFC 9174 §4.6); fragment it.
    TooLarge {
        /// Bundle length.
        len: u64,
        /// The peer's Transfer MRU.
        peer_transfer_mru: u64,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("TCPCL session is closed"),
            SendError::Ending => {
                f.write_str("TCPCL session is ending, no new transfer may start (RFC 9174 §6.1)")
            }
            SendError::TooLarge {
                len,
                peer_transfer_mru,
            } => write!(
                f,
                "bundle of {len} octets exceeds the peer's transfer MRU {peer_transfer_mru} (RFC 9174 §4.6)"
            ),
        }
    }
}

impl std::error::Error for SendError {}

/// Why [`Session::accept_transfer`] or [`Session::refuse_transfer`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferError {
    /// The session is closed; the peer will send the bundle again in another session.
    Closed,
    /// No received transfer with this ID awaits a decision.
    UnknownTransfer(u64),
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::Closed => f.write_str("TCPCL session is closed"),
            TransferError::UnknownTransfer(id) => {
                write!(f, "no received transfer {id} awaits a decision")
            }
        }
    }
}

impl std::error::Error for TransferError {}

/// A protocol error of the peer that ended the session (see the module table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerError {
    /// The contact header does not start with "dtn!" (§4.3).
    BadMagic,
    /// The contact header has another version than 4 (§4.3).
    VersionMismatch(u8),
    /// A message could not be decoded.
    Malformed(CodecError),
    /// A message type RFC 9174 does not define (§5.1.2).
    UnknownMessageType(u8),
    /// A message other than SESS_INIT, SESS_TERM or MSG_REJECT before the session was
    /// established (§4.6).
    BeforeSessInit(MsgType),
    /// A session extension item marked critical; bpshim knows none (§4.8).
    CriticalSessionExtension(u16),
    /// The peer's Segment MRU is 0 (§4.7).
    ZeroSegmentMru,
    /// A segment without START for a transfer that is not in progress (§5.2.2).
    UnknownTransfer(u64),
    /// A START segment while the peer's previous transfer is unfinished (§5.2.2).
    InterleavedTransfer {
        /// The unfinished transfer.
        current: u64,
        /// The transfer the START segment opens.
        new: u64,
    },
    /// An XFER_ACK acknowledging more than was sent (§5.2.3).
    AckBeyondSent {
        /// The transfer.
        transfer_id: u64,
        /// Acknowledged length.
        acked: u64,
        /// Octets sent so far.
        sent: u64,
    },
}

impl PeerError {
    /// The SESS_TERM reason code sent for this error, or `None` when the session closes
    /// without one.
    fn term_reason(&self) -> Option<SessTermReason> {
        match self {
            PeerError::BadMagic | PeerError::UnknownMessageType(_) => None,
            PeerError::VersionMismatch(_) => Some(SessTermReason::VersionMismatch),
            PeerError::Malformed(CodecError::TooLong {
                field: Field::SegmentData | Field::TransferExtensions,
                ..
            }) => Some(SessTermReason::ResourceExhaustion),
            PeerError::Malformed(_)
            | PeerError::BeforeSessInit(_)
            | PeerError::CriticalSessionExtension(_)
            | PeerError::ZeroSegmentMru => Some(SessTermReason::ContactFailure),
            PeerError::UnknownTransfer(_)
            | PeerError::InterleavedTransfer { .. }
            | PeerError::AckBeyondSent { .. } => Some(SessTermReason::Unknown),
        }
    }
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::BadMagic => {
                f.write_str("peer's contact header lacks \"dtn!\" (RFC 9174 §4.3)")
            }
            PeerError::VersionMismatch(v) => {
                write!(f, "peer speaks TCPCL version {v}, not 4 (RFC 9174 §4.3)")
            }
            PeerError::Malformed(e) => write!(f, "malformed message from the peer: {e}"),
            PeerError::UnknownMessageType(t) => {
                write!(
                    f,
                    "peer sent unknown message type {t:#04x} (RFC 9174 §5.1.2)"
                )
            }
            PeerError::BeforeSessInit(t) => {
                write!(f, "peer sent {t} before SESS_INIT (RFC 9174 §4.6)")
            }
            PeerError::CriticalSessionExtension(t) => write!(
                f,
                "peer's SESS_INIT has critical session extension {t:#06x} (RFC 9174 §4.8)"
            ),
            PeerError::ZeroSegmentMru => f.write_str("peer's segment MRU is 0 (RFC 9174 §4.7)"),
            PeerError::UnknownTransfer(id) => write!(
                f,
                "peer sent a segment of transfer {id}, which it never started (RFC 9174 §5.2.2)"
            ),
            PeerError::InterleavedTransfer { current, new } => write!(
                f,
                "peer started transfer {new} before ending transfer {current} (RFC 9174 §5.2.2)"
            ),
            PeerError::AckBeyondSent {
                transfer_id,
                acked,
                sent,
            } => write!(
                f,
                "peer acknowledged {acked} octets of transfer {transfer_id}, only {sent} were sent (RFC 9174 §5.2.3)"
            ),
        }
    }
}

impl std::error::Error for PeerError {}

/// Why a session closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// A SESS_TERM with this reason code ended it: ours ([`Session::close`], idle timeout) or
    /// the peer's. Also the reason when our SESS_TERM got no reply before the ending timeout.
    SessTerm(SessTermReason),
    /// The peer broke the protocol; the response is in the module table.
    PeerError(PeerError),
    /// The contact header or SESS_INIT exchange did not finish in time.
    NegotiationTimeout,
    /// The stream ended ([`Session::handle_eof`]) before the SESS_TERM exchange.
    ConnectionLost,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::SessTerm(r) => write!(f, "session terminated: {r}"),
            CloseReason::PeerError(e) => e.fmt(f),
            CloseReason::NegotiationTimeout => f.write_str("session negotiation timed out"),
            CloseReason::ConnectionLost => f.write_str("connection lost"),
        }
    }
}

/// The peer's SESS_INIT parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerParams {
    /// The peer's node ID as sent (empty if it did not disclose one; not authenticated).
    pub node_id: String,
    /// Keepalive interval the peer offered, in seconds.
    pub keepalive_s: u16,
    /// The largest segment the peer accepts.
    pub segment_mru: u64,
    /// The largest bundle the peer accepts.
    pub transfer_mru: u64,
}

/// Something the caller must know, from [`Session::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Both SESS_INITs are through; bundles flow from now on.
    Established {
        /// The peer's node ID as sent (empty if undisclosed; not authenticated).
        peer_node_id: String,
        /// Negotiated keepalive interval, in seconds (0: no keepalives).
        keepalive_s: u16,
        /// The peer's Segment MRU.
        peer_segment_mru: u64,
        /// The peer's Transfer MRU: larger bundles must be fragmented before sending.
        peer_transfer_mru: u64,
    },
    /// The peer sent a whole bundle. Answer with [`Session::accept_transfer`] once it is
    /// stored, or [`Session::refuse_transfer`].
    BundleReceived {
        /// The peer's transfer ID, for the answer.
        transfer_id: u64,
        /// The bundle.
        bundle: Vec<u8>,
    },
    /// The peer acknowledged the whole bundle.
    BundleSent {
        /// The caller's handle from [`Session::send_bundle`].
        id: u64,
    },
    /// The peer refused the bundle (XFER_REFUSE).
    BundleRefused {
        /// The caller's handle.
        id: u64,
        /// The peer's reason; "completed" means the peer already has it.
        reason: XferRefuseReason,
    },
    /// A bundle queued before establishment exceeds the peer's Transfer MRU: fragment it and
    /// send the fragments.
    BundleTooLarge {
        /// The caller's handle.
        id: u64,
        /// Bundle length.
        len: u64,
        /// The peer's Transfer MRU.
        peer_transfer_mru: u64,
    },
    /// The session ended before the bundle was acknowledged; queue it elsewhere.
    BundleFailed {
        /// The caller's handle.
        id: u64,
    },
    /// The peer rejected one of our messages (MSG_REJECT, for diagnostics; §5.1.2).
    Rejected {
        /// The peer's reason.
        reason: MsgRejectReason,
        /// The header octet of the rejected message.
        rejected_header: u8,
    },
    /// The session is over; the last event. Drain [`Session::poll_transmit`], then close the
    /// socket.
    Closed {
        /// Why.
        reason: CloseReason,
        /// Whether the peer started the termination (SESS_TERM or end of stream).
        by_peer: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the peer's contact header (ours is sent already when active).
    AwaitContact,
    /// Contact headers exchanged; waiting for the peer's SESS_INIT.
    AwaitSessInit,
    Established,
    Closed,
}

/// A bundle handed to [`Session::send_bundle`] and not started yet.
struct Queued {
    id: u64,
    bundle: Vec<u8>,
}

/// An outgoing transfer from its first segment to its last acknowledgement.
struct OutTransfer {
    transfer_id: u64,
    id: u64,
    /// Emptied once every segment is written: the caller keeps its own copy until
    /// [`Event::BundleSent`].
    data: Vec<u8>,
    total: u64,
    /// Octets written into segments so far.
    sent: u64,
    /// Whether the END segment is written.
    all_sent: bool,
    acked: u64,
}

/// A transfer the peer is sending, between its START and END segments.
struct InTransfer {
    transfer_id: u64,
    data: Vec<u8>,
    /// Total Length from a Transfer Length extension (§5.2.5.1).
    declared: Option<u64>,
}

/// A reply to the peer's transfers, released in transfer order.
enum Reply {
    Ack {
        flags: u8,
        transfer_id: u64,
        length: u64,
    },
    Refuse {
        reason: XferRefuseReason,
        transfer_id: u64,
    },
    /// The final XFER_ACK of a received bundle, held until the caller decides.
    Decision {
        flags: u8,
        transfer_id: u64,
        length: u64,
    },
}

/// Where the SESS_TERM exchange stands.
#[derive(Default)]
struct Termination {
    /// Our SESS_TERM (flags, reason), held while a transfer is being segmented.
    to_send: Option<(u8, SessTermReason)>,
    /// Whether our SESS_TERM is written.
    sent: bool,
    /// The peer's SESS_TERM reason, once received.
    received: Option<SessTermReason>,
    /// The reason of the exchange: the initiator's.
    reason: Option<SessTermReason>,
    /// Whether the peer initiated.
    by_peer: bool,
    /// When Ending gives up.
    deadline: Option<u64>,
}

/// A TCPCLv4 session; see the module documentation.
pub struct Session {
    role: Role,
    config: SessionConfig,
    limits: Limits,
    now: u64,
    phase: Phase,
    /// Received bytes not yet forming a whole message.
    rx: Vec<u8>,
    /// Encoded control messages for the next [`Session::poll_transmit`].
    tx: Vec<u8>,
    events: VecDeque<Event>,
    peer: Option<PeerParams>,
    /// Negotiated keepalive in milliseconds; 0 disables keepalives and the idle timeout.
    keepalive_ms: u64,
    negotiation_deadline: u64,
    last_tx: u64,
    last_rx: u64,
    next_transfer_id: u64,
    /// Whether `u64::MAX` has been used as a transfer ID (§5.2.1).
    ids_exhausted: bool,
    queue: VecDeque<Queued>,
    /// Started transfers in transfer-ID order; only the last may have unsent data.
    sending: VecDeque<OutTransfer>,
    incoming: Option<InTransfer>,
    /// The peer's transfer we refused last; its later segments are refused again (§5.2.4).
    refused_in: Option<(u64, XferRefuseReason)>,
    replies: VecDeque<Reply>,
    term: Termination,
}

/// An in-memory length on the wire.
fn wire_len(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Session {
    /// Starts a session at time `now_ms`. An active session queues its contact header at once.
    ///
    /// # Errors
    /// [`ConfigError`] when the configuration cannot be sent or used.
    pub fn new(role: Role, config: SessionConfig, now_ms: u64) -> Result<Session, ConfigError> {
        if config.node_id.len() > usize::from(u16::MAX) {
            return Err(ConfigError::NodeIdTooLong(config.node_id.len()));
        }
        if config.segment_mru == 0 {
            return Err(ConfigError::ZeroSegmentMru);
        }
        if config.max_segment_len == 0 {
            return Err(ConfigError::ZeroMaxSegmentLen);
        }
        let limits = Limits {
            max_segment_len: config.segment_mru,
            max_extensions_len: MAX_EXTENSIONS_LEN,
        };
        let negotiation_deadline = now_ms.saturating_add(config.negotiation_timeout_ms);
        let mut session = Session {
            role,
            config,
            limits,
            now: now_ms,
            phase: Phase::AwaitContact,
            rx: Vec::new(),
            tx: Vec::new(),
            events: VecDeque::new(),
            peer: None,
            keepalive_ms: 0,
            negotiation_deadline,
            last_tx: now_ms,
            last_rx: now_ms,
            next_transfer_id: FIRST_TRANSFER_ID,
            ids_exhausted: false,
            queue: VecDeque::new(),
            sending: VecDeque::new(),
            incoming: None,
            refused_in: None,
            replies: VecDeque::new(),
            term: Termination::default(),
        };
        if role == Role::Active {
            ContactHeader::V4.encode(&mut session.tx);
        }
        Ok(session)
    }

    // ----- getters -----

    /// Whether we opened the connection.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether both SESS_INITs are through and the session has not closed.
    pub fn is_established(&self) -> bool {
        self.phase == Phase::Established
    }

    /// Whether the session is over ([`Event::Closed`] has been queued).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The peer's SESS_INIT parameters, once received.
    pub fn peer(&self) -> Option<&PeerParams> {
        self.peer.as_ref()
    }

    /// The negotiated keepalive interval in seconds, once established.
    pub fn keepalive_s(&self) -> Option<u16> {
        let peer = self.peer.as_ref()?;
        Some(self.config.keepalive_s.min(peer.keepalive_s))
    }

    // ----- inputs -----

    /// Takes bytes received from the peer, split anywhere.
    pub fn handle_bytes(&mut self, now_ms: u64, data: &[u8]) {
        self.tick(now_ms);
        if self.phase == Phase::Closed || data.is_empty() {
            return;
        }
        // Any byte shows the peer is alive, even inside a long segment (see module doc).
        self.last_rx = self.now;
        if self.rx.is_empty() {
            // Whole messages are read straight from `data`; only a trailing partial one is kept.
            let used = self.process(data);
            if self.phase != Phase::Closed {
                self.rx
                    .extend_from_slice(data.get(used..).unwrap_or_default());
            }
        } else {
            self.rx.extend_from_slice(data);
            let rx = std::mem::take(&mut self.rx);
            let used = self.process(&rx);
            if self.phase != Phase::Closed {
                self.rx = rx;
                self.rx.drain(..used.min(self.rx.len()));
            }
        }
    }

    /// The peer closed the stream, or reading from it failed.
    pub fn handle_eof(&mut self, now_ms: u64) {
        self.tick(now_ms);
        if self.phase == Phase::Closed {
            return;
        }
        match (self.term.sent, self.term.received, self.term.reason) {
            (true, Some(_), Some(reason)) => {
                let by_peer = self.term.by_peer;
                self.finish(CloseReason::SessTerm(reason), by_peer);
            }
            _ => self.finish(CloseReason::ConnectionLost, true),
        }
    }

    /// Acts on the deadlines that have passed by `now_ms`; see [`Session::poll_timeout`].
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.tick(now_ms);
        let now = self.now;
        match self.phase {
            Phase::Closed => {}
            Phase::AwaitContact | Phase::AwaitSessInit => {
                if now >= self.negotiation_deadline {
                    // Before the contact headers are through the peer may not speak TCPCL:
                    // just close (§4.1). Afterwards, SESS_TERM first (§3.3, Figures 8, 9).
                    if self.phase == Phase::AwaitSessInit {
                        self.send_term_now(SessTermReason::IdleTimeout);
                    }
                    self.finish(CloseReason::NegotiationTimeout, false);
                }
            }
            Phase::Established => {
                if self.term.deadline.is_some_and(|d| now >= d) {
                    let reason = self.term.reason.unwrap_or(SessTermReason::Unknown);
                    // A SESS_TERM still held back (unfinished transfer, undecided bundle)
                    // goes out before the session gives up.
                    self.send_term_now(reason);
                    let by_peer = self.term.by_peer;
                    self.finish(CloseReason::SessTerm(reason), by_peer);
                    return;
                }
                if self.keepalive_ms == 0 {
                    return;
                }
                if now
                    >= self
                        .last_rx
                        .saturating_add(self.keepalive_ms.saturating_mul(2))
                {
                    self.send_term_now(SessTermReason::IdleTimeout);
                    self.finish(CloseReason::SessTerm(SessTermReason::IdleTimeout), false);
                    return;
                }
                if now >= self.last_tx.saturating_add(self.keepalive_ms) {
                    self.push(&Msg::Keepalive);
                    // Counted as sent now, so the timer moves on even before poll_transmit.
                    self.last_tx = now;
                }
            }
        }
    }

    // ----- commands -----

    /// Queues `bundle` for sending; `id` is the caller's handle, returned in
    /// [`Event::BundleSent`], [`Event::BundleRefused`], [`Event::BundleTooLarge`] or
    /// [`Event::BundleFailed`]. Bundles go out in the order queued, each in segments of at
    /// most min(`max_segment_len`, peer's Segment MRU) octets.
    ///
    /// # Errors
    /// [`SendError::Closed`], [`SendError::Ending`], or [`SendError::TooLarge`] when
    /// established and the bundle exceeds the peer's Transfer MRU. The bundle is dropped.
    pub fn send_bundle(&mut self, now_ms: u64, id: u64, bundle: Vec<u8>) -> Result<(), SendError> {
        self.tick(now_ms);
        if self.phase == Phase::Closed {
            return Err(SendError::Closed);
        }
        if self.terminating() {
            return Err(SendError::Ending);
        }
        if let Some(peer) = &self.peer {
            let len = wire_len(bundle.len());
            if len > peer.transfer_mru {
                return Err(SendError::TooLarge {
                    len,
                    peer_transfer_mru: peer.transfer_mru,
                });
            }
        }
        self.queue.push_back(Queued { id, bundle });
        Ok(())
    }

    /// Sends the final XFER_ACK of a received bundle ([`Event::BundleReceived`]); call it once
    /// the bundle is stored.
    ///
    /// # Errors
    /// [`TransferError::Closed`], or [`TransferError::UnknownTransfer`] when no received
    /// bundle with this transfer ID awaits a decision.
    pub fn accept_transfer(&mut self, transfer_id: u64) -> Result<(), TransferError> {
        self.decide(transfer_id, None)
    }

    /// Refuses a received bundle ([`Event::BundleReceived`]) with XFER_REFUSE instead of its
    /// final XFER_ACK (§5.2.4).
    ///
    /// # Errors
    /// As [`Session::accept_transfer`].
    pub fn refuse_transfer(
        &mut self,
        transfer_id: u64,
        reason: XferRefuseReason,
    ) -> Result<(), TransferError> {
        self.decide(transfer_id, Some(reason))
    }

    /// Ends the session with `reason` (§6.1). Queued bundles fail at once; the transfer being
    /// segmented is finished, then SESS_TERM goes out, and the session closes when the peer
    /// has replied and every open transfer is done. Before establishment the session closes at
    /// once (after a SESS_TERM if our contact header is out). A no-op once terminating.
    pub fn close(&mut self, now_ms: u64, reason: SessTermReason) {
        self.tick(now_ms);
        match self.phase {
            Phase::Closed => {}
            Phase::AwaitContact if self.role == Role::Passive => {
                // Nothing sent yet; a SESS_TERM must follow our contact header (§6.1).
                self.finish(CloseReason::SessTerm(reason), false);
            }
            Phase::AwaitContact | Phase::AwaitSessInit => {
                self.send_term_now(reason);
                self.finish(CloseReason::SessTerm(reason), false);
            }
            Phase::Established => self.begin_termination(reason),
        }
    }

    // ----- outputs -----

    /// Appends the bytes to write to the socket to `out`: pending control messages and at
    /// most one XFER_SEGMENT. Returns how many were appended; 0 means nothing to send now.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        out.append(&mut self.tx);
        if self.phase == Phase::Established {
            self.emit_segment(out);
            // A SESS_TERM released by the end of that segment goes right behind it.
            out.append(&mut self.tx);
        }
        let written = out.len() - start;
        if written > 0 {
            self.last_tx = self.now;
        }
        written
    }

    /// The next event, oldest first.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next deadline for [`Session::handle_timeout`], in the same milliseconds as the
    /// inputs; `None` when closed. It may lie in the past: call `handle_timeout` at once.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.phase {
            Phase::Closed => None,
            Phase::AwaitContact | Phase::AwaitSessInit => Some(self.negotiation_deadline),
            Phase::Established => {
                let mut next = self.term.deadline;
                if self.keepalive_ms > 0 {
                    let keepalive = self.last_tx.saturating_add(self.keepalive_ms);
                    let idle = self
                        .last_rx
                        .saturating_add(self.keepalive_ms.saturating_mul(2));
                    let soonest = keepalive.min(idle);
                    next = Some(next.map_or(soonest, |d| d.min(soonest)));
                }
                next
            }
        }
    }

    // ----- internals -----

    /// Moves the clock forward; a time before the last one is taken as the last one.
    fn tick(&mut self, now_ms: u64) {
        self.now = self.now.max(now_ms);
    }

    /// Whether no new transfer may start: termination requested, sent or received.
    fn terminating(&self) -> bool {
        self.term.to_send.is_some() || self.term.sent || self.term.received.is_some()
    }

    /// Queues a message for the next `poll_transmit`.
    fn push(&mut self, msg: &Msg<'_>) {
        // Only SESS_INIT and XFER_SEGMENT can fail to encode; ours are valid by construction
        // (node ID length checked in `new`, no extension items).
        let _ = codec::encode(msg, &mut self.tx);
    }

    fn our_sess_init(&mut self) {
        let node_id = std::mem::take(&mut self.config.node_id);
        self.push(&Msg::SessInit(SessInit {
            keepalive_s: self.config.keepalive_s,
            segment_mru: self.config.segment_mru,
            transfer_mru: self.config.transfer_mru,
            node_id: &node_id,
            extensions: &[],
        }));
        self.config.node_id = node_id;
    }

    fn reject(&mut self, reason: MsgRejectReason, rejected_header: u8) {
        self.push(&Msg::MsgReject {
            reason,
            rejected_header,
        });
    }

    /// Writes a SESS_TERM now, for endings that do not wait: the one held back if any (a
    /// reply keeps its flags and reason), else a new one with `reason`; nothing if ours is out.
    fn send_term_now(&mut self, reason: SessTermReason) {
        if self.term.sent {
            return;
        }
        let (flags, reason) = self.term.to_send.take().unwrap_or((0, reason));
        self.term.sent = true;
        self.push(&Msg::SessTerm { flags, reason });
    }

    /// Starts a clean termination of an established session (ours).
    fn begin_termination(&mut self, reason: SessTermReason) {
        if self.terminating() {
            return;
        }
        self.term.to_send = Some((0, reason));
        self.term.reason = Some(reason);
        self.term.by_peer = false;
        self.enter_ending();
    }

    /// What Ending means on our side: no new transfers, a deadline, SESS_TERM when possible.
    fn enter_ending(&mut self) {
        let deadline = self.now.saturating_add(self.config.ending_timeout_ms);
        self.term.deadline.get_or_insert(deadline);
        for q in std::mem::take(&mut self.queue) {
            self.events.push_back(Event::BundleFailed { id: q.id });
        }
        self.flush_term();
        self.maybe_finish();
    }

    /// Writes the held SESS_TERM once no transfer is being segmented and every received
    /// bundle is answered: segments cannot be interrupted, and a peer may stop reading at our
    /// SESS_TERM, losing final XFER_ACKs queued behind it.
    fn flush_term(&mut self) {
        if self.sending.back().is_some_and(|t| !t.all_sent) || !self.replies.is_empty() {
            return;
        }
        if let Some((flags, reason)) = self.term.to_send.take() {
            self.term.sent = true;
            self.push(&Msg::SessTerm { flags, reason });
        }
    }

    /// Closes the session if the SESS_TERM exchange is through and nothing is open.
    fn maybe_finish(&mut self) {
        if self.phase == Phase::Closed
            || !self.term.sent
            || self.term.received.is_none()
            || !self.sending.is_empty()
            || self.incoming.is_some()
            || !self.replies.is_empty()
        {
            return;
        }
        let reason = self.term.reason.unwrap_or(SessTermReason::Unknown);
        let by_peer = self.term.by_peer;
        self.finish(CloseReason::SessTerm(reason), by_peer);
    }

    /// Closes the session: fails every unacknowledged bundle, then queues [`Event::Closed`].
    fn finish(&mut self, reason: CloseReason, by_peer: bool) {
        if self.phase == Phase::Closed {
            return;
        }
        for t in std::mem::take(&mut self.sending) {
            self.events.push_back(Event::BundleFailed { id: t.id });
        }
        for q in std::mem::take(&mut self.queue) {
            self.events.push_back(Event::BundleFailed { id: q.id });
        }
        self.incoming = None;
        // Decided replies are in `tx` already; undecided ones are dropped, so the peer sends
        // those bundles again in another session.
        self.replies.clear();
        self.rx = Vec::new();
        self.phase = Phase::Closed;
        self.events.push_back(Event::Closed { reason, by_peer });
    }

    /// Ends the session for a peer error: the response of the module table.
    fn fail(&mut self, error: PeerError) {
        if let Some(reason) = error.term_reason() {
            self.send_term_now(reason);
        }
        self.finish(CloseReason::PeerError(error), false);
    }

    /// Reads whole messages from `buf`; returns the octets consumed.
    fn process(&mut self, buf: &[u8]) -> usize {
        let mut pos = 0;
        while self.phase != Phase::Closed {
            let rest = buf.get(pos..).unwrap_or_default();
            if self.phase == Phase::AwaitContact {
                match ContactHeader::decode(rest) {
                    Ok(None) => break,
                    Ok(Some((header, used))) => {
                        pos += used;
                        self.on_contact_header(header);
                    }
                    Err(_) => self.fail(PeerError::BadMagic),
                }
                continue;
            }
            match codec::decode_with(rest, &self.limits) {
                Ok(None) => break,
                Ok(Some((msg, used))) => {
                    pos += used;
                    self.on_msg(msg);
                }
                Err(CodecError::UnknownMessageType(code)) => {
                    self.reject(MsgRejectReason::TypeUnknown, code);
                    self.fail(PeerError::UnknownMessageType(code));
                }
                Err(e) => self.fail(PeerError::Malformed(e)),
            }
        }
        pos
    }

    fn on_contact_header(&mut self, header: ContactHeader) {
        if header.version != codec::VERSION {
            if self.role == Role::Passive {
                ContactHeader::V4.encode(&mut self.tx);
            }
            // The active side closes without SESS_TERM (§4.3); `fail` knows the difference
            // only through the role, so handle it here.
            if self.role == Role::Active {
                self.finish(
                    CloseReason::PeerError(PeerError::VersionMismatch(header.version)),
                    false,
                );
            } else {
                self.fail(PeerError::VersionMismatch(header.version));
            }
            return;
        }
        // CAN_TLS is ignored: we never set it, so Enable TLS negotiates to false (§4.3).
        match self.role {
            Role::Passive => ContactHeader::V4.encode(&mut self.tx),
            Role::Active => self.our_sess_init(),
        }
        self.phase = Phase::AwaitSessInit;
    }

    fn on_msg(&mut self, msg: Msg<'_>) {
        match msg {
            Msg::SessTerm { flags, reason } => self.on_sess_term(flags, reason),
            Msg::MsgReject {
                reason,
                rejected_header,
            } => self.events.push_back(Event::Rejected {
                reason,
                rejected_header,
            }),
            Msg::SessInit(init) if self.phase == Phase::AwaitSessInit => self.on_sess_init(init),
            other if self.phase == Phase::AwaitSessInit => {
                let t = other.msg_type();
                self.reject(MsgRejectReason::Unexpected, t.code());
                self.fail(PeerError::BeforeSessInit(t));
            }
            Msg::SessInit(_) => self.reject(MsgRejectReason::Unexpected, MsgType::SessInit.code()),
            Msg::Keepalive => {}
            Msg::XferSegment(segment) => self.on_segment(segment),
            Msg::XferAck {
                transfer_id,
                length,
                ..
            } => self.on_ack(transfer_id, length),
            Msg::XferRefuse {
                reason,
                transfer_id,
            } => self.on_refuse(reason, transfer_id),
        }
    }

    fn on_sess_init(&mut self, init: SessInit<'_>) {
        for item in codec::extension_items(init.extensions) {
            match item {
                Err(e) => return self.fail(PeerError::Malformed(e)),
                // No session extension is known, so every critical one is unknown (§4.8).
                Ok(item) if item.is_critical() => {
                    return self.fail(PeerError::CriticalSessionExtension(item.item_type));
                }
                Ok(_) => {}
            }
        }
        if init.segment_mru == 0 {
            return self.fail(PeerError::ZeroSegmentMru);
        }
        if self.role == Role::Passive {
            self.our_sess_init();
        }
        let keepalive_s = self.config.keepalive_s.min(init.keepalive_s);
        self.keepalive_ms = u64::from(keepalive_s) * 1000;
        self.peer = Some(PeerParams {
            node_id: init.node_id.to_owned(),
            keepalive_s: init.keepalive_s,
            segment_mru: init.segment_mru,
            transfer_mru: init.transfer_mru,
        });
        self.phase = Phase::Established;
        self.last_rx = self.now;
        self.events.push_back(Event::Established {
            peer_node_id: init.node_id.to_owned(),
            keepalive_s,
            peer_segment_mru: init.segment_mru,
            peer_transfer_mru: init.transfer_mru,
        });
        // Bundles queued before we knew the peer's Transfer MRU.
        let mru = init.transfer_mru;
        for q in std::mem::take(&mut self.queue) {
            let len = wire_len(q.bundle.len());
            if len > mru {
                self.events.push_back(Event::BundleTooLarge {
                    id: q.id,
                    len,
                    peer_transfer_mru: mru,
                });
            } else {
                self.queue.push_back(q);
            }
        }
    }

    fn on_sess_term(&mut self, flags: u8, reason: SessTermReason) {
        if self.term.received.is_some() {
            return;
        }
        self.term.received = Some(reason);
        if !self.term.sent && self.term.to_send.is_none() {
            // The peer initiated: reply with the same content and the REPLY flag (§6.1).
            self.term.to_send = Some((flags | term_flags::REPLY, reason));
            self.term.reason = Some(reason);
            self.term.by_peer = true;
        }
        self.enter_ending();
    }

    /// Refuses the peer's transfer and its later segments.
    fn refuse_incoming(&mut self, transfer_id: u64, reason: XferRefuseReason) {
        if self
            .incoming
            .as_ref()
            .is_some_and(|t| t.transfer_id == transfer_id)
        {
            self.incoming = None;
        }
        self.refused_in = Some((transfer_id, reason));
        self.reply(Reply::Refuse {
            reason,
            transfer_id,
        });
        self.maybe_finish();
    }

    fn on_segment(&mut self, segment: XferSegment<'_>) {
        let transfer_id = segment.transfer_id;
        if let Some((_, reason)) = self
            .refused_in
            .filter(|(refused, _)| !segment.is_start() && *refused == transfer_id)
        {
            // Segments that crossed our XFER_REFUSE are refused again (§5.2.4).
            self.reply(Reply::Refuse {
                reason,
                transfer_id,
            });
            return;
        }
        if segment.is_start() {
            // The peer has moved on from any transfer we refused.
            self.refused_in = None;
            if let Some(current) = &self.incoming {
                let current = current.transfer_id;
                return self.fail(PeerError::InterleavedTransfer {
                    current,
                    new: transfer_id,
                });
            }
            if self.terminating() {
                return self.refuse_incoming(transfer_id, XferRefuseReason::SessionTerminating);
            }
            let mut declared = None;
            for item in codec::extension_items(segment.extensions) {
                match item {
                    Err(_) => {
                        return self
                            .refuse_incoming(transfer_id, XferRefuseReason::ExtensionFailure);
                    }
                    Ok(item) => {
                        // dtn7-rs also uses type 0x0001 for a bundle ID of another length (its
                        // refuse-existing-bundles option): only a first, 8-octet item is a
                        // Transfer Length; anything else is an unknown item.
                        let total = <[u8; 8]>::try_from(item.value)
                            .ok()
                            .map(u64::from_be_bytes)
                            .filter(|_| {
                                item.item_type == TRANSFER_LENGTH_EXTENSION && declared.is_none()
                            });
                        if total.is_some() {
                            declared = total;
                        } else if item.is_critical() {
                            return self
                                .refuse_incoming(transfer_id, XferRefuseReason::ExtensionFailure);
                        }
                    }
                }
            }
            if declared.is_some_and(|d| d > self.config.transfer_mru) {
                return self.refuse_incoming(transfer_id, XferRefuseReason::NotAcceptable);
            }
            self.incoming = Some(InTransfer {
                transfer_id,
                data: Vec::new(),
                declared,
            });
        }
        let transfer_mru = self.config.transfer_mru;
        let Some(t) = self
            .incoming
            .as_mut()
            .filter(|t| t.transfer_id == transfer_id)
        else {
            self.reject(MsgRejectReason::Unexpected, MsgType::XferSegment.code());
            return self.fail(PeerError::UnknownTransfer(transfer_id));
        };
        let length = wire_len(t.data.len()).saturating_add(wire_len(segment.data.len()));
        let declared = t.declared;
        if length > transfer_mru
            || declared.is_some_and(|d| length > d || (segment.is_end() && length != d))
        {
            return self.refuse_incoming(transfer_id, XferRefuseReason::NotAcceptable);
        }
        t.data.extend_from_slice(segment.data);
        if segment.is_end() {
            let bundle = self.incoming.take().map(|t| t.data).unwrap_or_default();
            self.reply(Reply::Decision {
                flags: segment.flags,
                transfer_id,
                length,
            });
            self.events.push_back(Event::BundleReceived {
                transfer_id,
                bundle,
            });
        } else {
            self.reply(Reply::Ack {
                flags: segment.flags,
                transfer_id,
                length,
            });
        }
    }

    /// Queues a reply to the peer's transfers, in order behind undecided bundles.
    fn reply(&mut self, reply: Reply) {
        self.replies.push_back(reply);
        self.flush_replies();
    }

    /// Moves replies into `tx` up to the first bundle awaiting the caller's decision.
    fn flush_replies(&mut self) {
        while let Some(reply) = self.replies.front() {
            let msg = match *reply {
                Reply::Decision { .. } => break,
                Reply::Ack {
                    flags,
                    transfer_id,
                    length,
                } => Msg::XferAck {
                    flags,
                    transfer_id,
                    length,
                },
                Reply::Refuse {
                    reason,
                    transfer_id,
                } => Msg::XferRefuse {
                    reason,
                    transfer_id,
                },
            };
            self.push(&msg);
            self.replies.pop_front();
        }
    }

    fn decide(
        &mut self,
        transfer_id: u64,
        refuse: Option<XferRefuseReason>,
    ) -> Result<(), TransferError> {
        if self.phase == Phase::Closed {
            return Err(TransferError::Closed);
        }
        let slot = self
            .replies
            .iter_mut()
            .find(|r| matches!(r, Reply::Decision { transfer_id: t, .. } if *t == transfer_id));
        let Some(slot) = slot else {
            return Err(TransferError::UnknownTransfer(transfer_id));
        };
        if let Reply::Decision { flags, length, .. } = *slot {
            *slot = match refuse {
                None => Reply::Ack {
                    flags,
                    transfer_id,
                    length,
                },
                Some(reason) => Reply::Refuse {
                    reason,
                    transfer_id,
                },
            };
        }
        self.flush_replies();
        self.flush_term();
        self.maybe_finish();
        Ok(())
    }

    /// Whether we ever used `transfer_id`.
    fn issued(&self, transfer_id: u64) -> bool {
        transfer_id >= FIRST_TRANSFER_ID
            && (transfer_id < self.next_transfer_id || self.ids_exhausted)
    }

    fn on_ack(&mut self, transfer_id: u64, length: u64) {
        let Some(index) = self
            .sending
            .iter()
            .position(|t| t.transfer_id == transfer_id)
        else {
            return self.reject(MsgRejectReason::Unexpected, MsgType::XferAck.code());
        };
        let Some(t) = self.sending.get_mut(index) else {
            return;
        };
        if length > t.sent {
            let sent = t.sent;
            return self.fail(PeerError::AckBeyondSent {
                transfer_id,
                acked: length,
                sent,
            });
        }
        // Acks arrive in order over TCP; a smaller one is stale and changes nothing.
        t.acked = t.acked.max(length);
        if t.all_sent && t.acked == t.total {
            let id = t.id;
            self.sending.remove(index);
            self.events.push_back(Event::BundleSent { id });
            self.maybe_finish();
        }
    }

    fn on_refuse(&mut self, reason: XferRefuseReason, transfer_id: u64) {
        if let Some(index) = self
            .sending
            .iter()
            .position(|t| t.transfer_id == transfer_id)
        {
            if let Some(t) = self.sending.remove(index) {
                self.events
                    .push_back(Event::BundleRefused { id: t.id, reason });
            }
            // The refused transfer may have held back our SESS_TERM.
            self.flush_term();
            self.maybe_finish();
        } else if !self.issued(transfer_id) {
            self.reject(MsgRejectReason::Unexpected, MsgType::XferRefuse.code());
        }
        // A refusal of a transfer already over crossed our last segment or its ack: ignore.
    }

    /// Writes the next segment of the current transfer, starting the next queued bundle when
    /// none is in progress (and the session is not ending).
    fn emit_segment(&mut self, out: &mut Vec<u8>) {
        let Some(peer) = &self.peer else { return };
        let segment_cap = self.config.max_segment_len.min(peer.segment_mru);
        let transfer_mru = peer.transfer_mru;
        if self.sending.back().is_none_or(|t| t.all_sent) {
            if self.terminating() {
                return;
            }
            let Some(q) = self.queue.pop_front() else {
                return;
            };
            if self.ids_exhausted {
                // Every transfer ID is used: end the session (§5.2.1); the bundle fails.
                self.queue.push_front(q);
                self.begin_termination(SessTermReason::ResourceExhaustion);
                return;
            }
            let total = wire_len(q.bundle.len());
            if total > transfer_mru {
                // Only reachable for bundles queued before the MRU was known, which
                // `on_sess_init` screens; kept so the rule holds whatever the order.
                self.events.push_back(Event::BundleTooLarge {
                    id: q.id,
                    len: total,
                    peer_transfer_mru: transfer_mru,
                });
                return;
            }
            let transfer_id = self.next_transfer_id;
            match self.next_transfer_id.checked_add(1) {
                Some(next) => self.next_transfer_id = next,
                None => self.ids_exhausted = true,
            }
            self.sending.push_back(OutTransfer {
                transfer_id,
                id: q.id,
                data: q.bundle,
                total,
                sent: 0,
                all_sent: false,
                acked: 0,
            });
        }
        let Some(t) = self.sending.back_mut() else {
            return;
        };
        let offset = t.sent;
        let len = (t.total - offset).min(segment_cap);
        let end = offset + len;
        let mut flags = 0;
        if offset == 0 {
            flags |= segment_flags::START;
        }
        if end == t.total {
            flags |= segment_flags::END;
        }
        let (Ok(from), Ok(to)) = (usize::try_from(offset), usize::try_from(end)) else {
            return;
        };
        let data = t.data.get(from..to).unwrap_or_default();
        let _ = codec::encode(
            &Msg::XferSegment(XferSegment {
                flags,
                transfer_id: t.transfer_id,
                extensions: &[],
                data,
            }),
            out,
        );
        t.sent = end;
        if flags & segment_flags::END != 0 {
            t.all_sent = true;
            t.data = Vec::new();
            self.flush_term();
        }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("phase", &self.phase)
            .field("peer", &self.peer)
            .field("queued", &self.queue.len())
            .field("sending", &self.sending.len())
            .field("receiving", &self.incoming.as_ref().map(|t| t.transfer_id))
            .finish_non_exhaustive()
    }
}

//! One TCPCLv3 connection (RFC 7242) as a sans-IO state machine: bytes and time in, bytes,
//! events and a deadline out. Same methods and poll order as the TCPCLv4
//! [`crate::cla::tcpcl::Session`], so a driver handles both alike.
//!
//! # Method classes and poll order
//! - Getters: [`Session::role`], [`Session::is_established`], [`Session::is_closed`],
//!   [`Session::peer`], [`Session::keepalive_s`], [`Session::acks`], [`Session::refusal`].
//! - Inputs: [`Session::handle_bytes`] (any split of the received stream),
//!   [`Session::handle_eof`] (the peer closed the stream or the socket failed),
//!   [`Session::handle_timeout`] (the deadline of [`Session::poll_timeout`] passed; an early
//!   or repeated call is a harmless no-op).
//! - Commands: [`Session::send_bundle`], [`Session::accept_transfer`],
//!   [`Session::refuse_transfer`], [`Session::close`].
//! - Outputs, to poll after every input or command, in this order:
//!   1. [`Session::poll_transmit`] while the socket takes data, and only once what it returned
//!      before is written (without acks, the next call is what confirms a bundle as sent).
//!      Each call appends the pending control messages and at most one DATA_SEGMENT (preceded
//!      by a LENGTH when the peer asked for those), so the driver never buffers more than one
//!      segment beyond the socket.
//!   2. [`Session::poll_event`] until `None`.
//!   3. [`Session::poll_timeout`], to re-arm the driver's timer.
//!
//!   After [`Event::Closed`], drain `poll_transmit` (it may still hold a final SHUTDOWN or
//!   acknowledgements), write it, then close the socket.
//!
//! Time is a millisecond count passed to every input and command; any monotonic origin works.
//!
//! # Protocol
//! - Contact (§4): both sides send their contact header as soon as the connection is up (RFC
//!   7242 §4.1, unlike TCPCLv4 the passive side does not wait), so [`Session::new`] queues
//!   ours for either [`Role`]; bundles flow once the peer's header is in. Our header carries
//!   [`SessionConfig::node_id`] and the flags REQUEST_ACK, REFUSAL and REQUEST_LENGTH as
//!   configured; never REACTIVE_FRAGMENTATION. Negotiated: keepalive = min of both offers (0
//!   disables keepalives and the idle timeout); ACK_SEGMENTs are used only when both sides
//!   request them; refusal only when acks are on and both sides support it; we send LENGTH
//!   before each bundle when the peer requests it. Reactive fragmentation is never used.
//! - Sending (§5.2): bundles go out in the order queued, each in DATA_SEGMENTs of at most
//!   [`SessionConfig::max_segment_len`] octets (by default the whole bundle in one segment:
//!   pyd3tn and µD3TN accept nothing else). With acks, a bundle counts as sent
//!   ([`Event::BundleSent`]) when an ACK_SEGMENT covers its whole length; ACK_SEGMENTs and
//!   REFUSE_BUNDLEs apply to the oldest bundle not yet answered (§5.4: bundles are identified
//!   by order), and a refused bundle still being segmented is abandoned. Without acks a bundle
//!   counts as sent once its last segment is written: at the first `poll_transmit` call after
//!   the one that handed that segment out (a driver calls it again only when everything it got
//!   before is written, see the poll order), which is when [`Event::BundleSent`] is queued; so
//!   poll events again after writing. If the session ends first, the bundle fails (the peer
//!   may then get it twice, never zero times).
//! - Receiving (§5.2–§5.5): segment data goes straight into the bundle (no segment buffer);
//!   a bundle may not exceed [`SessionConfig::max_bundle_len`]. With acks, each segment but the
//!   last is acknowledged at once with the cumulative length; the last acknowledgement waits
//!   for [`Session::accept_transfer`] (sent only once the bundle is stored) or is replaced by
//!   REFUSE_BUNDLE ([`Session::refuse_transfer`], when refusal is negotiated; without it the
//!   bundle is acknowledged and the caller drops it). Replies leave in bundle order. TCPCLv3
//!   has no transfer IDs: the session numbers received bundles from
//!   [`FIRST_TRANSFER_ID`] for [`Event::BundleReceived`] and the answer. A bundle over the
//!   limit is refused with "resources exhausted" when refusal is negotiated (as soon as a
//!   LENGTH message announces it, else at the segment that crosses the limit) and its later
//!   segments are discarded unread; without refusal the connection ends with SHUTDOWN "busy".
//! - Upkeep (§5.6): a KEEPALIVE when nothing was sent for the negotiated interval; without
//!   any received byte for twice that interval the session sends SHUTDOWN "idle timeout" and
//!   closes. Any received byte counts, so a long segment arriving slowly is not idle.
//! - Termination (§6.1): [`Session::close`] or a received SHUTDOWN puts the session in
//!   Ending; queued bundles fail at once ([`Event::BundleFailed`]) and [`Session::send_bundle`]
//!   is refused. Ours: the bundle being segmented is finished and every received bundle
//!   answered, then SHUTDOWN goes out (nothing but acknowledgements follows it); the session
//!   closes when every sent bundle is answered and no received bundle is open. The peer's:
//!   it sends no more data, so a bundle it had not finished is dropped and ours being
//!   segmented is abandoned (it fails); the session closes once our answers are out and the
//!   peer has answered what we sent (it may still acknowledge after its SHUTDOWN). TCPCLv3 has
//!   no SHUTDOWN reply: we do not answer one. [`SessionConfig::ending_timeout_ms`] bounds
//!   Ending; the end of the stream ends it at once.
//!
//! # Peer errors
//! A failed session stays closed; [`CloseReason::PeerError`] names the error.
//!
//! | Received | Response |
//! |---|---|
//! | contact header without "dtn!" | close, no SHUTDOWN |
//! | contact header version ≠ 3 | SHUTDOWN "version mismatch", close (§4.2) |
//! | EID over [`MAX_EID_LEN`], SDNV over 64 bits | SHUTDOWN (no reason), close |
//! | message type 0x0 or 0x7–0xf | SHUTDOWN (no reason), close |
//! | DATA_SEGMENT without S while no bundle is open | SHUTDOWN (no reason), close |
//! | DATA_SEGMENT with S while a bundle is open | SHUTDOWN (no reason), close |
//! | ACK_SEGMENT beyond the octets sent | SHUTDOWN (no reason), close |
//! | bundle over `max_bundle_len`, refusal negotiated | REFUSE_BUNDLE "resources exhausted", discard it, continue |
//! | bundle over `max_bundle_len`, no refusal | SHUTDOWN "busy", close |
//! | ACK_SEGMENT without acks negotiated or with nothing to acknowledge; REFUSE_BUNDLE with nothing to refuse; LENGTH inside a bundle | ignored |
//!
//! After a peer error the session closes at once. Unacknowledged outgoing bundles are reported
//! as [`Event::BundleFailed`] before [`Event::Closed`].
//!
//! # Panics
//! None: no input, split, or call order panics.

use std::collections::VecDeque;
use std::fmt;

use super::codec::{
    self, CodecError, ContactHeader, Head, Msg, RefuseReason, ShutdownReason, contact_flags,
    segment_flags,
};

/// Keepalive interval offered by default, in seconds.
pub const DEFAULT_KEEPALIVE_S: u16 = 30;
/// Default largest bundle accepted from the peer.
pub const DEFAULT_MAX_BUNDLE_LEN: u64 = 64 << 20;
/// Default cap on the data of the segments we send: none, each bundle goes as one segment
/// (pyd3tn's and µD3TN's TCPCLv3 accept only unsegmented bundles).
pub const DEFAULT_MAX_SEGMENT_LEN: u64 = u64::MAX;
/// Default limit on the contact header exchange.
pub const DEFAULT_NEGOTIATION_TIMEOUT_MS: u64 = 60_000;
/// Default limit on the Ending state.
pub const DEFAULT_ENDING_TIMEOUT_MS: u64 = 30_000;
/// Longest EID accepted in the peer's contact header, and in ours.
pub const MAX_EID_LEN: u64 = 4096;
/// The number given to the first bundle received on a session.
pub const FIRST_TRANSFER_ID: u64 = 1;

/// Which end opened the TCP connection. In TCPCLv3 both ends behave the same; the role is
/// kept for the driver and its logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We connected.
    Active,
    /// We accepted.
    Passive,
}

/// Settings of one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our EID sent in the contact header, e.g. "ipn:10.0" (at most [`MAX_EID_LEN`] octets).
    pub node_id: String,
    /// Keepalive interval offered, in seconds; 0 disables keepalives.
    pub keepalive_s: u16,
    /// Whether we request ACK_SEGMENTs (used only if the peer requests them too).
    pub request_acks: bool,
    /// Whether we support bundle refusal (used only with acks and if the peer supports it).
    pub allow_refusal: bool,
    /// Whether we ask the peer to send LENGTH messages.
    pub request_length: bool,
    /// Largest bundle accepted from the peer; also bounds what is held per bundle.
    pub max_bundle_len: u64,
    /// Cap on the data of the segments we send.
    pub max_segment_len: u64,
    /// Time allowed for the peer's contact header.
    pub negotiation_timeout_ms: u64,
    /// Time allowed in the Ending state before the session closes regardless.
    pub ending_timeout_ms: u64,
}

impl SessionConfig {
    /// The defaults (the `DEFAULT_*` constants, acks and refusal requested, no LENGTH
    /// requested) with the given EID.
    pub fn new(node_id: impl Into<String>) -> SessionConfig {
        SessionConfig {
            node_id: node_id.into(),
            keepalive_s: DEFAULT_KEEPALIVE_S,
            request_acks: true,
            allow_refusal: true,
            request_length: false,
            max_bundle_len: DEFAULT_MAX_BUNDLE_LEN,
            max_segment_len: DEFAULT_MAX_SEGMENT_LEN,
            negotiation_timeout_ms: DEFAULT_NEGOTIATION_TIMEOUT_MS,
            ending_timeout_ms: DEFAULT_ENDING_TIMEOUT_MS,
        }
    }

    /// The contact header flags this configuration sends.
    pub fn contact_flags(&self) -> u8 {
        let mut flags = 0;
        if self.request_acks {
            flags |= contact_flags::REQUEST_ACK;
            // RFC 7242 §4.1: refusal support is only valid together with acks.
            if self.allow_refusal {
                flags |= contact_flags::REFUSAL;
            }
        }
        if self.request_length {
            flags |= contact_flags::REQUEST_LENGTH;
        }
        flags
    }
}

/// A [`SessionConfig`] that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The node ID is over [`MAX_EID_LEN`] octets.
    NodeIdTooLong(usize),
    /// `max_segment_len` is 0: no bundle could be sent.
    ZeroMaxSegmentLen,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NodeIdTooLong(len) => write!(
                f,
                "node ID of {len} octets exceeds the {MAX_EID_LEN} allowed in a TCPCLv3 contact header"
            ),
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
    /// The session is ending: no new bundle may start (RFC 7242 §6.1).
    Ending,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("TCPCLv3 connection is closed"),
            SendError::Ending => {
                f.write_str("TCPCLv3 connection is shutting down, no new bundle may start")
            }
        }
    }
}

impl std::error::Error for SendError {}

/// Why [`Session::accept_transfer`] or [`Session::refuse_transfer`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferError {
    /// The session is closed; with acks the peer will send the bundle again elsewhere.
    Closed,
    /// No received bundle with this number awaits a decision.
    UnknownTransfer(u64),
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::Closed => f.write_str("TCPCLv3 connection is closed"),
            TransferError::UnknownTransfer(id) => {
                write!(f, "no received bundle {id} awaits a decision")
            }
        }
    }
}

impl std::error::Error for TransferError {}

/// A protocol error of the peer that ended the session (see the module table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerError {
    /// The contact header does not start with "dtn!".
    BadMagic,
    /// The contact header has another version than 3.
    VersionMismatch(u8),
    /// A contact header or message could not be decoded (SDNV overflow, EID too long).
    Malformed(CodecError),
    /// A message type RFC 7242 does not define.
    UnknownMessageType(u8),
    /// A DATA_SEGMENT without the S flag while no bundle was open.
    SegmentWithoutStart,
    /// A DATA_SEGMENT with the S flag before the open bundle's E flag.
    InterleavedBundle,
    /// An ACK_SEGMENT acknowledging more than was sent of the bundle.
    AckBeyondSent {
        /// Acknowledged length.
        acked: u64,
        /// Octets sent of the bundle.
        sent: u64,
    },
    /// A bundle over our limit while refusal is not negotiated.
    BundleTooLarge {
        /// Length reached (or announced).
        len: u64,
        /// Our limit.
        max: u64,
    },
}

impl PeerError {
    /// Whether we answer with a SHUTDOWN, and with which reason code.
    fn shutdown(&self) -> Option<Option<ShutdownReason>> {
        match self {
            PeerError::BadMagic => None,
            PeerError::VersionMismatch(_) => Some(Some(ShutdownReason::VersionMismatch)),
            PeerError::BundleTooLarge { .. } => Some(Some(ShutdownReason::Busy)),
            _ => Some(None),
        }
    }
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::BadMagic => {
                f.write_str("peer's contact header does not start with \"dtn!\"")
            }
            PeerError::VersionMismatch(v) => {
                write!(f, "peer speaks TCPCL version {v}, not 3 (RFC 7242 §4.2)")
            }
            PeerError::Malformed(e) => write!(f, "malformed message from the peer: {e}"),
            PeerError::UnknownMessageType(t) => {
                write!(f, "peer sent unknown message type {t:#x} (RFC 7242 §5.1)")
            }
            PeerError::SegmentWithoutStart => {
                f.write_str("peer sent a DATA_SEGMENT without S outside a bundle (RFC 7242 §5.2)")
            }
            PeerError::InterleavedBundle => {
                f.write_str("peer started a bundle before ending the previous one (RFC 7242 §5.2)")
            }
            PeerError::AckBeyondSent { acked, sent } => write!(
                f,
                "peer acknowledged {acked} octets of a bundle, only {sent} were sent (RFC 7242 §5.3)"
            ),
            PeerError::BundleTooLarge { len, max } => write!(
                f,
                "peer sent a bundle of at least {len} octets, over our {max}-octet limit, and bundle refusal is not negotiated"
            ),
        }
    }
}

impl std::error::Error for PeerError {}

/// Why a session closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// A SHUTDOWN ended it: ours ([`Session::close`], idle timeout) or the peer's
    /// (`by_peer` of [`Event::Closed`] says which). Also the reason when Ending timed out.
    Shutdown {
        /// Its reason code, if it had one.
        reason: Option<ShutdownReason>,
        /// The reconnection delay it asked for, in seconds (0: never reconnect), if any.
        delay_s: Option<u64>,
    },
    /// The peer broke the protocol; the response is in the module table.
    PeerError(PeerError),
    /// The peer's contact header did not arrive in time.
    NegotiationTimeout,
    /// The stream ended ([`Session::handle_eof`]) without a SHUTDOWN.
    ConnectionLost,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Shutdown { reason, delay_s } => {
                f.write_str("shut down")?;
                if let Some(r) = reason {
                    write!(f, ": {r}")?;
                }
                match delay_s {
                    Some(0) => f.write_str(" (do not reconnect)"),
                    Some(d) => write!(f, " (reconnect after {d} s)"),
                    None => Ok(()),
                }
            }
            CloseReason::PeerError(e) => e.fmt(f),
            CloseReason::NegotiationTimeout => f.write_str("contact header exchange timed out"),
            CloseReason::ConnectionLost => f.write_str("connection lost"),
        }
    }
}

/// The peer's contact header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerParams {
    /// The peer's EID as sent (decoded lossily as UTF-8; not authenticated).
    pub node_id: String,
    /// The peer's contact header flags.
    pub flags: u8,
    /// Keepalive interval the peer offered, in seconds.
    pub keepalive_s: u16,
}

/// Something the caller must know, from [`Session::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The peer's contact header is in; bundles flow from now on.
    Established {
        /// The peer's EID as sent (not authenticated).
        peer_node_id: String,
        /// Negotiated keepalive interval, in seconds (0: no keepalives).
        keepalive_s: u16,
        /// Whether ACK_SEGMENTs are used.
        acks: bool,
        /// Whether bundles may be refused (REFUSE_BUNDLE).
        refusal: bool,
        /// The peer's contact header flags.
        peer_flags: u8,
    },
    /// The peer sent a whole bundle. Answer with [`Session::accept_transfer`] once it is
    /// stored, or [`Session::refuse_transfer`].
    BundleReceived {
        /// The session's number for it, for the answer.
        transfer_id: u64,
        /// The bundle.
        bundle: Vec<u8>,
    },
    /// The bundle is through: acknowledged in full, or (without acks) written whole (see
    /// [`Session::poll_transmit`]).
    BundleSent {
        /// The caller's handle from [`Session::send_bundle`].
        id: u64,
    },
    /// The peer refused the bundle (REFUSE_BUNDLE).
    BundleRefused {
        /// The caller's handle.
        id: u64,
        /// The peer's reason; "completed" means the peer already has it.
        reason: RefuseReason,
    },
    /// The session ended before the bundle was through; queue it elsewhere.
    BundleFailed {
        /// The caller's handle.
        id: u64,
    },
    /// The session is over; the last event. Drain [`Session::poll_transmit`], then close the
    /// socket.
    Closed {
        /// Why.
        reason: CloseReason,
        /// Whether the peer started the termination (SHUTDOWN or end of stream).
        by_peer: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the peer's contact header (ours is queued already).
    AwaitContact,
    Established,
    Closed,
}

/// What the receiver is reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rx {
    Contact,
    Head,
    /// Inside DATA_SEGMENT data: octets left, and whether the segment has the E flag.
    Data {
        remaining: u64,
        end: bool,
    },
}

/// A bundle handed to [`Session::send_bundle`] and not started yet.
struct Queued {
    id: u64,
    bundle: Vec<u8>,
}

/// An outgoing bundle from its first segment to its answer.
struct OutBundle {
    id: u64,
    /// Emptied once every segment is written: the caller keeps its own copy until
    /// [`Event::BundleSent`].
    data: Vec<u8>,
    total: u64,
    /// Octets written into segments so far.
    sent: u64,
    /// Whether the E segment is written.
    all_sent: bool,
    acked: u64,
}

/// A bundle the peer is sending, between its S and E segments.
struct InBundle {
    transfer_id: u64,
    data: Vec<u8>,
    /// Refused: its data is dropped until the E segment or the next S segment.
    discard: bool,
}

/// An answer to the peer's bundles, released in bundle order.
enum Reply {
    Ack {
        length: u64,
    },
    Refuse {
        reason: RefuseReason,
    },
    /// The final ACK_SEGMENT of a received bundle, held until the caller decides.
    Decision {
        transfer_id: u64,
        length: u64,
    },
}

/// Where termination stands.
#[derive(Default)]
struct Termination {
    /// Our SHUTDOWN, held while a bundle is being segmented or an answer is pending.
    to_send: Option<Option<ShutdownReason>>,
    /// Whether our SHUTDOWN is written.
    sent: bool,
    /// Whether the peer's SHUTDOWN arrived.
    received: bool,
    /// The SHUTDOWN that started it (reason, delay): the initiator's.
    reason: Option<(Option<ShutdownReason>, Option<u64>)>,
    /// Whether the peer initiated.
    by_peer: bool,
    /// When Ending gives up.
    deadline: Option<u64>,
}

/// A TCPCLv3 session; see the module documentation.
pub struct Session {
    role: Role,
    config: SessionConfig,
    now: u64,
    phase: Phase,
    rx_state: Rx,
    /// A received prefix of a contact header or message head.
    rx: Vec<u8>,
    /// Encoded control messages for the next [`Session::poll_transmit`].
    tx: Vec<u8>,
    events: VecDeque<Event>,
    peer: Option<PeerParams>,
    /// Negotiated keepalive in milliseconds; 0 disables keepalives and the idle timeout.
    keepalive_ms: u64,
    acks: bool,
    refusal: bool,
    send_length: bool,
    negotiation_deadline: u64,
    last_tx: u64,
    last_rx: u64,
    next_in_id: u64,
    queue: VecDeque<Queued>,
    /// Started bundles not yet answered, oldest first; only the last may have unsent data.
    sending: VecDeque<OutBundle>,
    /// Without acks: bundles whose last segment the previous `poll_transmit` handed out.
    handed_out: Vec<u64>,
    incoming: Option<InBundle>,
    /// A LENGTH announced an oversize bundle and we refused it: discard the next one.
    refuse_next: bool,
    replies: VecDeque<Reply>,
    term: Termination,
}

/// An in-memory length on the wire.
fn wire_len(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Session {
    /// Starts a session at time `now_ms` and queues our contact header (both roles send it at
    /// once, RFC 7242 §4.1).
    ///
    /// # Errors
    /// [`ConfigError`] when the configuration cannot be sent or used.
    pub fn new(role: Role, config: SessionConfig, now_ms: u64) -> Result<Session, ConfigError> {
        if wire_len(config.node_id.len()) > MAX_EID_LEN {
            return Err(ConfigError::NodeIdTooLong(config.node_id.len()));
        }
        if config.max_segment_len == 0 {
            return Err(ConfigError::ZeroMaxSegmentLen);
        }
        let negotiation_deadline = now_ms.saturating_add(config.negotiation_timeout_ms);
        let mut tx = Vec::new();
        ContactHeader {
            flags: config.contact_flags(),
            keepalive_s: config.keepalive_s,
            eid: config.node_id.as_bytes(),
        }
        .encode(&mut tx);
        Ok(Session {
            role,
            config,
            now: now_ms,
            phase: Phase::AwaitContact,
            rx_state: Rx::Contact,
            rx: Vec::new(),
            tx,
            events: VecDeque::new(),
            peer: None,
            keepalive_ms: 0,
            acks: false,
            refusal: false,
            send_length: false,
            negotiation_deadline,
            last_tx: now_ms,
            last_rx: now_ms,
            next_in_id: FIRST_TRANSFER_ID,
            queue: VecDeque::new(),
            sending: VecDeque::new(),
            handed_out: Vec::new(),
            incoming: None,
            refuse_next: false,
            replies: VecDeque::new(),
            term: Termination::default(),
        })
    }

    // ----- getters -----

    /// Whether we opened the connection.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the peer's contact header is in and the session has not closed.
    pub fn is_established(&self) -> bool {
        self.phase == Phase::Established
    }

    /// Whether the session is over ([`Event::Closed`] has been queued).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The peer's contact header, once received.
    pub fn peer(&self) -> Option<&PeerParams> {
        self.peer.as_ref()
    }

    /// The negotiated keepalive interval in seconds, once established.
    pub fn keepalive_s(&self) -> Option<u16> {
        let peer = self.peer.as_ref()?;
        Some(self.config.keepalive_s.min(peer.keepalive_s))
    }

    /// Whether ACK_SEGMENTs are used (false before establishment).
    pub fn acks(&self) -> bool {
        self.acks
    }

    /// Whether bundle refusal is negotiated (false before establishment).
    pub fn refusal(&self) -> bool {
        self.refusal
    }

    // ----- inputs -----

    /// Takes bytes received from the peer, split anywhere.
    pub fn handle_bytes(&mut self, now_ms: u64, data: &[u8]) {
        self.tick(now_ms);
        if self.phase == Phase::Closed || data.is_empty() {
            return;
        }
        // Any byte shows the peer is alive, even inside a long segment.
        self.last_rx = self.now;
        if self.rx.is_empty() {
            self.consume(data);
        } else {
            // A head was cut: join it with what follows (heads are short, see `consume`).
            let mut buf = std::mem::take(&mut self.rx);
            buf.extend_from_slice(data);
            self.consume(&buf);
        }
    }

    /// The peer closed the stream, or reading from it failed.
    pub fn handle_eof(&mut self, now_ms: u64) {
        self.tick(now_ms);
        if self.phase == Phase::Closed {
            return;
        }
        match self.term.reason {
            Some((reason, delay_s)) if self.term.sent || self.term.received => {
                let by_peer = self.term.by_peer;
                self.finish(CloseReason::Shutdown { reason, delay_s }, by_peer);
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
            Phase::AwaitContact => {
                if now >= self.negotiation_deadline {
                    // The peer may not speak TCPCL at all: just close.
                    self.finish(CloseReason::NegotiationTimeout, false);
                }
            }
            Phase::Established => {
                if self.term.deadline.is_some_and(|d| now >= d) {
                    let (reason, delay_s) = self.term.reason.unwrap_or((None, None));
                    // A SHUTDOWN still held back goes out before the session gives up.
                    if self.term.to_send.is_some() {
                        self.send_shutdown_now(reason);
                    }
                    let by_peer = self.term.by_peer;
                    self.finish(CloseReason::Shutdown { reason, delay_s }, by_peer);
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
                    let reason = Some(ShutdownReason::IdleTimeout);
                    self.send_shutdown_now(reason);
                    self.finish(
                        CloseReason::Shutdown {
                            reason,
                            delay_s: None,
                        },
                        false,
                    );
                    return;
                }
                // Nothing but acknowledgements may follow our SHUTDOWN.
                if !self.term.sent && now >= self.last_tx.saturating_add(self.keepalive_ms) {
                    codec::encode(&Msg::Keepalive, &mut self.tx);
                    // Counted as sent now, so the timer moves on even before poll_transmit.
                    self.last_tx = now;
                }
            }
        }
    }

    // ----- commands -----

    /// Queues `bundle` for sending; `id` is the caller's handle, returned in
    /// [`Event::BundleSent`], [`Event::BundleRefused`] or [`Event::BundleFailed`]. Bundles go
    /// out in the order queued, once the peer's contact header is in.
    ///
    /// # Errors
    /// [`SendError::Closed`], [`SendError::Ending`]. The bundle is dropped.
    pub fn send_bundle(&mut self, now_ms: u64, id: u64, bundle: Vec<u8>) -> Result<(), SendError> {
        self.tick(now_ms);
        if self.phase == Phase::Closed {
            return Err(SendError::Closed);
        }
        if self.terminating() {
            return Err(SendError::Ending);
        }
        self.queue.push_back(Queued { id, bundle });
        Ok(())
    }

    /// Sends the final ACK_SEGMENT of a received bundle ([`Event::BundleReceived`]); call it
    /// once the bundle is stored. Without acks it only records the decision.
    ///
    /// # Errors
    /// [`TransferError::Closed`], or [`TransferError::UnknownTransfer`] when no received
    /// bundle with this number awaits a decision.
    pub fn accept_transfer(&mut self, transfer_id: u64) -> Result<(), TransferError> {
        self.decide(transfer_id, None)
    }

    /// Refuses a received bundle ([`Event::BundleReceived`]) with REFUSE_BUNDLE instead of its
    /// final ACK_SEGMENT (§5.4). Without negotiated refusal the peer cannot be told: the
    /// bundle is acknowledged (with acks) and the caller simply drops it.
    ///
    /// # Errors
    /// As [`Session::accept_transfer`].
    pub fn refuse_transfer(
        &mut self,
        transfer_id: u64,
        reason: RefuseReason,
    ) -> Result<(), TransferError> {
        self.decide(transfer_id, Some(reason))
    }

    /// Ends the session with a SHUTDOWN carrying `reason` (or none) (§6.1). Queued bundles
    /// fail at once; the bundle being segmented is finished and every received bundle
    /// answered, then SHUTDOWN goes out, and the session closes when the bundles sent are
    /// answered. Before the peer's contact header, SHUTDOWN goes out (behind our contact
    /// header) and the session closes at once. A no-op once terminating.
    pub fn close(&mut self, now_ms: u64, reason: Option<ShutdownReason>) {
        self.tick(now_ms);
        match self.phase {
            Phase::Closed => {}
            Phase::AwaitContact => {
                self.send_shutdown_now(reason);
                self.finish(
                    CloseReason::Shutdown {
                        reason,
                        delay_s: None,
                    },
                    false,
                );
            }
            Phase::Established => {
                if self.terminating() {
                    return;
                }
                self.term.to_send = Some(reason);
                self.term.reason = Some((reason, None));
                self.term.by_peer = false;
                self.enter_ending();
            }
        }
    }

    // ----- outputs -----

    /// Appends the bytes to write to the socket to `out`: pending control messages and at
    /// most one DATA_SEGMENT. Returns how many were appended; 0 means nothing to send now.
    /// Call it only once what it returned before is written: without acks, this call is what
    /// confirms the bundles whose last segment went out in the previous one
    /// ([`Event::BundleSent`]).
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        if !self.handed_out.is_empty() {
            for id in std::mem::take(&mut self.handed_out) {
                self.events.push_back(Event::BundleSent { id });
            }
            self.maybe_finish();
        }
        let start = out.len();
        out.append(&mut self.tx);
        if self.phase == Phase::Established {
            self.emit_segment(out);
            // A SHUTDOWN released by the end of that bundle goes right behind it.
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
            Phase::AwaitContact => Some(self.negotiation_deadline),
            Phase::Established => {
                let mut next = self.term.deadline;
                if self.keepalive_ms > 0 {
                    let mut soonest = self
                        .last_rx
                        .saturating_add(self.keepalive_ms.saturating_mul(2));
                    if !self.term.sent {
                        soonest = soonest.min(self.last_tx.saturating_add(self.keepalive_ms));
                    }
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

    /// Whether no new bundle may start: termination requested, sent or received.
    fn terminating(&self) -> bool {
        self.term.to_send.is_some() || self.term.sent || self.term.received
    }

    /// Reads `input`: heads are decoded in place, segment data moves into the open bundle, and
    /// a trailing partial head is kept in `rx` (at most a contact header with an EID of
    /// [`MAX_EID_LEN`] octets, or [`codec::MAX_HEAD_LEN`] octets).
    fn consume(&mut self, mut input: &[u8]) {
        while !input.is_empty() && self.phase != Phase::Closed {
            match self.rx_state {
                Rx::Data { remaining, end } => {
                    let n = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    let Some((chunk, rest)) = input.split_at_checked(n) else {
                        return;
                    };
                    if let Some(t) = self.incoming.as_mut().filter(|t| !t.discard) {
                        t.data.extend_from_slice(chunk);
                    }
                    input = rest;
                    let remaining = remaining - wire_len(n);
                    if remaining == 0 {
                        self.rx_state = Rx::Head;
                        self.segment_done(end);
                    } else {
                        self.rx_state = Rx::Data { remaining, end };
                    }
                }
                Rx::Contact => match ContactHeader::decode(input, MAX_EID_LEN) {
                    Ok(None) => break,
                    Ok(Some((header, used))) => {
                        input = input.get(used..).unwrap_or_default();
                        self.on_contact(header);
                    }
                    Err(CodecError::BadMagic) => self.fail(PeerError::BadMagic),
                    Err(CodecError::UnsupportedVersion(v)) => {
                        self.fail(PeerError::VersionMismatch(v));
                    }
                    Err(e) => self.fail(PeerError::Malformed(e)),
                },
                Rx::Head => match codec::decode_head(input) {
                    Ok(None) => break,
                    Ok(Some((head, used))) => {
                        input = input.get(used..).unwrap_or_default();
                        self.on_head(head);
                    }
                    Err(CodecError::UnknownMessageType(t)) => {
                        self.fail(PeerError::UnknownMessageType(t));
                    }
                    Err(e) => self.fail(PeerError::Malformed(e)),
                },
            }
        }
        if self.phase != Phase::Closed {
            self.rx.extend_from_slice(input);
        }
    }

    fn on_contact(&mut self, header: ContactHeader<'_>) {
        let acks = self.config.request_acks && header.requests_acks();
        let refusal = acks && self.config.allow_refusal && header.supports_refusal();
        let keepalive_s = self.config.keepalive_s.min(header.keepalive_s);
        let peer_node_id = String::from_utf8_lossy(header.eid).into_owned();
        self.acks = acks;
        self.refusal = refusal;
        self.send_length = header.requests_length();
        self.keepalive_ms = u64::from(keepalive_s) * 1000;
        self.peer = Some(PeerParams {
            node_id: peer_node_id.clone(),
            flags: header.flags,
            keepalive_s: header.keepalive_s,
        });
        self.phase = Phase::Established;
        self.rx_state = Rx::Head;
        self.last_rx = self.now;
        self.events.push_back(Event::Established {
            peer_node_id,
            keepalive_s,
            acks,
            refusal,
            peer_flags: header.flags,
        });
    }

    fn on_head(&mut self, head: Head) {
        match head {
            Head::Segment { flags, len } => self.on_segment_head(flags, len),
            Head::Control(msg) => match msg {
                Msg::Keepalive | Msg::DataSegment { .. } => {}
                Msg::AckSegment { length } => self.on_ack(length),
                Msg::RefuseBundle { reason } => self.on_refuse(reason),
                Msg::Shutdown { reason, delay_s } => self.on_shutdown(reason, delay_s),
                Msg::Length { length } => self.on_length(length),
            },
        }
    }

    fn on_segment_head(&mut self, flags: u8, len: u64) {
        if flags & segment_flags::START != 0 {
            if self.incoming.as_ref().is_some_and(|t| !t.discard) {
                return self.fail(PeerError::InterleavedBundle);
            }
            let transfer_id = self.next_in_id;
            self.next_in_id = self.next_in_id.saturating_add(1);
            // Refused already on its LENGTH: its reply is queued, drop the data.
            let discard = std::mem::take(&mut self.refuse_next);
            self.incoming = Some(InBundle {
                transfer_id,
                data: Vec::new(),
                discard,
            });
        } else if self.incoming.is_none() {
            return self.fail(PeerError::SegmentWithoutStart);
        }
        let max = self.config.max_bundle_len;
        let mut too_large = None;
        if let Some(t) = self.incoming.as_mut().filter(|t| !t.discard) {
            let total = wire_len(t.data.len()).saturating_add(len);
            if total > max {
                if self.refusal {
                    // Earlier segments are acknowledged already, in order (§5.4).
                    t.discard = true;
                    t.data = Vec::new();
                    self.reply(Reply::Refuse {
                        reason: RefuseReason::NoResources,
                    });
                } else {
                    too_large = Some(total);
                }
            }
        }
        if let Some(len) = too_large {
            return self.fail(PeerError::BundleTooLarge { len, max });
        }
        let end = flags & segment_flags::END != 0;
        if len == 0 {
            self.segment_done(end);
        } else {
            self.rx_state = Rx::Data {
                remaining: len,
                end,
            };
        }
    }

    /// The data of a segment is all in.
    fn segment_done(&mut self, end: bool) {
        let Some(t) = self.incoming.as_mut() else {
            return;
        };
        if t.discard {
            if end {
                self.incoming = None;
                self.maybe_finish();
            }
            return;
        }
        let length = wire_len(t.data.len());
        if end {
            let transfer_id = t.transfer_id;
            let bundle = std::mem::take(&mut t.data);
            self.incoming = None;
            self.replies.push_back(Reply::Decision {
                transfer_id,
                length,
            });
            self.events.push_back(Event::BundleReceived {
                transfer_id,
                bundle,
            });
        } else if self.acks {
            self.reply(Reply::Ack { length });
        }
    }

    fn on_length(&mut self, length: u64) {
        // LENGTH comes just before an S segment (§5.5); inside a bundle it is ignored.
        if self.incoming.as_ref().is_some_and(|t| !t.discard) {
            return;
        }
        // The receiver may refuse as soon as LENGTH arrives (§5.5); without refusal the
        // bundle is turned down when its data comes.
        if length > self.config.max_bundle_len && self.refusal && !self.terminating() {
            self.refuse_next = true;
            self.reply(Reply::Refuse {
                reason: RefuseReason::NoResources,
            });
        }
    }

    fn on_ack(&mut self, length: u64) {
        if !self.acks {
            return;
        }
        let Some(t) = self.sending.front_mut() else {
            return;
        };
        if length > t.sent {
            let sent = t.sent;
            return self.fail(PeerError::AckBeyondSent {
                acked: length,
                sent,
            });
        }
        // Acks arrive in order over TCP; a smaller one is stale and changes nothing.
        t.acked = t.acked.max(length);
        if t.all_sent && t.acked == t.total {
            let id = t.id;
            self.sending.pop_front();
            self.events.push_back(Event::BundleSent { id });
            self.flush_term();
            self.maybe_finish();
        }
    }

    fn on_refuse(&mut self, reason: RefuseReason) {
        // The refusal is for the oldest bundle not yet answered (§5.4). If it is the one being
        // segmented, the rest of it is not sent: the next segment starts a new bundle.
        let Some(t) = self.sending.pop_front() else {
            return;
        };
        self.events
            .push_back(Event::BundleRefused { id: t.id, reason });
        self.flush_term();
        self.maybe_finish();
    }

    fn on_shutdown(&mut self, reason: Option<ShutdownReason>, delay_s: Option<u64>) {
        if self.term.received {
            return;
        }
        self.term.received = true;
        // Unless we started the termination, the peer's SHUTDOWN is the one that counts.
        if self.term.reason.is_none() {
            self.term.reason = Some((reason, delay_s));
            self.term.by_peer = true;
        }
        // The peer sends no more data: a bundle it had not finished will not end.
        self.incoming = None;
        self.refuse_next = false;
        // It is closing: stop segmenting ours; the bundle fails.
        if self.sending.back().is_some_and(|t| !t.all_sent)
            && let Some(t) = self.sending.pop_back()
        {
            self.events.push_back(Event::BundleFailed { id: t.id });
        }
        self.enter_ending();
    }

    /// Queues an answer to the peer's bundles, in order behind undecided bundles.
    fn reply(&mut self, reply: Reply) {
        self.replies.push_back(reply);
        self.flush_replies();
    }

    /// Moves answers into `tx` up to the first bundle awaiting the caller's decision.
    fn flush_replies(&mut self) {
        while let Some(reply) = self.replies.front() {
            let msg = match *reply {
                Reply::Decision { .. } => break,
                Reply::Ack { length } => self.acks.then_some(Msg::AckSegment { length }),
                Reply::Refuse { reason } => self.refusal.then_some(Msg::RefuseBundle { reason }),
            };
            if let Some(msg) = msg {
                codec::encode(&msg, &mut self.tx);
            }
            self.replies.pop_front();
        }
    }

    fn decide(
        &mut self,
        transfer_id: u64,
        refuse: Option<RefuseReason>,
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
        if let Reply::Decision { length, .. } = *slot {
            *slot = match refuse {
                Some(reason) if self.refusal => Reply::Refuse { reason },
                _ => Reply::Ack { length },
            };
        }
        self.flush_replies();
        self.flush_term();
        self.maybe_finish();
        Ok(())
    }

    /// Writes a SHUTDOWN now, for endings that do not wait: the one held back if any, else a
    /// new one with `reason`; nothing if ours is out.
    fn send_shutdown_now(&mut self, reason: Option<ShutdownReason>) {
        if self.term.sent {
            return;
        }
        let reason = self.term.to_send.take().unwrap_or(reason);
        self.term.sent = true;
        codec::encode(
            &Msg::Shutdown {
                reason,
                delay_s: None,
            },
            &mut self.tx,
        );
    }

    /// What Ending means on our side: no new bundles, a deadline, SHUTDOWN when possible.
    fn enter_ending(&mut self) {
        let deadline = self.now.saturating_add(self.config.ending_timeout_ms);
        self.term.deadline.get_or_insert(deadline);
        for q in std::mem::take(&mut self.queue) {
            self.events.push_back(Event::BundleFailed { id: q.id });
        }
        self.flush_term();
        self.maybe_finish();
    }

    /// Writes our held SHUTDOWN once no bundle is being segmented and every received bundle is
    /// answered: after SHUTDOWN only acknowledgements may follow (§6.1), and the peer may stop
    /// reading at it.
    fn flush_term(&mut self) {
        if self.sending.back().is_some_and(|t| !t.all_sent) || !self.replies.is_empty() {
            return;
        }
        if let Some(reason) = self.term.to_send.take() {
            self.term.sent = true;
            codec::encode(
                &Msg::Shutdown {
                    reason,
                    delay_s: None,
                },
                &mut self.tx,
            );
        }
    }

    /// Closes the session once a SHUTDOWN is through (ours written, or the peer's received)
    /// and nothing is open in either direction.
    fn maybe_finish(&mut self) {
        if self.phase == Phase::Closed
            || !(self.term.sent || self.term.received)
            || self.term.to_send.is_some()
            || !self.sending.is_empty()
            || !self.handed_out.is_empty()
            || self.incoming.is_some()
            || !self.replies.is_empty()
        {
            return;
        }
        let (reason, delay_s) = self.term.reason.unwrap_or((None, None));
        let by_peer = self.term.by_peer;
        self.finish(CloseReason::Shutdown { reason, delay_s }, by_peer);
    }

    /// Closes the session: fails every bundle not through, then queues [`Event::Closed`].
    fn finish(&mut self, reason: CloseReason, by_peer: bool) {
        if self.phase == Phase::Closed {
            return;
        }
        // Without acks, a last segment handed out but not known to be written may be lost.
        for id in std::mem::take(&mut self.handed_out) {
            self.events.push_back(Event::BundleFailed { id });
        }
        for t in std::mem::take(&mut self.sending) {
            self.events.push_back(Event::BundleFailed { id: t.id });
        }
        for q in std::mem::take(&mut self.queue) {
            self.events.push_back(Event::BundleFailed { id: q.id });
        }
        self.incoming = None;
        // Decided answers are in `tx` already; undecided ones are dropped, so (with acks) the
        // peer sends those bundles again on another connection.
        self.replies.clear();
        self.rx = Vec::new();
        self.phase = Phase::Closed;
        self.events.push_back(Event::Closed { reason, by_peer });
    }

    /// Ends the session for a peer error: the response of the module table.
    fn fail(&mut self, error: PeerError) {
        if let Some(reason) = error.shutdown() {
            // Our contact header is always out first, so a SHUTDOWN may follow it.
            self.send_shutdown_now(reason);
        }
        self.finish(CloseReason::PeerError(error), false);
    }

    /// Writes the next segment of the current bundle, starting the next queued bundle when
    /// none is in progress (and the session is not ending).
    fn emit_segment(&mut self, out: &mut Vec<u8>) {
        if self.sending.back().is_none_or(|t| t.all_sent) {
            if self.terminating() {
                return;
            }
            let Some(q) = self.queue.pop_front() else {
                return;
            };
            let total = wire_len(q.bundle.len());
            if self.send_length {
                codec::encode(&Msg::Length { length: total }, out);
            }
            self.sending.push_back(OutBundle {
                id: q.id,
                data: q.bundle,
                total,
                sent: 0,
                all_sent: false,
                acked: 0,
            });
        }
        let cap = self.config.max_segment_len;
        let Some(t) = self.sending.back_mut() else {
            return;
        };
        let offset = t.sent;
        let len = (t.total - offset).min(cap);
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
        codec::encode_segment_head(flags, len, out);
        out.extend_from_slice(t.data.get(from..to).unwrap_or_default());
        t.sent = end;
        if flags & segment_flags::END != 0 {
            t.all_sent = true;
            t.data = Vec::new();
            if !self.acks {
                // Nothing will answer it: it is sent once these bytes are written, which the
                // next poll_transmit call confirms.
                let id = t.id;
                self.sending.pop_back();
                self.handed_out.push(id);
            }
            self.flush_term();
            self.maybe_finish();
        }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("phase", &self.phase)
            .field("peer", &self.peer)
            .field("acks", &self.acks)
            .field("refusal", &self.refusal)
            .field("queued", &self.queue.len())
            .field("sending", &self.sending.len())
            .field(
                "receiving",
                &self.incoming.as_ref().map(|t| (t.transfer_id, t.discard)),
            )
            .finish_non_exhaustive()
    }
}

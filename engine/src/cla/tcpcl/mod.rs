//! TCP convergence layer version 4 (RFC 9174), sans-IO.
//!
//! Layer: between the node (bundles) and a TCP stream (bytes). Nothing here does I/O, reads a
//! clock, or uses unsafe code; the mio driver owns the socket and passes the time in
//! milliseconds. No input bytes, split, or call order panics.
//!
//! - [`codec`]: the contact header and the seven messages (RFC 9174 §4.2, §4.5–§4.8,
//!   §5.1–§5.2, §6.1) as plain functions over byte slices: [`codec::decode`] returns
//!   `Ok(None)` until a message is complete and refuses over-limit lengths before the data
//!   arrives; [`codec::encode`] copies segment data once.
//! - [`session`]: [`Session`], one session as a state machine for either role: contact and
//!   SESS_INIT negotiation (§4), segmentation, acknowledgement and refusal of transfers (§5.2),
//!   keepalive and idle timeout (§5.1.1), SESS_TERM exchange (§6.1), and the response to every
//!   peer protocol error.
//!
//! Interoperability with dtn7-rs 0.21 (the peer of `peers-registry.md` §1.4): we never offer a
//! keepalive of 0 by default, send no session extensions, start transfer IDs at 1, put an empty
//! extension list on START segments, accept XFER_ACKs with flags 0, and refuse bundles over
//! the peer's Transfer MRU locally so that the node can fragment them.

pub mod codec;
pub mod session;

pub use codec::{CodecError, Msg, MsgRejectReason, MsgType, SessTermReason, XferRefuseReason};
pub use session::{
    CloseReason, ConfigError, Event, PeerError, PeerParams, Role, SendError, Session,
    SessionConfig, TransferError,
};

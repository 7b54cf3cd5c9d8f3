//! TCP convergence layer version 3 (RFC 7242), sans-IO: what ION and µD3TN speak, and what
//! pyd3tn's `pyd3tn.tcpcl` implements.
//!
//! Layer: between the node (bundles) and a TCP stream (bytes). Nothing here does I/O, reads a
//! clock, or uses unsafe code; the driver owns the socket and passes the time in milliseconds.
//! No input bytes, split, or call order panics. The API has the shape of the TCPCLv4 one
//! ([`crate::cla::tcpcl`]): `Session::new(role, config, now_ms)`, `handle_bytes`,
//! `handle_eof`, `handle_timeout`, `send_bundle`, `accept_transfer`, `refuse_transfer`,
//! `close`, `poll_transmit`, `poll_event`, `poll_timeout`, and an [`Event`] enum with
//! `Established`, `BundleReceived`, `BundleSent`, `BundleRefused`, `BundleFailed`, `Closed`.
//!
//! - [`codec`]: SDNVs, the contact header and the six messages (DATA_SEGMENT, ACK_SEGMENT,
//!   REFUSE_BUNDLE, KEEPALIVE, SHUTDOWN, LENGTH) as plain functions over byte slices.
//! - [`session`]: [`Session`], one connection as a state machine: contact header exchange and
//!   negotiation, segmentation, acknowledgement and refusal, keepalive and idle timeout,
//!   SHUTDOWN, and the response to every peer protocol error.
//!
//! Differences from TCPCLv4 a driver sees: both sides send their contact header at once (the
//! role changes nothing on the wire); there is no transfer MRU, so no `BundleTooLarge` (the
//! peer refuses or shuts down instead); acknowledgements are optional, and without them a
//! bundle counts as sent once its last segment is written, which the session learns from the
//! next `poll_transmit` call (so `BundleSent` is queued by `poll_transmit`: poll events again
//! after the write loop); `close` takes an optional [`ShutdownReason`]; and
//! [`CloseReason::Shutdown`] carries the reconnection delay the peer asked for.
//!
//! Interoperability with pyd3tn 0.15.2 (`pyd3tn.tcpcl`): it sends flags 0 and keepalive 0,
//! so acks, refusal and keepalives are all off; it accepts only single-segment bundles and
//! reads the contact header with one `recv(1024)` that must hold exactly the header. Hence
//! the defaults: each bundle goes as one DATA_SEGMENT, nothing but DATA_SEGMENTs is sent when
//! acks are off, and our contact header is written in one piece before anything else.

pub mod codec;
pub mod session;

pub use codec::{CodecError, Msg, MsgType, RefuseReason, ShutdownReason};
pub use session::{
    CloseReason, ConfigError, Event, PeerError, PeerParams, Role, SendError, Session,
    SessionConfig, TransferError,
};

//! Convergence layers, sans-IO: framing codecs and session state machines that turn bundles
//! into bytes for a stream and back. The sockets that carry them live in [`crate::io`].
//!
//! - [`mtcp`]: MTCP, one CBOR byte string per bundle on a TCP stream.
//! - [`stream`]: the interface the TCP driver uses for session protocols.
//! - [`tcpcl`]: TCP convergence layer version 4 (RFC 9174).

pub mod mtcp;
pub mod stream;
pub mod tcpcl;
pub mod tcpclv3;

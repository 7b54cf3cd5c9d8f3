//! What the TCP driver needs from a session protocol (TCPCLv4, TCPCLv3): one interface, so that
//! `io/tcp.rs` moves bytes and events the same way for both. A refusal because the peer already
//! has the bundle ("completed") counts as sent.

/// An event of a stream session, in the driver's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The session is up.
    Established {
        /// The peer's node ID as it sent it.
        peer_node_id: String,
        /// Negotiated keepalive interval (s).
        keepalive_s: u16,
    },
    /// A whole bundle came in: answer with `accept` or `refuse_unacceptable`.
    BundleReceived {
        /// The peer's transfer ID.
        transfer_id: u64,
        /// The bundle.
        bundle: Vec<u8>,
    },
    /// The peer acknowledged the bundle with this handle.
    BundleSent {
        /// The handle given to `send`.
        id: u64,
    },
    /// The peer refused it.
    BundleRefused {
        /// The handle.
        id: u64,
        /// Why, as text.
        reason: String,
        /// The peer may take it later (no resources now, or retransmit): keep it.
        later: bool,
    },
    /// The bundle is over what the peer accepts in one transfer: fragment it.
    BundleTooLarge {
        /// The handle.
        id: u64,
        /// Largest transfer the peer accepts.
        max: u64,
    },
    /// The session ended before the peer acknowledged it: queue it again.
    BundleFailed {
        /// The handle.
        id: u64,
    },
    /// Something worth a log line (a MSG_REJECT, ...).
    Note(String),
    /// The session is over.
    Closed {
        /// Why, as text.
        reason: String,
        /// Whether the peer ended it.
        by_peer: bool,
    },
}

/// Why a bundle was not taken by `send`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendRefusal {
    /// Over the peer's transfer limit: fragment to at most this size.
    TooLarge(u64),
    /// The session takes no new bundle (ending, closed).
    NotNow(String),
}

/// A session protocol as the driver sees it. Methods mirror the sans-IO sessions: inputs carry
/// the time; outputs are polled after every input.
pub trait StreamSession: std::fmt::Debug + Send {
    /// Bytes read from the socket.
    fn handle_bytes(&mut self, now_ms: u64, data: &[u8]);
    /// The peer closed its side.
    fn handle_eof(&mut self, now_ms: u64);
    /// Time passed (call when `poll_timeout` is due).
    fn handle_timeout(&mut self, now_ms: u64);
    /// Queues a bundle under the caller's handle `id`.
    fn send(&mut self, now_ms: u64, id: u64, bundle: Vec<u8>) -> Result<(), SendRefusal>;
    /// The node has the received bundle.
    fn accept(&mut self, transfer_id: u64);
    /// The received bytes are not a bundle the node can take.
    fn refuse_unacceptable(&mut self, transfer_id: u64);
    /// The node's store is full: the peer keeps the bundle and tries again later.
    fn refuse_no_space(&mut self, transfer_id: u64);
    /// Ends the session politely (the node is stopping).
    fn shutdown(&mut self, now_ms: u64);
    /// Appends bytes to write; returns how many (0: nothing now).
    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize;
    /// The next event.
    fn poll_event(&mut self) -> Option<SessionEvent>;
    /// The next deadline (DTN ms).
    fn poll_timeout(&self) -> Option<u64>;
}

impl StreamSession for super::tcpcl::Session {
    fn handle_bytes(&mut self, now_ms: u64, data: &[u8]) {
        super::tcpcl::Session::handle_bytes(self, now_ms, data);
    }
    fn handle_eof(&mut self, now_ms: u64) {
        super::tcpcl::Session::handle_eof(self, now_ms);
    }
    fn handle_timeout(&mut self, now_ms: u64) {
        super::tcpcl::Session::handle_timeout(self, now_ms);
    }
    fn send(&mut self, now_ms: u64, id: u64, bundle: Vec<u8>) -> Result<(), SendRefusal> {
        use super::tcpcl::SendError;
        self.send_bundle(now_ms, id, bundle).map_err(|e| match e {
            SendError::TooLarge {
                peer_transfer_mru, ..
            } => SendRefusal::TooLarge(peer_transfer_mru),
            other => SendRefusal::NotNow(other.to_string()),
        })
    }
    fn accept(&mut self, transfer_id: u64) {
        let _ = self.accept_transfer(transfer_id);
    }
    fn refuse_unacceptable(&mut self, transfer_id: u64) {
        let _ = self.refuse_transfer(transfer_id, super::tcpcl::XferRefuseReason::NotAcceptable);
    }
    fn refuse_no_space(&mut self, transfer_id: u64) {
        let _ = self.refuse_transfer(transfer_id, super::tcpcl::XferRefuseReason::NoResources);
    }
    fn shutdown(&mut self, now_ms: u64) {
        self.close(now_ms, super::tcpcl::SessTermReason::Unknown);
    }
    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        super::tcpcl::Session::poll_transmit(self, out)
    }
    fn poll_event(&mut self) -> Option<SessionEvent> {
        use super::tcpcl::Event as E;
        Some(match super::tcpcl::Session::poll_event(self)? {
            E::Established {
                peer_node_id,
                keepalive_s,
                ..
            } => SessionEvent::Established {
                peer_node_id,
                keepalive_s,
            },
            E::BundleReceived {
                transfer_id,
                bundle,
            } => SessionEvent::BundleReceived {
                transfer_id,
                bundle,
            },
            E::BundleSent { id } => SessionEvent::BundleSent { id },
            // "Completed": the peer already has it.
            E::BundleRefused {
                id,
                reason: super::tcpcl::XferRefuseReason::Completed,
            } => SessionEvent::BundleSent { id },
            E::BundleRefused { id, reason } => SessionEvent::BundleRefused {
                id,
                later: matches!(
                    reason,
                    super::tcpcl::XferRefuseReason::NoResources
                        | super::tcpcl::XferRefuseReason::Retransmit
                ),
                reason: reason.to_string(),
            },
            E::BundleTooLarge {
                id,
                peer_transfer_mru,
                ..
            } => SessionEvent::BundleTooLarge {
                id,
                max: peer_transfer_mru,
            },
            E::BundleFailed { id } => SessionEvent::BundleFailed { id },
            E::Rejected { reason, .. } => {
                SessionEvent::Note(format!("the peer rejected a message: {reason}"))
            }
            E::Closed { reason, by_peer } => SessionEvent::Closed {
                reason: reason.to_string(),
                by_peer,
            },
        })
    }
    fn poll_timeout(&self) -> Option<u64> {
        super::tcpcl::Session::poll_timeout(self)
    }
}

impl StreamSession for super::tcpclv3::Session {
    fn handle_bytes(&mut self, now_ms: u64, data: &[u8]) {
        super::tcpclv3::Session::handle_bytes(self, now_ms, data);
    }
    fn handle_eof(&mut self, now_ms: u64) {
        super::tcpclv3::Session::handle_eof(self, now_ms);
    }
    fn handle_timeout(&mut self, now_ms: u64) {
        super::tcpclv3::Session::handle_timeout(self, now_ms);
    }
    fn send(&mut self, now_ms: u64, id: u64, bundle: Vec<u8>) -> Result<(), SendRefusal> {
        self.send_bundle(now_ms, id, bundle)
            .map_err(|e| SendRefusal::NotNow(format!("{e:?}")))
    }
    fn accept(&mut self, transfer_id: u64) {
        let _ = self.accept_transfer(transfer_id);
    }
    fn refuse_unacceptable(&mut self, transfer_id: u64) {
        // TCPCLv3 has no "not acceptable" code.
        let _ = self.refuse_transfer(transfer_id, super::tcpclv3::RefuseReason::Unknown);
    }
    fn refuse_no_space(&mut self, transfer_id: u64) {
        let _ = self.refuse_transfer(transfer_id, super::tcpclv3::RefuseReason::NoResources);
    }
    fn shutdown(&mut self, now_ms: u64) {
        self.close(now_ms, None);
    }
    fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        super::tcpclv3::Session::poll_transmit(self, out)
    }
    fn poll_event(&mut self) -> Option<SessionEvent> {
        use super::tcpclv3::{Event as E, RefuseReason};
        Some(match super::tcpclv3::Session::poll_event(self)? {
            E::Established {
                peer_node_id,
                keepalive_s,
                ..
            } => SessionEvent::Established {
                peer_node_id,
                keepalive_s,
            },
            E::BundleReceived {
                transfer_id,
                bundle,
            } => SessionEvent::BundleReceived {
                transfer_id,
                bundle,
            },
            E::BundleSent { id } => SessionEvent::BundleSent { id },
            // "Completed": the peer already has it.
            E::BundleRefused {
                id,
                reason: RefuseReason::Completed,
            } => SessionEvent::BundleSent { id },
            E::BundleRefused { id, reason } => SessionEvent::BundleRefused {
                id,
                later: matches!(reason, RefuseReason::NoResources | RefuseReason::Retransmit),
                reason: format!("{reason:?}"),
            },
            E::BundleFailed { id } => SessionEvent::BundleFailed { id },
            E::Closed { reason, by_peer } => SessionEvent::Closed {
                reason: format!("{reason:?}"),
                by_peer,
            },
        })
    }
    fn poll_timeout(&self) -> Option<u64> {
        super::tcpclv3::Session::poll_timeout(self)
    }
}

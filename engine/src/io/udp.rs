//! The UDP convergence layer: one bundle per datagram, as dtn7-rs's and ION's UDP layers frame
//! them. No acknowledgement and no flow control: a datagram the kernel accepted counts as sent.

use crate::config::ConfigError;
use crate::node::Node;
use crate::route::ClaAddr;
use crate::time;
use mio::net::UdpSocket;
use mio::{Interest, Poll, Token};
use std::io::ErrorKind;
use std::net::SocketAddr;

/// Receive buffer asked for each socket: bursts of large bundles must not overflow it.
const RCVBUF: usize = 8 << 20;

/// Largest burst the pacing lets through at once (bytes).
const BURST: f64 = 256.0 * 1024.0;

/// The node's UDP sockets: listeners first, then senders opened on demand.
#[derive(Debug, Default)]
pub struct Udp {
    socks: Vec<UdpSocket>,
    blocked: Vec<bool>,
    /// Datagrams the kernel refused (not `EAGAIN`).
    pub send_errors: u64,
    /// Pacing: bytes per second for all sends (0: none), tokens available, last refill.
    rate: u64,
    tokens: f64,
    refilled: Option<std::time::Instant>,
    /// When pacing holds bundles back: the time they may go.
    paced_until: Option<std::time::Instant>,
}

impl Udp {
    /// Opens a listener for each address.
    pub fn bind(listen: &[ClaAddr], rate: u64, poll: &Poll) -> Result<Udp, ConfigError> {
        let mut u = Udp {
            rate,
            tokens: BURST,
            ..Udp::default()
        };
        for a in listen {
            let ClaAddr::Udp(addr) = a;
            let s = UdpSocket::bind(*addr).map_err(|e| ConfigError {
                setting: "BP_CLA".into(),
                reason: format!("cannot listen on {a}: {e}"),
            })?;
            u.add(s, poll).map_err(|e| ConfigError {
                setting: "BP_CLA".into(),
                reason: format!("cannot watch {a}: {e}"),
            })?;
        }
        Ok(u)
    }

    fn add(&mut self, mut s: UdpSocket, poll: &Poll) -> std::io::Result<usize> {
        use nix::sys::socket::{setsockopt, sockopt};
        // Privileged processes may exceed rmem_max; others get what the system allows.
        if setsockopt(&s, sockopt::RcvBufForce, &RCVBUF).is_err() {
            let _ = setsockopt(&s, sockopt::RcvBuf, &RCVBUF);
        }
        let i = self.socks.len();
        poll.registry()
            .register(&mut s, Token(super::UDP_BASE + i), Interest::READABLE)?;
        self.socks.push(s);
        self.blocked.push(false);
        Ok(i)
    }

    fn sender_for(&mut self, to: SocketAddr, poll: &Poll) -> Option<usize> {
        if let Some(i) = self
            .socks
            .iter()
            .position(|s| s.local_addr().is_ok_and(|a| a.is_ipv4() == to.is_ipv4()))
        {
            return Some(i);
        }
        let any: SocketAddr = if to.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        match UdpSocket::bind(any).and_then(|s| self.add(s, poll)) {
            Ok(i) => Some(i),
            Err(e) => {
                crate::error!("cannot open a UDP socket to send to {to}: {e}");
                None
            }
        }
    }

    /// Whether a socket is waiting for room to send.
    pub fn blocked(&self) -> bool {
        self.blocked.iter().any(|b| *b)
    }

    /// With pacing, whether `len` more bytes may go now (and takes them).
    fn pace(&mut self, len: usize) -> bool {
        if self.rate == 0 {
            return true;
        }
        let now = std::time::Instant::now();
        let dt = self
            .refilled
            .map_or(0.0, |t| now.duration_since(t).as_secs_f64());
        self.refilled = Some(now);
        self.tokens = (self.tokens + dt * self.rate as f64).min(BURST.max(len as f64));
        if self.tokens >= len as f64 {
            self.tokens -= len as f64;
            self.paced_until = None;
            true
        } else {
            let wait = (len as f64 - self.tokens) / self.rate as f64;
            self.paced_until = Some(now + std::time::Duration::from_secs_f64(wait));
            false
        }
    }

    /// When pacing holds bundles back, the time they may go.
    pub fn paced_until(&self) -> Option<std::time::Instant> {
        self.paced_until
    }

    /// Sends the node's queued bundles until a socket is full.
    pub fn send_all(&mut self, node: &mut Node, poll: &Poll) {
        while let Some(t) = node.poll_transmit() {
            if !self.pace(t.bundle.len()) {
                node.unpoll_transmit(t);
                return;
            }
            let ClaAddr::Udp(to) = t.to;
            let Some(i) = self.sender_for(to, poll) else {
                self.send_errors += 1;
                continue;
            };
            if self.blocked[i] {
                node.unpoll_transmit(t);
                return;
            }
            match self.socks[i].send_to(&t.bundle, to) {
                Ok(_) => crate::debug!("sent a {}-byte bundle to udp:{to}", t.bundle.len()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    node.unpoll_transmit(t);
                    self.blocked[i] = true;
                    let _ = poll.registry().reregister(
                        &mut self.socks[i],
                        Token(super::UDP_BASE + i),
                        Interest::READABLE | Interest::WRITABLE,
                    );
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => node.unpoll_transmit(t),
                Err(e) => {
                    self.send_errors += 1;
                    crate::warn!(
                        "UDP send of a {}-byte bundle to {to} failed: {e}; dropped",
                        t.bundle.len()
                    );
                }
            }
        }
    }

    /// Socket `i` has room again.
    pub fn writable(&mut self, i: usize) {
        if let Some(b) = self.blocked.get_mut(i) {
            *b = false;
        }
    }

    /// Reads every datagram queued on socket `i` into the node.
    pub fn receive(&mut self, i: usize, node: &mut Node, scratch: &mut [u8]) {
        let Some(s) = self.socks.get(i) else {
            return;
        };
        loop {
            match s.recv_from(scratch) {
                Ok((n, from)) => {
                    let from = format!("udp:{from}");
                    node.cla_receive(time::now_ms(), &from, scratch[..n].to_vec());
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // ICMP errors from earlier sends surface here; they do not end the socket.
                    crate::debug!("UDP receive error: {e}");
                    return;
                }
            }
        }
    }
}

//! The UDP convergence layer: one bundle per datagram, as dtn7-rs's and ION's UDP layers frame
//! them. No acknowledgement and no flow control: a datagram the kernel accepted counts as sent.

use crate::config::ConfigError;
use crate::node::{Node, Transmit};
use crate::route::ClaAddr;
use crate::time;
use mio::net::UdpSocket;
use mio::{Interest, Poll, Token};
use nix::sys::socket::MsgFlags;
use std::net::SocketAddr;

/// Receive buffer asked for each socket: bursts of large bundles must not overflow it.
const RCVBUF: usize = 8 << 20;

/// Datagrams read or written per system call.
pub const BATCH: usize = 16;

/// Where a datagram came from, formatted only if a log line needs it.
struct From(Option<SocketAddr>);

impl std::fmt::Display for From {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(a) => write!(f, "udp:{a}"),
            None => f.write_str("udp:?"),
        }
    }
}

/// Largest burst the pacing lets through at once (bytes).
const BURST: f64 = 64.0 * 1024.0;

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
    /// Receive buffers, one per datagram of a batch.
    bufs: Vec<Vec<u8>>,
    /// Bundles for this layer waiting for their socket.
    pub queue: std::collections::VecDeque<Transmit>,
    /// Store ids of bundles handed to the kernel (or dropped by it), for the node.
    pub done: Vec<u64>,
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
            let ClaAddr::Udp(addr) = a else {
                continue;
            };
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

    /// Sends the node's queued bundles until a socket is full, up to [`BATCH`] datagrams per
    /// system call.
    pub fn send_all(&mut self, poll: &Poll) {
        use nix::sys::socket::{MultiHeaders, SockaddrStorage, sendmmsg};
        use std::io::IoSlice;
        use std::os::fd::AsRawFd;
        let mut headers: Option<MultiHeaders<SockaddrStorage>> = None;
        loop {
            let mut batch = Vec::with_capacity(BATCH);
            let mut sock = None;
            while batch.len() < BATCH {
                let Some(t) = self.queue.pop_front() else {
                    break;
                };
                let ClaAddr::Udp(to) = t.to else {
                    self.send_errors += 1;
                    self.done.push(t.id);
                    continue;
                };
                let Some(i) = self.sender_for(to, poll) else {
                    self.send_errors += 1;
                    self.done.push(t.id);
                    continue;
                };
                // One batch, one socket; a blocked socket waits for writable.
                if sock.is_some_and(|j| j != i) || self.blocked[i] || !self.pace(t.bundle.len()) {
                    self.queue.push_front(t);
                    break;
                }
                sock = Some(i);
                batch.push(t);
            }
            let Some(i) = sock else {
                return;
            };
            let fd = self.socks[i].as_raw_fd();
            let addrs: Vec<Option<SockaddrStorage>> = batch
                .iter()
                .map(|t| match t.to {
                    ClaAddr::Udp(to) => Some(SockaddrStorage::from(to)),
                    _ => None,
                })
                .collect();
            let slices: Vec<[IoSlice<'_>; 1]> =
                batch.iter().map(|t| [IoSlice::new(&t.bundle)]).collect();
            let h = headers.get_or_insert_with(|| MultiHeaders::preallocate(BATCH, None));
            let r = sendmmsg(fd, h, slices.iter(), &addrs, [], MsgFlags::MSG_DONTWAIT)
                .map(|res| res.count());
            drop(slices);
            let (sent, err) = match r {
                Ok(n) => (n, None),
                Err(e) => (0, Some(e)),
            };
            for t in &batch[..sent] {
                crate::debug!("sent a {}-byte bundle to {}", t.bundle.len(), t.to);
                self.done.push(t.id);
            }
            let full = batch.len();
            let mut rest: Vec<_> = batch.into_iter().skip(sent).collect();
            match err {
                None if sent == full => continue,
                // A short count or EAGAIN: the socket is full; the rest waits for writable.
                None | Some(nix::errno::Errno::EAGAIN) => {
                    for t in rest.into_iter().rev() {
                        self.tokens += t.bundle.len() as f64;
                        self.queue.push_front(t);
                    }
                    self.blocked[i] = true;
                    let _ = poll.registry().reregister(
                        &mut self.socks[i],
                        Token(super::UDP_BASE + i),
                        Interest::READABLE | Interest::WRITABLE,
                    );
                    return;
                }
                Some(nix::errno::Errno::EINTR) => {
                    for t in rest.into_iter().rev() {
                        self.queue.push_front(t);
                    }
                }
                // The first datagram of the batch was refused: drop it, keep the others.
                Some(e) => {
                    let t = rest.remove(0);
                    self.send_errors += 1;
                    self.done.push(t.id);
                    crate::warn!(
                        "UDP send of a {}-byte bundle to {} failed: {e}; dropped",
                        t.bundle.len(),
                        t.to
                    );
                    for t in rest.into_iter().rev() {
                        self.queue.push_front(t);
                    }
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

    /// Reads every datagram queued on socket `i` into the node, up to [`BATCH`] per system call.
    pub fn receive(&mut self, i: usize, node: &mut Node) {
        use nix::sys::socket::{MultiHeaders, SockaddrStorage, recvmmsg};
        use std::io::IoSliceMut;
        use std::os::fd::AsRawFd;
        let Some(fd) = self.socks.get(i).map(|s| s.as_raw_fd()) else {
            return;
        };
        if self.bufs.is_empty() {
            self.bufs = vec![vec![0u8; 65_536]; BATCH];
        }
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
        loop {
            let got: Vec<(usize, Option<SockaddrStorage>)> = {
                let mut iovs: Vec<[IoSliceMut<'_>; 1]> = self
                    .bufs
                    .iter_mut()
                    .map(|b| [IoSliceMut::new(&mut b[..])])
                    .collect();
                match recvmmsg(
                    fd,
                    &mut headers,
                    iovs.iter_mut(),
                    MsgFlags::MSG_DONTWAIT,
                    None,
                ) {
                    Ok(msgs) => msgs.map(|m| (m.bytes, m.address)).collect(),
                    Err(nix::errno::Errno::EAGAIN) => return,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => {
                        // ICMP errors from earlier sends surface here; they do not end the socket.
                        crate::debug!("UDP receive error: {e}");
                        return;
                    }
                }
            };
            let now = time::now_ms();
            for (k, (n, addr)) in got.iter().enumerate() {
                let from = From(addr.as_ref().and_then(|a| {
                    a.as_sockaddr_in()
                        .map(|v| SocketAddr::from(std::net::SocketAddrV4::from(*v)))
                        .or_else(|| {
                            a.as_sockaddr_in6()
                                .map(|v| SocketAddr::from(std::net::SocketAddrV6::from(*v)))
                        })
                }));
                node.cla_receive(now, from, self.bufs[k][..*n].to_vec());
            }
            if got.len() < BATCH {
                return;
            }
        }
    }
}

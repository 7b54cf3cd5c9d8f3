//! Stream convergence layers on TCP: listeners for `BP_CLA` addresses, one outgoing connection
//! per next hop, opened when bundles wait for it and re-opened with backoff when it fails.
//!
//! The framing is sans-IO ([`crate::cla::mtcp`]); this file only moves bytes. Writes are
//! non-blocking: a slow peer fills its own connection's buffer, never the event loop. A bundle
//! whose frame was not completely written when its connection failed is queued again (MTCP has no
//! acknowledgement: the peer may then see it twice, never zero times).

use crate::cla::mtcp;
use crate::config::ConfigError;
use crate::node::{Node, Transmit};
use crate::route::ClaAddr;
use crate::time;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Poll, Token};
use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;

/// Tokens of TCP listeners start here.
pub(crate) const LISTEN_BASE: usize = 1 << 16;
/// Tokens of TCP connections start here.
pub(crate) const CONN_BASE: usize = 1 << 17;
/// First and largest wait before reconnecting to a next hop that failed.
const BACKOFF_FIRST_MS: u64 = 200;
const BACKOFF_MAX_MS: u64 = 30_000;
/// Largest bundle accepted from a stream (a bound on what one peer can make us buffer).
const MAX_BUNDLE: u64 = 64 << 20;

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    /// The next hop this connection was opened for (outgoing), if any.
    hop: Option<ClaAddr>,
    connected: bool,
    decoder: mtcp::Decoder,
    /// Bytes to write, and the bundles whose frames end at each offset.
    out: Vec<u8>,
    written: usize,
    frames: VecDeque<(usize, Transmit)>,
}

/// The node's TCP layers.
#[derive(Debug, Default)]
pub struct Tcp {
    listeners: Vec<TcpListener>,
    conns: HashMap<usize, Conn>,
    next_conn: usize,
    /// Outgoing connection (token) per next hop.
    by_hop: HashMap<ClaAddr, usize>,
    /// Bundles waiting for a connection to their next hop.
    queues: HashMap<ClaAddr, VecDeque<Transmit>>,
    /// Next hops that failed: (time of the next attempt, current delay).
    backoff: HashMap<ClaAddr, (u64, u64)>,
    /// Streams closed because of a framing error.
    pub protocol_errors: u64,
}

impl Tcp {
    /// Opens a listener for each MTCP address.
    pub fn bind(listen: &[ClaAddr], poll: &Poll) -> Result<Tcp, ConfigError> {
        let mut t = Tcp::default();
        for a in listen {
            let ClaAddr::Mtcp(addr) = a else {
                continue;
            };
            let bad = |e: std::io::Error| ConfigError {
                setting: "BP_CLA".into(),
                reason: format!("cannot listen on {a}: {e}"),
            };
            let mut l = TcpListener::bind(*addr).map_err(bad)?;
            poll.registry()
                .register(
                    &mut l,
                    Token(LISTEN_BASE + t.listeners.len()),
                    Interest::READABLE,
                )
                .map_err(bad)?;
            t.listeners.push(l);
        }
        Ok(t)
    }

    /// Queues a bundle for its next hop.
    pub fn enqueue(&mut self, t: Transmit) {
        self.queues.entry(t.to).or_default().push_back(t);
    }

    /// Bundles not yet completely written.
    pub fn pending(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum::<usize>()
            + self.conns.values().map(|c| c.frames.len()).sum::<usize>()
    }

    /// Earliest reconnection attempt due, in DTN ms.
    pub fn next_retry_ms(&self) -> Option<u64> {
        self.backoff
            .iter()
            .filter(|(hop, _)| self.queues.get(*hop).is_some_and(|q| !q.is_empty()))
            .map(|(_, (at, _))| *at)
            .min()
    }

    /// Opens connections for waiting bundles and writes what the sockets take.
    pub fn send_all(&mut self, poll: &Poll) {
        let now = time::now_ms();
        let hops: Vec<ClaAddr> = self
            .queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(h, _)| *h)
            .collect();
        for hop in hops {
            let token = match self.by_hop.get(&hop) {
                Some(&t) => t,
                None => {
                    if self.backoff.get(&hop).is_some_and(|(at, _)| *at > now) {
                        continue;
                    }
                    match self.connect(hop, poll) {
                        Some(t) => t,
                        None => continue,
                    }
                }
            };
            let queue = self.queues.remove(&hop).unwrap_or_default();
            if let Some(c) = self.conns.get_mut(&token) {
                for t in queue {
                    mtcp::encode_head(t.bundle.len(), &mut c.out);
                    c.out.extend_from_slice(&t.bundle);
                    c.frames.push_back((c.out.len(), t));
                }
            }
            self.flush(token, poll);
        }
    }

    fn connect(&mut self, hop: ClaAddr, poll: &Poll) -> Option<usize> {
        let ClaAddr::Mtcp(addr) = hop else {
            return None;
        };
        match TcpStream::connect(addr) {
            Ok(stream) => {
                crate::info!("connecting to {hop}");
                let token = self.add(stream, addr, Some(hop), false, poll)?;
                self.by_hop.insert(hop, token);
                Some(token)
            }
            Err(e) => {
                self.failed(hop, &e.to_string());
                None
            }
        }
    }

    fn add(
        &mut self,
        mut stream: TcpStream,
        peer: SocketAddr,
        hop: Option<ClaAddr>,
        connected: bool,
        poll: &Poll,
    ) -> Option<usize> {
        let token = CONN_BASE + self.next_conn;
        self.next_conn += 1;
        let _ = stream.set_nodelay(true);
        if let Err(e) = poll.registry().register(
            &mut stream,
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            crate::warn!("cannot watch a TCP connection with {peer}: {e}");
            return None;
        }
        self.conns.insert(
            token,
            Conn {
                stream,
                peer,
                hop,
                connected,
                decoder: mtcp::Decoder::new(MAX_BUNDLE),
                out: Vec::new(),
                written: 0,
                frames: VecDeque::new(),
            },
        );
        Some(token)
    }

    fn failed(&mut self, hop: ClaAddr, why: &str) {
        let delay = self
            .backoff
            .get(&hop)
            .map_or(BACKOFF_FIRST_MS, |(_, d)| (d * 2).min(BACKOFF_MAX_MS));
        crate::info!("next hop {hop} unreachable ({why}); retry in {delay} ms");
        self.backoff.insert(hop, (time::now_ms() + delay, delay));
    }

    /// Handles an event on a TCP token.
    pub fn event(&mut self, token: usize, ev: &mio::event::Event, node: &mut Node, poll: &Poll) {
        if token < CONN_BASE {
            self.accept(token - LISTEN_BASE, poll);
            return;
        }
        if ev.is_writable() {
            if let Some(c) = self.conns.get_mut(&token)
                && !c.connected
            {
                match c.stream.peer_addr() {
                    Ok(_) => {
                        c.connected = true;
                        if let Some(h) = c.hop {
                            crate::info!("connected to {h}");
                            self.backoff.remove(&h);
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::NotConnected => {
                        let err = c.stream.take_error().ok().flatten();
                        let why = err.map_or("connection refused".to_string(), |e| e.to_string());
                        self.close(token, &why, poll);
                        return;
                    }
                    Err(_) => {}
                }
            }
            self.flush(token, poll);
        }
        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
            self.read(token, node, poll);
        }
    }

    fn accept(&mut self, i: usize, poll: &Poll) {
        loop {
            let Some(l) = self.listeners.get(i) else {
                return;
            };
            match l.accept() {
                Ok((stream, peer)) => {
                    crate::info!("MTCP session from {peer}");
                    self.add(stream, peer, None, true, poll);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    crate::warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn read(&mut self, token: usize, node: &mut Node, poll: &Poll) {
        let mut buf = [0u8; 65_536];
        loop {
            let Some(c) = self.conns.get_mut(&token) else {
                return;
            };
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    self.close(token, "closed by the peer", poll);
                    return;
                }
                Ok(n) => match c.decoder.feed(&buf[..n]) {
                    Ok(bundles) => {
                        let from = format!("mtcp:{}", c.peer);
                        let now = time::now_ms();
                        for b in bundles {
                            node.cla_receive(now, &from, b);
                        }
                    }
                    Err(e) => {
                        self.protocol_errors += 1;
                        self.close(token, &e.to_string(), poll);
                        return;
                    }
                },
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.close(token, &e.to_string(), poll);
                    return;
                }
            }
        }
    }

    fn flush(&mut self, token: usize, poll: &Poll) {
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        if !c.connected {
            return;
        }
        let mut err = None;
        while c.written < c.out.len() {
            match c.stream.write(&c.out[c.written..]) {
                Ok(0) => break,
                Ok(n) => c.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    err = Some(e.to_string());
                    break;
                }
            }
        }
        // Bundles whose frame is completely written are sent.
        while c.frames.front().is_some_and(|(end, _)| *end <= c.written) {
            c.frames.pop_front();
        }
        if c.written == c.out.len() {
            c.out.clear();
            c.written = 0;
        } else if c.written > (1 << 20) {
            // Keep the buffer from growing without bound behind a slow peer.
            let w = c.written;
            c.out.drain(..w);
            for (end, _) in c.frames.iter_mut() {
                *end -= w;
            }
            c.written = 0;
        }
        if let Some(why) = err {
            self.close(token, &why, poll);
        }
    }

    fn close(&mut self, token: usize, why: &str, poll: &Poll) {
        let Some(mut c) = self.conns.remove(&token) else {
            return;
        };
        let _ = poll.registry().deregister(&mut c.stream);
        let unsent = c.frames.len();
        match c.hop {
            Some(hop) => {
                crate::info!("session with {hop} ended: {why}; {unsent} bundle(s) queued again");
                self.by_hop.remove(&hop);
                let q = self.queues.entry(hop).or_default();
                for (_, t) in c.frames.into_iter().rev() {
                    q.push_front(t);
                }
                self.failed(hop, why);
            }
            None => crate::info!("MTCP session from {} ended: {why}", c.peer),
        }
    }
}

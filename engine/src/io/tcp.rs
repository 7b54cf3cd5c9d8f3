//! Stream convergence layers on TCP, MTCP and TCPCLv4: listeners for `BP_CLA` addresses, one
//! outgoing connection per next hop, opened when bundles wait for it and re-opened with backoff
//! when it fails.
//!
//! The protocols are sans-IO ([`crate::cla::mtcp`], [`crate::cla::tcpcl`]); this file moves
//! bytes and events. Writes are non-blocking: a slow peer fills its own connection's buffer,
//! never the event loop. A bundle not acknowledged (TCPCL) or not completely written (MTCP, which
//! has no acknowledgement) when its connection fails is queued again: the peer may see it twice,
//! never zero times.

use crate::cla::mtcp;
use crate::cla::stream::{SendRefusal, SessionEvent, StreamSession};
use crate::cla::{tcpcl, tcpclv3};
use crate::config::ConfigError;
use crate::node::{Node, Received, Transmit};
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
/// Reads (of up to 64 KiB) per connection per turn of the event loop.
const READ_BUDGET: usize = 16;
/// Bundles per next hop the layer holds (queued or unacknowledged); the rest wait in the
/// node's queues.
const HOP_WINDOW: usize = 1024;
/// First and largest wait before reconnecting to a next hop that failed.
const BACKOFF_FIRST_MS: u64 = 200;
const BACKOFF_MAX_MS: u64 = 30_000;

/// Which protocol a listener or connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Mtcp,
    Tcpcl,
    Tcpclv3,
}

impl Kind {
    fn of(a: &ClaAddr) -> Option<(SocketAddr, Kind)> {
        match *a {
            ClaAddr::Mtcp(s) => Some((s, Kind::Mtcp)),
            ClaAddr::Tcpcl(s) => Some((s, Kind::Tcpcl)),
            ClaAddr::Tcpclv3(s) => Some((s, Kind::Tcpclv3)),
            ClaAddr::Udp(_) => None,
        }
    }
}

/// The protocol state of a connection.
#[derive(Debug)]
enum Link {
    /// MTCP: the decoder of what comes in; the bundles whose frames end at each offset of `out`.
    Mtcp {
        decoder: mtcp::Decoder,
        frames: VecDeque<(usize, Transmit)>,
    },
    /// A session protocol (TCPCLv4, TCPCLv3), and the bundles it holds until the peer
    /// acknowledges them.
    Session {
        session: Box<dyn StreamSession>,
        inflight: HashMap<u64, Transmit>,
        next_id: u64,
    },
}

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    /// The next hop this connection was opened for (outgoing), if any.
    hop: Option<ClaAddr>,
    kind: Kind,
    connected: bool,
    link: Link,
    /// Bytes to write.
    out: Vec<u8>,
    written: usize,
    /// Store ids of MTCP bundles completely written, for [`Tcp::take_done`].
    sent_ids: Vec<u64>,
}

impl Conn {
    fn unacknowledged(&self) -> usize {
        match &self.link {
            Link::Mtcp { frames, .. } => frames.len(),
            Link::Session { inflight, .. } => inflight.len(),
        }
    }
}

/// The node's TCP layers.
#[derive(Debug, Default)]
pub struct Tcp {
    /// Node ID sent in TCPCL SESS_INIT ("ipn:N.0").
    node_id: String,
    /// Largest bundle accepted (TCPCL Transfer MRU, MTCP frame limit).
    max_bundle: u64,
    listeners: Vec<(TcpListener, Kind)>,
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
    /// Acknowledge a received bundle only once the store has committed it: the driver collects
    /// the transfers here and calls [`Tcp::accept`] after the commit.
    pub defer_accepts: bool,
    /// Received transfers waiting for the commit: (connection token, transfer ID).
    pub pending_accepts: Vec<(usize, u64)>,
    /// Store ids of bundles the layer is done with (acknowledged, or refused for good).
    done: Vec<u64>,
    /// Connections with bytes left to read (see [`Tcp::resume_reads`]).
    more_to_read: Vec<usize>,
    /// Established sessions by the peer's node number and protocol: a session the peer opened
    /// also carries our bundles for it (session reuse, RFC 9174 §3.1).
    by_node: HashMap<(u64, Kind), usize>,
}

impl Tcp {
    /// Opens a listener for each MTCP and TCPCL address. `node` is the local node number and
    /// `max_bundle` the largest bundle accepted from a peer.
    pub fn bind(
        listen: &[ClaAddr],
        node: u64,
        max_bundle: u64,
        poll: &Poll,
    ) -> Result<Tcp, ConfigError> {
        let mut t = Tcp {
            node_id: format!("ipn:{node}.0"),
            max_bundle,
            ..Tcp::default()
        };
        for a in listen {
            let Some((addr, kind)) = Kind::of(a) else {
                continue;
            };
            let bad = |e: std::io::Error| ConfigError {
                setting: "BP_CLA".into(),
                reason: format!("cannot listen on {a}: {e}"),
            };
            let mut l = TcpListener::bind(addr).map_err(bad)?;
            poll.registry()
                .register(
                    &mut l,
                    Token(LISTEN_BASE + t.listeners.len()),
                    Interest::READABLE,
                )
                .map_err(bad)?;
            t.listeners.push((l, kind));
        }
        Ok(t)
    }

    fn session_config(&self) -> tcpcl::SessionConfig {
        let mut c = tcpcl::SessionConfig::new(self.node_id.clone());
        c.transfer_mru = self.max_bundle;
        c
    }

    /// Queues a bundle for its next hop.
    pub fn enqueue(&mut self, t: Transmit) {
        self.queues.entry(t.to).or_default().push_back(t);
    }

    /// Whether the layer takes more bundles for `hop` now. Bounded, so that the bundles stay in
    /// the node's queues (in priority order, subject to contacts) until a session can use them.
    pub fn has_room(&self, hop: &ClaAddr) -> bool {
        let queued = self.queues.get(hop).map_or(0, VecDeque::len);
        let inflight = self
            .by_hop
            .get(hop)
            .and_then(|t| self.conns.get(t))
            .map_or(0, Conn::unacknowledged);
        queued + inflight < HOP_WINDOW
    }

    /// Store ids of the bundles handed over since the last call.
    pub fn take_done(&mut self) -> Vec<u64> {
        let mut v = std::mem::take(&mut self.done);
        for c in self.conns.values_mut() {
            v.append(&mut c.sent_ids);
        }
        v
    }

    /// Sends the acknowledgement of a received transfer once it is stored.
    pub fn accept_stored(&mut self, token: usize, transfer_id: u64, node: &mut Node, poll: &Poll) {
        if let Some(Conn {
            link: Link::Session { session, .. },
            ..
        }) = self.conns.get_mut(&token)
        {
            session.accept(transfer_id);
            self.drive(token, node, poll);
        }
    }

    /// Bundles not yet handed over (MTCP: completely written; TCPCL: acknowledged).
    pub fn pending(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum::<usize>()
            + self.conns.values().map(Conn::unacknowledged).sum::<usize>()
    }

    /// Earliest TCPCL session deadline (keepalive, idle, negotiation), in DTN ms.
    pub fn next_timeout_ms(&self) -> Option<u64> {
        self.conns
            .values()
            .filter_map(|c| match &c.link {
                Link::Session { session, .. } => session.poll_timeout(),
                Link::Mtcp { .. } => None,
            })
            .min()
    }

    /// Ends every TCPCL session with SESS_TERM (the node is stopping): best effort, the bytes
    /// go out only as far as the sockets take them now.
    pub fn close_sessions(&mut self, node: &mut Node, poll: &Poll) {
        let now = time::now_ms();
        let tokens: Vec<usize> = self.conns.keys().copied().collect();
        for token in tokens {
            if let Some(Conn {
                link: Link::Session { session, .. },
                ..
            }) = self.conns.get_mut(&token)
            {
                session.shutdown(now);
                self.drive(token, node, poll);
            }
        }
    }

    /// Runs the TCPCL session timers that are due.
    pub fn tick(&mut self, node: &mut Node, poll: &Poll) {
        let now = time::now_ms();
        let due: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| match &c.link {
                Link::Session { session, .. } => session.poll_timeout().is_some_and(|t| t <= now),
                Link::Mtcp { .. } => false,
            })
            .map(|(t, _)| *t)
            .collect();
        for token in due {
            if let Some(Conn {
                link: Link::Session { session, .. },
                ..
            }) = self.conns.get_mut(&token)
            {
                session.handle_timeout(now);
            }
            self.drive(token, node, poll);
        }
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
    pub fn send_all(&mut self, node: &mut Node, poll: &Poll) {
        let now = time::now_ms();
        let hops: Vec<ClaAddr> = self
            .queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(h, _)| *h)
            .collect();
        for hop in hops {
            // A hop that is down, or whose node refused for lack of room, waits its delay.
            if self.backoff.get(&hop).is_some_and(|(at, _)| *at > now) {
                continue;
            }
            let token = match self.by_hop.get(&hop) {
                Some(&t) => t,
                None => {
                    if let Some(t) = self.reusable(hop) {
                        t
                    } else {
                        match self.connect(hop, poll) {
                            Some(t) => t,
                            None => continue,
                        }
                    }
                }
            };
            let queue = self.queues.remove(&hop).unwrap_or_default();
            let now = time::now_ms();
            if let Some(c) = self.conns.get_mut(&token) {
                for t in queue {
                    match &mut c.link {
                        Link::Mtcp { frames, .. } => {
                            mtcp::encode_head(t.bundle.len(), &mut c.out);
                            c.out.extend_from_slice(&t.bundle);
                            frames.push_back((c.out.len(), t));
                        }
                        Link::Session {
                            session,
                            inflight,
                            next_id,
                        } => {
                            *next_id += 1;
                            match session.send(now, *next_id, t.bundle.clone()) {
                                Ok(()) => {
                                    inflight.insert(*next_id, t);
                                }
                                Err(SendRefusal::TooLarge(max)) => {
                                    fragment_into(&t, max, &mut self.queues, node);
                                }
                                Err(SendRefusal::NotNow(why)) => {
                                    crate::debug!("session with {hop} takes no bundle ({why})");
                                    self.queues.entry(hop).or_default().push_back(t);
                                }
                            }
                        }
                    }
                }
            }
            self.drive(token, node, poll);
        }
    }

    /// An established session with the node the bundles queued for `hop` go to, opened by
    /// that node, of the hop's protocol.
    fn reusable(&self, hop: ClaAddr) -> Option<usize> {
        let (_, kind) = Kind::of(&hop)?;
        if kind == Kind::Mtcp || self.by_node.is_empty() {
            return None;
        }
        let first = self.queues.get(&hop)?.front()?;
        let b = crate::wire::parse(&first.bundle).ok()?;
        let node = match b.primary.destination {
            crate::wire::Eid::Ipn { node, .. } => node,
            _ => return None,
        };
        self.by_node.get(&(node, kind)).copied()
    }

    fn connect(&mut self, hop: ClaAddr, poll: &Poll) -> Option<usize> {
        let (addr, kind) = Kind::of(&hop)?;
        match TcpStream::connect(addr) {
            Ok(stream) => {
                crate::info!("connecting to {hop}");
                let token = self.add(stream, addr, Some(hop), false, kind, poll)?;
                self.by_hop.insert(hop, token);
                Some(token)
            }
            Err(e) => {
                self.failed(hop, &format!("unreachable ({e})"));
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
        kind: Kind,
        poll: &Poll,
    ) -> Option<usize> {
        let now = time::now_ms();
        let active = hop.is_some();
        let session: Result<Box<dyn StreamSession>, String> = match kind {
            Kind::Mtcp => Err(String::new()),
            Kind::Tcpcl => {
                let role = if active {
                    tcpcl::Role::Active
                } else {
                    tcpcl::Role::Passive
                };
                tcpcl::Session::new(role, self.session_config(), now)
                    .map(|s| Box::new(s) as Box<dyn StreamSession>)
                    .map_err(|e| format!("{e:?}"))
            }
            Kind::Tcpclv3 => {
                let role = if active {
                    tcpclv3::Role::Active
                } else {
                    tcpclv3::Role::Passive
                };
                let mut c = tcpclv3::SessionConfig::new(self.node_id.clone());
                c.max_bundle_len = self.max_bundle;
                tcpclv3::Session::new(role, c, now)
                    .map(|s| Box::new(s) as Box<dyn StreamSession>)
                    .map_err(|e| format!("{e:?}"))
            }
        };
        let link = match (kind, session) {
            (Kind::Mtcp, _) => Link::Mtcp {
                decoder: mtcp::Decoder::new(self.max_bundle),
                frames: VecDeque::new(),
            },
            (_, Ok(session)) => Link::Session {
                session,
                inflight: HashMap::new(),
                next_id: 0,
            },
            (_, Err(e)) => {
                crate::error!("cannot start a session: {e}");
                return None;
            }
        };
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
                kind,
                connected,
                link,
                out: Vec::new(),
                written: 0,
                sent_ids: Vec::new(),
            },
        );
        Some(token)
    }

    fn failed(&mut self, hop: ClaAddr, why: &str) {
        let delay = self
            .backoff
            .get(&hop)
            .map_or(BACKOFF_FIRST_MS, |(_, d)| (d * 2).min(BACKOFF_MAX_MS));
        crate::info!("next hop {hop}: {why}; retry in {delay} ms");
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
            self.drive(token, node, poll);
        }
        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
            self.read(token, node, poll);
        }
    }

    fn accept(&mut self, i: usize, poll: &Poll) {
        loop {
            let Some((l, kind)) = self.listeners.get(i) else {
                return;
            };
            let kind = *kind;
            match l.accept() {
                Ok((stream, peer)) => {
                    crate::info!("{kind:?} connection from {peer}");
                    self.add(stream, peer, None, true, kind, poll);
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

    /// Connections that stopped reading at their per-turn budget: read again next turn (the
    /// loop is edge-triggered, so no new event would come for bytes already waiting).
    pub fn resume_reads(&mut self, node: &mut Node, poll: &Poll) {
        for token in std::mem::take(&mut self.more_to_read) {
            self.read(token, node, poll);
        }
    }

    /// Whether some connection has bytes left to read from an earlier turn.
    pub fn has_more_to_read(&self) -> bool {
        !self.more_to_read.is_empty()
    }

    fn read(&mut self, token: usize, node: &mut Node, poll: &Poll) {
        let mut buf = [0u8; 65_536];
        // At most this many reads per turn, so that one busy peer neither starves the others
        // nor keeps what it sent from reaching the applications (deliveries run between turns).
        let mut budget = READ_BUDGET;
        loop {
            if budget == 0 {
                if !self.more_to_read.contains(&token) {
                    self.more_to_read.push(token);
                }
                return;
            }
            budget -= 1;
            let Some(c) = self.conns.get_mut(&token) else {
                return;
            };
            let now = time::now_ms();
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    if let Link::Session { session, .. } = &mut c.link {
                        session.handle_eof(now);
                        self.drive(token, node, poll);
                    }
                    self.close(token, "closed by the peer", poll);
                    return;
                }
                Ok(n) => match &mut c.link {
                    Link::Mtcp { decoder, .. } => match decoder.feed(&buf[..n]) {
                        Ok(bundles) => {
                            let from = format!("mtcp:{}", c.peer);
                            for b in bundles {
                                node.cla_receive(now, &from, b);
                            }
                            // Frames completed before a broken one were delivered; now close.
                            if let Some(e) = decoder.error() {
                                self.protocol_errors += 1;
                                self.close(token, &e.to_string(), poll);
                                return;
                            }
                        }
                        Err(e) => {
                            self.protocol_errors += 1;
                            self.close(token, &e.to_string(), poll);
                            return;
                        }
                    },
                    Link::Session { session, .. } => {
                        session.handle_bytes(now, &buf[..n]);
                        self.drive(token, node, poll);
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

    /// Runs a TCPCL session's outputs: bytes to the socket, events to the node; MTCP: writes.
    fn drive(&mut self, token: usize, node: &mut Node, poll: &Poll) {
        let mut closed = None;
        let mut requeue = Vec::new();
        let mut established = None;
        let mut accepted_by = Vec::new();
        let mut refused_by = Vec::new();
        if let Some(c) = self.conns.get_mut(&token)
            && let Link::Session {
                session, inflight, ..
            } = &mut c.link
        {
            let label = c
                .hop
                .map_or_else(|| format!("tcp:{}", c.peer), |h| h.to_string());
            // Events, then bytes, until neither comes: writing can itself release events
            // (a TCPCLv3 bundle without acknowledgements is sent once written), and events
            // can release bytes (an acknowledgement). Bounded, in case a peer keeps it busy.
            for _ in 0..64 {
                let mut busy = false;
                while let Some(ev) = session.poll_event() {
                    busy = true;
                    match ev {
                        SessionEvent::Established {
                            peer_node_id,
                            keepalive_s,
                        } => {
                            crate::info!(
                                "session with {label} up: peer {peer_node_id}, keepalive {keepalive_s} s"
                            );
                            established = peer_node_id.parse::<crate::wire::Eid>().ok().and_then(
                                |e| match e {
                                    crate::wire::Eid::Ipn { node, .. } => Some((node, c.kind)),
                                    _ => None,
                                },
                            );
                        }
                        SessionEvent::BundleReceived {
                            transfer_id,
                            bundle,
                        } => {
                            // A bundle that is not one is refused (the node logs and counts it),
                            // and so is any bundle while the store is full; others are
                            // acknowledged once the store has committed them.
                            match node.cla_offer(time::now_ms(), &label, bundle) {
                                Received::Accepted if self.defer_accepts => {
                                    self.pending_accepts.push((token, transfer_id));
                                }
                                Received::Accepted => session.accept(transfer_id),
                                Received::Malformed => session.refuse_unacceptable(transfer_id),
                                Received::NoSpace => session.refuse_no_space(transfer_id),
                            }
                        }
                        SessionEvent::BundleSent { id } => {
                            if let Some(t) = inflight.remove(&id) {
                                self.done.push(t.id);
                                accepted_by.push(t.to);
                            }
                        }
                        SessionEvent::BundleRefused { id, reason, later } => {
                            if let Some(t) = inflight.remove(&id) {
                                if later {
                                    // The peer may take it later: keep it, and give the peer
                                    // time (the hop's backoff) before trying again.
                                    crate::info!("{label} refused a bundle for now ({reason})");
                                    refused_by.push(t.to);
                                    requeue.push((t, None));
                                } else {
                                    crate::warn!("{label} refused a bundle ({reason}); dropped");
                                    self.done.push(t.id);
                                }
                            }
                        }
                        SessionEvent::BundleTooLarge { id, max } => {
                            if let Some(t) = inflight.remove(&id) {
                                requeue.push((t, Some(max)));
                            }
                        }
                        SessionEvent::BundleFailed { id } => {
                            if let Some(t) = inflight.remove(&id) {
                                requeue.push((t, None));
                            }
                        }
                        SessionEvent::Note(n) => crate::info!("{label}: {n}"),
                        SessionEvent::Closed { reason, by_peer } => {
                            closed = Some(format!(
                                "{}{reason}",
                                if by_peer { "by the peer: " } else { "" }
                            ));
                        }
                    }
                }
                // Only produce more bytes once the previous ones are written: a slow peer holds
                // its own buffer, not ours.
                // A session that just ended still has its last words (SESS_TERM, MSG_REJECT)
                // to write: only a write error stops the draining.
                let ended = closed.take();
                if c.connected {
                    if c.written < c.out.len()
                        && let Some(e) = write_bytes(&mut c.stream, &c.out, &mut c.written)
                    {
                        closed = Some(e);
                    }
                    while closed.is_none() && c.written == c.out.len() {
                        c.out.clear();
                        c.written = 0;
                        if session.poll_transmit(&mut c.out) == 0 {
                            break;
                        }
                        busy = true;
                        if let Some(e) = write_bytes(&mut c.stream, &c.out, &mut c.written) {
                            closed = Some(e);
                            break;
                        }
                    }
                }
                closed = closed.or(ended);
                if !busy || closed.is_some() {
                    break;
                }
            }
        }
        if let Some(key) = established {
            self.by_node.insert(key, token);
        }
        for hop in accepted_by {
            self.backoff.remove(&hop);
        }
        refused_by.dedup();
        for hop in refused_by {
            self.failed(hop, "its node refused a bundle for lack of room");
        }
        for (t, mru) in requeue {
            match mru {
                Some(m) => fragment_into(&t, m, &mut self.queues, node),
                None => self.queues.entry(t.to).or_default().push_front(t),
            }
        }
        self.flush(token, poll);
        if let Some(why) = closed {
            self.close(token, &why, poll);
        }
    }

    fn flush(&mut self, token: usize, poll: &Poll) {
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        if !c.connected {
            return;
        }
        let err = flush_some(c);
        if let Some(why) = err {
            self.close(token, &why, poll);
        }
    }

    fn close(&mut self, token: usize, why: &str, poll: &Poll) {
        let Some(mut c) = self.conns.remove(&token) else {
            return;
        };
        let _ = poll.registry().deregister(&mut c.stream);
        self.by_node.retain(|_, t| *t != token);
        let unsent: Vec<Transmit> = match c.link {
            Link::Mtcp { frames, .. } => frames.into_iter().map(|(_, t)| t).collect(),
            Link::Session { inflight, .. } => {
                let mut v: Vec<(u64, Transmit)> = inflight.into_iter().collect();
                v.sort_by_key(|(id, _)| *id);
                v.into_iter().map(|(_, t)| t).collect()
            }
        };
        let n = unsent.len();
        for t in unsent.into_iter().rev() {
            self.queues.entry(t.to).or_default().push_front(t);
        }
        match c.hop {
            Some(hop) => {
                crate::info!("session with {hop} ended: {why}; {n} bundle(s) queued again");
                self.by_hop.remove(&hop);
                self.failed(hop, &format!("unreachable ({why})"));
            }
            None => crate::info!("session from {} ended: {why}", c.peer),
        }
    }
}

/// Writes what the socket takes of `c.out`; MTCP frames completely written count as sent.
/// Returns the error that ends the connection, if any.
fn flush_some(c: &mut Conn) -> Option<String> {
    let err = write_bytes(&mut c.stream, &c.out, &mut c.written);
    let w = c.written;
    if let Link::Mtcp { frames, .. } = &mut c.link {
        while frames.front().is_some_and(|(end, _)| *end <= w) {
            if let Some((_, t)) = frames.pop_front() {
                c.sent_ids.push(t.id);
            }
        }
    }
    if c.written == c.out.len() {
        c.out.clear();
        c.written = 0;
    } else if c.written > (1 << 20) {
        // Keep the buffer from growing without bound behind a slow peer.
        c.out.drain(..w);
        if let Link::Mtcp { frames, .. } = &mut c.link {
            for (end, _) in frames.iter_mut() {
                *end -= w;
            }
        }
        c.written = 0;
    }
    err
}

/// A bundle bigger than the peer's Transfer MRU goes as fragments (RFC 9171 §5.8).
fn fragment_into(
    t: &Transmit,
    mru: u64,
    queues: &mut HashMap<ClaAddr, VecDeque<Transmit>>,
    node: &mut Node,
) {
    let max = usize::try_from(mru).unwrap_or(usize::MAX);
    let frags = crate::wire::parse(&t.bundle)
        .map_err(|e| e.to_string())
        .and_then(|b| crate::fragment::fragment(&t.bundle, &b, max).map_err(|e| e.to_string()));
    match frags {
        Ok(frags) => {
            node.split(t.id, frags.len());
            let q = queues.entry(t.to).or_default();
            for f in frags.into_iter().rev() {
                q.push_front(Transmit {
                    to: t.to,
                    bundle: f,
                    expires_ms: t.expires_ms,
                    id: t.id,
                });
            }
        }
        Err(e) => {
            crate::warn!(
                "a {}-byte bundle is over the peer's {mru}-byte transfer limit and cannot be fragmented ({e}); dropped",
                t.bundle.len()
            );
            node.transmitted(t.id);
        }
    }
}

/// Writes `out[*written..]` until the socket is full; returns the error that ends the stream.
fn write_bytes(stream: &mut TcpStream, out: &[u8], written: &mut usize) -> Option<String> {
    while *written < out.len() {
        match stream.write(&out[*written..]) {
            Ok(0) => break,
            Ok(n) => *written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Some(e.to_string()),
        }
    }
    None
}

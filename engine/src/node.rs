//! The node: bundle processing as a state machine, without I/O and without a clock.
//!
//! Method classes (the driver in [`crate::io`] is the only caller):
//! - application commands: [`Node::open`], [`Node::bind`], [`Node::connect`], [`Node::app_send`],
//!   [`Node::app_ack`], [`Node::app_closed`];
//! - network input: [`Node::cla_receive`] (bytes of one bundle from a convergence layer);
//! - time: [`Node::expire`];
//! - outputs, to poll after any input: [`Node::poll_transmit`] (bundles for a next hop),
//!   [`Node::poll_ready_socket`] then [`Node::peek_ready`]/[`Node::mark_written`] (ADUs to write
//!   to an application socket).
//!
//! Every call takes the DTN time in milliseconds where time matters. Nothing here panics on any
//! input; malformed bundles are counted and logged.
//!
//! Consumption tracking: an ADU written to an application socket stays in the socket's
//! `unacked` window until the shim reports it read ([`Node::app_ack`]); if the socket goes away
//! first, the unread ADUs go back, in order, to the queue of their endpoint and reach the next
//! socket bound to it (at-least-once towards the application for reads the shim cannot see).

use crate::config::Config;
use crate::route::{ClaAddr, Routes};
use crate::wire::{self, CrcType, CreationTimestamp, Eid, PrimaryBlock};
use std::collections::{HashMap, HashSet, VecDeque};

/// Upstream BP Socket send flags (see `include/bp_socket.h`).
pub mod send_flags {
    /// Application acknowledgement requested.
    pub const ACK_REQUESTED: u32 = 0x1;
    /// Reception status report requested.
    pub const RECEIVED_RPT: u32 = 0x2;
    /// Custody report (no BPv7 meaning; accepted).
    pub const CUSTODY_RPT: u32 = 0x4;
    /// Forwarding status report requested.
    pub const FORWARDED_RPT: u32 = 0x8;
    /// Delivery status report requested.
    pub const DELIVERED_RPT: u32 = 0x10;
    /// Deletion status report requested.
    pub const DELETED_RPT: u32 = 0x20;
    /// Bulk priority.
    pub const BULK: u32 = 0x100;
    /// Standard priority.
    pub const STD: u32 = 0x200;
    /// Expedited priority.
    pub const EXPEDITED: u32 = 0x400;
    /// Custody flags (accepted, no effect in BPv7).
    pub const CUSTODY_REQUIRED: u32 = 0x1000;
    /// See [`CUSTODY_REQUIRED`].
    pub const CUSTODY_OPTIONAL: u32 = 0x2000;
    /// See [`CUSTODY_REQUIRED`].
    pub const NO_CUSTODY: u32 = 0x4000;
    /// Every flag with a meaning on AF_BP.
    pub const ALL: u32 = 0x7F3F;

    /// Checks that mutually exclusive flags are not combined; returns false if they are.
    pub fn valid(flags: u32) -> bool {
        let prio = (flags & (BULK | STD | EXPEDITED)).count_ones();
        let custody = (flags & (CUSTODY_REQUIRED | CUSTODY_OPTIONAL | NO_CUSTODY)).count_ones();
        prio <= 1 && custody <= 1
    }
}

/// First ephemeral service number handed out by autobind (as the ephemeral port range of UDP).
pub const EPHEMERAL_FIRST: u64 = 32768;
/// Most unacknowledged ADUs kept per socket before the oldest are forgotten.
pub const UNACKED_MAX: usize = 65536;

/// An ipn endpoint (node, service).
pub type Endpoint = (u64, u64);

/// Bytes of an ADU: a buffer and the range holding the payload, so that a received bundle's
/// payload is not copied out of the buffer it arrived in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Payload {
    /// The whole buffer is the payload.
    pub fn whole(buf: Vec<u8>) -> Payload {
        let end = buf.len();
        Payload { buf, start: 0, end }
    }
    /// The payload is `range` of `buf` (clamped to the buffer).
    pub fn part(buf: Vec<u8>, range: std::ops::Range<usize>) -> Payload {
        let end = range.end.min(buf.len());
        let start = range.start.min(end);
        Payload { buf, start, end }
    }
    /// The payload bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
    /// Payload length.
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// An ADU on its way to an application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adu {
    /// Source EID of its bundle.
    pub source: Endpoint,
    /// The data.
    pub payload: Payload,
    /// DTN time (ms) after which it is deleted.
    pub expires_ms: u64,
}

/// A bundle to hand to a convergence layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Next hop.
    pub to: ClaAddr,
    /// The encoded bundle.
    pub bundle: Vec<u8>,
}

/// Why an application command failed, as the errno the application sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// `EINVAL`
    Invalid,
    /// `EADDRINUSE`
    AddrInUse,
    /// `EADDRNOTAVAIL`
    AddrNotAvail,
    /// `EMSGSIZE`
    MsgSize,
    /// `EBADF`: no such socket.
    BadSocket,
}

impl ApiError {
    /// The Linux errno value.
    pub fn errno(self) -> i32 {
        match self {
            ApiError::Invalid => 22,
            ApiError::AddrInUse => 98,
            ApiError::AddrNotAvail => 99,
            ApiError::MsgSize => 90,
            ApiError::BadSocket => 9,
        }
    }
}

/// Counters, readable for tests and logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Bundles created from application sends.
    pub sent: u64,
    /// ADUs delivered locally without touching the network.
    pub local: u64,
    /// Bundles received from convergence layers and accepted.
    pub received: u64,
    /// Bundles received and dropped as malformed, by reason.
    pub malformed: HashMap<&'static str, u64>,
    /// Bundles forwarded to a next hop.
    pub forwarded: u64,
    /// ADUs dropped because a connected socket accepts only its peer's.
    pub filtered: u64,
    /// Bundles or ADUs deleted because their lifetime ended.
    pub expired: u64,
    /// Received bundles for another node with no route (dropped).
    pub no_route: u64,
}

#[derive(Debug, Default)]
struct AppSocket {
    bound: Option<Endpoint>,
    peer: Option<Endpoint>,
    ready: VecDeque<Adu>,
    unacked: VecDeque<(u32, Adu)>,
    next_seq: u32,
}

/// A BPv7 node.
#[derive(Debug)]
pub struct Node {
    node: u64,
    max_adu: u64,
    lifetime_ms: u64,
    crc: CrcType,
    routes: Routes,
    sockets: HashMap<u32, AppSocket>,
    next_id: u32,
    bound: HashMap<Endpoint, u32>,
    /// ADUs for local endpoints that no socket is bound to (yet).
    waiting: HashMap<Endpoint, VecDeque<Adu>>,
    /// Bundles with no route, kept until their lifetime ends: (expiry, destination, bytes).
    unrouted: VecDeque<(u64, Endpoint, Vec<u8>)>,
    unrouted_warned: HashSet<Endpoint>,
    transmits: VecDeque<Transmit>,
    ready_sockets: VecDeque<u32>,
    ready_set: HashSet<u32>,
    last_ts: CreationTimestamp,
    next_ephemeral: u64,
    /// Event counters.
    pub counters: Counters,
}

impl Node {
    /// A node with this configuration.
    pub fn new(cfg: &Config) -> Node {
        Node {
            node: cfg.node,
            max_adu: cfg.max_adu,
            lifetime_ms: cfg.lifetime_ms,
            crc: CrcType::Crc32c,
            routes: cfg.routes.clone(),
            sockets: HashMap::new(),
            next_id: 1,
            bound: HashMap::new(),
            waiting: HashMap::new(),
            unrouted: VecDeque::new(),
            unrouted_warned: HashSet::new(),
            transmits: VecDeque::new(),
            ready_sockets: VecDeque::new(),
            ready_set: HashSet::new(),
            last_ts: CreationTimestamp::default(),
            next_ephemeral: EPHEMERAL_FIRST,
            counters: Counters::default(),
        }
    }

    /// Local node number.
    pub fn node_number(&self) -> u64 {
        self.node
    }

    /// Largest ADU an application may send.
    pub fn max_adu(&self) -> u64 {
        self.max_adu
    }

    /// For each route whose next hop carries one bundle per transmission, the largest ADU that
    /// fits: `(node pattern, service pattern, max ADU)` with `u64::MAX` for `*`.
    pub fn route_limits(&self) -> Vec<(u64, u64, u64)> {
        self.routes
            .entries()
            .iter()
            .filter_map(|(p, hop)| {
                let max = hop.max_bundle()?;
                // Worst case of every variable-length field, so that the check never lets
                // through an ADU whose bundle would not fit.
                let worst = PrimaryBlock {
                    flags: u64::MAX,
                    crc_type: CrcType::Crc32c,
                    destination: Eid::ipn(u64::MAX, u64::MAX),
                    source: Eid::ipn(u64::MAX, u64::MAX),
                    report_to: Eid::ipn(u64::MAX, u64::MAX),
                    creation: CreationTimestamp {
                        time: u64::MAX,
                        seq: u64::MAX,
                    },
                    lifetime_ms: u64::MAX,
                    fragment: None,
                };
                let overhead = wire::encoded_len(&worst, Some(2), max, CrcType::Crc32c) - max;
                Some((
                    p.node.as_u64(),
                    p.service.as_u64(),
                    max.saturating_sub(overhead) as u64,
                ))
            })
            .collect()
    }

    /// Registers a new application socket; returns its id.
    pub fn open(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.sockets.insert(
            id,
            AppSocket {
                next_seq: 1,
                ..AppSocket::default()
            },
        );
        id
    }

    /// Whether socket `id` exists.
    pub fn has_socket(&self, id: u32) -> bool {
        self.sockets.contains_key(&id)
    }

    /// Binds socket `id` to ipn:`node`.`service`; service 0 picks a free ephemeral service.
    /// Returns the service bound.
    pub fn bind(&mut self, id: u32, node: u64, service: u64) -> Result<u64, ApiError> {
        let sock = self.sockets.get(&id).ok_or(ApiError::BadSocket)?;
        if sock.bound.is_some() {
            return Err(ApiError::Invalid);
        }
        if node != self.node {
            return Err(ApiError::AddrNotAvail);
        }
        let service = if service == 0 {
            self.ephemeral().ok_or(ApiError::AddrInUse)?
        } else {
            service
        };
        if self.bound.contains_key(&(node, service)) {
            return Err(ApiError::AddrInUse);
        }
        self.bound.insert((node, service), id);
        let waiting = self.waiting.remove(&(node, service));
        if let Some(sock) = self.sockets.get_mut(&id) {
            sock.bound = Some((node, service));
            if let Some(w) = waiting {
                sock.ready.extend(w);
            }
        }
        self.mark_ready(id);
        Ok(service)
    }

    fn ephemeral(&mut self) -> Option<u64> {
        // Bounded scan over the range, as UDP's port allocation.
        for _ in 0..(u32::MAX as u64 - EPHEMERAL_FIRST) {
            let s = self.next_ephemeral;
            self.next_ephemeral = if s >= u32::MAX as u64 {
                EPHEMERAL_FIRST
            } else {
                s + 1
            };
            if !self.bound.contains_key(&(self.node, s))
                && !self.waiting.contains_key(&(self.node, s))
            {
                return Some(s);
            }
        }
        None
    }

    /// Sets (or with `None`, clears) the peer of socket `id`.
    pub fn connect(&mut self, id: u32, peer: Option<Endpoint>) -> Result<(), ApiError> {
        let sock = self.sockets.get_mut(&id).ok_or(ApiError::BadSocket)?;
        sock.peer = peer;
        Ok(())
    }

    /// An application sent an ADU on socket `id` to `dest` with upstream `flags`.
    pub fn app_send(
        &mut self,
        now_ms: u64,
        id: u32,
        flags: u32,
        dest: Endpoint,
        payload: Payload,
    ) -> Result<(), ApiError> {
        if !send_flags::valid(flags) || dest.1 == 0 {
            return Err(ApiError::Invalid);
        }
        if payload.len() as u64 > self.max_adu {
            return Err(ApiError::MsgSize);
        }
        let source = match self.sockets.get(&id).ok_or(ApiError::BadSocket)?.bound {
            Some(ep) => ep,
            // The shim binds before the first send; this covers a send that bypassed it.
            None => {
                let s = self.bind(id, self.node, 0)?;
                (self.node, s)
            }
        };
        if payload.is_empty() {
            return Ok(());
        }
        self.counters.sent += 1;
        let expires_ms = now_ms.saturating_add(self.lifetime_ms);
        if dest.0 == self.node {
            self.counters.local += 1;
            self.deliver(
                dest,
                Adu {
                    source,
                    payload,
                    expires_ms,
                },
            );
            return Ok(());
        }
        let primary = PrimaryBlock {
            flags: bundle_flags(flags),
            crc_type: self.crc,
            destination: Eid::ipn(dest.0, dest.1),
            source: Eid::ipn(source.0, source.1),
            report_to: Eid::ipn(source.0, source.1),
            creation: self.next_timestamp(now_ms),
            lifetime_ms: self.lifetime_ms,
            fragment: None,
        };
        let priority = priority(flags);
        if let Some(max) = self
            .routes
            .lookup(dest.0, dest.1)
            .and_then(|hop| hop.max_bundle())
            && wire::encoded_len(&primary, priority, payload.len(), self.crc) > max
        {
            return Err(ApiError::MsgSize);
        }
        let mut bundle = Vec::new();
        wire::encode(&primary, priority, payload.bytes(), self.crc, &mut bundle);
        self.route(now_ms, dest, expires_ms, bundle);
        Ok(())
    }

    fn route(&mut self, _now_ms: u64, dest: Endpoint, expires_ms: u64, bundle: Vec<u8>) {
        match self.routes.lookup(dest.0, dest.1) {
            Some(to) => self.transmits.push_back(Transmit { to, bundle }),
            None => {
                // One warning per destination, not one per bundle.
                if self.unrouted_warned.insert(dest) {
                    crate::warn!(
                        "no route to ipn:{}.{}: its bundles are held until their lifetime ends",
                        dest.0,
                        dest.1
                    );
                }
                self.unrouted.push_back((expires_ms, dest, bundle));
            }
        }
    }

    /// Creation timestamps are unique: the sequence number counts bundles within one ms.
    fn next_timestamp(&mut self, now_ms: u64) -> CreationTimestamp {
        let ts = if now_ms > self.last_ts.time {
            CreationTimestamp {
                time: now_ms,
                seq: 0,
            }
        } else {
            CreationTimestamp {
                time: self.last_ts.time,
                seq: self.last_ts.seq + 1,
            }
        };
        self.last_ts = ts;
        ts
    }

    /// Bytes of one bundle received from a convergence layer.
    pub fn cla_receive(&mut self, now_ms: u64, from: &str, bytes: Vec<u8>) {
        let b = match wire::parse(&bytes) {
            Ok(b) => b,
            Err(e) => {
                let n = self.counters.malformed.entry(e.reason()).or_insert(0);
                *n += 1;
                crate::warn!(
                    "dropped a malformed bundle from {from}: {e} (counter {}: {n})",
                    e.reason()
                );
                return;
            }
        };
        let p = &b.primary;
        let Eid::Ipn { node, service } = p.destination else {
            *self
                .counters
                .malformed
                .entry("unsupported_eid")
                .or_insert(0) += 1;
            crate::warn!(
                "dropped a bundle from {from} for {}: only ipn destinations are served",
                p.destination
            );
            return;
        };
        let expires_ms = if p.creation.time == 0 {
            // Without a usable creation time the age block would be needed; until that block is
            // processed, count the lifetime from reception.
            now_ms.saturating_add(p.lifetime_ms)
        } else {
            p.creation.time.saturating_add(p.lifetime_ms)
        };
        if expires_ms <= now_ms {
            self.counters.expired += 1;
            crate::debug!("dropped an expired bundle from {from}");
            return;
        }
        self.counters.received += 1;
        if node != self.node {
            if self.routes.lookup(node, service).is_some() {
                self.counters.forwarded += 1;
                self.route(now_ms, (node, service), expires_ms, bytes);
            } else {
                self.counters.no_route += 1;
                crate::warn!("dropped a bundle for ipn:{node}.{service}: no route");
            }
            return;
        }
        if p.fragment.is_some() {
            *self
                .counters
                .malformed
                .entry("fragment_unsupported")
                .or_insert(0) += 1;
            crate::warn!("dropped a fragment from {from}: reassembly is not implemented yet");
            return;
        }
        let source = match p.source {
            Eid::Ipn { node, service } => (node, service),
            // Anonymous and dtn sources are delivered with source ipn:0.0.
            _ => (0, 0),
        };
        let payload = Payload::part(bytes, b.payload.clone());
        self.deliver(
            (node, service),
            Adu {
                source,
                payload,
                expires_ms,
            },
        );
    }

    fn deliver(&mut self, dest: Endpoint, adu: Adu) {
        match self.bound.get(&dest).copied() {
            Some(id) => {
                let Some(sock) = self.sockets.get_mut(&id) else {
                    return;
                };
                if sock.peer.is_some_and(|p| p != adu.source) {
                    self.counters.filtered += 1;
                    return;
                }
                sock.ready.push_back(adu);
                self.mark_ready(id);
            }
            None => self.waiting.entry(dest).or_default().push_back(adu),
        }
    }

    fn mark_ready(&mut self, id: u32) {
        if self.ready_set.insert(id) {
            self.ready_sockets.push_back(id);
        }
    }

    /// Next socket that may have ADUs to write (each socket appears once until polled again).
    pub fn poll_ready_socket(&mut self) -> Option<u32> {
        let id = self.ready_sockets.pop_front()?;
        self.ready_set.remove(&id);
        Some(id)
    }

    /// The next ADU to write to socket `id`, and the delivery sequence it will carry.
    pub fn peek_ready(&self, id: u32) -> Option<(u32, &Adu)> {
        let s = self.sockets.get(&id)?;
        s.ready.front().map(|a| (s.next_seq, a))
    }

    /// The ADU from [`Node::peek_ready`] has been written to the socket.
    pub fn mark_written(&mut self, id: u32) {
        if let Some(s) = self.sockets.get_mut(&id)
            && let Some(a) = s.ready.pop_front()
        {
            s.unacked.push_back((s.next_seq, a));
            s.next_seq = s.next_seq.wrapping_add(1).max(1);
            if s.unacked.len() > UNACKED_MAX {
                s.unacked.pop_front();
            }
        }
    }

    /// The application read every ADU up to delivery sequence `seq` on socket `id`.
    pub fn app_ack(&mut self, id: u32, seq: u32) {
        if let Some(s) = self.sockets.get_mut(&id) {
            // Sequence numbers are u32 and wrap; compare by distance.
            while let Some((q, _)) = s.unacked.front() {
                if seq.wrapping_sub(*q) < u32::MAX / 2 {
                    s.unacked.pop_front();
                } else {
                    break;
                }
            }
        }
    }

    /// The last application reference to socket `id` is gone. Unread ADUs go back to the queue
    /// of its endpoint, in order, for the next socket bound to it.
    pub fn app_closed(&mut self, id: u32) {
        let Some(mut s) = self.sockets.remove(&id) else {
            return;
        };
        let Some(ep) = s.bound else {
            return;
        };
        self.bound.remove(&ep);
        let mut back: VecDeque<Adu> = s.unacked.drain(..).map(|(_, a)| a).collect();
        back.extend(s.ready.drain(..));
        if !back.is_empty() {
            crate::debug!(
                "socket {id} closed with {} unread ADUs for ipn:{}.{}; kept for the next bind",
                back.len(),
                ep.0,
                ep.1
            );
            let w = self.waiting.entry(ep).or_default();
            back.extend(w.drain(..));
            *w = back;
        }
    }

    /// Deletes what has outlived its lifetime.
    pub fn expire(&mut self, now_ms: u64) {
        let mut n = 0;
        for q in self.waiting.values_mut() {
            let before = q.len();
            q.retain(|a| a.expires_ms > now_ms);
            n += before - q.len();
        }
        self.waiting.retain(|_, q| !q.is_empty());
        let before = self.unrouted.len();
        self.unrouted.retain(|(e, _, _)| *e > now_ms);
        n += before - self.unrouted.len();
        for s in self.sockets.values_mut() {
            let before = s.ready.len();
            s.ready.retain(|a| a.expires_ms > now_ms);
            n += before - s.ready.len();
        }
        self.counters.expired += n as u64;
    }

    /// Next bundle for a convergence layer.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Puts back a bundle the convergence layer could not take yet (it goes first).
    pub fn unpoll_transmit(&mut self, t: Transmit) {
        self.transmits.push_front(t);
    }

    /// Bundles waiting for a convergence layer.
    pub fn pending_transmits(&self) -> usize {
        self.transmits.len()
    }

    /// Bundles held because no route leads to their destination.
    pub fn unrouted(&self) -> usize {
        self.unrouted.len()
    }
}

fn bundle_flags(flags: u32) -> u64 {
    use send_flags as f;
    use wire::flags as b;
    let mut out = 0;
    for (from, to) in [
        (f::ACK_REQUESTED, b::ACK_REQUESTED),
        (f::RECEIVED_RPT, b::REPORT_RECEPTION),
        (f::FORWARDED_RPT, b::REPORT_FORWARDING),
        (f::DELIVERED_RPT, b::REPORT_DELIVERY),
        (f::DELETED_RPT, b::REPORT_DELETION),
    ] {
        if flags & from != 0 {
            out |= to;
        }
    }
    out
}

fn priority(flags: u32) -> Option<u8> {
    use send_flags as f;
    if flags & f::BULK != 0 {
        Some(0)
    } else if flags & f::EXPEDITED != 0 {
        Some(2)
    } else if flags & f::STD != 0 {
        Some(1)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Pattern;

    const T: u64 = 800_000_000_000;

    fn node(n: u64, routes: &[(&str, &str)]) -> Node {
        let cfg = Config {
            node: n,
            routes: Routes::new(
                routes
                    .iter()
                    .map(|(p, h)| (Pattern::parse(p).unwrap(), ClaAddr::parse(h).unwrap()))
                    .collect(),
            ),
            ..Config::default()
        };
        Node::new(&cfg)
    }

    fn drain(n: &mut Node, id: u32) -> Vec<(Endpoint, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some((_, a)) = n.peek_ready(id) {
            out.push((a.source, a.payload.bytes().to_vec()));
            n.mark_written(id);
        }
        out
    }

    #[test]
    fn local_delivery_without_network() {
        let mut n = node(1, &[]);
        let a = n.open();
        let b = n.open();
        assert_eq!(n.bind(a, 1, 5), Ok(5));
        n.app_send(T, b, 0, (1, 5), Payload::whole(b"hi".to_vec()))
            .unwrap();
        assert!(n.poll_transmit().is_none());
        let src = (1, n.sockets[&b].bound.unwrap().1);
        assert!(
            src.1 >= EPHEMERAL_FIRST,
            "autobind picked an ephemeral service"
        );
        assert_eq!(drain(&mut n, a), vec![(src, b"hi".to_vec())]);
    }

    #[test]
    fn bind_rules() {
        let mut n = node(1, &[]);
        let a = n.open();
        let b = n.open();
        assert_eq!(n.bind(a, 2, 1), Err(ApiError::AddrNotAvail));
        assert_eq!(n.bind(a, 1, 1), Ok(1));
        assert_eq!(n.bind(a, 1, 2), Err(ApiError::Invalid));
        assert_eq!(n.bind(b, 1, 1), Err(ApiError::AddrInUse));
        assert_eq!(n.bind(99, 1, 3), Err(ApiError::BadSocket));
        n.app_closed(a);
        assert_eq!(n.bind(b, 1, 1), Ok(1));
    }

    #[test]
    fn remote_send_encodes_a_valid_bundle() {
        let mut n = node(10, &[("ipn:20.*", "udp:127.0.0.1:4557")]);
        let s = n.open();
        n.bind(s, 10, 2).unwrap();
        let f = send_flags::ACK_REQUESTED | send_flags::DELIVERED_RPT | send_flags::EXPEDITED;
        n.app_send(T, s, f, (20, 1), Payload::whole(b"hello".to_vec()))
            .unwrap();
        n.app_send(T, s, 0, (20, 1), Payload::whole(b"again".to_vec()))
            .unwrap();
        let t = n.poll_transmit().unwrap();
        assert_eq!(t.to, ClaAddr::parse("udp:127.0.0.1:4557").unwrap());
        let b = wire::parse(&t.bundle).unwrap();
        assert_eq!(b.primary.source, Eid::ipn(10, 2));
        assert_eq!(b.primary.destination, Eid::ipn(20, 1));
        assert_eq!(b.primary.report_to, Eid::ipn(10, 2));
        assert_eq!(b.primary.crc_type, CrcType::Crc32c);
        assert_eq!(b.primary.lifetime_ms, 24 * 3600 * 1000);
        assert_eq!(
            b.primary.flags,
            wire::flags::ACK_REQUESTED | wire::flags::REPORT_DELIVERY
        );
        assert_eq!(b.primary.creation, CreationTimestamp { time: T, seq: 0 });
        assert_eq!(b.priority(&t.bundle), Some(2));
        assert_eq!(b.payload(&t.bundle), b"hello");
        let t2 = n.poll_transmit().unwrap();
        let b2 = wire::parse(&t2.bundle).unwrap();
        assert_eq!(b2.primary.creation, CreationTimestamp { time: T, seq: 1 });
        assert_eq!(b2.priority(&t2.bundle), None);
    }

    #[test]
    fn send_checks() {
        let mut n = node(10, &[("ipn:20.*", "udp:127.0.0.1:4557")]);
        let s = n.open();
        let p = || Payload::whole(vec![0; 10]);
        let both = send_flags::BULK | send_flags::EXPEDITED;
        assert_eq!(n.app_send(T, s, both, (20, 1), p()), Err(ApiError::Invalid));
        assert_eq!(n.app_send(T, s, 0, (20, 0), p()), Err(ApiError::Invalid));
        let big = Payload::whole(vec![0; 70_000]);
        assert_eq!(n.app_send(T, s, 0, (20, 1), big), Err(ApiError::MsgSize));
        let (_, _, max) = n.route_limits()[0];
        let fits = Payload::whole(vec![0; max as usize]);
        n.app_send(T, s, 0, (20, 1), fits).unwrap();
        assert!(n.poll_transmit().unwrap().bundle.len() <= 65_507);
        // Zero length: accepted, nothing sent.
        n.app_send(T, s, 0, (20, 1), Payload::whole(Vec::new()))
            .unwrap();
        assert!(n.poll_transmit().is_none());
    }

    #[test]
    fn received_bundle_is_delivered_and_malformed_is_counted() {
        let mut a = node(10, &[("ipn:20.*", "udp:127.0.0.1:4557")]);
        let mut b = node(20, &[]);
        let sa = a.open();
        a.bind(sa, 10, 2).unwrap();
        let sb = b.open();
        b.bind(sb, 20, 1).unwrap();
        a.app_send(T, sa, 0, (20, 1), Payload::whole(b"x".to_vec()))
            .unwrap();
        let t = a.poll_transmit().unwrap();
        b.cla_receive(T, "test", t.bundle.clone());
        assert_eq!(drain(&mut b, sb), vec![((10, 2), b"x".to_vec())]);
        let mut bad = t.bundle.clone();
        let last = bad.len() - 3;
        bad[last] ^= 0xFF;
        b.cla_receive(T, "test", bad);
        b.cla_receive(T, "test", vec![0x9f]);
        assert_eq!(b.counters.malformed.values().sum::<u64>(), 2);
        assert_eq!(b.counters.received, 1);
        // Expired on arrival.
        b.cla_receive(T + 25 * 3600 * 1000, "test", t.bundle);
        assert_eq!(b.counters.expired, 1);
    }

    #[test]
    fn unread_adus_go_to_the_next_socket_bound() {
        let mut n = node(1, &[]);
        let a = n.open();
        n.bind(a, 1, 7).unwrap();
        let tx = n.open();
        for i in 0..4u8 {
            n.app_send(T, tx, 0, (1, 7), Payload::whole(vec![i]))
                .unwrap();
        }
        // Two written to the socket, one of them read; two still in the engine.
        n.mark_written(a);
        n.mark_written(a);
        n.app_ack(a, 1);
        n.app_closed(a);
        let b = n.open();
        n.bind(b, 1, 7).unwrap();
        let got: Vec<u8> = drain(&mut n, b).into_iter().map(|(_, p)| p[0]).collect();
        assert_eq!(got, vec![1, 2, 3]);
    }

    #[test]
    fn waiting_for_a_binder_and_expiry() {
        let mut n = node(1, &[]);
        let tx = n.open();
        n.app_send(T, tx, 0, (1, 9), Payload::whole(vec![1]))
            .unwrap();
        n.expire(T + 1000);
        let r = n.open();
        n.bind(r, 1, 9).unwrap();
        assert_eq!(drain(&mut n, r).len(), 1);
        n.app_send(T, tx, 0, (1, 10), Payload::whole(vec![1]))
            .unwrap();
        n.expire(T + 24 * 3600 * 1000);
        assert_eq!(n.counters.expired, 1);
        let r2 = n.open();
        n.bind(r2, 1, 10).unwrap();
        assert!(drain(&mut n, r2).is_empty());
    }

    #[test]
    fn connected_socket_filters_sources() {
        let mut n = node(1, &[]);
        let r = n.open();
        n.bind(r, 1, 1).unwrap();
        n.connect(r, Some((1, 2))).unwrap();
        let peer = n.open();
        n.bind(peer, 1, 2).unwrap();
        let other = n.open();
        n.bind(other, 1, 3).unwrap();
        n.app_send(T, other, 0, (1, 1), Payload::whole(vec![3]))
            .unwrap();
        n.app_send(T, peer, 0, (1, 1), Payload::whole(vec![2]))
            .unwrap();
        assert_eq!(drain(&mut n, r), vec![((1, 2), vec![2])]);
        assert_eq!(n.counters.filtered, 1);
    }

    #[test]
    fn no_route_is_held_then_expires() {
        let mut n = node(10, &[]);
        let s = n.open();
        n.app_send(T, s, 0, (30, 1), Payload::whole(vec![1]))
            .unwrap();
        assert_eq!(n.unrouted(), 1);
        n.expire(T + 24 * 3600 * 1000 + 1);
        assert_eq!(n.unrouted(), 0);
    }

    #[test]
    fn forwarding_keeps_the_bytes() {
        let mut a = node(10, &[("ipn:*.*", "udp:127.0.0.1:1")]);
        let mut relay = node(15, &[("ipn:20.*", "udp:127.0.0.1:2")]);
        let s = a.open();
        a.app_send(T, s, 0, (20, 1), Payload::whole(vec![5; 100]))
            .unwrap();
        let t = a.poll_transmit().unwrap();
        relay.cla_receive(T, "test", t.bundle.clone());
        assert_eq!(relay.poll_transmit().unwrap().bundle, t.bundle);
    }
}

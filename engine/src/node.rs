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
//! Custody of bundles: every bundle the node holds (to forward, or to deliver to a local
//! endpoint) has a store id. The node says what the store must keep and forget as
//! [`StoreOp`]s ([`Node::take_store_ops`]); the driver commits them in batches and reports
//! acceptance only after the commit. A bundle is forgotten when its last copy has left
//! ([`Node::transmitted`]), when the application has read it ([`Node::app_ack`]), or when it is
//! deleted (lifetime, hop limit, ...). [`Node::restore`] rebuilds the queues from a store.
//!
//! Next hops: bundles wait in one queue per next hop, expedited first, then standard, then bulk,
//! oldest first within a priority. A contact plan ([`crate::contact`]) opens and closes the
//! queue of a neighbour and paces it at the contact's rate; a static route is a next hop that is
//! always open.
//!
//! Consumption tracking: an ADU written to an application socket stays in the socket's
//! `unacked` window until the shim reports it read ([`Node::app_ack`]); if the socket goes away
//! first, the unread ADUs go back, in order, to the queue of their endpoint and reach the next
//! socket bound to it (at-least-once towards the application for reads the shim cannot see).

use crate::api::{StatusRecord, report_bits};
use crate::config::{Config, Durability};
use crate::contact::{ContactPlan, RateLimiter};
use crate::route::{ClaAddr, Routes};
use crate::store::{BundleState, Loaded, SeenKey, StoreOp, StoredBundle};
use crate::wire::{self, CrcType, CreationTimestamp, Eid, PrimaryBlock};
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

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

/// Block types this node processes; others are handled per their block flags.
const KNOWN_BLOCKS: [u64; 5] = [
    wire::block_type::PAYLOAD,
    wire::block_type::PREVIOUS_NODE,
    wire::block_type::BUNDLE_AGE,
    wire::block_type::HOP_COUNT,
    wire::block_type::CLASS_OF_SERVICE,
];

/// Memory the reassembler may hold for incomplete ADUs (at least twice the largest ADU).
pub const REASSEMBLY_MAX_BYTES: usize = 64 << 20;

/// Bytes reserved in [`Node::route_limits`] for the hop-count and bundle age blocks a bundle
/// made here may carry (each at most 21 bytes with a CRC-32C).
const OPTIONAL_BLOCKS: usize = 48;

/// Status reports kept per local endpoint before the oldest are dropped.
pub const REPORTS_MAX: usize = 1024;
/// Bundles remembered (for the `send_seq` of the reports about them) before the oldest are
/// forgotten.
pub const ORIGINS_MAX: usize = 65536;

/// The four kinds of status report (RFC 9171 §6.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportKind {
    /// Bundle received.
    Received,
    /// Bundle forwarded.
    Forwarded,
    /// Bundle delivered.
    Delivered,
    /// Bundle deleted.
    Deleted,
}

impl ReportKind {
    /// The bundle processing flag asking for this report.
    pub fn flag(self) -> u64 {
        match self {
            ReportKind::Received => wire::flags::REPORT_RECEPTION,
            ReportKind::Forwarded => wire::flags::REPORT_FORWARDING,
            ReportKind::Delivered => wire::flags::REPORT_DELIVERY,
            ReportKind::Deleted => wire::flags::REPORT_DELETION,
        }
    }
    /// The bit in [`report_bits`].
    pub fn bit(self) -> u32 {
        match self {
            ReportKind::Received => report_bits::RECEIVED,
            ReportKind::Forwarded => report_bits::FORWARDED,
            ReportKind::Delivered => report_bits::DELIVERED,
            ReportKind::Deleted => report_bits::DELETED,
        }
    }
    /// Position in the status information array.
    pub fn index(self) -> usize {
        match self {
            ReportKind::Received => 0,
            ReportKind::Forwarded => 1,
            ReportKind::Delivered => 2,
            ReportKind::Deleted => 3,
        }
    }
}

/// RFC 9171 §6.1.1 reason codes used by the node.
pub mod reason {
    /// No additional information.
    pub const NO_INFO: u32 = 0;
    /// Lifetime expired.
    pub const LIFETIME_EXPIRED: u32 = 1;
    /// Transmission canceled.
    pub const TRANSMISSION_CANCELED: u32 = 3;
    /// Depleted storage.
    pub const DEPLETED_STORAGE: u32 = 4;
    /// No known route to destination from here.
    pub const NO_ROUTE: u32 = 6;
    /// Block unintelligible.
    pub const BLOCK_UNINTELLIGIBLE: u32 = 8;
    /// Hop limit exceeded.
    pub const HOP_LIMIT_EXCEEDED: u32 = 9;
    /// Block unsupported.
    pub const BLOCK_UNSUPPORTED: u32 = 11;
}

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
    /// The primary block of its bundle, kept only when the bundle asks for status reports.
    pub subject: Option<Box<PrimaryBlock>>,
    /// The source EID as text when it is not a two-element ipn EID (`source` is then (0, 0)).
    pub source_eid: Option<Box<str>>,
    /// Store id of its bundle (0: not held by the store).
    pub id: u64,
}

/// A bundle to hand to a convergence layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Next hop.
    pub to: ClaAddr,
    /// The encoded bundle.
    pub bundle: Vec<u8>,
    /// DTN time (ms) after which it is deleted instead of sent.
    pub expires_ms: u64,
    /// Store id of the bundle it is (a part of); report it with [`Node::transmitted`] once the
    /// layer has taken it. 0: not held by the store.
    pub id: u64,
}

/// What became of bytes received from a convergence layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// The node took them (stored, delivered, deleted by rule, or a duplicate it already has).
    Accepted,
    /// Not a well-formed bundle.
    Malformed,
    /// The store is at its limit: a layer that can refuse a transfer refuses it.
    NoSpace,
}

/// Where a bundle waits for its next hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Hop {
    /// A neighbour of the contact plan: open only during its contacts.
    Neighbour(u64),
    /// A static route's convergence-layer address: always open.
    Cla(ClaAddr),
}

/// A bundle (or fragment) in a next-hop queue.
#[derive(Debug)]
struct Queued {
    bundle: Vec<u8>,
    expires_ms: u64,
    id: u64,
    /// Since when this node has held it (DTN ms): the residence time added to its bundle age.
    since_ms: u64,
    /// Whether it carries a bundle age block to update when it leaves.
    aged: bool,
}

/// How a held bundle waits for its next hop.
#[derive(Clone, Copy, Debug)]
struct Hold {
    id: u64,
    rank: u8,
    expires_ms: u64,
    since_ms: u64,
    aged: bool,
}

/// One next hop's bundles, by (priority descending, arrival).
type HopQueue = BTreeMap<(Reverse<u8>, u64), Queued>;

/// What the node knows of a bundle the store holds.
#[derive(Debug)]
struct Held {
    size: u64,
    /// Copies (fragments) not yet taken by a convergence layer.
    parts: u32,
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
    /// Bundles deleted because their hop limit was reached.
    pub hop_limit: u64,
    /// Bundles split into fragments for a next hop.
    pub fragmented: u64,
    /// Status report bundles sent to other nodes.
    pub reports_sent: u64,
    /// Bundles deleted because a block they carry cannot be processed and asks for deletion.
    pub unsupported_block: u64,
    /// Received bundles for another node with no route (dropped).
    pub no_route: u64,
    /// Received bundles already accepted before (same source, creation timestamp, offset).
    pub duplicates: u64,
    /// Received bundles not taken because the store was full.
    pub refused_full: u64,
    /// Bundles taken back from the store at start.
    pub restored: u64,
}

/// Bundle options of one application socket (`SOL_BP` options).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SockOpts {
    /// Lifetime of its bundles (ms); `None`: the node's default.
    pub lifetime_ms: Option<u64>,
    /// Priority (0 bulk, 1 standard, 2 expedited); `None`: no class-of-service block.
    pub priority: Option<u8>,
    /// Report-to EID; `None`: the socket's own EID; `Some((0, 0))`: none.
    pub report_to: Option<Endpoint>,
    /// Status reports requested ([`crate::api::report_bits`]).
    pub report_bits: u32,
    /// CRC type of its bundles.
    pub crc: CrcType,
    /// Hop limit (a hop-count block is added when set).
    pub hop_limit: Option<u8>,
    /// Must-not-fragment flag.
    pub must_not_fragment: bool,
    /// Application acknowledgement requested.
    pub ack_requested: bool,
}

impl Default for SockOpts {
    fn default() -> SockOpts {
        SockOpts {
            lifetime_ms: None,
            priority: None,
            report_to: None,
            report_bits: 0,
            crc: CrcType::Crc32c,
            hop_limit: None,
            must_not_fragment: false,
            ack_requested: false,
        }
    }
}

#[derive(Debug, Default)]
struct AppSocket {
    bound: Option<Endpoint>,
    peer: Option<Endpoint>,
    opts: SockOpts,
    /// Non-empty ADUs accepted from this socket.
    sent: u64,
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
    routes: Routes,
    sockets: HashMap<u32, AppSocket>,
    next_id: u32,
    bound: HashMap<Endpoint, u32>,
    /// ADUs for local endpoints that no socket is bound to (yet).
    waiting: HashMap<Endpoint, VecDeque<Adu>>,
    /// Bundles with no route, kept until their lifetime ends: (expiry, destination, bytes, id).
    unrouted: VecDeque<(u64, Eid, Vec<u8>, u64)>,
    unrouted_warned: HashSet<Eid>,
    /// Bundles put back by a convergence layer that could not take them yet (they go first).
    transmits: VecDeque<Transmit>,
    /// Next-hop queues, keyed by (priority, descending; arrival order).
    hops: Vec<(Hop, HopQueue)>,
    arrivals: u64,
    contacts: ContactPlan,
    rates: HashMap<usize, RateLimiter>,
    /// Whether store operations are recorded (not with `BP_DURABILITY=memory`).
    persist: bool,
    ops: Vec<StoreOp>,
    next_store_id: u64,
    held: HashMap<u64, Held>,
    held_bytes: u64,
    store_max: u64,
    /// Identities of bundles accepted for local endpoints, with their expiry.
    seen: HashMap<SeenKey, u64>,
    /// The store cannot commit: take nothing more.
    store_failing: bool,
    /// Store ids of the fragments held for each incomplete ADU (source, creation time, seq).
    frag_ids: HashMap<(String, u64, u64), Vec<u64>>,
    ready_sockets: VecDeque<u32>,
    ready_set: HashSet<u32>,
    /// Status reports waiting for the application, per local endpoint: (store id, expiry,
    /// report).
    reports: HashMap<Endpoint, VecDeque<(u64, u64, StatusRecord)>>,
    /// Bundles created here that asked for reports: (source, creation time, seq) → (socket,
    /// send sequence), oldest first in `origin_order`.
    origins: HashMap<(Endpoint, u64, u64), (u32, u64)>,
    origin_order: VecDeque<(Endpoint, u64, u64)>,
    reports_enabled: bool,
    /// Add a bundle age block to every bundle made here.
    age_block: bool,
    /// Reject received bundles whose primary block has no CRC.
    strict_crc: bool,
    reassembler: crate::fragment::Reassembler,
    /// Latest time passed in (for calls that carry none, such as `bind`).
    clock_ms: u64,
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
            routes: cfg.routes.clone(),
            sockets: HashMap::new(),
            next_id: 1,
            bound: HashMap::new(),
            waiting: HashMap::new(),
            unrouted: VecDeque::new(),
            unrouted_warned: HashSet::new(),
            transmits: VecDeque::new(),
            hops: Vec::new(),
            arrivals: 0,
            contacts: cfg.contacts.clone(),
            rates: HashMap::new(),
            persist: cfg.durability != Durability::Memory,
            ops: Vec::new(),
            next_store_id: 1,
            held: HashMap::new(),
            held_bytes: 0,
            store_max: cfg.store_max,
            seen: HashMap::new(),
            store_failing: false,
            frag_ids: HashMap::new(),
            ready_sockets: VecDeque::new(),
            ready_set: HashSet::new(),
            reports: HashMap::new(),
            origins: HashMap::new(),
            origin_order: VecDeque::new(),
            reports_enabled: cfg.reports,
            age_block: cfg.age_block,
            strict_crc: cfg.strict_crc,
            reassembler: crate::fragment::Reassembler::new(
                REASSEMBLY_MAX_BYTES.max(cfg.max_adu as usize * 2),
            ),
            clock_ms: 0,
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

    /// Lifetime of new bundles unless a socket sets its own (ms).
    pub fn default_lifetime_ms(&self) -> u64 {
        self.lifetime_ms
    }

    /// For each route whose next hop carries one bundle per transmission, the largest ADU that
    /// fits: `(node pattern, service pattern, max ADU)` with `u64::MAX` for `*`.
    pub fn route_limits(&self) -> Vec<(u64, u64, u64)> {
        self.routes
            .entries()
            .iter()
            .filter_map(|(p, hop)| {
                let crate::route::Pattern::Ipn { node, service } = p else {
                    return None;
                };
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
                // Plus room for the optional hop-count and age blocks.
                let overhead = wire::encoded_len(&worst, Some(2), max, CrcType::Crc32c) - max
                    + OPTIONAL_BLOCKS;
                Some((
                    node.as_u64(),
                    service.as_u64(),
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
        let waiting = self.waiting.remove(&(node, service)).unwrap_or_default();
        if let Some(sock) = self.sockets.get_mut(&id) {
            sock.bound = Some((node, service));
        }
        let now = self.clock_ms;
        for adu in waiting {
            self.deliver(now, (node, service), adu);
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

    /// Sets a bundle option of socket `id` (codes of [`crate::api::opt`]).
    pub fn set_opt(&mut self, id: u32, opt: u32, a: u64, b: u64) -> Result<(), ApiError> {
        use crate::api::opt as o;
        let sock = self.sockets.get_mut(&id).ok_or(ApiError::BadSocket)?;
        let bool_of = |v: u64| {
            if v <= 1 {
                Ok(v == 1)
            } else {
                Err(ApiError::Invalid)
            }
        };
        let o = &mut sock.opts;
        match opt {
            o::LIFETIME => {
                o.lifetime_ms = Some(
                    a.checked_mul(1000)
                        .filter(|&ms| ms > 0)
                        .ok_or(ApiError::Invalid)?,
                )
            }
            o::PRIORITY if a <= 2 => o.priority = Some(a as u8),
            o::REPORT_TO => o.report_to = Some((a, b)),
            o::REPORT_FLAGS if a <= 0x1F => o.report_bits = a as u32,
            o::CRC_TYPE if a == 1 => o.crc = CrcType::Crc16,
            o::CRC_TYPE if a == 2 => o.crc = CrcType::Crc32c,
            o::HOP_LIMIT if a == 0 => o.hop_limit = None,
            o::HOP_LIMIT if a <= 255 => o.hop_limit = Some(a as u8),
            o::MUST_NOT_FRAGMENT => o.must_not_fragment = bool_of(a)?,
            o::ACK_REQUESTED => o.ack_requested = bool_of(a)?,
            _ => return Err(ApiError::Invalid),
        }
        Ok(())
    }

    /// The bundle options of socket `id`.
    pub fn opts(&self, id: u32) -> Option<&SockOpts> {
        self.sockets.get(&id).map(|s| &s.opts)
    }

    /// Takes (or with `peek`, copies) the oldest status report for socket `id`'s endpoint.
    pub fn take_report(&mut self, id: u32, peek: bool) -> Option<StatusRecord> {
        let ep = self.sockets.get(&id)?.bound?;
        let q = self.reports.get_mut(&ep)?;
        if peek {
            q.front().map(|(_, _, r)| r.clone())
        } else {
            let r = q.pop_front();
            if q.is_empty() {
                self.reports.remove(&ep);
            }
            let (sid, _, r) = r?;
            // Read: the store forgets it.
            self.forget(sid);
            Some(r)
        }
    }

    /// Queues a status report for a local endpoint (bounded: the oldest is dropped).
    fn queue_report(&mut self, to: Endpoint, mut r: StatusRecord) {
        if let Some(&(sock, seq)) = self
            .origins
            .get(&(r.source, r.creation_time, r.creation_seq))
            && self.sockets.get(&sock).and_then(|s| s.bound) == Some(to)
        {
            r.send_seq = seq;
        }
        // Kept in the store too, so that a restart does not lose it; it lives as long as a
        // bundle made here would.
        let expires_ms = self.clock_ms.saturating_add(self.lifetime_ms);
        let sid = self.keep_unpersisted(crate::api::STATUS_RECORD_LEN as u64);
        if self.persist {
            self.ops.push(StoreOp::Put(StoredBundle {
                id: sid,
                state: BundleState::Report,
                dest: Eid::ipn(to.0, to.1).to_string(),
                source: Eid::ipn(r.reporter.0, r.reporter.1).to_string(),
                created_ms: r.creation_time,
                seq: r.creation_seq,
                frag_offset: -1,
                priority: 1,
                stored_ms: self.clock_ms,
                expires_ms,
                bytes: r.encode(),
            }));
        }
        let q = self.reports.entry(to).or_default();
        let dropped = if q.len() >= REPORTS_MAX {
            q.pop_front()
        } else {
            None
        };
        q.push_back((sid, expires_ms, r));
        if let Some((old, _, _)) = dropped {
            self.forget(old);
        }
    }

    /// A status report about `subject` is due (`kind`, `reason`): queued locally when its
    /// report-to is a local endpoint, sent as an administrative record otherwise.
    /// `force`: report even if the bundle did not ask (a block's flags asked).
    fn report(
        &mut self,
        now_ms: u64,
        subject: &PrimaryBlock,
        kind: ReportKind,
        reason: u32,
        force: bool,
    ) {
        if !self.reports_enabled || (!force && subject.flags & kind.flag() == 0) {
            return;
        }
        if subject.flags & wire::flags::ADMIN_RECORD != 0 {
            return;
        }
        let to = match subject.report_to {
            Eid::Ipn { node, service } if node != 0 => (node, service),
            _ => return,
        };
        crate::debug!(
            "{kind:?} report (reason {reason}) about {} {}.{} to ipn:{}.{}",
            subject.source,
            subject.creation.time,
            subject.creation.seq,
            to.0,
            to.1
        );
        let time = if subject.flags & wire::flags::STATUS_TIME_REQUESTED != 0 {
            now_ms
        } else {
            0
        };
        let source = match subject.source {
            Eid::Ipn { node, service } => (node, service),
            _ => (0, 0),
        };
        let (frag_offset, frag_length) = subject.fragment.map(|f| (f.offset, 0)).unwrap_or((0, 0));
        if to.0 == self.node {
            let mut times = [0; 4];
            times[kind.index()] = time;
            self.queue_report(
                to,
                StatusRecord {
                    status: kind.bit(),
                    reason,
                    send_seq: 0,
                    creation_time: subject.creation.time,
                    creation_seq: subject.creation.seq,
                    frag_offset,
                    frag_length,
                    times,
                    source,
                    reporter: (self.node, 0),
                },
            );
        } else {
            self.send_report_bundle(now_ms, subject, kind, reason, to);
        }
    }

    /// An application sent an ADU on socket `id` to ipn:`dest` with upstream `flags`.
    pub fn app_send(
        &mut self,
        now_ms: u64,
        id: u32,
        flags: u32,
        dest: Endpoint,
        payload: Payload,
    ) -> Result<(), ApiError> {
        self.app_send_to(now_ms, id, flags, Eid::ipn(dest.0, dest.1), payload)
    }

    /// An application sent an ADU on socket `id` to any EID (`dtn:`, three-element `ipn:`).
    pub fn app_send_to(
        &mut self,
        now_ms: u64,
        id: u32,
        flags: u32,
        dest_eid: Eid,
        payload: Payload,
    ) -> Result<(), ApiError> {
        let dest = match dest_eid {
            Eid::Ipn { node, service } => (node, service),
            Eid::Null => return Err(ApiError::Invalid),
            _ => (u64::MAX, u64::MAX),
        };
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
        self.clock_ms = now_ms;
        if payload.is_empty() {
            return Ok(());
        }
        let (opts, send_seq) = match self.sockets.get_mut(&id) {
            Some(s) => {
                s.sent += 1;
                (s.opts.clone(), s.sent)
            }
            None => return Err(ApiError::BadSocket),
        };
        self.counters.sent += 1;
        let lifetime_ms = opts.lifetime_ms.unwrap_or(self.lifetime_ms);
        let expires_ms = now_ms.saturating_add(lifetime_ms);
        let report_to = match opts.report_to {
            None => Eid::ipn(source.0, source.1),
            Some((0, 0)) => Eid::Null,
            Some((n, s)) => Eid::ipn(n, s),
        };
        let local = matches!(dest_eid, Eid::Ipn { node, .. } if node == self.node);
        let primary = PrimaryBlock {
            flags: bundle_flags(flags, &opts),
            crc_type: opts.crc,
            destination: dest_eid,
            source: Eid::ipn(source.0, source.1),
            report_to,
            creation: self.next_timestamp(now_ms),
            lifetime_ms,
            fragment: None,
        };
        let wants_reports = primary.flags & wire::flags::STATUS_REPORTS != 0;
        if wants_reports {
            self.remember_origin(source, primary.creation, id, send_seq);
        }
        let priority = priority(flags).or(opts.priority);
        let rank = priority.unwrap_or(1);
        if local {
            self.counters.local += 1;
            // Kept as a bundle, so that a restart finds it like any received one.
            let id = if self.persist {
                let mut bundle = Vec::new();
                wire::encode(&primary, priority, payload.bytes(), opts.crc, &mut bundle);
                self.keep(BundleState::Deliver, &primary, rank, expires_ms, bundle)
            } else {
                self.keep_unpersisted(payload.len() as u64)
            };
            let subject = wants_reports.then(|| Box::new(primary));
            self.deliver(
                now_ms,
                dest,
                Adu {
                    source,
                    payload,
                    expires_ms,
                    subject,
                    source_eid: None,
                    id,
                },
            );
            return Ok(());
        }
        let mut bundle = Vec::new();
        self.encode_new(
            &primary,
            priority,
            opts.hop_limit,
            payload.bytes(),
            opts.crc,
            &mut bundle,
        );
        self.route_new(now_ms, expires_ms, bundle, &primary, rank)
    }

    /// A status report the store held for a local endpoint's error queue.
    fn restore_report(&mut self, now_ms: u64, sb: StoredBundle) {
        let ep = match sb.dest.parse::<Eid>() {
            Ok(Eid::Ipn { node, service }) => Some((node, service)),
            _ => None,
        };
        match (ep, StatusRecord::decode(&sb.bytes)) {
            (Some(ep), Ok(r)) if sb.expires_ms > now_ms => {
                self.reports
                    .entry(ep)
                    .or_default()
                    .push_back((sb.id, sb.expires_ms, r));
            }
            _ => self.forget(sb.id),
        }
    }

    /// Starts holding a bundle: it gets a store id and, unless the node runs in memory, a row
    /// in the store.
    fn keep(
        &mut self,
        state: BundleState,
        p: &PrimaryBlock,
        priority: u8,
        expires_ms: u64,
        bytes: Vec<u8>,
    ) -> u64 {
        let id = self.keep_unpersisted(bytes.len() as u64);
        if self.persist {
            self.ops.push(StoreOp::Put(StoredBundle {
                id,
                state,
                dest: p.destination.to_string(),
                source: p.source.to_string(),
                created_ms: p.creation.time,
                seq: p.creation.seq,
                frag_offset: p.fragment.map_or(-1, |f| f.offset as i64),
                priority,
                stored_ms: self.clock_ms,
                expires_ms,
                bytes,
            }));
        }
        id
    }

    /// Counts a bundle of `size` bytes against the storage limit without a store row.
    fn keep_unpersisted(&mut self, size: u64) -> u64 {
        let id = self.next_store_id;
        self.next_store_id += 1;
        self.held.insert(id, Held { size, parts: 0 });
        self.held_bytes += size;
        id
    }

    /// Stops holding bundle `id` (delivered, forwarded, deleted).
    fn forget(&mut self, id: u64) {
        if let Some(h) = self.held.remove(&id) {
            self.held_bytes = self.held_bytes.saturating_sub(h.size);
            if self.persist {
                self.ops.push(StoreOp::Delete(id));
            }
        }
    }

    /// One copy (or fragment) of bundle `id` is done with; the bundle is forgotten after the last.
    fn part_done(&mut self, id: u64) {
        let last = match self.held.get_mut(&id) {
            Some(h) => {
                h.parts = h.parts.saturating_sub(1);
                h.parts == 0
            }
            None => false,
        };
        if last {
            self.forget(id);
        }
    }

    /// A convergence layer has taken the transmission of bundle `id` (UDP: handed to the
    /// kernel; TCPCL: acknowledged by the peer; or refused by the peer for good).
    pub fn transmitted(&mut self, id: u64) {
        self.part_done(id);
    }

    /// A convergence layer cut bundle `id` into `parts` fragments, each to be reported with
    /// [`Node::transmitted`].
    pub fn split(&mut self, id: u64, parts: usize) {
        if let Some(h) = self.held.get_mut(&id) {
            h.parts += (parts as u32).saturating_sub(1);
        }
    }

    /// Whether the node takes no more bundles: those held reach the storage limit
    /// (`BP_STORE_MAX`), or the store cannot commit (disk full, I/O error).
    pub fn store_full(&self) -> bool {
        self.held_bytes >= self.store_max || self.store_failing
    }

    /// The driver's store commits fail (`true`) or succeed again (`false`).
    pub fn set_store_failing(&mut self, failing: bool) {
        self.store_failing = failing;
    }

    /// Whether the node may take bundles again after being full: below 90% of the limit, and
    /// the store commits.
    pub fn store_has_room(&self) -> bool {
        !self.store_failing && self.held_bytes < self.store_max / 10 * 9
    }

    /// Bytes of the bundles held.
    pub fn held_bytes(&self) -> u64 {
        self.held_bytes
    }

    /// Bundles held.
    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// The storage limit in bytes.
    pub fn store_max(&self) -> u64 {
        self.store_max
    }

    /// Store operations since the last call, for the next batch.
    pub fn take_store_ops(&mut self) -> Vec<StoreOp> {
        std::mem::take(&mut self.ops)
    }

    /// Whether store operations wait for a batch.
    pub fn has_store_ops(&self) -> bool {
        !self.ops.is_empty()
    }

    /// The last creation timestamp given to a bundle made here.
    pub fn last_timestamp(&self) -> CreationTimestamp {
        self.last_ts
    }

    /// Takes back what a store held when the node stopped: bundles to forward go to their
    /// next-hop queues, bundles for local endpoints wait for a socket bound to them, expired
    /// ones are deleted (with a deletion report if asked), and creation timestamps continue
    /// after the last one used.
    pub fn restore(&mut self, now_ms: u64, loaded: Loaded) {
        self.clock_ms = now_ms;
        let lt = loaded.last_ts;
        if (lt.time, lt.seq) > (self.last_ts.time, self.last_ts.seq) {
            self.last_ts = lt;
        }
        for (k, exp) in loaded.seen {
            if exp > now_ms {
                self.seen.insert(k, exp);
            }
        }
        for sb in loaded.bundles {
            self.next_store_id = self.next_store_id.max(sb.id + 1);
            self.held.insert(
                sb.id,
                Held {
                    size: sb.bytes.len() as u64,
                    parts: 0,
                },
            );
            self.held_bytes += sb.bytes.len() as u64;
            if sb.state == BundleState::Report {
                self.restore_report(now_ms, sb);
                continue;
            }
            let b = match wire::parse(&sb.bytes) {
                Ok(b) => b,
                Err(e) => {
                    crate::warn!("store: bundle {} is not readable ({e}); deleted", sb.id);
                    self.forget(sb.id);
                    continue;
                }
            };
            // A bundle made here before the restart: timestamps go on after it.
            if let Eid::Ipn { node, .. } = b.primary.source
                && node == self.node
            {
                let c = b.primary.creation;
                if (c.time, c.seq) > (self.last_ts.time, self.last_ts.seq) {
                    self.last_ts = c;
                }
            }
            self.counters.restored += 1;
            if sb.expires_ms <= now_ms {
                self.counters.expired += 1;
                self.report(
                    now_ms,
                    &b.primary,
                    ReportKind::Deleted,
                    reason::LIFETIME_EXPIRED,
                    false,
                );
                self.forget(sb.id);
                continue;
            }
            match sb.state {
                BundleState::Forward => {
                    let dest = b.primary.destination.clone();
                    let mnf = b.primary.flags & wire::flags::MUST_NOT_FRAGMENT != 0;
                    let hold = Hold {
                        id: sb.id,
                        rank: sb.priority,
                        expires_ms: sb.expires_ms,
                        // Held since it was stored: the time the node was down counts too.
                        since_ms: sb.stored_ms.min(now_ms),
                        aged: b
                            .blocks
                            .iter()
                            .any(|k| k.block_type == wire::block_type::BUNDLE_AGE),
                    };
                    self.dispatch(hold, &dest, sb.bytes, mnf);
                }
                // Handled before parsing (not a bundle).
                BundleState::Report => {}
                BundleState::Fragment => {
                    self.accept_fragment(
                        now_ms,
                        "the store",
                        sb.id,
                        sb.bytes.clone(),
                        &b,
                        sb.priority,
                        sb.expires_ms,
                    );
                }
                BundleState::Deliver => {
                    let p = &b.primary;
                    let Eid::Ipn { node, service } = p.destination else {
                        self.forget(sb.id);
                        continue;
                    };
                    let (source, source_eid) = adu_source(&p.source);
                    let wants = p.flags & wire::flags::STATUS_REPORTS != 0;
                    let subject = wants.then(|| Box::new(p.clone()));
                    let range = b.payload.clone();
                    let adu = Adu {
                        source,
                        payload: Payload::part(sb.bytes, range),
                        expires_ms: sb.expires_ms,
                        subject,
                        source_eid,
                        id: sb.id,
                    };
                    // No socket is bound yet: it waits for one.
                    self.waiting
                        .entry((node, service))
                        .or_default()
                        .push_back(adu);
                }
            }
        }
        if self.counters.restored > 0 {
            crate::info!(
                "store: {} bundles taken back ({} bytes)",
                self.counters.restored,
                self.held_bytes
            );
        }
    }

    fn remember_origin(&mut self, source: Endpoint, ts: CreationTimestamp, id: u32, seq: u64) {
        let key = (source, ts.time, ts.seq);
        if self.origins.insert(key, (id, seq)).is_none() {
            self.origin_order.push_back(key);
        }
        while self.origin_order.len() > ORIGINS_MAX {
            if let Some(k) = self.origin_order.pop_front() {
                self.origins.remove(&k);
            }
        }
    }

    /// Encodes a bundle made here: primary block, then a class-of-service block (number 2) if
    /// a priority is set, a hop-count block (number 3) if a hop limit is set, a bundle age
    /// block (number 4, age 0) if the node adds one to every bundle, then the payload block.
    #[allow(clippy::too_many_arguments)] // one argument per optional block
    fn encode_new(
        &self,
        primary: &PrimaryBlock,
        priority: Option<u8>,
        hop_limit: Option<u8>,
        payload: &[u8],
        crc: CrcType,
        out: &mut Vec<u8>,
    ) {
        if hop_limit.is_none() && !self.age_block {
            wire::encode(primary, priority, payload, crc, out);
            return;
        }
        use wire::editor::{NewBlock, class_of_service_data, encode_with_blocks};
        let mut blocks = Vec::new();
        if let Some(p) = priority {
            blocks.push(NewBlock {
                block_type: wire::block_type::CLASS_OF_SERVICE,
                number: 2,
                flags: wire::block_flags::REPLICATE_IN_FRAGMENTS
                    | wire::block_flags::DISCARD_IF_UNPROCESSABLE,
                crc_type: crc,
                data: class_of_service_data(p),
            });
        }
        if let Some(l) = hop_limit {
            blocks.push(NewBlock::hop_count(3, l as u64, 0, crc));
        }
        if self.age_block {
            blocks.push(NewBlock::bundle_age(4, 0, crc));
        }
        encode_with_blocks(primary, &blocks, payload, crc, out);
    }

    /// Routes a bundle made here, fragmenting it when its next hop carries less than its size.
    fn route_new(
        &mut self,
        now_ms: u64,
        expires_ms: u64,
        bundle: Vec<u8>,
        primary: &PrimaryBlock,
        rank: u8,
    ) -> Result<(), ApiError> {
        let dest = &primary.destination;
        let mnf = primary.flags & wire::flags::MUST_NOT_FRAGMENT != 0;
        if mnf
            && let Some(max) = self.hop_max(dest)
            && bundle.len() > max
        {
            return Err(ApiError::MsgSize);
        }
        let id = self.keep(
            BundleState::Forward,
            primary,
            rank,
            expires_ms,
            bundle.clone(),
        );
        let hold = Hold {
            id,
            rank,
            expires_ms,
            since_ms: now_ms,
            aged: self.age_block,
        };
        if !self.dispatch(hold, dest, bundle, mnf) {
            self.forget(id);
            return Err(ApiError::MsgSize);
        }
        if self.hop_for(dest).is_some() {
            // The source node forwards its own bundles too (RFC 9171 §5.4).
            self.report(
                now_ms,
                primary,
                ReportKind::Forwarded,
                reason::NO_INFO,
                false,
            );
        }
        Ok(())
    }

    /// Queues held bundle `id` for its next hop, in fragments if the hop carries less than its
    /// size. Returns false (nothing queued) if it must not be fragmented or cannot be.
    fn dispatch(
        &mut self,
        hold: Hold,
        dest: &Eid,
        bundle: Vec<u8>,
        must_not_fragment: bool,
    ) -> bool {
        match self.hop_max(dest) {
            Some(max) if bundle.len() > max => {
                if must_not_fragment {
                    return false;
                }
                self.route_fragments(hold, dest, &bundle, max).is_ok()
            }
            _ => {
                self.route(hold, dest, bundle);
                true
            }
        }
    }

    fn route_fragments(
        &mut self,
        hold: Hold,
        dest: &Eid,
        bundle: &[u8],
        max: usize,
    ) -> Result<(), ApiError> {
        let parsed = wire::parse(bundle).map_err(|_| ApiError::Invalid)?;
        match crate::fragment::fragment(bundle, &parsed, max) {
            Ok(frags) => {
                self.counters.fragmented += 1;
                for f in frags {
                    self.route(hold, dest, f);
                }
                Ok(())
            }
            Err(e) => {
                crate::warn!(
                    "cannot fragment a {}-byte bundle for {dest}: {e}",
                    bundle.len()
                );
                Err(ApiError::MsgSize)
            }
        }
    }

    /// Incomplete ADUs the reassembler gave up on: deletion reports where asked.
    fn dropped_fragments(&mut self, now_ms: u64, dropped: Vec<crate::fragment::Dropped>) {
        for d in dropped {
            let p = &d.primary;
            let fkey = (p.source.to_string(), p.creation.time, p.creation.seq);
            for fid in self.frag_ids.remove(&fkey).unwrap_or_default() {
                self.forget(fid);
            }
            self.counters.expired += 1;
            self.report(
                now_ms,
                &d.primary,
                ReportKind::Deleted,
                d.reason.report_code() as u32,
                false,
            );
        }
    }

    fn send_report_bundle(
        &mut self,
        now_ms: u64,
        subject: &PrimaryBlock,
        kind: ReportKind,
        reason: u32,
        to: Endpoint,
    ) {
        use wire::admin::{ReasonCode, ReportOrigin, StatusKind, build_report};
        let kind = match kind {
            ReportKind::Received => StatusKind::Received,
            ReportKind::Forwarded => StatusKind::Forwarded,
            ReportKind::Delivered => StatusKind::Delivered,
            ReportKind::Deleted => StatusKind::Deleted,
        };
        let origin = ReportOrigin {
            node: self.node,
            creation: self.next_timestamp(now_ms),
            lifetime_ms: self.lifetime_ms,
            now_ms,
        };
        let mut bundle = Vec::new();
        // The subject's payload length is only reported for fragments; 0 otherwise.
        build_report(
            subject,
            0,
            kind,
            ReasonCode::from_code(reason as u64),
            &origin,
            &mut bundle,
        );
        self.counters.reports_sent += 1;
        let expires_ms = now_ms.saturating_add(self.lifetime_ms);
        let dest = Eid::ipn(to.0, to.1);
        let id = match wire::parse(&bundle) {
            Ok(b) => self.keep(
                BundleState::Forward,
                &b.primary,
                1,
                expires_ms,
                bundle.clone(),
            ),
            Err(_) => 0,
        };
        let hold = Hold {
            id,
            rank: 1,
            expires_ms,
            since_ms: now_ms,
            aged: false,
        };
        self.dispatch(hold, &dest, bundle, false);
    }

    /// The next hop of `dest`: a neighbour of the contact plan serves its own node; other
    /// destinations follow the static routes.
    fn hop_for(&self, dest: &Eid) -> Option<Hop> {
        if let Eid::Ipn { node, .. } = dest
            && self.contacts.serves(*node)
        {
            return Some(Hop::Neighbour(*node));
        }
        self.routes.lookup_eid(dest).map(Hop::Cla)
    }

    /// Largest bundle one transmission to `dest`'s next hop carries, if limited.
    fn hop_max(&self, dest: &Eid) -> Option<usize> {
        match self.hop_for(dest)? {
            Hop::Cla(a) => a.max_bundle(),
            Hop::Neighbour(n) => self
                .contacts
                .entries()
                .iter()
                .filter(|c| c.neighbour == n)
                .filter_map(|c| c.to.max_bundle())
                .min(),
        }
    }

    /// Queues (a fragment of) held bundle `id` for its next hop.
    fn route(&mut self, hold: Hold, dest: &Eid, bundle: Vec<u8>) {
        let Hold {
            id,
            rank,
            expires_ms,
            since_ms,
            aged,
        } = hold;
        if let Some(h) = self.held.get_mut(&id) {
            h.parts += 1;
        }
        match self.hop_for(dest) {
            Some(hop) => {
                self.arrivals += 1;
                let q = match self.hops.iter().position(|(h, _)| *h == hop) {
                    Some(i) => &mut self.hops[i].1,
                    None => {
                        self.hops.push((hop, BTreeMap::new()));
                        &mut self.hops.last_mut().expect("just pushed").1
                    }
                };
                q.insert(
                    (Reverse(rank), self.arrivals),
                    Queued {
                        bundle,
                        expires_ms,
                        id,
                        since_ms,
                        aged,
                    },
                );
            }
            None => {
                // One warning per destination, not one per bundle.
                if self.unrouted_warned.insert(dest.clone()) {
                    crate::warn!(
                        "no route to {dest}: its bundles are held until their lifetime ends"
                    );
                }
                self.unrouted
                    .push_back((expires_ms, dest.clone(), bundle, id));
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

    /// Bytes of one bundle received from a convergence layer that cannot refuse it (UDP,
    /// MTCP) (RFC 9171 §5.6). With the store full, the bundle is deleted with a "depleted
    /// storage" report.
    pub fn cla_receive(
        &mut self,
        now_ms: u64,
        from: impl std::fmt::Display,
        bytes: Vec<u8>,
    ) -> Received {
        self.receive(now_ms, from, bytes, false)
    }

    /// Bytes of one bundle offered by a layer that can refuse a transfer (TCPCL): with the
    /// store full the answer is [`Received::NoSpace`] and nothing is kept.
    pub fn cla_offer(
        &mut self,
        now_ms: u64,
        from: impl std::fmt::Display,
        bytes: Vec<u8>,
    ) -> Received {
        self.receive(now_ms, from, bytes, true)
    }

    /// With the store full: refuse (the layer can), or delete with a report.
    fn no_space(&mut self, now_ms: u64, p: &PrimaryBlock, can_refuse: bool) -> Received {
        self.counters.refused_full += 1;
        if self.counters.refused_full.is_power_of_two() {
            crate::warn!(
                "store full ({} of {} bytes): received bundles {} ({} so far)",
                self.held_bytes,
                self.store_max,
                if can_refuse { "refused" } else { "deleted" },
                self.counters.refused_full
            );
        }
        if !can_refuse {
            self.report(
                now_ms,
                p,
                ReportKind::Deleted,
                reason::DEPLETED_STORAGE,
                false,
            );
        }
        Received::NoSpace
    }

    fn receive(
        &mut self,
        now_ms: u64,
        from: impl std::fmt::Display,
        bytes: Vec<u8>,
        can_refuse: bool,
    ) -> Received {
        self.clock_ms = now_ms;
        let opts = wire::ParseOptions {
            require_primary_crc: self.strict_crc,
        };
        let b = match wire::parse_with(&bytes, &opts) {
            Ok(b) => b,
            Err(e) => {
                let n = self.counters.malformed.entry(e.reason()).or_insert(0);
                *n += 1;
                crate::warn!(
                    "dropped a malformed bundle from {from}: {e} (counter {}: {n})",
                    e.reason()
                );
                return Received::Malformed;
            }
        };
        let p = b.primary.clone();
        crate::debug!(
            "received a {}-byte bundle from {from}: {} -> {}, flags {:#x}",
            bytes.len(),
            p.source,
            p.destination,
            p.flags
        );
        // This node has only an ipn node ID: any other destination is another node's.
        let (node, service) = match p.destination {
            Eid::Ipn { node, service } => (node, service),
            _ => (u64::MAX, u64::MAX),
        };
        let age = wire::editor::bundle_age(&bytes, &b);
        let expires_ms = if p.creation.time == 0 {
            // No clock at the source: the age block says how much of the lifetime is used.
            now_ms
                .saturating_add(p.lifetime_ms)
                .saturating_sub(age.unwrap_or(0))
        } else {
            p.creation.time.saturating_add(p.lifetime_ms)
        };
        if expires_ms <= now_ms {
            self.counters.expired += 1;
            crate::debug!("deleted an expired bundle from {from}");
            self.report(
                now_ms,
                &p,
                ReportKind::Deleted,
                reason::LIFETIME_EXPIRED,
                false,
            );
            return Received::Accepted;
        }
        if node != self.node
            && wire::editor::hop_check(&bytes, &b) == wire::editor::HopCheck::Exceeded
        {
            self.counters.hop_limit += 1;
            crate::debug!("deleted a bundle from {from}: hop limit reached");
            self.report(
                now_ms,
                &p,
                ReportKind::Deleted,
                reason::HOP_LIMIT_EXCEEDED,
                false,
            );
            return Received::Accepted;
        }
        self.counters.received += 1;
        self.report(now_ms, &p, ReportKind::Received, reason::NO_INFO, false);
        // Blocks this node cannot process, handled per their block flags (RFC 9171 §4.2.4).
        let mut discard = Vec::new();
        for blk in &b.blocks {
            if KNOWN_BLOCKS.contains(&blk.block_type) {
                continue;
            }
            let f = blk.flags;
            if f & wire::block_flags::REPORT_IF_UNPROCESSABLE != 0 {
                self.report(
                    now_ms,
                    &p,
                    ReportKind::Received,
                    reason::BLOCK_UNSUPPORTED,
                    true,
                );
            }
            if f & wire::block_flags::DELETE_BUNDLE_IF_UNPROCESSABLE != 0 {
                self.counters.unsupported_block += 1;
                crate::debug!(
                    "deleted a bundle from {from}: block type {} cannot be processed",
                    blk.block_type
                );
                self.report(
                    now_ms,
                    &p,
                    ReportKind::Deleted,
                    reason::BLOCK_UNSUPPORTED,
                    false,
                );
                return Received::Accepted;
            }
            if f & wire::block_flags::DISCARD_IF_UNPROCESSABLE != 0 {
                discard.push(blk.number);
            }
        }
        let (bytes, b) = if discard.is_empty() {
            (bytes, b)
        } else {
            match wire::editor::remove_blocks(&bytes, &b, &discard)
                .ok()
                .and_then(|e| wire::parse(&e).ok().map(|nb| (e, nb)))
            {
                Some(edited) => edited,
                None => (bytes, b),
            }
        };
        if node != self.node {
            if self.store_full() {
                return self.no_space(now_ms, &p, can_refuse);
            }
            self.forward(now_ms, expires_ms, bytes, b);
            return Received::Accepted;
        }
        if p.flags & wire::flags::ADMIN_RECORD != 0 {
            self.admin_record(from, (node, service), &p, b.payload(&bytes));
            return Received::Accepted;
        }
        // Each bundle reaches the application at most once.
        let key = SeenKey {
            source: p.source.to_string(),
            created_ms: p.creation.time,
            seq: p.creation.seq,
            frag_offset: -1,
        };
        if self.seen.contains_key(&key) {
            self.counters.duplicates += 1;
            crate::debug!(
                "dropped a duplicate of {} {}.{} from {from}",
                p.source,
                p.creation.time,
                p.creation.seq
            );
            return Received::Accepted;
        }
        if self.store_full() {
            return self.no_space(now_ms, &p, can_refuse);
        }
        let (source, source_eid) = adu_source(&p.source);
        let rank = b.priority(&bytes).unwrap_or(1);
        let wants = p.flags & wire::flags::STATUS_REPORTS != 0;
        if p.fragment.is_some() {
            // Stored too: a fragment acknowledged by its layer survives a restart until its ADU
            // is whole.
            let id = if self.persist {
                self.keep(BundleState::Fragment, &p, rank, expires_ms, bytes.clone())
            } else {
                self.keep_unpersisted(bytes.len() as u64)
            };
            self.accept_fragment(now_ms, &from.to_string(), id, bytes, &b, rank, expires_ms);
            return Received::Accepted;
        }
        let id = if self.persist {
            self.keep(BundleState::Deliver, &p, rank, expires_ms, bytes.clone())
        } else {
            self.keep_unpersisted(bytes.len() as u64)
        };
        self.remember_seen(key, expires_ms);
        let payload = Payload::part(bytes, b.payload.clone());
        self.deliver(
            now_ms,
            (node, service),
            Adu {
                source,
                payload,
                expires_ms,
                subject: wants.then(|| Box::new(p)),
                source_eid,
                id,
            },
        );
        Received::Accepted
    }

    /// A fragment for a local endpoint, held as bundle `id`: into the reassembler; when its ADU
    /// is whole, the fragments are forgotten and the ADU is kept and delivered.
    #[allow(clippy::too_many_arguments)] // the columns of a held bundle
    fn accept_fragment(
        &mut self,
        now_ms: u64,
        from: &str,
        id: u64,
        bytes: Vec<u8>,
        b: &wire::Bundle,
        rank: u8,
        expires_ms: u64,
    ) {
        use crate::fragment::Status;
        let p = &b.primary;
        let Eid::Ipn { node, service } = p.destination else {
            self.forget(id);
            return;
        };
        let fkey = (p.source.to_string(), p.creation.time, p.creation.seq);
        let ins = self.reassembler.insert(now_ms, &bytes, b);
        self.dropped_fragments(now_ms, ins.dropped);
        match ins.status {
            Status::Complete(whole) => {
                let whole = *whole;
                for fid in self.frag_ids.remove(&fkey).unwrap_or_default() {
                    self.forget(fid);
                }
                self.forget(id);
                let whole_id = if self.persist {
                    let enc = whole.encode();
                    self.keep(BundleState::Deliver, &whole.primary, rank, expires_ms, enc)
                } else {
                    self.keep_unpersisted(whole.payload.len() as u64)
                };
                let key = SeenKey {
                    source: fkey.0,
                    created_ms: fkey.1,
                    seq: fkey.2,
                    frag_offset: -1,
                };
                self.remember_seen(key, expires_ms);
                let (source, source_eid) = adu_source(&whole.primary.source);
                let wants = whole.primary.flags & wire::flags::STATUS_REPORTS != 0;
                let subject = wants.then(|| Box::new(whole.primary));
                self.deliver(
                    now_ms,
                    (node, service),
                    Adu {
                        source,
                        payload: Payload::whole(whole.payload),
                        expires_ms,
                        subject,
                        source_eid,
                        id: whole_id,
                    },
                );
            }
            Status::Pending => self.frag_ids.entry(fkey).or_default().push(id),
            Status::Duplicate => self.forget(id),
            Status::Rejected(why) => {
                self.forget(id);
                *self.counters.malformed.entry(why.reason()).or_insert(0) += 1;
                crate::warn!("dropped a fragment from {from}: {why}");
            }
        }
    }

    fn remember_seen(&mut self, key: SeenKey, expires_ms: u64) {
        if self.persist {
            self.ops.push(StoreOp::Seen(key.clone(), expires_ms));
        }
        self.seen.insert(key, expires_ms);
    }

    /// Forwards a received bundle: previous node, hop count and age updated (RFC 9171 §5.4),
    /// other bytes unchanged; fragmented if the next hop needs it.
    fn forward(&mut self, now_ms: u64, expires_ms: u64, bytes: Vec<u8>, b: wire::Bundle) {
        let dest = b.primary.destination.clone();
        if self.hop_for(&dest).is_none() {
            self.counters.no_route += 1;
            crate::warn!("deleted a bundle for {dest}: no route");
            self.report(
                now_ms,
                &b.primary,
                ReportKind::Deleted,
                reason::NO_ROUTE,
                false,
            );
            return;
        }
        let edited = match wire::editor::edit_for_forwarding(
            &bytes,
            &b,
            &wire::editor::Forwarding {
                previous_node: Some(Eid::ipn(self.node, 0)),
                // The residence time is added when the bundle leaves (`poll_transmit`); here
                // only an age block a bundle without a clock needs is inserted.
                age_ms_add: Some(0),
                increment_hop: true,
            },
        ) {
            Ok(e) => e,
            Err(e) => {
                crate::warn!("cannot edit a bundle for forwarding ({e}); forwarded as received");
                bytes.clone()
            }
        };
        self.counters.forwarded += 1;
        self.report(
            now_ms,
            &b.primary,
            ReportKind::Forwarded,
            reason::NO_INFO,
            false,
        );
        if let Some(max) = self.hop_max(&dest)
            && edited.len() > max
            && b.primary.flags & wire::flags::MUST_NOT_FRAGMENT != 0
        {
            crate::warn!(
                "deleted a {}-byte bundle for {dest}: must not be fragmented and the next hop carries {max}",
                edited.len()
            );
            self.report(
                now_ms,
                &b.primary,
                ReportKind::Deleted,
                reason::TRANSMISSION_CANCELED,
                false,
            );
            return;
        }
        let rank = b.priority(&bytes).unwrap_or(1);
        let id = self.keep(
            BundleState::Forward,
            &b.primary,
            rank,
            expires_ms,
            edited.clone(),
        );
        let hold = Hold {
            id,
            rank,
            expires_ms,
            since_ms: now_ms,
            aged: b
                .blocks
                .iter()
                .any(|k| k.block_type == wire::block_type::BUNDLE_AGE)
                || b.primary.creation.time == 0,
        };
        if !self.dispatch(hold, &dest, edited, false) {
            crate::warn!("deleted a bundle that could not be fragmented");
            self.forget(id);
        }
    }

    /// An administrative record for a local endpoint: status reports go to its error queue.
    fn admin_record(
        &mut self,
        from: impl std::fmt::Display,
        to: Endpoint,
        p: &PrimaryBlock,
        adu: &[u8],
    ) {
        match wire::admin::decode_admin(adu) {
            Ok(wire::admin::AdminRecord::StatusReport(r)) => {
                let t = |x: Option<Option<u64>>| x.flatten().unwrap_or(0);
                let mut status = 0;
                for (set, bit) in [
                    (r.received.is_some(), report_bits::RECEIVED),
                    (r.forwarded.is_some(), report_bits::FORWARDED),
                    (r.delivered.is_some(), report_bits::DELIVERED),
                    (r.deleted.is_some(), report_bits::DELETED),
                ] {
                    if set {
                        status |= bit;
                    }
                }
                let source = match r.source {
                    Eid::Ipn { node, service } => (node, service),
                    _ => (0, 0),
                };
                let reporter = match p.source {
                    Eid::Ipn { node, service } => (node, service),
                    _ => (0, 0),
                };
                let (frag_offset, frag_length) = r.fragment.unwrap_or((0, 0));
                self.queue_report(
                    to,
                    StatusRecord {
                        status,
                        reason: r.reason.code() as u32,
                        send_seq: 0,
                        creation_time: r.creation.time,
                        creation_seq: r.creation.seq,
                        frag_offset,
                        frag_length,
                        times: [t(r.received), t(r.forwarded), t(r.delivered), t(r.deleted)],
                        source,
                        reporter,
                    },
                );
            }
            Ok(_) => crate::debug!("ignored an administrative record of unknown type from {from}"),
            Err(e) => {
                *self.counters.malformed.entry("admin_record").or_insert(0) += 1;
                crate::warn!("dropped an administrative record from {from}: {e}");
            }
        }
    }

    fn deliver(&mut self, now_ms: u64, dest: Endpoint, adu: Adu) {
        match self.bound.get(&dest).copied() {
            Some(id) => {
                let Some(sock) = self.sockets.get_mut(&id) else {
                    return;
                };
                if sock.peer.is_some_and(|p| p != adu.source) {
                    self.counters.filtered += 1;
                    self.forget(adu.id);
                    return;
                }
                let subject = adu.subject.clone();
                sock.ready.push_back(adu);
                self.mark_ready(id);
                if let Some(p) = subject {
                    self.report(now_ms, &p, ReportKind::Delivered, reason::NO_INFO, false);
                }
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
            let mut read = Vec::new();
            while let Some((q, a)) = s.unacked.front() {
                if seq.wrapping_sub(*q) < u32::MAX / 2 {
                    read.push(a.id);
                    s.unacked.pop_front();
                } else {
                    break;
                }
            }
            for id in read {
                self.forget(id);
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
        self.clock_ms = now_ms;
        // Subjects of the deletion reports due, gathered first: reporting needs `&mut self`.
        let mut deleted: Vec<PrimaryBlock> = Vec::new();
        let mut gone: Vec<u64> = Vec::new();
        let mut n = 0;
        let take = |q: &mut VecDeque<Adu>, deleted: &mut Vec<PrimaryBlock>, gone: &mut Vec<u64>| {
            let before = q.len();
            q.retain_mut(|a| {
                if a.expires_ms > now_ms {
                    return true;
                }
                if let Some(p) = a.subject.take() {
                    deleted.push(*p);
                }
                gone.push(a.id);
                false
            });
            before - q.len()
        };
        for q in self.waiting.values_mut() {
            n += take(q, &mut deleted, &mut gone);
        }
        self.waiting.retain(|_, q| !q.is_empty());
        for s in self.sockets.values_mut() {
            n += take(&mut s.ready, &mut deleted, &mut gone);
        }
        let before = self.unrouted.len();
        self.unrouted.retain(|(e, _, bytes, id)| {
            if *e > now_ms {
                return true;
            }
            if let Ok(b) = wire::parse(bytes)
                && b.primary.flags & wire::flags::REPORT_DELETION != 0
            {
                deleted.push(b.primary);
            }
            gone.push(*id);
            false
        });
        n += before - self.unrouted.len();
        // Bundles waiting for a contact (or a busy layer) past their lifetime.
        for (_, q) in &mut self.hops {
            let before = q.len();
            q.retain(|_, item| {
                if item.expires_ms > now_ms {
                    return true;
                }
                if let Ok(b) = wire::parse(&item.bundle)
                    && b.primary.flags & wire::flags::REPORT_DELETION != 0
                {
                    deleted.push(b.primary);
                }
                gone.push(item.id);
                false
            });
            n += before - q.len();
        }
        self.counters.expired += n as u64;
        for id in gone {
            self.part_done_or_forget(id);
        }
        for p in deleted {
            self.report(
                now_ms,
                &p,
                ReportKind::Deleted,
                reason::LIFETIME_EXPIRED,
                false,
            );
        }
        let dropped = self.reassembler.expire(now_ms);
        self.dropped_fragments(now_ms, dropped);
        let mut old_reports = Vec::new();
        for q in self.reports.values_mut() {
            q.retain(|(sid, exp, _)| {
                if *exp > now_ms {
                    return true;
                }
                old_reports.push(*sid);
                false
            });
        }
        self.reports.retain(|_, q| !q.is_empty());
        for sid in old_reports {
            self.forget(sid);
        }
        let before = self.seen.len();
        self.seen.retain(|_, exp| *exp > now_ms);
        if self.seen.len() != before && self.persist {
            self.ops.push(StoreOp::ForgetSeen(now_ms));
        }
    }

    /// A copy of bundle `id` was deleted: a queued copy counts as a part, a delivered ADU is
    /// the bundle itself.
    fn part_done_or_forget(&mut self, id: u64) {
        match self.held.get(&id) {
            Some(h) if h.parts > 0 => self.part_done(id),
            Some(_) => self.forget(id),
            None => {}
        }
    }

    /// Sets the node's clock (call before polling outputs).
    pub fn set_time(&mut self, now_ms: u64) {
        self.clock_ms = now_ms;
    }

    /// When the node next needs the driver to poll it: a contact opens or closes, or a paced
    /// contact may send again.
    pub fn next_wakeup_ms(&self) -> Option<u64> {
        let now = self.clock_ms;
        let mut at = self.contacts.next_change_ms(now);
        for (hop, q) in &self.hops {
            if q.is_empty() {
                continue;
            }
            if let Hop::Neighbour(n) = hop
                && let Some(ci) = self.contacts.open_for(*n, now)
                && let Some(r) = self.rates.get(&ci)
            {
                let t = r.ready_at_ms(now);
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        }
        at
    }

    /// The next queued bundle whose hop is open (and within its rate), with its address.
    fn next_queued(&mut self, room: &dyn Fn(&ClaAddr) -> bool) -> Option<(ClaAddr, Queued)> {
        let now = self.clock_ms;
        let Node {
            hops,
            contacts,
            rates,
            ..
        } = self;
        for (hop, q) in hops.iter_mut() {
            let Some((_, first)) = q.first_key_value() else {
                continue;
            };
            let to = match hop {
                Hop::Cla(a) if room(a) => *a,
                Hop::Cla(_) => continue,
                Hop::Neighbour(n) => {
                    let Some(ci) = contacts.open_for(*n, now) else {
                        continue;
                    };
                    let Some(c) = contacts.get(ci) else {
                        continue;
                    };
                    if !room(&c.to) {
                        continue;
                    }
                    if let Some(rate) = c.rate {
                        let r = rates
                            .entry(ci)
                            .or_insert_with(|| RateLimiter::new(rate, now));
                        if !r.try_take(first.bundle.len() as u64, now) {
                            continue;
                        }
                    }
                    c.to
                }
            };
            let (_, item) = q.pop_first()?;
            return Some((to, item));
        }
        None
    }

    /// Next bundle for a convergence layer. Bundles whose lifetime ended while they waited
    /// for the layer are deleted here (with a deletion report if asked).
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.poll_transmit_where(&|_| true)
    }

    /// As [`Node::poll_transmit`], from the next hops for which `room` says the layer takes more.
    pub fn poll_transmit_where(&mut self, room: &dyn Fn(&ClaAddr) -> bool) -> Option<Transmit> {
        loop {
            let t = match self.transmits.pop_front() {
                Some(t) => t,
                None => {
                    let (to, q) = self.next_queued(room)?;
                    let waited = self.clock_ms.saturating_sub(q.since_ms);
                    let bundle = if q.aged && waited > 0 {
                        with_residence(q.bundle, waited)
                    } else {
                        q.bundle
                    };
                    Transmit {
                        to,
                        bundle,
                        expires_ms: q.expires_ms,
                        id: q.id,
                    }
                }
            };
            if t.expires_ms > self.clock_ms {
                return Some(t);
            }
            self.counters.expired += 1;
            self.part_done(t.id);
            if let Ok(b) = wire::parse(&t.bundle) {
                let now = self.clock_ms;
                self.report(
                    now,
                    &b.primary,
                    ReportKind::Deleted,
                    reason::LIFETIME_EXPIRED,
                    false,
                );
            }
        }
    }

    /// Puts back a bundle the convergence layer could not take yet (it goes first).
    pub fn unpoll_transmit(&mut self, t: Transmit) {
        self.transmits.push_front(t);
    }

    /// Bundles whose next hop is open now, waiting for a convergence layer.
    pub fn pending_transmits(&self) -> usize {
        let now = self.clock_ms;
        self.transmits.len()
            + self
                .hops
                .iter()
                .filter(|(h, _)| match h {
                    Hop::Cla(_) => true,
                    Hop::Neighbour(n) => self.contacts.open_for(*n, now).is_some(),
                })
                .map(|(_, q)| q.len())
                .sum::<usize>()
    }

    /// Bundles waiting for a contact to open.
    pub fn awaiting_contact(&self) -> usize {
        let now = self.clock_ms;
        self.hops
            .iter()
            .filter(|(h, _)| matches!(h, Hop::Neighbour(n) if self.contacts.open_for(*n, now).is_none()))
            .map(|(_, q)| q.len())
            .sum()
    }

    /// Bundles held because no route leads to their destination.
    pub fn unrouted(&self) -> usize {
        self.unrouted.len()
    }
}

/// `bundle` with `waited_ms` added to its bundle age block (RFC 9171 §4.4.2: each node adds the
/// time it held the bundle); unchanged if it cannot be edited.
fn with_residence(bundle: Vec<u8>, waited_ms: u64) -> Vec<u8> {
    let Ok(b) = wire::parse(&bundle) else {
        return bundle;
    };
    match wire::editor::edit_for_forwarding(
        &bundle,
        &b,
        &wire::editor::Forwarding {
            previous_node: None,
            age_ms_add: Some(waited_ms),
            increment_hop: false,
        },
    ) {
        Ok(e) => e,
        Err(_) => bundle,
    }
}

/// The source of an ADU as the socket API gives it: other sources than two-element ipn reach
/// the application as text (an extended address); anonymous bundles come from ipn:0.0.
fn adu_source(source: &Eid) -> (Endpoint, Option<Box<str>>) {
    match source {
        Eid::Ipn { node, service } => ((*node, *service), None),
        Eid::Null => ((0, 0), None),
        other => ((0, 0), Some(other.to_string().into_boxed_str())),
    }
}

fn bundle_flags(flags: u32, opts: &SockOpts) -> u64 {
    use send_flags as f;
    use wire::flags as b;
    let mut out = 0;
    for (bit, to) in [
        (report_bits::RECEIVED, b::REPORT_RECEPTION),
        (report_bits::FORWARDED, b::REPORT_FORWARDING),
        (report_bits::DELIVERED, b::REPORT_DELIVERY),
        (report_bits::DELETED, b::REPORT_DELETION),
        (report_bits::STATUS_TIME, b::STATUS_TIME_REQUESTED),
    ] {
        if opts.report_bits & bit != 0 {
            out |= to;
        }
    }
    if opts.ack_requested {
        out |= b::ACK_REQUESTED;
    }
    if opts.must_not_fragment {
        out |= b::MUST_NOT_FRAGMENT;
    }
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

    fn routes_of(routes: &[(&str, &str)]) -> Routes {
        Routes::new(
            routes
                .iter()
                .map(|(p, h)| (Pattern::parse(p).unwrap(), ClaAddr::parse(h).unwrap()))
                .collect(),
        )
    }

    fn node(n: u64, routes: &[(&str, &str)]) -> Node {
        let cfg = Config {
            node: n,
            routes: routes_of(routes),
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

    /// A store kept in memory: applies ops as the SQLite store would, and gives them back as
    /// a restart would read them.
    #[derive(Default)]
    struct MemStore {
        bundles: std::collections::BTreeMap<u64, StoredBundle>,
        seen: HashMap<SeenKey, u64>,
    }

    impl MemStore {
        fn apply(&mut self, n: &mut Node) {
            for op in n.take_store_ops() {
                match op {
                    StoreOp::Put(b) => {
                        self.bundles.insert(b.id, b);
                    }
                    StoreOp::Delete(id) => {
                        self.bundles.remove(&id);
                    }
                    StoreOp::Seen(k, e) => {
                        self.seen.insert(k, e);
                    }
                    StoreOp::ForgetSeen(t) => self.seen.retain(|_, e| *e > t),
                }
            }
        }
        fn loaded(&self, last_ts: CreationTimestamp) -> Loaded {
            Loaded {
                bundles: self.bundles.values().cloned().collect(),
                seen: self.seen.iter().map(|(k, e)| (k.clone(), *e)).collect(),
                last_ts,
            }
        }
    }

    /// The first payload byte of a transmitted bundle (the tests' tag).
    fn first_byte(t: &Transmit) -> u8 {
        let p = wire::parse(&t.bundle).unwrap();
        t.bundle[p.payload.clone()][0]
    }

    /// Node 10 with a UDP route to node 20 sends one ADU of `len` bytes of `fill`; its
    /// transmissions (fragments above one datagram) and the node.
    fn send_big(fill: u8, len: usize) -> (Node, Vec<Transmit>) {
        let mut n = node(10, &[("ipn:20.*", "udp:127.0.0.1:4556")]);
        let s = n.open();
        n.bind(s, 10, 1).unwrap();
        n.app_send(T, s, 0, (20, 1), Payload::whole(vec![fill; len]))
            .unwrap();
        n.set_time(T);
        let parts: Vec<Transmit> = std::iter::from_fn(|| n.poll_transmit()).collect();
        (n, parts)
    }

    fn with_contacts(n: u64, contacts: &str, routes: &[(&str, &str)]) -> Node {
        let cfg = Config {
            node: n,
            routes: routes_of(routes),
            contacts: ContactPlan::new(
                contacts
                    .split(';')
                    .map(|c| crate::contact::Contact::parse(c, T).unwrap())
                    .collect(),
            ),
            ..Config::default()
        };
        Node::new(&cfg)
    }

    #[test]
    fn a_bundle_is_stored_until_the_layer_has_taken_it() {
        let mut n = node(10, &[("ipn:20.*", "tcpcl:127.0.0.1:4556")]);
        let mut st = MemStore::default();
        let s = n.open();
        n.bind(s, 10, 1).unwrap();
        n.app_send(T, s, 0, (20, 1), Payload::whole(vec![7; 100]))
            .unwrap();
        st.apply(&mut n);
        assert_eq!(st.bundles.len(), 1);
        assert_eq!(n.held_count(), 1);
        n.set_time(T);
        let t = n.poll_transmit().unwrap();
        assert_ne!(t.id, 0);
        // Handed to the layer but not yet acknowledged: still stored.
        st.apply(&mut n);
        assert_eq!(st.bundles.len(), 1);
        n.transmitted(t.id);
        st.apply(&mut n);
        assert!(st.bundles.is_empty());
        assert_eq!(n.held_bytes(), 0);
    }

    #[test]
    fn restart_resumes_forwarding_delivery_and_timestamps() {
        let mut a = with_contacts(10, "20 tcpcl:127.0.0.1:4556 +100 +200", &[]);
        let mut st = MemStore::default();
        let s = a.open();
        a.bind(s, 10, 1).unwrap();
        for i in 0..3u8 {
            a.app_send(T, s, 0, (20, 1), Payload::whole(vec![i; 10]))
                .unwrap();
        }
        // A local ADU for an endpoint nobody has bound yet.
        a.app_send(T, s, 0, (10, 9), Payload::whole(b"later".to_vec()))
            .unwrap();
        a.set_time(T);
        assert!(a.poll_transmit().is_none(), "the contact is not open");
        st.apply(&mut a);
        assert_eq!(st.bundles.len(), 4);
        let last = a.last_timestamp();
        drop(a);

        let mut b = with_contacts(10, "20 tcpcl:127.0.0.1:4556 +100 +200", &[]);
        b.restore(T + 1, st.loaded(last));
        assert_eq!(b.counters.restored, 4);
        // The local ADU waits for its binder.
        let r = b.open();
        b.bind(r, 10, 9).unwrap();
        assert_eq!(drain(&mut b, r)[0].1, b"later");
        // Forwarding resumes when the contact opens, oldest first.
        b.set_time(T + 150_000);
        let got: Vec<u8> = std::iter::from_fn(|| b.poll_transmit())
            .map(|t| first_byte(&t))
            .collect();
        assert_eq!(got, vec![0, 1, 2]);
        // Timestamps go on after the last one used before the restart.
        b.app_send(T + 1, r, 0, (20, 1), Payload::whole(vec![9]))
            .unwrap();
        st.apply(&mut b);
        let newest = st.bundles.values().last().unwrap();
        assert!((newest.created_ms, newest.seq) > (last.time, last.seq));
    }

    #[test]
    fn restart_deletes_what_expired_meanwhile_and_keeps_its_report() {
        let mut a = with_contacts(10, "20 tcpcl:127.0.0.1:4556 +100 +200", &[]);
        let mut st = MemStore::default();
        let s = a.open();
        a.bind(s, 10, 1).unwrap();
        a.set_opt(s, crate::api::opt::LIFETIME, 2, 0).unwrap();
        a.set_opt(
            s,
            crate::api::opt::REPORT_FLAGS,
            report_bits::DELETED as u64,
            0,
        )
        .unwrap();
        a.app_send(T, s, 0, (20, 1), Payload::whole(vec![1]))
            .unwrap();
        st.apply(&mut a);
        let last = a.last_timestamp();
        drop(a);
        // Back 10 s later: the bundle's 2 s are over.
        let mut b = with_contacts(10, "20 tcpcl:127.0.0.1:4556 +100 +200", &[]);
        b.restore(T + 10_000, st.loaded(last));
        st.apply(&mut b);
        // The bundle is gone; its deletion report waits, stored, in ipn:10.1's error queue.
        let states: Vec<BundleState> = st.bundles.values().map(|x| x.state).collect();
        assert_eq!(states, vec![BundleState::Report]);
        assert_eq!(b.counters.expired, 1);
        let last = b.last_timestamp();
        drop(b);
        // Another restart before anyone read it: the report is still there.
        let mut c = with_contacts(10, "20 tcpcl:127.0.0.1:4556 +100 +200", &[]);
        c.restore(T + 11_000, st.loaded(last));
        let s = c.open();
        c.bind(s, 10, 1).unwrap();
        assert!(c.take_report(s, true).is_some(), "a peek leaves it");
        let r = c
            .take_report(s, false)
            .expect("a deletion report for ipn:10.1");
        assert_eq!(r.status, report_bits::DELETED);
        assert_eq!(r.reason, reason::LIFETIME_EXPIRED);
        st.apply(&mut c);
        assert!(st.bundles.is_empty(), "read: forgotten");
        assert!(c.take_report(s, false).is_none());
    }

    #[test]
    fn contact_window_priority_order_and_expiry() {
        let mut n = with_contacts(10, "20 udp:127.0.0.1:4556 +10 +20", &[]);
        let s = n.open();
        n.bind(s, 10, 1).unwrap();
        let order = [
            (send_flags::BULK, 1u8),
            (send_flags::EXPEDITED, 2),
            (0, 3),
            (send_flags::BULK, 4),
            (send_flags::EXPEDITED, 5),
        ];
        for (f, tag) in order {
            n.app_send(T, s, f, (20, 1), Payload::whole(vec![tag]))
                .unwrap();
        }
        n.set_time(T + 5_000);
        assert!(n.poll_transmit().is_none());
        assert_eq!(n.awaiting_contact(), 5);
        assert_eq!(n.next_wakeup_ms(), Some(T + 10_000));
        n.set_time(T + 10_000);
        let sent: Vec<Transmit> = std::iter::from_fn(|| n.poll_transmit()).collect();
        let tags: Vec<u8> = sent.iter().map(first_byte).collect();
        // Expedited, then standard (no flag), then bulk; oldest first within each.
        assert_eq!(tags, vec![2, 5, 3, 1, 4]);
        for t in &sent {
            n.transmitted(t.id);
        }
        // Sent after the window: waits; expires in the queue with a deletion report.
        n.set_opt(s, crate::api::opt::LIFETIME, 2, 0).unwrap();
        n.set_opt(
            s,
            crate::api::opt::REPORT_FLAGS,
            report_bits::DELETED as u64,
            0,
        )
        .unwrap();
        n.app_send(T + 21_000, s, 0, (20, 1), Payload::whole(vec![6]))
            .unwrap();
        n.set_time(T + 22_000);
        assert!(n.poll_transmit().is_none());
        n.expire(T + 23_500);
        assert_eq!(n.awaiting_contact(), 0);
        let r = n.take_report(s, false).expect("deletion report");
        assert_eq!(r.status, report_bits::DELETED);
        assert_eq!(r.reason, reason::LIFETIME_EXPIRED);
        assert_eq!(n.held_count(), 0);
    }

    #[test]
    fn full_store_refuses_or_reports_and_duplicates_are_dropped() {
        let cfg = Config {
            node: 20,
            store_max: 300,
            ..Config::default()
        };
        let mut n = Node::new(&cfg);
        let s = n.open();
        n.bind(s, 20, 1).unwrap();
        let mut src = node(10, &[("ipn:20.*", "udp:127.0.0.1:1")]);
        let a = src.open();
        src.bind(a, 10, 1).unwrap();
        let mut bundles = Vec::new();
        for i in 0..4u8 {
            src.app_send(T, a, 0, (20, 1), Payload::whole(vec![i; 100]))
                .unwrap();
            src.set_time(T);
            bundles.push(src.poll_transmit().unwrap().bundle);
        }
        assert_eq!(n.cla_offer(T, "t", bundles[0].clone()), Received::Accepted);
        // The same bundle again: accepted (the peer may stop sending it) but not delivered twice.
        assert_eq!(n.cla_offer(T, "t", bundles[0].clone()), Received::Accepted);
        assert_eq!(n.counters.duplicates, 1);
        assert_eq!(n.cla_offer(T, "t", bundles[1].clone()), Received::Accepted);
        assert!(n.store_full());
        assert_eq!(n.cla_offer(T, "t", bundles[2].clone()), Received::NoSpace);
        assert_eq!(n.cla_receive(T, "t", bundles[3].clone()), Received::NoSpace);
        assert_eq!(drain(&mut n, s).len(), 2);
        // Read: forgotten, room again.
        n.app_ack(s, 2);
        assert!(!n.store_full());
        assert_eq!(n.cla_offer(T, "t", bundles[2].clone()), Received::Accepted);
        assert_eq!(n.cla_offer(T, "t", b"junk".to_vec()), Received::Malformed);
    }

    #[test]
    fn fragments_are_stored_until_their_adu_is_whole_also_across_a_restart() {
        let (_, parts) = send_big(3, 150_000);
        let frags: Vec<Vec<u8>> = parts.into_iter().map(|t| t.bundle).collect();
        assert_eq!(frags.len(), 3);
        let mut st = MemStore::default();
        let mut n = node(20, &[]);
        n.cla_receive(T, "t", frags[0].clone());
        n.cla_receive(T, "t", frags[1].clone());
        st.apply(&mut n);
        let states: Vec<BundleState> = st.bundles.values().map(|b| b.state).collect();
        assert_eq!(states, vec![BundleState::Fragment, BundleState::Fragment]);
        let last = n.last_timestamp();
        drop(n);
        // A restart between the fragments: the last one completes the ADU.
        let mut n = node(20, &[]);
        n.restore(T + 1, st.loaded(last));
        n.cla_receive(T + 2, "t", frags[2].clone());
        st.apply(&mut n);
        let states: Vec<BundleState> = st.bundles.values().map(|b| b.state).collect();
        assert_eq!(
            states,
            vec![BundleState::Deliver],
            "fragments forgotten, ADU kept"
        );
        let s = n.open();
        n.bind(s, 20, 1).unwrap();
        let got = drain(&mut n, s);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, vec![3; 150_000]);
        n.app_ack(s, 1);
        st.apply(&mut n);
        assert!(st.bundles.is_empty());
        // A fragment of the ADU arriving again is a duplicate.
        n.cla_receive(T + 3, "t", frags[0].clone());
        assert_eq!(n.counters.duplicates, 1);
    }

    #[test]
    fn a_contact_rate_paces_the_queue() {
        // 10 kB/s; 50 bundles of about 1060 bytes (1000 B ADUs) queued before the contact.
        let mut n = with_contacts(10, "20 tcpcl:127.0.0.1:4556 +1 * 10k", &[]);
        let s = n.open();
        n.bind(s, 10, 1).unwrap();
        for _ in 0..50 {
            n.app_send(T, s, 0, (20, 1), Payload::whole(vec![0; 1000]))
                .unwrap();
        }
        let mut now = T + 1000;
        let mut bytes = 0u64;
        let mut at = Vec::new();
        while now < T + 7000 {
            n.set_time(now);
            while let Some(t) = n.poll_transmit() {
                bytes += t.bundle.len() as u64;
                at.push(now);
                n.transmitted(t.id);
            }
            // The driver sleeps until the node asks to be woken.
            now = n.next_wakeup_ms().map_or(now + 1, |w| w.max(now + 1));
        }
        // All 50 (about 53 kB) take about 5 s at 10 kB/s: a burst of 1.5 kB, then the rate.
        assert_eq!(at.len(), 50);
        let span = at[49] - at[0];
        assert!(
            (4_800..=5_500).contains(&span),
            "{span} ms for {bytes} bytes"
        );
        // No second holds much more than the rate (plus the burst).
        for w in at.windows(13) {
            assert!(
                w[12] - w[0] >= 1_000,
                "13 bundles within {} ms",
                w[12] - w[0]
            );
        }
    }

    #[test]
    fn bundle_age_counts_the_time_held() {
        let cfg = Config {
            node: 10,
            age_block: true,
            contacts: ContactPlan::new(vec![
                crate::contact::Contact::parse("20 udp:127.0.0.1:4556 +10 +20", T).unwrap(),
            ]),
            ..Config::default()
        };
        let mut n = Node::new(&cfg);
        let s = n.open();
        n.bind(s, 10, 1).unwrap();
        n.app_send(T, s, 0, (20, 1), Payload::whole(vec![1; 10]))
            .unwrap();
        n.set_time(T + 12_345);
        let t = n.poll_transmit().unwrap();
        let b = wire::parse(&t.bundle).unwrap();
        assert_eq!(wire::editor::bundle_age(&t.bundle, &b), Some(12_345));
        // A relay adds its own residence to the age it received.
        let mut r = with_contacts(15, "20 udp:127.0.0.1:4557 +5 +50", &[]);
        r.cla_receive(T + 12_400, "t", t.bundle);
        r.set_time(T + 20_000);
        let t2 = r.poll_transmit().unwrap();
        let b2 = wire::parse(&t2.bundle).unwrap();
        assert_eq!(
            wire::editor::bundle_age(&t2.bundle, &b2),
            Some(12_345 + 20_000 - 12_400)
        );
    }

    #[test]
    fn fragments_of_one_stored_bundle_free_it_together() {
        let (mut n, parts) = send_big(1, 150_000);
        assert!(parts.len() >= 3);
        assert_eq!(n.held_count(), 1);
        for t in &parts[..parts.len() - 1] {
            n.transmitted(t.id);
        }
        assert_eq!(n.held_count(), 1, "one fragment still out");
        n.transmitted(parts.last().unwrap().id);
        assert_eq!(n.held_count(), 0);
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
        // Too big for one datagram: fragmented, unless the socket forbids it.
        let big = || Payload::whole((0..70_000u32).map(|i| i as u8).collect());
        n.app_send(T, s, 0, (20, 1), big()).unwrap();
        let mut frags = Vec::new();
        while let Some(t) = n.poll_transmit() {
            assert!(t.bundle.len() <= 65_507);
            frags.push(t.bundle);
        }
        assert_eq!(frags.len(), 2);
        let mut r = node(20, &[]);
        let rs = r.open();
        r.bind(rs, 20, 1).unwrap();
        for f in frags.into_iter().rev() {
            r.cla_receive(T, "test", f);
        }
        assert_eq!(
            drain(&mut r, rs),
            vec![((10, 32768), big().bytes().to_vec())]
        );
        n.set_opt(s, crate::api::opt::MUST_NOT_FRAGMENT, 1, 0)
            .unwrap();
        assert_eq!(n.app_send(T, s, 0, (20, 1), big()), Err(ApiError::MsgSize));
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
    fn delivery_report_goes_back_to_the_sender_error_queue() {
        let mut a = node(10, &[("ipn:20.*", "udp:127.0.0.1:4557")]);
        let mut b = node(20, &[("ipn:10.*", "udp:127.0.0.1:4556")]);
        let sa = a.open();
        a.bind(sa, 10, 2).unwrap();
        a.set_opt(
            sa,
            crate::api::opt::REPORT_FLAGS,
            report_bits::DELIVERED as u64,
            0,
        )
        .unwrap();
        let sb = b.open();
        b.bind(sb, 20, 1).unwrap();
        a.app_send(T, sa, 0, (20, 1), Payload::whole(b"x".to_vec()))
            .unwrap();
        a.app_send(T, sa, 0, (20, 1), Payload::whole(b"y".to_vec()))
            .unwrap();
        while let Some(t) = a.poll_transmit() {
            b.cla_receive(T + 5, "a", t.bundle);
        }
        assert_eq!(drain(&mut b, sb).len(), 2);
        let mut reports = 0;
        while let Some(t) = b.poll_transmit() {
            assert_eq!(t.to, ClaAddr::parse("udp:127.0.0.1:4556").unwrap());
            a.cla_receive(T + 10, "b", t.bundle);
            reports += 1;
        }
        assert_eq!(reports, 2);
        for seq in 1..=2 {
            let r = a.take_report(sa, false).expect("a report");
            assert_eq!(r.status, report_bits::DELIVERED);
            assert_eq!(r.send_seq, seq);
            assert_eq!(r.source, (10, 2));
            assert_eq!(r.reporter, (20, 0));
        }
        assert!(a.take_report(sa, false).is_none());
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
    fn forwarding_keeps_the_primary_and_updates_previous_node_and_hop_count() {
        let mut a = node(10, &[("ipn:*.*", "udp:127.0.0.1:1")]);
        let mut relay = node(15, &[("ipn:20.*", "udp:127.0.0.1:2")]);
        let s = a.open();
        a.set_opt(s, crate::api::opt::HOP_LIMIT, 2, 0).unwrap();
        a.app_send(T, s, 0, (20, 1), Payload::whole(vec![5; 100]))
            .unwrap();
        let t = a.poll_transmit().unwrap();
        let orig = wire::parse(&t.bundle).unwrap();
        let hc = wire::editor::hop_count(&t.bundle, &orig).unwrap();
        assert_eq!((hc.limit, hc.count), (2, 0));
        relay.cla_receive(T, "test", t.bundle.clone());
        let f = relay.poll_transmit().unwrap().bundle;
        let b = wire::parse(&f).unwrap();
        assert_eq!(
            &f[b.primary_extent.clone()],
            &t.bundle[orig.primary_extent.clone()]
        );
        assert_eq!(wire::editor::previous_node(&f, &b), Some(Eid::ipn(15, 0)));
        let hc = wire::editor::hop_count(&f, &b).unwrap();
        assert_eq!((hc.limit, hc.count), (2, 1));
        assert_eq!(b.payload(&f), &[5; 100][..]);
        // Second relay: count 2 reaches the limit; the third deletes it.
        let mut relay2 = node(16, &[("ipn:20.*", "udp:127.0.0.1:3")]);
        relay2.cla_receive(T, "test", f);
        let f2 = relay2.poll_transmit().unwrap().bundle;
        let mut relay3 = node(17, &[("ipn:20.*", "udp:127.0.0.1:4")]);
        relay3.cla_receive(T, "test", f2);
        assert!(relay3.poll_transmit().is_none());
        assert_eq!(relay3.counters.hop_limit, 1);
    }

    #[test]
    fn unknown_blocks_follow_their_flags() {
        use wire::block_flags as bf;
        let mut b = node(20, &[]);
        let s = b.open();
        b.bind(s, 20, 1).unwrap();
        let primary = PrimaryBlock {
            flags: 0,
            crc_type: CrcType::Crc32c,
            destination: Eid::ipn(20, 1),
            source: Eid::ipn(10, 1),
            report_to: Eid::ipn(10, 1),
            creation: CreationTimestamp { time: T, seq: 0 },
            lifetime_ms: 60_000,
            fragment: None,
        };
        // Each bundle its own creation sequence: the node suppresses duplicates.
        let with_block = |flags: u64| {
            let mut p = primary.clone();
            p.creation.seq = flags;
            let mut out = vec![0x9f];
            wire::bundle::write_primary(&p, &mut out);
            wire::bundle::write_canonical(&mut out, 200, 2, flags, CrcType::Crc32c, &[1, 2]);
            wire::bundle::write_canonical(&mut out, 1, 1, 0, CrcType::Crc32c, b"data");
            out.push(0xff);
            out
        };
        b.cla_receive(T, "t", with_block(0));
        b.cla_receive(T, "t", with_block(bf::DISCARD_IF_UNPROCESSABLE));
        b.cla_receive(T, "t", with_block(bf::DELETE_BUNDLE_IF_UNPROCESSABLE));
        assert_eq!(drain(&mut b, s).len(), 2);
        assert_eq!(b.counters.unsupported_block, 1);
    }

    #[test]
    fn strict_crc_setting_and_age_block_setting() {
        let primary = PrimaryBlock {
            flags: 0,
            crc_type: CrcType::None,
            destination: Eid::ipn(20, 1),
            source: Eid::ipn(10, 1),
            report_to: Eid::ipn(10, 1),
            creation: CreationTimestamp { time: T, seq: 0 },
            lifetime_ms: 60_000,
            fragment: None,
        };
        let mut no_crc = Vec::new();
        wire::encode(&primary, None, b"x", CrcType::None, &mut no_crc);
        for (strict, delivered) in [(false, 1), (true, 0)] {
            let mut n = Node::new(&Config {
                node: 20,
                strict_crc: strict,
                ..Config::default()
            });
            let s = n.open();
            n.bind(s, 20, 1).unwrap();
            n.cla_receive(T, "t", no_crc.clone());
            assert_eq!(drain(&mut n, s).len(), delivered, "strict {strict}");
        }
        let mut n = Node::new(&Config {
            node: 10,
            age_block: true,
            routes: Routes::new(vec![(
                Pattern::parse("ipn:*.*").unwrap(),
                ClaAddr::parse("udp:127.0.0.1:1").unwrap(),
            )]),
            ..Config::default()
        });
        let s = n.open();
        n.app_send(T, s, 0, (20, 1), Payload::whole(vec![1]))
            .unwrap();
        let t = n.poll_transmit().unwrap();
        let b = wire::parse(&t.bundle).unwrap();
        assert_eq!(wire::editor::bundle_age(&t.bundle, &b), Some(0));
    }

    #[test]
    fn a_bundle_expiring_before_it_is_sent_is_deleted() {
        let mut n = node(10, &[("ipn:*.*", "udp:127.0.0.1:1")]);
        let s = n.open();
        n.set_opt(s, crate::api::opt::LIFETIME, 1, 0).unwrap();
        n.app_send(T, s, 0, (20, 1), Payload::whole(vec![1]))
            .unwrap();
        n.expire(T + 2000);
        assert!(n.poll_transmit().is_none());
        assert_eq!(n.counters.expired, 1);
    }

    #[test]
    fn options_are_checked_and_used() {
        use crate::api::opt as o;
        let mut n = node(10, &[("ipn:20.*", "udp:127.0.0.1:4557")]);
        let s = n.open();
        for (opt, bad) in [
            (o::PRIORITY, 3),
            (o::CRC_TYPE, 0),
            (o::CRC_TYPE, 3),
            (o::HOP_LIMIT, 256),
            (o::MUST_NOT_FRAGMENT, 2),
            (o::REPORT_FLAGS, 0x20),
            (o::LIFETIME, 0),
            (99, 1),
        ] {
            assert_eq!(
                n.set_opt(s, opt, bad, 0),
                Err(ApiError::Invalid),
                "{opt}={bad}"
            );
        }
        n.set_opt(s, o::LIFETIME, 5, 0).unwrap();
        n.set_opt(s, o::CRC_TYPE, 1, 0).unwrap();
        n.set_opt(s, o::PRIORITY, 0, 0).unwrap();
        n.set_opt(s, o::REPORT_TO, 10, 9).unwrap();
        n.set_opt(s, o::ACK_REQUESTED, 1, 0).unwrap();
        n.app_send(T, s, 0, (20, 1), Payload::whole(vec![1]))
            .unwrap();
        let t = n.poll_transmit().unwrap();
        let b = wire::parse(&t.bundle).unwrap();
        assert_eq!(b.primary.lifetime_ms, 5000);
        assert_eq!(b.primary.crc_type, CrcType::Crc16);
        assert_eq!(b.priority(&t.bundle), Some(0));
        assert_eq!(b.primary.report_to, Eid::ipn(10, 9));
        assert_eq!(b.primary.flags, wire::flags::ACK_REQUESTED);
    }

    #[test]
    fn expired_bundle_gives_a_local_deletion_report() {
        let mut n = node(10, &[]);
        let s = n.open();
        n.bind(s, 10, 2).unwrap();
        n.set_opt(
            s,
            crate::api::opt::REPORT_FLAGS,
            report_bits::DELETED as u64,
            0,
        )
        .unwrap();
        n.set_opt(s, crate::api::opt::LIFETIME, 1, 0).unwrap();
        n.app_send(T, s, 0, (30, 1), Payload::whole(vec![1]))
            .unwrap();
        n.expire(T + 500);
        assert!(n.take_report(s, true).is_none());
        n.expire(T + 1000);
        let r = n.take_report(s, false).unwrap();
        assert_eq!(r.status, report_bits::DELETED);
        assert_eq!(r.reason, reason::LIFETIME_EXPIRED);
        assert_eq!(r.send_seq, 1);
        assert_eq!(r.reporter, (10, 0));
    }
}

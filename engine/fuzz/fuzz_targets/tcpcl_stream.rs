//! TCPCLv4 sessions (`engine::cla::tcpcl::Session`) driven by the input: nothing may panic,
//! what `poll_transmit` writes stays bounded, no event follows `Closed`, and two well-behaved
//! sessions talking to each other never see a protocol error.
//!
//! Input: `[mode][config 0][config 1][ops...]`. Config bytes pick the keepalive (0, 1, 30,
//! 65535 s), Segment MRU (1, 9, 1000, 1 MiB), Transfer MRU (0, 40, 5000, 64 MiB), segment cap
//! (1, 7, 100, 64000), negotiation and ending timeouts (0, 100, 5000, 60000 / 30000 ms).
//! `mode` bit 0 picks one of two games; each op is one byte (low 3 bits: kind, high 5 bits:
//! argument) followed by its operands, and an input that ends inside an op ends the game.
//!
//! Mode 0, a hostile peer: one Passive session fed the input's bytes.
//! - 0 / 1: feed the next N bytes (N: a 1-byte / 2-byte operand) in one `handle_bytes`;
//! - 2: feed the next N bytes (1-byte operand) one byte at a time, draining after each;
//! - 3: the clock moves on by a 2-byte operand times 1 ms, 37 ms, 1 s or 60 s, then
//!   `handle_timeout` (with a stale time first when bit 7 is set);
//! - 4: the clock jumps to `poll_timeout` (plus the argument, in ms), then `handle_timeout`;
//! - 5: decisions on received bundles, two bits each from a 1-byte operand: wait, accept,
//!   refuse (reason from the argument), or answer a transfer ID that awaits nothing;
//! - 6: `send_bundle` of a bundle of N bytes (1-byte operand);
//! - 7: by argument: `close` (reason), `handle_eof`, accept everything, an empty feed.
//!
//! Mode 1, a pair: an Active and a Passive session joined by two byte pipes that the input
//! delivers in pieces. 0 / 1: deliver N bytes (1-byte operand, 0: all) Active→Passive /
//! Passive→Active; 2 / 3: the Active / Passive side sends a bundle of 8 + N bytes (its handle,
//! then a pattern); 4: time (as mode 0's 3) on both sides; 5: decisions on both sides; 6:
//! `close` one side; 7: hostile bytes (the next N, 1-byte operand) inserted into a pipe at the
//! offset the argument gives, which ends the checks below for this input. When a
//! session has closed and its pipe is empty the other side gets `handle_eof`. At the end the
//! pair settles (everything delivered, every bundle accepted, no time passing), then time
//! runs out. Without hostile bytes:
//! - each side receives the other's bundles intact, in order, each at most once;
//! - `BundleSent` only for a bundle the receiver accepted, `BundleRefused` only with the
//!   reason the receiver gave (or "session terminating");
//! - no `Closed` for a peer error, no `Rejected`;
//! - after settling, every bundle queued has had exactly one outcome (sent, refused, failed,
//!   too large).
//!
//! Always, on what each `poll_transmit` call writes (parsed with the codec): whole, valid
//! messages; at most one XFER_SEGMENT per call, none over min(segment cap, the peer's Segment
//! MRU), and no more segment data than was queued; one contact header, SESS_INIT and SESS_TERM
//! at most; no more KEEPALIVEs than `handle_timeout` calls; in bytes, at most what was received
//! plus 24 per input or command plus 24 per byte queued (segment framing with a 1-byte Segment
//! MRU) plus 64; and `poll_transmit` empties in a bounded number of calls. Nothing follows
//! `Closed`, after which `poll_timeout` is `None`.
#![no_main]

use engine::cla::tcpcl::{
    CloseReason, Event, Msg, Role, SessTermReason, Session, SessionConfig, XferRefuseReason, codec,
};
use libfuzzer_sys::fuzz_target;
use std::collections::{HashMap, HashSet};

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        let hi = self.byte()?;
        Some(u16::from_be_bytes([hi, self.byte()?]))
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
}

fn config(c0: u8, c1: u8) -> SessionConfig {
    let pick = |v: &[u64], bits: u8| v[usize::from(bits & 3)];
    let mut c = SessionConfig::new("ipn:20.0");
    c.keepalive_s = [0, 1, 30, u16::MAX][usize::from(c0 & 3)];
    c.segment_mru = pick(&[1, 9, 1000, 1 << 20], c0 >> 2);
    c.transfer_mru = pick(&[0, 40, 5000, 64 << 20], c0 >> 4);
    c.max_segment_len = pick(&[1, 7, 100, 64_000], c0 >> 6);
    c.negotiation_timeout_ms = pick(&[0, 100, 5000, 60_000], c1);
    c.ending_timeout_ms = pick(&[0, 100, 5000, 30_000], c1 >> 2);
    c
}

const TIME_SCALE: [u64; 4] = [1, 37, 1000, 60_000];

fn refuse_reason(arg: u8) -> XferRefuseReason {
    XferRefuseReason::from(arg % 8)
}

fn term_reason(arg: u8) -> SessTermReason {
    SessTermReason::from(arg % 7)
}

/// A bundle of `len` bytes that names its handle: the first 8 bytes are `id` (as far as they
/// fit), the rest a pattern. The pair sends 8 bytes at least, so that its bundles differ.
fn bundle(id: u64, len: usize) -> Vec<u8> {
    let mut b: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ 0xa5)
        .collect();
    for (d, s) in b.iter_mut().zip(id.to_be_bytes()) {
        *d = s;
    }
    b
}

/// One session with the bookkeeping of the checks.
struct Side {
    s: Session,
    /// Bytes received (fed) so far, and the commands/inputs given.
    rx: u64,
    ops: u64,
    /// Bytes handed to `send_bundle` successfully.
    queued: u64,
    /// Bytes `poll_transmit` wrote.
    tx: u64,
    closed: Option<CloseReason>,
    /// Received bundles awaiting a decision: transfer ID, bundle.
    undecided: Vec<(u64, Vec<u8>)>,
    /// Received bundles, in order.
    received: Vec<Vec<u8>>,
    /// Bundles we decided on (by content): accepted, refused with a reason.
    accepted: HashSet<Vec<u8>>,
    refused: HashMap<Vec<u8>, XferRefuseReason>,
    /// Our bundles: handle → bytes, and the handles with an outcome.
    sent: HashMap<u64, Vec<u8>>,
    outcome: HashMap<u64, &'static str>,
    sent_ok: Vec<u64>,
    refused_by_peer: Vec<(u64, XferRefuseReason)>,
    peer_error: bool,
    rejected: bool,
    /// Our output, parsed: what is left of an unfinished message (none expected), whether the
    /// start was seen, and the counts the checks bound.
    wire: Vec<u8>,
    wire_started: bool,
    max_segment_len: u64,
    timeouts: u64,
    keepalives: u64,
    sess_terms: u64,
    sess_inits: u64,
    contacts: u64,
    segment_bytes: u64,
    queued_bundle_bytes: u64,
}

impl Side {
    fn new(role: Role, c: SessionConfig, now: u64) -> Option<Side> {
        let max_segment_len = c.max_segment_len;
        let s = Session::new(role, c, now).ok()?;
        Some(Side {
            s,
            rx: 0,
            ops: 1,
            queued: 0,
            tx: 0,
            closed: None,
            undecided: Vec::new(),
            received: Vec::new(),
            accepted: HashSet::new(),
            refused: HashMap::new(),
            sent: HashMap::new(),
            outcome: HashMap::new(),
            sent_ok: Vec::new(),
            refused_by_peer: Vec::new(),
            peer_error: false,
            rejected: false,
            wire: Vec::new(),
            wire_started: false,
            max_segment_len,
            timeouts: 0,
            keepalives: 0,
            sess_terms: 0,
            sess_inits: 0,
            contacts: 0,
            segment_bytes: 0,
            queued_bundle_bytes: 0,
        })
    }

    fn feed(&mut self, now: u64, bytes: &[u8]) {
        self.rx += bytes.len() as u64;
        self.ops += 1;
        self.s.handle_bytes(now, bytes);
    }

    /// Drains the outputs; transmitted bytes go to `pipe`.
    fn drain(&mut self, pipe: &mut Vec<u8>) {
        let mut calls = 0u32;
        loop {
            let before = pipe.len();
            let n = self.s.poll_transmit(pipe);
            assert_eq!(n, pipe.len() - before, "poll_transmit miscounts");
            if n == 0 {
                break;
            }
            self.tx += n as u64;
            self.parse_output(before, pipe);
            calls += 1;
            assert!(calls < 1 << 22, "poll_transmit does not empty");
        }
        let budget = self.rx + 24 * self.ops + 24 * self.queued + 64;
        assert!(
            self.tx <= budget,
            "{} bytes transmitted for {} received, {} ops, {} queued",
            self.tx,
            self.rx,
            self.ops,
            self.queued
        );
        while let Some(ev) = self.s.poll_event() {
            assert!(self.closed.is_none(), "{ev:?} after Closed");
            match ev {
                Event::BundleReceived {
                    transfer_id,
                    bundle,
                } => {
                    self.received.push(bundle.clone());
                    self.undecided.push((transfer_id, bundle));
                }
                Event::BundleSent { id } => {
                    self.sent_ok.push(id);
                    self.done(id, "sent");
                }
                Event::BundleRefused { id, reason } => {
                    self.refused_by_peer.push((id, reason));
                    self.done(id, "refused");
                }
                Event::BundleTooLarge { id, .. } => self.done(id, "too large"),
                Event::BundleFailed { id } => self.done(id, "failed"),
                Event::Rejected { .. } => self.rejected = true,
                Event::Closed { reason, .. } => {
                    if matches!(reason, CloseReason::PeerError(_)) {
                        self.peer_error = true;
                    }
                    self.closed = Some(reason);
                }
                _ => {}
            }
        }
        assert_eq!(self.s.is_closed(), self.closed.is_some());
        if self.closed.is_some() {
            assert_eq!(self.s.poll_timeout(), None, "deadline after Closed");
        }
    }

    /// Checks what one `poll_transmit` call appended to `pipe` from `before`: whole, valid
    /// messages; at most one XFER_SEGMENT, no larger than the negotiated segment size; a
    /// contact header, SESS_INIT and SESS_TERM at most once; a KEEPALIVE at most per
    /// `handle_timeout`; no more segment data than queued.
    fn parse_output(&mut self, before: usize, pipe: &[u8]) {
        self.wire.extend_from_slice(&pipe[before..]);
        if !self.wire_started {
            self.wire_started = true;
            if self.wire.starts_with(b"dtn!") {
                assert!(self.wire.len() >= 6, "half a contact header");
                self.wire.drain(..6);
                self.contacts += 1;
            }
        }
        let limits = codec::Limits {
            max_segment_len: u64::MAX,
            max_extensions_len: u32::MAX,
        };
        let mut segments = 0;
        let mut at = 0;
        while at < self.wire.len() {
            let (msg, used) = match codec::decode_with(&self.wire[at..], &limits) {
                Ok(Some(m)) => m,
                Ok(None) => panic!("poll_transmit wrote part of a message"),
                Err(e) => panic!("poll_transmit wrote an undecodable message: {e:?}"),
            };
            at += used;
            match msg {
                Msg::Keepalive => self.keepalives += 1,
                Msg::SessTerm { .. } => self.sess_terms += 1,
                Msg::SessInit(_) => self.sess_inits += 1,
                Msg::XferSegment(seg) => {
                    segments += 1;
                    let len = seg.data.len() as u64;
                    self.segment_bytes += len;
                    let peer_mru = self.s.peer().map_or(0, |p| p.segment_mru);
                    assert!(
                        len <= self.max_segment_len.min(peer_mru),
                        "a {len}-byte segment, cap {} and peer MRU {peer_mru}",
                        self.max_segment_len
                    );
                }
                _ => {}
            }
        }
        self.wire.clear();
        assert!(
            segments <= 1,
            "{segments} XFER_SEGMENTs in one poll_transmit"
        );
        assert!(self.contacts <= 1, "two contact headers");
        assert!(self.sess_inits <= 1, "two SESS_INITs");
        assert!(self.sess_terms <= 1, "two SESS_TERMs");
        assert!(
            self.keepalives <= self.timeouts,
            "{} KEEPALIVEs for {} handle_timeout calls",
            self.keepalives,
            self.timeouts
        );
        assert!(
            self.segment_bytes <= self.queued_bundle_bytes,
            "{} bytes of segments for {} bytes of bundles",
            self.segment_bytes,
            self.queued_bundle_bytes
        );
    }

    fn done(&mut self, id: u64, what: &'static str) {
        assert!(
            self.sent.contains_key(&id),
            "{what} for unknown handle {id}"
        );
        if let Some(prev) = self.outcome.insert(id, what) {
            panic!("bundle {id}: {what} after {prev}");
        }
    }

    fn send(&mut self, now: u64, id: u64, len: usize) {
        self.ops += 1;
        let b = bundle(id, len);
        if self.s.send_bundle(now, id, b.clone()).is_ok() {
            self.queued += len as u64 + 1;
            self.queued_bundle_bytes += len as u64;
            self.sent.insert(id, b);
        }
    }

    /// Decisions from `mask`, two bits per waiting bundle.
    fn decide(&mut self, mask: u8, arg: u8) {
        let waiting = std::mem::take(&mut self.undecided);
        for (i, (tid, b)) in waiting.into_iter().enumerate() {
            self.ops += 1;
            match (mask >> ((i % 4) * 2)) & 3 {
                0 => self.undecided.push((tid, b)),
                1 => self.accept(tid, b),
                2 => {
                    let r = refuse_reason(arg);
                    if self.s.refuse_transfer(tid, r).is_ok() {
                        self.refused.insert(b, r);
                    }
                }
                _ => {
                    assert!(
                        self.s.accept_transfer(tid ^ 0x8000_0000_0000_0000).is_err(),
                        "a decision for a transfer that awaits none"
                    );
                    self.undecided.push((tid, b));
                }
            }
        }
    }

    fn accept(&mut self, tid: u64, b: Vec<u8>) {
        if self.s.accept_transfer(tid).is_ok() {
            self.accepted.insert(b);
        }
    }

    fn accept_all(&mut self) {
        for (tid, b) in std::mem::take(&mut self.undecided) {
            self.ops += 1;
            self.accept(tid, b);
        }
    }

    fn timeout(&mut self, now: u64) {
        self.ops += 1;
        self.timeouts += 1;
        self.s.handle_timeout(now);
    }
}

fn advance(now: &mut u64, op: u8, r: &mut Reader<'_>) -> Option<Option<u64>> {
    let d = u64::from(r.u16()?);
    let stale = (op & 0x80 != 0).then(|| now.saturating_sub(1000));
    *now = now.saturating_add(d * TIME_SCALE[usize::from((op >> 3) & 3)]);
    Some(stale)
}

fn hostile(c: SessionConfig, mut r: Reader<'_>) {
    let mut now = 1_000_000;
    let Some(mut p) = Side::new(Role::Passive, c, now) else {
        return;
    };
    let mut out = Vec::new();
    let mut next_id = 1;
    while let Some(op) = r.byte() {
        let arg = op >> 3;
        match op & 7 {
            0 | 1 => {
                let n = if op & 7 == 0 {
                    usize::from(r.byte().unwrap_or(0))
                } else {
                    usize::from(r.u16().unwrap_or(0))
                };
                let chunk = r.take(n);
                p.feed(now, chunk);
            }
            2 => {
                let n = usize::from(r.byte().unwrap_or(0));
                for b in r.take(n) {
                    p.feed(now, std::slice::from_ref(b));
                    out.clear();
                    p.drain(&mut out);
                }
            }
            3 => {
                let Some(stale) = advance(&mut now, op, &mut r) else {
                    break;
                };
                if let Some(t) = stale {
                    p.timeout(t);
                }
                p.timeout(now);
            }
            4 => {
                if let Some(t) = p.s.poll_timeout() {
                    now = now.max(t).saturating_add(u64::from(arg));
                }
                p.timeout(now);
            }
            5 => {
                let Some(mask) = r.byte() else { break };
                p.decide(mask, arg);
            }
            6 => {
                let Some(n) = r.byte() else { break };
                p.send(now, next_id, usize::from(n));
                next_id += 1;
            }
            _ => match arg & 7 {
                0..=3 => {
                    p.ops += 1;
                    p.s.close(now, term_reason(arg >> 1));
                }
                4 => {
                    p.ops += 1;
                    p.s.handle_eof(now);
                }
                5 => p.accept_all(),
                _ => p.feed(now, &[]),
            },
        }
        out.clear();
        p.drain(&mut out);
    }
}

/// Delivers up to `n` bytes (0: all) of `pipe` to `to`.
fn deliver(now: u64, pipe: &mut Vec<u8>, to: &mut Side, n: usize) {
    let n = if n == 0 {
        pipe.len()
    } else {
        n.min(pipe.len())
    };
    if n > 0 {
        let chunk: Vec<u8> = pipe.drain(..n).collect();
        to.feed(now, &chunk);
    }
}

struct Pair {
    a: Side,
    p: Side,
    a2p: Vec<u8>,
    p2a: Vec<u8>,
    /// Whether each side was told the stream ended.
    eof_a: bool,
    eof_p: bool,
}

impl Pair {
    fn drain(&mut self, now: u64) {
        loop {
            self.a.drain(&mut self.a2p);
            self.p.drain(&mut self.p2a);
            // A closed session's socket closes once its bytes are out.
            if self.a.closed.is_some() && self.a2p.is_empty() && !self.eof_p {
                self.eof_p = true;
                self.p.ops += 1;
                self.p.s.handle_eof(now);
                continue;
            }
            if self.p.closed.is_some() && self.p2a.is_empty() && !self.eof_a {
                self.eof_a = true;
                self.a.ops += 1;
                self.a.s.handle_eof(now);
                continue;
            }
            break;
        }
    }
}

fn pair(ca: SessionConfig, cp: SessionConfig, mut r: Reader<'_>) {
    let mut now = 5_000_000;
    let (Some(a), Some(p)) = (
        Side::new(Role::Active, ca, now),
        Side::new(Role::Passive, cp, now),
    ) else {
        return;
    };
    let mut x = Pair {
        a,
        p,
        a2p: Vec::new(),
        p2a: Vec::new(),
        eof_a: false,
        eof_p: false,
    };
    // Handles: the Active side's are odd, the Passive side's even, so the bytes differ.
    let (mut id_a, mut id_p) = (1u64, 2u64);
    let mut hostile = false;
    x.drain(now);
    while let Some(op) = r.byte() {
        let arg = op >> 3;
        match op & 7 {
            0 => {
                let n = usize::from(r.byte().unwrap_or(0));
                deliver(now, &mut x.a2p, &mut x.p, n);
            }
            1 => {
                let n = usize::from(r.byte().unwrap_or(0));
                deliver(now, &mut x.p2a, &mut x.a, n);
            }
            2 => {
                let Some(n) = r.byte() else { break };
                x.a.send(now, id_a, 8 + usize::from(n));
                id_a += 2;
            }
            3 => {
                let Some(n) = r.byte() else { break };
                x.p.send(now, id_p, 8 + usize::from(n));
                id_p += 2;
            }
            4 => {
                let Some(stale) = advance(&mut now, op, &mut r) else {
                    break;
                };
                if let Some(t) = stale {
                    x.a.timeout(t);
                }
                x.a.timeout(now);
                x.p.timeout(now);
            }
            5 => {
                let Some(mask) = r.byte() else { break };
                x.a.decide(mask, arg);
                x.p.decide(mask.rotate_left(3), arg >> 1);
            }
            6 => {
                let side = if arg & 1 == 0 { &mut x.a } else { &mut x.p };
                side.ops += 1;
                side.s.close(now, term_reason(arg >> 1));
            }
            _ => {
                let n = usize::from(r.byte().unwrap_or(0));
                let bytes = r.take(n);
                hostile = true;
                let pipe = if arg & 1 == 0 { &mut x.a2p } else { &mut x.p2a };
                let at = usize::from(arg >> 1).min(pipe.len());
                pipe.splice(at..at, bytes.iter().copied());
            }
        }
        x.drain(now);
        if !hostile {
            check(&x.a, &x.p);
            check(&x.p, &x.a);
        }
    }
    // Settle: everything delivered and accepted, no time passing.
    for _ in 0..10_000 {
        x.a.accept_all();
        x.p.accept_all();
        deliver(now, &mut x.a2p, &mut x.p, 0);
        deliver(now, &mut x.p2a, &mut x.a, 0);
        x.drain(now);
        if x.a2p.is_empty()
            && x.p2a.is_empty()
            && x.a.undecided.is_empty()
            && x.p.undecided.is_empty()
        {
            break;
        }
    }
    if !hostile {
        check(&x.a, &x.p);
        check(&x.p, &x.a);
        for side in [&x.a, &x.p] {
            for id in side.sent.keys() {
                assert!(
                    side.outcome.contains_key(id),
                    "bundle {id} has no outcome after settling ({:?})",
                    side.s
                );
            }
        }
    }
    // Time runs out: every deadline is taken in turn.
    for _ in 0..64 {
        let next = [x.a.s.poll_timeout(), x.p.s.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(t) = next else { break };
        now = now.max(t);
        x.a.timeout(now);
        x.p.timeout(now);
        x.a.accept_all();
        x.p.accept_all();
        deliver(now, &mut x.a2p, &mut x.p, 0);
        deliver(now, &mut x.p2a, &mut x.a, 0);
        x.drain(now);
    }
    if !hostile {
        check(&x.a, &x.p);
        check(&x.p, &x.a);
    }
}

/// What `to` received from and told `from`, against what `from` sent and `to` decided.
fn check(from: &Side, to: &Side) {
    assert!(
        !from.peer_error && !to.peer_error,
        "protocol error between well-behaved peers: {:?} / {:?}",
        from.closed,
        to.closed
    );
    assert!(
        !from.rejected && !to.rejected,
        "MSG_REJECT between well-behaved peers"
    );
    // Received intact, in order, each once: handles increase.
    let mut last = 0u64;
    for b in &to.received {
        let id = b
            .get(..8)
            .map(|h| u64::from_be_bytes(h.try_into().unwrap_or_default()));
        let Some(id) = id else {
            panic!("a {}-byte bundle: the pair sends 8 bytes at least", b.len());
        };
        assert_eq!(from.sent.get(&id), Some(b), "bundle {id} received altered");
        assert!(id > last, "bundle {id} received out of order or twice");
        last = id;
    }
    for id in &from.sent_ok {
        let b = &from.sent[id];
        assert!(
            to.accepted.contains(b),
            "bundle {id} sent but never accepted"
        );
    }
    for (id, reason) in &from.refused_by_peer {
        let b = &from.sent[id];
        let ok =
            to.refused.get(b) == Some(reason) || *reason == XferRefuseReason::SessionTerminating;
        assert!(
            ok,
            "bundle {id} refused with {reason:?}, not the receiver's decision"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, c0, c1, ops @ ..] = data else {
        return;
    };
    if mode & 1 == 0 {
        hostile(config(*c0, *c1), Reader(ops));
    } else {
        pair(
            config(*c0, *c1),
            config(c0.rotate_left(4), c1 ^ (*mode >> 1)),
            Reader(ops),
        );
    }
});

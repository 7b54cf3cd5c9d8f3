//! Two TCPCLv4 sessions (RFC 9174), one active and one passive, joined in memory: each one's
//! `poll_transmit` bytes are fed to the other at every split point (whole, byte by byte, and
//! seeded random chunks). Covers establishment, bundles in both directions with segmentation
//! by the negotiated MRUs, acknowledgements, refusal, keepalive and idle timeout, termination,
//! and the end of a session in the middle of a transfer.

use engine::cla::tcpcl::codec::{self, Msg, MsgType, segment_flags, term_flags};
use engine::cla::tcpcl::{
    CloseReason, Event, Role, SendError, SessTermReason, Session, SessionConfig, TransferError,
    XferRefuseReason,
};

/// Deterministic xorshift64.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// How a side's output is cut before it is fed to the other side.
#[derive(Clone, Copy, Debug)]
enum Split {
    Whole,
    Bytewise,
    Random(u64),
}

const SPLITS: [Split; 5] = [
    Split::Whole,
    Split::Bytewise,
    Split::Random(1),
    Split::Random(0xdead_beef),
    Split::Random(42),
];

/// Answer to a received bundle.
type Policy = fn(u64, &[u8]) -> Option<XferRefuseReason>;

fn accept_all(_: u64, _: &[u8]) -> Option<XferRefuseReason> {
    None
}

struct Side {
    s: Session,
    events: Vec<Event>,
    /// Everything this side transmitted.
    sent: Vec<u8>,
    policy: Policy,
}

impl Side {
    fn new(role: Role, config: SessionConfig) -> Side {
        Side {
            s: Session::new(role, config, 0).unwrap(),
            events: Vec::new(),
            sent: Vec::new(),
            policy: accept_all,
        }
    }

    /// Moves the session's events into `events`, answering received bundles.
    fn collect(&mut self) {
        while let Some(event) = self.s.poll_event() {
            if let Event::BundleReceived {
                transfer_id,
                bundle,
            } = &event
            {
                match (self.policy)(*transfer_id, bundle) {
                    None => self.s.accept_transfer(*transfer_id).unwrap(),
                    Some(reason) => self.s.refuse_transfer(*transfer_id, reason).unwrap(),
                }
            }
            self.events.push(event);
        }
    }

    fn received(&self) -> Vec<(u64, Vec<u8>)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::BundleReceived {
                    transfer_id,
                    bundle,
                } => Some((*transfer_id, bundle.clone())),
                _ => None,
            })
            .collect()
    }

    fn closed(&self) -> Option<(CloseReason, bool)> {
        self.events.iter().find_map(|e| match e {
            Event::Closed { reason, by_peer } => Some((*reason, *by_peer)),
            _ => None,
        })
    }
}

fn feed(to: &mut Session, now: u64, bytes: &[u8], split: Split, rng: &mut XorShift) {
    match split {
        Split::Whole => to.handle_bytes(now, bytes),
        Split::Bytewise => bytes.chunks(1).for_each(|b| to.handle_bytes(now, b)),
        Split::Random(_) => {
            let mut rest = bytes;
            while !rest.is_empty() {
                let n = 1 + rng.below(rest.len().min(3000));
                to.handle_bytes(now, &rest[..n]);
                rest = &rest[n..];
            }
        }
    }
}

struct Pair {
    a: Side,
    b: Side,
    now: u64,
    split: Split,
    rng: XorShift,
}

impl Pair {
    fn new(a: SessionConfig, b: SessionConfig, split: Split) -> Pair {
        let seed = match split {
            Split::Random(seed) => seed,
            _ => 1,
        };
        Pair {
            a: Side::new(Role::Active, a),
            b: Side::new(Role::Passive, b),
            now: 0,
            split,
            rng: XorShift(seed),
        }
    }

    fn default(split: Split) -> Pair {
        Pair::new(
            SessionConfig::new("ipn:1.0"),
            SessionConfig::new("ipn:2.0"),
            split,
        )
    }

    /// Sends what `from` has (one or a few `poll_transmit` calls) to `to`.
    fn pass(from: &mut Side, to: &mut Side, now: u64, split: Split, rng: &mut XorShift) -> bool {
        let calls = match split {
            Split::Random(_) => 1 + rng.below(4),
            _ => 1,
        };
        let mut buf = Vec::new();
        for _ in 0..calls {
            if from.s.poll_transmit(&mut buf) == 0 {
                break;
            }
        }
        if buf.is_empty() {
            return false;
        }
        from.sent.extend_from_slice(&buf);
        feed(&mut to.s, now, &buf, split, rng);
        from.collect();
        to.collect();
        true
    }

    fn step(&mut self) -> bool {
        let ab = Pair::pass(
            &mut self.a,
            &mut self.b,
            self.now,
            self.split,
            &mut self.rng,
        );
        let ba = Pair::pass(
            &mut self.b,
            &mut self.a,
            self.now,
            self.split,
            &mut self.rng,
        );
        self.a.collect();
        self.b.collect();
        ab || ba
    }

    /// Runs until neither side has anything to send; fails on livelock.
    fn drive(&mut self) {
        for _ in 0..1_000_000 {
            if !self.step() {
                return;
            }
        }
        panic!("no quiescence after a million steps");
    }
}

fn bundle(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn established(side: &Side) -> (String, u16, u64, u64) {
    side.events
        .iter()
        .find_map(|e| match e {
            Event::Established {
                peer_node_id,
                keepalive_s,
                peer_segment_mru,
                peer_transfer_mru,
            } => Some((
                peer_node_id.clone(),
                *keepalive_s,
                *peer_segment_mru,
                *peer_transfer_mru,
            )),
            _ => None,
        })
        .expect("established")
}

fn sent_ids(side: &Side) -> Vec<u64> {
    side.events
        .iter()
        .filter_map(|e| match e {
            Event::BundleSent { id } => Some(*id),
            _ => None,
        })
        .collect()
}

fn failed_ids(side: &Side) -> Vec<u64> {
    side.events
        .iter()
        .filter_map(|e| match e {
            Event::BundleFailed { id } => Some(*id),
            _ => None,
        })
        .collect()
}

/// The messages of a side's transmitted stream (after the contact header).
fn messages(stream: &[u8]) -> Vec<Msg<'_>> {
    let mut pos = codec::CONTACT_HEADER_LEN;
    let mut out = Vec::new();
    let limits = codec::Limits {
        max_segment_len: u64::MAX,
        max_extensions_len: u32::MAX,
    };
    while let Some((msg, used)) = codec::decode_with(&stream[pos..], &limits).unwrap() {
        out.push(msg);
        pos += used;
    }
    assert_eq!(pos, stream.len(), "stream ends on a message boundary");
    out
}

#[test]
fn small_bundles_both_ways_then_close() {
    for split in SPLITS {
        let mut p = Pair::default(split);
        p.a.s.send_bundle(0, 100, bundle(10, 1)).unwrap();
        p.b.s.send_bundle(0, 200, bundle(10, 2)).unwrap();
        p.drive();
        assert_eq!(established(&p.a), ("ipn:2.0".into(), 30, 1 << 20, 64 << 20));
        assert_eq!(established(&p.b).0, "ipn:1.0");
        assert!(p.a.s.is_established() && p.b.s.is_established());
        assert_eq!(p.a.s.keepalive_s(), Some(30));
        assert_eq!(p.b.s.peer().unwrap().node_id, "ipn:1.0");
        assert_eq!(p.b.received(), [(1, bundle(10, 1))], "{split:?}");
        assert_eq!(p.a.received(), [(1, bundle(10, 2))], "{split:?}");
        assert_eq!(sent_ids(&p.a), [100]);
        assert_eq!(sent_ids(&p.b), [200]);

        p.a.s.close(p.now, SessTermReason::Unknown);
        p.drive();
        assert_eq!(
            p.a.closed(),
            Some((CloseReason::SessTerm(SessTermReason::Unknown), false))
        );
        assert_eq!(
            p.b.closed(),
            Some((CloseReason::SessTerm(SessTermReason::Unknown), true))
        );
        assert!(p.a.s.is_closed() && p.b.s.is_closed());
        assert_eq!(p.a.s.poll_timeout(), None);
        // The SESS_TERM pair: ours without REPLY, theirs with.
        assert_eq!(
            messages(&p.a.sent).last(),
            Some(&Msg::SessTerm {
                flags: 0,
                reason: SessTermReason::Unknown
            })
        );
        assert_eq!(
            messages(&p.b.sent).last(),
            Some(&Msg::SessTerm {
                flags: term_flags::REPLY,
                reason: SessTermReason::Unknown
            })
        );
        // Nothing after Closed.
        assert!(matches!(p.a.events.last(), Some(Event::Closed { .. })));
        assert!(matches!(p.b.events.last(), Some(Event::Closed { .. })));
    }
}

/// Checks that a stream's transfers are segmented as RFC 9174 §5.2.2 requires, with segments
/// of at most `cap` octets, and returns (transfer ID, total length) per transfer.
fn check_segments(stream: &[u8], cap: u64) -> Vec<(u64, u64)> {
    let mut transfers = Vec::new();
    let mut open: Option<(u64, u64)> = None;
    for msg in messages(stream) {
        let Msg::XferSegment(s) = msg else { continue };
        assert!(s.data.len() as u64 <= cap, "segment of {}", s.data.len());
        assert!(s.extensions.is_empty());
        if s.is_start() {
            assert!(open.is_none(), "interleaved transfer");
            open = Some((s.transfer_id, 0));
        }
        let (id, len) = open.as_mut().expect("segment inside a transfer");
        assert_eq!(*id, s.transfer_id);
        *len += s.data.len() as u64;
        if s.is_end() {
            transfers.push(open.take().unwrap());
        } else {
            assert_eq!(s.data.len() as u64, cap, "only the last segment is short");
        }
    }
    assert!(open.is_none());
    transfers
}

#[test]
fn bundles_of_every_size_both_directions_at_once() {
    let sizes = [10, 64 * 1024, 200 * 1024];
    for split in SPLITS {
        // Each side's Segment MRU bounds the other's segments below its 64000 cap.
        let mut a = SessionConfig::new("ipn:1.0");
        a.segment_mru = 10_000;
        let mut b = SessionConfig::new("ipn:2.0");
        b.segment_mru = 4096;
        let mut p = Pair::new(a, b, split);
        for (i, &len) in sizes.iter().enumerate() {
            p.a.s
                .send_bundle(0, 10 + i as u64, bundle(len, i as u8))
                .unwrap();
            p.b.s
                .send_bundle(0, 20 + i as u64, bundle(len, 100 + i as u8))
                .unwrap();
        }
        p.drive();
        let to_b: Vec<_> = (0..3)
            .map(|i| (1 + i as u64, bundle(sizes[i], i as u8)))
            .collect();
        let to_a: Vec<_> = (0..3)
            .map(|i| (1 + i as u64, bundle(sizes[i], 100 + i as u8)))
            .collect();
        assert!(p.b.received() == to_b, "{split:?}");
        assert!(p.a.received() == to_a, "{split:?}");
        assert_eq!(sent_ids(&p.a), [10, 11, 12]);
        assert_eq!(sent_ids(&p.b), [20, 21, 22]);
        let expect: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(i, &l)| (1 + i as u64, l as u64))
            .collect();
        assert_eq!(check_segments(&p.a.sent, 4096), expect);
        assert_eq!(check_segments(&p.b.sent, 10_000), expect);
        // One XFER_ACK per segment received, with cumulative lengths and the segment's flags.
        let acks: Vec<_> = messages(&p.b.sent)
            .into_iter()
            .filter_map(|m| match m {
                Msg::XferAck {
                    flags,
                    transfer_id: 1,
                    length,
                } => Some((flags, length)),
                _ => None,
            })
            .collect();
        assert_eq!(acks, [(segment_flags::START | segment_flags::END, 10)]);
        let acks: Vec<_> = messages(&p.b.sent)
            .into_iter()
            .filter_map(|m| match m {
                Msg::XferAck {
                    flags,
                    transfer_id: 3,
                    length,
                } => Some((flags, length)),
                _ => None,
            })
            .collect();
        assert_eq!(acks.len(), 50);
        assert_eq!(acks[0], (segment_flags::START, 4096));
        assert_eq!(acks[1], (0, 8192));
        assert_eq!(acks[49], (segment_flags::END, 200 * 1024));
        assert!(p.a.closed().is_none() && p.b.closed().is_none());
    }
}

/// Runs `make` to a reference transcript, then replays the bytes the receiving side got,
/// cut at every split point, into a fresh receiver: same events, same bytes out.
fn every_split_point(receiver_role: Role, make: impl Fn() -> Pair) {
    let mut p = make();
    p.drive();
    let (reference, input) = match receiver_role {
        Role::Passive => (&p.b, p.a.sent.clone()),
        Role::Active => (&p.a, p.b.sent.clone()),
    };
    assert!(
        reference.closed().is_some(),
        "the scenario ends the session"
    );
    let config = match receiver_role {
        Role::Passive => SessionConfig {
            segment_mru: 100,
            ..SessionConfig::new("ipn:2.0")
        },
        Role::Active => SessionConfig {
            segment_mru: 100,
            ..SessionConfig::new("ipn:1.0")
        },
    };
    let run = |cuts: &[usize]| {
        let mut side = Side::new(receiver_role, config.clone());
        let mut from = 0;
        for &to in cuts.iter().chain(std::iter::once(&input.len())) {
            side.s.handle_bytes(0, &input[from..to]);
            side.collect();
            while side.s.poll_transmit(&mut side.sent) > 0 {}
            from = to;
        }
        side
    };
    for k in 0..=input.len() {
        let side = run(&[k]);
        assert_eq!(side.events, reference.events, "split at {k}");
        assert_eq!(side.sent, reference.sent, "split at {k}");
    }
    let mut rng = XorShift(7);
    for _ in 0..200 {
        let mut cuts: Vec<usize> = (0..rng.below(20))
            .map(|_| rng.below(input.len() + 1))
            .collect();
        cuts.sort_unstable();
        let side = run(&cuts);
        assert_eq!(side.events, reference.events, "cuts {cuts:?}");
        assert_eq!(side.sent, reference.sent, "cuts {cuts:?}");
    }
}

#[test]
fn every_split_point_into_the_passive_side() {
    every_split_point(Role::Passive, || {
        let b = SessionConfig {
            segment_mru: 100,
            ..SessionConfig::new("ipn:2.0")
        };
        let mut p = Pair::new(SessionConfig::new("ipn:1.0"), b, Split::Whole);
        p.a.s.send_bundle(0, 1, bundle(250, 3)).unwrap();
        p.a.s.send_bundle(0, 2, bundle(40, 4)).unwrap();
        p.drive();
        p.a.s.close(0, SessTermReason::Busy);
        p
    });
}

#[test]
fn every_split_point_into_the_active_side() {
    every_split_point(Role::Active, || {
        let a = SessionConfig {
            segment_mru: 100,
            ..SessionConfig::new("ipn:1.0")
        };
        let mut p = Pair::new(a, SessionConfig::new("ipn:2.0"), Split::Whole);
        p.b.s.send_bundle(0, 1, bundle(250, 5)).unwrap();
        p.drive();
        p.b.s.close(0, SessTermReason::ResourceExhaustion);
        p
    });
}

#[test]
fn refused_bundle_and_the_next_one() {
    for split in SPLITS {
        let mut p = Pair::default(split);
        p.b.policy = |transfer_id, _| (transfer_id == 1).then_some(XferRefuseReason::NotAcceptable);
        p.a.s.send_bundle(0, 7, bundle(5000, 1)).unwrap();
        p.a.s.send_bundle(0, 8, bundle(5000, 2)).unwrap();
        p.drive();
        let outcomes: Vec<_> =
            p.a.events
                .iter()
                .filter(|e| !matches!(e, Event::Established { .. }))
                .cloned()
                .collect();
        assert_eq!(
            outcomes,
            [
                Event::BundleRefused {
                    id: 7,
                    reason: XferRefuseReason::NotAcceptable
                },
                Event::BundleSent { id: 8 }
            ]
        );
        assert!(messages(&p.b.sent).contains(&Msg::XferRefuse {
            reason: XferRefuseReason::NotAcceptable,
            transfer_id: 1
        }));
    }
}

#[test]
fn final_ack_waits_for_the_decision() {
    let mut p = Pair::default(Split::Whole);
    // Collect by hand: no automatic decision.
    p.a.s.send_bundle(0, 1, bundle(100, 1)).unwrap();
    p.a.s.send_bundle(0, 2, bundle(100, 2)).unwrap();
    let mut received = Vec::new();
    for _ in 0..20 {
        let mut buf = Vec::new();
        while p.a.s.poll_transmit(&mut buf) > 0 {}
        p.b.s.handle_bytes(0, &buf);
        let mut buf = Vec::new();
        while p.b.s.poll_transmit(&mut buf) > 0 {}
        p.a.s.handle_bytes(0, &buf);
        p.b.sent.extend_from_slice(&buf);
        while let Some(e) = p.b.s.poll_event() {
            if let Event::BundleReceived { transfer_id, .. } = e {
                received.push(transfer_id);
            }
        }
    }
    assert_eq!(received, [1, 2]);
    assert!(
        !messages(&p.b.sent)
            .iter()
            .any(|m| matches!(m, Msg::XferAck { .. })),
        "no final ack before the decision"
    );
    assert_eq!(
        p.b.s.accept_transfer(5),
        Err(TransferError::UnknownTransfer(5))
    );
    // Deciding the second first releases nothing: replies leave in transfer order.
    p.b.s.accept_transfer(2).unwrap();
    let mut buf = Vec::new();
    assert_eq!(p.b.s.poll_transmit(&mut buf), 0);
    p.b.s.accept_transfer(1).unwrap();
    assert!(p.b.s.poll_transmit(&mut buf) > 0);
    p.a.s.handle_bytes(0, &buf);
    let acks: Vec<_> = messages(&[&[0u8; 6][..], &buf].concat())
        .into_iter()
        .map(|m| match m {
            Msg::XferAck { transfer_id, .. } => transfer_id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(acks, [1, 2]);
    p.a.collect();
    assert_eq!(sent_ids(&p.a), [1, 2]);
    assert_eq!(
        p.b.s.accept_transfer(1),
        Err(TransferError::UnknownTransfer(1))
    );
}

#[test]
fn keepalive_and_idle_timeout() {
    let mut a = SessionConfig::new("ipn:1.0");
    a.keepalive_s = 30;
    let mut b = SessionConfig::new("ipn:2.0");
    b.keepalive_s = 20;
    let mut p = Pair::new(a, b, Split::Whole);
    p.drive();
    assert_eq!(established(&p.a).1, 20, "minimum of both offers");
    assert_eq!(p.a.s.poll_timeout(), Some(20_000));
    p.a.s.handle_timeout(19_999);
    let mut buf = Vec::new();
    assert_eq!(p.a.s.poll_transmit(&mut buf), 0);

    // Both send a KEEPALIVE after 20 s without sending.
    p.now = 20_000;
    p.a.s.handle_timeout(20_000);
    p.b.s.handle_timeout(20_000);
    assert_eq!(p.a.s.poll_transmit(&mut buf), 1);
    assert_eq!(buf, [0x04]);
    p.b.s.handle_bytes(20_000, &buf);
    buf.clear();
    assert_eq!(p.b.s.poll_transmit(&mut buf), 1);
    p.a.s.handle_bytes(20_000, &buf);
    // Repeated timeouts do nothing more.
    p.a.s.handle_timeout(20_000);
    buf.clear();
    assert_eq!(p.a.s.poll_transmit(&mut buf), 0);

    // From now on nothing reaches A. It keeps sending keepalives ...
    p.a.s.handle_timeout(40_000);
    assert_eq!(p.a.s.poll_transmit(&mut buf), 1);
    // ... and 2 × 20 s after the last byte received it ends the session.
    assert_eq!(p.a.s.poll_timeout(), Some(60_000));
    p.a.s.handle_timeout(59_999);
    assert!(!p.a.s.is_closed());
    buf.clear();
    p.a.s.handle_timeout(60_000);
    assert!(p.a.s.poll_transmit(&mut buf) > 0);
    assert_eq!(buf, [0x05, 0x00, 0x01], "SESS_TERM idle timeout");
    p.a.collect();
    assert_eq!(
        p.a.closed(),
        Some((CloseReason::SessTerm(SessTermReason::IdleTimeout), false))
    );
    // B replies and closes too.
    p.b.s.handle_bytes(60_000, &buf);
    p.b.collect();
    buf.clear();
    assert!(p.b.s.poll_transmit(&mut buf) > 0);
    assert_eq!(buf, [0x05, 0x01, 0x01]);
    assert_eq!(
        p.b.closed(),
        Some((CloseReason::SessTerm(SessTermReason::IdleTimeout), true))
    );
}

#[test]
fn keepalive_zero_disables_both_timers() {
    let mut b = SessionConfig::new("ipn:2.0");
    b.keepalive_s = 0;
    let mut p = Pair::new(SessionConfig::new("ipn:1.0"), b, Split::Whole);
    p.drive();
    assert_eq!(established(&p.a).1, 0);
    assert_eq!(p.a.s.poll_timeout(), None);
    p.a.s.handle_timeout(10_000_000);
    let mut buf = Vec::new();
    assert_eq!(p.a.s.poll_transmit(&mut buf), 0);
    assert!(p.a.s.is_established());
}

#[test]
fn end_of_stream_mid_transfer_fails_unacknowledged_bundles() {
    let mut b = SessionConfig::new("ipn:2.0");
    b.segment_mru = 4096;
    let mut p = Pair::new(SessionConfig::new("ipn:1.0"), b, Split::Whole);
    p.a.s.send_bundle(0, 1, bundle(1000, 1)).unwrap();
    p.a.s.send_bundle(0, 2, bundle(200 * 1024, 2)).unwrap();
    p.a.s.send_bundle(0, 3, bundle(10, 3)).unwrap();
    // Establish, finish bundle 1, and pass a few segments of bundle 2.
    for _ in 0..6 {
        p.step();
    }
    assert_eq!(sent_ids(&p.a), [1]);
    assert_eq!(p.b.received().len(), 1);
    p.a.s.handle_eof(1);
    p.b.s.handle_eof(1);
    p.a.collect();
    p.b.collect();
    assert_eq!(failed_ids(&p.a), [2, 3]);
    assert_eq!(p.a.closed(), Some((CloseReason::ConnectionLost, true)));
    assert_eq!(p.b.closed(), Some((CloseReason::ConnectionLost, true)));
    assert_eq!(p.b.received().len(), 1, "the partial bundle is dropped");
    assert_eq!(p.a.s.send_bundle(2, 4, vec![1]), Err(SendError::Closed));
    assert_eq!(p.b.s.accept_transfer(2), Err(TransferError::Closed));
    // Inputs after the end change nothing.
    p.a.s.handle_bytes(3, &[0x04]);
    p.a.s.handle_timeout(1_000_000);
    assert_eq!(p.a.s.poll_event(), None);
}

#[test]
fn close_finishes_the_transfer_in_progress_then_terminates() {
    for split in SPLITS {
        let mut b = SessionConfig::new("ipn:2.0");
        b.segment_mru = 4096;
        let mut p = Pair::new(SessionConfig::new("ipn:1.0"), b, split);
        p.drive();
        p.a.s.send_bundle(0, 1, bundle(50_000, 1)).unwrap();
        p.a.s.send_bundle(0, 2, bundle(10, 2)).unwrap();
        // One segment of bundle 1 out, then close.
        let mut buf = Vec::new();
        assert!(p.a.s.poll_transmit(&mut buf) > 0);
        p.a.sent.extend_from_slice(&buf);
        p.b.s.handle_bytes(0, &buf);
        p.a.s.close(0, SessTermReason::Busy);
        p.a.collect();
        assert_eq!(failed_ids(&p.a), [2], "queued bundle fails at once");
        assert_eq!(p.a.s.send_bundle(0, 3, vec![0; 10]), Err(SendError::Ending));
        p.drive();
        assert_eq!(sent_ids(&p.a), [1]);
        assert_eq!(p.b.received(), [(1, bundle(50_000, 1))]);
        // SESS_TERM follows the END segment.
        let msgs = messages(&p.a.sent);
        let term = msgs
            .iter()
            .position(|m| matches!(m, Msg::SessTerm { .. }))
            .unwrap();
        assert!(matches!(msgs[term - 1], Msg::XferSegment(s) if s.is_end()));
        assert_eq!(
            p.a.closed(),
            Some((CloseReason::SessTerm(SessTermReason::Busy), false))
        );
        assert_eq!(
            p.b.closed(),
            Some((CloseReason::SessTerm(SessTermReason::Busy), true))
        );
    }
}

#[test]
fn peer_termination_refuses_our_new_bundles() {
    let mut p = Pair::default(Split::Whole);
    p.drive();
    p.a.s.send_bundle(0, 1, bundle(10, 1)).unwrap();
    p.b.s.close(0, SessTermReason::Unknown);
    p.drive();
    // A's segment crossed B's SESS_TERM: B refuses the new transfer (RFC 9174 §6.1).
    assert!(p.a.events.contains(&Event::BundleRefused {
        id: 1,
        reason: XferRefuseReason::SessionTerminating
    }));
    assert!(p.a.s.is_closed() && p.b.s.is_closed());
    assert_eq!(p.a.s.send_bundle(0, 2, vec![1]), Err(SendError::Closed));
}

#[test]
fn simultaneous_close() {
    let mut p = Pair::default(Split::Whole);
    p.drive();
    p.a.s.close(0, SessTermReason::Unknown);
    p.b.s.close(0, SessTermReason::Busy);
    p.drive();
    // Each sent its own SESS_TERM without REPLY, and neither replied to the other.
    for side in [&p.a, &p.b] {
        let terms: Vec<_> = messages(&side.sent)
            .into_iter()
            .filter(|m| m.msg_type() == MsgType::SessTerm)
            .collect();
        assert_eq!(terms.len(), 1);
        assert!(matches!(terms[0], Msg::SessTerm { flags: 0, .. }));
    }
    assert_eq!(
        p.a.closed(),
        Some((CloseReason::SessTerm(SessTermReason::Unknown), false))
    );
    assert_eq!(
        p.b.closed(),
        Some((CloseReason::SessTerm(SessTermReason::Busy), false))
    );
}

#[test]
fn bundles_over_the_peer_transfer_mru_are_refused_locally() {
    let mut b = SessionConfig::new("ipn:2.0");
    b.transfer_mru = 1000;
    let mut p = Pair::new(SessionConfig::new("ipn:1.0"), b, Split::Whole);
    // Queued before the peer's MRU is known.
    p.a.s.send_bundle(0, 1, bundle(1001, 1)).unwrap();
    p.a.s.send_bundle(0, 2, bundle(1000, 2)).unwrap();
    p.drive();
    assert!(p.a.events.contains(&Event::BundleTooLarge {
        id: 1,
        len: 1001,
        peer_transfer_mru: 1000
    }));
    assert_eq!(sent_ids(&p.a), [2]);
    assert_eq!(
        p.b.received(),
        [(1, bundle(1000, 2))],
        "transfer IDs skip nothing"
    );
    // Once established, the check is immediate.
    assert_eq!(
        p.a.s.send_bundle(0, 3, vec![0; 5000]),
        Err(SendError::TooLarge {
            len: 5000,
            peer_transfer_mru: 1000
        })
    );
}

#[test]
fn negotiation_timeouts() {
    // Passive: nothing ever arrives.
    let mut s = Session::new(Role::Passive, SessionConfig::new("ipn:2.0"), 1000).unwrap();
    assert_eq!(s.poll_timeout(), Some(61_000));
    s.handle_timeout(60_999);
    assert!(!s.is_closed());
    s.handle_timeout(61_000);
    let mut buf = Vec::new();
    assert_eq!(s.poll_transmit(&mut buf), 0);
    assert_eq!(
        s.poll_event(),
        Some(Event::Closed {
            reason: CloseReason::NegotiationTimeout,
            by_peer: false
        })
    );
    // Active: the contact header comes back but SESS_INIT never does.
    let mut s = Session::new(Role::Active, SessionConfig::new("ipn:1.0"), 0).unwrap();
    s.handle_bytes(10, b"dtn!\x04\x00");
    assert!(s.poll_transmit(&mut buf) > 0);
    buf.clear();
    s.handle_timeout(60_000);
    assert!(s.poll_transmit(&mut buf) > 0);
    assert_eq!(buf, [0x05, 0x00, 0x01]);
    assert_eq!(
        s.poll_event(),
        Some(Event::Closed {
            reason: CloseReason::NegotiationTimeout,
            by_peer: false
        })
    );
}

#[test]
fn ending_timeout_when_the_peer_never_replies() {
    let mut p = Pair::default(Split::Whole);
    p.drive();
    p.a.s.close(100, SessTermReason::Unknown);
    let mut buf = Vec::new();
    assert!(p.a.s.poll_transmit(&mut buf) > 0);
    assert_eq!(p.a.s.poll_timeout(), Some(30_100));
    p.a.s.handle_timeout(30_100);
    p.a.collect();
    assert_eq!(
        p.a.closed(),
        Some((CloseReason::SessTerm(SessTermReason::Unknown), false))
    );
}

//! Two TCPCLv3 sessions (RFC 7242) joined in memory: each one's `poll_transmit` bytes are fed
//! to the other at every split point (whole, byte by byte, seeded random chunks, and every
//! single cut of a reference transcript). Covers contact header negotiation (keepalive, acks,
//! refusal, LENGTH), bundles both ways with and without acknowledgements, segmentation,
//! refusal (by the caller, by size, on a LENGTH message), keepalive and idle timeout,
//! SHUTDOWN from either side, a SHUTDOWN or end of stream in the middle of a bundle, the
//! peer errors of the module table, and the bytes a pyd3tn peer sends.

use engine::cla::tcpclv3::codec::{self, ContactHeader, Msg, MsgType, segment_flags};
use engine::cla::tcpclv3::{
    CloseReason, Event, PeerError, RefuseReason, Role, SendError, Session, SessionConfig,
    ShutdownReason, TransferError,
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
type Policy = fn(u64, &[u8]) -> Option<RefuseReason>;

fn accept_all(_: u64, _: &[u8]) -> Option<RefuseReason> {
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

    /// Answers the events and moves everything `poll_transmit` holds into `sent`.
    fn drain(&mut self) {
        loop {
            self.collect();
            if self.s.poll_transmit(&mut self.sent) == 0 {
                return;
            }
        }
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

/// (peer EID, keepalive, acks, refusal, peer flags)
fn established(side: &Side) -> (String, u16, bool, bool, u8) {
    side.events
        .iter()
        .find_map(|e| match e {
            Event::Established {
                peer_node_id,
                keepalive_s,
                acks,
                refusal,
                peer_flags,
            } => Some((
                peer_node_id.clone(),
                *keepalive_s,
                *acks,
                *refusal,
                *peer_flags,
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

/// The messages of a transmitted stream (after the contact header).
fn messages(stream: &[u8]) -> Vec<Msg<'_>> {
    let (_, mut pos) = ContactHeader::decode(stream, 4096).unwrap().unwrap();
    let mut out = Vec::new();
    while let Some((msg, used)) = codec::decode(&stream[pos..], u64::MAX).unwrap() {
        out.push(msg);
        pos += used;
    }
    assert_eq!(pos, stream.len(), "stream ends on a message boundary");
    out
}

fn acks_in(stream: &[u8]) -> Vec<u64> {
    messages(stream)
        .into_iter()
        .filter_map(|m| match m {
            Msg::AckSegment { length } => Some(length),
            _ => None,
        })
        .collect()
}

/// Checks that a stream's bundles are segmented as RFC 7242 §5.2 requires, with segments of
/// at most `cap` octets, and returns the length of each bundle.
fn check_segments(stream: &[u8], cap: u64) -> Vec<u64> {
    let mut bundles = Vec::new();
    let mut open: Option<u64> = None;
    for msg in messages(stream) {
        let Msg::DataSegment { flags, data } = msg else {
            continue;
        };
        assert!(data.len() as u64 <= cap, "segment of {}", data.len());
        if flags & segment_flags::START != 0 {
            assert!(open.is_none(), "interleaved bundle");
            open = Some(0);
        }
        let len = open.as_mut().expect("segment inside a bundle");
        *len += data.len() as u64;
        if flags & segment_flags::END != 0 {
            bundles.push(open.take().unwrap());
        } else {
            assert_eq!(data.len() as u64, cap, "only the last segment is short");
        }
    }
    assert!(open.is_none());
    bundles
}

const SHUTDOWN_PLAIN: Msg<'static> = Msg::Shutdown {
    reason: None,
    delay_s: None,
};

#[test]
fn small_bundles_both_ways_then_close() {
    for split in SPLITS {
        let mut p = Pair::default(split);
        p.a.s.send_bundle(0, 100, bundle(10, 1)).unwrap();
        p.b.s.send_bundle(0, 200, bundle(10, 2)).unwrap();
        p.drive();
        assert_eq!(established(&p.a), ("ipn:2.0".into(), 30, true, true, 0x05));
        assert_eq!(established(&p.b).0, "ipn:1.0");
        assert!(p.a.s.is_established() && p.b.s.is_established());
        assert!(p.a.s.acks() && p.a.s.refusal());
        assert_eq!(p.a.s.keepalive_s(), Some(30));
        assert_eq!(p.b.s.peer().unwrap().node_id, "ipn:1.0");
        assert_eq!(p.b.received(), [(1, bundle(10, 1))], "{split:?}");
        assert_eq!(p.a.received(), [(1, bundle(10, 2))], "{split:?}");
        assert_eq!(sent_ids(&p.a), [100]);
        assert_eq!(sent_ids(&p.b), [200]);
        assert_eq!(acks_in(&p.a.sent), [10]);
        assert_eq!(acks_in(&p.b.sent), [10]);

        p.a.s.close(p.now, None);
        p.drive();
        let shut = CloseReason::Shutdown {
            reason: None,
            delay_s: None,
        };
        assert_eq!(p.a.closed(), Some((shut, false)));
        assert_eq!(p.b.closed(), Some((shut, true)));
        assert!(p.a.s.is_closed() && p.b.s.is_closed());
        assert_eq!(p.a.s.poll_timeout(), None);
        // A's SHUTDOWN is one octet, 0x50; TCPCLv3 has no reply, so B sends none.
        assert_eq!(messages(&p.a.sent).last(), Some(&SHUTDOWN_PLAIN));
        assert_eq!(p.a.sent.last(), Some(&0x50));
        assert!(
            !messages(&p.b.sent)
                .iter()
                .any(|m| m.msg_type() == MsgType::Shutdown)
        );
        assert!(matches!(p.a.events.last(), Some(Event::Closed { .. })));
        assert!(matches!(p.b.events.last(), Some(Event::Closed { .. })));
    }
}

#[test]
fn bundles_of_every_size_both_directions_at_once() {
    let sizes = [0, 10, 64 * 1024, 200 * 1024];
    for split in SPLITS {
        let mut a = SessionConfig::new("ipn:1.0");
        a.max_segment_len = 4096;
        let mut b = SessionConfig::new("ipn:2.0");
        b.max_segment_len = 10_000;
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
        let to_b: Vec<_> = (0..sizes.len())
            .map(|i| (1 + i as u64, bundle(sizes[i], i as u8)))
            .collect();
        let to_a: Vec<_> = (0..sizes.len())
            .map(|i| (1 + i as u64, bundle(sizes[i], 100 + i as u8)))
            .collect();
        assert!(p.b.received() == to_b, "{split:?}");
        assert!(p.a.received() == to_a, "{split:?}");
        assert_eq!(sent_ids(&p.a), [10, 11, 12, 13]);
        assert_eq!(sent_ids(&p.b), [20, 21, 22, 23]);
        let expect: Vec<u64> = sizes.iter().map(|&l| l as u64).collect();
        assert_eq!(check_segments(&p.a.sent, 4096), expect);
        assert_eq!(check_segments(&p.b.sent, 10_000), expect);
        // One ACK_SEGMENT per segment received, cumulative within each bundle.
        let acks = acks_in(&p.b.sent);
        let mut expect_acks = vec![0, 10];
        for total in [64 * 1024u64, 200 * 1024] {
            expect_acks.extend((1..=total.div_ceil(4096)).map(|k| (k * 4096).min(total)));
        }
        assert_eq!(acks, expect_acks);
        assert!(p.a.closed().is_none() && p.b.closed().is_none());
    }
}

#[test]
fn negotiation_of_acks_refusal_keepalive_and_length() {
    // (A requests acks, A refusal, B requests acks, B refusal) -> (acks, refusal)
    let cases = [
        ((true, true, true, true), (true, true)),
        ((true, false, true, true), (true, false)),
        ((true, true, true, false), (true, false)),
        ((true, true, false, true), (false, false)),
        ((false, true, true, true), (false, false)),
        ((false, false, false, false), (false, false)),
    ];
    for ((aa, ar, ba, br), (acks, refusal)) in cases {
        let mut a = SessionConfig::new("ipn:1.0");
        a.request_acks = aa;
        a.allow_refusal = ar;
        a.keepalive_s = 7;
        let mut b = SessionConfig::new("ipn:2.0");
        b.request_acks = ba;
        b.allow_refusal = br;
        b.request_length = true;
        let mut p = Pair::new(a, b, Split::Whole);
        p.a.s.send_bundle(0, 1, bundle(3000, 1)).unwrap();
        p.b.s.send_bundle(0, 2, bundle(3000, 2)).unwrap();
        p.drive();
        let ea = established(&p.a);
        let eb = established(&p.b);
        assert_eq!((ea.1, ea.2, ea.3), (7, acks, refusal));
        assert_eq!((eb.1, eb.2, eb.3), (7, acks, refusal));
        assert_eq!((p.a.s.acks(), p.a.s.refusal()), (acks, refusal));
        assert_eq!(p.b.received(), [(1, bundle(3000, 1))]);
        assert_eq!(p.a.received(), [(1, bundle(3000, 2))]);
        assert_eq!(sent_ids(&p.a), [1]);
        assert_eq!(sent_ids(&p.b), [2]);
        assert_eq!(acks_in(&p.a.sent).is_empty(), !acks);
        assert_eq!(acks_in(&p.b.sent).is_empty(), !acks);
        // B asked for LENGTH messages: A sends one before its bundle; B was not asked.
        let a_msgs = messages(&p.a.sent);
        let len_at = a_msgs
            .iter()
            .position(|m| *m == Msg::Length { length: 3000 })
            .expect("LENGTH before the bundle");
        assert!(matches!(
            a_msgs[len_at + 1],
            Msg::DataSegment { flags: 3, .. }
        ));
        assert!(
            !messages(&p.b.sent)
                .iter()
                .any(|m| m.msg_type() == MsgType::Length)
        );
    }
}

#[test]
fn without_acks_a_bundle_is_sent_once_written() {
    let mut b = SessionConfig::new("ipn:2.0");
    b.request_acks = false;
    let mut p = Pair::new(SessionConfig::new("ipn:1.0"), b, Split::Whole);
    p.drive();
    p.a.s.send_bundle(0, 5, bundle(1000, 5)).unwrap();
    let mut buf = Vec::new();
    assert!(p.a.s.poll_transmit(&mut buf) > 1000);
    assert_eq!(p.a.s.poll_event(), None, "not yet known to be written");
    // The next call means the driver wrote everything before it.
    let mut more = Vec::new();
    assert_eq!(p.a.s.poll_transmit(&mut more), 0);
    assert_eq!(p.a.s.poll_event(), Some(Event::BundleSent { id: 5 }));
    // Nothing but the DATA_SEGMENT went out, and nothing comes back.
    assert_eq!(buf[0], 0x13);
    p.b.s.handle_bytes(0, &buf);
    p.b.collect();
    assert_eq!(p.b.received(), [(1, bundle(1000, 5))]);
    let mut back = Vec::new();
    assert_eq!(p.b.s.poll_transmit(&mut back), 0);
}

/// Runs `make` to a reference transcript, then replays the bytes the receiving side got, cut
/// at every split point, into a fresh receiver: same events, same bytes out.
fn every_split_point(
    receiver_role: Role,
    config: SessionConfig,
    make: impl Fn(SessionConfig) -> Pair,
) {
    let mut p = make(config.clone());
    p.drive();
    let (reference, input) = match receiver_role {
        Role::Passive => (&p.b, p.a.sent.clone()),
        Role::Active => (&p.a, p.b.sent.clone()),
    };
    assert!(
        reference.closed().is_some(),
        "the scenario ends the session"
    );
    let run = |cuts: &[usize]| {
        let mut side = Side::new(receiver_role, config.clone());
        let mut from = 0;
        for &to in cuts.iter().chain(std::iter::once(&input.len())) {
            side.s.handle_bytes(0, &input[from..to]);
            side.drain();
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
    for _ in 0..300 {
        let mut cuts: Vec<usize> = (0..rng.below(30))
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
    // The receiver asks for LENGTH messages, so they are in the stream too.
    let mut b = SessionConfig::new("ipn:2.0");
    b.request_length = true;
    every_split_point(Role::Passive, b, |b| {
        let mut a = SessionConfig::new("ipn:1.0");
        a.max_segment_len = 100;
        let mut p = Pair::new(a, b, Split::Whole);
        p.a.s.send_bundle(0, 1, bundle(250, 3)).unwrap();
        p.a.s.send_bundle(0, 2, bundle(40, 4)).unwrap();
        p.a.s.send_bundle(0, 3, Vec::new()).unwrap();
        p.drive();
        p.a.s.close(0, Some(ShutdownReason::Busy));
        p
    });
}

#[test]
fn every_split_point_into_the_active_side() {
    every_split_point(Role::Active, SessionConfig::new("ipn:1.0"), |a| {
        let mut b = SessionConfig::new("ipn:2.0");
        b.max_segment_len = 128;
        let mut p = Pair::new(a, b, Split::Whole);
        p.b.s.send_bundle(0, 1, bundle(300, 5)).unwrap();
        p.b.s.send_bundle(0, 2, bundle(128, 6)).unwrap();
        p.drive();
        p.b.s.close(0, None);
        p
    });
}

#[test]
fn every_split_point_without_acks() {
    every_split_point(Role::Passive, SessionConfig::new("ipn:2.0"), |b| {
        let mut a = SessionConfig::new("ipn:1.0");
        a.request_acks = false;
        a.keepalive_s = 0;
        let mut p = Pair::new(a, b, Split::Whole);
        p.a.s.send_bundle(0, 1, bundle(1000, 7)).unwrap();
        p.drive();
        p.a.s.close(0, None);
        p
    });
}

#[test]
fn every_split_point_with_a_refusal_on_length() {
    // The receiver refuses bundle 1 on its LENGTH message and takes bundle 2.
    let mut b = SessionConfig::new("ipn:2.0");
    b.request_length = true;
    b.max_bundle_len = 200;
    every_split_point(Role::Passive, b, |b| {
        let mut a = SessionConfig::new("ipn:1.0");
        a.max_segment_len = 64;
        let mut p = Pair::new(a, b, Split::Whole);
        p.a.s.send_bundle(0, 1, bundle(500, 1)).unwrap();
        p.a.s.send_bundle(0, 2, bundle(200, 2)).unwrap();
        p.drive();
        assert_eq!(p.b.received(), [(2, bundle(200, 2))]);
        p.a.s.close(0, None);
        p
    });
}

#[test]
fn refused_bundle_and_the_next_one() {
    for split in SPLITS {
        let mut p = Pair::default(split);
        p.b.policy = |transfer_id, _| (transfer_id == 1).then_some(RefuseReason::Completed);
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
                    reason: RefuseReason::Completed
                },
                Event::BundleSent { id: 8 }
            ],
            "{split:?}"
        );
        let b_msgs = messages(&p.b.sent);
        assert_eq!(
            b_msgs,
            [
                Msg::RefuseBundle {
                    reason: RefuseReason::Completed
                },
                Msg::AckSegment { length: 5000 }
            ]
        );
    }
}

#[test]
fn refusal_without_negotiation_acknowledges() {
    let mut b = SessionConfig::new("ipn:2.0");
    b.allow_refusal = false;
    let mut p = Pair::new(SessionConfig::new("ipn:1.0"), b, Split::Whole);
    p.b.policy = |_, _| Some(RefuseReason::NoResources);
    p.a.s.send_bundle(0, 1, bundle(100, 1)).unwrap();
    p.drive();
    // The peer cannot be told: the bundle is acknowledged and B's caller drops it.
    assert_eq!(sent_ids(&p.a), [1]);
    assert_eq!(messages(&p.b.sent), [Msg::AckSegment { length: 100 }]);
}

#[test]
fn oversize_bundle_is_refused_mid_transfer_and_discarded() {
    for split in SPLITS {
        let mut a = SessionConfig::new("ipn:1.0");
        a.max_segment_len = 1000;
        let mut b = SessionConfig::new("ipn:2.0");
        b.max_bundle_len = 2500;
        let mut p = Pair::new(a, b, split);
        p.a.s.send_bundle(0, 1, bundle(2500, 1)).unwrap();
        p.a.s.send_bundle(0, 2, bundle(8000, 2)).unwrap();
        p.a.s.send_bundle(0, 3, bundle(100, 3)).unwrap();
        p.drive();
        assert_eq!(
            p.b.received(),
            [(1, bundle(2500, 1)), (3, bundle(100, 3))],
            "{split:?}"
        );
        assert!(p.a.events.contains(&Event::BundleRefused {
            id: 2,
            reason: RefuseReason::NoResources
        }));
        assert_eq!(sent_ids(&p.a), [1, 3]);
        // B acknowledged the first two segments of bundle 2, then refused at the third.
        let b_msgs = messages(&p.b.sent);
        let refuse = b_msgs
            .iter()
            .position(|m| m.msg_type() == MsgType::RefuseBundle)
            .unwrap();
        assert_eq!(
            b_msgs[refuse - 2..refuse],
            [
                Msg::AckSegment { length: 1000 },
                Msg::AckSegment { length: 2000 }
            ]
        );
        // A abandoned bundle 2 after what crossed the refusal: no E segment, and the next
        // bundle starts with S.
        let segments: Vec<u8> = messages(&p.a.sent)
            .into_iter()
            .filter_map(|m| match m {
                Msg::DataSegment { flags, .. } => Some(flags),
                _ => None,
            })
            .collect();
        assert_eq!(segments[..3], [2, 0, 1], "bundle 1 in three segments");
        assert_eq!(segments[3], 2, "bundle 2 starts");
        assert_eq!(*segments.last().unwrap(), 3, "bundle 3 in one segment");
        let of_bundle_2 = &segments[4..segments.len() - 1];
        assert!(of_bundle_2.len() < 7 && of_bundle_2.iter().all(|&f| f == 0));
        assert!(p.a.closed().is_none() && p.b.closed().is_none());
    }
}

#[test]
fn oversize_bundle_announced_by_length_is_refused_before_its_data() {
    let mut b = SessionConfig::new("ipn:2.0");
    b.max_bundle_len = 1000;
    b.request_length = true;
    let mut p = Pair::new(SessionConfig::new("ipn:1.0"), b, Split::Whole);
    p.drive();
    p.a.s.send_bundle(0, 1, bundle(5000, 1)).unwrap();
    p.a.s.send_bundle(0, 2, bundle(1000, 2)).unwrap();
    // LENGTH and the whole first bundle go out before the refusal can come back.
    let mut buf = Vec::new();
    assert!(p.a.s.poll_transmit(&mut buf) > 5000);
    p.b.s.handle_bytes(0, &buf[..4]);
    let mut back = Vec::new();
    assert!(p.b.s.poll_transmit(&mut back) > 0);
    assert_eq!(back, [0x32], "REFUSE_BUNDLE as soon as LENGTH 5000 is in");
    p.b.s.handle_bytes(0, &buf[4..]);
    p.a.s.handle_bytes(0, &back);
    p.drive();
    assert_eq!(p.b.received(), [(2, bundle(1000, 2))]);
    assert!(p.a.events.contains(&Event::BundleRefused {
        id: 1,
        reason: RefuseReason::NoResources
    }));
    assert_eq!(sent_ids(&p.a), [2]);
}

#[test]
fn oversize_bundle_without_refusal_ends_the_session_busy() {
    let mut a = SessionConfig::new("ipn:1.0");
    a.allow_refusal = false;
    let mut b = SessionConfig::new("ipn:2.0");
    b.max_bundle_len = 1000;
    let mut p = Pair::new(a, b, Split::Whole);
    p.a.s.send_bundle(0, 1, bundle(1001, 1)).unwrap();
    p.drive();
    assert_eq!(
        p.b.closed(),
        Some((
            CloseReason::PeerError(PeerError::BundleTooLarge {
                len: 1001,
                max: 1000
            }),
            false
        ))
    );
    assert_eq!(
        messages(&p.b.sent),
        [Msg::Shutdown {
            reason: Some(ShutdownReason::Busy),
            delay_s: None
        }]
    );
    assert!(p.b.received().is_empty());
    // A waits for an acknowledgement B may still send after its SHUTDOWN, until B's end of
    // the stream.
    assert!(!p.a.s.is_closed());
    p.a.s.handle_eof(0);
    p.a.collect();
    assert_eq!(
        p.a.closed(),
        Some((
            CloseReason::Shutdown {
                reason: Some(ShutdownReason::Busy),
                delay_s: None
            },
            true
        ))
    );
    assert_eq!(failed_ids(&p.a), [1]);
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
    assert!(acks_in(&p.b.sent).is_empty(), "no ack before the decision");
    assert_eq!(
        p.b.s.accept_transfer(5),
        Err(TransferError::UnknownTransfer(5))
    );
    // Deciding the second first releases nothing: answers leave in bundle order.
    p.b.s.accept_transfer(2).unwrap();
    let mut buf = Vec::new();
    assert_eq!(p.b.s.poll_transmit(&mut buf), 0);
    p.b.s.accept_transfer(1).unwrap();
    assert!(p.b.s.poll_transmit(&mut buf) > 0);
    assert_eq!(buf, [0x20, 100, 0x20, 100]);
    p.a.s.handle_bytes(0, &buf);
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
    p.a.s.handle_timeout(20_000);
    p.b.s.handle_timeout(20_000);
    assert_eq!(p.a.s.poll_transmit(&mut buf), 1);
    assert_eq!(buf, [0x40]);
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
    // ... and 2 × 20 s after the last byte received it shuts down.
    assert_eq!(p.a.s.poll_timeout(), Some(60_000));
    p.a.s.handle_timeout(59_999);
    assert!(!p.a.s.is_closed());
    buf.clear();
    p.a.s.handle_timeout(60_000);
    assert!(p.a.s.poll_transmit(&mut buf) > 0);
    assert_eq!(buf, [0x52, 0x00], "SHUTDOWN, reason idle timeout");
    p.a.collect();
    let idle = CloseReason::Shutdown {
        reason: Some(ShutdownReason::IdleTimeout),
        delay_s: None,
    };
    assert_eq!(p.a.closed(), Some((idle, false)));
    // B closes without a reply.
    p.b.s.handle_bytes(60_000, &buf);
    p.b.collect();
    buf.clear();
    assert_eq!(p.b.s.poll_transmit(&mut buf), 0);
    assert_eq!(p.b.closed(), Some((idle, true)));
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
    let mut a = SessionConfig::new("ipn:1.0");
    a.max_segment_len = 4096;
    let mut p = Pair::new(a, SessionConfig::new("ipn:2.0"), Split::Whole);
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
    p.a.s.handle_bytes(3, &[0x40]);
    p.a.s.handle_timeout(1_000_000);
    assert_eq!(p.a.s.poll_event(), None);
}

#[test]
fn shutdown_mid_transfer_fails_the_bundle() {
    for split in SPLITS {
        let mut a = SessionConfig::new("ipn:1.0");
        a.max_segment_len = 1000;
        let mut p = Pair::new(a, SessionConfig::new("ipn:2.0"), split);
        p.drive();
        p.a.s.send_bundle(0, 1, bundle(10_000, 1)).unwrap();
        p.a.s.send_bundle(0, 2, bundle(10, 2)).unwrap();
        // Three segments of bundle 1 reach B, then B shuts down with a reconnection delay.
        for _ in 0..3 {
            let mut buf = Vec::new();
            assert!(p.a.s.poll_transmit(&mut buf) > 0);
            p.a.sent.extend_from_slice(&buf);
            p.b.s.handle_bytes(0, &buf);
        }
        let mut shutdown = Vec::new();
        while p.b.s.poll_transmit(&mut shutdown) > 0 {}
        codec::encode(
            &Msg::Shutdown {
                reason: Some(ShutdownReason::Busy),
                delay_s: Some(60),
            },
            &mut shutdown,
        );
        feed(&mut p.a.s, 0, &shutdown, split, &mut XorShift(3));
        p.a.collect();
        assert_eq!(failed_ids(&p.a), [1, 2], "{split:?}");
        assert_eq!(
            p.a.closed(),
            Some((
                CloseReason::Shutdown {
                    reason: Some(ShutdownReason::Busy),
                    delay_s: Some(60)
                },
                true
            ))
        );
        assert_eq!(p.a.s.send_bundle(0, 3, vec![1]), Err(SendError::Closed));
        // A stopped segmenting at B's SHUTDOWN and sent nothing after it.
        let mut rest = Vec::new();
        assert_eq!(p.a.s.poll_transmit(&mut rest), 0);
    }
}

#[test]
fn peer_shutdown_waits_for_our_answers_and_its_acks() {
    let mut p = Pair::default(Split::Whole);
    p.drive();
    p.a.s.send_bundle(0, 1, bundle(100, 1)).unwrap();
    p.b.s.send_bundle(0, 2, bundle(100, 2)).unwrap();
    let mut ab = Vec::new();
    assert!(p.a.s.poll_transmit(&mut ab) > 0);
    let mut ba = Vec::new();
    assert!(p.b.s.poll_transmit(&mut ba) > 0);
    // B's bundle is followed by its SHUTDOWN; A's bundle crosses it.
    p.b.s.close(0, None);
    assert!(p.b.s.poll_transmit(&mut ba) > 0);
    assert_eq!(ba.last(), Some(&0x50));
    p.b.s.handle_bytes(0, &ab);
    p.a.s.handle_bytes(0, &ba);
    p.a.collect();
    p.b.collect();
    // A still answers B's bundle; B (which sent SHUTDOWN) still acknowledges A's.
    assert_eq!(p.a.received(), [(1, bundle(100, 2))]);
    assert_eq!(p.b.received(), [(1, bundle(100, 1))]);
    assert!(!p.a.s.is_closed() && !p.b.s.is_closed());
    p.drive();
    assert_eq!(sent_ids(&p.a), [1]);
    assert_eq!(sent_ids(&p.b), [2]);
    let shut = CloseReason::Shutdown {
        reason: None,
        delay_s: None,
    };
    assert_eq!(p.a.closed(), Some((shut, true)));
    assert_eq!(p.b.closed(), Some((shut, false)));
}

#[test]
fn close_finishes_the_bundle_in_progress_then_shuts_down() {
    for split in SPLITS {
        let mut a = SessionConfig::new("ipn:1.0");
        a.max_segment_len = 4096;
        let mut p = Pair::new(a, SessionConfig::new("ipn:2.0"), split);
        p.drive();
        p.a.s.send_bundle(0, 1, bundle(50_000, 1)).unwrap();
        p.a.s.send_bundle(0, 2, bundle(10, 2)).unwrap();
        // One segment of bundle 1 out, then close.
        let mut buf = Vec::new();
        assert!(p.a.s.poll_transmit(&mut buf) > 0);
        p.a.sent.extend_from_slice(&buf);
        p.b.s.handle_bytes(0, &buf);
        p.a.s.close(0, Some(ShutdownReason::Busy));
        p.a.collect();
        assert_eq!(failed_ids(&p.a), [2], "queued bundle fails at once");
        assert_eq!(p.a.s.send_bundle(0, 3, vec![0; 10]), Err(SendError::Ending));
        p.drive();
        assert_eq!(sent_ids(&p.a), [1], "{split:?}");
        assert_eq!(p.b.received(), [(1, bundle(50_000, 1))]);
        // SHUTDOWN follows the E segment.
        let msgs = messages(&p.a.sent);
        assert!(matches!(
            msgs[msgs.len() - 2],
            Msg::DataSegment { flags, .. } if flags & segment_flags::END != 0
        ));
        let busy = CloseReason::Shutdown {
            reason: Some(ShutdownReason::Busy),
            delay_s: None,
        };
        assert_eq!(
            msgs.last(),
            Some(&Msg::Shutdown {
                reason: Some(ShutdownReason::Busy),
                delay_s: None
            })
        );
        assert_eq!(p.a.closed(), Some((busy, false)));
        assert_eq!(p.b.closed(), Some((busy, true)));
    }
}

#[test]
fn simultaneous_close() {
    let mut p = Pair::default(Split::Whole);
    p.drive();
    p.a.s.close(0, None);
    p.b.s.close(0, Some(ShutdownReason::Busy));
    p.drive();
    for side in [&p.a, &p.b] {
        let shutdowns = messages(&side.sent)
            .into_iter()
            .filter(|m| m.msg_type() == MsgType::Shutdown)
            .count();
        assert_eq!(shutdowns, 1);
    }
    assert_eq!(
        p.a.closed(),
        Some((
            CloseReason::Shutdown {
                reason: None,
                delay_s: None
            },
            false
        ))
    );
    assert_eq!(
        p.b.closed(),
        Some((
            CloseReason::Shutdown {
                reason: Some(ShutdownReason::Busy),
                delay_s: None
            },
            false
        ))
    );
}

#[test]
fn ending_timeout_when_the_peer_never_acknowledges() {
    let mut p = Pair::default(Split::Whole);
    p.drive();
    p.a.s.send_bundle(100, 9, bundle(10, 9)).unwrap();
    let mut buf = Vec::new();
    assert!(p.a.s.poll_transmit(&mut buf) > 0);
    p.a.s.close(100, None);
    buf.clear();
    assert_eq!(p.a.s.poll_transmit(&mut buf), 1, "SHUTDOWN");
    assert!(!p.a.s.is_closed(), "waits for the ack of bundle 9");
    assert_eq!(p.a.s.poll_timeout(), Some(30_100));
    p.a.s.handle_timeout(30_100);
    p.a.collect();
    assert_eq!(failed_ids(&p.a), [9]);
    assert_eq!(
        p.a.closed(),
        Some((
            CloseReason::Shutdown {
                reason: None,
                delay_s: None
            },
            false
        ))
    );
}

#[test]
fn negotiation_timeout_and_close_before_contact() {
    for role in [Role::Active, Role::Passive] {
        let mut s = Session::new(role, SessionConfig::new("ipn:2.0"), 1000).unwrap();
        // Both roles send their contact header at once.
        let mut buf = Vec::new();
        assert!(s.poll_transmit(&mut buf) > 0);
        assert_eq!(buf, b"dtn!\x03\x05\x00\x1e\x07ipn:2.0");
        assert_eq!(s.poll_timeout(), Some(61_000));
        s.handle_timeout(60_999);
        assert!(!s.is_closed());
        s.handle_timeout(61_000);
        buf.clear();
        assert_eq!(s.poll_transmit(&mut buf), 0);
        assert_eq!(
            s.poll_event(),
            Some(Event::Closed {
                reason: CloseReason::NegotiationTimeout,
                by_peer: false
            })
        );
        assert_eq!(s.poll_timeout(), None);

        let mut s = Session::new(role, SessionConfig::new("ipn:2.0"), 0).unwrap();
        s.send_bundle(0, 4, vec![1, 2]).unwrap();
        s.close(0, Some(ShutdownReason::Busy));
        buf.clear();
        assert!(s.poll_transmit(&mut buf) > 0);
        assert!(buf.ends_with(&[0x52, 0x02]), "header, then SHUTDOWN busy");
        assert_eq!(s.poll_event(), Some(Event::BundleFailed { id: 4 }));
        assert!(matches!(s.poll_event(), Some(Event::Closed { .. })));
    }
}

/// Feeds `input` to a fresh passive session and returns its events and output.
fn run_raw(input: &[u8]) -> (Vec<Event>, Vec<u8>) {
    let mut side = Side::new(Role::Passive, SessionConfig::new("ipn:2.0"));
    let mut header = Vec::new();
    assert!(side.s.poll_transmit(&mut header) > 0);
    side.s.handle_bytes(0, input);
    side.collect();
    let mut out = Vec::new();
    while side.s.poll_transmit(&mut out) > 0 {}
    (side.events, out)
}

fn peer_header(flags: u8, keepalive_s: u16) -> Vec<u8> {
    let mut out = Vec::new();
    ContactHeader {
        flags,
        keepalive_s,
        eid: b"ipn:30.0",
    }
    .encode(&mut out);
    out
}

fn closed_by(events: &[Event]) -> CloseReason {
    match events.last() {
        Some(Event::Closed { reason, .. }) => *reason,
        other => panic!("not closed: {other:?}"),
    }
}

#[test]
fn peer_errors() {
    // Not "dtn!": close without SHUTDOWN.
    let (events, out) = run_raw(b"GET / HTTP/1.1\r\n");
    assert_eq!(
        closed_by(&events),
        CloseReason::PeerError(PeerError::BadMagic)
    );
    assert!(out.is_empty());
    // A TCPCLv4 peer: SHUTDOWN "version mismatch".
    let (events, out) = run_raw(b"dtn!\x04\x00");
    assert_eq!(
        closed_by(&events),
        CloseReason::PeerError(PeerError::VersionMismatch(4))
    );
    assert_eq!(out, [0x52, 0x01]);
    // An EID far over the limit: refused before it arrives.
    let mut h = b"dtn!\x03\x00\x00\x00".to_vec();
    codec::encode_sdnv(1 << 30, &mut h);
    let (events, out) = run_raw(&h);
    assert!(matches!(
        closed_by(&events),
        CloseReason::PeerError(PeerError::Malformed(_))
    ));
    assert_eq!(out, [0x50]);

    let cases: [(&[u8], PeerError); 5] = [
        (&[0x70], PeerError::UnknownMessageType(7)),
        (&[0x00], PeerError::UnknownMessageType(0)),
        (&[0x11, 0x01, 0xaa], PeerError::SegmentWithoutStart),
        (
            &[0x12, 0x01, 0xaa, 0x12, 0x01, 0xbb],
            PeerError::InterleavedBundle,
        ),
        (
            &[
                0x20, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a,
            ],
            PeerError::Malformed(codec::CodecError::SdnvOverflow),
        ),
    ];
    for (msgs, error) in cases {
        let mut input = peer_header(0x05, 30);
        input.extend_from_slice(msgs);
        let (events, out) = run_raw(&input);
        assert_eq!(
            closed_by(&events),
            CloseReason::PeerError(error),
            "{msgs:x?}"
        );
        assert_eq!(out.last(), Some(&0x50), "{msgs:x?}");
    }

    // An ACK beyond what was sent.
    let mut side = Side::new(Role::Active, SessionConfig::new("ipn:1.0"));
    side.s.handle_bytes(0, &peer_header(0x05, 30));
    side.s.send_bundle(0, 1, vec![7; 10]).unwrap();
    side.drain();
    side.s.handle_bytes(0, &[0x20, 11]);
    side.drain();
    assert_eq!(
        side.closed(),
        Some((
            CloseReason::PeerError(PeerError::AckBeyondSent {
                acked: 11,
                sent: 10
            }),
            false
        ))
    );
    assert_eq!(failed_ids(&side), [1]);

    // Ignored: ACK and REFUSE with nothing outstanding, LENGTH inside a bundle.
    let mut input = peer_header(0x05, 30);
    input.extend_from_slice(&[
        0x20, 0x05, 0x30, 0x12, 0x01, 0xaa, 0x60, 0x05, 0x11, 0x01, 0xbb,
    ]);
    let (events, out) = run_raw(&input);
    assert!(events.contains(&Event::BundleReceived {
        transfer_id: 1,
        bundle: vec![0xaa, 0xbb]
    }));
    assert!(!matches!(events.last(), Some(Event::Closed { .. })));
    assert_eq!(out, [0x20, 0x01, 0x20, 0x02]);
}

#[test]
fn what_a_pyd3tn_client_sends() {
    // pyd3tn.tcpcl.TCPCLConnection: contact header with flags 0 and keepalive 0, each bundle
    // as one DATA_SEGMENT with S and E, then 0x50 and the end of the stream.
    let b1 = bundle(300, 1);
    let b2 = bundle(70_000, 2);
    let mut input = peer_header(0, 0);
    for b in [&b1, &b2] {
        codec::encode(&Msg::DataSegment { flags: 3, data: b }, &mut input);
    }
    input.push(0x50);
    for split in SPLITS {
        let mut side = Side::new(Role::Passive, SessionConfig::new("ipn:20.0"));
        feed(&mut side.s, 0, &input, split, &mut XorShift(5));
        side.drain();
        assert_eq!(established(&side), ("ipn:30.0".into(), 0, false, false, 0));
        assert_eq!(side.received(), [(1, b1.clone()), (2, b2.clone())]);
        assert_eq!(
            side.closed(),
            Some((
                CloseReason::Shutdown {
                    reason: None,
                    delay_s: None
                },
                true
            ))
        );
        // Only our contact header went out: no acks, no keepalives, no SHUTDOWN reply.
        assert_eq!(side.sent, b"dtn!\x03\x05\x00\x1e\x08ipn:20.0");
        assert_eq!(side.s.poll_timeout(), None);
    }
}

#[test]
fn random_input_never_panics() {
    let mut rng = XorShift(0xfeed);
    let mut base = peer_header(0x0d, 5);
    for b in [bundle(50, 1), bundle(5, 2)] {
        codec::encode(&Msg::DataSegment { flags: 3, data: &b }, &mut base);
    }
    codec::encode(&Msg::Length { length: 1 << 40 }, &mut base);
    base.extend_from_slice(&[0x20, 0x05, 0x33, 0x40, 0x53, 0x01, 0x05]);
    for _ in 0..5000 {
        let mut input = base.clone();
        for _ in 0..rng.below(6) {
            let i = rng.below(input.len());
            input[i] = rng.next() as u8;
        }
        let mut config = SessionConfig::new("ipn:2.0");
        config.max_bundle_len = 40;
        let mut s = Session::new(Role::Passive, config, 0).unwrap();
        s.send_bundle(0, 1, vec![0; 100]).unwrap();
        let mut t = 0;
        let mut rest = &input[..];
        while !rest.is_empty() {
            let n = 1 + rng.below(rest.len().min(20));
            s.handle_bytes(t, &rest[..n]);
            rest = &rest[n..];
            let mut out = Vec::new();
            while s.poll_transmit(&mut out) > 0 {}
            while let Some(e) = s.poll_event() {
                if let Event::BundleReceived { transfer_id, .. } = e {
                    let _ = if rng.below(2) == 0 {
                        s.accept_transfer(transfer_id)
                    } else {
                        s.refuse_transfer(transfer_id, RefuseReason::Retransmit)
                    };
                }
            }
            t += rng.below(30_000) as u64;
            s.handle_timeout(t);
        }
        s.handle_eof(t);
        assert!(s.is_closed());
    }
}

#[test]
fn without_acks_a_bundle_not_known_written_fails_at_the_end() {
    let mut b = SessionConfig::new("ipn:2.0");
    b.request_acks = false;
    let mut p = Pair::new(SessionConfig::new("ipn:1.0"), b, Split::Whole);
    p.drive();
    p.a.s.send_bundle(0, 1, bundle(10, 1)).unwrap();
    p.a.s.send_bundle(0, 2, bundle(10, 2)).unwrap();
    let mut buf = Vec::new();
    assert!(p.a.s.poll_transmit(&mut buf) > 0);
    assert!(p.a.s.poll_transmit(&mut buf) > 0);
    // Bundle 1 is confirmed by the second call; bundle 2's bytes may not have left.
    p.a.s.handle_eof(0);
    p.a.collect();
    assert_eq!(sent_ids(&p.a), [1]);
    assert_eq!(failed_ids(&p.a), [2]);

    // A clean close finishes the bundle, then waits for the confirmation before it ends.
    let mut a = SessionConfig::new("ipn:1.0");
    a.max_segment_len = 6;
    let mut b = SessionConfig::new("ipn:2.0");
    b.request_acks = false;
    let mut p = Pair::new(a, b, Split::Whole);
    p.drive();
    p.a.s.send_bundle(0, 3, bundle(10, 3)).unwrap();
    let mut buf = Vec::new();
    assert_eq!(p.a.s.poll_transmit(&mut buf), 8, "first segment");
    p.a.s.close(0, None);
    buf.clear();
    assert_eq!(
        p.a.s.poll_transmit(&mut buf),
        7,
        "last segment, then SHUTDOWN"
    );
    let mut want = vec![0x11, 4];
    want.extend_from_slice(&bundle(10, 3)[6..]);
    want.push(0x50);
    assert_eq!(buf, want);
    p.a.collect();
    assert!(!p.a.s.is_closed());
    assert_eq!(p.a.s.poll_transmit(&mut buf), 0);
    p.a.collect();
    assert_eq!(sent_ids(&p.a), [3]);
    assert!(p.a.s.is_closed());
}

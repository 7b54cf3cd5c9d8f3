//! One TCPCLv4 session (RFC 9174) against a hand-written peer: every protocol error of the
//! peer gets the response of the session module's table (SESS_TERM reason, MSG_REJECT or
//! XFER_REFUSE), and the edge cases of transfers (extensions, transfer IDs, empty bundles,
//! refusals crossing segments) behave as the RFC says. Ends with random garbage, which must
//! never panic.

use engine::cla::tcpcl::codec::{
    self, CodecError, ExtensionItem, Field, Msg, MsgRejectReason, MsgType, SessInit, XferSegment,
    item_flags, segment_flags,
};
use engine::cla::tcpcl::{
    CloseReason, Event, PeerError, Role, SessTermReason, Session, SessionConfig, XferRefuseReason,
};

const CH: &[u8] = b"dtn!\x04\x00";
const START: u8 = segment_flags::START;
const END: u8 = segment_flags::END;

fn enc(msg: Msg<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode(&msg, &mut out).unwrap();
    out
}

fn sess_init(keepalive_s: u16, mru: u64, node_id: &str, extensions: &[u8]) -> Vec<u8> {
    enc(Msg::SessInit(SessInit {
        keepalive_s,
        segment_mru: mru,
        transfer_mru: mru,
        node_id,
        extensions,
    }))
}

/// A SESS_INIT with a small Segment MRU and a large Transfer MRU.
fn small_segments_init(segment_mru: u64) -> Vec<u8> {
    enc(Msg::SessInit(SessInit {
        keepalive_s: 30,
        segment_mru,
        transfer_mru: 1 << 20,
        node_id: "ipn:9.0",
        extensions: &[],
    }))
}

fn peer_init() -> Vec<u8> {
    sess_init(30, 1 << 20, "ipn:9.0", &[])
}

fn seg(flags: u8, transfer_id: u64, extensions: &[u8], data: &[u8]) -> Vec<u8> {
    enc(Msg::XferSegment(XferSegment {
        flags,
        transfer_id,
        extensions,
        data,
    }))
}

fn ack(flags: u8, transfer_id: u64, length: u64) -> Vec<u8> {
    enc(Msg::XferAck {
        flags,
        transfer_id,
        length,
    })
}

fn refuse(reason: XferRefuseReason, transfer_id: u64) -> Vec<u8> {
    enc(Msg::XferRefuse {
        reason,
        transfer_id,
    })
}

fn term(flags: u8, reason: u8) -> Vec<u8> {
    vec![0x05, flags, reason]
}

fn reject(reason: u8, header: u8) -> Vec<u8> {
    vec![0x06, reason, header]
}

fn item(flags: u8, item_type: u16, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ExtensionItem {
        flags,
        item_type,
        value,
    }
    .encode(&mut out)
    .unwrap();
    out
}

fn drain(s: &mut Session) -> Vec<u8> {
    let mut out = Vec::new();
    while s.poll_transmit(&mut out) > 0 {}
    out
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn closed(reason: CloseReason, by_peer: bool) -> Event {
    Event::Closed { reason, by_peer }
}

fn peer_error(e: PeerError) -> Event {
    closed(CloseReason::PeerError(e), false)
}

/// Our SESS_INIT for `config` (what a passive session answers with).
fn our_init(config: &SessionConfig) -> Vec<u8> {
    enc(Msg::SessInit(SessInit {
        keepalive_s: config.keepalive_s,
        segment_mru: config.segment_mru,
        transfer_mru: config.transfer_mru,
        node_id: &config.node_id,
        extensions: &[],
    }))
}

/// A passive session after contact header and SESS_INIT, with its output and events drained.
fn established_with(config: SessionConfig) -> Session {
    let mut s = Session::new(Role::Passive, config.clone(), 0).unwrap();
    s.handle_bytes(0, CH);
    s.handle_bytes(0, &peer_init());
    assert_eq!(drain(&mut s), [CH, &our_init(&config)[..]].concat());
    assert!(matches!(&events(&mut s)[..], [Event::Established { .. }]));
    s
}

fn established() -> Session {
    established_with(SessionConfig::new("ipn:1.0"))
}

/// Feeds `input` and returns (output, events).
fn exchange(s: &mut Session, input: &[u8]) -> (Vec<u8>, Vec<Event>) {
    s.handle_bytes(1, input);
    let out = drain(s);
    (out, events(s))
}

#[test]
fn bad_magic_closes_without_sess_term() {
    let mut s = Session::new(Role::Passive, SessionConfig::new("ipn:1.0"), 0).unwrap();
    let (out, ev) = exchange(&mut s, b"GET / HTTP/1.1\r\n");
    assert_eq!(out, []);
    assert_eq!(ev, [peer_error(PeerError::BadMagic)]);
    // Active: only the contact header it sent first.
    let mut s = Session::new(Role::Active, SessionConfig::new("ipn:1.0"), 0).unwrap();
    let (out, ev) = exchange(&mut s, b"dtn?");
    assert_eq!(out, CH);
    assert_eq!(ev, [peer_error(PeerError::BadMagic)]);
}

#[test]
fn version_mismatch() {
    for version in [3u8, 5, 0xff] {
        let header = [b'd', b't', b'n', b'!', version, 0];
        // Passive: its contact header, then SESS_TERM "version mismatch" (RFC 9174 §4.3).
        let mut s = Session::new(Role::Passive, SessionConfig::new("ipn:1.0"), 0).unwrap();
        let (out, ev) = exchange(&mut s, &header);
        assert_eq!(out, [CH, &term(0, 2)[..]].concat());
        assert_eq!(ev, [peer_error(PeerError::VersionMismatch(version))]);
        // Active: close only.
        let mut s = Session::new(Role::Active, SessionConfig::new("ipn:1.0"), 0).unwrap();
        let (out, ev) = exchange(&mut s, &header);
        assert_eq!(out, CH);
        assert_eq!(ev, [peer_error(PeerError::VersionMismatch(version))]);
    }
}

#[test]
fn messages_before_sess_init() {
    let cases: [(Vec<u8>, MsgType); 3] = [
        (vec![0x04], MsgType::Keepalive),
        (seg(START | END, 1, &[], b"x"), MsgType::XferSegment),
        (ack(0, 1, 1), MsgType::XferAck),
    ];
    for (msg, t) in cases {
        let mut s = Session::new(Role::Passive, SessionConfig::new("ipn:1.0"), 0).unwrap();
        let (out, ev) = exchange(&mut s, &[CH, &msg[..]].concat());
        assert_eq!(out, [CH, &reject(3, t.code()), &term(0, 4)].concat());
        assert_eq!(ev, [peer_error(PeerError::BeforeSessInit(t))]);
    }
}

#[test]
fn unknown_message_type_is_rejected_and_closes() {
    let mut s = established();
    let (out, ev) = exchange(&mut s, &[0xf0, 1, 2, 3]);
    assert_eq!(
        out,
        reject(1, 0xf0),
        "MSG_REJECT, no SESS_TERM (RFC 9174 §5.1.2)"
    );
    assert_eq!(ev, [peer_error(PeerError::UnknownMessageType(0xf0))]);
    // Also before SESS_INIT.
    let mut s = Session::new(Role::Passive, SessionConfig::new("ipn:1.0"), 0).unwrap();
    let (out, ev) = exchange(&mut s, &[CH, &[0x00]].concat());
    assert_eq!(out, [CH, &reject(1, 0)[..]].concat());
    assert_eq!(ev, [peer_error(PeerError::UnknownMessageType(0))]);
}

#[test]
fn sess_init_problems_are_contact_failures() {
    let critical = item(item_flags::CRITICAL, 0x1234, b"v");
    let mut truncated = item(0, 1, b"abcd");
    truncated.pop();
    let mut bad_utf8 = sess_init(30, 1000, "ab", &[]);
    // The node ID is the 2 octets before the 4-octet extension length.
    let n = bad_utf8.len();
    bad_utf8[n - 6..n - 4].copy_from_slice(&[0xc3, 0x28]);
    let big_list = sess_init(30, 1000, "x", &vec![0; 0x10000]);
    let cases = [
        (
            sess_init(30, 1000, "ipn:9.0", &critical),
            PeerError::CriticalSessionExtension(0x1234),
        ),
        (
            sess_init(30, 1000, "ipn:9.0", &truncated),
            PeerError::Malformed(CodecError::ExtensionItemOverrun { offset: 0 }),
        ),
        (bad_utf8, PeerError::Malformed(CodecError::NodeIdNotUtf8)),
        (
            big_list,
            PeerError::Malformed(CodecError::TooLong {
                field: Field::SessionExtensions,
                len: 0x10000,
                limit: 0xffff,
            }),
        ),
        (sess_init(30, 0, "ipn:9.0", &[]), PeerError::ZeroSegmentMru),
    ];
    for (init, error) in cases {
        let mut s = Session::new(Role::Passive, SessionConfig::new("ipn:1.0"), 0).unwrap();
        let (out, ev) = exchange(&mut s, &[CH, &init[..]].concat());
        assert_eq!(out, [CH, &term(0, 4)[..]].concat(), "{error:?}");
        assert_eq!(ev, [peer_error(error)]);
    }
}

#[test]
fn non_critical_session_extensions_are_ignored() {
    let items = [item(0, 0x1234, b"value"), item(0xfe, 0xffff, &[])].concat();
    let config = SessionConfig::new("ipn:1.0");
    let mut s = Session::new(Role::Passive, config.clone(), 0).unwrap();
    let (out, ev) = exchange(
        &mut s,
        &[CH, &sess_init(10, 5000, "dtn://peer/", &items)[..]].concat(),
    );
    assert_eq!(out, [CH, &our_init(&config)[..]].concat());
    assert_eq!(
        ev,
        [Event::Established {
            peer_node_id: "dtn://peer/".into(),
            keepalive_s: 10,
            peer_segment_mru: 5000,
            peer_transfer_mru: 5000
        }]
    );
}

#[test]
fn peer_refuses_the_session() {
    // A SESS_TERM instead of SESS_INIT (dtn7-rs does so for a SESS_INIT it dislikes).
    let mut s = Session::new(Role::Active, SessionConfig::new("ipn:1.0"), 0).unwrap();
    s.send_bundle(0, 7, vec![1, 2, 3]).unwrap();
    let (out, ev) = exchange(&mut s, &[CH, &term(0, 4)[..]].concat());
    let config = SessionConfig::new("ipn:1.0");
    assert_eq!(
        out,
        [CH, &our_init(&config), &term(1, 4)].concat(),
        "SESS_INIT, then the reply"
    );
    assert_eq!(
        ev,
        [
            Event::BundleFailed { id: 7 },
            closed(CloseReason::SessTerm(SessTermReason::ContactFailure), true)
        ]
    );
}

#[test]
fn unexpected_messages_once_established_are_rejected() {
    let mut s = established();
    let (out, ev) = exchange(&mut s, &peer_init());
    assert_eq!(out, reject(3, 0x07));
    assert_eq!(ev, []);
    let (out, _) = exchange(&mut s, &ack(0, 1, 0));
    assert_eq!(out, reject(3, 0x02));
    let (out, _) = exchange(&mut s, &refuse(XferRefuseReason::Unknown, 1));
    assert_eq!(out, reject(3, 0x03));
    assert!(s.is_established());
    // A refusal of a transfer that is over (crossed on the wire) is ignored.
    s.send_bundle(1, 1, vec![9; 10]).unwrap();
    drain(&mut s);
    let (_, ev) = exchange(&mut s, &ack(0, 1, 10));
    assert_eq!(ev, [Event::BundleSent { id: 1 }]);
    let (out, ev) = exchange(&mut s, &refuse(XferRefuseReason::Unknown, 1));
    assert_eq!((out, ev), (vec![], vec![]));
    // The peer's MSG_REJECT is reported.
    let (out, ev) = exchange(&mut s, &reject(2, 0x01));
    assert_eq!(out, []);
    assert_eq!(
        ev,
        [Event::Rejected {
            reason: MsgRejectReason::Unsupported,
            rejected_header: 0x01
        }]
    );
    assert!(s.is_established());
}

#[test]
fn segment_of_an_unknown_transfer() {
    let mut s = established();
    let (out, ev) = exchange(&mut s, &seg(END, 5, &[], b"abc"));
    assert_eq!(out, [reject(3, 0x01), term(0, 0)].concat());
    assert_eq!(ev, [peer_error(PeerError::UnknownTransfer(5))]);
    // A continuation with another ID than the transfer in progress.
    let mut s = established();
    let (out, _) = exchange(&mut s, &seg(START, 5, &[], b"abc"));
    assert_eq!(out, ack(START, 5, 3));
    let (out, ev) = exchange(&mut s, &seg(0, 6, &[], b"abc"));
    assert_eq!(out, [reject(3, 0x01), term(0, 0)].concat());
    assert_eq!(ev, [peer_error(PeerError::UnknownTransfer(6))]);
}

#[test]
fn interleaved_transfers() {
    let mut s = established();
    let (out, _) = exchange(&mut s, &seg(START, 1, &[], b"abc"));
    assert_eq!(out, ack(START, 1, 3));
    let (out, ev) = exchange(&mut s, &seg(START | END, 2, &[], b"abc"));
    assert_eq!(out, term(0, 0));
    assert_eq!(
        ev,
        [peer_error(PeerError::InterleavedTransfer {
            current: 1,
            new: 2
        })]
    );
}

#[test]
fn ack_beyond_what_was_sent() {
    let mut s = established();
    s.send_bundle(1, 44, vec![7; 10]).unwrap();
    let out = drain(&mut s);
    assert_eq!(out, seg(START | END, 1, &[], &[7; 10]));
    let (out, ev) = exchange(&mut s, &ack(START | END, 1, 11));
    assert_eq!(out, term(0, 0));
    assert_eq!(
        ev,
        [
            Event::BundleFailed { id: 44 },
            peer_error(PeerError::AckBeyondSent {
                transfer_id: 1,
                acked: 11,
                sent: 10
            })
        ]
    );
}

#[test]
fn segment_over_our_mru_is_refused_before_its_data() {
    let mut config = SessionConfig::new("ipn:1.0");
    config.segment_mru = 1000;
    let mut s = established_with(config);
    let full = seg(START | END, 1, &[], &[0; 1001]);
    // Only the header has arrived (1 + 1 + 8 + 4 + 8 octets).
    let (out, ev) = exchange(&mut s, &full[..22]);
    assert_eq!(out, term(0, 5), "resource exhaustion");
    assert_eq!(
        ev,
        [peer_error(PeerError::Malformed(CodecError::TooLong {
            field: Field::SegmentData,
            len: 1001,
            limit: 1000
        }))]
    );
    // Exactly the MRU is fine.
    let mut config = SessionConfig::new("ipn:1.0");
    config.segment_mru = 1000;
    let mut s = established_with(config);
    let (out, ev) = exchange(&mut s, &seg(START | END, 1, &[], &[0; 1000]));
    assert_eq!(out, []);
    assert!(matches!(&ev[..], [Event::BundleReceived { .. }]));
}

#[test]
fn transfer_over_our_transfer_mru() {
    let mut config = SessionConfig::new("ipn:1.0");
    config.transfer_mru = 100;
    let mut s = established_with(config);
    let (out, _) = exchange(&mut s, &seg(START, 1, &[], &[1; 60]));
    assert_eq!(out, ack(START, 1, 60));
    let (out, ev) = exchange(&mut s, &seg(0, 1, &[], &[1; 60]));
    assert_eq!(out, refuse(XferRefuseReason::NotAcceptable, 1));
    assert_eq!(ev, []);
    // Segments that crossed the refusal are refused again (RFC 9174 §5.2.4).
    let (out, _) = exchange(&mut s, &seg(END, 1, &[], &[1; 10]));
    assert_eq!(out, refuse(XferRefuseReason::NotAcceptable, 1));
    // The next transfer is unaffected.
    let (out, ev) = exchange(&mut s, &seg(START | END, 2, &[], &[2; 100]));
    assert_eq!(out, []);
    assert_eq!(
        ev,
        [Event::BundleReceived {
            transfer_id: 2,
            bundle: vec![2; 100]
        }]
    );
    s.accept_transfer(2).unwrap();
    assert_eq!(drain(&mut s), ack(START | END, 2, 100));
}

#[test]
fn transfer_extensions() {
    let length = |n: u64| item(0, codec::TRANSFER_LENGTH_EXTENSION, &n.to_be_bytes());
    // Transfer Length matching the data: accepted.
    let mut s = established();
    let (out, _) = exchange(&mut s, &seg(START, 1, &length(6), b"abc"));
    assert_eq!(out, ack(START, 1, 3));
    let (_, ev) = exchange(&mut s, &seg(END, 1, &[], b"def"));
    assert_eq!(
        ev,
        [Event::BundleReceived {
            transfer_id: 1,
            bundle: b"abcdef".to_vec()
        }]
    );
    // Transfer Length not matching: "not acceptable" at END (RFC 9174 §5.2.5.1).
    let mut s = established();
    exchange(&mut s, &seg(START, 1, &length(100), b"abc"));
    let (out, ev) = exchange(&mut s, &seg(END, 1, &[], b"def"));
    assert_eq!(out, refuse(XferRefuseReason::NotAcceptable, 1));
    assert_eq!(ev, []);
    // ... or as soon as the data exceeds it.
    let mut s = established();
    let (out, _) = exchange(&mut s, &seg(START, 1, &length(2), b"abc"));
    assert_eq!(out, refuse(XferRefuseReason::NotAcceptable, 1));
    // Transfer Length over our Transfer MRU: refused at START.
    let mut config = SessionConfig::new("ipn:1.0");
    config.transfer_mru = 10;
    let mut s = established_with(config);
    let (out, _) = exchange(&mut s, &seg(START, 1, &length(11), b"abc"));
    assert_eq!(out, refuse(XferRefuseReason::NotAcceptable, 1));
    // Critical unknown item, or a malformed list: "extension failure", and again for the
    // segments that follow.
    let mut truncated = item(0, 7, b"xy");
    truncated.pop();
    for ext in [item(item_flags::CRITICAL, 0x7777, b""), truncated] {
        let mut s = established();
        let (out, _) = exchange(&mut s, &seg(START, 1, &ext, b"abc"));
        assert_eq!(out, refuse(XferRefuseReason::ExtensionFailure, 1));
        let (out, ev) = exchange(&mut s, &seg(END, 1, &[], b"def"));
        assert_eq!(out, refuse(XferRefuseReason::ExtensionFailure, 1));
        assert_eq!(ev, []);
    }
    // Non-critical unknown items, and dtn7-rs's private 0x0001 item holding a bundle ID (not
    // 8 octets), are skipped.
    let ext = [
        item(0, 0x4242, b"whatever"),
        item(0, codec::TRANSFER_LENGTH_EXTENSION, b"dtn://n/-123-0"),
    ]
    .concat();
    let mut s = established();
    let (_, ev) = exchange(&mut s, &seg(START | END, 1, &ext, b"abc"));
    assert_eq!(
        ev,
        [Event::BundleReceived {
            transfer_id: 1,
            bundle: b"abc".to_vec()
        }]
    );
}

#[test]
fn any_first_transfer_id_and_empty_segments() {
    let mut s = established();
    for (n, id) in [0, 1000, u64::MAX, 3].into_iter().enumerate() {
        // A zero-length START segment, then the data.
        let (out, _) = exchange(&mut s, &seg(START, id, &[], &[]));
        assert_eq!(out, ack(START, id, 0));
        let (_, ev) = exchange(&mut s, &seg(END, id, &[], &[n as u8; 5]));
        assert_eq!(
            ev,
            [Event::BundleReceived {
                transfer_id: id,
                bundle: vec![n as u8; 5]
            }]
        );
        s.accept_transfer(id).unwrap();
        assert_eq!(drain(&mut s), ack(END, id, 5));
    }
    // An empty transfer is passed up as it is; the node judges it.
    let (_, ev) = exchange(&mut s, &seg(START | END, 9, &[], &[]));
    assert_eq!(
        ev,
        [Event::BundleReceived {
            transfer_id: 9,
            bundle: vec![]
        }]
    );
}

#[test]
fn our_transfer_ids_start_at_one_and_empty_bundles_work() {
    let mut s = established();
    s.send_bundle(1, 10, vec![]).unwrap();
    s.send_bundle(1, 11, vec![5; 3]).unwrap();
    let out = drain(&mut s);
    assert_eq!(
        out,
        [
            seg(START | END, 1, &[], &[]),
            seg(START | END, 2, &[], &[5; 3])
        ]
        .concat()
    );
    // dtn7-rs acknowledges with flags 0.
    let (_, ev) = exchange(&mut s, &[ack(0, 2, 3), ack(0, 1, 0)].concat());
    assert_eq!(
        ev,
        [Event::BundleSent { id: 11 }, Event::BundleSent { id: 10 }]
    );
}

#[test]
fn peer_refusal_stops_our_segments() {
    let mut s = Session::new(Role::Passive, SessionConfig::new("ipn:1.0"), 0).unwrap();
    s.handle_bytes(0, CH);
    s.handle_bytes(0, &small_segments_init(1000));
    drain(&mut s);
    events(&mut s);
    s.send_bundle(1, 5, vec![3; 10_000]).unwrap();
    s.send_bundle(1, 6, vec![4; 10]).unwrap();
    let mut first = Vec::new();
    assert!(s.poll_transmit(&mut first) > 0);
    assert_eq!(first, seg(START, 1, &[], &[3; 1000]));
    // Acks for the first segment, then a refusal: the remaining nine segments are dropped.
    let (out, ev) = exchange(
        &mut s,
        &[
            ack(START, 1, 1000),
            refuse(XferRefuseReason::NoResources, 1),
        ]
        .concat(),
    );
    assert_eq!(out, seg(START | END, 2, &[], &[4; 10]));
    assert_eq!(
        ev,
        [Event::BundleRefused {
            id: 5,
            reason: XferRefuseReason::NoResources
        }]
    );
    let (_, ev) = exchange(&mut s, &ack(START | END, 2, 10));
    assert_eq!(ev, [Event::BundleSent { id: 6 }]);
}

#[test]
fn new_transfers_are_refused_while_ending() {
    let mut s = established();
    // The peer's transfer in progress may finish after our SESS_TERM.
    let (out, _) = exchange(&mut s, &seg(START, 1, &[], b"ab"));
    assert_eq!(out, ack(START, 1, 2));
    s.close(2, SessTermReason::Busy);
    assert_eq!(drain(&mut s), term(0, 3));
    let (out, ev) = exchange(&mut s, &seg(END, 1, &[], b"cd"));
    assert_eq!(out, []);
    assert_eq!(
        ev,
        [Event::BundleReceived {
            transfer_id: 1,
            bundle: b"abcd".to_vec()
        }]
    );
    let (out, _) = exchange(&mut s, &seg(START | END, 2, &[], b"ef"));
    assert_eq!(out, [], "held behind the decision on transfer 1");
    s.accept_transfer(1).unwrap();
    assert_eq!(
        drain(&mut s),
        [
            ack(END, 1, 4),
            refuse(XferRefuseReason::SessionTerminating, 2)
        ]
        .concat()
    );
    // The peer replies: closed.
    let (out, ev) = exchange(&mut s, &term(1, 3));
    assert_eq!(out, []);
    assert_eq!(
        ev,
        [closed(CloseReason::SessTerm(SessTermReason::Busy), false)]
    );
}

#[test]
fn peer_sess_term_reply_waits_for_decisions_and_our_segments() {
    let mut s = Session::new(Role::Passive, SessionConfig::new("ipn:1.0"), 0).unwrap();
    s.handle_bytes(0, CH);
    s.handle_bytes(0, &small_segments_init(4));
    drain(&mut s);
    events(&mut s);
    s.send_bundle(0, 1, b"0123456789".to_vec()).unwrap();
    let mut out = Vec::new();
    assert!(s.poll_transmit(&mut out) > 0);
    // The peer sends a bundle, then SESS_TERM.
    let (out, ev) = exchange(
        &mut s,
        &[seg(START | END, 8, &[], b"xyz"), term(0, 0)].concat(),
    );
    // Our transfer is finished first; the reply waits for our decision on transfer 8.
    assert_eq!(
        out,
        [seg(0, 1, &[], b"4567"), seg(END, 1, &[], b"89")].concat()
    );
    assert!(matches!(
        &ev[..],
        [Event::BundleReceived { transfer_id: 8, .. }]
    ));
    s.refuse_transfer(8, XferRefuseReason::Completed).unwrap();
    assert_eq!(
        drain(&mut s),
        [refuse(XferRefuseReason::Completed, 8), term(1, 0)].concat()
    );
    assert!(!s.is_closed(), "our transfer awaits its ack");
    let (_, ev) = exchange(&mut s, &ack(0, 1, 10));
    assert_eq!(
        ev,
        [
            Event::BundleSent { id: 1 },
            closed(CloseReason::SessTerm(SessTermReason::Unknown), true)
        ]
    );
}

#[test]
fn ending_timeout_sends_the_held_reply() {
    let mut s = established();
    let (out, _) = exchange(
        &mut s,
        &[seg(START | END, 1, &[], b"abc"), term(0, 3)].concat(),
    );
    assert_eq!(out, [], "reply held behind the undecided bundle");
    // The keepalive (30 s after our SESS_INIT at t = 0) comes first, the ending timeout
    // (30 s after the peer's SESS_TERM at t = 1) right after.
    assert_eq!(s.poll_timeout(), Some(30_000));
    s.handle_timeout(30_001);
    assert_eq!(drain(&mut s), term(1, 3));
    assert_eq!(
        events(&mut s),
        [closed(CloseReason::SessTerm(SessTermReason::Busy), true)]
    );
}

#[test]
fn a_new_start_ends_the_refusal_of_its_transfer_id() {
    let mut s = established();
    let critical = item(item_flags::CRITICAL, 0x7777, b"");
    let (out, _) = exchange(&mut s, &seg(START, 5, &critical, b"abc"));
    assert_eq!(out, refuse(XferRefuseReason::ExtensionFailure, 5));
    // The peer starts over with the same ID (against RFC 9174 §5.2.1, but harmless).
    let (out, _) = exchange(&mut s, &seg(START, 5, &[], b"abc"));
    assert_eq!(out, ack(START, 5, 3));
    let (_, ev) = exchange(&mut s, &seg(END, 5, &[], b"d"));
    assert_eq!(
        ev,
        [Event::BundleReceived {
            transfer_id: 5,
            bundle: b"abcd".to_vec()
        }]
    );
}

#[test]
fn config_errors() {
    use engine::cla::tcpcl::ConfigError;
    let mut c = SessionConfig::new("n".repeat(65536));
    assert_eq!(
        Session::new(Role::Active, c.clone(), 0).err(),
        Some(ConfigError::NodeIdTooLong(65536))
    );
    c.node_id = "ipn:1.0".into();
    c.segment_mru = 0;
    assert_eq!(
        Session::new(Role::Active, c.clone(), 0).err(),
        Some(ConfigError::ZeroSegmentMru)
    );
    c.segment_mru = 1;
    c.max_segment_len = 0;
    assert_eq!(
        Session::new(Role::Active, c, 0).err(),
        Some(ConfigError::ZeroMaxSegmentLen)
    );
}

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
}

#[test]
fn random_garbage_never_panics() {
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    // Valid prefixes to start the garbage from, so that every phase is reached.
    let prefixes: [Vec<u8>; 4] = [
        vec![],
        CH.to_vec(),
        [CH, &peer_init()[..]].concat(),
        [CH, &peer_init(), &seg(START, 1, &[], b"abc")].concat(),
    ];
    for round in 0..4000 {
        let role = if round % 2 == 0 {
            Role::Passive
        } else {
            Role::Active
        };
        let mut config = SessionConfig::new("ipn:1.0");
        config.segment_mru = 64;
        config.transfer_mru = 256;
        let mut s = Session::new(role, config, 0).unwrap();
        s.send_bundle(0, 1, vec![1; 100]).unwrap();
        let prefix = &prefixes[round % prefixes.len()];
        s.handle_bytes(0, prefix);
        let mut now = 0;
        for _ in 0..20 {
            let len = (rng.next() % 40) as usize;
            let mut chunk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if let Some(first) = chunk.first_mut() {
                // Mostly valid message types, so that message bodies are reached.
                if rng.next() & 3 != 0 {
                    *first = 1 + (*first % 7);
                }
            }
            now += rng.next() % 20_000;
            match rng.next() % 8 {
                0 => s.handle_timeout(now),
                1 => {
                    let _ = s.accept_transfer(rng.next() % 3);
                }
                2 => {
                    let _ = s.send_bundle(now, 2, vec![2; (rng.next() % 300) as usize]);
                }
                3 if rng.next() & 3 == 0 => s.close(now, SessTermReason::Unknown),
                _ => s.handle_bytes(now, &chunk),
            }
            let mut out = Vec::new();
            while s.poll_transmit(&mut out) > 0 {}
            let mut closed = 0;
            while let Some(e) = s.poll_event() {
                assert_eq!(closed, 0, "nothing after Closed");
                if matches!(e, Event::Closed { .. }) {
                    closed += 1;
                }
            }
            if s.is_closed() {
                assert_eq!(s.poll_timeout(), None);
            }
        }
    }
}

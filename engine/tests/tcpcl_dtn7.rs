//! Byte-exact TCPCLv4 exchanges with the sequences dtn7-rs 0.21 (`dtnd -C tcp`) produces, as
//! recorded in `peers-registry.md` §1.4: contact header `64 74 6e 21 04 00`, SESS_INIT with
//! keepalive 30, Segment and Transfer MRU 64000, node ID "ipn:20.0" and no extensions, first
//! transfer ID 1, START segments with a 4-octet extension length of 0, XFER_ACK flags 0, and a
//! REPLY to SESS_TERM.

use engine::cla::tcpcl::{
    CloseReason, Event, Role, SendError, SessTermReason, Session, SessionConfig,
};

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

const DTN7_CONTACT: &str = "64746e21 04 00";
/// dtnd -n 20: keepalive 30, MRUs 64000 (0xfa00), node ID "ipn:20.0", no extensions.
const DTN7_SESS_INIT: &str =
    "07 001e 000000000000fa00 000000000000fa00 0008 69706e3a32302e30 00000000";
/// Ours with the defaults and node ID "ipn:10.0": keepalive 30, Segment MRU 1 MiB, Transfer
/// MRU 64 MiB.
const OUR_SESS_INIT: &str =
    "07 001e 0000000000100000 0000000004000000 0008 69706e3a31302e30 00000000";

fn drain(s: &mut Session) -> Vec<u8> {
    let mut out = Vec::new();
    while s.poll_transmit(&mut out) > 0 {}
    out
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn segment(flags: u8, transfer_id: u64, data: &[u8]) -> Vec<u8> {
    let mut m = vec![0x01, flags];
    m.extend_from_slice(&transfer_id.to_be_bytes());
    if flags & 0x02 != 0 {
        m.extend_from_slice(&[0, 0, 0, 0]);
    }
    m.extend_from_slice(&(data.len() as u64).to_be_bytes());
    m.extend_from_slice(data);
    m
}

fn ack(flags: u8, transfer_id: u64, length: u64) -> Vec<u8> {
    let mut m = vec![0x02, flags];
    m.extend_from_slice(&transfer_id.to_be_bytes());
    m.extend_from_slice(&length.to_be_bytes());
    m
}

fn dtn7_established() -> Event {
    Event::Established {
        peer_node_id: "ipn:20.0".into(),
        keepalive_s: 30,
        peer_segment_mru: 64000,
        peer_transfer_mru: 64000,
    }
}

/// dtnd connects to us (it sends only over sessions it opened, `peers-registry.md` §1.4).
#[test]
fn dtnd_to_engine() {
    let mut s = Session::new(Role::Passive, SessionConfig::new("ipn:10.0"), 0).unwrap();
    assert_eq!(
        drain(&mut s),
        [],
        "the passive side waits for the contact header"
    );
    s.handle_bytes(1, &unhex(DTN7_CONTACT));
    assert_eq!(hex(&drain(&mut s)), hex(&unhex(DTN7_CONTACT)));
    s.handle_bytes(2, &unhex(DTN7_SESS_INIT));
    assert_eq!(hex(&drain(&mut s)), hex(&unhex(OUR_SESS_INIT)));
    assert_eq!(events(&mut s), [dtn7_established()]);

    // A 100 056-octet bundle in 30 000-octet segments, as dtnd was seen to send (our Segment
    // MRU allows it).
    let bundle: Vec<u8> = (0..100_056u32).map(|i| (i % 251) as u8).collect();
    let chunks: Vec<&[u8]> = bundle.chunks(30_000).collect();
    let mut acked = 0u64;
    for (i, chunk) in chunks.iter().enumerate() {
        let mut flags = 0;
        if i == 0 {
            flags |= 0x02;
        }
        if i == chunks.len() - 1 {
            flags |= 0x01;
        }
        s.handle_bytes(3, &segment(flags, 1, chunk));
        acked += chunk.len() as u64;
        if flags & 0x01 == 0 {
            // RFC 9174 §5.2.3: the segment's flags are mirrored.
            assert_eq!(hex(&drain(&mut s)), hex(&ack(flags, 1, acked)));
        }
    }
    assert_eq!(drain(&mut s), [], "final ack waits for the decision");
    assert_eq!(
        events(&mut s),
        [Event::BundleReceived {
            transfer_id: 1,
            bundle: bundle.clone()
        }]
    );
    s.accept_transfer(1).unwrap();
    assert_eq!(hex(&drain(&mut s)), hex(&ack(0x01, 1, 100_056)));

    // dtnd ends the session; we reply.
    s.handle_bytes(4, &unhex("05 00 00"));
    assert_eq!(hex(&drain(&mut s)), "050100");
    assert_eq!(
        events(&mut s),
        [Event::Closed {
            reason: CloseReason::SessTerm(SessTermReason::Unknown),
            by_peer: true
        }]
    );
}

/// We connect to dtnd and send it bundles.
#[test]
fn engine_to_dtnd() {
    let mut config = SessionConfig::new("ipn:10.0");
    config.max_segment_len = 30_000;
    let mut s = Session::new(Role::Active, config, 0).unwrap();
    assert_eq!(hex(&drain(&mut s)), hex(&unhex(DTN7_CONTACT)));
    s.handle_bytes(1, &unhex(DTN7_CONTACT));
    assert_eq!(hex(&drain(&mut s)), hex(&unhex(OUR_SESS_INIT)));
    s.handle_bytes(2, &unhex(DTN7_SESS_INIT));
    assert_eq!(drain(&mut s), []);
    assert_eq!(events(&mut s), [dtn7_established()]);
    // 30 s after our last transmission (the SESS_INIT at t = 1).
    assert_eq!(s.poll_timeout(), Some(1 + 30_000), "keepalive 30 s");

    // dtnd advertises a 64000 Transfer MRU (and accepts more); we keep to it.
    assert_eq!(
        s.send_bundle(3, 1, vec![0; 100_056]),
        Err(SendError::TooLarge {
            len: 100_056,
            peer_transfer_mru: 64000
        })
    );
    let bundle: Vec<u8> = (0..60_000u32).map(|i| (i % 253) as u8).collect();
    s.send_bundle(3, 2, bundle.clone()).unwrap();
    let out = drain(&mut s);
    let expect = [
        segment(0x02, 1, &bundle[..30_000]),
        segment(0x01, 1, &bundle[30_000..]),
    ]
    .concat();
    assert_eq!(out.len(), expect.len());
    assert!(out == expect, "START with extension length 0, then END");
    assert_eq!(
        hex(&out[..22]),
        "01 02 0000000000000001 00000000 0000000000007530".replace(' ', "")
    );

    // dtnd's acks carry flags 0.
    s.handle_bytes(4, &ack(0, 1, 30_000));
    assert_eq!(events(&mut s), []);
    s.handle_bytes(5, &ack(0, 1, 60_000));
    assert_eq!(events(&mut s), [Event::BundleSent { id: 2 }]);

    s.close(6, SessTermReason::Unknown);
    assert_eq!(hex(&drain(&mut s)), "050000");
    s.handle_bytes(7, &unhex("05 01 00"));
    assert_eq!(
        events(&mut s),
        [Event::Closed {
            reason: CloseReason::SessTerm(SessTermReason::Unknown),
            by_peer: false
        }]
    );
}

/// A peer offering keepalive 0 disables keepalives on our side too, instead of ending the
/// session as dtnd does; our own offer is never 0 by default.
#[test]
fn keepalive_zero_from_the_peer() {
    let mut s = Session::new(Role::Passive, SessionConfig::new("ipn:10.0"), 0).unwrap();
    s.handle_bytes(0, &unhex(DTN7_CONTACT));
    s.handle_bytes(0, &unhex(&DTN7_SESS_INIT.replacen("001e", "0000", 1)));
    let out = drain(&mut s);
    assert_eq!(&out[6..9], [0x07, 0x00, 0x1e]);
    assert!(matches!(
        &events(&mut s)[..],
        [Event::Established { keepalive_s: 0, .. }]
    ));
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(u64::MAX);
    assert!(s.is_established());
}

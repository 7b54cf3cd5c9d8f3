//! Cross-check of the TCPCLv4 session (RFC 9174) against an independent peer written in Python
//! on plain sockets (`scripts/interop/tcpcl4_peer.py`), over a real loopback TCP connection:
//! our session is the active side, exchanges one bundle each way, and ends the session. Run
//! once with the peer acknowledging with flags 0 (like dtn7-rs) and once mirroring the
//! segment flags (like RFC 9174 §5.2.3).
//!
//! Needs `python3` on the PATH (standard library only). Without it the test fails; it never
//! skips silently.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use engine::cla::tcpcl::{CloseReason, Event, Role, SessTermReason, Session, SessionConfig};

fn fnv1a64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn exchange(ack_flags: &str) {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/interop/tcpcl4_peer.py");
    let peer_len = 7000;
    let mut child = Command::new("python3")
        .arg(&script)
        .args(["--node", "ipn:30.0", "--send-len", &peer_len.to_string()])
        .args(["--segment-mru", "1000", "--seg-size", "700"])
        .args(["--ack-flags", ack_flags])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python3 scripts/interop/tcpcl4_peer.py");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("peer prints its port").unwrap();
    let port: u16 = first
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));

    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_nodelay(true).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();

    let origin = Instant::now();
    let ms = || origin.elapsed().as_millis() as u64;
    let mut config = SessionConfig::new("ipn:1.0");
    // The peer's MRU of 1000 lowers this; our bundle goes in 1000-octet segments.
    config.max_segment_len = 4000;
    let mut s = Session::new(Role::Active, config, ms()).unwrap();
    let ours: Vec<u8> = (0..5000u32).map(|i| (i * 13 % 256) as u8).collect();
    let theirs: Vec<u8> = (0..peer_len).map(|i| ((7 * i + 3) % 256) as u8).collect();

    let mut received = None;
    let mut sent = false;
    let mut closed = None;
    let mut buf = vec![0u8; 65536];
    while closed.is_none() {
        assert!(
            origin.elapsed() < Duration::from_secs(20),
            "no end after 20 s"
        );
        let mut out = Vec::new();
        while s.poll_transmit(&mut out) > 0 {}
        sock.write_all(&out).unwrap();
        while let Some(event) = s.poll_event() {
            match event {
                Event::Established {
                    peer_node_id,
                    keepalive_s,
                    peer_segment_mru,
                    ..
                } => {
                    assert_eq!(peer_node_id, "ipn:30.0");
                    assert_eq!((keepalive_s, peer_segment_mru), (30, 1000));
                    s.send_bundle(ms(), 77, ours.clone()).unwrap();
                }
                Event::BundleReceived {
                    transfer_id,
                    bundle,
                } => {
                    assert_eq!(transfer_id, 1);
                    assert!(bundle == theirs, "peer's bundle arrives intact");
                    s.accept_transfer(transfer_id).unwrap();
                    received = Some(bundle.len());
                }
                Event::BundleSent { id } => {
                    assert_eq!(id, 77);
                    sent = true;
                }
                Event::Closed { reason, by_peer } => closed = Some((reason, by_peer)),
                other => panic!("unexpected {other:?}"),
            }
        }
        if sent && received.is_some() {
            s.close(ms(), SessTermReason::Unknown);
        }
        if s.poll_timeout().is_some_and(|deadline| ms() >= deadline) {
            s.handle_timeout(ms());
        }
        match sock.read(&mut buf) {
            Ok(0) => s.handle_eof(ms()),
            Ok(n) => s.handle_bytes(ms(), &buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    let mut out = Vec::new();
    while s.poll_transmit(&mut out) > 0 {}
    let _ = sock.write_all(&out);
    drop(sock);

    assert_eq!(
        closed,
        Some((CloseReason::SessTerm(SessTermReason::Unknown), false))
    );
    assert_eq!(received, Some(peer_len as usize));
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "peer failed: {stderr}\n{rest:?}");
    assert_eq!(
        rest,
        [
            format!(
                "SESS_INIT node=ipn:1.0 keepalive=30 segment_mru={} transfer_mru={}",
                1 << 20,
                64 << 20
            ),
            format!("RECEIVED tid=1 len=5000 fnv={:016x}", fnv1a64(&ours)),
            format!("ACKED len={peer_len}"),
            "SESS_TERM flags=0 reason=0".to_string(),
        ]
    );
}

#[test]
fn python_peer_acks_with_flags_zero() {
    exchange("zero");
}

#[test]
fn python_peer_acks_mirroring_flags() {
    exchange("mirror");
}

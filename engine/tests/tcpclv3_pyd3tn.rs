//! Cross-check of the TCPCLv3 session (RFC 7242) against pyd3tn 0.15.2's TCPCLv3 code
//! (`pyd3tn.tcpcl`, an independent implementation used by µD3TN's tests), over a real loopback
//! TCP connection driven by this test, through `scripts/interop/pyd3tn_cl.py`:
//!
//! - pyd3tn's `TCPCLConnection` connects to our listener (our session passive), sends six
//!   bundles built by pyd3tn (CRC-32C, CRC-16, none, mixed; hop-count blocks; up to 100 kB),
//!   then receives two bundles built by [`wire::encode`] with `recv_bundle`, and disconnects;
//! - our session connects (active) to a pyd3tn `TCPCLConnection` wrapped around an accepted
//!   socket, sends three bundles of ours, receives one of pyd3tn's, and shuts down.
//!
//! Every bundle is checked byte for byte and field by field (source, destination, report-to,
//! flags, creation time and sequence, lifetime, CRC types, blocks, payload length, CRCs
//! recomputed by pyd3tn and by [`wire::parse`]), as are the contact headers each side decoded
//! and the negotiation (pyd3tn offers no acks and keepalive 0) and the SHUTDOWNs.
//!
//! Needs `<repo>/.venv` from `scripts/pyd3tn/setup.sh`. Without it the tests fail; they never
//! skip silently.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use engine::cla::tcpclv3::{CloseReason, Event, Role, Session, SessionConfig};
use engine::wire::{self, CrcType, CreationTimestamp, Eid, PrimaryBlock, block_type, flags};

const LIMIT: Duration = Duration::from_secs(30);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

type Fields = BTreeMap<String, String>;

/// The helper process and the lines of its standard output.
struct Helper {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Helper {
    fn start(args: &[&str]) -> Helper {
        let python = repo().join(".venv/bin/python3");
        assert!(
            python.exists(),
            "run scripts/pyd3tn/setup.sh first ({} is missing)",
            python.display()
        );
        let mut child = Command::new(&python)
            .arg(repo().join("scripts/interop/pyd3tn_cl.py"))
            .args(args)
            .args(["--timeout", "20"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start scripts/interop/pyd3tn_cl.py");
        let stdout = child.stdout.take().expect("helper stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Helper {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Moves the lines printed so far into `seen`.
    fn poll(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
    }

    /// Waits for the first line with `tag` and returns its fields.
    fn wait_for(&mut self, tag: &str) -> Fields {
        let start = Instant::now();
        loop {
            if let Some(fields) = self.find(tag).into_iter().next() {
                return fields;
            }
            assert!(start.elapsed() < LIMIT, "no {tag} line: {:?}", self.seen);
            match self.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("helper ended without {tag}: {:?}", self.seen)
                }
            }
        }
    }

    /// The fields of every line with `tag`, in order.
    fn find(&self, tag: &str) -> Vec<Fields> {
        self.seen
            .iter()
            .filter_map(|l| {
                let (t, rest) = l.split_once(' ').unwrap_or((l.as_str(), ""));
                (t == tag).then(|| {
                    rest.split_whitespace()
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                })
            })
            .collect()
    }

    /// Waits for the helper to exit (it must succeed) and collects the rest of its output.
    fn finish(mut self) -> Helper {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the helper") {
                break status;
            }
            if start.elapsed() > LIMIT {
                let _ = self.child.kill();
                panic!("helper did not exit: {:?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        // The reader thread ends at EOF; take what it still holds.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(line);
        }
        assert!(
            status.success(),
            "pyd3tn helper failed ({status}): {stderr}\noutput: {:?}",
            self.seen
        );
        self
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The helper's fields for a bundle, as our own parser reads it.
fn our_fields(bytes: &[u8]) -> Fields {
    let b = wire::parse(bytes).unwrap_or_else(|e| panic!("wire::parse: {e}"));
    let p = &b.primary;
    let payload = b
        .blocks
        .iter()
        .find(|x| x.block_type == block_type::PAYLOAD)
        .expect("payload block");
    let blocks: Vec<String> = b
        .blocks
        .iter()
        .map(|x| format!("{}/{}/{}", x.block_type, x.number, x.crc_type.code()))
        .collect();
    [
        ("src", p.source.to_string()),
        ("dst", p.destination.to_string()),
        ("report_to", p.report_to.to_string()),
        ("flags", p.flags.to_string()),
        ("primary_crc", p.crc_type.code().to_string()),
        ("ctime", p.creation.time.to_string()),
        ("seq", p.creation.seq.to_string()),
        ("lifetime_ms", p.lifetime_ms.to_string()),
        ("payload_crc", payload.crc_type.code().to_string()),
        ("payload_len", b.payload(bytes).len().to_string()),
        ("blocks", blocks.join(",")),
        ("crc_ok", "1".to_string()),
        ("len", bytes.len().to_string()),
        ("hex", hex(bytes)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Checks a helper line against a bundle: every field pyd3tn decoded equals ours.
fn check(line: &Fields, bytes: &[u8], what: &str) {
    assert!(!line.contains_key("error"), "{what}: pyd3tn: {line:?}");
    let ours = our_fields(bytes);
    for (key, value) in &ours {
        let theirs = line.get(key).map(String::as_str);
        if key == "hex" {
            assert!(theirs == Some(value.as_str()), "{what}: bytes differ");
        } else {
            assert_eq!(theirs, Some(value.as_str()), "{what}: field {key}");
        }
    }
}

/// A bundle of ours, from `wire::encode`.
fn our_bundle(seq: u64, crc: CrcType, payload_crc: CrcType, len: usize) -> Vec<u8> {
    let primary = PrimaryBlock {
        flags: flags::MUST_NOT_FRAGMENT,
        crc_type: crc,
        destination: Eid::ipn(30, 1),
        source: Eid::ipn(20, 1),
        report_to: Eid::ipn(20, 0),
        creation: CreationTimestamp {
            time: 800_000_000_000 + seq,
            seq,
        },
        lifetime_ms: 3_600_000,
        fragment: None,
    };
    let payload: Vec<u8> = (0..len).map(|i| (i * 7 + seq as usize) as u8).collect();
    let mut out = Vec::new();
    wire::encode(&primary, None, &payload, payload_crc, &mut out);
    out
}

/// Our session on a loopback socket, driven by the test.
struct Link {
    sock: TcpStream,
    s: Session,
    origin: Instant,
    buf: Vec<u8>,
}

impl Link {
    fn new(sock: TcpStream, role: Role) -> Link {
        sock.set_nodelay(true).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let origin = Instant::now();
        let s = Session::new(role, SessionConfig::new("ipn:20.0"), 0).unwrap();
        Link {
            sock,
            s,
            origin,
            buf: vec![0; 1 << 16],
        }
    }

    fn ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// Writes what the session has, then returns its events.
    fn flush(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while self.s.poll_transmit(&mut out) > 0 {}
        if !out.is_empty() {
            self.sock.write_all(&out).expect("write to pyd3tn");
        }
        std::iter::from_fn(|| self.s.poll_event()).collect()
    }

    /// One round: timers, then one read (up to 10 ms).
    fn read(&mut self) {
        let now = self.ms();
        if self.s.poll_timeout().is_some_and(|d| now >= d) {
            self.s.handle_timeout(now);
        }
        match self.sock.read(&mut self.buf) {
            Ok(0) => self.s.handle_eof(now),
            Ok(n) => self.s.handle_bytes(now, &self.buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let start = Instant::now();
    loop {
        match listener.accept() {
            Ok((sock, _)) => {
                sock.set_nonblocking(false).unwrap();
                return sock;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(start.elapsed() < LIMIT, "pyd3tn never connected");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// The negotiation with pyd3tn: its contact header has flags 0 and keepalive 0.
fn assert_pyd3tn_established(event: &Event) {
    assert_eq!(
        *event,
        Event::Established {
            peer_node_id: "ipn:30.0".into(),
            keepalive_s: 0,
            acks: false,
            refusal: false,
            peer_flags: 0,
        }
    );
}

/// What pyd3tn decoded of our contact header.
fn assert_our_header(header: &Fields) {
    let want: Fields = [
        ("version", "3"),
        ("flags", "5"),
        ("keepalive", "30"),
        ("eid", "ipn:20.0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(*header, want);
}

#[test]
fn pyd3tn_client_sends_to_us_and_receives_ours() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let sizes = "5,1,300,70000,1000,100000";
    let mut helper = Helper::start(&[
        "tcpclv3-client",
        "--port",
        &port,
        "--send",
        "6",
        "--recv",
        "2",
        "--sizes",
        sizes,
    ]);
    let mut link = Link::new(accept(&listener), Role::Passive);
    let ours = [
        our_bundle(1, CrcType::Crc32c, CrcType::Crc32c, 5000),
        our_bundle(2, CrcType::Crc16, CrcType::None, 70_000),
    ];
    let mut established = None;
    let mut received = Vec::new();
    let mut sent = Vec::new();
    let mut closed = None;
    let start = Instant::now();
    while closed.is_none() {
        assert!(
            start.elapsed() < LIMIT,
            "no end; pyd3tn said {:?}",
            helper.seen
        );
        for event in link.flush() {
            match event {
                Event::Established { .. } => established = Some(event),
                Event::BundleReceived {
                    transfer_id,
                    bundle,
                } => {
                    link.s.accept_transfer(transfer_id).unwrap();
                    received.push((transfer_id, bundle));
                    if received.len() == 6 {
                        // pyd3tn reads only once it has sent everything.
                        let now = link.ms();
                        for (i, b) in ours.iter().enumerate() {
                            link.s.send_bundle(now, i as u64 + 1, b.clone()).unwrap();
                        }
                    }
                }
                Event::BundleSent { id } => sent.push(id),
                Event::Closed { reason, by_peer } => closed = Some((reason, by_peer)),
                other => panic!("unexpected {other:?}"),
            }
        }
        link.read();
        helper.poll();
    }
    let helper = helper.finish();

    assert_pyd3tn_established(&established.expect("established"));
    assert_our_header(&helper.find("HEADER")[0]);
    // Six bundles from pyd3tn, numbered 1.., byte for byte and field by field.
    let pyd3tn_sent = helper.find("SENT");
    assert_eq!(pyd3tn_sent.len(), 6);
    assert_eq!(received.len(), 6);
    for (i, (line, (transfer_id, bundle))) in pyd3tn_sent.iter().zip(&received).enumerate() {
        assert_eq!(*transfer_id, i as u64 + 1);
        check(line, bundle, &format!("pyd3tn's bundle {i}"));
    }
    // Ours arrived in pyd3tn intact; without acks they count as sent once written.
    let pyd3tn_recv = helper.find("RECV");
    assert_eq!(pyd3tn_recv.len(), 2);
    for (i, line) in pyd3tn_recv.iter().enumerate() {
        check(line, &ours[i], &format!("our bundle {i}"));
    }
    assert_eq!(sent, [1, 2]);
    // pyd3tn's disconnect is a bare SHUTDOWN (0x50).
    assert_eq!(
        closed,
        Some((
            CloseReason::Shutdown {
                reason: None,
                delay_s: None
            },
            true
        ))
    );
}

#[test]
fn we_send_to_a_pyd3tn_connection_and_receive_its_bundle() {
    let mut helper = Helper::start(&[
        "tcpclv3-server",
        "--recv",
        "3",
        "--send",
        "1",
        "--sizes",
        "65536",
    ]);
    let port: u16 = helper.wait_for("PORT")["port"].parse().unwrap();
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut link = Link::new(sock, Role::Active);
    let ours = [
        our_bundle(1, CrcType::None, CrcType::None, 1),
        our_bundle(2, CrcType::Crc16, CrcType::Crc16, 5000),
        our_bundle(3, CrcType::Crc32c, CrcType::Crc32c, 100_000),
    ];
    let mut established = None;
    let mut received = Vec::new();
    let mut sent = Vec::new();
    let mut closed = None;
    let start = Instant::now();
    while closed.is_none() {
        assert!(
            start.elapsed() < LIMIT,
            "no end; pyd3tn said {:?}",
            helper.seen
        );
        for event in link.flush() {
            match event {
                Event::Established { .. } => {
                    established = Some(event);
                    let now = link.ms();
                    for (i, b) in ours.iter().enumerate() {
                        link.s.send_bundle(now, i as u64 + 1, b.clone()).unwrap();
                    }
                }
                Event::BundleReceived {
                    transfer_id,
                    bundle,
                } => {
                    link.s.accept_transfer(transfer_id).unwrap();
                    received.push(bundle);
                    link.s.close(link.ms(), None);
                }
                Event::BundleSent { id } => sent.push(id),
                Event::Closed { reason, by_peer } => closed = Some((reason, by_peer)),
                other => panic!("unexpected {other:?}"),
            }
        }
        link.read();
        helper.poll();
    }
    // Write the final SHUTDOWN, then end the stream: pyd3tn reads until then.
    link.flush();
    link.sock.shutdown(Shutdown::Write).unwrap();
    let helper = helper.finish();

    assert_pyd3tn_established(&established.expect("established"));
    assert_our_header(&helper.find("HEADER")[0]);
    let pyd3tn_recv = helper.find("RECV");
    assert_eq!(pyd3tn_recv.len(), 3);
    for (i, line) in pyd3tn_recv.iter().enumerate() {
        check(line, &ours[i], &format!("our bundle {i}"));
    }
    assert_eq!(sent, [1, 2, 3]);
    let pyd3tn_sent = helper.find("SENT");
    assert_eq!((pyd3tn_sent.len(), received.len()), (1, 1));
    check(&pyd3tn_sent[0], &received[0], "pyd3tn's bundle");
    assert_eq!(
        closed,
        Some((
            CloseReason::Shutdown {
                reason: None,
                delay_s: None
            },
            false
        ))
    );
    // After its bundle pyd3tn saw exactly our SHUTDOWN, then the end of the stream.
    assert_eq!(helper.find("END")[0]["rest"], "50");
}

//! TCPCLv3 codec (RFC 7242): every message round-trips, every truncation asks for more bytes,
//! fixed layouts match the RFC (and what pyd3tn 0.15.2 writes), lengths over the limits are
//! refused before the data, and no input panics.

use engine::cla::tcpclv3::codec::{
    self, CodecError, ContactHeader, Head, MAX_SDNV_LEN, Msg, MsgType, RefuseReason,
    ShutdownReason, contact_flags, decode, decode_head, decode_sdnv, encode, encode_sdnv, sdnv_len,
    segment_flags,
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

fn encoded(msg: &Msg<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    encode(msg, &mut out);
    out
}

fn samples(data: &[u8]) -> Vec<Msg<'_>> {
    let mut v = Vec::new();
    for flags in 0..4 {
        v.push(Msg::DataSegment { flags, data });
        v.push(Msg::DataSegment {
            flags,
            data: &data[..data.len().min(1)],
        });
        v.push(Msg::DataSegment { flags, data: &[] });
    }
    for length in [0, 1, 127, 128, 16_383, 16_384, 1 << 40, u64::MAX] {
        v.push(Msg::AckSegment { length });
        v.push(Msg::Length { length });
    }
    for code in 0..16 {
        v.push(Msg::RefuseBundle {
            reason: RefuseReason::from(code),
        });
    }
    v.push(Msg::Keepalive);
    for reason in [
        None,
        Some(ShutdownReason::IdleTimeout),
        Some(ShutdownReason::VersionMismatch),
        Some(ShutdownReason::Busy),
        Some(ShutdownReason::Unassigned(0xff)),
    ] {
        for delay_s in [None, Some(0), Some(1), Some(300), Some(u64::MAX)] {
            v.push(Msg::Shutdown { reason, delay_s });
        }
    }
    v
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn every_message_round_trips() {
    for len in [0, 1, 127, 128, 5000, 70_000] {
        let d = data(len);
        for msg in samples(&d) {
            let bytes = encoded(&msg);
            assert_eq!(
                decode(&bytes, u64::MAX),
                Ok(Some((msg, bytes.len()))),
                "{msg:?}"
            );
            // Trailing bytes are left alone.
            let mut more = bytes.clone();
            more.extend_from_slice(&[0x40, 0x40]);
            assert_eq!(decode(&more, u64::MAX), Ok(Some((msg, bytes.len()))));
            // The head alone agrees.
            let (head, used) = decode_head(&bytes).unwrap().unwrap();
            match msg {
                Msg::DataSegment { flags, data } => {
                    assert_eq!(
                        head,
                        Head::Segment {
                            flags,
                            len: data.len() as u64
                        }
                    );
                    assert_eq!(used + data.len(), bytes.len());
                }
                other => {
                    let Head::Control(control) = head else {
                        panic!("{head:?} for {other:?}");
                    };
                    assert_eq!(control, other);
                    assert_eq!(used, bytes.len());
                }
            }
        }
    }
}

#[test]
fn every_truncation_needs_more_bytes() {
    let d = data(300);
    for msg in samples(&d) {
        let bytes = encoded(&msg);
        for n in 0..bytes.len() {
            assert_eq!(
                decode(&bytes[..n], u64::MAX),
                Ok(None),
                "{msg:?} cut at {n}"
            );
        }
    }
    let header = ContactHeader {
        flags: 0x0d,
        keepalive_s: 0xbeef,
        eid: b"ipn:4294967295.0",
    };
    let mut bytes = Vec::new();
    header.encode(&mut bytes);
    for n in 0..bytes.len() {
        assert_eq!(
            ContactHeader::decode(&bytes[..n], 4096),
            Ok(None),
            "cut at {n}"
        );
    }
    assert_eq!(
        ContactHeader::decode(&bytes, 4096),
        Ok(Some((header, bytes.len())))
    );
}

#[test]
fn fixed_layouts() {
    // What pyd3tn 0.15.2 writes: serialize_tcpcl_contact_header("ipn:30.0") (flags 0,
    // keepalive 0), serialize_tcpcl_single_bundle_segment(b"hi"), and its SHUTDOWN b"\x50".
    let (h, n) = ContactHeader::decode(b"dtn!\x03\x00\x00\x00\x08ipn:30.0", 4096)
        .unwrap()
        .unwrap();
    assert_eq!(n, 17);
    assert_eq!((h.flags, h.keepalive_s, h.eid), (0, 0, &b"ipn:30.0"[..]));
    assert!(!h.requests_acks() && !h.supports_refusal() && !h.requests_length());
    assert_eq!(
        decode(b"\x13\x02hi", 100),
        Ok(Some((
            Msg::DataSegment {
                flags: segment_flags::START | segment_flags::END,
                data: b"hi"
            },
            4
        )))
    );
    assert_eq!(
        decode(b"\x50", 100),
        Ok(Some((
            Msg::Shutdown {
                reason: None,
                delay_s: None
            },
            1
        )))
    );

    let h = ContactHeader {
        flags: contact_flags::REQUEST_ACK | contact_flags::REFUSAL | contact_flags::REQUEST_LENGTH,
        keepalive_s: 15,
        eid: b"ipn:2.0",
    };
    let mut out = Vec::new();
    h.encode(&mut out);
    assert_eq!(out, b"dtn!\x03\x0d\x00\x0f\x07ipn:2.0");
    assert!(h.requests_acks() && h.supports_refusal() && h.requests_length());

    let cases: Vec<(Msg<'_>, &[u8])> = vec![
        (
            Msg::DataSegment {
                flags: segment_flags::START,
                data: b"ab",
            },
            b"\x12\x02ab",
        ),
        (
            Msg::DataSegment {
                flags: segment_flags::END,
                data: b"",
            },
            b"\x11\x00",
        ),
        (
            Msg::DataSegment {
                flags: 0,
                data: b"x",
            },
            b"\x10\x01x",
        ),
        (Msg::AckSegment { length: 0x4234 }, b"\x20\x81\x84\x34"),
        (
            Msg::RefuseBundle {
                reason: RefuseReason::Unknown,
            },
            b"\x30",
        ),
        (
            Msg::RefuseBundle {
                reason: RefuseReason::Completed,
            },
            b"\x31",
        ),
        (
            Msg::RefuseBundle {
                reason: RefuseReason::NoResources,
            },
            b"\x32",
        ),
        (
            Msg::RefuseBundle {
                reason: RefuseReason::Retransmit,
            },
            b"\x33",
        ),
        (Msg::Keepalive, b"\x40"),
        (
            Msg::Shutdown {
                reason: Some(ShutdownReason::IdleTimeout),
                delay_s: None,
            },
            b"\x52\x00",
        ),
        (
            Msg::Shutdown {
                reason: None,
                delay_s: Some(0),
            },
            b"\x51\x00",
        ),
        (
            Msg::Shutdown {
                reason: Some(ShutdownReason::Busy),
                delay_s: Some(300),
            },
            b"\x53\x02\x82\x2c",
        ),
        (Msg::Length { length: 1 << 20 }, b"\x60\xc0\x80\x00"),
    ];
    for (msg, bytes) in cases {
        assert_eq!(encoded(&msg), bytes, "{msg:?}");
        assert_eq!(decode(bytes, 100), Ok(Some((msg, bytes.len()))));
    }
    // Reserved flag bits are dropped on receipt.
    assert_eq!(
        decode(b"\x1f\x00", 100),
        Ok(Some((
            Msg::DataSegment {
                flags: 3,
                data: b""
            },
            2
        )))
    );
    assert_eq!(decode(b"\x4f", 100), Ok(Some((Msg::Keepalive, 1))));
    assert_eq!(
        decode(b"\x2c\x05", 100),
        Ok(Some((Msg::AckSegment { length: 5 }, 2)))
    );
    assert_eq!(
        decode(b"\x5c", 100),
        Ok(Some((
            Msg::Shutdown {
                reason: None,
                delay_s: None
            },
            1
        )))
    );
}

#[test]
fn message_types_and_reason_codes() {
    for code in 0..16u8 {
        let t = MsgType::from_code(code);
        assert_eq!(t.is_some(), (1..=6).contains(&code));
        if let Some(t) = t {
            assert_eq!(t.code(), code);
            assert!(!t.name().is_empty());
        }
        let bytes = [code << 4, 0, 0];
        match decode(&bytes, 100) {
            Err(CodecError::UnknownMessageType(c)) => assert_eq!(c, code),
            Ok(_) => assert!(t.is_some()),
            Err(e) => panic!("{e}"),
        }
        assert_eq!(u8::from(RefuseReason::from(code)), code);
    }
    for code in 0..=u8::MAX {
        assert_eq!(u8::from(ShutdownReason::from(code)), code);
    }
    assert_eq!(RefuseReason::from(0xf2), RefuseReason::NoResources);
    assert_eq!(ShutdownReason::from(2), ShutdownReason::Busy);
}

#[test]
fn bad_magic_and_other_versions() {
    let mut good = Vec::new();
    ContactHeader {
        flags: 0,
        keepalive_s: 0,
        eid: b"ipn:1.0",
    }
    .encode(&mut good);
    for pos in 0..4 {
        let mut bad = good.clone();
        bad[pos] ^= 0x20;
        for n in pos + 1..=bad.len() {
            assert_eq!(
                ContactHeader::decode(&bad[..n], 100),
                Err(CodecError::BadMagic),
                "byte {pos}, {n} bytes"
            );
        }
    }
    // Any other version is refused as soon as its octet is in: TCPCLv4's header is 6 octets.
    for v in [0u8, 1, 2, 4, 5, 0xff] {
        let mut bad = good.clone();
        bad[4] = v;
        for n in 5..=bad.len() {
            assert_eq!(
                ContactHeader::decode(&bad[..n], 100),
                Err(CodecError::UnsupportedVersion(v))
            );
        }
    }
}

#[test]
fn lengths_over_the_limits_are_refused_before_the_data() {
    // A segment announcing 2 MiB with no data present.
    let mut buf = vec![0x13];
    encode_sdnv(2 << 20, &mut buf);
    assert_eq!(
        decode(&buf, 1 << 20),
        Err(CodecError::TooLong {
            len: 2 << 20,
            max: 1 << 20
        })
    );
    // decode_head does not care: the session bounds the bundle instead.
    assert_eq!(
        decode_head(&buf),
        Ok(Some((
            Head::Segment {
                flags: 3,
                len: 2 << 20
            },
            buf.len()
        )))
    );
    // An EID length of 2^40 with no EID present.
    let mut h = b"dtn!\x03\x00\x00\x00".to_vec();
    encode_sdnv(1 << 40, &mut h);
    assert_eq!(
        ContactHeader::decode(&h, 4096),
        Err(CodecError::EidTooLong {
            len: 1 << 40,
            max: 4096
        })
    );
    // SDNVs over 64 bits, in every place one appears.
    let over = [0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
    for first in [0x10u8, 0x20, 0x60] {
        let mut m = vec![first];
        m.extend_from_slice(&over);
        assert_eq!(decode_head(&m), Err(CodecError::SdnvOverflow));
    }
    let mut m = vec![0x51];
    m.extend_from_slice(&[0x80; 11]);
    assert_eq!(decode_head(&m), Err(CodecError::SdnvOverflow));
    let mut h = b"dtn!\x03\x00\x00\x00".to_vec();
    h.extend_from_slice(&over);
    assert_eq!(
        ContactHeader::decode(&h, 4096),
        Err(CodecError::SdnvOverflow)
    );
}

#[test]
fn sdnv_round_trips() {
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    let mut values = vec![0, 1, 0x7f, 0x80, 0x3fff, 0x4000, u64::MAX, u64::MAX - 1];
    for shift in 0..64 {
        values.push(1 << shift);
        values.push((1 << shift) - 1);
    }
    for _ in 0..2000 {
        values.push(rng.next() >> rng.below(64));
    }
    for v in values {
        let mut out = Vec::new();
        encode_sdnv(v, &mut out);
        assert_eq!(out.len(), sdnv_len(v));
        assert!(out.len() <= MAX_SDNV_LEN);
        assert_eq!(out.last().map(|b| b & 0x80), Some(0));
        assert!(out[..out.len() - 1].iter().all(|b| b & 0x80 != 0));
        assert_eq!(decode_sdnv(&out), Ok(Some((v, out.len()))));
        for n in 0..out.len() {
            assert_eq!(decode_sdnv(&out[..n]), Ok(None));
        }
    }
    // Leading zero groups are tolerated within 10 octets.
    assert_eq!(decode_sdnv(&[0x80, 0x80, 0x05]), Ok(Some((5, 3))));
}

/// Decodes `buf` as a contact header followed by messages, as a session would, without
/// checking the result: only that nothing panics and progress is made.
fn decode_all(buf: &[u8]) {
    let mut pos = match ContactHeader::decode(buf, 4096) {
        Ok(Some((_, n))) => n,
        _ => 0,
    };
    while pos < buf.len() {
        match decode(&buf[pos..], 1 << 16) {
            Ok(Some((_, used))) => {
                assert!(used > 0);
                pos += used;
            }
            Ok(None) | Err(_) => break,
        }
        let _ = decode_head(&buf[pos..]);
    }
}

#[test]
fn random_and_mutated_input_never_panics() {
    let mut rng = XorShift(99);
    let d = data(200);
    let mut stream = Vec::new();
    ContactHeader {
        flags: 0x05,
        keepalive_s: 30,
        eid: b"ipn:7.0",
    }
    .encode(&mut stream);
    for msg in samples(&d) {
        stream.extend_from_slice(&encoded(&msg));
    }
    decode_all(&stream);
    for _ in 0..3000 {
        let mut m = stream.clone();
        for _ in 0..1 + rng.below(8) {
            let i = rng.below(m.len());
            m[i] = rng.next() as u8;
        }
        let cut = rng.below(m.len() + 1);
        decode_all(&m[..cut]);
    }
    for _ in 0..3000 {
        let len = rng.below(64);
        let junk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        decode_all(&junk);
        let _ = decode_head(&junk);
        let _ = decode_sdnv(&junk);
        let _ = codec::decode(&junk, 0);
    }
}

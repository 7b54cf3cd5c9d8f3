//! TCPCLv4 codec (RFC 9174): round trip of every message, `None` at every truncation point,
//! specific errors for malformed input, and no panic on random or mutated bytes.

use engine::cla::tcpcl::codec::{
    self, CONTACT_HEADER_LEN, CodecError, ContactHeader, ExtensionItem, Field, Limits, Msg,
    MsgRejectReason, MsgType, SessInit, SessTermReason, XferRefuseReason, XferSegment,
    extension_items, item_flags, segment_flags, term_flags,
};

/// Deterministic xorshift64 for the random inputs.
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

fn items(list: &[ExtensionItem<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in list {
        item.encode(&mut out).unwrap();
    }
    out
}

fn encoded(msg: &Msg<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode(msg, &mut out).unwrap();
    out
}

/// One of every message, with the variants of flags and fields that change the layout.
fn samples(session_ext: &[u8], transfer_ext: &[u8], data: &[u8]) -> Vec<Msg<'static>> {
    // Leak the borrowed inputs so that the samples can be 'static; tests only.
    let session_ext: &'static [u8] = Box::leak(session_ext.to_vec().into_boxed_slice());
    let transfer_ext: &'static [u8] = Box::leak(transfer_ext.to_vec().into_boxed_slice());
    let data: &'static [u8] = Box::leak(data.to_vec().into_boxed_slice());
    vec![
        Msg::SessInit(SessInit {
            keepalive_s: 30,
            segment_mru: 64000,
            transfer_mru: 64000,
            node_id: "ipn:20.0",
            extensions: &[],
        }),
        Msg::SessInit(SessInit {
            keepalive_s: 0,
            segment_mru: u64::MAX,
            transfer_mru: 1,
            node_id: "",
            extensions: session_ext,
        }),
        Msg::SessInit(SessInit {
            keepalive_s: u16::MAX,
            segment_mru: 1,
            transfer_mru: u64::MAX,
            node_id: "dtn://node-ü/",
            extensions: &[],
        }),
        Msg::SessTerm {
            flags: 0,
            reason: SessTermReason::IdleTimeout,
        },
        Msg::SessTerm {
            flags: term_flags::REPLY,
            reason: SessTermReason::ContactFailure,
        },
        Msg::SessTerm {
            flags: 0xfe,
            reason: SessTermReason::Unassigned(0x99),
        },
        Msg::XferSegment(XferSegment {
            flags: segment_flags::START | segment_flags::END,
            transfer_id: 1,
            extensions: &[],
            data,
        }),
        Msg::XferSegment(XferSegment {
            flags: segment_flags::START,
            transfer_id: 0,
            extensions: transfer_ext,
            data,
        }),
        Msg::XferSegment(XferSegment {
            flags: 0,
            transfer_id: u64::MAX,
            extensions: &[],
            data,
        }),
        Msg::XferSegment(XferSegment {
            flags: segment_flags::END,
            transfer_id: 7,
            extensions: &[],
            data: &[],
        }),
        Msg::XferAck {
            flags: segment_flags::START,
            transfer_id: 1,
            length: 100,
        },
        Msg::XferAck {
            flags: 0,
            transfer_id: u64::MAX,
            length: u64::MAX,
        },
        Msg::XferRefuse {
            reason: XferRefuseReason::NotAcceptable,
            transfer_id: 3,
        },
        Msg::XferRefuse {
            reason: XferRefuseReason::Unassigned(0x80),
            transfer_id: 0,
        },
        Msg::Keepalive,
        Msg::MsgReject {
            reason: MsgRejectReason::TypeUnknown,
            rejected_header: 0xf3,
        },
        Msg::MsgReject {
            reason: MsgRejectReason::Unexpected,
            rejected_header: 0x07,
        },
    ]
}

fn default_samples() -> Vec<Msg<'static>> {
    let session_ext = items(&[
        ExtensionItem {
            flags: 0,
            item_type: 0x1234,
            value: b"abc",
        },
        ExtensionItem {
            flags: item_flags::CRITICAL,
            item_type: 0xffff,
            value: &[],
        },
    ]);
    let transfer_ext = items(&[ExtensionItem {
        flags: 0,
        item_type: codec::TRANSFER_LENGTH_EXTENSION,
        value: &1000u64.to_be_bytes(),
    }]);
    let data: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
    samples(&session_ext, &transfer_ext, &data)
}

#[test]
fn every_message_round_trips() {
    let samples = default_samples();
    let mut stream = Vec::new();
    for msg in &samples {
        let bytes = encoded(msg);
        assert_eq!(bytes[0], msg.msg_type().code());
        assert_eq!(
            codec::decode(&bytes),
            Ok(Some((*msg, bytes.len()))),
            "{msg:?}"
        );
        stream.extend_from_slice(&bytes);
    }
    // The same messages read back to back from one buffer.
    let mut pos = 0;
    for msg in &samples {
        let (got, used) = codec::decode(&stream[pos..]).unwrap().unwrap();
        assert_eq!(&got, msg);
        pos += used;
    }
    assert_eq!(pos, stream.len());
    assert_eq!(codec::decode(&stream[pos..]), Ok(None));
}

#[test]
fn every_truncation_needs_more_bytes() {
    let mut checked = 0;
    for msg in &default_samples() {
        let bytes = encoded(msg);
        for cut in 0..bytes.len() {
            assert_eq!(
                codec::decode(&bytes[..cut]),
                Ok(None),
                "{msg:?} cut at {cut}"
            );
            checked += 1;
        }
    }
    assert!(checked > 600, "{checked} prefixes");
    let mut header = Vec::new();
    ContactHeader::V4.encode(&mut header);
    for cut in 0..CONTACT_HEADER_LEN {
        assert_eq!(ContactHeader::decode(&header[..cut]), Ok(None));
    }
}

#[test]
fn fixed_layouts() {
    // Field order and widths of RFC 9174 Figures 16–27, written out.
    let hex = |m: &Msg<'_>| {
        encoded(m)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(
        hex(&Msg::SessTerm {
            flags: term_flags::REPLY,
            reason: SessTermReason::Busy
        }),
        "050103"
    );
    assert_eq!(
        hex(&Msg::XferAck {
            flags: 3,
            transfer_id: 0x0102030405060708,
            length: 0x1122
        }),
        "020301020304050607080000000000001122"
    );
    assert_eq!(
        hex(&Msg::XferRefuse {
            reason: XferRefuseReason::SessionTerminating,
            transfer_id: 9
        }),
        "03060000000000000009"
    );
    assert_eq!(hex(&Msg::Keepalive), "04");
    assert_eq!(
        hex(&Msg::MsgReject {
            reason: MsgRejectReason::Unsupported,
            rejected_header: 0x01
        }),
        "060201"
    );
    // START carries the 4-octet extension length; a middle segment does not.
    assert_eq!(
        hex(&Msg::XferSegment(XferSegment {
            flags: segment_flags::START,
            transfer_id: 1,
            extensions: &[],
            data: b"ab"
        })),
        "010200000000000000010000000000000000000000026162"
    );
    assert_eq!(
        hex(&Msg::XferSegment(XferSegment {
            flags: 0,
            transfer_id: 1,
            extensions: b"ignored without START",
            data: b"ab"
        })),
        "0100000000000000000100000000000000026162"
    );
    assert_eq!(
        hex(&Msg::SessInit(SessInit {
            keepalive_s: 30,
            segment_mru: 64000,
            transfer_mru: 64000,
            node_id: "ipn:20.0",
            extensions: &[],
        })),
        "07001e000000000000fa00000000000000fa00000869706e3a32302e3000000000"
    );
    let mut ext = Vec::new();
    ExtensionItem {
        flags: item_flags::CRITICAL,
        item_type: 0x0102,
        value: b"xyz",
    }
    .encode(&mut ext)
    .unwrap();
    assert_eq!(ext, [0x01, 0x01, 0x02, 0x00, 0x03, b'x', b'y', b'z']);
}

#[test]
fn unknown_message_types() {
    for code in (0u8..=0xff).filter(|c| MsgType::from_code(*c).is_none()) {
        assert_eq!(
            codec::decode(&[code]),
            Err(CodecError::UnknownMessageType(code))
        );
        assert_eq!(
            codec::decode(&[code, 1, 2, 3]),
            Err(CodecError::UnknownMessageType(code))
        );
    }
    for code in 1..=7u8 {
        assert_eq!(MsgType::from_code(code).unwrap().code(), code);
    }
    assert_eq!(MsgType::from_code(0), None);
    assert_eq!(MsgType::from_code(8), None);
}

#[test]
fn bad_magic_at_every_position() {
    let good = *b"dtn!";
    for i in 0..4 {
        let mut bad = good;
        bad[i] ^= 0x20;
        // Detected as soon as the wrong octet is there, whatever follows.
        assert_eq!(
            ContactHeader::decode(&bad[..=i]),
            Err(CodecError::BadMagic),
            "{i}"
        );
        assert_eq!(
            ContactHeader::decode(&[&bad[..], &[4, 0]].concat()),
            Err(CodecError::BadMagic)
        );
    }
    // Any version and flags are returned as they are: the session judges them.
    assert_eq!(
        ContactHeader::decode(b"dtn!\x03\xff"),
        Ok(Some((
            ContactHeader {
                version: 3,
                flags: 0xff
            },
            6
        )))
    );
    assert!(
        ContactHeader {
            version: 4,
            flags: 1
        }
        .can_tls()
    );
}

#[test]
fn lengths_over_the_limits_are_refused_before_the_data() {
    let limits = Limits {
        max_segment_len: 1000,
        max_extensions_len: 16,
    };
    // Segment data: only the header up to the length field is present.
    let mut seg = vec![0x01, 0x00];
    seg.extend_from_slice(&5u64.to_be_bytes());
    seg.extend_from_slice(&1001u64.to_be_bytes());
    assert_eq!(
        codec::decode_with(&seg, &limits),
        Err(CodecError::TooLong {
            field: Field::SegmentData,
            len: 1001,
            limit: 1000
        })
    );
    // The largest length allowed is not refused: the decoder waits for the data.
    let mut ok = vec![0x01, 0x00];
    ok.extend_from_slice(&5u64.to_be_bytes());
    ok.extend_from_slice(&1000u64.to_be_bytes());
    assert_eq!(codec::decode_with(&ok, &limits), Ok(None));
    // A data length beyond any memory.
    let mut huge = vec![0x01, 0x00];
    huge.extend_from_slice(&5u64.to_be_bytes());
    huge.extend_from_slice(&u64::MAX.to_be_bytes());
    assert!(matches!(
        codec::decode(&huge),
        Err(CodecError::TooLong {
            field: Field::SegmentData,
            ..
        })
    ));
    // Transfer extension list.
    let mut start = vec![0x01, segment_flags::START];
    start.extend_from_slice(&5u64.to_be_bytes());
    start.extend_from_slice(&17u32.to_be_bytes());
    assert_eq!(
        codec::decode_with(&start, &limits),
        Err(CodecError::TooLong {
            field: Field::TransferExtensions,
            len: 17,
            limit: 16
        })
    );
    // Session extension list.
    let mut init = vec![0x07, 0, 30];
    init.extend_from_slice(&1u64.to_be_bytes());
    init.extend_from_slice(&1u64.to_be_bytes());
    init.extend_from_slice(&[0, 1, b'x']);
    init.extend_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        codec::decode_with(&init, &limits),
        Err(CodecError::TooLong {
            field: Field::SessionExtensions,
            len: u32::MAX.into(),
            limit: 16
        })
    );
}

#[test]
fn node_id_must_be_utf8() {
    let mut init = vec![0x07, 0, 30];
    init.extend_from_slice(&1u64.to_be_bytes());
    init.extend_from_slice(&1u64.to_be_bytes());
    init.extend_from_slice(&[0, 2, 0xc3, 0x28]);
    assert_eq!(codec::decode(&init), Err(CodecError::NodeIdNotUtf8));
}

#[test]
fn extension_item_lists() {
    let list = items(&[
        ExtensionItem {
            flags: 0xfe,
            item_type: 1,
            value: &[9; 8],
        },
        ExtensionItem {
            flags: item_flags::CRITICAL,
            item_type: 2,
            value: &[],
        },
    ]);
    let got: Vec<_> = extension_items(&list).collect();
    assert_eq!(got.len(), 2);
    let first = got[0].unwrap();
    assert_eq!(
        (first.flags, first.item_type, first.value),
        (0xfe, 1, &[9u8; 8][..])
    );
    assert!(!first.is_critical());
    assert!(got[1].unwrap().is_critical());
    assert_eq!(extension_items(&[]).count(), 0);
    // Every truncation of the list: the items that fit, then one overrun error, then nothing.
    for cut in 1..list.len() {
        let got: Vec<_> = extension_items(&list[..cut]).collect();
        if cut == 13 {
            // Exactly the first item: a valid list.
            assert_eq!(got, [Ok(first)]);
            continue;
        }
        let last = got.last().unwrap();
        let offset = if cut < 13 { 0 } else { 13 };
        assert_eq!(
            *last,
            Err(CodecError::ExtensionItemOverrun { offset }),
            "cut {cut}"
        );
        assert!(got[..got.len() - 1].iter().all(Result::is_ok));
    }
}

#[test]
fn encode_refuses_fields_too_long_for_their_length_field() {
    let node_id = "n".repeat(65536);
    let mut out = vec![0xaa];
    assert_eq!(
        codec::encode(
            &Msg::SessInit(SessInit {
                keepalive_s: 1,
                segment_mru: 1,
                transfer_mru: 1,
                node_id: &node_id,
                extensions: &[],
            }),
            &mut out
        ),
        Err(CodecError::TooLong {
            field: Field::NodeId,
            len: 65536,
            limit: 65535
        })
    );
    assert_eq!(out, [0xaa], "output unchanged");
    let value = vec![0; 65536];
    assert!(matches!(
        ExtensionItem {
            flags: 0,
            item_type: 1,
            value: &value
        }
        .encode(&mut out),
        Err(CodecError::TooLong {
            field: Field::ExtensionValue,
            ..
        })
    ));
    assert_eq!(out, [0xaa]);
    // 65535 octets still fit.
    let node_id = "n".repeat(65535);
    let msg = Msg::SessInit(SessInit {
        keepalive_s: 1,
        segment_mru: 1,
        transfer_mru: 1,
        node_id: &node_id,
        extensions: &[],
    });
    let bytes = encoded(&msg);
    assert_eq!(codec::decode(&bytes), Ok(Some((msg, bytes.len()))));
}

/// Decodes `buf` message by message as a session would; must never panic.
fn decode_all(buf: &[u8]) {
    let mut pos = 0;
    while let Ok(Some((msg, used))) = codec::decode(&buf[pos..]) {
        assert!(used >= 1 && pos + used <= buf.len());
        if let Msg::SessInit(s) = msg {
            extension_items(s.extensions).for_each(drop);
        }
        if let Msg::XferSegment(s) = msg {
            extension_items(s.extensions).for_each(drop);
        }
        pos += used;
    }
    let _ = ContactHeader::decode(buf);
}

#[test]
fn random_and_mutated_input_never_panics() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut stream = Vec::new();
    for msg in &default_samples() {
        stream.extend_from_slice(&encoded(msg));
    }
    for _ in 0..20_000 {
        let mut buf = stream.clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(buf.len());
            buf[i] = rng.next() as u8;
        }
        let from = rng.below(buf.len());
        decode_all(&buf[from..]);
    }
    for _ in 0..20_000 {
        let len = rng.below(64);
        let mut buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Bias towards valid message type codes so the bodies get exercised.
        if let Some(first) = buf.first_mut() {
            *first = 1 + (*first % 7);
        }
        decode_all(&buf);
    }
}

//! `mtcp::Decoder` on arbitrary bytes in arbitrary splits: it must not panic, every split must
//! give what one independent reading of the whole stream gives, and the bytes it holds stay
//! bounded by one frame.
//!
//! Input: `[limit selector][split seed: 2 bytes][stream...]`. The selector picks the frame
//! limit (0, 1, 23, 24, 255, 256, 65535, 65536, 1 MiB, 64 MiB, u64::MAX); the seed drives a
//! xorshift that cuts the stream into chunks of 0 to 2^k bytes (empty feeds included).
//!
//! Checked against a reference reading of the stream written here from RFC 8949 (frames are
//! definite byte strings; any other head, additional information 28–31 included, ends the
//! stream; a length over the limit ends it; a head or frame cut by the end of the input waits):
//! - fed whole: the reference's bundles, or its error;
//! - fed in chunks: the same bundles as the reference, those completed before a broken frame
//!   included (the feed that meets the error returns them, and `error()` is set), the same
//!   error, the same pending byte count;
//! - after an error every later feed returns that error;
//! - `pending()` never exceeds the largest frame plus its 9-byte head.
#![no_main]

use engine::cla::mtcp::{Decoder, MtcpError};
use libfuzzer_sys::fuzz_target;

const LIMITS: [u64; 11] = [
    0,
    1,
    23,
    24,
    255,
    256,
    65_535,
    65_536,
    1 << 20,
    64 << 20,
    u64::MAX,
];

/// The reference: (bundles, error, bytes left in an unfinished frame).
fn reference(stream: &[u8], max: u64) -> (Vec<&[u8]>, Option<MtcpError>, usize) {
    let mut out = Vec::new();
    let mut at = 0usize;
    loop {
        let rest = &stream[at..];
        let Some(&first) = rest.first() else {
            return (out, None, 0);
        };
        let (major, info) = (first >> 5, first & 0x1f);
        if (28..=31).contains(&info) {
            return (out, Some(MtcpError::NotAByteString), 0);
        }
        let extra = match info {
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            _ => 0,
        };
        if rest.len() < 1 + extra {
            return (out, None, rest.len());
        }
        let len = if extra == 0 {
            u64::from(info)
        } else {
            rest[1..1 + extra]
                .iter()
                .fold(0u64, |v, &b| (v << 8) | u64::from(b))
        };
        if major != 2 {
            return (out, Some(MtcpError::NotAByteString), 0);
        }
        if len > max {
            return (out, Some(MtcpError::TooLong { len, max }), 0);
        }
        let body = rest.len() - 1 - extra;
        if (body as u64) < len {
            return (out, None, rest.len());
        }
        let len = len as usize;
        out.push(&rest[1 + extra..1 + extra + len]);
        at += 1 + extra + len;
    }
}

fuzz_target!(|data: &[u8]| {
    let [sel, s0, s1, stream @ ..] = data else {
        return;
    };
    let max = LIMITS[usize::from(*sel) % LIMITS.len()];
    let bound = max.saturating_add(9);
    let (want, want_err, want_pending) = reference(stream, max);

    // Whole.
    let mut d = Decoder::new(max);
    match (d.feed(stream), want_err) {
        (Ok(got), None) => {
            assert_eq!(got, want, "whole stream");
            assert_eq!(d.pending(), want_pending);
        }
        (Ok(got), Some(w)) => {
            assert!(!got.is_empty(), "Ok without bundles despite an error");
            assert_eq!(got, want, "whole stream, frames before the error");
            assert_eq!(d.error(), Some(w), "whole stream error");
        }
        (Err(e), Some(w)) => {
            assert_eq!(e, w, "whole stream error");
            assert!(want.is_empty(), "frames before the error were dropped");
        }
        (got, w) => panic!("whole stream: got {got:?}, reference error {w:?}"),
    }

    // Chunks.
    let mut x = u32::from_be_bytes([*s0, *s1, 0x5a, 0xc3]) | 1;
    let k = u32::from(*s0 & 7);
    let mut rest = stream;
    let mut d = Decoder::new(max);
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut err = None;
    loop {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let n = (x % ((1 << k) + 1)) as usize;
        let (chunk, tail) = rest.split_at(n.min(rest.len()));
        match d.feed(chunk) {
            Ok(b) => {
                assert!(err.is_none(), "Ok after {err:?}");
                got.extend(b);
                assert!(
                    (d.pending() as u64) <= bound,
                    "{} bytes pending, limit {max}",
                    d.pending()
                );
            }
            Err(e) => {
                if let Some(prev) = err {
                    assert_eq!(e, prev, "a later feed changed the error");
                }
                assert_eq!(d.error(), Some(e), "Err without error()");
            }
        }
        err = d.error();
        if rest.is_empty() {
            break;
        }
        rest = tail;
    }
    assert_eq!(err, want_err, "chunked error");
    assert_eq!(got.len(), want.len(), "chunked stream: bundles lost or added");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.as_slice(), *w, "chunked bundle differs");
    }
    if err.is_none() {
        assert_eq!(d.pending(), want_pending);
    } else {
        assert_eq!(
            d.feed(b"\x40"),
            Err(err.unwrap_or(MtcpError::NotAByteString))
        );
    }
});

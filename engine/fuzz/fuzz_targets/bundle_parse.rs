//! `parse` on arbitrary bytes: it must not panic, and what it accepts must survive
//! re-encoding.
//!
//! For an accepted bundle:
//! - every range it returns lies inside the input;
//! - strict mode (`require_primary_crc`) accepts only what the default mode accepts, with the
//!   same result;
//! - the primary block written again by `write_primary`, followed by the received canonical
//!   blocks, parses to the same primary block and the same blocks;
//! - `encode` of the parsed fields (primary block, priority, payload, payload CRC type)
//!   parses back to the same primary block, priority and payload, or, for creation time 0,
//!   is refused for the missing bundle age block (`encode` writes none).
#![no_main]

use engine::wire::{self, Error, ParseOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(b) = wire::parse(data) else {
        let strict = ParseOptions {
            require_primary_crc: true,
        };
        assert!(wire::parse_with(data, &strict).is_err());
        return;
    };
    assert!(b.primary_extent.end <= data.len());
    for blk in &b.blocks {
        assert!(blk.extent.end <= data.len());
        assert!(blk.extent.start <= blk.data.start && blk.data.end <= blk.extent.end);
    }
    let strict = ParseOptions {
        require_primary_crc: true,
    };
    match wire::parse_with(data, &strict) {
        Ok(s) => assert_eq!(s, b),
        Err(e) => assert_eq!(e, Error::PrimaryCrcRequired),
    }

    // The primary block re-encoded, the canonical blocks as received.
    let mut again = vec![0x9f];
    wire::write_primary(&b.primary, &mut again);
    let shift = again.len() as isize - b.primary_extent.end as isize;
    for blk in &b.blocks {
        again.extend_from_slice(&data[blk.extent.clone()]);
    }
    again.push(0xff);
    let b2 = wire::parse(&again).expect("re-encoded primary block parses");
    assert_eq!(b2.primary, b.primary);
    assert_eq!(b2.blocks.len(), b.blocks.len());
    for (x, y) in b.blocks.iter().zip(&b2.blocks) {
        assert_eq!(
            (x.block_type, x.number, x.flags, x.crc_type),
            (y.block_type, y.number, y.flags, y.crc_type)
        );
        assert_eq!(x.data.start as isize + shift, y.data.start as isize);
        assert_eq!(&data[x.data.clone()], &again[y.data.clone()]);
    }

    // The parsed fields encoded as a new bundle.
    let payload = b.payload(data);
    let priority = b.priority(data);
    let payload_crc = b.blocks.last().expect("payload block").crc_type;
    let mut out = Vec::new();
    wire::encode(&b.primary, priority, payload, payload_crc, &mut out);
    assert_eq!(
        out.len(),
        wire::encoded_len(&b.primary, priority, payload.len(), payload_crc)
    );
    match wire::parse(&out) {
        Ok(b3) => {
            assert_eq!(b3.primary, b.primary);
            assert_eq!(b3.payload(&out), payload);
            assert_eq!(b3.priority(&out), priority);
        }
        Err(e) => {
            assert_eq!(b.primary.creation.time, 0, "{e}");
            assert_eq!(e, Error::MissingBundleAge);
        }
    }
});

//! Fragmentation (RFC 9171 §5.8) and reassembly (RFC 9171 §5.9) through the public API:
//! round trips over many payload sizes and fragment limits, fragments of fragments, arrival in
//! random orders with duplicates and overlaps, the block replication rules, and the limits of
//! the reassembler (total length, lifetime, memory bound).

use std::time::Instant;

use engine::fragment::{
    DropReason, FragmentError, Reassembled, Reassembler, Reject, Status, fragment,
};
use engine::wire::bundle::{write_canonical, write_primary};
use engine::wire::{
    self, Bundle, CrcType, CreationTimestamp, Eid, Fragment, PrimaryBlock, block_flags, block_type,
    flags,
};

/// DTN time of the test bundles' creation.
const T: u64 = 800_000_000_000;
/// Plenty of room for every test that is not about the memory bound.
const MIB_64: usize = 64 << 20;

/// Deterministic xorshift64* generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

fn primary(crc: CrcType) -> PrimaryBlock {
    PrimaryBlock {
        flags: flags::REPORT_DELETION,
        crc_type: crc,
        destination: Eid::ipn(2, 7),
        source: Eid::ipn(1, 5),
        report_to: Eid::ipn(1, 0),
        creation: CreationTimestamp { time: T, seq: 42 },
        lifetime_ms: 3_600_000,
        fragment: None,
    }
}

/// An extension block: type, number, flags, CRC type, data.
type Ext = (u64, u64, u64, CrcType, Vec<u8>);

/// Extension blocks of every kind: replicated or not, with each CRC type.
fn extensions() -> Vec<Ext> {
    vec![
        // Previous node ipn:4.0, replicated.
        (
            block_type::PREVIOUS_NODE,
            2,
            block_flags::REPLICATE_IN_FRAGMENTS,
            CrcType::Crc16,
            vec![0x82, 0x02, 0x82, 0x04, 0x00],
        ),
        // Hop count [30, 2], first fragment only.
        (
            block_type::HOP_COUNT,
            3,
            0,
            CrcType::Crc32c,
            vec![0x82, 0x18, 0x1e, 0x02],
        ),
        // Unknown types: one replicated, one not.
        (
            192,
            4,
            block_flags::REPLICATE_IN_FRAGMENTS | block_flags::DISCARD_IF_UNPROCESSABLE,
            CrcType::None,
            b"everywhere".to_vec(),
        ),
        (
            200,
            5,
            block_flags::DISCARD_IF_UNPROCESSABLE,
            CrcType::Crc32c,
            b"only in the first fragment".to_vec(),
        ),
    ]
}

/// Encodes a bundle from its parts, as a sender would.
fn build(
    p: &PrimaryBlock,
    exts: &[Ext],
    payload: &[u8],
    payload_flags: u64,
    payload_crc: CrcType,
) -> Vec<u8> {
    let mut out = vec![0x9f];
    write_primary(p, &mut out);
    for (t, n, f, c, data) in exts {
        write_canonical(&mut out, *t, *n, *f, *c, data);
    }
    write_canonical(&mut out, 1, 1, payload_flags, payload_crc, payload);
    out.push(0xff);
    out
}

fn parse(bytes: &[u8]) -> Bundle {
    wire::parse(bytes).unwrap_or_else(|e| panic!("parse: {e}"))
}

/// The encodings of a bundle's extension blocks, in wire order.
fn ext_bytes(bytes: &[u8], b: &Bundle) -> Vec<Vec<u8>> {
    b.blocks[..b.blocks.len() - 1]
        .iter()
        .map(|x| bytes[x.extent.clone()].to_vec())
        .collect()
}

/// Fragments `bytes` with `max_len` and checks every fragment against RFC 9171 §5.8: it
/// parses, fits, has the original's primary fields, the right offset and total, the right
/// blocks byte for byte, and the payload pieces concatenate to the original payload.
fn fragment_checked(bytes: &[u8], max_len: usize) -> Vec<Vec<u8>> {
    let b = parse(bytes);
    let frags = fragment(bytes, &b, max_len)
        .unwrap_or_else(|e| panic!("fragment to {max_len} of {} bytes: {e}", bytes.len()));
    if bytes.len() <= max_len {
        assert_eq!(frags, vec![bytes.to_vec()], "a bundle that fits is kept");
        return frags;
    }
    assert!(frags.len() >= 2);
    let (base, total) = b
        .primary
        .fragment
        .map_or((0, b.payload.len() as u64), |f| (f.offset, f.total_adu_len));
    let exts = ext_bytes(bytes, &b);
    let replicated: Vec<Vec<u8>> = b.blocks[..b.blocks.len() - 1]
        .iter()
        .filter(|x| {
            x.flags & block_flags::REPLICATE_IN_FRAGMENTS != 0
                || (x.block_type == block_type::BUNDLE_AGE && b.primary.creation.time == 0)
        })
        .map(|x| bytes[x.extent.clone()].to_vec())
        .collect();
    let payload_block = b.blocks.last().unwrap();
    let mut joined = Vec::new();
    for (i, f) in frags.iter().enumerate() {
        assert!(f.len() <= max_len, "fragment {i}: {} > {max_len}", f.len());
        let fb = parse(f);
        let mut want = b.primary.clone();
        want.flags |= flags::IS_FRAGMENT;
        want.fragment = Some(Fragment {
            offset: base + joined.len() as u64,
            total_adu_len: total,
        });
        assert_eq!(fb.primary, want, "fragment {i}");
        let want_exts = if i == 0 { &exts } else { &replicated };
        assert_eq!(&ext_bytes(f, &fb), want_exts, "fragment {i} blocks");
        let last = fb.blocks.last().unwrap();
        assert_eq!(
            (last.number, last.flags, last.crc_type),
            (1, payload_block.flags, payload_block.crc_type)
        );
        assert!(!fb.payload.is_empty());
        joined.extend_from_slice(fb.payload(f));
    }
    assert_eq!(joined, b.payload(bytes));
    frags
}

/// Inserts fragments in the order given and checks that the ADU completes exactly when its
/// bytes are all covered, and then equals `original` (a whole bundle). Fragments arriving after
/// a completion start over, as the reassembler documents. Returns the completions.
fn reassemble(r: &mut Reassembler, frags: &[Vec<u8>], original: &[u8]) -> Vec<Reassembled> {
    let ob = parse(original);
    let total = ob.payload.len();
    let mut covered = vec![false; total];
    let mut done = Vec::new();
    for f in frags {
        let b = parse(f);
        let off = b.primary.fragment.unwrap().offset as usize;
        let mut new = false;
        for c in &mut covered[off..off + b.payload.len()] {
            new |= !*c;
            *c = true;
        }
        let ins = r.insert(T, f, &b);
        assert!(ins.dropped.is_empty());
        let whole = covered.iter().all(|c| *c);
        match ins.status {
            Status::Complete(adu) => {
                assert!(whole, "complete before every byte arrived");
                check_whole(&adu, original);
                done.push(*adu);
                covered.iter_mut().for_each(|c| *c = false);
            }
            Status::Pending => assert!(new && !whole, "pending"),
            Status::Duplicate => assert!(!new && !whole, "duplicate"),
            Status::Rejected(e) => panic!("rejected: {e}"),
        }
    }
    done
}

/// A reassembled ADU is the original bundle again.
fn check_whole(adu: &Reassembled, original: &[u8]) {
    let ob = parse(original);
    assert_eq!(adu.payload, ob.payload(original));
    assert_eq!(adu.primary, ob.primary);
    assert_eq!(adu.expires_ms, T + ob.primary.lifetime_ms);
    let blocks: Vec<Vec<u8>> = adu
        .blocks
        .iter()
        .map(|x| adu.block_bytes[x.extent.clone()].to_vec())
        .collect();
    assert_eq!(blocks, ext_bytes(original, &ob));
    for (got, want) in adu.blocks.iter().zip(&ob.blocks) {
        assert_eq!(
            (got.block_type, got.number, got.flags, got.crc_type),
            (want.block_type, want.number, want.flags, want.crc_type)
        );
        assert_eq!(
            adu.block_bytes[got.data.clone()],
            original[want.data.clone()]
        );
    }
    // Built deterministically from the same fields, the bundle comes back byte for byte.
    assert!(adu.encode() == original, "re-encoded bundle differs");
}

#[test]
fn round_trips_over_sizes_and_limits() {
    let mut rng = Rng(0xf4a6_0001);
    let mut cases = 0;
    for &size in &[
        2usize, 3, 23, 24, 25, 255, 256, 1000, 4097, 65_535, 65_536, 70_000,
    ] {
        for (pc, bc) in [
            (CrcType::Crc32c, CrcType::Crc32c),
            (CrcType::Crc16, CrcType::None),
            (CrcType::None, CrcType::Crc16),
        ] {
            let payload = rng.bytes(size);
            let original = build(&primary(pc), &extensions(), &payload, 0x10, bc);
            let b = parse(&original);
            // Smallest limit that works: the first fragment's need, or a little more for
            // later fragments whose offsets take more bytes.
            let Err(FragmentError::TooSmall { min_len, .. }) = fragment(&original, &b, 0) else {
                panic!("limit 0 must be too small");
            };
            let smallest = (min_len..min_len + 16)
                .find(|m| fragment(&original, &b, *m).is_ok())
                .expect("a limit a few bytes above the first fragment's need");
            if smallest >= original.len() {
                // Only the bundle itself fits: it cannot be split into smaller pieces.
                assert!(size <= 5, "size {size}");
                assert!(matches!(
                    fragment(&original, &b, original.len() - 1),
                    Err(FragmentError::TooSmall { .. })
                ));
                continue;
            }
            assert!(matches!(
                fragment(&original, &b, smallest - 1),
                Err(FragmentError::TooSmall { .. })
            ));
            let mut limits = vec![
                smallest + 1,
                smallest + 7,
                smallest + 24,
                smallest + 300,
                original.len() - 1,
                original.len(),
                original.len() + 100,
            ];
            for _ in 0..4 {
                limits.push(smallest + rng.below(original.len() as u64) as usize);
            }
            if size <= 1000 {
                limits.push(smallest);
            }
            for max_len in limits {
                let mut frags = fragment_checked(&original, max_len);
                rng.shuffle(&mut frags);
                if frags.len() == 1 {
                    continue;
                }
                let mut r = Reassembler::new(MIB_64);
                let done = reassemble(&mut r, &frags, &original);
                assert_eq!(done.len(), 1, "size {size} limit {max_len}");
                assert_eq!((r.pending(), r.held_bytes()), (0, 0));
                cases += 1;
            }
        }
    }
    assert!(cases > 200, "{cases}");
}

#[test]
fn one_byte_payload_and_tiny_limits() {
    let original = build(
        &primary(CrcType::Crc32c),
        &extensions(),
        b"x",
        0,
        CrcType::Crc32c,
    );
    let b = parse(&original);
    assert_eq!(
        fragment(&original, &b, original.len()),
        Ok(vec![original.clone()])
    );
    // One byte cannot be split (RFC 9171 §5.8: 0 < N < M).
    assert_eq!(
        fragment(&original, &b, original.len() - 1),
        Err(FragmentError::TooSmall {
            max_len: original.len() - 1,
            min_len: original.len()
        })
    );
    for max_len in [0, 1, 10, 40] {
        assert!(matches!(
            fragment(&original, &b, max_len),
            Err(FragmentError::TooSmall { .. })
        ));
    }
    // Without extension blocks, a fragment costs three bytes more than the bundle around the
    // same payload (offset, total, smaller payload head): a limit one byte under the bundle
    // leaves M - 3 payload bytes per fragment, nothing for M = 3, one byte each for M = 4.
    for short in [&b"xy"[..], b"xyz"] {
        let original = build(&primary(CrcType::Crc16), &[], short, 0, CrcType::None);
        let b = parse(&original);
        assert!(matches!(
            fragment(&original, &b, original.len() - 1),
            Err(FragmentError::TooSmall { .. })
        ));
    }
    let original = build(&primary(CrcType::Crc16), &[], b"wxyz", 0, CrcType::None);
    let frags = fragment_checked(&original, original.len() - 1);
    assert_eq!(frags.len(), 4);
    let mut r = Reassembler::new(MIB_64);
    assert_eq!(reassemble(&mut r, &frags, &original).len(), 1);
}

#[test]
fn refuses_what_must_not_be_fragmented() {
    let payload = vec![7u8; 500];
    let mut p = primary(CrcType::Crc32c);
    p.flags |= flags::MUST_NOT_FRAGMENT;
    let original = build(&p, &[], &payload, 0, CrcType::Crc32c);
    let b = parse(&original);
    let err = fragment(&original, &b, 100).unwrap_err();
    assert_eq!(err, FragmentError::MustNotFragment);
    assert!(err.to_string().contains("must not be fragmented"));
    // It fits: nothing to fragment, so no refusal.
    assert_eq!(
        fragment(&original, &b, original.len()),
        Ok(vec![original.clone()])
    );
    // Anonymous bundles have no identity to reassemble by (RFC 9171 §4.2.3).
    let mut p = primary(CrcType::Crc32c);
    p.source = Eid::Null;
    p.flags = 0;
    let original = build(&p, &[], &payload, 0, CrcType::Crc32c);
    let b = parse(&original);
    assert_eq!(fragment(&original, &b, 100), Err(FragmentError::Anonymous));
    // A parse of other bytes.
    let other = build(&primary(CrcType::None), &[], b"short", 0, CrcType::None);
    assert_eq!(fragment(&other, &b, 100), Err(FragmentError::Inconsistent));
}

#[test]
fn administrative_records_are_fragmented() {
    // RFC 9171 does not forbid it; §5.7 reassembles before processing the record.
    let mut p = primary(CrcType::Crc32c);
    p.flags = flags::ADMIN_RECORD;
    let payload = Rng(3).bytes(3000);
    let original = build(&p, &extensions(), &payload, 0, CrcType::Crc32c);
    let mut frags = fragment_checked(&original, 1000);
    assert!(frags.len() >= 4);
    frags.reverse();
    let done = reassemble(&mut Reassembler::new(MIB_64), &frags, &original);
    assert_eq!(done[0].primary.flags, flags::ADMIN_RECORD);
}

#[test]
fn replicate_flag_decides_which_blocks_every_fragment_carries() {
    let payload = Rng(4).bytes(5000);
    let original = build(
        &primary(CrcType::Crc32c),
        &extensions(),
        &payload,
        0,
        CrcType::Crc32c,
    );
    let frags = fragment_checked(&original, 1200);
    assert!(frags.len() >= 5);
    for (i, f) in frags.iter().enumerate() {
        let types: Vec<u64> = parse(f).blocks.iter().map(|x| x.block_type).collect();
        if i == 0 {
            assert_eq!(types, [6, 10, 192, 200, 1]);
        } else {
            assert_eq!(types, [6, 192, 1], "fragment {i}");
        }
    }
}

#[test]
fn bundle_age_goes_everywhere_when_creation_time_is_zero() {
    // Every bundle with creation time 0 needs a bundle age block (RFC 9171 §4.4.2).
    let mut p = primary(CrcType::Crc32c);
    p.creation.time = 0;
    let mut exts = extensions();
    exts.push((
        block_type::BUNDLE_AGE,
        9,
        0,
        CrcType::Crc16,
        vec![0x19, 0x03, 0xe8],
    ));
    let payload = Rng(5).bytes(3000);
    let original = build(&p, &exts, &payload, 0, CrcType::Crc32c);
    let frags = fragment_checked(&original, 1000);
    for f in &frags[1..] {
        let types: Vec<u64> = parse(f).blocks.iter().map(|x| x.block_type).collect();
        assert_eq!(types, [6, 192, 7, 1]);
    }
    // Lifetime counted from arrival, less the age (1000 ms).
    let mut r = Reassembler::new(MIB_64);
    let mut last = None;
    for f in &frags {
        last = Some(r.insert(5_000, f, &parse(f)).status);
    }
    let Some(Status::Complete(adu)) = last else {
        panic!("complete");
    };
    assert_eq!(adu.expires_ms, 5_000 + p.lifetime_ms - 1000);
    assert_eq!(adu.encode(), original);
}

#[test]
fn fragments_of_fragments_keep_offsets_of_the_original() {
    let mut rng = Rng(0xf4a6_0002);
    for round in 0..20 {
        let len = 2000 + rng.below(20_000) as usize;
        let payload = rng.bytes(len);
        let original = build(
            &primary(CrcType::Crc32c),
            &extensions(),
            &payload,
            0,
            CrcType::Crc32c,
        );
        let limit = (3000 + rng.below(5000) as usize).min(original.len() - 1);
        let first = fragment_checked(&original, limit);
        // Split some of the fragments again, at smaller limits.
        let mut all = Vec::new();
        for f in &first {
            if rng.below(2) == 0 {
                let again = fragment_checked(f, 400 + rng.below(1500) as usize);
                all.extend(again);
            } else {
                all.push(f.clone());
            }
        }
        rng.shuffle(&mut all);
        let done = reassemble(&mut Reassembler::new(MIB_64), &all, &original);
        assert_eq!(done.len(), 1, "round {round}");
    }
}

#[test]
fn random_orders_duplicates_and_overlaps() {
    let mut rng = Rng(0xf4a6_0003);
    for round in 0..60 {
        let len = 200 + rng.below(40_000) as usize;
        let payload = rng.bytes(len);
        let original = build(
            &primary(CrcType::Crc32c),
            &extensions(),
            &payload,
            0x10,
            CrcType::Crc16,
        );
        // Two fragmentations with different limits overlap each other.
        let mut limit = || (300 + rng.below(4000) as usize).min(original.len() - 1);
        let a = fragment_checked(&original, limit());
        let b = fragment_checked(&original, limit());
        let mut mixed: Vec<Vec<u8>> = a.iter().chain(&b).cloned().collect();
        // Duplicates.
        for _ in 0..rng.below(10) {
            let i = rng.below(mixed.len() as u64) as usize;
            mixed.push(mixed[i].clone());
        }
        rng.shuffle(&mut mixed);
        let mut r = Reassembler::new(MIB_64);
        let done = reassemble(&mut r, &mixed, &original);
        assert!(!done.is_empty(), "round {round}");
        // Whatever arrived after the completion is a new, incomplete reassembly or nothing.
        assert!(r.pending() <= 1);
    }
}

#[test]
fn a_different_total_length_is_kept_apart() {
    let payload = Rng(6).bytes(3000);
    let original = build(
        &primary(CrcType::Crc32c),
        &extensions(),
        &payload,
        0,
        CrcType::Crc32c,
    );
    let frags = fragment_checked(&original, 1000);
    // Same source and creation timestamp, another total length.
    let mut p = primary(CrcType::Crc32c);
    p.flags |= flags::IS_FRAGMENT;
    p.fragment = Some(Fragment {
        offset: 0,
        total_adu_len: 5000,
    });
    let stranger = build(&p, &[], &payload[..500], 0, CrcType::Crc32c);
    let mut r = Reassembler::new(MIB_64);
    let first = r.insert(T, &frags[0], &parse(&frags[0]));
    assert_eq!(first.status, Status::Pending);
    let s = r.insert(T, &stranger, &parse(&stranger));
    assert_eq!(s.status, Status::Pending);
    assert_eq!(r.pending(), 2);
    let mut last = None;
    for f in &frags[1..] {
        last = Some(r.insert(T, f, &parse(f)).status);
    }
    let Some(Status::Complete(adu)) = last else {
        panic!("the genuine ADU completes");
    };
    check_whole(&adu, &original);
    assert_eq!(r.pending(), 1, "the stranger is still waiting");
    let gone = r.expire(T + p.lifetime_ms);
    assert_eq!(gone.len(), 1);
    assert_eq!(
        gone[0].primary.fragment.map(|f| f.total_adu_len),
        Some(5000)
    );
    assert_eq!((r.pending(), r.held_bytes()), (0, 0));
}

#[test]
fn incomplete_adus_expire() {
    let payload = Rng(7).bytes(10_000);
    let mut r = Reassembler::new(MIB_64);
    let mut sources = Vec::new();
    for (i, lifetime) in [1000u64, 5000, 3000].into_iter().enumerate() {
        let mut p = primary(CrcType::Crc32c);
        p.source = Eid::ipn(10 + i as u64, 1);
        p.lifetime_ms = lifetime;
        sources.push(p.source.clone());
        let original = build(&p, &extensions(), &payload, 0, CrcType::Crc32c);
        let frags = fragment_checked(&original, 2000);
        // All but one fragment.
        for f in &frags[1..] {
            assert_eq!(r.insert(T, f, &parse(f)).status, Status::Pending);
        }
    }
    assert_eq!(r.pending(), 3);
    assert_eq!(r.next_expiry(), Some(T + 1000));
    assert!(r.expire(T + 999).is_empty());
    let gone = r.expire(T + 3000);
    let who: Vec<&Eid> = gone.iter().map(|d| &d.primary.source).collect();
    assert_eq!(who, [&sources[0], &sources[2]]);
    for d in &gone {
        assert_eq!(d.reason, DropReason::LifetimeExpired);
        assert_eq!(d.primary.creation, CreationTimestamp { time: T, seq: 42 });
        assert!(d.received > 0 && d.received < 10_000);
        assert_eq!(d.primary.report_to, Eid::ipn(1, 0));
    }
    assert_eq!(r.pending(), 1);
    assert_eq!(r.expire(T + 5000).len(), 1);
    assert_eq!((r.pending(), r.held_bytes(), r.next_expiry()), (0, 0, None));
    // A fragment whose lifetime has already ended is refused.
    let original = build(&primary(CrcType::Crc32c), &[], &payload, 0, CrcType::Crc32c);
    let frags = fragment_checked(&original, 2000);
    let late = r.insert(T + 3_600_000, &frags[0], &parse(&frags[0]));
    assert_eq!(late.status, Status::Rejected(Reject::Expired));
}

#[test]
fn memory_bound_drops_the_oldest_and_refuses_the_impossible() {
    let payload = Rng(8).bytes(10_000);
    let fragments_of = |seq: u64| {
        let mut p = primary(CrcType::Crc32c);
        p.creation.seq = seq;
        let original = build(&p, &extensions(), &payload, 0, CrcType::Crc32c);
        (fragment_checked(&original, 3000), original)
    };
    // Room for three incomplete ADUs, not four.
    let bound = 3 * 10_000 + 3 * 1000;
    let mut r = Reassembler::new(bound);
    let mut sets = Vec::new();
    for seq in 0..3 {
        let (frags, original) = fragments_of(seq);
        let ins = r.insert(T, &frags[1], &parse(&frags[1]));
        assert_eq!(ins.status, Status::Pending);
        assert!(ins.dropped.is_empty());
        sets.push((frags, original));
    }
    assert_eq!(r.pending(), 3);
    assert!(r.held_bytes() <= bound);
    let (frags3, original3) = fragments_of(3);
    let ins = r.insert(T, &frags3[0], &parse(&frags3[0]));
    assert_eq!(ins.status, Status::Pending);
    assert_eq!(ins.dropped.len(), 1);
    assert_eq!(ins.dropped[0].reason, DropReason::MemoryBound);
    assert_eq!(ins.dropped[0].reason.report_code(), 4);
    assert_eq!(ins.dropped[0].primary.creation.seq, 0, "the oldest goes");
    assert_eq!(r.pending(), 3);
    assert!(r.held_bytes() <= bound);
    // The others still complete.
    for (frags, original) in sets.iter().skip(1) {
        complete_rest(&mut r, frags, original);
    }
    complete_rest(&mut r, &frags3, &original3);
    assert_eq!((r.pending(), r.held_bytes()), (0, 0));

    // An ADU longer than the bound is refused at its first fragment.
    let mut small = Reassembler::new(5000);
    let ins = small.insert(T, &sets[0].0[0], &parse(&sets[0].0[0]));
    assert!(matches!(
        ins.status,
        Status::Rejected(Reject::TooLarge { max: 5000, .. })
    ));
    assert_eq!((small.pending(), small.held_bytes()), (0, 0));
}

/// Inserts every fragment into `r`, whose ADU has some of them already, until it completes.
fn complete_rest(r: &mut Reassembler, frags: &[Vec<u8>], original: &[u8]) {
    for f in frags {
        let ins = r.insert(T, f, &parse(f));
        assert!(ins.dropped.is_empty());
        match ins.status {
            Status::Complete(adu) => {
                check_whole(&adu, original);
                return;
            }
            Status::Pending | Status::Duplicate => {}
            Status::Rejected(e) => panic!("{e}"),
        }
    }
    panic!("never completed");
}

#[test]
fn a_fragment_holding_the_whole_adu_completes_at_once() {
    let payload = Rng(12).bytes(5000);
    let original = build(
        &primary(CrcType::Crc32c),
        &extensions(),
        &payload,
        0,
        CrcType::Crc32c,
    );
    let mut p = primary(CrcType::Crc32c);
    p.flags |= flags::IS_FRAGMENT;
    p.fragment = Some(Fragment {
        offset: 0,
        total_adu_len: 5000,
    });
    let whole = build(&p, &extensions(), &payload, 0, CrcType::Crc32c);
    // Even with a bound too small to hold it: nothing is held.
    let mut r = Reassembler::new(100);
    let Status::Complete(adu) = r.insert(T, &whole, &parse(&whole)).status else {
        panic!("complete");
    };
    check_whole(&adu, &original);
    assert_eq!((r.pending(), r.held_bytes()), (0, 0));
}

#[test]
fn refuses_bad_fragments() {
    let payload = Rng(9).bytes(3000);
    let original = build(
        &primary(CrcType::Crc32c),
        &extensions(),
        &payload,
        0,
        CrcType::Crc32c,
    );
    let mut r = Reassembler::new(MIB_64);
    let whole = parse(&original);
    let rejected = |s: Status| match s {
        Status::Rejected(e) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        rejected(r.insert(T, &original, &whole).status),
        Reject::NotAFragment
    );
    let frags = fragment_checked(&original, 1000);
    let fb = parse(&frags[1]);
    // Beyond its total length (a parse made by hand: wire::parse refuses such bundles).
    let mut beyond = fb.clone();
    beyond.primary.fragment = Some(Fragment {
        offset: 2900,
        total_adu_len: 3000,
    });
    assert!(matches!(
        rejected(r.insert(T, &frags[1], &beyond).status),
        Reject::OutOfRange { offset: 2900, .. }
    ));
    beyond.primary.fragment = Some(Fragment {
        offset: u64::MAX,
        total_adu_len: 3000,
    });
    assert!(matches!(
        rejected(r.insert(T, &frags[1], &beyond).status),
        Reject::OutOfRange { .. }
    ));
    beyond.primary.fragment = Some(Fragment {
        offset: 0,
        total_adu_len: u64::MAX,
    });
    assert!(matches!(
        rejected(r.insert(T, &frags[1], &beyond).status),
        Reject::TooLarge { .. }
    ));
    // Anonymous.
    let mut anon = fb.clone();
    anon.primary.source = Eid::Null;
    assert_eq!(
        rejected(r.insert(T, &frags[1], &anon).status),
        Reject::Anonymous
    );
    // Bytes the parse does not describe.
    assert_eq!(
        rejected(r.insert(T, &frags[1][..100], &fb).status),
        Reject::Inconsistent
    );
    // An empty payload.
    let mut p = primary(CrcType::Crc32c);
    p.flags |= flags::IS_FRAGMENT;
    p.fragment = Some(Fragment {
        offset: 10,
        total_adu_len: 3000,
    });
    let empty = build(&p, &[], b"", 0, CrcType::Crc32c);
    assert_eq!(
        rejected(r.insert(T, &empty, &parse(&empty)).status),
        Reject::EmptyPayload
    );
    assert_eq!((r.pending(), r.held_bytes()), (0, 0), "nothing was kept");
}

#[test]
fn mismatched_bytes_and_parses_never_panic() {
    let mut rng = Rng(0xf4a6_0004);
    let mut pool = Vec::new();
    for size in [2usize, 30, 300, 3000] {
        let original = build(
            &primary(CrcType::Crc16),
            &extensions(),
            &rng.bytes(size),
            0,
            CrcType::Crc32c,
        );
        pool.extend(fragment(&original, &parse(&original), 200).unwrap_or_default());
        pool.push(original);
    }
    let parses: Vec<Bundle> = pool.iter().map(|f| parse(f)).collect();
    let mut r = Reassembler::new(100_000);
    for _ in 0..5000 {
        let bytes = &pool[rng.below(pool.len() as u64) as usize];
        let mut b = parses[rng.below(parses.len() as u64) as usize].clone();
        if rng.below(4) == 0 {
            b.primary.fragment = Some(Fragment {
                offset: rng.below(4000),
                total_adu_len: rng.below(4000),
            });
        }
        let cut = rng.below(bytes.len() as u64 + 1) as usize;
        let bytes = if rng.below(3) == 0 {
            &bytes[..cut]
        } else {
            bytes
        };
        let _ = r.insert(T, bytes, &b);
        let _ = fragment(bytes, &b, rng.below(400) as usize);
        assert!(r.held_bytes() <= 100_000);
    }
}

#[test]
fn sixteen_mib_in_65000_byte_fragments() {
    let payload = Rng(10).bytes(16 << 20);
    let original = build(
        &primary(CrcType::Crc32c),
        &extensions(),
        &payload,
        0,
        CrcType::Crc32c,
    );
    let b = parse(&original);
    let started = Instant::now();
    let mut frags = fragment(&original, &b, 65_000).expect("fragment");
    let fragmented = started.elapsed();
    // About 64,900 payload bytes each: 259 fragments.
    assert!((255..=265).contains(&frags.len()), "{}", frags.len());
    assert!(frags.iter().all(|f| f.len() <= 65_000));
    let parses: Vec<Bundle> = frags.iter().map(|f| parse(f)).collect();
    let mut order: Vec<usize> = (0..frags.len()).collect();
    Rng(11).shuffle(&mut order);
    let mut r = Reassembler::new(32 << 20);
    let started = Instant::now();
    let mut result = None;
    for (n, &i) in order.iter().enumerate() {
        match r.insert(T, &frags[i], &parses[i]).status {
            Status::Complete(adu) => {
                assert_eq!(n, order.len() - 1);
                result = Some(adu);
            }
            Status::Pending => {}
            other => panic!("{other:?}"),
        }
    }
    let reassembled = started.elapsed();
    eprintln!(
        "16 MiB: fragmented into {} in {fragmented:?}, reassembled in {reassembled:?}",
        frags.len()
    );
    let adu = result.expect("complete");
    assert!(adu.payload == payload);
    frags.clear();
    assert!(adu.encode() == original);
}

//! Cross-checks the wire codec against bp7 (the BPv7 crate of dtn7-rs, an independent
//! implementation in Rust):
//! - bundles made by [`wire::encode`], and bundles assembled from [`wire::write_primary`] and
//!   [`wire::write_canonical`] with every extension block RFC 9171 §4.4 defines plus unknown
//!   types, decode with `bp7::Bundle::try_from` to the fields they were made from; bp7 finds
//!   their CRCs valid and, where it can represent every field, re-encodes them byte for byte;
//! - bundles made by bp7 (its builders and `new_std_payload_bundle`, with and without CRCs)
//!   decode with [`wire::parse`] to the fields bp7 made them with, and our primary block
//!   encoder writes bp7's primary block byte for byte.
//!
//! bp7 does not check CRCs while decoding and panics on some truncated input, so it is fed
//! valid bundles only. It does not know the three-element `ipn` form of RFC 9758 and folds
//! `ipn:0.N` into `ipn:0.0`; the generators stay within what it represents, or compare
//! through that folding.
//!
//! `write_fuzz_seed_corpus` (ignored; run it by name) writes the same kinds of bundles as
//! seeds for the fuzz targets in `engine/fuzz/`.

use std::path::Path;
use std::time::Duration;

use bp7::EndpointID;
use bp7::bundle::{Block, BundleBuilder};
use bp7::canonical::{CanonicalBlock as Bp7Block, CanonicalBlockBuilder, CanonicalData};
use bp7::crc::{CrcBlock, CrcValue};
use bp7::primary::PrimaryBlockBuilder;
use engine::wire::cbor::{self, Reader};
use engine::wire::{
    self, CrcType, CreationTimestamp, Eid, Fragment, PrimaryBlock, block_flags, block_type, flags,
};

/// Bundles generated in each direction.
const BUNDLES: usize = 600;

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

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize].clone()
    }

    /// A value spread over all CBOR head sizes.
    fn uint(&mut self) -> u64 {
        match self.below(5) {
            0 => self.below(24),
            1 => self.below(256),
            2 => self.below(65_536),
            3 => self.below(1 << 32),
            _ => self.next(),
        }
    }

    fn bytes(&mut self, max: u64) -> Vec<u8> {
        let len = match self.below(4) {
            0 => self.below(24),
            1 => self.below(300),
            _ => self.below(max + 1),
        };
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// An EID that bp7 represents: `dtn:none`, `ipn:N.S` with N > 0, `dtn://node/demux`, and
    /// with `zero_node` also `ipn:0.S` (which bp7 reads as `ipn:0.0`).
    fn eid(&mut self, null: bool, zero_node: bool) -> Eid {
        match self.below(8) {
            0 if null => Eid::Null,
            1 if zero_node => Eid::ipn(0, 1 + self.below(1000)),
            2..=4 => Eid::ipn(self.uint().max(1), self.uint()),
            _ => {
                let chars = b"abcdefgh.-_~:@%0123456789/";
                let node: String = (0..1 + self.below(12))
                    .map(|_| self.pick(&chars[..12]) as char)
                    .collect();
                let demux: String = (0..self.below(30))
                    .map(|_| self.pick(chars) as char)
                    .collect();
                Eid::Dtn(format!("//{node}/{demux}"))
            }
        }
    }

    fn crc(&mut self) -> CrcType {
        self.pick(&[CrcType::None, CrcType::Crc16, CrcType::Crc32c])
    }

    /// Bundle processing control flags: any assigned flag, sometimes reserved bits, never
    /// the fragment flag (that follows the fragment fields) and never status report requests
    /// where RFC 9171 §4.2.3 forbids them.
    fn bundle_flags(&mut self, anonymous: bool, reserved: bool) -> u64 {
        let mut f = 0;
        for bit in [
            flags::ADMIN_RECORD,
            flags::MUST_NOT_FRAGMENT,
            flags::ACK_REQUESTED,
            flags::STATUS_TIME_REQUESTED,
            flags::REPORT_RECEPTION,
            flags::REPORT_FORWARDING,
            flags::REPORT_DELIVERY,
            flags::REPORT_DELETION,
        ] {
            if self.chance(3) {
                f |= bit;
            }
        }
        if reserved && self.chance(4) {
            f |= self.pick(&[0x8, 0x10, 0x80, 0x8000, 1 << 19, 1 << 40, 1 << 63]);
        }
        if anonymous || f & flags::ADMIN_RECORD != 0 {
            f &= !flags::STATUS_REPORTS;
        }
        f
    }

    /// Block processing control flags (bp7 keeps eight bits); "report if unprocessable" only
    /// where RFC 9171 §4.2.4 allows it.
    fn block_flags(&mut self, may_report: bool, reserved: bool) -> u64 {
        let mut f = 0;
        for bit in [
            block_flags::REPLICATE_IN_FRAGMENTS,
            block_flags::REPORT_IF_UNPROCESSABLE,
            block_flags::DELETE_BUNDLE_IF_UNPROCESSABLE,
            block_flags::DISCARD_IF_UNPROCESSABLE,
        ] {
            if self.chance(3) {
                f |= bit;
            }
        }
        if reserved && self.chance(4) {
            f |= self.pick(&[0x08, 0x20, 0x40, 0x80]);
        }
        if !may_report {
            f &= !block_flags::REPORT_IF_UNPROCESSABLE;
        }
        f
    }
}

/// A canonical block as generated: type, number, flags, CRC type and its data bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BlockSpec {
    block_type: u64,
    number: u64,
    flags: u64,
    crc: CrcType,
    data: Vec<u8>,
}

/// A generated bundle: its primary block and its canonical blocks in wire order.
#[derive(Clone, Debug)]
struct Spec {
    primary: PrimaryBlock,
    blocks: Vec<BlockSpec>,
}

impl Spec {
    fn eids(&self) -> [&Eid; 3] {
        [
            &self.primary.destination,
            &self.primary.source,
            &self.primary.report_to,
        ]
    }
}

fn cbor_uint(v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    cbor::write_uint(&mut out, v);
    out
}

fn cbor_eid(e: &Eid) -> Vec<u8> {
    let mut out = Vec::new();
    e.write_cbor(&mut out);
    out
}

fn cbor_pair(a: u64, b: u64) -> Vec<u8> {
    let mut out = Vec::new();
    cbor::write_array(&mut out, 2);
    cbor::write_uint(&mut out, a);
    cbor::write_uint(&mut out, b);
    out
}

/// A valid primary block and payload for the generators of both directions.
fn random_primary(
    rng: &mut Rng,
    payload_len: usize,
    zero_node: bool,
    reserved: bool,
) -> PrimaryBlock {
    let source = rng.eid(true, zero_node);
    let anonymous = source.is_null();
    let fragment = rng.chance(4).then(|| {
        let offset = rng.uint() / 2;
        Fragment {
            offset,
            total_adu_len: offset + payload_len as u64 + rng.below(1000),
        }
    });
    let mut f = rng.bundle_flags(anonymous, reserved);
    if fragment.is_some() {
        f |= flags::IS_FRAGMENT;
    }
    PrimaryBlock {
        flags: f,
        crc_type: rng.crc(),
        destination: rng.eid(false, zero_node),
        source,
        report_to: rng.eid(true, zero_node),
        creation: CreationTimestamp {
            time: if rng.chance(6) { 0 } else { rng.uint() },
            seq: rng.uint(),
        },
        lifetime_ms: rng.uint(),
        fragment,
    }
}

/// A bundle built by our encoder: [`wire::encode`], or the block writers with extension
/// blocks of every kind in random order.
fn our_bundle(rng: &mut Rng) -> (Spec, Vec<u8>) {
    let payload = rng.bytes(5000);
    let mut primary = random_primary(rng, payload.len(), true, true);
    let may_report = !primary.source.is_null() && primary.flags & flags::ADMIN_RECORD == 0;
    let payload_crc = rng.crc();
    if rng.chance(3) {
        // wire::encode writes no bundle age block.
        primary.creation.time = primary.creation.time.max(1);
        let priority = rng.pick(&[None, Some(0), Some(1), Some(2)]);
        let mut bytes = Vec::new();
        wire::encode(&primary, priority, &payload, payload_crc, &mut bytes);
        let mut blocks = Vec::new();
        if let Some(p) = priority {
            blocks.push(BlockSpec {
                block_type: block_type::CLASS_OF_SERVICE,
                number: 2,
                flags: block_flags::REPLICATE_IN_FRAGMENTS | block_flags::DISCARD_IF_UNPROCESSABLE,
                crc: payload_crc,
                data: vec![0x84, 0x00, p, 0x00, 0x00],
            });
        }
        blocks.push(BlockSpec {
            block_type: block_type::PAYLOAD,
            number: 1,
            flags: 0,
            crc: payload_crc,
            data: payload,
        });
        return (Spec { primary, blocks }, bytes);
    }

    let mut blocks = Vec::new();
    let mut numbers = vec![1u64];
    let mut number = |rng: &mut Rng| loop {
        let n = if rng.chance(2) {
            2 + rng.below(20)
        } else {
            rng.uint().max(2)
        };
        if !numbers.contains(&n) {
            numbers.push(n);
            return n;
        }
    };
    let mut kinds = Vec::new();
    if primary.creation.time == 0 || rng.chance(2) {
        kinds.push(block_type::BUNDLE_AGE);
    }
    if rng.chance(2) {
        kinds.push(block_type::HOP_COUNT);
    }
    if rng.chance(2) {
        kinds.push(block_type::PREVIOUS_NODE);
    }
    for _ in 0..rng.below(3) {
        kinds.push(rng.pick(&[
            8,
            13,
            192,
            200,
            255,
            1000,
            65_536,
            block_type::CLASS_OF_SERVICE,
        ]));
    }
    // Fisher-Yates: the extension blocks come in any order before the payload block.
    for i in (1..kinds.len()).rev() {
        kinds.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for kind in kinds {
        let data = match kind {
            block_type::BUNDLE_AGE => cbor_uint(rng.uint()),
            block_type::HOP_COUNT => {
                let limit = 1 + rng.below(255);
                cbor_pair(limit, rng.below(256))
            }
            block_type::PREVIOUS_NODE => cbor_eid(&rng.eid(false, false)),
            _ => rng.bytes(200),
        };
        blocks.push(BlockSpec {
            block_type: kind,
            number: number(rng),
            flags: rng.block_flags(may_report, true),
            crc: rng.crc(),
            data,
        });
    }
    blocks.push(BlockSpec {
        block_type: block_type::PAYLOAD,
        number: 1,
        flags: rng.block_flags(may_report, true),
        crc: payload_crc,
        data: payload,
    });
    let mut bytes = vec![0x9f];
    wire::write_primary(&primary, &mut bytes);
    for b in &blocks {
        wire::write_canonical(&mut bytes, b.block_type, b.number, b.flags, b.crc, &b.data);
    }
    bytes.push(0xff);
    (Spec { primary, blocks }, bytes)
}

/// Whether bp7's EID is ours. bp7 reads `ipn:0.N` as `ipn:0.0` (RFC 9758 §3.4.1 makes it
/// the null endpoint), and writes `ipn:0.0` where we write `dtn:none`.
fn same_eid(ours: &Eid, theirs: &EndpointID) -> bool {
    match ours {
        Eid::Null => theirs.to_string() == "dtn:none" || theirs.to_string() == "ipn:0.0",
        Eid::Ipn { node: 0, .. } => theirs.to_string() == "ipn:0.0",
        Eid::Ipn { .. } | Eid::Dtn(_) => theirs.to_string() == ours.to_string(),
        Eid::IpnAlloc { .. } => false,
    }
}

fn crc_code(c: CrcType) -> u8 {
    c.code() as u8
}

/// Checks a block's data as bp7 decoded it against its bytes.
fn same_data(spec: &BlockSpec, theirs: &CanonicalData) -> bool {
    let d = &spec.data;
    match (spec.block_type, theirs) {
        (block_type::PAYLOAD, CanonicalData::Data(x)) => x == d,
        (block_type::BUNDLE_AGE, CanonicalData::BundleAge(age)) => {
            Reader::new(d).uint() == Ok(*age)
        }
        (block_type::HOP_COUNT, CanonicalData::HopCount(limit, count)) => {
            *d == cbor_pair(u64::from(*limit), u64::from(*count))
        }
        (block_type::PREVIOUS_NODE, CanonicalData::PreviousNode(e)) => {
            Eid::read_cbor(&mut Reader::new(d)).is_ok_and(|ours| same_eid(&ours, e))
        }
        (t, CanonicalData::Unknown(x)) => {
            !matches!(
                t,
                block_type::PAYLOAD
                    | block_type::BUNDLE_AGE
                    | block_type::HOP_COUNT
                    | block_type::PREVIOUS_NODE
            ) && x == d
        }
        _ => false,
    }
}

#[test]
fn our_bundles_decode_identically_in_bp7() {
    let mut rng = Rng(0xb970_0c0d_ec5e_ed01);
    let (mut identical, mut validated, mut blocks_seen) = (0, 0, 0);
    for i in 0..BUNDLES {
        let (spec, bytes) = our_bundle(&mut rng);
        // Our own view first: the bundle is valid and reads back as generated.
        let ours = wire::parse(&bytes).unwrap_or_else(|e| panic!("bundle {i}: {e}: {spec:?}"));
        assert_eq!(ours.primary, spec.primary, "bundle {i}");
        assert_eq!(ours.blocks.len(), spec.blocks.len());

        let mut b7 = bp7::Bundle::try_from(bytes.clone())
            .unwrap_or_else(|e| panic!("bp7 refused bundle {i}: {e:?}: {spec:?}"));
        let p = &b7.primary;
        let sp = &spec.primary;
        assert_eq!(p.bundle_control_flags, sp.flags, "bundle {i}");
        assert_eq!(p.crc.to_code(), crc_code(sp.crc_type), "bundle {i}");
        for (ours, theirs) in spec
            .eids()
            .into_iter()
            .zip([&p.destination, &p.source, &p.report_to])
        {
            assert!(same_eid(ours, theirs), "bundle {i}: {ours} vs {theirs}");
        }
        assert_eq!(
            (p.creation_timestamp.dtntime(), p.creation_timestamp.seqno()),
            (sp.creation.time, sp.creation.seq),
            "bundle {i}"
        );
        assert_eq!(
            p.lifetime.as_millis(),
            u128::from(sp.lifetime_ms),
            "bundle {i}"
        );
        if let Some(f) = sp.fragment {
            assert_eq!(
                (p.fragmentation_offset, p.total_data_length),
                (f.offset, f.total_adu_len),
                "bundle {i}"
            );
        }
        assert_eq!(b7.canonicals.len(), spec.blocks.len(), "bundle {i}");
        for (theirs, want) in b7.canonicals.iter().zip(&spec.blocks) {
            assert_eq!(
                (
                    theirs.block_type,
                    theirs.block_number,
                    u64::from(theirs.block_control_flags),
                    theirs.crc.to_code()
                ),
                (want.block_type, want.number, want.flags, crc_code(want.crc)),
                "bundle {i}"
            );
            assert!(
                same_data(want, theirs.data()),
                "bundle {i}: {want:?} vs {:?}",
                theirs.data()
            );
            blocks_seen += 1;
        }
        // bp7 does not check CRCs while decoding; asked to, it finds ours right.
        // Where bp7 represents every field as we wrote it (not `ipn:0.N`), it finds our CRCs
        // right (it does not check them while decoding), its encoding is ours, byte for byte
        // (both write deterministic CBOR in an indefinite-length bundle array), and without
        // reserved flag bits (which its validation refuses, where RFC 9171 §4.2.3 and §4.2.4
        // say to ignore them) it validates every bundle we make.
        if spec
            .eids()
            .iter()
            .any(|e| matches!(e, Eid::Ipn { node: 0, .. }))
        {
            continue;
        }
        assert!(b7.crc_valid(), "bundle {i}: bp7 finds a CRC wrong");
        assert_eq!(
            b7.to_cbor(),
            bytes,
            "bundle {i}: bp7 re-encodes differently"
        );
        identical += 1;
        let reserved =
            sp.flags & !0x7_4067 != 0 || spec.blocks.iter().any(|b| b.flags & !0x17 != 0);
        if !reserved {
            if let Err(e) = b7.validate() {
                panic!(
                    "bundle {i}: bp7 validation failed: {e:?}: {:?}",
                    spec.primary
                );
            }
            validated += 1;
        }
    }
    println!(
        "bp7 decoded {BUNDLES} of our bundles ({blocks_seen} canonical blocks); \
         {identical} re-encoded byte for byte, {validated} passed bp7's validation"
    );
    assert!(identical > BUNDLES / 2 && validated > BUNDLES / 4);
}

/// A bp7 EID for one of ours (those the generator makes with `zero_node` off).
fn bp7_eid(e: &Eid) -> EndpointID {
    EndpointID::try_from(e.to_string()).unwrap_or_else(|err| panic!("{e}: {err:?}"))
}

fn bp7_crc(c: CrcType) -> CrcValue {
    match c {
        CrcType::None => CrcValue::CrcNo,
        CrcType::Crc16 => CrcValue::Crc16Empty,
        CrcType::Crc32c => CrcValue::Crc32Empty,
    }
}

fn bp7_block(t: u64, number: u64, flags: u64, crc: CrcType, data: CanonicalData) -> Bp7Block {
    CanonicalBlockBuilder::new()
        .block_type(t)
        .block_number(number)
        .block_control_flags(flags as u8)
        .crc(bp7_crc(crc))
        .data(data)
        .build()
        .expect("block with data")
}

/// A bundle built by bp7, from random fields in bp7's range.
fn bp7_bundle(rng: &mut Rng) -> bp7::Bundle {
    let payload = rng.bytes(5000);
    if rng.chance(8) {
        // The helper dtn7-rs uses: must-not-fragment, delivery report requested, a hop count
        // block (limit 32) and the payload block.
        let src = rng.eid(false, false);
        let dst = rng.eid(false, false);
        let mut b = bp7::bundle::new_std_payload_bundle(bp7_eid(&src), bp7_eid(&dst), payload);
        b.set_crc(crc_code(rng.crc()));
        return b;
    }
    let sp = random_primary(rng, payload.len(), false, false);
    let may_report = !sp.source.is_null() && sp.flags & flags::ADMIN_RECORD == 0;
    let mut builder = PrimaryBlockBuilder::new()
        .bundle_control_flags(sp.flags)
        .crc(bp7_crc(sp.crc_type))
        .destination(bp7_eid(&sp.destination))
        .source(bp7_eid(&sp.source))
        .report_to(bp7_eid(&sp.report_to))
        .creation_timestamp(bp7::CreationTimestamp::with_time_and_seq(
            sp.creation.time,
            sp.creation.seq,
        ))
        .lifetime(Duration::from_millis(sp.lifetime_ms));
    if let Some(f) = sp.fragment {
        builder = builder
            .fragmentation_offset(f.offset)
            .total_data_length(f.total_adu_len);
    }
    let primary = builder.build().expect("primary block");
    let mut canonicals = Vec::new();
    let mut next = 2 + rng.below(5);
    let mut number = |rng: &mut Rng| {
        let step = if rng.chance(4) { 1 << 40 } else { 7 };
        next += 1 + rng.below(step);
        next
    };
    if sp.creation.time == 0 || rng.chance(2) {
        let n = number(rng);
        let age = CanonicalData::BundleAge(rng.uint());
        canonicals.push(bp7_block(
            block_type::BUNDLE_AGE,
            n,
            rng.block_flags(may_report, false),
            rng.crc(),
            age,
        ));
    }
    if rng.chance(2) {
        let n = number(rng);
        let hc = CanonicalData::HopCount(1 + rng.below(255) as u8, rng.below(256) as u8);
        canonicals.push(bp7_block(
            block_type::HOP_COUNT,
            n,
            rng.block_flags(may_report, false),
            rng.crc(),
            hc,
        ));
    }
    if rng.chance(2) {
        let n = number(rng);
        let prev = CanonicalData::PreviousNode(bp7_eid(&rng.eid(false, false)));
        canonicals.push(bp7_block(
            block_type::PREVIOUS_NODE,
            n,
            rng.block_flags(may_report, false),
            rng.crc(),
            prev,
        ));
    }
    for _ in 0..rng.below(3) {
        let n = number(rng);
        let t = rng.pick(&[8, 13, 192, 200, 255, 1000, 65_536]);
        let data = CanonicalData::Unknown(rng.bytes(200));
        canonicals.push(bp7_block(
            t,
            n,
            rng.block_flags(may_report, false),
            rng.crc(),
            data,
        ));
    }
    let payload_crc = rng.crc();
    if rng.chance(2) {
        // BundleBuilder orders the blocks by descending number (so the payload comes last)
        // and adds a payload block with no flags and no CRC; the CRC type is set after.
        let mut b = BundleBuilder::new()
            .primary(primary)
            .canonicals(canonicals)
            .payload(payload)
            .build()
            .expect("bundle");
        if let Some(last) = b.canonicals.last_mut() {
            last.set_crc_type(crc_code(payload_crc));
        }
        b
    } else {
        // In the order given: extension blocks shuffled, the payload block last.
        for i in (1..canonicals.len()).rev() {
            canonicals.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let f = rng.block_flags(may_report, false);
        canonicals.push(bp7_block(
            block_type::PAYLOAD,
            1,
            f,
            payload_crc,
            CanonicalData::Data(payload),
        ));
        bp7::Bundle::new(primary, canonicals)
    }
}

/// Our view of a block's data, in bp7's terms.
fn bp7_data_bytes(data: &CanonicalData) -> Vec<u8> {
    match data {
        CanonicalData::Data(d) | CanonicalData::Unknown(d) => d.clone(),
        other => other.to_cbor(),
    }
}

fn our_crc_type(c: &CrcValue) -> CrcType {
    CrcType::from_u64(u64::from(c.to_code())).expect("bp7 writes CRC types 0 to 2")
}

#[test]
fn bp7_bundles_decode_identically_with_parse() {
    let mut rng = Rng(0x0b70_dec0_de5e_ed02);
    let mut blocks_seen = 0;
    let mut crc_types = [0usize; 3];
    for i in 0..BUNDLES {
        let mut b7 = bp7_bundle(&mut rng);
        let bytes = b7.to_cbor();
        let ours =
            wire::parse(&bytes).unwrap_or_else(|e| panic!("bp7 bundle {i} refused: {e}: {b7:?}"));
        let p = &b7.primary;
        let sp = &ours.primary;
        assert_eq!(sp.flags, p.bundle_control_flags, "bundle {i}");
        assert_eq!(sp.crc_type, our_crc_type(&p.crc), "bundle {i}");
        crc_types[sp.crc_type.code() as usize] += 1;
        for (o, t) in [
            (&sp.destination, &p.destination),
            (&sp.source, &p.source),
            (&sp.report_to, &p.report_to),
        ] {
            assert!(same_eid(o, t), "bundle {i}: {o} vs {t}");
        }
        assert_eq!(
            sp.creation,
            CreationTimestamp {
                time: p.creation_timestamp.dtntime(),
                seq: p.creation_timestamp.seqno()
            },
            "bundle {i}"
        );
        assert_eq!(
            u128::from(sp.lifetime_ms),
            p.lifetime.as_millis(),
            "bundle {i}"
        );
        let fragment = p.has_fragmentation().then_some(Fragment {
            offset: p.fragmentation_offset,
            total_adu_len: p.total_data_length,
        });
        assert_eq!(sp.fragment, fragment, "bundle {i}");
        // Our primary block encoder writes bp7's primary block, CRC included.
        let mut primary = Vec::new();
        wire::write_primary(sp, &mut primary);
        assert_eq!(primary, bytes[ours.primary_extent.clone()], "bundle {i}");

        assert_eq!(ours.blocks.len(), b7.canonicals.len(), "bundle {i}");
        for (o, t) in ours.blocks.iter().zip(&b7.canonicals) {
            assert_eq!(
                (o.block_type, o.number, o.flags, o.crc_type),
                (
                    t.block_type,
                    t.block_number,
                    u64::from(t.block_control_flags),
                    our_crc_type(&t.crc)
                ),
                "bundle {i}"
            );
            assert_eq!(
                bytes[o.data.clone()],
                bp7_data_bytes(t.data()),
                "bundle {i}"
            );
            // The block as our writer would make it is the block as bp7 made it.
            let mut block = Vec::new();
            wire::write_canonical(
                &mut block,
                o.block_type,
                o.number,
                o.flags,
                o.crc_type,
                &bytes[o.data.clone()],
            );
            assert_eq!(block, bytes[o.extent.clone()], "bundle {i}");
            assert_eq!(block, t.to_cbor(), "bundle {i}");
            blocks_seen += 1;
        }
        assert_eq!(
            ours.payload(&bytes),
            b7.payload().expect("payload").as_slice()
        );
    }
    println!(
        "parsed {BUNDLES} bundles built by bp7 ({blocks_seen} canonical blocks; primary CRC \
         none/16/32: {crc_types:?})"
    );
    assert!(crc_types.iter().all(|n| *n > BUNDLES / 10));
}

/// Writes seed inputs for the fuzz targets into `engine/fuzz/corpus/`: bundles of every shape
/// from both generators above and the hex vectors of `docs/validation.md`'s tests, and for
/// `node_receive` also sequences of them behind 2-byte length prefixes (the target's format).
/// Run: `cargo test -p bpshim-engine --test wire_bp7 -- --ignored write_fuzz_seed_corpus`.
#[test]
#[ignore = "writes files into engine/fuzz/corpus; run by name"]
fn write_fuzz_seed_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut rng = Rng(0x5eed_c0de_0000_0003);
    let mut bundles: Vec<Vec<u8>> = Vec::new();
    for _ in 0..60 {
        bundles.push(our_bundle(&mut rng).1);
        bundles.push(bp7_bundle(&mut rng).to_cbor());
    }
    // Small payloads keep the seeds short: the fuzzer mutates structure, not bulk.
    bundles.retain(|b| b.len() <= 2048);
    // Bundles the node delivers: for ipn:20.1 and ipn:20.2, current at the target's clock.
    for (service, crc) in [
        (1, CrcType::Crc32c),
        (2, CrcType::Crc16),
        (1, CrcType::None),
    ] {
        let p = PrimaryBlock {
            flags: flags::REPORT_DELIVERY | flags::REPORT_RECEPTION,
            crc_type: crc,
            destination: Eid::ipn(20, service),
            source: Eid::ipn(10, 1),
            report_to: Eid::ipn(10, 0),
            creation: CreationTimestamp {
                time: 800_000_000_000 - 1_000,
                seq: service,
            },
            lifetime_ms: 3_600_000,
            fragment: None,
        };
        let mut out = Vec::new();
        wire::encode(&p, Some(1), b"hello node 20", crc, &mut out);
        bundles.push(out);
        // A fragment of the same, and one for another node (forwarded along the route).
        let mut frag = p.clone();
        frag.fragment = Some(Fragment {
            offset: 5,
            total_adu_len: 20,
        });
        let mut out = Vec::new();
        wire::encode(&frag, None, b"abcde", crc, &mut out);
        bundles.push(out);
        let mut other = p.clone();
        other.destination = Eid::ipn(30, 7);
        let mut out = Vec::new();
        wire::encode(&other, None, b"pass it on", crc, &mut out);
        bundles.push(out);
        // An administrative record (a status report's shape) for ipn:20.1.
        let mut admin = p.clone();
        admin.flags = flags::ADMIN_RECORD;
        let mut out = Vec::new();
        wire::encode(
            &admin,
            None,
            &[
                0x82, 0x01, 0x84, 0x84, 0x81, 0xf5, 0x81, 0xf4, 0x81, 0xf4, 0x81, 0xf4, 0x00, 0x82,
                0x02, 0x82, 0x14, 0x01, 0x82, 0x1b, 0, 0, 0, 0xba, 0x43, 0xb7, 0x3c, 0x18, 0x01,
            ],
            crc,
            &mut out,
        );
        bundles.push(out);
    }
    let three = {
        let mut p = PrimaryBlock {
            flags: 0,
            crc_type: CrcType::Crc16,
            destination: Eid::ipn3(977_000, 20, 1),
            source: Eid::ipn3(1, 2, 3),
            report_to: Eid::Null,
            creation: CreationTimestamp {
                time: 800_000_000_000,
                seq: 0,
            },
            lifetime_ms: 60_000,
            fragment: None,
        };
        let mut out = Vec::new();
        wire::encode(&p, None, b"rfc 9758", CrcType::Crc32c, &mut out);
        p.destination = Eid::ipn3(0, 20, 1);
        wire::encode(&p, Some(2), b"allocator 0", CrcType::None, &mut out);
        out
    };
    bundles.push(three);
    let vectors = [
        // bpv7-anchors.md §3.1 V1 to V10 and the bp7-rs issue vectors of bundle.rs's tests.
        "9f89071844018202820301820100820100821b000000b5998c982b011a000493e042c9f68506021000458202820200850702010042183485010101004454455354ff",
        "9f89071844018202820301820100820100821b000000b5998c982b011a000493e042c9f6850602100045820282020085070401004218348501182101004454455354ff",
        "9f88070000820282030182028201018202820100821b000000bb0e20b4ea001a000927c08508020100410086010100014d48656c6c6f2c20576f726c64214254b3ff",
        "9f88071844008202820301820100820100821b000000b5998c982b011a000493e08506021000458202820200850704010042183485010101004454455354ff",
        "9f89071844018202820301820100820100821b000000b5998c982b011a000493e042c9f6850602100045820282020085070401004218348501010118194454455354ff",
        "9f89071844018202820301820100820100821b000000b5998c982b011a000493e042c9f68506021000458202820200850704010042183485010118f9004454455354ff",
        "9f88070f00820282020182028201018202820100821b000000bb0e20b4ea001a000927c08507020100410086010100014d48656c6c6f2c20576f726c64214254b3ff",
        "9f88070000820282020182028201018202820001821b00ff00bb0e20b4ea001a000927c08507020100410085010100004d48656c6f2c20576f726c642142ff",
        "9f890718440182028203018201008201008200011a000493e042a2218506021000458202820200850718a6010042183485010101004454455354ff",
        "9f89071844018202820301820100820100821b000000b5998c982b011a000493e042c9f6850602182700458202820200850704010042183485010101004454455354ff",
        "9f89071844018202820301820100820100821b000000b5998c982b011a000493e042c9f68506021000458202820200850101010044544553548507040100421834ff",
    ];
    for v in vectors {
        bundles.push(
            (0..v.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&v[i..i + 2], 16).expect("hex"))
                .collect(),
        );
    }
    let write = |target: &str, inputs: &[Vec<u8>]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        for (i, input) in inputs.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:03}")), input).expect("write seed");
        }
        println!("{} seeds in {}", inputs.len(), dir.display());
    };
    write("bundle_parse", &bundles);
    // node_receive: single bundles, and runs of 2 to 5 of them with length prefixes.
    let mut node_inputs = bundles.clone();
    for _ in 0..40 {
        let mut seq = Vec::new();
        for _ in 0..2 + rng.below(4) {
            let b = rng.pick(&bundles);
            let len = u16::try_from(b.len()).expect("seeds are short");
            seq.extend_from_slice(&len.to_be_bytes());
            seq.extend_from_slice(&b);
        }
        node_inputs.push(seq);
    }
    write("node_receive", &node_inputs);
}

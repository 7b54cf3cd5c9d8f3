//! Cross-checks the wire codec against pyd3tn, an independent BPv7 (RFC 9171) implementation
//! in Python, through the helper `scripts/pyd3tn/bundle7_check.py`:
//! - bundles made by [`wire::encode`] must decode in pyd3tn to the fields they were made from,
//!   with valid CRCs;
//! - bundles made by pyd3tn (CRC types, EID schemes, fragments, extension blocks) must decode
//!   with [`wire::parse`] to the fields pyd3tn made them with.
//!
//! Needs `<repo>/.venv` from `scripts/pyd3tn/setup.sh`. Without it the tests fail; they never
//! skip silently.

mod common;

use common::{Json, Rng, helper, hex, parse_object, unhex};
use std::collections::BTreeMap;
use std::fmt::Write as _;

use engine::wire::{
    self, CrcType, CreationTimestamp, Eid, Fragment, PrimaryBlock, block_type, flags,
};

const BUNDLES: usize = 200;

fn block_desc(block_type: u64, number: u64, flags: u64, crc: CrcType, data: &[u8]) -> String {
    format!("{block_type}/{number}/{flags}/{}/{}", crc.code(), hex(data))
}

/// The helper's JSON fields for a bundle given by its primary block, priority and blocks.
fn fields(
    p: &PrimaryBlock,
    priority: Option<u8>,
    payload: &[u8],
    blocks: Vec<String>,
) -> BTreeMap<String, Json> {
    let num = Json::Num;
    let opt = |v: Option<u64>| v.map_or(Json::Null, Json::Num);
    BTreeMap::from([
        ("flags".into(), num(p.flags)),
        ("primary_crc".into(), num(p.crc_type.code())),
        ("destination".into(), Json::Str(p.destination.to_string())),
        ("source".into(), Json::Str(p.source.to_string())),
        ("report_to".into(), Json::Str(p.report_to.to_string())),
        ("creation_time".into(), num(p.creation.time)),
        ("creation_seq".into(), num(p.creation.seq)),
        ("lifetime_ms".into(), num(p.lifetime_ms)),
        ("fragment_offset".into(), opt(p.fragment.map(|f| f.offset))),
        (
            "total_adu_len".into(),
            opt(p.fragment.map(|f| f.total_adu_len)),
        ),
        ("payload".into(), Json::Str(hex(payload))),
        ("crc_ok".into(), Json::Bool(true)),
        ("priority".into(), opt(priority.map(u64::from))),
        ("blocks".into(), Json::Str(blocks.join(" "))),
    ])
}

/// The helper's JSON fields as our parser decodes `bytes`.
fn parsed_fields(bytes: &[u8]) -> BTreeMap<String, Json> {
    let b = wire::parse(bytes).unwrap_or_else(|e| panic!("parse: {e} [{}]", e.reason()));
    let blocks = b
        .blocks
        .iter()
        .map(|x| {
            block_desc(
                x.block_type,
                x.number,
                x.flags,
                x.crc_type,
                &bytes[x.data.clone()],
            )
        })
        .collect();
    fields(&b.primary, b.priority(bytes), b.payload(bytes), blocks)
}

impl Rng {
    fn eid(&mut self, allow_null: bool) -> Eid {
        match self.below(if allow_null { 5 } else { 4 }) {
            // ipn:0.0 is the null endpoint and reads back as dtn:none.
            0 | 1 => match (self.uint(), self.uint()) {
                (0, 0) => Eid::Null,
                (node, service) => Eid::ipn(node, service),
            },
            2 => Eid::ipn(0, 1 + self.below(1000)),
            3 => {
                let chars = b"abcdefgh.-_~:@%0123456789/";
                let node: String = (0..1 + self.below(10))
                    .map(|_| self.pick(&chars[..12]) as char)
                    .collect();
                let demux: String = (0..self.below(30))
                    .map(|_| self.pick(chars) as char)
                    .collect();
                Eid::Dtn(format!("//{node}/{demux}"))
            }
            _ => Eid::Null,
        }
    }
}

const CRCS: [CrcType; 3] = [CrcType::None, CrcType::Crc16, CrcType::Crc32c];

#[test]
fn our_bundles_decode_identically_in_pyd3tn() {
    let mut rng = Rng(0x5eed_0fb0_1dfa_ce01);
    let mut input = String::new();
    let mut expected = Vec::new();
    for _ in 0..BUNDLES {
        let source = rng.eid(true);
        let mut f = 0;
        for bit in [
            flags::MUST_NOT_FRAGMENT,
            flags::ACK_REQUESTED,
            flags::STATUS_TIME_REQUESTED,
            flags::REPORT_RECEPTION,
            flags::REPORT_FORWARDING,
            flags::REPORT_DELIVERY,
            flags::REPORT_DELETION,
            flags::ADMIN_RECORD,
            0x8,
            0x80,
            1 << 21,
            1 << 63,
        ] {
            if rng.below(4) == 0 {
                f |= bit;
            }
        }
        if source.is_null() || f & flags::ADMIN_RECORD != 0 {
            f &= !flags::STATUS_REPORTS;
        }
        let payload: Vec<u8> = (0..rng.pick(&[0u64, 1, 23, 24, 255, 256, 5000, 70_000]))
            .map(|_| rng.next() as u8)
            .collect();
        let fragment = (rng.below(3) == 0).then(|| {
            let offset = rng.below(1 << 40);
            Fragment {
                offset,
                total_adu_len: offset + payload.len() as u64 + rng.below(1000),
            }
        });
        if fragment.is_some() {
            f |= flags::IS_FRAGMENT;
        }
        let p = PrimaryBlock {
            flags: f,
            crc_type: rng.pick(&CRCS),
            destination: rng.eid(false),
            source,
            report_to: rng.eid(true),
            creation: CreationTimestamp {
                // pyd3tn converts DTN time through a float of Unix seconds: exact to 2^41 ms.
                time: 1 + rng.below((1 << 41) - 1),
                seq: rng.uint(),
            },
            lifetime_ms: rng.uint(),
            fragment,
        };
        let priority = rng.pick(&[None, Some(0), Some(1), Some(2)]);
        let payload_crc = rng.pick(&CRCS);

        let mut bytes = Vec::new();
        wire::encode(&p, priority, &payload, payload_crc, &mut bytes);
        assert_eq!(
            bytes.len(),
            wire::encoded_len(&p, priority, payload.len(), payload_crc)
        );
        let mut blocks = Vec::new();
        if let Some(prio) = priority {
            let qos = [0x84, 0x00, prio, 0x00, 0x00];
            blocks.push(block_desc(
                block_type::CLASS_OF_SERVICE,
                2,
                0x11,
                payload_crc,
                &qos,
            ));
        }
        blocks.push(block_desc(1, 1, 0, payload_crc, &payload));
        let want = fields(&p, priority, &payload, blocks);
        // Our own parser agrees with what was encoded...
        assert_eq!(parsed_fields(&bytes), want, "engine round trip");
        writeln!(input, "{}", hex(&bytes)).expect("write to String");
        expected.push(want);
    }

    // ... and so does pyd3tn.
    let out = helper("bundle7_check.py", &["parse"], input);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), expected.len(), "one line per bundle");
    for (i, (line, want)) in lines.iter().zip(&expected).enumerate() {
        let got = parse_object(line);
        assert_eq!(&got, want, "bundle {i}: pyd3tn decodes {line}");
    }
}

#[test]
fn pyd3tn_bundles_decode_identically_here() {
    let out = helper(
        "bundle7_check.py",
        &["generate", &BUNDLES.to_string(), "20240611"],
        String::new(),
    );
    let mut count = 0;
    let mut seen_blocks = BTreeMap::new();
    for (i, line) in out.lines().enumerate() {
        let (hexed, json) = line.split_once('\t').expect("hex<TAB>json");
        let bytes = unhex(hexed);
        let want = parse_object(json);
        assert_eq!(
            want.get("crc_ok"),
            Some(&Json::Bool(true)),
            "pyd3tn's own CRCs"
        );
        let got = parsed_fields(&bytes);
        assert_eq!(got, want, "bundle {i}: {hexed}");
        for blk in wire::parse(&bytes).expect("parsed above").blocks {
            *seen_blocks.entry(blk.block_type).or_insert(0) += 1;
        }
        count += 1;
    }
    assert_eq!(count, BUNDLES);
    // The sample covers every block kind the generator makes.
    for t in [1, 6, 7, 10, 193] {
        assert!(
            seen_blocks.contains_key(&t),
            "no block of type {t} in {seen_blocks:?}"
        );
    }
}

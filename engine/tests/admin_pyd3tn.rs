//! Cross-checks administrative records and forwarding edits against pyd3tn, an independent
//! BPv7 (RFC 9171) implementation in Python, through `scripts/pyd3tn/admin_check.py`:
//! - status report bundles made by [`admin::build_report`] must decode in pyd3tn (its
//!   `BundleStatusReport`) to the fields they were made from, with valid CRCs;
//! - status report bundles made by pyd3tn must decode with [`wire::parse`] and
//!   [`admin::decode_admin`] to the fields pyd3tn made them with;
//! - bundles edited by [`editor::edit_for_forwarding`] (previous node set, bundle age added
//!   to, hop count incremented), from pyd3tn's bundles and ours, must decode in pyd3tn with
//!   the new values and valid CRCs, every untouched block byte-identical.
//!
//! pyd3tn 0.15.2 writes status times in seconds and the subject's total ADU length where
//! RFC 9171 §6.1.1 has its payload length: values are compared as the integers on the wire.
//!
//! Needs `<repo>/.venv` from `scripts/pyd3tn/setup.sh`. Without it the tests fail; they never
//! skip silently.

mod common;

use common::{Json, Rng, helper, hex, parse_object, unhex};
use std::collections::BTreeMap;
use std::fmt::Write as _;

use engine::wire::admin::{self, AdminRecord, ReasonCode, ReportOrigin, StatusKind, StatusReport};
use engine::wire::editor::{self, Forwarding, NewBlock};
use engine::wire::{
    self, CrcType, CreationTimestamp, Eid, Fragment, PrimaryBlock, block_type, flags,
};

const COUNT: usize = 200;

impl Rng {
    /// A non-null EID: `ipn` (node 1 or more) or `dtn`.
    fn eid(&mut self) -> Eid {
        if self.below(3) < 2 {
            Eid::ipn(1 + self.below(u64::MAX), self.uint())
        } else {
            let node: String = (0..1 + self.below(10))
                .map(|_| self.pick(b"abcdefgh.-_~") as char)
                .collect();
            let demux: String = (0..self.below(20))
                .map(|_| self.pick(b"abc/~_-0123") as char)
                .collect();
            Eid::Dtn(format!("//{node}/{demux}"))
        }
    }
}

const CRCS: [CrcType; 3] = [CrcType::None, CrcType::Crc16, CrcType::Crc32c];

/// The extension blocks before the payload as "type/number/flags/crc", in wire order.
fn block_list(b: &wire::Bundle) -> Json {
    let list: Vec<String> = b
        .blocks
        .iter()
        .filter(|x| x.block_type != block_type::PAYLOAD)
        .map(|x| {
            format!(
                "{}/{}/{}/{}",
                x.block_type,
                x.number,
                x.flags,
                x.crc_type.code()
            )
        })
        .collect();
    Json::Str(list.join(" "))
}

fn opt(v: Option<u64>) -> Json {
    v.map_or(Json::Null, Json::Num)
}

/// The helper's report fields for a bundle primary block and status report.
fn report_json(p: &PrimaryBlock, blocks: Json, r: &StatusReport) -> BTreeMap<String, Json> {
    let num = Json::Num;
    let mut m = BTreeMap::from([
        ("flags".into(), num(p.flags)),
        ("primary_crc".into(), num(p.crc_type.code())),
        ("destination".into(), Json::Str(p.destination.to_string())),
        ("source".into(), Json::Str(p.source.to_string())),
        ("report_to".into(), Json::Str(p.report_to.to_string())),
        ("creation_time".into(), num(p.creation.time)),
        ("creation_seq".into(), num(p.creation.seq)),
        ("lifetime_ms".into(), num(p.lifetime_ms)),
        ("crc_ok".into(), Json::Bool(true)),
        ("blocks".into(), blocks),
        ("record_type".into(), num(admin::RECORD_TYPE_STATUS_REPORT)),
        ("reason".into(), num(r.reason.code())),
        ("subject_source".into(), Json::Str(r.source.to_string())),
        ("subject_creation_time".into(), num(r.creation.time)),
        ("subject_creation_seq".into(), num(r.creation.seq)),
        (
            "subject_fragment_offset".into(),
            opt(r.fragment.map(|f| f.0)),
        ),
        (
            "subject_payload_length".into(),
            opt(r.fragment.map(|f| f.1)),
        ),
    ]);
    for (kind, name) in
        StatusKind::ALL
            .into_iter()
            .zip(["received", "forwarded", "delivered", "deleted"])
    {
        let status = r.status(kind);
        m.insert(name.into(), Json::Bool(status.is_some()));
        m.insert(format!("{name}_time"), opt(status.flatten()));
    }
    m
}

/// The report fields as the engine decodes a status report bundle.
fn decoded_report_json(bytes: &[u8]) -> BTreeMap<String, Json> {
    let b = wire::parse(bytes).unwrap_or_else(|e| panic!("parse: {e} [{}]", e.reason()));
    match admin::decode_admin(b.payload(bytes)) {
        Ok(AdminRecord::StatusReport(r)) => report_json(&b.primary, block_list(&b), &r),
        other => panic!("not a status report: {other:?}"),
    }
}

#[test]
fn our_status_reports_decode_identically_in_pyd3tn() {
    let mut rng = Rng(0xad31_0000_5eed_0001);
    let mut input = String::new();
    let mut expected = Vec::new();
    let mut fragments = 0;
    for i in 0..COUNT {
        let kind = StatusKind::ALL[i % 4];
        let mut subject = PrimaryBlock {
            flags: kind.request_flag(),
            crc_type: rng.pick(&CRCS),
            destination: rng.eid(),
            source: rng.eid(),
            report_to: rng.eid(),
            creation: CreationTimestamp {
                time: rng.uint(),
                seq: rng.uint(),
            },
            lifetime_ms: rng.uint(),
            fragment: None,
        };
        if rng.below(2) == 0 {
            subject.flags |= flags::STATUS_TIME_REQUESTED;
        }
        let payload_len = rng.uint();
        if rng.below(3) == 0 {
            subject.flags |= flags::IS_FRAGMENT;
            subject.fragment = Some(Fragment {
                offset: rng.uint(),
                total_adu_len: rng.next(),
            });
            fragments += 1;
        }
        assert!(admin::report_requested(&subject, kind));
        let reason = ReasonCode::from_code(rng.pick(&[
            0,
            1,
            2,
            3,
            4,
            5,
            6,
            7,
            8,
            9,
            10,
            11,
            12,
            255,
            u64::MAX,
        ]));
        let origin = ReportOrigin {
            node: 1 + rng.below(1 << 40),
            creation: CreationTimestamp {
                // pyd3tn converts DTN time through a float of Unix seconds: exact to 2^41 ms;
                // 0 (no clock) brings a bundle age block.
                time: if rng.below(5) == 0 {
                    0
                } else {
                    1 + rng.below((1 << 41) - 1)
                },
                seq: rng.uint(),
            },
            lifetime_ms: rng.uint(),
            now_ms: rng.uint(),
        };
        let mut bytes = Vec::new();
        admin::build_report(&subject, payload_len, kind, reason, &origin, &mut bytes);

        // What the report must say, from the subject.
        let report = StatusReport::about(&subject, payload_len, kind, reason, origin.now_ms);
        assert_eq!(
            report.status(kind),
            Some((subject.flags & flags::STATUS_TIME_REQUESTED != 0).then_some(origin.now_ms))
        );
        let primary = PrimaryBlock {
            flags: flags::ADMIN_RECORD,
            crc_type: CrcType::Crc32c,
            destination: subject.report_to.clone(),
            source: Eid::ipn(origin.node, 0),
            report_to: Eid::Null,
            creation: origin.creation,
            lifetime_ms: origin.lifetime_ms,
            fragment: None,
        };
        let blocks = Json::Str(if origin.creation.time == 0 {
            "7/2/1/2".into()
        } else {
            String::new()
        });
        let want = report_json(&primary, blocks, &report);
        assert_eq!(decoded_report_json(&bytes), want, "engine round trip");
        writeln!(input, "{}", hex(&bytes)).expect("write to String");
        expected.push(want);
    }
    assert!(fragments > 0);

    let out = helper("admin_check.py", &["parse-reports"], input);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), expected.len(), "one line per report");
    for (i, (line, want)) in lines.iter().zip(&expected).enumerate() {
        assert_eq!(
            &parse_object(line),
            want,
            "report {i}: pyd3tn decodes {line}"
        );
    }
}

#[test]
fn pyd3tn_status_reports_decode_identically_here() {
    let out = helper(
        "admin_check.py",
        &["generate-reports", &COUNT.to_string(), "20250101"],
        String::new(),
    );
    let mut count = 0;
    let mut seen = BTreeMap::new();
    for (i, line) in out.lines().enumerate() {
        let (hexed, json) = line.split_once('\t').expect("hex<TAB>json");
        let bytes = unhex(hexed);
        let want = parse_object(json);
        assert_eq!(
            want.get("crc_ok"),
            Some(&Json::Bool(true)),
            "pyd3tn's own CRCs"
        );
        assert_eq!(decoded_report_json(&bytes), want, "report {i}: {hexed}");
        for key in ["received_time", "subject_fragment_offset"] {
            if want.get(key) != Some(&Json::Null) {
                *seen.entry(key).or_insert(0) += 1;
            }
        }
        count += 1;
    }
    assert_eq!(count, COUNT);
    assert_eq!(seen.len(), 2, "times and fragments covered: {seen:?}");
}

/// The helper's parse-bundles fields, as the engine reads an edited bundle.
fn bundle_json(bytes: &[u8]) -> BTreeMap<String, Json> {
    let b = wire::parse(bytes).unwrap_or_else(|e| panic!("parse: {e} [{}]", e.reason()));
    let hop = editor::hop_count(bytes, &b);
    BTreeMap::from([
        ("flags".into(), Json::Num(b.primary.flags)),
        ("creation_time".into(), Json::Num(b.primary.creation.time)),
        ("creation_seq".into(), Json::Num(b.primary.creation.seq)),
        ("crc_ok".into(), Json::Bool(true)),
        ("blocks".into(), block_list(&b)),
        ("payload".into(), Json::Str(hex(b.payload(bytes)))),
        ("hop_limit".into(), opt(hop.map(|h| h.limit))),
        ("hop_count".into(), opt(hop.map(|h| h.count))),
        (
            "previous_node".into(),
            editor::previous_node(bytes, &b).map_or(Json::Null, |e| Json::Str(e.to_string())),
        ),
        ("age_ms".into(), opt(editor::bundle_age(bytes, &b))),
    ])
}

/// Bundles with extension blocks built here, to edit beside pyd3tn's.
fn our_bundles(rng: &mut Rng) -> Vec<Vec<u8>> {
    (0..COUNT / 4)
        .map(|_| {
            let mut p = PrimaryBlock {
                flags: 0,
                crc_type: rng.pick(&CRCS),
                destination: rng.eid(),
                source: rng.eid(),
                report_to: rng.eid(),
                creation: CreationTimestamp {
                    time: 1 + rng.below((1 << 41) - 1),
                    seq: rng.uint(),
                },
                lifetime_ms: rng.uint(),
                fragment: None,
            };
            let mut blocks = Vec::new();
            let mut number = 2 + rng.below(5);
            if rng.below(2) == 0 {
                let limit = 1 + rng.below(255);
                blocks.push(NewBlock::hop_count(
                    number,
                    limit,
                    rng.below(limit),
                    rng.pick(&CRCS),
                ));
                number += 1 + rng.below(3);
            }
            if rng.below(2) == 0 {
                blocks.push(NewBlock::previous_node(number, &rng.eid(), rng.pick(&CRCS)));
                number += 1;
            }
            if rng.below(2) == 0 {
                p.creation.time = 0;
                blocks.push(NewBlock::bundle_age(number, rng.uint(), rng.pick(&CRCS)));
                number += 1;
            }
            blocks.push(NewBlock {
                block_type: 192 + rng.below(100),
                number: number + rng.below(1 << 40),
                flags: rng.pick(&[0, 0x01, 0x10]),
                crc_type: rng.pick(&CRCS),
                data: (0..rng.below(40)).map(|_| rng.next() as u8).collect(),
            });
            let payload: Vec<u8> = (0..rng.below(300)).map(|_| rng.next() as u8).collect();
            let mut out = Vec::new();
            editor::encode_with_blocks(&p, &blocks, &payload, rng.pick(&CRCS), &mut out);
            out
        })
        .collect()
}

#[test]
fn edited_bundles_decode_with_new_values_in_pyd3tn() {
    let mut rng = Rng(0xed17_f0e5_0000_0003);
    let generated = helper(
        "admin_check.py",
        &["generate-bundles", &COUNT.to_string(), "777"],
        String::new(),
    );
    let mut inputs: Vec<Vec<u8>> = generated.lines().map(unhex).collect();
    assert_eq!(inputs.len(), COUNT);
    inputs.extend(our_bundles(&mut rng));

    let mut input = String::new();
    let mut expected = Vec::new();
    // How often each edit met an existing block (replace) or none (insert).
    let mut cases = BTreeMap::new();
    for before in &inputs {
        let b = wire::parse(before).unwrap_or_else(|e| panic!("parse input: {e}"));
        assert_eq!(editor::hop_check(before, &b), editor::HopCheck::Ok);
        let local = 1 + rng.below(1 << 32);
        let add = rng.below(1 << 32);
        let f = Forwarding {
            previous_node: Some(Eid::ipn(local, 0)),
            age_ms_add: Some(add),
            increment_hop: true,
        };
        let after = editor::edit_for_forwarding(before, &b, &f).expect("edit");
        let a = wire::parse(&after).unwrap_or_else(|e| panic!("parse edited: {e}"));

        // What was not edited is byte-identical, what was keeps number, flags and CRC type.
        assert_eq!(
            before[b.primary_extent.clone()],
            after[a.primary_extent.clone()]
        );
        for old in &b.blocks {
            let new = a
                .blocks
                .iter()
                .find(|x| x.number == old.number)
                .expect("block kept");
            assert_eq!(
                (old.block_type, old.flags, old.crc_type),
                (new.block_type, new.flags, new.crc_type)
            );
            if ![
                block_type::PREVIOUS_NODE,
                block_type::BUNDLE_AGE,
                block_type::HOP_COUNT,
            ]
            .contains(&old.block_type)
            {
                assert_eq!(before[old.extent.clone()], after[new.extent.clone()]);
            }
        }

        let old_hop = editor::hop_count(before, &b);
        let old_age = editor::bundle_age(before, &b);
        let had_prev = editor::previous_node(before, &b).is_some();
        *cases.entry(("previous node", had_prev)).or_insert(0) += 1;
        *cases.entry(("age", old_age.is_some())).or_insert(0) += 1;
        *cases.entry(("hop", old_hop.is_some())).or_insert(0) += 1;
        let mut want = bundle_json(&after);
        assert_eq!(want["previous_node"], Json::Str(format!("ipn:{local}.0")));
        assert_eq!(want["age_ms"], opt(old_age.map(|x| x + add)));
        assert_eq!(want["hop_count"], opt(old_hop.map(|h| h.count + 1)));
        assert_eq!(want["hop_limit"], opt(old_hop.map(|h| h.limit)));
        assert_eq!(a.blocks.len(), b.blocks.len() + usize::from(!had_prev));
        want.insert("payload".into(), Json::Str(hex(b.payload(before))));
        writeln!(input, "{}", hex(&after)).expect("write to String");
        expected.push(want);
    }
    for case in [
        ("previous node", false),
        ("previous node", true),
        ("age", false),
        ("age", true),
        ("hop", false),
        ("hop", true),
    ] {
        assert!(
            cases.contains_key(&case),
            "case {case:?} not covered: {cases:?}"
        );
    }

    let out = helper("admin_check.py", &["parse-bundles"], input);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), expected.len(), "one line per bundle");
    for (i, (line, want)) in lines.iter().zip(&expected).enumerate() {
        assert_eq!(
            &parse_object(line),
            want,
            "bundle {i}: pyd3tn decodes {line}"
        );
    }
}

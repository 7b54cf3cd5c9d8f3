//! Cross-checks fragmentation (RFC 9171 §5.8) against pyd3tn, an independent BPv7
//! implementation in Python, through the helper `scripts/pyd3tn/fragments_check.py`: our
//! fragments are written to a temporary directory, pyd3tn parses each one (CRCs checked),
//! reports its fragment fields and extension blocks, and puts the ADU back together by
//! offset; everything must agree with what we made and with the original ADU.
//!
//! Needs `<repo>/.venv` from `scripts/pyd3tn/setup.sh`. Without it the test fails; it never
//! skips silently.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use engine::fragment::fragment;
use engine::wire::bundle::{write_canonical, write_primary};
use engine::wire::{self, CrcType, CreationTimestamp, Eid, PrimaryBlock, block_type, flags};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

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
}

/// An extension block: type, number, flags, CRC type, data.
type Ext = (u64, u64, u64, CrcType, Vec<u8>);

fn build(p: &PrimaryBlock, exts: &[Ext], payload: &[u8], payload_crc: CrcType) -> Vec<u8> {
    let mut out = vec![0x9f];
    write_primary(p, &mut out);
    for (t, n, f, c, data) in exts {
        write_canonical(&mut out, *t, *n, *f, *c, data);
    }
    write_canonical(&mut out, 1, 1, 0, payload_crc, payload);
    out.push(0xff);
    out
}

/// One directory for the helper: the ADU and the fragments, with what pyd3tn must report.
struct Case {
    name: String,
    adu: Vec<u8>,
    frags: Vec<Vec<u8>>,
}

impl Case {
    /// The helper's fields as our own parser sees the fragments.
    fn expected(&self) -> BTreeMap<String, String> {
        let parses: Vec<wire::Bundle> = self
            .frags
            .iter()
            .map(|f| wire::parse(f).expect("our fragments parse"))
            .collect();
        let first = &parses[0].primary;
        let frag = first.fragment.expect("a fragment");
        let pieces: Vec<String> = parses
            .iter()
            .map(|b| {
                let types: Vec<String> = b.blocks[..b.blocks.len() - 1]
                    .iter()
                    .map(|x| x.block_type.to_string())
                    .collect();
                let offset = b.primary.fragment.expect("a fragment").offset;
                format!("{offset}:{}:{}", b.payload.len(), types.join(","))
            })
            .collect();
        [
            ("fragments", self.frags.len().to_string()),
            ("crc_ok", "1".into()),
            ("flags_ok", "1".into()),
            ("same_id", "1".into()),
            ("total", frag.total_adu_len.to_string()),
            ("source", first.source.to_string()),
            (
                "creation",
                format!("{}.{}", first.creation.time, first.creation.seq),
            ),
            ("pieces", pieces.join(";")),
            ("reassembled", "1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn write(&self, dir: &Path) {
        let d = dir.join(&self.name);
        fs::create_dir_all(&d).expect("create case directory");
        fs::write(d.join("adu.bin"), &self.adu).expect("write adu.bin");
        for (i, f) in self.frags.iter().enumerate() {
            fs::write(d.join(format!("frag-{i:04}.bin")), f).expect("write fragment");
        }
    }
}

fn fragments(bytes: &[u8], max_len: usize) -> Vec<Vec<u8>> {
    let b = wire::parse(bytes).expect("test bundle parses");
    let frags = fragment(bytes, &b, max_len).unwrap_or_else(|e| panic!("fragment: {e}"));
    assert!(frags.len() >= 2, "test bundles need fragmenting");
    frags
}

fn cases() -> Vec<Case> {
    let mut rng = Rng(0xf4a6_d3e7);
    let exts: Vec<Ext> = vec![
        (
            6,
            2,
            0x01,
            CrcType::Crc16,
            vec![0x82, 0x02, 0x82, 0x04, 0x00],
        ),
        (10, 3, 0x00, CrcType::Crc32c, vec![0x82, 0x18, 0x1e, 0x02]),
        (192, 4, 0x11, CrcType::None, b"everywhere".to_vec()),
        (200, 5, 0x10, CrcType::Crc32c, b"first only".to_vec()),
    ];
    let crcs = [CrcType::None, CrcType::Crc16, CrcType::Crc32c];
    let mut cases = Vec::new();
    for i in 0..24u64 {
        let source = match i % 3 {
            0 => Eid::ipn(1 + rng.below(1 << 40), rng.below(70_000)),
            1 => Eid::Dtn(format!("//node-{i}/app")),
            _ => Eid::ipn(5, 1),
        };
        let mut p = PrimaryBlock {
            flags: [0, flags::ADMIN_RECORD, flags::REPORT_DELIVERY][i as usize % 3],
            crc_type: crcs[i as usize % 3],
            destination: Eid::ipn(2, 1 + i),
            source,
            report_to: Eid::ipn(1, 0),
            creation: CreationTimestamp {
                // pyd3tn converts DTN time through a float of Unix seconds: exact to 2^41 ms.
                time: 1 + rng.below((1 << 41) - 1),
                seq: rng.below(1 << 20),
            },
            lifetime_ms: 1 + rng.below(1 << 32),
            fragment: None,
        };
        let mut blocks: Vec<Ext> = exts.iter().filter(|_| rng.below(3) != 0).cloned().collect();
        if i % 4 == 3 {
            // No creation time: every fragment needs the bundle age block.
            p.creation.time = 0;
            blocks.push((
                block_type::BUNDLE_AGE,
                9,
                0,
                CrcType::Crc16,
                vec![0x18, 0x64],
            ));
        }
        let size = [10usize, 300, 5000, 70_000][i as usize % 4] + rng.below(100) as usize;
        let adu = rng.bytes(size);
        let original = build(&p, &blocks, &adu, crcs[(i as usize / 3) % 3]);
        let max_len = 60
            + blocks.iter().map(|b| b.4.len() + 16).sum::<usize>()
            + rng.below(size as u64 / 2 + 8) as usize;
        let max_len = max_len.min(original.len() - 1);
        let mut frags = match fragment(&original, &wire::parse(&original).unwrap(), max_len) {
            Ok(f) => f,
            // The limit left no room for payload: fall back to a roomier one.
            Err(_) => fragments(&original, original.len() - 1),
        };
        if i % 5 == 4 && frags.len() >= 2 {
            // Fragments of fragments, overlapping a second fragmentation of the original.
            let again = fragments(&frags[frags.len() - 1], frags[frags.len() - 1].len() - 1);
            frags.extend(again);
            let other_limit = (max_len + 17).min(original.len() - 1);
            frags.extend(
                fragment(&original, &wire::parse(&original).unwrap(), other_limit).unwrap(),
            );
        }
        cases.push(Case {
            name: format!("case-{i:02}"),
            adu,
            frags,
        });
    }
    // A large ADU in datagram-sized fragments.
    let p = PrimaryBlock {
        flags: 0,
        crc_type: CrcType::Crc32c,
        destination: Eid::ipn(2, 1),
        source: Eid::ipn(1, 1),
        report_to: Eid::ipn(1, 1),
        creation: CreationTimestamp {
            time: 800_000_000_000,
            seq: 1,
        },
        lifetime_ms: 3_600_000,
        fragment: None,
    };
    let adu = rng.bytes(3 << 20);
    let original = build(&p, &exts, &adu, CrcType::Crc32c);
    cases.push(Case {
        name: "large".into(),
        frags: fragments(&original, 65_000),
        adu,
    });
    cases
}

#[test]
fn pyd3tn_parses_and_reassembles_our_fragments() {
    let python = repo().join(".venv/bin/python3");
    assert!(
        python.exists(),
        "run scripts/pyd3tn/setup.sh first ({} is missing)",
        python.display()
    );
    let dir = std::env::temp_dir().join(format!("bpshim-fragments-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let cases = cases();
    for c in &cases {
        c.write(&dir);
    }
    let out = Command::new(&python)
        .arg(repo().join("scripts/pyd3tn/fragments_check.py"))
        .args(cases.iter().map(|c| dir.join(&c.name)))
        .output()
        .expect("start the pyd3tn helper");
    assert!(
        out.status.success(),
        "pyd3tn helper failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("helper prints UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), cases.len(), "one line per case");
    let mut fragments_checked = 0;
    for (line, case) in lines.iter().zip(&cases) {
        let mut fields = line.split('\t');
        assert_eq!(fields.next(), Some(case.name.as_str()));
        let got: BTreeMap<String, String> = fields
            .map(|f| {
                let (k, v) = f.split_once('=').expect("key=value");
                (k.to_string(), v.to_string())
            })
            .collect();
        assert_eq!(got, case.expected(), "{}: pyd3tn reports {line}", case.name);
        fragments_checked += case.frags.len();
    }
    assert!(fragments_checked > 100, "{fragments_checked}");
    fs::remove_dir_all(&dir).expect("remove the temporary directory");
}

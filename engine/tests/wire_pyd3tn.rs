//! Cross-checks the wire codec against pyd3tn, an independent BPv7 (RFC 9171) implementation
//! in Python, through the helper `scripts/pyd3tn/bundle7_check.py`:
//! - bundles made by [`wire::encode`] must decode in pyd3tn to the fields they were made from,
//!   with valid CRCs;
//! - bundles made by pyd3tn (CRC types, EID schemes, fragments, extension blocks) must decode
//!   with [`wire::parse`] to the fields pyd3tn made them with.
//!
//! Needs `<repo>/.venv` from `scripts/pyd3tn/setup.sh`. Without it the tests fail; they never
//! skip silently.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use engine::wire::{
    self, CrcType, CreationTimestamp, Eid, Fragment, PrimaryBlock, block_type, flags,
};

const BUNDLES: usize = 200;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the helper with `args`, feeding it `input`, and returns its standard output.
fn helper(args: &[&str], input: String) -> String {
    let python = repo().join(".venv/bin/python3");
    assert!(
        python.exists(),
        "run scripts/pyd3tn/setup.sh first ({} is missing)",
        python.display()
    );
    let mut child = Command::new(&python)
        .arg(repo().join("scripts/pyd3tn/bundle7_check.py"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the pyd3tn helper");
    let mut stdin = child.stdin.take().expect("helper stdin");
    // Written from another thread: the helper's output could fill the pipe before it has
    // read all its input.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("helper output");
    writer
        .join()
        .expect("writer thread")
        .expect("write to helper");
    assert!(
        out.status.success(),
        "pyd3tn helper failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("helper prints UTF-8")
}

/// A JSON value of the helper's flat objects.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Json {
    Str(String),
    Num(u64),
    Bool(bool),
    Null,
}

/// Parses one flat JSON object (string keys; string, unsigned integer, boolean or null values),
/// the only shape the helper prints.
fn parse_object(text: &str) -> BTreeMap<String, Json> {
    struct P<'a> {
        s: &'a [u8],
        i: usize,
    }
    impl P<'_> {
        fn ws(&mut self) {
            while self.s.get(self.i).is_some_and(|b| b.is_ascii_whitespace()) {
                self.i += 1;
            }
        }
        fn eat(&mut self, c: u8) {
            self.ws();
            assert_eq!(self.s.get(self.i), Some(&c), "JSON: expected {}", c as char);
            self.i += 1;
        }
        fn string(&mut self) -> String {
            self.eat(b'"');
            let mut out = String::new();
            loop {
                let b = self.s[self.i];
                self.i += 1;
                match b {
                    b'"' => return out,
                    b'\\' => {
                        let e = self.s[self.i];
                        self.i += 1;
                        match e {
                            b'u' => {
                                let h = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
                                self.i += 4;
                                let c = u32::from_str_radix(h, 16).expect("JSON \\u escape");
                                out.push(char::from_u32(c).expect("JSON: no surrogates here"));
                            }
                            b'n' => out.push('\n'),
                            b't' => out.push('\t'),
                            other => out.push(other as char),
                        }
                    }
                    _ => out.push(b as char),
                }
            }
        }
        fn value(&mut self) -> Json {
            self.ws();
            let rest = &self.s[self.i..];
            if rest.starts_with(b"null") {
                self.i += 4;
                Json::Null
            } else if rest.starts_with(b"true") {
                self.i += 4;
                Json::Bool(true)
            } else if rest.starts_with(b"false") {
                self.i += 5;
                Json::Bool(false)
            } else if rest.first() == Some(&b'"') {
                Json::Str(self.string())
            } else {
                let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                let digits = std::str::from_utf8(&rest[..n]).unwrap();
                self.i += n;
                Json::Num(digits.parse().expect("JSON: unsigned 64-bit integer"))
            }
        }
    }
    let mut p = P {
        s: text.as_bytes(),
        i: 0,
    };
    let mut map = BTreeMap::new();
    p.eat(b'{');
    p.ws();
    if p.s.get(p.i) == Some(&b'}') {
        return map;
    }
    loop {
        let key = p.string();
        p.eat(b':');
        map.insert(key, p.value());
        p.ws();
        match p.s.get(p.i) {
            Some(b',') => p.i += 1,
            Some(b'}') => return map,
            other => panic!("JSON: unexpected {other:?} in {text}"),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        write!(s, "{b:02x}").expect("write to String");
    }
    s
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("helper hex"))
        .collect()
}

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
    let out = helper(&["parse"], input);
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

//! Helpers shared by the integration tests that cross-check against pyd3tn: running a helper
//! script under the repository's venv, its flat JSON output, hex, and a deterministic PRNG.
#![allow(dead_code)] // each test file uses its own subset

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `scripts/pyd3tn/<script>` with `args` under the venv's python, feeding it `input`,
/// and returns its standard output. Fails (never skips) when the venv is missing.
pub fn helper(script: &str, args: &[&str], input: String) -> String {
    let python = repo().join(".venv/bin/python3");
    assert!(
        python.exists(),
        "run scripts/pyd3tn/setup.sh first ({} is missing)",
        python.display()
    );
    let mut child = Command::new(&python)
        .arg(repo().join("scripts/pyd3tn").join(script))
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
pub enum Json {
    Str(String),
    Num(u64),
    Bool(bool),
    Null,
}

/// Parses one flat JSON object (string keys; string, unsigned integer, boolean or null values),
/// the only shape the helper prints.
pub fn parse_object(text: &str) -> BTreeMap<String, Json> {
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

pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        write!(s, "{b:02x}").expect("write to String");
    }
    s
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("helper hex"))
        .collect()
}

/// Deterministic xorshift64* generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize].clone()
    }

    /// A value spread over all CBOR head sizes.
    pub fn uint(&mut self) -> u64 {
        match self.below(5) {
            0 => self.below(24),
            1 => self.below(256),
            2 => self.below(65_536),
            3 => self.below(1 << 32),
            _ => self.next(),
        }
    }
}

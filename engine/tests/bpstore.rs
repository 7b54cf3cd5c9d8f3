//! The `bpstore` inspection tool, run as a program against real store files: stores are built
//! with `engine::store::Store` (as a node writes them), closed, and read back through the tool's
//! human and JSON output. Deletions are checked by reopening the file with SQLite directly.

use engine::config::Durability;
use engine::store::{BundleState, SeenKey, Store, StoreOp, StoredBundle};
use engine::wire::CreationTimestamp;
use std::path::{Path, PathBuf};
use std::process::Command;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

/// A fresh directory for one test (the pid keeps concurrent runs apart).
fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("bpstore-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create the test directory");
    d
}

fn now() -> i64 {
    engine::time::now_ms() as i64
}

/// A bundle stored `age` ms ago that expires `expires_in` ms from now (negative: expired).
fn bundle(
    id: u64,
    state: BundleState,
    dest: &str,
    age: i64,
    expires_in: i64,
    size: usize,
) -> StoredBundle {
    let now = now();
    StoredBundle {
        id,
        state,
        dest: dest.into(),
        source: "ipn:10.1".into(),
        created_ms: (now - age) as u64,
        seq: id,
        frag_offset: -1,
        priority: (id % 3) as u8,
        stored_ms: (now - age) as u64,
        expires_ms: (now + expires_in) as u64,
        bytes: vec![0xb5; size],
    }
}

fn seen(seq: u64) -> SeenKey {
    SeenKey {
        source: "ipn:9.1".into(),
        created_ms: 1000,
        seq,
        frag_offset: -1,
    }
}

/// Writes a store of node 10 holding `ops`, and closes it.
fn write_store(path: &Path, ops: Vec<StoreOp>, ts: CreationTimestamp) {
    let mut s = Store::open(path, 10, Durability::Full).expect("open a new store");
    s.apply(&ops, ts).expect("write the store");
}

/// The store of most tests: five bundles, one per age bucket, two of them expired; three seen
/// keys, one expired.
///
/// | id | state   | dest     | stored  | expires | size |
/// |----|---------|----------|---------|---------|------|
/// | 1  | forward | ipn:20.1 | 10 s    | +1 h    | 100  |
/// | 2  | forward | ipn:20.1 | 5 min   | -1 min  | 200  |
/// | 3  | deliver | ipn:10.1 | 30 min  | +1 h    | 50   |
/// | 4  | forward | ipn:30.1 | 2 h     | -1 h    | 1000 |
/// | 5  | deliver | ipn:10.1 | 48 h    | +100 h  | 10   |
fn standard_store(path: &Path) {
    let n = now() as u64;
    let ops = vec![
        // Written out of id order: listing follows the id (store order), not insertion.
        StoreOp::Put(bundle(
            4,
            BundleState::Forward,
            "ipn:30.1",
            2 * HOUR,
            -HOUR,
            1000,
        )),
        StoreOp::Put(bundle(
            1,
            BundleState::Forward,
            "ipn:20.1",
            10_000,
            HOUR,
            100,
        )),
        StoreOp::Put(bundle(
            2,
            BundleState::Forward,
            "ipn:20.1",
            5 * MIN,
            -MIN,
            200,
        )),
        StoreOp::Put(bundle(
            5,
            BundleState::Deliver,
            "ipn:10.1",
            48 * HOUR,
            100 * HOUR,
            10,
        )),
        StoreOp::Put(bundle(
            3,
            BundleState::Deliver,
            "ipn:10.1",
            30 * MIN,
            HOUR,
            50,
        )),
        StoreOp::Seen(seen(1), n + 3_600_000),
        StoreOp::Seen(seen(2), n - 60_000),
        StoreOp::Seen(seen(3), n + 7_200_000),
    ];
    write_store(
        path,
        ops,
        CreationTimestamp {
            time: 123_456_789,
            seq: 7,
        },
    );
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the tool with `args` and `env` (the caller's `BP_*` settings removed first, so that the
/// tests do not depend on the environment they run in).
fn run_env(args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bpstore"));
    for (k, _) in std::env::vars() {
        if k.starts_with("BP_") {
            c.env_remove(&k);
        }
    }
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().expect("run bpstore");
    Out {
        code: o.status.code(),
        stdout: String::from_utf8(o.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(o.stderr).expect("stderr is UTF-8"),
    }
}

fn run(args: &[&str]) -> Out {
    run_env(args, &[])
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert_eq!(o.code, Some(0), "{args:?}: {o:?}");
    assert!(o.stderr.is_empty(), "{args:?}: {o:?}");
    o.stdout
}

/// Asserts a failure with exit status 1 and a single `bpstore: ` line on stderr; returns it.
fn fails(args: &[&str]) -> String {
    let o = run(args);
    assert_eq!(o.code, Some(1), "{args:?}: {o:?}");
    assert!(o.stderr.starts_with("bpstore: "), "{args:?}: {o:?}");
    assert_eq!(o.stderr.lines().count(), 1, "{args:?}: {o:?}");
    assert!(o.stdout.is_empty(), "{args:?}: {o:?}");
    o.stderr
}

fn count(db: &Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(db).expect("reopen the store");
    c.query_row(sql, [], |r| r.get(0)).expect(sql)
}

// --- A small JSON reader: enough to check that the output is valid JSON and to read it. ---

#[derive(Clone, Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(i128),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(m) => {
                &m.iter()
                    .find(|(k, _)| k == key)
                    .unwrap_or_else(|| panic!("no key {key} in {self:?}"))
                    .1
            }
            _ => panic!("not an object: {self:?}"),
        }
    }
    fn keys(&self) -> Vec<&str> {
        match self {
            Json::Obj(m) => m.iter().map(|(k, _)| k.as_str()).collect(),
            _ => panic!("not an object: {self:?}"),
        }
    }
    fn num(&self) -> i128 {
        match self {
            Json::Num(n) => *n,
            _ => panic!("not a number: {self:?}"),
        }
    }
    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            _ => panic!("not a string: {self:?}"),
        }
    }
    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            _ => panic!("not an array: {self:?}"),
        }
    }
}

fn parse_json(text: &str) -> Json {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value();
    p.ws();
    assert_eq!(p.i, p.s.len(), "trailing text after JSON: {text}");
    v
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && b" \t\r\n".contains(&self.s[self.i]) {
            self.i += 1;
        }
    }
    fn peek(&self) -> u8 {
        *self.s.get(self.i).expect("JSON ends early")
    }
    fn eat(&mut self, b: u8) {
        self.ws();
        assert_eq!(self.peek() as char, b as char, "at byte {}", self.i);
        self.i += 1;
    }
    fn lit(&mut self, word: &str, v: Json) -> Json {
        assert!(
            self.s[self.i..].starts_with(word.as_bytes()),
            "at {}",
            self.i
        );
        self.i += word.len();
        v
    }
    fn value(&mut self) -> Json {
        self.ws();
        match self.peek() {
            b'n' => self.lit("null", Json::Null),
            b't' => self.lit("true", Json::Bool(true)),
            b'f' => self.lit("false", Json::Bool(false)),
            b'"' => Json::Str(self.string()),
            b'[' => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.peek() == b']' {
                    self.i += 1;
                    return Json::Arr(a);
                }
                loop {
                    a.push(self.value());
                    self.ws();
                    match self.peek() {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Json::Arr(a);
                        }
                        c => panic!("unexpected {:?} at {}", c as char, self.i),
                    }
                }
            }
            b'{' => {
                self.i += 1;
                let mut m = Vec::new();
                self.ws();
                if self.peek() == b'}' {
                    self.i += 1;
                    return Json::Obj(m);
                }
                loop {
                    self.ws();
                    let k = self.string();
                    self.eat(b':');
                    let v = self.value();
                    assert!(!m.iter().any(|(x, _)| *x == k), "duplicate key {k}");
                    m.push((k, v));
                    self.ws();
                    match self.peek() {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Json::Obj(m);
                        }
                        c => panic!("unexpected {:?} at {}", c as char, self.i),
                    }
                }
            }
            _ => {
                let start = self.i;
                if self.peek() == b'-' {
                    self.i += 1;
                }
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.s[start..self.i]).unwrap();
                Json::Num(
                    t.parse()
                        .unwrap_or_else(|_| panic!("bad number at {start}")),
                )
            }
        }
    }
    fn hex4(&mut self) -> u32 {
        let h = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
        self.i += 4;
        u32::from_str_radix(h, 16).expect("\\u needs 4 hex digits")
    }
    fn string(&mut self) -> String {
        self.eat(b'"');
        let mut out = Vec::new();
        loop {
            let b = self.peek();
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).expect("UTF-8 string"),
                b'\\' => {
                    let e = self.peek();
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4();
                            let cp = if (0xd800..0xdc00).contains(&hi) {
                                assert!(self.s[self.i..].starts_with(b"\\u"), "lone surrogate");
                                self.i += 2;
                                let lo = self.hex4();
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            char::from_u32(cp).expect("valid code point")
                        }
                        _ => panic!("bad escape \\{}", e as char),
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                // RFC 8259: control characters must be escaped.
                b if b < 0x20 => panic!("raw control character {b:#x} in a string"),
                b => out.push(b),
            }
        }
    }
}

// --- The tests. ---

#[test]
fn summary_counts_by_state_destination_and_age() {
    let d = tmp("summary");
    let db = d.join("s.db");
    standard_store(&db);

    let j = parse_json(&ok(&["--store", db.to_str().unwrap(), "--json"]));
    assert_eq!(j.get("store").str(), db.to_str().unwrap());
    assert_eq!(j.get("node").num(), 10);
    let b = j.get("bundles");
    assert_eq!(b.keys(), ["forward", "deliver", "fragment", "report"]);
    assert_eq!(b.get("fragment").get("count").num(), 0);
    assert_eq!(b.get("forward").get("count").num(), 3);
    assert_eq!(b.get("forward").get("bytes").num(), 1300);
    assert_eq!(b.get("deliver").get("count").num(), 2);
    assert_eq!(b.get("deliver").get("bytes").num(), 60);

    // Most bundles first, then most bytes.
    let dests: Vec<(&str, i128, i128)> = j
        .get("by_destination")
        .arr()
        .iter()
        .map(|x| {
            (
                x.get("dest").str(),
                x.get("count").num(),
                x.get("bytes").num(),
            )
        })
        .collect();
    assert_eq!(
        dests,
        [
            ("ipn:20.1", 2, 300),
            ("ipn:10.1", 2, 60),
            ("ipn:30.1", 1, 1000)
        ]
    );
    assert_eq!(j.get("more_destinations").num(), 0);

    let ages: Vec<(&str, i128, i128)> = j
        .get("by_age")
        .arr()
        .iter()
        .map(|x| {
            (
                x.get("bucket").str(),
                x.get("count").num(),
                x.get("bytes").num(),
            )
        })
        .collect();
    assert_eq!(
        ages,
        [
            ("<1 min", 1, 100),
            ("1-10 min", 1, 200),
            ("10-60 min", 1, 50),
            ("1-24 h", 1, 1000),
            (">24 h", 1, 10)
        ]
    );
    assert_eq!(j.get("expired").num(), 2);
    assert_eq!(j.get("expired_bytes").num(), 1200);
    assert_eq!(j.get("seen").num(), 3);
    assert_eq!(j.get("seen_expired").num(), 1);
    // The store keeps a reservation 2 s ahead of the last timestamp used.
    assert_eq!(j.get("timestamps_reserved").get("time").num(), 123_458_789);
    assert_eq!(j.get("timestamps_reserved").get("seq").num(), 0);
    let file = std::fs::metadata(&db).unwrap().len() as i128;
    assert!(j.get("db_bytes").num() >= file.min(4096), "{j:?}");
    assert_eq!(
        j.get("file_bytes").num(),
        j.get("db_bytes").num() + j.get("wal_bytes").num()
    );
    // The exact fragments the format documents.
    let raw = ok(&["--json", "summary", "--store", db.to_str().unwrap()]);
    assert!(
        raw.contains("\"forward\": {\"count\": 3, \"bytes\": 1300}"),
        "{raw}"
    );
    assert!(
        raw.contains("{\"bucket\": \">24 h\", \"count\": 1, \"bytes\": 10}"),
        "{raw}"
    );

    // The same figures for a person, in aligned columns with units.
    let text = ok(&["--store", db.to_str().unwrap()]);
    let line = |start: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line '{start}' in\n{text}"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(line("node"), ["node", "ipn:10.0"]);
    assert_eq!(line("forward"), ["forward", "3", "1.3", "KiB"]);
    assert_eq!(line("deliver"), ["deliver", "2", "60", "B"]);
    assert_eq!(line("ipn:20.1"), ["ipn:20.1", "2", "300", "B"]);
    assert_eq!(line("<1 min"), ["<1", "min", "1", "100", "B"]);
    assert_eq!(line("1-24 h"), ["1-24", "h", "1", "1000", "B"]);
    assert_eq!(line(">24 h"), [">24", "h", "1", "10", "B"]);
    assert!(
        line("bundles").join(" ").contains("5 (1.3 KiB), 2 expired"),
        "{text}"
    );
    assert!(
        line("seen keys").join(" ").contains("3 (1 expired)"),
        "{text}"
    );
    // 123458789 ms after 2000-01-01T00:00:00Z (the last timestamp used plus the 2 s reservation).
    assert!(
        line("ts reserved to")
            .join(" ")
            .contains("2000-01-02T10:17:38.789Z"),
        "{text}"
    );
    // Right-aligned counts: the "count" header ends where the numbers end.
    let head = text.lines().find(|l| l.starts_with("state")).unwrap();
    let fwd = text.lines().find(|l| l.starts_with("forward")).unwrap();
    assert_eq!(
        head.find("count").unwrap() + 5,
        fwd.find(" 3 ").unwrap() + 2
    );
}

#[test]
fn summary_lists_twenty_destinations_and_counts_the_rest() {
    let d = tmp("top20");
    let db = d.join("s.db");
    // Destination k gets k bundles: the top 20 are ipn:25.1 down to ipn:6.1.
    let mut ops = Vec::new();
    let mut id = 0;
    for k in 1..=25u64 {
        for _ in 0..k {
            id += 1;
            let dest = format!("ipn:{k}.1");
            ops.push(StoreOp::Put(bundle(
                id,
                BundleState::Forward,
                &dest,
                0,
                HOUR,
                1,
            )));
        }
    }
    write_store(&db, ops, CreationTimestamp::default());
    let j = parse_json(&ok(&["--store", db.to_str().unwrap(), "--json"]));
    let dests: Vec<&str> = j
        .get("by_destination")
        .arr()
        .iter()
        .map(|x| x.get("dest").str())
        .collect();
    let want: Vec<String> = (6..=25).rev().map(|k| format!("ipn:{k}.1")).collect();
    assert_eq!(dests, want);
    assert_eq!(j.get("more_destinations").num(), 5);
    assert_eq!(j.get("bundles").get("forward").get("count").num(), 325);
    assert_eq!(j.get("timestamps_reserved").get("time").num(), 2000);

    let text = ok(&["--store", db.to_str().unwrap()]);
    assert!(text.contains("\n... 5 more\n"), "{text}");
    assert!(!text.contains("ipn:5.1"), "{text}");
}

#[test]
fn list_is_oldest_first_and_filters() {
    let d = tmp("list");
    let db = d.join("s.db");
    standard_store(&db);
    let s = db.to_str().unwrap();
    let ids = |args: &[&str]| -> Vec<i128> {
        let mut a = vec!["--store", s, "--json", "list"];
        a.extend_from_slice(args);
        parse_json(&ok(&a))
            .arr()
            .iter()
            .map(|x| x.get("id").num())
            .collect()
    };
    assert_eq!(ids(&[]), [1, 2, 3, 4, 5]);
    assert_eq!(ids(&["--limit", "2"]), [1, 2]);
    assert_eq!(ids(&["--limit=0"]), Vec::<i128>::new());
    assert_eq!(ids(&["--state", "deliver"]), [3, 5]);
    assert_eq!(ids(&["--state", "forward"]), [1, 2, 4]);
    assert_eq!(ids(&["--dest", "ipn:20.1"]), [1, 2]);
    assert_eq!(ids(&["--dest", "ipn:99.1"]), Vec::<i128>::new());
    assert_eq!(ids(&["--state", "forward", "--dest", "ipn:30.1"]), [4]);
    assert_eq!(ids(&["--state", "forward", "--limit", "2"]), [1, 2]);

    // Every field of one entry.
    let all = parse_json(&ok(&["--store", s, "--json", "list"]));
    let e = &all.arr()[1];
    assert_eq!(
        e.keys(),
        [
            "id",
            "state",
            "priority",
            "source",
            "dest",
            "created_ms",
            "created",
            "seq",
            "frag_offset",
            "size",
            "stored_ms",
            "age_s",
            "expires_ms",
            "expires_in_s",
            "expired"
        ]
    );
    assert_eq!(e.get("state").str(), "forward");
    assert_eq!(e.get("priority").str(), "expedited"); // id 2 % 3
    assert_eq!(e.get("source").str(), "ipn:10.1");
    assert_eq!(e.get("dest").str(), "ipn:20.1");
    assert_eq!(e.get("seq").num(), 2);
    assert_eq!(e.get("frag_offset"), &Json::Null);
    assert_eq!(e.get("size").num(), 200);
    assert!((299..=302).contains(&e.get("age_s").num()), "{e:?}");
    assert!((-62..=-60).contains(&e.get("expires_in_s").num()), "{e:?}");
    assert_eq!(e.get("expired"), &Json::Bool(true));
    assert!(e.get("created").str().ends_with('Z'));
    assert_eq!(all.arr()[0].get("expired"), &Json::Bool(false));
    assert_eq!(all.arr()[0].get("priority").str(), "standard");
    assert_eq!(all.arr()[2].get("priority").str(), "bulk");

    // For a person: a header and one aligned row per bundle, oldest first.
    let text = ok(&["--store", s, "list"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    assert!(lines[0].starts_with("id  state"), "{text}");
    assert!(lines[0].contains("created (UTC)") && lines[0].contains("expires in (s)"));
    let cols: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        &cols[..5],
        ["2", "forward", "expedited", "ipn:10.1", "ipn:20.1"]
    );
    assert!(cols[6].ends_with('Z') && cols[6].len() == 24, "{text}");
    assert_eq!(cols[8], "-"); // not a fragment
    assert_eq!(&cols[9..11], ["200", "B"]);
    assert!(cols[12].starts_with('-'), "expired: {text}");
    // Ids are right-aligned under the "id" header.
    let first: Vec<&str> = lines.iter().map(|l| &l.trim_start()[..1]).collect();
    assert_eq!(first, ["i", "1", "2", "3", "4", "5"]);
    // Aligned: the state column starts at the same place on every line.
    let at: Vec<usize> = lines[1..]
        .iter()
        .map(|l| l.find(|c: char| c.is_ascii_alphabetic()).unwrap())
        .collect();
    assert!(at.iter().all(|&x| x == at[0]), "{text}");

    // A store the node opened but never wrote to.
    let empty = d.join("empty.db");
    drop(Store::open(&empty, 10, Durability::Full).unwrap());
    let j = parse_json(&ok(&["--store", empty.to_str().unwrap(), "--json"]));
    assert_eq!(j.get("timestamps_reserved"), &Json::Null);
    assert_eq!(j.get("by_destination"), &Json::Arr(vec![]));
    let text = ok(&["--store", empty.to_str().unwrap()]);
    assert!(text.contains("ts reserved to  none"), "{text}");
    assert_eq!(
        ok(&["--store", empty.to_str().unwrap(), "list"]),
        "no bundles\n"
    );
    assert_eq!(
        ok(&["--store", empty.to_str().unwrap(), "list", "--json"]),
        "[]\n"
    );
}

#[test]
fn json_escapes_whatever_the_store_holds() {
    let d = tmp("escape");
    let db = d.join("s.db");
    let strange = "ipn:\"20\\.1\n\t\u{1}\u{1f}é✓𝄞";
    let mut b = bundle(1, BundleState::Forward, strange, 0, HOUR, 5);
    b.source = "dtn://a/\u{7f}\r".into();
    b.frag_offset = 4096;
    write_store(&db, vec![StoreOp::Put(b)], CreationTimestamp::default());
    let s = db.to_str().unwrap();
    let l = parse_json(&ok(&["--store", s, "--json", "list"]));
    assert_eq!(l.arr()[0].get("dest").str(), strange);
    assert_eq!(l.arr()[0].get("source").str(), "dtn://a/\u{7f}\r");
    assert_eq!(l.arr()[0].get("frag_offset").num(), 4096);
    let j = parse_json(&ok(&["--store", s, "--json"]));
    assert_eq!(j.get("by_destination").arr()[0].get("dest").str(), strange);
    // Human output escapes control characters instead of printing them.
    let text = ok(&["--store", s, "list"]);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(!text.contains('\u{1}') && !text.contains('\t'), "{text:?}");
}

#[test]
fn delete_expired_deletes_exactly_the_expired() {
    let d = tmp("delete");
    let db = d.join("s.db");
    standard_store(&db);
    let s = db.to_str().unwrap();
    let out = ok(&["--store", s, "--json", "delete-expired"]);
    let j = parse_json(&out);
    assert_eq!(j.get("deleted_bundles").num(), 2, "{out}");
    assert_eq!(j.get("deleted_bytes").num(), 1200, "{out}");
    assert_eq!(j.get("deleted_seen").num(), 1, "{out}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM bundles"), 3);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM bundles WHERE id IN (1, 3, 5)"),
        3
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM seen"), 2);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM seen WHERE seq = 2"), 0);
    // The store is still the node's: it opens and resumes.
    let st = Store::open(&db, 10, Durability::Full).expect("the node reopens its store");
    let l = st.load().unwrap();
    assert_eq!(
        l.bundles.iter().map(|b| b.id).collect::<Vec<_>>(),
        [1, 3, 5]
    );
    assert_eq!(l.last_ts.seq, 0);
    drop(st);

    // Nothing left to delete; the person's form says so.
    let text = ok(&["--store", s, "delete-expired"]);
    assert_eq!(
        text,
        "deleted 0 expired bundles (0 B) and 0 expired seen keys\n"
    );
    let j = parse_json(&ok(&["--store", s, "--json"]));
    assert_eq!(j.get("expired"), &Json::Num(0));
}

#[test]
fn delete_expired_refused_while_the_node_runs() {
    let d = tmp("busy");
    let db = d.join("s.db");
    standard_store(&db);
    let s = db.to_str().unwrap();
    let mut node = Store::open(&db, 10, Durability::Full).expect("the 'node' holds the store");
    // A commit of the running node, still in its WAL: readers see it.
    node.apply(
        &[StoreOp::Put(bundle(
            6,
            BundleState::Forward,
            "ipn:20.1",
            0,
            HOUR,
            1,
        ))],
        CreationTimestamp { time: 1, seq: 8 },
    )
    .unwrap();
    let msg = fails(&["--store", s, "delete-expired"]);
    assert!(msg.contains("in use"), "{msg}");
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    assert!(msg.contains(s), "{msg}");
    // Reading needs no lock.
    let j = parse_json(&ok(&["--store", s, "--json"]));
    assert_eq!(j.get("expired").num(), 2);
    assert_eq!(j.get("bundles").get("forward").get("count").num(), 4);
    assert_eq!(j.get("timestamps_reserved").get("seq").num(), 0);
    assert!(j.get("wal_bytes").num() > 0, "{j:?}");
    assert_eq!(ok(&["--store", s, "list"]).lines().count(), 7);
    drop(node);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM bundles"), 6);
    let j = parse_json(&ok(&["--store", s, "--json", "delete-expired"]));
    assert_eq!(j.get("deleted_bundles").num(), 2);
}

#[test]
fn missing_garbage_and_foreign_files_are_refused() {
    let d = tmp("bad");
    let missing = d.join("none.db");
    for cmd in ["summary", "list", "delete-expired"] {
        let m = fails(&["--store", missing.to_str().unwrap(), cmd]);
        assert!(m.contains("no such file"), "{m}");
        assert!(m.contains(missing.to_str().unwrap()), "{m}");
    }
    // Looking must not create the store (nor its lock).
    assert!(!missing.exists());

    let garbage = d.join("garbage.db");
    std::fs::write(&garbage, vec![0x55u8; 8192]).unwrap();
    for cmd in ["summary", "list", "delete-expired"] {
        let m = fails(&["--store", garbage.to_str().unwrap(), cmd]);
        assert!(
            m.contains("not a usable store") || m.contains("not a database"),
            "{m}"
        );
    }

    // A valid SQLite database, but not a store.
    let foreign = d.join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let m = fails(&["--store", foreign.to_str().unwrap()]);
    assert!(m.contains("not a usable store"), "{m}");
    // A store of another layout version.
    let other = d.join("other.db");
    write_store(&other, vec![], CreationTimestamp::default());
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute("UPDATE meta SET value = 99 WHERE key = 'schema'", [])
        .unwrap();
    let m = fails(&["--store", other.to_str().unwrap()]);
    assert!(m.contains("layout version 99"), "{m}");
    // A directory.
    let m = fails(&["--store", d.to_str().unwrap()]);
    assert!(m.contains(d.to_str().unwrap()), "{m}");
}

/// Every command on a damaged store either works or fails with one clear line: exit 0 or 1,
/// never a panic (which, with `panic = "abort"`, would be a signal).
#[test]
fn damaged_stores_never_panic() {
    let d = tmp("damaged");
    let base = |name: &str| -> PathBuf {
        let p = d.join(format!("{name}.db"));
        let mut ops = Vec::new();
        for id in 1..=120 {
            let dest = format!("ipn:{}.1", id % 7);
            ops.push(StoreOp::Put(bundle(
                id,
                BundleState::Forward,
                &dest,
                1000,
                -1000,
                2000,
            )));
        }
        ops.push(StoreOp::Seen(seen(1), 5));
        write_store(&p, ops, CreationTimestamp { time: 1, seq: 1 });
        p
    };
    let sql = |p: &Path, sql: &str| {
        rusqlite::Connection::open(p)
            .unwrap()
            .execute_batch(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    };
    let mut cases: Vec<(&str, PathBuf, bool)> = Vec::new();

    // Values no node writes, but all integers: everything still works.
    let p = base("values");
    sql(
        &p,
        "UPDATE bundles SET state = 9, priority = 7, frag_offset = -5, size = -3, seq = -1, \
         stored_ms = 9223372036854775807, expires_ms = -9223372036854775808, \
         created_ms = -9223372036854775808 WHERE id = 1;
         UPDATE bundles SET stored_ms = -9223372036854775808, expires_ms = 9223372036854775807, \
         created_ms = 9223372036854775807, dest = CAST(X'FF41' AS TEXT), source = X'00FF' \
         WHERE id = 2;
         UPDATE meta SET value = -1 WHERE key = 'ts_time';",
    );
    cases.push(("values", p, true));

    // Wrong types, a missing table, sums that overflow, meta gone: read errors, not panics.
    let p = base("types");
    sql(
        &p,
        "UPDATE bundles SET created_ms = 'abc', size = 1.5 WHERE id = 3;",
    );
    cases.push(("types", p, false));
    let p = base("meta");
    sql(&p, "UPDATE meta SET value = 'x' WHERE key = 'node';");
    cases.push(("meta", p, false));
    let p = base("overflow");
    sql(
        &p,
        "UPDATE bundles SET size = 9223372036854775807 WHERE id < 5;",
    );
    cases.push(("overflow", p, false));
    let p = base("no-bundles");
    sql(&p, "DROP TABLE bundles;");
    cases.push(("no-bundles", p, false));
    let p = base("no-seen");
    sql(&p, "DROP TABLE seen;");
    cases.push(("no-seen", p, false));

    // Damaged bytes: pages overwritten, the file cut short.
    let p = base("pages");
    let mut bytes = std::fs::read(&p).unwrap();
    assert!(bytes.len() > 64 * 1024, "the store spans many pages");
    let mut x: u32 = 12345;
    for b in bytes.iter_mut().skip(4096) {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 16) as u8;
    }
    std::fs::write(&p, &bytes).unwrap();
    cases.push(("pages", p, false));
    let p = base("cut");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    cases.push(("cut", p, false));
    let p = base("header");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..100]).unwrap();
    cases.push(("header", p, false));

    for (name, p, must_work) in &cases {
        for args in [
            &["summary"][..],
            &["summary", "--json"],
            &["list"],
            &["list", "--json"],
            &["list", "--state", "forward", "--limit", "3"],
            &["delete-expired"],
        ] {
            let mut a = vec!["--store", p.to_str().unwrap()];
            a.extend_from_slice(args);
            let o = run(&a);
            match o.code {
                Some(0) => {
                    if args.contains(&"--json") {
                        parse_json(&o.stdout);
                    }
                }
                Some(1) if !must_work => {
                    assert!(
                        o.stderr.starts_with("bpstore: store "),
                        "{name} {a:?}: {o:?}"
                    );
                    assert_eq!(o.stderr.lines().count(), 1, "{name} {a:?}: {o:?}");
                }
                _ => panic!("{name} {a:?}: {o:?}"),
            }
        }
    }

    // The odd values are shown for what they are.
    let p = &cases[0].1;
    let l = parse_json(&ok(&["--store", p.to_str().unwrap(), "--json", "list"]));
    // delete-expired removed the others (all expired); ids 1 (expired) went too, 2 stays.
    let e = &l.arr()[0];
    assert_eq!(e.get("id").num(), 2);
    assert_eq!(e.get("dest").str(), "\u{fffd}A");
    assert_eq!(e.get("source").str(), "\u{0}\u{fffd}");
    assert_eq!(e.get("expired"), &Json::Bool(false));
}

#[test]
fn node_picks_the_default_store() {
    let d = tmp("node");
    let dir = d.join("stores");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("ipn-10.db");
    standard_store(&db);
    let store_dir = format!("{}/", dir.display());
    let env = [("BP_STORE", store_dir.as_str())];
    for args in [&["--node", "10"][..], &["--node=ipn:10.0"]] {
        let mut a = args.to_vec();
        a.push("--json");
        let o = run_env(&a, &env);
        assert_eq!(o.code, Some(0), "{o:?}");
        let j = parse_json(&o.stdout);
        assert_eq!(j.get("store").str(), db.to_str().unwrap());
        assert_eq!(j.get("node").num(), 10);
    }
    // Without --node: BP_NODE's store.
    let o = run_env(&["--json"], &[("BP_STORE", &store_dir), ("BP_NODE", "10")]);
    assert_eq!(o.code, Some(0), "{o:?}");
    assert_eq!(parse_json(&o.stdout).get("node").num(), 10);
    // XDG_STATE_HOME when BP_STORE is not set.
    let xdg = d.join("xdg");
    let xdb = xdg.join("bpshim").join("ipn-10.db");
    standard_store(&xdb);
    let o = run_env(
        &["--node", "10", "--json"],
        &[("XDG_STATE_HOME", xdg.to_str().unwrap())],
    );
    assert_eq!(o.code, Some(0), "{o:?}");
    assert_eq!(
        parse_json(&o.stdout).get("store").str(),
        xdb.to_str().unwrap()
    );

    // A node without a store here: the message says which store was looked for.
    let o = run_env(&["--node", "11"], &env);
    assert_eq!(o.code, Some(1), "{o:?}");
    assert!(o.stderr.contains("ipn-11.db"), "{o:?}");
    assert!(o.stderr.contains("no such file"), "{o:?}");
    assert!(o.stderr.contains("node ipn:11.0"), "{o:?}");
    // A bad node number is a usage error.
    let o = run_env(&["--node", "ipn:x.0"], &env);
    assert_eq!(o.code, Some(2), "{o:?}");
    assert!(o.stderr.starts_with("bpstore: --node ipn:x.0: "), "{o:?}");
    assert!(o.stderr.contains("usage: bpstore"), "{o:?}");
}

#[test]
fn usage() {
    let help = ok(&["--help"]);
    assert!(help.starts_with("usage: bpstore"), "{help}");
    assert!(help.contains("delete-expired"), "{help}");
    assert_eq!(ok(&["-h", "list"]), help);
    for bad in [
        &["--frob"][..],
        &["frob"],
        &["--store"],
        &["--store", "a", "--node", "2"],
        &["--limit", "3"],
        &["summary", "--state", "deliver"],
        &["list", "--limit", "-1"],
        &["list", "--state", "sent"],
        &["list", "extra"],
        &["--json=1"],
    ] {
        let o = run(bad);
        assert_eq!(o.code, Some(2), "{bad:?}: {o:?}");
        assert!(o.stderr.starts_with("bpstore: "), "{bad:?}: {o:?}");
        assert!(o.stderr.contains("usage: bpstore"), "{bad:?}: {o:?}");
        assert!(o.stdout.is_empty(), "{bad:?}: {o:?}");
    }
    // An argument that is not UTF-8 is a usage error too, not a panic.
    use std::os::unix::ffi::OsStrExt;
    let o = Command::new(env!("CARGO_BIN_EXE_bpstore"))
        .arg("--store")
        .arg(std::ffi::OsStr::from_bytes(b"\xff.db"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not UTF-8"),
        "{o:?}"
    );
}

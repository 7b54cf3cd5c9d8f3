//! `bpstore`: looks inside a node's durable store (the SQLite file of `engine::store`), for an
//! operator asking "what is this node holding, for whom, since when?", and clears out bundles
//! whose lifetime has ended while the node is stopped.
//!
//! ```text
//! bpstore [--store FILE | --node N] [--json] [COMMAND]
//!   summary          (default) counts and bytes by state, destination and age; expired;
//!                    seen keys; node; creation timestamps reserved; size on disk
//!   list [--limit N] [--state forward|deliver|fragment|report] [--dest EID]
//!                    one line per bundle, oldest (smallest store id) first
//!   delete-expired   deletes the bundles and seen keys whose expiry is at or before now
//! ```
//!
//! `summary` and `list` open the store read-only and without its lock: SQLite's WAL lets them
//! read a consistent snapshot while the node writes, and they never change the file.
//! `delete-expired` takes the node's lock ([`Store::open_for_maintenance`]), so it is refused
//! while a node runs on the store (the node drops expired bundles by itself anyway); the
//! deletions are one transaction.
//!
//! Which store: `--store FILE`; else `--node N` (`N` or `ipn:N.0`): the store node N would use
//! with the current environment (`BP_STORE`, `BP_CONFIG`, `XDG_STATE_HOME`, `HOME`); else the
//! store of the environment's node (`BP_NODE`, default 1).
//!
//! Times in the store are DTN times: milliseconds since 2000-01-01T00:00:00Z. Ages and
//! expiries are measured against the clock when the command runs.
//!
//! Exit status: 0 done; 1 the store could not be read or changed (missing file, not a bpshim
//! store, damaged, in use), with one line `bpstore: ...` on stderr; 2 bad arguments, with the
//! usage text.
//!
//! # Human output
//! Aligned columns; byte counts in B, KiB, MiB or GiB. `list` prints a header and one row per
//! bundle: store id, state, priority, source, destination, creation time (DTN ms, and as UTC
//! ISO-8601, `unknown` for 0: a source without a clock), sequence number, fragment offset (`-`
//! for a whole bundle), size, age since stored (s), time to expiry (s, negative once expired).
//!
//! # JSON output (`--json`)
//! One document on stdout; strings are escaped as RFC 8259 asks, whatever the store holds.
//!
//! `summary`:
//! ```text
//! {"store": "/path/ipn-10.db", "node": 10, "now_ms": 767000000000,
//!  "bundles": {"forward": {"count": 3, "bytes": 1300}, "deliver": {"count": 2, "bytes": 60}, "fragment": {"count": 0, "bytes": 0}, "report": {"count": 0, "bytes": 0}},
//!  "by_destination": [{"dest": "ipn:20.1", "count": 2, "bytes": 300}, ...],
//!  "more_destinations": 0,
//!  "by_age": [{"bucket": "<1 min", "count": 1, "bytes": 100}, ...],
//!  "expired": 2, "expired_bytes": 1200, "seen": 3, "seen_expired": 1,
//!  "timestamps_reserved": {"time": 123456789, "seq": 7},
//!  "file_bytes": 20480, "db_bytes": 16384, "wal_bytes": 4096}
//! ```
//! `bundles` has an `"other"` entry only when rows carry a state code other than 1 (forward) or
//! 2 (deliver). `by_destination` holds the 20 destinations with the most bundles (then most
//! bytes, then by name); `more_destinations` counts the rest. `by_age` always has the five
//! buckets `<1 min`, `1-10 min`, `10-60 min`, `1-24 h`, `>24 h` (by `stored_ms`; a bundle
//! stored "in the future", after a clock step, counts as `<1 min`). `node` is null if the
//! store does not record it; `timestamps_reserved` is null before the node first committed anything: the node reserves
//! creation times up to this one (no bundle made before has a later timestamp; a restart goes on
//! after it).
//! `file_bytes` is `db_bytes` + `wal_bytes` (the `-wal` file, 0 if absent).
//!
//! `list`: an array, one object per bundle:
//! ```text
//! [{"id": 1, "state": "forward", "priority": "standard", "source": "ipn:10.1",
//!   "dest": "ipn:20.1", "created_ms": 767000000000, "created": "2024-04-22T07:33:20.000Z",
//!   "seq": 0, "frag_offset": null, "size": 100, "stored_ms": 767000000000, "age_s": 10,
//!   "expires_ms": 767003600000, "expires_in_s": 3590, "expired": false}]
//! ```
//! `created` is null for creation time 0; `frag_offset` is null for a whole bundle. A state or
//! priority code the tool does not know is named `unknown(N)`.
//!
//! `delete-expired`: `{"deleted_bundles": 2, "deleted_bytes": 1200, "deleted_seen": 1}`.

use engine::config::Config;
use engine::store::{BundleState, Store};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row, TransactionBehavior};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
usage: bpstore [--store FILE | --node N] [--json] [COMMAND]

Inspects a bpshim node's store. summary and list only read (safe while the node runs).

commands:
  summary          counts and bytes by state, destination and age (the default)
  list [--limit N] [--state forward|deliver|fragment|report] [--dest EID]
                   one line per bundle, oldest first
  delete-expired   deletes expired bundles and seen keys (refused while a node runs)

options:
  --store FILE     the store file
  --node N         the store node N (N or ipn:N.0) uses in this environment
                   (BP_STORE, XDG_STATE_HOME, HOME); default: BP_NODE's, else node 1's
  --json           JSON output
  -h, --help       this text
";

/// errno of `Store::open_for_maintenance` when a node holds the store.
const EBUSY: i32 = 16;
/// errno of the store's opening functions for a missing file.
const ENOENT: i32 = 2;

/// How long a read waits if the node is in the middle of a WAL checkpoint or recovery (rare;
/// WAL readers do not otherwise wait for the writer).
const BUSY_WAIT: Duration = Duration::from_secs(5);

/// The age buckets of `summary`: label and upper bound (ms, exclusive) of the age.
const AGE_BUCKETS: [(&str, i64); 5] = [
    ("<1 min", 60_000),
    ("1-10 min", 600_000),
    ("10-60 min", 3_600_000),
    ("1-24 h", 86_400_000),
    (">24 h", i64::MAX),
];

/// How many destinations `summary` lists.
const TOP_DESTINATIONS: i64 = 20;

/// Why the tool stopped.
enum Failure {
    /// Bad arguments: exit 2, with the usage text.
    Usage(String),
    /// The store could not be found, read or changed: exit 1.
    Error(String),
}

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Summary,
    List {
        limit: Option<u64>,
        state: Option<BundleState>,
        dest: Option<String>,
    },
    DeleteExpired,
}

#[derive(Debug)]
struct Opts {
    store: Option<PathBuf>,
    node: Option<String>,
    json: bool,
    command: Command,
}

fn main() -> ExitCode {
    // `std::env::args` would panic on an argument that is not UTF-8.
    let args: Result<Vec<String>, String> = std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string()
                .map_err(|a| format!("argument {} is not UTF-8", a.to_string_lossy()))
        })
        .collect();
    let opts = match args.and_then(|a| parse_args(&a)) {
        Ok(Some(o)) => o,
        Ok(None) => return emit(USAGE),
        Err(msg) => {
            let _ = write!(std::io::stderr(), "bpstore: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(out) => emit(&out),
        Err(Failure::Usage(msg)) => {
            let _ = write!(std::io::stderr(), "bpstore: {msg}\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Error(msg)) => {
            let _ = writeln!(std::io::stderr(), "bpstore: {msg}");
            ExitCode::from(1)
        }
    }
}

/// Writes the output in one go. `println!` would panic on a closed pipe (`bpstore list | head`);
/// a reader that stopped reading is not an error worth a message.
fn emit(out: &str) -> ExitCode {
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "bpstore: cannot write the output: {e}");
            ExitCode::from(1)
        }
    }
}

/// Parses the arguments (after the program name); `Ok(None)` asks for the usage text.
/// Options may come before or after the command; `--name=value` works as `--name value`.
fn parse_args(args: &[String]) -> Result<Option<Opts>, String> {
    let mut store: Option<PathBuf> = None;
    let mut node: Option<String> = None;
    let mut json = false;
    let mut command: Option<String> = None;
    let mut limit: Option<u64> = None;
    let mut state: Option<BundleState> = None;
    let mut dest: Option<String> = None;
    // List options seen, to refuse them with another command rather than ignore them.
    let mut list_opts: Vec<&'static str> = Vec::new();

    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |opt: &str| -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{opt} needs a value")),
            }
        };
        match name {
            "-h" | "--help" => return Ok(None),
            "--json" => {
                if inline.is_some() {
                    return Err("--json takes no value".into());
                }
                json = true;
            }
            "--store" => {
                if store.replace(PathBuf::from(value("--store")?)).is_some() {
                    return Err("--store given twice".into());
                }
            }
            "--node" => {
                if node.replace(value("--node")?).is_some() {
                    return Err("--node given twice".into());
                }
            }
            "--limit" => {
                let v = value("--limit")?;
                let n = v
                    .parse::<u64>()
                    .map_err(|_| format!("--limit '{v}' is not a non-negative integer"))?;
                limit = Some(n);
                list_opts.push("--limit");
            }
            "--state" => {
                let v = value("--state")?;
                state = Some(match v.as_str() {
                    "forward" => BundleState::Forward,
                    "deliver" => BundleState::Deliver,
                    "fragment" => BundleState::Fragment,
                    "report" => BundleState::Report,
                    _ => {
                        return Err(format!(
                            "--state '{v}': expected forward, deliver, fragment or report"
                        ));
                    }
                });
                list_opts.push("--state");
            }
            "--dest" => {
                dest = Some(value("--dest")?);
                list_opts.push("--dest");
            }
            s if s.starts_with('-') && s != "-" => return Err(format!("unknown option '{s}'")),
            word => {
                if let Some(c) = &command {
                    return Err(format!("unexpected '{word}' after the command '{c}'"));
                }
                command = Some(word.to_string());
            }
        }
    }
    if store.is_some() && node.is_some() {
        return Err("give --store or --node, not both".into());
    }
    let command = match command.as_deref().unwrap_or("summary") {
        "summary" => Command::Summary,
        "list" => Command::List { limit, state, dest },
        "delete-expired" => Command::DeleteExpired,
        other => return Err(format!("unknown command '{other}'")),
    };
    if !matches!(command, Command::List { .. })
        && let Some(o) = list_opts.first()
    {
        return Err(format!("{o} applies to the list command only"));
    }
    Ok(Some(Opts {
        store,
        node,
        json,
        command,
    }))
}

/// Which store, and the node whose default store it is (for the hint when it is missing).
fn resolve_store(o: &Opts) -> Result<(PathBuf, Option<u64>), Failure> {
    if let Some(p) = &o.store {
        return Ok((p.clone(), None));
    }
    // The node's own settings decide where its store is (BP_STORE may be a directory, BP_CONFIG
    // may set it), so read them as the node would, with only the node number replaced.
    let cfg = Config::from_env_with(|k| {
        if k == "BP_NODE"
            && let Some(n) = &o.node
        {
            return Some(n.clone());
        }
        std::env::var(k).ok()
    })
    .map_err(|e| match &o.node {
        Some(n) if e.setting == "BP_NODE" => Failure::Usage(format!("--node {n}: {}", e.reason)),
        _ => Failure::Error(format!("cannot tell where the store is: {e}")),
    })?;
    Ok((cfg.store_path(), Some(cfg.node)))
}

fn run(o: &Opts) -> Result<String, Failure> {
    let (path, default_of) = resolve_store(o)?;
    let now = i64::try_from(engine::time::now_ms()).unwrap_or(i64::MAX);
    // A default store that is not there usually means the wrong node or environment: say which
    // store was looked for.
    let not_found = |e: engine::store::StoreError| match default_of {
        Some(n) if e.errno == ENOENT => {
            format!("{e} (the store of node ipn:{n}.0 here; give --store FILE or --node N)")
        }
        _ => e.to_string(),
    };
    let read = || -> Result<Store, Failure> {
        let store = Store::open_read_only(&path).map_err(|e| Failure::Error(not_found(e)))?;
        store
            .connection()
            .busy_timeout(BUSY_WAIT)
            .map_err(|e| Failure::Error(format!("store {}: {e}", path.display())))?;
        Ok(store)
    };
    let in_store = |e: String| Failure::Error(format!("store {}: {e}", path.display()));
    match &o.command {
        Command::Summary => {
            let store = read()?;
            let s = summary(store.connection(), &path, now).map_err(in_store)?;
            Ok(if o.json {
                summary_json(&s)
            } else {
                summary_text(&s)
            })
        }
        Command::List { limit, state, dest } => {
            let store = read()?;
            let rows =
                list(store.connection(), *limit, *state, dest.as_deref()).map_err(in_store)?;
            Ok(if o.json {
                list_json(&rows, now)
            } else {
                list_text(&rows, now)
            })
        }
        Command::DeleteExpired => {
            let store = Store::open_for_maintenance(&path).map_err(|e| {
                Failure::Error(if e.errno == EBUSY {
                    // The node expires bundles itself; deleting under it would go behind its
                    // back.
                    format!("{e}; stop the node to delete (summary and list work while it runs)")
                } else {
                    not_found(e)
                })
            })?;
            delete_expired(&store, now, o.json).map_err(Failure::Error)
        }
    }
}

/// Adds what was being read to a SQLite error.
fn ctx(what: &'static str) -> impl Fn(rusqlite::Error) -> String {
    move |e| format!("cannot read {what}: {e}")
}

/// A text column, whatever a damaged store put there: invalid UTF-8 is replaced rather than
/// refused, so that one bad row does not hide all the others.
fn text(r: &Row<'_>, i: usize) -> rusqlite::Result<String> {
    Ok(match r.get_ref(i)? {
        ValueRef::Text(b) | ValueRef::Blob(b) => String::from_utf8_lossy(b).into_owned(),
        ValueRef::Integer(v) => v.to_string(),
        ValueRef::Real(v) => v.to_string(),
        ValueRef::Null => String::new(),
    })
}

/// Count and bytes.
#[derive(Clone, Copy, Default)]
struct Tally {
    count: i64,
    bytes: i64,
}

struct Summary {
    path: PathBuf,
    now: i64,
    node: Option<i64>,
    forward: Tally,
    deliver: Tally,
    /// Fragments waiting for the rest of their ADU.
    fragment: Tally,
    /// Status reports waiting in local error queues.
    report: Tally,
    /// Rows whose state code is none of the above (a damaged or newer store).
    other: Tally,
    by_dest: Vec<(String, Tally)>,
    more_dests: i64,
    by_age: [Tally; 5],
    expired: Tally,
    seen: i64,
    seen_expired: i64,
    last_ts: Option<(i64, i64)>,
    db_bytes: u64,
    wal_bytes: u64,
}

fn summary(conn: &Connection, path: &Path, now: i64) -> Result<Summary, String> {
    // One read transaction: every figure comes from the same snapshot even while the node
    // commits between our queries.
    let tx = conn
        .unchecked_transaction()
        .map_err(ctx("(begin a read)"))?;
    let tally = |r: &Row<'_>, i: usize| -> rusqlite::Result<Tally> {
        Ok(Tally {
            count: r.get(i)?,
            bytes: r.get(i + 1)?,
        })
    };
    let (mut forward, mut deliver, mut fragment, mut report, mut other) = (
        Tally::default(),
        Tally::default(),
        Tally::default(),
        Tally::default(),
        Tally::default(),
    );
    {
        let mut q = tx
            .prepare("SELECT state, COUNT(*), COALESCE(SUM(size), 0) FROM bundles GROUP BY state")
            .map_err(ctx("bundles"))?;
        let mut rows = q.query([]).map_err(ctx("bundles"))?;
        while let Some(r) = rows.next().map_err(ctx("bundles"))? {
            let t = tally(r, 1).map_err(ctx("bundles"))?;
            let slot = match r.get::<_, i64>(0).ok().and_then(BundleState::from_code) {
                Some(BundleState::Forward) => &mut forward,
                Some(BundleState::Deliver) => &mut deliver,
                Some(BundleState::Fragment) => &mut fragment,
                Some(BundleState::Report) => &mut report,
                None => &mut other,
            };
            slot.count += t.count;
            slot.bytes = slot.bytes.saturating_add(t.bytes);
        }
    }
    let mut by_dest = Vec::new();
    {
        let mut q = tx
            .prepare(
                "SELECT dest, COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM bundles \
                 GROUP BY dest ORDER BY n DESC, b DESC, dest LIMIT ?1",
            )
            .map_err(ctx("destinations"))?;
        let mut rows = q.query([TOP_DESTINATIONS]).map_err(ctx("destinations"))?;
        while let Some(r) = rows.next().map_err(ctx("destinations"))? {
            by_dest.push((
                text(r, 0).map_err(ctx("destinations"))?,
                tally(r, 1).map_err(ctx("destinations"))?,
            ));
        }
    }
    let dests: i64 = tx
        .query_row("SELECT COUNT(DISTINCT dest) FROM bundles", [], |r| r.get(0))
        .map_err(ctx("destinations"))?;
    let mut by_age = [Tally::default(); 5];
    {
        // Compared as `stored_ms > now - bound` rather than `now - stored_ms < bound`: no
        // overflow whatever a damaged row holds.
        let mut sql = String::from("SELECT CASE");
        for (i, (_, bound)) in AGE_BUCKETS.iter().enumerate().take(AGE_BUCKETS.len() - 1) {
            let _ = write!(sql, " WHEN stored_ms > ?1 - {bound} THEN {i}");
        }
        let _ = write!(
            sql,
            " ELSE {} END AS bucket, COUNT(*), COALESCE(SUM(size), 0) FROM bundles GROUP BY bucket",
            AGE_BUCKETS.len() - 1
        );
        let mut q = tx.prepare(&sql).map_err(ctx("ages"))?;
        let mut rows = q.query([now]).map_err(ctx("ages"))?;
        while let Some(r) = rows.next().map_err(ctx("ages"))? {
            let i: i64 = r.get(0).map_err(ctx("ages"))?;
            if let Some(slot) = usize::try_from(i).ok().and_then(|i| by_age.get_mut(i)) {
                *slot = tally(r, 1).map_err(ctx("ages"))?;
            }
        }
    }
    let expired = tx
        .query_row(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM bundles WHERE expires_ms <= ?1",
            [now],
            |r| tally(r, 0),
        )
        .map_err(ctx("expiries"))?;
    let (seen, seen_expired): (i64, i64) = tx
        .query_row(
            "SELECT COUNT(*), COALESCE(SUM(expires_ms <= ?1), 0) FROM seen",
            [now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(ctx("seen keys"))?;
    let meta = |key: &str| -> Result<Option<i64>, String> {
        use rusqlite::OptionalExtension;
        tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| format!("cannot read meta '{key}': {e}"))
    };
    let node = meta("node")?;
    let last_ts = match (meta("ts_time")?, meta("ts_seq")?) {
        (Some(t), Some(s)) => Some((t, s)),
        (Some(t), None) => Some((t, 0)),
        (None, _) => None,
    };
    drop(tx);
    // Not reading a file is not worth failing the summary: a WAL absent is a WAL of 0 bytes.
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    Ok(Summary {
        path: path.to_path_buf(),
        now,
        node,
        forward,
        deliver,
        fragment,
        report,
        other,
        by_dest,
        more_dests: (dests - TOP_DESTINATIONS).max(0),
        by_age,
        expired,
        seen,
        seen_expired,
        last_ts,
        db_bytes: size(path),
        wal_bytes: size(Path::new(&wal)),
    })
}

fn summary_text(s: &Summary) -> String {
    let mut o = String::new();
    let file = s.db_bytes.saturating_add(s.wal_bytes);
    let _ = writeln!(
        o,
        "store           {} ({}: db {} + wal {})",
        printable(&s.path.to_string_lossy()),
        human_bytes(file),
        human_bytes(s.db_bytes),
        human_bytes(s.wal_bytes)
    );
    let _ = writeln!(
        o,
        "node            {}",
        s.node
            .map(|n| format!("ipn:{n}.0"))
            .unwrap_or_else(|| "not recorded".into())
    );
    let _ = writeln!(
        o,
        "ts reserved to  {}",
        match s.last_ts {
            Some((t, q)) => format!("{} (DTN {t} ms), seq {q}", iso(t)),
            None => "none (no bundle created here yet)".into(),
        }
    );
    let total = Tally {
        count: s.forward.count
            + s.deliver.count
            + s.fragment.count
            + s.report.count
            + s.other.count,
        bytes: s
            .forward
            .bytes
            .saturating_add(s.deliver.bytes)
            .saturating_add(s.other.bytes),
    };
    let _ = writeln!(
        o,
        "bundles         {} ({}), {} expired ({})",
        total.count,
        human_bytes(total.bytes),
        s.expired.count,
        human_bytes(s.expired.bytes)
    );
    let _ = writeln!(o, "seen keys       {} ({} expired)", s.seen, s.seen_expired);
    let _ = writeln!(o, "now             {} (DTN {} ms)", iso(s.now), s.now);

    let row =
        |name: &str, t: Tally| vec![name.to_string(), t.count.to_string(), human_bytes(t.bytes)];
    let mut states = vec![
        row("forward", s.forward),
        row("deliver", s.deliver),
        row("fragment", s.fragment),
        row("report", s.report),
    ];
    if s.other.count > 0 {
        states.push(row("other", s.other));
    }
    o.push('\n');
    table(&mut o, &["state", "count", "bytes"], &states, &[1, 2]);

    o.push('\n');
    if s.by_dest.is_empty() {
        o.push_str("destination: none\n");
    } else {
        let rows: Vec<_> = s
            .by_dest
            .iter()
            .map(|(d, t)| row(&printable(d), *t))
            .collect();
        table(&mut o, &["destination", "count", "bytes"], &rows, &[1, 2]);
        if s.more_dests > 0 {
            let _ = writeln!(o, "... {} more", s.more_dests);
        }
    }

    o.push('\n');
    let rows: Vec<_> = AGE_BUCKETS
        .iter()
        .zip(s.by_age.iter())
        .map(|((label, _), t)| row(label, *t))
        .collect();
    table(&mut o, &["stored", "count", "bytes"], &rows, &[1, 2]);
    o
}

fn summary_json(s: &Summary) -> String {
    let t = |t: Tally| format!("{{\"count\": {}, \"bytes\": {}}}", t.count, t.bytes);
    let mut o = String::new();
    let _ = write!(
        o,
        "{{\"store\": {}, \"node\": {}, \"now_ms\": {}, ",
        js(&s.path.to_string_lossy()),
        opt(s.node),
        s.now
    );
    let _ = write!(
        o,
        "\"bundles\": {{\"forward\": {}, \"deliver\": {}, \"fragment\": {}, \"report\": {}",
        t(s.forward),
        t(s.deliver),
        t(s.fragment),
        t(s.report)
    );
    if s.other.count > 0 {
        let _ = write!(o, ", \"other\": {}", t(s.other));
    }
    o.push_str("}, \"by_destination\": [");
    for (i, (d, x)) in s.by_dest.iter().enumerate() {
        let sep = if i > 0 { ", " } else { "" };
        let _ = write!(
            o,
            "{sep}{{\"dest\": {}, \"count\": {}, \"bytes\": {}}}",
            js(d),
            x.count,
            x.bytes
        );
    }
    let _ = write!(
        o,
        "], \"more_destinations\": {}, \"by_age\": [",
        s.more_dests
    );
    for (i, ((label, _), x)) in AGE_BUCKETS.iter().zip(s.by_age.iter()).enumerate() {
        let sep = if i > 0 { ", " } else { "" };
        let _ = write!(
            o,
            "{sep}{{\"bucket\": {}, \"count\": {}, \"bytes\": {}}}",
            js(label),
            x.count,
            x.bytes
        );
    }
    let _ = write!(
        o,
        "], \"expired\": {}, \"expired_bytes\": {}, \"seen\": {}, \"seen_expired\": {}, ",
        s.expired.count, s.expired.bytes, s.seen, s.seen_expired
    );
    match s.last_ts {
        Some((time, seq)) => {
            let _ = write!(
                o,
                "\"timestamps_reserved\": {{\"time\": {time}, \"seq\": {seq}}}, "
            );
        }
        None => o.push_str("\"timestamps_reserved\": null, "),
    }
    let _ = writeln!(
        o,
        "\"file_bytes\": {}, \"db_bytes\": {}, \"wal_bytes\": {}}}",
        s.db_bytes.saturating_add(s.wal_bytes),
        s.db_bytes,
        s.wal_bytes
    );
    o
}

/// One row of `list` (without the bundle itself).
struct Listed {
    id: i64,
    state: i64,
    priority: i64,
    source: String,
    dest: String,
    created_ms: i64,
    seq: i64,
    frag_offset: i64,
    size: i64,
    stored_ms: i64,
    expires_ms: i64,
}

fn list(
    conn: &Connection,
    limit: Option<u64>,
    state: Option<BundleState>,
    dest: Option<&str>,
) -> Result<Vec<Listed>, String> {
    // SQLite reads LIMIT -1 as "no limit".
    let limit = limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
    let mut q = conn
        .prepare(
            "SELECT id, state, priority, source, dest, created_ms, seq, frag_offset, size, \
             stored_ms, expires_ms FROM bundles \
             WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR dest = ?2) \
             ORDER BY id LIMIT ?3",
        )
        .map_err(ctx("bundles"))?;
    let rows = q
        .query_map(
            rusqlite::params![state.map(BundleState::code), dest, limit],
            |r| {
                Ok(Listed {
                    id: r.get(0)?,
                    state: r.get(1)?,
                    priority: r.get(2)?,
                    source: text(r, 3)?,
                    dest: text(r, 4)?,
                    created_ms: r.get(5)?,
                    seq: r.get(6)?,
                    frag_offset: r.get(7)?,
                    size: r.get(8)?,
                    stored_ms: r.get(9)?,
                    expires_ms: r.get(10)?,
                })
            },
        )
        .map_err(ctx("bundles"))?;
    rows.collect::<Result<Vec<_>, _>>().map_err(ctx("bundles"))
}

fn state_name(code: i64) -> String {
    BundleState::from_code(code)
        .map(|s| s.name().to_string())
        .unwrap_or_else(|| format!("unknown({code})"))
}

fn priority_name(p: i64) -> String {
    match p {
        0 => "bulk".into(),
        1 => "standard".into(),
        2 => "expedited".into(),
        _ => format!("unknown({p})"),
    }
}

/// Whole seconds from `from` to `to` (DTN ms), rounded down: an expiry 0.4 s ago reads -1, not 0.
fn secs_between(from: i64, to: i64) -> i64 {
    to.saturating_sub(from).div_euclid(1000)
}

fn list_text(rows: &[Listed], now: i64) -> String {
    if rows.is_empty() {
        return "no bundles\n".into();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|b| {
            vec![
                b.id.to_string(),
                state_name(b.state),
                priority_name(b.priority),
                printable(&b.source),
                printable(&b.dest),
                b.created_ms.to_string(),
                if b.created_ms == 0 {
                    "unknown".into()
                } else {
                    iso(b.created_ms)
                },
                b.seq.to_string(),
                if b.frag_offset < 0 {
                    "-".into()
                } else {
                    b.frag_offset.to_string()
                },
                human_bytes(b.size),
                secs_between(b.stored_ms, now).to_string(),
                secs_between(now, b.expires_ms).to_string(),
            ]
        })
        .collect();
    let mut o = String::new();
    table(
        &mut o,
        &[
            "id",
            "state",
            "priority",
            "source",
            "dest",
            "created (DTN ms)",
            "created (UTC)",
            "seq",
            "frag",
            "size",
            "age (s)",
            "expires in (s)",
        ],
        &cells,
        &[0, 5, 7, 8, 9, 10, 11],
    );
    o
}

fn list_json(rows: &[Listed], now: i64) -> String {
    let mut o = String::from("[");
    for (i, b) in rows.iter().enumerate() {
        if i > 0 {
            o.push_str(",\n ");
        }
        let created = if b.created_ms == 0 {
            "null".to_string()
        } else {
            js(&iso(b.created_ms))
        };
        let frag = if b.frag_offset < 0 {
            "null".to_string()
        } else {
            b.frag_offset.to_string()
        };
        let _ = write!(
            o,
            "{{\"id\": {}, \"state\": {}, \"priority\": {}, \"source\": {}, \"dest\": {}, \
             \"created_ms\": {}, \"created\": {created}, \"seq\": {}, \"frag_offset\": {frag}, \
             \"size\": {}, \"stored_ms\": {}, \"age_s\": {}, \"expires_ms\": {}, \
             \"expires_in_s\": {}, \"expired\": {}}}",
            b.id,
            js(&state_name(b.state)),
            js(&priority_name(b.priority)),
            js(&b.source),
            js(&b.dest),
            b.created_ms,
            b.seq,
            b.size,
            b.stored_ms,
            secs_between(b.stored_ms, now),
            b.expires_ms,
            secs_between(now, b.expires_ms),
            b.expires_ms <= now
        );
    }
    o.push_str("]\n");
    o
}

/// Deletes what has expired by `now`, in one transaction, from a store opened for maintenance.
fn delete_expired(store: &Store, now: i64, json: bool) -> Result<String, String> {
    let path = store.path();
    let conn = store.connection();
    let fail = |what: &'static str| {
        move |e: rusqlite::Error| format!("store {}: cannot {what}: {e}", path.display())
    };
    conn.busy_timeout(BUSY_WAIT).map_err(fail("set up"))?;
    // Immediate: the write lock is taken before counting, so the count and the deletion see
    // the same rows.
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .map_err(fail("begin the deletion"))?;
    let bytes: i64 = tx
        .query_row(
            "SELECT COALESCE(SUM(size), 0) FROM bundles WHERE expires_ms <= ?1",
            [now],
            |r| r.get(0),
        )
        .map_err(fail("read expired bundles"))?;
    let bundles = tx
        .execute("DELETE FROM bundles WHERE expires_ms <= ?1", [now])
        .map_err(fail("delete expired bundles"))?;
    let seen = tx
        .execute("DELETE FROM seen WHERE expires_ms <= ?1", [now])
        .map_err(fail("delete expired seen keys"))?;
    tx.commit().map_err(fail("commit the deletion"))?;
    Ok(if json {
        format!(
            "{{\"deleted_bundles\": {bundles}, \"deleted_bytes\": {bytes}, \"deleted_seen\": {seen}}}\n"
        )
    } else {
        format!(
            "deleted {bundles} expired bundles ({}) and {seen} expired seen keys\n",
            human_bytes(bytes)
        )
    })
}

/// Appends `rows` under `head` in aligned columns (two spaces apart); the columns listed in
/// `right` are right-aligned (numbers).
fn table(o: &mut String, head: &[&str], rows: &[Vec<String>], right: &[usize]) {
    let head: Vec<String> = head.iter().map(|h| h.to_string()).collect();
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in std::iter::once(&head).chain(rows) {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(&width).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(w.saturating_sub(c.chars().count()));
            if right.contains(&i) {
                line.push_str(&pad);
                line.push_str(c);
            } else {
                line.push_str(c);
                line.push_str(&pad);
            }
        }
        o.push_str(line.trim_end());
        o.push('\n');
    }
}

/// A byte count for a person: B below 1 KiB, then KiB, MiB, GiB with one decimal.
fn human_bytes<T: Into<i128>>(n: T) -> String {
    let n: i128 = n.into();
    const K: f64 = 1024.0;
    let v = n as f64;
    if n.abs() < 1024 {
        format!("{n} B")
    } else if v.abs() < K * K {
        format!("{:.1} KiB", v / K)
    } else if v.abs() < K * K * K {
        format!("{:.1} MiB", v / (K * K))
    } else {
        format!("{:.1} GiB", v / (K * K * K))
    }
}

/// DTN time (ms) as UTC ISO-8601 with milliseconds, for any value a store may hold.
fn iso(dtn_ms: i64) -> String {
    // i128: no overflow for any i64 input.
    let unix_ms = i128::from(dtn_ms) + i128::from(engine::time::DTN_EPOCH_UNIX_SECS) * 1000;
    let (secs, ms) = (unix_ms.div_euclid(1000), unix_ms.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's days_from_civil inverse).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// `s` as a JSON string literal (RFC 8259 §7).
fn js(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '\u{8}' => o.push_str("\\b"),
            '\u{c}' => o.push_str("\\f"),
            c if c < '\u{20}' => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "null".into(), |v| v.to_string())
}

/// `s` with control characters escaped, so that a strange EID cannot break a table or the
/// terminal.
fn printable(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso(0), "2000-01-01T00:00:00.000Z");
        assert_eq!(iso(1), "2000-01-01T00:00:00.001Z");
        assert_eq!(iso(-1), "1999-12-31T23:59:59.999Z");
        // 2000 is a leap year; 2024-02-29 too.
        assert_eq!(iso(59 * 86_400_000), "2000-02-29T00:00:00.000Z");
        // 2024-02-29T12:34:56.789Z is Unix 1709210096.789.
        let t = (1_709_210_096 - 946_684_800) * 1000 + 789;
        assert_eq!(iso(t), "2024-02-29T12:34:56.789Z");
        // No overflow at the extremes.
        assert!(iso(i64::MAX).ends_with('Z'));
        assert!(iso(i64::MIN).ends_with('Z'));
    }

    #[test]
    fn json_strings() {
        assert_eq!(js("ipn:1.2"), "\"ipn:1.2\"");
        assert_eq!(js("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\u0001é\"");
    }

    #[test]
    fn byte_units() {
        assert_eq!(human_bytes(0i64), "0 B");
        assert_eq!(human_bytes(1023i64), "1023 B");
        assert_eq!(human_bytes(1536i64), "1.5 KiB");
        assert_eq!(human_bytes(3u64 << 20), "3.0 MiB");
        assert_eq!(human_bytes(5u64 << 30), "5.0 GiB");
    }

    #[test]
    fn seconds_round_down() {
        assert_eq!(secs_between(1000, 0), -1);
        assert_eq!(secs_between(400, 0), -1);
        assert_eq!(secs_between(0, 1999), 1);
        assert_eq!(secs_between(i64::MIN, i64::MAX), i64::MAX / 1000);
    }

    #[test]
    fn arguments() {
        let o = parse_args(&args(&[])).unwrap().unwrap();
        assert_eq!(o.command, Command::Summary);
        let o = parse_args(&args(&[
            "list",
            "--json",
            "--limit=3",
            "--state",
            "deliver",
        ]))
        .unwrap()
        .unwrap();
        assert!(o.json);
        assert_eq!(
            o.command,
            Command::List {
                limit: Some(3),
                state: Some(BundleState::Deliver),
                dest: None
            }
        );
        assert!(parse_args(&args(&["--help"])).unwrap().is_none());
        for bad in [
            &["--store"][..],
            &["--store", "a", "--node", "2"],
            &["--limit", "3"],
            &["list", "--limit", "x"],
            &["list", "--state", "gone"],
            &["frob"],
            &["list", "extra"],
            &["--json=yes"],
            &["--what"],
        ] {
            assert!(parse_args(&args(bad)).is_err(), "{bad:?}");
        }
    }
}

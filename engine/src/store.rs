//! The durable store: one SQLite file per node, in WAL mode, written in group commits.
//!
//! The node ([`crate::node::Node`]) decides what to keep and what to forget; it says so as a list
//! of [`StoreOp`]s. This file turns a batch of them into one SQLite transaction. The I/O loop
//! hands batches to a [`Writer`] thread, so a commit (and its fsync) never stalls the loop: while
//! one batch commits, the next one grows, and everything the loop read in the meantime is
//! committed together (group commit). Acceptance (a `send` returning, a convergence-layer
//! acknowledgement) is reported only after the batch holding the bundle has committed.
//!
//! Tables:
//! - `bundles`: one row per bundle held (to forward, to deliver to a local endpoint, or a
//!   fragment waiting for the rest of its ADU), with
//!   the encoded bundle and the columns the node needs to schedule it without parsing it.
//! - `seen`: the identity (source, creation time and sequence, fragment offset) of every bundle
//!   accepted for a local endpoint, kept until its lifetime ends, so that a duplicate is never
//!   delivered twice.
//! - `meta`: the schema version, the node number and the last creation timestamp used (creation
//!   sequence numbers never repeat after a restart).
//!
//! One process at a time owns a store: an exclusive `flock` on `<file>.lock` (readers such as
//! `bpstore` open the file read-only without it; WAL lets them read while the node writes).

use crate::config::Durability;
use crate::wire::CreationTimestamp;
use rusqlite::{Connection, OpenFlags, params};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// Version of the table layout; a store of another version is refused, never guessed at.
pub const SCHEMA_VERSION: i64 = 1;

/// What a stored bundle is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleState {
    /// A next hop (a contact or a route).
    Forward,
    /// An application to read it (the destination is a local endpoint).
    Deliver,
    /// The other fragments of its ADU (the destination is a local endpoint).
    Fragment,
    /// Not a bundle: a status report waiting in a local endpoint's error queue (the row holds
    /// its `StatusRecord` encoding; `dest` is the endpoint).
    Report,
}

impl BundleState {
    /// Code in the `state` column.
    pub fn code(self) -> i64 {
        match self {
            BundleState::Forward => 1,
            BundleState::Deliver => 2,
            BundleState::Fragment => 3,
            BundleState::Report => 4,
        }
    }
    /// From the `state` column.
    pub fn from_code(c: i64) -> Option<BundleState> {
        match c {
            1 => Some(BundleState::Forward),
            2 => Some(BundleState::Deliver),
            3 => Some(BundleState::Fragment),
            4 => Some(BundleState::Report),
            _ => None,
        }
    }
    /// Name used by the inspection tool.
    pub fn name(self) -> &'static str {
        match self {
            BundleState::Forward => "forward",
            BundleState::Deliver => "deliver",
            BundleState::Fragment => "fragment",
            BundleState::Report => "report",
        }
    }
}

/// One row of `bundles`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBundle {
    /// Store order (the node assigns it; older bundles have smaller ids).
    pub id: u64,
    /// What it waits for.
    pub state: BundleState,
    /// Destination EID (text).
    pub dest: String,
    /// Source EID (text).
    pub source: String,
    /// Creation timestamp: DTN time (ms).
    pub created_ms: u64,
    /// Creation timestamp: sequence number.
    pub seq: u64,
    /// Fragment offset, -1 for a bundle that is not a fragment.
    pub frag_offset: i64,
    /// 0 bulk, 1 standard, 2 expedited.
    pub priority: u8,
    /// When it was stored (DTN ms).
    pub stored_ms: u64,
    /// When its lifetime ends (DTN ms).
    pub expires_ms: u64,
    /// The encoded bundle.
    pub bytes: Vec<u8>,
}

/// Identity of a bundle for duplicate suppression (RFC 9171 §5.9's key, plus the offset).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SeenKey {
    /// Source EID (text).
    pub source: String,
    /// Creation time (DTN ms).
    pub created_ms: u64,
    /// Creation sequence number.
    pub seq: u64,
    /// Fragment offset, -1 for a whole bundle.
    pub frag_offset: i64,
}

/// A change the node asks the store to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreOp {
    /// Keep a bundle.
    Put(StoredBundle),
    /// Forget a bundle (forwarded, read by its application, expired, deleted).
    Delete(u64),
    /// Remember a delivered bundle's identity until `expires_ms`.
    Seen(SeenKey, u64),
    /// Forget the identities whose bundles expired at or before this DTN time (ms).
    ForgetSeen(u64),
}

/// Why the store could not be used.
#[derive(Debug)]
pub struct StoreError {
    /// The file concerned.
    pub path: PathBuf,
    /// What went wrong, for a person.
    pub reason: String,
    /// The errno an application sees at `socket()` (EIO, EACCES, EBUSY, ENOSPC).
    pub errno: i32,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "store {}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for StoreError {}

const EIO: i32 = 5;
const EACCES: i32 = 13;
const EBUSY: i32 = 16;
const ENOSPC: i32 = 28;

fn sql_errno(e: &rusqlite::Error) -> i32 {
    use rusqlite::ffi::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::DiskFull) => ENOSPC,
        Some(C::PermissionDenied) | Some(C::ReadOnly) | Some(C::CannotOpen) => EACCES,
        Some(C::DatabaseBusy) | Some(C::DatabaseLocked) => EBUSY,
        _ => EIO,
    }
}

/// What a store holds when a node starts.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every bundle, oldest first.
    pub bundles: Vec<StoredBundle>,
    /// Identities of bundles already accepted for local endpoints, with their expiry.
    pub seen: Vec<(SeenKey, u64)>,
    /// Last creation timestamp used by the node.
    pub last_ts: CreationTimestamp,
}

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Held for the life of the store: the exclusive lock on `<file>.lock`.
    _lock: Option<nix::fcntl::Flock<File>>,
    /// Creation time (DTN ms) reserved in `meta`: no bundle made here has a later one.
    ts_reserved: u64,
    /// Sync the write-ahead log after commits (`full`).
    sync_wal: bool,
    /// The write-ahead log file, opened at the first sync.
    wal: Option<File>,
}

/// How far ahead of the last creation time used the store reserves (ms).
const TS_MARGIN_MS: u64 = 2000;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.path.display())
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bundles (
    id INTEGER PRIMARY KEY,
    state INTEGER NOT NULL,
    dest TEXT NOT NULL,
    source TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    frag_offset INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    stored_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    size INTEGER NOT NULL,
    bundle BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS seen (
    source TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    frag_offset INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (source, created_ms, seq, frag_offset)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_expiry ON seen (expires_ms);
";

fn i(v: u64) -> i64 {
    // SQLite integers are signed 64-bit; DTN times and sequence numbers stay far below 2^63,
    // but a peer's bundle may carry anything: saturate rather than wrap.
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Store {
    /// Opens (creating if needed) the store of node `node` at `path`, takes its lock, and checks
    /// that it is a bpshim store of this node.
    ///
    /// # Errors
    /// A directory that cannot be created, a file that is not a SQLite database or is damaged, a
    /// store of another node or layout, or a store another process holds.
    pub fn open(path: &Path, node: u64, durability: Durability) -> Result<Store, StoreError> {
        let err = |reason: String, errno: i32| StoreError {
            path: path.to_path_buf(),
            reason,
            errno,
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                err(
                    format!("cannot create directory {}: {e}", dir.display()),
                    e.raw_os_error().unwrap_or(EIO),
                )
            })?;
        }
        let lock = take_lock(path).map_err(|(reason, errno)| err(reason, errno))?;
        let conn =
            Connection::open(path).map_err(|e| err(format!("cannot open: {e}"), sql_errno(&e)))?;
        // Commits never fsync by themselves (NORMAL: the write-ahead log is written, which a
        // killed process cannot undo); with `full` the writer then syncs the log itself
        // ([`Store::sync`]), which is what SQLite's FULL does at each commit, so that what waits
        // only for the process-crash guarantee (a read) need not wait for the disk.
        let setup = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF;";
        conn.execute_batch(setup)
            .map_err(|e| err(format!("not a usable store: {e}"), sql_errno(&e)))?;
        // Another program's database is never taken over: tables without ours means no.
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .and_then(|mut q| {
                q.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(|e| err(format!("not a usable store: {e}"), sql_errno(&e)))?;
        if !tables.is_empty() && !tables.iter().any(|t| t == "meta") {
            return Err(err(
                format!(
                    "not a bpshim store (a SQLite database with tables {})",
                    tables.join(", ")
                ),
                EIO,
            ));
        }
        conn.execute_batch(SCHEMA)
            .map_err(|e| err(format!("not a usable store: {e}"), sql_errno(&e)))?;
        let s = Store {
            conn,
            path: path.to_path_buf(),
            _lock: Some(lock),
            ts_reserved: 0,
            sync_wal: durability == Durability::Full,
            wal: None,
        };
        match s.meta("schema").map_err(|e| err(e, EIO))? {
            None => {
                s.conn
                    .execute(
                        "INSERT INTO meta (key, value) VALUES ('schema', ?1), ('node', ?2)",
                        params![SCHEMA_VERSION, i(node)],
                    )
                    .map_err(|e| err(format!("cannot write: {e}"), sql_errno(&e)))?;
            }
            Some(v) if v != SCHEMA_VERSION => {
                return Err(err(
                    format!("layout version {v}, this build reads {SCHEMA_VERSION}"),
                    EIO,
                ));
            }
            Some(_) => {}
        }
        match s.meta("node").map_err(|e| err(e, EIO))? {
            Some(n) if u(n) != node => {
                return Err(err(
                    format!("belongs to node ipn:{n}.0, not ipn:{node}.0"),
                    EIO,
                ));
            }
            _ => {}
        }
        Ok(s)
    }

    /// Opens a store read-only, without its lock (for inspection while the node runs).
    ///
    /// # Errors
    /// A missing file or one that is not a bpshim store.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let err = |reason: String, errno: i32| StoreError {
            path: path.to_path_buf(),
            reason,
            errno,
        };
        if !path.exists() {
            return Err(err("no such file".into(), 2));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| err(format!("cannot open: {e}"), sql_errno(&e)))?;
        let s = Store {
            conn,
            path: path.to_path_buf(),
            _lock: None,
            ts_reserved: 0,
            sync_wal: false,
            wal: None,
        };
        match s.meta("schema") {
            Ok(Some(SCHEMA_VERSION)) => Ok(s),
            Ok(Some(v)) => Err(err(format!("layout version {v}"), EIO)),
            Ok(None) => Err(err("not a bpshim store (no schema version)".into(), EIO)),
            Err(e) => Err(err(e, EIO)),
        }
    }

    /// Opens a store for maintenance (the inspection tool's deletions): read-write, with the
    /// lock, without creating anything.
    ///
    /// # Errors
    /// As [`Store::open_read_only`], or the store is in use by a running node.
    pub fn open_for_maintenance(path: &Path) -> Result<Store, StoreError> {
        let mut s = Store::open_read_only(path)?;
        let lock = take_lock(path).map_err(|(reason, errno)| StoreError {
            path: path.to_path_buf(),
            reason,
            errno,
        })?;
        s.conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(|e| {
                StoreError {
                    path: path.to_path_buf(),
                    reason: format!("cannot open for writing: {e}"),
                    errno: sql_errno(&e),
                }
            })?;
        s._lock = Some(lock);
        Ok(s)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SQLite connection, for read-only queries of the inspection tool.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn meta(&self, key: &str) -> Result<Option<i64>, String> {
        use rusqlite::OptionalExtension;
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| format!("not a usable store: {e}"))
    }

    /// Reads everything the node needs to resume.
    ///
    /// # Errors
    /// A damaged file.
    pub fn load(&self) -> Result<Loaded, StoreError> {
        let err = |e: rusqlite::Error| StoreError {
            path: self.path.clone(),
            reason: format!("cannot read: {e}"),
            errno: sql_errno(&e),
        };
        let mut out = Loaded::default();
        let mut q = self
            .conn
            .prepare(
                "SELECT id, state, dest, source, created_ms, seq, frag_offset, priority, \
                 stored_ms, expires_ms, bundle FROM bundles ORDER BY id",
            )
            .map_err(err)?;
        let rows = q
            .query_map([], |r| {
                Ok(StoredBundle {
                    id: u(r.get(0)?),
                    state: BundleState::from_code(r.get(1)?).unwrap_or(BundleState::Forward),
                    dest: r.get(2)?,
                    source: r.get(3)?,
                    created_ms: u(r.get(4)?),
                    seq: u(r.get(5)?),
                    frag_offset: r.get(6)?,
                    priority: r.get::<_, i64>(7)?.clamp(0, 2) as u8,
                    stored_ms: u(r.get(8)?),
                    expires_ms: u(r.get(9)?),
                    bytes: r.get(10)?,
                })
            })
            .map_err(err)?;
        for r in rows {
            out.bundles.push(r.map_err(err)?);
        }
        let mut q = self
            .conn
            .prepare("SELECT source, created_ms, seq, frag_offset, expires_ms FROM seen")
            .map_err(err)?;
        let rows = q
            .query_map([], |r| {
                Ok((
                    SeenKey {
                        source: r.get(0)?,
                        created_ms: u(r.get(1)?),
                        seq: u(r.get(2)?),
                        frag_offset: r.get(3)?,
                    },
                    u(r.get(4)?),
                ))
            })
            .map_err(err)?;
        for r in rows {
            out.seen.push(r.map_err(err)?);
        }
        let time = self.meta("ts_time").map_err(|e| StoreError {
            path: self.path.clone(),
            reason: e,
            errno: EIO,
        })?;
        let seq = self.meta("ts_seq").map_err(|e| StoreError {
            path: self.path.clone(),
            reason: e,
            errno: EIO,
        })?;
        out.last_ts = CreationTimestamp {
            time: u(time.unwrap_or(0)),
            seq: u(seq.unwrap_or(0)),
        };
        Ok(out)
    }

    /// Applies `ops` and keeps the creation timestamps reserved past `last_ts`, in one
    /// transaction.
    ///
    /// # Errors
    /// The transaction could not commit (disk full, I/O error); nothing of it is applied.
    pub fn apply(&mut self, ops: &[StoreOp], last_ts: CreationTimestamp) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = move |e: rusqlite::Error| StoreError {
            path: path.clone(),
            reason: format!("cannot write: {e}"),
            errno: sql_errno(&e),
        };
        let mut reserved = None;
        let tx = self.conn.transaction().map_err(&err)?;
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO bundles (id, state, dest, source, created_ms, seq, \
                     frag_offset, priority, stored_ms, expires_ms, size, bundle) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .map_err(&err)?;
            let mut del = tx
                .prepare_cached("DELETE FROM bundles WHERE id = ?1")
                .map_err(&err)?;
            let mut seen = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO seen (source, created_ms, seq, frag_offset, \
                     expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(&err)?;
            for op in ops {
                match op {
                    StoreOp::Put(b) => {
                        put.execute(params![
                            i(b.id),
                            b.state.code(),
                            b.dest,
                            b.source,
                            i(b.created_ms),
                            i(b.seq),
                            b.frag_offset,
                            b.priority as i64,
                            i(b.stored_ms),
                            i(b.expires_ms),
                            b.bytes.len() as i64,
                            b.bytes,
                        ])
                        .map_err(&err)?;
                    }
                    StoreOp::Delete(id) => {
                        del.execute([i(*id)]).map_err(&err)?;
                    }
                    StoreOp::Seen(k, exp) => {
                        seen.execute(params![
                            k.source,
                            i(k.created_ms),
                            i(k.seq),
                            k.frag_offset,
                            i(*exp)
                        ])
                        .map_err(&err)?;
                    }
                    StoreOp::ForgetSeen(t) => {
                        tx.execute("DELETE FROM seen WHERE expires_ms <= ?1", [i(*t)])
                            .map_err(&err)?;
                    }
                }
            }
            // Creation timestamps: a reservation one second ahead of the last one used, written
            // again only when the node gets near it, so that most commits do not touch `meta`.
            // A restart continues after the reservation, which no bundle made before can reach.
            if last_ts.time.saturating_add(TS_MARGIN_MS / 2) >= self.ts_reserved {
                let reserve = last_ts.time.saturating_add(TS_MARGIN_MS);
                tx.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('ts_time', ?1), ('ts_seq', 0)",
                    params![i(reserve)],
                )
                .map_err(&err)?;
                reserved = Some(reserve);
            }
        }
        tx.commit().map_err(&err)?;
        if let Some(r) = reserved {
            self.ts_reserved = r;
        }
        Ok(())
    }
}

impl Store {
    /// Makes the commits so far survive a power loss (`full`): syncs the write-ahead log, as
    /// SQLite's synchronous=FULL does after each commit. A no-op for `process`.
    ///
    /// # Errors
    /// The log cannot be opened or synced.
    pub fn sync(&mut self) -> Result<(), StoreError> {
        if !self.sync_wal {
            return Ok(());
        }
        let err = |e: std::io::Error| StoreError {
            path: self.path.clone(),
            reason: format!("cannot sync the write-ahead log: {e}"),
            errno: e.raw_os_error().unwrap_or(EIO),
        };
        if self.wal.is_none() {
            let mut p = self.path.as_os_str().to_owned();
            p.push("-wal");
            self.wal = Some(File::open(&p).map_err(err)?);
        }
        match &self.wal {
            Some(f) => f.sync_data().map_err(err),
            None => Ok(()),
        }
    }
}

/// Takes the exclusive lock of the store at `path`; the file records the holder's pid.
fn take_lock(path: &Path) -> Result<nix::fcntl::Flock<File>, (String, i32)> {
    use nix::fcntl::{Flock, FlockArg};
    use std::io::{Read, Seek, Write};
    let mut lp = path.as_os_str().to_owned();
    lp.push(".lock");
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lp)
        .map_err(|e| {
            (
                format!("cannot open lock file {}: {e}", Path::new(&lp).display()),
                e.raw_os_error().unwrap_or(EIO),
            )
        })?;
    let mut holder = String::new();
    let _ = f.read_to_string(&mut holder);
    match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
        Ok(mut l) => {
            let _ = l.set_len(0);
            let _ = l.rewind();
            let _ = write!(l, "{}", std::process::id());
            Ok(l)
        }
        Err((_, e)) => Err((
            format!(
                "in use by another process (pid {}); one process runs a node at a time",
                holder.trim()
            ),
            if e == nix::errno::Errno::EWOULDBLOCK {
                EBUSY
            } else {
                e as i32
            },
        )),
    }
}

/// A batch for the writer thread.
#[derive(Debug)]
pub struct Batch {
    /// Number given by the loop, returned with the outcome.
    pub number: u64,
    /// The changes.
    pub ops: Vec<StoreOp>,
    /// Last creation timestamp used when the batch was closed.
    pub last_ts: CreationTimestamp,
    /// Messages to write once the batch has committed: (a descriptor the writer owns and closes
    /// after, the bytes). Applications waiting for the commit hear of it from this thread
    /// directly, without another hop through the event loop.
    /// The first message, if any, goes out as soon as the commit is in the write-ahead log (safe
    /// from a process crash: a read), the second once it is synced (`full`: an acceptance).
    pub notify: Vec<(std::os::fd::RawFd, Option<Vec<u8>>, Vec<u8>)>,
}

/// Outcome of a batch.
#[derive(Debug)]
pub struct Committed {
    /// The batch's number.
    pub number: u64,
    /// The batch's changes, returned so that a failed batch can be tried again.
    pub ops: Vec<StoreOp>,
    /// Whether it committed.
    pub result: Result<(), String>,
    /// Microseconds the commit took.
    pub micros: u64,
    /// For each of the batch's `notify` messages, whether it was written.
    pub notified: Vec<bool>,
}

/// The store's writer thread: takes batches, commits each in one transaction, reports back and
/// wakes the loop.
#[derive(Debug)]
pub struct Writer {
    to: mpsc::Sender<Batch>,
    from: mpsc::Receiver<Committed>,
}

impl Writer {
    /// Starts the thread with `store`; `wake` is called after each batch.
    ///
    /// # Errors
    /// The thread cannot be created.
    pub fn start(mut store: Store, wake: impl Fn() + Send + 'static) -> std::io::Result<Writer> {
        let (to, rx) = mpsc::channel::<Batch>();
        let (tx, from) = mpsc::channel::<Committed>();
        std::thread::Builder::new()
            .name("bpshim-store".into())
            .spawn(move || {
                for b in rx {
                    let t = std::time::Instant::now();
                    let flags = nix::sys::socket::MsgFlags::MSG_DONTWAIT
                        | nix::sys::socket::MsgFlags::MSG_NOSIGNAL;
                    let mut result = store.apply(&b.ops, b.last_ts).map_err(|e| e.to_string());
                    if result.is_ok() {
                        for (fd, early, _) in &b.notify {
                            if let Some(m) = early {
                                let _ = nix::sys::socket::send(*fd, m, flags);
                            }
                        }
                        result = store.sync().map_err(|e| e.to_string());
                    }
                    let micros = t.elapsed().as_micros() as u64;
                    let notified = b
                        .notify
                        .iter()
                        .map(|(fd, _, msg)| {
                            let ok =
                                result.is_ok() && nix::sys::socket::send(*fd, msg, flags).is_ok();
                            let _ = nix::unistd::close(*fd);
                            ok
                        })
                        .collect();
                    if tx
                        .send(Committed {
                            number: b.number,
                            ops: b.ops,
                            result,
                            micros,
                            notified,
                        })
                        .is_err()
                    {
                        break;
                    }
                    wake();
                }
            })?;
        Ok(Writer { to, from })
    }

    /// Queues a batch.
    pub fn submit(&self, b: Batch) -> bool {
        self.to.send(b).is_ok()
    }

    /// A finished batch, if any.
    pub fn try_done(&self) -> Option<Committed> {
        self.from.try_recv().ok()
    }

    /// Waits for a finished batch (exit flush), at most `timeout`.
    pub fn wait_done(&self, timeout: std::time::Duration) -> Option<Committed> {
        self.from.recv_timeout(timeout).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("bpshim-store-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d.join("s.db")
    }

    fn bundle(id: u64, state: BundleState) -> StoredBundle {
        StoredBundle {
            id,
            state,
            dest: "ipn:20.1".into(),
            source: "ipn:10.1".into(),
            created_ms: 1000 + id,
            seq: id,
            frag_offset: -1,
            priority: 1,
            stored_ms: 5,
            expires_ms: 99_999,
            bytes: vec![id as u8; 10],
        }
    }

    #[test]
    fn put_delete_reload() {
        let p = tmp("reload");
        {
            let mut s = Store::open(&p, 10, Durability::Full).unwrap();
            let ops = vec![
                StoreOp::Put(bundle(1, BundleState::Forward)),
                StoreOp::Put(bundle(2, BundleState::Deliver)),
                StoreOp::Put(bundle(3, BundleState::Forward)),
                StoreOp::Delete(1),
                StoreOp::Seen(
                    SeenKey {
                        source: "ipn:9.1".into(),
                        created_ms: 7,
                        seq: 1,
                        frag_offset: -1,
                    },
                    500,
                ),
                StoreOp::Seen(
                    SeenKey {
                        source: "ipn:9.1".into(),
                        created_ms: 7,
                        seq: 2,
                        frag_offset: -1,
                    },
                    100,
                ),
                StoreOp::ForgetSeen(200),
            ];
            s.apply(&ops, CreationTimestamp { time: 77, seq: 3 })
                .unwrap();
        }
        let s = Store::open(&p, 10, Durability::Process).unwrap();
        let l = s.load().unwrap();
        assert_eq!(
            l.bundles,
            vec![
                bundle(2, BundleState::Deliver),
                bundle(3, BundleState::Forward)
            ]
        );
        assert_eq!(l.seen.len(), 1);
        assert_eq!(l.seen[0].0.seq, 1);
        // The reservation: later than any timestamp used.
        assert_eq!(
            l.last_ts,
            CreationTimestamp {
                time: 77 + TS_MARGIN_MS,
                seq: 0
            }
        );
    }

    #[test]
    fn one_process_at_a_time() {
        let p = tmp("lock");
        let _a = Store::open(&p, 10, Durability::Full).unwrap();
        let e = Store::open(&p, 10, Durability::Full).unwrap_err();
        assert_eq!(e.errno, EBUSY, "{e}");
        assert!(e.to_string().contains("in use"), "{e}");
        // Readers need no lock.
        assert!(Store::open_read_only(&p).is_ok());
    }

    #[test]
    fn wrong_node_and_garbage_refused() {
        let p = tmp("node");
        drop(Store::open(&p, 10, Durability::Full).unwrap());
        let e = Store::open(&p, 11, Durability::Full).unwrap_err();
        assert!(e.to_string().contains("belongs to node ipn:10.0"), "{e}");
        let f = tmp("foreign");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        Connection::open(&f)
            .unwrap()
            .execute_batch("CREATE TABLE accounts (x INTEGER)")
            .unwrap();
        let e = Store::open(&f, 10, Durability::Full).unwrap_err();
        assert!(e.to_string().contains("not a bpshim store"), "{e}");
        let g = tmp("garbage");
        std::fs::create_dir_all(g.parent().unwrap()).unwrap();
        std::fs::write(&g, vec![0x55u8; 8192]).unwrap();
        let e = Store::open(&g, 10, Durability::Full).unwrap_err();
        assert_eq!(e.errno, EIO, "{e}");
        assert!(e.to_string().contains("not a usable store"), "{e}");
    }

    #[test]
    fn writer_thread_commits_batches() {
        let p = tmp("writer");
        let s = Store::open(&p, 10, Durability::Process).unwrap();
        let w = Writer::start(s, || {}).unwrap();
        assert!(w.submit(Batch {
            number: 1,
            ops: vec![StoreOp::Put(bundle(5, BundleState::Forward))],
            last_ts: CreationTimestamp::default(),
            notify: Vec::new(),
        }));
        let c = w.wait_done(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(c.number, 1);
        assert!(c.result.is_ok());
        drop(w);
        // The writer thread ends when its channel closes, releasing the lock.
        let mut tries = 0;
        let s = loop {
            match Store::open(&p, 10, Durability::Full) {
                Ok(s) => break s,
                Err(_) if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(s.load().unwrap().bundles.len(), 1);
    }
}

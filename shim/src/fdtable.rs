//! Which descriptors are AF_BP sockets, and what the shim knows about each socket.
//!
//! `FDS[fd]` holds the engine's socket id (0: not an AF_BP socket). It is an array of atomics
//! read without a lock, so that `read`, `write` and `close` on every other descriptor cost two
//! atomic loads. Several descriptors (dup) share one socket; [`Sock::refs`] counts them.
//!
//! Per-socket state sits behind a spin lock that is never held across a system call, so a
//! thread cancelled inside a blocking call, or a fork, never leaves it locked (the fork child
//! handler resets it anyway).

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// Descriptors at or above this number cannot be AF_BP sockets (`socket()` answers `EMFILE`).
pub const MAX_FD: usize = 65536;

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU32 = AtomicU32::new(0);
static FDS: [AtomicU32; MAX_FD] = [ZERO; MAX_FD];
/// Set once the process has created an AF_BP socket: until then every hook passes through at
/// the cost of one load.
pub static ANY: AtomicBool = AtomicBool::new(false);

/// Socket id of `fd`, if it is an AF_BP socket.
#[inline]
pub fn lookup(fd: libc::c_int) -> Option<u32> {
    if !ANY.load(Ordering::Relaxed) || fd < 0 || fd as usize >= MAX_FD {
        return None;
    }
    match FDS[fd as usize].load(Ordering::Acquire) {
        0 => None,
        id => Some(id),
    }
}

/// Records that `fd` refers to socket `id` (0 clears). Returns the id it held before.
pub fn set(fd: libc::c_int, id: u32) -> u32 {
    if fd < 0 || fd as usize >= MAX_FD {
        return 0;
    }
    FDS[fd as usize].swap(id, Ordering::AcqRel)
}

/// A receive or send timeout as the application set it (`{0,0}`: none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeout {
    /// Seconds.
    pub sec: i64,
    /// Microseconds.
    pub usec: i64,
}

/// `SOL_BP` option values as the application sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BpOpts {
    /// Seconds; 0 until set (the node's default then applies).
    pub lifetime: u64,
    /// -1 until set.
    pub priority: i32,
    /// `None`: the socket's own EID.
    pub report_to: Option<(u32, u32)>,
    /// `BP_REPORT_*` bits.
    pub report_flags: i32,
    /// 1 or 2.
    pub crc_type: i32,
    /// 0: none.
    pub hop_limit: i32,
    /// 0 or 1.
    pub must_not_fragment: i32,
    /// 0 or 1.
    pub ack_requested: i32,
}

impl Default for BpOpts {
    fn default() -> BpOpts {
        BpOpts {
            lifetime: 0,
            priority: -1,
            report_to: None,
            report_flags: 0,
            crc_type: 2,
            hop_limit: 0,
            must_not_fragment: 0,
            ack_requested: 0,
        }
    }
}

/// What the shim knows about one AF_BP socket.
#[derive(Clone, Debug, Default)]
pub struct Sock {
    /// Descriptors in this process that refer to it.
    pub refs: u32,
    /// `type` given to socket(), without flag bits.
    pub sock_type: i32,
    /// `protocol` given to socket().
    pub protocol: i32,
    /// Bound EID (ipn node, service).
    pub bound: Option<(u32, u32)>,
    /// Connected peer.
    pub peer: Option<(u32, u32)>,
    /// Receive timeout the application sees.
    pub rcvtimeo: Timeout,
    /// Send timeout the application sees.
    pub sndtimeo: Timeout,
    /// Bundle options as the application set them (`SOL_BP`).
    pub bp: BpOpts,
    /// Delivery sequence of the last ADU read.
    pub read_seq: u32,
    /// Last sequence reported to the engine.
    pub acked_seq: u32,
    /// The application's end of the side pair (store acknowledgements, read reports).
    pub side: Option<libc::c_int>,
    /// Counters and locks shared by the threads sending and reading on this socket.
    pub sync: Option<std::sync::Arc<SockSync>>,
}

impl Sock {
    /// What a sender or reader waits on for the store's commits: the shared counts and the
    /// application's end of the side pair.
    pub fn commit_channel(&self) -> Option<(std::sync::Arc<SockSync>, libc::c_int)> {
        self.sync.clone().zip(self.side)
    }
}

/// What the threads of one socket share to wait for the store: a send (or a read) returns once
/// the engine reports its record committed. Records are numbered in the order they enter the
/// pair, so a send holds `send_lock` from numbering to writing.
#[derive(Debug, Default)]
pub struct SockSync {
    /// Held while a data record is numbered and written.
    pub send_lock: std::sync::Mutex<()>,
    /// Held while a read acknowledgement is numbered and written.
    pub ack_lock: std::sync::Mutex<()>,
    /// Held by the one thread reading the side pair for the others.
    pub wait_lock: std::sync::Mutex<()>,
    /// Data records written.
    pub data_sent: AtomicU64,
    /// Read acknowledgements written.
    pub acks_sent: AtomicU64,
    /// Data records the engine reports committed.
    pub data_done: AtomicU64,
    /// Read acknowledgements the engine reports committed.
    pub acks_done: AtomicU64,
}

/// A minimal spin lock whose state can be reset after fork.
pub struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialised by `locked`.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// A new unlocked lock.
    pub const fn new(v: T) -> SpinLock<T> {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(v),
        }
    }

    /// Runs `f` with the value locked. `f` must not make blocking calls.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
        }
        // SAFETY: we hold the lock, so no other reference to the value exists.
        let r = f(unsafe { &mut *self.value.get() });
        self.locked.store(false, Ordering::Release);
        r
    }

    /// Forgets a holder: only for the fork child, where the holder thread no longer exists.
    pub fn reset_after_fork(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

/// State of every AF_BP socket of this process, by socket id.
pub static SOCKS: SpinLock<Option<HashMap<u32, Sock>>> = SpinLock::new(None);

/// Runs `f` on socket `id`'s state.
pub fn with_sock<R>(id: u32, f: impl FnOnce(&mut Sock) -> R) -> Option<R> {
    SOCKS.with(|m| m.as_mut().and_then(|m| m.get_mut(&id)).map(f))
}

/// Adds a socket with one reference.
pub fn insert(id: u32, s: Sock) {
    SOCKS.with(|m| {
        m.get_or_insert_with(HashMap::new).insert(id, s);
    });
}

/// `fd` now also refers to socket `id`.
pub fn add_ref(fd: libc::c_int, id: u32) {
    with_sock(id, |s| s.refs += 1);
    let old = set(fd, id);
    if old != 0
        && old != id
        && let Some(s) = drop_ref(old)
    {
        release(s);
    }
}

/// The last descriptor of a socket is gone: closing the side pair tells the engine.
pub fn release(s: Sock) {
    if let Some(side) = s.side {
        crate::engine_thread::close_fd(side);
    }
}

/// One descriptor of socket `id` is gone; returns the state if it was the last one.
pub fn drop_ref(id: u32) -> Option<Sock> {
    SOCKS.with(|m| {
        let m = m.as_mut()?;
        let s = m.get_mut(&id)?;
        s.refs = s.refs.saturating_sub(1);
        if s.refs == 0 { m.remove(&id) } else { None }
    })
}

//! Starting the engine thread (lazily, at the first AF_BP socket) and talking to it.
//!
//! Control requests travel on a process-wide SEQPACKET channel; each carries a fresh reply
//! socket (`SCM_RIGHTS`), so concurrent callers need no lock and the format already works with an
//! engine in another process.

use crate::fdtable::{self, SpinLock};
use crate::log;
use crate::real::{self, call};
use engine::api::{Reply, Request};
use engine::config::Config;
use libc::c_int;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};

use ::engine::io::HIGH_FD;
/// Bound on waiting for the engine to answer a request (it answers at once unless stuck).
pub const REPLY_TIMEOUT_MS: u32 = 10_000;

static CONTROL: AtomicI32 = AtomicI32::new(-1);
static OWNER_PID: AtomicI32 = AtomicI32::new(0);
static EXIT_FLUSH_MS: AtomicU32 = AtomicU32::new(0);
/// Local node number, from the first Open reply.
pub static LOCAL_NODE: AtomicU64 = AtomicU64::new(0);
/// Largest ADU accepted.
pub static MAX_ADU: AtomicU64 = AtomicU64::new(0);
/// Default lifetime of new bundles (seconds), from the first Open reply.
pub static DEFAULT_LIFETIME_S: AtomicU64 = AtomicU64::new(0);
/// Per-route ADU limits `(node, service, max)`, `u64::MAX` = any.
pub static LIMITS: SpinLock<Vec<(u64, u64, u64)>> = SpinLock::new(Vec::new());

/// Whether the node keeps a durable store: sends and reads then wait for the store's commit.
pub static DURABLE: AtomicBool = AtomicBool::new(false);

/// Outcome of the first start: `Ok` or the errno every later socket() gets too.
static STARTED: Mutex<Option<Result<(), i32>>> = Mutex::new(None);

/// Starts the engine if it is not running. Returns the errno to report on failure.
pub fn ensure() -> Result<(), i32> {
    if CONTROL.load(Ordering::Acquire) >= 0 {
        return Ok(());
    }
    let mut g = STARTED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(r) = *g {
        return r;
    }
    let r = start();
    *g = Some(r);
    r
}

fn start() -> Result<(), i32> {
    let cfg = Config::from_env().map_err(|e| {
        log::line(format_args!("{e}"));
        libc::EINVAL
    })?;
    real::resolve_all();
    let (a, b) = seqpacket_pair()?;
    let shim_end = move_high(a);
    let engine_end = move_high(b);
    // The engine's threads (the event loop, and the store's writer that Engine::new starts) must
    // not run the application's signal handlers, nor die of a signal meant for it (SIGXFSZ
    // when the store meets a file size limit: the write then fails with EFBIG and the commit is
    // retried): they start with every signal blocked (the mask is inherited), and this thread's
    // mask is restored after.
    let mut all: libc::sigset_t = unsafe_zeroed_sigset();
    let mut old: libc::sigset_t = unsafe_zeroed_sigset();
    // SAFETY: both sets are valid, initialised sigset_t values.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    let restore_mask = || {
        // SAFETY: `old` holds the mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    };
    let eng = match engine::io::Engine::new(&cfg, engine_end) {
        Ok(e) => e,
        Err(e) => {
            restore_mask();
            log::line(format_args!("{e}"));
            close_fd(shim_end);
            close_fd(engine_end);
            return Err(e.errno);
        }
    };
    DURABLE.store(
        cfg.durability != engine::config::Durability::Memory,
        Ordering::Relaxed,
    );
    let spawned = std::thread::Builder::new()
        .name("bpshim-engine".into())
        .spawn(move || {
            crate::hooks::IN_ENGINE.with(|c| c.set(true));
            eng.run();
        });
    restore_mask();
    if let Err(e) = spawned {
        log::line(format_args!("cannot start the engine thread: {e}"));
        close_fd(shim_end);
        return Err(libc::ENOMEM);
    }
    EXIT_FLUSH_MS.store(cfg.exit_flush_ms, Ordering::Relaxed);
    // SAFETY: getpid has no preconditions.
    OWNER_PID.store(unsafe { libc::getpid() }, Ordering::Relaxed);
    // SAFETY: the handler only resets atomics.
    unsafe { libc::pthread_atfork(None, None, Some(after_fork_child)) };
    CONTROL.store(shim_end, Ordering::Release);
    Ok(())
}

fn unsafe_zeroed_sigset() -> libc::sigset_t {
    // SAFETY: sigset_t is a plain bit array; all-zero is the empty set.
    unsafe { std::mem::zeroed() }
}

extern "C" fn after_fork_child() {
    // Only the forking thread survives: locks another thread held are free again. The child
    // keeps using the parent's engine through the inherited channel while the parent lives.
    fdtable::SOCKS.reset_after_fork();
    LIMITS.reset_after_fork();
}

/// A connected AF_UNIX SOCK_SEQPACKET pair, close-on-exec (the real `socketpair`). Errors: the
/// errno.
pub fn seqpacket_pair() -> Result<(c_int, c_int), i32> {
    let mut sv = [-1; 2];
    // SAFETY: `sv` has room for the two descriptors.
    if unsafe {
        call::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            sv.as_mut_ptr(),
        )
    } < 0
    {
        return Err(errno());
    }
    Ok((sv[0], sv[1]))
}

/// Moves a descriptor of the shim's own to the high range (close-on-exec).
pub fn move_high(fd: c_int) -> c_int {
    // SAFETY: plain fcntl on a descriptor we own.
    let hi = unsafe { call::fcntl(fd, libc::F_DUPFD_CLOEXEC, HIGH_FD as libc::c_ulong) };
    if hi < 0 {
        return fd;
    }
    close_fd(fd);
    hi
}

/// Closes a descriptor of the shim's own with the real close.
pub fn close_fd(fd: c_int) {
    // SAFETY: closing a descriptor the shim owns.
    unsafe { call::close(fd) };
}

/// The current errno.
pub fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Sends `req` (with `data_fd` attached, if any) and waits for the reply.
pub fn request(req: &Request, attach: &[c_int], timeout_ms: u32) -> Result<Reply, i32> {
    let control = CONTROL.load(Ordering::Acquire);
    if control < 0 {
        return Err(libc::ENETDOWN);
    }
    let (mine, theirs) = seqpacket_pair()?;
    let tv = libc::timeval {
        tv_sec: (timeout_ms / 1000) as libc::time_t,
        tv_usec: ((timeout_ms % 1000) * 1000) as libc::suseconds_t,
    };
    // SAFETY: `tv` is a valid timeval of the size passed.
    unsafe {
        call::setsockopt(
            mine,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    let body = req.encode();
    let mut fds = [theirs; 4];
    if attach.len() > 3 {
        close_fd(mine);
        close_fd(theirs);
        return Err(libc::EINVAL);
    }
    fds[..attach.len()].copy_from_slice(attach);
    fds[attach.len()] = theirs;
    let sent = send_with_fds(control, &body, &fds[..attach.len() + 1]);
    close_fd(theirs);
    if let Err(e) = sent {
        close_fd(mine);
        return Err(e);
    }
    let mut buf = [0u8; 4096];
    let n = loop {
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { libc::recv(mine, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        break n;
    };
    let e = errno();
    close_fd(mine);
    if n < 0 {
        return Err(if e == libc::EAGAIN {
            libc::ETIMEDOUT
        } else {
            e
        });
    }
    if n == 0 {
        return Err(libc::ENETDOWN);
    }
    Reply::decode(&buf[..n as usize]).map_err(|_| libc::EPROTO)
}

/// Sends one message with descriptors attached (`SCM_RIGHTS`).
pub fn send_with_fds(fd: c_int, body: &[u8], fds: &[c_int]) -> Result<(), i32> {
    let payload = std::mem::size_of_val(fds) as u32;
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(payload) } as usize;
    let mut cbuf = [0u64; 8]; // 64 bytes, aligned for cmsghdr; room for 10 descriptors
    if space > std::mem::size_of_val(&cbuf) {
        return Err(libc::EINVAL);
    }
    let mut iov = libc::iovec {
        iov_base: body.as_ptr() as *mut libc::c_void,
        iov_len: body.len(),
    };
    // SAFETY: msghdr is plain data; every pointer set below refers to a live local buffer.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: msg_control points to `space` bytes, enough for one header with `fds`.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(payload) as usize;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr(),
                libc::CMSG_DATA(c).cast::<c_int>(),
                fds.len(),
            );
        }
    }
    loop {
        // SAFETY: `msg` is fully initialised and its buffers outlive the call.
        let r = unsafe { call::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) };
        if r >= 0 {
            return Ok(());
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// Library destructor: runs after the application's atexit handlers. Waits, bounded, until what
/// the application sent has left the node.
pub fn exit_flush() {
    let control = CONTROL.load(Ordering::Acquire);
    // SAFETY: getpid has no preconditions.
    if control < 0 || OWNER_PID.load(Ordering::Relaxed) != unsafe { libc::getpid() } {
        return;
    }
    let ms = EXIT_FLUSH_MS.load(Ordering::Relaxed);
    match request(
        &Request::Flush { timeout_ms: ms },
        &[],
        ms.saturating_add(1000),
    ) {
        Ok(r) if r.value > 0 && DURABLE.load(Ordering::Relaxed) => log::line(format_args!(
            "{} bundle(s) had not left the node when the process exited (no open contact or \
             route, or the next hop did not take them within {ms} ms); they stay in the store \
             and leave when a process of this node runs again",
            r.value
        )),
        Ok(r) if r.value > 0 => log::line(format_args!(
            "{} bundle(s) had not left the node when the process exited (no route, or the \
             convergence layer was busy for {ms} ms); they are lost (BP_DURABILITY=memory)",
            r.value
        )),
        Ok(_) => {}
        Err(e) => log::line(format_args!("exit flush failed: errno {e}")),
    }
}

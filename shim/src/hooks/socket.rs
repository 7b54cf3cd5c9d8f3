//! `socket`, `socketpair`, `close`, the `dup` family, `fcntl`, `ioctl`, and the calls AF_BP does
//! not support (`listen`, `accept`, `accept4`, `shutdown`).

use super::{bp_fd, fail};
use crate::engine_thread::{self as engine, DEFAULT_LIFETIME_S, LIMITS, LOCAL_NODE, MAX_ADU};
use crate::fdtable::{self, Sock};
use crate::real::call;
use crate::sockaddr::AF_BP;
use ::engine::api::{Request, TX_HEADER_LEN, TxHeader};
use libc::{c_int, c_ulong, c_void, sockaddr, socklen_t};
use std::sync::atomic::Ordering;

/// Timeout set in the kernel on the application end when the application asked for none: long
/// enough to be "forever", and a timeout, so that a signal interrupts a blocking receive with
/// EINTR even under SA_RESTART, as upstream's module does.
pub const FOREVER_SECS: i64 = 100_000_000;

/// `socket(2)`.
///
/// # Safety
/// Called by C code with the arguments of socket(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, proto: c_int) -> c_int {
    if domain != AF_BP || super::IN_ENGINE.with(|c| c.get()) {
        // SAFETY: same arguments as received.
        return unsafe { call::socket(domain, ty, proto) };
    }
    bp_socket(ty, proto)
}

fn bp_socket(ty: c_int, proto: c_int) -> c_int {
    let base = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    if base != libc::SOCK_DGRAM {
        return fail(libc::ESOCKTNOSUPPORT);
    }
    let (app, eng) = match engine::seqpacket_pair() {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    if app as usize >= fdtable::MAX_FD {
        engine::close_fd(app);
        engine::close_fd(eng);
        return fail(libc::EMFILE);
    }
    // The side pair: store acknowledgements and read reports, which must not wait behind data.
    let (side_app, side_eng) = match engine::seqpacket_pair() {
        Ok((a, e)) => (engine::move_high(a), e),
        Err(e) => {
            engine::close_fd(app);
            engine::close_fd(eng);
            return fail(e);
        }
    };
    // The pair exists before the engine starts, so that the first AF_BP socket gets the lowest
    // free descriptor, as a kernel socket would, and the engine's own take the next ones.
    if let Err(e) = engine::ensure() {
        for f in [app, eng, side_app, side_eng] {
            engine::close_fd(f);
        }
        return fail(e);
    }
    // A larger buffer on the engine side lets more received ADUs wait for the application
    // (capped by net.core.wmem_max for unprivileged processes).
    set_int(eng, libc::SO_SNDBUF, 4 << 20);
    set_timeout(app, libc::SO_RCVTIMEO, FOREVER_SECS, 0);
    set_timeout(app, libc::SO_SNDTIMEO, FOREVER_SECS, 0);
    let reply = engine::request(
        &Request::Open {
            sock_type: base as u32,
            protocol: proto as u32,
        },
        &[eng, app, side_eng],
        engine::REPLY_TIMEOUT_MS,
    );
    engine::close_fd(eng);
    engine::close_fd(side_eng);
    let reply = match reply {
        Ok(r) if r.errno == 0 => r,
        Ok(r) => {
            engine::close_fd(app);
            engine::close_fd(side_app);
            return fail(r.errno);
        }
        Err(e) => {
            engine::close_fd(app);
            engine::close_fd(side_app);
            return fail(e);
        }
    };
    LOCAL_NODE.store(reply.local_node, Ordering::Relaxed);
    MAX_ADU.store(reply.max_adu, Ordering::Relaxed);
    if let Ok(b) = <[u8; 8]>::try_from(reply.data.as_slice()) {
        DEFAULT_LIFETIME_S.store(u64::from_le_bytes(b), Ordering::Relaxed);
    }
    LIMITS.with(|l| {
        if l.is_empty() {
            *l = reply.limits.clone();
        }
    });
    // SAFETY: fcntl on the descriptor just created.
    unsafe {
        if ty & libc::SOCK_NONBLOCK != 0 {
            let fl = call::fcntl(app, libc::F_GETFL, 0);
            call::fcntl(app, libc::F_SETFL, (fl | libc::O_NONBLOCK) as c_ulong);
        }
        if ty & libc::SOCK_CLOEXEC == 0 {
            call::fcntl(app, libc::F_SETFD, 0);
        }
    }
    let id = reply.value as u32;
    fdtable::insert(
        id,
        Sock {
            refs: 1,
            sock_type: base,
            protocol: proto,
            side: Some(side_app),
            sync: Some(std::sync::Arc::new(fdtable::SockSync::default())),
            ..Sock::default()
        },
    );
    let old = fdtable::set(app, id);
    if old != 0
        && let Some(s) = fdtable::drop_ref(old)
    {
        fdtable::release(s);
    }
    fdtable::ANY.store(true, Ordering::Release);
    app
}

fn set_int(fd: c_int, opt: c_int, v: c_int) {
    // SAFETY: `v` is a valid int of the size passed.
    unsafe {
        call::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&v as *const c_int).cast(),
            std::mem::size_of::<c_int>() as socklen_t,
        )
    };
}

/// Sets a kernel timeout on a descriptor.
pub fn set_timeout(fd: c_int, opt: c_int, sec: i64, usec: i64) -> c_int {
    let tv = libc::timeval {
        tv_sec: sec as libc::time_t,
        tv_usec: usec as libc::suseconds_t,
    };
    // SAFETY: `tv` is a valid timeval of the size passed.
    unsafe {
        call::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as socklen_t,
        )
    }
}

/// Tells the engine that everything up to `seq` was read on this socket (best effort).
pub fn send_ack(fd: c_int, seq: u32) {
    let h = TxHeader::read_ack(seq).encode();
    // SAFETY: `h` is a live buffer of TX_HEADER_LEN bytes.
    unsafe {
        call::send(
            fd,
            h.as_ptr().cast(),
            TX_HEADER_LEN,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
}

/// `socketpair(2)`: AF_BP has no pairs.
///
/// # Safety
/// Called by C code with the arguments of socketpair(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn socketpair(
    domain: c_int,
    ty: c_int,
    proto: c_int,
    sv: *mut c_int,
) -> c_int {
    if domain == AF_BP && !super::IN_ENGINE.with(|c| c.get()) {
        return fail(libc::EOPNOTSUPP);
    }
    // SAFETY: same arguments as received.
    unsafe { call::socketpair(domain, ty, proto, sv) }
}

/// Forgets descriptor `fd` of socket `id`; the last descriptor reports what was read.
fn forget(fd: c_int, id: u32) {
    fdtable::set(fd, 0);
    if let Some(s) = fdtable::drop_ref(id) {
        if s.read_seq != s.acked_seq {
            send_ack(fd, s.read_seq);
        }
        fdtable::release(s);
    }
}

/// `close(2)`.
///
/// # Safety
/// Called by C code with the arguments of close(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if let Some(id) = bp_fd(fd) {
        forget(fd, id);
    }
    // SAFETY: same argument as received.
    unsafe { call::close(fd) }
}

/// `dup(2)`.
///
/// # Safety
/// Called by C code with the arguments of dup(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    // SAFETY: same argument as received.
    let r = unsafe { call::dup(fd) };
    if r >= 0
        && let Some(id) = bp_fd(fd)
    {
        fdtable::add_ref(r, id);
    }
    r
}

fn after_dup2(old: c_int, new: c_int) {
    match bp_fd(old) {
        Some(id) => fdtable::add_ref(new, id),
        None => {
            if let Some(prev) = bp_fd(new) {
                fdtable::set(new, 0);
                if let Some(s) = fdtable::drop_ref(prev) {
                    fdtable::release(s);
                }
            }
        }
    }
}

/// `dup2(2)`.
///
/// # Safety
/// Called by C code with the arguments of dup2(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    // SAFETY: same arguments as received.
    let r = unsafe { call::dup2(old, new) };
    if r >= 0 && old != new && fdtable::ANY.load(Ordering::Relaxed) {
        after_dup2(old, new);
    }
    r
}

/// `dup3(2)`.
///
/// # Safety
/// Called by C code with the arguments of dup3(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    // SAFETY: same arguments as received.
    let r = unsafe { call::dup3(old, new, flags) };
    if r >= 0 && fdtable::ANY.load(Ordering::Relaxed) {
        after_dup2(old, new);
    }
    r
}

fn after_fcntl(fd: c_int, cmd: c_int, r: c_int) {
    if r >= 0
        && (cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC)
        && let Some(id) = bp_fd(fd)
    {
        fdtable::add_ref(r, id);
    }
}

/// `fcntl(2)`. The third argument is declared as an integer: every fcntl argument is passed in
/// an integer register on x86_64 and aarch64 Linux, so this matches the variadic call.
///
/// # Safety
/// Called by C code with the arguments of fcntl(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    // SAFETY: same arguments as received.
    let r = unsafe { call::fcntl(fd, cmd, arg) };
    after_fcntl(fd, cmd, r);
    r
}

/// `fcntl64` (what `-D_FILE_OFFSET_BITS=64` binds `fcntl` to).
///
/// # Safety
/// As [`fcntl`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    // SAFETY: same arguments as received.
    let r = unsafe { call::fcntl64(fd, cmd, arg) };
    after_fcntl(fd, cmd, r);
    r
}

/// `ioctl(2)`: `FIONREAD` gives the size of the next ADU (a SEQPACKET socket would report the
/// bytes of every queued message, headers included).
///
/// # Safety
/// Called by C code with the arguments of ioctl(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ioctl(fd: c_int, req: c_ulong, arg: *mut c_void) -> c_int {
    if req == libc::FIONREAD && bp_fd(fd).is_some() {
        if arg.is_null() {
            return fail(libc::EFAULT);
        }
        let n = super::recv::next_len(fd);
        // SAFETY: FIONREAD's argument is an int*.
        unsafe { *(arg as *mut c_int) = n.min(c_int::MAX as u64) as c_int };
        return 0;
    }
    // SAFETY: same arguments as received.
    unsafe { call::ioctl(fd, req, arg) }
}

/// `listen(2)`: not for datagram sockets.
///
/// # Safety
/// Called by C code with the arguments of listen(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    if bp_fd(fd).is_some() {
        return fail(libc::EOPNOTSUPP);
    }
    // SAFETY: same arguments as received.
    unsafe { call::listen(fd, backlog) }
}

/// `accept(2)`.
///
/// # Safety
/// Called by C code with the arguments of accept(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    if bp_fd(fd).is_some() {
        return fail(libc::EOPNOTSUPP);
    }
    // SAFETY: same arguments as received.
    unsafe { call::accept(fd, addr, len) }
}

/// `accept4(2)`.
///
/// # Safety
/// Called by C code with the arguments of accept4(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    if bp_fd(fd).is_some() {
        return fail(libc::EOPNOTSUPP);
    }
    // SAFETY: same arguments as received.
    unsafe { call::accept4(fd, addr, len, flags) }
}

/// `shutdown(2)`: not supported on AF_BP (as upstream).
///
/// # Safety
/// Called by C code with the arguments of shutdown(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
    if bp_fd(fd).is_some() {
        return fail(libc::EOPNOTSUPP);
    }
    // SAFETY: same arguments as received.
    unsafe { call::shutdown(fd, how) }
}

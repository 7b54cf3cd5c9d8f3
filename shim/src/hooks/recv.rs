//! Every receive entry point (`recvmsg`, `recvfrom`, `recv`, `read`, `readv` and the fortify
//! variants `__recv_chk`, `__recvfrom_chk`, `__read_chk`) through one path: one `recvmsg` on the
//! pair with a scatter list `[header, caller's buffers]`, so the ADU lands directly in the
//! caller's memory and `MSG_PEEK`, `MSG_TRUNC`, `MSG_DONTWAIT`, `O_NONBLOCK` and the receive
//! timeout keep their kernel behaviour.

use super::socket::send_ack;
use super::{bp_fd, fail};
use crate::engine_thread as engine;
use crate::fdtable;
use crate::real::call;
use crate::sockaddr as sa;
use ::engine::api::{Kind, RX_HEADER_LEN, RxHeader};
use libc::{c_int, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};

/// Read ADUs are reported to the engine at least this often (and at close).
const ACK_EVERY: u32 = 32;
const STACK_IOV: usize = 16;

unsafe extern "C" {
    fn __chk_fail() -> !;
}

/// Flags passed on to the pair; the rest have no meaning for a datagram receive.
const PASSED: c_int = libc::MSG_PEEK | libc::MSG_TRUNC | libc::MSG_DONTWAIT;

/// The common receive path. Returns the ADU length (or the copied length without `MSG_TRUNC`
/// in `flags`), and sets `*msg_flags` (if given) to `MSG_TRUNC` when the ADU did not fit.
///
/// # Safety
/// `iov` must point to `cnt` valid iovecs; `name`/`namelen` valid or null.
#[allow(clippy::too_many_arguments)] // the union of every receive call's arguments
pub unsafe fn bp_recv(
    fd: c_int,
    id: u32,
    iov: *const iovec,
    cnt: usize,
    flags: c_int,
    name: *mut c_void,
    namelen: *mut socklen_t,
    msg_flags: *mut c_int,
) -> ssize_t {
    // SAFETY: forwarded from the caller.
    unsafe { receive(fd, id, iov, cnt, flags, name, namelen, msg_flags, true).0 }
}

/// One receive; with `commit`, a read (not a peek) is committed before returning (durable
/// store). Returns the result and the delivery sequence of the ADU read (0: none).
///
/// # Safety
/// As [`bp_recv`].
#[allow(clippy::too_many_arguments)] // the union of every receive call's arguments
unsafe fn receive(
    fd: c_int,
    id: u32,
    iov: *const iovec,
    cnt: usize,
    flags: c_int,
    name: *mut c_void,
    namelen: *mut socklen_t,
    msg_flags: *mut c_int,
    commit: bool,
) -> (ssize_t, u32) {
    // SAFETY: forwarded from the caller.
    let r = unsafe { receive_one(fd, id, iov, cnt, flags, name, namelen, msg_flags) };
    let (ret, seq) = r;
    if ret < 0 || seq == 0 || flags & libc::MSG_PEEK != 0 {
        return (ret, 0);
    }
    if !engine::DURABLE.load(std::sync::atomic::Ordering::Relaxed) {
        note_read(fd, id, seq);
        return (ret, seq);
    }
    if commit && let Err(e) = commit_read(id, seq) {
        return (fail(e), 0);
    }
    (ret, seq)
}

/// Memory mode: the read is reported to the engine every [`ACK_EVERY`] reads (and at close).
fn note_read(fd: c_int, id: u32, seq: u32) {
    let due = fdtable::with_sock(id, |s| {
        s.read_seq = seq;
        if seq.wrapping_sub(s.acked_seq) >= ACK_EVERY {
            s.acked_seq = seq;
            true
        } else {
            false
        }
    });
    if due == Some(true) {
        send_ack(fd, seq);
    }
}

/// Durable store: the engine commits that every ADU up to `seq` was read (it forgets them);
/// returns once that is committed.
fn commit_read(id: u32, seq: u32) -> Result<(), i32> {
    if let Some((sync, side)) = fdtable::with_sock(id, |s| s.commit_channel()).flatten() {
        crate::store_wait::read_done(&sync, side, seq)?;
        fdtable::with_sock(id, |s| {
            s.read_seq = seq;
            s.acked_seq = seq;
        });
    }
    Ok(())
}

/// # Safety
/// As [`bp_recv`].
#[allow(clippy::too_many_arguments)] // the union of every receive call's arguments
unsafe fn receive_one(
    fd: c_int,
    id: u32,
    iov: *const iovec,
    cnt: usize,
    flags: c_int,
    name: *mut c_void,
    namelen: *mut socklen_t,
    msg_flags: *mut c_int,
) -> (ssize_t, u32) {
    if flags & libc::MSG_ERRQUEUE != 0 {
        // SAFETY: forwarded from the caller; no control buffer on this path.
        return (
            unsafe { errqueue(id, flags, name, namelen, msg_flags, std::ptr::null_mut()) },
            0,
        );
    }
    let iovs: &[iovec] = if cnt == 0 || iov.is_null() {
        &[]
    } else {
        // SAFETY: the caller passes `cnt` valid iovecs.
        unsafe { std::slice::from_raw_parts(iov, cnt) }
    };
    let cap: usize = iovs.iter().fold(0usize, |a, v| a.saturating_add(v.iov_len));
    let mut hb = [0u8; RX_HEADER_LEN];
    let mut stack = [iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; STACK_IOV + 1];
    let mut heap;
    let all: &mut [iovec] = if iovs.len() <= STACK_IOV {
        &mut stack[..iovs.len() + 1]
    } else {
        heap = vec![stack[0]; iovs.len() + 1];
        &mut heap[..]
    };
    all[0] = iovec {
        iov_base: hb.as_mut_ptr().cast(),
        iov_len: RX_HEADER_LEN,
    };
    all[1..].copy_from_slice(iovs);
    let mut cbuf = [0u64; 4];
    // SAFETY: plain data; pointers set below refer to live locals.
    let mut msg: msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = all.as_mut_ptr();
    msg.msg_iovlen = all.len();
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    let kflags = (flags & PASSED) | libc::MSG_CMSG_CLOEXEC;
    // SAFETY: `msg` is valid for the duration of the call.
    let r = unsafe { call::recvmsg(fd, &mut msg, kflags) };
    if r < 0 {
        return (-1, 0);
    }
    let memfd = received_fd(&msg);
    if r == 0 {
        // The engine end is gone.
        return (fail(libc::ENETDOWN), 0);
    }
    let h = match RxHeader::decode(&hb) {
        Ok(h) if r as usize >= RX_HEADER_LEN => h,
        _ => {
            if let Some(m) = memfd {
                engine::close_fd(m);
            }
            return (fail(libc::EIO), 0);
        }
    };
    let (ret, truncated) = match (h.kind, memfd) {
        (Kind::Memfd, Some(m)) => {
            let copied = copy_from_memfd(m, iovs, h.len);
            engine::close_fd(m);
            let Ok(copied) = copied else {
                return (fail(libc::EIO), 0);
            };
            let full = h.len as usize;
            let ret = if flags & libc::MSG_TRUNC != 0 {
                full
            } else {
                copied
            };
            (ret, full > cap)
        }
        _ => {
            if let Some(m) = memfd {
                engine::close_fd(m);
            }
            // With MSG_TRUNC the kernel returns the whole message length.
            (
                r as usize - RX_HEADER_LEN,
                msg.msg_flags & libc::MSG_TRUNC != 0,
            )
        }
    };
    // SAFETY: forwarded from the caller.
    unsafe {
        match &h.src_eid {
            Some(t) => sa::write_text(name, namelen, t, RxHeader::src_eid_len(&hb)),
            None => sa::write(name, namelen, h.src_node as u32, h.src_service as u32),
        }
    };
    if !msg_flags.is_null() {
        // SAFETY: the caller's flags slot.
        unsafe { *msg_flags = if truncated { libc::MSG_TRUNC } else { 0 } };
    }
    (ret as ssize_t, h.seq)
}

/// `BP_STATUS_REPORT` in `include/bp_socket.h`.
const BP_STATUS_REPORT: c_int = 1;

/// A receive with `MSG_ERRQUEUE`: the oldest status report for this socket, as Linux returns a
/// transmit error: no data, the reporting node as the name, the report as a control message
/// (`SOL_BP`/`BP_STATUS_REPORT`, `struct bp_status_report`) when `msg` has room for it.
/// Never blocks: `EAGAIN` when none is queued.
///
/// # Safety
/// Pointers as for the receive calls; `msg` null or the caller's msghdr.
unsafe fn errqueue(
    id: u32,
    flags: c_int,
    name: *mut c_void,
    namelen: *mut socklen_t,
    msg_flags: *mut c_int,
    msg: *mut msghdr,
) -> ssize_t {
    let peek = flags & libc::MSG_PEEK != 0;
    let r = match engine::request(
        &::engine::api::Request::ErrQueue { id, peek },
        &[],
        engine::REPLY_TIMEOUT_MS,
    ) {
        Ok(r) if r.errno == 0 => r,
        Ok(r) => return fail(r.errno),
        Err(e) => return fail(e),
    };
    let Ok(rec) = ::engine::api::StatusRecord::decode(&r.data) else {
        return fail(libc::EIO);
    };
    // struct bp_status_report, laid out as in the header (x86_64/aarch64: no padding).
    let mut c = [0u8; 112];
    c[0..4].copy_from_slice(&rec.status.to_ne_bytes());
    c[4..8].copy_from_slice(&rec.reason.to_ne_bytes());
    let words = [
        rec.send_seq,
        rec.creation_time,
        rec.creation_seq,
        rec.frag_offset,
        rec.frag_length,
        rec.times[0],
        rec.times[1],
        rec.times[2],
        rec.times[3],
    ];
    for (i, w) in words.iter().enumerate() {
        c[8 + 8 * i..16 + 8 * i].copy_from_slice(&w.to_ne_bytes());
    }
    for (off, (n, s)) in [(80, rec.source), (96, rec.reporter)] {
        c[off..off + 2].copy_from_slice(&(sa::AF_BP as u16).to_ne_bytes());
        c[off + 4..off + 8].copy_from_slice(&sa::SCHEME_IPN.to_ne_bytes());
        c[off + 8..off + 12].copy_from_slice(&(n as u32).to_ne_bytes());
        c[off + 12..off + 16].copy_from_slice(&(s as u32).to_ne_bytes());
    }
    // SAFETY: forwarded from the caller.
    unsafe { sa::write(name, namelen, rec.reporter.0 as u32, rec.reporter.1 as u32) };
    let mut out_flags = libc::MSG_ERRQUEUE;
    if msg.is_null() {
        out_flags |= libc::MSG_CTRUNC;
    } else {
        // SAFETY: the caller's msghdr; the CMSG macros stay within msg_controllen.
        unsafe {
            let m = &mut *msg;
            let space = libc::CMSG_SPACE(c.len() as u32) as usize;
            if m.msg_control.is_null() || m.msg_controllen < space {
                m.msg_controllen = 0;
                out_flags |= libc::MSG_CTRUNC;
            } else {
                let h = libc::CMSG_FIRSTHDR(m);
                (*h).cmsg_level = super::opt::SOL_BP;
                (*h).cmsg_type = BP_STATUS_REPORT;
                (*h).cmsg_len = libc::CMSG_LEN(c.len() as u32) as usize;
                std::ptr::copy_nonoverlapping(c.as_ptr(), libc::CMSG_DATA(h), c.len());
                m.msg_controllen = space;
            }
        }
    }
    if !msg_flags.is_null() {
        // SAFETY: the caller's flags slot.
        unsafe { *msg_flags = out_flags };
    }
    0
}

fn received_fd(msg: &msghdr) -> Option<c_int> {
    // SAFETY: the kernel filled msg_control/msg_controllen; the CMSG macros walk within it.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(msg);
        if c.is_null() || (*c).cmsg_level != libc::SOL_SOCKET || (*c).cmsg_type != libc::SCM_RIGHTS
        {
            return None;
        }
        Some(*(libc::CMSG_DATA(c) as *const c_int))
    }
}

fn copy_from_memfd(m: c_int, iovs: &[iovec], len: u64) -> Result<usize, ()> {
    let mut off: u64 = 0;
    for v in iovs {
        let mut done = 0usize;
        while done < v.iov_len && off < len {
            let want = (v.iov_len - done).min((len - off) as usize);
            // SAFETY: the iovec describes caller memory valid for `iov_len` bytes.
            let n = unsafe {
                libc::pread(
                    m,
                    (v.iov_base as *mut u8).add(done).cast(),
                    want,
                    off as i64,
                )
            };
            if n < 0 {
                if engine::errno() == libc::EINTR {
                    continue;
                }
                return Err(());
            }
            if n == 0 {
                return Err(());
            }
            done += n as usize;
            off += n as u64;
        }
        if off >= len {
            break;
        }
    }
    Ok(off as usize)
}

/// Size of the next queued ADU without consuming it (0 if none), for `FIONREAD`.
pub fn next_len(fd: c_int) -> u64 {
    let mut hb = [0u8; RX_HEADER_LEN];
    let mut v = iovec {
        iov_base: hb.as_mut_ptr().cast(),
        iov_len: RX_HEADER_LEN,
    };
    let mut cbuf = [0u64; 4];
    // SAFETY: plain data; pointers refer to live locals.
    let mut msg: msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut v;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    let fl = libc::MSG_PEEK | libc::MSG_TRUNC | libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC;
    // SAFETY: `msg` is valid for the call.
    let r = unsafe { call::recvmsg(fd, &mut msg, fl) };
    if let Some(m) = received_fd(&msg) {
        engine::close_fd(m);
    }
    if r < RX_HEADER_LEN as isize {
        return 0;
    }
    RxHeader::decode(&hb).map(|h| h.len).unwrap_or(0)
}

/// `recvmsg(2)`.
///
/// # Safety
/// Called by C code with the arguments of recvmsg(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    let Some(id) = bp_fd(fd) else {
        // SAFETY: same arguments as received.
        return unsafe { call::recvmsg(fd, msg, flags) };
    };
    if msg.is_null() {
        return fail(libc::EFAULT);
    }
    // SAFETY: the caller's msghdr is valid and writable.
    let m = unsafe { &mut *msg };
    let namelen: *mut socklen_t = if m.msg_name.is_null() {
        std::ptr::null_mut()
    } else {
        &mut m.msg_namelen
    };
    if flags & libc::MSG_ERRQUEUE != 0 {
        let (name, flags_out) = (m.msg_name, &mut m.msg_flags as *mut c_int);
        // SAFETY: fields of the caller's msghdr.
        return unsafe { errqueue(id, flags, name, namelen, flags_out, msg) };
    }
    // SAFETY: fields of the caller's msghdr.
    let r = unsafe {
        bp_recv(
            fd,
            id,
            m.msg_iov,
            m.msg_iovlen,
            flags,
            m.msg_name,
            namelen,
            &mut m.msg_flags,
        )
    };
    if r >= 0 {
        m.msg_controllen = 0;
    }
    r
}

/// `recvmmsg(2)`: up to `vlen` ADUs, the first as `flags` say (blocking unless
/// `MSG_DONTWAIT`/`O_NONBLOCK`), the others only if already queued (as with `MSG_WAITFORONE`;
/// the kernel without it would wait for all `vlen`; `timeout` is not used). With a durable store
/// the reads are committed together, once, before returning: the fast way to read durably.
///
/// # Safety
/// Called by C code with the arguments of recvmmsg(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvmmsg(
    fd: c_int,
    vec: *mut libc::mmsghdr,
    vlen: libc::c_uint,
    flags: c_int,
    timeout: *mut libc::timespec,
) -> c_int {
    let Some(id) = bp_fd(fd) else {
        // SAFETY: same arguments as received.
        return unsafe { call::recvmmsg(fd, vec, vlen, flags, timeout) };
    };
    if vec.is_null() {
        return fail(libc::EFAULT);
    }
    if flags & libc::MSG_ERRQUEUE != 0 {
        return fail(libc::EOPNOTSUPP);
    }
    let n = vlen.min(1024) as usize;
    let mut got = 0;
    let mut last = 0;
    for i in 0..n {
        // SAFETY: the caller passes `vlen` valid mmsghdr entries.
        let m = unsafe { &mut *vec.add(i) };
        let namelen: *mut socklen_t = if m.msg_hdr.msg_name.is_null() {
            std::ptr::null_mut()
        } else {
            &mut m.msg_hdr.msg_namelen
        };
        let f = if i == 0 {
            flags & !libc::MSG_WAITFORONE
        } else {
            (flags & !libc::MSG_WAITFORONE) | libc::MSG_DONTWAIT
        };
        // SAFETY: fields of the caller's msghdr.
        let (r, seq) = unsafe {
            receive(
                fd,
                id,
                m.msg_hdr.msg_iov,
                m.msg_hdr.msg_iovlen,
                f,
                m.msg_hdr.msg_name,
                namelen,
                &mut m.msg_hdr.msg_flags,
                false,
            )
        };
        if r < 0 {
            if got == 0 {
                return -1;
            }
            break;
        }
        m.msg_hdr.msg_controllen = 0;
        m.msg_len = r as libc::c_uint;
        got += 1;
        if seq != 0 {
            last = seq;
        }
    }
    if last != 0
        && engine::DURABLE.load(std::sync::atomic::Ordering::Relaxed)
        && let Err(e) = commit_read(id, last)
    {
        return fail(e);
    }
    got as c_int
}

/// `recvfrom(2)`.
///
/// # Safety
/// Called by C code with the arguments of recvfrom(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    let Some(id) = bp_fd(fd) else {
        // SAFETY: same arguments as received.
        return unsafe { call::recvfrom(fd, buf, n, flags, addr, addrlen) };
    };
    let v = iovec {
        iov_base: buf,
        iov_len: n,
    };
    // SAFETY: one iovec describing the caller's buffer.
    unsafe {
        bp_recv(
            fd,
            id,
            &v,
            1,
            flags,
            addr.cast(),
            addrlen,
            std::ptr::null_mut(),
        )
    }
}

/// `recv(2)`.
///
/// # Safety
/// Called by C code with the arguments of recv(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t {
    let Some(id) = bp_fd(fd) else {
        // SAFETY: same arguments as received.
        return unsafe { call::recv(fd, buf, n, flags) };
    };
    let v = iovec {
        iov_base: buf,
        iov_len: n,
    };
    // SAFETY: one iovec describing the caller's buffer.
    unsafe {
        bp_recv(
            fd,
            id,
            &v,
            1,
            flags,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// `read(2)`: one ADU, as `recv` with no flags.
///
/// # Safety
/// Called by C code with the arguments of read(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    let Some(id) = bp_fd(fd) else {
        // SAFETY: same arguments as received.
        return unsafe { call::read(fd, buf, n) };
    };
    let v = iovec {
        iov_base: buf,
        iov_len: n,
    };
    // SAFETY: one iovec describing the caller's buffer.
    unsafe {
        bp_recv(
            fd,
            id,
            &v,
            1,
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// `readv(2)`.
///
/// # Safety
/// Called by C code with the arguments of readv(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    let Some(id) = bp_fd(fd) else {
        // SAFETY: same arguments as received.
        return unsafe { call::readv(fd, iov, cnt) };
    };
    if cnt < 0 {
        return fail(libc::EINVAL);
    }
    // SAFETY: the caller's iovec array.
    unsafe {
        bp_recv(
            fd,
            id,
            iov,
            cnt as usize,
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// `__recv_chk`: what `recv` becomes under `-D_FORTIFY_SOURCE` when the buffer size is known.
///
/// # Safety
/// Called by C code with the arguments of __recv_chk.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __recv_chk(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
    flags: c_int,
) -> ssize_t {
    if bp_fd(fd).is_none() {
        // SAFETY: same arguments as received.
        return unsafe { call::__recv_chk(fd, buf, n, buflen, flags) };
    }
    if n > buflen {
        // SAFETY: reports the overflow and aborts, as glibc does.
        unsafe { __chk_fail() }
    }
    // SAFETY: as recv.
    unsafe { recv(fd, buf, n, flags) }
}

/// `__recvfrom_chk`.
///
/// # Safety
/// Called by C code with the arguments of __recvfrom_chk.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    if bp_fd(fd).is_none() {
        // SAFETY: same arguments as received.
        return unsafe { call::__recvfrom_chk(fd, buf, n, buflen, flags, addr, addrlen) };
    }
    if n > buflen {
        // SAFETY: reports the overflow and aborts, as glibc does.
        unsafe { __chk_fail() }
    }
    // SAFETY: as recvfrom.
    unsafe { recvfrom(fd, buf, n, flags, addr, addrlen) }
}

/// `__read_chk`.
///
/// # Safety
/// Called by C code with the arguments of __read_chk.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __read_chk(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    buflen: size_t,
) -> ssize_t {
    if bp_fd(fd).is_none() {
        // SAFETY: same arguments as received.
        return unsafe { call::__read_chk(fd, buf, n, buflen) };
    }
    if n > buflen {
        // SAFETY: reports the overflow and aborts, as glibc does.
        unsafe { __chk_fail() }
    }
    // SAFETY: as read.
    unsafe { read(fd, buf, n) }
}

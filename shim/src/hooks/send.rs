//! Every send entry point (`sendto`, `sendmsg`, `send`, `write`, `writev`) through one path:
//! check the destination and flags as a kernel socket would, bind if needed, then write one
//! record (header + ADU, gathered from the caller's buffers without a copy) to the pair.

use super::addr::autobind;
use super::{bp_fd, fail};
use crate::engine_thread::{self as engine, LIMITS, LOCAL_NODE, MAX_ADU};
use crate::fdtable;
use crate::real::call;
use crate::sockaddr as sa;
use crate::store_wait;
use ::engine::api::{INLINE_MAX, Kind, TX_HEADER_LEN, TxHeader};
use ::engine::node::send_flags;
use libc::{c_int, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};
use std::sync::atomic::Ordering;

/// iovecs handled without allocating.
const STACK_IOV: usize = 16;

/// The common send path: one record, then (durable store) the wait for its commit.
///
/// # Safety
/// `iov` must point to `cnt` valid iovecs; `addr` (if not null) to `addrlen` bytes.
pub unsafe fn bp_send(
    fd: c_int,
    id: u32,
    iov: *const iovec,
    cnt: usize,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> ssize_t {
    // SAFETY: forwarded from the caller.
    match unsafe { send_record(fd, id, iov, cnt, flags, addr, addrlen) } {
        Ok((len, commit)) => match commit.map(|c| c.wait()) {
            Some(Err(e)) => fail(e),
            _ => len as ssize_t,
        },
        Err(e) => fail(e),
    }
}

/// A record written to the pair whose commit the sender waits for (durable store).
pub struct Commit {
    sync: std::sync::Arc<fdtable::SockSync>,
    side: c_int,
    ticket: u64,
}

impl Commit {
    /// Waits until the engine reports the record committed.
    pub fn wait(&self) -> Result<(), i32> {
        store_wait::wait(&self.sync, self.side, store_wait::Count::Data, self.ticket)
    }
}

/// Checks and writes one record; returns the ADU length and, with a durable store, what to
/// wait for before telling the application.
///
/// # Safety
/// As [`bp_send`].
unsafe fn send_record(
    fd: c_int,
    id: u32,
    iov: *const iovec,
    cnt: usize,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> Result<(usize, Option<Commit>), i32> {
    let dest = if addr.is_null() {
        match fdtable::with_sock(id, |s| s.peer).flatten() {
            Some((n, s)) => sa::Dest::Ipn(n, s),
            None => return Err(libc::EDESTADDRREQ),
        }
    } else {
        // SAFETY: forwarded from the caller.
        unsafe { sa::any_destination(addr, addrlen) }?
    };
    let (dest, text) = match dest {
        sa::Dest::Ipn(n, s) => ((n, s), None),
        sa::Dest::Text(t) => ((0, 0), Some(t)),
    };
    let bpflags = flags as u32 & send_flags::ALL;
    if !send_flags::valid(bpflags) {
        return Err(libc::EINVAL);
    }
    let iovs: &[iovec] = if cnt == 0 || iov.is_null() {
        &[]
    } else {
        // SAFETY: the caller passes `cnt` valid iovecs.
        unsafe { std::slice::from_raw_parts(iov, cnt) }
    };
    let mut len: usize = 0;
    for v in iovs {
        len = match len.checked_add(v.iov_len) {
            Some(l) => l,
            None => return Err(libc::EMSGSIZE),
        };
    }
    if len as u64 > MAX_ADU.load(Ordering::Relaxed) {
        return Err(libc::EMSGSIZE);
    }
    // A bundle too big for its next hop is fragmented by the node, unless the socket forbids it.
    let mnf = fdtable::with_sock(id, |s| s.bp.must_not_fragment != 0).unwrap_or(false);
    if mnf && text.is_none() && !fits_route(dest, len) {
        return Err(libc::EMSGSIZE);
    }
    if len == 0 {
        return Ok((0, None));
    }
    autobind(id)?;
    // One look at the socket's state: the read acknowledgement to carry and, with a durable
    // store, what to wait on.
    let durable_store = engine::DURABLE.load(Ordering::Relaxed);
    let (ack, durable) = fdtable::with_sock(id, |s| {
        s.acked_seq = s.read_seq;
        (
            s.read_seq,
            durable_store.then(|| s.commit_channel()).flatten(),
        )
    })
    .unwrap_or((0, None));
    let kflags = libc::MSG_NOSIGNAL | (flags & libc::MSG_DONTWAIT);
    let mut h = TxHeader {
        kind: Kind::Inline,
        flags: bpflags,
        ack,
        dest_node: dest.0 as u64,
        dest_service: dest.1 as u64,
        len: len as u64,
        eid_len: text.as_ref().map_or(0, |t| t.len() as u16),
    };
    let tb: &[u8] = text.as_ref().map_or(&[], |t| t.as_bytes());
    // With a durable store the send returns once the record is committed: records are
    // numbered in the order they enter the pair (the lock), then the caller waits for its number.
    let guard = durable
        .as_ref()
        .map(|(s, _)| s.send_lock.lock().unwrap_or_else(|p| p.into_inner()));
    let r = if len <= INLINE_MAX {
        let hb = h.encode();
        let mut stack = [iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; STACK_IOV + 2];
        let mut heap;
        let all: &mut [iovec] = if iovs.len() <= STACK_IOV {
            &mut stack[..iovs.len() + 2]
        } else {
            heap = vec![stack[0]; iovs.len() + 2];
            &mut heap[..]
        };
        all[0] = iovec {
            iov_base: hb.as_ptr() as *mut c_void,
            iov_len: TX_HEADER_LEN,
        };
        // The destination text (empty for ipn) sits between the header and the ADU.
        all[1] = iovec {
            iov_base: tb.as_ptr() as *mut c_void,
            iov_len: tb.len(),
        };
        all[2..].copy_from_slice(iovs);
        // SAFETY: msghdr is plain data; its pointers refer to live buffers below.
        let mut msg: msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = all.as_mut_ptr();
        msg.msg_iovlen = all.len();
        // SAFETY: `msg` is valid for the duration of the call.
        unsafe { call::sendmsg(fd, &msg, kflags) }
    } else {
        h.kind = Kind::Memfd;
        match send_memfd(fd, &h, tb, iovs, kflags) {
            Ok(()) => 0,
            Err(e) => return Err(e),
        }
    };
    if r < 0 {
        let e = engine::errno();
        drop(guard);
        return Err(if e == libc::EPIPE || e == libc::ECONNRESET {
            libc::ENETDOWN
        } else {
            e
        });
    }
    let ticket = durable
        .as_ref()
        .map(|(s, _)| s.data_sent.fetch_add(1, Ordering::AcqRel) + 1);
    drop(guard);
    let commit = durable
        .zip(ticket)
        .map(|((sync, side), ticket)| Commit { sync, side, ticket });
    Ok((len, commit))
}

/// Whether an ADU of `len` bytes to `dest` fits the one-bundle-per-datagram limit of its route.
fn fits_route(dest: (u32, u32), len: usize) -> bool {
    if dest.0 as u64 == LOCAL_NODE.load(Ordering::Relaxed) {
        return true;
    }
    LIMITS.with(|l| {
        let (n, s) = (dest.0 as u64, dest.1 as u64);
        match l
            .iter()
            .find(|(pn, ps, _)| (*pn == u64::MAX || *pn == n) && (*ps == u64::MAX || *ps == s))
        {
            Some((_, _, max)) => len as u64 <= *max,
            None => true,
        }
    })
}

/// Sends an ADU too big for one message: written into a memfd, passed with the header.
fn send_memfd(
    fd: c_int,
    h: &TxHeader,
    text: &[u8],
    iovs: &[iovec],
    kflags: c_int,
) -> Result<(), i32> {
    // SAFETY: the name is a NUL-terminated literal.
    let m = unsafe { libc::memfd_create(c"bpshim-adu".as_ptr(), libc::MFD_CLOEXEC) };
    if m < 0 {
        return Err(engine::errno());
    }
    let mut off: i64 = 0;
    for v in iovs {
        let mut done = 0usize;
        while done < v.iov_len {
            // SAFETY: the iovec describes caller memory valid for `iov_len` bytes.
            let n = unsafe {
                libc::pwrite(
                    m,
                    (v.iov_base as *const u8).add(done).cast(),
                    v.iov_len - done,
                    off,
                )
            };
            if n < 0 {
                let e = engine::errno();
                if e == libc::EINTR {
                    continue;
                }
                engine::close_fd(m);
                return Err(e);
            }
            done += n as usize;
            off += n as i64;
        }
    }
    let mut body = h.encode().to_vec();
    body.extend_from_slice(text);
    let r = send_record_with_fd(fd, &body, m, kflags);
    engine::close_fd(m);
    r
}

fn send_record_with_fd(fd: c_int, body: &[u8], m: c_int, kflags: c_int) -> Result<(), i32> {
    let mut cbuf = [0u64; 4];
    // SAFETY: CMSG_SPACE is a size computation.
    let space = unsafe { libc::CMSG_SPACE(4) } as usize;
    let mut iov = iovec {
        iov_base: body.as_ptr() as *mut c_void,
        iov_len: body.len(),
    };
    // SAFETY: plain data; pointers set below refer to live locals.
    let mut msg: msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space;
    // SAFETY: the control buffer holds `space` bytes, enough for one descriptor.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
        *(libc::CMSG_DATA(c) as *mut c_int) = m;
    }
    // SAFETY: `msg` is valid for the duration of the call.
    if unsafe { call::sendmsg(fd, &msg, kflags) } < 0 {
        return Err(engine::errno());
    }
    Ok(())
}

/// `sendto(2)`.
///
/// # Safety
/// Called by C code with the arguments of sendto(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> ssize_t {
    let Some(id) = bp_fd(fd) else {
        // SAFETY: same arguments as received.
        return unsafe { call::sendto(fd, buf, n, flags, addr, addrlen) };
    };
    let v = iovec {
        iov_base: buf as *mut c_void,
        iov_len: n,
    };
    // SAFETY: one iovec describing the caller's buffer.
    unsafe { bp_send(fd, id, &v, 1, flags, addr, addrlen) }
}

/// `send(2)`.
///
/// # Safety
/// Called by C code with the arguments of send(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t {
    let Some(id) = bp_fd(fd) else {
        // SAFETY: same arguments as received.
        return unsafe { call::send(fd, buf, n, flags) };
    };
    let v = iovec {
        iov_base: buf as *mut c_void,
        iov_len: n,
    };
    // SAFETY: one iovec describing the caller's buffer.
    unsafe { bp_send(fd, id, &v, 1, flags, std::ptr::null(), 0) }
}

/// `sendmsg(2)`.
///
/// # Safety
/// Called by C code with the arguments of sendmsg(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    let Some(id) = bp_fd(fd) else {
        // SAFETY: same arguments as received.
        return unsafe { call::sendmsg(fd, msg, flags) };
    };
    if msg.is_null() {
        return fail(libc::EFAULT);
    }
    // SAFETY: the caller's msghdr is valid.
    let m = unsafe { &*msg };
    // SAFETY: fields of the caller's msghdr.
    unsafe {
        bp_send(
            fd,
            id,
            m.msg_iov,
            m.msg_iovlen,
            flags,
            m.msg_name as *const sockaddr,
            m.msg_namelen,
        )
    }
}

/// `sendmmsg(2)`: every message is one ADU; with a durable store the call returns once the
/// last one is committed (one wait, and one group commit, for the whole batch). As the
/// kernel's: the number of messages sent, an error only if the first fails.
///
/// # Safety
/// Called by C code with the arguments of sendmmsg(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmmsg(
    fd: c_int,
    vec: *mut libc::mmsghdr,
    vlen: libc::c_uint,
    flags: c_int,
) -> c_int {
    let Some(id) = bp_fd(fd) else {
        // SAFETY: same arguments as received.
        return unsafe { call::sendmmsg(fd, vec, vlen, flags) };
    };
    if vec.is_null() {
        return fail(libc::EFAULT);
    }
    // UIO_MAXIOV, the kernel's cap.
    let n = vlen.min(1024) as usize;
    let mut sent = 0;
    let mut last = None;
    for i in 0..n {
        // SAFETY: the caller passes `vlen` valid mmsghdr entries.
        let m = unsafe { &mut *vec.add(i) };
        // SAFETY: fields of the caller's msghdr.
        let r = unsafe {
            send_record(
                fd,
                id,
                m.msg_hdr.msg_iov,
                m.msg_hdr.msg_iovlen,
                flags,
                m.msg_hdr.msg_name as *const sockaddr,
                m.msg_hdr.msg_namelen,
            )
        };
        match r {
            Ok((len, commit)) => {
                m.msg_len = len as libc::c_uint;
                sent += 1;
                if commit.is_some() {
                    last = commit;
                }
            }
            Err(e) if sent == 0 => return fail(e),
            Err(_) => break,
        }
    }
    if let Some(c) = last
        && let Err(e) = c.wait()
    {
        return fail(e);
    }
    sent as c_int
}

/// `write(2)`: on a connected AF_BP socket, a send to the peer.
///
/// # Safety
/// Called by C code with the arguments of write(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    let Some(id) = bp_fd(fd) else {
        // SAFETY: same arguments as received.
        return unsafe { call::write(fd, buf, n) };
    };
    let v = iovec {
        iov_base: buf as *mut c_void,
        iov_len: n,
    };
    // SAFETY: one iovec describing the caller's buffer.
    unsafe { bp_send(fd, id, &v, 1, 0, std::ptr::null(), 0) }
}

/// `writev(2)`.
///
/// # Safety
/// Called by C code with the arguments of writev(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, cnt: c_int) -> ssize_t {
    let Some(id) = bp_fd(fd) else {
        // SAFETY: same arguments as received.
        return unsafe { call::writev(fd, iov, cnt) };
    };
    if cnt < 0 {
        return fail(libc::EINVAL);
    }
    // SAFETY: the caller's iovec array.
    unsafe { bp_send(fd, id, iov, cnt as usize, 0, std::ptr::null(), 0) }
}

//! `bind`, `connect`, `getsockname`, `getpeername`.

use super::{bp_fd, fail};
use crate::engine_thread::{self as engine, LOCAL_NODE};
use crate::fdtable;
use crate::real::call;
use crate::sockaddr::{self as sa, AF_BP, SCHEME_IPN};
use ::engine::api::Request;
use libc::{c_int, sockaddr, socklen_t};
use std::sync::atomic::Ordering;

/// `bind(2)`.
///
/// # Safety
/// Called by C code with the arguments of bind(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let Some(id) = bp_fd(fd) else {
        // SAFETY: same arguments as received.
        return unsafe { call::bind(fd, addr, len) };
    };
    if addr.is_null() {
        return fail(libc::EFAULT);
    }
    // SAFETY: the caller's address is valid for `len` bytes.
    let Some(a) = (unsafe { sa::read(addr, len) }) else {
        return fail(libc::EINVAL);
    };
    if a.family as i32 != AF_BP {
        return fail(libc::EINVAL);
    }
    if a.scheme != SCHEME_IPN {
        return fail(libc::EAFNOSUPPORT);
    }
    if a.service == 0 {
        return fail(libc::EINVAL);
    }
    if a.node as u64 != LOCAL_NODE.load(Ordering::Relaxed) {
        return fail(libc::EADDRNOTAVAIL);
    }
    if fdtable::with_sock(id, |s| s.bound.is_some()).unwrap_or(false) {
        return fail(libc::EINVAL);
    }
    match do_bind(id, a.service) {
        Ok(_) => 0,
        Err(e) => fail(e),
    }
}

/// Binds socket `id` to the local node and `service` (0: an ephemeral one); records it.
pub fn do_bind(id: u32, service: u32) -> Result<u32, i32> {
    let node = LOCAL_NODE.load(Ordering::Relaxed);
    let r = engine::request(
        &Request::Bind {
            id,
            node,
            service: service as u64,
        },
        &[],
        engine::REPLY_TIMEOUT_MS,
    )?;
    if r.errno != 0 {
        return Err(r.errno);
    }
    let service = r.value as u32;
    fdtable::with_sock(id, |s| s.bound = Some((node as u32, service)));
    Ok(service)
}

/// Binds socket `id` to an ephemeral service if it is not bound yet, as UDP does before a first
/// send or connect.
pub fn autobind(id: u32) -> Result<(), i32> {
    if fdtable::with_sock(id, |s| s.bound.is_some()).unwrap_or(true) {
        return Ok(());
    }
    match do_bind(id, 0) {
        Ok(_) => Ok(()),
        // Another thread bound it meanwhile.
        Err(libc::EINVAL) if fdtable::with_sock(id, |s| s.bound.is_some()) == Some(true) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `connect(2)`: sets the default destination and the only source accepted; `AF_UNSPEC`
/// dissolves the association.
///
/// # Safety
/// Called by C code with the arguments of connect(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let Some(id) = bp_fd(fd) else {
        // SAFETY: same arguments as received.
        return unsafe { call::connect(fd, addr, len) };
    };
    if addr.is_null() {
        return fail(libc::EFAULT);
    }
    // SAFETY: the caller's address is valid for `len` bytes.
    if unsafe { sa::family(addr, len) } == Some(libc::AF_UNSPEC as u16) {
        return match set_peer(id, None) {
            Ok(()) => 0,
            Err(e) => fail(e),
        };
    }
    // SAFETY: as above.
    let (node, service) = match unsafe { sa::destination(addr, len) } {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    if let Err(e) = autobind(id) {
        return fail(e);
    }
    match set_peer(id, Some((node, service))) {
        Ok(()) => 0,
        Err(e) => fail(e),
    }
}

fn set_peer(id: u32, peer: Option<(u32, u32)>) -> Result<(), i32> {
    let (node, service) = peer.unwrap_or((0, 0));
    let r = engine::request(
        &Request::Connect {
            id,
            node: node as u64,
            service: service as u64,
        },
        &[],
        engine::REPLY_TIMEOUT_MS,
    )?;
    if r.errno != 0 {
        return Err(r.errno);
    }
    fdtable::with_sock(id, |s| s.peer = peer);
    Ok(())
}

/// `getsockname(2)`: the bound EID, or `ipn:0.0` when unbound.
///
/// # Safety
/// Called by C code with the arguments of getsockname(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    let Some(id) = bp_fd(fd) else {
        // SAFETY: same arguments as received.
        return unsafe { call::getsockname(fd, addr, len) };
    };
    if addr.is_null() || len.is_null() {
        return fail(libc::EFAULT);
    }
    let (n, s) = fdtable::with_sock(id, |s| s.bound)
        .flatten()
        .unwrap_or((0, 0));
    // SAFETY: the caller's buffer holds `*len` bytes.
    unsafe { sa::write(addr.cast(), len, n, s) };
    0
}

/// `getpeername(2)`: the connected peer, or `ENOTCONN`.
///
/// # Safety
/// Called by C code with the arguments of getpeername(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    let Some(id) = bp_fd(fd) else {
        // SAFETY: same arguments as received.
        return unsafe { call::getpeername(fd, addr, len) };
    };
    if addr.is_null() || len.is_null() {
        return fail(libc::EFAULT);
    }
    match fdtable::with_sock(id, |s| s.peer).flatten() {
        Some((n, s)) => {
            // SAFETY: the caller's buffer holds `*len` bytes.
            unsafe { sa::write(addr.cast(), len, n, s) };
            0
        }
        None => fail(libc::ENOTCONN),
    }
}

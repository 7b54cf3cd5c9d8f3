//! `setsockopt` and `getsockopt`. `SOL_SOCKET` options answer as an AF_BP datagram socket would
//! (domain, type, protocol, timeouts as the application set them); the rest of `SOL_SOCKET` goes
//! to the underlying socket; other levels give `ENOPROTOOPT`.

use super::socket::{FOREVER_SECS, set_timeout};
use super::{bp_fd, fail};
use crate::engine_thread::{self as engine, DEFAULT_LIFETIME_S};
use crate::fdtable::{self, BpOpts, Timeout};
use crate::real::call;
use crate::sockaddr::{self as sa, AF_BP, SCHEME_IPN};
use ::engine::api::{Request, opt};
use libc::{c_int, c_void, socklen_t};
use std::sync::atomic::Ordering;

/// `SOL_BP` in `include/bp_socket.h`.
pub const SOL_BP: c_int = 0x4250;

/// Checks and applies one `SOL_BP` option; returns the errno on failure.
///
/// # Safety
/// `val` must be readable for `len` bytes.
unsafe fn set_bp(id: u32, name: c_int, val: *const c_void, len: socklen_t) -> Result<(), i32> {
    if val.is_null() {
        return Err(libc::EFAULT);
    }
    let name = name as u32;
    if !(opt::LIFETIME..=opt::ACK_REQUESTED).contains(&name) {
        return Err(libc::ENOPROTOOPT);
    }
    let (a, b) = if name == opt::REPORT_TO {
        // SAFETY: forwarded contract.
        let Some(x) = (unsafe { sa::read(val.cast(), len) }) else {
            return Err(libc::EINVAL);
        };
        if x.family as i32 != AF_BP || x.scheme != SCHEME_IPN {
            return Err(libc::EINVAL);
        }
        (x.node as u64, x.service as u64)
    } else {
        if (len as usize) < std::mem::size_of::<c_int>() {
            return Err(libc::EINVAL);
        }
        // SAFETY: at least an int is readable.
        let v = unsafe { std::ptr::read_unaligned(val as *const c_int) };
        if v < 0 {
            return Err(libc::EINVAL);
        }
        (v as u64, 0)
    };
    let ok = match name {
        opt::LIFETIME => a >= 1,
        opt::PRIORITY => a <= 2,
        opt::REPORT_TO => true,
        opt::REPORT_FLAGS => a <= 0x1F,
        opt::CRC_TYPE => a == 1 || a == 2,
        opt::HOP_LIMIT => a <= 255,
        opt::MUST_NOT_FRAGMENT | opt::ACK_REQUESTED => a <= 1,
        _ => return Err(libc::ENOPROTOOPT),
    };
    if !ok {
        return Err(libc::EINVAL);
    }
    let r = engine::request(
        &Request::SetOpt {
            id,
            opt: name,
            a,
            b,
        },
        &[],
        engine::REPLY_TIMEOUT_MS,
    )?;
    if r.errno != 0 {
        return Err(r.errno);
    }
    fdtable::with_sock(id, |s| {
        let o = &mut s.bp;
        match name {
            opt::LIFETIME => o.lifetime = a,
            opt::PRIORITY => o.priority = a as i32,
            opt::REPORT_TO => o.report_to = Some((a as u32, b as u32)),
            opt::REPORT_FLAGS => o.report_flags = a as i32,
            opt::CRC_TYPE => o.crc_type = a as i32,
            opt::HOP_LIMIT => o.hop_limit = a as i32,
            opt::MUST_NOT_FRAGMENT => o.must_not_fragment = a as i32,
            _ => o.ack_requested = a as i32,
        }
    });
    Ok(())
}

/// The value of one `SOL_BP` option as bytes (an int, or a sockaddr_bp for BP_REPORT_TO).
fn get_bp(o: &BpOpts, bound: Option<(u32, u32)>, name: c_int) -> Result<([u8; 16], usize), i32> {
    let mut b = [0u8; 16];
    let int = match name as u32 {
        opt::LIFETIME => {
            let l = if o.lifetime == 0 {
                DEFAULT_LIFETIME_S.load(Ordering::Relaxed)
            } else {
                o.lifetime
            };
            l.min(c_int::MAX as u64) as c_int
        }
        opt::PRIORITY => {
            if o.priority < 0 {
                1
            } else {
                o.priority
            }
        }
        opt::REPORT_TO => {
            let (n, s) = o.report_to.or(bound).unwrap_or((0, 0));
            b[0..2].copy_from_slice(&(AF_BP as u16).to_ne_bytes());
            b[4..8].copy_from_slice(&SCHEME_IPN.to_ne_bytes());
            b[8..12].copy_from_slice(&n.to_ne_bytes());
            b[12..16].copy_from_slice(&s.to_ne_bytes());
            return Ok((b, 16));
        }
        opt::REPORT_FLAGS => o.report_flags,
        opt::CRC_TYPE => o.crc_type,
        opt::HOP_LIMIT => o.hop_limit,
        opt::MUST_NOT_FRAGMENT => o.must_not_fragment,
        opt::ACK_REQUESTED => o.ack_requested,
        _ => return Err(libc::ENOPROTOOPT),
    };
    b[..4].copy_from_slice(&int.to_ne_bytes());
    Ok((b, 4))
}

const SO_RCVTIMEO_NEW: c_int = 66;
const SO_SNDTIMEO_NEW: c_int = 67;

fn is_rcvtimeo(name: c_int) -> bool {
    name == libc::SO_RCVTIMEO || name == SO_RCVTIMEO_NEW
}
fn is_sndtimeo(name: c_int) -> bool {
    name == libc::SO_SNDTIMEO || name == SO_SNDTIMEO_NEW
}

/// `setsockopt(2)`.
///
/// # Safety
/// Called by C code with the arguments of setsockopt(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    let Some(id) = bp_fd(fd) else {
        // SAFETY: same arguments as received.
        return unsafe { call::setsockopt(fd, level, name, val, len) };
    };
    if level == SOL_BP {
        // SAFETY: forwarded from the caller.
        return match unsafe { set_bp(id, name, val, len) } {
            Ok(()) => 0,
            Err(e) => fail(e),
        };
    }
    if level != libc::SOL_SOCKET {
        return fail(libc::ENOPROTOOPT);
    }
    if is_rcvtimeo(name) || is_sndtimeo(name) {
        // struct timeval and __kernel_sock_timeval have the same 16-byte layout on 64-bit Linux.
        if (len as usize) < 16 {
            return fail(libc::EINVAL);
        }
        if val.is_null() {
            return fail(libc::EFAULT);
        }
        let mut b = [0u8; 16];
        // SAFETY: `val` holds at least 16 bytes.
        unsafe { std::ptr::copy_nonoverlapping(val as *const u8, b.as_mut_ptr(), 16) };
        let sec = i64::from_ne_bytes(b[0..8].try_into().unwrap_or([0; 8]));
        let usec = i64::from_ne_bytes(b[8..16].try_into().unwrap_or([0; 8]));
        if !(0..1_000_000).contains(&usec) {
            return fail(libc::EDOM);
        }
        let t = Timeout { sec, usec };
        let (ks, ku) = if sec == 0 && usec == 0 {
            (FOREVER_SECS, 0)
        } else {
            (sec, usec)
        };
        let opt = if is_rcvtimeo(name) {
            libc::SO_RCVTIMEO
        } else {
            libc::SO_SNDTIMEO
        };
        if set_timeout(fd, opt, ks, ku) < 0 {
            return -1;
        }
        fdtable::with_sock(id, |s| {
            if is_rcvtimeo(name) {
                s.rcvtimeo = t
            } else {
                s.sndtimeo = t
            }
        });
        return 0;
    }
    // SAFETY: same arguments as received, on the application end of the pair.
    unsafe { call::setsockopt(fd, level, name, val, len) }
}

/// `getsockopt(2)`.
///
/// # Safety
/// Called by C code with the arguments of getsockopt(2).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    let Some(id) = bp_fd(fd) else {
        // SAFETY: same arguments as received.
        return unsafe { call::getsockopt(fd, level, name, val, len) };
    };
    if level != libc::SOL_SOCKET && level != SOL_BP {
        return fail(libc::ENOPROTOOPT);
    }
    let Some(s) = fdtable::with_sock(id, |s| s.clone()) else {
        return fail(libc::EBADF);
    };
    if level == SOL_BP {
        let (b, n) = match get_bp(&s.bp, s.bound, name) {
            Ok(v) => v,
            Err(e) => return fail(e),
        };
        // SAFETY: copies at most `*len` bytes into the caller's buffer.
        return unsafe { copy_out(&b[..n], val, len) };
    }
    let int = match name {
        libc::SO_DOMAIN => Some(AF_BP),
        libc::SO_TYPE => Some(s.sock_type),
        libc::SO_PROTOCOL => Some(s.protocol),
        _ => None,
    };
    let mut b = [0u8; 16];
    let n = if let Some(v) = int {
        b[..4].copy_from_slice(&v.to_ne_bytes());
        4
    } else if is_rcvtimeo(name) || is_sndtimeo(name) {
        let t = if is_rcvtimeo(name) {
            s.rcvtimeo
        } else {
            s.sndtimeo
        };
        b[..8].copy_from_slice(&t.sec.to_ne_bytes());
        b[8..].copy_from_slice(&t.usec.to_ne_bytes());
        16
    } else {
        // SAFETY: same arguments as received, on the application end of the pair.
        return unsafe { call::getsockopt(fd, level, name, val, len) };
    };
    // SAFETY: copies at most `*len` bytes into the caller's buffer.
    unsafe { copy_out(&b[..n], val, len) }
}

/// Copies an option value out as the kernel does: at most `*len` bytes, `*len` updated.
///
/// # Safety
/// `val` must be writable for `*len` bytes; `len` valid (both may be null: EFAULT).
unsafe fn copy_out(b: &[u8], val: *mut c_void, len: *mut socklen_t) -> c_int {
    if val.is_null() || len.is_null() {
        return fail(libc::EFAULT);
    }
    // SAFETY: the caller's buffer holds `*len` bytes.
    unsafe {
        let have = *len as i32;
        if have < 0 {
            return fail(libc::EINVAL);
        }
        let k = (have as usize).min(b.len());
        std::ptr::copy_nonoverlapping(b.as_ptr(), val as *mut u8, k);
        *len = k as socklen_t;
    }
    0
}

//! `setsockopt` and `getsockopt`. `SOL_SOCKET` options answer as an AF_BP datagram socket would
//! (domain, type, protocol, timeouts as the application set them); the rest of `SOL_SOCKET` goes
//! to the underlying socket; other levels give `ENOPROTOOPT`.

use super::socket::{FOREVER_SECS, set_timeout};
use super::{bp_fd, fail};
use crate::fdtable::{self, Timeout};
use crate::real::call;
use crate::sockaddr::AF_BP;
use libc::{c_int, c_void, socklen_t};

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
    if level != libc::SOL_SOCKET {
        return fail(libc::ENOPROTOOPT);
    }
    let Some(s) = fdtable::with_sock(id, |s| s.clone()) else {
        return fail(libc::EBADF);
    };
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
    if val.is_null() || len.is_null() {
        return fail(libc::EFAULT);
    }
    // SAFETY: the caller's buffer holds `*len` bytes.
    unsafe {
        let have = *len as i32;
        if have < 0 {
            return fail(libc::EINVAL);
        }
        let k = (have as usize).min(n);
        std::ptr::copy_nonoverlapping(b.as_ptr(), val as *mut u8, k);
        *len = k as socklen_t;
    }
    0
}

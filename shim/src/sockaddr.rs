//! `struct sockaddr_bp` (16 bytes, host byte order): reading it from and writing it to the
//! application's memory, with the errno a kernel socket gives for each mistake.

use libc::{c_void, sockaddr, socklen_t};

/// `AF_BP`, as upstream BP Socket defines it.
pub const AF_BP: i32 = 28;
/// `BP_SCHEME_IPN`.
pub const SCHEME_IPN: i32 = 1;
/// Size of `struct sockaddr_bp`.
pub const LEN: usize = 16;

/// The fields of an address, already read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Raw {
    /// `bp_family`.
    pub family: u16,
    /// `bp_scheme`.
    pub scheme: i32,
    /// `bp_addr.ipn.node_id`.
    pub node: u32,
    /// `bp_addr.ipn.service_id`.
    pub service: u32,
}

/// Reads an address given by the application. `None` when `len < 16`; the family alone is
/// read when `len` is at least 2 (for `AF_UNSPEC`).
///
/// # Safety
/// `addr` must be valid for `len` bytes (as for the real call).
pub unsafe fn read(addr: *const sockaddr, len: socklen_t) -> Option<Raw> {
    if (len as usize) < LEN {
        return None;
    }
    let p = addr as *const u8;
    let mut b = [0u8; LEN];
    // SAFETY: the caller guarantees `len` (>= 16) readable bytes.
    unsafe { std::ptr::copy_nonoverlapping(p, b.as_mut_ptr(), LEN) };
    Some(Raw {
        family: u16::from_ne_bytes([b[0], b[1]]),
        scheme: i32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        node: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
        service: u32::from_ne_bytes([b[12], b[13], b[14], b[15]]),
    })
}

/// Reads only the family (`len >= 2`).
///
/// # Safety
/// `addr` must be valid for `len` bytes.
pub unsafe fn family(addr: *const sockaddr, len: socklen_t) -> Option<u16> {
    if (len as usize) < 2 {
        return None;
    }
    let mut b = [0u8; 2];
    // SAFETY: at least two readable bytes.
    unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, b.as_mut_ptr(), 2) };
    Some(u16::from_ne_bytes(b))
}

/// Writes an ipn address as a kernel does: `min(*len, 16)` bytes, then `*len = 16`. Nothing is
/// written when either pointer is null.
///
/// # Safety
/// `addr` must be writable for `*len` bytes and `len` valid, when not null.
pub unsafe fn write(addr: *mut c_void, len: *mut socklen_t, node: u32, service: u32) {
    if addr.is_null() || len.is_null() {
        return;
    }
    let mut b = [0u8; LEN];
    b[0..2].copy_from_slice(&(AF_BP as u16).to_ne_bytes());
    b[4..8].copy_from_slice(&SCHEME_IPN.to_ne_bytes());
    b[8..12].copy_from_slice(&node.to_ne_bytes());
    b[12..16].copy_from_slice(&service.to_ne_bytes());
    // SAFETY: `len` is valid; `addr` has room for `*len` bytes.
    unsafe {
        let n = (*len as usize).min(LEN);
        std::ptr::copy_nonoverlapping(b.as_ptr(), addr as *mut u8, n);
        *len = LEN as socklen_t;
    }
}

/// Checks a destination as `sendto` does. Returns `(node, service)` or the errno.
///
/// # Safety
/// As for [`read`].
pub unsafe fn destination(addr: *const sockaddr, len: socklen_t) -> Result<(u32, u32), i32> {
    // SAFETY: forwarded contract.
    let Some(a) = (unsafe { read(addr, len) }) else {
        return Err(libc::EINVAL);
    };
    if a.family as i32 != AF_BP || a.scheme != SCHEME_IPN {
        return Err(libc::EAFNOSUPPORT);
    }
    if a.service == 0 {
        return Err(libc::EINVAL);
    }
    Ok((a.node, a.service))
}

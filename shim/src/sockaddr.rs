//! `struct sockaddr_bp` (16 bytes, host byte order): reading it from and writing it to the
//! application's memory, with the errno a kernel socket gives for each mistake.

use libc::{c_void, sockaddr, socklen_t};

/// `AF_BP`, as upstream BP Socket defines it.
pub const AF_BP: i32 = 28;
/// `BP_SCHEME_IPN`.
pub const SCHEME_IPN: i32 = 1;
/// `BP_SCHEME_DTN`: a `dtn:` EID as text (`struct sockaddr_bp_ext`).
pub const SCHEME_DTN: i32 = 2;
/// `BP_SCHEME_EID`: any EID as text, such as a three-element `ipn:A.N.S` (`struct sockaddr_bp_ext`).
pub const SCHEME_EID: i32 = 3;
/// Offset of the text in `struct sockaddr_bp_ext`.
pub const TEXT_OFFSET: usize = 8;
/// Size of `struct sockaddr_bp_ext`.
pub const EXT_LEN: usize = 128;

/// A destination given by the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dest {
    /// ipn:node.service.
    Ipn(u32, u32),
    /// An EID given as text (checked to parse, not the null EID).
    Text(String),
}
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

/// Checks an ipn destination as `sendto` does. Returns `(node, service)` or the errno.
///
/// # Safety
/// As for [`read`].
pub unsafe fn destination(addr: *const sockaddr, len: socklen_t) -> Result<(u32, u32), i32> {
    // SAFETY: forwarded contract.
    match unsafe { any_destination(addr, len) }? {
        Dest::Ipn(n, s) => Ok((n, s)),
        Dest::Text(_) => Err(libc::EAFNOSUPPORT),
    }
}

/// Checks a destination, ipn (`struct sockaddr_bp`) or text (`struct sockaddr_bp_ext`).
///
/// # Safety
/// `addr` must be valid for `len` bytes.
pub unsafe fn any_destination(addr: *const sockaddr, len: socklen_t) -> Result<Dest, i32> {
    let len = len as usize;
    if len < TEXT_OFFSET {
        return Err(libc::EINVAL);
    }
    let mut head = [0u8; TEXT_OFFSET];
    // SAFETY: at least TEXT_OFFSET readable bytes.
    unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, head.as_mut_ptr(), TEXT_OFFSET) };
    let family = u16::from_ne_bytes([head[0], head[1]]);
    let scheme = i32::from_ne_bytes([head[4], head[5], head[6], head[7]]);
    if family as i32 != AF_BP {
        return Err(libc::EAFNOSUPPORT);
    }
    match scheme {
        SCHEME_IPN => {
            // SAFETY: forwarded contract.
            let a = unsafe { read(addr, len as socklen_t) }.ok_or(libc::EINVAL)?;
            if a.service == 0 {
                return Err(libc::EINVAL);
            }
            Ok(Dest::Ipn(a.node, a.service))
        }
        SCHEME_DTN | SCHEME_EID => {
            let n = (len - TEXT_OFFSET).min(EXT_LEN - TEXT_OFFSET);
            let mut t = vec![0u8; n];
            // SAFETY: `len` readable bytes, of which `n` after the head.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    (addr as *const u8).add(TEXT_OFFSET),
                    t.as_mut_ptr(),
                    n,
                )
            };
            let end = t.iter().position(|&c| c == 0).ok_or(libc::EINVAL)?;
            let text = std::str::from_utf8(&t[..end]).map_err(|_| libc::EINVAL)?;
            let eid: engine::wire::Eid = text.parse().map_err(|_| libc::EINVAL)?;
            match (&eid, scheme) {
                (engine::wire::Eid::Null, _) => Err(libc::EINVAL),
                (engine::wire::Eid::Dtn(_), SCHEME_DTN) => Ok(Dest::Text(text.to_string())),
                (engine::wire::Eid::Ipn { node, service }, SCHEME_EID)
                    if *node <= u32::MAX as u64 && *service <= u32::MAX as u64 && *service != 0 =>
                {
                    Ok(Dest::Ipn(*node as u32, *service as u32))
                }
                (engine::wire::Eid::Ipn { .. }, _) => Err(libc::EINVAL),
                (_, SCHEME_EID) => Ok(Dest::Text(text.to_string())),
                _ => Err(libc::EINVAL),
            }
        }
        _ => Err(libc::EAFNOSUPPORT),
    }
}

/// Writes an EID given as text (`struct sockaddr_bp_ext`) as the kernel writes a name:
/// `min(*len, 8 + text + NUL)` bytes, then `*len` = 8 + `full_len` + 1, the size the whole name
/// needs, so that a caller whose buffer was too small sees it (`text` may hold only the first
/// bytes of a longer EID of `full_len` bytes).
///
/// # Safety
/// As for [`write`].
pub unsafe fn write_text(addr: *mut c_void, len: *mut socklen_t, text: &str, full_len: usize) {
    if addr.is_null() || len.is_null() {
        return;
    }
    let scheme = if text.starts_with("dtn:") {
        SCHEME_DTN
    } else {
        SCHEME_EID
    };
    let t = text.as_bytes();
    let mut b = vec![0u8; TEXT_OFFSET + t.len() + 1];
    b[0..2].copy_from_slice(&(AF_BP as u16).to_ne_bytes());
    b[4..8].copy_from_slice(&scheme.to_ne_bytes());
    b[TEXT_OFFSET..TEXT_OFFSET + t.len()].copy_from_slice(t);
    let full = TEXT_OFFSET + full_len.max(t.len()) + 1;
    // SAFETY: `len` is valid; `addr` has room for `*len` bytes.
    unsafe {
        let n = (*len as usize).min(b.len());
        std::ptr::copy_nonoverlapping(b.as_ptr(), addr as *mut u8, n);
        *len = full.min(socklen_t::MAX as usize) as socklen_t;
    }
}

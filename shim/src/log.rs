//! Lines to stderr from the shim, written with a raw `write(2)` system call: no std stdio lock,
//! no allocation, no re-entry into the shim's own `write` hook.

/// Writes bytes to fd 2 as they are.
pub fn raw(b: &[u8]) {
    let mut off = 0;
    while off < b.len() {
        // SAFETY: the pointer and length describe the live slice `b[off..]`.
        let n = unsafe { libc::syscall(libc::SYS_write, 2, b[off..].as_ptr(), b.len() - off) };
        if n <= 0 {
            return;
        }
        off += n as usize;
    }
}

/// Writes one formatted line (allocates: use only off the pass-through path).
pub fn line(args: std::fmt::Arguments<'_>) {
    let s = format!("bpshim[{}]: {}\n", std::process::id(), args);
    raw(s.as_bytes());
}

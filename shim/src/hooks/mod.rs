//! The exported hooks, by group. Each checks the descriptor table first and, for anything
//! that is not an AF_BP socket, tail-calls the real function: no lock, no allocation, errno
//! untouched.

pub mod addr;
pub mod opt;
pub mod recv;
pub mod send;
pub mod socket;

use crate::fdtable;
use std::cell::Cell;

thread_local! {
    /// Set on the engine thread: its own calls (which resolve to these hooks, being inside the
    /// same library) always pass through.
    pub static IN_ENGINE: Cell<bool> = const { Cell::new(false) };
}

/// Socket id of `fd` if it is an AF_BP socket and the caller is not the engine.
#[inline]
pub fn bp_fd(fd: libc::c_int) -> Option<u32> {
    let id = fdtable::lookup(fd)?;
    if IN_ENGINE.with(|c| c.get()) {
        return None;
    }
    Some(id)
}

/// Sets errno and returns -1 (as the caller's return type).
#[inline]
pub fn fail<T: From<i8>>(e: i32) -> T {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = e };
    T::from(-1)
}

//! `libbpshim.so`: the AF_BP socket family (BP Socket API, Bundle Protocol version 7) for
//! unmodified programs, through `LD_PRELOAD`.
//!
//! Contract:
//! - Hooked symbols: `socket`, `socketpair`, `bind`, `connect`, `getsockname`, `getpeername`,
//!   `setsockopt`, `getsockopt`, `sendto`, `sendmsg`, `send`, `write`, `writev`, `recvfrom`,
//!   `recvmsg`, `recv`, `read`, `readv`, `__recv_chk`, `__recvfrom_chk`, `__read_chk`, `close`,
//!   `dup`, `dup2`, `dup3`, `fcntl`, `fcntl64`, `ioctl`, `listen`, `accept`, `accept4`,
//!   `shutdown`.
//! - Pass-through: for any descriptor that is not an AF_BP socket, a hook calls the real
//!   function after at most two atomic loads: no lock, no allocation, errno untouched.
//! - Every AF_BP socket is the application end of an AF_UNIX SEQPACKET pair; the engine thread
//!   holds the other end. poll, select, epoll, O_NONBLOCK, timeouts, dup and fork are the kernel's.
//! - The engine thread starts at the first `socket(AF_BP, ...)`, with every signal blocked.
//! - The library is built with `panic = "abort"`: a bug aborts instead of falling back to libc.
//! - `unsafe` is confined to this crate (FFI); each block says why it is sound.

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod engine_thread;
pub mod fdtable;
pub mod hooks;
pub mod log;
pub mod real;
pub mod sockaddr;
pub mod store_wait;

extern "C" fn fini() {
    engine_thread::exit_flush();
}

/// Runs after the application's atexit handlers, before stdio is torn down.
#[used]
#[unsafe(link_section = ".fini_array")]
static FINI: extern "C" fn() = fini;

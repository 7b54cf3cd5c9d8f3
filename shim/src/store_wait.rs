//! Waiting for the node's store (durable mode): a send returns once the engine reports its
//! record committed, a read once the engine reports the read committed (the ADU is then
//! forgotten by the store and never delivered again).
//!
//! The engine reports, on the socket's side pair, how many data records and read
//! acknowledgements of the socket it has committed so far ([`DoneRecord`]). Threads of one
//! socket share the counts; one of them at a time reads the side pair for all.

use crate::engine_thread::errno;
use crate::fdtable::SockSync;
use crate::real::call;
use ::engine::api::{DONE_LEN, DoneRecord, TX_HEADER_LEN, TxHeader};
use libc::c_int;
use std::sync::atomic::Ordering;

/// Which count a caller waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    /// Data records (sends).
    Data,
    /// Read acknowledgements.
    Acks,
}

fn done(s: &SockSync, c: Count) -> u64 {
    match c {
        Count::Data => s.data_done.load(Ordering::Acquire),
        Count::Acks => s.acks_done.load(Ordering::Acquire),
    }
}

/// Waits until the engine has committed record number `ticket` of kind `c`. Errors:
/// `ENETDOWN` if the engine is gone.
pub fn wait(s: &SockSync, side: c_int, c: Count, ticket: u64) -> Result<(), i32> {
    loop {
        if done(s, c) >= ticket {
            return Ok(());
        }
        let _g = s.wait_lock.lock().unwrap_or_else(|p| p.into_inner());
        if done(s, c) >= ticket {
            return Ok(());
        }
        // A read is committed, then handed over: the time between the two is the only moment a
        // killed process loses an ADU (consumed, never returned). Waiting for a read's commit
        // spins a little before sleeping, so the wake-up is quick when the commit is.
        let spin = c == Count::Acks && spin_for_done(side);
        if !spin {
            let mut p = libc::pollfd {
                fd: side,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut p, 1, 1000) };
            if r < 0 && errno() != libc::EINTR {
                return Err(errno());
            }
        }
        let mut buf = [0u8; DONE_LEN];
        loop {
            // SAFETY: `buf` is writable for its length.
            let n =
                unsafe { call::recv(side, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
            if n == 0 {
                return Err(libc::ENETDOWN);
            }
            if n < 0 {
                match errno() {
                    libc::EINTR => continue,
                    libc::EAGAIN => break,
                    e => return Err(e),
                }
            }
            if let Ok(d) = DoneRecord::decode(&buf[..n as usize]) {
                s.data_done.fetch_max(d.data, Ordering::AcqRel);
                s.acks_done.fetch_max(d.acks, Ordering::AcqRel);
            }
        }
    }
}

/// Polls `side` without sleeping for up to [`SPIN_US`]; whether something arrived.
fn spin_for_done(side: c_int) -> bool {
    let start = std::time::Instant::now();
    loop {
        let mut p = libc::pollfd {
            fd: side,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; timeout 0 never sleeps.
        if unsafe { libc::poll(&mut p, 1, 0) } > 0 {
            return true;
        }
        if start.elapsed().as_micros() as u64 >= SPIN_US {
            return false;
        }
        std::hint::spin_loop();
    }
}

/// Longest spin while waiting for a read's commit (µs): about one commit without fsync.
const SPIN_US: u64 = 300;

/// Reports on the side pair that the application has read every ADU up to delivery sequence
/// `seq`, and waits until the engine has committed it.
pub fn read_done(s: &SockSync, side: c_int, seq: u32) -> Result<(), i32> {
    let h = TxHeader::read_ack(seq).encode();
    let ticket = {
        let _g = s.ack_lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            // SAFETY: `h` is a live buffer of TX_HEADER_LEN bytes.
            let n =
                unsafe { call::send(side, h.as_ptr().cast(), TX_HEADER_LEN, libc::MSG_NOSIGNAL) };
            if n >= 0 {
                break;
            }
            if errno() != libc::EINTR {
                return Err(libc::ENETDOWN);
            }
        }
        s.acks_sent.fetch_add(1, Ordering::AcqRel) + 1
    };
    wait(s, side, Count::Acks, ticket)
}

//! bpshim engine: a Bundle Protocol version 7 (RFC 9171) node.
//!
//! Layers, from the bytes up:
//! - [`wire`]: the codec. CBOR heads, CRCs, EIDs, primary and canonical blocks, whole bundles.
//!   Plain functions over byte slices: no I/O, no clock, never panics on any input.
//! - [`node`]: the bundle-processing state machine (sans-IO). Inputs are `handle_*` calls that
//!   carry the current time; outputs are queued `Transmit`s and deliveries, read by the driver.
//! - [`api`]: the record format that crosses the AF_UNIX SEQPACKET pair between the shim (in the
//!   application) and the engine: self-contained headers and bytes, no pointers.
//! - [`config`]: settings from the environment or a file, one clear error per bad setting.
//! - [`io`]: the edge. The mio event loop, the application pairs, the UDP convergence layer, and
//!   the only reader of the clock.
//!
//! The crate has no unsafe code; system calls that std does not wrap go through `nix`.
#![forbid(unsafe_code)]

pub mod api;
pub mod cla;
pub mod config;
pub mod contact;
pub mod fragment;
pub mod io;
pub mod log;
pub mod node;
pub mod route;
pub mod store;
pub mod time;
pub mod wire;

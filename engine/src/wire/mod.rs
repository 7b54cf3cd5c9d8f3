//! The BPv7 wire codec (RFC 9171 §4): CBOR heads, CRCs, endpoint IDs and whole bundles.
//!
//! Layer: the bottom of the engine. Plain functions over byte slices: no I/O, no clock, no
//! global state, no unsafe code.
//!
//! The parse/emit contract:
//! - [`parse`] (and [`parse_with`], which adds the strict checks of [`ParseOptions`]) never
//!   panics, on any input. It either returns a [`Bundle`] that satisfies every rule it
//!   checks, or the first [`Error`] found, which names the rule, its RFC section and the
//!   block and field ([`Error::reason`] gives a stable counter name). It never converts a
//!   wire integer to `usize` without a checked conversion, compares every claimed length with
//!   the remaining input before using it, and allocates only in proportion to the blocks
//!   present in the input.
//! - A parsed [`Bundle`] is a zero-copy view: field values plus byte ranges into the parsed
//!   bytes. CRCs are checked over the received bytes, so forwarding can reuse them unchanged
//!   (the primary block is immutable, RFC 9171 §4.3.1).
//! - [`encode`] never panics. It writes deterministic CBOR (RFC 8949 §4.2.1) inside the
//!   indefinite-length bundle array that RFC 9171 §4.1 requires, and [`encoded_len`] predicts
//!   its length exactly. What [`encode`] writes from consistent fields (its documentation says
//!   which), [`parse`] accepts and returns as those fields.
//!
//! Modules: [`cbor`] (RFC 8949 heads and strings), [`crc`] (CRC-16/X-25 and CRC-32C,
//! RFC 9171 §4.2.1), [`eid`] (RFC 9171 §4.2.5.1; RFC 9758 `ipn:0.0` and three-element `ipn`
//! EIDs), [`bundle`] (RFC 9171 §4.1 to §4.4).
//!
//! Every rule the codec applies, its RFC section, error and test: `docs/validation.md`.

pub mod admin;
pub mod bundle;
pub mod cbor;
pub mod crc;
pub mod editor;
pub mod eid;

pub use admin::{AdminRecord, ReasonCode, StatusKind, StatusReport, decode_admin, encode_admin};
pub use bundle::{
    Bundle, CanonicalBlock, CreationTimestamp, Error, Fragment, ParseOptions, PrimaryBlock,
    block_flags, block_type, encode, encoded_len, flags, parse, parse_with, write_canonical,
    write_primary,
};
pub use crc::CrcType;
pub use editor::{Forwarding, HopCheck, NewBlock, edit_for_forwarding};
pub use eid::Eid;

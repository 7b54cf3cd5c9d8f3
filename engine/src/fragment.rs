//! Bundle fragmentation (RFC 9171 §5.8) and application data unit reassembly (RFC 9171 §5.9).
//!
//! Layer: above the [`wire`](crate::wire) codec, below the [`node`](crate::node). Sans-IO: no
//! I/O and no clock (the time comes in as DTN milliseconds), no unsafe code, and no panic on
//! any input, including a [`Bundle`] that does not describe the bytes passed with it.
//!
//! [`fragment`] splits one encoded bundle into fragments that each encode to at most a given
//! length. The rules it follows (RFC 9171 §5.8):
//! - the payloads of the fragments, concatenated in order, are the payload of the bundle, and
//!   every fragment carries at least one payload byte (`0 < N < M`);
//! - each fragment's primary block is the bundle's with the "is a fragment" flag set and the
//!   fragment offset and total ADU length filled in, with a new CRC of the same CRC type. The
//!   offsets of a fragment of a fragment stay relative to the original ADU;
//! - the first fragment carries every extension block of the bundle; later fragments carry the
//!   blocks flagged "replicate in every fragment" (RFC 9171 §4.2.4), plus the bundle age block
//!   when the creation time is 0, because every bundle with creation time 0 must have one
//!   (RFC 9171 §4.4.2, whose block-type rules §5.8 defers to). Blocks are copied byte for byte,
//!   CRCs included;
//! - bundles flagged "must not be fragmented" and anonymous bundles (null source, whose
//!   fragments nobody could attribute, RFC 9171 §4.2.3) are refused. Administrative records
//!   may be fragmented: RFC 9171 does not forbid it, and §5.7 reassembles before the record is
//!   processed.
//!
//! [`Reassembler`] collects fragments and yields whole ADUs (RFC 9171 §5.9). Invariants:
//! - fragments belong together when their source node ID, creation timestamp and total ADU
//!   length agree; fragments that disagree only on the total are kept apart, so a bogus
//!   fragment cannot spoil the reassembly of a genuine ADU;
//! - each ADU has one buffer of its total length, allocated when its first fragment arrives,
//!   and a set of covered ranges. A fragment's bytes are copied into the buffer only where
//!   they are not yet covered (bytes already held are kept), so reassembly costs O(total
//!   bytes) whatever the order, duplication or overlap of the fragments;
//! - [`Reassembler::held_bytes`] never exceeds the bound given to [`Reassembler::new`]: to make
//!   room, the incomplete ADU whose first fragment arrived earliest is dropped, and an ADU that
//!   could never fit is refused up front (unless one fragment carries all of it: that one
//!   completes at once and is never held);
//! - the extension blocks of the result are those of the fragment at offset 0 (the fragment
//!   that RFC 9171 §5.8 gives all of them).
//!
//! Not done here: remembering ADUs already completed. A fragment that arrives after its ADU
//! was reassembled starts a new reassembly, which completes only if every fragment comes again
//! (RFC 9171 does not require duplicate suppression).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Bound::{Excluded, Included};
use std::ops::Range;

use crate::wire::bundle::{write_canonical, write_primary};
use crate::wire::cbor::{self, Reader};
use crate::wire::{
    Bundle, CanonicalBlock, CrcType, CreationTimestamp, Eid, Fragment, PrimaryBlock, block_flags,
    block_type, flags,
};

/// Why [`fragment`] refused a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FragmentError {
    /// The bundle processing control flags say "must not be fragmented" (RFC 9171 §4.2.3).
    MustNotFragment,
    /// The source is the null endpoint: its fragments could not be attributed to one ADU
    /// (RFC 9171 §4.2.3 requires "must not be fragmented" for such bundles).
    Anonymous,
    /// Not even a fragment with one payload byte fits in `max_len`, or the payload has fewer
    /// than two bytes and so cannot be split (RFC 9171 §5.8: `0 < N < M`).
    TooSmall {
        /// The length limit asked for.
        max_len: usize,
        /// The smallest length that would have worked for the fragment that failed (for an
        /// unsplittable payload: the bundle's own length).
        min_len: usize,
    },
    /// The parse does not describe the bytes (a range lies outside them, or the last block is
    /// not the payload).
    Inconsistent,
}

impl FragmentError {
    /// A short stable token naming the reason, usable as a counter name.
    pub fn reason(&self) -> &'static str {
        match self {
            FragmentError::MustNotFragment => "must_not_fragment",
            FragmentError::Anonymous => "anonymous",
            FragmentError::TooSmall { .. } => "fragment_too_small",
            FragmentError::Inconsistent => "inconsistent_parse",
        }
    }
}

impl fmt::Display for FragmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FragmentError::MustNotFragment => {
                f.write_str("the bundle is flagged \"must not be fragmented\" (RFC 9171 §4.2.3)")
            }
            FragmentError::Anonymous => f.write_str(
                "the bundle has no source node ID, so its fragments could not be reassembled (RFC 9171 §4.2.3)",
            ),
            FragmentError::TooSmall { max_len, min_len } => write!(
                f,
                "fragments of at most {max_len} bytes cannot carry this bundle, {min_len} bytes are needed (RFC 9171 §5.8)"
            ),
            FragmentError::Inconsistent => {
                f.write_str("the parsed bundle does not describe the bytes given with it")
            }
        }
    }
}

impl std::error::Error for FragmentError {}

/// The extension blocks and the payload block of `b`, if every range lies inside `bytes`.
fn split_blocks<'b>(
    bytes: &[u8],
    b: &'b Bundle,
) -> Option<(&'b [CanonicalBlock], &'b CanonicalBlock)> {
    let (payload, extensions) = b.blocks.split_last()?;
    let fits = |r: &Range<usize>| r.start <= r.end && r.end <= bytes.len();
    let inside = |inner: &Range<usize>, outer: &Range<usize>| {
        fits(inner) && fits(outer) && outer.start <= inner.start && inner.end <= outer.end
    };
    let ok = payload.block_type == block_type::PAYLOAD
        && payload.data == b.payload
        && b.blocks.iter().all(|x| inside(&x.data, &x.extent));
    ok.then_some((extensions, payload))
}

/// The largest `n` whose byte string (head and content) fits in `budget` bytes.
fn largest_fit(budget: usize) -> Option<usize> {
    // For each head length, the largest content it can announce that fits; the best of them.
    [
        (1, 23),
        (2, 0xff),
        (3, 0xffff),
        (5, 0xffff_ffff),
        (9, u64::MAX),
    ]
    .into_iter()
    .filter_map(|(head, most): (usize, u64)| {
        let room = budget.checked_sub(head)?;
        Some(usize::try_from(most).map_or(room, |most| room.min(most)))
    })
    .max()
}

/// Splits an encoded bundle into fragments whose encodings are each at most `max_len` bytes
/// (RFC 9171 §5.8; see the module documentation for the rules).
///
/// `bytes` is the bundle and `b` its parse by [`wire::parse`](crate::wire::parse). A bundle
/// that already fits is returned unchanged as the only element, even if it must not be
/// fragmented. Otherwise fragments are filled greedily in payload order; each payload byte is
/// copied once, into its fragment, and every fragment is allocated at its exact length.
///
/// # Errors
/// [`FragmentError`]: the bundle must not be fragmented, is anonymous, cannot be split into
/// pieces of `max_len` bytes, or `b` does not describe `bytes`.
pub fn fragment(bytes: &[u8], b: &Bundle, max_len: usize) -> Result<Vec<Vec<u8>>, FragmentError> {
    let (extensions, payload_block) = split_blocks(bytes, b).ok_or(FragmentError::Inconsistent)?;
    let payload = bytes
        .get(b.payload.clone())
        .ok_or(FragmentError::Inconsistent)?;
    let (base, total) = match b.primary.fragment {
        Some(f) => (f.offset, f.total_adu_len),
        None => (0, payload.len() as u64),
    };
    if base
        .checked_add(payload.len() as u64)
        .is_none_or(|end| end > total)
    {
        return Err(FragmentError::Inconsistent);
    }
    if bytes.len() <= max_len {
        return Ok(vec![bytes.to_vec()]);
    }
    if b.primary.flags & flags::MUST_NOT_FRAGMENT != 0 {
        return Err(FragmentError::MustNotFragment);
    }
    if b.primary.source.is_null() {
        return Err(FragmentError::Anonymous);
    }
    if payload.len() < 2 {
        return Err(FragmentError::TooSmall {
            max_len,
            min_len: bytes.len(),
        });
    }

    // The extension blocks as they are encoded, for the first fragment and for the others.
    let replicated = |blk: &&CanonicalBlock| {
        blk.flags & block_flags::REPLICATE_IN_FRAGMENTS != 0
            || (blk.block_type == block_type::BUNDLE_AGE && b.primary.creation.time == 0)
    };
    let extent = |blk: &CanonicalBlock| bytes.get(blk.extent.clone()).unwrap_or_default();
    let all: Vec<&[u8]> = extensions.iter().map(extent).collect();
    let later: Vec<&[u8]> = extensions.iter().filter(replicated).map(extent).collect();
    let all_len: usize = all.iter().map(|x| x.len()).sum();
    let later_len: usize = later.iter().map(|x| x.len()).sum();

    // The payload block around its data: array head, type, number, flags, CRC type, CRC.
    let crc = payload_block.crc_type;
    let payload_frame = 1
        + cbor::uint_len(payload_block.block_type)
        + cbor::uint_len(payload_block.number)
        + cbor::uint_len(payload_block.flags)
        + cbor::uint_len(crc.code())
        + if crc.len() == 0 { 0 } else { 1 + crc.len() };

    let mut primary = b.primary.clone();
    primary.flags |= flags::IS_FRAGMENT;
    let mut primary_bytes = Vec::new();
    let mut out = Vec::new();
    let mut cursor = 0;
    while cursor < payload.len() {
        let (blocks, blocks_len) = if cursor == 0 {
            (&all, all_len)
        } else {
            (&later, later_len)
        };
        // `cursor` never passes the payload, so the offset stays within the checked total.
        primary.fragment = Some(Fragment {
            offset: base + cursor as u64,
            total_adu_len: total,
        });
        primary_bytes.clear();
        write_primary(&primary, &mut primary_bytes);
        // The outer array's head and break, the primary block, extension blocks, payload frame.
        let fixed = 2 + primary_bytes.len() + blocks_len + payload_frame;
        let n = max_len
            .checked_sub(fixed)
            .and_then(largest_fit)
            .filter(|n| *n > 0)
            .ok_or(FragmentError::TooSmall {
                max_len,
                min_len: fixed + cbor::string_len(1),
            })?
            .min(payload.len() - cursor);
        let piece = payload.get(cursor..cursor + n).unwrap_or_default();
        let mut frag = Vec::with_capacity(fixed + cbor::string_len(n));
        frag.push(cbor::INDEFINITE_ARRAY);
        frag.extend_from_slice(&primary_bytes);
        for blk in blocks {
            frag.extend_from_slice(blk);
        }
        write_canonical(
            &mut frag,
            payload_block.block_type,
            payload_block.number,
            payload_block.flags,
            crc,
            piece,
        );
        frag.push(cbor::BREAK);
        out.push(frag);
        cursor += n;
    }
    Ok(out)
}

/// Why [`Reassembler::insert`] refused a fragment. The reassembler's state is unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reject {
    /// The bundle is not a fragment (no fragment fields in its primary block).
    NotAFragment,
    /// The source is the null endpoint: the fragment cannot be attributed to an ADU
    /// (RFC 9171 §4.2.3).
    Anonymous,
    /// The parse does not describe the bytes.
    Inconsistent,
    /// The fragment has no payload bytes, so it adds nothing (RFC 9171 §5.8: `0 < N`).
    EmptyPayload,
    /// The fragment's payload lies (partly) outside its total ADU length.
    OutOfRange {
        /// Fragment offset.
        offset: u64,
        /// Payload length.
        len: usize,
        /// Total ADU length.
        total_adu_len: u64,
    },
    /// Holding the fragment's ADU would take more memory than the bound, even alone.
    TooLarge {
        /// Bytes it would take.
        need: u64,
        /// The bound given to [`Reassembler::new`].
        max: usize,
    },
    /// The fragment's lifetime has already ended.
    Expired,
}

impl Reject {
    /// A short stable token naming the reason, usable as a counter name.
    pub fn reason(&self) -> &'static str {
        match self {
            Reject::NotAFragment => "not_a_fragment",
            Reject::Anonymous => "anonymous_fragment",
            Reject::Inconsistent => "inconsistent_parse",
            Reject::EmptyPayload => "empty_fragment",
            Reject::OutOfRange { .. } => "fragment_out_of_range",
            Reject::TooLarge { .. } => "adu_too_large",
            Reject::Expired => "fragment_expired",
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::NotAFragment => f.write_str("the bundle is not a fragment (RFC 9171 §4.3.1)"),
            Reject::Anonymous => f.write_str(
                "the fragment has no source node ID, so it cannot be attributed to an ADU (RFC 9171 §4.2.3, §5.9)",
            ),
            Reject::Inconsistent => {
                f.write_str("the parsed bundle does not describe the bytes given with it")
            }
            Reject::EmptyPayload => {
                f.write_str("the fragment has an empty payload (RFC 9171 §5.8)")
            }
            Reject::OutOfRange {
                offset,
                len,
                total_adu_len,
            } => write!(
                f,
                "fragment at offset {offset} with {len} payload bytes exceeds the total ADU length {total_adu_len} (RFC 9171 §5.9)"
            ),
            Reject::TooLarge { need, max } => write!(
                f,
                "reassembling the ADU would hold {need} bytes, more than the bound of {max}"
            ),
            Reject::Expired => f.write_str("the fragment's lifetime has ended (RFC 9171 §4.3.1)"),
        }
    }
}

/// Why an incomplete ADU was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Its lifetime ended before every fragment arrived.
    LifetimeExpired,
    /// Room was needed for other fragments (the memory bound).
    MemoryBound,
}

impl DropReason {
    /// The status report reason code for a deletion report (RFC 9171 §6.1.1): 1 "lifetime
    /// expired" or 4 "depleted storage".
    pub fn report_code(self) -> u64 {
        match self {
            DropReason::LifetimeExpired => 1,
            DropReason::MemoryBound => 4,
        }
    }
}

/// An incomplete ADU that was dropped, with what a deletion status report needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The primary block of the first fragment that arrived for the ADU, as received (fragment
    /// fields included): source, creation timestamp, report-to EID, report request flags.
    pub primary: PrimaryBlock,
    /// Payload bytes of the ADU that had arrived.
    pub received: usize,
    /// Why it was dropped.
    pub reason: DropReason,
}

/// A reassembled ADU and the bundle it forms (RFC 9171 §5.9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reassembled {
    /// The primary block of the fragment at offset 0, no longer a fragment: no fragment fields
    /// and the "is a fragment" flag clear.
    pub primary: PrimaryBlock,
    /// The extension blocks of the fragment at offset 0, in wire order, with ranges into
    /// [`Reassembled::block_bytes`]. The payload block is not among them.
    pub blocks: Vec<CanonicalBlock>,
    /// The encodings of [`Reassembled::blocks`], back to back, as received.
    pub block_bytes: Vec<u8>,
    /// Block processing control flags of the payload block of the fragment at offset 0.
    pub payload_flags: u64,
    /// CRC type of that payload block.
    pub payload_crc: CrcType,
    /// The whole ADU.
    pub payload: Vec<u8>,
    /// DTN time (ms) at which the ADU's lifetime ends.
    pub expires_ms: u64,
}

impl Reassembled {
    /// Encodes the whole bundle: the primary block (new CRC), the extension blocks as
    /// received, then a payload block with the whole ADU.
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(64 + self.block_bytes.len() + cbor::string_len(self.payload.len()));
        out.push(cbor::INDEFINITE_ARRAY);
        write_primary(&self.primary, &mut out);
        for blk in &self.blocks {
            out.extend_from_slice(self.block_bytes.get(blk.extent.clone()).unwrap_or_default());
        }
        write_canonical(
            &mut out,
            block_type::PAYLOAD,
            1,
            self.payload_flags,
            self.payload_crc,
            &self.payload,
        );
        out.push(cbor::BREAK);
        out
    }
}

/// What [`Reassembler::insert`] did with a fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// The fragment added bytes; its ADU is still incomplete.
    Pending,
    /// Every byte of the fragment was already held (a duplicate): nothing changed.
    Duplicate,
    /// The fragment completed its ADU, which is no longer held.
    Complete(Box<Reassembled>),
    /// The fragment was refused; nothing changed.
    Rejected(Reject),
}

/// The result of [`Reassembler::insert`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Insert {
    /// What happened to the fragment.
    pub status: Status,
    /// Incomplete ADUs dropped to make room for it, oldest first (usually none).
    pub dropped: Vec<Dropped>,
}

impl Insert {
    fn status(status: Status) -> Insert {
        Insert {
            status,
            dropped: Vec::new(),
        }
    }
}

/// Bytes counted for each incomplete ADU besides its buffer and blocks: the key, the primary
/// block and the map entry. An estimate; it keeps many tiny ADUs from escaping the bound.
const ENTRY_COST: usize = 256;
/// Bytes counted for each covered range (a B-tree entry and its share of the node).
const RANGE_COST: usize = 32;

/// Fragments belong to one ADU when these agree: source node ID and creation timestamp
/// (RFC 9171 §5.9), and the total ADU length.
type Key = (Eid, CreationTimestamp, u64);

/// What the fragment at offset 0 contributes: the primary and extension blocks of the result.
#[derive(Debug)]
struct Head {
    primary: PrimaryBlock,
    blocks: Vec<CanonicalBlock>,
    block_bytes: Vec<u8>,
    payload_flags: u64,
    payload_crc: CrcType,
}

/// An incomplete ADU.
#[derive(Debug)]
struct Partial {
    /// Arrival order of its first fragment: the eviction order.
    seq: u64,
    /// The first fragment's primary block, for deletion reports.
    primary: PrimaryBlock,
    expires_ms: u64,
    /// The ADU, as long as its total; bytes outside `covered` are zero.
    buf: Vec<u8>,
    /// Covered ranges, start to end: disjoint, neither overlapping nor adjacent.
    covered: BTreeMap<usize, usize>,
    /// Sum of the lengths of the covered ranges.
    covered_len: usize,
    head: Option<Head>,
}

impl Partial {
    /// Memory counted against the bound.
    fn cost(&self) -> usize {
        ENTRY_COST
            + self.buf.len()
            + self.head.as_ref().map_or(0, |h| h.block_bytes.len())
            + self.covered.len() * RANGE_COST
    }

    /// Copies the parts of `data` (which belongs at `offset`) that are not covered yet, and
    /// merges its range into the covered ranges. Returns how many bytes were new. The caller
    /// has checked that the range lies inside the buffer.
    fn fill(&mut self, offset: usize, data: &[u8]) -> usize {
        let end = offset + data.len();
        // The ranges that overlap or touch [offset, end]: at most one starting before offset,
        // then those starting inside.
        let before = self
            .covered
            .range(..=offset)
            .next_back()
            .filter(|(_, e)| **e >= offset)
            .map(|(s, e)| (*s, *e));
        let touching: Vec<(usize, usize)> = before
            .into_iter()
            .chain(
                self.covered
                    .range((Excluded(offset), Included(end)))
                    .map(|(s, e)| (*s, *e)),
            )
            .collect();
        let mut copy = |from: usize, to: usize| {
            if let (Some(dst), Some(src)) = (
                self.buf.get_mut(from..to),
                data.get(from - offset..to - offset),
            ) {
                dst.copy_from_slice(src);
            }
            to - from
        };
        let (mut cursor, mut added) = (offset, 0);
        let (mut start, mut stop) = (offset, end);
        for &(s, e) in &touching {
            if s > cursor {
                added += copy(cursor, s);
            }
            cursor = cursor.max(e);
            start = start.min(s);
            stop = stop.max(e);
        }
        if cursor < end {
            added += copy(cursor, end);
        }
        for (s, _) in touching {
            self.covered.remove(&s);
        }
        self.covered.insert(start, stop);
        self.covered_len += added;
        added
    }
}

/// The DTN time at which a bundle's lifetime ends: creation time plus lifetime, or, without a
/// creation time, reception time plus lifetime minus the bundle age (RFC 9171 §4.4.2).
fn expiry(now_ms: u64, bytes: &[u8], b: &Bundle) -> u64 {
    let p = &b.primary;
    if p.creation.time != 0 {
        return p.creation.time.saturating_add(p.lifetime_ms);
    }
    let age = b
        .blocks
        .iter()
        .find(|x| x.block_type == block_type::BUNDLE_AGE)
        .and_then(|x| bytes.get(x.data.clone()))
        .and_then(|data| Reader::new(data).uint().ok())
        .unwrap_or(0);
    now_ms.saturating_add(p.lifetime_ms).saturating_sub(age)
}

/// The head of a result, from the fragment at offset 0: owned copies of its extension blocks.
fn head(b: &Bundle, bytes: &[u8], extensions: &[CanonicalBlock], payload: &CanonicalBlock) -> Head {
    let mut block_bytes = Vec::with_capacity(extensions.iter().map(|x| x.extent.len()).sum());
    let mut blocks = Vec::with_capacity(extensions.len());
    for blk in extensions {
        // `split_blocks` checked that the data lies inside the extent, inside `bytes`.
        let base = block_bytes.len();
        block_bytes.extend_from_slice(bytes.get(blk.extent.clone()).unwrap_or_default());
        let data_start = base + blk.data.start.saturating_sub(blk.extent.start);
        blocks.push(CanonicalBlock {
            data: data_start..data_start + blk.data.len(),
            extent: base..block_bytes.len(),
            ..blk.clone()
        });
    }
    let mut primary = b.primary.clone();
    primary.fragment = None;
    primary.flags &= !flags::IS_FRAGMENT;
    Head {
        primary,
        blocks,
        block_bytes,
        payload_flags: payload.flags,
        payload_crc: payload.crc_type,
    }
}

/// Collects fragments and yields whole ADUs (RFC 9171 §5.9), within a memory bound.
///
/// See the module documentation for how fragments are grouped and what the bound covers.
#[derive(Debug)]
pub struct Reassembler {
    max_bytes: usize,
    held: usize,
    next_seq: u64,
    partial: HashMap<Key, Partial>,
    /// Arrival order of the incomplete ADUs, oldest first.
    order: BTreeMap<u64, Key>,
}

impl Reassembler {
    /// A reassembler that holds at most `max_bytes` for incomplete ADUs: their buffers (one per
    /// ADU, as long as its total), the extension blocks of their fragments at offset 0, and an
    /// estimate of the bookkeeping (256 bytes per ADU, 32 per covered range). ADUs longer than
    /// the bound are refused, except in a fragment that carries the whole ADU (nothing is held
    /// for it).
    pub fn new(max_bytes: usize) -> Reassembler {
        Reassembler {
            max_bytes,
            held: 0,
            next_seq: 0,
            partial: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    /// Adds one fragment: `bytes` and its parse `b`. Fragments may come in any order, more than
    /// once, and overlapping (bytes already held are kept). Returns the ADU when this fragment
    /// completes it, and lists the incomplete ADUs dropped to make room.
    pub fn insert(&mut self, now_ms: u64, bytes: &[u8], b: &Bundle) -> Insert {
        let Some(frag) = b.primary.fragment else {
            return Insert::status(Status::Rejected(Reject::NotAFragment));
        };
        if b.primary.source.is_null() {
            return Insert::status(Status::Rejected(Reject::Anonymous));
        }
        let (Some((extensions, payload_block)), Some(payload)) =
            (split_blocks(bytes, b), bytes.get(b.payload.clone()))
        else {
            return Insert::status(Status::Rejected(Reject::Inconsistent));
        };
        if payload.is_empty() {
            return Insert::status(Status::Rejected(Reject::EmptyPayload));
        }
        let out_of_range = Reject::OutOfRange {
            offset: frag.offset,
            len: payload.len(),
            total_adu_len: frag.total_adu_len,
        };
        let (Ok(offset), Ok(total)) = (
            usize::try_from(frag.offset),
            usize::try_from(frag.total_adu_len),
        ) else {
            // Beyond the address space: the range check below could not pass either way.
            let status = if frag.offset > frag.total_adu_len {
                Status::Rejected(out_of_range)
            } else {
                Status::Rejected(Reject::TooLarge {
                    need: frag.total_adu_len,
                    max: self.max_bytes,
                })
            };
            return Insert::status(status);
        };
        if offset
            .checked_add(payload.len())
            .is_none_or(|end| end > total)
        {
            return Insert::status(Status::Rejected(out_of_range));
        }

        let key: Key = (
            b.primary.source.clone(),
            b.primary.creation,
            frag.total_adu_len,
        );
        let head_len = if offset == 0 {
            extensions.iter().map(|x| x.extent.len()).sum()
        } else {
            0
        };
        let mut dropped = Vec::new();
        // The most this fragment can add to the held memory: a new ADU, the blocks of the
        // fragment at offset 0, one more covered range.
        let (cost_before, growth) = match self.partial.get(&key) {
            Some(p) => {
                let blocks = if p.head.is_none() { head_len } else { 0 };
                (p.cost(), blocks.saturating_add(RANGE_COST))
            }
            None => {
                let expires_ms = expiry(now_ms, bytes, b);
                if expires_ms <= now_ms {
                    return Insert::status(Status::Rejected(Reject::Expired));
                }
                if payload.len() == total {
                    // The whole ADU in one fragment: nothing to hold, nothing to make room for.
                    let h = head(b, bytes, extensions, payload_block);
                    return Insert::status(Status::Complete(Box::new(Reassembled {
                        primary: h.primary,
                        blocks: h.blocks,
                        block_bytes: h.block_bytes,
                        payload_flags: h.payload_flags,
                        payload_crc: h.payload_crc,
                        payload: payload.to_vec(),
                        expires_ms,
                    })));
                }
                let growth = total
                    .saturating_add(head_len)
                    .saturating_add(ENTRY_COST + RANGE_COST);
                (0, growth)
            }
        };
        let need = cost_before.saturating_add(growth);
        if need > self.max_bytes {
            return Insert::status(Status::Rejected(Reject::TooLarge {
                need: need as u64,
                max: self.max_bytes,
            }));
        }
        self.make_room(growth, &key, &mut dropped);

        let p = match self.partial.entry(key.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.order.insert(seq, key.clone());
                // Zeroed memory: the allocator can hand out fresh pages without writing them.
                e.insert(Partial {
                    seq,
                    primary: b.primary.clone(),
                    expires_ms: expiry(now_ms, bytes, b),
                    buf: vec![0; total],
                    covered: BTreeMap::new(),
                    covered_len: 0,
                    head: None,
                })
            }
        };
        if offset == 0 && p.head.is_none() {
            p.head = Some(head(b, bytes, extensions, payload_block));
        }
        let added = p.fill(offset, payload);
        self.held = self.held.saturating_sub(cost_before) + p.cost();

        let status = if p.covered_len >= total {
            match self.remove(&key) {
                Some(done) => Status::Complete(Box::new(finish(done))),
                None => Status::Pending,
            }
        } else if added == 0 {
            Status::Duplicate
        } else {
            Status::Pending
        };
        Insert { status, dropped }
    }

    /// Drops the oldest incomplete ADUs other than `keep` until `growth` more bytes fit.
    fn make_room(&mut self, growth: usize, keep: &Key, dropped: &mut Vec<Dropped>) {
        while self.held.saturating_add(growth) > self.max_bytes {
            let Some(victim) = self.order.values().find(|k| *k != keep).cloned() else {
                return;
            };
            if let Some(p) = self.remove(&victim) {
                dropped.push(Dropped {
                    received: p.covered_len,
                    primary: p.primary,
                    reason: DropReason::MemoryBound,
                });
            }
        }
    }

    fn remove(&mut self, key: &Key) -> Option<Partial> {
        let p = self.partial.remove(key)?;
        self.order.remove(&p.seq);
        self.held = self.held.saturating_sub(p.cost());
        Some(p)
    }

    /// Drops the incomplete ADUs whose lifetime has ended by `now_ms` (creation time plus
    /// lifetime; without a creation time, arrival of the first fragment plus lifetime minus
    /// its bundle age). Returns them, oldest first, for deletion reports.
    pub fn expire(&mut self, now_ms: u64) -> Vec<Dropped> {
        let mut gone: Vec<(u64, Key)> = self
            .partial
            .iter()
            .filter(|(_, p)| p.expires_ms <= now_ms)
            .map(|(k, p)| (p.seq, k.clone()))
            .collect();
        gone.sort_unstable_by_key(|(seq, _)| *seq);
        gone.into_iter()
            .filter_map(|(_, k)| self.remove(&k))
            .map(|p| Dropped {
                received: p.covered_len,
                primary: p.primary,
                reason: DropReason::LifetimeExpired,
            })
            .collect()
    }

    /// The earliest time at which [`Reassembler::expire`] will drop something, if anything is
    /// held.
    pub fn next_expiry(&self) -> Option<u64> {
        self.partial.values().map(|p| p.expires_ms).min()
    }

    /// Incomplete ADUs held.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Memory counted against the bound (see [`Reassembler::new`]).
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// The bound given to [`Reassembler::new`].
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

/// The result for a completed ADU.
fn finish(p: Partial) -> Reassembled {
    let head = p.head.unwrap_or_else(|| {
        // Unreachable for a non-empty ADU (only a fragment at offset 0 covers byte 0): fall
        // back to the first fragment's primary block and no extension blocks.
        let mut primary = p.primary.clone();
        primary.fragment = None;
        primary.flags &= !flags::IS_FRAGMENT;
        Head {
            primary,
            blocks: Vec::new(),
            block_bytes: Vec::new(),
            payload_flags: 0,
            payload_crc: CrcType::None,
        }
    });
    Reassembled {
        primary: head.primary,
        blocks: head.blocks,
        block_bytes: head.block_bytes,
        payload_flags: head.payload_flags,
        payload_crc: head.payload_crc,
        payload: p.buf,
        expires_ms: p.expires_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic xorshift64* generator.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn largest_fit_matches_brute_force() {
        for budget in (0..70_000).chain([u32::MAX as usize + 3, u32::MAX as usize + 6]) {
            let brute = (0..=budget)
                .rev()
                .take(10)
                .find(|n| cbor::string_len(*n) <= budget);
            assert_eq!(largest_fit(budget), brute, "budget {budget}");
        }
    }

    fn partial(total: usize) -> Partial {
        Partial {
            seq: 0,
            primary: PrimaryBlock {
                flags: 0,
                crc_type: CrcType::None,
                destination: Eid::ipn(2, 1),
                source: Eid::ipn(1, 1),
                report_to: Eid::ipn(1, 1),
                creation: CreationTimestamp::default(),
                lifetime_ms: 0,
                fragment: None,
            },
            expires_ms: 0,
            buf: vec![0; total],
            covered: BTreeMap::new(),
            covered_len: 0,
            head: None,
        }
    }

    #[test]
    fn fill_keeps_held_bytes_and_merges_ranges() {
        let mut rng = Rng(0x0dd_ba11_cafe);
        for round in 0..300 {
            let total = 1 + rng.below(300) as usize;
            let mut p = partial(total);
            // The model: which bytes are held, and by which insert (the first one wins).
            let mut model: Vec<Option<u8>> = vec![None; total];
            for i in 0..40u8 {
                let offset = rng.below(total as u64) as usize;
                let len = 1 + rng.below((total - offset) as u64) as usize;
                let data = vec![i.wrapping_add(1); len];
                let want_new = model[offset..offset + len]
                    .iter()
                    .filter(|m| m.is_none())
                    .count();
                for m in &mut model[offset..offset + len] {
                    m.get_or_insert(i.wrapping_add(1));
                }
                assert_eq!(p.fill(offset, &data), want_new, "round {round}");
                let held: Vec<u8> = model.iter().map(|m| m.unwrap_or(0)).collect();
                assert_eq!(p.buf, held);
                assert_eq!(p.covered_len, model.iter().filter(|m| m.is_some()).count());
                // The ranges are exactly the runs of held bytes: disjoint and not adjacent.
                let mut runs = BTreeMap::new();
                let mut at = 0;
                while at < total {
                    if model[at].is_some() {
                        let start = at;
                        while at < total && model[at].is_some() {
                            at += 1;
                        }
                        runs.insert(start, at);
                    } else {
                        at += 1;
                    }
                }
                assert_eq!(p.covered, runs, "round {round}");
            }
        }
    }

    #[test]
    fn errors_have_messages_and_distinct_reasons() {
        let mut reasons = std::collections::HashSet::new();
        let fragment_errors = [
            FragmentError::MustNotFragment,
            FragmentError::Anonymous,
            FragmentError::TooSmall {
                max_len: 10,
                min_len: 40,
            },
            FragmentError::Inconsistent,
        ];
        for e in &fragment_errors {
            assert!(!e.to_string().is_empty());
            assert!(reasons.insert(e.reason()), "{}", e.reason());
        }
        let rejects = [
            Reject::NotAFragment,
            Reject::Anonymous,
            Reject::Inconsistent,
            Reject::EmptyPayload,
            Reject::OutOfRange {
                offset: 5,
                len: 3,
                total_adu_len: 6,
            },
            Reject::TooLarge { need: 10, max: 5 },
            Reject::Expired,
        ];
        let mut reasons = std::collections::HashSet::new();
        for r in &rejects {
            assert!(!r.to_string().is_empty());
            assert!(reasons.insert(r.reason()), "{}", r.reason());
        }
        assert_eq!(DropReason::LifetimeExpired.report_code(), 1);
        assert_eq!(DropReason::MemoryBound.report_code(), 4);
    }
}

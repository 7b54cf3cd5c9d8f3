//! Editing received bundles without re-encoding what does not change: the forwarding edits of
//! RFC 9171 §5.4 step 4 on the extension blocks of §4.4 (previous node §4.4.1, bundle age
//! §4.4.2, hop count §4.4.3), removal of blocks, the decision for blocks the node can't
//! process (§4.2.4, §5.6 step 4), and the encoding of new bundles with extension blocks.
//!
//! Invariants:
//! - Edits take the received bytes and the [`Bundle`] that [`super::parse`] returned for
//!   them. The primary block and every block that is not edited are copied byte for byte, so
//!   the CRCs their sender computed stay valid (the primary block is immutable, §4.3.1).
//! - An edited block is re-encoded in deterministic CBOR (RFC 8949 §4.2.1) with its own type,
//!   number, flags and CRC type, and a newly computed CRC. A new block goes just before the
//!   payload block, with a block number no other block of the bundle has (§4.1).
//! - What an edit writes from a parsed bundle parses again, except when the caller removes a
//!   block the bundle needs (the bundle age block when the creation time is 0, §4.4.2).
//! - Nothing here panics. A [`Bundle`] whose ranges lie outside the given bytes (it was parsed
//!   from other bytes) gives [`EditError::OutsideInput`]; extension block data that does not
//!   decode (impossible after [`super::parse`], which checks it) is left as it is.
//!
//! No I/O, no clock: callers pass the ages and EIDs.

use std::collections::HashSet;
use std::fmt;

use super::bundle::{
    Bundle, CanonicalBlock, PrimaryBlock, block_flags, block_type, encoded_len, write_canonical,
    write_primary,
};
use super::cbor::{self, Reader};
use super::crc::CrcType;
use super::eid::Eid;

/// CRC type of the blocks that edits insert: a received bundle may come without a primary
/// block CRC (see [`super::bundle`]), so new blocks carry their own.
pub const NEW_BLOCK_CRC: CrcType = CrcType::Crc32c;

/// Flags of an inserted or new bundle age or hop count block: replicated in every fragment,
/// because each fragment is forwarded on its own and a fragment with creation time 0 needs
/// its own age block (§4.4.2).
pub const REPLICATED_BLOCK_FLAGS: u64 = block_flags::REPLICATE_IN_FRAGMENTS;

/// The hop count block's content (RFC 9171 §4.4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HopCount {
    /// Hop limit, 1 to 255 in a valid bundle.
    pub limit: u64,
    /// Number of times the bundle has been forwarded.
    pub count: u64,
}

/// Whether a bundle may be forwarded once more under its hop limit; see [`hop_check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HopCheck {
    /// No hop count block, or forwarding keeps the count within the limit.
    Ok,
    /// Forwarding would take the count past the limit: delete the bundle with reason "hop
    /// limit exceeded" (§4.4.3, §5.10).
    Exceeded,
}

/// The data of the first block of type `t`, if there is one inside `bytes`.
fn block_data<'a>(bytes: &'a [u8], b: &Bundle, t: u64) -> Option<&'a [u8]> {
    let blk = b.blocks.iter().find(|x| x.block_type == t)?;
    bytes.get(blk.data.clone())
}

/// Decodes hop count block data: an array of exactly two unsigned integers.
fn decode_hop_count(data: &[u8]) -> Option<HopCount> {
    let mut r = Reader::new(data);
    let mut items = r.array().ok()?;
    let mut next = |r: &mut Reader<'_>| -> Option<u64> {
        if items.next(r).ok()? {
            r.uint().ok()
        } else {
            None
        }
    };
    let limit = next(&mut r)?;
    let count = next(&mut r)?;
    if items.next(&mut r).ok()? || r.remaining() != 0 {
        return None;
    }
    Some(HopCount { limit, count })
}

/// Decodes bundle age block data: one unsigned integer.
fn decode_age(data: &[u8]) -> Option<u64> {
    let mut r = Reader::new(data);
    let age = r.uint().ok()?;
    (r.remaining() == 0).then_some(age)
}

/// Decodes previous node block data: one EID.
fn decode_previous_node(data: &[u8]) -> Option<Eid> {
    let mut r = Reader::new(data);
    let eid = Eid::read_cbor(&mut r).ok()?;
    (r.remaining() == 0).then_some(eid)
}

/// The hop limit and count from the bundle's hop count block, if it has one.
pub fn hop_count(bytes: &[u8], b: &Bundle) -> Option<HopCount> {
    decode_hop_count(block_data(bytes, b, block_type::HOP_COUNT)?)
}

/// The bundle age in milliseconds from the bundle's age block, if it has one.
pub fn bundle_age(bytes: &[u8], b: &Bundle) -> Option<u64> {
    decode_age(block_data(bytes, b, block_type::BUNDLE_AGE)?)
}

/// The node ID in the bundle's previous node block, if it has one.
pub fn previous_node(bytes: &[u8], b: &Bundle) -> Option<Eid> {
    decode_previous_node(block_data(bytes, b, block_type::PREVIOUS_NODE)?)
}

/// Whether the bundle may be forwarded once more. Forwarding increments the hop count
/// (§4.4.3: "incremented by 1 each time the bundle is forwarded"), and a count that exceeds
/// the limit means the bundle is deleted; so a bundle whose count has reached its limit is
/// [`HopCheck::Exceeded`]. Call it before [`edit_for_forwarding`].
pub fn hop_check(bytes: &[u8], b: &Bundle) -> HopCheck {
    match hop_count(bytes, b) {
        Some(h) if h.count >= h.limit => HopCheck::Exceeded,
        _ => HopCheck::Ok,
    }
}

/// The edits of RFC 9171 §5.4 step 4 before a bundle is sent on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forwarding {
    /// Replace the previous node block's EID with this one (this node's `ipn:N.0`), or insert
    /// a previous node block if there is none (§4.4.1).
    pub previous_node: Option<Eid>,
    /// Add this many milliseconds (the time the bundle spent here) to the bundle age block,
    /// saturating. If there is none, one holding this value is inserted only when the creation
    /// time is 0, the case where §4.4.2 requires it.
    pub age_ms_add: Option<u64>,
    /// Increment the hop count, saturating, if there is a hop count block (§4.4.3).
    pub increment_hop: bool,
}

/// Why an edit could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EditError {
    /// A byte range of the [`Bundle`] lies outside the given bytes: the bundle was parsed from
    /// other bytes.
    OutsideInput {
        /// The block whose range lies outside (0: the primary block).
        block: u64,
    },
}

impl EditError {
    /// A short stable token naming the error, usable as a counter name.
    pub fn reason(&self) -> &'static str {
        match self {
            EditError::OutsideInput { .. } => "edit_outside_input",
        }
    }
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::OutsideInput { block: 0 } => f.write_str(
                "primary block range lies outside the bytes to edit: the bundle was parsed from other bytes",
            ),
            EditError::OutsideInput { block } => write!(
                f,
                "block {block} range lies outside the bytes to edit: the bundle was parsed from other bytes"
            ),
        }
    }
}

impl std::error::Error for EditError {}

/// Hands out block numbers that no block of a bundle has (RFC 9171 §4.1).
struct Numbers {
    used: HashSet<u64>,
    next: Option<u64>,
}

impl Numbers {
    fn new(b: &Bundle) -> Numbers {
        let used: HashSet<u64> = b.blocks.iter().map(|x| x.number).collect();
        // Above every number in use: the usual case, and what other stacks do too.
        let next = used
            .iter()
            .copied()
            .max()
            .unwrap_or(1)
            .max(1)
            .checked_add(1);
        Numbers { used, next }
    }

    fn fresh(&mut self) -> u64 {
        let n = match self.next {
            Some(n) => {
                self.next = n.checked_add(1);
                n
            }
            // u64::MAX is taken: there is a gap among the first used.len() + 1 candidates.
            None => (2..=u64::MAX)
                .find(|n| !self.used.contains(n))
                .unwrap_or(u64::MAX),
        };
        self.used.insert(n);
        n
    }
}

/// Writes the bundle again: the primary block as received, then each block either dropped
/// (`remove`), re-encoded with the data `edit` returns, or copied, with `new` blocks just
/// before the payload block (at the end if there is none).
fn rebuild(
    bytes: &[u8],
    b: &Bundle,
    new: &[NewBlock],
    mut edit: impl FnMut(&CanonicalBlock, &[u8]) -> Option<Vec<u8>>,
    remove: impl Fn(&CanonicalBlock) -> bool,
) -> Result<Vec<u8>, EditError> {
    let primary = bytes
        .get(b.primary_extent.clone())
        .ok_or(EditError::OutsideInput { block: 0 })?;
    let extra: usize = new.iter().map(NewBlock::encoded_len).sum();
    let mut out = Vec::with_capacity(bytes.len().saturating_add(extra).saturating_add(32));
    out.push(cbor::INDEFINITE_ARRAY);
    out.extend_from_slice(primary);
    let insert_at = b
        .blocks
        .iter()
        .position(|x| x.block_type == block_type::PAYLOAD)
        .unwrap_or(b.blocks.len());
    for (i, blk) in b.blocks.iter().enumerate() {
        if i == insert_at {
            new.iter().for_each(|n| n.write(&mut out));
        }
        let outside = EditError::OutsideInput { block: blk.number };
        let extent = bytes.get(blk.extent.clone()).ok_or(outside)?;
        if remove(blk) {
            continue;
        }
        let data = bytes.get(blk.data.clone()).ok_or(outside)?;
        match edit(blk, data) {
            Some(d) => write_canonical(
                &mut out,
                blk.block_type,
                blk.number,
                blk.flags,
                blk.crc_type,
                &d,
            ),
            None => out.extend_from_slice(extent),
        }
    }
    if insert_at == b.blocks.len() {
        new.iter().for_each(|n| n.write(&mut out));
    }
    out.push(cbor::BREAK);
    Ok(out)
}

/// Returns the bytes of the bundle edited for forwarding as `f` says (RFC 9171 §5.4 step 4).
///
/// Existing previous node, bundle age and hop count blocks are re-encoded with their new
/// values and keep their numbers, flags and CRC types. Inserted blocks (previous node with
/// flags 0; bundle age with [`REPLICATED_BLOCK_FLAGS`]) get CRC type [`NEW_BLOCK_CRC`] and
/// fresh numbers, and go just before the payload block. Everything else is copied as received.
/// Check [`hop_check`] first: this function increments the count whatever the limit.
///
/// # Errors
/// [`EditError::OutsideInput`] if `b` was not parsed from `bytes`.
pub fn edit_for_forwarding(bytes: &[u8], b: &Bundle, f: &Forwarding) -> Result<Vec<u8>, EditError> {
    let has = |t: u64| b.blocks.iter().any(|x| x.block_type == t);
    let mut numbers = Numbers::new(b);
    let mut new = Vec::new();
    if let Some(eid) = &f.previous_node
        && !has(block_type::PREVIOUS_NODE)
    {
        new.push(NewBlock::previous_node(numbers.fresh(), eid, NEW_BLOCK_CRC));
    }
    if let Some(add) = f.age_ms_add
        && b.primary.creation.time == 0
        && !has(block_type::BUNDLE_AGE)
    {
        new.push(NewBlock::bundle_age(numbers.fresh(), add, NEW_BLOCK_CRC));
    }
    let edit = |blk: &CanonicalBlock, data: &[u8]| match blk.block_type {
        block_type::PREVIOUS_NODE => f.previous_node.as_ref().map(previous_node_data),
        block_type::BUNDLE_AGE => f
            .age_ms_add
            .and_then(|add| Some(age_data(decode_age(data)?.saturating_add(add)))),
        block_type::HOP_COUNT if f.increment_hop => {
            let h = decode_hop_count(data)?;
            Some(hop_count_data(h.limit, h.count.saturating_add(1)))
        }
        _ => None,
    };
    rebuild(bytes, b, &new, edit, |_| false)
}

/// Returns the bytes of the bundle without the blocks numbered `numbers`, everything else as
/// received. Number 1, the payload block, is never removed; numbers the bundle does not have
/// are ignored. Removing the bundle age block of a bundle whose creation time is 0 makes it
/// invalid (§4.4.2): that is the caller's choice.
///
/// # Errors
/// [`EditError::OutsideInput`] if `b` was not parsed from `bytes`.
pub fn remove_blocks(bytes: &[u8], b: &Bundle, numbers: &[u64]) -> Result<Vec<u8>, EditError> {
    rebuild(
        bytes,
        b,
        &[],
        |_, _| None,
        |blk| blk.block_type != block_type::PAYLOAD && numbers.contains(&blk.number),
    )
}

/// What to do with a block the node can't process (RFC 9171 §4.2.4, §5.6 step 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownBlockAction {
    /// Neither flag asks otherwise: keep the block and forward it unchanged.
    Keep,
    /// "Discard block if it can't be processed": remove the block, keep the bundle.
    DiscardBlock,
    /// "Delete bundle if block can't be processed": delete the bundle with reason "block
    /// unsupported". Takes precedence over discarding the block (§5.6 step 4).
    DeleteBundle,
}

/// What to do, given the block processing control flags of a block the node can't process,
/// and whether that block requests a status report ("transmit status report if block can't
/// be processed"): a reception report with reason "block unsupported" (§5.6 step 4). Other
/// flag bits are ignored.
pub fn unknown_block_action(flags: u64) -> (UnknownBlockAction, bool) {
    let action = if flags & block_flags::DELETE_BUNDLE_IF_UNPROCESSABLE != 0 {
        UnknownBlockAction::DeleteBundle
    } else if flags & block_flags::DISCARD_IF_UNPROCESSABLE != 0 {
        UnknownBlockAction::DiscardBlock
    } else {
        UnknownBlockAction::Keep
    };
    (action, flags & block_flags::REPORT_IF_UNPROCESSABLE != 0)
}

/// Whether this node processes blocks of type `t`: the payload, the three extension blocks of
/// §4.4, and ION's class-of-service block (read for the priority). All others, BPSec's
/// integrity and confidentiality blocks (types 11, 12) among them, are handled by their flags.
pub fn is_known_block_type(t: u64) -> bool {
    matches!(
        t,
        block_type::PAYLOAD
            | block_type::PREVIOUS_NODE
            | block_type::BUNDLE_AGE
            | block_type::HOP_COUNT
            | block_type::CLASS_OF_SERVICE
    )
}

/// The outcome of [`unknown_blocks`] for a whole bundle.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnknownBlocks {
    /// The number of the first block that requires deleting the bundle, if any.
    pub delete: Option<u64>,
    /// Some block the node can't process requests a status report.
    pub report: bool,
    /// Numbers of the blocks to remove before forwarding (empty when the bundle is deleted).
    pub discard: Vec<u64>,
}

/// Applies [`unknown_block_action`] to every block whose type [`is_known_block_type`] does not
/// know.
pub fn unknown_blocks(b: &Bundle) -> UnknownBlocks {
    let mut out = UnknownBlocks::default();
    for blk in b
        .blocks
        .iter()
        .filter(|x| !is_known_block_type(x.block_type))
    {
        let (action, report) = unknown_block_action(blk.flags);
        out.report |= report;
        match action {
            UnknownBlockAction::Keep => {}
            UnknownBlockAction::DiscardBlock => out.discard.push(blk.number),
            UnknownBlockAction::DeleteBundle => {
                out.delete.get_or_insert(blk.number);
            }
        }
    }
    if out.delete.is_some() {
        out.discard.clear();
    }
    out
}

/// A canonical block to write into a new bundle (RFC 9171 §4.3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBlock {
    /// Block type code.
    pub block_type: u64,
    /// Block number: 2 or more, unique in the bundle.
    pub number: u64,
    /// Block processing control flags.
    pub flags: u64,
    /// CRC type.
    pub crc_type: CrcType,
    /// Block-type-specific data.
    pub data: Vec<u8>,
}

impl NewBlock {
    /// A hop count block (§4.4.3) with [`REPLICATED_BLOCK_FLAGS`].
    pub fn hop_count(number: u64, limit: u64, count: u64, crc_type: CrcType) -> NewBlock {
        NewBlock {
            block_type: block_type::HOP_COUNT,
            number,
            flags: REPLICATED_BLOCK_FLAGS,
            crc_type,
            data: hop_count_data(limit, count),
        }
    }

    /// A bundle age block (§4.4.2) with [`REPLICATED_BLOCK_FLAGS`].
    pub fn bundle_age(number: u64, age_ms: u64, crc_type: CrcType) -> NewBlock {
        NewBlock {
            block_type: block_type::BUNDLE_AGE,
            number,
            flags: REPLICATED_BLOCK_FLAGS,
            crc_type,
            data: age_data(age_ms),
        }
    }

    /// A previous node block (§4.4.1) with flags 0.
    pub fn previous_node(number: u64, eid: &Eid, crc_type: CrcType) -> NewBlock {
        NewBlock {
            block_type: block_type::PREVIOUS_NODE,
            number,
            flags: 0,
            crc_type,
            data: previous_node_data(eid),
        }
    }

    /// Appends the block's encoding, with its CRC.
    pub fn write(&self, out: &mut Vec<u8>) {
        write_canonical(
            out,
            self.block_type,
            self.number,
            self.flags,
            self.crc_type,
            &self.data,
        );
    }

    /// Length of what [`NewBlock::write`] appends.
    pub fn encoded_len(&self) -> usize {
        let crc = match self.crc_type.len() {
            0 => 0,
            n => 1 + n,
        };
        // The array head (at most 6 items) and the CRC type take one byte each.
        (2 + cbor::uint_len(self.block_type) + cbor::uint_len(self.number))
            .saturating_add(cbor::uint_len(self.flags))
            .saturating_add(cbor::string_len(self.data.len()))
            .saturating_add(crc)
    }
}

/// Appends a new bundle: the primary block, `blocks` in the given order, then the payload
/// block (number 1, flags 0, CRC type `payload_crc`), in deterministic CBOR inside the
/// indefinite-length bundle array. For locally created bundles that need a hop count block
/// (hop limit set by the application) or a bundle age block (no clock).
///
/// [`super::parse`] accepts the result when the fields are consistent: as for
/// [`super::encode`], plus unique block numbers of 2 or more, no block of type 1, at most one
/// block of each §4.4 type with valid data, and a bundle age block if the creation time is 0.
pub fn encode_with_blocks(
    primary: &PrimaryBlock,
    blocks: &[NewBlock],
    payload: &[u8],
    payload_crc: CrcType,
    out: &mut Vec<u8>,
) {
    out.reserve(encoded_len_with_blocks(
        primary,
        blocks,
        payload.len(),
        payload_crc,
    ));
    out.push(cbor::INDEFINITE_ARRAY);
    write_primary(primary, out);
    blocks.iter().for_each(|blk| blk.write(out));
    write_canonical(out, block_type::PAYLOAD, 1, 0, payload_crc, payload);
    out.push(cbor::BREAK);
}

/// Exact length [`encode_with_blocks`] would produce. Saturates instead of overflowing.
pub fn encoded_len_with_blocks(
    primary: &PrimaryBlock,
    blocks: &[NewBlock],
    payload_len: usize,
    payload_crc: CrcType,
) -> usize {
    blocks.iter().map(NewBlock::encoded_len).fold(
        encoded_len(primary, None, payload_len, payload_crc),
        |a, n| a.saturating_add(n),
    )
}

/// Hop count block data: `[limit, count]` (§4.4.3).
pub fn hop_count_data(limit: u64, count: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + cbor::uint_len(limit) + cbor::uint_len(count));
    cbor::write_array(&mut out, 2);
    cbor::write_uint(&mut out, limit);
    cbor::write_uint(&mut out, count);
    out
}

/// Bundle age block data: the age in milliseconds (§4.4.2).
pub fn age_data(ms: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(cbor::uint_len(ms));
    cbor::write_uint(&mut out, ms);
    out
}

/// Previous node block data: the node ID (§4.4.1).
pub fn previous_node_data(eid: &Eid) -> Vec<u8> {
    let mut out = Vec::with_capacity(eid.cbor_len());
    eid.write_cbor(&mut out);
    out
}

/// ION's class-of-service block data (type [`block_type::CLASS_OF_SERVICE`]):
/// `[0, priority, 0, 0]`, as [`super::encode`] writes it.
pub fn class_of_service_data(priority: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(6);
    cbor::write_array(&mut out, 4);
    cbor::write_uint(&mut out, 0);
    cbor::write_uint(&mut out, u64::from(priority));
    cbor::write_uint(&mut out, 0);
    cbor::write_uint(&mut out, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{CreationTimestamp, encode, parse};

    fn primary() -> PrimaryBlock {
        PrimaryBlock {
            flags: 0,
            crc_type: CrcType::Crc32c,
            destination: Eid::ipn(2, 1),
            source: Eid::ipn(1, 1),
            report_to: Eid::ipn(1, 0),
            creation: CreationTimestamp {
                time: 800_000_000_000,
                seq: 3,
            },
            lifetime_ms: 3_600_000,
            fragment: None,
        }
    }

    fn unknown(number: u64, flags: u64, crc_type: CrcType) -> NewBlock {
        NewBlock {
            block_type: 200,
            number,
            flags,
            crc_type,
            data: b"opaque".to_vec(),
        }
    }

    fn build(p: &PrimaryBlock, blocks: &[NewBlock], payload_crc: CrcType) -> Vec<u8> {
        let mut out = Vec::new();
        encode_with_blocks(p, blocks, b"payload bytes", payload_crc, &mut out);
        assert_eq!(
            out.len(),
            encoded_len_with_blocks(p, blocks, 13, payload_crc)
        );
        out
    }

    /// Blocks as (type, number, flags, CRC type, data bytes).
    fn blocks_of(bytes: &[u8]) -> Vec<(u64, u64, u64, CrcType, Vec<u8>)> {
        let b = parse(bytes).expect("valid");
        b.blocks
            .iter()
            .map(|x| {
                (
                    x.block_type,
                    x.number,
                    x.flags,
                    x.crc_type,
                    bytes[x.data.clone()].to_vec(),
                )
            })
            .collect()
    }

    /// The encoding of block `number`.
    fn block_bytes(bytes: &[u8], number: u64) -> Vec<u8> {
        let b = parse(bytes).expect("valid");
        let blk = b.blocks.iter().find(|x| x.number == number).expect("block");
        bytes[blk.extent.clone()].to_vec()
    }

    fn primary_bytes(bytes: &[u8]) -> Vec<u8> {
        bytes[parse(bytes).expect("valid").primary_extent].to_vec()
    }

    const CRCS: [CrcType; 3] = [CrcType::None, CrcType::Crc16, CrcType::Crc32c];

    #[test]
    fn data_encodings() {
        assert_eq!(hop_count_data(30, 2), [0x82, 0x18, 30, 0x02]);
        assert_eq!(hop_count_data(1, 0), [0x82, 0x01, 0x00]);
        assert_eq!(age_data(0), [0x00]);
        assert_eq!(age_data(1000), [0x19, 0x03, 0xe8]);
        assert_eq!(
            previous_node_data(&Eid::ipn(5, 0)),
            [0x82, 0x02, 0x82, 0x05, 0x00]
        );
        assert_eq!(class_of_service_data(2), [0x84, 0, 2, 0, 0]);
        assert_eq!(class_of_service_data(200), [0x84, 0, 0x18, 200, 0, 0]);
        // The same class-of-service block as encode writes.
        let mut a = Vec::new();
        encode(&primary(), Some(1), b"x", CrcType::Crc16, &mut a);
        let mut b = Vec::new();
        let cos = NewBlock {
            block_type: block_type::CLASS_OF_SERVICE,
            number: 2,
            flags: 0x11,
            crc_type: CrcType::Crc16,
            data: class_of_service_data(1),
        };
        encode_with_blocks(&primary(), &[cos], b"x", CrcType::Crc16, &mut b);
        assert_eq!(a, b);
        // Without blocks, exactly what encode writes.
        let mut c = Vec::new();
        encode_with_blocks(&primary(), &[], b"x", CrcType::Crc32c, &mut c);
        let mut d = Vec::new();
        encode(&primary(), None, b"x", CrcType::Crc32c, &mut d);
        assert_eq!(c, d);
    }

    #[test]
    fn encode_with_blocks_round_trips() {
        for crc in CRCS {
            let blocks = [
                NewBlock::hop_count(2, 30, 0, crc),
                NewBlock::bundle_age(3, 1234, crc),
                NewBlock::previous_node(4, &Eid::Dtn("//me/".into()), crc),
                unknown(u64::MAX, 0x10, crc),
            ];
            let mut p = primary();
            p.creation.time = 0;
            let bytes = build(&p, &blocks, crc);
            let b = parse(&bytes).expect("valid with the age block");
            let want: Vec<_> = blocks
                .iter()
                .map(|x| (x.block_type, x.number, x.flags, x.crc_type, x.data.clone()))
                .chain([(1, 1, 0, crc, b"payload bytes".to_vec())])
                .collect();
            assert_eq!(blocks_of(&bytes), want);
            assert_eq!(
                hop_count(&bytes, &b),
                Some(HopCount {
                    limit: 30,
                    count: 0
                })
            );
            assert_eq!(bundle_age(&bytes, &b), Some(1234));
            assert_eq!(previous_node(&bytes, &b), Some(Eid::Dtn("//me/".into())));
            assert_eq!(b.primary.creation.time, 0);
        }
        let bytes = build(&primary(), &[], CrcType::None);
        let b = parse(&bytes).expect("valid");
        assert_eq!(hop_count(&bytes, &b), None);
        assert_eq!(bundle_age(&bytes, &b), None);
        assert_eq!(previous_node(&bytes, &b), None);
        // Readers on the wrong bytes find nothing, and do not panic.
        let with = build(
            &primary(),
            &[NewBlock::hop_count(2, 3, 1, CrcType::None)],
            CrcType::None,
        );
        let bw = parse(&with).expect("valid");
        assert_eq!(hop_count(&[], &bw), None);
        assert_eq!(hop_count(&with[..10], &bw), None);
    }

    #[test]
    fn hop_check_cases() {
        for (limit, count, want) in [
            (1, 0, HopCheck::Ok),
            (3, 2, HopCheck::Ok),
            (3, 3, HopCheck::Exceeded),
            (3, 200, HopCheck::Exceeded),
            (255, 254, HopCheck::Ok),
            (255, 255, HopCheck::Exceeded),
        ] {
            let bytes = build(
                &primary(),
                &[NewBlock::hop_count(5, limit, count, CrcType::Crc16)],
                CrcType::None,
            );
            let b = parse(&bytes).expect("valid");
            assert_eq!(hop_check(&bytes, &b), want, "{limit} {count}");
        }
        let bytes = build(&primary(), &[], CrcType::None);
        assert_eq!(
            hop_check(&bytes, &parse(&bytes).expect("valid")),
            HopCheck::Ok
        );
    }

    /// Checks an edit: the result parses, the primary block and every block in `untouched`
    /// are byte-identical, and blocks keep their order apart from insertions before the
    /// payload.
    fn check_edit(before: &[u8], after: &[u8], untouched: &[u64]) {
        assert_eq!(primary_bytes(before), primary_bytes(after));
        for n in untouched {
            assert_eq!(block_bytes(before, *n), block_bytes(after, *n), "block {n}");
        }
        let old: Vec<u64> = blocks_of(before).iter().map(|x| x.1).collect();
        let new: Vec<u64> = blocks_of(after).iter().map(|x| x.1).collect();
        assert_eq!(new[..old.len() - 1], old[..old.len() - 1]);
        assert_eq!(new.last(), Some(&1));
    }

    #[test]
    fn edits_existing_blocks_keeping_their_number_flags_and_crc() {
        for crc in CRCS {
            for other in CRCS {
                let blocks = [
                    unknown(9, 0x01, other),
                    NewBlock::previous_node(3, &Eid::ipn(77, 0), crc),
                    NewBlock {
                        flags: 0x01,
                        ..NewBlock::bundle_age(4, 500, crc)
                    },
                    NewBlock {
                        flags: 0x11,
                        ..NewBlock::hop_count(6, 10, 4, crc)
                    },
                    NewBlock {
                        block_type: block_type::CLASS_OF_SERVICE,
                        number: 7,
                        flags: 0x11,
                        crc_type: other,
                        data: class_of_service_data(2),
                    },
                ];
                let before = build(&primary(), &blocks, other);
                let b = parse(&before).expect("valid");
                let f = Forwarding {
                    previous_node: Some(Eid::ipn(5, 0)),
                    age_ms_add: Some(250),
                    increment_hop: true,
                };
                let after = edit_for_forwarding(&before, &b, &f).expect("edit");
                check_edit(&before, &after, &[9, 7, 1]);
                let a = parse(&after).expect("CRCs of edited blocks are valid");
                assert_eq!(a.blocks.len(), b.blocks.len(), "nothing inserted");
                assert_eq!(previous_node(&after, &a), Some(Eid::ipn(5, 0)));
                assert_eq!(bundle_age(&after, &a), Some(750));
                assert_eq!(
                    hop_count(&after, &a),
                    Some(HopCount {
                        limit: 10,
                        count: 5
                    })
                );
                for (old, new) in b.blocks.iter().zip(&a.blocks) {
                    assert_eq!(
                        (old.block_type, old.number, old.flags, old.crc_type),
                        (new.block_type, new.number, new.flags, new.crc_type)
                    );
                }
                assert_eq!(a.payload(&after), b"payload bytes");
                // Each edit alone changes only its block.
                for (f, changed) in [
                    (
                        Forwarding {
                            previous_node: Some(Eid::ipn(5, 0)),
                            ..Forwarding::default()
                        },
                        3,
                    ),
                    (
                        Forwarding {
                            age_ms_add: Some(1),
                            ..Forwarding::default()
                        },
                        4,
                    ),
                    (
                        Forwarding {
                            increment_hop: true,
                            ..Forwarding::default()
                        },
                        6,
                    ),
                ] {
                    let after = edit_for_forwarding(&before, &b, &f).expect("edit");
                    let untouched: Vec<u64> = [9, 3, 4, 6, 7, 1]
                        .into_iter()
                        .filter(|n| *n != changed)
                        .collect();
                    check_edit(&before, &after, &untouched);
                    assert_ne!(block_bytes(&before, changed), block_bytes(&after, changed));
                }
                // No edits: the same bytes.
                let same = edit_for_forwarding(&before, &b, &Forwarding::default()).expect("edit");
                assert_eq!(same, before);
            }
        }
    }

    #[test]
    fn inserts_previous_node_before_the_payload_with_a_fresh_number() {
        for crc in CRCS {
            let before = build(
                &primary(),
                &[unknown(2, 0, crc), NewBlock::hop_count(5, 3, 0, crc)],
                crc,
            );
            let b = parse(&before).expect("valid");
            let f = Forwarding {
                previous_node: Some(Eid::ipn(8, 0)),
                age_ms_add: Some(100), // no age block and creation time set: nothing to add to
                increment_hop: true,
            };
            let after = edit_for_forwarding(&before, &b, &f).expect("edit");
            check_edit(&before, &after, &[2, 1]);
            let got = blocks_of(&after);
            let types: Vec<(u64, u64)> = got.iter().map(|x| (x.0, x.1)).collect();
            assert_eq!(types, [(200, 2), (10, 5), (6, 6), (1, 1)]);
            let prev = &got[2];
            assert_eq!((prev.2, prev.3), (0, NEW_BLOCK_CRC));
            let a = parse(&after).expect("valid");
            assert_eq!(previous_node(&after, &a), Some(Eid::ipn(8, 0)));
            assert_eq!(bundle_age(&after, &a), None);
            assert_eq!(hop_count(&after, &a).map(|h| h.count), Some(1));
            // Forwarded again by another node: replaced, not duplicated.
            let f2 = Forwarding {
                previous_node: Some(Eid::ipn(9, 0)),
                ..f
            };
            let again = edit_for_forwarding(&after, &a, &f2).expect("edit");
            let a2 = parse(&again).expect("valid");
            assert_eq!(a2.blocks.len(), 4);
            assert_eq!(previous_node(&again, &a2), Some(Eid::ipn(9, 0)));
            assert_eq!(hop_count(&again, &a2).map(|h| h.count), Some(2));
        }
    }

    #[test]
    fn inserts_age_block_when_creation_time_is_zero_and_it_is_missing() {
        // parse refuses such a bundle; a Bundle describing it is still handled.
        let before = build(&primary(), &[unknown(3, 0, CrcType::Crc16)], CrcType::Crc16);
        let mut b = parse(&before).expect("valid");
        b.primary.creation.time = 0;
        let f = Forwarding {
            previous_node: Some(Eid::ipn(8, 0)),
            age_ms_add: Some(42),
            increment_hop: false,
        };
        let after = edit_for_forwarding(&before, &b, &f).expect("edit");
        check_edit(&before, &after, &[3, 1]);
        let got = blocks_of(&after);
        let types: Vec<(u64, u64, u64)> = got.iter().map(|x| (x.0, x.1, x.2)).collect();
        assert_eq!(types, [(200, 3, 0), (6, 4, 0), (7, 5, 1), (1, 1, 0)]);
        assert_eq!(got[2].4, age_data(42));
        // An existing age block is added to, never duplicated.
        let mut p = primary();
        p.creation.time = 0;
        let before = build(
            &p,
            &[NewBlock::bundle_age(2, 10, CrcType::None)],
            CrcType::None,
        );
        let b = parse(&before).expect("valid");
        let after = edit_for_forwarding(&before, &b, &f).expect("edit");
        let a = parse(&after).expect("valid");
        assert_eq!(bundle_age(&after, &a), Some(52));
        assert_eq!(a.blocks.len(), 3);
    }

    #[test]
    fn fresh_numbers_and_saturation() {
        // The highest number is taken: the lowest free one is used.
        let before = build(
            &primary(),
            &[
                unknown(u64::MAX, 0, CrcType::None),
                unknown(2, 0, CrcType::None),
                NewBlock::bundle_age(3, u64::MAX, CrcType::Crc32c),
                NewBlock::hop_count(4, 255, u64::MAX, CrcType::Crc16),
            ],
            CrcType::None,
        );
        let b = parse(&before).expect("valid");
        let f = Forwarding {
            previous_node: Some(Eid::ipn(1, 0)),
            age_ms_add: Some(5),
            increment_hop: true,
        };
        let after = edit_for_forwarding(&before, &b, &f).expect("edit");
        let a = parse(&after).expect("valid");
        let numbers: Vec<u64> = a.blocks.iter().map(|x| x.number).collect();
        assert_eq!(numbers, [u64::MAX, 2, 3, 4, 5, 1]);
        assert_eq!(bundle_age(&after, &a), Some(u64::MAX));
        assert_eq!(hop_count(&after, &a).map(|h| h.count), Some(u64::MAX));
        let mut n = Numbers::new(&a);
        assert_eq!([n.fresh(), n.fresh()], [6, 7]);
    }

    #[test]
    fn edits_refuse_a_bundle_from_other_bytes() {
        let before = build(&primary(), &[unknown(2, 0, CrcType::None)], CrcType::None);
        let b = parse(&before).expect("valid");
        let f = Forwarding {
            increment_hop: true,
            ..Forwarding::default()
        };
        assert_eq!(
            edit_for_forwarding(&[], &b, &f),
            Err(EditError::OutsideInput { block: 0 })
        );
        let short = &before[..b.blocks[0].extent.end - 1];
        assert_eq!(
            edit_for_forwarding(short, &b, &f),
            Err(EditError::OutsideInput { block: 2 })
        );
        assert_eq!(
            remove_blocks(short, &b, &[2]),
            Err(EditError::OutsideInput { block: 2 })
        );
        let e = EditError::OutsideInput { block: 2 };
        assert!(e.to_string().starts_with("block 2 range"));
        assert!(
            EditError::OutsideInput { block: 0 }
                .to_string()
                .starts_with("primary block")
        );
        assert_eq!(e.reason(), "edit_outside_input");
    }

    #[test]
    fn removes_blocks_keeping_the_rest() {
        for crc in CRCS {
            let before = build(
                &primary(),
                &[
                    unknown(2, 0x10, crc),
                    NewBlock::hop_count(3, 9, 1, crc),
                    unknown(4, 0x00, crc),
                ],
                crc,
            );
            let b = parse(&before).expect("valid");
            let after = remove_blocks(&before, &b, &[2, 4, 1, 99]).expect("remove");
            let a = parse(&after).expect("valid");
            let numbers: Vec<u64> = a.blocks.iter().map(|x| x.number).collect();
            assert_eq!(numbers, [3, 1], "the payload block stays");
            assert_eq!(primary_bytes(&after), primary_bytes(&before));
            assert_eq!(block_bytes(&after, 3), block_bytes(&before, 3));
            assert_eq!(block_bytes(&after, 1), block_bytes(&before, 1));
            assert_eq!(remove_blocks(&before, &b, &[]).expect("remove"), before);
        }
    }

    #[test]
    fn unknown_block_flag_combinations() {
        use UnknownBlockAction::*;
        for bits in 0u64..32 {
            for high in [0, 0x08, 0x20, 1 << 40] {
                let flags = bits | high;
                let (action, report) = unknown_block_action(flags);
                let want = if bits & 0x04 != 0 {
                    DeleteBundle
                } else if bits & 0x10 != 0 {
                    DiscardBlock
                } else {
                    Keep
                };
                assert_eq!(action, want, "{flags:#x}");
                assert_eq!(report, bits & 0x02 != 0, "{flags:#x}");
            }
        }
        assert_eq!(unknown_block_action(0x01), (Keep, false));
        assert_eq!(unknown_block_action(0x12), (DiscardBlock, true));
        assert_eq!(unknown_block_action(0x14), (DeleteBundle, false));
    }

    #[test]
    fn unknown_blocks_of_a_bundle() {
        let blocks = [
            NewBlock::hop_count(2, 5, 0, CrcType::None),
            unknown(3, 0x10, CrcType::None),
            unknown(4, 0x02, CrcType::None),
            NewBlock {
                block_type: 11,
                ..unknown(5, 0x00, CrcType::None)
            },
            NewBlock {
                block_type: block_type::CLASS_OF_SERVICE,
                data: class_of_service_data(0),
                ..unknown(6, 0x04, CrcType::None)
            },
        ];
        let bytes = build(&primary(), &blocks, CrcType::None);
        let b = parse(&bytes).expect("valid");
        assert_eq!(
            unknown_blocks(&b),
            UnknownBlocks {
                delete: None,
                report: true,
                discard: vec![3],
            }
        );
        let mut blocks = blocks.to_vec();
        blocks.push(unknown(7, 0x04, CrcType::None));
        blocks.push(unknown(8, 0x14, CrcType::None));
        let bytes = build(&primary(), &blocks, CrcType::None);
        let b = parse(&bytes).expect("valid");
        assert_eq!(
            unknown_blocks(&b),
            UnknownBlocks {
                delete: Some(7),
                report: true,
                discard: vec![],
            }
        );
        for t in [1, 6, 7, 10, 193] {
            assert!(is_known_block_type(t));
        }
        for t in [0, 2, 8, 11, 12, 192, 194, 1000] {
            assert!(!is_known_block_type(t));
        }
    }

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
    fn edits_of_any_accepted_bundle_parse_again() {
        let mut rng = Rng(0xfeed_beef_1234_5678);
        let mut p = primary();
        p.creation.time = 0;
        let seeds = [
            build(
                &p,
                &[
                    NewBlock::bundle_age(2, 7, CrcType::None),
                    NewBlock::hop_count(3, 4, 1, CrcType::None),
                    NewBlock::previous_node(4, &Eid::ipn(3, 0), CrcType::None),
                    unknown(5, 0x10, CrcType::None),
                ],
                CrcType::None,
            ),
            build(&primary(), &[unknown(2, 0, CrcType::None)], CrcType::None),
        ];
        let mut accepted = 0;
        for i in 0..20_000 {
            let mut bytes = seeds[i % 2].clone();
            for _ in 0..=rng.below(2) {
                let at = rng.below(bytes.len() as u64) as usize;
                match rng.below(3) {
                    0 => bytes[at] ^= 1 << rng.below(8),
                    1 => bytes[at] = rng.next() as u8,
                    _ => {
                        bytes.remove(at);
                    }
                }
                if bytes.is_empty() {
                    break;
                }
            }
            let Ok(b) = parse(&bytes) else { continue };
            accepted += 1;
            let f = Forwarding {
                previous_node: Some(Eid::ipn(rng.next(), 0)),
                age_ms_add: Some(rng.next()),
                increment_hop: true,
            };
            let after = edit_for_forwarding(&bytes, &b, &f).expect("edit");
            let a = parse(&after).unwrap_or_else(|e| panic!("{e}: {bytes:02x?}"));
            assert_eq!(a.primary, b.primary);
            assert_eq!(a.payload(&after), b.payload(&bytes));
            let u = unknown_blocks(&b);
            let removed = remove_blocks(&bytes, &b, &u.discard).expect("remove");
            parse(&removed).unwrap_or_else(|e| panic!("{e}: {bytes:02x?}"));
        }
        assert!(accepted > 100, "{accepted}");
    }
}

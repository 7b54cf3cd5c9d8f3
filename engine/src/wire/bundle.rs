//! Whole bundles (RFC 9171 §4): a validating zero-copy parser and an encoder for new bundles.
//!
//! [`parse`] checks the structure of RFC 9171 §4.1 (an indefinite-length array of a primary
//! block and canonical blocks, the payload block last), every block's CRC over the received
//! bytes, the block numbering rules, the fields of the primary block (§4.3.1) and of the
//! canonical blocks (§4.3.2), the flag rules for anonymous bundles and administrative records
//! (§4.2.3, §4.2.4) and the contents of the three extension blocks of §4.4. It returns field
//! values and byte ranges into the input; the bytes themselves are never copied or rewritten.
//!
//! Deliberately accepted (each is an interoperability choice): unknown block types (kept, with
//! their flags, for the node to act on), reserved and unassigned flag bits (§4.2.3, §4.2.4),
//! a primary block without CRC (sent by dtn7-rs; §4.3.1 requires one unless a BIB covers the
//! primary block, which [`parse_with`] checks when [`ParseOptions::require_primary_crc`] is
//! set), an anonymous bundle without the "must not fragment" flag (§4.2.3), `ipn:0.N` EIDs
//! and three-element `ipn` EIDs (RFC 9758), indefinite-length arrays inside blocks,
//! and integers not in their shortest form (the CRC covers the received bytes, so nothing is
//! re-encoded).
//!
//! [`encode`] writes a new bundle in deterministic CBOR (RFC 8949 §4.2.1): the primary block,
//! an optional class-of-service block in ION's layout (see [`block_type::CLASS_OF_SERVICE`]),
//! and the payload block.
//!
//! No I/O. Neither function panics on any input; [`parse`] allocates only in proportion to the
//! blocks actually present in the input.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

use super::cbor::{self, Items, Reader};
use super::crc::{self, CrcType};
use super::eid::{self, Eid};

/// Bundle processing control flags (RFC 9171 §4.2.3).
pub mod flags {
    /// The bundle is a fragment.
    pub const IS_FRAGMENT: u64 = 0x1;
    /// The payload is an administrative record.
    pub const ADMIN_RECORD: u64 = 0x2;
    /// The bundle must not be fragmented.
    pub const MUST_NOT_FRAGMENT: u64 = 0x4;
    /// Acknowledgement by the application is requested.
    pub const ACK_REQUESTED: u64 = 0x20;
    /// Status time is requested in all status reports.
    pub const STATUS_TIME_REQUESTED: u64 = 0x40;
    /// Request reporting of bundle reception.
    pub const REPORT_RECEPTION: u64 = 0x4000;
    /// Request reporting of bundle forwarding.
    pub const REPORT_FORWARDING: u64 = 0x10000;
    /// Request reporting of bundle delivery.
    pub const REPORT_DELIVERY: u64 = 0x20000;
    /// Request reporting of bundle deletion.
    pub const REPORT_DELETION: u64 = 0x40000;
    /// All four status report request flags.
    pub const STATUS_REPORTS: u64 =
        REPORT_RECEPTION | REPORT_FORWARDING | REPORT_DELIVERY | REPORT_DELETION;
}

/// Block processing control flags (RFC 9171 §4.2.4).
pub mod block_flags {
    /// The block must be replicated in every fragment.
    pub const REPLICATE_IN_FRAGMENTS: u64 = 0x01;
    /// Transmit a status report if the block can't be processed.
    pub const REPORT_IF_UNPROCESSABLE: u64 = 0x02;
    /// Delete the bundle if the block can't be processed.
    pub const DELETE_BUNDLE_IF_UNPROCESSABLE: u64 = 0x04;
    /// Discard the block if it can't be processed.
    pub const DISCARD_IF_UNPROCESSABLE: u64 = 0x10;
}

/// Block type codes (RFC 9171 §4.3.2, §4.4, §9.1).
pub mod block_type {
    /// Bundle payload block.
    pub const PAYLOAD: u64 = 1;
    /// Previous node block (§4.4.1).
    pub const PREVIOUS_NODE: u64 = 6;
    /// Bundle age block (§4.4.2).
    pub const BUNDLE_AGE: u64 = 7;
    /// Hop count block (§4.4.3).
    pub const HOP_COUNT: u64 = 10;
    /// Block integrity block, BIB (RFC 9172 §3.7, §9.1).
    pub const BLOCK_INTEGRITY: u64 = 11;
    /// Block confidentiality block, BCB (RFC 9172 §3.8, §9.1).
    pub const BLOCK_CONFIDENTIALITY: u64 = 12;
    /// ION's Quality of Service block (formerly "extended class of service"), in the private
    /// range 192 to 255 (§4.3.2). Its data is a CBOR array of four unsigned integers:
    /// `[QoS flags, class of service (0 bulk, 1 standard, 2 expedited), ordinal, data label]`
    /// (ION-DTN `bpv7/include/bp.h` `QualityOfServiceBlk = 193`, `bpv7/library/ext/qos/qos.c`).
    pub const CLASS_OF_SERVICE: u64 = 193;
}

/// Up to this many blocks, [`parse`] looks for duplicate block numbers by scanning.
const SCAN_LIMIT: usize = 16;

/// Block number of the class-of-service block that [`encode`] writes.
const COS_BLOCK_NUMBER: u64 = 2;
/// Replicated in fragments as ION does, and discarded by nodes that do not know the block.
const COS_BLOCK_FLAGS: u64 =
    block_flags::REPLICATE_IN_FRAGMENTS | block_flags::DISCARD_IF_UNPROCESSABLE;

/// A bundle creation timestamp (RFC 9171 §4.2.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CreationTimestamp {
    /// DTN time of creation: milliseconds since 2000-01-01T00:00:00Z; 0 if unknown.
    pub time: u64,
    /// Sequence number.
    pub seq: u64,
}

/// The fragment fields of a primary block (RFC 9171 §4.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// Offset of this fragment's payload in the original ADU.
    pub offset: u64,
    /// Length of the original ADU.
    pub total_adu_len: u64,
}

/// The primary block (RFC 9171 §4.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrimaryBlock {
    /// Bundle processing control flags, see [`flags`].
    pub flags: u64,
    /// CRC type of the primary block.
    pub crc_type: CrcType,
    /// Destination EID.
    pub destination: Eid,
    /// Source node ID; [`Eid::Null`] for an anonymous bundle.
    pub source: Eid,
    /// Report-to EID.
    pub report_to: Eid,
    /// Creation timestamp.
    pub creation: CreationTimestamp,
    /// Lifetime in milliseconds after the creation time.
    pub lifetime_ms: u64,
    /// Fragment fields, present if and only if [`flags::IS_FRAGMENT`] is set.
    pub fragment: Option<Fragment>,
}

/// A canonical block (RFC 9171 §4.3.2), as positions in the parsed bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanonicalBlock {
    /// Block type code, see [`block_type`]; unknown types are kept.
    pub block_type: u64,
    /// Block number, unique in the bundle.
    pub number: u64,
    /// Block processing control flags, see [`block_flags`].
    pub flags: u64,
    /// CRC type of the block.
    pub crc_type: CrcType,
    /// The block-type-specific data (the content of its byte string) in the parsed bytes.
    pub data: Range<usize>,
    /// The whole block's encoding in the parsed bytes.
    pub extent: Range<usize>,
}

/// A parsed bundle: the primary block's fields and the positions of all blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The primary block.
    pub primary: PrimaryBlock,
    /// The primary block's encoding in the parsed bytes.
    pub primary_extent: Range<usize>,
    /// Every canonical block in wire order; the payload block (number 1) is last.
    pub blocks: Vec<CanonicalBlock>,
    /// The payload: the data range of the payload block.
    pub payload: Range<usize>,
}

impl Bundle {
    /// The payload bytes, given the bytes this bundle was parsed from; empty if `bytes` is too
    /// short to be those bytes.
    pub fn payload<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        bytes.get(self.payload.clone()).unwrap_or_default()
    }

    /// The priority from the first class-of-service block (type 193, ION's layout): 0 bulk,
    /// 1 standard, 2 expedited. `None` if there is no such block or its data is not an array
    /// of unsigned integers whose second item is 0, 1 or 2.
    pub fn priority(&self, bytes: &[u8]) -> Option<u8> {
        let block = self
            .blocks
            .iter()
            .find(|b| b.block_type == block_type::CLASS_OF_SERVICE)?;
        decode_priority(bytes.get(block.data.clone())?)
    }
}

/// Decodes ION's QoS array `[flags, class of service, ordinal, data label]`. Items after the
/// class of service are only checked to be well-formed, so shorter or longer arrays of later
/// ION versions still yield the priority.
fn decode_priority(data: &[u8]) -> Option<u8> {
    let mut r = Reader::new(data);
    let mut items = r.array().ok()?;
    if !items.next(&mut r).ok()? {
        return None;
    }
    r.uint().ok()?;
    if !items.next(&mut r).ok()? {
        return None;
    }
    let class = r.uint().ok()?;
    while items.next(&mut r).ok()? {
        r.skip_item().ok()?;
    }
    if r.remaining() != 0 {
        return None;
    }
    u8::try_from(class).ok().filter(|p| *p <= 2)
}

/// Where a field is: which block and which field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// `Some(0)` for the primary block, `Some(n)` for canonical block number `n`, `None` for
    /// the bundle array or a canonical block whose number has not been read yet.
    pub block: Option<u64>,
    /// The field's name as RFC 9171 §4.3 calls it.
    pub name: &'static str,
}

impl Field {
    const fn new(block: Option<u64>, name: &'static str) -> Field {
        Field { block, name }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.block {
            Some(0) => write!(f, "primary block {}", self.name),
            Some(n) => write!(f, "block {n} {}", self.name),
            None => f.write_str(self.name),
        }
    }
}

/// Why [`parse`] refused a bundle. Every variant's `Display` names the rule and its RFC
/// section; [`Error::reason`] gives a short stable token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input does not start with a CBOR array (RFC 9171 §4.1).
    NotAnArray,
    /// The bundle is a definite-length array; RFC 9171 §4.1 requires indefinite length.
    DefiniteOuterArray,
    /// The input ends before the bundle is complete.
    Truncated {
        /// Where the input ended.
        at: Field,
    },
    /// A string length or item count claims more bytes than the input has left.
    LengthBeyondInput {
        /// The field whose length is too large.
        at: Field,
        /// The length stated in the CBOR head.
        claimed: u64,
        /// Bytes left in the input.
        available: usize,
    },
    /// Nested CBOR items deeper than [`cbor::MAX_DEPTH`].
    NestingTooDeep {
        /// The field that nests too deeply.
        at: Field,
    },
    /// A field has the wrong CBOR type (RFC 9171 §4.3).
    WrongType {
        /// The field.
        at: Field,
        /// The type the field must have.
        expected: &'static str,
        /// The CBOR major type found.
        found: u8,
    },
    /// Malformed CBOR (RFC 8949 §3).
    MalformedCbor {
        /// The field.
        at: Field,
        /// What is malformed.
        error: cbor::Error,
    },
    /// Bytes follow the bundle's closing break.
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// The bundle array is empty (RFC 9171 §4.1).
    NoPrimaryBlock,
    /// The primary block's version is not 7 (RFC 9171 §4.3.1).
    UnsupportedVersion {
        /// The version found.
        version: u64,
    },
    /// A CRC type other than 0, 1 and 2 (RFC 9171 §4.2.1).
    UnknownCrcType {
        /// Block number (0: primary block).
        block: u64,
        /// The CRC type found.
        crc_type: u64,
    },
    /// A non-zero CRC type but no CRC field (RFC 9171 §4.2.2).
    CrcMissing {
        /// Block number (0: primary block).
        block: u64,
    },
    /// The CRC byte string has the wrong length for the CRC type (RFC 9171 §4.2.2).
    CrcLength {
        /// Block number (0: primary block).
        block: u64,
        /// Length the CRC type requires.
        expected: usize,
        /// Length found.
        found: usize,
    },
    /// The CRC does not match the block (RFC 9171 §4.3.1, §4.3.2).
    CrcMismatch {
        /// Block number (0: primary block).
        block: u64,
        /// CRC computed over the received block.
        computed: u32,
        /// CRC carried in the block.
        received: u32,
    },
    /// A block array ends before a required field.
    MissingField {
        /// The missing field.
        at: Field,
    },
    /// A block array has more items than its layout allows.
    ExtraFields {
        /// The array with too many items.
        at: Field,
    },
    /// The fragment flag is set but the fragment offset and ADU length are missing
    /// (RFC 9171 §4.3.1).
    FragmentFieldsMissing,
    /// Fragment offset and ADU length are present but the fragment flag is not set
    /// (RFC 9171 §4.3.1).
    UnexpectedFragmentFields,
    /// A fragment's payload extends past the total ADU length it states.
    FragmentBeyondAdu {
        /// Fragment offset.
        offset: u64,
        /// Payload length of this fragment.
        payload_len: u64,
        /// Total ADU length.
        total_adu_len: u64,
    },
    /// An EID field is not a valid EID (RFC 9171 §4.2.5.1).
    InvalidEid {
        /// The field.
        at: Field,
        /// What is wrong.
        error: eid::DecodeError,
    },
    /// Two blocks have the same block number (RFC 9171 §4.1).
    DuplicateBlockNumber {
        /// The block number used twice.
        number: u64,
    },
    /// A block other than the payload has block number 0 or 1 (RFC 9171 §4.1).
    ReservedBlockNumber {
        /// The block's type.
        block_type: u64,
        /// The block number found.
        number: u64,
    },
    /// The payload block's number is not 1 (RFC 9171 §4.1).
    PayloadBlockNumber {
        /// The block number found.
        number: u64,
    },
    /// A second payload block (RFC 9171 §4.1).
    DuplicatePayload,
    /// A block follows the payload block (RFC 9171 §4.1).
    PayloadNotLast {
        /// Number of the block after the payload block.
        next_block: u64,
    },
    /// No payload block (RFC 9171 §4.1).
    MissingPayload,
    /// A second previous node, bundle age or hop count block (RFC 9171 §4.4).
    DuplicateExtensionBlock {
        /// The block type.
        block_type: u64,
        /// Number of the second block of that type.
        number: u64,
    },
    /// Creation time 0 without a bundle age block (RFC 9171 §4.4.2).
    MissingBundleAge,
    /// An anonymous bundle (null source) requests status reports (RFC 9171 §4.2.3).
    AnonymousStatusReports {
        /// The bundle processing control flags.
        flags: u64,
    },
    /// An anonymous bundle has a block asking for a report if it can't be processed
    /// (RFC 9171 §4.2.4).
    AnonymousBlockReport {
        /// The block's number.
        block: u64,
    },
    /// An administrative record requests status reports (RFC 9171 §4.2.3).
    AdminRecordStatusReports {
        /// The bundle processing control flags.
        flags: u64,
    },
    /// An administrative record has a block asking for a report if it can't be processed
    /// (RFC 9171 §4.2.4).
    AdminRecordBlockReport {
        /// The block's number.
        block: u64,
    },
    /// A previous node, bundle age or hop count block whose data does not follow RFC 9171 §4.4.
    InvalidBlockData {
        /// The block's number.
        block: u64,
        /// The block's type.
        block_type: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A hop limit outside 1 to 255 (RFC 9171 §4.4.3).
    HopLimitOutOfRange {
        /// The hop count block's number.
        block: u64,
        /// The hop limit found.
        limit: u64,
    },
    /// Strict mode only ([`ParseOptions::require_primary_crc`]): the primary block has no CRC
    /// and no block integrity block targets it (RFC 9171 §4.3.1).
    PrimaryCrcRequired,
}

impl Error {
    /// A short stable token naming the rejection reason, usable as a counter name.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::NotAnArray => "not_an_array",
            Error::DefiniteOuterArray => "definite_outer_array",
            Error::Truncated { .. } => "truncated",
            Error::LengthBeyondInput { .. } => "length_beyond_input",
            Error::NestingTooDeep { .. } => "nesting_too_deep",
            Error::WrongType { .. } => "wrong_type",
            Error::MalformedCbor { .. } => "malformed_cbor",
            Error::TrailingBytes { .. } => "trailing_bytes",
            Error::NoPrimaryBlock => "no_primary_block",
            Error::UnsupportedVersion { .. } => "unsupported_version",
            Error::UnknownCrcType { .. } => "unknown_crc_type",
            Error::CrcMissing { .. } => "crc_missing",
            Error::CrcLength { .. } => "crc_length",
            Error::CrcMismatch { .. } => "crc_mismatch",
            Error::MissingField { .. } => "missing_field",
            Error::ExtraFields { .. } => "extra_fields",
            Error::FragmentFieldsMissing => "fragment_fields_missing",
            Error::UnexpectedFragmentFields => "unexpected_fragment_fields",
            Error::FragmentBeyondAdu { .. } => "fragment_beyond_adu",
            Error::InvalidEid { .. } => "invalid_eid",
            Error::DuplicateBlockNumber { .. } => "duplicate_block_number",
            Error::ReservedBlockNumber { .. } => "reserved_block_number",
            Error::PayloadBlockNumber { .. } => "payload_block_number",
            Error::DuplicatePayload => "duplicate_payload",
            Error::PayloadNotLast { .. } => "payload_not_last",
            Error::MissingPayload => "missing_payload",
            Error::DuplicateExtensionBlock { .. } => "duplicate_extension_block",
            Error::MissingBundleAge => "missing_bundle_age",
            Error::AnonymousStatusReports { .. } => "anonymous_status_reports",
            Error::AnonymousBlockReport { .. } => "anonymous_block_report",
            Error::AdminRecordStatusReports { .. } => "admin_record_status_reports",
            Error::AdminRecordBlockReport { .. } => "admin_record_block_report",
            Error::InvalidBlockData { .. } => "invalid_block_data",
            Error::HopLimitOutOfRange { .. } => "hop_limit_out_of_range",
            Error::PrimaryCrcRequired => "primary_crc_required",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotAnArray => f.write_str("bundle is not a CBOR array (RFC 9171 §4.1)"),
            Error::DefiniteOuterArray => {
                f.write_str("bundle is not an indefinite-length CBOR array (RFC 9171 §4.1)")
            }
            Error::Truncated { at } => {
                write!(f, "input ends inside the {at} (RFC 9171 §4.1, RFC 8949 §3)")
            }
            Error::LengthBeyondInput {
                at,
                claimed,
                available,
            } => write!(
                f,
                "{at}: CBOR length {claimed} exceeds the {available} bytes left (RFC 8949 §3)"
            ),
            Error::NestingTooDeep { at } => write!(
                f,
                "{at}: CBOR items nest deeper than {} levels, this codec's limit (RFC 8949 §3 sets none)",
                cbor::MAX_DEPTH
            ),
            Error::WrongType {
                at,
                expected,
                found,
            } => write!(
                f,
                "{at} must be a CBOR {expected}, found major type {found} (RFC 9171 §4.3)"
            ),
            Error::MalformedCbor { at, error } => write!(f, "{at}: {error}"),
            Error::TrailingBytes { count } => write!(
                f,
                "{count} bytes follow the bundle's closing break (RFC 9171 §4.1)"
            ),
            Error::NoPrimaryBlock => {
                f.write_str("bundle has no primary block (RFC 9171 §4.1)")
            }
            Error::UnsupportedVersion { version } => write!(
                f,
                "bundle protocol version {version}, only 7 is supported (RFC 9171 §4.3.1)"
            ),
            Error::UnknownCrcType { block, crc_type } => write!(
                f,
                "block {block} has undefined CRC type {crc_type}, only 0, 1 and 2 are defined (RFC 9171 §4.2.1)"
            ),
            Error::CrcMissing { block } => write!(
                f,
                "block {block} has a CRC type but no CRC (RFC 9171 §4.2.2)"
            ),
            Error::CrcLength {
                block,
                expected,
                found,
            } => write!(
                f,
                "block {block} CRC is {found} bytes, its CRC type requires {expected} (RFC 9171 §4.2.2)"
            ),
            Error::CrcMismatch {
                block,
                computed,
                received,
            } => write!(
                f,
                "block {block} CRC mismatch: computed {computed:#x}, received {received:#x} (RFC 9171 §4.3.1, §4.3.2)"
            ),
            Error::MissingField { at } => {
                write!(f, "{at} is missing (RFC 9171 §4.3.1, §4.3.2)")
            }
            Error::ExtraFields { at } => write!(
                f,
                "{at} has more items than its layout allows (RFC 9171 §4.3.1, §4.3.2)"
            ),
            Error::FragmentFieldsMissing => f.write_str(
                "fragment flag is set but fragment offset and total ADU length are missing (RFC 9171 §4.3.1)",
            ),
            Error::UnexpectedFragmentFields => f.write_str(
                "fragment offset and total ADU length are present but the fragment flag is not set (RFC 9171 §4.3.1)",
            ),
            Error::FragmentBeyondAdu {
                offset,
                payload_len,
                total_adu_len,
            } => write!(
                f,
                "fragment at offset {offset} with {payload_len} payload bytes exceeds the total ADU length {total_adu_len} (RFC 9171 §4.3.1)"
            ),
            Error::InvalidEid { at, error } => write!(f, "{at}: {error}"),
            Error::DuplicateBlockNumber { number } => write!(
                f,
                "block number {number} is used twice, block numbers must be unique (RFC 9171 §4.1)"
            ),
            Error::ReservedBlockNumber { block_type, number } => write!(
                f,
                "block of type {block_type} has number {number}; 0 is the primary block's and 1 the payload block's (RFC 9171 §4.1)"
            ),
            Error::PayloadBlockNumber { number } => write!(
                f,
                "payload block has number {number}, it must be 1 (RFC 9171 §4.1)"
            ),
            Error::DuplicatePayload => {
                f.write_str("bundle has two payload blocks (RFC 9171 §4.1)")
            }
            Error::PayloadNotLast { next_block } => write!(
                f,
                "payload block is not the last block, block {next_block} follows it (RFC 9171 §4.1)"
            ),
            Error::MissingPayload => f.write_str("bundle has no payload block (RFC 9171 §4.1)"),
            Error::DuplicateExtensionBlock { block_type, number } => write!(
                f,
                "block {number} is a second block of type {block_type}, at most one is allowed (RFC 9171 §4.4)"
            ),
            Error::MissingBundleAge => f.write_str(
                "creation time is 0 but there is no bundle age block (RFC 9171 §4.4.2)",
            ),
            Error::AnonymousStatusReports { flags } => write!(
                f,
                "source is the null endpoint but status reports are requested (flags {flags:#x}) (RFC 9171 §4.2.3)"
            ),
            Error::AnonymousBlockReport { block } => write!(
                f,
                "source is the null endpoint but block {block} requests a report if it can't be processed (RFC 9171 §4.2.4)"
            ),
            Error::AdminRecordStatusReports { flags } => write!(
                f,
                "administrative record requests status reports (flags {flags:#x}) (RFC 9171 §4.2.3)"
            ),
            Error::AdminRecordBlockReport { block } => write!(
                f,
                "administrative record's block {block} requests a report if it can't be processed (RFC 9171 §4.2.4)"
            ),
            Error::InvalidBlockData {
                block,
                block_type,
                reason,
            } => write!(
                f,
                "block {block} (type {block_type}): {reason} (RFC 9171 §4.4)"
            ),
            Error::HopLimitOutOfRange { block, limit } => write!(
                f,
                "block {block} hop limit {limit} is outside 1 to 255 (RFC 9171 §4.4.3)"
            ),
            Error::PrimaryCrcRequired => f.write_str(
                "primary block has CRC type none and no block integrity block targets it (RFC 9171 §4.3.1)",
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Maps a CBOR error to the bundle error for field `at`.
fn cbor_err(at: Field, error: cbor::Error) -> Error {
    match error {
        cbor::Error::Truncated => Error::Truncated { at },
        cbor::Error::LengthBeyondInput { claimed, available } => Error::LengthBeyondInput {
            at,
            claimed,
            available,
        },
        cbor::Error::DepthLimit => Error::NestingTooDeep { at },
        cbor::Error::UnexpectedType { expected, found } => Error::WrongType {
            at,
            expected,
            found,
        },
        error => Error::MalformedCbor { at, error },
    }
}

/// Reads the fields of one block array, naming each field in errors.
struct BlockReader<'a, 'r> {
    r: &'r mut Reader<'a>,
    items: Items,
    block: Option<u64>,
}

impl<'a> BlockReader<'a, '_> {
    fn field(&self, name: &'static str) -> Field {
        Field::new(self.block, name)
    }

    /// Moves to the next item, which must exist.
    fn expect(&mut self, name: &'static str) -> Result<(), Error> {
        let at = self.field(name);
        if self.items.next(self.r).map_err(|e| cbor_err(at, e))? {
            Ok(())
        } else {
            Err(Error::MissingField { at })
        }
    }

    /// Whether another item follows.
    fn more(&mut self, name: &'static str) -> Result<bool, Error> {
        let at = self.field(name);
        self.items.next(self.r).map_err(|e| cbor_err(at, e))
    }

    /// Whether the next item (already announced by `more`) is an unsigned integer.
    fn next_is_uint(&self) -> bool {
        self.r
            .peek()
            .is_some_and(|b| b >> 5 == cbor::MAJOR_UNSIGNED)
    }

    fn uint(&mut self, name: &'static str) -> Result<u64, Error> {
        self.expect(name)?;
        let at = self.field(name);
        self.r.uint().map_err(|e| cbor_err(at, e))
    }

    fn eid(&mut self, name: &'static str) -> Result<Eid, Error> {
        self.expect(name)?;
        let at = self.field(name);
        Eid::read_cbor(self.r).map_err(|error| match error {
            eid::DecodeError::Cbor(e) => cbor_err(at, e),
            error => Error::InvalidEid { at, error },
        })
    }

    fn crc_type(&mut self, block: u64) -> Result<CrcType, Error> {
        let code = self.uint("CRC type")?;
        CrcType::from_u64(code).ok_or(Error::UnknownCrcType {
            block,
            crc_type: code,
        })
    }

    /// Reads a fragment field of a fragment's primary block: an unsigned integer, else the
    /// fragment fields are missing.
    fn fragment_field(&mut self, name: &'static str) -> Result<u64, Error> {
        if !self.more(name)? || !self.next_is_uint() {
            return Err(Error::FragmentFieldsMissing);
        }
        let at = self.field(name);
        self.r.uint().map_err(|e| cbor_err(at, e))
    }

    /// Reads the CRC value (announced by `more`) and checks its length against `crc_type`.
    fn crc_value(&mut self, block: u64, crc_type: CrcType) -> Result<Range<usize>, Error> {
        let at = self.field("CRC");
        let value = self.r.bytes().map_err(|e| cbor_err(at, e))?;
        if value.len() != crc_type.len() {
            return Err(Error::CrcLength {
                block,
                expected: crc_type.len(),
                found: value.len(),
            });
        }
        Ok(value)
    }

    /// Requires the end of the block array.
    fn end(&mut self, name: &'static str) -> Result<(), Error> {
        if self.more(name)? {
            Err(Error::ExtraFields {
                at: self.field(name),
            })
        } else {
            Ok(())
        }
    }
}

/// Checks the CRC of the block in `bytes[extent]` whose CRC value is at `value`.
fn check_crc(
    bytes: &[u8],
    block: u64,
    crc_type: CrcType,
    extent: Range<usize>,
    value: Range<usize>,
) -> Result<(), Error> {
    if crc_type == CrcType::None {
        return Ok(());
    }
    let block_bytes = bytes.get(extent.clone()).unwrap_or_default();
    let relative = value.start.saturating_sub(extent.start)..value.end.saturating_sub(extent.start);
    let computed = crc::block_crc(crc_type, block_bytes, relative);
    let received = crc::read_crc(bytes.get(value).unwrap_or_default());
    if computed == received {
        Ok(())
    } else {
        Err(Error::CrcMismatch {
            block,
            computed,
            received,
        })
    }
}

fn parse_primary(bytes: &[u8], r: &mut Reader<'_>) -> Result<PrimaryBlock, Error> {
    let start = r.pos();
    let at = Field::new(Some(0), "array");
    let items = r.array().map_err(|e| cbor_err(at, e))?;
    let mut b = BlockReader {
        r,
        items,
        block: Some(0),
    };
    let version = b.uint("version")?;
    if version != 7 {
        return Err(Error::UnsupportedVersion { version });
    }
    let flags = b.uint("bundle processing control flags")?;
    let crc_type = b.crc_type(0)?;
    let destination = b.eid("destination EID")?;
    let source = b.eid("source node ID")?;
    let report_to = b.eid("report-to EID")?;

    b.expect("creation timestamp")?;
    let at = b.field("creation timestamp");
    let items = b.r.array().map_err(|e| cbor_err(at, e))?;
    let mut ts = BlockReader {
        r: &mut *b.r,
        items,
        block: Some(0),
    };
    let time = ts.uint("creation time")?;
    let seq = ts.uint("sequence number")?;
    ts.end("creation timestamp")?;

    let lifetime_ms = b.uint("lifetime")?;

    // Fragment fields and CRC are told apart by type: integers versus a byte string.
    let fragment = if flags & flags::IS_FRAGMENT != 0 {
        let offset = b.fragment_field("fragment offset")?;
        let total_adu_len = b.fragment_field("total application data unit length")?;
        Some(Fragment {
            offset,
            total_adu_len,
        })
    } else {
        None
    };

    let crc_value = if crc_type == CrcType::None {
        None
    } else {
        if !b.more("CRC")? {
            return Err(Error::CrcMissing { block: 0 });
        }
        if fragment.is_none() && b.next_is_uint() {
            return Err(Error::UnexpectedFragmentFields);
        }
        Some(b.crc_value(0, crc_type)?)
    };
    if b.more("array")? {
        if fragment.is_none() && crc_type == CrcType::None && b.next_is_uint() {
            return Err(Error::UnexpectedFragmentFields);
        }
        return Err(Error::ExtraFields {
            at: b.field("array"),
        });
    }
    if let Some(value) = crc_value {
        check_crc(bytes, 0, crc_type, start..b.r.pos(), value)?;
    }
    Ok(PrimaryBlock {
        flags,
        crc_type,
        destination,
        source,
        report_to,
        creation: CreationTimestamp { time, seq },
        lifetime_ms,
        fragment,
    })
}

fn parse_canonical(bytes: &[u8], r: &mut Reader<'_>) -> Result<CanonicalBlock, Error> {
    let start = r.pos();
    let at = Field::new(None, "canonical block");
    let items = r.array().map_err(|e| cbor_err(at, e))?;
    let mut b = BlockReader {
        r,
        items,
        block: None,
    };
    let block_type = b.uint("block type code")?;
    let number = b.uint("block number")?;
    // Numbering is checked before the rest, so errors name a valid block number.
    if block_type == block_type::PAYLOAD {
        if number != 1 {
            return Err(Error::PayloadBlockNumber { number });
        }
    } else if number <= 1 {
        return Err(Error::ReservedBlockNumber { block_type, number });
    }
    b.block = Some(number);
    let flags = b.uint("block processing control flags")?;
    let crc_type = b.crc_type(number)?;
    b.expect("block-type-specific data")?;
    let at = b.field("block-type-specific data");
    let data = b.r.bytes().map_err(|e| cbor_err(at, e))?;
    let crc_value = if crc_type == CrcType::None {
        None
    } else {
        if !b.more("CRC")? {
            return Err(Error::CrcMissing { block: number });
        }
        Some(b.crc_value(number, crc_type)?)
    };
    b.end("array")?;
    let extent = start..b.r.pos();
    if let Some(value) = crc_value {
        check_crc(bytes, number, crc_type, extent.clone(), value)?;
    }
    Ok(CanonicalBlock {
        block_type,
        number,
        flags,
        crc_type,
        data,
        extent,
    })
}

/// Checks the data of the extension blocks that RFC 9171 §4.4 defines.
fn check_extension_data(bytes: &[u8], block: &CanonicalBlock) -> Result<(), Error> {
    let invalid = |reason| Error::InvalidBlockData {
        block: block.number,
        block_type: block.block_type,
        reason,
    };
    // The reader ends where the data ends: nothing outside the byte string is read.
    let data_bytes = bytes.get(..block.data.end).unwrap_or_default();
    let mut r = Reader::at(data_bytes, block.data.start);
    match block.block_type {
        block_type::PREVIOUS_NODE => {
            Eid::read_cbor(&mut r).map_err(|_| invalid("previous node is not one valid EID"))?;
        }
        block_type::BUNDLE_AGE => {
            r.uint()
                .map_err(|_| invalid("bundle age is not one CBOR unsigned integer"))?;
        }
        block_type::HOP_COUNT => {
            const WHY: &str = "hop count is not an array of two unsigned integers";
            let mut items = r.array().map_err(|_| invalid(WHY))?;
            let mut next_uint = |r: &mut Reader<'_>| -> Result<u64, Error> {
                if !items.next(r).map_err(|_| invalid(WHY))? {
                    return Err(invalid(WHY));
                }
                r.uint().map_err(|_| invalid(WHY))
            };
            let limit = next_uint(&mut r)?;
            next_uint(&mut r)?;
            if items.next(&mut r).map_err(|_| invalid(WHY))? {
                return Err(invalid(WHY));
            }
            if !(1..=255).contains(&limit) {
                return Err(Error::HopLimitOutOfRange {
                    block: block.number,
                    limit,
                });
            }
        }
        _ => return Ok(()),
    }
    if r.remaining() != 0 {
        return Err(invalid("bytes follow the block's data item"));
    }
    Ok(())
}

/// Choices of [`parse_with`] beyond the rules [`parse`] always applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Refuse a primary block with CRC type none unless a block integrity block (type 11)
    /// lists block 0 among its security targets, as RFC 9171 §4.3.1 requires ("A CRC SHALL be
    /// present in the primary block unless the bundle includes a BPSec Block Integrity Block
    /// whose target is the primary block"). Off by default: dtn7-rs sends such bundles.
    pub require_primary_crc: bool,
}

/// Whether the block integrity block `block` lists the primary block (number 0) among its
/// security targets: the first item of its abstract security block, an array of block
/// numbers (RFC 9172 §3.6). A BIB whose targets can't be read covers nothing.
fn bib_targets_primary(bytes: &[u8], block: &CanonicalBlock) -> bool {
    let data_bytes = bytes.get(..block.data.end).unwrap_or_default();
    let mut r = Reader::at(data_bytes, block.data.start);
    let Ok(mut targets) = r.array() else {
        return false;
    };
    while let Ok(true) = targets.next(&mut r) {
        match r.uint() {
            Ok(0) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

/// Parses and validates a complete bundle with the default [`ParseOptions`]; `bytes` must
/// hold exactly one bundle.
///
/// # Errors
/// The first rule the input breaks, as an [`Error`] naming the block and field.
pub fn parse(bytes: &[u8]) -> Result<Bundle, Error> {
    parse_with(bytes, &ParseOptions::default())
}

/// Parses and validates a complete bundle as [`parse`] does, plus the checks `opts` turns on.
///
/// # Errors
/// The first rule the input breaks, as an [`Error`] naming the block and field.
pub fn parse_with(bytes: &[u8], opts: &ParseOptions) -> Result<Bundle, Error> {
    match bytes.first() {
        None => {
            return Err(Error::Truncated {
                at: Field::new(None, "bundle array"),
            });
        }
        Some(&cbor::INDEFINITE_ARRAY) => {}
        Some(b) if b >> 5 == cbor::MAJOR_ARRAY => return Err(Error::DefiniteOuterArray),
        Some(_) => return Err(Error::NotAnArray),
    }
    let mut r = Reader::at(bytes, 1);
    if r.peek() == Some(cbor::BREAK) {
        return Err(Error::NoPrimaryBlock);
    }
    let primary_start = r.pos();
    let primary = parse_primary(bytes, &mut r)?;
    let primary_extent = primary_start..r.pos();

    let mut blocks: Vec<CanonicalBlock> = Vec::new();
    // Duplicate numbers are found by a scan while the list is short, and through a set once
    // it is long, so that many tiny blocks cannot make the check quadratic.
    let mut numbers: Option<HashSet<u64>> = None;
    let mut has_payload = false;
    let mut seen_types = [false; 3];
    loop {
        match r.peek() {
            None => {
                return Err(Error::Truncated {
                    at: Field::new(None, "bundle array"),
                });
            }
            Some(cbor::BREAK) => break,
            Some(_) => {}
        }
        let block = parse_canonical(bytes, &mut r)?;
        if has_payload {
            return Err(if block.block_type == block_type::PAYLOAD {
                Error::DuplicatePayload
            } else {
                Error::PayloadNotLast {
                    next_block: block.number,
                }
            });
        }
        let duplicate = match &mut numbers {
            Some(set) => !set.insert(block.number),
            None => blocks.iter().any(|b| b.number == block.number),
        };
        if numbers.is_none() && blocks.len() >= SCAN_LIMIT {
            numbers = Some(
                blocks
                    .iter()
                    .map(|b| b.number)
                    .chain([block.number])
                    .collect(),
            );
        }
        if duplicate {
            return Err(Error::DuplicateBlockNumber {
                number: block.number,
            });
        }
        let slot = match block.block_type {
            block_type::PREVIOUS_NODE => Some(0),
            block_type::BUNDLE_AGE => Some(1),
            block_type::HOP_COUNT => Some(2),
            _ => None,
        };
        if let Some(seen) = slot.and_then(|i| seen_types.get_mut(i)) {
            if *seen {
                return Err(Error::DuplicateExtensionBlock {
                    block_type: block.block_type,
                    number: block.number,
                });
            }
            *seen = true;
            check_extension_data(bytes, &block)?;
        }
        has_payload = block.block_type == block_type::PAYLOAD;
        blocks.push(block);
    }
    // The loop stopped at the break, which closes the bundle.
    let end = r.pos() + 1;
    if end != bytes.len() {
        return Err(Error::TrailingBytes {
            count: bytes.len() - end,
        });
    }
    let payload = match blocks.last() {
        Some(last) if has_payload => last.data.clone(),
        _ => return Err(Error::MissingPayload),
    };
    if opts.require_primary_crc
        && primary.crc_type == CrcType::None
        && !blocks
            .iter()
            .any(|b| b.block_type == block_type::BLOCK_INTEGRITY && bib_targets_primary(bytes, b))
    {
        return Err(Error::PrimaryCrcRequired);
    }

    if primary.creation.time == 0 && !seen_types[1] {
        return Err(Error::MissingBundleAge);
    }
    let reports = primary.flags & flags::STATUS_REPORTS;
    let reporting_block = blocks
        .iter()
        .find(|b| b.flags & block_flags::REPORT_IF_UNPROCESSABLE != 0)
        .map(|b| b.number);
    if primary.source.is_null() {
        if reports != 0 {
            return Err(Error::AnonymousStatusReports {
                flags: primary.flags,
            });
        }
        if let Some(block) = reporting_block {
            return Err(Error::AnonymousBlockReport { block });
        }
    }
    if primary.flags & flags::ADMIN_RECORD != 0 {
        if reports != 0 {
            return Err(Error::AdminRecordStatusReports {
                flags: primary.flags,
            });
        }
        if let Some(block) = reporting_block {
            return Err(Error::AdminRecordBlockReport { block });
        }
    }
    if let Some(fragment) = primary.fragment {
        let payload_len = payload.len() as u64;
        let fits = fragment
            .offset
            .checked_add(payload_len)
            .is_some_and(|end| end <= fragment.total_adu_len);
        if !fits {
            return Err(Error::FragmentBeyondAdu {
                offset: fragment.offset,
                payload_len,
                total_adu_len: fragment.total_adu_len,
            });
        }
    }
    Ok(Bundle {
        primary,
        primary_extent,
        blocks,
        payload,
    })
}

/// The bundle processing control flags as written: [`flags::IS_FRAGMENT`] follows
/// `primary.fragment`, so the encoding is always self-consistent.
fn written_flags(primary: &PrimaryBlock) -> u64 {
    if primary.fragment.is_some() {
        primary.flags | flags::IS_FRAGMENT
    } else {
        primary.flags & !flags::IS_FRAGMENT
    }
}

/// Length of the CRC field (byte string head and value) for `crc_type`.
fn crc_field_len(crc_type: CrcType) -> usize {
    match crc_type.len() {
        0 => 0,
        n => 1 + n,
    }
}

fn primary_len(primary: &PrimaryBlock) -> usize {
    let fragment = primary.fragment.map_or(0, |f| {
        cbor::uint_len(f.offset) + cbor::uint_len(f.total_adu_len)
    });
    // Array head, version, CRC type and the timestamp's array head take one byte each.
    4 + cbor::uint_len(written_flags(primary))
        + primary.destination.cbor_len()
        + primary.source.cbor_len()
        + primary.report_to.cbor_len()
        + cbor::uint_len(primary.creation.time)
        + cbor::uint_len(primary.creation.seq)
        + cbor::uint_len(primary.lifetime_ms)
        + fragment
        + crc_field_len(primary.crc_type)
}

fn canonical_len(block_type: u64, number: u64, flags: u64, crc: CrcType, data_len: usize) -> usize {
    // Array head and CRC type take one byte each.
    (2 + cbor::uint_len(block_type) + cbor::uint_len(number) + cbor::uint_len(flags))
        .saturating_add(cbor::string_len(data_len))
        .saturating_add(crc_field_len(crc))
}

/// Appends the CRC field of the block that starts at `out[start]` and fills in its value.
fn finish_crc(out: &mut Vec<u8>, start: usize, crc_type: CrcType) {
    let len = crc_type.len();
    if len == 0 {
        return;
    }
    cbor::write_head(out, cbor::MAJOR_BYTES, len as u64);
    let value = out.len();
    out.resize(value + len, 0);
    // The value bytes are still zero, as RFC 9171 §4.3.1 computes them.
    let crc = crc::block_crc(crc_type, &out[start..], 0..0);
    crc::write_crc(crc_type, crc, &mut out[value..]);
}

/// Appends the encoding of a primary block (with its CRC) to `out`.
pub fn write_primary(primary: &PrimaryBlock, out: &mut Vec<u8>) {
    let start = out.len();
    let items =
        8 + 2 * u64::from(primary.fragment.is_some()) + u64::from(primary.crc_type.len() > 0);
    cbor::write_array(out, items);
    cbor::write_uint(out, 7);
    cbor::write_uint(out, written_flags(primary));
    cbor::write_uint(out, primary.crc_type.code());
    primary.destination.write_cbor(out);
    primary.source.write_cbor(out);
    primary.report_to.write_cbor(out);
    cbor::write_array(out, 2);
    cbor::write_uint(out, primary.creation.time);
    cbor::write_uint(out, primary.creation.seq);
    cbor::write_uint(out, primary.lifetime_ms);
    if let Some(f) = primary.fragment {
        cbor::write_uint(out, f.offset);
        cbor::write_uint(out, f.total_adu_len);
    }
    finish_crc(out, start, primary.crc_type);
}

/// Appends the encoding of a canonical block (with its CRC) to `out`.
pub fn write_canonical(
    out: &mut Vec<u8>,
    block_type: u64,
    number: u64,
    flags: u64,
    crc_type: CrcType,
    data: &[u8],
) {
    let start = out.len();
    cbor::write_array(out, if crc_type.len() == 0 { 5 } else { 6 });
    cbor::write_uint(out, block_type);
    cbor::write_uint(out, number);
    cbor::write_uint(out, flags);
    cbor::write_uint(out, crc_type.code());
    cbor::write_bytes(out, data);
    finish_crc(out, start, crc_type);
}

/// ION's QoS array `[flags 0, priority, ordinal 0, data label 0]`, and its length.
fn cos_data(priority: u8) -> ([u8; 6], usize) {
    if priority < 24 {
        ([0x84, 0x00, priority, 0x00, 0x00, 0x00], 5)
    } else {
        ([0x84, 0x00, 0x18, priority, 0x00, 0x00], 6)
    }
}

/// Appends the encoding of a new bundle to `out`: primary block (with CRC per
/// `primary.crc_type`), then, if `priority` is `Some`, a class-of-service extension block
/// (number 2), then the payload block (number 1) with CRC type `payload_crc`. Outer array
/// indefinite-length (0x9f ... 0xff), blocks definite arrays.
///
/// The class-of-service block is ION's Quality of Service block (type 193) with data
/// `[0, priority, 0, 0]`, the flags "replicate in every fragment" (as ION sets) and "discard
/// if it can't be processed" (so stacks that don't know it drop the block, not the bundle),
/// and CRC type `payload_crc`. ION defines priorities 0 (bulk), 1 (standard), 2 (expedited).
///
/// The fragment flag written follows `primary.fragment`. [`parse`] accepts the result and
/// returns the same fields when they are consistent: a non-zero creation time (time 0 needs a
/// bundle age block, which this function does not write), no status report requests when the
/// source is the null endpoint or the payload is an administrative record, and a fragment that
/// lies within its total ADU length. Inconsistent fields are written as given.
pub fn encode(
    primary: &PrimaryBlock,
    priority: Option<u8>,
    payload: &[u8],
    payload_crc: CrcType,
    out: &mut Vec<u8>,
) {
    out.reserve(encoded_len(primary, priority, payload.len(), payload_crc));
    out.push(cbor::INDEFINITE_ARRAY);
    write_primary(primary, out);
    if let Some(p) = priority {
        let (data, len) = cos_data(p);
        write_canonical(
            out,
            block_type::CLASS_OF_SERVICE,
            COS_BLOCK_NUMBER,
            COS_BLOCK_FLAGS,
            payload_crc,
            &data[..len],
        );
    }
    write_canonical(out, block_type::PAYLOAD, 1, 0, payload_crc, payload);
    out.push(cbor::BREAK);
}

/// Exact length `encode` would produce (used to check an ADU against a datagram limit before
/// building it). Saturates at `usize::MAX` instead of overflowing.
pub fn encoded_len(
    primary: &PrimaryBlock,
    priority: Option<u8>,
    payload_len: usize,
    payload_crc: CrcType,
) -> usize {
    let cos = priority.map_or(0, |p| {
        canonical_len(
            block_type::CLASS_OF_SERVICE,
            COS_BLOCK_NUMBER,
            COS_BLOCK_FLAGS,
            payload_crc,
            cos_data(p).1,
        )
    });
    (2 + primary_len(primary) + cos).saturating_add(canonical_len(
        block_type::PAYLOAD,
        1,
        0,
        payload_crc,
        payload_len,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex"))
            .collect()
    }

    /// Deterministic xorshift64* generator for randomized tests.
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

        /// A value whose encoded size is spread over all CBOR head lengths.
        fn uint(&mut self) -> u64 {
            match self.below(5) {
                0 => self.below(24),
                1 => self.below(256),
                2 => self.below(65_536),
                3 => self.below(1 << 32),
                _ => self.next(),
            }
        }
    }

    fn sample_primary() -> PrimaryBlock {
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

    fn enc(p: &PrimaryBlock, prio: Option<u8>, payload: &[u8], crc: CrcType) -> Vec<u8> {
        let mut out = Vec::new();
        encode(p, prio, payload, crc, &mut out);
        out
    }

    /// Encodes, checks the length prediction, parses and checks every field.
    fn check_round_trip(p: &PrimaryBlock, prio: Option<u8>, payload: &[u8], crc: CrcType) {
        let bytes = enc(p, prio, payload, crc);
        assert_eq!(
            bytes.len(),
            encoded_len(p, prio, payload.len(), crc),
            "{p:?}"
        );
        let b = parse(&bytes).unwrap_or_else(|e| panic!("{e} for {p:?} prio {prio:?}"));
        let mut want = p.clone();
        want.flags = written_flags(p);
        assert_eq!(b.primary, want);
        assert_eq!(b.payload(&bytes), payload);
        assert_eq!(b.priority(&bytes), prio.filter(|p| *p <= 2));
        assert_eq!(b.blocks.len(), 1 + usize::from(prio.is_some()));
        let last = b.blocks.last().expect("payload block");
        assert_eq!((last.block_type, last.number, last.flags), (1, 1, 0));
        assert_eq!(last.crc_type, crc);
        assert_eq!(last.data, b.payload);
        assert_eq!(b.primary_extent.start, 1);
        assert_eq!(b.blocks[0].extent.start, b.primary_extent.end);
        assert_eq!(last.extent.end, bytes.len() - 1);
        if prio.is_some() {
            let cos = &b.blocks[0];
            assert_eq!((cos.block_type, cos.number, cos.flags), (193, 2, 0x11));
        }
        // Deterministic CBOR: every head is in its shortest form.
        let mut r = Reader::at(&bytes, 1);
        while r.peek() != Some(cbor::BREAK) {
            r.skip_item().expect("well-formed");
        }
        assert!(r.all_shortest());
    }

    #[test]
    fn round_trip_flags_crcs_and_priorities() {
        let flag_sets = [
            0,
            flags::IS_FRAGMENT,
            flags::ADMIN_RECORD,
            flags::MUST_NOT_FRAGMENT,
            flags::ACK_REQUESTED,
            flags::STATUS_TIME_REQUESTED,
            flags::REPORT_RECEPTION,
            flags::REPORT_FORWARDING,
            flags::REPORT_DELIVERY,
            flags::REPORT_DELETION,
            flags::STATUS_REPORTS | flags::STATUS_TIME_REQUESTED | flags::ACK_REQUESTED,
            flags::IS_FRAGMENT | flags::MUST_NOT_FRAGMENT,
            // Reserved and unassigned bits are carried as they are.
            0x8 | 0x10 | 0x80 | 0x8000 | (1 << 20) | (1 << 40) | (1 << 63),
        ];
        let crcs = [CrcType::None, CrcType::Crc16, CrcType::Crc32c];
        for &f in &flag_sets {
            for pc in crcs {
                for bc in crcs {
                    for prio in [None, Some(0), Some(1), Some(2)] {
                        let mut p = sample_primary();
                        p.flags = f;
                        p.crc_type = pc;
                        if f & flags::IS_FRAGMENT != 0 {
                            p.fragment = Some(Fragment {
                                offset: 100,
                                total_adu_len: 1000,
                            });
                        }
                        check_round_trip(&p, prio, b"hello, bundle", bc);
                    }
                }
            }
        }
    }

    #[test]
    fn round_trip_eids() {
        let eids = [
            Eid::Null,
            Eid::ipn(0, 1),
            Eid::ipn(1, 0),
            Eid::ipn(23, 24),
            Eid::ipn(u64::MAX, u64::MAX),
            Eid::Dtn("//node/".into()),
            Eid::Dtn("//a.b.c/svc/x~y".into()),
            Eid::Dtn(format!("//{}/{}", "n".repeat(40), "s".repeat(300))),
        ];
        for d in &eids {
            for s in &eids {
                for rt in &eids {
                    let mut p = sample_primary();
                    p.destination = d.clone();
                    p.source = s.clone();
                    p.report_to = rt.clone();
                    check_round_trip(&p, Some(1), b"x", CrcType::Crc16);
                }
            }
        }
    }

    #[test]
    fn round_trip_payload_sizes_and_fragments() {
        for len in [0usize, 1, 23, 24, 255, 256, 65_535, 65_536, 300_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            for crc in [CrcType::None, CrcType::Crc16, CrcType::Crc32c] {
                let mut p = sample_primary();
                check_round_trip(&p, None, &payload, crc);
                p.fragment = Some(Fragment {
                    offset: 0,
                    total_adu_len: len as u64,
                });
                check_round_trip(&p, Some(2), &payload, crc);
                p.fragment = Some(Fragment {
                    offset: u64::MAX - len as u64,
                    total_adu_len: u64::MAX,
                });
                check_round_trip(&p, None, &payload, crc);
            }
        }
    }

    #[test]
    fn round_trip_random_fields() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let crcs = [CrcType::None, CrcType::Crc16, CrcType::Crc32c];
        for _ in 0..2000 {
            let eid = |rng: &mut Rng| match rng.below(3) {
                0 => Eid::Null,
                // ipn:0.0 is the null endpoint and reads back as Eid::Null.
                1 => match (rng.uint(), rng.uint()) {
                    (0, 0) => Eid::Null,
                    (node, service) => Eid::ipn(node, service),
                },
                _ => Eid::Dtn(format!("//n{}/s{}", rng.uint(), rng.uint())),
            };
            let source = match eid(&mut rng) {
                Eid::Null => Eid::ipn(1, 1),
                e => e,
            };
            let payload: Vec<u8> = (0..rng.below(600)).map(|_| rng.next() as u8).collect();
            let len = payload.len() as u64;
            let fragment = (rng.below(2) == 0).then(|| {
                let offset = rng.uint() / 2;
                Fragment {
                    offset,
                    total_adu_len: offset + len + rng.below(1000),
                }
            });
            let p = PrimaryBlock {
                flags: rng.next() & !(flags::ADMIN_RECORD | 1 << 1),
                crc_type: crcs[rng.below(3) as usize],
                destination: eid(&mut rng),
                source,
                report_to: eid(&mut rng),
                creation: CreationTimestamp {
                    time: rng.uint().max(1),
                    seq: rng.uint(),
                },
                lifetime_ms: rng.uint(),
                fragment,
            };
            let prio = match rng.below(5) {
                0 => None,
                n => Some(n as u8 - 1),
            };
            check_round_trip(
                &p,
                prio.filter(|p| *p <= 2),
                &payload,
                crcs[rng.below(3) as usize],
            );
        }
    }

    #[test]
    fn encoded_len_matches_for_large_priority_values_and_saturates() {
        let p = sample_primary();
        for prio in [3u8, 23, 24, 255] {
            let bytes = enc(&p, Some(prio), b"abc", CrcType::Crc32c);
            assert_eq!(bytes.len(), encoded_len(&p, Some(prio), 3, CrcType::Crc32c));
            let b = parse(&bytes).expect("valid bundle");
            // ION defines 0 to 2 only.
            assert_eq!(b.priority(&bytes), None);
        }
        assert_eq!(
            encoded_len(&p, None, usize::MAX, CrcType::Crc16),
            usize::MAX
        );
    }

    #[test]
    fn encoding_is_byte_exact() {
        let p = PrimaryBlock {
            flags: flags::MUST_NOT_FRAGMENT,
            crc_type: CrcType::Crc16,
            destination: Eid::ipn(3, 1),
            source: Eid::Null,
            report_to: Eid::Null,
            creation: CreationTimestamp {
                time: 0x0000_00b5_998c_982b,
                seq: 1,
            },
            lifetime_ms: 300_000,
            fragment: None,
        };
        let bytes = enc(&p, Some(1), b"TEST", CrcType::None);
        let mut want = hex("9f890704018202820301820100820100821b000000b5998c982b011a000493e042");
        // The primary block's CRC-16, over the block with the value bytes zeroed.
        let crc = crc::crc16_x25(&[&want[1..], &[0, 0][..]].concat());
        want.extend_from_slice(&crc.to_be_bytes());
        want.extend_from_slice(&hex("8518c102110045840001000085010100004454455354ff"));
        assert_eq!(bytes, want);
    }

    // ---- Hand-built bundles for the negative tests ----

    fn u(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        cbor::write_uint(&mut out, v);
        out
    }

    fn bs(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        cbor::write_bytes(&mut out, data);
        out
    }

    fn e(eid: &Eid) -> Vec<u8> {
        let mut out = Vec::new();
        eid.write_cbor(&mut out);
        out
    }

    /// A definite array of already-encoded items.
    fn arr(items: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        cbor::write_array(&mut out, items.len() as u64);
        out.extend(items.concat());
        out
    }

    /// A block array of `items` with a correct CRC appended when `crc` is not `None`.
    fn block(items: &[Vec<u8>], crc: CrcType) -> Vec<u8> {
        let mut out = Vec::new();
        let n = items.len() + usize::from(crc != CrcType::None);
        cbor::write_array(&mut out, n as u64);
        out.extend(items.concat());
        finish_crc(&mut out, 0, crc);
        out
    }

    /// The fields of a primary block, each already encoded, without the CRC.
    struct P {
        items: Vec<Vec<u8>>,
        crc: CrcType,
    }

    impl P {
        fn new() -> P {
            P {
                items: vec![
                    u(7),
                    u(0),
                    u(1),
                    e(&Eid::ipn(2, 1)),
                    e(&Eid::ipn(1, 1)),
                    e(&Eid::ipn(1, 0)),
                    arr(&[u(800_000_000_000), u(0)]),
                    u(60_000),
                ],
                crc: CrcType::Crc16,
            }
        }

        fn set(mut self, i: usize, item: Vec<u8>) -> P {
            self.items[i] = item;
            self
        }

        fn flags(self, f: u64) -> P {
            self.set(1, u(f))
        }

        fn crc(mut self, c: CrcType) -> P {
            self.crc = c;
            self.items[2] = u(c.code());
            self
        }

        fn push(mut self, item: Vec<u8>) -> P {
            self.items.push(item);
            self
        }

        fn build(&self) -> Vec<u8> {
            block(&self.items, self.crc)
        }
    }

    fn canonical(t: u64, n: u64, f: u64, crc: CrcType, data: &[u8]) -> Vec<u8> {
        block(&[u(t), u(n), u(f), u(crc.code()), bs(data)], crc)
    }

    fn payload_block() -> Vec<u8> {
        canonical(1, 1, 0, CrcType::Crc32c, b"data")
    }

    fn bundle(blocks: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![0x9f];
        out.extend(blocks.concat());
        out.push(0xff);
        out
    }

    fn good() -> Vec<u8> {
        bundle(&[P::new().build(), payload_block()])
    }

    fn field(block: Option<u64>, name: &'static str) -> Field {
        Field { block, name }
    }

    #[test]
    fn hand_built_baseline_is_valid() {
        let b = parse(&good()).expect("baseline");
        assert_eq!(b.primary.lifetime_ms, 60_000);
        assert_eq!(b.payload(&good()), b"data");
    }

    #[test]
    fn rejects_input_that_is_not_an_array() {
        for bytes in [&[0x01][..], &[0xa0], &[0x40], &[0xff], &[0x06, 0x81]] {
            assert_eq!(parse(bytes), Err(Error::NotAnArray), "{bytes:02x?}");
        }
        assert_eq!(
            parse(&[]),
            Err(Error::Truncated {
                at: field(None, "bundle array")
            })
        );
    }

    #[test]
    fn rejects_definite_outer_array() {
        let mut bytes = good();
        bytes[0] = 0x82;
        bytes.pop();
        assert_eq!(parse(&bytes), Err(Error::DefiniteOuterArray));
    }

    #[test]
    fn rejects_truncated_input() {
        let bytes = good();
        assert_eq!(
            parse(&bytes[..bytes.len() - 1]),
            Err(Error::Truncated {
                at: field(None, "bundle array")
            })
        );
        assert_eq!(
            parse(&bytes[..3]),
            Err(Error::Truncated {
                at: field(Some(0), "bundle processing control flags")
            })
        );
        // Every prefix is refused, none panics.
        for end in 0..bytes.len() {
            assert!(parse(&bytes[..end]).is_err(), "prefix of {end} bytes");
        }
    }

    #[test]
    fn rejects_trailing_bytes() {
        let mut bytes = good();
        bytes.extend_from_slice(&[0x00, 0x9f]);
        assert_eq!(parse(&bytes), Err(Error::TrailingBytes { count: 2 }));
    }

    #[test]
    fn rejects_empty_bundle() {
        assert_eq!(parse(&[0x9f, 0xff]), Err(Error::NoPrimaryBlock));
    }

    #[test]
    fn rejects_version_other_than_7() {
        for v in [6, 8, 0] {
            let bytes = bundle(&[P::new().set(0, u(v)).build(), payload_block()]);
            assert_eq!(parse(&bytes), Err(Error::UnsupportedVersion { version: v }));
        }
    }

    #[test]
    fn rejects_undefined_crc_type() {
        let bytes = bundle(&[P::new().set(2, u(3)).build(), payload_block()]);
        assert_eq!(
            parse(&bytes),
            Err(Error::UnknownCrcType {
                block: 0,
                crc_type: 3
            })
        );
        // Differential-testing vector (bp7-rs issue #4): payload CRC type 25.
        let v5 = hex(
            "9f89071844018202820301820100820100821b000000b5998c982b011a000493e042c9f6850602100045820282020085070401004218348501010118194454455354ff",
        );
        assert_eq!(
            parse(&v5),
            Err(Error::UnknownCrcType {
                block: 1,
                crc_type: 25
            })
        );
    }

    #[test]
    fn rejects_crc_mismatch_on_any_block() {
        let p = sample_primary();
        let bytes = enc(&p, Some(1), b"payload bytes", CrcType::Crc16);
        let b = parse(&bytes).expect("valid");
        // Flip one bit inside each block, outside its CRC value and structure.
        let targets = [
            (0, b.primary_extent.start + 12),
            (2, b.blocks[0].data.start + 2),
            (1, b.payload.start + 3),
        ];
        for (block, pos) in targets {
            let mut bad = bytes.clone();
            bad[pos] ^= 0x01;
            assert!(
                matches!(parse(&bad), Err(Error::CrcMismatch { block: n, .. }) if n == block),
                "block {block}: {:?}",
                parse(&bad)
            );
        }
        // A corrupted CRC value itself.
        let mut bad = bytes.clone();
        let at = b.payload.end + 1;
        bad[at] ^= 0x80;
        assert!(matches!(
            parse(&bad),
            Err(Error::CrcMismatch { block: 1, .. })
        ));
    }

    #[test]
    fn rejects_crc_of_wrong_length() {
        let mut p = P::new().crc(CrcType::None).set(2, u(2));
        p = p.push(bs(&[0, 0]));
        let bytes = bundle(&[p.build(), payload_block()]);
        assert_eq!(
            parse(&bytes),
            Err(Error::CrcLength {
                block: 0,
                expected: 4,
                found: 2
            })
        );
        let blk = block(
            &[u(1), u(1), u(0), u(1), bs(b"x"), bs(&[0, 0, 0])],
            CrcType::None,
        );
        let bytes = bundle(&[P::new().build(), blk]);
        assert_eq!(
            parse(&bytes),
            Err(Error::CrcLength {
                block: 1,
                expected: 2,
                found: 3
            })
        );
    }

    #[test]
    fn rejects_missing_crc() {
        let p = P::new().crc(CrcType::None).set(2, u(1));
        let bytes = bundle(&[p.build(), payload_block()]);
        assert_eq!(parse(&bytes), Err(Error::CrcMissing { block: 0 }));
        let blk = block(&[u(1), u(1), u(0), u(2), bs(b"x")], CrcType::None);
        let bytes = bundle(&[P::new().build(), blk]);
        assert_eq!(parse(&bytes), Err(Error::CrcMissing { block: 1 }));
    }

    #[test]
    fn rejects_duplicate_block_numbers() {
        let bytes = bundle(&[
            P::new().build(),
            canonical(200, 5, 0, CrcType::None, b""),
            canonical(201, 5, 0, CrcType::None, b""),
            payload_block(),
        ]);
        assert_eq!(
            parse(&bytes),
            Err(Error::DuplicateBlockNumber { number: 5 })
        );
        // Differential-testing vector V1 (ION-DTN issue #51).
        let v1 = hex(
            "9f89071844018202820301820100820100821b000000b5998c982b011a000493e042c9f68506021000458202820200850702010042183485010101004454455354ff",
        );
        assert_eq!(parse(&v1), Err(Error::DuplicateBlockNumber { number: 2 }));
        // Past the scan limit the check goes through a set; duplicates on either side of the
        // switch are found.
        for (count, dup) in [(40u64, 30u64), (40, 2), (SCAN_LIMIT as u64, 5)] {
            let mut blocks = vec![P::new().build()];
            blocks.extend((2..2 + count).map(|n| canonical(200, n, 0, CrcType::None, b"")));
            blocks.push(payload_block());
            let b = parse(&bundle(&blocks)).expect("unique numbers");
            assert_eq!(b.blocks.len() as u64, count + 1);
            blocks.insert(blocks.len() - 1, canonical(201, dup, 0, CrcType::None, b""));
            assert_eq!(
                parse(&bundle(&blocks)),
                Err(Error::DuplicateBlockNumber { number: dup })
            );
        }
    }

    #[test]
    fn rejects_bundle_without_payload() {
        let bytes = bundle(&[P::new().build()]);
        assert_eq!(parse(&bytes), Err(Error::MissingPayload));
        let bytes = bundle(&[P::new().build(), canonical(7, 2, 0, CrcType::None, &u(5))]);
        assert_eq!(parse(&bytes), Err(Error::MissingPayload));
    }

    #[test]
    fn rejects_two_payload_blocks() {
        let bytes = bundle(&[P::new().build(), payload_block(), payload_block()]);
        assert_eq!(parse(&bytes), Err(Error::DuplicatePayload));
    }

    #[test]
    fn rejects_payload_block_number_other_than_1() {
        let bytes = bundle(&[P::new().build(), canonical(1, 2, 0, CrcType::None, b"x")]);
        assert_eq!(parse(&bytes), Err(Error::PayloadBlockNumber { number: 2 }));
        // Differential-testing vector V2 (ION-DTN issue #53): payload block number 33.
        let v2 = hex(
            "9f89071844018202820301820100820100821b000000b5998c982b011a000493e042c9f6850602100045820282020085070401004218348501182101004454455354ff",
        );
        assert_eq!(parse(&v2), Err(Error::PayloadBlockNumber { number: 33 }));
    }

    #[test]
    fn rejects_payload_that_is_not_last() {
        let bytes = bundle(&[
            P::new().build(),
            payload_block(),
            canonical(7, 3, 0, CrcType::None, &u(5)),
        ]);
        assert_eq!(parse(&bytes), Err(Error::PayloadNotLast { next_block: 3 }));
        // Vector from bp7-rs issue #5: a bundle age block follows the payload.
        let v = hex(
            "9f89071844018202820301820100820100821b000000b5998c982b011a000493e042c9f68506021000458202820200850101010044544553548507040100421834ff",
        );
        assert_eq!(parse(&v), Err(Error::PayloadNotLast { next_block: 4 }));
    }

    #[test]
    fn rejects_non_payload_block_numbered_0_or_1() {
        for n in [0, 1] {
            let bytes = bundle(&[
                P::new().build(),
                canonical(200, n, 0, CrcType::None, b""),
                payload_block(),
            ]);
            assert_eq!(
                parse(&bytes),
                Err(Error::ReservedBlockNumber {
                    block_type: 200,
                    number: n
                })
            );
        }
    }

    #[test]
    fn rejects_creation_time_zero_without_bundle_age() {
        let p = P::new().set(6, arr(&[u(0), u(1)]));
        let bytes = bundle(&[p.build(), payload_block()]);
        assert_eq!(parse(&bytes), Err(Error::MissingBundleAge));
        let bytes = bundle(&[
            p.build(),
            canonical(7, 2, 0, CrcType::Crc16, &u(1234)),
            payload_block(),
        ]);
        let b = parse(&bytes).expect("bundle age present");
        assert_eq!(b.primary.creation, CreationTimestamp { time: 0, seq: 1 });
        // Differential-testing vector V9 (bp7-rs issue #6): bundle age block number 166.
        let v9 = hex(
            "9f890718440182028203018201008201008200011a000493e042a2218506021000458202820200850718a6010042183485010101004454455354ff",
        );
        let b = parse(&v9).expect("V9 is valid");
        assert_eq!(b.blocks[1].number, 166);
    }

    #[test]
    fn rejects_anonymous_bundle_requesting_status_reports() {
        for f in [
            flags::REPORT_RECEPTION,
            flags::REPORT_FORWARDING,
            flags::REPORT_DELIVERY,
            flags::REPORT_DELETION,
        ] {
            let p = P::new().flags(f).set(4, e(&Eid::Null));
            let bytes = bundle(&[p.build(), payload_block()]);
            assert_eq!(
                parse(&bytes),
                Err(Error::AnonymousStatusReports { flags: f })
            );
        }
        // ipn:0.0 is the null endpoint too.
        let p = P::new()
            .flags(flags::REPORT_DELIVERY)
            .set(4, e(&Eid::ipn(0, 0)));
        let bytes = bundle(&[p.build(), payload_block()]);
        assert!(matches!(
            parse(&bytes),
            Err(Error::AnonymousStatusReports { .. })
        ));
    }

    #[test]
    fn rejects_anonymous_bundle_with_block_report_flag() {
        let p = P::new().set(4, e(&Eid::Null));
        let bytes = bundle(&[
            p.build(),
            canonical(
                200,
                2,
                block_flags::REPORT_IF_UNPROCESSABLE,
                CrcType::None,
                b"",
            ),
            payload_block(),
        ]);
        assert_eq!(parse(&bytes), Err(Error::AnonymousBlockReport { block: 2 }));
        // Differential-testing vector V10 (Hardy issue #248): previous node block flags 0x27.
        let v10 = hex(
            "9f89071844018202820301820100820100821b000000b5998c982b011a000493e042c9f6850602182700458202820200850704010042183485010101004454455354ff",
        );
        assert_eq!(parse(&v10), Err(Error::AnonymousBlockReport { block: 2 }));
        // The other block flags are fine on an anonymous bundle.
        let other = block_flags::REPLICATE_IN_FRAGMENTS
            | block_flags::DELETE_BUNDLE_IF_UNPROCESSABLE
            | block_flags::DISCARD_IF_UNPROCESSABLE;
        let bytes = bundle(&[p.build(), canonical(1, 1, other, CrcType::Crc16, b"x")]);
        assert!(parse(&bytes).is_ok());
    }

    #[test]
    fn rejects_admin_record_requesting_reports() {
        let p = P::new().flags(flags::ADMIN_RECORD | flags::REPORT_DELETION);
        let bytes = bundle(&[p.build(), payload_block()]);
        assert_eq!(
            parse(&bytes),
            Err(Error::AdminRecordStatusReports {
                flags: flags::ADMIN_RECORD | flags::REPORT_DELETION
            })
        );
        let p = P::new().flags(flags::ADMIN_RECORD);
        let bytes = bundle(&[
            p.build(),
            canonical(
                1,
                1,
                block_flags::REPORT_IF_UNPROCESSABLE,
                CrcType::None,
                b"x",
            ),
        ]);
        assert_eq!(
            parse(&bytes),
            Err(Error::AdminRecordBlockReport { block: 1 })
        );
        let bytes = bundle(&[p.build(), payload_block()]);
        assert!(parse(&bytes).is_ok());
    }

    #[test]
    fn rejects_fragment_flag_without_fragment_fields() {
        for crc in [CrcType::None, CrcType::Crc16, CrcType::Crc32c] {
            let p = P::new().crc(crc).flags(flags::IS_FRAGMENT);
            let bytes = bundle(&[p.build(), payload_block()]);
            assert_eq!(parse(&bytes), Err(Error::FragmentFieldsMissing), "{crc:?}");
            // Only the offset.
            let p = p.push(u(0));
            let bytes = bundle(&[p.build(), payload_block()]);
            assert_eq!(parse(&bytes), Err(Error::FragmentFieldsMissing), "{crc:?}");
        }
        // Vector of bp7-rs issue #10: flags 0x0f (fragment and must-not-fragment) but an
        // 8-item primary block, so the fragment fields are missing.
        let v7 = hex(
            "9f88070f00820282020182028201018202820100821b000000bb0e20b4ea001a000927c08507020100410086010100014d48656c6c6f2c20576f726c64214254b3ff",
        );
        assert_eq!(parse(&v7), Err(Error::FragmentFieldsMissing));
    }

    #[test]
    fn rejects_fragment_fields_without_fragment_flag() {
        for crc in [CrcType::None, CrcType::Crc16, CrcType::Crc32c] {
            let p = P::new().crc(crc).push(u(0)).push(u(10));
            let bytes = bundle(&[p.build(), payload_block()]);
            assert_eq!(
                parse(&bytes),
                Err(Error::UnexpectedFragmentFields),
                "{crc:?}"
            );
        }
    }

    #[test]
    fn rejects_fragment_beyond_total_adu_length() {
        for (offset, total) in [(0, 3), (7, 10), (u64::MAX, u64::MAX), (u64::MAX - 1, 2)] {
            let p = P::new()
                .flags(flags::IS_FRAGMENT)
                .push(u(offset))
                .push(u(total));
            let bytes = bundle(&[p.build(), payload_block()]);
            assert_eq!(
                parse(&bytes),
                Err(Error::FragmentBeyondAdu {
                    offset,
                    payload_len: 4,
                    total_adu_len: total
                })
            );
        }
        let p = P::new().flags(flags::IS_FRAGMENT).push(u(6)).push(u(10));
        let b = parse(&bundle(&[p.build(), payload_block()])).expect("fits exactly");
        assert_eq!(
            b.primary.fragment,
            Some(Fragment {
                offset: 6,
                total_adu_len: 10
            })
        );
    }

    #[test]
    fn rejects_lengths_beyond_input() {
        // Payload byte string claiming 2^64 - 1 bytes: refused before any use of the length.
        let mut blk = vec![0x85, 0x01, 0x01, 0x00, 0x00, 0x5b];
        blk.extend_from_slice(&u64::MAX.to_be_bytes());
        blk.extend_from_slice(b"data");
        let bytes = bundle(&[P::new().build(), blk]);
        assert_eq!(
            parse(&bytes),
            Err(Error::LengthBeyondInput {
                at: field(Some(1), "block-type-specific data"),
                claimed: u64::MAX,
                available: 5
            })
        );
        // A dtn SSP claiming 4 GiB.
        let p = P::new().set(3, hex("82017affffffff"));
        let bytes = bundle(&[p.build(), payload_block()]);
        assert!(matches!(
            parse(&bytes),
            Err(Error::LengthBeyondInput {
                claimed: 0xffff_ffff,
                ..
            })
        ));
    }

    #[test]
    fn rejects_nesting_beyond_limit() {
        // An EID of unknown scheme whose SSP nests deeper than the limit.
        let mut ssp = vec![0x81; cbor::MAX_DEPTH + 1];
        ssp.push(0x00);
        let p = P::new().set(5, [&[0x82, 0x09][..], &ssp].concat());
        let bytes = bundle(&[p.build(), payload_block()]);
        assert_eq!(
            parse(&bytes),
            Err(Error::NestingTooDeep {
                at: field(Some(0), "report-to EID")
            })
        );
    }

    #[test]
    fn rejects_integers_that_do_not_fit() {
        // Hop limit must fit 1..=255 (RFC 9171 §4.4.3).
        for limit in [0u64, 256, u64::MAX] {
            let bytes = bundle(&[
                P::new().build(),
                canonical(10, 2, 0, CrcType::None, &arr(&[u(limit), u(0)])),
                payload_block(),
            ]);
            assert_eq!(
                parse(&bytes),
                Err(Error::HopLimitOutOfRange { block: 2, limit })
            );
        }
        // A negative integer where an unsigned one is required.
        let p = P::new().set(7, vec![0x20]);
        assert_eq!(
            parse(&bundle(&[p.build(), payload_block()])),
            Err(Error::WrongType {
                at: field(Some(0), "lifetime"),
                expected: "unsigned integer",
                found: 1
            })
        );
        // Reserved additional information (28) in an integer head.
        let p = P::new().set(7, vec![0x1c]);
        assert_eq!(
            parse(&bundle(&[p.build(), payload_block()])),
            Err(Error::MalformedCbor {
                at: field(Some(0), "lifetime"),
                error: cbor::Error::ReservedAdditionalInfo(28)
            })
        );
    }

    #[test]
    fn rejects_fields_of_the_wrong_type() {
        // Payload data as a text string (bp7-rs issue #20).
        let v = hex(
            "9f88070000820282020182028201018202820100821b000000bb0e20b4ea001a000927c08507020100410086010100016d48656c6c6f2c20576f726c64214254b3ff",
        );
        assert_eq!(
            parse(&v),
            Err(Error::WrongType {
                at: field(Some(1), "block-type-specific data"),
                expected: "byte string",
                found: 3
            })
        );
        let bytes = bundle(&[P::new().build(), vec![0x01]]);
        assert!(matches!(parse(&bytes), Err(Error::WrongType { .. })));
        let bytes = bundle(&[P::new().set(6, u(5)).build(), payload_block()]);
        assert_eq!(
            parse(&bytes),
            Err(Error::WrongType {
                at: field(Some(0), "creation timestamp"),
                expected: "array",
                found: 0
            })
        );
    }

    #[test]
    fn rejects_invalid_eids() {
        let cases = [
            (
                3,
                hex("8202831b00000001000000000203"),
                eid::DecodeError::IpnComponentRange,
            ),
            (
                4,
                hex("8201646e6f6e65"),
                eid::DecodeError::Dtn("scheme-specific part must start with \"//\""),
            ),
            (5, hex("820580"), eid::DecodeError::UnknownScheme(5)),
            (3, hex("820102"), eid::DecodeError::DtnInteger(2)),
        ];
        let names = [
            "",
            "",
            "",
            "destination EID",
            "source node ID",
            "report-to EID",
        ];
        for (i, item, error) in cases {
            let bytes = bundle(&[P::new().set(i, item).build(), payload_block()]);
            assert_eq!(
                parse(&bytes),
                Err(Error::InvalidEid {
                    at: field(Some(0), names[i]),
                    error
                })
            );
        }
    }

    #[test]
    fn rejects_duplicate_extension_blocks() {
        for (t, data) in [
            (6, e(&Eid::ipn(4, 0))),
            (7, u(5)),
            (10, arr(&[u(30), u(2)])),
        ] {
            let bytes = bundle(&[
                P::new().build(),
                canonical(t, 2, 0, CrcType::None, &data),
                canonical(t, 3, 0, CrcType::None, &data),
                payload_block(),
            ]);
            assert_eq!(
                parse(&bytes),
                Err(Error::DuplicateExtensionBlock {
                    block_type: t,
                    number: 3
                })
            );
        }
    }

    #[test]
    fn rejects_invalid_extension_block_data() {
        let cases: [(u64, Vec<u8>); 7] = [
            (6, u(3)),
            (6, [e(&Eid::ipn(1, 0)), u(0)].concat()),
            (7, bs(b"x")),
            (7, vec![]),
            (10, arr(&[u(30)])),
            (10, arr(&[u(30), u(1), u(2)])),
            (10, arr(&[u(30), bs(b"")])),
        ];
        for (t, data) in cases {
            let bytes = bundle(&[
                P::new().build(),
                canonical(t, 4, 0, CrcType::None, &data),
                payload_block(),
            ]);
            assert!(
                matches!(parse(&bytes), Err(Error::InvalidBlockData { block: 4, block_type, .. }) if block_type == t),
                "type {t}: {:?}",
                parse(&bytes)
            );
        }
    }

    #[test]
    fn rejects_missing_and_extra_fields() {
        let bytes = bundle(&[P::new().set(6, arr(&[u(5)])).build(), payload_block()]);
        assert_eq!(
            parse(&bytes),
            Err(Error::MissingField {
                at: field(Some(0), "sequence number")
            })
        );
        let bytes = bundle(&[
            P::new().set(6, arr(&[u(5), u(1), u(2)])).build(),
            payload_block(),
        ]);
        assert_eq!(
            parse(&bytes),
            Err(Error::ExtraFields {
                at: field(Some(0), "creation timestamp")
            })
        );
        let blk = block(&[u(1), u(1), u(0), u(0)], CrcType::None);
        assert_eq!(
            parse(&bundle(&[P::new().build(), blk])),
            Err(Error::MissingField {
                at: field(Some(1), "block-type-specific data")
            })
        );
        let blk = block(
            &[u(1), u(1), u(0), u(0), bs(b"x"), bs(b"yy")],
            CrcType::None,
        );
        assert_eq!(
            parse(&bundle(&[P::new().build(), blk])),
            Err(Error::ExtraFields {
                at: field(Some(1), "array")
            })
        );
        let p = P::new().crc(CrcType::None).push(bs(b"zz"));
        assert_eq!(
            parse(&bundle(&[p.build(), payload_block()])),
            Err(Error::ExtraFields {
                at: field(Some(0), "array")
            })
        );
        let p = P::new().crc(CrcType::None);
        let short = block(&p.items[..5], CrcType::None);
        assert_eq!(
            parse(&bundle(&[short, payload_block()])),
            Err(Error::MissingField {
                at: field(Some(0), "report-to EID")
            })
        );
    }

    #[test]
    fn accepts_unknown_block_types_and_keeps_them() {
        let bytes = bundle(&[
            P::new().build(),
            canonical(8, 2, 1, CrcType::None, b"\x00"),
            canonical(11, 3, 0, CrcType::Crc32c, b"bib"),
            canonical(
                250,
                4,
                block_flags::DELETE_BUNDLE_IF_UNPROCESSABLE,
                CrcType::Crc16,
                b"",
            ),
            payload_block(),
        ]);
        let b = parse(&bytes).expect("unknown types are kept");
        let kept: Vec<(u64, u64)> = b.blocks.iter().map(|x| (x.block_type, x.number)).collect();
        assert_eq!(kept, [(8, 2), (11, 3), (250, 4), (1, 1)]);
        assert_eq!(&bytes[b.blocks[1].data.clone()], b"bib");
        // Differential-testing vector V3 (ION-DTN issue #52): block type 8 in BPv7.
        let v3 = hex(
            "9f88070000820282030182028201018202820100821b000000bb0e20b4ea001a000927c08508020100410086010100014d48656c6c6f2c20576f726c64214254b3ff",
        );
        let b = parse(&v3).expect("V3 is valid");
        assert_eq!(b.payload(&v3), b"Hello, World!");
        assert_eq!(b.blocks[0].block_type, 8);
    }

    #[test]
    fn accepts_reserved_flag_bits() {
        // Differential-testing vector V6 (bp7-rs issue #12): payload block flags 0xf9.
        let v6 = hex(
            "9f89071844018202820301820100820100821b000000b5998c982b011a000493e042c9f68506021000458202820200850704010042183485010118f9004454455354ff",
        );
        let b = parse(&v6).expect("V6 is valid");
        assert_eq!(b.blocks.last().map(|x| x.flags), Some(0xf9));
        assert_eq!(b.payload(&v6), b"TEST");
        let f = 0x8 | 0x10 | 0x80 | 0x8000 | (1 << 19) | (1 << 63);
        let bytes = bundle(&[P::new().flags(f).build(), payload_block()]);
        assert_eq!(parse(&bytes).map(|b| b.primary.flags), Ok(f));
    }

    #[test]
    fn accepts_fragment_that_must_not_be_fragmented() {
        let f = flags::IS_FRAGMENT | flags::MUST_NOT_FRAGMENT;
        let p = P::new().flags(f).push(u(0)).push(u(4));
        let b = parse(&bundle(&[p.build(), payload_block()])).expect("valid");
        assert_eq!(b.primary.flags, f);
    }

    #[test]
    fn accepts_anonymous_bundle_that_may_be_fragmented() {
        // RFC 9171 §4.2.3 says an anonymous bundle's "must not fragment" flag must be set;
        // ION and dtn7-rs do not enforce it, and nothing here relies on bundle identity.
        let p = P::new().flags(flags::ACK_REQUESTED).set(4, e(&Eid::Null));
        let b = parse(&bundle(&[p.build(), payload_block()])).expect("accepted");
        assert_eq!(b.primary.flags & flags::MUST_NOT_FRAGMENT, 0);
        assert!(b.primary.source.is_null());
    }

    #[test]
    fn accepts_three_element_ipn_eids() {
        // RFC 9758 §6: [2, [allocator, node, service]]; allocator 0 is the two-element EID.
        let p = P::new()
            .set(3, hex("8202831a000ee868186401"))
            .set(4, hex("820283000a02"))
            .set(5, hex("820283000000"));
        let bytes = bundle(&[p.build(), payload_block()]);
        let b = parse(&bytes).expect("three-element ipn EIDs are valid");
        assert_eq!(b.primary.destination, Eid::ipn3(977_000, 100, 1));
        assert_eq!(b.primary.source, Eid::ipn(10, 2));
        assert_eq!(b.primary.report_to, Eid::Null);
        // What encode writes from them parses back to the same fields.
        check_round_trip(&b.primary, None, b"x", CrcType::Crc32c);
        let mut p = sample_primary();
        p.source = Eid::ipn3(u64::from(u32::MAX), u64::from(u32::MAX), u64::MAX);
        p.report_to = Eid::ipn3(1, 0, 0);
        check_round_trip(&p, Some(0), b"y", CrcType::Crc16);
    }

    #[test]
    fn accepts_ipn_zero_report_to() {
        // Differential-testing vector V8 (bp7-rs issue #15): report-to ipn:0.1.
        let v8 = hex(
            "9f88070000820282020182028201018202820001821b00ff00bb0e20b4ea001a000927c08507020100410085010100004d48656c6f2c20576f726c642142ff",
        );
        let b = parse(&v8).expect("V8 is valid");
        assert_eq!(b.primary.report_to, Eid::ipn(0, 1));
        let bytes = bundle(&[P::new().set(5, e(&Eid::ipn(0, 0))).build(), payload_block()]);
        assert_eq!(parse(&bytes).map(|b| b.primary.report_to), Ok(Eid::Null));
    }

    #[test]
    fn accepts_primary_block_without_crc() {
        // Differential-testing vector V4 (ION-DTN issue #54, bp7-rs #16, Hardy #250).
        let v4 = hex(
            "9f88071844008202820301820100820100821b000000b5998c982b011a000493e08506021000458202820200850704010042183485010101004454455354ff",
        );
        let b = parse(&v4).expect("accepted, as dtn7-rs sends such bundles");
        assert_eq!(b.primary.crc_type, CrcType::None);
        assert_eq!(b.primary.source, Eid::Null);
    }

    /// The data of a block integrity block (RFC 9172 §3.6): targets, context 1
    /// (BIB-HMAC-SHA2), flags 0, security source, results.
    fn asb(targets: &[u64]) -> Vec<u8> {
        let targets: Vec<Vec<u8>> = targets.iter().map(|t| u(*t)).collect();
        [
            arr(&targets),
            u(1),
            u(0),
            e(&Eid::ipn(1, 0)),
            arr(&[arr(&[arr(&[u(1), bs(&[0xab; 32])])])]),
        ]
        .concat()
    }

    #[test]
    fn strict_mode_requires_primary_crc_unless_a_bib_targets_it() {
        let strict = ParseOptions {
            require_primary_crc: true,
        };
        assert!(!ParseOptions::default().require_primary_crc);
        let v4 = hex(
            "9f88071844008202820301820100820100821b000000b5998c982b011a000493e08506021000458202820200850704010042183485010101004454455354ff",
        );
        assert_eq!(parse_with(&v4, &strict), Err(Error::PrimaryCrcRequired));
        assert_eq!(parse_with(&v4, &ParseOptions::default()), parse(&v4));
        for crc in [CrcType::Crc16, CrcType::Crc32c] {
            let bytes = bundle(&[P::new().crc(crc).build(), payload_block()]);
            assert!(parse_with(&bytes, &strict).is_ok(), "{crc:?}");
        }
        let no_crc = P::new().crc(CrcType::None);
        let with = |t: u64, data: &[u8]| {
            bundle(&[
                no_crc.build(),
                canonical(t, 2, 0, CrcType::Crc32c, data),
                payload_block(),
            ])
        };
        // A BIB that targets the primary block (alone or among others) stands in for its CRC.
        for targets in [&[0u64][..], &[1, 0], &[2, 1, 0]] {
            let bytes = with(block_type::BLOCK_INTEGRITY, &asb(targets));
            assert!(parse_with(&bytes, &strict).is_ok(), "{targets:?}");
        }
        // A BIB for other blocks, a BCB, or a BIB whose targets can't be read does not.
        for bytes in [
            with(block_type::BLOCK_INTEGRITY, &asb(&[1])),
            with(block_type::BLOCK_INTEGRITY, &asb(&[])),
            with(block_type::BLOCK_CONFIDENTIALITY, &asb(&[0])),
            with(block_type::BLOCK_INTEGRITY, &u(0)),
            with(block_type::BLOCK_INTEGRITY, b""),
            with(block_type::BLOCK_INTEGRITY, &[0x82, 0x01]),
            with(block_type::BLOCK_INTEGRITY, &[0x82, 0x01, 0x20]),
        ] {
            assert_eq!(parse_with(&bytes, &strict), Err(Error::PrimaryCrcRequired));
            // The default mode takes them all.
            assert!(parse(&bytes).is_ok());
        }
        // Strict mode adds its check after every other rule: other errors come first.
        let bad = bundle(&[no_crc.build()]);
        assert_eq!(parse_with(&bad, &strict), Err(Error::MissingPayload));
    }

    #[test]
    fn accepts_indefinite_inner_arrays_and_non_shortest_integers() {
        // Primary block, EIDs and timestamp as indefinite arrays; lifetime as a 4-byte head.
        let mut primary = vec![0x9f];
        primary.extend(u(7));
        primary.extend(u(0));
        primary.extend(u(2));
        primary.extend(hex("9f029f0201ffff"));
        primary.extend(hex("9f01672f2f612e622f78ff"));
        primary.extend(e(&Eid::Null));
        primary.extend(hex("9f1b000000ba43b7400000ff"));
        primary.extend(hex("1a00000064"));
        primary.extend(hex("44"));
        let value = primary.len();
        primary.extend([0, 0, 0, 0]);
        primary.push(0xff);
        let crc = crc::crc32c(&primary);
        primary[value..value + 4].copy_from_slice(&crc.to_be_bytes());
        let payload = block(&[u(1), hex("1801"), u(0), u(0), bs(b"p")], CrcType::None);
        let bytes = bundle(&[primary, payload]);
        let b = parse(&bytes).expect("indefinite arrays are allowed (RFC 9171 §4.1)");
        assert_eq!(b.primary.destination, Eid::ipn(2, 1));
        assert_eq!(b.primary.source, Eid::Dtn("//a.b/x".into()));
        assert_eq!(b.primary.lifetime_ms, 100);
        assert_eq!(b.primary.creation.time, 800_000_000_000);
        assert_eq!(b.payload(&bytes), b"p");
    }

    #[test]
    fn priority_from_ion_quality_of_service_block() {
        // As ION writes it: flags "replicate in every fragment", CRC-16, four-item array.
        for (data, want) in [
            (hex("8400020000"), Some(2)),
            (hex("8401000700"), Some(0)),
            (hex("840101001a00010000"), Some(1)),
            (hex("9f0001ff"), Some(1)),
            (hex("8200"), None),
            (hex("8400030000"), None),
            (hex("840018ff0000"), None),
            (hex("84000100"), None),
            (hex("840001000000"), None),
            (hex("01"), None),
        ] {
            let bytes = bundle(&[
                P::new().build(),
                canonical(193, 2, 1, CrcType::Crc16, &data),
                payload_block(),
            ]);
            let b = parse(&bytes).expect("the block is not validated by parse");
            assert_eq!(b.priority(&bytes), want, "{data:02x?}");
        }
        let b = parse(&good()).expect("valid");
        assert_eq!(b.priority(&good()), None);
        // Wrong buffer: no panic, just nothing.
        assert_eq!(b.payload(&[]), b"");
        assert_eq!(b.priority(&[]), None);
    }

    #[test]
    fn errors_have_messages_and_distinct_reasons() {
        let f = field(Some(3), "x");
        let all = [
            Error::NotAnArray,
            Error::DefiniteOuterArray,
            Error::Truncated { at: f },
            Error::LengthBeyondInput {
                at: f,
                claimed: 1,
                available: 0,
            },
            Error::NestingTooDeep { at: f },
            Error::WrongType {
                at: f,
                expected: "array",
                found: 0,
            },
            Error::MalformedCbor {
                at: f,
                error: cbor::Error::InvalidUtf8,
            },
            Error::TrailingBytes { count: 1 },
            Error::NoPrimaryBlock,
            Error::UnsupportedVersion { version: 6 },
            Error::UnknownCrcType {
                block: 0,
                crc_type: 3,
            },
            Error::CrcMissing { block: 0 },
            Error::CrcLength {
                block: 0,
                expected: 2,
                found: 4,
            },
            Error::CrcMismatch {
                block: 0,
                computed: 1,
                received: 2,
            },
            Error::MissingField { at: f },
            Error::ExtraFields { at: f },
            Error::FragmentFieldsMissing,
            Error::UnexpectedFragmentFields,
            Error::FragmentBeyondAdu {
                offset: 1,
                payload_len: 2,
                total_adu_len: 2,
            },
            Error::InvalidEid {
                at: f,
                error: eid::DecodeError::IpnComponentRange,
            },
            Error::DuplicateBlockNumber { number: 2 },
            Error::ReservedBlockNumber {
                block_type: 7,
                number: 1,
            },
            Error::PayloadBlockNumber { number: 2 },
            Error::DuplicatePayload,
            Error::PayloadNotLast { next_block: 3 },
            Error::MissingPayload,
            Error::DuplicateExtensionBlock {
                block_type: 7,
                number: 3,
            },
            Error::MissingBundleAge,
            Error::AnonymousStatusReports { flags: 0x4000 },
            Error::AnonymousBlockReport { block: 2 },
            Error::AdminRecordStatusReports { flags: 0x4002 },
            Error::AdminRecordBlockReport { block: 2 },
            Error::InvalidBlockData {
                block: 2,
                block_type: 7,
                reason: "r",
            },
            Error::HopLimitOutOfRange { block: 2, limit: 0 },
            Error::PrimaryCrcRequired,
        ];
        let mut reasons = HashSet::new();
        for err in &all {
            let msg = err.to_string();
            assert!(msg.contains("RFC"), "{msg}");
            let r = err.reason();
            assert!(
                r.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{r}"
            );
            assert!(reasons.insert(r), "duplicate reason {r}");
        }
        assert_eq!(
            Error::Truncated { at: f }.to_string(),
            "input ends inside the block 3 x (RFC 9171 §4.1, RFC 8949 §3)"
        );
    }

    #[test]
    fn never_panics_on_mutated_bundles() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let mut p = sample_primary();
        p.fragment = Some(Fragment {
            offset: 10,
            total_adu_len: 100,
        });
        p.source = Eid::Dtn("//src/app".into());
        let seeds = [
            enc(&p, Some(2), b"some payload", CrcType::Crc16),
            enc(&sample_primary(), None, &[7u8; 40], CrcType::None),
            bundle(&[
                P::new().crc(CrcType::None).build(),
                canonical(10, 2, 0, CrcType::None, &arr(&[u(30), u(2)])),
                canonical(6, 3, 0, CrcType::None, &e(&Eid::ipn(9, 0))),
                canonical(7, 4, 0, CrcType::None, &u(5)),
                canonical(1, 1, 0, CrcType::None, b"abc"),
            ]),
        ];
        let mut accepted = 0;
        for i in 0..30_000 {
            let mut bytes = seeds[i % seeds.len()].clone();
            for _ in 0..=rng.below(3) {
                let len = bytes.len() as u64;
                match rng.below(4) {
                    0 => {
                        let at = rng.below(len) as usize;
                        bytes[at] ^= 1 << rng.below(8);
                    }
                    1 => {
                        let at = rng.below(len) as usize;
                        bytes[at] = rng.next() as u8;
                    }
                    2 => bytes.truncate(rng.below(len + 1) as usize),
                    _ => {
                        let at = rng.below(len + 1) as usize;
                        bytes.insert(at, rng.next() as u8);
                    }
                }
                if bytes.is_empty() {
                    break;
                }
            }
            if let Ok(b) = parse(&bytes) {
                accepted += 1;
                // Every range of an accepted bundle lies inside the input.
                assert!(b.primary_extent.end <= bytes.len());
                for blk in &b.blocks {
                    assert!(blk.extent.end <= bytes.len() && blk.data.end <= blk.extent.end);
                }
                let _ = b.priority(&bytes);
            }
        }
        // Mutations outside CRC-protected blocks (e.g. the no-CRC seed) may still parse.
        assert!(accepted < 30_000);
    }
}

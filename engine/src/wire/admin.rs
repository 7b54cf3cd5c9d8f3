//! Administrative records (RFC 9171 §6.1) and bundle status reports (§6.1.1): the record
//! codec, and the builder of whole status report bundles.
//!
//! An administrative record is the application data unit of a bundle whose "payload is an
//! administrative record" flag is set (§4.2.3). It is a CBOR array of two items, the record
//! type code and the record content (§6.1). Record type 1, the bundle status report, has this
//! content (§6.1.1):
//!
//! ```text
//! [ [received, forwarded, delivered, deleted, ...],   bundle status information
//!   reason code,                                       unsigned integer (§6.1.1, Figure 4)
//!   subject source node ID,                            EID (§4.2.5.1)
//!   subject creation timestamp,                        [DTN time, sequence number] (§4.2.7)
//!   subject fragment offset, subject payload length ]  only if the subject is a fragment
//! ```
//!
//! Each status item is `[false]`, `[true]`, or `[true, DTN time]`; the time is present only if
//! the subject bundle set the "status time is requested" flag (§4.2.3).
//!
//! Invariants:
//! - [`decode_admin`] never panics on any input. It reads only within its input, follows
//!   nesting no deeper than [`cbor::MAX_DEPTH`], and allocates only for what the input holds
//!   (a `dtn` EID's text, the content of a record of unknown type).
//! - [`encode_admin`] writes deterministic CBOR (RFC 8949 §4.2.1), and [`decode_admin`]
//!   returns the record it was given ([`ReasonCode::from_code`] form assumed for reasons).
//! - [`build_report`] writes a bundle that [`super::parse`] accepts.
//!
//! Deliberately accepted when decoding (interoperability): definite and indefinite-length
//! arrays and integers not in shortest form (as the bundle codec does), status information
//! with more than four items (§6.1.1 says "at least 4"; later items are skipped), and reason
//! codes this module does not name ([`ReasonCode::Other`]). Refused: anything else not in the
//! layout above, a time on a status that is not asserted, and bytes after the record.
//!
//! No I/O, no clock: callers pass the times.

use std::fmt;

use super::bundle::{self, CreationTimestamp, PrimaryBlock, flags};
use super::cbor::{self, Items, Reader};
use super::crc::CrcType;
use super::editor::{self, NewBlock};
use super::eid::{self, Eid};

/// Record type code of a bundle status report (RFC 9171 §6.1, §9.2).
pub const RECORD_TYPE_STATUS_REPORT: u64 = 1;

/// CBOR simple value `false` (RFC 8949 §3.3).
const CBOR_FALSE: u8 = 0xf4;
/// CBOR simple value `true`.
const CBOR_TRUE: u8 = 0xf5;

/// A bundle status report reason code (RFC 9171 §6.1.1, Figure 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReasonCode {
    /// 0: no additional information.
    NoInfo,
    /// 1: lifetime expired.
    LifetimeExpired,
    /// 2: forwarded over unidirectional link.
    ForwardedUnidirectional,
    /// 3: transmission canceled.
    TransmissionCanceled,
    /// 4: depleted storage.
    DepletedStorage,
    /// 5: destination endpoint ID unavailable.
    DestinationUnintelligible,
    /// 6: no known route to destination from here.
    NoKnownRoute,
    /// 7: no timely contact with next node on route.
    NoTimelyContact,
    /// 8: block unintelligible.
    BlockUnintelligible,
    /// 9: hop limit exceeded.
    HopLimitExceeded,
    /// 10: traffic pared (e.g., status reports).
    TrafficPared,
    /// 11: block unsupported.
    BlockUnsupported,
    /// Any other code: 12 to 16 are the security codes of RFC 9172 §3.2 and the rest are
    /// unassigned or reserved (the list "is neither exhaustive nor exclusive", §6.1.1).
    /// [`ReasonCode::from_code`] never returns `Other` with a code named above.
    Other(u64),
}

impl ReasonCode {
    /// The code as it goes on the wire.
    pub const fn code(self) -> u64 {
        match self {
            ReasonCode::NoInfo => 0,
            ReasonCode::LifetimeExpired => 1,
            ReasonCode::ForwardedUnidirectional => 2,
            ReasonCode::TransmissionCanceled => 3,
            ReasonCode::DepletedStorage => 4,
            ReasonCode::DestinationUnintelligible => 5,
            ReasonCode::NoKnownRoute => 6,
            ReasonCode::NoTimelyContact => 7,
            ReasonCode::BlockUnintelligible => 8,
            ReasonCode::HopLimitExceeded => 9,
            ReasonCode::TrafficPared => 10,
            ReasonCode::BlockUnsupported => 11,
            ReasonCode::Other(code) => code,
        }
    }

    /// The reason for a wire code; named variants for 0 to 11, [`ReasonCode::Other`] above.
    pub const fn from_code(code: u64) -> ReasonCode {
        match code {
            0 => ReasonCode::NoInfo,
            1 => ReasonCode::LifetimeExpired,
            2 => ReasonCode::ForwardedUnidirectional,
            3 => ReasonCode::TransmissionCanceled,
            4 => ReasonCode::DepletedStorage,
            5 => ReasonCode::DestinationUnintelligible,
            6 => ReasonCode::NoKnownRoute,
            7 => ReasonCode::NoTimelyContact,
            8 => ReasonCode::BlockUnintelligible,
            9 => ReasonCode::HopLimitExceeded,
            10 => ReasonCode::TrafficPared,
            11 => ReasonCode::BlockUnsupported,
            code => ReasonCode::Other(code),
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ReasonCode::NoInfo => "no additional information",
            ReasonCode::LifetimeExpired => "lifetime expired",
            ReasonCode::ForwardedUnidirectional => "forwarded over unidirectional link",
            ReasonCode::TransmissionCanceled => "transmission canceled",
            ReasonCode::DepletedStorage => "depleted storage",
            ReasonCode::DestinationUnintelligible => "destination endpoint ID unavailable",
            ReasonCode::NoKnownRoute => "no known route to destination from here",
            ReasonCode::NoTimelyContact => "no timely contact with next node on route",
            ReasonCode::BlockUnintelligible => "block unintelligible",
            ReasonCode::HopLimitExceeded => "hop limit exceeded",
            ReasonCode::TrafficPared => "traffic pared",
            ReasonCode::BlockUnsupported => "block unsupported",
            ReasonCode::Other(_) => "reason code",
        };
        write!(f, "{text} ({})", self.code())
    }
}

/// The four status assertions of a bundle status report, in their wire order (RFC 9171
/// §6.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusKind {
    /// The reporting node received the bundle.
    Received,
    /// The reporting node forwarded the bundle.
    Forwarded,
    /// The reporting node delivered the bundle.
    Delivered,
    /// The reporting node deleted the bundle.
    Deleted,
}

impl StatusKind {
    /// All four, in wire order.
    pub const ALL: [StatusKind; 4] = [
        StatusKind::Received,
        StatusKind::Forwarded,
        StatusKind::Delivered,
        StatusKind::Deleted,
    ];

    /// Position of this status item in the bundle status information array.
    pub const fn index(self) -> usize {
        match self {
            StatusKind::Received => 0,
            StatusKind::Forwarded => 1,
            StatusKind::Delivered => 2,
            StatusKind::Deleted => 3,
        }
    }

    /// The bundle processing control flag that requests this kind of report (§4.2.3).
    pub const fn request_flag(self) -> u64 {
        match self {
            StatusKind::Received => flags::REPORT_RECEPTION,
            StatusKind::Forwarded => flags::REPORT_FORWARDING,
            StatusKind::Delivered => flags::REPORT_DELIVERY,
            StatusKind::Deleted => flags::REPORT_DELETION,
        }
    }
}

/// Field names of the status items, in wire order (used in errors).
const ITEM_NAMES: [&str; 4] = [
    "reception status item",
    "forwarding status item",
    "delivery status item",
    "deletion status item",
];
/// Field names of the status indicators, in wire order.
const INDICATOR_NAMES: [&str; 4] = [
    "reception status indicator",
    "forwarding status indicator",
    "delivery status indicator",
    "deletion status indicator",
];
/// Field names of the status times, in wire order.
const TIME_NAMES: [&str; 4] = [
    "reception status time",
    "forwarding status time",
    "delivery status time",
    "deletion status time",
];

/// A bundle status report (RFC 9171 §6.1.1).
///
/// Each status is `None` when not asserted, `Some(None)` when asserted without a time, and
/// `Some(Some(t))` when asserted at DTN time `t` (milliseconds since 2000-01-01T00:00:00Z).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusReport {
    /// The reporting node received the subject bundle.
    pub received: Option<Option<u64>>,
    /// The reporting node forwarded the subject bundle.
    pub forwarded: Option<Option<u64>>,
    /// The reporting node delivered the subject bundle.
    pub delivered: Option<Option<u64>>,
    /// The reporting node deleted the subject bundle.
    pub deleted: Option<Option<u64>>,
    /// Why the statuses are as they are.
    pub reason: ReasonCode,
    /// The subject bundle's source node ID.
    pub source: Eid,
    /// The subject bundle's creation timestamp.
    pub creation: CreationTimestamp,
    /// `(fragment offset, payload length)` of the subject bundle when it is a fragment. The
    /// length is that of the fragment's own payload (§6.1.1), not the total ADU length.
    pub fragment: Option<(u64, u64)>,
}

impl StatusReport {
    /// A report about `subject` (whose payload block holds `subject_payload_len` bytes)
    /// asserting only `kind`, at `now_ms` (DTN time) if the subject requested status times.
    pub fn about(
        subject: &PrimaryBlock,
        subject_payload_len: u64,
        kind: StatusKind,
        reason: ReasonCode,
        now_ms: u64,
    ) -> StatusReport {
        let time = (subject.flags & flags::STATUS_TIME_REQUESTED != 0).then_some(now_ms);
        let mut report = StatusReport {
            received: None,
            forwarded: None,
            delivered: None,
            deleted: None,
            reason,
            source: subject.source.clone(),
            creation: subject.creation,
            fragment: subject.fragment.map(|f| (f.offset, subject_payload_len)),
        };
        *report.status_mut(kind) = Some(time);
        report
    }

    /// The status of `kind`.
    pub fn status(&self, kind: StatusKind) -> Option<Option<u64>> {
        match kind {
            StatusKind::Received => self.received,
            StatusKind::Forwarded => self.forwarded,
            StatusKind::Delivered => self.delivered,
            StatusKind::Deleted => self.deleted,
        }
    }

    /// The status of `kind`, to change it.
    pub fn status_mut(&mut self, kind: StatusKind) -> &mut Option<Option<u64>> {
        match kind {
            StatusKind::Received => &mut self.received,
            StatusKind::Forwarded => &mut self.forwarded,
            StatusKind::Delivered => &mut self.delivered,
            StatusKind::Deleted => &mut self.deleted,
        }
    }
}

/// An administrative record (RFC 9171 §6.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminRecord {
    /// Record type 1.
    StatusReport(StatusReport),
    /// A record of another type, kept as it was received.
    Unknown {
        /// The record type code.
        record_type: u64,
        /// The encoding of the record content: exactly one well-formed CBOR item.
        content: Vec<u8>,
    },
}

/// Why [`decode_admin`] refused an administrative record. Each `Display` names the field and
/// the RFC section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminError {
    /// Malformed CBOR, or an item of the wrong type, in `field`.
    Cbor {
        /// The field.
        field: &'static str,
        /// What is wrong.
        error: cbor::Error,
    },
    /// An array ends before the item `field`.
    MissingItem {
        /// The missing item.
        field: &'static str,
    },
    /// The array `field` has more items than its layout allows.
    ExtraItems {
        /// The array.
        field: &'static str,
    },
    /// A status indicator is not a CBOR Boolean.
    NotBoolean {
        /// The status indicator.
        field: &'static str,
    },
    /// A status item carries a time but does not assert its status.
    TimeWithoutAssertion {
        /// The status item.
        field: &'static str,
    },
    /// The subject source node ID is not a valid EID.
    InvalidEid {
        /// What is wrong.
        error: eid::DecodeError,
    },
    /// Bytes follow the record.
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

impl AdminError {
    /// A short stable token naming the rejection reason, usable as a counter name.
    pub fn reason(&self) -> &'static str {
        match self {
            AdminError::Cbor { .. } => "admin_malformed_cbor",
            AdminError::MissingItem { .. } => "admin_missing_item",
            AdminError::ExtraItems { .. } => "admin_extra_items",
            AdminError::NotBoolean { .. } => "admin_not_boolean",
            AdminError::TimeWithoutAssertion { .. } => "admin_time_without_assertion",
            AdminError::InvalidEid { .. } => "admin_invalid_eid",
            AdminError::TrailingBytes { .. } => "admin_trailing_bytes",
        }
    }
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminError::Cbor { field, error } => {
                write!(f, "administrative record {field}: {error}")
            }
            AdminError::MissingItem { field } => write!(
                f,
                "administrative record {field} is missing (RFC 9171 §6.1, §6.1.1)"
            ),
            AdminError::ExtraItems { field } => write!(
                f,
                "administrative record {field} has more items than its layout allows (RFC 9171 §6.1, §6.1.1)"
            ),
            AdminError::NotBoolean { field } => write!(
                f,
                "status report {field} is not a CBOR Boolean (RFC 9171 §6.1.1)"
            ),
            AdminError::TimeWithoutAssertion { field } => write!(
                f,
                "status report {field} has a time but does not assert its status (RFC 9171 §6.1.1)"
            ),
            AdminError::InvalidEid { error } => {
                write!(f, "status report subject source node ID: {error}")
            }
            AdminError::TrailingBytes { count } => write!(
                f,
                "{count} bytes follow the administrative record (RFC 9171 §6.1)"
            ),
        }
    }
}

impl std::error::Error for AdminError {}

/// Appends the ADU of an administrative-record bundle: `[record type code, content]`.
///
/// A status report is written in deterministic CBOR. An [`AdminRecord::Unknown`]'s content
/// is copied as given; it must be one CBOR item (as [`decode_admin`] returns it) for the
/// result to be a valid record.
pub fn encode_admin(rec: &AdminRecord, out: &mut Vec<u8>) {
    cbor::write_array(out, 2);
    match rec {
        AdminRecord::StatusReport(report) => {
            cbor::write_uint(out, RECORD_TYPE_STATUS_REPORT);
            write_status_report(report, out);
        }
        AdminRecord::Unknown {
            record_type,
            content,
        } => {
            cbor::write_uint(out, *record_type);
            out.extend_from_slice(content);
        }
    }
}

fn write_status_report(report: &StatusReport, out: &mut Vec<u8>) {
    cbor::write_array(out, if report.fragment.is_some() { 6 } else { 4 });
    cbor::write_array(out, 4);
    for kind in StatusKind::ALL {
        match report.status(kind) {
            None => {
                cbor::write_array(out, 1);
                out.push(CBOR_FALSE);
            }
            Some(None) => {
                cbor::write_array(out, 1);
                out.push(CBOR_TRUE);
            }
            Some(Some(time)) => {
                cbor::write_array(out, 2);
                out.push(CBOR_TRUE);
                cbor::write_uint(out, time);
            }
        }
    }
    cbor::write_uint(out, report.reason.code());
    report.source.write_cbor(out);
    cbor::write_array(out, 2);
    cbor::write_uint(out, report.creation.time);
    cbor::write_uint(out, report.creation.seq);
    if let Some((offset, len)) = report.fragment {
        cbor::write_uint(out, offset);
        cbor::write_uint(out, len);
    }
}

/// Decodes the ADU of an administrative-record bundle.
///
/// # Errors
/// The first rule the input breaks, as an [`AdminError`] naming the field.
pub fn decode_admin(adu: &[u8]) -> Result<AdminRecord, AdminError> {
    let mut r = Reader::new(adu);
    let mut items = array(&mut r, "array")?;
    need(&mut items, &mut r, "record type code")?;
    let record_type = uint(&mut r, "record type code")?;
    need(&mut items, &mut r, "record content")?;
    let record = if record_type == RECORD_TYPE_STATUS_REPORT {
        AdminRecord::StatusReport(read_status_report(&mut r)?)
    } else {
        let start = r.pos();
        r.skip_item().map_err(|error| AdminError::Cbor {
            field: "record content",
            error,
        })?;
        AdminRecord::Unknown {
            record_type,
            content: adu.get(start..r.pos()).unwrap_or_default().to_vec(),
        }
    };
    end(&mut items, &mut r, "array")?;
    match r.remaining() {
        0 => Ok(record),
        count => Err(AdminError::TrailingBytes { count }),
    }
}

fn cbor_err(field: &'static str) -> impl Fn(cbor::Error) -> AdminError {
    move |error| AdminError::Cbor { field, error }
}

fn array(r: &mut Reader<'_>, field: &'static str) -> Result<Items, AdminError> {
    r.array().map_err(cbor_err(field))
}

fn uint(r: &mut Reader<'_>, field: &'static str) -> Result<u64, AdminError> {
    r.uint().map_err(cbor_err(field))
}

/// Moves to the next item of `items`, which must exist.
fn need(items: &mut Items, r: &mut Reader<'_>, field: &'static str) -> Result<(), AdminError> {
    if items.next(r).map_err(cbor_err(field))? {
        Ok(())
    } else {
        Err(AdminError::MissingItem { field })
    }
}

/// Requires the end of the array `field`.
fn end(items: &mut Items, r: &mut Reader<'_>, field: &'static str) -> Result<(), AdminError> {
    if items.next(r).map_err(cbor_err(field))? {
        Err(AdminError::ExtraItems { field })
    } else {
        Ok(())
    }
}

fn read_status_report(r: &mut Reader<'_>) -> Result<StatusReport, AdminError> {
    let mut items = array(r, "status report")?;
    need(&mut items, r, "bundle status information")?;
    let mut info = array(r, "bundle status information")?;
    let mut status = [None; 4];
    for (i, slot) in status.iter_mut().enumerate() {
        need(&mut info, r, ITEM_NAMES[i])?;
        *slot = read_status_item(r, i)?;
    }
    // "At least 4 elements" (§6.1.1): items a later specification adds are skipped.
    while info
        .next(r)
        .map_err(cbor_err("bundle status information"))?
    {
        r.skip_item()
            .map_err(cbor_err("bundle status information"))?;
    }
    need(&mut items, r, "reason code")?;
    let reason = ReasonCode::from_code(uint(r, "reason code")?);
    need(&mut items, r, "subject source node ID")?;
    let source = Eid::read_cbor(r).map_err(|error| match error {
        eid::DecodeError::Cbor(error) => AdminError::Cbor {
            field: "subject source node ID",
            error,
        },
        error => AdminError::InvalidEid { error },
    })?;
    need(&mut items, r, "subject creation timestamp")?;
    let mut ts = array(r, "subject creation timestamp")?;
    need(&mut ts, r, "subject creation time")?;
    let time = uint(r, "subject creation time")?;
    need(&mut ts, r, "subject sequence number")?;
    let seq = uint(r, "subject sequence number")?;
    end(&mut ts, r, "subject creation timestamp")?;
    let fragment = if items.next(r).map_err(cbor_err("status report"))? {
        let offset = uint(r, "subject fragment offset")?;
        need(&mut items, r, "subject payload length")?;
        Some((offset, uint(r, "subject payload length")?))
    } else {
        None
    };
    end(&mut items, r, "status report")?;
    let [received, forwarded, delivered, deleted] = status;
    Ok(StatusReport {
        received,
        forwarded,
        delivered,
        deleted,
        reason,
        source,
        creation: CreationTimestamp { time, seq },
        fragment,
    })
}

/// Reads the status item at position `i` of the status information.
fn read_status_item(r: &mut Reader<'_>, i: usize) -> Result<Option<Option<u64>>, AdminError> {
    let name = ITEM_NAMES[i];
    let mut items = array(r, name)?;
    need(&mut items, r, INDICATOR_NAMES[i])?;
    // Only the one-byte forms: a simple value below 32 in two bytes is not well-formed
    // (RFC 8949 §3.3).
    let asserted = match r.peek() {
        Some(CBOR_TRUE) => true,
        Some(CBOR_FALSE) => false,
        Some(_) => {
            return Err(AdminError::NotBoolean {
                field: INDICATOR_NAMES[i],
            });
        }
        None => {
            return Err(AdminError::Cbor {
                field: INDICATOR_NAMES[i],
                error: cbor::Error::Truncated,
            });
        }
    };
    r.head().map_err(cbor_err(INDICATOR_NAMES[i]))?;
    let time = if items.next(r).map_err(cbor_err(name))? {
        if !asserted {
            return Err(AdminError::TimeWithoutAssertion { field: name });
        }
        Some(uint(r, TIME_NAMES[i])?)
    } else {
        None
    };
    end(&mut items, r, name)?;
    Ok(asserted.then_some(time))
}

/// Whether `eid` can receive status reports: not the null endpoint, and not `ipn:0.N`,
/// which names no node (RFC 9758 §3.4.1).
fn reportable(eid: &Eid) -> bool {
    !matches!(eid, Eid::Null | Eid::Ipn { node: 0, .. })
}

/// Whether the subject bundle asks for a report of `kind` and may get one: its request flag
/// for that kind is set (§4.2.3), it is not itself an administrative record (no reports about
/// reports), it is not anonymous, and its report-to EID is neither the null endpoint nor
/// `ipn:0.N`. Node policy (reports disabled, rate limits) is the caller's.
pub fn report_requested(subject: &PrimaryBlock, kind: StatusKind) -> bool {
    subject.flags & kind.request_flag() != 0
        && subject.flags & flags::ADMIN_RECORD == 0
        && !subject.source.is_null()
        && reportable(&subject.report_to)
}

/// Who sends a status report bundle, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportOrigin {
    /// This node's number: the report's source is `ipn:node.0`, its administrative endpoint.
    pub node: u64,
    /// Creation timestamp of the report bundle.
    pub creation: CreationTimestamp,
    /// Lifetime of the report bundle, in milliseconds.
    pub lifetime_ms: u64,
    /// DTN time of the status assertion, used if the subject requested status times.
    pub now_ms: u64,
}

/// CRC type of every block of a report bundle.
const REPORT_CRC: CrcType = CrcType::Crc32c;

/// Appends a whole status report bundle about `subject` (whose payload block holds
/// `subject_payload_len` bytes; used only when the subject is a fragment), asserting `kind`
/// with `reason`.
///
/// The bundle goes from `ipn:origin.node.0` to the subject's report-to EID, with report-to
/// `dtn:none` (nothing may be reported about an administrative record), flags "payload is an
/// administrative record" only, CRC-32C on every block, and the origin's creation timestamp
/// and lifetime. If the creation time is 0 (no clock), a bundle age block (number 2, age 0)
/// is added, as §4.4.2 requires. The payload is [`StatusReport::about`] the subject.
///
/// Whether a report is wanted is the caller's decision ([`report_requested`]).
pub fn build_report(
    subject: &PrimaryBlock,
    subject_payload_len: u64,
    kind: StatusKind,
    reason: ReasonCode,
    origin: &ReportOrigin,
    out: &mut Vec<u8>,
) {
    let report = StatusReport::about(subject, subject_payload_len, kind, reason, origin.now_ms);
    let mut adu = Vec::with_capacity(64);
    encode_admin(&AdminRecord::StatusReport(report), &mut adu);
    let primary = PrimaryBlock {
        flags: flags::ADMIN_RECORD,
        crc_type: REPORT_CRC,
        destination: subject.report_to.clone(),
        source: Eid::ipn(origin.node, 0),
        report_to: Eid::Null,
        creation: origin.creation,
        lifetime_ms: origin.lifetime_ms,
        fragment: None,
    };
    if origin.creation.time == 0 {
        let age = NewBlock::bundle_age(2, 0, REPORT_CRC);
        editor::encode_with_blocks(&primary, &[age], &adu, REPORT_CRC, out);
    } else {
        bundle::encode(&primary, None, &adu, REPORT_CRC, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Fragment, parse};

    /// Bytes from hex digits; spaces are ignored.
    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex"))
            .collect()
    }

    fn enc(rec: &AdminRecord) -> Vec<u8> {
        let mut out = Vec::new();
        encode_admin(rec, &mut out);
        out
    }

    fn sample_report() -> StatusReport {
        StatusReport {
            received: Some(Some(800_000_000_123)),
            forwarded: None,
            delivered: Some(None),
            deleted: None,
            reason: ReasonCode::NoInfo,
            source: Eid::ipn(7, 3),
            creation: CreationTimestamp {
                time: 800_000_000_000,
                seq: 42,
            },
            fragment: None,
        }
    }

    fn subject() -> PrimaryBlock {
        PrimaryBlock {
            flags: flags::STATUS_REPORTS,
            crc_type: CrcType::Crc16,
            destination: Eid::ipn(9, 1),
            source: Eid::ipn(7, 3),
            report_to: Eid::ipn(7, 0),
            creation: CreationTimestamp {
                time: 800_000_000_000,
                seq: 5,
            },
            lifetime_ms: 60_000,
            fragment: None,
        }
    }

    #[test]
    fn reason_codes_round_trip() {
        for code in 0..=300u64 {
            let r = ReasonCode::from_code(code);
            assert_eq!(r.code(), code);
            assert_eq!(matches!(r, ReasonCode::Other(_)), code > 11, "{code}");
            assert!(r.to_string().ends_with(&format!("({code})")));
        }
        assert_eq!(ReasonCode::from_code(9), ReasonCode::HopLimitExceeded);
        assert_eq!(ReasonCode::BlockUnsupported.code(), 11);
        assert_eq!(ReasonCode::Other(u64::MAX).code(), u64::MAX);
        assert_eq!(
            ReasonCode::TrafficPared.to_string(),
            "traffic pared (10)".to_string()
        );
    }

    #[test]
    fn status_report_layout_matches_rfc() {
        // [1, [[[true, t], [false], [true], [false]], 0, [2, [7, 3]], [t0, 42]]]
        let bytes = enc(&AdminRecord::StatusReport(sample_report()));
        let mut expect = hex("820184");
        expect.extend(hex("84"));
        expect.extend(hex("82f51b000000ba43b7407b"));
        expect.extend(hex("81f4"));
        expect.extend(hex("81f5"));
        expect.extend(hex("81f4"));
        expect.extend(hex("00"));
        expect.extend(hex("8202820703"));
        expect.extend(hex("821b000000ba43b74000182a"));
        assert_eq!(bytes, expect);
        let mut r = Reader::new(&bytes);
        r.skip_item().expect("one item");
        assert!(r.all_shortest() && r.remaining() == 0);
    }

    #[test]
    fn round_trips_every_combination() {
        let times = [None, Some(None), Some(Some(0)), Some(Some(u64::MAX))];
        let reasons = (0..=12)
            .map(ReasonCode::from_code)
            .chain([ReasonCode::Other(255), ReasonCode::Other(u64::MAX)]);
        let sources = [
            Eid::ipn(1, 0),
            Eid::Dtn("//node/app".into()),
            Eid::ipn(u64::MAX, 1),
        ];
        let frags = [None, Some((0, 0)), Some((1 << 40, 12345))];
        let mut n = 0;
        for reason in reasons {
            for (i, source) in sources.iter().enumerate() {
                for frag in frags {
                    for a in times {
                        for b in times {
                            let report = StatusReport {
                                received: a,
                                forwarded: b,
                                delivered: times[(i + 1) % 4],
                                deleted: times[(n + 2) % 4],
                                reason,
                                source: source.clone(),
                                creation: CreationTimestamp {
                                    time: n as u64 * 1_000_003,
                                    seq: n as u64,
                                },
                                fragment: frag,
                            };
                            let rec = AdminRecord::StatusReport(report);
                            assert_eq!(decode_admin(&enc(&rec)), Ok(rec));
                            n += 1;
                        }
                    }
                }
            }
        }
        assert!(n > 1000);
    }

    #[test]
    fn unknown_record_types_are_kept() {
        for (t, content) in [
            (0u64, hex("00")),
            (2, hex("83010203")),
            (3, hex("9f0102ff")),
            (64443, hex("8300004401020304")),
            (u64::MAX, hex("a1616101")),
        ] {
            let rec = AdminRecord::Unknown {
                record_type: t,
                content,
            };
            assert_eq!(decode_admin(&enc(&rec)), Ok(rec));
        }
    }

    #[test]
    fn accepts_indefinite_arrays_longer_status_info_and_long_integers() {
        // Indefinite outer arrays, a fifth status item, a non-shortest reason code.
        let adu = hex(concat!(
            "9f01",
            "9f",
            "9f81f481f581f482f5186481f582f401ff",
            "1800",
            "8201692f2f782f792f7a2f77",
            "9f0102ff",
            "0a1819",
            "ff",
            "ff"
        ));
        let got = decode_admin(&adu).expect("valid");
        let AdminRecord::StatusReport(r) = got else {
            panic!("status report")
        };
        assert_eq!(r.received, None);
        assert_eq!(r.forwarded, Some(None));
        assert_eq!(r.delivered, None);
        assert_eq!(r.deleted, Some(Some(100)));
        assert_eq!(r.reason, ReasonCode::NoInfo);
        assert_eq!(r.source, Eid::Dtn("//x/y/z/w".into()));
        assert_eq!(r.creation, CreationTimestamp { time: 1, seq: 2 });
        assert_eq!(r.fragment, Some((10, 25)));
    }

    #[test]
    fn rejects_malformed_records_naming_the_field() {
        let ok = enc(&AdminRecord::StatusReport(sample_report()));
        assert!(decode_admin(&ok).is_ok());
        let cases: Vec<(Vec<u8>, AdminError)> = vec![
            (
                vec![],
                AdminError::Cbor {
                    field: "array",
                    error: cbor::Error::Truncated,
                },
            ),
            (
                hex("8101"),
                AdminError::MissingItem {
                    field: "record content",
                },
            ),
            (
                hex("80"),
                AdminError::MissingItem {
                    field: "record type code",
                },
            ),
            (hex("830500f4"), AdminError::ExtraItems { field: "array" }),
            (
                [ok.clone(), vec![0]].concat(),
                AdminError::TrailingBytes { count: 1 },
            ),
            // Status information with three items.
            (
                hex("820184 83 81f4 81f4 81f4 00 8202820703 820102"),
                AdminError::MissingItem {
                    field: "deletion status item",
                },
            ),
            // A status indicator that is the integer 1.
            (
                hex("820184 84 81f4 8101 81f4 81f4 00 8202820703 820102"),
                AdminError::NotBoolean {
                    field: "forwarding status indicator",
                },
            ),
            // true as the two-byte simple value: not well-formed.
            (
                hex("820184 84 81f815 81f4 81f4 81f4 00 8202820703 820102"),
                AdminError::NotBoolean {
                    field: "reception status indicator",
                },
            ),
            // A time on a status not asserted.
            (
                hex("820184 84 82f405 81f4 81f4 81f4 00 8202820703 820102"),
                AdminError::TimeWithoutAssertion {
                    field: "reception status item",
                },
            ),
            // Three items in a status item.
            (
                hex("820184 84 83f50505 81f4 81f4 81f4 00 8202820703 820102"),
                AdminError::ExtraItems {
                    field: "reception status item",
                },
            ),
            // Empty status item.
            (
                hex("820184 84 80 81f4 81f4 81f4 00 8202820703 820102"),
                AdminError::MissingItem {
                    field: "reception status indicator",
                },
            ),
            // Time is a text string.
            (
                hex("820184 84 82f56178 81f4 81f4 81f4 00 8202820703 820102"),
                AdminError::Cbor {
                    field: "reception status time",
                    error: cbor::Error::UnexpectedType {
                        expected: "unsigned integer",
                        found: 3,
                    },
                },
            ),
            // Fragment offset without the payload length (5 items).
            (
                hex("82018584 81f481f481f481f4 00 8202820703 820102 05"),
                AdminError::MissingItem {
                    field: "subject payload length",
                },
            ),
            // Seven items.
            (
                hex("82018784 81f481f481f481f4 00 8202820703 820102 05 06 07"),
                AdminError::ExtraItems {
                    field: "status report",
                },
            ),
            // Reason code negative.
            (
                hex("82018484 81f481f481f481f4 20 8202820703 820102"),
                AdminError::Cbor {
                    field: "reason code",
                    error: cbor::Error::UnexpectedType {
                        expected: "unsigned integer",
                        found: 1,
                    },
                },
            ),
            // Unknown EID scheme.
            (
                hex("82018484 81f481f481f481f4 00 8203820703 820102"),
                AdminError::InvalidEid {
                    error: eid::DecodeError::UnknownScheme(3),
                },
            ),
            // Creation timestamp with one item.
            (
                hex("82018484 81f481f481f481f4 00 8202820703 8101"),
                AdminError::MissingItem {
                    field: "subject sequence number",
                },
            ),
            // Status report content is not an array.
            (
                hex("820101"),
                AdminError::Cbor {
                    field: "status report",
                    error: cbor::Error::UnexpectedType {
                        expected: "array",
                        found: 0,
                    },
                },
            ),
            // Unknown record with truncated content.
            (
                hex("82058301"),
                AdminError::Cbor {
                    field: "record content",
                    error: cbor::Error::LengthBeyondInput {
                        claimed: 3,
                        available: 1,
                    },
                },
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(decode_admin(&bytes), Err(want.clone()), "{bytes:02x?}");
            let msg = want.to_string();
            assert!(msg.contains("RFC"), "{msg}");
        }
    }

    #[test]
    fn errors_have_messages_and_distinct_reasons() {
        let all = [
            AdminError::Cbor {
                field: "reason code",
                error: cbor::Error::Truncated,
            },
            AdminError::MissingItem { field: "x" },
            AdminError::ExtraItems { field: "x" },
            AdminError::NotBoolean { field: "x" },
            AdminError::TimeWithoutAssertion { field: "x" },
            AdminError::InvalidEid {
                error: eid::DecodeError::Arity,
            },
            AdminError::TrailingBytes { count: 2 },
        ];
        let mut seen = std::collections::HashSet::new();
        for e in &all {
            assert!(e.to_string().contains("RFC"), "{e}");
            assert!(seen.insert(e.reason()));
        }
        assert_eq!(
            all[0].to_string(),
            "administrative record reason code: input ends inside a CBOR item (RFC 8949 §3)"
        );
    }

    #[test]
    fn never_panics_on_mutated_records() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut frag = sample_report();
        frag.fragment = Some((3, 4));
        frag.source = Eid::Dtn("//a/b".into());
        let seeds = [
            enc(&AdminRecord::StatusReport(sample_report())),
            enc(&AdminRecord::StatusReport(frag)),
            enc(&AdminRecord::Unknown {
                record_type: 9,
                content: hex("9f8101a1f4f5ff"),
            }),
        ];
        for i in 0..20_000 {
            let mut b = seeds[i % 3].clone();
            for _ in 0..=next() % 3 {
                let len = b.len() as u64;
                match next() % 3 {
                    0 => {
                        let at = (next() % len) as usize;
                        b[at] ^= 1 << (next() % 8);
                    }
                    1 => b.truncate((next() % (len + 1)) as usize),
                    _ => {
                        let at = (next() % (len + 1)) as usize;
                        b.insert(at, next() as u8);
                    }
                }
                if b.is_empty() {
                    break;
                }
            }
            if let Ok(rec) = decode_admin(&b) {
                // Whatever decodes re-encodes to something that decodes the same.
                assert_eq!(decode_admin(&enc(&rec)), Ok(rec));
            }
        }
    }

    #[test]
    fn report_requested_follows_flags_and_endpoints() {
        for kind in StatusKind::ALL {
            let mut s = subject();
            assert!(report_requested(&s, kind));
            s.flags = kind.request_flag();
            assert!(report_requested(&s, kind));
            for other in StatusKind::ALL.into_iter().filter(|k| *k != kind) {
                assert!(!report_requested(&s, other));
            }
            s.flags = flags::STATUS_REPORTS & !kind.request_flag();
            assert!(!report_requested(&s, kind));
            let mut s = subject();
            s.flags |= flags::ADMIN_RECORD;
            assert!(!report_requested(&s, kind));
            for rt in [Eid::Null, Eid::ipn(0, 0), Eid::ipn(0, 5)] {
                let mut s = subject();
                s.report_to = rt;
                assert!(!report_requested(&s, kind));
            }
            let mut s = subject();
            s.report_to = Eid::Dtn("//r/".into());
            assert!(report_requested(&s, kind));
            s.source = Eid::Null;
            assert!(!report_requested(&s, kind));
        }
        assert_eq!(
            StatusKind::ALL.map(StatusKind::index),
            [0, 1, 2, 3],
            "wire order"
        );
    }

    #[test]
    fn status_report_about_a_subject() {
        let mut s = subject();
        let r = StatusReport::about(&s, 99, StatusKind::Forwarded, ReasonCode::NoInfo, 1234);
        assert_eq!(r.forwarded, Some(None));
        assert_eq!((r.received, r.delivered, r.deleted), (None, None, None));
        assert_eq!(r.fragment, None);
        s.flags |= flags::STATUS_TIME_REQUESTED | flags::IS_FRAGMENT;
        s.fragment = Some(Fragment {
            offset: 500,
            total_adu_len: 2000,
        });
        let r = StatusReport::about(
            &s,
            99,
            StatusKind::Deleted,
            ReasonCode::LifetimeExpired,
            1234,
        );
        assert_eq!(r.deleted, Some(Some(1234)));
        assert_eq!(r.status(StatusKind::Deleted), Some(Some(1234)));
        assert_eq!(r.fragment, Some((500, 99)));
        assert_eq!(r.reason, ReasonCode::LifetimeExpired);
        assert_eq!(
            (r.source.clone(), r.creation),
            (s.source.clone(), s.creation)
        );
    }

    #[test]
    fn build_report_makes_a_valid_admin_bundle() {
        let origin = ReportOrigin {
            node: 4,
            creation: CreationTimestamp {
                time: 810_000_000_000,
                seq: 1,
            },
            lifetime_ms: 3_600_000,
            now_ms: 810_000_000_500,
        };
        for kind in StatusKind::ALL {
            for timed in [false, true] {
                for fragment in [false, true] {
                    for clockless in [false, true] {
                        let mut s = subject();
                        if timed {
                            s.flags |= flags::STATUS_TIME_REQUESTED;
                        }
                        if fragment {
                            s.flags |= flags::IS_FRAGMENT;
                            s.fragment = Some(Fragment {
                                offset: 10,
                                total_adu_len: 100,
                            });
                        }
                        let mut o = origin;
                        if clockless {
                            o.creation.time = 0;
                        }
                        let mut bytes = Vec::new();
                        build_report(&s, 30, kind, ReasonCode::NoKnownRoute, &o, &mut bytes);
                        let b = parse(&bytes).expect("report bundle parses");
                        let p = &b.primary;
                        assert_eq!(p.flags, flags::ADMIN_RECORD);
                        assert_eq!(p.crc_type, CrcType::Crc32c);
                        assert_eq!(p.source, Eid::ipn(4, 0));
                        assert_eq!(p.destination, s.report_to);
                        assert_eq!(p.report_to, Eid::Null);
                        assert_eq!(p.creation, o.creation);
                        assert_eq!(p.lifetime_ms, 3_600_000);
                        assert_eq!(b.blocks.len(), 1 + usize::from(clockless));
                        if clockless {
                            let age = &b.blocks[0];
                            assert_eq!((age.block_type, age.number), (7, 2));
                            assert_eq!(&bytes[age.data.clone()], [0]);
                        }
                        let Ok(AdminRecord::StatusReport(r)) = decode_admin(b.payload(&bytes))
                        else {
                            panic!("status report");
                        };
                        let want =
                            StatusReport::about(&s, 30, kind, ReasonCode::NoKnownRoute, o.now_ms);
                        assert_eq!(r, want);
                        assert_eq!(r.status(kind), Some(timed.then_some(o.now_ms)));
                        assert_eq!(r.fragment, fragment.then_some((10, 30)));
                    }
                }
            }
        }
    }
}

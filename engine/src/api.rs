//! The records that cross between the shim (inside the application) and the engine.
//!
//! Two kinds of channel, both AF_UNIX SOCK_SEQPACKET, both carrying only self-contained bytes (and
//! file descriptors passed with `SCM_RIGHTS`), never pointers, so that the engine end can later
//! live in another process:
//!
//! - **Data pair**, one per AF_BP socket. The application holds one end (it *is* the socket the
//!   application sees), the engine the other. App → engine: a [`TxHeader`] followed by the ADU,
//!   or a header alone with the ADU in a memfd passed with `SCM_RIGHTS` (ADUs too big for one
//!   message). Engine → app: an [`RxHeader`] followed by the ADU, or the header alone with a memfd.
//!   The engine learns that the last application reference is gone from `POLLHUP`.
//! - **Side pair**, one per AF_BP socket, for what must not wait behind data: app → engine,
//!   [`Kind::Ack`] records (the application has read ADUs up to a sequence; with a durable
//!   store the read returns only once the engine has committed that); engine → app,
//!   [`DoneRecord`]s (how many data and acknowledgement records of this socket the store has
//!   committed: a durable `send` returns once its record is counted). End of file on the side
//!   pair means the last application reference to the socket is gone. The engine also holds a
//!   reference to the application's end of the data pair: while the store is full it fills that
//!   end's send buffer with empty records, so that `send` blocks or fails with `EAGAIN` and
//!   `poll` stops reporting writable, exactly as the kernel does for a full socket.
//! - **Control channel**, one per process: a request ([`Request`]) carrying a fresh reply socket
//!   (`SCM_RIGHTS`); the engine writes the [`Reply`] on that socket. No lock is needed on the
//!   application side: each caller waits on its own reply socket.
//!
//! All integers are little-endian (both ends are on one machine; fixed so that the format does
//! not depend on the build).

/// `"BPTX"`: first four bytes of every app → engine data record.
pub const TX_MAGIC: u32 = 0x5854_5042;
/// `"BPRX"`: first four bytes of every engine → app data record.
pub const RX_MAGIC: u32 = 0x5852_5042;
/// Format version carried in every record.
pub const VERSION: u8 = 1;
/// Size of [`TxHeader`] on the wire.
pub const TX_HEADER_LEN: usize = 40;
/// Size of [`RxHeader`] on the wire: 40 bytes of fields, then room for a source EID in text
/// form ([`EID_TEXT_MAX`] bytes, NUL-padded) when it is not a two-element ipn EID. Fixed, so
/// that the shim can scatter the header and the ADU in one read.
pub const RX_HEADER_LEN: usize = 40 + EID_TEXT_MAX;
/// Longest EID text carried in a record (`dtn://node/service`, `ipn:A.N.S`).
pub const EID_TEXT_MAX: usize = 128;
/// ADUs up to this size travel inside the SEQPACKET message; bigger ones in a memfd. Chosen to
/// fit the default `SO_SNDBUF` (212992 bytes allows messages up to 212960).
pub const INLINE_MAX: usize = 128 * 1024;

/// `"BPDN"`: first four bytes of every [`DoneRecord`].
pub const DONE_MAGIC: u32 = 0x4E44_5042;
/// Size of [`DoneRecord`] on the wire.
pub const DONE_LEN: usize = 24;

/// Engine → app on the side pair: records of this socket committed to the store so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DoneRecord {
    /// Data records (sends) committed, counted from the socket's creation.
    pub data: u64,
    /// Read acknowledgements committed, counted from the socket's creation.
    pub acks: u64,
}

impl DoneRecord {
    /// Encodes the record.
    pub fn encode(&self) -> [u8; DONE_LEN] {
        let mut b = [0u8; DONE_LEN];
        b[0..4].copy_from_slice(&DONE_MAGIC.to_le_bytes());
        b[4] = VERSION;
        b[8..16].copy_from_slice(&self.data.to_le_bytes());
        b[16..24].copy_from_slice(&self.acks.to_le_bytes());
        b
    }

    /// Decodes a record.
    pub fn decode(b: &[u8]) -> Result<DoneRecord, RecordError> {
        if b.len() < DONE_LEN {
            return Err(RecordError::Short);
        }
        if u32_at(b, 0) != DONE_MAGIC || b[4] != VERSION {
            return Err(RecordError::BadMagic);
        }
        Ok(DoneRecord {
            data: u64_at(b, 8),
            acks: u64_at(b, 16),
        })
    }
}

/// Kind of a data record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An ADU follows the header in the same message.
    Inline,
    /// The ADU is in a memfd passed with the message (`SCM_RIGHTS`); `len` gives its size.
    Memfd,
    /// App → engine only: "every ADU up to delivery sequence `ack` has been read". No payload.
    Ack,
}

impl Kind {
    fn code(self) -> u8 {
        match self {
            Kind::Inline => 1,
            Kind::Memfd => 2,
            Kind::Ack => 3,
        }
    }
    fn from_code(c: u8) -> Option<Kind> {
        match c {
            1 => Some(Kind::Inline),
            2 => Some(Kind::Memfd),
            3 => Some(Kind::Ack),
            _ => None,
        }
    }
}

/// Why a record was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// Shorter than its fixed header.
    Short,
    /// Magic number or version not ours: bytes written to the pair without going through the shim.
    BadMagic,
    /// Unknown record kind.
    BadKind,
    /// The length field disagrees with the message size.
    BadLength,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecordError::Short => "record shorter than its header",
            RecordError::BadMagic => "record without the shim's magic number or version",
            RecordError::BadKind => "record of unknown kind",
            RecordError::BadLength => "record length field disagrees with the message size",
        })
    }
}

/// Header of an app → engine data record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxHeader {
    /// What follows.
    pub kind: Kind,
    /// Upstream BP Socket send flags (validated by the shim).
    pub flags: u32,
    /// Highest delivery sequence the application has read on this socket (0: none yet).
    pub ack: u32,
    /// Destination node (ipn).
    pub dest_node: u64,
    /// Destination service (ipn).
    pub dest_service: u64,
    /// ADU length in bytes.
    pub len: u64,
    /// Length of the destination EID text that follows the fixed header (0: the destination
    /// is ipn:`dest_node`.`dest_service`). The text sits between the header and the ADU.
    pub eid_len: u16,
}

impl TxHeader {
    /// A read acknowledgement: every ADU up to delivery sequence `seq` has been read.
    pub fn read_ack(seq: u32) -> TxHeader {
        TxHeader {
            kind: Kind::Ack,
            flags: 0,
            ack: seq,
            dest_node: 0,
            dest_service: 0,
            len: 0,
            eid_len: 0,
        }
    }

    /// Encodes the header.
    pub fn encode(&self) -> [u8; TX_HEADER_LEN] {
        let mut b = [0u8; TX_HEADER_LEN];
        b[0..4].copy_from_slice(&TX_MAGIC.to_le_bytes());
        b[4] = self.kind.code();
        b[5] = VERSION;
        b[6..8].copy_from_slice(&self.eid_len.to_le_bytes());
        b[8..12].copy_from_slice(&self.flags.to_le_bytes());
        b[12..16].copy_from_slice(&self.ack.to_le_bytes());
        b[16..24].copy_from_slice(&self.dest_node.to_le_bytes());
        b[24..32].copy_from_slice(&self.dest_service.to_le_bytes());
        b[32..40].copy_from_slice(&self.len.to_le_bytes());
        b
    }

    /// Decodes and checks a header; `msg_len` is the size of the whole message received.
    pub fn decode(b: &[u8], msg_len: usize) -> Result<TxHeader, RecordError> {
        if b.len() < TX_HEADER_LEN || msg_len < TX_HEADER_LEN {
            return Err(RecordError::Short);
        }
        if u32_at(b, 0) != TX_MAGIC || b[5] != VERSION {
            return Err(RecordError::BadMagic);
        }
        let kind = Kind::from_code(b[4]).ok_or(RecordError::BadKind)?;
        let h = TxHeader {
            kind,
            flags: u32_at(b, 8),
            ack: u32_at(b, 12),
            dest_node: u64_at(b, 16),
            dest_service: u64_at(b, 24),
            len: u64_at(b, 32),
            eid_len: u16::from_le_bytes([b[6], b[7]]),
        };
        let Some(body) = (msg_len - TX_HEADER_LEN).checked_sub(h.eid_len as usize) else {
            return Err(RecordError::BadLength);
        };
        let body = body as u64;
        let ok = h.eid_len as usize <= EID_TEXT_MAX
            && match kind {
                Kind::Inline => h.len == body,
                Kind::Memfd => body == 0,
                Kind::Ack => body == 0 && h.eid_len == 0,
            };
        if ok {
            Ok(h)
        } else {
            Err(RecordError::BadLength)
        }
    }
}

/// Header of an engine → app data record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RxHeader {
    /// What follows ([`Kind::Inline`] or [`Kind::Memfd`]).
    pub kind: Kind,
    /// Delivery sequence of this ADU on its socket, from 1; the app acknowledges it with
    /// [`TxHeader::ack`] once read.
    pub seq: u32,
    /// Source node of the bundle (ipn).
    pub src_node: u64,
    /// Source service of the bundle (ipn).
    pub src_service: u64,
    /// ADU length in bytes.
    pub len: u64,
    /// The source EID as text when it is not a two-element ipn EID (`src_node`/`src_service`
    /// are then 0). Only its first [`EID_TEXT_MAX`] − 1 bytes travel; the shim learns the
    /// full length from the header, so that the application sees that its name was cut.
    pub src_eid: Option<String>,
}

impl RxHeader {
    /// Encodes the header. Of a source text longer than the room for it, the first
    /// [`EID_TEXT_MAX`] − 1 bytes are written, and its full length (bytes 12..16).
    pub fn encode(&self) -> [u8; RX_HEADER_LEN] {
        let mut b = [0u8; RX_HEADER_LEN];
        b[0..4].copy_from_slice(&RX_MAGIC.to_le_bytes());
        b[4] = self.kind.code();
        b[5] = VERSION;
        if let Some(t) = &self.src_eid {
            let n = t.len().min(EID_TEXT_MAX - 1);
            b[40..40 + n].copy_from_slice(&t.as_bytes()[..n]);
            b[12..16].copy_from_slice(&(t.len().min(u32::MAX as usize) as u32).to_le_bytes());
        }
        b[8..12].copy_from_slice(&self.seq.to_le_bytes());
        b[16..24].copy_from_slice(&self.src_node.to_le_bytes());
        b[24..32].copy_from_slice(&self.src_service.to_le_bytes());
        b[32..40].copy_from_slice(&self.len.to_le_bytes());
        b
    }

    /// Full length of the source EID text (which may be longer than what [`RxHeader::src_eid`]
    /// holds after decoding); 0 when there is none.
    pub fn src_eid_len(b: &[u8]) -> usize {
        if b.len() < 16 {
            0
        } else {
            u32_at(b, 12) as usize
        }
    }

    /// Decodes a header (the shim calls this on what it received).
    pub fn decode(b: &[u8]) -> Result<RxHeader, RecordError> {
        if b.len() < RX_HEADER_LEN {
            return Err(RecordError::Short);
        }
        if u32_at(b, 0) != RX_MAGIC || b[5] != VERSION {
            return Err(RecordError::BadMagic);
        }
        let kind = Kind::from_code(b[4]).ok_or(RecordError::BadKind)?;
        let text = &b[40..RX_HEADER_LEN];
        let end = text.iter().position(|&c| c == 0).unwrap_or(text.len());
        let src_eid = (end > 0).then(|| String::from_utf8_lossy(&text[..end]).into_owned());
        Ok(RxHeader {
            kind,
            seq: u32_at(b, 8),
            src_node: u64_at(b, 16),
            src_service: u64_at(b, 24),
            len: u64_at(b, 32),
            src_eid,
        })
    }
}

/// A control request. Each is sent as one message with a reply socket attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Register a new AF_BP socket. Attached: the engine end of its data pair, the
    /// application end of the data pair (see the side pair above), the engine end of its side
    /// pair.
    Open {
        /// `type` given to `socket()` without the flag bits.
        sock_type: u32,
        /// `protocol` given to `socket()`.
        protocol: u32,
    },
    /// Bind socket `id` to ipn:`node`.`service`; service 0 asks for an ephemeral service.
    Bind {
        /// Socket id from the Open reply.
        id: u32,
        /// Node number.
        node: u64,
        /// Service number (0: pick a free ephemeral one).
        service: u64,
    },
    /// Set (or with `node == 0 && service == 0`, clear) the peer of socket `id`: only bundles
    /// from that EID are delivered to it.
    Connect {
        /// Socket id.
        id: u32,
        /// Peer node.
        node: u64,
        /// Peer service.
        service: u64,
    },
    /// Wait until every ADU accepted so far has left the node, at most `timeout_ms`.
    Flush {
        /// Bound on the wait.
        timeout_ms: u32,
    },
    /// Set a per-socket bundle option ([`opt`]); `a` and `b` hold its value (`b` only for
    /// [`opt::REPORT_TO`], as node and service).
    SetOpt {
        /// Socket id.
        id: u32,
        /// Option code, one of [`opt`].
        opt: u32,
        /// Value (or node).
        a: u64,
        /// Second half of the value (service), or 0.
        b: u64,
    },
    /// Take (or with `peek`, copy) the oldest status report queued for socket `id`; the reply
    /// carries it as an encoded [`StatusRecord`] in `data`, or `errno` EAGAIN when none.
    ErrQueue {
        /// Socket id.
        id: u32,
        /// Leave the report queued.
        peek: bool,
    },
}

/// Per-socket bundle options (`SOL_BP` level in `include/bp_socket.h`), with the same codes.
pub mod opt {
    /// Lifetime of new bundles, seconds.
    pub const LIFETIME: u32 = 1;
    /// Priority: 0 bulk, 1 standard, 2 expedited.
    pub const PRIORITY: u32 = 2;
    /// Report-to EID (node, service); ipn:0.0 = none.
    pub const REPORT_TO: u32 = 3;
    /// Status reports requested: [`super::report_bits`].
    pub const REPORT_FLAGS: u32 = 4;
    /// CRC type of new bundles: 1 CRC-16, 2 CRC-32C.
    pub const CRC_TYPE: u32 = 5;
    /// Hop limit of new bundles (1..=255), 0 for no hop-count block.
    pub const HOP_LIMIT: u32 = 6;
    /// Must-not-fragment (0 or 1).
    pub const MUST_NOT_FRAGMENT: u32 = 7;
    /// Application acknowledgement requested (0 or 1).
    pub const ACK_REQUESTED: u32 = 8;
}

/// Status-report bits of [`opt::REPORT_FLAGS`] and of [`StatusRecord::status`].
pub mod report_bits {
    /// Reception.
    pub const RECEIVED: u32 = 1;
    /// Forwarding.
    pub const FORWARDED: u32 = 2;
    /// Delivery.
    pub const DELIVERED: u32 = 4;
    /// Deletion.
    pub const DELETED: u32 = 8;
    /// Ask for the time of each event in the reports ("status time requested").
    pub const STATUS_TIME: u32 = 16;
}

/// A status report as the application reads it (`struct bp_status_report`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusRecord {
    /// [`report_bits`] asserted.
    pub status: u32,
    /// RFC 9171 §6.1.1 reason code.
    pub reason: u32,
    /// The report is about the N-th non-empty ADU sent on this socket (from 1); 0 if unknown.
    pub send_seq: u64,
    /// Subject bundle's creation time (DTN ms) and sequence number.
    pub creation_time: u64,
    /// See `creation_time`.
    pub creation_seq: u64,
    /// Subject fragment's offset and length (0, 0 when it was not a fragment).
    pub frag_offset: u64,
    /// See `frag_offset`.
    pub frag_length: u64,
    /// DTN ms of reception, forwarding, delivery, deletion as reported (0: not given).
    pub times: [u64; 4],
    /// Subject's source (node, service).
    pub source: (u64, u64),
    /// Node that issued the report (node, service).
    pub reporter: (u64, u64),
}

/// Encoded size of a [`StatusRecord`].
pub const STATUS_RECORD_LEN: usize = 112;

impl StatusRecord {
    /// Encodes the record.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(STATUS_RECORD_LEN);
        b.extend_from_slice(&self.status.to_le_bytes());
        b.extend_from_slice(&self.reason.to_le_bytes());
        for v in [
            self.send_seq,
            self.creation_time,
            self.creation_seq,
            self.frag_offset,
            self.frag_length,
        ]
        .into_iter()
        .chain(self.times)
        .chain([
            self.source.0,
            self.source.1,
            self.reporter.0,
            self.reporter.1,
        ]) {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b
    }

    /// Decodes a record.
    pub fn decode(b: &[u8]) -> Result<StatusRecord, RecordError> {
        if b.len() != STATUS_RECORD_LEN {
            return Err(RecordError::BadLength);
        }
        let q = |i: usize| u64_at(b, 8 + 8 * i);
        Ok(StatusRecord {
            status: u32_at(b, 0),
            reason: u32_at(b, 4),
            send_seq: q(0),
            creation_time: q(1),
            creation_seq: q(2),
            frag_offset: q(3),
            frag_length: q(4),
            times: [q(5), q(6), q(7), q(8)],
            source: (q(9), q(10)),
            reporter: (q(11), q(12)),
        })
    }
}

/// Answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// 0, or the errno the application should see.
    pub errno: i32,
    /// Open: the new socket id. Bind: the service bound. Flush: ADUs that could not leave.
    pub value: u64,
    /// Open: the local node number.
    pub local_node: u64,
    /// Open: the largest ADU accepted.
    pub max_adu: u64,
    /// Open: static routes whose next hop carries one bundle per datagram, with the largest ADU
    /// that fits: `(node pattern, service pattern, max ADU)`, `u64::MAX` meaning `*`.
    pub limits: Vec<(u64, u64, u64)>,
    /// ErrQueue: the encoded [`StatusRecord`].
    pub data: Vec<u8>,
}

impl Reply {
    /// A reply carrying only an errno (0 = success) and a value.
    pub fn simple(errno: i32, value: u64) -> Reply {
        Reply {
            errno,
            value,
            local_node: 0,
            max_adu: 0,
            limits: Vec::new(),
            data: Vec::new(),
        }
    }

    /// Encodes the reply.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(32 + 24 * self.limits.len());
        b.extend_from_slice(&self.errno.to_le_bytes());
        b.extend_from_slice(&(self.limits.len() as u32).to_le_bytes());
        b.extend_from_slice(&self.value.to_le_bytes());
        b.extend_from_slice(&self.local_node.to_le_bytes());
        b.extend_from_slice(&self.max_adu.to_le_bytes());
        for (n, s, m) in &self.limits {
            b.extend_from_slice(&n.to_le_bytes());
            b.extend_from_slice(&s.to_le_bytes());
            b.extend_from_slice(&m.to_le_bytes());
        }
        b.extend_from_slice(&self.data);
        b
    }

    /// Decodes a reply.
    pub fn decode(b: &[u8]) -> Result<Reply, RecordError> {
        if b.len() < 32 {
            return Err(RecordError::Short);
        }
        let n = u32_at(b, 4) as usize;
        let end = n
            .checked_mul(24)
            .and_then(|l| l.checked_add(32))
            .filter(|&e| e <= b.len())
            .ok_or(RecordError::BadLength)?;
        let limits = (0..n)
            .map(|i| {
                let o = 32 + 24 * i;
                (u64_at(b, o), u64_at(b, o + 8), u64_at(b, o + 16))
            })
            .collect();
        Ok(Reply {
            errno: u32_at(b, 0) as i32,
            value: u64_at(b, 8),
            local_node: u64_at(b, 16),
            max_adu: u64_at(b, 24),
            limits,
            data: b[end..].to_vec(),
        })
    }
}

impl Request {
    /// Encodes the request.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(32);
        match self {
            Request::Open {
                sock_type,
                protocol,
            } => {
                b.push(1);
                b.extend_from_slice(&sock_type.to_le_bytes());
                b.extend_from_slice(&protocol.to_le_bytes());
            }
            Request::Bind { id, node, service } | Request::Connect { id, node, service } => {
                b.push(if matches!(self, Request::Bind { .. }) {
                    2
                } else {
                    3
                });
                b.extend_from_slice(&id.to_le_bytes());
                b.extend_from_slice(&node.to_le_bytes());
                b.extend_from_slice(&service.to_le_bytes());
            }
            Request::Flush { timeout_ms } => {
                b.push(4);
                b.extend_from_slice(&timeout_ms.to_le_bytes());
            }
            Request::SetOpt { id, opt, a, b: v } => {
                b.push(5);
                b.extend_from_slice(&id.to_le_bytes());
                b.extend_from_slice(&opt.to_le_bytes());
                b.extend_from_slice(&a.to_le_bytes());
                b.extend_from_slice(&v.to_le_bytes());
            }
            Request::ErrQueue { id, peek } => {
                b.push(6);
                b.extend_from_slice(&id.to_le_bytes());
                b.push(*peek as u8);
            }
        }
        b
    }

    /// Decodes a request.
    pub fn decode(b: &[u8]) -> Result<Request, RecordError> {
        let (&op, rest) = b.split_first().ok_or(RecordError::Short)?;
        let need = match op {
            1 => 8,
            2 | 3 => 20,
            4 => 4,
            5 => 24,
            6 => 5,
            _ => return Err(RecordError::BadKind),
        };
        if rest.len() != need {
            return Err(RecordError::BadLength);
        }
        Ok(match op {
            1 => Request::Open {
                sock_type: u32_at(rest, 0),
                protocol: u32_at(rest, 4),
            },
            2 => Request::Bind {
                id: u32_at(rest, 0),
                node: u64_at(rest, 4),
                service: u64_at(rest, 12),
            },
            3 => Request::Connect {
                id: u32_at(rest, 0),
                node: u64_at(rest, 4),
                service: u64_at(rest, 12),
            },
            4 => Request::Flush {
                timeout_ms: u32_at(rest, 0),
            },
            5 => Request::SetOpt {
                id: u32_at(rest, 0),
                opt: u32_at(rest, 4),
                a: u64_at(rest, 8),
                b: u64_at(rest, 16),
            },
            _ => Request::ErrQueue {
                id: u32_at(rest, 0),
                peek: rest[4] != 0,
            },
        })
    }
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[o..o + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tx_round_trip_and_length_check() {
        let h = TxHeader {
            kind: Kind::Inline,
            flags: 0x401,
            ack: 7,
            dest_node: 20,
            dest_service: u64::MAX,
            len: 5,
            eid_len: 0,
        };
        let b = h.encode();
        assert_eq!(TxHeader::decode(&b, TX_HEADER_LEN + 5), Ok(h));
        let d = TxHeader { eid_len: 12, ..h };
        assert_eq!(TxHeader::decode(&d.encode(), TX_HEADER_LEN + 12 + 5), Ok(d));
        assert_eq!(
            TxHeader::decode(&d.encode(), TX_HEADER_LEN + 5),
            Err(RecordError::BadLength)
        );
        assert_eq!(
            TxHeader::decode(&b, TX_HEADER_LEN + 4),
            Err(RecordError::BadLength)
        );
        assert_eq!(TxHeader::decode(&b[..10], 10), Err(RecordError::Short));
        let mut bad = b;
        bad[0] ^= 1;
        assert_eq!(
            TxHeader::decode(&bad, TX_HEADER_LEN + 5),
            Err(RecordError::BadMagic)
        );
        bad = b;
        bad[4] = 9;
        assert_eq!(
            TxHeader::decode(&bad, TX_HEADER_LEN + 5),
            Err(RecordError::BadKind)
        );
    }

    #[test]
    fn rx_round_trip() {
        let h = RxHeader {
            kind: Kind::Memfd,
            seq: 3,
            src_node: 10,
            src_service: 2,
            len: 1 << 24,
            src_eid: None,
        };
        assert_eq!(RxHeader::decode(&h.encode()), Ok(h.clone()));
        let d = RxHeader {
            src_eid: Some("dtn://node30/app".into()),
            ..h.clone()
        };
        assert_eq!(RxHeader::decode(&d.encode()), Ok(d.clone()));
        assert_eq!(RxHeader::src_eid_len(&d.encode()), 16);
        let long = format!("dtn://node30/{}", "x".repeat(200));
        let l = RxHeader {
            src_eid: Some(long.clone()),
            ..h.clone()
        };
        let e = l.encode();
        assert_eq!(RxHeader::src_eid_len(&e), long.len());
        assert_eq!(
            RxHeader::decode(&e).unwrap().src_eid.as_deref(),
            Some(&long[..EID_TEXT_MAX - 1])
        );
        assert_eq!(RxHeader::decode(&[0u8; 39]), Err(RecordError::Short));
    }

    #[test]
    fn control_round_trip() {
        for r in [
            Request::Open {
                sock_type: 2,
                protocol: 17,
            },
            Request::Bind {
                id: 4,
                node: 1,
                service: 0,
            },
            Request::Connect {
                id: 4,
                node: 20,
                service: 1,
            },
            Request::Flush { timeout_ms: 2000 },
            Request::SetOpt {
                id: 4,
                opt: opt::REPORT_TO,
                a: 10,
                b: 3,
            },
            Request::ErrQueue { id: 9, peek: true },
        ] {
            assert_eq!(Request::decode(&r.encode()), Ok(r));
        }
        assert_eq!(Request::decode(&[9]), Err(RecordError::BadKind));
        assert_eq!(Request::decode(&[2, 0]), Err(RecordError::BadLength));
        let rep = Reply {
            errno: 98,
            value: 5,
            local_node: 10,
            max_adu: 1 << 24,
            limits: vec![(20, u64::MAX, 65000)],
            data: vec![1, 2, 3],
        };
        assert_eq!(Reply::decode(&rep.encode()), Ok(rep));
        let r = StatusRecord {
            status: report_bits::DELIVERED,
            reason: 1,
            send_seq: 7,
            creation_time: 5,
            creation_seq: 6,
            frag_offset: 0,
            frag_length: 0,
            times: [1, 2, 3, 4],
            source: (10, 2),
            reporter: (20, 0),
        };
        let e = r.encode();
        assert_eq!(e.len(), STATUS_RECORD_LEN);
        assert_eq!(StatusRecord::decode(&e), Ok(r));
        assert_eq!(Reply::decode(&[0u8; 31]), Err(RecordError::Short));
    }
}

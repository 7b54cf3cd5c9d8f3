//! Minimal CBOR (RFC 8949) reading and writing over byte slices, for the bundle codec.
//!
//! Only what BPv7 needs: item heads (RFC 8949 §3), unsigned integers, definite-length byte
//! and text strings returned as ranges into the input (zero copy), definite and
//! indefinite-length arrays (§3.2.2), and skipping any well-formed item with a nesting limit.
//! The writer emits the shortest head for every argument, the core deterministic encoding of
//! RFC 8949 §4.2.1.
//!
//! No I/O, no allocation while reading, and no panics on any input: every length is checked
//! against the remaining input (as a `u64`, before any conversion) before it is used.

use std::fmt;
use std::ops::Range;

/// Major type 0: unsigned integer (RFC 8949 §3.1).
pub const MAJOR_UNSIGNED: u8 = 0;
/// Major type 1: negative integer.
pub const MAJOR_NEGATIVE: u8 = 1;
/// Major type 2: byte string.
pub const MAJOR_BYTES: u8 = 2;
/// Major type 3: UTF-8 text string.
pub const MAJOR_TEXT: u8 = 3;
/// Major type 4: array.
pub const MAJOR_ARRAY: u8 = 4;
/// Major type 5: map.
pub const MAJOR_MAP: u8 = 5;
/// Major type 6: tag.
pub const MAJOR_TAG: u8 = 6;
/// Major type 7: simple values, floats and the "break" stop code.
pub const MAJOR_SIMPLE: u8 = 7;

/// The "break" stop code that ends an indefinite-length item (RFC 8949 §3.2.1).
pub const BREAK: u8 = 0xff;
/// Head of an indefinite-length array (RFC 8949 §3.2.2).
pub const INDEFINITE_ARRAY: u8 = 0x9f;

/// How deeply [`Reader::skip_item`] follows nested arrays, maps and tags. Bundle fields nest
/// at most four levels; the margin is for extension blocks.
pub const MAX_DEPTH: usize = 16;

/// Why a CBOR item could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The input ended inside an item head, or where an item was expected.
    Truncated,
    /// A string length or item count claims more bytes than the input has left.
    LengthBeyondInput {
        /// The length stated in the head.
        claimed: u64,
        /// Bytes left in the input after the head.
        available: usize,
    },
    /// Additional information 28 to 30 is reserved (RFC 8949 §3).
    ReservedAdditionalInfo(u8),
    /// Additional information 31 on a major type that has no indefinite length (§3.2).
    InvalidIndefinite(u8),
    /// An item of another major type was found where `expected` was required.
    UnexpectedType {
        /// What the caller wanted, e.g. "unsigned integer".
        expected: &'static str,
        /// The major type found.
        found: u8,
    },
    /// An indefinite-length string where a definite-length one is required.
    IndefiniteString,
    /// A "break" stop code outside an indefinite-length item (§3.2.1).
    UnexpectedBreak,
    /// A chunk of an indefinite-length string is not a definite string of the same type
    /// (§3.2.3).
    InvalidChunk,
    /// Arrays, maps and tags nest deeper than [`MAX_DEPTH`].
    DepthLimit,
    /// A text string is not valid UTF-8 (§3.1, major type 3).
    InvalidUtf8,
}

impl Error {
    /// A short stable token naming the error, usable as a counter name.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Truncated => "truncated",
            Error::LengthBeyondInput { .. } => "length_beyond_input",
            Error::ReservedAdditionalInfo(_) => "reserved_additional_info",
            Error::InvalidIndefinite(_) => "invalid_indefinite",
            Error::UnexpectedType { .. } => "unexpected_type",
            Error::IndefiniteString => "indefinite_string",
            Error::UnexpectedBreak => "unexpected_break",
            Error::InvalidChunk => "invalid_chunk",
            Error::DepthLimit => "depth_limit",
            Error::InvalidUtf8 => "invalid_utf8",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("input ends inside a CBOR item (RFC 8949 §3)"),
            Error::LengthBeyondInput { claimed, available } => write!(
                f,
                "CBOR length {claimed} exceeds the {available} bytes left in the input (RFC 8949 §3)"
            ),
            Error::ReservedAdditionalInfo(ai) => write!(
                f,
                "reserved CBOR additional information {ai} (RFC 8949 §3)"
            ),
            Error::InvalidIndefinite(major) => write!(
                f,
                "major type {major} has no indefinite length (RFC 8949 §3.2)"
            ),
            Error::UnexpectedType { expected, found } => write!(
                f,
                "expected a CBOR {expected}, found major type {found} (RFC 8949 §3.1)"
            ),
            Error::IndefiniteString => f.write_str(
                "indefinite-length string where a definite-length one is required (RFC 8949 §3.2.3)",
            ),
            Error::UnexpectedBreak => {
                f.write_str("CBOR break outside an indefinite-length item (RFC 8949 §3.2.1)")
            }
            Error::InvalidChunk => f.write_str(
                "chunk of an indefinite-length string is not a definite string of the same type (RFC 8949 §3.2.3)",
            ),
            Error::DepthLimit => write!(f, "CBOR items nest deeper than {MAX_DEPTH} levels"),
            Error::InvalidUtf8 => f.write_str("CBOR text string is not UTF-8 (RFC 8949 §3.1)"),
        }
    }
}

impl std::error::Error for Error {}

/// A decoded item head: major type and argument (RFC 8949 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Major type, 0 to 7.
    pub major: u8,
    /// The argument: a value, length or count. Zero when `indefinite` is set.
    pub arg: u64,
    /// Additional information 31: an indefinite-length item, or for major type 7 the break.
    pub indefinite: bool,
    /// Whether the argument used the shortest form (RFC 8949 §4.2.1).
    pub shortest: bool,
    /// Bytes taken by the head itself.
    pub len: usize,
}

/// Reads the head of the item that starts at `bytes[0]`.
///
/// # Errors
/// [`Error::Truncated`] if `bytes` ends inside the head, [`Error::ReservedAdditionalInfo`]
/// for additional information 28 to 30, [`Error::InvalidIndefinite`] for additional
/// information 31 on major types 0, 1 and 6.
pub fn read_head(bytes: &[u8]) -> Result<Head, Error> {
    let (&initial, rest) = bytes.split_first().ok_or(Error::Truncated)?;
    let major = initial >> 5;
    let info = initial & 0x1f;
    let (arg, extra, shortest) = match info {
        0..=23 => (u64::from(info), 0, true),
        24 => {
            let v = *rest.first().ok_or(Error::Truncated)?;
            (u64::from(v), 1, v >= 24)
        }
        25 => {
            let b = rest.get(..2).ok_or(Error::Truncated)?;
            let v = u64::from(u16::from_be_bytes([b[0], b[1]]));
            (v, 2, v > 0xff)
        }
        26 => {
            let b = rest.get(..4).ok_or(Error::Truncated)?;
            let v = u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            (v, 4, v > 0xffff)
        }
        27 => {
            let b = rest.get(..8).ok_or(Error::Truncated)?;
            let v = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            (v, 8, v > 0xffff_ffff)
        }
        28..=30 => return Err(Error::ReservedAdditionalInfo(info)),
        _ => {
            if matches!(major, MAJOR_UNSIGNED | MAJOR_NEGATIVE | MAJOR_TAG) {
                return Err(Error::InvalidIndefinite(major));
            }
            return Ok(Head {
                major,
                arg: 0,
                indefinite: true,
                shortest: true,
                len: 1,
            });
        }
    };
    // Floats (major 7, info 25..27) are fixed-width values, not shortest-form arguments.
    let shortest = shortest || major == MAJOR_SIMPLE;
    Ok(Head {
        major,
        arg,
        indefinite: false,
        shortest,
        len: 1 + extra,
    })
}

/// A cursor over a CBOR input. Ranges it returns are offsets into the whole input.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    all_shortest: bool,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            all_shortest: true,
        }
    }

    /// A reader over `buf` starting at offset `pos` (clamped to the end of `buf`).
    pub fn at(buf: &'a [u8], pos: usize) -> Self {
        Reader {
            buf,
            pos: pos.min(buf.len()),
            all_shortest: true,
        }
    }

    /// Offset of the next unread byte.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether every head read so far used its shortest form (RFC 8949 §4.2.1).
    pub fn all_shortest(&self) -> bool {
        self.all_shortest
    }

    /// The next byte, without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Reads the next head.
    ///
    /// # Errors
    /// As [`read_head`].
    pub fn head(&mut self) -> Result<Head, Error> {
        let head = read_head(&self.buf[self.pos..])?;
        self.pos += head.len;
        self.all_shortest &= head.shortest;
        Ok(head)
    }

    /// Reads the next head and requires major type `major` with a definite argument.
    fn definite(&mut self, major: u8, expected: &'static str) -> Result<u64, Error> {
        let start = self.pos;
        let head = self.head()?;
        if head.major != major {
            self.pos = start;
            return Err(if head.major == MAJOR_SIMPLE && head.indefinite {
                Error::UnexpectedBreak
            } else {
                Error::UnexpectedType {
                    expected,
                    found: head.major,
                }
            });
        }
        if head.indefinite {
            return Err(Error::IndefiniteString);
        }
        Ok(head.arg)
    }

    /// Reads an unsigned integer (major type 0).
    ///
    /// # Errors
    /// [`Error::UnexpectedType`] for any other item, or a head error.
    pub fn uint(&mut self) -> Result<u64, Error> {
        self.definite(MAJOR_UNSIGNED, "unsigned integer")
    }

    /// Consumes `len` bytes after a string head, returning their range.
    fn take(&mut self, len: u64) -> Result<Range<usize>, Error> {
        let available = self.remaining();
        // Compared as u64 first: a claimed length is never converted before it is known to fit.
        if len > available as u64 {
            return Err(Error::LengthBeyondInput {
                claimed: len,
                available,
            });
        }
        let len = usize::try_from(len).map_err(|_| Error::LengthBeyondInput {
            claimed: len,
            available,
        })?;
        let start = self.pos;
        self.pos += len;
        Ok(start..self.pos)
    }

    /// Reads a definite-length byte string (major type 2) and returns the range of its content.
    ///
    /// # Errors
    /// [`Error::UnexpectedType`], [`Error::IndefiniteString`],
    /// [`Error::LengthBeyondInput`], or a head error.
    pub fn bytes(&mut self) -> Result<Range<usize>, Error> {
        let len = self.definite(MAJOR_BYTES, "byte string")?;
        self.take(len)
    }

    /// Reads a definite-length text string (major type 3) and returns its content.
    ///
    /// # Errors
    /// As [`Reader::bytes`], plus [`Error::InvalidUtf8`].
    pub fn text(&mut self) -> Result<&'a str, Error> {
        let len = self.definite(MAJOR_TEXT, "text string")?;
        let range = self.take(len)?;
        std::str::from_utf8(&self.buf[range]).map_err(|_| Error::InvalidUtf8)
    }

    /// Reads an array head (major type 4), definite or indefinite.
    ///
    /// # Errors
    /// [`Error::UnexpectedType`] for any other item, or a head error.
    pub fn array(&mut self) -> Result<Items, Error> {
        let start = self.pos;
        let head = self.head()?;
        if head.major != MAJOR_ARRAY {
            self.pos = start;
            return Err(if head.major == MAJOR_SIMPLE && head.indefinite {
                Error::UnexpectedBreak
            } else {
                Error::UnexpectedType {
                    expected: "array",
                    found: head.major,
                }
            });
        }
        Ok(Items {
            remaining: if head.indefinite {
                None
            } else {
                Some(head.arg)
            },
            done: false,
        })
    }

    /// Skips one complete, well-formed item of any type, following at most [`MAX_DEPTH`]
    /// levels of nesting.
    ///
    /// # Errors
    /// [`Error::DepthLimit`] when nesting goes deeper, or any error of a malformed item.
    pub fn skip_item(&mut self) -> Result<(), Error> {
        self.skip_nested(0)
    }

    fn skip_nested(&mut self, depth: usize) -> Result<(), Error> {
        let head = self.head()?;
        match head.major {
            MAJOR_UNSIGNED | MAJOR_NEGATIVE => Ok(()),
            MAJOR_SIMPLE if head.indefinite => Err(Error::UnexpectedBreak),
            MAJOR_SIMPLE => Ok(()),
            MAJOR_BYTES | MAJOR_TEXT if !head.indefinite => self.take(head.arg).map(|_| ()),
            MAJOR_BYTES | MAJOR_TEXT => loop {
                // Each chunk is a definite string of the same major type (RFC 8949 §3.2.3).
                match self.peek() {
                    None => return Err(Error::Truncated),
                    Some(BREAK) => {
                        self.pos += 1;
                        return Ok(());
                    }
                    Some(b) if b >> 5 == head.major && b & 0x1f != 31 => {
                        let chunk = self.head()?;
                        self.take(chunk.arg)?;
                    }
                    Some(_) => return Err(Error::InvalidChunk),
                }
            },
            _ => {
                // Arrays, maps and tags contain items: the depth limit bounds the recursion.
                if depth >= MAX_DEPTH {
                    return Err(Error::DepthLimit);
                }
                match (head.major, head.indefinite) {
                    (MAJOR_TAG, _) => self.skip_nested(depth + 1),
                    (_, true) => loop {
                        match self.peek() {
                            None => return Err(Error::Truncated),
                            Some(BREAK) => {
                                self.pos += 1;
                                return Ok(());
                            }
                            Some(_) => {
                                self.skip_nested(depth + 1)?;
                                if head.major == MAJOR_MAP {
                                    self.skip_nested(depth + 1)?;
                                }
                            }
                        }
                    },
                    (_, false) => {
                        // Every item takes at least one byte, so a count beyond the input
                        // is refused before the loop rather than discovered inside it.
                        let per_entry = if head.major == MAJOR_MAP { 2 } else { 1 };
                        let needed = head.arg.saturating_mul(per_entry);
                        if needed > self.remaining() as u64 {
                            return Err(Error::LengthBeyondInput {
                                claimed: head.arg,
                                available: self.remaining(),
                            });
                        }
                        for _ in 0..needed {
                            self.skip_nested(depth + 1)?;
                        }
                        Ok(())
                    }
                }
            }
        }
    }
}

/// Iterates over the items of an array whose head has been read, definite or indefinite.
#[derive(Clone, Copy, Debug)]
pub struct Items {
    remaining: Option<u64>,
    done: bool,
}

impl Items {
    /// Whether the array was encoded with indefinite length.
    pub fn is_indefinite(&self) -> bool {
        self.remaining.is_none()
    }

    /// The declared item count of a definite-length array.
    pub fn declared_len(&self) -> Option<u64> {
        self.remaining
    }

    /// Returns `true` if another item follows (the caller then reads it), `false` at the end
    /// of the array; for an indefinite-length array, the end consumes the break.
    ///
    /// # Errors
    /// [`Error::Truncated`] when the input ends before an indefinite-length array's break.
    pub fn next(&mut self, r: &mut Reader<'_>) -> Result<bool, Error> {
        if self.done {
            return Ok(false);
        }
        match &mut self.remaining {
            Some(0) => {
                self.done = true;
                Ok(false)
            }
            Some(n) => {
                *n -= 1;
                Ok(true)
            }
            None => match r.peek() {
                None => Err(Error::Truncated),
                Some(BREAK) => {
                    r.pos += 1;
                    self.done = true;
                    Ok(false)
                }
                Some(_) => Ok(true),
            },
        }
    }
}

/// Length of the shortest head for argument `arg` (RFC 8949 §4.2.1).
pub const fn head_len(arg: u64) -> usize {
    if arg < 24 {
        1
    } else if arg <= 0xff {
        2
    } else if arg <= 0xffff {
        3
    } else if arg <= 0xffff_ffff {
        5
    } else {
        9
    }
}

/// Appends the shortest head for major type `major` and argument `arg`.
pub fn write_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = (major & 7) << 5;
    // Each arm's range check makes the narrowing conversion lossless.
    if arg < 24 {
        out.push(m | arg as u8);
    } else if let Ok(v) = u8::try_from(arg) {
        out.extend_from_slice(&[m | 24, v]);
    } else if let Ok(v) = u16::try_from(arg) {
        out.push(m | 25);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = u32::try_from(arg) {
        out.push(m | 26);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

/// Appends an unsigned integer.
pub fn write_uint(out: &mut Vec<u8>, v: u64) {
    write_head(out, MAJOR_UNSIGNED, v);
}

/// Appends a definite-length byte string.
pub fn write_bytes(out: &mut Vec<u8>, data: &[u8]) {
    write_head(out, MAJOR_BYTES, data.len() as u64);
    out.extend_from_slice(data);
}

/// Appends a definite-length text string.
pub fn write_text(out: &mut Vec<u8>, s: &str) {
    write_head(out, MAJOR_TEXT, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Appends the head of a definite-length array of `n` items.
pub fn write_array(out: &mut Vec<u8>, n: u64) {
    write_head(out, MAJOR_ARRAY, n);
}

/// Encoded length of an unsigned integer.
pub const fn uint_len(v: u64) -> usize {
    head_len(v)
}

/// Encoded length of a definite-length byte or text string of `len` content bytes.
pub const fn string_len(len: usize) -> usize {
    head_len(len as u64).saturating_add(len)
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

    #[test]
    fn heads_rfc8949_appendix_a() {
        // Values and encodings from RFC 8949 Appendix A.
        for (v, enc) in [
            (0u64, "00"),
            (1, "01"),
            (10, "0a"),
            (23, "17"),
            (24, "1818"),
            (25, "1819"),
            (100, "1864"),
            (1000, "1903e8"),
            (1_000_000, "1a000f4240"),
            (1_000_000_000_000, "1b000000e8d4a51000"),
            (u64::MAX, "1bffffffffffffffff"),
        ] {
            let bytes = hex(enc);
            let mut out = Vec::new();
            write_uint(&mut out, v);
            assert_eq!(out, bytes, "encode {v}");
            assert_eq!(uint_len(v), bytes.len());
            let h = read_head(&bytes).expect("head");
            assert_eq!(
                (h.major, h.arg, h.shortest, h.len),
                (0, v, true, bytes.len())
            );
        }
    }

    #[test]
    fn non_shortest_heads_are_flagged() {
        for enc in [
            "1800",
            "1817",
            "190017",
            "1900ff",
            "1a0000ffff",
            "1b00000000ffffffff",
        ] {
            let h = read_head(&hex(enc)).expect("head");
            assert!(!h.shortest, "{enc}");
        }
        let bytes = hex("1900ff");
        let mut r = Reader::new(&bytes);
        assert_eq!(r.uint(), Ok(255));
        assert!(!r.all_shortest());
    }

    #[test]
    fn truncated_heads() {
        for enc in ["", "18", "19ff", "1a000000", "1b00000000000000"] {
            assert_eq!(read_head(&hex(enc)), Err(Error::Truncated), "{enc}");
        }
    }

    #[test]
    fn reserved_and_invalid_indefinite() {
        for ai in 28..=30u8 {
            assert_eq!(read_head(&[ai]), Err(Error::ReservedAdditionalInfo(ai)));
        }
        assert_eq!(read_head(&[0x1f]), Err(Error::InvalidIndefinite(0)));
        assert_eq!(read_head(&[0x3f]), Err(Error::InvalidIndefinite(1)));
        assert_eq!(read_head(&[0xdf]), Err(Error::InvalidIndefinite(6)));
        let h = read_head(&[0xff]).expect("break");
        assert!(h.indefinite && h.major == MAJOR_SIMPLE);
    }

    #[test]
    fn byte_and_text_strings_are_ranges() {
        let bytes = hex("4301020363616263");
        let mut r = Reader::new(&bytes);
        assert_eq!(r.bytes(), Ok(1..4));
        assert_eq!(r.text(), Ok("abc"));
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn string_length_beyond_input_is_refused_before_use() {
        let bytes = hex("5bffffffffffffffff00");
        let mut r = Reader::new(&bytes);
        assert_eq!(
            r.bytes(),
            Err(Error::LengthBeyondInput {
                claimed: u64::MAX,
                available: 1
            })
        );
        let bytes = hex("4501");
        assert!(matches!(
            Reader::new(&bytes).bytes(),
            Err(Error::LengthBeyondInput { claimed: 5, .. })
        ));
    }

    #[test]
    fn wrong_types_and_indefinite_strings() {
        let bytes = hex("20");
        assert_eq!(
            Reader::new(&bytes).uint(),
            Err(Error::UnexpectedType {
                expected: "unsigned integer",
                found: 1
            })
        );
        let bytes = hex("5f4101ff");
        assert_eq!(Reader::new(&bytes).bytes(), Err(Error::IndefiniteString));
        let bytes = hex("ff");
        assert_eq!(Reader::new(&bytes).uint(), Err(Error::UnexpectedBreak));
        let bytes = hex("62c328");
        assert_eq!(Reader::new(&bytes).text(), Err(Error::InvalidUtf8));
    }

    #[test]
    fn definite_and_indefinite_arrays() {
        let bytes = hex("820102");
        let mut r = Reader::new(&bytes);
        let mut items = r.array().expect("array");
        assert!(!items.is_indefinite());
        let mut got = Vec::new();
        while items.next(&mut r).expect("next") {
            got.push(r.uint().expect("uint"));
        }
        assert_eq!(got, [1, 2]);

        let bytes = hex("9f0102ff00");
        let mut r = Reader::new(&bytes);
        let mut items = r.array().expect("array");
        assert!(items.is_indefinite());
        let mut got = Vec::new();
        while items.next(&mut r).expect("next") {
            got.push(r.uint().expect("uint"));
        }
        assert_eq!(got, [1, 2]);
        assert_eq!(r.pos(), 4);
        assert!(!items.next(&mut r).expect("after end"));

        let bytes = hex("9f01");
        let mut r = Reader::new(&bytes);
        let mut items = r.array().expect("array");
        assert!(items.next(&mut r).expect("first"));
        r.uint().expect("uint");
        assert_eq!(items.next(&mut r), Err(Error::Truncated));
    }

    #[test]
    fn skip_well_formed_items() {
        // [1, [2, 3], {"a": h'01'}, tag(1, 0), 1.5, (_ h'01', h'02'), (_ 1, 2)], then 0x07
        let bytes = hex("8701820203a161614101c100f93e005f41014102ff9f0102ff07");
        let mut r = Reader::new(&bytes);
        r.skip_item().expect("skip");
        assert_eq!(r.uint(), Ok(7));
    }

    #[test]
    fn skip_refuses_deep_nesting() {
        let mut bytes = vec![0x81; MAX_DEPTH + 1];
        bytes.push(0x00);
        assert_eq!(Reader::new(&bytes).skip_item(), Err(Error::DepthLimit));
        let mut ok = vec![0x81; MAX_DEPTH];
        ok.push(0x00);
        assert_eq!(Reader::new(&ok).skip_item(), Ok(()));
        let mut tags = vec![0xc1; MAX_DEPTH + 1];
        tags.push(0x00);
        assert_eq!(Reader::new(&tags).skip_item(), Err(Error::DepthLimit));
    }

    #[test]
    fn skip_refuses_huge_counts_and_bad_chunks() {
        let bytes = hex("9bffffffffffffffff00");
        assert!(matches!(
            Reader::new(&bytes).skip_item(),
            Err(Error::LengthBeyondInput { .. })
        ));
        let bytes = hex("bbffffffffffffffff00");
        assert!(matches!(
            Reader::new(&bytes).skip_item(),
            Err(Error::LengthBeyondInput { .. })
        ));
        let bytes = hex("5f6161ff");
        assert_eq!(Reader::new(&bytes).skip_item(), Err(Error::InvalidChunk));
        let bytes = hex("ff");
        assert_eq!(Reader::new(&bytes).skip_item(), Err(Error::UnexpectedBreak));
        let bytes = hex("9f01");
        assert_eq!(Reader::new(&bytes).skip_item(), Err(Error::Truncated));
    }

    #[test]
    fn writer_round_trips_through_reader() {
        let mut out = Vec::new();
        write_array(&mut out, 3);
        write_bytes(&mut out, &[9; 300]);
        write_text(&mut out, "dtn");
        write_uint(&mut out, 1 << 40);
        assert_eq!(
            out.len(),
            1 + string_len(300) + string_len(3) + uint_len(1 << 40)
        );
        let mut r = Reader::new(&out);
        let mut items = r.array().expect("array");
        assert!(items.next(&mut r).expect("1"));
        assert_eq!(r.bytes().map(|x| x.len()), Ok(300));
        assert!(items.next(&mut r).expect("2"));
        assert_eq!(r.text(), Ok("dtn"));
        assert!(items.next(&mut r).expect("3"));
        assert_eq!(r.uint(), Ok(1 << 40));
        assert!(!items.next(&mut r).expect("end"));
        assert!(r.all_shortest());
    }

    #[test]
    fn reader_never_panics_on_short_prefixes() {
        let bytes = hex("9f8a0700018201006247488202820102820103821b000000e8d4a510000119271043ff");
        for end in 0..bytes.len() {
            let mut r = Reader::new(&bytes[..end]);
            let _ = r.skip_item();
            let mut r = Reader::at(&bytes[..end], end + 10);
            assert_eq!(r.uint(), Err(Error::Truncated));
        }
    }
}

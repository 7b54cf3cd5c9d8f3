//! Block CRCs of BPv7 (RFC 9171 §4.2.1, §4.2.2): CRC-16/X-25 and CRC-32C (Castagnoli).
//!
//! A block's CRC covers the block's whole CBOR encoding, from its array head to its end
//! (including any break), with the CRC value bytes set to zero for the computation. The value
//! travels as a CBOR byte string of 2 or 4 bytes in network byte order. [`block_crc`] hashes the
//! received bytes as they are, never a re-encoding, so a valid but non-canonical block still
//! checks.
//!
//! No I/O, never panics.

use std::ops::Range;

use ::crc::{CRC_16_IBM_SDLC, CRC_32_ISCSI, Crc, Table};

/// CRC-16/X-25 is the catalogue's CRC-16/IBM-SDLC: poly 0x1021 reflected, init and xorout 0xffff.
static X25: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_SDLC);
/// CRC-32C is the catalogue's CRC-32/ISCSI. Slice-by-16: the payload dominates the cost.
static CASTAGNOLI: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

/// The CRC type of a block (RFC 9171 §4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CrcType {
    /// No CRC (wire value 0).
    None,
    /// CRC-16/X-25 (wire value 1).
    Crc16,
    /// CRC-32C (wire value 2).
    Crc32c,
}

impl CrcType {
    /// The CRC type for wire value `v`; `None` for the undefined values 3 and above.
    pub fn from_u64(v: u64) -> Option<CrcType> {
        match v {
            0 => Some(CrcType::None),
            1 => Some(CrcType::Crc16),
            2 => Some(CrcType::Crc32c),
            _ => None,
        }
    }

    /// The wire value: 0, 1 or 2.
    pub fn code(self) -> u64 {
        match self {
            CrcType::None => 0,
            CrcType::Crc16 => 1,
            CrcType::Crc32c => 2,
        }
    }

    /// Length in bytes of the CRC value: 0, 2 or 4.
    #[allow(clippy::len_without_is_empty)] // a CRC type has a length, not contents
    pub fn len(self) -> usize {
        match self {
            CrcType::None => 0,
            CrcType::Crc16 => 2,
            CrcType::Crc32c => 4,
        }
    }
}

/// CRC-16/X-25 of `data`.
pub fn crc16_x25(data: &[u8]) -> u16 {
    X25.checksum(data)
}

/// CRC-32C (Castagnoli) of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    CASTAGNOLI.checksum(data)
}

/// The CRC of `kind` over `block`, the whole encoding of one block, computed as if the bytes
/// in `value` (the CRC value, inside `block`) were zero (RFC 9171 §4.3.1, §4.3.2).
///
/// Returns 0 for [`CrcType::None`]. A `value` range outside `block` is clamped to it, so the
/// function never panics; callers pass the range the parser found.
pub fn block_crc(kind: CrcType, block: &[u8], value: Range<usize>) -> u32 {
    let end = value.end.min(block.len());
    let start = value.start.min(end);
    let (head, tail) = (&block[..start], &block[end..]);
    let zeros = [0u8; 4];
    let zeros = &zeros[..(end - start).min(4)];
    match kind {
        CrcType::None => 0,
        CrcType::Crc16 => {
            let mut d = X25.digest();
            d.update(head);
            d.update(zeros);
            d.update(tail);
            u32::from(d.finalize())
        }
        CrcType::Crc32c => {
            let mut d = CASTAGNOLI.digest();
            d.update(head);
            d.update(zeros);
            d.update(tail);
            d.finalize()
        }
    }
}

/// Writes `crc` into `dst` (2 or 4 bytes) in network byte order, as [`CrcType::len`] of
/// `kind` says; does nothing if `dst` has another length.
pub fn write_crc(kind: CrcType, crc: u32, dst: &mut [u8]) {
    match (kind, dst.len()) {
        (CrcType::Crc16, 2) => {
            // An X-25 value has 16 bits: the high half of `crc` is zero.
            dst.copy_from_slice(&crc.to_be_bytes()[2..]);
        }
        (CrcType::Crc32c, 4) => dst.copy_from_slice(&crc.to_be_bytes()),
        _ => {}
    }
}

/// Reads a CRC value of 2 or 4 bytes in network byte order; 0 for any other length.
pub fn read_crc(src: &[u8]) -> u32 {
    match *src {
        [a, b] => u32::from(u16::from_be_bytes([a, b])),
        [a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values() {
        // The catalogue "check" values: the CRC of the ASCII digits 1 to 9.
        assert_eq!(crc16_x25(b"123456789"), 0x906E);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn crc32c_rfc7143_vectors() {
        // RFC 7143 Appendix A.4 (the RFC 9171 §4.2.1 reference for CRC32C examples).
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
        let inc: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&inc), 0x46DD_794E);
        let dec: Vec<u8> = (0u8..32).rev().collect();
        assert_eq!(crc32c(&dec), 0x113F_DB5C);
    }

    #[test]
    fn type_codes() {
        for t in [CrcType::None, CrcType::Crc16, CrcType::Crc32c] {
            assert_eq!(CrcType::from_u64(t.code()), Some(t));
        }
        assert_eq!(CrcType::from_u64(3), None);
        assert_eq!(CrcType::from_u64(u64::MAX), None);
        assert_eq!(
            [CrcType::None, CrcType::Crc16, CrcType::Crc32c].map(CrcType::len),
            [0, 2, 4]
        );
    }

    #[test]
    fn block_crc_zeroes_the_value_bytes() {
        let mut block = b"\x86\x01\x01\x00\x01\x41\x00\x42\xaa\xbb".to_vec();
        let value = 8..10;
        let crc = block_crc(CrcType::Crc16, &block, value.clone());
        let mut zeroed = block.clone();
        zeroed[8..10].fill(0);
        assert_eq!(crc, u32::from(crc16_x25(&zeroed)));
        write_crc(CrcType::Crc16, crc, &mut block[value.clone()]);
        assert_eq!(read_crc(&block[value.clone()]), crc);
        assert_eq!(block_crc(CrcType::Crc16, &block, value), crc);

        let block = [1u8, 2, 3, 4, 5, 6, 7];
        let crc = block_crc(CrcType::Crc32c, &block, 3..7);
        assert_eq!(crc, crc32c(&[1, 2, 3, 0, 0, 0, 0]));
    }

    #[test]
    fn block_crc_never_panics_on_odd_ranges() {
        let block = [1u8, 2, 3];
        #[allow(clippy::reversed_empty_ranges)]
        for r in [0..0, 2..1, 5..9, 0..10, 3..3] {
            let _ = block_crc(CrcType::Crc32c, &block, r.clone());
            let _ = block_crc(CrcType::Crc16, &block, r);
        }
        assert_eq!(block_crc(CrcType::None, &block, 0..1), 0);
        assert_eq!(read_crc(&[1, 2, 3]), 0);
        let mut dst = [0u8; 3];
        write_crc(CrcType::Crc16, 0xffff, &mut dst);
        assert_eq!(dst, [0, 0, 0]);
    }
}

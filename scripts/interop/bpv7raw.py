"""Raw BPv7 helpers shared by the pyd3tn interop tests (scripts/interop/).

pyd3tn decodes a bundle into objects but (a) does not check CRCs, (b) recomputes a CRC by
re-encoding the parsed fields, so it only proves the CRC of the bytes on the wire if the
sender's encoding is the canonical one, and (c) refuses any block type outside its enum
(e.g. 193, ION's class-of-service block, which bpshim adds for a priority flag). So the tests
also look at the bytes themselves, with the small CBOR walker below (written from RFC 8949,
independent of both bpshim and pyd3tn): it splits a bundle into the exact byte span of each
block, and the CRC of each block is recomputed over that span with its CRC field zeroed
(RFC 9171 section 4.2.1), using pyd3tn's CRC-16/X.25 and CRC-32C functions.
"""
import time

from pyd3tn.crc import crc16_x25, crc32_c

UNIX_TO_DTN_OFFSET_S = 946684800  # 2000-01-01T00:00:00Z in Unix seconds


class Malformed(Exception):
    pass


def _head(buf, i):
    """Decode a CBOR head at i: (major, ai, value or None if indefinite, index after head)."""
    if i >= len(buf):
        raise Malformed(f"truncated at byte {i}")
    b = buf[i]
    major, ai = b >> 5, b & 31
    i += 1
    if ai < 24:
        return major, ai, ai, i
    if ai in (24, 25, 26, 27):
        n = 1 << (ai - 24)
        if i + n > len(buf):
            raise Malformed(f"truncated head at byte {i - 1}")
        return major, ai, int.from_bytes(buf[i:i + n], "big"), i + n
    if ai == 31:
        return major, ai, None, i
    raise Malformed(f"reserved additional info {ai} at byte {i - 1}")


def item_end(buf, i):
    """Index just after the CBOR data item starting at i."""
    major, ai, val, j = _head(buf, i)
    if major in (0, 1):
        if val is None:
            raise Malformed(f"indefinite integer at byte {i}")
        return j
    if major in (2, 3):
        if val is not None:
            if j + val > len(buf):
                raise Malformed(f"truncated string at byte {i}")
            return j + val
        while True:  # indefinite string: definite chunks up to 0xff
            if j >= len(buf):
                raise Malformed("truncated indefinite string")
            if buf[j] == 0xFF:
                return j + 1
            j = item_end(buf, j)
    if major == 4:
        if val is not None:
            for _ in range(val):
                j = item_end(buf, j)
            return j
        while True:
            if j >= len(buf):
                raise Malformed("truncated indefinite array")
            if buf[j] == 0xFF:
                return j + 1
            j = item_end(buf, j)
    if major == 5:
        if val is not None:
            for _ in range(2 * val):
                j = item_end(buf, j)
            return j
        while True:
            if j >= len(buf):
                raise Malformed("truncated indefinite map")
            if buf[j] == 0xFF:
                return j + 1
            j = item_end(buf, j)
    if major == 6:
        return item_end(buf, j)
    # major 7
    if ai == 31:
        raise Malformed(f"unexpected break at byte {i}")
    if ai in (24, 25, 26, 27):
        return j
    return j


def block_spans(buf):
    """Split a whole bundle into [(start, end)] byte spans, one per block.

    Raises Malformed unless buf is exactly one CBOR array (definite or indefinite) of
    at least two items and nothing follows it."""
    if not buf:
        raise Malformed("empty datagram")
    major, ai, val, j = _head(buf, 0)
    if major != 4:
        raise Malformed(f"bundle is not a CBOR array (first byte 0x{buf[0]:02x})")
    spans = []
    if val is None:
        while True:
            if j >= len(buf):
                raise Malformed("indefinite bundle array without break")
            if buf[j] == 0xFF:
                j += 1
                break
            e = item_end(buf, j)
            spans.append((j, e))
            j = e
    else:
        for _ in range(val):
            e = item_end(buf, j)
            spans.append((j, e))
            j = e
    if j != len(buf):
        raise Malformed(f"{len(buf) - j} bytes after the bundle")
    if len(spans) < 2:
        raise Malformed("fewer than two blocks")
    return spans


def block_crc(block_bytes, crc_type):
    """(provided, computed) CRC of one encoded block whose last item is its CRC field."""
    if crc_type == 1:
        n, hdr, fn = 2, 0x42, crc16_x25
    elif crc_type == 2:
        n, hdr, fn = 4, 0x44, crc32_c
    else:
        raise Malformed(f"bad CRC type {crc_type}")
    if len(block_bytes) < n + 1 or block_bytes[-n - 1] != hdr:
        raise Malformed(f"CRC field is not a {n}-byte byte string at the end of the block")
    provided = int.from_bytes(block_bytes[-n:], "big")
    computed = fn(bytes(block_bytes[:-n]) + b"\x00" * n)
    return provided, computed


def dtn_now_ms():
    return int(round((time.time() - UNIX_TO_DTN_OFFSET_S) * 1000))


def strip_blocks(buf, spans, keep):
    """Re-assemble a bundle from the blocks whose index is in keep (indefinite array)."""
    return b"\x9f" + b"".join(buf[s:e] for k, (s, e) in enumerate(spans) if k in keep) + b"\xff"

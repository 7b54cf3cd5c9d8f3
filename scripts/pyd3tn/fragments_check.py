#!/usr/bin/env python3
"""Cross-check helper for the engine's bundle fragmentation (RFC 9171 sections 5.8, 5.9),
built on pyd3tn (an independent implementation of RFC 9171). Driven by
engine/tests/fragment_pyd3tn.rs.

Usage:
  fragments_check.py DIR...
      Each DIR holds adu.bin (the original application data unit) and the fragments made
      from it, frag-NNNN.bin. For each DIR, every fragment is parsed with
      pyd3tn.bundle7.Bundle.parse and its CRCs are checked; the payloads are then put back
      together by offset, as RFC 9171 section 5.9 describes, and compared with adu.bin.
      Prints one line per DIR, tab-separated key=value fields:
        dir          the directory's name
        fragments    how many fragments were read
        crc_ok       1 if every block of every fragment carries the CRC pyd3tn computes
        flags_ok     1 if every fragment has the "is a fragment" flag (0x1), an offset and
                     a total ADU length
        same_id      1 if all fragments share source, creation timestamp and total length
        total        the total ADU length (of the first fragment)
        source       the source node ID (of the first fragment)
        creation     creation time and sequence number, "time.seq" (of the first fragment)
        pieces       per fragment in file-name order, "offset:length:block types" with the
                     extension block types comma-separated in wire order; ";" between them
        reassembled  1 if the payloads cover the total length and equal adu.bin
      A fragment pyd3tn cannot parse gives the line "DIR<TAB>error=...".

pyd3tn 0.15.2 quirks handled here (as in bundle7_check.py):
  * Bundle.parse does not check CRCs: crc_ok compares calculate_crc() with the CRC carried.
  * CanonicalBlock.from_cbor maps block types through an IntEnum of the five RFC types and
    so refuses unknown types, which RFC 9171 section 4.4 says to keep; the enum is widened.
  * Bundle.parse moves a previous node block to the front of the extension blocks: block
    types are listed in the order of the block numbers' appearance on the wire, read with
    cbor2 directly.
"""

import os
import sys
from enum import IntEnum

import cbor2
from pyd3tn import bundle7
from pyd3tn.bundle7 import Bundle, CRCType

IS_FRAGMENT = 0x1


class _BlockType(IntEnum):
    """pyd3tn's BlockType plus pseudo-members for every other non-negative type code."""

    PRIMARY = -1
    PAYLOAD = 1
    PREVIOUS_NODE = 6
    BUNDLE_AGE = 7
    HOP_COUNT = 10

    @classmethod
    def _missing_(cls, value):
        if isinstance(value, int) and value >= 0:
            member = int.__new__(cls, value)
            member._name_ = f"UNKNOWN_{value}"
            member._value_ = value
            return member
        return None


bundle7.BlockType = _BlockType


def _crc_ok(block):
    if block.crc_type == CRCType.NONE:
        return True
    return block.calculate_crc() == block.crc_provided


def check_dir(path):
    name = os.path.basename(path.rstrip("/"))
    with open(os.path.join(path, "adu.bin"), "rb") as f:
        adu = f.read()
    files = sorted(n for n in os.listdir(path) if n.startswith("frag-"))
    bundles = []
    wire_types = []
    for n in files:
        with open(os.path.join(path, n), "rb") as f:
            raw = f.read()
        try:
            bundles.append(Bundle.parse(raw))
        except Exception as exc:  # report, keep going: the Rust side fails the test
            return f"{name}\terror={n}: {type(exc).__name__}: {exc}"
        # Extension block types in wire order (Bundle.parse reorders previous node blocks).
        wire_types.append([int(b[0]) for b in cbor2.loads(raw)[1:-1]])

    crc_ok = flags_ok = same_id = True
    first = bundles[0].primary_block
    total = first.total_payload_length
    ident = (str(first.source), tuple(first.creation_time), total)
    buf = bytearray(total if isinstance(total, int) else 0)
    covered = bytearray(len(buf))
    pieces = []
    for bundle, types in zip(bundles, wire_types):
        p = bundle.primary_block
        crc_ok &= all(_crc_ok(b) for b in [p] + list(bundle)[1:])
        offset, length = p.fragment_offset, p.total_payload_length
        flags_ok &= (
            int(p.bundle_proc_flags) & IS_FRAGMENT != 0
            and isinstance(offset, int)
            and isinstance(length, int)
        )
        same_id &= (str(p.source), tuple(p.creation_time), length) == ident
        data = bytes(bundle.payload_block.data)
        if isinstance(offset, int) and offset + len(data) <= len(buf):
            buf[offset:offset + len(data)] = data
            covered[offset:offset + len(data)] = b"\x01" * len(data)
        pieces.append(f"{offset}:{len(data)}:{','.join(str(t) for t in types)}")
    reassembled = covered.count(0) == 0 and bytes(buf) == adu
    fields = {
        "fragments": len(bundles),
        "crc_ok": int(crc_ok),
        "flags_ok": int(flags_ok),
        "same_id": int(same_id),
        "total": total,
        "source": str(first.source),
        "creation": f"{int(first.creation_time[0])}.{int(first.creation_time[1])}",
        "pieces": ";".join(pieces),
        "reassembled": int(reassembled),
    }
    return name + "".join(f"\t{k}={v}" for k, v in fields.items())


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    for path in argv[1:]:
        print(check_dir(path), flush=True)


if __name__ == "__main__":
    main(sys.argv)

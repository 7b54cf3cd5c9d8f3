#!/usr/bin/env python3
"""Cross-check helper for the engine's BPv7 codec, built on pyd3tn (an independent
implementation of RFC 9171). Driven by engine/tests/wire_pyd3tn.rs.

Usage:
  bundle7_check.py parse
      Reads hex-encoded bundles from stdin, one per line. For each, prints one line of JSON
      with the fields pyd3tn.bundle7.Bundle.parse decodes, or {"error": "..."}.
  bundle7_check.py generate COUNT SEED
      Builds COUNT random bundles with pyd3tn's classes. For each, prints the bundle's hex,
      a tab, and one line of JSON with the fields it was built with.

JSON keys (flat; integers, strings, booleans, null):
  flags, primary_crc, destination, source, report_to, creation_time, creation_seq,
  lifetime_ms, fragment_offset, total_adu_len, payload (hex), crc_ok, priority,
  blocks ("type/number/flags/crc/datahex" per canonical block, space-separated, wire order).

pyd3tn 0.15.2 quirks handled here:
  * Bundle.parse does not check CRCs: crc_ok compares calculate_crc() with the CRC carried.
  * CanonicalBlock.from_cbor maps block types through an IntEnum of the five RFC types and
    so refuses unknown types, which RFC 9171 section 4.4 says to keep; the enum is widened.
  * Its BundleProcFlag.REPORT_DELETION is 0x400000 (RFC 9171: 0x040000) and its
    BlockProcFlag swaps the "report" (RFC: 0x02) and "delete" (0x04) bits and calls 0x02
    "discard": only plain integers are used for flags here.
"""

import json
import random
import sys
from datetime import timedelta
from enum import IntEnum

import cbor2
from pyd3tn import bundle7
from pyd3tn.bundle7 import (
    Bundle,
    BundleAgeBlock,
    CanonicalBlock,
    CRCType,
    CreationTimestamp,
    HopCountBlock,
    PayloadBlock,
    PreviousNodeBlock,
    PrimaryBlock,
)
from pyd3tn.helpers import DTN_EPOCH


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

IS_FRAGMENT = 0x1
ADMIN_RECORD = 0x2
MUST_NOT_FRAGMENT = 0x4
STATUS_REPORTS = 0x4000 | 0x10000 | 0x20000 | 0x40000
BLOCK_REPORT = 0x02  # RFC 9171 4.2.4 "transmit status report if block can't be processed"
CLASS_OF_SERVICE = 193


def _crc_ok(block):
    if block.crc_type == CRCType.NONE:
        return True
    return block.calculate_crc() == block.crc_provided


def _priority(blocks):
    for blk in blocks:
        if int(blk.block_type) == CLASS_OF_SERVICE:
            try:
                qos = cbor2.loads(blk.data)
                prio = qos[1]
            except Exception:  # malformed block: no priority, as in the engine
                return None
            return prio if isinstance(prio, int) and 0 <= prio <= 2 else None
    return None


def _describe(bundle):
    """The JSON fields of a pyd3tn Bundle object."""
    primary = bundle.primary_block
    blocks = list(bundle)[1:]
    return {
        "flags": int(primary.bundle_proc_flags),
        "primary_crc": int(primary.crc_type),
        "destination": str(primary.destination),
        "source": str(primary.source),
        "report_to": str(primary.report_to),
        "creation_time": int(primary.creation_time[0]),
        "creation_seq": int(primary.creation_time[1]),
        "lifetime_ms": int(primary.lifetime),
        "fragment_offset": primary.fragment_offset,
        "total_adu_len": primary.total_payload_length,
        "payload": bytes(bundle.payload_block.data).hex(),
        "crc_ok": all(_crc_ok(b) for b in [primary] + blocks),
        "priority": _priority(blocks),
        "blocks": " ".join(
            f"{int(b.block_type)}/{int(b.block_number)}/{int(b.block_proc_flags)}"
            f"/{int(b.crc_type)}/{bytes(b.data).hex()}"
            for b in blocks
        ),
    }


def cmd_parse():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            fields = _describe(Bundle.parse(bytes.fromhex(line)))
        except Exception as exc:  # report, keep going: the Rust side fails the test
            fields = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(fields, sort_keys=True), flush=True)


def _random_eid(rng, allow_null=True, allow_ipn_zero=False):
    kinds = ["ipn", "ipn", "dtn"] + (["null"] if allow_null else [])
    kinds += ["ipn0"] if allow_ipn_zero else []
    kind = rng.choice(kinds)
    if kind == "null":
        return "dtn:none"
    if kind == "ipn0":
        return f"ipn:0.{rng.randint(1, 2**16)}"
    if kind == "ipn":
        node, service = _random_uint(rng), _random_uint(rng)
        # ipn:0.0 is the null endpoint (RFC 9758): spell it as such so the flag rules apply.
        if node == 0 and service == 0:
            return "dtn:none" if allow_null else "ipn:1.0"
        return f"ipn:{node}.{service}"
    node = "".join(rng.choice("abcdefghij.-") for _ in range(rng.randint(1, 12)))
    demux = "".join(rng.choice("abcxyz/~_-0123") for _ in range(rng.randint(0, 20)))
    return f"dtn://n{node}/{demux}"


def _random_uint(rng):
    return rng.choice([rng.randrange(24), rng.randrange(256), rng.randrange(2**16),
                       rng.randrange(2**32), rng.randrange(2**64)])


def _random_crc(rng):
    return rng.choice([CRCType.NONE, CRCType.CRC16, CRCType.CRC32])


def _generate_one(rng):
    source = _random_eid(rng)
    anonymous = source == "dtn:none"
    flags = 0
    for bit in [MUST_NOT_FRAGMENT, 0x20, 0x40, 0x4000, 0x10000, 0x20000, 0x40000,
                0x8, 0x80, 1 << 20, 1 << 40]:
        if rng.random() < 0.3:
            flags |= bit
    if rng.random() < 0.1:
        flags |= ADMIN_RECORD
    if anonymous or flags & ADMIN_RECORD:
        flags &= ~STATUS_REPORTS
    if anonymous:
        flags |= MUST_NOT_FRAGMENT  # RFC 9171 4.2.3

    payload = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 5, 24, 300, 70000])))
    fragment_offset = total = None
    if rng.random() < 0.3:
        flags |= IS_FRAGMENT
        fragment_offset = rng.randrange(2**40)
        total = fragment_offset + len(payload) + rng.randrange(1000)

    with_age = rng.random() < 0.4
    time_ms = 0 if (with_age and rng.random() < 0.5) else rng.randrange(1, 2**41)
    creation = CreationTimestamp(DTN_EPOCH + timedelta(milliseconds=time_ms),
                                 _random_uint(rng))
    if time_ms == 0:
        creation = CreationTimestamp(0, creation[1])

    primary = PrimaryBlock(
        bundle_proc_flags=flags,
        crc_type=_random_crc(rng),
        destination=_random_eid(rng, allow_null=False),
        source=source,
        report_to=_random_eid(rng, allow_ipn_zero=True),
        creation_time=creation,
        lifetime=_random_uint(rng),
        fragment_offset=fragment_offset,
        total_payload_length=total,
    )

    def block_flags():
        f = rng.choice([0, 0x01, 0x04, 0x10, 0x11, 0x20])
        if not anonymous and not flags & ADMIN_RECORD and rng.random() < 0.2:
            f |= BLOCK_REPORT
        return f

    blocks = []
    if rng.random() < 0.4:
        blocks.append(HopCountBlock(rng.randint(1, 255), rng.randrange(256),
                                    crc_type=_random_crc(rng), block_proc_flags=block_flags()))
    if rng.random() < 0.4:
        blocks.append(PreviousNodeBlock(_random_eid(rng, allow_null=False),
                                        crc_type=_random_crc(rng),
                                        block_proc_flags=block_flags()))
    if with_age:
        # pyd3tn takes seconds and stores int(age * 1000) milliseconds.
        blocks.append(BundleAgeBlock(rng.randrange(10**6) / 1000,
                                     crc_type=_random_crc(rng), block_proc_flags=block_flags()))
    if rng.random() < 0.4:
        qos = [rng.randrange(128), rng.randrange(3), rng.randrange(255), rng.randrange(2**32)]
        blocks.append(CanonicalBlock(CLASS_OF_SERVICE, cbor2.dumps(qos),
                                     crc_type=_random_crc(rng), block_proc_flags=block_flags()))
    if rng.random() < 0.4:
        unknown = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        blocks.append(CanonicalBlock(rng.choice([8, 11, 12, 192, 200, 255, 1000]), unknown,
                                     crc_type=_random_crc(rng), block_proc_flags=block_flags()))
    rng.shuffle(blocks)

    bundle = Bundle(primary,
                    PayloadBlock(payload, crc_type=_random_crc(rng),
                                 block_proc_flags=block_flags()),
                    blocks)
    raw = bytes(bundle)
    fields = _describe(bundle)
    # A built block carries no CRC value yet: check the CRCs of the serialized bytes instead.
    fields["crc_ok"] = _describe(Bundle.parse(raw))["crc_ok"]
    return raw.hex(), fields


def cmd_generate(count, seed):
    rng = random.Random(seed)
    for _ in range(count):
        hexed, fields = _generate_one(rng)
        print(f"{hexed}\t{json.dumps(fields, sort_keys=True)}", flush=True)


def main(argv):
    if len(argv) == 2 and argv[1] == "parse":
        cmd_parse()
    elif len(argv) == 4 and argv[1] == "generate":
        cmd_generate(int(argv[2]), int(argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

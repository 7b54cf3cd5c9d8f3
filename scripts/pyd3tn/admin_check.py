#!/usr/bin/env python3
"""Cross-check helper for the engine's administrative records (RFC 9171 section 6.1) and
forwarding edits (sections 4.4, 5.4), built on pyd3tn (an independent BPv7 implementation).
Driven by engine/tests/admin_pyd3tn.rs.

Usage:
  admin_check.py parse-reports
      Reads hex-encoded status report bundles from stdin, one per line. For each, prints one
      line of JSON: the bundle fields and the status report as pyd3tn's BundleStatusReport
      decodes the payload, or {"error": "..."}.
  admin_check.py generate-reports COUNT SEED
      Builds COUNT random status report bundles with pyd3tn's BundleStatusReport (directly or
      through BundleStatusReport.from_bundle). For each, prints the bundle's hex, a tab, and
      one line of JSON with the fields (same keys as parse-reports).
  admin_check.py parse-bundles
      Reads hex-encoded bundles from stdin, one per line. For each, prints one line of JSON
      with the extension block values pyd3tn decodes, or {"error": "..."}.
  admin_check.py generate-bundles COUNT SEED
      Prints COUNT random bundles built by pyd3tn with previous node, bundle age, hop count,
      class-of-service and unknown blocks, as hex, one per line.

JSON keys (flat; integers, strings, booleans, null):
  parse-reports / generate-reports: flags, primary_crc, destination, source, report_to,
    creation_time, creation_seq, lifetime_ms, crc_ok, blocks, record_type, received,
    forwarded, delivered, deleted (booleans), received_time, forwarded_time, delivered_time,
    deleted_time, reason, subject_source, subject_creation_time, subject_creation_seq,
    subject_fragment_offset, subject_payload_length.
  parse-bundles: flags, creation_time, creation_seq, crc_ok, blocks, payload (hex),
    hop_limit, hop_count, previous_node, age_ms.
  blocks: "type/number/flags/crc" per canonical block before the payload, in wire order.

pyd3tn 0.15.2 quirks handled here:
  * Bundle.parse does not check CRCs: crc_ok compares calculate_crc() with the CRC carried.
  * Bundle.parse moves a previous node block to the front: block lists come from the raw
    CBOR array, in wire order.
  * CanonicalBlock.from_cbor refuses block types outside its five-member enum; the enum is
    widened (as in bundle7_check.py).
  * BundleStatusReport writes status times in seconds since the DTN epoch (RFC 9171: DTN
    time, milliseconds) and puts the subject's total ADU length where RFC 9171 section 6.1.1
    has the subject's payload length. Values are compared as the integers on the wire.
  * Its REPORT_DELETION and block flag constants are wrong: plain integers are used.
"""

import json
import random
import sys
from datetime import timedelta
from enum import IntEnum

import cbor2
from pyd3tn import bundle7
from pyd3tn.bundle7 import (
    EID,
    Bundle,
    BundleAgeBlock,
    BundleStatusReport,
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
STATUS_TIME = 0x40
# StatusCode bits of BundleStatusReport's "infos" argument, in wire order.
INFO_BITS = [0x01, 0x04, 0x08, 0x10]
KINDS = ["received", "forwarded", "delivered", "deleted"]


def _crc_ok(block):
    if block.crc_type == CRCType.NONE:
        return True
    return block.calculate_crc() == block.crc_provided


def _bundle_fields(raw):
    """Fields common to both parse commands, from the bundle bytes."""
    items = cbor2.loads(raw)
    bundle = Bundle.parse(raw)
    primary = bundle.primary_block
    blocks = [CanonicalBlock.from_cbor(e) for e in items[1:]]
    return bundle, {
        "flags": int(primary.bundle_proc_flags),
        "creation_time": int(primary.creation_time[0]),
        "creation_seq": int(primary.creation_time[1]),
        "crc_ok": all(_crc_ok(b) for b in [primary] + blocks),
        "blocks": " ".join(
            f"{int(b.block_type)}/{int(b.block_number)}/{int(b.block_proc_flags)}"
            f"/{int(b.crc_type)}"
            for b in blocks[:-1]
        ),
    }


def _report_fields(primary, report, crc_ok, blocks):
    """The JSON fields of a status report bundle: its primary block and its report."""
    fields = {
        "flags": int(primary.bundle_proc_flags),
        "primary_crc": int(primary.crc_type),
        "destination": str(primary.destination),
        "source": str(primary.source),
        "report_to": str(primary.report_to),
        "creation_time": int(primary.creation_time[0]),
        "creation_seq": int(primary.creation_time[1]),
        "lifetime_ms": int(primary.lifetime),
        "crc_ok": crc_ok,
        "blocks": blocks,
        "record_type": int(report.record_type_code),
        "reason": int(report.reason_code),
        "subject_source": str(EID(report.subject_source_eid)),
        "subject_creation_time": int(report.subject_creation_timestamp[0]),
        "subject_creation_seq": int(report.subject_creation_timestamp[1]),
        "subject_fragment_offset": report.subject_fragment_offset,
        "subject_payload_length": report.subject_total_payload_length,
    }
    for kind in KINDS:
        fields[kind] = bool(getattr(report, f"is_{kind}"))
        fields[f"{kind}_time"] = getattr(report, f"{kind}_time")
    return fields


def cmd_parse_reports():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            raw = bytes.fromhex(line)
            bundle, common = _bundle_fields(raw)
            report = BundleStatusReport.from_cbor(cbor2.loads(bundle.payload_block.data))
            fields = _report_fields(bundle.primary_block, report, common["crc_ok"],
                                    common["blocks"])
        except Exception as exc:  # report, keep going: the Rust side fails the test
            fields = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(fields, sort_keys=True), flush=True)


def _random_uint(rng):
    return rng.choice([rng.randrange(24), rng.randrange(256), rng.randrange(2**16),
                       rng.randrange(2**32), rng.randrange(2**64)])


def _random_crc(rng):
    return rng.choice([CRCType.NONE, CRCType.CRC16, CRCType.CRC32])


def _random_eid(rng):
    kind = rng.choice(["ipn", "ipn", "dtn"])
    if kind == "ipn":
        return f"ipn:{rng.randrange(1, 2**64)}.{_random_uint(rng)}"
    node = "".join(rng.choice("abcdefghij.-") for _ in range(rng.randint(1, 12)))
    demux = "".join(rng.choice("abcxyz/~_-0123") for _ in range(rng.randint(0, 20)))
    return f"dtn://n{node}/{demux}"


def _timestamp(rng, allow_zero=False):
    if allow_zero and rng.random() < 0.3:
        return CreationTimestamp(0, _random_uint(rng))
    # pyd3tn converts DTN time through a float of Unix seconds: exact up to about 2^41 ms.
    ms = rng.randrange(1, 2**41)
    return CreationTimestamp(DTN_EPOCH + timedelta(milliseconds=ms), _random_uint(rng))


def _generate_report(rng):
    infos = 0
    for bit in INFO_BITS:
        if rng.random() < 0.4:
            infos |= bit
    reason = rng.choice(list(range(12)) + [12, 16, 255, 1000, 2**40])
    time = None
    if rng.random() < 0.5:
        time = DTN_EPOCH + timedelta(seconds=rng.randrange(2**32))
    if rng.random() < 0.5:
        # From a subject bundle built by pyd3tn.
        fragment = rng.random() < 0.4
        flags = STATUS_TIME if time is not None else 0
        offset = total = None
        if fragment:
            flags |= IS_FRAGMENT
            offset = rng.randrange(2**40)
            total = offset + 10 + rng.randrange(1000)
        subject = Bundle(
            PrimaryBlock(bundle_proc_flags=flags, destination=_random_eid(rng),
                         source=_random_eid(rng), report_to=_random_eid(rng),
                         creation_time=_timestamp(rng), fragment_offset=offset,
                         total_payload_length=total),
            PayloadBlock(b"0123456789"),
        )
        report = BundleStatusReport.from_bundle(infos, reason, subject, time=time)
    else:
        creation = [_random_uint(rng), _random_uint(rng)]
        offset = total = None
        if rng.random() < 0.4:
            offset, total = _random_uint(rng), _random_uint(rng)
        report = BundleStatusReport(infos, reason, EID(_random_eid(rng)), creation,
                                    offset, total, time=time)
    report.crc_type = _random_crc(rng)
    primary = PrimaryBlock(
        bundle_proc_flags=ADMIN_RECORD | rng.choice([0, MUST_NOT_FRAGMENT]),
        crc_type=_random_crc(rng),
        destination=_random_eid(rng),
        source=f"ipn:{rng.randrange(1, 2**32)}.0",
        report_to=rng.choice(["dtn:none", _random_eid(rng)]),
        creation_time=_timestamp(rng),
        lifetime=_random_uint(rng),
    )
    raw = bytes(Bundle(primary, report))
    # Fields as pyd3tn reads its own bytes back (CRC values exist only once serialized).
    _, common = _bundle_fields(raw)
    fields = _report_fields(primary, report, common["crc_ok"], common["blocks"])
    return raw.hex(), fields


def cmd_generate_reports(count, seed):
    rng = random.Random(seed)
    for _ in range(count):
        hexed, fields = _generate_report(rng)
        print(f"{hexed}\t{json.dumps(fields, sort_keys=True)}", flush=True)


def cmd_parse_bundles():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            raw = bytes.fromhex(line)
            bundle, fields = _bundle_fields(raw)
            fields.update(hop_limit=None, hop_count=None, previous_node=None, age_ms=None)
            for blk in bundle.blocks:
                # Only the data of these three types is CBOR by definition.
                if blk.block_type == _BlockType.HOP_COUNT:
                    fields["hop_limit"], fields["hop_count"] = cbor2.loads(blk.data)
                elif blk.block_type == _BlockType.PREVIOUS_NODE:
                    fields["previous_node"] = str(EID.from_cbor(cbor2.loads(blk.data)))
                elif blk.block_type == _BlockType.BUNDLE_AGE:
                    fields["age_ms"] = cbor2.loads(blk.data)
            fields["payload"] = bytes(bundle.payload_block.data).hex()
        except Exception as exc:  # report, keep going: the Rust side fails the test
            fields = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(fields, sort_keys=True), flush=True)


def _generate_bundle(rng):
    creation = _timestamp(rng, allow_zero=True)
    with_age = creation[0] == 0 or rng.random() < 0.4
    primary = PrimaryBlock(
        bundle_proc_flags=rng.choice([0, MUST_NOT_FRAGMENT, 0x20, 0x4000 | 0x10000]),
        crc_type=_random_crc(rng),
        destination=_random_eid(rng),
        source=_random_eid(rng),
        report_to=_random_eid(rng),
        creation_time=creation,
        lifetime=_random_uint(rng),
    )

    def opts():
        return {"crc_type": _random_crc(rng),
                "block_proc_flags": rng.choice([0, 0x01, 0x10, 0x11])}

    blocks = []
    if rng.random() < 0.6:
        limit = rng.randint(1, 255)
        blocks.append(HopCountBlock(limit, rng.randrange(limit), **opts()))
    if rng.random() < 0.5:
        blocks.append(PreviousNodeBlock(_random_eid(rng), **opts()))
    if with_age:
        # pyd3tn takes seconds and stores int(age * 1000) milliseconds.
        blocks.append(BundleAgeBlock(rng.randrange(10**6) / 1000, **opts()))
    if rng.random() < 0.4:
        qos = [0, rng.randrange(3), 0, 0]
        blocks.append(CanonicalBlock(193, cbor2.dumps(qos), **opts()))
    for _ in range(rng.randrange(3)):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(30)))
        blocks.append(CanonicalBlock(rng.choice([8, 12, 192, 200, 1000]), data, **opts()))
    rng.shuffle(blocks)
    payload = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 40, 3000])))
    bundle = Bundle(primary, PayloadBlock(payload, crc_type=_random_crc(rng)), blocks)
    return bytes(bundle).hex()


def cmd_generate_bundles(count, seed):
    rng = random.Random(seed)
    for _ in range(count):
        print(_generate_bundle(rng), flush=True)


def main(argv):
    if len(argv) == 2 and argv[1] == "parse-reports":
        cmd_parse_reports()
    elif len(argv) == 4 and argv[1] == "generate-reports":
        cmd_generate_reports(int(argv[2]), int(argv[3]))
    elif len(argv) == 2 and argv[1] == "parse-bundles":
        cmd_parse_bundles()
    elif len(argv) == 4 and argv[1] == "generate-bundles":
        cmd_generate_bundles(int(argv[2]), int(argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

#!/usr/bin/env python3
"""Decode bundles built by bpshim with pyd3tn and check them (test_pyd3tn_decode.sh).

    pyd3tn_decode.py --port PORT --dir DIR [--deadline SECONDS]

Plays the next hop of node ipn:10 on UDP 127.0.0.1:PORT (one bundle per datagram, as
bpshim's UDP convergence layer sends them). Before listening it writes, into DIR:
  - one file per binary ADU case (case_<name>.bin), and DIR/sendfile.args: the
    FLAGS:FILE arguments for c-tests/bin/interop_sendfile, one per line;
  - DIR/bpsend.text: the text that the shell script sends with c-tests/bin/bpsend
    (bpsend always sends with MSG_ACK_REQUESTED).
It then prints READY, receives one datagram per case (in any order; each case's ADU is
distinct, so a datagram is matched to its case by its payload) until all have arrived or
the deadline passes, waits 0.5 s more for unexpected extra datagrams, and checks each
bundle (see check_bundle). Prints one PASS/FAIL line per check group and per case, and
exits 0 only if everything passed.
"""
import argparse
import os
import random
import socket
import sys
import time

from pyd3tn.bundle7 import Bundle, BlockType, CRCType
import cbor2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpv7raw  # noqa: E402

SRC = "ipn:10.2"
DST = "ipn:20.1"
LIFETIME_MS = 86400 * 1000

# bp_socket.h send flags
MSG_ACK_REQUESTED = 0x1
MSG_RECEIVED_RPT = 0x2
MSG_CUSTODY_RPT = 0x4
MSG_FORWARDED_RPT = 0x8
MSG_DELIVERED_RPT = 0x10
MSG_DELETED_RPT = 0x20
MSG_BP_BULK_PRIORITY = 0x100
MSG_BP_STD_PRIORITY = 0x200
MSG_BP_EXPEDITED_PRIORITY = 0x400
MSG_SOURCE_CUSTODY_REQUIRED = 0x1000

# RFC 9171 section 4.2.3 bundle processing control flags
F_ACK = 0x20
F_RECEPTION = 0x4000
F_FORWARDING = 0x10000
F_DELIVERY = 0x20000
F_DELETION = 0x40000

KNOWN_TYPES = {int(t) for t in BlockType if int(t) > 0}


def cases():
    """(name, adu bytes, send flags, expected bundle processing flags, sent by)"""
    rnd = random.Random(9171)
    text = b"hello from bpshim to pyd3tn"
    return [
        ("text_bpsend", text, MSG_ACK_REQUESTED, F_ACK, "bpsend"),
        ("one_byte_plain", b"\xa5", 0, 0, "sendfile"),
        ("bin1000_all_reports", bytes(rnd.getrandbits(8) for _ in range(1000)),
         MSG_RECEIVED_RPT | MSG_FORWARDED_RPT | MSG_DELIVERED_RPT | MSG_DELETED_RPT,
         F_RECEPTION | F_FORWARDING | F_DELIVERY | F_DELETION, "sendfile"),
        ("bin300_custody_flags", bytes(range(256)) + bytes(range(44)),
         MSG_CUSTODY_RPT | MSG_SOURCE_CUSTODY_REQUIRED, 0, "sendfile"),
        ("bin16k_bulk", bytes(rnd.getrandbits(8) for _ in range(16384)),
         MSG_BP_BULK_PRIORITY, 0, "sendfile"),
        ("bin60000_ack_expedited", bytes(rnd.getrandbits(8) for _ in range(60000)),
         MSG_ACK_REQUESTED | MSG_BP_EXPEDITED_PRIORITY, F_ACK, "sendfile"),
    ]


class Checker:
    def __init__(self, fail_word="FAIL"):
        self.failures = 0
        self.fail_word = fail_word

    def fail(self, case, what):
        self.failures += 1
        print(f"{self.fail_word} {case}: {what}", flush=True)


def check_bundle(ck, name, data, adu, want_flags, t_start_ms, t_end_ms, seen_ids):
    before = ck.failures
    # ---- raw structure and CRCs of every block, on the bytes as received
    try:
        spans = bpv7raw.block_spans(data)
    except bpv7raw.Malformed as e:
        ck.fail(name, f"malformed bundle: {e}")
        return
    blocks_raw = []
    for k, (s, e) in enumerate(spans):
        try:
            arr = cbor2.loads(data[s:e])
        except Exception as ex:  # noqa: BLE001
            ck.fail(name, f"block {k} is not valid CBOR: {ex}")
            return
        if not isinstance(arr, list):
            ck.fail(name, f"block {k} is not a CBOR array")
            return
        blocks_raw.append(arr)
    prim = blocks_raw[0]
    if len(prim) < 8:
        ck.fail(name, f"primary block has {len(prim)} items, want >= 8")
        return
    crc_types = [prim[2]] + [b[3] if len(b) >= 5 else None for b in blocks_raw[1:]]
    for k, (s, e) in enumerate(spans):
        ct = crc_types[k]
        label = "primary block" if k == 0 else f"block {k} (type {blocks_raw[k][0]})"
        if ct != 2:
            ck.fail(name, f"{label}: CRC type {ct}, want 2 (CRC-32C)")
            continue
        try:
            provided, computed = bpv7raw.block_crc(data[s:e], ct)
        except bpv7raw.Malformed as ex:
            ck.fail(name, f"{label}: {ex}")
            continue
        if provided != computed:
            ck.fail(name, f"{label}: CRC-32C on the wire 0x{provided:08x}, "
                          f"recomputed over the received bytes 0x{computed:08x}")
    # raw primary fields (exact integers, no float conversion)
    if prim[0] != 7:
        ck.fail(name, f"version {prim[0]}, want 7")
    if prim[1] & 0x1:
        ck.fail(name, "bundle is a fragment")
    if prim[7] != LIFETIME_MS:
        ck.fail(name, f"lifetime {prim[7]} ms, want {LIFETIME_MS} ms (86400 s)")
    ts = prim[6]
    if not (isinstance(ts, list) and len(ts) == 2):
        ck.fail(name, f"creation timestamp {ts!r} is not [time, seq]")
    else:
        if not (t_start_ms - 5000 <= ts[0] <= t_end_ms + 5000):
            ck.fail(name, f"creation time {ts[0]} ms DTN time, not within 5 s of the run "
                          f"[{t_start_ms}, {t_end_ms}] (now - creation = "
                          f"{(t_end_ms - ts[0]) / 1000:.1f} s)")
        bid = (repr(prim[4]), ts[0], ts[1])
        if bid in seen_ids:
            ck.fail(name, f"bundle ID (source, creation {ts}) repeats {seen_ids[bid]}")
        seen_ids[bid] = name
    # block numbers: primary none, payload 1, the others unique and > 1
    numbers = [b[1] for b in blocks_raw[1:]]
    if len(set(numbers)) != len(numbers):
        ck.fail(name, f"duplicate block numbers {numbers}")
    last = blocks_raw[-1]
    if last[0] != 1 or last[1] != 1:
        ck.fail(name, f"last block is type {last[0]} number {last[1]}, want payload (1, 1)")
    for b in blocks_raw[1:-1]:
        if b[0] == 1 or b[1] <= 1:
            ck.fail(name, f"extension block type {b[0]} number {b[1]} (want type != 1, number > 1)")
    unknown = [k for k, b in enumerate(blocks_raw) if k > 0 and b[0] not in KNOWN_TYPES]
    for k in unknown:
        print(f"INFO {name}: block {k} type {blocks_raw[k][0]} data {blocks_raw[k][4].hex()} "
              f"(pyd3tn has no class for it; checked on the raw bytes only)", flush=True)

    # ---- pyd3tn decode (blocks of types unknown to pyd3tn removed first)
    to_parse = data
    if unknown:
        to_parse = bpv7raw.strip_blocks(data, spans,
                                        {k for k in range(len(spans)) if k not in unknown})
    try:
        b = Bundle.parse(to_parse)
    except Exception as ex:  # noqa: BLE001
        ck.fail(name, f"pyd3tn Bundle.parse raised {type(ex).__name__}: {ex}")
        return
    p = b.primary_block
    if p.version != 7:
        ck.fail(name, f"pyd3tn: version {p.version}")
    if str(p.source) != SRC:
        ck.fail(name, f"pyd3tn: source {p.source}, want {SRC}")
    if str(p.destination) != DST:
        ck.fail(name, f"pyd3tn: destination {p.destination}, want {DST}")
    if str(p.report_to) != SRC:
        ck.fail(name, f"pyd3tn: report-to {p.report_to}, want {SRC} (= source)")
    if int(p.bundle_proc_flags) != want_flags:
        ck.fail(name, f"pyd3tn: bundle processing flags 0x{int(p.bundle_proc_flags):x}, "
                      f"want 0x{want_flags:x}")
    if p.lifetime != LIFETIME_MS:
        ck.fail(name, f"pyd3tn: lifetime {p.lifetime} ms, want {LIFETIME_MS}")
    if p.crc_type != CRCType.CRC32:
        ck.fail(name, f"pyd3tn: primary CRC type {p.crc_type!r}, want CRC32 (CRC-32C)")
    else:
        c = p.calculate_crc()
        if c != p.crc_provided:
            ck.fail(name, f"pyd3tn: primary block CRC provided 0x{p.crc_provided:08x}, "
                          f"pyd3tn computes 0x{c:08x}")
    if p.creation_time[0] != ts[0]:
        ck.fail(name, f"pyd3tn: creation time {p.creation_time[0]} != raw {ts[0]}")
    pl = b.payload_block
    if pl.block_type != BlockType.PAYLOAD or pl.block_number != 1:
        ck.fail(name, f"pyd3tn: payload block type {pl.block_type} number {pl.block_number}")
    if pl.crc_type != CRCType.CRC32:
        ck.fail(name, f"pyd3tn: payload CRC type {pl.crc_type!r}, want CRC32 (CRC-32C)")
    else:
        c = pl.calculate_crc()
        if c != pl.crc_provided:
            ck.fail(name, f"pyd3tn: payload block CRC provided 0x{pl.crc_provided:08x}, "
                          f"pyd3tn computes 0x{c:08x}")
    for blk in b.blocks:
        if blk.crc_type != CRCType.NONE and blk.calculate_crc() != blk.crc_provided:
            ck.fail(name, f"pyd3tn: block {blk.block_number} CRC mismatch")
    if pl.data != adu:
        first = next((i for i in range(min(len(pl.data), len(adu))) if pl.data[i] != adu[i]),
                     min(len(pl.data), len(adu)))
        ck.fail(name, f"payload differs from the ADU sent ({len(pl.data)} bytes received, "
                      f"{len(adu)} sent, first difference at byte {first})")
    if ck.failures == before:
        extra = f", extra blocks {[blocks_raw[k][0] for k in range(1, len(blocks_raw) - 1)]}" \
            if len(blocks_raw) > 2 else ""
        print(f"PASS {name}: {len(data)} B datagram, {len(adu)} B payload, flags 0x{want_flags:x}, "
              f"creation [{ts[0]}, {ts[1]}], CRC-32C ok on {len(spans)} blocks{extra}", flush=True)


def selftest():
    """The checker must accept a pyd3tn-made bundle with the expected fields and reject
    each kind of damage (so that a PASS of the live test means something)."""
    from pyd3tn.bundle7 import serialize_bundle7
    adu = bytes(range(256)) * 4
    good = serialize_bundle7(SRC, DST, adu, report_to_eid=SRC, lifetime=86400,
                             crc_type_primary=CRCType.CRC32, crc_type_canonical=CRCType.CRC32,
                             sequence_number=0)
    now = bpv7raw.dtn_now_ms()
    spans = bpv7raw.block_spans(good)
    ps, pe = spans[0]
    ys, ye = spans[-1]

    def flip(buf, i):
        b = bytearray(buf)
        b[i] ^= 0x01
        return bytes(b)

    damaged = [
        ("primary CRC flipped", flip(good, pe - 1)),
        ("payload CRC flipped", flip(good, ye - 1)),
        ("payload byte flipped", flip(good, ye - 100)),
        ("lifetime 300 s", serialize_bundle7(SRC, DST, adu, report_to_eid=SRC, lifetime=300,
                                             crc_type_canonical=CRCType.CRC32, sequence_number=0)),
        ("report-to dtn:none", serialize_bundle7(SRC, DST, adu, lifetime=86400,
                                                 crc_type_canonical=CRCType.CRC32, sequence_number=0)),
        ("CRC-16 payload", serialize_bundle7(SRC, DST, adu, report_to_eid=SRC, lifetime=86400,
                                             sequence_number=0)),
        ("old creation time", serialize_bundle7(SRC, DST, adu, report_to_eid=SRC, lifetime=86400,
                                                creation_timestamp=time.time() - 3600,
                                                crc_type_canonical=CRCType.CRC32, sequence_number=0)),
        ("trailing byte", good + b"\x00"),
    ]
    bad = 0
    ck = Checker()
    check_bundle(ck, "selftest_good", good, adu, 0, now, now, {})
    if ck.failures:
        print("FAIL checker self-test: a correct bundle was rejected", flush=True)
        bad += 1
    for what, data in damaged:
        ck = Checker(fail_word="  detected")
        check_bundle(ck, f"selftest[{what}]", data, adu, 0, now, now, {})
        if not ck.failures:
            print(f"FAIL checker self-test: {what} was not detected", flush=True)
            bad += 1
    print(("FAIL" if bad else "PASS") + f" checker self-test ({len(damaged)} kinds of damage)",
          flush=True)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--port", type=int)
    ap.add_argument("--dir")
    ap.add_argument("--deadline", type=float, default=20.0)
    a = ap.parse_args()
    if a.selftest:
        return selftest()
    if a.port is None or a.dir is None:
        ap.error("--port and --dir are required")

    cs = cases()
    os.makedirs(a.dir, exist_ok=True)
    args = []
    for name, adu, flags, _, by in cs:
        if by == "bpsend":
            with open(os.path.join(a.dir, "bpsend.text"), "wb") as f:
                f.write(adu)
        else:
            path = os.path.join(a.dir, f"case_{name}.bin")
            with open(path, "wb") as f:
                f.write(adu)
            args.append(f"0x{flags:x}:{path}")
    with open(os.path.join(a.dir, "sendfile.args"), "w") as f:
        f.write("\n".join(args) + "\n")

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", a.port))
    t_start_ms = bpv7raw.dtn_now_ms()
    print(f"READY udp 127.0.0.1:{a.port}", flush=True)

    by_payload = {adu: (name, flags) for name, adu, _, flags, _ in cs}
    got = {}
    extra = []
    deadline = time.monotonic() + a.deadline
    grace_end = None
    while True:
        now = time.monotonic()
        end = grace_end if grace_end is not None else deadline
        if now >= end:
            break
        sock.settimeout(end - now)
        try:
            data, peer = sock.recvfrom(70000)
        except socket.timeout:
            break
        t_recv_ms = bpv7raw.dtn_now_ms()
        # find the case by payload: decode the last block's data with the raw walker
        name = None
        try:
            spans = bpv7raw.block_spans(data)
            last = cbor2.loads(data[spans[-1][0]:spans[-1][1]])
            name, want_flags = by_payload.get(bytes(last[4]), (None, None))
        except Exception as ex:  # noqa: BLE001
            print(f"FAIL datagram of {len(data)} B from {peer}: cannot even find its payload: {ex}",
                  flush=True)
            extra.append(data)
            continue
        if name is None or name in got:
            extra.append(data)
            print(f"FAIL datagram of {len(data)} B matches no expected ADU "
                  f"{'(duplicate of ' + name + ')' if name else ''}", flush=True)
            continue
        got[name] = (data, want_flags, t_recv_ms)
        if len(got) == len(cs) and grace_end is None:
            grace_end = time.monotonic() + 0.5

    ck = Checker()
    ck.failures += len(extra)
    seen_ids = {}
    for name, adu, _, want_flags, by in cs:
        if name not in got:
            ck.fail(name, f"no bundle received (sent by {by})")
            continue
        data, _, t_recv_ms = got[name]
        check_bundle(ck, name, data, adu, want_flags, t_start_ms, t_recv_ms, seen_ids)
    if ck.failures:
        print(f"FAIL pyd3tn_decode: {ck.failures} failed checks, {len(got)}/{len(cs)} bundles received",
              flush=True)
        return 1
    print(f"PASS pyd3tn_decode: {len(cs)} bundles from bpshim decoded and verified by pyd3tn",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Check on the wire that the SOL_BP socket options reach the bundle (c-tests/test_bpopt_wire.sh).

    bpopt_wire.py --selftest
    bpopt_wire.py --port PORT --dir DIR [--deadline SECONDS]

Plays the next hop of node ipn:10 on UDP 127.0.0.1:PORT (one bundle per datagram). Before
listening it writes DIR/cases.args: one line per case, the arguments that follow
"test_bpopt send" (c-tests/test_bpopt.c send mode: DNODE DSVC SRC LIFETIME CRC HOPLIMIT PRIO
REPORT_TO REPORT_FLAGS ACK MNF, "-" = leave the default). Each case sends "opt-check" from its
own source EID ipn:10.S, so a datagram is matched to its case by its source. It then prints
READY, receives until every case has arrived (plus 0.5 s for extra datagrams) or the deadline
passes, and checks each bundle twice: on the raw bytes (the independent CBOR walker bpv7raw.py,
CRCs recomputed over the received bytes) and with pyd3tn (Bundle.parse after removing the
class-of-service block, which pyd3tn does not know):
  - lifetime (BP_LIFETIME s -> ms), CRC type of the primary and payload blocks (BP_CRC_TYPE)
    with every CRC verified, processing flags (BP_REPORT_FLAGS bits -> 0x4000 reception,
    0x10000 forwarding, 0x20000 delivery, 0x40000 deletion, 0x40 status time;
    BP_ACK_REQUESTED -> 0x20; BP_MUST_NOT_FRAGMENT -> 0x4), report-to (BP_REPORT_TO; ipn:0.0 ->
    the null endpoint, dtn:none or ipn:0.0), hop-count block (type 10, data [limit, 0]) present
    exactly when BP_HOP_LIMIT is set, class-of-service block (type 193, data [0, priority,
    0, 0]) present exactly when BP_PRIORITY is set, source, destination, creation time near
    now, payload.
Status-report bundles that node 10 may send (administrative records from ipn:10.0, e.g. a
forwarding report for a case whose report-to is on node 20) are listed, not counted as
failures. Prints PASS/FAIL lines; exits 0 only if every check passed.
"""
import argparse
import os
import socket
import sys
import time

import cbor2
from pyd3tn.bundle7 import Bundle, CRCType

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpv7raw  # noqa: E402

DST = [2, [20, 1]]
PAYLOAD = b"opt-check"

# RFC 9171 4.2.3 bundle processing control flags
F_MUST_NOT_FRAGMENT = 0x4
F_ADMIN = 0x2
F_ACK = 0x20
F_STATUS_TIME = 0x40
F_RECEPTION = 0x4000
F_FORWARDING = 0x10000
F_DELIVERY = 0x20000
F_DELETION = 0x40000

# bp_socket.h BP_REPORT_* bits
BP_REPORT_RECEIVED, BP_REPORT_FORWARDED, BP_REPORT_DELIVERED = 0x01, 0x02, 0x04
BP_REPORT_DELETED, BP_REPORT_STATUS_TIME = 0x08, 0x10

HOP_COUNT = 10
CLASS_OF_SERVICE = 193


def proc_flags(report_flags, ack, mnf):
    f = 0
    for bit, pf in ((BP_REPORT_RECEIVED, F_RECEPTION), (BP_REPORT_FORWARDED, F_FORWARDING),
                    (BP_REPORT_DELIVERED, F_DELIVERY), (BP_REPORT_DELETED, F_DELETION),
                    (BP_REPORT_STATUS_TIME, F_STATUS_TIME)):
        if report_flags & bit:
            f |= pf
    if ack:
        f |= F_ACK
    if mnf:
        f |= F_MUST_NOT_FRAGMENT
    return f


def cases():
    """Each case: its options (None = not set) and what the bundle must then carry."""
    raw = [
        # name, src svc, lifetime, crc, hop, prio, report-to, report flags, ack, mnf
        ("all_options", 2, 60, 1, 5, 2, (10, 7), 0x1F, 1, 1),
        ("other_values", 3, 7200, 2, 255, 0, (20, 9), BP_REPORT_FORWARDED | BP_REPORT_DELETED,
         0, 0),
        ("short_life_ack", 4, 1, 1, 1, None, None, BP_REPORT_DELIVERED, 1, None),
        ("report_to_none", 5, None, None, None, None, (0, 0), None, None, None),
        ("defaults", 6, None, None, None, None, None, None, None, None),
    ]
    out = []
    for name, svc, life, crc, hop, prio, rt, rflags, ack, mnf in raw:
        def a(v):
            return "-" if v is None else str(v)
        args = ["20", "1", f"10.{svc}", a(life), a(crc), a(hop), a(prio),
                "-" if rt is None else f"{rt[0]}.{rt[1]}",
                "-" if rflags is None else f"0x{rflags:x}", a(ack), a(mnf)]
        out.append({
            "name": name,
            "src": [2, [10, svc]],
            "args": args,
            "lifetime_ms": (86400 if life is None else life) * 1000,
            "crc": 2 if crc is None else crc,
            "hop": None if not hop else [hop, 0],
            "cos": None if prio is None else [0, prio, 0, 0],
            # None: the null endpoint
            "report_to": [2, [10, svc]] if rt is None else (None if rt == (0, 0) else [2, list(rt)]),
            "flags": proc_flags(rflags or 0, ack or 0, mnf or 0),
        })
    return out


class Checker:
    def __init__(self, fail_word="FAIL"):
        self.failures = 0
        self.fail_word = fail_word

    def fail(self, case, what):
        self.failures += 1
        print(f"{self.fail_word} {case}: {what}", flush=True)


def eid_str(e):
    if e is None:
        return "null endpoint"
    try:
        if e[0] == 2:
            return f"ipn:{e[1][0]}.{e[1][1]}"
        if e[0] == 1:
            return "dtn:none" if e[1] == 0 else f"dtn:{e[1]}"
    except (TypeError, IndexError):
        pass
    return repr(e)


def is_null(e):
    return e == [1, 0] or e == [2, [0, 0]]


def check_bundle(ck, case, data, t_start_ms, t_end_ms, label=None):
    name = label or case["name"]
    before = ck.failures
    # ---------------------------------------------------------------- raw bytes
    try:
        spans = bpv7raw.block_spans(data)
    except bpv7raw.Malformed as e:
        ck.fail(name, f"malformed bundle: {e}")
        return
    blocks = []
    for k, (s, e) in enumerate(spans):
        try:
            arr = cbor2.loads(data[s:e])
        except Exception as ex:  # noqa: BLE001
            ck.fail(name, f"block {k} is not valid CBOR: {ex}")
            return
        if not isinstance(arr, list):
            ck.fail(name, f"block {k} is not a CBOR array")
            return
        blocks.append(arr)
    prim = blocks[0]
    if len(prim) < 8:
        ck.fail(name, f"primary block has {len(prim)} items, want >= 8")
        return
    if prim[0] != 7:
        ck.fail(name, f"version {prim[0]}, want 7")
    if prim[1] != case["flags"]:
        ck.fail(name, f"processing flags 0x{prim[1]:x}, want 0x{case['flags']:x}")
    if prim[3] != DST:
        ck.fail(name, f"destination {eid_str(prim[3])}, want {eid_str(DST)}")
    if prim[4] != case["src"]:
        ck.fail(name, f"source {eid_str(prim[4])}, want {eid_str(case['src'])}")
    want_rt = case["report_to"]
    if want_rt is None:
        if not is_null(prim[5]):
            ck.fail(name, f"report-to {eid_str(prim[5])}, want the null endpoint "
                          "(BP_REPORT_TO ipn:0.0)")
    elif prim[5] != want_rt:
        ck.fail(name, f"report-to {eid_str(prim[5])}, want {eid_str(want_rt)}")
    if prim[7] != case["lifetime_ms"]:
        ck.fail(name, f"lifetime {prim[7]} ms, want {case['lifetime_ms']} ms")
    ts = prim[6]
    if not (isinstance(ts, list) and len(ts) == 2):
        ck.fail(name, f"creation timestamp {ts!r} is not [time, seq]")
        ts = [0, 0]
    elif not (t_start_ms - 5000 <= ts[0] <= t_end_ms + 5000):
        ck.fail(name, f"creation time {ts[0]} DTN ms is not within 5 s of the run "
                      f"[{t_start_ms}, {t_end_ms}]")
    # CRC of every block, recomputed over the received bytes
    crc_types = [prim[2]] + [b[3] if len(b) >= 5 else None for b in blocks[1:]]
    for k, (s, e) in enumerate(spans):
        ct = crc_types[k]
        label = "primary block" if k == 0 else f"block {k} (type {blocks[k][0]})"
        if k == 0 or k == len(spans) - 1:
            if ct != case["crc"]:
                ck.fail(name, f"{label}: CRC type {ct}, want {case['crc']} (BP_CRC_TYPE)")
                continue
        if ct == 0:
            continue
        try:
            provided, computed = bpv7raw.block_crc(data[s:e], ct)
        except bpv7raw.Malformed as ex:
            ck.fail(name, f"{label}: {ex}")
            continue
        if provided != computed:
            ck.fail(name, f"{label}: CRC type {ct} on the wire 0x{provided:x}, recomputed over "
                          f"the received bytes 0x{computed:x}")
    # blocks: payload last, extension blocks by type
    last = blocks[-1]
    if last[0] != 1 or last[1] != 1:
        ck.fail(name, f"last block is type {last[0]} number {last[1]}, want the payload (1, 1)")
    elif bytes(last[4]) != PAYLOAD:
        ck.fail(name, f"payload {bytes(last[4])!r}, want {PAYLOAD!r}")
    by_type = {}
    for b in blocks[1:-1]:
        by_type.setdefault(b[0], []).append(b)
    numbers = [b[1] for b in blocks[1:]]
    if len(set(numbers)) != len(numbers):
        ck.fail(name, f"duplicate block numbers {numbers}")
    for t, want, what in ((HOP_COUNT, case["hop"], "hop-count block (type 10)"),
                          (CLASS_OF_SERVICE, case["cos"], "class-of-service block (type 193)")):
        got = by_type.get(t, [])
        if want is None:
            if got:
                ck.fail(name, f"a {what} is present, want none (option not set)")
            continue
        if len(got) != 1:
            ck.fail(name, f"{what}: found {len(got)}, want exactly 1 with data {want}")
            continue
        try:
            val = cbor2.loads(bytes(got[0][4]))
        except Exception as ex:  # noqa: BLE001
            ck.fail(name, f"{what}: data {bytes(got[0][4]).hex()} is not CBOR: {ex}")
            continue
        if val != want:
            ck.fail(name, f"{what}: data {val!r}, want {want!r}")
    others = sorted(t for t in by_type if t not in (HOP_COUNT, CLASS_OF_SERVICE))
    if others:
        print(f"INFO {name}: other extension blocks {others}", flush=True)

    # ---------------------------------------------------------------- pyd3tn
    keep = {k for k in range(len(spans)) if k == 0 or blocks[k][0] != CLASS_OF_SERVICE}
    to_parse = bpv7raw.strip_blocks(data, spans, keep) if len(keep) != len(spans) else data
    try:
        b = Bundle.parse(to_parse)
    except Exception as ex:  # noqa: BLE001
        ck.fail(name, f"pyd3tn Bundle.parse raised {type(ex).__name__}: {ex}")
        return
    p = b.primary_block
    if int(p.bundle_proc_flags) != case["flags"]:
        ck.fail(name, f"pyd3tn: flags 0x{int(p.bundle_proc_flags):x}, want 0x{case['flags']:x}")
    if p.lifetime != case["lifetime_ms"]:
        ck.fail(name, f"pyd3tn: lifetime {p.lifetime}, want {case['lifetime_ms']}")
    if str(p.source) != eid_str(case["src"]):
        ck.fail(name, f"pyd3tn: source {p.source}, want {eid_str(case['src'])}")
    if str(p.destination) != eid_str(DST):
        ck.fail(name, f"pyd3tn: destination {p.destination}, want {eid_str(DST)}")
    if want_rt is None:
        if str(p.report_to) not in ("dtn:none", "ipn:0.0"):
            ck.fail(name, f"pyd3tn: report-to {p.report_to}, want the null endpoint")
    elif str(p.report_to) != eid_str(want_rt):
        ck.fail(name, f"pyd3tn: report-to {p.report_to}, want {eid_str(want_rt)}")
    want_crc = CRCType(case["crc"])
    for blk, label in ((p, "primary"), (b.payload_block, "payload")):
        if blk.crc_type != want_crc:
            ck.fail(name, f"pyd3tn: {label} CRC type {blk.crc_type!r}, want {want_crc!r}")
        elif blk.calculate_crc() != blk.crc_provided:
            ck.fail(name, f"pyd3tn: {label} CRC provided 0x{blk.crc_provided:x}, pyd3tn "
                          f"computes 0x{blk.calculate_crc():x}")
    for blk in b.blocks:
        if blk.crc_type != CRCType.NONE and blk.calculate_crc() != blk.crc_provided:
            ck.fail(name, f"pyd3tn: block {blk.block_number} (type {int(blk.block_type)}) CRC "
                          "mismatch")
    hops = [blk for blk in b.blocks if int(blk.block_type) == HOP_COUNT]
    if case["hop"] is not None:
        if len(hops) != 1 or list(cbor2.loads(hops[0].data)) != case["hop"]:
            ck.fail(name, f"pyd3tn: hop-count blocks {[cbor2.loads(h.data) for h in hops]}, "
                          f"want one with {case['hop']}")
    if b.payload_block.data != PAYLOAD:
        ck.fail(name, f"pyd3tn: payload {b.payload_block.data!r}, want {PAYLOAD!r}")

    if ck.failures == before:
        print(f"PASS {name}: flags 0x{prim[1]:x}, lifetime {prim[7]} ms, CRC type {prim[2]} "
              f"(verified on {len(spans)} blocks), report-to {eid_str(prim[5])}, hop "
              f"{case['hop']}, class of service {case['cos']}", flush=True)


def selftest():
    """The checker must accept pyd3tn-made bundles with the expected fields and detect each
    kind of damage (so that a PASS of the live test means something)."""
    from pyd3tn.bundle7 import (CanonicalBlock, CreationTimestamp, HopCountBlock,
                                PayloadBlock, PrimaryBlock)
    from datetime import datetime, timezone

    def build(case, flags=None, lifetime=None, crc=None, hop="same", cos="same", report_to="same",
              payload=PAYLOAD):
        ct = CRCType(case["crc"] if crc is None else crc)
        rt = case["report_to"] if report_to == "same" else report_to
        prim = PrimaryBlock(
            bundle_proc_flags=case["flags"] if flags is None else flags, crc_type=ct,
            destination="ipn:20.1", source=eid_str(case["src"]),
            report_to=None if rt is None else eid_str(rt),
            creation_time=CreationTimestamp(datetime.now(timezone.utc), 0),
            lifetime=case["lifetime_ms"] if lifetime is None else lifetime)
        blocks = []
        h = case["hop"] if hop == "same" else hop
        if h is not None:
            blocks.append(HopCountBlock(h[0], h[1], crc_type=ct, block_number=2))
        c = case["cos"] if cos == "same" else cos
        if c is not None:
            blocks.append(CanonicalBlock(CLASS_OF_SERVICE, cbor2.dumps(c), block_number=3,
                                         crc_type=ct))
        return bytes(Bundle(prim, PayloadBlock(payload, crc_type=ct), blocks))

    def flip_last(buf):
        b = bytearray(buf)
        b[-2] ^= 0x01  # last byte of the payload block's CRC (before the 0xff break)
        return bytes(b)

    cs = {c["name"]: c for c in cases()}
    full, dflt = cs["all_options"], cs["defaults"]
    now = bpv7raw.dtn_now_ms()
    bad = 0
    for c in cases():
        ck = Checker()
        check_bundle(ck, c, build(c), now, now, f"selftest_good_{c['name']}")
        if ck.failures:
            print(f"FAIL checker self-test: a correct {c['name']} bundle was rejected", flush=True)
            bad += 1
    damaged = [
        (full, "lifetime 86400 s", build(full, lifetime=86400000)),
        (full, "CRC-32C instead of CRC-16", build(full, crc=2)),
        (full, "payload CRC flipped", flip_last(build(full))),
        (full, "no hop-count block", build(full, hop=None)),
        (full, "hop limit 6", build(full, hop=[6, 0])),
        (full, "no class-of-service block", build(full, cos=None)),
        (full, "priority 1", build(full, cos=[0, 1, 0, 0])),
        (full, "no ACK flag", build(full, flags=full["flags"] & ~F_ACK)),
        (full, "no must-not-fragment flag", build(full, flags=full["flags"] & ~F_MUST_NOT_FRAGMENT)),
        (full, "no status-time flag", build(full, flags=full["flags"] & ~F_STATUS_TIME)),
        (full, "report-to = source", build(full, report_to=full["src"])),
        (full, "other payload", build(full, payload=b"opt-chek")),
        (dflt, "a hop-count block", build(dflt, hop=[5, 0])),
        (dflt, "a class-of-service block", build(dflt, cos=[0, 1, 0, 0])),
        (dflt, "report-to dtn:none", build(dflt, report_to=None)),
        (cs["report_to_none"], "report-to = source", build(cs["report_to_none"],
                                                           report_to=cs["report_to_none"]["src"])),
    ]
    for case, what, data in damaged:
        ck = Checker(fail_word="  detected")
        check_bundle(ck, case, data, now, now, f"selftest[{case['name']}: {what}]")
        if not ck.failures:
            print(f"FAIL checker self-test: {case['name']} with {what} was not detected",
                  flush=True)
            bad += 1
    print(("FAIL" if bad else "PASS") + f" checker self-test ({len(cases())} good bundles, "
          f"{len(damaged)} kinds of damage)", flush=True)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--port", type=int)
    ap.add_argument("--dir")
    ap.add_argument("--deadline", type=float, default=30.0)
    a = ap.parse_args()
    if a.selftest:
        return selftest()
    if a.port is None or a.dir is None:
        ap.error("--port and --dir are required")
    cs = cases()
    os.makedirs(a.dir, exist_ok=True)
    with open(os.path.join(a.dir, "cases.args"), "w") as f:
        for c in cs:
            f.write(" ".join(c["args"]) + "\n")

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", a.port))
    t_start_ms = bpv7raw.dtn_now_ms()
    print(f"READY udp 127.0.0.1:{a.port}", flush=True)

    by_src = {repr(c["src"]): c for c in cs}
    got = {}
    extra = 0
    deadline = time.monotonic() + a.deadline
    grace_end = None
    while True:
        end = grace_end if grace_end is not None else deadline
        now = time.monotonic()
        if now >= end:
            break
        sock.settimeout(end - now)
        try:
            data, peer = sock.recvfrom(70000)
        except socket.timeout:
            break
        t_recv = bpv7raw.dtn_now_ms()
        try:
            spans = bpv7raw.block_spans(data)
            prim = cbor2.loads(data[spans[0][0]:spans[0][1]])
            src, flags = prim[4], prim[1]
        except Exception as ex:  # noqa: BLE001
            print(f"FAIL datagram of {len(data)} B: cannot read its primary block: {ex}",
                  flush=True)
            extra += 1
            continue
        if flags & F_ADMIN and src == [2, [10, 0]]:
            print(f"INFO status-report bundle from {eid_str(src)} to {eid_str(prim[3])} "
                  f"({len(data)} B), not a case", flush=True)
            continue
        case = by_src.get(repr(src))
        if case is None or case["name"] in got:
            print(f"FAIL datagram of {len(data)} B from {eid_str(src)} matches no case"
                  f"{' (duplicate)' if case else ''}", flush=True)
            extra += 1
            continue
        got[case["name"]] = (data, t_recv)
        if len(got) == len(cs) and grace_end is None:
            grace_end = time.monotonic() + 0.5

    ck = Checker()
    ck.failures += extra
    for c in cs:
        if c["name"] not in got:
            ck.fail(c["name"], f"no bundle received from {eid_str(c['src'])}")
            continue
        data, t_recv = got[c["name"]]
        check_bundle(ck, c, data, t_start_ms, t_recv)
    if ck.failures:
        print(f"FAIL bpopt_wire: {ck.failures} failed checks, {len(got)}/{len(cs)} bundles "
              "received", flush=True)
        return 1
    print(f"PASS bpopt_wire: the options of {len(cs)} bundles checked on the wire", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Bundles built by pyd3tn, sent to a bpshim node over UDP (test_pyd3tn_send.sh).

    pyd3tn_send.py send --port PORT --manifest FILE [--gap SECONDS]
    pyd3tn_send.py check --manifest FILE --log RECEIVER_LOG

send: builds every case below with pyd3tn (source ipn:30.1, destination ipn:20.1), sends
each as one UDP datagram to 127.0.0.1:PORT (node 20's BP_CLA) GAP seconds apart, in order,
and writes FILE (JSON): for each case its name, whether it must be delivered, and its payload.
The last case is a valid bundle whose payload is "END" (the receiver stops on it).

check: reads the output of c-tests/bin/interop_recvhex (lines "ADU i len=N trunc=T src=EID
hex=H") and checks that exactly the cases marked deliver arrived, in order, each once, with
the payload byte for byte, not truncated, and source ipn:30.1; and that no case marked drop
(damaged, truncated, expired, not a bundle) was delivered. Prints PASS/FAIL per case.
"""
import argparse
import json
import socket
import sys
import time

from pyd3tn.bundle7 import CRCType, create_bundle7

SRC = "ipn:30.1"
DST = "ipn:20.1"


def build_cases():
    """[(name, datagram bytes, deliver?, payload bytes or None, note)]"""
    seq = iter(range(1, 1000))
    C32, C16, NONE = CRCType.CRC32, CRCType.CRC16, CRCType.NONE
    binary = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(1000)) + bytes(range(256))
    big = bytes((i * 131 + 17) & 0xFF for i in range(60000))

    def bundle(payload, crc_p=C32, crc_c=C32, **kw):
        kw.setdefault("sequence_number", next(seq))
        return create_bundle7(SRC, DST, payload, crc_type_primary=crc_p,
                              crc_type_canonical=crc_c, **kw)

    def raw(b):
        return bytes(b)

    def flip_last_of_block(b, blk):
        """Serialize b with the last byte (the CRC's) of block blk (0 = primary) flipped."""
        blocks = list(b)
        enc = [bytes(x) for x in blocks]
        e = bytearray(enc[blk])
        e[-1] ^= 0x5A
        enc[blk] = bytes(e)
        return b"\x9f" + b"".join(enc) + b"\xff"

    out = []

    def ok(name, b, note=""):
        out.append((name, raw(b), True, b.payload_block.data, note))

    def bad(name, data, payload, note):
        out.append((name, data, False, payload, note))

    ok("text_crc32", bundle(b"hello from pyd3tn, CRC-32C on every block"), "CRC-32C")
    ok("text_crc16", bundle(b"hello from pyd3tn, CRC-16 on every block", C16, C16), "CRC-16/X.25")
    ok("bin_nocrc", bundle(binary, NONE, NONE), "no CRC on any block (as dtn7-rs sends)")
    ok("bin_crc32_primary_crc16_payload", bundle(binary[::-1], C32, C16), "pyd3tn's default mix")
    ok("bin_crc32_primary_nocrc_payload", bundle(binary[100:], C32, NONE), "")
    ok("text_hop_count", bundle(b"with a hop count block (limit 30, count 1)", hop_limit=30,
                                hop_count=1), "hop-count block")
    ok("bin_prev_node_age_crc16", bundle(binary[:700], C16, C16, previous_node_eid="ipn:30.0",
                                         bundle_age=5), "previous-node + bundle-age blocks")
    ok("one_byte", bundle(b"\x00"), "")
    ok("bin_60000", bundle(big), "60000 B payload")
    ok("creation_time_0_with_age", bundle(b"creation time 0, age block 2 s", creation_timestamp=0,
                                          bundle_age=2), "no clock: DTN time 0 + bundle age")

    # damaged bundles: each must be dropped, and the node must go on with the next one
    b = bundle(b"CORRUPT payload CRC-32C field flipped")
    bad("corrupt_payload_crc32", flip_last_of_block(b, len(list(b)) - 1), b.payload_block.data,
        "payload CRC-32C flipped")
    ok("after_corrupt_payload_crc32", bundle(b"valid bundle after a bad payload CRC-32C"))

    b = bundle(b"CORRUPT primary CRC-32C flipped")
    bad("corrupt_primary_crc32", flip_last_of_block(b, 0), b.payload_block.data,
        "primary CRC-32C flipped")
    ok("after_corrupt_primary_crc32", bundle(b"valid bundle after a bad primary CRC-32C"))

    b = bundle(b"CORRUPT payload CRC-16 flipped", C16, C16)
    bad("corrupt_payload_crc16", flip_last_of_block(b, 1), b.payload_block.data,
        "payload CRC-16 flipped")
    ok("after_corrupt_payload_crc16", bundle(b"valid bundle after a bad payload CRC-16"))

    # a damaged copy and then the intact copy of the same bundle (same bundle ID): the damaged
    # one must not be delivered, nor make the intact one look like a duplicate
    retx = bundle(b"RETRANSMITTED bundle, first copy damaged in transit")
    good = raw(retx)
    i = good.rindex(b"first copy")
    damaged = good[:i] + b"F" + good[i + 1:]
    bad("corrupt_payload_data", damaged,
        retx.payload_block.data.replace(b"first copy", b"First copy"),
        "payload byte changed, CRC not")
    out.append(("retransmitted_intact", good, True, retx.payload_block.data,
                "same bundle ID as the damaged copy"))

    bad("not_a_bundle", b"this is not CBOR at all \xff\xfe", None, "garbage datagram")
    t = raw(bundle(b"TRUNCATED bundle"))
    bad("truncated", t[:len(t) // 2], None, "first half of a bundle")
    ok("after_garbage", bundle(b"valid bundle after garbage and a truncated bundle"))

    old = time.time() - 7200
    bad("expired", raw(bundle(b"EXPIRED: created 2 h ago, lifetime 60 s", creation_timestamp=old,
                              lifetime=60)), b"EXPIRED: created 2 h ago, lifetime 60 s",
        "lifetime over before it arrived")
    ok("end", bundle(b"END"))
    return out


def cmd_send(a):
    cases = build_cases()
    with open(a.manifest, "w") as f:
        json.dump([{"name": n, "deliver": d, "payload": p.hex() if p is not None else None,
                    "note": note, "size": len(data)}
                   for n, data, d, p, note in cases], f, indent=1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for n, data, d, p, note in cases:
        s.sendto(data, ("127.0.0.1", a.port))
        print(f"sent {n}: {len(data)} B datagram ({'deliver' if d else 'drop'}{', ' + note if note else ''})",
              flush=True)
        time.sleep(a.gap)
    return 0


def cmd_check(a):
    with open(a.manifest) as f:
        cases = json.load(f)
    got = []
    with open(a.log, errors="replace") as f:
        for line in f:
            if not line.startswith("ADU "):
                continue
            fields = dict(kv.split("=", 1) for kv in line.split()[2:])
            got.append(fields)
    fails = 0

    def fail(msg):
        nonlocal fails
        fails += 1
        print(f"FAIL {msg}", flush=True)

    want = [c for c in cases if c["deliver"]]
    by_payload = {}
    for c in cases:
        if c["payload"] is not None:
            by_payload.setdefault(c["payload"], []).append(c)
    # damaged ones must not appear
    for k, g in enumerate(got):
        matches = by_payload.get(g["hex"], [])
        if not matches:
            fail(f"ADU {k} ({g['len']} B) matches no bundle that was sent")
        for c in matches:
            if not c["deliver"]:
                fail(f"{c['name']}: delivered, but it must be dropped ({c['note']})")
    # the valid ones, in order, once each
    delivered = [g for g in got if any(c["deliver"] for c in by_payload.get(g["hex"], []))]
    for c in want:
        hits = [g for g in delivered if g["hex"] == c["payload"]]
        if not hits:
            fail(f"{c['name']}: not delivered{' (' + c['note'] + ')' if c['note'] else ''}")
            continue
        if len(hits) > 1:
            fail(f"{c['name']}: delivered {len(hits)} times")
        g = hits[0]
        errs = []
        if g["src"] != SRC:
            errs.append(f"source {g['src']}, want {SRC}")
        if g["trunc"] != "0" or int(g["len"]) != len(c["payload"]) // 2:
            errs.append(f"len {g['len']} trunc {g['trunc']}, want {len(c['payload']) // 2} bytes")
        if errs:
            fail(f"{c['name']}: " + "; ".join(errs))
        else:
            print(f"PASS {c['name']}: delivered intact ({len(c['payload']) // 2} B payload, "
                  f"{c['size']} B bundle) from {g['src']}{'; ' + c['note'] if c['note'] else ''}",
                  flush=True)
    order = [g["hex"] for g in delivered]
    if order != [c["payload"] for c in want] and not fails:
        fail("valid bundles delivered out of order")
    for c in cases:
        if not c["deliver"] and not any(g["hex"] == c["payload"] for g in got if c["payload"]):
            print(f"PASS {c['name']}: not delivered ({c['note']}), next valid bundle arrived",
                  flush=True)
    if fails:
        print(f"FAIL pyd3tn_send check: {fails} failures ({len(got)} ADUs received, "
              f"{len(want)} expected)", flush=True)
        return 1
    print(f"PASS pyd3tn_send check: {len(want)} pyd3tn bundles delivered intact, "
          f"{len(cases) - len(want)} bad ones dropped", flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--manifest", required=True)
    s.add_argument("--gap", type=float, default=0.02)
    c = sub.add_parser("check")
    c.add_argument("--manifest", required=True)
    c.add_argument("--log", required=True)
    a = ap.parse_args()
    return cmd_send(a) if a.cmd == "send" else cmd_check(a)


if __name__ == "__main__":
    sys.exit(main())

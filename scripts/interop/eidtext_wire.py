#!/usr/bin/env python3
"""Bundles with EIDs other than two-element ipn, on the wire (c-tests/test_eidtext_wire.sh).

    eidtext_wire.py listen --port PORT --expect PAYLOAD DEST SRC [--expect ...]
                           [--deadline SECONDS] [--grace SECONDS]
    eidtext_wire.py send --port PORT --dest EID --case SRC PAYLOAD [--case ...] [--gap SECONDS]
    eidtext_wire.py selftest

listen: plays the next hop of a bpshim node on UDP 127.0.0.1:PORT (one bundle per datagram).
Prints READY, then receives datagrams until every expected payload has arrived (then GRACE
seconds more, to catch datagrams that must not come) or the deadline passes. Each datagram
is matched to its case by its payload and checked:
  - on the raw bytes (scripts/interop/bpv7raw.py walker): one CBOR array of blocks, nothing
    after it; CRC type 2 (CRC-32C) on every block, recomputed over the received bytes;
    version 7; not a fragment; the exact bytes of the destination, source and report-to
    EIDs equal the CBOR encoding of the expected EIDs (made here with cbor2 from the text:
    dtn:SSP -> [1, "SSP"], ipn:N.S -> [2, [N, S]], ipn:A.N.S -> [2, [A, N, S]]);
  - by pyd3tn: Bundle.parse, str(destination) / str(source) equal the expected texts,
    pyd3tn's CRC of the primary and payload blocks equals the one provided, payload equal.
A datagram that matches no expected payload, or a second copy, is a failure. Exit 0 only if
every expected bundle arrived and passed.

send: builds one bundle per case with pyd3tn (source SRC, destination DEST, CRC-32C on every
block, lifetime 3600 s, report-to dtn:none), checks that its source is encoded as expected
(the raw bytes, independently of pyd3tn) and that its CRCs are right, and sends each as one
UDP datagram to 127.0.0.1:PORT, GAP seconds apart.

selftest: the listen checks must reject a damaged bundle and a wrong EID encoding.
"""
import argparse
import os
import socket
import sys
import time

import cbor2
from pyd3tn.bundle7 import Bundle, CRCType, create_bundle7

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpv7raw  # noqa: E402


def eid_cbor(text):
    """The CBOR encoding of an EID given as text (RFC 9171 4.2.5.1, RFC 9758 6)."""
    if text == "dtn:none":
        return cbor2.dumps([1, 0])
    scheme, _, ssp = text.partition(":")
    if scheme == "dtn":
        return cbor2.dumps([1, ssp])
    if scheme == "ipn":
        parts = [int(p) for p in ssp.split(".")]
        if len(parts) not in (2, 3):
            raise ValueError(f"bad ipn EID {text!r}")
        return cbor2.dumps([2, parts])
    raise ValueError(f"unknown scheme in {text!r}")


def primary_items(data, span):
    """Byte spans of the items of the primary block."""
    s, e = span
    major, _, n, j = bpv7raw._head(data, s)
    if major != 4 or n is None:
        raise bpv7raw.Malformed("primary block is not a definite-length array")
    items = []
    for _ in range(n):
        k = bpv7raw.item_end(data, j)
        items.append((j, k))
        j = k
    if j != e:
        raise bpv7raw.Malformed("primary block items do not end where the block ends")
    return items


def check_datagram(data, payload, dest, src, report_to=None):
    """List of failures (empty: good) for one received bundle."""
    errs = []
    try:
        spans = bpv7raw.block_spans(data)
    except bpv7raw.Malformed as e:
        return [f"malformed bundle: {e}"]
    blocks = []
    for k, (s, e) in enumerate(spans):
        try:
            blocks.append(cbor2.loads(data[s:e]))
        except Exception as ex:  # noqa: BLE001
            return [f"block {k} is not valid CBOR: {ex}"]
    prim = blocks[0]
    if not isinstance(prim, list) or len(prim) < 9:
        return [f"primary block {prim!r} is not an array of at least 9 items"]
    crc_types = [prim[2]] + [b[3] if isinstance(b, list) and len(b) >= 5 else None
                             for b in blocks[1:]]
    for k, (s, e) in enumerate(spans):
        label = "primary block" if k == 0 else f"block {k} (type {blocks[k][0]})"
        if crc_types[k] != 2:
            errs.append(f"{label}: CRC type {crc_types[k]}, want 2 (CRC-32C)")
            continue
        try:
            provided, computed = bpv7raw.block_crc(data[s:e], 2)
        except bpv7raw.Malformed as ex:
            errs.append(f"{label}: {ex}")
            continue
        if provided != computed:
            errs.append(f"{label}: CRC-32C 0x{provided:08x} on the wire, 0x{computed:08x} "
                        f"recomputed over the received bytes")
    if prim[0] != 7:
        errs.append(f"version {prim[0]}, want 7")
    if prim[1] & 1:
        errs.append("the bundle is a fragment")
    items = primary_items(data, spans[0])
    want_rt = report_to if report_to is not None else src
    for idx, what, want in ((3, "destination", dest), (4, "source", src), (5, "report-to", want_rt)):
        s, e = items[idx]
        got = bytes(data[s:e])
        exp = eid_cbor(want)
        if got != exp:
            errs.append(f"{what} encoded as {got.hex()} ({cbor2.loads(got)!r}), want "
                        f"{exp.hex()} ({cbor2.loads(exp)!r}) for {want}")
    last = blocks[-1]
    if last[0] != 1 or last[1] != 1:
        errs.append(f"last block type {last[0]} number {last[1]}, want the payload block (1, 1)")
    elif bytes(last[4]) != payload:
        errs.append(f"raw payload {bytes(last[4])!r}, want {payload!r}")
    # pyd3tn's view (it knows the blocks bpshim adds without options set)
    try:
        b = Bundle.parse(data)
    except Exception as ex:  # noqa: BLE001
        errs.append(f"pyd3tn Bundle.parse raised {type(ex).__name__}: {ex}")
        return errs
    p = b.primary_block
    if str(p.destination) != dest:
        errs.append(f"pyd3tn: destination {p.destination}, want {dest}")
    if str(p.source) != src:
        errs.append(f"pyd3tn: source {p.source}, want {src}")
    if p.crc_type == CRCType.CRC32 and p.calculate_crc() != p.crc_provided:
        errs.append(f"pyd3tn: primary CRC provided 0x{p.crc_provided:08x}, pyd3tn computes "
                    f"0x{p.calculate_crc():08x}")
    pl = b.payload_block
    if pl.crc_type == CRCType.CRC32 and pl.calculate_crc() != pl.crc_provided:
        errs.append(f"pyd3tn: payload CRC provided 0x{pl.crc_provided:08x}, pyd3tn computes "
                    f"0x{pl.calculate_crc():08x}")
    if pl.data != payload:
        errs.append(f"pyd3tn: payload {pl.data!r}, want {payload!r}")
    return errs


def cmd_listen(a):
    expect = {p.encode(): (d, s) for p, d, s in a.expect}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", a.port))
    print(f"READY udp 127.0.0.1:{a.port}", flush=True)
    got = {}
    fails = 0
    deadline = time.monotonic() + a.deadline
    end = deadline
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            data, _ = sock.recvfrom(70000)
        except socket.timeout:
            break
        try:
            spans = bpv7raw.block_spans(data)
            last = cbor2.loads(data[spans[-1][0]:spans[-1][1]])
            payload = bytes(last[4])
        except Exception as ex:  # noqa: BLE001
            fails += 1
            print(f"FAIL a {len(data)}-byte datagram that is not a bundle: {ex}", flush=True)
            continue
        if payload not in expect:
            fails += 1
            print(f"FAIL unexpected bundle with payload {payload!r} ({len(data)} B): it must not "
                  f"have been sent", flush=True)
            continue
        if payload in got:
            fails += 1
            print(f"FAIL second copy of the bundle with payload {payload!r}", flush=True)
            continue
        got[payload] = data
        dest, src = expect[payload]
        errs = check_datagram(data, payload, dest, src)
        if errs:
            fails += len(errs)
            for e in errs:
                print(f"FAIL {payload.decode(errors='replace')}: {e}", flush=True)
        else:
            ds, de = primary_items(data, spans[0])[3]
            print(f"PASS {payload.decode()}: destination {dest} encoded "
                  f"{cbor2.loads(data[ds:de])!r} ({bytes(data[ds:de]).hex()}), source {src}, "
                  f"CRC-32C ok on {len(spans)} blocks, pyd3tn agrees", flush=True)
        if len(got) == len(expect):
            end = min(deadline, time.monotonic() + a.grace)
    for p, (d, s) in expect.items():
        if p not in got:
            fails += 1
            print(f"FAIL {p.decode()}: no bundle for {d} from {s} arrived", flush=True)
    if fails:
        print(f"FAIL eidtext listener: {fails} failures, {len(got)}/{len(expect)} bundles",
              flush=True)
        return 1
    print(f"PASS eidtext listener: {len(got)} bundles checked", flush=True)
    return 0


def build(src, dest, payload, seq):
    return bytes(create_bundle7(src, dest, payload, crc_type_primary=CRCType.CRC32,
                                crc_type_canonical=CRCType.CRC32, lifetime=3600,
                                sequence_number=seq))


def cmd_send(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    bad = 0
    for seq, (src, payload) in enumerate(a.case, start=1):
        data = build(src, a.dest, payload.encode(), seq)
        errs = check_datagram(data, payload.encode(), a.dest, src, report_to="dtn:none")
        if errs:
            bad += 1
            for e in errs:
                print(f"FAIL pyd3tn-built bundle from {src}: {e}", flush=True)
            continue
        s.sendto(data, ("127.0.0.1", a.port))
        items = primary_items(data, bpv7raw.block_spans(data)[0])
        ss, se = items[4]
        print(f"sent {len(data)} B bundle {src} -> {a.dest} (source encoded "
              f"{bytes(data[ss:se]).hex()}) payload {payload}", flush=True)
        time.sleep(a.gap)
    return 1 if bad else 0


def cmd_selftest(_a):
    good = build("ipn:10.2", "dtn://node30/app", b"selftest", 1)
    # pyd3tn's report-to is dtn:none here
    if check_datagram(good, b"selftest", "dtn://node30/app", "ipn:10.2", report_to="dtn:none"):
        print("FAIL selftest: a good bundle was rejected:",
              check_datagram(good, b"selftest", "dtn://node30/app", "ipn:10.2",
                             report_to="dtn:none"))
        return 1
    if eid_cbor("dtn://node30/app") != b"\x82\x01\x6c//node30/app":
        print("FAIL selftest: dtn encoding")
        return 1
    if eid_cbor("ipn:977.5.1") != bytes.fromhex("82028319 03d10501".replace(" ", "")):
        print("FAIL selftest: ipn3 encoding")
        return 1
    spans = bpv7raw.block_spans(good)
    flipped = bytearray(good)
    flipped[spans[0][1] - 1] ^= 1
    damaged = [
        ("primary CRC flipped", bytes(flipped), "dtn://node30/app", "ipn:10.2"),
        ("wrong destination", good, "dtn://node30/ap", "ipn:10.2"),
        ("ipn destination instead of dtn", build("ipn:10.2", "ipn:30.1", b"selftest", 1),
         "dtn://node30/app", "ipn:10.2"),
        ("three-element source", build("ipn:0.10.2", "dtn://node30/app", b"selftest", 1),
         "dtn://node30/app", "ipn:10.2"),
    ]
    bad = 0
    for what, data, d, s in damaged:
        if not check_datagram(data, b"selftest", d, s, report_to="dtn:none"):
            print(f"FAIL selftest: {what} not detected")
            bad += 1
    print(("FAIL" if bad else "PASS") + f" eidtext checker self-test ({len(damaged)} kinds of "
          "damage detected)", flush=True)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    li = sub.add_parser("listen")
    li.add_argument("--port", type=int, required=True)
    li.add_argument("--expect", nargs=3, action="append", required=True,
                    metavar=("PAYLOAD", "DEST", "SRC"))
    li.add_argument("--deadline", type=float, default=30.0)
    li.add_argument("--grace", type=float, default=1.0)
    se = sub.add_parser("send")
    se.add_argument("--port", type=int, required=True)
    se.add_argument("--dest", required=True)
    se.add_argument("--case", nargs=2, action="append", required=True, metavar=("SRC", "PAYLOAD"))
    se.add_argument("--gap", type=float, default=0.05)
    sub.add_parser("selftest")
    a = ap.parse_args()
    return {"listen": cmd_listen, "send": cmd_send, "selftest": cmd_selftest}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())

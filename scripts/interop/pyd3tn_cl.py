#!/usr/bin/env python3
"""pyd3tn's convergence layers (TCPCLv3, MTCP) as the peer of bpshim, for
engine/tests/tcpclv3_pyd3tn.rs, scripts/interop/test_pyd3tn_mtcp.sh and
scripts/interop/tcpclv3_pending.sh.

Bundles are built with pyd3tn.bundle7.create_bundle7 and parsed with pyd3tn's Bundle.parse;
TCPCLv3 framing is pyd3tn.tcpcl's (TCPCLConnection, serialize/decode_tcpcl_contact_header),
MTCP framing pyd3tn.mtcp's (MTCPConnection, MTCPSocket).

    pyd3tn_cl.py tcpclv3-client --port P [--send N] [--recv M] [common options]
        Connects a pyd3tn TCPCLConnection to 127.0.0.1:P (contact header exchange by
        TCPCLConnection.connect), sends N bundles, then receives M bundles with recv_bundle,
        then disconnects (SHUTDOWN 0x50, TCP shutdown).
    pyd3tn_cl.py tcpclv3-server [--port P] [--recv M] [--send N] [common options]
        Listens on 127.0.0.1:P (0: any port), accepts one connection and wraps it in a pyd3tn
        TCPCLConnection: sends pyd3tn's contact header, reads the peer's exactly and decodes
        it with decode_tcpcl_contact_header, receives M bundles with recv_bundle, sends N
        bundles with send_bundle, then reads until the peer closes and reports what came.
    pyd3tn_cl.py mtcp-send --port P [--send N] [common options]
        Connects a pyd3tn MTCPConnection to 127.0.0.1:P and sends N bundles.
    pyd3tn_cl.py mtcp-listen [--port P] [--recv M] [common options]
        Listens on 127.0.0.1:P and receives M bundles with pyd3tn's MTCPSocket.recv_bundle,
        over as many connections as the peer opens.
    pyd3tn_cl.py check-recv --manifest FILE --log LOG --dir DIR
        Checks what a bpshim receiver (c-tests/bin/interop_dtn7 recv: lines "ADU k len=N
        trunc=T src=EID", payload k in DIR/adu<k>.bin) got against the manifest written by
        --manifest of a sending mode: every bundle once, in order, payload byte for byte,
        not truncated, with the source the bundle was built with.
    pyd3tn_cl.py check-sent --log LOG --count N --src EID --dst EID --payload TEXT
            --lifetime-ms MS
        Checks the RECV lines of a receiving mode: N bundles, each parsed by pyd3tn with the
        given source, destination, lifetime and payload, every block CRC recomputed and equal.

Common options: --eid EID (our node ID in the TCPCLv3 contact header, default ipn:30.0),
--src EID (source of the bundles built, default ipn:30.1), --dst EID (default ipn:20.1),
--sizes LIST (payload sizes, cycled; default "5,1,300,70000"), --manifest FILE, --timeout S,
--lifetime S (lifetime of the bundles built, seconds; default 3600).

Output, one line per event, fields as key=value without spaces:
    PORT port=P                                   (server modes, once listening)
    HEADER version=3 flags=F keepalive=K eid=E    (the peer's TCPCLv3 contact header)
    SENT i=K <fields> hex=BUNDLE                  (a bundle sent)
    RECV i=K <fields> hex=BUNDLE                  (a bundle received)
    END rest=HEX                                  (tcpclv3-server: bytes after the bundles)
    DONE
<fields>: src dst report_to flags primary_crc ctime seq lifetime_ms payload_crc payload_len
blocks (canonical blocks "type/number/crc" joined by ",") crc_ok (1 if every CRC carried
equals the one pyd3tn recomputes) len (bundle length).

Bundles built here: CRC types cycle through (CRC32, CRC32), (CRC16, CRC16), (none, none),
(CRC32 primary, CRC16 payload); every third one carries a hop-count block; payloads are
deterministic bytes of the --sizes lengths.
"""
import argparse
import json
import socket
import sys
import time
from enum import IntEnum

from pyd3tn import bundle7
from pyd3tn.bundle7 import Bundle, CRCType, create_bundle7
from pyd3tn.helpers import sock_recv_raw
from pyd3tn.mtcp import MTCPConnection, MTCPSocket
from pyd3tn.sdnv import sdnv_decode
from pyd3tn.tcpcl import (
    TCPCLConnection,
    decode_tcpcl_contact_header,
    serialize_tcpcl_contact_header,
)


class _BlockType(IntEnum):
    """pyd3tn's BlockType widened to every non-negative code: Bundle.parse refuses block types
    outside its enum (e.g. ION's class-of-service block 193), which RFC 9171 says to keep."""

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

CRC_CYCLE = [
    (CRCType.CRC32, CRCType.CRC32),
    (CRCType.CRC16, CRCType.CRC16),
    (CRCType.NONE, CRCType.NONE),
    (CRCType.CRC32, CRCType.CRC16),
]


def emit(tag, **fields):
    parts = [tag] + [f"{k}={v}" for k, v in fields.items()]
    print(" ".join(parts), flush=True)


def payload_bytes(i, size):
    return bytes(((k * 131 + i * 17 + (k >> 8)) & 0xFF) for k in range(size))


def build(args):
    """[(raw bundle, manifest entry)] of the bundles this run sends."""
    sizes = [int(s) for s in args.sizes.split(",") if s]
    out = []
    for i in range(args.send):
        crc_p, crc_c = CRC_CYCLE[i % len(CRC_CYCLE)]
        payload = payload_bytes(i, sizes[i % len(sizes)])
        extra = {"hop_limit": 30, "hop_count": 1} if i % 3 == 2 else {}
        b = create_bundle7(args.src, args.dst, payload, crc_type_primary=crc_p,
                           crc_type_canonical=crc_c, lifetime=args.lifetime,
                           sequence_number=i + 1, **extra)
        raw = bytes(b)
        out.append((raw, {"i": i, "src": args.src, "dst": args.dst,
                          "payload": payload.hex(), "primary_crc": int(crc_p),
                          "payload_crc": int(crc_c)}))
    if args.manifest:
        with open(args.manifest, "w") as f:
            json.dump([m for _, m in out], f)
    return out


def _crc_ok(block):
    if block.crc_type == CRCType.NONE:
        return True
    return block.calculate_crc() == block.crc_provided


def describe(raw):
    b = Bundle.parse(raw)
    p = b.primary_block
    blocks = list(b)
    canonical = blocks[1:]
    return {
        "src": str(p.source),
        "dst": str(p.destination),
        "report_to": str(p.report_to),
        "flags": int(p.bundle_proc_flags),
        "primary_crc": int(p.crc_type),
        "ctime": int(p.creation_time[0]),
        "seq": int(p.creation_time[1]),
        "lifetime_ms": int(p.lifetime),
        "payload_crc": int(b.payload_block.crc_type),
        "payload_len": len(b.payload_block.data),
        "blocks": ",".join(f"{int(x.block_type)}/{int(x.block_number)}/{int(x.crc_type)}"
                           for x in canonical),
        "crc_ok": int(all(_crc_ok(x) for x in blocks)),
        "len": len(raw),
    }


def report(tag, i, raw):
    try:
        fields = describe(raw)
    except Exception as exc:  # reported; the caller's check fails on it
        fields = {"error": f"{type(exc).__name__}:{exc}".replace(" ", "_")}
    emit(tag, i=i, **fields, hex=raw.hex())


def read_contact_header(sock, timeout):
    """The peer's contact header, read exactly (magic .. EID) so nothing after it is lost."""
    raw = sock_recv_raw(sock, 8, timeout)
    while True:
        raw += sock_recv_raw(sock, 1, timeout)
        if raw[-1] & 0x80 == 0 or len(raw) > 8 + 10:
            break
    eid_len, _ = sdnv_decode(raw[8:])
    if eid_len:
        raw += sock_recv_raw(sock, eid_len, timeout)
    return raw


def listen(port):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(4)
    emit("PORT", port=srv.getsockname()[1])
    return srv


def accept(srv, timeout):
    srv.settimeout(timeout)
    sock, _ = srv.accept()
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def header_fields(h):
    return {"version": h["version"], "flags": h["flags"],
            "keepalive": h["keepalive_interval"], "eid": h["eid"]}


def cmd_tcpclv3_client(args):
    bundles = build(args)
    conn = TCPCLConnection(args.eid, "127.0.0.1", args.port, timeout=args.timeout)
    header = conn.connect()
    emit("HEADER", **header_fields(header))
    for i, (raw, _) in enumerate(bundles):
        conn.send_bundle(raw)
        report("SENT", i, raw)
    for i in range(args.recv):
        report("RECV", i, bytes(conn.recv_bundle()))
    conn.disconnect()
    emit("DONE")


def cmd_tcpclv3_server(args):
    bundles = build(args)
    srv = listen(args.port)
    sock = accept(srv, args.timeout)
    conn = TCPCLConnection(args.eid, "127.0.0.1", 0, timeout=args.timeout)
    conn.sock.close()
    conn.sock = sock
    sock.sendall(serialize_tcpcl_contact_header(args.eid))
    header = decode_tcpcl_contact_header(read_contact_header(sock, args.timeout))
    emit("HEADER", **header_fields(header))
    for i in range(args.recv):
        report("RECV", i, bytes(conn.recv_bundle()))
    for i, (raw, _) in enumerate(bundles):
        conn.send_bundle(raw)
        report("SENT", i, raw)
    # Whatever the peer sends until it closes (its SHUTDOWN, normally 0x50).
    rest = b""
    sock.settimeout(args.timeout)
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            rest += chunk
    except socket.timeout:
        pass
    emit("END", rest=rest.hex())
    conn.disconnect()
    srv.close()
    emit("DONE")


def cmd_mtcp_send(args):
    bundles = build(args)
    with MTCPConnection("127.0.0.1", args.port, timeout=args.timeout) as conn:
        for i, (raw, _) in enumerate(bundles):
            conn.send_bundle(raw)
            report("SENT", i, raw)
            if args.gap:
                time.sleep(args.gap)
    emit("DONE")


def cmd_mtcp_listen(args):
    srv = listen(args.port)
    got = 0
    deadline = time.monotonic() + args.timeout
    while got < args.recv and time.monotonic() < deadline:
        try:
            sock = accept(srv, max(0.1, deadline - time.monotonic()))
        except socket.timeout:
            break
        conn = MTCPSocket(sock, timeout=args.timeout)
        try:
            while got < args.recv:
                report("RECV", got, bytes(conn.recv_bundle()))
                got += 1
        except Exception as exc:  # the node closed this connection; it may open another
            emit("CONNECTION-END", reason=type(exc).__name__)
        conn.disconnect()
    srv.close()
    emit("DONE", received=got)
    return 0 if got == args.recv else 1


def parse_line(line):
    tag, *parts = line.split()
    return tag, dict(p.split("=", 1) for p in parts if "=" in p)


def cmd_check_recv(args):
    with open(args.manifest) as f:
        manifest = json.load(f)
    adus = []
    with open(args.log) as f:
        for line in f:
            if line.startswith("ADU "):
                tag, fields = parse_line(line)
                adus.append((int(line.split()[1]), fields))
    fails = 0
    if len(adus) != len(manifest):
        print(f"FAIL received {len(adus)} ADUs, sent {len(manifest)}")
        fails += 1
    for m in manifest:
        i = m["i"]
        want = bytes.fromhex(m["payload"])
        label = f"bundle {i} ({len(want)} B, CRC {m['primary_crc']}/{m['payload_crc']})"
        if i >= len(adus):
            print(f"FAIL {label}: not received")
            fails += 1
            continue
        k, fields = adus[i]
        try:
            with open(f"{args.dir}/adu{k}.bin", "rb") as f:
                got = f.read()
        except OSError as exc:
            print(f"FAIL {label}: {exc}")
            fails += 1
            continue
        problems = []
        if got != want:
            problems.append(f"payload differs ({len(got)} B received)")
        if fields.get("trunc") != "0":
            problems.append("truncated")
        if fields.get("src") != m["src"]:
            problems.append(f"source {fields.get('src')}, want {m['src']}")
        if problems:
            print(f"FAIL {label}: " + "; ".join(problems))
            fails += 1
        else:
            print(f"PASS {label}: intact, source {m['src']}")
    return 1 if fails else 0


def cmd_check_sent(args):
    recvs = []
    with open(args.log) as f:
        for line in f:
            if line.startswith("RECV "):
                recvs.append(parse_line(line)[1])
    fails = 0
    if len(recvs) != args.count:
        print(f"FAIL received {len(recvs)} bundles, want {args.count}")
        fails += 1
    want_payload = args.payload.encode()
    for fields in recvs:
        i = fields.get("i")
        if "error" in fields:
            print(f"FAIL bundle {i}: pyd3tn cannot parse it: {fields['error']}")
            fails += 1
            continue
        raw = bytes.fromhex(fields["hex"])
        payload = Bundle.parse(raw).payload_block.data
        checks = [
            ("source", fields["src"], args.src),
            ("destination", fields["dst"], args.dst),
            ("lifetime_ms", fields["lifetime_ms"], str(args.lifetime_ms)),
            ("CRCs recomputed", fields["crc_ok"], "1"),
            ("payload", bytes(payload), want_payload),
        ]
        bad = [f"{name} {got!r}, want {want!r}" for name, got, want in checks if got != want]
        if bad:
            print(f"FAIL bundle {i}: " + "; ".join(bad))
            fails += 1
        else:
            print(f"PASS bundle {i}: {args.src} -> {args.dst}, lifetime {args.lifetime_ms} ms, "
                  f"CRC types {fields['primary_crc']}/{fields['payload_crc']} recomputed, "
                  f"payload {len(payload)} B")
    return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["tcpclv3-client", "tcpclv3-server", "mtcp-send",
                                     "mtcp-listen", "check-recv", "check-sent"])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--send", type=int, default=0)
    ap.add_argument("--recv", type=int, default=0)
    ap.add_argument("--eid", default="ipn:30.0")
    ap.add_argument("--src", default="ipn:30.1")
    ap.add_argument("--dst", default="ipn:20.1")
    ap.add_argument("--sizes", default="5,1,300,70000")
    ap.add_argument("--lifetime", type=int, default=3600)
    ap.add_argument("--manifest")
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--gap", type=float, default=0.0)
    ap.add_argument("--log")
    ap.add_argument("--dir")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--payload", default="")
    ap.add_argument("--lifetime-ms", type=int, default=0)
    args = ap.parse_args()
    handler = {
        "tcpclv3-client": cmd_tcpclv3_client,
        "tcpclv3-server": cmd_tcpclv3_server,
        "mtcp-send": cmd_mtcp_send,
        "mtcp-listen": cmd_mtcp_listen,
        "check-recv": cmd_check_recv,
        "check-sent": cmd_check_sent,
    }[args.mode]
    return handler(args) or 0


if __name__ == "__main__":
    sys.exit(main())

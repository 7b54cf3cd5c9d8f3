#!/usr/bin/env python3
"""A small, independent TCPCLv4 (RFC 9174) passive peer on plain sockets, for
engine/tests/tcpcl_python.rs.

    tcpcl4_peer.py --node ipn:30.0 --send-len N [--segment-mru M] [--seg-size S]
                   [--keepalive K] [--ack-flags zero|mirror]

Listens on 127.0.0.1 with a free port and prints "PORT <n>", accepts one connection, and then:
- exchanges contact headers (checks "dtn!" and version 4, answers with flags 0);
- reads the active side's SESS_INIT (no extensions expected) and answers with its own
  (keepalive K, Segment MRU M, Transfer MRU 1 MiB, node ID);
- acknowledges every XFER_SEGMENT it receives with the cumulative length, with flags 0 like
  dtn7-rs (--ack-flags zero) or the segment's flags like RFC 9174 §5.2.3 (mirror), and checks
  START/END order, segment sizes against its MRU, and the 4-octet extension length on START;
- when a bundle is complete, prints "RECEIVED tid=<id> len=<n> fnv=<FNV-1a 64 hex>", then
  sends its own bundle of N octets (octet i = (7 i + 3) mod 256) as transfer 1 in segments of
  min(S, the peer's Segment MRU), and prints "ACKED len=<n>" once an XFER_ACK covers it;
- answers SESS_TERM with a REPLY, prints "SESS_TERM flags=<f> reason=<r>", closes, exits 0.

Any protocol violation seen is printed to stderr and makes the exit status 1.
"""
import argparse
import socket
import struct
import sys

MAGIC = b"dtn!"
XFER_SEGMENT, XFER_ACK, XFER_REFUSE, KEEPALIVE, SESS_TERM, MSG_REJECT, SESS_INIT = range(1, 8)
END, START = 0x01, 0x02


class Violation(Exception):
    pass


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


class Stream:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Violation("connection closed inside a message")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def u8(self):
        return self.read(1)[0]

    def u16(self):
        return struct.unpack(">H", self.read(2))[0]

    def u32(self):
        return struct.unpack(">I", self.read(4))[0]

    def u64(self):
        return struct.unpack(">Q", self.read(8))[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--node", default="ipn:30.0")
    ap.add_argument("--send-len", type=int, required=True)
    ap.add_argument("--segment-mru", type=int, default=1000)
    ap.add_argument("--seg-size", type=int, default=700)
    ap.add_argument("--keepalive", type=int, default=30)
    ap.add_argument("--ack-flags", choices=["zero", "mirror"], default="zero")
    args = ap.parse_args()

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(20)
    print("PORT %d" % listener.getsockname()[1], flush=True)
    conn, _ = listener.accept()
    conn.settimeout(20)
    s = Stream(conn)
    try:
        run(conn, s, args)
    except (Violation, socket.timeout) as e:
        print("VIOLATION %s" % e, file=sys.stderr, flush=True)
        sys.exit(1)
    finally:
        conn.close()
        listener.close()


def run(conn, s, args):
    # Contact header (RFC 9174 §4.2): the active side speaks first.
    header = s.read(6)
    if header[:4] != MAGIC or header[4] != 4:
        raise Violation("contact header %s" % header.hex())
    if header[5] & 0x01:
        raise Violation("CAN_TLS set")
    conn.sendall(MAGIC + bytes([4, 0]))

    # SESS_INIT (§4.6).
    if s.u8() != SESS_INIT:
        raise Violation("first message is not SESS_INIT")
    keepalive = s.u16()
    seg_mru = s.u64()
    xfer_mru = s.u64()
    node = s.read(s.u16()).decode("utf-8")
    ext = s.read(s.u32())
    if ext:
        raise Violation("session extensions %s" % ext.hex())
    print("SESS_INIT node=%s keepalive=%d segment_mru=%d transfer_mru=%d"
          % (node, keepalive, seg_mru, xfer_mru), flush=True)
    mine = args.node.encode()
    conn.sendall(struct.pack(">BHQQH", SESS_INIT, args.keepalive, args.segment_mru, 1 << 20,
                             len(mine)) + mine + struct.pack(">I", 0))

    ours = bytes((7 * i + 3) % 256 for i in range(args.send_len))
    receiving = None  # (transfer id, bytearray)
    sent = False
    while True:
        kind = s.u8()
        if kind == XFER_SEGMENT:
            flags = s.u8()
            tid = s.u64()
            if flags & START:
                ext_len = s.u32()
                if ext_len:
                    raise Violation("transfer extensions on transfer %d" % tid)
                if receiving is not None:
                    raise Violation("START inside transfer %d" % receiving[0])
                receiving = (tid, bytearray())
            elif receiving is None or receiving[0] != tid:
                raise Violation("segment of transfer %d without START" % tid)
            data = s.read(s.u64())
            if len(data) > args.segment_mru:
                raise Violation("segment of %d octets over MRU %d" % (len(data), args.segment_mru))
            receiving[1].extend(data)
            ack_flags = flags if args.ack_flags == "mirror" else 0
            conn.sendall(struct.pack(">BBQQ", XFER_ACK, ack_flags, tid, len(receiving[1])))
            if flags & END:
                got = bytes(receiving[1])
                print("RECEIVED tid=%d len=%d fnv=%016x" % (tid, len(got), fnv1a64(got)),
                      flush=True)
                receiving = None
                if not sent:
                    send_bundle(conn, ours, min(args.seg_size, seg_mru))
                    sent = True
        elif kind == XFER_ACK:
            flags = s.u8()
            tid = s.u64()
            length = s.u64()
            if tid != 1 or length > len(ours):
                raise Violation("XFER_ACK %d %d" % (tid, length))
            if length == len(ours):
                print("ACKED len=%d" % length, flush=True)
        elif kind == KEEPALIVE:
            pass
        elif kind == SESS_TERM:
            flags = s.u8()
            reason = s.u8()
            print("SESS_TERM flags=%d reason=%d" % (flags, reason), flush=True)
            if flags & 0x01:
                raise Violation("unsolicited SESS_TERM reply")
            conn.sendall(bytes([SESS_TERM, flags | 0x01, reason]))
            conn.shutdown(socket.SHUT_WR)
            return
        elif kind == XFER_REFUSE:
            raise Violation("XFER_REFUSE reason %d transfer %d" % (s.u8(), s.u64()))
        elif kind == MSG_REJECT:
            raise Violation("MSG_REJECT reason %d header %d" % (s.u8(), s.u8()))
        else:
            raise Violation("message type %d" % kind)


def send_bundle(conn, data, seg_size):
    """Transfer 1, in segments of seg_size octets (RFC 9174 §5.2.2)."""
    offsets = list(range(0, len(data), seg_size)) or [0]
    for n, off in enumerate(offsets):
        flags = (START if n == 0 else 0) | (END if n == len(offsets) - 1 else 0)
        chunk = data[off:off + seg_size]
        msg = struct.pack(">BBQ", XFER_SEGMENT, flags, 1)
        if flags & START:
            msg += struct.pack(">I", 0)
        msg += struct.pack(">Q", len(chunk)) + chunk
        conn.sendall(msg)


if __name__ == "__main__":
    main()

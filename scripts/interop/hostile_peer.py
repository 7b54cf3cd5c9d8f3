#!/usr/bin/env python3
"""Hostile peers against a running bpnode (scripts/interop/test_hostile_peer.sh).

    hostile_peer.py --tcpcl PORT --mtcp PORT --udp PORT --sink PORT [--node-pid PID]
                    [--wait-negotiation] [--only SUBSTRING]

The node under test is ipn:20.0 with listeners tcpcl:127.0.0.1:TCPCL, mtcp:127.0.0.1:MTCP and
udp:127.0.0.1:UDP, and the route ipn:30.*=udp:127.0.0.1:SINK: this script binds SINK, so a
bundle for ipn:30.1 that the node accepted comes back here, which is how MTCP and UDP (no
acknowledgement) show that the node took a bundle.

Each hostile client is one case; its line is "PASS name: ..." or "FAIL name: ...":
  (a) garbage bytes, (b) a truncated message then close, (c) a huge declared length,
  (d) a half-open connection (nothing, or contact header only, then silence), (e) a slow
  trickle (one byte every 50 ms), plus the other peer errors of the response table in
  engine/src/cla/tcpcl/session.rs.
For TCPCL the messages the node sends before it closes are read off the wire and compared
with that table (SESS_TERM and MSG_REJECT reason codes, KEEPALIVEs ignored); for MTCP the
node must close the connection. After every hostile client three well-behaved clients must be
served ("served" in the case line):
  - TCPCL: contact header, SESS_INIT, one XFER_SEGMENT START|END holding a pyd3tn bundle for
    ipn:20.1; the XFER_ACK covering its whole length proves acceptance;
  - MTCP: one frame holding a pyd3tn bundle for ipn:30.1, which must reach SINK;
  - UDP: one datagram holding a pyd3tn bundle for ipn:30.1, which must reach SINK;
and, with --node-pid, the node process must still be running.

The half-open connections are opened first and stay open through every other case: the node
must serve everyone meanwhile. Its negotiation timeout is 60 s (DEFAULT_NEGOTIATION_TIMEOUT_MS),
too long for a default run, so their closing is only checked with --wait-negotiation (the
script then waits until 65 s after they opened). MTCP has no idle timeout: its half-open
connection is expected to stay open.

Every step has a timeout. Exit status 0 only if every case passed.
"""
import argparse
import os
import socket
import struct
import sys
import time

from pyd3tn.bundle7 import create_bundle7

STEP_S = 5.0  # bound on every wait for the node
TRICKLE_S = 0.05

# TCPCLv4 (RFC 9174)
MAGIC = b"dtn!"
XFER_SEGMENT, XFER_ACK, XFER_REFUSE, KEEPALIVE, SESS_TERM, MSG_REJECT, SESS_INIT = range(1, 8)
END, START = 0x01, 0x02
REPLY = 0x01
NAMES = {1: "XFER_SEGMENT", 2: "XFER_ACK", 3: "XFER_REFUSE", 4: "KEEPALIVE", 5: "SESS_TERM",
         6: "MSG_REJECT", 7: "SESS_INIT"}
TERM_REASONS = {0: "unknown", 1: "idle timeout", 2: "version mismatch", 3: "busy",
                4: "contact failure", 5: "resource exhaustion"}
REJECT_REASONS = {1: "message type unknown", 2: "message unsupported", 3: "message unexpected"}
REFUSE_REASONS = {0: "unknown", 1: "completed", 2: "no resources", 3: "retransmit",
                  4: "not acceptable", 5: "extension failure", 6: "session terminating"}

RESULTS = []
ARGS = None
SINK = None
SEQ = iter(range(1, 1 << 30))


def result(ok, name, detail):
    RESULTS.append((ok, name))
    print("%s %s: %s" % ("PASS" if ok else "FAIL", name, detail), flush=True)


# ----- encoders -----

def contact(version=4, flags=0):
    return MAGIC + bytes([version, flags])


def sess_init(keepalive=30, seg_mru=1 << 20, xfer_mru=1 << 26, node=b"ipn:30.0", ext=b""):
    return (struct.pack(">BHQQH", SESS_INIT, keepalive, seg_mru, xfer_mru, len(node)) + node
            + struct.pack(">I", len(ext)) + ext)


def segment(flags, tid, data, ext=b""):
    out = struct.pack(">BBQ", XFER_SEGMENT, flags, tid)
    if flags & START:
        out += struct.pack(">I", len(ext)) + ext
    return out + struct.pack(">Q", len(data)) + data


def sess_term(flags=0, reason=0):
    return bytes([SESS_TERM, flags, reason])


def mtcp_frame(data):
    n = len(data)
    if n < 24:
        head = bytes([0x40 | n])
    elif n < 0x100:
        head = bytes([0x58, n])
    elif n < 0x10000:
        head = bytes([0x59]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x5a]) + n.to_bytes(4, "big")
    return head + data


def bundle(dst, payload):
    return bytes(create_bundle7("ipn:30.1", dst, payload, sequence_number=next(SEQ)))


def junk(n, seed):
    """Deterministic pseudo-random bytes."""
    out = bytearray()
    x = seed & 0xFFFFFFFF or 1
    for _ in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out.append(x & 0xFF)
    return bytes(out)


# ----- TCPCL reading -----

def parse_one(buf, pos, want_contact):
    """One message from buf[pos:]: ((tuple), new pos), or None when incomplete."""
    rest = len(buf) - pos
    if want_contact:
        if rest < 6:
            return None
        return ("CONTACT", bytes(buf[pos:pos + 4]), buf[pos + 4], buf[pos + 5]), pos + 6
    if rest < 1:
        return None
    t = buf[pos]

    def fixed(n, fmt):
        if rest < n:
            return None
        return struct.unpack(fmt, bytes(buf[pos + 1:pos + n])), pos + n

    if t == KEEPALIVE:
        return ("KEEPALIVE",), pos + 1
    if t in (SESS_TERM, MSG_REJECT):
        r = fixed(3, ">BB")
        return r and ((NAMES[t],) + r[0], r[1])
    if t == XFER_ACK:
        r = fixed(18, ">BQQ")
        return r and (("XFER_ACK",) + r[0], r[1])
    if t == XFER_REFUSE:
        r = fixed(10, ">BQ")
        return r and (("XFER_REFUSE",) + r[0], r[1])
    if t == SESS_INIT:
        if rest < 21:
            return None
        ka, smru, tmru, nlen = struct.unpack(">HQQH", bytes(buf[pos + 1:pos + 21]))
        at = pos + 21 + nlen
        if len(buf) < at + 4:
            return None
        elen = struct.unpack(">I", bytes(buf[at:at + 4]))[0]
        if len(buf) < at + 4 + elen:
            return None
        node = bytes(buf[pos + 21:pos + 21 + nlen]).decode("utf-8", "replace")
        return ("SESS_INIT", ka, smru, tmru, node), at + 4 + elen
    if t == XFER_SEGMENT:
        if rest < 10:
            return None
        flags, tid = struct.unpack(">BQ", bytes(buf[pos + 1:pos + 10]))
        at = pos + 10
        if flags & START:
            if len(buf) < at + 4:
                return None
            at += 4 + struct.unpack(">I", bytes(buf[at:at + 4]))[0]
        if len(buf) < at + 8:
            return None
        dlen = struct.unpack(">Q", bytes(buf[at:at + 8]))[0]
        if len(buf) < at + 8 + dlen:
            return None
        return ("XFER_SEGMENT", flags, tid, dlen), at + 8 + dlen
    return ("UNKNOWN_TYPE", t), len(buf)


def show(msg):
    k = msg[0]
    if k == "SESS_TERM":
        return "SESS_TERM(flags %#x, %d %s)" % (msg[1], msg[2], TERM_REASONS.get(msg[2], "?"))
    if k == "MSG_REJECT":
        return "MSG_REJECT(%d %s, header %#04x)" % (msg[1], REJECT_REASONS.get(msg[1], "?"),
                                                   msg[2])
    if k == "XFER_REFUSE":
        return "XFER_REFUSE(%d %s, transfer %d)" % (msg[1], REFUSE_REASONS.get(msg[1], "?"),
                                                   msg[2])
    if k == "XFER_ACK":
        return "XFER_ACK(flags %#x, transfer %d, length %d)" % msg[1:]
    if k == "CONTACT":
        return "contact header(%r, version %d, flags %#x)" % msg[1:]
    if k == "SESS_INIT":
        return "SESS_INIT(keepalive %d, segment MRU %d, transfer MRU %d, %s)" % msg[1:]
    return "(%s)" % ", ".join(str(x) for x in msg)


def shows(msgs):
    return "[" + ", ".join(show(m) for m in msgs) + "]" if msgs else "nothing"


class Conn:
    """A TCP connection to the node with a receive buffer and TCPCL message parsing."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=STEP_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0
        self.eof = False
        self.reset = False
        self.contact_pending = False  # the next thing to parse is the node's contact header

    def send(self, data):
        self.sock.sendall(data)

    def shut_wr(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def fill(self, deadline):
        """Reads once; False on timeout or end of stream."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            self.eof = self.reset = True
            return False
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def next_msg(self, deadline):
        """The next message from the node, or None (timeout or end of stream)."""
        while True:
            r = parse_one(self.buf, self.pos, self.contact_pending)
            if r is not None:
                msg, self.pos = r
                self.contact_pending = False
                return msg
            if not self.fill(deadline):
                return None

    def until_eof(self, timeout=STEP_S):
        """Every message until the node closes; (messages, closed?)."""
        deadline = time.monotonic() + timeout
        msgs = []
        while True:
            m = self.next_msg(deadline)
            if m is None:
                if self.eof:
                    left = len(self.buf) - self.pos
                    if left:
                        msgs.append(("TRAILING_BYTES", bytes(self.buf[self.pos:]).hex()))
                    return msgs, True
                return msgs, False
            msgs.append(m)

    def wait_for(self, pred, timeout=STEP_S):
        """Messages until one matches pred; (messages, matched?)."""
        deadline = time.monotonic() + timeout
        msgs = []
        while True:
            m = self.next_msg(deadline)
            if m is None:
                return msgs, False
            msgs.append(m)
            if pred(m):
                return msgs, True


def tcpcl_connect(contact_hdr=True):
    c = Conn(ARGS.tcpcl)
    if contact_hdr:
        c.send(contact())
        c.contact_pending = True
        m = c.next_msg(time.monotonic() + STEP_S)
        if m is None or m[0] != "CONTACT" or m[1] != MAGIC or m[2] != 4:
            c.close()
            raise Failure("no contact header v4 from the node (got %s)" % (m and show(m)))
    return c


def tcpcl_session(keepalive=30):
    c = tcpcl_connect()
    c.send(sess_init(keepalive=keepalive))
    m = c.next_msg(time.monotonic() + STEP_S)
    if m is None or m[0] != "SESS_INIT":
        c.close()
        raise Failure("no SESS_INIT from the node (got %s)" % (m and show(m)))
    return c


class Failure(Exception):
    pass


def no_keepalive(msgs):
    return [m for m in msgs if m[0] != "KEEPALIVE"]


# ----- well-behaved clients -----

def wait_sink(marker, timeout=STEP_S):
    deadline = time.monotonic() + timeout
    while marker not in SINK.seen:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        SINK.sock.settimeout(left)
        try:
            data, _ = SINK.sock.recvfrom(65536)
        except socket.timeout:
            return False
        at = data.find(b"MARK<")
        if at >= 0:
            SINK.seen.add(data[at:data.find(b">", at) + 1])
    return True


class Sink:
    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.seen = set()


def good_tcpcl(tag):
    b = bundle("ipn:20.1", b"MARK<tcpcl-" + tag.encode() + b">")
    try:
        c = tcpcl_session()
    except (Failure, OSError) as e:
        return "tcpcl not served (%s)" % e
    try:
        c.send(segment(START | END, 1, b))
        msgs, ok = c.wait_for(lambda m: m[0] == "XFER_ACK" and m[2] == 1 and m[3] == len(b))
        if not ok:
            return "tcpcl: no XFER_ACK of %d octets (got %s%s)" % (
                len(b), shows(msgs), ", closed" if c.eof else "")
        c.send(sess_term())
        c.until_eof(2.0)
        return None
    except OSError as e:
        return "tcpcl: %s" % e
    finally:
        c.close()


def good_mtcp(tag):
    marker = b"MARK<mtcp-" + tag.encode() + b">"
    try:
        c = Conn(ARGS.mtcp)
        c.send(mtcp_frame(bundle("ipn:30.1", marker)))
        c.shut_wr()
        c.until_eof(2.0)
        c.close()
    except OSError as e:
        return "mtcp: %s" % e
    if not wait_sink(marker):
        return "mtcp: bundle not forwarded to the sink"
    return None


def good_udp(tag):
    marker = b"MARK<udp-" + tag.encode() + b">"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(bundle("ipn:30.1", marker), ("127.0.0.1", ARGS.udp))
    s.close()
    if not wait_sink(marker):
        return "udp: bundle not forwarded to the sink"
    return None


def node_alive():
    if not ARGS.node_pid:
        return True
    try:
        with open("/proc/%d/stat" % ARGS.node_pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except OSError:
        return False


def served(tag):
    """Runs the three well-behaved clients; None if all were served, else what failed."""
    errs = [e for e in (good_tcpcl(tag), good_mtcp(tag), good_udp(tag)) if e]
    if not node_alive():
        errs.insert(0, "bpnode is not running")
    return "; ".join(errs) or None


# ----- cases -----

CASES = []


def case(name):
    def reg(f):
        CASES.append((name, f))
        return f
    return reg


def tcpcl_table(name, kind, payload, expect, then="close", keepalive=30, shut=False):
    """A TCPCL case: `kind` is how far the client goes before `payload` (raw: nothing, contact:
    contact headers exchanged, session: SESS_INITs exchanged); `expect` the messages the node
    must send before it closes ("close") or before it goes on ("continue": then a transfer on
    the same session must be acknowledged)."""
    def run():
        c = {"raw": lambda: Conn(ARGS.tcpcl), "contact": tcpcl_connect,
             "session": lambda: tcpcl_session(keepalive)}[kind]()
        if kind == "raw" and expect and expect[0][0] == "CONTACT":
            c.contact_pending = True
        try:
            c.send(payload)
            if shut:
                c.shut_wr()
            if then == "close":
                msgs, closed = c.until_eof()
                got = no_keepalive(msgs)
                note = " (connection reset)" if c.reset else ""
                if not closed:
                    raise Failure("node did not close within %.0f s; sent %s" % (STEP_S, shows(got)))
                if got != expect:
                    raise Failure("expected %s then close, got %s then close%s"
                                  % (shows(expect), shows(got), note))
                return "node sent %s and closed%s" % (shows(got), note)
            got = []
            deadline = time.monotonic() + STEP_S
            while len(got) < len(expect):
                m = c.next_msg(deadline)
                if m is None:
                    raise Failure("expected %s, got %s%s" % (
                        shows(expect), shows(got), " then close" if c.eof else ""))
                if m[0] != "KEEPALIVE":
                    got.append(m)
            if got != expect:
                raise Failure("expected %s, got %s" % (shows(expect), shows(got)))
            b = bundle("ipn:20.1", b"MARK<same-session-" + name.encode() + b">")
            c.send(segment(START | END, 100, b))
            msgs, ok = c.wait_for(lambda m: m[0] == "XFER_ACK" and m[2] == 100)
            if not ok or msgs[-1][3] != len(b):
                raise Failure("node sent %s, then no XFER_ACK on the same session (got %s)"
                              % (shows(got), shows(msgs)))
            c.send(sess_term())
            c.until_eof(2.0)
            return "node sent %s and the session went on (next transfer acknowledged)" % shows(got)
        finally:
            c.close()
    case(name)(run)


def T(flags, reason):
    return ("SESS_TERM", flags, reason)


def R(reason, header):
    return ("MSG_REJECT", reason, header)


CONTACT_V4 = ("CONTACT", MAGIC, 4, 0)
HTTP = b"GET / HTTP/1.1\r\nHost: bpnode\r\n\r\n"

# (a) garbage
tcpcl_table("tcpcl.a.garbage_instead_of_contact_header", "raw", HTTP, [])
tcpcl_table("tcpcl.a.binary_garbage_instead_of_contact_header", "raw", junk(300, 7), [])
tcpcl_table("tcpcl.a.version_3_contact_header", "raw", contact(version=3),
            [CONTACT_V4, T(0, 2)])
tcpcl_table("tcpcl.a.unknown_type_before_sess_init", "contact", b"\xee" + junk(50, 3),
            [R(1, 0xEE)])
tcpcl_table("tcpcl.a.keepalive_before_sess_init", "contact", bytes([KEEPALIVE]),
            [R(3, KEEPALIVE), T(0, 4)])
tcpcl_table("tcpcl.a.sess_init_segment_mru_0", "contact", sess_init(seg_mru=0), [T(0, 4)])
tcpcl_table("tcpcl.a.sess_init_critical_extension", "contact",
            sess_init(ext=bytes([1]) + struct.pack(">HH", 0x7777, 2) + b"zz"), [T(0, 4)])
tcpcl_table("tcpcl.a.sess_init_node_id_not_utf8", "contact", sess_init(node=b"\xff\xfe\xfd"),
            [T(0, 4)])
tcpcl_table("tcpcl.a.sess_init_extension_overrun", "contact",
            sess_init(ext=bytes([0]) + struct.pack(">HH", 0x7777, 200) + b"zz"), [T(0, 4)])
tcpcl_table("tcpcl.a.garbage_in_session", "session", b"\xff" + junk(200, 11), [R(1, 0xFF)])
tcpcl_table("tcpcl.a.segment_without_start", "session", segment(END, 9, b"x"),
            [R(3, XFER_SEGMENT), T(0, 0)])
tcpcl_table("tcpcl.a.start_inside_unfinished_transfer", "session",
            segment(START, 1, b"0123456789") + segment(START | END, 2, b"abc"),
            [("XFER_ACK", START, 1, 10), T(0, 0)])
tcpcl_table("tcpcl.a.sess_init_again", "session", sess_init(), [R(3, SESS_INIT)], then="continue")
tcpcl_table("tcpcl.a.ack_of_unknown_transfer", "session",
            struct.pack(">BBQQ", XFER_ACK, 3, 77, 10), [R(3, XFER_ACK)], then="continue")
tcpcl_table("tcpcl.a.transfer_length_over_mru", "session",
            segment(START, 1, b"abc", ext=bytes([0]) + struct.pack(">HH", 1, 8)
                    + (1 << 40).to_bytes(8, "big")),
            [("XFER_REFUSE", 4, 1)], then="continue")
tcpcl_table("tcpcl.a.critical_transfer_extension", "session",
            segment(START | END, 1, b"abc", ext=bytes([1]) + struct.pack(">HH", 0x7777, 0)),
            [("XFER_REFUSE", 5, 1)], then="continue")
# (b) truncated message, then close
tcpcl_table("tcpcl.b.truncated_contact_header", "raw", b"dtn", [], shut=True)
tcpcl_table("tcpcl.b.truncated_sess_init", "contact", sess_init()[:15], [], shut=True)
_seg = segment(START | END, 1, bundle("ipn:20.1", b"truncated"))
tcpcl_table("tcpcl.b.truncated_segment", "session", _seg[:len(_seg) // 2], [], shut=True)
# (c) huge declared lengths
tcpcl_table("tcpcl.c.segment_data_length_2^63", "session",
            struct.pack(">BBQIQ", XFER_SEGMENT, START | END, 1, 0, 1 << 63), [T(0, 5)])
tcpcl_table("tcpcl.c.segment_data_length_mru+1", "session",
            struct.pack(">BBQIQ", XFER_SEGMENT, START | END, 1, 0, (1 << 20) + 1), [T(0, 5)])
tcpcl_table("tcpcl.c.transfer_extensions_length_2^32-1", "session",
            struct.pack(">BBQI", XFER_SEGMENT, START | END, 1, 0xFFFFFFFF), [T(0, 5)])
tcpcl_table("tcpcl.c.sess_init_extensions_length_2^32-1", "contact",
            sess_init()[:-4] + b"\xff\xff\xff\xff", [T(0, 4)])
# clean termination by the peer (RFC 9174 §6.1): the node replies with the REPLY flag
tcpcl_table("tcpcl.sess_term_by_peer", "session", sess_term(0, 0), [T(REPLY, 0)])


@case("tcpcl.d.idle_session_keepalive_1s")
def _idle():
    """Established with keepalive 1 s, then silence: KEEPALIVE after 1 s, SESS_TERM "idle
    timeout" after 2 s without a received byte (§5.1.1)."""
    c = tcpcl_session(keepalive=1)
    t0 = time.monotonic()
    try:
        msgs, closed = c.until_eof(STEP_S + 2)
        dt = time.monotonic() - t0
        kas = sum(1 for m in msgs if m[0] == "KEEPALIVE")
        got = no_keepalive(msgs)
        if not closed:
            raise Failure("not closed after %.1f s (sent %s)" % (dt, shows(msgs)))
        if got != [T(0, 1)]:
            raise Failure("expected [SESS_TERM idle timeout] then close after ~2 s, got %s "
                          "(%d KEEPALIVE) then close after %.1f s" % (shows(got), kas, dt))
        if kas < 1:
            raise Failure("no KEEPALIVE before the idle timeout")
        return "%d KEEPALIVE, then %s and close after %.1f s" % (kas, shows(got), dt)
    finally:
        c.close()


@case("tcpcl.e.trickle_50ms")
def _trickle_tcpcl():
    """A whole session one byte every 50 ms, keepalive 1 s: any received byte keeps the
    session alive, so the bundle must be acknowledged (or the session ended by a timeout)."""
    b = bundle("ipn:20.1", b"MARK<trickle-tcpcl> " + b"t" * 20)
    stream = contact() + sess_init(keepalive=1) + segment(START | END, 1, b)
    c = Conn(ARGS.tcpcl)
    c.contact_pending = True
    t0 = time.monotonic()
    msgs = []
    try:
        for i in range(len(stream)):
            c.send(stream[i:i + 1])
            time.sleep(TRICKLE_S)
            c.sock.setblocking(False)
            try:
                while True:
                    chunk = c.sock.recv(65536)
                    if not chunk:
                        c.eof = True
                        break
                    c.buf += chunk
            except (BlockingIOError, InterruptedError):
                pass
            finally:
                c.sock.setblocking(True)
            if c.eof:
                break
        more, ok = c.wait_for(lambda m: m[0] == "XFER_ACK" or m[0] == "SESS_TERM")
        msgs += more
        dt = time.monotonic() - t0
        last = msgs[-1] if msgs else None
        if ok and last[0] == "XFER_ACK" and last[2] == 1 and last[3] == len(b):
            c.send(sess_term())
            c.until_eof(2.0)
            kas = sum(1 for m in msgs if m[0] == "KEEPALIVE")
            return ("%d octets over %.1f s acknowledged (%s; %d KEEPALIVE from the node meanwhile)"
                    % (len(stream), dt, show(last), kas))
        if ok and last[0] == "SESS_TERM" and last[2] == 1:
            rest, closed = c.until_eof()
            if closed:
                return "ended cleanly by a timeout after %.1f s: %s" % (dt, show(last))
        raise Failure("after %.1f s: %s%s" % (dt, shows(msgs), ", closed" if c.eof else ""))
    finally:
        c.close()


def mtcp_close_case(name, payload, shut=False, what=""):
    def run():
        c = Conn(ARGS.mtcp)
        try:
            c.send(payload)
            if shut:
                c.shut_wr()
            msgs, closed = c.until_eof()
            if not closed:
                raise Failure("node did not close the connection within %.0f s" % STEP_S)
            if len(c.buf):
                raise Failure("node sent %d bytes on an MTCP connection" % len(c.buf))
            return "node closed the connection%s%s" % (
                " (reset)" if c.reset else "", what)
        finally:
            c.close()
    case(name)(run)


mtcp_close_case("mtcp.a.garbage", b"\x00\x01\x02" + junk(200, 5), what=" (not a byte string)")
mtcp_close_case("mtcp.a.indefinite_byte_string", b"\x5f\x41x\xff")
mtcp_close_case("mtcp.a.http", HTTP, shut=True,
                what=" (after our FIN: 'G' and 'T' frame heads, frame 2 unfinished)")


@case("mtcp.a.frames_of_garbage_then_bundle")
def _mtcp_garbage_frames():
    """Well-framed garbage: each frame is dropped as a malformed bundle and the stream goes
    on; a valid frame behind them on the same connection must be forwarded."""
    marker = b"MARK<mtcp-after-garbage-frames>"
    c = Conn(ARGS.mtcp)
    try:
        c.send(mtcp_frame(junk(100, 1)) + mtcp_frame(b"\x9f\xff") + mtcp_frame(b"")
               + mtcp_frame(bundle("ipn:30.1", marker)[:-5])
               + mtcp_frame(bundle("ipn:30.1", marker)))
        if not wait_sink(marker):
            raise Failure("the valid bundle behind 4 garbage frames was not forwarded")
        c.shut_wr()
        c.until_eof(2.0)
        return "4 garbage frames dropped, the 5th forwarded on the same connection"
    finally:
        c.close()


_mb = mtcp_frame(bundle("ipn:30.1", b"truncated mtcp"))
mtcp_close_case("mtcp.b.truncated_frame", _mb[:len(_mb) // 2], shut=True)
mtcp_close_case("mtcp.b.truncated_head", b"\x5b\x00\x00", shut=True)
mtcp_close_case("mtcp.c.length_2^62", b"\x5b" + (1 << 62).to_bytes(8, "big"),
                what=" (without our FIN)")
mtcp_close_case("mtcp.c.length_2^64-1", b"\x5b" + b"\xff" * 8)
mtcp_close_case("mtcp.c.length_64MiB+1", b"\x5a" + ((64 << 20) + 1).to_bytes(4, "big"))


@case("mtcp.e.trickle_50ms")
def _trickle_mtcp():
    marker = b"MARK<trickle-mtcp>"
    frame = mtcp_frame(bundle("ipn:30.1", marker))
    c = Conn(ARGS.mtcp)
    t0 = time.monotonic()
    try:
        for i in range(len(frame)):
            c.send(frame[i:i + 1])
            time.sleep(TRICKLE_S)
        if not wait_sink(marker):
            raise Failure("trickled frame not forwarded")
        c.shut_wr()
        c.until_eof(2.0)
        return "%d octets over %.1f s, forwarded" % (len(frame), time.monotonic() - t0)
    finally:
        c.close()


def udp_case(name, datagram, what):
    def run():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(datagram, ("127.0.0.1", ARGS.udp))
        s.close()
        time.sleep(0.05)
        return "%d-byte datagram sent (%s)" % (len(datagram), what)
    case(name)(run)


_ub = bundle("ipn:30.1", b"truncated udp")
# 0x9f and a valid primary block (iterating a pyd3tn bundle gives its blocks)
_prim = b"\x9f" + bytes(list(create_bundle7("ipn:30.1", "ipn:30.1", b"x",
                                              sequence_number=1))[0])
udp_case("udp.a.garbage", junk(500, 99), "random bytes")
udp_case("udp.a.empty", b"", "empty datagram")
udp_case("udp.a.mtcp_framed_bundle", mtcp_frame(bundle("ipn:30.1", b"framed")),
         "a bundle inside a CBOR byte string")
udp_case("udp.b.truncated", _ub[:len(_ub) // 2], "first half of a bundle")
udp_case("udp.c.array_of_2^63", b"\x9b" + (1 << 63).to_bytes(8, "big") + b"\x00" * 16,
         "array head claiming 2^63 items")
udp_case("udp.c.payload_length_2^62",
         _prim + b"\x86\x01\x01\x00\x00\x5b" + (1 << 62).to_bytes(8, "big")
         + b"xy\xff", "payload block byte string claiming 2^62 bytes")


# ----- main -----

def main():
    global ARGS, SINK
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcpcl", type=int, required=True)
    ap.add_argument("--mtcp", type=int, required=True)
    ap.add_argument("--udp", type=int, required=True)
    ap.add_argument("--sink", type=int, required=True)
    ap.add_argument("--node-pid", type=int, default=0)
    ap.add_argument("--wait-negotiation", action="store_true")
    ap.add_argument("--only", default="")
    ARGS = ap.parse_args()
    SINK = Sink(ARGS.sink)

    err = served("start")
    if err:
        result(False, "baseline", err)
        return 1
    result(True, "baseline", "node serves TCPCL, MTCP and UDP clients")

    # (d) half-open connections, open during every other case
    t_open = time.monotonic()
    half = {}
    half["tcpcl.d.half_open_nothing"] = Conn(ARGS.tcpcl)
    h = Conn(ARGS.tcpcl)
    h.send(contact())
    h.contact_pending = True
    m = h.next_msg(time.monotonic() + STEP_S)
    if m != CONTACT_V4:
        result(False, "tcpcl.d.half_open_contact_only", "no contact header (got %s)"
               % (m and show(m)))
    half["tcpcl.d.half_open_contact_only"] = h
    half["mtcp.d.half_open_nothing"] = Conn(ARGS.mtcp)
    h = Conn(ARGS.mtcp)
    h.send(b"\x5a\x00\x01")  # half a frame head
    half["mtcp.d.half_open_partial_head"] = h

    n = 0
    for name, run in CASES:
        if ARGS.only and ARGS.only not in name:
            continue
        n += 1
        try:
            detail = run()
            ok = True
        except Failure as e:
            ok, detail = False, str(e)
        except OSError as e:
            ok, detail = False, "socket error: %r" % e
        err = served("%d" % n)
        if err:
            ok = False
            detail += "; NOT SERVED AFTERWARDS: " + err
        else:
            detail += "; served afterwards"
        result(ok, name, detail)

    # the half-open connections: the node served everyone while they stayed open
    held = time.monotonic() - t_open
    for name, c in half.items():
        c.sock.setblocking(False)
        try:
            data = c.sock.recv(65536)
            state = "closed by the node" if not data else "open (node sent %d bytes)" % len(data)
            if data:
                c.buf += data
        except (BlockingIOError, InterruptedError):
            state = "open"
        except ConnectionResetError:
            state = "reset by the node"
        c.sock.setblocking(True)
        if name.startswith("mtcp") and state.startswith("open"):
            result(True, name, "still %s after %.1f s, while %d hostile and %d well-behaved "
                   "clients were served (MTCP has no idle timeout)" % (state, held, n, 3 * n))
        elif state.startswith("open") and held < 60:
            result(True, name, "still %s after %.1f s, while %d hostile and %d well-behaved "
                   "clients were served (negotiation timeout is 60 s)" % (state, held, n, 3 * n))
        elif held >= 60:
            result(True, name, "%s after %.1f s" % (state, held))
        else:
            result(False, name, "%s after %.1f s: before the 60 s negotiation timeout"
                   % (state, held))

    if ARGS.wait_negotiation:
        wait = max(0.0, t_open + 65 - time.monotonic())
        print("waiting %.0f s for the 60 s negotiation timeout" % wait, flush=True)
        time.sleep(wait)
        for name, expect in (("tcpcl.d.half_open_nothing", []),
                             ("tcpcl.d.half_open_contact_only", [T(0, 1)])):
            c = half[name]
            msgs, closed = c.until_eof(1.0)
            got = no_keepalive(msgs)
            ok = closed and got == expect
            result(ok, name + ".timeout",
                   "%s %s after %.0f s (expected %s then close)"
                   % (shows(got), "then close" if closed else "and still open",
                      time.monotonic() - t_open, shows(expect)))
        err = served("after-timeout")
        result(err is None, "served_after_negotiation_timeout", err or "served")
    for c in half.values():
        c.close()

    failed = [name for ok, name in RESULTS if not ok]
    print("%d passed, %d failed%s" % (len(RESULTS) - len(failed), len(failed),
                                      (": " + " ".join(failed)) if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""dtn7_bench: end-to-end bundle throughput between two dtn7-rs daemons (dtnd), driven through
their application APIs. A benchmark for scripts/bench/tcpcl.sh, not a test.

    dtn7_bench.py ws|http WEB_SEND WEB_RECV DEST_EID SIZE SECONDS [WINDOW]

WEB_SEND is the web port of the sending dtnd, WEB_RECV that of the receiving one (both on
[::1], dtnd -6); DEST_EID an endpoint registered at the receiving dtnd (dtnd -e), e.g.
ipn:21.1. Payloads are SIZE bytes (>= 16), starting with a u64 little-endian index.

Methods:
  ws    the WebSocket application API (/ws) of both daemons, in "/data" mode (CBOR
        WsSendData / WsRecvData): the sender writes one binary message per bundle on one
        connection to the sending dtnd (which answers "200 Sent bundle ..." to each), the
        receiver has subscribed to DEST_EID on the receiving dtnd, which pushes every delivered
        bundle on its connection. One process, one thread, select() over both connections.
        A minimal RFC 6455 client is built in (no library); client frames use the mask key
        0 (legal framing, the XOR is then a no-op: no Python-side cost per byte).
  http  the REST API: POST /send?dst=DEST_EID (one persistent http.client connection, one
        request per bundle, each waiting for its answer) in one thread; GET /endpoint?SERVICE
        (pops one bundle, or "Nothing to receive") in a loop in another thread, on its own
        persistent connection.

Both keep at most WINDOW bundles (default: 4 MiB worth, 64..4096) injected and not yet
delivered, as bench_udp's window mode does: dtnd accepts bundles from its APIs without any
back-pressure (each one is queued to a task), so an unbounded sender only fills dtnd's memory.
If the window stays full for 1 s without a delivery the missing bundles are written off (a
"stall") and sending goes on. Sending stops after SECONDS; then the receiver waits until every
injected bundle has come or nothing came for 3 s.

Output, one line:
  RESULT delivered=N bytes=B secs=S adu_per_s=R mb_per_s=M injected=I lost=L loss=X dup=D
         reordered=O stalls=K method=M window=W
where secs is the receiver's time from the first to the last delivered bundle. Exit status 0,
1 on an error (message on stderr), 2 on bad arguments.
"""
import base64
import http.client
import os
import selectors
import socket
import struct
import sys
import threading
import time

try:
    import cbor2
except ImportError:  # pragma: no cover
    print("dtn7_bench: needs cbor2 (scripts/setup.sh puts it in .venv)", file=sys.stderr)
    sys.exit(1)


def die(msg):
    print(f"dtn7_bench: {msg}", file=sys.stderr)
    sys.exit(1)


class WebSocket:
    """Just enough of RFC 6455 for dtnd's /ws: client frames masked with key 0, no extensions."""

    def __init__(self, port, path="/ws"):
        self.sock = socket.create_connection(("::1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {path} HTTP/1.1\r\nHost: [::1]:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                die(f"web port {port}: connection closed during the WebSocket handshake")
            head += chunk
        status, _, rest = head.partition(b"\r\n\r\n")
        if b" 101 " not in status.split(b"\r\n", 1)[0] + b" ":
            die(f"web port {port}: no WebSocket upgrade: {status[:200]!r}")
        self.buf = bytearray(rest)
        self.frag = None  # (opcode, bytearray) of a fragmented message
        self.sock.setblocking(True)
        self.sock.settimeout(None)

    @staticmethod
    def header(opcode, n):
        if n < 126:
            h = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            h = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            h = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        return h + b"\0\0\0\0"  # mask key 0

    def send(self, opcode, payload):
        self.sock.sendall(self.header(opcode, len(payload)) + payload)

    def send_text(self, text):
        self.send(1, text.encode())

    def pump(self):
        """Reads what is available (the socket is readable); returns complete messages as
        (opcode, bytes); answers pings. Raises EOFError when the server closed."""
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError
        self.buf += chunk
        out = []
        buf = self.buf
        off = 0
        n = len(buf)
        while n - off >= 2:
            b0, b1 = buf[off], buf[off + 1]
            ln = b1 & 0x7F
            p = off + 2
            if ln == 126:
                if n - p < 2:
                    break
                ln = struct.unpack_from("!H", buf, p)[0]
                p += 2
            elif ln == 127:
                if n - p < 8:
                    break
                ln = struct.unpack_from("!Q", buf, p)[0]
                p += 8
            mask = None
            if b1 & 0x80:  # servers do not mask, but be lenient
                if n - p < 4:
                    break
                mask = bytes(buf[p:p + 4])
                p += 4
            if n - p < ln:
                break
            data = bytes(buf[p:p + ln])
            if mask and mask != b"\0\0\0\0":
                data = bytes(c ^ mask[i & 3] for i, c in enumerate(data))
            off = p + ln
            op = b0 & 0x0F
            fin = b0 & 0x80
            if op == 9:  # ping
                self.send(10, data)
                continue
            if op == 10:  # pong
                continue
            if op == 8:
                raise EOFError
            if op == 0:
                if self.frag is None:
                    continue
                self.frag[1].extend(data)
                if fin:
                    out.append((self.frag[0], bytes(self.frag[1])))
                    self.frag = None
                continue
            if not fin:
                self.frag = (op, bytearray(data))
                continue
            out.append((op, data))
        del buf[:off]
        return out

    def wait_text(self, prefix, secs=5.0):
        """Blocks until a text message starting with prefix comes (others are ignored)."""
        end = time.monotonic() + secs
        self.sock.settimeout(secs)
        try:
            while time.monotonic() < end:
                for op, data in self.pump():
                    if op == 1:
                        t = data.decode(errors="replace")
                        if t.startswith(prefix):
                            return t
                        die(f"unexpected answer {t!r} (wanted {prefix!r})")
        except socket.timeout:
            pass
        finally:
            self.sock.settimeout(None)
        die(f"no answer {prefix!r} from dtnd within {secs} s")


class Tally:
    """Receiver side: counts, checks and times delivered payloads."""

    def __init__(self, size):
        self.size = size
        self.n = 0
        self.bytes = 0
        self.dup = 0
        self.reordered = 0
        self.next = 0
        self.seen = bytearray()
        self.t_first = 0.0
        self.t_last = 0.0
        self.bad = None

    def add(self, data):
        t = time.monotonic()
        if len(data) != self.size:
            self.bad = f"a {len(data)}-byte payload, want {self.size}"
            return
        idx = struct.unpack_from("<Q", data, 0)[0]
        if idx >= len(self.seen):
            self.seen.extend(b"\0" * (idx + 1 - len(self.seen) + 4096))
        if self.seen[idx]:
            self.dup += 1
            return
        self.seen[idx] = 1
        if idx < self.next:
            self.reordered += 1
        else:
            self.next = idx + 1
        if self.n == 0:
            self.t_first = t
        self.t_last = t
        self.n += 1
        self.bytes += len(data)


def payload_of_bundle(raw):
    """Payload of a CBOR-encoded bundle (from GET /endpoint), or None."""
    b = cbor2.loads(raw)
    for blk in b[1:]:
        if isinstance(blk, list) and len(blk) >= 5 and blk[0] == 1:
            return blk[4]
    return None


def run_ws(web_send, web_recv, dest, size, secs, window):
    rx = WebSocket(web_recv)
    rx.send_text("/data")
    rx.wait_text("200 tx mode: data")
    rx.send_text(f"/subscribe {dest}")
    rx.wait_text("200 subscribed")
    tx = WebSocket(web_send)
    tx.send_text("/data")
    tx.wait_text("200 tx mode: data")
    # Source: endpoint 1 of the sending dtnd's node (its answer: "200 node: ipn:20.0").
    tx.send_text("/node")
    me = tx.wait_text("200 node:").split(":", 1)[1].strip()
    src = me[:-2] + ".1" if me.startswith("ipn:") and me.endswith(".0") else me
    msg = cbor2.dumps({"src": src, "dst": dest, "delivery_notification": False,
                       "lifetime": 3_600_000, "data": bytes(size)})
    frame = bytearray(WebSocket.header(2, len(msg)) + msg)
    pos = len(frame) - size  # the payload is the last item of the map
    if frame[pos:] != bytes(size):
        die("cannot place the payload in the WsSendData template")
    frame[pos + 16:] = b"\xa5" * (size - 16)

    tally = Tally(size)
    sel = selectors.DefaultSelector()
    sel.register(tx.sock, selectors.EVENT_READ, tx)
    sel.register(rx.sock, selectors.EVENT_READ, rx)
    injected = acked = written_off = stalls = errors = 0
    first_error = None
    t0 = time.monotonic()
    t_progress = t0
    sending = True
    last_n = 0
    while True:
        now = time.monotonic()
        if sending and now - t0 >= secs:
            sending = False
            t_stop = now
        if sending:
            k = 0
            while injected - tally.n - written_off < window and k < 16:
                struct.pack_into("<Q", frame, pos, injected)
                tx.sock.sendall(frame)
                injected += 1
                k += 1
        full = sending and injected - tally.n - written_off >= window
        for key, _ in sel.select(timeout=0.05 if (full or not sending) else 0):
            ws = key.data
            try:
                msgs = ws.pump()
            except EOFError:
                die("dtnd closed a WebSocket")
            for op, data in msgs:
                if ws is rx:
                    if op == 2:
                        tally.add(cbor2.loads(data)["data"])
                        if tally.bad:
                            die(tally.bad)
                else:
                    if op == 1 and data.startswith(b"200 Sent"):
                        acked += 1
                    elif op == 1:
                        errors += 1
                        first_error = first_error or data[:200]
        now = time.monotonic()
        if tally.n != last_n:
            last_n = tally.n
            t_progress = now
        if sending:
            if injected - tally.n - written_off >= window and now - t_progress > 1.0:
                stalls += 1
                written_off = injected - tally.n
                t_progress = now
        else:
            if tally.n + written_off >= injected or (now - t_progress > 3.0 and now - t_stop > 3.0):
                break
    if errors:
        print(f"dtn7_bench: {errors} sends refused by dtnd, first: {first_error!r}",
              file=sys.stderr)
    return tally, injected, stalls


def run_http(web_send, web_recv, dest, size, secs, window):
    service = dest.rsplit(".", 1)[1] if dest.startswith("ipn:") else dest.rsplit("/", 1)[1]
    tally = Tally(size)
    state = {"injected": 0, "written_off": 0, "stalls": 0, "stop": False, "error": None}
    cv = threading.Condition()
    body = bytearray(b"\xa5" * size)

    def sender():
        c = http.client.HTTPConnection("::1", web_send, timeout=10)
        t0 = time.monotonic()
        t_progress = t0
        last_n = -1
        try:
            while time.monotonic() - t0 < secs:
                with cv:
                    while state["injected"] - tally.n - state["written_off"] >= window:
                        if tally.n != last_n:
                            last_n, t_progress = tally.n, time.monotonic()
                        if time.monotonic() - t_progress > 1.0:
                            state["stalls"] += 1
                            state["written_off"] = state["injected"] - tally.n
                            t_progress = time.monotonic()
                            break
                        cv.wait(0.05)
                struct.pack_into("<Q", body, 0, state["injected"])
                c.request("POST", f"/send?dst={dest}&lifetime=1h", body=bytes(body))
                r = c.getresponse()
                text = r.read()
                if r.status != 200:
                    state["error"] = f"POST /send: {r.status} {text[:200]!r}"
                    break
                with cv:
                    state["injected"] += 1
        except OSError as e:
            state["error"] = f"POST /send: {e}"
        state["stop"] = True
        state["t_stop"] = time.monotonic()

    def receiver():
        c = http.client.HTTPConnection("::1", web_recv, timeout=10)
        t_progress = time.monotonic()
        try:
            while True:
                c.request("GET", f"/endpoint?{service}")
                r = c.getresponse()
                raw = r.read()
                now = time.monotonic()
                if r.status != 200:
                    state["error"] = f"GET /endpoint: {r.status} {raw[:200]!r}"
                    return
                if raw == b"Nothing to receive":
                    if state["stop"] and (tally.n + state["written_off"] >= state["injected"] or
                                          now - t_progress > 3.0):
                        return
                    time.sleep(0.0005)
                    continue
                data = payload_of_bundle(raw)
                with cv:
                    tally.add(data if data is not None else b"")
                    cv.notify()
                if tally.bad:
                    state["error"] = tally.bad
                    return
                t_progress = now
        except OSError as e:
            state["error"] = f"GET /endpoint: {e}"

    ts = threading.Thread(target=sender, daemon=True)
    tr = threading.Thread(target=receiver, daemon=True)
    tr.start()
    ts.start()
    ts.join()
    tr.join()
    if state["error"]:
        die(state["error"])
    return tally, state["injected"], state["stalls"]


def main():
    a = sys.argv[1:]
    if len(a) < 6 or a[0] not in ("ws", "http"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    method, web_send, web_recv, dest = a[0], int(a[1]), int(a[2]), a[3]
    size, secs = int(a[4]), float(a[5])
    window = min(4096, max(64, (4 << 20) // size))
    if len(a) > 6:
        window = int(a[6])
    if size < 16 or secs <= 0 or window < 1:
        print("dtn7_bench: SIZE >= 16, SECONDS > 0, WINDOW >= 1", file=sys.stderr)
        return 2
    run = run_ws if method == "ws" else run_http
    tally, injected, stalls = run(web_send, web_recv, dest, size, secs, window)
    el = tally.t_last - tally.t_first
    if el <= 0:
        el = 1e-9
    lost = max(0, injected - tally.n)
    print(f"RESULT delivered={tally.n} bytes={tally.bytes} secs={el:.4f} "
          f"adu_per_s={tally.n / el:.0f} mb_per_s={tally.bytes / el / 1e6:.2f} "
          f"injected={injected} lost={lost} loss={lost / injected if injected else 0:.4f} "
          f"dup={tally.dup} reordered={tally.reordered} stalls={stalls} method={method} "
          f"window={window}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

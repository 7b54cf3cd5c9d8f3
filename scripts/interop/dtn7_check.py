"""Payloads and checks of the dtn7-rs interop tests (scripts/interop/dtn7_interop.sh).

  dtn7_check.py gen DIR COUNT MAXSIZE TAG
      Write COUNT payload files DIR/p000.bin .. with varied sizes from 1 byte to MAXSIZE
      (the first few fixed: 1, 2, 7, 64, 1000, MAXSIZE, MAXSIZE-1, then pseudo-random,
      deterministic in TAG). Each payload of 24 bytes or more starts with the text
      "bpshim-dtn7 TAG #NNN len=L\n" (cut to fit) followed by pseudo-random bytes seeded by
      (TAG, index), so every payload is distinct and recognisable.

  dtn7_check.py bundles DIR GOTDIR SRC DST
      GOTDIR holds whole bundles popped from dtnd with `dtnrecv -r -o` (any *.cbor file).
      Decode each (CBOR walker of bpv7raw.py + cbor2, and pyd3tn as a second decoder), check
      destination DST and source SRC, match its payload byte for byte with a file of DIR;
      every payload of DIR must come exactly once. dtnd (0.21.0) has no reassembly and
      delivers fragments as separate bundles: fragments are reassembled here first (by source
      and creation timestamp; offsets, total length and overlaps checked).

  dtn7_check.py adus DIR RECVDIR LOG SRC
      RECVDIR holds the ADUs that c-tests/bin/interop_dtn7 recv wrote (adu<k>.bin) and LOG its
      stdout ("ADU k len=.. trunc=.. src=.."). Check every ADU came from SRC, untruncated, and
      matches a payload file of DIR; every payload of DIR must come exactly once.

Prints one PASS/FAIL line per check (prefixed with the test name in $TEST_NAME) and exits 1
if any failed.
"""
import glob
import hashlib
import os
import random
import re
import sys

import cbor2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpv7raw  # noqa: E402

NAME = os.environ.get("TEST_NAME", "dtn7")
FAILS = 0


def ok(msg):
    print(f"PASS {NAME}: {msg}")


def bad(msg):
    global FAILS
    FAILS += 1
    print(f"FAIL {NAME}: {msg}")


def payload(tag, i, size):
    rnd = random.Random(f"{tag}/{i}")
    block = bytes(rnd.getrandbits(8) for _ in range(min(size, 4096)))
    body = bytearray(block)
    while len(body) < size:  # long payloads: the random block again, each byte + k (mod 256)
        k = len(body) // 4096
        table = bytes((x + k) & 0xFF for x in range(256))
        body += block[:size - len(body)].translate(table)
    head = f"bpshim-dtn7 {tag} #{i:03d} len={size}\n".encode()
    if size >= 24:
        n = min(len(head), size)
        body[:n] = head[:n]
    return bytes(body[:size])


def sizes(count, maxsize, tag):
    fixed = [1, 2, 7, 64, 1000, maxsize, maxsize - 1]
    rnd = random.Random(f"sizes/{tag}")
    out = fixed[:count]
    while len(out) < count:
        r = rnd.random()
        if r < 0.15:
            out.append(rnd.randint(24, 200))
        elif r < 0.30:
            out.append(rnd.randint(maxsize - 2000, maxsize))
        else:
            out.append(rnd.randint(24, maxsize))
    return out


def gen(d, count, maxsize, tag):
    os.makedirs(d, exist_ok=True)
    total = 0
    for i, s in enumerate(sizes(count, maxsize, tag)):
        with open(os.path.join(d, f"p{i:03d}.bin"), "wb") as f:
            f.write(payload(tag, i, s))
        total += s
    print(f"generated {count} payloads, {total} bytes, sizes 1..{maxsize}, in {d}")


def load_expected(d):
    exp = {}
    for p in sorted(glob.glob(os.path.join(d, "p*.bin"))):
        with open(p, "rb") as f:
            data = f.read()
        h = hashlib.sha256(data).hexdigest()
        if h in exp:
            raise SystemExit(f"duplicate payload {p} in {d}")
        exp[h] = os.path.basename(p)
    return exp


def eid_text(e):
    """CBOR-decoded EID [scheme, ssp] -> text."""
    if not isinstance(e, list) or len(e) != 2:
        return f"?{e!r}"
    scheme, ssp = e
    if scheme == 2 and isinstance(ssp, list):
        return "ipn:" + ".".join(str(x) for x in ssp)
    if scheme == 1:
        return "dtn:none" if ssp == 0 else f"dtn:{ssp}"
    return f"?{e!r}"


def decode_bundle(buf):
    """-> dict(src, dst, flags, crc_types, block_types, payload, pyd3tn=str|None)."""
    spans = bpv7raw.block_spans(buf)
    blocks = [cbor2.loads(bytes(buf[s:e])) for s, e in spans]
    prim = blocks[0]
    frag = None
    if prim[1] & 1:  # is a fragment: fragment offset and total ADU length follow the lifetime
        frag = (prim[8], prim[9])
    info = {
        "flags": prim[1],
        "id": (eid_text(prim[4]), prim[6][0], prim[6][1]),
        "frag": frag,
        "dst": eid_text(prim[3]),
        "src": eid_text(prim[4]),
        "crc_types": [prim[2]] + [b[3] for b in blocks[1:]],
        "block_types": [b[0] for b in blocks[1:]],
        "payload": None,
        "crc_errors": [],
    }
    for k, ((s, e), b) in enumerate(zip(spans, blocks)):
        ct = prim[2] if k == 0 else b[3]
        if ct:
            provided, computed = bpv7raw.block_crc(buf[s:e], ct)
            if provided != computed:
                info["crc_errors"].append(k)
    for b in blocks[1:]:
        if b[0] == 1:
            info["payload"] = b[4]
    try:
        from pyd3tn.bundle7 import Bundle

        pb = Bundle.parse(bytes(buf))
        info["pyd3tn"] = (str(pb.primary_block.source), bytes(pb.payload_block.data))
    except Exception as exc:  # pyd3tn refuses some block types; report, do not fail on it
        info["pyd3tn"] = f"pyd3tn could not parse: {exc!r}"
    return info


def reassemble(frags):
    """[(offset, total, data, file)] of one ADU -> (bytes or None, problem text or None)."""
    totals = {t for _, t, _, _ in frags}
    if len(totals) != 1:
        return None, f"fragments disagree on the ADU length: {sorted(totals)}"
    total = totals.pop()
    buf = bytearray(total)
    have = bytearray(total)
    for off, _, data, name in sorted(frags):
        if off + len(data) > total:
            return None, f"{name}: fragment {off}+{len(data)} beyond the ADU length {total}"
        old = bytes(buf[off:off + len(data)])
        cov = bytes(have[off:off + len(data)])
        if any(cov) and any(c and o != n for c, o, n in zip(cov, old, data)):
            return None, f"{name}: overlapping fragments disagree at offset {off}"
        buf[off:off + len(data)] = data
        have[off:off + len(data)] = b"\x01" * len(data)
    if not all(have):
        return None, f"fragments cover {sum(have)} of {total} bytes (missing fragments)"
    return bytes(buf), None


def check_bundles(d, gotdir, src, dst):
    """dtnd does not reassemble fragments (dtn7-rs 0.21.0 has no reassembly): it delivers each
    fragment as a bundle of its own. Fragments (our node fragments a bundle bigger than the
    TCPCL peer's Transfer MRU, dtnd's is 64000) are reassembled here, by (source, creation
    timestamp), and the whole ADU is checked."""
    exp = load_expected(d)
    files = sorted(glob.glob(os.path.join(gotdir, "*.cbor")))
    seen = {}
    problems = 0
    kinds = set()
    fragments = {}
    n_frags = 0
    for p in files:
        with open(p, "rb") as f:
            buf = f.read()
        try:
            info = decode_bundle(buf)
        except Exception as exc:
            bad(f"{os.path.basename(p)} ({len(buf)} bytes) does not decode: {exc}")
            problems += 1
            continue
        kinds.add((info["flags"], tuple(info["crc_types"]), tuple(info["block_types"])))
        if info["src"] != src or info["dst"] != dst:
            bad(f"{os.path.basename(p)}: source {info['src']} destination {info['dst']}, "
                f"expected {src} -> {dst}")
            problems += 1
        if info["crc_errors"]:
            bad(f"{os.path.basename(p)}: CRC mismatch in block(s) {info['crc_errors']}")
            problems += 1
        pl = info["payload"]
        if not isinstance(pl, bytes):
            bad(f"{os.path.basename(p)}: no payload block")
            problems += 1
            continue
        if isinstance(info["pyd3tn"], tuple):
            psrc, pdata = info["pyd3tn"]
            if pdata != pl or psrc != info["src"]:
                bad(f"{os.path.basename(p)}: pyd3tn reads source {psrc} and a "
                    f"{len(pdata)}-byte payload, the CBOR walker {info['src']} and {len(pl)}")
                problems += 1
        if info["frag"] is not None:
            n_frags += 1
            off, total = info["frag"]
            fragments.setdefault(info["id"], []).append((off, total, pl, os.path.basename(p)))
            continue
        whole = [(pl, os.path.basename(p))]
        problems += match_payload(exp, seen, whole)
    for key, frags in sorted(fragments.items()):
        names = "+".join(f for _, _, _, f in sorted(frags))
        data, why = reassemble(frags)
        if data is None:
            bad(f"ADU {key[0]} {key[1]}.{key[2]} in {len(frags)} fragments ({names}): {why}")
            problems += 1
            continue
        problems += match_payload(exp, seen, [(data, f"{len(frags)} fragments {names}")])
    if n_frags:
        print(f"    {n_frags} of the bundles were fragments (dtnd delivers fragments without "
              f"reassembly), reassembled here into {len(fragments)} ADUs")
    missing = sorted(set(exp.values()) - set(seen))
    for fl, crcs, types in sorted(kinds):
        print(f"    bundles from dtnd: flags 0x{fl:x}, CRC types {list(crcs)}, "
              f"block types {list(types)}")
    if missing:
        bad(f"{len(missing)} of {len(exp)} payloads never popped from dtnd: "
            f"{', '.join(missing[:20])}{' ...' if len(missing) > 20 else ''}")
    elif not problems:
        ok(f"all {len(exp)} ADUs popped from dtnd intact, {src} -> {dst}, "
           f"each payload exactly once ({len(files)} bundles read)")


def match_payload(exp, seen, items):
    """items [(payload bytes, label)] -> number of problems; records matches in seen."""
    problems = 0
    for pl, label in items:
        h = hashlib.sha256(pl).hexdigest()
        name = exp.get(h)
        if name is None:
            bad(f"{label}: payload of {len(pl)} bytes matches no payload sent "
                f"(starts {pl[:40]!r})")
            problems += 1
        elif name in seen:
            bad(f"{label}: duplicate of {seen[name]} ({name})")
            problems += 1
        else:
            seen[name] = label
    return problems


def check_adus(d, recvdir, log, src):
    exp = load_expected(d)
    seen = {}
    problems = 0
    lines = 0
    with open(log) as f:
        for line in f:
            m = re.match(r"ADU (\d+) len=(\d+) trunc=(\d) src=(\S+)", line)
            if not m:
                continue
            lines += 1
            k, n, trunc, s = int(m[1]), int(m[2]), m[3], m[4]
            if s != src:
                bad(f"ADU {k} ({n} bytes) came from {s}, expected {src}")
                problems += 1
            if trunc != "0":
                bad(f"ADU {k} ({n} bytes) was truncated")
                problems += 1
            with open(os.path.join(recvdir, f"adu{k}.bin"), "rb") as g:
                data = g.read()
            h = hashlib.sha256(data).hexdigest()
            name = exp.get(h)
            if name is None:
                bad(f"ADU {k} ({n} bytes) matches no payload sent (starts {data[:40]!r})")
                problems += 1
                continue
            if name in seen:
                bad(f"ADU {k}: duplicate of ADU {seen[name]} ({name})")
                problems += 1
                continue
            seen[name] = k
    missing = sorted(set(exp.values()) - set(seen))
    if missing:
        bad(f"{len(missing)} of {len(exp)} payloads never delivered: "
            f"{', '.join(missing[:20])}{' ...' if len(missing) > 20 else ''}")
    elif not problems:
        ok(f"all {len(exp)} ADUs delivered intact from {src}, each exactly once "
           f"({lines} ADUs received)")


def main(argv):
    if len(argv) == 6 and argv[1] == "gen":
        gen(argv[2], int(argv[3]), int(argv[4]), argv[5])
        return 0
    if len(argv) == 6 and argv[1] == "bundles":
        check_bundles(*argv[2:6])
        return 1 if FAILS else 0
    if len(argv) == 6 and argv[1] == "adus":
        check_adus(*argv[2:6])
        return 1 if FAILS else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

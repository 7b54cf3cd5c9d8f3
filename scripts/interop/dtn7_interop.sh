#!/usr/bin/env bash
# Interop with a real dtn7-rs daemon (dtnd 0.21.0), over one convergence layer, both ways.
#
#   scripts/interop/dtn7_interop.sh udp     (what test_dtn7_udp.sh runs)
#   scripts/interop/dtn7_interop.sh tcp     TCPCLv4: our tcpcl:HOST:PORT, dtnd -C tcp
#   scripts/interop/dtn7_interop.sh mtcp    MTCP:    our mtcp:HOST:PORT,  dtnd -C mtcp
#
# Needs dtnd, dtnsend, dtnrecv (scripts/peers/setup-dtn7.sh installs them in
# ${BPSHIM_PEERS:-$HOME/.cache/bpshim-peers}/dtn7/bin, or DTN7_BIN=dir), .venv with pyd3tn and
# cbor2 (scripts/setup.sh), target/release/libbpshim.so (cargo build --release).
#
# dtnd runs loopback only: node ipn:20.0, endpoint ipn:20.1 (-e 1), no neighbour discovery
# (-i 0 --disable_nd), its CLA bound to 127.0.0.1, its web API on [::1] only (-6; dtnsend and
# dtnrecv are given -6 too), memory store, static routing with one route
# "* ipn:10.* via ipn:10.0" and the static peer <cla>://127.0.0.1:<P10>/10 (our node).
#
# 1. bpshim -> dtnd: c-tests/bin/interop_dtn7 send, under the shim on node ipn:10.0
#    (BP_CLA=<cla>:127.0.0.1:P10, BP_ROUTE='ipn:20.*=<cla>:127.0.0.1:PD'), bound to ipn:10.2,
#    sends COUNT ADUs (sizes 1 B .. MAXSIZE, each a recognisable payload, see dtn7_check.py) to
#    ipn:20.1, GAP ms apart. They are popped from dtnd with `dtnrecv -r -o FILE` (the whole
#    bundle) until COUNT have come and nothing more comes for ~1.5 s; dtn7_check.py decodes
#    every bundle (CBOR walker + pyd3tn) and checks source ipn:10.2, destination ipn:20.1,
#    payload byte for byte, each payload exactly once. Over TCPCL our node fragments bundles
#    bigger than dtnd's Transfer MRU (64000) and dtnd delivers the fragments unreassembled
#    (dtn7-rs has no reassembly): the checker reassembles them.
# 2. dtnd -> bpshim: c-tests/bin/interop_dtn7 recv, under the shim on node ipn:10.0 (same CLA;
#    route to dtnd for the delivery reports dtnsend's bundles ask for), bound to ipn:10.1;
#    `dtnsend -r ipn:10.1 FILE` COUNT times (other payloads); the program must receive all
#    COUNT ADUs, untruncated, byte for byte, each once, from ipn:20.0 (dtnsend's source).
# Finally dtnd must still be running.
#
# Per layer: udp: MAXSIZE 60000 (one datagram; dtnd's UDP layer takes at most 65535 bytes),
# GAP 10 ms (UDP has no flow control; dtnd's socket buffer is the kernel default);
# tcp, mtcp: MAXSIZE 1048576, GAP 0.
# Environment: DTN7_COUNT (100), DTN7_MAXSIZE, DTN7_GAP_MS, DTN7_PORT_BASE (udp 23100,
# tcp 23120, mtcp 23140: P10 = base, PD = base + 1, web = base + 2), DTN7_BIN, BP_LOG,
# KEEP_TMP=1 (keep the work folder, with dtnd's log).
# Output: PASS/FAIL lines; exit status 0 only if every check passed.
set -u
CLA=${1:-}
case $CLA in
udp)
    OUR_CLA=udp DTND_CLA=udp DEF_BASE=23100 DEF_MAX=60000 DEF_GAP=10
    ;;
tcp)
    OUR_CLA=tcpcl DTND_CLA=tcp DEF_BASE=23120 DEF_MAX=1048576 DEF_GAP=0
    ;;
mtcp)
    OUR_CLA=mtcp DTND_CLA=mtcp DEF_BASE=23140 DEF_MAX=1048576 DEF_GAP=0
    ;;
*)
    echo "usage: $0 udp|tcp|mtcp" >&2
    exit 2
    ;;
esac
TEST_NAME=dtn7_$CLA
export TEST_NAME
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

COUNT=${DTN7_COUNT:-100}
MAXSIZE=${DTN7_MAXSIZE:-$DEF_MAX}
GAP=${DTN7_GAP_MS:-$DEF_GAP}
BASE=${DTN7_PORT_BASE:-$DEF_BASE}
P10=$BASE       # our node's CLA (ipn:10.0)
PD=$((BASE + 1)) # dtnd's CLA (ipn:20.0)
WEB=$((BASE + 2)) # dtnd's web API ([::1])
DTN7_BIN=${DTN7_BIN:-${BPSHIM_PEERS:-$HOME/.cache/bpshim-peers}/dtn7/bin}
NODE_ENV=(env -u BP_UDP_RATE -u BP_REPORTS -u BP_AGE_BLOCK -u BP_STRICT_CRC BP_NODE=ipn:10.0
    "BP_CLA=$OUR_CLA:127.0.0.1:$P10" "BP_ROUTE=ipn:20.*=$OUR_CLA:127.0.0.1:$PD"
    BP_LOG="${BP_LOG:-warn}" BP_EXIT_FLUSH_MS=30000 LD_PRELOAD="$SHIM")

require_env
for t in dtnd dtnsend dtnrecv; do
    if [ ! -x "$DTN7_BIN/$t" ]; then
        echo "FAIL $TEST_NAME: $DTN7_BIN/$t not found: run scripts/peers/setup-dtn7.sh"
        exit 1
    fi
done
if ! "$PY" -c 'import cbor2' 2>/dev/null; then
    echo "FAIL $TEST_NAME: no cbor2 in $ROOT/.venv (run scripts/setup.sh)"
    exit 1
fi
build_c interop_dtn7

tcp_or_udp_free() { # port -> 0 if no TCP listener or UDP socket is bound to it (TIME-WAIT is fine)
    command -v ss >/dev/null 2>&1 || return 0
    [ -z "$(ss -Htuln "( sport = :$1 )" 2>/dev/null)" ]
}
listening() { # proto(t|u) port -> 0 once something listens there
    command -v ss >/dev/null 2>&1 || return 1
    [ -n "$(ss -Hl"$1"n "( sport = :$2 )" 2>/dev/null)" ]
}
wait_listening() { # proto port seconds
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        listening "$1" "$2" && return 0
        sleep 0.1
    done
    command -v ss >/dev/null 2>&1 || { sleep 1; return 0; }
    return 1
}
PROTO=t
[ "$CLA" = udp ] && PROTO=u
for p in "$P10" "$PD" "$WEB"; do
    tcp_or_udp_free "$p" || { echo "FAIL $TEST_NAME: port $p is in use (DTN7_PORT_BASE)"; exit 1; }
done

show_file() { # title file
    echo "--- $1"
    if [ -s "$2" ]; then tail -n "${3:-40}" "$2" | sed 's/^/    | /'; else echo "    (empty)"; fi
}

# ---------------------------------------------------------------- dtnd
echo "1 * ipn:10.* ipn:10.0" >"$TMP/routes"
mkdir -p "$TMP/dtnd"
DTND_ARGS=(-n 20 -W "$TMP/dtnd" -w "$WEB" -6 -i 0 --disable_nd -D mem
    -r static -R "static.routes=$TMP/routes"
    -C "$DTND_CLA:port=$PD:bind=127.0.0.1" -e 1 -s "$DTND_CLA://127.0.0.1:$P10/10")
echo "dtnd $("$DTN7_BIN/dtnd" --version 2>&1 | head -n 1): dtnd ${DTND_ARGS[*]}"
RUST_LOG=${DTN7_LOG:-info} "$DTN7_BIN/dtnd" "${DTND_ARGS[@]}" >"$TMP/dtnd.log" 2>&1 &
DPID=$!
PIDS+=("$DPID")
up=0
for ((i = 0; i < 100; i++)); do
    kill -0 "$DPID" 2>/dev/null || break
    if timeout 5 "$DTN7_BIN/dtnquery" -6 -p "$WEB" nodeid 2>/dev/null | grep -qx 'ipn:20.0' &&
        listening "$PROTO" "$PD"; then
        up=1
        break
    fi
    sleep 0.1
done
if [ $up = 0 ]; then
    fail "$TEST_NAME: dtnd did not come up (web [::1]:$WEB, $DTND_CLA 127.0.0.1:$PD)"
    show_file "dtnd log" "$TMP/dtnd.log"
    exit 1
fi
pass "$TEST_NAME: dtnd up as ipn:20.0 ($DTND_CLA on 127.0.0.1:$PD, web [::1]:$WEB)"

# ---------------------------------------------------------------- 1. bpshim -> dtnd
"$PY" scripts/interop/dtn7_check.py gen "$TMP/pa" "$COUNT" "$MAXSIZE" "to-dtnd-$CLA" | sed 's/^/    /'
files=("$TMP"/pa/p*.bin)
t0=$(date +%s%N)
if "${NODE_ENV[@]}" timeout -k 2 120 "$BIN/interop_dtn7" send 20.1 10.2 "$GAP" "${files[@]}" \
    >"$TMP/send.log" 2>"$TMP/send.err"; then
    pass "$TEST_NAME: node ipn:10 sent $(grep -c '^sent ' "$TMP/send.log") ADUs to ipn:20.1 over $OUR_CLA"
else
    fail "$TEST_NAME: interop_dtn7 send exited $? ($(grep -c '^sent ' "$TMP/send.log") ADUs sent)"
    show_file "interop_dtn7 send stdout" "$TMP/send.log" 5
fi
if [ -s "$TMP/send.err" ]; then show_file "interop_dtn7 send stderr" "$TMP/send.err" 20; fi

# Pop until at least COUNT bundles have come and then 10 pops in a row (~1.5 s) found nothing
# (more than COUNT when our node fragmented: dtnd delivers fragments unreassembled; a
# duplicate would show too), or 100 empty pops in a row (~15 s): give up.
mkdir -p "$TMP/ga"
got=0
idle=0
pops=0
while { [ $got -lt "$COUNT" ] && [ $idle -lt 100 ]; } || { [ $got -ge "$COUNT" ] && [ $idle -lt 10 ]; }; do
    pops=$((pops + 1))
    out="$TMP/ga/b$(printf %04d $got).cbor"
    if ! timeout 10 "$DTN7_BIN/dtnrecv" -6 -p "$WEB" -e 1 -r -o "$out" >"$TMP/dtnrecv.out" 2>&1; then
        fail "$TEST_NAME: dtnrecv exited with an error: $(head -c 300 "$TMP/dtnrecv.out")"
        break
    fi
    if [ -s "$out" ]; then
        got=$((got + 1))
        idle=0
    else
        rm -f "$out"
        idle=$((idle + 1))
        sleep 0.15
    fi
done
secs=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
echo "    popped $got bundles from ipn:20.1 with dtnrecv ($pops calls, $secs s after the first send)"
timeout -k 2 60 "$PY" scripts/interop/dtn7_check.py bundles "$TMP/pa" "$TMP/ga" ipn:10.2 ipn:20.1 ||
    FAILS=$((FAILS + 1))

# ---------------------------------------------------------------- 2. dtnd -> bpshim
"$PY" scripts/interop/dtn7_check.py gen "$TMP/pb" "$COUNT" "$MAXSIZE" "from-dtnd-$CLA" | sed 's/^/    /'
mkdir -p "$TMP/rb"
# P10 must be free again (the sender of step 1 has exited)
for ((i = 0; i < 50; i++)); do listening "$PROTO" "$P10" || break; sleep 0.1; done
"${NODE_ENV[@]}" timeout -k 2 150 "$BIN/interop_dtn7" recv 10 1 "$COUNT" 20 "$TMP/rb" \
    >"$TMP/recv.log" 2>"$TMP/recv.err" &
RPID=$!
PIDS+=("$RPID")
if ! wait_for_line "$TMP/recv.log" '^READY' 10 || ! wait_listening "$PROTO" "$P10" 10; then
    fail "$TEST_NAME: receiver on node ipn:10 did not start"
    show_file "receiver stdout" "$TMP/recv.log"
    show_file "receiver stderr" "$TMP/recv.err"
    exit 1
fi
sent=0
for f in "$TMP"/pb/p*.bin; do
    if timeout 10 "$DTN7_BIN/dtnsend" -6 -p "$WEB" -r ipn:10.1 "$f" >"$TMP/dtnsend.out" 2>&1 &&
        grep -q '^Result: Sent' "$TMP/dtnsend.out"; then
        sent=$((sent + 1))
    else
        fail "$TEST_NAME: dtnsend $(basename "$f") failed: $(head -c 300 "$TMP/dtnsend.out")"
        break
    fi
done
[ $sent = "$COUNT" ] && pass "$TEST_NAME: dtnsend inserted $sent bundles for ipn:10.1"
wait "$RPID"
rc=$?
PIDS=("$DPID")
case $rc in
0) pass "$TEST_NAME: node ipn:10 received $COUNT ADUs on ipn:10.1" ;;
2) fail "$TEST_NAME: receiver idle for 20 s after $(grep -c '^ADU ' "$TMP/recv.log") of $COUNT ADUs" ;;
124 | 137) fail "$TEST_NAME: receiver timed out after $(grep -c '^ADU ' "$TMP/recv.log") of $COUNT ADUs" ;;
*) fail "$TEST_NAME: receiver exited $rc (crashed?)" ;;
esac
if [ -s "$TMP/recv.err" ]; then show_file "receiver stderr" "$TMP/recv.err" 20; fi
timeout -k 2 60 "$PY" scripts/interop/dtn7_check.py adus "$TMP/pb" "$TMP/rb" "$TMP/recv.log" ipn:20.0 ||
    FAILS=$((FAILS + 1))

# ---------------------------------------------------------------- end
if kill -0 "$DPID" 2>/dev/null; then
    pass "$TEST_NAME: dtnd still running"
else
    fail "$TEST_NAME: dtnd exited"
fi
n_err=$(grep -ciE 'error|panick' "$TMP/dtnd.log")
echo "    dtnd log: $(wc -l <"$TMP/dtnd.log") lines, $n_err with 'error'/'panicked'"
if [ "$FAILS" -ne 0 ] || [ "${VERBOSE:-0}" = 1 ]; then
    show_file "dtnd log (last 40 lines)" "$TMP/dtnd.log" 40
fi

if [ "$FAILS" -eq 0 ]; then
    echo "PASS $TEST_NAME"
    exit 0
fi
echo "FAIL $TEST_NAME ($FAILS failures)"
exit 1

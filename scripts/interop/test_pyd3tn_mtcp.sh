#!/usr/bin/env bash
# Interop with pyd3tn's convergence-layer code (pyd3tn 0.15.2, the Python side of µD3TN), end
# to end through a real bpshim node, both directions:
#
#   scripts/interop/test_pyd3tn_mtcp.sh [mtcp|tcpclv3]      (default mtcp; needs .venv with
#                                                           pyd3tn and target/release/libbpshim.so)
#
# 1. pyd3tn -> node: c-tests/bin/interop_dtn7 recv under LD_PRELOAD=libbpshim.so is node
#    ipn:20.0, bound to ipn:20.1, with BP_CLA=<cl>:127.0.0.1:P1. scripts/interop/pyd3tn_cl.py
#    builds 20 bundles with pyd3tn (source ipn:30.1; CRC-32C, CRC-16, none, mixed; hop-count
#    blocks on every third; payloads of 1 B to 1 MiB) and sends them with pyd3tn's client
#    (mtcp: MTCPConnection; tcpclv3: TCPCLConnection). Checks: all 20 delivered once, in order,
#    payload byte for byte, not truncated, source ipn:30.1.
# 2. node -> pyd3tn: pyd3tn_cl.py listens on 127.0.0.1:P2 with pyd3tn's receiving code (mtcp:
#    MTCPSocket.recv_bundle; tcpclv3: a TCPCLConnection around the accepted socket, contact
#    header exchange, recv_bundle). c-tests/bin/bpsend 30 1 <text> 20.2 10 runs on node ipn:20.0
#    with BP_ROUTE='ipn:30.*=<cl>:127.0.0.1:P2' and BP_LIFETIME=600. Checks, per bundle, as
#    pyd3tn's Bundle.parse reads it: source ipn:20.2, destination ipn:30.1, lifetime 600000 ms,
#    every block CRC recomputed by pyd3tn and equal to the one carried, payload <text>.
#
# tcpclv3 needs the node to speak TCPCLv3 (BP_CLA/BP_ROUTE "tcpclv3:HOST:PORT"); it is run by
# scripts/interop/tcpclv3_pending.sh, named so that run.sh does not pick it up until then.
#
# Ports (TCP, 127.0.0.1): PYD3TN_CL_PORT_BASE (default 24500) + 0..2 for mtcp, + 10..12 for
# tcpclv3. Output: PASS/FAIL lines; exit status 0 only if every check passed.
set -u
CL=${1:-mtcp}
case $CL in
mtcp) OFFSET=0 ;;
tcpclv3) OFFSET=10 ;;
*)
    echo "usage: $0 [mtcp|tcpclv3]" >&2
    exit 2
    ;;
esac
TEST_NAME=pyd3tn_$CL
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BASE=$((${PYD3TN_CL_PORT_BASE:-24500} + OFFSET))
P1=$BASE           # node ipn:20.0's listener, direction 1
P2=$((BASE + 1))   # pyd3tn's listener, direction 2
P3=$((BASE + 2))   # node ipn:20.0's listener, direction 2
COUNT=20
SIZES=1,17,300,1000,5000,24,65535,65536,100000,1048576
TEXT="hello-pyd3tn-over-$CL"
NSENT=10

require_env
build_c interop_dtn7 bpsend

tcp_free() { # port -> 0 if nothing listens on it
    command -v ss >/dev/null 2>&1 || return 0
    [ -z "$(ss -Htln "( sport = :$1 )" 2>/dev/null)" ]
}
wait_tcp_listening() { # port seconds -> 0 once something listens on the port
    local i
    command -v ss >/dev/null 2>&1 || { sleep 1; return 0; }
    for ((i = 0; i < $2 * 10; i++)); do
        [ -n "$(ss -Htln "( sport = :$1 )" 2>/dev/null)" ] && return 0
        sleep 0.1
    done
    return 1
}
show_file() { # title file [lines]
    echo "--- $1"
    if [ -s "$2" ]; then tail -n "${3:-30}" "$2" | cut -c1-300 | sed 's/^/    | /'; else echo "    (empty)"; fi
}
node_env() { # cla-port [route] -> the environment of node ipn:20.0
    local e=(env -u BP_CONFIG -u BP_STORE -u BP_MAX_ADU -u BP_UDP_RATE -u BP_REPORTS
        -u BP_AGE_BLOCK -u BP_STRICT_CRC BP_NODE=ipn:20.0 "BP_CLA=$CL:127.0.0.1:$1"
        BP_LOG="${BP_LOG:-warn}" BP_EXIT_FLUSH_MS=20000 BP_LIFETIME=600 LD_PRELOAD="$SHIM")
    [ -n "${2:-}" ] && e+=("BP_ROUTE=$2")
    printf '%s\n' "${e[@]}"
}
for p in "$P1" "$P2" "$P3"; do
    tcp_free "$p" || { echo "FAIL $TEST_NAME: TCP port $p is in use (PYD3TN_CL_PORT_BASE)"; exit 1; }
done
case $CL in
mtcp) SEND_MODE=mtcp-send LISTEN_MODE=mtcp-listen ;;
tcpclv3) SEND_MODE=tcpclv3-client LISTEN_MODE=tcpclv3-server ;;
esac

echo "=== 1. pyd3tn ($SEND_MODE) -> node ipn:20.0 over $CL:127.0.0.1:$P1"
mkdir -p "$TMP/adus"
mapfile -t ENV1 < <(node_env "$P1")
"${ENV1[@]}" timeout -k 2 80 "$BIN/interop_dtn7" recv 20 1 "$COUNT" 15 "$TMP/adus" \
    >"$TMP/recv.log" 2>"$TMP/recv.err" &
RPID=$!
PIDS+=("$RPID")
if ! wait_for_line "$TMP/recv.log" '^READY' 10 || ! wait_tcp_listening "$P1" 10; then
    fail "$TEST_NAME: receiver on node ipn:20.0 did not start (or no $CL listener on $P1)"
    show_file "receiver stdout" "$TMP/recv.log"
    show_file "receiver stderr" "$TMP/recv.err"
    exit 1
fi
if timeout -k 2 60 "$PY" scripts/interop/pyd3tn_cl.py "$SEND_MODE" --port "$P1" --send "$COUNT" \
    --sizes "$SIZES" --src ipn:30.1 --dst ipn:20.1 --eid ipn:30.0 \
    --manifest "$TMP/manifest.json" >"$TMP/send.log" 2>"$TMP/send.err"; then
    pass "$TEST_NAME: pyd3tn sent $(grep -c '^SENT' "$TMP/send.log") bundles over $CL"
else
    fail "$TEST_NAME: pyd3tn_cl.py $SEND_MODE exited $?"
    show_file "pyd3tn stdout" "$TMP/send.log" 10
    show_file "pyd3tn stderr" "$TMP/send.err"
fi
if [ "$CL" = tcpclv3 ]; then
    grep '^HEADER' "$TMP/send.log" | sed 's/^/    node contact header as pyd3tn decoded it: /'
fi
wait "$RPID"
rc=$?
PIDS=()
case $rc in
0) pass "$TEST_NAME: node ipn:20.0 delivered $COUNT ADUs to ipn:20.1" ;;
2) fail "$TEST_NAME: receiver idle for 15 s with $(grep -c '^ADU' "$TMP/recv.log") of $COUNT ADUs" ;;
124 | 137) fail "$TEST_NAME: receiver timed out" ;;
*) fail "$TEST_NAME: receiver exited $rc" ;;
esac
[ -s "$TMP/recv.err" ] && show_file "receiver stderr" "$TMP/recv.err"
if [ -f "$TMP/manifest.json" ]; then
    if timeout -k 2 60 "$PY" scripts/interop/pyd3tn_cl.py check-recv --manifest "$TMP/manifest.json" \
        --log "$TMP/recv.log" --dir "$TMP/adus" >"$TMP/check1.log" 2>&1; then
        pass "$TEST_NAME: all $COUNT bundles from pyd3tn intact with source ipn:30.1"
    else
        fail "$TEST_NAME: bundles from pyd3tn"
    fi
    sed 's/^/    /' "$TMP/check1.log"
fi

echo "=== 2. node ipn:20.0 (bpsend) -> pyd3tn ($LISTEN_MODE) over $CL:127.0.0.1:$P2"
timeout -k 2 60 "$PY" scripts/interop/pyd3tn_cl.py "$LISTEN_MODE" --port "$P2" --recv "$NSENT" \
    --eid ipn:30.0 --timeout 30 >"$TMP/listen.log" 2>"$TMP/listen.err" &
LPID=$!
PIDS+=("$LPID")
if ! wait_for_line "$TMP/listen.log" '^PORT' 10; then
    fail "$TEST_NAME: pyd3tn listener did not start"
    show_file "pyd3tn stderr" "$TMP/listen.err"
    exit 1
fi
mapfile -t ENV2 < <(node_env "$P3" "ipn:30.*=$CL:127.0.0.1:$P2")
if "${ENV2[@]}" BPSEND_CLOSE=1 timeout -k 2 40 "$BIN/bpsend" 30 1 "$TEXT" 20.2 "$NSENT" \
    >"$TMP/bpsend.log" 2>"$TMP/bpsend.err"; then
    pass "$TEST_NAME: bpsend sent $(grep -c '^Message sent' "$TMP/bpsend.log") ADUs to ipn:30.1"
else
    fail "$TEST_NAME: bpsend exited $?"
    show_file "bpsend stdout" "$TMP/bpsend.log" 5
fi
[ -s "$TMP/bpsend.err" ] && show_file "bpsend stderr" "$TMP/bpsend.err"
wait "$LPID"
lrc=$?
PIDS=()
if [ $lrc -eq 0 ]; then
    pass "$TEST_NAME: pyd3tn received $(grep -c '^RECV' "$TMP/listen.log") bundles"
else
    fail "$TEST_NAME: pyd3tn listener exited $lrc"
    show_file "pyd3tn stdout" "$TMP/listen.log" 10
    show_file "pyd3tn stderr" "$TMP/listen.err"
fi
if [ "$CL" = tcpclv3 ]; then
    grep '^HEADER' "$TMP/listen.log" | sed 's/^/    node contact header as pyd3tn decoded it: /'
fi
if timeout -k 2 60 "$PY" scripts/interop/pyd3tn_cl.py check-sent --log "$TMP/listen.log" \
    --count "$NSENT" --src ipn:20.2 --dst ipn:30.1 --payload "$TEXT" --lifetime-ms 600000 \
    >"$TMP/check2.log" 2>&1; then
    pass "$TEST_NAME: all $NSENT bundles from the node check out in pyd3tn"
else
    fail "$TEST_NAME: bundles from the node"
fi
sed 's/^/    /' "$TMP/check2.log"

if [ "$FAILS" -eq 0 ]; then
    echo "PASS $TEST_NAME"
    exit 0
fi
echo "FAIL $TEST_NAME ($FAILS failures)"
exit 1

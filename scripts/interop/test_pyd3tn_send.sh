#!/usr/bin/env bash
# Interop: bundles built by pyd3tn (an independent BPv7 code), received by a bpshim node.
#
#   scripts/interop/test_pyd3tn_send.sh        (from anywhere; needs .venv with pyd3tn and
#                                               target/release/libbpshim.so)
#
# Node ipn:20.0 is c-tests/bin/interop_recvhex under LD_PRELOAD=libbpshim.so, bound to
# ipn:20.1, with BP_CLA=udp:127.0.0.1:$PORT; it prints every ADU in hex with its source.
# scripts/interop/pyd3tn_send.py builds bundles from ipn:30.1 with pyd3tn and sends each
# as one UDP datagram to that port, 20 ms apart:
#   valid:   CRC-32C, CRC-16, no CRC at all, mixed CRC types; text, 1 B, 1256 B and 60000 B
#            binary payloads; hop-count, previous-node and bundle-age blocks; creation time 0
#            with a bundle-age block; a retransmitted intact copy of a damaged bundle
#   invalid: payload CRC-32C flipped, primary CRC-32C flipped, payload CRC-16 flipped, a
#            payload byte changed, a datagram that is not a bundle, a truncated bundle, an
#            expired bundle; each followed by a valid bundle
# and finally a valid bundle "END". Checks: every valid payload delivered once, in order,
# byte for byte, with source ipn:30.1; no invalid one delivered; the node alive to the end.
#
# Ports: INTEROP_PORT_BASE, else BPT_PORT_BASE (run-c-tests.sh), else 22100: node 20's CLA = base + 2.
# Output: PASS/FAIL lines; exit status 0 only if every check passed.
set -u
TEST_NAME=pyd3tn_send
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BASE=${INTEROP_PORT_BASE:-${BPT_PORT_BASE:-22100}}
PORT=$((BASE + 2))

require_env
build_c interop_recvhex
port_free "$PORT" || { echo "FAIL $TEST_NAME: UDP port $PORT is in use"; exit 1; }

env BP_NODE=ipn:20.0 BP_CLA="udp:127.0.0.1:$PORT" BP_LOG="${BP_LOG:-warn}" LD_PRELOAD="$SHIM" \
    timeout -k 2 40 "$BIN/interop_recvhex" 20 1 8 END >"$TMP/recv.log" 2>"$TMP/recv.err" &
RPID=$!
PIDS+=("$RPID")
if ! wait_for_line "$TMP/recv.log" '^READY' 10; then
    fail "$TEST_NAME: receiver did not start"
    cat "$TMP/recv.log" "$TMP/recv.err"
    exit 1
fi
# the CLA socket must be bound before anything is sent (UDP loses what arrives before)
for ((i = 0; i < 50; i++)); do
    port_bound "$PORT" && break
    sleep 0.1
done
port_bound "$PORT" || sleep 1

if timeout -k 2 30 "$PY" scripts/interop/pyd3tn_send.py send --port "$PORT" \
    --manifest "$TMP/manifest.json" >"$TMP/send.log" 2>&1; then
    pass "$TEST_NAME: pyd3tn sent $(grep -c '^sent' "$TMP/send.log") datagrams"
else
    fail "$TEST_NAME: pyd3tn_send.py send exited $?"
fi
sed 's/^/    | /' "$TMP/send.log"

wait "$RPID"
rc=$?
PIDS=()
case $rc in
0) pass "$TEST_NAME: node 20 stayed up and delivered the final bundle" ;;
2) fail "$TEST_NAME: receiver idle for 8 s before the final bundle (node stopped delivering?)" ;;
124 | 137) fail "$TEST_NAME: receiver timed out" ;;
*) fail "$TEST_NAME: receiver exited $rc (crashed?)" ;;
esac
if [ -s "$TMP/recv.err" ]; then
    echo "receiver stderr:"
    sed 's/^/    | /' "$TMP/recv.err"
fi

if [ -f "$TMP/manifest.json" ]; then
    timeout -k 2 20 "$PY" scripts/interop/pyd3tn_send.py check --manifest "$TMP/manifest.json" \
        --log "$TMP/recv.log" || FAILS=$((FAILS + 1))
fi

if [ $FAILS -eq 0 ]; then
    echo "PASS $TEST_NAME"
    exit 0
fi
echo "FAIL $TEST_NAME ($FAILS failures)"
exit 1

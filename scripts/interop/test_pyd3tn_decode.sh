#!/usr/bin/env bash
# Interop: bundles built by bpshim, decoded and checked by pyd3tn (an independent BPv7 code).
#
#   scripts/interop/test_pyd3tn_decode.sh        (from anywhere; needs .venv with pyd3tn and
#                                                 target/release/libbpshim.so)
#
# A Python UDP listener (scripts/interop/pyd3tn_decode.py) on 127.0.0.1:$PORT plays the next
# hop of node ipn:10. Two unmodified C programs run under LD_PRELOAD=libbpshim.so on node 10
# with BP_ROUTE='ipn:20.*=udp:127.0.0.1:$PORT' and send ADUs from ipn:10.2 to ipn:20.1:
#   c-tests/bin/bpsend            a text (bpsend always sets MSG_ACK_REQUESTED)
#   c-tests/bin/interop_sendfile  1 B, 300 B, 1000 B, 16 KiB and 60000 B binary ADUs, each
#                                 with other send flags (none, all four report flags, custody
#                                 flags, bulk priority, ACK + expedited priority)
# The listener decodes each datagram with pyd3tn and checks version 7, source, destination,
# report-to, processing flags, lifetime 86400 s, creation time near now, unique bundle IDs,
# CRC type 2 (CRC-32C) on every block with the CRC recomputed both over the received bytes
# and by pyd3tn, block numbers, and the payload byte for byte.
#
# Ports: INTEROP_PORT_BASE, else BPT_PORT_BASE (run-c-tests.sh), else 22100: listener = base,
# node 10's own CLA = base + 1 (test_pyd3tn_send.sh uses base + 2, so both fit in one block).
# Output: PASS/FAIL lines; exit status 0 only if every check passed.
set -u
TEST_NAME=pyd3tn_decode
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BASE=${INTEROP_PORT_BASE:-${BPT_PORT_BASE:-22100}}
PORT=$BASE
CLA10=$((BASE + 1))

require_env
build_c bpsend interop_sendfile
# the checker must reject damaged bundles, or a PASS below would mean nothing
if timeout -k 2 20 "$PY" scripts/interop/pyd3tn_decode.py --selftest >"$TMP/selftest.log" 2>&1; then
    tail -n 1 "$TMP/selftest.log"
else
    fail "$TEST_NAME: checker self-test"
    sed 's/^/    | /' "$TMP/selftest.log"
fi
for p in $PORT $CLA10; do
    port_free "$p" || { echo "FAIL $TEST_NAME: UDP port $p is in use"; exit 1; }
done

timeout -k 2 40 "$PY" scripts/interop/pyd3tn_decode.py --port "$PORT" --dir "$TMP/adus" \
    --deadline 25 >"$TMP/listener.log" 2>&1 &
LPID=$!
PIDS+=("$LPID")
if ! wait_for_line "$TMP/listener.log" '^READY' 10; then
    fail "$TEST_NAME: listener did not start"
    cat "$TMP/listener.log"
    exit 1
fi

node10() {
    env BP_NODE=ipn:10.0 BP_CLA="udp:127.0.0.1:$CLA10" BP_ROUTE="ipn:20.*=udp:127.0.0.1:$PORT" \
        BP_LOG="${BP_LOG:-warn}" LD_PRELOAD="$SHIM" timeout -k 2 20 "$@"
}

if node10 "$BIN/bpsend" 20 1 "$(cat "$TMP/adus/bpsend.text")" 10.2 >"$TMP/bpsend.log" 2>&1; then
    pass "$TEST_NAME: bpsend sent the text ADU"
else
    fail "$TEST_NAME: bpsend exited $?"
    sed 's/^/    | /' "$TMP/bpsend.log"
fi
mapfile -t SPECS <"$TMP/adus/sendfile.args"
if node10 "$BIN/interop_sendfile" 20.1 10.2 "${SPECS[@]}" >"$TMP/sendfile.log" 2>&1; then
    pass "$TEST_NAME: interop_sendfile sent ${#SPECS[@]} binary ADUs"
else
    fail "$TEST_NAME: interop_sendfile exited $?"
fi
sed 's/^/    | /' "$TMP/sendfile.log"

wait "$LPID"
rc=$?
PIDS=()
cat "$TMP/listener.log"
if [ $rc -ne 0 ]; then
    [ $rc -eq 124 ] && echo "(listener timed out)"
    FAILS=$((FAILS + 1))
fi

if [ $FAILS -eq 0 ]; then
    echo "PASS $TEST_NAME"
    exit 0
fi
echo "FAIL $TEST_NAME ($FAILS failures)"
exit 1

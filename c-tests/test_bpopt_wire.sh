#!/usr/bin/env bash
# test_bpopt_wire: the SOL_BP options reach the bundle on the wire.
# A Python UDP listener (scripts/interop/bpopt_wire.py) plays the next hop of node ipn:10
# (BP_ROUTE ipn:20.* points at it); c-tests/bin/test_bpopt in its send mode runs on node 10 once
# per case, sets the options of the case (BP_LIFETIME, BP_CRC_TYPE, BP_HOP_LIMIT, BP_PRIORITY,
# BP_REPORT_TO, BP_REPORT_FLAGS, BP_ACK_REQUESTED, BP_MUST_NOT_FRAGMENT, or leaves them at their
# defaults), reads them back and sends "opt-check" to ipn:20.1 from its own ipn:10.S. The
# listener decodes each bundle with the raw CBOR walker (bpv7raw.py) and with pyd3tn, and
# checks lifetime (s -> ms), CRC type and every CRC, processing flags (report bits, status
# time, ACK, must-not-fragment), report-to (ipn:0.0 -> null endpoint), the hop-count block
# (type 10, [limit, 0]) and the class-of-service block (type 193, [0, priority, 0, 0]), each
# present exactly when its option was set. The checker first proves, on pyd3tn-built bundles,
# that it accepts the right fields and detects each kind of wrong one.
# Ports: listener BPT_PORT_BASE, node 10's CLA BPT_PORT_BASE+1.
# shellcheck source=c-tests/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

PY=$ROOT/.venv/bin/python3
CHECKER=$ROOT/scripts/interop/bpopt_wire.py
LPORT=$PORT_BASE
P10=$((PORT_BASE + 1))
R10="ipn:20.*=udp:127.0.0.1:$LPORT"

[ -x "$BIN/test_bpopt" ] || fail "$BIN/test_bpopt not built (scripts/run-c-tests.sh --build-only)"
if [ ! -x "$PY" ] || ! "$PY" -c 'import pyd3tn.bundle7, cbor2' 2>/dev/null; then
    fail "no pyd3tn in $ROOT/.venv (run scripts/setup.sh)"
fi

# the checker must reject wrong bundles, or a PASS below would mean nothing
if timeout -k 2 30 "$PY" "$CHECKER" --selftest >"$TMP/selftest.log" 2>&1; then
    tail -n 1 "$TMP/selftest.log"
else
    show "checker self-test" "$TMP/selftest.log"
    fail "checker self-test"
fi

timeout -k 2 60 "$PY" "$CHECKER" --port "$LPORT" --dir "$TMP/cases" --deadline 40 \
    >"$TMP/listener.log" 2>&1 &
LPID=$!
PIDS+=("$LPID")
if ! wait_for_line "$TMP/listener.log" '^READY' 10; then
    show "listener" "$TMP/listener.log"
    fail "the listener did not start"
fi

mapfile -t CASES <"$TMP/cases/cases.args"
[ ${#CASES[@]} -gt 0 ] || fail "the listener wrote no cases"
i=0
sender_fail=0
for line in "${CASES[@]}"; do
    i=$((i + 1))
    # shellcheck disable=SC2086
    on_node 10 "$P10" "$R10" timeout -k 2 20 "$BIN/test_bpopt" send $line \
        >"$TMP/send$i.out" 2>"$TMP/send$i.err"
    rc=$?
    echo "=== case $i: test_bpopt send $line (exit $rc)"
    sed 's/^/  | /' "$TMP/send$i.out" "$TMP/send$i.err"
    if [ $rc -ne 0 ] || ! grep -q '^sent opt-check from ' "$TMP/send$i.out"; then
        echo "FAIL: case $i: the sender did not set its options and send" >&2
        sender_fail=1
    fi
done

wait_pid "$LPID" 60
lrc=$WAIT_RC
PIDS=()
echo "=== listener (exit $lrc)"
sed 's/^/  | /' "$TMP/listener.log"
[ $sender_fail -eq 0 ] || fail "a sender failed (above)"
[ "$lrc" = 0 ] || fail "the bundles on the wire do not carry the options (listener exit $lrc, above)"
echo "PASS test_bpopt_wire"

#!/usr/bin/env bash
# test_session_reuse: node ipn:10 has no TCP listener; it opens a TCPCLv4 session to node ipn:20
# and sends a 200 000-byte ADU asking for a delivery report. Node 20's route back to ipn:10
# points at a port nobody listens on, so the report can only come back over the session node 10
# opened (session reuse in both directions, RFC 9174 §3.1). Same over TCPCLv3.
# shellcheck source=c-tests/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

P20=$((PORT_BASE + 1))
DEAD=$((PORT_BASE + 2))
clean_env=(env -u BP_MAX_ADU -u BP_EXIT_FLUSH_MS -u BP_LIFETIME -u BP_CONFIG -u BP_REPORTS
    -u BP_STORE -u BP_UDP_RATE -u BP_AGE_BLOCK -u BP_STRICT_CRC -u BP_CLA)

for cla in tcpcl tcpclv3; do
    svc=$([ "$cla" = tcpcl ] && echo 1 || echo 2)
    echo "=== $cla"
    "${clean_env[@]}" BP_NODE=20 BP_CLA="$cla:127.0.0.1:$P20" BP_ROUTE="ipn:10.*=$cla:127.0.0.1:$DEAD" \
        LD_PRELOAD="$SHIM" "$BIN/bpfrag" recv 20 "$svc" 200000 >"$TMP/r$svc.out" 2>"$TMP/r$svc.err" &
    R=$!
    PIDS+=("$R")
    wait_for_line "$TMP/r$svc.out" "^Listening on ipn:20\.$svc$" 10 || fail "receiver did not start"
    "${clean_env[@]}" BP_NODE=10 BP_ROUTE="ipn:20.*=$cla:127.0.0.1:$P20" LD_PRELOAD="$SHIM" \
        timeout 30 "$BIN/bpfrag" send 20 "$svc" 200000 10.2 >"$TMP/s$svc.out" 2>"$TMP/s$svc.err"
    src=$?
    wait_pid "$R" 30
    rrc=$WAIT_RC
    show "sender (exit $src)" "$TMP/s$svc.out"
    show "sender stderr" "$TMP/s$svc.err"
    show "receiver (exit $rrc)" "$TMP/r$svc.out"
    show "receiver stderr" "$TMP/r$svc.err"
    [ "$rrc" = 0 ] || fail "$cla: the ADU did not arrive"
    [ "$src" = 0 ] || fail "$cla: the delivery report did not come back over the sender's session"
done
echo "PASS test_session_reuse"

#!/usr/bin/env bash
# stream_cla.sh CLA: two nodes over a TCP convergence layer (CLA = mtcp, tcpcl or tcpclv3), run
# by test_mtcp.sh, test_tcpcl.sh and test_tcpclv3.sh.
#   1. bpxchg: 300 ADUs of 1 B to 60 KiB both ways at once;
#   2. bpfrag: a 1 MiB ADU (no fragmentation on a stream) with its delivery report coming back,
#      and a deletion report for a 1 s ADU to a destination without a route;
#   3. the receiving node starts after the sender queued its bundle: the sender's node retries
#      the connection (backoff) and delivers when the peer comes up.
# shellcheck source=c-tests/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

CLA=${1:?usage: stream_cla.sh mtcp|tcpcl|tcpclv3}

P10=$PORT_BASE
P20=$((PORT_BASE + 1))
cla_node() { # node port route cmd...
    local node=$1 port=$2 route=$3
    shift 3
    env -u BP_MAX_ADU -u BP_EXIT_FLUSH_MS -u BP_LIFETIME -u BP_CONFIG -u BP_REPORTS -u BP_STORE \
        -u BP_UDP_RATE -u BP_AGE_BLOCK -u BP_STRICT_CRC BP_NODE="ipn:$node.0" \
        BP_CLA="$CLA:127.0.0.1:$port" BP_ROUTE="$route" LD_PRELOAD="$SHIM" "$@"
}
R10="ipn:20.*=$CLA:127.0.0.1:$P20"
R20="ipn:10.*=$CLA:127.0.0.1:$P10"

echo "=== 1. bpxchg 300 both ways"
cla_node 20 "$P20" "$R20" timeout 60 "$BIN/bpxchg" 20 10 300 >"$TMP/x20.out" 2>"$TMP/x20.err" &
X20=$!
PIDS+=("$X20")
cla_node 10 "$P10" "$R10" timeout 60 "$BIN/bpxchg" 10 20 300 >"$TMP/x10.out" 2>"$TMP/x10.err"
rc10=$?
wait_pid "$X20" 60
rc20=$WAIT_RC
show "node 10 (exit $rc10)" "$TMP/x10.out"
show "node 10 stderr" "$TMP/x10.err"
show "node 20 (exit $rc20)" "$TMP/x20.out"
show "node 20 stderr" "$TMP/x20.err"
[ "$rc10" = 0 ] && [ "$rc20" = 0 ] || fail "bpxchg over $CLA failed"

echo "=== 2. 1 MiB ADU and reports"
cla_node 20 "$P20" "$R20" "$BIN/bpfrag" recv 20 2 1048576 >"$TMP/r2.out" 2>"$TMP/r2.err" &
R=$!
PIDS+=("$R")
wait_for_line "$TMP/r2.out" "^Listening on ipn:20\.2$" 10 || fail "receiver did not start"
cla_node 10 "$P10" "$R10" timeout 30 "$BIN/bpfrag" send 20 2 1048576 10.4 30.1 \
    >"$TMP/s2.out" 2>"$TMP/s2.err"
src=$?
wait_pid "$R" 30
rrc=$WAIT_RC
show "sender (exit $src)" "$TMP/s2.out"
show "sender stderr" "$TMP/s2.err"
show "receiver (exit $rrc)" "$TMP/r2.out"
[ "$rrc" = 0 ] || fail "the 1 MiB ADU did not arrive intact over $CLA"
[ "$src" = 0 ] || fail "the sender did not read the delivery and deletion reports"

echo "=== 3. the peer comes up after the bundle is queued"
cla_node 10 "$P10" "$R10" timeout 30 "$BIN/bpsend" 20 3 late-hello 10.5 >"$TMP/s3.out" 2>"$TMP/s3.err" &
S=$!
PIDS+=("$S")
sleep 0.7
cla_node 20 "$P20" "$R20" timeout 20 "$BIN/bprecv" 20 3 1 5 >"$TMP/r3.out" 2>"$TMP/r3.err"
rrc=$?
wait_pid "$S" 20
show "sender (exit $WAIT_RC)" "$TMP/s3.out"
show "sender stderr" "$TMP/s3.err"
show "receiver (exit $rrc)" "$TMP/r3.out"
grep -q "^Received message (10 bytes): late-hello$" "$TMP/r3.out" ||
    fail "the bundle queued before the peer came up did not arrive"
echo "PASS test_$CLA"

#!/usr/bin/env bash
# test_two_nodes: two nodes on UDP loopback exchange 1000 ADUs (1 B .. 60 KiB) each way, at
# the same time, with bpxchg (which verifies size, content, source, no loss, no duplicate).
#   node ipn:10: BP_CLA=udp:127.0.0.1:P10  BP_ROUTE='ipn:20.*=udp:127.0.0.1:P20'
#   node ipn:20: BP_CLA=udp:127.0.0.1:P20  BP_ROUTE='ipn:10.*=udp:127.0.0.1:P10'
# Both bpxchg processes must exit 0. BPT_XCHG_COUNT changes the count (default 1000).
# shellcheck source=c-tests/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

P10=$PORT_BASE
P20=$((PORT_BASE + 1))
COUNT=${BPT_XCHG_COUNT:-1000}

on_node 10 "$P10" "ipn:20.*=udp:127.0.0.1:$P20" \
    "$BIN/bpxchg" 10 20 "$COUNT" >"$TMP/n10.out" 2>"$TMP/n10.err" &
PID10=$!
PIDS+=("$PID10")
on_node 20 "$P20" "ipn:10.*=udp:127.0.0.1:$P10" \
    "$BIN/bpxchg" 20 10 "$COUNT" >"$TMP/n20.out" 2>"$TMP/n20.err" &
PID20=$!
PIDS+=("$PID20")

wait_pid "$PID10" 75
RC10=$WAIT_RC
wait_pid "$PID20" 10
RC20=$WAIT_RC

show "node ipn:10 stdout (exit $RC10)" "$TMP/n10.out"
show "node ipn:10 stderr" "$TMP/n10.err"
show "node ipn:20 stdout (exit $RC20)" "$TMP/n20.out"
show "node ipn:20 stderr" "$TMP/n20.err"

[ "$RC10" = 0 ] || fail "bpxchg on node ipn:10 exited with $RC10"
[ "$RC20" = 0 ] || fail "bpxchg on node ipn:20 exited with $RC20"
[ "$(count_lines "$TMP/n10.out" "bpxchg: sent $COUNT received $COUNT ok")" = 1 ] ||
    fail "node ipn:10 did not print 'bpxchg: sent $COUNT received $COUNT ok'"
[ "$(count_lines "$TMP/n20.out" "bpxchg: sent $COUNT received $COUNT ok")" = 1 ] ||
    fail "node ipn:20 did not print 'bpxchg: sent $COUNT received $COUNT ok'"
echo "PASS test_two_nodes"

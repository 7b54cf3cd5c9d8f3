#!/usr/bin/env bash
# test_relay: three nodes. A C program at ipn:10 sends 1000 ADUs to a C program at ipn:20
# through bpnode at ipn:15: TCPCLv4 from 10 to 15, MTCP from 15 to 20 (and UDP back for the
# reports). The relay forwards (previous node, hop count updated), and stops cleanly on SIGTERM.
# Then the relay is stopped (SIGTERM) in the middle of a 1000-ADU stream and started again 1 s
# later: the relay flushes what it holds before it stops, the sender's node queues and retries
# while it is down and resends what the relay did not acknowledge, and all 1000 arrive
# (duplicates allowed: at-least-once). A relay KILLED while it holds bundles in memory would lose
# them until the durable store lands (issue 4): that case is not tested here.
# shellcheck source=c-tests/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

P10=$PORT_BASE
P15=$((PORT_BASE + 1))
P15M=$((PORT_BASE + 2))
P20=$((PORT_BASE + 3))
BPNODE=$ROOT/target/release/bpnode
[ -x "$BPNODE" ] || fail "$BPNODE not built (cargo build --release)"
clean_env=(env -u BP_MAX_ADU -u BP_EXIT_FLUSH_MS -u BP_LIFETIME -u BP_CONFIG -u BP_REPORTS
    -u BP_STORE -u BP_UDP_RATE -u BP_AGE_BLOCK -u BP_STRICT_CRC)

start_relay() {
    "${clean_env[@]}" BP_NODE=15 BP_CLA="tcpcl:127.0.0.1:$P15,mtcp:127.0.0.1:$P15M" \
        BP_ROUTE="ipn:20.*=mtcp:127.0.0.1:$P20,ipn:10.*=tcpcl:127.0.0.1:$P10" \
        "$BPNODE" >>"$TMP/relay.log" 2>&1 &
    RELAY=$!
    PIDS+=("$RELAY")
    local i
    for i in $(seq 100); do
        grep -q "node ipn:15.0 up" "$TMP/relay.log" 2>/dev/null && return 0
        sleep 0.05
    done
    fail "bpnode did not start"
}

echo "=== 1. 500 ADUs through the relay"
"${clean_env[@]}" BP_NODE=20 BP_CLA="mtcp:127.0.0.1:$P20" BP_ROUTE="ipn:*.*=mtcp:127.0.0.1:$P15M" \
    LD_PRELOAD="$SHIM" timeout 60 "$BIN/bprecv" 20 1 500 5 >"$TMP/recv.out" 2>"$TMP/recv.err" &
RECV=$!
PIDS+=("$RECV")
wait_for_line "$TMP/recv.out" "^Listening on ipn:20\.1$" 10 || fail "receiver did not start"
start_relay
"${clean_env[@]}" BP_NODE=10 BP_CLA="tcpcl:127.0.0.1:$P10" BP_ROUTE="ipn:*.*=tcpcl:127.0.0.1:$P15" \
    LD_PRELOAD="$SHIM" timeout 60 "$BIN/bpsend" 20 1 relayed 10.2 500 >"$TMP/send.out" 2>"$TMP/send.err"
src=$?
wait_pid "$RECV" 60
rrc=$WAIT_RC
got=$(count_lines "$TMP/recv.out" "Received message (7 bytes): relayed")
show "sender (exit $src)" "$TMP/send.err"
echo "receiver: exit $rrc, $got ADUs"
[ "$src" = 0 ] || fail "sender failed"
[ "$got" = 500 ] || fail "the receiver got $got of 500 ADUs through the relay"
[ "$(count_lines "$TMP/recv.out" "Bundle sent by ipn:10.2")" = 500 ] || fail "wrong source EIDs"

echo "=== 2. the relay stops (SIGTERM) and comes back in the middle of a 1000-ADU stream"
mkdir -p "$TMP/files" "$TMP/got"
for i in $(seq -w 1 1000); do printf 'stream-%s' "$i" >"$TMP/files/$i"; done
"${clean_env[@]}" BP_NODE=20 BP_CLA="mtcp:127.0.0.1:$P20" BP_ROUTE="ipn:*.*=mtcp:127.0.0.1:$P15M" \
    LD_PRELOAD="$SHIM" timeout 90 "$BIN/interop_dtn7" recv 20 2 2000 5 "$TMP/got" \
    >"$TMP/recv2.out" 2>"$TMP/recv2.err" &
RECV=$!
PIDS+=("$RECV")
wait_for_line "$TMP/recv2.out" "^READY ipn:20\.2$" 10 || fail "receiver did not start"
# About 4 s of stream (4 ms between ADUs); the relay stops after 1.5 s and is back 1 s later.
"${clean_env[@]}" BP_NODE=10 BP_CLA="tcpcl:127.0.0.1:$P10" BP_ROUTE="ipn:*.*=tcpcl:127.0.0.1:$P15" \
    BP_EXIT_FLUSH_MS=10000 LD_PRELOAD="$SHIM" timeout 60 "$BIN/interop_dtn7" send 20.2 10.3 4 \
    "$TMP"/files/* >"$TMP/send2.out" 2>"$TMP/send2.err" &
SEND=$!
PIDS+=("$SEND")
sleep 1.5
kill -TERM "$RELAY"
wait_pid "$RELAY" 15
[ "$WAIT_RC" = 0 ] || fail "bpnode did not exit 0 on SIGTERM (status $WAIT_RC)"
grep -q "flushing and stopping" "$TMP/relay.log" || fail "bpnode did not log its shutdown"
sent_at_stop=$(grep -c "^sent " "$TMP/send2.out")
sleep 1
start_relay
wait_pid "$SEND" 40
src=$WAIT_RC
wait_pid "$RECV" 40
got=$(grep -c "^ADU " "$TMP/recv2.out")
unique=$(for f in "$TMP"/got/adu*.bin; do cat "$f"; echo; done | sort -u | grep -c "^stream-" || true)
show "sender stderr (exit $src)" "$TMP/send2.err"
echo "the relay stopped after the sender had sent $sent_at_stop ADUs"
echo "receiver: $got ADUs, $unique distinct"
show "relay log (last lines)" <(tail -8 "$TMP/relay.log")
[ "$src" = 0 ] || fail "sender failed"
[ "$sent_at_stop" -gt 0 ] && [ "$sent_at_stop" -lt 1000 ] ||
    fail "the relay was not stopped in the middle of the stream ($sent_at_stop sent)"
[ "$unique" = 1000 ] || fail "$unique of 1000 distinct ADUs arrived through a relay restart"
echo "PASS test_relay ($((got - unique)) duplicate(s): TCPCL resends what was not acknowledged)"

#!/usr/bin/env bash
# test_exit_flush: a sender that exits right after sendto still delivers everything.
# bprecv on node ipn:20 (count 3), then `bpsend 20 1 hello 10.2 3` on node ipn:10, which
# returns from main right after its 3 sendto calls: the receiver must print 3 times
#   Received message (5 bytes): hello
#   Bundle sent by ipn:10.2
# Round 1 leaves the socket open at exit; round 2 closes it first (BPSEND_CLOSE=1).
# bpsend must also end within BP_EXIT_FLUSH_MS (default 2000 ms) + 3 s.
# shellcheck source=c-tests/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

P10=$PORT_BASE
P20=$((PORT_BASE + 1))
ROUTE="ipn:20.*=udp:127.0.0.1:$P20"

round() { # round_number service message close
    local r=$1 svc=$2 msg=$3 close=$4 src="10.$(($2 + 1))"
    local out="$TMP/recv$r.out" err="$TMP/recv$r.err"
    on_node 20 "$P20" "" "$BIN/bprecv" 20 "$svc" 3 4 >"$out" 2>"$err" &
    local rpid=$!
    PIDS+=("$rpid")
    wait_for_line "$out" "^Listening on ipn:20\.$svc\$" 10 || {
        show "receiver stdout" "$out"
        show "receiver stderr" "$err"
        fail "round $r: bprecv did not start listening"
    }
    wait_udp_port "$P20" 5 || fail "round $r: nothing listens on udp:127.0.0.1:$P20"

    local t0 t1 src_rc
    t0=$(date +%s%N)
    BPSEND_CLOSE=$close on_node 10 "$P10" "$ROUTE" timeout 15 "$BIN/bpsend" 20 "$svc" "$msg" \
        "$src" 3 >"$TMP/send$r.out" 2>"$TMP/send$r.err"
    src_rc=$?
    t1=$(date +%s%N)
    local rrc
    wait_pid "$rpid" 20
    rrc=$WAIT_RC

    echo "=== round $r (BPSEND_CLOSE=$close)"
    show "bpsend stdout (exit $src_rc, $(((t1 - t0) / 1000000)) ms)" "$TMP/send$r.out"
    show "bpsend stderr" "$TMP/send$r.err"
    show "bprecv stdout (exit $rrc)" "$out"
    show "bprecv stderr" "$err"

    [ "$src_rc" = 0 ] || fail "round $r: bpsend exited with $src_rc"
    [ $(((t1 - t0) / 1000000)) -lt 5000 ] || fail "round $r: bpsend took more than 5 s to exit"
    [ "$(count_lines "$TMP/send$r.out" "Message sent successfully: $msg")" = 3 ] ||
        fail "round $r: bpsend did not report 3 sends"
    local got from
    got=$(count_lines "$out" "Received message (${#msg} bytes): $msg")
    from=$(count_lines "$out" "Bundle sent by ipn:$src")
    [ "$got" = 3 ] || fail "round $r: the receiver printed $got of 3 messages \"$msg\""
    [ "$from" = 3 ] || fail "round $r: the receiver printed $from of 3 'Bundle sent by ipn:$src'"
    [ "$rrc" = 0 ] || fail "round $r: bprecv exited with $rrc"
}

round 1 1 hello 0
round 2 2 hello 1
echo "PASS test_exit_flush"

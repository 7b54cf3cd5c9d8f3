#!/usr/bin/env bash
# test_fragment_reports: node ipn:10 sends ADUs bigger than a UDP datagram to node ipn:20, which
# must fragment them (node 10) and reassemble them (node 20); the sending C program reads the
# status reports that come back: a delivery report from node 20 for its first ADU, and a
# deletion report (lifetime expired) from its own node for a 1 s-lifetime ADU sent to a
# destination without a route.
#   round 1: 200 000 bytes (4 fragments), with the reports
#   round 2: 16 MiB (BP_MAX_ADU default), the reassembled ADU checked byte for byte
# shellcheck source=c-tests/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

P10=$PORT_BASE
P20=$((PORT_BASE + 1))
R10="ipn:20.*=udp:127.0.0.1:$P20"
R20="ipn:10.*=udp:127.0.0.1:$P10"

round() { # round size svc expire_arg
    local r=$1 size=$2 svc=$3 expire=$4
    on_node 20 "$P20" "$R20" "$BIN/bpfrag" recv 20 "$svc" "$size" >"$TMP/r$r.out" 2>"$TMP/r$r.err" &
    local rpid=$!
    PIDS+=("$rpid")
    wait_for_line "$TMP/r$r.out" "^Listening on ipn:20\.$svc\$" 10 || fail "round $r: receiver did not start"
    wait_udp_port "$P20" 5 || fail "round $r: nothing listens on udp:127.0.0.1:$P20"
    # shellcheck disable=SC2086
    on_node 10 "$P10" "$R10" timeout 40 "$BIN/bpfrag" send 20 "$svc" "$size" 10.2 $expire \
        >"$TMP/s$r.out" 2>"$TMP/s$r.err"
    local src=$?
    wait_pid "$rpid" 40
    local rrc=$WAIT_RC
    echo "=== round $r ($size bytes)"
    show "sender stdout (exit $src)" "$TMP/s$r.out"
    show "sender stderr" "$TMP/s$r.err"
    show "receiver stdout (exit $rrc)" "$TMP/r$r.out"
    show "receiver stderr" "$TMP/r$r.err"
    [ "$rrc" = 0 ] || fail "round $r: the receiver did not get the ADU intact"
    [ "$src" = 0 ] || fail "round $r: the sender did not read the expected reports"
}

round 1 200000 1 30.1
BP_UDP_RATE=200000000 round 2 16777216 2 ""
echo "PASS test_fragment_reports"

#!/usr/bin/env bash
# test_expiry: bundles whose lifetime ends while they wait for a closed contact are deleted, with
# a deletion status report to their report-to EID; bundles with a long lifetime stay stored.
#
# Node 10 (c-tests/cw_expiry.c "send", see its header for every check) has a contact to node 20
# that opens only in an hour (BP_CONTACT ... +3600 +3700; nothing listens there) and a static
# route to node 30. Its socket A (ipn:10.1, SOL_BP BP_LIFETIME 2 s, BP_REPORT_FLAGS
# BP_REPORT_DELETED) sends 5 ADUs to ipn:20.1; socket L (ipn:10.2, lifetime 3600 s, deletion
# reports asked too) sends 3; socket R (ipn:10.3, lifetime 2 s, BP_REPORT_TO ipn:30.1) sends 2.
# Checked:
#  - in the sender: no report 1 s after the sends; then A's error queue gets exactly 5 deletion
#    reports (reason 1 = lifetime expired, bp_send_seq 1..5, source ipn:10.1, reporter
#    ipn:10.0), each 1.99 s after its sendto was called or later, and at most 4.5 s after it
#    returned (lifetime 2 s, lifetimes checked every second); none on L, none on R;
#  - node 30 (cw_expiry "watch" at ipn:30.1) gets R's 2 deletion reports in its error queue
#    (bp_send_seq 0, source ipn:10.3, reporter ipn:10.0), over TCPCLv4;
#  - node 10's store (python3 sqlite3, read-only, on BP_STORE) while the sender still runs:
#    no bundle from ipn:10.1 or ipn:10.3, the 3 from ipn:10.2 (state forward, to ipn:20.1), and
#    nothing else (the report bundles are gone too); after the sender exits: still those 3.
# shellcheck source=c-tests/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

P10=$PORT_BASE
P20=$((PORT_BASE + 1))
P30=$((PORT_BASE + 2))
need_bins cw_expiry
command -v python3 >/dev/null || fail "python3 not found (needed to read the store)"
clean_env=(env -u BP_MAX_ADU -u BP_EXIT_FLUSH_MS -u BP_LIFETIME -u BP_CONFIG -u BP_REPORTS
    -u BP_STORE -u BP_UDP_RATE -u BP_AGE_BLOCK -u BP_STRICT_CRC -u BP_CONTACT -u BP_ROUTE
    -u BP_DURABILITY -u BP_STORE_MAX)
STORE=$TMP/node10.db

# store_summary DB: one line per (source, dest, state) group of the bundles table, then
# "total N" (read-only; the node may be running: WAL lets readers in).
store_summary() {
    store_query "$1" "SELECT 'group ' || source || ' -> ' || dest || ' state ' || state || ': ' ||
        COUNT(*) FROM bundles GROUP BY source, dest, state ORDER BY source" \
        "SELECT 'total ' || COUNT(*) FROM bundles"
}

# store_ok DB: whether the store holds exactly the 3 long-lived bundles (state 1 = forward).
store_ok() {
    local s
    s=$(store_summary "$1") || return 1
    [ "$(grep -c '^group' <<<"$s")" = 1 ] &&
        grep -qx "group ipn:10.2 -> ipn:20.1 state 1: 3" <<<"$s" &&
        grep -qx "total 3" <<<"$s"
}

echo "=== node 30: a socket at ipn:30.1 waits for 2 deletion reports (report-to on another node)"
"${clean_env[@]}" BP_NODE=30 BP_CLA="tcpcl:127.0.0.1:$P30" BP_STORE="$TMP/node30.db" \
    LD_PRELOAD="$SHIM" timeout 40 "$BIN/cw_expiry" watch 30 1 2 15 10.3 \
    >"$TMP/watch.out" 2>"$TMP/watch.err" &
WATCH=$!
PIDS+=("$WATCH")
wait_for_line_pid "$WATCH" "$TMP/watch.out" "^READY" 10 || {
    show "watcher stderr" "$TMP/watch.err"
    fail "node 30 did not start"
}

echo "=== node 10: 5 ADUs with lifetime 2 s, 3 with 3600 s, 2 with lifetime 2 s and report-to ipn:30.1"
echo "    contact to node 20 opens only in an hour: BP_CONTACT='20 tcpcl:127.0.0.1:$P20 +3600 +3700'"
"${clean_env[@]}" BP_NODE=10 BP_CLA="tcpcl:127.0.0.1:$P10" BP_STORE="$STORE" \
    BP_CONTACT="20 tcpcl:127.0.0.1:$P20 +3600 +3700" BP_ROUTE="ipn:30.*=tcpcl:127.0.0.1:$P30" \
    BP_EXIT_FLUSH_MS=500 LD_PRELOAD="$SHIM" timeout 60 "$BIN/cw_expiry" send 10 20.1 "$TMP/go" 30.1 \
    >"$TMP/send.out" 2>"$TMP/send.err" &
SEND=$!
PIDS+=("$SEND")
if ! wait_for_line_pid "$SEND" "$TMP/send.out" "^STORE_CHECK$" 20; then
    wait_pid "$SEND" 5
    show "sender stdout (exit $WAIT_RC)" "$TMP/send.out"
    show "sender stderr" "$TMP/send.err"
    fail "the sender's checks of the deletion reports did not pass"
fi
show "sender" "$TMP/send.out"

echo "=== node 10's store while the sender runs (expired bundles deleted, long-lived ones kept)"
ok=0
for _ in $(seq 60); do # the deletions commit in the store's next batch: allow up to 3 s
    if store_ok "$STORE"; then
        ok=1
        break
    fi
    sleep 0.05
done
store_summary "$STORE" >"$TMP/store1.txt" 2>&1
show "store $STORE" "$TMP/store1.txt"
[ $ok = 1 ] || fail "the store should hold exactly the 3 bundles of ipn:10.2 (lifetime 3600 s), \
nothing of ipn:10.1 or ipn:10.3 (expired) and no report bundle"
echo "CHECK store: 0 expired bundles, the 3 long-lived ones still stored"

touch "$TMP/go"
wait_pid "$SEND" 10
src=$WAIT_RC
show "sender stderr (exit $src)" "$TMP/send.err"
[ "$src" = 0 ] || fail "the sender exited with status $src"
store_summary "$STORE" >"$TMP/store2.txt" 2>&1
show "store after the sender exited" "$TMP/store2.txt"
store_ok "$STORE" || fail "after the sender exited the store should still hold the 3 long-lived bundles"
echo "CHECK store after exit: the 3 long-lived bundles kept"

wait_pid "$WATCH" 20
wrc=$WAIT_RC
show "node 30 watcher (exit $wrc)" "$TMP/watch.out"
show "node 30 watcher stderr" "$TMP/watch.err"
[ "$wrc" = 0 ] || fail "node 30 did not get the 2 deletion reports for report-to ipn:30.1"
echo "PASS test_expiry"

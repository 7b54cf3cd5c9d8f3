#!/usr/bin/env bash
# test_full_store: the storage limit (BP_STORE_MAX) and the back-pressure it puts on sends.
#
# Node 10 has BP_STORE_MAX=1M (1 MiB) and one contact to node 20 that opens OPEN_IN s after the
# script starts and stays open (BP_CONTACT='20 tcpcl:127.0.0.1:P20 OPEN *'); node 20 is a
# receiver (c-tests/cw_recv.c) on TCPCLv4, started first. The sender (c-tests/cw_fill.c, see its
# header) sends 1000-byte ADUs, each numbered, and checks:
#  A. blocking sends with SO_SNDTIMEO 1 s until one fails: it fails with EAGAIN after 0.9..3 s
#     (the timeout), while the contact is still closed;
#  B. O_NONBLOCK: a send fails with EAGAIN at once; poll(POLLOUT, 200 ms) returns 0; a
#     MSG_DONTWAIT send fails with EAGAIN at once;
#  C. a blocking send waits for the contact: it succeeds between OPEN - 0.1 s and OPEN + 5 s
#     (the store drains below 90% of the limit), and poll then reports POLLOUT at once;
#  D. 1500 more blocking sends through the open contact (more than the store holds) succeed.
# This script checks besides:
#  - while the sender is blocked (before OPEN), node 10's store (python3 sqlite3, read-only)
#    holds exactly the ADUs whose send succeeded, all waiting to be forwarded, and their bytes
#    are "roughly 1 MiB": at least BP_STORE_MAX and at most BP_STORE_MAX + 64 KiB;
#  - the node logged (BP_LOG=info) that the store was full and that sends resumed;
#  - nothing arrives at node 20 before OPEN - 0.1 s;
#  - every ADU whose send succeeded arrived exactly once, no ADU whose send failed arrived, and
#    nothing else did; node 10's store is empty after its sender exited.
# shellcheck source=c-tests/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

P10=$PORT_BASE
P20=$((PORT_BASE + 1))
OPEN_IN=8    # s from the script's start to the contact's opening (step A takes ~1.5 s here)
EXTRA=1500   # sends of step D
LIMIT=1048576
need_bins cw_fill cw_recv
command -v python3 >/dev/null || fail "python3 not found (needed to read the store)"
clean_env=(env -u BP_MAX_ADU -u BP_EXIT_FLUSH_MS -u BP_LIFETIME -u BP_CONFIG -u BP_REPORTS
    -u BP_STORE -u BP_UDP_RATE -u BP_AGE_BLOCK -u BP_STRICT_CRC -u BP_CONTACT -u BP_ROUTE
    -u BP_DURABILITY -u BP_STORE_MAX -u BP_LOG)
STORE=$TMP/node10.db

# store_stats DB: "COUNT BYTES FORWARD_TO_20.1" of the bundles table (read-only).
store_stats() {
    store_query "$1" "SELECT COUNT(*), COALESCE(SUM(size), 0),
        (SELECT COUNT(*) FROM bundles WHERE state = 1 AND dest = 'ipn:20.1') FROM bundles"
}

OPEN=$(($(date +%s) + OPEN_IN))
now() { date +%s.%N; }
echo "=== node 20 (receiver, TCPCLv4 on $P20); node 10: BP_STORE_MAX=1M, contact to node 20 opens at $OPEN (in $OPEN_IN s)"
"${clean_env[@]}" BP_NODE=20 BP_CLA="tcpcl:127.0.0.1:$P20" BP_STORE="$TMP/node20.db" \
    LD_PRELOAD="$SHIM" timeout 80 "$BIN/cw_recv" 20 1 0 $((OPEN + 60)) 4 \
    >"$TMP/recv.out" 2>"$TMP/recv.err" &
RECV=$!
PIDS+=("$RECV")
wait_for_line_pid "$RECV" "$TMP/recv.out" "^READY" 10 || { show "receiver stderr" "$TMP/recv.err"; fail "node 20 did not start"; }

"${clean_env[@]}" BP_NODE=10 BP_CLA="tcpcl:127.0.0.1:$P10" BP_STORE="$STORE" BP_STORE_MAX=1M \
    BP_CONTACT="20 tcpcl:127.0.0.1:$P20 $OPEN *" BP_EXIT_FLUSH_MS=20000 BP_LOG=info \
    LD_PRELOAD="$SHIM" timeout 80 "$BIN/cw_fill" 10.1 20.1 "$OPEN" "$EXTRA" \
    >"$TMP/send.out" 2>"$TMP/send.err" &
SEND=$!
PIDS+=("$SEND")

if ! wait_for_line_pid "$SEND" "$TMP/send.out" "^WAITING$" $((OPEN_IN + 2)); then
    wait_pid "$SEND" 5
    grep -v '^OK ' "$TMP/send.out" >"$TMP/send.short"
    show "sender (exit $WAIT_RC; OK lines left out)" "$TMP/send.short"
    show "sender stderr" "$TMP/send.err"
    fail "the sender did not reach the full store's checks"
fi
t_wait=$(now)
full_ok=$(sed -n 's/^FULL ok=\([0-9]*\) .*/\1/p' "$TMP/send.out")
echo "at the limit: $full_ok ADUs of 1000 bytes accepted ($(grep '^FULL' "$TMP/send.out"))"
read -r n bytes fwd < <(store_stats "$STORE")
left=$(awk -v a="$OPEN" -v b="$t_wait" 'BEGIN { printf "%.2f", a - b }')
echo "node 10's store while the sender is blocked ($left s before the contact opens): $n bundles, $bytes bytes, $fwd to forward to ipn:20.1"
awk -v l="$left" 'BEGIN { exit !(l > 0.2) }' ||
    fail "the store was checked only $left s before the contact opened (too slow)"
[ "$n" = "$full_ok" ] || fail "the store holds $n bundles, but $full_ok sends succeeded"
[ "$fwd" = "$n" ] || fail "$fwd of the $n stored bundles wait to be forwarded to ipn:20.1"
[ "$bytes" -ge $LIMIT ] && [ "$bytes" -le $((LIMIT + 65536)) ] ||
    fail "the store holds $bytes bytes when sends fail, want $LIMIT..$((LIMIT + 65536)) (BP_STORE_MAX=1M)"
echo "CHECK the store is at its limit: $bytes bytes (limit $LIMIT), $n bundles = the successful sends"

wait_pid "$SEND" 60
src=$WAIT_RC
grep -v -e '^OK ' "$TMP/send.out" >"$TMP/send.short"
show "sender (exit $src; OK lines left out)" "$TMP/send.short"
show "sender stderr (node 10 log)" "$TMP/send.err"
[ "$src" = 0 ] || fail "the sender failed (status $src)"
grep -q "store full" "$TMP/send.err" || fail "node 10 did not log 'store full'"
grep -q "sends resume" "$TMP/send.err" || fail "node 10 did not log 'sends resume'"
total_ok=$(sed -n 's/^TOTAL ok=\([0-9]*\) .*/\1/p' "$TMP/send.out")
[ "$total_ok" = $((full_ok + 1 + EXTRA)) ] || fail "TOTAL ok=$total_ok, want $((full_ok + 1 + EXTRA))"

wait_pid "$RECV" 30
rrc=$WAIT_RC
grep -v '^RECV ' "$TMP/recv.out" >"$TMP/recv.short"
show "receiver (exit $rrc; RECV lines left out)" "$TMP/recv.short"
show "receiver stderr" "$TMP/recv.err"
[ "$rrc" = 0 ] || fail "the receiver failed (status $rrc)"

awk '$1 == "OK" { print "fill-" $2 }' "$TMP/send.out" | sort >"$TMP/ok.ids"
awk '$1 == "FAILED" { print "fill-" $2 }' "$TMP/send.out" | sort >"$TMP/failed.ids"
awk '$1 == "RECV" { print $4 }' "$TMP/recv.out" | sort >"$TMP/recv.ids"
sort -u "$TMP/recv.ids" >"$TMP/recv.uniq"
got=$(wc -l <"$TMP/recv.ids")
uniq=$(wc -l <"$TMP/recv.uniq")
nok=$(wc -l <"$TMP/ok.ids")
missing=$(comm -23 "$TMP/ok.ids" "$TMP/recv.uniq" | wc -l)
unexpected=$(comm -13 "$TMP/ok.ids" "$TMP/recv.uniq" | wc -l)
failed_arrived=$(comm -12 "$TMP/failed.ids" "$TMP/recv.uniq" | tr '\n' ' ')
first=$(awk '$1 == "RECV" { print $2; exit }' "$TMP/recv.out")
sizes=$(awk '$1 == "RECV" && $3 != 1000' "$TMP/recv.out" | wc -l)
echo "sent ok: $nok ($(wc -l <"$TMP/failed.ids") failed: $(tr '\n' ' ' <"$TMP/failed.ids")); received: $got ADUs, $uniq distinct; missing $missing, unexpected $unexpected"
echo "first arrival $(awk -v a="$first" -v b="$OPEN" 'BEGIN { printf "%.3f", a - b }') s after the contact opened"
[ -n "$first" ] || fail "nothing arrived"
awk -v a="$first" -v b="$OPEN" 'BEGIN { exit !(a >= b - 0.1) }' ||
    fail "an ADU arrived before the contact opened"
[ "$sizes" = 0 ] || fail "$sizes ADUs arrived with a length other than 1000"
[ -z "$failed_arrived" ] || fail "ADUs whose send failed arrived: $failed_arrived"
[ "$missing" = 0 ] || fail "$missing accepted ADUs never arrived (first: $(comm -23 "$TMP/ok.ids" "$TMP/recv.uniq" | head -5 | tr '\n' ' '))"
[ "$unexpected" = 0 ] || fail "$unexpected unexpected ADUs arrived"
[ "$got" = "$uniq" ] || fail "$((got - uniq)) duplicates arrived (e.g. $(uniq -d "$TMP/recv.ids" | head -5 | tr '\n' ' '))"
echo "CHECK every accepted ADU arrived exactly once, no failed one arrived"
read -r n bytes fwd < <(store_stats "$STORE")
echo "node 10's store after its sender exited: $n bundles, $bytes bytes"
[ "$n" = 0 ] || fail "node 10's store still holds $n bundles after its sender exited"
echo "PASS test_full_store ($full_ok ADUs stored at the limit, $total_ok accepted in all)"

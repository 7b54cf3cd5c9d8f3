#!/usr/bin/env bash
# test_outage: the durable store carries 10,000 bundles across an outage of the next hop AND
# across processes of the sending node.
#
# 1. Node 10 (dur_send, store S10) sends 10,000 ADUs of 100 bytes, each "o-<K, 8 digits> ...",
#    K = 1..10000, to ipn:20.1 over TCPCLv4 (route ipn:20.*=tcpcl:127.0.0.1:P20) while node 20
#    is not running (checked: nothing listens on P20), and EXITS (BP_EXIT_FLUSH_MS=200): every
#    sendto returned, so every bundle is committed to S10.
# 2. python3 + sqlite3 (read-only) on S10: 10,000 rows in `bundles`, all waiting to be
#    forwarded (state 1), all for ipn:20.1.
# 3. Node 20 starts (dur_recv at ipn:20.1, its own store S20, tcpcl listener on P20), then node
#    10 runs again as bpnode on S10 (no application: the sender process is gone, so only the
#    store can carry the bundles; bpnode must log that it took 10,000 bundles back).
# 4. When 10,000 ADU lines are printed, bpnode is stopped (SIGTERM: flush, clean exit), then the
#    receiver (SIGTERM) after a short grace period, so that a late duplicate would be seen.
#    Check: the printed set of numbers is exactly 1..10000, no duplicates, every ADU from
#    ipn:10.2 and 100 bytes long; S10 holds 0 bundles, S20 holds 0 bundles (all read).
#
# BP_DURABILITY=full (the default) is used: measured on the 2-core dev VM (ext4 on virtio), a
# single sender commits 10,000 bundles, one group commit and fsync each, in 2.7-3.2 s when the
# machine is quiet (0.9-1.7 s with "process") and up to 19 s while other tests load it; the
# whole test took 7-26 s. OUTAGE_DURABILITY=process|memory overrides it (with "memory" the
# store keeps nothing and step 2 fails: the test's own failure check).
# shellcheck source=c-tests/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

P10=$PORT_BASE
P20=$((PORT_BASE + 1))
N=10000
DUR=${OUTAGE_DURABILITY:-full}
S10=$TMP/node10.db
S20=$TMP/node20.db
BPNODE=$ROOT/target/release/bpnode
[ -x "$BPNODE" ] || fail "$BPNODE not built (cargo build --release)"
[ -x "$BIN/dur_send" ] && [ -x "$BIN/dur_recv" ] || fail "dur_send/dur_recv not built"
command -v python3 >/dev/null || fail "python3 not found"
mkdir -p "$TMP/state"

clean_env=(env -u BP_MAX_ADU -u BP_EXIT_FLUSH_MS -u BP_LIFETIME -u BP_CONFIG -u BP_REPORTS
    -u BP_STORE -u BP_UDP_RATE -u BP_AGE_BLOCK -u BP_STRICT_CRC -u BP_ROUTE -u BP_CONTACT
    -u BP_DURABILITY -u BP_STORE_MAX)
NODE10=("${clean_env[@]}" BP_NODE=10 BP_CLA="tcpcl:127.0.0.1:$P10"
    BP_ROUTE="ipn:20.*=tcpcl:127.0.0.1:$P20" BP_STORE="$S10" BP_DURABILITY="$DUR")
NODE20=("${clean_env[@]}" BP_NODE=20 BP_CLA="tcpcl:127.0.0.1:$P20" BP_STORE="$S20"
    BP_DURABILITY="$DUR")

# store_counts FILE: prints "TOTAL FORWARD DELIVER FOR_20_1" for the store's `bundles` table
# (read-only; "missing" if there is no such file).
store_counts() {
    store_query "$1" "SELECT count(*), (SELECT count(*) FROM bundles WHERE state = 1),
        (SELECT count(*) FROM bundles WHERE state = 2),
        (SELECT count(*) FROM bundles WHERE dest = 'ipn:20.1') FROM bundles"
}

# wait_count FILE REGEX COUNT SECONDS: wait until COUNT lines of FILE match REGEX.
wait_count() {
    local i=0
    while [ $i -lt $(($4 * 10)) ]; do
        [ "$(grep -cE -- "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

echo "=== 1. node 10 sends $N ADUs to ipn:20.1 while node 20 is down (BP_DURABILITY=$DUR), then exits"
if command -v ss >/dev/null && [ -n "$(ss -Hltn "sport = :$P20")" ]; then
    fail "something listens on tcp 127.0.0.1:$P20: node 20 must be down"
fi
t0=$(date +%s%N)
"${NODE10[@]}" BP_EXIT_FLUSH_MS=200 LD_PRELOAD="$SHIM" timeout 50 "$BIN/dur_send" 20.1 10.2 o $N \
    >"$TMP/send.out" 2>"$TMP/send.err"
src=$?
send_ms=$(ms_since "$t0")
sent=$(grep -c '^sent ' "$TMP/send.out")
show "sender stderr (exit $src)" "$TMP/send.err"
echo "sender: $sent sendto calls returned in $send_ms ms ($((sent * 1000 / (send_ms + 1))) ADU/s), then exited"
[ "$src" = 0 ] || fail "dur_send exited with status $src"
[ "$sent" = $N ] && grep -qx "done $N" "$TMP/send.out" || fail "dur_send reported $sent of $N sends"

echo "=== 2. node 10's store after the sender exited"
read -r total fwd dlv to20 < <(store_counts "$S10")
echo "store $S10: ${total:-?} bundles (${fwd:-?} to forward, ${dlv:-?} to deliver, ${to20:-?} for ipn:20.1)"
[ "$total" = $N ] && [ "$fwd" = $N ] && [ "$to20" = $N ] ||
    fail "node 10's store holds ${total:-?} bundles (${fwd:-?} to forward), not the $N sent"

echo "=== 3. node 20 starts, then node 10 runs again (bpnode on the same store)"
t0=$(date +%s%N)
"${NODE20[@]}" LD_PRELOAD="$SHIM" timeout 60 "$BIN/dur_recv" 20.1 0 30 \
    >"$TMP/recv.out" 2>"$TMP/recv.err" &
RECV=$!
PIDS+=("$RECV")
wait_for_line "$TMP/recv.out" '^READY ipn:20\.1$' 10 || {
    show "receiver stderr" "$TMP/recv.err"
    fail "dur_recv did not start"
}
"${NODE10[@]}" BP_LOG=info "$BPNODE" >"$TMP/node10.log" 2>&1 &
NODE=$!
PIDS+=("$NODE")
if ! wait_count "$TMP/recv.out" '^ADU ' $N 45; then
    echo "only $(grep -c '^ADU ' "$TMP/recv.out") ADUs after 45 s"
fi
drain_ms=$(ms_since "$t0")
kill -TERM "$NODE" 2>/dev/null
wait_pid "$NODE" 15
nrc=$WAIT_RC
sleep 0.5 # a late duplicate would arrive now
kill -TERM "$RECV" 2>/dev/null
wait_pid "$RECV" 10
rrc=$WAIT_RC
grep -v ' debug: ' "$TMP/node10.log" | tail -12 >"$TMP/node10.tail"
show "bpnode (node 10) log, last lines, exit $nrc" "$TMP/node10.tail"
show "receiver stderr (exit $rrc)" "$TMP/recv.err"
[ "$nrc" = 0 ] || fail "bpnode did not stop cleanly on SIGTERM (status $nrc)"
[ "$rrc" = 0 ] || fail "dur_recv exited with status $rrc"
grep -q "store: $N bundles taken back" "$TMP/node10.log" ||
    fail "bpnode did not log that it took $N bundles back from the store"

echo "=== 4. what arrived"
grep '^ADU ' "$TMP/recv.out" >"$TMP/adus"
got=$(wc -l <"$TMP/adus")
awk '{print $4}' "$TMP/adus" | sort >"$TMP/ids"
uniq "$TMP/ids" >"$TMP/ids.uniq"
distinct=$(wc -l <"$TMP/ids.uniq")
dups=$((got - distinct))
seq -f 'o-%08g' 1 $N >"$TMP/expected"
missing=$(comm -23 "$TMP/expected" "$TMP/ids.uniq" | wc -l)
extra=$(comm -13 "$TMP/expected" "$TMP/ids.uniq" | wc -l)
badform=$(awk '$2 != "ipn:10.2" || $3 != 100' "$TMP/adus" | wc -l)
echo "receiver: $got ADUs in $drain_ms ms after node 20 started: $distinct distinct, $dups duplicate(s), $missing missing, $extra unexpected, $badform with a wrong source or length"
[ "$dups" = 0 ] || {
    uniq -d "$TMP/ids" | head -20 >"$TMP/show"
    show "duplicated (first 20)" "$TMP/show"
    fail "$dups duplicate ADU(s) delivered"
}
[ "$missing" = 0 ] || {
    comm -23 "$TMP/expected" "$TMP/ids.uniq" | head -20 >"$TMP/show"
    show "missing (first 20)" "$TMP/show"
    fail "$missing of $N ADUs never arrived"
}
[ "$extra" = 0 ] || fail "$extra ADU(s) that were never sent arrived"
[ "$badform" = 0 ] || fail "$badform ADU(s) with a wrong source or length"

echo "=== 5. both stores at the end"
read -r total fwd dlv to20 < <(store_counts "$S10")
echo "node 10 store: ${total:-?} bundles"
[ "$total" = 0 ] || fail "node 10's store still holds ${total:-?} bundles after delivery"
read -r total fwd dlv to20 < <(store_counts "$S20")
echo "node 20 store: ${total:-?} bundles"
[ "$total" = 0 ] || fail "node 20's store still holds ${total:-?} bundles after everything was read"
echo "PASS test_outage ($N ADUs: committed in $send_ms ms by a sender that then exited, held in node 10's store through the outage, delivered exactly once by bpnode on that store in $drain_ms ms)"

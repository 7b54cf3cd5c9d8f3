#!/usr/bin/env bash
# test_receiver_full: a receiving node at its storage limit refuses bundles at the convergence
# layer instead of taking them, and the sender keeps them and tries again later (TCPCLv4).
# Node 20 (BP_STORE_MAX=64K) starts but binds ipn:20.1 only after 6 s, so what arrives waits in
# its store; node 10 sends 200 ADUs of 1000 bytes meanwhile. Checks: node 20 logs that its
# store is full and that it refused bundles; node 10 logs XFER_REFUSE "no resources" refusals
# and keeps the bundles (its store holds them while node 20 is full); once ipn:20.1 is bound and
# read, every ADU arrives exactly once and both stores end empty.
# shellcheck source=c-tests/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

P20=$((PORT_BASE + 1))
N=200
S10=$TMP/state/n10.db
S20=$TMP/state/n20.db
mkdir -p "$TMP/state"
clean=(env -u BP_MAX_ADU -u BP_EXIT_FLUSH_MS -u BP_LIFETIME -u BP_CONFIG -u BP_REPORTS
    -u BP_UDP_RATE -u BP_AGE_BLOCK -u BP_STRICT_CRC -u BP_CONTACT -u BP_DURABILITY -u BP_CLA
    -u BP_ROUTE)
store_count() { # FILE -> bundles held
    store_query "$1" "SELECT count(*) FROM bundles"
}

"${clean[@]}" BP_NODE=20 BP_STORE="$S20" BP_STORE_MAX=64K BP_CLA="tcpcl:127.0.0.1:$P20" \
    BP_LOG=info DUR_RECV_BIND_DELAY_MS=6000 LD_PRELOAD="$SHIM" timeout 60 \
    "$BIN/dur_recv" 20.1 $N 20 >"$TMP/recv.out" 2>"$TMP/recv.err" &
RECV=$!
PIDS+=("$RECV")
wait_for_line "$TMP/recv.out" '^NODE UP$' 10 || fail "node 20 did not start"

"${clean[@]}" BP_NODE=10 BP_STORE="$S10" BP_ROUTE="ipn:20.*=tcpcl:127.0.0.1:$P20" BP_LOG=info \
    BP_EXIT_FLUSH_MS=30000 LD_PRELOAD="$SHIM" timeout 60 "$BIN/dur_send" 20.1 10.1 f $N 1000 \
    >"$TMP/send.out" 2>"$TMP/send.err" &
SEND=$!
PIDS+=("$SEND")
wait_for_line "$TMP/send.out" "^sent $N\$" 20 || { show "sender stderr" "$TMP/send.err"; fail "node 10 did not send $N ADUs"; }
sleep 1.5
held10=$(store_count "$S10")
held20=$(store_count "$S20")
echo "while node 20 is full: node 10 holds $held10 bundles, node 20 holds $held20"
[ "$held20" -ge 60 ] && [ "$held20" -le 80 ] || fail "node 20 holds $held20 bundles of 1000 B with a 64 KiB limit"
[ "$held10" -ge $((N - held20 - 5)) ] || fail "node 10 holds only $held10 bundles: refused bundles were not kept"
grep -q "store full" "$TMP/recv.err" || { show "node 20 log" "$TMP/recv.err"; fail "node 20 did not log a full store"; }
grep -q "refused" "$TMP/recv.err" || fail "node 20 did not log refusals"
grep -q "refused a bundle for now (no resources)" "$TMP/send.err" ||
    { show "node 10 log" "$TMP/send.err"; fail "node 10 saw no XFER_REFUSE no resources"; }
echo "ok   node 20: $(grep -m1 'store full' "$TMP/recv.err")"
echo "ok   node 10: $(grep -c 'refused a bundle for now' "$TMP/send.err") refusals seen, e.g. $(grep -m1 'refused a bundle for now' "$TMP/send.err")"

wait_pid "$RECV" 40
[ "$WAIT_RC" = 0 ] || { show "receiver stdout (tail)" <(tail -5 "$TMP/recv.out"); fail "dur_recv exited with $WAIT_RC"; }
wait_pid "$SEND" 40
got=$(grep -c '^ADU ' "$TMP/recv.out")
distinct=$(grep '^ADU ' "$TMP/recv.out" | awk '{print $4}' | sort -u | wc -l)
echo "received $got ADUs, $distinct distinct"
[ "$got" = $N ] && [ "$distinct" = $N ] || fail "received $got ADUs ($distinct distinct), want $N once each"
[ "$(store_count "$S10")" = 0 ] && [ "$(store_count "$S20")" = 0 ] || fail "a store still holds bundles"
echo "PASS test_receiver_full"

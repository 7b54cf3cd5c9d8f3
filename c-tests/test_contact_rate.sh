#!/usr/bin/env bash
# test_contact_rate: a contact's rate paces what leaves the store. Node 10 has a contact to node
# 20 open from its start at 20 kB/s (BP_CONTACT='20 tcpcl:... * * 20k'); it sends 100 ADUs of
# 1000 bytes (about 106 kB of bundles) at once. Checks: all arrive once; the spread between the
# first and the last arrival is about what the rate allows (106 kB at 20 kB/s, after a burst of
# 2 kB: 4.5 s to 7 s); no 1-second window carries more than 25 ADUs (20 kB/s plus the burst and
# one bundle). Control: the same without a rate arrives in well under a second.
# shellcheck source=c-tests/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

P20=$((PORT_BASE + 1))
N=100
mkdir -p "$TMP/state"
clean=(env -u BP_MAX_ADU -u BP_EXIT_FLUSH_MS -u BP_LIFETIME -u BP_CONFIG -u BP_REPORTS
    -u BP_UDP_RATE -u BP_AGE_BLOCK -u BP_STRICT_CRC -u BP_CONTACT -u BP_DURABILITY -u BP_CLA
    -u BP_ROUTE -u BP_STORE_MAX)

run() { # NAME CONTACT -> prints "count distinct span_ms max_per_s"
    local name=$1 contact=$2
    "${clean[@]}" BP_NODE=20 BP_STORE="$TMP/state/$name-20.db" BP_CLA="tcpcl:127.0.0.1:$P20" \
        LD_PRELOAD="$SHIM" timeout 60 "$BIN/cw_recv" 20 1 $N $(($(date +%s) + 40)) \
        >"$TMP/$name.recv" 2>"$TMP/$name.recv.err" &
    local recv=$!
    PIDS+=("$recv")
    wait_for_line "$TMP/$name.recv" '^READY' 10 || fail "$name: receiver did not start"
    "${clean[@]}" BP_NODE=10 BP_STORE="$TMP/state/$name-10.db" BP_CONTACT="$contact" \
        BP_EXIT_FLUSH_MS=30000 LD_PRELOAD="$SHIM" timeout 60 "$BIN/dur_send" 20.1 10.1 r $N 1000 \
        >"$TMP/$name.send" 2>"$TMP/$name.send.err" ||
        { show "$name sender stderr" "$TMP/$name.send.err"; fail "$name: sender failed"; }
    wait_pid "$recv" 30
    [ "$WAIT_RC" = 0 ] || { show "$name receiver" "$TMP/$name.recv"; fail "$name: receiver exited with $WAIT_RC"; }
    grep '^RECV ' "$TMP/$name.recv" | python3 -c '
import sys
t = []; names = []
for line in sys.stdin:
    f = line.split()
    t.append(float(f[1])); names.append(f[3])
t.sort()
span = int((t[-1] - t[0]) * 1000) if t else 0
best = 0
j = 0
for i in range(len(t)):
    while t[i] - t[j] >= 1.0:
        j += 1
    best = max(best, i - j + 1)
print(len(t), len(set(names)), span, best)'
}

read -r n d span maxps < <(run paced "20 tcpcl:127.0.0.1:$P20 * * 20k")
echo "paced at 20 kB/s: $n ADUs ($d distinct), first to last $span ms, at most $maxps in one second"
[ "$n" = $N ] && [ "$d" = $N ] || fail "paced: $n ADUs ($d distinct), want $N once each"
[ "$span" -ge 4500 ] && [ "$span" -le 7000 ] || fail "paced: spread $span ms, want 4500..7000 for about 106 kB at 20 kB/s"
[ "$maxps" -le 25 ] || fail "paced: $maxps ADUs within one second, want at most 25"

read -r n d span maxps < <(run unpaced "20 tcpcl:127.0.0.1:$P20 * *")
echo "no rate: $n ADUs ($d distinct), first to last $span ms"
[ "$n" = $N ] && [ "$d" = $N ] || fail "unpaced: $n ADUs ($d distinct), want $N once each"
[ "$span" -lt 2000 ] || fail "unpaced: spread $span ms: the control is as slow as the paced run"
echo "PASS test_contact_rate"

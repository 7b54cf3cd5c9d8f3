#!/usr/bin/env bash
# test_contact_window: a contact plan opens and closes the link to a neighbour, and the bundles
# queued while it is closed leave when it opens, by priority, oldest first.
#
# Node 10 (c-tests/cw_sched.c: sends at given times, stays alive to T0+21) has two contacts to
# node 20 through TCPCLv4, given as absolute Unix times computed here (T0 = the script's start,
# rounded up, plus 2 s):
#     BP_CONTACT='20 tcpcl:127.0.0.1:P20 T0+5 T0+10; 20 tcpcl:127.0.0.1:P20 T0+16 T0+20'
# and also a static route to node 20 (BP_ROUTE='ipn:20.*=tcpcl:127.0.0.1:P20'), which must not
# bypass the plan: a node served by a contact waits for the contact.
# Node 20 (c-tests/cw_recv.c) listens on tcpcl and stamps every ADU with its arrival time.
# Sends from ipn:10.1 to ipn:20.1:
#   batch 1, before the first window: 12 ADUs at T0+0 .. T0+1.65, priorities interleaved
#     bulk, standard, expedited, bulk, ... half of them through the send flags
#     (MSG_BP_*_PRIORITY), half through setsockopt(SOL_BP, BP_PRIORITY);
#   during the first window: 2 bulk ADUs at T0+7 and T0+8;
#   batch 2, after the first window closed: 4 ADUs at T0+11 .. T0+12.5 (expedited, bulk,
#     standard, expedited).
# Checked:
#  - every ADU arrives exactly once and nothing else arrives;
#  - batch 1 was sent (sendto returned) before T0+4.5; nothing of it arrives before T0+5 - EARLY;
#    its first ADU arrives by T0+5 + FIRST, all of it by T0+5 + ALL (within the first window);
#  - batch 1 arrives expedited first, then standard, then bulk, each in sending order;
#  - the ADUs sent during the first window arrive within PROMPT of their send;
#  - batch 2 (sent after T0+10) arrives only from T0+16 - EARLY, all by T0+16 + ALL, in the
#    order expedited (oldest first), standard, bulk.
# Tolerances (documented; the clock is the same CLOCK_REALTIME for both programs):
#   EARLY = 0.1 s: an ADU must never arrive before its window opens; 0.1 s covers rounding only
#     (contact times are kept to the ms; arrival stamps are taken after recv returns).
#   FIRST = 0.5 s: the node wakes at the opening and sets up a TCPCL session on loopback.
#   ALL = 1.5 s: the whole queued batch (a few hundred bytes) is through by then.
#   PROMPT = 0.5 s: delivery through an open contact.
# shellcheck source=c-tests/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

P10=$PORT_BASE
P20=$((PORT_BASE + 1))
need_bins cw_sched cw_recv
command -v python3 >/dev/null || fail "python3 not found (checks the arrival table)"
clean_env=(env -u BP_MAX_ADU -u BP_EXIT_FLUSH_MS -u BP_LIFETIME -u BP_CONFIG -u BP_REPORTS
    -u BP_STORE -u BP_UDP_RATE -u BP_AGE_BLOCK -u BP_STRICT_CRC -u BP_CONTACT -u BP_ROUTE
    -u BP_DURABILITY -u BP_STORE_MAX -u BP_LOG)

T0=$(($(date +%s) + 2))
W1S=$((T0 + 5)) W1E=$((T0 + 10)) W2S=$((T0 + 16)) W2E=$((T0 + 20))
CONTACT="20 tcpcl:127.0.0.1:$P20 $W1S $W1E; 20 tcpcl:127.0.0.1:$P20 $W2S $W2E"
at() { awk -v t="$T0" -v d="$1" 'BEGIN { printf "%.2f", t + d }'; }

# Batch 1: b S e B s E b S e B s E (lower case: send flag; upper case: SOL_BP BP_PRIORITY).
items=()
prios=(b S e B s E b S e B s E)
for i in $(seq 0 11); do
    p=${prios[$i]}
    items+=("$(at "$(awk -v i="$i" 'BEGIN { print 0.15 * i }')"):$p:q$(printf '%02d' $((i + 1)))-$(tr 'BSE' 'bse' <<<"$p")")
done
items+=("$(at 7):b:in1-b" "$(at 8):b:in2-b")
items+=("$(at 11):e:late1-e" "$(at 11.5):B:late2-b" "$(at 12):s:late3-s" "$(at 12.5):E:late4-e")

echo "=== T0=$T0; node 10: BP_CONTACT='$CONTACT'"
echo "    and BP_ROUTE='ipn:20.*=tcpcl:127.0.0.1:$P20' (the contacts must win)"
echo "    (windows T0+5..T0+10 and T0+16..T0+20); node 20 receives on tcpcl:127.0.0.1:$P20"
"${clean_env[@]}" BP_NODE=20 BP_CLA="tcpcl:127.0.0.1:$P20" BP_STORE="$TMP/node20.db" \
    LD_PRELOAD="$SHIM" timeout 60 "$BIN/cw_recv" 20 1 0 $((T0 + 21)) \
    >"$TMP/recv.out" 2>"$TMP/recv.err" &
RECV=$!
PIDS+=("$RECV")
"${clean_env[@]}" BP_NODE=10 BP_CLA="tcpcl:127.0.0.1:$P10" BP_STORE="$TMP/node10.db" \
    BP_CONTACT="$CONTACT" BP_ROUTE="ipn:20.*=tcpcl:127.0.0.1:$P20" BP_EXIT_FLUSH_MS=500 BP_LOG=info LD_PRELOAD="$SHIM" \
    timeout 60 "$BIN/cw_sched" 10.1 20.1 $((T0 + 21)) "${items[@]}" \
    >"$TMP/send.out" 2>"$TMP/send.err" &
SEND=$!
PIDS+=("$SEND")
wait_for_line_pid "$RECV" "$TMP/recv.out" "^READY" 10 || { show "receiver stderr" "$TMP/recv.err"; fail "node 20 did not start"; }
wait_for_line_pid "$SEND" "$TMP/send.out" "^READY" 10 || { show "sender stderr" "$TMP/send.err"; fail "node 10 did not start"; }
ready=$(date +%s.%N)
awk -v r="$ready" -v t="$T0" 'BEGIN { exit !(r < t) }' ||
    fail "the processes were ready only at T0+$(awk -v r="$ready" -v t="$T0" 'BEGIN { printf "%.2f", r - t }') s (too slow for the schedule)"

wait_pid "$SEND" 40
src=$WAIT_RC
wait_pid "$RECV" 20
rrc=$WAIT_RC
show "sender (exit $src)" "$TMP/send.out"
show "sender stderr (node 10 log)" "$TMP/send.err"
show "receiver (exit $rrc)" "$TMP/recv.out"
show "receiver stderr" "$TMP/recv.err"
[ "$src" = 0 ] || fail "the sender failed (status $src)"
[ "$rrc" = 0 ] || fail "the receiver failed (status $rrc)"

python3 - "$T0" "$TMP/send.out" "$TMP/recv.out" <<'EOF' || fail "see above"
import sys
T0 = float(sys.argv[1])
EARLY, FIRST, ALL, PROMPT = 0.1, 0.5, 1.5, 0.5
W1S, W1E, W2S = 5.0, 10.0, 16.0
# sent: when sendto returned (the bundle was committed); called: when it was called.
sent, called, arrived, order, errors = {}, {}, {}, [], []
for line in open(sys.argv[2]):
    f = line.split()
    if f and f[0] == "SENT":
        called[f[4]] = float(f[1]) - T0
        sent[f[4]] = float(f[2]) - T0
for line in open(sys.argv[3]):
    f = line.split()
    if f and f[0] == "RECV":
        t, name = float(f[1]) - T0, f[3]
        if name in arrived:
            errors.append("%s arrived twice (T0%+.3f and T0%+.3f)" % (name, arrived[name], t))
        arrived.setdefault(name, t)
        order.append(name)

print("%-9s %9s %9s" % ("ADU", "sent", "arrived"))
for name in sorted(sent, key=lambda n: sent[n]):
    a = arrived.get(name)
    print("%-9s T0%+7.3f %s" % (name, sent[name], "T0%+7.3f" % a if a is not None else "never"))
print("arrival order:", " ".join(order))

def check(cond, msg):
    if not cond:
        errors.append(msg)

batch1 = ["q%02d-%s" % (i + 1, "bsebse"[i % 6]) for i in range(12)]
inwin = ["in1-b", "in2-b"]
batch2 = ["late1-e", "late2-b", "late3-s", "late4-e"]
expected = batch1 + inwin + batch2
check(sorted(sent) == sorted(expected), "the sender sent %s" % sorted(sent))
for n in sorted(set(arrived) - set(expected)):
    errors.append("unexpected ADU %s arrived" % n)
for n in expected:
    check(n in arrived, "%s never arrived" % n)

def prio_order(names):
    # expected arrival order: expedited, standard, bulk; each oldest (first sent) first
    rank = {"e": 0, "s": 1, "b": 2}
    return sorted(names, key=lambda n: (rank[n[-1]], sent.get(n, 0)))

def window(names, start, what):
    got = [n for n in names if n in arrived]
    if not got:
        return
    late_send = [n for n in names if sent.get(n, 99) >= start - 0.5]
    check(not late_send, "%s: %s sent only at %s (after T0+%.1f)"
          % (what, late_send, [sent[n] for n in late_send], start - 0.5))
    first, last = min(arrived[n] for n in got), max(arrived[n] for n in got)
    check(first >= start - EARLY, "%s: an ADU arrived at T0%+.3f, before its window opened at "
          "T0+%.0f" % (what, first, start))
    check(first <= start + FIRST, "%s: the first ADU arrived at T0%+.3f, more than %.1f s after "
          "the window opened at T0+%.0f" % (what, first, FIRST, start))
    check(last <= start + ALL, "%s: the last ADU arrived at T0%+.3f, more than %.1f s after the "
          "window opened at T0+%.0f" % (what, last, ALL, start))
    seq = [n for n in order if n in names]
    want = prio_order(names)
    check(seq == want, "%s: arrival order %s, want %s (expedited, standard, bulk; oldest first)"
          % (what, " ".join(seq), " ".join(want)))
    if not errors:
        print("CHECK %s: sent by T0%+.2f, arrived T0%+.3f .. T0%+.3f (window opens T0+%.0f), "
              "order %s" % (what, max(sent[n] for n in names), first, last, start, " ".join(seq)))

window(batch1, W1S, "batch 1 (before window 1)")
for n in inwin:
    if n in arrived and n in sent:
        check(W1S <= sent[n] < W1E, "%s was sent at T0%+.3f, outside window 1" % (n, sent[n]))
        d = arrived[n] - sent[n]
        check(arrived[n] >= called[n] and d <= PROMPT, "%s, sent at T0%+.3f..T0%+.3f inside "
              "window 1, arrived at T0%+.3f (want at most %.1f s later)"
              % (n, called[n], sent[n], arrived[n], PROMPT))
if not errors:
    print("CHECK ADUs sent inside window 1 arrived within %.1f s: %s" % (PROMPT, ", ".join(
        "%s %.3f s" % (n, arrived[n] - sent[n]) for n in inwin)))
for n in batch2:
    check(sent.get(n, 0) >= W1E, "%s was sent at T0%+.3f, before window 1 closed" % (n, sent.get(n, 0)))
window(batch2, W2S, "batch 2 (after window 1 closed)")
if errors:
    for e in errors:
        print("FAIL:", e)
    sys.exit(1)
EOF
echo "PASS test_contact_window"

#!/usr/bin/env bash
# test_crash: processes of a node killed with SIGKILL at random points lose nothing that was
# reported accepted or read, and deliver nothing twice (BP_DURABILITY=full, TCPCLv4, 100-byte
# ADUs, dur_send/dur_recv: one write(2) per line, no stdio buffering).
#
# A. Sender crashes. dur_recv at ipn:20.1 (node 20, store R) runs throughout. dur_send (node 10,
#    store S) streams ADUs "a<run>-<K, 8 digits> ..." (K = 1, 2, ...) to ipn:20.1 and writes
#    "sent K" right after each sendto has returned (= committed to S). It is killed (SIGKILL)
#    CRASH_SENDER_KILLS times (default: 3 to 5, at random) after a random 0.1-1 s, and
#    restarted on the same store with the next run number (fresh numbers per run, so an ADU
#    committed but never reported by a killed run cannot be confused with a later one); then a
#    last run sends 200 ADUs and exits normally (its exit flush sends what the killed runs left
#    in S). Check: every ADU with a "sent K" line is printed by the receiver exactly once; the
#    only other ADU allowed per killed run is the one after its last "sent" line (committed
#    before the kill, never reported); no duplicates; S and R end holding no bundle; R's seen
#    table has exactly as many identities as distinct ADUs were printed.
# B. Receiver crashes. dur_send (node 10, store S2) streams "b-<K> ..." (1 ms apart) throughout;
#    dur_recv (node 20, store R2) writes one line per ADU right after recv has returned, and is
#    killed (SIGKILL) CRASH_RECEIVER_KILLS times (default 10) after a random 0.1-1 s, and
#    restarted on the same store each time; then a last receiver run is not killed, the sender
#    is told to stop (SIGUSR1: it exits normally, flushing) and the receiver is stopped once it
#    has everything. Check: every ADU the sender reported is printed exactly once across all
#    receiver runs: no duplicate, no missing ADU, nothing unexpected; S2 and R2 end holding no
#    bundle; R2's seen table holds every ADU sent (none lost before node 20's store).
#    A missing ADU that is the one in flight at a receiver kill, and that R2 shows consumed (in
#    its seen table, no longer held, never printed), is the at-most-once window of a read: the
#    read is committed before recv returns (so it is never delivered twice), and a kill after
#    the commit's WAL write but before the program has written its line loses that one ADU from
#    the program's record. No design closes this for a program that does not cooperate (commit
#    after the return instead, and the same kill gives a duplicate); the engine makes it short:
#    a read waits only for the WAL write, not the fsync, and the waiting thread spins for it.
#    Measured on the 2-core dev VM (ext4 on virtio, fsync ~0.3 ms), BP_DURABILITY=full: when reads
#    waited for the fsync, 17 of 100 receiver kills hit it; now 4 of 90 (runs of 10 and 20
#    kills). Such a loss is reported with its count, and is at most the one in-flight ADU per
#    kill; any other missing ADU, any duplicate, or anything the store did not accept fails.
#    CRASH_STRICT_READ=1 makes a read-window loss fail too.
#
# Knobs (environment): CRASH_SEED=N repeats the random kill points (printed at the start);
# CRASH_SENDER_KILLS, CRASH_RECEIVER_KILLS: numbers of kills; CRASH_PART=A or B: one part only;
# CRASH_DURABILITY=full|process|memory (default full); CRASH_STRICT_READ=1: read-window
# losses (above) fail the test. To check the checks: DUR_RECV_GAP_US=2000
# (dur_recv sleeps 2 ms between recv and the write: part B fails, about 9 kills in 10 hit),
# CRASH_DURABILITY=memory (nothing survives a kill: parts A and B fail).
# shellcheck source=c-tests/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

P10=$PORT_BASE
P20=$((PORT_BASE + 1))
SEED=${CRASH_SEED:-$((($(date +%s%N) / 1000) % 32768))}
RANDOM=$SEED
SENDER_KILLS=${CRASH_SENDER_KILLS:-$((3 + RANDOM % 3))}
RECEIVER_KILLS=${CRASH_RECEIVER_KILLS:-10}
PART=${CRASH_PART:-AB}
DURABILITY=${CRASH_DURABILITY:-full}
[ -x "$BIN/dur_send" ] && [ -x "$BIN/dur_recv" ] || fail "dur_send/dur_recv not built"
command -v python3 >/dev/null || fail "python3 not found"
mkdir -p "$TMP/state"
echo "seed $SEED (CRASH_SEED=$SEED repeats the kill points)"

clean_env=(env -u BP_MAX_ADU -u BP_EXIT_FLUSH_MS -u BP_LIFETIME -u BP_CONFIG -u BP_REPORTS
    -u BP_STORE -u BP_UDP_RATE -u BP_AGE_BLOCK -u BP_STRICT_CRC -u BP_ROUTE -u BP_CONTACT
    -u BP_DURABILITY -u BP_STORE_MAX)

# node10 STORE / node20 STORE: set NODE10 / NODE20 to the command prefix that runs a program as a
# process of that node on STORE, under the shim (env execs the program: $! of a background
# "${NODE10[@]}" prog & is the program itself, so SIGKILL reaches it).
node10() {
    NODE10=("${clean_env[@]}" BP_NODE=10 BP_CLA="tcpcl:127.0.0.1:$P10"
        BP_ROUTE="ipn:20.*=tcpcl:127.0.0.1:$P20" BP_STORE="$1" BP_DURABILITY="$DURABILITY"
        BP_EXIT_FLUSH_MS=20000 LD_PRELOAD="$SHIM")
}
node20() {
    NODE20=("${clean_env[@]}" BP_NODE=20 BP_CLA="tcpcl:127.0.0.1:$P20" BP_STORE="$1"
        BP_DURABILITY="$DURABILITY" LD_PRELOAD="$SHIM")
}

# store_counts FILE: "BUNDLES SEEN": rows of a store's `bundles` (bundles held) and `seen`
# (identities of the bundles the node accepted for its endpoints), read-only; "missing" if
# there is no such file.
store_counts() {
    store_query "$1" "SELECT count(*), (SELECT count(*) FROM seen) FROM bundles"
}

# random_delay: sets DELAY to a random delay of 0.100 to 1.000 s, as text for sleep (not
# called in $(...): a subshell would reseed RANDOM, and CRASH_SEED would not repeat a run).
random_delay() {
    local ms=$((RANDOM % 901 + 100))
    printf -v DELAY '%d.%03d' $((ms / 1000)) $((ms % 1000))
}

# kill_now PID: SIGKILL and reap.
kill_now() {
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# ids_of FILES...: the ADU ids printed by dur_recv runs (one per line, unsorted).
ids_of() { cat "$@" | awk '$1 == "ADU" {print $4}'; }

# wait_ids EXPECTED PRINTED_CMD SECONDS: wait until every id of EXPECTED (sorted) is in the
# output of PRINTED_CMD (a function printing ids), at most SECONDS, and at most 5 s without a
# new ADU.
wait_ids() {
    local i=0 n last=-1 still=0
    while [ $i -lt $(($3 * 5)) ] && [ $still -lt 25 ]; do
        [ -z "$(comm -23 "$1" <($2 | sort -u) | head -1)" ] && return 0
        n=$($2 | wc -l)
        if [ "$n" = "$last" ]; then still=$((still + 1)); else still=0; fi
        last=$n
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}

# verdict LABEL EXPECTED MAYBE IDS [WINDOW]: compare the printed ids (IDS, unsorted, one per
# delivery) with EXPECTED (each must be there exactly once) and MAYBE (may be there, at most
# once). Missing ids listed in WINDOW (the ADU right after the last one printed before each
# receiver kill) are counted apart as "in flight at a kill". Sets MISSING and WINDOW_LOST;
# fails on duplicates, unexpected ADUs and missing ADUs not in WINDOW (the caller decides on
# the others).
verdict() {
    local label=$1 exp=$2 maybe=$3 ids=$4 window=${5:-/dev/null}
    sort "$ids" >"$ids.sorted"
    uniq "$ids.sorted" >"$ids.uniq"
    local got distinct dups maybe_got extra other
    got=$(wc -l <"$ids.sorted")
    distinct=$(wc -l <"$ids.uniq")
    dups=$((got - distinct))
    comm -23 "$exp" "$ids.uniq" >"$ids.missing"
    MISSING=$(wc -l <"$ids.missing")
    sort "$window" >"$ids.window"
    WINDOW_LOST=$(comm -12 "$ids.missing" "$ids.window" | wc -l)
    other=$((MISSING - WINDOW_LOST))
    comm -13 "$exp" "$ids.uniq" >"$ids.notexp"
    maybe_got=$(comm -12 "$maybe" "$ids.notexp" | wc -l)
    extra=$(comm -23 "$ids.notexp" "$maybe" | wc -l)
    echo "$label: $(wc -l <"$exp") ADUs reported sent; printed $got ($distinct distinct):" \
        "$dups duplicate(s), $MISSING missing ($WINDOW_LOST of them the ADU in flight at a" \
        "receiver kill), $maybe_got sent-but-unreported ADU(s) of killed senders (allowed)," \
        "$extra unexpected"
    if [ "$dups" != 0 ]; then
        uniq -d "$ids.sorted" | head -20 >"$TMP/show"
        show "duplicated (first 20)" "$TMP/show"
        fail "$label: $dups ADU(s) delivered more than once"
    fi
    if [ "$extra" != 0 ]; then
        comm -23 "$ids.notexp" "$maybe" | head -20 >"$TMP/show"
        show "unexpected (first 20)" "$TMP/show"
        fail "$label: $extra ADU(s) that were never sent"
    fi
    if [ "$MISSING" != 0 ]; then
        head -20 "$ids.missing" >"$TMP/show"
        show "missing (first 20)" "$TMP/show"
    fi
    [ "$other" = 0 ] || fail "$label: $other ADU(s) missing (not the one in flight at a receiver kill)"
}

check_store() { # LABEL STORE: the store must hold no bundle; sets SEEN
    local n
    read -r n SEEN < <(store_counts "$2")
    echo "$1 store at the end: $n bundles held, $SEEN identities in its seen table"
    [ "$n" = 0 ] || fail "$1 store still holds $n bundles"
}

part_a() {
    echo "=== A. sender killed $SENDER_KILLS times while streaming; receiver up throughout"
    local S=$TMP/a-node10.db R=$TMP/a-node20.db
    node10 "$S"
    node20 "$R"
    "${NODE20[@]}" "$BIN/dur_recv" 20.1 0 60 >"$TMP/a-recv.out" 2>"$TMP/a-recv.err" &
    local RECV=$!
    PIDS+=("$RECV")
    wait_for_line "$TMP/a-recv.out" '^READY ipn:20\.1$' 10 || {
        show "receiver stderr" "$TMP/a-recv.err"
        fail "dur_recv did not start"
    }
    : >"$TMP/a-expected"
    : >"$TMP/a-maybe"
    local r d pid n last total=0 midstream=0
    for r in $(seq 1 "$SENDER_KILLS"); do
        random_delay
        d=$DELAY
        "${NODE10[@]}" "$BIN/dur_send" 20.1 10.2 "a$r" 0 >"$TMP/a-send$r.out" 2>"$TMP/a-send$r.err" &
        pid=$!
        PIDS+=("$pid")
        sleep "$d"
        kill -0 "$pid" 2>/dev/null || {
            show "sender run $r stderr" "$TMP/a-send$r.err"
            fail "sender run $r ended before it was killed"
        }
        kill_now "$pid"
        n=$(grep -c '^sent ' "$TMP/a-send$r.out")
        last=$(awk '$1 == "sent" {k = $2} END {print k + 0}' "$TMP/a-send$r.out")
        [ "$n" = "$last" ] || fail "sender run $r: $n 'sent' lines but the last is $last"
        echo "sender run $r: killed after $d s, $n sendto calls had returned"
        [ -s "$TMP/a-send$r.err" ] && show "sender run $r stderr" "$TMP/a-send$r.err"
        [ "$n" -gt 0 ] && midstream=$((midstream + 1))
        total=$((total + n))
        awk -v p="a$r" '$1 == "sent" {printf "%s-%08d\n", p, $2}' "$TMP/a-send$r.out" >>"$TMP/a-expected"
        printf 'a%d-%08d\n' "$r" $((last + 1)) >>"$TMP/a-maybe"
    done
    [ "$midstream" -gt 0 ] || fail "no kill landed after a send had returned"
    r=$((SENDER_KILLS + 1))
    local t0 src
    t0=$(date +%s%N)
    timeout 40 "${NODE10[@]}" BP_LOG=info "$BIN/dur_send" 20.1 10.2 "a$r" 200 >"$TMP/a-send$r.out" 2>"$TMP/a-send$r.err"
    src=$?
    grep -v ' debug: ' "$TMP/a-send$r.err" | grep -E 'taken back|had not left|error|warn' >"$TMP/show"
    show "last sender run $r (200 ADUs, not killed): exit $src after $((($(date +%s%N) - t0) / 1000000)) ms; store lines of its log" "$TMP/show"
    [ "$src" = 0 ] || fail "the last sender run exited with status $src"
    [ "$(grep -c '^sent ' "$TMP/a-send$r.out")" = 200 ] || fail "the last sender run did not send 200"
    awk -v p="a$r" '$1 == "sent" {printf "%s-%08d\n", p, $2}' "$TMP/a-send$r.out" >>"$TMP/a-expected"
    sort -o "$TMP/a-expected" "$TMP/a-expected"
    sort -o "$TMP/a-maybe" "$TMP/a-maybe"
    a_ids() { ids_of "$TMP/a-recv.out"; }
    wait_ids "$TMP/a-expected" a_ids 30 || echo "not everything arrived within 30 s"
    sleep 0.5 # a late duplicate would arrive now
    kill -TERM "$RECV" 2>/dev/null
    wait_pid "$RECV" 10
    [ "$WAIT_RC" = 0 ] || { show "receiver stderr" "$TMP/a-recv.err"; fail "dur_recv exited with status $WAIT_RC"; }
    a_ids >"$TMP/a-ids"
    verdict "A (sender killed $SENDER_KILLS times)" "$TMP/a-expected" "$TMP/a-maybe" "$TMP/a-ids"
    [ "$MISSING" = 0 ] || fail "A: $MISSING ADU(s) reported sent never arrived"
    check_store "A: node 10" "$S"
    check_store "A: node 20" "$R"
    local distinct
    distinct=$(wc -l <"$TMP/a-ids.uniq")
    [ "$SEEN" = "$distinct" ] ||
        fail "A: node 20 accepted $SEEN distinct bundles but the receiver printed $distinct"
}

part_b() {
    echo "=== B. receiver killed $RECEIVER_KILLS times while a sender streams (1 ms apart)"
    local S=$TMP/b-node10.db R=$TMP/b-node20.db
    node10 "$S"
    node20 "$R"
    "${NODE10[@]}" "$BIN/dur_send" 20.1 10.2 b 0 100 1000 >"$TMP/b-send.out" 2>"$TMP/b-send.err" &
    local SEND=$!
    PIDS+=("$SEND")
    wait_for_line "$TMP/b-send.out" '^READY ' 10 || fail "dur_send did not start"
    local k d pid n before high=0 maxrun=$((RECEIVER_KILLS + 1))
    : >"$TMP/b-window"
    for k in $(seq 1 "$maxrun"); do
        "${NODE20[@]}" "$BIN/dur_recv" 20.1 0 60 >"$TMP/b-recv$k.out" 2>"$TMP/b-recv$k.err" &
        pid=$!
        PIDS+=("$pid")
        [ "$k" = "$maxrun" ] && break
        random_delay
        d=$DELAY
        sleep "$d"
        kill -0 "$pid" 2>/dev/null || {
            show "receiver run $k stderr" "$TMP/b-recv$k.err"
            fail "receiver run $k ended before it was killed"
        }
        before=$(grep -c '^sent ' "$TMP/b-send.out")
        kill_now "$pid"
        n=$(grep -c '^ADU ' "$TMP/b-recv$k.out")
        # The ADU in flight at this kill: the one after the highest printed so far.
        high=$(awk -v h="$high" '$1 == "ADU" {v = substr($4, 3) + 0; if (v > h) h = v} END {print h}' \
            "$TMP/b-recv$k.out")
        printf 'b-%08d\n' $((high + 1)) >>"$TMP/b-window"
        echo "receiver run $k: killed after $d s having printed $n ADUs (up to b-$high; the sender had sent $before)"
        [ -s "$TMP/b-recv$k.err" ] && show "receiver run $k stderr" "$TMP/b-recv$k.err"
    done
    local RECV=$pid
    wait_for_line "$TMP/b-recv$maxrun.out" '^READY ipn:20\.1$' 10 || fail "the last receiver run did not start"
    kill -0 "$SEND" 2>/dev/null || { show "sender stderr" "$TMP/b-send.err"; fail "the sender died"; }
    kill -USR1 "$SEND"
    wait_pid "$SEND" 40
    local src=$WAIT_RC
    show "sender stderr (exit $src)" "$TMP/b-send.err"
    [ "$src" = 0 ] || fail "the sender exited with status $src"
    grep -q '^done ' "$TMP/b-send.out" || fail "the sender did not finish"
    awk '$1 == "sent" {printf "b-%08d\n", $2}' "$TMP/b-send.out" | sort >"$TMP/b-expected"
    : >"$TMP/b-maybe"
    b_ids() { ids_of "$TMP"/b-recv*.out; }
    wait_ids "$TMP/b-expected" b_ids 30 || echo "not everything arrived (waited up to 30 s, 5 s without progress)"
    sleep 0.5
    kill -TERM "$RECV" 2>/dev/null
    wait_pid "$RECV" 10
    [ "$WAIT_RC" = 0 ] || { show "last receiver stderr" "$TMP/b-recv$maxrun.err"; fail "the last dur_recv exited with status $WAIT_RC"; }
    echo "last receiver run: printed $(grep -c '^ADU ' "$TMP/b-recv$maxrun.out") ADUs"
    b_ids >"$TMP/b-ids"
    verdict "B (receiver killed $RECEIVER_KILLS times)" "$TMP/b-expected" "$TMP/b-maybe" "$TMP/b-ids" \
        "$TMP/b-window"
    check_store "B: node 10" "$S"
    check_store "B: node 20" "$R"
    local expected distinct
    expected=$(wc -l <"$TMP/b-expected")
    distinct=$(wc -l <"$TMP/b-ids.uniq")
    echo "B: node 20 accepted $SEEN distinct bundles of the $expected sent; $((SEEN - distinct)) of them" \
        "were consumed (read committed) and never printed"
    [ "$SEEN" = "$expected" ] || fail "B: node 20's store accepted $SEEN bundles, not the $expected sent"
    READ_WINDOW_HITS=$WINDOW_LOST
    if [ "$WINDOW_LOST" != 0 ]; then
        local what="$WINDOW_LOST of $RECEIVER_KILLS receiver kills lost the ADU in flight: node 20's store committed its read (the bundle is in its seen table and no longer held) but the killed dur_recv never wrote its line: the at-most-once window of a read, from the commit of the read (a process kill does not undo a WAL write, even before its fsync) until the program has recorded the ADU"
        if [ "${CRASH_STRICT_READ:-0}" = 1 ]; then
            fail "B: $what"
        else
            echo "B: NOTE: $what"
        fi
    fi
}

t_start=$(date +%s%N)
case $PART in *A*) part_a ;; esac
case $PART in *B*) part_b ;; esac
[ -n "${READ_WINDOW_HITS:-}" ] && echo "read-window hits: $READ_WINDOW_HITS of $RECEIVER_KILLS receiver kills"
echo "PASS test_crash (seed $SEED, $SENDER_KILLS sender kills, $RECEIVER_KILLS receiver kills, $((($(date +%s%N) - t_start) / 1000000)) ms)"

#!/usr/bin/env bash
# bpshim throughput benchmark (not a test): ADUs/s and MB/s, each beside the machine's limit
# measured in the same run.
#
#   scripts/bench/run.sh [-n RUNS] [-s SECONDS]
#
#   -n RUNS      repeat the whole table RUNS times (default 1)
#   -s SECONDS   length of each case (default 2)
#   -d LEVEL     BP_DURABILITY of the nodes: full (the default, what users get), process or
#                memory (no store); printed in the header
#
# Needs target/release/libbpshim.so (cargo build --release). Builds, with the C tests' flags
# (cc -O2 -D_FORTIFY_SOURCE=2 -Wall -Werror -Iinclude), c-tests/bin/bench_local and
# c-tests/bin/bench_udp, and the limit probes scripts/bench/limits/{udp_bench,seqpacket_bench}.c
# (copies of /work/shared/bench-limits/) into a temporary folder.
#
# Cases, at 100 B and 16 KiB ADUs (payload bytes; MB = 10^6 bytes):
#   local (1 process)  bench_local: two AF_BP sockets of one process (node ipn:1.0), a sender
#                      thread and a receiver thread, at most 1 MiB in flight (4096 ADUs max);
#                      limit: seqpacket_bench tput, an AF_UNIX SOCK_SEQPACKET pair between two
#                      threads (the shape of one hop app -> engine).
#   udp window         bench_udp: node ipn:10.0 -> node ipn:20.0, two processes over loopback
#                      UDP, the receiver acknowledging (an ADU back over BP) every window/4
#                      ADUs, at most 4 MiB (4096 ADUs max) in flight: no loss by design;
#   udp blast          the same, sender as fast as sendto() returns: the UDP convergence layer
#                      has no flow control, so the loss ratio is printed;
#                      limit for both: udp_bench, raw loopback UDP datagrams of the same size,
#                      one sendto/recv per datagram, 32 MiB receive buffer.
# ADU/s is the receiver's rate from its first to its last ADU.
#
# Ports: BENCH_PORT_BASE (default 22300) .. +3, loopback only.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
RUNS=1
SECS=2
DUR=full
while getopts "d:n:s:h" o; do
    case $o in
    d) DUR=$OPTARG ;;
    n) RUNS=$OPTARG ;;
    s) SECS=$OPTARG ;;
    *)
        sed -n '2,/^set -u/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" | sed '$d'
        exit 2
        ;;
    esac
done
SHIM=${BPSHIM_SO:-$ROOT/target/release/libbpshim.so}
unset BP_CONFIG BP_NODE BP_CLA BP_ROUTE BP_STORE BP_MAX_ADU BP_LIFETIME BP_EXIT_FLUSH_MS
BASE=${BENCH_PORT_BASE:-22300}
P10=$BASE
P20=$((BASE + 1))
PUDP=$((BASE + 2))
CC=${CC:-cc}
CFLAGS=(-O2 -D_FORTIFY_SOURCE=2 -Wall -Werror -Iinclude)
TMP=$(mktemp -d /tmp/bpshim-bench.XXXXXX) || exit 1
# This run's node stores (the default store path is under XDG_STATE_HOME).
export XDG_STATE_HOME=$TMP/state
unset BP_CONTACT BP_DURABILITY BP_STORE_MAX
export BP_DURABILITY=$DUR
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -f "$SHIM" ]; then
    echo "bench: $SHIM not found (run 'cargo build --release' first)" >&2
    exit 1
fi
mkdir -p c-tests/bin
"$CC" "${CFLAGS[@]}" -o c-tests/bin/bench_local c-tests/bench_local.c -pthread || exit 1
"$CC" "${CFLAGS[@]}" -o c-tests/bin/bench_udp c-tests/bench_udp.c -pthread || exit 1
"$CC" -O2 -o "$TMP/udp_bench" scripts/bench/limits/udp_bench.c || exit 1
"$CC" -O2 -pthread -o "$TMP/seqpacket_bench" scripts/bench/limits/seqpacket_bench.c || exit 1

field() { # "RESULT a=1 b=2" key -> value
    tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -n 1
}

port_free() {
    command -v ss >/dev/null 2>&1 || return 0
    [ -z "$(ss -Huan "( sport = :$1 )" 2>/dev/null)" ]
}

wait_port() { # port: wait up to 5 s for a UDP socket bound to it
    local i
    command -v ss >/dev/null 2>&1 || { sleep 0.5; return 0; }
    for ((i = 0; i < 50; i++)); do
        [ -n "$(ss -Huan "( sport = :$1 )" 2>/dev/null)" ] && return 0
        sleep 0.1
    done
    return 1
}

TO=$(awk -v s="$SECS" 'BEGIN { printf "%d", s * 3 + 20 }')

run_local() { # size -> RESULT line of bench_local
    env LD_PRELOAD="$SHIM" BP_LOG=error \
        timeout -k 2 "$TO" c-tests/bin/bench_local "$1" "$SECS" 2>"$TMP/err" | grep '^RESULT'
}

run_seqpacket() {
    timeout -k 2 "$TO" "$TMP/seqpacket_bench" tput "$1" "$SECS" 2>"$TMP/err" | grep '^RESULT'
}

run_udp_limit() { # size -> "RECV_RESULT|SEND_RESULT"
    timeout -k 2 "$TO" "$TMP/udp_bench" recv "$PUDP" >"$TMP/ur" 2>&1 &
    local rp=$!
    PIDS+=("$rp")
    wait_port "$PUDP"
    local s
    s=$(timeout -k 2 "$TO" "$TMP/udp_bench" send "$PUDP" "$1" "$SECS" 2>&1 | grep '^RESULT')
    wait "$rp"
    PIDS=()
    echo "$(grep '^RESULT' "$TMP/ur")|$s"
}

run_bp_udp() { # size mode -> "RECV_RESULT|SEND_RESULT"
    env BP_NODE=ipn:20.0 BP_CLA="udp:127.0.0.1:$P20" BP_ROUTE="ipn:10.*=udp:127.0.0.1:$P10" \
        BP_LOG=error LD_PRELOAD="$SHIM" timeout -k 2 "$TO" c-tests/bin/bench_udp recv "$1" \
        >"$TMP/br" 2>&1 &
    local rp=$!
    PIDS+=("$rp")
    wait_port "$P20"
    local s
    s=$(env BP_NODE=ipn:10.0 BP_CLA="udp:127.0.0.1:$P10" BP_ROUTE="ipn:20.*=udp:127.0.0.1:$P20" \
        BP_LOG=error LD_PRELOAD="$SHIM" timeout -k 2 "$TO" c-tests/bin/bench_udp send 20 "$1" \
        "$SECS" "$2" 2>&1 | grep '^RESULT')
    wait "$rp"
    PIDS=()
    echo "$(grep '^RESULT' "$TMP/br")|$s"
}

human_size() { [ "$1" -ge 1024 ] && echo "$(($1 / 1024)) KiB" || echo "$1 B"; }

pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "-" }'; }

model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "machine: $(nproc) cores, ${model:-unknown CPU}, Linux $(uname -r)"
echo "BP_DURABILITY=$DUR"
echo "each case ${SECS} s; ADU/s = received per second (first to last ADU); MB = 10^6 payload bytes"

for p in $P10 $P20 $PUDP; do
    port_free "$p" || { echo "bench: UDP port $p is in use (set BENCH_PORT_BASE)" >&2; exit 1; }
done

for ((run = 1; run <= RUNS; run++)); do
    [ "$RUNS" -gt 1 ] && echo && echo "run $run of $RUNS"
    printf '%-22s %-7s %9s %9s %7s   %-36s %s\n' case size ADU/s MB/s loss "limit (same run)" "of limit"
    for size in 100 16384; do
        hs=$(human_size "$size")
        # local delivery, beside a SEQPACKET pair
        lim=$(run_seqpacket "$size")
        limr=$(field "$lim" msg_per_s)
        r=$(run_local "$size")
        if [ -n "$r" ]; then
            loss=$(awk -v l="$(field "$r" lost)" -v s="$(field "$r" sent)" 'BEGIN { if (s > 0) printf "%.1f%%", 100 * l / s; else print "?" }')
            printf '%-22s %-7s %9s %9s %7s   %-36s %s\n' "local (1 process)" "$hs" \
                "$(field "$r" adu_per_s)" "$(field "$r" mb_per_s)" "$loss" \
                "seqpacket pair: ${limr:-?} msg/s" "$(pct "$(field "$r" adu_per_s)" "${limr:-0}")"
        else
            printf '%-22s %-7s FAILED: %s\n' "local (1 process)" "$hs" "$(head -c 200 "$TMP/err")"
        fi
        # two processes over UDP, beside raw UDP
        u=$(run_udp_limit "$size")
        ur=${u%%|*}
        us=${u#*|}
        ulim=$(field "$ur" dgram_per_s)
        usent=$(field "$us" sent_dgrams)
        urecv=$(field "$ur" recv_dgrams)
        uloss=$(awk -v s="${usent:-0}" -v r="${urecv:-0}" 'BEGIN { if (s > 0) printf "%.1f%%", 100 * (1 - r / s); else print "?" }')
        for mode in window blast; do
            b=$(run_bp_udp "$size" "$mode")
            br=${b%%|*}
            if [ -n "$br" ]; then
                loss=$(awk -v l="$(field "$br" loss)" 'BEGIN { printf "%.1f%%", 100 * l }')
                printf '%-22s %-7s %9s %9s %7s   %-36s %s\n' "udp 2 processes $mode" "$hs" \
                    "$(field "$br" adu_per_s)" "$(field "$br" mb_per_s)" "$loss" \
                    "raw udp: ${ulim:-?} dgram/s (loss $uloss)" "$(pct "$(field "$br" adu_per_s)" "${ulim:-0}")"
            else
                printf '%-22s %-7s FAILED: %s\n' "udp 2 processes $mode" "$hs" "$(tr '\n' ' ' <"$TMP/br" | head -c 200)"
            fi
        done
    done
done

#!/usr/bin/env bash
# TCPCLv4 throughput benchmark (not a test): bundles/s and MB/s between two of our nodes over
# TCPCLv4 on loopback, the same between two dtn7-rs daemons (dtnd) over their `tcp` CLA, and the
# raw loopback TCP limit, all measured in the same run.
#
#   scripts/bench/tcpcl.sh [-n RUNS] [-s SECONDS] [-D]
#
#   -n RUNS      repeat the whole table RUNS times (default 1)
#   -s SECONDS   length of each timed case (default 3)
#   -d LEVEL     BP_DURABILITY of the nodes: full (the default, what users get), process or
#                memory (no store); printed in the header
#   -D           leave dtnd out
#
# Needs target/release/libbpshim.so (cargo build --release). Builds, with the C tests' flags
# (cc -O2 -D_FORTIFY_SOURCE=2 -Wall -Werror -Iinclude), c-tests/bin/bench_udp and
# c-tests/bin/bench_stream, and the limit probe scripts/bench/limits/tcp_bench.c (a copy of
# /work/shared/bench-limits/tcp_bench.c) into a temporary folder. The dtnd rows need dtnd
# (scripts/peers/setup-dtn7.sh; ${BPSHIM_PEERS:-~/.cache/bpshim-peers}/dtn7/bin, or DTN7_BIN=dir)
# and .venv with cbor2 (scripts/setup.sh); without them they are skipped.
#
# Cases, at 100 B, 64 KiB and 1 MiB ADUs (payload bytes; MB = 10^6 bytes), loopback only:
#   bpshim tcpcl window   bench_udp window mode: node ipn:10.0 -> node ipn:20.0, two processes
#                         under the shim, BP_CLA=tcpcl:..., the receiver acknowledging (an ADU
#                         back over BP, over the session node 20 opens to node 10) every
#                         window/4 ADUs, at most 4 MiB (64..4096 ADUs) in flight, for SECONDS.
#                         bundles/s: the receiver's, first to last ADU. "stalls": times the
#                         window stayed full 300 ms without an ack (the sender then goes on).
#   bpshim tcpcl stream   bench_stream: the same two nodes, no application acknowledgement:
#                         sendto() as fast as it returns, for SECONDS or 256 MiB, whichever
#                         comes first, then a FIN; the sender's node sends what it still holds
#                         during the exit flush (BP_EXIT_FLUSH_MS=60000). bundles/s: end to end,
#                         the sender's first sendto() to the receiver's last ADU (one monotonic
#                         clock). Notes: when the first ADU reached the receiving program, the
#                         sender's sendto() rate, its peak RSS when it stopped (what its node
#                         queued: there is no back-pressure from the TCPCL session to sendto())
#                         and the receiver's peak RSS.
#   dtnd tcp ws           two dtnd 0.21.0 (ipn:20.0 -> ipn:21.0, memory store, static routing,
#                         static peer tcp://127.0.0.1:<dtnd 21>/21, loopback only: -6 -i 0
#                         --disable_nd, CLAs bound to 127.0.0.1, web API on [::1], RUST_LOG=warn),
#                         restarted for every case; scripts/bench/dtn7_bench.py injects bundles
#                         through dtnd 20's WebSocket API (/ws, "/data" mode, one message per
#                         bundle, pipelined) and receives them from dtnd 21's WebSocket API
#                         (subscribed to ipn:21.1), at most 4 MiB (64..4096) bundles in flight
#                         end to end (16 from 64 KiB on: a larger window only lengthens the
#                         drain, see below). bundles/s: the receiver's, first to last bundle.
#                         dtnd 0.21.0's tcp CLA sends one transfer at a time (the next bundle only
#                         once the XFER_ACK came) without TCP_NODELAY: from about 16 KB on, the
#                         tail of each transfer waits for the peer's delayed ACK (~40 ms), so it
#                         moves ~23 bundles/s whatever their size.
#   dtnd tcp http         (100 B only) the same with the REST API: POST /send per bundle on one
#                         persistent connection, GET /endpoint?1 polling on another (threads).
# limit: tcp_bench, one loopback TCP stream between two processes, write() of the ADU size,
#        default socket buffers; "of limit" compares MB/s.
#
# Ports: BENCH_PORT_BASE (default 25000): +0 node 10, +1 node 20, +2 raw TCP, +10/+11 dtnd 20
# CLA/web, +20/+21 dtnd 21 CLA/web. Output: a table per run, then notes on ERROR lines in the
# dtnd logs if any. About 40 s per run with the defaults.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
RUNS=1
SECS=3
DTND=1
DUR=full
while getopts "d:n:s:Dh" o; do
    case $o in
    d) DUR=$OPTARG ;;
    n) RUNS=$OPTARG ;;
    s) SECS=$OPTARG ;;
    D) DTND=0 ;;
    *)
        sed -n '2,/^set -u/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 2
        ;;
    esac
done
SHIM=${BPSHIM_SO:-$ROOT/target/release/libbpshim.so}
unset BP_CONFIG BP_NODE BP_CLA BP_ROUTE BP_STORE BP_MAX_ADU BP_LIFETIME BP_EXIT_FLUSH_MS \
    BP_UDP_RATE BP_REPORTS BP_AGE_BLOCK BP_STRICT_CRC
BASE=${BENCH_PORT_BASE:-25000}
P10=$BASE
P20=$((BASE + 1))
PTCP=$((BASE + 2))
D20=$((BASE + 10))
W20=$((BASE + 11))
D21=$((BASE + 20))
W21=$((BASE + 21))
DTN7_BIN=${DTN7_BIN:-${BPSHIM_PEERS:-$HOME/.cache/bpshim-peers}/dtn7/bin}
PY=$ROOT/.venv/bin/python
CC=${CC:-cc}
CFLAGS=(-O2 -D_FORTIFY_SOURCE=2 -Wall -Werror -Iinclude)
TMP=$(mktemp -d /tmp/bpshim-bench-tcpcl.XXXXXX) || exit 1
# This run's node stores (the default store path is under XDG_STATE_HOME).
export XDG_STATE_HOME=$TMP/state
unset BP_CONTACT BP_DURABILITY BP_STORE_MAX
export BP_DURABILITY=$DUR
PIDS=()
DPIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}" "${DPIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}" "${DPIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -f "$SHIM" ]; then
    echo "bench: $SHIM not found (run 'cargo build --release' first)" >&2
    exit 1
fi
mkdir -p c-tests/bin
"$CC" "${CFLAGS[@]}" -o c-tests/bin/bench_udp c-tests/bench_udp.c -pthread || exit 1
"$CC" "${CFLAGS[@]}" -o c-tests/bin/bench_stream c-tests/bench_stream.c -pthread || exit 1
"$CC" -O2 -o "$TMP/tcp_bench" scripts/bench/limits/tcp_bench.c || exit 1

DTND_WHY=""
if [ "$DTND" = 1 ]; then
    if [ ! -x "$DTN7_BIN/dtnd" ]; then
        DTND_WHY="no $DTN7_BIN/dtnd (scripts/peers/setup-dtn7.sh)"
    elif ! "$PY" -c 'import cbor2' 2>/dev/null; then
        DTND_WHY="no cbor2 in $ROOT/.venv (scripts/setup.sh)"
    fi
else
    DTND_WHY="left out (-D)"
fi

field() { # "RESULT a=1 b=2" key -> value
    tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -n 1
}

listening() { # port -> 0 if a TCP socket listens on it
    [ -n "$(ss -Htln "( sport = :$1 )" 2>/dev/null)" ]
}

wait_listening() { # port: wait up to 5 s
    local i
    command -v ss >/dev/null 2>&1 || { sleep 0.5; return 0; }
    for ((i = 0; i < 50; i++)); do
        listening "$1" && return 0
        sleep 0.1
    done
    return 1
}

wait_free() { # port: wait up to 5 s until nothing listens there
    local i
    command -v ss >/dev/null 2>&1 || return 0
    for ((i = 0; i < 50; i++)); do
        listening "$1" || return 0
        sleep 0.1
    done
    return 1
}

TO=$(awk -v s="$SECS" 'BEGIN { printf "%d", s * 3 + 30 }')

# node port peer_node peer_port flush_ms cmd...: cmd under the shim as node ipn:<node>.0.
# Senders get a long exit flush (what their node holds when the program ends must still go);
# receivers a short one: bench_udp's last acks go to a sender that may have exited already.
node_run() {
    local node=$1 port=$2 peer=$3 peer_port=$4 flush=$5
    shift 5
    env BP_NODE="ipn:$node.0" BP_CLA="tcpcl:127.0.0.1:$port" \
        BP_ROUTE="ipn:$peer.*=tcpcl:127.0.0.1:$peer_port" BP_LOG=error BP_EXIT_FLUSH_MS="$flush" \
        LD_PRELOAD="$SHIM" "$@"
}

run_tcp_limit() { # size -> RECV_RESULT
    wait_free "$PTCP"
    timeout -k 2 "$TO" "$TMP/tcp_bench" recv "$PTCP" >"$TMP/tr" 2>&1 &
    local rp=$!
    PIDS+=("$rp")
    wait_listening "$PTCP"
    local t
    t=$(awk -v s="$SECS" 'BEGIN { print (s < 2 ? s : 2) }')
    timeout -k 2 "$TO" "$TMP/tcp_bench" send "$PTCP" "$1" "$t" >/dev/null 2>&1
    wait "$rp"
    PIDS=()
    grep '^RESULT' "$TMP/tr"
}

run_window() { # size -> "RECV_RESULT|SEND_RESULT"
    wait_free "$P10"
    wait_free "$P20"
    node_run 20 "$P20" 10 "$P10" 200 timeout -k 2 "$TO" c-tests/bin/bench_udp recv "$1" \
        >"$TMP/wr" 2>&1 &
    local rp=$!
    PIDS+=("$rp")
    wait_listening "$P20"
    local s
    s=$(node_run 10 "$P10" 20 "$P20" 60000 timeout -k 2 "$TO" c-tests/bin/bench_udp send 20 "$1" \
        "$SECS" window 2>"$TMP/ws" | grep '^RESULT')
    wait "$rp"
    echo "receiver exit status $?" >>"$TMP/wr"
    PIDS=()
    echo "$(grep '^RESULT' "$TMP/wr")|$s"
}

run_stream() { # size -> "RECV_RESULT|SEND_RESULT"
    wait_free "$P10"
    wait_free "$P20"
    local max=$((268435456 / $1))
    node_run 20 "$P20" 10 "$P10" 200 timeout -k 2 "$TO" c-tests/bin/bench_stream recv "$1" 20 \
        >"$TMP/sr" 2>&1 &
    local rp=$!
    PIDS+=("$rp")
    wait_listening "$P20"
    local s
    s=$(node_run 10 "$P10" 20 "$P20" 60000 timeout -k 2 "$TO" c-tests/bin/bench_stream send 20 "$1" \
        "$SECS" "$max" 2>"$TMP/ss" | grep '^RESULT')
    wait "$rp"
    echo "receiver exit status $?" >>"$TMP/sr"
    PIDS=()
    echo "$(grep '^RESULT' "$TMP/sr")|$s"
}

stop_dtnd() {
    local p
    for p in "${DPIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${DPIDS[@]}"; do wait "$p" 2>/dev/null; done
    DPIDS=()
}

start_dtnd() { # -> 0 when both are up
    stop_dtnd
    rm -rf "$TMP/d20" "$TMP/d21"
    mkdir -p "$TMP/d20" "$TMP/d21"
    echo "1 * ipn:21.* ipn:21.0" >"$TMP/routes20"
    local p
    for p in "$D20" "$W20" "$D21" "$W21"; do wait_free "$p"; done
    RUST_LOG=${DTN7_LOG:-warn} "$DTN7_BIN/dtnd" -n 21 -W "$TMP/d21" -w "$W21" -6 -i 0 \
        --disable_nd -D mem -r static -C "tcp:port=$D21:bind=127.0.0.1" -e 1 \
        >"$TMP/d21.log" 2>&1 &
    DPIDS+=($!)
    RUST_LOG=${DTN7_LOG:-warn} "$DTN7_BIN/dtnd" -n 20 -W "$TMP/d20" -w "$W20" -6 -i 0 \
        --disable_nd -D mem -r static -R "static.routes=$TMP/routes20" \
        -C "tcp:port=$D20:bind=127.0.0.1" -e 1 -s "tcp://127.0.0.1:$D21/21" \
        >"$TMP/d20.log" 2>&1 &
    DPIDS+=($!)
    for p in "$D21" "$W21" "$D20" "$W20"; do wait_listening "$p" || return 1; done
    return 0
}

run_dtnd() { # method size -> RESULT line (or "FAILED ...")
    if ! start_dtnd; then
        echo "FAILED dtnd did not come up: $(tail -n 3 "$TMP/d20.log" "$TMP/d21.log" | tr '\n' ' ' | head -c 200)"
        return
    fi
    local w=()
    [ "$2" -ge 65536 ] && w=(16)
    local r
    r=$(timeout -k 2 "$TO" "$PY" scripts/bench/dtn7_bench.py "$1" "$W20" "$W21" ipn:21.1 "$2" \
        "$SECS" "${w[@]}" 2>"$TMP/de" | grep '^RESULT')
    local e20 e21
    e20=$(grep -c -E 'ERROR|panicked' "$TMP/d20.log")
    e21=$(grep -c -E 'ERROR|panicked' "$TMP/d21.log")
    if [ "$e20" != 0 ] || [ "$e21" != 0 ]; then
        echo "dtnd $1 $(human_size "$2"): ERROR lines in the logs: dtnd 20 $e20, dtnd 21 $e21; first: $(grep -m 1 -h -E 'ERROR|panicked' "$TMP/d20.log" "$TMP/d21.log" | cut -c 1-160)" >>"$TMP/notes"
    fi
    stop_dtnd
    if [ -n "$r" ]; then echo "$r"; else echo "FAILED $(tr '\n' ' ' <"$TMP/de" | head -c 200)"; fi
}

human_size() {
    if [ "$1" -ge 1048576 ]; then
        echo "$(($1 / 1048576)) MiB"
    elif [ "$1" -ge 1024 ]; then
        echo "$(($1 / 1024)) KiB"
    else
        echo "$1 B"
    fi
}

pct() { # a b -> a/b in %, one decimal under 10 %
    awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "-"; else { p = 100 * a / b;
        if (p < 10) printf "%.1f%%", p; else printf "%.0f%%", p } }'
}
lossp() { awk -v l="$1" 'BEGIN { if (l == "") print "?"; else printf "%.1f%%", 100 * l }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.0f MB", k * 1024 / 1e6 }'; }

FMT='%-22s %-7s %9s %9s %6s   %-36s %6s   %s\n'
row() { # case size bundles/s MB/s loss limit oflimit notes
    printf "$FMT" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8"
}

model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "BP_DURABILITY=$DUR"
echo "machine: $(nproc) cores, ${model:-unknown CPU}, Linux $(uname -r)"
if [ -z "$DTND_WHY" ]; then
    echo "dtnd: $("$DTN7_BIN/dtnd" --version 2>&1 | head -n 1) ($DTN7_BIN)"
else
    echo "dtnd: $DTND_WHY"
fi
echo "each timed case ${SECS} s; bundles/s = delivered per second (see the header of $0);" \
    "MB = 10^6 payload bytes"

for p in $P10 $P20 $PTCP $D20 $W20 $D21 $W21; do
    if command -v ss >/dev/null 2>&1 && [ -n "$(ss -Htuln "( sport = :$p )" 2>/dev/null)" ]; then
        echo "bench: port $p is in use (set BENCH_PORT_BASE)" >&2
        exit 1
    fi
done

for ((run = 1; run <= RUNS; run++)); do
    [ "$RUNS" -gt 1 ] && echo && echo "run $run of $RUNS"
    : >"$TMP/notes"
    row case size bundles/s MB/s loss "limit (same run)" "of lim" notes
    for size in 100 65536 1048576; do
        hs=$(human_size "$size")
        lim=$(run_tcp_limit "$size")
        limmb=$(field "$lim" mb_per_s)
        limtxt="raw tcp ${hs} writes: ${limmb:-?} MB/s"

        b=$(run_window "$size")
        br=${b%%|*}
        bs=${b#*|}
        if [ -n "$br" ]; then
            row "bpshim tcpcl window" "$hs" "$(field "$br" adu_per_s)" "$(field "$br" mb_per_s)" \
                "$(lossp "$(field "$br" loss)")" "$limtxt" "$(pct "$(field "$br" mb_per_s)" "${limmb:-0}")" \
                "window $(field "$bs" window), stalls $(field "$bs" stalls)"
        else
            row "bpshim tcpcl window" "$hs" FAILED "" "" "" "" "$(tr '\n' ' ' <"$TMP/wr" | head -c 160) $(head -c 160 "$TMP/ws")"
        fi

        b=$(run_stream "$size")
        br=${b%%|*}
        bs=${b#*|}
        if [ -n "$br" ] && [ -n "$bs" ]; then
            e2e=$(awk -v n="$(field "$br" adus)" -v by="$(field "$br" bytes)" \
                -v a="$(field "$bs" t_start)" -v z="$(field "$br" t_last)" \
                -v f="$(field "$br" t_first)" \
                'BEGIN { d = z - a; if (d <= 0) d = 1e-9; printf "%.0f %.2f %.2f %.2f", n / d, by / d / 1e6, d, f - a }')
            read -r e2e_rate e2e_mb e2e_secs e2e_first <<<"$e2e"
            row "bpshim tcpcl stream" "$hs" "$e2e_rate" "$e2e_mb" "$(lossp "$(field "$br" loss)")" \
                "$limtxt" "$(pct "$e2e_mb" "${limmb:-0}")" \
                "$(field "$bs" sent) ADUs in ${e2e_secs} s, first after ${e2e_first} s; sendto $(field "$bs" adu_per_s)/s; sender RSS $(mb "$(field "$bs" maxrss_kb)"), receiver $(mb "$(field "$br" maxrss_kb)")"
        else
            row "bpshim tcpcl stream" "$hs" FAILED "" "" "" "" "$(tr '\n' ' ' <"$TMP/sr" | head -c 160) $(head -c 160 "$TMP/ss")"
        fi

        if [ -n "$DTND_WHY" ]; then
            [ "$size" = 100 ] && row "dtnd tcp" "-" skipped "" "" "" "" "$DTND_WHY"
            continue
        fi
        methods=(ws)
        [ "$size" = 100 ] && methods+=(http)
        for m in "${methods[@]}"; do
            d=$(run_dtnd "$m" "$size")
            if [[ $d == RESULT* ]]; then
                row "dtnd tcp $m" "$hs" "$(field "$d" adu_per_s)" "$(field "$d" mb_per_s)" \
                    "$(lossp "$(field "$d" loss)")" "$limtxt" "$(pct "$(field "$d" mb_per_s)" "${limmb:-0}")" \
                    "$(field "$d" delivered) bundles, window $(field "$d" window), stalls $(field "$d" stalls), reordered $(pct "$(field "$d" reordered)" "$(field "$d" delivered)")"
            else
                row "dtnd tcp $m" "$hs" FAILED "" "" "" "" "${d#FAILED }"
            fi
        done
    done
    sed 's/^/note: /' "$TMP/notes"
done

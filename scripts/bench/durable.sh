#!/usr/bin/env bash
# Durable-send benchmark (not a test): bundles per second when every send returns only once its
# bundle is in the node's store, at each durability level, beside SQLite's own limit measured
# in the same run; and the store's bytes per bundle.
#
#   scripts/bench/durable.sh [-s SECONDS]
#
# Cases: ADUs of 100 B and 16 KiB; one thread with one sendto() per ADU, 4 and 16 threads
# (one socket each) with one sendto() per ADU (group commit across threads), one thread with
# sendmmsg() of 64 ADUs (group commit within a call); BP_DURABILITY full, process and memory.
# The node (ipn:10.0) has a contact to node 20 that never opens in the run, so every bundle
# stays in the store: "send until stored".
# Limit: sqlite_bench (a copy of /work/shared/bench-limits/sqlite_bench.c; needs
# libsqlite3-dev) inserting rows of the same size in WAL mode, synchronous FULL and NORMAL,
# 1 and 64 rows per commit.
# Bytes per bundle: the store file after a checkpoint, divided by the bundles it holds.
#
# Needs target/release/libbpshim.so (cargo build --release).

set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
SECS=2
while getopts "s:" o; do
    case $o in
    s) SECS=$OPTARG ;;
    *) echo "usage: $0 [-s SECONDS]" >&2; exit 2 ;;
    esac
done
CC=${CC:-cc}
SHIM=${BPSHIM_SO:-$ROOT/target/release/libbpshim.so}
TMP=$(mktemp -d /tmp/bpshim-bench-durable.XXXXXX) || exit 1
export XDG_STATE_HOME=$TMP/state
unset BP_CONFIG BP_NODE BP_CLA BP_ROUTE BP_STORE BP_CONTACT BP_DURABILITY BP_STORE_MAX
trap 'rm -rf "$TMP"' EXIT
[ -f "$SHIM" ] || { echo "bench: $SHIM not found (cargo build --release)" >&2; exit 1; }
mkdir -p c-tests/bin
"$CC" -O2 -D_FORTIFY_SOURCE=2 -Wall -Werror -Iinclude -pthread -o c-tests/bin/bench_durable \
    c-tests/bench_durable.c || exit 1
HAVE_SQLITE=0
if "$CC" -O2 -o "$TMP/sqlite_bench" scripts/bench/limits/sqlite_bench.c -lsqlite3 2>/dev/null; then
    HAVE_SQLITE=1
fi

field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -n 1; }

# bench DURABILITY THREADS SIZE BATCH -> "adus_per_s bytes_per_bundle"
bench() {
    local db=$TMP/s.db
    rm -f "$db" "$db"-wal "$db"-shm "$db".lock
    local r
    r=$(env BP_NODE=10 BP_STORE="$db" BP_DURABILITY="$1" BP_STORE_MAX=64G BP_LOG=error \
        BP_CONTACT="20 tcpcl:127.0.0.1:9 +100000 +100001" LD_PRELOAD="$SHIM" \
        timeout -k 2 $((SECS * 3 + 30)) c-tests/bin/bench_durable "$2" "$3" "$SECS" "$4" \
        2>"$TMP/err" | grep '^RESULT')
    local rate
    rate=$(field "$r" adus_per_s)
    local per="-"
    if [ "$1" != memory ] && [ -f "$db" ]; then
        per=$(python3 - "$db" <<'PY'
import os, sqlite3, sys
db = sys.argv[1]
c = sqlite3.connect(db)
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
n = c.execute("SELECT count(*) FROM bundles").fetchone()[0]
c.close()
print(round(os.path.getsize(db) / n) if n else "-")
PY
)
    fi
    echo "${rate:-FAILED} $per"
}

limit() { # SIZE SYNC ROWS_PER_COMMIT -> rows/s
    [ $HAVE_SQLITE = 1 ] || { echo "-"; return; }
    local r
    r=$("$TMP/sqlite_bench" insert "$TMP/limit.db" "$1" "$2" "$3" "$SECS" 2>/dev/null | grep '^RESULT')
    field "$r" rows_per_s
}

echo "# bpshim durable sends: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr), ${SECS} s per case"
echo "# store: $TMP (filesystem: $(df -T "$TMP" | awk 'NR==2 {print $2}'))"
printf '%-7s %-9s %-22s %12s %10s\n' size level case "bundles/s" "B/bundle"
for size in 100 16384; do
    for level in full process memory; do
        for c in "1 1" "4 1" "16 1" "1 64"; do
            set -- $c
            name="$1 thread(s), "$([ "$2" = 1 ] && echo "sendto" || echo "sendmmsg x$2")
            read -r rate per < <(bench "$level" "$1" "$size" "$2")
            printf '%-7s %-9s %-22s %12s %10s\n' "$size" "$level" "$name" "$rate" "$per"
        done
    done
    if [ $HAVE_SQLITE = 1 ]; then
        for sync in FULL NORMAL; do
            for rpc in 1 64; do
                printf '%-7s %-9s %-22s %12s\n' "$size" "limit" "sqlite $sync, $rpc/commit" "$(limit "$size" "$sync" "$rpc")"
            done
        done
    fi
done

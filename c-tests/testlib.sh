# shellcheck shell=bash disable=SC2034
# testlib.sh - helpers for the multi-process tests c-tests/test_*.sh (sourced, not run).
#
# The runner (scripts/run-c-tests.sh) sets ROOT, BIN, SHIM and BPT_PORT_BASE (this test's
# 10 UDP ports: BPT_PORT_BASE .. BPT_PORT_BASE+9); defaults allow running a script by hand
# from the repository root after scripts/run-c-tests.sh --build-only.

set -u
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${BIN:-$ROOT/c-tests/bin}
SHIM=${SHIM:-$ROOT/target/release/libbpshim.so}
PORT_BASE=${BPT_PORT_BASE:-21900}
TMP=$(mktemp -d /tmp/bpshim-sh-test.XXXXXX)
# This test's node stores (the default store path is under XDG_STATE_HOME).
export XDG_STATE_HOME=$TMP/state
unset BP_CONTACT BP_DURABILITY BP_STORE_MAX
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

[ -f "$SHIM" ] || fail "$SHIM not found"
[ -x "$BIN/bprecv" ] || fail "$BIN/bprecv not built (scripts/run-c-tests.sh --build-only)"

# on_node NODE CLA_PORT ROUTE CMD...: run CMD as a process of node ipn:NODE.0, listening on
# udp:127.0.0.1:CLA_PORT, with BP_ROUTE=ROUTE (empty: none), under the shim, with a store of
# its own (processes of one node in a test are independent runs; a test that wants a store to
# carry over gives CMD as `env BP_STORE=FILE ...`). Other BP_* variables are cleared (BP_LOG
# is kept).
on_node() {
    local node=$1 port=$2 route=$3
    shift 3
    if [ -n "$route" ]; then
        env -u BP_MAX_ADU -u BP_EXIT_FLUSH_MS -u BP_LIFETIME -u BP_CONFIG -u BP_REPORTS -u BP_STORE \
            -u BP_AGE_BLOCK -u BP_STRICT_CRC BP_NODE="ipn:$node.0" \
            BP_STORE="$TMP/state/ipn-$node-$BASHPID-$RANDOM.db" \
            BP_CLA="udp:127.0.0.1:$port" BP_ROUTE="$route" LD_PRELOAD="$SHIM" "$@"
    else
        env -u BP_MAX_ADU -u BP_EXIT_FLUSH_MS -u BP_LIFETIME -u BP_CONFIG -u BP_REPORTS -u BP_STORE \
            -u BP_AGE_BLOCK -u BP_STRICT_CRC -u BP_ROUTE BP_NODE="ipn:$node.0" \
            BP_STORE="$TMP/state/ipn-$node-$BASHPID-$RANDOM.db" \
            BP_CLA="udp:127.0.0.1:$port" LD_PRELOAD="$SHIM" "$@"
    fi
}

# wait_for_line FILE REGEX SECONDS: wait until a line of FILE matches REGEX (grep -E).
wait_for_line() {
    local file=$1 re=$2 t=$3 i=0
    while [ $i -lt $((t * 20)) ]; do
        grep -Eq -- "$re" "$file" 2>/dev/null && return 0
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}

# wait_udp_port PORT SECONDS: wait until something listens on UDP 127.0.0.1:PORT.
wait_udp_port() {
    local port=$1 t=$2 i=0
    command -v ss >/dev/null 2>&1 || { sleep 0.5; return 0; }
    while [ $i -lt $((t * 20)) ]; do
        [ -n "$(ss -Hlun "sport = :$port" 2>/dev/null)" ] && return 0
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}

# show TITLE FILE: print a file, indented, under a title.
show() { # TITLE FILE (a file, or a pipe such as <(tail f): read once)
    echo "--- $1"
    local text
    text=$(cat "$2" 2>/dev/null)
    if [ -n "$text" ]; then sed 's/^/  /' <<<"$text"; else echo "  (empty)"; fi
}

# count_lines FILE EXACT_LINE: number of lines of FILE equal to EXACT_LINE.
count_lines() {
    grep -cxF -- "$2" "$1" 2>/dev/null || true
}

# wait_pid PID SECONDS: wait for a background child, killing it after SECONDS; sets WAIT_RC
# to its exit status (124 if it had to be killed). Not usable inside $(...): the child
# belongs to this shell.
WAIT_RC=""
wait_pid() {
    local pid=$1 t=$2 i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt $((t * 20)) ]; do
        sleep 0.05
        i=$((i + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        WAIT_RC=124
        return
    fi
    wait "$pid"
    WAIT_RC=$?
}

# wait_for_line_pid PID FILE REGEX SECONDS: like wait_for_line, but stop waiting as soon as
# process PID has ended; the answer is then whether FILE, as PID left it, has such a line.
wait_for_line_pid() {
    local pid=$1 file=$2 re=$3 t=$4 i=0
    while [ $i -lt $((t * 20)) ]; do
        grep -Eq -- "$re" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { grep -Eq -- "$re" "$file" 2>/dev/null; return; }
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}

# store_query DB SQL...: run each SQL (a SELECT) on the node store DB (an SQLite file) with
# python3's sqlite3, read-only: the node may be running (WAL lets readers in; a busy store is
# waited for up to 5 s). Prints every row of every result on a line of its own, the columns
# separated by one space (NULL as None); prints just "missing" if there is no file DB. Status
# non-zero (and a traceback on stderr) if the store cannot be read or a query fails.
# For several numbers on one line (read -r a b c), give one SELECT of several columns, e.g.
#     store_query "$DB" "SELECT count(*), (SELECT count(*) FROM seen) FROM bundles"
store_query() {
    python3 - "$@" <<'PY'
import os, sqlite3, sys
path = sys.argv[1]
if not os.path.exists(path):
    print("missing")
    sys.exit(0)
c = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
for sql in sys.argv[2:]:
    for row in c.execute(sql):
        print(" ".join(str(v) for v in row))
PY
}

# need_bins NAME...: fail unless every program $BIN/NAME is built.
need_bins() {
    local b
    for b in "$@"; do
        [ -x "$BIN/$b" ] || fail "$BIN/$b not built (scripts/run-c-tests.sh --build-only)"
    done
}

# Shared helpers of the interop tests (sourced by scripts/interop/test_*.sh).
# Sets ROOT, PY, SHIM, BIN; defines pass/fail, build_c, wait_for_line, cleanup handling.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# every node gets only the settings a test gives it (BP_LOG passes through)
unset BP_CONFIG BP_NODE BP_CLA BP_ROUTE BP_STORE BP_MAX_ADU BP_LIFETIME BP_EXIT_FLUSH_MS
cd "$ROOT" || exit 1
PY=$ROOT/.venv/bin/python3
SHIM=${BPSHIM_SO:-$ROOT/target/release/libbpshim.so}
BIN=$ROOT/c-tests/bin
CC=${CC:-cc}
CFLAGS=(-O2 -D_FORTIFY_SOURCE=2 -Wall -Werror -Iinclude)
FAILS=0
PIDS=()
TMP=$(mktemp -d /tmp/bpshim-interop.XXXXXX) || exit 1
# This test's node stores (the default store path is under XDG_STATE_HOME).
export XDG_STATE_HOME=$TMP/state
unset BP_CONTACT BP_DURABILITY BP_STORE_MAX

pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; FAILS=$((FAILS + 1)); }

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    [ "${KEEP_TMP:-0}" = 1 ] && echo "(kept $TMP)" || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

require_env() {
    if [ ! -x "$PY" ] || ! "$PY" -c 'import pyd3tn.bundle7' 2>/dev/null; then
        echo "FAIL $TEST_NAME: no pyd3tn in $ROOT/.venv (run scripts/pyd3tn/setup.sh)"
        exit 1
    fi
    if [ ! -f "$SHIM" ]; then
        echo "FAIL $TEST_NAME: $SHIM not found (run 'cargo build --release' first)"
        exit 1
    fi
}

build_c() { # program names (c-tests/NAME.c -> c-tests/bin/NAME)
    mkdir -p "$BIN" || exit 1
    local n
    for n in "$@"; do
        if [ ! -x "$BIN/$n" ] || [ "c-tests/$n.c" -nt "$BIN/$n" ] || [ include/bp_socket.h -nt "$BIN/$n" ]; then
            if ! "$CC" "${CFLAGS[@]}" -o "$BIN/$n" "c-tests/$n.c" -pthread; then
                echo "FAIL $TEST_NAME: cannot build c-tests/$n.c"
                exit 1
            fi
        fi
    done
}

port_free() { # port -> 0 if no UDP socket is bound to it
    command -v ss >/dev/null 2>&1 || return 0
    [ -z "$(ss -Huan "( sport = :$1 )" 2>/dev/null)" ]
}

port_bound() { # port -> 0 once a UDP socket is bound to it (1 if ss is missing: caller sleeps)
    command -v ss >/dev/null 2>&1 || return 1
    [ -n "$(ss -Huan "( sport = :$1 )" 2>/dev/null)" ]
}

wait_for_line() { # file regex seconds -> 0 when a line of file matches
    local f=$1 re=$2 t=$(($3 * 10)) i
    for ((i = 0; i < t; i++)); do
        grep -qE "$re" "$f" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

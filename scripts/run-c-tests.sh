#!/usr/bin/env bash
# Build and run the bpshim C tests (c-tests/) against target/release/libbpshim.so.
#
# Usage (from anywhere; it works from the repository root):
#   scripts/run-c-tests.sh                 build, then run every test
#   scripts/run-c-tests.sh NAME...         build, then run only these tests
#                                          (test_bind, test_two_nodes, test_two_nodes.sh, ...)
#   scripts/run-c-tests.sh --build-only    build c-tests/bin/ and check the fortify imports
#   scripts/run-c-tests.sh --list          list the tests and their UDP port ranges
#
# Tests:
#   c-tests/test_*.c   one program per rule of the API contract, run as
#                      LD_PRELOAD=$PWD/target/release/libbpshim.so timeout 30 c-tests/bin/test_X
#                      with every BP_* variable unset (default configuration: node ipn:1.0)
#   c-tests/test_*.sh  multi-process tests (two nodes over UDP, exit flush, demo, bad config),
#                      run with timeout 90
# Every test gets its own block of 10 loopback UDP ports in BPT_PORT_BASE: test number k of
# the sorted list of all tests gets BPT_PORT_START + 10*k (BPT_PORT_START defaults to 21000: below the kernel's ephemeral port range, so that no outgoing connection of another test takes a listening port),
# so no two tests ever share a port, whichever subset is run.
#
# Environment: CC (default cc), BPSHIM_SO (default $PWD/target/release/libbpshim.so),
# BPT_PORT_START, BP_LOG (passed through to the tests), VERBOSE=1 (show the output of passing
# tests too), BPT_TIMEOUT (C tests, default 30), BPT_SH_TIMEOUT (shell tests, default 90).
#
# Output: one line per test, "PASS name (t s)" or "FAIL name (reason)" followed by the test's
# stdout+stderr, then "N passed, M failed"; the exit status is non-zero if anything failed.

set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

CC=${CC:-cc}
SRC=c-tests
BIN=c-tests/bin
SHIM=${BPSHIM_SO:-$ROOT/target/release/libbpshim.so}
PORT_START=${BPT_PORT_START:-21000}
C_TIMEOUT=${BPT_TIMEOUT:-30}
SH_TIMEOUT=${BPT_SH_TIMEOUT:-90}
CFLAGS=(-O2 -D_FORTIFY_SOURCE=2 -Wall -Werror -Iinclude)
HEADER_CFLAGS=(-std=c99 -Wall -Wextra -Werror -Iinclude)
BP_VARS=(BP_NODE BP_CLA BP_ROUTE BP_MAX_ADU BP_EXIT_FLUSH_MS BP_LIFETIME BP_CONFIG BP_REPORTS BP_STORE BP_AGE_BLOCK BP_STRICT_CRC BP_CONTACT BP_DURABILITY BP_STORE_MAX BP_UDP_RATE)

usage() {
    sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

# ---------------------------------------------------------------- build
build() {
    mkdir -p "$BIN" || return 1
    local src name ok=0
    for src in "$SRC"/*.c; do
        name=$(basename "$src" .c)
        if [ "$name" = test_header ]; then
            "$CC" "${HEADER_CFLAGS[@]}" -o "$BIN/$name" "$src" || ok=1
        else
            "$CC" "${CFLAGS[@]}" -o "$BIN/$name" "$src" -pthread || ok=1
        fi
    done
    if [ $ok -ne 0 ]; then
        echo "run-c-tests: build failed" >&2
        return 1
    fi
    return 0
}

# test_recv must import the fortified receive functions, so that the shim's hooks for them
# are exercised (a preload that hooks only recv/recvfrom/read would not see those calls).
check_fortify() {
    local syms missing=""
    if command -v nm >/dev/null 2>&1; then
        syms=$(nm -D --undefined-only "$BIN/test_recv" 2>/dev/null)
    else
        syms=$(objdump -T "$BIN/test_recv" 2>/dev/null | grep -F '*UND*')
    fi
    for s in __recv_chk __recvfrom_chk __read_chk; do
        grep -qw "$s" <<<"$syms" || missing="$missing $s"
    done
    if [ -n "$missing" ]; then
        echo "c-tests/bin/test_recv does not import:$missing (fortify not effective?)"
        return 1
    fi
    return 0
}

# ---------------------------------------------------------------- test list
all_tests() {
    local f
    for f in "$SRC"/test_*.c "$SRC"/test_*.sh; do
        [ -e "$f" ] && basename "$f"
    done | sort
}

port_base_of() { # file name -> port base
    local i=0 t
    while read -r t; do
        if [ "$t" = "$1" ]; then
            echo $((PORT_START + 10 * i))
            return 0
        fi
        i=$((i + 1))
    done < <(all_tests)
    return 1
}

# ---------------------------------------------------------------- run
PASSED=0
FAILED=0
FAILED_NAMES=()
LOGDIR=""

report() { # name status log seconds reason
    local name=$1 status=$2 log=$3 secs=$4 reason=$5
    if [ "$status" = PASS ]; then
        PASSED=$((PASSED + 1))
        echo "PASS $name (${secs} s)"
        [ "${VERBOSE:-0}" = 1 ] && [ -s "$log" ] && sed 's/^/    | /' "$log"
    else
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$name")
        echo "FAIL $name ($reason, ${secs} s)"
        [ -s "$log" ] && sed 's/^/    | /' "$log"
    fi
    return 0
}

ports_busy() { # base -> prints the sockets using ports base..base+9, if any
    command -v ss >/dev/null 2>&1 || return 1
    local out
    out=$(ss -Htuln "( sport >= :$1 and sport <= :$(($1 + 9)) )" 2>/dev/null)
    [ -n "$out" ] && { echo "$out"; return 0; }
    return 1
}

run_one() { # file name (test_x.c or test_x.sh)
    local file=$1 name base log rc start end secs reason busy
    name=${file%.*}
    base=$(port_base_of "$file")
    log="$LOGDIR/$name.log"
    local tries=0
    while busy=$(ports_busy "$base") && [ $tries -lt 50 ]; do
        sleep 0.1 # a previous test's process may still be exiting
        tries=$((tries + 1))
    done
    if [ -n "${busy:-}" ]; then
        echo "UDP/TCP ports $base..$((base + 9)) are in use (for 5 s):" >"$log"
        echo "$busy" >>"$log"
        report "$name" FAIL "$log" 0 "ports busy"
        return
    fi
    local envcmd=(env)
    local v
    for v in "${BP_VARS[@]}"; do envcmd+=(-u "$v"); done
    # Each test gets its own node stores (the default store path is under XDG_STATE_HOME).
    local state="$LOGDIR/state-$name"
    rm -rf "$state"
    mkdir -p "$state"
    envcmd+=(XDG_STATE_HOME="$state")
    start=$(date +%s%N)
    case $file in
    *.c)
        "${envcmd[@]}" LD_PRELOAD="$SHIM" BPT_PORT_BASE="$base" \
            timeout -k 5 "$C_TIMEOUT" "$BIN/$name" </dev/null >"$log" 2>&1
        rc=$?
        ;;
    *.sh)
        "${envcmd[@]}" ROOT="$ROOT" BIN="$ROOT/$BIN" SHIM="$SHIM" BPT_PORT_BASE="$base" \
            timeout -k 5 "$SH_TIMEOUT" bash "$SRC/$file" </dev/null >"$log" 2>&1
        rc=$?
        ;;
    esac
    end=$(date +%s%N)
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
    if [ $rc -eq 0 ]; then
        report "$name" PASS "$log" "$secs" ""
    else
        if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
            reason="timeout"
        elif [ $rc -gt 128 ]; then
            reason="killed by signal $((rc - 128))"
        else
            reason="exit $rc"
        fi
        report "$name" FAIL "$log" "$secs" "$reason"
    fi
}

main() {
    local build_only=0 list=0 names=() a
    for a in "$@"; do
        case $a in
        --build-only) build_only=1 ;;
        --list) list=1 ;;
        -h | --help)
            usage
            return 0
            ;;
        -*)
            echo "run-c-tests: unknown option $a" >&2
            usage >&2
            return 2
            ;;
        *) names+=("$a") ;;
        esac
    done

    if [ $list -eq 1 ]; then
        local t
        while read -r t; do
            printf '%-24s ports %s..%s\n' "$t" "$(port_base_of "$t")" $(($(port_base_of "$t") + 9))
        done < <(all_tests)
        return 0
    fi

    # which tests
    local files=() n f found
    if [ ${#names[@]} -eq 0 ]; then
        while read -r f; do files+=("$f"); done < <(all_tests)
    else
        for n in "${names[@]}"; do
            n=$(basename "$n")
            found=""
            while read -r f; do
                if [ "$f" = "$n" ] || [ "${f%.*}" = "$n" ]; then found=$f; fi
            done < <(all_tests)
            if [ -z "$found" ]; then
                echo "run-c-tests: no test named $n (see --list)" >&2
                return 2
            fi
            files+=("$found")
        done
    fi

    build || return 1
    if ! check_fortify; then
        echo "FAIL fortify_imports"
        [ $build_only -eq 1 ] && return 1
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=(fortify_imports)
    else
        echo "PASS fortify_imports (test_recv imports __recv_chk __recvfrom_chk __read_chk)"
        PASSED=$((PASSED + 1))
    fi
    [ $build_only -eq 1 ] && return 0

    if [ ! -f "$SHIM" ]; then
        echo "FAIL: $SHIM not found (run 'cargo build --release' first)"
        return 1
    fi

    LOGDIR=$(mktemp -d /tmp/bpshim-c-tests.XXXXXX) || return 1
    for f in "${files[@]}"; do
        run_one "$f"
    done
    rm -rf "$LOGDIR"

    echo "$PASSED passed, $FAILED failed"
    if [ $FAILED -ne 0 ]; then
        echo "failed: ${FAILED_NAMES[*]}"
        return 1
    fi
    return 0
}

main "$@"
exit $?

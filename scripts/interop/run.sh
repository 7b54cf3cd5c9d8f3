#!/usr/bin/env bash
# Run every interop test in scripts/interop/ (test_*.sh) and summarize.
#
#   scripts/interop/run.sh [NAME...]     e.g. scripts/interop/run.sh test_pyd3tn_send
#
# Needs target/release/libbpshim.so (cargo build --release) and .venv with pyd3tn
# (scripts/pyd3tn/setup.sh). Each test runs under `timeout 90`, with its own port block:
# INTEROP_PORT_BASE (default 22100) + 10 * k for the k-th test. VERBOSE=1 shows the output
# of passing tests too. Exit status 0 only if every test passed.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
START=${INTEROP_PORT_BASE:-22100}
tests=()
if [ $# -gt 0 ]; then
    for n in "$@"; do tests+=("scripts/interop/$(basename "${n%.sh}").sh"); done
else
    for f in scripts/interop/test_*.sh; do tests+=("$f"); done
fi
passed=0
failed=0
k=0
log=$(mktemp /tmp/bpshim-interop-run.XXXXXX) || exit 1
trap 'rm -f "$log"' EXIT
for t in "${tests[@]}"; do
    name=$(basename "$t" .sh)
    if [ ! -f "$t" ]; then
        echo "FAIL $name (no such test)"
        failed=$((failed + 1))
        continue
    fi
    s=$(date +%s%N)
    INTEROP_PORT_BASE=$((START + 10 * k)) timeout -k 5 90 bash "$t" </dev/null >"$log" 2>&1
    rc=$?
    secs=$(awk -v a="$s" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
    k=$((k + 1))
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
        echo "PASS $name ($secs s)"
        [ "${VERBOSE:-0}" = 1 ] && sed 's/^/    | /' "$log"
    else
        failed=$((failed + 1))
        echo "FAIL $name (exit $rc, $secs s)"
        sed 's/^/    | /' "$log"
    fi
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]

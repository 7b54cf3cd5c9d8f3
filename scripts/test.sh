#!/usr/bin/env bash
# Runs every test: formatting, lints, Rust unit and integration tests (including the pyd3tn
# and bp7 cross-checks), the C programs under LD_PRELOAD, the interop tests against pyd3tn,
# and a bounded fuzz run (BPSHIM_FUZZ_SECONDS per target, default 15).
# Prints one line per stage and exits non-zero if any stage failed.
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

failed=()
stage() {
    local name="$1"; shift
    echo "=== $name: $*"
    local t0=$SECONDS
    if "$@"; then
        echo "=== $name: PASS ($((SECONDS - t0)) s)"
    else
        echo "=== $name: FAIL ($((SECONDS - t0)) s)"
        failed+=("$name")
    fi
}

stage fmt cargo fmt --all -- --check
stage clippy cargo clippy --release --all-targets -- -D warnings
stage build cargo build --release
stage cargo-test cargo test --release
stage c-tests scripts/run-c-tests.sh
for t in scripts/interop/test_*.sh; do
    [ -e "$t" ] && stage "$(basename "$t" .sh)" "$t"
done
# A bounded fuzz run of every target (the long runs are reported in the issues' notes).
stage fuzz scripts/fuzz.sh "${BPSHIM_FUZZ_SECONDS:-15}"

if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED stages: ${failed[*]}"
    exit 1
fi
echo "all stages passed"

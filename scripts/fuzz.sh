#!/usr/bin/env bash
# Runs every fuzz target of engine/fuzz/ (cargo-fuzz, libFuzzer) for SECONDS each, one after
# the other, on the stable toolchain without a sanitizer (`-s none`: the engine has no unsafe
# code, so panics, hangs and runaway allocation are what the targets find).
#
#   scripts/fuzz.sh [SECONDS]      # default 20
#
# Installs cargo-fuzz if it is missing. Each target starts from its committed seeds in
# engine/fuzz/corpus/TARGET/ plus what earlier runs added in engine/fuzz/work/TARGET/ (not
# committed). A crash, hang (over 10 s for one input) or out-of-memory stops that target and
# leaves its input in engine/fuzz/artifacts/TARGET/; the script then exits non-zero, after
# running the other targets. Reproduce with:
#   cd engine && cargo fuzz run -s none TARGET fuzz/artifacts/TARGET/crash-...
set -euo pipefail

secs="${1:-20}"
case "$secs" in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

cd "$root/engine"
cargo fuzz build -s none
failed=()
for target in $(cargo fuzz list); do
    mkdir -p "fuzz/work/$target" "fuzz/corpus/$target"
    echo "fuzz.sh: $target for ${secs}s" >&2
    if ! cargo fuzz run -s none "$target" "fuzz/work/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
        echo "fuzz.sh: $target FAILED; input in engine/fuzz/artifacts/$target/" >&2
        failed+=("$target")
    fi
done
if ((${#failed[@]})); then
    echo "fuzz.sh: failing targets: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz.sh: every target ran ${secs}s without a failure" >&2

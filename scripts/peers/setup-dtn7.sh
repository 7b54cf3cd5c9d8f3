#!/usr/bin/env bash
# Install dtn7-rs (dtnd, dtnsend, dtnrecv, dtnquery, dtntrigger) from crates.io, for the
# interop tests scripts/interop/test_dtn7_*.sh.
#
#   scripts/peers/setup-dtn7.sh          prints the bin directory on stdout (last line)
#
# Installs with `cargo install dtn7 --locked --root DIR` into
#   DIR = ${BPSHIM_PEERS:-$HOME/.cache/bpshim-peers}/dtn7
# (a cache kept across CI runs). Nothing is done when DIR/bin/dtnd exists and
# `dtnd --version` runs. DTN7_VERSION pins a version (default: 0.21.0, the one the tests were
# written against; DTN7_VERSION=latest takes the newest). About 3 min on 2 cores (184 crates).
# Progress goes to stderr; exit status non-zero if the install failed.
set -euo pipefail
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
DIR=${BPSHIM_PEERS:-$HOME/.cache/bpshim-peers}/dtn7
VERSION=${DTN7_VERSION:-0.21.0}

if [ -x "$DIR/bin/dtnd" ] && "$DIR/bin/dtnd" --version >/dev/null 2>&1; then
    echo "setup-dtn7: $("$DIR/bin/dtnd" --version 2>&1 | head -n 1) already in $DIR/bin" >&2
    echo "$DIR/bin"
    exit 0
fi

command -v cargo >/dev/null 2>&1 || {
    echo "setup-dtn7: cargo not found (run scripts/setup.sh first)" >&2
    exit 1
}
mkdir -p "$DIR"
args=(install dtn7 --locked --root "$DIR")
[ "$VERSION" != latest ] && args+=(--version "$VERSION")
echo "setup-dtn7: cargo ${args[*]} (takes a few minutes)" >&2
t0=$SECONDS
# --force: a half-finished earlier install (dtnd present but broken) is replaced
if ! cargo "${args[@]}" --force >&2; then
    echo "setup-dtn7: cargo install dtn7 failed" >&2
    exit 1
fi
if ! "$DIR/bin/dtnd" --version >/dev/null 2>&1; then
    echo "setup-dtn7: $DIR/bin/dtnd does not run after the install" >&2
    exit 1
fi
echo "setup-dtn7: installed $("$DIR/bin/dtnd" --version 2>&1 | head -n 1) in $((SECONDS - t0)) s" >&2
echo "$DIR/bin"

#!/usr/bin/env bash
# Installs what building and testing bpshim needs on a fresh Debian/Ubuntu machine:
# a C compiler and binutils (c-tests), Python with venv (pyd3tn interop tests), Rust (if no
# cargo is on PATH), and the pyd3tn virtual environment. Idempotent: installed parts are kept.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need=()
command -v cc >/dev/null || need+=(build-essential)
command -v nm >/dev/null || need+=(binutils)
command -v curl >/dev/null || need+=(curl ca-certificates)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v timeout >/dev/null || need+=(coreutils)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi

if ! command -v cargo >/dev/null; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        echo "setup: cargo is in ~/.cargo/bin; add it to PATH (source ~/.cargo/env)"
    else
        echo "setup: installing Rust with rustup"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy -c rustfmt
    fi
fi

[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
# The fuzzer driver of scripts/fuzz.sh (stable toolchain, no sanitizer).
cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

"$repo/scripts/pyd3tn/setup.sh"
# dtn7-rs (dtnd, dtnsend, dtnrecv) for the interop tests; cached in ~/.cache/bpshim-peers.
"$repo/scripts/peers/setup-dtn7.sh" >/dev/null

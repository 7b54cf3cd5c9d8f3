#!/usr/bin/env bash
# demo.sh - two bpshim nodes on this machine exchange a bundle over the UDP convergence layer.
#
# Run from the repository root after `cargo build --release`:
#   scripts/demo.sh
# Node ipn:20 (udp:127.0.0.1:4557) runs c-tests/bin/bprecv waiting for one bundle on
# ipn:20.1; node ipn:10 (udp:127.0.0.1:4556, route ipn:20.* -> udp:127.0.0.1:4557) runs
# c-tests/bin/bpsend, which sends "hello" from ipn:10.2 and exits. Both are unmodified AF_BP
# programs, run with LD_PRELOAD=target/release/libbpshim.so.
# The test programs are built first if needed (scripts/run-c-tests.sh --build-only).
# Environment: DEMO_PORT10 (4556), DEMO_PORT20 (4557), DEMO_MESSAGE (hello), BP_LOG.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

SHIM=target/release/libbpshim.so
P10=${DEMO_PORT10:-4556}
P20=${DEMO_PORT20:-4557}
MSG=${DEMO_MESSAGE:-hello}

if [ ! -f "$SHIM" ]; then
    echo "demo: $SHIM not found: run 'cargo build --release' first" >&2
    exit 1
fi
if [ ! -x c-tests/bin/bprecv ] || [ ! -x c-tests/bin/bpsend ] ||
    [ -n "$(find c-tests include -name '*.[ch]' -newer c-tests/bin/bprecv 2>/dev/null)" ]; then
    echo "demo: building c-tests/bin (scripts/run-c-tests.sh --build-only)"
    scripts/run-c-tests.sh --build-only >/dev/null || {
        echo "demo: build failed" >&2
        exit 1
    }
fi
unset BP_NODE BP_CLA BP_ROUTE BP_MAX_ADU BP_EXIT_FLUSH_MS

OUT=$(mktemp /tmp/bpshim-demo.XXXXXX)
RPID=""
# shellcheck disable=SC2329 # run by the EXIT trap
cleanup() {
    [ -n "$RPID" ] && kill "$RPID" 2>/dev/null
    rm -f "$OUT"
}
trap cleanup EXIT

echo "== node ipn:20 (udp:127.0.0.1:$P20) waits for one bundle on ipn:20.1"
echo "\$ BP_NODE=ipn:20.0 BP_CLA=udp:127.0.0.1:$P20 BP_ROUTE='ipn:10.*=udp:127.0.0.1:$P10' \\"
echo "    LD_PRELOAD=$SHIM c-tests/bin/bprecv 20 1 1 &"
BP_NODE=ipn:20.0 BP_CLA=udp:127.0.0.1:$P20 BP_ROUTE="ipn:10.*=udp:127.0.0.1:$P10" \
    LD_PRELOAD=$SHIM c-tests/bin/bprecv 20 1 1 >"$OUT" 2>&1 &
RPID=$!
for _ in $(seq 100); do
    grep -q '^Listening on' "$OUT" && break
    kill -0 "$RPID" 2>/dev/null || break
    sleep 0.05
done
if ! grep -q '^Listening on' "$OUT"; then
    echo "demo: the receiver did not start:" >&2
    cat "$OUT" >&2
    exit 1
fi
# the receiver's UDP convergence layer must be listening before the sender's bundle leaves
if command -v ss >/dev/null 2>&1; then
    for _ in $(seq 100); do
        [ -n "$(ss -Hlun "sport = :$P20" 2>/dev/null)" ] && break
        sleep 0.05
    done
else
    sleep 0.5
fi

echo
echo "== node ipn:10 (udp:127.0.0.1:$P10) sends \"$MSG\" from ipn:10.2 to ipn:20.1"
echo "\$ BP_NODE=ipn:10.0 BP_CLA=udp:127.0.0.1:$P10 BP_ROUTE='ipn:20.*=udp:127.0.0.1:$P20' \\"
echo "    LD_PRELOAD=$SHIM c-tests/bin/bpsend 20 1 \"$MSG\" 10.2"
BP_NODE=ipn:10.0 BP_CLA=udp:127.0.0.1:$P10 BP_ROUTE="ipn:20.*=udp:127.0.0.1:$P20" \
    LD_PRELOAD=$SHIM c-tests/bin/bpsend 20 1 "$MSG" 10.2
SRC=$?

for _ in $(seq 200); do
    kill -0 "$RPID" 2>/dev/null || break
    sleep 0.05
done
if kill -0 "$RPID" 2>/dev/null; then
    kill "$RPID" 2>/dev/null
    RRC=timeout
else
    wait "$RPID"
    RRC=$?
fi
RPID=""

echo
echo "== what the receiver (node ipn:20) printed"
sed 's/^/  /' "$OUT"
echo
if [ "$SRC" = 0 ] && [ "$RRC" = 0 ] && grep -qxF "Received message (${#MSG} bytes): $MSG" "$OUT"; then
    echo "demo: OK - the bundle went from ipn:10.2 to ipn:20.1 over UDP"
    exit 0
fi
echo "demo: FAILED (bpsend exit $SRC, bprecv exit $RRC)" >&2
exit 1

#!/usr/bin/env bash
# test_demo_cmds: the README demo, exactly: the two commands of the first ```sh block under
# "## Using it" in README.md are taken from the README itself (continuation lines joined,
# comments dropped), with this test's UDP ports in place of 4556/4557, and run from the
# repository root. At the time of writing they are:
#
#   BP_NODE=ipn:20.0 BP_CLA=udp:127.0.0.1:4557 BP_ROUTE='ipn:10.*=udp:127.0.0.1:4556' \
#     LD_PRELOAD=target/release/libbpshim.so c-tests/bin/bprecv 20 1 &
#   BP_NODE=ipn:10.0 BP_CLA=udp:127.0.0.1:4556 BP_ROUTE='ipn:20.*=udp:127.0.0.1:4557' \
#     LD_PRELOAD=target/release/libbpshim.so c-tests/bin/bpsend 20 1 "hello" 10.2
#
# Expected: bpsend prints "Message sent successfully: hello" and exits 0; bprecv prints
# "Received message (5 bytes): hello" and "Bundle sent by ipn:10.2". If the README's bprecv has
# no count it runs until Ctrl-C: the test then sends it SIGINT, and it must exit 0 at once
# (blocking recvmsg ends with EINTR although signal() installs SA_RESTART).
# Then scripts/demo.sh itself is run (on two more ports) and must succeed.
# shellcheck source=c-tests/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
cd "$ROOT" || fail "cd $ROOT"
[ "$SHIM" -ef target/release/libbpshim.so ] ||
    echo "note: the README commands use target/release/libbpshim.so, not $SHIM"

P10=$PORT_BASE
P20=$((PORT_BASE + 1))
unset BP_NODE BP_CLA BP_ROUTE BP_MAX_ADU BP_EXIT_FLUSH_MS

[ -f README.md ] || fail "README.md not found"
mapfile -t CMDS < <(
    awk '/^## Using it/ { f = 1; next } f && /^```sh/ { g = 1; next } g && /^```/ { exit } g { print }' README.md |
        sed -e ':a' -e '/\\$/N; s/\\\n//; ta' |
        grep -v '^[[:space:]]*#' | grep -v '^[[:space:]]*$' |
        sed -e 's/  */ /g' -e "s/127\.0\.0\.1:4556/127.0.0.1:$P10/g" -e "s/127\.0\.0\.1:4557/127.0.0.1:$P20/g"
)
[ ${#CMDS[@]} = 2 ] || fail "expected 2 commands in README.md's '## Using it' sh block, found ${#CMDS[@]}"
RECV_CMD=${CMDS[0]}
SEND_CMD=${CMDS[1]}
case $RECV_CMD in
*"c-tests/bin/bprecv "*"&") RECV_CMD=${RECV_CMD%&} ;;
*) fail "first README command is not a background bprecv: $RECV_CMD" ;;
esac
case $SEND_CMD in
*"c-tests/bin/bpsend "*) ;;
*) fail "second README command is not bpsend: $SEND_CMD" ;;
esac
echo "receiver: $RECV_CMD"
echo "sender:   $SEND_CMD"

# bash -c runs a single simple command with exec, so $! is bprecv itself
bash -c "$RECV_CMD" >"$TMP/recv.out" 2>"$TMP/recv.err" &
RPID=$!
PIDS+=("$RPID")
wait_for_line "$TMP/recv.out" '^Listening on ipn:20\.1$' 10 || {
    show "bprecv stdout" "$TMP/recv.out"
    show "bprecv stderr" "$TMP/recv.err"
    fail "bprecv did not start"
}
wait_udp_port "$P20" 5 || fail "nothing listens on udp:127.0.0.1:$P20"
bash -c "$SEND_CMD" >"$TMP/send.out" 2>"$TMP/send.err"
SRC=$?
wait_for_line "$TMP/recv.out" '^Bundle sent by ' 10
if kill -0 "$RPID" 2>/dev/null && [ "$(cat "/proc/$RPID/comm" 2>/dev/null)" = bprecv ] &&
    ! grep -Eq 'bprecv [0-9]+ [0-9]+ [0-9]+' <<<"$RECV_CMD"; then
    sleep 0.2
    kill -INT "$RPID" # Ctrl-C
    echo "(sent SIGINT to bprecv)"
fi
wait_pid "$RPID" 5
RRC=$WAIT_RC

show "bpsend stdout (exit $SRC)" "$TMP/send.out"
show "bpsend stderr" "$TMP/send.err"
show "bprecv stdout (exit $RRC)" "$TMP/recv.out"
show "bprecv stderr" "$TMP/recv.err"
[ "$SRC" = 0 ] || fail "bpsend exited with $SRC"
grep -qxF "Message sent successfully: hello" "$TMP/send.out" || fail "bpsend output"
grep -qxF "Received message (5 bytes): hello" "$TMP/recv.out" || fail "bprecv: no message"
grep -qxF "Bundle sent by ipn:10.2" "$TMP/recv.out" || fail "bprecv: wrong or no source"
[ "$RRC" = 0 ] || fail "bprecv exited with $RRC (124: did not stop on SIGINT within 5 s)"

echo "=== scripts/demo.sh"
DEMO_PORT10=$((PORT_BASE + 2)) DEMO_PORT20=$((PORT_BASE + 3)) scripts/demo.sh >"$TMP/demo.out" 2>&1
DRC=$?
show "scripts/demo.sh (exit $DRC)" "$TMP/demo.out"
[ "$DRC" = 0 ] || fail "scripts/demo.sh exited with $DRC"
grep -qF "Received message (5 bytes): hello" "$TMP/demo.out" || fail "demo.sh: no message"
grep -qF "Bundle sent by ipn:10.2" "$TMP/demo.out" || fail "demo.sh: no source line"
echo "PASS test_demo_cmds"

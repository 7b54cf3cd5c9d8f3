#!/usr/bin/env bash
# test_bad_config: a bad BP_* setting makes the first socket(AF_BP) fail with -1/EINVAL, with
# a message naming the variable on stderr, and the program keeps running (bpsock exits with
# its own status 1, not by a signal, not hanging). The same program without any setting gets
# a socket (control).
# shellcheck source=c-tests/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

CASES=(
    "BP_NODE=ipn:x.0"
    "BP_NODE=dtn:foo"
    "BP_CLA=tcp:1.2.3.4:5" # unsupported for now (UDP only); drop this case when TCPCL lands
    "BP_CLA=udp:notanip:1"
    "BP_ROUTE=garbage"
    "BP_ROUTE=ipn:1.*=udp:127.0.0.1:notaport"
    "BP_MAX_ADU=abc"
    "BP_DURABILITY=sometimes"
    "BP_STORE_MAX=0"
    "BP_CONTACT=20 tcpcl:127.0.0.1:1 +10 +5"
    "BP_CONTACT=garbage"
)

errors=0
run_probe() { # env assignments...
    env -u BP_NODE -u BP_CLA -u BP_ROUTE -u BP_MAX_ADU -u BP_EXIT_FLUSH_MS -u BP_LOG \
        -u BP_DURABILITY -u BP_STORE_MAX -u BP_CONTACT \
        "$@" LD_PRELOAD="$SHIM" timeout 10 "$BIN/bpsock" >"$TMP/out" 2>"$TMP/err"
    echo $?
}

rc=$(run_probe)
if [ "$rc" != 0 ]; then
    show "control (no BP_* setting): exit $rc" "$TMP/out"
    show "stderr" "$TMP/err"
    fail "control: socket(AF_BP) fails without any configuration"
fi
echo "ok   control: $(cat "$TMP/out")"

for c in "${CASES[@]}"; do
    var=${c%%=*}
    rc=$(run_probe "$c")
    problem=""
    if [ "$rc" = 124 ]; then
        problem="hung (timeout 10 s)"
    elif [ "$rc" -gt 128 ]; then
        problem="killed by signal $((rc - 128))"
    elif [ "$rc" = 0 ]; then
        problem="socket(AF_BP) succeeded"
    elif ! grep -q "= -1 EINVAL " "$TMP/out"; then
        problem="wrong error: $(cat "$TMP/out")"
    elif ! grep -qF "$var" "$TMP/err"; then
        problem="stderr does not name $var"
    fi
    if [ -n "$problem" ]; then
        echo "FAIL $c: $problem"
        show "stdout" "$TMP/out"
        show "stderr" "$TMP/err"
        errors=$((errors + 1))
    else
        echo "ok   $c: $(cat "$TMP/out"); stderr: $(head -c 300 "$TMP/err" | tr '\n' ' ')"
    fi
done
[ $errors = 0 ] || fail "$errors bad setting(s) not reported as required"
echo "PASS test_bad_config"

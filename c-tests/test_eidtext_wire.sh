#!/usr/bin/env bash
# test_eidtext_wire: EIDs other than two-element ipn on the wire (struct sockaddr_bp_ext),
# checked against pyd3tn (.venv) and the raw CBOR walker scripts/interop/bpv7raw.py.
#
# (a) send to dtn EIDs: node ipn:10 runs `test_eidtext send DEST 10.S TEXT` with
#       BP_ROUTE='dtn://node30/*=udp:127.0.0.1:PY'                       -> dtn://node30/app
#       BP_ROUTE='ipn:*.*=udp:127.0.0.1:DEAD,dtn://node30/app=udp:...:PY' -> dtn://node30/app
#     (an exact dtn pattern; an ipn catch-all does not take dtn destinations). The Python
#     listener (scripts/interop/eidtext_wire.py listen) plays the next hop and checks each
#     bundle: destination bytes = CBOR [1, "//node30/app"], source [2, [10, S]], report-to =
#     source, CRC-32C right on every block, pyd3tn decodes the same EIDs and the payload.
# (c) send to a three-element ipn EID: BP_ROUTE='ipn:977.5.1=udp:...:PY' -> ipn:977.5.1,
#     destination encoded [2, [977, 5, 1]].
#     Before those, three sends that no route matches (dtn://node31/app with the dtn://node30/*
#     route, dtn://node30/app2 with the exact route, ipn:977.5.2 with the ipn:977.5.1 route):
#     sendto still returns the length, and the listener must not see them.
# (b) receive from such sources: pyd3tn builds bundles for ipn:20.1 and sends them to node 20's
#     BP_CLA port, where `test_eidtext recv 20 1 N MODE` prints one line per ADU:
#       msg (recvmsg, sockaddr_bp_ext buffer):
#         from dtn://node30/app scheme 2 namelen 25 ...     (8 + 16 + 1)
#         from ipn:977.5.1 scheme 3 namelen 20 ...          (8 + 11 + 1)
#         from ipn:30.1 scheme 1 namelen 16 ...             (two-element ipn: a sockaddr_bp)
#         from ipn:0.0 scheme 1 namelen 16 ...              (anonymous source dtn:none)
#         from dtn://node30/lll...l scheme 2 namelen 128 ... (a 119-character source: the most
#                                                             that fits)
#         from ipn:30.1 scheme 1 namelen 16 ...  (source ipn:0.30.1: allocator 0 is two-element)
#         a 124- and a 140-character dtn source: namelen 8 + strlen + 1 (133, 149), the buffer
#         (128 bytes) gets the first 120 characters and no NUL, as the kernel truncates a name
#         that does not fit;
#       from (recvfrom, sockaddr_bp_ext buffer): the dtn and ipn3 cases;
#       short (recvmsg with msg_namelen 16): the first 16 bytes only ("dtn://no", "ipn:977."),
#         namelen still 25 / 20, and no byte written past the 16 given.
# Ports (BPT_PORT_BASE..+9): node 10 base, listener base+1, node 20 receivers base+2..base+4,
# base+9 a dead next hop (nothing listens there).
# shellcheck source=c-tests/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

PY=$ROOT/.venv/bin/python3
HELPER=$ROOT/scripts/interop/eidtext_wire.py
P10=$PORT_BASE
PYL=$((PORT_BASE + 1))
P20=$((PORT_BASE + 2))
P20F=$((PORT_BASE + 3))
P20S=$((PORT_BASE + 4))
DEAD=$((PORT_BASE + 9))
T=$BIN/test_eidtext
FAILS=0

check() { # description, then a command that must succeed
    local what=$1
    shift
    if "$@"; then
        echo "ok: $what"
    else
        echo "FAIL: $what" >&2
        FAILS=$((FAILS + 1))
    fi
}

[ -x "$T" ] || fail "$T not built"
[ -x "$PY" ] && "$PY" -c 'import pyd3tn.bundle7' 2>/dev/null ||
    fail "no pyd3tn in $ROOT/.venv (scripts/setup.sh)"
"$PY" "$HELPER" selftest || fail "checker self-test"

# ------------------------------------------------------------------ (a), (c): sending
"$PY" "$HELPER" listen --port "$PYL" --deadline 40 --grace 1 \
    --expect hello-dtn dtn://node30/app ipn:10.2 \
    --expect hello-dtn-exact dtn://node30/app ipn:10.3 \
    --expect hello-ipn3 ipn:977.5.1 ipn:10.4 >"$TMP/listener.out" 2>&1 &
LPID=$!
PIDS+=("$LPID")
wait_for_line "$TMP/listener.out" '^READY' 10 || {
    show "listener" "$TMP/listener.out"
    fail "listener did not start"
}
wait_udp_port "$PYL" 5 || fail "listener port $PYL not bound"

R_PREFIX="dtn://node30/*=udp:127.0.0.1:$PYL"
R_EXACT="ipn:*.*=udp:127.0.0.1:$DEAD,dtn://node30/app=udp:127.0.0.1:$PYL"
R_IPN3="ipn:977.5.1=udp:127.0.0.1:$PYL"

# send NAME ROUTE DEST SRC TEXT [FLUSH_MS]: one sender process of node 10
send() {
    local name=$1 route=$2 dest=$3 src=$4 text=$5 flush=${6:-2000}
    on_node 10 "$P10" "$route" env BP_EXIT_FLUSH_MS="$flush" \
        timeout -k 2 20 "$T" send "$dest" "$src" "$text" >"$TMP/$name.out" 2>"$TMP/$name.err"
    local rc=$?
    show "sender $name: $dest from ipn:$src (exit $rc)" "$TMP/$name.out"
    [ -s "$TMP/$name.err" ] && show "sender $name stderr" "$TMP/$name.err"
    check "sender $name ($dest, route '$route') exits 0" [ $rc = 0 ]
    check "sender $name: sendto returned ${#text}" \
        grep -q "^sent ${#text} bytes to $dest scheme" "$TMP/$name.out"
}

# no route matches: held (sendto succeeds), never sent
send nomatch_prefix "$R_PREFIX" dtn://node31/app 10.5 must-not-arrive-node31 300
send nomatch_exact "$R_EXACT" dtn://node30/app2 10.6 must-not-arrive-app2 300
send nomatch_ipn3 "$R_IPN3" ipn:977.5.2 10.7 must-not-arrive-ipn3 300
# routed
send dtn_prefix "$R_PREFIX" dtn://node30/app 10.2 hello-dtn
check "dtn://node30/app given as scheme 2, addrlen 25" \
    grep -q "scheme 2 addrlen 25$" "$TMP/dtn_prefix.out"
send dtn_exact "$R_EXACT" dtn://node30/app 10.3 hello-dtn-exact
send ipn3 "$R_IPN3" ipn:977.5.1 10.4 hello-ipn3
check "ipn:977.5.1 given as scheme 3, addrlen 20" \
    grep -q "scheme 3 addrlen 20$" "$TMP/ipn3.out"

wait_pid "$LPID" 45
show "listener (exit $WAIT_RC)" "$TMP/listener.out"
check "listener: every bundle arrived and passed, nothing else arrived" [ "$WAIT_RC" = 0 ]
check "listener: dtn destination encoded [1, \"//node30/app\"]" \
    grep -q "^PASS hello-dtn: destination dtn://node30/app encoded \[1, '//node30/app'\] (82016c2f2f6e6f646533302f617070)" \
    "$TMP/listener.out"
check "listener: exact-route dtn destination encoded [1, \"//node30/app\"]" \
    grep -q "^PASS hello-dtn-exact: destination dtn://node30/app encoded \[1, '//node30/app'\]" \
    "$TMP/listener.out"
check "listener: ipn3 destination encoded [2, [977, 5, 1]]" \
    grep -q "^PASS hello-ipn3: destination ipn:977.5.1 encoded \[2, \[977, 5, 1\]\] (8202831903d10501)" \
    "$TMP/listener.out"

# ------------------------------------------------------------------ (b): receiving
LONG="dtn://node30/$(printf 'l%.0s' $(seq 106))"
L124="dtn://node30/$(printf 'm%.0s' $(seq 111))"
L140="dtn://node30/$(printf 'n%.0s' $(seq 127))"
[ ${#LONG} = 119 ] && [ ${#L124} = 124 ] && [ ${#L140} = 140 ] ||
    fail "test bug: long EIDs have ${#LONG}, ${#L124}, ${#L140} characters"

start_recv() { # name port count mode
    on_node 20 "$2" "" timeout -k 2 30 "$T" recv 20 1 "$3" "$4" >"$TMP/$1.out" 2>"$TMP/$1.err" &
    local pid=$!
    PIDS+=("$pid")
    eval "PID_$1=$pid"
    wait_for_line "$TMP/$1.out" '^READY' 10 || {
        show "receiver $1" "$TMP/$1.out"
        show "receiver $1 stderr" "$TMP/$1.err"
        fail "receiver $1 did not start"
    }
    wait_udp_port "$2" 5 || fail "node 20 ($1) CLA port $2 not bound"
}
start_recv r_msg "$P20" 8 msg
start_recv r_from "$P20F" 2 from
start_recv r_short "$P20S" 2 short

pysend() { # port, then --case SRC PAYLOAD ...
    local port=$1
    shift
    "$PY" "$HELPER" send --port "$port" --dest ipn:20.1 "$@" >"$TMP/pysend.$port" 2>&1
    local rc=$?
    show "pyd3tn sender to port $port (exit $rc)" "$TMP/pysend.$port"
    check "pyd3tn built and sent the bundles to port $port" [ $rc = 0 ]
}
pysend "$P20" --case dtn://node30/app hello-from-dtn --case ipn:977.5.1 hello-from-ipn3 \
    --case ipn:30.1 hello-from-ipn2 --case dtn:none hello-anonymous \
    --case "$LONG" hello-from-long-dtn --case ipn:0.30.1 hello-from-ipn-alloc0 \
    --case "$L124" hello-from-124 --case "$L140" hello-from-140
pysend "$P20F" --case dtn://node30/app hello-from-dtn --case ipn:977.5.1 hello-from-ipn3
pysend "$P20S" --case dtn://node30/app hello-from-dtn --case ipn:977.5.1 hello-from-ipn3

for r in r_msg r_from r_short; do
    eval "pid=\$PID_$r"
    wait_pid "$pid" 15
    show "receiver $r (exit $WAIT_RC)" "$TMP/$r.out"
    [ -s "$TMP/$r.err" ] && show "receiver $r stderr" "$TMP/$r.err"
    check "receiver $r got every ADU (exit 0)" [ "$WAIT_RC" = 0 ]
done

has() { # file line
    [ "$(count_lines "$1" "$2")" = 1 ]
}
for r in r_msg r_from; do
    check "$r: dtn source, scheme 2, namelen 25" \
        has "$TMP/$r.out" "from dtn://node30/app scheme 2 namelen 25 payload hello-from-dtn"
    check "$r: three-element ipn source, scheme 3, namelen 20" \
        has "$TMP/$r.out" "from ipn:977.5.1 scheme 3 namelen 20 payload hello-from-ipn3"
done
check "r_msg: two-element ipn source is a sockaddr_bp (scheme 1, namelen 16)" \
    has "$TMP/r_msg.out" "from ipn:30.1 scheme 1 namelen 16 payload hello-from-ipn2"
check "r_msg: anonymous source (dtn:none) is ipn:0.0, namelen 16" \
    has "$TMP/r_msg.out" "from ipn:0.0 scheme 1 namelen 16 payload hello-anonymous"
check "r_msg: 119-character dtn source, namelen 128" \
    has "$TMP/r_msg.out" "from $LONG scheme 2 namelen 128 payload hello-from-long-dtn"
check "r_msg: source ipn:0.30.1 (allocator 0) is ipn:30.1, a sockaddr_bp" \
    has "$TMP/r_msg.out" "from ipn:30.1 scheme 1 namelen 16 payload hello-from-ipn-alloc0"
check "r_msg: 124-character dtn source: namelen 133, first 120 characters" \
    has "$TMP/r_msg.out" "from ${L124:0:120} scheme 2 namelen 133 payload hello-from-124"
check "r_msg: 140-character dtn source: namelen 149, first 120 characters" \
    has "$TMP/r_msg.out" "from ${L140:0:120} scheme 2 namelen 149 payload hello-from-140"
check "r_short: 16-byte buffer gets 'dtn://no', scheme 2, namelen 25" \
    has "$TMP/r_short.out" "from dtn://no scheme 2 namelen 25 payload hello-from-dtn"
check "r_short: 16-byte buffer gets 'ipn:977.', scheme 3, namelen 20" \
    has "$TMP/r_short.out" "from ipn:977. scheme 3 namelen 20 payload hello-from-ipn3"
check "r_short: nothing written past the 16 bytes given" \
    [ "$(count_lines "$TMP/r_short.out" "overrun 0")" = 2 ]
no_line() { # regex files...: no line of the files matches
    ! grep -q -- "$@"
}
check "no receiver truncated an ADU" \
    no_line '^TRUNCATED' "$TMP/r_msg.out" "$TMP/r_from.out" "$TMP/r_short.out"

[ $FAILS = 0 ] || fail "$FAILS checks failed"
echo "PASS test_eidtext_wire"

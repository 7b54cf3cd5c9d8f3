#!/usr/bin/env bash
# Hostile peers against bpnode's TCPCLv4, MTCP and UDP listeners.
#
#   scripts/interop/test_hostile_peer.sh      (needs target/release/bpnode and .venv with pyd3tn)
#
# Starts target/release/bpnode as ipn:20.0 with tcpcl:127.0.0.1:BASE, mtcp:127.0.0.1:BASE+1,
# udp:127.0.0.1:BASE+2 and the route ipn:30.*=udp:127.0.0.1:BASE+3, then runs
# scripts/interop/hostile_peer.py against it (it binds BASE+3 to see forwarded bundles): for
# each listener garbage, truncated messages, huge declared lengths, half-open connections and
# a slow trickle, plus the other peer errors of the table in engine/src/cla/tcpcl/session.rs,
# whose SESS_TERM / MSG_REJECT / XFER_REFUSE reason codes are checked on the wire; after each
# hostile client a well-behaved TCPCL, MTCP and UDP client must be served. Then: bpnode still
# running, its log showing the session ends, and a clean exit 0 on SIGTERM.
#
# Settings: HOSTILE_PORT_BASE, else INTEROP_PORT_BASE (scripts/interop/run.sh's block), else
# 22600 (uses BASE..BASE+3; listeners and sink only, TIME-WAIT leftovers do not matter),
# BPNODE (default target/release/bpnode), HOSTILE_WAIT_NEGOTIATION=1 also waits for the 60 s
# negotiation timeout to close the half-open TCPCL connections (the run then takes ~90 s),
# KEEP_TMP=1 keeps the node's log.
# Output: PASS/FAIL lines; exit status 0 only if every check passed.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
unset BP_CONFIG BP_NODE BP_CLA BP_ROUTE BP_STORE BP_MAX_ADU BP_LIFETIME BP_EXIT_FLUSH_MS \
    BP_REPORTS BP_AGE_BLOCK BP_STRICT_CRC BP_UDP_RATE BP_MUST_NOT_FRAGMENT
PY=$ROOT/.venv/bin/python3
BPNODE=${BPNODE:-$ROOT/target/release/bpnode}
BASE=${HOSTILE_PORT_BASE:-${INTEROP_PORT_BASE:-22600}}
P_TCPCL=$BASE
P_MTCP=$((BASE + 1))
P_UDP=$((BASE + 2))
P_SINK=$((BASE + 3))
FAILS=0
NODE=""
TMP=$(mktemp -d /tmp/bpshim-hostile.XXXXXX) || exit 1
# This run's node stores (the default store path is under XDG_STATE_HOME).
export XDG_STATE_HOME=$TMP/state
unset BP_CONTACT BP_DURABILITY BP_STORE_MAX
LOG=$TMP/bpnode.log

pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; FAILS=$((FAILS + 1)); }

cleanup() {
    if [ -n "$NODE" ] && kill -0 "$NODE" 2>/dev/null; then
        kill -KILL "$NODE" 2>/dev/null
        wait "$NODE" 2>/dev/null
    fi
    [ "${KEEP_TMP:-0}" = 1 ] && echo "(kept $TMP)" || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for_line FILE REGEX SECONDS
wait_for_line() {
    local i=0
    while [ $i -lt $(($3 * 20)) ]; do
        grep -Eq -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}

# count LOG REGEX: number of matching lines
count() { grep -Ec -- "$2" "$1" 2>/dev/null || true; }

if [ ! -x "$PY" ]; then
    echo "FAIL hostile_peer: $PY missing (run scripts/setup.sh or scripts/pyd3tn/setup.sh)"
    exit 1
fi
if ! "$PY" -c 'import pyd3tn.bundle7' 2>/dev/null; then
    echo "FAIL hostile_peer: no pyd3tn in $ROOT/.venv (run scripts/pyd3tn/setup.sh)"
    exit 1
fi
if [ ! -x "$BPNODE" ]; then
    echo "FAIL hostile_peer: $BPNODE not found (run 'cargo build --release' first)"
    exit 1
fi
if command -v ss >/dev/null 2>&1; then
    busy=$(ss -Hltun "( sport = :$P_TCPCL or sport = :$P_MTCP or sport = :$P_UDP or sport = :$P_SINK )" 2>/dev/null)
    if [ -n "$busy" ]; then
        echo "FAIL hostile_peer: ports $P_TCPCL-$P_SINK in use:"
        echo "$busy" | sed 's/^/    /'
        exit 1
    fi
fi

echo "=== bpnode ipn:20.0: tcpcl:$P_TCPCL mtcp:$P_MTCP udp:$P_UDP, ipn:30.* -> udp:$P_SINK"
BP_NODE=20 BP_CLA="tcpcl:127.0.0.1:$P_TCPCL,mtcp:127.0.0.1:$P_MTCP,udp:127.0.0.1:$P_UDP" \
    BP_ROUTE="ipn:30.*=udp:127.0.0.1:$P_SINK" BP_LOG=info "$BPNODE" 2>"$LOG" &
NODE=$!
if ! wait_for_line "$LOG" "node ipn:20\.0 up" 10; then
    fail "bpnode did not start within 10 s"
    sed 's/^/    | /' "$LOG"
    exit 1
fi

echo "=== hostile clients (scripts/interop/hostile_peer.py)"
limit=80
extra=()
if [ "${HOSTILE_WAIT_NEGOTIATION:-0}" = 1 ]; then
    limit=150
    extra=(--wait-negotiation)
fi
timeout -k 5 "$limit" "$PY" scripts/interop/hostile_peer.py --tcpcl "$P_TCPCL" --mtcp "$P_MTCP" \
    --udp "$P_UDP" --sink "$P_SINK" --node-pid "$NODE" "${extra[@]}"
rc=$?
case $rc in
    0) pass "hostile_peer.py: every case passed" ;;
    124 | 137) fail "hostile_peer.py: timed out after $limit s" ;;
    *) fail "hostile_peer.py: exit $rc (see the FAIL lines above)" ;;
esac

echo "=== bpnode after the hostile clients"
if kill -0 "$NODE" 2>/dev/null; then
    pass "bpnode still running"
else
    wait "$NODE"
    fail "bpnode died (exit $?)"
fi

# The session ends in the log, one check per kind of hostile input.
check_log() { # name regex minimum
    local n
    n=$(count "$LOG" "$2")
    if [ "$n" -ge "$3" ]; then
        pass "log: $1 ($n line(s))"
        grep -E -- "$2" "$LOG" | head -2 | sed 's/^/    | /'
    else
        fail "log: $1: $n line(s) matching '$2', expected at least $3"
    fi
}
# (each regex takes the close reason's text and, for older builds, its Debug form)
check_log "TCPCL sessions ended on bad magic" \
    "ended: (peer's contact header lacks|PeerError\(BadMagic\))" 2
check_log "TCPCL session ended on version mismatch" \
    "ended: (peer speaks TCPCL version 3|PeerError\(VersionMismatch\(3\)\))" 1
check_log "TCPCL sessions ended on unknown message types" \
    "ended: (peer sent unknown message type|PeerError\(UnknownMessageType)" 2
check_log "TCPCL sessions ended on huge lengths" \
    "ended: (malformed message from the peer: .*length [0-9]+ exceeds the limit|PeerError\(Malformed\(TooLong)" 4
check_log "TCPCL sessions ended on truncation" "ended: by the peer: (connection lost|ConnectionLost)" 3
check_log "TCPCL session ended on idle timeout" "ended: (session terminated: idle timeout|SessTerm\(IdleTimeout\))" 1
check_log "TCPCL sessions ended by the peer's SESS_TERM" \
    "ended: by the peer: (session terminated|SessTerm)" 20
check_log "MTCP streams closed on a non-byte-string head" \
    "ended: MTCP frame is not a definite-length CBOR byte string" 2
check_log "MTCP streams closed on huge frame lengths" "ended: MTCP frame of [0-9]+ bytes is over" 3
check_log "MTCP garbage frames and UDP garbage dropped" "dropped a malformed bundle" 8
n=$(count "$LOG" "panic|panicked")
if [ "$n" -eq 0 ]; then pass "log: no panic"; else fail "log: $n panic line(s)"; fi

echo "=== SIGTERM"
kill -TERM "$NODE" 2>/dev/null
i=0
while kill -0 "$NODE" 2>/dev/null && [ $i -lt 200 ]; do
    sleep 0.05
    i=$((i + 1))
done
if kill -0 "$NODE" 2>/dev/null; then
    fail "bpnode still running 10 s after SIGTERM"
else
    wait "$NODE"
    nrc=$?
    NODE=""
    if [ "$nrc" = 0 ]; then pass "bpnode exited 0 on SIGTERM"; else fail "bpnode exited $nrc on SIGTERM"; fi
fi
if grep -q "info: stopped" "$LOG"; then pass "log: stopped cleanly"; else fail "log: no 'stopped' line"; fi
echo "--- bpnode log: $(wc -l <"$LOG") lines; last 5:"
tail -5 "$LOG" | sed 's/^/    | /'

if [ $FAILS -eq 0 ]; then
    echo "PASS test_hostile_peer"
    exit 0
fi
echo "FAIL test_hostile_peer ($FAILS check(s) failed)"
exit 1

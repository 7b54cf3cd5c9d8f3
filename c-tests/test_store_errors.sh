#!/usr/bin/env bash
# test_store_errors: a store that cannot be used makes the first socket(AF_BP) fail with a
# specific errno and one stderr line naming the file, never a crash or a hang:
#   a file that is not a SQLite database          -> EIO, "not a usable store"
#   a SQLite file that is not a bpshim store      -> EIO
#   the store of another node                     -> EIO, "belongs to node ipn:10.0"
#   a store held by a running process of the node -> EBUSY, "in use by another process (pid N)"
#   a path that cannot be created (parent is a file) -> mkdir's errno (EEXIST), the path
# and then that the same store opens again once released (the holder ended), with what it held;
# and a store that stops taking writes (file size limit) makes sends wait, not the process die.
# shellcheck source=c-tests/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

errors=0
probe() { # STORE NODE -> stdout of bpsock in $TMP/out, stderr in $TMP/err; echoes the exit code
    env -u BP_CONFIG -u BP_CLA -u BP_ROUTE -u BP_DURABILITY -u BP_LOG \
        BP_NODE="$2" BP_STORE="$1" LD_PRELOAD="$SHIM" timeout 10 "$BIN/bpsock" \
        >"$TMP/out" 2>"$TMP/err"
    echo $?
}

expect() { # NAME STORE NODE ERRNAME STDERR_TEXT
    local rc problem=""
    rc=$(probe "$2" "$3")
    if [ "$rc" = 124 ]; then
        problem="hung"
    elif [ "$rc" -gt 128 ]; then
        problem="killed by signal $((rc - 128))"
    elif [ "$rc" = 0 ]; then
        problem="socket(AF_BP) succeeded"
    elif ! grep -q "= -1 $4 " "$TMP/out"; then
        problem="wrong error: $(cat "$TMP/out") (want $4)"
    elif ! grep -qF "$2" "$TMP/err"; then
        problem="stderr does not name $2"
    elif ! grep -qF "$5" "$TMP/err"; then
        problem="stderr does not say '$5'"
    elif [ "$(wc -l <"$TMP/err")" != 1 ]; then
        problem="more than one stderr line"
    fi
    if [ -n "$problem" ]; then
        echo "FAIL $1: $problem"
        show "stdout" "$TMP/out"
        show "stderr" "$TMP/err"
        errors=$((errors + 1))
    else
        echo "ok   $1: $(cat "$TMP/out"); stderr: $(cat "$TMP/err")"
    fi
}

mkdir -p "$TMP/s"
head -c 65536 /dev/urandom >"$TMP/s/garbage.db"
expect "garbage file" "$TMP/s/garbage.db" 10 EIO "not a usable store"

python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('create table t(x)'); c.commit()" "$TMP/s/other.db"
expect "SQLite file of another program" "$TMP/s/other.db" 10 EIO "not a bpshim store"

# A real store of node 10, then opened as node 11.
rc=$(probe "$TMP/s/n10.db" 10)
[ "$rc" = 0 ] || { show stdout "$TMP/out"; show stderr "$TMP/err"; fail "node 10 could not create its store"; }
expect "another node's store" "$TMP/s/n10.db" 11 EIO "belongs to node ipn:10.0"

echo "file" >"$TMP/s/afile"
expect "path under a file" "$TMP/s/afile/x.db" 10 EEXIST "cannot create directory"

# A running process holds node 10's store: a second process of node 10 gets EBUSY.
env -u BP_CONFIG -u BP_ROUTE -u BP_DURABILITY BP_NODE=10 BP_STORE="$TMP/s/n10.db" \
    BP_CLA="udp:127.0.0.1:$PORT_BASE" LD_PRELOAD="$SHIM" "$BIN/bprecv" 10 7 1 \
    >"$TMP/holder.out" 2>"$TMP/holder.err" &
HOLDER=$!
PIDS+=("$HOLDER")
for _ in $(seq 100); do
    [ -s "$TMP/s/n10.db.lock" ] && grep -q "$HOLDER" "$TMP/s/n10.db.lock" && break
    sleep 0.05
done
expect "store held by pid $HOLDER" "$TMP/s/n10.db" 10 EBUSY "in use by another process (pid $HOLDER)"

# Once the holder is gone, the store opens again.
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null
rc=$(probe "$TMP/s/n10.db" 10)
if [ "$rc" != 0 ]; then
    show stdout "$TMP/out"
    show stderr "$TMP/err"
    echo "FAIL released store: node 10 cannot reopen it"
    errors=$((errors + 1))
else
    echo "ok   released store opens again: $(cat "$TMP/out")"
fi

# A store that stops taking writes (a file size limit: the writes fail with EFBIG): the process
# is not killed by SIGXFSZ (the engine's threads block signals), commits fail and are retried,
# sends wait (the node is "full"), and every send that had returned is in the store.
mkdir -p "$TMP/fsz"
(
    ulimit -f 300
    env -u BP_CONFIG -u BP_CLA -u BP_DURABILITY BP_NODE=10 BP_STORE="$TMP/fsz/s.db" \
        BP_ROUTE="ipn:20.*=tcpcl:127.0.0.1:$((PORT_BASE + 2))" BP_EXIT_FLUSH_MS=100 \
        LD_PRELOAD="$SHIM" timeout 5 "$BIN/dur_send" 20.1 10.1 f 5000 1000 \
        >"$TMP/fsz/out" 2>"$TMP/fsz/err"
    echo $? >"$TMP/fsz/rc"
)
rc=$(cat "$TMP/fsz/rc")
sent=$(grep -c '^sent ' "$TMP/fsz/out")
held=$(store_query "$TMP/fsz/s.db" "SELECT count(*) FROM bundles" 2>&1)
if [ "$rc" != 124 ]; then
    echo "FAIL file size limit: the sender ended with status $rc, not by the test's timeout (124)"
    show "stderr" "$TMP/fsz/err"
    errors=$((errors + 1))
elif ! grep -q "store cannot commit" "$TMP/fsz/err" || ! grep -q "commit failed" "$TMP/fsz/err"; then
    echo "FAIL file size limit: no 'commit failed' / 'store cannot commit' line"
    show "stderr" "$TMP/fsz/err"
    errors=$((errors + 1))
elif [ "$sent" -lt 1 ] || [ "$sent" -ge 5000 ] || [ "$held" != "$sent" ]; then
    echo "FAIL file size limit: $sent sends returned, the store holds $held"
    errors=$((errors + 1))
else
    echo "ok   file size limit: sends blocked after $sent, the process lived, the store holds all $held"
fi

[ $errors = 0 ] || fail "$errors store error(s) not reported as required"
echo "PASS test_store_errors"

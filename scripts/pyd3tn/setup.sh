#!/usr/bin/env bash
# Creates <repo>/.venv with pyd3tn (see requirements.txt) for engine/tests/wire_pyd3tn.rs.
# Idempotent: an existing venv is reused and only installed into if a pin is missing.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$repo/.venv"
reqs="$repo/scripts/pyd3tn/requirements.txt"

if [ ! -x "$venv/bin/python3" ]; then
    # .venv may be a symlink to a cache directory (.ci/run): create the venv where it points.
    python3 -m venv "$(readlink -f "$venv")"
fi

# Compare installed versions with the pins; install only when one differs.
if ! "$venv/bin/python3" - "$reqs" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, want = line.split("==")
        if version(name) != want:
            sys.exit(1)
PY
    "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check -r "$reqs"
fi

"$venv/bin/python3" -c "import pyd3tn.bundle7"
echo "pyd3tn ready in $venv"

#!/usr/bin/env bash
# Interop with a real dtn7-rs dtnd over MTCP (each bundle one CBOR byte string on TCP), both
# directions, ADUs up to 1 MiB: see dtn7_interop.sh (needs scripts/peers/setup-dtn7.sh).
# Pending: not named test_* so that scripts/test.sh and run.sh skip it; rename it to
# test_dtn7_mtcp.sh once BP_CLA/BP_ROUTE accept mtcp:HOST:PORT.
exec bash "$(dirname "${BASH_SOURCE[0]}")/dtn7_interop.sh" mtcp

#!/usr/bin/env bash
# Interop with a real dtn7-rs dtnd over MTCP (each bundle one CBOR byte string on TCP), both
# directions, ADUs up to 1 MiB: see dtn7_interop.sh (needs scripts/peers/setup-dtn7.sh).
exec bash "$(dirname "${BASH_SOURCE[0]}")/dtn7_interop.sh" mtcp

#!/usr/bin/env bash
# Interop with a real dtn7-rs dtnd over TCPCLv4 (RFC 9174, no TLS), both directions, ADUs up
# to 1 MiB: see dtn7_interop.sh (needs scripts/peers/setup-dtn7.sh).
exec bash "$(dirname "${BASH_SOURCE[0]}")/dtn7_interop.sh" tcp

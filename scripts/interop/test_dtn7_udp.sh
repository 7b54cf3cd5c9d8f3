#!/usr/bin/env bash
# Interop with a real dtn7-rs dtnd over the UDP convergence layer (one bundle per datagram),
# both directions, 100 ADUs each way up to 60000 bytes: see dtn7_interop.sh.
# Needs scripts/peers/setup-dtn7.sh (fails, saying so, when dtnd is not installed).
exec bash "$(dirname "${BASH_SOURCE[0]}")/dtn7_interop.sh" udp

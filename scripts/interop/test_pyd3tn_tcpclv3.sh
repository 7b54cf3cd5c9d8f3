#!/usr/bin/env bash
# Interop with pyd3tn's TCPCLv3 code (pyd3tn.tcpcl, RFC 7242) end to end through a real bpshim
# node, both directions: the scenario of test_pyd3tn_mtcp.sh over "tcpclv3:HOST:PORT" instead
# of MTCP (pyd3tn's TCPCLConnection sends 20 bundles of 1 B .. 1 MiB to a node listening with
# BP_CLA=tcpclv3:127.0.0.1:P; the node sends 10 bundles along BP_ROUTE='ipn:30.*=tcpclv3:...'
# to a pyd3tn TCPCLConnection on an accepted socket; both checked field by field).
#
# Ports: PYD3TN_CL_PORT_BASE (default 24500) + 10..12.
exec bash "$(dirname "${BASH_SOURCE[0]}")/test_pyd3tn_mtcp.sh" tcpclv3

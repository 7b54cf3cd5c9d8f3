#!/usr/bin/env bash
# test_tcpclv3: two nodes over tcpclv3; the scenario is in stream_cla.sh.
exec bash "$(dirname "${BASH_SOURCE[0]}")/stream_cla.sh" tcpclv3

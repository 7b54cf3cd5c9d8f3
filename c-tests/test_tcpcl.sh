#!/usr/bin/env bash
# test_tcpcl: two nodes over tcpcl; the scenario is in stream_cla.sh.
exec bash "$(dirname "${BASH_SOURCE[0]}")/stream_cla.sh" tcpcl

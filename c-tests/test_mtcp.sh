#!/usr/bin/env bash
# test_mtcp: two nodes over mtcp; the scenario is in stream_cla.sh.
exec bash "$(dirname "${BASH_SOURCE[0]}")/stream_cla.sh" mtcp

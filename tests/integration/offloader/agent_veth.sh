#!/bin/bash
# agent_split.sh with link.kind veth: both PUs are namespaces of one
# kernel, so the dpu role joins each pod's halves with a veth pair instead
# of a tunnel over the interconnect.  Same traffic, fallback, restarts and
# clean-up checks.
AGENT_SPLIT_LINK=veth . "$TOP/tests/integration/offloader/agent_split.sh"

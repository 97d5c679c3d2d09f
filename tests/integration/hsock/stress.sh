#!/bin/bash
# Stream integrity under hsock: 64 checksummed connections mixing blocking,
# level- and edge-triggered epoll users, two client processes SIGKILLed at
# random.  Zero corrupted or lost bytes on healthy connections, and no
# server call outlives its killed peer by more than a second.
. "$TOP/tests/lib.sh"
run=$BUILD/hsock/hsock-run
tmp=$(mktemp -d)
at_exit rm -rf "$tmp"
at_exit "$run" -- true	# sweeps the objects of the killed clients
port=$((23000 + $$ % 1000))

out=$(timeout 60 "$run" --stats "$tmp/stats" -- "$BUILD/hsock/hsock-stress" "$port" 4 2>&1)
rc=$?
gshm=$(awk '$1 == "bytes_gshm_rx" { print $2 }' "$tmp/stats")
if [ $rc -ne 0 ]; then
	fail "64 connections, random kills" "$out"
elif [ "${gshm:-0}" -lt 1000000 ]; then
	fail "64 connections, random kills" "only ${gshm:-0} B crossed GShm: $out"
else
	pass "64 connections, random kills ($out; $gshm B over GShm)"
fi

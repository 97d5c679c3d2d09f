#!/bin/bash
# Stream integrity under hsock: 64 checksummed connections mixing blocking,
# level- and edge-triggered epoll users, blocking and non-blocking full-
# duplex clients (poll, select, pselect, epoll LT/ET), two client
# processes SIGKILLed at random.  Zero corrupted or lost bytes on healthy
# connections, no wait that sees nothing for 3 s on a healthy connection
# (a lost wake-up), and no server call outlives its killed peer by more
# than a second.  Run with the default ring, and with 16 KiB rings (blocking
# clients' messages under 4 KiB) so that writers keep finding them full.
. "$TOP/tests/lib.sh"
run=$BUILD/hsock/hsock-run
tmp=$(mktemp -d)
at_exit rm -rf "$tmp"
at_exit "$run" -- true	# sweeps the objects of the killed clients
port=$((23000 + $$ % 1000))

stress() { # name ring blockmsg
	local out rc gshm
	out=$(HSOCK_RING=$2 timeout 60 "$run" --stats "$tmp/$2" -- "$BUILD/hsock/hsock-stress" "$port" 4 "$3" 2>&1)
	rc=$?
	port=$((port + 1))
	gshm=$(awk '$1 == "bytes_gshm_rx" { print $2 }' "$tmp/$2")
	if [ $rc -ne 0 ]; then
		fail "$1" "$out"
	elif [ "${gshm:-0}" -lt 1000000 ]; then
		fail "$1" "only ${gshm:-0} B crossed GShm: $out"
	else
		pass "$1 ($out; $gshm B over GShm)"
	fi
}

stress "64 connections, random kills" 1048576 16384
stress "64 connections, random kills, 16 KiB rings" 16384 4096

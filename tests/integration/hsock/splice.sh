#!/bin/bash
# splice between a pipe and a socket at its edges (hsock-splice): short
# transfers both ways with every byte in order, SPLICE_F_NONBLOCK on an
# empty or full pipe and an empty socket, a full non-blocking socket, EOF
# of the peer and of a pipe, a non-pipe end.  Plain TCP and hsock must
# give the same lines, and the bytes must have crossed GShm.
. "$TOP/tests/lib.sh"
prog=$BUILD/hsock/hsock-splice
run=$BUILD/hsock/hsock-run
tmp=$(mktemp -d)
at_exit rm -rf "$tmp"
port=$((22000 + $$ % 1000 * 2))

for c in partial nonblock eof badfd; do
	port=$((port + 2))
	plain=$(timeout 30 "$prog" "$c" "$port" 2>&1)
	hs=$(timeout 30 "$run" --stats "$tmp/$c" -- "$prog" "$c" $((port + 1)) 2>&1)
	gshm=$(awk '$1 == "bytes_gshm_tx" { print $2 }' "$tmp/$c")
	if [ -z "$plain" ] || echo "$plain" | grep -q "error\|missing\|[1-9][0-9]* bytes differ"; then
		fail "$c" "plain TCP run is wrong: $plain"
	elif [ "$plain" != "$hs" ]; then
		fail "$c" "plain: $plain / hsock: $hs"
	elif [ "${gshm:-0}" -le 0 ]; then
		fail "$c" "no byte crossed GShm"
	else
		pass "$c ($hs; $gshm B over GShm)"
	fi
done

#!/bin/bash
# POLLOUT behind a stalled reader: a non-blocking writer fills the socket
# and waits for POLLOUT with each wait primitive while the reader stalls
# for a second, then drains (hsock-wout).  Run over plain TCP and under
# hsock-run, the observations must match: the wait spans the stall (no
# POLLOUT while the ring is full), the writer stays under 10 % CPU, no
# POLLOUT is followed by EAGAIN during the stall (and under 5 % of them
# after it), every byte arrives in order (also when
# the reader shut down its writing first, so that the writer's socket
# stays readable); a reader killed during the wait gives the writer an
# error.
. "$TOP/tests/lib.sh"
wout=$BUILD/hsock/hsock-wout
run=$BUILD/hsock/hsock-run
tmp=$(mktemp -d)
at_exit rm -rf "$tmp"
port=$((21000 + $$ % 1000 * 2))

waits="poll ppoll select pselect epoll oneshot two-sets nested epoll-inout epoll-et
half-closed epoll-half poll-death epoll-death"

for w in $waits; do
	port=$((port + 2))
	plain=$(timeout 30 "$wout" "$w" "$port" 2>&1)
	hs=$(timeout 30 "$run" --stats "$tmp/$w" -- "$wout" "$w" $((port + 1)) 2>&1)
	gshm=$(awk '$1 == "bytes_gshm_tx" { print $2 }' "$tmp/$w")
	if [ -z "$plain" ] || echo "$plain" | grep -q "stall no\|10% no\|stalled some\|5% no\|corrupt\|error\|more than\|timeout\|timed out"; then
		fail "$w" "plain TCP run is wrong: $plain"
	elif [ "$plain" != "$hs" ]; then
		fail "$w" "plain: $plain / hsock: $hs"
	elif [ "${gshm:-0}" -lt 1048576 ]; then
		fail "$w" "the writer's ring was never full: ${gshm:-0} B over GShm"
	else
		pass "$w ($gshm B over GShm)"
	fi
done

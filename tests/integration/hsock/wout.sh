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
tmp=$(mktemp -d)
at_exit rm -rf "$tmp"
port=$((21000 + $$ % 1000 * 2))

waits="poll ppoll select pselect epoll oneshot two-sets nested epoll-inout epoll-et
half-closed epoll-half poll-death epoll-death"

# the writer's ring must have been full: at least 1 MiB over GShm
for w in $waits; do
	hs_versus "$wout" "$w" "stall no\|10% no\|stalled some\|5% no\|corrupt\|error\|more than\|timeout\|timed out" \
		bytes_gshm_tx 1048576
done

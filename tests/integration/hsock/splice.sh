#!/bin/bash
# splice between a pipe and a socket at its edges (hsock-splice): short
# transfers both ways with every byte in order, SPLICE_F_NONBLOCK on an
# empty or full pipe and an empty socket, a full non-blocking socket, EOF
# of the peer and of a pipe, a non-pipe end.  Plain TCP and hsock must
# give the same lines, and the bytes must have crossed GShm.
. "$TOP/tests/lib.sh"
prog=$BUILD/hsock/hsock-splice
tmp=$(mktemp -d)
at_exit rm -rf "$tmp"
port=$((22000 + $$ % 1000 * 2))

for c in partial nonblock eof badfd; do
	hs_versus "$prog" "$c" "error\|missing\|[1-9][0-9]* bytes differ" bytes_gshm_tx 1
done

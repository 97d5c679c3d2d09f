#!/bin/bash
# The semantics matrix: every case of hsock-probe runs over plain TCP and
# under hsock-run; the application-visible results must be identical, and
# the stats must show that the case's data really crossed GShm.
. "$TOP/tests/lib.sh"
probe=$BUILD/hsock/hsock-probe
tmp=$(mktemp -d)
at_exit rm -rf "$tmp"
port=$((20000 + $$ % 1000 * 4))

cases="stream ipv6 prefix close-inflight peek waitall nonblock shutdown death-reader
death-writer sigpipe eintr iov sendfile fork-dup exec threads poll ppoll select
pselect epoll epoll-et oneshot nested two-sets after-close shut-rd mmsg epollout-et splice
poll-chk ppoll-chk epoll-pwait2 sigio sigio-ioctl first-epoll first-poll death-et"

for c in $cases; do
	hs_versus --sort "$probe" "$c" "mismatch\|corrupt\|error\|more than" bytes_gshm_rx 1
done
# I/O hsock cannot see (dprintf, a stdio stream on the socket) keeps the
# connection on TCP and loses nothing
for c in unseen-write fdopen; do
	hs_versus --sort "$probe" "$c" "mismatch\|corrupt\|error\|more than" fallback_unseen_io 1
done
